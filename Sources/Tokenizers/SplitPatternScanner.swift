// Hand-written matchers for the three split patterns byte-level tokenizer.json files use (GPT-2's,
// Llama 3's, Qwen2's), ~4× faster than running them through NSRegularExpression, which on Linux
// also pays for a UTF-16 copy of every text. Each follows its pattern alternative by alternative,
// as a backtracking regex engine tries them at each position; the differential test
// (SplitPatternScannerTests) checks them against the ICU run of the same pattern on random text.
//
//   GPT-2:   's|'t|'re|'ve|'m|'ll|'d | ?\p{L}+ | ?\p{N}+ | ?[^\s\p{L}\p{N}]+ | \s+(?!\S) | \s+
//   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3}
//            | ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
//   Qwen2:   the same with \p{N} for \p{N}{1,3}
// Every character is a letter, a number, white space or "other", so some alternative always
// matches: the pieces tile the text.

/// One of the known split patterns, recognised by its exact text.
enum SplitPatternScanner: Sendable {
    case gpt2
    /// Llama 3 (`digitRun` 3) and Qwen2 (`digitRun` 1).
    case llama3Style(digitRun: Int)

    static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    init?(pattern: String) {
        switch pattern {
        case gpt2SplitPattern: self = .gpt2
        case Self.llama3Pattern: self = .llama3Style(digitRun: 3)
        case Self.qwen2Pattern: self = .llama3Style(digitRun: 1)
        default: return nil
        }
    }

    /// What the patterns distinguish about a character.
    enum Kind: UInt8 {
        case letter, number, space, lineBreak, otherWhitespace, other
        var isWhitespace: Bool { self == .space || self == .lineBreak || self == .otherWhitespace }
    }

    /// Kinds of the ASCII characters. (128)
    static let asciiKinds: [Kind] = (0..<128).map { kind(of: Unicode.Scalar(UInt8($0))) }

    static func kind(of s: Unicode.Scalar) -> Kind {
        if s == " " { return .space }
        if s == "\n" || s == "\r" { return .lineBreak }
        // Oniguruma's \s is Unicode White_Space (U+0009…U+000D, U+0085, the separators).
        if s.properties.isWhitespace { return .otherWhitespace }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The pieces of `text`, in order; concatenated they give `text`. No piece is empty.
    func split(_ text: String) -> [Substring] {
        let view = text.unicodeScalars
        var scalars: [Unicode.Scalar] = []   // (n)
        var kinds: [Kind] = []               // (n)
        var indices: [String.Index] = []     // (n + 1) where each scalar starts; the last is the end
        scalars.reserveCapacity(text.utf8.count)
        kinds.reserveCapacity(text.utf8.count)
        indices.reserveCapacity(text.utf8.count + 1)
        var index = view.startIndex
        while index < view.endIndex {
            let s = view[index]
            scalars.append(s)
            kinds.append(s.value < 128 ? Self.asciiKinds[Int(s.value)] : Self.kind(of: s))
            indices.append(index)
            index = view.index(after: index)
        }
        indices.append(view.endIndex)
        var pieces: [Substring] = []
        var i = 0
        let n = scalars.count
        while i < n {
            let end = matchEnd(at: i, scalars, kinds)
            pieces.append(Substring(view[indices[i]..<indices[end]]))
            i = end
        }
        return pieces
    }

    /// Where the pattern's match starting at `i` ends (always > i).
    private func matchEnd(at i: Int, _ s: [Unicode.Scalar], _ k: [Kind]) -> Int {
        let n = s.count
        func run(from j: Int, while test: (Kind) -> Bool) -> Int {
            var e = j
            while e < n && test(k[e]) { e += 1 }
            return e
        }
        let isOther: (Kind) -> Bool = { $0 == .other }
        if let end = contraction(at: i, s, caseInsensitive: { if case .gpt2 = self { return false } else { return true } }()) {
            return end
        }
        switch self {
        case .gpt2:
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an optional plain space, then a run of one kind.
            let start = k[i] == .space && i + 1 < n ? i + 1 : i
            switch k[start] {
            case .letter: return run(from: start) { $0 == .letter }
            case .number: return run(from: start) { $0 == .number }
            case .other: return run(from: start, while: isOther)
            default: break
            }
        case .llama3Style(let digitRun):
            // `[^\r\n\p{L}\p{N}]?\p{L}+`: one leading character that is not a line break, letter or number.
            if k[i] == .letter { return run(from: i) { $0 == .letter } }
            if k[i] != .lineBreak && k[i] != .number && i + 1 < n && k[i + 1] == .letter {
                return run(from: i + 1) { $0 == .letter }
            }
            // `\p{N}{1,3}` (Qwen2: `\p{N}`).
            if k[i] == .number {
                var e = i + 1
                while e < n && e - i < digitRun && k[e] == .number { e += 1 }
                return e
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`.
            let start = k[i] == .space && i + 1 < n && k[i + 1] == .other ? i + 1 : i
            if k[start] == .other {
                let others = run(from: start, while: isOther)
                return run(from: others) { $0 == .lineBreak }
            }
            // `\s*[\r\n]+`: the white space run up to and with its last line break (\s* backtracks to it).
            if k[i].isWhitespace {
                let whitespaceEnd = run(from: i) { $0.isWhitespace }
                var last = whitespaceEnd - 1
                while last >= i && k[last] != .lineBreak { last -= 1 }
                if last >= i { return last + 1 }
            }
        }
        // `\s+(?!\S)`, then `\s+`: a white space run, less its last character when a non-space follows
        // (unless that would leave nothing).
        precondition(k[i].isWhitespace, "every non-space character is matched above")
        let whitespaceEnd = run(from: i) { $0.isWhitespace }
        if whitespaceEnd < n && whitespaceEnd - i >= 2 { return whitespaceEnd - 1 }
        return whitespaceEnd
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i` (case-insensitively for Llama 3 / Qwen2), or nil.
    private func contraction(at i: Int, _ s: [Unicode.Scalar], caseInsensitive: Bool) -> Int? {
        guard s[i] == "'", i + 1 < s.count else { return nil }
        func letter(_ j: Int) -> Unicode.Scalar? {
            guard j < s.count else { return nil }
            let c = s[j]
            guard caseInsensitive else { return c }
            if c.value >= 65 && c.value <= 90 { return Unicode.Scalar(c.value + 32) }
            return c == "\u{17F}" ? "s" : c   // ſ folds to s under Unicode case folding
        }
        switch letter(i + 1) {
        case "s", "t", "m", "d": return i + 2
        case "r", "v": return letter(i + 2) == "e" ? i + 3 : nil
        case "l": return letter(i + 2) == "l" ? i + 3 : nil
        default: return nil
        }
    }
}
