import Foundation
import Models
import Tasks
import Tensors
import Tokenizers

/// Scores prompts by the output logits of a few candidate tokens at each prompt's last token,
/// packing prompts into forward passes of at most `maxTokens` tokens.
public final class CandidateScorer {
    public let model: DecoderModel
    public let workspace: DecoderWorkspace
    public let maxTokens: Int

    /// - Parameter maxTokens: tokens per forward pass. Larger batches keep sgemm efficient; the
    ///   workspace grows linearly (~35 KB per token for Gemma-3-270M).
    public init(model: DecoderModel, maxTokens: Int = 2048) {
        self.model = model
        self.maxTokens = maxTokens
        workspace = DecoderWorkspace(config: model.config, maxTokens: maxTokens)
    }

    /// Shares an existing workspace (training evaluates with the buffers its loss uses).
    public init(model: DecoderModel, workspace: DecoderWorkspace) {
        self.model = model
        self.maxTokens = workspace.maxTokens
        self.workspace = workspace
    }

    /// Candidate logits for every prompt.   → (prompts.count, candidates.count), row-major.
    /// - Parameter progress: called with the number of prompts scored so far.
    public func candidateLogits(prompts: [[Int32]], candidates: [Int32],
                                progress: ((Int) -> Void)? = nil) throws -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(prompts.count * candidates.count)
        for chunk in try packChunks(prompts) {
            let batch = PackedBatch(sequences: Array(prompts[chunk]))
            let hidden = model.forward(batch, workspace: workspace, outputs: .lastTokenOfEachSequence)
            out += model.candidateLogits(hidden: hidden, rows: batch.sequenceCount, candidates: candidates)
            progress?(chunk.upperBound)
        }
        return out
    }

    /// Consecutive ranges of prompts whose total length fits `maxTokens`.
    public func packChunks(_ prompts: [[Int32]]) throws -> [Range<Int>] {
        var chunks: [Range<Int>] = []
        var start = 0, tokens = 0
        for (i, p) in prompts.enumerated() {
            guard p.count <= maxTokens else {
                throw ModelError("prompt \(i) has \(p.count) tokens, more than a batch holds (\(maxTokens))")
            }
            guard p.count <= model.maxPositions else {
                throw ModelError("prompt \(i) has \(p.count) tokens, more than the model's \(model.maxPositions) positions")
            }
            if tokens + p.count > maxTokens {
                chunks.append(start..<i)
                start = i
                tokens = 0
            }
            tokens += p.count
        }
        if start < prompts.count { chunks.append(start..<prompts.count) }
        return chunks
    }
}

/// Zero-shot (or fine-tuned) accuracy of a candidate-prompt task.
public struct ClassificationResult: Sendable {
    public let predictions: [Int]
    public let accuracy: Double
    public let seconds: Double
    public let tokens: Int
}

public enum ClassificationEvaluator {
    /// Predicts each example's label as the label word with the largest logit after its prompt
    /// (single-token label words, the same for every example: `ClassifyTask.fixedCandidates`).
    public static func evaluate(model: DecoderModel, tokenizer: Tokenizer, prompt: TaskPrompt,
                                examples: [LabeledExample], maxTokens: Int = 2048,
                                progress: ((Int, Int) -> Void)? = nil) throws -> ClassificationResult {
        guard let candidates = try ClassifyTask.fixedCandidates(prompt: prompt, tokenizer: tokenizer) else {
            throw RunError("\(prompt.origin): the candidate evaluator scores single-token label words only")
        }
        let scorer = CandidateScorer(model: model, maxTokens: maxTokens)
        let started = DispatchTime.now()
        let prompts = try examples.map { try prompt.promptIDs(for: $0, tokenizer: tokenizer) }
        let logits = try scorer.candidateLogits(prompts: prompts, candidates: candidates) {
            progress?($0, examples.count)
        }
        let K = candidates.count
        let predictions = (0..<examples.count).map { i -> Int in
            let row = logits[(i * K)..<(i * K + K)]
            return row.indices.max { row[$0] < row[$1] }! - i * K   // first maximum wins ties
        }
        let correct = zip(predictions, examples).filter { $0 == $1.label }.count
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        return ClassificationResult(predictions: predictions,
                                    accuracy: examples.isEmpty ? 0 : Double(correct) / Double(examples.count),
                                    seconds: seconds, tokens: prompts.reduce(0) { $0 + $1.count })
    }
}
