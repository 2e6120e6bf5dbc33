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

// Primitives are made per shape (m varies with the batch) and kept: a product of a shape seen
// before costs only its execution. A forward pass uses a handful of shapes.
typedef struct {
    int m, n, k, accumulate;
    dnnl_primitive_t primitive;
} cached_product;

enum { cache_size = 256 };
static cached_product cache[cache_size];
static int cache_used;
static int cache_next;   // round-robin replacement once full
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char implementation[64] = "none";

const char *zf_bf16_implementation(void) { return implementation; }

static dnnl_status_t make_product(int m, int n, int k, int accumulate, dnnl_primitive_t *out) {
    dnnl_memory_desc_t src, weights, dst;
    dnnl_dims_t src_dims = {m, k}, src_strides = {k, 1};
    dnnl_dims_t w_dims = {k, n}, w_strides = {1, k};   // (n, k) row-major read as (k, n): the transpose
    dnnl_dims_t dst_dims = {m, n}, dst_strides = {n, 1};
    dnnl_status_t s;
    if ((s = dnnl_memory_desc_init_by_strides(&src, 2, src_dims, dnnl_bf16, src_strides))) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&weights, 2, w_dims, dnnl_bf16, w_strides))) return s;
    if ((s = dnnl_memory_desc_init_by_strides(&dst, 2, dst_dims, dnnl_f32, dst_strides))) return s;
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

static dnnl_primitive_t product_for(int m, int n, int k, int accumulate, dnnl_status_t *status) {
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < cache_used; i++) {
        cached_product *c = &cache[i];
        if (c->m == m && c->n == n && c->k == k && c->accumulate == accumulate) {
            pthread_mutex_unlock(&cache_lock);
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
    pthread_mutex_unlock(&cache_lock);
    return p;
}

int zf_bf16_linear(const uint16_t *x, const uint16_t *w, float *y, int m, int n, int k, int accumulate) {
    pthread_once(&engine_once, make_engine);
    if (engine_status != 0) return dnnl_runtime_error;
    dnnl_status_t s;
    dnnl_primitive_t p = product_for(m, n, k, accumulate, &s);
    if (s != dnnl_success) return s;
    dnnl_memory_desc_t src, weights, dst;
    dnnl_dims_t src_dims = {m, k}, src_strides = {k, 1}, w_dims = {k, n}, w_strides = {1, k};
    dnnl_dims_t dst_dims = {m, n}, dst_strides = {n, 1};
    dnnl_memory_desc_init_by_strides(&src, 2, src_dims, dnnl_bf16, src_strides);
    dnnl_memory_desc_init_by_strides(&weights, 2, w_dims, dnnl_bf16, w_strides);
    dnnl_memory_desc_init_by_strides(&dst, 2, dst_dims, dnnl_f32, dst_strides);
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
