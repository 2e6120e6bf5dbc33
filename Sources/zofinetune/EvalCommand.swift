import ArgumentParser
import Foundation
import Models
import Tasks
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Accuracy of a model on a task split, zero-shot with the task's prompt.",
        discussion: """
            SST-2 is posed as in MeZO: <bos> + "{sentence} It was", and the prediction is whichever \
            of " terrible" (0) and " great" (1) has the larger logit at the last token. Only those \
            two rows of the output embedding are computed.

            --precision bf16 runs the block matrices' products in bfloat16 (oneDNN, f32 \
            accumulation; norms, attention and the output head stay fp32): about twice as fast on \
            CPUs with AVX512_BF16, with predictions that agree with fp32 on almost every sentence \
            (measured in the README). The default, fp32, matches transformers' fp32 logits.

            An encoder folder (config.json model_type bert or roberta, e.g. all-MiniLM-L6-v2) is \
            scored without a head: the prediction is the label whose description (--label-descriptions) \
            has the largest cosine similarity with the sentence's embedding (mean pooling, L2 norm, \
            as sentence-transformers).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var runOptions: RunOptions
    @OptionGroup var taskOptions: TaskOptions

    @Option(name: .long, help: "Split to evaluate: dev, test or train.")
    var split: Split = .dev

    @Option(name: .long, help: "Evaluate only the first N examples.")
    var limit: Int?

    @Option(name: .long, help: "Matrix products in fp32 (default) or bf16 (faster; needs AVX512_BF16).")
    var precision: Precision = .fp32

    @Option(name: .long, help: ArgumentHelp("Also write the predictions to this file, one JSON object per line and example: id (file:line), prediction, scores.", valueName: "file"))
    var predictionsOut: String?

    @Flag(name: .long, help: "Print one JSON object {task, split, n, accuracy, seconds, metric, score, per_class, confusion_matrix, …} on stdout.")
    var json = false

    @OptionGroup var encoderOptions: EncoderTaskOptions

    func validate() throws {
        try CountRule.flag("--limit", 1...1_000_000_000).validate(limit)
    }

    /// The task's name for output: the flags', else the run's.
    func taskName() throws -> String {
        if !taskOptions.posesTask, let run = runOptions.run { return try RunFolder(path: run).manifest.config.task }
        return taskOptions.taskName
    }

    func run() throws {
        // A run poses its own task on its own data unless flags say otherwise.
        let kept = try runOptions.run.flatMap { try RunFolder(path: $0).manifest.config.taskFile }
        var prompt = try taskOptions.prompt(run: kept, runPath: runOptions.run ?? "")
        var examples = try taskOptions.examples(split, prompt: prompt, run: kept)
        if let limit { examples = Array(examples.prefix(limit)) }
        let architecture = try modelOptions.architecture()
        try TrainingTasks.check(prompt, on: architecture)
        let runConfig = try runOptions.run.map { try RunFolder(path: $0).manifest.config }
        let descriptions = { try encoderOptions.descriptions(task: taskOptions.taskName, run: runConfig) }
        if architecture.scoresLabelDescriptions { try Self.checkDescribed(examples, by: descriptions()) }
        if prompt.spec.demonstrations != nil, !architecture.scoresLabelDescriptions {   // an encoder embeds the text alone
            prompt.chooseDemonstrations(from: try taskOptions.examples(.train, prompt: prompt, run: kept))
        }
        let (loaded, _) = try modelOptions.loadModel(run: runOptions)
        if precision == .bf16 {
            let started = Date()
            try loaded.model.useBF16Products(weightsChange: false)
            log(String(format: "bf16 copies of the block matrices made in %.1f s", Date().timeIntervalSince(started)))
        }
        var posing = TrainingTasks.Posing(modelDirectory: modelOptions.model, descriptions: descriptions)
        posing.temperature = encoderOptions.temperature
        switch try TrainingTasks.make(loaded, prompt: prompt, posing: posing) {
        case let task as AnswerGenerating: try runCompletion(task, examples: examples)
        case let task as EncoderTask: try runEncoder(task, examples: examples)
        case let task as ClassifyTask: try runClassify(task, examples: examples)
        case let task: preconditionFailure("eval has no report for \(type(of: task))")
        }
    }

    /// `eval` of a classify task on a decoder: label-word scores, accuracy, macro-F1 and the confusion matrix.
    func runClassify(_ task: ClassifyTask, examples: [LabeledExample]) throws {
        let prompt = task.prompt
        var lastReport = Date()
        let started = Date()
        let scores = try task.scores(examples) { done, total in
            if Date().timeIntervalSince(lastReport) > 2 || done == total {
                log("  \(done)/\(total) examples")
                lastReport = Date()
            }
        }
        let seconds = Date().timeIntervalSince(started)
        let predictions = scores.map(ClassifyTask.argmax)
        let labelNames = prompt.spec.labels.map(\.value)
        let labelled = examples.indices.filter { examples[$0].label >= 0 }
        let report = ClassificationReport(gold: labelled.map { examples[$0].label }, predicted: labelled.map { predictions[$0] },
                                          labelNames: labelNames)
        let correct = labelled.filter { predictions[$0] == examples[$0].label }.count
        let name = try taskName()
        if labelled.isEmpty {
            log(String(format: "%@ %@: %d unlabelled examples scored in %.2f s", name, split.rawValue, examples.count, seconds))
        } else {
            log(String(format: "%@ %@: accuracy %.2f%% (%d/%d), macro-F1 %.4f, in %.2f s",
                       name, split.rawValue, report.accuracy * 100, correct, labelled.count, report.macroF1, seconds))
        }
        if let predictionsOut {
            try PredictionsFile.write(predictionsOut, examples: examples, predictions: predictions, labelNames: labelNames,
                                      scores: scores)
        }
        if json {
            var out: [String: Any] = ["task": name, "split": split.rawValue, "n": examples.count,
                                      "accuracy": report.accuracy, "seconds": seconds,
                                      "metric": prompt.spec.effectiveMetric.rawValue,
                                      "score": report.value(of: prompt.spec.effectiveMetric)]
            out.merge(report.json) { a, _ in a }
            try printJSON(out)
        } else {
            print(String(format: "accuracy %.4f (%d/%d)", report.accuracy, correct, labelled.count))
        }
    }
}

extension EvalCommand {
    /// `eval` of a completion task: greedy generation, exact match and SQuAD F1.
    func runCompletion(_ task: AnswerGenerating, examples: [LabeledExample]) throws {
        var lastReport = Date()
        let started = Date()
        let generations = try task.generate(examples) { done, total in
            if Date().timeIntervalSince(lastReport) > 2 || done == total {
                log("  \(done)/\(total) examples")
                lastReport = Date()
            }
        }
        let seconds = Date().timeIntervalSince(started)
        let labelled = examples.indices.filter { !examples[$0].targets.isEmpty }
        let em = labelled.isEmpty ? 0 : labelled.reduce(0.0) { $0 + AnswerMetrics.exactMatch(generations[$1], gold: examples[$1].targets) } / Double(labelled.count)
        let f1 = labelled.isEmpty ? 0 : labelled.reduce(0.0) { $0 + AnswerMetrics.f1(generations[$1], gold: examples[$1].targets) } / Double(labelled.count)
        let name = try taskName()
        log(String(format: "%@ %@: exact match %.2f%%, F1 %.2f%% (%d examples) in %.2f s", name, split.rawValue, em * 100, f1 * 100,
                   examples.count, seconds))
        if let predictionsOut {
            var text = ""
            for (i, example) in examples.enumerated() {
                var line: [String: Any] = ["index": i, "id": example.source ?? "\(i)", "prediction": generations[i]]
                if !example.targets.isEmpty { line["gold"] = example.targets }
                text += String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self) + "\n"
            }
            try Data(text.utf8).write(to: URL(fileURLWithPath: predictionsOut), options: .atomic)
        }
        let metric = task.prompt.spec.effectiveMetric
        if json {
            try printJSON(["task": name, "split": split.rawValue, "n": examples.count, "accuracy": em, "seconds": seconds,
                           "metric": metric.rawValue, "score": metric == .exactMatch ? em : f1, "exact_match": em, "f1": f1])
        } else {
            print(String(format: "exact match %.4f, F1 %.4f (%d)", em, f1, labelled.count))
        }
    }
}

/// `--predictions-out`: one JSON object per line and example, in input order:
/// {"id": "dev.jsonl:7", "index": 6, "prediction": "positive", "label_index": 1, "scores": {...}}
/// ("scores": each label's score, log-probabilities or logits; absent for encoders).
enum PredictionsFile {
    static func write(_ path: String, examples: [LabeledExample], predictions: [Int], labelNames: [String],
                      scores: [[Float]]?) throws {
        var text = ""
        for (i, example) in examples.enumerated() {
            var line: [String: Any] = ["index": i, "id": example.source ?? "\(i)",
                                       "prediction": labelNames[predictions[i]], "label_index": predictions[i]]
            if example.label >= 0 { line["gold"] = labelNames[example.label] }
            if let scores {
                line["scores"] = Dictionary(uniqueKeysWithValues: zip(labelNames, scores[i].map(Double.init)))
            }
            text += String(decoding: try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]), as: UTF8.self) + "\n"
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

extension Precision: ExpressibleByArgument {}
