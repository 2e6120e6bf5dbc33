// MemoryAdmission on the real Gemma-3-270M plan (config.json only, no weights read): AdamW at
// batch 16 × 64 tokens is predicted at 5.026 GB above the process's baseline (docs/benchmarks.md:
// `profile` measured 5.028 GB above its baseline, 5.12 GB peak), 5.23 GB with the 0.2 GB baseline
// admission adds, so a 3 GB limit
// refuses it and names the alternatives that fit (LoRA-AdamW, MeZO) with their figures, a 4.5 GB
// limit fits a smaller batch (the CLI test shows that MeZO is never refused).

import Models
import Tensors
import TestSupport
@testable import Training
import XCTest

final class MemoryAdmissionTests: XCTestCase {
    func testGemmaAdamWIsRefusedWithWhatFitsAndMeZOIsNot() throws {
        let config = try DecoderConfig.load(directory: try Repo.requireGemma())
        let predict = { (method: ProfileMethod, tokens: Int) in MemoryPlan.predict(config: config, method: method, tokens: tokens, sequences: 16) }
        let adamw = MemoryAdmission.total(predict(.adamw, 16 * 64))
        XCTAssertEqual(Double(adamw - MemoryAdmission.baselineBytes) / 1e9, 5.026, accuracy: 0.005, "AdamW's plan at 16×64 tokens")

        XCTAssertThrowsError(try MemoryAdmission.check(method: .adamw, tokens: 16 * 64, batchSize: 16, available: 3_000_000_000,
                                                       limitSource: "test", predict: predict)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("predicted to peak at 5.23 GB"), text)
            XCTAssertTrue(text.contains("above the 3.00 GB available (test)"), text)
            XCTAssertTrue(text.contains("--peft lora (") && text.contains("--optimizer mezo ("), text)
            XCTAssertFalse(text.contains("--batch-size"), "weights, gradients and moments alone exceed 3 GB: no batch fits")
        }
        // 4.9 GB: the activations (0.6 GB at 16 sequences) are what a smaller batch saves.
        XCTAssertThrowsError(try MemoryAdmission.check(method: .adamw, tokens: 16 * 64, batchSize: 16, available: 4_900_000_000,
                                                       limitSource: "test", predict: predict)) { error in
            XCTAssertTrue("\(error)".contains("--batch-size "), "\(error)")
        }
        XCTAssertNoThrow(try MemoryAdmission.check(method: .adamw, tokens: 16 * 64, batchSize: 16, available: adamw,
                                                   limitSource: "test", predict: predict), "exactly the prediction fits")
    }
}
