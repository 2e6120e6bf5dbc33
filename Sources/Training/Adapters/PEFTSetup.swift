import Foundation
import Models
import Weights

extension TrainingConfig {
    /// The run's LoRA settings (defaults filled in), or nil when it does not train LoRA adapters.
    public var lora: LoRASettings? {
        guard peft == .lora else { return nil }
        let d = LoRASettings()
        return LoRASettings(rank: loraRank ?? d.rank, alpha: loraAlpha ?? d.alpha, targets: loraTargets ?? d.targets)
    }
}

/// Puts the adapters a run's configuration names on a freshly loaded base model, initialised
/// from the run's seed exactly as at the run's start: what a new run trains, and what replay,
/// resume, `eval --run`, `prompt --run` and `export` rebuild before loading snapshots or
/// replaying the seed log onto the adapters (`RunReplay`).
public enum PEFTSetup {
    public static func attach(_ config: TrainingConfig, to model: some TrainableModel) throws {
        switch config.peft {
        case .none: return
        case .lora: try model.attachLoRA(config.lora!).initialise(seed: config.seed)
        case .prefix: try PrefixSetup.attach(config.prefix!, seed: config.seed, to: model)
        }
    }
}
