#include "zf_bf16.h"

#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <string.h>

// One oneDNN engine and stream for the process, made on first use.
static dnnl_engine_t engine;
static dnnl_stream_t stream;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static int engine_status = -1;

static void make_engine(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return;
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) return;
    engine_status = 0;
}

int zf_bf16_supported(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

// Primitives are made once and kept: a product of a shape seen before costs only its execution.
// m changes with every batch (batch × its longest sequence), and each fixed-m primitive holds
// ~220 KB of JIT code that oneDNN's own cache keeps even after we destroy ours, so keying on every m
// grew a training run with dev evaluations by ~0.9 MB a step (issue 22). So above `fixed_m_limit`
// rows one primitive per (n, k) takes m at run time (oneDNN's gemm:jit, measured within ±15% of the
// fixed-m brgemm kernel at m = 200-1,600 on Zen 4: docs/weights-16bit.md); up to that limit
// (decoding, short prompts) the fixed-m kernel stays, up to 3× faster there, and there are few such m.
enum { fixed_m_limit = 16 };

typedef struct {
    int64_t m;   // rows, or DNNL_RUNTIME_DIM_VAL for the run-time-m primitive of (n, k)
    int n, k, accumulate;
    dnnl_primitive_t primitive;
} cached_product;

enum { cache_size = 256 };
static cached_product cache[cache_size];
static int cache_used;
static int cache_next;   // round-robin replacement once full
// Held from the lookup to the end of the execution: a primitive is never replaced while in use.
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char implementation[64] = "none";

const char *zf_bf16_implementation(void) { return implementation; }

// The three operands of y (m, n) = x (m, k) · wᵀ; m may be DNNL_RUNTIME_DIM_VAL.
static dnnl_status_t describe(dnnl_memory_desc_t *src, dnnl_memory_desc_t *weights, dnnl_memory_desc_t *dst,
                              int64_t m, int n, int k) {
    dnnl_dims_t src_dims = {m, k}, src_strides = {k, 1};
    dnnl_dims_t w_dims = {k, n}, w_strides = {1, k};   // (n, k) row-major read as (k, n): the transpose
    dnnl_dims_t dst_dims = {m, n}, dst_strides = {n, 1};
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(src, 2, src_dims, dnnl_bf16, src_strides))) return s;
    if ((s = dnnl_memory_desc_init_by_strides(weights, 2, w_dims, dnnl_bf16, w_strides))) return s;
    return dnnl_memory_desc_init_by_strides(dst, 2, dst_dims, dnnl_f32, dst_strides);
}

static dnnl_status_t make_product(int64_t m, int n, int k, int accumulate, dnnl_primitive_t *out) {
    dnnl_memory_desc_t src, weights, dst;
    dnnl_status_t s;
    if ((s = describe(&src, &weights, &dst, m, n, k))) return s;
    dnnl_matmul_desc_t desc;
    if ((s = dnnl_matmul_desc_init(&desc, &src, &weights, NULL, &dst))) return s;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t post = NULL;
    if (accumulate) {
        if ((s = dnnl_primitive_attr_create(&attr))) return s;
        if ((s = dnnl_post_ops_create(&post))) return s;
        if ((s = dnnl_post_ops_append_sum(post, 1.0f))) return s;
        if ((s = dnnl_primitive_attr_set_post_ops(attr, post))) return s;
    }
    dnnl_primitive_desc_t pd;
    s = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
    if (post) dnnl_post_ops_destroy(post);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (s) return s;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl) {
        strncpy(implementation, impl, sizeof implementation - 1);
    }
    s = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

// The cached primitive for (m, n, k, accumulate); call with cache_lock held.
static dnnl_primitive_t product_for(int64_t m, int n, int k, int accumulate, dnnl_status_t *status) {
    for (int i = 0; i < cache_used; i++) {
        cached_product *c = &cache[i];
        if (c->m == m && c->n == n && c->k == k && c->accumulate == accumulate) {
            *status = dnnl_success;
            return c->primitive;
        }
    }
    dnnl_primitive_t p = NULL;
    *status = make_product(m, n, k, accumulate, &p);
    if (*status == dnnl_success) {
        int slot = cache_used < cache_size ? cache_used++ : (cache_next++ % cache_size);
        if (cache[slot].primitive) dnnl_primitive_destroy(cache[slot].primitive);
        cache[slot] = (cached_product){m, n, k, accumulate, p};
    }
    return p;
}

static dnnl_status_t execute(dnnl_primitive_t p, const uint16_t *x, const uint16_t *w, float *y, int m, int n, int k) {
    dnnl_memory_desc_t src, weights, dst;
    dnnl_status_t s;
    if ((s = describe(&src, &weights, &dst, m, n, k))) return s;
    dnnl_memory_t ms, mw, md;
    if ((s = dnnl_memory_create(&ms, &src, engine, (void *)x))) return s;
    if ((s = dnnl_memory_create(&mw, &weights, engine, (void *)w))) { dnnl_memory_destroy(ms); return s; }
    if ((s = dnnl_memory_create(&md, &dst, engine, y))) { dnnl_memory_destroy(ms); dnnl_memory_destroy(mw); return s; }
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}};
    s = dnnl_primitive_execute(p, stream, 3, args);
    if (s == dnnl_success) s = dnnl_stream_wait(stream);
    dnnl_memory_destroy(ms);
    dnnl_memory_destroy(mw);
    dnnl_memory_destroy(md);
    return s;
}

int zf_bf16_linear(const uint16_t *x, const uint16_t *w, float *y, int m, int n, int k, int accumulate) {
    pthread_once(&engine_once, make_engine);
    if (engine_status != 0) return dnnl_runtime_error;
    dnnl_status_t s;
    pthread_mutex_lock(&cache_lock);
    dnnl_primitive_t p = product_for(m <= fixed_m_limit ? m : DNNL_RUNTIME_DIM_VAL, n, k, accumulate, &s);
    if (s == dnnl_success) s = execute(p, x, w, y, m, n, k);
    pthread_mutex_unlock(&cache_lock);
    return s;
}

void zf_f32_to_bf16(const float *x, uint16_t *y, size_t n) {
    size_t i = 0;
#if defined(__AVX512BF16__)
    for (; i + 16 <= n; i += 16) {
        __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
        _mm256_storeu_si256((__m256i *)(y + i), (__m256i)h);
    }
#endif
    for (; i < n; i++) {   // round to nearest even, NaN kept quiet
        uint32_t bits;
        memcpy(&bits, x + i, 4);
        if ((bits & 0x7fffffff) > 0x7f800000) { y[i] = (uint16_t)((bits >> 16) | 0x40); continue; }
        bits += 0x7fff + ((bits >> 16) & 1);
        y[i] = (uint16_t)(bits >> 16);
    }
}
