import Foundation
import Tensors
import Weights

extension DecoderModel {
    /// The projections `targets` name in every block, in arena order (layer by layer, targets in
    /// `LoRATarget` order): Hugging Face's module names, which are also peft's.
    public func loraModules(_ targets: [LoRATarget]) -> [LoRAModule] {
        let c = config, C = c.hiddenSize, I = c.intermediateSize
        let qw = c.queryHeads * c.headDim, kvw = c.kvHeads * c.headDim
        return (0..<c.layers).flatMap { l -> [LoRAModule] in
            let n = DecoderLayerNames(config: c, layer: l), w = layers[l]
            return targets.map { t in
                let (name, weight, out, inp): (String, UnsafeMutablePointer<Float>, Int, Int)
                switch t {
                case .q: (name, weight, out, inp) = (n.q, w.q, qw, C)
                case .k: (name, weight, out, inp) = (n.k, w.k, kvw, C)
                case .v: (name, weight, out, inp) = (n.v, w.v, kvw, C)
                case .o: (name, weight, out, inp) = (n.o, w.o, C, qw)
                case .gate: (name, weight, out, inp) = (n.gate, w.gate, I, C)
                case .up: (name, weight, out, inp) = (n.up, w.up, I, C)
                case .down: (name, weight, out, inp) = (n.down, w.down, C, I)
                }
                return LoRAModule(module: String(name.dropLast(".weight".count)), target: t, weight: weight, out: out, in: inp)
            }
        }
    }
}

/// Where the backward pass writes one block's parameter gradients. Training the whole model:
/// every slot of a gradient arena with the model's layout. With the base frozen (LoRA): no matrix
/// or bias gradient at all (linearBackward skips dW, and no buffer of the weights' size exists),
/// and the norms' dw, which their kernels always accumulate, go to one small throw-away row.
struct DecoderLayerGradients {
    let inputNorm, preMLPNorm: UnsafeMutablePointer<Float>     // (C)
    let q, k, v, o, gate, up, down: UnsafeMutablePointer<Float>?
    let qBias, kBias, vBias, oBias, gateBias, upBias, downBias: UnsafeMutablePointer<Float>?
    let qNorm, kNorm: UnsafeMutablePointer<Float>?              // (D)
    let postAttentionNorm, postMLPNorm: UnsafeMutablePointer<Float>?   // (C)

    /// Every parameter's gradient, in `arena` (the model's layout).
    init(arena a: ParameterArena, names n: DecoderLayerNames) {
        let w = DecoderLayerWeights(arena: a, names: n)
        (inputNorm, preMLPNorm) = (w.inputNorm, w.preMLPNorm)
        (q, k, v, o, gate, up, down) = (w.q, w.k, w.v, w.o, w.gate, w.up, w.down)
        (qBias, kBias, vBias, oBias) = (w.qBias, w.kBias, w.vBias, w.oBias)
        (gateBias, upBias, downBias) = (w.gateBias, w.upBias, w.downBias)
        (qNorm, kNorm, postAttentionNorm, postMLPNorm) = (w.qNorm, w.kNorm, w.postAttentionNorm, w.postMLPNorm)
    }

    /// A frozen block of `weights`: its norms (where it has them) write to `sink`, (max(C, D)) floats.
    init(frozen weights: DecoderLayerWeights, sink: UnsafeMutablePointer<Float>) {
        (inputNorm, preMLPNorm) = (sink, sink)
        (q, k, v, o, gate, up, down) = (nil, nil, nil, nil, nil, nil, nil)
        (qBias, kBias, vBias, oBias, gateBias, upBias, downBias) = (nil, nil, nil, nil, nil, nil, nil)
        qNorm = weights.qNorm.map { _ in sink }
        kNorm = weights.kNorm.map { _ in sink }
        postAttentionNorm = weights.postAttentionNorm.map { _ in sink }
        postMLPNorm = weights.postMLPNorm.map { _ in sink }
    }
}
