import Foundation
import Models
import Tasks
import Tokenizers
import Weights

/// A decoder trained on conversations (`"objective": "chat"`, docs/chat.md): each conversation is
/// rendered by the model's own chat template, and the loss is the mean cross-entropy over the
/// tokens of the trained assistant answers only — the final one, or every one with
/// `"train_on": "all_assistant"` — as transformers' `labels=` loss with every other position at
/// -100. Each trained answer is scored as a continuation of everything before it (the same
/// log-probabilities as in the whole sequence: attention is causal), so the completion loss and
/// its backward pass (`ContinuationLosses.targetTokenMean`) serve as they are. Evaluation asks for
/// the final answer with the generation prompt and compares the greedy reply with the gold answer
/// (exact match or SQuAD F1), stopping at <eos> and the template's end-of-turn token.
public final class ChatTask: DecoderTrainingTask {
    public let model: DecoderModel
    public let prompt: TaskPrompt
    public let encoder: ChatEncoder
    private var scorer: LabelScorer?

    public init(model: DecoderModel, tokenizer: Tokenizer, prompt: TaskPrompt, chatTemplate: ModelChatTemplate) {
        (self.model, self.prompt) = (model, prompt)
        encoder = ChatEncoder(chatTemplate: chatTemplate, tokenizer: tokenizer)
    }

    var tokenizer: Tokenizer { encoder.encoder.tokenizer }

    /// Between the (prompt, answer) pairs of one conversation's input.
    static let endOfPair: Int32 = -4

    /// One input per conversation: each trained answer as `ClassifyInput` (the tokens before it,
    /// then the answer as the one word of one label), pairs separated by `endOfPair`.
    public func inputs(_ examples: [LabeledExample]) throws -> [[Int32]] {
        try examples.map { example in
            let encoded = try encoder.encodeForTraining(try ChatExamples.conversation(of: example), trainOn: prompt.spec.chatTrainOn)
            var input: [Int32] = []
            for (i, answer) in encoded.answers.enumerated() {
                if i > 0 { input.append(Self.endOfPair) }
                input += ClassifyInput.encode(prompt: Array(encoded.ids[..<answer.lowerBound]),
                                              candidates: [[Array(encoded.ids[answer])]])
            }
            return input
        }
    }

    /// The (prompt, answer) pairs of a batch, flattened, and how many belong to each input.
    static func pairs(_ inputs: [[Int32]]) -> (prompts: [[Int32]], answers: [[Int32]], perInput: [Int]) {
        var prompts: [[Int32]] = [], answers: [[Int32]] = [], perInput: [Int] = []
        for input in inputs {
            let parts = input.split(separator: endOfPair, omittingEmptySubsequences: true)
            for part in parts {
                let decoded = ClassifyInput.decode(Array(part))
                prompts.append(decoded.prompt)
                answers.append(decoded.candidates[0][0])
            }
            perInput.append(parts.count)
        }
        return (prompts, answers, perInput)
    }

    /// Every row with a tied head (each answer token's log-softmax reads the whole vocabulary).
    public func embeddingRows(_ inputs: [[Int32]]) -> [Int32]? { embeddingRowsWithFullSoftmax(inputs) }

    public func prepare(maxTokens: Int) throws { scorer = continuationScorer(maxTokens: maxTokens) }

    /// Minus the log-probability of each conversation's trained answers (summed over their tokens).
    public func lossTerms(_ inputs: [[Int32]], labels: [Int]) -> [Double] {
        if inputs.isEmpty { return [] }
        let (prompts, answers, perInput) = Self.pairs(inputs)
        let logProbs = try! scorer!.scores(prompts: prompts, candidates: answers.map { [[$0]] })
        var terms: [Double] = [], next = 0
        for count in perInput {
            terms.append(-logProbs[next..<(next + count)].reduce(0.0) { $0 + Double($1[0]) })
            next += count
        }
        return terms
    }

    /// The batch's answer tokens: the loss is per token, as transformers' masked mean.
    public func lossDivisor(_ inputs: [[Int32]]) -> Double {
        Double(Self.pairs(inputs).answers.reduce(0) { $0 + $1.count })
    }

    public func makeBackprop(maxTokens: Int) -> ([[Int32]], [Int], ParameterArena) -> Float {
        let trainer = DecoderTrainer(model: model, maxTokens: maxTokens)
        return { inputs, _, gradients in
            let (prompts, answers, _) = Self.pairs(inputs)
            let batch = ContinuationBatch(prompts: prompts, continuations: answers.map { [$0] })
            return trainer.lossAndGradients(continuations: batch, loss: ContinuationLosses.targetTokenMean(tokenCounts: answers.map(\.count)),
                                            gradients: gradients)
        }
    }

    /// Greedy replies to each conversation's final turn (its final assistant answer left out).
    public func generate(_ examples: [LabeledExample], progress: ((Int, Int) -> Void)? = nil) throws -> [String] {
        let prompts = try examples.map { try encoder.ids(try ChatExamples.conversation(of: $0), addGenerationPrompt: true) }
        let stop = try encoder.endOfTurnTokens()
        let generated = model.generateGreedy(prompts: prompts, maxNewTokens: prompt.spec.maxNewTokens ?? 50, stop: stop) {
            progress?($0, prompts.count)
        }
        return try generated.map { ids in
            try tokenizer.decode(ids.filter { Int($0) < tokenizer.vocabularySize && !stop.contains($0) })
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// The task's metric (exact match or SQuAD F1) of the replies against the gold final answers.
    public func evaluate(_ examples: [LabeledExample]) throws -> (accuracy: Double, seconds: Double) {
        try evaluateGenerations(examples)
    }
}

/// A task whose evaluation writes answers (`eval` prints their exact match and F1 and writes them
/// to `--predictions-out`): completion and chat.
public protocol AnswerGenerating {
    var prompt: TaskPrompt { get }
    func generate(_ examples: [LabeledExample], progress: ((Int, Int) -> Void)?) throws -> [String]
}

extension AnswerGenerating {
    /// The task's metric (exact match or SQuAD F1, best over each example's gold answers),
    /// averaged over the examples that have answers.
    public func score(_ generations: [String], _ examples: [LabeledExample]) -> Double {
        let metric = prompt.spec.effectiveMetric
        let values = zip(generations, examples).filter { !$1.targets.isEmpty }.map { text, example in
            metric == .exactMatch ? AnswerMetrics.exactMatch(text, gold: example.targets) : AnswerMetrics.f1(text, gold: example.targets)
        }
        return values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    /// Greedy answers to `examples` scored by the task's metric, and the seconds it took.
    func evaluateGenerations(_ examples: [LabeledExample]) throws -> (accuracy: Double, seconds: Double) {
        let started = Date()
        let generations = try generate(examples, progress: nil)
        return (score(generations, examples), Date().timeIntervalSince(started))
    }
}

extension CompleteTask: AnswerGenerating {}
extension ChatTask: AnswerGenerating {}
