/// Static facts of one attention layer.
public struct AttentionGeometry: Sendable {
    public var queryHeads: Int
    public var kvHeads: Int
    public var headDim: Int
    /// Multiplies q·k (Gemma: query_pre_attn_scalar^-½; Llama: head_dim^-½).
    public var scale: Float
    /// A query at position p sees keys at positions (p − window, p]; nil = full causal attention.
    public var window: Int?
    /// Gemma-2 style tanh soft-capping of the scores (nil = none).
    public var softcap: Float?
    /// false for encoders (every key visible).
    public var causal: Bool

    public init(queryHeads: Int, kvHeads: Int, headDim: Int, scale: Float, window: Int? = nil,
                softcap: Float? = nil, causal: Bool = true) {
        precondition(queryHeads % kvHeads == 0, "query heads must be a multiple of key/value heads")
        self.queryHeads = queryHeads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.scale = scale
        self.window = window
        self.softcap = softcap
        self.causal = causal
    }
}

/// Where one sequence's queries and keys live in the packed buffers.
public struct AttentionSpan: Sendable {
    /// Row of the first query in q/out.
    public var queryRow: Int
    public var queryCount: Int
    /// Position of the first query within its sequence (0 without a cache; queries are consecutive).
    public var firstQueryPosition: Int
    /// Row of the sequence's key 0 in k/v, and how many keys (positions 0..<keyCount) exist.
    public var keyRow: Int
    public var keyCount: Int

    public init(queryRow: Int, queryCount: Int, firstQueryPosition: Int, keyRow: Int, keyCount: Int) {
        self.queryRow = queryRow
        self.queryCount = queryCount
        self.firstQueryPosition = firstQueryPosition
        self.keyRow = keyRow
        self.keyCount = keyCount
    }
}

/// Scaled dot-product attention over packed sequences, grouped-query aware.
///   q, out: (rows, queryHeads · headDim)     k, v: (rows, kvHeads · headDim)
/// Softmax in fp32 with the max subtracted, as PyTorch's eager path.
public func attentionForward(_ out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
                             k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                             spans: [AttentionSpan], geometry g: AttentionGeometry,
                             threads: Int = Threads.count) {
    let d = g.headDim
    let qStride = g.queryHeads * d
    let kvStride = g.kvHeads * d
    let group = g.queryHeads / g.kvHeads
    let tasks = spans.count * g.queryHeads
    OpTimer.measure(.attention) {
        spans.withUnsafeBufferPointer { spanList in
            parallelFor(tasks, threads: threads) { range in
                for task in range {
                    let span = spanList[task / g.queryHeads]
                    let head = task % g.queryHeads
                    let kvHead = head / group
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, span.keyCount)) { buf in
                        let scores = buf.baseAddress!  // (keyCount)
                        for i in 0..<span.queryCount {
                            let position = span.firstQueryPosition + i
                            let qi = q + (span.queryRow + i) * qStride + head * d
                            let oi = out + (span.queryRow + i) * qStride + head * d
                            let keys = attentionRow(scores, q: qi, k: k + span.keyRow * kvStride + kvHead * d,
                                                    kvStride: kvStride, position: position,
                                                    keyCount: span.keyCount, geometry: g)
                            for c in 0..<d { oi[c] = 0 }
                            for j in keys {
                                axpy(scores[j], v + (span.keyRow + j) * kvStride + kvHead * d, oi, d)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One query's softmax over the keys it may see, shared by forward and backward so that backward
/// recomputes exactly the forward's probabilities.
///   p: (keyCount) out: probabilities at the visible keys   k: key 0 of the sequence (row stride kvStride)
///   tanhs: (keyCount) out, optional: tanh(s/cap) per key when soft-capping (for its derivative)
/// - Returns: the visible keys: j ≤ position (causal), and position − j < window (sliding).
@inline(__always)
func attentionRow(_ p: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                  kvStride: Int, position: Int, keyCount: Int, geometry g: AttentionGeometry,
                  tanhs: UnsafeMutablePointer<Float>? = nil) -> ClosedRange<Int> {
    let last = g.causal ? position : keyCount - 1
    var first = 0
    if let w = g.window, g.causal { first = max(0, position - w + 1) }
    var maxScore = -Float.infinity
    for j in first...last {
        var s = dot(q, k + j * kvStride, g.headDim) * g.scale
        if let cap = g.softcap {
            let t = tanhf(s / cap)
            tanhs?[j] = t
            s = cap * t
        }
        p[j] = s
        maxScore = max(maxScore, s)
    }
    var total: Float = 0
    for j in first...last {
        let e = sexp(p[j] - maxScore)
        p[j] = e
        total += e
    }
    let inv = 1 / total
    for j in first...last { p[j] *= inv }
    return first...last
}

#if canImport(Glibc)
import Glibc
#endif
