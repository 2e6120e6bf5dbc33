import Weights

/// The Hugging Face tensor names and shapes of a BERT-family encoder, in arena order: the one
/// table that maps checkpoint names to the engine's parameters (docs/ARCHITECTURE.md, decision 7).
///
/// Quirks, each a why:
/// - Checkpoints saved from `BertModel` (sentence-transformers, all-MiniLM-L6-v2) have bare names
///   ("embeddings.word_embeddings.weight"); those saved from a task model (`BertForMaskedLM`, ...)
///   prefix them with "bert." ("roberta." for RoBERTa). The prefix is taken from the file as it is
///   (`EncoderLayout.prefix(in:)`), and the arena keeps the file's names, so export writes them back.
/// - Blocks are post-norm: `attention.output.LayerNorm` normalises x + attention, `output.LayerNorm`
///   normalises x + MLP. The embedding sum has its own `embeddings.LayerNorm`.
/// - `pooler.dense` (tanh on [CLS]) is not used by mean pooling; `embeddings.position_ids` and
///   `embeddings.token_type_ids` are buffers, not parameters. All three are skipped (`ignoredTensors`).
struct EncoderLayerNames {
    let q, qBias, k, kBias, v, vBias: String
    let attentionOut, attentionOutBias, attentionNorm, attentionNormBias: String
    let intermediate, intermediateBias, output, outputBias, outputNorm, outputNormBias: String

    init(prefix: String, layer i: Int) {
        let p = prefix + "encoder.layer.\(i)."
        q = p + "attention.self.query.weight"; qBias = p + "attention.self.query.bias"
        k = p + "attention.self.key.weight"; kBias = p + "attention.self.key.bias"
        v = p + "attention.self.value.weight"; vBias = p + "attention.self.value.bias"
        attentionOut = p + "attention.output.dense.weight"; attentionOutBias = p + "attention.output.dense.bias"
        attentionNorm = p + "attention.output.LayerNorm.weight"; attentionNormBias = p + "attention.output.LayerNorm.bias"
        intermediate = p + "intermediate.dense.weight"; intermediateBias = p + "intermediate.dense.bias"
        output = p + "output.dense.weight"; outputBias = p + "output.dense.bias"
        outputNorm = p + "output.LayerNorm.weight"; outputNormBias = p + "output.LayerNorm.bias"
    }
}

/// Names of the embedding tables and their norm.
struct EncoderEmbeddingNames {
    let words, positions, tokenTypes, norm, normBias: String

    init(prefix: String) {
        let p = prefix + "embeddings."
        words = p + "word_embeddings.weight"
        positions = p + "position_embeddings.weight"
        tokenTypes = p + "token_type_embeddings.weight"
        norm = p + "LayerNorm.weight"
        normBias = p + "LayerNorm.bias"
    }
}

enum EncoderLayout {
    /// Prefixes a checkpoint may put before every name.
    static let knownPrefixes = ["", "bert.", "roberta."]

    /// The prefix of `names` (a checkpoint's tensor names): the one before
    /// "embeddings.word_embeddings.weight", or nil if no known prefix has that tensor.
    static func prefix(in names: [String]) -> String? {
        let set = Set(names)
        return knownPrefixes.first { set.contains($0 + "embeddings.word_embeddings.weight") }
    }

