// `zofinetune eval` on an encoder folder (all-MiniLM-L6-v2, tools/setup/fetch_encoder.py): the same JSON
// contract as for decoders, and the predictions sentence-transformers makes for the same label
// descriptions (models/reference/minilm_sst2_zeroshot.json, tools/reference/reference_encoder.py).

import Foundation
import TestSupport
import XCTest

final class EncoderCLITests: XCTestCase {
    private struct Reference: Decodable {
        struct Pair: Decodable { let descriptions: [String]; let predictions: [Int] }
        let pairs: [Pair]
    }

    func testEvalOnEncoderMatchesSentenceTransformersPredictions() throws {
        let model = try Repo.requireMiniLM()
        let data = try Repo.requireSST2()
        let path = try Repo.requireReference("minilm_sst2_zeroshot.json")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        let limit = 60
        for (index, pair) in reference.pairs.enumerated() {
            let out = FileManager.default.temporaryDirectory.appendingPathComponent("encoder-predictions-\(UUID()).json")
            defer { try? FileManager.default.removeItem(at: out) }
            // The first pair is the default; the second is passed explicitly.
            let descriptions = index == 0 ? [] : ["--label-descriptions"] + pair.descriptions
            let result = try CLI.run(["eval", "--model", model, "--task", "sst2", "--data", data, "--limit", "\(limit)",
                                      "--threads", "2", "--predictions-out", out.path, "--json"] + descriptions, timeout: 300)
            guard let object = singleJSONObject(result) else { return }
            XCTAssertEqual(Set(object.keys), ["task", "split", "n", "accuracy", "seconds"], result.summary)
            XCTAssertEqual(object["n"] as? Int, limit)
            // One JSON object per line and example, in input order (issue 10).
            let predictions = try String(contentsOf: out, encoding: .utf8).split(separator: "\n").map { line in
                try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["label_index"] as? Int)
            }
            XCTAssertEqual(predictions, Array(pair.predictions.prefix(limit)), "\(pair.descriptions)")
            XCTAssertTrue(result.stderr.contains(pair.descriptions[0]), result.summary)
        }
    }

    /// Encoder runs are evaluated like decoder runs (EncoderTrainCLITests); a folder that is no run
    /// is a clean error naming it.
    func testEncoderEvalOfAMissingRunFailsCleanly() throws {
        let model = try Repo.requireMiniLM()
        let data = try Repo.requireSST2()
        let result = try CLI.run(["eval", "--model", model, "--task", "sst2", "--data", data, "--limit", "2",
                                  "--run", "/nonexistent-run"], timeout: 120)
        assertCleanFailure(result, mentions: ["/nonexistent-run", "not a run folder"])
    }
}
