import Foundation
import Tensors
import Weights

/// A BERT-family encoder (BERT, RoBERTa, MiniLM) reading its weights from a ParameterArena, with
/// sentence-transformers' mean pooling and L2 normalisation on top.
///
/// Sequences are packed back to back (PackedBatch): each token attends to every token of its own
/// sequence and to nothing else, which is exactly what a right-padded batch with an attention mask
/// computes for the real tokens, without spending FLOPs on padding. Every token has token type 0
/// (single-sentence inputs).
public final class EncoderModel: @unchecked Sendable {
    public let config: EncoderConfig
    public let arena: ParameterArena
    /// The checkpoint's name prefix ("", "bert." or "roberta.").
    public let prefix: String
    let layers: [EncoderLayerWeights]
    /// bf16 copies of the block matrices (nil: fp32 products).
    private(set) var lowPrecision: LowPrecisionProducts?
    /// LoRA adapters added to the block products (`attachLoRA`, PEFT/EncoderLoRA.swift); nil: none.
    public var lora: LoRALayers?

    /// The parameters a run trains: the adapters' arena when attached (the base is then read-only).
    public var trainableArena: ParameterArena { lora?.arena ?? prefixTuning?.arena ?? arena }
    /// Prefix tuning's keys and values in front of every sequence (`attachPrefix`, PEFT/EncoderPrefix.swift); nil: none.
    public internal(set) var prefixTuning: KeyValuePrefix?
    let words: UnsafeMutablePointer<Float>        // (V, C)
    let positions: UnsafeMutablePointer<Float>    // (maxPositions, C)
    let tokenTypes: UnsafeMutablePointer<Float>   // (typeVocab, C); row 0 used
    let embeddingNorm: UnsafeMutablePointer<Float>      // (C)
    let embeddingNormBias: UnsafeMutablePointer<Float>  // (C)

    /// An arena laid out for `config` with the checkpoint's name prefix, zero-filled.
    public static func makeArena(config: EncoderConfig, prefix: String = "") -> ParameterArena {
        ParameterArena(specs: EncoderLayout.specs(config, prefix: prefix))
    }

