import Dispatch
import Weights

/// What every zeroth-order optimizer offers the training loop (docs/ARCHITECTURE.md, "an optimizer is one
/// file"): a step from forward losses only, a replay of a logged step that reproduces the run's
/// weights (and state) bit for bit, and the state arenas a snapshot must keep.
///
/// The optimizers beyond MeZO replay by running their own `step` again with a loss function that
/// returns the logged losses in order (`MeZOStep.losses`): every decision a step takes (which
/// candidate zo-cons keeps, FZOO's σ, HiZOO's curvature) is a function of those losses, so the
/// replay performs the very floating-point operations the run performed, in the same order.
public protocol ZerothOrderOptimizer: AnyObject {
    var arena: ParameterArena { get }
    /// One step; `loss` evaluates the batch at the arena's current (perturbed) weights.
    /// - Parameter embeddingRows: the token-embedding rows the batch reads (sorted, distinct); nil: all.
    func step(_ index: Int, seeds: [UInt64], embeddingRows: [Int32]?, lr: Float,
              loss: () throws -> Float) rethrows -> MeZOStep
    /// Re-applies a logged step to the arena (and the state). Throws `ReplayError` when the record
    /// does not hold what the step needs (a log edited by hand), before or instead of trapping.
    func replay(_ record: MeZOStep) throws
    /// State to snapshot beside the weights, by name (empty: the seed log is the whole state).
    var state: [String: ParameterArena] { get }
}

extension ZerothOrderOptimizer {
    /// Replays by stepping again with the logged losses (see the protocol's note). A record with
    /// fewer losses than the step asks for stops the step at the first missing one (the weights of
    /// this replay are then unusable: the caller reports the error and discards them); one with
    /// more is refused after the step. Not preconditions: this module is -Ounchecked, and a log is input.
    func replayByStepping(_ record: MeZOStep) throws {
        guard let losses = record.losses else {
            throw ReplayError(step: record.step, key: "losses", "is missing; this optimizer replays from the losses it logged")
        }
        var next = 0
        _ = try step(record.step, seeds: record.seeds, embeddingRows: record.embeddingRows, lr: record.lr) {
            guard next < losses.count else {
                throw ReplayError(step: record.step, key: "losses", "holds \(losses.count) losses; the step asks for more")
            }
            defer { next += 1 }
            return losses[next]
        }
        guard next == losses.count else {
            throw ReplayError(step: record.step, key: "losses", "holds \(losses.count) losses; the step used \(next)")
        }
    }
}

/// A logged step that cannot be replayed: names the step and the record's key.
public struct ReplayError: Error, CustomStringConvertible {
    public let step: Int
    public let key: String
    public let why: String
    public init(step: Int, key: String, _ why: String) { (self.step, self.key, self.why) = (step, key, why) }
    public var description: String { "step \(step): \"\(key)\" \(why)" }
}

/// The pieces every estimator shares: the arena, ε, the distribution of z, which elements a step
/// may touch, and the in-place ±εz passes (`NoisePass`).
public struct ZerothOrderCore {
    public let arena: ParameterArena
    public let eps: Float
    public let perturbation: Perturbation
    public let threads: Int
    public let tokenEmbedding: ParameterSlot?

    public init(arena: ParameterArena, eps: Float, perturbation: Perturbation, threads: Int) {
        precondition(eps > 0, "eps must be positive")
        self.arena = arena
        self.eps = eps
        self.perturbation = perturbation
        self.threads = threads
        tokenEmbedding = PerturbedRegion.tokenEmbedding(of: arena)
    }

    /// The elements a step with these embedding rows perturbs (see `PerturbedRegion`).
    public func region(_ rows: [Int32]?) -> [Range<Int>] {
        precondition(rows == nil || tokenEmbedding != nil, "embedding rows given for an arena without an embedding table")
        return PerturbedRegion.ranges(count: arena.count, tokenEmbedding: tokenEmbedding, rows: rows)
    }

    /// θ += scale·z(seed) on the region.
    public func add(_ seed: UInt64, _ scale: Float, _ region: [Range<Int>]) { addPlain(seed, scale, region) }

    func addPlain(_ seed: UInt64, _ scale: Float, _ region: [Range<Int>]) {
        NoisePass(seed: seed, ops: [.add(scale)], perturbation: perturbation)
            .apply(to: arena.storage, ranges: region, decayed: [], threads: threads)
    }

