import Tensors

/// Activation buffers for one forward pass over at most `maxTokens` packed tokens, reused by every
/// layer (docs/ARCHITECTURE.md, decision 5): the forward pass itself allocates nothing.
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

/// Keys and values of every layer for token-by-token generation: one sequence, or several
/// generated side by side (batched greedy decoding), each in a block of `capacity` positions.
public final class KVCache {
    /// Positions each sequence may hold.
    public let capacity: Int
    /// Sequences held (blocks).
    public let sequences: Int
    /// Positions already stored, per sequence.
    public internal(set) var lengths: [Int]
    /// Positions stored for a one-sequence cache.
    public var length: Int { lengths[0] }
    /// The block each sequence of the batch being fed writes and reads (set by `forward`).
    var feeding: [Int] = [0]
    let keys: [UnsafeMutablePointer<Float>]    // per layer (sequences · capacity, Hkv·D)
    let values: [UnsafeMutablePointer<Float>]  // per layer (sequences · capacity, Hkv·D)
    private let buffer: TaggedBuffer

    public init(config c: DecoderConfig, capacity: Int, sequences: Int = 1) {
        precondition(sequences >= 1)
        self.capacity = capacity
        self.sequences = sequences
        lengths = [Int](repeating: 0, count: sequences)
        let width = c.kvHeads * c.headDim
        let views: [UnsafeMutablePointer<Float>]
        (buffer, views) = TaggedBuffer.carved([Int](repeating: sequences * capacity * width, count: 2 * c.layers), tag: .activations)
        keys = Array(views[..<c.layers])
        values = Array(views[c.layers...])
    }

    public var byteCount: Int { buffer.byteCount }
}
