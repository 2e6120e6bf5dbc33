import Foundation
import Models
import Tasks
import Tensors
import Tokenizers
import Weights
import TestSupport
import XCTest

/// Prefix tuning on the real models against peft 0.21.2 (tools/reference/reference_prefix.py gemma|minilm,
/// dumped once by tools/test.sh): 5 prefix tokens started from the keys/values of 5 random tokens
/// (MeZO's init by real activations, which is checked first), then the SST-2 losses of the base
/// gradient tests (Gemma: candidate loss on the first 16 train sentences; MiniLM: label-description
/// loss with T = 0.05).
///
/// Tolerances as the full-model gradient tests: loss 1e-4; per layer, the relative L2 of the keys'
/// and of the values' gradient (2L tensors) ≤ 1e-3; the initial prefix 1e-4 relative L2 (one
/// forward of fp32 arithmetic, summation order only).
final class RealPrefixGradientTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testGemmaPrefixGradientMatchesPeft() throws {
        let dir = try Repo.requireGemma()
        let file = try SafeTensorsFile(path: try Repo.requireReference("gemma-3-270m-sst2-prefix.safetensors"))
        let sst2 = try Repo.requireSST2()
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 256)
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        let tokens = try file.floats("init_tokens").map { Int32($0) }
        let prefix = try model.attachPrefix(tokens: tokens.count)
        model.initialisePrefixFromActivations(of: tokens)
        try Self.checkInitialisation(prefix, file, "Gemma-3-270M")
        let sst2Batch = try ReferenceCandidateBatch(reference: file, tokenizer: tokenizer, sst2: sst2)
        let (batch, candidates, labels) = (sst2Batch.batch, sst2Batch.candidates, sst2Batch.labels)
        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = prefix.arena.sameLayout(tag: .gradients)
        let start = DispatchTime.now().uptimeNanoseconds
        let loss = trainer.lossAndGradients(batch: batch, target: .candidates(ids: candidates, labels: labels), gradients: grads)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        XCTAssertEqual(loss, try file.floats("loss")[0], accuracy: 1e-4)
        let worst = try Self.compare(prefix, grads, try file.floats("grad"))
        print(String(format: "Gemma-3-270M prefix (5 tokens, %d parameters): loss %.6f vs peft %.6f; worst per-layer relative L2 %.2e (%@); forward+backward %.2f s",
                     prefix.parameterCount, loss, try file.floats("loss")[0], worst.error, worst.name, seconds))
    }

    func testMiniLMPrefixGradientMatchesPeft() throws {
        let model = try ModelLoader.loadEncoder(directory: try Repo.requireMiniLM())
        let file = try SafeTensorsFile(path: try Repo.requireReference("minilm-sst2-prefix.safetensors"))
        let tokens = try file.floats("init_tokens").map { Int32($0) }
        let prefix = try model.attachPrefix(tokens: tokens.count)
        model.initialisePrefixFromActivations(of: tokens)
        try Self.checkInitialisation(prefix, file, "MiniLM")
        let batch = try PrefixFixtureTests.paddedBatch(file)
        let labels = try file.floats("labels").map { Int($0) }
        let trainer = EncoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = prefix.arena.sameLayout(tag: .gradients)
        let loss = trainer.lossAndGradients(batch: batch, descriptionCount: batch.sequenceCount - labels.count, labels: labels,
                                            temperature: 0.05, gradients: grads)
        XCTAssertEqual(loss, try file.floats("loss")[0], accuracy: 1e-4)
        let worst = try Self.compare(prefix, grads, try file.floats("grad"))
        print(String(format: "MiniLM prefix (5 tokens, %d parameters): loss %.6f vs peft %.6f; worst per-layer relative L2 %.2e (%@)",
                     prefix.parameterCount, loss, try file.floats("loss")[0], worst.error, worst.name))
    }

    static func checkInitialisation(_ prefix: KeyValuePrefix, _ file: SafeTensorsFile, _ label: String) throws {
        let want = try file.floats("init_embeddings"), got = prefix.arena.buffer(prefix.arena.slots[0])
        XCTAssertEqual(want.count, got.count)
        var diff = 0.0, norm = 0.0
        for (a, b) in zip(got, want) { diff += Double(a - b) * Double(a - b); norm += Double(b) * Double(b) }
        let relative = (diff / norm).squareRoot()
        print(String(format: "%@: prefix initialised by real activations within %.2e relative L2 of MeZO's", label, relative))
        XCTAssertLessThanOrEqual(relative, 1e-4, "\(label): init by real activations")
    }

    /// Relative L2 of each layer's key gradient and value gradient; returns the worst.
    static func compare(_ prefix: KeyValuePrefix, _ grads: ParameterArena, _ want: [Float]) throws -> (error: Double, name: String) {
        let got = grads.buffer(grads.slots[0])
        XCTAssertEqual(got.count, want.count)
        var worst = (error: 0.0, name: "")
        for l in 0..<prefix.layers {
            for (part, column) in [("keys", 2 * l * prefix.width), ("values", (2 * l + 1) * prefix.width)] {
                var diff = 0.0, norm = 0.0
                for j in 0..<prefix.tokens {
                    for i in 0..<prefix.width {
                        let at = j * prefix.rowStride + column + i
                        diff += Double(got[at] - want[at]) * Double(got[at] - want[at])
                        norm += Double(want[at]) * Double(want[at])
                    }
                }
                let relative = (diff / max(norm, 1e-300)).squareRoot()
                let name = "layer \(l) \(part)"
                XCTAssertGreaterThan(norm, 0, "\(name): peft's gradient is zero")
                XCTAssertLessThanOrEqual(relative, 1e-3, "\(name): relative L2 \(relative)")
                if relative > worst.error { worst = (relative, name) }
            }
        }
        return worst
    }
}
