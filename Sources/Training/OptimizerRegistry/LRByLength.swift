/// A default lr that depends on how long the run is planned to be: the best fixed lr measured at
/// each horizon. Resolved once when a run is made and written to run.json as a number, so resume
/// and replay never consult it (docs/ARCHITECTURE.md, "Defaults are resolved once").
public struct LRByLength: Sendable {
    /// Runs of at most `steps` steps take `lr`; the first row that holds the run wins.
    public struct Row: Sendable {
        public let steps: Int
        public let lr: Float
    }

    public let rows: [Row]
    /// Runs longer than every row, and runs bounded by a time budget alone (their length is unknown,
    /// and a budget is meant for long runs).
    public let beyond: Float

    public init(upTo rows: [(steps: Int, lr: Float)], beyond: Float) {
        self.rows = rows.map { Row(steps: $0.steps, lr: $0.lr) }
        self.beyond = beyond
    }

    /// `steps`: the run's planned length, nil when only a time budget bounds it.
    public func lr(steps: Int?) -> Float {
        guard let steps else { return beyond }
        return rows.first { steps <= $0.steps }?.lr ?? beyond
    }

    /// The rule in words, for help and the recipe line: "2e-06 up to 1500 steps, …, 5e-07 beyond …".
    public var text: String {
        (rows.map { "\($0.lr) up to \($0.steps) steps" } + ["\(beyond) beyond or with --budget alone"]).joined(separator: ", ")
    }

    /// MeZO's, from the lr grid at the long horizon (Gemma-3-270M, SST-2's whole training split,
    /// bf16 weights, batch 16, seed 0; docs/long-horizon.md). Best dev so far at 1,000 / 2,000 /
    /// 3,000 / 5,000 steps:
    ///   2e-6: 84.75 / 84.75 / 84.75%    (peaks at 1,000, then its training loss rises: 73.62% at 3,000)
    ///   1e-6: 84.06 / 85.67 / 85.67%    (level from 2,000; the stop rule ended it at 4,000)
    ///   5e-7: 82.11 / 83.94 / 85.89 / 87.04%
    /// and 5e-7 on f32 weights (bf16 products), where no stochastic rounding adds to its noise:
    ///   82.00 / 84.75 / 86.12 / 87.50%, then 88.53% at 10,000 and 89.33% at 12,000.
    /// A smaller lr learns more slowly and goes further, as in SGD's noise-limited regime.
    public static let mezo = LRByLength(upTo: [(1500, 2e-6), (3000, 1e-6)], beyond: 5e-7)
}
