import Foundation
import Tensors
import Weights

/// A decoder-only transformer (Gemma-3, or the Llama family: Llama, Qwen2, Qwen3, Mistral) reading its weights from a ParameterArena.
public final class DecoderModel: @unchecked Sendable {
    public let config: DecoderConfig
    public let arena: ParameterArena
    let layers: [DecoderLayerWeights]
    // With a bf16 arena the embedding and head are keys of bf16 slots (`ParameterArena.readAddress`):
    // read them through `embed`, `logits` and `candidateLogits`, never as floats.
    let embedding: UnsafeMutablePointer<Float>    // (V, C)
    let finalNorm: UnsafeMutablePointer<Float>    // (C)
    let outputHead: UnsafeMutablePointer<Float>   // (V, C), the embedding when tied
    let globalRope: RotaryTable
    let localRope: RotaryTable
    let activation: GateActivation
    /// bf16 copies of the block matrices, keyed by the fp32 weight's address (nil: fp32 products).
    private(set) var lowPrecision: LowPrecisionProducts?
    /// LoRA adapters added to the block products (`attachLoRA`, PEFT/DecoderLoRA.swift); nil: none.
    public var lora: LoRALayers?

    /// The parameters a run trains: the adapters' arena when adapters are attached (the base
    /// arena is then read-only), else the whole model's.
    public var trainableArena: ParameterArena { lora?.arena ?? prefixTuning?.arena ?? arena }
    /// Prefix tuning's keys and values in front of every sequence (`attachPrefix`, PEFT/DecoderPrefix.swift); nil: none.
    public internal(set) var prefixTuning: KeyValuePrefix?

    /// An arena laid out for `config`, zero-filled (fill it with `arena.load(from:)`).
    public static func makeArena(config: DecoderConfig, touch: Bool = true) -> ParameterArena {
        ParameterArena(specs: DecoderLayout.specs(config), touch: touch)
    }

    /// Every parameter of a model with `config`, in arena order.
    public static func specs(config: DecoderConfig) -> [ParameterSpec] { DecoderLayout.specs(config) }

    /// Parameters of a model with `config` (alignment gaps excluded): for memory predictions.
    public static func parameterCount(config: DecoderConfig) -> Int {
        DecoderLayout.specs(config).reduce(0) { $0 + $1.shape.reduce(1, *) }
    }

    /// Bytes the weights' arena allocates in `format` (bf16: matrices and embeddings at 2 bytes).
    public static func weightBytes(config: DecoderConfig, format: WeightFormat) -> Int {
        // The config's shapes were checked when it was read (ConfigLimits): they fit in Int.
        (try? ParameterArena.allocatedBytes(specs: DecoderLayout.specs(config), format: format)) ?? Int.max
    }

    /// The largest block matrix's elements: with bf16 weights, the scratch each product's
    /// perturbed panel is built in holds this many (`LowPrecisionProducts`, `.resident`).
    public static func largestBlockMatrix(config c: DecoderConfig) -> Int {
        let qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        return [qw * c.hiddenSize, kvw * c.hiddenSize, c.hiddenSize * qw, c.intermediateSize * c.hiddenSize].max()!
    }

    /// Tensors a checkpoint may hold that the model does not use, with reasons.
    public static func ignoredTensors(config: DecoderConfig) -> [String: String] {
        DecoderLayout.ignoredTensors(config)
    }

    /// - Parameter maxPositions: longest sequence the RoPE tables cover.
    public init(config: DecoderConfig, arena: ParameterArena, maxPositions: Int = 4096) throws {
        guard let act = GateActivation(huggingFace: config.activation) else {
            throw ModelError("unsupported activation \"\(config.activation)\"")
        }
        self.config = config
        self.arena = arena
        self.activation = act
        layers = (0..<config.layers).map {
            DecoderLayerWeights(arena: arena, names: DecoderLayerNames(config: config, layer: $0))
        }
        embedding = arena.readAddress(DecoderLayout.embedding)
        finalNorm = arena.readAddress(DecoderLayout.finalNorm)
        outputHead = config.tieWordEmbeddings ? embedding : arena.readAddress(DecoderLayout.outputHead)
        let positions = min(maxPositions, config.maxPositions)
        if let llama3 = config.llama3RopeScaling {
            globalRope = RotaryTable(headDim: config.headDim,
                                     inverseFrequencies: llama3.inverseFrequencies(headDim: config.headDim, base: config.ropeBaseGlobal),
                                     maxPositions: positions)
        } else {
            globalRope = RotaryTable(headDim: config.headDim, base: config.ropeBaseGlobal,
                                     maxPositions: positions, linearScaling: config.ropeScalingGlobal)
        }
        localRope = RotaryTable(headDim: config.headDim, base: config.ropeBaseLocal, maxPositions: positions)
        if arena.format == .bf16 {
            // The products read the arena's bf16 matrices themselves (docs/weights-16bit.md).
            let blocks = (0..<config.layers).flatMap { l -> [String] in
                let n = DecoderLayerNames(config: config, layer: l)
                return [n.q, n.k, n.v, n.o, n.gate, n.up, n.down]
            }
            lowPrecision = try LowPrecisionProducts(resident: arena, names: blocks)
            heads = try BF16Heads(arena: arena, config: config)
        }
    }

