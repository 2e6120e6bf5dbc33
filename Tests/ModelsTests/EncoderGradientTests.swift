// The encoder's backward pass against PyTorch autograd on the real all-MiniLM-L6-v2: the gradient
// of the label-description loss (cosine / T, cross-entropy) on two descriptions + 16 SST-2 train
// sentences, dumped by tools/reference/reference_encoder_gradients.py. Per-tensor relative L2 ≤ 1e-3.

import Foundation
import XCTest

@testable import Models
import Tensors
import TestSupport
import Weights

final class EncoderGradientTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testGradientsMatchPyTorchOnMiniLM() throws {
        let model = try ModelLoader.loadEncoder(directory: try Repo.requireMiniLM())
        let reference = try SafeTensorsFile(path: try Repo.requireReference("minilm_sst2_grads.safetensors"))
        let shape = try reference.storedShape("input_ids")   // (B, T)
        let (B, T) = (shape[0], shape[1])
        let ids = try reference.floats("input_ids").map { Int32($0) }
        let mask = try reference.floats("attention_mask").map { Int32($0) }
        let batch = try PackedBatch(paddedIDs: (0..<B).map { Array(ids[($0 * T)..<($0 * T + T)]) },
                                    mask: (0..<B).map { Array(mask[($0 * T)..<($0 * T + T)]) })
        let labels = try reference.floats("labels").map { Int($0) }
        let temperature = Float(reference.metadata["temperature"] ?? "") ?? 0.05
        let K = B - labels.count

        let trainer = EncoderTrainer(model: model, maxTokens: batch.tokenCount)
        let gradients = EncoderModel.makeArena(config: model.config, prefix: model.prefix)
        let loss = trainer.lossAndGradients(batch: batch, descriptionCount: K, labels: labels,
                                            temperature: temperature, gradients: gradients)
        XCTAssertEqual(loss, try reference.floats("loss")[0], accuracy: 1e-4)

        var worst = (error: 0.0, name: "")
        for slot in gradients.slots {
            let expected = try reference.floats(slot.name)
            let ours = gradients.buffer(slot)
            var diff = 0.0, norm = 0.0
            for (a, b) in zip(ours, expected) {
                diff += Double(a - b) * Double(a - b)
                norm += Double(b) * Double(b)
            }
            // A key bias adds q·b to every score of a query's softmax row, which the softmax
            // ignores: its exact gradient is 0, both sides hold rounding noise (~1e-8), and a
            // relative error means nothing. Such tensors are held to an absolute bound instead.
            if norm.squareRoot() < 1e-6 {
                XCTAssertTrue(slot.name.hasSuffix("attention.self.key.bias"), "\(slot.name): gradient ~0 in PyTorch")
                XCTAssertLessThanOrEqual(diff.squareRoot(), 1e-6, slot.name)
                continue
            }
            let relative = (diff / norm).squareRoot()
            if relative > worst.error { worst = (relative, slot.name) }
            XCTAssertLessThanOrEqual(relative, 1e-3, slot.name)
        }
        print(String(format: "MiniLM label-description loss %.6f; worst per-tensor relative L2 gradient error %.2e (%@) over %d tensors",
                     loss, worst.error, worst.name, gradients.slots.count))
    }

    /// The trainer's loss equals the inference path's (LabelDescriptionScorer packs the same way).
    func testTrainingForwardMatchesInference() throws {
        let model = try ModelLoader.loadEncoder(directory: try Repo.requireMiniLM())
        let batch = PackedBatch(sequences: [[101, 4997, 102], [101, 3893, 102], [101, 2023, 3185, 2001, 2307, 102]])
        let ws = EncoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let inference = Array(UnsafeBufferPointer(start: model.sentenceEmbeddings(batch, workspace: ws), count: 3 * 384))
        let trainer = EncoderTrainer(model: model, maxTokens: batch.tokenCount)
        let gradients = EncoderModel.makeArena(config: model.config, prefix: model.prefix)
        trainer.lossAndGradients(batch: batch, descriptionCount: 2, labels: [1], temperature: 0.05, gradients: gradients)
        let training = Array(UnsafeBufferPointer(start: trainer.activations.embeddings, count: 3 * 384))
        for (a, b) in zip(inference, training) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }
}
