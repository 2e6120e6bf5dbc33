extension RotaryTable {
    /// Backward of `apply`: RoPE rotates each (i, i + D/2) pair by θ, an orthogonal map, so the
    /// gradient goes back through the transpose, a rotation by −θ:
    ///   dx[i]       =  dy[i] · cos θ + dy[i + D/2] · sin θ
    ///   dx[i + D/2] =  dy[i + D/2] · cos θ − dy[i] · sin θ
    /// In place.   dy → dx: (heads, headDim)
    @inline(__always)
    public func applyInverse(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        apply(x, heads: heads, position: position, inverse: true)
    }
}
