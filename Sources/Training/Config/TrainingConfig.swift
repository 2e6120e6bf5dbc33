import Foundation
import Models
import Optimizers
import Weights

/// Everything that determines a run, saved in the run folder so that `--resume` and replay use
/// exactly what the run used.
public struct TrainingConfig: Codable, Sendable, Equatable {
    public enum Schedule: String, Codable, Sendable, CaseIterable { case constant, linear }

    /// Which token-embedding rows a MeZO step perturbs and updates (see `PerturbedRegion`).
    public enum EmbeddingPerturbation: String, Codable, Sendable, CaseIterable {
        /// The rows the step's batch reads (its tokens, a tied head's candidate words).
        case batch
        /// Every row: the MeZO paper's algorithm exactly.
        case all
    }

    // `Optimizer`, the name of an optimizer of `OptimizerRegistry`, is in OptimizerRegistry/OptimizerName.swift.

    /// `--lr auto`: lr = `fraction` × the two-point stability limit 2q/tr(H) (`AutoLearningRate`),
    /// tr(H) estimated from (L+ + L− − 2·L0)/ε² with a clean forward L0 on the first `warmup`
    /// steps (lr 0: measurement only) and every `every` steps after (running mean).
    public struct AutoLR: Codable, Sendable, Equatable {
        public var fraction: Float = 0.05
        public var warmup: Int = 10
        public var every: Int = 10
        public init() {}
    }

