import Dispatch

/// z_i = Normal(seed, i): a standard normal for every element index i, computed from (seed, i)
/// alone (docs/ARCHITECTURE.md, decision 2). MeZO perturbs the whole parameter arena with it and never stores z.
///
/// Definition (every path below computes exactly this, bit for bit):
/// - n = i / 4; (x0, x1, x2, x3) = Philox4x32-10 keyed by `seed` (k0 = low word, k1 = high word)
///   at counter (c0, c1, c2, c3) = (low word of n, high word of n, 0, 0).
/// - Box–Muller on two pairs: z[4n] = R(x0) cos Θ(x1), z[4n+1] = R(x0) sin Θ(x1),
///   z[4n+2] = R(x2) cos Θ(x3), z[4n+3] = R(x2) sin Θ(x3), with
///   R(x) = sqrt(-2 ln u), u = (2^24 - (x >> 8)) · 2^-24 ∈ [2^-24, 1] (never 0, so |z| ≤ 5.77),
///   Θ(x) = 2π · (x >> 8) · 2^-24.
/// - ln, sin and cos are the Float polynomials below (`log(_:)`, `unitCircle(_:)`), not libm:
///   the vector and scalar paths evaluate the same operations in the same order (fused
///   multiply-adds where written), so `fill`, `addScaled` and `value(at:)` agree exactly at
///   every index, whatever the alignment and thread count.
///
/// Accuracy, checked exhaustively over all 2^24 inputs each function can see (GaussianNoiseTests):
/// `log` relative error < 1.5e-7 (measured 9.6e-8) against the exact ln, `radius` < 1.5e-7
/// relative, `unitCircle` < 1.2e-7 absolute (measured 8.5e-8). Each z is within
/// 5e-7 · max(1, |z|) of the exact Box–Muller value for its Philox words (measured 2.5e-7 over
/// 16M values), far below anything MeZO's ε ~ 1e-3 perturbation can feel.
public struct GaussianNoise: Sendable {
    public let seed: UInt64
    @usableFromInline let philox: Philox4x32_10

    /// Elements per threading task in `addScaled`; chunk boundaries sit at multiples of this
    /// absolute index, so every chunk but the first and last is whole 32-element blocks.
    public static let chunkElements = 1 << 16

    public init(seed: UInt64) {
        self.seed = seed
        self.philox = Philox4x32_10(key: seed)
    }

    // MARK: - Scalar reference path

    /// z at element `index` (≥ 0). Scalar: one Philox block, one Box–Muller pair.
    public func value(at index: Int) -> Float {
        precondition(index >= 0, "GaussianNoise index must be non-negative")
        let words = philox.block(counter: UInt64(index) >> 2)
        let pair = index & 2  // words (x0, x1) for elements 4n, 4n+1; (x2, x3) for 4n+2, 4n+3
        let r = Self.radius(words[pair])
        let (c, s) = Self.unitCircle(words[pair + 1])
        return index & 1 == 0 ? r * c : r * s
    }

    /// R(x) = sqrt(-2 ln u) with u = (2^24 - (x >> 8)) · 2^-24 ∈ [2^-24, 1].
    @inlinable
    public static func radius(_ word: UInt32) -> Float {
        let k = Int32(bitPattern: (1 << 24) &- (word >> 8))  // 1 ... 2^24, exact as a Float
        let u = Float(k) * 0x1p-24
        // abs() is a no-op on -2 ln u ≥ 0, but it tells LLVM the argument is non-negative, so
        // squareRoot() becomes a bare sqrtss/vsqrtps instead of a libm call guarded for errno.
        return abs(-2 * log(u)).squareRoot()
    }

