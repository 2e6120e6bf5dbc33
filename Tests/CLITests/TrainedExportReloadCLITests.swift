// MeZO on a real model, exported, reloaded in transformers (issue 22): SmolLM2-135M-Instruct (93 MB,
// fetched in CI) trains 3 MeZO steps on SST-2, `export` writes its Hugging Face folder, `eval --run`
// scores the first 48 dev sentences on the trained run, and tools/check/check_trained_export.py
// loads the export with transformers (float32) and checks that it predicts the same label on every
// sentence (a difference is allowed only at a near-tie) with both candidate logits within 1e-3 of
// eval's. The same script checks any model folder, bf16 runs included (docs/weights-16bit.md).

import Foundation
import TestSupport
import XCTest

final class TrainedExportReloadCLITests: XCTestCase {
    static let sentences = 48

    /// SST-2's first `dev` dev rows and first 2,000 training rows (a few steps read no more).
    private func subsetSST2(into folder: TemporaryFolder, dev: Int) throws {
        let sst2 = try Repo.requireSST2()
        for (split, rows) in [("dev", dev), ("train", 2000)] {
            let text = try String(contentsOfFile: sst2 + "/\(split).tsv", encoding: .utf8)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).prefix(rows + 1)
            try folder.write("\(split).tsv", lines.joined(separator: "\n") + "\n")
        }
    }

    func testSmolLM2MeZORunExportsAndReloadsInTransformersWithEvalsPredictions() throws {
        let model = Repo.root + "/models/smollm2-135m-instruct"
        guard FileManager.default.fileExists(atPath: model + "/model.safetensors") else {
            try MissingResource.report("\(model) missing; run python3 tools/setup/fetch_instruct.py --model smollm2-135m-instruct")
        }
        try PythonCheck.require("transformers, torch, safetensors")
        let data = try TemporaryFolder("reload-data"), work = try TemporaryFolder("reload-work")
        removeAtTearDown(data.remove, work.remove)
        try subsetSST2(into: data, dev: Self.sentences)
        let run = work.path + "/run", exported = work.path + "/exported", predictions = work.path + "/predictions.jsonl"

        // lr 1e-4: large enough that 3 steps move the weights (checked below), small enough to stay finite.
        let trained = try CLI.run(["train", "--model", model, "--task", "sst2", "--data", data.path, "--steps", "3",
                                   "--batch-size", "8", "--train-examples", "64", "--eval-every", "0", "--lr", "1e-4",
                                   "--out", run], timeout: 600)
        XCTAssertEqual(trained.status, 0, trained.summary)
        let export = try CLI.run(["export", "--model", model, "--run", run, "--out", exported], timeout: 300)
        XCTAssertEqual(export.status, 0, export.summary)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: exported + "/model.safetensors")),
                          try Data(contentsOf: URL(fileURLWithPath: model + "/model.safetensors")),
                          "the export must hold the trained weights, not the base model's")
        let eval = try CLI.run(["eval", "--model", model, "--run", run, "--task", "sst2", "--data", data.path,
                                "--split", "dev", "--predictions-out", predictions], timeout: 300)
        XCTAssertEqual(eval.status, 0, eval.summary)

        let (status, output, errors) = try PythonCheck.run(
            [Repo.root + "/tools/check/check_trained_export.py", "--exported", exported, "--predictions", predictions,
             "--data", data.path, "--limit", String(Self.sentences), "--max-logit-diff", "1e-3", "--threads", "1", "--json"],
            scratch: work)
        XCTAssertEqual(status, 0, errors.suffix(3000).description)
        let result = try JSONSerialization.jsonObject(with: output) as? [String: Any] ?? [:]
        XCTAssertEqual(result["n"] as? Int, Self.sentences, "\(result)")
        XCTAssertEqual((result["differing_rows_beyond_tie"] as? [Int])?.count, 0, "\(result)")
        XCTAssertGreaterThanOrEqual(result["agreement"] as? Double ?? 0, 0.98, "\(result)")
        XCTAssertLessThanOrEqual(result["max_logit_diff"] as? Double ?? 1, 1e-3, "\(result)")
        XCTAssertEqual(result["export_dtypes"] as? [String], ["F32"], "an f32 run exports f32: \(result)")
        print("SmolLM2 export reload: \(result.filter { $0.key != "differing_rows" && $0.key != "differing_rows_beyond_tie" })")
    }
}
