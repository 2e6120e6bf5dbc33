import Foundation
import Optimizers
import Tensors
import Weights

/// One batch of a task at fixed weights, seen both ways the engine can see it: forward losses at
/// θ ± ε·z (z regenerated from a seed, as every zeroth-order optimizer does) and the exact gradient
/// by backpropagation over the same arena. `diagnose` measures every quantity through this type.
///
/// Vectors other than z (the gradient, a power-iteration vector) are kept *compact*: only the
/// elements of `region` (what a step perturbs: the whole arena except the token-embedding rows the
/// batch does not read, whose gradient is exactly zero), laid end to end.
public final class DiagnosticProbe {
    public let task: TrainingTask
    public let inputs: [[Int32]]
    public let labels: [Int]
    /// The distribution of z (the gradient section switches it to compare both).
    public var perturbation: Perturbation
    public let threads: Int
    var core: ZerothOrderCore { ZerothOrderCore(arena: task.arena, eps: 1, perturbation: perturbation, threads: threads) }
    /// Sorted, disjoint arena ranges a step perturbs (`PerturbedRegion`).
    public let region: [Range<Int>]
    /// Σ of the region's range lengths: the dimension n every estimate lives in.
    public let regionCount: Int
    let backprop: ([[Int32]], [Int], ParameterArena) -> Float
    /// (arena layout) scratch the backward pass writes.
    let gradientArena: ParameterArena
    /// (regionCount) ∇L at the base weights.
    public let gradient: UnsafeMutablePointer<Float>
    /// Loss at the base weights, by the forward pass (what L0 of a two-point step is).
    public let loss0: Float
    /// Loss at the base weights returned by the backward pass (same function; differs by rounding).
    public let backpropLoss: Float

    /// - Parameter region: the elements to perturb (sorted, disjoint); nil: what a training step with
    ///   `--embedding-perturbation batch` perturbs. A smaller region (a few tensors) is how the tests
    ///   compare with a Hessian block built exactly.
    public init(task: TrainingTask, inputs: [[Int32]], labels: [Int], perturbation: Perturbation, threads: Int,
                region: [Range<Int>]? = nil) throws {
        (self.task, self.inputs, self.labels, self.perturbation, self.threads) = (task, inputs, labels, perturbation, threads)
        let maxTokens = inputs.reduce(0) { $0 + $1.count }
        try task.prepare(maxTokens: maxTokens)
        backprop = task.makeBackprop(maxTokens: maxTokens)
        self.region = region ?? ZerothOrderCore(arena: task.arena, eps: 1, perturbation: perturbation, threads: threads)
            .region(task.embeddingRows(inputs))
        regionCount = self.region.reduce(0) { $0 + $1.count }
        gradientArena = task.arena.sameLayout(tag: .gradients)
        gradient = TaggedMemory.allocate(floats: regionCount, tag: .scratch)
        backpropLoss = backprop(inputs, labels, gradientArena)
        loss0 = task.loss(inputs, labels: labels)
        gather(gradientArena.storage, into: gradient)
    }

    deinit { TaggedMemory.free(gradient, count: regionCount, tag: .scratch) }

    // MARK: forwards and backwards

    /// Batch loss at the current weights.
    public func loss() -> Float { task.loss(inputs, labels: labels) }

    /// The loss of each example alone at the current weights (the kernel's outputs).
    public func exampleLosses(_ examples: Range<Int>) -> [Double] {
        examples.map { Double(task.loss([inputs[$0]], labels: [labels[$0]])) }
    }

    /// ∇ of the loss of `examples` (default: the batch) at the current weights, into `out` (regionCount).
    @discardableResult
    public func gradient(into out: UnsafeMutablePointer<Float>, examples: Range<Int>? = nil) -> Float {
        let r = examples ?? inputs.indices
        let loss = backprop(Array(inputs[r]), Array(labels[r]), gradientArena)
        gather(gradientArena.storage, into: out)
        return loss
    }

