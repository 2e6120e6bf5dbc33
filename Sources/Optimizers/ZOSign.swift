import Weights

/// How the projected gradient g = (L+ − L−)/2ε enters MeZO's update θ −= lr·c(g)·z.
///
/// `sign` is ZO-SignSGD (Liu et al. 2019, "signSGD via zeroth-order oracle"), as ZO-Bench runs it
/// (ZO-Bench/ZO-LLM, zo-bench/trainer.py, `ZOTrainer.zo_step`, branch `args.trainer == "zo_sign_opt"`:
/// `graddiff_times_z = np.sign(self.projected_grad) * z`, then an SGD step at lr). So a zo-sign
/// step moves every perturbed element by exactly ±lr·|z|: the step length no longer grows with the
/// loss difference, which is what makes it robust to an occasional huge L+ − L−, and why its lr is
/// much smaller than MeZO's. Differences from ZO-Bench: with q > 1 perturbations we average
/// sign(g_k)·z_k over k (ZO-Bench asserts q = 1); z is Rademacher by default (`Perturbation`).
/// The log keeps the raw g, so replay applies the same rule to the same numbers.
public enum ProjectedGradientRule: String, Codable, Sendable {
    /// c(g) = g: MeZO.
    case value
    /// c(g) = sign(g) (0 stays 0, a skipped step has g = 0): zo-sign.
    case sign

    @inline(__always)
    public func coefficient(_ g: Float) -> Float {
        switch self {
        case .value: return g
        case .sign: return g > 0 ? 1 : (g < 0 ? -1 : 0)
        }
    }
}

/// zo-sign: MeZO with `ProjectedGradientRule.sign` (same passes, same fused restore-and-update,
/// same seed-log replay; no state).
public enum ZOSign {
    public static func make(arena: ParameterArena, eps: Float, weightDecay: Float = 0, perturbation: Perturbation,
                            threads: Int) -> MeZO {
        MeZO(arena: arena, eps: eps, weightDecay: weightDecay, perturbation: perturbation, rule: .sign, threads: threads)
    }
}
