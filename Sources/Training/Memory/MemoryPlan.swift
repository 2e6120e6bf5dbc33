import Foundation
import Models
import Tensors
import Weights

/// What `zofinetune profile` measures: the forward pass alone, or one training step of an optimizer
/// of `OptimizerRegistry` on the whole model or (some of them) on adapters. Derived from the
/// registry: a new optimizer is profiled with no line here.
public struct ProfileMethod: RawRepresentable, Hashable, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// Which parameters the method trains: a PEFT method is named "<peft>-<optimizer>".
    public let peft: PEFTMethod
    /// The training optimizer this method profiles (nil: inference).
    public let optimizer: TrainingConfig.Optimizer?

    init(_ optimizer: TrainingConfig.Optimizer?, peft: PEFTMethod = .none) { (self.optimizer, self.peft) = (optimizer, peft) }

    public static let inference = ProfileMethod(nil)
    public static let mezo = ProfileMethod(.mezo), sgd = ProfileMethod(.sgd), adamw = ProfileMethod(.adamw)

    /// Inference, every optimizer on the whole model, LoRA adapters (peft's defaults: rank 8, α 16,
    /// q and v) trained by MeZO, SGD or AdamW, and prefix tuning (MeZO's 5 prefix tokens) by MeZO or AdamW.
    public static var allCases: [ProfileMethod] {
        [inference] + TrainingConfig.Optimizer.allCases.map { ProfileMethod($0) }
            + [TrainingConfig.Optimizer.mezo, .sgd, .adamw].map { ProfileMethod($0, peft: .lora) }
            + [TrainingConfig.Optimizer.mezo, .adamw].map { ProfileMethod($0, peft: .prefix) }
    }

    /// The methods `profile` runs when --methods is not given.
    public static let defaults: [ProfileMethod] = [.inference, .mezo, .sgd, .adamw]

    public var rawValue: String {
        guard let optimizer else { return "inference" }
        return peft == .none ? optimizer.rawValue : "\(peft.rawValue)-\(optimizer.rawValue)"
    }

    public init?(rawValue: String) {
        guard let method = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
        self = method
    }

    public var description: String { rawValue }

    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let method = ProfileMethod(rawValue: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown profile method \"\(name)\""))
        }
        self = method
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    /// The backprop optimizer it profiles, nil for inference and the zeroth-order ones.
    var firstOrder: FirstOrderSpec? { if case .firstOrder(let s)? = optimizer?.family { return s } else { return nil } }

    /// The adapters a LoRA method trains (peft's and the MeZO paper's settings), nil otherwise.
    public var lora: LoRASettings? { peft == .lora ? LoRASettings() : nil }

    /// The prefix length a prefix method trains (MeZO's default), nil otherwise.
    public var prefixTokens: Int? { peft == .prefix ? KeyValuePrefix.defaultTokens : nil }
}

extension MemoryPlan {
    /// Inference's buffers plus a zeroth-order method's state (its spec's `stateBytes`: zo-momentum and
    /// HiZOO one arena, zo-adam two, Sparse MeZO one bit per element), tag `optimizer`, for `count`
    /// trained parameters.
    static func withState(_ plan: [MemoryTag: Int], method: ProfileMethod, arenaCount count: Int) -> [MemoryTag: Int] {
        guard let extra = method.optimizer?.zerothOrder?.stateBytes(arenaCount: count), extra > 0 else { return plan }
        var out = plan
        out[.optimizer] = extra
        return out
    }

    /// Full or adapter backprop: the stored activations and scratch, gradients of the trained
    /// parameters' size and the optimizer's state arenas (AdamW's two moments).
    static func backprop(_ spec: FirstOrderSpec, weights: Int, trained: Int, activations: Int, scratch: Int) -> [MemoryTag: Int] {
        var plan: [MemoryTag: Int] = [.weights: weights, .activations: activations, .scratch: scratch, .gradients: trained]
        if spec.stateArenas > 0 { plan[.optimizer] = spec.stateArenas * trained }
        return plan
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
        guard let spec = method.firstOrder else {
            return withState([.weights: weights, .activations: workspace], method: method, arenaCount: weights / f)
        }
        return backprop(spec, weights: weights, trained: weights, activations: workspace + stored, scratch: scratch)
    }

