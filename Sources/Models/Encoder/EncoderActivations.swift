import Foundation
import Tensors

/// What the encoder's training forward keeps for the backward pass, for at most `maxTokens` packed
/// tokens. Per layer: the block's input, q/k/v, the attention output, the two pre-norm sums
/// (LayerNorm backward needs its input), the normalised middle stream and the MLP's
/// pre-activation. GELU's output is recomputed in backward's place (the down projection's weight
/// gradient needs it) rather than stored. The attention probabilities are recomputed row by row in
/// `attentionBackward`. One allocation, carved into named views.
/// C = hidden, I = intermediate, L = layers, N ≤ maxTokens rows, S ≤ maxTokens sequences.
public final class EncoderActivations {
    public let maxTokens: Int
    let embeddingSum: UnsafeMutablePointer<Float>   // (N, C)  W[token] + P[position] + T[0], input of the embedding norm
    let layerInput: [UnsafeMutablePointer<Float>]   // (L + 1) × (N, C) stream entering layer l; [L] is the last hidden state
    let q, k, v: [UnsafeMutablePointer<Float>]      // L × (N, C) each, biases added
    let context: [UnsafeMutablePointer<Float>]      // L × (N, C)  attention output, input of attention.output.dense
    let attentionSum: [UnsafeMutablePointer<Float>] // L × (N, C)  x + attention projection, input of attention.output.LayerNorm
    let middle: [UnsafeMutablePointer<Float>]       // L × (N, C)  its output, input of the MLP
    let preActivation: [UnsafeMutablePointer<Float>] // L × (N, I) intermediate.dense output, input of GELU
    let mlpSum: [UnsafeMutablePointer<Float>]       // L × (N, C)  middle + MLP projection, input of output.LayerNorm
    let pooled: UnsafeMutablePointer<Float>         // (S, C)  mean of each sequence's last hidden states (before L2)
    let embeddings: UnsafeMutablePointer<Float>     // (S, C)  unit-length sentence embeddings
    private let buffer: TaggedBuffer

    /// Bytes held, for memory reports (tagged `activations`).
    public var byteCount: Int { buffer.byteCount }

    public init(config c: EncoderConfig, maxTokens: Int) {
        precondition(maxTokens > 0)
        self.maxTokens = maxTokens
        let C = c.hiddenSize, I = c.intermediateSize, L = c.layers
        var widths = [C] + [Int](repeating: C, count: L + 1)
        for _ in 0..<L { widths += [C, C, C, C, C, C, I, C] }
        widths += [C, C]
        let carved: [UnsafeMutablePointer<Float>]
        (buffer, carved) = TaggedBuffer.carved(widths.map { $0 * maxTokens }, tag: .activations)

        var views = carved[...]
        func next() -> UnsafeMutablePointer<Float> { views.removeFirst() }
        embeddingSum = next()
        layerInput = (0...L).map { _ in next() }
        var q: [UnsafeMutablePointer<Float>] = [], k = q, v = q, context = q, attentionSum = q, middle = q,
            preActivation = q, mlpSum = q
        for _ in 0..<L {
            q.append(next()); k.append(next()); v.append(next()); context.append(next())
            attentionSum.append(next()); middle.append(next()); preActivation.append(next()); mlpSum.append(next())
        }
        (self.q, self.k, self.v, self.context) = (q, k, v, context)
        (self.attentionSum, self.middle, self.preActivation, self.mlpSum) = (attentionSum, middle, preActivation, mlpSum)
        pooled = next()
        embeddings = next()
    }
}

/// Gradient buffers of one backward pass, reused by every layer.
final class EncoderGradientScratch {
    let dStream: UnsafeMutablePointer<Float>   // (N, C)  d loss / d stream (output of the current layer, then its input)
    let dSum: UnsafeMutablePointer<Float>      // (N, C)  d loss / d a pre-norm sum
    let dMiddle: UnsafeMutablePointer<Float>   // (N, C)
    let dContext: UnsafeMutablePointer<Float>  // (N, C)
    let dQ, dK, dV: UnsafeMutablePointer<Float> // (N, C) each
    let activated: UnsafeMutablePointer<Float> // (N, I)  GELU output, recomputed
    let dHidden: UnsafeMutablePointer<Float>   // (N, I)  d loss / d GELU output, then / d pre-activation
    private let buffer: TaggedBuffer
    var byteCount: Int { buffer.byteCount }

    init(config c: EncoderConfig, maxTokens: Int) {
        let C = c.hiddenSize, I = c.intermediateSize
        let made: [UnsafeMutablePointer<Float>]
        (buffer, made) = TaggedBuffer.carved([C, C, C, C, C, C, C, I, I].map { $0 * maxTokens }, tag: .scratch)
        (dStream, dSum, dMiddle, dContext, dQ, dK, dV) = (made[0], made[1], made[2], made[3], made[4], made[5], made[6])
        (activated, dHidden) = (made[7], made[8])
    }
}
