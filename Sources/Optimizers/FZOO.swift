import Foundation
import Weights

/// FZOO (Dang et al. 2025, "FZOO: Fast zeroth-order optimizer for fine-tuning large language
/// models towards Adam-scale speed"): N one-sided Rademacher probes L_i = L(θ + εz_i) and one clean
/// L0 = L(θ), then θ ← θ − lr·Σ_i (L_i − L0)/(N·σ)·z_i with σ the standard deviation of the probe
/// losses (DKmiyan/FZOO, trainer.py, `OurTrainer.zo_step`: `std = torch.std(loss1s,
/// unbiased=False)`, `projected_grad = (loss1s - loss_tensor) / (perturbTimes*std)`; `zo_update`
/// applies `param - lr * projected_grad[idx] * z` per seed). N + 1 forward passes per step (the
/// reference uses N = 8).
///
/// Dividing by σ ≈ ε·‖∇L‖ makes the step a normalised one: its length is ~lr·√(dim)/√N whatever the
/// loss scale, an adaptive step size from the batch's own losses with no state (the paper's
/// "Adam-scale" claim). Differences from the reference: L0 is evaluated after the probes as there;
/// σ = 0 (all probes equal, e.g. a saturated loss) skips the step instead of dividing by zero; z is
/// the run's distribution (Rademacher by default, as the reference); the reference's per-parameter
/// `rand_values` are unused there and not reproduced.
public final class FZOO: ZerothOrderOptimizer {
    public let core: ZerothOrderCore
    public var arena: ParameterArena { core.arena }
    public var state: [String: ParameterArena] { [:] }

    public init(core: ZerothOrderCore) { self.core = core }

    /// The coefficients of z_i in the update: (L_i − L0)/(N·σ), or nil when σ = 0 or a loss is not finite.
    public static func coefficients(probes: [Float], l0: Float) -> [Float]? {
        guard (probes + [l0]).allSatisfy(\.isFinite), probes.count > 1 else { return nil }
        let n = Double(probes.count)
        let mean = probes.reduce(0) { $0 + Double($1) } / n
        let sigma = (probes.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n).squareRoot()
        guard sigma > 0 else { return nil }
        return probes.map { Float((Double($0) - Double(l0)) / (n * sigma)) }
    }

    public func step(_ index: Int, seeds: [UInt64], embeddingRows: [Int32]?, lr: Float,
                     loss: () throws -> Float) rethrows -> MeZOStep {
        precondition(seeds.count > 1, "FZOO needs at least 2 probes (--perturbations) for σ")
        let region = core.region(embeddingRows)
        var probes: [Float] = []
        for seed in seeds {
            core.add(seed, core.eps, region)
            probes.append(try loss())
            core.add(seed, -core.eps, region)
        }
        let l0 = try loss()
        let c = Self.coefficients(probes: probes, l0: l0)
        if let c {
            for (k, seed) in seeds.enumerated() { core.add(seed, -lr * c[k], region) }
        }
        var record = MeZOStep(step: index, seeds: seeds, projectedGradients: c ?? probes.map { _ in 0 }, lr: lr,
                              lossPlus: probes, lossMinus: [], skipped: c == nil, embeddingRows: embeddingRows,
                              losses: probes + [l0])
        record.loss0 = l0
        return record
    }

    public func replay(_ record: MeZOStep) throws { try replayByStepping(record) }
}
