import Foundation
import Models
import Tensors

/// The training loss of a candidate-prompt task: the mean over the batch of the cross-entropy of
/// the label among the candidates' logits at each prompt's last token (MeZO's SST-2 objective).
/// Only the candidate rows of the output embedding are computed.
public final class CandidateObjective {
    public let model: DecoderModel
    public let candidates: [Int32]
    public let workspace: DecoderWorkspace

    public init(model: DecoderModel, candidates: [Int32], maxTokens: Int) {
        self.model = model
        self.candidates = candidates
        workspace = DecoderWorkspace(config: model.config, maxTokens: maxTokens)
    }

    public var workspaceBytes: Int { workspace.byteCount }

    /// Mean cross-entropy over `batch`; labels index `candidates`.
    public func loss(_ batch: PackedBatch, labels: [Int]) -> Float {
        LossTerms.mean(exampleLosses(batch, labels: labels), divisor: Double(labels.count))
    }

    /// Each sequence's cross-entropy, in batch order (what data-parallel ranks gather).
    public func exampleLosses(_ batch: PackedBatch, labels: [Int]) -> [Double] {
        precondition(labels.count == batch.sequenceCount)
        let hidden = model.forward(batch, workspace: workspace, outputs: .lastTokenOfEachSequence)
        let logits = model.candidateLogits(hidden: hidden, rows: batch.sequenceCount, candidates: candidates)
        return Self.crossEntropies(logits: logits, labels: labels, candidates: candidates.count)
    }

    /// Each row's cross-entropy of its label among the candidates' logits.   logits: (rows, K)
    public static func crossEntropies(logits: [Float], labels: [Int], candidates K: Int) -> [Double] {
        labels.enumerated().map { s, label in
            let row = (0..<K).map { Double(logits[s * K + $0]) }
            let m = row.max()!
            let logZ = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
            return logZ - row[label]
        }
    }
}
