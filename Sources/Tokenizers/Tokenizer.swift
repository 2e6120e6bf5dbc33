// The tokenizer seam between text and the model: a protocol every vocabulary format implements,
// the error type for tokenizer IO, and the loader that picks an implementation from a model folder.

import Foundation

/// Turns text into token ids and back.
///
/// Implementations are immutable after loading, so `encode`/`decode` may be called from several
/// threads at once (batching encodes SST-2 in parallel).
public protocol Tokenizer: AnyObject {
    /// Number of ids; every id this tokenizer produces is in `0..<vocabularySize`.
    var vocabularySize: Int { get }
    /// The id a sequence starts with, which callers prepend to `encode`'s ids: the vocabulary's BOS
    /// (SentencePiece), [CLS] (WordPiece), or what a tokenizer.json's own rule puts first (nil for
    /// GPT-2 and Qwen, whose models start without one).
    var bosID: Int32? { get }
    /// End-of-sequence id, if the vocabulary defines one.
    var eosID: Int32? { get }
    /// Padding id, if the vocabulary defines one.
    var padID: Int32? { get }
    /// Id that stands for text the vocabulary cannot represent, if it defines one.
    var unknownID: Int32? { get }

    /// Ids for `text`, with no BOS/EOS added: callers add them where the model wants them.
    func encode(_ text: String) throws -> [Int32]
    /// Text for `ids`. Throws for an id outside the vocabulary.
    func decode(_ ids: [Int32]) throws -> String
    /// The vocabulary entry for `id` (e.g. "▁great"), or nil if `id` is out of range.
    func piece(for id: Int32) -> String?
    /// The id of the vocabulary entry `piece`, or nil if there is no such entry.
    func id(for piece: String) -> Int32?
}

/// A tokenizer could not be loaded or used. The message names the file or folder involved.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public enum Kind: Equatable, Sendable {
        /// The model folder does not exist (or is not a folder).
        case directoryNotFound
        /// The model file is missing, or the folder holds no tokenizer file we can read.
        case modelNotFound
        /// The file exists but is not a valid model (sentencepiece refused it).
        case invalidModel
        /// The folder holds a tokenizer format we do not implement yet.
        case unsupported
        /// Encoding text failed.
        case encodingFailed
        /// Decoding ids failed (e.g. an id outside the vocabulary).
        case decodingFailed
    }

    public let kind: Kind
    /// The file or folder the error is about.
    public let path: String
    /// Human-readable explanation; always contains `path`.
    public let message: String
    /// The CSentencePiece status code (`ZF_SPM_*`), when the error came from sentencepiece.
    public let statusCode: Int32?

    public init(kind: Kind, path: String, message: String, statusCode: Int32? = nil) {
        self.kind = kind
        self.path = path
        self.message = message.contains(path) ? message : "\(path): \(message)"
        self.statusCode = statusCode
    }

    public var description: String { message }
}

/// Picks and loads the tokenizer stored in a model folder.
public enum TokenizerLoader {
    /// The SentencePiece model file name used by Gemma and Llama checkpoints.
    public static let sentencePieceFileName = "tokenizer.model"
    /// The WordPiece vocabulary file name used by BERT checkpoints.
    public static let wordPieceFileName = "vocab.txt"
    /// The Hugging Face tokenizers file (byte-level BPE: GPT-2, Llama 3, Qwen2/2.5/3, SmolLM).
    public static let tokenizerJSONFileName = "tokenizer.json"

