import Foundation
import Tensors

/// Llama 3.1's RoPE scaling (`rope_type: "llama3"`): long wavelengths slowed by `factor`, short
/// ones kept, those between interpolated (transformers' `_compute_llama3_parameters`).
public struct Llama3RopeScaling: Sendable, Equatable {
    public var factor: Float
    public var lowFrequencyFactor: Float
    public var highFrequencyFactor: Float
    public var originalMaxPositions: Int

    /// The scaled inverse frequencies for a head of `headDim` with base `base`.   (headDim / 2)
    /// Computed in Float, step by step as transformers does on its float32 tensors.
    public func inverseFrequencies(headDim: Int, base: Float) -> [Float] {
        let old = Float(originalMaxPositions)
        let lowWavelength = old / lowFrequencyFactor, highWavelength = old / highFrequencyFactor
        return RotaryTable.defaultInverseFrequencies(headDim: headDim, base: base).map { f in
            let wavelength = 2 * Float.pi / f
            let slowed = wavelength > lowWavelength ? f / factor : f
            guard !(wavelength < highWavelength) && !(wavelength > lowWavelength) else { return slowed }
            let smooth = (old / wavelength - lowFrequencyFactor) / (highFrequencyFactor - lowFrequencyFactor)
            return (1 - smooth) * slowed / factor + smooth * slowed
        }
    }
}

/// A decoder's `config.json`, decoded with Hugging Face key names. Missing optional keys take the
/// defaults transformers uses for that model type.
public struct DecoderConfig: Sendable {
    public var family: DecoderFamily
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var queryHeads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var activation: String
    public var tieWordEmbeddings: Bool
    public var attentionBias: Bool
    public var mlpBias: Bool
    /// Per layer: true when the layer uses the sliding window (and, for Gemma, the local RoPE base).
    public var slidingLayers: [Bool]
    public var slidingWindow: Int?
    public var ropeBaseGlobal: Float
    public var ropeBaseLocal: Float
    public var ropeScalingGlobal: Float
    /// Llama 3 scaling of the (global) RoPE; nil for the default and linear kinds.
    public var llama3RopeScaling: Llama3RopeScaling? = nil
    public var queryPreAttnScalar: Float?
    public var finalLogitSoftcap: Float?
    public var attnLogitSoftcap: Float?
    public var maxPositions: Int
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var padTokenID: Int?

    /// What the stored RMSNorm weights are offset by (`DecoderFamily.normsStoreOffset`).
    public var normOffset: Float { family.normsStoreOffset ? 1 : 0 }
    /// What the token embeddings are multiplied by (`DecoderFamily.scalesEmbedding`: √hidden).
    public var embeddingScale: Float { family.scalesEmbedding ? Float(hiddenSize).squareRoot() : 1 }
    public var attentionScale: Float {
        1 / (queryPreAttnScalar ?? Float(headDim)).squareRoot()
    }
}

