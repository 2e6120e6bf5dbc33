import Foundation

/// A task described in data (docs/ARCHITECTURE.md, "A task is data"): the prompt, what the model must produce
/// after it, and how the result is scored. Read from a task file (JSON, the keys below) or built
/// from the CLI's one-off flags; the built-in tasks are files of this form (`BuiltinTasks`).
///
///     {"template": "{sentence|strip} It was", "objective": "classify", "label_column": "label",
///      "labels": {"0": " terrible", "1": " great"}, "metric": "accuracy"}
public struct TaskSpec: Codable, Sendable, Equatable {
    /// What the model is asked to do after the prompt.
    public enum Objective: String, Codable, Sendable, CaseIterable {
        /// Score each label's word(s) as a continuation of the prompt; the best-scoring label wins.
        case classify
        /// Write the target text (greedy generation at evaluation).
        case complete
        /// Messages JSONL rendered by the model's chat template; the loss is on the assistant's
        /// turns (docs/chat.md).
        case chat
    }

    public enum Metric: String, Codable, Sendable, CaseIterable {
        case accuracy
        case macroF1 = "macro_f1"
        case exactMatch = "exact_match"
        /// SQuAD's token F1 (after SQuAD's answer normalisation).
        case f1
    }

    /// k labelled training examples shown before each prompt (the in-context-learning baseline of
    /// the MeZO paper's tables), each rendered as prompt + its label's first word.
    public struct Demonstrations: Codable, Sendable, Equatable {
        public var k: Int
        /// Between demonstrations and before the example (MeZO's `train_sep`).
        public var separator: String = "\n\n"
        /// Seed of the choice of demonstrations from the training split.
        public var seed: UInt64 = 0

        public init(k: Int, separator: String = "\n\n", seed: UInt64 = 0) {
            self.k = k
            self.separator = separator
            self.seed = seed
        }

        enum CodingKeys: String, CodingKey { case k, separator, seed }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            k = try c.decode(Int.self, forKey: .k)
            separator = try c.decodeIfPresent(String.self, forKey: .separator) ?? "\n\n"
            seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? 0
        }
    }

    /// One label: its value as written in the data, and the word(s) that say it.
    public struct Label: Sendable, Equatable {
        public var value: String
        /// One or several alternative continuations (each may be a template, e.g. COPA's
        /// `" {choice1|lower_first_word}"`). Several: the label's score is the log-sum-exp of theirs.
        public var words: [String]

        public init(value: String, words: [String]) {
            self.value = value
            self.words = words
        }
    }

    public var name: String?
    public var description: String?
    /// Where the prompt and label words come from (for built-ins, MeZO's file).
    public var source: String?
    /// The prompt, `{column}` or `{column|filter|…}` placeholders (`PromptTemplate`).
    public var template: String
    /// Prepend the tokenizer's `<bos>` (default true, as MeZO feeds OPT and we feed Gemma).
    public var bos: Bool = true
    public var objective: Objective = .classify
    public var labelColumn: String?
    /// Ordered: the label index used for predictions and the confusion matrix is the position here.
    public var labels: [Label] = []
    public var targetColumn: String?
    public var maxNewTokens: Int?
    public var stop: [String]?
    public var metric: Metric?
    public var demonstrations: Demonstrations?
    /// Named value tables for the `map:NAME` filter (COPA: "effect" → "so").
    public var maps: [String: [String: String]]?
    /// Other names a data file may give a column (SST-2's dev.tsv is redistributed with `content`
    /// for `sentence`): used when the file lacks the column itself.
    public var columnAliases: [String: [String]]?
    /// Chat: which assistant turns carry the loss, "final_assistant" (default) or "all_assistant".
    public var trainOn: String?

    public init(template: String, objective: Objective = .classify, labelColumn: String? = nil,
                labels: [Label] = [], targetColumn: String? = nil) {
        self.template = template
        self.objective = objective
        self.labelColumn = labelColumn
        self.labels = labels
        self.targetColumn = targetColumn
    }

    /// The metric used when the file names none: accuracy for classify, F1 for complete.
    public var effectiveMetric: Metric { metric ?? (objective == .classify ? .accuracy : .f1) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, description, source, template, bos, objective, labels, stop, metric, demonstrations, maps
        case labelColumn = "label_column"
        case targetColumn = "target_column"
        case maxNewTokens = "max_new_tokens"
        case columnAliases = "column_aliases"
        case trainOn = "train_on"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        source = try c.decodeIfPresent(String.self, forKey: .source)
        objective = try c.decodeIfPresent(Objective.self, forKey: .objective) ?? .classify
        // A chat task's prompt is the model's own chat template: it has no template of ours.
        template = objective == .chat ? try c.decodeIfPresent(String.self, forKey: .template) ?? ""
                                      : try c.decode(String.self, forKey: .template)
        bos = try c.decodeIfPresent(Bool.self, forKey: .bos) ?? true
        labelColumn = try c.decodeIfPresent(String.self, forKey: .labelColumn)
        // Decoded unordered here; `TaskSpec.load` restores the file's order.
        let table = try c.decodeIfPresent([String: LabelWords].self, forKey: .labels) ?? [:]
        labels = table.keys.sorted().map { Label(value: $0, words: table[$0]!.words) }
        targetColumn = try c.decodeIfPresent(String.self, forKey: .targetColumn)
        maxNewTokens = try c.decodeIfPresent(Int.self, forKey: .maxNewTokens)
        stop = try c.decodeIfPresent([String].self, forKey: .stop)
        metric = try c.decodeIfPresent(Metric.self, forKey: .metric)
        demonstrations = try c.decodeIfPresent(Demonstrations.self, forKey: .demonstrations)
        maps = try c.decodeIfPresent([String: [String: String]].self, forKey: .maps)
        columnAliases = try c.decodeIfPresent([String: [String]].self, forKey: .columnAliases)
        trainOn = try c.decodeIfPresent(String.self, forKey: .trainOn)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(name, forKey: .name)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encodeIfPresent(source, forKey: .source)
        try c.encode(template, forKey: .template)
        try c.encode(bos, forKey: .bos)
        try c.encode(objective, forKey: .objective)
        try c.encodeIfPresent(labelColumn, forKey: .labelColumn)
        if !labels.isEmpty {
            try c.encode(Dictionary(uniqueKeysWithValues: labels.map { ($0.value, LabelWords(words: $0.words)) }), forKey: .labels)
        }
        try c.encodeIfPresent(targetColumn, forKey: .targetColumn)
        try c.encodeIfPresent(maxNewTokens, forKey: .maxNewTokens)
        try c.encodeIfPresent(stop, forKey: .stop)
        try c.encodeIfPresent(metric, forKey: .metric)
        try c.encodeIfPresent(demonstrations, forKey: .demonstrations)
        try c.encodeIfPresent(maps, forKey: .maps)
        try c.encodeIfPresent(columnAliases, forKey: .columnAliases)
        try c.encodeIfPresent(trainOn, forKey: .trainOn)
    }

    /// A label's words in a file: one string or an array of alternatives.
    struct LabelWords: Codable {
        var words: [String]
        init(words: [String]) { self.words = words }
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let one = try? c.decode(String.self) { words = [one] } else { words = try c.decode([String].self) }
        }
        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            if words.count == 1 { try c.encode(words[0]) } else { try c.encode(words) }
        }
    }
}
