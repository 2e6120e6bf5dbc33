import Foundation
import Optimizers
import TestSupport
import Weights
import XCTest

/// Every zeroth-order optimizer, through its real code path (the same classes the trainer uses),
/// on a 40-parameter arena (a 4×8 matrix and an 8-vector) with a loss whose expected update is known
/// in closed form: a diagonal quadratic L(θ) = ½·Σ a_i θ_i² (∇ = a ⊙ θ) or a linear L(θ) = bᵀθ.
/// The two-point difference is exact on both, so each expectation below is exact, not a Taylor
/// approximation.
///
/// Tolerance: the mean of T independent updates (trial t uses seed t) must match the expectation
/// within 5 standard errors in every coordinate (the standard error from the trials' own spread),
/// and the expectation must be clearly non-zero where it should be (so a method that does nothing
/// would fail). The trials are seeded, so the test is deterministic.
final class ZerothOrderQuadraticTests: XCTestCase {
    let specs = [ParameterSpec("w", [4, 8], .matrix), ParameterSpec("b", [8], .bias)]
    let eps: Float = 1e-2, lr: Float = 1e-2

    /// θ0 (uniform in ±[0.2, 1.2], distinct magnitudes) and curvatures a (0.5 … 2).
    func problem() -> (theta: [Float], a: [Float], real: [Bool]) {
        let arena = ParameterArena(specs: specs)
        var rng = SplitMix64(seed: 3)
        var theta = [Float](repeating: 0, count: arena.count), a = theta
        var real = [Bool](repeating: false, count: arena.count)
        for slot in arena.slots {
            for i in slot.offset..<(slot.offset + slot.count) {
                let m = 0.2 + Float(i) / Float(arena.count) + 0.001 * abs(rng.nextFloat())
                theta[i] = rng.nextFloat() < 0 ? -m : m
                a[i] = 0.5 + 1.5 * abs(rng.nextFloat())
                real[i] = true
            }
        }
        return (theta, a, real)
    }

    func quadratic(_ a: [Float]) -> (ParameterArena) -> Float {
        { arena in
            var s = 0.0
            for i in 0..<a.count { s += 0.5 * Double(a[i]) * Double(arena.storage[i]) * Double(arena.storage[i]) }
            return Float(s)
        }
    }

    func linear(_ b: [Float]) -> (ParameterArena) -> Float {
        { arena in
            var s = 0.0
            for i in 0..<b.count { s += Double(b[i]) * Double(arena.storage[i]) }
            return Float(s)
        }
    }

    /// Mean and standard error of θ_after − θ0 over `trials` runs of `steps` steps each, every run
    /// from θ0 with a fresh optimizer.
    /// - Parameter restartIndex: number each run's steps from 0 (zo-adam's bias correction counts
    ///   steps by their index); otherwise steps are numbered across runs (LOZO's V changes with it).
    func meanUpdate(trials: Int, steps: Int = 1, restartIndex: Bool = false, theta0: [Float],
                    loss: @escaping (ParameterArena) -> Float,
                    make: (ParameterArena) -> ZerothOrderOptimizer) -> (mean: [Double], se: [Double]) {
        let n = theta0.count
        var sum = [Double](repeating: 0, count: n), sq = sum
        for t in 0..<trials {
            let arena = ParameterArena(specs: specs)
            for i in 0..<n { arena.storage[i] = theta0[i] }
            let optimizer = make(arena)
            for s in 0..<steps {
                let index = restartIndex ? s : t * steps + s
                let seeds = [SeedSchedule.seed(run: 5, step: t * steps + s, perturbation: 0)]
                _ = optimizer.step(index, seeds: seeds, embeddingRows: nil, lr: lr) { loss(arena) }
            }
            for i in 0..<n {
                let d = Double(arena.storage[i]) - Double(theta0[i])
                sum[i] += d
                sq[i] += d * d
            }
        }
        let mean = sum.map { $0 / Double(trials) }
        let se = (0..<n).map { ((sq[$0] / Double(trials) - mean[$0] * mean[$0]) / Double(trials)).squareRoot() }
        return (mean, se)
    }

    func assertMatches(_ got: (mean: [Double], se: [Double]), _ expected: [Double], _ name: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        var worst = 0.0
        for i in 0..<expected.count {
            let z = abs(got.mean[i] - expected[i]) / max(got.se[i], 1e-9)
            worst = max(worst, z)
            XCTAssertLessThanOrEqual(abs(got.mean[i] - expected[i]), 5 * got.se[i] + 1e-7,
                                     "\(name): element \(i) mean \(got.mean[i]) expected \(expected[i]) (se \(got.se[i]))",
                                     file: file, line: line)
        }
        let norm = expected.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let err = zip(got.mean, expected).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
        print(String(format: "%@: ‖mean − expected‖/‖expected‖ = %.4f, worst |z| = %.2f", name, err / max(norm, 1e-30), worst))
    }

