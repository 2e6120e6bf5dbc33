import ChatTemplates
import Foundation
import Tasks
import XCTest

/// Messages JSONL: every malformed conversation is an error naming the file and the line; a chat
/// task file refuses the fields of the other objectives.
final class ChatConversationsTests: XCTestCase {
    func write(_ lines: [String]) throws -> String {
        let path = NSTemporaryDirectory() + "chat-\(UUID().uuidString).jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    let good = #"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#

    func failure(_ bad: String, requireAssistant: Bool = true) throws -> TaskDataError? {
        let path = try write([good, "", bad])
        do {
            _ = try ChatConversations.read(path: path, requireAssistant: requireAssistant)
            return nil
        } catch let e as TaskDataError {
            XCTAssertEqual(e.file, path)
            XCTAssertEqual(e.line, 3, "the bad conversation is on line 3 (line 2 is blank)")
            XCTAssertTrue(e.description.hasPrefix("\(path):3: "), e.description)
            return e
        }
    }

    func testMalformedConversationsNameFileAndLine() throws {
        let cases: [(String, String)] = [
            (#"{"messages": [{"content": "no role"}, {"role": "assistant", "content": "a"}]}"#, "has no \"role\""),
            (#"{"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "a"}]}"#, "unknown role 'wizard'"),
            (#"{"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "a"}]}"#, "\"content\" must be a string"),
            (#"{"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}, {"role": "assistant", "content": "a"}]}"#,
             "\"content\" must be a string"),
            (#"{"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}"#, "has no \"content\""),
            (#"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}"#, "no assistant turn"),
            (#"{"messages": []}"#, "non-empty list"),
            (#"{"conversation": []}"#, "no \"messages\" key"),
            (#"["not", "an", "object"]"#, "JSON object"),
            (#"{"messages": [{"role": "user", "content": "unterminated}"#, "not valid JSON"),
        ]
        for (line, expected) in cases {
            let e = try failure(line)
            XCTAssertEqual(e?.kind, .badMessages, line)
            XCTAssertTrue(e?.message.contains(expected) ?? false, "\(line): \(e?.message ?? "no error")")
        }
    }

    func testTokenizingNeedsNoAssistantTurn() throws {
        XCTAssertNil(try failure(#"{"messages": [{"role": "user", "content": "only a question"}]}"#, requireAssistant: false))
    }

    func testMessagesKeepTheirKeyOrderAndExtraKeys() throws {
        let path = try write([#"{"messages": [{"role": "assistant", "content": "a", "tool_calls": [{"name": "f", "arguments": {"z": 1, "a": 2}}]}]}"#])
        let c = try ChatConversations.read(path: path, requireAssistant: true)[0]
        let template = try ChatTemplate(source: "{{ messages[0].tool_calls[0].arguments | tojson }}", origin: "t")
        XCTAssertEqual(try template.render(messages: c.messages, addGenerationPrompt: false), #"{"z": 1, "a": 2}"#)
        XCTAssertEqual(c.assistantTurns, [0])
    }

    func testChatTaskFilesRefuseOtherObjectivesFields() throws {
        func check(_ json: String, _ expected: String?) throws {
            do {
                let spec = try TaskSpec.parse(Data(json.utf8), path: "task.json")
                XCTAssertNil(expected, "\(json) should fail")
                XCTAssertEqual(spec.objective, .chat)
            } catch let e as TaskDataError {
                XCTAssertTrue(e.description.hasPrefix("task.json: "), e.description)
                XCTAssertTrue(e.message.contains(expected ?? "«no error expected»"), "\(json): \(e.message)")
            }
        }
        try check(#"{"objective": "chat"}"#, nil)
        try check(#"{"objective": "chat", "train_on": "all_assistant", "metric": "f1", "max_new_tokens": 8}"#, nil)
        try check(#"{"objective": "chat", "train_on": "everything"}"#, "train_on must be")
        try check(#"{"objective": "chat", "template": "{text}"}"#, "takes no \"template\"")
        try check(#"{"objective": "chat", "labels": {"a": "x", "b": "y"}, "label_column": "l"}"#, "takes no \"labels\"")
        try check(#"{"objective": "chat", "metric": "accuracy"}"#, "metric accuracy")
        try check(#"{"template": "{x}", "objective": "complete", "target_column": "y", "train_on": "all_assistant"}"#, "is for objective chat")
    }
}
