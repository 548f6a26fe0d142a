/* qgemm_avx512.c - the AVX-512 integer GEMM microkernels (8 x 32: 16 zmm
 * accumulators, 8 rows x 2 vectors of 16 int32 columns), their epilogue and
 * the depthwise row.
 *
 *   qgemm_u8s8_8x32_avx512vnni: per 4 depths, two 64-byte loads of B and, per
 *       row, one broadcast 32-bit load of A and two vpdpbusd.
 *   qgemm_u8s8_8x32_avx512bw: the same loop without VNNI: vpmaddubsw on the
 *       lo and hi weight planes (exact, see qgemm.h), vpmaddwd by 1 and by 64
 *       to widen to int32.
 * A's last partial group of 4 bytes is read with a masked load, so a tile
 * never reads past the end of a row.
 */
#include "qgemm.h"

#if defined(__x86_64__)
#define SIMD_AVX512
#include "simd_math.h"
#include "qgemm_act.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")))

static inline int32_t ld4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The first n (1..3) bytes at p, the others zero. */
AVX512 static inline int32_t ld_part(const uint8_t *p, int64_t n)
{
    return _mm_cvtsi128_si32(_mm_maskz_loadu_epi8((__mmask16)((1u << n) - 1), p));
}

#define ZERO16                                                                                     \
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,   \
            c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,           \
            c61 = c00, c70 = c00, c71 = c00
#define ROWS8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define STORE_ROW(r)                                                                               \
    _mm512_storeu_si512(c + (r) * 32, c##r##0);                                                    \
    _mm512_storeu_si512(c + (r) * 32 + 16, c##r##1);

AVX512VNNI static void qgemm_u8s8_8x32_avx512vnni_tile(int64_t ks, int64_t kc,
                                                       const uint8_t *const *a, int64_t a_off,
                                                       const uint8_t *zero, const int8_t *b,
                                                       int32_t *c)
{
    ZERO16;
    int64_t full = kc >> 2, rem = kc & 3;
    for (int64_t t = 0; t < ks; t++, a += 8) {
#define PTR(r) const uint8_t *a##r = a[r] == zero ? a[r] : a[r] + a_off;
        ROWS8(PTR)
#undef PTR
#define DOT(r, load)                                                                               \
    {                                                                                              \
        __m512i av = _mm512_set1_epi32(load);                                                      \
        c##r##0 = _mm512_dpbusd_epi32(c##r##0, av, b0);                                            \
        c##r##1 = _mm512_dpbusd_epi32(c##r##1, av, b1);                                            \
    }
#define FULL(r) DOT(r, ld4(a##r + 4 * g))
#define PART(r) DOT(r, ld_part(a##r + 4 * full, rem))
        for (int64_t g = 0; g < full; g++, b += 128) {
            __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
            ROWS8(FULL)
        }
        if (rem) {
            __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
            ROWS8(PART)
            b += 128;
        }
#undef FULL
#undef PART
#undef DOT
    }
    ROWS8(STORE_ROW)
}

AVX512 static void qgemm_u8s8_8x32_avx512bw_tile(int64_t ks, int64_t kc, const uint8_t *const *a,
                                                 int64_t a_off, const uint8_t *zero,
                                                 const int8_t *b, int32_t *c)
{
    ZERO16;
    const __m512i one = _mm512_set1_epi16(1), k64 = _mm512_set1_epi16(64);
    int64_t full = kc >> 2, rem = kc & 3;
    for (int64_t t = 0; t < ks; t++, a += 8) {
#define PTR(r) const uint8_t *a##r = a[r] == zero ? a[r] : a[r] + a_off;
        ROWS8(PTR)
#undef PTR
#define DOT(r, load)                                                                               \
    {                                                                                              \
        __m512i av = _mm512_set1_epi32(load);                                                      \
        c##r##0 = _mm512_add_epi32(c##r##0, _mm512_madd_epi16(_mm512_maddubs_epi16(av, l0), one)); \
        c##r##1 = _mm512_add_epi32(c##r##1, _mm512_madd_epi16(_mm512_maddubs_epi16(av, l1), one)); \
        c##r##0 = _mm512_add_epi32(c##r##0, _mm512_madd_epi16(_mm512_maddubs_epi16(av, h0), k64)); \
        c##r##1 = _mm512_add_epi32(c##r##1, _mm512_madd_epi16(_mm512_maddubs_epi16(av, h1), k64)); \
    }
#define FULL(r) DOT(r, ld4(a##r + 4 * g))
#define PART(r) DOT(r, ld_part(a##r + 4 * full, rem))
#define LOADB                                                                                      \
    __m512i l0 = _mm512_loadu_si512(b), l1 = _mm512_loadu_si512(b + 64);                          \
    __m512i h0 = _mm512_loadu_si512(b + 128), h1 = _mm512_loadu_si512(b + 192);
        for (int64_t g = 0; g < full; g++, b += 256) {
            LOADB
            ROWS8(FULL)
        }
        if (rem) {
            LOADB
            ROWS8(PART)
            b += 256;
        }
#undef LOADB
#undef FULL
#undef PART
#undef DOT
    }
    ROWS8(STORE_ROW)
}

/* v (already divided by y_scale) to bytes: round half to even (the default
 * MXCSR mode), add the zero point, saturate. v is first capped at 2^30 so
 * huge values saturate high; NaN stays NaN (min returns its second operand
 * for NaN), converts to INT_MIN and saturates low, as QuantizeLinear's. */
AVX512 static inline __m128i quantize16(__m512 v, __m512i zp, bool is_signed)
{
    __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_min_ps(_mm512_set1_ps(1073741824.0f), v)), zp);
    return is_signed ? _mm512_cvtsepi32_epi8(q) : _mm512_cvtusepi32_epi8(_mm512_max_epi32(q, _mm512_setzero_si512()));
}

