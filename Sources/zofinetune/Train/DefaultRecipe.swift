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
            + "Why: the lr is the best measured for a run of this length on SST-2 with Gemma-3-270M "
            + "(\(LRByLength.mezo.text); "
            + "5e-7 reached 88.5% dev at 10,000 steps and 89.3% at 12,000 from 53.8% zero-shot on f32 weights, 87.0% on --weights bf16: "
            + "docs/long-horizon.md). "
            + "--optimizer, --lr or --eps choose otherwise."
    }
}
