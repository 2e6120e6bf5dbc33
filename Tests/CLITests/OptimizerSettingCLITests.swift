// One rule per optimizer setting (OptimizerSetting): a value out of range is refused the same way
// from the command line (naming the flag), a `train --config` YAML file (naming the file and the
// key as the file spells it) and a run's run.json (naming run.json and its key), with the same
// words after the name. Tiny Gemma-3 fixture; the run.json case resumes a 1-step MeZO run.

import Foundation
import TestSupport
import XCTest

final class OptimizerSettingCLITests: XCTestCase {
    /// A setting, the optimizer that owns it, a value its rule refuses and the words the refusal uses.
    struct Case {
        let flag: String
        let optimizer: String
        let value: String
        let problem: String
        /// run.json's key (zo-momentum keeps μ in beta1; --auto-fraction is lr_auto.fraction).
        var runKey: String? = nil
        /// The value as run.json holds it (a number).
        var runValue: Any { Double(value) ?? value }
    }

    let cases: [Case] = [
        Case(flag: "lozo-interval", optimizer: "lozo", value: "0", problem: "must be at least 1, not 0"),
        Case(flag: "lozo-rank", optimizer: "lozo", value: "0", problem: "must be at least 1, not 0"),
        Case(flag: "sparse-quantile", optimizer: "sparse-mezo", value: "0", problem: "must be in (0, 1], not 0.0"),
        Case(flag: "sparse-quantile", optimizer: "sparse-mezo", value: "1.5", problem: "must be in (0, 1], not 1.5"),
        Case(flag: "eps", optimizer: "mezo", value: "0", problem: "must be positive and finite, not 0.0"),
        Case(flag: "eps", optimizer: "mezo", value: "-0.001", problem: "must be positive and finite, not -0.001"),
        Case(flag: "lr", optimizer: "mezo", value: "-1", problem: "must be 0 or more and finite, not -1.0"),
        Case(flag: "perturbations", optimizer: "mezo", value: "0", problem: "must be at least 1, not 0"),
        Case(flag: "weight-decay", optimizer: "mezo", value: "-1", problem: "must be 0 or more and finite, not -1.0"),
        Case(flag: "hessian-smooth", optimizer: "hizoo", value: "1", problem: "must be in [0, 1), not 1.0"),
        Case(flag: "beta1", optimizer: "adamw", value: "1", problem: "must be in [0, 1), not 1.0"),
        Case(flag: "beta2", optimizer: "zo-adam", value: "-0.5", problem: "must be in [0, 1), not -0.5"),
        Case(flag: "momentum", optimizer: "zo-momentum", value: "1", problem: "must be in [0, 1), not 1.0", runKey: "beta1"),
        Case(flag: "max-grad-norm", optimizer: "sgd", value: "0", problem: "must be positive and finite, not 0.0"),
    ]