/* The epilogue of a tile, 16 columns at a time: the per-column bias,
 * correction and scale are loaded once for all its rows. When only the
 * requantized output is wanted and the activation is piecewise linear (none,
 * Relu, Clip), everything is computed already divided by y_scale: one FMA
 * per value instead of a multiply, an add and a multiply. */
AVX512 static void qgemm_tile_out_avx512(const qgemm_out *o, const int32_t *acc, int64_t ldacc,
                                         int64_t i0, int64_t mr, int64_t j0, int64_t n)
{
    const __m512i zp = _mm512_set1_epi32((int32_t)o->yzp);
    const __m512 inv = _mm512_set1_ps(o->inv_ys), zero = _mm512_setzero_ps();
    bool linear = o->act == GEMM_ACT_NONE || o->act == GEMM_ACT_RELU || o->act == GEMM_ACT_CLIP;
    bool qdom = o->yq && !o->yf && linear && o->inv_ys > 0;
    /* Clip's bounds, in the domain the activation is applied in */
    const __m512 amin = _mm512_set1_ps(o->p0 * (qdom ? o->inv_ys : 1.0f));
    const __m512 amax = _mm512_set1_ps(o->p1 * (qdom ? o->inv_ys : 1.0f));
    for (int64_t j = 0; j < n; j += 16) {
        /* the last vector is masked: no scalar tail */
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        int64_t jc = j0 + j;
        __m512i ib = _mm512_maskz_loadu_epi32(m, o->ib + jc);
        if (o->yi) {
            for (int64_t r = 0; r < mr; r++) {
                __m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, acc + r * ldacc + j), ib);
                if (o->rowc) a = _mm512_add_epi32(a, _mm512_set1_epi32(o->rowc[i0 + r]));
                _mm512_mask_storeu_epi32(o->yi + (i0 + r) * o->yi_rs + jc, m, a);
            }
            continue;
        }
        __m512 sc = _mm512_maskz_loadu_ps(m, o->scale + jc);
        __m512 fb = o->fb ? _mm512_maskz_loadu_ps(m, o->fb + jc) : zero;
        if (qdom) {
            sc = _mm512_mul_ps(sc, inv);
            fb = _mm512_mul_ps(fb, inv);
        }
        for (int64_t r = 0; r < mr; r++) {
            int64_t i = i0 + r;
            __m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, acc + r * ldacc + j), ib);
            if (o->rowc) a = _mm512_add_epi32(a, _mm512_set1_epi32(o->rowc[i]));
            /* without a float bias a plain product, as the QLinear reference computes it */
            __m512 v = o->fb ? _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), sc, fb)
                             : _mm512_mul_ps(_mm512_cvtepi32_ps(a), sc);
            if (o->z) {
                __m512 z = _mm512_maskz_loadu_ps(m, o->z + i * o->z_rs + jc);
                v = qdom ? _mm512_fmadd_ps(z, inv, v) : _mm512_add_ps(v, z);
            }
            if (o->act == GEMM_ACT_RELU) v = _mm512_max_ps(v, zero);
            else if (o->act == GEMM_ACT_CLIP) v = _mm512_min_ps(_mm512_max_ps(v, amin), amax);
            else if (o->act != GEMM_ACT_NONE) v = qgemm_act_vec(o, v);
            if (o->yf) _mm512_mask_storeu_ps(o->yf + i * o->yf_rs + jc, m, v);
            if (o->yq)
                _mm_mask_storeu_epi8((uint8_t *)o->yq + i * o->yq_rs + jc, m,
                                     quantize16(qdom ? v : _mm512_mul_ps(v, inv), zp, o->yq_signed));
        }
    }
}

