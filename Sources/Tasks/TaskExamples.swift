import Foundation

/// A data file read as a task's examples: every template column checked against the file's
/// columns, every label value mapped to its index in the task's labels, every target non-empty.
/// Errors name the file and, for a bad record, its line.
public enum TaskExamples {
    /// - Parameter requireLabels: false for a split that may lack its label (or target) column
    ///   (a test split): its examples get label -1 and no targets. A column that is present is
    ///   still checked.
    public static func load(path: String, spec: TaskSpec, requireLabels: Bool = true) throws -> [LabeledExample] {
        if spec.objective == .chat { return try ChatExamples.load(path: path, requireAssistant: requireLabels) }
        return try examples(of: DataFiles.read(path: path), spec: spec, requireLabels: requireLabels)
    }

    public static func examples(of given: DataTable, spec: TaskSpec, requireLabels: Bool = true) throws -> [LabeledExample] {
        let table = resolvingAliases(given, spec.columnAliases ?? [:])
        let path = table.path
        let template = try PromptTemplate(spec.template, maps: spec.maps ?? [:])
        let wordColumns = try spec.labels.flatMap(\.words).flatMap { try PromptTemplate($0, maps: spec.maps ?? [:]).columns }
        for column in template.columns + wordColumns where !table.columns.contains(column) {
            throw TaskDataError(.missingColumn, file: path, line: 1,
                "the task's template uses {\(column)} but the file has no such column (columns: \(table.columns.joined(separator: ", ")))")
        }
        let answerColumn = spec.objective == .classify ? spec.labelColumn! : spec.targetColumn!
        let hasAnswers = table.columns.contains(answerColumn)
        if !hasAnswers && requireLabels {
            throw TaskDataError(spec.objective == .classify ? .noLabelColumn : .missingColumn, file: path, line: 1,
                "no \"\(answerColumn)\" column (columns: \(table.columns.joined(separator: ", ")))")
        }
        let labelIndex = Dictionary(spec.labels.enumerated().map { ($1.value, $0) }, uniquingKeysWith: { a, _ in a })
        let textColumn = (template.columns + wordColumns)[0]
        var out: [LabeledExample] = []
        out.reserveCapacity(table.records.count)
        for record in table.records {
            var label = -1
            var targets: [String] = []
            if hasAnswers, let answer = record.values[answerColumn] {
                switch spec.objective {
                case .classify:
                    let value = TaskData.trimmed(answer.text)
                    guard let index = labelIndex[value] else {
                        throw TaskDataError(.badLabel, file: path, line: record.line,
                            "label \"\(value)\" has no label word (the task's labels: \(spec.labels.map(\.value).joined(separator: ", ")))")
                    }
                    label = index
                case .complete, .chat:   // (chat data is read by ChatExamples, never here)
                    targets = answer.all
                    guard !targets.isEmpty, targets.allSatisfy({ !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) else {
                        throw TaskDataError(.emptyTarget, file: path, line: record.line, "empty target in column \"\(answerColumn)\"")
                    }
                }
            }
            let text = TaskData.trimmed(record.values[textColumn]?.text ?? "")
            out.append(LabeledExample(text: text, label: label, fields: record.values,
                                      source: "\((path as NSString).lastPathComponent):\(record.line)", targets: targets))
        }
        return out
    }

    /// The table with each aliased column renamed to the name the task uses, when the file lacks that name.
    static func resolvingAliases(_ table: DataTable, _ aliases: [String: [String]]) -> DataTable {
        var renames: [String: String] = [:]
        for (column, others) in aliases where !table.columns.contains(column) {
            if let found = others.first(where: table.columns.contains) { renames[found] = column }
        }
        guard !renames.isEmpty else { return table }
        return DataTable(path: table.path, columns: table.columns.map { renames[$0] ?? $0 },
                         records: table.records.map { r in
                             DataRecord(line: r.line, values: Dictionary(r.values.map { (renames[$0] ?? $0, $1) },
                                                                         uniquingKeysWith: { a, _ in a }))
                         })
    }
}
