import Foundation
import Tensors

extension DecoderModel {
    /// Rows of full-vocabulary logits computed at once when normalising continuation tokens:
    /// 32 × 262,144 floats = 32 MB for Gemma-3, instead of a (rows × V) buffer for a whole batch.
    public static let logitRowsPerChunk = 32

    /// log P(continuation | prompt) of every continuation of every prompt: the sum over the
    /// continuation's tokens of the token's log-softmax over the whole vocabulary. With several
    /// tokens the softmax normaliser differs from token to token, so unlike single-token label
    /// words (`candidateLogits`) it no longer cancels between candidates and must be computed.
    /// Each prompt runs once (`ContinuationBatch`); the first tokens of all continuations of a
    /// prompt share one normalised row.
    /// - Returns: per prompt, one log-probability per continuation.
    public func continuationLogProbs(_ batch: ContinuationBatch, workspace ws: DecoderWorkspace,
                                     gathered: GatheredKeyValues) -> [[Float]] {
        let hidden = forward(batch, workspace: ws, gathered: gathered)
        let C = config.hiddenSize

        let (rows, reads) = batch.tokenReads
        var result = batch.continuations.map { [Float](repeating: 0, count: $0.count) }
        let chunk = Self.logitRowsPerChunk
        var gatheredHidden = [Float](repeating: 0, count: min(chunk, rows.count) * C)
        var start = 0
        while start < rows.count {
            let n = min(chunk, rows.count - start)
            gatheredHidden.withUnsafeMutableBufferPointer { g in
                for j in 0..<n { memcpy(g.baseAddress! + j * C, hidden + rows[start + j] * C, C * 4) }
            }
            let logits = gatheredHidden.withUnsafeBufferPointer { self.logits(hidden: $0.baseAddress!, rows: n) }
            let V = config.vocabSize
            logits.withUnsafeBufferPointer { all in
                for j in 0..<n {
                    let row = UnsafeBufferPointer(rebasing: all[(j * V)..<((j + 1) * V)])
                    let normaliser = logSumExp(row)
                    for read in reads[start + j] {
                        result[read.prompt][read.continuation] += row[Int(read.token)] - normaliser
                    }
                }
            }
            start += n
        }
        return result
    }
}
