import Foundation
import Optimizers
import Weights

/// The zeroth-order optimizers as the training loop, `profile` and `train --help` see them: how to
/// build each from a run's configuration, its paper, its forward passes per step and the memory it
/// adds to inference. The loop itself never switches on the name (docs/ARCHITECTURE.md).
public enum ZerothOrderMethods {
    /// The optimizer of `config` over `arena`.
    public static func make(_ config: TrainingConfig, arena: ParameterArena, threads: Int) -> ZerothOrderOptimizer {
        let core = ZerothOrderCore(arena: arena, eps: config.eps, perturbation: config.perturbation, threads: threads)
        switch config.optimizer {
        case .mezo:
            return MeZO(arena: arena, eps: config.eps, weightDecay: config.weightDecay, perturbation: config.perturbation,
                        threads: threads)
        case .zoSign:
            return ZOSign.make(arena: arena, eps: config.eps, weightDecay: config.weightDecay,
                               perturbation: config.perturbation, threads: threads)
        case .zoMomentum: return ZOMomentum(core: core, momentum: config.beta1)
        case .zoAdam: return ZOAdam(core: core, beta1: config.beta1, beta2: config.beta2, epsilon: config.adamEpsilon)
        case .zoCons: return ZOConservative(core: core)
        case .fzoo: return FZOO(core: core)
        case .hizoo: return HiZOO(core: core, smoothing: config.hessianSmooth)
        case .lozo:
            return LOZO(core: core, rank: config.lozoRank, interval: config.lozoInterval,
                        subspaceSeed: config.seed ^ 0x4C4F_5A4F_5355_4253)
        case .sparseMezo: return SparseMeZO(core: core, quantile: config.sparseQuantile)
        case .sgd, .adamw: preconditionFailure("\(config.optimizer.rawValue) is a backprop optimizer")
        }
    }

    /// Default lr of the methods beyond MeZO (SST-2, Gemma-3-270M, batch 16; see README's comparison).
    static func defaultLR(_ o: TrainingConfig.Optimizer) -> Float {
        switch o {
        // MeZO's step per element is lr·|g| with |g| ~ 30 typical on Gemma's SST-2 batches (the
        // log's g), i.e. ~6e-5: zo-sign and zo-adam move each element by ~lr, FZOO by ~lr/√N.
        case .zoSign: return 2e-5
        case .zoMomentum: return 2e-7    // MeZO's 2e-6 × (1 − μ): the same step once the buffer is full
        case .zoAdam: return 2e-5
        case .fzoo: return 5e-5          // (the reference's fzoo.sh: 1e-5 on OPT)
        case .lozo: return 1e-6          // E[ZZᵀ] = r·I: MeZO's step at lr·r
        default: return 2e-6             // zo-cons, hizoo (Σ starts at 1), sparse-mezo: MeZO's
        }
    }

    /// The paper (and reference code) of each method, for `train --help`.
    public static let papers: [(TrainingConfig.Optimizer, String)] = [
        (.mezo, "MeZO: Malladi et al. 2023, Fine-tuning language models with just forward passes (princeton-nlp/MeZO)"),
        (.zoSign, "ZO-SignSGD: Liu et al. 2019; as in ZO-Bench, Zhang et al. 2024 (ZO-Bench/ZO-LLM)"),
        (.zoMomentum, "ZO-SGD with momentum: ZO-Bench, Zhang et al. 2024 (+1x weights: the momentum buffer)"),
        (.zoAdam, "ZO-Adam (ZO-AdaMM, Chen et al. 2019): ZO-Bench, Zhang et al. 2024 (+2x weights: two moments)"),
        (.zoCons, "ZO-SGD-Cons: ZO-Bench, Zhang et al. 2024 (keeps the best of θ, θ-lr·ĝ, θ+lr·ĝ; 2q+3 forwards)"),
        (.fzoo, "FZOO: Dang et al. 2025 (DKmiyan/FZOO; N one-sided Rademacher probes, step / σ; N+1 forwards)"),
        (.hizoo, "HiZOO: Zhao et al. 2025, ICLR (Yanjun-Zhao/HiZOO; diagonal Hessian, +1x weights; 3 forwards; Gaussian z unless --perturbation is given: with ±1 entries z² = 1 and the diagonal would stay a scalar)"),
        (.lozo, "LOZO: Chen et al. 2025, ICLR (optsuite/LOZO; low-rank U·Vᵀ perturbations, V kept ν steps)"),
        (.sparseMezo, "Sparse MeZO: Liu et al. 2024, arXiv:2402.15751 (small-magnitude weights only; +1 bit per weight)"),
    ]

    /// Forward passes of one step with q perturbations (the comparison's budget unit).
    public static func forwardsPerStep(_ o: TrainingConfig.Optimizer, perturbations q: Int) -> Int {
        switch o {
        case .zoCons: return 2 * q + 3
        case .fzoo: return q + 1
        case .hizoo: return 3
        case .lozo: return 2
        default: return 2 * q
        }
    }

    /// Bytes of optimizer state beyond inference, for an arena of `count` floats (tag `optimizer`).
    public static func stateBytes(_ o: TrainingConfig.Optimizer, arenaCount count: Int) -> Int {
        let arena = count * MemoryLayout<Float>.size
        switch o {
        case .zoMomentum, .hizoo: return arena
        case .zoAdam: return 2 * arena
        case .sparseMezo: return SparseMeZO.maskBytes(count: count)
        default: return 0
        }
    }

    /// Whether the method keeps state beyond the seed log (snapshotted as optimizer-last).
    public static func hasState(_ o: TrainingConfig.Optimizer) -> Bool { [.zoMomentum, .zoAdam, .hizoo].contains(o) }

    /// The methods `--lr auto` applies to: those whose update is −lr·g·z with g the two-point
    /// estimate along the perturbation, so the stability limit of `AutoLearningRate` is theirs
    /// (Sparse MeZO: along z ⊙ m, whose curvature is what the probes measure).
    public static let autoLR: Set<TrainingConfig.Optimizer> = [.mezo, .sparseMezo, .zoCons]
}
