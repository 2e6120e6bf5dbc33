import Optimizers

/// Every optimizer `train` offers, one line each: the table the training loop, replay, `profile`'s
/// memory plan, `train --help` and the flag checks are derived from (docs/optimizer-registry.md,
/// "Adding an optimizer"). The loop never switches on a name.
public enum OptimizerRegistry {
    /// Zeroth-order: forward passes only, the seed log replays them. Default lrs: the best of each
    /// method's grid on SST-2 with Gemma-3-270M, batch 16 (README's comparison), made at 500–1,000
    /// steps, where MeZO's best was 2e-6. MeZO's is measured per run length (`LRByLength.mezo`,
    /// docs/long-horizon.md); its 1e-6 here is that rule's value at the default 3,000 steps.
    /// At 2e-6 MeZO's step per element is lr·|g| with |g| ~ 30 on Gemma's SST-2 batches, i.e. ~6e-5:
    /// zo-sign and zo-adam move each element by ~lr, FZOO by ~lr/√N; zo-momentum's 2e-7 is
    /// 2e-6 × (1 − μ), the same step once the buffer is full; LOZO's E[ZZᵀ] = r·I makes its step
    /// MeZO's at lr·r.
    public static let zerothOrder: [ZerothOrderSpec] = [
        ZerothOrderSpec("mezo", paper: "MeZO: Malladi et al. 2023, Fine-tuning language models with just forward passes (princeton-nlp/MeZO)",
                        lr: 1e-6, lrByLength: .mezo, settings: [.weightDecay], autoLR: true, bf16Weights: true) { c, core in
            MeZO(arena: core.arena, eps: c.eps, weightDecay: c.weightDecay, perturbation: c.perturbation, threads: core.threads)
        },
        ZerothOrderSpec("zo-sign", paper: "ZO-SignSGD: Liu et al. 2019; as in ZO-Bench, Zhang et al. 2024 (ZO-Bench/ZO-LLM)",
                        lr: 2e-5, settings: [.weightDecay], bf16Weights: true) { c, core in
            ZOSign.make(arena: core.arena, eps: c.eps, weightDecay: c.weightDecay, perturbation: c.perturbation, threads: core.threads)
        },
        ZerothOrderSpec("zo-momentum", paper: "ZO-SGD with momentum: ZO-Bench, Zhang et al. 2024 (+1x weights: the momentum buffer)",
                        lr: 2e-7, stateArenas: 1, settings: [.momentum, .beta1]) { c, core in ZOMomentum(core: core, momentum: c.beta1) },
        ZerothOrderSpec("zo-adam", paper: "ZO-Adam (ZO-AdaMM, Chen et al. 2019): ZO-Bench, Zhang et al. 2024 (+2x weights: two moments)",
                        lr: 2e-5, stateArenas: 2, settings: [.beta1, .beta2]) { c, core in
            ZOAdam(core: core, beta1: c.beta1, beta2: c.beta2, epsilon: c.adamEpsilon)
        },
        ZerothOrderSpec("zo-cons", paper: "ZO-SGD-Cons: ZO-Bench, Zhang et al. 2024 (keeps the best of θ, θ-lr·ĝ, θ+lr·ĝ; 2q+3 forwards)",
                        lr: 2e-6, forwards: { 2 * $0 + 3 }, autoLR: true) { _, core in ZOConservative(core: core) },
        ZerothOrderSpec("fzoo", paper: "FZOO: Dang et al. 2025 (DKmiyan/FZOO; N one-sided Rademacher probes, step / σ; N+1 forwards)",
                        lr: 5e-5, perturbations: 2...Int.max, defaultPerturbations: 8, forwards: { $0 + 1 }) { _, core in FZOO(core: core) },
        ZerothOrderSpec("hizoo", paper: "HiZOO: Zhao et al. 2025, ICLR (Yanjun-Zhao/HiZOO; diagonal Hessian, +1x weights; 3 forwards; Gaussian z unless --perturbation is given: with ±1 entries z² = 1 and the diagonal would stay a scalar)",
                        lr: 2e-6, perturbations: 1...1, defaultPerturbation: .gaussian, forwards: { _ in 3 }, stateArenas: 1,
                        settings: [.hessianSmooth]) { c, core in HiZOO(core: core, smoothing: c.hessianSmooth) },
        ZerothOrderSpec("lozo", paper: "LOZO: Chen et al. 2025, ICLR (optsuite/LOZO; low-rank U·Vᵀ perturbations, V kept ν steps)",
                        lr: 1e-6, perturbations: 1...1, forwards: { _ in 2 }, settings: [.lozoRank, .lozoInterval]) { c, core in
            LOZO(core: core, rank: c.lozoRank, interval: c.lozoInterval, subspaceSeed: c.seed ^ 0x4C4F_5A4F_5355_4253)
        },
        ZerothOrderSpec("sparse-mezo", paper: "Sparse MeZO: Liu et al. 2024, arXiv:2402.15751 (small-magnitude weights only; +1 bit per weight)",
                        lr: 2e-6, scratchBytes: { SparseMeZO.maskBytes(count: $0) }, settings: [.sparseQuantile], autoLR: true) { c, core in
            SparseMeZO(core: core, quantile: c.sparseQuantile)
        },
    ]

    /// Backprop: the reference the zeroth-order methods are measured against (MeZO paper's AdamW lr 1e-5).
    public static let firstOrder: [FirstOrderSpec] = [
        FirstOrderSpec("sgd", paper: "SGD without momentum (θ −= lr·∇L; --weight-decay as L2)", lr: 1e-4,
                       settings: [.weightDecay]) { c, arena in SGD(arena: arena, weightDecay: c.weightDecay) },
        FirstOrderSpec("adamw", paper: "AdamW: Loshchilov & Hutter 2019, PyTorch's torch.optim.AdamW", lr: 1e-5, stateArenas: 2,
                       settings: [.weightDecay, .beta1, .beta2]) { c, arena in
            AdamW(arena: arena, beta1: c.beta1, beta2: c.beta2, epsilon: c.adamEpsilon, weightDecay: c.weightDecay)
        },
    ]

    /// Every name, zeroth-order first (`--optimizer`'s values).
    public static let names: [String] = zerothOrder.map(\.name) + firstOrder.map(\.name)

    static let families: [String: OptimizerFamily] = Dictionary(uniqueKeysWithValues:
        zerothOrder.map { ($0.name, OptimizerFamily.zerothOrder($0)) } + firstOrder.map { ($0.name, OptimizerFamily.firstOrder($0)) })

    /// The spec of a registered name (`Optimizer` holds registered names only).
    static func family(of o: TrainingConfig.Optimizer) -> OptimizerFamily { families[o.rawValue]! }

    /// The optimizers that take `setting`, for messages ("applies to --optimizer lozo, not mezo").
    public static func owners(of setting: OptimizerSetting) -> [String] {
        names.filter { families[$0]!.settings.contains(setting) }
    }
}
