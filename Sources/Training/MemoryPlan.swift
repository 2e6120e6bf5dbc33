import Foundation
import Models
import Tensors

/// What `zofinetune profile` measures: the forward pass alone, or one training step of an optimizer.
public enum ProfileMethod: String, CaseIterable, Codable, Sendable {
    case inference, mezo, sgd, adamw
    case zoSign = "zo-sign", zoMomentum = "zo-momentum", zoAdam = "zo-adam", zoCons = "zo-cons"
    case fzoo, hizoo, lozo
    case sparseMezo = "sparse-mezo"
    /// LoRA adapters (peft's defaults: rank 8, α 16, q and v) trained by MeZO, SGD or AdamW.
    case loraMezo = "lora-mezo", loraSgd = "lora-sgd", loraAdamw = "lora-adamw"
    /// Prefix tuning (MeZO's 5 prefix tokens) trained by MeZO or AdamW.
    case prefixMezo = "prefix-mezo", prefixAdamw = "prefix-adamw"

    /// The methods `profile` runs when --methods is not given.
    public static let defaults: [ProfileMethod] = [.inference, .mezo, .sgd, .adamw]

    /// Which parameters the method trains: a PEFT method is named "<peft>-<optimizer>".
    public var peft: PEFTMethod {
        PEFTMethod.allCases.first { $0 != .none && rawValue.hasPrefix($0.rawValue + "-") } ?? .none
    }

    /// The training optimizer this method profiles (nil: inference).
    public var optimizer: TrainingConfig.Optimizer? {
        TrainingConfig.Optimizer(rawValue: peft == .none ? rawValue : String(rawValue.dropFirst(peft.rawValue.count + 1)))
    }

    /// The adapters a LoRA method trains (peft's and the MeZO paper's settings), nil otherwise.
    public var lora: LoRASettings? { peft == .lora ? LoRASettings() : nil }

    /// The prefix length a prefix method trains (MeZO's default), nil otherwise.
    public var prefixTokens: Int? { peft == .prefix ? KeyValuePrefix.defaultTokens : nil }
}

extension MemoryPlan {
    /// A zeroth-order method: inference's buffers plus its state (`ZerothOrderMethods.stateBytes`:
    /// zo-momentum and HiZOO one arena, zo-adam two, Sparse MeZO one bit per element), tag `optimizer`.
    static func withState(_ plan: [MemoryTag: Int], method: ProfileMethod, weights: Int) -> [MemoryTag: Int] {
        guard let o = method.optimizer, !o.usesBackprop else { return plan }
        let extra = ZerothOrderMethods.stateBytes(o, arenaCount: weights / MemoryLayout<Float>.size)
        var out = plan
        if extra > 0 { out[.optimizer] = extra }
        return out
    }
}

/// Bytes each method should hold, per tag, predicted from the model's shape and the batch's token
/// count alone (formulas written from the architecture, not read back from the allocations), so
/// the profile can check the engine against them.
///
/// N = tokens in the batch, C = hidden, I = intermediate, Hq·D / Hkv·D = query / key-value widths,
/// L = layers, P = parameters.
public enum MemoryPlan {
    /// An encoder with label descriptions (issue 5). Its embedder keeps one forward workspace of
    /// `workspaceTokens` for every method: stream, q, k, v, context, pooled rows (C each) and the
    /// MLP's intermediate (I). Backprop adds, for the N = `tokens` of a batch (descriptions
    /// included): the embedding sum, L + 1 layer inputs, per layer q, k, v, context, two pre-norm
    /// sums, the middle stream (C each) and the MLP pre-activation (I), two pooled rows; and a
    /// scratch of seven C-wide and two I-wide gradient rows.
    /// - Parameter sequences: S, the batch's sequences with the descriptions (prefix tuning puts n
    ///   key rows in front of each).
    public static func predict(encoder c: EncoderConfig, method: ProfileMethod, tokens N: Int,
                               workspaceTokens W: Int, sequences S: Int = 1) -> [MemoryTag: Int] {
        let C = c.hiddenSize, I = c.intermediateSize, L = c.layers
        let f = MemoryLayout<Float>.size
        let weights = EncoderModel.parameterCount(config: c) * f
        let workspace = W * (6 * C + I) * f
        let stored = N * ((1 + L + 1 + 2) * C + L * (7 * C + I)) * f, scratch = N * (7 * C + 2 * I) * f
        if let lora = method.lora {
            return MemoryPlan.adapted(lora, arenaBytes: lora.arenaFloats(lora.shapes(encoder: c)) * f, weights: weights,
                                      inference: workspace, method: method, tokens: W) {
                // The embedder's workspace stays beside the stored activations (as in the full plan).
                (stored: workspace + stored, scratch: scratch + 2 * C * f)
            }
        }
        if let n = method.prefixTokens {
            return MemoryPlan.prefixed(tokens: n, layers: L, width: C, keyRows: S * n + N, weights: weights, inference: workspace,
                                       method: method, stored: workspace + stored, scratch: scratch + 2 * C * f)
        }
        if method != .sgd, method != .adamw {
            return withState([.weights: weights, .activations: workspace], method: method, weights: weights)
        }
        do {
            var plan: [MemoryTag: Int] = [.weights: weights, .activations: workspace + stored,
                                          .scratch: scratch, .gradients: weights]
            if method == .adamw { plan[.optimizer] = 2 * weights }
            return plan
        }
    }

