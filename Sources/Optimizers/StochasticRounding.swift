import Weights

/// The random bits of MeZO's stochastically rounded bf16 update (`NoWriteMeZO.swift`): 16 uniform
/// bits per logical element, a pure function of (step seed, element index) from Philox4x32-10 under
/// a key separate from z's (the seed xor a constant), so replay, resume and any thread count draw
/// the same bits. One Philox block gives 8 elements (4 words × 2 halves).
public struct StochasticRounding: Sendable {
    /// Tells the rounding stream's key from z's, which is the seed itself ("SRBF16\0\0").
    static let keyTweak: UInt64 = 0x5352_4246_3136_0000
    let philox: Philox4x32_10

    public init(seed: UInt64) { philox = Philox4x32_10(key: seed ^ Self.keyTweak) }

    /// The 16 bits element `index` rounds with.
    @inline(__always)
    public func bits(at index: Int) -> UInt16 {
        let word = philox.block(counter: UInt64(index) >> 3)[(index >> 1) & 3]
        return UInt16(truncatingIfNeeded: index & 1 == 0 ? word : word >> 16)
    }

    /// out[j] = bits(at: index + j) for j in 0..<count: one Philox block per 8 elements, eight
    /// blocks at a time in vector lanes (`Philox4x32_10.lanes`) where 64 aligned elements remain.
    public func fill(_ out: UnsafeMutablePointer<UInt16>, from index: Int, count: Int) {
        let end = index + count
        var i = index
        while i < end, i & 63 != 0 { out[i - index] = bits(at: i); i += 1 }
        let low32 = SIMD8<UInt64>(repeating: 0xFFFF_FFFF)
        let lane = SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7)
        while end - i >= 64 {
            let counters = SIMD8<UInt64>(repeating: UInt64(i >> 3)) &+ lane
            let (x0, x1, x2, x3) = philox.lanes(counters & low32, counters &>> 32, .zero, .zero)
            let dst = out + (i - index)
            for j in 0..<8 {
                // Element 8·counter + 2·word + half, as `bits(at:)` reads them.
                let words = (UInt32(truncatingIfNeeded: x0[j]), UInt32(truncatingIfNeeded: x1[j]),
                             UInt32(truncatingIfNeeded: x2[j]), UInt32(truncatingIfNeeded: x3[j]))
                let d = dst + 8 * j
                d[0] = UInt16(truncatingIfNeeded: words.0); d[1] = UInt16(truncatingIfNeeded: words.0 >> 16)
                d[2] = UInt16(truncatingIfNeeded: words.1); d[3] = UInt16(truncatingIfNeeded: words.1 >> 16)
                d[4] = UInt16(truncatingIfNeeded: words.2); d[5] = UInt16(truncatingIfNeeded: words.2 >> 16)
                d[6] = UInt16(truncatingIfNeeded: words.3); d[7] = UInt16(truncatingIfNeeded: words.3 >> 16)
            }
            i += 64
        }
        while i < end { out[i - index] = bits(at: i); i += 1 }
    }

    /// x rounded to bf16 with the bits of element `index` (unbiased: E = x; exact values stay).
    @inline(__always)
    public func round(_ x: Float, at index: Int) -> UInt16 { BFloat16.roundStochastic(x, bits(at: index)) }
}
