import Foundation
import Tensors
import Weights

/// What a training step minimises.
public enum TrainingTarget: Sendable {
    /// Mean next-token cross-entropy over every token that has a successor in its sequence
    /// (N − S terms for N tokens in S sequences): Hugging Face's causal-LM loss with labels = ids.
    case nextToken
    /// The SST-2 loss (docs/ARCHITECTURE.md, decision 4): at each sequence's last token only the logits of the
    /// K candidate ids enter a K-way softmax; loss = mean over sequences of −log softmax(z)[label].
    /// Only those K rows of the output head get a gradient. `labels` index into `ids`, one per sequence.
    case candidates(ids: [Int32], labels: [Int])
}

/// Backpropagation through a `DecoderModel`: a training forward that keeps what backward needs
/// (`DecoderActivations`), the loss heads, and the backward pass in llm.c style (each op's
/// `*Backward` kernel from Tensors, in reverse order). The inference forward is not used, so the
/// eval/MeZO path stays allocation-free.
///
/// Gradients go to a second arena with the model's layout (`DecoderModel.makeArena(config:)`), by
/// Hugging Face name; for tied models the embedding slot receives input and output-head gradients.
public final class DecoderTrainer {
    public let model: DecoderModel
    public let maxTokens: Int
    public let activations: DecoderActivations
    let scratch: DecoderGradientScratch
    /// (headRows, V) logits of a chunk of rows, for full-vocabulary heads only (allocated on first use).
    var logitsChunk: TaggedBuffer?
    let headRows: Int
    /// Keys, values and their gradients copied per attention block, for continuation batches only
    /// (`TrainingKeyBlocks`; allocated on first use, grown when a batch needs more rows).
    var keyBlocks: TrainingKeyBlocks?
    /// With the base frozen (LoRA): where the norms' unused weight gradients go.   (max(C, D))
    let frozenSink: TaggedBuffer?

    /// Bytes of activations and backward scratch (with the logits chunk once `.nextToken` used it).
    public var byteCount: Int {
        activations.byteCount + scratch.byteCount + (logitsChunk?.byteCount ?? 0) + (keyBlocks?.byteCount ?? 0)
    }

    public init(model: DecoderModel, maxTokens: Int) {
        self.model = model
        self.maxTokens = maxTokens
        activations = DecoderActivations(config: model.config, maxTokens: maxTokens)
        scratch = DecoderGradientScratch(config: model.config, maxTokens: maxTokens)
        // ≤ 16 M floats (64 MB) of logits at a time: 64 rows of Gemma's 262,144-word vocabulary.
        headRows = max(1, min(maxTokens, (1 << 24) / model.config.vocabSize))
        frozenSink = model.baseIsFrozen ? TaggedBuffer(floats: max(model.config.hiddenSize, model.config.headDim), tag: .scratch) : nil
    }

    /// Checks `gradients` has the layout of what trains (`model.trainableArena`).
    func checkGradientLayout(_ gradients: ParameterArena) {
        let arena = model.trainableArena
        precondition(gradients.count == arena.count && gradients.slots.count == arena.slots.count
                     && zip(gradients.slots, arena.slots).allSatisfy { $0.name == $1.name && $0.offset == $1.offset },
                     "the gradient arena must have the layout of the trained parameters (model.trainableArena)")
    }

    /// The output head's gradient: nil when the base is frozen.   (V, C)
    func headGradient(_ gradients: ParameterArena) -> UnsafeMutablePointer<Float>? {
        guard !model.baseIsFrozen else { return nil }
        return model.config.tieWordEmbeddings ? gradients[DecoderLayout.embedding] : gradients[DecoderLayout.outputHead]
    }

