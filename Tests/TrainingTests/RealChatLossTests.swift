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

/// The chat loss on a real instruct model, SmolLM2-135M-Instruct with its own chat template,
/// against transformers (tools/reference/reference_chat_loss.py MODEL OUT, run by tools/test.sh): four
/// conversations with every answer trained, labels from transformers' assistant mask (through an
/// equivalent ChatML template with `{% generation %}` markers; the script checks the two render
/// the same text). Loss within 1e-4; the gradient of every tensor of the first and last layers
/// and of the final norm within relative L2 1e-3, and the norm of every gradient tensor within 1e-3.
final class RealChatLossTests: XCTestCase {
    override class func setUp() { try! BLAS.load() }

    func testSmolLM2ChatLossAndGradientMatchTransformers() throws {
        let directory = Repo.root + "/models/smollm2-135m-instruct"
        guard FileManager.default.fileExists(atPath: directory + "/model.safetensors") else {
            try MissingResource.report("\(directory) missing (an instruct folder fetched by the set-up)")
        }
        let reference = try SafeTensorsFile(path: try Repo.requireReference("chat-smollm2-135m-instruct-loss.safetensors"))
        guard case .list(let chats) = try TemplateJSON.parse(reference.metadata["conversations"] ?? "") else {
            return XCTFail("no conversations in the reference's metadata")
        }
        let data = NSTemporaryDirectory() + "zofinetune-real-chat-\(UUID().uuidString).jsonl"
        let lines = chats.map { chat -> String in
            let record = TemplateValue.dict(TemplateDict([("messages", chat)]))
            return (try? TemplateJSON.dumps(record, indent: nil, sortKeys: false)) ?? ""
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: data, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: data) }

        let model = try ModelLoader.loadDecoder(directory: directory, maxPositions: 512)
        let tokenizer = try TokenizerLoader.load(modelDirectory: directory)
        var spec = TaskSpec(template: "", objective: .chat)
        spec.trainOn = ChatEncoder.TrainOn.allAssistant.rawValue
        let task = ChatTask(model: model, tokenizer: tokenizer, prompt: try TaskPrompt(spec: spec, origin: "test"),
                            chatTemplate: try ModelChatTemplate.load(modelDirectory: directory))
        let examples = try TaskExamples.load(path: data, spec: spec)
        let inputs = try task.inputs(examples)
        for (k, input) in inputs.enumerated() {
            let ids = try reference.floats("ids_\(k)").map { Int32($0) }
            let labels = try reference.floats("labels_\(k)").map { Int32($0) }
            var ours = [Int32](repeating: -100, count: ids.count)
            for part in input.split(separator: ChatTask.endOfPair) {
                let (prompt, candidates) = ClassifyInput.decode(Array(part))
                XCTAssertEqual(Array(ids.prefix(prompt.count + candidates[0][0].count)), prompt + candidates[0][0], "conversation \(k)")
                for (i, t) in candidates[0][0].enumerated() { ours[prompt.count + i] = t }
            }
            XCTAssertEqual(ours, labels, "conversation \(k): labels")
        }
        let want = try reference.floats("loss")[0]
        let tokens = inputs.reduce(0) { $0 + $1.count }
        try task.prepare(maxTokens: tokens)
        let forward = task.loss(inputs, labels: examples.map(\.label))
        XCTAssertEqual(forward, want, accuracy: 1e-4, "forward-only loss")
        let grads = DecoderModel.makeArena(config: model.config)
        let loss = task.makeBackprop(maxTokens: tokens)(inputs, examples.map(\.label), grads)
        XCTAssertEqual(loss, want, accuracy: 1e-4, "backprop loss")
        var worst = 0.0, worstNorm = 0.0, full = 0
        for slot in grads.slots {
            let got = grads.buffer(slot)
            let norm = got.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let refNorm = Double(try reference.floats("norm." + slot.name)[0])
            let normError = abs(norm - refNorm) / max(refNorm, 1e-30)
            worstNorm = max(worstNorm, normError)
            XCTAssertLessThanOrEqual(normError, 1e-3, "\(slot.name): ‖g‖ \(norm) vs \(refNorm)")
            guard reference.tensorNames.contains("grad." + slot.name) else { continue }
            let ref = try reference.floats("grad." + slot.name)
            var diff = 0.0, sq = 0.0
            for i in ref.indices {
                diff += (Double(got[i]) - Double(ref[i])) * (Double(got[i]) - Double(ref[i]))
                sq += Double(ref[i]) * Double(ref[i])
            }
            let rel = (diff / max(sq, 1e-300)).squareRoot()
            worst = max(worst, rel)
            full += 1
            XCTAssertLessThanOrEqual(rel, 1e-3, "\(slot.name): relative L2 \(rel)")
        }
        XCTAssertGreaterThanOrEqual(full, 19, "two whole layers and the final norm")
        print("SmolLM2 chat loss \(forward) (forward) / \(loss) (backprop) vs transformers \(want); \(full) gradients in full, "
              + "worst relative L2 \(worst); norms of all \(grads.slots.count) within \(worstNorm)")
    }
}