    /// Tensors a checkpoint may hold that the model does not use, with reasons.
    /// Parameters of an encoder with `config`: for memory predictions.
    public static func parameterCount(config: EncoderConfig) -> Int {
        EncoderLayout.specs(config, prefix: "").reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    /// `names`: the checkpoint's tensors (a prefixed task checkpoint's head is skipped).
    public static func ignoredTensors(prefix: String = "", names: [String] = []) -> [String: String] {
        EncoderLayout.ignoredTensors(prefix: prefix, names: names)
    }

    /// The name prefix of a checkpoint's tensors, or nil if it holds no BERT embedding table.
    public static func prefix(inTensorNames names: [String]) -> String? { EncoderLayout.prefix(in: names) }

    public init(config: EncoderConfig, arena: ParameterArena, prefix: String = "") {
        self.config = config
        self.arena = arena
        self.prefix = prefix
        layers = (0..<config.layers).map {
            EncoderLayerWeights(arena: arena, names: EncoderLayerNames(prefix: prefix, layer: $0))
        }
        let e = EncoderEmbeddingNames(prefix: prefix)
        words = arena[e.words]
        positions = arena[e.positions]
        tokenTypes = arena[e.tokenTypes]
        embeddingNorm = arena[e.norm]
        embeddingNormBias = arena[e.normBias]
    }

    /// Longest sequence (in tokens, [CLS] and [SEP] included) the position table covers (after the
    /// prefix's n positions when prefix tuning).
    public var maxSequenceLength: Int { config.maxSequenceLength - prefixTokens }

    /// Runs the embeddings and every block.
    /// - Returns: the last hidden states (N, C), valid until the workspace is used again.
    @discardableResult
    public func forward(_ batch: PackedBatch, workspace ws: EncoderWorkspace) -> UnsafeMutablePointer<Float> {
        let N = batch.tokenCount
        precondition(N <= ws.maxTokens, "batch of \(N) tokens exceeds the workspace (\(ws.maxTokens))")
        precondition(batch.lengths.allSatisfy { $0 <= maxSequenceLength },
                     "sequence longer than \(maxSequenceLength) positions")
        embed(batch, into: ws.x)
        for l in 0..<config.layers { block(l, batch: batch, workspace: ws) }
        return ws.x
    }

    /// Sentence embeddings: mean of each sequence's last hidden states, L2-normalised.
    /// - Returns: (S, C), valid until the workspace is used again.
    public func sentenceEmbeddings(_ batch: PackedBatch, workspace ws: EncoderWorkspace) -> UnsafeMutablePointer<Float> {
        let hidden = forward(batch, workspace: ws)
        let C = config.hiddenSize
        meanPoolForward(ws.pooled, hidden, starts: batch.starts, lengths: batch.lengths, dim: C)
        l2NormalizeForward(ws.pooled, ws.pooled, rows: batch.sequenceCount, dim: C)
        return ws.pooled
    }

    /// x[r] = LayerNorm(W[token r] + P[offset + position r] + T[0]).   out: (N, C)
    /// With a prefix the positions start at n, as in transformers (`past_key_values_length`).
    func embed(_ batch: PackedBatch, into out: UnsafeMutablePointer<Float>) {
        let C = config.hiddenSize, V = config.vocabSize, offset = config.positionOffset + prefixTokens
        for s in 0..<batch.sequenceCount {
            let start = batch.starts[s]
            for i in 0..<batch.lengths[s] {
                let t = batch.tokens[start + i]
                precondition(t >= 0 && Int(t) < V, "token id \(t) outside the vocabulary (\(V))")
                let dst = out + (start + i) * C
                let w = words + Int(t) * C, p = positions + (offset + i) * C
                for c in 0..<C { dst[c] = w[c] + p[c] + tokenTypes[c] }
            }
        }
        layerNormForward(out, out, embeddingNorm, embeddingNormBias, rows: batch.tokenCount, dim: C,
                         eps: config.layerNormEps)
    }

    /// Attention spans of the batch: each sequence's queries see all of its own keys.
    func spans(_ batch: PackedBatch) -> [AttentionSpan] {
        (0..<batch.sequenceCount).map {
            AttentionSpan(queryRow: batch.starts[$0], queryCount: batch.lengths[$0], firstQueryPosition: 0,
                          keyRow: batch.starts[$0], keyCount: batch.lengths[$0])
        }
    }

    var geometry: AttentionGeometry {
        AttentionGeometry(queryHeads: config.heads, kvHeads: config.heads, headDim: config.headDim,
                          scale: config.attentionScale, causal: false)
    }

    /// One post-norm block on ws.x:  x = LN(x + Attn(x)·Woᵀ + bo);  x = LN(x + GELU(x·Wiᵀ + bi)·Wdᵀ + bd).
    func block(_ l: Int, batch: PackedBatch, workspace ws: EncoderWorkspace) {
        let c = config, w = layers[l]
        let N = batch.tokenCount, C = c.hiddenSize, I = c.intermediateSize
        linear(ws.x, w.q, w.qBias, ws.q, rows: N, out: C, in: C)
        linear(ws.x, w.k, w.kBias, ws.k, rows: N, out: C, in: C, sameInput: true)
        linear(ws.x, w.v, w.vBias, ws.v, rows: N, out: C, in: C, sameInput: true)
        if let prefix = prefixTuning {
            // Each sequence's block: the prefix's keys and values, then its own (PrefixedKeyLayout).
            let layout = PrefixedKeyLayout(prefixTokens: prefix.tokens, batch: batch)
            let blocks = prefix.inferenceBlocks(rows: layout.gather.count)
                .gathering(layout.gather, keys: ws.k, values: ws.v, prefix: prefix, layer: l)
            bidirectionalAttentionForward(ws.context, q: ws.q, k: blocks.keys, v: blocks.values, spans: layout.spans,
                                          geometry: geometry)
        } else {
            bidirectionalAttentionForward(ws.context, q: ws.q, k: ws.k, v: ws.v, spans: spans(batch), geometry: geometry)
        }
        // The residual add for free: sgemm accumulates into the stream (beta = 1), then bias and norm.
        product(lowPrecision, ws.context, w.attentionOut, ws.x, rows: N, out: C, in: C, accumulate: true)
        lora?.add(ws.context, weight: w.attentionOut, to: ws.x, rows: N)
        addRows(ws.x, w.attentionOutBias, rows: N, width: C)
        layerNormForward(ws.x, ws.x, w.attentionNorm, w.attentionNormBias, rows: N, dim: C, eps: c.layerNormEps)

        linear(ws.x, w.intermediate, w.intermediateBias, ws.intermediate, rows: N, out: I, in: C)
        geluForward(ws.intermediate, ws.intermediate, count: N * I)
        product(lowPrecision, ws.intermediate, w.output, ws.x, rows: N, out: C, in: I, accumulate: true)
        lora?.add(ws.intermediate, weight: w.output, to: ws.x, rows: N)
        addRows(ws.x, w.outputBias, rows: N, width: C)
        layerNormForward(ws.x, ws.x, w.outputNorm, w.outputNormBias, rows: N, dim: C, eps: c.layerNormEps)
    }

    /// y = x · Wᵀ + b.   x: (rows, in)   W: (out, in)   y: (rows, out)
    func linear(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                _ y: UnsafeMutablePointer<Float>, rows: Int, out: Int, in: Int, sameInput: Bool = false) {
        product(lowPrecision, x, w, y, rows: rows, out: out, in: `in`, sameInput: sameInput)
        lora?.add(x, weight: w, to: y, rows: rows)   // + s·(x·Aᵀ)·Bᵀ in fp32 when w is adapted
        addRows(y, b, rows: rows, width: out)
    }

    /// Runs the six matrices' products of every block on bf16 copies from now on (see
    /// `LowPrecisionProducts`; the inference path only, the backward pass stays fp32).
    /// - Parameter weightsChange: unused: encoders train in fp32 products only (train refuses
    ///   --precision bf16 for them), so their copies are made once.
    public func useBF16Products(weightsChange: Bool = false) throws {
        let C = config.hiddenSize, I = config.intermediateSize
        lowPrecision = try LowPrecisionProducts(layers.flatMap { w in
            [(w.q, C, C), (w.k, C, C), (w.v, C, C), (w.attentionOut, C, C), (w.intermediate, I, C), (w.output, C, I)]
        })
    }

    /// y[r] += b for every row.   y: (rows, width)   b: (width)
    func addRows(_ y: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows { addForward(y + r * width, y + r * width, b, count: width) }
    }
}

extension EncoderModel {
    /// Multiply-add FLOPs (2 per MAC) of the matrix products of one forward pass (attention
    /// scores excluded), for GFLOP/s reports.
    public func matmulFLOPs(_ batch: PackedBatch) -> Double {
        let C = Double(config.hiddenSize), I = Double(config.intermediateSize), N = Double(batch.tokenCount)
        return Double(config.layers) * 2 * N * (4 * C * C + 2 * C * I)
    }
}
