import Optimizers
import Tasks

/// Fisher–Yates with our own generator, so the order never depends on the standard library's
/// shuffle algorithm.
func shuffled<T>(_ items: [T], seed: UInt64) -> [T] {
    var rng = SplitMix64(seed: seed)
    var a = items
    if a.count > 1 {
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }
    return a
}

/// The training examples of a run and the batch of every step.
public struct TrainingSet: Sendable {
    public let examples: [LabeledExample]
    public let batchSize: Int
    let seed: UInt64

    /// A seeded sample of `pool`: `count` examples, or `kShot` per label.
    public init(pool: [LabeledExample], count: Int, kShot: Int?, batchSize: Int, seed: UInt64) throws {
        let order = shuffled(pool, seed: seed)
        var chosen: [LabeledExample]
        if let k = kShot {
            chosen = []
            for label in Set(pool.map(\.label)).sorted() {
                let some = order.filter { $0.label == label }.prefix(k)
                guard some.count == k else {
                    throw TaskDataError(.badLabel, file: "train.tsv", "--k-shot (run.json \"k_shot\" when resuming) \(k): label \(label) has only \(some.count) examples")
                }
                chosen += some
            }
        } else {
            guard count <= pool.count else {
                throw TaskDataError(.emptyFile, file: "train.tsv", "--train-examples (run.json \"train_examples\" when resuming) \(count) but the file has \(pool.count)")
            }
            chosen = Array(order.prefix(count))
        }
        guard chosen.count >= batchSize else {
            throw TaskDataError(.emptyFile, file: "train.tsv", "\(chosen.count) training examples cannot fill a batch of \(batchSize) (--batch-size; run.json \"batch_size\" when resuming)")
        }
        self.examples = chosen
        self.batchSize = batchSize
        self.seed = seed
    }

    public var batchesPerEpoch: Int { examples.count / batchSize }

    /// Indices into `examples` for 0-based step `step`: each epoch is a fresh permutation cut into
    /// whole batches (the remainder waits for the next epoch), so no example appears twice in a batch.
    public func batch(at step: Int) -> [Int] {
        let epoch = step / batchesPerEpoch, j = step % batchesPerEpoch
        let permutation = shuffled(Array(examples.indices), seed: seed &+ 0x5851_F42D_4C95_7F2D &* UInt64(epoch + 1))
        return Array(permutation[(j * batchSize)..<((j + 1) * batchSize)])
    }
}
