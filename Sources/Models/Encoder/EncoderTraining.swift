import Foundation
import Tensors
import Weights

/// Backpropagation through an `EncoderModel` for the label-description objective: a training
/// forward that keeps what backward needs (`EncoderActivations`), the cosine / temperature
/// cross-entropy head, and the backward pass op by op in reverse (Tensors' `*Backward` kernels).
///
/// The batch holds the K label descriptions first, then the S training sentences, all packed:
///   z[i, k] = u[K + i] · u[k] / T     (u: unit-length sentence embeddings, so u · u' = cosine)
///   loss = mean over i of −log softmax(z[i])[labels[i]]
/// Both sides of every cosine get gradients, as the descriptions go through the same weights.
///
/// Gradients go to a second arena with the model's layout (`EncoderModel.makeArena(config:prefix:)`).
public final class EncoderTrainer {
    public let model: EncoderModel
    public let maxTokens: Int
    public let activations: EncoderActivations
    let scratch: EncoderGradientScratch

    /// With the base frozen (LoRA): where the LayerNorms' unused gradients go.   (2C)
    let frozenSink: TaggedBuffer?
    /// Prefix tuning: one layer's keys and values behind the prefix's, and their gradients
    /// (allocated on first use, grown when a batch needs more rows).
    var keyBlocks: TrainingKeyBlocks?

    public var byteCount: Int { activations.byteCount + scratch.byteCount + (keyBlocks?.byteCount ?? 0) }

    public init(model: EncoderModel, maxTokens: Int) {
        self.model = model
        self.maxTokens = maxTokens
        activations = EncoderActivations(config: model.config, maxTokens: maxTokens)
        scratch = EncoderGradientScratch(config: model.config, maxTokens: maxTokens)
        frozenSink = model.baseIsFrozen ? TaggedBuffer(floats: 2 * model.config.hiddenSize, tag: .scratch) : nil
    }

    private var c: EncoderConfig { model.config }

    /// Training forward, loss and backward.
    /// - Parameters:
    ///   - batch: K description sequences, then one sequence per label.
    ///   - descriptionCount: K.
    ///   - labels: (S) label of each sentence, indexing the descriptions.
    ///   - gradients: an arena laid out like `model.trainableArena` (the model's, or its adapters'
    ///     when the base is frozen); receives d loss / d parameter.
    ///   - accumulate: add to `gradients` instead of overwriting them.
    /// - Returns: the mean cross-entropy.
    @discardableResult
    public func lossAndGradients(batch: PackedBatch, descriptionCount K: Int, labels: [Int], temperature: Float,
                                 gradients: ParameterArena, accumulate: Bool = false) -> Float {
        let arena = model.trainableArena
        precondition(gradients.count == arena.count && gradients.slots.count == arena.slots.count
                     && zip(gradients.slots, arena.slots).allSatisfy { $0.name == $1.name && $0.offset == $1.offset },
                     "the gradient arena must have the layout of the trained parameters (model.trainableArena)")
        precondition(batch.tokenCount <= maxTokens, "batch of \(batch.tokenCount) tokens exceeds the trainer (\(maxTokens))")
        precondition(batch.lengths.allSatisfy { $0 <= model.maxSequenceLength }, "sequence longer than \(model.maxSequenceLength)")
        precondition(K >= 2 && labels.count == batch.sequenceCount - K, "K descriptions, then one sentence per label")
        precondition(labels.allSatisfy { (0..<K).contains($0) }, "labels index the descriptions")
        precondition(temperature > 0)
        if !accumulate {
            let g = gradients.storage
            parallelFor(gradients.count, minChunk: 1 << 16) { r in (g + r.lowerBound).update(repeating: 0, count: r.count) }
        }
        var spans = model.spans(batch)
        var gather: [Int]? = nil   // prefix tuning: each sequence's keys behind the prefix's (PrefixedKeyLayout)
        if let prefix = model.prefixTuning {
            let layout = PrefixedKeyLayout(prefixTokens: prefix.tokens, batch: batch)
            (gather, spans) = (layout.gather, layout.spans)
            if (keyBlocks?.capacity ?? 0) < layout.gather.count {
                keyBlocks = TrainingKeyBlocks(width: prefix.width, capacity: max(layout.gather.count, 2 * (keyBlocks?.capacity ?? 0)))
            }
        }
        forward(batch, spans: spans, gather: gather)
        let loss = cosineHead(batch, descriptionCount: K, labels: labels, temperature: temperature)
        backward(batch, spans: spans, gather: gather, gradients: gradients)
        return Float(loss)
    }

