import Foundation
import Models
import Tensors
import Tokenizers
import Weights
import TestSupport
import XCTest

/// Text in, logits out, against transformers: tiny random qwen3 and Llama-3-rope models whose
/// vocabulary is a byte-level BPE tokenizer.json (tools/fixtures/make_bpe_model_fixtures.py). The ids of each
/// prompt (with the BOS the tokenizer's own rule adds: none for Qwen, <|begin_of_text|> for Llama 3)
/// must equal AutoTokenizer's, and the last position's logits transformers' within 1e-4 (fp32 on
/// both sides; only summation order differs, as in DecoderFixtureTests).
final class ByteLevelModelTextTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testTinyQwen3WithQwen2VocabularyMatchesTransformers() throws {
        try compare(model: "tiny-qwen3-bpe", tokenizer: "bpe-qwen2", expectBOS: false)
    }

    func testTinyLlama3WithLlama3VocabularyMatchesTransformers() throws {
        try compare(model: "tiny-llama3-bpe", tokenizer: "bpe-llama3", expectBOS: true)
    }

    func compare(model name: String, tokenizer vocabulary: String, expectBOS: Bool, tolerance: Float = 1e-4) throws {
        let model = try ModelLoader.loadDecoder(directory: Repo.fixture(name))
        let tokenizer = try TokenizerLoader.load(modelDirectory: Repo.fixture(vocabulary))
        XCTAssertEqual(tokenizer.bosID != nil, expectBOS, "\(vocabulary): BOS rule")
        XCTAssertEqual(tokenizer.vocabularySize, model.config.vocabSize)
        let reference = try SafeTensorsFile(path: Repo.fixture(name) + "/text_reference.safetensors")
        let texts = try JSONDecoder().decode([String].self, from: Data((reference.metadata["texts"] ?? "[]").utf8))
        XCTAssertEqual(texts.count, 4)
        let expected = try reference.floats("logits")   // (K, V)
        let V = model.config.vocabSize
        var worst: Float = 0
        for (k, text) in texts.enumerated() {
            let ids = (tokenizer.bosID.map { [$0] } ?? []) + (try tokenizer.encode(text))
            let want = try reference.floats("input_ids_\(k)").map { Int32($0) }
            XCTAssertEqual(ids, want, "\(name): ids of \(text.debugDescription)")
            let batch = PackedBatch(sequences: [ids])
            let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
            let hidden = model.forward(batch, workspace: ws, outputs: .lastTokenOfEachSequence)
            let logits = model.logits(hidden: hidden, rows: 1)
            for j in 0..<V { worst = max(worst, abs(logits[j] - expected[k * V + j])) }
        }
        print("\(name) + \(vocabulary): max |Δ last-position logits| = \(worst) over \(texts.count) prompts × \(V)")
        XCTAssertLessThanOrEqual(worst, tolerance)
    }
}
