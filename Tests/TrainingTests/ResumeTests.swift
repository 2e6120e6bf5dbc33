import Foundation
import Models
import Tasks
import Tensors
import TestSupport
import Tokenizers
import Training
import Weights
import XCTest

/// On the real Gemma-3-270M and SST-2: 40 steps in one run and 20 + 20 with a resume give
/// bitwise the same weights, and replaying the seed log from the base weights (no snapshot)
/// gives bitwise the weights the run ended with. Batch 4 keeps the test short; the arithmetic is
/// the same as at batch 16.
final class ResumeTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testResumeAndReplayAreBitwiseExact() throws {
        let dir = try Repo.requireGemma()
        guard let sst2 = Repo.sst2Directory else { return XCTFail("SST-2 not found (set SST2_DIR)") }
        let train = try TaskData.load(directory: sst2, split: .train)
        let tokenizer = try TokenizerLoader.load(modelDirectory: dir)
        let scratch = NSTemporaryDirectory() + "zofinetune-resume-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        var config = TrainingConfig()
        config.steps = 40
        config.batchSize = 4
        config.trainExamples = 64
        config.lr = 1e-5
        config.evalEvery = 0
        config.seed = 11

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
            let trainer = try Trainer(model: model, tokenizer: tokenizer, config: c, run: run, prompt: .sst2,
                                          train: train, dev: [], threads: 2, stopRequested: { false }, log: { _ in })
            let summary = try trainer.train(from: start)
            XCTAssertEqual(summary.stepsDone, steps)
            return model
        }

        let whole = try trainRun(scratch + "/whole", steps: 40, resume: false)
        _ = try trainRun(scratch + "/split", steps: 20, resume: false)
        let resumed = try trainRun(scratch + "/split", steps: 40, resume: true)
        let n = whole.arena.count
        XCTAssertTrue((0..<n).allSatisfy { whole.arena.storage[$0].bitPattern == resumed.arena.storage[$0].bitPattern },
                      "40 steps differ from 20 + 20 resumed")

        // Replay from the base alone: remove the snapshots so nothing but the seed log is used.
        for name in ["last", "best"] { try? FileManager.default.removeItem(atPath: scratch + "/whole/weights-\(name).safetensors") }
        let (replayed, steps) = try RunReplay.load(run: try RunFolder(path: scratch + "/whole"), modelDirectory: dir,
                                                   point: .last, threads: 1)
        XCTAssertEqual(steps, 40)
        XCTAssertTrue((0..<n).allSatisfy { whole.arena.storage[$0].bitPattern == replayed.arena.storage[$0].bitPattern },
                      "replaying the seed log differs from the run")
        let log = try String(contentsOfFile: scratch + "/whole/log.jsonl", encoding: .utf8)
        print("seed log of 40 steps: \(log.utf8.count) bytes")
    }
}
