// bf16 matrix products through oneDNN (libdnnl), for the bf16 evaluation mode.
//
// Why oneDNN: Debian's OpenBLAS 0.3.21 is built without sbgemm (no bf16 GEMM), while oneDNN's
// brgemm kernels use AVX512_BF16's dot-product instructions: ~2x the fp32 sgemm rate on this machine.
// Inputs are bf16 (weights converted once, activations per product), outputs and accumulation f32.
#ifndef ZF_BF16_H
#define ZF_BF16_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 if this CPU runs oneDNN's bf16 kernels natively (AVX512_BF16 or AMX), else 0.
int zf_bf16_supported(void);

/// The implementation oneDNN chose for a bf16 product (e.g. "brg:avx512_core_bf16"), for reports.
const char *zf_bf16_implementation(void);

/// y[i] = bf16(x[i]) with round-to-nearest-even, as torch.bfloat16 rounds.
void zf_f32_to_bf16(const float *x, uint16_t *y, size_t n);

/// y (m, n) = x (m, k) * w^T (+ y when accumulate), w stored (n, k) as a Hugging Face Linear weight.
/// x and w are bf16, y is f32. Returns 0, or a oneDNN status code on failure.
int zf_bf16_linear(const uint16_t *x, const uint16_t *w, float *y, int m, int n, int k, int accumulate);

#ifdef __cplusplus
}
#endif
#endif