    public var task: String = "sst2"
    /// What a step minimises: the cross-entropy (`loss`) or minus the batch's accuracy or F1
    /// (classify: macro-F1; complete: exact match / SQuAD F1 of greedy generations), which only
    /// zeroth-order optimizers can follow (MeZO paper, section 3.3).
    public enum Objective: String, Codable, Sendable, CaseIterable { case loss, accuracy, f1 }
    public var objective: Objective = .loss
    public var optimizer: Optimizer = .mezo
    public var steps: Int = 3000
    public var batchSize: Int = 16
    public var lr: Float = Optimizer.mezo.defaultLR
    /// Set by `--lr auto` (then `lr` is unused).
    public var lrAuto: AutoLR?
    /// zo-momentum's μ (`beta1` is its default when nil: 0.9); HiZOO's α; LOZO's rank r and
    /// window ν; Sparse MeZO's per-slot magnitude quantile (see each optimizer's file).
    public var hessianSmooth: Float = 1e-8
    public var lozoRank: Int = 2
    public var lozoInterval: Int = 50
    public var sparseQuantile: Float = 0.75
    public var eps: Float = Optimizer.mezo.zerothOrder!.defaultEps
    public var perturbations: Int = 1
    /// z's distribution. Runs made before it was recorded used Gaussian z (see `init(from:)`).
    public var perturbation: Perturbation = .rademacher
    public var embeddingPerturbation: EmbeddingPerturbation = .batch
    /// MeZO's forwards: fp32 products, or bf16 copies of the perturbed weights (decoders).
    public var precision: Precision = .fp32
    /// How the arena held the weights (`--weights`, docs/weights-16bit.md); nil in runs made
    /// before it was recorded, which held f32 (`weightFormat`).
    public var weights: WeightFormat?
    public var weightDecay: Float = 0
    public var schedule: Schedule = .constant
    /// Clip the gradient's global L2 norm to this (backprop optimizers; nil: no clipping).
    public var maxGradNorm: Float?
    /// AdamW's moment decay rates and denominator epsilon (PyTorch's defaults).
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var adamEpsilon: Float = 1e-8
    /// Size of the seeded sample of the training file, unless `kShot` is set. `train` records the
    /// file's size for a new run given no --train-examples; 1,000 (the MeZO paper's sample) is what
    /// a run.json without the key was trained on, so it stays the value decoding falls back to.
    public var trainExamples: Int = 1000
    /// Examples per class instead of `trainExamples`.
    public var kShot: Int?
    public var seed: UInt64 = 0
    public var evalEvery: Int = 500
    /// Dev examples per evaluation (nil: all).
    public var evalExamples: Int?
    /// Early stopping: end the run after this many dev evaluations in a row without a new best
    /// (nil: never). The run keeps its best weights (weights-best) either way.
    public var patience: Int?
    /// Encoders: one description per label, and the temperature of cosine / T (nil for decoders).
    public var labelDescriptions: [String]?
    public var temperature: Float?
    /// The task and data as the run trained on them (`RunTask`); nil in runs made before it was kept.
    public var taskFile: RunTask?
    /// MeZO: the batch's losses are evaluated in forward passes of this many examples, in order
    /// (nil: the whole batch in one pass). A data-parallel or pipeline run gives each rank whole
    /// micro-batches, so its passes, and therefore its bits, are those of a single process with
    /// the same micro-batch (BLAS kernels round a row differently depending on the rows beside it).
    public var microBatch: Int?
    /// Which parameters train (`PEFTMethod`): the whole model, or adapters over a read-only base.
    /// The settings of the chosen method are set with it and absent otherwise (run.json stays flat:
    /// `train --config run.json` reads each key as a flag).
    public var peft: PEFTMethod = .none
    /// LoRA (`--peft lora`): rank r, α and the adapted projections (see `LoRASettings`, `lora`).
    public var loraRank: Int?
    public var loraAlpha: Float?
    public var loraTargets: [LoRATarget]?
    /// Prefix tuning (`--peft prefix`): n trainable key/value vectors per layer (`KeyValuePrefix`).
    public var prefixTokens: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case task, optimizer, steps, lr, eps, perturbations, schedule, seed, perturbation, objective
        case embeddingPerturbation = "embedding_perturbation"
        case precision, weights
        case batchSize = "batch_size"
        case weightDecay = "weight_decay"
        case maxGradNorm = "max_grad_norm"
        case beta1, beta2
        case adamEpsilon = "adam_epsilon"
        case trainExamples = "train_examples"
        case kShot = "k_shot"
        case evalEvery = "eval_every"
        case evalExamples = "eval_examples"
        case patience
        case labelDescriptions = "label_descriptions"
        case temperature
        case taskFile = "task_file"
        case lrAuto = "lr_auto"
        case hessianSmooth = "hessian_smooth"
        case lozoRank = "lozo_rank"
        case lozoInterval = "lozo_interval"
        case sparseQuantile = "sparse_quantile"
        case microBatch = "micro_batch"
        case peft
        case loraRank = "lora_rank"
        case loraAlpha = "lora_alpha"
        case loraTargets = "lora_targets"
        case prefixTokens = "prefix_tokens"
    }

    /// Reads run.json files written before the backprop optimizers or the perturbation options
    /// existed (their keys absent): such runs used Gaussian z over every embedding row, so that
    /// is what an absent key means, whatever today's defaults are.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TrainingConfig()
        task = try c.decodeIfPresent(String.self, forKey: .task) ?? d.task
        optimizer = try c.decodeIfPresent(Optimizer.self, forKey: .optimizer) ?? d.optimizer
        objective = try c.decodeIfPresent(Objective.self, forKey: .objective) ?? d.objective
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        lr = try c.decodeIfPresent(Float.self, forKey: .lr) ?? optimizer.defaultLR
        eps = try c.decodeIfPresent(Float.self, forKey: .eps) ?? d.eps
        perturbations = try c.decodeIfPresent(Int.self, forKey: .perturbations) ?? d.perturbations
        perturbation = try c.decodeIfPresent(Perturbation.self, forKey: .perturbation) ?? .gaussian
        embeddingPerturbation = try c.decodeIfPresent(EmbeddingPerturbation.self, forKey: .embeddingPerturbation) ?? .all
        precision = try c.decodeIfPresent(Precision.self, forKey: .precision) ?? .fp32
        weights = try c.decodeIfPresent(WeightFormat.self, forKey: .weights)
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? d.weightDecay
        schedule = try c.decodeIfPresent(Schedule.self, forKey: .schedule) ?? d.schedule
        maxGradNorm = try c.decodeIfPresent(Float.self, forKey: .maxGradNorm)
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? d.beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? d.beta2
        adamEpsilon = try c.decodeIfPresent(Float.self, forKey: .adamEpsilon) ?? d.adamEpsilon
        trainExamples = try c.decodeIfPresent(Int.self, forKey: .trainExamples) ?? d.trainExamples
        kShot = try c.decodeIfPresent(Int.self, forKey: .kShot)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        evalEvery = try c.decodeIfPresent(Int.self, forKey: .evalEvery) ?? d.evalEvery
        evalExamples = try c.decodeIfPresent(Int.self, forKey: .evalExamples)
        patience = try c.decodeIfPresent(Int.self, forKey: .patience)
        labelDescriptions = try c.decodeIfPresent([String].self, forKey: .labelDescriptions)
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature)
        taskFile = try c.decodeIfPresent(RunTask.self, forKey: .taskFile)
        lrAuto = try c.decodeIfPresent(AutoLR.self, forKey: .lrAuto)
        hessianSmooth = try c.decodeIfPresent(Float.self, forKey: .hessianSmooth) ?? d.hessianSmooth
        lozoRank = try c.decodeIfPresent(Int.self, forKey: .lozoRank) ?? d.lozoRank
        lozoInterval = try c.decodeIfPresent(Int.self, forKey: .lozoInterval) ?? d.lozoInterval
        sparseQuantile = try c.decodeIfPresent(Float.self, forKey: .sparseQuantile) ?? d.sparseQuantile
        microBatch = try c.decodeIfPresent(Int.self, forKey: .microBatch)
        peft = try c.decodeIfPresent(PEFTMethod.self, forKey: .peft) ?? .none
        loraRank = try c.decodeIfPresent(Int.self, forKey: .loraRank)
        loraAlpha = try c.decodeIfPresent(Float.self, forKey: .loraAlpha)
        loraTargets = try c.decodeIfPresent([LoRATarget].self, forKey: .loraTargets)
        prefixTokens = try c.decodeIfPresent(Int.self, forKey: .prefixTokens)
    }

    /// The arena format the run's weights live in (f32 for runs made before `weights` was kept).
    public var weightFormat: WeightFormat { weights ?? .f32 }

    /// Learning rate at 0-based step `step`.
    public func learningRate(at step: Int) -> Float {
        switch schedule {
        case .constant: return lr
        case .linear: return lr * Float(max(0, steps - step)) / Float(max(1, steps))
        }
    }
}
