import Dispatch
import Foundation
import Optimizers
import TestSupport
import XCTest

/// Philox known answers, the accuracy of the Float log/sin/cos, agreement of every code path
/// bit for bit, and the distribution of the normals. All seeds are fixed, so the statistical
/// tests are deterministic; their 5-sigma tolerances say what a correct generator would fail by
/// chance with probability < 1e-6 per check.
final class GaussianNoiseTests: XCTestCase {

    // MARK: Philox

    /// Known-answer vectors for philox4x32-10 from Random123's `kat_vectors` file (D. E. Shaw
    /// Research), as reproduced in DEShawResearch/fs123 core123/ut/ut_philox.cpp:
    /// counter (4 words), key (2 words) -> output (4 words).
    func testPhiloxKnownAnswers() {
        let vectors: [(counter: SIMD4<UInt32>, key: (UInt32, UInt32), expected: SIMD4<UInt32>)] = [
            (SIMD4(0, 0, 0, 0), (0, 0), SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8)),
            (SIMD4(repeating: 0xffff_ffff), (0xffff_ffff, 0xffff_ffff),
             SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd)),
            (SIMD4(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), (0xa409_3822, 0x299f_31d0),
             SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1)),
        ]
        for v in vectors {
            let philox = Philox4x32_10(k0: v.key.0, k1: v.key.1)
            XCTAssertEqual(philox.block(v.counter), v.expected, "scalar Philox, counter \(v.counter)")
            XCTAssertEqual(Philox4x32_10(key: UInt64(v.key.1) << 32 | UInt64(v.key.0)).block(v.counter), v.expected)

            // The 8-lane kernel: put the vector in lane 3 (others hold unrelated counters), with
            // junk in the high halves, which the kernel must ignore.
            var words = [SIMD8<UInt64>](repeating: SIMD8(0, 1, 2, 3, 4, 5, 6, 7), count: 4)
            for w in 0..<4 { words[w][3] = 0xdead_beef_0000_0000 | UInt64(v.counter[w]) }
            let out = philox.lanes(words[0], words[1], words[2], words[3])
            let got = SIMD4(UInt32(truncatingIfNeeded: out.0[3]), UInt32(truncatingIfNeeded: out.1[3]),
                            UInt32(truncatingIfNeeded: out.2[3]), UInt32(truncatingIfNeeded: out.3[3]))
            XCTAssertEqual(got, v.expected, "8-lane Philox, counter \(v.counter)")
        }
    }

    func testPhiloxLanesMatchScalarForManyCounters() {
        let philox = Philox4x32_10(key: 0x0123_4567_89ab_cdef)
        var rng = SplitMix64(seed: 7)
        for _ in 0..<1000 {
            var c = [SIMD8<UInt64>](repeating: SIMD8(), count: 4)
            for w in 0..<4 { for j in 0..<8 { c[w][j] = rng.next() } }
            let out = philox.lanes(c[0], c[1], c[2], c[3])
            for j in 0..<8 {
                let counter = SIMD4(UInt32(truncatingIfNeeded: c[0][j]), UInt32(truncatingIfNeeded: c[1][j]),
                                    UInt32(truncatingIfNeeded: c[2][j]), UInt32(truncatingIfNeeded: c[3][j]))
                let w = philox.block(counter)
                let got = SIMD4(UInt32(truncatingIfNeeded: out.0[j]), UInt32(truncatingIfNeeded: out.1[j]),
                                UInt32(truncatingIfNeeded: out.2[j]), UInt32(truncatingIfNeeded: out.3[j]))
                XCTAssertEqual(got, w)
            }
        }
    }

    // MARK: Float approximations, exhaustively over the inputs the generator can produce

    /// ln u for every u = k · 2^-24, k = 1 ... 2^24 (all the radius inputs), against Foundation's
    /// double-precision log. Bound 1.5e-7 relative: the polynomial's 3.3e-8 plus about two Float
    /// roundings (2^-24 = 6e-8 each) of the final sums; measured 9.6e-8. The doc comment of
    /// `GaussianNoise` quotes this bound.
    func testLogRelativeErrorOverAllRadiusInputs() {
        var worst = 0.0, worstU: Float = 0
        for k in 1..<(1 << 24) {
            let u = Float(k) * 0x1p-24
            let exact = Foundation.log(Double(u))
            let rel = abs(Double(GaussianNoise.log(u)) - exact) / abs(exact)
            if rel > worst { worst = rel; worstU = u }
        }
        XCTAssertEqual(GaussianNoise.log(1), 0, "ln 1 must be exactly 0 (radius 0, not NaN)")
        print("GaussianNoise.log: max relative error \(worst) at u = \(worstU)")
        XCTAssertLessThan(worst, 1.5e-7)
    }

    /// R = sqrt(-2 ln u) for every possible word: relative error < 1.5e-7, i.e. half the log's
    /// (the square root halves a relative error) plus one rounding each of -2 ln u's square root
    /// (exact scaling by -2 adds none); measured 1.05e-7.
    func testRadiusRelativeErrorOverAllInputs() {
        var worst = 0.0
        for top in 0..<(1 << 24) {
            let word = UInt32(top) << 8
            let u = Double(Float(Int32((1 << 24) - top)) * 0x1p-24)
            let exact = (-2 * Foundation.log(u)).squareRoot()
            let r = Double(GaussianNoise.radius(word))
            if exact == 0 { XCTAssertEqual(r, 0); continue }
            worst = max(worst, abs(r - exact) / exact)
        }
        // The low 8 bits of a word are ignored.
        XCTAssertEqual(GaussianNoise.radius(0x1234_56ff), GaussianNoise.radius(0x1234_5600))
        // Word 0 is u = 1 (radius exactly 0); all ones is u = 2^-24, the largest radius.
        XCTAssertEqual(GaussianNoise.radius(0), 0)
        XCTAssertEqual(GaussianNoise.radius(.max), Float((-2 * Foundation.log(0x1p-24)).squareRoot()), accuracy: 1e-6)
        print("GaussianNoise.radius: max relative error \(worst)")
        XCTAssertLessThan(worst, 1.5e-7)
    }

    /// cos and sin of 2π a / 2^24 for every a in 0 ..< 2^24 (every angle the generator uses),
    /// against Foundation's double cos/sin. Bound 1.2e-7 absolute: polynomial error ≤ 2.4e-8
    /// plus about one and a half Float roundings near magnitude 1 (6e-8 each); measured 8.5e-8.
    func testUnitCircleAbsoluteErrorOverAllAngles() {
        var worstCos = 0.0, worstSin = 0.0, worstNorm = 0.0
        for a in 0..<(1 << 24) {
            let (c, s) = GaussianNoise.unitCircle(UInt32(a) << 8)
            let theta = 2 * Double.pi * Double(a) * 0x1p-24
            worstCos = max(worstCos, abs(Double(c) - Foundation.cos(theta)))
            worstSin = max(worstSin, abs(Double(s) - Foundation.sin(theta)))
            worstNorm = max(worstNorm, abs(Double(c) * Double(c) + Double(s) * Double(s) - 1))
        }
        print("GaussianNoise.unitCircle: max |Δcos| \(worstCos), |Δsin| \(worstSin), |c²+s²-1| \(worstNorm)")
        XCTAssertLessThan(worstCos, 1.2e-7)
        XCTAssertLessThan(worstSin, 1.2e-7)
        // Exact at the quadrant points, where range reduction leaves t = 0.
        for (a, expected) in [(0, (Float(1), Float(0))), (1 << 22, (0, 1)), (2 << 22, (-1, 0)), (3 << 22, (0, -1))] {
            let (c, s) = GaussianNoise.unitCircle(UInt32(a) << 8)
            XCTAssertEqual(abs(c), abs(expected.0)); XCTAssertEqual(s, expected.1)
        }
    }

    /// Whole pipeline against a double-precision Box–Muller on the same Philox words:
    /// |Δz| ≤ 5e-7 · max(1, |z|), from R's 1.5e-7 relative error, R times the 1.2e-7 absolute
    /// trig error (R ≤ 5.77, but the relative form divides it out for |z| > 1) and the final
    /// product's rounding; measured 2.5e-7.
    func testValuesMatchDoublePrecisionBoxMuller() {
        let noise = GaussianNoise(seed: 0xdead_beef)
        let philox = Philox4x32_10(key: 0xdead_beef)
        var worst = 0.0
        for n in stride(from: 0, to: 4_000_000, by: 1) {
            let index = n * 4
            let w = philox.block(counter: UInt64(n))
            for k in 0..<4 {
                let x = w[k & 2], y = w[(k & 2) + 1]
                let u = Double((1 << 24) - Int(x >> 8)) * 0x1p-24
                let r = (-2 * Foundation.log(u)).squareRoot()
                let theta = 2 * Double.pi * Double(y >> 8) * 0x1p-24
                let exact = k & 1 == 0 ? r * Foundation.cos(theta) : r * Foundation.sin(theta)
                let err = abs(Double(noise.value(at: index + k)) - exact) / max(1, abs(exact))
                worst = max(worst, err)
            }
        }
        print("GaussianNoise.value: max error vs double Box–Muller \(worst) (relative above |z| = 1)")
        XCTAssertLessThan(worst, 5e-7)
    }

    // MARK: Every path gives the same bits

    func testFillMatchesValueAtUnalignedOffsets() {
        let noise = GaussianNoise(seed: 42)
        var rng = SplitMix64(seed: 1)
        var starts = [0, 1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 63, 65, 1 << 34, (1 << 34) + 3, (1 << 62) + 5]
        for _ in 0..<200 { starts.append(Int(rng.next() % (1 << 40))) }
        for start in starts {
            for count in [0, 1, 2, 3, 5, 31, 32, 33, 64, 95, 200, 1000 + Int(rng.next() % 1000)] {
                var out = [Float](repeating: .nan, count: count)
                out.withUnsafeMutableBufferPointer { noise.fill($0, startingAt: start) }
                for j in 0..<count where out[j].bitPattern != noise.value(at: start + j).bitPattern {
                    XCTFail("fill(start \(start), count \(count))[\(j)] = \(out[j]) != value(at:) \(noise.value(at: start + j))")
                    return
                }
            }
        }
        // Near the top of the index range, where the counter's high word is large.
        let top = Int.max - 100
        var out = [Float](repeating: 0, count: 100)
        out.withUnsafeMutableBufferPointer { noise.fill($0, startingAt: top) }
        for j in 0..<100 { XCTAssertEqual(out[j].bitPattern, noise.value(at: top + j).bitPattern) }
    }

    /// 2^24 consecutive values from an unaligned start, fill vs value(at:): every lane of the
    /// vector kernel meets ~16M random Philox words, i.e. most of the 2^24 inputs of the Float
    /// approximations, and must agree with the scalar path on each.
    func testFillMatchesValueOnSixteenMillionElements() {
        let noise = GaussianNoise(seed: 0x5eed)
        let n = 1 << 24, start = 1_000_003
        var out = [Float](repeating: .nan, count: n)
        out.withUnsafeMutableBufferPointer { noise.fill($0, startingAt: start) }
        var mismatches = 0
        for j in 0..<n where out[j].bitPattern != noise.value(at: start + j).bitPattern { mismatches += 1 }
        XCTAssertEqual(mismatches, 0)
    }

    func testHighCounterWordIsUsed() {
        // Indices 4·2^32 apart differ only in the counter's high word (c1).
        let noise = GaussianNoise(seed: 3)
        var equal = 0
        for i in 0..<1000 where noise.value(at: i) == noise.value(at: i + (1 << 34)) { equal += 1 }
        XCTAssertLessThan(equal, 3)
    }

    func testAddScaledIsOneFusedMultiplyAddPerElement() {
        let noise = GaussianNoise(seed: 11)
        var rng = SplitMix64(seed: 2)
        for (start, count) in [(0, 1000), (7, 333), (12_345, 70_000), (65_530, 20)] {
            let x0 = (0..<count).map { _ in rng.nextFloat() }
            var x = x0
            let scale: Float = -0.0123
            x.withUnsafeMutableBufferPointer { noise.addScaled(scale, to: $0, startingAt: start, threads: 2) }
            for j in 0..<count {
                let expected = x0[j].addingProduct(scale, noise.value(at: start + j))
                if x[j].bitPattern != expected.bitPattern {
                    XCTFail("addScaled(start \(start))[\(j)] = \(x[j]), expected \(expected)")
                    return
                }
            }
        }
    }

    func testAddScaledIsBitwiseIndependentOfThreadCount() {
        let noise = GaussianNoise(seed: 2024)
        let count = 1_000_003, start = 12_345  // 16 chunks of 64K, unaligned at both ends
        var rng = SplitMix64(seed: 3)
        let x0 = (0..<count).map { _ in rng.nextFloat() * 0.02 }
        var results: [[Float]] = []
        for threads in [1, 2, 3, 4] {
            var x = x0
            x.withUnsafeMutableBufferPointer { noise.addScaled(1e-3, to: $0, startingAt: start, threads: threads) }
            results.append(x)
        }
        for t in 1..<results.count {
            XCTAssertTrue(results[t].elementsEqual(results[0]) { $0.bitPattern == $1.bitPattern },
                          "threads = \(t + 1) differs from threads = 1")
        }
        XCTAssertFalse(results[0].elementsEqual(x0), "addScaled changed nothing")
    }

    func testDifferentSeedsGiveDifferentStreams() {
        let seeds: [UInt64] = [0, 1, 2, 0xffff_ffff, 1 << 32, UInt64.max]
        let n = 4096
        let streams = seeds.map { seed -> [Float] in
            var out = [Float](repeating: 0, count: n)
            out.withUnsafeMutableBufferPointer { GaussianNoise(seed: seed).fill($0, startingAt: 0) }
            return out
        }
        for a in 0..<seeds.count {
            for b in (a + 1)..<seeds.count {
                let equal = zip(streams[a], streams[b]).filter { $0 == $1 }.count
                // Two independent Float normals coincide with probability ~1e-7 each.
                XCTAssertLessThan(equal, 3, "seeds \(seeds[a]) and \(seeds[b]) share \(equal) of \(n) values")
            }
        }
    }

    // MARK: Distribution (n = 2^24 samples)

    private static let sampleCount = 1 << 24

    private func samples(seed: UInt64, start: Int = 0) -> [Float] {
        var out = [Float](repeating: 0, count: Self.sampleCount)
        out.withUnsafeMutableBufferPointer { GaussianNoise(seed: seed).fill($0, startingAt: start) }
        return out
    }

    func testMomentsAndTails() {
        let z = samples(seed: 12_345, start: 17)
        let n = Double(z.count)
        var sum = 0.0, sumSq = 0.0, sum4 = 0.0
        var over1 = 0, over2 = 0, over3 = 0
        var largest: Float = 0
        for v in z {
            let d = Double(v)
            sum += d; sumSq += d * d; sum4 += d * d * d * d
            let a = abs(v)
            largest = max(largest, a)
            if a > 1 { over1 += 1 }
            if a > 2 { over2 += 1 }
            if a > 3 { over3 += 1 }
        }
        let mean = sum / n
        let variance = sumSq / n - mean * mean
        let kurtosis = sum4 / n / (variance * variance)
        print("GaussianNoise moments: n \(Int(n)), mean \(mean), variance \(variance), kurtosis \(kurtosis), max |z| \(largest)")
        // Mean of n unit-variance samples has standard deviation 1/sqrt(n).
        XCTAssertLessThan(abs(mean), 5 / n.squareRoot())
        // Sample variance of normals has standard deviation sqrt(2/n).
        XCTAssertLessThan(abs(variance - 1), 5 * (2 / n).squareRoot())
        // Kurtosis: Var(z^4) = 105 - 9 = 96, so the fourth moment has sd sqrt(96/n); 5 sd.
        XCTAssertLessThan(abs(kurtosis - 3), 5 * (96 / n).squareRoot() + 10 * (2 / n).squareRoot())
        // u ≥ 2^-24 caps |z| at sqrt(48 ln 2) = 5.77.
        XCTAssertLessThanOrEqual(largest, 5.7686)
        // Tail counts are binomial(n, p): 5 standard deviations, sqrt(p (1 - p) / n).
        for (count, p, label) in [(over1, 0.31731050786291415, ">1"), (over2, 0.04550026389635842, ">2"),
                                  (over3, 0.0026997960632601866, ">3")] {
            let freq = Double(count) / n
            print("GaussianNoise P(|z| \(label)) = \(freq), expected \(p)")
            XCTAssertLessThan(abs(freq - p), 5 * (p * (1 - p) / n).squareRoot(), "P(|z| \(label))")
        }
    }

    /// Pearson correlation; for independent samples it is ~Normal(0, 1/n), so |ρ| < 5/sqrt(n).
    private func correlation(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>, squared: Bool = false) -> Double {
        var sa = 0.0, sb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0
        for (x, y) in zip(a, b) {
            var p = Double(x), q = Double(y)
            if squared { p *= p; q *= q }
            sa += p; sb += q; saa += p * p; sbb += q * q; sab += p * q
        }
        let n = Double(a.count)
        let cov = sab / n - sa / n * sb / n
        return cov / ((saa / n - sa / n * sa / n) * (sbb / n - sb / n * sb / n)).squareRoot()
    }

    func testNeighbourAndCrossSeedCorrelations() {
        let z = samples(seed: 99)
        let n = z.count
        // Lags 1..4 cover both members of a Box–Muller pair and the two pairs of one Philox
        // block; 16 and 32 cover the vector kernel's lane layout.
        for lag in [1, 2, 3, 4, 16, 32] {
            let rho = correlation(z[0..<(n - lag)], z[lag..<n])
            print("GaussianNoise lag-\(lag) correlation \(rho)")
            XCTAssertLessThan(abs(rho), 5 / Double(n - lag).squareRoot(), "lag \(lag)")
        }
        // z0 = R cos Θ and z1 = R sin Θ are uncorrelated for any R; only a correct radius makes
        // them independent, which shows up as zero correlation between their squares.
        let rhoSq = correlation(z[0..<(n - 1)], z[1..<n], squared: true)
        print("GaussianNoise lag-1 correlation of squares \(rhoSq)")
        XCTAssertLessThan(abs(rhoSq), 5 / Double(n - 1).squareRoot())

        let other = samples(seed: 100)
        let rhoSeeds = correlation(z[...], other[...])
        print("GaussianNoise seed 99 vs seed 100 correlation \(rhoSeeds)")
        XCTAssertLessThan(abs(rhoSeeds), 5 / Double(n).squareRoot())
    }

    // MARK: Restore drift

    /// MeZO perturbs and restores in place: x1 = x + εz, x2 = x1 - 2εz, x3 = x2 + εz. Each pass
    /// is one fused multiply-add, so each adds one rounding of at most 2^-24 of its result, and
    /// x3 - x is bounded elementwise by 2^-24 (|x1| + |x2| + |x3|): the perturbation does not
    /// accumulate error beyond the last bits of the values it passes through.
    func testPerturbRestoreDriftIsBoundedByRoundings() {
        let noise = GaussianNoise(seed: 77)
        let count = 300_001, start = 5
        var rng = SplitMix64(seed: 4)
        let x0 = (0..<count).map { _ in rng.nextFloat() * 0.05 }
        let eps: Float = 1e-3
        var x = x0
        var passes: [[Float]] = []
        for scale in [eps, -2 * eps, eps] {
            x.withUnsafeMutableBufferPointer { noise.addScaled(scale, to: $0, startingAt: start, threads: 2) }
            passes.append(x)
        }
        let u = 0x1p-24
        var worst = 0.0, sumSq = 0.0, drifted = 0
        for j in 0..<count {
            let bound = u * (abs(Double(passes[0][j])) + abs(Double(passes[1][j])) + abs(Double(passes[2][j])))
            let drift = abs(Double(x[j]) - Double(x0[j]))
            if drift > bound { XCTFail("element \(j): drift \(drift) > rounding bound \(bound)"); return }
            if drift > 0 { drifted += 1 }
            worst = max(worst, drift)
            sumSq += drift * drift
        }
        print("GaussianNoise restore drift (|x| ≤ 0.05, ε = 1e-3): \(drifted) of \(count) elements moved, "
              + "max |Δ| \(worst), rms \((sumSq / Double(count)).squareRoot())")

        // The two-pass form (x + s z) - s z obeys the same kind of bound.
        var y = x0
        y.withUnsafeMutableBufferPointer { noise.addScaled(0.1, to: $0, startingAt: start, threads: 1) }
        let y1 = y
        y.withUnsafeMutableBufferPointer { noise.addScaled(-0.1, to: $0, startingAt: start, threads: 1) }
        for j in 0..<count {
            let bound = u * (abs(Double(y1[j])) + abs(Double(y[j])))
            XCTAssertLessThanOrEqual(abs(Double(y[j]) - Double(x0[j])), bound)
        }
    }

    // MARK: Throughput (prints numbers; run with -c release)

    /// addScaled over a large buffer with 1 and 2 threads. Default 2^25 elements (128 MB);
    /// set ZOFINETUNE_NOISE_BENCH_ELEMENTS=268435456 for the 1.07 GB arena-sized run. Wall-clock
    /// rates are what training sees; rates per CPU-second are printed too because on a shared
    /// machine they show the kernel's own speed when other processes take the cores.
    func testThroughput() {
        let count = ProcessInfo.processInfo.environment["ZOFINETUNE_NOISE_BENCH_ELEMENTS"].flatMap { Int($0) } ?? (1 << 25)
        let noise = GaussianNoise(seed: 5)
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0)
        func clock(_ id: clockid_t) -> Double {
            var ts = timespec()
            clock_gettime(id, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
        }
        /// (wall seconds, CPU seconds of the whole process) of the fastest of `runs` runs.
        func measure(runs: Int = 3, _ body: () -> Void) -> (wall: Double, cpu: Double) {
            var best = (wall: Double.infinity, cpu: Double.infinity)
            for _ in 0..<runs {
                let w0 = clock(CLOCK_MONOTONIC), c0 = clock(CLOCK_PROCESS_CPUTIME_ID)
                body()
                let w = clock(CLOCK_MONOTONIC) - w0, c = clock(CLOCK_PROCESS_CPUTIME_ID) - c0
                if w < best.wall { best = (w, c) }
            }
            return best
        }
        let start = 3  // unaligned on purpose
        // Scale 0 leaves x unchanged bit for bit (z is finite), so repetitions time the same work.
        noise.addScaled(1, to: buffer, startingAt: start, threads: 2)
        for threads in [1, 2] {
            let t = measure { noise.addScaled(0, to: buffer, startingAt: start, threads: threads) }
            let rate = Double(count) / t.wall
            print(String(format: "GaussianNoise.addScaled %d thread(s), %d elements: %.3f s wall = %.2f G normals/s "
                         + "(%.1f GB/s read+write); %.2f G normals per CPU-second",
                         threads, count, t.wall, rate * 1e-9, rate * 8e-9, Double(count) / t.cpu * 1e-9))
        }
        let small = UnsafeMutableBufferPointer<Float>.allocate(capacity: 8192)  // stays in L1: compute ceiling
        defer { small.deallocate() }
        let t = measure(runs: 5) { for rep in 0..<1000 { noise.fill(small, startingAt: rep * 8192) } }
        print(String(format: "GaussianNoise.fill, 1 thread, L1-resident: %.2f G normals/s wall, %.2f per CPU-second",
                     1000 * 8192 / t.wall * 1e-9, 1000 * 8192 / t.cpu * 1e-9))
        var load = [Double](repeating: 0, count: 3)
        if getloadavg(&load, 3) == 3 { print(String(format: "load average during benchmark: %.2f", load[0])) }
        for j in stride(from: 0, to: count, by: 9973) {
            XCTAssertEqual(buffer[j].bitPattern, noise.value(at: start + j).bitPattern)
        }
    }
}
