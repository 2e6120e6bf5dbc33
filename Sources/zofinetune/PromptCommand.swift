import ArgumentParser
import ChatTemplates
import Foundation
import Tasks
import Training

struct PromptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prompt",
        abstract: "Score candidate continuations of a prompt, or continue it greedily.",
        discussion: """
            The prompt is <bos> + TEXT. With --candidates, prints each candidate's log-probability \
            (normalised over the vocabulary, summed over its tokens); candidates usually start with \
            a space: --candidates " great" " terrible". Without candidates, generates greedily.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var runOptions: RunOptions

    @Argument(help: "Prompt text (no <bos>: it is added).")
    var text: String

    @Option(name: .long, parsing: .upToNextOption, help: "Continuations to score.")
    var candidates: [String] = []

    @Flag(name: .long, help: "Pose TEXT as a user's message through the model's chat template (with its generation prompt) and stop at its end of turn.")
    var chat = false

    @Option(name: .long, help: ArgumentHelp("With --chat: a system message before TEXT.", valueName: "text"))
    var system: String?

    @Option(name: .long, help: "Tokens to generate when no candidates are given.")
    var maxNewTokens = 32

    @Flag(name: .long, help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        try SettingRules.maxNewTokens.validate(maxNewTokens)
        if candidates.contains(where: \.isEmpty) { throw ValidationError("a candidate is empty") }
        if system != nil && !chat { throw ValidationError("--system goes with --chat") }
    }

    func run() throws {
        let (model, tokenizer, _) = try modelOptions.load(run: runOptions)
        let chatEncoder = chat ? ChatEncoder(chatTemplate: try ModelChatTemplate.load(modelDirectory: modelOptions.model), tokenizer: tokenizer) : nil
        let prompt = try chatEncoder.map { try chatPrompt($0) } ?? (tokenizer.bosID.map { [$0] } ?? []) + (try tokenizer.encode(text))
        // The model's kernels do not check bounds (-Ounchecked), so lengths are checked here.
        let positions = model.maxPositions
        guard !prompt.isEmpty else {
            throw InputError("the prompt is empty and \(modelOptions.model)'s tokenizer has no <bos> to start it")
        }
        if !candidates.isEmpty {
            let ids = try candidates.map { try tokenizer.encode($0) }
            if let index = ids.firstIndex(where: \.isEmpty) {
                throw InputError("candidate \"\(candidates[index])\" encodes to no tokens")
            }
            if let longest = ids.max(by: { $0.count < $1.count }), prompt.count + longest.count > positions {
                throw InputError("the prompt (\(prompt.count) tokens with <bos>) and its longest candidate "
                                      + "(\(longest.count) tokens) exceed the model's \(positions) positions")
            }
            let scores = model.continuationLogProbs(prompt: prompt, continuations: ids)
            if json {
                try printJSON(["candidates": zip(candidates, scores).map { ["text": $0, "logprob": Double($1)] }])
            } else {
                for (c, s) in zip(candidates, scores) { print(String(format: "%10.4f  %@", s, "\"\(c)\"")) }
            }
            return
        }
        guard prompt.count < positions else {
            throw InputError("the prompt has \(prompt.count) tokens with <bos>, leaving no room to generate "
                                  + "within the model's \(positions) positions")
        }
        var stop = Set<Int32>()
        if let eos = tokenizer.eosID { stop.insert(eos) }
        if let eot = tokenizer.id(for: "<end_of_turn>") { stop.insert(eot) }
        if let chatEncoder { stop.formUnion(try chatEncoder.endOfTurnTokens()) }
        let started = Date()
        // Stream: decode everything generated so far and print what is new (a token can be part
        // of a multi-byte character, so pieces are not printed one by one).
        var shown = ""
        var sofar: [Int32] = []
        if !json && !chat { FileHandle.standardOutput.write(text.data(using: .utf8)!) }
        let generated = model.generateGreedy(prompt: prompt, maxNewTokens: maxNewTokens, stop: stop) { id in
            sofar.append(id)
            guard !json, let now = try? tokenizer.decode(sofar), now.hasPrefix(shown) else { return }
            FileHandle.standardOutput.write(String(now.dropFirst(shown.count)).data(using: .utf8)!)
            shown = now
        }
        let completion = try tokenizer.decode(generated.filter { !stop.contains($0) })
        let seconds = Date().timeIntervalSince(started)
        if json {
            try printJSON(["prompt": text, "completion": completion, "tokens": generated.map(Int.init),
                           "seconds": seconds])
        } else {
            if completion.hasPrefix(shown) { print(completion.dropFirst(shown.count)) } else { print() }
            log(String(format: "%d tokens in %.2f s", generated.count, seconds))
        }
    }
}

extension PromptCommand {
    /// --chat: [system,] user TEXT rendered by the model's template with its generation prompt.
    func chatPrompt(_ encoder: ChatEncoder) throws -> [Int32] {
        func message(_ role: String, _ content: String) -> TemplateValue {
            .dict(TemplateDict([("role", .string(role)), ("content", .string(content))]))
        }
        let messages = (system.map { [message("system", $0)] } ?? []) + [message("user", text)]
        return try encoder.ids(messages, addGenerationPrompt: true, source: "command line")
    }
}
