import Weights

/// The distribution of MeZO's direction z. Both are functions of (seed, element index), so a pass
/// regenerates z for any slice on any thread and a run replays bit for bit.
public enum Perturbation: String, Codable, Sendable, CaseIterable {
    /// Normal(0, 1) by Box–Muller from Philox (`GaussianNoise`): the MeZO paper's choice.
    case gaussian
    /// ±1 from one Philox bit each (`RademacherNoise`): 128 elements per Philox block.
    case rademacher

    /// The seeded generator of this distribution.
    public func source(seed: UInt64) -> NoiseSource {
        switch self {
        case .gaussian: return .gaussian(GaussianNoise(seed: seed))
        case .rademacher: return .rademacher(RademacherNoise(seed: seed))
        }
    }
}

/// A seeded z generator of either distribution.
public enum NoiseSource: Sendable {
    case gaussian(GaussianNoise)
    case rademacher(RademacherNoise)

    /// out[j] = z(index + j).
    @inline(__always)
    public func fill(_ out: UnsafeMutableBufferPointer<Float>, startingAt index: Int) {
        switch self {
        case .gaussian(let g): g.fill(out, startingAt: index)
        case .rademacher(let r): r.fill(out, startingAt: index)
        }
    }

    /// z at one element (scalar reference).
    public func value(at index: Int) -> Float {
        switch self {
        case .gaussian(let g): return g.value(at: index)
        case .rademacher(let r): return r.value(at: index)
        }
    }
}

/// Which elements of the arena a MeZO step perturbs and updates.
///
/// The loss of a batch does not depend on the token-embedding rows the batch does not read, so the
/// part of z on those rows only adds zero-mean noise (−lr·g·z_r) to them: perturbing just the rows
/// read (its tokens, and a tied head's candidate rows) keeps MeZO's expected update and lowers its
/// variance, and skips most of the arena (Gemma-3-270M: 63% of it is the 262,144 × 640 table).
/// z keeps its absolute element index, so a row gets the same z as in the all-elements pass.
public enum PerturbedRegion {
    /// Sorted, disjoint element ranges: the whole arena except the rows of `tokenEmbedding` not
    /// in `rows` (sorted and distinct, as `MeZO.step` records them); the whole arena when `rows` is nil.
    public static func ranges(count: Int, tokenEmbedding: ParameterSlot?, rows: [Int32]?) -> [Range<Int>] {
        guard let rows, let slot = tokenEmbedding else { return [0..<count] }
        let width = slot.shape.count == 2 ? slot.shape[1] : 1
        let end = slot.offset + slot.count
        var ranges: [Range<Int>] = []
        if slot.offset > 0 { ranges.append(0..<slot.offset) }
        precondition(zip(rows, rows.dropFirst()).allSatisfy { $0 < $1 }, "embedding rows must be sorted and distinct")
        for row in rows {
            precondition(row >= 0 && Int(row) * width < slot.count, "embedding row \(row) outside \(slot.name)")
            let start = slot.offset + Int(row) * width
            if let last = ranges.last, last.upperBound == start {
                ranges[ranges.count - 1] = last.lowerBound..<(start + width)
            } else {
                ranges.append(start..<(start + width))
            }
        }
        if end < count {
            if let last = ranges.last, last.upperBound == end {
                ranges[ranges.count - 1] = last.lowerBound..<count
            } else {
                ranges.append(end..<count)
            }
        }
        return ranges
    }

    /// The token-embedding table of an arena: the first slot with the embedding role (the decoder
    /// and encoder layouts both declare their token table first; see DecoderLayout, EncoderLayout).
    public static func tokenEmbedding(of arena: ParameterArena) -> ParameterSlot? {
        arena.slots.first { $0.role == .embedding }
    }
}
