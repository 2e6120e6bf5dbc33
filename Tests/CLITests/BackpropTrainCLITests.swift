// `train --optimizer sgd|adamw` through the CLI on the tiny Gemma-3 folder: the run folder holds
// the weights and AdamW's moments, `--resume` continues from them, `eval --run` reads them, and
// options that belong to the other kind of optimizer are refused before anything runs.

import Foundation
import XCTest

final class BackpropTrainCLITests: XCTestCase {
    /// The tiny model and a data folder with a small train.tsv and dev.tsv.
    private func setUpRun() throws -> (TinyModelFolder, TemporaryFolder, TemporaryFolder) {
        let model = try TinyModelFolder("backprop")
        let data = try TemporaryFolder.tinySST2("backprop-data"), runs = try TemporaryFolder("backprop-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        return (model, data, runs)
    }

    func testAdamWRunResumesAndEvaluates() throws {
        let (model, data, runs) = try setUpRun()
        let run = runs.path + "/adamw"
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path]
        let first = try CLI.run(["train"] + common + ["--optimizer", "adamw", "--lr", "1e-3", "--steps", "3",
                                 "--batch-size", "2", "--train-examples", "6", "--eval-every", "0",
                                 "--max-grad-norm", "1", "--out", run, "--json"])
        guard let summary = singleJSONObject(first) else { return }
        XCTAssertEqual(summary["steps"] as? Int, 3, first.summary)
        for file in ["run.json", "log.jsonl", "weights-last.safetensors", "optimizer-last.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run + "/" + file), "\(file) missing\n\(first.summary)")
        }
        let log = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8)
        XCTAssertTrue(log.contains("\"grad_norm\""), log)

        let resumed = try CLI.run(["train"] + common + ["--resume", run, "--steps", "5", "--json"])
        guard let after = singleJSONObject(resumed) else { return }
        XCTAssertEqual(after["steps"] as? Int, 5, resumed.summary)

        let evaluated = try CLI.run(["eval"] + common + ["--run", run, "--at", "last", "--json"])
        if let object = singleJSONObject(evaluated) { XCTAssertEqual(object["n"] as? Int, 4, evaluated.summary) }
        XCTAssertTrue(evaluated.stderr.contains("after 5 steps"), evaluated.summary)

        // A step between snapshots cannot be rebuilt without a seed log: a clear error, not a guess.
        let between = try CLI.run(["eval"] + common + ["--run", run, "--at", "4", "--json"])
        assertCleanFailure(between, mentions: [run, "snapshots"])
    }

    func testSGDRunLogsItsSteps() throws {
        let (model, data, runs) = try setUpRun()
        let result = try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path,
                                  "--optimizer", "sgd", "--steps", "2", "--batch-size", "3", "--train-examples", "6",
                                  "--eval-every", "1", "--out", runs.path + "/sgd", "--json"])
        guard let summary = singleJSONObject(result) else { return }
        XCTAssertEqual(summary["steps"] as? Int, 2)
        XCTAssertNotNil(summary["best_accuracy"], result.summary)
        let manifest = try String(contentsOfFile: runs.path + "/sgd/run.json", encoding: .utf8)
        XCTAssertTrue(manifest.contains("\"optimizer\" : \"sgd\"") && manifest.contains("\"lr\" : 0.0001"), manifest)
    }

    func testOptionsOfTheOtherOptimizerAreRefused() throws {
        let (model, data, _) = try setUpRun()
        let common = ["train", "--model", model.path, "--task", "sst2", "--data", data.path]
        for (extra, named) in [(["--optimizer", "adamw", "--eps", "1e-3"], "--eps"),
                               (["--max-grad-norm", "1"], "--max-grad-norm"),
                               (["--optimizer", "sgd", "--beta1", "0.5"], "--beta1"),
                               (["--optimizer", "lion"], "lion")] {
            let result = try CLI.run(common + extra)
            assertCleanFailure(result, mentions: [named])
            XCTAssertEqual(result.status, 64, result.summary)
        }
    }
}