    /// Natural log for positive normal Floats (the generator only passes u ∈ [2^-24, 1]).
    ///
    /// The Cephes `logf` scheme (S. L. Moshier): u = 2^e · m with m ∈ [√½, √2), f = m - 1
    /// (exact), ln u = f - f²/2 + f³·P(f) + e·ln 2, with ln 2 split in two so e·ln 2 adds no
    /// rounding. Near u = 1, f is exact and small, so the error is relative, which is what
    /// R = sqrt(-2 ln u) needs for small radii. P has 7 coefficients instead of Cephes' 9: refitted
    /// for this file (Lawson's reweighted least squares on Chebyshev nodes, weighted for relative
    /// error in ln), max relative error 3.3e-8 in exact arithmetic, below one Float rounding.
    /// P is evaluated as a + z(b + z(c + z c6)) with z = f², a shorter dependency chain than Horner.
    @inlinable
    public static func log(_ u: Float) -> Float {
        let bits = u.bitPattern
        var e = Int32(bitPattern: bits >> 23) - 126
        var m = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F00_0000)  // [0.5, 1)
        if m < LogCoefficients.sqrtHalf {
            e -= 1
            m = m + m                                                  // exact
        }
        let f = m - 1                                                  // exact (Sterbenz)
        let z = f * f
        let a = LogCoefficients.p0.addingProduct(LogCoefficients.p1, f)
        let b = LogCoefficients.p2.addingProduct(LogCoefficients.p3, f)
        let c = LogCoefficients.p4.addingProduct(LogCoefficients.p5, f)
        var t = c.addingProduct(z, LogCoefficients.p6)
        t = b.addingProduct(z, t)
        let p = a.addingProduct(z, t)
        let fe = Float(e)
        var y = (p * f) * z
        y = y.addingProduct(fe, LogCoefficients.ln2Low)
        y = y.addingProduct(-0.5, z)
        var result = f + y
        result = result.addingProduct(fe, LogCoefficients.ln2High)
        return result
    }

    /// (cos Θ, sin Θ) for Θ = 2π · (x >> 8) · 2^-24.
    ///
    /// The angle is in turns, so range reduction is exact integer arithmetic: q = nearest
    /// quarter turn, t = remainder ∈ [-½, ½) quarter turns, and sin/cos(π/2 · t) are
    /// polynomials on |π/2 · t| ≤ π/4; the quadrant then swaps them and flips signs.
    /// Coefficients: near-minimax fits (Lawson's reweighted least squares on Chebyshev nodes),
    /// rounded to Float; in exact arithmetic the rounded polynomials are within 2.4e-8 (sin) and
    /// 6.8e-9 (cos); Float evaluation adds about one rounding (6e-8). Measured: 8.5e-8.
    @inlinable
    public static func unitCircle(_ word: UInt32) -> (cos: Float, sin: Float) {
        let a = word >> 8                              // angle in 2^-24 turns
        let q = (a &+ (1 << 21)) >> 22                 // nearest quarter turn, 0 ... 4
        let t = Float(Int32(bitPattern: a &- (q << 22))) * 0x1p-22  // [-0.5, 0.5), exact
        let w = t * t
        var ps = SinCosCoefficients.s3
        ps = SinCosCoefficients.s2.addingProduct(ps, w)
        ps = SinCosCoefficients.s1.addingProduct(ps, w)
        ps = SinCosCoefficients.s0.addingProduct(ps, w)
        let s = t * ps
        var pc = SinCosCoefficients.c3
        pc = SinCosCoefficients.c2.addingProduct(pc, w)
        pc = SinCosCoefficients.c1.addingProduct(pc, w)
        pc = SinCosCoefficients.c0.addingProduct(pc, w)
        let c = Float(1).addingProduct(w, pc)
        let swap = q & 1 != 0                          // odd quadrants exchange sin and cos
        let cosine = Float(bitPattern: (swap ? s : c).bitPattern ^ (((q &+ 1) & 2) << 30))  // - in quadrants 1, 2
        let sine = Float(bitPattern: (swap ? c : s).bitPattern ^ ((q & 2) << 30))           // - in quadrants 2, 3
        return (cosine, sine)
    }

    // MARK: - Vector path
    //
    // Swift's SIMD types lower well only for some operations: integer &+ &- &* and comparisons
    // are vector builtins; bitwise ops, shifts and Float arithmetic are per-lane loops that LLVM
    // re-vectorises; conversions and `squareRoot()` on a whole vector are out-of-line or
    // scalarised. Hence the per-lane loops below for Int32 -> Float and sqrt (they become one
    // vcvtdq2ps / vsqrtps), unsafeBitCast instead of conversions, and selects done with integer
    // masks rather than `replacing(with:where:)`. Checked by reading the disassembly.

    /// 32 normals for elements 4n ..< 4n + 32, where `counters` = (n, n+1, ..., n+7), in memory
    /// order: `.0` holds elements 4n ..< 4n + 16, `.1` the next 16.
    @inlinable @inline(__always)
    func block32(_ counters: SIMD8<UInt64>) -> (SIMD16<Float>, SIMD16<Float>) {
        let zero = SIMD8<UInt64>(repeating: 0)
        let (x0, x1, x2, x3) = philox.lanes(counters, counters &>> 32, zero, zero)
        // Pack two words per 64-bit lane and view as 16 x UInt32: lanes 2j, 2j+1 of `first` are
        // x0, x2 of counter n+j (the radius words), of `second` x1, x3 (the angle words).
        let low32 = SIMD8<UInt64>(repeating: 0xFFFF_FFFF)
        let first = unsafeBitCast((x0 & low32) | (x2 &<< 32), to: SIMD16<UInt32>.self)
        let second = unsafeBitCast((x1 & low32) | (x3 &<< 32), to: SIMD16<UInt32>.self)
        let r = Self.radius(first)
        let (c, s) = Self.unitCircle(second)
        let zc = r * c, zs = r * s
        // zc[2j], zs[2j], zc[2j+1], zs[2j+1] are elements 4(n+j) + 0, 1, 2, 3: interleaving zc
        // and zs puts them in memory order (constant indices: one vpermt2ps per output vector).
        var lo = SIMD16<Float>(), hi = SIMD16<Float>()
        for j in 0..<8 {
            lo[2 * j] = zc[j]
            lo[2 * j + 1] = zs[j]
            hi[2 * j] = zc[8 + j]
            hi[2 * j + 1] = zs[8 + j]
        }
        return (lo, hi)
    }

    @inlinable @inline(__always)
    static func float(_ v: SIMD16<Int32>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = Float(v[i]) }
        return r
    }

    /// `radius(_:)` on 16 lanes, same operations.
    @inlinable @inline(__always)
    static func radius(_ word: SIMD16<UInt32>) -> SIMD16<Float> {
        let k = unsafeBitCast(SIMD16<UInt32>(repeating: 1 << 24) &- (word &>> 8), to: SIMD16<Int32>.self)
        let y = -2 * log(float(k) * 0x1p-24)
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = abs(y[i]).squareRoot() }
        return r
    }

    /// `log(_:)` on 16 lanes, same operations.
    @inlinable @inline(__always)
    static func log(_ u: SIMD16<Float>) -> SIMD16<Float> {
        typealias V = SIMD16<Float>
        typealias I = SIMD16<Int32>
        let bits = unsafeBitCast(u, to: SIMD16<UInt32>.self)
        var e = unsafeBitCast(bits &>> 23, to: I.self) &- 126
        var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F00_0000, to: V.self)
        // -1 in lanes where m < √½: there e -= 1 and m doubles (exponent field + 1, exact).
        let small = unsafeBitCast(m .< V(repeating: LogCoefficients.sqrtHalf), to: I.self)
        e = e &+ small
        m = unsafeBitCast(unsafeBitCast(m, to: I.self) &+ (small & 0x0080_0000), to: V.self)
        let f = m - 1
        let z = f * f
        let a = V(repeating: LogCoefficients.p0).addingProduct(V(repeating: LogCoefficients.p1), f)
        let b = V(repeating: LogCoefficients.p2).addingProduct(V(repeating: LogCoefficients.p3), f)
        let c = V(repeating: LogCoefficients.p4).addingProduct(V(repeating: LogCoefficients.p5), f)
        var t = c.addingProduct(z, V(repeating: LogCoefficients.p6))
        t = b.addingProduct(z, t)
        let p = a.addingProduct(z, t)
        let fe = float(e)
        var y = (p * f) * z
        y = y.addingProduct(fe, V(repeating: LogCoefficients.ln2Low))
        y = y.addingProduct(V(repeating: -0.5), z)
        var result = f + y
        result = result.addingProduct(fe, V(repeating: LogCoefficients.ln2High))
        return result
    }

    /// `unitCircle(_:)` on 16 lanes, same operations.
    @inlinable @inline(__always)
    static func unitCircle(_ word: SIMD16<UInt32>) -> (cos: SIMD16<Float>, sin: SIMD16<Float>) {
        typealias V = SIMD16<Float>
        typealias U = SIMD16<UInt32>
        let a = word &>> 8
        let q = (a &+ (1 << 21)) &>> 22
        let t = float(unsafeBitCast(a &- (q &<< 22), to: SIMD16<Int32>.self)) * 0x1p-22
        let w = t * t
        var ps = V(repeating: SinCosCoefficients.s3)
        ps = V(repeating: SinCosCoefficients.s2).addingProduct(ps, w)
        ps = V(repeating: SinCosCoefficients.s1).addingProduct(ps, w)
        ps = V(repeating: SinCosCoefficients.s0).addingProduct(ps, w)
        let s = t * ps
        var pc = V(repeating: SinCosCoefficients.c3)
        pc = V(repeating: SinCosCoefficients.c2).addingProduct(pc, w)
        pc = V(repeating: SinCosCoefficients.c1).addingProduct(pc, w)
        pc = V(repeating: SinCosCoefficients.c0).addingProduct(pc, w)
        let c = V(repeating: 1).addingProduct(w, pc)
        let swap = U(repeating: 0) &- (q & 1)  // all ones in odd quadrants
        let cb = unsafeBitCast(c, to: U.self), sb = unsafeBitCast(s, to: U.self)
        let cosine = ((cb & ~swap) | (sb & swap)) ^ (((q &+ 1) & 2) &<< 30)
        let sine = ((sb & ~swap) | (cb & swap)) ^ ((q & 2) &<< 30)
        return (unsafeBitCast(cosine, to: V.self), unsafeBitCast(sine, to: V.self))
    }

    // MARK: - Bulk paths

    /// out[j] = z(index + j) for j in 0..<out.count. Single-threaded.
    public func fill(_ out: UnsafeMutableBufferPointer<Float>, startingAt index: Int) {
        precondition(index >= 0 && index <= Int.max - out.count, "GaussianNoise index range out of bounds")
        guard let base = out.baseAddress, !out.isEmpty else { return }
        let end = index + out.count
        var i = index
        if i & 31 != 0 {
            i = partialBlock(at: i, end: end) { element, z in base[element - index] = z }
        }
        var counters = Self.firstCounters(i)
        while end - i >= 32 {
            let (lo, hi) = block32(counters)
            let p = UnsafeMutableRawPointer(base + (i - index))
            p.storeBytes(of: lo, as: SIMD16<Float>.self)
            p.storeBytes(of: hi, toByteOffset: 64, as: SIMD16<Float>.self)
            counters &+= SIMD8(repeating: 8)
            i += 32
        }
        if i < end {
            _ = partialBlock(at: i, end: end) { element, z in base[element - index] = z }
        }
    }

    /// The MeZO hot loop: x[j] += scale * z(index + j) for j in 0..<x.count, split over `threads`
    /// threads. Each element is one fused multiply-add (one rounding), and its z does not depend
    /// on which thread or code path computes it, so the result is bitwise independent of `threads`.
    public func addScaled(_ scale: Float, to x: UnsafeMutableBufferPointer<Float>, startingAt index: Int, threads: Int) {
        precondition(threads >= 1, "threads must be at least 1")
        precondition(index >= 0 && index <= Int.max - x.count, "GaussianNoise index range out of bounds")
        guard let base = x.baseAddress, !x.isEmpty else { return }
        let start = index, end = index + x.count
        let chunk = Self.chunkElements
        let firstChunk = start / chunk
        let chunks = (end - 1) / chunk - firstChunk + 1
        let workers = min(threads, chunks)
        if workers == 1 {
            addScaledSerial(scale, base, start, end)
            return
        }
        // Chunks are handed out one at a time, so a thread slowed by other work on the machine
        // just takes fewer of them.
        let dealer = ChunkDealer(count: chunks)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let c = dealer.take() {
                let lo = Swift.max(start, (firstChunk + c) * chunk)
                let hi = Swift.min(end, (firstChunk + c + 1) * chunk)
                addScaledSerial(scale, base + (lo - start), lo, hi)
            }
        }
    }

    /// x[0 ..< end - start] += scale * z(start ..< end).
    private func addScaledSerial(_ scale: Float, _ x: UnsafeMutablePointer<Float>, _ start: Int, _ end: Int) {
        var i = start
        if i & 31 != 0 {
            i = partialBlock(at: i, end: end) { element, z in
                x[element - start] = x[element - start].addingProduct(scale, z)
            }
        }
        let s = SIMD16<Float>(repeating: scale)
        var counters = Self.firstCounters(i)
        while end - i >= 32 {
            let (lo, hi) = block32(counters)
            let p = UnsafeMutableRawPointer(x + (i - start))
            let x0 = p.loadUnaligned(as: SIMD16<Float>.self)
            let x1 = p.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            p.storeBytes(of: x0.addingProduct(s, lo), as: SIMD16<Float>.self)
            p.storeBytes(of: x1.addingProduct(s, hi), toByteOffset: 64, as: SIMD16<Float>.self)
            counters &+= SIMD8(repeating: 8)
            i += 32
        }
        if i < end {
            _ = partialBlock(at: i, end: end) { element, z in
                x[element - start] = x[element - start].addingProduct(scale, z)
            }
        }
    }

    /// Counters n, n+1, ..., n+7 for the 32-element block starting at element i (i % 4 == 0).
    @inline(__always)
    private static func firstCounters(_ i: Int) -> SIMD8<UInt64> {
        SIMD8(repeating: UInt64(i) >> 2) &+ SIMD8(0, 1, 2, 3, 4, 5, 6, 7)
    }

    /// Computes the whole 32-element block containing element `i` with the vector kernel and
    /// hands elements i ..< min(end, block end) to `body` one by one; returns where it stopped.
    /// Using the vector kernel here too is what makes unaligned starts agree with aligned ones.
    @inline(__always)
    private func partialBlock(at i: Int, end: Int, _ body: (Int, Float) -> Void) -> Int {
        let blockStart = i & ~31
        let stop = Swift.min(end, blockStart + 32)
        var z = block32(Self.firstCounters(blockStart))
        withUnsafeBytes(of: &z) { raw in
            let values = raw.bindMemory(to: Float.self)
            for element in i..<stop { body(element, values[element - blockStart]) }
        }
        return stop
    }
}

