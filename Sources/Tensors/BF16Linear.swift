import CDNNL

/// A weight matrix rounded to bfloat16 (round to nearest even), for the bf16 products. Either a
/// copy of one matrix (tagged `weights`: a second copy of them, half the size) or a scratch that
/// holds whichever matrix is converted into it last (tagged `scratch`).
public final class BF16Matrix: @unchecked Sendable {
    public private(set) var rows: Int, columns: Int
    let capacity: Int
    let buffer: TaggedBuffer
    var storage: UnsafeMutablePointer<UInt16> {   // (rows, columns) bf16 bits
        UnsafeMutableRawPointer(buffer.base).assumingMemoryBound(to: UInt16.self)
    }

    /// A copy of `w` (rows, columns).
    public init(_ w: UnsafePointer<Float>, rows: Int, columns: Int) {
        (self.rows, self.columns, capacity) = (rows, columns, rows * columns)
        buffer = TaggedBuffer(floats: (rows * columns + 1) / 2, tag: .weights)
        update(from: w, rows: rows, columns: columns)
    }

    /// A scratch for matrices of up to `capacity` elements (empty until `update`).
    public init(capacity: Int) {
        (rows, columns, self.capacity) = (0, 0, capacity)
        buffer = TaggedBuffer(floats: (capacity + 1) / 2, tag: .scratch)
    }

    /// Rounds `w` (rows, columns) into this buffer, which then holds that matrix.
    public func update(from w: UnsafePointer<Float>, rows: Int, columns: Int) {
        precondition(rows * columns <= capacity, "matrix of \(rows)×\(columns) exceeds the bf16 buffer")
        (self.rows, self.columns) = (rows, columns)
        let out = storage
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
