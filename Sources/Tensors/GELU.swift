/// Exact GELU, BERT's `hidden_act: "gelu"`: x · Φ(x) = ½ · x · (1 + erf(x/√2)).
///
/// erf is Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), the same formula PyTorch's
/// vectorised CPU kernel evaluates (Vectorized<float>::erf), so our activations track
/// transformers' to float rounding rather than to a different approximation.

/// erf for 16 lanes: sign(x) · (1 − t·P(t)·e^(−x²)), t = 1/(1 + p|x|).
@inline(__always)
public func verf(_ x: Vec) -> Vec {
    let ax = x.replacing(with: -x, where: x .< 0)
    let t = 1 / (0.3275911 * ax + 1)
    var r = Vec(repeating: 1.061405429)
    r = r * t - 1.453152027
    r = r * t + 1.421413741
    r = r * t - 0.284496736
    r = r * t + 0.254829592
    let y = 1 - r * t * vexp(-(x * x))
    return y.replacing(with: -y, where: x .< 0)
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