    func core(_ arena: ParameterArena, _ p: Perturbation = .rademacher) -> ZerothOrderCore {
        ZerothOrderCore(arena: arena, eps: eps, perturbation: p, threads: 1)
    }

    /// MeZO: E[−lr·g·z] = −lr·E[zzᵀ]∇ = −lr·∇ (Rademacher and Gaussian).
    func testMeZO() {
        let (theta, a, _) = problem()
        for p in Perturbation.allCases {
            let got = meanUpdate(trials: 16000, theta0: theta, loss: quadratic(a)) {
                MeZO(arena: $0, eps: self.eps, perturbation: p, threads: 1)
            }
            assertMatches(got, (0..<a.count).map { -Double(lr) * Double(a[$0] * theta[$0]) }, "mezo \(p)")
        }
    }

    /// zo-sign with Gaussian z: E[sign(zᵀ∇)·z] = √(2/π)·∇/‖∇‖ (z = (zᵀu)u + w, u = ∇/‖∇‖, w independent).
    func testZOSign() {
        let (theta, a, _) = problem()
        let grad = (0..<a.count).map { Double(a[$0] * theta[$0]) }
        let norm = grad.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let got = meanUpdate(trials: 16000, theta0: theta, loss: quadratic(a)) {
            ZOSign.make(arena: $0, eps: self.eps, perturbation: .gaussian, threads: 1)
        }
        assertMatches(got, grad.map { -Double(lr) * (2 / Double.pi).squareRoot() * $0 / norm }, "zo-sign")
    }

    /// zo-momentum on L = bᵀθ (the gradient b everywhere): after T steps,
    /// E[θ_T − θ0] = −lr·Σ_{t=1..T} (1 − μᵗ)/(1 − μ)·b.
    func testZOMomentum() {
        let (theta, _, real) = problem()
        var rng = SplitMix64(seed: 9)
        let b = real.map { $0 ? rng.nextFloat() : 0 }
        let mu: Float = 0.9, steps = 5
        let factor = (1...steps).reduce(0.0) { $0 + (1 - pow(Double(mu), Double($1))) / (1 - Double(mu)) }
        let got = meanUpdate(trials: 3000, steps: steps, theta0: theta, loss: linear(b)) {
            ZOMomentum(core: self.core($0), momentum: mu)
        }
        assertMatches(got, b.map { -Double(lr) * factor * Double($0) }, "zo-momentum")
    }

