import Foundation
import Tensors
import Weights

/// A loss of continuation log-probabilities: given log P(continuation k | prompt p) for every
/// continuation of a `ContinuationBatch` ([prompt][continuation], each summed over its tokens and
/// normalised over the whole vocabulary), the loss and its derivative with respect to each of them.
/// The model never knows the task: a classify task makes this a cross-entropy over labels, a
/// completion task a mean over target tokens (Training/ContinuationLosses).
public typealias ContinuationLoss = (_ logProbs: [[Float]]) -> (loss: Double, dLogProbs: [[Float]])

extension DecoderTrainer {
    /// Training forward on prompts with their continuations (each prompt run once, as scoring does),
    /// then backward for `loss` of the continuations' log-probabilities.
    /// - Parameters:
    ///   - gradients: an arena laid out like `model.trainableArena`; receives d loss / d parameter.
    ///   - accumulate: add to `gradients` instead of overwriting them.
    /// - Returns: the loss `loss` computed.
    @discardableResult
    public func lossAndGradients(continuations batch: ContinuationBatch, loss: ContinuationLoss,
                                 gradients: ParameterArena, accumulate: Bool = false) -> Float {
        checkGradientLayout(gradients)
        let N = batch.tokenCount
        precondition(N <= maxTokens, "batch of \(N) tokens exceeds the trainer (\(maxTokens))")
        precondition(batch.positions.allSatisfy { $0 < model.maxPositions }, "sequence longer than \(model.maxPositions)")
        if !accumulate {
            let g = gradients.storage
            parallelFor(gradients.count, minChunk: 1 << 16) { r in (g + r.lowerBound).update(repeating: 0, count: r.count) }
        }
        var (gather, spans) = batch.disjointKeyBlocks()
        var positions = batch.positions
        if let prefix = model.prefixTuning {   // the prefix in front of every block, positions from n
            let layout = PrefixedKeyLayout(prefixTokens: prefix.tokens, gather: gather, spans: spans)
            (gather, spans) = (layout.gather, layout.spans)
            positions = positions.map { $0 + prefix.tokens }
            precondition(positions.allSatisfy { $0 < model.maxPositions }, "sequence longer than \(model.maxPositions)")
        }
        reserveKeyBlocks(gather.count)
        forward(tokens: batch.tokens, positions: positions, spans: spans, gather: gather)
        let dHead = headGradient(gradients)
        let value = continuationHead(batch, loss: loss, dHidden: scratch.dBranch, dHead: dHead)
        backward(tokens: batch.tokens, positions: positions, spans: spans, gather: gather, gradients: gradients)
        return Float(value)
    }

    /// Full-vocabulary log-probabilities of every continuation token (the rows `continuationLogProbs`
    /// reads, in its order), the loss, and d loss / d hidden (N, C) plus the output head's gradient.
    /// Rows go `headRows` at a time through a (headRows, V) logits buffer: a first pass for the
    /// log-probabilities (the loss's derivative depends on all of them), a second for the gradient,
    /// which recomputes the logits unless every row fitted in one chunk.
    func continuationHead(_ batch: ContinuationBatch, loss: ContinuationLoss,
                          dHidden: UnsafeMutablePointer<Float>, dHead: UnsafeMutablePointer<Float>?) -> Double {
        let C = model.config.hiddenSize, V = model.config.vocabSize, N = batch.tokenCount
        let softcap = model.config.finalLogitSoftcap
        let (rows, reads) = batch.tokenReads
        let R = rows.count
        var hidden = [Float](repeating: 0, count: R * C)   // (R, C) the read rows' final hidden states
        hidden.withUnsafeMutableBufferPointer { h in
            for (i, r) in rows.enumerated() { memcpy(h.baseAddress! + i * C, activations.hidden + r * C, C * 4) }
        }
        if logitsChunk == nil { logitsChunk = TaggedBuffer(floats: headRows * V, tag: .scratch) }
        let logits = logitsChunk!.base, head = model.outputHead

        // Pass 1: log-probabilities.
        var logProbs = batch.continuations.map { [Float](repeating: 0, count: $0.count) }
        var normalisers = [Double](repeating: 0, count: R)
        hidden.withUnsafeBufferPointer { h in
            for r0 in stride(from: 0, to: R, by: headRows) {
                let n = min(headRows, R - r0)
                BLAS.linear(h.baseAddress! + r0 * C, head, logits, m: n, n: V, k: C)   // (n, V)
                let lse = cappedLogNormalisers(logits, rows: n, classes: V, softcap: softcap)
                for j in 0..<n {
                    normalisers[r0 + j] = lse[j]
                    for read in reads[r0 + j] {
                        logProbs[read.prompt][read.continuation] += Float(Double(logits[j * V + Int(read.token)]) - lse[j])
                    }
                }
            }
        }

        let (value, dLogProbs) = loss(logProbs)
        precondition(dLogProbs.count == logProbs.count && zip(dLogProbs, logProbs).allSatisfy { $0.count == $1.count },
                     "the loss must give one derivative per continuation")

        // Pass 2: d loss / d logits, then dHidden rows and the head's gradient.
        dHidden.update(repeating: 0, count: N * C)
        var dRows = [Float](repeating: 0, count: min(headRows, R) * C)   // (chunk, C)
        hidden.withUnsafeBufferPointer { h in
            for r0 in stride(from: 0, to: R, by: headRows) {
                let n = min(headRows, R - r0)
                if R > headRows {
                    BLAS.linear(h.baseAddress! + r0 * C, head, logits, m: n, n: V, k: C)
                    _ = cappedLogNormalisers(logits, rows: n, classes: V, softcap: softcap)
                }
                let weights = (0..<n).map { j in
                    reads[r0 + j].map { (token: $0.token, weight: dLogProbs[$0.prompt][$0.continuation]) }
                }
                tokenLogProbBackward(logits, rows: n, classes: V, logNormalisers: Array(normalisers[r0..<(r0 + n)]),
                                     reads: weights, softcap: softcap)
                dRows.withUnsafeMutableBufferPointer { d in
                    // dRows (n, C) = dLogits (n, V) · head (V, C);  dHead (V, C) += dLogitsᵀ · hidden
                    linearBackward(dx: d.baseAddress!, dw: dHead, db: nil, dy: logits, x: h.baseAddress! + r0 * C,
                                   w: head, rows: n, out: V, in: C)
                    for j in 0..<n { axpy(1, d.baseAddress! + j * C, dHidden + rows[r0 + j] * C, C) }
                }
            }
        }
        return value
    }
}

