// The SentencePiece wrapper against a small BPE model trained here with spm_train: agreement with
// the spm_encode CLI, round trips, the vocabulary lookups, byte fallback, and thread safety.

import Foundation
import XCTest

import Tokenizers

final class SmallModelTests: XCTestCase {
    private func tokenizer() throws -> SentencePieceTokenizer { try SmallModel.tokenizer.get() }

    func testIdsMatchSpmEncodeOnSST2() throws {
        let tokenizer = try tokenizer()
        let sentences = try SST2.comparisonSet()
        let ours = try sentences.map { try tokenizer.encode($0) }
        let reference = try SentencePieceCLI.encodeIDs(model: try SmallModel.path.get(), sentences: sentences)
        XCTAssertEqual(ours.count, 5872)
        XCTAssertNil(firstMismatch(sentences, ours, reference))
    }

    func testDecodeInvertsEncodeOnSST2() throws {
        let tokenizer = try tokenizer()
        for sentence in try SST2.comparisonSet() {
            XCTAssertEqual(try tokenizer.decode(try tokenizer.encode(sentence)), sentence)
        }
    }

    func testSpecialIdsAndVocabularySize() throws {
        let tokenizer = try tokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, SmallModel.vocabularySize)
        // spm_train defaults: unk 0, bos 1, eos 2, pad disabled (-1 -> nil).
        XCTAssertEqual(tokenizer.unknownID, 0)
        XCTAssertEqual(tokenizer.bosID, 1)
        XCTAssertEqual(tokenizer.eosID, 2)
        XCTAssertNil(tokenizer.padID)
        XCTAssertEqual(tokenizer.piece(for: 0), "<unk>")
        XCTAssertEqual(tokenizer.piece(for: 1), "<s>")
        XCTAssertEqual(tokenizer.piece(for: 2), "</s>")
        XCTAssertTrue(tokenizer.isUnknown(0))
        XCTAssertTrue(tokenizer.isControl(1))
        XCTAssertTrue(tokenizer.isControl(2))
        XCTAssertFalse(tokenizer.isControl(0))
        XCTAssertTrue(tokenizer.isByte(3))  // byte pieces follow the reserved ids
        XCTAssertEqual(tokenizer.piece(for: 3), "<0x00>")
        XCTAssertFalse(tokenizer.isByte(Int32(SmallModel.vocabularySize - 1)))
        // Out-of-range ids are rejected, not passed to sentencepiece (which would read past the end).
        XCTAssertFalse(tokenizer.isControl(-1))
        XCTAssertFalse(tokenizer.isByte(Int32(SmallModel.vocabularySize)))
    }

    func testPieceIdLookupsInvertEachOtherOverTheWholeVocabulary() throws {
        let tokenizer = try tokenizer()
        for id in 0..<Int32(tokenizer.vocabularySize) {
            guard let piece = tokenizer.piece(for: id) else { return XCTFail("no piece for id \(id)") }
            XCTAssertEqual(tokenizer.id(for: piece), id, "piece '\(piece)'")
        }
        XCTAssertNil(tokenizer.piece(for: -1))
        XCTAssertNil(tokenizer.piece(for: Int32(tokenizer.vocabularySize)))
        // sentencepiece maps unknown pieces to unk; we answer nil, but "<unk>" itself is found.
        XCTAssertNil(tokenizer.id(for: "definitely-not-a-piece"))
        XCTAssertEqual(tokenizer.id(for: "<unk>"), 0)
        XCTAssertEqual(try tokenizer.encode("movie").map { tokenizer.piece(for: $0) }, ["▁movie"])
    }

    func testByteFallbackAndEmbeddedNulRoundTrip() throws {
        let tokenizer = try tokenizer()
        // None of ☃, 日本 or NUL occurs in SST-2, so they go through byte pieces.
        let text = "naïve ☃ 日本 a\u{0}b"
        let ids = try tokenizer.encode(text)
        XCTAssertTrue(ids.contains { tokenizer.isByte($0) })
        XCTAssertTrue(ids.contains(tokenizer.id(for: "<0x00>")!))
        XCTAssertEqual(try tokenizer.decode(ids), text)  // decode must go by length, not stop at NUL
        XCTAssertEqual(try tokenizer.encode(""), [])
        XCTAssertEqual(try tokenizer.decode([]), "")
    }

    func testLongTextEncodesLikeItsParts() throws {
        // Thousands of ids in one call: the buffer is sized from the text, not a fixed guess.
        let tokenizer = try tokenizer()
        let sentences = try SST2.sentences("dev.tsv")
        let text = sentences.joined(separator: " ")
        let ids = try tokenizer.encode(text)
        XCTAssertGreaterThan(ids.count, 10_000)
        XCTAssertEqual(try tokenizer.decode(ids), text)
        // With the dummy prefix every sentence starts at a "▁" boundary, so joining by one space
        // tokenises exactly as the concatenation of the parts.
        XCTAssertEqual(ids, try sentences.flatMap { try tokenizer.encode($0) })
    }

    func testDecodeRejectsOutOfRangeIds() throws {
        let tokenizer = try tokenizer()
        for bad: Int32 in [-1, Int32(tokenizer.vocabularySize), .max] {
            XCTAssertThrowsError(try tokenizer.decode([5, bad])) { error in
                let error = error as? TokenizerError
                XCTAssertEqual(error?.kind, .decodingFailed)
                XCTAssertEqual(error?.statusCode, 11)  // ZF_SPM_OUT_OF_RANGE
                XCTAssertTrue(error?.description.contains("id \(bad) outside vocabulary") ?? false, "\(String(describing: error))")
            }
        }
    }

    func testConcurrentEncodingMatchesSerial() throws {
        let tokenizer = try tokenizer()
        let sentences = try SST2.sentences("train.tsv", limit: 5000)
        let serial = try sentences.map { try tokenizer.encode($0) }
        let chunks = 4
        var results = [[[Int32]]](repeating: [], count: chunks)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            // Every chunk encodes everything, so all threads hit the handle at the same time.
            let ids = sentences.map { (try? tokenizer.encode($0)) ?? [-1] }
            lock.lock()
            results[chunk] = ids
            lock.unlock()
        }
        for chunk in results { XCTAssertTrue(chunk == serial) }
    }

    func testBatchEncodingMatchesOneByOne() throws {
        let tokenizer = try tokenizer()
        let sentences = try SST2.sentences("train.tsv", limit: 3000)
        let serial = try sentences.map { try tokenizer.encode($0) }
        for threads in [1, 2, 3, 7] {
            XCTAssertTrue(try tokenizer.encodeBatch(sentences, threads: threads) == serial, "threads \(threads)")
        }
        XCTAssertEqual(try tokenizer.encodeBatch([], threads: 4), [])
    }

    func testLoaderFindsTokenizerModelInFolder() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(
            atPath: try SmallModel.path.get(), toPath: directory.appendingPathComponent("tokenizer.model").path)
        let loaded = try TokenizerLoader.load(modelDirectory: directory.path)
        XCTAssertEqual(loaded.vocabularySize, SmallModel.vocabularySize)
        XCTAssertEqual(try loaded.encode("a gorgeous movie ."), try tokenizer().encode("a gorgeous movie ."))
    }
}