    /// - Parameter sequences: S, the batch's sequences (prefix tuning puts n key rows in front of each).
    public static func predict(config c: DecoderConfig, method: ProfileMethod, tokens N: Int, sequences S: Int = 1) -> [MemoryTag: Int] {
        let C = c.hiddenSize, I = c.intermediateSize, L = c.layers
        let qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        let f = MemoryLayout<Float>.size
        let weights = DecoderModel.parameterCount(config: c) * f
        // Inference and MeZO reuse one layer's buffers: stream, normed input, q, k, v, attention
        // output, projection, gate, up (docs/ARCHITECTURE.md, decision 5).
        let oneLayer = N * (3 * C + 2 * qw + 2 * kvw + 2 * I) * f
        if let lora = method.lora {
            return MemoryPlan.adapted(lora, arenaBytes: lora.arenaFloats(lora.shapes(decoder: c)) * f, weights: weights,
                                      inference: oneLayer, method: method, tokens: N) {
                let perLayer = 2 * qw + 2 * kvw + C + 2 * I + (c.family == .gemma3 ? 2 * C : 0)
                return (stored: N * ((L + 1) * C + L * perLayer + C) * f,
                        scratch: N * (4 * C + 3 * qw + 3 * kvw + 3 * I) * f + max(C, c.headDim) * f)
            }
        }
        if let n = method.prefixTokens {
            let perLayer = 2 * qw + 2 * kvw + C + 2 * I + (c.family == .gemma3 ? 2 * C : 0)
            return MemoryPlan.prefixed(tokens: n, layers: L, width: kvw, keyRows: S * n + N, weights: weights, inference: oneLayer,
                                       method: method, stored: N * ((L + 1) * C + L * perLayer + C) * f,
                                       scratch: N * (4 * C + 3 * qw + 3 * kvw + 3 * I) * f + max(C, c.headDim) * f)
        }
        if method != .sgd, method != .adamw {
            return withState([.weights: weights, .activations: oneLayer], method: method, weights: weights)
        }
        do {
            // Backprop keeps, per layer: block input, q and k before norm/RoPE, v, attention output,
            // mid-block stream, gate, up (+ Gemma's two post-norm inputs); plus the final stream
            // and the final-normed hidden state.
            let perLayer = 2 * qw + 2 * kvw + C + 2 * I + (c.family == .gemma3 ? 2 * C : 0)
            let stored = N * ((L + 1) * C + L * perLayer + C) * f
            // Backward's working set, one layer at a time: normed input, q, k, act(gate)·up, the
            // stream and branch gradients, d attention, dq, dk, dv, d gate, d up.
            let scratch = N * (4 * C + 3 * qw + 3 * kvw + 3 * I) * f
            var plan: [MemoryTag: Int] = [.weights: weights, .activations: stored, .scratch: scratch, .gradients: weights]
            if method == .adamw { plan[.optimizer] = 2 * weights }
            return plan
        }
    }
}

extension MemoryPlan {
    /// A LoRA method: the base weights plus the adapters' arena (tag weights), the forward's
    /// buffers, and LoRA's working rows x·Aᵀ and its gradient (2·N·r floats, activations, at least
    /// 64 rows). Zeroth-order: nothing more (state methods: of the adapters' size). Backprop: the
    /// same stored activations and backward scratch as full backprop (the adapters need their
    /// inputs, which the base's backward keeps anyway) plus the norms' throw-away gradient row, but
    /// gradients (and AdamW's two moments) of the adapters' size only.
    static func adapted(_ lora: LoRASettings, arenaBytes: Int, weights: Int, inference: Int, method: ProfileMethod,
                        tokens N: Int, backprop: () -> (stored: Int, scratch: Int)) -> [MemoryTag: Int] {
        let f = MemoryLayout<Float>.size
        let rows = 2 * max(N, 64) * lora.rank * f
        guard method.optimizer?.usesBackprop == true else {
            var plan: [MemoryTag: Int] = [.weights: weights + arenaBytes, .activations: inference + rows]
            let extra = method.optimizer.map { ZerothOrderMethods.stateBytes($0, arenaCount: arenaBytes / f) } ?? 0
            if extra > 0 { plan[.optimizer] = extra }
            return plan
        }
        let (stored, scratch) = backprop()
        var plan: [MemoryTag: Int] = [.weights: weights + arenaBytes, .activations: stored + rows, .scratch: scratch,
                                      .gradients: arenaBytes]
        if method.optimizer == .adamw { plan[.optimizer] = 2 * arenaBytes }
        return plan
    }
}
