import Foundation

/// A prompt with `{column}` placeholders, each optionally followed by filters: `{question|
/// question_mark|capitalize}`. `{{` and `}}` are literal braces. The filters are the text
/// transformations MeZO's templates apply in Python (`.strip()`, `question[0].upper()`, …), so that
/// a built-in task file reproduces MeZO's prompt text exactly without code of its own.
public struct PromptTemplate: Sendable {
    public struct SyntaxError: Error { public let message: String }

    enum Piece: Sendable {
        case text(String)
        case column(String, filters: [Filter])
    }

    /// Text transformations, applied left to right.
    enum Filter: Sendable {
        case strip, rstrip, lower, upper
        /// First character upper-cased (MeZO BoolQ: `question[0].upper() + question[1:]`).
        case capitalize
        /// First character lower-cased (LM-BFF's `*sentl_i*`).
        case lowerFirst
        /// Appends "?" unless the text ends with one (MeZO BoolQ).
        case questionMark
        /// Drops one final "." (MeZO COPA's premise).
        case dropFinalPeriod
        /// Drops the last character (LM-BFF's `*sent-_i*`).
        case dropLastCharacter
        /// Lower-cases the first word unless it is "I" (MeZO COPA's `capitalization = "correct"`).
        case lowerFirstWord
        /// Replaces the value through a table of the task file's `maps`.
        case map([String: String], name: String)

        static let names = ["strip", "rstrip", "lower", "upper", "capitalize", "lower_first", "question_mark",
                            "drop_final_period", "drop_last_character", "lower_first_word", "map:NAME"]

        init(_ spec: String, maps: [String: [String: String]]) throws {
            switch spec {
            case "strip": self = .strip
            case "rstrip": self = .rstrip
            case "lower": self = .lower
            case "upper": self = .upper
            case "capitalize": self = .capitalize
            case "lower_first": self = .lowerFirst
            case "question_mark": self = .questionMark
            case "drop_final_period": self = .dropFinalPeriod
            case "drop_last_character": self = .dropLastCharacter
            case "lower_first_word": self = .lowerFirstWord
            case let s where s.hasPrefix("map:"):
                let name = String(s.dropFirst(4))
                guard let table = maps[name] else { throw SyntaxError(message: "filter \(s): no map \"\(name)\" in the task's maps") }
                self = .map(table, name: name)
            default:
                throw SyntaxError(message: "unknown filter \"\(spec)\" (known: \(Self.names.joined(separator: ", ")))")
            }
        }

        func apply(_ s: String) throws -> String {
            switch self {
            case .strip: return s.trimmingCharacters(in: .whitespacesAndNewlines)
            case .rstrip:
                var t = Substring(s)
                while let last = t.last, last.isWhitespace { t.removeLast() }
                return String(t)
            case .lower: return s.lowercased()
            case .upper: return s.uppercased()
            case .capitalize: return s.prefix(1).uppercased() + s.dropFirst()
            case .lowerFirst: return s.prefix(1).lowercased() + s.dropFirst()
            case .questionMark: return s.hasSuffix("?") ? s : s + "?"
            case .dropFinalPeriod: return s.hasSuffix(".") ? String(s.dropLast()) : s
            case .dropLastCharacter: return String(s.dropLast())
            case .lowerFirstWord:
                var words = s.components(separatedBy: " ")
                if let first = words.first, first != "I" { words[0] = first.lowercased() }
                return words.joined(separator: " ")
            case .map(let table, let name):
                guard let v = table[s] else {
                    throw SyntaxError(message: "value \"\(s)\" is not in map \"\(name)\" (\(table.keys.sorted().joined(separator: ", ")))")
                }
                return v
            }
        }
    }

    let pieces: [Piece]

    /// The data columns the template reads, in order of first use.
    public let columns: [String]

    public init(_ template: String, maps: [String: [String: String]] = [:]) throws {
        var pieces: [Piece] = []
        var columns: [String] = []
        var literal = ""
        var i = template.startIndex
        while i < template.endIndex {
            let ch = template[i]
            let next = template.index(after: i)
            if ch == "{", next < template.endIndex, template[next] == "{" {
                literal.append("{"); i = template.index(after: next); continue
            }
            if ch == "}", next < template.endIndex, template[next] == "}" {
                literal.append("}"); i = template.index(after: next); continue
            }
            if ch == "}" { throw SyntaxError(message: "unmatched \"}\" (write }} for a literal brace)") }
            if ch == "{" {
                guard let close = template[next...].firstIndex(of: "}") else {
                    throw SyntaxError(message: "unclosed \"{\" (write {{ for a literal brace)")
                }
                let inside = template[next..<close].split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                let column = inside[0].trimmingCharacters(in: .whitespaces)
                guard !column.isEmpty else { throw SyntaxError(message: "empty placeholder {}") }
                let filters = try inside.dropFirst().map { try Filter($0.trimmingCharacters(in: .whitespaces), maps: maps) }
                if !literal.isEmpty { pieces.append(.text(literal)); literal = "" }
                pieces.append(.column(column, filters: filters))
                if !columns.contains(column) { columns.append(column) }
                i = template.index(after: close)
                continue
            }
            literal.append(ch)
            i = next
        }
        if !literal.isEmpty { pieces.append(.text(literal)) }
        self.pieces = pieces
        self.columns = columns
    }

    /// The text for one example. `value(column)` returns nil for a column the example lacks.
    /// - Throws: `SyntaxError` for a missing column or a value a `map` filter does not know.
    public func render(_ value: (String) -> String?) throws -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .text(let t): out += t
            case .column(let name, let filters):
                guard var v = value(name) else { throw SyntaxError(message: "no column \"\(name)\"") }
                for f in filters { v = try f.apply(v) }
                out += v
            }
        }
        return out
    }
}
