import Dispatch

/// Backward of `layerNormForward`: y = x̂ · w + b with x̂ = (x − μ) · r, r = 1/√(σ² + eps).
///
/// With g = dy ⊙ w:
///   dx = r · (g − mean(g) − x̂ · mean(g ⊙ x̂))
///   dw += Σ_rows dy ⊙ x̂        db += Σ_rows dy
/// μ and r are recomputed from x with the forward's own arithmetic (`layerNormStatistics`), so the
/// forward need not store them.
///
///   dy, x: (rows, dim)   w: (dim)
///   dx: (rows, dim)   overwritten, or added to when `accumulate`; without it dx may alias dy
///   dw, db: (dim)     accumulated; per-thread partial sums added in a fixed chunk order
public func layerNormBackward(dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>,
                              db: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                              x: UnsafePointer<Float>, w: UnsafePointer<Float>, rows: Int, dim: Int,
                              eps: Float, accumulate: Bool = false, threads: Int = Threads.count) {
    guard rows > 0 else { return }
    OpTimer.measure(.norm) {
        // One partial row of 2·dim floats per chunk: dw in the first half, db in the second.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * dim) { sums in
            let both = sums.baseAddress!
            both.initialize(repeating: 0, count: 2 * dim)
            forEachChunkWithPartials(rows, width: 2 * dim, into: both, threads: threads, minChunk: 16) { range, partial in
                let pw = partial, pb = partial + dim
                for r in range {
                    let xr = x + r * dim, dyr = dy + r * dim, dxr = dx + r * dim
                    let (mean, rstd) = layerNormStatistics(xr, dim: dim, eps: eps)
                    // mean(g) and mean(g ⊙ x̂)
                    var sg: Float = 0, sgx: Float = 0
                    for i in 0..<dim {
                        let g = dyr[i] * w[i], xh = (xr[i] - mean) * rstd
                        sg += g
                        sgx += g * xh
                        pw[i] += dyr[i] * xh
                        pb[i] += dyr[i]
                    }
                    let mg = sg / Float(dim), mgx = sgx / Float(dim)
                    for i in 0..<dim {
                        let xh = (xr[i] - mean) * rstd
                        let d = rstd * (dyr[i] * w[i] - mg - xh * mgx)
                        dxr[i] = accumulate ? dxr[i] + d : d
                    }
                }
            }
            addForward(dw, dw, both, count: dim)
            addForward(db, db, both + dim, count: dim)
        }
    }
}
