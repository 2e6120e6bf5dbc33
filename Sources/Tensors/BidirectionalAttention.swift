/// Encoder attention (every query of a sequence sees every key of it), vectorised over keys.
///
/// `attentionForward` handles every mask but scores one key at a time: a 16-lane dot product, a
/// horizontal sum and a one-lane exp per (query, key) pair, ~20 ns. With head dim 32 and sequences
/// of ~25 tokens that made attention 16% of MiniLM's forward. Here each (sequence, head) first
/// transposes its keys to (D, L), so one query's scores for 16 keys are D broadcast-FMAs, and the
/// softmax's exps run 16 lanes at a time.
///
/// Same mathematics as `attentionForward(…, geometry: causal false)`, different rounding (the
/// backward pass recomputes probabilities with `attentionRow`, so the training forward keeps using
/// `attentionForward`; this one serves inference and MeZO's forward passes).
///   q, out: (rows, Hq·D)   k, v: (rows, Hkv·D)
public func bidirectionalAttentionForward(_ out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
                                          k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                          spans: [AttentionSpan], geometry g: AttentionGeometry,
                                          threads: Int = Threads.count) {
    precondition(!g.causal && g.window == nil && g.softcap == nil, "bidirectional attention has no mask or soft-cap")
    let d = g.headDim
    let qStride = g.queryHeads * d
    let kvStride = g.kvHeads * d
    let group = g.queryHeads / g.kvHeads
    let tasks = spans.count * g.queryHeads
    let maxKeys = spans.map(\.keyCount).max() ?? 0
    let padded = (maxKeys + vecWidth - 1) / vecWidth * vecWidth
    OpTimer.measure(.attention) {
        spans.withUnsafeBufferPointer { spanList in
            parallelFor(tasks, threads: threads) { range in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, (d + 1) * padded)) { buf in
                    let keysT = buf.baseAddress!            // (D, Lp) this head's keys, transposed, zero-padded
                    let scores = keysT + d * padded         // (Lp) one query's scores, then probabilities
                    for task in range {
                        let span = spanList[task / g.queryHeads]
                        let head = task % g.queryHeads, kvHead = head / group
                        let L = span.keyCount
                        let Lp = (L + vecWidth - 1) / vecWidth * vecWidth
                        let keys = k + span.keyRow * kvStride + kvHead * d
                        for c in 0..<d {
                            let row = keysT + c * Lp
                            for j in 0..<L { row[j] = keys[j * kvStride + c] }
                            for j in L..<Lp { row[j] = 0 }
                        }
                        let values = v + span.keyRow * kvStride + kvHead * d
                        // Lanes of the last chunk past the sequence's end. A mask and `replacing`, not
                        // lane stores: SIMD16's lane setter runs generic code (~20 ns a lane).
                        let padding = Vec(repeating: Float(L - (Lp - vecWidth))) .<= laneIndices
                        for i in 0..<span.queryCount {
                            let qi = q + (span.queryRow + i) * qStride + head * d
                            let oi = out + (span.queryRow + i) * qStride + head * d
                            // Scores, 16 keys at a time.
                            var best = Vec(repeating: -.infinity)
                            var chunk = 0
                            while chunk < Lp {
                                // Four partial sums: one chain of D dependent adds would wait on
                                // the adder's latency at every step.
                                var a0 = Vec(repeating: 0), a1 = a0, a2 = a0, a3 = a0
                                var c = 0
                                while c + 4 <= d {
                                    a0 += Vec(repeating: qi[c]) * load(keysT + c * Lp + chunk)
                                    a1 += Vec(repeating: qi[c + 1]) * load(keysT + (c + 1) * Lp + chunk)
                                    a2 += Vec(repeating: qi[c + 2]) * load(keysT + (c + 2) * Lp + chunk)
                                    a3 += Vec(repeating: qi[c + 3]) * load(keysT + (c + 3) * Lp + chunk)
                                    c += 4
                                }
                                while c < d { a0 += Vec(repeating: qi[c]) * load(keysT + c * Lp + chunk); c += 1 }
                                var acc = ((a0 + a1) + (a2 + a3)) * g.scale
                                if chunk + vecWidth == Lp { acc.replace(with: -.infinity, where: padding) }
                                store(acc, scores + chunk)
                                best = best.replacing(with: acc, where: acc .> best)
                                chunk += vecWidth
                            }
                            let m = Vec(repeating: best.max())
                            // Probabilities (unnormalised), padded lanes zeroed.
                            var total = Vec(repeating: 0)
                            chunk = 0
                            while chunk < Lp {
                                var e = vexp(load(scores + chunk) - m)
                                if chunk + vecWidth == Lp { e.replace(with: 0, where: padding) }
                                store(e, scores + chunk)
                                total += e
                                chunk += vecWidth
                            }
                            let inv = 1 / total.sum()
                            // o = Σ_j p_j v_j, 16 columns at a time with the sums in registers (an axpy
                            // into `oi` per key would reload what the previous key just stored), two
                            // accumulators for even and odd keys.
                            var c = 0
                            while c + vecWidth <= d {
                                var even = Vec(repeating: 0), odd = even
                                var j = 0
                                while j + 2 <= L {
                                    even += Vec(repeating: scores[j]) * load(values + j * kvStride + c)
                                    odd += Vec(repeating: scores[j + 1]) * load(values + (j + 1) * kvStride + c)
                                    j += 2
                                }
                                if j < L { even += Vec(repeating: scores[j]) * load(values + j * kvStride + c) }
                                store((even + odd) * inv, oi + c)
                                c += vecWidth
                            }
                            while c < d {
                                var sum: Float = 0
                                for j in 0..<L { sum += scores[j] * values[j * kvStride + c] }
                                oi[c] = sum * inv
                                c += 1
                            }
                        }
                    }
                }
            }
        }
    }
}

/// 0, 1, …, 15: lane numbers, to build masks by comparison.
private let laneIndices = Vec(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
