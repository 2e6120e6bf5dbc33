// Loading failures: each names the folder or file so the user knows what to fix, and none crashes.

import Foundation
import XCTest

import Tokenizers

final class TokenizerErrorTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private func assertError(
        _ kind: TokenizerError.Kind, mentioning needles: [String], file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> Any
    ) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let error = error as? TokenizerError else {
                return XCTFail("expected TokenizerError, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            for needle in needles {
                XCTAssertTrue(error.description.contains(needle), "'\(error)' lacks '\(needle)'", file: file, line: line)
            }
        }
    }

    func testEmptyFolderNamesTheFolder() {
        assertError(.modelNotFound, mentioning: ["tokenizer.model not found in \(directory.path)"]) {
            try TokenizerLoader.load(modelDirectory: self.directory.path)
        }
    }

    func testMissingModelFileNamesTheFolder() {
        let path = directory.appendingPathComponent("tokenizer.model").path
        assertError(.modelNotFound, mentioning: ["tokenizer.model not found in \(directory.path)"]) {
            try SentencePieceTokenizer(modelPath: path)
        }
    }

    func testMissingFolderNamesTheFolder() {
        let missing = directory.appendingPathComponent("no-such-model").path
        assertError(.directoryNotFound, mentioning: [missing]) { try TokenizerLoader.load(modelDirectory: missing) }
    }

    func testWordPieceVocabularyWithoutSpecialTokensNamesTheFile() throws {
        try Data("[PAD]\n[UNK]\n".utf8).write(to: directory.appendingPathComponent("vocab.txt"))
        assertError(.invalidModel, mentioning: [directory.appendingPathComponent("vocab.txt").path, "[CLS]"]) {
            try TokenizerLoader.load(modelDirectory: self.directory.path)
        }
    }

    func testGarbageFileIsAnErrorNamingTheFile() throws {
        let path = directory.appendingPathComponent("tokenizer.model")
        var generator = SystemRandomNumberGenerator()
        try Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: path)
        assertError(.invalidModel, mentioning: [path.path, "not a valid SentencePiece model"]) {
            try TokenizerLoader.load(modelDirectory: self.directory.path)
        }
    }

    func testEmptyAndTruncatedFilesAreErrors() throws {
        let empty = directory.appendingPathComponent("empty.model")
        try Data().write(to: empty)
        // An empty file parses as an empty ModelProto; sentencepiece must still refuse it.
        assertError(.invalidModel, mentioning: [empty.path]) { try SentencePieceTokenizer(modelPath: empty.path) }

        let truncated = directory.appendingPathComponent("truncated.model")
        let whole = try Data(contentsOf: URL(fileURLWithPath: try SmallModel.path.get()))
        try whole.prefix(whole.count / 3).write(to: truncated)
        assertError(.invalidModel, mentioning: [truncated.path]) { try SentencePieceTokenizer(modelPath: truncated.path) }
    }

    func testDirectoryInPlaceOfModelFileIsAnError() throws {
        let path = directory.appendingPathComponent("tokenizer.model")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: false)
        assertError(.invalidModel, mentioning: [path.path, "is a directory"]) {
            try TokenizerLoader.load(modelDirectory: self.directory.path)
        }
    }
}
