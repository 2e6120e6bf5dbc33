import Foundation
import Tensors
import Weights

/// Prefix tuning (Li & Liang 2021) without reparameterisation, as peft's `PrefixTuningConfig`
/// (prefix_projection=False) and MeZO's `--prefix_tuning --no_reparam` train it: every layer's
/// attention sees n trainable keys and n trainable values in front of each sequence's own.
///
/// What peft 0.21.2 + transformers 5.23 compute, and so what this engine computes (checked against
/// both by tools/reference/reference_prefix.py, which also re-derives it by hand):
/// - `PeftModel.get_prompt` turns `prompt_embeddings` (n, L·2·Hkv·D) into a `DynamicCache` holding,
///   for layer l, keys = columns [2l·W, (2l+1)·W) and values = [(2l+1)·W, (2l+2)·W) (W = Hkv·D,
///   heads then head dim), for every sequence of the batch. They enter attention as cached keys do:
///   as they are, after the place where the model applies k-norm and RoPE to its own keys (Gemma-3,
///   Qwen3, Llama), and after the key/value projections and their biases (BERT).
/// - The real tokens continue the cache: their positions start at n (transformers sets
///   `position_ids = arange(T) + past_key_values.get_seq_length()`; peft's
///   `_adjust_prompt_learning_kwargs` shifts given position ids by n too). For RoPE models that is
///   the rotation angle; for BERT the position-embedding row (`past_key_values_length`).
/// - The mask is the model's own with the prefix as past positions 0…n−1: peft prepends n ones
///   to the attention mask, causal models let every query see every prefix key, and Gemma-3's
///   sliding layers apply their window to absolute positions (query p sees key j iff p − j < window),
///   so on a long enough sequence the prefix falls out of a local layer's window.
/// - MeZO's own hook (large_models/prefix.py, `attn_forward_hook`) differs in one way: it passes the
///   prefix as `past_key_value` to each attention module, so the real tokens keep positions 0…T−1.
///   We follow peft, so that an exported adapter gives `PeftModel` our predictions.
///
/// Storage is peft's: one tensor `prompt_embeddings` of shape (n, L·2·W) in a `ParameterArena` of
/// its own, so export writes the arena as it is, and every optimizer (MeZO's seed log, SGD, AdamW)
/// sees one small arena while the base arena stays read-only. Layer l's keys are rows j = 0…n−1 at
/// `keys(l) + j·rowStride`.
public final class KeyValuePrefix: @unchecked Sendable {
    /// peft's name for the tensor in `adapter_model.safetensors` (`get_peft_model_state_dict`).
    public static let tensorName = "prompt_embeddings"
    /// n when not given: MeZO's (large_models/run.py, `num_prefix: int = 5`; the paper's setting).
    public static let defaultTokens = 5
    /// The MeZO paper's starting point for prefix tuning (princeton-nlp/MeZO, large_models/README.md:
    /// "Prefix-tuning 1e-2/1e-3, eps 1e-1", its SST-2 example `MODE=prefix LR=1e-3 EPS=1e-1 bash mezo.sh`;
    /// the backprop baseline `MODE=prefix LR=1e-2 bash finetune.sh`).
    public static let mezoLR: Float = 1e-3, mezoEps: Float = 1e-1, backpropLR: Float = 1e-2

    /// n: the virtual tokens (peft's `num_virtual_tokens`).
    public let tokens: Int
    /// L: layers, each with its own keys and values.
    public let layers: Int
    /// W = Hkv·D: floats of one key (peft's `token_dim` after its GQA adjustment).
    public let width: Int
    /// `prompt_embeddings`: (n, L·2·W), what a prefix run trains.
    public let arena: ParameterArena
    /// Scratch of the inference forwards: one layer's keys and values in prefixed blocks (grown to
    /// the largest batch seen; tagged `activations`).
    var blocks: PrefixKeyBlocks?

    /// - Parameters: n ≥ 1 virtual tokens over `layers` layers of key width `width`.
    public init(tokens: Int, layers: Int, width: Int) throws {
        guard tokens >= 1 else { throw ModelError("prefix tuning needs at least 1 prefix token, not \(tokens)") }
        precondition(layers >= 1 && width >= 1)
        self.tokens = tokens
        self.layers = layers
        self.width = width
        let (rowWidth, overflow) = layers.multipliedReportingOverflow(by: 2 * width)
        guard !overflow else { throw ModelError("prefix tuning: \(layers) layers × 2 × \(width) overflows Int") }
        arena = try ParameterArena(checking: [ParameterSpec(Self.tensorName, [tokens, rowWidth], .matrix)])
    }

    /// Floats between prefix token j and j + 1 of the same layer's keys.
    public var rowStride: Int { layers * 2 * width }

    /// Layer l's keys in `arena` (or a gradient arena of the same layout): (n, W) with row stride `rowStride`.
    public func keys(_ l: Int, in a: ParameterArena? = nil) -> UnsafeMutablePointer<Float> {
        (a ?? arena)[Self.tensorName] + 2 * l * width
    }

    /// Layer l's values: (n, W) with row stride `rowStride`.
    public func values(_ l: Int, in a: ParameterArena? = nil) -> UnsafeMutablePointer<Float> {
        (a ?? arena)[Self.tensorName] + (2 * l + 1) * width
    }

