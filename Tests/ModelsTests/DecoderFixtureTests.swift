import Foundation
import Models
import Tensors
import Weights
import TestSupport
import XCTest

/// Logits of every real position against transformers (fp32, eager attention) on tiny random
/// configs made by tools/fixtures/make_fixtures.py. The batch is right-padded (lengths 11, 7, 4) and run packed.
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
    /// q/k RMSNorm per head (scale w), no biases, head_dim 16 ≠ hidden/heads, untied head.
    func testTinyQwen3MatchesTransformers() throws { try compare("tiny-qwen3") }
    /// rope_type "llama3" (frequencies in all three regimes), tied head, head_dim 16 ≠ hidden/heads.
    func testTinyLlama3MatchesTransformers() throws { try compare("tiny-llama3") }

    /// Llama 3.2's config.json (transformers 4) spells the scaling as `rope_scaling` beside a
    /// top-level `rope_theta`; transformers 5 writes `rope_parameters`. Both give the same tables.
    func testLlama3RopeScalingReadsBothSpellings() throws {
        let old = """
        {"model_type": "llama", "vocab_size": 128, "hidden_size": 32, "intermediate_size": 64,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
         "max_position_embeddings": 64, "rope_theta": 100.0, "tie_word_embeddings": true,
         "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 32, "rope_type": "llama3"}}
        """
        let fromOld = try DecoderConfig.decode(Data(old.utf8), path: "old/config.json")
        let fromNew = try DecoderConfig.load(directory: Repo.fixture("tiny-llama3"))
        XCTAssertNotNil(fromNew.llama3RopeScaling)
        XCTAssertEqual(fromOld.llama3RopeScaling, fromNew.llama3RopeScaling)
        XCTAssertEqual(fromOld.ropeBaseGlobal, fromNew.ropeBaseGlobal)
        XCTAssertEqual(fromNew.headDim, 16)
        XCTAssertTrue(fromNew.tieWordEmbeddings)
        let unknown = old.replacingOccurrences(of: "\"llama3\"", with: "\"yarn\"")
        XCTAssertThrowsError(try DecoderConfig.decode(Data(unknown.utf8), path: "yarn/config.json")) { error in
            XCTAssertTrue("\(error)".contains("yarn/config.json") && "\(error)".contains("yarn"), "\(error)")
        }
    }

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
