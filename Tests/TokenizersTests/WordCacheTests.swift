// The word cache (CSentencePiece/word_cache.hpp) must never change ids: it is compared with
// sentencepiece encoding whole texts (cache off) and with the spm_encode CLI, on text built to
// break a word splitter, for a small model with Gemma's settings and for Gemma itself.

import CSentencePiece
import Foundation
import XCTest

import Tokenizers

final class WordCacheTests: XCTestCase {
    /// Ids with the cache on, then with it off, from one fresh instance (so the shared instances
    /// other tests use are never toggled).
    private func encodeBothWays(modelPath: String, _ texts: [String]) throws -> (cached: [[Int32]], whole: [[Int32]]) {
        let tokenizer = try SentencePieceTokenizer(modelPath: modelPath)
        XCTAssertTrue(tokenizer.wordCacheEnabled)
        // Twice with the cache on: the second pass reads words the first pass stored.
        _ = try texts.map { try tokenizer.encode($0) }
        let cached = try texts.map { try tokenizer.encode($0) }
        tokenizer.wordCacheEnabled = false
        XCTAssertFalse(tokenizer.wordCacheEnabled)
        let whole = try texts.map { try tokenizer.encode($0) }
        return (cached, whole)
    }

    private func assertSame(_ texts: [String], _ a: [[Int32]], _ b: [[Int32]], _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        var shown = 0
        for (index, (x, y)) in zip(a, b).enumerated() where x != y {
            shown += 1
            if shown <= 5 { XCTFail("\(what): '\(texts[index].debugDescription)' gives \(x) vs \(y)", file: file, line: line) }
        }
        XCTAssertEqual(shown, 0, "\(what): \(shown) of \(texts.count) texts differ", file: file, line: line)
    }

    func testEligibility() throws {
        XCTAssertFalse(try SentencePieceTokenizer(modelPath: try SmallModel.path.get()).wordCacheSupported,
                       "a dummy prefix makes word-by-word encoding differ; the cache must stay off")
        XCTAssertTrue(try SentencePieceTokenizer(modelPath: try SmallModel.gemmaLikePath.get()).wordCacheSupported)
    }

    func testGemmaLikeModelCachedEqualsWholeOnTrickyAndRandomText() throws {
        let texts = TrickyText.fixed + TrickyText.random(count: 20_000, seed: 1)
        let (cached, whole) = try encodeBothWays(modelPath: try SmallModel.gemmaLikePath.get(), texts)
        assertSame(texts, cached, whole, "cache on vs off")
    }

    func testGemmaLikeModelMatchesSpmEncode() throws {
        let path = try SmallModel.gemmaLikePath.get()
        let tokenizer = try SentencePieceTokenizer(modelPath: path)
        let texts = try SST2.comparisonSet() + TrickyText.fixed.filter { !$0.contains("\u{0}") }
            + TrickyText.random(count: 3000, seed: 2).filter { !$0.contains("\u{0}") }
        let reference = try SentencePieceCLI.encodeIDs(model: path, sentences: texts)
        assertSame(texts, try texts.map { try tokenizer.encode($0) }, reference, "ours vs spm_encode")
        // The user-defined "x▁y" across a space must survive: naive splitting would give "▁y".
        XCTAssertEqual(try tokenizer.encode("a x y").map { tokenizer.piece(for: $0) }, ["a", "▁", "x▁y"])
    }

    func testGemmaCachedEqualsWholeOnTrickyRandomAndSST2Text() throws {
        guard try Gemma.loadOrSkip() != nil else { return }
        let path = TestPaths.gemmaDirectory.appendingPathComponent("tokenizer.model").path
        let texts = TrickyText.fixed + TrickyText.random(count: 5000, seed: 3) + (try SST2.sentences("dev.tsv"))
        let (cached, whole) = try encodeBothWays(modelPath: path, texts)
        assertSame(texts, cached, whole, "cache on vs off")
    }

    func testGemmaMatchesSpmEncodeOnTrickyText() throws {
        guard let tokenizer = try Gemma.loadOrSkip() else { return }
        XCTAssertTrue(tokenizer.wordCacheSupported)
        let path = TestPaths.gemmaDirectory.appendingPathComponent("tokenizer.model").path
        let texts = TrickyText.fixed.filter { !$0.contains("\u{0}") }
            + TrickyText.random(count: 2000, seed: 4).filter { !$0.contains("\u{0}") }
        let reference = try SentencePieceCLI.encodeIDs(model: path, sentences: texts)
        assertSame(texts, try texts.map { try tokenizer.encode($0) }, reference, "ours vs spm_encode")
        // Gemma's ">▁</" piece spans the space: the split before " </" must not happen.
        XCTAssertEqual(try tokenizer.encode("a> </").map { tokenizer.piece(for: $0) }, ["a", ">▁</"])
    }

    /// Malformed UTF-8 can only arrive through the C API; the cache must hand it to sentencepiece
    /// whole (its normaliser widens each bad byte to U+FFFD, which would shift split offsets).
    func testMalformedUTF8IsEncodedWhole() throws {
        var handle: OpaquePointer?
        XCTAssertEqual(zf_spm_load(try SmallModel.gemmaLikePath.get(), &handle), ZF_SPM_OK)
        let processor = try XCTUnwrap(handle)
        defer { zf_spm_free(processor) }
        XCTAssertEqual(zf_spm_word_cache_supported(processor), 1)
        let inputs: [[UInt8]] = [
            [0x61, 0x20, 0xFF, 0x20, 0x62], [0xE2, 0x96, 0x20, 0x78, 0x20, 0x79], [0x78, 0xC3, 0x20, 0x79],
            [0x20, 0x80, 0x80, 0x20, 0x20, 0x61], [0xF0, 0x9F, 0x98, 0x20, 0x3E, 0x20, 0x3C, 0x2F],
        ]
        for bytes in inputs {
            func encode() -> [Int32] {
                var ids = [Int32](repeating: 0, count: 64)
                var count = 0
                let status = bytes.withUnsafeBufferPointer { buffer in
                    buffer.withMemoryRebound(to: CChar.self) {
                        zf_spm_encode(processor, $0.baseAddress, $0.count, &ids, ids.count, &count)
                    }
                }
                XCTAssertEqual(status, ZF_SPM_OK)
                return Array(ids.prefix(count))
            }
            XCTAssertEqual(zf_spm_set_word_cache(processor, 1), 1)
            let cached = encode()
            XCTAssertEqual(zf_spm_set_word_cache(processor, 0), 0)
            XCTAssertEqual(cached, encode(), "\(bytes)")
        }
    }
}
