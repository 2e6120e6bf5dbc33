import Foundation
import Weights

/// zo-adam: Adam on the ZO gradient estimate ĝ = g·z, the `zo_adam` trainer of ZO-Bench
/// (ZO-Bench/ZO-LLM, zo-bench/trainer.py, `ZOTrainer.zo_step` with `self.optimizer =
/// Adam(...)`: `param.grad = projected_grad * z`, then `torch.optim.Adam.step()`). Paper: Zhang
/// et al. 2024 (ZO-Bench); ZO-AdaMM (Chen et al. 2019) is the same update.
///
/// m ← β1·m + (1−β1)·ĝ;  v ← β2·v + (1−β2)·ĝ²;  θ ← θ − lr·m̂/(√v̂ + ε), bias-corrected with t =
/// step index + 1 (as `BackpropMethod` counts, so the log alone gives t on resume). The moments are
/// two arenas (+2× the weights, tag `optimizer`), snapshotted beside `weights-last`.
/// Differences from ZO-Bench: q > 1 estimates are averaged into one ĝ (ZO-Bench asserts q = 1);
/// on embedding rows the batch does not read ĝ = 0, so their moments decay and the weights keep
/// moving by m̂ (PyTorch's Adam does the same for a zero gradient).
public final class ZOAdam: ZerothOrderOptimizer {
    public let core: ZerothOrderCore
    public let beta1: Float, beta2: Float, epsilon: Float
    public let m: ParameterArena   // (arena layout) first moment of ĝ
    public let v: ParameterArena   // (arena layout) second moment of ĝ
    public var arena: ParameterArena { core.arena }
    public var state: [String: ParameterArena] { ["m": m, "v": v] }

    public init(core: ZerothOrderCore, beta1: Float, beta2: Float, epsilon: Float) {
        self.core = core
        (self.beta1, self.beta2, self.epsilon) = (beta1, beta2, epsilon)
        m = core.arena.sameLayout(tag: .optimizer)
        v = core.arena.sameLayout(tag: .optimizer)
    }

    public func step(_ index: Int, seeds: [UInt64], embeddingRows: [Int32]?, lr: Float,
                     loss: () throws -> Float) rethrows -> MeZOStep {
        let region = core.region(embeddingRows)
        let (plus, minus, finite) = try core.twoPoint(seeds, region, loss)
        let g = zip(plus, minus).map { finite ? core.projected($0, $1) : 0 }
        if finite {
            let c = g.map { $0 / Float(seeds.count) }
            // The moments of `AdamW.step`, on ĝ; t = step index + 1.
            let adam = AdamMoments(beta1: beta1, beta2: beta2, epsilon: epsilon, lr: lr, t: index + 1)
            let theta = arena.storage, m = m.storage, v = v.storage
            NoiseSweep.forEach(count: arena.count, region: region, everywhere: true, seeds: seeds,
                               perturbation: core.perturbation, threads: core.threads) { lo, hi, z in
                let estimate = EstimateRow(c, z, lo)
                for i in lo..<hi {
                    let step = adam.step(estimate[i], &m[i], &v[i])
                    theta[i] -= step
                }
            }
        }
        return MeZOStep(step: index, seeds: seeds, projectedGradients: g, lr: lr, lossPlus: plus, lossMinus: minus,
                        skipped: !finite, embeddingRows: embeddingRows, losses: zip(plus, minus).flatMap { [$0, $1] })
    }

    public func replay(_ record: MeZOStep) throws { try replayByStepping(record) }
}
