/* qgemm_avx2.c - the 256-bit integer GEMM microkernels, their epilogue and
 * the depthwise row.
 *
 *   qgemm_u8s8_6x16_avxvnni: AVX-VNNI (vpdpbusd in its VEX form): 12 ymm
 *       accumulators (6 rows x 2 vectors of 8 columns), two loads of B and six
 *       broadcasts of A per 4 depths: 15 of the 16 registers.
 *   qgemm_u8s8_4x16_avx2: vpmaddubsw on the lo and hi weight planes (exact,
 *       see qgemm.h), vpmaddwd by 1 and by 64 to widen: 8 accumulators, the
 *       four B vectors, A, and the two constants.
 * A's last partial group of 4 bytes is copied, so a tile never reads past the
 * end of a row.
 */
#include "qgemm.h"

#if defined(__x86_64__)
#define SIMD_AVX2
#include "simd_math.h"
#include "qgemm_act.h"

#define AVX2 __attribute__((target("avx2,fma")))
#define AVXVNNI __attribute__((target("avx2,fma,avxvnni")))

static inline int32_t ld4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline int32_t ld_part(const uint8_t *p, int64_t n)
{
    int32_t v = 0;
    memcpy(&v, p, (size_t)n);
    return v;
}

AVXVNNI static void qgemm_u8s8_6x16_avxvnni_tile(int64_t ks, int64_t kc, const uint8_t *const *a,
                                                 int64_t a_off, const uint8_t *zero,
                                                 const int8_t *b, int32_t *c)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    int64_t full = kc >> 2, rem = kc & 3;
#define ROWS6(X) X(0) X(1) X(2) X(3) X(4) X(5)
    for (int64_t t = 0; t < ks; t++, a += 6) {
#define PTR(r) const uint8_t *a##r = a[r] == zero ? a[r] : a[r] + a_off;
        ROWS6(PTR)
#undef PTR
#define DOT(r, load)                                                                               \
    {                                                                                              \
        __m256i av = _mm256_set1_epi32(load);                                                      \
        c##r##0 = _mm256_dpbusd_avx_epi32(c##r##0, av, b0);                                        \
        c##r##1 = _mm256_dpbusd_avx_epi32(c##r##1, av, b1);                                        \
    }
#define FULL(r) DOT(r, ld4(a##r + 4 * g))
#define PART(r) DOT(r, ld_part(a##r + 4 * full, rem))
        for (int64_t g = 0; g < full; g++, b += 64) {
            __m256i b0 = _mm256_loadu_si256((const __m256i *)b);
            __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + 32));
            ROWS6(FULL)
        }
        if (rem) {
            __m256i b0 = _mm256_loadu_si256((const __m256i *)b);
            __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + 32));
            ROWS6(PART)
            b += 64;
        }
#undef FULL
#undef PART
#undef DOT
    }
#define STORE_ROW(r)                                                                               \
    _mm256_storeu_si256((__m256i *)(c + (r) * 16), c##r##0);                                       \
    _mm256_storeu_si256((__m256i *)(c + (r) * 16 + 8), c##r##1);
    ROWS6(STORE_ROW)
#undef ROWS6
}

AVX2 static void qgemm_u8s8_4x16_avx2_tile(int64_t ks, int64_t kc, const uint8_t *const *a,
                                           int64_t a_off, const uint8_t *zero, const int8_t *b,
                                           int32_t *c)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
    __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    const __m256i one = _mm256_set1_epi16(1), k64 = _mm256_set1_epi16(64);
    int64_t full = kc >> 2, rem = kc & 3;
#define ROWS4(X) X(0) X(1) X(2) X(3)
    for (int64_t t = 0; t < ks; t++, a += 4) {
#define PTR(r) const uint8_t *a##r = a[r] == zero ? a[r] : a[r] + a_off;
        ROWS4(PTR)
#undef PTR
#define DOT(r, load)                                                                               \
    {                                                                                              \
        __m256i av = _mm256_set1_epi32(load);                                                      \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(_mm256_maddubs_epi16(av, l0), one)); \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(_mm256_maddubs_epi16(av, l1), one)); \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(_mm256_maddubs_epi16(av, h0), k64)); \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(_mm256_maddubs_epi16(av, h1), k64)); \
    }
