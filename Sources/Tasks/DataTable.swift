import Foundation

/// One example as read from a data file: its values by column (header name or JSON key) and where
/// it starts, for error messages.
public struct DataRecord: Sendable, Equatable {
    /// 1-based line of the record's first character (a CSV record may span lines).
    public let line: Int
    public let values: [String: DataValue]

    public init(line: Int, values: [String: DataValue]) {
        self.line = line
        self.values = values
    }
}

/// A field: text, or (JSONL only) a list of texts such as SQuAD's several gold answers.
public enum DataValue: Sendable, Equatable {
    case text(String)
    case list([String])

    /// The value as a prompt sees it: a list gives its first element (MeZO's prompts take
    /// `answers[0]`).
    public var text: String {
        switch self {
        case .text(let s): return s
        case .list(let l): return l.first ?? ""
        }
    }

    public var all: [String] {
        switch self {
        case .text(let s): return [s]
        case .list(let l): return l
        }
    }
}

/// The rows of one data file, whatever its format.
public struct DataTable: Sendable {
    public let path: String
    /// Column names in file order (CSV/TSV header; JSONL: keys in order of first appearance).
    public let columns: [String]
    public let records: [DataRecord]

    public init(path: String, columns: [String], records: [DataRecord]) {
        self.path = path
        self.columns = columns
        self.records = records
    }
}

/// Formats a data file may have, chosen by its extension.
public enum DataFormat: String, CaseIterable, Sendable {
    case tsv, csv, jsonl

    public init?(path: String) {
        self.init(rawValue: (path as NSString).pathExtension.lowercased())
    }
}

public enum DataFiles {
    /// Reads a .tsv, .csv or .jsonl file into records.
    public static func read(path: String) throws -> DataTable {
        guard let format = DataFormat(path: path) else {
            throw TaskDataError(.unreadable, file: path, "unknown data format: the file must end in .tsv, .csv or .jsonl")
        }
        switch format {
        case .tsv:
            let table = try TSV.read(path: path)
            let header = table.header.map { $0.trimmingCharacters(in: .whitespaces) }
            return DataTable(path: path, columns: header, records: table.rows.map { row in
                DataRecord(line: row.line, values: Dictionary(zip(header, row.fields.map(DataValue.text)),
                                                              uniquingKeysWith: { first, _ in first }))
            })
        case .csv: return try CSVFile.read(path: path)
        case .jsonl: return try JSONLFile.read(path: path)
        }
    }

    /// `<directory>/<split>.tsv|.csv|.jsonl`: exactly one must exist.
    public static func find(directory: String, split: Split) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TaskDataError(.missingDirectory, file: directory, "data folder does not exist")
        }
        let candidates = DataFormat.allCases.map { (directory as NSString).appendingPathComponent("\(split.rawValue).\($0.rawValue)") }
        let found = candidates.filter { FileManager.default.fileExists(atPath: $0) }
        guard let first = found.first else {
            throw TaskDataError(.missingFile, file: directory,
                "no \(split.rawValue) split in this folder: none of \(candidates.joined(separator: ", ")) exists")
        }
        guard found.count == 1 else {
            throw TaskDataError(.ambiguousSplit, file: directory,
                "several \(split.rawValue) files (\(found.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))): keep one or name it with --\(split.rawValue)")
        }
        return first
    }
}
