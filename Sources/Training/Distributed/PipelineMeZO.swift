import Cluster
import Foundation
import Models
import Optimizers
import Weights

/// MeZO over pipeline stages. Every rank draws the same seeds and perturbs and updates only the
/// elements it holds (`MeZO.restriction`), with the z of their global arena positions; each
/// micro-batch's residual stream goes stage to stage (while stage s runs micro-batch k + 1, stage
/// s + 1 runs k), the last stage turns its hidden states into per-example losses and sends them to
/// every rank, which all compute the same g. The passes are those of a single process with the
/// same micro-batch, so the seed log and each stage's part of the weights are bitwise its.
final class PipelineMeZOMethod: StepMethod {
    let mezo: MeZO
    let task: ClassifyTask
    let candidates: [Int32]
    let stage: PipelineModel
    let config: TrainingConfig
    let communicator: Communicator
    let workspace: DecoderWorkspace

    init(task: ClassifyTask, candidates: [Int32], stage: PipelineModel, config: TrainingConfig, threads: Int,
         maxTokens: Int, communicator: Communicator) {
        mezo = MeZO(arena: task.arena, eps: config.eps, weightDecay: config.weightDecay,
                    perturbation: config.perturbation, threads: threads)
        mezo.restriction = stage.owned
        (self.task, self.candidates, self.stage, self.config, self.communicator) = (task, candidates, stage, config, communicator)
        workspace = DecoderWorkspace(config: task.model.config, maxTokens: maxTokens)
    }

    func step(_ index: Int, batch: [[Int32]], labels: [Int], lr: Float) -> StepOutcome {
        let seeds = (0..<config.perturbations).map {
            SeedSchedule.seed(run: config.seed, step: index, perturbation: $0)
        }
        let rows = config.embeddingPerturbation == .batch ? task.embeddingRows(batch) : nil
        DistributedFailure.orExit(communicator) { try stage.ensureEmbeddingRows(rows) }
        return .mezo(mezo.step(index, seeds: seeds, embeddingRows: rows, lr: lr) {
            let terms = DistributedFailure.orExit(communicator) { try losses(batch, labels: labels) }
            return LossTerms.mean(terms, divisor: task.lossDivisor(batch))
        })
    }

    /// The batch's per-example losses at the current weights, on every rank.
    func losses(_ batch: [[Int32]], labels: [Int]) throws -> [Double] {
        let model = task.model, s = stage.stage
        let C = model.config.hiddenSize
        var terms: [Double] = []
        for (k, pass) in MicroBatches.ranges(count: batch.count, size: config.microBatch).enumerated() {
            let packed = PackedBatch(sequences: Array(batch[pass]))
            let stream = model.residualStream(workspace)   // (tokens, C)
            if !s.isFirst { try communicator.receive(stream, count: packed.tokenCount * C, from: s.rank - 1, tag: k) }
            let (hidden, rows) = model.forwardStage(packed, layers: s.layers, workspace: workspace, outputs: .lastTokenOfEachSequence)
            if !s.isLast {
                try communicator.send(stream, count: packed.tokenCount * C, to: s.rank + 1, tag: k)
            } else {
                let logits = model.candidateLogits(hidden: hidden, rows: rows, candidates: candidates)
                terms += CandidateObjective.crossEntropies(logits: logits, labels: Array(labels[pass]), candidates: candidates.count)
            }
        }
        let bytes = try communicator.broadcast(terms.withUnsafeBytes { Array($0) }, root: s.ranks - 1)
        return bytes.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) }
    }

    var state: [String: ParameterArena] { [:] }
    func resume(after steps: Int, records: [MeZOStep]) {}
}
