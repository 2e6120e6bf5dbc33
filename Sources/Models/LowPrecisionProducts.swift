import Tensors

/// bf16 copies of a model's block matrices, keyed by the fp32 weight's address, and the product
/// that uses them (`eval --precision bf16`, encoder bench): about twice the fp32 sgemm rate on CPUs
/// with AVX512_BF16, at bf16 rounding of weights and activations. Norms, attention, softmax and
/// heads stay fp32. For evaluation only: training updates the fp32 arena, which the copies would
/// not follow.
struct LowPrecisionProducts {
    let matrices: [Int: BF16Matrix]
    let linear = BF16Linear()

    /// - Parameter weights: each matrix with its (rows = out, columns = in) shape.
    init(_ weights: [(UnsafeMutablePointer<Float>, rows: Int, columns: Int)]) throws {
        guard BF16Linear.isSupported else {
            throw ModelError("bf16 products need a CPU with AVX512_BF16 (or AMX); use fp32 on this machine")
        }
        var matrices: [Int: BF16Matrix] = [:]
        for (p, rows, columns) in weights { matrices[Int(bitPattern: p)] = BF16Matrix(p, rows: rows, columns: columns) }
        self.matrices = matrices
    }
}

/// y (rows, out) = x (rows, in) · Wᵀ (+ y when `accumulate`), through W's bf16 copy when `low`
/// has one, else fp32 sgemm. `sameInput`: x is unchanged since the previous product, so its bf16
/// conversion is reused.
@inline(__always)
func product(_ low: LowPrecisionProducts?, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
             _ y: UnsafeMutablePointer<Float>, rows: Int, out: Int, in: Int, accumulate: Bool = false,
             sameInput: Bool = false) {
    if let low, let w16 = low.matrices[Int(bitPattern: w)] {
        low.linear(x, w16, y, m: rows, accumulate: accumulate, sameInput: sameInput)
    } else {
        BLAS.linear(x, w, y, m: rows, n: out, k: `in`, accumulate: accumulate)
    }
}
