/// z_i = ±1 with equal probability (Rademacher), a function of (seed, i) alone like
/// `GaussianNoise`, but from one bit of Philox each instead of a Box–Muller transform: one
/// Philox4x32-10 block (128 random bits) serves 128 elements, so a perturbation pass is bound by
/// memory, not by the generator.
///
/// Definition (the scalar and bulk paths compute exactly this):
/// - n = i / 128, j = i % 128; (x0, x1, x2, x3) = Philox4x32-10 keyed by `seed` at counter
///   (low word of n, high word of n, 0, 0);
/// - bit b = (x[j / 32] >> (j % 32)) & 1; z_i = b == 1 ? -1 : +1.
///
/// Why it is a valid MeZO perturbation: SPSA's two-point estimate needs E[z] = 0 and E[zzᵀ] = I,
/// which ±1 entries satisfy (Spall's original SPSA uses exactly these); the ZO kernel view says the
/// estimator's fidelity depends on the number of perturbations, not on their distribution.
/// Because |z| = 1, x + s·z is exact in its product (s·z = ±s), so the fused multiply-add of
/// `NoisePass` rounds once, as for Gaussian z.
public struct RademacherNoise: Sendable {
    public let seed: UInt64
    let philox: Philox4x32_10

    public init(seed: UInt64) {
        self.seed = seed
        philox = Philox4x32_10(key: seed)
    }

    /// Elements per Philox block.
    static let blockElements = 128

    /// z at element `index` (≥ 0). Scalar reference.
    public func value(at index: Int) -> Float {
        precondition(index >= 0, "RademacherNoise index must be non-negative")
        let words = philox.block(counter: UInt64(index) >> 7)
        let bit = (words[(index >> 5) & 3] >> UInt32(index & 31)) & 1
        return bit == 1 ? -1 : 1
    }

    /// out[j] = z(index + j) for j in 0..<out.count. Single-threaded.
    public func fill(_ out: UnsafeMutableBufferPointer<Float>, startingAt index: Int) {
        precondition(index >= 0 && index <= Int.max - out.count, "RademacherNoise index range out of bounds")
        guard let base = out.baseAddress, !out.isEmpty else { return }
        let end = index + out.count
        var i = index
        while i < end, i & 127 != 0 {
            base[i - index] = value(at: i)
            i += 1
        }
        while end - i >= 128 {
            let words = philox.block(counter: UInt64(i) >> 7)
            let p = UnsafeMutableRawPointer(base + (i - index))
            for w in 0..<4 {
                let (lo, hi) = Self.signs(words[w])
                p.storeBytes(of: lo, toByteOffset: 128 * w, as: SIMD16<Float>.self)
                p.storeBytes(of: hi, toByteOffset: 128 * w + 64, as: SIMD16<Float>.self)
            }
            i += 128
        }
        while i < end {
            base[i - index] = value(at: i)
            i += 1
        }
    }

    /// The 32 values of one word's bits, bit k → element k: ±1.0 built by putting bit k into the
    /// sign of 1.0 (no compare, no select).
    @inline(__always)
    static func signs(_ word: UInt32) -> (SIMD16<Float>, SIMD16<Float>) {
        let one = SIMD16<UInt32>(repeating: 0x3F80_0000)
        let (low, high) = signBits(word)
        return (unsafeBitCast(low | one, to: SIMD16<Float>.self), unsafeBitCast(high | one, to: SIMD16<Float>.self))
    }

    /// x[i] ← x[i] + s·z_i for each s of `scales` in turn, for elements lo ..< hi (absolute
    /// indices; `x` points at element 0). The same additions as filling z and applying
    /// `NoisePass`'s fused multiply-adds (s·(±1) is exact, so each is one rounding either way),
    /// without the z buffer: each x is loaded once and stored once, whatever the number of scales.
    func add(_ scales: [Float], to x: UnsafeMutablePointer<Float>, from lo: Int, to hi: Int) {
        var i = lo
        while i < hi, i & 127 != 0 {
            let z = value(at: i)
            for s in scales { x[i] = x[i].addingProduct(s, z) }
            i += 1
        }
        let signed = scales.map { SIMD16<UInt32>(repeating: $0.bitPattern) }
        signed.withUnsafeBufferPointer { signed in
            while hi - i >= 128 {
                let words = philox.block(counter: UInt64(i) >> 7)
                for w in 0..<4 {
                    let (low, high) = Self.signBits(words[w])
                    let p = UnsafeMutableRawPointer(x + i + 32 * w)
                    var a = p.loadUnaligned(as: SIMD16<Float>.self)
                    var b = p.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
                    for s in signed {
                        a += unsafeBitCast(s ^ low, to: SIMD16<Float>.self)
                        b += unsafeBitCast(s ^ high, to: SIMD16<Float>.self)
                    }
                    p.storeBytes(of: a, as: SIMD16<Float>.self)
                    p.storeBytes(of: b, toByteOffset: 64, as: SIMD16<Float>.self)
                }
                i += 128
            }
        }
        while i < hi {
            let z = value(at: i)
            for s in scales { x[i] = x[i].addingProduct(s, z) }
            i += 1
        }
    }

    /// Bit k of `word` moved to the sign bit of lane k (low 16 bits, high 16 bits).
    @inline(__always)
    static func signBits(_ word: UInt32) -> (SIMD16<UInt32>, SIMD16<UInt32>) {
        let shifts = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        return (((SIMD16<UInt32>(repeating: word) &>> shifts) & 1) &<< 31,
                ((SIMD16<UInt32>(repeating: word >> 16) &>> shifts) & 1) &<< 31)
    }
}
