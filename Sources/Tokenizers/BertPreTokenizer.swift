// BERT's "basic tokenisation": the text clean-up, lower-casing and accent stripping, and the split
// into words and punctuation that happen before WordPiece looks a word up.
//
// The reference is transformers' BertTokenizer, which (transformers 5) runs the `tokenizers`
// library's BertNormalizer and BertPreTokenizer. Their Unicode rules, followed scalar by scalar:
//   1. clean text: drop U+0000, U+FFFD and control characters (general category C*, except tab,
//      newline and carriage return); turn every other White_Space character into " ".
//   2. CJK: put spaces around every CJK ideograph, so each becomes a word of its own.
//   3. strip accents (default: when lower-casing): canonical decomposition (NFD), then drop the
//      non-spacing marks (category Mn): "naïve" → "naive".
//   4. lower-case each scalar with its full Unicode mapping (no context: Σ → σ, never ς).
//   5. split on White_Space, and isolate every punctuation character: ASCII punctuation
//      (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~) or Unicode categories Pc Pd Pe Pf Pi Po Ps.
// The steps run in this order because tokenizers runs them in this order (the older Python
// tokenizer lower-cased before stripping; for BERT vocabularies the results agree).

import Foundation

/// Normalises text and splits it into the words WordPiece sees, as BERT's basic tokenizer does.
public struct BertPreTokenizer: Sendable {
    /// Lower-case every character (`do_lower_case`, uncased checkpoints).
    public var lowercase: Bool
    /// Remove accents (`strip_accents`; BERT's default follows `lowercase`).
    public var stripAccents: Bool
    /// Surround CJK ideographs with spaces (`tokenize_chinese_chars`).
    public var splitCJK: Bool

    public init(lowercase: Bool = true, stripAccents: Bool? = nil, splitCJK: Bool = true) {
        self.lowercase = lowercase
        self.stripAccents = stripAccents ?? lowercase
        self.splitCJK = splitCJK
    }

    /// The words of `text`, each as its Unicode scalars, in order.
    public func words(_ text: String) -> [[Unicode.Scalar]] {
        let normalized = normalize(text)
        var words: [[Unicode.Scalar]] = []
        var word: [Unicode.Scalar] = []
        for s in normalized {
            if s.properties.isWhitespace {
                if !word.isEmpty { words.append(word); word.removeAll(keepingCapacity: true) }
            } else if Self.isPunctuation(s) {
                if !word.isEmpty { words.append(word); word.removeAll(keepingCapacity: true) }
                words.append([s])
            } else {
                word.append(s)
            }
        }
        if !word.isEmpty { words.append(word) }
        return words
    }

    /// Steps 1–4 of the file comment: the text as BertNormalizer leaves it.
    func normalize(_ text: String) -> [Unicode.Scalar] {
        var cleaned = String.UnicodeScalarView()
        var allASCII = true
        for s in text.unicodeScalars {
            if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
            if Self.isWhitespace(s) { cleaned.append(" "); continue }
            if splitCJK && Self.isCJK(s) {
                cleaned.append(" "); cleaned.append(s); cleaned.append(" ")
            } else {
                cleaned.append(s)
            }
            if !s.isASCII { allASCII = false }
        }
        var scalars: [Unicode.Scalar]
        if stripAccents && !allASCII {
            // ASCII text is its own NFD, so only text with other characters pays for the decomposition.
            scalars = String(cleaned).decomposedStringWithCanonicalMapping.unicodeScalars
                .filter { $0.properties.generalCategory != .nonspacingMark }
        } else {
            scalars = Array(cleaned)
        }
        if lowercase {
            var lowered: [Unicode.Scalar] = []
            lowered.reserveCapacity(scalars.count)
            for s in scalars {
                if s.isASCII {
                    let v = s.value
                    lowered.append(v >= 65 && v <= 90 ? Unicode.Scalar(v + 32)! : s)
                } else {
                    lowered.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
                }
            }
            scalars = lowered
        }
        return scalars
    }

    /// Tab, newline and carriage return count as whitespace, not as control characters.
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .unassigned, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) {
            return true
        }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }

    /// The CJK Unified Ideographs blocks BERT treats as single-character words (not Hangul or
    /// kana, which are written with spaces).
    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
