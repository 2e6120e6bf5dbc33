// tokenizer.json files the byte-level BPE reader must refuse, each with a TokenizerError naming the
// file and what it found; and the older merge spelling ("Ġ t") it must read like the newer one.
// The broken files are the committed bpe-gpt2 fixture with one part changed.

import Foundation
import XCTest

import Tokenizers

final class ByteLevelBPEErrorTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private var jsonPath: String { directory.appendingPathComponent("tokenizer.json").path }

    /// Writes bpe-gpt2's tokenizer.json into the temporary folder with `change` applied.
    private func writeFixture(_ change: (inout [String: Any]) -> Void) throws {
        let source = BPEFixture.folder("gpt2").appendingPathComponent("tokenizer.json")
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as! [String: Any]
        change(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: jsonPath))
    }

    private func assertRefused(_ kind: TokenizerError.Kind, mentioning needles: [String],
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try TokenizerLoader.load(modelDirectory: directory.path), file: file, line: line) { error in
            guard let error = error as? TokenizerError else {
                return XCTFail("expected TokenizerError, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            for needle in needles {
                XCTAssertTrue(error.description.contains(needle), "'\(error)' lacks '\(needle)'", file: file, line: line)
            }
        }
    }

    func testFolderWithoutAnyTokenizerNamesTheThreeFiles() {
        assertRefused(.modelNotFound, mentioning: [directory.path, "tokenizer.model", "tokenizer.json", "vocab.txt"])
    }

    func testWordPieceAndUnigramModelsAreRefusedByType() throws {
        try writeFixture { $0["model"] = ["type": "WordPiece", "unk_token": "[UNK]", "vocab": ["[UNK]": 0, "a": 1]] }
        assertRefused(.unsupported, mentioning: [jsonPath, "model type \"WordPiece\""])
        try writeFixture { $0["model"] = ["type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["▁a", -1.5]]] }
        assertRefused(.unsupported, mentioning: [jsonPath, "model type \"Unigram\""])
    }

    func testUnsupportedPreTokenizerNormalizerAndDecoderAreNamed() throws {
        try writeFixture { $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"] }
        assertRefused(.unsupported, mentioning: [jsonPath, "pre_tokenizer \"Metaspace\""])
        try writeFixture { $0["pre_tokenizer"] = NSNull() }
        assertRefused(.unsupported, mentioning: [jsonPath, "not a byte-level BPE"])
        try writeFixture { $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Lowercase"]]] }
        assertRefused(.unsupported, mentioning: [jsonPath, "normalizer \"Lowercase\""])
        try writeFixture { $0["decoder"] = ["type": "WordPiece", "prefix": "##"] }
        assertRefused(.unsupported, mentioning: [jsonPath, "decoder \"WordPiece\""])
        try writeFixture {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": "\\s+"], "behavior": "Removed", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false]]]
        }
        assertRefused(.unsupported, mentioning: [jsonPath, "behavior \"Removed\""])
    }

    func testBrokenFilesAreInvalidModels() throws {
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: jsonPath))
        assertRefused(.invalidModel, mentioning: [jsonPath, "not a tokenizer.json"])
        try writeFixture { json in
            var model = json["model"] as! [String: Any]
            var merges = model["merges"] as! [Any]
            merges[0] = ["Ġ", "no-such-piece"]
            model["merges"] = merges
            json["model"] = model
        }
        assertRefused(.invalidModel, mentioning: [jsonPath, "merge #0", "no-such-piece"])
        try writeFixture { json in
            var model = json["model"] as! [String: Any]
            model["byte_fallback"] = true
            json["model"] = model
        }
        assertRefused(.unsupported, mentioning: [jsonPath, "byte_fallback"])
        try writeFixture { json in
            var tokens = json["added_tokens"] as! [[String: Any]]
            tokens[0]["id"] = 2_000_000_000
            json["added_tokens"] = tokens
        }
        assertRefused(.invalidModel, mentioning: [jsonPath, "2000000000"])
        try writeFixture { json in
            var tokens = json["added_tokens"] as! [[String: Any]]
            tokens[0]["id"] = 9_000_000_000
            json["added_tokens"] = tokens
        }
        assertRefused(.invalidModel, mentioning: [jsonPath, "out of range"])
    }

    /// Older files spell each merge "left right": the same merges, so the same ids as transformers'.
    func testStringMergesReadLikeArrayMerges() throws {
        try writeFixture { json in
            var model = json["model"] as! [String: Any]
            model["merges"] = (model["merges"] as! [[String]]).map { $0.joined(separator: " ") }
            json["model"] = model
        }
        let tokenizer = try TokenizerLoader.load(modelDirectory: directory.path)
        let reference = try BPEFixture.adversarial("gpt2")
        for (text, expected) in zip(reference.text, reference.ids) {
            XCTAssertEqual(try tokenizer.encode(text), expected, text.debugDescription)
        }
    }
}
