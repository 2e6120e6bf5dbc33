@testable import Optimizers
import Training
import XCTest

/// `--lr auto`'s bookkeeping: lr 0 while warming up, then fraction × 2q / mean|zᵀHz| from the
/// records measured so far, and the same estimate rebuilt from the log's records alone (resume).
final class AutoLearningRateTests: XCTestCase {
    func record(_ step: Int, curvature: Float?) -> MeZOStep {
        var r = MeZOStep(step: step, seeds: [1], projectedGradients: [0], lr: 0, lossPlus: [1], lossMinus: [1],
                         skipped: false, embeddingRows: nil)
        r.curvature = curvature
        return r
    }

    func testWarmupThenFractionOfTheLimit() {
        var settings = TrainingConfig.AutoLR()
        settings.fraction = 0.5
        settings.warmup = 3
        settings.every = 4
        var auto = AutoLearningRate(settings: settings, perturbations: 2, eps: 1e-3)
        XCTAssertEqual((0..<12).filter(auto.measures), [0, 1, 2, 3, 7, 11])
        // zᵀHz = (L+ + L− − 2·L0)/ε²: (1.002 + 1.004 − 2)/1e-6 ≈ 6,000 and (1.001 + 1.001 − 2)/1e-6 ≈ 2,000.
        XCTAssertEqual(Double(auto.curvature(plus: [1.002, 1.001], minus: [1.004, 1.001], l0: 1)!), 4000, accuracy: 1)
        var log: [MeZOStep] = []
        for (step, c) in [(0, Float(1000)), (1, -3000), (2, 2000)] {
            XCTAssertEqual(auto.lr(at: step), 0, "warm-up")
            let r = record(step, curvature: c)
            auto.observe(r)
            log.append(r)
        }
        // mean |zᵀHz| = 2,000; limit 2q/tr = 4/2000; lr = 0.5 × that.
        XCTAssertEqual(Double(auto.lr(at: 3)), 0.5 * 4 / 2000, accuracy: 1e-9)
        var resumed = AutoLearningRate(settings: settings, perturbations: 2, eps: 1e-3)
        for r in log + [record(3, curvature: nil)] { resumed.observe(r) }
        XCTAssertEqual(resumed.lr(at: 4), auto.lr(at: 4))
        XCTAssertEqual(resumed.trace, 2000)
    }
}
