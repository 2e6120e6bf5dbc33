// `train --optimizer sgd|adamw` predicts its peak from the memory plan before loading the model
// and refuses when it is above the memory available (issue 22): the refusal names the predicted
// figure and what would fit, and leaves no run folder behind. The limit is set with
// --memory-limit between the plans of the tiny model's methods, so the test holds on any machine.

import Foundation
import TestSupport
import XCTest

final class MemoryAdmissionCLITests: XCTestCase {
    func testBackpropAboveTheLimitIsRefusedBeforeLoadingAndNamesWhatFits() throws {
        let model = try TinyModelFolder("admission")
        let data = try TemporaryFolder.tinySST2("admission-data"), runs = try TemporaryFolder("admission-runs")
        removeAtTearDown(model.remove, data.remove, runs.remove)
        let common = ["train", "--model", model.path, "--task", "sst2", "--data", data.path, "--steps", "1",
                      "--batch-size", "2", "--train-examples", "4", "--eval-every", "0"]
        // Far below anything: refused, with AdamW's predicted peak and its parts; nothing fits.
        let tiny = runs.path + "/tiny"
        let refused = try CLI.run(common + ["--optimizer", "adamw", "--memory-limit", "0.000001", "--out", tiny])
        XCTAssertNotEqual(refused.status, 0, refused.summary)
        XCTAssertTrue(refused.stderr.contains("--optimizer adamw on f32 weights is predicted to peak at"), refused.summary)
        XCTAssertTrue(refused.stderr.contains("gradients") && refused.stderr.contains("optimizer"), refused.summary)
        XCTAssertTrue(refused.stderr.contains("(--memory-limit); not started"), refused.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tiny), "a refused run must leave no folder")
        // Plenty: AdamW runs; MeZO is never refused by the plan (it is the weights plus one layer).
        let roomy = try CLI.run(common + ["--optimizer", "adamw", "--memory-limit", "100", "--lr", "1e-3", "--out", runs.path + "/roomy"])
        XCTAssertEqual(roomy.status, 0, roomy.summary)
        let mezo = try CLI.run(common + ["--memory-limit", "0.000001", "--out", runs.path + "/mezo"])
        XCTAssertEqual(mezo.status, 0, mezo.summary)
        // Bad limits are refused as input errors, not trapped.
        for bad in ["0", "-1", "nan", "inf", "1e308"] {
            let result = try CLI.run(common + ["--optimizer", "adamw", "--memory-limit", bad, "--out", runs.path + "/bad"])
            XCTAssertNotEqual(result.status, 0, result.summary)
            XCTAssertTrue(result.stderr.contains("--memory-limit"), result.summary)
        }
    }
}
