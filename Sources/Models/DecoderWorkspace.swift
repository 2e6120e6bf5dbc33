import Tensors

/// Activation buffers for one forward pass over at most `maxTokens` packed tokens, reused by every
/// layer (DESIGN.md, decision 5): the forward pass itself allocates nothing.
public final class DecoderWorkspace {
    public let maxTokens: Int
    let x: UnsafeMutablePointer<Float>       // (maxTokens, C)      residual stream
    let xn: UnsafeMutablePointer<Float>      // (maxTokens, C)      normalised input of a sub-block
    let q: UnsafeMutablePointer<Float>       // (maxTokens, Hq·D)
    let k: UnsafeMutablePointer<Float>       // (maxTokens, Hkv·D)
    let v: UnsafeMutablePointer<Float>       // (maxTokens, Hkv·D)
    let attention: UnsafeMutablePointer<Float> // (maxTokens, Hq·D)  attention output before o_proj
    let projection: UnsafeMutablePointer<Float> // (maxTokens, C)    o_proj / down_proj output
    let gate: UnsafeMutablePointer<Float>    // (maxTokens, I)
    let up: UnsafeMutablePointer<Float>      // (maxTokens, I)
    private let buffer: TaggedBuffer

    /// Bytes held, for memory reports (tagged `activations`).
    public var byteCount: Int { buffer.byteCount }

    public init(config c: DecoderConfig, maxTokens: Int) {
        self.maxTokens = maxTokens
        let made: [UnsafeMutablePointer<Float>]
        (buffer, made) = TaggedBuffer.carved(Self.widths(c).map { $0 * maxTokens }, tag: .activations)
        (x, xn, q, k, v, attention, projection, gate, up) =
            (made[0], made[1], made[2], made[3], made[4], made[5], made[6], made[7], made[8])
    }

    /// Floats per token of each buffer, in declaration order.
    static func widths(_ c: DecoderConfig) -> [Int] {
        let C = c.hiddenSize, I = c.intermediateSize
        let qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        return [C, C, qw, kvw, kvw, qw, C, I, I]
    }
}

/// Keys and values of every layer for one sequence, for token-by-token generation.
public final class KVCache {
    public let capacity: Int
    /// Positions already stored.
    public internal(set) var length = 0
    let keys: [UnsafeMutablePointer<Float>]    // per layer (capacity, Hkv·D)
    let values: [UnsafeMutablePointer<Float>]  // per layer (capacity, Hkv·D)
    private let buffer: TaggedBuffer

    public init(config c: DecoderConfig, capacity: Int) {
        self.capacity = capacity
        let width = c.kvHeads * c.headDim
        let views: [UnsafeMutablePointer<Float>]
        (buffer, views) = TaggedBuffer.carved([Int](repeating: capacity * width, count: 2 * c.layers), tag: .activations)
        keys = Array(views[..<c.layers])
        values = Array(views[c.layers...])
    }
}
