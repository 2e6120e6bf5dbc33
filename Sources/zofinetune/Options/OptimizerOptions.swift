import ArgumentParser
import Models
import Optimizers
import Training

/// `--lr X` or `--lr auto`.
enum LearningRateOption: ExpressibleByArgument, Equatable {
    case value(Float)
    case auto

    init?(argument: String) {
        if argument == "auto" { self = .auto; return }
        guard let v = Float(argument) else { return nil }
        self = .value(v)
    }

    var value: Float? { if case .value(let v) = self { return v } else { return nil } }
}

/// train's optimizer options: which optimizer, its learning rate, and the settings each optimizer
/// owns. Help, defaults and the checks come from `OptimizerRegistry` (which optimizer owns which
/// setting) and `OptimizerSetting` (each setting's range, the one rule also applied to run.json and
/// `--config` files).
struct OptimizerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(Self.optimizerHelp, valueName: "name")) var optimizer: TrainingConfig.Optimizer?
    @Option(name: .long, help: ArgumentHelp(Self.lrHelp)) var lr: LearningRateOption?
    @Option(name: .long, help: "--lr auto: lr = this fraction of the stability limit 2q/tr(H) (default \(TrainingConfig.AutoLR().fraction)).") var autoFraction: Float?
    @Option(name: .long, help: "zo-momentum: the momentum μ (default: --beta1's \(TrainingConfig().beta1)).") var momentum: Float?
    @Option(name: .long, help: "hizoo: smoothing α of the Hessian estimate (default \(TrainingConfig().hessianSmooth), the reference's).") var hessianSmooth: Float?
    @Option(name: .long, help: "lozo: rank r of U·Vᵀ (default \(TrainingConfig().lozoRank)).") var lozoRank: Int?
    @Option(name: .long, help: "lozo: steps ν that V is kept (default \(TrainingConfig().lozoInterval)).") var lozoInterval: Int?
    @Option(name: .long, help: "sparse-mezo: fraction of each tensor's weights, smallest |θ| first, that are perturbed (default \(TrainingConfig().sparseQuantile)).") var sparseQuantile: Float?
    @Option(name: .long, help: "Perturbation scale eps (default \(TrainingConfig().eps)).") var eps: Float?
    @Option(name: .long, help: "Perturbations averaged per step (n-SPSA; default 1; fzoo 8).") var perturbations: Int?
    @Option(name: .long, help: "MeZO's z: rademacher (±1, default) or gaussian (the paper's; hizoo's default).")
    var perturbation: Perturbation?
    @Option(name: .long, help: "MeZO: perturb the embedding rows the batch reads (batch, default) or every row (all, the paper's).")
    var embeddingPerturbation: TrainingConfig.EmbeddingPerturbation?
    @Option(name: .long, help: "MeZO on a decoder: products of the forwards in fp32 (default) or bf16 (oneDNN; the copies follow every perturbation).")
    var precision: Precision?
    @Option(name: .long, help: "Weight decay on matrices and embeddings (default 0; mezo, zo-sign, sgd, adamw).") var weightDecay: Float?
    @Option(name: .long, help: "sgd/adamw: clip the gradient's global L2 norm to this (default: no clipping).") var maxGradNorm: Float?
    @Option(name: .long, help: "adamw, zo-adam: first-moment decay (default \(TrainingConfig().beta1); zo-momentum: its μ).") var beta1: Float?
    @Option(name: .long, help: "adamw, zo-adam: second-moment decay (default \(TrainingConfig().beta2)).") var beta2: Float?

    /// The numeric flags given, each with its setting: the one table from flag to setting.
    var given: [(OptimizerSetting, Double)] {
        let values: [(OptimizerSetting, Double?)] = [
            (.lr, lr?.value.map(Double.init)), (.autoFraction, autoFraction.map(Double.init)),
            (.momentum, momentum.map(Double.init)), (.hessianSmooth, hessianSmooth.map(Double.init)),
            (.lozoRank, lozoRank.map(Double.init)), (.lozoInterval, lozoInterval.map(Double.init)),
            (.sparseQuantile, sparseQuantile.map(Double.init)), (.eps, eps.map(Double.init)),
            (.perturbations, perturbations.map(Double.init)), (.weightDecay, weightDecay.map(Double.init)),
            (.maxGradNorm, maxGradNorm.map(Double.init)), (.beta1, beta1.map(Double.init)), (.beta2, beta2.map(Double.init)),
        ]
        return values.compactMap { setting, value in value.map { (setting, $0) } }
    }

    /// The zeroth-order family's flags that are not numbers.
    var givenZerothOrderChoices: [String] {
        [("--perturbation", perturbation != nil), ("--embedding-perturbation", embeddingPerturbation != nil),
         ("--precision", precision != nil)].filter(\.1).map(\.0)
    }

    /// The optimizer of the run (MeZO unless given).
    var chosen: TrainingConfig.Optimizer { optimizer ?? .mezo }

    func validate() throws {
        for (setting, value) in given {
            if let problem = setting.flagProblem(value) { throw ValidationError(problem) }
        }
        let name = chosen.rawValue, family = chosen.family
        for (setting, value) in given where !family.settings.contains(setting) && value != setting.neutral {
            throw ValidationError(Self.notOwned(setting.option, zerothOrderFamily: ZerothOrderSpec.familySettings.contains(setting),
                                                owners: OptimizerRegistry.owners(of: setting), optimizer: name))
        }
        if lr == .auto, let why = OptimizerChecks.autoLRProblem(chosen) { throw ValidationError(why) }
        if autoFraction != nil, lr != .auto { throw ValidationError("--auto-fraction goes with --lr auto") }
        switch family {
        case .zerothOrder(let spec):
            if let perturbations, let why = OptimizerChecks.perturbationsProblem(spec, perturbations) { throw ValidationError(why) }
        case .firstOrder:
            if let flag = givenZerothOrderChoices.first {
                throw ValidationError(Self.notOwned(flag, zerothOrderFamily: true, owners: [], optimizer: name))
            }
        }
    }

    /// "--lozo-rank applies to --optimizer lozo, not mezo"; the zeroth-order family's settings say so.
    static func notOwned(_ flag: String, zerothOrderFamily: Bool, owners: [String], optimizer: String) -> String {
        if zerothOrderFamily {
            return "\(flag) is a MeZO setting (the zeroth-order optimizers'); --optimizer \(optimizer) does not use it"
        }
        return "\(flag) applies to --optimizer \(owners.joined(separator: ", ")), not \(optimizer)"
    }

    /// Sets a new run's optimizer and its settings: the optimizer's defaults (`OptimizerRegistry`),
    /// overridden by the flags given. `plannedSteps`: the run's length, nil when a time budget alone
    /// bounds it (the default lr of an optimizer measured per length, `LRByLength`, depends on it).
    func apply(to c: inout TrainingConfig, plannedSteps: Int?) {
        c.optimizer = chosen
        c.lr = chosen.defaultLR(steps: plannedSteps)
        if case .zerothOrder(let spec) = chosen.family {
            c.eps = spec.defaultEps
            c.perturbations = spec.defaultPerturbations
            if let z = spec.defaultPerturbation { c.perturbation = z }
        }
        if lr == .auto {
            c.lr = 0
            c.lrAuto = TrainingConfig.AutoLR()
        }
        for (setting, value) in given { setting.write(&c, value) }
        if let perturbation { c.perturbation = perturbation }
        if let embeddingPerturbation { c.embeddingPerturbation = embeddingPerturbation }
        if let precision { c.precision = precision }
    }

    /// With --resume: the options given that differ from the run's (run.json fixes them).
    func changes(against c: TrainingConfig) -> [String] {
        var out: [String] = []
        func check<T: Equatable>(_ name: String, _ given: T?, _ saved: T?, _ show: (T) -> String = { "\($0)" }) {
            guard let given, given != saved else { return }
            out.append("\(name) \(show(given)) (the run has \(saved.map(show) ?? "none"))")
        }
        check("--optimizer", optimizer, c.optimizer) { $0.rawValue }
        check("--lr", lr, c.lrAuto == nil ? .value(c.lr) : .auto) { $0.value.map { "\($0)" } ?? "auto" }
        for (setting, value) in given where setting != .lr {
            check(setting.option, value, setting.saved(c)) { setting.rule.whole ? "\(Int($0))" : "\(Float($0))" }
        }
        check("--perturbation", perturbation, c.perturbation) { $0.rawValue }
        check("--embedding-perturbation", embeddingPerturbation, c.embeddingPerturbation) { $0.rawValue }
        check("--precision", precision, c.precision) { $0.rawValue }
        return out
    }

    /// config.yaml's lines for the optimizer: its name, lr, and every setting it takes.
    static func resolved(_ c: TrainingConfig) -> [(String, Any?)] {
        var pairs: [(String, Any?)] = [("optimizer", c.optimizer.rawValue), ("lr", c.lrAuto == nil ? c.lr as Any : "auto")]
        for setting in c.optimizer.family.settings where setting != .lr {
            let value = setting.saved(c)
            pairs.append((setting.flag, value.map { setting.rule.whole ? Int($0) as Any : Float($0) as Any }))
        }
        if c.optimizer.zerothOrder != nil {
            pairs += [("perturbation", c.perturbation.rawValue), ("embedding-perturbation", c.embeddingPerturbation.rawValue),
                      ("precision", c.precision.rawValue)]
        }
        return pairs
    }

    static var optimizerHelp: String {
        let zerothOrder = OptimizerRegistry.zerothOrder.map(\.name), firstOrder = OptimizerRegistry.firstOrder.map(\.name)
        return "Optimizer: \(zerothOrder.first!) (default), \(zerothOrder.dropFirst().joined(separator: ", ")) "
            + "(zeroth-order; papers below), \(firstOrder.joined(separator: " or "))."
    }

    static var lrHelp: String {
        let defaults = TrainingConfig.Optimizer.allCases.map { "\($0.rawValue) \($0.defaultLRText)" }
        return "Learning rate, or auto (\(OptimizerChecks.autoLRNames.joined(separator: ", ")): a fraction of the measured "
            + "stability limit; see below) (default: \(defaults.joined(separator: ", ")))."
    }

    /// `train --help`'s paragraph on the zeroth-order optimizers.
    static var papersHelp: String {
        let lines = OptimizerRegistry.zerothOrder.map { s in
            "  \(s.name): \(s.paper); default lr \(s.defaultLRText), \(s.forwards(s.defaultPerturbations)) forwards per step."
        }
        let auto = OptimizerChecks.autoLRNames.joined(separator: ", ")
        let stateful = OptimizerRegistry.zerothOrder.filter(\.hasState).map(\.name).joined(separator: " / ")
        return """
            Zeroth-order optimizers (--optimizer; all use forward passes only, replay from the seed log, and \
            \(stateful) also snapshot their state beside weights-last at every evaluation; \
            `zofinetune profile --methods ...` measures each one's memory):
            \(lines.joined(separator: "\n"))

            --lr auto (\(auto)): the two-point estimator is mean-square stable on a quadratic \
            only for lr < 2q/tr(H) (whole spectrum, not λmax; docs/lr-auto.md). The first 10 steps measure \
            zᵀHz = (L+ + L- - 2 L0)/eps² with one extra clean forward L0 and do not move the weights; after that \
            a clean forward every 10 steps keeps a running mean of tr(H), and lr = --auto-fraction (0.05) × 2q/tr(H). \
            The log records the estimate (trace_estimate) and the lr of every step.
            """
    }
}
