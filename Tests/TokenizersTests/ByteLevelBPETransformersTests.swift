// The byte-level BPE tokenizer against transformers' PreTrainedTokenizerFast, one vocabulary per
// pre-tokenizer family (GPT-2, Llama 3, Qwen2, SmolLM; Tests/Fixtures/bpe-<family>/, made by
// tools/reference/make_bpe_reference.py from SST-2 train text):
//   - a committed adversarial set (emoji, CJK, combining marks, runs of spaces / newlines / tabs,
//     digit runs, contractions, special-token strings inside text, the empty string…);
//   - SST-2 dev + the first 5,000 train sentences, whose ids tools/test.sh dumps to
//     models/reference/bpe-<family>-sst2-token-ids.json (SST-2 text is not committed).
// Every sentence must give exactly transformers' ids, and decode(encode(x)) must give x back.
//
// A missing SST-2 dump fails unless ZOFINETUNE_ALLOW_MISSING_MODEL=1 (then that test skips).

import Foundation
import TestSupport
import XCTest

import Tokenizers

/// adversarial.json of a bpe-<family> fixture (tools/reference/make_bpe_reference.py, write_adversarial).
struct AdversarialReference: Decodable {
    let text: [String]
    let ids: [[Int32]]
    let decoded: [String]
    let emptyWithSpecialTokens: [Int32]
    let transformersVersion: String

    enum CodingKeys: String, CodingKey {
        case text, ids, decoded
        case emptyWithSpecialTokens = "empty_with_special_tokens"
        case transformersVersion = "transformers_version"
    }
}

enum BPEFixture {
    static let families = ["gpt2", "llama3", "qwen2", "smollm"]

    static func folder(_ family: String) -> URL {
        TestPaths.repoRoot.appendingPathComponent("Tests/Fixtures/bpe-\(family)", isDirectory: true)
    }

    static func load(_ family: String) throws -> Tokenizer { try TokenizerLoader.load(modelDirectory: folder(family).path) }

    static func adversarial(_ family: String) throws -> AdversarialReference {
        let data = try Data(contentsOf: folder(family).appendingPathComponent("adversarial.json"))
        return try JSONDecoder().decode(AdversarialReference.self, from: data)
    }
}

final class ByteLevelBPETransformersTests: XCTestCase {
    /// Ids of every adversarial string equal transformers'; the set must hold real work (it is
    /// checked to contain multi-token, multi-byte and special-token cases).
    func testAdversarialSetMatchesTransformers() throws {
        for family in BPEFixture.families {
            let tokenizer = try BPEFixture.load(family)
            XCTAssertTrue(tokenizer is ByteLevelBPETokenizer, "\(family): loaded \(type(of: tokenizer))")
            let reference = try BPEFixture.adversarial(family)
            XCTAssertEqual(reference.text.count, reference.ids.count)
            XCTAssertGreaterThan(reference.text.count, 30)
            var mismatches = 0
            for (text, expected) in zip(reference.text, reference.ids) {
                let ours = try tokenizer.encode(text)
                if ours != expected {
                    mismatches += 1
                    XCTFail("\(family) \(text.debugDescription): ours \(ours) vs transformers \(reference.transformersVersion) \(expected)")
                }
            }
            XCTAssertEqual(mismatches, 0, "\(family): adversarial strings whose ids differ")
            XCTAssertGreaterThan(reference.ids.reduce(0) { $0 + $1.count }, 500, "\(family): the set must tokenise to many ids")
        }
    }

    /// decode(encode(x)) == x for every adversarial string (byte-level BPE is lossless; Qwen2's NFC
    /// changes decomposed text, so there the round trip gives NFC(x)), and decode equals
    /// transformers' decode of the same ids.
    func testAdversarialRoundTripAndDecodeMatchTransformers() throws {
        for family in BPEFixture.families {
            let tokenizer = try BPEFixture.load(family)
            let reference = try BPEFixture.adversarial(family)
            for (index, text) in reference.text.enumerated() {
                let decoded = try tokenizer.decode(try tokenizer.encode(text))
                let expected = family == "qwen2" ? text.precomposedStringWithCanonicalMapping : text
                XCTAssertEqual(Array(decoded.unicodeScalars), Array(expected.unicodeScalars), "\(family): round trip of \(text.debugDescription)")
                XCTAssertEqual(Array(try tokenizer.decode(reference.ids[index]).unicodeScalars),
                               Array(reference.decoded[index].unicodeScalars),
                               "\(family): decode of transformers' ids for \(text.debugDescription)")
            }
        }
    }

