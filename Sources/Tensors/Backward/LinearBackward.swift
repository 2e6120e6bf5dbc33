/// Backward of a Hugging Face Linear, y = x · Wᵀ (+ b), with W stored (out, in).
///
///   dy: (rows, out)   x: (rows, in)   w: (out, in)
///   dx: (rows, in)    dx = dy · W            overwritten, or added to when `accumulateInput`
///                                            (several projections of one input: q, k, v; gate, up)
///   dw: (out, in)     dw += dyᵀ · x          always accumulated: the caller zeroes gradients once;
///                                            nil for a frozen weight (LoRA): no product, no buffer
///   db: (out)         db += Σ_rows dy        accumulated
///
/// Both products go through sgemm (they are two thirds of a training step's FLOPs).
public func linearBackward(dx: UnsafeMutablePointer<Float>?, dw: UnsafeMutablePointer<Float>?,
                           db: UnsafeMutablePointer<Float>?, dy: UnsafePointer<Float>,
                           x: UnsafePointer<Float>, w: UnsafePointer<Float>,
                           rows: Int, out: Int, in: Int, accumulateInput: Bool = false) {
    guard rows > 0 else { return }
    if let dx {
        // dx (rows, in) = dy (rows, out) · W (out, in)
        BLAS.gemm(transA: false, transB: false, m: rows, n: `in`, k: out, dy, lda: out, w, ldb: `in`,
                  beta: accumulateInput ? 1 : 0, dx, ldc: `in`)
    }
    // dw (out, in) += dyᵀ (out, rows) · x (rows, in)
    if let dw {
        BLAS.gemm(transA: true, transB: false, m: out, n: `in`, k: rows, dy, lda: out, x, ldb: `in`,
                  beta: 1, dw, ldc: `in`)
    }
    if let db { columnSums(db, dy, rows: rows, width: out) }
}

/// out[c] += Σ_r y[r, c], split over column blocks so threads never share an output element.
///   y: (rows, width)   out: (width)
func columnSums(_ out: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, rows: Int, width: Int,
                threads: Int = Threads.count) {
    let blocks = (width + vecWidth - 1) / vecWidth
    parallelFor(blocks, threads: threads, minChunk: 64) { range in
        let lo = range.lowerBound * vecWidth, hi = min(width, range.upperBound * vecWidth)
        for r in 0..<rows { axpy(1, y + r * width + lo, out + lo, hi - lo) }
    }
}
