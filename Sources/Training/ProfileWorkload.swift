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

    public init(sequences: [[Int32]], labels: [Int], candidates: [Int32]) {
        (self.sequences, self.labels, self.candidates) = (sequences, labels, candidates)
    }

    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.count } }

    /// B prompts of the task, each exactly `length` tokens: `prefix` + sentence tokens (the
    /// example's sentence, continued with the next examples' when it is short, cut when long)
    /// + `suffix` (the prompt's closing words), so the loss is the task's own.
    public static func make(examples: [LabeledExample], batchSize: Int, length: Int, prompt: CandidatePrompt,
                            tokenizer: Tokenizer) throws -> ProfileBatch {
        let prefix = tokenizer.bosID.map { [$0] } ?? [], suffix = try tokenizer.encode(prompt.text(for: ""))
        var batch = try filled(examples, batchSize: batchSize, prefix: prefix, room: length - prefix.count - suffix.count,
                               suffix: suffix) {
            try tokenizer.encode($0 + " ")
        }
        batch.candidates = try prompt.labelTokenIDs(tokenizer: tokenizer)
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
        switch method {
        case .inference:
            try task.prepare(maxTokens: tokens)
            body = { _ = task.loss(batch.sequences, labels: batch.labels) }
        case .sgd, .adamw:
            config.optimizer = method == .sgd ? .sgd : .adamw
            // lr 0: the same work and memory as training, the weights stay as loaded.
            let backprop = BackpropMethod(task: task, maxTokens: tokens, config: config)
            var index = 0
            body = { _ = backprop.step(index, batch: batch.sequences, labels: batch.labels, lr: 0); index += 1 }
        default:   // a zeroth-order method, with the settings `train` would give it
            try task.prepare(maxTokens: tokens)
            config.optimizer = method.optimizer!
            if config.optimizer == .fzoo { config.perturbations = 8 }
            if config.optimizer == .hizoo { config.perturbation = .gaussian }
            let mezo = MeZOMethod(task: task, config: config, threads: threads)
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
