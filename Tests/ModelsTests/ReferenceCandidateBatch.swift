import Foundation
import Models
import Tasks
import Tokenizers
import Weights
import XCTest

/// The SST-2 candidate-loss batch a transformers/peft reference dump was made on (its `labels`,
/// `candidate_ids` and `input_ids_k`: the first train examples in the sst2 prompt), rebuilt with our
/// tokenizer and checked token for token against the dump.
struct ReferenceCandidateBatch {
    let batch: PackedBatch
    let candidates: [Int32]
    let labels: [Int]
    /// The train examples the batch holds, in order.
    let examples: [LabeledExample]

    init(reference: SafeTensorsFile, tokenizer: Tokenizer, sst2: String) throws {
        labels = try reference.floats("labels").map { Int($0) }
        examples = Array(try TaskData.load(directory: sst2, split: .train).prefix(labels.count))
        let prompt = try TaskPrompt.builtin("sst2")
        // One single-token word per label: [label][alternative][token] → [label].
        candidates = try prompt.candidateIDs(for: LabeledExample(text: "", label: -1), tokenizer: tokenizer).map { $0[0][0] }
        XCTAssertEqual(candidates, try reference.floats("candidate_ids").map { Int32($0) })
        var prompts: [[Int32]] = []
        for (k, example) in examples.enumerated() {
            let ids = try prompt.promptIDs(for: example, tokenizer: tokenizer)
            XCTAssertEqual(ids, try reference.floats("input_ids_\(k)").map { Int32($0) }, "prompt \(k) ids")
            prompts.append(ids)
        }
        batch = PackedBatch(sequences: prompts)
    }
}
