// Added tokens (`added_tokens` of tokenizer.json: "<|endoftext|>", "<|im_start|>", …) are found in
// the text before anything else, and the text between them is tokenised as usual. As in the
// tokenizers library's AddedVocabulary: the tokens with `normalized: false` are matched on the raw
// text, those with `normalized: true` on each remaining segment after normalisation; at each
// position the leftmost, then longest, token wins; `single_word` tokens match only between
// non-word characters; `lstrip` / `rstrip` take the whitespace beside the match into the token.

import Foundation

/// One entry of `added_tokens`.
struct AddedToken: Sendable {
    let id: Int32
    let content: String
    let singleWord: Bool
    let lstrip: Bool
    let rstrip: Bool
    let normalized: Bool
    let special: Bool
}

/// A piece of text after matching added tokens: either an added token's id or text to tokenise.
enum TextSegment: Equatable {
    case token(Int32)
    case text(Substring)
}

/// Finds added tokens in text (one matcher per normalised / raw group).
struct AddedTokenMatcher: Sendable {
    /// Tokens by the first UTF-8 byte of their content, longest first. (256)
    private let byFirstByte: [[AddedToken]]
    let isEmpty: Bool

    init(_ tokens: [AddedToken]) {
        var table = [[AddedToken]](repeating: [], count: 256)
        for token in tokens where !token.content.isEmpty {
            table[Int(token.content.utf8.first!)].append(token)
        }
        for i in 0..<256 { table[i].sort { $0.content.utf8.count > $1.content.utf8.count } }
        byFirstByte = table
        isEmpty = tokens.allSatisfy { $0.content.isEmpty }
    }

    /// `text` cut at every added token; text segments are never empty.
    func segments(_ text: Substring) -> [TextSegment] {
        if isEmpty { return text.isEmpty ? [] : [.text(text)] }
        var out: [TextSegment] = []
        let utf8 = text.utf8
        var segmentStart = utf8.startIndex
        var position = utf8.startIndex
        while position < utf8.endIndex {
            let candidates = byFirstByte[Int(utf8[position])]
            var matched: (token: AddedToken, end: String.Index)?
            for token in candidates {
                if let end = matchEnd(token, in: text, at: position) { matched = (token, end); break }
            }
            guard let (token, end) = matched else { position = utf8.index(after: position); continue }
            var start = position, stop = end
            if token.lstrip {
                while start > segmentStart, let before = text[..<start].unicodeScalars.last,
                      before.properties.isWhitespace {
                    start = text.unicodeScalars.index(before: start)
                }
            }
            if token.rstrip {
                while stop < text.endIndex, let after = text[stop...].unicodeScalars.first, after.properties.isWhitespace {
                    stop = text.unicodeScalars.index(after: stop)
                }
            }
            if segmentStart < start { out.append(.text(text[segmentStart..<start])) }
            out.append(.token(token.id))
            segmentStart = stop
            position = stop
        }
        if segmentStart < text.endIndex { out.append(.text(text[segmentStart...])) }
        return out
    }

    /// Where `token` ends if it occurs in `text` at `position` (and, for a single-word token, stands
    /// alone as a word), else nil.
    private func matchEnd(_ token: AddedToken, in text: Substring, at position: String.Index) -> String.Index? {
        var index = position
        let utf8 = text.utf8
        for byte in token.content.utf8 {
            guard index < utf8.endIndex, utf8[index] == byte else { return nil }
            index = utf8.index(after: index)
        }
        if token.singleWord {
            if position > text.startIndex, let before = text[..<position].unicodeScalars.last, Self.isWordScalar(before) { return nil }
            if index < text.endIndex, let after = text[index...].unicodeScalars.first, Self.isWordScalar(after) { return nil }
        }
        return index
    }

    /// Letters, digits and "_": what the tokenizers library counts as part of a word.
    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        s == "_" || s.properties.isAlphabetic || s.properties.numericType != nil
    }
}