/// Errors loading a model folder; every message names the file.
public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension DecoderConfig {
    /// Reads `<directory>/config.json`.
    public static func load(directory: String) throws -> DecoderConfig {
        let (path, data) = try ConfigFile<RawConfig>.read(directory: directory)
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> DecoderConfig {
        let file = try ConfigFile<RawConfig>(data, path: path)
        let raw = file.raw
        func need<T>(_ value: T?, _ key: String) throws -> T { try file.need(value, key) }
        guard let type = raw.model_type else { throw ModelError("\(path): no model_type") }
        guard let family = DecoderFamily(rawValue: type) else {
            let known = DecoderFamily.allCases.map(\.rawValue).joined(separator: ", ")
            throw ModelError("\(path): unsupported model_type \"\(type)\" (supported decoders: \(known))")
        }
        // Sizes used below (counts, divisions) are range-checked first; the rest in checkRanges.
        let hidden = try ConfigLimits.positive(try need(raw.hidden_size, "hidden_size"), "hidden_size", path: path)
        let heads = try ConfigLimits.positive(try need(raw.num_attention_heads, "num_attention_heads"), "num_attention_heads", path: path)
        let layers = try ConfigLimits.positive(try need(raw.num_hidden_layers, "num_hidden_layers"), "num_hidden_layers", path: path,
                                               max: ConfigLimits.maxLayers)
        let isGemma = family == .gemma3
        if raw.use_bidirectional_attention == true {
            throw ModelError("\(path): use_bidirectional_attention (EmbeddingGemma) is not supported")
        }

        // Which layers slide: Gemma lists `layer_types` (older configs: every 6th layer is global);
        // Mistral/Qwen2 slide everywhere when a window is set and enabled.
        var sliding = [Bool](repeating: false, count: layers)
        if let types = raw.layer_types {
            guard types.count == layers else {
                throw ModelError("\(path): layer_types has \(types.count) entries for \(layers) layers")
            }
            sliding = types.map { $0 == "sliding_attention" }
        } else if isGemma {
            let pattern = try ConfigLimits.positive(raw.sliding_window_pattern ?? 6, "sliding_window_pattern", path: path, max: Int.max)
            sliding = (0..<layers).map { ($0 + 1) % pattern != 0 }
        } else if raw.sliding_window != nil, family == .mistral || raw.use_sliding_window == true {
            sliding = [Bool](repeating: true, count: layers)
        }

        let rope = raw.rope_parameters
        let global = rope?.forLayer("full_attention")
        let local = rope?.forLayer("sliding_attention")
        let globalBase = global?.rope_theta ?? raw.rope_theta ?? (isGemma ? 1_000_000 : 10_000)
        let localBase = isGemma ? (local?.rope_theta ?? raw.rope_local_base_freq ?? 10_000) : globalBase
        let scaling = global?.linearFactor ?? raw.rope_scaling?.linearFactor ?? 1
        var llama3: Llama3RopeScaling?
        for p in [global, local, raw.rope_scaling].compactMap({ $0 }) {
            guard let kind = p.rope_type ?? p.type, kind != "default", kind != "linear" else { continue }
            guard kind == "llama3", !isGemma else {
                throw ModelError("\(path): rope_type \"\(kind)\" is not supported (default, linear, llama3)")
            }
            func need(_ value: Float?, _ key: String) throws -> Float {
                guard let value else { throw ModelError("\(path): rope_type \"llama3\" needs \(key)") }
                return value
            }
            let scaled = Llama3RopeScaling(
                factor: try need(p.factor, "factor"), lowFrequencyFactor: try need(p.low_freq_factor, "low_freq_factor"),
                highFrequencyFactor: try need(p.high_freq_factor, "high_freq_factor"),
                originalMaxPositions: p.original_max_position_embeddings ?? raw.max_position_embeddings ?? 8192)
            guard scaled.highFrequencyFactor != scaled.lowFrequencyFactor, scaled.factor > 0 else {
                throw ModelError("\(path): rope_type \"llama3\" needs factor > 0 and high_freq_factor != low_freq_factor")
            }
            llama3 = scaled
        }

        let config = DecoderConfig(
            family: family,
            vocabSize: try need(raw.vocab_size, "vocab_size"),
            hiddenSize: hidden,
            intermediateSize: try need(raw.intermediate_size, "intermediate_size"),
            layers: layers,
            queryHeads: heads,
            kvHeads: raw.num_key_value_heads ?? heads,
            headDim: raw.head_dim ?? hidden / heads,
            rmsNormEps: raw.rms_norm_eps ?? 1e-6,
            activation: raw.hidden_activation ?? raw.hidden_act ?? (isGemma ? "gelu_pytorch_tanh" : "silu"),
            tieWordEmbeddings: raw.tie_word_embeddings ?? isGemma,
            attentionBias: raw.attention_bias ?? (family == .qwen2),
            mlpBias: raw.mlp_bias ?? false,
            slidingLayers: sliding,
            slidingWindow: raw.sliding_window,
            ropeBaseGlobal: globalBase,
            ropeBaseLocal: localBase,
            ropeScalingGlobal: scaling,
            llama3RopeScaling: llama3,
            queryPreAttnScalar: isGemma ? (raw.query_pre_attn_scalar ?? 256) : nil,
            finalLogitSoftcap: raw.final_logit_softcapping,
            attnLogitSoftcap: raw.attn_logit_softcapping,
            maxPositions: raw.max_position_embeddings ?? 8192,
            bosTokenID: raw.bos_token_id?.first,
            eosTokenID: raw.eos_token_id?.first,
            padTokenID: raw.pad_token_id?.first
        )
        try config.checkRanges(path: path)
        return config
    }
}


/// config.json as written by transformers (snake_case HF keys; every key optional so that defaults
/// and clear "missing" errors are ours).
struct RawConfig: Decodable {
    var model_type: String?
    var vocab_size: Int?
    var hidden_size: Int?
    var intermediate_size: Int?
    var num_hidden_layers: Int?
    var num_attention_heads: Int?
    var num_key_value_heads: Int?
    var head_dim: Int?
    var rms_norm_eps: Float?
    var hidden_act: String?
    var hidden_activation: String?
    var tie_word_embeddings: Bool?
    var attention_bias: Bool?
    var mlp_bias: Bool?
    var layer_types: [String]?
    var sliding_window: Int?
    var sliding_window_pattern: Int?
    var use_sliding_window: Bool?
    var use_bidirectional_attention: Bool?
    var rope_theta: Float?
    var rope_local_base_freq: Float?
    var rope_scaling: RopeParameters?
    var rope_parameters: RopeParameterSet?
    var query_pre_attn_scalar: Float?
    var final_logit_softcapping: Float?
    var attn_logit_softcapping: Float?
    var max_position_embeddings: Int?
    var bos_token_id: OneOrMany?
    var eos_token_id: OneOrMany?
    var pad_token_id: OneOrMany?
}

struct RopeParameters: Decodable {
    var rope_theta: Float?
    var rope_type: String?
    var type: String?
    var factor: Float?
    var low_freq_factor: Float?
    var high_freq_factor: Float?
    var original_max_position_embeddings: Int?
    var linearFactor: Float? { (rope_type ?? type) == "linear" ? factor : nil }
}

/// transformers ≥ 5 writes `rope_parameters` either flat or keyed by layer type (Gemma-3).
enum RopeParameterSet: Decodable {
    case shared(RopeParameters)
    case perLayerType([String: RopeParameters])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let map = try? c.decode([String: RopeParameters].self), map.keys.contains(where: { $0.hasSuffix("attention") }) {
            self = .perLayerType(map)
        } else {
            self = .shared(try c.decode(RopeParameters.self))
        }
    }

    func forLayer(_ type: String) -> RopeParameters? {
        switch self {
        case .shared(let p): return p
        case .perLayerType(let map): return map[type]
        }
    }
}

/// Token ids that configs give as a number or a list.
struct OneOrMany: Decodable {
    var values: [Int]
    var first: Int? { values.first }
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(Int.self) { values = [one] } else { values = try c.decode([Int].self) }
    }
}
