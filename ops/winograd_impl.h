/* winograd_impl.h - the F(4x4, 3x3) input and output transforms (winograd.h),
 * written once over a GCC/clang vector type and compiled per ISA:
 *
 *     #define WINO_LANES 16                 (floats per vector)
 *     #define WINO_TARGET SIMD_TARGET       (target attribute, or empty)
 *     #define WINO_TABLE wino_f32_avx512
 *     #include "winograd_impl.h"
 *
 * ops/winograd.c includes it with 4 lanes and no target: SSE2 on x86-64,
 * NEON on aarch64, scalar code where neither exists. Channels are processed
 * a vector at a time; a last partial vector goes through a zero-padded copy.
 */
#ifndef WINO_LANES
#error "define WINO_LANES, WINO_TARGET and WINO_TABLE before including winograd_impl.h"
#endif

#include "winograd.h"

typedef float wvec __attribute__((vector_size(WINO_LANES * 4)));
typedef int32_t wmask __attribute__((vector_size(WINO_LANES * 4)));

#define WINO_FN static inline WINO_TARGET __attribute__((always_inline))

/* n lanes from p, the rest zero. A full vector is a fixed-size copy, which
 * compiles to one vector load; a variable-size memcpy becomes `rep movsq`,
 * whose start-up cost made the transforms 4x slower than the products they
 * feed, so the callers below are instantiated with n == WINO_LANES for every
 * full vector and reach the variable copy only for a last partial one. */
WINO_FN wvec wv_load(const float *p, int64_t n)
{
    wvec v = {0};
    if (n == WINO_LANES) memcpy(&v, p, sizeof v);
    else memcpy(&v, p, (size_t)n * sizeof(float));
    return v;
}

WINO_FN void wv_store(float *p, wvec v, int64_t n)
{
    if (n == WINO_LANES) memcpy(p, &v, sizeof v);
    else memcpy(p, &v, (size_t)n * sizeof(float));
}

/* B^T along one line of six: the input transform's 1-D step. */
WINO_FN void wino_in_1d(const wvec *d, int stride, wvec *t, int tstride)
{
    wvec d0 = d[0], d1 = d[stride], d2 = d[2 * stride], d3 = d[3 * stride], d4 = d[4 * stride], d5 = d[5 * stride];
    t[0] = 4.0f * d0 - 5.0f * d2 + d4;
    t[tstride] = (d3 + d4) - 4.0f * (d1 + d2);
    t[2 * tstride] = (d4 - d3) + 4.0f * (d1 - d2);
    t[3 * tstride] = (d4 - d2) + 2.0f * (d3 - d1);
    t[4 * tstride] = (d4 - d2) - 2.0f * (d3 - d1);
    t[5 * tstride] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* A^T along one line of six products: the output transform's 1-D step. */
WINO_FN void wino_out_1d(const wvec *m, int stride, wvec *o, int ostride)
{
    wvec m0 = m[0], m1 = m[stride], m2 = m[2 * stride], m3 = m[3 * stride], m4 = m[4 * stride], m5 = m[5 * stride];
    wvec a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    o[0] = m0 + a + c;
    o[ostride] = b + 2.0f * d;
    o[2 * ostride] = a + 4.0f * c;
    o[3 * ostride] = b + 8.0f * d + m5;
}

/* The input transform of n channels from ch (n <= WINO_LANES). */
WINO_FN void wino_input_vec(const float *const *rows, int64_t x0, int64_t iw, int64_t c, float *v, int64_t vstride,
                            int64_t ch, int64_t n)
{
    wvec d[36], t[36];
    for (int r = 0; r < 6; r++)
        for (int x = 0; x < 6; x++) {
            int64_t ix = x0 + x;
            d[r * 6 + x] = rows[r] && ix >= 0 && ix < iw ? wv_load(rows[r] + ix * c + ch, n) : (wvec){0};
        }
    for (int x = 0; x < 6; x++) wino_in_1d(d + x, 6, t + x, 6);     /* down the columns */
    for (int r = 0; r < 6; r++) wino_in_1d(t + r * 6, 1, d + r * 6, 1); /* along the rows */
    for (int p = 0; p < 36; p++) wv_store(v + p * vstride + ch, d[p], n);
}

WINO_TARGET static void wino_input(const float *const *rows, int64_t x0, int64_t iw, int64_t c, float *v,
                                   int64_t vstride)
{
    int64_t ch = 0;
    for (; ch + WINO_LANES <= c; ch += WINO_LANES) wino_input_vec(rows, x0, iw, c, v, vstride, ch, WINO_LANES);
    if (ch < c) wino_input_vec(rows, x0, iw, c, v, vstride, ch, c - ch);
}

/* m ? a : b, lane by lane (the ?: operator takes vectors only in C++) */
WINO_FN wvec wv_select(wmask m, wvec a, wvec b) { return (wvec)(((wmask)a & m) | ((wmask)b & ~m)); }

WINO_FN wvec wino_act(const conv_epi *ep, wvec v)
{
    float tmp[WINO_LANES];
    const wvec zero = {0};
    switch (ep->act) {
    case GEMM_ACT_NONE: return v;
    case GEMM_ACT_RELU: return wv_select(v > zero, v, zero);
    case GEMM_ACT_CLIP: {
        wvec lo = zero + ep->p0, hi = zero + ep->p1;
        v = wv_select(v < lo, lo, v);
        return wv_select(v > hi, hi, v);
    }
    case GEMM_ACT_LEAKY_RELU: return wv_select(v < zero, v * ep->p0, v);
    default: /* the transcendental ones, scalar: rare after a 3x3 conv */
        memcpy(tmp, &v, sizeof tmp);
        for (int i = 0; i < WINO_LANES; i++) tmp[i] = gemm_act_scalar(ep->act, ep->p0, ep->p1, tmp[i]);
        memcpy(&v, tmp, sizeof tmp);
        return v;
    }
}

/* The output transform of n channels from k (n <= WINO_LANES). */
WINO_FN void wino_output_vec(const float *m, int64_t mstride, int64_t channels, float *y, int64_t ystride,
                             int nrows, int ncols, const float *z, const conv_epi *ep, int64_t k, int64_t n)
{
    wvec p[36], t[24], o[16];
    for (int q = 0; q < 36; q++) p[q] = wv_load(m + q * mstride + k, n);
    for (int x = 0; x < 6; x++) wino_out_1d(p + x, 6, t + x, 6);     /* 6 rows -> 4 */
    for (int r = 0; r < 4; r++) wino_out_1d(t + r * 6, 1, o + r * 4, 1); /* 6 columns -> 4 */
    wvec bias = ep->bias ? wv_load(ep->bias + k, n) : (wvec){0};
    for (int r = 0; r < nrows; r++)
        for (int x = 0; x < ncols; x++) {
            int64_t at = r * ystride + x * channels + k;
            wvec v = o[r * 4 + x] + bias;
            if (z) v += wv_load(z + at, n);
            wv_store(y + at, wino_act(ep, v), n);
        }
}

WINO_TARGET static void wino_output(const float *m, int64_t mstride, int64_t channels, float *y, int64_t ystride,
                                    int nrows, int ncols, const float *z, const conv_epi *ep)
{
    int64_t k = 0;
    for (; k + WINO_LANES <= channels; k += WINO_LANES)
        wino_output_vec(m, mstride, channels, y, ystride, nrows, ncols, z, ep, k, WINO_LANES);
    if (k < channels) wino_output_vec(m, mstride, channels, y, ystride, nrows, ncols, z, ep, k, channels - k);
}

const wino_kernels WINO_TABLE = {wino_input, wino_output};

#undef WINO_FN
