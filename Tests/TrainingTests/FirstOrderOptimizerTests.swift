import Foundation
import Models
import Optimizers
import Tensors
import TestSupport
import Weights
import XCTest

/// SGD and AdamW against PyTorch (tools/fixtures/make_fixtures.py, optimizer_steps.safetensors): three steps
/// of backprop on the candidate loss of the tiny fixture's batch, with clip_grad_norm_(0.5) and
/// weight decay on matrices and embeddings only, must land on PyTorch's parameters.
///
/// SGD is compared element by element (|Δ| ≤ 1e-6 + 1e-5·|θ|). AdamW divides by √v, so a
/// coordinate whose gradient is fp32 noise (e.g. a k-projection bias, whose exact gradient is 0:
/// softmax ignores a shift shared by every key) moves by about ±lr in both implementations, in
/// directions the noise decides. So AdamW is compared per tensor, on the update θ₃ − θ₀:
/// ‖Δours − Δtorch‖₂ ≤ 1e-2·‖Δtorch‖₂ + 1e-6, where such coordinates weigh little.
final class FirstOrderOptimizerTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    /// Runs `make`'s optimizer for three steps; returns the worst elementwise |Δθ|, the worst
    /// per-tensor relative L2 error of the update, and the gradient norms (ours, PyTorch's).
    func trajectory(_ name: String, kind: String, lr: Float, make: (ParameterArena) -> FirstOrderOptimizer)
        throws -> (worst: Float, worstUpdate: Double, norms: [Double], expectedNorms: [Float]) {
        let fixture = try TinyFixture(name)
        let model = fixture.model
        let dir = Repo.fixture(name)
        let cand = try SafeTensorsFile(path: dir + "/candidate_grads.safetensors")
        let ids = try cand.floats("candidate_ids").map { Int32($0) }
        let labels = try cand.floats("labels").map { Int($0) }
        let expected = try SafeTensorsFile(path: dir + "/optimizer_steps.safetensors")
        let start = Array(UnsafeBufferPointer(start: model.arena.storage, count: model.arena.count))

        let trainer = DecoderTrainer(model: model, maxTokens: fixture.batch.tokenCount)
        let gradients = model.arena.sameLayout(tag: .gradients)
        let optimizer = make(model.arena)
        var norms: [Double] = []
        for _ in 0..<3 {
            trainer.lossAndGradients(batch: fixture.batch, target: .candidates(ids: ids, labels: labels), gradients: gradients)
            norms.append(GradientClipping.clip(gradients, maxNorm: 0.5))
            optimizer.step(gradients: gradients, lr: lr)
        }
        var worst: Float = 0, worstUpdate = 0.0
        for slot in model.arena.slots {
            let want = try expected.floats(kind + "." + slot.name)
            let got = model.arena.buffer(slot)
            var error = 0.0, size = 0.0
            for i in 0..<slot.count {
                worst = max(worst, abs(got[i] - want[i]))
                error += pow(Double(got[i]) - Double(want[i]), 2)
                size += pow(Double(want[i]) - Double(start[slot.offset + i]), 2)
            }
            let relative = error.squareRoot() / max(size.squareRoot(), 1e-4)
            worstUpdate = max(worstUpdate, relative)
            XCTAssertLessThanOrEqual(error.squareRoot(), 1e-2 * size.squareRoot() + 1e-6,
                                     "\(name) \(kind) \(slot.name): update differs from PyTorch's")
            if kind == "sgd" {
                for i in 0..<slot.count where abs(got[i] - want[i]) > 1e-6 + 1e-5 * abs(want[i]) {
                    XCTFail("\(name) sgd \(slot.name)[\(i)]: \(got[i]) vs PyTorch \(want[i])")
                    break
                }
            }
        }
        return (worst, worstUpdate, norms, try expected.floats(kind + "_grad_norms"))
    }

    func check(_ name: String) throws {
        let sgd = try trajectory(name, kind: "sgd", lr: 0.05) { SGD(arena: $0, weightDecay: 0.01) }
        let adamw = try trajectory(name, kind: "adamw", lr: 0.01) {
            AdamW(arena: $0, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1)
        }
        for (got, want) in zip(sgd.norms + adamw.norms, sgd.expectedNorms + adamw.expectedNorms) {
            XCTAssertEqual(got, Double(want), accuracy: 1e-4 * Double(want), "\(name): gradient norm")
        }
        print("\(name): after 3 steps, SGD worst |Δθ| \(sgd.worst) (update rel. L2 \(sgd.worstUpdate)); "
              + "AdamW worst |Δθ| \(adamw.worst), worst per-tensor update rel. L2 \(adamw.worstUpdate); "
              + "grad norms \(sgd.norms) / \(adamw.norms)")
    }

    func testTinyGemma3MatchesPyTorch() throws { try check("tiny-gemma3") }
    func testTinyQwen2WithBiasesMatchesPyTorch() throws { try check("tiny-qwen2") }

    /// SGD's default is exactly θ −= lr·∇L: no momentum, no decay, no clipping.
    func testDefaultSGDIsThePlainUpdate() throws {
        let model = try TinyFixture("tiny-llama").model
        let gradients = model.arena.sameLayout(tag: .gradients)
        var rng = SplitMix64(seed: 3)
        for i in 0..<gradients.count { gradients.storage[i] = Float(Int(rng.next() % 2001) - 1000) / 1000 }
        let before = (0..<model.arena.count).map { model.arena.storage[$0] }
        SGD(arena: model.arena).step(gradients: gradients, lr: 0.25)
        for slot in model.arena.slots {
            for i in slot.offset..<(slot.offset + slot.count) {
                XCTAssertEqual(model.arena.storage[i], before[i] - 0.25 * gradients.storage[i])
            }
        }
    }
}
