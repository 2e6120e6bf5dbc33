// Tasks of one's own through the CLI on the tiny Gemma-3 folder (issue 10): a three-class task file
// with string labels and multi-token / alternative label words over JSONL, and a two-field task
// posed by flags over CSV with quoted commas; each trained with MeZO, evaluated (metric, per-class
// scores, confusion matrix, predictions file), exported, and the export scores exactly as the
// replayed run does.

import Foundation
import XCTest

final class TaskFileCLITests: XCTestCase {
    private func folders() throws -> (TinyModelFolder, TemporaryFolder, TemporaryFolder) {
        let model = try TinyModelFolder("task-file")
        let data = try TemporaryFolder("task-data"), runs = try TemporaryFolder("task-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        return (model, data, runs)
    }

    /// Lines of a --predictions-out file as objects.
    private func predictions(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    func testThreeClassTaskFileTrainsEvaluatesExportsAndReplays() throws {
        let (model, data, runs) = try folders()
        try data.write("task.json", """
            {"template": "the review: {review} it was", "label_column": "sentiment",
             "labels": {"negative": " terrible", "neutral": [" dull", " a film"], "positive": " great delight"},
             "metric": "macro_f1"}
            """)
        let rows = [("a great movie", "positive"), ("it was terrible and dull", "negative"), ("the film is a film", "neutral"),
                    ("the film is a delight", "positive"), ("an awful , boring film", "negative"), ("a film", "neutral")]
        let jsonl = rows.map { #"{"review": "\#($0.0)", "sentiment": "\#($0.1)"}"# }.joined(separator: "\n") + "\n"
        try data.write("train.jsonl", jsonl)
        try data.write("dev.jsonl", jsonl)
        try data.write("test.jsonl", rows.map { #"{"review": "\#($0.0)"}"# }.joined(separator: "\n") + "\n")
        let run = runs.path + "/three"
        let common = ["--model", model.path, "--task", data.path + "/task.json", "--data", data.path]

        let trained = try CLI.run(["train"] + common + ["--steps", "4", "--batch-size", "3", "--train-examples", "6",
                                                         "--eval-every", "2", "--lr", "1e-3", "--out", run, "--json"])
        guard let summary = singleJSONObject(trained) else { return }
        XCTAssertEqual(summary["steps"] as? Int, 4, trained.summary)
        XCTAssertNotNil(summary["best_accuracy"], trained.summary)   // the task's metric (macro-F1)

        let fromRun = data.path + "/run.jsonl", fromExport = data.path + "/export.jsonl"
        let evaluated = try CLI.run(["eval"] + common + ["--run", run, "--at", "last", "--predictions-out", fromRun, "--json"])
        guard let object = singleJSONObject(evaluated) else { return }
        XCTAssertEqual(object["metric"] as? String, "macro_f1")
        XCTAssertEqual(object["score"] as? Double, object["macro_f1"] as? Double)
        let confusion = try XCTUnwrap((object["confusion_matrix"] as? [String: Any])?["rows_gold_columns_predicted"] as? [[Int]])
        XCTAssertEqual(confusion.count, 3)
        XCTAssertEqual(confusion.flatMap { $0 }.reduce(0, +), 6)
        XCTAssertEqual(Set((object["per_class"] as? [String: Any])?.keys ?? [:].keys), ["negative", "neutral", "positive"])

        let exported = runs.path + "/exported"
        let export = try CLI.run(["export", "--model", model.path, "--run", run, "--at", "last", "--out", exported])
        XCTAssertEqual(export.status, 0, export.summary)
        let again = try CLI.run(["eval", "--model", exported, "--task", data.path + "/task.json", "--data", data.path,
                                 "--predictions-out", fromExport, "--json"])
        XCTAssertNotNil(singleJSONObject(again))
        let a = try predictions(fromRun), b = try predictions(fromExport)
        XCTAssertEqual(a.count, 6)
        XCTAssertEqual(a.map { $0["id"] as? String }, ["dev.jsonl:1", "dev.jsonl:2", "dev.jsonl:3", "dev.jsonl:4", "dev.jsonl:5", "dev.jsonl:6"])
        // Bit for bit: the exported weights are the replayed run's.
        XCTAssertEqual(a.map { $0["scores"] as? [String: Double] }, b.map { $0["scores"] as? [String: Double] })
        XCTAssertEqual(a.map { $0["prediction"] as? String }, b.map { $0["prediction"] as? String })

        // A test split without labels still evaluates into the predictions file.
        let testOut = data.path + "/test-predictions.jsonl"
        let tested = try CLI.run(["eval"] + common + ["--split", "test", "--predictions-out", testOut])
        XCTAssertEqual(tested.status, 0, tested.summary)
        let unlabelled = try predictions(testOut)
        XCTAssertEqual(unlabelled.count, 6)
        XCTAssertTrue(unlabelled.allSatisfy { $0["gold"] == nil && $0["prediction"] is String })

        // Backprop trains the same continuation-scored loss (multi-token and alternative words).
        let sgd = try CLI.run(["train"] + common + ["--optimizer", "sgd", "--steps", "2", "--batch-size", "3",
                                                     "--train-examples", "6", "--eval-every", "0", "--out", runs.path + "/sgd", "--json"])
        guard let sgdSummary = singleJSONObject(sgd) else { return }
        XCTAssertEqual(sgdSummary["steps"] as? Int, 2, sgd.summary)
        XCTAssertTrue((sgdSummary["final_loss"] as? Double)?.isFinite ?? false, sgd.summary)
    }

    func testTwoFieldTaskFromFlagsOverCSVMatchesJSONL() throws {
        let (model, data, runs) = try folders()
        let rows = [("a great movie, really", "it was great", "1"), ("it was terrible", "and dull, \"very\" dull", "0"),
                    ("the film is a delight", "a charming journey", "1"), ("an awful , boring film", "dull", "0")]
        func csvField(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        try data.write("train.csv", "premise,hypothesis,label\n" + rows.map { "\(csvField($0.0)),\(csvField($0.1)),\($0.2)" }.joined(separator: "\n") + "\n")
        try data.write("dev.csv", "premise,hypothesis,label\n" + rows.map { "\(csvField($0.0)),\(csvField($0.1)),\($0.2)" }.joined(separator: "\n") + "\n")
        let jsonRows = try rows.map { row -> String in
            String(decoding: try JSONSerialization.data(withJSONObject: ["premise": row.0, "hypothesis": row.1, "label": Int(row.2)!],
                                                        options: [.sortedKeys]), as: UTF8.self)
        }
        let jsonl = try TemporaryFolder("task-jsonl")
        removeAtTearDown(jsonl.remove)
        try jsonl.write("dev.jsonl", jsonRows.joined(separator: "\n") + "\n")

        let task = ["--template", "{premise} ? {hypothesis} it was", "--label-words", "0= terrible", "1= great",
                    "--label-column", "label"]
        let trained = try CLI.run(["train", "--model", model.path, "--data", data.path] + task
                                  + ["--steps", "2", "--batch-size", "2", "--train-examples", "4", "--eval-every", "0",
                                     "--out", runs.path + "/two", "--json"])
        XCTAssertNotNil(singleJSONObject(trained))
        let csvOut = data.path + "/csv.jsonl", jsonlOut = data.path + "/jsonl.jsonl"
        let fromCSV = try CLI.run(["eval", "--model", model.path, "--data", data.path, "--predictions-out", csvOut, "--json"] + task)
        let fromJSONL = try CLI.run(["eval", "--model", model.path, "--dev", jsonl.path + "/dev.jsonl", "--predictions-out", jsonlOut, "--json"] + task)
        XCTAssertEqual(singleJSONObject(fromCSV)?["n"] as? Int, 4)
        XCTAssertEqual(singleJSONObject(fromJSONL)?["n"] as? Int, 4)
        let a = try predictions(csvOut), b = try predictions(jsonlOut)
        XCTAssertEqual(a.map { $0["scores"] as? [String: Double] }, b.map { $0["scores"] as? [String: Double] })
    }

    func testBadTaskInputsFailCleanlyNamingTheFile() throws {
        let (model, data, _) = try folders()
        try data.write("task.json", #"{"template": "{review} it was", "label_column": "label", "labels": {"0": " terrible", "1": " great"}, "colour": "red"}"#)
        try data.write("dev.jsonl", "{\"review\": \"fine\", \"label\": 1}\n")
        let unknown = try CLI.run(["eval", "--model", model.path, "--task", data.path + "/task.json", "--data", data.path])
        assertCleanFailure(unknown, mentions: [data.path + "/task.json", "unknown field \"colour\""])

        try data.write("task.json", #"{"template": "{review} it was", "label_column": "label", "labels": {"0": " terrible", "1": " great"}}"#)
        try data.write("dev.jsonl", "{\"review\": \"fine\", \"label\": 1}\n{\"review\": \"odd\", \"label\": 7}\n")
        let label = try CLI.run(["eval", "--model", model.path, "--task", data.path + "/task.json", "--data", data.path])
        assertCleanFailure(label, mentions: [data.path + "/dev.jsonl:2", "label \"7\" has no label word"])

        let none = try CLI.run(["eval", "--model", model.path, "--task", "no-such-task"])
        assertCleanFailure(none, mentions: ["no-such-task", "sst2"])
    }

    /// `--objective accuracy`: MeZO's step loss is minus the batch accuracy (multiples of 1/batch);
    /// a backprop optimizer is refused because the objective has no gradient.
    func testAccuracyObjectiveTrainsWithMeZOOnly() throws {
        let (model, data, runs) = try folders()
        let rows = ["1\ta great movie", "0\tit was terrible and dull", "1\tthe film is a delight", "0\tan awful , boring film"]
        try data.write("train.tsv", "label\tsentence\n" + rows.joined(separator: "\n") + "\n")
        try data.write("dev.tsv", "label\tsentence\n" + rows.joined(separator: "\n") + "\n")
        let common = ["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--objective", "accuracy"]
        let run = runs.path + "/accuracy"
        let trained = try CLI.run(common + ["--steps", "3", "--batch-size", "4", "--train-examples", "4", "--eval-every", "0",
                                            "--out", run, "--json"])
        XCTAssertNotNil(singleJSONObject(trained))
        let manifest = try String(contentsOfFile: run + "/run.json", encoding: .utf8)
        XCTAssertTrue(manifest.contains("\"objective\" : \"accuracy\""), manifest)
        let steps = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["type"] as? String == "step" }
        XCTAssertEqual(steps.count, 3)
        for step in steps {
            let record = step["record"] as? [String: Any] ?? [:]
            let losses = (record["loss_plus"] as? [Double] ?? []) + (record["loss_minus"] as? [Double] ?? [])
            XCTAssertFalse(losses.isEmpty, "\(step)")
            for loss in losses { XCTAssertTrue([0, -0.25, -0.5, -0.75, -1].contains(loss), "loss \(loss) is not minus a batch accuracy") }
        }
        let refused = try CLI.run(common + ["--optimizer", "adamw", "--steps", "1"])
        assertCleanFailure(refused, mentions: ["--objective accuracy", "not differentiable"])
    }

    /// A completion task: MeZO and AdamW train the mean cross-entropy of the target tokens; eval
    /// generates greedily and reports exact match and F1.
    func testCompletionTaskTrainsWithMeZOAndEvaluatesByGeneration() throws {
        let (model, data, runs) = try folders()
        try data.write("task.json", """
            {"template": "{review} it was", "objective": "complete", "target_column": "answer",
             "max_new_tokens": 3, "stop": ["\\n"], "metric": "exact_match"}
            """)
        let rows = [("a great movie", "great"), ("it was terrible and dull", "terrible"), ("the film is a delight", "great"),
                    ("an awful , boring film", "terrible")]
        let jsonl = rows.map { #"{"review": "\#($0.0)", "answer": "\#($0.1)"}"# }.joined(separator: "\n") + "\n"
        try data.write("train.jsonl", jsonl)
        try data.write("dev.jsonl", jsonl)
        let common = ["--model", model.path, "--task", data.path + "/task.json", "--data", data.path]
        let trained = try CLI.run(["train"] + common + ["--steps", "2", "--batch-size", "2", "--train-examples", "4",
                                                         "--eval-every", "2", "--out", runs.path + "/complete", "--json"])
        guard let summary = singleJSONObject(trained) else { return }
        XCTAssertNotNil(summary["final_loss"] as? Double, trained.summary)
        let out = data.path + "/generated.jsonl"
        let evaluated = try CLI.run(["eval"] + common + ["--run", runs.path + "/complete", "--predictions-out", out, "--json"])
        guard let object = singleJSONObject(evaluated) else { return }
        XCTAssertEqual(object["metric"] as? String, "exact_match")
        XCTAssertNotNil(object["f1"] as? Double)
        let lines = try predictions(out)
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(lines[0]["gold"] as? [String], ["great"])
        XCTAssertTrue(lines.allSatisfy { $0["prediction"] is String })
        // AdamW trains the same target-token loss by backprop.
        let adamw = try CLI.run(["train"] + common + ["--optimizer", "adamw", "--steps", "2", "--batch-size", "2",
                                                       "--train-examples", "4", "--eval-every", "0", "--out", runs.path + "/adamw", "--json"])
        guard let adamwSummary = singleJSONObject(adamw) else { return }
        XCTAssertEqual(adamwSummary["steps"] as? Int, 2, adamw.summary)
        XCTAssertTrue((adamwSummary["final_loss"] as? Double)?.isFinite ?? false, adamw.summary)
    }
    /// run.json keeps the task and its data: `eval --run`, `train --resume` and `export` need no
    /// --task; the same task given again is accepted, another one is refused naming both.
    func testRunKeepsItsTaskAndData() throws {
        let (model, data, runs) = try folders()
        try data.write("task.json", """
            {"template": "the review: {review} it was", "label_column": "sentiment",
             "labels": {"positive": " great delight", "negative": [" terrible", " a waste"]}}
            """)
        let rows = [("a great movie", "positive"), ("it was terrible and dull", "negative"),
                    ("the film is a delight", "positive"), ("an awful , boring film", "negative")]
        try data.write("train.jsonl", rows.map { #"{"review": "\#($0.0)", "sentiment": "\#($0.1)"}"# }.joined(separator: "\n") + "\n")
        try data.write("dev.jsonl", rows.reversed().map { #"{"review": "\#($0.0)", "sentiment": "\#($0.1)"}"# }.joined(separator: "\n") + "\n")
        let run = runs.path + "/kept"
        let task = ["--task", data.path + "/task.json"]
        let trained = try CLI.run(["train", "--model", model.path, "--data", data.path, "--steps", "2", "--batch-size", "2",
                                   "--train-examples", "4", "--eval-every", "0", "--out", run, "--json"] + task)
        XCTAssertNotNil(singleJSONObject(trained))
        let manifest = try String(contentsOfFile: run + "/run.json", encoding: .utf8)
        XCTAssertTrue(manifest.contains("\"label_order\""), manifest)
        // The labels keep the file's order (positive first), which is their index.
        XCTAssertTrue(manifest.range(of: "\"positive\",")?.lowerBound ?? manifest.endIndex
                      < manifest.range(of: "\"negative\"\n")?.lowerBound ?? manifest.startIndex, manifest)

        let withTask = data.path + "/with.jsonl", without = data.path + "/without.jsonl"
        let a = try CLI.run(["eval", "--model", model.path, "--run", run, "--at", "last", "--predictions-out", without, "--json"])
        let b = try CLI.run(["eval", "--model", model.path, "--run", run, "--at", "last", "--data", data.path,
                             "--predictions-out", withTask, "--json"] + task)
        XCTAssertEqual(singleJSONObject(a)?["task"] as? String, "task")
        XCTAssertEqual(singleJSONObject(a)?["n"] as? Int, 4)
        XCTAssertEqual(try predictions(without).map { $0["scores"] as? [String: Double] },
                       try predictions(withTask).map { $0["scores"] as? [String: Double] })
        XCTAssertEqual(try predictions(without).first?["id"] as? String, "dev.jsonl:1")

        let other = try CLI.run(["eval", "--model", model.path, "--run", run, "--task", "sst2"])
        assertCleanFailure(other, mentions: [run, "task.json", "sst2", "different task"])
        let resumed = try CLI.run(["train", "--model", model.path, "--resume", run, "--steps", "3", "--json"])
        XCTAssertEqual(singleJSONObject(resumed)?["steps"] as? Int, 3, resumed.summary)
        let refused = try CLI.run(["train", "--model", model.path, "--resume", run, "--steps", "4", "--template", "{review} was"])
        assertCleanFailure(refused, mentions: [run, "task.json", "different task"])
        let export = try CLI.run(["export", "--model", model.path, "--run", run, "--at", "last", "--out", runs.path + "/exported"])
        XCTAssertEqual(export.status, 0, export.summary)
    }

    /// `--objective f1`: MeZO's step loss is minus the batch macro-F1 (classify) or minus the SQuAD
    /// F1 of greedy generations (complete); refused for a backprop optimizer.
    func testF1ObjectiveTrainsWithMeZO() throws {
        let (model, data, runs) = try folders()
        try data.write("task.json", """
            {"template": "{review} it was", "label_column": "sentiment",
             "labels": {"negative": " terrible", "neutral": " a film", "positive": " great delight"}}
            """)
        try data.write("complete.json", """
            {"template": "{review} it was", "objective": "complete", "target_column": "sentiment", "max_new_tokens": 2}
            """)
        let rows = [("a great movie", "positive"), ("it was terrible and dull", "negative"), ("a film", "neutral"),
                    ("the film is a delight", "positive"), ("an awful , boring film", "negative"), ("the film", "neutral")]
        let jsonl = rows.map { #"{"review": "\#($0.0)", "sentiment": "\#($0.1)"}"# }.joined(separator: "\n") + "\n"
        try data.write("train.jsonl", jsonl)
        try data.write("dev.jsonl", jsonl)
        for (name, taskFile) in [("classify", "task.json"), ("complete", "complete.json")] {
            let run = runs.path + "/" + name
            let common = ["train", "--model", model.path, "--task", data.path + "/" + taskFile, "--data", data.path, "--objective", "f1"]
            let trained = try CLI.run(common + ["--steps", "2", "--batch-size", "3", "--train-examples", "6", "--eval-every", "0",
                                                "--out", run, "--json"])
            XCTAssertNotNil(singleJSONObject(trained), trained.summary)
            let steps = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n")
                .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .compactMap { $0["record"] as? [String: Any] }
            XCTAssertEqual(steps.count, 2, name)
            for record in steps {
                for loss in (record["loss_plus"] as? [Double] ?? []) + (record["loss_minus"] as? [Double] ?? []) {
                    XCTAssertTrue((-1...0).contains(loss), "\(name): loss \(loss) is not minus an F1")
                }
            }
            let refused = try CLI.run(common + ["--optimizer", "sgd", "--steps", "1"])
            assertCleanFailure(refused, mentions: ["--objective f1", "not differentiable"])
        }
    }
    /// `profile` runs every method on a task file's own examples: a multi-token classify task and a
    /// completion task.
    func testProfileRunsTaskFiles() throws {
        let (model, data, _) = try folders()
        try data.write("classify.json", """
            {"template": "{review} it was", "label_column": "sentiment",
             "labels": {"negative": [" terrible", " a waste"], "positive": " great delight"}}
            """)
        try data.write("complete.json", """
            {"template": "{review} it was", "objective": "complete", "target_column": "sentiment", "max_new_tokens": 2}
            """)
        let rows = [("a great movie", "positive"), ("it was terrible and dull", "negative"), ("the film is a delight", "positive")]
        try data.write("train.jsonl", rows.map { #"{"review": "\#($0.0)", "sentiment": "\#($0.1)"}"# }.joined(separator: "\n") + "\n")
        for task in ["classify.json", "complete.json"] {
            let out = data.path + "/profile-" + task
            let result = try CLI.run(["profile", "--model", model.path, "--task", data.path + "/" + task, "--data", data.path,
                                      "--batch-size", "4", "--steps", "1", "--json", out])
            XCTAssertEqual(result.status, 0, result.summary)
            let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
            let methods = try XCTUnwrap(report["methods"] as? [[String: Any]])
            XCTAssertEqual(methods.compactMap { $0["method"] as? String }, ["inference", "mezo", "sgd", "adamw"], task)
            XCTAssertTrue(methods.allSatisfy { $0["status"] as? String == "measured" && ($0["peak_rss_bytes"] as? Double ?? 0) > 0 },
                          "\(task): \(methods)")
        }
    }
}
