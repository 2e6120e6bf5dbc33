import Foundation
import Models
import Optimizers
import Tensors
import TestSupport
import Training
import Weights
import XCTest

/// Every zeroth-order optimizer on the tiny Gemma-3 fixture (6 steps, the batch's embedding rows,
/// built by `ZerothOrderSpec.make` from a run configuration as `train` builds it):
/// - resume: 3 steps, weights-last and optimizer-last written to a run folder and read back into a
///   freshly loaded model and a new optimizer, then 3 more steps, give bitwise the weights (and
///   state) of 6 steps in one go;
/// - replay: the 6 logged records, through their JSON, replayed onto the base weights with a new
///   optimizer, give bitwise the same weights and state.
final class ZerothOrderResumeTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    let total = 6, half = 3

    func tinyModel() throws -> DecoderModel {
        try ModelLoader.loadDecoder(directory: Repo.fixture("tiny-gemma3"), maxPositions: 64)
    }

    func bits(_ arena: ParameterArena) -> [UInt32] { (0..<arena.count).map { arena.storage[$0].bitPattern } }

    func config(_ optimizer: TrainingConfig.Optimizer) -> TrainingConfig {
        var c = TrainingConfig()
        c.optimizer = optimizer
        c.seed = 21
        c.lr = ["zo-sign": 1e-3, "zo-adam": 1e-3, "fzoo": 1e-3, "zo-momentum": 2e-3][optimizer.rawValue] ?? 1e-2
        if optimizer == .fzoo { c.perturbations = 3 }
        if optimizer == .hizoo { c.perturbation = .gaussian; c.hessianSmooth = 1e-3 }
        if optimizer == .lozo { c.lozoInterval = 2 }   // V changes inside each half
        if optimizer == .sparseMezo { c.sparseQuantile = 0.5 }
        return c
    }

    /// Runs steps `range` of `optimizer` on the fixture's batch.
    func run(_ optimizer: ZerothOrderOptimizer, model: DecoderModel, config c: TrainingConfig, steps range: Range<Int>) -> [MeZOStep] {
        var rng = SplitMix64(seed: 42)
        let prompts = (0..<6).map { i in [Int32(2)] + (0..<(4 + i)).map { _ in Int32(rng.next() % 120) + 4 } }
        let batch = PackedBatch(sequences: prompts)
        let objective = CandidateObjective(model: model, candidates: [5, 9], maxTokens: batch.tokenCount)
        let labels = [0, 1, 0, 1, 1, 0]
        let rows = Array(Set(batch.tokens + [5, 9])).sorted()
        return range.map { step in
            let seeds = (0..<c.perturbations).map { SeedSchedule.seed(run: c.seed, step: step, perturbation: $0) }
            return optimizer.step(step, seeds: seeds, embeddingRows: rows, lr: c.lr) { objective.loss(batch, labels: labels) }
        }
    }

    func testEveryOptimizerResumesAndReplaysBitwise() throws {
        let optimizers = TrainingConfig.Optimizer.allCases.filter { !$0.usesBackprop }
        XCTAssertEqual(optimizers.count, 9)
        for o in optimizers {
            let c = config(o)
            let base = try tinyModel()
            let baseBits = bits(base.arena)

            let whole = try tinyModel()
            let wholeOptimizer = o.zerothOrder!.make(c, arena: whole.arena, threads: 2)
            let records = run(wholeOptimizer, model: whole, config: c, steps: 0..<total)
            XCTAssertFalse(records.contains { $0.skipped }, "\(o.rawValue): a step was skipped")
            XCTAssertNotEqual(bits(whole.arena), baseBits, "\(o.rawValue): the weights did not move")
            XCTAssertEqual(wholeOptimizer.state.isEmpty, !o.zerothOrder!.hasState, o.rawValue)

            // Resume through a run folder's snapshot files.
            let folder = NSTemporaryDirectory() + "zofinetune-zo-resume-\(UUID().uuidString)"
            addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
            let first = try tinyModel()
            let firstOptimizer = o.zerothOrder!.make(c, arena: first.arena, threads: 2)
            _ = run(firstOptimizer, model: first, config: c, steps: 0..<half)
            let runFolder = try RunFolder.create(path: folder, manifest: RunManifest(
                baseModel: Repo.fixture("tiny-gemma3"), baseFingerprint: base.arena.fingerprint(), config: c, threads: 2))
            try runFolder.saveSnapshot("last", arena: first.arena, steps: half)
            try runFolder.saveOptimizerState(firstOptimizer.state, steps: half)

            let resumed = try tinyModel()
            try resumed.arena.load(from: [try SafeTensorsFile(path: runFolder.snapshotPath("last"))])
            let resumedOptimizer = o.zerothOrder!.make(c, arena: resumed.arena, threads: 1)   // another thread count
            try runFolder.loadOptimizerState(into: resumedOptimizer.state, steps: half)
            _ = run(resumedOptimizer, model: resumed, config: c, steps: half..<total)
            XCTAssertEqual(bits(resumed.arena), bits(whole.arena), "\(o.rawValue): \(half) + \(half) resumed differs from \(total)")
            for (name, arena) in wholeOptimizer.state {
                XCTAssertEqual(bits(resumedOptimizer.state[name]!), bits(arena), "\(o.rawValue): state \(name) after resume")
            }

            // Replay from the base weights and the log's JSON alone.
            let logged = try records.map { try JSONDecoder().decode(MeZOStep.self, from: JSONEncoder().encode($0)) }
            XCTAssertEqual(logged, records, o.rawValue)
            let replayed = try tinyModel()
            let replayer = o.zerothOrder!.make(c, arena: replayed.arena, threads: 1)
            for r in logged { try replayer.replay(r) }
            XCTAssertEqual(bits(replayed.arena), bits(whole.arena), "\(o.rawValue): replay differs from the run")
            for (name, arena) in wholeOptimizer.state {
                XCTAssertEqual(bits(replayer.state[name]!), bits(arena), "\(o.rawValue): state \(name) after replay")
            }
        }
    }
}
