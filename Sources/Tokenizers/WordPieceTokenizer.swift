// WordPiece tokenizer (BERT, MiniLM) over a `vocab.txt`: BERT's basic tokenisation
// (BertPreTokenizer), then greedy longest-match-first sub-words with the "##" continuation prefix.

import Foundation

/// A `Tokenizer` for BERT-family vocabularies (`vocab.txt`, one piece per line, id = line number).
///
/// `encode` returns the word pieces only; encoders want `[CLS] ids [SEP]`, which
/// `encodeForEncoder(_:maxLength:)` adds (and truncates as transformers does).
public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init.
    public let vocabularyPath: String
    public let preTokenizer: BertPreTokenizer
    /// Words longer than this many characters become [UNK] without being looked at (BERT: 100).
    public let maxCharactersPerWord: Int
    public static let continuationPrefix = "##"

    private let pieces: [String]            // (V) piece of each id
    private let ids: [String: Int32]
    public let clsID: Int32
    public let sepID: Int32
    public let padID: Int32?
    public let unknownID: Int32?
    private let unknown: Int32

    public var vocabularySize: Int { pieces.count }
    /// BERT's sequence start is [CLS], its end [SEP].
    public var bosID: Int32? { clsID }
    public var eosID: Int32? { sepID }

    /// Loads `vocab.txt` with the basic-tokenisation options of the checkpoint.
    /// Throws `TokenizerError` naming the file if it is missing, empty, or lacks [CLS]/[SEP]/[UNK].
    public init(vocabularyPath: String, preTokenizer: BertPreTokenizer = BertPreTokenizer(),
                maxCharactersPerWord: Int = 100) throws {
        guard let data = FileManager.default.contents(atPath: vocabularyPath) else {
            throw TokenizerError(kind: .modelNotFound, path: vocabularyPath,
                                 message: "\(vocabularyPath): cannot read the WordPiece vocabulary")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError(kind: .invalidModel, path: vocabularyPath,
                                 message: "\(vocabularyPath): not UTF-8 text")
        }
        // One piece per line, exactly as written (only the line break removed), as transformers reads it.
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else {
            throw TokenizerError(kind: .invalidModel, path: vocabularyPath, message: "\(vocabularyPath): empty vocabulary")
        }
        var ids: [String: Int32] = [:]
        for (i, piece) in lines.enumerated() { ids[piece] = Int32(i) }   // a repeated piece: the last id wins, as in transformers
        func special(_ name: String) throws -> Int32 {
            guard let id = ids[name] else {
                throw TokenizerError(kind: .invalidModel, path: vocabularyPath,
                                     message: "\(vocabularyPath): no \(name) entry (not a BERT vocabulary?)")
            }
            return id
        }
        self.vocabularyPath = vocabularyPath
        self.preTokenizer = preTokenizer
        self.maxCharactersPerWord = maxCharactersPerWord
        self.pieces = lines
        self.ids = ids
        clsID = try special("[CLS]")
        sepID = try special("[SEP]")
        unknown = try special("[UNK]")
        unknownID = unknown
        padID = ids["[PAD]"]
    }

    public func encode(_ text: String) throws -> [Int32] {
        var out: [Int32] = []
        for word in preTokenizer.words(text) { appendPieces(of: word, to: &out) }
        return out
    }

    /// `[CLS] pieces [SEP]`, the pieces truncated so the whole fits `maxLength` (transformers'
    /// `truncation=True, max_length=maxLength`; sentence-transformers uses its max_seq_length).
    public func encodeForEncoder(_ text: String, maxLength: Int) throws -> [Int32] {
        precondition(maxLength >= 2, "an encoder input needs room for [CLS] and [SEP]")
        let body = try encode(text)
        return [clsID] + body.prefix(maxLength - 2) + [sepID]
    }

    /// Greedy longest-match-first: at each position take the longest vocabulary piece (with "##"
    /// after the first), and if none matches, the whole word becomes one [UNK].
    func appendPieces(of word: [Unicode.Scalar], to out: inout [Int32]) {
        if word.count > maxCharactersPerWord { out.append(unknown); return }
        let mark = out.count
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int32?
            while start < end {
                var piece = start > 0 ? Self.continuationPrefix : ""
                piece.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = ids[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else {
                out.removeSubrange(mark...)
                out.append(unknown)
                return
            }
            out.append(id)
            start = end
        }
    }

    /// Pieces joined with spaces, "##" continuations glued to the piece before (as transformers'
    /// `convert_tokens_to_string`). Lower-casing and accent stripping cannot be undone.
    public func decode(_ ids: [Int32]) throws -> String {
        var text = ""
        for id in ids {
            guard let piece = piece(for: id) else {
                throw TokenizerError(kind: .decodingFailed, path: vocabularyPath,
                                     message: "\(vocabularyPath): id \(id) outside the vocabulary (0..<\(pieces.count))")
            }
            if piece.hasPrefix(Self.continuationPrefix) {
                text += piece.dropFirst(Self.continuationPrefix.count)
            } else {
                if !text.isEmpty { text += " " }
                text += piece
            }
        }
        return text
    }

    public func piece(for id: Int32) -> String? {
        id >= 0 && Int(id) < pieces.count ? pieces[Int(id)] : nil
    }

    public func id(for piece: String) -> Int32? { ids[piece] }
}

extension WordPieceTokenizer {
    /// Options of `tokenizer_config.json` beside the vocabulary, with BERT's defaults for the
    /// missing ones (`do_lower_case` true, `strip_accents` following it, `tokenize_chinese_chars` true).
    public static func preTokenizer(configPath: String) throws -> BertPreTokenizer {
        guard let data = FileManager.default.contents(atPath: configPath) else { return BertPreTokenizer() }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError(kind: .invalidModel, path: configPath, message: "\(configPath): not a JSON object")
        }
        func flag(_ key: String) throws -> Bool? {
            guard let value = json[key], !(value is NSNull) else { return nil }
            guard let b = value as? Bool else {
                throw TokenizerError(kind: .invalidModel, path: configPath,
                                     message: "\(configPath): \"\(key)\" must be true, false or null")
            }
            return b
        }
        let lowercase = try flag("do_lower_case") ?? true
        return BertPreTokenizer(lowercase: lowercase, stripAccents: try flag("strip_accents"),
                                splitCJK: try flag("tokenize_chinese_chars") ?? true)
    }
}