    /// A bf16 arena's embedding and output head (nil for f32).
    var heads: BF16Heads?

    public var maxPositions: Int { globalRope.maxPositions }

    /// Which rows leave the last block.
    public enum Outputs {
        /// Every token (full logits, tests, generation prompts).
        case allTokens
        /// Only each sequence's last token: the last block then computes queries, attention output
        /// and MLP for those rows alone (keys and values still need every token).
        case lastTokenOfEachSequence
    }

    /// Runs the embedding, every block and the final norm.
    /// - Parameters:
    ///   - cache: keys and values of earlier positions; each sequence of `batch` continues the
    ///     cache's sequence `cacheSlots[s]` (default: sequence s), and is appended to it.
    /// - Returns: final-normed hidden states, (N, C) for `.allTokens` or (S, C) for the last tokens,
    ///   valid until the workspace is used again.
    public func forward(_ batch: PackedBatch, workspace ws: DecoderWorkspace, outputs: Outputs = .allTokens,
                        cache: KVCache? = nil, cacheSlots: [Int]? = nil) -> UnsafeMutablePointer<Float> {
        let c = config
        let N = batch.tokenCount, C = c.hiddenSize
        precondition(N <= ws.maxTokens, "batch of \(N) tokens exceeds the workspace (\(ws.maxTokens))")
        var offsets = [Int](repeating: 0, count: batch.sequenceCount)   // (S) positions already cached
        if let cache {
            let slots = cacheSlots ?? Array(0..<batch.sequenceCount)
            precondition(slots.count == batch.sequenceCount && slots.allSatisfy { (0..<cache.sequences).contains($0) }
                         && Set(slots).count == slots.count, "one distinct cache sequence per batch sequence")
            if let prefixTuning { prefixTuning.fill(cache, slots: slots) }   // a new sequence's block starts with the prefix
            offsets = slots.map { cache.lengths[$0] }
            precondition(zip(offsets, batch.lengths).allSatisfy { $0 + $1 <= cache.capacity }, "KV cache full")
            cache.feeding = slots
        }
        // Without a cache, the prefix is past positions 0…n−1 of every sequence (PrefixedKeyLayout).
        var prefixed: (all: PrefixedKeyLayout, last: PrefixedKeyLayout)?
        if cache == nil, let prefix = prefixTuning {
            offsets = [Int](repeating: prefix.tokens, count: batch.sequenceCount)
            prefixed = (PrefixedKeyLayout(prefixTokens: prefix.tokens, batch: batch),
                        PrefixedKeyLayout(prefixTokens: prefix.tokens, batch: batch, lastTokenOnly: true))
        }
        precondition(zip(offsets, batch.lengths).allSatisfy { $0 + $1 <= maxPositions }, "sequence longer than \(maxPositions)")

        arena.refreshReadView()
        embed(batch.tokens, into: ws.x)
        var positions = [Int](repeating: 0, count: N)   // (N) position of each row in its sequence
        for (s, start) in batch.starts.enumerated() {
            for i in 0..<batch.lengths[s] { positions[start + i] = offsets[s] + i }
        }
        var rows = N
        for l in 0..<c.layers {
            let compact = outputs == .lastTokenOfEachSequence && l == c.layers - 1
            rows = block(l, batch: batch, positions: positions, compactToLastTokens: compact,
                         workspace: ws, cache: cache, sharedPrefix: nil, prefixed: compact ? prefixed?.last : prefixed?.all)
        }
        if let cache {
            for (s, slot) in cache.feeding.enumerated() { cache.lengths[slot] += batch.lengths[s] }
        }
        rmsNormForward(ws.xn, ws.x, finalNorm, rows: rows, dim: C, eps: c.rmsNormEps, offset: c.normOffset)
        return ws.xn
    }