    /// Two-point probes, each restored before the next (not fused with the update, unlike
    /// `MeZO.step`: the optimizers built on this one change the weights by more than −lr·g·z).
    /// - Parameter move: θ += scale·(the method's direction for this seed) on the region (default: z).
    /// - Returns: L+ and L− per seed, and whether all were finite.
    public func twoPoint(_ seeds: [UInt64], _ region: [Range<Int>], _ loss: () throws -> Float,
                         move: ((UInt64, Float, [Range<Int>]) -> Void)? = nil) rethrows -> (plus: [Float], minus: [Float], finite: Bool) {
        let move = move ?? addPlain
        var plus: [Float] = [], minus: [Float] = []
        for seed in seeds {
            move(seed, eps, region)
            plus.append(try loss())
            move(seed, -2 * eps, region)
            minus.append(try loss())
            move(seed, eps, region)
        }
        let finite = (plus + minus).allSatisfy(\.isFinite)
        return (plus, minus, finite)
    }

    /// g = (L+ − L−)/2ε in Double, as `MeZO.step` computes it.
    public func projected(_ plus: Float, _ minus: Float) -> Float {
        Float((Double(plus) - Double(minus)) / (2 * Double(eps)))
    }
}

/// Element-wise passes that need z together with per-element state (momentum, moments, a Hessian
/// diagonal, a mask): the same chunking as `NoisePass` (pieces cut at absolute multiples of the
/// chunk, z at absolute indices), so results do not depend on the thread count, and z of several
/// seeds side by side in per-thread buffers.
public enum NoiseSweep {
    static let chunk = NoisePass.chunk

    /// Calls `body(lo, hi, z)` for pieces lo..<hi covering `ranges` (or the whole buffer when
    /// `everywhere`), where z[k][j] is z of `seeds[k]` at element lo + j inside `region`, and 0 outside it.
    /// - Parameter region: sorted, disjoint ranges where z is drawn.
    public static func forEach(count: Int, region: [Range<Int>], everywhere: Bool, seeds: [UInt64],
                               perturbation: Perturbation, threads: Int,
                               _ body: (_ lo: Int, _ hi: Int, _ z: [UnsafeMutablePointer<Float>]) -> Void) {
        let sources = seeds.map { perturbation.source(seed: $0) }
        var pieces: [Range<Int>] = []
        for range in (everywhere ? [0..<count] : region) where !range.isEmpty {
            var lo = range.lowerBound
            while lo < range.upperBound {
                let hi = min(range.upperBound, (lo / chunk + 1) * chunk)
                pieces.append(lo..<hi)
                lo = hi
            }
        }
        let workers = max(1, min(threads, pieces.count))
        let dealer = ChunkDealer(count: pieces.count)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let z = sources.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: chunk) }   // (seeds, chunk)
            defer { z.forEach { $0.deallocate() } }
            while let c = dealer.take() {
                let lo = pieces[c].lowerBound, hi = pieces[c].upperBound
                for (k, source) in sources.enumerated() {
                    if !everywhere {
                        source.fill(UnsafeMutableBufferPointer(start: z[k], count: hi - lo), startingAt: lo)
                        continue
                    }
                    (z[k]).update(repeating: 0, count: hi - lo)
                    for r in overlapping(region, lo, hi) {
                        let a = max(lo, r.lowerBound), b = min(hi, r.upperBound)
                        source.fill(UnsafeMutableBufferPointer(start: z[k] + (a - lo), count: b - a), startingAt: a)
                    }
                }
                body(lo, hi, z)
            }
        }
    }

    /// The ranges of `region` (sorted, disjoint) that meet lo..<hi, found by binary search.
    static func overlapping(_ region: [Range<Int>], _ lo: Int, _ hi: Int) -> ArraySlice<Range<Int>> {
        var a = 0, b = region.count
        while a < b {   // first range ending after lo
            let m = (a + b) / 2
            if region[m].upperBound <= lo { a = m + 1 } else { b = m }
        }
        var end = a
        while end < region.count, region[end].lowerBound < hi { end += 1 }
        return region[a..<end]
    }
}

/// ĝ_i = Σ_k c_k·z_k[i] for one piece of a `NoiseSweep` (the average of q estimates g_k·z_k), read
/// by absolute element index; one perturbation (the common case) skips the sum.
struct EstimateRow {
    let c: [Float]
    let z: [UnsafeMutablePointer<Float>]   // each shifted so that [i] is element i
    let c0: Float
    let z0: UnsafeMutablePointer<Float>

    init(_ c: [Float], _ z: [UnsafeMutablePointer<Float>], _ lo: Int) {
        self.c = c
        self.z = z.map { $0 - lo }
        c0 = c[0]
        z0 = z[0] - lo
    }

    @inline(__always)
    subscript(i: Int) -> Float {
        if c.count == 1 { return c0 * z0[i] }
        var sum: Float = 0
        for k in 0..<c.count { sum = sum.addingProduct(c[k], z[k][i]) }
        return sum
    }
}