/// Hands out chunk numbers 0 ..< count to whichever thread asks next. The semaphore is taken
/// once per 64K-element chunk (tens of microseconds of work), so its cost does not show.
final class ChunkDealer: @unchecked Sendable {
    private let lock = DispatchSemaphore(value: 1)
    private var next = 0
    private let count: Int

    init(count: Int) { self.count = count }

    func take() -> Int? {
        lock.wait()
        defer { lock.signal() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}

/// ln(1 + f) ≈ f - f²/2 + f³·P(f) on f ∈ [√½ - 1, √2 - 1), P(f) = p0 + p1 f + ... + p6 f⁶ (see
/// `GaussianNoise.log(_:)`), and ln 2 = ln2High + ln2Low with ln2High exact in 9 bits (Cephes).
@usableFromInline enum LogCoefficients {
    @usableFromInline static let sqrtHalf: Float = 0.707106781186547524
    @usableFromInline static let p0: Float = 0.3333396315574646
    @usableFromInline static let p1: Float = -0.25001096725463867
    @usableFromInline static let p2: Float = 0.19961042702198029
    @usableFromInline static let p3: Float = -0.16584137082099915
    @usableFromInline static let p4: Float = 0.14941884577274323
    @usableFromInline static let p5: Float = -0.14224764704704285
    @usableFromInline static let p6: Float = 0.08569318801164627
    @usableFromInline static let ln2High: Float = 0.693359375
    @usableFromInline static let ln2Low: Float = -2.12194440e-4
}

/// sin(π/2 · t) ≈ t · (s0 + s1 w + s2 w² + s3 w³), cos(π/2 · t) ≈ 1 + w (c0 + c1 w + c2 w² + c3 w³),
/// w = t², |t| ≤ ½. Fitted for this file (see `GaussianNoise.unitCircle(_:)`); close to, but not,
/// the Taylor coefficients (π/2, -(π/2)³/6, ...), which would need one more term for the same error.
@usableFromInline enum SinCosCoefficients {
    @usableFromInline static let s0: Float = 1.5707963705062866
    @usableFromInline static let s1: Float = -0.6459634900093079
    @usableFromInline static let s2: Float = 0.07968022674322128
    @usableFromInline static let s3: Float = -0.004602170083671808
    @usableFromInline static let c0: Float = -1.2337005138397217
    @usableFromInline static let c1: Float = 0.25366923213005066
    @usableFromInline static let c2: Float = -0.020860275253653526
    @usableFromInline static let c3: Float = 0.0009039966971613467
}
