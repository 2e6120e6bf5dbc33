import Tensors

/// Activation buffers for one encoder forward pass over at most `maxTokens` packed tokens, reused
/// by every layer (docs/ARCHITECTURE.md, decision 5): the forward pass allocates nothing.
public final class EncoderWorkspace {
    public let maxTokens: Int
    let x: UnsafeMutablePointer<Float>            // (maxTokens, C)  residual stream (post-norm: normalised)
    let q: UnsafeMutablePointer<Float>            // (maxTokens, C)
    let k: UnsafeMutablePointer<Float>            // (maxTokens, C)
    let v: UnsafeMutablePointer<Float>            // (maxTokens, C)
    let context: UnsafeMutablePointer<Float>      // (maxTokens, C)  attention output before attention.output.dense
    let intermediate: UnsafeMutablePointer<Float> // (maxTokens, I)  GELU(intermediate.dense(x))
    let pooled: UnsafeMutablePointer<Float>       // (maxTokens, C)  sentence embeddings, one row per sequence
    private let buffer: TaggedBuffer

    /// Bytes held, for memory reports (tagged `activations`).
    public var byteCount: Int { buffer.byteCount }

    public init(config c: EncoderConfig, maxTokens: Int) {
        self.maxTokens = maxTokens
        let C = c.hiddenSize, I = c.intermediateSize
        let made: [UnsafeMutablePointer<Float>]
        (buffer, made) = TaggedBuffer.carved([C, C, C, C, C, I, C].map { $0 * maxTokens }, tag: .activations)
        (x, q, k, v, context, intermediate, pooled) = (made[0], made[1], made[2], made[3], made[4], made[5], made[6])
    }
}