    /// Runs prompts and their candidate continuations with each prompt computed once: every
    /// continuation attends to its prompt's keys and values and to its own (see `ContinuationBatch`).
    /// - Returns: final-normed hidden states of every row, (N, C), valid until the workspace is used again.
    public func forward(_ batch: ContinuationBatch, workspace ws: DecoderWorkspace,
                        gathered: GatheredKeyValues) -> UnsafeMutablePointer<Float> {
        let c = config
        let N = batch.tokenCount, C = c.hiddenSize
        precondition(N <= ws.maxTokens, "batch of \(N) tokens exceeds the workspace (\(ws.maxTokens))")
        precondition(batch.gatherRows.count <= gathered.capacity, "gathered keys exceed their buffer")
        // With a prefix every block starts with it, and every position moves up by n.
        let n = prefixTuning?.tokens ?? 0
        let prefixed = prefixTuning.map { PrefixedKeyLayout(prefixTokens: $0.tokens, gather: batch.gatherRows, spans: batch.spans) }
        let positions = n == 0 ? batch.positions : batch.positions.map { $0 + n }
        precondition(positions.allSatisfy { $0 < maxPositions }, "sequence longer than \(maxPositions)")
        arena.refreshReadView()
        embed(batch.tokens, into: ws.x)
        let packed = PackedBatch(sequences: [batch.tokens])   // rows only: spans come from `batch`
        for l in 0..<c.layers {
            _ = block(l, batch: packed, positions: positions, compactToLastTokens: false,
                      workspace: ws, cache: nil, sharedPrefix: (batch, gathered), prefixed: prefixed)
        }
        rmsNormForward(ws.xn, ws.x, finalNorm, rows: N, dim: C, eps: c.rmsNormEps, offset: c.normOffset)
        return ws.xn
    }

    /// x[r] = E[token r] · embedding scale.   out: (N, C)
    func embed(_ tokens: [Int32], into out: UnsafeMutablePointer<Float>) {
        let C = config.hiddenSize, scale = config.embeddingScale, V = config.vocabSize
        if let heads { return heads.embed(tokens, into: out, scale: scale) }
        for (r, t) in tokens.enumerated() {
            precondition(t >= 0 && Int(t) < V, "token id \(t) outside the vocabulary (\(V))")
            let src = embedding + Int(t) * C, dst = out + r * C
            for i in 0..<C { dst[i] = src[i] * scale }
        }
    }

