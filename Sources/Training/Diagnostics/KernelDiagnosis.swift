import Foundation
import Optimizers

/// Section `kernel`: the empirical NTK of m examples, exact and as zeroth-order training sees it.
///
/// Outputs f_i = ℓ_i, each example's own loss (minus the log-probability of its label among the
/// candidates). J (m × n) by backprop, one example at a time; K = J·Jᵀ. The ZO kernel
/// K_q = (1/q)·Σ_k u_k·u_kᵀ with u_k = J·z_k measured from forwards only: u_k,i = (ℓ_i(θ+εz_k) −
/// ℓ_i(θ−εz_k))/2ε. E[K_q] = K, and for Gaussian z (u ~ N(0, K)):
///     E‖K_q − K‖²_F / ‖K‖²_F = (1 + tr(K)²/‖K‖²_F) / q,
/// which depends on q and on K's spectrum (at most m eigenvalues), not on n: the claim tested by
/// running the same m and q on models of different size.
public struct KernelResult: Codable, Sendable {
    public var examples: Int
    public var dimension: Int
    public var eps: Double
    public var perturbation: String
    /// (m, m) K = J·Jᵀ by backprop.
    public var kernel: [[Double]]
    public var qs: [Int]
    /// ‖K_q − K‖_F / ‖K‖_F at each q.
    public var relativeFrobenius: [Double]
    /// The Gaussian prediction √((1 + tr(K)²/‖K‖²_F)/q).
    public var theory: [Double]
    public var secondsBackprop: Double
    public var secondsForward: Double
}

public enum KernelDiagnosis {
    /// Compact rows of J kept at once before falling back to one backprop per pair (bytes).
    public static var rowBudget = 1_500_000_000

    public static func exactKernel(_ probe: DiagnosticProbe, examples m: Int) -> [[Double]] {
        var K = [[Double]](repeating: [Double](repeating: 0, count: m), count: m)
        if m * probe.regionCount * 4 <= rowBudget {
            let rows = (0..<m).map { _ in probe.allocate() }   // (m, n) J
            defer { rows.forEach(probe.free) }
            for i in 0..<m { probe.gradient(into: rows[i], examples: i..<(i + 1)) }
            for i in 0..<m { for j in i..<m { K[i][j] = probe.dot(rows[i], rows[j]); K[j][i] = K[i][j] } }
            return K
        }
        // A large model: two rows at a time, m(m+1)/2 single-example backprops.
        let a = probe.allocate(), b = probe.allocate()   // (n) ∇ℓ_i, ∇ℓ_j
        defer { probe.free(a); probe.free(b) }
        for i in 0..<m {
            probe.gradient(into: a, examples: i..<(i + 1))
            K[i][i] = probe.dot(a, a)
            for j in (i + 1)..<max(i + 1, m) {
                probe.gradient(into: b, examples: j..<(j + 1))
                K[i][j] = probe.dot(a, b); K[j][i] = K[i][j]
            }
        }
        return K
    }

    public static func run(_ probe: DiagnosticProbe, examples m: Int, seeds: [UInt64], eps: Float) -> KernelResult {
        var started = Date()
        let K = exactKernel(probe, examples: m)
        let secondsBackprop = Date().timeIntervalSince(started)
        started = Date()
        let frob2 = K.joined().reduce(0) { $0 + $1 * $1 }
        let trace = (0..<m).reduce(0) { $0 + K[$1][$1] }
        var S = [[Double]](repeating: [Double](repeating: 0, count: m), count: m)   // (m, m) Σ_k u_k u_kᵀ
        let marks = Set(GradientEstimateDiagnosis.checkpoints(seeds.count))
        var qs: [Int] = [], errors: [Double] = []
        for (k, seed) in seeds.enumerated() {
            probe.move(seed: seed, eps)
            let plus = probe.exampleLosses(0..<m)
            probe.move(seed: seed, -2 * eps)
            let minus = probe.exampleLosses(0..<m)
            probe.move(seed: seed, eps)
            let u = zip(plus, minus).map { ($0 - $1) / (2 * Double(eps)) }
            for i in 0..<m { for j in 0..<m { S[i][j] += u[i] * u[j] } }
            let q = k + 1
            guard marks.contains(q) else { continue }
            var diff2 = 0.0
            for i in 0..<m { for j in 0..<m { let d = S[i][j] / Double(q) - K[i][j]; diff2 += d * d } }
            qs.append(q)
            errors.append((diff2 / frob2).squareRoot())
        }
        let c = 1 + trace * trace / frob2
        return KernelResult(examples: m, dimension: probe.regionCount, eps: Double(eps), perturbation: probe.perturbation.rawValue,
                            kernel: K, qs: qs, relativeFrobenius: errors, theory: qs.map { (c / Double($0)).squareRoot() },
                            secondsBackprop: secondsBackprop, secondsForward: Date().timeIntervalSince(started))
    }
}
