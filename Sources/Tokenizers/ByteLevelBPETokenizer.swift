// Byte-level BPE tokenizer (GPT-2, Llama 3, Qwen2/2.5/3, SmolLM) over a Hugging Face
// `tokenizer.json`: added tokens first, then per segment the normaliser, the pre-tokenizer and
// BPE; decoding maps the pieces' alphabet letters back to bytes.
//
// Written here because no Swift implementation is available offline (swift-transformers is not in
// the package list); checked against transformers' PreTrainedTokenizerFast on vocabularies trained
// for the test (tools/reference/make_bpe_reference.py). Loading lives in ByteLevelBPETokenizer+Loading.swift.

import Foundation

/// A normaliser a byte-level tokenizer.json may name.
enum TextNormalizer: Sendable {
    /// Unicode canonical composition (Qwen2): "e\u{301}" → "é".
    case nfc

    func apply(_ text: Substring) -> Substring {
        switch self {
        case .nfc:
            // ASCII is its own NFC; only other text pays for Foundation's composition.
            if text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
            return Substring(String(text).precomposedStringWithCanonicalMapping)
        }
    }
}

/// A `Tokenizer` for byte-level BPE `tokenizer.json` files.
///
/// `encode` adds no BOS/EOS (the protocol's contract). `bosID` is the token the model's own rule
/// puts first — `add_bos_token` in tokenizer_config.json if it says, else the first special token
/// of a `TemplateProcessing` post-processor — and nil when the model starts without one (GPT-2 and
/// Qwen2 declare no such rule), so callers that prepend `bosID` do what transformers does.
public final class ByteLevelBPETokenizer: Tokenizer, @unchecked Sendable {
    // @unchecked Sendable: immutable after init; the BPE word cache has its own lock.
    /// The tokenizer.json this was loaded from (used in error messages).
    public let path: String
    let model: BytePairEncoding
    let normalizers: [TextNormalizer]
    public let preTokenizer: ByteLevelPreTokenizer
    /// Added tokens matched on the raw text (`normalized: false`) and after normalisation.
    let rawAddedTokens: AddedTokenMatcher
    let normalizedAddedTokens: AddedTokenMatcher
    private let pieces: [String?]        // (V) piece of each id; nil for an id nobody uses
    private let addedIDs: [String: Int32]
    /// Ids of added tokens marked `special` (control tokens such as "<|im_start|>").
    public let specialIDs: Set<Int32>

    public let bosID: Int32?
    public let eosID: Int32?
    public let padID: Int32?
    public var unknownID: Int32? { model.unknownID }
    public var vocabularySize: Int { pieces.count }

    init(path: String, model: BytePairEncoding, normalizers: [TextNormalizer], preTokenizer: ByteLevelPreTokenizer,
         addedTokens: [AddedToken], bosID: Int32?, eosID: Int32?, padID: Int32?) {
        self.path = path
        self.model = model
        self.normalizers = normalizers
        self.preTokenizer = preTokenizer
        rawAddedTokens = AddedTokenMatcher(addedTokens.filter { !$0.normalized })
        normalizedAddedTokens = AddedTokenMatcher(addedTokens.filter { $0.normalized })
        let size = max(model.vocabulary.values.max().map { Int($0) + 1 } ?? 0,
                       addedTokens.map { Int($0.id) + 1 }.max() ?? 0)
        var pieces = [String?](repeating: nil, count: size)
        for (piece, id) in model.vocabulary { pieces[Int(id)] = piece }
        var addedIDs: [String: Int32] = [:]
        for token in addedTokens {
            pieces[Int(token.id)] = token.content   // an added token's content wins over a vocabulary entry
            addedIDs[token.content] = token.id
        }
        self.pieces = pieces
        self.addedIDs = addedIDs
        specialIDs = Set(addedTokens.filter(\.special).map(\.id))
        self.bosID = bosID
        self.eosID = eosID
        self.padID = padID
    }

    public func encode(_ text: String) throws -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        for segment in rawAddedTokens.segments(text[...]) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let raw):
                var normalized = raw
                for normalizer in normalizers { normalized = normalizer.apply(normalized) }
                for inner in normalizedAddedTokens.segments(normalized) {
                    switch inner {
                    case .token(let id): ids.append(id)
                    case .text(let piece):
                        for word in preTokenizer.words(String(piece)) { model.encode(word: word, into: &ids) }
                    }
                }
            }
        }
        return ids
    }

    /// The text of `ids`: the pieces' alphabet letters turned back into bytes, read as UTF-8
    /// (invalid sequences, e.g. half a character, become U+FFFD as in the tokenizers library).
    /// Added tokens are rendered as their text.
    public func decode(_ ids: [Int32]) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let piece = piece(for: id) else {
                throw TokenizerError(kind: .decodingFailed, path: path,
                                     message: "\(path): id \(id) outside the vocabulary (0..<\(pieces.count))")
            }
            // A piece with a letter outside the alphabet (an added token like "<think> ") is its own UTF-8.
            bytes.append(contentsOf: ByteLevelAlphabet.decode(piece) ?? Array(piece.utf8))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func piece(for id: Int32) -> String? {
        id >= 0 && Int(id) < pieces.count ? pieces[Int(id)] : nil
    }

    public func id(for piece: String) -> Int32? { addedIDs[piece] ?? model.vocabulary[piece] }
}
