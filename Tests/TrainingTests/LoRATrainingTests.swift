import Foundation
import Models
import Optimizers
import Tensors
import TestSupport
import Training
import Weights
import XCTest

/// Training LoRA adapters on the tiny Gemma fixture: every optimizer works over the adapters'
/// arena alone (the base arena's bits never change), a zeroth-order step's projected gradient
/// agrees with the adapters' backprop gradient, and a peft folder written by `LoRAAdapterFolder`
/// reads back onto its base and is refused by another.
final class LoRATrainingTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    let batch = PackedBatch(sequences: [[2, 10, 11, 12], [2, 40, 41], [2, 70, 71, 72, 73]])
    let labels = [0, 1, 1], candidates: [Int32] = [5, 9]

    func adapted(targets: [LoRATarget] = [.q, .v, .down]) throws -> (DecoderModel, LoRALayers) {
        let model = try ModelLoader.loadDecoder(directory: Repo.fixture("tiny-gemma3"), maxPositions: 64)
        let lora = try model.attachLoRA(LoRASettings(rank: 4, alpha: 8, targets: targets))
        lora.initialise(seed: 3)
        return (model, lora)
    }

    /// MeZO, zo-adam and AdamW each move only A and B; the base arena stays bitwise as loaded.
    func testEveryOptimizerMovesOnlyTheAdapters() throws {
        for optimizer in [TrainingConfig.Optimizer.mezo, .zoAdam, .lozo, .adamw] {
            let (model, lora) = try adapted()
            let base = model.arena.fingerprint(), before = Array(UnsafeBufferPointer(start: lora.arena.storage, count: lora.arena.count))
            var config = TrainingConfig()
            config.optimizer = optimizer
            config.eps = 1e-2
            let objective = CandidateObjective(model: model, candidates: candidates, maxTokens: batch.tokenCount)
            if optimizer.usesBackprop {
                let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
                let grads = lora.arena.sameLayout(tag: .gradients)
                let adam = AdamW(arena: model.trainableArena)
                for _ in 0..<3 {
                    trainer.lossAndGradients(batch: batch, target: .candidates(ids: candidates, labels: labels), gradients: grads)
                    adam.step(gradients: grads, lr: 1e-2)
                }
            } else {
                let zo = optimizer.zerothOrder!.make(config, arena: model.trainableArena, threads: 2)
                for step in 0..<3 {
                    _ = zo.step(step, seeds: [SeedSchedule.seed(run: 0, step: step, perturbation: 0)], embeddingRows: nil, lr: 1e-2) {
                        objective.loss(batch, labels: labels)
                    }
                }
            }
            XCTAssertEqual(model.arena.fingerprint(), base, "\(optimizer.rawValue): the base weights must not change")
            let after = Array(UnsafeBufferPointer(start: lora.arena.storage, count: lora.arena.count))
            XCTAssertNotEqual(before, after, "\(optimizer.rawValue): the adapters must move")
        }
    }

    /// (L(θ + εz) − L(θ − εz)) / 2ε over the adapters ≈ zᵀ∇L with ∇L from the LoRA backward: the
    /// zeroth-order estimate and backprop see the same function of the same parameters.
    func testTwoPointDifferenceMatchesTheAdapterGradient() throws {
        let (model, lora) = try adapted(targets: LoRATarget.allCases)
        // B ≠ 0 so that every adapter element has a gradient.
        for slot in lora.arena.slots where slot.name.contains("lora_B") {
            let b = lora.arena.buffer(slot)
            for i in 0..<b.count { b[i] = Float((i * 7919) % 201 - 100) * 1e-3 }
        }
        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = lora.arena.sameLayout(tag: .gradients)
        trainer.lossAndGradients(batch: batch, target: .candidates(ids: candidates, labels: labels), gradients: grads)
        let objective = CandidateObjective(model: model, candidates: candidates, maxTokens: batch.tokenCount)
        let eps: Float = 1e-3
        for seed: UInt64 in [11, 12, 13] {
            let z = (0..<lora.arena.count).map { i -> Float in
                var x = seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) &* 0xBF58_476D_1CE4_E5B9
                x ^= x >> 31
                return x & 1 == 0 ? 1 : -1
            }
            let w = lora.arena.storage
            var directional = 0.0
            for i in 0..<lora.arena.count { directional += Double(z[i]) * Double(grads.storage[i]) }
            for i in 0..<lora.arena.count { w[i] += eps * z[i] }
            let plus = Double(objective.loss(batch, labels: labels))
            for i in 0..<lora.arena.count { w[i] -= 2 * eps * z[i] }
            let minus = Double(objective.loss(batch, labels: labels))
            for i in 0..<lora.arena.count { w[i] += eps * z[i] }
            let twoPoint = (plus - minus) / (2 * Double(eps))
            XCTAssertEqual(twoPoint, directional, accuracy: 2e-3 + 2e-2 * abs(directional), "seed \(seed)")
        }
    }

    /// A written adapter folder reads back bit for bit onto its base; tiny-llama (other modules,
    /// other shapes) and a base with one weight changed (fingerprint) are refused, naming why.
    func testAdapterFolderRoundTripAndMismatches() throws {
        let (model, lora) = try adapted()
        let folder = NSTemporaryDirectory() + "zf-lora-adapter-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dir = Repo.fixture("tiny-gemma3")
        try LoRAAdapterFolder.write(lora, baseDirectory: dir, fingerprint: model.arena.fingerprint(), to: folder)

        let again = try ModelLoader.loadDecoder(directory: dir, maxPositions: 64)
        let read = try LoRAAdapterFolder.attach(folder, to: again, modelDirectory: dir, threads: 2)
        XCTAssertEqual(read.settings, lora.settings)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: read.arena.storage, count: read.arena.count)),
                       Array(UnsafeBufferPointer(start: lora.arena.storage, count: lora.arena.count)))

        let llama = try ModelLoader.loadDecoder(directory: Repo.fixture("tiny-llama"), maxPositions: 64)
        XCTAssertThrowsError(try LoRAAdapterFolder.attach(folder, to: llama, modelDirectory: "tiny-llama", threads: 2)) {
            XCTAssertTrue("\($0)".contains("model.layers.3.") && "\($0)".contains("another base model"), "\($0)")
        }
        let changed = try ModelLoader.loadDecoder(directory: dir, maxPositions: 64)
        changed.arena.storage[0] += 1
        XCTAssertThrowsError(try LoRAAdapterFolder.attach(folder, to: changed, modelDirectory: "changed", threads: 2)) {
            XCTAssertTrue("\($0)".contains("fingerprint") && "\($0)".contains("not the adapter's base model"), "\($0)")
        }
        XCTAssertThrowsError(try LoRAAdapterFolder.attach(NSTemporaryDirectory() + "no-such-adapter", to: changed, modelDirectory: "x", threads: 2)) {
            XCTAssertTrue("\($0)".contains("not a peft adapter folder"), "\($0)")
        }
    }
}
