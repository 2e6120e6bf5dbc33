import Training

/// What `train` runs when no optimizer flag is given, said in the run's first line with the
/// measurement behind it (issue 23: the user should not need a grid to know what they got).
enum DefaultRecipe {
    /// The line for a new run of `config`, nil when the user chose the optimizer or its lr/eps.
    static func line(_ config: TrainingConfig, options: OptimizerOptions, budget: TimeBudget?) -> String? {
        guard options.optimizer == nil, options.lr == nil, options.eps == nil, config.peft == .none else { return nil }
        let examples = config.kShot.map { "\($0) per class" } ?? "all \(config.trainExamples) training examples"
        let early = config.patience.map { ", stop after \($0) dev evaluations without a new best" } ?? ""
        return "recipe (no optimizer flags): MeZO, lr \(config.lr) \(config.schedule.rawValue), eps \(config.eps), batch \(config.batchSize), "
            + "\(examples), \(TimeBudget.limitText(steps: config.steps, budget: budget)), dev every \(config.evalEvery)\(early), best weights kept. "
            + "Why: the best measured recipe on SST-2 with Gemma-3-270M (the whole training split at lr 1e-6: 53.8% -> 85.7% dev "
            + "by step 2,000 and still rising, where 2e-6 peaks near 84.8% by step 1,000 and then falls: docs/long-horizon.md). "
            + "--optimizer, --lr or --eps choose otherwise."
    }
}
