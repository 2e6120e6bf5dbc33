import Tokenizers

/// A classification task posed to a causal LM as a prompt followed by one of a few label words
/// (the MeZO setting for OPT, kept for Gemma): the predicted label is the word the model finds
/// most likely after the prompt.
public struct CandidatePrompt: Sendable {
    /// Text around the example; `{sentence}` is replaced by the example's text.
    public let template: String
    /// One word per label, index = label (with its leading space: it follows the prompt).
    public let labelWords: [String]

    public init(template: String, labelWords: [String]) {
        precondition(template.contains("{sentence}"), "template must contain {sentence}")
        self.template = template
        self.labelWords = labelWords
    }

    /// SST-2 as in MeZO: "<sentence> It was" → " terrible" (0) / " great" (1).
    public static let sst2 = CandidatePrompt(template: "{sentence} It was", labelWords: [" terrible", " great"])

    /// The prompt text for one example.
    public func text(for sentence: String) -> String {
        template.replacingOccurrences(of: "{sentence}", with: sentence)
    }

    /// `<bos>` (if the vocabulary has one) + the tokens of the prompt text.
    public func tokenIDs(for sentence: String, tokenizer: Tokenizer) throws -> [Int32] {
        let ids = try tokenizer.encode(text(for: sentence))
        return (tokenizer.bosID.map { [$0] } ?? []) + ids
    }

    /// The single token of each label word. Scoring reads one output row per label, so a word
    /// the vocabulary splits into several tokens is refused with a message naming it.
    public func labelTokenIDs(tokenizer: Tokenizer) throws -> [Int32] {
        try labelWords.map { word in
            let ids = try tokenizer.encode(word)
            guard ids.count == 1 else {
                throw TaskDataError(.badLabel, file: "label words",
                    "label word \"\(word)\" is \(ids.count) tokens for this vocabulary; label words must be single tokens")
            }
            return ids[0]
        }
    }
}

/// The tasks the CLI knows, each with its prompt.
public enum TaskName: String, CaseIterable, Sendable {
    case sst2

    public var prompt: CandidatePrompt {
        switch self {
        case .sst2: return .sst2
        }
    }
}
