import Foundation
import Models
import Tasks
import Tensors
import Tokenizers
import Weights
import TestSupport
import XCTest

/// LoRA on the real models against peft 0.21.2 (tools/reference/reference_lora.py gemma|minilm, dumped once by
/// tools/test.sh): rank 8, α 16, every projection (Gemma: q,k,v,o,gate,up,down; MiniLM: q,k,v,o,up,down),
/// A and B seeded random (B ≠ 0), the losses of the base gradient tests (Gemma: SST-2 candidate loss
/// on the first 16 train sentences; MiniLM: the label-description loss on the same sentences).
///
/// Tolerance as for the full-model gradients (RealGemmaGradientTests, EncoderGradientTests): per
/// adapter tensor ‖g − g_peft‖₂ / ‖g_peft‖₂ ≤ 1e-3, loss 1e-4. Only A and B get gradients: the
/// gradient arena is the adapters' (a few MB), never one of the weights' size.
final class RealLoRAGradientTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testGemmaLoRAGradientsMatchPeft() throws {
        let dir = try Repo.requireGemma()
        let file = try SafeTensorsFile(path: try Repo.requireReference("gemma-3-270m-sst2-lora.safetensors"))
        let sst2 = try Repo.requireSST2()
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 256)
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        let lora = try model.attachLoRA(try LoRAGradientTests.settings(file))
        try LoRAGradientTests.loadValues(lora, from: file)
        let sst2Batch = try ReferenceCandidateBatch(reference: file, tokenizer: tokenizer, sst2: sst2)
        let (batch, candidates, labels) = (sst2Batch.batch, sst2Batch.candidates, sst2Batch.labels)
        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = lora.arena.sameLayout(tag: .gradients)
        let start = DispatchTime.now().uptimeNanoseconds
        let loss = trainer.lossAndGradients(batch: batch, target: .candidates(ids: candidates, labels: labels), gradients: grads)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        XCTAssertEqual(loss, try file.floats("loss")[0], accuracy: 1e-4)
        let worst = try Self.compare(grads, file)
        print(String(format: "Gemma-3-270M LoRA (%d adapter tensors, %d parameters): loss %.6f vs peft %.6f; worst per-tensor relative L2 %.2e (%@); forward+backward %.2f s",
                     grads.slots.count, grads.parameterCount, loss, try file.floats("loss")[0], worst.error, worst.name, seconds))
    }

    func testMiniLMLoRAGradientsMatchPeft() throws {
        let model = try ModelLoader.loadEncoder(directory: try Repo.requireMiniLM())
        let file = try SafeTensorsFile(path: try Repo.requireReference("minilm-sst2-lora.safetensors"))
        let lora = try model.attachLoRA(try LoRAGradientTests.settings(file))
        try LoRAGradientTests.loadValues(lora, from: file)
        let shape = try file.storedShape("input_ids")   // (B, T)
        let (B, T) = (shape[0], shape[1])
        let ids = try file.floats("input_ids").map { Int32($0) }
        let mask = try file.floats("attention_mask").map { Int32($0) }
        let batch = try PackedBatch(paddedIDs: (0..<B).map { Array(ids[($0 * T)..<($0 * T + T)]) },
                                    mask: (0..<B).map { Array(mask[($0 * T)..<($0 * T + T)]) })
        let labels = try file.floats("labels").map { Int($0) }
        let trainer = EncoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = lora.arena.sameLayout(tag: .gradients)
        let loss = trainer.lossAndGradients(batch: batch, descriptionCount: B - labels.count, labels: labels,
                                            temperature: 0.05, gradients: grads)
        XCTAssertEqual(loss, try file.floats("loss")[0], accuracy: 1e-4)
        let worst = try Self.compare(grads, file)
        print(String(format: "MiniLM LoRA (%d adapter tensors): loss %.6f vs peft %.6f; worst per-tensor relative L2 %.2e (%@)",
                     grads.slots.count, loss, try file.floats("loss")[0], worst.error, worst.name))
    }

    /// Per-tensor relative L2 of every adapter gradient against "grad.<name>"; returns the worst.
    static func compare(_ grads: ParameterArena, _ file: SafeTensorsFile) throws -> (error: Double, name: String) {
        var worst = (error: 0.0, name: "")
        for slot in grads.slots {
            let expected = try file.floats("grad." + slot.name)
            var diff = 0.0, norm = 0.0
            for (a, b) in zip(grads.buffer(slot), expected) {
                diff += Double(a - b) * Double(a - b)
                norm += Double(b) * Double(b)
            }
            XCTAssertGreaterThan(norm, 0, "\(slot.name): peft's gradient is zero (B must be nonzero in the reference)")
            let relative = (diff / max(norm, 1e-300)).squareRoot()
            if relative > worst.error { worst = (relative, slot.name) }
            XCTAssertLessThanOrEqual(relative, 1e-3, "\(slot.name): relative L2 \(relative)")
        }
        return worst
    }
}