#define FULL(r) DOT(r, ld4(a##r + 4 * g))
#define PART(r) DOT(r, ld_part(a##r + 4 * full, rem))
#define LOADB                                                                                      \
    __m256i l0 = _mm256_loadu_si256((const __m256i *)b);                                           \
    __m256i l1 = _mm256_loadu_si256((const __m256i *)(b + 32));                                    \
    __m256i h0 = _mm256_loadu_si256((const __m256i *)(b + 64));                                    \
    __m256i h1 = _mm256_loadu_si256((const __m256i *)(b + 96));
        for (int64_t g = 0; g < full; g++, b += 128) {
            LOADB
            ROWS4(FULL)
        }
        if (rem) {
            LOADB
            ROWS4(PART)
            b += 128;
        }
#undef LOADB
#undef FULL
#undef PART
#undef DOT
    }
    ROWS4(STORE_ROW)
#undef ROWS4
#undef STORE_ROW
}

AVX2 static void qgemm_row_out_avx2(const qgemm_out *o, const int32_t *acc, int64_t i, int64_t j0,
                                    int64_t n)
{
    int64_t nv = n & ~(int64_t)7, j = 0;
    const int32_t *ib = o->ib + j0;
    __m256i rc = _mm256_set1_epi32(o->rowc ? o->rowc[i] : 0);
    if (o->yi) {
        int32_t *y = o->yi + i * o->yi_rs + j0;
        for (; j < nv; j += 8) {
            __m256i a = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j)),
                                         _mm256_loadu_si256((const __m256i *)(ib + j)));
            _mm256_storeu_si256((__m256i *)(y + j), _mm256_add_epi32(a, rc));
        }
    } else {
        const float *sc = o->scale + j0, *fb = o->fb ? o->fb + j0 : NULL;
        const float *z = o->z ? o->z + i * o->z_rs + j0 : NULL;
        float *yf = o->yf ? o->yf + i * o->yf_rs + j0 : NULL;
        uint8_t *yq = o->yq ? (uint8_t *)o->yq + i * o->yq_rs + j0 : NULL;
        __m256 inv = _mm256_set1_ps(o->inv_ys), zp = _mm256_set1_ps(o->yzp);
        __m256 lo = _mm256_set1_ps(o->yq_signed ? -128.0f : 0.0f);
        __m256 hi = _mm256_set1_ps(o->yq_signed ? 127.0f : 255.0f);
        for (; j < nv; j += 8) {
            __m256i a = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + j)),
                                         _mm256_loadu_si256((const __m256i *)(ib + j)));
            __m256 v = _mm256_cvtepi32_ps(_mm256_add_epi32(a, rc));
            __m256 s = _mm256_loadu_ps(sc + j);
            v = fb ? _mm256_fmadd_ps(v, s, _mm256_loadu_ps(fb + j)) : _mm256_mul_ps(v, s);
            if (z) v = _mm256_add_ps(v, _mm256_loadu_ps(z + j));
            v = qgemm_act_vec(o, v);
            if (yf) _mm256_storeu_ps(yf + j, v);
            if (yq) {
                __m256 q = _mm256_round_ps(_mm256_mul_ps(v, inv),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                /* max returns its second operand for NaN: NaN saturates to lo */
                q = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(q, zp), lo), hi);
                __m256i qi = _mm256_cvtps_epi32(q);
                /* int32 -> int16 -> bytes; the values are in range already */
                __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(qi), _mm256_extracti128_si256(qi, 1));
                __m128i bts = o->yq_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
                _mm_storel_epi64((__m128i *)(yq + j), bts);
            }
        }
    }
    if (j < n) qgemm_row_out_scalar(o, acc + j, i, j0 + j, n - j);
}

