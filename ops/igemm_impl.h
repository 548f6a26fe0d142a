/* igemm_impl.h - the NHWC convolution microkernels (ops/igemm.h) written once
 * over simd_math.h's vector layer and compiled per ISA (AVX-512, AVX2, NEON):
 *
 *     #define SIMD_AVX512 (or SIMD_AVX2)
 *     #define IGEMM_MR 8  (rows of a full tile)
 *     #define IGEMM_TABLE igemm_f32_avx512
 *     #define IGEMM_NAME "igemm_f32_8x32_avx512"
 *     #include "simd_math.h"
 *     #include "igemm_impl.h"
 *
 * A tile is MR rows x 2 vectors (NR = 2 * VF_N columns), or MR x 1 vector for
 * the narrow strip: 2*MR accumulators, two vector loads of B and MR
 * broadcasts of A per depth step. Every tile height 1..MR is its own function
 * (the body is inlined with MR constant), so the last rows of an image cost
 * only what they compute. IGEMM_MR is 6 or 8.
 */
#ifndef IGEMM_MR
#error "define IGEMM_MR, IGEMM_TABLE and IGEMM_NAME before including igemm_impl.h"
#endif

#include "igemm.h"

/* act(v); act is a compile-time constant where igemm_act_tile inlines it. */
SIMD_FN vf igemm_act_as(gemm_act act, const conv_epi *ep, vf v)
{
    switch (act) {
    case GEMM_ACT_RELU: return vf_max(vf_zero(), v);
    case GEMM_ACT_CLIP: return vf_min(vf_set1(ep->p1), vf_max(vf_set1(ep->p0), v));
    case GEMM_ACT_LEAKY_RELU: return vf_select(vf_lt(v, vf_zero()), v, vf_mul(v, vf_set1(ep->p0)));
    case GEMM_ACT_HARD_SWISH: {
        vf h = vf_fmadd(v, vf_set1(1.0f / 6.0f), vf_set1(0.5f));
        return vf_mul(v, vf_min(vf_set1(1.0f), vf_max(vf_zero(), h)));
    }
    case GEMM_ACT_HARD_SIGMOID: {
        vf h = vf_fmadd(v, vf_set1(ep->p0), vf_set1(ep->p1));
        return vf_min(vf_set1(1.0f), vf_max(vf_zero(), h));
    }
    case GEMM_ACT_SIGMOID: return vf_sigmoid(v);
    case GEMM_ACT_SILU: return vf_mul(v, vf_sigmoid(v));
    case GEMM_ACT_TANH: return vf_tanh(v);
    case GEMM_ACT_GELU: return vf_gelu(v);
    default: return v;
    }
}

SIMD_FN vf igemm_act(const conv_epi *ep, vf v) { return igemm_act_as(ep->act, ep, v); }

/* The activation on count vectors: one dispatch for all of them (a switch
 * per vector costs a tile with a short depth a sixth of its time). */
SIMD_FN void igemm_act_tile(const conv_epi *ep, vf *v, const int count)
{
    switch (ep->act) {
#define IGEMM_ACT_CASE(A)                                                                                 \
    case A:                                                                                               \
        _Pragma("GCC unroll 16") for (int i = 0; i < count; i++) v[i] = igemm_act_as(A, ep, v[i]);        \
        return;
        IGEMM_ACT_CASE(GEMM_ACT_RELU)
        IGEMM_ACT_CASE(GEMM_ACT_CLIP)
        IGEMM_ACT_CASE(GEMM_ACT_LEAKY_RELU)
        IGEMM_ACT_CASE(GEMM_ACT_HARD_SWISH)
        IGEMM_ACT_CASE(GEMM_ACT_HARD_SIGMOID)
        IGEMM_ACT_CASE(GEMM_ACT_SIGMOID)
        IGEMM_ACT_CASE(GEMM_ACT_SILU)
        IGEMM_ACT_CASE(GEMM_ACT_TANH)
        IGEMM_ACT_CASE(GEMM_ACT_GELU)
#undef IGEMM_ACT_CASE
    default: return;
    }
}

