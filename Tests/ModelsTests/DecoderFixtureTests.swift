import Models
import Tensors
import Weights
import TestSupport
import XCTest

/// Logits of every real position against transformers (fp32, eager attention) on tiny random
/// configs made by tools/make_fixtures.py. The batch is right-padded (lengths 11, 7, 4) and run packed.
///
/// Tolerance: 1e-4 absolute on logits. Both sides compute in fp32; they differ only in summation
/// order (BLAS blocking, SIMD partial sums) and in exp/tanh implementations (~2 ulp), which on these
/// O(1)–O(10) values stays below ~1e-5. A real mistake (a missing 1 + w, a wrong window edge, the
/// wrong RoPE base) moves logits by 1e-2 or more.
final class DecoderFixtureTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testTinyGemma3MatchesTransformers() throws { try compare("tiny-gemma3") }
    func testTinyLlamaMatchesTransformers() throws { try compare("tiny-llama") }
    func testTinyQwen2MatchesTransformers() throws { try compare("tiny-qwen2") }

    func compare(_ name: String, tolerance: Float = 1e-4) throws {
        let fixture = try TinyFixture(name)
        let (model, batch, reference) = (fixture.model, fixture.batch, fixture.reference)
        let (B, T) = (batch.sequenceCount, fixture.paddedLength)
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let hidden = model.forward(batch, workspace: ws)
        let logits = model.logits(hidden: hidden, rows: batch.tokenCount)
        let expected = try reference.floats("logits")   // (B, T, V)
        let V = model.config.vocabSize
        var worst: Float = 0
        for s in 0..<B {
            for t in 0..<batch.lengths[s] {
                let got = (batch.starts[s] + t) * V, want = (s * T + t) * V
                for j in 0..<V { worst = max(worst, abs(logits[got + j] - expected[want + j])) }
            }
        }
        print("\(name): max |Δ logits| = \(worst) over \(batch.tokenCount) positions")
        XCTAssertLessThanOrEqual(worst, tolerance, "\(name): logits differ from transformers")

        // The last-token path (used by eval and training) must give the same rows.
        let last = model.forward(batch, workspace: ws, outputs: .lastTokenOfEachSequence)
        let lastLogits = model.logits(hidden: last, rows: B)
        for s in 0..<B {
            let want = (s * T + batch.lengths[s] - 1) * V
            for j in 0..<V {
                XCTAssertEqual(lastLogits[s * V + j], expected[want + j], accuracy: tolerance)
            }
        }
    }
}