AVX2 static void qgemm_tile_out_avx2(const qgemm_out *o, const int32_t *acc, int64_t ldacc, int64_t i0,
                                     int64_t mr, int64_t j0, int64_t n)
{
    for (int64_t r = 0; r < mr; r++) qgemm_row_out_avx2(o, acc + r * ldacc, i0 + r, j0, n);
}

/* 16 channels per pass over the taps, two taps per vpmaddwd (the layout of
 * qdw_avx512 with two 128-bit lanes); a partial block is copied first. */
AVX2 static void qdw_avx2_pixel(int64_t channels, int64_t taps, const uint8_t *const *in, int64_t off,
                                const uint8_t *zero, const int16_t *w, int32_t *acc)
{
    int64_t tp = taps + (taps & 1);
    for (int64_t c0 = 0; c0 < channels; c0 += 16) {
        int64_t cn = channels - c0 < 16 ? channels - c0 : 16;
        const int16_t *wb = w + c0 * tp;
        __m256i lo = _mm256_setzero_si256(), hi = lo;
        for (int64_t t = 0; t < taps; t += 2) {
            const uint8_t *p0 = (in[t] == zero ? in[t] : in[t] + off) + c0;
            const uint8_t *p1 =
                t + 1 >= taps ? p0 : (in[t + 1] == zero ? in[t + 1] : in[t + 1] + off) + c0;
            __m128i r0, r1;
            if (cn == 16) {
                r0 = _mm_loadu_si128((const __m128i *)p0);
                r1 = _mm_loadu_si128((const __m128i *)p1);
            } else {
                uint8_t b0[16] = {0}, b1[16] = {0};
                memcpy(b0, p0, (size_t)cn);
                memcpy(b1, p1, (size_t)cn);
                r0 = _mm_loadu_si128((const __m128i *)b0);
                r1 = _mm_loadu_si128((const __m128i *)b1);
            }
            __m256i x0 = _mm256_cvtepu8_epi16(r0), x1 = _mm256_cvtepu8_epi16(r1);
            const int16_t *wp = wb + t * 16;
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1),
                                                        _mm256_loadu_si256((const __m256i *)wp)));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1),
                                                        _mm256_loadu_si256((const __m256i *)(wp + 16))));
        }
        /* lo holds channels 0-3 | 8-11, hi 4-7 | 12-15 */
        __m256i o0 = _mm256_permute2x128_si256(lo, hi, 0x20);
        __m256i o1 = _mm256_permute2x128_si256(lo, hi, 0x31);
        if (cn == 16) {
            _mm256_storeu_si256((__m256i *)(acc + c0), o0);
            _mm256_storeu_si256((__m256i *)(acc + c0 + 8), o1);
        } else {
            int32_t tmp[16];
            _mm256_storeu_si256((__m256i *)tmp, o0);
            _mm256_storeu_si256((__m256i *)(tmp + 8), o1);
            memcpy(acc + c0, tmp, (size_t)cn * sizeof *tmp);
        }
    }
}

static void qdw_avx2(int64_t channels, int64_t taps, int64_t npix, const uint8_t *const *in, int64_t off,
                     const uint8_t *zero, const int16_t *w, int32_t *acc)
{
    for (int64_t p = 0; p < npix; p++) qdw_avx2_pixel(channels, taps, in + p * taps, off, zero, w, acc + p * channels);
}

const qgemm_ukernel qgemm_u8s8_6x16_avxvnni = {
    "qgemm_u8s8_6x16_avxvnni", 6, 16, false, false, qgemm_u8s8_6x16_avxvnni_tile,
    qgemm_tile_out_avx2, qdw_avx2, 16, true};
const qgemm_ukernel qgemm_u8s8_4x16_avx2 = {
    "qgemm_u8s8_4x16_avx2", 4, 16, false, true, qgemm_u8s8_4x16_avx2_tile,
    qgemm_tile_out_avx2, qdw_avx2, 16, true};
#endif
