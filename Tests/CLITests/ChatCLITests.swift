// Chat data through the CLI on a tiny Qwen3 folder with a ChatML template (Tests/Fixtures/tiny-qwen3-bpe
// + bpe-qwen2 + chat-templates/chatml-generation.jinja): `tokenize --chat` prints transformers'
// apply_chat_template ids line for line (tools/reference/reference_chat_loss.py), a malformed conversation
// stops with its file and line, MeZO and AdamW train a chat task given by --task-objective chat,
// and both exports keep the chat template.

import Foundation
import TestSupport
import XCTest

final class ChatCLITests: XCTestCase {
    func chatFolder() throws -> TemporaryFolder {
        let folder = try assemble(model: "tiny-qwen3-bpe", vocabulary: "bpe-qwen2")
        try FileManager.default.copyItem(atPath: Repo.fixture("chat-templates/chatml-generation.jinja"),
                                         toPath: folder.file("chat_template.jinja").path)
        return folder
    }

    func testTokenizeChatPrintsTransformersIDs() throws {
        let model = try chatFolder()
        let conversations = Repo.fixture("tiny-chat/conversations.jsonl")
        for (flags, reference) in [([], "ids.jsonl"), (["--add-generation-prompt"], "ids-generation-prompt.jsonl")] {
            let result = try CLI.run(["tokenize", "--model", model.path, "--chat", conversations, "--json"] + flags)
            XCTAssertEqual(result.status, 0, result.summary)
            XCTAssertEqual(result.stdout, try String(contentsOfFile: Repo.fixture("tiny-chat/" + reference), encoding: .utf8),
                           "tokenize --chat \(flags) differs from apply_chat_template\n\(result.summary)")
        }
    }

    func testMalformedConversationNamesFileAndLine() throws {
        let model = try chatFolder()
        let data = try TemporaryFolder("chat-bad")
        removeAtTearDown(data.remove)
        try data.write("bad.jsonl", #"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#
                       + "\n" + #"{"messages": [{"role": "bot", "content": "x"}]}"# + "\n")
        let result = try CLI.run(["tokenize", "--model", model.path, "--chat", data.file("bad.jsonl").path, "--json"])
        XCTAssertNotEqual(result.status, 0, result.summary)
        XCTAssertTrue(result.stderr.contains("bad.jsonl:2: message 1 has an unknown role 'bot'"), result.summary)
        // A base folder without a chat template says so.
        let base = try assemble(model: "tiny-qwen3-bpe", vocabulary: "bpe-qwen2")
        let none = try CLI.run(["tokenize", "--model", base.path, "--chat", Repo.fixture("tiny-chat/conversations.jsonl")])
        XCTAssertNotEqual(none.status, 0, none.summary)
        XCTAssertTrue(none.stderr.contains("no chat template"), none.summary)
    }

    func testChatTaskTrainsWithMeZOAndAdamWAndExportsKeepTheTemplate() throws {
        let model = try chatFolder()
        let data = try TemporaryFolder("chat-data"), runs = try TemporaryFolder("chat-runs")
        removeAtTearDown(data.remove, runs.remove)
        let conversations = try String(contentsOfFile: Repo.fixture("tiny-chat/conversations.jsonl"), encoding: .utf8)
        try data.write("train.jsonl", conversations)
        try data.write("dev.jsonl", conversations)
        let common = ["--task-objective", "chat", "--data", data.path, "--max-new-tokens", "4"]
        for optimizer in ["mezo", "adamw"] {
            let run = runs.path + "/" + optimizer
            let trained = try CLI.run(["train", "--model", model.path] + common
                                      + ["--optimizer", optimizer, "--steps", "2", "--batch-size", "2", "--train-examples", "6", "--lr", "1e-3",
                                         "--eval-every", "2", "--out", run, "--json"])
            guard let summary = singleJSONObject(trained) else { return }
            XCTAssertEqual(summary["steps"] as? Int, 2, trained.summary)
            let evaluated = try CLI.run(["eval", "--model", model.path, "--run", run, "--json"])
            XCTAssertEqual(singleJSONObject(evaluated)?["n"] as? Int, 6, evaluated.summary)
        }
        let template = try String(contentsOf: model.file("chat_template.jinja"), encoding: .utf8)
        let folder = runs.path + "/hf", gguf = runs.path + "/model.gguf"
        let hf = try CLI.run(["export", "--model", model.path, "--run", runs.path + "/adamw", "--out", folder])
        XCTAssertEqual(hf.status, 0, hf.summary)
        XCTAssertEqual(try String(contentsOfFile: folder + "/chat_template.jinja", encoding: .utf8), template)
        let file = try CLI.run(["export", "--model", model.path, "--run", runs.path + "/mezo", "--format", "gguf", "--out", gguf])
        XCTAssertEqual(file.status, 0, file.summary)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: gguf))
        XCTAssertNotNil(bytes.range(of: Data("tokenizer.chat_template".utf8)), "no tokenizer.chat_template key in the GGUF")
        XCTAssertNotNil(bytes.range(of: Data(template.utf8)), "the GGUF's chat template is not the folder's")
    }

    func testPromptChatPosesTextAsAUserMessage() throws {
        let model = try chatFolder()
        let result = try CLI.run(["prompt", "--model", model.path, "--chat", "--system", "Be brief.", "a great movie", "--max-new-tokens", "3", "--json"])
        guard let object = singleJSONObject(result) else { return }
        XCTAssertLessThanOrEqual((object["tokens"] as? [Int])?.count ?? 99, 3, result.summary)
        let scored = try CLI.run(["prompt", "--model", model.path, "--chat", "a great movie", "--candidates", "positive", "negative", "--json"])
        XCTAssertEqual((singleJSONObject(scored)?["candidates"] as? [Any])?.count, 2, scored.summary)
        let refused = try CLI.run(["prompt", "--model", model.path, "--system", "x", "a great movie"])
        XCTAssertNotEqual(refused.status, 0, refused.summary)
        XCTAssertTrue(refused.stderr.contains("--system goes with --chat"), refused.summary)
    }
}
