// Model folders for the CLI tests: a valid tiny Gemma-3 (Tests/Fixtures/tiny-gemma3 weights and
// config, vocabulary 128, plus a SentencePiece model small enough for it), and ways to break it
// one thing at a time, down to single fields of the safetensors header.

import Foundation
import TestSupport

/// A temporary folder, removed by `remove()`.
struct TemporaryFolder {
    let url: URL
    var path: String { url.path }

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("zf-cli-\(label)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }
    func write(_ name: String, _ text: String) throws { try Data(text.utf8).write(to: file(name)) }
    func remove() { try? FileManager.default.removeItem(at: url) }

    /// A data folder in SST-2's format: six labelled sentences in train.tsv, the first four in dev.tsv.
    static func tinySST2(_ label: String) throws -> TemporaryFolder {
        let data = try TemporaryFolder(label)
        let rows = ["1\ta great movie", "0\tit was terrible and dull", "1\tthe film is a delight",
                    "0\tan awful , boring film", "1\ta charming and often affecting journey", "0\tdull"]
        try data.write("train.tsv", "label\tsentence\n" + rows.joined(separator: "\n") + "\n")
        try data.write("dev.tsv", "label\tsentence\n" + rows.prefix(4).joined(separator: "\n") + "\n")
        return data
    }
}

enum TinyTokenizer {
    /// Text for spm_train: " great" and " terrible" occur often enough to become single pieces,
    /// as the SST-2 label words must be.
    static let trainingText: String = {
        var lines = [
            "the film is a delight . it was great", "the movie is dull and it was terrible",
            "a great movie", "an awful , boring film", "it 's a charming and often affecting journey .",
        ]
        for _ in 0..<20 { lines += ["it was great", "it was terrible"] }
        return lines.joined(separator: "\n") + "\n"
    }()

    /// A BPE model of at most 64 pieces (< the fixture's 128 rows), trained once per test run.
    static let small: Result<URL, Error> = Result { try train(name: "small", extra: ["--vocab_size=64", "--hard_vocab_limit=false"]) }

    /// A byte-fallback model of 300 pieces: more ids than the fixture's 128 embedding rows.
    static let large: Result<URL, Error> = Result { try train(name: "large", extra: ["--vocab_size=300", "--byte_fallback=true", "--hard_vocab_limit=false"]) }

    private static func train(name: String, extra: [String]) throws -> URL {
        let folder = try TemporaryFolder("spm-\(name)")
        try folder.write("text.txt", trainingText)
        let tool = ["/usr/bin/spm_train", "/usr/local/bin/spm_train"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let tool else { throw CLIFailure("spm_train not found; install the Debian package 'sentencepiece'") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--input=\(folder.file("text.txt").path)", "--model_prefix=\(folder.file("tok").path)",
                             "--model_type=bpe", "--character_coverage=1.0", "--minloglevel=2"] + extra
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let model = folder.file("tok.model")
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: model.path) else {
            throw CLIFailure("spm_train \(process.arguments!.joined(separator: " ")) failed (status \(process.terminationStatus))")
        }
        return model
    }
}

/// A copy of the tiny Gemma-3 fixture with a tokenizer, in its own temporary folder.
struct TinyModelFolder {
    let folder: TemporaryFolder
    var path: String { folder.path }
    var weightsPath: String { folder.file("model.safetensors").path }
    var configPath: String { folder.file("config.json").path }
    var tokenizerPath: String { folder.file("tokenizer.model").path }

    init(_ label: String, tokenizer: URL? = nil) throws {
        folder = try TemporaryFolder(label)
        let fixture = URL(fileURLWithPath: Repo.fixture("tiny-gemma3"))
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: fixture.appendingPathComponent(name), to: folder.file(name))
        }
        try FileManager.default.copyItem(at: tokenizer ?? TinyTokenizer.small.get(), to: folder.file("tokenizer.model"))
    }

    func remove() { folder.remove() }

    /// Replaces model.safetensors with `bytes`.
    func writeWeights(_ bytes: Data) throws { try bytes.write(to: folder.file("model.safetensors")) }

    func readWeights() throws -> SafeTensorsBytes { try SafeTensorsBytes(Data(contentsOf: folder.file("model.safetensors"))) }

    func deleteFile(_ name: String) throws { try FileManager.default.removeItem(at: folder.file(name)) }

    /// Rewrites config.json with `change` applied to its JSON object.
    func editConfig(_ change: (inout [String: Any]) -> Void) throws {
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.file("config.json"))) as! [String: Any]
        change(&config)
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: folder.file("config.json"))
    }
}

/// A safetensors file taken apart: 8-byte little-endian header length, JSON header, data.
struct SafeTensorsBytes {
    var header: [String: Any]
    let headerBytes: Data
    let data: Data
    let whole: Data

    init(_ bytes: Data) throws {
        whole = bytes
        guard bytes.count >= 8 else { throw CLIFailure("safetensors file of \(bytes.count) bytes") }
        let length = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        let end = 8 + Int(length)
        headerBytes = bytes.subdata(in: 8..<end)
        data = bytes.subdata(in: end..<bytes.count)
        guard let json = try JSONSerialization.jsonObject(with: headerBytes) as? [String: Any] else {
            throw CLIFailure("safetensors header is not a JSON object")
        }
        header = json
    }

    /// The tensor entry `name` (dtype, shape, data_offsets).
    func entry(_ name: String) throws -> [String: Any] {
        guard let entry = header[name] as? [String: Any] else { throw CLIFailure("fixture has no tensor \(name)") }
        return entry
    }

    mutating func setField(_ name: String, _ key: String, _ value: Any) throws {
        var changed = try entry(name)
        changed[key] = value
        header[name] = changed
    }

    /// The file again, with `headerBytes` (default: the re-serialised `header`) padded with
    /// spaces to a multiple of 8 as safetensors writers do, and the data section unchanged.
    func bytes(headerBytes override: Data? = nil) throws -> Data {
        var json = try override ?? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(UInt8(ascii: " ")) }
        var out = Data((0..<8).map { UInt8(truncatingIfNeeded: UInt64(json.count) >> (8 * UInt64($0))) })
        out.append(json)
        out.append(data)
        return out
    }
}
