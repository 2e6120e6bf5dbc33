import Foundation

/// A tab-separated file with a header line, parsed as GLUE writes it: no quoting (a `"` is just a
/// character), one record per line, `\n` or `\r\n` line ends, UTF-8 (a leading BOM is dropped).
public struct TSVTable {
    public struct Row {
        /// 1-based line number in the file (the header is line 1).
        public let line: Int
        public let fields: [String]
    }

    public let path: String
    /// Header fields exactly as written (not trimmed or lower-cased).
    public let header: [String]
    /// Every non-header line; each has exactly `header.count` fields.
    public let rows: [Row]

    /// Index of the first header field that, trimmed and lower-cased, equals one of `names`,
    /// trying `names` in order (so `["sentence", "text"]` prefers `sentence`).
    public func column(named names: [String]) -> Int? {
        let normalised = header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for name in names {
            if let i = normalised.firstIndex(of: name) { return i }
        }
        return nil
    }
}

public enum TSV {
    /// Reads `path`. Throws `TaskDataError` (missingFile, unreadable, invalidUTF8, emptyFile,
    /// wrongFieldCount) naming the file and, for row problems, the line.
    /// Trailing blank lines are ignored; a blank line elsewhere is a row with the wrong field count.
    public static func read(path: String) throws -> TSVTable {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TaskDataError(.missingFile, file: path, "no such file")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TaskDataError(.unreadable, file: path, "cannot read (\(error.localizedDescription))")
        }
        return try data.withUnsafeBytes { raw in
            try parse(raw.bindMemory(to: UInt8.self), path: path)
        }
    }

    /// Parses TSV text held in memory; `path` is only used in error messages.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, path: String) throws -> TSVTable {
        var lines = splitLines(bytes)
        while let last = lines.last, last.isEmpty { lines.removeLast() }
        guard let headerLine = lines.first else {
            throw TaskDataError(.emptyFile, file: path, line: 1, "file is empty: expected a header line")
        }
        let header = try fields(of: headerLine, in: bytes, line: 1, path: path)
        var rows: [TSVTable.Row] = []
        rows.reserveCapacity(lines.count - 1)
        for (index, range) in lines.enumerated().dropFirst() {
            let line = index + 1
            let f = try fields(of: range, in: bytes, line: line, path: path)
            guard f.count == header.count else {
                throw TaskDataError(
                    .wrongFieldCount, file: path, line: line,
                    "expected \(header.count) tab-separated fields (header: \(header.joined(separator: ", "))) "
                        + "but found \(f.count)")
            }
            rows.append(TSVTable.Row(line: line, fields: f))
        }
        return TSVTable(path: path, header: header, rows: rows)
    }

    /// Byte ranges of the lines, without their `\n` or `\r\n`, and without a leading UTF-8 BOM.
    private static func splitLines(_ bytes: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var start = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { start = 3 }
        var lines: [Range<Int>] = []
        guard let base = bytes.baseAddress else { return lines }
        while start < bytes.count {
            // memchr is the fast path through 5 MB of text.
            let end: Int
            if let hit = memchr(base + start, Int32(UInt8(ascii: "\n")), bytes.count - start) {
                end = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
            } else {
                end = bytes.count
            }
            var lineEnd = end
            if lineEnd > start, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            lines.append(start..<lineEnd)
            start = end + 1
        }
        return lines
    }

    private static func fields(of range: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>, line: Int, path: String)
        throws -> [String]
    {
        var result: [String] = []
        var fieldStart = range.lowerBound
        var i = range.lowerBound
        while true {
            if i == range.upperBound || bytes[i] == UInt8(ascii: "\t") {
                guard let s = String(validating: UnsafeBufferPointer(rebasing: bytes[fieldStart..<i]), as: UTF8.self)
                else {
                    throw TaskDataError(.invalidUTF8, file: path, line: line, "field \(result.count + 1) is not valid UTF-8")
                }
                result.append(s)
                if i == range.upperBound { break }
                fieldStart = i + 1
            }
            i += 1
        }
        return result
    }
}
