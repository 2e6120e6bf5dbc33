import Foundation
import Models
import Tensors
import Tokenizers
import Weights
import TestSupport
import XCTest

/// Multi-token candidates scored as packed continuations (each prompt run once, `ContinuationBatch`).
final class ContinuationScoringTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    /// On tiny random models, the packed path equals running prompt + candidate as separate
    /// sequences (`continuationLogProbs(prompt:continuations:)`, which shares nothing), within
    /// fp32 summation-order noise: so the gathered keys, spans and positions are right, including
    /// sliding windows shorter than the sequences.
    func testPackedContinuationsEqualSeparateSequencesOnTinyModels() throws {
        for name in ["tiny-gemma3", "tiny-llama", "tiny-qwen2"] {
            let model = try TinyFixture(name).model
            let V = Int32(model.config.vocabSize)
            let prompts: [[Int32]] = [[2, 5, 9, 11, 3, 7, 8, 1, 4, 6, 10, 12], [2, 13], [2, 7, 7, 7, 9]]
            let continuations: [[[Int32]]] = [[[3], [4, 5], [6, 7, 8, 9]], [[1, 2, 3], [14]], [[5], [5, 6]]]
                .map { $0.map { $0.map { $0 % V } } }
            let batch = ContinuationBatch(prompts: prompts, continuations: continuations)
            let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
            let gathered = GatheredKeyValues(config: model.config, capacity: batch.gatherRows.count)
            let packed = model.continuationLogProbs(batch, workspace: ws, gathered: gathered)
            var worst: Float = 0
            for (p, prompt) in prompts.enumerated() {
                let separate = model.continuationLogProbs(prompt: prompt, continuations: continuations[p])
                for (a, b) in zip(packed[p], separate) { worst = max(worst, abs(a - b)) }
            }
            print("\(name): packed vs separate continuation log-probs, max |Δ| = \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-5, name)
        }
    }

    /// The real Gemma-3-270M against transformers (tools/reference/reference_multitoken.py): log P(candidate |
    /// prompt) summed over 1–4 tokens with the full 262,144-word softmax, 20 SST-2 prompts × 6
    /// candidates in one packed pass, within 1e-3 absolute (log-probs here reach −20; fp32 summation
    /// order across 18 layers gives ~1e-4).
    func testMultiTokenLogProbsMatchTransformersOnGemma() throws {
        let dir = try Repo.requireGemma()
        let path = try Repo.requireReference("gemma-3-270m-multitoken-logprobs.json")
        struct Reference: Decodable {
            let prompts: [[Int32]]
            let candidates: [[Int32]]
            let candidate_texts: [String]
            let logprobs: [[Double]]
        }
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(reference.prompts.count, 20)
        XCTAssertTrue(reference.candidates.contains { $0.count >= 3 }, "the reference must include multi-token candidates")
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        for (text, ids) in zip(reference.candidate_texts, reference.candidates) {
            XCTAssertEqual(try tokenizer.encode(text), ids, "candidate \"\(text)\" tokenises differently")
        }
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 256)
        let batch = ContinuationBatch(prompts: reference.prompts,
                                      continuations: reference.prompts.map { _ in reference.candidates })
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let gathered = GatheredKeyValues(config: model.config, capacity: batch.gatherRows.count)
        let got = model.continuationLogProbs(batch, workspace: ws, gathered: gathered)
        var worst = 0.0
        for (mine, theirs) in zip(got, reference.logprobs) {
            for (a, b) in zip(mine, theirs) { worst = max(worst, abs(Double(a) - b)) }
        }
        print("Gemma-3-270M multi-token candidates: max |Δ log P| = \(worst) over 20 prompts × \(reference.candidates.count) candidates (token counts \(reference.candidates.map(\.count)))")
        XCTAssertLessThanOrEqual(worst, 1e-3)
    }
}