extension ContinuationBatch {
    /// The key layout for training: like `gatherRows` / `spans`, but each prompt's own queries get a
    /// block of their own instead of sharing their first continuation's, so no two spans read the
    /// same key rows and the attention backward can own each block's key gradients
    /// (`attentionBackward`). Blocks, per prompt: [prompt], then [prompt, continuation k] for each k.
    /// - Returns: the source row of every gathered key row, and the spans over them.
    public func disjointKeyBlocks() -> (gather: [Int], spans: [AttentionSpan]) {
        var gather: [Int] = [], spans: [AttentionSpan] = []
        for (p, conts) in continuations.enumerated() {
            let last = promptLastRows[p], L = positions[last] + 1, first = last - L + 1
            spans.append(AttentionSpan(queryRow: first, queryCount: L, firstQueryPosition: 0, keyRow: gather.count, keyCount: L))
            gather += Array(first...last)
            for (k, cont) in conts.enumerated() {
                let row = continuationStarts[p][k], m = cont.count
                spans.append(AttentionSpan(queryRow: row, queryCount: m, firstQueryPosition: L,
                                           keyRow: gather.count, keyCount: L + m))
                gather += Array(first...last) + Array(row..<(row + m))
            }
        }
        return (gather, spans)
    }
}

/// Keys and values of one layer copied into attention blocks (`ContinuationBatch.disjointKeyBlocks`),
/// and their gradients per block, for the training forward and backward of continuation batches
/// (tagged `scratch`: one layer's worth, reused by every layer).
final class TrainingKeyBlocks {
    let capacity: Int
    let width: Int
    let keys: UnsafeMutablePointer<Float>      // (capacity, Hkv·D)
    let values: UnsafeMutablePointer<Float>    // (capacity, Hkv·D)
    let dKeys: UnsafeMutablePointer<Float>     // (capacity, Hkv·D)
    let dValues: UnsafeMutablePointer<Float>   // (capacity, Hkv·D)
    private let buffer: TaggedBuffer

    convenience init(config c: DecoderConfig, capacity: Int) {
        self.init(width: c.kvHeads * c.headDim, capacity: capacity)
    }

    /// - Parameter width: floats of one key (Hkv·D).
    init(width: Int, capacity: Int) {
        self.capacity = capacity
        self.width = width
        let views: [UnsafeMutablePointer<Float>]
        (buffer, views) = TaggedBuffer.carved([Int](repeating: capacity * width, count: 4), tag: .scratch)
        (keys, values, dKeys, dValues) = (views[0], views[1], views[2], views[3])
    }

    var byteCount: Int { buffer.byteCount }

    /// Copies row gather[g] of `keys` / `values` (rows, Hkv·D) into block row g; returns self.
    /// With prefix tuning an entry −1 − j is prefix token j of `layer` (`PrefixedKeyLayout`).
    func gathering(_ gather: [Int], keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>,
                   prefix: KeyValuePrefix? = nil, layer: Int = 0) -> TrainingKeyBlocks {
        precondition(gather.count <= capacity, "gathered keys exceed their buffer")
        for (to, from) in gather.enumerated() {
            var ks = k + from * width, vs = v + from * width
            if from < 0 {
                let r = prefix!.row(-1 - from, layer: layer)
                (ks, vs) = (UnsafePointer(r.key), UnsafePointer(r.value))
            }
            memcpy(keys + to * width, ks, width * 4)
            memcpy(values + to * width, vs, width * 4)
        }
        return self
    }

    /// dK[gather[g]] += dKeys[g] (and the same for values), after zeroing dK and dV's `rows` rows:
    /// a prompt's key feeds every block it was copied into. A prefix row's gradient is added to
    /// prefix token j of `layer` in `prefixGradients` (the prefix arena's layout): every
    /// sequence's block adds its share, so it sums over the batch.
    func scatterAdd(_ gather: [Int], dKeys dK: UnsafeMutablePointer<Float>, dValues dV: UnsafeMutablePointer<Float>, rows: Int,
                    prefix: KeyValuePrefix? = nil, layer: Int = 0, prefixGradients: ParameterArena? = nil) {
        dK.update(repeating: 0, count: rows * width)
        dV.update(repeating: 0, count: rows * width)
        for (from, to) in gather.enumerated() {
            var kd = dK + to * width, vd = dV + to * width
            if to < 0 { (kd, vd) = prefix!.row(-1 - to, layer: layer, in: prefixGradients!) }
            axpy(1, dKeys + from * width, kd, width)
            axpy(1, dValues + from * width, vd, width)
        }
    }
}
