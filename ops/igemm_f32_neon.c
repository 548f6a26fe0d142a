/* igemm_f32_neon.c - the NHWC convolution microkernels for aarch64 NEON:
 * 8 x 8 tiles (16 q-register accumulators of the 32), a narrow 8 x 4 strip
 * for the last channels; depthwise and pooling four channels at a time.
 * Transcendental activations go through the scalar epilogue (they are rare
 * after convolutions that are not fused into a GEMM epilogue elsewhere). */
#include "igemm.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define NEON_MR 8

static inline float32x4_t neon_act(const conv_epi *ep, float32x4_t v, bool *scalar)
{
    switch (ep->act) {
    case GEMM_ACT_NONE: return v;
    case GEMM_ACT_RELU: return vmaxq_f32(v, vdupq_n_f32(0.0f));
    case GEMM_ACT_CLIP: return vminq_f32(vmaxq_f32(v, vdupq_n_f32(ep->p0)), vdupq_n_f32(ep->p1));
    case GEMM_ACT_LEAKY_RELU:
        return vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.0f)), vmulq_n_f32(v, ep->p0), v);
    case GEMM_ACT_HARD_SWISH: {
        float32x4_t h = vfmaq_n_f32(vdupq_n_f32(0.5f), v, 1.0f / 6.0f);
        h = vminq_f32(vmaxq_f32(h, vdupq_n_f32(0.0f)), vdupq_n_f32(1.0f));
        return vmulq_f32(v, h);
    }
    case GEMM_ACT_HARD_SIGMOID: {
        float32x4_t h = vfmaq_n_f32(vdupq_n_f32(ep->p1), v, ep->p0);
        return vminq_f32(vmaxq_f32(h, vdupq_n_f32(0.0f)), vdupq_n_f32(1.0f));
    }
    default: *scalar = true; return v;
    }
}

/* bias, residual, activation and the store of n (<= 4) channels j.. */
static inline void neon_store(const conv_epi *ep, float32x4_t v, float *dst, const float *zr, int64_t j,
                              int64_t n)
{
    float tmp[4];
    if (n == 4) {
        if (ep->bias) v = vaddq_f32(v, vld1q_f32(ep->bias + j));
        if (zr) v = vaddq_f32(v, vld1q_f32(zr + j));
        bool scalar = false;
        v = neon_act(ep, v, &scalar);
        if (!scalar) {
            vst1q_f32(dst + j, v);
            return;
        }
        vst1q_f32(tmp, v);
        for (int q = 0; q < 4; q++) dst[j + q] = gemm_act_scalar(ep->act, ep->p0, ep->p1, tmp[q]);
        return;
    }
    vst1q_f32(tmp, v);
    for (int64_t q = 0; q < n; q++) {
        float x = tmp[q];
        if (ep->bias) x += ep->bias[j + q];
        if (zr) x += zr[j + q];
        dst[j + q] = gemm_act_scalar(ep->act, ep->p0, ep->p1, x);
    }
}

static inline __attribute__((always_inline)) void neon_body(const int MR, const int NV, int64_t kc,
                                                             int64_t ks, const float *const *a,
                                                             const float *w, float *c, int64_t ldc,
                                                             int64_t nc, const conv_epi *ep)
{
    float32x4_t acc0[NEON_MR], acc1[NEON_MR];
    for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = vdupq_n_f32(0.0f);
    for (int64_t t = 0; t < ks; t++) {
        const float *ap[NEON_MR];
        for (int i = 0; i < MR; i++) ap[i] = a[t * IGEMM_MAX_MR + i];
        for (int64_t p = 0; p < kc; p++) {
            float32x4_t b0 = vld1q_f32(w), b1 = NV == 2 ? vld1q_f32(w + 4) : vdupq_n_f32(0.0f);
            w += 4 * NV;
            for (int i = 0; i < MR; i++) {
                float32x4_t av = vld1q_dup_f32(ap[i] + p);
                acc0[i] = vfmaq_f32(acc0[i], av, b0);
                if (NV == 2) acc1[i] = vfmaq_f32(acc1[i], av, b1);
            }
        }
    }
    int64_t n0 = nc < 4 ? nc : 4, n1 = nc - n0;
    for (int i = 0; i < MR; i++) {
        const float *zr = ep->z ? ep->z + i * ep->ldz : NULL;
        neon_store(ep, acc0[i], c + i * ldc, zr, 0, n0);
        if (NV == 2 && n1 > 0) neon_store(ep, acc1[i], c + i * ldc, zr, 4, n1);
    }
}

#define NEON_TILE(R, NV)                                                                           \
    static void neon_tile_##R##_##NV(int64_t kc, int64_t ks, const float *const *a, const float *w, \
                                     float *c, int64_t ldc, int64_t nc, const conv_epi *ep)        \
    {                                                                                              \
        neon_body(R, NV, kc, ks, a, w, c, ldc, nc, ep);                                            \
    }
NEON_TILE(1, 1) NEON_TILE(2, 1) NEON_TILE(3, 1) NEON_TILE(4, 1)
NEON_TILE(5, 1) NEON_TILE(6, 1) NEON_TILE(7, 1) NEON_TILE(8, 1)
NEON_TILE(1, 2) NEON_TILE(2, 2) NEON_TILE(3, 2) NEON_TILE(4, 2)
NEON_TILE(5, 2) NEON_TILE(6, 2) NEON_TILE(7, 2) NEON_TILE(8, 2)
#undef NEON_TILE

