import Foundation
import Weights

/// One step of a MeZO run as the seed log records it (docs/ARCHITECTURE.md, decision 8): with the base
/// weights, these records are the whole trajectory.
public struct MeZOStep: Codable, Sendable, Equatable {
    public var step: Int
    /// One seed per perturbation (n-SPSA averages `seeds.count` estimates).
    public var seeds: [UInt64]
    /// Projected gradient g = (L+ − L−) / 2ε per perturbation (0 for a skipped step).
    public var projectedGradients: [Float]
    public var lr: Float
    public var lossPlus: [Float]
    public var lossMinus: [Float]
    /// A non-finite loss was seen: the weights were restored and not updated.
    public var skipped: Bool
    /// The token-embedding rows the step perturbed and updated (sorted; nil: every row, the
    /// paper's algorithm). Logged because replay must touch exactly the same elements.
    public var embeddingRows: [Int32]?
    /// Every loss the step evaluated, in order (the optimizers beyond MeZO, which replay by
    /// stepping again with these: `ZerothOrderOptimizer.replayByStepping`; nil for MeZO).
    public var losses: [Float]? = nil
    /// The loss at the unperturbed weights, when the step measured it (`--lr auto`, zo-cons,
    /// FZOO, HiZOO).
    public var loss0: Float? = nil
    /// `--lr auto`: zᵀHz ≈ (L+ + L− − 2·L0)/ε² measured this step, and the running estimate of
    /// tr(H) the step's lr came from.
    public var curvature: Float? = nil
    public var traceEstimate: Float? = nil

    enum CodingKeys: String, CodingKey {
        case step, seeds, lr, skipped, losses, curvature
        case loss0 = "loss_0"
        case traceEstimate = "trace_estimate"
        case embeddingRows = "embedding_rows"
        case projectedGradients = "g"
        case lossPlus = "loss_plus"
        case lossMinus = "loss_minus"
    }
}

/// MeZO (Malladi et al. 2023, Algorithm 1) over a parameter arena, in place, with no buffer of the
/// arena's size: z is regenerated from each seed for every pass (docs/ARCHITECTURE.md, decisions 2 and 3).
/// z is Gaussian (the paper) or Rademacher (`Perturbation`); a step may perturb only the
/// token-embedding rows its batch reads (`PerturbedRegion`).
///
/// Per perturbation k with seed s_k: θ += εz; L+ = loss(θ); θ −= 2εz; L− = loss(θ);
/// g_k = (L+ − L−)/2ε. The last perturbation is restored and updated in one pass,
/// θ += (ε − lr·g/q)·z; earlier ones are restored right after their losses and updated at the end.
/// Weight decay (skipped for norms and biases) multiplies by (1 − lr·wd) in the fused pass.
public final class MeZO: ZerothOrderOptimizer {
    public let arena: ParameterArena
    public let eps: Float
    public let weightDecay: Float
    public let threads: Int
    public let perturbation: Perturbation
    /// How g enters the update: g itself (MeZO) or its sign (zo-sign, `ZOSign.swift`).
    public let rule: ProjectedGradientRule
    /// The table whose rows a step may restrict itself to (nil: always the whole arena).
    public let tokenEmbedding: ParameterSlot?
    /// Element ranges of the slots weight decay applies to (matrices and embeddings). With
    /// embedding rows restricted, rows outside the batch are not decayed that step (lazy decay).
    let decayed: [Range<Int>]

    public init(arena: ParameterArena, eps: Float, weightDecay: Float = 0, perturbation: Perturbation = .gaussian,
                rule: ProjectedGradientRule = .value, threads: Int) {
        precondition(eps > 0, "eps must be positive")
        self.rule = rule
        self.arena = arena
        self.eps = eps
        self.weightDecay = weightDecay
        self.perturbation = perturbation
        self.tokenEmbedding = PerturbedRegion.tokenEmbedding(of: arena)
        self.threads = threads
        decayed = weightDecay == 0 ? [] : WeightDecay.ranges(arena)
    }

    /// Runs one step; `loss` evaluates the model at the arena's current (perturbed) weights.
    /// - Parameter embeddingRows: the token-embedding rows the batch reads; nil perturbs them all.
    public func step(_ index: Int, seeds: [UInt64], embeddingRows: [Int32]? = nil, lr: Float,
                     loss: () throws -> Float) rethrows -> MeZOStep {
        precondition(!seeds.isEmpty)
        let rows = embeddingRows.map { Array(Set($0)).sorted() }
        if arena.format == .bf16 {   // θ is read perturbed, not written (NoWriteMeZO.swift)
            return try stepWithoutWriting(index, seeds: seeds, rows: rows, lr: lr, loss: loss)
        }
        let region = ranges(rows)
        var plus: [Float] = [], minus: [Float] = [], gradients: [Float] = []
        var finite = true
        for (k, seed) in seeds.enumerated() {
            run(seed, [.add(eps)], region)
            let lp = try loss()
            run(seed, [.add(-2 * eps)], region)
            let lm = try loss()
            plus.append(lp)
            minus.append(lm)
            finite = finite && lp.isFinite && lm.isFinite
            gradients.append(Float((Double(lp) - Double(lm)) / (2 * Double(eps))))
            if k < seeds.count - 1 { run(seed, [.add(eps)], region) }
        }
        let record = MeZOStep(step: index, seeds: seeds, projectedGradients: finite ? gradients : gradients.map { _ in 0 },
                              lr: lr, lossPlus: plus, lossMinus: minus, skipped: !finite, embeddingRows: rows)
        for (seed, op) in updateOps(record) { run(seed, [op], region) }
        return record
    }

