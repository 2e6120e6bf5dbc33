import Optimizers
import Weights
import XCTest

/// Rademacher z: the bulk path equals the scalar definition at every alignment, the values are
/// ±1 with the statistics of fair coins, and a noise pass over element ranges touches exactly
/// those elements with the z a whole-buffer pass gives them, whatever the thread count.
final class RademacherNoiseTests: XCTestCase {
    /// The definition, written out from Philox alone: bit (i % 128) of block i / 128, set → −1.
    func testValueIsTheDefinition() {
        let philox = Philox4x32_10(key: 0xDEAD_BEEF_0123_4567)
        let noise = RademacherNoise(seed: 0xDEAD_BEEF_0123_4567)
        for i in [0, 1, 31, 32, 33, 127, 128, 1000, 123_456_789] {
            let word = philox.block(counter: UInt64(i / 128))[(i % 128) / 32]
            let expected: Float = (word >> UInt32(i % 32)) & 1 == 1 ? -1 : 1
            XCTAssertEqual(noise.value(at: i), expected, "element \(i)")
        }
    }

    func testFillMatchesValueAtEveryAlignment() {
        let noise = RademacherNoise(seed: 7)
        for start in [0, 1, 5, 127, 128, 129, 1000, 65_535] {
            for count in [1, 3, 127, 128, 129, 300, 1024] {
                var out = [Float](repeating: 0, count: count)
                out.withUnsafeMutableBufferPointer { noise.fill($0, startingAt: start) }
                for j in 0..<count where out[j] != noise.value(at: start + j) {
                    XCTFail("fill(start \(start), count \(count))[\(j)] = \(out[j]), value = \(noise.value(at: start + j))")
                    return
                }
            }
        }
    }

    /// Over 2^22 values: the mean is within 5σ of 0 (σ = 2^-11), every value is ±1, and
    /// neighbouring values (same word, adjacent words, adjacent blocks) are uncorrelated within 5σ.
    func testStatistics() {
        let n = 1 << 22
        var z = [Float](repeating: 0, count: n)
        z.withUnsafeMutableBufferPointer { RademacherNoise(seed: 3).fill($0, startingAt: 0) }
        XCTAssertTrue(z.allSatisfy { $0 == 1 || $0 == -1 })
        let sigma = 1 / Double(n).squareRoot()
        let mean = z.reduce(0.0) { $0 + Double($1) } / Double(n)
        XCTAssertLessThan(abs(mean), 5 * sigma, "mean \(mean)")
        for lag in [1, 32, 128] {
            var c = 0.0
            for i in 0..<(n - lag) { c += Double(z[i] * z[i + lag]) }
            c /= Double(n - lag)
            XCTAssertLessThan(abs(c), 5 * sigma, "lag \(lag) correlation \(c)")
        }
        print("Rademacher over 2^22: mean \(mean)")
    }

    /// A pass over ranges changes exactly the elements in them, each as the whole-buffer pass does,
    /// for both distributions and 1 or 2 threads; ranges cross chunk boundaries on purpose.
    func testRangesPassTouchesOnlyItsRangesWithTheWholePassValues() {
        let count = 3 * GaussianNoise.chunkElements + 777
        let base = (0..<count).map { Float($0 % 97) * 0.01 - 0.4 }
        let ranges = [5..<700, 65_000..<66_000, 70_000..<70_640, (count - 1000)..<count]
        for perturbation in Perturbation.allCases {
            let pass = NoisePass(seed: 99, ops: [.add(1e-3), .add(-2e-3)], perturbation: perturbation)
            var whole = base
            whole.withUnsafeMutableBufferPointer { pass.apply(to: $0.baseAddress!, count: count, decayed: [], threads: 2) }
            // Each element: the ops' fused multiply-adds in order with the scalar z (Rademacher's
            // pass adds ±scale without a z buffer; it must be the same arithmetic).
            let source = perturbation.source(seed: 99)
            for i in stride(from: 0, to: count, by: 997) {
                let z = source.value(at: i)
                let expected = base[i].addingProduct(1e-3, z).addingProduct(-2e-3, z)
                XCTAssertEqual(whole[i].bitPattern, expected.bitPattern, "\(perturbation): element \(i)")
            }
            for threads in [1, 2] {
                var partial = base
                partial.withUnsafeMutableBufferPointer {
                    pass.apply(to: $0.baseAddress!, ranges: ranges, decayed: [], threads: threads)
                }
                for i in 0..<count {
                    let inside = ranges.contains { $0.contains(i) }
                    let expected = inside ? whole[i] : base[i]
                    if partial[i].bitPattern != expected.bitPattern {
                        XCTFail("\(perturbation), \(threads) threads: element \(i) (inside \(inside)) = \(partial[i]), expected \(expected)")
                        break
                    }
                }
            }
        }
    }

    func testPerturbedRegionKeepsEverythingButTheUnreadRows() {
        let arena = ParameterArena(specs: [ParameterSpec("norm", [16], .norm), ParameterSpec("table", [10, 32], .embedding),
                                           ParameterSpec("w", [4, 32], .matrix)])
        let table = PerturbedRegion.tokenEmbedding(of: arena)!
        XCTAssertEqual(table.name, "table")
        let ranges = PerturbedRegion.ranges(count: arena.count, tokenEmbedding: table, rows: [0, 3, 4, 9])
        // Row 0 joins the norm before it, rows 3 and 4 merge, row 9 joins the matrix after it.
        XCTAssertEqual(ranges, [0..<(16 + 32), (16 + 3 * 32)..<(16 + 5 * 32), (16 + 9 * 32)..<arena.count])
        XCTAssertEqual(PerturbedRegion.ranges(count: arena.count, tokenEmbedding: table, rows: nil), [0..<arena.count])
    }
}
