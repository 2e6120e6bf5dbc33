// Builds the statement tree from the lexer's pieces and parses each tag's expression with Jinja2's
// precedence (lowest first): `a if c else b`, `or`, `and`, `not`, comparisons and `in`, `+ -`,
// `~`, `* / // %`, `**`, unary `-`, then primaries with `.attr`, `[…]`, calls, `| filter` and
// `is test`. Statements outside the chat-template subset are refused by name and line.

struct TemplateParser {
    private let pieces: [TemplatePiece]
    private var index = 0

    /// Block statements Jinja has and chat templates here do not get: refused by name.
    static let unsupportedStatements: Set<String> = [
        "macro", "call", "filter", "include", "import", "from", "extends", "block", "raw", "with",
        "autoescape", "do", "trans", "pluralize",
    ]

    static func parse(_ pieces: [TemplatePiece]) throws -> [TemplateNode] {
        var parser = TemplateParser(pieces: pieces)
        let (nodes, end) = try parser.body(until: [])
        if let end { throw TemplateError(.syntax, line: end.line, "unexpected {% \(end.keyword) %}") }
        return nodes
    }

    private init(pieces: [TemplatePiece]) { self.pieces = pieces }

    /// Nodes up to one of the `terminators` statements (returned, with its tokens after the keyword).
    private mutating func body(until terminators: Set<String>) throws
        -> ([TemplateNode], (keyword: String, rest: [ExprToken], line: Int)?) {
        var nodes: [TemplateNode] = []
        while index < pieces.count {
            let piece = pieces[index]
            index += 1
            switch piece {
            case .text(let s, _): nodes.append(.text(s))
            case .output(let tokens, let line):
                nodes.append(.output(try ExpressionParser.parseWhole(tokens, line: line), line: line))
            case .statement(let tokens, let line):
                guard case .name(let keyword)? = tokens.first else {
                    throw TemplateError(.syntax, line: line, "a {% %} tag must start with a statement name")
                }
                let rest = Array(tokens.dropFirst())
                if terminators.contains(keyword) { return (nodes, (keyword, rest, line)) }
                nodes.append(try statement(keyword, rest, line: line))
            }
        }
        return (nodes, nil)
    }

    private mutating func expectEnd(_ terminators: Set<String>, opened: String, line: Int) throws
        -> ([TemplateNode], (keyword: String, rest: [ExprToken], line: Int)) {
        let (nodes, end) = try body(until: terminators)
        guard let end else {
            throw TemplateError(.syntax, line: line, "{% \(opened) %} is never closed (expected {% \(terminators.sorted().joined(separator: " or ")) %})")
        }
        return (nodes, end)
    }

    private mutating func statement(_ keyword: String, _ rest: [ExprToken], line: Int) throws -> TemplateNode {
        switch keyword {
        case "if":
            var branches: [(TemplateExpr, [TemplateNode])] = []
            var condition = try ExpressionParser.parseWhole(rest, line: line)
            while true {
                let (nodes, end) = try expectEnd(["elif", "else", "endif"], opened: "if", line: line)
                branches.append((condition, nodes))
                switch end.keyword {
                case "elif": condition = try ExpressionParser.parseWhole(end.rest, line: end.line)
                case "else":
                    let (otherwise, _) = try expectEnd(["endif"], opened: "if", line: line)
                    return .ifBlock(branches: branches, otherwise: otherwise, line: line)
                default: return .ifBlock(branches: branches, otherwise: [], line: line)
                }
            }
        case "for":
            var parser = ExpressionParser(tokens: rest, line: line)
            var targets = [try parser.name()]
            while parser.accept(.op(",")) { targets.append(try parser.name()) }
            try parser.expect(.name("in"))
            // The iterable stops before a trailing `if` (a loop filter), so no conditional expression here.
            let iterable = try parser.orExpression()
            var filter: TemplateExpr?
            if parser.accept(.name("if")) { filter = try parser.expression() }
            if parser.accept(.name("recursive")) {
                throw TemplateError(.unsupported, line: line, "recursive for loops ({% for … recursive %})")
            }
            try parser.expectEnd()
            let (body, end) = try expectEnd(["else", "endfor"], opened: "for", line: line)
            var otherwise: [TemplateNode] = []
            if end.keyword == "else" { (otherwise, _) = try expectEnd(["endfor"], opened: "for", line: line) }
            return .forLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
        case "set":
            var parser = ExpressionParser(tokens: rest, line: line)
            let first = try parser.name()
            if parser.accept(.op(".")) {
                let attribute = try parser.name()
                try parser.expect(.op("="))
                let value = try parser.expression()
                try parser.expectEnd()
                return .set(.attribute(first, attribute), value, line: line)
            }
            var names = [first]
            while parser.accept(.op(",")) { names.append(try parser.name()) }
            if parser.atEnd {
                guard names.count == 1 else { throw TemplateError(.syntax, line: line, "a {% set %} block assigns one name") }
                let (body, _) = try expectEnd(["endset"], opened: "set", line: line)
                return .setBlock(first, body: body, line: line)
            }
            try parser.expect(.op("="))
            let value = try parser.tupleOrExpression()
            try parser.expectEnd()
            return .set(.names(names), value, line: line)
        case "break", "continue":
            guard rest.isEmpty else { throw TemplateError(.syntax, line: line, "{% \(keyword) %} takes nothing after it") }
            return keyword == "break" ? .breakLoop(line: line) : .continueLoop(line: line)
        case "generation":
            let (body, _) = try expectEnd(["endgeneration"], opened: "generation", line: line)
            return .generation(body)
        default:
            if Self.unsupportedStatements.contains(keyword) {
                throw TemplateError(.unsupported, line: line, "{% \(keyword) %} statements")
            }
            throw TemplateError(.syntax, line: line, "unknown statement {% \(keyword) %}")
        }
    }
}

