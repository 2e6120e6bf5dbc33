// The filters, tests, methods and global functions chat templates call, with the behaviour
// transformers' Jinja2 environment gives them (its `tojson` is `json.dumps(ensure_ascii=False)`,
// its `raise_exception` stops the rendering). Anything else is refused by name.

import Foundation

enum TemplateBuiltins {
    /// The variables every render sees (transformers adds `raise_exception` and `strftime_now`;
    /// Jinja itself `namespace`, `range` and `dict`).
    static let globals: [String: TemplateValue] = [
        "raise_exception": .function(TemplateFunction(name: "raise_exception") { args, _ in
            // The evaluator turns this into a `.raised` error at the calling line.
            throw RaisedException(message: args.first?.pythonString ?? "")
        }),
        "namespace": .function(TemplateFunction(name: "namespace") { args, kwargs in
            var d = TemplateDict()
            if case .dict(let initial)? = args.first { for k in initial.keys { d[k] = initial[k] } }
            for k in kwargs.keys { d[k] = kwargs[k] }
            return .namespace(TemplateNamespace(d))
        }),
        "range": .function(TemplateFunction(name: "range") { args, _ in
            let ints = args.compactMap(\.integer)
            guard ints.count == args.count, (1...3).contains(ints.count) else { throw BuiltinError("range() takes 1 to 3 integers") }
            let (start, stop, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw BuiltinError("range() step must not be zero") }
            return .list(Array(stride(from: start, to: stop, by: step)).map { .int($0) })
        }),
        "dict": .function(TemplateFunction(name: "dict") { _, kwargs in .dict(kwargs) }),
        "strftime_now": .function(TemplateFunction(name: "strftime_now") { args, _ in
            guard case .string(let format)? = args.first else { throw BuiltinError("strftime_now(format) takes a format string") }
            return .string(try strftime(format, Date()))
        }),
    ]

    /// Thrown by `raise_exception`.
    struct RaisedException: Error { let message: String }
    /// A builtin's complaint; the evaluator adds the line.
    struct BuiltinError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// Python's `time.strftime` for the directives chat templates use (Llama 3's date line).
    static func strftime(_ format: String, _ date: Date) throws -> String {
        let calendar = Calendar(identifier: .gregorian)
        let c = calendar.dateComponents(in: TimeZone.current, from: date)
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December"]
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        var out = ""
        var percent = false
        for ch in format {
            if !percent { if ch == "%" { percent = true } else { out.append(ch) }; continue }
            percent = false
            switch ch {
            case "d": out += String(format: "%02d", c.day!)
            case "m": out += String(format: "%02d", c.month!)
            case "Y": out += String(c.year!)
            case "y": out += String(format: "%02d", c.year! % 100)
            case "b": out += String(months[c.month! - 1].prefix(3))
            case "B": out += months[c.month! - 1]
            case "a": out += String(days[c.weekday! - 1].prefix(3))
            case "A": out += days[c.weekday! - 1]
            case "H": out += String(format: "%02d", c.hour!)
            case "M": out += String(format: "%02d", c.minute!)
            case "S": out += String(format: "%02d", c.second!)
            case "%": out += "%"
            default: throw BuiltinError("strftime_now: unsupported directive %\(ch)")
            }
        }
        return out
    }

    // MARK: filters

    static let filterNames: Set<String> = [
        "trim", "tojson", "length", "count", "upper", "lower", "title", "capitalize", "default", "d", "first", "last",
        "join", "replace", "list", "string", "int", "float", "abs", "safe", "escape", "e", "items", "reverse",
        "selectattr", "rejectattr", "map", "select", "reject", "indent", "unique", "min", "max", "sum", "wordcount",
        "dictsort", "round", "batch", "sort",
    ]

    static func filter(_ name: String, _ value: TemplateValue, _ args: [TemplateValue], _ kwargs: TemplateDict,
                       _ ev: TemplateEvaluator) throws -> TemplateValue {
        do {
            return try applyFilter(name, value, args, kwargs, ev)
        } catch let e as BuiltinError {
            throw ev.error("filter \(name): \(e.message)")
        }
    }

    private static func argument(_ args: [TemplateValue], _ kwargs: TemplateDict, _ i: Int, _ name: String) -> TemplateValue? {
        i < args.count ? args[i] : kwargs[name]
    }

