import Weights

/// zo-cons: ZO-SGD that keeps the best of θ, θ − lr·ĝ and θ + lr·ĝ on the step's own batch
/// (ZO-Bench/ZO-LLM, zo-bench/trainer.py, `ZOTrainer.zo_conserv_step`; paper: Zhang et al. 2024,
/// ZO-Bench). Per step: L0 at θ, the two-point probes, then L(θ − lr·ĝ) and L(θ + lr·ĝ): 2q + 3
/// forward passes. A rejected step costs forwards but never raises the batch loss, which is what
/// makes the method tolerate a larger lr.
///
/// The choice follows ZO-Bench's comparisons exactly (ties included): with L1 = L(θ − lr·ĝ),
/// L2 = L(θ + lr·ĝ): if L1 > L0 { L0 < L2 ? θ : θ + lr·ĝ } else { L1 < L2 ? θ − lr·ĝ : θ + lr·ĝ }.
/// Stateless: the logged losses decide the same way on replay.
public final class ZOConservative: ZerothOrderOptimizer {
    public let core: ZerothOrderCore
    public var arena: ParameterArena { core.arena }
    public var state: [String: ParameterArena] { [:] }

    public init(core: ZerothOrderCore) { self.core = core }

    /// Which of the three points a step kept.
    public enum Choice: Equatable { case unchanged, minus, plus }

    public static func choose(l0: Float, l1: Float, l2: Float) -> Choice {
        if l1 > l0 { return l0 < l2 ? .unchanged : .plus }
        return l1 < l2 ? .minus : .plus
    }

    public func step(_ index: Int, seeds: [UInt64], embeddingRows: [Int32]?, lr: Float,
                     loss: () throws -> Float) rethrows -> MeZOStep {
        let region = core.region(embeddingRows)
        let l0 = try loss()
        let (plus, minus, probesFinite) = try core.twoPoint(seeds, region, loss)
        var finite = probesFinite && l0.isFinite
        let g = zip(plus, minus).map { finite ? core.projected($0, $1) : 0 }
        var losses = [l0] + zip(plus, minus).flatMap { [$0, $1] }
        if finite {
            let q = Float(seeds.count)
            func move(_ sign: Float) { for (k, seed) in seeds.enumerated() { core.add(seed, sign * -lr * g[k] / q, region) } }
            move(1)                       // θ − lr·ĝ
            let l1 = try loss()
            move(-2)                      // θ + lr·ĝ
            let l2 = try loss()
            losses += [l1, l2]
            // A non-finite candidate: back to θ, and the step counts as skipped.
            finite = l1.isFinite && l2.isFinite
            switch finite ? Self.choose(l0: l0, l1: l1, l2: l2) : .unchanged {
            case .unchanged: move(1)
            case .minus: move(2)
            case .plus: break
            }
        }
        var record = MeZOStep(step: index, seeds: seeds, projectedGradients: g, lr: lr, lossPlus: plus, lossMinus: minus,
                              skipped: !finite, embeddingRows: embeddingRows, losses: losses)
        record.loss0 = l0
        return record
    }

    public func replay(_ record: MeZOStep) throws { try replayByStepping(record) }
}
