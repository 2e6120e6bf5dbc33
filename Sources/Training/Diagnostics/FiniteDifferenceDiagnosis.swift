import Foundation
import Optimizers

/// Section `fd`: is ε right for this model in fp32? For K seeds, the exact directional derivative
/// zᵀ∇L (backprop gradient · regenerated z) against the two-point estimate (L(θ+εz) − L(θ−εz))/2ε
/// over a ladder of ε. The error falls with ε while truncation (O(ε²·z³∇³L)) dominates and rises
/// again when fp32 rounding of L± (≈ |L|·6e-8/ε) takes over; the ε with the smallest median error
/// is the one to use.
public struct FiniteDifferenceResult: Codable, Sendable {
    public var eps: [Double]
    public var seeds: [UInt64]
    /// (K) zᵀ∇L by backprop, per seed.
    public var exact: [Double]
    /// (eps, K) two-point estimates.
    public var estimates: [[Double]]
    /// (eps, K) |estimate − exact| / |exact|.
    public var relativeErrors: [[Double]]
    /// (eps) median over seeds of the relative error.
    public var medianRelativeError: [Double]
    /// The ε with the smallest median relative error.
    public var chosenEps: Double
    public var seconds: Double
}

public enum FiniteDifferenceDiagnosis {
    public static let defaultEps: [Double] = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]

    public static func run(_ probe: DiagnosticProbe, seeds: [UInt64], eps: [Double] = defaultEps) -> FiniteDifferenceResult {
        let started = Date()
        let exact = seeds.map { probe.dot(seed: $0, probe.gradient) }
        var estimates: [[Double]] = []
        for e in eps {
            let ef = Float(e)
            estimates.append(seeds.map { seed in
                // The optimizers' own moves: +ε, −2ε, +ε (MeZO.step's order, restore drift included).
                probe.move(seed: seed, ef)
                let plus = probe.loss()
                probe.move(seed: seed, -2 * ef)
                let minus = probe.loss()
                probe.move(seed: seed, ef)
                return (Double(plus) - Double(minus)) / (2 * Double(ef))
            })
        }
        let errors = estimates.map { row in zip(row, exact).map { abs($0 - $1) / max(abs($1), 1e-30) } }
        let medians = errors.map(median)
        let best = medians.indices.min { medians[$0] < medians[$1] } ?? 0
        return FiniteDifferenceResult(eps: eps, seeds: seeds, exact: exact, estimates: estimates, relativeErrors: errors,
                                      medianRelativeError: medians, chosenEps: eps[best],
                                      seconds: Date().timeIntervalSince(started))
    }
}

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func mean(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }

/// Standard error of the mean.
func standardError(_ values: [Double]) -> Double {
    guard values.count > 1 else { return .nan }
    let m = mean(values)
    let variance = values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count - 1)
    return (variance / Double(values.count)).squareRoot()
}