    /// Runs the training forward on `batch`, then backward for `target`.
    /// - Parameters:
    ///   - gradients: an arena laid out like `model.trainableArena` (the model's, or its adapters'
    ///     when the base is frozen); receives d loss / d parameter.
    ///   - accumulate: add to `gradients` instead of overwriting them (micro-batches).
    /// - Returns: the loss (mean over its terms, see `TrainingTarget`).
    @discardableResult
    public func lossAndGradients(batch: PackedBatch, target: TrainingTarget, gradients: ParameterArena,
                                 accumulate: Bool = false) -> Float {
        checkGradientLayout(gradients)
        let N = batch.tokenCount
        precondition(N <= maxTokens, "batch of \(N) tokens exceeds the trainer (\(maxTokens))")
        precondition(batch.lengths.allSatisfy { $0 + model.prefixTokens <= model.maxPositions },
                     "sequence longer than \(model.maxPositions - model.prefixTokens)")
        if !accumulate {
            let g = gradients.storage
            parallelFor(gradients.count, minChunk: 1 << 16) { r in (g + r.lowerBound).update(repeating: 0, count: r.count) }
        }

        var positions = [Int](repeating: 0, count: N)   // (N) position of each row in its sequence
        var spans: [AttentionSpan] = []
        for (s, start) in batch.starts.enumerated() {
            let n = batch.lengths[s]
            for i in 0..<n { positions[start + i] = i }
            spans.append(AttentionSpan(queryRow: start, queryCount: n, firstQueryPosition: 0, keyRow: start, keyCount: n))
        }
        // Prefix tuning: each sequence's keys in a block behind the prefix's, positions from n.
        var gather: [Int]? = nil
        if let prefix = model.prefixTuning {
            let layout = PrefixedKeyLayout(prefixTokens: prefix.tokens, batch: batch)
            (gather, spans) = (layout.gather, layout.spans)
            positions = positions.map { $0 + prefix.tokens }
            reserveKeyBlocks(layout.gather.count)
        }

        forward(tokens: batch.tokens, positions: positions, spans: spans, gather: gather)
        let loss: Double
        let dHead = headGradient(gradients)
        switch target {
        case .nextToken:
            loss = nextTokenHead(batch, dHidden: scratch.dBranch, dHead: dHead)
        case .candidates(let ids, let labels):
            loss = candidateHead(batch, ids: ids, labels: labels, dHidden: scratch.dBranch, dHead: dHead)
        }
        backward(tokens: batch.tokens, positions: positions, spans: spans, gather: gather, gradients: gradients)
        return Float(loss)
    }

    /// Makes `keyBlocks` hold at least `rows` gathered key rows.
    func reserveKeyBlocks(_ rows: Int) {
        if (keyBlocks?.capacity ?? 0) < rows {
            keyBlocks = TrainingKeyBlocks(config: model.config, capacity: max(rows, 2 * (keyBlocks?.capacity ?? 0)))
        }
    }

    // MARK: - Forward, keeping activations

    private var c: DecoderConfig { model.config }

    /// - Parameter gather: nil when each span's keys are its own query rows (whole packed sequences);
    ///   else the source row of every key row the spans read (`TrainingKeyBlocks`).
    func forward(tokens: [Int32], positions: [Int], spans: [AttentionSpan], gather: [Int]?) {
        let a = activations, N = tokens.count
        model.embed(tokens, into: a.layerInput[0])
        for l in 0..<c.layers { forwardLayer(l, rows: N, positions: positions, spans: spans, gather: gather) }
        rmsNormForward(a.hidden, a.layerInput[c.layers], model.finalNorm, rows: N, dim: c.hiddenSize,
                       eps: c.rmsNormEps, offset: c.normOffset)
    }

