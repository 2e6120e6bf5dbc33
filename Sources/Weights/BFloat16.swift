/// bfloat16 as the arena stores it: the top 16 bits of an f32 (sign, 8-bit exponent, 7-bit
/// mantissa), held as `UInt16` bits. Widening is exact; narrowing rounds, to nearest even (loading,
/// the products' perturbed panels) or stochastically (MeZO's update, `StochasticRounding`).
public enum BFloat16 {
    /// The f32 value of bf16 bits: exact, NaN and Inf included.
    @inline(__always)
    public static func widen(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// Round to nearest, ties to even, as `torch.bfloat16` and oneDNN round; NaN stays a quiet NaN.
    @inline(__always)
    public static func roundNearestEven(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if bits & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
        return UInt16(truncatingIfNeeded: (bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16)
    }

    /// Stochastic rounding with 16 uniform random bits `r`: the magnitude rounds away from zero with
    /// probability (low 16 bits of x)/2¹⁶, so E[result] = x (unbiased; within a binade the bf16 grid
    /// is linear in the bit pattern, and the step across a binade lands exactly on the power of two).
    /// A value bf16 represents exactly has zero low bits, gets no carry and rounds to itself for
    /// every r. NaN stays a quiet NaN; ±Inf stays.
    @inline(__always)
    public static func roundStochastic(_ x: Float, _ r: UInt16) -> UInt16 {
        let bits = x.bitPattern
        if bits & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
        if bits & 0x7fff_ffff == 0x7f80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) }
        return UInt16(truncatingIfNeeded: (bits &+ UInt32(r)) >> 16)
    }

    /// out[j] = widen(h[j]) for j in 0..<count, 16 lanes at a time. The per-element call does not
    /// inline across modules, and MeZO's bf16 update widens every parameter every step.
    public static func widen(_ h: UnsafePointer<UInt16>, into out: UnsafeMutablePointer<Float>, count: Int) {
        var j = 0
        while count - j >= 16 {
            let bits = SIMD16<UInt32>(truncatingIfNeeded: UnsafeRawPointer(h + j).loadUnaligned(as: SIMD16<UInt16>.self))
            UnsafeMutableRawPointer(out + j).storeBytes(of: bits &<< 16, as: SIMD16<UInt32>.self)
            j += 16
        }
        while j < count { out[j] = widen(h[j]); j += 1 }
    }

    /// out[j] = roundStochastic(x[j], random[j]) for j in 0..<count, bit for bit, 16 lanes at a
    /// time (the scalar form's two branches kept the loop from vectorizing: 20% of a 1.5B-parameter
    /// bf16 MeZO step, measured with perf).
    public static func roundStochastic(_ x: UnsafePointer<Float>, random: UnsafePointer<UInt16>,
                                       into out: UnsafeMutablePointer<UInt16>, count: Int) {
        let infinity = SIMD16<UInt32>(repeating: 0x7f80_0000)
        var j = 0
        while count - j >= 16 {
            let bits = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD16<UInt32>.self)
            let r = SIMD16<UInt32>(truncatingIfNeeded: UnsafeRawPointer(random + j).loadUnaligned(as: SIMD16<UInt16>.self))
            let magnitude = bits & 0x7fff_ffff
            var rounded = (bits &+ r) &>> 16
            rounded.replace(with: bits &>> 16, where: magnitude .== infinity)            // ±Inf: no carry
            rounded.replace(with: (bits &>> 16) | 0x40, where: magnitude .> infinity)   // NaN: quiet
            UnsafeMutableRawPointer(out + j).storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: rounded),
                                                        as: SIMD16<UInt16>.self)
            j += 16
        }
        while j < count { out[j] = roundStochastic(x[j], random[j]); j += 1 }
    }
}

/// How the arena holds a model's weights (`--weights`).
public enum WeightFormat: String, Codable, Sendable, CaseIterable {
    /// 4 bytes a parameter; a bf16 or f16 file is widened exactly.
    case f32
    /// 2 bytes a parameter for the matrices and embeddings (the products read them directly);
    /// norm vectors and biases stay f32 (a few hundred KB: simpler, and exact for them).
    case bf16
    /// IEEE half. Not held in the arena: refused with a reason (`ParameterArena.init`'s callers,
    /// `WeightFormat.f16Refusal`).
    case f16

    /// Why `--weights f16` is refused: oneDNN runs f16 products natively only with AVX512_FP16
    /// (Sapphire Rapids and later), which AMD Zen 4 lacks; converting f16 to bf16 would lose bits
    /// (f16 has 10 mantissa bits, bf16 7); f16 widens to f32 exactly.
    public static let f16Refusal = "--weights f16 is not supported: f16 products need AVX512_FP16, and narrowing f16 to bf16 "
        + "is not exact (10 mantissa bits to 7); use --weights f32, which widens an f16 file exactly"

    /// The default for a folder whose weights files hold `dtypes` ("F32", "BF16", "F16", ...), and why.
    public static func defaultFor(dtypes: Set<String>) -> (WeightFormat, String) {
        if dtypes.contains("F32") { return (.f32, "the safetensors hold f32 tensors") }
        if dtypes == ["BF16"] { return (.bf16, "the safetensors hold bf16 tensors") }
        if dtypes.contains("F16") {
            return (.f32, "the safetensors hold f16 tensors; f16 is widened exactly to f32 (bf16 would lose bits)")
        }
        return (.f32, "the safetensors hold \(dtypes.sorted().joined(separator: ", "))")
    }
}