    /// zo-adam's first step with Gaussian z: θ1 − θ0 = −lr·ĝ/(|ĝ| + ε) = −lr·sign(g·z_i), and
    /// E[sign(zᵀ∇)·sign(z_i)] = (2/π)·arcsin(∇_i/‖∇‖) (Sheppard's formula for a bivariate normal).
    func testZOAdam() {
        let (theta, a, _) = problem()
        let grad = (0..<a.count).map { Double(a[$0] * theta[$0]) }
        let norm = grad.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let got = meanUpdate(trials: 16000, restartIndex: true, theta0: theta, loss: quadratic(a)) {
            ZOAdam(core: self.core($0, .gaussian), beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        }
        assertMatches(got, grad.map { -Double(lr) * (2 / Double.pi) * asin($0 / norm) }, "zo-adam")
    }

    /// zo-cons with Rademacher z on the quadratic: L(θ − η·g·z) − L0 = −ηg² + ½η²g²·tr(A) (zᵀAz = tr(A)
    /// for ±1 entries), so θ − ηĝ is kept exactly when η·tr(A) < 2 and the step is rejected (θ kept:
    /// θ + ηĝ is worse still) when η·tr(A) > 2. Expected update: −η∇ below, 0 above.
    func testZOConservative() {
        let (theta, a, _) = problem()
        let trace = a.reduce(0) { $0 + Double($1) }
        for (fraction, accepts) in [(0.5, true), (1.5, false)] {
            let eta = Float(fraction * 2 / trace)
            var sum = [Double](repeating: 0, count: a.count)
            let trials = 2000
            for t in 0..<trials {
                let arena = ParameterArena(specs: specs)
                for i in 0..<a.count { arena.storage[i] = theta[i] }
                let cons = ZOConservative(core: core(arena))
                let loss = quadratic(a)
                _ = cons.step(t, seeds: [SeedSchedule.seed(run: 5, step: t, perturbation: 0)], embeddingRows: nil,
                              lr: eta) { loss(arena) }
                for i in 0..<a.count { sum[i] += Double(arena.storage[i]) - Double(theta[i]) }
            }
            let mean = sum.map { $0 / Double(trials) }
            // Every trial takes the same branch, so the mean is −η∇ or 0 up to the spread of g·z.
            let expected = (0..<a.count).map { accepts ? -Double(eta) * Double(a[$0] * theta[$0]) : 0 }
            let scale = expected.map(abs).max()! + Double(eta)
            for i in 0..<a.count {
                XCTAssertEqual(mean[i], expected[i], accuracy: accepts ? 0.1 * scale : 1e-7,
                               "zo-cons η·tr(A) = \(2 * fraction): element \(i)")
            }
            if accepts {
                let got = meanUpdate(trials: 16000, theta0: theta, loss: quadratic(a)) { arena in
                    ZOConservative(core: self.core(arena))
                }
                XCTAssertLessThan(Double(lr) * trace, 2)
                assertMatches(got, (0..<a.count).map { -Double(lr) * Double(a[$0] * theta[$0]) }, "zo-cons")
            }
        }
    }

    /// FZOO with Gaussian z on L = bᵀθ: L_i − L0 = ε·s_i, s_i = z_iᵀb, σ = ε·std(s), so
    /// θ1 − θ0 = −lr·Σ s_i z_i/(N·std(s)) and E = −lr·κ_N·b/‖b‖ with κ_N = E[Σ u_i²/(N·std(u))],
    /// u_i iid N(0, 1) — a one-dimensional expectation, evaluated here over 10⁶ draws.
    func testFZOO() {
        let (theta, _, real) = problem()
        var rng = SplitMix64(seed: 11)
        let b = real.map { $0 ? rng.nextFloat() : 0 }
        let norm = b.reduce(0) { $0 + Double($1 * $1) }.squareRoot()
        let n = 4
        var kappa = 0.0
        let draws = 1_000_000
        for _ in 0..<draws {
            let u = (0..<n).map { _ in Double(rng.normal()) }
            let mean = u.reduce(0, +) / Double(n)
            let std = (u.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)).squareRoot()
            kappa += u.reduce(0) { $0 + $1 * $1 } / (Double(n) * std)
        }
        kappa /= Double(draws)
        let arenaCount = ParameterArena(specs: specs).count
        var sum = [Double](repeating: 0, count: arenaCount), sq = sum
        let trials = 4000
        for t in 0..<trials {
            let arena = ParameterArena(specs: specs)
            for i in 0..<arenaCount { arena.storage[i] = theta[i] }
            let seeds = (0..<n).map { SeedSchedule.seed(run: 5, step: t, perturbation: $0) }
            let loss = linear(b)
            _ = FZOO(core: core(arena, .gaussian)).step(t, seeds: seeds, embeddingRows: nil, lr: lr) { loss(arena) }
            for i in 0..<arenaCount {
                let d = Double(arena.storage[i]) - Double(theta[i])
                sum[i] += d
                sq[i] += d * d
            }
        }
        let mean = sum.map { $0 / Double(trials) }
        let se = (0..<arenaCount).map { ((sq[$0] / Double(trials) - mean[$0] * mean[$0]) / Double(trials)).squareRoot() }
        print(String(format: "fzoo: κ_4 = %.4f", kappa))
        assertMatches((mean, se), b.map { -Double(lr) * kappa * Double($0) / norm }, "fzoo")
    }