    /// The block of `DecoderModel.block` (all rows), writing each stored value to its activation view.
    func forwardLayer(_ l: Int, rows N: Int, positions: [Int], spans: [AttentionSpan], gather: [Int]?) {
        let a = activations, t = scratch, w = model.layers[l]
        let C = c.hiddenSize, I = c.intermediateSize, eps = c.rmsNormEps, off = c.normOffset
        let qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        let x = a.layerInput[l], mid = a.middle[l], next = a.layerInput[l + 1]

        // Attention sub-block: mid = x + [postNorm](o_proj(attention(inputNorm(x))))
        rmsNormForward(t.normed, x, w.inputNorm, rows: N, dim: C, eps: eps, offset: off)
        model.linear(t.normed, w.q, w.qBias, a.qPre[l], rows: N, out: qw, in: C)
        model.linear(t.normed, w.k, w.kBias, a.kPre[l], rows: N, out: kvw, in: C)
        model.linear(t.normed, w.v, w.vBias, a.v[l], rows: N, out: kvw, in: C)
        rotatedQueriesAndKeys(l, rows: N, positions: positions)
        if let gather {
            let blocks = keyBlocks!.gathering(gather, keys: t.k, values: a.v[l], prefix: model.prefixTuning, layer: l)
            attentionForward(a.attention[l], q: t.q, k: blocks.keys, v: blocks.values, spans: spans, geometry: geometry(l))
        } else {
            attentionForward(a.attention[l], q: t.q, k: t.k, v: a.v[l], spans: spans, geometry: geometry(l))
        }
        memcpy(mid, x, N * C * 4)
        if let pn = w.postAttentionNorm, let proj = a.attentionProjection[l] {
            model.linear(a.attention[l], w.o, w.oBias, proj, rows: N, out: C, in: qw)
            rmsNormForward(t.normed, proj, pn, rows: N, dim: C, eps: eps, offset: off)
            addForward(mid, mid, t.normed, count: N * C)
        } else {
            model.linear(a.attention[l], w.o, w.oBias, mid, rows: N, out: C, in: qw, accumulate: true)
        }

        // MLP sub-block: next = mid + [postNorm](down(act(gate(h)) ⊙ up(h))), h = preMLPNorm(mid)
        rmsNormForward(t.normed, mid, w.preMLPNorm, rows: N, dim: C, eps: eps, offset: off)
        model.linear(t.normed, w.gate, w.gateBias, a.gate[l], rows: N, out: I, in: C)
        model.linear(t.normed, w.up, w.upBias, a.up[l], rows: N, out: I, in: C)
        gatedActivationForward(t.activated, gate: a.gate[l], up: a.up[l], count: N * I, activation: model.activation)
        memcpy(next, mid, N * C * 4)
        if let pn = w.postMLPNorm, let proj = a.mlpProjection[l] {
            model.linear(t.activated, w.down, w.downBias, proj, rows: N, out: C, in: I)
            rmsNormForward(t.normed, proj, pn, rows: N, dim: C, eps: eps, offset: off)
            addForward(next, next, t.normed, count: N * C)
        } else {
            model.linear(t.activated, w.down, w.downBias, next, rows: N, out: C, in: I, accumulate: true)
        }
    }

    /// scratch.q, scratch.k = RoPE([q/k-norm](qPre, kPre)) of layer l: what attention saw.
    func rotatedQueriesAndKeys(_ l: Int, rows N: Int, positions: [Int]) {
        let a = activations, t = scratch, w = model.layers[l]
        let D = c.headDim, H = c.queryHeads, KV = c.kvHeads
        let qw = H * D, kvw = KV * D
        if let qn = w.qNorm {
            rmsNormForward(t.q, a.qPre[l], qn, rows: N * H, dim: D, eps: c.rmsNormEps, offset: c.normOffset)
        } else {
            memcpy(t.q, a.qPre[l], N * qw * 4)
        }
        if let kn = w.kNorm {
            rmsNormForward(t.k, a.kPre[l], kn, rows: N * KV, dim: D, eps: c.rmsNormEps, offset: c.normOffset)
        } else {
            memcpy(t.k, a.kPre[l], N * kvw * 4)
        }
        let rope = c.slidingLayers[l] ? model.localRope : model.globalRope
        parallelFor(N, minChunk: 8) { range in
            for r in range {
                rope.apply(t.q + r * qw, heads: H, position: positions[r])
                rope.apply(t.k + r * kvw, heads: KV, position: positions[r])
            }
        }
    }

    func geometry(_ l: Int) -> AttentionGeometry {
        AttentionGeometry(queryHeads: c.queryHeads, kvHeads: c.kvHeads, headDim: c.headDim,
                          scale: c.attentionScale, window: c.slidingLayers[l] ? c.slidingWindow : nil,
                          softcap: c.attnLogitSoftcap)
    }

    // MARK: - Loss heads: loss, d loss / d hidden (N, C), and the output head's gradient

