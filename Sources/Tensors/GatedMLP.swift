/// Gated activations of GeGLU (Gemma) and SwiGLU (Llama): out = act(gate) · up, elementwise.
public enum GateActivation: String, Sendable {
    case geluTanh   // Gemma's gelu_pytorch_tanh
    case silu       // Llama / Qwen2 / Mistral

    /// Parses a Hugging Face `hidden_act` / `hidden_activation` value.
    public init?(huggingFace name: String) {
        switch name {
        case "gelu_pytorch_tanh", "gelu_tanh", "gelu_new", "gelu_fast": self = .geluTanh
        case "silu", "swish": self = .silu
        default: return nil
        }
    }
}

/// out[i] = act(gate[i]) · up[i].   gate, up, out: (count); `out` may alias `gate`.
public func gatedActivationForward(_ out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>,
                                   up: UnsafePointer<Float>, count: Int, activation: GateActivation,
                                   threads: Int = Threads.count) {
    OpTimer.measure(.activation) {
        parallelFor(count, threads: threads, minChunk: 1 << 14) { range in
            let base = range.lowerBound
            forEachVector(range.count) { i, n in
                let g = loadPartial(gate + base + i, n)
                let u = loadPartial(up + base + i, n)
                let a = activation == .geluTanh ? vgeluTanh(g) : vsilu(g)
                storePartial(a * u, out + base + i, n)
            }
        }
    }
}
