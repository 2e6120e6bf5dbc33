import Weights

/// The Hugging Face tensor names and shapes of a decoder, in arena order: the one table that maps
/// checkpoint names to the engine's parameters (docs/ARCHITECTURE.md, decision 7).
///
/// Quirks, each a why:
/// - Gemma-3 has four norms per block: `input_layernorm` (before attention),
///   `post_attention_layernorm` (on the attention output, before the residual add),
///   `pre_feedforward_layernorm` and `post_feedforward_layernorm` around the MLP.
/// - Llama's `post_attention_layernorm` is, despite its name, the norm *before* the MLP; it maps to
///   the same slot as Gemma's `pre_feedforward_layernorm`.
/// - Tied models (Gemma, small Qwen2) have no `lm_head.weight`: the output projection is the
///   embedding matrix. If a tied checkpoint carries one anyway it is ignored (`ignoredTensors`).
/// - Gemma's norm weights are stored as w and applied as (1 + w) (DecoderConfig.normOffset);
///   Qwen3's q/k norms sit in the same slots as Gemma's but scale by w.
struct DecoderLayerNames {
    let inputNorm, q, k, v, o, preMLPNorm, gate, up, down: String
    let qBias, kBias, vBias, oBias: String?
    let qNorm, kNorm, postAttentionNorm, postMLPNorm: String?
    let gateBias, upBias, downBias: String?

    init(config c: DecoderConfig, layer i: Int) {
        let p = "model.layers.\(i)."
        let sandwich = c.family.hasSandwichNorms
        inputNorm = p + "input_layernorm.weight"
        q = p + "self_attn.q_proj.weight"
        k = p + "self_attn.k_proj.weight"
        v = p + "self_attn.v_proj.weight"
        o = p + "self_attn.o_proj.weight"
        // Qwen2 has q/k/v biases but an unbiased o_proj; Llama's attention_bias covers all four.
        qBias = c.attentionBias ? p + "self_attn.q_proj.bias" : nil
        kBias = c.attentionBias ? p + "self_attn.k_proj.bias" : nil
        vBias = c.attentionBias ? p + "self_attn.v_proj.bias" : nil
        oBias = c.attentionBias && c.family != .qwen2 ? p + "self_attn.o_proj.bias" : nil
        // Gemma-3 and Qwen3 normalise each head's q and k (weights (D), shared by the heads).
        qNorm = c.family.hasQKNorms ? p + "self_attn.q_norm.weight" : nil
        kNorm = c.family.hasQKNorms ? p + "self_attn.k_norm.weight" : nil
        postAttentionNorm = sandwich ? p + "post_attention_layernorm.weight" : nil
        preMLPNorm = p + (sandwich ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight")
        postMLPNorm = sandwich ? p + "post_feedforward_layernorm.weight" : nil
        gate = p + "mlp.gate_proj.weight"
        up = p + "mlp.up_proj.weight"
        down = p + "mlp.down_proj.weight"
        gateBias = c.mlpBias ? p + "mlp.gate_proj.bias" : nil
        upBias = c.mlpBias ? p + "mlp.up_proj.bias" : nil
        downBias = c.mlpBias ? p + "mlp.down_proj.bias" : nil
    }
}

enum DecoderLayout {
    static let embedding = "model.embed_tokens.weight"
    static let finalNorm = "model.norm.weight"
    static let outputHead = "lm_head.weight"

