// Runs a parsed template: statements write text, expressions are evaluated with Jinja2's Python

import Foundation
// semantics (attribute and item lookup with the fallbacks Jinja's `getattr`/`getitem` make,
// Python's operators, `and`/`or` returning an operand, scopes per for loop so that only a
// `namespace` carries values out of a loop).

/// What a statement list ended with: normally, or at `{% break %}` / `{% continue %}`.
enum Flow { case normal, breakLoop, continueLoop }

final class TemplateEvaluator {
    /// Innermost last. The first holds the globals and the render's variables.
    private var scopes: [[String: TemplateValue]]
    private(set) var output = ""
    /// The line of the statement being run, for errors raised inside builtins.
    var line = 1

    init(variables: [String: TemplateValue]) {
        scopes = [TemplateBuiltins.globals.merging(variables) { _, given in given }]
    }

    func error(_ message: String) -> TemplateError { TemplateError(.runtime, line: line, message) }

    // MARK: statements

    func run(_ nodes: [TemplateNode]) throws -> Flow {
        for node in nodes {
            switch node {
            case .text(let s): output += s
            case .output(let e, let line):
                self.line = line
                output += try evaluate(e).pythonString
            case .ifBlock(let branches, let otherwise, let line):
                self.line = line
                var taken = false
                for (condition, body) in branches where try evaluate(condition).isTruthy {
                    taken = true
                    let flow = try run(body)
                    if flow != .normal { return flow }
                    break
                }
                if !taken {
                    let flow = try run(otherwise)
                    if flow != .normal { return flow }
                }
            case .forLoop(let targets, let iterable, let filter, let body, let otherwise, let line):
                self.line = line
                try runLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise)
            case .set(let target, let e, let line):
                self.line = line
                try assign(target, try evaluate(e))
            case .setBlock(let name, let body, let line):
                self.line = line
                let saved = output
                output = ""
                _ = try run(body)
                let captured = output
                output = saved
                scopes[scopes.count - 1][name] = .string(captured)
            case .breakLoop(let line), .continueLoop(let line):
                self.line = line
                guard scopes.count > 1 else { throw error("{% break %} / {% continue %} outside a for loop") }
                if case .breakLoop = node { return .breakLoop }
                return .continueLoop
            case .generation(let body):
                let flow = try run(body)
                if flow != .normal { return flow }
            }
        }
        return .normal
    }

    private func assign(_ target: SetTarget, _ value: TemplateValue) throws {
        switch target {
        case .names(let names):
            if names.count == 1 { scopes[scopes.count - 1][names[0]] = value; return }
            let items = try iterate(value)
            guard items.count == names.count else {
                throw error("cannot unpack \(items.count) values into \(names.count) names")
            }
            for (n, v) in zip(names, items) { scopes[scopes.count - 1][n] = v }
        case .attribute(let object, let attribute):
            guard case .namespace(let ns) = lookup(object) else {
                throw error("{% set \(object).\(attribute) = … %} needs \(object) to be a namespace()")
            }
            ns.storage[attribute] = value
        }
    }

    private func runLoop(targets: [String], iterable: TemplateExpr, filter: TemplateExpr?,
                         body: [TemplateNode], otherwise: [TemplateNode]) throws {
        let loopLine = line
        var items = try iterate(try evaluate(iterable))
        scopes.append([:])
        defer { scopes.removeLast() }
        func bind(_ item: TemplateValue) throws {
            if targets.count == 1 { scopes[scopes.count - 1][targets[0]] = item; return }
            let parts = try iterate(item)
            guard parts.count == targets.count else {
                throw error("cannot unpack \(parts.count) values into \(targets.count) loop variables")
            }
            for (n, v) in zip(targets, parts) { scopes[scopes.count - 1][n] = v }
        }
        if let filter {
            // The filter sees the loop variables but not `loop` (Jinja filters before counting).
            items = try items.filter { try bind($0); return try evaluate(filter).isTruthy }
        }
        if items.isEmpty { _ = try run(otherwise); return }
        for (i, item) in items.enumerated() {
            try bind(item)
            scopes[scopes.count - 1]["loop"] = loopValue(index: i, items: items)
            line = loopLine
            if try run(body) == .breakLoop { break }
        }
    }

    private func loopValue(index i: Int, items: [TemplateValue]) -> TemplateValue {
        let n = items.count
        let cycle = TemplateFunction(name: "loop.cycle") { args, _ in
            args.isEmpty ? .none : args[i % args.count]
        }
        return .dict(TemplateDict([
            ("index", .int(i + 1)), ("index0", .int(i)), ("revindex", .int(n - i)), ("revindex0", .int(n - i - 1)),
            ("first", .bool(i == 0)), ("last", .bool(i == n - 1)), ("length", .int(n)), ("depth", .int(1)), ("depth0", .int(0)),
            ("previtem", i > 0 ? items[i - 1] : .undefined(name: "loop.previtem")),
            ("nextitem", i + 1 < n ? items[i + 1] : .undefined(name: "loop.nextitem")),
            ("cycle", .function(cycle)),
        ]))
    }

    func lookup(_ name: String) -> TemplateValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined(name: name)
    }

    /// The elements a for loop visits: a list's items, a string's characters, a dict's keys.
    func iterate(_ v: TemplateValue) throws -> [TemplateValue] {
        switch v {
        case .list(let l): return l
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .dict(let d): return d.keys.map { .string($0) }
        case .undefined(let name): throw error("\(name) is undefined and cannot be iterated")
        default: throw error("'\(v.typeName)' object is not iterable")
        }
    }

    // MARK: expressions

    func evaluate(_ e: TemplateExpr) throws -> TemplateValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .list(try items.map(evaluate))
        case .dict(let pairs):
            var d = TemplateDict()
            for (k, v) in pairs {
                guard case .string(let key) = try evaluate(k) else { throw error("dictionary keys must be strings here") }
                d[key] = try evaluate(v)
            }
            return .dict(d)
        case .attribute(let base, let name): return try attribute(try evaluate(base), name)
        case .index(let base, let key): return try item(try evaluate(base), try evaluate(key))
        case .slice(let base, let start, let stop, let step):
            return try slice(try evaluate(base), start.map(evaluate), stop.map(evaluate), step.map(evaluate))
        case .call(let callee, let args, let kwargs):
            let f = try evaluate(callee)
            guard case .function(let function) = f else {
                if case .undefined(let name) = f { throw error("\(name) is undefined and cannot be called") }
                throw error("'\(f.typeName)' object is not callable")
            }
            let values = try args.map(evaluate), keywords = try keywordArguments(kwargs)
            do {
                return try function.call(values, keywords)
            } catch let raised as TemplateBuiltins.RaisedException {
                throw TemplateError(.raised, line: line, raised.message)
            } catch let e as TemplateBuiltins.BuiltinError {
                throw error("\(function.name)(): \(e.message)")
            }
        case .filter(let base, let name, let args, let kwargs):
            return try TemplateBuiltins.filter(name, try evaluate(base), try args.map(evaluate), try keywordArguments(kwargs), self)
        case .test(let base, let name, let args, let negated):
            let result = try TemplateBuiltins.test(name, try evaluate(base), try args.map(evaluate), self)
            return .bool(result != negated)
        case .negate(let inner):
            switch try evaluate(inner) {
            case .int(let i): return .int(-i)
            case .bool(let b): return .int(b ? -1 : 0)
            case .double(let d): return .double(-d)
            case let v: throw error("bad operand type for unary -: '\(v.typeName)'")
            }
        case .not(let inner): return .bool(!(try evaluate(inner).isTruthy))
        case .and(let a, let b):
            let left = try evaluate(a)
            return left.isTruthy ? try evaluate(b) : left
        case .or(let a, let b):
            let left = try evaluate(a)
            return left.isTruthy ? left : try evaluate(b)
        case .binary(let op, let a, let b): return try binary(op, try evaluate(a), try evaluate(b))
        case .compare(let first, let rest):
            var left = try evaluate(first)
            for (op, e) in rest {
                let right = try evaluate(e)
                if !(try compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let condition, let then, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined(name: "the missing else branch")
        }
    }

    private func keywordArguments(_ kwargs: [(String, TemplateExpr)]) throws -> TemplateDict {
        TemplateDict(try kwargs.map { ($0.0, try evaluate($0.1)) })
    }

    /// `base.name`: a method of the value first (as Python's getattr), then a dictionary key.
    func attribute(_ base: TemplateValue, _ name: String) throws -> TemplateValue {
        switch base {
        case .undefined(let b): throw error("\(b) is undefined (reading .\(name))")
        case .namespace(let ns): return ns.storage[name] ?? .undefined(name: name)
        case .dict(let d):
            if let method = try TemplateBuiltins.method(name, of: base, self) { return method }
            return d[name] ?? .undefined(name: name)
        default:
            return try TemplateBuiltins.method(name, of: base, self) ?? .undefined(name: name)
        }
    }

    /// `base[key]`: a dictionary key, or a list or string position (negative from the end);
    /// missing is undefined, as in Jinja.
    func item(_ base: TemplateValue, _ key: TemplateValue) throws -> TemplateValue {
        switch (base, key) {
        case (.undefined(let b), _): throw error("\(b) is undefined (reading [\(key.pythonRepr)])")
        case (.dict(let d), .string(let k)):
            if let v = d[k] { return v }
            return try TemplateBuiltins.method(k, of: base, self) ?? .undefined(name: k)
        case (.namespace(let ns), .string(let k)): return ns.storage[k] ?? .undefined(name: k)
        case (.list(let l), _):
            guard let i = key.integer else { throw error("list indices must be integers, not \(key.typeName)") }
            let j = i < 0 ? l.count + i : i
            return l.indices.contains(j) ? l[j] : .undefined(name: "index \(i)")
        case (.string(let s), _):
            guard let i = key.integer else { throw error("string indices must be integers, not \(key.typeName)") }
            let scalars = Array(s.unicodeScalars)
            let j = i < 0 ? scalars.count + i : i
            return scalars.indices.contains(j) ? .string(String(scalars[j])) : .undefined(name: "index \(i)")
        default:
            if case .string(let k) = key, let method = try TemplateBuiltins.method(k, of: base, self) { return method }
            return .undefined(name: key.pythonString)
        }
    }

    private func slice(_ base: TemplateValue, _ start: TemplateValue?, _ stop: TemplateValue?, _ step: TemplateValue?) throws -> TemplateValue {
        func bound(_ v: TemplateValue?) throws -> Int? {
            guard let v, !(v.isUndefined), !(v.pythonEquals(.none)) else { return nil }
            guard let i = v.integer else { throw error("slice indices must be integers") }
            return i
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw error("slice step cannot be zero") }
        func indices(_ n: Int) throws -> [Int] {
            func clamp(_ i: Int?, _ fallback: Int, low: Int, high: Int) -> Int {
                guard var i else { return fallback }
                if i < 0 { i += n }
                return min(max(i, low), high)
            }
            if stepValue > 0 {
                let a = clamp(try bound(start), 0, low: 0, high: n), b = clamp(try bound(stop), n, low: 0, high: n)
                return Array(stride(from: a, to: b, by: stepValue))
            }
            let a = clamp(try bound(start), n - 1, low: -1, high: n - 1), b = clamp(try bound(stop), -1, low: -1, high: n - 1)
            return Array(stride(from: a, to: b, by: stepValue))
        }
        switch base {
        case .list(let l): return .list(try indices(l.count).map { l[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in try indices(scalars.count) { out.append(scalars[i]) }
            return .string(String(out))
        case .undefined(let b): throw error("\(b) is undefined (slicing it)")
        default: throw error("'\(base.typeName)' object cannot be sliced")
        }
    }

    func binary(_ op: String, _ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        if op == "~" { return .string(a.pythonString + b.pythonString) }
        if case .undefined(let name) = a { throw error("\(name) is undefined (used with \(op))") }
        if case .undefined(let name) = b { throw error("\(name) is undefined (used with \(op))") }
        func typeError() -> TemplateError {
            error("unsupported operand types for \(op): '\(a.typeName)' and '\(b.typeName)'")
        }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)): return .string(x + y)
        case ("+", .list(let x), .list(let y)): return .list(x + y)
        case ("*", .string(let s), _) where b.integer != nil: return .string(String(repeating: s, count: max(0, b.integer!)))
        case ("*", _, .string(let s)) where a.integer != nil: return .string(String(repeating: s, count: max(0, a.integer!)))
        case ("*", .list(let l), _) where b.integer != nil:
            return .list(Array(repeating: l, count: max(0, b.integer!)).flatMap { $0 })
        case ("%", .string, _):
            throw TemplateError(.unsupported, line: line, "printf-style string formatting (\"…\" % values)")
        default: break
        }
        if let x = a.integer, let y = b.integer {
            switch op {
            case "+": return .int(x + y)
            case "-": return .int(x - y)
            case "*": return .int(x * y)
            case "/": guard y != 0 else { throw error("division by zero") }; return .double(Double(x) / Double(y))
            case "//":
                guard y != 0 else { throw error("integer division by zero") }
                return .int(Int((Double(x) / Double(y)).rounded(.down)))
            case "%":
                guard y != 0 else { throw error("modulo by zero") }
                let r = x % y
                return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            case "**": return y >= 0 ? .int(Int(pow(Double(x), Double(y)))) : .double(pow(Double(x), Double(y)))
            default: break
            }
        }
        guard let x = a.numeric, let y = b.numeric else { throw typeError() }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/": guard y != 0 else { throw error("division by zero") }; return .double(x / y)
        case "//": guard y != 0 else { throw error("division by zero") }; return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw error("modulo by zero") }
            let r = x.truncatingRemainder(dividingBy: y)
            return .double(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case "**": return .double(pow(x, y))
        default: throw typeError()
        }
    }

    func compare(_ op: String, _ a: TemplateValue, _ b: TemplateValue) throws -> Bool {
        switch op {
        case "==": return a.pythonEquals(b)
        case "!=": return !a.pythonEquals(b)
        case "in": return try contains(b, a)
        case "not in": return !(try contains(b, a))
        default: break
        }
        let order: Int
        if let x = a.numeric, let y = b.numeric {
            order = x < y ? -1 : x > y ? 1 : 0
        } else if case .string(let x) = a, case .string(let y) = b {
            let xs = x.unicodeScalars.map(\.value), ys = y.unicodeScalars.map(\.value)
            order = xs.lexicographicallyPrecedes(ys) ? -1 : xs == ys ? 0 : 1
        } else {
            throw error("'\(op)' is not supported between '\(a.typeName)' and '\(b.typeName)'")
        }
        switch op {
        case "<": return order < 0
        case "<=": return order <= 0
        case ">": return order > 0
        default: return order >= 0
        }
    }

    /// Python's `needle in container`.
    func contains(_ container: TemplateValue, _ needle: TemplateValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw error("'in <string>' requires a string on the left, not \(needle.typeName)")
            }
            return PythonStrings.find(n, in: s) != nil
        case .list(let l): return l.contains { $0.pythonEquals(needle) }
        case .dict(let d):
            if case .string(let k) = needle { return d[k] != nil }
            return false
        case .namespace(let ns):
            if case .string(let k) = needle { return ns.storage[k] != nil }
            return false
        case .undefined(let name): throw error("\(name) is undefined (used with in)")
        default: throw error("argument of type '\(container.typeName)' is not iterable")
        }
    }
}