    private static func applyFilter(_ name: String, _ value: TemplateValue, _ args: [TemplateValue], _ kwargs: TemplateDict,
                                    _ ev: TemplateEvaluator) throws -> TemplateValue {
        guard filterNames.contains(name) else {
            throw TemplateError(.unsupported, line: ev.line, "the filter \"\(name)\"")
        }
        if case .undefined(let n) = value, !["default", "d", "string", "length", "count", "list", "safe", "trim", "e", "escape"].contains(name) {
            throw ev.error("\(n) is undefined (filtered with \(name))")
        }
        switch name {
        case "trim":
            let chars = argument(args, kwargs, 0, "chars").flatMap { $0.pythonEquals(.none) ? nil : $0.pythonString }
            return .string(PythonStrings.strip(value.pythonString, chars: chars))
        case "tojson":
            let indent = argument(args, kwargs, 0, "indent")?.integer
            let sortKeys = argument(args, kwargs, 2, "sort_keys")?.isTruthy ?? false
            return .string(try TemplateJSON.dumps(value, indent: indent, sortKeys: sortKeys))
        case "length", "count":
            switch value {
            case .undefined: return .int(0)
            case .string(let s): return .int(s.unicodeScalars.count)
            case .list(let l): return .int(l.count)
            case .dict(let d): return .int(d.keys.count)
            case .namespace(let ns): return .int(ns.storage.keys.count)
            default: throw BuiltinError("object of type '\(value.typeName)' has no len()")
            }
        case "upper": return .string(value.pythonString.uppercased())
        case "lower": return .string(value.pythonString.lowercased())
        case "title": return .string(PythonStrings.title(value.pythonString))
        case "capitalize": return .string(PythonStrings.capitalize(value.pythonString))
        case "default", "d":
            let fallback = argument(args, kwargs, 0, "default_value") ?? .string("")
            let boolean = argument(args, kwargs, 1, "boolean")?.isTruthy ?? false
            if value.isUndefined || (boolean && !value.isTruthy) { return fallback }
            return value
        case "first", "last":
            let items = try ev.iterate(value)
            guard !items.isEmpty else { return .undefined(name: "\(name) of an empty sequence") }
            return name == "first" ? items[0] : items[items.count - 1]
        case "join":
            let separator = argument(args, kwargs, 0, "d")?.pythonString ?? ""
            var items = try ev.iterate(value)
            if let attribute = argument(args, kwargs, 1, "attribute") {
                items = try items.map { try ev.attributeOrItem($0, attribute) }
            }
            return .string(items.map(\.pythonString).joined(separator: separator))
        case "replace":
            guard args.count >= 2 else { throw BuiltinError("replace(old, new[, count])") }
            return .string(PythonStrings.replace(value.pythonString, args[0].pythonString, args[1].pythonString,
                                                 count: args.count > 2 ? (args[2].integer ?? -1) : -1))
        case "list": return value.isUndefined ? .list([]) : .list(try ev.iterate(value))
        case "string": return .string(value.pythonString)
        case "int":
            switch value {
            case .int, .bool: return .int(value.integer!)
            case .double(let d): return .int(Int(d))
            case .string(let s): return .int(Int(PythonStrings.strip(s, chars: nil)) ?? Int(Double(PythonStrings.strip(s, chars: nil)) ?? 0))
            default: return .int(argument(args, kwargs, 0, "default")?.integer ?? 0)
            }
        case "float":
            if let d = value.numeric { return .double(d) }
            if case .string(let s) = value, let d = Double(PythonStrings.strip(s, chars: nil)) { return .double(d) }
            return .double(argument(args, kwargs, 0, "default")?.numeric ?? 0)
        case "abs":
            switch value {
            case .int(let i): return .int(abs(i))
            case .double(let d): return .double(abs(d))
            case .bool(let b): return .int(b ? 1 : 0)
            default: throw BuiltinError("bad operand type for abs(): '\(value.typeName)'")
            }
        case "safe": return value
        case "escape", "e":
            var s = value.pythonString
            for (a, b) in [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\"", "&#34;"), ("'", "&#39;")] {
                s = PythonStrings.replace(s, a, b)
            }
            return .string(s)
        case "items":
            guard case .dict(let d) = value else { throw BuiltinError("items needs a mapping, not \(value.typeName)") }
            return .list(d.keys.map { .list([.string($0), d[$0]!]) })
        case "reverse":
            if case .string(let s) = value { return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed()))) }
            return .list(try ev.iterate(value).reversed())
        case "unique":
            var seen: [TemplateValue] = []
            for v in try ev.iterate(value) where !seen.contains(where: { $0.pythonEquals(v) }) { seen.append(v) }
            return .list(seen)
        case "min", "max":
            let items = try ev.iterate(value)
            guard var best = items.first else { return .undefined(name: "\(name) of an empty sequence") }
            for v in items.dropFirst() where try ev.compare(name == "min" ? "<" : ">", v, best) { best = v }
            return best
        case "sum":
            var total: TemplateValue = argument(args, kwargs, 1, "start") ?? .int(0)
            for v in try ev.iterate(value) {
                let term = try argument(args, kwargs, 0, "attribute").map { try ev.attributeOrItem(v, $0) } ?? v
                total = try ev.binary("+", total, term)
            }
            return total
        case "wordcount": return .int(PythonStrings.split(value.pythonString, separator: nil).count)
        case "round":
            let precision = argument(args, kwargs, 0, "precision")?.integer ?? 0
            let method = argument(args, kwargs, 1, "method")?.pythonString ?? "common"
            guard let x = value.numeric else { throw BuiltinError("round needs a number") }
            let scale = pow(10.0, Double(precision))
            let rule: FloatingPointRoundingRule = method == "ceil" ? .up : method == "floor" ? .down : .toNearestOrAwayFromZero
            return .double((x * scale).rounded(rule) / scale)
        case "indent":
            let width = argument(args, kwargs, 0, "width")
            let first = argument(args, kwargs, 1, "first")?.isTruthy ?? false
            let blank = argument(args, kwargs, 2, "blank")?.isTruthy ?? false
            let pad: String = { if case .string(let s)? = width { return s }; return String(repeating: " ", count: width?.integer ?? 4) }()
            var lines = PythonStrings.split(value.pythonString, separator: "\n")
            for i in lines.indices where (i > 0 || first) && (blank || !PythonStrings.strip(lines[i], chars: nil).isEmpty) {
                lines[i] = pad + lines[i]
            }
            return .string(lines.joined(separator: "\n"))
        case "selectattr", "rejectattr", "select", "reject":
            let byAttribute = name.hasSuffix("attr")
            let keep = name.hasPrefix("select")
            var rest = args
            var attribute: TemplateValue?
            if byAttribute {
                guard !rest.isEmpty else { throw BuiltinError("\(name) needs an attribute name") }
                attribute = rest.removeFirst()
            }
            return .list(try ev.iterate(value).filter { item in
                let subject = try attribute.map { try ev.attributeOrItem(item, $0) } ?? item
                let passed: Bool
                if let testName = rest.first {
                    passed = try test(testName.pythonString, subject, Array(rest.dropFirst()), ev)
                } else {
                    passed = subject.isTruthy
                }
                return passed == keep
            })
        case "map":
            if let attribute = kwargs["attribute"] {
                return .list(try ev.iterate(value).map { item in
                    let v = try ev.attributeOrItem(item, attribute)
                    if v.isUndefined, let fallback = kwargs["default"] { return fallback }
                    return v
                })
            }
            guard let filterName = args.first else { throw BuiltinError("map needs a filter name or attribute=") }
            return .list(try ev.iterate(value).map {
                try filter(filterName.pythonString, $0, Array(args.dropFirst()), TemplateDict(), ev)
            })
        case "dictsort":
            guard case .dict(let d) = value else { throw BuiltinError("dictsort needs a mapping") }
            return .list(d.keys.sorted { $0.unicodeScalars.map(\.value).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) }
                .map { .list([.string($0), d[$0]!]) })
        case "sort":
            let reverse = argument(args, kwargs, 0, "reverse")?.isTruthy ?? false
            let attribute = argument(args, kwargs, 2, "attribute")
            var items = try ev.iterate(value)
            var failure: Error?
            items.sort { a, b in
                do {
                    let x = try attribute.map { try ev.attributeOrItem(a, $0) } ?? a
                    let y = try attribute.map { try ev.attributeOrItem(b, $0) } ?? b
                    return try ev.compare(reverse ? ">" : "<", x, y)
                } catch { failure = error; return false }
            }
            if let failure { throw failure }
            return .list(items)
        case "batch":
            guard let size = args.first?.integer, size > 0 else { throw BuiltinError("batch needs a positive size") }
            let items = try ev.iterate(value)
            return .list(stride(from: 0, to: items.count, by: size).map { .list(Array(items[$0..<min($0 + size, items.count)])) })
        default:
            throw TemplateError(.unsupported, line: ev.line, "the filter \"\(name)\"")
        }
    }

    // MARK: tests

    static func test(_ name: String, _ value: TemplateValue, _ args: [TemplateValue], _ ev: TemplateEvaluator) throws -> Bool {
        func argument() throws -> TemplateValue {
            guard let a = args.first else { throw ev.error("the test \"\(name)\" needs an argument") }
            return a
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true }; return false
        case "string": if case .string = value { return true }; return false
        case "number": if case .int = value { return true }; if case .double = value { return true }; if case .bool = value { return true }; return false
        case "integer": if case .int = value { return true }; return false
        case "float": if case .double = value { return true }; return false
        case "boolean": if case .bool = value { return true }; return false
        case "true": if case .bool(true) = value { return true }; return false
        case "false": if case .bool(false) = value { return true }; return false
        case "mapping": if case .dict = value { return true }; return false
        case "iterable", "sequence":
            switch value {
            case .string, .list, .dict: return true
            default: return false
            }
        case "callable": if case .function = value { return true }; return false
        case "odd", "even":
            guard let i = value.integer else { throw ev.error("the test \"\(name)\" needs an integer") }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard let i = value.integer, let d = try argument().integer, d != 0 else { throw ev.error("divisibleby needs integers") }
            return i % d == 0
        case "equalto", "eq", "==", "sameas": return value.pythonEquals(try argument())
        case "ne", "!=": return !value.pythonEquals(try argument())
        case "lt", "<": return try ev.compare("<", value, try argument())
        case "le", "<=": return try ev.compare("<=", value, try argument())
        case "gt", ">", "greaterthan": return try ev.compare(">", value, try argument())
        case "ge", ">=": return try ev.compare(">=", value, try argument())
        case "in": return try ev.contains(try argument(), value)
        case "lower": if case .string(let s) = value { return s == s.lowercased() }; return false
        case "upper": if case .string(let s) = value { return s == s.uppercased() }; return false
        default: throw TemplateError(.unsupported, line: ev.line, "the test \"is \(name)\"")
        }
    }

    // MARK: methods

    /// Methods that change a list or dict: transformers renders in an immutable sandbox, which refuses them.
    static let mutatingMethods: Set<String> = ["append", "extend", "insert", "pop", "remove", "clear", "update", "setdefault", "popitem", "sort", "reverse"]

    /// `value.name` when it names a method of the value's Python type, bound to the value.
    static func method(_ name: String, of value: TemplateValue, _ ev: TemplateEvaluator) throws -> TemplateValue? {
        func bound(_ body: @escaping @Sendable ([TemplateValue], TemplateDict) throws -> TemplateValue) -> TemplateValue {
            .function(TemplateFunction(name: name, call: body))
        }
        @Sendable func optionalString(_ args: [TemplateValue], _ i: Int) -> String? {
            guard i < args.count, !args[i].pythonEquals(.none) else { return nil }
            return args[i].pythonString
        }
        switch value {
        case .string(let s):
            switch name {
            case "strip": return bound { a, _ in .string(PythonStrings.strip(s, chars: optionalString(a, 0))) }
            case "lstrip": return bound { a, _ in .string(PythonStrings.strip(s, chars: optionalString(a, 0), trailing: false)) }
            case "rstrip": return bound { a, _ in .string(PythonStrings.strip(s, chars: optionalString(a, 0), leading: false)) }
            case "upper": return bound { _, _ in .string(s.uppercased()) }
            case "lower": return bound { _, _ in .string(s.lowercased()) }
            case "title": return bound { _, _ in .string(PythonStrings.title(s)) }
            case "capitalize": return bound { _, _ in .string(PythonStrings.capitalize(s)) }
            case "split":
                return bound { a, k in
                    let sep = optionalString(a, 0) ?? k["sep"].flatMap { $0.pythonEquals(.none) ? nil : $0.pythonString }
                    let maxSplit = (a.count > 1 ? a[1] : k["maxsplit"])?.integer ?? -1
                    if sep == "" { throw BuiltinError("split: empty separator") }
                    return .list(PythonStrings.split(s, separator: sep, maxSplit: maxSplit).map { .string($0) })
                }
            case "splitlines":
                return bound { _, _ in
                    var lines = PythonStrings.split(PythonStrings.replace(s, "\r\n", "\n"), separator: "\n")
                    if lines.last == "" { lines.removeLast() }
                    return .list(lines.map { .string($0) })
                }
            case "startswith", "endswith":
                return bound { a, _ in
                    guard let arg = a.first else { throw BuiltinError("\(name) needs an argument") }
                    let options: [TemplateValue] = { if case .list(let l) = arg { return l }; return [arg] }()
                    return .bool(options.contains { o in
                        name == "startswith" ? PythonStrings.startsWith(s, o.pythonString) : PythonStrings.endsWith(s, o.pythonString)
                    })
                }
            case "replace":
                return bound { a, _ in
                    guard a.count >= 2 else { throw BuiltinError("replace(old, new[, count])") }
                    return .string(PythonStrings.replace(s, a[0].pythonString, a[1].pythonString, count: a.count > 2 ? (a[2].integer ?? -1) : -1))
                }
            case "find": return bound { a, _ in .int(PythonStrings.find(a.first?.pythonString ?? "", in: s) ?? -1) }
            case "count": return bound { a, _ in .int(PythonStrings.count(a.first?.pythonString ?? "", in: s)) }
            case "join": return bound { a, _ in
                    guard case .list(let items)? = a.first else { throw BuiltinError("join needs a list") }
                    return .string(items.map(\.pythonString).joined(separator: s))
                }
            case "isdigit": return bound { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal }) }
            case "isspace": return bound { _, _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(PythonStrings.isSpace)) }
            case "format": throw TemplateError(.unsupported, line: ev.line, "str.format()")
            default: return nil
            }
        case .dict(let d):
            switch name {
            case "items": return bound { _, _ in .list(d.keys.map { .list([.string($0), d[$0]!]) }) }
            case "keys": return bound { _, _ in .list(d.keys.map { .string($0) }) }
            case "values": return bound { _, _ in .list(d.keys.map { d[$0]! }) }
            case "get":
                return bound { a, _ in
                    guard case .string(let k)? = a.first else { return a.count > 1 ? a[1] : .none }
                    return d[k] ?? (a.count > 1 ? a[1] : .none)
                }
            case _ where mutatingMethods.contains(name):
                throw ev.error("dict.\(name)() changes the dict, which transformers' sandboxed renderer refuses")
            default: return nil
            }
        case .list(let l):
            switch name {
            case "index":
                return bound { a, _ in
                    guard let x = a.first, let i = l.firstIndex(where: { $0.pythonEquals(x) }) else { throw BuiltinError("value is not in the list") }
                    return .int(i)
                }
            case "count": return bound { a, _ in .int(l.filter { $0.pythonEquals(a.first ?? .none) }.count) }
            case _ where mutatingMethods.contains(name):
                throw ev.error("list.\(name)() changes the list, which transformers' sandboxed renderer refuses")
            default: return nil
            }
        default:
            return nil
        }
    }
}

extension TemplateEvaluator {
    /// `item.attr` for filters given an attribute name (`selectattr("role", …)`, `map(attribute=…)`):
    /// Jinja resolves dotted names and integer positions.
    func attributeOrItem(_ item: TemplateValue, _ attribute: TemplateValue) throws -> TemplateValue {
        if let i = attribute.integer { return try self.item(item, .int(i)) }
        var v = item
        for part in attribute.pythonString.split(separator: ".") {
            if case .undefined = v { return v }
            v = try self.item(v, .string(String(part)))
        }
        return v
    }
}
