// Zero-shot SST-2 with all-MiniLM-L6-v2 and label descriptions, against the predictions
// sentence-transformers makes for the same descriptions (tools/reference/reference_encoder.py →
// models/reference/minilm_sst2_zeroshot.json; 66.9% and 71.4% dev accuracy there).

import Foundation
import XCTest

import Models
import Tasks
import Tensors
import TestSupport
import Training

final class EncoderZeroShotTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    private struct Reference: Decodable {
        struct Pair: Decodable {
            let descriptions: [String]
            let predictions: [Int]
            let accuracy: Double
        }
        let pairs: [Pair]
        let labels: [Int]
    }

    func testPredictionsAgreeWithSentenceTransformers() throws {
        let embedder = try SentenceEmbedder.load(directory: try Repo.requireMiniLM())
        let path = try Repo.requireReference("minilm_sst2_zeroshot.json")
        let reference = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        let sst2 = try Repo.requireSST2()
        let examples = try TaskData.load(directory: sst2, split: .dev)
        XCTAssertEqual(examples.map(\.label), reference.labels)
        XCTAssertEqual(reference.pairs.map(\.descriptions), [LabelDescriptions.sst2.texts, ["It was terrible.", "It was great."]])
        for pair in reference.pairs {
            let scorer = try LabelDescriptionScorer(embedder: embedder, descriptions: LabelDescriptions(pair.descriptions))
            let (result, _) = try ClassificationEvaluator.evaluate(scorer: scorer, examples: examples)
            let same = zip(result.predictions, pair.predictions).filter { $0 == $1 }.count
            print(String(format: "zero-shot %@: ours %.2f%%, sentence-transformers %.2f%%, %d/%d same predictions",
                         pair.descriptions.description, result.accuracy * 100, pair.accuracy * 100, same, examples.count))
            XCTAssertGreaterThanOrEqual(Double(same) / Double(examples.count), 0.995, "\(pair.descriptions)")
            XCTAssertEqual(result.accuracy, pair.accuracy, accuracy: 0.005)
        }
    }

    /// The training loss packs descriptions and sentences into one forward pass; it must equal the
    /// cross-entropy of the evaluation logits (descriptions embedded on their own).
    func testLossMatchesEvaluationLogits() throws {
        let embedder = try SentenceEmbedder.load(directory: try Repo.requireMiniLM())
        let scorer = try LabelDescriptionScorer(embedder: embedder, descriptions: .sst2, temperature: 0.05)
        let texts = ["a gorgeous , witty , seductive movie .", "the acting is stiff and the plot is a mess .",
                     "it 's a charming and often affecting journey ."]
        let labels = [1, 0, 1]
        let ids = try embedder.tokenIDs(texts)
        let logits = scorer.logits(ids: ids)
        let expected = LabelDescriptionScorer.meanCrossEntropy(logits: logits, labels: labels, classes: 2)
        XCTAssertEqual(scorer.loss(ids: ids, labels: labels), expected, accuracy: 1e-4)
        XCTAssertTrue(expected.isFinite && expected > 0)
    }
}
