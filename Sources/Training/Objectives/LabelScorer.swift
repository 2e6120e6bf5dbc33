import Foundation
import Models
import Tasks
import Tensors

/// The candidate label words of one example: [label][alternative][token].
public typealias LabelCandidates = [[[Int32]]]

/// Scores every label of a classification task after each prompt, for label words of any length:
/// a label's score is log P(word | prompt) (summed over the word's tokens, each normalised over
/// the whole vocabulary); with several alternative words, the log-sum-exp of theirs. Log-sum-exp
/// rather than the best alternative because the label is said when any of its words is said:
/// P(label) = Σ P(word), so the scores stay log-probabilities of disjoint events, the training
/// loss stays a cross-entropy over labels, and its gradient reaches every alternative (a max would
/// move only the current best and jump when the best changes).
public final class LabelScorer {
    public let model: DecoderModel
    public let workspace: DecoderWorkspace
    private var gathered: GatheredKeyValues?

    public init(model: DecoderModel, workspace: DecoderWorkspace) {
        self.model = model
        self.workspace = workspace
    }

    /// Rows an example takes in a packed pass: its prompt plus every alternative's tokens.
    static func rows(_ prompt: [Int32], _ candidates: LabelCandidates) -> Int {
        prompt.count + candidates.joined().reduce(0) { $0 + $1.count }
    }

    /// Label scores, [example][label].
    /// - Parameter progress: called with the number of examples scored so far.
    public func scores(prompts: [[Int32]], candidates: [LabelCandidates],
                       progress: ((Int) -> Void)? = nil) throws -> [[Float]] {
        precondition(prompts.count == candidates.count)
        var out: [[Float]] = []
        out.reserveCapacity(prompts.count)
        var start = 0
        while start < prompts.count {
            // As many examples as fit the workspace.
            var end = start, tokens = 0
            while end < prompts.count {
                let n = Self.rows(prompts[end], candidates[end])
                guard n <= workspace.maxTokens else {
                    throw ModelError("example \(end) needs \(n) tokens (prompt and label words), more than a batch holds (\(workspace.maxTokens))")
                }
                guard n <= model.maxPositions else {
                    throw ModelError("example \(end) has \(n) tokens, more than the model's \(model.maxPositions) positions")
                }
                if tokens + n > workspace.maxTokens { break }
                tokens += n
                end += 1
            }
            let flat = candidates[start..<end].map { Array($0.joined()) }
            let batch = ContinuationBatch(prompts: Array(prompts[start..<end]), continuations: flat)
            if (gathered?.capacity ?? 0) < batch.gatherRows.count {
                gathered = GatheredKeyValues(config: model.config, capacity: max(batch.gatherRows.count, workspace.maxTokens * 2))
            }
            let logProbs = model.continuationLogProbs(batch, workspace: workspace, gathered: gathered!)
            for (i, perWord) in logProbs.enumerated() {
                var k = 0
                out.append(candidates[start + i].map { alternatives in
                    let words = perWord[k..<(k + alternatives.count)]
                    k += alternatives.count
                    return Self.logSumExp(Array(words))
                })
            }
            start = end
            progress?(end)
        }
        return out
    }

    static func logSumExp(_ x: [Float]) -> Float {
        if x.count == 1 { return x[0] }
        let m = x.max()!
        guard m.isFinite else { return m }
        return m + Float(Foundation.log(x.reduce(0.0) { $0 + Foundation.exp(Double($1 - m)) }))
    }

    /// Mean over examples of −log softmax(scores)[label]: the cross-entropy over labels.
    public static func crossEntropy(_ scores: [[Float]], labels: [Int]) -> Float {
        LossTerms.mean(crossEntropies(scores, labels: labels), divisor: Double(labels.count))
    }

    /// Each example's cross-entropy, in order.
    public static func crossEntropies(_ scores: [[Float]], labels: [Int]) -> [Double] {
        zip(scores, labels).map { row, label in
            let d = row.map(Double.init)
            let m = d.max()!
            return m + Foundation.log(d.reduce(0) { $0 + Foundation.exp($1 - m) }) - d[label]
        }
    }
}
