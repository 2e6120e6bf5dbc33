import Foundation

/// Everything that determines a run, saved in the run folder so that `--resume` and replay use
/// exactly what the run used.
public struct TrainingConfig: Codable, Sendable, Equatable {
    public enum Schedule: String, Codable, Sendable, CaseIterable { case constant, linear }

    public var task: String = "sst2"
    public var optimizer: String = "mezo"
    public var steps: Int = 3000
    public var batchSize: Int = 16
    public var lr: Float = 2e-6
    public var eps: Float = 1e-3
    public var perturbations: Int = 1
    public var weightDecay: Float = 0
    public var schedule: Schedule = .constant
    /// Size of the seeded sample of train.tsv (MeZO uses 1,000), unless `kShot` is set.
    public var trainExamples: Int = 1000
    /// Examples per class instead of `trainExamples`.
    public var kShot: Int?
    public var seed: UInt64 = 0
    public var evalEvery: Int = 500
    /// Dev examples per evaluation (nil: all).
    public var evalExamples: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case task, optimizer, steps, lr, eps, perturbations, schedule, seed
        case batchSize = "batch_size"
        case weightDecay = "weight_decay"
        case trainExamples = "train_examples"
        case kShot = "k_shot"
        case evalEvery = "eval_every"
        case evalExamples = "eval_examples"
    }

    /// Learning rate at 0-based step `step`.
    public func learningRate(at step: Int) -> Float {
        switch schedule {
        case .constant: return lr
        case .linear: return lr * Float(max(0, steps - step)) / Float(max(1, steps))
        }
    }
}
