// Text in which special tokens are written out, as a chat template renders them
// ("<start_of_turn>user\n…"), tokenised the way transformers' tokenizers do: each special token
// written in the text is its own id, the text between them is encoded as usual.
//
// A byte-level BPE tokenizer.json already matches its added tokens first. SentencePiece never
// produces CONTROL pieces from text (that is their purpose), while transformers' tokenizer built
// from the same tokenizer.model declares them as added tokens and matches them: so here the text
// is first cut at the vocabulary's control pieces.

/// Encodes text that may hold special tokens written out (a rendered chat template).
public struct SpecialTokenEncoder: Sendable {
    // The tokenizers are immutable and thread-safe (see `Tokenizer`).
    nonisolated(unsafe) public let tokenizer: Tokenizer
    /// Control pieces to cut at before encoding (SentencePiece); empty when `encode` matches them itself.
    private let controlPieces: AddedTokenMatcher

    public init(tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
        var controls: [AddedToken] = []
        if let spm = tokenizer as? SentencePieceTokenizer {
            for id in 0..<Int32(spm.vocabularySize) where spm.isControl(id) {
                if let piece = spm.piece(for: id), !piece.isEmpty {
                    controls.append(AddedToken(id: id, content: piece, singleWord: false, lstrip: false, rstrip: false,
                                               normalized: false, special: true))
                }
            }
        }
        controlPieces = AddedTokenMatcher(controls)
    }

    /// True for a control or special token (`<|im_end|>`, `<end_of_turn>`, `<eos>`).
    public func isSpecial(_ id: Int32) -> Bool {
        if let spm = tokenizer as? SentencePieceTokenizer { return spm.isControl(id) }
        if let bpe = tokenizer as? ByteLevelBPETokenizer { return bpe.specialIDs.contains(id) }
        return id == tokenizer.eosID || id == tokenizer.bosID
    }

    /// Ids of `text`, special tokens written in it matched as tokens; nothing added before or after
    /// (transformers' `apply_chat_template(tokenize=True)` encodes with add_special_tokens=False:
    /// a `<bos>` comes only from the template's own text).
    public func encode(_ text: String) throws -> [Int32] {
        if controlPieces.isEmpty { return try tokenizer.encode(text) }
        var ids: [Int32] = []
        for segment in controlPieces.segments(text[...]) {
            switch segment {
            case .token(let id): ids.append(id)
            case .text(let piece): ids += try tokenizer.encode(String(piece))
            }
        }
        return ids
    }
}
