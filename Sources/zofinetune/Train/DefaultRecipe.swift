import Training

/// What `train` runs when no optimizer flag is given, said in the run's first line with the
/// measurement behind it (issue 23: the user should not need a grid to know what they got).
enum DefaultRecipe {
    /// MeZO's lr when none is given, by the run's length: the best fixed lr measured at that horizon
    /// (Gemma-3-270M, SST-2's whole training split, bf16 weights, seed 0; docs/long-horizon.md).
    /// Best dev so far at 1,000 / 2,000 / 3,000 / 5,000 steps:
    ///   2e-6: 84.75 / 84.75 / 84.75%    (peaks at 1,000, then its training loss rises: 73.62% at 3,000)
    ///   1e-6: 84.06 / 85.67 / 85.67%    (level from 2,000; the stop rule ended it at 4,000)
    ///   5e-7: 82.11 / 83.94 / 85.89 / 87.04%
    /// A smaller lr learns more slowly and goes further, as in SGD's noise-limited regime.
    static let lrByHorizon: [(upToSteps: Int, lr: Float)] = [(1500, 2e-6), (3000, 1e-6)]
    /// Runs longer than the table, and a --budget run without --steps (its length is unknown; a
    /// budget is meant for long runs).
    static let longRunLR: Float = 5e-7

    /// The rule in words, for help and the recipe line: "2e-06 up to 1500 steps, …, 5e-07 beyond".
    static var lrRuleText: String {
        (lrByHorizon.map { "\($0.lr) up to \($0.upToSteps) steps" } + ["\(longRunLR) beyond or with --budget alone"]).joined(separator: ", ")
    }

    /// `steps`: the run's planned length, nil when only a budget bounds it.
    static func mezoLR(steps: Int?) -> Float {
        guard let steps else { return longRunLR }
        return lrByHorizon.first { steps <= $0.upToSteps }?.lr ?? longRunLR
    }

    /// The line for a new run of `config`, nil when the user chose the optimizer or its lr/eps.
    static func line(_ config: TrainingConfig, options: OptimizerOptions, budget: TimeBudget?) -> String? {
        guard options.optimizer == nil, options.lr == nil, options.eps == nil, config.peft == .none else { return nil }
        let examples = config.kShot.map { "\($0) per class" } ?? "all \(config.trainExamples) training examples"
        let early = config.patience.map { ", stop after \($0) dev evaluations without a new best" } ?? ""
        return "recipe (no optimizer flags): MeZO, lr \(config.lr) \(config.schedule.rawValue), eps \(config.eps), batch \(config.batchSize), "
            + "\(examples), \(TimeBudget.limitText(steps: config.steps, budget: budget)), dev every \(config.evalEvery)\(early), best weights kept. "
            + "Why: the lr is the best measured for a run of this length on SST-2 with Gemma-3-270M "
            + "(\(lrRuleText); "
            + "5e-7 reached 87.0% dev at 5,000 steps from 53.8% zero-shot: docs/long-horizon.md). "
            + "--optimizer, --lr or --eps choose otherwise."
    }
}
