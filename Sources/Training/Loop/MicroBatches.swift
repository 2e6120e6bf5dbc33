/// A batch split into forward passes of `size` examples, in order (`TrainingConfig.microBatch`).
/// The split, not the number of processes, fixes the bits of a loss: OpenBLAS rounds a row of a
/// product differently depending on how many rows the product has (measured: a 90-row product
/// and its last 44 rows alone disagree in 545 of 704 entries at N = 16), so a rank that computed
/// its share in one pass would not reproduce the single process's pass over the whole batch.
/// With micro-batches, every pass is the same product wherever it runs.
public enum MicroBatches {
    /// The passes of a batch of `count` examples: consecutive ranges of `size` (the last shorter);
    /// one range when `size` is nil.
    public static func ranges(count: Int, size: Int?) -> [Range<Int>] {
        guard let size, size < count else { return count == 0 ? [] : [0..<count] }
        return stride(from: 0, to: count, by: size).map { $0..<min(count, $0 + size) }
    }

    /// The loss terms of `inputs`, pass by pass.
    static func lossTerms(_ task: TrainingTask, _ inputs: [[Int32]], labels: [Int], size: Int?) -> [Double] {
        ranges(count: inputs.count, size: size).flatMap { r in
            task.lossTerms(Array(inputs[r]), labels: Array(labels[r]))
        }
    }

    /// The batch loss from micro-batches; the task's own `loss` (one pass) when `size` is nil.
    static func loss(_ task: TrainingTask, _ inputs: [[Int32]], labels: [Int], size: Int?) -> Float {
        guard size != nil else { return task.loss(inputs, labels: labels) }
        return LossTerms.mean(lossTerms(task, inputs, labels: labels, size: size), divisor: task.lossDivisor(inputs))
    }
}
