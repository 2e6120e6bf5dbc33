import Dispatch

/// One pass over a flat parameter buffer that adds seeded noise (Gaussian or Rademacher): the only way MeZO touches
/// the weights. Training and replay both go through `apply`, so a replayed run performs the same
/// floating-point operations element by element and reproduces the run's weights bit for bit.
///
/// z is generated chunk by chunk into a per-thread buffer (`NoiseSource.fill`), never for the
/// whole arena: memory stays at one chunk per thread. Chunks are aligned to absolute indices, so
/// the result does not depend on the thread count.
public struct NoiseOp: Sendable, Equatable {
    /// x ← x + scale·z (one fused multiply-add) on elements outside the decayed ranges.
    public var scale: Float
    /// On elements inside the decayed ranges: x ← ((x + restore·z) · decay) + decayedScale·z:
    /// restore the perturbation, shrink by weight decay, then step. Only used with weight decay.
    public var restore: Float
    public var decay: Float
    public var decayedScale: Float

    /// The same x ← x + scale·z everywhere.
    public static func add(_ scale: Float) -> NoiseOp {
        NoiseOp(scale: scale, restore: 0, decay: 1, decayedScale: scale)
    }

    var isPlainAdd: Bool { restore == 0 && decay == 1 && decayedScale == scale }
}

/// A sequence of ops sharing one seed, applied element by element in one pass: the replay of a
/// MeZO step (perturb, perturb back, update) costs one generation of z instead of three, and still
/// performs the very operations, in the same order, that the run performed pass by pass.
public struct NoisePass: Sendable {
    public let seed: UInt64
    public let ops: [NoiseOp]
    public let perturbation: Perturbation

    public init(seed: UInt64, ops: [NoiseOp], perturbation: Perturbation = .gaussian) {
        self.seed = seed
        self.ops = ops
        self.perturbation = perturbation
    }

    static let chunk = GaussianNoise.chunkElements

    /// Applies the ops to x[0..<count] with z of the pass's distribution at (seed, i).
    public func apply(to x: UnsafeMutablePointer<Float>, count: Int, decayed: [Range<Int>], threads: Int) {
        apply(to: x, ranges: [0..<count], decayed: decayed, threads: threads)
    }

    /// Applies the ops to the elements in `ranges` (sorted, disjoint) with z of the pass's
    /// distribution at each element's absolute index, so a range gets the z it would get in a
    /// whole-arena pass. Work is dealt in pieces cut at absolute multiples of `chunk`, so the result
    /// does not depend on the thread count.
    /// - Parameter decayed: sorted, disjoint index ranges that get the weight-decay form.
    public func apply(to x: UnsafeMutablePointer<Float>, ranges: [Range<Int>], decayed: [Range<Int>], threads: Int) {
        let noise = perturbation.source(seed: seed)
        var pieces: [Range<Int>] = []   // the ranges cut at chunk boundaries: one task each
        for range in ranges where !range.isEmpty {
            var lo = range.lowerBound
            while lo < range.upperBound {
                let hi = min(range.upperBound, (lo / Self.chunk + 1) * Self.chunk)
                pieces.append(lo..<hi)
                lo = hi
            }
        }
        let workers = max(1, min(threads, pieces.count))
        let dealer = ChunkDealer(count: pieces.count)
        if case .rademacher(let signs) = noise, ops.allSatisfy(\.isPlainAdd) {
            // ±1 needs no buffer of z: each element is loaded, moved by every op, and stored once.
            let scales = ops.map(\.scale)
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while let c = dealer.take() {
                    signs.add(scales, to: x, from: pieces[c].lowerBound, to: pieces[c].upperBound)
                }
            }
            return
        }
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let z = UnsafeMutablePointer<Float>.allocate(capacity: Self.chunk)   // (chunk) this thread's noise
            defer { z.deallocate() }
            while let c = dealer.take() {
                let lo = pieces[c].lowerBound, hi = pieces[c].upperBound
                noise.fill(UnsafeMutableBufferPointer(start: z, count: hi - lo), startingAt: lo)
                for op in ops {
                    var start = lo
                    if !op.isPlainAdd {
                        for range in decayed where range.upperBound > lo && range.lowerBound < hi {
                            let a = max(lo, range.lowerBound), b = min(hi, range.upperBound)
                            if start < a { Self.add(op.scale, x, z, from: start, to: a, chunkStart: lo) }
                            Self.decayed(op, x, z, from: a, to: b, chunkStart: lo)
                            start = b
                        }
                    }
                    if start < hi { Self.add(op.scale, x, z, from: start, to: hi, chunkStart: lo) }
                }
            }
        }
    }

    @inline(__always)
    static func add(_ scale: Float, _ x: UnsafeMutablePointer<Float>, _ z: UnsafePointer<Float>,
                    from: Int, to: Int, chunkStart: Int) {
        let s = SIMD16<Float>(repeating: scale)
        var i = from
        while i + 16 <= to {
            let p = UnsafeMutableRawPointer(x + i)
            let zv = UnsafeRawPointer(z + (i - chunkStart)).loadUnaligned(as: SIMD16<Float>.self)
            p.storeBytes(of: p.loadUnaligned(as: SIMD16<Float>.self).addingProduct(s, zv), as: SIMD16<Float>.self)
            i += 16
        }
        while i < to { x[i] = x[i].addingProduct(scale, z[i - chunkStart]); i += 1 }
    }

    @inline(__always)
    static func decayed(_ op: NoiseOp, _ x: UnsafeMutablePointer<Float>, _ z: UnsafePointer<Float>,
                        from: Int, to: Int, chunkStart: Int) {
        for i in from..<to {
            let zi = z[i - chunkStart]
            x[i] = (x[i].addingProduct(op.restore, zi) * op.decay).addingProduct(op.decayedScale, zi)
        }
    }
}
