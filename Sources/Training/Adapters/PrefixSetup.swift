import Foundation
import Models
import Optimizers

extension TrainingConfig {
    /// The run's prefix length (default filled in), or nil when it does not train a prefix.
    public var prefix: Int? { peft == .prefix ? prefixTokens ?? KeyValuePrefix.defaultTokens : nil }
}

/// Prefix tuning's start, as MeZO starts it (princeton-nlp/MeZO, large_models/run.py:
/// `prefix_init_by_real_act: bool = True`; large_models/prefix.py, `PrefixTuning.__init__`):
/// n token ids drawn uniformly from the whole vocabulary, run alone through the base model, and
/// their keys and values become the prefix (`initialisePrefixFromActivations`). The draw comes
/// from the run's seed, so replay, resume and `eval --run` rebuild the same start.
public enum PrefixSetup {
    /// An n-token prefix on `model`, started from the activations of n tokens drawn from `seed`.
    public static func attach(_ n: Int, seed: UInt64, to model: some TrainableModel) throws {
        try model.attachPrefix(tokens: n)
        model.initialisePrefixFromActivations(of: initialTokens(count: n, vocabulary: model.vocabularySize, seed: seed))
    }

    /// n ids uniform in 0..<vocabulary (MeZO: `torch.randint(low=0, high=vocab_size, size=(1, num_prefix))`),
    /// from a stream of their own ("Prefix" mixed into the run's seed).
    public static func initialTokens(count n: Int, vocabulary: Int, seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed ^ 0x5072_6566_6978_0000)
        return (0..<n).map { _ in Int32(Int.random(in: 0..<vocabulary, using: &rng)) }
    }
}
