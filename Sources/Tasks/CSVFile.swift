import Foundation
import SwiftCSV

/// CSV with a header row and RFC 4180 quoting (commas, quotes as "" and newlines inside quoted
/// fields), parsed by SwiftCSV. SwiftCSV was chosen over CSV.swift because task files are small
/// enough to parse whole (no streaming needed) and it hands back plain `[String]` rows. It neither
/// reports line numbers nor notices a quote left open at the end of the file, so a short scan of
/// our own (`recordLines`) finds where each record starts and where an unbalanced quote opened.
public enum CSVFile {
    public static func read(path: String) throws -> DataTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TaskDataError(.missingFile, file: path, "no such file")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw TaskDataError(.invalidUTF8, file: path, "not valid UTF-8")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        let starts = try recordLines(text, path: path)
        guard !starts.isEmpty else { throw TaskDataError(.emptyFile, file: path, line: 1, "file is empty: expected a header line") }
        let parsed: EnumeratedCSV
        do {
            parsed = try EnumeratedCSV(string: text, delimiter: .comma, loadColumns: false)
        } catch {
            throw TaskDataError(.badCSV, file: path, "cannot parse as CSV (\(error))")
        }
        let rows = parsed.rows
        let header = parsed.header.map { $0.trimmingCharacters(in: .whitespaces) }
        guard rows.count == starts.count - 1 else {
            throw TaskDataError(.badCSV, file: path, "found \(starts.count - 1) records but the CSV parser found \(rows.count)")
        }
        var records: [DataRecord] = []
        records.reserveCapacity(rows.count)
        for (fields, line) in zip(rows, starts.dropFirst()) {
            guard fields.count == header.count else {
                throw TaskDataError(.wrongFieldCount, file: path, line: line,
                    "expected \(header.count) comma-separated fields (header: \(header.joined(separator: ", "))) but found \(fields.count)")
            }
            records.append(DataRecord(line: line, values: Dictionary(zip(header, fields.map(DataValue.text)),
                                                                      uniquingKeysWith: { first, _ in first })))
        }
        return DataTable(path: path, columns: header, records: records)
    }

    /// The 1-based line on which each non-blank record starts (the header first). A newline inside
    /// quotes continues the record. Throws, naming the line where it opened, for a quote never closed.
    static func recordLines(_ text: String, path: String) throws -> [Int] {
        var starts: [Int] = []
        var line = 1, inQuotes = false, quoteLine = 0, recordHasContent = false, recordLine = 1
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"":
                if !inQuotes { quoteLine = line }
                inQuotes.toggle()   // "" inside quotes toggles twice: still inside
                recordHasContent = true
            case "\n":
                line += 1
                if !inQuotes {
                    if recordHasContent { starts.append(recordLine) }
                    recordHasContent = false
                    recordLine = line
                }
            case "\r": break
            default: recordHasContent = true
            }
        }
        if inQuotes {
            throw TaskDataError(.badCSV, file: path, line: quoteLine,
                "unbalanced quotes: the quoted field opened on this line is never closed")
        }
        if recordHasContent { starts.append(recordLine) }
        return starts
    }
}
