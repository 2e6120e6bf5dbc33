/// Exact GELU, BERT's `hidden_act: "gelu"`: x · Φ(x) = ½ · x · (1 + erf(x/√2)).
///
/// erf is Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), the same formula PyTorch's
/// vectorised CPU kernel evaluates (Vectorized<float>::erf), so our activations track
/// transformers' to float rounding rather than to a different approximation.

/// erf for 16 lanes: sign(x) · (1 − t·P(t)·e^(−x²)), t = 1/(1 + p|x|).
@inline(__always)
public func verf(_ x: Vec) -> Vec {
    // |x| and the sign by bit masks: the mask-and-select forms lower lane by lane here.
    let bits = unsafeBitCast(x, to: SIMD16<UInt32>.self)
    let sign = bits & 0x8000_0000
    let ax = unsafeBitCast(bits & 0x7FFF_FFFF, to: Vec.self)
    let t = 1 / (0.3275911 * ax + 1)
    var r = Vec(repeating: 1.061405429)
    r = r * t - 1.453152027
    r = r * t + 1.421413741
    r = r * t - 0.284496736
    r = r * t + 0.254829592
    let y = 1 - r * t * vexp(-(x * x))   // ≥ 0
    return unsafeBitCast(unsafeBitCast(y, to: SIMD16<UInt32>.self) | sign, to: Vec.self)
}

/// ½ · x · (1 + erf(x/√2)) for 16 lanes.
@inline(__always)
public func vgeluErf(_ x: Vec) -> Vec {
    0.5 * x * (1 + verf(x * 0.7071067811865476))
}

/// d/dx of exact GELU: Φ(x) + x · φ(x), φ(x) = e^(−x²/2)/√(2π).
@inline(__always)
public func vgeluErfDerivative(_ x: Vec) -> Vec {
    0.5 * (1 + verf(x * 0.7071067811865476)) + x * 0.3989422804014327 * vexp(-0.5 * x * x)
}

/// out[i] = gelu(x[i]) (exact, erf).   x, out: (count); `out` may alias `x`.
public func geluForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int,
                        threads: Int = Threads.count) {
    OpTimer.measure(.activation) {
        parallelFor(count, threads: threads, minChunk: 1 << 14) { range in
            let base = range.lowerBound
            forEachVector(range.count) { i, n in
                storePartial(vgeluErf(loadPartial(x + base + i, n)), out + base + i, n)
            }
        }
    }
}