    /// Full-vocabulary logits, `headRows` rows at a time: logits, softmax cross-entropy and both
    /// gradients per chunk, so memory stays bounded for a 262k vocabulary.
    func nextTokenHead(_ batch: PackedBatch, dHidden: UnsafeMutablePointer<Float>,
                       dHead: UnsafeMutablePointer<Float>?) -> Double {
        let N = batch.tokenCount, C = c.hiddenSize, V = c.vocabSize
        var targets = [Int32](repeating: -1, count: N)   // (N) next token, −1 at each sequence's end
        for (s, start) in batch.starts.enumerated() {
            for i in 0..<(batch.lengths[s] - 1) { targets[start + i] = batch.tokens[start + i + 1] }
        }
        let terms = N - batch.sequenceCount
        guard terms > 0 else {
            dHidden.update(repeating: 0, count: N * C)
            return 0
        }
        if logitsChunk == nil { logitsChunk = TaggedBuffer(floats: headRows * V, tag: .scratch) }
        let logits = logitsChunk!.base, hidden = activations.hidden, head = model.outputHead
        var total: Double = 0
        targets.withUnsafeBufferPointer { tg in
            for r0 in stride(from: 0, to: N, by: headRows) {
                let rows = min(headRows, N - r0)
                BLAS.linear(hidden + r0 * C, head, logits, m: rows, n: V, k: C)   // (rows, V)
                total += crossEntropyBackward(logits, targets: tg.baseAddress! + r0, rows: rows, classes: V,
                                              weight: 1 / Float(terms), softcap: c.finalLogitSoftcap)
                // dHidden (rows, C) = dLogits (rows, V) · head (V, C);  dHead (V, C) += dLogitsᵀ · hidden
                linearBackward(dx: dHidden + r0 * C, dw: dHead, db: nil, dy: logits, x: hidden + r0 * C,
                               w: head, rows: rows, out: V, in: C)
            }
        }
        return total / Double(terms)
    }

    /// Only the K candidate rows of the output head, at each sequence's last row (docs/ARCHITECTURE.md,
    /// decision 4): z = h · W[ids]ᵀ, loss = mean_s (logΣexp(z_s) − z_s[label_s]).
    func candidateHead(_ batch: PackedBatch, ids: [Int32], labels: [Int], dHidden: UnsafeMutablePointer<Float>,
                       dHead: UnsafeMutablePointer<Float>?) -> Double {
        let N = batch.tokenCount, C = c.hiddenSize, K = ids.count, S = batch.sequenceCount
        precondition(K > 0 && ids.allSatisfy { $0 >= 0 && Int($0) < c.vocabSize }, "candidate ids outside the vocabulary")
        precondition(labels.count == S, "one label per sequence (\(labels.count) labels, \(S) sequences)")
        precondition(labels.allSatisfy { (0..<K).contains($0) }, "labels index the candidate ids")
        dHidden.update(repeating: 0, count: N * C)
        let hidden = activations.hidden, head = model.outputHead
        var total: Double = 0
        var z = [Float](repeating: 0, count: K), t = z   // (K) capped logits, tanh(z / cap)
        for (s, r) in batch.lastRows.enumerated() {
            let h = hidden + r * C
            for k in 0..<K {
                z[k] = dot(h, head + Int(ids[k]) * C, C)
                if let cap = c.finalLogitSoftcap {
                    t[k] = tanhf(z[k] / cap)
                    z[k] = cap * t[k]
                }
            }
            let m = Double(z.max()!)
            let e = z.map { Foundation.exp(Double($0) - m) }
            let sum = e.reduce(0, +)
            total += Foundation.log(sum) + m - Double(z[labels[s]])
            for k in 0..<K {
                var dz = Float((e[k] / sum - (k == labels[s] ? 1 : 0)) / Double(S))
                if c.finalLogitSoftcap != nil { dz *= 1 - t[k] * t[k] }
                axpy(dz, head + Int(ids[k]) * C, dHidden + r * C, C)
                if let dHead { axpy(dz, h, dHead + Int(ids[k]) * C, C) }
            }
        }
        return total / Double(S)
    }

