// `train --peft lora` through the CLI (issue 14): the run keeps its LoRA settings in run.json and
// config.yaml; its snapshots hold only the adapters; replay of the seed log rebuilds them bit for
// bit; resume, `train --config`, `eval --run`, `export` (merged and --adapter) and
// `eval --adapter` work; bad settings and an adapter on another base are refused, naming the value.
// The real-model test checks the exported peft adapter with transformers + peft
// (tools/check/check_lora_adapter.py).

import Foundation
import TestSupport
import XCTest

final class LoRACLITests: XCTestCase {
    func testLoRARunReplaysResumesExportsAndReadsBack() throws {
        let model = try TinyModelFolder("lora")
        let data = try TemporaryFolder.tinySST2("lora-data"), runs = try TemporaryFolder("lora-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path]
        let run = runs.path + "/lora"
        let first = try CLI.run(["train"] + common + ["--peft", "lora", "--lora-rank", "4", "--lora-targets", "q,v,down",
                                                      "--steps", "4", "--batch-size", "2", "--train-examples", "6",
                                                      "--eval-every", "2", "--lr", "1e-2", "--eps", "1e-2", "--out", run, "--json"])
        guard singleJSONObject(first) != nil else { return }
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/run.json"))) as! [String: Any]
        let config = manifest["config"] as! [String: Any]
        XCTAssertEqual(config["peft"] as? String, "lora")
        XCTAssertEqual(config["lora_rank"] as? Int, 4)
        XCTAssertEqual(config["lora_alpha"] as? Double, 16)
        XCTAssertEqual(config["lora_targets"] as? [String], ["q", "v", "down"])
        let yaml = try String(contentsOfFile: run + "/config.yaml", encoding: .utf8)
        XCTAssertTrue(yaml.contains("peft: \"lora\"") && yaml.contains("lora-rank: 4") && yaml.contains("lora-targets: [\"q\", \"v\", \"down\"]"), yaml)
        // The snapshot holds the adapters alone: 4 layers × 3 targets × (A, B).
        let snapshot = try String(decoding: Data(contentsOf: URL(fileURLWithPath: run + "/weights-last.safetensors")).prefix(20_000), as: UTF8.self)
        XCTAssertTrue(snapshot.contains("model.layers.3.mlp.down_proj.lora_B.weight"), "adapter names in the snapshot")
        XCTAssertFalse(snapshot.contains("model.embed_tokens.weight"), "the base weights are not a LoRA run's to save")

        // Export --adapter from the snapshot, then from the seed log alone (snapshots removed): bitwise the same.
        let fromSnapshot = runs.path + "/adapter-snapshot", fromReplay = runs.path + "/adapter-replay"
        let exported = try CLI.run(["export", "--model", model.path, "--run", run, "--at", "last", "--adapter", "--out", fromSnapshot])
        XCTAssertEqual(exported.status, 0, exported.summary)
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("weights-") }
        let saved = runs.path + "/saved"
        try FileManager.default.createDirectory(atPath: saved, withIntermediateDirectories: true)
        for name in snapshots { try FileManager.default.moveItem(atPath: run + "/" + name, toPath: saved + "/" + name) }
        let replayed = try CLI.run(["export", "--model", model.path, "--run", run, "--at", "last", "--adapter", "--out", fromReplay])
        XCTAssertTrue(replayed.stderr.contains("replayed steps 0..<4"), replayed.summary)
        let tensors = { (dir: String) in try Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_model.safetensors")) }
        XCTAssertEqual(try tensors(fromSnapshot), try tensors(fromReplay), "replaying the seed log must rebuild the adapters bit for bit")
        for name in snapshots { try FileManager.default.moveItem(atPath: saved + "/" + name, toPath: run + "/" + name) }
        let adapterConfig = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fromSnapshot + "/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(adapterConfig["peft_type"] as? String, "LORA")
        XCTAssertEqual(adapterConfig["r"] as? Int, 4)
        XCTAssertEqual((adapterConfig["target_modules"] as? [String])?.count, 12)

        // eval --adapter gives exactly eval --run's scores; the merged export scores like the run.
        let merged = runs.path + "/merged"
        XCTAssertEqual(try CLI.run(["export", "--model", model.path, "--run", run, "--at", "last", "--out", merged]).status, 0)
        var scores: [String] = []
        for (i, source) in [["--model", model.path, "--run", run, "--at", "last"], ["--model", model.path, "--adapter", fromSnapshot],
                            ["--model", merged]].enumerated() {
            let file = runs.path + "/predictions-\(i).jsonl"
            let result = try CLI.run(["eval", "--task", "sst2", "--data", data.path, "--predictions-out", file] + source)
            XCTAssertEqual(result.status, 0, result.summary)
            scores.append(try String(contentsOfFile: file, encoding: .utf8))
        }
        XCTAssertEqual(scores[0], scores[1], "eval --adapter must score exactly as eval --run")
        XCTAssertTrue(try predictionsAgree(scores[0], scores[2], tolerance: 1e-4), "merged weights score as the adapters:\n\(scores[0])\n\(scores[2])")

        // Resume continues the adapters; a changed LoRA setting is refused; train --config repeats the run.
        let resumed = try CLI.run(["train"] + common + ["--resume", run, "--steps", "6", "--json"])
        XCTAssertEqual(singleJSONObject(resumed)?["steps"] as? Int, 6, resumed.summary)
        assertCleanFailure(try CLI.run(["train"] + common + ["--resume", run, "--peft", "lora", "--lora-rank", "8"]), mentions: ["--lora-rank", "8"])
        let again = runs.path + "/again"
        let repeated = try CLI.run(["train", "--config", run + "/config.yaml", "--steps", "4", "--out", again])
        XCTAssertEqual(repeated.status, 0, repeated.summary)
        let first4 = try String(contentsOfFile: run + "/log.jsonl", encoding: .utf8).split(separator: "\n").filter { $0.contains("\"seeds\"") }.prefix(4)
        let second4 = try String(contentsOfFile: again + "/log.jsonl", encoding: .utf8).split(separator: "\n").filter { $0.contains("\"seeds\"") }
        XCTAssertEqual(first4.map { $0.replacingOccurrences(of: #""seconds":[0-9.e-]+,"#, with: "", options: .regularExpression) }
                            .map { $0.replacingOccurrences(of: #","vmhwm":[0-9]+"#, with: "", options: .regularExpression) },
                       second4.map { $0.replacingOccurrences(of: #""seconds":[0-9.e-]+,"#, with: "", options: .regularExpression) }
                            .map { $0.replacingOccurrences(of: #","vmhwm":[0-9]+"#, with: "", options: .regularExpression) },
                       "train --config RUN/config.yaml makes the same LoRA run")

        // An adapter on weights that are not its base: refused, naming both fingerprints.
        let other = try TinyModelFolder("lora-other")
        removeAtTearDown(other.remove)
        var weights = try Data(contentsOf: URL(fileURLWithPath: other.weightsPath))
        weights[weights.count - 4] ^= 1   // the last weight's lowest mantissa bit
        try weights.write(to: URL(fileURLWithPath: other.weightsPath))
        assertCleanFailure(try CLI.run(["eval", "--model", other.path, "--adapter", fromSnapshot, "--task", "sst2", "--data", data.path]),
                           mentions: ["fingerprint", "not the adapter's base model"])
        // --adapter of a run that trained the whole model.
        let full = runs.path + "/full"
        XCTAssertEqual(try CLI.run(["train"] + common + ["--steps", "1", "--batch-size", "2", "--train-examples", "6", "--eval-every", "0", "--out", full]).status, 0)
        assertCleanFailure(try CLI.run(["export", "--model", model.path, "--run", full, "--adapter", "--out", runs.path + "/none"]),
                           mentions: ["--peft lora", "whole model"])
    }

    func testBadLoRASettingsAreRefused() throws {
        let model = try TinyModelFolder("lora-bad")
        let data = try TemporaryFolder.tinySST2("lora-bad-data")
        removeAtTearDown(model.remove, data.remove)
        let common = ["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--steps", "1"]
        assertCleanFailure(try CLI.run(common + ["--peft", "lora", "--lora-rank", "0"]), mentions: ["--lora-rank", "not 0"])
        assertCleanFailure(try CLI.run(common + ["--peft", "lora", "--lora-rank=-3"]), mentions: ["--lora-rank", "not -3"])
        assertCleanFailure(try CLI.run(common + ["--peft", "lora", "--lora-alpha", "0"]), mentions: ["--lora-alpha", "not 0"])
        assertCleanFailure(try CLI.run(common + ["--peft", "lora", "--lora-targets", "q,wq"]), mentions: ["\"wq\""])
        assertCleanFailure(try CLI.run(common + ["--lora-rank", "4"]), mentions: ["--lora-rank", "--peft lora"])
        if let minilm = Optional(Repo.minilmDirectory), FileManager.default.fileExists(atPath: minilm + "/model.safetensors") {
            assertCleanFailure(try CLI.run(["train", "--model", minilm, "--task", "sst2", "--data", data.path, "--steps", "1",
                                            "--peft", "lora", "--lora-targets", "q,gate"]), mentions: ["\"gate\"", "no gate projection"])
        }
    }

    /// A short LoRA-AdamW run on the real Gemma-3-270M: its exported peft adapter loaded by
    /// transformers + peft gives the SST-2 dev predictions `eval --run` gave (first 32 dev sentences,
    /// ≥ 99.5%, tools/check/check_lora_adapter.py); on all-MiniLM-L6-v2 the same for the merged export.
    /// (The whole dev set, both exports of both models: tools/check/check_lora_adapter.py, numbers in the README.)
    func testRealModelsExportedAdaptersLoadInPeftWithTheSamePredictions() throws {
        try PeftPython.require()
        let sst2 = URL(fileURLWithPath: try Repo.requireSST2()).standardizedFileURL.path   // the CLI runs elsewhere
        let runs = try TemporaryFolder("lora-real")
        removeAtTearDown(runs.remove)
        var models = [try Repo.requireGemma()]
        if FileManager.default.fileExists(atPath: Repo.minilmDirectory + "/model.safetensors") { models.append(Repo.minilmDirectory) }
        for (i, model) in models.enumerated() {
            let encoder = i == 1
            let run = runs.path + "/run-\(i)", adapter = runs.path + "/adapter-\(i)", merged = runs.path + "/merged-\(i)"
            let predictions = runs.path + "/predictions-\(i).jsonl"
            let common = ["--model", model, "--task", "sst2", "--data", sst2]
            let trained = try CLI.run(["train"] + common + ["--peft", "lora", "--lora-targets", "q,v,o,up", "--optimizer", "adamw",
                                                            "--lr", "1e-3", "--steps", "2", "--batch-size", "8", "--train-examples", "64",
                                                            "--eval-every", "0", "--out", run], timeout: 300)
            XCTAssertEqual(trained.status, 0, trained.summary)
            let evaluated = try CLI.run(["eval"] + common + ["--run", run, "--at", "last", "--limit", "32", "--predictions-out", predictions])
            XCTAssertEqual(evaluated.status, 0, evaluated.summary)
            var checks: [[String]] = []
            if encoder {
                XCTAssertEqual(try CLI.run(["export", "--model", model, "--run", run, "--at", "last", "--out", merged]).status, 0)
                checks.append(["--merged", merged])
            } else {
                XCTAssertEqual(try CLI.run(["export", "--model", model, "--run", run, "--at", "last", "--adapter", "--out", adapter]).status, 0)
                checks.append(["--base", model, "--adapter", adapter])
            }
            for check in checks {
                let result = try PeftPython.run(["tools/check/check_lora_adapter.py", "--predictions", predictions, "--data", sst2] + check)
                XCTAssertEqual(result.status, 0, "\(check): \(result.output)")
                let line = result.output.split(separator: "\n").last.map(String.init) ?? ""
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                let agreement = object?["agreement"] as? Double ?? 0
                print("\((model as NSString).lastPathComponent) \(check.first!): \(line)")
                XCTAssertGreaterThanOrEqual(agreement, 0.995, "\(check): \(result.output)")
            }
        }
    }

    /// `profile --methods lora-mezo,lora-adamw` on all-MiniLM-L6-v2: each peak within 5% of its
    /// MemoryPlan, and LoRA-AdamW's gradients and moments of the adapters' size (< 1% of the weights).
    func testLoRAProfileMatchesItsPlan() throws {
        let model = Repo.minilmDirectory
        guard FileManager.default.fileExists(atPath: model + "/model.safetensors") else { return XCTFail("\(model) missing") }
        let sst2 = URL(fileURLWithPath: try Repo.requireSST2()).standardizedFileURL.path
        let out = try TemporaryFolder("lora-profile")
        removeAtTearDown(out.remove)
        let result = try CLI.run(["profile", "--model", model, "--task", "sst2", "--data", sst2, "--batch-size", "16", "--seq-len", "64",
                                  "--steps", "1", "--methods", "lora-mezo,lora-adamw", "--json", out.path + "/p.json"], timeout: 300)
        XCTAssertEqual(result.status, 0, result.summary)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: out.file("p.json"))) as! [String: Any]
        for m in report["methods"] as! [[String: Any]] {
            let name = m["method"] as! String
            let above = Double((m["peak_rss_bytes"] as! Int) - (m["baseline_bytes"] as! Int))
            let predicted = Double((m["predicted"] as! [String: Int]).values.reduce(0, +))
            XCTAssertLessThanOrEqual(abs(predicted - above) / above, 0.05, "\(name): predicted \(predicted) vs measured \(above)")
            let tagged = m["tagged"] as! [String: Int]
            XCTAssertLessThan(Double((tagged["gradients"] ?? 0) + (tagged["optimizer"] ?? 0)), 0.01 * Double(tagged["weights"]!), name)
        }
    }

    /// Two prediction files agree: same predictions, scores within `tolerance`.
    func predictionsAgree(_ a: String, _ b: String, tolerance: Double) throws -> Bool {
        let parse = { (text: String) in try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] } }
        let (x, y) = (try parse(a), try parse(b))
        guard x.count == y.count else { return false }
        for (p, q) in zip(x, y) {
            guard p["prediction"] as? String == q["prediction"] as? String else { return false }
            let (s, t) = (p["scores"] as! [String: Double], q["scores"] as! [String: Double])
            for (k, v) in s where abs(v - (t[k] ?? .nan)) > tolerance { return false }
        }
        return true
    }
}
