import Weights

/// zo-momentum: ZO-SGD with heavy-ball momentum, the `zo_sgd` trainer of ZO-Bench with
/// `--momentum` (ZO-Bench/ZO-LLM, zo-bench/trainer.py, `ZOTrainer.zo_step`: `param.grad =
/// projected_grad * z`, then `torch.optim.SGD(momentum=μ).step()`, i.e. buf ← μ·buf + g·z,
/// θ ← θ − lr·buf, PyTorch's dampening 0). Paper: Zhang et al. 2024, "Revisiting zeroth-order
/// optimization for memory-efficient LLM fine-tuning: a benchmark" (ZO-Bench).
///
/// The buffer is a second arena (+1× the weights, tag `optimizer`), snapshotted beside
/// `weights-last`. Differences from ZO-Bench: with q > 1 the q estimates are averaged before the
/// buffer sees them (ZO-Bench asserts q = 1); with `--embedding-perturbation batch`, z is 0 on the
/// rows the batch does not read, so those rows' buffer only decays and their weights keep moving
/// by it (the whole arena is swept every step, as PyTorch's SGD does).
public final class ZOMomentum: ZerothOrderOptimizer {
    public let core: ZerothOrderCore
    public let momentum: Float
    public let buffer: ParameterArena   // (arena layout) μ-weighted sum of past g·z
    public var arena: ParameterArena { core.arena }
    public var state: [String: ParameterArena] { ["momentum": buffer] }

    public init(core: ZerothOrderCore, momentum: Float) {
        self.core = core
        self.momentum = momentum
        buffer = core.arena.sameLayout(tag: .optimizer)
    }

    public func step(_ index: Int, seeds: [UInt64], embeddingRows: [Int32]?, lr: Float,
                     loss: () throws -> Float) rethrows -> MeZOStep {
        let region = core.region(embeddingRows)
        let (plus, minus, finite) = try core.twoPoint(seeds, region, loss)
        let g = zip(plus, minus).map { finite ? core.projected($0, $1) : 0 }
        if finite {
            let c = g.map { $0 / Float(seeds.count) }   // the average of the q estimates
            let heavyBall = HeavyBall(momentum: momentum), theta = arena.storage, m = buffer.storage
            NoiseSweep.forEach(count: arena.count, region: region, everywhere: true, seeds: seeds,
                               perturbation: core.perturbation, threads: core.threads) { lo, hi, z in
                let estimate = EstimateRow(c, z, lo)
                for i in lo..<hi {
                    let direction = heavyBall.step(estimate[i], &m[i])
                    theta[i] = theta[i].addingProduct(-lr, direction)
                }
            }
        }
        return MeZOStep(step: index, seeds: seeds, projectedGradients: g, lr: lr, lossPlus: plus, lossMinus: minus,
                        skipped: !finite, embeddingRows: embeddingRows, losses: zip(plus, minus).flatMap { [$0, $1] })
    }

    public func replay(_ record: MeZOStep) throws { try replayByStepping(record) }
}