    // MARK: - Backward

    func backward(tokens: [Int32], positions: [Int], spans: [AttentionSpan], gather: [Int]?, gradients: ParameterArena) {
        let a = activations, t = scratch, N = tokens.count, C = c.hiddenSize
        let frozen = frozenSink?.base   // non-nil: only the adapters (in `gradients`) train
        // d hidden (in dBranch) → d residual stream entering the final norm
        rmsNormBackward(dx: t.dStream, dw: frozen ?? gradients[DecoderLayout.finalNorm], dy: t.dBranch,
                        x: a.layerInput[c.layers], w: model.finalNorm, rows: N, dim: C,
                        eps: c.rmsNormEps, offset: c.normOffset)
        for l in (0..<c.layers).reversed() {
            let g = frozen.map { DecoderLayerGradients(frozen: model.layers[l], sink: $0) }
                ?? DecoderLayerGradients(arena: gradients, names: DecoderLayerNames(config: c, layer: l))
            backwardLayer(l, rows: N, positions: positions, spans: spans, gather: gather, gradients: g, adapters: gradients)
        }
        if frozen == nil {
            embeddingBackward(dEmbedding: gradients[DecoderLayout.embedding], dx: t.dStream, tokens: tokens,
                              dim: C, scale: c.embeddingScale)
        }
    }

