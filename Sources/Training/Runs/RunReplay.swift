import Foundation
import Models
import Optimizers
import Weights

/// Which weights of a run to rebuild.
public enum RunPoint: Sendable, Equatable {
    /// After every logged step.
    case last
    /// After the step count of the best dev evaluation (the last step if there was none).
    case best
    /// After exactly this many steps.
    case steps(Int)
}

/// Rebuilds a run's weights: the base model, then the logged steps replayed onto it (from a
/// snapshot when one holds a prefix of the wanted steps).
public enum RunReplay {
    /// Loads the base model, checks it is the run's base, and replays up to `point`.
    /// - Parameter modelDirectory: the base folder; nil uses the one recorded in run.json.
    /// - Returns: the model and the number of steps applied.
    public static func load(run: RunFolder, modelDirectory: String?, point: RunPoint, threads: Int,
                            log: (String) -> Void = { _ in }) throws -> (DecoderModel, Int) {
        let directory = modelDirectory ?? run.manifest.baseModel
        let model = try ModelLoader.loadDecoder(directory: directory, weights: run.manifest.config.weightFormat)
        return (model, try restore(run: run, model: model, directory: directory, point: point, threads: threads, log: log))
    }

    /// Brings a freshly loaded model (decoder or encoder) to `point` of the run: its adapters
    /// attached first when the run trained some (`PEFTSetup`, at their start), then `restore`
    /// onto what the run trained.
    public static func restore(run: RunFolder, model: some TrainableModel, directory: String, point: RunPoint, threads: Int,
                               log: (String) -> Void = { _ in }) throws -> Int {
        try attachAdapters(of: run, directory: directory) { try PEFTSetup.attach(run.manifest.config, to: model) }
        return try restore(run: run, arena: model.arena, trainable: model.trainableArena, directory: directory,
                           point: point, threads: threads, log: log)
    }

    /// Brings freshly loaded base weights (`arena`, from `directory`) to `point` of the run:
    /// checks they are the run's base, then loads a snapshot and/or replays the seed log.
    /// - Parameter trainable: what the run trained, when not the base itself: its adapters
    ///   (`PEFTSetup.attach`, already at their initial values); snapshots and the seed log apply to them.
    /// - Returns: the number of the run's steps now in the weights.
    public static func restore(run: RunFolder, arena base: ParameterArena, trainable: ParameterArena? = nil,
                               directory: String, point: RunPoint, threads: Int,
                               log: (String) -> Void = { _ in }) throws -> Int {
        let arena = trainable ?? base
        guard (trainable != nil && trainable !== base) == (run.manifest.config.peft != .none) else {
            throw RunError("\(run.path) trained \(run.manifest.config.peft == .none ? "the whole model" : "--peft \(run.manifest.config.peft.rawValue) adapters"); "
                           + "its weights must be rebuilt on a model \(run.manifest.config.peft == .none ? "without" : "with") those adapters attached (PEFTSetup.attach)")
        }
        let fingerprint = base.fingerprint(threads: threads)
        guard fingerprint == run.manifest.baseFingerprint else {
            throw RunError("""
                \(directory): these weights (fingerprint \(fingerprint)) are not the base of run \(run.path) \
                (fingerprint \(run.manifest.baseFingerprint), base \(run.manifest.baseModel))
                """)
        }
        // The log is input: checked against the run and the trained arena before any of it is used.
        let numbered = try RunLogCheck.records(of: run, arena: arena)
        let records = numbered.map(\.record)
        guard let spec = run.manifest.config.optimizer.zerothOrder else {
            return try loadSnapshot(run: run, point: point, into: arena, log: log)
        }
        let target: Int
        switch point {
        case .last: target = records.count
        case .best: target = try bestSteps(run) ?? records.count
        case .steps(let n):
            guard n >= 0, n <= records.count else {
                throw RunError("\(run.path): asked for step \(n) but the run has \(records.count) steps")
            }
            target = n
        }
        let config = run.manifest.config
        // An optimizer with state (zo-momentum, zo-adam, HiZOO) can start a replay only from the
        // base weights (state at its start value) or stop exactly at a snapshot: a snapshot in the
        // middle has no state beside it (the resumed trainer loads optimizer-last itself).
        let stateful = spec.hasState
        if stateful, case .last = point, let steps = run.snapshotSteps("last"), steps > 0 {
            // Resume continues from weights-last and optimizer-last (saved together): later steps are dropped.
            try loadSnapshotFile(run.snapshotPath("last"), of: run, into: arena)
            log("loaded snapshot \(run.snapshotPath("last")) (\(steps) steps)")
            return steps
        }
        var applied = 0
        // Start from the snapshot holding the most steps without passing the target.
        let usable = ["last", "best"].compactMap { name in run.snapshotSteps(name).map { (name, $0) } }
            .filter { stateful ? $0.1 == target : $0.1 <= target }.max { $0.1 < $1.1 }
        if let (name, steps) = usable, steps > 0 {
            try loadSnapshotFile(run.snapshotPath(name), of: run, into: arena)
            applied = steps
            log("loaded snapshot \(run.snapshotPath(name)) (\(steps) steps)")
        }
        if applied < target {
            let optimizer = spec.make(config, arena: arena, threads: threads)
            let started = Date()
            var reported = started
            for (i, r) in records[applied..<target].enumerated() {
                do { try optimizer.replay(r) } catch let e as ReplayError {
                    throw RunError("\(run.logPath):\(numbered[applied + i].line): \"\(e.key)\" \(e.why) (step \(e.step) cannot be replayed)")
                }
                // A long log without a snapshot replays for minutes: say how far it is.
                if Date().timeIntervalSince(reported) > 5 {
                    log("replaying the seed log: step \(applied + i + 1) of \(target)")
                    reported = Date()
                }
            }
            log(String(format: "replayed steps %d..<%d in %.1f s", applied, target, Date().timeIntervalSince(started)))
            applied = target
        }
        return applied
    }

