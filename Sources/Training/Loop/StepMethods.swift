import Foundation
import Models
import Optimizers
import Tensors
import Weights

/// What one training step did, for the log and the progress line.
public enum StepOutcome {
    case mezo(MeZOStep)
    case backprop(GradientStep)

    /// The step's batch loss (mean of L± for MeZO); nil when the step was skipped.
    var loss: Double? {
        switch self {
        case .mezo(let r):
            guard !r.skipped else { return nil }
            if let l0 = r.loss0 { return Double(l0) }
            if r.lossMinus.isEmpty { return r.lossPlus.reduce(0) { $0 + Double($1) } / Double(max(1, r.lossPlus.count)) }
            return zip(r.lossPlus, r.lossMinus).reduce(0) { $0 + (Double($1.0) + Double($1.1)) / 2 } / Double(r.seeds.count)
        case .backprop(let u):
            return u.skipped ? nil : Double(u.loss)
        }
    }

    func line(seconds: Double) -> RunLogLine {
        switch self {
        case .mezo(let r): return .step(r, seconds: seconds)
        case .backprop(let u): return .step(u, seconds: seconds)
        }
    }

    var skipNote: String? {
        switch self {
        case .mezo(let r) where r.skipped:
            return "non-finite loss (L+ = \(r.lossPlus), L- = \(r.lossMinus)); weights restored, step skipped"
        case .backprop(let u) where u.skipped:
            return "non-finite loss or gradient (loss \(u.loss), ‖g‖ \(u.gradNorm)); step skipped"
        default: return nil
        }
    }
}

/// How the shared training loop moves the weights for one batch.
protocol StepMethod: AnyObject {
    /// One step on a batch of model inputs (token ids per example) and their labels.
    func step(_ index: Int, batch: [[Int32]], labels: [Int], lr: Float) -> StepOutcome
    /// Optimizer state to snapshot with `weights-last` (empty for MeZO, whose log is its state).
    var state: [String: ParameterArena] { get }
    /// Continues after `steps` steps whose optimizer state is `state` (already loaded); `records`
    /// are the zeroth-order records of those steps (what `--lr auto` estimated from).
    func resume(after steps: Int, records: [MeZOStep])
}

/// A zeroth-order optimizer (MeZO or one beside it, `ZerothOrderSpec.make`): forward passes at
/// perturbed weights, z of the run's distribution, on every embedding row or only those the batch
/// reads; with `--lr auto`, a clean forward now and then for the curvature (`AutoLearningRate`).
final class MeZOMethod: StepMethod {
    let optimizer: ZerothOrderOptimizer
    let task: TrainingTask
    let config: TrainingConfig
    var auto: AutoLearningRate?

    init(_ spec: ZerothOrderSpec, task: TrainingTask, config: TrainingConfig, threads: Int) {
        optimizer = spec.make(config, arena: task.arena, threads: threads)
        self.task = task
        self.config = config
        auto = config.lrAuto.map { AutoLearningRate(settings: $0, perturbations: config.perturbations, eps: config.eps) }
    }

    func step(_ index: Int, batch: [[Int32]], labels: [Int], lr: Float) -> StepOutcome {
        let seeds = (0..<config.perturbations).map {
            SeedSchedule.seed(run: config.seed, step: index, perturbation: $0)
        }
        // nil: every row; adapters (PEFT) have no embedding table to restrict.
        let rows = config.embeddingPerturbation == .batch && optimizer.arena === task.baseArena ? task.embeddingRows(batch) : nil
        // In micro-batches when --micro-batch is set: the passes a data-parallel rank makes (MicroBatches).
        func loss() -> Float { MicroBatches.loss(task, batch, labels: labels, size: config.microBatch) }
        guard var auto else {
            return .mezo(optimizer.step(index, seeds: seeds, embeddingRows: rows, lr: lr) { loss() })
        }
        // The clean forward does not touch the weights, so replay needs only the logged lr.
        let l0 = auto.measures(index) ? loss() : nil
        let stepLR = auto.lr(at: index)
        var record = optimizer.step(index, seeds: seeds, embeddingRows: rows, lr: stepLR) { loss() }
        if record.loss0 == nil { record.loss0 = l0 }
        if let l0 = record.loss0, !record.skipped {
            record.curvature = auto.curvature(plus: record.lossPlus, minus: record.lossMinus, l0: l0)
        }
        record.traceEstimate = auto.trace.map(Float.init)
        auto.observe(record)
        self.auto = auto
        return .mezo(record)
    }

    var state: [String: ParameterArena] { optimizer.state }

    func resume(after steps: Int, records: [MeZOStep]) {
        guard auto != nil else { return }
        for r in records.prefix(steps) { auto!.observe(r) }
    }
}

/// SGD or AdamW on the gradient of the same candidate loss, by backpropagation: the activations
/// of every layer, a gradient arena and (AdamW) two moment arenas are what MeZO does without.
final class BackpropMethod: StepMethod {
    /// Replaced by a data-parallel run with one that computes its rank's share and sums over ranks.
    var lossAndGradients: ([[Int32]], [Int], ParameterArena) -> Float
    let gradients: ParameterArena   // the weights' layout, tagged `gradients`
    let optimizer: FirstOrderOptimizer
    let maxGradNorm: Float?

    init(_ spec: FirstOrderSpec, task: TrainingTask, maxTokens: Int, config: TrainingConfig) {
        lossAndGradients = task.makeBackprop(maxTokens: maxTokens)
        gradients = task.arena.sameLayout(tag: .gradients)
        optimizer = spec.make(config, task.arena)
        maxGradNorm = config.maxGradNorm
    }

    func step(_ index: Int, batch: [[Int32]], labels: [Int], lr: Float) -> StepOutcome {
        let loss = lossAndGradients(batch, labels, gradients)
        let norm = maxGradNorm.map { GradientClipping.clip(gradients, maxNorm: Double($0)) }
            ?? GradientClipping.norm(gradients)
        let finite = loss.isFinite && norm.isFinite
        if finite {
            optimizer.step(gradients: gradients, lr: lr)
        } else {
            optimizer.stepsTaken += 1   // keeps stepsTaken == steps logged, as resume assumes
        }
        return .backprop(GradientStep(step: index, loss: loss, gradNorm: norm, lr: lr, skipped: !finite))
    }

    var state: [String: ParameterArena] { optimizer.state }
    func resume(after steps: Int, records: [MeZOStep]) { optimizer.stepsTaken = steps }
}
