import Foundation
import Models
import Tasks
import Tokenizers
import Weights

/// A decoder posed a classification task from a task file (`TaskPrompt`). Label words that are
/// single tokens, the same for every example, take the original two-row path (`CandidateObjective`,
/// `CandidateScorer`: only those rows of the output embedding, the normaliser cancels), so SST-2's
/// numbers are those of the code before task files, bit for bit. Any other label words (several
/// tokens, alternatives, per-example words such as COPA's choices) are scored as continuations
/// (`LabelScorer`).
public final class ClassifyTask: DecoderTrainingTask {
    public let model: DecoderModel
    public let prompt: TaskPrompt
    let tokenizer: Tokenizer
    /// The label words' token ids when they are fixed single tokens (the fast path).
    let fixedCandidates: [Int32]?
    private var candidateObjective: CandidateObjective?
    /// What `loss` returns: the cross-entropy, or minus the batch's accuracy or macro-F1
    /// (`--objective accuracy|f1`).
    public var trainingObjective: TrainingConfig.Objective = .loss
    private var labelScorer: LabelScorer?

    public init(model: DecoderModel, tokenizer: Tokenizer, prompt: TaskPrompt) throws {
        (self.model, self.tokenizer, self.prompt) = (model, tokenizer, prompt)
        fixedCandidates = try Self.fixedCandidates(prompt: prompt, tokenizer: tokenizer)
    }

    /// The label words' ids when each label has one word of one token, the same for every example
    /// (the fast path); else nil.
    public static func fixedCandidates(prompt: TaskPrompt, tokenizer: Tokenizer) throws -> [Int32]? {
        guard prompt.labelWordsAreFixed else { return nil }
        let ids = try prompt.candidateIDs(for: LabeledExample(text: "", label: -1, fields: [:]), tokenizer: tokenizer)
        return ids.allSatisfy { $0.count == 1 && $0[0].count == 1 } ? ids.map { $0[0][0] } : nil
    }

    /// The label words' token ids when each is one token, the same for every example (nil otherwise).
    public var singleTokenLabelIDs: [Int32]? { fixedCandidates }

    /// True when the label words are scored as continuations (not the two-row fast path).
    public var needsContinuationScoring: Bool { fixedCandidates == nil }

    /// Prompt ids; with continuation scoring, followed by the label words (`ClassifyInput`), so
    /// that a batch of inputs carries everything its loss needs.
    public func inputs(_ examples: [LabeledExample]) throws -> [[Int32]] {
        try Self.inputs(examples, prompt: prompt, tokenizer: tokenizer, fast: fixedCandidates != nil)
    }

    /// The inputs of `examples`: prompt ids alone on the fast path, else `ClassifyInput`s.
    static func inputs(_ examples: [LabeledExample], prompt: TaskPrompt, tokenizer: Tokenizer, fast: Bool) throws -> [[Int32]] {
        try examples.map { example in
            let ids = try prompt.promptIDs(for: example, tokenizer: tokenizer)
            if fast { return ids }
            return ClassifyInput.encode(prompt: ids, candidates: try prompt.candidateIDs(for: example, tokenizer: tokenizer))
        }
    }

    /// The inputs' tokens (prompts and label words), and with a tied head the fast path's label
    /// rows, or every row for continuation scoring (its log-softmax reads the whole vocabulary).
    public func embeddingRows(_ inputs: [[Int32]]) -> [Int32]? {
        guard model.config.tieWordEmbeddings else { return EmbeddingRows.read(by: inputs, head: .none) }
        return EmbeddingRows.read(by: inputs, head: fixedCandidates.map { .rows($0) } ?? .everyRow)
    }

    public func prepare(maxTokens: Int) throws {
        let tokens = max(maxTokens, evaluationPassTokens)
        if let fixedCandidates {
            candidateObjective = CandidateObjective(model: model, candidates: fixedCandidates, maxTokens: tokens)
        } else {
            labelScorer = LabelScorer(model: model, workspace: DecoderWorkspace(config: model.config, maxTokens: tokens))
        }
    }

    public func loss(_ inputs: [[Int32]], labels: [Int]) -> Float {
        // Macro-F1 is a property of the whole batch, not a sum over examples (so it cannot be
        // split into micro-batches or ranks: train refuses that combination).
        if trainingObjective == .f1 { return -batchMacroF1(inputs, labels: labels) }
        return LossTerms.mean(lossTerms(inputs, labels: labels), divisor: lossDivisor(inputs))
    }

    /// Cross-entropy per example, or minus 1 per correct example for `--objective accuracy` (the
    /// loss is then minus the batch accuracy: not differentiable, but MeZO needs only the two
    /// values at θ ± εz).
    public func lossTerms(_ inputs: [[Int32]], labels: [Int]) -> [Double] {
        precondition(trainingObjective != .f1, "macro-F1 has no per-example terms")
        if inputs.isEmpty { return [] }
        if trainingObjective == .accuracy {
            return zip(batchPredictions(inputs), labels).map { $0 == $1 ? -1 : 0 }
        }
        if let candidateObjective { return candidateObjective.exampleLosses(PackedBatch(sequences: inputs), labels: labels) }
        let decoded = inputs.map(ClassifyInput.decode)
        let scores = try! labelScorer!.scores(prompts: decoded.map(\.prompt), candidates: decoded.map(\.candidates))
        return LabelScorer.crossEntropies(scores, labels: labels)
    }

    public func lossDivisor(_ inputs: [[Int32]]) -> Double { Double(inputs.count) }

