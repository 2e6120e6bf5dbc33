import Foundation

/// The encoder families the engine runs, keyed by Hugging Face `model_type`.
public enum EncoderFamily: String, CaseIterable, Sendable {
    /// BERT and its distillations (MiniLM, all-MiniLM-L6-v2): learned absolute positions from 0.
    case bert = "bert"
    /// RoBERTa: BERT's blocks, positions numbered from padding_idx + 1 (see `positionOffset`).
    case roberta = "roberta"
}

/// An encoder's `config.json` (BertConfig / RobertaConfig keys), with transformers' defaults for
/// missing optional keys.
public struct EncoderConfig: Sendable {
    public var family: EncoderFamily
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var padTokenID: Int

    public var headDim: Int { hiddenSize / heads }
    public var attentionScale: Float { 1 / Float(headDim).squareRoot() }

    /// Row of the position table for a sequence's first token. RoBERTa numbers real tokens from
    /// padding_idx + 1 (its position ids come from the padding mask), so row padding_idx and the
    /// rows below it are never used; BERT starts at 0.
    public var positionOffset: Int { family == .roberta ? padTokenID + 1 : 0 }
    /// Longest sequence the position table covers.
    public var maxSequenceLength: Int { maxPositions - positionOffset }
}

extension EncoderConfig {
    /// `model_type` of a folder's config.json, to choose between encoder and decoder (`ModelArchitecture.of`).
    public static func modelType(directory: String) throws -> String {
        let (path, data) = try ConfigFile<ModelTypeOnly>.read(directory: directory)
        guard let type = try ConfigFile<ModelTypeOnly>(data, path: path).raw.model_type else {
            throw ModelError("\(path): no model_type")
        }
        return type
    }

    /// Reads `<directory>/config.json`.
    public static func load(directory: String) throws -> EncoderConfig {
        let (path, data) = try ConfigFile<RawEncoderConfig>.read(directory: directory)
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> EncoderConfig {
        let file = try ConfigFile<RawEncoderConfig>(data, path: path)
        let raw = file.raw
        func need<T>(_ value: T?, _ key: String) throws -> T { try file.need(value, key) }
        guard let type = raw.model_type else { throw ModelError("\(path): no model_type") }
        guard let family = EncoderFamily(rawValue: type) else {
            let known = EncoderFamily.allCases.map(\.rawValue).joined(separator: ", ")
            throw ModelError("\(path): unsupported model_type \"\(type)\" (supported encoders: \(known))")
        }
        // transformers' "gelu" is the exact erf form; the tanh approximations would silently change
        // every activation, so anything else is refused rather than approximated.
        let act = raw.hidden_act ?? "gelu"
        guard act == "gelu" else {
            throw ModelError("\(path): hidden_act \"\(act)\" is not supported (encoders: \"gelu\", the exact erf GELU)")
        }
        if let kind = raw.position_embedding_type, kind != "absolute" {
            throw ModelError("\(path): position_embedding_type \"\(kind)\" is not supported (absolute only)")
        }
        if raw.is_decoder == true {
            throw ModelError("\(path): is_decoder is set; only bidirectional encoders are supported")
        }
        let hidden = try ConfigLimits.positive(try need(raw.hidden_size, "hidden_size"), "hidden_size", path: path)
        let heads = try ConfigLimits.positive(try need(raw.num_attention_heads, "num_attention_heads"), "num_attention_heads", path: path)
        guard hidden % heads == 0 else {
            throw ModelError("\(path): hidden_size \(hidden) is not a multiple of num_attention_heads \(heads)")
        }
        let config = EncoderConfig(
            family: family,
            vocabSize: try need(raw.vocab_size, "vocab_size"),
            hiddenSize: hidden,
            intermediateSize: try need(raw.intermediate_size, "intermediate_size"),
            layers: try need(raw.num_hidden_layers, "num_hidden_layers"),
            heads: heads,
            maxPositions: raw.max_position_embeddings ?? 512,
            typeVocabSize: raw.type_vocab_size ?? 2,
            layerNormEps: raw.layer_norm_eps ?? 1e-12,
            padTokenID: raw.pad_token_id ?? (family == .roberta ? 1 : 0))
        try config.checkRanges(path: path)   // before maxSequenceLength subtracts the pad id
        guard config.maxSequenceLength >= 2 else {
            throw ModelError("\(path): max_position_embeddings \(config.maxPositions) leaves no room for a sequence")
        }
        guard config.typeVocabSize >= 1 else { throw ModelError("\(path): type_vocab_size must be at least 1") }
        return config
    }
}

/// BertConfig / RobertaConfig keys as transformers writes them.
struct RawEncoderConfig: Decodable {
    var model_type: String?
    var vocab_size: Int?
    var hidden_size: Int?
    var intermediate_size: Int?
    var num_hidden_layers: Int?
    var num_attention_heads: Int?
    var max_position_embeddings: Int?
    var type_vocab_size: Int?
    var layer_norm_eps: Float?
    var hidden_act: String?
    var pad_token_id: Int?
    var position_embedding_type: String?
    var is_decoder: Bool?
}
