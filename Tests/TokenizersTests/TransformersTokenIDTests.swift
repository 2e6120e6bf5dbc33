// The real Gemma tokenizer against transformers: the ids AutoTokenizer.from_pretrained gives
// (add_special_tokens=False) for every SST-2 dev sentence and the first 5,000 train sentences,
// dumped by tools/reference/reference_token_ids.py to models/reference/gemma-3-270m-sst2-token-ids.json.
//
// GemmaTokenizerTests compares with spm_encode, i.e. with the same C++ library we wrap; this test
// compares with the tokenizer a Hugging Face user would actually run, so the ids the model sees
// here are the ids it saw in transformers.
//
// A missing model or JSON is a MissingResource: a failure (always with CI=true; a skip with ZOFINETUNE_ALLOW_MISSING_MODEL=1 elsewhere).

import Foundation
import TestSupport
import XCTest

import Tokenizers

final class TransformersTokenIDTests: XCTestCase {
    private static var referencePath: URL {
        TestPaths.repoRoot.appendingPathComponent("models/reference/gemma-3-270m-sst2-token-ids.json")
    }

    private static let makeCommand =
        "python3 tools/reference/reference_token_ids.py --model models/gemma-3-270m --data \"$SST2_DIR\" "
        + "--out models/reference/gemma-3-270m-sst2-token-ids.json"

    /// The reference dump, or nil after recording a failure; throws XCTSkip when a missing file
    /// is allowed.
    private func loadReference() throws -> TokenIDReference? {
        let path = Self.referencePath.path
        guard let data = FileManager.default.contents(atPath: path) else {
            let why = "transformers token-id reference not found at \(path); make it with: \(Self.makeCommand)"
            try MissingResource.report(why)
        }
        do {
            return try JSONDecoder().decode(TokenIDReference.self, from: data)
        } catch {
            XCTFail("\(path) is not a token-id dump from tools/reference/reference_token_ids.py: \(error); remake it with: \(Self.makeCommand)")
            return nil
        }
    }

    /// Every sentence (872 dev + 5,000 train) encodes to exactly transformers' ids.
    func testIdsMatchTransformersOnSST2() throws {
        guard let tokenizer = try Gemma.loadOrSkip() else { return }
        guard let reference = try loadReference() else { return }
        let sentences = try SST2.comparisonSet()

        // Same sentences on both sides, else the comparison below would mean nothing.
        let referenceText = reference.devText + reference.trainText
        XCTAssertEqual(reference.dev.count, 872, "dev sentences in the dump")
        XCTAssertEqual(reference.train.count, 5000, "train sentences in the dump")
        XCTAssertEqual(reference.devText.count, reference.dev.count)
        XCTAssertEqual(reference.trainText.count, reference.train.count)
        guard referenceText == sentences else {
            let index = zip(referenceText, sentences).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                ?? min(referenceText.count, sentences.count)
            XCTFail("the dump was made from other SST-2 text than \(TestPaths.sst2.path) (first difference at "
                    + "sentence \(index)); remake it with: \(Self.makeCommand)")
            return
        }

        let expected = reference.dev + reference.train
        var mismatches = 0
        for (index, sentence) in sentences.enumerated() {
            let ours = try tokenizer.encode(sentence)
            if ours != expected[index] {
                mismatches += 1
                if mismatches <= 5 {
                    let split = index < 872 ? "dev[\(index)]" : "train[\(index - 872)]"
                    XCTFail("\(split) '\(sentence)': ours \(ours) vs transformers \(reference.transformersVersion) \(expected[index])")
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "sentences whose ids differ from transformers \(reference.transformersVersion)")
        // The dump must hold real tokenisations, not empty lists that trivially agree.
        XCTAssertFalse(expected.contains { $0.isEmpty })
        XCTAssertGreaterThan(expected.reduce(0) { $0 + $1.count }, 5 * expected.count)
    }
}