/// Recursive descent over one tag's tokens.
struct ExpressionParser {
    private let tokens: [ExprToken]
    private var index = 0
    let line: Int

    init(tokens: [ExprToken], line: Int) { (self.tokens, self.line) = (tokens, line) }

    /// The whole token list as one expression (a bare `a, b` is a tuple, as Jinja reads it).
    static func parseWhole(_ tokens: [ExprToken], line: Int) throws -> TemplateExpr {
        var parser = ExpressionParser(tokens: tokens, line: line)
        guard !tokens.isEmpty else { throw TemplateError(.syntax, line: line, "empty expression") }
        let e = try parser.tupleOrExpression()
        try parser.expectEnd()
        return e
    }

    var atEnd: Bool { index >= tokens.count }
    private var current: ExprToken? { index < tokens.count ? tokens[index] : nil }

    private func fail(_ message: String) -> TemplateError { TemplateError(.syntax, line: line, message) }

    private func describe(_ t: ExprToken?) -> String {
        switch t {
        case nil: return "the end of the tag"
        case .name(let n): return "\"\(n)\""
        case .string(let s): return TemplateValue.pythonQuoted(s)
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .op(let o): return "\"\(o)\""
        }
    }

    mutating func accept(_ t: ExprToken) -> Bool {
        if current == t { index += 1; return true }
        return false
    }

    mutating func expect(_ t: ExprToken) throws {
        guard accept(t) else { throw fail("expected \(describe(t)), found \(describe(current))") }
    }

    func expectEnd() throws {
        if let current { throw fail("unexpected \(describe(current))") }
    }

    mutating func name() throws -> String {
        guard case .name(let n)? = current else { throw fail("expected a name, found \(describe(current))") }
        index += 1
        return n
    }

    /// `a, b` → a list (Jinja's tuple), else one expression.
    mutating func tupleOrExpression() throws -> TemplateExpr {
        let first = try expression()
        guard current == .op(",") else { return first }
        var items = [first]
        while accept(.op(",")) {
            if atEnd { break }
            items.append(try expression())
        }
        return .list(items)
    }

    mutating func expression() throws -> TemplateExpr {
        let value = try orExpression()
        guard accept(.name("if")) else { return value }
        let condition = try orExpression()
        let otherwise = accept(.name("else")) ? try expression() : nil
        return .conditional(condition: condition, then: value, otherwise: otherwise)
    }

    mutating func orExpression() throws -> TemplateExpr {
        var left = try andExpression()
        while accept(.name("or")) { left = .or(left, try andExpression()) }
        return left
    }

    private mutating func andExpression() throws -> TemplateExpr {
        var left = try notExpression()
        while accept(.name("and")) { left = .and(left, try notExpression()) }
        return left
    }

    private mutating func notExpression() throws -> TemplateExpr {
        if accept(.name("not")) { return .not(try notExpression()) }
        return try comparison()
    }

