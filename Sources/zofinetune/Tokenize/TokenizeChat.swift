// `zofinetune tokenize --model DIR --chat FILE.jsonl [--add-generation-prompt] [--json]`: the ids
// of each conversation as the model's chat template renders it, equal to transformers'
// `apply_chat_template(messages, tokenize=True, add_generation_prompt=…)`.

import Foundation
import Tasks
import Tokenizers

extension TokenizeCommand {
    func tokenizeChat(_ path: String) throws {
        let tokenizer = try TokenizerLoader.load(modelDirectory: model)
        let encoder = ChatEncoder(chatTemplate: try ModelChatTemplate.load(modelDirectory: model), tokenizer: tokenizer)
        let conversations = try ChatConversations.read(path: path, requireAssistant: false)
        for conversation in conversations {
            let ids = try encoder.ids(conversation, addGenerationPrompt: addGenerationPrompt)
            if json {
                // One line per conversation (JSON Lines), in the file's order.
                print("{\"ids\":[" + ids.map(String.init).joined(separator: ",") + "]}")
            } else {
                let text = try encoder.render(addGenerationPrompt && conversation.roles.last == "assistant"
                                              ? Array(conversation.messages.dropLast()) : conversation.messages,
                                              addGenerationPrompt: addGenerationPrompt, source: conversation.source)
                print("== \(conversation.source): \(ids.count) tokens")
                print(text)
                print(ids.map(String.init).joined(separator: " "))
            }
        }
        log("\(conversations.count) conversation\(conversations.count == 1 ? "" : "s") rendered with \(encoder.chatTemplate.file)")
    }
}
