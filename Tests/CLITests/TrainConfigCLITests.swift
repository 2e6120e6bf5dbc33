// `train --config FILE` (YAML with the flags' names; flags override the file) against the same run
// given as flags: the same run.json and bitwise the same weights; a run's own run.json and the
// config.yaml its folder keeps make the run again. And `--resume` with options: the run's own values
// are accepted, a change is refused naming both values. Tiny Gemma-3 fixture, 3 MeZO steps.

import Foundation
import TestSupport
import XCTest

final class TrainConfigCLITests: XCTestCase {
    private func tinyModel() throws -> (TinyModelFolder, TemporaryFolder, TemporaryFolder) {
        let model = try TinyModelFolder("config-model")
        let data = try TemporaryFolder.tinySST2("config-data"), runs = try TemporaryFolder("config-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        return (model, data, runs)
    }

    private func assertSameRun(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let manifestA = try Data(contentsOf: URL(fileURLWithPath: a + "/run.json"))
        let manifestB = try Data(contentsOf: URL(fileURLWithPath: b + "/run.json"))
        XCTAssertEqual(String(decoding: manifestA, as: UTF8.self), String(decoding: manifestB, as: UTF8.self), file: file, line: line)
        let weightsA = try Data(contentsOf: URL(fileURLWithPath: a + "/weights-last.safetensors"))
        let weightsB = try Data(contentsOf: URL(fileURLWithPath: b + "/weights-last.safetensors"))
        XCTAssertTrue(weightsA == weightsB, "weights of \(a) and \(b) differ", file: file, line: line)
    }

    func testYAMLConfigRunEqualsTheSameRunGivenAsFlags() throws {
        let (model, data, runs) = try tinyModel()
        let flags = ["--task", "sst2", "--data", data.path, "--steps", "3", "--batch-size", "2", "--train-examples", "6",
                     "--lr", "1e-3", "--eval-every", "2", "--seed", "5"]
        let a = runs.path + "/flags"
        let fromFlags = try CLI.run(["train", "--model", model.path] + flags + ["--out", a])
        XCTAssertEqual(fromFlags.status, 0, fromFlags.summary)

        // Both spellings of a key; steps 100 in the file, 3 on the command line (the flag wins).
        try runs.write("run.yaml", """
            # SST-2 on the tiny model
            model: \(model.path)
            task: sst2
            data: \(data.path)
            steps: 100
            batch_size: 2
            train-examples: 6
            lr: 1e-3
            eval-every: 2
            seed: 5
            """)
        let b = runs.path + "/yaml"
        let fromYAML = try CLI.run(["train", "--config", runs.file("run.yaml").path, "--steps", "3", "--out", b])
        XCTAssertEqual(fromYAML.status, 0, fromYAML.summary)
        try assertSameRun(a, b)

        // The run's own run.json (data is not part of a run) and the config.yaml its folder keeps.
        let c = runs.path + "/from-run-json"
        let fromManifest = try CLI.run(["train", "--config", a + "/run.json", "--data", data.path, "--out", c])
        XCTAssertEqual(fromManifest.status, 0, fromManifest.summary)
        try assertSameRun(a, c)
        let resolved = try String(contentsOfFile: a + "/config.yaml", encoding: .utf8)
        XCTAssertTrue(resolved.contains("batch-size: 2") && resolved.contains("eps: 0.001"), resolved)
        let d = runs.path + "/from-config-yaml"
        let fromResolved = try CLI.run(["train", "--config", a + "/config.yaml", "--out", d])
        XCTAssertEqual(fromResolved.status, 0, fromResolved.summary)
        try assertSameRun(a, d)

        // A key that is no flag is refused, naming the file.
        try runs.write("bad.yaml", "model: \(model.path)\ntask: sst2\nbatch-sise: 2\n")
        let bad = try CLI.run(["train", "--config", runs.file("bad.yaml").path, "--out", runs.path + "/bad"])
        assertCleanFailure(bad, mentions: ["bad.yaml", "batch-sise"])
    }

    func testResumeAcceptsTheRunsOwnOptionsAndRefusesAChangeNamingBothValues() throws {
        let (model, data, runs) = try tinyModel()
        let run = runs.path + "/run"
        let common = ["--model", model.path, "--task", "sst2", "--data", data.path]
        let first = try CLI.run(["train"] + common + ["--steps", "2", "--batch-size", "2", "--train-examples", "6", "--lr", "1e-3",
                                                     "--eval-every", "0", "--out", run])
        XCTAssertEqual(first.status, 0, first.summary)
        // Plain progress lines when stderr is not a terminal.
        XCTAssertFalse(first.stderr.contains("\r"), first.stderr)
        XCTAssertTrue(first.stderr.contains("step 1/2 ") && first.stderr.contains("ETA"), first.stderr)

        let same = try CLI.run(["train"] + common + ["--resume", run, "--steps", "3", "--batch-size", "2", "--lr", "1e-3",
                                                    "--train-examples", "6", "--json"])
        XCTAssertEqual(same.status, 0, same.summary)
        XCTAssertEqual(singleJSONObject(same)?["steps"] as? Int, 3, same.summary)

        let changed = try CLI.run(["train"] + common + ["--resume", run, "--steps", "4", "--batch-size", "4"])
        assertCleanFailure(changed, mentions: ["--batch-size 4", "the run has 2"])
    }
}
