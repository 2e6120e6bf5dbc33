/// RMSNorm forward: out[r] = x[r] / √(mean(x[r]²) + eps) · (offset + w).
/// `offset` is 1 for Gemma (its checkpoints store w with the norm computing (1 + w)) and 0 for Llama.
/// `out` may alias `x` (in-place normalisation of q/k heads).
///   x, out: (rows, dim)   w: (dim)
public func rmsNormForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                           _ w: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float, offset: Float,
                           threads: Int = Threads.count) {
    OpTimer.measure(.norm) {
        parallelFor(rows, threads: threads, minChunk: 16) { range in
            for r in range {
                let xr = x + r * dim
                let or = out + r * dim
                let meanSquare = dot(xr, xr, dim) / Float(dim)
                let scale = 1 / (meanSquare + eps).squareRoot()
                var i = 0
                let s = Vec(repeating: scale)
                let off = Vec(repeating: offset)
                while i + vecWidth <= dim {
                    store(load(xr + i) * s * (off + load(w + i)), or + i)
                    i += vecWidth
                }
                while i < dim { or[i] = xr[i] * scale * (offset + w[i]); i += 1 }
            }
        }
    }
}

/// out = a + b (elementwise); `out` may alias either input. (count)
public func addForward(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>,
                       _ b: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i + vecWidth <= count { store(load(a + i) + load(b + i), out + i); i += vecWidth }
    while i < count { out[i] = a[i] + b[i]; i += 1 }
}
