// The WordPiece tokenizer on the real all-MiniLM-L6-v2 vocabulary against transformers'
// BertTokenizer: the ids (add_special_tokens=False) of every SST-2 dev sentence and the first
// 5,000 train sentences, dumped by tools/reference/reference_encoder_token_ids.py to
// models/reference/minilm_token_ids.json.
//
// A missing model or JSON is a MissingResource: a failure (always with CI=true; a skip with ZOFINETUNE_ALLOW_MISSING_MODEL=1 elsewhere).

import Foundation
import TestSupport
import XCTest

import Tokenizers

final class WordPieceTransformersTests: XCTestCase {
    private static let modelDirectory = TestPaths.repoRoot.appendingPathComponent("models/all-minilm-l6-v2")
    private static let referencePath = TestPaths.repoRoot.appendingPathComponent("models/reference/minilm_token_ids.json")
    private static let makeCommand =
        "python3 tools/setup/fetch_encoder.py && python3 tools/reference/reference_encoder_token_ids.py --model models/all-minilm-l6-v2 "
        + "--data \"$SST2_DIR\" --out models/reference/minilm_token_ids.json"

    /// The file's contents, or a skip (ZOFINETUNE_ALLOW_MISSING_MODEL=1) / failure naming how to make it.
    private func require(_ path: String) throws -> Data {
        if let data = FileManager.default.contents(atPath: path) { return data }
        let why = "\(path) not found; make it with: \(Self.makeCommand)"
        try MissingResource.report(why)
    }

    func testIdsMatchBertTokenizerOnSST2() throws {
        _ = try require(Self.modelDirectory.appendingPathComponent("vocab.txt").path)
        let reference = try JSONDecoder().decode(TokenIDReference.self, from: try require(Self.referencePath.path))
        let tokenizer = try TokenizerLoader.load(modelDirectory: Self.modelDirectory.path)
        XCTAssertTrue(tokenizer is WordPieceTokenizer)
        let sentences = try SST2.comparisonSet()
        XCTAssertEqual(reference.dev.count, 872)
        XCTAssertEqual(reference.train.count, 5000)
        guard reference.devText + reference.trainText == sentences else {
            return XCTFail("the dump was made from other SST-2 text than \(TestPaths.sst2.path); remake it with: \(Self.makeCommand)")
        }
        let expected = reference.dev + reference.train
        let ours = try tokenizer.encodeBatch(sentences)
        var mismatches = 0
        for index in sentences.indices where ours[index] != expected[index] {
            mismatches += 1
            if mismatches <= 5 {
                let split = index < 872 ? "dev[\(index)]" : "train[\(index - 872)]"
                XCTFail("\(split) '\(sentences[index])': ours \(ours[index]) vs transformers \(expected[index])")
            }
        }
        XCTAssertEqual(mismatches, 0, "sentences whose ids differ from BertTokenizer (transformers \(reference.transformersVersion))")
        XCTAssertFalse(expected.contains { $0.isEmpty })
        print("WordPiece vs BertTokenizer: \(sentences.count - mismatches)/\(sentences.count) sentences identical")
    }
}
