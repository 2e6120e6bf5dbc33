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

    @Option(name: .long, help: ArgumentHelp("Also write the predictions (one JSON array) to this file.", valueName: "file"))
    var predictionsOut: String?

    @Flag(name: .long, help: "Print one JSON object {task, split, n, accuracy, seconds} on stdout.")
    var json = false

    @OptionGroup var encoderOptions: EncoderTaskOptions

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        var examples = try TaskData.load(directory: taskOptions.dataDirectory, split: split)
        if let limit { examples = Array(examples.prefix(limit)) }
        if try EncoderConfig.isEncoder(directory: modelOptions.model) {
            return try runEncoder(examples: examples)
        }
        let (model, tokenizer, _) = try modelOptions.load(run: runOptions)
        if precision == .bf16 {
            let started = Date()
            try model.useBF16Products()
            log(String(format: "bf16 copies of the block matrices made in %.1f s", Date().timeIntervalSince(started)))
        }
        var lastReport = Date()
        let result = try ClassificationEvaluator.evaluate(
            model: model, tokenizer: tokenizer, prompt: taskOptions.task.prompt, examples: examples
        ) { done, total in
            if Date().timeIntervalSince(lastReport) > 2 || done == total {
                log("  \(done)/\(total) examples")
                lastReport = Date()
            }
        }
        let correct = zip(result.predictions, examples).filter { $0 == $1.label }.count
        log(String(format: "%@ %@: accuracy %.2f%% (%d/%d) in %.2f s, %.0f tokens/s (%d tokens)",
                   taskOptions.task.rawValue, split.rawValue, result.accuracy * 100, correct,
                   examples.count, result.seconds, Double(result.tokens) / result.seconds, result.tokens))
        if let predictionsOut {
            let data = try JSONSerialization.data(withJSONObject: result.predictions)
            try data.write(to: URL(fileURLWithPath: predictionsOut), options: .atomic)
        }
        if json {
            try printJSON(["task": taskOptions.task.rawValue, "split": split.rawValue, "n": examples.count,
                           "accuracy": result.accuracy, "seconds": result.seconds])
        } else {
            print(String(format: "accuracy %.4f (%d/%d)", result.accuracy, correct, examples.count))
        }
    }
}

extension Precision: ExpressibleByArgument {}
