/* simd_math.h - a thin float-vector layer and vectorized exp, erf, tanh,
 * sigmoid and gelu for one ISA, chosen by the including file:
 *
 *     #define SIMD_AVX512 (or SIMD_AVX2, or SIMD_NEON) then #include "simd_math.h"
 *
 * Each per-ISA translation unit includes it exactly once (no include guard on
 * purpose), so the same kernel source (ops/hot_impl.h) compiles to AVX2,
 * AVX-512 and NEON code. On x86 every function carries the ISA's target
 * attribute instead of a -m flag, so the rest of the build stays baseline and
 * the caller picks a table at session creation (ops/hot.h); on aarch64
 * Advanced SIMD is part of the base ISA and needs no attribute.
 *
 * The layer, per ISA: VF_N float lanes (16 AVX-512, 8 AVX2, 4 NEON); loads
 * and stores of the first n lanes for tails (AVX-512 mask registers, AVX2
 * maskload/maskstore, NEON lane and half-register moves); compares giving a
 * vmask for vf_select; horizontal sum and max.
 *
 * NaN: vf_max/vf_min return their SECOND operand when either is NaN on x86
 * (maxps), and NaN when either is NaN on NEON (fmax); the kernels pass the
 * data second, so NaN propagates on every ISA. vf_fmax is C's fmax (a NaN
 * operand is ignored) everywhere.
 *
 * Accuracy (measured by tests/unit/test_hot.c against libm in double over
 * dense sweeps, the same bounds on every ISA; float has ulp 6e-8 near 1):
 *   vf_exp      relative error <= 3e-7 on [-87.3, 88.7]; 0 below -87.34
 *               (true result < 1.2e-38, denormals are not produced); +inf above
 *               88.72; NaN propagates.
 *   vf_exp_nonpos  for x <= 0 (softmax after the max is subtracted): the same
 *               values as vf_exp on [-87.33, 0], subnormals down to -87.68,
 *               0 below (-inf included); NaN propagates. No overflow path: 9
 *               fewer min/compare/select operations per vector than vf_exp.
 *   vf_erf      absolute error <= 3e-7 everywhere (x * P(x^2) below |x| = 0.9,
 *               1 - exp(Q(|x|)) above with |x| clamped to 4, where erf
 *               rounds to 1.0f).
 *   vf_tanh     absolute error <= 3e-7 (odd polynomial below |x| = 0.625,
 *               1 - 2t / (1 + t) with t = exp(-2|x|) above, |x| clamped to 10
 *               where it rounds to 1.0f).
 *   vf_sigmoid  relative error <= 5e-7 (1 / (1 + t) or t / (1 + t) with
 *               t = exp(-|x|), exact division).
 *   vf_gelu     0.5 x (1 + erf(x / sqrt 2)): abs error <= 3e-7 * |x|.
 * The polynomial coefficients are least-squares fits on Chebyshev nodes,
 * reweighted towards minimax (relative error of the fitted function <= 1.2e-8),
 * so float rounding dominates the totals above. */
#if defined(SIMD_AVX512) + defined(SIMD_AVX2) + defined(SIMD_NEON) != 1
#error "define exactly one of SIMD_AVX512, SIMD_AVX2 and SIMD_NEON before including simd_math.h"
#endif

#include <math.h>
#include <stdint.h>

#if defined(SIMD_AVX512) || defined(SIMD_AVX2)
#include <immintrin.h>
#endif

#if defined(SIMD_AVX512)
#define SIMD_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define SIMD_FN static inline SIMD_TARGET __attribute__((always_inline))
#define VF_N 16
typedef __m512 vf;
typedef __mmask16 vmask;
SIMD_FN vf vf_set1(float a) { return _mm512_set1_ps(a); }
SIMD_FN vf vf_zero(void) { return _mm512_setzero_ps(); }
SIMD_FN vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
SIMD_FN void vf_store(float *p, vf a) { _mm512_storeu_ps(p, a); }
/* the first n (0 < n <= VF_N) lanes; the rest read as 0 and are not written */
SIMD_FN vf vf_load_n(const float *p, int64_t n)
{
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
SIMD_FN void vf_store_n(float *p, vf a, int64_t n)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), a);
}
SIMD_FN vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
SIMD_FN vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
SIMD_FN vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
SIMD_FN vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
SIMD_FN vf vf_fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
SIMD_FN vf vf_sqrt(vf a) { return _mm512_sqrt_ps(a); }
/* max/min return their SECOND operand when either is NaN: pass the data
 * second so NaN propagates */