/* 32 channels per pass over the taps, two taps per vpmaddwd: the inputs of
 * taps t and t+1 are widened to int16 and interleaved, so each int32 lane sums
 * x_t * w_t + x_t+1 * w_t+1 of one channel (the weights were packed in that
 * interleaved order); the two accumulators are put back in channel order at
 * the end. The tail block is masked. */
AVX512 static void qdw_avx512_pixel(int64_t channels, int64_t taps, const uint8_t *const *in, int64_t off,
                                    const uint8_t *zero, const int16_t *w, int32_t *acc)
{
    const __m512i idx0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i idx1 =
        _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    int64_t tp = taps + (taps & 1);
    for (int64_t c0 = 0; c0 < channels; c0 += 32) {
        int64_t cn = channels - c0 < 32 ? channels - c0 : 32;
        __mmask32 m = cn == 32 ? 0xffffffffu : (__mmask32)((1u << cn) - 1);
        const int16_t *wb = w + c0 * tp;
        __m512i lo = _mm512_setzero_si512(), hi = lo;
        for (int64_t t = 0; t < taps; t += 2) {
            const uint8_t *p0 = in[t] == zero ? in[t] : in[t] + off;
            const uint8_t *p1 = t + 1 >= taps ? p0 : in[t + 1] == zero ? in[t + 1] : in[t + 1] + off;
            __m512i x0 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, p0 + c0));
            __m512i x1 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, p1 + c0));
            const int16_t *wp = wb + t * 32;
            lo = _mm512_add_epi32(
                lo, _mm512_madd_epi16(_mm512_unpacklo_epi16(x0, x1), _mm512_loadu_si512(wp)));
            hi = _mm512_add_epi32(
                hi, _mm512_madd_epi16(_mm512_unpackhi_epi16(x0, x1), _mm512_loadu_si512(wp + 32)));
        }
        __mmask16 m0 = (__mmask16)m, m1 = (__mmask16)(m >> 16);
        _mm512_mask_storeu_epi32(acc + c0, m0, _mm512_permutex2var_epi32(lo, idx0, hi));
        _mm512_mask_storeu_epi32(acc + c0 + 16, m1, _mm512_permutex2var_epi32(lo, idx1, hi));
    }
}

#define DW_MAX_PIX 64

/* 3x3 (9 taps, 5 pairs): per block of 32 channels the 10 weight vectors stay
 * in registers while the block walks the pixels; each pixel's pointers are
 * resolved once. */
