import Foundation

/// The decoder families the engine runs, keyed by Hugging Face `model_type`, and every fact about a
/// family that code elsewhere asks (the family descriptor): the block's structure, how its weights
/// are stored, its llama.cpp architecture. A new family is a case here with its answers; the
/// layout (`DecoderLayout`), the forward and backward, the memory plan and the GGUF export read
/// these properties instead of testing for a family by name. Config keys and their defaults per
/// family stay in `DecoderConfig.decode`, beside the keys.
public enum DecoderFamily: String, CaseIterable, Sendable {
    /// Gemma-3 text: (1 + w) RMSNorm, q/k norms, four norms per block, GeGLU, scaled embedding,
    /// per-layer sliding/full attention with two RoPE bases.
    case gemma3 = "gemma3_text"
    case llama = "llama"
    /// Llama with q/k/v biases.
    case qwen2 = "qwen2"
    /// Llama with an optional sliding window on every layer.
    case mistral = "mistral"
    /// Llama with a per-head RMSNorm on q and k before RoPE (weights w, not 1 + w) and, by
    /// default, no q/k/v biases.
    case qwen3 = "qwen3"

    /// Whether each attention head's q and k go through an RMSNorm (`q_norm`, `k_norm`) before RoPE.
    public var hasQKNorms: Bool { self == .gemma3 || self == .qwen3 }

    /// Four norms per block ("sandwich"): besides the norms before attention and before the MLP,
    /// one on the attention output and one on the MLP output (Gemma's `post_attention_layernorm`
    /// and `post_feedforward_layernorm`; Llama's `post_attention_layernorm` is the pre-MLP norm).
    public var hasSandwichNorms: Bool { self == .gemma3 }

    /// The checkpoint stores RMSNorm weights as w where the norm scales by (1 + w) (Gemma).
    public var normsStoreOffset: Bool { self == .gemma3 }

    /// Token embeddings are multiplied by √hidden before the first block (Gemma).
    public var scalesEmbedding: Bool { self == .gemma3 }

    /// Q and K are stored in Hugging Face's rotate-half order; llama.cpp's "llama" architecture
    /// wants the interleaved pairs, so GGUF export permutes them (convert_hf_to_gguf.py, LlamaModel).
    public var ggufPermutesRotaryPairs: Bool { ggufArchitecture == "llama" }

    /// llama.cpp's architecture name: Mistral's Hugging Face models convert as "llama".
    public var ggufArchitecture: String {
        switch self {
        case .gemma3: return "gemma3"
        case .llama, .mistral: return "llama"
        case .qwen2: return "qwen2"
        case .qwen3: return "qwen3"
        }
    }

    /// The family's SentencePiece pieces carry their own "▁", so llama.cpp must not add a space
    /// prefix (Gemma3Model.set_vocab writes add_space_prefix false).
    public var sentencePieceHasOwnSpacePrefix: Bool { self == .gemma3 }
}