    /// t.dStream: d loss / d (output of layer l) in, d loss / d (input of layer l) out.
    /// - Parameter adapters: the gradient arena, where LoRA's dA, dB go (`LoRALayers.backward`).
    func backwardLayer(_ l: Int, rows N: Int, positions: [Int], spans: [AttentionSpan], gather: [Int]?,
                       gradients g: DecoderLayerGradients, adapters: ParameterArena) {
        let a = activations, t = scratch, w = model.layers[l]
        // The adapter term of a product (nothing without LoRA); after the base dx, which it adds to.
        func lora(_ weight: UnsafePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
            model.lora?.backward(weight: weight, dy: dy, x: x, dx: dx, rows: N, gradients: adapters)
        }
        let C = c.hiddenSize, I = c.intermediateSize, D = c.headDim, H = c.queryHeads, KV = c.kvHeads
        let qw = H * D, kvw = KV * D, eps = c.rmsNormEps, off = c.normOffset

        // MLP sub-block. The residual add passes dStream through unchanged to `mid`; the branch:
        var dDown = UnsafePointer(t.dStream)   // d loss / d down_proj output
        if let pn = w.postMLPNorm, let proj = a.mlpProjection[l], let dpn = g.postMLPNorm {
            rmsNormBackward(dx: t.dBranch, dw: dpn, dy: t.dStream, x: proj, w: pn, rows: N, dim: C, eps: eps, offset: off)
            dDown = UnsafePointer(t.dBranch)
        }
        gatedActivationForward(t.activated, gate: a.gate[l], up: a.up[l], count: N * I, activation: model.activation)
        linearBackward(dx: t.dGate, dw: g.down, db: g.downBias, dy: dDown, x: t.activated, w: w.down,
                       rows: N, out: C, in: I)
        lora(w.down, dy: dDown, x: t.activated, dx: t.dGate)
        gatedActivationBackward(dGate: t.dGate, dUp: t.dUp, dOut: t.dGate, gate: a.gate[l], up: a.up[l],
                                count: N * I, activation: model.activation)
        rmsNormForward(t.normed, a.middle[l], w.preMLPNorm, rows: N, dim: C, eps: eps, offset: off)
        linearBackward(dx: t.dBranch, dw: g.gate, db: g.gateBias, dy: t.dGate, x: t.normed, w: w.gate,
                       rows: N, out: I, in: C)
        lora(w.gate, dy: t.dGate, x: t.normed, dx: t.dBranch)
        linearBackward(dx: t.dBranch, dw: g.up, db: g.upBias, dy: t.dUp, x: t.normed, w: w.up,
                       rows: N, out: I, in: C, accumulateInput: true)
        lora(w.up, dy: t.dUp, x: t.normed, dx: t.dBranch)
        rmsNormBackward(dx: t.dStream, dw: g.preMLPNorm, dy: t.dBranch, x: a.middle[l], w: w.preMLPNorm,
                        rows: N, dim: C, eps: eps, offset: off, accumulate: true)

        // Attention sub-block; dStream is now d loss / d mid.
        var dProjection = UnsafePointer(t.dStream)   // d loss / d o_proj output
        if let pn = w.postAttentionNorm, let proj = a.attentionProjection[l], let dpn = g.postAttentionNorm {
            rmsNormBackward(dx: t.dBranch, dw: dpn, dy: t.dStream, x: proj, w: pn, rows: N, dim: C, eps: eps, offset: off)
            dProjection = UnsafePointer(t.dBranch)
        }
        linearBackward(dx: t.dAttention, dw: g.o, db: g.oBias, dy: dProjection, x: a.attention[l], w: w.o,
                       rows: N, out: C, in: qw)
        lora(w.o, dy: dProjection, x: a.attention[l], dx: t.dAttention)
        rotatedQueriesAndKeys(l, rows: N, positions: positions)
        if let gather {
            // Per-block key gradients, then each summed into the row its key was copied from.
            let blocks = keyBlocks!.gathering(gather, keys: t.k, values: a.v[l], prefix: model.prefixTuning, layer: l)
            attentionBackward(dQ: t.dQ, dK: blocks.dKeys, dV: blocks.dValues, dOut: t.dAttention, q: t.q,
                              k: blocks.keys, v: blocks.values, spans: spans, geometry: geometry(l))
            // Prefix rows' key/value gradients go to the prefix (in `adapters`: the prefix arena's layout).
            blocks.scatterAdd(gather, dKeys: t.dK, dValues: t.dV, rows: N, prefix: model.prefixTuning, layer: l,
                              prefixGradients: adapters)
        } else {
            attentionBackward(dQ: t.dQ, dK: t.dK, dV: t.dV, dOut: t.dAttention, q: t.q, k: t.k, v: a.v[l],
                              spans: spans, geometry: geometry(l))
        }
        let rope = c.slidingLayers[l] ? model.localRope : model.globalRope
        parallelFor(N, minChunk: 8) { range in
            for r in range {
                rope.applyInverse(t.dQ + r * qw, heads: H, position: positions[r])
                rope.applyInverse(t.dK + r * kvw, heads: KV, position: positions[r])
            }
        }
        if let qn = w.qNorm, let dqn = g.qNorm {
            rmsNormBackward(dx: t.dQ, dw: dqn, dy: t.dQ, x: a.qPre[l], w: qn, rows: N * H, dim: D, eps: eps, offset: off)
        }
        if let kn = w.kNorm, let dkn = g.kNorm {
            rmsNormBackward(dx: t.dK, dw: dkn, dy: t.dK, x: a.kPre[l], w: kn, rows: N * KV, dim: D, eps: eps, offset: off)
        }
        rmsNormForward(t.normed, a.layerInput[l], w.inputNorm, rows: N, dim: C, eps: eps, offset: off)
        linearBackward(dx: t.dBranch, dw: g.q, db: g.qBias, dy: t.dQ, x: t.normed, w: w.q, rows: N, out: qw, in: C)
        lora(w.q, dy: t.dQ, x: t.normed, dx: t.dBranch)
        linearBackward(dx: t.dBranch, dw: g.k, db: g.kBias, dy: t.dK, x: t.normed, w: w.k, rows: N, out: kvw, in: C,
                       accumulateInput: true)
        lora(w.k, dy: t.dK, x: t.normed, dx: t.dBranch)
        linearBackward(dx: t.dBranch, dw: g.v, db: g.vBias, dy: t.dV, x: t.normed, w: w.v, rows: N, out: kvw, in: C,
                       accumulateInput: true)
        lora(w.v, dy: t.dV, x: t.normed, dx: t.dBranch)
        rmsNormBackward(dx: t.dStream, dw: g.inputNorm, dy: t.dBranch, x: a.layerInput[l], w: w.inputNorm,
                        rows: N, dim: C, eps: eps, offset: off, accumulate: true)
    }
}
