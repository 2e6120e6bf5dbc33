import Foundation
import Models
import Tasks
import Tokenizers
import Weights

/// A decoder posed a completion task from a task file: the model writes the target after the
/// prompt. The training loss is the mean cross-entropy over the target's tokens only (each
/// normalised over the whole vocabulary, the rows computed 32 at a time: with Gemma-3's 262,144
/// words the peak is one 32 × V block of 32 MB, never a (tokens × V) buffer). The target follows
/// the prompt as MeZO's verbalizers put it: " " + the first gold answer. Evaluation generates
/// greedily with a KV cache, stops at the task's stop strings (and <eos>), and scores exact match
/// or SQuAD F1 against every gold answer.
public final class CompleteTask: DecoderTrainingTask {
    public let model: DecoderModel
    public let prompt: TaskPrompt
    let tokenizer: Tokenizer
    private var scorer: LabelScorer?
    /// What `loss` returns: the target tokens' cross-entropy, or minus the batch's exact match
    /// (`--objective accuracy`) or SQuAD F1 (`--objective f1`) of greedy generations (MeZO only).
    public var trainingObjective: TrainingConfig.Objective = .loss

    public init(model: DecoderModel, tokenizer: Tokenizer, prompt: TaskPrompt) {
        (self.model, self.tokenizer, self.prompt) = (model, tokenizer, prompt)
    }

    /// Prompt ids followed by the target's (`ClassifyInput` with one label of one word).
    public func inputs(_ examples: [LabeledExample]) throws -> [[Int32]] {
        try Self.inputs(examples, prompt: prompt, tokenizer: tokenizer)
    }

    static func inputs(_ examples: [LabeledExample], prompt: TaskPrompt, tokenizer: Tokenizer) throws -> [[Int32]] {
        try examples.map { example in
            let ids = try prompt.promptIDs(for: example, tokenizer: tokenizer)
            guard let target = example.targets.first else {
                let (file, line) = TaskPrompt.split(example.source)
                throw TaskDataError(.emptyTarget, file: file ?? prompt.origin, line: line, "no target to train on")
            }
            return ClassifyInput.encode(prompt: ids, candidates: [[try tokenizer.encode(" " + target)]])
        }
    }

    /// The prompts' and targets' tokens; every row with a tied head (the target's log-softmax reads
    /// the whole vocabulary).
    public func embeddingRows(_ inputs: [[Int32]]) -> [Int32]? { embeddingRowsWithFullSoftmax(inputs) }

    public func prepare(maxTokens: Int) throws { scorer = continuationScorer(maxTokens: maxTokens) }

    /// `loss` (the protocol's mean of these terms) is the mean cross-entropy per target token over
    /// the batch (as transformers' `labels=` loss with the prompt's positions set to -100); with
    /// `--objective accuracy|f1`, minus the batch's mean exact match / SQuAD F1 of greedy generations.
    /// Minus each target's log-probability (the sum over its tokens), in order; with a metric
    /// objective, minus each example's exact match or SQuAD F1.
    public func lossTerms(_ inputs: [[Int32]], labels: [Int]) -> [Double] {
        if inputs.isEmpty { return [] }
        let decoded = inputs.map(ClassifyInput.decode)
        if trainingObjective != .loss { return exampleMetrics(decoded).map { -$0 } }
        let logProbs = try! scorer!.scores(prompts: decoded.map(\.prompt), candidates: decoded.map(\.candidates))
        return logProbs.map { -Double($0[0]) }
    }

    /// The batch's target tokens (the cross-entropy is per token), or its examples (a metric is per example).
    public func lossDivisor(_ inputs: [[Int32]]) -> Double {
        if trainingObjective != .loss { return Double(max(1, inputs.count)) }
        return Double(inputs.map(ClassifyInput.decode).reduce(0) { $0 + $1.candidates[0][0].count })
    }

    /// The same loss by backprop: each prompt with its target packed after it as one continuation.
    public func makeBackprop(maxTokens: Int) -> ([[Int32]], [Int], ParameterArena) -> Float {
        let trainer = DecoderTrainer(model: model, maxTokens: maxTokens)
        return { inputs, _, gradients in
            let decoded = inputs.map(ClassifyInput.decode)
            let targets = decoded.map { $0.candidates[0][0] }
            let batch = ContinuationBatch(prompts: decoded.map(\.prompt), continuations: targets.map { [$0] })
            let loss = ContinuationLosses.targetTokenMean(tokenCounts: targets.map(\.count))
            return trainer.lossAndGradients(continuations: batch, loss: loss, gradients: gradients)
        }
    }

    /// Each example's exact match or SQuAD F1 of its greedy generation against its training target
    /// (the first gold answer, which is what its input carries): not differentiable, but MeZO needs
    /// only the values at θ ± εz. Each step then generates twice per perturbation.
    func exampleMetrics(_ decoded: [(prompt: [Int32], candidates: LabelCandidates)]) -> [Double] {
        let generated = try! generate(promptIDs: decoded.map(\.prompt))
        let golds = decoded.map { (try? tokenizer.decode($0.candidates[0][0]))?.trimmingCharacters(in: .whitespaces) ?? "" }
        return zip(generated, golds).map { text, gold in
            trainingObjective == .accuracy ? AnswerMetrics.exactMatch(text, gold: [gold]) : AnswerMetrics.f1(text, gold: [gold])
        }
    }

    /// Greedy completions of `examples`, cut at the first stop string.
    public func generate(_ examples: [LabeledExample], progress: ((Int, Int) -> Void)? = nil) throws -> [String] {
        try generate(promptIDs: examples.map { try prompt.promptIDs(for: $0, tokenizer: tokenizer) }, progress: progress)
    }

    /// Greedy completions of prompts (ids), cut at the first stop string.
    func generate(promptIDs prompts: [[Int32]], progress: ((Int, Int) -> Void)? = nil) throws -> [String] {
        let stopStrings = prompt.spec.stop ?? []
        var stopIDs = Set<Int32>()
        if let eos = tokenizer.eosID { stopIDs.insert(eos) }
        for s in stopStrings {
            let ids = try tokenizer.encode(s)
            if ids.count == 1 { stopIDs.insert(ids[0]) }   // MeZO: eos_token_id = encode("\n")[-1]
        }
        let maxNew = prompt.spec.maxNewTokens ?? 50
        let generated = oneAtATime
            ? prompts.enumerated().map { i, ids in
                defer { progress?(i + 1, prompts.count) }
                return model.generateGreedy(prompt: ids, maxNewTokens: maxNew, stop: stopIDs)
            }
            : model.generateGreedy(prompts: prompts, maxNewTokens: maxNew, stop: stopIDs) { progress?($0, prompts.count) }
        return try generated.map { ids in
            // Rows past the tokenizer's pieces (a padded vocabulary) are no text.
            var text = try tokenizer.decode(ids.filter { Int($0) < tokenizer.vocabularySize })
            for s in stopStrings { if let r = text.range(of: s) { text = String(text[..<r.lowerBound]) } }
            return text.trimmingCharacters(in: .whitespaces)
        }
    }

    /// Generate one example at a time instead of batched (for measuring the batching's gain).
    public var oneAtATime = false

    /// The task's metric (exact match or F1, best over the gold answers), averaged.
    public func evaluate(_ examples: [LabeledExample]) throws -> (accuracy: Double, seconds: Double) {
        try evaluateGenerations(examples)
    }
}
