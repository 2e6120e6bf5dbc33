// The values a chat template computes with, and the Python behaviour Jinja gives them: truthiness,
// equality, `str()` and `repr()` (what `{{ x }}` prints), because a template's output must be the
// exact text transformers' Jinja2 renderer writes.

import Foundation

/// A Jinja value. Dictionaries keep their insertion order (Python's dicts do, and `tojson` and
/// `items()` show it).
public indirect enum TemplateValue: Sendable {
    case undefined(name: String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([TemplateValue])
    case dict(TemplateDict)
    /// `namespace(...)`: the one mutable object templates have (`{% set ns.x = … %}` inside loops).
    case namespace(TemplateNamespace)
    /// A method bound to its receiver (`message.content.strip`), or a global function.
    case function(TemplateFunction)

    /// Python's truth value; undefined is false, as Jinja's `Undefined.__bool__`.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.isEmpty
        case .dict(let d): return !d.keys.isEmpty
        case .namespace, .function: return true
        }
    }

    public var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// A Python type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .function: return "function"
        }
    }

    /// Python's `str(x)`: what `{{ x }}` prints (undefined prints nothing, as Jinja's default Undefined).
    public var pythonString: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pythonRepr
        }
    }

    /// Python's `repr(x)` (lists and dicts print their elements this way).
    public var pythonRepr: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return Self.pythonFloat(d)
        case .string(let s): return Self.pythonQuoted(s)
        case .list(let l): return "[" + l.map(\.pythonRepr).joined(separator: ", ") + "]"
        case .dict(let d):
            return "{" + d.keys.map { Self.pythonQuoted($0) + ": " + d.values[$0]!.pythonRepr }.joined(separator: ", ") + "}"
        case .namespace(let n):
            return "<Namespace " + n.storage.keys.map { "\($0)=\(n.storage.values[$0]!.pythonRepr)" }.joined(separator: ", ") + ">"
        case .function(let f): return "<function \(f.name)>"
        }
    }

    /// Python's float repr: shortest round-trip digits, always with a point or exponent.
    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        var s = "\(d)"
        // Swift writes 1e-05 as "1e-05" and 1e+16 as "1e+16", as Python does.
        if !s.contains(".") && !s.contains("e") { s += ".0" }
        return s
    }

    /// Python's repr of a str: single quotes unless the text holds one and no double quote.
    static func pythonQuoted(_ s: String) -> String {
        let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where Character(scalar) == quote: out += "\\" + String(quote)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += String(format: "\\x%02x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append(quote)
        return out
    }

    /// Python's `==` (1 == 1.0 and True == 1 hold; undefined equals only undefined).
    public func pythonEquals(_ other: TemplateValue) -> Bool {
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.list(let a), .list(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.pythonEquals($1) }
        case (.dict(let a), .dict(let b)):
            return a.keys.count == b.keys.count && a.keys.allSatisfy { k in b.values[k].map { a.values[k]!.pythonEquals($0) } ?? false }
        case (.namespace(let a), .namespace(let b)): return a === b
        default:
            if let x = numeric, let y = other.numeric { return x == y }
            return false
        }
    }

    /// The number a bool, int or float stands for in arithmetic and comparisons.
    var numeric: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// An int (bools count, as in Python).
    var integer: Int? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return i
        default: return nil
        }
    }
}

/// An insertion-ordered string-keyed dictionary.
public struct TemplateDict: Sendable {
    public private(set) var keys: [String]
    public private(set) var values: [String: TemplateValue]

    public init(_ pairs: [(String, TemplateValue)] = []) {
        keys = []
        values = [:]
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(key: String) -> TemplateValue? {
        get { values[key] }
        set {
            if values[key] == nil, newValue != nil { keys.append(key) }
            if newValue == nil { keys.removeAll { $0 == key } }
            values[key] = newValue
        }
    }
}

/// The mutable attribute bag `namespace()` returns. A class: `{% set ns.found = true %}` inside a
/// loop must change the object the outer scope holds.
public final class TemplateNamespace: @unchecked Sendable {
    var storage: TemplateDict
    init(_ storage: TemplateDict) { self.storage = storage }
}

/// A callable value: its name (for errors) and the code, given positional and keyword arguments.
public struct TemplateFunction: Sendable {
    let name: String
    let call: @Sendable (_ args: [TemplateValue], _ kwargs: TemplateDict) throws -> TemplateValue
}
