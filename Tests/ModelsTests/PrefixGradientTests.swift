import Foundation
import Models
import Tensors
import Weights
import TestSupport
import XCTest

/// Backprop to the prefix only (base frozen: no weight gradient exists) against peft's autograd on
/// the tiny fixtures (tools/reference/reference_prefix.py fixtures): every element of d loss / d
/// `prompt_embeddings`, for the candidate loss and the next-token loss of the decoders and the
/// label-description loss of the encoder.
///
/// Tolerance per element |Δ| ≤ 1e-4 + 1e-3·|g| and 1e-5 on the loss, as DecoderGradientTests: both
/// sides fp32, summation order only; a prefix gradient scattered to the wrong layer, token, or
/// into keys instead of values, or missing one sequence's share, is O(|g|) off.
final class PrefixGradientTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testTinyGemma3PrefixGradients() throws { try compareDecoder("tiny-gemma3") }
    func testTinyLlamaPrefixGradients() throws { try compareDecoder("tiny-llama") }
    func testTinyQwen3PrefixGradients() throws { try compareDecoder("tiny-qwen3") }

    func compareDecoder(_ name: String) throws {
        let (fixture, reference, prefix) = try PrefixFixtureTests.prefixed(name)
        let (model, batch) = (fixture.model, fixture.batch)
        XCTAssertTrue(model.trainableArena === prefix.arena && model.baseIsFrozen)
        let candidates = try SafeTensorsFile(path: Repo.fixture(name) + "/candidate_grads.safetensors")
        let ids = try candidates.floats("candidate_ids").map { Int32($0) }
        let labels = try candidates.floats("labels").map { Int($0) }
        let before = model.arena.fingerprint()
        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = prefix.arena.sameLayout(tag: .gradients)
        for i in 0..<grads.count { grads.storage[i] = 7 }   // must be overwritten, not added to

        let loss = trainer.lossAndGradients(batch: batch, target: .candidates(ids: ids, labels: labels), gradients: grads)
        XCTAssertEqual(loss, try reference.floats("candidate_loss")[0], accuracy: 1e-5, "\(name): candidate loss")
        try compare("\(name) candidate", grads, try reference.floats("candidate_grad"))

        let nextLoss = trainer.lossAndGradients(batch: batch, target: .nextToken, gradients: grads)
        XCTAssertEqual(nextLoss, try reference.floats("next_token_loss")[0], accuracy: 1e-5, "\(name): next-token loss")
        try compare("\(name) next-token", grads, try reference.floats("next_token_grad"))
        XCTAssertEqual(model.arena.fingerprint(), before, "the base weights are read-only")
    }

    func testTinyBertPrefixGradients() throws {
        let directory = Repo.fixture("tiny-bert-mlm")
        let model = try ModelLoader.loadEncoder(directory: directory)
        let reference = try SafeTensorsFile(path: directory + "/prefix_reference.safetensors")
        let prefix = try model.attachPrefix(tokens: try reference.info(KeyValuePrefix.tensorName).shape[0])
        try reference.read(KeyValuePrefix.tensorName, into: prefix.arena.buffer(prefix.arena.slots[0]),
                           expectedShape: prefix.arena.slots[0].shape)
        let batch = try PrefixFixtureTests.paddedBatch(reference)
        let labels = try reference.floats("labels").map { Int($0) }
        let trainer = EncoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = prefix.arena.sameLayout(tag: .gradients)
        let loss = trainer.lossAndGradients(batch: batch, descriptionCount: batch.sequenceCount - labels.count, labels: labels,
                                            temperature: try reference.floats("temperature")[0], gradients: grads)
        XCTAssertEqual(loss, try reference.floats("loss")[0], accuracy: 1e-5, "tiny-bert-mlm: description loss")
        try compare("tiny-bert-mlm description", grads, try reference.floats("grad"))
    }

    /// Prompts with multi-token continuations (each prompt once, the prefix in front of every key
    /// block): the backward of a fixed linear loss Σ w·log P against central finite differences of
    /// the inference forward, on 12 prefix coordinates spread over layers, keys and values.
    func testContinuationBackwardWithPrefixMatchesFiniteDifferences() throws {
        let (fixture, _, prefix) = try PrefixFixtureTests.prefixed("tiny-gemma3")
        let model = fixture.model
        let batch = ContinuationBatch(prompts: [[2, 9, 14, 30, 7], [2, 40, 41]],
                                      continuations: [[[5], [6, 8, 9]], [[11, 12], [13]]])
        let weights: [[Float]] = [[0.7, -1.3], [0.4, 0.9]]
        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = prefix.arena.sameLayout(tag: .gradients)
        trainer.lossAndGradients(continuations: batch, loss: { lp in
            (zip(lp, weights).reduce(0.0) { $0 + zip($1.0, $1.1).reduce(0.0) { $0 + Double($1.0 * $1.1) } }, weights)
        }, gradients: grads)
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let gathered = GatheredKeyValues(config: model.config, capacity: batch.gatherRows.count)
        func loss() -> Double {
            let lp = model.continuationLogProbs(batch, workspace: ws, gathered: gathered)
            return zip(lp, weights).reduce(0.0) { $0 + zip($1.0, $1.1).reduce(0.0) { $0 + Double($1.0 * $1.1) } }
        }
        let p = prefix.arena.storage, total = prefix.arena.parameterCount
        for index in stride(from: 5, to: total, by: total / 12) {
            let saved = p[index], h: Float = 1e-2
            p[index] = saved + h; let up = loss()
            p[index] = saved - h; let down = loss()
            p[index] = saved
            let numeric = (up - down) / Double(2 * h)
            XCTAssertEqual(Double(grads.storage[index]), numeric, accuracy: 2e-3 + 2e-2 * abs(numeric),
                           "prefix element \(index)")
        }
    }

    func compare(_ label: String, _ grads: ParameterArena, _ want: [Float]) throws {
        let got = grads.buffer(grads.slots[0])
        XCTAssertEqual(got.count, want.count, label)
        var worst: Float = 0, largest: Float = 0, failures = 0
        for i in 0..<min(got.count, want.count) {
            let d = abs(got[i] - want[i])
            worst = max(worst, d)
            largest = max(largest, abs(want[i]))
            if d > 1e-4 + 1e-3 * abs(want[i]) {
                failures += 1
                if failures <= 3 { XCTFail("\(label)[\(i)]: \(got[i]) vs \(want[i])") }
            }
        }
        print("\(label): max |Δ prefix grad| = \(worst) (largest |g| \(largest)) over \(want.count) elements")
    }
}
