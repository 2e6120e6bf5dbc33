import Foundation

/// Which parameters a run trains (docs/ARCHITECTURE.md, "adapters are a second arena"): the whole model, or
/// a small set of adapter parameters over a read-only base model. The adapters live in their own
/// `ParameterArena`, so every optimizer, the seed log, snapshots, replay and resume work on them
/// exactly as they work on a whole model.
///
/// Each method is one case here and its settings one struct beside `LoRASettings`; the model side
/// of each is in its own files in this folder.
public enum PEFTMethod: String, Codable, Sendable, CaseIterable {
    /// Every parameter of the model trains (no adapter).
    case none
    /// Low-rank adapters W + (α/r)·B·A on chosen projections (`LoRASettings`, `LoRALayers`).
    case lora
    /// Trainable key/value vectors per layer (prefix tuning).
    case prefix
}

/// A projection of a transformer block that LoRA can adapt. Decoders name them as Hugging Face's
/// Llama/Gemma modules do (q_proj … down_proj); encoders (BERT family) have no gate.
public enum LoRATarget: String, Codable, Sendable, CaseIterable {
    case q, k, v, o, gate, up, down

    /// Parses "q,v" (names separated by commas) into targets in canonical order, without repeats.
    public static func parse(_ text: String) throws -> [LoRATarget] {
        var set = Set<LoRATarget>()
        for raw in text.split(separator: ",") {
            let name = raw.trimmingCharacters(in: .whitespaces)
            guard let t = LoRATarget(rawValue: name) else {
                throw ModelError("LoRA target \"\(name)\" is not one of \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            set.insert(t)
        }
        guard !set.isEmpty else { throw ModelError("LoRA targets: give at least one of \(allCases.map(\.rawValue).joined(separator: ","))") }
        return allCases.filter(set.contains)
    }
}

/// LoRA's settings, with the MeZO paper's defaults (princeton-nlp/MeZO, large_models/run.py:
/// `lora_r: int = 8`, `lora_alpha: int = 16`; large_models/lora.py, class `LoRA.__init__`: adapters
/// on every attention's q_proj and v_proj, `LoRALinear` with no dropout): rank 8, α 16, targets q
/// and v. peft's `LoraConfig` scales the same way (α/r).
public struct LoRASettings: Codable, Sendable, Equatable {
    public var rank: Int = 8
    public var alpha: Float = 16
    public var targets: [LoRATarget] = [.q, .v]

    public init(rank: Int = 8, alpha: Float = 16, targets: [LoRATarget] = [.q, .v]) {
        (self.rank, self.alpha, self.targets) = (rank, alpha, targets)
    }

    /// α / r: what B·A is scaled by (peft's `scaling`, MeZO's `LoRALinear.scaling`; not rank-stabilised).
    public var scale: Float { alpha / Float(rank) }

    /// Refuses a rank or α that is not positive, and an empty target list, naming the value.
    public func validate() throws {
        guard rank > 0 else { throw ModelError("LoRA rank must be at least 1, not \(rank)") }
        guard alpha > 0, alpha.isFinite else { throw ModelError("LoRA alpha must be positive, not \(alpha)") }
        guard !targets.isEmpty else { throw ModelError("LoRA needs at least one target projection") }
    }

    public var targetList: String { targets.map(\.rawValue).joined(separator: ",") }

    /// The MeZO paper's starting point for MeZO on LoRA (princeton-nlp/MeZO, large_models/README.md,
    /// "LoRA 1e-4/5e-5, eps 1e-2"; the fine-tuning baseline with LoRA used lr 1e-4).
    public static let mezoLR: Float = 1e-4, mezoEps: Float = 1e-2, backpropLR: Float = 1e-4
}

extension LoRASettings {
    /// (in, out) of every projection these targets adapt in a decoder with `c`, all layers.
    public func shapes(decoder c: DecoderConfig) -> [(in: Int, out: Int)] {
        let C = c.hiddenSize, I = c.intermediateSize, qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        let one: [LoRATarget: (Int, Int)] = [.q: (C, qw), .k: (C, kvw), .v: (C, kvw), .o: (qw, C),
                                             .gate: (C, I), .up: (C, I), .down: (I, C)]
        return Array(repeating: targets.map { one[$0]! }, count: c.layers).flatMap { $0 }
    }

    /// The same for an encoder with `c` (no gate).
    public func shapes(encoder c: EncoderConfig) -> [(in: Int, out: Int)] {
        let C = c.hiddenSize, I = c.intermediateSize
        let one: [LoRATarget: (Int, Int)] = [.q: (C, C), .k: (C, C), .v: (C, C), .o: (C, C), .up: (C, I), .down: (I, C)]
        return Array(repeating: targets.compactMap { one[$0] }, count: c.layers).flatMap { $0 }
    }

    /// Floats of the adapters' arena (A: r·in, B: out·r per projection, each slot aligned as
    /// `ParameterArena` aligns it): for memory predictions.
    public func arenaFloats(_ shapes: [(in: Int, out: Int)]) -> Int {
        func aligned(_ n: Int) -> Int { (n + 15) / 16 * 16 }
        return shapes.reduce(0) { $0 + aligned(rank * $1.in) + aligned($1.out * rank) }
    }
}
