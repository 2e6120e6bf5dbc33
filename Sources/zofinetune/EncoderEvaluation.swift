import ArgumentParser
import Foundation
import Models
import Tasks
import Tensors
import Training

/// --label-descriptions and --temperature: how a task is posed to a sentence encoder.
struct EncoderTaskOptions: ParsableArguments {
    @Option(name: .long, parsing: .upToNextOption,
            help: ArgumentHelp("Encoders: one description per label, in label order (default for sst2: \"a negative movie review\" \"a positive movie review\").",
                               valueName: "text"))
    var labelDescriptions: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "Encoders: logits are cosine / temperature (default 0.05, the usual contrastive scale). It changes the loss, never the prediction.",
        valueName: "T"))
    var temperature: Float = LabelDescriptionScorer.defaultTemperature

    func validate() throws {
        if !labelDescriptions.isEmpty, let why = SettingRules.labelDescriptionsProblem(count: labelDescriptions.count) {
            throw ValidationError("--label-descriptions \(why)")
        }
        try SettingRules.temperature.validate(temperature)
    }

    /// The descriptions given, else a run's (when evaluating it), else the task's defaults.
    func descriptions(task: String, run: TrainingConfig? = nil) throws -> LabelDescriptions {
        if !labelDescriptions.isEmpty { return LabelDescriptions(labelDescriptions) }
        if let given = run?.labelDescriptions.map(LabelDescriptions.init) { return given }
        guard let builtin = TaskName(rawValue: task) else {
            throw ValidationError("an encoder needs --label-descriptions (one per label) for task \(task); only sst2 has defaults")
        }
        return builtin.labelDescriptions
    }
}

extension ModelOptions {
    /// Opens OpenBLAS, sets the thread count and loads an encoder folder with its tokenizer; with a
    /// run, brings the weights to the run's point (seed-log replay or snapshot, as for decoders).
    /// Returns the embedder and the number of the run's steps in its weights (0 without a run).
    func loadEmbedder(batchSize: Int = 32, run runOptions: RunOptions? = nil) throws -> (SentenceEmbedder, Int) {
        try BLAS.load()
        Threads.set(threads ?? Threads.count)
        if let weights, weights != .f32 {
            throw InputError("--weights \(weights.rawValue): 16-bit weights are for decoders; \(model) is an encoder (use --weights f32)")
        }
        let started = Date()
        let embedder = try SentenceEmbedder.load(directory: model, batchSize: batchSize)
        var steps = 0
        if let adapter = runOptions?.adapter {
            try attachAdapterFolder(adapter, to: embedder.model)
        } else if let runOptions, let runPath = runOptions.run {
            steps = try RunReplay.restore(run: try RunFolder(path: runPath), model: embedder.model,
                                              directory: model, point: runOptions.point, threads: Threads.count, log: log)
            log("weights of run \(runPath) after \(steps) steps")
        }
        log(String(format: "loaded %@ (%@ encoder, %.0fM parameters, max %d tokens a sentence) in %.1f s; OpenBLAS %@ kernels, %d threads",
                   model, embedder.model.config.family.rawValue, Double(embedder.model.arena.parameterCount) / 1e6,
                   embedder.maxSequenceLength, Date().timeIntervalSince(started), BLAS.coreName, Threads.count))
        return (embedder, steps)
    }
}

extension EvalCommand {
    /// Refuses examples whose label has no description (checked before the model loads).
    static func checkDescribed(_ examples: [LabeledExample], by descriptions: LabelDescriptions) throws {
        let labels = Set(examples.map(\.label))
        if let outside = labels.first(where: { !(0..<descriptions.texts.count).contains($0) }) {
            throw InputError("label \(outside) has no description: give one --label-descriptions text per label "
                             + "(\(descriptions.texts.count) given)")
        }
    }

    /// `eval` on an encoder folder: cosine scoring against label descriptions.
    func runEncoder(_ encoderTask: EncoderTask, examples: [LabeledExample]) throws {
        let task = taskOptions.taskName
        let scorer = encoderTask.scorer, descriptions = scorer.descriptions
        log("label descriptions: " + descriptions.texts.enumerated().map { "\($0) \"\($1)\"" }.joined(separator: ", ")
            + String(format: "; temperature %g", encoderOptions.temperature))
        var lastReport = Date()
        let (result, loss) = try ClassificationEvaluator.evaluate(scorer: scorer, examples: examples) { done, total in
            if Date().timeIntervalSince(lastReport) > 2 || done == total {
                log("  \(done)/\(total) examples")
                lastReport = Date()
            }
        }
        let correct = zip(result.predictions, examples).filter { $0 == $1.label }.count
        log(String(format: "%@ %@: accuracy %.2f%% (%d/%d), loss %.4f, in %.2f s, %.0f sentences/s (%d tokens)",
                   task, split.rawValue, result.accuracy * 100, correct, examples.count, loss,
                   result.seconds, Double(examples.count) / result.seconds, result.tokens))
        if let predictionsOut {
            try PredictionsFile.write(predictionsOut, examples: examples, predictions: result.predictions,
                                      labelNames: descriptions.texts.indices.map(String.init), scores: nil)
        }
        if json {
            // The same five keys as a decoder's eval (the CLI contract); loss and descriptions are on stderr.
            try printJSON(["task": task, "split": split.rawValue, "n": examples.count,
                           "accuracy": result.accuracy, "seconds": result.seconds])
        } else {
            print(String(format: "accuracy %.4f (%d/%d)", result.accuracy, correct, examples.count))
        }
    }
}
