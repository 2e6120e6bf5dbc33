// `train` with MeZO through the CLI on the tiny Gemma-3 folder: the run records its z
// distribution and embedding rows (today's defaults, or the paper's algorithm when asked), every
// step logs the rows it touched, the run resumes and evaluates, and the end of the run says what
// happened to dev accuracy and where the run is.

import Foundation
import XCTest

final class MeZOTrainCLITests: XCTestCase {
    func testDefaultRunRecordsItsPerturbationResumesAndEvaluates() throws {
        let model = try TinyModelFolder("mezo")
        let data = try TemporaryFolder.tinySST2("mezo-data"), runs = try TemporaryFolder("mezo-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path]
        let run = runs.path + "/default"
        let first = try CLI.run(["train"] + common + ["--steps", "3", "--batch-size", "2", "--train-examples", "6",
                                                      "--eval-every", "3", "--lr", "1e-3", "--out", run, "--json"])
        guard let summary = singleJSONObject(first) else { return }
        XCTAssertEqual(summary["steps"] as? Int, 3, first.summary)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/run.json"))) as! [String: Any]
        let config = manifest["config"] as! [String: Any]
        XCTAssertEqual(config["perturbation"] as? String, "rademacher")
        XCTAssertEqual(config["embedding_perturbation"] as? String, "batch")
        let steps = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
            .split(separator: "\n").filter { $0.contains("\"step\"") && $0.contains("\"seeds\"") }
        XCTAssertEqual(steps.count, 3)
        XCTAssertTrue(steps.allSatisfy { $0.contains("\"embedding_rows\"") }, steps.joined(separator: "\n"))
        XCTAssertTrue(first.stderr.contains("dev accuracy") && first.stderr.contains("at step 0 ->"), first.summary)
        XCTAssertTrue(first.stderr.contains("run folder \(run)"), first.summary)

        let resumed = try CLI.run(["train"] + common + ["--resume", run, "--steps", "5", "--json"])
        if let after = singleJSONObject(resumed) { XCTAssertEqual(after["steps"] as? Int, 5, resumed.summary) }
        let evaluated = try CLI.run(["eval"] + common + ["--run", run, "--at", "last", "--json"])
        if let object = singleJSONObject(evaluated) { XCTAssertEqual(object["n"] as? Int, 4, evaluated.summary) }
        XCTAssertTrue(evaluated.stderr.contains("after 5 steps"), evaluated.summary)

        // The run's perturbation is fixed by run.json.
        let changed = try CLI.run(["train"] + common + ["--resume", run, "--perturbation", "gaussian"])
        assertCleanFailure(changed, mentions: ["--perturbation", "resuming"])
    }

    func testPapersAlgorithmIsRecordedAndLogsNoRows() throws {
        let model = try TinyModelFolder("mezo-paper")
        let data = try TemporaryFolder.tinySST2("mezo-paper-data"), runs = try TemporaryFolder("mezo-paper-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let run = runs.path + "/paper"
        let result = try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path,
                                  "--perturbation", "gaussian", "--embedding-perturbation", "all", "--steps", "2",
                                  "--batch-size", "2", "--train-examples", "6", "--eval-every", "0", "--out", run, "--json"])
        guard singleJSONObject(result) != nil else { return }
        let manifest = try String(contentsOfFile: run + "/run.json", encoding: .utf8)
        XCTAssertTrue(manifest.contains("\"perturbation\" : \"gaussian\"") && manifest.contains("\"embedding_perturbation\" : \"all\""),
                      manifest)
        let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
        XCTAssertFalse(log.contains("embedding_rows"), log)

        let backprop = try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path,
                                    "--optimizer", "adamw", "--perturbation", "gaussian"])
        assertCleanFailure(backprop, mentions: ["--perturbation", "MeZO"])
    }
}
