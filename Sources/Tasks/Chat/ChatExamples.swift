// Chat conversations as the examples the training loop batches: one `LabeledExample` per
// conversation, its JSON line kept whole in the `messages` field (the chat task re-reads it with
// key order intact) and its final assistant answer as the gold target that evaluation compares.

import ChatTemplates
import Foundation

public enum ChatExamples {
    /// The field of `LabeledExample.fields` holding the conversation's JSON line.
    public static let messagesField = "messages"

    public static func load(path: String, requireAssistant: Bool = true) throws -> [LabeledExample] {
        try ChatConversations.read(path: path, requireAssistant: requireAssistant).map { c in
            let final = c.assistantTurns.last
            let lastUser = c.roles.lastIndex(of: "user").map { c.content($0) } ?? ""
            return LabeledExample(text: lastUser, label: -1, fields: [messagesField: .text(c.json)], source: c.source,
                                  targets: final.map { [c.content($0)] } ?? [])
        }
    }

    /// The conversation an example holds (read back from its JSON line).
    public static func conversation(of example: LabeledExample) throws -> ChatConversation {
        guard let json = example.fields[messagesField]?.text else {
            throw TaskDataError(.badMessages, file: example.source ?? "chat data", "not a chat example (no messages)")
        }
        let (file, line) = TaskPrompt.split(example.source)
        let parsed = try ChatConversations.parse(line: json, path: file ?? "chat data", line: line ?? 0, requireAssistant: false)
        return ChatConversation(messages: parsed.messages, roles: parsed.roles, source: example.source ?? "chat data", json: json)
    }
}
