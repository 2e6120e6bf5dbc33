/// The checks of a run's optimizer settings that go beyond one setting's range: what each
/// optimizer's spec accepts (perturbations per step, `--lr auto`). Used by `train`'s flags
/// (`OptimizerOptions.validate`) and by a run folder's run.json (`check`), with the same words.
public enum OptimizerChecks {
    /// Why `spec` cannot take `q` perturbations per step, nil when it can.
    public static func perturbationsProblem(_ spec: ZerothOrderSpec, _ q: Int) -> String? {
        guard !spec.perturbations.contains(q) else { return nil }
        if spec.perturbations.count == 1 {
            return "--optimizer \(spec.name) takes \(spec.perturbations.lowerBound) perturbation per step, as its reference, not \(q)"
        }
        return "--optimizer \(spec.name) needs --perturbations \(spec.perturbations.lowerBound) or more (σ of the probe losses), not \(q)"
    }

    /// The optimizers `--lr auto` applies to.
    public static var autoLRNames: [String] { OptimizerRegistry.zerothOrder.filter(\.autoLR).map(\.name) }

    /// Why `--lr auto` does not apply to `optimizer`, nil when it does.
    public static func autoLRProblem(_ optimizer: TrainingConfig.Optimizer) -> String? {
        guard optimizer.zerothOrder?.autoLR != true else { return nil }
        return "--lr auto applies to \(autoLRNames.joined(separator: ", ")) (whose step is -lr·g·z), not \(optimizer.rawValue); give --lr"
    }

    /// A run's run.json (`file`): every optimizer setting in its range, and what the run's
    /// optimizer accepts, so a hand-edited value is refused naming the file and key before replay or
    /// resume hands it to the optimizers (compiled -Ounchecked: their preconditions are not evaluated).
    public static func check(_ c: TrainingConfig, file: String) throws {
        for setting in OptimizerSetting.all { try setting.check(setting.saved(c), file: file) }
        if let spec = c.optimizer.zerothOrder, let why = perturbationsProblem(spec, c.perturbations) {
            throw SettingError(file: file, key: "perturbations", why)
        }
        if c.lrAuto != nil, let why = autoLRProblem(c.optimizer) { throw SettingError(file: file, key: "lr_auto", why) }
    }
}
