import Foundation
import Weights

/// What training, replay, adapters and export need of a model, decoder and encoder alike: its
/// base arena, the arena a run trains (the adapters' over a read-only base, docs/ARCHITECTURE.md
/// decision 1), LoRA and prefix tuning. Code that only attaches, replays or merges adapters is
/// written once over this protocol instead of once per architecture; what differs (which
/// projections LoRA can adapt, where a prefix sits) is each model's own requirement.
public protocol TrainableModel: AnyObject {
    /// Every base parameter, in the architecture's layout.
    var arena: ParameterArena { get }
    /// The parameters a run trains: the adapters' arena when adapters are attached, else `arena`.
    var trainableArena: ParameterArena { get }
    /// LoRA adapters added to the block products; nil: none. Set by `attachLoRA` / `mergeLoRA`.
    var lora: LoRALayers? { get set }
    /// Prefix tuning's keys and values in front of every sequence; nil: none.
    var prefixTuning: KeyValuePrefix? { get }
    /// Rows of the token embedding (a prefix's start tokens are drawn below it).
    var vocabularySize: Int { get }
    /// The projections LoRA can adapt in this architecture (an encoder's MLP has no gate).
    var loraTargets: [LoRATarget] { get }
    /// A prefix's shape as peft's adapter_config.json records it: layers, key/value heads, key width.
    var prefixShape: (layers: Int, kvHeads: Int, width: Int) { get }
    /// peft's `task_type` of an adapter on this model.
    var peftTaskType: String { get }
    /// The projections `targets` name in every block, in arena order, with Hugging Face's module
    /// names (peft's); throws for a target the architecture lacks.
    func loraModules(_ targets: [LoRATarget]) throws -> [LoRAModule]
    /// Puts n trainable key/value vectors (zero until initialised) in front of every sequence.
    @discardableResult func attachPrefix(tokens n: Int) throws -> KeyValuePrefix
    /// The keys and values the base model computes for `tokens` run alone: MeZO's prefix start.
    func initialisePrefixFromActivations(of tokens: [Int32])
    /// Runs the block products on bf16 copies from now on.
    /// - Parameter weightsChange: the weights change between forwards (MeZO): round on use.
    func useBF16Products(weightsChange: Bool) throws
}

extension TrainableModel {
    /// True when a run trains adapters only and the base weights get no gradient.
    public var baseIsFrozen: Bool { trainableArena !== arena }

    /// Positions the prefix takes in front of every sequence (0 without one).
    public var prefixTokens: Int { prefixTuning?.tokens ?? 0 }

    /// Puts LoRA adapters (zero A and B; `LoRALayers.initialise` draws peft's init) on the projections
    /// `settings` names: from now on the forwards add them, and `trainableArena` is their arena.
    @discardableResult
    public func attachLoRA(_ settings: LoRASettings) throws -> LoRALayers {
        precondition(lora == nil, "LoRA is already attached")
        let layers = try LoRALayers(modules: loraModules(settings.targets), settings: settings)
        lora = layers
        return layers
    }

    /// W + (α/r)·B·A into the base arena for every adapted projection, then the adapters removed:
    /// the weights peft's `merge_and_unload` gives, for a plain Hugging Face export.
    public func mergeLoRA() throws {
        guard let lora else { return }
        try lora.merge(into: arena)
        self.lora = nil
    }
}

extension DecoderModel: TrainableModel {
    public var vocabularySize: Int { config.vocabSize }
    public var loraTargets: [LoRATarget] { LoRATarget.allCases }
    public var prefixShape: (layers: Int, kvHeads: Int, width: Int) { (config.layers, config.kvHeads, config.kvHeads * config.headDim) }
    public var peftTaskType: String { "CAUSAL_LM" }
}

extension EncoderModel: TrainableModel {
    public var vocabularySize: Int { config.vocabSize }
    public var loraTargets: [LoRATarget] { LoRATarget.allCases.filter { $0 != .gate } }
    /// BERT's attention has as many key/value heads as query heads, each key as wide as the hidden state.
    public var prefixShape: (layers: Int, kvHeads: Int, width: Int) { (config.layers, config.heads, config.hiddenSize) }
    public var peftTaskType: String { "FEATURE_EXTRACTION" }
}