static void neon_dwconv(int64_t channels, int taps, const float *const *in, const float *w, int64_t cstride,
                        float *out, const float *z, const conv_epi *ep)
{
    int64_t c = 0;
    for (; c + 8 <= channels; c += 8) {
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0;
        for (int t = 0; t < taps; t++) {
            const float *x = in[t] + c, *wt = w + t * cstride + c;
            a0 = vfmaq_f32(a0, vld1q_f32(x), vld1q_f32(wt));
            a1 = vfmaq_f32(a1, vld1q_f32(x + 4), vld1q_f32(wt + 4));
        }
        neon_store(ep, a0, out, z, c, 4);
        neon_store(ep, a1, out, z, c + 4, 4);
    }
    for (; c < channels; c++) {
        float s = 0.0f;
        for (int t = 0; t < taps; t++) s += in[t][c] * w[t * cstride + c];
        if (ep->bias) s += ep->bias[c];
        if (z) s += z[c];
        out[c] = gemm_act_scalar(ep->act, ep->p0, ep->p1, s);
    }
}

/* Depthwise rows: four channels per block, the taps' weights of a 3x3
 * kernel held in registers, others read from L1. */
static inline __attribute__((always_inline)) void neon_dw_row_body(const int KH, const int KW, const dw_row_args *a)
{
    const int64_t kh = KH ? KH : a->kh, kw = KW ? KW : a->kw, C = a->c;
    int64_t c = 0;
    for (; c + 4 <= C; c += 4) {
        float32x4_t wv[9]; /* KH * KW <= 9 */
        for (int t = 0; t < KH * KW; t++) wv[t] = vld1q_f32(a->w + t * a->cstride + c);
        for (int64_t ox = 0; ox < a->ow; ox++) {
            float32x4_t acc = vdupq_n_f32(0.0f);
            for (int64_t ky = 0; ky < kh; ky++) {
                const float *row = a->rows[ky];
                if (!row) continue;
                for (int64_t kx = 0; kx < kw; kx++) {
                    int64_t ix = ox * a->sw - a->pw + kx * a->dw;
                    if (ix < 0 || ix >= a->iw) continue;
                    float32x4_t wt = KH ? wv[ky * KW + kx] : vld1q_f32(a->w + (ky * kw + kx) * a->cstride + c);
                    acc = vfmaq_f32(acc, vld1q_f32(row + ix * C + c), wt);
                }
            }
            neon_store(a->ep, acc, a->out + ox * C, a->z ? a->z + ox * C : NULL, c, 4);
        }
    }
    for (; c < C; c++) /* the last channels one at a time */
        for (int64_t ox = 0; ox < a->ow; ox++) {
            float s = 0.0f;
            for (int64_t ky = 0; ky < kh; ky++) {
                const float *row = a->rows[ky];
                for (int64_t kx = 0; row && kx < kw; kx++) {
                    int64_t ix = ox * a->sw - a->pw + kx * a->dw;
                    if (ix >= 0 && ix < a->iw) s += row[ix * C + c] * a->w[(ky * kw + kx) * a->cstride + c];
                }
            }
            if (a->ep->bias) s += a->ep->bias[c];
            if (a->z) s += a->z[ox * C + c];
            a->out[ox * C + c] = gemm_act_scalar(a->ep->act, a->ep->p0, a->ep->p1, s);
        }
}

static void neon_dw_row(const dw_row_args *a) { neon_dw_row_body(0, 0, a); }
static void neon_dw_row_3x3(const dw_row_args *a) { neon_dw_row_body(3, 3, a); }

static void neon_max_pool(int64_t channels, int taps, const float *const *in, float *out, float empty)
{
    int64_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        float32x4_t m = vdupq_n_f32(NAN);
        for (int t = 0; t < taps; t++) {
            float32x4_t x = vld1q_f32(in[t] + c);
            /* x where m is NaN (nothing yet) or x > m: NaN inputs never win */
            uint32x4_t take = vorrq_u32(vcgtq_f32(x, m), vmvnq_u32(vceqq_f32(m, m)));
            m = vbslq_f32(take, x, m);
        }
        vst1q_f32(out + c, vbslq_f32(vceqq_f32(m, m), m, vdupq_n_f32(empty)));
    }
    for (; c < channels; c++) {
        float m = NAN;
        for (int t = 0; t < taps; t++) m = isnan(m) || in[t][c] > m ? in[t][c] : m;
        out[c] = isnan(m) ? empty : m;
    }
}

static void neon_sum_pool(int64_t channels, int taps, const float *const *in, float *out, float scale)
{
    int64_t c = 0;
    for (; c + 4 <= channels; c += 4) {
        float32x4_t s = vdupq_n_f32(0.0f);
        for (int t = 0; t < taps; t++) s = vaddq_f32(s, vld1q_f32(in[t] + c));
        vst1q_f32(out + c, vmulq_n_f32(s, scale));
    }
    for (; c < channels; c++) {
        float s = 0.0f;
        for (int t = 0; t < taps; t++) s += in[t][c];
        out[c] = s * scale;
    }
}

const igemm_ukernel igemm_f32_neon = {
    "igemm_f32_8x8_neon", ONYX_ISA_NEON, NEON_MR, 8,
    {NULL, neon_tile_1_2, neon_tile_2_2, neon_tile_3_2, neon_tile_4_2, neon_tile_5_2, neon_tile_6_2,
     neon_tile_7_2, neon_tile_8_2},
    4,
    {NULL, neon_tile_1_1, neon_tile_2_1, neon_tile_3_1, neon_tile_4_1, neon_tile_5_1, neon_tile_6_1,
     neon_tile_7_1, neon_tile_8_1},
    neon_dwconv, neon_dw_row, neon_dw_row_3x3, neon_dw_row, neon_max_pool, neon_sum_pool,
};
#endif
