// Training a sentence encoder through the CLI (issue 5) on the real all-MiniLM-L6-v2: a MeZO run
// and an AdamW run in the same run folders as the decoder's, `--resume`, `eval --run` and
// `export`, whose folder holds the run's weights under the checkpoint's own names.

import Foundation
import TestSupport
import XCTest

final class EncoderTrainCLITests: XCTestCase {
    func testMeZOAndAdamWRunsResumeEvaluateAndExport() throws {
        let model = Repo.root + "/models/all-minilm-l6-v2"
        guard FileManager.default.fileExists(atPath: model + "/model.safetensors") else {
            return XCTFail("\(model) missing; run python3 tools/setup/fetch_encoder.py")
        }
        guard let data = Repo.sst2Directory else { return XCTFail("SST-2 not found") }
        let scratch = NSTemporaryDirectory() + "zofinetune-encoder-train-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let common = ["--model", model, "--task", "sst2", "--data", data]
        for optimizer in ["mezo", "adamw"] {
            let run = scratch + "/" + optimizer
            let first = try CLI.run(["train"] + common + ["--optimizer", optimizer, "--steps", "3", "--batch-size", "4",
                                     "--train-examples", "16", "--eval-every", "0", "--out", run, "--json"], timeout: 300)
            guard let summary = singleJSONObject(first) else { return }
            XCTAssertEqual(summary["steps"] as? Int, 3, first.summary)
            let manifest = try String(contentsOfFile: run + "/run.json", encoding: .utf8)
            XCTAssertTrue(manifest.contains("a positive movie review"), "the run keeps its label descriptions\n\(manifest)")

            let resumed = try CLI.run(["train"] + common + ["--resume", run, "--steps", "5", "--json"], timeout: 300)
            XCTAssertEqual(singleJSONObject(resumed)?["steps"] as? Int, 5, resumed.summary)

            let evaluated = try CLI.run(["eval"] + common + ["--run", run, "--at", "last", "--limit", "8", "--json"], timeout: 300)
            XCTAssertEqual(singleJSONObject(evaluated)?["n"] as? Int, 8, evaluated.summary)
            XCTAssertTrue(evaluated.stderr.contains("after 5 steps"), evaluated.summary)

            let out = scratch + "/export-" + optimizer
            let exported = try CLI.run(["export", "--model", model, "--run", run, "--at", "last", "--out", out], timeout: 300)
            XCTAssertEqual(exported.status, 0, exported.summary)
            for file in ["model.safetensors", "config.json", "vocab.txt", "modules.json", "1_Pooling/config.json"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + file), "\(file) missing from the export")
            }
            // The exported folder is a model of its own: evaluating it equals evaluating the run.
            let fromExport = try CLI.run(["eval", "--model", out, "--task", "sst2", "--data", data, "--limit", "8", "--json"],
                                         timeout: 300)
            XCTAssertEqual(singleJSONObject(fromExport)?["accuracy"] as? Double,
                           singleJSONObject(evaluated)?["accuracy"] as? Double, fromExport.summary)
        }
    }
}
