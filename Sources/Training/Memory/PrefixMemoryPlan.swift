import Models
import Tensors

extension MemoryPlan {
    /// A prefix-tuning method (`KeyValuePrefix`): the base weights plus the prefix's arena, n·L·2·W
    /// floats (tag weights). Zeroth-order: inference's buffers plus one layer's keys and values
    /// copied behind the prefix (`PrefixKeyBlocks`: 2 · (S·n + N) · W floats, activations), and
    /// nothing else. Backprop: the stored activations and backward scratch of full backprop (the
    /// keys need every layer's input gradient, as the base's backward computes it anyway) plus the
    /// frozen norms' throw-away row, `TrainingKeyBlocks` (keys, values and their gradients behind
    /// the prefix: 4 · (S·n + N) · W floats, scratch), and gradients (AdamW: two moments) of the
    /// prefix's size only.
    /// - Parameters:
    ///   - keyRows: S·n + N, the gathered key rows of one layer.
    ///   - stored, scratch: full backprop's (scratch with the frozen-norm row).
    static func prefixed(tokens n: Int, layers L: Int, width W: Int, keyRows: Int, weights: Int, inference: Int,
                         method: ProfileMethod, stored: Int, scratch: Int) -> [MemoryTag: Int] {
        let f = MemoryLayout<Float>.size
        let arenaBytes = (n * L * 2 * W + 15) / 16 * 16 * f   // one slot, aligned as ParameterArena aligns it
        guard let spec = method.firstOrder else {
            return withState([.weights: weights + arenaBytes, .activations: inference + 2 * keyRows * W * f], method: method,
                             arenaCount: arenaBytes / f)
        }
        return backprop(spec, weights: weights + arenaBytes, trained: arenaBytes, activations: stored,
                        scratch: scratch + 4 * keyRows * W * f)
    }
}
