import Models
import Tasks
import Tensors
import Tokenizers
import Weights
import TestSupport
import XCTest

/// The real Gemma-3-270M against transformers (fp32, eager) on the first 20 SST-2 dev prompts:
/// the same token ids, and last-position logits over the whole 262,144-word vocabulary within
/// 1e-3 absolute. Logits here reach |20|; fp32 summation-order differences across 18 layers give
/// ~1e-4, while a wrong detail (norm offset, RoPE base, window) gives errors ≥ 1e-1.
final class RealGemmaLogitsTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testLastPositionLogitsMatchTransformers() throws {
        let dir = try Repo.requireGemma()
        let reference = try SafeTensorsFile(path: try Repo.requireReference("gemma-3-270m-sst2-dev20.safetensors"))
        guard let sst2 = Repo.sst2Directory else { return XCTFail("SST-2 not found (set SST2_DIR)") }
        let examples = try TaskData.load(directory: sst2, split: .dev)
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 256)
        let expected = try reference.floats("logits")   // (K, V)
        let V = model.config.vocabSize
        let K = expected.count / V
        XCTAssertEqual(K, 20)

        var prompts: [[Int32]] = []
        for k in 0..<K {
            let ids = try TaskPrompt.builtin("sst2").promptIDs(for: examples[k], tokenizer: tokenizer)
            let want = try reference.floats("input_ids_\(k)").map { Int32($0) }
            XCTAssertEqual(ids, want, "prompt \(k): token ids differ from the reference")
            prompts.append(ids)
        }
        // All 20 prompts in one packed batch: also checks that packing does not leak across sequences.
        let batch = PackedBatch(sequences: prompts)
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let hidden = model.forward(batch, workspace: ws, outputs: .lastTokenOfEachSequence)
        let logits = model.logits(hidden: hidden, rows: K)
        var worst: Float = 0
        for i in 0..<(K * V) { worst = max(worst, abs(logits[i] - expected[i])) }
        print("Gemma-3-270M: max |Δ last-position logits| over \(K) prompts × \(V) = \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-3)
    }
}
