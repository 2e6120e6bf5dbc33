import Foundation

/// Which of the two architectures a model folder holds (config.json's `model_type`), and what the
/// commands may do with it. Commands ask these questions instead of testing "is it an encoder" at
/// each step, so a difference between the architectures is written here once, beside its reason.
public enum ModelArchitecture: String, Sendable {
    /// A causal LM (`DecoderFamily`): label words or targets are scored as continuations.
    case decoder
    /// A BERT-family sentence encoder (`EncoderFamily`): scored against label descriptions, no head.
    case encoder

    /// Reads the folder's config.json `model_type` (only that key).
    public static func of(directory: String) throws -> ModelArchitecture {
        EncoderFamily(rawValue: try EncoderConfig.modelType(directory: directory)) != nil ? .encoder : .decoder
    }

    /// 16-bit arenas (`--weights bf16`) are built for decoders; encoders (MiniLM-sized) hold f32.
    public var holds16BitWeights: Bool { self == .decoder }
    /// An encoder has no head: a classify task is posed as label descriptions (cosine / temperature).
    public var scoresLabelDescriptions: Bool { self == .encoder }
    /// Completion and chat objectives need next-token logits: decoders only.
    public var generates: Bool { self == .decoder }
    /// GGUF files are for llama.cpp, which runs decoders.
    public var exportsGGUF: Bool { self == .decoder }
    /// The backprop memory plan (`MemoryPlan.predict(config:)`) is built for decoders; encoders
    /// (MiniLM-sized) train with backprop in well under 1 GB.
    public var hasBackpropMemoryPlan: Bool { self == .decoder }
    /// `--distributed pipeline` splits a decoder's layers between ranks (`PipelineModel`).
    public var splitsIntoPipelineStages: Bool { self == .decoder }
}
