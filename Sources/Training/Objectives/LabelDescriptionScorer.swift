import Foundation
import Models
import Tasks
import Tensors

/// Scores sentences against label descriptions with a sentence encoder:
///   logit_k = cos(embed(sentence), embed(description_k)) / temperature
/// and the loss is the cross-entropy of the label over these logits (a contrastive, CLIP-style
/// head with no new parameters). Embeddings are unit length, so the cosine is a dot product.
///
/// The temperature sets how sharp the softmax is, not which label wins: cosines between one
/// sentence and two descriptions differ by a few hundredths, so T = 1 would leave every loss near
/// log 2 with almost no signal; T = 0.05 (logits differ by ~1) is the usual contrastive scale.
public final class LabelDescriptionScorer {
    public let embedder: SentenceEmbedder
    public let descriptions: LabelDescriptions
    public let temperature: Float
    /// [CLS] pieces [SEP] of each description.   (K)
    public let descriptionIDs: [[Int32]]

    public static let defaultTemperature: Float = 0.05

    public init(embedder: SentenceEmbedder, descriptions: LabelDescriptions,
                temperature: Float = LabelDescriptionScorer.defaultTemperature) throws {
        precondition(temperature > 0, "temperature must be positive")
        self.embedder = embedder
        self.descriptions = descriptions
        self.temperature = temperature
        descriptionIDs = try embedder.tokenIDs(descriptions.texts)
    }

    public var labelCount: Int { descriptions.texts.count }

    /// Logits of tokenised sentences (`embedder.tokenIDs`).   → (count, K), row-major.
    /// The descriptions are embedded once, with the current weights.
    public func logits(ids: [[Int32]], progress: ((Int) -> Void)? = nil) -> [Float] {
        let described = embedder.embeddings(ids: descriptionIDs)   // (K, C)
        let sentences = embedder.embeddings(ids: ids, progress: progress)   // (S, C)
        return logits(sentences: sentences, descriptions: described, count: ids.count)
    }

    /// Mean cross-entropy over a training batch. The descriptions are embedded with the current
    /// weights, packed with the sentences (one forward pass when they fit the embedder's batch), so a
    /// perturbation of the weights moves both sides.
    public func loss(ids: [[Int32]], labels: [Int]) -> Float {
        LossTerms.mean(exampleLosses(ids: ids, labels: labels), divisor: Double(max(1, labels.count)))
    }

    /// Each sentence's cross-entropy, in order (the descriptions embedded alongside, as in `loss`).
    public func exampleLosses(ids: [[Int32]], labels: [Int]) -> [Double] {
        precondition(labels.count == ids.count && labels.allSatisfy { (0..<labelCount).contains($0) })
        let K = labelCount, C = embedder.dimension
        let all = embedder.embeddings(ids: descriptionIDs + ids)   // (K + S, C)
        let described = Array(all[..<(K * C)])
        let sentences = Array(all[(K * C)...])
        let z = logits(sentences: sentences, descriptions: described, count: ids.count)
        return Self.crossEntropies(logits: z, labels: labels, classes: K)
    }

    /// cos / T for every (sentence, description) pair.   sentences: (S, C)   descriptions: (K, C)   → (S, K)
    func logits(sentences: [Float], descriptions: [Float], count: Int) -> [Float] {
        let K = labelCount, C = embedder.dimension
        var out = [Float](repeating: 0, count: count * K)
        sentences.withUnsafeBufferPointer { s in
            descriptions.withUnsafeBufferPointer { d in
                for i in 0..<count {
                    for k in 0..<K {
                        out[i * K + k] = dot(s.baseAddress! + i * C, d.baseAddress! + k * C, C) / temperature
                    }
                }
            }
        }
        return out
    }

    /// Mean over rows of logsumexp(row) − row[label], in Double.   logits: (rows, classes)
    public static func meanCrossEntropy(logits: [Float], labels: [Int], classes K: Int) -> Float {
        LossTerms.mean(crossEntropies(logits: logits, labels: labels, classes: K), divisor: Double(max(1, labels.count)))
    }

    /// Each row's logsumexp(row) − row[label], in order.   logits: (rows, classes)
    public static func crossEntropies(logits: [Float], labels: [Int], classes K: Int) -> [Double] {
        labels.enumerated().map { i, label in
            let row = (0..<K).map { Double(logits[i * K + $0]) }
            let m = row.max()!
            return m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) }) - row[label]
        }
    }
}

extension ClassificationEvaluator {
    /// Accuracy of an encoder with label descriptions: the prediction is the label with the largest
    /// logit (cosine / T), the first on ties. `loss` is the mean cross-entropy at the scorer's temperature.
    public static func evaluate(scorer: LabelDescriptionScorer, examples: [LabeledExample],
                                progress: ((Int, Int) -> Void)? = nil) throws -> (result: ClassificationResult, loss: Float) {
        let started = DispatchTime.now()
        let ids = try scorer.embedder.tokenIDs(examples.map(\.text))
        let logits = scorer.logits(ids: ids) { progress?($0, examples.count) }
        let K = scorer.labelCount
        let predictions = (0..<examples.count).map { i -> Int in
            var best = 0
            for k in 1..<K where logits[i * K + k] > logits[i * K + best] { best = k }
            return best
        }
        let correct = zip(predictions, examples).filter { $0 == $1.label }.count
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let loss = LabelDescriptionScorer.meanCrossEntropy(logits: logits, labels: examples.map(\.label), classes: K)
        return (ClassificationResult(predictions: predictions,
                                     accuracy: examples.isEmpty ? 0 : Double(correct) / Double(examples.count),
                                     seconds: seconds, tokens: ids.reduce(0) { $0 + $1.count }),
                loss)
    }
}
