// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror & Shaw, "Parallel random
// numbers: as easy as 1, 2, 3" (SC 2011), exactly as in Random123's philox.h (and so as numpy's
// Philox and PyTorch's CUDA philox): a 128-bit counter and a 64-bit key go through ten rounds of
//
//     (hi0, lo0) = M0 * c0;  (hi1, lo1) = M1 * c2           (32 x 32 -> 64-bit products)
//     c = (hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0)
//
// with the key bumped by the Weyl constants (W0, W1) before every round but the first.
// The output is a pure function of (key, counter): that is what lets MeZO regenerate z for any
// slice of the arena on any thread, in any order (docs/ARCHITECTURE.md, decision 2).
//
// Two implementations live here:
// - `Philox4x32_10.block(_:)`, the scalar reference, checked against Random123's known answers;
// - `Philox4x32_10.lanes(_:_:_:_:)`, eight counters at once in AVX-512 registers, checked against
//   the scalar one (the same known answers, and GaussianNoise's fill-vs-value tests).

/// The Philox4x32-10 block function keyed by a 64-bit key (low word k0, high word k1).
public struct Philox4x32_10: Sendable {
    // Random123 philox.h: PHILOX_M4x32_0/1 (multipliers) and PHILOX_W32_0/1 (key schedule:
    // the golden ratio and sqrt(3) - 1 as 32-bit fractions).
    @usableFromInline static let m0: UInt32 = 0xD251_1F53
    @usableFromInline static let m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85
    public static let rounds = 10

    /// Key words: k0 is the low half of the 64-bit key, k1 the high half.
    public let k0: UInt32
    public let k1: UInt32

    public init(key: UInt64) {
        k0 = UInt32(truncatingIfNeeded: key)
        k1 = UInt32(truncatingIfNeeded: key >> 32)
    }

    public init(k0: UInt32, k1: UInt32) {
        self.k0 = k0
        self.k1 = k1
    }

    /// One block: the four output words for the 128-bit counter (c0, c1, c2, c3), c0 least
    /// significant. Scalar reference implementation.
    @inlinable
    public func block(_ counter: SIMD4<UInt32>) -> SIMD4<UInt32> {
        var c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3]
        var key0 = k0, key1 = k1
        for round in 0..<Self.rounds {
            if round > 0 {
                key0 &+= Self.w0
                key1 &+= Self.w1
            }
            let p0 = UInt64(Self.m0) &* UInt64(c0)
            let p1 = UInt64(Self.m1) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ key0, lo1, hi0 ^ c3 ^ key1, lo0)
        }
        return SIMD4(c0, c1, c2, c3)
    }

    /// The block for a 64-bit counter (c0 = low word, c1 = high word, c2 = c3 = 0): the form
    /// GaussianNoise uses, counter = element index / 4.
    @inlinable
    public func block(counter: UInt64) -> SIMD4<UInt32> {
        block(SIMD4(UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32), 0, 0))
    }

    /// Eight blocks at once, for the vector kernel.
    ///
    /// Lane j of `c0 ... c3` holds word c0 ... c3 of counter j in its low 32 bits (high bits are
    /// ignored); the four results hold output words x0 ... x3 the same way, with unspecified high
    /// bits. Why this layout: `vpmuludq` multiplies the low 32 bits of each 64-bit lane into a full
    /// 64-bit product hi << 32 | lo, so with
    ///     p0 = c0 * M0,  p1 = c2 * M1
    /// the next round's words are c0' = (p1 >> 32) ^ c1 ^ k0 (low bits), c1' = p1 (its low bits
    /// are lo1), c2' = (p0 >> 32) ^ c3 ^ k1, c3' = p0. Nothing ever has to be moved between
    /// lanes or halves, and stale high bits are harmless because every consumer reads only low
    /// bits: a round is 2 multiplies, 2 shifts and 2 three-way xors for 8 counters (a
    /// rotate-based layout needs 8 ops and measured ~60% slower on this machine).
    @inlinable @inline(__always)
    public func lanes(_ c0: SIMD8<UInt64>, _ c1: SIMD8<UInt64>, _ c2: SIMD8<UInt64>, _ c3: SIMD8<UInt64>)
        -> (SIMD8<UInt64>, SIMD8<UInt64>, SIMD8<UInt64>, SIMD8<UInt64>)
    {
        var a = c0, b = c2, q1 = c1, q0 = c3
        // Unrolled by hand: with a `for` loop LLVM keeps the loop and splits the lanes.
        laneRound(&a, &b, &q1, &q0, 0)
        laneRound(&a, &b, &q1, &q0, 1)
        laneRound(&a, &b, &q1, &q0, 2)
        laneRound(&a, &b, &q1, &q0, 3)
        laneRound(&a, &b, &q1, &q0, 4)
        laneRound(&a, &b, &q1, &q0, 5)
        laneRound(&a, &b, &q1, &q0, 6)
        laneRound(&a, &b, &q1, &q0, 7)
        laneRound(&a, &b, &q1, &q0, 8)
        laneRound(&a, &b, &q1, &q0, 9)
        return (a, q1, b, q0)
    }

    @usableFromInline @inline(__always)
    func laneRound(
        _ a: inout SIMD8<UInt64>, _ b: inout SIMD8<UInt64>, _ q1: inout SIMD8<UInt64>, _ q0: inout SIMD8<UInt64>,
        _ round: UInt32
    ) {
        let key0 = k0 &+ round &* Self.w0, key1 = k1 &+ round &* Self.w1
        let low32 = SIMD8<UInt64>(repeating: 0xFFFF_FFFF)
        let p0 = (a & low32) &* SIMD8(repeating: UInt64(Self.m0))
        let p1 = (b & low32) &* SIMD8(repeating: UInt64(Self.m1))
        a = (p1 &>> 32) ^ q1 ^ SIMD8(repeating: UInt64(key0))
        b = (p0 &>> 32) ^ q0 ^ SIMD8(repeating: UInt64(key1))
        q1 = p1
        q0 = p0
    }
}
