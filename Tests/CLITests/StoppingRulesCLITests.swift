// How a run ends before --steps, on the tiny Gemma-3 folder. `--budget`: the run stops on its own
// inside the budget, ends evaluated at its last step and exits 0, and what it computed is bitwise
// a run given that many `--steps`; budgets that mean nothing are refused at the command line.
// `--patience`: the run stops after that many evaluations without a new best. Without optimizer
// flags the run's log says which recipe it runs, on every example of the training file.

import Foundation
import XCTest

final class StoppingRulesCLITests: XCTestCase {
    func testBudgetStopsEvaluatedAndEqualsARunOfThatManySteps() throws {
        let model = try TinyModelFolder("budget")
        let data = try TemporaryFolder.tinySST2("budget-data"), runs = try TemporaryFolder("budget-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let common = ["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--batch-size", "2",
                      "--train-examples", "6", "--eval-every", "7", "--lr", "1e-3", "--json"]
        // A long patience: with a budget and no --steps it is 4 evaluations, and the tiny model stops improving.
        let budget = 3.0
        let started = Date()
        let limited = try CLI.run(common + ["--budget", "\(Int(budget))s", "--patience", "100000", "--out", runs.path + "/budget"])
        let wall = Date().timeIntervalSince(started)
        guard let summary = singleJSONObject(limited), let steps = summary["steps"] as? Int else { return }
        XCTAssertEqual(summary["stopped_by_budget"] as? Bool, true, limited.summary)
        XCTAssertEqual(summary["interrupted"] as? Bool, false, limited.summary)
        XCTAssertGreaterThan(steps, 7, limited.summary)   // a tiny-model step takes milliseconds
        // The whole command, process start and exit included, within the budget and 1.5 s of slack.
        XCTAssertLessThan(wall, budget + 1.5, limited.summary)
        XCTAssertTrue(limited.stderr.contains("a budget of 0m03s") && limited.stderr.contains("budget of 0m03s is spent after step \(steps)"),
                      limited.summary)
        let evaluations = try String(contentsOfFile: runs.path + "/budget/log.jsonl", encoding: .utf8)
            .split(separator: "\n").filter { $0.contains("\"type\":\"eval\"") }
        XCTAssertTrue(evaluations.last?.contains("\"step\":\(steps),") == true, "last evaluation not at step \(steps)")

        let counted = try CLI.run(common + ["--steps", "\(steps)", "--out", runs.path + "/steps"])
        guard singleJSONObject(counted) != nil else { return }
        let a = try Data(contentsOf: URL(fileURLWithPath: runs.path + "/budget/weights-last.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: runs.path + "/steps/weights-last.safetensors"))
        XCTAssertTrue(a == b, "the budgeted run's \(steps) steps differ from a run of --steps \(steps)")
    }

    func testMeaninglessBudgetsAreRefused() throws {
        let model = try TinyModelFolder("budget-bad")
        let data = try TemporaryFolder.tinySST2("budget-bad-data")
        removeAtTearDown(model.remove, data.remove)
        let common = ["train", "--model", model.path, "--task", "sst2", "--data", data.path]
        for text in ["0", "-5m", "abc", "1h30", "nan", "inf"] {
            assertCleanFailure(try CLI.run(common + ["--budget", text]), mentions: ["--budget"])
        }
        assertCleanFailure(try CLI.run(common + ["--budget", "1m", "--schedule", "linear"]), mentions: ["--schedule linear", "--steps"])
    }

    func testPatienceStopsAfterEvaluationsWithoutANewBest() throws {
        let model = try TinyModelFolder("patience")
        let data = try TemporaryFolder.tinySST2("patience-data"), runs = try TemporaryFolder("patience-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        // lr 0: the weights never move, so no evaluation after step 0 can be a new best.
        let run = runs.path + "/run"
        let result = try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--batch-size", "2",
                                  "--train-examples", "6", "--steps", "50", "--eval-every", "2", "--patience", "3",
                                  "--lr", "0", "--out", run, "--json"])
        guard let summary = singleJSONObject(result) else { return }
        XCTAssertEqual(summary["steps"] as? Int, 6, result.summary)
        XCTAssertEqual(summary["stopped_early"] as? Bool, true, result.summary)
        XCTAssertTrue(result.stderr.contains("3 dev evaluations in a row without a new best"), result.summary)
        XCTAssertTrue(try String(contentsOfFile: run + "/config.yaml", encoding: .utf8).contains("patience: 3"))
        assertCleanFailure(try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path,
                                        "--patience", "0"]), mentions: ["--patience"])
        assertCleanFailure(try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path,
                                        "--patience", "2", "--eval-every", "0"]), mentions: ["--patience", "--eval-every"])
        // Only rank 0 evaluates: the other ranks could not know when to stop.
        assertCleanFailure(try CLI.run(["train", "--model", model.path, "--task", "sst2", "--data", data.path,
                                        "--patience", "2", "--distributed", "data"]), mentions: ["--patience", "--distributed"])
    }

    func testARunWithoutOptimizerFlagsSaysItsRecipeAndTakesTheLrForItsLength() throws {
        let model = try TinyModelFolder("recipe")
        let data = try TemporaryFolder.tinySST2("recipe-data"), runs = try TemporaryFolder("recipe-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let common = ["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--batch-size", "2", "--eval-every", "2"]
        func config(_ name: String) throws -> [String: Any]? {
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runs.path + "/\(name)/run.json")))
            return (manifest as? [String: Any])?["config"] as? [String: Any]
        }
        func lr(_ name: String) throws -> Float? { (try config(name)?["lr"] as? Double).map(Float.init) }
        // No --train-examples: the whole training file (6 rows), recorded as a number so replay
        // does not depend on the default. A budget without --steps is a long run: lr 5e-7.
        let plain = try CLI.run(common + ["--budget", "1s", "--out", runs.path + "/plain"])
        XCTAssertEqual(plain.status, 0, plain.summary)
        XCTAssertTrue(plain.stderr.contains("recipe (no optimizer flags): MeZO, lr 5e-07 constant")
                      && plain.stderr.contains("all 6 training examples")
                      && plain.stderr.contains("until a budget of 0m01s is spent")
                      && plain.stderr.contains("stop after 4 dev evaluations without a new best"), plain.summary)
        XCTAssertEqual(try config("plain")?["train_examples"] as? Int, 6)
        XCTAssertEqual(try lr("plain"), 5e-7)
        // MeZO without --lr (named or not) takes the lr measured best at the run's length:
        // 2e-6 up to 1,500 steps, 1e-6 up to 3,000 (the default length), 5e-7 beyond.
        for (name, flags, expected) in [("short", ["--steps", "2"], Float(2e-6)), ("named", ["--optimizer", "mezo", "--steps", "1500", "--budget", "1s"], 2e-6),
                                  ("default", ["--budget", "1s", "--steps", "3000"], 1e-6), ("long", ["--steps", "3001", "--budget", "1s"], 5e-7)] {
            let r = try CLI.run(common + flags + ["--out", runs.path + "/" + name])
            XCTAssertEqual(r.status, 0, r.summary)
            XCTAssertEqual(try lr(name), expected, name)
        }
        let chosen = try CLI.run(common + ["--train-examples", "4", "--steps", "2", "--lr", "1e-5", "--out", runs.path + "/chosen"])
        XCTAssertEqual(chosen.status, 0, chosen.summary)
        XCTAssertFalse(chosen.stderr.contains("recipe (no optimizer flags)"), chosen.summary)
        XCTAssertEqual(try lr("chosen"), 1e-5)
    }
}
