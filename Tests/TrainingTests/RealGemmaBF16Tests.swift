import Foundation
import Models
import Optimizers
import Tasks
import Tensors
import TestSupport
import Tokenizers
import Training
import Weights
import XCTest

/// `--weights bf16` on Gemma-3-270M (docs/weights-16bit.md): last-position logits against
/// transformers' f32 logits on 20 SST-2 dev prompts, and MeZO at lr 0 keeping every bit.
/// (1,000 steps at lr 0 run on the tiny fixture, BF16WeightsTests: here a few, which take minutes.)
final class RealGemmaBF16Tests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func prompts(_ dir: String, _ reference: SafeTensorsFile, count: Int) throws -> [[Int32]] {
        let examples = try TaskData.load(directory: Repo.sst2Directory!, split: .dev)   // callers check it exists
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        return try (0..<count).map { k in
            let ids = try TaskPrompt.builtin("sst2").promptIDs(for: examples[k], tokenizer: tokenizer)
            XCTAssertEqual(ids, try reference.floats("input_ids_\(k)").map { Int32($0) }, "prompt \(k)")
            return ids
        }
    }

    /// bf16 weights (rounded to nearest even from the f32 file) with bf16 products and f32 norms,
    /// attention and head: the full last-position logits stay within 0.4 of transformers' f32
    /// ones (measured 0.20 for a range of ±24.8; f32 weights match to 1e-3), and the top token
    /// agrees on at least 18 of the 20 prompts (measured: 20).
    func testLogitsFromBF16WeightsAgainstTransformers() throws {
        XCTAssertTrue(BF16Linear.isSupported, "bf16 products need AVX512_BF16")
        let dir = try Repo.requireGemma()
        guard Repo.sst2Directory != nil else { return XCTFail("SST-2 not found (set SST2_DIR)") }
        let reference = try SafeTensorsFile(path: try Repo.requireReference("gemma-3-270m-sst2-dev20.safetensors"))
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 256, weights: .bf16)
        XCTAssertLessThan(model.arena.byteCount, model.arena.parameterCount * 2 + 4_000_000, "2 bytes a matrix element")
        let expected = try reference.floats("logits")   // (K, V)
        let V = model.config.vocabSize, K = 20
        let batch = PackedBatch(sequences: try prompts(dir, reference, count: K))
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let logits = model.logits(hidden: model.forward(batch, workspace: ws, outputs: .lastTokenOfEachSequence), rows: K)
        var worst: Float = 0, range: Float = 0, sameTop = 0
        for k in 0..<K {
            let got = logits[(k * V)..<((k + 1) * V)], want = expected[(k * V)..<((k + 1) * V)]
            for (a, b) in zip(got, want) { worst = max(worst, abs(a - b)); range = max(range, abs(b)) }
            if got.indices.max(by: { got[$0] < got[$1] }) == want.indices.max(by: { want[$0] < want[$1] }) { sameTop += 1 }
        }
        print("Gemma-3-270M bf16 weights: max |Δ logit| \(worst) (range \(range)), same top token on \(sameTop)/\(K)")
        XCTAssertLessThan(worst, 0.4)
        XCTAssertGreaterThan(worst, 1e-3, "bf16 must differ from f32 somewhere (else the test reads f32)")
        XCTAssertGreaterThanOrEqual(sameTop, 18)
    }

    /// Three MeZO steps at lr 0 (batch of 4 prompts, Rademacher z on the batch's embedding rows,
    /// weight decay on): every bit of the 268M weights is kept, and L+ ≠ L− each step.
    func testMeZOAtLearningRateZeroKeepsEveryBit() throws {
        let dir = try Repo.requireGemma()
        guard Repo.sst2Directory != nil else { return XCTFail("SST-2 not found (set SST2_DIR)") }
        let reference = try SafeTensorsFile(path: try Repo.requireReference("gemma-3-270m-sst2-dev20.safetensors"))
        let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 256, weights: .bf16)
        let halves = Array(UnsafeBufferPointer(start: model.arena.halves!, count: model.arena.halfCount))
        let floats = Array(UnsafeBufferPointer(start: model.arena.storage, count: model.arena.floatCount))
        let batch = PackedBatch(sequences: try prompts(dir, reference, count: 4))
        let candidates: [Int32] = [2, 3]   // any two rows: the loss only has to depend on the weights
        let objective = CandidateObjective(model: model, candidates: candidates, maxTokens: batch.tokenCount)
        let rows = Array(Set(batch.tokens + candidates)).sorted()
        let mezo = MeZO(arena: model.arena, eps: 1e-3, weightDecay: 0.1, perturbation: .rademacher, threads: 2)
        for step in 0..<3 {
            let r = mezo.step(step, seeds: [SeedSchedule.seed(run: 1, step: step, perturbation: 0)], embeddingRows: rows, lr: 0) {
                objective.loss(batch, labels: [0, 1, 1, 0])
            }
            XCTAssertNotEqual(r.lossPlus, r.lossMinus, "step \(step): the forwards must read θ ± εz")
        }
        XCTAssertTrue(halves.elementsEqual(UnsafeBufferPointer(start: model.arena.halves!, count: model.arena.halfCount)),
                      "lr 0 changed bf16 weights")
        XCTAssertTrue(floats.map(\.bitPattern).elementsEqual(UnsafeBufferPointer(start: model.arena.storage, count: model.arena.floatCount).map(\.bitPattern)),
                      "lr 0 changed f32 norms")
    }
}