/* Bias, residual and activation on the n (<= VF_N) values of v that belong
 * to channels j .. j+n-1 of row zr, then the store. */
SIMD_FN void igemm_store(const conv_epi *ep, vf v, float *dst, const float *zr, int64_t j, int64_t n)
{
    bool full = n == VF_N;
    if (ep->bias) v = vf_add(v, full ? vf_load(ep->bias + j) : vf_load_n(ep->bias + j, n));
    if (zr) v = vf_add(v, full ? vf_load(zr + j) : vf_load_n(zr + j, n));
    v = igemm_act(ep, v);
    if (full) vf_store(dst + j, v);
    else vf_store_n(dst + j, v, n);
}

/* The MR x nc accumulators of a tile through the epilogue into c: bias and
 * residual per vector, the activation over the whole tile at once, then the
 * stores (the same operations per element as igemm_store). */
SIMD_FN void igemm_store_tile(const int MR, const int NV, const vf *acc0, const vf *acc1, float *c, int64_t ldc,
                              int64_t nc, const conv_epi *ep)
{
    const int64_t n0 = nc < VF_N ? nc : VF_N, n1 = nc - n0;
    const bool full0 = n0 == VF_N, full1 = n1 == VF_N, two = NV == 2 && n1 > 0;
    vf v[2 * IGEMM_MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) v[i] = acc0[i], v[MR + i] = NV == 2 ? acc1[i] : vf_zero();
    if (ep->bias) {
        const vf b0 = full0 ? vf_load(ep->bias) : vf_load_n(ep->bias, n0);
        const vf b1 = !two ? vf_zero() : full1 ? vf_load(ep->bias + VF_N) : vf_load_n(ep->bias + VF_N, n1);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) v[i] = vf_add(v[i], b0), v[MR + i] = vf_add(v[MR + i], b1);
    }
    if (ep->z) {
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const float *zr = ep->z + i * ep->ldz;
            v[i] = vf_add(v[i], full0 ? vf_load(zr) : vf_load_n(zr, n0));
            if (two) v[MR + i] = vf_add(v[MR + i], full1 ? vf_load(zr + VF_N) : vf_load_n(zr + VF_N, n1));
        }
    }
    igemm_act_tile(ep, v, NV * MR);
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        float *dst = c + i * ldc;
        if (full0) vf_store(dst, v[i]);
        else vf_store_n(dst, v[i], n0);
        if (two) {
            if (full1) vf_store(dst + VF_N, v[MR + i]);
            else vf_store_n(dst + VF_N, v[MR + i], n1);
        }
    }
}

/* The tile: per tap t, row i's kc values at a[t*IGEMM_MAX_MR + i] (a pointer
 * table), or with OFFS at a[i] + off[t] (igemm_offs_fn). */
SIMD_FN void igemm_body(const int MR, const int NV, const bool OFFS, int64_t kc, int64_t ks, const int64_t *off,
                        const float *const *a, const float *w, float *c, int64_t ldc, int64_t nc, const conv_epi *ep)
{
    vf acc0[IGEMM_MR], acc1[IGEMM_MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = vf_zero();
    for (int64_t t = 0; t < ks; t++) {
        const float *ap[IGEMM_MR];
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) ap[i] = OFFS ? a[i] + off[t] : a[t * IGEMM_MAX_MR + i];
        for (int64_t p = 0; p < kc; p++) {
            vf b0 = vf_load(w), b1 = NV == 2 ? vf_load(w + VF_N) : vf_zero();
            w += NV * VF_N;
#pragma GCC unroll 8
            for (int i = 0; i < MR; i++) {
                vf av = vf_set1(ap[i][p]);
                acc0[i] = vf_fmadd(av, b0, acc0[i]);
                if (NV == 2) acc1[i] = vf_fmadd(av, b1, acc1[i]);
            }
        }
    }
    igemm_store_tile(MR, NV, acc0, acc1, c, ldc, nc, ep);
}

