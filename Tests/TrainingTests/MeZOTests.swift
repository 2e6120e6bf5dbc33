import Foundation
import Models
import Optimizers
import Tensors
import TestSupport
import Training
import Weights
import XCTest

/// MeZO on the tiny Gemma-3 fixture: replay reproduces a run bit for bit in every mode (Gaussian or
/// Rademacher z, every embedding row or the batch's), the perturb/restore passes leave no drift
/// beyond rounding, and every parameter moves.
final class MeZOTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func tinyModel() throws -> DecoderModel {
        try ModelLoader.loadDecoder(directory: Repo.fixture("tiny-gemma3"), maxPositions: 64)
    }

    /// A fixed batch of 6 random prompts with labels over candidates 5 and 9 (vocab 128).
    func tinyObjective(_ model: DecoderModel) -> (CandidateObjective, PackedBatch, [Int]) {
        var rng = SplitMix64(seed: 42)
        let prompts = (0..<6).map { i in [Int32(2)] + (0..<(4 + i)).map { _ in Int32(rng.next() % 120) + 4 } }
        let batch = PackedBatch(sequences: prompts)
        return (CandidateObjective(model: model, candidates: [5, 9], maxTokens: batch.tokenCount), batch, [0, 1, 0, 1, 1, 0])
    }

    func snapshot(_ arena: ParameterArena) -> [UInt32] {
        (0..<arena.count).map { arena.storage[$0].bitPattern }
    }

    /// The embedding rows the tiny batch reads: its tokens and the two candidates (tied head).
    func batchRows(_ batch: PackedBatch) -> [Int32] { Array(Set(batch.tokens + [5, 9])).sorted() }

    func testReplayIsBitwiseTheRun() throws {
        for perturbation in Perturbation.allCases {
            for sparse in [false, true] {
                for (q, wd) in [(1, Float(0)), (3, Float(0)), (2, Float(0.1))] {
                    let model = try tinyModel()
                    let (objective, batch, labels) = tinyObjective(model)
                    let rows = sparse ? batchRows(batch) : nil
                    let mezo = MeZO(arena: model.arena, eps: 1e-3, weightDecay: wd, perturbation: perturbation, threads: 2)
                    var records: [MeZOStep] = []
                    for step in 0..<25 {
                        let seeds = (0..<q).map { SeedSchedule.seed(run: 7, step: step, perturbation: $0) }
                        records.append(mezo.step(step, seeds: seeds, embeddingRows: rows, lr: 1e-2) {
                            objective.loss(batch, labels: labels)
                        })
                    }
                    let trained = snapshot(model.arena)
                    let mode = "\(perturbation) sparse=\(sparse) q=\(q) wd=\(wd)"

                    // Through the log's JSON, as a resumed run or `eval --run` reads it.
                    let logged = try records.map { try JSONDecoder().decode(MeZOStep.self, from: JSONEncoder().encode($0)) }
                    XCTAssertEqual(logged, records, mode)
                    let fresh = try tinyModel()
                    let replayer = MeZO(arena: fresh.arena, eps: 1e-3, weightDecay: wd, perturbation: perturbation,
                                        threads: 1)   // other thread count too
                    for r in logged { replayer.replay(r) }
                    XCTAssertEqual(snapshot(fresh.arena), trained, "\(mode): replay differs from the run")
                    XCTAssertNotEqual(trained, snapshot(try tinyModel().arena))
                }
            }
        }
    }

    /// With the batch's rows only, the embedding rows the batch does not read keep their bits, and
    /// the loss at θ ± εz is the loss a whole-arena perturbation gives (the other rows cannot change
    /// it): so the projected gradient g is the same in both modes, bit for bit.
    func testBatchRowsLeaveOtherRowsAndKeepTheProjectedGradient() throws {
        for perturbation in Perturbation.allCases {
            let sparse = try tinyModel(), dense = try tinyModel(), base = try tinyModel()
            let (objective, batch, labels) = tinyObjective(sparse)
            let (denseObjective, _, _) = tinyObjective(dense)
            let rows = batchRows(batch)
            let rs = MeZO(arena: sparse.arena, eps: 1e-3, perturbation: perturbation, threads: 2)
                .step(0, seeds: [17], embeddingRows: rows, lr: 1e-2) { objective.loss(batch, labels: labels) }
            let rd = MeZO(arena: dense.arena, eps: 1e-3, perturbation: perturbation, threads: 2)
                .step(0, seeds: [17], lr: 1e-2) { denseObjective.loss(batch, labels: labels) }
            XCTAssertEqual(rs.projectedGradients, rd.projectedGradients, "\(perturbation)")
            XCTAssertEqual(rs.embeddingRows, rows)
            let table = sparse.arena.slots[0], width = table.shape[1]
            let (s, d, b) = (sparse.arena.buffer(table), dense.arena.buffer(table), base.arena.buffer(table))
            for row in 0..<table.shape[0] {
                let span = row * width..<(row + 1) * width
                if rows.contains(Int32(row)) {
                    XCTAssertEqual(Array(s[span]), Array(d[span]), "row \(row) read by the batch: same update as all rows")
                } else {
                    XCTAssertEqual(Array(s[span]), Array(b[span]), "row \(row) not read by the batch moved")
                }
            }
        }
    }

    /// bf16 products converted right before each product (training) give bitwise the loss of bf16
    /// copies made from the same weights (evaluation), and follow in-place perturbations, which
    /// copies made earlier would not.
    func testBF16ConvertedOnUseFollowsTheWeights() throws {
        let onUse = try tinyModel(), copies = try tinyModel()
        try onUse.useBF16Products(weightsChange: true)
        try copies.useBF16Products()
        let (a, batch, labels) = tinyObjective(onUse)
        let (b, _, _) = tinyObjective(copies)
        XCTAssertEqual(a.loss(batch, labels: labels).bitPattern, b.loss(batch, labels: labels).bitPattern)
        NoisePass(seed: 3, ops: [.add(1e-2)], perturbation: .rademacher)
            .apply(to: onUse.arena.storage, count: onUse.arena.count, decayed: [], threads: 2)
        let perturbed = a.loss(batch, labels: labels)
        let remade = try tinyModel()
        remade.arena.storage.update(from: onUse.arena.storage, count: onUse.arena.count)
        try remade.useBF16Products()
        let (c, _, _) = tinyObjective(remade)
        XCTAssertEqual(perturbed.bitPattern, c.loss(batch, labels: labels).bitPattern)
        XCTAssertNotEqual(perturbed, b.loss(batch, labels: labels))
    }

    func testTrainingLowersTheLoss() throws {
        let model = try tinyModel()
        let (objective, batch, labels) = tinyObjective(model)
        let before = objective.loss(batch, labels: labels)
        let mezo = MeZO(arena: model.arena, eps: 1e-3, threads: 2)
        for step in 0..<200 {
            _ = mezo.step(step, seeds: [SeedSchedule.seed(run: 1, step: step, perturbation: 0)], lr: 2e-2) {
                objective.loss(batch, labels: labels)
            }
        }
        let after = objective.loss(batch, labels: labels)
        print("tiny MeZO: loss \(before) -> \(after) in 200 steps")
        XCTAssertLessThan(after, before * 0.8)
    }

    /// With lr = 0 each step is θ + εz − 2εz + εz: three fused multiply-adds per element, each
    /// rounding by at most half an ulp of the running value. Bound: after n steps the drift of an
    /// element is at most 3n · ulp(|θ| + 2ε|z|) / 2; with |z| ≤ 5.8 (Gaussian; 1 for Rademacher),
    /// ε = 1e-3 and these weights' magnitudes that is < 2e-6 for n = 1000. Measured: printed below
    /// for each z (a random walk, far smaller).
    func testRestoreDriftWithZeroLearningRate() throws {
        for (perturbation, zMax) in [(Perturbation.gaussian, Float(5.8)), (.rademacher, 1)] {
            let model = try tinyModel()
            let base = (0..<model.arena.count).map { model.arena.storage[$0] }
            let mezo = MeZO(arena: model.arena, eps: 1e-3, perturbation: perturbation, threads: 2)
            for step in 0..<1000 {
                _ = mezo.step(step, seeds: [SeedSchedule.seed(run: 3, step: step, perturbation: 0)], lr: 0) { 1 }
            }
            var worst: Float = 0, worstBound: Float = 0, moved = 0
            for i in 0..<model.arena.count {
                let drift = abs(model.arena.storage[i] - base[i])
                let bound = 3 * 1000 * (abs(base[i]) + 2e-3 * zMax).ulp / 2
                worst = max(worst, drift)
                worstBound = max(worstBound, drift / bound)
                if drift > 0 { moved += 1 }
                XCTAssertLessThanOrEqual(drift, bound, "\(perturbation): element \(i)")
            }
            print("restore drift (\(perturbation) z) after 1000 steps at lr 0: max |Δθ| = \(worst), max Δ/bound = \(worstBound), \(moved) of \(model.arena.count) elements not back to their bits")
        }
    }

    func testOneStepMovesEveryTensor() throws {
        let model = try tinyModel()
        let base = try tinyModel()
        let (objective, batch, labels) = tinyObjective(model)
        let mezo = MeZO(arena: model.arena, eps: 1e-3, threads: 2)
        let r = mezo.step(0, seeds: [99], lr: 1e-2) { objective.loss(batch, labels: labels) }
        XCTAssertNotEqual(r.projectedGradients[0], 0)
        for slot in model.arena.slots {
            let a = model.arena.buffer(slot), b = base.arena.buffer(slot)
            XCTAssertTrue(zip(a, b).contains { $0 != $1 }, "\(slot.name) did not move")
        }
    }

    func testNonFiniteLossSkipsTheStepAndRestores() throws {
        let model = try tinyModel()
        let before = snapshot(model.arena)
        let mezo = MeZO(arena: model.arena, eps: 1e-3, threads: 2)
        var calls = 0
        let r = mezo.step(0, seeds: [5], lr: 1) { calls += 1; return calls == 2 ? .nan : 1 }
        XCTAssertTrue(r.skipped)
        XCTAssertEqual(r.projectedGradients, [0])
        // Restored up to the rounding of three passes, not moved by the (NaN) gradient.
        for (i, bits) in before.enumerated() {
            XCTAssertEqual(model.arena.storage[i], Float(bitPattern: bits), accuracy: 1e-6)
        }
    }
}
