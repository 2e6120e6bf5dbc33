// `zofinetune tokenize --model DIR "TEXT" [--json]`: show how a model's tokenizer splits text.
// Useful to check prompt templates and label words (" great" must be one token for the
// candidate-logit trick) without loading any weights.

import ArgumentParser
import Foundation
import Training
import Tokenizers

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids and pieces a model's tokenizer produces for TEXT.",
        discussion: """
            Loads the folder's tokenizer only (tokenizer.model, vocab.txt or a byte-level BPE \
            tokenizer.json; no weights). No BOS/EOS is added: the ids are exactly \
            what the training and evaluation code prepends them to.
            """)

    @Option(name: .long, help: ArgumentHelp("Model directory holding tokenizer.model, vocab.txt or tokenizer.json.", valueName: "dir"))
    var model: String

    @Argument(help: "Text to tokenize. Quote it to keep leading spaces (e.g. \" great\").")
    var text: String?

    @Option(name: .long, help: ArgumentHelp("Instead of TEXT: time tokenising the text column (sentence/content/text) of every row of a TSV file.", valueName: "file"))
    var file: String?

    @Option(name: .long, help: ArgumentHelp("Instead of TEXT: a messages JSONL file ({\"messages\": [{\"role\", \"content\"}, …]} per line), rendered by the model's chat template; prints each conversation's ids.", valueName: "file.jsonl"))
    var chat: String?

    @Flag(name: .long, help: "With --chat: leave out each conversation's final assistant turn and end with the template's generation prompt (what a model is asked to continue).")
    var addGenerationPrompt = false

    @Option(name: .long, help: "With --file: threads to encode on (default 1).")
    var threads: Int = 1

    func validate() throws {
        guard [text != nil, file != nil, chat != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give one of TEXT, --file FILE or --chat FILE.jsonl")
        }
        if addGenerationPrompt && chat == nil { throw ValidationError("--add-generation-prompt goes with --chat") }
        try SettingRules.threads.validate(threads)
    }

    @Flag(name: .long, help: "Print one JSON object {\"ids\":[...],\"pieces\":[...]} on stdout (with --chat: one line {\"ids\":[...]} per conversation).")
    var json = false

    func run() throws {
        if let file { return try timeFile(file) }
        if let chat { return try tokenizeChat(chat) }
        let tokenizer = try TokenizerLoader.load(modelDirectory: model)
        let ids = try tokenizer.encode(text ?? "")
        let pieces = try ids.map { id -> String in
            guard let piece = tokenizer.piece(for: id) else {
                throw ValidationError("tokenizer in \(model) produced id \(id) outside its vocabulary")
            }
            return piece
        }
        if json {
            print(try Self.json(ids: ids, pieces: pieces))
        } else {
            print(Self.table(ids: ids, pieces: pieces))
        }
    }

    /// `{"ids":[...],"pieces":[...]}` on one line; pieces as raw UTF-8 (JSON-escaped where needed).
    static func json(ids: [Int32], pieces: [String]) throws -> String {
        struct Output: Encodable {
            let ids: [Int32]
            let pieces: [String]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(Output(ids: ids, pieces: pieces)), as: UTF8.self)
    }

    /// A two-column table, ids right-aligned, pieces with control characters made visible.
    static func table(ids: [Int32], pieces: [String]) -> String {
        let width = max(2, ids.map { String($0).count }.max() ?? 0)
        var lines = [String(repeating: " ", count: width - 2) + "id  piece"]
        for (id, piece) in zip(ids, pieces) {
            let number = String(id)
            lines.append(String(repeating: " ", count: width - number.count) + number + "  " + visible(piece))
        }
        lines.append("\(ids.count) token\(ids.count == 1 ? "" : "s")")
        return lines.joined(separator: "\n")
    }

    /// Escapes newlines, tabs and other control characters so each piece stays on its row.
    static func visible(_ piece: String) -> String {
        var result = ""
        for scalar in piece.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where scalar.properties.generalCategory == .control:
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
