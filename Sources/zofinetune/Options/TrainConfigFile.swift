import ArgumentParser
import Foundation
import Training
import Weights
import Yams

/// `train --config FILE`: a YAML (or JSON) file whose keys are train's flags without the dashes
/// (`batch-size: 16`; `batch_size` works too), read as if its flags came before the command line's,
/// so that a flag on the command line overrides the file's key. A run's own `run.json` is accepted
/// (its `base_model` is --model, its `config` object the flags), and so is the `config.yaml` every
/// new run folder keeps: the configuration resolved from the defaults, the file and the flags.
enum TrainConfigFile {
    /// run.json keys that are not train flags: the manifest's bookkeeping, fixed values.
    static let manifestOnly: Set<String> = ["version", "base-fingerprint", "adam-epsilon"]

    /// The flags `path` sets, as arguments, leaving out those the command line gives itself.
    static func arguments(path: String, overriddenBy given: [String]) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("--config \(path): cannot read the file")
        }
        let object: Any?
        do {
            object = try Yams.load(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            throw ValidationError("--config \(path): not YAML or JSON: \(error)")
        }
        guard var keys = object as? [String: Any] else {
            throw ValidationError("--config \(path): expected a mapping of flag names to values")
        }
        // A run.json: the base model and the configuration object.
        if let config = keys["config"] as? [String: Any], keys["base_model"] != nil {
            var flat = config
            flat["model"] = keys["base_model"]
            flat["threads"] = keys["threads"]
            // run.json records every field; train refuses the settings of optimizers other than the run's.
            let optimizer = TrainingConfig.Optimizer(rawValue: config["optimizer"] as? String ?? "mezo") ?? .mezo
            let owned = Set(optimizer.family.settings.map(\.key))
            for setting in OptimizerSetting.all where !owned.contains(setting.key) { flat[setting.key] = nil }
            if optimizer.usesBackprop {
                for key in ["perturbation", "embedding_perturbation", "precision", "micro_batch"] { flat[key] = nil }
            }
            // `--lr auto` is recorded as its settings; the task as the name or file it came from (`task`).
            if let auto = flat.removeValue(forKey: "lr_auto") as? [String: Any] {
                flat["lr"] = "auto"
                flat["auto_fraction"] = auto["fraction"]
            }
            flat["task_file"] = nil
            keys = flat
        }
        let givenFlags = Set(given.filter { $0.hasPrefix("--") }.map { String($0.split(separator: "=").first!) })
        var out: [String] = []
        for (rawKey, value) in keys.sorted(by: { $0.key < $1.key }) {
            let key = rawKey.lowercased().replacingOccurrences(of: "_", with: "-")
            if manifestOnly.contains(key) || key == "config" || givenFlags.contains("--" + key) { continue }
            try checkSetting(flag: key, value: value, file: path, key: rawKey)
            switch value {
            case is NSNull: continue
            case let flag as Bool: if flag { out.append("--" + key) }
            case let list as [Any]: if !list.isEmpty { out.append("--" + key); out += list.map(text) }
            case let nested as [String: Any]: throw ValidationError("--config \(path): \(rawKey) is a mapping (\(nested.keys.sorted())); flags take values")
            default: out += ["--" + key, text(value)]
            }
        }
        return out
    }

    /// An optimizer setting's value in range, by the rule its flag is checked with (`OptimizerSetting`),
    /// refused naming the file and the key as the file spells it. Values that are not numbers are
    /// left to the flag's parser.
    static func checkSetting(flag: String, value: Any, file: String, key: String) throws {
        guard let setting = OptimizerSetting.all.first(where: { $0.flag == flag }) else { return }
        let number: Double?
        switch value {
        case let n as Int: number = Double(n)
        case let d as Double: number = setting.rule.whole ? d : Double(Float(d))   // the flag reads a Float
        case let s as String: number = setting.rule.whole ? Int(s).map(Double.init) : Float(s).map(Double.init)
        default: number = nil
        }
        do { try setting.check(number, file: file, key: key) } catch { throw ValidationError("\(error)") }
    }

    static func text(_ value: Any) -> String {
        if let s = value as? String { return s }
        if let d = value as? Double, d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
        return "\(value)"
    }

    /// A YAML mapping of `pairs` (nil values left out), strings quoted as JSON (valid YAML).
    static func yaml(_ pairs: [(String, Any?)]) -> String {
        func scalar(_ v: Any) -> String {
            switch v {
            case let s as String:
                let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
                return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
            case let list as [Any]: return "[" + list.map(scalar).joined(separator: ", ") + "]"
            default: return "\(v)"
            }
        }
        return pairs.compactMap { key, value in value.map { "\(key): \(scalar($0))" } }.joined(separator: "\n") + "\n"
    }

    /// The command line with a train command's `--config FILE` replaced by the file's flags, placed
    /// before the command line's own (which override them). Other command lines are returned as they are.
    static func expanding(_ commandLine: [String]) throws -> [String] {
        var args = commandLine
        let explicitTrain = args.first == "train"
        guard explicitTrain || args.first?.hasPrefix("-") == true else { return commandLine }
        if explicitTrain { args.removeFirst() }
        var user: [String] = [], path: String?
        var i = 0
        while i < args.count {
            if args[i] == "--config", i + 1 < args.count { path = args[i + 1]; i += 2; continue }
            if args[i].hasPrefix("--config=") { path = String(args[i].dropFirst("--config=".count)); i += 1; continue }
            user.append(args[i])
            i += 1
        }
        guard let path else { return commandLine }
        let fromFile = try arguments(path: path, overriddenBy: user)
        do {
            _ = try TrainCommand.parse(fromFile + user)
        } catch {
            throw ValidationError("--config \(path) (flags \(fromFile.joined(separator: " "))): \(TrainCommand.message(for: error))")
        }
        return ["train"] + fromFile + user
    }
}

