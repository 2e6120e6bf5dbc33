import CDNNL

/// A weight matrix rounded to bfloat16 (round to nearest even), for the bf16 evaluation mode.
/// Tagged `weights`: it is a second copy of them, half the size.
public final class BF16Matrix: @unchecked Sendable {
    public let rows: Int, columns: Int
    let buffer: TaggedBuffer
    var storage: UnsafeMutablePointer<UInt16> {   // (rows, columns) bf16 bits
        UnsafeMutableRawPointer(buffer.base).assumingMemoryBound(to: UInt16.self)
    }

    public init(_ w: UnsafePointer<Float>, rows: Int, columns: Int) {
        (self.rows, self.columns) = (rows, columns)
        buffer = TaggedBuffer(floats: (rows * columns + 1) / 2, tag: .weights)
        let out = UnsafeMutableRawPointer(buffer.base).assumingMemoryBound(to: UInt16.self)
        parallelFor(rows, minChunk: 16) { r in
            zf_f32_to_bf16(w + r.lowerBound * columns, out + r.lowerBound * columns, r.count * columns)
        }
    }
}

/// y = x · Wᵀ with x and W rounded to bf16 and f32 accumulation (oneDNN), ~2× the fp32 sgemm
/// rate where the CPU has AVX512_BF16. x is converted into a scratch buffer that grows as needed;
/// one instance per model, used by one forward pass at a time.
public final class BF16Linear: @unchecked Sendable {
    private var scratch: TaggedBuffer?

    public init() {}

    /// Whether the CPU runs bf16 products natively (else the mode is refused, not emulated).
    public static var isSupported: Bool { zf_bf16_supported() != 0 }

    /// The oneDNN kernel behind the products (after the first one).
    public static var implementation: String { String(cString: zf_bf16_implementation()) }

    /// Shape of the input the scratch holds in bf16 (for `sameInput`).
    private var converted: (m: Int, k: Int)?

    /// y (m, n) = x (m, k) · wᵀ (+ y when `accumulate`).
    /// - Parameter sameInput: x is unchanged since the previous product (q, k, v and gate, up share
    ///   their input): its bf16 copy is reused instead of converted again.
    public func callAsFunction(_ x: UnsafePointer<Float>, _ w: BF16Matrix, _ y: UnsafeMutablePointer<Float>,
                               m: Int, accumulate: Bool = false, sameInput: Bool = false) {
        let k = w.columns, n = w.rows
        if !(sameInput && converted.map { $0.m == m && $0.k == k } == true) {
            if (scratch?.count ?? 0) * 2 < m * k { scratch = TaggedBuffer(floats: (m * k + 1) / 2, tag: .scratch) }
            let xb = UnsafeMutableRawPointer(scratch!.base).assumingMemoryBound(to: UInt16.self)
            parallelFor(m, minChunk: 16) { r in
                zf_f32_to_bf16(x + r.lowerBound * k, xb + r.lowerBound * k, r.count * k)
            }
            converted = (m, k)
        }
        let xb = UnsafeMutableRawPointer(scratch!.base).assumingMemoryBound(to: UInt16.self)   // (m, k) bf16
        OpTimer.measure(.matmul) {
            let status = zf_bf16_linear(xb, w.storage, y, Int32(m), Int32(n), Int32(k), accumulate ? 1 : 0)
            // Not a precondition: this module builds with -Ounchecked, which never evaluates those.
            if status != 0 { fatalError("oneDNN bf16 product (\(m)×\(n)×\(k)) failed with status \(status)") }
        }
    }
}
