import Foundation
import Models
import Optimizers
import Tensors
import TestSupport
import XCTest

/// 10,000 MeZO steps at lr 0 on the tiny Gemma fixture: the in-place perturb/restore passes must
/// stay within the rounding bound of MeZOTests.testRestoreDriftWithZeroLearningRate
/// (3n·ulp(|θ| + 2ε·max|z|)/2 per element) over a long run, not only over 1,000 steps. The
/// bound grows with n while the drift is a random walk (≈ √n), so the measured fraction falls.
final class LongRunDriftTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testTenThousandStepsStayWithinTheRoundingBound() throws {
        let steps = 10_000
        for (perturbation, zMax) in [(Perturbation.rademacher, Float(1)), (.gaussian, 6.7)] {
            let model = try ModelLoader.loadDecoder(directory: Repo.fixture("tiny-gemma3"), maxPositions: 64)
            let base = Array(UnsafeBufferPointer(start: model.arena.storage, count: model.arena.count))   // (arena.count)
            let mezo = MeZO(arena: model.arena, eps: 1e-3, perturbation: perturbation, threads: 2)
            for step in 0..<steps {
                _ = mezo.step(step, seeds: [SeedSchedule.seed(run: 11, step: step, perturbation: 0)], lr: 0) { 1 }
            }
            var worst: Float = 0, worstOverBound: Float = 0, moved = 0
            for i in 0..<model.arena.count {
                let drift = abs(model.arena.storage[i] - base[i])
                let bound = 3 * Float(steps) * (abs(base[i]) + 2e-3 * zMax).ulp / 2
                worst = max(worst, drift)
                worstOverBound = max(worstOverBound, drift / bound)
                if drift > 0 { moved += 1 }
                XCTAssertLessThanOrEqual(drift, bound, "\(perturbation): element \(i)")
            }
            print("restore drift (\(perturbation) z) after \(steps) steps at lr 0: max |Δθ| = \(worst), "
                  + "max Δ/bound = \(worstOverBound), \(moved) of \(model.arena.count) elements off their bits")
        }
    }
}