#define IGEMM_TILE_FN(R, NV)                                                                              \
    SIMD_TARGET static void igemm_tile_##R##_##NV(int64_t kc, int64_t ks, const float *const *a,          \
                                                  const float *w, float *c, int64_t ldc, int64_t nc,      \
                                                  const conv_epi *ep)                                     \
    {                                                                                                     \
        igemm_body(R, NV, false, kc, ks, NULL, a, w, c, ldc, nc, ep);                                     \
    }                                                                                                     \
    SIMD_TARGET static void igemm_offs_##R##_##NV(int64_t kc, int64_t ks, const int64_t *off,             \
                                                  const float *const *a, const float *w, float *c,        \
                                                  int64_t ldc, int64_t nc, const conv_epi *ep)            \
    {                                                                                                     \
        igemm_body(R, NV, true, kc, ks, off, a, w, c, ldc, nc, ep);                                       \
    }
IGEMM_TILE_FN(1, 1) IGEMM_TILE_FN(2, 1) IGEMM_TILE_FN(3, 1) IGEMM_TILE_FN(4, 1)
IGEMM_TILE_FN(5, 1) IGEMM_TILE_FN(6, 1)
IGEMM_TILE_FN(1, 2) IGEMM_TILE_FN(2, 2) IGEMM_TILE_FN(3, 2) IGEMM_TILE_FN(4, 2)
IGEMM_TILE_FN(5, 2) IGEMM_TILE_FN(6, 2)
#if IGEMM_MR >= 8
IGEMM_TILE_FN(7, 1) IGEMM_TILE_FN(8, 1)
IGEMM_TILE_FN(7, 2) IGEMM_TILE_FN(8, 2)
#define IGEMM_TALL(NV) , igemm_tile_7_##NV, igemm_tile_8_##NV
#define IGEMM_TALL_OFFS(NV) , igemm_offs_7_##NV, igemm_offs_8_##NV
#else
#define IGEMM_TALL(NV)
#define IGEMM_TALL_OFFS(NV)
#endif
#undef IGEMM_TILE_FN

/* Depthwise: two vectors of channels per pass over the taps, then one, then
 * a masked tail. Each tap costs a load of the input and of the weights. */
SIMD_TARGET static void igemm_dwconv(int64_t channels, int taps, const float *const *in, const float *w,
                                     int64_t cstride, float *out, const float *z, const conv_epi *ep)
{
    int64_t c = 0;
    for (; c + 2 * VF_N <= channels; c += 2 * VF_N) {
        vf a0 = vf_zero(), a1 = vf_zero();
        for (int t = 0; t < taps; t++) {
            const float *x = in[t] + c, *wt = w + t * cstride + c;
            a0 = vf_fmadd(vf_load(x), vf_load(wt), a0);
            a1 = vf_fmadd(vf_load(x + VF_N), vf_load(wt + VF_N), a1);
        }
        igemm_store(ep, a0, out, z, c, VF_N);
        igemm_store(ep, a1, out, z, c + VF_N, VF_N);
    }
    for (; c < channels; c += VF_N) {
        int64_t n = channels - c < VF_N ? channels - c : VF_N;
        vf a0 = vf_zero();
        /* w is padded to cstride channels, so a full load of it is in bounds */
        for (int t = 0; t < taps; t++)
            a0 = vf_fmadd(n == VF_N ? vf_load(in[t] + c) : vf_load_n(in[t] + c, n), vf_load(w + t * cstride + c),
                          a0);
        igemm_store(ep, a0, out, z, c, n);
    }
}

/* Depthwise rows: per block of VF_N channels, the weights of every tap stay
 * in registers (KH x KW known at compile time; 0 x 0 reads them from L1)
 * while the block walks the output row; columns whose taps all lie inside
 * the row skip the bounds checks. */
#if defined(SIMD_AVX2)
#define DW_VREGS 16
#else
#define DW_VREGS 32
#endif
#define DW_MAX_PIXELS 8
#define DW_PIXEL_VECTORS 4
#define DW_PIXEL_WEIGHT_BYTES (16 * 1024)

/* Depthwise, one output pixel, NV vectors of channels from c (the last one
 * n_last wide): every tap's input and weights loaded, taps kx0 <= kx < kx1
 * of each row that is not padding. */