    /// One transformer block on the residual stream ws.x. Returns the rows it leaves in ws.x:
    /// N, or S when `compactToLastTokens` gathers each sequence's last row first.
    /// - Parameter prefixed: with prefix tuning and no cache, the blocks of keys that attention
    ///   reads (prefix rows, then the batch's); it replaces `sharedPrefix`'s own gathering.
    func block(_ l: Int, batch: PackedBatch, positions: [Int], compactToLastTokens compact: Bool,
               workspace ws: DecoderWorkspace, cache: KVCache?,
               sharedPrefix: (batch: ContinuationBatch, gathered: GatheredKeyValues)?,
               prefixed: PrefixedKeyLayout? = nil) -> Int {
        let c = config, w = layers[l]
        let N = batch.tokenCount, C = c.hiddenSize, D = c.headDim, I = c.intermediateSize
        let qWidth = c.queryHeads * D, kvWidth = c.kvHeads * D
        let eps = c.rmsNormEps, off = c.normOffset
        let sliding = c.slidingLayers[l]
        let rope = sliding ? localRope : globalRope

        // Attention: keys and values for every token.
        rmsNormForward(ws.xn, ws.x, w.inputNorm, rows: N, dim: C, eps: eps, offset: off)
        linear(ws.xn, w.k, w.kBias, ws.k, rows: N, out: kvWidth, in: C)
        linear(ws.xn, w.v, w.vBias, ws.v, rows: N, out: kvWidth, in: C, sameInput: true)
        if let kn = w.kNorm { rmsNormForward(ws.k, ws.k, kn, rows: N * c.kvHeads, dim: D, eps: eps, offset: off) }
        parallelFor(N, minChunk: 8) { range in
            for r in range { rope.apply(ws.k + r * kvWidth, heads: c.kvHeads, position: positions[r]) }
        }

        // Queries: all rows, or only each sequence's last row (gathered in place: last row s ≥ s).
        let rows: Int
        var queryPositions = positions
        if compact {
            let last = batch.lastRows
            for (s, r) in last.enumerated() where r != s {
                memcpy(ws.xn + s * C, ws.xn + r * C, C * 4)
                memcpy(ws.x + s * C, ws.x + r * C, C * 4)
            }
            rows = last.count
            queryPositions = last.map { positions[$0] }
        } else {
            rows = N
        }
        linear(ws.xn, w.q, w.qBias, ws.q, rows: rows, out: qWidth, in: C, sameInput: !compact)
        if let qn = w.qNorm { rmsNormForward(ws.q, ws.q, qn, rows: rows * c.queryHeads, dim: D, eps: eps, offset: off) }
        parallelFor(rows, minChunk: 8) { range in
            for r in range { rope.apply(ws.q + r * qWidth, heads: c.queryHeads, position: queryPositions[r]) }
        }

        // Keys/values source: this batch, or the cache after appending this batch's rows.
        var keys = UnsafePointer(ws.k), values = UnsafePointer(ws.v)
        var spans: [AttentionSpan] = []
        if let prefixed, let prefix = prefixTuning {
            let blocks = prefix.inferenceBlocks(rows: prefixed.gather.count)
                .gathering(prefixed.gather, keys: ws.k, values: ws.v, prefix: prefix, layer: l)
            keys = UnsafePointer(blocks.keys); values = UnsafePointer(blocks.values)
            spans = prefixed.spans
        } else if let (shared, gathered) = sharedPrefix {
            // Each continuation's keys: a copy of its prompt's rows followed by its own rows.
            for (to, from) in shared.gatherRows.enumerated() {
                memcpy(gathered.keys + to * kvWidth, ws.k + from * kvWidth, kvWidth * 4)
                memcpy(gathered.values + to * kvWidth, ws.v + from * kvWidth, kvWidth * 4)
            }
            keys = UnsafePointer(gathered.keys); values = UnsafePointer(gathered.values)
            spans = shared.spans
        } else if let cache {
            // Sequence s appends its rows to its cache block, and attends to the block.
            for (s, slot) in cache.feeding.enumerated() {
                let start = cache.lengths[slot], n = batch.lengths[s], block = slot * cache.capacity
                memcpy(cache.keys[l] + (block + start) * kvWidth, ws.k + batch.starts[s] * kvWidth, n * kvWidth * 4)
                memcpy(cache.values[l] + (block + start) * kvWidth, ws.v + batch.starts[s] * kvWidth, n * kvWidth * 4)
                spans.append(compact
                    ? AttentionSpan(queryRow: s, queryCount: 1, firstQueryPosition: start + n - 1, keyRow: block, keyCount: start + n)
                    : AttentionSpan(queryRow: batch.starts[s], queryCount: n, firstQueryPosition: start, keyRow: block, keyCount: start + n))
            }
            keys = UnsafePointer(cache.keys[l]); values = UnsafePointer(cache.values[l])
        } else {
            for s in 0..<batch.sequenceCount {
                let start = batch.starts[s], n = batch.lengths[s]
                spans.append(compact
                    ? AttentionSpan(queryRow: s, queryCount: 1, firstQueryPosition: n - 1, keyRow: start, keyCount: n)
                    : AttentionSpan(queryRow: start, queryCount: n, firstQueryPosition: 0, keyRow: start, keyCount: n))
            }
        }
        let geometry = AttentionGeometry(queryHeads: c.queryHeads, kvHeads: c.kvHeads, headDim: D,
                                         scale: c.attentionScale, window: sliding ? c.slidingWindow : nil,
                                         softcap: c.attnLogitSoftcap)
        attentionForward(ws.attention, q: ws.q, k: keys, v: values, spans: spans, geometry: geometry)
        residualBranch(input: ws.attention, weight: w.o, bias: w.oBias, postNorm: w.postAttentionNorm,
                       rows: rows, inWidth: qWidth, workspace: ws)

        // MLP: act(x·Wgᵀ) ⊙ (x·Wuᵀ), then down.
        rmsNormForward(ws.xn, ws.x, w.preMLPNorm, rows: rows, dim: C, eps: eps, offset: off)
        linear(ws.xn, w.gate, w.gateBias, ws.gate, rows: rows, out: I, in: C)
        linear(ws.xn, w.up, w.upBias, ws.up, rows: rows, out: I, in: C, sameInput: true)
        gatedActivationForward(ws.gate, gate: ws.gate, up: ws.up, count: rows * I, activation: activation)
        residualBranch(input: ws.gate, weight: w.down, bias: w.downBias, postNorm: w.postMLPNorm,
                       rows: rows, inWidth: I, workspace: ws)
        return rows
    }

