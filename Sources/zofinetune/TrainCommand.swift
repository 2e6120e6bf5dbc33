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

            Default recipe (SST-2, Gemma-3-270M): 1,000 training examples, batch 16, eps 1e-3, \
            constant lr 2e-6, dev evaluation every 500 steps (lr 3e-5 diverges; 1e-5 and 5e-6 learn the label bias fast, then the training loss climbs).

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

            \(ZeroOrderHelp.text)
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var taskOptions: TaskOptions
    @OptionGroup var encoderOptions: EncoderTaskOptions
    @OptionGroup(title: "Parameter-efficient fine-tuning") var peftOptions: PEFTOptions

    @Option(name: .long, help: "Optimizer: mezo (default), zo-sign, zo-momentum, zo-adam, zo-cons, fzoo, hizoo, lozo, sparse-mezo (zeroth-order; papers below), sgd or adamw.") var optimizer: TrainingConfig.Optimizer?
    @Option(name: .long, help: "What a step minimises: loss (cross-entropy, default), accuracy (minus the batch accuracy; a completion task: exact match of greedy generations) or f1 (minus the batch macro-F1; a completion task: SQuAD F1). accuracy and f1 have no gradient: MeZO only.") var objective: TrainingConfig.Objective?
    @Option(name: .long, help: "Steps in the run (with --resume: extend the run to this many).") var steps: Int?
    @Option(name: .long, help: "Examples per batch (default 16).") var batchSize: Int?
    @Option(name: .long, help: "Learning rate, or auto (mezo, sparse-mezo, zo-cons: a fraction of the measured stability limit; see below) (default: mezo 2e-6, sgd 1e-4, adamw 1e-5).") var lr: LearningRateOption?
    @Option(name: .long, help: "--lr auto: lr = this fraction of the stability limit 2q/tr(H) (default 0.05).") var autoFraction: Float?
    @Option(name: .long, help: "zo-momentum: the momentum μ (default: --beta1's 0.9).") var momentum: Float?
    @Option(name: .long, help: "hizoo: smoothing α of the Hessian estimate (default 1e-8, the reference's).") var hessianSmooth: Float?
    @Option(name: .long, help: "lozo: rank r of U·Vᵀ (default 2).") var lozoRank: Int?
    @Option(name: .long, help: "lozo: steps ν that V is kept (default 50).") var lozoInterval: Int?
    @Option(name: .long, help: "sparse-mezo: fraction of each tensor's weights, smallest |θ| first, that are perturbed (default 0.75).") var sparseQuantile: Float?
    @Option(name: .long, help: "Perturbation scale eps (default 1e-3).") var eps: Float?
    @Option(name: .long, help: "Perturbations averaged per step (n-SPSA; default 1).") var perturbations: Int?
    @Option(name: .long, help: "MeZO's z: rademacher (±1, default) or gaussian (the paper's).")
    var perturbation: Perturbation?
    @Option(name: .long, help: "MeZO: perturb the embedding rows the batch reads (batch, default) or every row (all, the paper's).")
    var embeddingPerturbation: TrainingConfig.EmbeddingPerturbation?
    @Option(name: .long, help: "MeZO on a decoder: products of the forwards in fp32 (default) or bf16 (oneDNN; the copies follow every perturbation).")
    var precision: Precision?
    @Option(name: .long, help: "Weight decay on matrices and embeddings (default 0).") var weightDecay: Float?
    @Option(name: .long, help: "sgd/adamw: clip the gradient's global L2 norm to this (default: no clipping).") var maxGradNorm: Float?
    @Option(name: .long, help: "adamw: first-moment decay (default 0.9).") var beta1: Float?
    @Option(name: .long, help: "adamw: second-moment decay (default 0.999).") var beta2: Float?
    @Option(name: .long, help: "Learning-rate schedule: constant or linear (to 0).") var schedule: TrainingConfig.Schedule?
    @Option(name: .long, help: "Seeded sample of the training split (default 1000).") var trainExamples: Int?
    @Option(name: .long, help: "Examples per class instead of --train-examples.") var kShot: Int?
    @Option(name: .long, help: "Seed of sampling, batch order and perturbations (default 0).") var seed: UInt64?
    @Option(name: .long, help: "Evaluate on dev every N steps (0: never; default 500).") var evalEvery: Int?
    @Option(name: .long, help: "Evaluate on the first N dev examples only.") var evalExamples: Int?
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

    func validate() throws {
        if let maxGradNorm, !(maxGradNorm > 0) { throw ValidationError("--max-grad-norm must be positive") }
        for (name, value) in [("--beta1", beta1), ("--beta2", beta2)] {
            if let value, !(value >= 0 && value < 1) { throw ValidationError("\(name) must be in [0, 1)") }
        }
        let backprop = (optimizer ?? .mezo).usesBackprop
        try ZeroOrderHelp.validate(optimizer: optimizer ?? .mezo, lr: lr, perturbations: perturbations,
                                   weightDecay: weightDecay, momentum: momentum, hessianSmooth: hessianSmooth,
                                   lozoRank: lozoRank, lozoInterval: lozoInterval, sparseQuantile: sparseQuantile,
                                   autoFraction: autoFraction)
        let moments = [.adamw, .zoAdam, .zoMomentum].contains(optimizer ?? .mezo)
        if !backprop, let (name, _) = [("--max-grad-norm", maxGradNorm != nil), ("--beta1", beta1 != nil && !moments),
                                        ("--beta2", beta2 != nil && optimizer != .zoAdam)].first(where: { $0.1 }) {
            throw ValidationError("\(name) applies to --optimizer sgd or adamw (beta1: zo-momentum, zo-adam; beta2: zo-adam), not \((optimizer ?? .mezo).rawValue)")
        }
        if backprop, let (name, _) = [("--eps", eps != nil), ("--perturbations", perturbations != nil),
                                      ("--perturbation", perturbation != nil),
                                      ("--embedding-perturbation", embeddingPerturbation != nil),
                                      ("--precision", precision != nil), ("--micro-batch", microBatch != nil)].first(where: { $0.1 }) {
            throw ValidationError("\(name) is a MeZO setting; --optimizer \(optimizer!.rawValue) does not use it")
        }
        if optimizer == .sgd, let (name, _) = [("--beta1", beta1 != nil), ("--beta2", beta2 != nil)].first(where: { $0.1 }) {
            throw ValidationError("\(name) applies to --optimizer adamw; sgd has no moments")
        }
        for (name, value) in [("--steps", steps), ("--batch-size", batchSize), ("--perturbations", perturbations),
                              ("--train-examples", trainExamples), ("--k-shot", kShot), ("--eval-examples", evalExamples),
                              ("--micro-batch", microBatch)] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1") }
        }
        if let evalEvery, evalEvery < 0 { throw ValidationError("--eval-every must be 0 or more") }
        if checkEvery < 0 { throw ValidationError("--check-every must be 0 or more") }
        if let objective, objective != .loss, backprop {
            throw ValidationError("--objective \(objective.rawValue) is not differentiable: it needs a zeroth-order optimizer (--optimizer mezo), not \(optimizer!.rawValue)")
        }
        if let eps, !(eps > 0) { throw ValidationError("--eps must be positive") }
        if case .value(let lr) = lr, !(lr >= 0) { throw ValidationError("--lr must be 0 or more") }
        if trainExamples != nil, kShot != nil { throw ValidationError("give --train-examples or --k-shot, not both") }
        if objective == .f1, microBatch != nil || distributed != nil {
            throw ValidationError("--objective f1 is a property of the whole batch, not a sum over its examples: it cannot be split by --micro-batch or --distributed")
        }
        if let distributed, let peft = peftOptions.peft, peft != .none {
            throw ValidationError("--peft \(peft.rawValue) is not built for --distributed \(distributed.rawValue) runs")
        }
        if let distributed, !(optimizer ?? .mezo).usesBackprop {
            if let optimizer, optimizer != .mezo {
                throw ValidationError("--distributed \(distributed.rawValue) runs MeZO (and sgd/adamw data parallel), not \(optimizer.rawValue)")
            }
            if lr == .auto { throw ValidationError("--lr auto is not built for --distributed runs; give a number") }
        }
    }

    /// The configuration of a new run: defaults overridden by the options given.
    func newConfig() -> TrainingConfig {
        var c = TrainingConfig()
        c.task = taskOptions.taskName
        if let steps { c.steps = steps }
        if let optimizer { c.optimizer = optimizer }
        if let objective { c.objective = objective }
        if let batchSize { c.batchSize = batchSize }
        switch lr {
        case .value(let value): c.lr = value
        case .auto:
            c.lr = 0
            c.lrAuto = TrainingConfig.AutoLR()
            if let autoFraction { c.lrAuto!.fraction = autoFraction }
        case nil: c.lr = c.optimizer.defaultLR
        }
        if let momentum { c.beta1 = momentum }
        if let hessianSmooth { c.hessianSmooth = hessianSmooth }
        if let lozoRank { c.lozoRank = lozoRank }
        if let lozoInterval { c.lozoInterval = lozoInterval }
        if let sparseQuantile { c.sparseQuantile = sparseQuantile }
        // FZOO needs several probes for σ (the reference's N = 8); HiZOO's diagonal needs z² ≠ 1.
        if c.optimizer == .fzoo, perturbations == nil { c.perturbations = 8 }
        if c.optimizer == .hizoo, perturbation == nil { c.perturbation = .gaussian }
        c.maxGradNorm = maxGradNorm
        if let beta1 { c.beta1 = beta1 }
        if let beta2 { c.beta2 = beta2 }
        if let eps { c.eps = eps }
        if let perturbations { c.perturbations = perturbations }
        if let perturbation { c.perturbation = perturbation }
        if let embeddingPerturbation { c.embeddingPerturbation = embeddingPerturbation }
        if let precision { c.precision = precision }
        if let weightDecay { c.weightDecay = weightDecay }
        if let schedule { c.schedule = schedule }
        if let trainExamples { c.trainExamples = trainExamples }
        c.kShot = kShot
        if let seed { c.seed = seed }
        if let evalEvery { c.evalEvery = evalEvery }
        c.evalExamples = evalExamples
        if !c.optimizer.usesBackprop { c.microBatch = microBatch ?? Self.ranks.map { (c.batchSize + $0 - 1) / $0 } }
        peftOptions.apply(to: &c, lrGiven: lr != nil, epsGiven: eps != nil)
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
        let isRoot = communicator?.isRoot ?? true
        let log: (String) -> Void = isRoot ? zofinetune.log : { _ in }
        // A resumed run poses the task it was trained on, on its data, unless flags say otherwise.
        let kept = try resume.flatMap { try RunFolder(path: $0).manifest.config.taskFile }
        var prompt = try taskOptions.prompt(run: kept, runPath: resume ?? "")
        let train = try taskOptions.examples(.train, prompt: prompt, run: kept)
        let dev = try taskOptions.examples(.dev, prompt: prompt, run: kept)
        prompt.chooseDemonstrations(from: train)
        var pipeline: PipelineModel?
        let (task, run, start): (TrainingTask, RunFolder, Int)
        if mode == .pipeline, let communicator {
            let opened = try openPipelineRun(prompt: prompt, communicator: communicator)
            (task, run, start, pipeline) = (opened.0, opened.1, opened.2, opened.3)
        } else {
            (task, run, start) = try communicator.map { try openRun(prompt: prompt, communicator: $0) } ?? openRun(prompt: prompt)
        }
        var config = run.manifest.config
        if resume == nil, isRoot { try writeResolvedConfiguration(config, runPath: run.path) }
        if let steps, resume != nil { config.steps = steps }
        if let evalEvery, resume != nil { config.evalEvery = evalEvery }
        if let evalExamples, resume != nil { config.evalExamples = evalExamples }

        let stop = StopFlag()
        // A distributed run does not catch SIGINT/SIGTERM: the ranks could stop at different steps
        // and wait for each other; the log already holds every step all ranks finished.
        if communicator == nil { stop.install() }
        let trainer = try Trainer(task: task, config: config, run: run, train: train, dev: dev, threads: Threads.count,
                                  stopRequested: { stop.isSet }, log: log)
        trainer.progress = .standardError()
        if let communicator, let mode {
            trainer.distribution = Distribution(mode: mode, communicator: communicator, checkEvery: checkEvery, pipeline: pipeline)
            log("distributed (\(mode.rawValue)) over \(communicator.size) ranks, \(Threads.count) threads each")
        }
        let settings = config.optimizer.usesBackprop
            ? config.maxGradNorm.map { ", max grad norm \($0)" } ?? ""
            : ", eps \(config.eps)"
        let lrText = config.lrAuto.map { "auto (\($0.fraction) of the stability limit)" } ?? "\(config.lr)"
        log("training \(run.path) with \(config.optimizer.rawValue): \(config.steps) steps, batch \(config.batchSize), lr \(lrText)\(settings), from step \(start)")
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
        if summary.interrupted {
            log("interrupted after step \(summary.stepsDone); weights saved. Continue with: zofinetune train --model \(modelOptions.model) --resume \(run.path)")
        }
        if let peak = summary.peakResidentBytes {
            log(String(format: "peak RSS %.2f GB (f32 weights %.2f GB)", Double(peak) / 1e9, Double(task.baseArena.byteCount) / 1e9))
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
    func openRun(prompt: TaskPrompt) throws -> (TrainingTask, RunFolder, Int) {
        let isEncoder = try EncoderConfig.isEncoder(directory: modelOptions.model)
        if let resume {
            let run = try RunFolder(path: resume)
            for stale in try run.lockForWriting() { log("removed \(stale), left by a write that was killed") }
            try checkResumeOptions(against: run.manifest.config, run: resume)
            let (task, done) = try loadTask(encoder: isEncoder, run: RunOptions(run: resume, at: "last"), config: run.manifest.config,
                                            prompt: prompt)
            // Steps (and evaluations) past the weights we continue from are stale: for MeZO,
            // none; for a backprop run, those after its last snapshot.
            if try run.stepCount() > done {
                log("\(resume): continuing from the weights saved after step \(done) (later steps are dropped)")
            }
            try run.truncateSteps(to: done)
            return (task, run, done)
        }
        var config = newConfig()
        config.taskFile = taskOptions.runTask(prompt)
        if isEncoder, config.precision == .bf16 {
            throw ValidationError("--precision bf16 trains decoders only; \(modelOptions.model) is an encoder")
        }
        if isEncoder {
            config.labelDescriptions = try encoderOptions.descriptions(task: taskOptions.taskName).texts
            config.temperature = encoderOptions.temperature
        }
        let (task, _) = try loadTask(encoder: isEncoder, run: nil, config: config, prompt: prompt)
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let path = out ?? "runs/\(taskOptions.taskName)-\(formatter.string(from: Date()))"
        let manifest = RunManifest(baseModel: URL(fileURLWithPath: modelOptions.model).standardizedFileURL.path,
                                   baseFingerprint: task.baseArena.fingerprint(threads: Threads.count),
                                   config: config, threads: Threads.count)
        return (task, try RunFolder.create(path: path, manifest: manifest), 0)
    }

    /// The model folder posed the task: a decoder with the task's prompt, or an encoder with the
    /// run's label descriptions and temperature. Returns the steps of `run` in its weights.
    func loadTask(encoder: Bool, run: RunOptions?, config: TrainingConfig, prompt: TaskPrompt) throws -> (TrainingTask, Int) {
        if encoder {
            guard prompt.spec.objective == .classify else {
                throw InputError("\(prompt.origin): an encoder has no completion objective; use a decoder")
            }
            let (embedder, steps) = try modelOptions.loadEmbedder(run: run)
            if run == nil { try PEFTSetup.attach(config, to: embedder.model) }   // a run's come with its replay
            let descriptions = try config.labelDescriptions.map(LabelDescriptions.init) ?? encoderOptions.descriptions(task: taskOptions.taskName)
            let scorer = try LabelDescriptionScorer(embedder: embedder, descriptions: descriptions,
                                                    temperature: config.temperature ?? LabelDescriptionScorer.defaultTemperature)
            guard config.objective == .loss else {
                throw InputError("--objective \(config.objective.rawValue) is for decoders; an encoder trains on the label-description loss")
            }
            return (EncoderTask(scorer: scorer), steps)
        }
        if prompt.spec.objective == .chat {
            let (model, tokenizer, steps) = try modelOptions.load(run: run)
            if run == nil { try PEFTSetup.attach(config, to: model) }
            guard config.objective == .loss else { throw InputError("--objective \(config.objective.rawValue): a chat task trains on its loss") }
            let template = try ModelChatTemplate.load(modelDirectory: modelOptions.model)
            return (ChatTask(model: model, tokenizer: tokenizer, prompt: prompt, chatTemplate: template), steps)
        }
        if prompt.spec.objective == .complete {
            let (model, tokenizer, steps) = try modelOptions.load(run: run)
            if run == nil { try PEFTSetup.attach(config, to: model) }
            let task = CompleteTask(model: model, tokenizer: tokenizer, prompt: prompt)
            task.trainingObjective = config.objective
            return (task, steps)
        }
        let (model, tokenizer, steps) = try modelOptions.load(run: run)
        if run == nil { try PEFTSetup.attach(config, to: model) }
        // With adapters the base never changes: its bf16 copies are made once (LowPrecisionProducts).
        if config.precision == .bf16 { try model.useBF16Products(weightsChange: config.peft == .none) }
        let task = try ClassifyTask(model: model, tokenizer: tokenizer, prompt: prompt)
        task.trainingObjective = config.objective
        return (task, steps)
    }
}

extension TrainingConfig.Schedule: ExpressibleByArgument {}
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
