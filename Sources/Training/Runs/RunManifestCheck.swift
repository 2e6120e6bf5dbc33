import Foundation
import Models
import Tasks

/// Range checks of a run.json when a run folder is opened (`RunFolder.init`): the same rules
/// (`SettingRules`) the command line applies to the flags, so a hand-edited run.json is refused
/// with its file and key before `--resume`, `eval --run` or `export` builds anything from it.
/// The optimizer's own settings (lr, eps, lozo_interval, …) are checked by the optimizers' options.
enum RunManifestCheck {
    static func check(_ m: RunManifest, file: String) throws {
        let c = m.config
        guard m.version == 1 else { throw SettingError(file: file, key: "version", "must be 1, not \(m.version)") }
        try SettingRules.threads.check(m.threads, in: file)
        try SettingRules.steps.check(c.steps, in: file)
        try SettingRules.batchSize.check(c.batchSize, in: file)
        try SettingRules.microBatch.check(c.microBatch, in: file)
        try SettingRules.trainExamples.check(c.trainExamples, in: file)
        try SettingRules.kShot.check(c.kShot, in: file)
        try SettingRules.evalEvery.check(c.evalEvery, in: file)
        try SettingRules.evalExamples.check(c.evalExamples, in: file)
        try SettingRules.patience.check(c.patience, in: file)
        try SettingRules.temperature.check(c.temperature, in: file)
        if let texts = c.labelDescriptions, let why = SettingRules.labelDescriptionsProblem(count: texts.count) {
            throw SettingError(file: file, key: "label_descriptions", why)
        }
        if let auto = c.lrAuto {
            try SettingRules.autoWarmup.check(auto.warmup, in: file)
            try SettingRules.autoEvery.check(auto.every, in: file)
        }
        try checkPEFT(c, file: file)
        if let task = c.taskFile {
            do { try task.spec.validate(path: file + " task_file") } catch {
                throw SettingError(file: file, key: "task_file", "\(error)")
            }
        }
    }

    /// Each method's settings only with that method (as the flags), in range.
    static func checkPEFT(_ c: TrainingConfig, file: String) throws {
        let present: [(String, Bool, PEFTMethod)] = [
            ("lora_rank", c.loraRank != nil, .lora), ("lora_alpha", c.loraAlpha != nil, .lora),
            ("lora_targets", c.loraTargets != nil, .lora), ("prefix_tokens", c.prefixTokens != nil, .prefix),
        ]
        for (key, given, method) in present where given && c.peft != method {
            throw SettingError(file: file, key: key, "is a setting of peft \"\(method.rawValue)\"; the run has peft \"\(c.peft.rawValue)\"")
        }
        try SettingRules.loraRank.check(c.loraRank, in: file)
        try SettingRules.loraAlpha.check(c.loraAlpha, in: file)
        if let targets = c.loraTargets, targets.isEmpty || Set(targets).count != targets.count {
            throw SettingError(file: file, key: "lora_targets", "must list distinct projections, at least one")
        }
        try SettingRules.prefixTokens.check(c.prefixTokens, in: file)
    }
}
