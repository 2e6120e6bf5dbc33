import ArgumentParser
import Foundation
import Models
import Profiling
import Tasks
import Tensors
import Tokenizers
import Training
import Weights

struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Measure peak memory of inference, MeZO, SGD and AdamW on the same model and batch.",
        discussion: """
            Builds one batch of --batch-size SST-2 prompts of exactly --seq-len tokens (for an encoder: \
            sentences, scored against the task's label descriptions; for any other task, e.g. a task \
            file or a completion task: its first --batch-size training examples as the task poses \
            them, at their own lengths), then runs each \
            method for --steps steps in a process of its own (so each peak is its own) and reports \
            its peak RSS (VmHWM), the process baseline (VmRSS before the model is loaded: runtime, \
            libraries, OpenBLAS buffers, tokenizer, batch), the bytes of every tagged buffer at the tagged peak \
            (weights, activations, gradients, optimizer state, scratch), what is left untagged, the \
            bytes predicted from the model's shape, and the median step time. A method whose \
            prediction exceeds the available memory (MemAvailable, or --memory-limit) is reported \
            as not fitting instead of being run.

            Output: a table on stderr (stdout with no --json/--svg), --json FILE, --svg FILE (a \
            stacked bar chart).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var taskOptions: TaskOptions

    @Option(name: .long, help: "Prompts in the batch.") var batchSize = 16
    @Option(name: .long, help: "Tokens per prompt.") var seqLen = 64
    @Option(name: .long, help: "Steps per method (the median time is reported).") var steps = 3
    @Option(name: .long, parsing: .upToNextOption,
            help: "Methods, in order: inference, mezo, sgd, adamw (the default four), zo-sign, zo-momentum, zo-adam, zo-cons, fzoo, hizoo, lozo, sparse-mezo, lora-mezo, lora-sgd, lora-adamw (LoRA rank 8, α 16 on q,v), prefix-mezo, prefix-adamw (5 prefix tokens; commas or spaces).")
    var methods: [String] = [ProfileMethod.defaults.map(\.rawValue).joined(separator: ",")]

    /// --methods as given, split at commas.
    var methodList: [ProfileMethod] {
        methods.flatMap { $0.split(separator: ",") }.compactMap { ProfileMethod(rawValue: String($0)) }
    }
    @Option(name: .long, help: ArgumentHelp("Treat this many GB as the memory available (default: MemAvailable).", valueName: "GB"))
    var memoryLimit: Double?
    @Option(name: .long, help: ArgumentHelp("Write the report as JSON to this file.", valueName: "file")) var json: String?
    @Option(name: .long, help: ArgumentHelp("Write a bar chart (SVG) to this file.", valueName: "file")) var svg: String?

    func validate() throws {
        try SettingRules.batchSize.validate(batchSize)
        try CountRule.flag("--seq-len", 1...1_000_000).validate(seqLen)
        try CountRule.flag("--steps", 1...1_000_000).validate(steps)
        let names = methods.flatMap { $0.split(separator: ",") }.map(String.init)
        if let unknown = names.first(where: { ProfileMethod(rawValue: $0) == nil }) {
            throw ValidationError("--methods: unknown method \"\(unknown)\" (\(ProfileMethod.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if names.isEmpty { throw ValidationError("--methods needs at least one method") }
        try SettingRules.memoryLimitGB.validate(memoryLimit)
    }

    func run() throws {
        // The built-in SST-2 task keeps its fixed-length batch (the README's profile); any other task
        // is profiled on its own examples.
        let sst2 = try taskOptions.prompt().spec == BuiltinTasks.resolve("sst2").spec
        Threads.set(modelOptions.threads ?? Threads.count)
        if !sst2 { return try runTask() }
        let train = try TaskData.load(directory: taskOptions.dataDirectory, split: .train)
        let tokenizer = try TokenizerLoader.load(modelDirectory: modelOptions.model)
        let (batch, predict) = try FixedLengthProfile.make(modelDirectory: modelOptions.model, examples: train, batchSize: batchSize,
                                                           length: seqLen, tokenizer: tokenizer)
        try measure(batch: batch, seqLen: seqLen, predict: predict)
    }

    /// Each method in a child process on `batch`, the report written as asked.
    func measure(batch: ProfileBatch, seqLen: Int, predict: (ProfileMethod, WeightFormat) -> [MemoryTag: Int]) throws {
        let batchFile = NSTemporaryDirectory() + "zofinetune-profile-\(getpid()).json"
        try JSONEncoder().encode(batch).write(to: URL(fileURLWithPath: batchFile))
        defer { try? FileManager.default.removeItem(atPath: batchFile) }

        let available = memoryLimit.map { Int($0 * 1e9) } ?? ProcessMemory.availableBytes
        // --weights: the workers hold the weights so; what bf16 weights cannot train is not run.
        let holds16Bit = try modelOptions.architecture().holds16BitWeights
        if !holds16Bit, let w = modelOptions.weights, w != .f32 {
            throw InputError("--weights \(w.rawValue): 16-bit weights are for decoders; \(modelOptions.model) is an encoder")
        }
        let weights = holds16Bit ? try ModelLoader.weightFormat(directory: modelOptions.model, requested: modelOptions.weights).0 : WeightFormat.f32
        log("weights: \(weights.rawValue) (the workers' arena and the predictions)")
        var results: [MethodMemory] = []
        for method in methodList {
            let predicted = predict(method, weights)
            var result = MethodMemory(method: method.rawValue, status: .measured)
            if weights == .bf16, let refusal = Self.bf16Refusal(method) {
                result.status = .failed
                result.message = refusal
                log("\(method.rawValue): not run with --weights bf16: \(refusal)")
                results.append(result)
                continue
            }
            result.predicted = Dictionary(uniqueKeysWithValues: predicted.map { ($0.key.rawValue, $0.value) })
            // The baseline is small (~0.1 GB) next to any method; it is added from the previous child when known.
            let baseline = results.compactMap(\.baselineBytes).first ?? 100_000_000
            if let available, baseline + result.predictedTotal > available {
                result.status = .wouldNotFit
                result.message = String(format: "predicted %.2f GB, %.2f GB available", Double(baseline + result.predictedTotal) / 1e9,
                                        Double(available) / 1e9)
                log("\(method.rawValue): would not fit (\(result.message!)); not run")
                results.append(result)
                continue
            }
            log("\(method.rawValue): running \(steps) steps in a child process…")
            do {
                let measured = try runChild(method: method, batchFile: batchFile, weights: weights)
                result.peakRSSBytes = measured.peakRSSBytes
                result.baselineBytes = measured.baselineBytes
                result.tagged = measured.tagged
                result.stepSeconds = measured.stepSeconds
                log(String(format: "%@: peak RSS %.3f GB, median step %.2f s", method.rawValue,
                           Double(measured.peakRSSBytes ?? 0) / 1e9, result.medianStepSeconds ?? 0))
            } catch {
                result.status = .failed
                result.message = "\(error)"
                log("\(method.rawValue): failed: \(error)")
            }
            results.append(result)
        }
        let report = MemoryReport(model: (modelOptions.model as NSString).lastPathComponent, batchSize: batch.sequences.count, seqLen: seqLen, threads: Threads.count,
                                  availableBytes: available, weights: weights.rawValue, methods: results)
        if let json { try report.json.write(to: URL(fileURLWithPath: json)) }
        if let svg { try report.svg.write(toFile: svg, atomically: true, encoding: .utf8) }
        if json == nil, svg == nil { print(report.table, terminator: "") } else { log(report.table) }
        if results.contains(where: { $0.status == .failed }) { throw ExitCode(1) }
    }

    /// A task other than the built-in SST-2 prompt (a task file, a completion task, flags): the batch
    /// is its first --batch-size training examples as the task poses them, at their own lengths.
    func runTask() throws {
        guard !(try modelOptions.architecture().scoresLabelDescriptions) else {
            throw InputError("profile of an encoder measures SST-2 with label descriptions; task files are for decoders")
        }
        var prompt = try taskOptions.prompt()
        let train = try taskOptions.examples(.train, prompt: prompt)
        prompt.chooseDemonstrations(from: train)
        let tokenizer = try TokenizerLoader.load(modelDirectory: modelOptions.model)
        let config = try DecoderConfig.load(directory: modelOptions.model)
        let batch = try ProfileBatch.make(examples: train, batchSize: batchSize, task: taskOptions.runTask(prompt),
                                          prompt: prompt, tokenizer: tokenizer)
        log("\(prompt.origin): \(batch.sequences.count) training examples, \(batch.rowCount) rows (--seq-len is for sst2's fixed-length batch)")
        try measure(batch: batch, seqLen: batch.rowCount / max(1, batch.sequences.count)) {
            MemoryPlan.predict(config: config, method: $0, tokens: batch.rowCount, sequences: batch.sequences.count, weights: $1)
        }
    }

    /// Runs `zofinetune profile-worker` for one method and reads its JSON line.
    func runChild(method: ProfileMethod, batchFile: String, weights: WeightFormat) throws -> MethodMemory {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["profile-worker", "--model", modelOptions.model, "--method", method.rawValue,
                           "--batch", batchFile, "--steps", String(steps), "--threads", String(Threads.count),
                           "--weights", weights.rawValue]
        let out = Pipe()
        child.standardOutput = out
        try child.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        child.waitUntilExit()
        guard child.terminationStatus == 0 else {
            throw InputError("the \(method.rawValue) process exited with status \(child.terminationStatus)")
        }
        return try JSONDecoder().decode(MethodMemory.self, from: data)
    }
}

extension ProfileMethod: ExpressibleByArgument {}

extension ProfileCommand {
    /// Why `method` cannot run on bf16 weights (`TrainingConfig.checkWeightFormat`), nil if it can.
    static func bf16Refusal(_ method: ProfileMethod) -> String? {
        guard let optimizer = method.optimizer else { return nil }   // inference
        var config = TrainingConfig()
        config.weights = .bf16
        config.optimizer = optimizer
        config.peft = method.peft
        do { try config.checkWeightFormat(encoder: false); return nil } catch { return "\(error)" }
    }
}

/// One method of `profile` in a process of its own (started by `profile`; not for direct use).
struct ProfileWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile-worker", abstract: "Run one method of `profile` and print its memory as JSON.",
        shouldDisplay: false)

    @Option var model: String
    @Option var method: ProfileMethod
    @Option var batch: String
    @Option var steps: Int
    @Option var threads: Int
    @Option var weights: WeightFormat = .f32

    func validate() throws {
        try CountRule.flag("--steps", 1...1_000_000).validate(steps)
        try SettingRules.threads.validate(threads)
    }

    func run() throws {
        try BLAS.load()
        Threads.set(threads)
        let profileBatch = try JSONDecoder().decode(ProfileBatch.self, from: Data(contentsOf: URL(fileURLWithPath: batch)))
        // The tokenizer (the task wants it) and OpenBLAS's own buffers belong to the baseline, not to the method.
        let tokenizer = try TokenizerLoader.load(modelDirectory: model)
        BLAS.warmUp()
        var result = MethodMemory(method: method.rawValue, status: .measured)
        // Resident now, not the high-water mark: set-up temporaries already freed are not the baseline.
        result.baselineBytes = ProcessMemory.residentBytes
        let prompt = try profileBatch.task.map { try TaskPrompt(spec: $0.spec, origin: $0.origin) } ?? .builtin("sst2")
        let loaded = try LoadedModel.forProfile(directory: model, weights: weights, tokenizer: tokenizer, batch: profileBatch)
        if let lora = method.lora { try loaded.model.attachLoRA(lora).initialise(seed: 0) }
        if let n = method.prefixTokens { try PrefixSetup.attach(n, seed: 0, to: loaded.model) }
        let task = try TrainingTasks.make(loaded, prompt: prompt, posing: .init(modelDirectory: model) { TaskName.sst2.labelDescriptions })
        result.stepSeconds = try ProfileWorkload.run(method, task: task, batch: profileBatch, steps: steps, threads: threads)
        result.peakRSSBytes = ProcessMemory.peakResidentBytes
        result.tagged = Dictionary(uniqueKeysWithValues: TaggedMemory.peak.bytes.map { ($0.key.rawValue, $0.value) })
        let data = try JSONEncoder().encode(result)
        print(String(decoding: data, as: UTF8.self))
    }
}
