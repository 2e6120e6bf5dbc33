import Optimizers
import Weights
import XCTest

/// MeZO's bf16 update rounds stochastically (`StochasticRounding`, docs/weights-16bit.md): the
/// rounding must be unbiased (E[result] = x), exact on values bf16 represents, and a pure function
/// of (seed, element), as replay needs.
final class StochasticRoundingTests: XCTestCase {
    /// One update θ − lr·g·z of a weight, drawn 10⁶ times (one element index per draw): the mean
    /// rounding error is within 3 standard errors of 0. Both neighbours occur about as often as
    /// their distances say.
    func testUnbiasedOverAMillionDraws() {
        let n = 1_000_000
        // A 0.02 weight moved by ~2e-5 (below half its ulp of 1.2e-4: round to nearest would drop it),
        // a negative one, and one just below a power of two (the step crosses a binade).
        let updates: [(theta: Float, step: Float)] = [(0.02, -2.3e-5), (-0.7, 1.7e-4), (0.99609375, 1.1e-3)]
        for (k, u) in updates.enumerated() {
            let theta = BFloat16.widen(BFloat16.roundNearestEven(u.theta))
            let x = theta + u.step
            let rounding = StochasticRounding(seed: 0xC0FFEE &+ UInt64(k))
            var sum = 0.0, sumSquares = 0.0
            var up = 0
            let below = BFloat16.widen(UInt16(truncatingIfNeeded: x.bitPattern >> 16))   // truncation: toward zero
            for i in 0..<n {
                let r = Double(BFloat16.widen(rounding.round(x, at: i)))
                let e = r - Double(x)
                sum += e
                sumSquares += e * e
                if r != Double(below) { up += 1 }
            }
            let mean = sum / Double(n)
            let sd = (sumSquares / Double(n) - mean * mean).squareRoot()
            let standardError = sd / Double(n).squareRoot()
            XCTAssertGreaterThan(sd, 0, "update \(k): both neighbours must occur")
            XCTAssertLessThan(abs(mean), 3 * standardError, "update \(k): mean error \(mean), standard error \(standardError)")
            // Round-to-nearest would be biased by the whole distance to the nearer neighbour.
            let nearest = Double(BFloat16.widen(BFloat16.roundNearestEven(x))) - Double(x)
            XCTAssertGreaterThan(abs(nearest), 10 * standardError, "update \(k): the test must be able to see the bias it rules out")
            let p = Double(x.bitPattern & 0xffff) / 65536
            XCTAssertEqual(Double(up) / Double(n), p, accuracy: 4 * (p * (1 - p) / Double(n)).squareRoot(), "update \(k)")
        }
    }

    /// Values bf16 represents (every finite and infinite pattern, both signs) round to themselves
    /// for any random bits, and to nearest even too.
    func testExactOnRepresentableValues() {
        let rounding = StochasticRounding(seed: 99)
        for bits in 0...UInt16.max where bits & 0x7f80 != 0x7f80 || bits & 0x7f == 0 {   // all but NaNs
            let x = BFloat16.widen(bits)
            XCTAssertEqual(BFloat16.roundNearestEven(x), bits)
            for i in [0, 1, 7, 8, 12345, 1 << 30] {
                guard rounding.round(x, at: i) == bits else {
                    return XCTFail("bf16 \(String(bits, radix: 16)) (\(x)) rounded to \(String(rounding.round(x, at: i), radix: 16)) at element \(i)")
                }
            }
        }
    }

    /// The bits are a function of (seed, element): the same on every call, different across seeds
    /// and elements, and uniform enough that each of the 16 bits is set about half the time.
    func testBitsArePureAndUniform() {
        let a = StochasticRounding(seed: 5), b = StochasticRounding(seed: 6)
        var ones = [Int](repeating: 0, count: 16)
        var same = 0
        let n = 1 << 16
        for i in 0..<n {
            let r = a.bits(at: i)
            XCTAssertEqual(r, StochasticRounding(seed: 5).bits(at: i))
            if r == b.bits(at: i) { same += 1 }
            for k in 0..<16 where r & (1 << k) != 0 { ones[k] += 1 }
        }
        XCTAssertLessThan(same, 10, "two seeds' streams agree on \(same) of \(n) elements")
        for (k, c) in ones.enumerated() {
            XCTAssertEqual(Double(c) / Double(n), 0.5, accuracy: 0.01, "bit \(k) set in \(c) of \(n)")
        }
    }
}

extension StochasticRoundingTests {
    /// The vector fill gives the scalar bits, from any start and for any count.
    func testFillMatchesBitsAt() {
        let r = StochasticRounding(seed: 0xABCDEF)
        for (start, count) in [(0, 1000), (3, 200), (63, 130), (64, 64), ((1 << 33) + 5, 300)] {
            var out = [UInt16](repeating: 0, count: count)
            out.withUnsafeMutableBufferPointer { r.fill($0.baseAddress!, from: start, count: count) }
            XCTAssertEqual(out, (start..<(start + count)).map { r.bits(at: $0) }, "start \(start), count \(count)")
        }
    }
}

extension StochasticRoundingTests {
    /// The 16-lane forms MeZO's bf16 update uses give the scalar forms' bits: every f32 pattern
    /// class (±0, subnormals, normals near a carry, ±Inf, quiet and signalling NaNs) against every
    /// kind of random bits, over a count that leaves a scalar tail.
    func testVectorFormsEqualScalarBitForBit() {
        var patterns: [UInt32] = [0, 0x8000_0000, 0x0000_0001, 0x807f_ffff, 0x3f80_0000, 0x3f80_ffff, 0x7f7f_ffff,
                                  0xff7f_ffff, 0x7f80_0000, 0xff80_0000, 0x7fc0_0000, 0x7f80_0001, 0xffbf_ffff]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        while patterns.count < 4_099 {   // 256 vectors and a tail of 3
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            patterns.append(UInt32(truncatingIfNeeded: state >> 32))
        }
        let x = patterns.map { Float(bitPattern: $0) }                                  // (n,)
        let random = x.indices.map { UInt16(truncatingIfNeeded: $0 &* 40_503 ^ ($0 >> 3)) }   // (n,)
        var rounded = [UInt16](repeating: 0, count: x.count)                          // (n,)
        BFloat16.roundStochastic(x, random: random, into: &rounded, count: x.count)
        var widened = [Float](repeating: 0, count: x.count)                           // (n,)
        BFloat16.widen(rounded, into: &widened, count: x.count)
        for j in x.indices {
            XCTAssertEqual(rounded[j], BFloat16.roundStochastic(x[j], random[j]), "element \(j): f32 bits \(String(patterns[j], radix: 16))")
            XCTAssertEqual(widened[j].bitPattern, BFloat16.widen(rounded[j]).bitPattern, "element \(j)")
        }
    }
}
