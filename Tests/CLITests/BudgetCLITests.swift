// `train --budget` on the tiny Gemma-3 folder: the run stops on its own inside the budget, ends
// evaluated at its last step and exits 0; what it computed is bitwise a run given that many
// `--steps`; budgets that mean nothing are refused at the command line.

import Foundation
import XCTest

final class BudgetCLITests: XCTestCase {
    func testBudgetStopsEvaluatedAndEqualsARunOfThatManySteps() throws {
        let model = try TinyModelFolder("budget")
        let data = try TemporaryFolder.tinySST2("budget-data"), runs = try TemporaryFolder("budget-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let common = ["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--batch-size", "2",
                      "--train-examples", "6", "--eval-every", "7", "--lr", "1e-3", "--json"]
        let budget = 3.0
        let started = Date()
        let limited = try CLI.run(common + ["--budget", "\(Int(budget))s", "--out", runs.path + "/budget"])
        let wall = Date().timeIntervalSince(started)
        guard let summary = singleJSONObject(limited), let steps = summary["steps"] as? Int else { return }
        XCTAssertEqual(summary["stopped_by_budget"] as? Bool, true, limited.summary)
        XCTAssertEqual(summary["interrupted"] as? Bool, false, limited.summary)
        XCTAssertGreaterThan(steps, 7, limited.summary)   // a tiny-model step takes milliseconds
        // The whole command, process start and exit included, within the budget and 1.5 s of slack.
        XCTAssertLessThan(wall, budget + 1.5, limited.summary)
        XCTAssertTrue(limited.stderr.contains("a budget of 0m03s") && limited.stderr.contains("budget of 0m03s is spent"),
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
}