    // MARK: moves

    /// θ += scale·z(seed) on the region (the optimizers' own pass).
    public func move(seed: UInt64, _ scale: Float) { core.add(seed, scale, region) }

    /// θ += scale·v on the region (v compact).
    public func move(along v: UnsafePointer<Float>, _ scale: Float) {
        let w = task.arena.storage
        forEachRange { range, at in
            for j in 0..<range.count { w[range.lowerBound + j] = w[range.lowerBound + j].addingProduct(scale, v[at + j]) }
        }
    }

    // MARK: products with z

    /// Σ_i z_i(seed)·v_i over the region (v compact), in Double.
    public func dot(seed: UInt64, _ v: UnsafePointer<Float>) -> Double {
        let starts = compactStarts
        let sum = LockedSum()
        NoiseSweep.forEach(count: task.arena.count, region: region, everywhere: false, seeds: [seed],
                           perturbation: perturbation, threads: threads) { lo, hi, z in
            let at = Self.compactIndex(lo, region: region, starts: starts)
            var s = 0.0
            for j in 0..<(hi - lo) { s += Double(z[0][j]) * Double(v[at + j]) }
            sum.add(s)
        }
        return sum.value
    }

    /// v += scale·z(seed) (v compact).
    public func add(seed: UInt64, _ scale: Float, to v: UnsafeMutablePointer<Float>) {
        let starts = compactStarts
        NoiseSweep.forEach(count: task.arena.count, region: region, everywhere: false, seeds: [seed],
                           perturbation: perturbation, threads: threads) { lo, hi, z in
            let at = Self.compactIndex(lo, region: region, starts: starts)
            for j in 0..<(hi - lo) { v[at + j] = v[at + j].addingProduct(scale, z[0][j]) }
        }
    }

    /// v = z(seed) (v compact).
    public func fill(seed: UInt64, _ v: UnsafeMutablePointer<Float>) {
        v.update(repeating: 0, count: regionCount)
        add(seed: seed, 1, to: v)
    }

    // MARK: compact vectors

    public func allocate() -> UnsafeMutablePointer<Float> { TaggedMemory.allocate(floats: regionCount, tag: .scratch) }
    public func free(_ v: UnsafeMutablePointer<Float>) { TaggedMemory.free(v, count: regionCount, tag: .scratch) }

    /// Σ a_i·b_i in Double.
    public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Double {
        let sum = LockedSum()
        parallelFor(regionCount, minChunk: 1 << 16) { r in
            var s = 0.0
            for i in r { s += Double(a[i]) * Double(b[i]) }
            sum.add(s)
        }
        return sum.value
    }

    /// The region's elements of an arena-layout buffer, end to end.
    func gather(_ full: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        forEachRange { range, at in (out + at).update(from: full + range.lowerBound, count: range.count) }
    }

    /// Where each region range starts in the compact vector.
    lazy var compactStarts: [Int] = {
        var starts: [Int] = [], at = 0
        for r in region { starts.append(at); at += r.count }
        return starts
    }()

    func forEachRange(_ body: (Range<Int>, Int) -> Void) {
        for (r, at) in zip(region, compactStarts) { body(r, at) }
    }

    /// The compact index of arena element `i` (which lies in the region).
    static func compactIndex(_ i: Int, region: [Range<Int>], starts: [Int]) -> Int {
        var a = 0, b = region.count
        while a < b {   // first range ending after i
            let m = (a + b) / 2
            if region[m].upperBound <= i { a = m + 1 } else { b = m }
        }
        precondition(a < region.count && region[a].contains(i), "element \(i) is outside the perturbed region")
        return starts[a] + (i - region[a].lowerBound)
    }
}

/// A Double sum added to from several threads.
final class LockedSum: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0.0
    func add(_ x: Double) { lock.lock(); total += x; lock.unlock() }
    var value: Double { lock.lock(); defer { lock.unlock() }; return total }
}