    // MARK: - Forward, keeping activations

    /// - Parameter gather: with prefix tuning, the source of every key row the spans read (`TrainingKeyBlocks`).
    func forward(_ batch: PackedBatch, spans: [AttentionSpan], gather: [Int]? = nil) {
        let a = activations, N = batch.tokenCount, C = c.hiddenSize, I = c.intermediateSize, eps = c.layerNormEps
        embeddingSum(batch, into: a.embeddingSum)
        layerNormForward(a.layerInput[0], a.embeddingSum, model.embeddingNorm, model.embeddingNormBias,
                         rows: N, dim: C, eps: eps)
        for l in 0..<c.layers {
            let w = model.layers[l], x = a.layerInput[l]
            model.linear(x, w.q, w.qBias, a.q[l], rows: N, out: C, in: C)
            model.linear(x, w.k, w.kBias, a.k[l], rows: N, out: C, in: C)
            model.linear(x, w.v, w.vBias, a.v[l], rows: N, out: C, in: C)
            if let gather {
                let blocks = keyBlocks!.gathering(gather, keys: a.k[l], values: a.v[l], prefix: model.prefixTuning, layer: l)
                attentionForward(a.context[l], q: a.q[l], k: blocks.keys, v: blocks.values, spans: spans, geometry: model.geometry)
            } else {
                attentionForward(a.context[l], q: a.q[l], k: a.k[l], v: a.v[l], spans: spans, geometry: model.geometry)
            }
            memcpy(a.attentionSum[l], x, N * C * 4)
            BLAS.linear(a.context[l], w.attentionOut, a.attentionSum[l], m: N, n: C, k: C, accumulate: true)
            model.lora?.add(a.context[l], weight: w.attentionOut, to: a.attentionSum[l], rows: N)
            model.addRows(a.attentionSum[l], w.attentionOutBias, rows: N, width: C)
            layerNormForward(a.middle[l], a.attentionSum[l], w.attentionNorm, w.attentionNormBias, rows: N, dim: C, eps: eps)

            model.linear(a.middle[l], w.intermediate, w.intermediateBias, a.preActivation[l], rows: N, out: I, in: C)
            geluForward(scratch.activated, a.preActivation[l], count: N * I)
            memcpy(a.mlpSum[l], a.middle[l], N * C * 4)
            BLAS.linear(scratch.activated, w.output, a.mlpSum[l], m: N, n: C, k: I, accumulate: true)
            model.lora?.add(scratch.activated, weight: w.output, to: a.mlpSum[l], rows: N)
            model.addRows(a.mlpSum[l], w.outputBias, rows: N, width: C)
            layerNormForward(a.layerInput[l + 1], a.mlpSum[l], w.outputNorm, w.outputNormBias, rows: N, dim: C, eps: eps)
        }
        meanPoolForward(a.pooled, a.layerInput[c.layers], starts: batch.starts, lengths: batch.lengths, dim: C)
        l2NormalizeForward(a.embeddings, a.pooled, rows: batch.sequenceCount, dim: C)
    }

