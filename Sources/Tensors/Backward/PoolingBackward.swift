/// Backward of `meanPoolForward`: every token of sequence s receives d pooled[s] / length.
///   dPooled: (S, dim)   dx: (tokens, dim), overwritten on the rows the spans cover.
public func meanPoolBackward(dx: UnsafeMutablePointer<Float>, dPooled: UnsafePointer<Float>,
                             starts: [Int], lengths: [Int], dim: Int) {
    for s in starts.indices {
        let inv = 1 / Float(max(lengths[s], 1))
        let d = dPooled + s * dim
        for r in starts[s]..<(starts[s] + lengths[s]) {
            let o = dx + r * dim
            for c in 0..<dim { o[c] = d[c] * inv }
        }
    }
}

/// Backward of `l2NormalizeForward`, u = x / max(‖x‖, eps):
///   dx = (du − u · (u · du)) / ‖x‖       (‖x‖ > eps; below it u = x / eps and dx = du / eps)
///   x, du, dx: (rows, dim); dx may alias du.
public func l2NormalizeBackward(dx: UnsafeMutablePointer<Float>, du: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float = 1e-12) {
    for r in 0..<rows {
        let xr = x + r * dim, dur = du + r * dim, dxr = dx + r * dim
        let norm = dot(xr, xr, dim).squareRoot()
        if norm <= eps {
            for c in 0..<dim { dxr[c] = dur[c] / eps }
            continue
        }
        let inv = 1 / norm
        let projection = dot(xr, dur, dim) * inv   // u · du
        for c in 0..<dim { dxr[c] = (dur[c] - xr[c] * inv * projection) * inv }
    }
}
