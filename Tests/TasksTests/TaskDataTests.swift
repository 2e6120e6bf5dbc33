import Foundation
import XCTest

@testable import Tasks

final class TaskDataTests: XCTestCase {
    /// Repository root, from this file's path (Tests/TasksTests/TaskDataTests.swift).
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The real SST-2 folder: $SST2_DIR, else <repo>/../shared/data/sst2, else <repo>/data/sst2.
    static func sst2Directory() -> String? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["SST2_DIR"], !env.isEmpty { candidates.append(env) }
        candidates.append(repoRoot.appendingPathComponent("../shared/data/sst2").standardized.path)
        candidates.append(repoRoot.appendingPathComponent("data/sst2").path)
        return candidates.first { dir in
            ["train.tsv", "dev.tsv"].allSatisfy {
                FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent($0))
            }
        }
    }

    /// The SST-2 folder, or an XCTFail saying how to provide it (a missing data set is a failure,
    /// not a silent skip).
    private func requireSST2(line: UInt = #line) -> String? {
        guard let dir = Self.sst2Directory() else {
            XCTFail(
                "SST-2 not found: set SST2_DIR, or put GLUE's train.tsv and dev.tsv in ../shared/data/sst2 "
                    + "or data/sst2 (see data/README.md, tools/setup/fetch_sst2.sh)", line: line)
            return nil
        }
        return dir
    }

    var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("zofinetune-tasks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: tempDir)
    }

    /// Writes `<tempDir>/<split>.tsv` with exactly `contents`.
    @discardableResult
    private func writeTSV(_ split: Split, _ contents: String) throws -> String {
        let path = tempDir.appendingPathComponent("\(split.rawValue).tsv").path
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func assertTaskError(
        _ kind: TaskDataError.Kind, file: String, line: Int?, mentions: [String] = [], at: UInt = #line,
        _ body: () throws -> Void
    ) {
        do {
            try body()
            XCTFail("expected TaskDataError.\(kind), nothing thrown", line: at)
        } catch let error as TaskDataError {
            XCTAssertEqual(error.kind, kind, "\(error)", line: at)
            XCTAssertEqual(error.file, file, line: at)
            XCTAssertEqual(error.line, line, "\(error)", line: at)
            let text = error.description
            XCTAssertTrue(text.hasPrefix(file + (line.map { ":\($0):" } ?? ":")), text, line: at)
            for word in mentions {
                XCTAssertTrue(text.contains(word), "'\(word)' not in: \(text)", line: at)
            }
        } catch {
            XCTFail("expected TaskDataError.\(kind), got \(error)", line: at)
        }
    }

    // MARK: - Real SST-2

    func testSST2TrainCountsAndBalance() throws {
        guard let dir = requireSST2() else { return }
        let start = Date()
        let train = try TaskData.load(directory: dir, split: .train)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(train.count, 67_349)
        // Counted independently with awk over the file.
        XCTAssertEqual(train.filter { $0.label == 1 }.count, 37_569)
        XCTAssertEqual(train.filter { $0.label == 0 }.count, 29_780)
        XCTAssertEqual(train.first, LabeledExample(text: "hide new secretions from the parental units", label: 0))
        XCTAssertEqual(train[1], LabeledExample(text: "contains no wit , only labored gags", label: 0))
        // train.tsv has \r\n line ends: no text may keep the \r.
        XCTAssertFalse(train.contains { $0.text.contains("\r") || $0.text.isEmpty })
        // Measured ~0.05–0.06 s on the 2-core dev machine: 0.3 s leaves room for a busy machine.
        XCTAssertLessThan(seconds, 0.3, "train.tsv took \(seconds) s to load")
        print("train.tsv: \(train.count) examples in \(String(format: "%.3f", seconds)) s")
    }

    func testSST2DevCountsAndBalance() throws {
        guard let dir = requireSST2() else { return }
        let dev = try TaskData.load(directory: dir, split: .dev)
        XCTAssertEqual(dev.count, 872)
        XCTAssertEqual(dev.filter { $0.label == 1 }.count, 444)
        XCTAssertEqual(dev.filter { $0.label == 0 }.count, 428)
        XCTAssertEqual(dev.first, LabeledExample(text: "one long string of cliches .", label: 0))
    }

    // MARK: - Column order, line ends, labels

    func testColumnOrderIndependence() throws {
        try writeTSV(.train, "sentence\tlabel\na fine film\t1\na dull film\t0\n")
        let glueOrder = try TaskData.load(directory: tempDir.path, split: .train)
        try writeTSV(.train, "label\tsentence\n1\ta fine film\n0\ta dull film\n")
        let swapped = try TaskData.load(directory: tempDir.path, split: .train)
        let expected = [LabeledExample(text: "a fine film", label: 1), LabeledExample(text: "a dull film", label: 0)]
        XCTAssertEqual(glueOrder, expected)
        XCTAssertEqual(swapped, expected)

        // Extra columns and other text header names.
        try writeTSV(.dev, "idx\tLabel\tcontent\n0\t0\tmeh\n1\t1\twow\n")
        XCTAssertEqual(
            try TaskData.load(directory: tempDir.path, split: .dev),
            [LabeledExample(text: "meh", label: 0), LabeledExample(text: "wow", label: 1)])
        try writeTSV(.dev, "text\tlabel\nok\t1\n")
        XCTAssertEqual(try TaskData.load(directory: tempDir.path, split: .dev), [LabeledExample(text: "ok", label: 1)])
    }

    func testCRLFLineEndsBOMAndSpaces() throws {
        // GLUE's train sentences end with a space; Windows editors add \r\n and a BOM.
        try writeTSV(.train, "\u{FEFF}sentence\tlabel\r\nit 's \"great\" ! \t1\r\nso bad\t 0\r\n\r\n")
        XCTAssertEqual(
            try TaskData.load(directory: tempDir.path, split: .train),
            [LabeledExample(text: "it 's \"great\" !", label: 1), LabeledExample(text: "so bad", label: 0)])
        // No trailing newline at all.
        try writeTSV(.train, "label\tsentence\n1\tlast line")
        XCTAssertEqual(
            try TaskData.load(directory: tempDir.path, split: .train), [LabeledExample(text: "last line", label: 1)])
    }

    func testTestSplitWithoutLabels() throws {
        // GLUE's test.tsv: index<TAB>sentence, no labels.
        let path = try writeTSV(.test, "index\tsentence\n0\tuneasy mishmash of styles\n1\tpure delight\n")
        XCTAssertEqual(
            try TaskData.load(directory: tempDir.path, split: .test, requireLabels: false),
            [LabeledExample(text: "uneasy mishmash of styles", label: -1), LabeledExample(text: "pure delight", label: -1)])
        assertTaskError(.noLabelColumn, file: path, line: 1, mentions: ["label", "requireLabels"]) {
            _ = try TaskData.load(directory: tempDir.path, split: .test)
        }
    }

    // MARK: - Errors

    func testMissingFolder() {
        let dir = tempDir.appendingPathComponent("nowhere").path
        assertTaskError(.missingDirectory, file: dir, line: nil, mentions: ["GLUE", "SST-2", "data/README.md"]) {
            _ = try TaskData.load(directory: dir, split: .train)
        }
    }

    func testMissingFile() {
        let path = tempDir.appendingPathComponent("dev.tsv").path
        assertTaskError(.missingFile, file: path, line: nil, mentions: ["dev.tsv", "GLUE", "data/README.md"]) {
            _ = try TaskData.load(directory: tempDir.path, split: .dev)
        }
    }

    func testNoTextColumn() throws {
        let path = try writeTSV(.train, "review\tlabel\ngood\t1\n")
        assertTaskError(.noTextColumn, file: path, line: 1, mentions: ["review", "sentence"]) {
            _ = try TaskData.load(directory: tempDir.path, split: .train)
        }
    }

    func testNoLabelColumn() throws {
        let path = try writeTSV(.dev, "sentence\tscore\ngood\t1\n")
        assertTaskError(.noLabelColumn, file: path, line: 1, mentions: ["score"]) {
            _ = try TaskData.load(directory: tempDir.path, split: .dev)
        }
    }

    func testBadLabelGivesLineNumber() throws {
        let path = try writeTSV(.train, "label\tsentence\n1\tfine\n0\tmeh\n2\tthird row is bad\n")
        assertTaskError(.badLabel, file: path, line: 4, mentions: ["'2'"]) {
            _ = try TaskData.load(directory: tempDir.path, split: .train)
        }
        try writeTSV(.train, "label\tsentence\npositive\tfine\n")
        assertTaskError(.badLabel, file: path, line: 2, mentions: ["positive"]) {
            _ = try TaskData.load(directory: tempDir.path, split: .train)
        }
        // requireLabels: false still checks a label column that is present.
        assertTaskError(.badLabel, file: path, line: 2) {
            _ = try TaskData.load(directory: tempDir.path, split: .train, requireLabels: false)
        }
    }

    func testEmptySentenceGivesLineNumber() throws {
        let path = try writeTSV(.dev, "label\tcontent\r\n1\tok\r\n0\t  \r\n")
        assertTaskError(.emptyText, file: path, line: 3) {
            _ = try TaskData.load(directory: tempDir.path, split: .dev)
        }
    }

    func testWrongFieldCountGivesLineNumber() throws {
        let path = try writeTSV(.train, "label\tsentence\n1\tok\n0\ttoo\tmany\n")
        assertTaskError(.wrongFieldCount, file: path, line: 3, mentions: ["3"]) {
            _ = try TaskData.load(directory: tempDir.path, split: .train)
        }
        try writeTSV(.train, "label\tsentence\n1\tok\n1\n")
        assertTaskError(.wrongFieldCount, file: path, line: 3) {
            _ = try TaskData.load(directory: tempDir.path, split: .train)
        }
        // A blank line in the middle is a row with one field, not silently skipped.
        try writeTSV(.train, "label\tsentence\n1\tok\n\n0\tmeh\n")
        assertTaskError(.wrongFieldCount, file: path, line: 3) {
            _ = try TaskData.load(directory: tempDir.path, split: .train)
        }
    }

    func testEmptyFileAndInvalidUTF8() throws {
        let path = try writeTSV(.train, "")
        assertTaskError(.emptyFile, file: path, line: 1) {
            _ = try TaskData.load(directory: tempDir.path, split: .train)
        }
        var bytes = Data("label\tsentence\n1\tok\n0\tbad ".utf8)
        bytes.append(contentsOf: [0xFF, 0xFE])
        try bytes.write(to: URL(fileURLWithPath: path))
        assertTaskError(.invalidUTF8, file: path, line: 3) {
            _ = try TaskData.load(directory: tempDir.path, split: .train)
        }
    }

    func testTSVTableKeepsLinesAndHeader() throws {
        let path = try writeTSV(.train, "A\tB\tC\n1\t\t3\r\nx\ty\tz\n")
        let table = try TSV.read(path: path)
        XCTAssertEqual(table.header, ["A", "B", "C"])
        XCTAssertEqual(table.rows.map(\.line), [2, 3])
        XCTAssertEqual(table.rows.map(\.fields), [["1", "", "3"], ["x", "y", "z"]])
        XCTAssertEqual(table.column(named: ["c"]), 2)
        XCTAssertEqual(table.column(named: ["d", "b"]), 1)
        XCTAssertNil(table.column(named: ["d"]))
    }
}