    /// A backprop run has no seed log to replay: its weights exist only in the best/last snapshots.
    static func loadSnapshot(run: RunFolder, point: RunPoint, into arena: ParameterArena,
                             log: (String) -> Void) throws -> Int {
        let held = ["best", "last"].compactMap { name in run.snapshotSteps(name).map { (name, $0) } }
        let name: String
        switch point {
        case .last: name = "last"
        case .best: name = try bestSteps(run) == nil ? "last" : "best"
        case .steps(let n):
            if n == 0 { return 0 }
            guard let match = held.first(where: { $0.1 == n }) else {
                throw RunError("\(run.path): a \(run.manifest.config.optimizer.rawValue) run keeps weights only in "
                               + "snapshots (\(held.map { "\($0.0): step \($0.1)" }.joined(separator: ", "))), not at step \(n)")
            }
            name = match.0
        }
        guard let steps = run.snapshotSteps(name) else {
            if case .last = point, try run.stepCount() == 0 { return 0 }
            throw RunError("\(run.path): no \(run.snapshotPath(name)) for this base model; a "
                           + "\(run.manifest.config.optimizer.rawValue) run cannot be rebuilt without it")
        }
        try loadSnapshotFile(run.snapshotPath(name), of: run, into: arena)
        log("loaded snapshot \(run.snapshotPath(name)) (\(steps) steps)")
        return steps
    }

    /// Loads a snapshot into the trained arena. A snapshot that does not fit it was written for
    /// other parameters than run.json now describes (an edited optimizer or PEFT setting): the error
    /// says which keys decide that layout.
    static func loadSnapshotFile(_ path: String, of run: RunFolder, into arena: ParameterArena) throws {
        do { try arena.load(from: [try SafeTensorsFile(path: path)]) } catch let e as WeightsError {
            throw RunError("\(e) (\(run.path)/\(RunFolder.manifestName) decides what the snapshot must hold: "
                           + "its \"peft\", \"lora_rank\", \"lora_targets\", \"prefix_tokens\" and \"optimizer\")")
        }
    }

    /// Attaches the adapters run.json describes; one that does not fit the model (a prefix longer
    /// than its positions) is refused naming run.json and the keys that describe it.
    static func attachAdapters(of run: RunFolder, directory: String, _ attach: () throws -> Void) throws {
        do { try attach() } catch {
            throw RunError("\(run.path)/\(RunFolder.manifestName): the adapters it describes (\"peft\", \"lora_rank\", "
                           + "\"lora_alpha\", \"lora_targets\", \"prefix_tokens\") do not fit \(directory): \(error)")
        }
    }

    /// Step count of the best dev evaluation (earliest on ties).
    public static func bestSteps(_ run: RunFolder) throws -> Int? {
        let evals = try run.lines().filter { $0.type == "eval" }
        guard var best = evals.first else { return nil }
        for e in evals where (e.accuracy ?? 0) > (best.accuracy ?? 0) { best = e }
        return best.step
    }
}
