/// LayerNorm forward (BERT's post-norm blocks): out[r] = (x[r] − μ) / √(σ² + eps) · w + b, with μ and
/// the biased variance σ² over the row, computed in two passes (mean first, then squared
/// deviations) as PyTorch does, so large-mean rows do not lose precision.
/// `out` may alias `x` (the residual stream is normalised in place).
///   x, out: (rows, dim)   w, b: (dim)
public func layerNormForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                             _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, dim: Int,
                             eps: Float, threads: Int = Threads.count) {
    OpTimer.measure(.norm) {
        parallelFor(rows, threads: threads, minChunk: 16) { range in
            for r in range {
                let xr = x + r * dim, or = out + r * dim
                let (mean, rstd) = layerNormStatistics(xr, dim: dim, eps: eps)
                let m = Vec(repeating: mean), s = Vec(repeating: rstd)
                var i = 0
                while i + vecWidth <= dim {
                    store((load(xr + i) - m) * s * load(w + i) + load(b + i), or + i)
                    i += vecWidth
                }
                while i < dim { or[i] = (xr[i] - mean) * rstd * w[i] + b[i]; i += 1 }
            }
        }
    }
}

/// Mean and 1/√(variance + eps) of one row; shared by forward and backward so that backward
/// recomputes exactly the forward's statistics.   x: (dim)
@inline(__always)
func layerNormStatistics(_ x: UnsafePointer<Float>, dim: Int, eps: Float) -> (mean: Float, rstd: Float) {
    var acc = Vec(repeating: 0)
    var i = 0
    while i + vecWidth <= dim { acc += load(x + i); i += vecWidth }
    var sum = acc.sum()
    while i < dim { sum += x[i]; i += 1 }
    let mean = sum / Float(dim)
    let m = Vec(repeating: mean)
    var sq = Vec(repeating: 0)
    i = 0
    while i + vecWidth <= dim { let d = load(x + i) - m; sq += d * d; i += vecWidth }
    var variance = sq.sum()
    while i < dim { let d = x[i] - mean; variance += d * d; i += 1 }
    variance /= Float(dim)
    return (mean, 1 / (variance + eps).squareRoot())
}
