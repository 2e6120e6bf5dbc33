// `train --peft prefix` through the CLI on the tiny Gemma-3 folder: a MeZO prefix run is a seed log
// over the prefix arena (resume and a fresh run reach the same bits, `eval --run` rebuilds them), an
// AdamW prefix run snapshots only the prefix and its moments, and bad prefix options fail clearly.

import Foundation
import XCTest

final class PrefixTrainCLITests: XCTestCase {
    private func setUpRun() throws -> (TinyModelFolder, TemporaryFolder, TemporaryFolder) {
        let model = try TinyModelFolder("prefix")
        let data = try TemporaryFolder.tinySST2("prefix-data"), runs = try TemporaryFolder("prefix-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        return (model, data, runs)
    }

    func testMeZOPrefixRunResumesAndReplaysBitwise() throws {
        let (model, data, runs) = try setUpRun()
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path]
        let settings = ["--peft", "prefix", "--prefix-tokens", "3", "--lr", "1e-2", "--eps", "1e-1", "--batch-size", "2",
                        "--train-examples", "6", "--eval-every", "0", "--json"]
        let split = runs.path + "/split", whole = runs.path + "/whole"
        _ = singleJSONObject(try CLI.run(["train"] + common + settings + ["--steps", "3", "--out", split]))
        _ = singleJSONObject(try CLI.run(["train"] + common + ["--resume", split, "--steps", "5", "--json"]))
        _ = singleJSONObject(try CLI.run(["train"] + common + settings + ["--steps", "5", "--out", whole]))
        let manifest = try String(contentsOfFile: split + "/run.json", encoding: .utf8)
        XCTAssertTrue(manifest.contains("\"peft\" : \"prefix\"") && manifest.contains("\"prefix_tokens\" : 3"), manifest)
        // The snapshot holds the prefix only: (3 tokens, 4 layers · 2 · 16) floats.
        let size = try FileManager.default.attributesOfItem(atPath: split + "/weights-last.safetensors")[.size] as! Int
        XCTAssertLessThan(size, 3 * 4 * 2 * 16 * 4 + 1024, "weights-last.safetensors holds more than the prefix")

        var scores: [String] = []
        for run in [split, whole] {
            let out = runs.path + "/\(URL(fileURLWithPath: run).lastPathComponent).jsonl"
            let evaluated = try CLI.run(["eval"] + common + ["--run", run, "--at", "last", "--predictions-out", out, "--json"])
            _ = singleJSONObject(evaluated)
            XCTAssertTrue(evaluated.stderr.contains("5 steps"), evaluated.summary)
            scores.append(try String(contentsOfFile: out, encoding: .utf8))
        }
        XCTAssertEqual(scores[0], scores[1], "a resumed prefix run and an uninterrupted one differ")
        let base = try CLI.run(["eval"] + common + ["--predictions-out", runs.path + "/base.jsonl", "--json"])
        _ = singleJSONObject(base)
        XCTAssertNotEqual(try String(contentsOfFile: runs.path + "/base.jsonl", encoding: .utf8), scores[0],
                          "the prefix changed no score")

        let changed = try CLI.run(["train"] + common + ["--resume", split, "--steps", "6", "--peft", "prefix", "--prefix-tokens", "4"])
        assertCleanFailure(changed, mentions: ["--prefix-tokens 4", "the run has 3"])
    }

    func testAdamWPrefixRunSnapshotsThePrefixAndItsMoments() throws {
        let (model, data, runs) = try setUpRun()
        let run = runs.path + "/adamw"
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path]
        let first = try CLI.run(["train"] + common + ["--peft", "prefix", "--optimizer", "adamw", "--lr", "1e-2", "--steps", "3",
                                 "--batch-size", "2", "--train-examples", "6", "--eval-every", "0", "--out", run, "--json"])
        guard let summary = singleJSONObject(first) else { return }
        XCTAssertEqual(summary["steps"] as? Int, 3, first.summary)
        let optimizer = try String(decoding: Data(contentsOf: URL(fileURLWithPath: run + "/optimizer-last.safetensors")).prefix(400),
                                   as: UTF8.self)
        XCTAssertTrue(optimizer.contains("prompt_embeddings"), optimizer)
        XCTAssertFalse(optimizer.contains("model.layers"), "AdamW keeps moments of the base weights: \(optimizer)")
        let evaluated = try CLI.run(["eval"] + common + ["--run", run, "--at", "last", "--json"])
        _ = singleJSONObject(evaluated)
    }

    func testBadPrefixOptionsFailClearly() throws {
        let (model, data, runs) = try setUpRun()
        let common = ["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--steps", "1",
                      "--out", runs.path + "/bad"]
        assertCleanFailure(try CLI.run(common + ["--peft", "prefix", "--prefix-tokens", "0"]), mentions: ["--prefix-tokens must be at least 1"])
        assertCleanFailure(try CLI.run(common + ["--prefix-tokens", "3"]), mentions: ["--peft prefix"])
        // tiny-gemma3 covers 64 positions.
        assertCleanFailure(try CLI.run(common + ["--peft", "prefix", "--prefix-tokens", "64"]), mentions: ["64 positions"])
    }
}
