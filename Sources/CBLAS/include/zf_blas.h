// The few BLAS entry points the engine uses, resolved from OpenBLAS at run time.
//
// Why not link -lopenblas directly: OpenBLAS picks its kernel (its "core type") in a library
// constructor that runs before main(). Debian's 0.3.21 does not recognise recent CPUs and falls back to
// the slow Prescott kernels unless OPENBLAS_CORETYPE is already in the environment at that moment.
// Opening the library ourselves lets zf_blas_init() set that variable first, so every process that
// uses the engine (CLI, tests, benchmarks) gets the fast kernel without the user knowing any of this.
#ifndef ZF_BLAS_H
#define ZF_BLAS_H

#ifdef __cplusplus
extern "C" {
#endif

/// Opens OpenBLAS once (thread-safe). Returns 0 on success, or -1 with a message in zf_blas_error().
int zf_blas_init(void);
/// Human-readable reason for the last failure of zf_blas_init, or NULL.
const char *zf_blas_error(void);
/// The core type OpenBLAS reports (e.g. "SkylakeX"), or "unknown".
const char *zf_blas_core_name(void);
void zf_blas_set_num_threads(int n);
int zf_blas_get_num_threads(void);

/// Row-major single-precision GEMM: C = alpha * op(A) * op(B) + beta * C.
/// transA/transB: 0 = no transpose, 1 = transpose. Same meaning as cblas_sgemm(CblasRowMajor, ...).
void zf_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/// Row-major single-precision GEMV: y = alpha * op(A) * x + beta * y.
void zf_sgemv(int transA, int M, int N, float alpha, const float *A, int lda, const float *x,
              int incx, float beta, float *y, int incy);

#ifdef __cplusplus
}
#endif
#endif