    /// The embedding sum before its norm, as `EncoderModel.embed` computes it.   out: (N, C)
    func embeddingSum(_ batch: PackedBatch, into out: UnsafeMutablePointer<Float>) {
        let C = c.hiddenSize, offset = c.positionOffset + model.prefixTokens   // positions from n behind a prefix
        for s in 0..<batch.sequenceCount {
            for i in 0..<batch.lengths[s] {
                let r = batch.starts[s] + i, t = batch.tokens[r]
                precondition(t >= 0 && Int(t) < c.vocabSize, "token id \(t) outside the vocabulary (\(c.vocabSize))")
                let w = model.words + Int(t) * C, p = model.positions + (offset + i) * C, dst = out + r * C
                for j in 0..<C { dst[j] = w[j] + p[j] + model.tokenTypes[j] }
            }
        }
    }

    // MARK: - Loss head

    /// The loss; leaves d loss / d last hidden state in `scratch.dStream` (through the L2 norm and
    /// the mean pooling of every sequence, descriptions included).
    func cosineHead(_ batch: PackedBatch, descriptionCount K: Int, labels: [Int], temperature T: Float) -> Double {
        let a = activations, C = c.hiddenSize, S = labels.count, rows = batch.sequenceCount
        let u = a.embeddings
        let du = scratch.dMiddle   // (K + S, C) d loss / d unit embedding
        du.update(repeating: 0, count: rows * C)
        var total = 0.0
        for (i, label) in labels.enumerated() {
            let ui = u + (K + i) * C
            let z = (0..<K).map { Double(dot(ui, u + $0 * C, C) / T) }
            let m = z.max()!
            let e = z.map { Foundation.exp($0 - m) }
            let sum = e.reduce(0, +)
            total += Foundation.log(sum) + m - z[label]
            for k in 0..<K {
                let dz = Float((e[k] / sum - (k == label ? 1 : 0)) / Double(S)) / T
                axpy(dz, u + k * C, du + (K + i) * C, C)   // z = u_i · u_k / T
                axpy(dz, ui, du + k * C, C)
            }
        }
        l2NormalizeBackward(dx: scratch.dSum, du: du, x: a.pooled, rows: rows, dim: C)
        meanPoolBackward(dx: scratch.dStream, dPooled: scratch.dSum, starts: batch.starts, lengths: batch.lengths, dim: C)
        return total / Double(S)
    }

    // MARK: - Backward

