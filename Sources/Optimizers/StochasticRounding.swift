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

    /// x rounded to bf16 with the bits of element `index` (unbiased: E = x; exact values stay).
    @inline(__always)
    public func round(_ x: Float, at index: Int) -> UInt16 { BFloat16.roundStochastic(x, bits(at: index)) }
}
