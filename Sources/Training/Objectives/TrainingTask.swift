import Foundation
import Models
import Tasks
import Tokenizers
import Weights

/// A model posed a classification task, as the training loop sees it: the parameters, each
/// example's model input, the batch loss (MeZO), the loss with gradients (SGD/AdamW) and dev
/// accuracy. The decoder answers with candidate label words, the encoder with label descriptions.
public protocol TrainingTask: AnyObject {
    /// What trains: the model's arena, or its adapters' (`PEFTSetup`) over a read-only base.
    var arena: ParameterArena { get }
    /// The base model's weights (the same as `arena` without adapters): a run's fingerprint.
    var baseArena: ParameterArena { get }
    /// Token ids of each example's input.
    func inputs(_ examples: [LabeledExample]) throws -> [[Int32]]
    /// Prepares the forward buffers for batches of at most `maxTokens` input tokens.
    func prepare(maxTokens: Int) throws
    /// Mean loss over a batch of inputs at the current weights (forward passes only):
    /// `LossTerms.mean(lossTerms(inputs, labels), divisor: lossDivisor(inputs))`.
    func loss(_ inputs: [[Int32]], labels: [Int]) -> Float
    /// The loss of each input alone, in order, before the division: data-parallel ranks each
    /// compute their share of a batch's terms and sum the gathered terms in batch order, which is
    /// bitwise the single process's `loss` (Training/Distributed).
    func lossTerms(_ inputs: [[Int32]], labels: [Int]) -> [Double]
    /// What a whole batch's summed terms are divided by (its example count; its target tokens for completion).
    func lossDivisor(_ inputs: [[Int32]]) -> Double
    /// The token-embedding rows `loss` reads for these inputs: the only rows whose perturbation
    /// can change it (MeZO's `--embedding-perturbation batch`); nil when it reads every row (a
    /// full-vocabulary softmax through a tied head).
    func embeddingRows(_ inputs: [[Int32]]) -> [Int32]?
    /// A function that fills `gradients` (the arena's layout) for a batch and returns its loss;
    /// it owns the stored activations of every layer, so it is made only for backprop runs.
    func makeBackprop(maxTokens: Int) -> (_ inputs: [[Int32]], _ labels: [Int], _ gradients: ParameterArena) -> Float
    /// Accuracy on `examples` at the current weights, and the seconds it took.
    func evaluate(_ examples: [LabeledExample]) throws -> (accuracy: Double, seconds: Double)
    /// The same, calling `progress(done, total)` as examples are scored (where the task can).
    func evaluate(_ examples: [LabeledExample], progress: @escaping (Int, Int) -> Void) throws -> (accuracy: Double, seconds: Double)
}

extension TrainingTask {
    /// A task without adapters trains its base.
    public var baseArena: ParameterArena { arena }

    /// The mean of the batch's terms (what most tasks' loss is; `ClassifyTask` also has macro-F1).
    public func loss(_ inputs: [[Int32]], labels: [Int]) -> Float {
        LossTerms.mean(lossTerms(inputs, labels: labels), divisor: lossDivisor(inputs))
    }

    /// Tasks that cannot report progress evaluate in one go.
    public func evaluate(_ examples: [LabeledExample], progress: @escaping (Int, Int) -> Void) throws -> (accuracy: Double, seconds: Double) {
        try evaluate(examples)
    }
}

/// A task posed to a decoder (classify, complete, chat): it trains the decoder's trainable arena,
/// the adapters' over a read-only base when adapters are attached.
public protocol DecoderTrainingTask: TrainingTask {
    var model: DecoderModel { get }
}

extension DecoderTrainingTask {
    public var arena: ParameterArena { model.trainableArena }
    public var baseArena: ParameterArena { model.arena }

    /// The continuation scorer of completion and chat tasks, its workspace holding a batch of
    /// `maxTokens` rows and at least a dev evaluation pass.
    func continuationScorer(maxTokens: Int) -> LabelScorer {
        LabelScorer(model: model, workspace: DecoderWorkspace(config: model.config, maxTokens: max(maxTokens, evaluationPassTokens)))
    }

