import Foundation
import Optimizers
import TestSupport
import Weights
import XCTest

/// `--lr auto`'s stability limit checked on MeZO itself (the class the trainer runs, Rademacher z,
/// q = 1, ε = 1e-3: the two-point difference is exact on a quadratic). For H = diag(λ) and
/// Rademacher z with q = 1 the mean-square condition Σ ηλ_i/(q(2 − (1 − 1/q)ηλ_i)) < 1 is exactly
/// η < 2/tr(H) (docs/lr-auto.md). At 0.9× that limit the mean of ‖θ‖² over 200 runs must fall
/// between step 150 and step 300, at 1.1× it must grow: the measured threshold is within 10%.
/// (tools/experiments/zo_stability.py bisects the threshold for Gaussian z, q = 4 and other spectra.)
final class ZerothOrderStabilityTests: XCTestCase {
    func meanSquareGrowth(lambda: [Float], eta: Float, runs: Int = 200, steps: Int = 300) -> Double {
        let d = lambda.count
        var atHalf = 0.0, atEnd = 0.0
        for run in 0..<runs {
            let arena = ParameterArena(specs: [ParameterSpec("theta", [d], .matrix)])
            for i in 0..<d { arena.storage[i] = 1 }
            let mezo = MeZO(arena: arena, eps: 1e-3, perturbation: .rademacher, threads: 1)
            let loss = { () -> Float in
                var s = 0.0
                for i in 0..<d { s += 0.5 * Double(lambda[i]) * Double(arena.storage[i]) * Double(arena.storage[i]) }
                return Float(s)
            }
            for t in 0..<steps {
                _ = mezo.step(t, seeds: [SeedSchedule.seed(run: UInt64(run), step: t, perturbation: 0)], lr: eta, loss: loss)
                if t == steps / 2 - 1 || t == steps - 1 {
                    let norm = (0..<d).reduce(0.0) { $0 + Double(arena.storage[$1]) * Double(arena.storage[$1]) }
                    if t == steps - 1 { atEnd += norm } else { atHalf += norm }
                }
            }
        }
        return log(atEnd / atHalf)
    }

    func testDivergenceThresholdIsTwoOverTrace() {
        // A spread spectrum (λ = 0.2 … 2), so tr(H) and λmax differ by 10×.
        let lambda = (0..<20).map { Float(0.2 + 1.8 * Double($0) / 19) }
        let limit = 2 / lambda.reduce(0, +)
        let below = meanSquareGrowth(lambda: lambda, eta: 0.9 * limit)
        let above = meanSquareGrowth(lambda: lambda, eta: 1.1 * limit)
        print(String(format: "log E‖θ‖² from step 150 to 300: %.3f at 0.9× 2/tr(H), %.3f at 1.1×", below, above))
        XCTAssertLessThan(below, 0, "0.9× the limit must be mean-square stable")
        XCTAssertGreaterThan(above, 0, "1.1× the limit must diverge in mean square")
    }
}