SIMD_FN void igemm_dw_pixel_vectors(const int NV, const dw_row_args *a, int64_t ox, int64_t kx0, int64_t kx1,
                                    int64_t c, int64_t n_last)
{
    const int64_t C = a->c, ix0 = ox * a->sw - a->pw;
    vf acc[DW_PIXEL_VECTORS];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[v] = vf_zero();
    for (int64_t ky = 0; ky < a->kh; ky++) {
        const float *row = a->rows[ky];
        if (!row) continue;
        const float *wt = a->w + ky * a->kw * a->cstride + c;
        for (int64_t kx = kx0; kx < kx1; kx++) {
            const float *px = row + (ix0 + kx * a->dw) * C + c, *wk = wt + kx * a->cstride;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                const vf x = v < NV - 1 || n_last == VF_N ? vf_load(px + v * VF_N) : vf_load_n(px + v * VF_N, n_last);
                acc[v] = vf_fmadd(x, vf_load(wk + v * VF_N), acc[v]);
            }
        }
    }
    const conv_epi *ep = a->ep;
    float *out = a->out + ox * C + c;
    const float *z = a->z ? a->z + ox * C + c : NULL;
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const int64_t n = v < NV - 1 ? VF_N : n_last;
        if (ep->bias) acc[v] = vf_add(acc[v], n == VF_N ? vf_load(ep->bias + c + v * VF_N)
                                                        : vf_load_n(ep->bias + c + v * VF_N, n));
        if (z) acc[v] = vf_add(acc[v], n == VF_N ? vf_load(z + v * VF_N) : vf_load_n(z + v * VF_N, n));
    }
    igemm_act_tile(ep, acc, NV);
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        if (v < NV - 1 || n_last == VF_N) vf_store(out + v * VF_N, acc[v]);
        else vf_store_n(out + v * VF_N, acc[v], n_last);
    }
}

/* Output pixels ox0 <= ox < ox1 of a row, pixel by pixel: each pixel's taps
 * over DW_PIXEL_VECTORS independent vectors of neighbouring channels, a
 * chunk of channels at a time so that the chunk's weights (reloaded per
 * pixel) stay in L1. */
SIMD_FN void igemm_dw_pixel_range(const dw_row_args *a, int64_t ox0, int64_t ox1)
{
    const int64_t C = a->c, taps = a->kh * a->kw, step = DW_PIXEL_VECTORS * VF_N;
    int64_t chunk = DW_PIXEL_WEIGHT_BYTES / (taps * (int64_t)sizeof(float)) / step * step;
    if (chunk < step) chunk = step;
    for (int64_t c0 = 0; c0 < C; c0 += chunk) {
        const int64_t c1 = C - c0 < chunk ? C : c0 + chunk;
        for (int64_t ox = ox0; ox < ox1; ox++) {
            /* the taps kx0 <= kx < kx1 lie inside the row */
            const int64_t ix0 = ox * a->sw - a->pw;
            int64_t kx0 = ix0 < 0 ? (-ix0 + a->dw - 1) / a->dw : 0;
            int64_t kx1 = a->iw - ix0 <= 0 ? 0 : (a->iw - ix0 + a->dw - 1) / a->dw;
            if (kx1 > a->kw) kx1 = a->kw;
            if (kx0 > kx1) kx0 = kx1;
            int64_t c = c0;
            for (; c + step <= c1; c += step) igemm_dw_pixel_vectors(DW_PIXEL_VECTORS, a, ox, kx0, kx1, c, VF_N);
            if (c == c1) continue;
            /* the last 1 to DW_PIXEL_VECTORS - 1 vectors, the last one partial or not */
            const int64_t left = c1 - c, nv = (left + VF_N - 1) / VF_N, n_last = left - (nv - 1) * VF_N;
            switch (nv) {
            case 1: igemm_dw_pixel_vectors(1, a, ox, kx0, kx1, c, n_last); break;
            case 2: igemm_dw_pixel_vectors(2, a, ox, kx0, kx1, c, n_last); break;
            default: igemm_dw_pixel_vectors(3, a, ox, kx0, kx1, c, n_last); break;
            }
        }
    }
}

/* NP neighbouring output pixels from ox, one block of channels, every tap
 * inside the row: NP independent sums, so the FMAs overlap instead of
 * waiting on one chain. */
