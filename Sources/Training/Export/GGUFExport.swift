import Foundation
import Models
import Tokenizers
import Weights

/// Writes a decoder's current weights as one GGUF file for llama.cpp, Ollama and LM Studio, with
/// llama.cpp's tensor names, hyperparameter keys and conventions (its conversion/ folder:
/// `TextModel.set_gguf_parameters` and `prepare_tensors` in base.py, `LlamaModel` in llama.py,
/// `Gemma3Model` in gemma.py, `Qwen2Model`/`Qwen3Model` in qwen.py) and the tokenizer embedded
/// (`GGUFVocabulary`). Written in Swift so that `export` needs no Python at run time; the tests read
/// the file back with the `gguf` package and transformers.
///
/// Conventions, each a why:
/// - Gemma's RMSNorm scales by (1 + w); llama.cpp's multiplies by the stored weight, so every Gemma
///   norm weight is stored as 1 + w (`Gemma3Model.norm_shift`).
/// - llama.cpp's Llama rotates pairs of adjacent q/k dimensions (GPT-J style), Hugging Face's the two
///   halves of each head: q_proj and k_proj rows are permuted per head (`LlamaModel.permute`).
///   Qwen and Gemma use llama.cpp's NEOX rotation, which is Hugging Face's: no permutation.
/// - Llama 3's frequency scaling is a tensor, `rope_freqs.weight`, of per-frequency divisors
///   (`LlamaModel.generate_extra_tensors`).
/// - Norms, biases and other 1-D tensors stay f32 whatever the type; a matrix whose rows are not
///   whole Q8_0 blocks of 32 falls back to f16, as in llama.cpp's converter.
public enum GGUFExport {
    /// What `--type` names: the encoding of the matrices.
    public static let types: [String: GGMLType] = ["f32": .f32, "f16": .f16, "bf16": .bf16, "q8_0": .q8_0]

