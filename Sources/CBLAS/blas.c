// Run-time binding to OpenBLAS; see zf_blas.h for why the library is opened here and not linked.
#define _GNU_SOURCE
#include "zf_blas.h"
#include <cpuid.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// cblas enum values (cblas.h): RowMajor = 101, NoTrans = 111, Trans = 112.
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                         int, float, float *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);
typedef char *(*core_name_fn)(void);

static sgemm_fn p_sgemm;
static sgemv_fn p_sgemv;
static set_threads_fn p_set_threads;
static get_threads_fn p_get_threads;
static core_name_fn p_core_name;
static char error_message[512];
static int init_status = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

// True when the CPU and the OS both support AVX-512 F (the SkylakeX kernels need it).
static int has_avx512f(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(b & (1u << 16))) return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xE6) == 0xE6;  // XMM, YMM, opmask, ZMM state enabled
}

static int has_avx2(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & (1u << 5)) != 0;
}

static void open_library(void) {
    // Respect a core type the user chose; otherwise pick the best kernel this CPU can run.
    if (getenv("OPENBLAS_CORETYPE") == NULL) {
        if (has_avx512f()) setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
        else if (has_avx2()) setenv("OPENBLAS_CORETYPE", "Haswell", 0);
    }
    const char *names[] = {"libopenblas.so.0", "libopenblas.so", NULL};
    void *handle = NULL;
    for (int i = 0; names[i] && !handle; i++) handle = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(error_message, sizeof error_message,
                 "cannot open OpenBLAS (libopenblas.so.0): %s. Install it with "
                 "`apt-get install libopenblas-dev`.", dlerror());
        return;
    }
    p_sgemm = (sgemm_fn)dlsym(handle, "cblas_sgemm");
    p_sgemv = (sgemv_fn)dlsym(handle, "cblas_sgemv");
    p_set_threads = (set_threads_fn)dlsym(handle, "openblas_set_num_threads");
    p_get_threads = (get_threads_fn)dlsym(handle, "openblas_get_num_threads");
    p_core_name = (core_name_fn)dlsym(handle, "openblas_get_corename");
    if (!p_sgemm || !p_sgemv) {
        snprintf(error_message, sizeof error_message,
                 "OpenBLAS was opened but cblas_sgemm/cblas_sgemv are missing");
        return;
    }
    init_status = 0;
}

int zf_blas_init(void) {
    pthread_once(&once, open_library);
    return init_status;
}

const char *zf_blas_error(void) { return init_status == 0 ? NULL : error_message; }

const char *zf_blas_core_name(void) {
    if (zf_blas_init() != 0 || !p_core_name) return "unknown";
    return p_core_name();
}

void zf_blas_set_num_threads(int n) {
    if (zf_blas_init() == 0 && p_set_threads) p_set_threads(n);
}

int zf_blas_get_num_threads(void) {
    if (zf_blas_init() == 0 && p_get_threads) return p_get_threads();
    return 1;
}

void zf_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    p_sgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, M, N, K, alpha, A, lda,
            B, ldb, beta, C, ldc);
}

void zf_sgemv(int transA, int M, int N, float alpha, const float *A, int lda, const float *x,
              int incx, float beta, float *y, int incy) {
    p_sgemv(ROW_MAJOR, transA ? TRANS : NO_TRANS, M, N, alpha, A, lda, x, incx, beta, y, incy);
}
