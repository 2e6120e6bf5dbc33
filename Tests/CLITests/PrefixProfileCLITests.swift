// `profile --methods prefix-mezo,prefix-adamw` on all-MiniLM-L6-v2 at batch 16 × 64 tokens: each tag the
// engine allocated is the one MemoryPlan.prefixed predicts from the shapes alone, and the whole within 5%
// of the peak the OS measured. (Gemma-3-270M at the same setting: the README's profile table.)

import Foundation
import TestSupport
import XCTest

final class PrefixProfileCLITests: XCTestCase {
    func testMiniLMPrefixMethodsMatchTheirPlan() throws {
        let model = try Repo.requireMiniLM()
        let file = NSTemporaryDirectory() + "zofinetune-prefix-profile-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try CLI.run(["profile", "--model", model, "--task", "sst2", "--data", try Repo.requireSST2(),
                                  "--batch-size", "16", "--seq-len", "64", "--steps", "1",
                                  "--methods", "prefix-mezo,prefix-adamw", "--json", file], timeout: 600)
        XCTAssertEqual(result.status, 0, result.summary)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        let methods = try XCTUnwrap(report["methods"] as? [[String: Any]])
        XCTAssertEqual(methods.compactMap { $0["method"] as? String }, ["prefix-mezo", "prefix-adamw"])
        var peaks: [String: Double] = [:]
        for m in methods {
            let name = m["method"] as! String
            let tagged = m["tagged"] as? [String: Double] ?? [:], predicted = m["predicted"] as? [String: Double] ?? [:]
            XCTAssertEqual(Set(tagged.keys), Set(predicted.keys), "\(name): tags")
            for (tag, bytes) in predicted {
                XCTAssertEqual(tagged[tag] ?? 0, bytes, accuracy: 0.01 * bytes, "\(name) \(tag): tagged vs predicted")
            }
            let rss = try XCTUnwrap(m["peak_rss_bytes"] as? Double), base = try XCTUnwrap(m["baseline_bytes"] as? Double)
            let total = predicted.values.reduce(0, +)
            XCTAssertLessThanOrEqual(abs(total - (rss - base)), 0.05 * (rss - base), "\(name): predicted \(total) vs measured \(rss - base)")
            peaks[name] = rss - base
            print(String(format: "MiniLM %@: measured %.1f MB above baseline, predicted %.1f MB", name, (rss - base) / 1e6, total / 1e6))
        }
        // The prefix's gradient and moments are 23,040 floats: AdamW costs its stored activations, not state.
        let adamw = try XCTUnwrap(methods.last?["tagged"] as? [String: Double])
        XCTAssertLessThan((adamw["gradients"] ?? 0) + (adamw["optimizer"] ?? 0), 1e6)
    }
}
