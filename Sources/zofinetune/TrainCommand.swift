import ArgumentParser
import Dispatch
import Foundation
import Models
import Tasks
import Tensors
import Tokenizers
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a model on a task with MeZO (forward passes only, inference memory).",
        discussion: """
            Each step draws a seed, perturbs every parameter in place by ±eps·z (z regenerated from \
            the seed, never stored), evaluates the batch loss at both points and moves the weights \
            by −lr·g·z with g = (L+ − L−)/(2·eps). The run folder (--out) holds run.json (base model, \
            its fingerprint, the configuration), log.jsonl (one record per step: seeds, g, lr; and \
            the dev evaluations) and snapshots of the best and last weights. Interrupt with Ctrl-C: \
            the step in flight finishes, the weights are saved and `--resume RUN_DIR` continues.

            Default recipe (SST-2, Gemma-3-270M): 1,000 training examples, batch 16, eps 1e-3, \
            constant lr 2e-6, dev evaluation every 500 steps (lr 3e-5 diverges; 1e-5 and 5e-6 learn the label bias fast, then the training loss climbs).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var taskOptions: TaskOptions

    @Option(name: .long, help: "Optimizer: mezo.") var optimizer: String?
    @Option(name: .long, help: "Steps in the run (with --resume: extend the run to this many).") var steps: Int?
    @Option(name: .long, help: "Examples per batch (default 16).") var batchSize: Int?
    @Option(name: .long, help: "Learning rate (default 2e-6).") var lr: Float?
    @Option(name: .long, help: "Perturbation scale eps (default 1e-3).") var eps: Float?
    @Option(name: .long, help: "Perturbations averaged per step (n-SPSA; default 1).") var perturbations: Int?
    @Option(name: .long, help: "Weight decay on matrices and embeddings (default 0).") var weightDecay: Float?
    @Option(name: .long, help: "Learning-rate schedule: constant or linear (to 0).") var schedule: TrainingConfig.Schedule?
    @Option(name: .long, help: "Seeded sample of the training split (default 1000).") var trainExamples: Int?
    @Option(name: .long, help: "Examples per class instead of --train-examples.") var kShot: Int?
    @Option(name: .long, help: "Seed of sampling, batch order and perturbations (default 0).") var seed: UInt64?
    @Option(name: .long, help: "Evaluate on dev every N steps (0: never; default 500).") var evalEvery: Int?
    @Option(name: .long, help: "Evaluate on the first N dev examples only.") var evalExamples: Int?
    @Option(name: .long, help: ArgumentHelp("Run folder to create (default runs/<task>-<time>).", valueName: "dir")) var out: String?
    @Option(name: .long, help: ArgumentHelp("Continue the run in this folder.", valueName: "dir")) var resume: String?
    @Flag(name: .long, help: "Print one JSON summary object on stdout.") var json = false

    func validate() throws {
        if let optimizer, optimizer != "mezo" {
            throw ValidationError("--optimizer \(optimizer): only mezo is available")
        }
        for (name, value) in [("--steps", steps), ("--batch-size", batchSize), ("--perturbations", perturbations),
                              ("--train-examples", trainExamples), ("--k-shot", kShot), ("--eval-examples", evalExamples)] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1") }
        }
        if let evalEvery, evalEvery < 0 { throw ValidationError("--eval-every must be 0 or more") }
        if let eps, !(eps > 0) { throw ValidationError("--eps must be positive") }
        if let lr, !(lr >= 0) { throw ValidationError("--lr must be 0 or more") }
        if trainExamples != nil, kShot != nil { throw ValidationError("give --train-examples or --k-shot, not both") }
        if resume != nil {
            let fixed: [(String, Bool)] = [("--batch-size", batchSize != nil), ("--lr", lr != nil), ("--eps", eps != nil),
                ("--perturbations", perturbations != nil), ("--weight-decay", weightDecay != nil),
                ("--schedule", schedule != nil), ("--train-examples", trainExamples != nil), ("--k-shot", kShot != nil),
                ("--seed", seed != nil), ("--out", out != nil)]
            if let (name, _) = fixed.first(where: { $0.1 }) {
                throw ValidationError("\(name) cannot change when resuming: the run's run.json fixes it")
            }
        }
    }

    /// The configuration of a new run: defaults overridden by the options given.
    func newConfig() -> TrainingConfig {
        var c = TrainingConfig()
        c.task = taskOptions.task.rawValue
        if let steps { c.steps = steps }
        if let batchSize { c.batchSize = batchSize }
        if let lr { c.lr = lr }
        if let eps { c.eps = eps }
        if let perturbations { c.perturbations = perturbations }
        if let weightDecay { c.weightDecay = weightDecay }
        if let schedule { c.schedule = schedule }
        if let trainExamples { c.trainExamples = trainExamples }
        c.kShot = kShot
        if let seed { c.seed = seed }
        if let evalEvery { c.evalEvery = evalEvery }
        c.evalExamples = evalExamples
        return c
    }

    func run() throws {
        let train = try TaskData.load(directory: taskOptions.dataDirectory, split: .train)
        let dev = try TaskData.load(directory: taskOptions.dataDirectory, split: .dev)
        let (model, tokenizer, run, start) = try openRun()
        var config = run.manifest.config
        if let steps, resume != nil { config.steps = steps }
        if let evalEvery, resume != nil { config.evalEvery = evalEvery }
        if let evalExamples, resume != nil { config.evalExamples = evalExamples }

        let stop = StopFlag()
        stop.install()
        let trainer = try MeZOTrainer(model: model, tokenizer: tokenizer, config: config, run: run,
                                      prompt: taskOptions.task.prompt, train: train, dev: dev, threads: Threads.count,
                                      stopRequested: { stop.isSet }, log: log)
        log("training \(run.path): \(config.steps) steps, batch \(config.batchSize), lr \(config.lr), eps \(config.eps), from step \(start)")
        let summary = try trainer.train(from: start)
        var out = summary.json
        out["run"] = run.path
        if summary.interrupted {
            log("interrupted after step \(summary.stepsDone); weights saved. Continue with: zofinetune train --model \(modelOptions.model) --resume \(run.path)")
        }
        if let peak = summary.peakResidentBytes {
            log(String(format: "peak RSS %.2f GB (f32 weights %.2f GB)", Double(peak) / 1e9, Double(model.arena.count * 4) / 1e9))
        }
        if json { try printJSON(out) }
        if summary.interrupted { throw ExitCode(130) }
    }

    /// A new run (model loaded, folder created) or the resumed one (weights replayed to its last step).
    func openRun() throws -> (DecoderModel, Tokenizer, RunFolder, Int) {
        if let resume {
            let run = try RunFolder(path: resume)
            let (model, tokenizer) = try modelOptions.load(run: RunOptions(run: resume, at: "last"))
            let done = try run.steps().count
            try run.truncateSteps(to: done)   // evaluations past the last full step are stale
            return (model, tokenizer, run, done)
        }
        let (model, tokenizer) = try modelOptions.load()
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let path = out ?? "runs/\(taskOptions.task.rawValue)-\(formatter.string(from: Date()))"
        let manifest = RunManifest(baseModel: URL(fileURLWithPath: modelOptions.model).standardizedFileURL.path,
                                   baseFingerprint: model.arena.fingerprint(threads: Threads.count),
                                   config: newConfig(), threads: Threads.count)
        return (model, tokenizer, try RunFolder.create(path: path, manifest: manifest), 0)
    }
}

extension TrainingConfig.Schedule: ExpressibleByArgument {}

/// Set by SIGINT/SIGTERM so the training loop can finish its step, save and exit.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    private var sources: [DispatchSourceSignal] = []

    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return set }

    func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock(); let again = self.set; self.set = true; self.lock.unlock()
                if again { log("second interrupt: exiting now (the log holds every finished step)"); exit(130) }
                log("interrupt: finishing the current step, then saving (press Ctrl-C again to quit at once)")
            }
            source.resume()
            sources.append(source)
        }
    }
}
