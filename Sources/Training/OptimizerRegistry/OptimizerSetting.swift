/// One numeric optimizer setting: its flag, its key in run.json and `--config` files, its range
/// (`SettingRule`, the one check for all three), and where a run's configuration keeps it. Which
/// optimizers own it is said by their specs (`ZerothOrderSpec.settings`, `FirstOrderSpec.settings`,
/// and each family's `familySettings`), so the flag tables of `train` are derived from those.
public struct OptimizerSetting: Sendable, Hashable {
    /// The flag without dashes ("lozo-interval"); a `--config` file may also spell it "lozo_interval".
    public let flag: String
    /// run.json's key in its `config` object.
    public let key: String
    public let rule: SettingRule
    /// A value any optimizer accepts (weight decay 0: "no decay" is every optimizer's setting).
    public let neutral: Double?
    /// The value a run's configuration holds for it, nil when unset.
    public let saved: @Sendable (TrainingConfig) -> Double?
    /// Sets it in a new run's configuration.
    public let write: @Sendable (inout TrainingConfig, Double) -> Void

    /// `--flag`.
    public var option: String { "--" + flag }

    public static func == (a: OptimizerSetting, b: OptimizerSetting) -> Bool { a.flag == b.flag }
    public func hash(into h: inout Hasher) { h.combine(flag) }

    /// Why `value` is refused, naming the flag ("--lozo-interval must be at least 1, not 0").
    public func flagProblem(_ value: Double?) -> String? { value.flatMap(rule.problem).map { "\(option) \($0)" } }

    /// Throws naming the file and key when `value` is refused.
    public func check(_ value: Double?, file: String, key: String? = nil) throws {
        if let value, let why = rule.problem(value) { throw SettingError(file: file, key: key ?? self.key, why) }
    }
}

extension OptimizerSetting {
    static func float(_ flag: String, key: String, _ rule: SettingRule, neutral: Double? = nil,
                      _ path: WritableKeyPath<TrainingConfig, Float>) -> OptimizerSetting {
        OptimizerSetting(flag: flag, key: key, rule: rule, neutral: neutral,
                         saved: { Double($0[keyPath: path]) }, write: { $0[keyPath: path] = Float($1) })
    }

    static func count(_ flag: String, key: String, _ rule: SettingRule,
                      _ path: WritableKeyPath<TrainingConfig, Int>) -> OptimizerSetting {
        OptimizerSetting(flag: flag, key: key, rule: rule, neutral: nil,
                         saved: { Double($0[keyPath: path]) }, write: { $0[keyPath: path] = Int($1) })
    }

    // The settings (one line each; the optimizers that own them are named in OptimizerRegistry).
    public static let lr = float("lr", key: "lr", .nonNegative, \.lr)
    public static let eps = float("eps", key: "eps", .positive, \.eps)
    public static let perturbations = count("perturbations", key: "perturbations", .count(atLeast: 1, atMost: 1_000_000), \.perturbations)
    public static let weightDecay = float("weight-decay", key: "weight_decay", .nonNegative, neutral: 0, \.weightDecay)
    public static let beta1 = float("beta1", key: "beta1", .decayRate, \.beta1)
    public static let beta2 = float("beta2", key: "beta2", .decayRate, \.beta2)
    /// zo-momentum's μ, kept in run.json's `beta1` (the slot PyTorch's SGD momentum and Adam's β1 share).
    public static let momentum = OptimizerSetting(
        flag: "momentum", key: "beta1", rule: .decayRate, neutral: nil,
        saved: { $0.optimizer == .zoMomentum ? Double($0.beta1) : nil }, write: { $0.beta1 = Float($1) })
    public static let hessianSmooth = float("hessian-smooth", key: "hessian_smooth", .decayRate, \.hessianSmooth)
    public static let lozoRank = count("lozo-rank", key: "lozo_rank", .count(atLeast: 1, atMost: 65_536), \.lozoRank)
    public static let lozoInterval = count("lozo-interval", key: "lozo_interval", .count(atLeast: 1, atMost: 1_000_000_000), \.lozoInterval)
    public static let sparseQuantile = float("sparse-quantile", key: "sparse_quantile", .fraction, \.sparseQuantile)
    public static let maxGradNorm = OptimizerSetting(
        flag: "max-grad-norm", key: "max_grad_norm", rule: .positive, neutral: nil,
        saved: { $0.maxGradNorm.map(Double.init) }, write: { $0.maxGradNorm = Float($1) })
    /// `--lr auto`'s fraction of the stability limit (run.json: `lr_auto.fraction`).
    public static let autoFraction = OptimizerSetting(
        flag: "auto-fraction", key: "lr_auto.fraction", rule: .positive, neutral: nil,
        saved: { $0.lrAuto.map { Double($0.fraction) } }, write: { $0.lrAuto?.fraction = Float($1) })
    /// Adam's denominator ε: run.json only (PyTorch's 1e-8, not a flag).
    public static let adamEpsilon = float("adam-epsilon", key: "adam_epsilon", .positive, \.adamEpsilon)

    /// Every setting, for the checks of a run's configuration and of `--config` files.
    public static let all: [OptimizerSetting] = [lr, eps, perturbations, weightDecay, beta1, beta2, momentum, hessianSmooth,
                                                 lozoRank, lozoInterval, sparseQuantile, maxGradNorm, autoFraction, adamEpsilon]
}
