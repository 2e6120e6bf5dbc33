import Foundation
import Models
import Tensors
import Weights
import TestSupport
import XCTest

/// LoRA's forward and backward against peft 0.21.2 on the tiny fixtures
/// (Tests/Fixtures/<name>/lora_reference.safetensors, `python3 tools/reference/reference_lora.py tiny`):
/// rank 4, α 8, every projection the architecture has, A and B set to seeded random values with
/// B ≠ 0 (so that d loss / d A ≠ 0).
///
/// Tolerances are those of the base model's fixture tests (DecoderFixtureTests, EncoderFixtureTests,
/// DecoderGradientTests): logits 1e-4 absolute at every real position, encoder hidden states 2e-5
/// (5e-5 here: the adapters add a second product per projection), loss 1e-5, every adapter gradient
/// element |Δ| ≤ 1e-4 + 1e-3·|g|. A missing α/r, a transposed B or an adapter on the wrong
/// projection moves logits by > 1e-2.
final class LoRAGradientTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testTinyGemma3LoRAMatchesPeft() throws { try compareDecoder("tiny-gemma3") }
    func testTinyLlamaLoRAMatchesPeft() throws { try compareDecoder("tiny-llama") }
    func testTinyQwen2LoRAMatchesPeft() throws { try compareDecoder("tiny-qwen2") }
    func testTinyBertLoRAMatchesPeft() throws { try compareEncoder("tiny-bert-mlm") }

    /// The reference's settings (metadata) and its A, B values loaded into `lora.arena`.
    static func settings(_ file: SafeTensorsFile) throws -> LoRASettings {
        LoRASettings(rank: Int(file.metadata["rank"]!)!, alpha: Float(file.metadata["alpha"]!)!,
                     targets: try LoRATarget.parse(file.metadata["targets"]!))
    }

    static func loadValues(_ lora: LoRALayers, from file: SafeTensorsFile) throws {
        for slot in lora.arena.slots {
            try file.read(slot.name, into: lora.arena.buffer(slot), expectedShape: slot.shape)
        }
    }

    func compareDecoder(_ name: String) throws {
        let fixture = try TinyFixture(name)
        let (model, batch) = (fixture.model, fixture.batch)
        let file = try SafeTensorsFile(path: Repo.fixture(name) + "/lora_reference.safetensors")
        let base = Array(UnsafeBufferPointer(start: model.arena.storage, count: model.arena.count))
        let lora = try model.attachLoRA(try Self.settings(file))
        try Self.loadValues(lora, from: file)
        XCTAssertEqual(Set(lora.arena.slots.map(\.name)), Set(file.tensorNames.filter { $0.hasSuffix(".weight") && !$0.hasPrefix("grad.") }))

        // Forward: logits at every real position.
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let logits = model.logits(hidden: model.forward(batch, workspace: ws), rows: batch.tokenCount)
        let expected = try file.floats("logits"), V = model.config.vocabSize, T = fixture.paddedLength
        var worst: Float = 0
        for s in 0..<batch.sequenceCount {
            for t in 0..<batch.lengths[s] {
                let got = (batch.starts[s] + t) * V, want = (s * T + t) * V
                for j in 0..<V { worst = max(worst, abs(logits[got + j] - expected[want + j])) }
            }
        }
        print("\(name) LoRA: max |Δ logits| = \(worst) over \(batch.tokenCount) positions")
        XCTAssertLessThanOrEqual(worst, 1e-4, "\(name): LoRA logits differ from peft")

        // Backward: the candidate loss of candidate_grads.safetensors, gradients of A and B only.
        let candidates = try SafeTensorsFile(path: Repo.fixture(name) + "/candidate_grads.safetensors")
        let ids = try candidates.floats("candidate_ids").map { Int32($0) }
        let labels = try candidates.floats("labels").map { Int($0) }
        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = lora.arena.sameLayout(tag: .gradients)
        for i in 0..<grads.count { grads.storage[i] = 7 }   // must be overwritten
        let loss = trainer.lossAndGradients(batch: batch, target: .candidates(ids: ids, labels: labels), gradients: grads)
        XCTAssertEqual(loss, try file.floats("loss")[0], accuracy: 1e-5, "\(name): LoRA candidate loss")
        try Self.compareGradients(name, grads, file)
        XCTAssertEqual(base, Array(UnsafeBufferPointer(start: model.arena.storage, count: model.arena.count)),
                       "\(name): the base arena must stay read-only")
    }

    func compareEncoder(_ name: String) throws {
        let directory = Repo.fixture(name)
        let model = try ModelLoader.loadEncoder(directory: directory)
        let reference = try SafeTensorsFile(path: directory + "/reference.safetensors")
        let file = try SafeTensorsFile(path: directory + "/lora_reference.safetensors")
        let lora = try model.attachLoRA(try Self.settings(file))
        try Self.loadValues(lora, from: file)
        let shape = try reference.storedShape("input_ids")
        let (B, T, C) = (shape[0], shape[1], model.config.hiddenSize)
        let ids = try reference.floats("input_ids").map { Int32($0) }
        let mask = try reference.floats("attention_mask").map { Int32($0) }
        let batch = try PackedBatch(paddedIDs: (0..<B).map { Array(ids[($0 * T)..<($0 * T + T)]) },
                                    mask: (0..<B).map { Array(mask[($0 * T)..<($0 * T + T)]) })
        let ws = EncoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let hidden = model.forward(batch, workspace: ws)
        let expected = try file.floats("last_hidden")
        var worst: Float = 0
        for b in 0..<B {
            for t in 0..<batch.lengths[b] {
                for c in 0..<C { worst = max(worst, abs(hidden[(batch.starts[b] + t) * C + c] - expected[(b * T + t) * C + c])) }
            }
        }
        print("\(name) LoRA: max |Δ hidden| = \(worst) over \(batch.tokenCount) positions")
        XCTAssertLessThanOrEqual(worst, 5e-5, "\(name): LoRA hidden states differ from peft")

        // Sequences 0 and 1 are the descriptions, sequence 2 a sentence of label 1 (the script's loss).
        let trainer = EncoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = lora.arena.sameLayout(tag: .gradients)
        let loss = trainer.lossAndGradients(batch: batch, descriptionCount: 2, labels: [1], temperature: 0.05, gradients: grads)
        XCTAssertEqual(loss, try file.floats("loss")[0], accuracy: 1e-5, "\(name): LoRA label-description loss")
        try Self.compareGradients(name, grads, file)
    }

    static func compareGradients(_ label: String, _ grads: ParameterArena, _ file: SafeTensorsFile) throws {
        var worst: Float = 0, largest: Float = 0, zeroA = true
        for slot in grads.slots {
            let want = try file.floats("grad." + slot.name), got = grads.buffer(slot)
            var failures = 0
            for i in 0..<slot.count {
                let d = abs(got[i] - want[i])
                worst = max(worst, d)
                largest = max(largest, abs(want[i]))
                if slot.name.contains("lora_A"), want[i] != 0 { zeroA = false }
                if d > 1e-4 + 1e-3 * abs(want[i]) {
                    failures += 1
                    if failures <= 3 { XCTFail("\(label) \(slot.name)[\(i)]: \(got[i]) vs \(want[i])") }
                }
            }
        }
        XCTAssertFalse(zeroA, "\(label): the reference's dA must not be zero (B ≠ 0)")
        print("\(label) LoRA: max |Δ grad| = \(worst) (largest |g| \(largest)) over \(grads.slots.count) adapter tensors")
    }

    /// peft's init (reset_lora_parameters: kaiming_uniform_(a=√5) on A, zeros on B): A ~ U(−1/√in, 1/√in),
    /// B = 0, so the adapted model computes exactly the base model; the draws depend on the seed only.
    func testInitialisationIsPeftsAndStartsAtTheBaseModel() throws {
        let fixture = try TinyFixture("tiny-gemma3")
        let (model, batch) = (fixture.model, fixture.batch)
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let before = model.logits(hidden: model.forward(batch, workspace: ws), rows: batch.tokenCount)
        let lora = try model.attachLoRA(LoRASettings(rank: 8, alpha: 16, targets: LoRATarget.allCases))
        lora.initialise(seed: 7)
        let after = model.logits(hidden: model.forward(batch, workspace: ws), rows: batch.tokenCount)
        XCTAssertEqual(before, after, "B = 0: LoRA at init must not change a single logit")
        var sumSquares = 0.0, n = 0
        for m in lora.modules {
            let a = lora.arena.buffer(lora.arena.slot(m.aName)!), b = lora.arena.buffer(lora.arena.slot(m.bName)!)
            let bound = 1 / Float(m.in).squareRoot()
            XCTAssertTrue(a.allSatisfy { abs($0) <= bound }, "\(m.aName) outside ±1/√in")
            XCTAssertTrue(b.allSatisfy { $0 == 0 }, "\(m.bName) must start at 0")
            for x in a { sumSquares += Double(x / bound) * Double(x / bound); n += 1 }
        }
        // Var(U(−1, 1)) = 1/3; n ≈ 9,000 draws: standard error of the mean square ≈ 0.003.
        XCTAssertEqual(sumSquares / Double(n), 1.0 / 3, accuracy: 0.015, "A/bound should be uniform on (−1, 1)")
        let first = Array(lora.arena.buffer(lora.arena.slots[0]))
        lora.initialise(seed: 7)
        XCTAssertEqual(first, Array(lora.arena.buffer(lora.arena.slots[0])), "same seed, same A")
        lora.initialise(seed: 8)
        XCTAssertNotEqual(first, Array(lora.arena.buffer(lora.arena.slots[0])), "another seed, another A")
    }

    /// Bad settings and targets are refused with the value named.
    func testBadSettingsAreRefused() throws {
        let fixture = try TinyFixture("tiny-llama")
        XCTAssertThrowsError(try fixture.model.attachLoRA(LoRASettings(rank: 0))) { XCTAssertTrue("\($0)".contains("rank must be at least 1, not 0"), "\($0)") }
        XCTAssertThrowsError(try fixture.model.attachLoRA(LoRASettings(alpha: -2))) { XCTAssertTrue("\($0)".contains("alpha must be positive, not -2"), "\($0)") }
        XCTAssertThrowsError(try LoRATarget.parse("q,wq")) { XCTAssertTrue("\($0)".contains("\"wq\""), "\($0)") }
        let encoder = try ModelLoader.loadEncoder(directory: Repo.fixture("tiny-bert-mlm"))
        XCTAssertThrowsError(try encoder.attachLoRA(LoRASettings(targets: [.q, .gate]))) {
            XCTAssertTrue("\($0)".contains("\"gate\"") && "\($0)".contains("no gate projection"), "\($0)")
        }
        XCTAssertEqual(try LoRATarget.parse("v, q,v"), [.q, .v])
    }
}