    /// The post-processor's rule: Llama 3 starts with <|begin_of_text|>, GPT-2 and Qwen2 with nothing
    /// (transformers' ids of "" with add_special_tokens=True); EOS from tokenizer_config.json.
    func testBOSFollowsThePostProcessor() throws {
        for family in BPEFixture.families {
            let tokenizer = try BPEFixture.load(family)
            let reference = try BPEFixture.adversarial(family)
            XCTAssertEqual(tokenizer.bosID.map { [$0] } ?? [], reference.emptyWithSpecialTokens, family)
        }
        XCTAssertEqual(try BPEFixture.load("llama3").eosID, try BPEFixture.load("llama3").id(for: "<|end_of_text|>"))
        XCTAssertEqual(try BPEFixture.load("qwen2").eosID, try BPEFixture.load("qwen2").id(for: "<|im_end|>"))
        XCTAssertEqual(try BPEFixture.load("qwen2").padID, try BPEFixture.load("qwen2").id(for: "<|endoftext|>"))
        XCTAssertNotNil(try BPEFixture.load("llama3").bosID)
    }

    /// bpe-edge (a hand-made vocabulary): ignore_merges taking "Ġabc" whole, add_prefix_space on every
    /// segment between added tokens, lstrip / rstrip / single_word added tokens, a normalized added
    /// token with a space in it, NFC in a Sequence, BOS from add_bos_token. Ids, decoded text and BOS
    /// equal transformers'.
    func testEdgeVocabularyMatchesTransformers() throws {
        let tokenizer = try BPEFixture.load("edge")
        let reference = try BPEFixture.adversarial("edge")
        XCTAssertGreaterThan(reference.text.count, 20)
        for (index, text) in reference.text.enumerated() {
            XCTAssertEqual(try tokenizer.encode(text), reference.ids[index], "ids of \(text.debugDescription)")
            XCTAssertEqual(Array(try tokenizer.decode(reference.ids[index]).unicodeScalars),
                           Array(reference.decoded[index].unicodeScalars), "decode for \(text.debugDescription)")
        }
        XCTAssertEqual(tokenizer.bosID.map { [$0] } ?? [], reference.emptyWithSpecialTokens)
        // ignore_merges must have decided something: "abc" is one token though no merge makes it.
        XCTAssertEqual(try tokenizer.encode("abc"), [try XCTUnwrap(tokenizer.id(for: "Ġabc"))])
    }

    /// Every SST-2 sentence of the comparison set (872 dev + 5,000 train) gives transformers' ids,
    /// for each family, and decodes back to itself.
    func testSST2MatchesTransformers() throws {
        let sentences = try SST2.comparisonSet()
        for family in BPEFixture.families {
            let path = TestPaths.repoRoot.appendingPathComponent("models/reference/bpe-\(family)-sst2-token-ids.json").path
            guard let data = FileManager.default.contents(atPath: path) else {
                let why = "\(path) not found; make it with: python3 tools/reference/make_bpe_reference.py reference --data \"$SST2_DIR\""
                try MissingResource.report(why)
            }
            let reference = try JSONDecoder().decode(TokenIDReference.self, from: data)
            guard reference.devText + reference.trainText == sentences else {
                return XCTFail("\(path) was made from other SST-2 text than \(TestPaths.sst2.path); remake it")
            }
            let tokenizer = try BPEFixture.load(family)
            let expected = reference.dev + reference.train
            let ours = try tokenizer.encodeBatch(sentences)
            var mismatches = 0, roundTripFailures = 0
            for index in sentences.indices {
                if ours[index] != expected[index] {
                    mismatches += 1
                    if mismatches <= 5 {
                        XCTFail("\(family) sentence \(index) \(sentences[index].debugDescription): ours \(ours[index]) vs transformers \(expected[index])")
                    }
                }
                // Scalar by scalar: String's == would accept any canonically equivalent text.
                let original = family == "qwen2" ? sentences[index].precomposedStringWithCanonicalMapping : sentences[index]
                if Array(try tokenizer.decode(ours[index]).unicodeScalars) != Array(original.unicodeScalars) { roundTripFailures += 1 }
            }
            XCTAssertEqual(mismatches, 0, "\(family): SST-2 sentences whose ids differ from transformers \(reference.transformersVersion)")
            XCTAssertEqual(roundTripFailures, 0, "\(family): SST-2 sentences whose decode(encode(x)) != x")
            XCTAssertEqual(expected.count, 5872)
            XCTAssertGreaterThan(expected.reduce(0) { $0 + $1.count }, 5 * expected.count, "\(family): real tokenisations")
            print("\(family): \(expected.count - mismatches)/\(expected.count) SST-2 sentences equal to transformers' ids")
        }
    }
}
