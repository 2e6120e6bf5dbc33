// Conversations to token ids through the model's own chat template, and the assistant's tokens
// in them. The ids are transformers' `apply_chat_template(messages, tokenize=True)`: the rendered
// text encoded with special tokens matched and nothing added (a `<bos>` only where the template
// writes `bos_token`).
//
// The assistant's tokens of turn i are found as TRL finds a completion: render the conversation
// up to turn i with the generation prompt (the prompt), then through turn i (prompt + answer);
// the answer is what the second adds to the first, in tokens (from the first token that differs:
// an answer starting with a newline can merge with the prompt's last one). The second must be a
// prefix of the whole conversation's ids, which holds for templates that render earlier turns the
// same whatever follows (SmolLM2, Qwen2.5, Gemma-3); a template that does not is refused naming
// the line.

import ChatTemplates
import Foundation
import Tokenizers

public final class ChatEncoder: @unchecked Sendable {
    // @unchecked: immutable after init; the tokenizer is thread-safe.
    public let chatTemplate: ModelChatTemplate
    public let encoder: SpecialTokenEncoder

    public init(chatTemplate: ModelChatTemplate, tokenizer: Tokenizer) {
        self.chatTemplate = chatTemplate
        encoder = SpecialTokenEncoder(tokenizer: tokenizer)
    }

    /// The template's text for `messages`; a template error is rethrown naming the conversation too.
    public func render(_ messages: [TemplateValue], addGenerationPrompt: Bool, source: String) throws -> String {
        do {
            return try chatTemplate.template.render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                                                    specialTokens: chatTemplate.specialTokens)
        } catch let e as TemplateError {
            let (file, line) = TaskPrompt.split(source)
            throw TaskDataError(.badMessages, file: file ?? source, line: line, "\(e)")
        }
    }

    public func ids(_ messages: [TemplateValue], addGenerationPrompt: Bool, source: String) throws -> [Int32] {
        try encoder.encode(try render(messages, addGenerationPrompt: addGenerationPrompt, source: source))
    }

    /// The ids `tokenize --chat` prints: the whole conversation, or with the generation prompt the
    /// conversation without its final assistant turn (as one does to ask the model for it).
    public func ids(_ conversation: ChatConversation, addGenerationPrompt: Bool) throws -> [Int32] {
        var messages = conversation.messages
        if addGenerationPrompt, conversation.roles.last == "assistant" { messages.removeLast() }
        return try ids(messages, addGenerationPrompt: addGenerationPrompt, source: conversation.source)
    }

    /// Which assistant turns carry the loss.
    public enum TrainOn: String, Codable, Sendable, CaseIterable {
        case finalAssistant = "final_assistant"
        case allAssistant = "all_assistant"
    }

    /// A conversation for training: its ids through the last trained turn, and the token ranges
    /// of the trained assistant answers (the labels; everything else is -100).
    public struct Encoded: Sendable, Equatable {
        public let ids: [Int32]
        public let answers: [Range<Int>]
    }

    public func encodeForTraining(_ conversation: ChatConversation, trainOn: TrainOn) throws -> Encoded {
        let turns = conversation.assistantTurns
        guard let last = turns.last else {
            let (file, line) = TaskPrompt.split(conversation.source)
            throw TaskDataError(.badMessages, file: file ?? conversation.source, line: line,
                                "the conversation has no assistant turn (nothing to train on)")
        }
        let trained = trainOn == .finalAssistant ? [last] : turns
        let all = try ids(Array(conversation.messages[...last]), addGenerationPrompt: false, source: conversation.source)
        var answers: [Range<Int>] = []
        for turn in trained {
            let prompt = try ids(Array(conversation.messages[..<turn]), addGenerationPrompt: true, source: conversation.source)
            let through = try ids(Array(conversation.messages[...turn]), addGenerationPrompt: false, source: conversation.source)
            // Where the answer's tokens start: after the prompt's, or at the first token that
            // differs when the answer's first characters merge with the prompt's last ones
            // (ChatML's "assistant\n" before an answer starting "\n" gives one "\n\n" token):
            // that token holds the answer's first character, which is where transformers'
            // assistant mask starts too.
            let start = zip(prompt, through).prefix { $0 == $1 }.count
            guard through.count > start, start >= prompt.count - 2, all.starts(with: through) else {
                let (file, line) = TaskPrompt.split(conversation.source)
                throw TaskDataError(.badMessages, file: file ?? conversation.source, line: line,
                    "the chat template (\(chatTemplate.file)) does not render assistant turn \(turn + 1) as the generation prompt "
                    + "followed by the answer, with earlier turns unchanged: its tokens cannot be told apart")
            }
            answers.append(start..<through.count)
        }
        return Encoded(ids: Array(all[..<answers.last!.upperBound]), answers: answers)
    }

    /// Tokens that end a reply: <eos>, and the first special token the template writes after an
    /// answer (`<|im_end|>`, `<end_of_turn>`), found by rendering a one-exchange conversation.
    public func endOfTurnTokens() throws -> Set<Int32> {
        var stop = Set<Int32>()
        if let eos = encoder.tokenizer.eosID { stop.insert(eos) }
        func message(_ role: String, _ content: String) -> TemplateValue {
            .dict(TemplateDict([("role", .string(role)), ("content", .string(content))]))
        }
        let probe = ChatConversation(messages: [message("user", "a"), message("assistant", "b")], roles: ["user", "assistant"],
                                     source: "end-of-turn probe")
        let encoded = try encodeForTraining(probe, trainOn: .finalAssistant)
        if let id = encoded.ids[encoded.answers[0]].first(where: encoder.isSpecial) { stop.insert(id) }
        return stop
    }
}
