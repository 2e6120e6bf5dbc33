import Foundation
import Tokenizers

/// A task's texts for one example, built as MeZO's `encode_prompt` (large_models/utils.py) builds
/// them: the prompt with spaces stripped at both ends (the label word brings its own leading
/// space), demonstrations (prompt + gold label word, stripped) joined by the separator before it,
/// and each label's word(s) as the continuation to score.
public struct TaskPrompt: Sendable {
    public let spec: TaskSpec
    let template: PromptTemplate
    /// Per label, per alternative.
    let words: [[PromptTemplate]]
    /// Demonstrations prepended to every prompt (empty without `demonstrations`).
    public private(set) var demonstrations: [LabeledExample] = []
    /// Names the task in errors (its file, or "command line").
    public let origin: String

    public init(spec: TaskSpec, origin: String) throws {
        self.spec = spec
        self.origin = origin
        let maps = spec.maps ?? [:]
        template = try PromptTemplate(spec.template, maps: maps)
        words = try spec.labels.map { try $0.words.map { try PromptTemplate($0, maps: maps) } }
    }

    /// Picks `spec.demonstrations.k` labelled examples of `train` (seeded), as MeZO's ICL baseline.
    public mutating func chooseDemonstrations(from train: [LabeledExample]) {
        guard let d = spec.demonstrations, d.k > 0 else { return }
        var order = Array(train.indices.filter { train[$0].label >= 0 || !train[$0].targets.isEmpty })
        var state = d.seed
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            // SplitMix64, as the training set's sampling.
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            order.swapAt(i, Int(z % UInt64(i + 1)))
        }
        demonstrations = order.prefix(d.k).map { train[$0] }
    }

    func render(_ t: PromptTemplate, _ example: LabeledExample) throws -> String {
        do {
            return try t.render { example.fields[$0]?.text }
        } catch let e as PromptTemplate.SyntaxError {
            let (file, line) = Self.split(example.source)
            throw TaskDataError(.missingColumn, file: file ?? origin, line: line, e.message)
        }
    }

    /// "file:line" → ("file", line).
    public static func split(_ source: String?) -> (String?, Int?) {
        guard let source, let colon = source.lastIndex(of: ":"), let line = Int(source[source.index(after: colon)...]) else {
            return (source, nil)
        }
        return (String(source[..<colon]), line)
    }

    /// The prompt text (without `<bos>`), demonstrations included.
    public func text(for example: LabeledExample) throws -> String {
        let prompt = try render(template, example).trimmingCharacters(in: [" "])
        var demos = ""
        if !demonstrations.isEmpty {
            demos = try demonstrations.map { demo in
                let gold = try goldContinuation(for: demo)
                return (try render(template, demo) + gold).trimmingCharacters(in: .whitespacesAndNewlines)
            }.joined(separator: spec.demonstrations!.separator).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let separator = spec.demonstrations?.separator ?? "\n\n"
        let joined = demos + separator + prompt
        // MeZO: (train_prompts + train_sep + eval_prompt).lstrip().strip(' ')
        let leading = joined.drop { $0.isWhitespace }
        return String(leading).trimmingCharacters(in: [" "])
    }

    /// Each label's continuation texts (several when it has alternative words).
    public func candidateTexts(for example: LabeledExample) throws -> [[String]] {
        try words.map { try $0.map { try render($0, example) } }
    }

    /// A demonstration's answer: its label's first word, or " " + its first target.
    func goldContinuation(for example: LabeledExample) throws -> String {
        switch spec.objective {
        case .classify: return try render(words[example.label][0], example)
        case .complete, .chat: return " " + (example.targets.first ?? "")
        }
    }

    /// `<bos>` (when the task asks and the vocabulary has one) + the prompt's tokens.
    public func promptIDs(for example: LabeledExample, tokenizer: Tokenizer) throws -> [Int32] {
        let ids = try tokenizer.encode(text(for: example))
        let all = (spec.bos ? tokenizer.bosID.map { [$0] } ?? [] : []) + ids
        guard !all.isEmpty else {
            let (file, line) = Self.split(example.source)
            throw TaskDataError(.emptyText, file: file ?? origin, line: line, "the prompt is empty (and there is no <bos> to start it)")
        }
        return all
    }

    /// Tokens of each label's alternatives: [label][alternative][token].
    public func candidateIDs(for example: LabeledExample, tokenizer: Tokenizer) throws -> [[[Int32]]] {
        try candidateTexts(for: example).map { alternatives in
            try alternatives.map { word in
                let ids = try tokenizer.encode(word)
                guard !ids.isEmpty else {
                    throw TaskDataError(.emptyLabelWord, file: origin, "label word \"\(word)\" encodes to no tokens")
                }
                return ids
            }
        }
    }

    /// True when the label words are single tokens, one per label, the same for every example:
    /// then scoring reads only those rows of the output embedding (the fast path; the softmax
    /// normaliser cancels) and gives exactly the numbers of the original SST-2 code.
    public var labelWordsAreFixed: Bool {
        words.allSatisfy { $0.count == 1 && $0[0].columns.isEmpty }
    }
}
