import Dispatch
import Weights

/// MeZO on a bf16 arena without writing θ during the forwards (docs/weights-16bit.md).
///
/// In-place ±εz on bf16 weights loses the perturbation to rounding and a restore does not return
/// the same bits (the ulp of a 0.02 weight is 1.2e-4; ε·z is 1e-3); and the update lr·g·z (~2e-5)
/// is below half an ulp, so round-to-nearest would drop it. So:
/// - the two forwards read θ ± εz where the weights are read (`RegionReadPerturbation`, set as the
///   arena's `readPerturbation`: each product's weight panel, the gathered embedding rows, the
///   norm vectors); θ is never written between them;
/// - θ is written once per step: θ ← round(θ·(1 − lr·wd) − Σ_k lr·c(g_k)/q · z_k), with the bf16
///   matrices rounded stochastically from a Philox stream of the step's first seed, separate from
///   z's (`StochasticRounding`), and the f32 norms and biases in plain f32. The update is a pure
///   function of the logged record, so replay and resume apply the same one and stay bitwise.
extension MeZO {
    func stepWithoutWriting(_ index: Int, seeds: [UInt64], rows: [Int32]?, lr: Float,
                            loss: () throws -> Float) rethrows -> MeZOStep {
        let region = ranges(rows)
        defer { arena.readPerturbation = nil }
        var plus: [Float] = [], minus: [Float] = [], gradients: [Float] = []
        for seed in seeds {
            arena.readPerturbation = RegionReadPerturbation(noise: perturbation.source(seed: seed), scale: eps, region: region)
            let lp = try loss()
            arena.readPerturbation = RegionReadPerturbation(noise: perturbation.source(seed: seed), scale: -eps, region: region)
            let lm = try loss()
            plus.append(lp)
            minus.append(lm)
            gradients.append(Float((Double(lp) - Double(lm)) / (2 * Double(eps))))
        }
        arena.readPerturbation = nil
        let finite = (plus + minus).allSatisfy(\.isFinite)
        let record = MeZOStep(step: index, seeds: seeds, projectedGradients: finite ? gradients : gradients.map { _ in 0 },
                              lr: lr, lossPlus: plus, lossMinus: minus, skipped: !finite, embeddingRows: rows)
        applyRoundedUpdate(record)
        return record
    }

    /// The one write of a step: θ ← θ·shrink + Σ_k c_k·z_k on the step's region, bf16 elements
    /// rounded stochastically. Nothing is written when the step changes nothing (skipped, or
    /// lr·c(g) = 0 for every k without decay), so lr 0 keeps every bit, −0 included.
    func applyRoundedUpdate(_ r: MeZOStep) {
        if r.skipped { return }
        let q = Float(r.seeds.count)
        let coefficients = r.projectedGradients.map { -r.lr * rule.coefficient($0) / q }
        let shrink = 1 - r.lr * weightDecay
        if shrink == 1 && coefficients.allSatisfy({ $0 == 0 }) { return }
        let region = ranges(r.embeddingRows)
        let rounding = StochasticRounding(seed: r.seeds[0])
        let sources = r.seeds.map { perturbation.source(seed: $0) }
        // Pieces: the region cut at slot ends and at absolute multiples of the chunk.
        var pieces: [(slot: ParameterSlot, range: Range<Int>)] = []
        for slot in arena.slots {
            let end = slot.offset + slot.count
            for range in NoiseSweep.overlapping(region, slot.offset, end) {
                var lo = max(range.lowerBound, slot.offset)
                let hi = min(range.upperBound, end)
                while lo < hi {
                    let next = min(hi, (lo / NoisePass.chunk + 1) * NoisePass.chunk)
                    pieces.append((slot, lo..<next))
                    lo = next
                }
            }
        }
        let dealer = ChunkDealer(count: pieces.count)
        let arena = self.arena
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, pieces.count))) { _ in
            let z = sources.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: NoisePass.chunk) }   // (seeds, chunk)
            let random = UnsafeMutablePointer<UInt16>.allocate(capacity: NoisePass.chunk)   // (chunk) rounding bits
            let x = UnsafeMutablePointer<Float>.allocate(capacity: NoisePass.chunk)          // (chunk) θ widened, updated
            defer { z.forEach { $0.deallocate() }; random.deallocate(); x.deallocate() }
            while let c = dealer.take() {
                let (slot, range) = pieces[c]
                let n = range.count
                for (k, source) in sources.enumerated() {
                    source.fill(UnsafeMutableBufferPointer(start: z[k], count: n), startingAt: range.lowerBound)
                }
                let scale = slot.role == .matrix || slot.role == .embedding ? shrink : 1
                let first = range.lowerBound - slot.offset
                let bits = slot.isHalf ? arena.halfPointer(slot) + first : nil
                let floats = slot.isHalf ? x : arena.pointer(slot) + first
                if let bits { BFloat16.widen(bits, into: x, count: n) }
                // θ·shrink, then + c_k·z_k in seed order: one rounding each, in f32.
                if scale != 1 { for j in 0..<n { floats[j] = floats[j] * scale } }
                for k in 0..<z.count {
                    let ck = coefficients[k], zk = z[k]
                    for j in 0..<n { floats[j] = floats[j].addingProduct(ck, zk[j]) }
                }
                if let bits {
                    rounding.fill(random, from: range.lowerBound, count: n)
                    BFloat16.roundStochastic(x, random: random, into: bits, count: n)
                }
            }
        }
        arena.weightsChanged()
    }
}

/// θ + scale·z(seed) on the elements of a step's region, applied to values as the forward reads
/// them (`ParameterArena.readPerturbation`); elements outside the region are read unmoved, as the
/// in-place pass leaves them. values[j] += scale·z is one fused multiply-add, as `NoisePass.add`.
final class RegionReadPerturbation: ReadPerturbation, @unchecked Sendable {
    let noise: NoiseSource
    let scale: Float
    let region: [Range<Int>]   // sorted, disjoint logical ranges

    init(noise: NoiseSource, scale: Float, region: [Range<Int>]) {
        (self.noise, self.scale, self.region) = (noise, scale, region)
    }

    func perturb(_ values: UnsafeMutablePointer<Float>, start: Int, count: Int) {
        for r in NoiseSweep.overlapping(region, start, start + count) {
            let a = max(start, r.lowerBound), b = min(start + count, r.upperBound)
            if a >= b { continue }
            let z = UnsafeMutablePointer<Float>.allocate(capacity: b - a)   // (b − a) z at a..<b
            defer { z.deallocate() }
            noise.fill(UnsafeMutableBufferPointer(start: z, count: b - a), startingAt: a)
            let v = values + (a - start)
            for j in 0..<(b - a) { v[j] = v[j].addingProduct(scale, z[j]) }
        }
    }
}