    /// Writes `model`'s weights and `tokenizer` (loaded from `baseDirectory`) to `path`. Returns the
    /// notes on settings llama.cpp cannot represent (empty when it runs the model as we do).
    @discardableResult
    public static func write(model: DecoderModel, tokenizer: Tokenizer, baseDirectory: String, to path: String,
                             type: GGMLType, name: String) throws -> [String] {
        let c = model.config
        let arch = c.family.ggufArchitecture
        var metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string(arch)),
            ("general.type", .string("model")),
            ("general.name", .string(name)),
            ("general.file_type", .uint32(type.fileType)),
            ("general.quantization_version", .uint32(2)),
        ]
        metadata += hyperparameters(c, arch: arch)
        metadata += try GGUFVocabulary.metadata(modelDirectory: baseDirectory, tokenizer: tokenizer, config: c)

        // Transformed copies (norms + 1, permuted q/k) live until the file is written.
        var copies: [UnsafeMutableBufferPointer<Float>] = []
        defer { copies.forEach { $0.deallocate() } }
        func copy(_ values: UnsafeBufferPointer<Float>, _ transform: (UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void)
            -> UnsafeBufferPointer<Float> {
            let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
            transform(values, out)
            copies.append(out)
            return UnsafeBufferPointer(out)
        }

        var tensors: [GGUFTensor] = []
        for slot in model.arena.slots {
            let ggufName = try tensorName(slot.name, family: c.family)
            var data: UnsafeBufferPointer<Float>
            if slot.isHalf {   // a bf16 arena's matrix: widened exactly for the GGML encoder
                let bits = model.arena.halfPointer(slot)
                let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: slot.count)
                BFloat16.widen(bits, into: out.baseAddress!, count: slot.count)
                copies.append(out)
                data = UnsafeBufferPointer(out)
            } else {
                data = UnsafeBufferPointer(model.arena.buffer(slot))
            }
            if c.family.normsStoreOffset, slot.name.hasSuffix("norm.weight") {   // llama.cpp stores 1 + w
                data = copy(data) { from, to in for i in from.indices { to[i] = from[i] + 1 } }
            }
            if c.family.ggufPermutesRotaryPairs, let heads = permutedHeads(slot.name, c) {
                data = copy(data) { from, to in permuteRotaryPairs(from, into: to, heads: heads, rowLength: slot.shape.count > 1 ? slot.shape[1] : 1) }
            }
            tensors.append(GGUFTensor(name: ggufName, shape: slot.shape, type: tensorType(ggufName, shape: slot.shape, requested: type), data: data))
        }
        if let scaling = c.llama3RopeScaling {
            let factors = llama3RopeFactors(scaling, headDim: c.headDim, base: c.ropeBaseGlobal)
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: factors.count)
            _ = buffer.initialize(from: factors)
            copies.append(buffer)
            tensors.append(GGUFTensor(name: "rope_freqs.weight", shape: [factors.count], type: .f32, data: UnsafeBufferPointer(buffer)))
        }
        try GGUFWriter.write(path: path, metadata: metadata, tensors: tensors)
        return unrepresentable(c)
    }

    /// The `{arch}.*` keys llama.cpp reads for these architectures.
    static func hyperparameters(_ c: DecoderConfig, arch: String) -> [(String, GGUFValue)] {
        var out: [(String, GGUFValue)] = [
            ("\(arch).block_count", .uint32(UInt32(c.layers))),
            ("\(arch).context_length", .uint32(UInt32(c.maxPositions))),
            ("\(arch).embedding_length", .uint32(UInt32(c.hiddenSize))),
            ("\(arch).feed_forward_length", .uint32(UInt32(c.intermediateSize))),
            ("\(arch).attention.head_count", .uint32(UInt32(c.queryHeads))),
            ("\(arch).attention.head_count_kv", .uint32(UInt32(c.kvHeads))),
            ("\(arch).rope.freq_base", .float32(c.ropeBaseGlobal)),
            ("\(arch).attention.layer_norm_rms_epsilon", .float32(c.rmsNormEps)),
            ("\(arch).attention.key_length", .uint32(UInt32(c.headDim))),
            ("\(arch).attention.value_length", .uint32(UInt32(c.headDim))),
        ]
        if arch == "llama" {
            out.append(("llama.vocab_size", .uint32(UInt32(c.vocabSize))))
            out.append(("llama.rope.dimension_count", .uint32(UInt32(c.headDim))))
        }
        if c.ropeScalingGlobal != 1 {
            out.append(("\(arch).rope.scaling.type", .string("linear")))
            out.append(("\(arch).rope.scaling.factor", .float32(c.ropeScalingGlobal)))
        }
        if arch == "gemma3" {   // keys of llama.cpp's gemma3 graph
            if let window = c.slidingWindow, c.slidingLayers.contains(true) {
                out.append(("gemma3.attention.sliding_window", .uint32(UInt32(window))))
                // Per layer, so configs other than llama.cpp's default pattern (5 sliding, 1 full) load as trained.
                out.append(("gemma3.attention.sliding_window_pattern", .bools(c.slidingLayers)))
                out.append(("gemma3.rope.freq_base_swa", .float32(c.ropeBaseLocal)))
            }
            if let softcap = c.finalLogitSoftcap { out.append(("gemma3.final_logit_softcapping", .float32(softcap))) }
        }
        return out
    }

    /// Settings of `c` llama.cpp's graph for its architecture does not read, so a model that uses
    /// them would run differently there (said, not refused: transformers reads the file with the
    /// base model's config).
    static func unrepresentable(_ c: DecoderConfig) -> [String] {
        var notes: [String] = []
        let gemma3 = c.family.ggufArchitecture == "gemma3"   // what llama.cpp's gemma3 graph reads
        if gemma3, let scalar = c.queryPreAttnScalar, scalar != Float(c.headDim) {
            notes.append("query_pre_attn_scalar \(scalar) ≠ head_dim \(c.headDim): llama.cpp scales Gemma-3 attention by 1/sqrt(head_dim)")
        }
        if !gemma3, c.slidingWindow != nil, c.slidingLayers.contains(true) {
            notes.append("sliding-window attention: llama.cpp's \(c.family.ggufArchitecture) attends to every earlier token")
        }
        if c.attnLogitSoftcap != nil { notes.append("attention logit soft-capping: not read by llama.cpp") }
        return notes
    }

    /// Hugging Face name → llama.cpp name (gguf-py's tensor_mapping.py for these architectures).
    static func tensorName(_ hf: String, family: DecoderFamily) throws -> String {
        switch hf {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        let parts = hf.split(separator: ".")
        guard parts.count >= 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]) else {
            throw RunError("no GGUF name for tensor \(hf)")
        }
        let module = parts[3..<(parts.count - 1)].joined(separator: "."), suffix = parts.last!
        let sandwich = family.hasSandwichNorms
        let names: [String: String] = [
            "input_layernorm": "attn_norm",
            "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
            "self_attn.o_proj": "attn_output",
            "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
            // Llama's post_attention_layernorm is the norm before the MLP; Gemma's is on the attention output.
            "post_attention_layernorm": sandwich ? "post_attention_norm" : "ffn_norm",
            "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
            "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
        ]
        guard let name = names[module] else { throw RunError("no GGUF name for tensor \(hf)") }
        return "blk.\(layer).\(name).\(suffix)"
    }

    /// llama.cpp's choice per tensor (`prepare_tensors`): f32 for 1-D tensors, norms and biases;
    /// the requested type otherwise, f16 where rows are not whole Q8_0 blocks.
    static func tensorType(_ name: String, shape: [Int], requested: GGMLType) -> GGMLType {
        if shape.count <= 1 || name.hasSuffix("_norm.weight") || !name.hasSuffix(".weight") { return .f32 }
        if requested == .q8_0, shape.last! % 32 != 0 { return .f16 }
        return requested
    }

    /// Heads whose rows `LlamaModel.permute` reorders: q_proj (query heads) and k_proj (kv heads).
    static func permutedHeads(_ hf: String, _ c: DecoderConfig) -> Int? {
        if hf.hasSuffix("self_attn.q_proj.weight") || hf.hasSuffix("self_attn.q_proj.bias") { return c.queryHeads }
        if hf.hasSuffix("self_attn.k_proj.weight") || hf.hasSuffix("self_attn.k_proj.bias") { return c.kvHeads }
        return nil
    }

    /// `reshape(heads, 2, D/2, rest).swapaxes(1, 2)`: within each head, row s·D/2 + j moves to 2j + s,
    /// so that the halves Hugging Face rotates together become the adjacent pairs llama.cpp rotates.
    static func permuteRotaryPairs(_ from: UnsafeBufferPointer<Float>, into to: UnsafeMutableBufferPointer<Float>,
                                   heads: Int, rowLength: Int) {
        let rows = from.count / rowLength
        let headRows = rows / heads, half = headRows / 2
        for h in 0..<heads {
            for s in 0..<2 {
                for j in 0..<half {
                    let source = (h * headRows + s * half + j) * rowLength
                    let target = (h * headRows + 2 * j + s) * rowLength
                    for k in 0..<rowLength { to[target + k] = from[source + k] }
                }
            }
        }
    }

    /// `LlamaModel.generate_extra_tensors`: per frequency, the divisor Llama 3 applies (1 for short
    /// wavelengths, `factor` for long ones, a smooth blend between), in f32 as PyTorch computes it.
    static func llama3RopeFactors(_ s: Llama3RopeScaling, headDim: Int, base: Float) -> [Float] {
        let old = Float(s.originalMaxPositions)
        let lowWavelength = old / s.lowFrequencyFactor, highWavelength = old / s.highFrequencyFactor
        return stride(from: 0, to: headDim, by: 2).map { i -> Float in
            let frequency = 1 / pow(base, Float(i) / Float(headDim))
            let wavelength = 2 * Float.pi / frequency
            if wavelength < highWavelength { return 1 }
            if wavelength > lowWavelength { return s.factor }
            let smooth = (old / wavelength - s.lowFrequencyFactor) / (s.highFrequencyFactor - s.lowFrequencyFactor)
            return 1 / ((1 - smooth) / s.factor + smooth)
        }
    }
}
