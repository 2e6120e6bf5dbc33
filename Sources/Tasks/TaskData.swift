import Foundation

/// One example and its class (SST-2: 0 = negative, 1 = positive; -1 when the split has no labels).
public struct LabeledExample: Equatable, Sendable {
    /// The text an encoder embeds: SST-2's sentence; for a task file, its template's first column.
    public let text: String
    /// Index into the task's labels (-1: unlabelled).
    public let label: Int
    /// Every column of the record, for templates (SST-2 from `TaskData.load`: just `sentence`).
    public var fields: [String: DataValue]
    /// Where the example was read ("file:line"), its id in predictions.
    public var source: String?
    /// Gold answers of a completion task (the first one is the training target).
    public var targets: [String]

    public init(text: String, label: Int, fields: [String: DataValue]? = nil, source: String? = nil,
                targets: [String] = []) {
        self.text = text
        self.label = label
        self.fields = fields ?? ["sentence": .text(text)]
        self.source = source
        self.targets = targets
    }
}

public enum Split: String, CaseIterable, Sendable {
    case train, dev, test
}

/// A problem with a task's data files. The description names the file and, for a bad row, the line
/// (1-based, the header is line 1), as `file:line: message`.
public struct TaskDataError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Equatable, Sendable {
        case missingDirectory, missingFile, unreadable, invalidUTF8, emptyFile
        case noTextColumn, noLabelColumn, badLabel, emptyText, wrongFieldCount
        /// Task files and the data they read (issue 10).
        case badTaskFile, missingColumn, emptyLabelWord, badCSV, badJSONL, emptyTarget, ambiguousSplit
        /// Chat data (issue 26): a malformed conversation, a model folder without a chat template.
        case badMessages, noChatTemplate
    }

    public let kind: Kind
    public let file: String
    public let line: Int?
    public let message: String

    public init(_ kind: Kind, file: String, line: Int? = nil, _ message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(message)"
    }
}

public enum TaskData {
    /// Header names accepted for the text column, in order of preference (GLUE train/test use
    /// `sentence`; some redistributions of SST-2 dev use `content`).
    public static let textColumnNames = ["sentence", "content", "text"]
    public static let labelColumnName = "label"

    /// Where to get SST-2, appended to missing-data errors.
    static let sst2Hint =
        "SST-2 comes from GLUE (https://dl.fbaipublicfiles.com/glue/data/SST-2.zip): put its train.tsv and "
        + "dev.tsv in this folder, run tools/setup/fetch_sst2.sh, or set SST2_DIR; see data/README.md"

    /// Loads `<directory>/<split>.tsv`. Columns are found by header, so `label<TAB>sentence` and
    /// GLUE's `sentence<TAB>label` both work. Text is trimmed of surrounding spaces (GLUE's train
    /// sentences end in one) and must not be empty; labels must be 0 or 1.
    /// With `requireLabels: false` a file without a `label` column (GLUE's test.tsv) loads with
    /// label -1; a label column that is present is still checked.
    public static func load(directory: String, split: Split, requireLabels: Bool = true) throws -> [LabeledExample] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw TaskDataError(.missingDirectory, file: directory, "data folder does not exist. \(sst2Hint)")
        }
        let path = (directory as NSString).appendingPathComponent("\(split.rawValue).tsv")
        guard FileManager.default.fileExists(atPath: path) else {
            throw TaskDataError(.missingFile, file: path, "no \(split.rawValue).tsv in \(directory). \(sst2Hint)")
        }
        let table = try TSV.read(path: path)

        guard let textColumn = table.column(named: textColumnNames) else {
            throw TaskDataError(
                .noTextColumn, file: path, line: 1,
                "no text column: the header (\(table.header.joined(separator: ", "))) has none of "
                    + textColumnNames.joined(separator: ", "))
        }
        let labelColumn = table.column(named: [labelColumnName])
        if labelColumn == nil && requireLabels {
            throw TaskDataError(
                .noLabelColumn, file: path, line: 1,
                "no '\(labelColumnName)' column in the header (\(table.header.joined(separator: ", "))); "
                    + "GLUE's test.tsv has no labels (load it with requireLabels: false)")
        }

        var examples: [LabeledExample] = []
        examples.reserveCapacity(table.rows.count)
        for row in table.rows {
            let text = trimmed(row.fields[textColumn])
            guard !text.isEmpty else {
                throw TaskDataError(.emptyText, file: path, line: row.line, "empty sentence")
            }
            var label = -1
            if let labelColumn {
                switch trimmed(row.fields[labelColumn]) {
                case "0": label = 0
                case "1": label = 1
                case let other:
                    throw TaskDataError(.badLabel, file: path, line: row.line, "label '\(other)' is not 0 or 1")
                }
            }
            examples.append(LabeledExample(text: text, label: label))
        }
        return examples
    }

    /// `s` without leading and trailing spaces, tabs and other ASCII white space.
    /// Foundation's `trimmingCharacters(in:)` is ~5 µs a call on Linux, which alone would take
    /// 0.3 s over train.tsv; this returns `s` itself when nothing needs trimming.
    static func trimmed(_ s: String) -> String {
        let utf8 = s.utf8
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
        guard let first = utf8.first, let last = utf8.last, isSpace(first) || isSpace(last) else {
            return s
        }
        guard let start = utf8.firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = utf8.lastIndex(where: { !isSpace($0) })!
        return String(decoding: utf8[start...end], as: UTF8.self)  // cut at ASCII bytes: valid UTF-8
    }
}
