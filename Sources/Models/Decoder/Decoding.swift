import Foundation
import Tensors

extension DecoderModel {
    /// log P(continuation | prompt), normalised over the whole vocabulary and summed over the
    /// continuation's tokens, for each continuation. All continuations run in one packed batch.
    public func continuationLogProbs(prompt: [Int32], continuations: [[Int32]]) -> [Float] {
        precondition(!prompt.isEmpty && continuations.allSatisfy { !$0.isEmpty })
        let batch = PackedBatch(sequences: continuations.map { prompt + $0 })
        let ws = DecoderWorkspace(config: config, maxTokens: batch.tokenCount)
        let hidden = forward(batch, workspace: ws)
        let C = config.hiddenSize, V = config.vocabSize
        return continuations.enumerated().map { s, tokens in
            // Row predicting continuation token i is the one holding the token before it.
            let first = batch.starts[s] + prompt.count - 1
            let logits = self.logits(hidden: hidden + first * C, rows: tokens.count)   // (m, V)
            return logits.withUnsafeBufferPointer { all in
                tokens.enumerated().reduce(Float(0)) { sum, item in
                    let row = UnsafeBufferPointer(rebasing: all[(item.offset * V)..<((item.offset + 1) * V)])
                    return sum + row[Int(item.element)] - logSumExp(row)
                }
            }
        }
    }

    /// Greedy decoding with a KV cache: feeds the prompt once, then one token at a time.
    /// - Parameters:
    ///   - stop: ids that end generation (not emitted).
    ///   - onToken: called with each new id as soon as it is chosen (for streaming output).
    /// - Returns: the generated ids.
    public func generateGreedy(prompt: [Int32], maxNewTokens: Int, stop: Set<Int32>,
                               onToken: (Int32) -> Void = { _ in }) -> [Int32] {
        let capacity = min(maxPositions, prefixTokens + prompt.count + min(maxNewTokens, maxPositions))   // the prefix's positions first; min: no Int overflow
        precondition(prefixTokens + prompt.count < capacity, "prompt longer than the model's \(maxPositions) positions")
        let cache = KVCache(config: config, capacity: capacity)
        let ws = DecoderWorkspace(config: config, maxTokens: prompt.count)
        var input = prompt
        var generated: [Int32] = []
        while generated.count < maxNewTokens, cache.length + input.count <= capacity {
            let hidden = forward(PackedBatch(sequences: [input]), workspace: ws,
                                 outputs: .lastTokenOfEachSequence, cache: cache)
            let logits = self.logits(hidden: hidden, rows: 1)
            let next = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
            if stop.contains(next) { break }
            generated.append(next)
            onToken(next)
            input = [next]
        }
        return generated
    }
}