    /// Elements trained (n·L·2·W).
    public var parameterCount: Int { arena.parameterCount }

    /// The keys/values buffer of the inference forward, grown to hold `rows` rows.
    func inferenceBlocks(rows: Int) -> PrefixKeyBlocks {
        if let b = blocks, b.capacity >= rows { return b }
        let b = PrefixKeyBlocks(width: width, capacity: max(rows, 2 * (blocks?.capacity ?? 0)))
        blocks = b
        return b
    }
}

/// Attention blocks that start with the prefix: where each gathered key row comes from, and the
/// spans that read the blocks. An entry g ≥ 0 of `gather` is row g of the batch's own keys; an entry
/// −1 − j is prefix key j of the layer. Queries stay in the batch's rows.
public struct PrefixedKeyLayout: Sendable {
    public let gather: [Int]
    public let spans: [AttentionSpan]

    /// Whole packed sequences: block s = [prefix 0…n−1, sequence s's rows], its queries at positions
    /// n…n+len−1; with `lastTokenOnly`, sequence s's one query is row s (the last block's compaction).
    public init(prefixTokens n: Int, batch: PackedBatch, lastTokenOnly: Bool = false) {
        var gather: [Int] = [], spans: [AttentionSpan] = []
        gather.reserveCapacity(batch.tokenCount + n * batch.sequenceCount)
        for s in 0..<batch.sequenceCount {
            let start = batch.starts[s], len = batch.lengths[s]
            let block = gather.count
            gather += (0..<n).map { -1 - $0 }
            gather += start..<(start + len)
            spans.append(lastTokenOnly
                ? AttentionSpan(queryRow: s, queryCount: 1, firstQueryPosition: n + len - 1, keyRow: block, keyCount: n + len)
                : AttentionSpan(queryRow: start, queryCount: len, firstQueryPosition: n, keyRow: block, keyCount: n + len))
        }
        self.gather = gather
        self.spans = spans
    }

    /// An existing block layout (a `ContinuationBatch`'s `gatherRows`/`spans` or its
    /// `disjointKeyBlocks`) with the prefix put in front of every block: a block starts at a row
    /// some span's keys start at and runs to the next such row. Every key and query position moves
    /// up by n, as the batch's row positions must (`positions + n`).
    public init(prefixTokens n: Int, gather old: [Int], spans oldSpans: [AttentionSpan]) {
        let starts = Array(Set(oldSpans.map(\.keyRow))).sorted()
        precondition(starts.first == 0 || old.isEmpty, "blocks must start at row 0")
        var gather: [Int] = [], newStart: [Int: Int] = [:]
        for (k, start) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1] : old.count
            newStart[start] = gather.count
            gather += (0..<n).map { -1 - $0 }
            gather += old[start..<end]
        }
        self.gather = gather
        spans = oldSpans.map {
            AttentionSpan(queryRow: $0.queryRow, queryCount: $0.queryCount, firstQueryPosition: $0.firstQueryPosition + n,
                          keyRow: newStart[$0.keyRow]!, keyCount: $0.keyCount + n)
        }
    }
}

/// One layer's keys and values copied into prefixed blocks (`PrefixedKeyLayout`) for the inference
/// forwards (the training forward and backward use `TrainingKeyBlocks`, which also keeps gradients).
final class PrefixKeyBlocks {
    let capacity: Int
    let width: Int
    let keys: UnsafeMutablePointer<Float>      // (capacity, W)
    let values: UnsafeMutablePointer<Float>    // (capacity, W)
    private let buffer: TaggedBuffer

    init(width: Int, capacity: Int) {
        self.capacity = capacity
        self.width = width
        let views: [UnsafeMutablePointer<Float>]
        (buffer, views) = TaggedBuffer.carved([capacity * width, capacity * width], tag: .activations)
        (keys, values) = (views[0], views[1])
    }

    var byteCount: Int { buffer.byteCount }

    /// Block row g = batch row gather[g] of k / v (rows, W), or prefix row −1 − gather[g] of layer l.
    func gathering(_ gather: [Int], keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>,
                   prefix: KeyValuePrefix, layer l: Int) -> PrefixKeyBlocks {
        precondition(gather.count <= capacity, "prefixed keys exceed their buffer")
        precondition(prefix.width == width)
        for (to, from) in gather.enumerated() {
            var ks = k + from * width, vs = v + from * width
            if from < 0 {
                let r = prefix.row(-1 - from, layer: l)
                (ks, vs) = (UnsafePointer(r.key), UnsafePointer(r.value))
            }
            memcpy(keys + to * width, ks, width * 4)
            memcpy(values + to * width, vs, width * 4)
        }
        return self
    }
}

extension KeyValuePrefix {
    /// Prefix token j's key and value in layer l, in `a` (default: the prefix's own arena).   (W) each
    func row(_ j: Int, layer l: Int, in a: ParameterArena? = nil) -> (key: UnsafeMutablePointer<Float>, value: UnsafeMutablePointer<Float>) {
        (keys(l, in: a) + j * rowStride, values(l, in: a) + j * rowStride)
    }
}