    /// The batch's macro-F1 over the task's labels (a label absent from the batch and never
    /// predicted counts 0, as scikit-learn's zero_division=0): like accuracy, only for MeZO. It
    /// weighs a rare class's recall as much as a frequent one's, which accuracy does not.
    func batchMacroF1(_ inputs: [[Int32]], labels: [Int]) -> Float {
        Float(ClassificationReport(gold: labels, predicted: batchPredictions(inputs),
                                   labelNames: prompt.spec.labels.map(\.value)).macroF1)
    }

    /// The best-scoring label of each input at the current weights.
    func batchPredictions(_ inputs: [[Int32]]) -> [Int] {
        let scores: [[Float]]
        if let candidateObjective, let fixedCandidates {
            let batch = PackedBatch(sequences: inputs)
            let hidden = model.forward(batch, workspace: candidateObjective.workspace, outputs: .lastTokenOfEachSequence)
            let flat = model.candidateLogits(hidden: hidden, rows: batch.sequenceCount, candidates: fixedCandidates)
            let K = fixedCandidates.count
            scores = (0..<inputs.count).map { Array(flat[($0 * K)..<($0 * K + K)]) }
        } else {
            let decoded = inputs.map(ClassifyInput.decode)
            scores = try! labelScorer!.scores(prompts: decoded.map(\.prompt), candidates: decoded.map(\.candidates))
        }
        return scores.map(Self.argmax)
    }

    /// Fixed single-token label words: the two-row candidate head. Any other label words: the
    /// prompts with every alternative packed after them as continuations (as `LabelScorer` scores
    /// them), backpropagating the cross-entropy over labels of their log-sum-exp scores.
    public func makeBackprop(maxTokens: Int) -> ([[Int32]], [Int], ParameterArena) -> Float {
        let trainer = DecoderTrainer(model: model, maxTokens: maxTokens)
        if let candidates = fixedCandidates {
            return { inputs, labels, gradients in
                trainer.lossAndGradients(batch: PackedBatch(sequences: inputs),
                                         target: .candidates(ids: candidates, labels: labels), gradients: gradients)
            }
        }
        return { inputs, labels, gradients in
            let decoded = inputs.map(ClassifyInput.decode)
            let batch = ContinuationBatch(prompts: decoded.map(\.prompt), continuations: decoded.map { Array($0.candidates.joined()) })
            let loss = ContinuationLosses.labelCrossEntropy(alternatives: decoded.map { $0.candidates.map(\.count) }, labels: labels)
            return trainer.lossAndGradients(continuations: batch, loss: loss, gradients: gradients)
        }
    }

    /// Label scores of every example, [example][label]: logits of the label words (fast path) or
    /// log-probabilities (continuation path). Only their order matters for the prediction.
    public func scores(_ examples: [LabeledExample], progress: ((Int, Int) -> Void)? = nil) throws -> [[Float]] {
        if candidateObjective == nil && labelScorer == nil { try prepare(maxTokens: 2048) }
        let inputs = try inputs(examples)
        if let fixedCandidates {
            let scorer = CandidateScorer(model: model, workspace: candidateObjective!.workspace)
            let flat = try scorer.candidateLogits(prompts: inputs, candidates: fixedCandidates) { progress?($0, examples.count) }
            let K = fixedCandidates.count
            return (0..<examples.count).map { Array(flat[($0 * K)..<($0 * K + K)]) }
        }
        let decoded = inputs.map(ClassifyInput.decode)
        return try labelScorer!.scores(prompts: decoded.map(\.prompt), candidates: decoded.map(\.candidates)) {
            progress?($0, examples.count)
        }
    }

    /// The task's metric (accuracy or macro-F1) on `examples`.
    public func evaluate(_ examples: [LabeledExample]) throws -> (accuracy: Double, seconds: Double) {
        try evaluate(examples) { _, _ in }
    }

    /// The metric, with `progress(done, total)` as the examples are scored.
    public func evaluate(_ examples: [LabeledExample], progress: @escaping (Int, Int) -> Void) throws -> (accuracy: Double, seconds: Double) {
        let started = Date()
        let predictions = try scores(examples, progress: progress).map(ClassifyTask.argmax)
        let report = ClassificationReport(gold: examples.map(\.label), predicted: predictions,
                                          labelNames: prompt.spec.labels.map(\.value))
        return (report.value(of: prompt.spec.effectiveMetric), Date().timeIntervalSince(started))
    }

    /// Index of the largest score; the first wins ties (as the original evaluator).
    public static func argmax(_ row: [Float]) -> Int {
        row.indices.max { row[$0] < row[$1] }!
    }
}

/// How a classify example with continuation-scored label words travels through the training loop,
/// which batches plain token arrays: the prompt, then for each label its alternatives, each word's
/// tokens closed by `endOfWord` (-1), each label closed by `endOfLabel` (-2). Token ids are never
/// negative, so the markers are unambiguous; the array's length also bounds the rows the example
/// takes in a packed pass, which is what the loop sizes its buffers by.
enum ClassifyInput {
    static let endOfPrompt: Int32 = -3
    static let endOfWord: Int32 = -1
    static let endOfLabel: Int32 = -2

    static func encode(prompt: [Int32], candidates: LabelCandidates) -> [Int32] {
        var out = prompt + [endOfPrompt]
        for label in candidates {
            for word in label { out += word + [endOfWord] }
            out.append(endOfLabel)
        }
        return out
    }

    static func decode(_ input: [Int32]) -> (prompt: [Int32], candidates: LabelCandidates) {
        let split = input.firstIndex(of: endOfPrompt)!
        var candidates: LabelCandidates = [], label: [[Int32]] = [], word: [Int32] = []
        for t in input[(split + 1)...] {
            switch t {
            case endOfWord: label.append(word); word = []
            case endOfLabel: candidates.append(label); label = []
            default: word.append(t)
            }
        }
        return (Array(input[..<split]), candidates)
    }
}
