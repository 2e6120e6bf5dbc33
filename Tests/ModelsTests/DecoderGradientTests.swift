import Foundation
import Models
import Tensors
import Weights
import TestSupport
import Optimizers
import XCTest

/// The backprop path (`DecoderTrainer`) against PyTorch autograd on the tiny fixtures made by
/// tools/fixtures/make_fixtures.py, and against central finite differences of the inference forward.
///
/// Gradient tolerance, per element: |Δ| ≤ 1e-4 + 1e-3 · |g| (Tests/Fixtures/README.md). Both sides
/// are fp32 and differ only in summation order and exp/tanh implementations; the fixtures' own
/// f32-vs-f64 gap is ≤ 4.2e-6 with |g| up to 2.6, so this leaves > 20× headroom, while any wrong
/// derivative (a missing (1 + w), a RoPE rotated the wrong way, a window off by one, a GELU slope
/// from the exact erf form) moves some element by far more. Loss: 1e-5 absolute.
final class DecoderGradientTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    // MARK: next-token loss vs grads.safetensors

    func testTinyGemma3NextTokenGradients() throws { try compareNextToken("tiny-gemma3") }
    func testTinyLlamaNextTokenGradients() throws { try compareNextToken("tiny-llama") }
    func testTinyQwen2NextTokenGradients() throws { try compareNextToken("tiny-qwen2") }
    func testTinyQwen3NextTokenGradients() throws { try compareNextToken("tiny-qwen3") }
    func testTinyLlama3NextTokenGradients() throws { try compareNextToken("tiny-llama3") }

    // MARK: candidate loss vs candidate_grads.safetensors

    func testTinyGemma3CandidateGradients() throws { try compareCandidates("tiny-gemma3") }
    func testTinyLlamaCandidateGradients() throws { try compareCandidates("tiny-llama") }
    func testTinyQwen2CandidateGradients() throws { try compareCandidates("tiny-qwen2") }
    func testTinyQwen3CandidateGradients() throws { try compareCandidates("tiny-qwen3") }
    func testTinyLlama3CandidateGradients() throws { try compareCandidates("tiny-llama3") }

    func compareNextToken(_ name: String) throws {
        let (model, batch) = try load(name)
        let reference = try SafeTensorsFile(path: Repo.fixture(name) + "/reference.safetensors")
        let expected = try SafeTensorsFile(path: Repo.fixture(name) + "/grads.safetensors")
        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = DecoderModel.makeArena(config: model.config)
        // Garbage in the arena first: without `accumulate` it must be overwritten, not added to.
        for i in 0..<grads.count { grads.storage[i] = 7 }
        let loss = trainer.lossAndGradients(batch: batch, target: .nextToken, gradients: grads)
        let want = try reference.floats("loss")[0]
        print("\(name) next-token: loss \(loss) vs \(want)")
        XCTAssertEqual(loss, want, accuracy: 1e-5, "\(name): loss")
        try compareGradients(name + " next-token", grads, expected, extraNames: [])
    }

    func compareCandidates(_ name: String) throws {
        let (model, batch) = try load(name)
        let expected = try SafeTensorsFile(path: Repo.fixture(name) + "/candidate_grads.safetensors")
        let ids = try expected.floats("candidate_ids").map { Int32($0) }
        let labels = try expected.floats("labels").map { Int($0) }
        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = DecoderModel.makeArena(config: model.config)
        let loss = trainer.lossAndGradients(batch: batch, target: .candidates(ids: ids, labels: labels), gradients: grads)
        let want = try expected.floats("loss")[0]
        print("\(name) candidates \(ids) labels \(labels): loss \(loss) vs \(want)")
        XCTAssertEqual(loss, want, accuracy: 1e-5, "\(name): candidate loss")
        try compareGradients(name + " candidates", grads, expected, extraNames: ["candidate_ids", "labels", "loss"])

        // Accumulation: a second call with `accumulate` doubles every gradient.
        let once = Array(UnsafeBufferPointer(start: grads.storage, count: grads.count))
        trainer.lossAndGradients(batch: batch, target: .candidates(ids: ids, labels: labels), gradients: grads,
                                 accumulate: true)
        var worst: Float = 0
        for i in 0..<grads.count { worst = max(worst, abs(grads.storage[i] - 2 * once[i])) }
        XCTAssertLessThanOrEqual(worst, 1e-6, "\(name): accumulate must add")
    }

    /// Every slot against the file; the file must hold exactly the model's tensors (+ `extraNames`).
    func compareGradients(_ label: String, _ grads: ParameterArena, _ file: SafeTensorsFile,
                          extraNames: Set<String>) throws {
        XCTAssertEqual(Set(file.tensorNames), Set(grads.slots.map(\.name)).union(extraNames), "\(label): tensor names")
        var worstAbs: Float = 0, worstExcess: Float = -.infinity, worstName = ""
        var largest: Float = 0
        for slot in grads.slots {
            let want = try file.floats(slot.name)
            XCTAssertEqual(try file.info(slot.name).shape, slot.shape, slot.name)
            let got = grads.buffer(slot)
            var failures = 0
            for i in 0..<slot.count {
                let d = abs(got[i] - want[i])
                largest = max(largest, abs(want[i]))
                worstAbs = max(worstAbs, d)
                let excess = d - (1e-4 + 1e-3 * abs(want[i]))
                if excess > worstExcess { worstExcess = excess; worstName = slot.name }
                if excess > 0 {
                    failures += 1
                    if failures <= 3 { XCTFail("\(label) \(slot.name)[\(i)]: \(got[i]) vs \(want[i])") }
                }
            }
        }
        print("\(label): max |Δ grad| = \(worstAbs) (largest |g| \(largest)); closest to the bound: \(worstName)")
    }

    // MARK: candidate loss vs central finite differences of the inference forward

    /// d loss / d θ_i by finite differences, for one coordinate in each of the model's 54 tensors
    /// (plus embedding entries in the rows of both candidates and of input tokens: every norm, every
    /// projection of every layer). L comes from the *inference* forward (`forward` with last-token
    /// compaction + `candidateLogits`), an independent implementation of the same function, with
    /// the K-way softmax in Double.
    ///
    /// Central differences with h = 1e-2 and h/2, Richardson-extrapolated ((4·D(h/2) − D(h)) / 3) so
    /// the truncation error is O(h⁴) instead of h²·|L‴|/6 (which at h = 1e-2 alone reached 1e-3 on
    /// embedding entries, scaled by √C). What is left is fp32 noise in L (~1e-7) amplified by
    /// ~1/h: a few 1e-5 (measured max 3e-5). Tolerance |fd − g| ≤ 2e-4 + 1e-2·|g|, ~8× that;
    /// a wrong derivative is off by O(|g|).
    func testTinyGemma3CandidateGradientMatchesFiniteDifferences() throws {
        let (model, batch) = try load("tiny-gemma3")
        let ids: [Int32] = [47, 3], labels = [1, 0, 1]
        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = DecoderModel.makeArena(config: model.config)
        trainer.lossAndGradients(batch: batch, target: .candidates(ids: ids, labels: labels), gradients: grads)

        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        func loss() -> Double {
            let hidden = model.forward(batch, workspace: ws, outputs: .lastTokenOfEachSequence)
            let z = model.candidateLogits(hidden: hidden, rows: batch.sequenceCount, candidates: ids)
            var total = 0.0
            for s in 0..<batch.sequenceCount {
                let row = (0..<ids.count).map { Double(z[s * ids.count + $0]) }
                let m = row.max()!
                total += Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +)) + m - row[labels[s]]
            }
            return total / Double(batch.sequenceCount)
        }

        var rng = SplitMix64(seed: 42)
        let C = model.config.hiddenSize
        let embeddingRows = ids.map(Int.init) + batch.tokens.map(Int.init)
        let h: Float = 1e-2
        var checked = 0, nonzero = 0, worst: Double = 0, worstAbs: Double = 0
        for slot in model.arena.slots {
            let coordinates: [Int]
            if slot.name == "model.embed_tokens.weight" {
                // the candidate rows (output head only / output + input) and a few input-token rows
                coordinates = [embeddingRows[0], embeddingRows[1], embeddingRows[2], embeddingRows[5], embeddingRows[9]]
                    .map { $0 * C + Int(rng.next() % UInt64(C)) }
            } else {
                coordinates = [Int(rng.next() % UInt64(slot.count))]
            }
            for i in coordinates {
                let p = model.arena.pointer(slot) + i
                let original = p.pointee
                func central(_ step: Float) -> Double {
                    p.pointee = original + step
                    let plus = loss()
                    p.pointee = original - step
                    let minus = loss()
                    p.pointee = original
                    // the steps actually taken, after fp32 rounding of θ ± step
                    return (plus - minus) / (Double(original + step) - Double(original - step))
                }
                // Richardson: (4·D(h/2) − D(h)) / 3 cancels the h² term of the central difference.
                let fd = (4 * central(h / 2) - central(h)) / 3
                let g = Double(grads.pointer(slot)[i])
                let bound = 2e-4 + 1e-2 * abs(g)
                worst = max(worst, abs(fd - g) / bound)
                worstAbs = max(worstAbs, abs(fd - g))
                XCTAssertLessThanOrEqual(abs(fd - g), bound, "\(slot.name)[\(i)]: finite difference \(fd) vs backprop \(g)")
                checked += 1
                if abs(g) > 1e-3 { nonzero += 1 }
            }
        }
        print("finite differences: \(checked) coordinates, \(nonzero) with |g| > 1e-3, max |fd − g| = \(worstAbs), "
              + "worst |fd − g| / bound = \(worst)")
        XCTAssertGreaterThan(nonzero, checked / 2, "most checked coordinates should carry a real gradient")
    }

    // MARK: helpers

    func load(_ name: String) throws -> (DecoderModel, PackedBatch) {
        let fixture = try TinyFixture(name)
        return (fixture.model, fixture.batch)
    }
}
