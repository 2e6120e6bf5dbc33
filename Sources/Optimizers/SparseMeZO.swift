import Tensors
import Weights

/// Sparse MeZO (Liu et al. 2024, "Sparse MeZO: less parameters for better performance in
/// zeroth-order LLM fine-tuning", arXiv:2402.15751): MeZO that perturbs and updates only the
/// weights whose magnitude is at most a per-layer threshold h — the paper's observation is that the
/// estimate's noise hurts large weights most. The authors' code (NUS-HPC-AI-Lab/SparseMeZO) could
/// not be fetched here; this follows the paper's Algorithm (mask m = |θ| ≤ h per layer, z ⊙ m in
/// both probes and the update) and its memory-efficient variant (no mask tensor per layer).
///
/// Each step: h per slot is the `quantile` of |θ| over a fixed strided sample of at most 4,096 of
/// its elements (so h follows the weights as they move, at negligible cost), the mask is one bit
/// per element (P/8 bytes, tag `optimizer`, +1/32 of the fp32 weights), computed from the weights at
/// the start of the step and held through the step (the probes move θ, so recomputing it mid-step
/// would change the mask). Then MeZO's two probes and update with z ⊙ m. The mask is a function of
/// θ, so the seed log replays it; there is no state to snapshot.
/// Differences from the paper: the quantile comes from a sample instead of a full sort; norms and
/// biases are masked per slot like matrices.
public final class SparseMeZO: ZerothOrderOptimizer {
    public let core: ZerothOrderCore
    /// Fraction of each slot's elements (smallest |θ| first) that a step perturbs.
    public let quantile: Float
    let words: Int
    let mask: UnsafeMutablePointer<UInt32>   // (count/32 rounded up) bit i: element i is perturbed this step
    public var arena: ParameterArena { core.arena }
    public var state: [String: ParameterArena] { [:] }

    static let sampleSize = 4096

    public init(core: ZerothOrderCore, quantile: Float) {
        precondition(quantile > 0 && quantile <= 1)
        self.core = core
        self.quantile = quantile
        words = (core.arena.count + 31) / 32
        let raw = TaggedMemory.allocate(floats: words, tag: .optimizer)
        mask = UnsafeMutableRawPointer(raw).bindMemory(to: UInt32.self, capacity: words)
    }

    deinit {
        TaggedMemory.free(UnsafeMutableRawPointer(mask).assumingMemoryBound(to: Float.self), count: words, tag: .optimizer)
    }

    /// Bytes of the mask for an arena of `count` elements (the memory plan's figure).
    public static func maskBytes(count: Int) -> Int { (count + 31) / 32 * 4 }

    /// h of a slot: the `quantile` of |θ| over a strided sample (every ⌈n/4096⌉-th element).
    public func threshold(_ slot: ParameterSlot) -> Float {
        let n = slot.count, stride = max(1, (n + Self.sampleSize - 1) / Self.sampleSize)
        let x = arena.storage + slot.offset
        let sample = Swift.stride(from: 0, to: n, by: stride).map { abs(x[$0]) }.sorted()
        return sample[min(sample.count - 1, Int(quantile * Float(sample.count - 1)))]
    }

    /// Sets the mask bits of every word that meets the region from today's weights.
    func computeMask(_ region: [Range<Int>]) {
        let slots = arena.slots, theta = arena.storage
        let limits = slots.map { threshold($0) }
        var spans: [Range<Int>] = []   // word ranges, merged
        for r in region where !r.isEmpty {
            let w = (r.lowerBound / 32)..<((r.upperBound + 31) / 32)
            if let last = spans.last, last.upperBound >= w.lowerBound {
                spans[spans.count - 1] = last.lowerBound..<max(last.upperBound, w.upperBound)
            } else { spans.append(w) }
        }
        let count = arena.count
        for span in spans {
            parallelFor(span.count, threads: core.threads, minChunk: 4096) { part in
                var s = 0
                for w in (span.lowerBound + part.lowerBound)..<(span.lowerBound + part.upperBound) {
                    var bits: UInt32 = 0
                    for b in 0..<32 {
                        let i = w * 32 + b
                        guard i < count else { break }
                        while s < slots.count, slots[s].offset + slots[s].count <= i { s += 1 }
                        guard s < slots.count, i >= slots[s].offset else { continue }   // an alignment gap
                        if abs(theta[i]) <= limits[s] { bits |= 1 << UInt32(b) }
                    }
                    mask[w] = bits
                }
            }
        }
    }

    /// θ += scale·(z ⊙ m) on the region.
    func add(_ seed: UInt64, _ scale: Float, _ region: [Range<Int>]) {
        let theta = arena.storage, mask = mask
        NoiseSweep.forEach(count: arena.count, region: region, everywhere: false, seeds: [seed],
                           perturbation: core.perturbation, threads: core.threads) { lo, hi, z in
            let z0 = z[0] - lo
            for i in lo..<hi {
                let m: Float = (mask[i >> 5] >> UInt32(i & 31)) & 1 == 1 ? 1 : 0
                theta[i] = theta[i].addingProduct(scale * m, z0[i])
            }
        }
    }

    public func step(_ index: Int, seeds: [UInt64], embeddingRows: [Int32]?, lr: Float,
                     loss: () throws -> Float) rethrows -> MeZOStep {
        let region = core.region(embeddingRows)
        computeMask(region)
        let (plus, minus, finite) = try core.twoPoint(seeds, region, loss, move: add)
        let g = zip(plus, minus).map { finite ? core.projected($0, $1) : 0 }
        if finite {
            for (k, seed) in seeds.enumerated() { add(seed, -lr * g[k] / Float(seeds.count), region) }
        }
        return MeZOStep(step: index, seeds: seeds, projectedGradients: g, lr: lr, lossPlus: plus, lossMinus: minus,
                        skipped: !finite, embeddingRows: embeddingRows, losses: zip(plus, minus).flatMap { [$0, $1] })
    }

    public func replay(_ record: MeZOStep) throws { try replayByStepping(record) }
}
