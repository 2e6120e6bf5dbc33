// Splits a template into text and tags, with the whitespace rules transformers renders chat
// templates under: Jinja2 with trim_blocks=True (the newline after a block or comment tag goes),
// lstrip_blocks=True (spaces and tabs before a block tag on its own line go), `-` on a tag's side
// strips all whitespace on that side, and one trailing newline of the template is dropped
// (keep_trailing_newline=False). Inside tags it produces expression tokens.

/// One token inside `{{ … }}` or `{% … %}`.
enum ExprToken: Equatable {
    case name(String)
    case string(String)
    case int(Int)
    case double(Double)
    /// Operators and punctuation: `==`, `(`, `|`, …
    case op(String)
}

/// A piece of the template.
enum TemplatePiece: Equatable {
    case text(String, line: Int)
    case output([ExprToken], line: Int)
    case statement([ExprToken], line: Int)
}

struct TemplateLexer {
    private let source: [Unicode.Scalar]
    private var position = 0
    private var pieces: [TemplatePiece] = []

    static func lex(_ text: String) throws -> [TemplatePiece] {
        var lexer = TemplateLexer(source: Array(text.unicodeScalars))
        try lexer.run()
        return lexer.pieces
    }

    private init(source: [Unicode.Scalar]) { self.source = source }

    private func line(at index: Int) -> Int {
        var n = 1
        for i in 0..<min(index, source.count) where source[i] == "\n" { n += 1 }
        return n
    }

    private func starts(_ s: String, at i: Int) -> Bool {
        let scalars = Array(s.unicodeScalars)
        guard i + scalars.count <= source.count else { return false }
        for (k, c) in scalars.enumerated() where source[i + k] != c { return false }
        return true
    }

    private mutating func run() throws {
        var source = self.source
        // keep_trailing_newline=False: Jinja drops one final newline of the template.
        if source.last == "\n" { source.removeLast(); if source.last == "\r" { source.removeLast() } }
        var text = TemplateLexer(source: source)
        try text.scan()
        pieces = text.pieces
    }

    private mutating func scan() throws {
        /// Set by a tag ending in `-`: strip the next text's leading whitespace.
        var stripNextLeading = false
        /// Set by a block/comment tag without `-` (trim_blocks): drop one newline after it.
        var trimNextNewline = false
        while position < source.count {
            // Find the next tag opening.
            var open = position
            while open < source.count {
                if source[open] == "{", open + 1 < source.count, ["{", "%", "#"].contains(source[open + 1]) { break }
                open += 1
            }
            var textStart = position
            if trimNextNewline {
                if textStart < open, source[textStart] == "\n" { textStart += 1 }
                else if textStart + 1 < open, source[textStart] == "\r", source[textStart + 1] == "\n" { textStart += 2 }
            }
            if stripNextLeading {
                while textStart < open, source[textStart].properties.isWhitespace { textStart += 1 }
            }
            var textEnd = open
            if open < source.count {
                let kind = source[open + 1]
                let marker = open + 2 < source.count ? source[open + 2] : " "
                if marker == "-" {
                    while textEnd > textStart, source[textEnd - 1].properties.isWhitespace { textEnd -= 1 }
                } else if kind != "{" && marker != "+" {
                    // lstrip_blocks: only spaces/tabs between the line's start and the tag.
                    var k = textEnd
                    while k > textStart, source[k - 1] == " " || source[k - 1] == "\t" { k -= 1 }
                    if k == 0 || source[k - 1] == "\n" { textEnd = k }
                }
            }
            if textStart < textEnd {
                var s = String.UnicodeScalarView()
                s.append(contentsOf: source[textStart..<textEnd])
                pieces.append(.text(String(s), line: line(at: textStart)))
            }
            guard open < source.count else { break }
            let kind = source[open + 1]
            let tagLine = line(at: open)
            position = open + 2
            if position < source.count, source[position] == "-" || source[position] == "+" { position += 1 }
            if kind == "#" {
                guard let close = find("#}", from: position) else {
                    throw TemplateError(.syntax, line: tagLine, "comment {# … is never closed with #}")
                }
                stripNextLeading = close > position && source[close - 1] == "-"
                trimNextNewline = !stripNextLeading
                position = close + 2
                continue
            }
            let (tokens, stripAfter) = try expressionTokens(closing: kind == "{" ? "}}" : "%}", line: tagLine)
            pieces.append(kind == "{" ? .output(tokens, line: tagLine) : .statement(tokens, line: tagLine))
            stripNextLeading = stripAfter
            trimNextNewline = kind == "%" && !stripAfter
        }
    }

