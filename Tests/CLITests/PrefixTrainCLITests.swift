// `train --peft prefix` through the CLI on the tiny Gemma-3 folder: a MeZO prefix run is a seed log
// over the prefix arena (resume and a fresh run reach the same bits, `eval --run` rebuilds them), an
// AdamW prefix run snapshots only the prefix and its moments, and bad prefix options fail clearly.

import Foundation
import TestSupport
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

    /// export: no merged folder or GGUF for a prefix run (a clear error); `--adapter` writes a peft
    /// folder that `eval --adapter` reads back to the run's exact scores; a folder for another base
    /// (other weights, or another shape) is refused.
    func testPrefixExportsOnlyAsAnAdapterThatReadsBack() throws {
        let (model, data, runs) = try setUpRun()
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path]
        let run = runs.path + "/run", adapter = runs.path + "/adapter"
        _ = singleJSONObject(try CLI.run(["train"] + common + ["--peft", "prefix", "--prefix-tokens", "2", "--lr", "1e-2", "--eps", "1e-1",
                                         "--steps", "3", "--batch-size", "2", "--train-examples", "6", "--eval-every", "0",
                                         "--out", run, "--json"]))
        for format in [["--format", "hf"], ["--format", "gguf"]] {
            assertCleanFailure(try CLI.run(["export", "--model", model.path, "--run", run, "--at", "last", "--out", runs.path + "/merged"] + format),
                               mentions: ["--peft prefix", "no merged model folder or GGUF file can hold it", "--adapter"])
        }
        XCTAssertEqual(try CLI.run(["export", "--model", model.path, "--run", run, "--at", "last", "--adapter", "--out", adapter]).status, 0)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: adapter + "/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["peft_type"] as? String, "PREFIX_TUNING")
        XCTAssertEqual(config["num_virtual_tokens"] as? Int, 2)
        XCTAssertEqual(config["token_dim"] as? Int, 16)   // tiny-gemma3: 1 key/value head of 16

        let fromRun = runs.path + "/run.jsonl", fromAdapter = runs.path + "/adapter.jsonl"
        _ = singleJSONObject(try CLI.run(["eval"] + common + ["--run", run, "--at", "last", "--predictions-out", fromRun, "--json"]))
        let read = try CLI.run(["eval"] + common + ["--adapter", adapter, "--predictions-out", fromAdapter, "--json"])
        _ = singleJSONObject(read)
        XCTAssertTrue(read.stderr.contains("prefix-tuning adapter"), read.summary)
        XCTAssertEqual(try String(contentsOfFile: fromRun, encoding: .utf8), try String(contentsOfFile: fromAdapter, encoding: .utf8))
        let prompted = try CLI.run(["prompt", "--model", model.path, "--adapter", adapter, "a b", "--candidates", " a", " b"])
        XCTAssertEqual(prompted.status, 0, prompted.summary)

        // On other weights: refused, naming both fingerprints.
        let other = try TinyModelFolder("prefix-other")
        removeAtTearDown(other.remove)
        var weights = try Data(contentsOf: URL(fileURLWithPath: other.weightsPath))
        weights[weights.count - 4] ^= 1   // the last weight's lowest mantissa bit
        try weights.write(to: URL(fileURLWithPath: other.weightsPath))
        assertCleanFailure(try CLI.run(["eval", "--model", other.path, "--adapter", adapter, "--task", "sst2", "--data", data.path]),
                           mentions: ["fingerprint", "another base model"])
        // A prefix for a model of another shape (here: one more layer): refused before any value is read.
        var edited = config
        edited["num_layers"] = 5
        try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: adapter + "/adapter_config.json"))
        assertCleanFailure(try CLI.run(["eval"] + common + ["--adapter", adapter]), mentions: ["5 layers", "another base model"])
    }

    /// A short MeZO-prefix run on the real Gemma-3-270M and all-MiniLM-L6-v2: the exported peft
    /// folder loaded by transformers + peft (`PeftModel.from_pretrained`) gives the SST-2 dev
    /// predictions `eval --run` gave (first 24 dev sentences, ≥ 99.5%, tools/check/check_lora_adapter.py,
    /// which loads any peft folder). The whole dev set: tools/experiments/prefix_curves.sh, numbers in the README.
    func testRealModelsExportedPrefixLoadsInPeftWithTheSamePredictions() throws {
        try PeftPython.require()
        let sst2 = URL(fileURLWithPath: try Repo.requireSST2()).standardizedFileURL.path
        let runs = try TemporaryFolder("prefix-real")
        removeAtTearDown(runs.remove)
        for (i, model) in [try Repo.requireGemma(), try Repo.requireMiniLM()].enumerated() {
            let run = runs.path + "/run-\(i)", adapter = runs.path + "/adapter-\(i)", predictions = runs.path + "/predictions-\(i).jsonl"
            let common = ["--model", model, "--task", "sst2", "--data", sst2]
            let trained = try CLI.run(["train"] + common + ["--peft", "prefix", "--lr", "1e-3", "--eps", "1e-1", "--steps", "1",
                                                            "--batch-size", "8", "--train-examples", "64", "--eval-every", "0",
                                                            "--out", run], timeout: 300)
            XCTAssertEqual(trained.status, 0, trained.summary)
            XCTAssertEqual(try CLI.run(["eval"] + common + ["--run", run, "--at", "last", "--limit", "24",
                                                            "--predictions-out", predictions]).status, 0)
            XCTAssertEqual(try CLI.run(["export", "--model", model, "--run", run, "--at", "last", "--adapter", "--out", adapter]).status, 0)
            let result = try PeftPython.run(["tools/check/check_lora_adapter.py", "--predictions", predictions, "--data", sst2,
                                     "--base", model, "--adapter", adapter])
            XCTAssertEqual(result.status, 0, result.output)
            let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
            let agreement = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["agreement"] as? Double ?? 0
            print("\((model as NSString).lastPathComponent) prefix adapter in peft: \(line)")
            XCTAssertGreaterThanOrEqual(agreement, 0.995, result.output)
        }
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
