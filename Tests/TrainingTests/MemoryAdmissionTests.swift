// MemoryAdmission on the real Gemma-3-270M plan (config.json only, no weights read): AdamW at
// batch 16 × 64 tokens is predicted at 5.026 GB above the process's baseline (docs/benchmarks.md:
// `profile` measured 5.028 GB above its baseline, 5.12 GB peak), 5.23 GB with the 0.2 GB baseline
// admission adds, so a 3 GB limit
// refuses it and names the alternatives that fit (LoRA-AdamW, MeZO) with their figures, a 4.5 GB
// limit fits a smaller batch (the CLI test shows that MeZO is never refused). The plan holds the
// weights in the run's format: bf16 plans exactly the bytes a bf16 arena allocates (half of f32's
// for the matrices), and a limit that MeZO on f32 weights exceeds names MeZO on bf16 weights.

import Models
import Tensors
import TestSupport
@testable import Training
import Weights
import XCTest

final class MemoryAdmissionTests: XCTestCase {
    func testGemmaAdamWIsRefusedWithWhatFitsAndMeZOIsNot() throws {
        let config = try DecoderConfig.load(directory: try Repo.requireGemma())
        let predict = { (method: ProfileMethod, tokens: Int, format: WeightFormat) in MemoryPlan.predict(config: config, method: method, tokens: tokens, sequences: 16, weights: format) }
        let adamw = MemoryAdmission.total(predict(.adamw, 16 * 64, .f32))
        XCTAssertEqual(Double(adamw - MemoryAdmission.baselineBytes) / 1e9, 5.026, accuracy: 0.005, "AdamW's plan at 16×64 tokens")

        XCTAssertThrowsError(try MemoryAdmission.check(method: .adamw, tokens: 16 * 64, batchSize: 16, weights: .f32, available: 3_000_000_000,
                                                       limitSource: "test", predict: predict)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("--optimizer adamw on f32 weights is predicted to peak at 5.23 GB"), text)
            XCTAssertTrue(text.contains("above the 3.00 GB available (test)"), text)
            XCTAssertTrue(text.contains("--peft lora (") && text.contains("--optimizer mezo ("), text)
            XCTAssertFalse(text.contains("--batch-size"), "weights, gradients and moments alone exceed 3 GB: no batch fits")
        }
        // 4.9 GB: the activations (0.6 GB at 16 sequences) are what a smaller batch saves.
        XCTAssertThrowsError(try MemoryAdmission.check(method: .adamw, tokens: 16 * 64, batchSize: 16, weights: .f32, available: 4_900_000_000,
                                                       limitSource: "test", predict: predict)) { error in
            XCTAssertTrue("\(error)".contains("--batch-size "), "\(error)")
        }
        XCTAssertNoThrow(try MemoryAdmission.check(method: .adamw, tokens: 16 * 64, batchSize: 16, weights: .f32, available: adamw,
                                                   limitSource: "test", predict: predict), "exactly the prediction fits")
    }

    /// The plan's weights are the bytes the arena allocates in each format (tiny Gemma-3: the
    /// ledger's weights tag), and Gemma-3-270M's bf16 MeZO plan is its 536 MB of bf16 weights.
    func testPlanHoldsTheWeightsInTheRunsFormat() throws {
        let tiny = try DecoderConfig.load(directory: Repo.fixture("tiny-gemma3"))
        for format in [WeightFormat.f32, .bf16] {
            let before = TaggedMemory.current[.weights]
            let arena = ParameterArena(specs: DecoderModel.specs(config: tiny), format: format)
            let allocated = TaggedMemory.current[.weights] - before
            withExtendedLifetime(arena) {}
            let plan = MemoryPlan.predict(config: tiny, method: .mezo, tokens: 64, weights: format)
            XCTAssertEqual(plan[.weights], allocated, "\(format): planned weights vs the arena's allocation")
        }
        let gemma = try DecoderConfig.load(directory: try Repo.requireGemma())
        let f32 = MemoryPlan.predict(config: gemma, method: .mezo, tokens: 16 * 64, weights: .f32)
        let bf16 = MemoryPlan.predict(config: gemma, method: .mezo, tokens: 16 * 64, weights: .bf16)
        XCTAssertEqual(Double(f32[.weights]!) / 1e9, 1.072, accuracy: 0.001)
        XCTAssertEqual(Double(bf16[.weights]!) / 1e9, 0.536, accuracy: 0.001)
        // The bf16 products' scratch: the largest block matrix (2,048 × 640) and the batch's widest input rows.
        XCTAssertEqual(bf16[.scratch], 2048 * 640 * 2 + 16 * 64 * 2048 * 2)
    }

    /// AdamW on f32 weights above a limit that MeZO on f32 weights also exceeds: the refusal names
    /// MeZO on bf16 weights, which fits.
    func testRefusalNamesMeZOOnBF16WeightsWhenF32DoesNotFit() throws {
        let config = try DecoderConfig.load(directory: try Repo.requireGemma())
        let predict = { (method: ProfileMethod, tokens: Int, format: WeightFormat) in
            MemoryPlan.predict(config: config, method: method, tokens: tokens, sequences: 16, weights: format)
        }
        let mezoF32 = MemoryAdmission.total(predict(.mezo, 16 * 64, .f32))
        let mezoBF16 = MemoryAdmission.total(predict(.mezo, 16 * 64, .bf16))
        XCTAssertLessThan(mezoBF16, mezoF32 - 400_000_000, "bf16 weights save half of the 1.07 GB")
        XCTAssertThrowsError(try MemoryAdmission.check(method: .adamw, tokens: 16 * 64, batchSize: 16, weights: .f32,
                                                       available: (mezoF32 + mezoBF16) / 2, limitSource: "test",
                                                       predict: predict)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("--optimizer mezo --weights bf16 ("), text)
            XCTAssertFalse(text.contains("--optimizer mezo ("), "MeZO on f32 weights does not fit: \(text)")
        }
    }
}
