import CDNNL

/// A weight matrix rounded to bfloat16 (round to nearest even), for the bf16 products. Either a
/// copy of one matrix (tagged `weights`: a second copy of them, half the size) or a scratch that
/// holds whichever matrix is converted into it last (tagged `scratch`).
public final class BF16Matrix: @unchecked Sendable {
    public private(set) var rows: Int, columns: Int
    let capacity: Int
    let buffer: TaggedBuffer?   // nil for a view of bits owned elsewhere (a bf16 arena's matrix)
    public let storage: UnsafeMutablePointer<UInt16>   // (rows, columns) bf16 bits

    /// A view of bf16 bits held elsewhere (a bf16 parameter arena): no copy, no allocation.
    public init(viewing bits: UnsafeMutablePointer<UInt16>, rows: Int, columns: Int) {
        (self.rows, self.columns, capacity) = (rows, columns, rows * columns)
        buffer = nil
        storage = bits
    }

    /// A copy of `w` (rows, columns).
    public init(_ w: UnsafePointer<Float>, rows: Int, columns: Int) {
        (self.rows, self.columns, capacity) = (rows, columns, rows * columns)
        let owned = TaggedBuffer(floats: (rows * columns + 1) / 2, tag: .weights)
        buffer = owned
        storage = UnsafeMutableRawPointer(owned.base).assumingMemoryBound(to: UInt16.self)
        update(from: w, rows: rows, columns: columns)
    }

    /// A scratch for matrices of up to `capacity` elements (empty until `update`).
    public init(capacity: Int) {
        (rows, columns, self.capacity) = (0, 0, capacity)
        let owned = TaggedBuffer(floats: (capacity + 1) / 2, tag: .scratch)
        buffer = owned
        storage = UnsafeMutableRawPointer(owned.base).assumingMemoryBound(to: UInt16.self)
    }

    /// Says the buffer now holds a (rows, columns) matrix its caller wrote into `storage`.
    public func setShape(rows: Int, columns: Int) {
        precondition(rows * columns <= capacity, "matrix of \(rows)×\(columns) exceeds the bf16 buffer")
        (self.rows, self.columns) = (rows, columns)
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

extension BF16Matrix {
    /// Fills this scratch with `source` (rows, columns) moved by `perturb` and rounded to nearest
    /// even: per piece of the flat elements, widen the bf16 bits to f32, `perturb(values, first,
    /// count)` adds what it adds to elements first..<first+count, round back. MeZO's no-write
    /// forward on a bf16 arena builds each product's weight panel θ ± εz this way (the arena's θ is
    /// never written; docs/weights-16bit.md). Pieces are independent, so the result does not depend
    /// on the thread count.
    public func fill(perturbing source: BF16Matrix, rows: Int? = nil, firstRow: Int = 0,
                     _ perturb: @escaping (_ values: UnsafeMutablePointer<Float>, _ first: Int, _ count: Int) -> Void) {
        let rows = rows ?? source.rows, columns = source.columns
        setShape(rows: rows, columns: columns)
        let total = rows * columns, piece = 8192
        let src = source.storage + firstRow * columns, dst = storage
        parallelFor((total + piece - 1) / piece, minChunk: 4) { pieces in
            let values = UnsafeMutablePointer<Float>.allocate(capacity: piece)   // (piece) one piece widened
            defer { values.deallocate() }
            for p in pieces {
                let lo = p * piece, n = min(piece, total - lo)
                for i in 0..<n { values[i] = Float(bitPattern: UInt32(src[lo + i]) << 16) }
                perturb(values, firstRow * columns + lo, n)
                zf_f32_to_bf16(values, dst + lo, n)
            }
        }
    }
}
