import CBLAS

/// Thin Swift face of OpenBLAS (opened at run time by CBLAS so the fast kernel is chosen; see zf_blas.h).
public enum BLAS {
    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens OpenBLAS; call once at start-up to get a clear error instead of a crash later.
    public static func load() throws {
        if zf_blas_init() != 0 {
            throw LoadError(description: String(cString: zf_blas_error()))
        }
    }

    /// The kernel family OpenBLAS runs ("SkylakeX", "Haswell", ...).
    public static var coreName: String { String(cString: zf_blas_core_name()) }

    static func setThreads(_ n: Int) { zf_blas_set_num_threads(Int32(n)) }

    /// Runs one product large enough that every thread touches OpenBLAS's packing buffers, so
    /// their pages are resident before a memory baseline is taken (`profile`).
    public static func warmUp() {
        let n = 1024
        let a = [Float](repeating: 1, count: n * n), b = a
        var c = [Float](repeating: 0, count: n * n)
        c.withUnsafeMutableBufferPointer { c in
            linear(a, b, c.baseAddress!, m: n, n: n, k: n)
        }
    }

    /// y (M, N) = x (M, K) · wᵀ, with w stored (N, K) as a Hugging Face Linear weight (out, in).
    /// `accumulate` adds into y instead of overwriting it (residual connections for free).
    @inline(__always)
    public static func linear(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                              _ y: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int,
                              accumulate: Bool = false) {
        precondition(zf_blas_init() == 0, "BLAS.load() must succeed before matmuls")
        OpTimer.measure(.matmul) {
            zf_sgemm(0, 1, Int32(m), Int32(n), Int32(k), 1, x, Int32(k), w, Int32(k),
                     accumulate ? 1 : 0, y, Int32(n))
        }
    }

    /// General row-major GEMM: C (M, N) = alpha · op(A) · op(B) + beta · C.
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                            _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(zf_blas_init() == 0, "BLAS.load() must succeed before matmuls")
        OpTimer.measure(.matmul) {
            zf_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                     b, Int32(ldb), beta, c, Int32(ldc))
        }
    }
}
