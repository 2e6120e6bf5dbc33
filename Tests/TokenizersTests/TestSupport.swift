// Shared helpers for the tokenizer tests: where the repo, SST-2 and the Gemma tokenizer live,
// a minimal TSV reader, and runners for the Debian SentencePiece CLIs (spm_train, spm_encode).

import Foundation
import TestSupport
import XCTest

import Tokenizers

enum TestPaths {
    /// <repo>: this file is <repo>/Tests/TokenizersTests/TestSupport.swift.
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// SST-2 folder, as Tests/TestSupport/Repo.swift finds it (this target does not depend on
    /// TestSupport): $SST2_DIR (relative to the repo if relative), else <repo>/../shared/data/sst2,
    /// else <repo>/data/sst2.
    static var sst2: URL {
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["SST2_DIR"], !dir.isEmpty {
            candidates.append(dir.hasPrefix("/") ? URL(fileURLWithPath: dir, isDirectory: true)
                              : repoRoot.appendingPathComponent(dir, isDirectory: true))
        }
        candidates.append(repoRoot.deletingLastPathComponent().appendingPathComponent("shared/data/sst2", isDirectory: true))
        candidates.append(repoRoot.appendingPathComponent("data/sst2", isDirectory: true))
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("dev.tsv").path) }
            ?? candidates[0]
    }

    /// Gemma-3-270M folder: env ZOFINETUNE_GEMMA_DIR, else <repo>/models/gemma-3-270m.
    static var gemmaDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["ZOFINETUNE_GEMMA_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir, isDirectory: true)
        }
        return repoRoot.appendingPathComponent("models/gemma-3-270m", isDirectory: true)
    }
}

enum TestFailure: Error, CustomStringConvertible {
    case message(String)
    var description: String {
        switch self { case .message(let text): return text }
    }
}

/// A token-id dump of tools/reference/reference_token_ids.py or tools/reference/reference_encoder_token_ids.py:
/// transformers' ids (add_special_tokens=False) of SST-2 dev and the first 5,000 train sentences,
/// with the text they were made from.
struct TokenIDReference: Decodable {
    let dev: [[Int32]]
    let train: [[Int32]]
    let devText: [String]
    let trainText: [String]
    let transformersVersion: String

    enum CodingKeys: String, CodingKey {
        case dev, train
        case devText = "dev_text", trainText = "train_text"
        case transformersVersion = "transformers_version"
    }
}

enum SST2 {
    /// Text column of an SST-2 TSV: header first, column found by name (`sentence` in train,
    /// `content` in dev), fields split on tab. train.tsv has CRLF line ends; strip the CR.
    static func sentences(_ file: String, limit: Int? = nil) throws -> [String] {
        let url = TestPaths.sst2.appendingPathComponent(file)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TestFailure.message("SST-2 file not found: \(url.path) (set SST2_DIR or run tools/setup/fetch_sst2.sh)")
        }
        // Split bytes, not Characters: Swift treats "\r\n" as one Character, so splitting a
        // String on "\n" would not split train.tsv's CRLF lines at all.
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map { line in
            String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self)
        }
        guard !lines.isEmpty else { throw TestFailure.message("\(url.path) is empty") }
        let header = lines.removeFirst().split(separator: "\t", omittingEmptySubsequences: false)
        guard let column = header.firstIndex(where: { ["sentence", "content", "text"].contains(String($0)) }) else {
            throw TestFailure.message("\(url.path): no sentence/content/text column in header \(header.prefix(4))")
        }
        var result: [String] = []
        for line in lines {
            if let limit, result.count == limit { break }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard column < fields.count else { throw TestFailure.message("\(url.path): short row '\(line)'") }
            result.append(String(fields[column]))
        }
        return result
    }

    /// Every dev sentence (872) followed by the first 5,000 train sentences.
    static func comparisonSet() throws -> [String] {
        let dev = try sentences("dev.tsv")
        let train = try sentences("train.tsv", limit: 5000)
        guard dev.count == 872, train.count == 5000 else {
            throw TestFailure.message("expected 872 dev + 5000 train sentences, got \(dev.count) + \(train.count)")
        }
        return dev + train
    }
}

enum SentencePieceCLI {
    /// Absolute path of a sentencepiece CLI (Debian package `sentencepiece`).
    static func tool(_ name: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw TestFailure.message("\(name) not found on PATH; install the Debian package 'sentencepiece'")
    }

    /// Runs a tool; returns stdout; throws with stderr on a non-zero exit.
    @discardableResult
    static func run(_ name: String, _ arguments: [String], stdinFile: URL? = nil) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try tool(name))
        process.arguments = arguments
        let stdout = Pipe()
        let stderrFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("zf-spm-stderr-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: stderrFile.path, contents: nil) else {
            throw TestFailure.message("cannot create \(stderrFile.path)")
        }
        defer { try? FileManager.default.removeItem(at: stderrFile) }
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        if let stdinFile { process.standardInput = try FileHandle(forReadingFrom: stdinFile) }
        try process.run()
        // Read before waiting so a large output cannot fill the pipe and deadlock.
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let errors = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
            throw TestFailure.message("\(name) \(arguments) exited \(process.terminationStatus): \(errors)")
        }
        return output
    }

    /// `spm_encode --model M --output_format=id` over `sentences`, one per line via a temp file.
    static func encodeIDs(model: String, sentences: [String]) throws -> [[Int32]] {
        precondition(!sentences.contains { $0.contains("\n") }, "spm_encode reads one sentence per line")
        let input = FileManager.default.temporaryDirectory
            .appendingPathComponent("zf-spm-input-\(UUID().uuidString).txt")
        try Data((sentences.joined(separator: "\n") + "\n").utf8).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let output = try run("spm_encode", ["--model", model, "--output_format=id"], stdinFile: input)
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        // The output ends with "\n", so the split leaves one empty trailing element.
        guard lines.count == sentences.count + 1, lines.last == "" else {
            throw TestFailure.message("spm_encode gave \(lines.count - 1) lines for \(sentences.count) sentences")
        }
        return try lines.dropLast().map { line in
            try line.split(separator: " ").map { field in
                guard let id = Int32(field) else { throw TestFailure.message("spm_encode: bad id '\(field)'") }
                return id
            }
        }
    }
}