    func testEverySettingIsRefusedAlikeByTheFlagTheConfigFileAndRunJSON() throws {
        let model = try TinyModelFolder("setting-model")
        let data = try TemporaryFolder.tinySST2("setting-data"), runs = try TemporaryFolder("setting-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path, "--train-examples", "4", "--batch-size", "2",
                      "--eval-every", "0"]
        // A run to edit: 1 MeZO step.
        let run = runs.path + "/run"
        let made = try CLI.run(["train"] + common + ["--steps", "1", "--out", run])
        XCTAssertEqual(made.status, 0, made.summary)
        let manifestPath = run + "/run.json"
        let manifest = try Data(contentsOf: URL(fileURLWithPath: manifestPath))

        for c in cases {
            // The command line: "--lozo-interval must be at least 1, not 0", a usage error.
            let flagged = try CLI.run(["train"] + common + ["--optimizer", c.optimizer, "--\(c.flag)=\(c.value)", "--out", runs.path + "/never"])
            assertCleanFailure(flagged, mentions: ["--\(c.flag) \(c.problem)"])
            XCTAssertEqual(flagged.status, 64, flagged.summary)

            // A --config file, with the key spelt with underscores: its path and that key.
            let key = c.flag.replacingOccurrences(of: "-", with: "_")
            let yaml = "config-\(key)-\(c.value).yaml"
            try runs.write(yaml, "optimizer: \(c.optimizer)\n\(key): \(c.value)\n")
            let configured = try CLI.run(["train", "--config", runs.file(yaml).path] + common + ["--out", runs.path + "/never"])
            assertCleanFailure(configured, mentions: ["\(runs.file(yaml).path): \"\(key)\" \(c.problem)"])

            // run.json edited by hand: refused when the run folder is opened, naming run.json and the key.
            var object = try XCTUnwrap(JSONSerialization.jsonObject(with: manifest) as? [String: Any])
            var config = try XCTUnwrap(object["config"] as? [String: Any])
            config["optimizer"] = c.optimizer
            let runKey = c.runKey ?? key
            config[runKey] = c.runValue
            object["config"] = config
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: manifestPath))
            let resumed = try CLI.run(["train"] + common + ["--resume", run])
            assertCleanFailure(resumed, mentions: ["\(manifestPath): \"\(runKey)\" \(c.problem)"])
            let evaluated = try CLI.run(["eval", "--model", model.path, "--task", "sst2", "--data", data.path, "--run", run])
            assertCleanFailure(evaluated, mentions: ["\(manifestPath): \"\(runKey)\" \(c.problem)"])
        }
        try manifest.write(to: URL(fileURLWithPath: manifestPath))
    }

    /// What an optimizer's spec accepts beyond one setting's range, from the flag and from run.json.
    func testPerturbationCountsAndLRAutoFollowTheOptimizersSpec() throws {
        let model = try TinyModelFolder("spec-model")
        let data = try TemporaryFolder.tinySST2("spec-data"), runs = try TemporaryFolder("spec-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path, "--train-examples", "4", "--batch-size", "2",
                      "--eval-every", "0"]
        let refusals: [([String], String)] = [
            (["--optimizer", "hizoo", "--perturbations", "2"], "--optimizer hizoo takes 1 perturbation per step, as its reference, not 2"),
            (["--optimizer", "fzoo", "--perturbations", "1"], "--optimizer fzoo needs --perturbations 2 or more (σ of the probe losses), not 1"),
            (["--optimizer", "lozo", "--lr", "auto"], "--lr auto applies to mezo, zo-cons, sparse-mezo (whose step is -lr·g·z), not lozo"),
            (["--optimizer", "mezo", "--lozo-rank", "3"], "--lozo-rank applies to --optimizer lozo, not mezo"),
            (["--optimizer", "lozo", "--weight-decay", "0.1"], "--weight-decay applies to --optimizer mezo, zo-sign, sgd, adamw, not lozo"),
        ]
        for (flags, message) in refusals {
            let result = try CLI.run(["train"] + common + flags + ["--out", runs.path + "/never"])
            assertCleanFailure(result, mentions: [message])
            XCTAssertEqual(result.status, 64, result.summary)
        }
        // Weight decay 0 is every optimizer's setting (config.yaml writes it for all).
        let run = runs.path + "/run"
        let made = try CLI.run(["train"] + common + ["--optimizer", "lozo", "--weight-decay", "0", "--steps", "1", "--out", run])
        XCTAssertEqual(made.status, 0, made.summary)

        let manifestPath = run + "/run.json"
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any])
        var config = try XCTUnwrap(object["config"] as? [String: Any])
        config["perturbations"] = 3
        object["config"] = config
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: manifestPath))
        let resumed = try CLI.run(["train"] + common + ["--resume", run])
        assertCleanFailure(resumed, mentions: ["\(manifestPath): \"perturbations\" --optimizer lozo takes 1 perturbation per step"])
    }

    /// config.yaml names every setting the run's optimizer takes (its own, e.g. zo-momentum's μ, and
    /// `lr: auto` with its fraction), so `train --config RUN/config.yaml` makes the same run again.
    func testConfigYAMLRemakesRunsWithTheirOptimizersOwnSettings() throws {
        let model = try TinyModelFolder("remake-model")
        let data = try TemporaryFolder.tinySST2("remake-data"), runs = try TemporaryFolder("remake-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path, "--train-examples", "4", "--batch-size", "2",
                      "--eval-every", "0", "--steps", "2"]
        for (name, flags) in [("momentum", ["--optimizer", "zo-momentum", "--momentum", "0.8", "--lr", "1e-3"]),
                              ("sparse", ["--optimizer", "sparse-mezo", "--sparse-quantile", "0.5", "--lr", "auto", "--auto-fraction", "0.1"]),
                              ("lozo", ["--optimizer", "lozo", "--lozo-rank", "1", "--lozo-interval", "1", "--lr", "1e-3"])] {
            let first = runs.path + "/\(name)"
            let made = try CLI.run(["train"] + common + flags + ["--out", first])
            XCTAssertEqual(made.status, 0, made.summary)
            let again = runs.path + "/\(name)-again"
            let remade = try CLI.run(["train", "--config", first + "/config.yaml", "--out", again])
            XCTAssertEqual(remade.status, 0, remade.summary)
            let manifests = try [first, again].map { try String(contentsOfFile: $0 + "/run.json", encoding: .utf8) }
            XCTAssertEqual(manifests[0], manifests[1], name)
            let weights = try [first, again].map { try Data(contentsOf: URL(fileURLWithPath: $0 + "/weights-last.safetensors")) }
            XCTAssertTrue(weights[0] == weights[1], "\(name): the weights differ")
        }
    }
}
