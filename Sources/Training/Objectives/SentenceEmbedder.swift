import Foundation
import Models
import Tensors
import Tokenizers

/// Texts → unit-length sentence embeddings with an encoder, as sentence-transformers' `encode`:
/// `[CLS] pieces [SEP]` truncated to the folder's `max_seq_length`, mean pooling, L2 normalisation.
/// Sentences are packed into forward passes of at most `batchSize` sentences and `maxTokens` tokens.
public final class SentenceEmbedder {
    public let model: EncoderModel
    public let tokenizer: WordPieceTokenizer
    public let workspace: EncoderWorkspace
    /// Tokens per sentence, [CLS] and [SEP] included (sentence_bert_config.json's max_seq_length,
    /// else the position table's length; less a prefix's positions once one is attached).
    public var maxSequenceLength: Int { min(requestedLength, model.maxSequenceLength) }
    let requestedLength: Int
    public let batchSize: Int
    /// Tokens per forward pass: room for `batchSize` sentences of 64 tokens, and always for one of
    /// `maxSequenceLength`. A batch of longer sentences is split (sequences are independent, so the
    /// embeddings do not change); the workspace stays ~30 MB instead of batchSize × 256 tokens' 126 MB.
    public let maxTokens: Int

    public var dimension: Int { model.config.hiddenSize }

    /// - Parameters:
    ///   - maxSequenceLength: nil = sentence-transformers' choice for the folder (see `maxSequenceLength(directory:)`).
    ///   - batchSize: sentences per forward pass (sentence-transformers' default is 32).
    public init(model: EncoderModel, tokenizer: Tokenizer, maxSequenceLength: Int, batchSize: Int = 32) throws {
        guard let wordPiece = tokenizer as? WordPieceTokenizer else {
            throw ModelError("encoders need a WordPiece tokenizer (vocab.txt), not \(type(of: tokenizer))")
        }
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw ModelError("\(wordPiece.vocabularyPath) has \(tokenizer.vocabularySize) pieces but the model's "
                             + "vocab_size is \(model.config.vocabSize): the tokenizer does not belong to this model")
        }
        self.model = model
        self.tokenizer = wordPiece
        requestedLength = min(maxSequenceLength, model.maxSequenceLength)
        self.batchSize = batchSize
        maxTokens = max(requestedLength, batchSize * 64)
        workspace = EncoderWorkspace(config: model.config, maxTokens: maxTokens)
    }

    /// sentence-transformers' `max_seq_length` for a folder: sentence_bert_config.json's value if
    /// the file has one, else nil (the model's position table then limits).
    public static func maxSequenceLength(directory: String) throws -> Int? {
        let path = (directory as NSString).appendingPathComponent("sentence_bert_config.json")
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError("\(path): not a JSON object")
        }
        guard let value = json["max_seq_length"] else { return nil }
        guard let n = value as? Int, n >= 2 else { throw ModelError("\(path): max_seq_length must be an integer ≥ 2") }
        return n
    }

    /// Loads model, tokenizer and max_seq_length from an encoder folder.
    public static func load(directory: String, batchSize: Int = 32) throws -> SentenceEmbedder {
        let model = try ModelLoader.loadEncoder(directory: directory)
        let tokenizer = try TokenizerLoader.load(modelDirectory: directory)
        let length = try maxSequenceLength(directory: directory) ?? model.maxSequenceLength
        return try SentenceEmbedder(model: model, tokenizer: tokenizer, maxSequenceLength: length, batchSize: batchSize)
    }

    /// The model's input for each text: [CLS] pieces [SEP], truncated.
    public func tokenIDs(_ texts: [String]) throws -> [[Int32]] {
        try texts.map { try tokenizer.encodeForEncoder($0, maxLength: maxSequenceLength) }
    }

    /// Embeddings of tokenised sentences (`tokenIDs`), in order.   → (count, C), row-major.
    public func embeddings(ids: [[Int32]], progress: ((Int) -> Void)? = nil) -> [Float] {
        let C = dimension
        var out = [Float](repeating: 0, count: ids.count * C)
        var start = 0
        while start < ids.count {
            var end = start, tokens = 0
            while end < ids.count && end - start < batchSize && tokens + ids[end].count <= maxTokens {
                precondition(ids[end].count <= maxSequenceLength, "sentence \(end) has \(ids[end].count) tokens (max \(maxSequenceLength)); use tokenIDs")
                tokens += ids[end].count
                end += 1
            }
            let batch = PackedBatch(sequences: Array(ids[start..<end]))
            let pooled = model.sentenceEmbeddings(batch, workspace: workspace)
            out.withUnsafeMutableBufferPointer { memcpy($0.baseAddress! + start * C, pooled, (end - start) * C * 4) }
            progress?(end)
            start = end
        }
        return out
    }

    /// Embeddings of texts, in order.   → (texts.count, C), row-major.
    public func embeddings(_ texts: [String], progress: ((Int) -> Void)? = nil) throws -> [Float] {
        embeddings(ids: try tokenIDs(texts), progress: progress)
    }
}
