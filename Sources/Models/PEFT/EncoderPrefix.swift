import Foundation
import Tensors
import Weights

extension EncoderModel {
    /// Puts n trainable keys and values (zero until initialised) in front of every sequence in every
    /// layer; the real tokens' position embeddings then start at row n (transformers'
    /// `past_key_values_length`), so sequences may hold `maxSequenceLength` = positions − n tokens.
    /// - Throws: n < 1, or n leaving no position for a sequence.
    @discardableResult
    public func attachPrefix(tokens n: Int) throws -> KeyValuePrefix {
        precondition(prefixTuning == nil, "a prefix is already attached")
        guard n < config.maxSequenceLength else {
            throw ModelError("--prefix-tokens \(n): the prefix takes position embeddings 0…\(n - 1) and the model has "
                             + "\(config.maxSequenceLength) for a sequence; use fewer than \(config.maxSequenceLength) prefix tokens")
        }
        let p = try KeyValuePrefix(tokens: n, layers: config.layers, width: config.hiddenSize)
        prefixTuning = p
        return p
    }

    /// Each layer's keys and values (after the projections' biases) of `tokens` run alone through
    /// the encoder (no [CLS]/[SEP], positions 0…n−1, every token seeing every other), in the
    /// prefix's layout: MeZO's initialisation "by real activations" (princeton-nlp/MeZO,
    /// medium_models/src/prefix.py, `PrefixTuning.__init__`, `init_by_real_act`: RoBERTa's
    /// `past_key_values` for `torch.randint(0, vocab_size, (1, num_prefix))`).
    public func initialisePrefixFromActivations(of tokens: [Int32]) {
        guard let p = prefixTuning else { preconditionFailure("attachPrefix first") }
        precondition(tokens.count == p.tokens, "one token per prefix position")
        prefixTuning = nil
        defer { prefixTuning = p }
        let batch = PackedBatch(sequences: [tokens])
        let ws = EncoderWorkspace(config: config, maxTokens: p.tokens)
        embed(batch, into: ws.x)
        for l in 0..<config.layers {
            block(l, batch: batch, workspace: ws)   // leaves layer l's keys and values in ws.k, ws.v
            for j in 0..<p.tokens {
                memcpy(p.keys(l) + j * p.rowStride, ws.k + j * p.width, p.width * 4)
                memcpy(p.values(l) + j * p.rowStride, ws.v + j * p.width, p.width * 4)
            }
        }
    }
}
