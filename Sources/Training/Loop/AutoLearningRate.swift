import Foundation
import Optimizers

/// `--lr auto`: the step size from the mean-square stability limit of two-point ZO-SGD, with the
/// curvature it needs measured almost for free (README, "--lr auto"; docs/lr-auto.md has the
/// derivation and its numerical check).
///
/// On a quadratic with Hessian H, q perturbations per step and ε → 0, E[θθᵀ]'s diagonal in H's
/// eigenbasis evolves linearly; the iteration is mean-square stable iff
///     Σ_i ηλ_i / (q·(2 − c·ηλ_i)) < 1,   c = 1 + 1/q (Gaussian z),  c = 1 − 1/q (Rademacher z, H diagonal),
/// which is η < 2q/tr(H) when tr(H) ≫ λ_max (Rademacher with q = 1: exactly η < 2/tr(H)). Only tr(H)
/// is needed: zᵀHz ≈ (L+ + L− − 2·L0)/ε² for each probe (one clean forward L0), and its mean is
/// Hutchinson's estimate of tr(H) restricted to what the step perturbs.
///
/// The first `warmup` steps measure with lr 0; after that a clean forward every `every` steps keeps a
/// running mean, and lr = fraction · 2q / tr̂(H).
///
/// What is averaged is |zᵀHz|, not zᵀHz: equal when H is positive semi-definite along the probes (the
/// quadratic of the theory), and a finite curvature scale where it is not. A pre-trained model sits
/// where the loss is not convex: on all-MiniLM-L6-v2's SST-2 loss the signed mean is negative (−200
/// to −400 over the first probes), which would put no limit at all on lr; Gemma-3-270M's is
/// positive (~5·10⁴) with some negative probes. Every step's record carries the lr, the estimate
/// it came from and, when measured, zᵀHz: the log alone rebuilds the estimate on resume.
public struct AutoLearningRate {
    public let settings: TrainingConfig.AutoLR
    public let perturbations: Int
    public let eps: Float
    var sum = 0.0
    var samples = 0

    public init(settings: TrainingConfig.AutoLR, perturbations: Int, eps: Float) {
        self.settings = settings
        self.perturbations = perturbations
        self.eps = eps
    }

    /// Whether step `index` measures a clean L0.
    public func measures(_ index: Int) -> Bool {
        index < settings.warmup || (index - settings.warmup) % settings.every == 0
    }

    /// tr(H) so far, as the mean |zᵀHz| (nil before any sample).
    public var trace: Double? { samples > 0 ? sum / Double(samples) : nil }

    /// The limit 2q/tr(H) (the small-ηλ form of the stability condition).
    public static func limit(trace: Double, perturbations q: Int) -> Double { 2 * Double(q) / trace }

    /// lr of step `index`: 0 during the warm-up (and while tr̂(H) ≤ 0), then fraction × limit.
    public func lr(at index: Int) -> Float {
        guard index >= settings.warmup, let t = trace, t > 0 else { return 0 }
        return Float(Double(settings.fraction) * Self.limit(trace: t, perturbations: perturbations))
    }

    /// zᵀHz averaged over the step's probes, from its losses and the clean L0.
    public func curvature(plus: [Float], minus: [Float], l0: Float) -> Float? {
        guard !plus.isEmpty, plus.count == minus.count else { return nil }
        let e2 = Double(eps) * Double(eps)
        let values = zip(plus, minus).map { (Double($0) + Double($1) - 2 * Double(l0)) / e2 }
        guard values.allSatisfy(\.isFinite) else { return nil }
        return Float(values.reduce(0, +) / Double(values.count))
    }

    /// Adds a step's measured curvature (replayed from the log on resume, in order).
    public mutating func observe(_ record: MeZOStep) {
        guard let c = record.curvature, !record.skipped else { return }
        sum += abs(Double(c))
        samples += 1
    }
}