SIMD_FN vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
SIMD_FN vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
SIMD_FN vf vf_abs(vf a) { return _mm512_abs_ps(a); }
SIMD_FN vf vf_round(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
SIMD_FN vmask vf_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
SIMD_FN vmask vf_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
SIMD_FN vmask vf_isnan(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
/* m ? b : a */
SIMD_FN vf vf_select(vmask m, vf a, vf b) { return _mm512_mask_blend_ps(m, a, b); }
/* lanes >= n (0 <= n <= VF_N) */
SIMD_FN vmask vf_lanes_from(int64_t n) { return (vmask)~((1u << n) - 1); }
SIMD_FN vf vf_copysign(vf mag, vf sign)
{
    const __m512i s = _mm512_set1_epi32(INT32_MIN);
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_andnot_si512(s, _mm512_castps_si512(mag)),
                                               _mm512_and_si512(s, _mm512_castps_si512(sign))));
}
/* 2^n for integral n in [-126, 127] */
SIMD_FN vf vf_pow2i(vf n)
{
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}
SIMD_FN float vf_hsum(vf a) { return _mm512_reduce_add_ps(a); }
SIMD_FN float vf_hmax(vf a) { return _mm512_reduce_max_ps(a); }
#elif defined(SIMD_AVX2)
#define SIMD_TARGET __attribute__((target("avx2,fma")))
#define SIMD_FN static inline SIMD_TARGET __attribute__((always_inline))
#define VF_N 8
typedef __m256 vf;
typedef __m256 vmask;
SIMD_FN vf vf_set1(float a) { return _mm256_set1_ps(a); }
SIMD_FN vf vf_zero(void) { return _mm256_setzero_ps(); }
SIMD_FN vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
SIMD_FN void vf_store(float *p, vf a) { _mm256_storeu_ps(p, a); }
/* lanes [0, n) set: a window into {-1 x8, 0 x8} */
SIMD_FN __m256i vf_tail_mask(int64_t n)
{
    static const int32_t window[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(window + 8 - n));
}
SIMD_FN vf vf_load_n(const float *p, int64_t n) { return _mm256_maskload_ps(p, vf_tail_mask(n)); }
SIMD_FN void vf_store_n(float *p, vf a, int64_t n) { _mm256_maskstore_ps(p, vf_tail_mask(n), a); }
SIMD_FN vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
SIMD_FN vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
SIMD_FN vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
SIMD_FN vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
SIMD_FN vf vf_fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
SIMD_FN vf vf_sqrt(vf a) { return _mm256_sqrt_ps(a); }
SIMD_FN vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
SIMD_FN vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
SIMD_FN vf vf_abs(vf a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
SIMD_FN vf vf_round(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
SIMD_FN vmask vf_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
SIMD_FN vmask vf_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
SIMD_FN vmask vf_isnan(vf a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
SIMD_FN vf vf_select(vmask m, vf a, vf b) { return _mm256_blendv_ps(a, b, m); }
SIMD_FN vmask vf_lanes_from(int64_t n)
{
    return _mm256_castsi256_ps(_mm256_xor_si256(vf_tail_mask(n), _mm256_set1_epi32(-1)));
}
SIMD_FN vf vf_copysign(vf mag, vf sign)
{
    const vf s = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sign));
}
SIMD_FN vf vf_pow2i(vf n)
{
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
SIMD_FN float vf_hsum(vf a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
SIMD_FN float vf_hmax(vf a)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#else /* SIMD_NEON: aarch64 Advanced SIMD, 4 lanes, 32 vector registers */
#include <arm_neon.h>
#define SIMD_TARGET
#define SIMD_FN static inline __attribute__((always_inline))
#define VF_N 4
typedef float32x4_t vf;
typedef uint32x4_t vmask;
SIMD_FN vf vf_set1(float a) { return vdupq_n_f32(a); }
SIMD_FN vf vf_zero(void) { return vdupq_n_f32(0.0f); }
SIMD_FN vf vf_load(const float *p) { return vld1q_f32(p); }
SIMD_FN void vf_store(float *p, vf a) { vst1q_f32(p, a); }
/* no masked loads: the first n lanes by a lane load, a half-register load or
 * both, never touching p[n..] (which may be past the end of a buffer) */
SIMD_FN vf vf_load_n(const float *p, int64_t n)
{
    switch (n) {
    case 1: return vsetq_lane_f32(p[0], vdupq_n_f32(0.0f), 0);
    case 2: return vcombine_f32(vld1_f32(p), vdup_n_f32(0.0f));
    case 3: return vcombine_f32(vld1_f32(p), vset_lane_f32(p[2], vdup_n_f32(0.0f), 0));
    default: return vld1q_f32(p);
    }
}
SIMD_FN void vf_store_n(float *p, vf a, int64_t n)
{
    switch (n) {
    case 1: vst1q_lane_f32(p, a, 0); break;
    case 2: vst1_f32(p, vget_low_f32(a)); break;
    case 3:
        vst1_f32(p, vget_low_f32(a));
        vst1q_lane_f32(p + 2, a, 2);
        break;
    default: vst1q_f32(p, a); break;
    }
}
SIMD_FN vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
SIMD_FN vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
SIMD_FN vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
SIMD_FN vf vf_div(vf a, vf b) { return vdivq_f32(a, b); }
SIMD_FN vf vf_fmadd(vf a, vf b, vf c) { return vfmaq_f32(c, a, b); }
SIMD_FN vf vf_sqrt(vf a) { return vsqrtq_f32(a); }
/* the FMAX/FMIN instructions: NaN when either operand is NaN */
SIMD_FN vf vf_max(vf a, vf b) { return vmaxq_f32(a, b); }
SIMD_FN vf vf_min(vf a, vf b) { return vminq_f32(a, b); }
SIMD_FN vf vf_fmax(vf a, vf b) { return vmaxnmq_f32(a, b); } /* IEEE maxNum: C's fmax */
SIMD_FN vf vf_abs(vf a) { return vabsq_f32(a); }
SIMD_FN vf vf_round(vf a) { return vrndnq_f32(a); } /* to nearest, ties to even, like x86 */
SIMD_FN vmask vf_lt(vf a, vf b) { return vcltq_f32(a, b); }
SIMD_FN vmask vf_gt(vf a, vf b) { return vcgtq_f32(a, b); }
SIMD_FN vmask vf_isnan(vf a) { return vmvnq_u32(vceqq_f32(a, a)); }
SIMD_FN vf vf_select(vmask m, vf a, vf b) { return vbslq_f32(m, b, a); }
SIMD_FN vmask vf_lanes_from(int64_t n)
{
    static const uint32_t lane[4] = {0, 1, 2, 3};
    return vcgeq_u32(vld1q_u32(lane), vdupq_n_u32((uint32_t)n));
}
SIMD_FN vf vf_copysign(vf mag, vf sign) { return vbslq_f32(vdupq_n_u32(0x80000000u), sign, mag); }
SIMD_FN vf vf_pow2i(vf n)
{
    int32x4_t e = vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127));
    return vreinterpretq_f32_s32(vshlq_n_s32(e, 23));
}
SIMD_FN float vf_hsum(vf a) { return vaddvq_f32(a); }
SIMD_FN float vf_hmax(vf a) { return vmaxvq_f32(a); }
#endif

#if !defined(SIMD_NEON)
/* C's fmax: maxps gives b when either is NaN; a NaN m then means b was the
 * NaN (or both were), and a is the answer */
SIMD_FN vf vf_fmax(vf a, vf b)
{
    const vf m = vf_max(a, b);
    return vf_select(vf_isnan(m), m, a);
}
#endif

/* e^x: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so r is exact),
 * x clamped to the range where the result is a normal float,
 * e^r by Cephes' degree-6 polynomial, 2^n built in the exponent field. */
SIMD_FN vf vf_exp(vf x)
{
    const vf hi = vf_set1(88.72283935546875f), lo = vf_set1(-87.3365447504f);
    vf c = vf_min(hi, vf_max(lo, x)); /* NaN stays NaN (second operand) */
    vf n = vf_round(vf_mul(c, vf_set1(1.44269504088896341f)));
    vf r = vf_fmadd(n, vf_set1(-0.693359375f), c);
    r = vf_fmadd(n, vf_set1(2.12194440e-4f), r);
    vf p = vf_set1(1.9875691500e-4f);
    p = vf_fmadd(p, r, vf_set1(1.3981999507e-3f));
    p = vf_fmadd(p, r, vf_set1(8.3334519073e-3f));
    p = vf_fmadd(p, r, vf_set1(4.1665795894e-2f));
    p = vf_fmadd(p, r, vf_set1(1.6666665459e-1f));
    p = vf_fmadd(p, r, vf_set1(5.0000001201e-1f));
    p = vf_fmadd(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f)));
    /* n reaches 128 just below the overflow threshold: scale by 2^127 * 2 */
    const vf top = vf_set1(127.0f);
    vf y = vf_mul(p, vf_pow2i(vf_min(top, n)));
    y = vf_select(vf_gt(n, top), y, vf_add(y, y));
    y = vf_select(vf_gt(x, hi), y, vf_set1(INFINITY));
    return vf_select(vf_lt(x, lo), y, vf_zero());
}

