import Foundation
import Optimizers

/// Section `curvature`: the two step-size limits side by side.
///
/// - tr(H) by Hutchinson, twice: from forwards only, zᵀHz ≈ (L+ + L− − 2·L0)/ε² (what `--lr auto`
///   measures during training), and from backprop Hessian-vector products, Hz ≈ (∇L(θ+εz) −
///   ∇L(θ−εz))/2ε, then zᵀ(Hz). Over the perturbed region, so tr(H) is that region's trace.
/// - λ_max by power iteration on the same finite-difference Hessian-vector products (it finds the
///   eigenvalue of largest magnitude; a negative one is reported with its sign).
/// - First-order (gradient descent) is stable for lr < 2/λ_max; two-point ZO-SGD with q probes for
///   lr < 2q/tr(H) (`AutoLearningRate.limit`, docs/lr-auto.md), and `--lr auto` picks `fraction` of it.
public struct CurvatureResult: Codable, Sendable {
    public var eps: Double
    public var seeds: [UInt64]
    /// (probes) zᵀHz from L±, L0.
    public var forwardQuadratic: [Double]
    /// (probes) zᵀHz from gradient differences.
    public var backpropQuadratic: [Double]
    public var traceForward: Double
    public var traceForwardStandardError: Double
    public var traceBackprop: Double
    public var traceBackpropStandardError: Double
    /// (iterations) Rayleigh quotient vᵀHv/vᵀv after each power iteration.
    public var lambdaIterates: [Double]
    public var lambdaMax: Double
    /// (iterations) ‖Hv‖/‖v‖ after each iteration: rises to |λ| of largest magnitude even when two
    /// eigenvalues of opposite sign share it (then the Rayleigh quotients above alternate).
    public var magnitudeIterates: [Double]
    /// Whether the last two iterates agree to 1%: if not, λ_max and 2/λ_max are only a scale.
    public var lambdaConverged: Bool
    /// 2/|λ_max|.
    public var firstOrderLimit: Double
    /// 2q/tr(H) with tr(H) the mean |zᵀHz| from forwards (as `AutoLearningRate` averages it).
    public var zerothOrderLimit: Double
    public var perturbations: Int
    /// What `--lr auto` would pick at these weights: fraction × the ZO limit.
    public var autoLR: Double
    public var autoFraction: Double
    public var secondsForward: Double
    public var secondsBackprop: Double
    public var secondsPowerIteration: Double
}

public enum CurvatureDiagnosis {
    public static func run(_ probe: DiagnosticProbe, seeds: [UInt64], eps: Float, powerIterations: Int,
                           perturbations q: Int, fraction: Float) -> CurvatureResult {
        var started = Date()
        let e2 = Double(eps) * Double(eps)
        let l0 = Double(probe.loss0)
        let forward = seeds.map { seed -> Double in
            probe.move(seed: seed, eps)
            let plus = Double(probe.loss())
            probe.move(seed: seed, -2 * eps)
            let minus = Double(probe.loss())
            probe.move(seed: seed, eps)
            return (plus + minus - 2 * l0) / e2
        }
        let secondsForward = Date().timeIntervalSince(started)

        started = Date()
        let hv = probe.allocate(), scratch = probe.allocate()   // (n) H·v, and ∇L at θ − εv
        defer { probe.free(hv); probe.free(scratch) }
        /// H·v into `hv`, by central differences of gradients; `move(s)` does θ += s·v.
        func hessianTimes(_ move: (Float) -> Void) {
            move(eps)
            probe.gradient(into: hv)
            move(-2 * eps)
            probe.gradient(into: scratch)
            move(eps)
            let n = probe.regionCount, inv = 1 / (2 * eps)
            for i in 0..<n { hv[i] = (hv[i] - scratch[i]) * inv }
        }
        let backward = seeds.map { seed -> Double in
            hessianTimes { probe.move(seed: seed, $0) }
            return probe.dot(seed: seed, hv)
        }
        let secondsBackprop = Date().timeIntervalSince(started)

        started = Date()
        let v = probe.allocate()   // (n) power-iteration vector, kept at norm √n so that εv moves each element like εz
        defer { probe.free(v) }
        probe.fill(seed: seeds.first ?? 1, v)
        let n = Double(probe.regionCount)
        var iterates: [Double] = [], magnitudes: [Double] = []
        for _ in 0..<powerIterations {
            let vv = probe.dot(v, v)
            hessianTimes { probe.move(along: v, $0) }
            iterates.append(probe.dot(v, hv) / vv)
            let hh = probe.dot(hv, hv)
            magnitudes.append((hh / vv).squareRoot())
            let scale = Float((n / hh).squareRoot())
            for i in 0..<probe.regionCount { v[i] = hv[i] * scale }
        }
        let secondsPower = Date().timeIntervalSince(started)

        let lambda = iterates.last ?? .nan
        let traceAbs = mean(forward.map(abs))
        let zoLimit = AutoLearningRate.limit(trace: traceAbs, perturbations: q)
        return CurvatureResult(eps: Double(eps), seeds: seeds, forwardQuadratic: forward, backpropQuadratic: backward,
                               traceForward: mean(forward), traceForwardStandardError: standardError(forward),
                               traceBackprop: mean(backward), traceBackpropStandardError: standardError(backward),
                               lambdaIterates: iterates, lambdaMax: lambda, magnitudeIterates: magnitudes,
                               lambdaConverged: iterates.count >= 2 && abs(lambda - iterates[iterates.count - 2]) <= 0.01 * abs(lambda),
                               firstOrderLimit: 2 / abs(lambda),
                               zerothOrderLimit: zoLimit, perturbations: q, autoLR: Double(fraction) * zoLimit,
                               autoFraction: Double(fraction), secondsForward: secondsForward,
                               secondsBackprop: secondsBackprop, secondsPowerIteration: secondsPower)
    }
}
