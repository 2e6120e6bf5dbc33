// The pre-tokenizers of byte-level BPE tokenizer.json files: how text is cut into the words that
// BPE then merges inside (never across). The three families in use:
//   GPT-2, SmolLM:   ByteLevel(use_regex: true)  — GPT-2's pattern inside ByteLevel
//   Llama 3:         Sequence[Split(Llama-3 pattern, Isolated), ByteLevel(use_regex: false)]
//   Qwen2/2.5/3:     Sequence[Split(Qwen2 pattern, Isolated), ByteLevel(use_regex: false)]
//   SmolLM:          Sequence[Digits(individual_digits: true), ByteLevel(use_regex: true)]
// (they differ in digits: GPT-2 keeps a run whole, Llama 3 cuts it in threes, Qwen2 in ones; and in
// what may lead a word). ByteLevel's own job, mapping bytes to the alphabet, happens in BPE's
// lookup (BytePairEncoding.swift), which reads a word's UTF-8 directly.
//
// The three known patterns run through hand-written matchers (SplitPatternScanner.swift); any other
// pattern runs through ICU (NSRegularExpression). The tokenizers library runs them with Oniguruma.
// ICU and Oniguruma agree on \p{L}, \p{N}, (?i:…), lookahead and {1,3}, but not on
// \s: Oniguruma's is Unicode White_Space (it includes U+000B and U+0085), ICU's leaves those two
// out. `OnigurumaPattern.icu` rewrites \s and \S so both match the same characters.

import Foundation

/// GPT-2's split pattern, which `ByteLevel(use_regex: true)` applies.
public let gpt2SplitPattern =
    #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

/// Cuts text into pieces at the matches of a pattern, keeping every match and every gap between
/// matches as a piece of its own (the tokenizers library's `Split` with behavior `Isolated`).
struct RegexSplitter: @unchecked Sendable {
    // @unchecked Sendable: NSRegularExpression is immutable and documented thread-safe.
    let pattern: String
    private let regex: NSRegularExpression
    /// The hand-written matcher of a known pattern (GPT-2, Llama 3, Qwen2), used instead of `regex`.
    let scanner: SplitPatternScanner?

    /// `pattern` in Oniguruma syntax, as tokenizer.json stores it; `literal` for a `{"String": …}`
    /// pattern. `useScanner: false` runs even a known pattern through ICU (for the differential test).
    init(pattern: String, literal: Bool = false, useScanner: Bool = true) throws {
        self.pattern = pattern
        let icu = literal ? NSRegularExpression.escapedPattern(for: pattern) : OnigurumaPattern.icu(pattern)
        regex = try NSRegularExpression(pattern: icu, options: [])
        scanner = literal || !useScanner ? nil : SplitPatternScanner(pattern: pattern)
    }

    /// The pieces of `text`, in order; concatenated they give `text` back. No piece is empty.
    func split(_ text: String) -> [Substring] {
        if text.isEmpty { return [] }
        if let scanner { return scanner.split(text) }
        var pieces: [Substring] = []
        let utf16 = text.utf16
        // Matches come in UTF-16 offsets, in order. Walk the offsets forward from the previous one
        // (not `Range(_:in:)`, which rounds to Character boundaries and so loses a match that ends
        // between a letter and its combining mark, e.g. "e" of "e\u{301}").
        var cursor = text.startIndex, cursorOffset = 0
        func index(at offset: Int) -> String.Index { utf16.index(cursor, offsetBy: offset - cursorOffset) }
        for match in regex.matches(in: text, options: [], range: NSRange(location: 0, length: utf16.count)) {
            guard match.range.length > 0 else { continue }
            let lower = index(at: match.range.location)
            let upper = utf16.index(lower, offsetBy: match.range.length)
            if cursor < lower { pieces.append(Substring(text.unicodeScalars[cursor..<lower])) }
            pieces.append(Substring(text.unicodeScalars[lower..<upper]))
            cursor = upper
            cursorOffset = match.range.location + match.range.length
        }
        if cursor < text.endIndex { pieces.append(Substring(text.unicodeScalars[cursor...])) }
        return pieces
    }
}

