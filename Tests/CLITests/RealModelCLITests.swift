// The CLI's --json contract on the real Gemma-3-270M (models/gemma-3-270m, made by
// tools/setup/fetch_model.py): prompt scores candidates, eval prints {task, split, n, accuracy, seconds}.
// A missing model or SST-2 is a `MissingResource`: a failure (always with CI=true).

import Foundation
import TestSupport
import XCTest

final class RealModelCLITests: XCTestCase {
    func testPromptScoresGreatAboveTerrible() throws {
        let model = try Repo.requireGemma()
        let result = try CLI.run(["prompt", "--model", model, "the film is a delight . It was",
                                  "--candidates", " great", " terrible", "--json"], timeout: 300)
        guard let object = singleJSONObject(result) else { return }
        XCTAssertEqual(Set(object.keys), ["candidates"], result.summary)
        let candidates = try XCTUnwrap(object["candidates"] as? [[String: Any]], result.summary)
        XCTAssertEqual(candidates.compactMap { $0["text"] as? String }, [" great", " terrible"])
        let logprobs = candidates.compactMap { $0["logprob"] as? Double }
        XCTAssertEqual(logprobs.count, 2, result.summary)
        for logprob in logprobs {
            // Normalised over 262,144 tokens: below 0, and not absurdly small for a real word.
            XCTAssertTrue(logprob.isFinite && logprob < 0 && logprob > -30, "logprob \(logprob)\n\(result.summary)")
        }
        XCTAssertGreaterThan(logprobs[0], logprobs[1], "\" great\" should beat \" terrible\" after a delight")
    }

    func testEvalPrintsOneJSONObject() throws {
        let model = try Repo.requireGemma()
        let data = try Repo.requireSST2()
        let result = try CLI.run(["eval", "--model", model, "--task", "sst2", "--data", data,
                                  "--limit", "16", "--json"], timeout: 600)
        guard let object = singleJSONObject(result) else { return }
        // The contract's five keys, then the task's metric, per-class scores and confusion matrix (issue 10).
        XCTAssertEqual(Set(object.keys), ["task", "split", "n", "accuracy", "seconds", "metric", "score", "macro_f1",
                                          "per_class", "confusion_matrix"], result.summary)
        let confusion = try XCTUnwrap((object["confusion_matrix"] as? [String: Any])?["rows_gold_columns_predicted"] as? [[Int]])
        XCTAssertEqual(confusion.flatMap { $0 }.reduce(0, +), 16)
        XCTAssertEqual(Double(confusion[0][0] + confusion[1][1]) / 16, object["accuracy"] as? Double)
        let perClass = try XCTUnwrap(object["per_class"] as? [String: [String: Double]])
        XCTAssertEqual(Set(perClass.keys), ["0", "1"])
        XCTAssertEqual(object["task"] as? String, "sst2")
        XCTAssertEqual(object["split"] as? String, "dev")
        XCTAssertEqual(object["n"] as? Int, 16)
        let accuracy = try XCTUnwrap(object["accuracy"] as? Double)
        // A count of 16: k/16 exactly, between 0 and 1.
        XCTAssertTrue((0...1).contains(accuracy) && (accuracy * 16).rounded() == accuracy * 16, "accuracy \(accuracy)")
        let seconds = try XCTUnwrap(object["seconds"] as? Double)
        XCTAssertTrue(seconds > 0 && seconds < 600, "seconds \(seconds)")
        // Progress and the human summary go to stderr, never into the JSON.
        XCTAssertTrue(result.stderr.contains("accuracy"), result.summary)
    }
}
