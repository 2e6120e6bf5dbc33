import Foundation
import Models
import Tasks
import Tensors
import Tokenizers
import Weights

/// `profile`'s built-in SST-2 batch (the README's profile): B sequences of exactly T tokens, made of
/// each architecture's own tokens, and the memory plan's prediction for it. An encoder gets
/// WordPiece [CLS] … [SEP] sentences scored against SST-2's label descriptions; a decoder gets the
/// SST-2 prompts. The prediction takes the weights' format (encoders hold f32). The worker poses the same task to the same batch (`TrainingTasks.make`).
public enum FixedLengthProfile {
    public static func make(modelDirectory: String, examples: [LabeledExample], batchSize: Int, length: Int,
                            tokenizer: Tokenizer) throws -> (ProfileBatch, (ProfileMethod, WeightFormat) -> [MemoryTag: Int]) {
        switch try ModelArchitecture.of(directory: modelDirectory) {
        case .encoder:
            let config = try EncoderConfig.load(directory: modelDirectory)
            guard let wordPiece = tokenizer as? WordPieceTokenizer, length <= config.maxSequenceLength else {
                throw RunError("\(modelDirectory): an encoder needs vocab.txt and --seq-len ≤ \(config.maxSequenceLength)")
            }
            let batch = try ProfileBatch.makeForEncoder(examples: examples, batchSize: batchSize, length: length, tokenizer: wordPiece)
            let descriptions = try TaskName.sst2.labelDescriptions.texts.map { try wordPiece.encodeForEncoder($0, maxLength: length) }
            let tokens = batch.tokenCount + descriptions.reduce(0) { $0 + $1.count }
            // The worker's embedder takes the whole batch in one pass (SentenceEmbedder.maxTokens).
            let workspace = max(length, (batchSize + descriptions.count) * 64)
            return (batch, { method, _ in   // encoders hold f32 weights
                MemoryPlan.predict(encoder: config, method: method, tokens: tokens, workspaceTokens: workspace,
                                   sequences: batch.sequences.count + descriptions.count)
            })
        case .decoder:
            let config = try DecoderConfig.load(directory: modelDirectory)
            let batch = try ProfileBatch.make(examples: examples, batchSize: batchSize, length: length,
                                              prompt: try .builtin("sst2"), tokenizer: tokenizer)
            guard batch.sequences.allSatisfy({ $0.allSatisfy { Int($0) < config.vocabSize } }) else {
                throw RunError("\(modelDirectory): the tokenizer's ids exceed the model's vocab_size \(config.vocabSize)")
            }
            return (batch, { MemoryPlan.predict(config: config, method: $0, tokens: batch.tokenCount,
                                                sequences: batch.sequences.count, weights: $1) })
        }
    }
}

extension LoadedModel {
    /// The model a `profile-worker` measures, its workspace sized for `batch`: a decoder with
    /// `weights`, or an encoder whose embedder takes the batch and SST-2's label descriptions in
    /// one pass, each at most the batch's longest sequence.
    public static func forProfile(directory: String, weights: WeightFormat, tokenizer: Tokenizer,
                                  batch: ProfileBatch) throws -> LoadedModel {
        switch try ModelArchitecture.of(directory: directory) {
        case .encoder:
            let length = batch.sequences.map(\.count).max() ?? 1
            return .encoder(try SentenceEmbedder(model: try ModelLoader.loadEncoder(directory: directory), tokenizer: tokenizer,
                                                 maxSequenceLength: length,
                                                 batchSize: batch.sequences.count + TaskName.sst2.labelDescriptions.texts.count))
        case .decoder:
            return .decoder(try ModelLoader.loadDecoder(directory: directory, weights: weights), tokenizer)
        }
    }
}
