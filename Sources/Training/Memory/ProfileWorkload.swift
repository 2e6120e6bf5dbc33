import Foundation
import Models
import Optimizers
import Tasks
import Tokenizers

/// One fixed batch for `zofinetune profile`: B prompts of exactly T tokens with their labels and the
/// task's candidate ids. The parent process tokenizes it once and hands it to every child.
public struct ProfileBatch: Codable, Sendable {
    public var sequences: [[Int32]]
    public var labels: [Int]
    public var candidates: [Int32]
    /// A task file's task (nil: the built-in sst2, fixed-length): the worker poses it to the model, and
    /// `sequences` are the task's own inputs (`ClassifyTask` / `CompleteTask.inputs`).
    public var task: RunTask?

    public init(sequences: [[Int32]], labels: [Int], candidates: [Int32]) {
        (self.sequences, self.labels, self.candidates) = (sequences, labels, candidates)
    }

    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.count } }

    /// Rows the batch takes in a forward pass: its tokens without `ClassifyInput`'s markers.
    public var rowCount: Int { sequences.reduce(0) { $0 + $1.filter { $0 >= 0 }.count } }

    /// The first `batchSize` training examples (repeated if fewer) as a task file's task poses
    /// them: its own prompts (demonstrations included), label words or target, at their own lengths.
    public static func make(examples: [LabeledExample], batchSize: Int, task: RunTask, prompt: TaskPrompt,
                            tokenizer: Tokenizer) throws -> ProfileBatch {
        guard !examples.isEmpty else { throw RunError("no training examples to build a batch from") }
        let chosen = (0..<batchSize).map { examples[$0 % examples.count] }
        let inputs: [[Int32]]
        switch prompt.spec.objective {
        case .classify:
            let fast = try ClassifyTask.fixedCandidates(prompt: prompt, tokenizer: tokenizer) != nil
            inputs = try ClassifyTask.inputs(chosen, prompt: prompt, tokenizer: tokenizer, fast: fast)
        case .complete:
            inputs = try CompleteTask.inputs(chosen, prompt: prompt, tokenizer: tokenizer)
        case .chat:
            throw RunError("profile does not pose chat tasks yet (docs/chat.md); profile the same model on a complete task")
        }
        var batch = ProfileBatch(sequences: inputs, labels: chosen.map(\.label), candidates: [])
        batch.task = task
        return batch
    }

    /// B prompts of the task, each exactly `length` tokens: `prefix` + sentence tokens (the
    /// example's sentence, continued with the next examples' when it is short, cut when long)
    /// + `suffix` (the prompt's closing words), so the loss is the task's own. For a template
    /// "{sentence} It was" and single-token label words (SST-2, the only task `profile` fills).
    public static func make(examples: [LabeledExample], batchSize: Int, length: Int, prompt: TaskPrompt,
                            tokenizer: Tokenizer) throws -> ProfileBatch {
        guard let candidates = try ClassifyTask.fixedCandidates(prompt: prompt, tokenizer: tokenizer) else {
            throw RunError("\(prompt.origin): a fixed-length profile batch needs single-token label words")
        }
        // The closing words keep the space that separates them from the sentence (TaskPrompt strips
        // the rendered prompt's ends, and the sentence here is empty).
        let closing = " " + (try prompt.text(for: LabeledExample(text: "", label: -1)))
        let prefix = prompt.spec.bos ? tokenizer.bosID.map { [$0] } ?? [] : [], suffix = try tokenizer.encode(closing)
        var batch = try filled(examples, batchSize: batchSize, prefix: prefix, room: length - prefix.count - suffix.count,
                               suffix: suffix) {
            try tokenizer.encode($0 + " ")
        }
        batch.candidates = candidates
        return batch
    }

    /// B sentences of exactly `length` tokens for an encoder: [CLS] + pieces (the example's
    /// sentence, continued with the next ones', cut) + [SEP]; no candidates (labels pick descriptions).
    public static func makeForEncoder(examples: [LabeledExample], batchSize: Int, length: Int,
                                      tokenizer: WordPieceTokenizer) throws -> ProfileBatch {
        try filled(examples, batchSize: batchSize, prefix: [tokenizer.clsID], room: length - 2,
                   suffix: [tokenizer.sepID], encode: tokenizer.encode)
    }

    /// `prefix` + `room` tokens of consecutive examples' text + `suffix`, per sequence; the label
    /// is that of the sequence's first example.
    static func filled(_ examples: [LabeledExample], batchSize: Int, prefix: [Int32], room: Int, suffix: [Int32],
                       encode: (String) throws -> [Int32]) throws -> ProfileBatch {
        guard room > 0 else { throw RunError("--seq-len leaves no room for a sentence in the prompt") }
        guard !examples.isEmpty else { throw RunError("no training examples to build a batch from") }
        var sequences: [[Int32]] = [], labels: [Int] = []
        var next = 0
        for _ in 0..<batchSize {
            labels.append(examples[next % examples.count].label)
            var body: [Int32] = []
            while body.count < room {
                body += try encode(examples[next % examples.count].text)
                next += 1
            }
            sequences.append(prefix + body.prefix(room) + suffix)
        }
        return ProfileBatch(sequences: sequences, labels: labels, candidates: [])
    }
}

/// Runs a method's steps on a profile batch, as the training loop would, and times them.
public enum ProfileWorkload {
    /// - Returns: seconds of each step.
    public static func run(_ method: ProfileMethod, task: TrainingTask, batch: ProfileBatch, steps: Int,
                           threads: Int) throws -> [Double] {
        let tokens = batch.tokenCount
        var config = TrainingConfig()
        let body: () -> Void
        switch method.optimizer?.family {
        case nil:   // inference
            try task.prepare(maxTokens: tokens)
            body = { _ = task.loss(batch.sequences, labels: batch.labels) }
        case .firstOrder(let spec)?:   // on the whole model, or on adapters the worker attached (lora-sgd, lora-adamw)
            config.optimizer = method.optimizer!
            // lr 0: the same work and memory as training, the weights stay as loaded.
            let backprop = BackpropMethod(spec, task: task, maxTokens: tokens, config: config)
            var index = 0
            body = { _ = backprop.step(index, batch: batch.sequences, labels: batch.labels, lr: 0); index += 1 }
        case .zerothOrder(let spec)?:   // with the settings `train` would give it
            try task.prepare(maxTokens: tokens)
            config.optimizer = method.optimizer!
            config.perturbations = spec.defaultPerturbations
            if let z = spec.defaultPerturbation { config.perturbation = z }
            let mezo = MeZOMethod(spec, task: task, config: config, threads: threads)
            var index = 0
            body = { _ = mezo.step(index, batch: batch.sequences, labels: batch.labels, lr: 0); index += 1 }
        }
        return (0..<steps).map { _ in
            let start = Date()
            body()
            return Date().timeIntervalSince(start)
        }
    }
}
