import Foundation
import Models
import Optimizers
import Profiling
import Tasks
import Tokenizers

/// What a finished (or interrupted) run reports.
public struct TrainingSummary: Sendable {
    public var stepsDone: Int
    public var interrupted: Bool
    /// Stopped before `steps` because `--budget` ran out (the run ended normally, evaluated and saved).
    public var stoppedByBudget = false
    /// Stopped before `steps` by `patience`: that many evaluations in a row without a new best.
    public var stoppedEarly = false
    public var skippedSteps: Int
    public var finalLoss: Double?
    public var bestAccuracy: Double?
    public var bestSteps: Int?
    public var lastAccuracy: Double?
    public var seconds: Double
    public var secondsPerStep: Double
    public var peakResidentBytes: Int?

    public var json: [String: Any] {
        var o: [String: Any] = ["steps": stepsDone, "interrupted": interrupted, "stopped_by_budget": stoppedByBudget,
                                "stopped_early": stoppedEarly,
                                "skipped_steps": skippedSteps,
                                "seconds": seconds, "seconds_per_step": secondsPerStep]
        o["final_loss"] = finalLoss
        o["best_accuracy"] = bestAccuracy
        o["best_steps"] = bestSteps
        o["last_accuracy"] = lastAccuracy
        o["peak_rss_bytes"] = peakResidentBytes
        return o
    }
}

/// The training loop every optimizer shares, on a candidate-prompt task: batches from the run's
/// seeded training set, one log record per step, dev evaluation every `evalEvery` steps with the
/// best weights snapshotted, progress on stderr. MeZO's log replays its run; a backprop run
/// (SGD/AdamW) also snapshots `weights-last` and its optimizer state at every evaluation, so a
/// crash loses at most `evalEvery` steps.
public final class Trainer {
    let task: TrainingTask
    let config: TrainingConfig
    let run: RunFolder
    let trainingSet: TrainingSet
    let dev: [LabeledExample]
    let threads: Int
    let log: (String) -> Void
    /// Set from a signal handler: stop after the step in flight.
    public let stopRequested: () -> Bool
    /// Where progress goes: by default plain lines through `log`; the CLI passes
    /// `ProgressLine.standardError()`, one line rewritten in place on a terminal.
    public lazy var progress = ProgressLine(isTerminal: false) { [log] in log(String($0.dropLast())) }
    /// Seconds from a monotonic clock; tests pass a fake one.
    public var clock: () -> Double = ProgressLine.monotonicSeconds
    /// `--budget`: stop when the next step and the closing evaluation would not fit, counted from
    /// `budgetStart` (on `clock`; the CLI passes the time it started, so loading counts too).
    public var budget: TimeBudget?
    public var budgetStart: Double?
    /// Set for `--distributed`: this rank's step method, and whether it writes the run folder.
    public var distribution: Distribution?
    var writesRun: Bool { distribution?.writesRun ?? true }
    var holdsWholeModel: Bool { distribution?.holdsWholeModel ?? true }
    /// This process evaluates and snapshots the weights (a single process, or rank 0 of data parallel).
    var ownsWeights: Bool { writesRun && holdsWholeModel }

    public init(task: TrainingTask, config: TrainingConfig, run: RunFolder,
                train: [LabeledExample], dev: [LabeledExample], threads: Int,
                stopRequested: @escaping () -> Bool, log: @escaping (String) -> Void) throws {
        self.task = task
        self.config = config
        self.run = run
        self.trainingSet = try TrainingSet(pool: train, count: config.trainExamples, kShot: config.kShot,
                                           batchSize: config.batchSize, seed: config.seed)
        self.dev = config.evalExamples.map { Array(dev.prefix($0)) } ?? dev
        self.threads = threads
        self.stopRequested = stopRequested
        self.log = log
    }