SIMD_FN void igemm_dw_pixels(const int NP, const int KH, const int KW, const dw_row_args *a, const vf *wv,
                             int64_t ox, int64_t c, int64_t n)
{
    const int64_t C = a->c, ix0 = ox * a->sw - a->pw;
    const bool full = n == VF_N;
    vf acc[DW_MAX_PIXELS];
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) acc[p] = vf_zero();
    if (KW == 3 && DW_VREGS == 32 && a->sw == 1 && a->dw == 1) {
        /* stride 1, 3 taps a row: the row's NP + 2 inputs loaded once and
         * each used by up to 3 pixels (NP + 2 registers beside the 9
         * weights and NP sums; 1.2x over a load per multiply-add). Taps in
         * the same order, kx outermost so a sum's multiply-adds are NP
         * apart. */
#pragma GCC unroll 3
        for (int ky = 0; ky < KH; ky++) {
            const float *row = a->rows[ky];
            if (!row) continue;
            const float *px = row + ix0 * C + c;
            vf xv[DW_MAX_PIXELS + 2];
#pragma GCC unroll 10
            for (int q = 0; q < NP + 2; q++) xv[q] = full ? vf_load(px + q * C) : vf_load_n(px + q * C, n);
#pragma GCC unroll 3
            for (int kx = 0; kx < 3; kx++)
#pragma GCC unroll 8
                for (int p = 0; p < NP; p++) acc[p] = vf_fmadd(xv[p + kx], wv[ky * 3 + kx], acc[p]);
        }
    } else {
#pragma GCC unroll 5
        for (int ky = 0; ky < KH; ky++) {
            const float *row = a->rows[ky];
            if (!row) continue;
#pragma GCC unroll 5
            for (int kx = 0; kx < KW; kx++) {
                const float *px = row + (ix0 + kx * a->dw) * C + c;
#pragma GCC unroll 8
                for (int p = 0; p < NP; p++)
                    acc[p] = vf_fmadd(full ? vf_load(px + p * a->sw * C) : vf_load_n(px + p * a->sw * C, n),
                                      wv[ky * KW + kx], acc[p]);
            }
        }
    }
    /* bias and residual per pixel, the activation once for all NP */
    const conv_epi *ep = a->ep;
    if (ep->bias) {
        const vf b = full ? vf_load(ep->bias + c) : vf_load_n(ep->bias + c, n);
#pragma GCC unroll 8
        for (int p = 0; p < NP; p++) acc[p] = vf_add(acc[p], b);
    }
    if (a->z) {
#pragma GCC unroll 8
        for (int p = 0; p < NP; p++) {
            const float *zp = a->z + (ox + p) * C + c;
            acc[p] = vf_add(acc[p], full ? vf_load(zp) : vf_load_n(zp, n));
        }
    }
    igemm_act_tile(ep, acc, NP);
#pragma GCC unroll 8
    for (int p = 0; p < NP; p++) {
        if (full) vf_store(a->out + (ox + p) * C + c, acc[p]);
        else vf_store_n(a->out + (ox + p) * C + c, acc[p], n);
    }
}

