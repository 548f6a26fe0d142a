/* igemm.c - the portable NHWC convolution microkernels (4 x 16 tiles of
 * plain C that compilers vectorize with the baseline SIMD: SSE2 on x86-64,
 * NEON on aarch64) and the choice of microkernels per ISA. */
#include "igemm.h"

#define GEN_MR 4
#define GEN_NR 16

static float epi_value(const conv_epi *ep, float v, int64_t j, const float *zr)
{
    if (ep->bias) v += ep->bias[j];
    if (zr) v += zr[j];
    return gemm_act_scalar(ep->act, ep->p0, ep->p1, v);
}

static inline __attribute__((always_inline)) void generic_store(const int MR, float acc[][GEN_NR], float *c,
                                                                 int64_t ldc, int64_t nc, const conv_epi *ep)
{
    for (int i = 0; i < MR; i++) {
        const float *zr = ep->z ? ep->z + i * ep->ldz : NULL;
        for (int64_t j = 0; j < nc; j++) c[i * ldc + j] = epi_value(ep, acc[i][j], j, zr);
    }
}

/* The tile: per tap t, row i's kc values at a[t*IGEMM_MAX_MR + i], or with
 * off at a[i] + off[t]. */
static inline __attribute__((always_inline)) void generic_body(const int MR, int64_t kc, int64_t ks,
                                                                const int64_t *off, const float *const *a,
                                                                const float *w, float *c, int64_t ldc,
                                                                int64_t nc, const conv_epi *ep)
{
    float acc[GEN_MR][GEN_NR];
    memset(acc, 0, sizeof acc);
    for (int64_t t = 0; t < ks; t++) {
        const float *ap[GEN_MR];
        for (int i = 0; i < MR; i++) ap[i] = off ? a[i] + off[t] : a[t * IGEMM_MAX_MR + i];
        for (int64_t p = 0; p < kc; p++, w += GEN_NR)
            for (int i = 0; i < MR; i++) {
                float av = ap[i][p];
                for (int j = 0; j < GEN_NR; j++) acc[i][j] += av * w[j];
            }
    }
    generic_store(MR, acc, c, ldc, nc, ep);
}

#define GEN_TILE(R)                                                                                \
    static void generic_tile_##R(int64_t kc, int64_t ks, const float *const *a, const float *w,    \
                                 float *c, int64_t ldc, int64_t nc, const conv_epi *ep)            \
    {                                                                                              \
        generic_body(R, kc, ks, NULL, a, w, c, ldc, nc, ep);                                       \
    }                                                                                              \
    static void generic_offs_##R(int64_t kc, int64_t ks, const int64_t *off, const float *const *a, \
                                 const float *w, float *c, int64_t ldc, int64_t nc,                \
                                 const conv_epi *ep)                                               \
    {                                                                                              \
        generic_body(R, kc, ks, off, a, w, c, ldc, nc, ep);                                        \
    }
GEN_TILE(1)
GEN_TILE(2)
GEN_TILE(3)
GEN_TILE(4)
#undef GEN_TILE

static void generic_dwconv(int64_t channels, int taps, const float *const *in, const float *w,
                           int64_t cstride, float *out, const float *z, const conv_epi *ep)
{
    for (int64_t c = 0; c < channels; c++) out[c] = 0.0f;
    for (int t = 0; t < taps; t++) {
        const float *x = in[t], *wt = w + t * cstride;
        for (int64_t c = 0; c < channels; c++) out[c] += x[c] * wt[c];
    }
    for (int64_t c = 0; c < channels; c++) out[c] = epi_value(ep, out[c], c, z);
}

static void generic_dw_row(const dw_row_args *a)
{
    const int64_t C = a->c;
    for (int64_t ox = 0; ox < a->ow; ox++) {
        float *out = a->out + ox * C;
        for (int64_t c = 0; c < C; c++) out[c] = 0.0f;
        for (int64_t ky = 0; ky < a->kh; ky++) {
            const float *row = a->rows[ky];
            if (!row) continue;
            for (int64_t kx = 0; kx < a->kw; kx++) {
                int64_t ix = ox * a->sw - a->pw + kx * a->dw;
                if (ix < 0 || ix >= a->iw) continue;
                const float *px = row + ix * C, *wt = a->w + (ky * a->kw + kx) * a->cstride;
                for (int64_t c = 0; c < C; c++) out[c] += px[c] * wt[c];
            }
        }
        const float *zr = a->z ? a->z + ox * C : NULL;
        for (int64_t c = 0; c < C; c++) out[c] = epi_value(a->ep, out[c], c, zr);
    }
}

static void generic_max_pool(int64_t channels, int taps, const float *const *in, float *out, float empty)
{
    for (int64_t c = 0; c < channels; c++) out[c] = NAN;
    for (int t = 0; t < taps; t++) {
        const float *x = in[t];
        for (int64_t c = 0; c < channels; c++) out[c] = isnan(out[c]) || x[c] > out[c] ? x[c] : out[c];
    }
    for (int64_t c = 0; c < channels; c++) out[c] = isnan(out[c]) ? empty : out[c];
}

static void generic_sum_pool(int64_t channels, int taps, const float *const *in, float *out, float scale)
{
    for (int64_t c = 0; c < channels; c++) out[c] = 0.0f;
    for (int t = 0; t < taps; t++) {
        const float *x = in[t];
        for (int64_t c = 0; c < channels; c++) out[c] += x[c];
    }
    for (int64_t c = 0; c < channels; c++) out[c] *= scale;
}

const igemm_ukernel igemm_f32_generic = {
    "igemm_f32_4x16_generic", ONYX_ISA_GENERIC, GEN_MR, GEN_NR,
    {NULL, generic_tile_1, generic_tile_2, generic_tile_3, generic_tile_4},
    0, {NULL},
    generic_dwconv, generic_dw_row, generic_dw_row, generic_dw_row, generic_dw_row, generic_max_pool, generic_sum_pool,
    {NULL, generic_offs_1, generic_offs_2, generic_offs_3, generic_offs_4},
    {NULL},
};

const igemm_ukernel *igemm_ukernel_for_isa(onyx_isa isa)
{
    if (isa > onyx_cpu_info()->isa) return NULL;
    switch (isa) {
    case ONYX_ISA_GENERIC: return &igemm_f32_generic;
#if defined(__x86_64__)
    case ONYX_ISA_AVX2: return &igemm_f32_avx2;
    case ONYX_ISA_AVX512: return &igemm_f32_avx512;
#endif
#if defined(__aarch64__)
    case ONYX_ISA_NEON: return &igemm_f32_neon;
#endif
    default: return NULL;
    }
}

const igemm_ukernel *igemm_ukernel_best(void)
{
    const igemm_ukernel *uk = igemm_ukernel_for_isa(onyx_cpu_info()->isa);
    return uk ? uk : &igemm_f32_generic;
}
