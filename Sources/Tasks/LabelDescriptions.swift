/// A classification task posed to a sentence encoder without a new head: each label is described by
/// a sentence, and the predicted label is the description whose embedding is closest (cosine) to the
/// example's embedding. Nothing is added to the model, so zero-shot works and MeZO tunes the
/// encoder itself.
public struct LabelDescriptions: Sendable, Equatable {
    /// One description per label, index = label.
    public let texts: [String]

    public init(_ texts: [String]) {
        precondition(texts.count >= 2, "a classification task needs at least two labels")
        self.texts = texts
    }

    /// SST-2: 66.9% dev zero-shot with all-MiniLM-L6-v2 (sentence-transformers, measured by
    /// tools/reference/reference_encoder.py); "It was terrible." / "It was great." reaches 71.4%.
    public static let sst2 = LabelDescriptions(["a negative movie review", "a positive movie review"])
}

/// The built-in tasks that have default label descriptions for encoders (a decoder's prompt for
/// every built-in task is its task file, `BuiltinTasks`).
public enum TaskName: String, CaseIterable, Sendable {
    case sst2
}

extension TaskName {
    /// The default label descriptions for encoders.
    public var labelDescriptions: LabelDescriptions {
        switch self {
        case .sst2: return .sst2
        }
    }
}
