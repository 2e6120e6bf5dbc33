import Dispatch
import Foundation

/// Backward of `attentionForward` over packed spans (causal, optional sliding window and
/// soft-capping, grouped-query heads).
///
/// The softmax probabilities are recomputed from q and k, one query row at a time, instead of being
/// stored (they would be Hq · Σ n² floats per layer): for query i of head h, over its visible keys j,
///   s_j  = cap(q_i · k_j · scale)        p = softmax(s)
///   dp_j = dO_i · v_j                    ds_j = p_j · (dp_j − Σ_k p_k dp_k) · cap′
///   dq_i += scale · Σ_j ds_j k_j         dk_j += scale · ds_j q_i        dv_j += p_j dO_i
///
///   dOut, q: (rows, Hq·D)   k, v: (rows, Hkv·D)  (q and k as attention saw them: after norm/RoPE)
///   dQ: (rows, Hq·D), dK, dV: (rows, Hkv·D): overwritten on every row the spans cover.
///
/// One task per (span, kv head) owns that head's dK/dV rows and the dQ rows of its query-head group,
/// so tasks never write the same element. Spans must not share key rows: whole packed sequences
/// (queries = keys), or continuation blocks where a span's keys are a copy of its prompt's rows
/// followed by its own queries' rows (the trainer's `TrainingKeyBlocks`). Either way a span's
/// queries are its last `queryCount` keys, and key j sits at position j.
public func attentionBackward(dQ: UnsafeMutablePointer<Float>, dK: UnsafeMutablePointer<Float>,
                              dV: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                              q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                              spans: [AttentionSpan], geometry g: AttentionGeometry,
                              threads: Int = Threads.count) {
    let d = g.headDim
    let qStride = g.queryHeads * d
    let kvStride = g.kvHeads * d
    let group = g.queryHeads / g.kvHeads
    let tasks = spans.count * g.kvHeads
    OpTimer.measure(.attention) {
        spans.withUnsafeBufferPointer { spanList in
            let run = { (task: Int) in
                let span = spanList[task / g.kvHeads]
                let kvHead = task % g.kvHeads
                precondition(span.firstQueryPosition + span.queryCount == span.keyCount,
                             "attentionBackward expects each span's queries to be its last keys")
                for j in 0..<span.keyCount {
                    (dK + (span.keyRow + j) * kvStride + kvHead * d).update(repeating: 0, count: d)
                    (dV + (span.keyRow + j) * kvStride + kvHead * d).update(repeating: 0, count: d)
                }
                for i in 0..<span.queryCount {
                    (dQ + (span.queryRow + i) * qStride + kvHead * group * d).update(repeating: 0, count: group * d)
                }
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * max(1, span.keyCount)) { buf in
                    let p = buf.baseAddress!              // (keyCount) scores, then probabilities
                    let dp = p + span.keyCount             // (keyCount) dO_i · v_j
                    let tanhs = dp + span.keyCount         // (keyCount) tanh(s_j / cap), for cap′
                    for head in (kvHead * group)..<((kvHead + 1) * group) {
                        for i in 0..<span.queryCount {
                            let position = span.firstQueryPosition + i
                            let row = span.queryRow + i
                            let qi = q + row * qStride + head * d
                            let doi = dOut + row * qStride + head * d
                            let dqi = dQ + row * qStride + head * d
                            // The forward's softmax row, recomputed with the same arithmetic.
                            let keys = attentionRow(p, q: qi, k: k + span.keyRow * kvStride + kvHead * d,
                                                    kvStride: kvStride, position: position,
                                                    keyCount: span.keyCount, geometry: g, tanhs: tanhs)
                            var delta: Float = 0   // Σ_j p_j dp_j = dO_i · o_i
                            for j in keys {
                                dp[j] = dot(doi, v + (span.keyRow + j) * kvStride + kvHead * d, d)
                                delta += p[j] * dp[j]
                            }
                            for j in keys {
                                var ds = p[j] * (dp[j] - delta)
                                if g.softcap != nil { ds *= 1 - tanhs[j] * tanhs[j] }
                                ds *= g.scale
                                let kj = k + (span.keyRow + j) * kvStride + kvHead * d
                                axpy(ds, kj, dqi, d)
                                axpy(ds, qi, dK + (span.keyRow + j) * kvStride + kvHead * d, d)
                                axpy(p[j], doi, dV + (span.keyRow + j) * kvStride + kvHead * d, d)
                            }
                        }
                    }
                }
            }
            if threads <= 1 || tasks <= 1 {
                for t in 0..<tasks { run(t) }
            } else {
                DispatchQueue.concurrentPerform(iterations: tasks) { run($0) }
            }
        }
    }
}
