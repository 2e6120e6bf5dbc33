import Foundation
import Models

/// The training losses of tasks scored as continuations (`ContinuationLoss`: a function of each
/// continuation's log-probability, with its derivative), which `DecoderTrainer` backpropagates
/// through the model. They are the same functions MeZO's forward-only loss computes
/// (`LabelScorer.crossEntropy`, `CompleteTask.loss`), written once more with their derivatives.
enum ContinuationLosses {
    /// Classify with label words of any length: per example, each label's score is the log-sum-exp
    /// of its alternatives' log-probabilities (`LabelScorer`), and the loss is the mean over examples
    /// of −log softmax(scores)[label].
    ///   d loss / d s_l   = (softmax(s)_l − [l = y]) / B
    ///   d loss / d lp_a  = d loss / d s_l · exp(lp_a − s_l)      for alternative a of label l
    /// - Parameters:
    ///   - alternatives: per example, the number of alternative words of each label, in the order
    ///     the batch's continuations list them (label by label).
    static func labelCrossEntropy(alternatives: [[Int]], labels: [Int]) -> ContinuationLoss {
        precondition(alternatives.count == labels.count)
        return { logProbs in
            precondition(logProbs.count == labels.count)
            let B = Double(labels.count)
            var total = 0.0
            var derivative: [[Float]] = []
            for (e, perLabel) in alternatives.enumerated() {
                let lp = logProbs[e].map(Double.init)
                precondition(lp.count == perLabel.reduce(0, +), "example \(e): one log-probability per alternative")
                var scores: [Double] = [], first = 0
                for count in perLabel {
                    scores.append(logSumExp(Array(lp[first..<(first + count)])))
                    first += count
                }
                let logZ = logSumExp(scores)
                total += logZ - scores[labels[e]]
                var d: [Float] = []
                for (l, count) in perLabel.enumerated() {
                    let dScore = (Foundation.exp(scores[l] - logZ) - (l == labels[e] ? 1 : 0)) / B
                    let start = d.count
                    for a in 0..<count { d.append(Float(dScore * Foundation.exp(lp[start + a] - scores[l]))) }
                }
                derivative.append(d)
            }
            return (total / B, derivative)
        }
    }

    /// Complete: the mean cross-entropy over every target token of the batch, i.e. minus the sum
    /// of the targets' log-probabilities over their total token count (transformers' `labels=`
    /// loss with the prompts' positions at -100).   d loss / d lp_e = −1 / tokens
    /// - Parameter tokenCounts: per example, its one target's token count.
    static func targetTokenMean(tokenCounts: [Int]) -> ContinuationLoss {
        let tokens = Double(tokenCounts.reduce(0, +))
        precondition(tokens > 0, "targets need tokens")
        return { logProbs in
            precondition(logProbs.count == tokenCounts.count && logProbs.allSatisfy { $0.count == 1 })
            let total = logProbs.reduce(0.0) { $0 + Double($1[0]) }
            return (-total / tokens, logProbs.map { _ in [Float(-1 / tokens)] })
        }
    }

    static func logSumExp(_ x: [Double]) -> Double {
        if x.count == 1 { return x[0] }
        let m = x.max()!
        guard m.isFinite else { return m }
        return m + Foundation.log(x.reduce(0) { $0 + Foundation.exp($1 - m) })
    }
}
