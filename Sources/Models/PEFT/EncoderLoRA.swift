import Foundation
import Tensors
import Weights

extension EncoderModel {
    /// BERT's module for each LoRA target (peft's names for BertModel): q, k, v are
    /// attention.self.query/key/value, o is attention.output.dense, up is intermediate.dense and
    /// down is output.dense. BERT's MLP has no gate.
    public func loraModules(_ targets: [LoRATarget]) throws -> [LoRAModule] {
        if targets.contains(.gate) {
            throw ModelError("LoRA target \"gate\": \(config.family.rawValue) (a BERT-family encoder) has no gate projection; "
                             + "its targets are q, k, v, o, up (intermediate.dense), down (output.dense)")
        }
        let C = config.hiddenSize, I = config.intermediateSize
        return (0..<config.layers).flatMap { l -> [LoRAModule] in
            let n = EncoderLayerNames(prefix: prefix, layer: l), w = layers[l]
            return targets.map { t in
                let (name, weight, out, inp): (String, UnsafeMutablePointer<Float>, Int, Int)
                switch t {
                case .q: (name, weight, out, inp) = (n.q, w.q, C, C)
                case .k: (name, weight, out, inp) = (n.k, w.k, C, C)
                case .v: (name, weight, out, inp) = (n.v, w.v, C, C)
                case .o: (name, weight, out, inp) = (n.attentionOut, w.attentionOut, C, C)
                case .up: (name, weight, out, inp) = (n.intermediate, w.intermediate, I, C)
                case .down: (name, weight, out, inp) = (n.output, w.output, C, I)
                case .gate: preconditionFailure("refused above")
                }
                return LoRAModule(module: String(name.dropLast(".weight".count)), target: t, weight: weight, out: out, in: inp)
            }
        }
    }
}

/// Where the encoder's backward writes one block's gradients: every slot of a gradient arena with
/// the model's layout, or, with the base frozen (LoRA), no matrix or bias gradient and the two
/// LayerNorms' (w, b) into a throw-away pair of rows.
struct EncoderLayerGradients {
    let q, k, v, attentionOut, intermediate, output: UnsafeMutablePointer<Float>?
    let qBias, kBias, vBias, attentionOutBias, intermediateBias, outputBias: UnsafeMutablePointer<Float>?
    let attentionNorm, attentionNormBias, outputNorm, outputNormBias: UnsafeMutablePointer<Float>   // (C)

    init(arena a: ParameterArena, names n: EncoderLayerNames) {
        let w = EncoderLayerWeights(arena: a, names: n)
        (q, k, v, attentionOut, intermediate, output) = (w.q, w.k, w.v, w.attentionOut, w.intermediate, w.output)
        (qBias, kBias, vBias) = (w.qBias, w.kBias, w.vBias)
        (attentionOutBias, intermediateBias, outputBias) = (w.attentionOutBias, w.intermediateBias, w.outputBias)
        (attentionNorm, attentionNormBias, outputNorm, outputNormBias) = (w.attentionNorm, w.attentionNormBias, w.outputNorm, w.outputNormBias)
    }

    /// - Parameter sink: (2C) floats: LayerNorm weights' gradients in the first C, biases' in the rest.
    init(frozenSink sink: UnsafeMutablePointer<Float>, hidden C: Int) {
        (q, k, v, attentionOut, intermediate, output) = (nil, nil, nil, nil, nil, nil)
        (qBias, kBias, vBias, attentionOutBias, intermediateBias, outputBias) = (nil, nil, nil, nil, nil, nil)
        (attentionNorm, attentionNormBias, outputNorm, outputNormBias) = (sink, sink + C, sink, sink + C)
    }
}
