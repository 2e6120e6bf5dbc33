import Foundation

/// JSON Lines: one JSON object per line, its keys the columns. Strings are kept as written; numbers
/// and booleans become their JSON text ("3", "true") so that labels such as BoolQ's `true` or
/// SST-5's `3` match a task's label values; an array of strings is a list (several gold answers).
/// Blank lines are skipped.
public enum JSONLFile {
    public static func read(path: String) throws -> DataTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TaskDataError(.missingFile, file: path, "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TaskDataError(.invalidUTF8, file: path, "not valid UTF-8")
        }
        var columns: [String] = []
        var records: [DataRecord] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let trimmed = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let object: Any
            do {
                object = try JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed])
            } catch {
                throw TaskDataError(.badJSONL, file: path, line: line, "not valid JSON")
            }
            guard let fields = object as? [String: Any] else {
                throw TaskDataError(.badJSONL, file: path, line: line,
                    "each line must be a JSON object ({\"column\": value, …}), found \(kind(of: object))")
            }
            var values: [String: DataValue] = [:]
            for key in fields.keys.sorted() {
                if !columns.contains(key) { columns.append(key) }
                guard let v = value(fields[key]!) else {
                    throw TaskDataError(.badJSONL, file: path, line: line,
                        "key \"\(key)\": values must be strings, numbers, booleans or arrays of strings")
                }
                values[key] = v
            }
            records.append(DataRecord(line: line, values: values))
        }
        return DataTable(path: path, columns: columns, records: records)
    }

    static func value(_ v: Any) -> DataValue? {
        if let s = v as? String { return .text(s) }
        if let n = v as? NSNumber {
            // JSONSerialization gives booleans as NSNumber too, made from a Bool (Objective-C type "c").
            if String(cString: n.objCType) == "c" { return .text(n.boolValue ? "true" : "false") }
            if let i = Int(exactly: n.doubleValue) { return .text(String(i)) }
            return .text(n.stringValue)
        }
        if let list = v as? [Any] {
            let strings = list.compactMap { $0 as? String }
            return strings.count == list.count ? .list(strings) : nil
        }
        return nil
    }

    static func kind(of v: Any) -> String {
        switch v {
        case is [Any]: return "an array"
        case is String: return "a string"
        case is NSNumber: return "a number"
        case is NSNull: return "null"
        default: return "\(type(of: v))"
        }
    }
}
