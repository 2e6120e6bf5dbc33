import Foundation

/// Token log-probabilities read from rows of full-vocabulary logits, and their backward, for losses
/// that are any function of log P(token | row) at a few (row, token) pairs: several tokens per row
/// (the first tokens of several label words after one prompt), a target token per row (completion),
/// each weighted by how the loss depends on it. `crossEntropyBackward` is the special case of one
/// read per row with weight 1.
///
/// With optional final soft-capping z = cap · tanh(l / cap) (nil: z = l):
///   log P(t | row) = z_t − log Σ_j e^(z_j)
/// and for reads (t_i, c_i) of one row, with c_i = d loss / d log P(t_i | row):
///   d loss / d l_j = (Σ_i c_i [j = t_i] − (Σ_i c_i) · softmax(z)_j) · (1 − (z_j / cap)²)

/// Soft-caps rows of raw logits in place and returns each row's log Σ exp(z).
///   logits: (rows, classes)   raw logits in, capped logits z out
/// - Returns: (rows) log-normalisers, accumulated in Double (16-lane partials flushed every 4,096
///   classes, as `crossEntropyBackward`).
public func cappedLogNormalisers(_ logits: UnsafeMutablePointer<Float>, rows: Int, classes V: Int,
                                 softcap: Float?, threads: Int = Threads.count) -> [Double] {
    var out = [Double](repeating: 0, count: rows)
    out.withUnsafeMutableBufferPointer { norms in
        parallelFor(rows, threads: threads) { range in
            for r in range {
                let (m, total) = capAndSumExp(logits + r * V, classes: V, softcap: softcap)
                norms[r] = Foundation.log(total) + Double(m)
            }
        }
    }
    return out
}

/// Replaces capped logits by d loss / d raw logits, given each row's log-normaliser (from
/// `cappedLogNormalisers`) and its reads (token, d loss / d log P(token | row)).
///   z: (rows, classes)   capped logits in, gradient out (in place)
///   reads: (rows) lists; a row without reads gets a zero gradient
public func tokenLogProbBackward(_ z: UnsafeMutablePointer<Float>, rows: Int, classes V: Int,
                                 logNormalisers: [Double], reads: [[(token: Int32, weight: Float)]],
                                 softcap: Float?, threads: Int = Threads.count) {
    precondition(logNormalisers.count >= rows && reads.count >= rows)
    parallelFor(rows, threads: threads) { range in
        for r in range {
            let row = z + r * V
            let total = reads[r].reduce(Float(0)) { $0 + $1.weight }
            // softcap′ needs z_t before the row is overwritten.
            let hits = reads[r].map { read -> (Int, Float) in
                let t = Int(read.token)
                precondition(t >= 0 && t < V, "token \(t) outside \(V) classes")
                var w = read.weight
                if let cap = softcap { w *= 1 - (row[t] / cap) * (row[t] / cap) }
                return (t, w)
            }
            let shift = Vec(repeating: Float(logNormalisers[r])), scale = Vec(repeating: -total)
            forEachVector(V) { i, n in
                let zv = loadPartial(row + i, n)
                var g = vexp(zv - shift) * scale
                if let cap = softcap {
                    let c = zv / cap
                    g *= 1 - c * c
                }
                storePartial(g, row + i, n)
            }
            for (t, w) in hits { row[t] += w }
        }
    }
}
