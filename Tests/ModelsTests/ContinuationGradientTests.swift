import Foundation
import Models
import Optimizers
import Tensors
import Weights
import TestSupport
import XCTest

/// Backprop through continuation batches (`DecoderTrainer.lossAndGradients(continuations:…)`: each
/// prompt run once, its continuations packed after it in key blocks of their own) against central
/// finite differences of the *inference* path (`continuationLogProbs` over `ContinuationBatch`'s
/// shared gathered keys, full-vocabulary log-softmax in Double): an independent implementation of
/// the same function.
///
/// The loss is Σ w_pk · log P(cont k | prompt p) with fixed random weights, so every continuation
/// (1–4 tokens, several per prompt, prompts of 2–12 tokens past the sliding window) carries its own
/// derivative; a wrong key block, a prompt key's gradient summed from one block only, or a wrong
/// log-softmax derivative would be off by O(|g|). Finite differences as in DecoderGradientTests
/// (h and h/2, Richardson); tolerance |fd − g| ≤ 2e-4 + 1e-2·|g|. h = 2e-2 rather than 1e-2: these
/// losses sum fp32 log-probabilities of ~−5 (noise ~1e-6 per evaluation, amplified by 1/h); at 1e-2
/// the worst coordinate reached 1.8× the bound, at 2e-2 and 4e-2 every one is inside it, so what
/// was left is noise, not a wrong derivative.
final class ContinuationGradientTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testTinyGemma3ContinuationGradientMatchesFiniteDifferences() throws { try check("tiny-gemma3") }
    func testTinyLlamaContinuationGradientMatchesFiniteDifferences() throws { try check("tiny-llama") }
    func testTinyQwen3ContinuationGradientMatchesFiniteDifferences() throws { try check("tiny-qwen3") }

    func check(_ name: String) throws {
        let model = try TinyFixture(name).model
        let V = Int32(model.config.vocabSize)
        let prompts: [[Int32]] = [[2, 5, 9, 11, 3, 7, 8, 1, 4, 6, 10, 12], [2, 13], [2, 7, 7, 7, 9]]
        let continuations: [[[Int32]]] = [[[3], [4, 5], [6, 7, 8, 9]], [[1, 2, 3], [14]], [[5], [5, 6]]]
            .map { $0.map { $0.map { $0 % V } } }
        let batch = ContinuationBatch(prompts: prompts, continuations: continuations)
        var rng = SplitMix64(seed: 7)
        let weights = continuations.map { $0.map { _ in rng.nextFloat() } }   // (P)(K_p) in [-1, 1)
        let loss: ContinuationLoss = { logProbs in
            let value = zip(logProbs, weights).reduce(0.0) { sum, pair in
                sum + zip(pair.0, pair.1).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            return (value, weights)
        }

        let trainer = DecoderTrainer(model: model, maxTokens: batch.tokenCount)
        let grads = DecoderModel.makeArena(config: model.config)
        for i in 0..<grads.count { grads.storage[i] = 7 }   // must be overwritten, not added to
        let got = trainer.lossAndGradients(continuations: batch, loss: loss, gradients: grads)

        // The loss from the inference path, log-softmax normalisers in Double.
        let ws = DecoderWorkspace(config: model.config, maxTokens: batch.tokenCount)
        let gathered = GatheredKeyValues(config: model.config, capacity: batch.gatherRows.count)
        func inferenceLoss() -> Double {
            loss(model.continuationLogProbs(batch, workspace: ws, gathered: gathered)).loss
        }
        let want = inferenceLoss()
        print("\(name) continuations: training loss \(got) vs inference \(want)")
        XCTAssertEqual(Double(got), want, accuracy: 1e-5)

        let C = model.config.hiddenSize
        let h: Float = 2e-2
        var checked = 0, nonzero = 0, worstAbs = 0.0, worstRatio = 0.0
        for slot in model.arena.slots {
            let coordinates: [Int]
            if slot.name == "model.embed_tokens.weight" {
                // rows read as inputs (prompt and continuation tokens) and rows only the head reads
                coordinates = [2, 7, 5, 9, 20, Int(V) - 1].map { $0 * C + Int(rng.next() % UInt64(C)) }
            } else {
                coordinates = [Int(rng.next() % UInt64(slot.count)), Int(rng.next() % UInt64(slot.count))]
            }
            for i in coordinates {
                let p = model.arena.pointer(slot) + i
                let original = p.pointee
                func central(_ step: Float) -> Double {
                    p.pointee = original + step
                    let plus = inferenceLoss()
                    p.pointee = original - step
                    let minus = inferenceLoss()
                    p.pointee = original
                    return (plus - minus) / (Double(original + step) - Double(original - step))
                }
                let fd = (4 * central(h / 2) - central(h)) / 3
                let g = Double(grads.pointer(slot)[i])
                worstAbs = max(worstAbs, abs(fd - g))
                worstRatio = max(worstRatio, abs(fd - g) / (2e-4 + 1e-2 * abs(g)))
                XCTAssertLessThanOrEqual(abs(fd - g), 2e-4 + 1e-2 * abs(g), "\(name) \(slot.name)[\(i)]: finite difference \(fd) vs backprop \(g)")
                checked += 1
                if abs(g) > 1e-3 { nonzero += 1 }
            }
        }
        print("\(name) continuation gradient: \(checked) coordinates, \(nonzero) with |g| > 1e-3, max |fd − g| = \(worstAbs), worst |fd − g| / bound = \(worstRatio)")
        XCTAssertGreaterThan(nonzero, checked / 2, "most checked coordinates should carry a real gradient")

        // accumulate: a second call adds the same gradient.
        let once = Array(UnsafeBufferPointer(start: grads.storage, count: grads.count))
        trainer.lossAndGradients(continuations: batch, loss: loss, gradients: grads, accumulate: true)
        var worst: Float = 0
        for i in 0..<grads.count { worst = max(worst, abs(grads.storage[i] - 2 * once[i]) / (1 + abs(once[i]))) }
        XCTAssertLessThanOrEqual(worst, 1e-6, "\(name): accumulate must add")
    }
}
