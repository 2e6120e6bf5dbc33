import Foundation
import Tensors

/// What the training forward keeps for the backward pass, for at most `maxTokens` packed tokens
/// (the difference from inference, which reuses one layer's buffers: docs/ARCHITECTURE.md, decision 5).
///
/// Stored per layer: the inputs of the sub-blocks and the pre-norm / pre-activation values whose
/// backward needs them. Cheap recomputations are not stored: normalised inputs (one dot product per
/// row), q and k after q/k-norm and RoPE, the MLP's act(gate) ⊙ up, and the attention probabilities
/// (recomputed row by row in `attentionBackward`). One allocation, carved into named views.
/// C = hidden, I = intermediate, D = head dim, L = layers, N ≤ maxTokens rows.
public final class DecoderActivations {
    public let maxTokens: Int
    let layerInput: [UnsafeMutablePointer<Float>]   // (L + 1) × (N, C) residual stream entering layer l; [L] enters the final norm
    let qPre: [UnsafeMutablePointer<Float>]         // L × (N, Hq·D)   q projection (+ bias), before q-norm and RoPE
    let kPre: [UnsafeMutablePointer<Float>]         // L × (N, Hkv·D)  k projection (+ bias), before k-norm and RoPE
    let v: [UnsafeMutablePointer<Float>]            // L × (N, Hkv·D)
    let attention: [UnsafeMutablePointer<Float>]    // L × (N, Hq·D)   attention output, input of o_proj
    let attentionProjection: [UnsafeMutablePointer<Float>?] // L × (N, C) o_proj output, input of the post-attention norm (Gemma)
    let middle: [UnsafeMutablePointer<Float>]       // L × (N, C)      residual stream after the attention sub-block
    let gate: [UnsafeMutablePointer<Float>]         // L × (N, I)      gate projection before the activation
    let up: [UnsafeMutablePointer<Float>]           // L × (N, I)
    let mlpProjection: [UnsafeMutablePointer<Float>?] // L × (N, C)   down_proj output, input of the post-feedforward norm (Gemma)
    let hidden: UnsafeMutablePointer<Float>         // (N, C)          final-norm output, input of the output head
    private let buffer: TaggedBuffer

    /// Bytes held, for memory reports (tagged `activations`).
    public var byteCount: Int { buffer.byteCount }

    public init(config c: DecoderConfig, maxTokens: Int) {
        precondition(maxTokens > 0)
        self.maxTokens = maxTokens
        let C = c.hiddenSize, I = c.intermediateSize, L = c.layers
        let qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        let gemmaNorms = c.family.hasSandwichNorms   // post-attention / post-feedforward norms
        var widths: [Int] = []  // per buffer, in carving order
        widths += [Int](repeating: C, count: L + 1)
        for _ in 0..<L {
            widths += [qw, kvw, kvw, qw, C, I, I]
            if gemmaNorms { widths += [C, C] }
        }
        widths.append(C)
        let views: [UnsafeMutablePointer<Float>]
        (buffer, views) = TaggedBuffer.carved(widths.map { $0 * maxTokens }, tag: .activations)

        // Views in the order `widths` lists them.
        var n = 0
        var layerInput: [UnsafeMutablePointer<Float>] = []
        for _ in 0...L { layerInput.append(views[n]); n += 1 }
        var qPre: [UnsafeMutablePointer<Float>] = [], kPre = qPre, v = qPre, attention = qPre
        var middle = qPre, gate = qPre, up = qPre
        var attentionProjection: [UnsafeMutablePointer<Float>?] = [], mlpProjection = attentionProjection
        for _ in 0..<L {
            qPre.append(views[n]); kPre.append(views[n + 1]); v.append(views[n + 2]); attention.append(views[n + 3])
            middle.append(views[n + 4]); gate.append(views[n + 5]); up.append(views[n + 6])
            n += 7
            attentionProjection.append(gemmaNorms ? views[n] : nil)
            mlpProjection.append(gemmaNorms ? views[n + 1] : nil)
            if gemmaNorms { n += 2 }
        }
        hidden = views[n]
        precondition(n + 1 == views.count)
        self.layerInput = layerInput
        (self.qPre, self.kPre, self.v, self.attention) = (qPre, kPre, v, attention)
        (self.middle, self.gate, self.up) = (middle, gate, up)
        (self.attentionProjection, self.mlpProjection) = (attentionProjection, mlpProjection)
    }
}

/// Scratch of the backward pass (and of the training forward's recomputed values), sized like
/// `DecoderActivations`; reused by every layer.
final class DecoderGradientScratch {
    let normed: UnsafeMutablePointer<Float>   // (N, C)      a sub-block's normalised input (recomputed)
    let q: UnsafeMutablePointer<Float>        // (N, Hq·D)   q after q-norm and RoPE (recomputed)
    let k: UnsafeMutablePointer<Float>        // (N, Hkv·D)  k after k-norm and RoPE (recomputed)
    let activated: UnsafeMutablePointer<Float> // (N, I)     act(gate) ⊙ up (recomputed)
    let dStream: UnsafeMutablePointer<Float>  // (N, C)      d loss / d residual stream
    let dBranch: UnsafeMutablePointer<Float>  // (N, C)      d loss / d (pre-norm branch output or normalised input)
    let dAttention: UnsafeMutablePointer<Float> // (N, Hq·D) d loss / d attention output
    let dQ: UnsafeMutablePointer<Float>       // (N, Hq·D)
    let dK: UnsafeMutablePointer<Float>       // (N, Hkv·D)
    let dV: UnsafeMutablePointer<Float>       // (N, Hkv·D)
    let dGate: UnsafeMutablePointer<Float>    // (N, I)      d loss / d activated, then d loss / d gate
    let dUp: UnsafeMutablePointer<Float>      // (N, I)
    private let buffer: TaggedBuffer
    var byteCount: Int { buffer.byteCount }

    init(config c: DecoderConfig, maxTokens: Int) {
        let made: [UnsafeMutablePointer<Float>]
        (buffer, made) = TaggedBuffer.carved(Self.widths(c).map { $0 * maxTokens }, tag: .scratch)
        (normed, q, k, activated, dStream, dBranch) = (made[0], made[1], made[2], made[3], made[4], made[5])
        (dAttention, dQ, dK, dV, dGate, dUp) = (made[6], made[7], made[8], made[9], made[10], made[11])
    }

    /// Floats per token of each buffer, in declaration order.
    static func widths(_ c: DecoderConfig) -> [Int] {
        let C = c.hiddenSize, I = c.intermediateSize
        let qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        return [C, qw, kvw, I, C, C, qw, qw, kvw, kvw, I, I]
    }
}
