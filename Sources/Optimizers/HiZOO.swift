import Weights

/// HiZOO (Zhao et al. 2025, "Second-order fine-tuning without pain penalties: zeroth-order
/// optimization with Hessian-informed preconditioning", ICLR): a diagonal Hessian estimate Σ
/// (initialised to 1) scales the perturbation by Σ^(−1/2) and the step likewise
/// (Yanjun-Zhao/HiZOO at commit 4f99055, trainer.py: `efficient_Hessian_perturb_parameters`, lines
/// 475-480, perturbs by `scaling_factor / torch.sqrt(Hessian_matrix) * z * zo_eps`; `zo_Hessian_step_update`,
/// lines 482-513, updates Σ, then steps by `(loss1 - loss2)/(2·eps) · z / torch.sqrt(Hessian_matrix)`: Σ^(−1/2)
/// in both, the convention pinned by ZerothOrderQuadraticTests.testHiZOO with Gaussian z and a non-uniform Σ):
///
///     L0 = L(θ);  L± = L(θ ± ε·z/√Σ)
///     Σ ← (1 − α)·Σ + α·|L+ + L− − 2·L0|/(2ε²) · Σ·z²
///     θ ← θ − lr·(L+ − L−)/(2ε) · z/√Σ        (with the updated Σ, as the reference)
///
/// 3 forward passes per step; Σ is one arena (+1× the weights, tag `optimizer`), snapshotted beside
/// `weights-last`. α is `--hessian-smooth` (the reference's README example: 1e-8).
///
/// Differences from the reference: Σ is updated only where the step perturbed (with
/// `--embedding-perturbation batch`, the rows of other tokens keep theirs; the reference perturbs
/// every row). With Rademacher z, z² = 1 and Σ's update is the same factor for every element: the
/// estimate stays a multiple of its start, so HiZOO runs default to Gaussian z (`train` picks it
/// unless --perturbation is given). q > 1 is not supported (the reference has one probe).
public final class HiZOO: ZerothOrderOptimizer {
    public let core: ZerothOrderCore
    public let smoothing: Float
    public let hessian: ParameterArena   // (arena layout) the diagonal estimate Σ, starts at 1
    public var arena: ParameterArena { core.arena }
    public var state: [String: ParameterArena] { ["hessian": hessian] }

    public init(core: ZerothOrderCore, smoothing: Float) {
        self.core = core
        self.smoothing = smoothing
        hessian = core.arena.sameLayout(tag: .optimizer)
        hessian.storage.update(repeating: 1, count: hessian.count)
    }

    /// θ += scale·z/√Σ on the region.
    func perturb(_ seed: UInt64, _ scale: Float, _ region: [Range<Int>]) {
        let theta = arena.storage, h = hessian.storage
        NoiseSweep.forEach(count: arena.count, region: region, everywhere: false, seeds: [seed],
                           perturbation: core.perturbation, threads: core.threads) { lo, hi, z in
            let z0 = z[0] - lo   // indexed by absolute element
            for i in lo..<hi { theta[i] = theta[i].addingProduct(scale / h[i].squareRoot(), z0[i]) }
        }
    }

    public func step(_ index: Int, seeds: [UInt64], embeddingRows: [Int32]?, lr: Float,
                     loss: () throws -> Float) rethrows -> MeZOStep {
        precondition(seeds.count == 1, "HiZOO takes one perturbation per step")
        let seed = seeds[0], eps = core.eps
        let region = core.region(embeddingRows)
        let l0 = try loss()
        let (plus, minus, probesFinite) = try core.twoPoint(seeds, region, loss, move: perturb)
        let (lp, lm) = (plus[0], minus[0])
        let finite = l0.isFinite && probesFinite
        let g = finite ? core.projected(lp, lm) : 0
        if finite {
            let curvature = Float(abs(Double(lp) + Double(lm) - 2 * Double(l0)) / (2 * Double(eps) * Double(eps)))
            let alpha = smoothing, theta = arena.storage, h = hessian.storage
            NoiseSweep.forEach(count: arena.count, region: region, everywhere: false, seeds: [seed],
                               perturbation: core.perturbation, threads: core.threads) { lo, hi, z in
                let z0 = z[0] - lo
                for i in lo..<hi {
                    let zi = z0[i]
                    let hi2 = (1 - alpha) * h[i] + alpha * curvature * h[i] * zi * zi
                    h[i] = hi2
                    theta[i] = theta[i].addingProduct(-lr * g / hi2.squareRoot(), zi)
                }
            }
        }
        var record = MeZOStep(step: index, seeds: seeds, projectedGradients: [g], lr: lr, lossPlus: [lp], lossMinus: [lm],
                              skipped: !finite, embeddingRows: embeddingRows, losses: [l0, lp, lm])
        record.loss0 = l0
        return record
    }

    public func replay(_ record: MeZOStep) throws { try replayByStepping(record) }
}
