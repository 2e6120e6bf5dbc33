import Foundation
import Tensors
import Weights

extension DecoderModel {
    /// Puts n trainable keys and values (zero until initialised) in front of every sequence in every
    /// layer: from now on every forward (scoring, MeZO's losses, generation, the backward pass) sees
    /// them, and a prefix run trains `prefix.arena` while the base arena stays read-only.
    /// - Throws: n < 1, or n leaving no position for a token (the RoPE table covers `maxPositions`).
    @discardableResult
    public func attachPrefix(tokens n: Int) throws -> KeyValuePrefix {
        precondition(prefixTuning == nil, "a prefix is already attached")
        guard n < maxPositions else {
            throw ModelError("--prefix-tokens \(n): the prefix takes positions 0…\(n - 1) of every sequence, and the model "
                             + "covers \(maxPositions) positions; use fewer than \(maxPositions) prefix tokens")
        }
        let p = try KeyValuePrefix(tokens: n, layers: config.layers, width: config.kvHeads * config.headDim)
        prefixTuning = p
        return p
    }

    /// The keys and values this model caches for `tokens` run alone from position 0 (no BOS), in
    /// the prefix's layout: how MeZO initialises a prefix "by real activations"
    /// (princeton-nlp/MeZO, large_models/prefix.py, `PrefixTuning.__init__` with
    /// `init_by_real_act=True`: `real_key_values = model(input_ids=input_tokens, use_cache=True)
    /// .past_key_values` for `input_tokens = torch.randint(0, vocab_size, (1, num_prefix))`, then
    /// layer l's keys `.squeeze(0).transpose(0, 1).reshape(num_prefix, -1)`, i.e. (n, Hkv·D)).
    /// Cached keys are after k-norm and RoPE at positions 0…n−1, exactly where the prefix sits
    /// (`KeyValuePrefix`). The caller draws the tokens (the run's seed), and the base weights
    /// are those of the model without a prefix.
    public func initialisePrefixFromActivations(of tokens: [Int32]) {
        guard let p = prefixTuning else { preconditionFailure("attachPrefix first") }
        precondition(tokens.count == p.tokens, "one token per prefix position")
        prefixTuning = nil   // the real tokens' own keys, not seen through a prefix
        defer { prefixTuning = p }
        let cache = KVCache(config: config, capacity: p.tokens)
        let ws = DecoderWorkspace(config: config, maxTokens: p.tokens)
        _ = forward(PackedBatch(sequences: [tokens]), workspace: ws, outputs: .lastTokenOfEachSequence, cache: cache)
        for l in 0..<config.layers {
            for j in 0..<p.tokens {
                memcpy(p.keys(l) + j * p.rowStride, cache.keys[l] + j * p.width, p.width * 4)
                memcpy(p.values(l) + j * p.rowStride, cache.values[l] + j * p.width, p.width * 4)
            }
        }
    }
}

extension KeyValuePrefix {
    /// Writes the prefix at positions 0…n−1 of every cache block in `slots` that holds nothing yet,
    /// so generation continues it as transformers continues peft's prefilled cache.
    func fill(_ cache: KVCache, slots: [Int]) {
        for slot in slots where cache.lengths[slot] == 0 {
            precondition(tokens <= cache.capacity, "KV cache of \(cache.capacity) positions cannot hold the \(tokens)-token prefix")
            for l in 0..<layers {
                let block = slot * cache.capacity
                for j in 0..<tokens {
                    memcpy(cache.keys[l] + (block + j) * width, keys(l) + j * rowStride, width * 4)
                    memcpy(cache.values[l] + (block + j) * width, values(l) + j * rowStride, width * 4)
                }
            }
            cache.lengths[slot] = tokens
        }
    }
}
