import Foundation
import Weights

/// Range checks on config.json's numbers, made before any of them indexes, divides, multiplies or
/// allocates: an edited config (a zero, a negative, 2^63, a size the weights do not have) is an
/// error naming the file and the key, never a trap or a segmentation fault. Found by
/// tools/check/config_edits.py (random edits) and the config fuzz target (Tests/Fuzz).
enum ConfigLimits {
    /// Largest single size (vocab, hidden, intermediate, heads × head_dim): 16.7 M, far above any
    /// real model (Gemma-3's vocabulary is 262,144), and small enough that no product of two overflows.
    static let maxDimension = 1 << 24
    static let maxLayers = 1 << 12
    static let maxPositions = 1 << 30
    /// 2^40 parameters: 4 TB in f32; a config beyond that is a typo, not a model.
    static let maxParameters = 1 << 40

    /// `value` of `key`, which must lie in 1...`max`.
    static func positive(_ value: Int, _ key: String, path: String, max: Int = maxDimension) throws -> Int {
        guard value >= 1, value <= max else {
            throw ModelError("\(path): \"\(key)\" is \(value); it must be between 1 and \(max)")
        }
        return value
    }

    /// A float that must be finite and positive (RoPE bases, scales, soft-caps).
    static func positive(_ value: Float, _ key: String, path: String) throws {
        guard value.isFinite, value > 0 else { throw ModelError("\(path): \"\(key)\" is \(value); it must be finite and positive") }
    }

    /// A token id, if given, must name a row of the vocabulary.
    static func tokenID(_ value: Int?, _ key: String, vocab: Int, path: String) throws {
        guard let value else { return }
        guard value >= 0, value < vocab else {
            throw ModelError("\(path): \"\(key)\" is \(value), outside the vocabulary (0..<\(vocab))")
        }
    }

    /// Total elements of `specs`, computed without overflow and capped at `maxParameters`.
    static func parameterCount(_ specs: [ParameterSpec], path: String) throws -> Int {
        var total = 0
        for spec in specs {
            var n = 1
            for d in spec.shape {
                let (product, overflow) = n.multipliedReportingOverflow(by: d)
                guard !overflow, d >= 0, product <= maxParameters else {
                    throw ModelError("\(path): tensor \(spec.name) would have shape \(spec.shape): too large")
                }
                n = product
            }
            total += n
            guard total <= maxParameters else {
                throw ModelError("\(path): the configuration describes more than \(maxParameters) parameters")
            }
        }
        return total
    }

    /// Refuses, before the arena is allocated, a config that needs more parameters than the weight
    /// files hold (e.g. a vocab_size edited up by 100,000×): the shapes could never match, and
    /// allocating first would ask the system for the config's size.
    static func requireWeights(for specs: [ParameterSpec], in files: [SafeTensorsFile], path: String) throws {
        let needed = try parameterCount(specs, path: path)
        var held = 0
        for file in files {
            for name in file.tensorNames {
                held += (try? file.storedShape(name).reduce(1, *)) ?? 0
            }
        }
        // A small shortfall (a missing tensor) is left to the strict loader, whose error names the
        // tensor; only a config far larger than its weights is stopped here, before allocating.
        guard needed <= max(2 * held, held + (1 << 24)) else {
            throw ModelError("\(path): the configuration needs \(needed) parameters but the weight files hold \(held) "
                             + "(\(files.map(\.path).joined(separator: ", "))); config.json does not describe these weights")
        }
    }
}

extension DecoderConfig {
    /// Range checks on every size and number the model uses (those needed to build the config
    /// itself were checked as they were read).
    func checkRanges(path: String) throws {
        _ = try ConfigLimits.positive(vocabSize, "vocab_size", path: path)
        _ = try ConfigLimits.positive(intermediateSize, "intermediate_size", path: path)
        _ = try ConfigLimits.positive(kvHeads, "num_key_value_heads", path: path)
        _ = try ConfigLimits.positive(headDim, "head_dim", path: path)
        guard queryHeads % kvHeads == 0 else {
            throw ModelError("\(path): num_attention_heads \(queryHeads) is not a multiple of num_key_value_heads \(kvHeads)")
        }
        _ = try ConfigLimits.positive(queryHeads * headDim, "num_attention_heads × head_dim", path: path)
        _ = try ConfigLimits.positive(maxPositions, "max_position_embeddings", path: path, max: ConfigLimits.maxPositions)
        if let slidingWindow { _ = try ConfigLimits.positive(slidingWindow, "sliding_window", path: path, max: Int.max) }
        guard rmsNormEps.isFinite, rmsNormEps >= 0 else { throw ModelError("\(path): \"rms_norm_eps\" is \(rmsNormEps)") }
        try ConfigLimits.positive(ropeBaseGlobal, "rope_theta", path: path)
        try ConfigLimits.positive(ropeBaseLocal, "rope_local_base_freq", path: path)
        try ConfigLimits.positive(ropeScalingGlobal, "rope_scaling.factor", path: path)
        if let s = llama3RopeScaling {
            for (value, key) in [(s.factor, "factor"), (s.lowFrequencyFactor, "low_freq_factor"), (s.highFrequencyFactor, "high_freq_factor")] {
                try ConfigLimits.positive(value, "rope_scaling.\(key)", path: path)
            }
            _ = try ConfigLimits.positive(s.originalMaxPositions, "original_max_position_embeddings", path: path,
                                          max: ConfigLimits.maxPositions)
        }
        for (value, key) in [(queryPreAttnScalar, "query_pre_attn_scalar"), (finalLogitSoftcap, "final_logit_softcapping"),
                             (attnLogitSoftcap, "attn_logit_softcapping")] {
            if let value { try ConfigLimits.positive(value, key, path: path) }
        }
        for (value, key) in [(bosTokenID, "bos_token_id"), (eosTokenID, "eos_token_id"), (padTokenID, "pad_token_id")] {
            try ConfigLimits.tokenID(value, key, vocab: vocabSize, path: path)
        }
        _ = try ConfigLimits.parameterCount(DecoderLayout.specs(self), path: path)
    }
}

extension EncoderConfig {
    func checkRanges(path: String) throws {
        _ = try ConfigLimits.positive(vocabSize, "vocab_size", path: path)
        _ = try ConfigLimits.positive(intermediateSize, "intermediate_size", path: path)
        _ = try ConfigLimits.positive(layers, "num_hidden_layers", path: path, max: ConfigLimits.maxLayers)
        _ = try ConfigLimits.positive(maxPositions, "max_position_embeddings", path: path, max: ConfigLimits.maxPositions)
        _ = try ConfigLimits.positive(typeVocabSize, "type_vocab_size", path: path)
        try ConfigLimits.tokenID(padTokenID, "pad_token_id", vocab: vocabSize, path: path)
        guard layerNormEps.isFinite, layerNormEps >= 0 else { throw ModelError("\(path): \"layer_norm_eps\" is \(layerNormEps)") }
        _ = try ConfigLimits.parameterCount(EncoderLayout.specs(self, prefix: ""), path: path)
    }
}
