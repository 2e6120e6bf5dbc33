// Tiny random encoders against transformers (tools/fixtures/make_encoder_fixtures.py): RoBERTa's position
// offset and single token type, and a BertForMaskedLM checkpoint ("bert." names, MLM head skipped).
// Last hidden states at every real position and the pooled, normalised embeddings.

import Foundation
import XCTest

import Models
import Tensors
import TestSupport
import Weights

final class EncoderFixtureTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    private func check(_ name: String, prefix: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let directory = Repo.fixture(name)
        let model = try ModelLoader.loadEncoder(directory: directory)
        XCTAssertEqual(model.prefix, prefix, file: file, line: line)
        let reference = try SafeTensorsFile(path: directory + "/reference.safetensors")
        let shape = try reference.storedShape("input_ids")
        let B = shape[0], T = shape[1], C = model.config.hiddenSize
        let ids = try reference.floats("input_ids").map { Int32($0) }
        let mask = try reference.floats("attention_mask").map { Int32($0) }
        let batch = try PackedBatch(paddedIDs: (0..<B).map { Array(ids[($0 * T)..<($0 * T + T)]) },
                                    mask: (0..<B).map { Array(mask[($0 * T)..<($0 * T + T)]) })
        let ws = EncoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let hidden = model.forward(batch, workspace: ws)
        let expectedHidden = try reference.floats("last_hidden")   // (B, T, C)
        var worst: Float = 0
        for b in 0..<B {
            for t in 0..<batch.lengths[b] {
                let ours = hidden + (batch.starts[b] + t) * C
                let theirs = (b * T + t) * C
                for c in 0..<C {
                    let difference: Float = abs(ours[c] - expectedHidden[theirs + c])
                    worst = max(worst, difference)
                }
            }
        }
        XCTAssertLessThanOrEqual(worst, 2e-5, "\(name): last hidden state", file: file, line: line)
        let embeddings = model.sentenceEmbeddings(batch, workspace: ws)
        let expected = try reference.floats("embeddings")
        for i in 0..<(B * C) { XCTAssertEqual(embeddings[i], expected[i], accuracy: 2e-5, "\(name) embedding \(i)", file: file, line: line) }
    }

    func testRobertaPositionsAndSingleTokenType() throws { try check("tiny-roberta", prefix: "") }

    func testBertForMaskedLMCheckpoint() throws { try check("tiny-bert-mlm", prefix: "bert.") }
}
