import Foundation
import Tensors
import Optimizers
import TestSupport
import XCTest

/// Each backward kernel against finite differences of its forward twin, on small random inputs,
/// including the branches the model fixtures do not reach: attention soft-capping, a window that
/// cuts inside short spans, final-logit soft-capping, rows without a target, vector tails
/// (sizes not a multiple of 16), accumulation and aliasing.
///
/// Method: for a random cotangent u, f(θ) = ⟨u, forward(θ)⟩ in Double; its gradient is the kernel's
/// output. Central differences at h and h/2 (h = 2e-2), Richardson-extrapolated, leave O(h⁴)
/// truncation plus the fp32 rounding of the outputs that θ_i moves, divided by ~h (up to ~300
/// outputs for a key in attention). Tolerance |fd − g| ≤ 6e-4 + 3e-3·|g|, 3× the measured worst
/// (2.0e-4 absolute, attention dK); a wrong derivative (sign, missing term, wrong mask) is off by
/// O(|g|) with |g| ~ 0.1–1 here.
final class BackwardKernelTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    var rng = SplitMix64(seed: 2024)

    func randoms(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.normal() * scale } }

    /// Checks `gradient` of f at every coordinate of `params` (TestSupport's FiniteDifferences).
    func checkFiniteDifferences(_ label: String, params: inout [Float], gradient: [Float],
                                f: ([Float]) -> Double) {
        FiniteDifferences.check(label, params: &params, gradient: gradient, f: f)
    }

    func inner(_ u: [Float], _ y: [Float]) -> Double { zip(u, y).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    // MARK: attention

    func testAttentionBackwardWithWindowSoftcapAndGroups() {
        let H = 4, KV = 2, D = 20   // D = 20: one vector and a tail
        let lengths = [7, 5, 1]
        let rows = lengths.reduce(0, +)
        var spans: [AttentionSpan] = [], start = 0
        for n in lengths {
            spans.append(AttentionSpan(queryRow: start, queryCount: n, firstQueryPosition: 0, keyRow: start, keyCount: n))
            start += n
        }
        for (window, cap) in [(3, Float(2.5)), (Int?.none, Float?.none)] as [(Int?, Float?)] {
            let g = AttentionGeometry(queryHeads: H, kvHeads: KV, headDim: D, scale: 0.35, window: window, softcap: cap)
            var q = randoms(rows * H * D), k = randoms(rows * KV * D), v = randoms(rows * KV * D)
            let u = randoms(rows * H * D)
            func forward(_ q: [Float], _ k: [Float], _ v: [Float]) -> Double {
                var out = [Float](repeating: 0, count: rows * H * D)
                attentionForward(&out, q: q, k: k, v: v, spans: spans, geometry: g)
                return inner(u, out)
            }
            var dq = [Float](repeating: 9, count: q.count), dk = [Float](repeating: 9, count: k.count)
            var dv = [Float](repeating: 9, count: v.count)   // garbage: the kernel overwrites
            attentionBackward(dQ: &dq, dK: &dk, dV: &dv, dOut: u, q: q, k: k, v: v, spans: spans, geometry: g)
            let tag = "attention window \(String(describing: window)) cap \(String(describing: cap))"
            checkFiniteDifferences(tag + " dQ", params: &q, gradient: dq) { forward($0, k, v) }
            checkFiniteDifferences(tag + " dK", params: &k, gradient: dk) { forward(q, $0, v) }
            checkFiniteDifferences(tag + " dV", params: &v, gradient: dv) { forward(q, k, $0) }
        }
    }

    // MARK: cross-entropy

    func testCrossEntropyBackwardWithSoftcapAndIgnoredRows() {
        let V = 37, targets: [Int32] = [2, -1, 36, 0]
        let rows = targets.count
        for cap in [Float?.none, 3.0] {
            var logits = randoms(rows * V, scale: 2)
            func loss(_ l: [Float]) -> Double {
                var total = 0.0
                for r in 0..<rows where targets[r] >= 0 {
                    let z = (0..<V).map { j -> Double in
                        let x = Double(l[r * V + j])
                        return cap.map { Double($0) * Foundation.tanh(x / Double($0)) } ?? x
                    }
                    let m = z.max()!
                    total += Foundation.log(z.map { Foundation.exp($0 - m) }.reduce(0, +)) + m - z[Int(targets[r])]
                }
                return total
            }
            var grad = logits
            let weight: Float = 0.5
            let sum = crossEntropyBackward(&grad, targets: targets, rows: rows, classes: V, weight: weight, softcap: cap)
            XCTAssertEqual(sum, loss(logits), accuracy: 1e-5)
            XCTAssertEqual(grad[V..<(2 * V)].map { abs($0) }.max(), 0, "a row without target gets no gradient")
            checkFiniteDifferences("cross-entropy cap \(String(describing: cap))", params: &logits,
                                   gradient: grad.map { $0 / weight }) { loss($0) }
        }
    }

    /// Weighted reads of token log-probabilities (several per row, none on one row), with and
    /// without the final soft-cap: the normalisers equal log Σ exp in Double and the gradient equals
    /// finite differences of Σ c · log softmax(z)[t].
    func testTokenLogProbBackwardWithSoftcapAndSeveralReadsPerRow() {
        let V = 37
        let reads: [[(token: Int32, weight: Float)]] = [[(2, 0.7), (5, -1.3), (2, 0.2)], [], [(36, -0.5)], [(0, 1.1), (9, 0.4)]]
        let rows = reads.count
        for cap in [Float?.none, 3.0] {
            var logits = randoms(rows * V, scale: 2)
            func capped(_ l: [Float], _ r: Int) -> [Double] {
                (0..<V).map { j in
                    let x = Double(l[r * V + j])
                    return cap.map { Double($0) * Foundation.tanh(x / Double($0)) } ?? x
                }
            }
            func loss(_ l: [Float]) -> Double {
                var total = 0.0
                for r in 0..<rows {
                    let z = capped(l, r), m = z.max()!
                    let lse = Foundation.log(z.map { Foundation.exp($0 - m) }.reduce(0, +)) + m
                    for read in reads[r] { total += Double(read.weight) * (z[Int(read.token)] - lse) }
                }
                return total
            }
            var grad = logits
            let norms = cappedLogNormalisers(&grad, rows: rows, classes: V, softcap: cap)
            for r in 0..<rows {
                let z = capped(logits, r), m = z.max()!
                XCTAssertEqual(norms[r], Foundation.log(z.map { Foundation.exp($0 - m) }.reduce(0, +)) + m, accuracy: 1e-5)
            }
            tokenLogProbBackward(&grad, rows: rows, classes: V, logNormalisers: norms, reads: reads, softcap: cap)
            XCTAssertEqual(grad[V..<(2 * V)].map { abs($0) }.max(), 0, "a row without reads gets no gradient")
            checkFiniteDifferences("token log-prob reads cap \(String(describing: cap))", params: &logits, gradient: grad) { loss($0) }
        }
    }

    // MARK: RMSNorm

    func testRMSNormBackwardAccumulatesAndAliases() {
        let rows = 5, dim = 20
        for offset in [Float(0), 1] {
            var x = randoms(rows * dim), w = randoms(dim, scale: 0.5)
            let u = randoms(rows * dim)
            func forward(_ x: [Float], _ w: [Float]) -> Double {
                var y = [Float](repeating: 0, count: rows * dim)
                rmsNormForward(&y, x, w, rows: rows, dim: dim, eps: 1e-6, offset: offset)
                return inner(u, y)
            }
            let prior = randoms(rows * dim)
            var dx = prior, dw = [Float](repeating: 0.25, count: dim)
            rmsNormBackward(dx: &dx, dw: &dw, dy: u, x: x, w: w, rows: rows, dim: dim, eps: 1e-6, offset: offset,
                            accumulate: true)
            // In place (dx aliasing dy), without accumulation: the same input gradient.
            var inPlace = u, dw2 = [Float](repeating: 0, count: dim)
            inPlace.withUnsafeMutableBufferPointer { p in
                rmsNormBackward(dx: p.baseAddress!, dw: &dw2, dy: p.baseAddress!, x: x, w: w, rows: rows, dim: dim,
                                eps: 1e-6, offset: offset)
            }
            for i in 0..<(rows * dim) { XCTAssertEqual(inPlace[i] + prior[i], dx[i], accuracy: 1e-5) }
            checkFiniteDifferences("rmsnorm offset \(offset) dx", params: &x,
                                   gradient: zip(dx, prior).map { $0 - $1 }) { forward($0, w) }
            checkFiniteDifferences("rmsnorm offset \(offset) dw", params: &w, gradient: dw.map { $0 - 0.25 }) { forward(x, $0) }
        }
    }

    // MARK: gated activations

    func testGatedActivationBackward() {
        let n = 37
        for act in [GateActivation.geluTanh, .silu] {
            var gate = randoms(n, scale: 2), up = randoms(n)
            let u = randoms(n)
            func forward(_ g: [Float], _ p: [Float]) -> Double {
                var out = [Float](repeating: 0, count: n)
                gatedActivationForward(&out, gate: g, up: p, count: n, activation: act)
                return inner(u, out)
            }
            var dGate = u, dUp = [Float](repeating: 0, count: n)   // dGate aliases dOut's values
            dGate.withUnsafeMutableBufferPointer { d in
                gatedActivationBackward(dGate: d.baseAddress!, dUp: &dUp, dOut: d.baseAddress!, gate: gate, up: up,
                                        count: n, activation: act)
            }
            checkFiniteDifferences("\(act) dGate", params: &gate, gradient: dGate) { forward($0, up) }
            checkFiniteDifferences("\(act) dUp", params: &up, gradient: dUp) { forward(gate, $0) }
        }
    }

    // MARK: RoPE, linear, embedding

    func testRoPEInverseIsTheTranspose() {
        let D = 40, heads = 3
        let table = RotaryTable(headDim: D, base: 10_000, maxPositions: 64)
        let x = randoms(heads * D), y = randoms(heads * D)
        var rx = x, ry = y
        table.apply(&rx, heads: heads, position: 37)
        table.applyInverse(&ry, heads: heads, position: 37)
        XCTAssertEqual(inner(rx, y), inner(x, ry), accuracy: 1e-4, "⟨R x, y⟩ = ⟨x, Rᵀ y⟩")
        table.applyInverse(&rx, heads: heads, position: 37)
        for i in 0..<x.count { XCTAssertEqual(rx[i], x[i], accuracy: 1e-5) }
    }

    func testLinearBackwardWithBias() {
        let rows = 6, out = 19, inn = 21
        var x = randoms(rows * inn), w = randoms(out * inn), b = randoms(out)
        let u = randoms(rows * out)
        func forward(_ x: [Float], _ w: [Float], _ b: [Float]) -> Double {
            var y = [Float](repeating: 0, count: rows * out)
            BLAS.linear(x, w, &y, m: rows, n: out, k: inn)
            for r in 0..<rows { for o in 0..<out { y[r * out + o] += b[o] } }
            return inner(u, y)
        }
        var dx = [Float](repeating: 3, count: x.count), dw = [Float](repeating: 0, count: w.count)
        var db = [Float](repeating: 0, count: out)
        linearBackward(dx: &dx, dw: &dw, db: &db, dy: u, x: x, w: w, rows: rows, out: out, in: inn)
        checkFiniteDifferences("linear dx", params: &x, gradient: dx) { forward($0, w, b) }
        checkFiniteDifferences("linear dw", params: &w, gradient: dw) { forward(x, $0, b) }
        checkFiniteDifferences("linear db", params: &b, gradient: db) { forward(x, w, $0) }
    }

    func testEmbeddingBackwardScatterAddsRepeatedTokens() {
        let dim = 18, tokens: [Int32] = [3, 1, 3, 0, 3]
        let dx = randoms(tokens.count * dim)
        var dE = [Float](repeating: 1, count: 4 * dim)
        embeddingBackward(dEmbedding: &dE, dx: dx, tokens: tokens, dim: dim, scale: 2)
        for i in 0..<dim {
            XCTAssertEqual(dE[3 * dim + i], 1 + 2 * (dx[i] + dx[2 * dim + i] + dx[4 * dim + i]), accuracy: 1e-5)
            XCTAssertEqual(dE[1 * dim + i], 1 + 2 * dx[dim + i], accuracy: 1e-6)
            XCTAssertEqual(dE[0 * dim + i], 1 + 2 * dx[3 * dim + i], accuracy: 1e-6)
            XCTAssertEqual(dE[2 * dim + i], 1)
        }
    }
}
