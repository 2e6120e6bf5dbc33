import Dispatch
import Tensors
import Weights

/// LOZO (Chen et al. 2025, "Enhancing zeroth-order fine-tuning for language models with low-rank
/// structures", ICLR): each weight matrix W (rows × cols) is perturbed by a low-rank Z = U·Vᵀ,
/// U (rows × r) fresh every step, V (cols × r) kept for ν steps; vectors (norms, biases) get plain
/// z (optsuite/LOZO, large_models/LOZOtrainer.py, `OurTrainer.lowrank_zo_perturb_parameters`:
/// `v = torch.randn(size(1), rank_r)` when `step % step_interval == 0`, `u = randn(size(0),
/// rank_r)`, `param += scaling_factor * (u @ v.t()) * zo_eps`; `lowrank_zo_update`: `param -= lr *
/// projected_grad * (u @ v.t())`). Defaults as the reference's run_lozo.py: r = 2, ν = 50.
///
/// Nothing is stored: U is z of the step's seed, V is z of a seed fixed for the ν-step window, so
/// the log replays it (the reference keeps V in a dict, which a resume would lose). Elements are
/// U[i][k] = z(seed, offset + i·r + k) and V[k][j] = z(window seed, offset + k·cols + j), inside the
/// matrix's own slot. A step touches only the matrix rows of its region (the batch's embedding
/// rows). Differences: U and V entries follow the run's distribution (Rademacher by default; the
/// reference draws Gaussians; E[ZZᵀ] = r·I either way); one perturbation per step, as the reference.
public final class LOZO: ZerothOrderOptimizer {
    public let core: ZerothOrderCore
    public let rank: Int
    public let interval: Int
    /// Seeds V's windows (derived from the run's seed by the caller).
    public let subspaceSeed: UInt64
    public var arena: ParameterArena { core.arena }
    public var state: [String: ParameterArena] { [:] }

    public init(core: ZerothOrderCore, rank: Int, interval: Int, subspaceSeed: UInt64) {
        precondition(rank >= 1 && interval >= 1)
        self.core = core
        self.rank = rank
        self.interval = interval
        self.subspaceSeed = subspaceSeed
    }

    /// V's seed for step `index`: one per window of ν steps.
    public func windowSeed(_ index: Int) -> UInt64 {
        SeedSchedule.seed(run: subspaceSeed, step: index / interval, perturbation: 0x5EED)
    }

    /// A low-rank slot: a matrix whose rank-r factors fit in its own elements.
    func isLowRank(_ slot: ParameterSlot) -> Bool {
        slot.shape.count == 2 && rank <= min(slot.shape[0], slot.shape[1])
    }

    /// θ += scale·Z on the region: U·Vᵀ on matrices, z on vectors.
    func perturb(step index: Int, seed: UInt64, _ scale: Float, _ region: [Range<Int>]) {
        let u = core.perturbation.source(seed: seed), v = core.perturbation.source(seed: windowSeed(index))
        var vector: [Range<Int>] = []
        var tasks: [(slot: ParameterSlot, rows: Range<Int>)] = []
        for slot in arena.slots {
            let slotRange = slot.offset..<(slot.offset + slot.count)
            for r in NoiseSweep.overlapping(region, slotRange.lowerBound, slotRange.upperBound) {
                let a = max(r.lowerBound, slotRange.lowerBound), b = min(r.upperBound, slotRange.upperBound)
                guard isLowRank(slot) else { vector.append(a..<b); continue }
                let cols = slot.shape[1]
                precondition((a - slot.offset) % cols == 0 && (b - slot.offset) % cols == 0, "region cuts a row of \(slot.name)")
                let block = max(1, NoisePass.chunk / cols)
                var row = (a - slot.offset) / cols
                while row < (b - slot.offset) / cols {
                    let end = min((b - slot.offset) / cols, row + block)
                    tasks.append((slot, row..<end))
                    row = end
                }
            }
        }
        core.addPlain(seed, scale, vector)
        let r = rank, theta = arena.storage
        let dealer = ChunkDealer(count: tasks.count)
        DispatchQueue.concurrentPerform(iterations: max(1, min(core.threads, tasks.count))) { _ in
            var factors: (slot: Int, v: UnsafeMutablePointer<Float>)? = nil   // V (r, cols) of the last slot seen
            let uRow = UnsafeMutablePointer<Float>.allocate(capacity: r)       // (r) one row of U
            defer { uRow.deallocate(); factors?.v.deallocate() }
            while let t = dealer.take() {
                let (slot, rows) = tasks[t]
                let cols = slot.shape[1]
                if factors?.slot != slot.offset {
                    factors?.v.deallocate()
                    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: r * cols)
                    v.fill(UnsafeMutableBufferPointer(start: buffer, count: r * cols), startingAt: slot.offset)
                    factors = (slot.offset, buffer)
                }
                let vk = factors!.v
                for i in rows {
                    u.fill(UnsafeMutableBufferPointer(start: uRow, count: r), startingAt: slot.offset + i * r)
                    let x = theta + slot.offset + i * cols
                    for k in 0..<r {
                        let s = scale * uRow[k]
                        let row = vk + k * cols
                        for j in 0..<cols { x[j] = x[j].addingProduct(s, row[j]) }
                    }
                }
            }
        }
    }

    public func step(_ index: Int, seeds: [UInt64], embeddingRows: [Int32]?, lr: Float,
                     loss: () throws -> Float) rethrows -> MeZOStep {
        precondition(seeds.count == 1, "LOZO takes one perturbation per step")
        let region = core.region(embeddingRows)
        let move = { (seed: UInt64, scale: Float, region: [Range<Int>]) in self.perturb(step: index, seed: seed, scale, region) }
        let (plus, minus, finite) = try core.twoPoint(seeds, region, loss, move: move)
        let g = finite ? core.projected(plus[0], minus[0]) : 0
        if finite { move(seeds[0], -lr * g, region) }
        return MeZOStep(step: index, seeds: seeds, projectedGradients: [g], lr: lr, lossPlus: plus, lossMinus: minus,
                        skipped: !finite, embeddingRows: embeddingRows, losses: [plus[0], minus[0]])
    }

    public func replay(_ record: MeZOStep) throws { try replayByStepping(record) }
}
