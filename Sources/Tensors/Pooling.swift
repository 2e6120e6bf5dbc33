/// Sentence embeddings from token states, as sentence-transformers' Pooling(mean) + Normalize:
/// the mean over each sequence's real tokens (its attention-mask-weighted mean; padding never
/// enters packed rows), then division by the L2 norm.

/// out[s] = mean of x[starts[s] ..< starts[s] + lengths[s]].   x: (tokens, dim)   out: (S, dim)
public func meanPoolForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                            starts: [Int], lengths: [Int], dim: Int) {
    for s in starts.indices {
        let o = out + s * dim
        for c in 0..<dim { o[c] = 0 }
        for r in starts[s]..<(starts[s] + lengths[s]) { axpy(1, x + r * dim, o, dim) }
        let inv = 1 / Float(max(lengths[s], 1))
        for c in 0..<dim { o[c] *= inv }
    }
}

/// out[r] = x[r] / max(‖x[r]‖₂, eps), torch.nn.functional.normalize with its eps = 1e-12.
/// `out` may alias `x`.   x, out: (rows, dim)
public func l2NormalizeForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                               rows: Int, dim: Int, eps: Float = 1e-12) {
    for r in 0..<rows {
        let xr = x + r * dim, or = out + r * dim
        let inv = 1 / max(dot(xr, xr, dim).squareRoot(), eps)
        for c in 0..<dim { or[c] = xr[c] * inv }
    }
}
