import Foundation

extension TaskSpec {
    /// Reads and checks a task file. Every problem is a `TaskDataError` naming the file: an unknown
    /// key (a typo would otherwise be ignored silently), an unknown objective or metric, a missing
    /// field the objective needs, an empty label word, a template that does not parse.
    public static func load(path: String) throws -> TaskSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TaskDataError(.missingFile, file: path, "no such task file")
        }
        return try parse(data, path: path)
    }

    /// Parses task-file JSON held in memory; `path` names it in errors.
    public static func parse(_ data: Data, path: String) throws -> TaskSpec {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw TaskDataError(.badTaskFile, file: path, "not valid JSON (\(error.localizedDescription))")
        }
        guard let fields = object as? [String: Any] else {
            throw TaskDataError(.badTaskFile, file: path, "a task file is one JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw TaskDataError(.badTaskFile, file: path,
                "unknown field \"\(unknown)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        if let objective = fields["objective"] as? String, Objective(rawValue: objective) == nil {
            throw TaskDataError(.badTaskFile, file: path,
                "unknown objective \"\(objective)\" (known: \(Objective.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if let metric = fields["metric"] as? String, Metric(rawValue: metric) == nil {
            throw TaskDataError(.badTaskFile, file: path,
                "unknown metric \"\(metric)\" (known: \(Metric.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var spec: TaskSpec
        do {
            spec = try JSONDecoder().decode(TaskSpec.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw TaskDataError(.badTaskFile, file: path, "missing field \"\(key.stringValue)\"")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let at = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw TaskDataError(.badTaskFile, file: path, "field \"\(at)\": \(context.debugDescription)")
        } catch {
            throw TaskDataError(.badTaskFile, file: path, "\(error)")
        }
        // JSON objects are unordered once decoded; the labels' order is the file's.
        if let order = JSONKeyOrder.keys(ofTopLevelObject: "labels", in: data) {
            let byValue = Dictionary(uniqueKeysWithValues: spec.labels.map { ($0.value, $0) })
            spec.labels = order.compactMap { byValue[$0] }
        }
        try spec.validate(path: path)
        return spec
    }

    /// Checks that the fields fit together; `path` names the task (file or "command line").
    public func validate(path: String) throws {
        func fail(_ message: String) -> TaskDataError { TaskDataError(.badTaskFile, file: path, message) }
        if objective == .chat { return try validateChat(path: path) }
        if trainOn != nil { throw fail("\"train_on\" is for objective chat") }
        let parsed: PromptTemplate
        do { parsed = try PromptTemplate(template, maps: maps ?? [:]) } catch let e as PromptTemplate.SyntaxError {
            throw fail("template: \(e.message)")
        }
        let wordColumns = labels.flatMap(\.words).flatMap { (try? PromptTemplate($0, maps: maps ?? [:]).columns) ?? [] }
        if parsed.columns.isEmpty && wordColumns.isEmpty {
            throw fail("neither the template nor the label words name a {column} of the data")
        }
        if template.trimmingCharacters(in: .whitespaces).isEmpty && !bos {
            throw fail("an empty template needs \"bos\": true (the label words must follow something)")
        }
        switch objective {
        case .classify:
            guard labelColumn != nil else { throw fail("objective classify needs \"label_column\"") }
            guard labels.count >= 2 else { throw fail("objective classify needs \"labels\" with at least two labels") }
            for label in labels {
                guard !label.words.isEmpty else { throw fail("label \"\(label.value)\" has no label word") }
                for word in label.words {
                    guard !word.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                        throw TaskDataError(.emptyLabelWord, file: path, "label \"\(label.value)\" has an empty label word")
                    }
                    do { _ = try PromptTemplate(word, maps: maps ?? [:]) } catch let e as PromptTemplate.SyntaxError {
                        throw fail("label word \"\(word)\": \(e.message)")
                    }
                }
            }
            if let metric, metric != .accuracy && metric != .macroF1 {
                throw fail("metric \(metric.rawValue) is for objective complete; classify uses accuracy or macro_f1")
            }
        case .complete:
            guard targetColumn != nil else { throw fail("objective complete needs \"target_column\"") }
            if !labels.isEmpty { throw fail("objective complete takes no \"labels\"") }
            if let metric, metric != .exactMatch && metric != .f1 {
                throw fail("metric \(metric.rawValue) is for objective classify; complete uses exact_match or f1")
            }
        case .chat: break   // validateChat, above
        }
        // Generation's bound, for the objectives that generate (complete, chat).
        if let n = maxNewTokens, !Self.maxNewTokensRange.contains(n) {
            throw fail("max_new_tokens must be between 1 and \(Self.maxNewTokensRange.upperBound), not \(n)")
        }
        if let k = demonstrations?.k, !Self.demonstrationsRange.contains(k) {
            throw fail("demonstrations.k must be between 0 and \(Self.demonstrationsRange.upperBound), not \(k)")
        }
    }

    /// Tokens generated at most: the model's positions bound them again; this bound keeps
    /// prompt + max_new_tokens inside Int (the CLI's --max-new-tokens shares it: SettingRules).
    public static let maxNewTokensRange = 1...1_000_000_000
    /// In-context demonstrations per prompt (--demonstrations shares it).
    public static let demonstrationsRange = 0...100_000
}

/// The keys of one object of a JSON document in the order they are written (Foundation's
/// decoders return dictionaries, which forget it). A small scanner over the top-level object:
/// strings (with escapes) and nesting are skipped, nothing else is interpreted.
enum JSONKeyOrder {
    static func keys(ofTopLevelObject name: String, in data: Data) -> [String]? {
        let bytes = [UInt8](data)
        var i = 0
        func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
        /// Reads a string starting at bytes[i] == '"', returns it decoded.
        func readString() -> String? {
            let start = i
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                if bytes[i] == UInt8(ascii: "\\") { i += 1 }
                i += 1
            }
            i += 1
            let raw = Data(bytes[start..<min(i, bytes.count)])
            return try? JSONDecoder().decode(String.self, from: raw)
        }
        /// Skips one value of any kind.
        func skipValue() {
            skipSpace()
            guard i < bytes.count else { return }
            if bytes[i] == UInt8(ascii: "\"") { _ = readString(); return }
            var depth = 0
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { _ = readString(); if depth == 0 { return }; continue }
                if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") { depth += 1 }
                if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                    if depth == 0 { return }
                    depth -= 1
                    if depth == 0 { i += 1; return }
                }
                if depth == 0 && b == UInt8(ascii: ",") { return }
                i += 1
            }
        }
        /// Keys of the object starting at bytes[i] == '{'; with `descendInto`, returns the keys of
        /// that member's object instead.
        func objectKeys(descendInto member: String?) -> [String]? {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return nil }
            i += 1
            var keys: [String] = []
            while true {
                skipSpace()
                guard i < bytes.count else { return nil }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return member == nil ? keys : nil }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "\""), let key = readString() else { return nil }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                skipSpace()
                if let member, key == member { return objectKeys(descendInto: nil) }
                keys.append(key)
                skipValue()
            }
        }
        return objectKeys(descendInto: name)
    }
}
