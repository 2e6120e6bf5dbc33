import Foundation
import Tensors
import Weights

/// The backprop reference optimizers (issue 4): each updates a parameter arena in place from a
/// gradient arena with the same layout. Weight decay, as in MeZO, applies to matrices and
/// embeddings only (norm scales and biases keep theirs), so both paths decay the same parameters.
public protocol FirstOrderOptimizer: AnyObject {
    /// θ ← update(θ, ∇L) at learning rate `lr`; `gradients` has the arena's layout.
    func step(gradients: ParameterArena, lr: Float)
    /// Arenas of optimizer state (AdamW's moments), by name, for snapshots and resume.
    var state: [String: ParameterArena] { get }
    /// Steps applied so far (AdamW's bias correction depends on it).
    var stepsTaken: Int { get set }
}

/// Plain SGD: θ −= lr·(∇L + wd·θ), no momentum. With the default wd = 0 this is exactly θ −= lr·∇L.
public final class SGD: FirstOrderOptimizer {
    public let arena: ParameterArena
    public let weightDecay: Float
    public var stepsTaken = 0
    public var state: [String: ParameterArena] { [:] }
    let segments: [ArenaSegment]

    public init(arena: ParameterArena, weightDecay: Float = 0) {
        self.arena = arena
        self.weightDecay = weightDecay
        segments = ArenaSegment.split(arena)
    }

    public func step(gradients: ParameterArena, lr: Float) {
        let theta = arena.storage, g = gradients.storage
        for s in segments {
            let wd = s.decayed ? weightDecay : 0
            parallelFor(s.range.count, minChunk: 1 << 15) { r in
                for i in (s.range.lowerBound + r.lowerBound)..<(s.range.lowerBound + r.upperBound) {
                    theta[i] -= lr * (g[i] + wd * theta[i])
                }
            }
        }
        stepsTaken += 1
    }
}

/// AdamW (Loshchilov & Hutter; PyTorch's `torch.optim.AdamW` update):
/// m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  θ ← θ·(1 − lr·wd) − lr·m̂/(√v̂ + ε),
/// with m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ). The moments are two arenas tagged `optimizer`.
public final class AdamW: FirstOrderOptimizer {
    public let arena: ParameterArena
    public let beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float
    public let m: ParameterArena   // first moment, the arena's layout
    public let v: ParameterArena   // second moment, the arena's layout
    public var stepsTaken = 0
    public var state: [String: ParameterArena] { ["m": m, "v": v] }
    let segments: [ArenaSegment]

    public init(arena: ParameterArena, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: Float = 0) {
        self.arena = arena
        (self.beta1, self.beta2, self.epsilon, self.weightDecay) = (beta1, beta2, epsilon, weightDecay)
        m = arena.sameLayout(tag: .optimizer)
        v = arena.sameLayout(tag: .optimizer)
        segments = ArenaSegment.split(arena)
    }

    public func step(gradients: ParameterArena, lr: Float) {
        stepsTaken += 1
        let adam = AdamMoments(beta1: beta1, beta2: beta2, epsilon: epsilon, lr: lr, t: stepsTaken)
        let theta = arena.storage, g = gradients.storage, m = m.storage, v = v.storage
        for s in segments {
            let shrink = s.decayed ? WeightDecay.shrink(lr: lr, weightDecay: weightDecay) : 1
            parallelFor(s.range.count, minChunk: 1 << 15) { r in
                for i in (s.range.lowerBound + r.lowerBound)..<(s.range.lowerBound + r.upperBound) {
                    let step = adam.step(g[i], &m[i], &v[i])   // the moments first, then θ (as the loop before)
                    theta[i] = theta[i] * shrink - step
                }
            }
        }
    }
}

/// Contiguous stretches of an arena that share a weight-decay rule (alignment gaps go with the
/// slot before them: their gradients are zero, so any rule leaves them at zero).
struct ArenaSegment {
    let range: Range<Int>
    let decayed: Bool

    static func split(_ arena: ParameterArena) -> [ArenaSegment] {
        var out: [ArenaSegment] = []
        for (i, slot) in arena.slots.enumerated() {
            let end = i + 1 < arena.slots.count ? arena.slots[i + 1].offset : arena.count
            let decayed = WeightDecay.applies(to: slot)
            if let last = out.last, last.decayed == decayed, last.range.upperBound == slot.offset {
                out[out.count - 1] = ArenaSegment(range: last.range.lowerBound..<end, decayed: decayed)
            } else {
                out.append(ArenaSegment(range: slot.offset..<end, decayed: decayed))
            }
        }
        return out
    }
}

/// Global gradient-norm clipping (PyTorch's `clip_grad_norm_` with the L2 norm over every parameter).
public enum GradientClipping {
    /// ‖g‖₂ over the whole arena, accumulated in Double per chunk.
    public static func norm(_ gradients: ParameterArena) -> Double {
        let g = gradients.storage, n = gradients.count
        let chunks = max(1, min(64, n / (1 << 16)))
        var partial = [Double](repeating: 0, count: chunks)
        partial.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = n * c / chunks, hi = n * (c + 1) / chunks
                var acc: Float = 0, total: Double = 0
                var i = lo
                while i < hi {   // Float partial sums of 4,096 elements, then Double
                    let end = min(hi, i + 4096)
                    acc = 0
                    for j in i..<end { acc += g[j] * g[j] }
                    total += Double(acc)
                    i = end
                }
                base[c] = total
            }
        }
        return partial.reduce(0, +).squareRoot()
    }

    /// Scales the gradients so their norm is at most `maxNorm`; returns the norm before clipping.
    /// PyTorch's rule: factor = maxNorm / (norm + 1e-6), applied only when it is below 1.
    @discardableResult
    public static func clip(_ gradients: ParameterArena, maxNorm: Double) -> Double {
        let total = norm(gradients)
        let factor = Float(maxNorm / (total + 1e-6))
        if factor < 1 {
            let g = gradients.storage
            parallelFor(gradients.count, minChunk: 1 << 16) { r in
                for i in r { g[i] *= factor }
            }
        }
        return total
    }
}
