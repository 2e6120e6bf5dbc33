// Messages JSONL, the format of the hosted fine-tuning services and TRL's SFT trainer: one JSON
// object per line, `{"messages": [{"role": "system"|"user"|"assistant", "content": "…"}, …]}`.
// Every malformed line is an error naming the file and line; the messages keep their JSON form
// (key order and any extra keys) because the chat template reads them as they are.

import ChatTemplates
import Foundation

/// One conversation of a messages file.
public struct ChatConversation: Sendable {
    /// Each message as the template sees it (a dict with at least `role` and a string `content`).
    public let messages: [TemplateValue]
    public let roles: [String]
    /// "file:line", its id in errors and predictions.
    public let source: String
    /// The line as read.
    public let json: String

    public init(messages: [TemplateValue], roles: [String], source: String, json: String = "") {
        (self.messages, self.roles, self.source, self.json) = (messages, roles, source, json)
    }

    /// Positions of the assistant's messages.
    public var assistantTurns: [Int] { roles.indices.filter { roles[$0] == "assistant" } }

    /// The content of message `i` (checked to be a string when read).
    public func content(_ i: Int) -> String {
        if case .dict(let d) = messages[i], case .string(let s)? = d["content"] { return s }
        return ""
    }
}

public enum ChatConversations {
    public static let roles: Set<String> = ["system", "user", "assistant", "tool"]

    /// Reads a messages JSONL file. With `requireAssistant`, a conversation without an assistant
    /// turn (nothing to train on or to compare with) is an error too.
    public static func read(path: String, requireAssistant: Bool) throws -> [ChatConversation] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TaskDataError(.missingFile, file: path, "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TaskDataError(.invalidUTF8, file: path, "not valid UTF-8")
        }
        let name = (path as NSString).lastPathComponent
        var out: [ChatConversation] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = index + 1
            let trimmed = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let parsed = try parse(line: trimmed, path: path, line: line, requireAssistant: requireAssistant)
            out.append(ChatConversation(messages: parsed.messages, roles: parsed.roles, source: "\(name):\(line)", json: trimmed))
        }
        return out
    }

    /// One line's conversation, checked.
    static func parse(line trimmed: String, path: String, line: Int, requireAssistant: Bool) throws -> (messages: [TemplateValue], roles: [String]) {
        func fail(_ message: String) -> TaskDataError { TaskDataError(.badMessages, file: path, line: line, message) }
        let object: TemplateValue
        do { object = try TemplateJSON.parse(trimmed) } catch { throw fail("not valid JSON (\(error))") }
        guard case .dict(let record) = object else { throw fail("each line must be a JSON object {\"messages\": […]}") }
        guard let messagesValue = record["messages"] else {
            throw fail("no \"messages\" key (keys: \(record.keys.joined(separator: ", ")))")
        }
        guard case .list(let messages) = messagesValue, !messages.isEmpty else {
            throw fail("\"messages\" must be a non-empty list of {\"role\", \"content\"} objects")
        }
        var roles: [String] = []
        for (i, message) in messages.enumerated() {
            guard case .dict(let m) = message else { throw fail("message \(i + 1) is not an object") }
            guard let role = m["role"] else { throw fail("message \(i + 1) has no \"role\"") }
            guard case .string(let r) = role, Self.roles.contains(r) else {
                throw fail("message \(i + 1) has an unknown role \(role.pythonRepr) (known: \(Self.roles.sorted().joined(separator: ", ")))")
            }
            guard let content = m["content"] else { throw fail("message \(i + 1) (\(r)) has no \"content\"") }
            guard case .string = content else {
                throw fail("message \(i + 1) (\(r)): \"content\" must be a string, found \(content.pythonRepr.prefix(40))")
            }
            roles.append(r)
        }
        if requireAssistant && !roles.contains("assistant") {
            throw fail("the conversation has no assistant turn (nothing to train on)")
        }
        return (messages, roles)
    }
}