    /// The inputs' tokens, and every row with a tied head: a target token's log-softmax reads the
    /// whole vocabulary (completion and chat).
    func embeddingRowsWithFullSoftmax(_ inputs: [[Int32]]) -> [Int32]? {
        EmbeddingRows.read(by: inputs, head: model.config.tieWordEmbeddings ? .everyRow : .none)
    }
}

/// Tokens a training task's forward buffers hold at least: the dev evaluation during training packs
/// prompts into passes of this size. 512 rows keep the products about as efficient as 1,024 did
/// (SST-2 dev in 19.2-19.6 s instead of 18.8-19.0 s on 2 cores) with half the activation memory
/// (17 MB less on Gemma-3-270M), which is what keeps a MeZO step within 1.05× its weights + 100 MB.
let evaluationPassTokens = 512

/// A sentence encoder with label descriptions (cosine / temperature, cross-entropy).
public final class EncoderTask: TrainingTask {
    public let scorer: LabelDescriptionScorer
    var embedder: SentenceEmbedder { scorer.embedder }

    public init(scorer: LabelDescriptionScorer) { self.scorer = scorer }

    public var arena: ParameterArena { embedder.model.trainableArena }
    public var baseArena: ParameterArena { embedder.model.arena }

    public func inputs(_ examples: [LabeledExample]) throws -> [[Int32]] {
        try embedder.tokenIDs(examples.map(\.text))
    }

    /// Nothing to prepare: the embedder splits a batch (descriptions included) into passes that
    /// fit its workspace.
    public func prepare(maxTokens: Int) throws {}

    public func loss(_ inputs: [[Int32]], labels: [Int]) -> Float { scorer.loss(ids: inputs, labels: labels) }

    public func lossTerms(_ inputs: [[Int32]], labels: [Int]) -> [Double] {
        inputs.isEmpty ? [] : scorer.exampleLosses(ids: inputs, labels: labels)
    }

    public func lossDivisor(_ inputs: [[Int32]]) -> Double { Double(max(1, inputs.count)) }

    /// The batch's tokens and the label descriptions' (every loss embeds both).
    public func embeddingRows(_ inputs: [[Int32]]) -> [Int32]? {
        EmbeddingRows.read(by: inputs + scorer.descriptionIDs, head: .none)
    }

    public func makeBackprop(maxTokens: Int) -> ([[Int32]], [Int], ParameterArena) -> Float {
        let descriptions = scorer.descriptionIDs
        let trainer = EncoderTrainer(model: embedder.model, maxTokens: maxTokens + descriptions.reduce(0) { $0 + $1.count })
        let temperature = scorer.temperature
        return { inputs, labels, gradients in
            trainer.lossAndGradients(batch: PackedBatch(sequences: descriptions + inputs), descriptionCount: descriptions.count,
                                     labels: labels, temperature: temperature, gradients: gradients)
        }
    }

    public func evaluate(_ examples: [LabeledExample]) throws -> (accuracy: Double, seconds: Double) {
        let r = try ClassificationEvaluator.evaluate(scorer: scorer, examples: examples).result
        return (r.accuracy, r.seconds)
    }
}

/// The token-embedding rows a loss reads: its inputs' tokens, and what a tied output head reads.
enum EmbeddingRows {
    enum Head {
        /// No tied head, or one that reads none of the table.
        case none
        /// A tied head computing only these rows (candidate label words).
        case rows([Int32])
        /// A tied head normalising over the whole vocabulary: every row matters.
        case everyRow
    }

    /// Sorted distinct rows, or nil for every row. Negative entries are markers, not tokens
    /// (`ClassifyInput`).
    static func read(by inputs: [[Int32]], head: Head) -> [Int32]? {
        var rows = Set(inputs.joined().filter { $0 >= 0 })
        switch head {
        case .none: break
        case .rows(let ids): rows.formUnion(ids)
        case .everyRow: return nil
        }
        return rows.sorted()
    }
}
