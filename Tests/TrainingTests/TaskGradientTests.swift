import Foundation
import Models
import Tasks
import Tensors
import Tokenizers
@testable import Training
import Weights
import TestSupport
import XCTest

/// The backprop path of the continuation-scored losses on the real Gemma-3-270M against
/// transformers' autograd (tools/reference/reference_task_gradients.py): the completion loss (mean
/// cross-entropy over the target tokens, transformers' `labels=` with -100 on the prompts) and the
/// classify loss over multi-token, alternative label words (log-sum-exp over alternatives, cross-
/// entropy over labels), each on the first 4 SST-2 train sentences posed as a user's JSONL
/// (review / sentiment). The gradient comes from the tasks' own `makeBackprop` closure, the one
/// `--optimizer sgd|adamw` steps with, on the ids the tasks make from the data file.
///
/// Tolerances: loss within 1e-4; per tensor, ‖g − g_ref‖₂ / ‖g_ref‖₂ ≤ 1e-3 (as
/// RealGemmaGradientTests, whose reference is within 7.4e-6 of float64). What is compared: the full
/// gradient of every norm weight and of every tensor of layers 0 and 17 (first and last), the
/// embedding's gradient on every row the batch's tokens use plus 256 other rows (the tied head
/// gives all 262,144 rows a gradient: the whole tensor would be 670 MB per loss), and the L2 norm
/// of every one of the 236 gradient tensors within 1e-3 relative.
final class TaskGradientTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    static let referenceFile = "gemma-3-270m-task-grads.safetensors"

    struct Fixture {
        let model: DecoderModel
        let tokenizer: Tokenizer
        let reference: SafeTensorsFile
        /// A scratch folder holding train.jsonl.
        let data: String
        let labels: [Int]
    }

    func fixture() throws -> Fixture {
        let dir = try Repo.requireGemma()
        let path = try Repo.requireReference(Self.referenceFile)
        let sst2 = try Repo.requireSST2()
        let reference = try SafeTensorsFile(path: path)
        let labels = try reference.floats("labels").map { Int($0) }
        let train = Array(try TaskData.load(directory: sst2, split: .train).prefix(labels.count))
        XCTAssertEqual(train.map(\.label), labels)
        let data = NSTemporaryDirectory() + "zofinetune-task-grads-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: data) }
        let jsonl = try train.map { example -> String in
            let object = ["review": example.text, "sentiment": example.label == 1 ? "positive" : "negative"]
            return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }.joined(separator: "\n") + "\n"
        try jsonl.write(toFile: data + "/train.jsonl", atomically: true, encoding: .utf8)
        return Fixture(model: try ModelLoader.loadDecoder(directory: dir, maxPositions: 256),
                       tokenizer: try TokenizerLoader.load(modelDirectory: dir), reference: reference, data: data, labels: labels)
    }

    func testCompletionLossGradientMatchesTransformers() throws {
        let f = try fixture()
        var spec = TaskSpec(template: "Review: {review}\nSentiment:", objective: .complete, targetColumn: "sentiment")
        spec.maxNewTokens = 2
        let task = CompleteTask(model: f.model, tokenizer: f.tokenizer, prompt: try TaskPrompt(spec: spec, origin: "test"))
        let examples = try TaskExamples.load(path: f.data + "/train.jsonl", spec: spec)
        let inputs = try task.inputs(examples)
        for (k, input) in inputs.enumerated() {
            let (prompt, candidates) = ClassifyInput.decode(input)
            XCTAssertEqual(prompt, try f.reference.floats("complete.prompt_\(k)").map { Int32($0) }, "prompt \(k)")
            XCTAssertEqual(candidates, [[try f.reference.floats("complete.target_\(k)").map { Int32($0) }]], "target \(k)")
        }
        try compare("complete.", task: task, inputs: inputs, labels: f.labels, fixture: f)
    }

    func testMultiTokenClassifyLossGradientMatchesTransformers() throws {
        let f = try fixture()
        let spec = TaskSpec(template: "Review: {review}\nThe movie was", labelColumn: "sentiment",
                            labels: [.init(value: "negative", words: [" really bad", " terrible"]),
                                     .init(value: "positive", words: [" really good", " great"])])
        let task = try ClassifyTask(model: f.model, tokenizer: f.tokenizer, prompt: try TaskPrompt(spec: spec, origin: "test"))
        XCTAssertTrue(task.needsContinuationScoring)
        let examples = try TaskExamples.load(path: f.data + "/train.jsonl", spec: spec)
        XCTAssertEqual(examples.map(\.label), f.labels)
        let inputs = try task.inputs(examples)
        let words = try (0..<2).map { l in try (0..<2).map { a in try f.reference.floats("classify.word_\(l)_\(a)").map { Int32($0) } } }
        XCTAssertTrue(words.joined().contains { $0.count > 1 }, "a label word of several tokens")
        for (k, input) in inputs.enumerated() {
            let (prompt, candidates) = ClassifyInput.decode(input)
            XCTAssertEqual(prompt, try f.reference.floats("classify.prompt_\(k)").map { Int32($0) }, "prompt \(k)")
            XCTAssertEqual(candidates, words, "label words \(k)")
        }
        try compare("classify.", task: task, inputs: inputs, labels: f.labels, fixture: f)
        // The loss backprop minimises is the one MeZO steps on.
        try task.prepare(maxTokens: 512)
        let forwardOnly = task.loss(inputs, labels: f.labels)
        XCTAssertEqual(forwardOnly, try f.reference.floats("classify.loss")[0], accuracy: 1e-4)
    }

    func compare(_ prefix: String, task: TrainingTask, inputs: [[Int32]], labels: [Int], fixture f: Fixture) throws {
        let model = f.model
        let backprop = task.makeBackprop(maxTokens: inputs.reduce(0) { $0 + $1.count })
        let grads = DecoderModel.makeArena(config: model.config)
        let start = Date()
        let loss = backprop(inputs, labels, grads)
        let seconds = Date().timeIntervalSince(start)
        let want = try f.reference.floats(prefix + "loss")[0]
        print("\(prefix) loss \(loss) vs transformers \(want) (|Δ| \(abs(loss - want))); forward+backward \(String(format: "%.2f", seconds)) s")
        XCTAssertEqual(loss, want, accuracy: 1e-4)

        func relativeL2(_ got: [Float], _ ref: [Float]) -> Double {
            var diff = 0.0, norm = 0.0
            for i in 0..<ref.count {
                let d = Double(got[i]) - Double(ref[i])
                diff += d * d
                norm += Double(ref[i]) * Double(ref[i])
            }
            return (diff / max(norm, 1e-300)).squareRoot()
        }
        var worst = 0.0, worstName = "", compared = 0
        var worstNorm = 0.0, worstNormName = ""
        for slot in grads.slots {
            let got = grads.buffer(slot)
            let norm = got.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let refNorm = Double(try f.reference.floats(prefix + "norm." + slot.name)[0])
            let normError = abs(norm - refNorm) / max(refNorm, 1e-30)
            if normError > worstNorm { worstNorm = normError; worstNormName = slot.name }
            XCTAssertLessThanOrEqual(normError, 1e-3, "\(prefix)\(slot.name): ‖g‖ \(norm) vs \(refNorm)")
            guard f.reference.tensorNames.contains(prefix + "grad." + slot.name) else { continue }
            let rel = relativeL2(Array(got), try f.reference.floats(prefix + "grad." + slot.name))
            compared += 1
            if rel > worst { worst = rel; worstName = slot.name }
            XCTAssertLessThanOrEqual(rel, 1e-3, "\(prefix)\(slot.name): relative L2 \(rel)")
        }
        let C = model.config.hiddenSize
        let rows = try f.reference.floats(prefix + "embed_rows").map { Int($0) }
        let e = grads.buffer(grads.slot("model.embed_tokens.weight")!)
        let embedding = relativeL2(rows.flatMap { r in Array(e[(r * C)..<((r + 1) * C)]) }, try f.reference.floats(prefix + "embed_grad"))
        XCTAssertLessThanOrEqual(embedding, 1e-3, "\(prefix) embedding rows: relative L2 \(embedding)")
        print("\(prefix) gradients: \(compared) tensors in full, worst relative L2 \(worst) (\(worstName)); embedding on \(rows.count) rows "
              + "\(embedding); norms of all \(grads.slots.count) tensors within \(worstNorm) (\(worstNormName))")
        XCTAssertGreaterThan(compared, 40, "the reference should hold every norm and two whole layers")
    }
}