/// Small BPE models trained once per test run with `spm_train` from 20,000 SST-2 train phrases,
/// so the wrapper can be tested without the 5 MB Gemma model. Both use byte fallback and the
/// identity normaliser as Gemma does.
enum SmallModel {
    static let vocabularySize = 2000

    /// sentencepiece's defaults otherwise: a dummy "▁" prefix, extra whitespace removed, ids
    /// unk 0, bos 1, eos 2, no pad. Not eligible for the word cache (the dummy prefix).
    static let path: Result<String, Error> = Result { try train(name: "default", extra: []) }

    /// Gemma's normaliser settings (no dummy prefix, whitespace kept), so the word cache applies,
    /// plus user-defined symbols that defeat naive splitting at spaces: "x▁y" spans a word
    /// boundary, "▁▁" is a run of spaces, "<b>" is a tag.
    static let gemmaLikePath: Result<String, Error> = Result {
        try train(name: "gemma-like", extra: [
            "--add_dummy_prefix=false", "--remove_extra_whitespaces=false",
            "--user_defined_symbols=x▁y,▁▁,<b>",
        ])
    }

    static let tokenizer: Result<SentencePieceTokenizer, Error> = Result {
        try SentencePieceTokenizer(modelPath: try path.get())
    }

    private static func train(name: String, extra: [String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("zf-spm-\(name)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let text = directory.appendingPathComponent("train.txt")
        try Data(SST2.sentences("train.tsv", limit: 20000).joined(separator: "\n").utf8).write(to: text)
        let prefix = directory.appendingPathComponent("tokenizer").path
        try SentencePieceCLI.run("spm_train", [
            "--input=\(text.path)", "--model_prefix=\(prefix)", "--vocab_size=\(vocabularySize)",
            "--model_type=bpe", "--byte_fallback=true", "--normalization_rule_name=identity",
            "--character_coverage=1.0", "--minloglevel=2",
        ] + extra)
        try? FileManager.default.removeItem(at: text)  // keep only the small model files in /tmp
        return prefix + ".model"
    }
}

/// Text built to break a word splitter: runs of spaces, leading/trailing spaces, tabs, a literal
/// "▁", tags around spaces (Gemma has the piece ">▁</"; the gemma-like model "x▁y"), non-Latin
/// scripts, emoji and a NUL. No newlines (spm_encode reads lines).
enum TrickyText {
    static let fixed: [String] = [
        "", " ", "  ", "   ", "a", " a", "a ", "  a  ", "a  b", "a   b", "a\tb", "a \t b", "\t a",
        "x y", "a x y b", "x  y", "x y y x", "xx yy", "<b> x", "x y<b>", "> </", "a> </", "a> </b>", "<i> </i> >",
        ">▁</", "a▁b", "▁ a", "a ▁", "▁▁ ▁", "naïve café", "☃ ☃  ☃", "日本 語", "😀 😀", "a\u{0} b",
        "it 's a great movie .", " great", " terrible", "It was great", "... it was  terrible !",
    ]

    static let alphabet = [
        "a", "b", "x", "y", "the", "movie", " ", " ", " ", "  ", "\t", "▁", ">", "</", "<b>", "é", "☃",
        "日", "😀", ".", ",", "'s", "\u{0}",
    ]

    /// `count` reproducible random strings over `alphabet` (SplitMix64 from `seed`).
    static func random(count: Int, seed: UInt64) -> [String] {
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return (0..<count).map { _ in
            let length = Int(next() % 14) + 1
            return (0..<length).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }.joined()
        }
    }
}

/// The real Gemma tokenizer, loaded once.
enum Gemma {
    static let tokenizer: Result<SentencePieceTokenizer, Error> = Result {
        try SentencePieceTokenizer(
            modelPath: TestPaths.gemmaDirectory.appendingPathComponent("tokenizer.model").path)
    }

    /// The Gemma tokenizer, or nil after recording why not.
    ///
    /// The model is produced by tools/setup/fetch_model.py, not committed. A missing model is a test
    /// failure by default, so a CI run cannot go green while silently testing nothing; a
    /// developer without the model can opt out with ZOFINETUNE_ALLOW_MISSING_MODEL=1, which turns
    /// these tests into skips (reported as skipped, not passed).
    static func loadOrSkip(file: StaticString = #filePath, line: UInt = #line) throws -> SentencePieceTokenizer? {
        let modelPath = TestPaths.gemmaDirectory.appendingPathComponent("tokenizer.model").path
        if !FileManager.default.fileExists(atPath: modelPath) {
            let why = "Gemma tokenizer not found at \(modelPath); run tools/setup/fetch_model.py"
            try MissingResource.report(why, file: file, line: line)
        }
        return try tokenizer.get()
    }
}

/// A fresh empty temp directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("zf-tok-test-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// Index and details of the first mismatch between two id lists, for readable failures.
func firstMismatch(_ sentences: [String], _ ours: [[Int32]], _ reference: [[Int32]]) -> String? {
    for (index, (a, b)) in zip(ours, reference).enumerated() where a != b {
        return "sentence \(index) '\(sentences[index])': ours \(a) vs spm_encode \(b)"
    }
    return ours.count == reference.count ? nil : "count \(ours.count) vs \(reference.count)"
}
