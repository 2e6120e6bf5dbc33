import Dispatch

/// Backward of `rmsNormForward`: y = x · r · (offset + w) with r = 1/√(mean(x²) + eps).
///
/// With g = dy ⊙ (offset + w):
///   dx = r · (g − x · r² · Σ(g ⊙ x) / dim)
///   dw += Σ_rows dy ⊙ x · r
/// r is recomputed from x exactly as the forward computes it (one dot product per row), so the
/// forward need not store it.
///
///   dy, x: (rows, dim)   w: (dim)
///   dx: (rows, dim)   overwritten, or added to when `accumulate` (the residual stream's gradient:
///                     a residual add's backward is the identity, so a pre-norm branch's input
///                     gradient just adds onto the stream's). Without `accumulate` dx may alias dy.
///   dw: (dim)         accumulated; per-thread partial sums, added in a fixed chunk order.
public func rmsNormBackward(dx: UnsafeMutablePointer<Float>, dw: UnsafeMutablePointer<Float>,
                            dy: UnsafePointer<Float>, x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                            rows: Int, dim: Int, eps: Float, offset: Float, accumulate: Bool = false,
                            threads: Int = Threads.count) {
    guard rows > 0 else { return }
    OpTimer.measure(.norm) {
        forEachChunkWithPartials(rows, width: dim, into: dw, threads: threads, minChunk: 16) { range, partial in
            let off = Vec(repeating: offset)
            for r in range {
                let xr = x + r * dim, dyr = dy + r * dim, dxr = dx + r * dim
                let rstd = 1 / (dot(xr, xr, dim) / Float(dim) + eps).squareRoot()
                // Σ g·x over the row
                var acc = Vec(repeating: 0)
                var i = 0
                while i + vecWidth <= dim {
                    acc += load(dyr + i) * (off + load(w + i)) * load(xr + i)
                    i += vecWidth
                }
                var gx = acc.sum()
                while i < dim { gx += dyr[i] * (offset + w[i]) * xr[i]; i += 1 }
                let c = gx * rstd * rstd / Float(dim)
                let rv = Vec(repeating: rstd), cv = Vec(repeating: c)
                i = 0
                while i + vecWidth <= dim {
                    let d = load(dyr + i), xv = load(xr + i)
                    store(load(partial + i) + d * xv * rv, partial + i)
                    var g = rv * (d * (off + load(w + i)) - xv * cv)
                    if accumulate { g += load(dxr + i) }
                    store(g, dxr + i)
                    i += vecWidth
                }
                while i < dim {
                    let d = dyr[i], xv = xr[i]
                    partial[i] += d * xv * rstd
                    let g = rstd * (d * (offset + w[i]) - xv * c)
                    dxr[i] = accumulate ? dxr[i] + g : g
                    i += 1
                }
            }
        }
    }
}

/// Runs `body` over contiguous chunks of 0..<count in parallel, each with its own zeroed
/// (width)-float partial sum, then adds the partials into `out` (width) in chunk order: a reduction
/// over rows (a weight gradient) without atomics.
func forEachChunkWithPartials(_ count: Int, width: Int, into out: UnsafeMutablePointer<Float>,
                              threads: Int, minChunk: Int,
                              _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
    let chunks = max(1, min(threads, count / max(1, minChunk)))
    withUnsafeTemporaryAllocation(of: Float.self, capacity: chunks * width) { buf in
        let partials = buf.baseAddress!
        partials.initialize(repeating: 0, count: chunks * width)
        if chunks == 1 {
            body(0..<count, partials)
        } else {
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let start = count * c / chunks, end = count * (c + 1) / chunks
                if start < end { body(start..<end, partials + c * width) }
            }
        }
        for c in 0..<chunks { axpy(1, partials + c * width, out, width) }
    }
}
