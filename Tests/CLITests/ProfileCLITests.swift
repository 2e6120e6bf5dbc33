// `zofinetune profile` on the real Gemma-3-270M at batch 16 × 64 tokens (issue 4's setting): each
// method in its own process, measured against the prediction from the model's shape and against
// its own tagged breakdown, and the memory story MeZO is for.

import Foundation
import TestSupport
import XCTest

final class ProfileCLITests: XCTestCase {
    func sst2() throws -> String {
        try Repo.requireSST2()
    }

    func testGemmaProfileShowsWhatMeZOSaves() throws {
        let model = try Repo.requireGemma()
        let scratch = NSTemporaryDirectory() + "zofinetune-profile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let result = try CLI.run(["profile", "--model", model, "--task", "sst2", "--data", try sst2(),
                                  "--batch-size", "16", "--seq-len", "64", "--steps", "2",
                                  "--json", scratch + "/profile.json", "--svg", scratch + "/profile.svg"], timeout: 900)
        XCTAssertEqual(result.status, 0, result.summary)
        let data = try Data(contentsOf: URL(fileURLWithPath: scratch + "/profile.json"))
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let methods = try XCTUnwrap(report["methods"] as? [[String: Any]])
        XCTAssertEqual(methods.compactMap { $0["method"] as? String }, ["inference", "mezo", "sgd", "adamw"])
        var peak: [String: Double] = [:]
        for m in methods {
            let name = m["method"] as! String
            XCTAssertEqual(m["status"] as? String, "measured", "\(name)\n\(result.summary)")
            let rss = try XCTUnwrap(m["peak_rss_bytes"] as? Double), base = try XCTUnwrap(m["baseline_bytes"] as? Double)
            let tagged = (m["tagged"] as? [String: Double] ?? [:]).values.reduce(0, +)
            let predicted = (m["predicted"] as? [String: Double] ?? [:]).values.reduce(0, +)
            let above = rss - base
            // The tagged breakdown accounts for what the OS measured (5%), the prediction too (10%).
            XCTAssertLessThanOrEqual(abs(tagged - above), 0.05 * above, "\(name): tagged \(tagged) vs VmHWM − baseline \(above)")
            XCTAssertLessThanOrEqual(abs(predicted - above), 0.10 * above, "\(name): predicted \(predicted) vs measured \(above)")
            peak[name] = rss
            print(String(format: "%@: peak %.3f GB, baseline %.3f GB, tagged %.3f GB, predicted %.3f GB", name,
                         rss / 1e9, base / 1e9, tagged / 1e9, predicted / 1e9))
        }
        let mezoOverInference = peak["mezo"]! / peak["inference"]!, adamOverMeZO = peak["adamw"]! / peak["mezo"]!
        XCTAssertLessThanOrEqual(mezoOverInference, 1.10, "MeZO must stay within 10% of inference memory")
        XCTAssertGreaterThanOrEqual(adamOverMeZO, 3.5, "AdamW should need ≥ 3.5× MeZO's memory")
        print(String(format: "MeZO / inference %.3f×, AdamW / MeZO %.2f×", mezoOverInference, adamOverMeZO))
        let svg = try String(contentsOfFile: scratch + "/profile.svg", encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("adamw") && svg.contains("GB"), "SVG content")
    }

    /// A method predicted not to fit is reported from the prediction and not run.
    func testMethodThatWouldNotFitIsReportedNotRun() throws {
        let model = try Repo.requireGemma()
        let file = NSTemporaryDirectory() + "zofinetune-profile-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try CLI.run(["profile", "--model", model, "--task", "sst2", "--data", try sst2(),
                                  "--methods", "adamw", "--memory-limit", "2", "--json", file], timeout: 120)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderr.contains("would not fit"), result.summary)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        let adamw = try XCTUnwrap((report["methods"] as? [[String: Any]])?.first)
        XCTAssertEqual(adamw["status"] as? String, "would_not_fit")
        XCTAssertNil(adamw["peak_rss_bytes"])
        let predicted = (adamw["predicted"] as? [String: Double] ?? [:]).values.reduce(0, +)
        XCTAssertGreaterThan(predicted, 4e9, "AdamW on Gemma-3-270M: weights + gradients + two moments")
    }
}

/// The same story for the sentence encoder (issue 5): all-MiniLM-L6-v2 at batch 16 × 64 tokens.
final class EncoderProfileCLITests: XCTestCase {
    func testMiniLMProfileShowsWhatMeZOSaves() throws {
        let model = Repo.root + "/models/all-minilm-l6-v2"
        guard FileManager.default.fileExists(atPath: model + "/model.safetensors") else {
            XCTFail("\(model) missing; run python3 tools/setup/fetch_encoder.py")
            return
        }
        guard let data = Repo.sst2Directory else { return XCTFail("SST-2 not found") }
        let file = NSTemporaryDirectory() + "zofinetune-profile-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try CLI.run(["profile", "--model", model, "--task", "sst2", "--data", data, "--batch-size", "16",
                                  "--seq-len", "64", "--steps", "2", "--json", file], timeout: 600)
        XCTAssertEqual(result.status, 0, result.summary)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        var peak: [String: Double] = [:]
        for m in try XCTUnwrap(report["methods"] as? [[String: Any]]) {
            let name = m["method"] as! String
            let rss = try XCTUnwrap(m["peak_rss_bytes"] as? Double), base = try XCTUnwrap(m["baseline_bytes"] as? Double)
            let tagged = (m["tagged"] as? [String: Double] ?? [:]).values.reduce(0, +)
            let predicted = (m["predicted"] as? [String: Double] ?? [:]).values.reduce(0, +)
            XCTAssertLessThanOrEqual(abs(tagged - (rss - base)), 0.05 * (rss - base), "\(name): tagged vs measured")
            XCTAssertLessThanOrEqual(abs(predicted - (rss - base)), 0.10 * (rss - base), "\(name): predicted vs measured")
            peak[name] = rss
        }
        XCTAssertLessThanOrEqual(peak["mezo"]! / peak["inference"]!, 1.10)
        XCTAssertGreaterThanOrEqual(peak["adamw"]! / peak["mezo"]!, 3.5)
        print(String(format: "MiniLM: MeZO / inference %.3f×, AdamW / MeZO %.2f×", peak["mezo"]! / peak["inference"]!,
                     peak["adamw"]! / peak["mezo"]!))
    }
}
