import ChatTemplates
import Foundation
import Models
import Tasks
import Tensors
import Tokenizers
@testable import Training
import Weights
import TestSupport
import XCTest

/// The chat task's loss and gradient against transformers on a tiny model
/// (tools/reference/reference_chat_loss.py → Tests/Fixtures/tiny-chat): six conversations rendered by a
/// ChatML template that marks the answers with transformers' `{% generation %}`, the labels made
/// by `apply_chat_template(…, return_assistant_tokens_mask=True)`, the loss by the model's
/// `labels=` (mean over the labelled tokens). Ours finds the answers without the markers (the
/// generation prompt, then the answer), so equal ids and labels show the two maskings agree.
/// Loss within 1e-4, every parameter's gradient within relative L2 1e-3, for the final answer and
/// for every answer (`train_on: all_assistant`).
final class ChatLossGradientTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    struct Fixture {
        let model: DecoderModel
        let task: ChatTask
        let examples: [LabeledExample]
        let reference: SafeTensorsFile
    }

    func fixture(trainOn: ChatEncoder.TrainOn) throws -> Fixture {
        let folder = NSTemporaryDirectory() + "zofinetune-chat-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
        for (source, file, name) in [("tiny-qwen3-bpe", "config.json", "config.json"), ("tiny-qwen3-bpe", "model.safetensors", "model.safetensors"),
                                     ("bpe-qwen2", "tokenizer.json", "tokenizer.json"), ("bpe-qwen2", "tokenizer_config.json", "tokenizer_config.json"),
                                     ("chat-templates", "chatml-generation.jinja", ModelChatTemplate.jinjaFileName)] {
            try FileManager.default.copyItem(atPath: Repo.fixture(source) + "/" + file, toPath: folder + "/" + name)
        }
        let model = try ModelLoader.loadDecoder(directory: folder, maxPositions: 128)
        let tokenizer = try TokenizerLoader.load(modelDirectory: folder)
        var spec = TaskSpec(template: "", objective: .chat)
        spec.trainOn = trainOn.rawValue
        try spec.validate(path: "test")
        let task = ChatTask(model: model, tokenizer: tokenizer, prompt: try TaskPrompt(spec: spec, origin: "test"),
                            chatTemplate: try ModelChatTemplate.load(modelDirectory: folder))
        let examples = try TaskExamples.load(path: Repo.fixture("tiny-chat/conversations.jsonl"), spec: spec)
        return Fixture(model: model, task: task, examples: examples,
                       reference: try SafeTensorsFile(path: Repo.fixture("tiny-chat/reference.safetensors")))
    }

    func testFinalAnswer() throws { try check(.finalAssistant, prefix: "final.") }
    func testEveryAnswer() throws { try check(.allAssistant, prefix: "all.") }

    func check(_ trainOn: ChatEncoder.TrainOn, prefix: String) throws {
        let f = try fixture(trainOn: trainOn)
        XCTAssertEqual(f.examples.count, 6)
        let inputs = try f.task.inputs(f.examples)
        // Ids and labels: each (prompt, answer) pair is a prefix of the conversation and its labelled span.
        for (k, input) in inputs.enumerated() {
            let ids = try f.reference.floats("\(prefix)ids_\(k)").map { Int32($0) }
            let labels = try f.reference.floats("\(prefix)labels_\(k)").map { Int32($0) }
            var ours = [Int32](repeating: -100, count: ids.count)
            for part in input.split(separator: ChatTask.endOfPair) {
                let (prompt, candidates) = ClassifyInput.decode(Array(part))
                let answer = candidates[0][0]
                XCTAssertEqual(Array(ids.prefix(prompt.count + answer.count)), prompt + answer, "conversation \(k)")
                for (i, t) in answer.enumerated() { ours[prompt.count + i] = t }
            }
            XCTAssertEqual(ours, labels, "conversation \(k): labels")
        }
        let want = try f.reference.floats(prefix + "loss")[0]
        // MeZO's forward-only loss.
        let longest = inputs.reduce(0) { $0 + $1.count }
        try f.task.prepare(maxTokens: longest)
        let forward = f.task.loss(inputs, labels: f.examples.map(\.label))
        XCTAssertEqual(forward, want, accuracy: 1e-4, "forward loss")
        // Backprop's loss and gradient.
        let grads = DecoderModel.makeArena(config: f.model.config)
        let loss = f.task.makeBackprop(maxTokens: longest)(inputs, f.examples.map(\.label), grads)
        XCTAssertEqual(loss, want, accuracy: 1e-4, "backprop loss")
        var worst = 0.0, compared = 0
        for slot in grads.slots {
            let name = prefix + "grad." + slot.name
            guard f.reference.tensorNames.contains(name) else { continue }
            let ref = try f.reference.floats(name), got = Array(grads.buffer(slot))
            var diff = 0.0, norm = 0.0
            for i in ref.indices {
                diff += Double(got[i] - ref[i]) * Double(got[i] - ref[i])
                norm += Double(ref[i]) * Double(ref[i])
            }
            let rel = (diff / max(norm, 1e-300)).squareRoot()
            worst = max(worst, rel)
            compared += 1
            XCTAssertLessThanOrEqual(rel, 1e-3, "\(slot.name): relative L2 \(rel)")
        }
        XCTAssertEqual(compared, grads.slots.count, "every parameter compared")
        print("chat \(prefix) loss \(forward) (forward) / \(loss) (backprop) vs transformers \(want); \(compared) gradients, worst relative L2 \(worst)")
    }
}
