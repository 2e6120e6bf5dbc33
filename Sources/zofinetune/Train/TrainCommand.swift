import ArgumentParser
import Cluster
import Dispatch
import Foundation
import Models
import Optimizers
import Tasks
import Tensors
import Tokenizers
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a model on a task with MeZO (forward passes only, inference memory), or with SGD/AdamW by backprop.",
        discussion: """
            MeZO (--optimizer mezo, the default): each step draws a seed, perturbs the parameters in place by ±eps·z (z regenerated from \
            the seed, never stored), evaluates the batch loss at both points and moves the weights \
            by −lr·g·z with g = (L+ − L−)/(2·eps). z is ±1 per element by default \
            (--perturbation rademacher, one random bit each; gaussian is the paper's Normal(0, 1)), \
            and only the embedding rows the batch reads are perturbed and updated \
            (--embedding-perturbation batch; the other rows cannot change the loss, so perturbing \
            them only adds noise; `all` is the paper's algorithm exactly). The run folder (--out) holds run.json (base model, \
            its fingerprint, the configuration), log.jsonl (one record per step: seeds, g, lr; and \
            the dev evaluations) and snapshots of the best and last weights. Interrupt with Ctrl-C: \
            the step in flight finishes, the weights are saved and `--resume RUN_DIR` continues.

            Default recipe (measured on SST-2 with Gemma-3-270M, docs/long-horizon.md): every example of the training file, \
            batch 16, eps \(TrainingConfig().eps), \(TrainingConfig().steps) steps, dev evaluation every 500 steps, best weights kept, \
            and MeZO's constant lr by the run's length unless --lr is given: the best fixed lr measured at that length, \
            \(LRByLength.mezo.text). A larger lr learns faster and then falls (its training loss climbs); a smaller \
            one learns more slowly and goes further.

            SGD and AdamW (--optimizer sgd|adamw) are the backprop reference: the same task, batches, \
            run folder and export, with gradients by a hand-written backward pass. They hold every \
            layer's activations, a gradient of the weights' size and (AdamW) two moments: about 2× \
            (SGD) and 4× (AdamW) the memory of MeZO (see `zofinetune profile`). SGD has no momentum \
            (θ −= lr·∇L exactly); AdamW is PyTorch's (betas 0.9/0.999, eps 1e-8). Neither decays \
            weights nor clips gradients unless --weight-decay / --max-grad-norm are given. Their \
            weights and AdamW's moments are saved at every dev evaluation and at the end \
            (weights-last, optimizer-last), which is what --resume continues from.

            An encoder folder (config.json model_type bert or roberta, e.g. all-MiniLM-L6-v2) trains \
            on label descriptions: logits = cosine(sentence, description) / --temperature, \
            cross-entropy over labels (no new head); run.json keeps the descriptions and the \
            temperature. On all-MiniLM-L6-v2 MeZO did best with --lr 5e-5 (README).

            \(OptimizerOptions.papersHelp)
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var taskOptions: TaskOptions
    @OptionGroup var encoderOptions: EncoderTaskOptions
    @OptionGroup(title: "Parameter-efficient fine-tuning") var peftOptions: PEFTOptions

    @OptionGroup(title: "Optimizer") var optimizerOptions: OptimizerOptions
    @Option(name: .long, help: "What a step minimises: loss (cross-entropy, default), accuracy (minus the batch accuracy; a completion task: exact match of greedy generations) or f1 (minus the batch macro-F1; a completion task: SQuAD F1). accuracy and f1 have no gradient: MeZO only.") var objective: TrainingConfig.Objective?
    @Option(name: .long, help: "Steps in the run (with --resume: extend the run to this many).") var steps: Int?
    @Option(name: .long, help: ArgumentHelp("""
        Wall-clock limit of this command (90m, 2h, 1h30m), loading included: the run stops before a step that would not leave \
        time for itself and a dev evaluation, evaluates, saves and exits 0. Without --steps, the budget is the only limit \
        (steps capped at \(TimeBudget.stepCap)). With --resume: this much more time.
        """, valueName: "duration")) var budget: TimeBudget?
    @Option(name: .long, help: "Examples per batch (default 16).") var batchSize: Int?
    @Option(name: .long, help: ArgumentHelp("sgd/adamw: refuse to start when the memory plan predicts more than this many GB (default: MemAvailable).", valueName: "GB"))
    var memoryLimit: Double?
    @Option(name: .long, help: "Learning-rate schedule: constant or linear (to 0).") var schedule: TrainingConfig.Schedule?
    @Option(name: .long, help: "Seeded sample of the training file (default: all of it).") var trainExamples: Int?
    @Option(name: .long, help: "Examples per class instead of --train-examples.") var kShot: Int?
    @Option(name: .long, help: "Seed of sampling, batch order and perturbations (default 0).") var seed: UInt64?
    @Option(name: .long, help: "Evaluate on dev every N steps (0: never; default 500).") var evalEvery: Int?
    @Option(name: .long, help: "Evaluate on the first N dev examples only.") var evalExamples: Int?
    @Option(name: .long, help: ArgumentHelp("""
        Stop after N dev evaluations in a row without a new best (the run keeps its best weights). Default: off, \
        or \(TrainCommand.budgetPatience) with --budget and no --steps (the measured MeZO curves peak, then fall: docs/long-horizon.md).
        """, valueName: "N")) var patience: Int?
    @Option(name: .long, help: ArgumentHelp("Run folder to create (default runs/<task>-<time>).", valueName: "dir")) var out: String?
    @Option(name: .long, help: ArgumentHelp("Continue the run in this folder.", valueName: "dir")) var resume: String?
    @Flag(name: .long, help: "Print one JSON summary object on stdout.") var json = false
    @Option(name: .long, help: ArgumentHelp("A YAML (or JSON) file of these flags without dashes (batch-size: 16); flags given here override it. A run's run.json or config.yaml makes that run again.", valueName: "file"))
    var config: String?   // replaced by the file's flags before parsing (TrainConfigFile.expanding)
    @Option(name: .long, help: ArgumentHelp("""
        Under `mpirun -np N`: data (every rank holds the model and evaluates its share of each batch; MeZO ranks \
        exchange only per-example losses, the weights stay bitwise those of one process) or pipeline (rank s \
        holds a contiguous range of layers). Needs Open MPI (opened at run time; README, "Past one machine").
        """, valueName: "data|pipeline")) var distributed: Distribution.Mode?
    @Option(name: .long, help: "--distributed: compare the ranks' weight fingerprints every N steps and after the last (0: never; default 50).")
    var checkEvery: Int = 50
    @Option(name: .long, help: """
        MeZO: evaluate each batch in forward passes of N examples (default: the whole batch; with --distributed, \
        batch/ranks rounded up). A distributed run is bitwise the single-process run with the same --micro-batch.
        """) var microBatch: Int?

    /// Evaluations without a new best after which a budgeted run with no --steps stops (`--patience`).
    static let budgetPatience = 4

    func validate() throws {
        if let memoryLimit, !(memoryLimit > 0 && memoryLimit <= 1e6) {
            throw ValidationError("--memory-limit must be a number of GB in (0, 1000000]")
        }
        let optimizer = optimizerOptions.chosen, backprop = optimizer.usesBackprop
        if backprop, microBatch != nil {
            throw ValidationError(OptimizerOptions.notOwned("--micro-batch", zerothOrderFamily: true, owners: [], optimizer: optimizer.rawValue))
        }
        // The rules run.json is checked with when a run folder is read (SettingRules, RunManifestCheck).
        try SettingRules.steps.validate(steps)
        try SettingRules.batchSize.validate(batchSize)
        try SettingRules.trainExamples.validate(trainExamples)
        try SettingRules.kShot.validate(kShot)
        try SettingRules.evalEvery.validate(evalEvery)
        try SettingRules.evalExamples.validate(evalExamples)
        try SettingRules.patience.validate(patience)
        if patience != nil, evalEvery == 0 { throw ValidationError("--patience counts dev evaluations: it needs --eval-every above 0") }
        try SettingRules.microBatch.validate(microBatch)
        try SettingRules.checkEvery.validate(checkEvery)
        if let objective, objective != .loss, backprop {
            throw ValidationError("--objective \(objective.rawValue) is not differentiable: it needs a zeroth-order optimizer (--optimizer mezo), not \(optimizer.rawValue)")
        }
        if trainExamples != nil, kShot != nil { throw ValidationError("give --train-examples or --k-shot, not both") }
        if budget != nil, steps == nil, resume == nil, schedule == .linear {
            throw ValidationError("--schedule linear decays to 0 at the last step: give --steps with --budget")
        }
        // Only rank 0 reads the clock and evaluates: the other ranks would wait for it at the next step.
        if let distributed, budget != nil || patience != nil {
            throw ValidationError("--\(budget != nil ? "budget" : "patience") is not built for --distributed \(distributed.rawValue) runs: the ranks could stop at different steps")
        }
        if objective == .f1, microBatch != nil || distributed != nil {
            throw ValidationError("--objective f1 is a property of the whole batch, not a sum over its examples: it cannot be split by --micro-batch or --distributed")
        }
        if let distributed, let peft = peftOptions.peft, peft != .none {
            throw ValidationError("--peft \(peft.rawValue) is not built for --distributed \(distributed.rawValue) runs")
        }
        if let distributed, !backprop {
            if optimizer != .mezo {
                throw ValidationError("--distributed \(distributed.rawValue) runs MeZO (and sgd/adamw data parallel), not \(optimizer.rawValue)")
            }
            if optimizerOptions.lr == .auto { throw ValidationError("--lr auto is not built for --distributed runs; give a number") }
        }
    }

    /// The configuration of a new run: defaults overridden by the options given. Without
    /// --train-examples or --k-shot the run trains on all `trainRows` rows of its training file
    /// (docs/long-horizon.md: over a long run a sample of 1,000 is seen dozens of times, and a
    /// smaller file is then no error).
    func newConfig(trainRows: Int) -> TrainingConfig {
        var c = TrainingConfig()
        c.task = taskOptions.taskName
        if let steps { c.steps = steps } else if budget != nil { c.steps = TimeBudget.stepCap }
        // PEFT's own default lr, applied below, takes precedence over the optimizer's.
        optimizerOptions.apply(to: &c, plannedSteps: steps ?? (budget == nil ? c.steps : nil))
        if let objective { c.objective = objective }
        if let batchSize { c.batchSize = batchSize }
        if let schedule { c.schedule = schedule }
        c.trainExamples = trainExamples ?? trainRows
        c.kShot = kShot
        if let seed { c.seed = seed }
        if let evalEvery { c.evalEvery = evalEvery }
        c.evalExamples = evalExamples
        c.patience = patience ?? (budget != nil && steps == nil ? Self.budgetPatience : nil)
        if !c.optimizer.usesBackprop { c.microBatch = microBatch ?? Self.ranks.map { (c.batchSize + $0 - 1) / $0 } }
        peftOptions.apply(to: &c, lrGiven: optimizerOptions.lr != nil, epsGiven: optimizerOptions.eps != nil)
        return c
    }

    func run() throws {
        guard let distributed else { return try train(communicator: nil, mode: nil) }
        let communicator = try Communicator.mpi()
        Self.ranks = communicator.size
        Self.shareCores(givenThreads: modelOptions.threads)
        try onEveryRank(communicator) { try train(communicator: communicator, mode: distributed) }
    }

    /// The run on one process (`communicator` nil) or on this rank of a distributed job.
    func train(communicator: Communicator?, mode: Distribution.Mode?) throws {
        let commandStart = ProgressLine.monotonicSeconds()
        let isRoot = communicator?.isRoot ?? true
        let log: (String) -> Void = isRoot ? zofinetune.log : { _ in }
        // A resumed run poses the task it was trained on, on its data, unless flags say otherwise.
        let kept = try resume.flatMap { try RunFolder(path: $0).manifest.config.taskFile }
        var prompt = try taskOptions.prompt(run: kept, runPath: resume ?? "")
        let train = try taskOptions.examples(.train, prompt: prompt, run: kept)
        let dev = try taskOptions.examples(.dev, prompt: prompt, run: kept)
        prompt.chooseDemonstrations(from: train)
        if communicator == nil { try admit(prompt: prompt, train: train) }
        var pipeline: PipelineModel?
        let (task, run, start): (TrainingTask, RunFolder, Int)
        if mode == .pipeline, let communicator {
            let opened = try openPipelineRun(prompt: prompt, trainRows: train.count, communicator: communicator)
            (task, run, start, pipeline) = (opened.0, opened.1, opened.2, opened.3)
        } else {
            (task, run, start) = try communicator.map { try openRun(prompt: prompt, trainRows: train.count, communicator: $0) }
                ?? openRun(prompt: prompt, trainRows: train.count)
        }
        var config = run.manifest.config
        if resume == nil, isRoot { try writeResolvedConfiguration(config, runPath: run.path) }
        if resume == nil, let recipe = DefaultRecipe.line(config, options: optimizerOptions, budget: budget) { log(recipe) }
        if let steps, resume != nil { config.steps = steps }
        if let evalEvery, resume != nil { config.evalEvery = evalEvery }
        if let evalExamples, resume != nil { config.evalExamples = evalExamples }
        if let patience, resume != nil { config.patience = patience }

        let stop = StopFlag()
        // A distributed run does not catch SIGINT/SIGTERM: the ranks could stop at different steps
        // and wait for each other; the log already holds every step all ranks finished.
        if communicator == nil { stop.install() }
        let trainer = try Trainer(task: task, config: config, run: run, train: train, dev: dev, threads: Threads.count,
                                  stopRequested: { stop.isSet }, log: log)
        trainer.progress = .standardError()
        (trainer.budget, trainer.budgetStart) = (budget, commandStart)
        if let communicator, let mode {
            trainer.distribution = Distribution(mode: mode, communicator: communicator, checkEvery: checkEvery, pipeline: pipeline)
            log("distributed (\(mode.rawValue)) over \(communicator.size) ranks, \(Threads.count) threads each")
        }
        let settings = config.optimizer.usesBackprop
            ? config.maxGradNorm.map { ", max grad norm \($0)" } ?? ""
            : ", eps \(config.eps)"
        let lrText = config.lrAuto.map { "auto (\($0.fraction) of the stability limit)" } ?? "\(config.lr)"
        log("training \(run.path) with \(config.optimizer.rawValue): \(TimeBudget.limitText(steps: config.steps, budget: budget)), batch \(config.batchSize), lr \(lrText)\(settings), from step \(start)")
        let summary = try trainer.train(from: start)
        var out = summary.json
        out["run"] = run.path
        if let d = trainer.distribution {
            out["ranks"] = d.communicator.size
            out["bytes_sent_per_step"] = d.bytesPerStep
            if let bytes = d.bytesPerStep { log(String(format: "rank 0 sent %.0f bytes per step", bytes)) }
            let peaks = try d.communicator.allGather(UInt64(summary.peakResidentBytes ?? 0))
            out["peak_rss_bytes_per_rank"] = peaks.map { Int($0) }
            log("peak RSS per rank: " + peaks.map { String(format: "%.3f GB", Double($0) / 1e9) }.joined(separator: ", "))
        }
        guard isRoot else { return }
        if summary.stoppedByBudget, let budget {
            log("the budget of \(budget) is spent after step \(summary.stepsDone); continue with: zofinetune train --model \(modelOptions.model) --resume \(run.path) --budget DURATION")
        }
        if summary.interrupted {
            log("interrupted after step \(summary.stepsDone); weights saved. Continue with: zofinetune train --model \(modelOptions.model) --resume \(run.path)")
        }
        if let peak = summary.peakResidentBytes {
            log(String(format: "peak RSS %.2f GB (%@ weights %.2f GB)", Double(peak) / 1e9, task.baseArena.format.rawValue,
                       Double(task.baseArena.byteCount) / 1e9))
        }
        try logOutcome(run, summary)
        if json { try printJSON(out) }
        if summary.interrupted { throw ExitCode(130) }
    }

    /// What the run did to dev accuracy, where it is and what to do with it next.
    func logOutcome(_ run: RunFolder, _ summary: TrainingSummary) throws {
        let evals = try run.lines().filter { $0.type == "eval" }
        if let first = evals.first, let last = evals.last, let a = first.accuracy, let b = last.accuracy {
            var line = String(format: "dev accuracy %.2f%% at step %d -> %.2f%% at step %d", a * 100, first.step, b * 100, last.step)
            if let best = summary.bestAccuracy, let steps = summary.bestSteps, best > b {
                line += String(format: " (best %.2f%% at step %d)", best * 100, steps)
            }
            log(line)
        }
        log("run folder \(run.path): evaluate with `zofinetune eval --model \(modelOptions.model) --run \(run.path)`, "
            + "export with `zofinetune export --model \(modelOptions.model) --run \(run.path) --out DIR`")
    }

    /// A new run (model loaded, folder created) or the resumed one (weights brought to its last step).
    func openRun(prompt: TaskPrompt, trainRows: Int) throws -> (TrainingTask, RunFolder, Int) {
        let architecture = try modelOptions.architecture()
        if let resume {
            let run = try RunFolder(path: resume)
            for stale in try run.lockForWriting() { log("removed \(stale), left by a write that was killed") }
            try checkResumeOptions(against: run.manifest.config, run: resume)
            let (task, done) = try loadTask(run: RunOptions(run: resume, at: "last"), config: run.manifest.config, prompt: prompt)
            // Steps (and evaluations) past the weights we continue from are stale: for MeZO,
            // none; for a backprop run, those after its last snapshot.
            if try run.stepCount() > done {
                log("\(resume): continuing from the weights saved after step \(done) (later steps are dropped)")
            }
            try run.truncateSteps(to: done)
            return (task, run, done)
        }
        var config = newConfig(trainRows: trainRows)
        config.taskFile = taskOptions.runTask(prompt)
        if architecture.holds16BitWeights {
            config.weights = try ModelLoader.weightFormat(directory: modelOptions.model, requested: modelOptions.weights).0
        }
        try config.checkWeightFormat(encoder: !architecture.holds16BitWeights)
        if architecture.scoresLabelDescriptions {
            // bf16 products are a decoder's (the encoder's training forward has no bf16 path).
            if config.precision == .bf16 { throw ValidationError("--precision bf16 trains decoders only; \(modelOptions.model) is an encoder") }
            // run.json keeps the descriptions and temperature, so eval --run and resume pose the same task.
            config.labelDescriptions = try encoderOptions.descriptions(task: taskOptions.taskName).texts
            config.temperature = encoderOptions.temperature
        }
        let (task, _) = try loadTask(run: nil, config: config, prompt: prompt)
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let path = out ?? "runs/\(taskOptions.taskName)-\(formatter.string(from: Date()))"
        let manifest = RunManifest(baseModel: URL(fileURLWithPath: modelOptions.model).standardizedFileURL.path,
                                   baseFingerprint: task.baseArena.fingerprint(threads: Threads.count),
                                   config: config, threads: Threads.count)
        return (task, try RunFolder.create(path: path, manifest: manifest), 0)
    }

    /// The model folder posed the task (`TrainingTasks.make`): a decoder with the task's prompt, or an
    /// encoder with the run's label descriptions and temperature. Returns the steps of `run` in its weights.
    func loadTask(run: RunOptions?, config: TrainingConfig, prompt: TaskPrompt) throws -> (TrainingTask, Int) {
        try TrainingTasks.check(prompt, on: try modelOptions.architecture())
        let (loaded, steps) = try modelOptions.loadModel(run: run)
        if run == nil { try PEFTSetup.attach(config, to: loaded.model) }   // a run's come with its replay
        // With adapters the base never changes: its bf16 copies are made once (LowPrecisionProducts).
        if config.precision == .bf16, prompt.spec.objective == .classify {
            try loaded.model.useBF16Products(weightsChange: config.peft == .none)
        }
        var posing = TrainingTasks.Posing(modelDirectory: modelOptions.model) {
            try config.labelDescriptions.map(LabelDescriptions.init) ?? encoderOptions.descriptions(task: taskOptions.taskName)
        }
        posing.objective = config.objective
        posing.temperature = config.temperature ?? LabelDescriptionScorer.defaultTemperature
        return (try TrainingTasks.make(loaded, prompt: prompt, posing: posing), steps)
    }
}

extension TrainingConfig.Schedule: ExpressibleByArgument {}
extension TimeBudget: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}
extension TrainingConfig.Optimizer: ExpressibleByArgument {}
extension TrainingConfig.EmbeddingPerturbation: ExpressibleByArgument {}
extension Perturbation: ExpressibleByArgument {}
extension TrainingConfig.Objective: ExpressibleByArgument {}

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
