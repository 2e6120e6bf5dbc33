import Foundation
import XCTest

@testable import Tasks

/// Task files, data files in three formats, and every bad input of issue 10 as a clear error that
/// names the file and, for a bad record, its line.
final class TaskFileTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("zf-taskfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let path = folder.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertError(_ kind: TaskDataError.Kind, file: String, line: Int?, mentions: [String], at: UInt = #line,
                     _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected \(kind), nothing thrown", line: at)
        } catch let e as TaskDataError {
            XCTAssertEqual(e.kind, kind, "\(e)", line: at)
            XCTAssertEqual(e.file, file, "\(e)", line: at)
            XCTAssertEqual(e.line, line, "\(e)", line: at)
            XCTAssertTrue(e.description.hasPrefix(file + (line.map { ":\($0):" } ?? ":")), e.description, line: at)
            for word in mentions { XCTAssertTrue(e.description.contains(word), "'\(word)' not in \(e)", line: at) }
        } catch {
            XCTFail("expected TaskDataError.\(kind), got \(error)", line: at)
        }
    }

    static let reviewTask = """
        {"template": "Review: {review}\\nSentiment:", "label_column": "sentiment",
         "labels": {"positive": [" good", " great"], "negative": " bad", "neutral": " so so"}, "metric": "macro_f1"}
        """

    // MARK: task files

    func testTaskFileKeepsTheLabelsInFileOrderWithAlternatives() throws {
        let spec = try TaskSpec.load(path: write("task.json", Self.reviewTask))
        XCTAssertEqual(spec.labels.map(\.value), ["positive", "negative", "neutral"])
        XCTAssertEqual(spec.labels[0].words, [" good", " great"])
        XCTAssertEqual(spec.effectiveMetric, .macroF1)
        XCTAssertEqual(spec.objective, .classify)
        XCTAssertTrue(spec.bos)
    }

    func testUnknownFieldInTaskFileIsAnErrorNamingIt() throws {
        let path = try write("typo.json", #"{"template": "{text}", "label_column": "label", "lables": {"0": " a", "1": " b"}}"#)
        assertError(.badTaskFile, file: path, line: nil, mentions: ["unknown field \"lables\""]) { _ = try TaskSpec.load(path: path) }
    }

    func testUnknownObjectiveIsAnErrorNamingIt() throws {
        let path = try write("objective.json", #"{"template": "{text}", "objective": "regress", "label_column": "label"}"#)
        assertError(.badTaskFile, file: path, line: nil, mentions: ["unknown objective \"regress\"", "classify", "complete"]) {
            _ = try TaskSpec.load(path: path)
        }
    }

    func testEmptyLabelWordIsAnError() throws {
        let path = try write("empty.json", #"{"template": "{text}", "label_column": "label", "labels": {"0": " bad", "1": " "}}"#)
        assertError(.emptyLabelWord, file: path, line: nil, mentions: ["label \"1\"", "empty label word"]) {
            _ = try TaskSpec.load(path: path)
        }
    }

    func testTemplateSyntaxAndFieldCombinationsAreChecked() throws {
        let unclosed = try write("unclosed.json", #"{"template": "{text", "label_column": "l", "labels": {"0": "a", "1": "b"}}"#)
        assertError(.badTaskFile, file: unclosed, line: nil, mentions: ["unclosed"]) { _ = try TaskSpec.load(path: unclosed) }
        let filter = try write("filter.json", #"{"template": "{text|shout}", "label_column": "l", "labels": {"0": "a", "1": "b"}}"#)
        assertError(.badTaskFile, file: filter, line: nil, mentions: ["unknown filter \"shout\""]) { _ = try TaskSpec.load(path: filter) }
        let noTarget = try write("complete.json", #"{"template": "{q}", "objective": "complete"}"#)
        assertError(.badTaskFile, file: noTarget, line: nil, mentions: ["target_column"]) { _ = try TaskSpec.load(path: noTarget) }
        let metric = try write("metric.json", #"{"template": "{q}", "label_column": "l", "labels": {"0": "a", "1": "b"}, "metric": "f1"}"#)
        assertError(.badTaskFile, file: metric, line: nil, mentions: ["metric f1"]) { _ = try TaskSpec.load(path: metric) }
    }

    // MARK: data files

    func testCSVWithQuotedCommasQuotesAndNewlines() throws {
        let path = try write("train.csv", "review,sentiment\n\"Great, really great\",positive\n\"It said \"\"meh\"\",\nthen stopped\",negative\nplain,neutral\n")
        let table = try DataFiles.read(path: path)
        XCTAssertEqual(table.columns, ["review", "sentiment"])
        XCTAssertEqual(table.records.map(\.line), [2, 3, 5])
        XCTAssertEqual(table.records[0].values["review"], .text("Great, really great"))
        XCTAssertEqual(table.records[1].values["review"], .text("It said \"meh\",\nthen stopped"))
        XCTAssertEqual(table.records[2].values["sentiment"], .text("neutral"))
    }

    func testCSVAndJSONLAndTSVGiveTheSameExamples() throws {
        let spec = try TaskSpec.load(path: write("task.json", Self.reviewTask))
        let csv = try TaskExamples.load(path: write("a.csv", "sentiment,review\npositive,\"fine, fun\"\nnegative,dull\n"), spec: spec)
        let jsonl = try TaskExamples.load(path: write("a.jsonl", "{\"review\": \"fine, fun\", \"sentiment\": \"positive\"}\n\n{\"review\": \"dull\", \"sentiment\": \"negative\"}\n"), spec: spec)
        let tsv = try TaskExamples.load(path: write("a.tsv", "review\tsentiment\nfine, fun\tpositive\ndull\tnegative\n"), spec: spec)
        let prompt = try TaskPrompt(spec: spec, origin: "task.json")
        for set in [csv, jsonl, tsv] {
            XCTAssertEqual(set.map(\.label), [0, 1])
            XCTAssertEqual(try set.map { try prompt.text(for: $0) }, ["Review: fine, fun\nSentiment:", "Review: dull\nSentiment:"])
        }
        XCTAssertEqual(try prompt.candidateTexts(for: csv[0]), [[" good", " great"], [" bad"], [" so so"]])
    }

    func testJSONLNumbersAndBooleansMatchLabelValues() throws {
        let spec = try TaskSpec.load(path: write("b.json", #"{"template": "{q}", "label_column": "a", "labels": {"true": " yes", "false": " no"}}"#))
        let examples = try TaskExamples.load(path: write("b.jsonl", "{\"q\": \"x?\", \"a\": true}\n{\"q\": \"y?\", \"a\": false}\n"), spec: spec)
        XCTAssertEqual(examples.map(\.label), [0, 1])
        let five = try TaskSpec.load(path: write("c.json", #"{"template": "{q}", "label_column": "a", "labels": {"1": " one", "3": " three"}}"#))
        XCTAssertEqual(try TaskExamples.load(path: write("c.jsonl", "{\"q\": \"x\", \"a\": 3}\n"), spec: five).map(\.label), [1])
    }

    func testTemplateColumnMissingFromTheData() throws {
        let spec = try TaskSpec.load(path: write("task.json", Self.reviewTask))
        let path = try write("dev.csv", "text,sentiment\nok,positive\n")
        assertError(.missingColumn, file: path, line: 1, mentions: ["{review}", "text, sentiment"]) {
            _ = try TaskExamples.load(path: path, spec: spec)
        }
        // A JSONL record without the key: named by its line when the prompt is made.
        let jsonl = try write("dev.jsonl", "{\"review\": \"a\", \"sentiment\": \"positive\"}\n{\"sentiment\": \"negative\"}\n")
        let examples = try TaskExamples.load(path: jsonl, spec: spec)
        let prompt = try TaskPrompt(spec: spec, origin: "task.json")
        assertError(.missingColumn, file: "dev.jsonl", line: 2, mentions: ["review"]) { _ = try prompt.text(for: examples[1]) }
    }

    func testLabelValueWithNoLabelWord() throws {
        let spec = try TaskSpec.load(path: write("task.json", Self.reviewTask))
        let path = try write("train.tsv", "review\tsentiment\ngood\tpositive\nodd\tmixed\n")
        assertError(.badLabel, file: path, line: 3, mentions: ["\"mixed\"", "positive, negative, neutral"]) {
            _ = try TaskExamples.load(path: path, spec: spec)
        }
    }

    func testUnbalancedCSVQuotesNameTheLineTheQuoteOpened() throws {
        let path = try write("bad.csv", "review,sentiment\nfine,positive\n\"never closed,negative\nmore,neutral\n")
        assertError(.badCSV, file: path, line: 3, mentions: ["unbalanced quotes"]) { _ = try DataFiles.read(path: path) }
    }

    func testJSONLLineThatIsNotAnObject() throws {
        let path = try write("bad.jsonl", "{\"review\": \"a\", \"sentiment\": \"positive\"}\n[\"review\", \"b\"]\n")
        assertError(.badJSONL, file: path, line: 2, mentions: ["JSON object", "an array"]) { _ = try DataFiles.read(path: path) }
        let broken = try write("broken.jsonl", "{\"review\": \"a\"\n")
        assertError(.badJSONL, file: broken, line: 1, mentions: ["not valid JSON"]) { _ = try DataFiles.read(path: broken) }
    }

    func testEmptyTarget() throws {
        let spec = try TaskSpec.load(path: write("qa.json", #"{"template": "Q: {question}\nA:", "objective": "complete", "target_column": "answer"}"#))
        let path = try write("train.jsonl", "{\"question\": \"2+2?\", \"answer\": \"4\"}\n{\"question\": \"why?\", \"answer\": \"  \"}\n")
        assertError(.emptyTarget, file: path, line: 2, mentions: ["empty target", "answer"]) {
            _ = try TaskExamples.load(path: path, spec: spec)
        }
    }

    func testTestSplitWithoutLabelsLoadsUnlabelled() throws {
        let spec = try TaskSpec.load(path: write("task.json", Self.reviewTask))
        let path = try write("test.jsonl", "{\"review\": \"a\"}\n{\"review\": \"b\"}\n")
        XCTAssertEqual(try TaskExamples.load(path: path, spec: spec, requireLabels: false).map(\.label), [-1, -1])
        assertError(.noLabelColumn, file: path, line: 1, mentions: ["sentiment"]) { _ = try TaskExamples.load(path: path, spec: spec) }
    }

    func testDataFolderFindsOneFilePerSplit() throws {
        try write("train.jsonl", "{}\n")
        try write("dev.csv", "a\n")
        XCTAssertEqual(try DataFiles.find(directory: folder.path, split: .train), folder.appendingPathComponent("train.jsonl").path)
        try write("dev.tsv", "a\n")
        assertError(.ambiguousSplit, file: folder.path, line: nil, mentions: ["dev.tsv", "dev.csv"]) {
            _ = try DataFiles.find(directory: folder.path, split: .dev)
        }
        assertError(.missingFile, file: folder.path, line: nil, mentions: ["test.tsv", "test.csv", "test.jsonl"]) {
            _ = try DataFiles.find(directory: folder.path, split: .test)
        }
    }

    /// k demonstrations, as MeZO's encode_prompt: each demonstration is its prompt + its gold label's
    /// first word, stripped, joined by the separator, then the separator and the example's prompt.
    func testDemonstrationsArePrependedAsMeZODoes() throws {
        var spec = try TaskSpec.load(path: write("task.json", Self.reviewTask))
        spec.demonstrations = .init(k: 2, separator: "\n\n", seed: 1)
        var prompt = try TaskPrompt(spec: spec, origin: "task.json")
        let train = try TaskExamples.load(path: write("train.jsonl", """
            {"review": " loved it ", "sentiment": "positive"}
            {"review": "hated it", "sentiment": "negative"}
            {"review": "meh", "sentiment": "neutral"}
            """), spec: spec)
        prompt.chooseDemonstrations(from: train)
        XCTAssertEqual(prompt.demonstrations.count, 2)
        let demos = try prompt.demonstrations.map { d -> String in
            let word = try prompt.candidateTexts(for: d)[d.label][0]
            return ("Review: \(d.fields["review"]!.text)\nSentiment:" + word).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        XCTAssertEqual(try prompt.text(for: train[2]), demos.joined(separator: "\n\n") + "\n\nReview: meh\nSentiment:")
    }

    // MARK: metrics

    func testMacroF1AndSQuADMetrics() {
        let r = ClassificationReport(gold: [0, 0, 1, 1, 2, -1], predicted: [0, 1, 1, 1, 0, 2], labelNames: ["a", "b", "c"])
        XCTAssertEqual(r.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
        XCTAssertEqual(r.accuracy, 0.6, accuracy: 1e-12)
        // a: P 1/2 R 1/2 F 1/2; b: P 2/3 R 1 F 0.8; c: 0.
        XCTAssertEqual(r.macroF1, (0.5 + 0.8 + 0) / 3, accuracy: 1e-12)
        XCTAssertEqual(AnswerMetrics.normalize("The  Denver, Broncos!"), "denver broncos")
        XCTAssertEqual(AnswerMetrics.exactMatch("the denver broncos", gold: ["Denver Broncos"]), 1)
        XCTAssertEqual(AnswerMetrics.f1("Denver Broncos team", gold: ["Broncos", "Denver Broncos"]), 0.8, accuracy: 1e-12)
        XCTAssertEqual(AnswerMetrics.f1("nothing", gold: ["Broncos"]), 0)
    }
}
