import ArgumentParser
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
}

/// `train --help`'s paragraph on the zeroth-order optimizers, and the checks of their options.
enum ZeroOrderHelp {
    static var text: String {
        let lines = ZerothOrderMethods.papers.map { o, paper in
            return "  \(o.rawValue): \(paper); default lr \(o.defaultLR), "
                + "\(ZerothOrderMethods.forwardsPerStep(o, perturbations: o == .fzoo ? 8 : 1)) forwards per step."
        }
        return """
            Zeroth-order optimizers (--optimizer; all use forward passes only, replay from the seed log, and \
            zo-momentum / zo-adam / hizoo also snapshot their state beside weights-last at every evaluation; \
            `zofinetune profile --methods ...` measures each one's memory):
            \(lines.joined(separator: "\n"))

            --lr auto (mezo, sparse-mezo, zo-cons): the two-point estimator is mean-square stable on a quadratic \
            only for lr < 2q/tr(H) (whole spectrum, not λmax; docs/lr-auto.md). The first 10 steps measure \
            zᵀHz = (L+ + L- - 2 L0)/eps² with one extra clean forward L0 and do not move the weights; after that \
            a clean forward every 10 steps keeps a running mean of tr(H), and lr = --auto-fraction (0.05) × 2q/tr(H). \
            The log records the estimate (trace_estimate) and the lr of every step.
            """
    }

    static func validate(optimizer: TrainingConfig.Optimizer, lr: LearningRateOption?, perturbations: Int?,
                         weightDecay: Float?, momentum: Float?, hessianSmooth: Float?, lozoRank: Int?,
                         lozoInterval: Int?, sparseQuantile: Float?, autoFraction: Float?) throws {
        let name = optimizer.rawValue
        if lr == .auto, !ZerothOrderMethods.autoLR.contains(optimizer) {
            throw ValidationError("--lr auto applies to mezo, sparse-mezo and zo-cons (whose step is -lr·g·z), not \(name); give --lr")
        }
        if autoFraction != nil, lr != .auto { throw ValidationError("--auto-fraction goes with --lr auto") }
        if let autoFraction, !(autoFraction > 0) { throw ValidationError("--auto-fraction must be positive") }
        for (option, given, owner) in [("--momentum", momentum != nil, TrainingConfig.Optimizer.zoMomentum),
                                       ("--hessian-smooth", hessianSmooth != nil, .hizoo),
                                       ("--lozo-rank", lozoRank != nil, .lozo), ("--lozo-interval", lozoInterval != nil, .lozo),
                                       ("--sparse-quantile", sparseQuantile != nil, .sparseMezo)] where given && optimizer != owner {
            throw ValidationError("\(option) applies to --optimizer \(owner.rawValue), not \(name)")
        }
        if let momentum, !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1)") }
        if let hessianSmooth, !(hessianSmooth >= 0 && hessianSmooth < 1) { throw ValidationError("--hessian-smooth must be in [0, 1)") }
        if let lozoRank, lozoRank < 1 { throw ValidationError("--lozo-rank must be at least 1") }
        if let lozoInterval, lozoInterval < 1 { throw ValidationError("--lozo-interval must be at least 1") }
        if let sparseQuantile, !(sparseQuantile > 0 && sparseQuantile <= 1) { throw ValidationError("--sparse-quantile must be in (0, 1]") }
        if let weightDecay, weightDecay != 0, ![.mezo, .zoSign, .sgd, .adamw].contains(optimizer) {
            throw ValidationError("--weight-decay is built for mezo, zo-sign, sgd and adamw, not \(name)")
        }
        if [.hizoo, .lozo].contains(optimizer), let perturbations, perturbations != 1 {
            throw ValidationError("--optimizer \(name) takes one perturbation per step, as its reference")
        }
        if optimizer == .fzoo, let perturbations, perturbations < 2 {
            throw ValidationError("--optimizer fzoo needs --perturbations 2 or more (σ of the probe losses)")
        }
    }
}