    /// Trains from step `start` (the number of steps already applied to the model's weights).
    public func train(from start: Int) throws -> TrainingSummary {
        let prompts = try task.inputs(trainingSet.examples)
        let longest = max(1, prompts.map(\.count).sorted(by: >).prefix(config.batchSize).reduce(0, +))
        // The forward buffers serve MeZO's losses and every method's dev evaluation.
        if holdsWholeModel { try task.prepare(maxTokens: longest) }   // a stage has its own buffers
        let method: StepMethod
        if let distribution {
            method = try distribution.method(task: task, maxTokens: longest, config: config, threads: threads)
        } else {
            switch config.optimizer.family {
            case .zerothOrder(let spec): method = MeZOMethod(spec, task: task, config: config, threads: threads)
            case .firstOrder(let spec): method = BackpropMethod(spec, task: task, maxTokens: longest, config: config)
            }
        }
        if start > 0, !method.state.isEmpty {
            try run.loadOptimizerState(into: method.state, steps: start)
        }
        method.resume(after: start, records: start > 0 ? try run.steps() : [])

        // The evaluations logged so far: a resumed run continues their best and their patience count.
        let logged = try run.lines().filter { $0.type == "eval" }
        var bestSteps = try RunReplay.bestSteps(run)
        var best = bestSteps.flatMap { s in logged.first { $0.step == s }?.accuracy }
        var evaluationsSinceBest = bestSteps.map { s in logged.filter { $0.step > s }.count } ?? 0
        var lastAccuracy: Double? = nil
        var recentLosses: [Double] = []
        var skipped = 0
        let started = Date()
        // Steps and evaluations timed apart (ProgressEstimate says why).
        var estimate = ProgressEstimate(totalSteps: config.steps, evalEvery: config.evalEvery)
        var step = start
        var interrupted = false, stoppedByBudget = false, stoppedEarly = false
        let budgetStart = self.budgetStart ?? clock()

        func evaluate() throws {
            guard ownsWeights else { return }
            let evalStart = clock()
            let result = try task.evaluate(dev) { [progress] done, total in
                progress.update("step \(step)/\(self.config.steps)  evaluating dev \(done)/\(total)")
            }
            let evalSeconds = clock() - evalStart
            estimate.recordEvaluation(seconds: evalSeconds)
            lastAccuracy = result.accuracy
            // The snapshot before the log line: a kill between them leaves the evaluation unlogged,
            // so the resumed run repeats it (below) and the log never names a best it does not hold.
            if best == nil || result.accuracy > best! {
                best = result.accuracy
                bestSteps = step
                evaluationsSinceBest = 0
                try run.saveSnapshot("best", arena: task.arena, steps: step)
            } else {
                evaluationsSinceBest += 1
            }
            try run.append(.eval(step: step, accuracy: result.accuracy, examples: dev.count, seconds: result.seconds))
            progress.message(String(format: "step %d: dev accuracy %.2f%% (%d examples, %.1f s)", step, result.accuracy * 100,
                                    dev.count, evalSeconds))
        }

        func saveLast() throws {
            guard ownsWeights else { return }   // a stage holds part of the weights
            try run.saveLast(arena: task.arena, state: method.state, steps: step)
        }

        // A backprop run's weights exist only in snapshots: one at step 0 means a kill before the
        // first evaluation resumes from the base instead of finding steps logged but no weights.
        if start == 0, config.optimizer.usesBackprop { try saveLast() }
        // The evaluation due at `start` — at step 0, or one a kill cut off after its step was logged —
        // runs now, so a resumed run's log and best snapshot are those of an uninterrupted run.
        if config.evalEvery > 0, start == 0 || start % config.evalEvery == 0 || start == config.steps,
           try !run.lines().contains(where: { $0.type == "eval" && $0.step == start }) {
            try evaluate()
        }
        while step < config.steps {
            if stopRequested() { interrupted = true; break }
            if let budget, !budget.allowsAnotherStep(elapsed: clock() - budgetStart, estimate: estimate) {
                stoppedByBudget = true
                progress.message("step \(step): the budget of \(budget) leaves no time for another step and the closing evaluation")
                break
            }
            let indices = trainingSet.batch(at: step)
            let batch = indices.map { prompts[$0] }
            let labels = indices.map { trainingSet.examples[$0].label }
            let stepStart = clock()
            let lr = config.learningRate(at: step)   // (--lr auto: the method's own)
            let outcome = distribution.map { d in d.measure { method.step(step, batch: batch, labels: labels, lr: lr) } }
                ?? method.step(step, batch: batch, labels: labels, lr: lr)
            let seconds = clock() - stepStart
            estimate.recordStep(seconds: seconds)
            var line = outcome.line(seconds: seconds)
            line.vmhwm = ProcessMemory.peakResidentBytes
            if writesRun { try run.append(line) }
            step += 1
            try distribution?.afterStep(step, last: step == config.steps, arena: task.arena, threads: threads)
            if let note = outcome.skipNote {
                skipped += 1
                progress.message("step \(step): \(note)")
                // A non-finite loss from finite weights is skipped; from a NaN/inf weight every later
                // step would be too, so the run stops here, naming it (nothing after it is written).
                if let (name, index) = task.arena.firstNonFinite() {
                    throw RunError("step \(step): weight tensor '\(name)' element \(index) is not finite; the run stops "
                                   + "(its folder holds the steps before this one, and no snapshot of these weights)")
                }
            }
            if let loss = outcome.loss {
                recentLosses.append(loss)
                if recentLosses.count > 50 { recentLosses.removeFirst() }
            }
            let avg = recentLosses.isEmpty ? Double.nan : recentLosses.reduce(0, +) / Double(recentLosses.count)
            let budgetLeft = budget.map { $0.seconds - (clock() - budgetStart) }
            progress.update(Self.progressText(step: step, of: config.steps, loss: avg, estimate: estimate, dev: lastAccuracy,
                                              budgetLeft: budgetLeft),
                            force: step == start + 1 || step == config.steps)
            if config.evalEvery > 0, step % config.evalEvery == 0 || step == config.steps {
                try evaluate()
                // Methods with state (backprop, zo-momentum, zo-adam, HiZOO) resume from snapshots.
                if config.optimizer.usesBackprop || !method.state.isEmpty { try saveLast() }
                if let patience = config.patience, evaluationsSinceBest >= patience {
                    stoppedEarly = true
                    progress.message("step \(step): \(patience) dev evaluation\(patience == 1 ? "" : "s") in a row without a new best; stopping (--patience)")
                    break
                }
            }
        }
        // A run stopped by its budget ends as a finished run does: evaluated at its last step.
        if stoppedByBudget, config.evalEvery > 0, step > start, step % config.evalEvery != 0 { try evaluate() }
        progress.finish()
        try saveLast()
        let seconds = Date().timeIntervalSince(started)
        return TrainingSummary(
            stepsDone: step, interrupted: interrupted, stoppedByBudget: stoppedByBudget, stoppedEarly: stoppedEarly,
            skippedSteps: skipped,
            finalLoss: recentLosses.isEmpty ? nil : recentLosses.reduce(0, +) / Double(recentLosses.count),
            bestAccuracy: best, bestSteps: bestSteps, lastAccuracy: lastAccuracy, seconds: seconds,
            secondsPerStep: step > start ? seconds / Double(step - start) : 0,
            peakResidentBytes: ProcessMemory.peakResidentBytes)
    }

    /// "step 10/500  loss 0.6931  2.17 steps/s  ETA 4m10s (evals 27.1 s)  dev 81.08%"; with a budget
    /// the ETA is the sooner of the last step and the budget's end ("budget 1h02m left").
    static func progressText(step: Int, of total: Int, loss: Double, estimate: ProgressEstimate, dev: Double?,
                             budgetLeft: Double? = nil) -> String {
        let rate = estimate.secondsPerStep.map { 1 / $0 } ?? .nan
        let evals = estimate.secondsPerEvaluation.map { String(format: " (evals %.1f s)", $0) } ?? ""
        let remaining = estimate.remainingSeconds(after: step)
        let eta = budgetLeft.map { left in
            remaining.map { $0 < left } == true ? ProgressEstimate.duration(remaining)
                : "budget \(ProgressEstimate.duration(max(0, left))) left"
        } ?? ProgressEstimate.duration(remaining)
        return String(format: "step %d/%d  loss %.4f  %.2f steps/s  ETA %@%@  dev %@", step, total, loss, rate,
                      eta, evals, dev.map { String(format: "%.2f%%", $0 * 100) } ?? "-")
    }
}