    /// The tokenizer file `load(modelDirectory:)` reads in `modelDirectory` (the first present of
    /// tokenizer.model, vocab.txt, tokenizer.json), or nil if there is none. For messages.
    public static func tokenizerFile(in modelDirectory: String) -> String? {
        [sentencePieceFileName, wordPieceFileName, tokenizerJSONFileName]
            .map { URL(fileURLWithPath: modelDirectory, isDirectory: true).appendingPathComponent($0).path }
            .first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Loads the first of, in order: `<modelDirectory>/tokenizer.model` (SentencePiece),
    /// `<modelDirectory>/vocab.txt` (WordPiece, options from `tokenizer_config.json`),
    /// `<modelDirectory>/tokenizer.json` (byte-level BPE, BOS/EOS from `tokenizer_config.json`).
    /// The first two win where a folder has several because their readers were checked on the
    /// folders that carry them (Gemma, BERT), whose tokenizer.json is not byte-level.
    ///
    /// Throws a `TokenizerError` naming the folder if it does not exist or holds no tokenizer,
    /// and naming the file if the file is not a valid model.
    public static func load(modelDirectory: String) throws -> Tokenizer {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: modelDirectory, isDirectory: &isDirectory) else {
            throw TokenizerError(
                kind: .directoryNotFound, path: modelDirectory,
                message: "model directory not found: \(modelDirectory)")
        }
        guard isDirectory.boolValue else {
            throw TokenizerError(
                kind: .directoryNotFound, path: modelDirectory,
                message: "\(modelDirectory) is a file; expected a model directory holding \(sentencePieceFileName)")
        }
        let directoryURL = URL(fileURLWithPath: modelDirectory, isDirectory: true)
        let sentencePiecePath = directoryURL.appendingPathComponent(sentencePieceFileName).path
        if fileManager.fileExists(atPath: sentencePiecePath) {
            return try SentencePieceTokenizer(modelPath: sentencePiecePath)
        }
        let wordPiecePath = directoryURL.appendingPathComponent(wordPieceFileName).path
        if fileManager.fileExists(atPath: wordPiecePath) {
            // BERT-family folder: the basic-tokenisation options live in tokenizer_config.json.
            let configPath = directoryURL.appendingPathComponent("tokenizer_config.json").path
            return try WordPieceTokenizer(vocabularyPath: wordPiecePath,
                                          preTokenizer: WordPieceTokenizer.preTokenizer(configPath: configPath))
        }
        let tokenizerJSONPath = directoryURL.appendingPathComponent(tokenizerJSONFileName).path
        if fileManager.fileExists(atPath: tokenizerJSONPath) {
            return try ByteLevelBPETokenizer(path: tokenizerJSONPath)
        }
        throw TokenizerError(
            kind: .modelNotFound, path: modelDirectory,
            message: "no tokenizer in \(modelDirectory): \(sentencePieceFileName) not found in \(modelDirectory), nor \(tokenizerJSONFileName) (byte-level BPE), nor \(wordPieceFileName) (WordPiece)")
    }
}

extension Tokenizer {
    /// Encodes many texts on up to `threads` threads; result `i` is `encode(texts[i])`.
    ///
    /// For whole datasets. `encode` is thread-safe, so this only spreads the texts over a few
    /// workers; with SentencePiece's word cache the gain is modest (SST-2 train: ~0.4 s on one
    /// thread), without it (~2.5 s) it is about the number of cores.
    public func encodeBatch(_ texts: [String], threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> [[Int32]] {
        let workers = max(1, min(threads, texts.count))
        if workers == 1 { return try texts.map { try encode($0) } }
        var results = [[Int32]](repeating: [], count: texts.count)
        var firstError: Error?
        let lock = NSLock()
        results.withUnsafeMutableBufferPointer { output in
            // Interleaved chunks of 256 so one slow region does not leave a worker idle at the end.
            let chunk = 256
            let chunks = (texts.count + chunk - 1) / chunk
            nonisolated(unsafe) let output = output
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var index = worker
                while index < chunks {
                    for i in (index * chunk)..<min(texts.count, (index + 1) * chunk) {
                        do {
                            output[i] = try encode(texts[i])  // each i written by exactly one worker
                        } catch {
                            lock.lock()
                            if firstError == nil { firstError = error }
                            lock.unlock()
                            return
                        }
                    }
                    index += workers
                }
            }
        }
        if let firstError { throw firstError }
        return results
    }
}