AVX512 static void qdw_avx512_3x3(int64_t channels, int64_t npix, const uint8_t *const *in, int64_t off,
                                  const uint8_t *zero, const int16_t *w, int32_t *acc)
{
    const __m512i idx0 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i idx1 =
        _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const uint8_t *ptr[DW_MAX_PIX * 9];
    for (int64_t i = 0; i < npix * 9; i++) ptr[i] = in[i] == zero ? in[i] : in[i] + off;
    for (int64_t c0 = 0; c0 < channels; c0 += 32) {
        int64_t cn = channels - c0 < 32 ? channels - c0 : 32;
        __mmask32 m = cn == 32 ? 0xffffffffu : (__mmask32)((1u << cn) - 1);
        __mmask16 m0 = (__mmask16)m, m1 = (__mmask16)(m >> 16);
        const int16_t *wb = w + c0 * 10;
        __m512i w0l = _mm512_loadu_si512(wb), w0h = _mm512_loadu_si512(wb + 32);
        __m512i w1l = _mm512_loadu_si512(wb + 64), w1h = _mm512_loadu_si512(wb + 96);
        __m512i w2l = _mm512_loadu_si512(wb + 128), w2h = _mm512_loadu_si512(wb + 160);
        __m512i w3l = _mm512_loadu_si512(wb + 192), w3h = _mm512_loadu_si512(wb + 224);
        __m512i w4l = _mm512_loadu_si512(wb + 256), w4h = _mm512_loadu_si512(wb + 288);
        for (int64_t p = 0; p < npix; p++) {
            const uint8_t *const *pp = ptr + p * 9;
#define X(t) _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, pp[t] + c0))
#define PAIR(x0, x1, wl, wh)                                                                       \
    lo = _mm512_add_epi32(lo, _mm512_madd_epi16(_mm512_unpacklo_epi16(x0, x1), wl));                \
    hi = _mm512_add_epi32(hi, _mm512_madd_epi16(_mm512_unpackhi_epi16(x0, x1), wh));
            __m512i lo = _mm512_setzero_si512(), hi = lo, a, b;
            a = X(0), b = X(1);
            PAIR(a, b, w0l, w0h)
            a = X(2), b = X(3);
            PAIR(a, b, w1l, w1h)
            a = X(4), b = X(5);
            PAIR(a, b, w2l, w2h)
            a = X(6), b = X(7);
            PAIR(a, b, w3l, w3h)
            a = X(8); /* the pair's second weight is 0 */
            PAIR(a, a, w4l, w4h)
#undef PAIR
#undef X
            int32_t *o = acc + p * channels + c0;
            _mm512_mask_storeu_epi32(o, m0, _mm512_permutex2var_epi32(lo, idx0, hi));
            _mm512_mask_storeu_epi32(o + 16, m1, _mm512_permutex2var_epi32(lo, idx1, hi));
        }
    }
}

AVX512 static void qdw_avx512(int64_t channels, int64_t taps, int64_t npix, const uint8_t *const *in, int64_t off,
                              const uint8_t *zero, const int16_t *w, int32_t *acc)
{
    if (taps == 9 && npix <= DW_MAX_PIX) {
        qdw_avx512_3x3(channels, npix, in, off, zero, w, acc);
        return;
    }
    for (int64_t p = 0; p < npix; p++) qdw_avx512_pixel(channels, taps, in + p * taps, off, zero, w, acc + p * channels);
}

const qgemm_ukernel qgemm_u8s8_8x32_avx512vnni = {
    "qgemm_u8s8_8x32_avx512vnni", 8, 32, false, false, qgemm_u8s8_8x32_avx512vnni_tile,
    qgemm_tile_out_avx512, qdw_avx512, 32, true};
const qgemm_ukernel qgemm_u8s8_8x32_avx512bw = {
    "qgemm_u8s8_8x32_avx512bw", 8, 32, false, true, qgemm_u8s8_8x32_avx512bw_tile,
    qgemm_tile_out_avx512, qdw_avx512, 32, true};
#endif
