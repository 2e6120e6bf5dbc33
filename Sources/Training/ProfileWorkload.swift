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
        let encode = tokenizer.encode
        let suffix = try encode(prompt.text(for: ""))
        let prefix = tokenizer.bosID.map { [$0] } ?? []
        let room = length - prefix.count - suffix.count
        guard room > 0 else { throw RunError("--seq-len \(length) leaves no room for a sentence in the prompt") }
        guard !examples.isEmpty else { throw RunError("no training examples to build a batch from") }
        var sequences: [[Int32]] = [], labels: [Int] = []
        var next = 0
        for _ in 0..<batchSize {
            labels.append(examples[next % examples.count].label)
            var body: [Int32] = []
            while body.count < room {
                body += try encode(examples[next % examples.count].text + " ")
                next += 1
            }
            sequences.append(prefix + body.prefix(room) + suffix)
        }
        return ProfileBatch(sequences: sequences, labels: labels, candidates: try prompt.labelTokenIDs(tokenizer: tokenizer))
    }
}

/// Runs a method's steps on a profile batch, as the training loop would, and times them.
public enum ProfileWorkload {
    /// - Returns: seconds of each step.
    public static func run(_ method: ProfileMethod, model: DecoderModel, batch: ProfileBatch, steps: Int,
                           threads: Int) -> [Double] {
        let packed = PackedBatch(sequences: batch.sequences)
        var config = TrainingConfig()
        let body: () -> Void
        switch method {
        case .inference:
            let objective = CandidateObjective(model: model, candidates: batch.candidates, maxTokens: packed.tokenCount)
            body = { _ = objective.loss(packed, labels: batch.labels) }
        case .mezo:
            let objective = CandidateObjective(model: model, candidates: batch.candidates, maxTokens: packed.tokenCount)
            let mezo = MeZOMethod(model: model, objective: objective, config: config, threads: threads)
            var index = 0
            body = { _ = mezo.step(index, batch: packed, labels: batch.labels, lr: 0); index += 1 }
        case .sgd, .adamw:
            config.optimizer = method == .sgd ? .sgd : .adamw
            // lr 0: the same work and memory as training, the weights stay as loaded.
            let backprop = BackpropMethod(model: model, candidates: batch.candidates, maxTokens: packed.tokenCount,
                                          config: config)
            var index = 0
            body = { _ = backprop.step(index, batch: packed, labels: batch.labels, lr: 0); index += 1 }
        }
        return (0..<steps).map { _ in
            let start = Date()
            body()
            return Date().timeIntervalSince(start)
        }
    }
}
