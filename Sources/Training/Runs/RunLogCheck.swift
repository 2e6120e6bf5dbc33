import Foundation
import Optimizers
import Weights

/// Checks log.jsonl against its run before anything is replayed (`RunReplay.restore`): each
/// record must hold what the writer writes for this run, because replay hands it to the
/// optimizers, which are compiled -Ounchecked (an embedding row past the table would be a write
/// outside the arena). Errors name log.jsonl, the line number and the key.
///
/// Checked: line types; contiguous step numbers; a step record of the run's kind (seed-log record
/// for zeroth-order runs, gradient step for backprop runs); q seeds (the run's `perturbations`)
/// and q projected gradients, finite; a finite lr; embedding rows inside the token-embedding table,
/// sorted and distinct (as `MeZO.step` records them), and only when the trained arena has that
/// table; evaluations at a step the log reaches, with an accuracy in [0, 1]. Not checked: the
/// losses' values (a non-finite loss is a skipped step, replayed as one) and their count, which
/// only the optimizer knows: `replay` throws `ReplayError` when it does not match.
public enum RunLogCheck {
    /// The zeroth-order step records, checked. `arena`: the arena the run trains (its embedding
    /// table bounds the rows); nil for a backprop run.
    /// - Returns: the records with their line numbers in log.jsonl.
    public static func records(of run: RunFolder, arena: ParameterArena?) throws -> [(line: Int, record: MeZOStep)] {
        let config = run.manifest.config
        if !config.optimizer.usesBackprop { try protectOptimizer(config, file: run.path + "/" + RunFolder.manifestName) }
        let numbered = try run.numberedLines()
        let steps = numbered.filter { $0.line.type == "step" }.count
        let table = arena.flatMap(PerturbedRegion.tokenEmbedding(of:))
        var records: [(line: Int, record: MeZOStep)] = []
        var stepLines = 0
        let manifestPath = run.path + "/" + RunFolder.manifestName
        for (number, line) in numbered {
            func fail(_ key: String, _ why: String) -> RunError { RunError("\(run.logPath):\(number): \"\(key)\" \(why)") }
            switch line.type {
            case "step":
                guard line.step == stepLines else { throw fail("step", "is \(line.step) where step \(stepLines) was expected") }
                stepLines += 1
                if config.optimizer.usesBackprop {
                    guard line.update != nil, line.record == nil else {
                        throw fail(line.update == nil ? "update" : "record", "a \(config.optimizer.rawValue) run (\(manifestPath) \"optimizer\") logs gradient steps (\"update\"), not seed-log records")
                    }
                    continue
                }
                guard let r = line.record, line.update == nil else {
                    throw fail(line.record == nil ? "record" : "update", "a \(config.optimizer.rawValue) run (\(manifestPath) \"optimizer\") logs seed-log records (\"record\") only")
                }
                guard r.step == line.step else { throw fail("record.step", "is \(r.step) on the line of step \(line.step)") }
                try check(r, config: config, table: table, manifestPath: manifestPath, fail: fail)
                records.append((number, r))
            case "eval":
                guard (0...steps).contains(line.step) else { throw fail("step", "is \(line.step); the log has \(steps) steps") }
                if let a = line.accuracy, !(a >= 0 && a <= 1) { throw fail("accuracy", "must be in [0, 1], not \(a)") }
                if let n = line.examples, n < 0 { throw fail("examples", "must be 0 or more, not \(n)") }
            default:
                throw fail("type", "must be \"step\" or \"eval\", not \"\(line.type)\"")
            }
        }
        return records
    }

    /// One seed-log record against the run's configuration and the trained arena's embedding table.
    static func check(_ r: MeZOStep, config: TrainingConfig, table: ParameterSlot?, manifestPath: String,
                      fail: (String, String) -> RunError) throws {
        guard r.seeds.count == config.perturbations else {
            throw fail("seeds", "holds \(r.seeds.count) seeds; \(manifestPath) has \"perturbations\": \(config.perturbations) per step")
        }
        if config.optimizer == .fzoo, r.seeds.count < 2 { throw fail("seeds", "fzoo needs at least 2 probes, not \(r.seeds.count)") }
        guard r.projectedGradients.count == r.seeds.count else {
            throw fail("g", "holds \(r.projectedGradients.count) values for \(r.seeds.count) seeds")
        }
        if let bad = r.projectedGradients.first(where: { !$0.isFinite }) { throw fail("g", "must be finite, not \(bad)") }
        guard r.lr.isFinite else { throw fail("lr", "must be finite, not \(r.lr)") }
        if !config.optimizer.replaysFromGradients, r.losses == nil {
            throw fail("losses", "is missing; \(config.optimizer.rawValue) replays from the losses it logged")
        }
        guard let rows = r.embeddingRows else { return }
        guard let table else { throw fail("embedding_rows", "given, but the trained parameters have no token-embedding table") }
        let count = table.shape.first ?? 0
        for (k, row) in rows.enumerated() {
            guard row >= 0, Int(row) < count else { throw fail("embedding_rows", "holds row \(row); \(table.name) has \(count) rows") }
            if k > 0, rows[k - 1] >= row { throw fail("embedding_rows", "must be sorted and distinct (\(rows[k - 1]) then \(row))") }
        }
    }
}

extension RunLogCheck {
    /// The settings the optimizers' initialisers only `precondition` (Optimizers is -Ounchecked, so
    /// those are never evaluated): a division by a zero window, a negative quantile used as an index,
    /// a zero ε. Checked before a replay builds the optimizer, naming run.json and the key. The
    /// optimizer options' rules (the same ranges as the flags) are the full check; this is the floor
    /// that keeps replay from trapping whatever run.json holds.
    static func protectOptimizer(_ c: TrainingConfig, file: String) throws {
        guard c.eps.isFinite, c.eps > 0 else { throw SettingError(file: file, key: "eps", "must be a finite number > 0, not \(c.eps)") }
        switch c.optimizer {
        case .lozo:
            guard c.lozoInterval >= 1 else { throw SettingError(file: file, key: "lozo_interval", "must be at least 1, not \(c.lozoInterval)") }
            guard c.lozoRank >= 1 else { throw SettingError(file: file, key: "lozo_rank", "must be at least 1, not \(c.lozoRank)") }
        case .sparseMezo:
            guard c.sparseQuantile > 0, c.sparseQuantile <= 1 else {
                throw SettingError(file: file, key: "sparse_quantile", "must be in (0, 1], not \(c.sparseQuantile)")
            }
        default: break
        }
        if [.hizoo, .lozo].contains(c.optimizer), c.perturbations != 1 {
            throw SettingError(file: file, key: "perturbations", "must be 1 for \(c.optimizer.rawValue), not \(c.perturbations)")
        }
        guard c.perturbations >= (c.optimizer == .fzoo ? 2 : 1) else {
            throw SettingError(file: file, key: "perturbations", "must be at least \(c.optimizer == .fzoo ? 2 : 1) for \(c.optimizer.rawValue), not \(c.perturbations)")
        }
    }
}

extension TrainingConfig.Optimizer {
    /// MeZO and zo-sign replay from seeds and g alone (`MeZO.replay`); the others step again with
    /// their logged losses (`ZerothOrderOptimizer.replayByStepping`).
    var replaysFromGradients: Bool { self == .mezo || self == .zoSign }
}
