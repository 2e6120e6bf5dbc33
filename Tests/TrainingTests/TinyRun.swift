import Foundation
import Models
import Optimizers
import TestSupport
import Training

/// A run of `steps` MeZO steps on the tiny Gemma fixture, logged in a new run folder at `path`
/// (shared by the run-folder tests).
func makeTinyRun(at path: String, steps: Int) throws -> (RunFolder, DecoderModel) {
    let dir = Repo.fixture("tiny-gemma3")
    let model = try ModelLoader.loadDecoder(directory: dir, maxPositions: 64)
    var config = TrainingConfig()
    config.eps = 1e-3
    let run = try RunFolder.create(path: path, manifest: RunManifest(
        baseModel: dir, baseFingerprint: model.arena.fingerprint(), config: config, threads: 2))
    let batch = PackedBatch(sequences: [[2, 10, 11, 12], [2, 40, 41], [2, 70, 71, 72, 73]])
    let objective = CandidateObjective(model: model, candidates: [5, 9], maxTokens: batch.tokenCount)
    let mezo = MeZO(arena: model.arena, eps: config.eps, perturbation: config.perturbation, threads: 2)
    for step in 0..<steps {
        let r = mezo.step(step, seeds: [SeedSchedule.seed(run: 0, step: step, perturbation: 0)], lr: 1e-2) {
            objective.loss(batch, labels: [0, 1, 1])
        }
        try run.append(.step(r, seconds: 0))
    }
    return (run, model)
}