/// Oniguruma → ICU pattern rewriting (see the file comment).
enum OnigurumaPattern {
    /// Unicode White_Space, which Oniguruma's \s matches: U+0009…U+000D, U+0085 and the separators.
    static let whitespaceSetBody = #"\t-\r\x{85}\p{Z}"#

    /// `pattern` with `\s` and `\S` spelled out as Oniguruma means them; everything else unchanged.
    static func icu(_ pattern: String) -> String {
        var out = ""
        var inClass = 0
        var scalars = pattern.unicodeScalars.makeIterator()
        while let c = scalars.next() {
            if c == "\\" {
                guard let next = scalars.next() else { out.unicodeScalars.append(c); break }
                switch (next, inClass > 0) {
                case ("s", false): out += "[\(whitespaceSetBody)]"
                case ("S", false): out += "[^\(whitespaceSetBody)]"
                case ("s", true): out += whitespaceSetBody
                default:
                    // \S inside a class is not used by any family; leave it (and all else) to ICU.
                    out.unicodeScalars.append(c); out.unicodeScalars.append(next)
                }
                continue
            }
            if c == "[" { inClass += 1 }
            if c == "]" && inClass > 0 { inClass -= 1 }
            out.unicodeScalars.append(c)
        }
        return out
    }
}

/// One pre-tokenizer of a `Sequence`, applied in turn to every piece the previous one produced.
enum PreTokenizerStep: Sendable {
    /// `Split` with behavior `Isolated` and `invert: false`.
    case split(RegexSplitter)
    /// `ByteLevel`: a space before a piece that does not start with one (`add_prefix_space`), then
    /// GPT-2's pattern (`use_regex`).
    case byteLevel(addPrefixSpace: Bool, splitter: RegexSplitter?)
    /// `Digits` (SmolLM, StarCoder): numbers (general category N) apart from the rest, each digit
    /// alone (`individual_digits`) or a run of them together.
    case digits(individually: Bool)
}

/// The tokenizers library's `Digits` pre-tokenizer on one piece.
func splitDigits(_ text: Substring, individually: Bool) -> [Substring] {
    let view = text.unicodeScalars
    var pieces: [Substring] = []
    var start = view.startIndex
    var index = view.startIndex
    var inNumber = false
    while index < view.endIndex {
        let scalar = view[index]
        let isNumber = scalar.isASCII ? (scalar.value >= 48 && scalar.value <= 57)   // ASCII: only 0-9 are numbers
                                      : SplitPatternScanner.kind(of: scalar) == .number
        let next = view.index(after: index)
        if isNumber && individually {
            if start < index { pieces.append(Substring(view[start..<index])) }
            pieces.append(Substring(view[index..<next]))
            start = next
        } else if index > start && isNumber != inNumber && !individually {
            pieces.append(Substring(view[start..<index]))
            start = index
        }
        inNumber = isNumber
        index = next
    }
    if start < view.endIndex { pieces.append(Substring(view[start...])) }
    return pieces
}

/// A tokenizer.json pre-tokenizer: the words BPE sees, in order.
public struct ByteLevelPreTokenizer: Sendable {
    let steps: [PreTokenizerStep]

    init(steps: [PreTokenizerStep]) { self.steps = steps }

    /// The words of `text` (before the byte-level mapping: plain text, spaces as spaces).
    public func words(_ text: String) -> [Substring] {
        var pieces: [Substring] = text.isEmpty ? [] : [text[...]]
        for step in steps {
            var next: [Substring] = []
            next.reserveCapacity(pieces.count * 2)
            for piece in pieces {
                switch step {
                case .split(let splitter):
                    next.append(contentsOf: splitter.split(String(piece)).map { Substring($0) })
                case .digits(let individually):
                    next.append(contentsOf: splitDigits(piece, individually: individually))
                case .byteLevel(let addPrefixSpace, let splitter):
                    // tokenizers prepends the space to every piece it is given, not only the first.
                    let spaced = addPrefixSpace && !piece.hasPrefix(" ") ? Substring(" " + piece) : piece
                    if let splitter {
                        next.append(contentsOf: splitter.split(String(spaced)).map { Substring($0) })
                    } else {
                        next.append(spaced)
                    }
                }
            }
            pieces = next
        }
        return pieces
    }
}
