// all-MiniLM-L6-v2 sentence embeddings against sentence-transformers (tools/reference/reference_encoder.py):
// the small committed fixture (Tests/Fixtures/minilm/embeddings.json) and all 872 SST-2 dev
// sentences (models/reference/minilm_dev_embeddings.safetensors), cosine ≥ 0.99999 each.

import Foundation
import XCTest

import Models
import Tasks
import Tensors
import TestSupport
import Tokenizers
import Training
import Weights

final class EncoderEmbeddingTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    private struct Fixture: Decodable {
        let sentences: [String]
        let input_ids: [[Int32]]
        let embeddings: [[Float]]
    }

    static func cosine(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Double {
        var ab = 0.0, aa = 0.0, bb = 0.0
        for (x, y) in zip(a, b) { ab += Double(x) * Double(y); aa += Double(x) * Double(x); bb += Double(y) * Double(y) }
        return ab / (aa.squareRoot() * bb.squareRoot())
    }

    func testFixtureSentencesMatchSentenceTransformers() throws {
        let embedder = try SentenceEmbedder.load(directory: try Repo.requireMiniLM())
        let data = try Data(contentsOf: URL(fileURLWithPath: Repo.fixture("minilm/embeddings.json")))
        let fixture = try JSONDecoder().decode(Fixture.self, from: data)
        XCTAssertEqual(try embedder.tokenIDs(fixture.sentences), fixture.input_ids)
        let ours = try embedder.embeddings(fixture.sentences)
        let C = embedder.dimension
        for (i, expected) in fixture.embeddings.enumerated() {
            let cos = Self.cosine(ours[(i * C)..<((i + 1) * C)], expected[...])
            XCTAssertGreaterThanOrEqual(cos, 0.99999, "sentence \(i) '\(fixture.sentences[i])'")
        }
    }

    func testEveryDevSentenceMatchesSentenceTransformers() throws { try devCosines(bf16: false, bound: 0.99999) }

    /// The bf16 mode (eval/bench --precision bf16, 2.3× sentence-transformers' throughput) rounds
    /// weights and activations to 8 significant bits: a looser bound, checked the same way.
    func testBF16DevEmbeddingsStayCloseToSentenceTransformers() throws {
        guard BF16Linear.isSupported else { try MissingResource.report("this CPU has no AVX512_BF16") }
        try devCosines(bf16: true, bound: 0.9999)   // measured worst: 1 − 3.5e-5
    }

    func devCosines(bf16: Bool, bound: Double) throws {
        let embedder = try SentenceEmbedder.load(directory: try Repo.requireMiniLM())
        if bf16 { try embedder.model.useBF16Products() }
        let reference = try SafeTensorsFile(path: try Repo.requireReference("minilm_dev_embeddings.safetensors"))
        let sst2 = try Repo.requireSST2()
        let sentences = try TaskData.load(directory: sst2, split: .dev).map(\.text)
        let expected = try reference.floats("embeddings")
        let lengths = try reference.floats("lengths").map { Int($0) }
        XCTAssertEqual(sentences.count, 872)
        let ids = try embedder.tokenIDs(sentences)
        XCTAssertEqual(ids.map(\.count), lengths, "token counts differ from sentence-transformers' tokenizer")
        let ours = embedder.embeddings(ids: ids)
        let C = embedder.dimension
        var worst = (cosine: 1.0, index: -1)
        for i in sentences.indices {
            let cos = Self.cosine(ours[(i * C)..<((i + 1) * C)], expected[(i * C)..<((i + 1) * C)])
            if cos < worst.cosine { worst = (cos, i) }
        }
        print(String(format: "MiniLM dev embeddings (%@) vs sentence-transformers: worst cosine 1 - %.2e (sentence %d) over %d sentences",
                     bf16 ? "bf16" : "fp32", 1 - worst.cosine, worst.index, sentences.count))
        XCTAssertGreaterThanOrEqual(worst.cosine, bound, "sentence \(worst.index)")
    }
}
