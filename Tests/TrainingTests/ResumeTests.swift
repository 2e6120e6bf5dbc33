import Foundation
import Models
import Tasks
import Tensors
import TestSupport
import Tokenizers
import Training
import Weights
import XCTest

/// On the real Gemma-3-270M and SST-2: N steps in one run and N/2 + N/2 with a resume give
/// bitwise the same weights (MeZO: 40 steps with today's defaults, Rademacher z on the batch's
/// embedding rows, and 20 with the paper's Gaussian z on every row; AdamW, whose resume reads the
/// weights and both moments from the run's snapshots: 4 steps), and replaying MeZO's seed log from
/// the base weights (no snapshot) gives bitwise the weights the run ended with. Batch 4 keeps the
/// test short; the arithmetic is the same as at batch 16.
final class ResumeTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testResumeAndReplayAreBitwiseExact() throws {
        try mezoResumeAndReplayAreExact(steps: 40) { _ in }
    }

    func testGaussianAllRowsResumeAndReplayAreBitwiseExact() throws {
        try mezoResumeAndReplayAreExact(steps: 20) {
            $0.perturbation = .gaussian
            $0.embeddingPerturbation = .all
        }
    }

    func mezoResumeAndReplayAreExact(steps: Int, _ mode: (inout TrainingConfig) -> Void) throws {
        let (dir, scratch, whole) = try resumeIsExact(optimizer: .mezo, steps: steps, lr: 1e-5, mode)
        let n = whole.arena.count
        // Replay from the base alone: remove the snapshots so nothing but the seed log is used.
        for name in ["last", "best"] { try? FileManager.default.removeItem(atPath: scratch + "/whole/weights-\(name).safetensors") }
        let (replayed, replayedSteps) = try RunReplay.load(run: try RunFolder(path: scratch + "/whole"), modelDirectory: dir,
                                                           point: .last, threads: 1)
        XCTAssertEqual(replayedSteps, steps)
        XCTAssertTrue((0..<n).allSatisfy { whole.arena.storage[$0].bitPattern == replayed.arena.storage[$0].bitPattern },
                      "replaying the seed log differs from the run")
        let log = try String(contentsOfFile: scratch + "/whole/log.jsonl", encoding: .utf8)
        print("seed log of \(steps) steps: \(log.utf8.count) bytes")
    }

    func testAdamWResumeIsBitwiseExact() throws {
        _ = try resumeIsExact(optimizer: .adamw, steps: 4, lr: 1e-5)
    }

    /// Trains `steps` steps in one run and in two halves with a resume; asserts equal weights.
    /// Returns the model folder, the scratch folder (runs "whole" and "split", removed at tear-down)
    /// and the whole run's model.
    func resumeIsExact(optimizer: TrainingConfig.Optimizer, steps total: Int, lr: Float,
                       _ mode: (inout TrainingConfig) -> Void = { _ in }) throws -> (String, String, DecoderModel) {
        let dir = try Repo.requireGemma()
        let sst2 = try Repo.requireSST2()
        let train = try TaskData.load(directory: sst2, split: .train)
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        let scratch = NSTemporaryDirectory() + "zofinetune-resume-\(UUID().uuidString)"
        // Removed at tear-down, also when a step throws: each run folder holds ~1 GB of Gemma weights.
        addTeardownBlock { try? FileManager.default.removeItem(atPath: scratch) }

        var config = TrainingConfig()
        config.optimizer = optimizer
        config.steps = total
        config.batchSize = 4
        config.trainExamples = 64
        config.lr = lr
        config.evalEvery = 0
        config.seed = 11
        mode(&config)

        func trainRun(_ path: String, steps: Int, resume: Bool) throws -> DecoderModel {
            var c = config
            c.steps = steps
            let run: RunFolder
            let model: DecoderModel
            var start = 0
            if resume {
                run = try RunFolder(path: path)
                (model, start) = try RunReplay.load(run: run, modelDirectory: dir, point: .last, threads: 2)
            } else {
                model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 512)
                run = try RunFolder.create(path: path, manifest: RunManifest(
                    baseModel: dir, baseFingerprint: model.arena.fingerprint(), config: c, threads: 2))
            }
            let task = try ClassifyTask(model: model, tokenizer: tokenizer, prompt: .builtin("sst2"))
            let trainer = try Trainer(task: task, config: c, run: run, train: train, dev: [], threads: 2,
                                      stopRequested: { false }, log: { _ in })
            let summary = try trainer.train(from: start)
            XCTAssertEqual(summary.stepsDone, steps)
            return model
        }

        let whole = try trainRun(scratch + "/whole", steps: total, resume: false)
        _ = try trainRun(scratch + "/split", steps: total / 2, resume: false)
        let resumed = try trainRun(scratch + "/split", steps: total, resume: true)
        let n = whole.arena.count
        XCTAssertTrue((0..<n).allSatisfy { whole.arena.storage[$0].bitPattern == resumed.arena.storage[$0].bitPattern },
                      "\(optimizer.rawValue): \(total) steps differ from \(total / 2) + \(total / 2) resumed")
        return (dir, scratch, whole)
    }
}
