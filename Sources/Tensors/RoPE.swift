import Foundation

/// Rotary position embedding tables for one base frequency, in Hugging Face's "rotate_half" layout:
/// dimension i < D/2 pairs with i + D/2, both rotated by angle pos · inv_freq[i].
/// inv_freq[i] = 1 / base^(2i/D) / scaling, computed in Float as transformers does in fp32, so the
/// angles round the same way.
public struct RotaryTable {
    public let headDim: Int
    public let maxPositions: Int
    let cosines: [Float]   // (maxPositions, headDim / 2)
    let sines: [Float]     // (maxPositions, headDim / 2)

    /// - Parameter linearScaling: the `factor` of a "linear" rope_type (positions divided by it); 1 otherwise.
    public init(headDim: Int, base: Float, maxPositions: Int, linearScaling: Float = 1) {
        let invFreq: [Float] = Self.defaultInverseFrequencies(headDim: headDim, base: base).map { $0 / linearScaling }
        self.init(headDim: headDim, inverseFrequencies: invFreq, maxPositions: maxPositions)
    }

    /// inv_freq[i] = 1 / base^(2i/D), i < D/2, in Float as transformers computes it.   (D/2)
    public static func defaultInverseFrequencies(headDim: Int, base: Float) -> [Float] {
        (0..<headDim / 2).map { i in 1 / powf(base, Float(2 * i) / Float(headDim)) }
    }

    /// Tables for given inverse frequencies (a scaled RoPE such as Llama 3's computes its own).
    /// - Parameter inverseFrequencies: (headDim / 2) angle per position of each dimension pair.
    public init(headDim: Int, inverseFrequencies invFreq: [Float], maxPositions: Int) {
        precondition(headDim % 2 == 0, "rotary head dimension must be even")
        precondition(invFreq.count == headDim / 2, "one inverse frequency per dimension pair")
        self.headDim = headDim
        self.maxPositions = maxPositions
        let half = headDim / 2
        var c = [Float](repeating: 0, count: maxPositions * half)
        var s = [Float](repeating: 0, count: maxPositions * half)
        for p in 0..<maxPositions {
            for i in 0..<half {
                let angle = Float(p) * invFreq[i]
                c[p * half + i] = cosf(angle)
                s[p * half + i] = sinf(angle)
            }
        }
        cosines = c
        sines = s
    }

    /// Rotates `heads` vectors of one token in place by θ, or by −θ when `inverse` (the rotation
    /// is orthogonal, so that is also its backward).   x: (heads, headDim)
    @inline(__always)
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int, inverse: Bool = false) {
        precondition(position < maxPositions, "position \(position) beyond the rotary table")
        let half = headDim / 2
        cosines.withUnsafeBufferPointer { cb in
            sines.withUnsafeBufferPointer { sb in
                let c = cb.baseAddress! + position * half
                let s = sb.baseAddress! + position * half
                let sign: Float = inverse ? -1 : 1   // sin(−θ) = −sin θ
                let signs = Vec(repeating: sign)
                for h in 0..<heads {
                    let x1 = x + h * headDim
                    let x2 = x1 + half
                    var i = 0
                    while i + vecWidth <= half {
                        let a = load(x1 + i), b = load(x2 + i)
                        let cv = load(c + i), sv = signs * load(s + i)
                        store(a * cv - b * sv, x1 + i)
                        store(b * cv + a * sv, x2 + i)
                        i += vecWidth
                    }
                    while i < half {
                        let a = x1[i], b = x2[i], si = sign * s[i]
                        x1[i] = a * c[i] - b * si
                        x2[i] = b * c[i] + a * si
                        i += 1
                    }
                }
            }
        }
    }
}
