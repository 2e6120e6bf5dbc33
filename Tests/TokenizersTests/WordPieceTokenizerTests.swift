// WordPiece and BERT's basic tokenisation on hand-made cases whose answers were checked against
// transformers' BertTokenizer (tokenizers' BertNormalizer + BertPreTokenizer + WordPiece).

import Foundation
import XCTest

import Tokenizers

final class WordPieceTokenizerTests: XCTestCase {
    private var directory: URL!
    /// A tiny vocabulary: ids are line numbers.
    private static let vocabulary = [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",      // 0-4
        "un", "##aff", "##able", "hello", "world",          // 5-9
        ",", "!", "'", "-", "naive",                        // 10-14
        "東", "京", "σ", "##σ", "ο", "##ο", "##δ", "a", "b", "x", "##y", "don", "t", // 15-27
    ]

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
        try Data((Self.vocabulary.joined(separator: "\n") + "\n").utf8)
            .write(to: directory.appendingPathComponent("vocab.txt"))
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private func tokenizer(config: String? = nil) throws -> Tokenizer {
        if let config {
            try Data(config.utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        }
        return try TokenizerLoader.load(modelDirectory: directory.path)
    }

    private func pieces(_ t: Tokenizer, _ text: String) throws -> [String] {
        try t.encode(text).map { t.piece(for: $0)! }
    }

    func testLoaderPicksWordPieceForVocabTxt() throws {
        let t = try tokenizer()
        XCTAssertTrue(t is WordPieceTokenizer)
        XCTAssertEqual(t.vocabularySize, Self.vocabulary.count)
        XCTAssertEqual(t.bosID, 2)   // [CLS]
        XCTAssertEqual(t.eosID, 3)   // [SEP]
        XCTAssertEqual(t.padID, 0)
        XCTAssertEqual(t.unknownID, 1)
    }

    func testGreedyLongestMatchFirst() throws {
        let t = try tokenizer()
        XCTAssertEqual(try pieces(t, "unaffable"), ["un", "##aff", "##able"])
        // No piece covers "##q": the whole word is one [UNK], not "un" + [UNK].
        XCTAssertEqual(try pieces(t, "unaffq hello"), ["[UNK]", "hello"])
    }

    /// The same sentence transformers' BertTokenizer splits as
    /// hello , world ! ! naive 東 京 don ' t ο ##δ ##ο ##σ a b x ##y
    func testBasicTokenisationMatchesTransformers() throws {
        let t = try tokenizer()
        let text = "Héllo, WORLD!! naïve 東京 don't ΟΔΟΣ a\u{2028}b x\u{0085}y\u{00AD}"
        XCTAssertEqual(try pieces(t, text),
                       ["hello", ",", "world", "!", "!", "naive", "東", "京", "don", "'", "t",
                        "ο", "##δ", "##ο", "##σ", "a", "b", "x", "##y"])
    }

    func testWordsLongerThan100CharactersAreUnknown() throws {
        let t = try tokenizer()
        let word = "x" + String(repeating: "y", count: 99)   // x ##y ##y ... : 100 characters, 100 pieces
        XCTAssertEqual(try t.encode(word).count, 100)
        XCTAssertEqual(try pieces(t, word + "y"), ["[UNK]"])
    }

    func testCasedConfigKeepsCaseAndAccents() throws {
        let t = try tokenizer(config: #"{"do_lower_case": false, "strip_accents": null, "tokenize_chinese_chars": false}"#)
        XCTAssertEqual(try pieces(t, "Hello hello"), ["[UNK]", "hello"])
        XCTAssertEqual(try pieces(t, "naïve"), ["[UNK]"])
        XCTAssertEqual(try pieces(t, "東京"), ["[UNK]"])
    }

    func testLowercaseWithoutAccentStripping() throws {
        let t = try tokenizer(config: #"{"do_lower_case": true, "strip_accents": false}"#)
        XCTAssertEqual(try pieces(t, "NAIVE naïve"), ["naive", "[UNK]"])
    }

    func testEncoderInputAddsSpecialTokensAndTruncates() throws {
        let t = try tokenizer() as! WordPieceTokenizer
        XCTAssertEqual(try t.encodeForEncoder("hello world", maxLength: 16), [2, 8, 9, 3])
        XCTAssertEqual(try t.encodeForEncoder("hello world !", maxLength: 4), [2, 8, 9, 3])
        XCTAssertEqual(try t.decode([8, 5, 6, 7, 10]), "hello unaffable ,")
    }
}