/* e^x for x <= 0 (or NaN), the softmax case: vf_exp without the overflow
 * and underflow selects. Clamping at -88 instead of -87.34 makes n reach -127
 * there, whose 2^n built in the exponent field is +0: e^x is exactly 0 from
 * -87.68 down (-inf included), and the product p 2^-126 rounds to the right
 * subnormal between -87.68 and -87.34. */
SIMD_FN vf vf_exp_nonpos(vf x)
{
    vf c = vf_max(vf_set1(-88.0f), x); /* NaN stays NaN */
    vf n = vf_round(vf_mul(c, vf_set1(1.44269504088896341f)));
    vf r = vf_fmadd(n, vf_set1(-0.693359375f), c);
    r = vf_fmadd(n, vf_set1(2.12194440e-4f), r);
    vf p = vf_set1(1.9875691500e-4f);
    p = vf_fmadd(p, r, vf_set1(1.3981999507e-3f));
    p = vf_fmadd(p, r, vf_set1(8.3334519073e-3f));
    p = vf_fmadd(p, r, vf_set1(4.1665795894e-2f));
    p = vf_fmadd(p, r, vf_set1(1.6666665459e-1f));
    p = vf_fmadd(p, r, vf_set1(5.0000001201e-1f));
    p = vf_fmadd(p, vf_mul(r, r), vf_add(r, vf_set1(1.0f)));
    return vf_mul(p, vf_pow2i(n));
}

