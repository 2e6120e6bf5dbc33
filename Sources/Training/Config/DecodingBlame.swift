import Foundation

/// Which key of a JSON document a decoding error is about, for errors that name the file, the
/// line and the key. Foundation names the coding path of a wrong type or a missing key, but not
/// of a number out of its type's range (an embedding row of 5e9, a loss of 1e39: "not valid JSON",
/// empty path); those are found by removing keys one at a time until the error changes.
enum DecodingBlame {
    /// "config.lora_rank: expected Int, found a string" or "embedding_rows: a number out of range".
    static func describe<T: Decodable>(_ error: Error, decoding type: T.Type, from data: Data, with decoder: JSONDecoder) -> String {
        if let (path, why) = pathAndReason(error), !path.isEmpty { return "\"\(path)\": \(why)" }
        if let path = locate(type, in: data, with: decoder) {
            return "\"\(path)\": a value of the wrong type or out of its type's range"
        }
        // Not JSON: a bare Infinity or NaN (which JSON has no word for) is the common hand edit.
        let text = String(decoding: data, as: UTF8.self)
        let bare = try? NSRegularExpression(pattern: #""([^"]+)"\s*:\s*(\[[^\]"]*?)?-?\b(Infinity|NaN|inf|nan)\b"#)
        if let m = bare?.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
           let key = Range(m.range(at: 1), in: text), let word = Range(m.range(at: 3), in: text) {
            return "\"\(text[key])\": \(text[word]) is not JSON (write non-finite numbers as the strings \"inf\", \"-inf\", \"nan\")"
        }
        return pathAndReason(error)?.1 ?? "\(error)"
    }

    static func pathAndReason(_ error: Error) -> (String, String)? {
        func path(_ c: DecodingError.Context) -> String { c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
        switch error as? DecodingError {
        case .typeMismatch(let t, let c)?: return (path(c), "expected \(t): \(c.debugDescription)")
        case .valueNotFound(let t, let c)?: return (path(c), "expected \(t), found null")
        case .keyNotFound(let k, let c)?:
            let parent = path(c)
            return (parent.isEmpty ? k.stringValue : parent + "." + k.stringValue, "is missing")
        case .dataCorrupted(let c)?: return (path(c), c.debugDescription)
        default: return nil
        }
    }

    /// The first number (depth first) whose replacement by 0, a value every numeric type holds,
    /// makes the error go away or name a path: that number was out of its key's range.
    static func locate<T: Decodable>(_ type: T.Type, in data: Data, with decoder: JSONDecoder) -> String? {
        guard let root = try? JSONSerialization.jsonObject(with: data) else { return nil }   // not JSON at all
        var numbers: [[Any]] = []   // paths: String keys and Int indices
        func collect(_ node: Any, _ path: [Any]) {
            if let object = node as? [String: Any] {
                for key in object.keys.sorted() { collect(object[key]!, path + [key]) }
            } else if let array = node as? [Any] {
                for (i, item) in array.enumerated() { collect(item, path + [i]) }
            } else if node is NSNumber, !(node is Bool) || path.isEmpty {
                numbers.append(path)
            }
        }
        collect(root, [])
        // One number at a time; then cumulatively, for a document with several bad numbers (the
        // last one replaced before the error changes is named).
        for cumulative in [false, true] {
            var copy = root
            for path in numbers {
                if !cumulative { copy = root }
                replace(&copy, at: path[...])
                guard let bytes = try? JSONSerialization.data(withJSONObject: copy) else { continue }
                do { _ = try decoder.decode(type, from: bytes) } catch {
                    guard let (p, _) = pathAndReason(error), !p.isEmpty else { continue }
                }
                return path.map { "\($0)" }.joined(separator: ".")
            }
        }
        return nil
    }

    private static func replace(_ node: inout Any, at path: ArraySlice<Any>) {
        guard let first = path.first else { node = 0; return }
        if var object = node as? [String: Any], let key = first as? String, var child = object[key] {
            replace(&child, at: path.dropFirst()); object[key] = child; node = object
        } else if var array = node as? [Any], let i = first as? Int, i < array.count {
            var child = array[i]; replace(&child, at: path.dropFirst()); array[i] = child; node = array
        }
    }
}
