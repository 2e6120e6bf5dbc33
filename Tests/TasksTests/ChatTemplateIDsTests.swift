import ChatTemplates
import Foundation
import Tasks
import TestSupport
import Tokenizers
import XCTest

/// Token ids of rendered conversations against transformers' `apply_chat_template(…, tokenize=True)`
/// (tools/reference/reference_chat_ids.py, run by tools/test.sh): 200 seeded conversations per model (system
/// prompts or none, one to four exchanges, empty and non-ASCII contents), each whole and with the
/// generation prompt in place of its final answer.
final class ChatTemplateIDsTests: XCTestCase {
    /// Compares every conversation of a reference dump; `template` replaces the folder's own.
    func check(model: String, reference: String, template: String? = nil, directory given: String? = nil) throws {
        let directory = given ?? Repo.root + "/models/" + model
        guard FileManager.default.fileExists(atPath: directory + "/tokenizer_config.json") else {
            try MissingResource.report("\(directory) missing (an instruct folder fetched by the set-up)")
        }
        let path = try Repo.requireReference(reference)
        let dump = try TemplateJSON.parse(String(contentsOfFile: path, encoding: .utf8))
        guard case .dict(let d) = dump, case .list(let chats)? = d["conversations"], case .list(let whole)? = d["ids"],
              case .list(let prompted)? = d["ids_generation_prompt"] else { return XCTFail("\(path): unexpected layout") }
        let tokenizer = try TokenizerLoader.load(modelDirectory: directory)
        var chatTemplate = try ModelChatTemplate.load(modelDirectory: directory, requireTemplate: template == nil)
        if let template {
            let file = Repo.fixture("chat-templates/" + template)
            chatTemplate = ModelChatTemplate(template: try ChatTemplate(source: try String(contentsOfFile: file, encoding: .utf8), origin: file),
                                             file: file, specialTokens: chatTemplate.specialTokens)
        }
        let encoder = ChatEncoder(chatTemplate: chatTemplate, tokenizer: tokenizer)
        func ints(_ v: TemplateValue) -> [Int32] {
            guard case .list(let l) = v else { return [] }
            return l.compactMap { if case .int(let i) = $0 { return Int32(i) } else { return nil } }
        }
        XCTAssertGreaterThanOrEqual(chats.count, 200)
        var mismatches = 0
        for (i, chat) in chats.enumerated() {
            guard case .list(let messages) = chat else { return XCTFail("conversation \(i) is not a list") }
            let conversation = ChatConversation(messages: messages, roles: messages.map { m in
                if case .dict(let d) = m, case .string(let r)? = d["role"] { return r } else { return "" }
            }, source: "\(reference):\(i + 1)")
            let ours = try encoder.ids(conversation, addGenerationPrompt: false)
            let oursPrompted = try encoder.ids(conversation, addGenerationPrompt: true)
            if ours != ints(whole[i]) || oursPrompted != ints(prompted[i]) {
                mismatches += 1
                if mismatches <= 3 {
                    XCTFail("\(model) conversation \(i): ours \(ours.count)/\(oursPrompted.count) tokens, transformers \(ints(whole[i]).count)/\(ints(prompted[i]).count)")
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "\(model): \(mismatches) of \(chats.count) conversations differ")
    }

    func testSmolLM2Instruct() throws {
        try check(model: "smollm2-135m-instruct", reference: "chat-smollm2-135m-instruct.json")
    }

    /// The real folder when it is here (tools/setup/fetch_instruct.py); CI fetches only SmolLM2 (the
    /// Qwen models are for benchmarks), so there the same Qwen2.5 template is rendered over the
    /// Qwen2-style BPE fixture's vocabulary (its split pattern, NFC and ChatML special tokens).
    func testQwen25CoderInstruct() throws {
        let real = Repo.root + "/models/qwen2.5-coder-0.5b-instruct"
        if FileManager.default.fileExists(atPath: real + "/tokenizer_config.json") {
            try check(model: "qwen2.5-coder-0.5b-instruct", reference: "chat-qwen2.5-coder-0.5b-instruct.json")
        } else {
            try check(model: "bpe-qwen2", reference: "chat-bpe-qwen2.json", template: "qwen2.5-instruct.jinja",
                      directory: Repo.fixture("bpe-qwen2"))
        }
    }

    /// Gemma-3-270M is the base model (no template of its own): rendered with the instruct
    /// template (Tests/Fixtures/chat-templates/gemma3-it.jinja), its `<start_of_turn>` control
    /// pieces written in the text must become their ids, which SentencePiece alone never produces.
    func testGemma3WithTheInstructTemplate() throws {
        try check(model: "gemma-3-270m", reference: "chat-gemma-3-270m.json", template: "gemma3-it.jinja")
    }
}