extension TrainCommand {
    /// What the run is, every default resolved, as train's flags: written to the run folder as
    /// config.yaml, from which `train --config RUN/config.yaml --out NEW` makes the same run again.
    func resolvedConfiguration(_ c: TrainingConfig) -> [(String, Any?)] {
        let t = taskOptions
        func absolute(_ path: String?) -> String? { path.map { URL(fileURLWithPath: $0).standardizedFileURL.path } }
        var pairs: [(String, Any?)] = [
            ("model", absolute(modelOptions.model)), ("threads", modelOptions.threads),
            ("task", t.task.map { $0.hasSuffix(".json") ? absolute($0)! : $0 }), ("data", absolute(t.data)), ("train", absolute(t.trainFile)), ("dev", absolute(t.devFile)),
            ("test", absolute(t.testFile)),
            ("template", t.template), ("label-words", t.labelWords.isEmpty ? nil : t.labelWords),
            ("label-column", t.labelColumn), ("target-column", t.targetColumn),
            ("task-objective", t.taskObjective?.rawValue), ("metric", t.metric?.rawValue),
            ("max-new-tokens", t.maxNewTokens), ("demonstrations", t.demonstrationCount), ("no-bos", t.noBOS ? true : nil),
            ("label-descriptions", c.labelDescriptions), ("temperature", c.temperature),
            ("objective", c.objective.rawValue), ("steps", c.steps), ("batch-size", c.batchSize),
            ("schedule", c.schedule.rawValue),
        ]
        pairs += OptimizerOptions.resolved(c)
        pairs += [(c.kShot == nil ? "train-examples" : "k-shot", c.kShot ?? c.trainExamples), ("seed", c.seed),
                  ("eval-every", c.evalEvery), ("eval-examples", c.evalExamples), ("patience", c.patience)]
        pairs += PEFTOptions.resolved(c)
        return pairs
    }

    func writeResolvedConfiguration(_ c: TrainingConfig, runPath: String) throws {
        let text = "# The configuration of this run, every default resolved (zofinetune train --config " + runPath
            + "/config.yaml --out NEW makes it again)\n" + TrainConfigFile.yaml(resolvedConfiguration(c))
        // AtomicFile (fsync'ed, then renamed), as run.json: Foundation's .atomic renames without fsync.
        try AtomicFile.write(Data(text.utf8), to: runPath + "/config.yaml")
    }
}