    /// Every parameter, in arena order.
    static func specs(_ c: DecoderConfig) -> [ParameterSpec] {
        let C = c.hiddenSize, I = c.intermediateSize, D = c.headDim
        let qOut = c.queryHeads * D, kvOut = c.kvHeads * D
        var specs = [ParameterSpec(embedding, [c.vocabSize, C], .embedding)]
        for i in 0..<c.layers {
            let n = DecoderLayerNames(config: c, layer: i)
            specs.append(ParameterSpec(n.inputNorm, [C], .norm))
            specs.append(ParameterSpec(n.q, [qOut, C], .matrix))
            if let b = n.qBias { specs.append(ParameterSpec(b, [qOut], .bias)) }
            specs.append(ParameterSpec(n.k, [kvOut, C], .matrix))
            if let b = n.kBias { specs.append(ParameterSpec(b, [kvOut], .bias)) }
            specs.append(ParameterSpec(n.v, [kvOut, C], .matrix))
            if let b = n.vBias { specs.append(ParameterSpec(b, [kvOut], .bias)) }
            if let qn = n.qNorm, let kn = n.kNorm {
                specs.append(ParameterSpec(qn, [D], .norm))
                specs.append(ParameterSpec(kn, [D], .norm))
            }
            specs.append(ParameterSpec(n.o, [C, qOut], .matrix))
            if let b = n.oBias { specs.append(ParameterSpec(b, [C], .bias)) }
            if let pn = n.postAttentionNorm { specs.append(ParameterSpec(pn, [C], .norm)) }
            specs.append(ParameterSpec(n.preMLPNorm, [C], .norm))
            specs.append(ParameterSpec(n.gate, [I, C], .matrix))
            if let b = n.gateBias { specs.append(ParameterSpec(b, [I], .bias)) }
            specs.append(ParameterSpec(n.up, [I, C], .matrix))
            if let b = n.upBias { specs.append(ParameterSpec(b, [I], .bias)) }
            specs.append(ParameterSpec(n.down, [C, I], .matrix))
            if let b = n.downBias { specs.append(ParameterSpec(b, [C], .bias)) }
            if let pn = n.postMLPNorm { specs.append(ParameterSpec(pn, [C], .norm)) }
        }
        specs.append(ParameterSpec(finalNorm, [C], .norm))
        if !c.tieWordEmbeddings { specs.append(ParameterSpec(outputHead, [c.vocabSize, C], .matrix)) }
        return specs
    }

    /// Tensors a checkpoint may carry that the engine does not need, with the reason.
    static func ignoredTensors(_ c: DecoderConfig) -> [String: String] {
        var ignored: [String: String] = [:]
        if c.tieWordEmbeddings { ignored[outputHead] = "tied to model.embed_tokens.weight" }
        for i in 0..<c.layers {
            ignored["model.layers.\(i).self_attn.rotary_emb.inv_freq"] = "recomputed from rope_theta"
        }
        return ignored
    }
}

/// Pointers into the arena for one block.   C = hidden, I = intermediate, D = head dim.
struct DecoderLayerWeights {
    let inputNorm: UnsafeMutablePointer<Float>           // (C)
    let q, k, v: UnsafeMutablePointer<Float>              // (Hq·D, C), (Hkv·D, C), (Hkv·D, C)
    let qBias, kBias, vBias: UnsafeMutablePointer<Float>? // (Hq·D), (Hkv·D), (Hkv·D)
    let qNorm, kNorm: UnsafeMutablePointer<Float>?        // (D)
    let o: UnsafeMutablePointer<Float>                    // (C, Hq·D)
    let oBias: UnsafeMutablePointer<Float>?               // (C)
    let postAttentionNorm: UnsafeMutablePointer<Float>?   // (C)
    let preMLPNorm: UnsafeMutablePointer<Float>           // (C)
    let gate, up: UnsafeMutablePointer<Float>             // (I, C)
    let gateBias, upBias: UnsafeMutablePointer<Float>?    // (I)
    let down: UnsafeMutablePointer<Float>                 // (C, I)
    let downBias: UnsafeMutablePointer<Float>?            // (C)
    let postMLPNorm: UnsafeMutablePointer<Float>?         // (C)

    /// For a bf16 arena the matrices' pointers are keys of their bf16 products and the norms and
    /// biases point into the arena's read view (`ParameterArena.readAddress`).
    init(arena a: ParameterArena, names n: DecoderLayerNames) {
        func opt(_ name: String?) -> UnsafeMutablePointer<Float>? { name.map { a.readAddress($0) } }
        inputNorm = a.readAddress(n.inputNorm)
        q = a.readAddress(n.q); k = a.readAddress(n.k); v = a.readAddress(n.v); o = a.readAddress(n.o)
        qBias = opt(n.qBias); kBias = opt(n.kBias); vBias = opt(n.vBias); oBias = opt(n.oBias)
        qNorm = opt(n.qNorm); kNorm = opt(n.kNorm)
        postAttentionNorm = opt(n.postAttentionNorm)
        preMLPNorm = a.readAddress(n.preMLPNorm)
        gate = a.readAddress(n.gate); up = a.readAddress(n.up); down = a.readAddress(n.down)
        gateBias = opt(n.gateBias); upBias = opt(n.upBias); downBias = opt(n.downBias)
        postMLPNorm = opt(n.postMLPNorm)
    }
}