    /// Re-applies a logged step to the arena: the same operations as `step`, without the losses,
    /// fused per seed into one pass. Bitwise the weights the run had after that step.
    public func replay(_ record: MeZOStep) {
        if arena.format == .bf16 { return applyRoundedUpdate(record) }   // the step's only write
        var passes: [NoisePass] = []
        func append(_ seed: UInt64, _ op: NoiseOp) {
            if let last = passes.last, last.seed == seed {
                passes[passes.count - 1] = NoisePass(seed: seed, ops: last.ops + [op], perturbation: perturbation)
            } else {
                passes.append(NoisePass(seed: seed, ops: [op], perturbation: perturbation))
            }
        }
        for (k, seed) in record.seeds.enumerated() {
            append(seed, .add(eps))
            append(seed, .add(-2 * eps))
            if k < record.seeds.count - 1 { append(seed, .add(eps)) }
        }
        for (seed, op) in updateOps(record) { append(seed, op) }
        let region = ranges(record.embeddingRows)
        for pass in passes { pass.apply(to: arena.storage, ranges: region, decayed: decayed, threads: threads) }
    }

    /// The closing passes of a step: restore-and-update for the last perturbation, then the
    /// updates of the earlier ones (already restored).
    func updateOps(_ r: MeZOStep) -> [(UInt64, NoiseOp)] {
        let q = Float(r.seeds.count)
        let shrink = r.skipped ? 1 : WeightDecay.shrink(lr: r.lr, weightDecay: weightDecay)
        var ops: [(UInt64, NoiseOp)] = []
        for k in stride(from: r.seeds.count - 1, through: 0, by: -1) {
            let step = -r.lr * rule.coefficient(r.projectedGradients[k]) / q
            if k == r.seeds.count - 1 {
                // Decay once per step, in the pass that also restores.
                ops.append((r.seeds[k], NoiseOp(scale: eps + step, restore: eps, decay: shrink, decayedScale: step)))
            } else {
                ops.append((r.seeds[k], .add(step)))
            }
        }
        return ops
    }

    /// The elements a step with these embedding rows (sorted, distinct) perturbs: sorted, disjoint ranges.
    public func ranges(_ rows: [Int32]?) -> [Range<Int>] {
        precondition(rows == nil || tokenEmbedding != nil, "embedding rows given for an arena without an embedding table")
        let all = PerturbedRegion.ranges(count: arena.count, tokenEmbedding: tokenEmbedding, rows: rows)
        return restriction.map { Self.intersect(all, $0) } ?? all
    }

    /// The elements this process holds (sorted, disjoint; nil: all). A pipeline stage perturbs and
    /// updates only its own part of the arena, with the z of each element's global position, so
    /// its part is bitwise that part of a single process's weights.
    public var restriction: [Range<Int>]?

    /// The overlap of two lists of sorted, disjoint ranges.
    static func intersect(_ a: [Range<Int>], _ b: [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = [], i = 0, j = 0
        while i < a.count && j < b.count {
            let lo = max(a[i].lowerBound, b[j].lowerBound), hi = min(a[i].upperBound, b[j].upperBound)
            if lo < hi { out.append(lo..<hi) }
            if a[i].upperBound < b[j].upperBound { i += 1 } else { j += 1 }
        }
        return out
    }

    public var state: [String: ParameterArena] { [:] }

    func run(_ seed: UInt64, _ ops: [NoiseOp], _ region: [Range<Int>]) {
        NoisePass(seed: seed, ops: ops, perturbation: perturbation)
            .apply(to: arena.storage, ranges: region, decayed: decayed, threads: threads)
    }
}

/// Per-step seeds derived from the run's seed, so a resumed run draws the same ones.
public enum SeedSchedule {
    /// SplitMix64 of (run seed, step, perturbation): distinct, well-mixed 64-bit keys.
    public static func seed(run: UInt64, step: Int, perturbation: Int) -> UInt64 {
        var x = run &+ UInt64(step) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(perturbation) &* 0xD1B5_4A32_D192_ED03
        x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 31)
    }
}