SIMD_FN void igemm_dw_row_body(const int KH, const int KW, const dw_row_args *a)
{
    /* pixels per pass: enough independent FMA chains to cover the FMA
     * latency on both pipes (8), as far as the registers left beside the
     * KH x KW weights allow (3x3: 8 on AVX-512 and NEON, 6 on AVX2; 5x5: 6);
     * the last interior pixels of a row go 4 at a time */
    const int NP = DW_VREGS - 1 - KH * KW >= DW_MAX_PIXELS ? DW_MAX_PIXELS
                   : DW_VREGS - 1 - KH * KW >= 4             ? DW_VREGS - 1 - KH * KW
                                                             : 4;
    const int64_t kh = KH ? KH : a->kh, kw = KW ? KW : a->kw, C = a->c;
    const int64_t lo = (a->pw + a->sw - 1) / a->sw;
    int64_t hi = a->iw - 1 + a->pw - (kw - 1) * a->dw;
    hi = hi < 0 ? 0 : hi / a->sw + 1;
    if (hi > a->ow) hi = a->ow;
    /* with the weights in registers, the pixels whose taps all lie inside
     * the row; the others (2 a row for 3x3 taps, 4 for 5x5), whose taps a
     * pixel-at-a-time chain would check one by one, pixel by pixel over
     * several vectors of channels */
    const bool split = KH && hi > lo;
    const int64_t first = split ? lo : 0, last = split ? hi : a->ow;
    for (int64_t c = 0; c < C; c += VF_N) {
        const int64_t n = C - c < VF_N ? C - c : VF_N;
        const bool full = n == VF_N;
        vf wv[25]; /* KH * KW <= 25 */
#pragma GCC unroll 25
        for (int t = 0; t < KH * KW; t++) wv[t] = vf_load(a->w + t * a->cstride + c);
        for (int64_t ox = first; ox < last; ox++) {
            if (KH && ox >= lo && ox + NP <= hi) {
                igemm_dw_pixels(NP, KH, KW, a, wv, ox, c, n);
                ox += NP - 1;
                continue;
            }
            if (KH && NP > 4 && ox >= lo && ox + 4 <= hi) {
                igemm_dw_pixels(4, KH, KW, a, wv, ox, c, n);
                ox += 3;
                continue;
            }
            const bool inside = ox >= lo && ox < hi;
            const int64_t ix0 = ox * a->sw - a->pw;
            vf acc = vf_zero();
#pragma GCC unroll 5
            for (int64_t ky = 0; ky < kh; ky++) {
                const float *row = a->rows[ky];
                if (!row) continue;
#pragma GCC unroll 5
                for (int64_t kx = 0; kx < kw; kx++) {
                    const int64_t ix = ix0 + kx * a->dw;
                    if (!inside && (ix < 0 || ix >= a->iw)) continue;
                    const float *px = row + ix * C + c;
                    vf v = full ? vf_load(px) : vf_load_n(px, n);
                    vf wt = KH ? wv[ky * KW + kx] : vf_load(a->w + (ky * kw + kx) * a->cstride + c);
                    acc = vf_fmadd(v, wt, acc);
                }
            }
            igemm_store(a->ep, acc, a->out + ox * C, a->z ? a->z + ox * C : NULL, c, n);
        }
    }
    if (split) {
        igemm_dw_pixel_range(a, 0, lo);
        igemm_dw_pixel_range(a, hi, a->ow);
    }
}

/* Rows too narrow for the multi-pixel passes (a 7-pixel row has 3 pixels
 * whose 5x5 taps all lie inside it) would leave the weights-in-registers
 * form one dependent chain of KH x KW multiply-adds per pixel and vector:
 * the whole row pixel by pixel. AVX-512, 7x7 rows, 5x5 taps, per output
 * row: 384 channels 9.7 us against 13.4, 128 channels 3.3 against 6.2
 * (hot caches). */
SIMD_TARGET static void igemm_dw_row_by_pixel(const dw_row_args *a) { igemm_dw_pixel_range(a, 0, a->ow); }
SIMD_TARGET static void igemm_dw_row(const dw_row_args *a) { igemm_dw_row_body(0, 0, a); }
SIMD_TARGET static void igemm_dw_row_3x3(const dw_row_args *a) { igemm_dw_row_body(3, 3, a); }
#if defined(SIMD_AVX512) || defined(SIMD_NEON) /* 25 weight vectors need 32 registers */
SIMD_TARGET static void igemm_dw_row_5x5(const dw_row_args *a) { igemm_dw_row_body(5, 5, a); }
#define IGEMM_DW_5X5 igemm_dw_row_5x5
#else
#define IGEMM_DW_5X5 igemm_dw_row
#endif

/* The largest non-NaN value of the taps, `empty` when there is none (the
 * reference's semantics): C's fmax ignores a NaN operand, so m stays NaN
 * until a number arrives. NV vectors of channels at once: NV independent
 * chains of fmax, which takes several dependent instructions on x86. */
