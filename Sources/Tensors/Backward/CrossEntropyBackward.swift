import Foundation

/// Softmax cross-entropy over rows of logits, forward and backward in one pass over each row.
///
/// With optional final soft-capping z = cap · tanh(l / cap) (Gemma-2 style; nil = z = l), for each
/// row with a target t:
///   loss_row = log Σ_j e^(z_j) − z_t
///   dl_j     = weight · (softmax(z)_j − [j = t]) · (1 − (z_j / cap)²)
/// Rows whose target is negative contribute no loss and get a zero gradient.
///
///   logits: (rows, classes)   raw logits in, d(weight · Σ loss_row) / d logits out (in place)
///   targets: (rows)
/// - Returns: Σ loss_row over rows with a target, unweighted, accumulated in Double.
public func crossEntropyBackward(_ logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>,
                                 rows: Int, classes V: Int, weight: Float, softcap: Float? = nil,
                                 threads: Int = Threads.count) -> Double {
    guard rows > 0 else { return 0 }
    var losses = [Double](repeating: 0, count: rows)
    losses.withUnsafeMutableBufferPointer { lossOut in
        parallelFor(rows, threads: threads) { range in
            for r in range {
                let z = logits + r * V
                let t = Int(targets[r])
                if t < 0 {
                    z.update(repeating: 0, count: V)
                    continue
                }
                precondition(t < V, "target \(t) outside \(V) classes")
                let (m, total) = capAndSumExp(z, classes: V, softcap: softcap)
                lossOut[r] = Foundation.log(total) + Double(m) - Double(z[t])
                let inv = Float(1 / total), mw = Vec(repeating: weight * inv), mv = Vec(repeating: m)
                let zt = z[t]
                forEachVector(V) { i, n in
                    let zv = loadPartial(z + i, n)
                    var g = vexp(zv - mv) * mw
                    if let cap = softcap {
                        let c = zv / cap
                        g *= 1 - c * c
                    }
                    storePartial(g, z + i, n)
                }
                var hit = -weight
                if let cap = softcap { hit *= 1 - (zt / cap) * (zt / cap) }
                z[t] += hit
            }
        }
    }
    return losses.reduce(0, +)
}

/// Soft-caps one row of raw logits in place (nil: unchanged) and returns its maximum m and
/// Σ_j e^(z_j − m), accumulated in Double: 16-lane partials flushed every 4,096 classes. The row's
/// log-normaliser is log(sum) + m. Shared by `crossEntropyBackward` and `cappedLogNormalisers`.
///   z: (classes)
@inline(__always)
func capAndSumExp(_ z: UnsafeMutablePointer<Float>, classes V: Int, softcap: Float?) -> (max: Float, sum: Double) {
    if let cap = softcap {
        for j in 0..<V { z[j] = cap * tanhf(z[j] / cap) }
    }
    var m = -Float.infinity
    for j in 0..<V { m = max(m, z[j]) }
    var total: Double = 0
    var j = 0
    let mv = Vec(repeating: m)
    while j < V {
        let end = min(V, j + 4096)
        var acc = Vec(repeating: 0)
        forEachVector(end - j) { i, n in
            // padded lanes hold −∞, which vexp clamps to e^−87.3 ≈ 1e-38: nothing
            acc += vexp(loadPartial(z + j + i, n, fill: -.infinity) - mv)
        }
        total += Double(acc.sum())
        j = end
    }
    return (m, total)
}