    private mutating func comparison() throws -> TemplateExpr {
        let left = try additive()
        var ops: [(String, TemplateExpr)] = []
        while true {
            if case .op(let o)? = current, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                index += 1
                ops.append((o, try additive()))
            } else if accept(.name("in")) {
                ops.append(("in", try additive()))
            } else if current == .name("not"), index + 1 < tokens.count, tokens[index + 1] == .name("in") {
                index += 2
                ops.append(("not in", try additive()))
            } else { break }
        }
        return ops.isEmpty ? left : .compare(left, ops)
    }

    private mutating func additive() throws -> TemplateExpr {
        var left = try concatenation()
        while case .op(let o)? = current, o == "+" || o == "-" {
            index += 1
            left = .binary(o, left, try concatenation())
        }
        return left
    }

    private mutating func concatenation() throws -> TemplateExpr {
        var left = try multiplicative()
        while accept(.op("~")) { left = .binary("~", left, try multiplicative()) }
        return left
    }

    private mutating func multiplicative() throws -> TemplateExpr {
        var left = try power()
        while case .op(let o)? = current, ["*", "/", "//", "%"].contains(o) {
            index += 1
            left = .binary(o, left, try power())
        }
        return left
    }

    private mutating func power() throws -> TemplateExpr {
        var left = try unary()
        while accept(.op("**")) { left = .binary("**", left, try unary()) }
        return left
    }

    /// As Jinja's parse_unary: `-x|abs` is `(-x)|abs`; the operand of a sign takes no filters itself.
    private mutating func unary(withFilters: Bool = true) throws -> TemplateExpr {
        var e: TemplateExpr
        if accept(.op("-")) { e = .negate(try unary(withFilters: false)) }
        else if accept(.op("+")) { e = try unary(withFilters: false) }
        else { e = try primary() }
        e = try postfix(e)
        return withFilters ? try filtersAndTests(e) : e
    }

    private mutating func primary() throws -> TemplateExpr {
        guard let t = current else { throw fail("expected an expression, found the end of the tag") }
        index += 1
        switch t {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .string(var s):
            // Adjacent literals concatenate, as in Python.
            while case .string(let more)? = current { s += more; index += 1 }
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .op("("):
            if accept(.op(")")) { return .list([]) }
            let e = try tupleOrExpression()
            try expect(.op(")"))
            return e
        case .op("["):
            var items: [TemplateExpr] = []
            while !accept(.op("]")) {
                items.append(try expression())
                if !accept(.op(",")) { try expect(.op("]")); break }
            }
            return .list(items)
        case .op("{"):
            var pairs: [(TemplateExpr, TemplateExpr)] = []
            while !accept(.op("}")) {
                let key = try expression()
                try expect(.op(":"))
                pairs.append((key, try expression()))
                if !accept(.op(",")) { try expect(.op("}")); break }
            }
            return .dict(pairs)
        default:
            throw fail("expected an expression, found \(describe(t))")
        }
    }

    private mutating func postfix(_ base: TemplateExpr) throws -> TemplateExpr {
        var e = base
        while true {
            if accept(.op(".")) {
                if case .int(let i)? = current { index += 1; e = .index(e, .literal(.int(i))); continue }
                e = .attribute(e, try name())
            } else if accept(.op("[")) {
                e = try subscriptOrSlice(e)
            } else if accept(.op("(")) {
                let (args, kwargs) = try callArguments()
                e = .call(e, args: args, kwargs: kwargs)
            } else { return e }
        }
    }

    private mutating func subscriptOrSlice(_ base: TemplateExpr) throws -> TemplateExpr {
        var parts: [TemplateExpr?] = [nil]
        var isSlice = false
        while !accept(.op("]")) {
            if accept(.op(":")) { isSlice = true; parts.append(nil); continue }
            guard parts[parts.count - 1] == nil else { throw fail("expected \":\" or \"]\" in a subscript") }
            parts[parts.count - 1] = try expression()
        }
        if !isSlice {
            guard let key = parts[0] else { throw fail("empty subscript []") }
            return .index(base, key)
        }
        guard parts.count <= 3 else { throw fail("a slice has at most three parts") }
        return .slice(base, start: parts[0], stop: parts.count > 1 ? parts[1] : nil, step: parts.count > 2 ? parts[2] : nil)
    }

    /// After `(`: positional then keyword arguments, through `)`.
    private mutating func callArguments() throws -> ([TemplateExpr], [(String, TemplateExpr)]) {
        var args: [TemplateExpr] = []
        var kwargs: [(String, TemplateExpr)] = []
        while !accept(.op(")")) {
            if case .name(let n)? = current, index + 1 < tokens.count, tokens[index + 1] == .op("=") {
                index += 2
                kwargs.append((n, try expression()))
            } else {
                if current == .op("*") || current == .op("**") {
                    throw TemplateError(.unsupported, line: line, "argument unpacking (*args, **kwargs) in a call")
                }
                guard kwargs.isEmpty else { throw fail("a positional argument follows a keyword argument") }
                args.append(try expression())
            }
            if !accept(.op(",")) { try expect(.op(")")); break }
        }
        return (args, kwargs)
    }

    private mutating func filtersAndTests(_ base: TemplateExpr) throws -> TemplateExpr {
        var e = base
        while true {
            if accept(.op("|")) {
                let name = try dottedName()
                var args: [TemplateExpr] = [], kwargs: [(String, TemplateExpr)] = []
                if accept(.op("(")) { (args, kwargs) = try callArguments() }
                e = .filter(e, name: name, args: args, kwargs: kwargs)
            } else if accept(.name("is")) {
                let negated = accept(.name("not"))
                let name = try dottedName()
                var args: [TemplateExpr] = []
                if accept(.op("(")) {
                    args = try callArguments().0
                } else if let t = current, Self.startsTestArgument(t) {
                    // `x is divisibleby 3`, `x is sameas none`: one argument without parentheses.
                    args = [try postfix(try primary())]
                }
                e = .test(e, name: name, args: args, negated: negated)
            } else if accept(.op("(")) {
                let (args, kwargs) = try callArguments()
                e = .call(e, args: args, kwargs: kwargs)
            } else { return e }
        }
    }

    private static func startsTestArgument(_ t: ExprToken) -> Bool {
        switch t {
        case .string, .int, .double: return true
        case .name(let n): return !["else", "or", "and", "is", "in", "not", "if"].contains(n)
        case .op(let o): return o == "[" || o == "{"
        }
    }

    private mutating func dottedName() throws -> String {
        var n = try name()
        while accept(.op(".")) { n += "." + (try name()) }
        return n
    }
}