    func backward(_ batch: PackedBatch, spans: [AttentionSpan], gather: [Int]? = nil, gradients: ParameterArena) {
        let a = activations, t = scratch, N = batch.tokenCount, C = c.hiddenSize, I = c.intermediateSize
        let eps = c.layerNormEps
        // The adapter term of a product (nothing without LoRA); after the base dx, which it adds to.
        func lora(_ weight: UnsafePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
            model.lora?.backward(weight: weight, dy: dy, x: x, dx: dx, rows: N, gradients: gradients)
        }
        for l in (0..<c.layers).reversed() {
            let w = model.layers[l]
            let g = frozenSink.map { EncoderLayerGradients(frozenSink: $0.base, hidden: C) }
                ?? EncoderLayerGradients(arena: gradients, names: EncoderLayerNames(prefix: model.prefix, layer: l))
            // t.dStream = d output of layer l.  output.LayerNorm → d mlpSum
            layerNormBackward(dx: t.dSum, dw: g.outputNorm, db: g.outputNormBias, dy: t.dStream,
                              x: a.mlpSum[l], w: w.outputNorm, rows: N, dim: C, eps: eps)
            // mlpSum = middle + GELU(pre) · Woutᵀ + b
            geluForward(t.activated, a.preActivation[l], count: N * I)
            linearBackward(dx: t.dHidden, dw: g.output, db: g.outputBias, dy: t.dSum, x: t.activated, w: w.output,
                           rows: N, out: C, in: I)
            lora(w.output, dy: t.dSum, x: t.activated, dx: t.dHidden)
            geluBackward(dx: t.dHidden, dy: t.dHidden, x: a.preActivation[l], count: N * I)
            memcpy(t.dMiddle, t.dSum, N * C * 4)   // the residual path
            linearBackward(dx: t.dMiddle, dw: g.intermediate, db: g.intermediateBias, dy: t.dHidden, x: a.middle[l],
                           w: w.intermediate, rows: N, out: I, in: C, accumulateInput: true)
            lora(w.intermediate, dy: t.dHidden, x: a.middle[l], dx: t.dMiddle)
            // attention.output.LayerNorm → d attentionSum
            layerNormBackward(dx: t.dSum, dw: g.attentionNorm, db: g.attentionNormBias, dy: t.dMiddle,
                              x: a.attentionSum[l], w: w.attentionNorm, rows: N, dim: C, eps: eps)
            // attentionSum = x + context · Woᵀ + b
            linearBackward(dx: t.dContext, dw: g.attentionOut, db: g.attentionOutBias, dy: t.dSum, x: a.context[l],
                           w: w.attentionOut, rows: N, out: C, in: C)
            lora(w.attentionOut, dy: t.dSum, x: a.context[l], dx: t.dContext)
            if let gather {
                // Per-block key gradients: the sequence's rows back to dK/dV, the prefix's summed into its gradient.
                let blocks = keyBlocks!.gathering(gather, keys: a.k[l], values: a.v[l], prefix: model.prefixTuning, layer: l)
                attentionBackward(dQ: t.dQ, dK: blocks.dKeys, dV: blocks.dValues, dOut: t.dContext, q: a.q[l],
                                  k: blocks.keys, v: blocks.values, spans: spans, geometry: model.geometry)
                blocks.scatterAdd(gather, dKeys: t.dK, dValues: t.dV, rows: N, prefix: model.prefixTuning, layer: l,
                                  prefixGradients: gradients)
            } else {
                attentionBackward(dQ: t.dQ, dK: t.dK, dV: t.dV, dOut: t.dContext, q: a.q[l], k: a.k[l], v: a.v[l],
                                  spans: spans, geometry: model.geometry)
            }
            memcpy(t.dStream, t.dSum, N * C * 4)   // the residual path
            let x = a.layerInput[l]
            linearBackward(dx: t.dStream, dw: g.q, db: g.qBias, dy: t.dQ, x: x, w: w.q, rows: N, out: C, in: C, accumulateInput: true)
            linearBackward(dx: t.dStream, dw: g.k, db: g.kBias, dy: t.dK, x: x, w: w.k, rows: N, out: C, in: C, accumulateInput: true)
            linearBackward(dx: t.dStream, dw: g.v, db: g.vBias, dy: t.dV, x: x, w: w.v, rows: N, out: C, in: C, accumulateInput: true)
            lora(w.q, dy: t.dQ, x: x, dx: t.dStream)
            lora(w.k, dy: t.dK, x: x, dx: t.dStream)
            lora(w.v, dy: t.dV, x: x, dx: t.dStream)
        }
        guard frozenSink == nil else { return }   // LoRA: no embedding gradients
        // Embedding norm, then the three tables: one scatter-add each.
        let e = EncoderEmbeddingNames(prefix: model.prefix)
        layerNormBackward(dx: t.dSum, dw: gradients[e.norm], db: gradients[e.normBias], dy: t.dStream,
                          x: a.embeddingSum, w: model.embeddingNorm, rows: N, dim: C, eps: eps)
        embeddingBackward(dEmbedding: gradients[e.words], dx: t.dSum, tokens: batch.tokens, dim: C, scale: 1)
        var positionRows = [Int32](repeating: 0, count: N)   // (N) row of the position table each token read
        for s in 0..<batch.sequenceCount {
            for i in 0..<batch.lengths[s] { positionRows[batch.starts[s] + i] = Int32(c.positionOffset + model.prefixTokens + i) }
        }
        embeddingBackward(dEmbedding: gradients[e.positions], dx: t.dSum, tokens: positionRows, dim: C, scale: 1)
        embeddingBackward(dEmbedding: gradients[e.tokenTypes], dx: t.dSum, tokens: [Int32](repeating: 0, count: N),
                          dim: C, scale: 1)
    }
}