    /// - Parameter sequences: S, the batch's sequences (prefix tuning puts n key rows in front of each).
    /// - Parameter format: how the arena holds the base weights (`--weights`): bf16 plans the
    ///   weights at 2 bytes a matrix element and adds the bf16 products' scratch (`bf16Scratch`);
    ///   gradients and optimizer state are f32 whatever the format.
    public static func predict(config c: DecoderConfig, method: ProfileMethod, tokens N: Int, sequences S: Int = 1,
                               weights format: WeightFormat = .f32) -> [MemoryTag: Int] {
        let planned = plan(config: c, method: method, tokens: N, sequences: S,
                           weights: DecoderModel.weightBytes(config: c, format: format))
        guard format == .bf16 else { return planned }
        return planned.merging([.scratch: bf16Scratch(config: c, tokens: N)], uniquingKeysWith: +)
    }

    /// With bf16 weights every block product reads a bf16 panel and a bf16 copy of its input: one
    /// scratch of the largest block matrix (the perturbed panel MeZO builds, `LowPrecisionProducts`)
    /// and the input rows of the widest product, N × max(C, Hq·D, I) (`BF16Linear`), 2 bytes each.
    static func bf16Scratch(config c: DecoderConfig, tokens N: Int) -> Int {
        let f = MemoryLayout<Float>.size
        let widest = max(c.hiddenSize, c.queryHeads * c.headDim, c.intermediateSize)
        return (DecoderModel.largestBlockMatrix(config: c) + 1) / 2 * f + (N * widest + 1) / 2 * f
    }

    /// The plan with the base weights taking `weights` bytes; activations, gradients and state in f32.
    static func plan(config c: DecoderConfig, method: ProfileMethod, tokens N: Int, sequences S: Int,
                     weights: Int) -> [MemoryTag: Int] {
        let C = c.hiddenSize, I = c.intermediateSize, L = c.layers
        let qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        let f = MemoryLayout<Float>.size
        let parameters = DecoderModel.parameterCount(config: c)
        // Inference and MeZO reuse one layer's buffers: stream, normed input, q, k, v, attention
        // output, projection, gate, up (docs/ARCHITECTURE.md, decision 5).
        let oneLayer = N * (3 * C + 2 * qw + 2 * kvw + 2 * I) * f
        if let lora = method.lora {
            return MemoryPlan.adapted(lora, arenaBytes: lora.arenaFloats(lora.shapes(decoder: c)) * f, weights: weights,
                                      inference: oneLayer, method: method, tokens: N) {
                let perLayer = 2 * qw + 2 * kvw + C + 2 * I + (c.family.hasSandwichNorms ? 2 * C : 0)
                return (stored: N * ((L + 1) * C + L * perLayer + C) * f,
                        scratch: N * (4 * C + 3 * qw + 3 * kvw + 3 * I) * f + max(C, c.headDim) * f)
            }
        }
        if let n = method.prefixTokens {
            let perLayer = 2 * qw + 2 * kvw + C + 2 * I + (c.family.hasSandwichNorms ? 2 * C : 0)
            return MemoryPlan.prefixed(tokens: n, layers: L, width: kvw, keyRows: S * n + N, weights: weights, inference: oneLayer,
                                       method: method, stored: N * ((L + 1) * C + L * perLayer + C) * f,
                                       scratch: N * (4 * C + 3 * qw + 3 * kvw + 3 * I) * f + max(C, c.headDim) * f)
        }
        guard let spec = method.firstOrder else {
            return withState([.weights: weights, .activations: oneLayer], method: method, arenaCount: parameters)
        }
        do {
            // Backprop keeps, per layer: block input, q and k before norm/RoPE, v, attention output,
            // mid-block stream, gate, up (+ Gemma's two post-norm inputs); plus the final stream
            // and the final-normed hidden state.
            let perLayer = 2 * qw + 2 * kvw + C + 2 * I + (c.family.hasSandwichNorms ? 2 * C : 0)
            let stored = N * ((L + 1) * C + L * perLayer + C) * f
            // Backward's working set, one layer at a time: normed input, q, k, act(gate)·up, the
            // stream and branch gradients, d attention, dq, dk, dv, d gate, d up.
            let scratch = N * (4 * C + 3 * qw + 3 * kvw + 3 * I) * f
            return backprop(spec, weights: weights, trained: parameters * f, activations: stored, scratch: scratch)
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
        guard let spec = method.firstOrder else {
            return withState([.weights: weights + arenaBytes, .activations: inference + rows], method: method, arenaCount: arenaBytes / f)
        }
        let (stored, scratch) = backprop()
        return Self.backprop(spec, weights: weights + arenaBytes, trained: arenaBytes, activations: stored + rows, scratch: scratch)
    }
}
