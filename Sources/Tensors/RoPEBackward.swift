extension RotaryTable {
    /// Backward of `apply`: RoPE rotates each (i, i + D/2) pair by θ, an orthogonal map, so the
    /// gradient goes back through the transpose, a rotation by −θ:
    ///   dx[i]       =  dy[i] · cos θ + dy[i + D/2] · sin θ
    ///   dx[i + D/2] =  dy[i + D/2] · cos θ − dy[i] · sin θ
    /// In place.   dy → dx: (heads, headDim)
    @inline(__always)
    public func applyInverse(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        precondition(position < maxPositions, "position \(position) beyond the rotary table")
        let half = headDim / 2
        cosines.withUnsafeBufferPointer { cb in
            sines.withUnsafeBufferPointer { sb in
                let c = cb.baseAddress! + position * half
                let s = sb.baseAddress! + position * half
                for h in 0..<heads {
                    let x1 = x + h * headDim
                    let x2 = x1 + half
                    var i = 0
                    while i + vecWidth <= half {
                        let a = load(x1 + i), b = load(x2 + i)
                        let cv = load(c + i), sv = load(s + i)
                        store(a * cv + b * sv, x1 + i)
                        store(b * cv - a * sv, x2 + i)
                        i += vecWidth
                    }
                    while i < half {
                        let a = x1[i], b = x2[i]
                        x1[i] = a * c[i] + b * s[i]
                        x2[i] = b * c[i] - a * s[i]
                        i += 1
                    }
                }
            }
        }
    }
}
