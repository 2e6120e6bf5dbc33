import Foundation
import Tensors

extension DecoderModel {
    /// Sequences generated side by side at most (bounds the KV cache: 32 × (prompt + new tokens)
    /// positions per layer, and the (32, V) logits of a decoding step).
    public static let generationBatch = 32

    /// Greedy decoding of many prompts, batched: the prompts of a group run through the model in one
    /// packed pass that fills a KV cache of one block per sequence, then every unfinished sequence
    /// advances by one token per forward pass (a (S, C) × (C, V) head product instead of S
    /// matrix-vector ones, and the blocks' weights read once per step for S sequences). The choice
    /// at each step is the same as `generateGreedy(prompt:…)`'s: the first largest logit.
    /// - Parameters:
    ///   - stop: ids that end a sequence (not emitted).
    ///   - maxBatchTokens: prompt tokens of one group at most (the prefill's activations).
    ///   - progress: called with the number of prompts finished so far.
    /// - Returns: the generated ids of each prompt.
    public func generateGreedy(prompts: [[Int32]], maxNewTokens: Int, stop: Set<Int32>, maxBatchTokens: Int = 2048,
                               progress: ((Int) -> Void)? = nil) -> [[Int32]] {
        var out: [[Int32]] = []
        out.reserveCapacity(prompts.count)
        var start = 0
        while start < prompts.count {
            var end = start, tokens = 0
            while end < prompts.count, end - start < Self.generationBatch,
                  end == start || tokens + prompts[end].count <= maxBatchTokens {
                tokens += prompts[end].count
                end += 1
            }
            out += generateGroup(Array(prompts[start..<end]), maxNewTokens: maxNewTokens, stop: stop)
            start = end
            progress?(end)
        }
        return out
    }

    private func generateGroup(_ prompts: [[Int32]], maxNewTokens: Int, stop: Set<Int32>) -> [[Int32]] {
        precondition(prompts.allSatisfy { !$0.isEmpty && prefixTokens + $0.count < maxPositions },
                     "prompts need 1 to \(maxPositions - prefixTokens - 1) tokens")
        let S = prompts.count, V = config.vocabSize
        let capacity = min(maxPositions, prefixTokens + prompts.map(\.count).max()! + min(maxNewTokens, maxPositions))   // the prefix's positions first; min: no Int overflow
        let cache = KVCache(config: config, capacity: capacity, sequences: S)
        let ws = DecoderWorkspace(config: config, maxTokens: max(S, prompts.reduce(0) { $0 + $1.count }))
        var generated = [[Int32]](repeating: [], count: S)
        var active = Array(0..<S)                 // sequences still generating
        var batch = PackedBatch(sequences: prompts)
        while !active.isEmpty, maxNewTokens > 0 {
            let hidden = forward(batch, workspace: ws, outputs: .lastTokenOfEachSequence, cache: cache, cacheSlots: active)
            let logits = self.logits(hidden: hidden, rows: active.count)   // (active, V)
            var next: [Int32] = [], still: [Int] = []
            for (row, s) in active.enumerated() {
                let base = row * V
                let id = Int32((0..<V).max { logits[base + $0] < logits[base + $1] }!)
                if stop.contains(id) { continue }
                generated[s].append(id)
                if generated[s].count < maxNewTokens, cache.lengths[s] + 1 <= capacity {
                    next.append(id)
                    still.append(s)
                }
            }
            active = still
            if !active.isEmpty { batch = PackedBatch(sequences: next.map { [$0] }) }
        }
        return generated
    }
}
