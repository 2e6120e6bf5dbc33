import Foundation
import Models
import Tasks
import Tokenizers
import Weights

/// A model folder loaded to be posed a task: a causal LM with its tokenizer, or a sentence encoder
/// (its tokenizer inside the embedder). Loading (and replaying a run onto it) is the CLI's
/// `ModelOptions.loadModel`; what a task does with it is `TrainingTasks.make`.
public enum LoadedModel {
    case decoder(DecoderModel, Tokenizer)
    case encoder(SentenceEmbedder)

    /// The model adapters attach to and runs replay onto.
    public var model: any TrainableModel {
        switch self {
        case .decoder(let m, _): return m
        case .encoder(let e): return e.model
        }
    }

    public var architecture: ModelArchitecture {
        switch self {
        case .decoder: return .decoder
        case .encoder: return .encoder
        }
    }
}

/// The one place a task is built for a loaded model, for every command (train, distributed train,
/// eval, diagnose, profile): the prompt's objective picks the decoder's task, an encoder is posed
/// the classify task as label descriptions.
public enum TrainingTasks {
    /// What a command says about the task beyond its prompt.
    public struct Posing {
        /// What a step minimises (`--objective`); encoders and chat tasks train on the loss only.
        public var objective: TrainingConfig.Objective = .loss
        /// An encoder's label descriptions (one per label) and its cosine temperature.
        public var descriptions: () throws -> LabelDescriptions
        public var temperature: Float = LabelDescriptionScorer.defaultTemperature
        /// The model folder, for a chat task's template.
        public var modelDirectory: String

        public init(modelDirectory: String, descriptions: @escaping () throws -> LabelDescriptions) {
            (self.modelDirectory, self.descriptions) = (modelDirectory, descriptions)
        }
    }

    /// Refuses, before a model is loaded, a task the architecture cannot be posed.
    public static func check(_ prompt: TaskPrompt, on architecture: ModelArchitecture) throws {
        if !architecture.generates, prompt.spec.objective != .classify {
            throw RunError("\(prompt.origin): an encoder has no completion objective; use a decoder")
        }
    }

    /// The task `prompt` poses to `loaded`.
    public static func make(_ loaded: LoadedModel, prompt: TaskPrompt, posing: Posing) throws -> TrainingTask {
        try check(prompt, on: loaded.architecture)
        switch loaded {
        case .encoder(let embedder):
            guard posing.objective == .loss else {
                throw RunError("--objective \(posing.objective.rawValue) is for decoders; an encoder trains on the label-description loss")
            }
            return EncoderTask(scorer: try LabelDescriptionScorer(embedder: embedder, descriptions: posing.descriptions(),
                                                                  temperature: posing.temperature))
        case .decoder(let model, let tokenizer):
            switch prompt.spec.objective {
            case .chat:
                guard posing.objective == .loss else { throw RunError("--objective \(posing.objective.rawValue): a chat task trains on its loss") }
                let template = try ModelChatTemplate.load(modelDirectory: posing.modelDirectory)
                return ChatTask(model: model, tokenizer: tokenizer, prompt: prompt, chatTemplate: template)
            case .complete:
                let task = CompleteTask(model: model, tokenizer: tokenizer, prompt: prompt)
                task.trainingObjective = posing.objective
                return task
            case .classify:
                let task = try ClassifyTask(model: model, tokenizer: tokenizer, prompt: prompt)
                task.trainingObjective = posing.objective
                return task
            }
        }
    }
}
