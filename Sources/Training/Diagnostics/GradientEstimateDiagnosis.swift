import Foundation
import Optimizers

/// Section `gradient`: how far q perturbations get towards the true gradient. ĝ_q = (1/q)·Σ_k g_k·z_k
/// with g_k = z_kᵀ∇L, the two-point estimate in its ε → 0 limit (section `fd` measures the
/// distance to that limit separately), against ∇L by backprop: cosine and ‖ĝ_q − ∇L‖/‖∇L‖.
///
/// Theory for n-dimensional z (n = the perturbed region): E‖ĝ_q − g‖² = (n + 1)/q·‖g‖² for Gaussian
/// z (E[(zᵀg)²·zᵀz] = (n + 2)‖g‖²) and (n − 1)/q·‖g‖² for Rademacher (zᵀz = n); with E[ĝ·g] = ‖g‖²,
/// cos ≈ 1/√(1 + c/q), c = n ± 1. One z is almost orthogonal to the gradient (cos ≈ 1/√n): the
/// descent direction comes from many steps, not from one estimate.
public struct GradientEstimateResult: Codable, Sendable {
    public var perturbation: String
    public var dimension: Int
    public var qs: [Int]
    public var cosine: [Double]
    public var relativeError: [Double]
    public var theoryCosine: [Double]
    public var theoryRelativeError: [Double]
    public var seconds: Double
}

public enum GradientEstimateDiagnosis {
    /// q = 1, 2, 4, … up to `maxQ` (and `maxQ` itself).
    public static func checkpoints(_ maxQ: Int) -> [Int] {
        var qs: [Int] = [], q = 1
        while q < maxQ { qs.append(q); q *= 2 }
        return qs + [maxQ]
    }

    public static func run(_ probe: DiagnosticProbe, seeds: [UInt64]) -> GradientEstimateResult {
        let started = Date()
        let sum = probe.allocate()   // (n) Σ_k g_k·z_k
        defer { probe.free(sum) }
        sum.update(repeating: 0, count: probe.regionCount)
        let gg = probe.dot(probe.gradient, probe.gradient)
        let marks = Set(checkpoints(seeds.count))
        var qs: [Int] = [], cosine: [Double] = [], relative: [Double] = []
        var projected = 0.0   // Σ_k g_k², so that ĝ_q·∇L = projected/q with no pass
        for (k, seed) in seeds.enumerated() {
            let g = probe.dot(seed: seed, probe.gradient)
            projected += g * g
            probe.add(seed: seed, Float(g), to: sum)
            let q = k + 1
            guard marks.contains(q) else { continue }
            let norm2 = probe.dot(sum, sum) / Double(q * q)
            let dotTrue = projected / Double(q)
            qs.append(q)
            cosine.append(dotTrue / (norm2 * gg).squareRoot())
            relative.append((max(0, norm2 - 2 * dotTrue + gg) / gg).squareRoot())
        }
        let c = Double(probe.regionCount) + (probe.perturbation == .gaussian ? 1 : -1)
        return GradientEstimateResult(perturbation: probe.perturbation.rawValue, dimension: probe.regionCount, qs: qs,
                                      cosine: cosine, relativeError: relative,
                                      theoryCosine: qs.map { 1 / (1 + c / Double($0)).squareRoot() },
                                      theoryRelativeError: qs.map { (c / Double($0)).squareRoot() },
                                      seconds: Date().timeIntervalSince(started))
    }
}