    private func find(_ s: String, from start: Int) -> Int? {
        var i = start
        while i < source.count { if starts(s, at: i) { return i }; i += 1 }
        return nil
    }

    /// Tokens up to the tag's closing delimiter (outside strings and brackets); returns whether the
    /// tag closed with `-`.
    private mutating func expressionTokens(closing: String, line tagLine: Int) throws -> ([ExprToken], Bool) {
        var tokens: [ExprToken] = []
        var depth = 0
        while true {
            while position < source.count, source[position].properties.isWhitespace { position += 1 }
            guard position < source.count else {
                throw TemplateError(.syntax, line: tagLine, "tag is never closed with \(closing)")
            }
            if depth == 0 {
                if starts("-" + closing, at: position) { position += 3; return (tokens, true) }
                if starts(closing, at: position) { position += 2; return (tokens, false) }
            }
            let c = source[position]
            if c == "_" || c.properties.isAlphabetic {
                var name = String.UnicodeScalarView()
                while position < source.count, source[position] == "_" || source[position].properties.isAlphabetic
                        || ("0"..."9").contains(source[position]) {
                    name.append(source[position]); position += 1
                }
                tokens.append(.name(String(name)))
            } else if ("0"..."9").contains(c) {
                tokens.append(number())
            } else if c == "'" || c == "\"" {
                tokens.append(.string(try string(quote: c, line: line(at: position))))
            } else {
                let two = ["==", "!=", "<=", ">=", "//", "**"].first { starts($0, at: position) }
                if let two { tokens.append(.op(two)); position += 2; continue }
                guard "+-*/%~|.,:()[]{}<>=".unicodeScalars.contains(c) else {
                    throw TemplateError(.syntax, line: line(at: position), "unexpected character \"\(c)\" in a tag")
                }
                if "([{".unicodeScalars.contains(c) { depth += 1 }
                if ")]}".unicodeScalars.contains(c) { depth -= 1 }
                tokens.append(.op(String(c)))
                position += 1
            }
        }
    }

    private mutating func number() -> ExprToken {
        var digits = ""
        var isFloat = false
        func take() { digits.unicodeScalars.append(source[position]); position += 1 }
        func digit(_ i: Int) -> Bool { i < source.count && ("0"..."9").contains(source[i]) }
        while digit(position) || (position < source.count && source[position] == "_") {
            if source[position] == "_" { position += 1 } else { take() }
        }
        if position < source.count, source[position] == ".", digit(position + 1) {
            isFloat = true
            take()
            while digit(position) { take() }
        }
        if position < source.count, source[position] == "e" || source[position] == "E" {
            let signed = position + 1 < source.count && (source[position + 1] == "+" || source[position + 1] == "-")
            if digit(position + (signed ? 2 : 1)) {
                isFloat = true
                take(); if signed { take() }
                while digit(position) { take() }
            }
        }
        return isFloat ? .double(Double(digits)!) : .int(Int(digits) ?? Int.max)
    }

    /// A string literal with Python's escapes (Jinja unescapes them the same way).
    private mutating func string(quote: Unicode.Scalar, line: Int) throws -> String {
        position += 1
        var out = String.UnicodeScalarView()
        while position < source.count, source[position] != quote {
            var c = source[position]
            position += 1
            if c == "\\", position < source.count {
                let e = source[position]
                position += 1
                switch e {
                case "n": c = "\n"
                case "t": c = "\t"
                case "r": c = "\r"
                case "0": c = "\0"
                case "\\", "'", "\"": c = e
                case "x", "u", "U":
                    let width = e == "x" ? 2 : e == "u" ? 4 : 8
                    var hex = ""
                    while hex.count < width, position < source.count { hex.unicodeScalars.append(source[position]); position += 1 }
                    guard let v = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(v) else {
                        throw TemplateError(.syntax, line: line, "bad escape \\\(e)\(hex) in a string")
                    }
                    c = scalar
                case "\n": continue
                default: out.append("\\"); c = e
                }
            }
            out.append(c)
        }
        guard position < source.count else { throw TemplateError(.syntax, line: line, "string is never closed") }
        position += 1
        return String(out)
    }
}
