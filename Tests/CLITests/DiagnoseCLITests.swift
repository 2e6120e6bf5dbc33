// `zofinetune diagnose` through the CLI on the real all-MiniLM-L6-v2 (issue 13): every section on a
// run folder's weights (seed log replayed to step 2), one JSON object on stdout with `--json -`, and
// the SVG of the curves.

import Foundation
import TestSupport
import XCTest

final class DiagnoseCLITests: XCTestCase {
    func testEverySectionOnReplayedRuns() throws {
        let model = Repo.root + "/models/all-minilm-l6-v2"
        guard FileManager.default.fileExists(atPath: model + "/model.safetensors") else {
            return XCTFail("\(model) missing; run python3 tools/setup/fetch_encoder.py")
        }
        guard let data = Repo.sst2Directory else { return XCTFail("SST-2 not found") }
        let scratch = NSTemporaryDirectory() + "zofinetune-diagnose-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let common = ["--model", model, "--task", "sst2", "--data", data]
        let small = ["--batch-size", "2", "--fd-seeds", "1", "--probes", "1", "--power-iterations", "1", "--max-q", "2",
                     "--kernel-examples", "2", "--kernel-max-q", "2"]
        var losses: [Double] = []
        // A stateless and a stateful optimizer (zo-adam replays its moments from the log).
        for optimizer in ["mezo", "zo-adam"] {
            let run = scratch + "/" + optimizer
            let trained = try CLI.run(["train"] + common + ["--optimizer", optimizer, "--steps", "3", "--batch-size", "4",
                                       "--train-examples", "16", "--eval-every", "0", "--out", run, "--json"], timeout: 300)
            XCTAssertEqual(trained.status, 0, trained.summary)
            let svg = scratch + "/" + optimizer + ".svg"
            let diagnosed = try CLI.run(["diagnose"] + common + small + ["--run", run, "--at", "2", "--json", "-", "--svg", svg],
                                        timeout: 300)
            guard let report = singleJSONObject(diagnosed) else { return }
            XCTAssertEqual(report["runSteps"] as? Int, 2, diagnosed.summary)
            for key in ["finiteDifference", "curvature", "kernel"] { XCTAssertNotNil(report[key], "\(key) missing\n\(diagnosed.summary)") }
            XCTAssertEqual((report["gradient"] as? [Any])?.count, 2, "gaussian and rademacher")
            losses.append(report["loss"] as? Double ?? .nan)
            XCTAssertTrue(try String(contentsOfFile: svg, encoding: .utf8).contains("Kernel fidelity"))
        }
        let base = try CLI.run(["diagnose"] + common + small + ["--what", "fd", "--json", "-"], timeout: 300)
        let baseLoss = singleJSONObject(base)?["loss"] as? Double
        for loss in losses { XCTAssertNotEqual(loss, baseLoss, "the replayed weights are not the base model's") }
    }
}
