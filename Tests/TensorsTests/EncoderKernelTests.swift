import Foundation
import Tensors
import Optimizers
import TestSupport
import XCTest

/// The encoder's kernels: LayerNorm, exact GELU, mean pooling + L2 normalisation, bidirectional
/// attention. Forward against direct Double formulas; backward against finite differences
/// (TestSupport's FiniteDifferences, the method and tolerance of BackwardKernelTests).
final class EncoderKernelTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    var rng = SplitMix64(seed: 2025)

    func randoms(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.normal() * scale } }

    func checkFiniteDifferences(_ label: String, params: inout [Float], gradient: [Float], f: ([Float]) -> Double) {
        FiniteDifferences.check(label, params: &params, gradient: gradient, f: f)
    }

    func inner(_ u: [Float], _ y: [Float]) -> Double { FiniteDifferences.inner(u, y) }

    func testGELUMatchesErfFormula() {
        var worst = 0.0
        for i in -800...800 {
            let x = Float(i) / 100
            var out: Float = 0
            var input = x
            geluForward(&out, &input, count: 1)
            let exact = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            worst = max(worst, abs(Double(out) - exact))
        }
        XCTAssertLessThan(worst, 2e-6, "A&S 7.1.26 erf is good to 1.5e-7; GELU multiplies by x/2 (≤ 4)")
    }

    func testLayerNormForwardAndBackward() {
        let rows = 3, dim = 21   // a vector and a tail
        var x = randoms(rows * dim, scale: 2).map { $0 + 3 }   // large mean: the two-pass variance matters
        let w = randoms(dim), b = randoms(dim), u = randoms(rows * dim)
        func forward(_ x: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: rows * dim)
            layerNormForward(&y, x, w, b, rows: rows, dim: dim, eps: 1e-12)
            return y
        }
        let y = forward(x)
        for r in 0..<rows {
            let row = x[(r * dim)..<((r + 1) * dim)].map(Double.init)
            let mean = row.reduce(0, +) / Double(dim)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)
            for i in 0..<dim {
                let expected = (row[i] - mean) / (variance + 1e-12).squareRoot() * Double(w[i]) + Double(b[i])
                XCTAssertEqual(Double(y[r * dim + i]), expected, accuracy: 1e-5)
            }
        }
        var dx = [Float](repeating: 0, count: rows * dim)
        var dw = [Float](repeating: 0, count: dim), db = [Float](repeating: 0, count: dim)
        layerNormBackward(dx: &dx, dw: &dw, db: &db, dy: u, x: x, w: w, rows: rows, dim: dim, eps: 1e-12)
        checkFiniteDifferences("layerNorm dx", params: &x, gradient: dx) { self.inner(u, forward($0)) }
        var wv = w
        checkFiniteDifferences("layerNorm dw", params: &wv, gradient: dw) { wv2 in
            var y = [Float](repeating: 0, count: rows * dim)
            layerNormForward(&y, x, wv2, b, rows: rows, dim: dim, eps: 1e-12)
            return self.inner(u, y)
        }
        let expectedDB = (0..<dim).map { i in (0..<rows).reduce(Float(0)) { $0 + u[$1 * dim + i] } }
        for (a, e) in zip(db, expectedDB) { XCTAssertEqual(a, e, accuracy: 1e-5) }
    }

    func testGELUBackward() {
        var x = randoms(37, scale: 2)
        let u = randoms(37)
        func forward(_ x: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: x.count)
            geluForward(&y, x, count: x.count)
            return y
        }
        var dx = [Float](repeating: 0, count: 37)
        geluBackward(dx: &dx, dy: u, x: x, count: 37)
        checkFiniteDifferences("gelu", params: &x, gradient: dx) { self.inner(u, forward($0)) }
    }

    func testMeanPoolAndNormalizeBackward() {
        let starts = [0, 4, 5], lengths = [4, 1, 3], dim = 18
        var x = randoms(8 * dim)
        let u = randoms(3 * dim)
        func forward(_ x: [Float]) -> [Float] {
            var pooled = [Float](repeating: 0, count: 3 * dim)
            meanPoolForward(&pooled, x, starts: starts, lengths: lengths, dim: dim)
            l2NormalizeForward(&pooled, pooled, rows: 3, dim: dim)
            return pooled
        }
        var pooled = [Float](repeating: 0, count: 3 * dim)
        meanPoolForward(&pooled, x, starts: starts, lengths: lengths, dim: dim)
        var dPooled = [Float](repeating: 0, count: 3 * dim), dx = [Float](repeating: 0, count: 8 * dim)
        l2NormalizeBackward(dx: &dPooled, du: u, x: pooled, rows: 3, dim: dim)
        meanPoolBackward(dx: &dx, dPooled: dPooled, starts: starts, lengths: lengths, dim: dim)
        checkFiniteDifferences("meanPool+l2", params: &x, gradient: dx) { self.inner(u, forward($0)) }
    }

    /// Bidirectional attention over packed spans equals padded attention with a mask: each query
    /// sees every key of its own sequence, later ones included, and nothing else.
    func testBidirectionalAttentionSeesWholeSequenceOnly() {
        let H = 2, D = 8, lengths = [3, 2]
        let rows = 5, width = H * D
        let q = randoms(rows * width), k = randoms(rows * width), v = randoms(rows * width)
        let spans = [AttentionSpan(queryRow: 0, queryCount: 3, firstQueryPosition: 0, keyRow: 0, keyCount: 3),
                     AttentionSpan(queryRow: 3, queryCount: 2, firstQueryPosition: 0, keyRow: 3, keyCount: 2)]
        let g = AttentionGeometry(queryHeads: H, kvHeads: H, headDim: D, scale: 0.35, causal: false)
        var out = [Float](repeating: 0, count: rows * width)
        attentionForward(&out, q: q, k: k, v: v, spans: spans, geometry: g)
        var start = 0
        for n in lengths {
            for i in start..<(start + n) {
                for h in 0..<H {
                    let scores = (start..<(start + n)).map { j in
                        (0..<D).reduce(0.0) { $0 + Double(q[i * width + h * D + $1]) * Double(k[j * width + h * D + $1]) } * 0.35
                    }
                    let m = scores.max()!
                    let e = scores.map { Foundation.exp($0 - m) }
                    let total = e.reduce(0, +)
                    for c in 0..<D {
                        let expected = (0..<n).reduce(0.0) { $0 + e[$1] / total * Double(v[(start + $1) * width + h * D + c]) }
                        XCTAssertEqual(Double(out[i * width + h * D + c]), expected, accuracy: 1e-5)
                    }
                }
            }
            start += n
        }
    }

    /// The key-vectorised encoder kernel computes what the general kernel does, for sequences
    /// shorter than, equal to and longer than one 16-lane chunk, with grouped heads.
    func testBidirectionalKernelMatchesGeneralKernel() {
        let H = 4, KV = 2, D = 24, lengths = [1, 16, 37, 5]
        let rows = lengths.reduce(0, +)
        var spans: [AttentionSpan] = [], start = 0
        for n in lengths {
            spans.append(AttentionSpan(queryRow: start, queryCount: n, firstQueryPosition: 0, keyRow: start, keyCount: n))
            start += n
        }
        let q = randoms(rows * H * D), k = randoms(rows * KV * D), v = randoms(rows * KV * D)
        let g = AttentionGeometry(queryHeads: H, kvHeads: KV, headDim: D, scale: 0.3, causal: false)
        var general = [Float](repeating: 0, count: rows * H * D), fast = general
        attentionForward(&general, q: q, k: k, v: v, spans: spans, geometry: g)
        bidirectionalAttentionForward(&fast, q: q, k: k, v: v, spans: spans, geometry: g)
        for (a, b) in zip(general, fast) { XCTAssertEqual(a, b, accuracy: 2e-6) }
    }
}