SIMD_FN vf vf_erf(vf x)
{
    vf a = vf_min(vf_set1(4.0f), vf_abs(x));
    /* |x| < 0.9: erf(x) = x P(x^2) */
    vf z = vf_mul(a, a);
    vf p = vf_set1(-0.0006090653470219789f);
    p = vf_fmadd(p, z, vf_set1(0.0050120285622305295f));
    p = vf_fmadd(p, z, vf_set1(-0.026778962518966748f));
    p = vf_fmadd(p, z, vf_set1(0.11282142725864969f));
    p = vf_fmadd(p, z, vf_set1(-0.3761252355522958f));
    p = vf_fmadd(p, z, vf_set1(1.128379153910665f));
    vf small = vf_mul(p, a);
    /* |x| >= 0.9: erf(x) = 1 - erfc(x), log(erfc(x)) = Q(x) on [0.9, 4] */
    vf q = vf_set1(1.6024992299788778e-06f);
    q = vf_fmadd(q, a, vf_set1(-4.5354764780864356e-05f));
    q = vf_fmadd(q, a, vf_set1(0.0005907167782080186f));
    q = vf_fmadd(q, a, vf_set1(-0.0047302891314692265f));
    q = vf_fmadd(q, a, vf_set1(0.026335560042058434f));
    q = vf_fmadd(q, a, vf_set1(-0.10992521863672504f));
    q = vf_fmadd(q, a, vf_set1(-0.6319952916388067f));
    q = vf_fmadd(q, a, vf_set1(-1.1301315170335633f));
    q = vf_fmadd(q, a, vf_set1(0.00029427983655505303f));
    /* Q < 0 on [0.9, 4] (Q(0) is 3e-4, and those lanes take the small branch) */
    vf large = vf_sub(vf_set1(1.0f), vf_exp_nonpos(q));
    /* at the clamp |x| = 4, 1 - exp(Q) rounds to 1.0f; NaN passed the min()
     * and fails the compare, taking the (NaN) large branch */
    return vf_copysign(vf_select(vf_lt(a, vf_set1(0.9f)), large, small), x);
}

SIMD_FN vf vf_tanh(vf x)
{
    vf a = vf_min(vf_set1(10.0f), vf_abs(x));
    vf z = vf_mul(a, a);
    vf p = vf_set1(-0.005660337428487731f);
    p = vf_fmadd(p, z, vf_set1(0.02059136263746676f));
    p = vf_fmadd(p, z, vf_set1(-0.053721214177524006f));
    p = vf_fmadd(p, z, vf_set1(0.13331130030436913f));
    p = vf_fmadd(p, z, vf_set1(-0.333332607001369f));
    p = vf_fmadd(p, z, vf_set1(0.9999999961086364f));
    vf small = vf_mul(p, a);
    /* 1 - 2 / (e^2a + 1) = 1 - 2t / (1 + t) with t = e^-2a <= 1 */
    vf t = vf_exp_nonpos(vf_mul(a, vf_set1(-2.0f)));
    vf large = vf_sub(vf_set1(1.0f), vf_div(vf_add(t, t), vf_add(t, vf_set1(1.0f))));
    return vf_copysign(vf_select(vf_lt(a, vf_set1(0.625f)), large, small), x);
}

/* with t = e^-|x| <= 1: 1 / (1 + t) for x >= 0, t / (1 + t) below */
SIMD_FN vf vf_sigmoid(vf x)
{
    const vf one = vf_set1(1.0f);
    const vf t = vf_exp_nonpos(vf_sub(vf_zero(), vf_abs(x)));
    const vf r = vf_div(one, vf_add(one, t));
    return vf_select(vf_lt(x, vf_zero()), r, vf_mul(t, r));
}

SIMD_FN vf vf_gelu(vf x)
{
    vf e = vf_erf(vf_mul(x, vf_set1(0.70710678118654752440f)));
    return vf_mul(vf_mul(vf_set1(0.5f), x), vf_add(vf_set1(1.0f), e));
}
