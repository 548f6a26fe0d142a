/* gemm_epilogue_impl.h - the GEMM epilogue (gemm_ukernel.row_final, see
 * ops/gemm.h) written once over the vector layer of ops/simd_math.h; the
 * microkernel files include it after simd_math.h:
 *
 *     #define GEMM_ROW_FINAL gemm_f32_avx512_row_final
 *     #include "gemm_epilogue_impl.h"
 *
 * The driver calls row_final on one row of a finished tile at a time, NR
 * columns (2 vectors on AVX-512 and AVX2, 3 on NEON), so a call is short:
 * the activation is dispatched once per call into a loop compiled for it
 * (no switch per vector, its constants set up once), the last partial
 * vector is masked, and the residual of the next tile is prefetched. */
#ifndef GEMM_ROW_FINAL
#error "define GEMM_ROW_FINAL (and include simd_math.h) before including gemm_epilogue_impl.h"
#endif

#include <stdint.h>

/* The data operand goes second in max/min, so NaN propagates (as in the hot
 * kernels and the convolution epilogues). */
SIMD_FN vf gemm_act_vf(const gemm_act act, vf v, vf p0, vf p1)
{
    switch (act) {
    case GEMM_ACT_RELU: return vf_max(vf_zero(), v);
    case GEMM_ACT_CLIP: return vf_min(p1, vf_max(p0, v));
    case GEMM_ACT_LEAKY_RELU: return vf_select(vf_lt(v, vf_zero()), v, vf_mul(v, p0));
    case GEMM_ACT_HARD_SWISH: {
        vf h = vf_fmadd(v, vf_set1(1.0f / 6.0f), vf_set1(0.5f));
        return vf_mul(v, vf_min(vf_set1(1.0f), vf_max(vf_zero(), h)));
    }
    case GEMM_ACT_HARD_SIGMOID: return vf_min(vf_set1(1.0f), vf_max(vf_zero(), vf_fmadd(v, p0, p1)));
    case GEMM_ACT_SIGMOID: return vf_sigmoid(v);
    case GEMM_ACT_SILU: return vf_mul(v, vf_sigmoid(v));
    case GEMM_ACT_TANH: return vf_tanh(v);
    case GEMM_ACT_GELU: return vf_gelu(v);
    default: return v;
    }
}

/* dst[j] = act(alpha src[j] + rb + cb[j] + z[j]) with act a constant after inlining */
SIMD_FN void gemm_row_final_act(const gemm_act act, const gemm_epilogue *ep, float *dst,
                                const float *src, int64_t n, float rb, const float *cb, const float *z)
{
    const vf alpha = vf_set1(ep->alpha), bias = vf_set1(rb);
    const vf p0 = vf_set1(ep->p0), p1 = vf_set1(ep->p1);
    int64_t j = 0;
    for (; j + VF_N <= n; j += VF_N) {
        vf v = vf_fmadd(alpha, vf_load(src + j), bias);
        if (cb) v = vf_add(v, vf_load(cb + j));
        if (z) v = vf_add(v, vf_load(z + j));
        vf_store(dst + j, gemm_act_vf(act, v, p0, p1));
    }
    if (j < n) {
        const int64_t w = n - j;
        vf v = vf_fmadd(alpha, vf_load_n(src + j, w), bias);
        if (cb) v = vf_add(v, vf_load_n(cb + j, w));
        if (z) v = vf_add(v, vf_load_n(z + j, w));
        vf_store_n(dst + j, gemm_act_vf(act, v, p0, p1), w);
    }
}

static SIMD_TARGET void GEMM_ROW_FINAL(const gemm_epilogue *ep, float *dst, const float *src,
                                       int64_t n, float rb, const float *cb, const float *z)
{
    /* The driver's next tile is usually the next NR columns of the same rows:
     * start loading that residual now (it comes from L2 or further, and its
     * load latency was a third of this function's time in DINOv2's residual
     * GEMMs); the microkernel's depth loop hides it. A prefetch never faults,
     * and the address is formed as an integer: it may lie past the array. */
    if (z)
        for (int64_t o = 0; o < n; o += 16)
            __builtin_prefetch((const void *)((uintptr_t)z + (uintptr_t)(n + o) * sizeof(float)));
    switch (ep->act) {
    case GEMM_ACT_RELU: gemm_row_final_act(GEMM_ACT_RELU, ep, dst, src, n, rb, cb, z); break;
    case GEMM_ACT_CLIP: gemm_row_final_act(GEMM_ACT_CLIP, ep, dst, src, n, rb, cb, z); break;
    case GEMM_ACT_LEAKY_RELU: gemm_row_final_act(GEMM_ACT_LEAKY_RELU, ep, dst, src, n, rb, cb, z); break;
    case GEMM_ACT_HARD_SWISH: gemm_row_final_act(GEMM_ACT_HARD_SWISH, ep, dst, src, n, rb, cb, z); break;
    case GEMM_ACT_HARD_SIGMOID: gemm_row_final_act(GEMM_ACT_HARD_SIGMOID, ep, dst, src, n, rb, cb, z); break;
    case GEMM_ACT_SIGMOID: gemm_row_final_act(GEMM_ACT_SIGMOID, ep, dst, src, n, rb, cb, z); break;
    case GEMM_ACT_SILU: gemm_row_final_act(GEMM_ACT_SILU, ep, dst, src, n, rb, cb, z); break;
    case GEMM_ACT_TANH: gemm_row_final_act(GEMM_ACT_TANH, ep, dst, src, n, rb, cb, z); break;
    case GEMM_ACT_GELU: gemm_row_final_act(GEMM_ACT_GELU, ep, dst, src, n, rb, cb, z); break;
    default: gemm_row_final_act(GEMM_ACT_NONE, ep, dst, src, n, rb, cb, z); break;
    }
}
