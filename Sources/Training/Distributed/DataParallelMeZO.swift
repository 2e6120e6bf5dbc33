import Cluster
import Foundation
import Optimizers
import Weights

/// MeZO data parallel: every rank holds the whole model and draws the same seeds, evaluates
/// L+ and L− on its contiguous share of the batch's micro-batches, and the ranks exchange only
/// their per-example losses (8 bytes each, twice a step). Each rank sums the gathered terms in
/// batch order exactly as the single process sums its own (`LossTerms`), and every forward pass
/// is the one a single process makes with the same micro-batch (`MicroBatches`), so g, the update
/// and the weights are bitwise those of `zofinetune train --micro-batch M` on one process.
final class DataParallelMeZOMethod: StepMethod {
    let mezo: MeZO
    let task: TrainingTask
    let config: TrainingConfig
    let communicator: Communicator

    init(task: TrainingTask, config: TrainingConfig, threads: Int, communicator: Communicator) {
        mezo = MeZO(arena: task.arena, eps: config.eps, weightDecay: config.weightDecay,
                    perturbation: config.perturbation, threads: threads)
        (self.task, self.config, self.communicator) = (task, config, communicator)
    }

    func step(_ index: Int, batch: [[Int32]], labels: [Int], lr: Float) -> StepOutcome {
        let seeds = (0..<config.perturbations).map {
            SeedSchedule.seed(run: config.seed, step: index, perturbation: $0)
        }
        // Every rank knows the whole batch, so the embedding rows (and the z they get) agree.
        let rows = config.embeddingPerturbation == .batch ? task.embeddingRows(batch) : nil
        // Whole micro-batches per rank: rank r takes a contiguous run of them.
        let passes = MicroBatches.ranges(count: batch.count, size: config.microBatch)
        func examples(of rank: Int) -> Range<Int> {
            let mine = communicator.share(of: passes.count, rank: rank)
            return mine.isEmpty ? 0..<0 : passes[mine.lowerBound].lowerBound..<passes[mine.upperBound - 1].upperBound
        }
        let mine = examples(of: communicator.rank)
        let counts = (0..<communicator.size).map { examples(of: $0).count }
        let divisor = task.lossDivisor(batch)
        let shard = Array(batch[mine]), shardLabels = Array(labels[mine])
        return .mezo(mezo.step(index, seeds: seeds, embeddingRows: rows, lr: lr) {
            let terms = MicroBatches.lossTerms(task, shard, labels: shardLabels, size: config.microBatch)
            let all = DistributedFailure.orExit(communicator) { try communicator.allGather(terms, counts: counts) }
            return LossTerms.mean(all, divisor: divisor)
        })
    }

    var state: [String: ParameterArena] { [:] }
    func resume(after steps: Int, records: [MeZOStep]) {}
}

/// SGD/AdamW data parallel, the comparison MeZO's traffic is measured against: each rank
/// backpropagates its share of the batch, and the ranks all-reduce the whole gradient (the
/// arena's size in f32, every step). The result equals the single process's up to rounding
/// (a sum of shard means is not the batch mean's bits); it is here for the bytes.
enum DataParallelBackprop {
    static func wrap(_ method: BackpropMethod, communicator: Communicator) -> BackpropMethod {
        let local = method.lossAndGradients
        method.lossAndGradients = { batch, labels, gradients in
            let mine = communicator.share(of: batch.count)
            var loss: Float = 0
            if mine.isEmpty {
                gradients.storage.update(repeating: 0, count: gradients.count)
            } else {
                loss = local(Array(batch[mine]), Array(labels[mine]), gradients)
                // Shard mean → this shard's part of the batch mean.
                let weight = Float(mine.count) / Float(batch.count)
                let g = gradients.storage
                for i in 0..<gradients.count { g[i] *= weight }
            }
            DistributedFailure.orExit(communicator) { try communicator.allReduceSum(gradients.storage, count: gradients.count) }
            let counts = (0..<communicator.size).map { communicator.share(of: batch.count, rank: $0).count }
            let weighted = DistributedFailure.orExit(communicator) {
                try communicator.allGather([Double(loss) * Double(mine.count)], counts: counts.map { _ in 1 })
            }
            return Float(weighted.reduce(0, +) / Double(batch.count))
        }
        return method
    }
}

/// A collective that fails inside a step (whose protocol cannot throw) ends the whole job: the
/// other ranks would otherwise wait for this one forever.
enum DistributedFailure {
    static func orExit<T>(_ communicator: Communicator, _ body: () throws -> T) -> T {
        do { return try body() } catch {
            FileHandle.standardError.write(Data("zofinetune rank \(communicator.rank): \(error)\n".utf8))
            communicator.abort(1)
        }
    }
}