    /// HiZOO with Gaussian z from a non-uniform Σ0 (s_i = 0.25 or 4, alternating), against the
    /// reference's convention: Yanjun-Zhao/HiZOO at commit 4f99055, trainer.py,
    /// `efficient_Hessian_perturb_parameters` (lines 475-480: θ + ε·z/√Σ) and `zo_Hessian_step_update`
    /// (lines 482-513: Σ ← (1 − α)·Σ + α·|L+ + L− − 2L0|/(2ε²)·Σ·z², then θ −= lr·g·z/√Σ with the new Σ).
    /// On the diagonal quadratic with u = ε·z/√s: g = Σ_j a_j·θ_j·z_j/√s_j and
    /// |L+ + L− − 2L0|/(2ε²) = c = ½·Σ_j a_j·z_j²/s_j, exactly.
    /// (1) α = 0 (Σ stays s): E[θ1 − θ0]_i = −lr·a_i·θ_i/s_i, the preconditioner Σ⁻¹. The √Σ
    ///     convention (θ + ε·z·√Σ) would give −lr·s_i·a_i·θ_i: 16 times larger or smaller here.
    /// (2) α = 0.5: E[Σ1_i] = s_i·(1 − α + α·E[c·z_i²]) = s_i·(1 − α + α/2·(Σ_j a_j/s_j + 2·a_i/s_i))
    ///     (E[z⁴] = 3, E[z_i²·z_j²] = 1 for i ≠ j).
    func testHiZOO() {
        let (theta, a, _) = problem()
        let start = (0..<a.count).map { $0 % 2 == 0 ? 0.25 : 4 as Float }
        func make(_ arena: ParameterArena, _ alpha: Float) -> HiZOO {
            let h = HiZOO(core: core(arena, .gaussian), smoothing: alpha)
            for i in 0..<start.count { h.hessian.storage[i] = start[i] }
            return h
        }
        let got = meanUpdate(trials: 16000, theta0: theta, loss: quadratic(a)) { make($0, 0) }
        assertMatches(got, (0..<a.count).map { -Double(lr) * Double(a[$0] * theta[$0]) / Double(start[$0]) }, "hizoo update, α = 0")

        let alpha = 0.5, trials = 8000
        let trace = (0..<a.count).reduce(0.0) { $0 + Double(a[$1]) / Double(start[$1]) }
        var sum = [Double](repeating: 0, count: a.count), sq = sum
        for t in 0..<trials {
            let arena = ParameterArena(specs: specs)
            for i in 0..<a.count { arena.storage[i] = theta[i] }
            let h = make(arena, Float(alpha))
            let loss = quadratic(a)
            _ = h.step(t, seeds: [SeedSchedule.seed(run: 6, step: t, perturbation: 0)], embeddingRows: nil, lr: lr) { loss(arena) }
            for i in 0..<a.count {
                sum[i] += Double(h.hessian.storage[i])
                sq[i] += Double(h.hessian.storage[i]) * Double(h.hessian.storage[i])
            }
        }
        let mean = sum.map { $0 / Double(trials) }
        let se = (0..<a.count).map { ((sq[$0] / Double(trials) - mean[$0] * mean[$0]) / Double(trials)).squareRoot() }
        let expected = (0..<a.count).map { i in
            Double(start[i]) * (1 - alpha + alpha / 2 * (trace + 2 * Double(a[i]) / Double(start[i])))
        }
        assertMatches((mean, se), expected, "hizoo Σ1, α = 0.5")
    }

    /// LOZO (ν = 1, so V is new every trial): for the matrix, E_U[Z·⟨Z, G⟩] = G·V·Vᵀ and E[V·Vᵀ] =
    /// r·I, so E[θ1 − θ0] = −lr·r·∇ on W; the vector gets plain z: −lr·∇.
    func testLOZO() {
        let (theta, a, _) = problem()
        let rank = 2
        let arena = ParameterArena(specs: specs)
        let matrix = arena.slot("w")!
        let got = meanUpdate(trials: 6000, theta0: theta, loss: quadratic(a)) {
            LOZO(core: self.core($0), rank: rank, interval: 1, subspaceSeed: 77)
        }
        let expected = (0..<a.count).map { i -> Double in
            let inMatrix = i >= matrix.offset && i < matrix.offset + matrix.count
            return -Double(lr) * (inMatrix ? Double(rank) : 1) * Double(a[i] * theta[i])
        }
        assertMatches(got, expected, "lozo")
    }

    /// Sparse MeZO with quantile 0.5: the mask is |θ0_i| ≤ the 0.5-quantile of its slot (slots of at
    /// most 4,096 elements are sampled whole: the element at index ⌊0.5·(n − 1)⌋ of the sorted |θ|),
    /// and E[θ1 − θ0] = −lr·m ⊙ ∇.
    func testSparseMeZO() {
        let (theta, a, real) = problem()
        let arena = ParameterArena(specs: specs)
        var mask = [Bool](repeating: false, count: a.count)
        for slot in arena.slots {
            let mags = (slot.offset..<(slot.offset + slot.count)).map { abs(theta[$0]) }.sorted()
            let h = mags[Int(0.5 * Float(mags.count - 1))]
            for i in slot.offset..<(slot.offset + slot.count) { mask[i] = abs(theta[i]) <= h }
        }
        XCTAssertEqual(mask.filter { $0 }.count, 4 * 4 + 4, "half of each slot (rounded down) is perturbed")
        let got = meanUpdate(trials: 16000, theta0: theta, loss: quadratic(a)) {
            SparseMeZO(core: self.core($0), quantile: 0.5)
        }
        assertMatches(got, (0..<a.count).map { mask[$0] && real[$0] ? -Double(lr) * Double(a[$0] * theta[$0]) : 0 }, "sparse-mezo")
    }
}