    /// Every parameter, in arena order.
    static func specs(_ c: EncoderConfig, prefix: String) -> [ParameterSpec] {
        let C = c.hiddenSize, I = c.intermediateSize
        let e = EncoderEmbeddingNames(prefix: prefix)
        var specs = [
            ParameterSpec(e.words, [c.vocabSize, C], .embedding),
            ParameterSpec(e.positions, [c.maxPositions, C], .embedding),
            ParameterSpec(e.tokenTypes, [c.typeVocabSize, C], .embedding),
            ParameterSpec(e.norm, [C], .norm),
            ParameterSpec(e.normBias, [C], .bias),
        ]
        for i in 0..<c.layers {
            let n = EncoderLayerNames(prefix: prefix, layer: i)
            specs += [
                ParameterSpec(n.q, [C, C], .matrix), ParameterSpec(n.qBias, [C], .bias),
                ParameterSpec(n.k, [C, C], .matrix), ParameterSpec(n.kBias, [C], .bias),
                ParameterSpec(n.v, [C, C], .matrix), ParameterSpec(n.vBias, [C], .bias),
                ParameterSpec(n.attentionOut, [C, C], .matrix), ParameterSpec(n.attentionOutBias, [C], .bias),
                ParameterSpec(n.attentionNorm, [C], .norm), ParameterSpec(n.attentionNormBias, [C], .bias),
                ParameterSpec(n.intermediate, [I, C], .matrix), ParameterSpec(n.intermediateBias, [I], .bias),
                ParameterSpec(n.output, [C, I], .matrix), ParameterSpec(n.outputBias, [C], .bias),
                ParameterSpec(n.outputNorm, [C], .norm), ParameterSpec(n.outputNormBias, [C], .bias),
            ]
        }
        return specs
    }

    /// Tensors a checkpoint may carry that the engine does not need, with the reason. With a
    /// prefix, the checkpoint is a task model (`BertForMaskedLM`, `RobertaForSequenceClassification`,
    /// ...) and every tensor outside the prefix belongs to its head (`cls.predictions.*`, `lm_head.*`,
    /// `classifier.*`), which sentence embeddings do not use; `names` are the checkpoint's tensors.
    static func ignoredTensors(prefix: String, names: [String] = []) -> [String: String] {
        var ignored = [
            prefix + "pooler.dense.weight": "the [CLS] pooler is not used by mean pooling",
            prefix + "pooler.dense.bias": "the [CLS] pooler is not used by mean pooling",
            prefix + "embeddings.position_ids": "a buffer (0..<max_position_embeddings), recomputed",
            prefix + "embeddings.token_type_ids": "a buffer of zeros, recomputed",
        ]
        if !prefix.isEmpty {
            for name in names where !name.hasPrefix(prefix) {
                ignored[name] = "task head outside \"\(prefix)\": sentence embeddings use the encoder only"
            }
        }
        return ignored
    }
}

/// Pointers into the arena for one block.   C = hidden, I = intermediate.
struct EncoderLayerWeights {
    let q, k, v: UnsafeMutablePointer<Float>                    // (C, C) each
    let qBias, kBias, vBias: UnsafeMutablePointer<Float>        // (C) each
    let attentionOut: UnsafeMutablePointer<Float>               // (C, C)
    let attentionOutBias: UnsafeMutablePointer<Float>           // (C)
    let attentionNorm, attentionNormBias: UnsafeMutablePointer<Float>  // (C), (C)
    let intermediate: UnsafeMutablePointer<Float>               // (I, C)
    let intermediateBias: UnsafeMutablePointer<Float>           // (I)
    let output: UnsafeMutablePointer<Float>                     // (C, I)
    let outputBias: UnsafeMutablePointer<Float>                 // (C)
    let outputNorm, outputNormBias: UnsafeMutablePointer<Float> // (C), (C)

    init(arena a: ParameterArena, names n: EncoderLayerNames) {
        q = a[n.q]; k = a[n.k]; v = a[n.v]
        qBias = a[n.qBias]; kBias = a[n.kBias]; vBias = a[n.vBias]
        attentionOut = a[n.attentionOut]; attentionOutBias = a[n.attentionOutBias]
        attentionNorm = a[n.attentionNorm]; attentionNormBias = a[n.attentionNormBias]
        intermediate = a[n.intermediate]; intermediateBias = a[n.intermediateBias]
        output = a[n.output]; outputBias = a[n.outputBias]
        outputNorm = a[n.outputNorm]; outputNormBias = a[n.outputNormBias]
    }
}