    /// x += [postNorm](input · Wᵀ + b): the closing projection of a sub-block and its residual add.
    ///   input: (rows, inWidth)   weight: (C, inWidth)   ws.x: (rows, C)
    func residualBranch(input: UnsafeMutablePointer<Float>, weight: UnsafeMutablePointer<Float>,
                        bias: UnsafeMutablePointer<Float>?, postNorm: UnsafeMutablePointer<Float>?,
                        rows: Int, inWidth: Int, workspace ws: DecoderWorkspace) {
        let C = config.hiddenSize
        if let postNorm {
            linear(input, weight, bias, ws.projection, rows: rows, out: C, in: inWidth)
            rmsNormForward(ws.projection, ws.projection, postNorm, rows: rows, dim: C,
                           eps: config.rmsNormEps, offset: config.normOffset)
            addForward(ws.x, ws.x, ws.projection, count: rows * C)
        } else {
            // No norm in between: let sgemm add into the residual stream directly (beta = 1).
            linear(input, weight, nil, ws.x, rows: rows, out: C, in: inWidth, accumulate: true)
            if let bias { addRows(ws.x, bias, rows: rows, width: C) }
        }
    }

    /// y = x · Wᵀ (+ b).   x: (rows, in)   W: (out, in)   y: (rows, out)
    /// With bf16 products on (`useBF16Products`), the block matrices go through their bf16 copies;
    /// `sameInput` says x has not changed since the previous product, so its bf16 copy still holds.
    func linear(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>?,
                _ y: UnsafeMutablePointer<Float>, rows: Int, out: Int, in: Int, accumulate: Bool = false,
                sameInput: Bool = false) {
        product(lowPrecision, x, w, y, rows: rows, out: out, in: `in`, accumulate: accumulate, sameInput: sameInput)
        lora?.add(x, weight: w, to: y, rows: rows)   // + s·(x·Aᵀ)·Bᵀ in fp32 when w is adapted
        if let b { addRows(y, b, rows: rows, width: out) }
    }

    /// Runs the block matrices' products (q, k, v, o, gate, up, down) in bf16 from now on (see
    /// `LowPrecisionProducts`).
    /// - Parameter weightsChange: the weights change between forwards (MeZO): round each matrix
    ///   right before its product instead of keeping copies made now.
    public func useBF16Products(weightsChange: Bool = false) throws {
        if arena.format == .bf16 { return }   // already: the products read the bf16 arena
        let c = config, C = c.hiddenSize, I = c.intermediateSize
        let qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        lowPrecision = try LowPrecisionProducts(layers.flatMap { w in
            [(w.q, qw, C), (w.k, kvw, C), (w.v, kvw, C), (w.o, C, qw), (w.gate, I, C), (w.up, I, C), (w.down, C, I)]
        }, convertedOnUse: weightsChange)
    }

    /// Back to fp32 products (drops the bf16 copies).
    /// A bf16 arena's products stay bf16 (there are no f32 weights to multiply by).
    public func useFP32Products() { if arena.format != .bf16 { lowPrecision = nil } }

    /// The arithmetic of the block products now.
    public var precision: Precision { lowPrecision == nil ? .fp32 : .bf16 }

    /// y[r] += b for every row.   y: (rows, width)   b: (width)
    func addRows(_ y: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows { addForward(y + r * width, y + r * width, b, count: width) }
    }
}

extension DecoderModel {
    /// Multiply-add FLOPs (2 per MAC) of the matrix products of one forward pass: the count that
    /// achieved GFLOP/s are reported against. Attention scores and the output head are excluded.
    public func matmulFLOPs(_ batch: PackedBatch, outputs: Outputs) -> Double {
        let c = config
        let C = Double(c.hiddenSize), I = Double(c.intermediateSize)
        let q = Double(c.queryHeads * c.headDim), kv = Double(c.kvHeads * c.headDim)
        let N = Double(batch.tokenCount), S = Double(batch.sequenceCount)
        var total = 0.0
        for l in 0..<c.layers {
            let rows = outputs == .lastTokenOfEachSequence && l == c.layers - 1 ? S : N
            total += 2 * N * C * 2 * kv                  // k, v
            total += 2 * rows * (C * q + q * C + 3 * C * I)   // q, o, gate, up, down
        }
        return total
    }
}
