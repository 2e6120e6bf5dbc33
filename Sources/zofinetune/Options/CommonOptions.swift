import ArgumentParser
import Foundation
import Models
import Tasks
import Tensors
import Tokenizers
import Training
import Weights

/// --model and --threads, shared by every command that runs a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Hugging Face model folder (config.json, model.safetensors, tokenizer.model).", valueName: "dir"))
    var model: String

    @Option(name: .long, help: "Threads for matrix products and kernels (default: every core).")
    var threads: Int?

    @Option(name: .long, help: ArgumentHelp("""
        How the weights are held: bf16 (2 bytes a parameter, products straight from the bf16 \
        matrices through oneDNN, norms and attention in f32; MeZO reads θ±εz without writing θ and \
        updates with stochastic rounding) or f32. Default: f32 when the folder's safetensors are \
        f32 (or f16), bf16 when they are bf16. With --run, the run's own. f16 is refused (see \
        docs/weights-16bit.md).
        """, valueName: "bf16|f16|f32"))
    var weights: WeightFormat?

    func validate() throws {
        try SettingRules.threads.validate(threads)
    }

    /// The folder's architecture (config.json's model_type only): what the command may pose it.
    func architecture() throws -> ModelArchitecture { try ModelArchitecture.of(directory: model) }

    /// Loads the folder as what it is, a decoder with its tokenizer or a sentence encoder, with a
    /// run's or adapter's weights as `load` / `loadEmbedder` do. Returns the run's steps in the weights.
    func loadModel(run runOptions: RunOptions? = nil) throws -> (LoadedModel, Int) {
        switch try architecture() {
        case .encoder:
            let (embedder, steps) = try loadEmbedder(run: runOptions)
            return (.encoder(embedder), steps)
        case .decoder:
            let (decoder, tokenizer, steps) = try load(run: runOptions)
            return (.decoder(decoder, tokenizer), steps)
        }
    }

    /// Opens OpenBLAS, sets the thread count, loads tokenizer and weights, saying so on stderr.
    /// With a run, the weights are the run's (its base model with the logged steps replayed).
    /// Returns the model, its tokenizer and the number of the run's steps in the weights (0 without a run).
    func load(run runOptions: RunOptions? = nil) throws -> (DecoderModel, Tokenizer, Int) {
        try BLAS.load()
        Threads.set(threads ?? Threads.count)
        let tokenizer = try TokenizerLoader.load(modelDirectory: model)
        let started = Date()
        let decoder: DecoderModel
        var stepsApplied = 0
        let format = try weightFormat(run: runOptions)
        if let adapter = runOptions?.adapter {
            decoder = try ModelLoader.loadDecoder(directory: model, weights: format)
            try attachAdapterFolder(adapter, to: decoder)
        } else if let runOptions, let runPath = runOptions.run {
            let run = try RunFolder(path: runPath)
            let (replayed, steps) = try RunReplay.load(run: run, modelDirectory: model, point: runOptions.point,
                                                       threads: Threads.count, log: log)
            decoder = replayed
            stepsApplied = steps
            log("weights of run \(runPath) after \(steps) steps")
        } else {
            decoder = try ModelLoader.loadDecoder(directory: model, weights: format)
        }
        try checkVocabularies(tokenizer: tokenizer, model: decoder, directory: model)
        let params = Double(decoder.arena.parameterCount) / 1e6
        log(String(format: "loaded %@ (%@, %.0fM parameters, %@ weights: %.0f MB) in %.1f s; OpenBLAS %@ kernels, %d threads",
                   model, decoder.config.family.rawValue, params, format.rawValue, Double(decoder.arena.byteCount) / 1e6,
                   Date().timeIntervalSince(started), BLAS.coreName, Threads.count))
        return (decoder, tokenizer, stepsApplied)
    }

    /// A peft adapter folder (LoRA or prefix tuning) on a freshly loaded model, said on stderr.
    func attachAdapterFolder(_ adapter: String, to loaded: some TrainableModel) throws {
        if PrefixAdapterFolder.isPrefixFolder(adapter) {
            let prefix = try PrefixAdapterFolder.attach(adapter, to: loaded, modelDirectory: model, threads: Threads.count)
            log("prefix-tuning adapter \(adapter): \(prefix.tokens) prefix tokens")
        } else {
            let lora = try LoRAAdapterFolder.attach(adapter, to: loaded, modelDirectory: model, threads: Threads.count)
            log("LoRA adapter \(adapter): rank \(lora.settings.rank), alpha \(lora.settings.alpha), targets \(lora.settings.targetList)")
        }
    }

    /// The arena format of this command's weights, said on stderr with its reason (the first
    /// thing a command loading a model says): a run's recorded one (`--weights` may only repeat
    /// it), else `--weights`, else the folder's default (`ModelLoader.weightFormat`).
    func weightFormat(run runOptions: RunOptions?) throws -> WeightFormat {
        if let runPath = runOptions?.run {
            let recorded = try RunFolder(path: runPath).manifest.config.weightFormat
            if let weights, weights != recorded {
                throw InputError("--weights \(weights.rawValue): run \(runPath) holds its weights as \(recorded.rawValue) "
                                 + "(its seed log replays bitwise only onto those); leave --weights out")
            }
            log("weights: \(recorded.rawValue) (as run \(runPath) recorded)")
            return recorded
        }
        let (format, why) = try ModelLoader.weightFormat(directory: model, requested: weights)
        log("weights: \(format.rawValue) (\(why))")
        return format
    }
}

