import Foundation
import Models
import Tasks
import Tensors
import Tokenizers
import Training
import TestSupport
import XCTest

/// Zero-shot SST-2 dev on the real Gemma-3-270M: our predictions against transformers' (written by
/// tools/reference/reference_real_model.py --predictions). Required: ≥ 99.5% of the 872 sentences agree
/// (only near-ties between " great" and " terrible" may flip under fp32 rounding), with fp32
/// products and with `eval --precision bf16`'s bf16 products alike.
final class ZeroShotAgreementTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testDevPredictionsAgreeWithTransformers() throws { try agreement(bf16: false) }

    func testBF16DevPredictionsAgreeWithTransformers() throws {
        guard BF16Linear.isSupported else { try MissingResource.report("this CPU has no AVX512_BF16: bf16 mode unavailable") }
        try agreement(bf16: true)
    }

    func agreement(bf16: Bool) throws {
        let dir = try Repo.requireGemma()
        let referencePath = try Repo.requireReference("gemma-3-270m-sst2-dev-zeroshot.json")
        guard let sst2 = Repo.sst2Directory else { return XCTFail("SST-2 not found (set SST2_DIR)") }
        let reference = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: referencePath))) as! [String: Any]
        let theirs = (reference["predictions"] as! [NSNumber]).map(\.intValue)
        let examples = try TaskData.load(directory: sst2, split: .dev)
        XCTAssertEqual(theirs.count, examples.count)

        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 512)
        if bf16 { try model.useBF16Products() }
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        let result = try ClassificationEvaluator.evaluate(model: model, tokenizer: tokenizer,
                                                          prompt: .builtin("sst2"), examples: examples)
        let agree = zip(result.predictions, theirs).filter { $0 == $1 }.count
        let agreement = Double(agree) / Double(examples.count)
        print(String(format: "SST-2 dev zero-shot (%@): accuracy %.4f (transformers %.4f), agreement %.4f, %.1f s, %.0f tokens/s",
                     bf16 ? "bf16" : "fp32", result.accuracy, (reference["accuracy"] as! NSNumber).doubleValue, agreement,
                     result.seconds, Double(result.tokens) / result.seconds))
        XCTAssertGreaterThanOrEqual(agreement, 0.995)
    }
}
