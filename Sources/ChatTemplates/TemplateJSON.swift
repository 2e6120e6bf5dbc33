// JSON in and out of templates. Out: `tojson` as transformers defines it, Python's
// `json.dumps(x, ensure_ascii=False, indent=…, sort_keys=…)` byte for byte (", " and ": "
// separators without indent, "," and ": " with it). In: messages and tools read with their
// objects' key order kept (Python's json keeps it, and `tojson` / `items()` show it), which
// Foundation's JSONSerialization would lose.

import Foundation
import JSONStrings

public enum TemplateJSON {
    /// `json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=sortKeys)`.
    public static func dumps(_ v: TemplateValue, indent: Int? = nil, sortKeys: Bool = false) throws -> String {
        var out = ""
        try write(v, indent: indent, level: 0, sortKeys: sortKeys, into: &out)
        return out
    }

    private static func write(_ v: TemplateValue, indent: Int?, level: Int, sortKeys: Bool, into out: inout String) throws {
        func newline(_ l: Int) { if let indent { out += "\n" + String(repeating: " ", count: indent * l) } }
        let itemSeparator = indent == nil ? ", " : ","
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            out += d.isNaN ? "NaN" : d.isInfinite ? (d > 0 ? "Infinity" : "-Infinity") : TemplateValue.pythonFloat(d)
        case .string(let s): out += JSONString.quoted(s)
        case .list(let l):
            if l.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in l.enumerated() {
                if i > 0 { out += itemSeparator }
                newline(level + 1)
                try write(item, indent: indent, level: level + 1, sortKeys: sortKeys, into: &out)
            }
            newline(level)
            out += "]"
        case .dict(let d):
            try writeObject(d, indent: indent, level: level, sortKeys: sortKeys, into: &out)
        case .namespace(let ns):
            try writeObject(ns.storage, indent: indent, level: level, sortKeys: sortKeys, into: &out)
        case .undefined(let name):
            throw TemplateBuiltins.BuiltinError("\(name) is undefined and has no JSON form")
        case .function(let f):
            throw TemplateBuiltins.BuiltinError("the function \(f.name) has no JSON form")
        }
    }

    private static func writeObject(_ d: TemplateDict, indent: Int?, level: Int, sortKeys: Bool, into out: inout String) throws {
        if d.keys.isEmpty { out += "{}"; return }
        let keys = sortKeys ? d.keys.sorted { $0.unicodeScalars.map(\.value).lexicographicallyPrecedes($1.unicodeScalars.map(\.value)) } : d.keys
        out += "{"
        for (i, k) in keys.enumerated() {
            if i > 0 { out += indent == nil ? ", " : "," }
            if let indent { out += "\n" + String(repeating: " ", count: indent * (level + 1)) }
            out += JSONString.quoted(k) + ": "
            try write(d[k]!, indent: indent, level: level + 1, sortKeys: sortKeys, into: &out)
        }
        if let indent { out += "\n" + String(repeating: " ", count: indent * level) }
        out += "}"
    }


    /// A JSON problem at a byte offset.
    public struct ParseError: Error, CustomStringConvertible {
        public let offset: Int
        public let message: String
        public var description: String { "\(message) at byte \(offset)" }
    }

    /// Parses one JSON document into a value, objects keeping their key order.
    public static func parse(_ text: String) throws -> TemplateValue {
        var p = Parser(bytes: Array(text.utf8))
        p.skipSpace()
        let v = try p.value()
        p.skipSpace()
        guard p.i == p.bytes.count else { throw ParseError(offset: p.i, message: "text after the JSON value") }
        return v
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        mutating func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }

        func fail(_ m: String) -> ParseError { ParseError(offset: i, message: m) }

        mutating func literal(_ word: String, _ v: TemplateValue) throws -> TemplateValue {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("invalid JSON") }
            i += w.count
            return v
        }

        mutating func value() throws -> TemplateValue {
            guard i < bytes.count else { throw fail("unexpected end of JSON") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var d = TemplateDict()
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .dict(d) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    let k = try string()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    d[k] = try value()
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end of JSON") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
                    i += 1
                    return .dict(d)
                }
            case UInt8(ascii: "["):
                i += 1
                var l: [TemplateValue] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .list(l) }
                while true {
                    skipSpace()
                    l.append(try value())
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end of JSON") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard bytes[i] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
                    i += 1
                    return .list(l)
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .none)
            default: return try number()
            }
        }

        mutating func number() throws -> TemplateValue {
            let start = i
            var isFloat = false
            while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) {
                if ".eE".utf8.contains(bytes[i]) { isFloat = true }
                i += 1
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            if !isFloat, let n = Int(text) { return .int(n) }
            guard !text.isEmpty, let d = Double(text) else { i = start; throw fail("invalid JSON") }
            return .double(d)
        }

        mutating func string() throws -> String {
            i += 1
            var out = [UInt8]()
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                let b = bytes[i]
                guard b >= 0x20 else { throw fail("control character in a string") }
                if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
                guard i + 1 < bytes.count else { throw fail("unexpected end of JSON") }
                let e = bytes[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(e)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code), i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("unpaired surrogate") }
                    out.append(contentsOf: Array(String(scalar).utf8))
                default: throw fail("bad escape in a string")
                }
            }
            guard i < bytes.count else { throw fail("string is never closed") }
            i += 1
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8") }
            return s
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                throw fail("bad \\u escape")
            }
            i += 4
            return v
        }
    }
}