SIMD_FN void igemm_max_pool_block(const int NV, int64_t c, int64_t n, int taps, const float *const *in, float *out,
                                  float empty)
{
    const bool full = n == VF_N;
    vf m[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) m[v] = vf_set1(NAN);
    for (int t = 0; t < taps; t++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            m[v] = vf_fmax(m[v], full ? vf_load(in[t] + c + v * VF_N) : vf_load_n(in[t] + c, n));
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        vf r = vf_select(vf_isnan(m[v]), m[v], vf_set1(empty));
        if (full) vf_store(out + c + v * VF_N, r);
        else vf_store_n(out + c, r, n);
    }
}

SIMD_TARGET static void igemm_max_pool(int64_t channels, int taps, const float *const *in, float *out,
                                       float empty)
{
    int64_t c = 0;
    for (; c + 4 * VF_N <= channels; c += 4 * VF_N) igemm_max_pool_block(4, c, VF_N, taps, in, out, empty);
    for (; c + 2 * VF_N <= channels; c += 2 * VF_N) igemm_max_pool_block(2, c, VF_N, taps, in, out, empty);
    for (; c < channels; c += VF_N)
        igemm_max_pool_block(1, c, channels - c < VF_N ? channels - c : VF_N, taps, in, out, empty);
}

/* The sum of the taps times scale, NV vectors of channels at once (NV
 * independent chains of additions). */
SIMD_FN void igemm_sum_pool_block(const int NV, int64_t c, int64_t n, int taps, const float *const *in, float *out,
                                  float scale)
{
    const bool full = n == VF_N;
    vf s[4];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) s[v] = vf_zero();
    for (int t = 0; t < taps; t++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            s[v] = vf_add(s[v], full ? vf_load(in[t] + c + v * VF_N) : vf_load_n(in[t] + c, n));
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        vf r = vf_mul(s[v], vf_set1(scale));
        if (full) vf_store(out + c + v * VF_N, r);
        else vf_store_n(out + c, r, n);
    }
}

SIMD_TARGET static void igemm_sum_pool(int64_t channels, int taps, const float *const *in, float *out,
                                       float scale)
{
    int64_t c = 0;
    for (; c + 4 * VF_N <= channels; c += 4 * VF_N) igemm_sum_pool_block(4, c, VF_N, taps, in, out, scale);
    for (; c + 2 * VF_N <= channels; c += 2 * VF_N) igemm_sum_pool_block(2, c, VF_N, taps, in, out, scale);
    for (; c < channels; c += VF_N)
        igemm_sum_pool_block(1, c, channels - c < VF_N ? channels - c : VF_N, taps, in, out, scale);
}

const igemm_ukernel IGEMM_TABLE = {
    IGEMM_NAME,
#if defined(SIMD_AVX512)
    ONYX_ISA_AVX512,
#elif defined(SIMD_NEON)
    ONYX_ISA_NEON,
#else
    ONYX_ISA_AVX2,
#endif
    IGEMM_MR,
    2 * VF_N,
    {NULL, igemm_tile_1_2, igemm_tile_2_2, igemm_tile_3_2, igemm_tile_4_2, igemm_tile_5_2,
     igemm_tile_6_2 IGEMM_TALL(2)},
    VF_N,
    {NULL, igemm_tile_1_1, igemm_tile_2_1, igemm_tile_3_1, igemm_tile_4_1, igemm_tile_5_1,
     igemm_tile_6_1 IGEMM_TALL(1)},
    igemm_dwconv,
    igemm_dw_row,
    igemm_dw_row_3x3,
    IGEMM_DW_5X5,
    igemm_dw_row_by_pixel,
    igemm_max_pool,
    igemm_sum_pool,
    {NULL, igemm_offs_1_2, igemm_offs_2_2, igemm_offs_3_2, igemm_offs_4_2, igemm_offs_5_2,
     igemm_offs_6_2 IGEMM_TALL_OFFS(2)},
    {NULL, igemm_offs_1_1, igemm_offs_2_1, igemm_offs_3_1, igemm_offs_4_1, igemm_offs_5_1,
     igemm_offs_6_1 IGEMM_TALL_OFFS(1)},
};
#undef IGEMM_TALL
#undef IGEMM_TALL_OFFS
#undef IGEMM_DW_5X5
