import Foundation

/// A run's log as series over steps, for `report`: per step the loss (MeZO: the mean of L+ and L−
/// over its perturbations; SGD/AdamW: the batch loss), the projected gradient |g| (MeZO) or the
/// gradient norm (backprop), the learning rate, the step's seconds and the process's peak memory
/// (VmHWM, logged since `report` exists); per dev evaluation the metric, at its step and at the
/// run's training wall-clock (steps and evaluations, in the order they ran; loading not included).
public struct RunHistory: Sendable {
    public struct Step: Sendable {
        public var step: Int          // 1-based: steps done after it
        public var loss: Double?
        public var lossPlus: Double?
        public var lossMinus: Double?
        public var gradient: Double?
        public var lr: Double
        public var seconds: Double?
        public var peakBytes: Int?
    }

    public struct Evaluation: Sendable {
        public var step: Int
        public var metric: Double
        public var wallSeconds: Double
    }

    public let path: String
    public let name: String
    public let config: TrainingConfig
    public var steps: [Step] = []
    public var evaluations: [Evaluation] = []

    public init(run: RunFolder) throws {
        path = run.path
        name = URL(fileURLWithPath: run.path).standardizedFileURL.lastPathComponent
        config = run.manifest.config
        var wall = 0.0
        for line in try run.lines() {
            wall += line.seconds ?? 0
            if line.type == "eval", let accuracy = line.accuracy {
                // A resumed run logs again the evaluation it continued from: keep the latest.
                evaluations.removeAll { $0.step == line.step }
                evaluations.append(Evaluation(step: line.step, metric: accuracy, wallSeconds: wall))
            } else if let r = line.record {
                let q = Double(max(1, r.seeds.count))
                let plus = r.lossPlus.reduce(0) { $0 + Double($1) } / q, minus = r.lossMinus.reduce(0) { $0 + Double($1) } / q
                steps.append(Step(step: r.step + 1, loss: r.skipped ? nil : (plus + minus) / 2, lossPlus: r.skipped ? nil : plus,
                                  lossMinus: r.skipped ? nil : minus,
                                  gradient: r.projectedGradients.reduce(0) { $0 + abs(Double($1)) } / q,
                                  lr: Double(r.lr), seconds: line.seconds, peakBytes: line.vmhwm))
            } else if let u = line.update {
                steps.append(Step(step: u.step + 1, loss: u.skipped ? nil : Double(u.loss), lossPlus: nil, lossMinus: nil,
                                  gradient: u.gradNorm, lr: Double(u.lr), seconds: line.seconds, peakBytes: line.vmhwm))
            }
        }
    }

    /// Trailing mean over `window` values (fewer at the start), nil values skipped.
    public static func smoothed(_ values: [Double?], window: Int) -> [Double] {
        var out: [Double] = [], recent: [Double] = []
        for v in values {
            if let v, v.isFinite { recent.append(v); if recent.count > window { recent.removeFirst() } }
            out.append(recent.isEmpty ? .nan : recent.reduce(0, +) / Double(recent.count))
        }
        return out
    }

    /// The smoothing window for a run of `count` steps: about a fiftieth of it, 1 to 50 steps.
    public static func window(steps count: Int) -> Int { max(1, min(50, count / 50)) }
}
