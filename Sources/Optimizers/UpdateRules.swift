import Foundation
import Weights

// The element-wise update rules the optimizers of both families share, each written once
// (as optax builds `adamw` from `scale_by_adam` and `add_decayed_weights`: optax/_src/alias.py,
// transform.py). Each rule is the exact arithmetic its optimizers performed inline before, in the
// same order, so runs and replays stay bitwise what they were.

/// Adam's moments with folded bias corrections (PyTorch's `torch.optim.Adam`/`AdamW`, optax's
/// `scale_by_adam`): m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  the step is
/// (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + ε). Used by AdamW (on ∇L) and zo-adam (on ĝ = g·z).
struct AdamMoments {
    let beta1: Float, beta2: Float, epsilon: Float
    /// lr/(1−β1ᵗ).
    let stepSize: Float
    /// 1/√(1−β2ᵗ).
    let rootCorrection: Float

    /// - Parameter t: the 1-based step count the bias corrections use.
    init(beta1: Float, beta2: Float, epsilon: Float, lr: Float, t: Int) {
        (self.beta1, self.beta2, self.epsilon) = (beta1, beta2, epsilon)
        stepSize = Float(Double(lr) / (1 - pow(Double(beta1), Double(t))))
        rootCorrection = Float(1 / (1 - pow(Double(beta2), Double(t))).squareRoot())
    }

    /// Moves one element's moments by gradient `g` and returns the amount to subtract from θ.
    @inline(__always)
    func step(_ g: Float, _ m: inout Float, _ v: inout Float) -> Float {
        let mi = beta1 * m + (1 - beta1) * g
        let vi = beta2 * v + (1 - beta2) * g * g
        m = mi
        v = vi
        return stepSize * mi / (vi.squareRoot() * rootCorrection + epsilon)
    }
}

/// Heavy-ball momentum with no dampening (PyTorch's `SGD(momentum=μ)`, optax's `trace`):
/// buf ← μ·buf + g, and θ moves by −lr·buf. Used by zo-momentum.
struct HeavyBall {
    let momentum: Float

    /// Adds `g` to one element's buffer and returns the new buffer (the direction θ moves against).
    @inline(__always)
    func step(_ g: Float, _ buffer: inout Float) -> Float {
        let b = momentum * buffer + g
        buffer = b
        return b
    }
}

/// Decoupled weight decay (Loshchilov & Hutter; optax's `add_decayed_weights` before the lr):
/// θ ← θ·(1 − lr·wd), on matrices and embeddings only (norm scales and biases keep theirs).
/// Used by AdamW and MeZO / zo-sign (SGD's decay is the coupled L2 form, wd·θ added to ∇L).
public enum WeightDecay {
    /// Whether a slot decays: matrices and embeddings do, norm scales and biases do not.
    public static func applies(to slot: ParameterSlot) -> Bool { slot.role == .matrix || slot.role == .embedding }

    /// The element ranges of the slots that decay (sorted, disjoint).
    public static func ranges(_ arena: ParameterArena) -> [Range<Int>] {
        arena.slots.filter(applies).map { $0.offset..<($0.offset + $0.count) }
    }

    /// The factor a decayed element is multiplied by in a step at `lr`.
    @inline(__always)
    public static func shrink(lr: Float, weightDecay: Float) -> Float { 1 - lr * weightDecay }
}