/// --run and --at: evaluate, prompt or export the weights of a training run.
struct RunOptions: ParsableArguments {
    init() {}
    init(run: String?, at: String) {
        self.run = run
        self.at = at
        self.adapter = nil
    }

    @Option(name: .long, help: ArgumentHelp("A training run folder: use its weights (MeZO: base model + replayed seed log; sgd/adamw: its snapshots).", valueName: "dir"))
    var run: String?

    @Option(name: .long, help: ArgumentHelp("Which weights of the run: best (best dev evaluation), last, or a step count.", valueName: "best|last|N"))
    var at: String = "best"

    @Option(name: .long, help: ArgumentHelp("A peft LoRA or prefix-tuning adapter folder (adapter_config.json + adapter_model.safetensors, e.g. from `export --adapter`) to put on --model.", valueName: "dir"))
    var adapter: String?

    func validate() throws {
        if adapter != nil, run != nil { throw ValidationError("give --run or --adapter, not both") }
        if at != "best", at != "last", Int(at).map({ $0 >= 0 }) != true {
            throw ValidationError("--at takes best, last or a non-negative step count, not \"\(at)\"")
        }
    }

    var point: RunPoint {
        switch at {
        case "best": return .best
        case "last": return .last
        default: return .steps(Int(at)!)
        }
    }
}

/// An input the command cannot run on, found after the arguments parsed (so, unlike
/// `ValidationError`, no usage text follows it). The model's kernels trust ids and lengths (their
/// bounds checks are compiled out with -Ounchecked), so such inputs must be refused before they run.
struct InputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Every id the tokenizer can produce must have a row in the model's embedding, or the embedding
/// lookup reads past the weights. (A model may have more rows than the tokenizer has pieces:
/// vocabularies are often padded.)
func checkVocabularies(tokenizer: Tokenizer, model: DecoderModel, directory: String) throws {
    guard tokenizer.vocabularySize <= model.config.vocabSize else {
        let tokenizerFile = TokenizerLoader.tokenizerFile(in: directory)
            ?? (directory as NSString).appendingPathComponent(TokenizerLoader.sentencePieceFileName)
        let configFile = (directory as NSString).appendingPathComponent("config.json")
        throw InputError(
            "\(tokenizerFile) has \(tokenizer.vocabularySize) tokens but \(configFile) has vocab_size "
            + "\(model.config.vocabSize): the tokenizer does not belong to this model (ids from "
            + "\(model.config.vocabSize) up would have no embedding row)")
    }
}

extension TaskName: ExpressibleByArgument {}
extension WeightFormat: ExpressibleByArgument {}
extension Split: ExpressibleByArgument {}

/// Human output goes to stderr so that stdout carries only results (and only JSON with --json).
func log(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

/// Prints one JSON object on stdout, keys sorted so output is stable for scripts and tests.
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}
