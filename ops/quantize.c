/* quantize.c - QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, and
 * the helpers the other quantized operators share (ops/qlinear.h).
 *
 * Scales and zero points are per tensor (one value), per axis (1-D, one value per
 * index of `axis`) or blocked (same rank as x, `block_size` consecutive indices of
 * `axis` sharing a value). x is walked as [outer, D, inner] around the axis.
 * The reference loops convert every element through double; with a prepared
 * state, float32 <-> uint8/int8 per tensor and per axis run the vector loops
 * below instead (same arithmetic, so the same bits).
 */
#include "qlinear.h"

#include <stdlib.h>

/* ---- shared helpers ---- */

void *ql_scratch(const onyx_kctx *k, int slot, k_scratch_buf *own, size_t bytes)
{
    k_scratch_buf *b = k_scratch(k, slot, own);
    if (!k_scratch_reserve(b, (bytes + sizeof(float) - 1) / sizeof(float))) return NULL;
    return b->data;
}

onyx_status ql_param(onyx_kctx *k, int idx, int64_t per, const char *what, onyx_dtype data_type,
                     float def, float *out)
{
    const onyx_tensor *t = k_input(k, idx);
    if (!t) {
        for (int64_t i = 0; i < per; i++) out[i] = def;
        return ONYX_OK;
    }
    if (t->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input %d (%s) must be a tensor", idx, what);
    bool is_scale = data_type == ONYX_FLOAT;
    if (is_scale ? t->dtype != ONYX_FLOAT : t->dtype != data_type)
        return k_fail(k, ONYX_E_INVALID, "input %d (%s) must be %s, got %s", idx, what,
                      onyx_dtype_name(data_type), onyx_dtype_name(t->dtype));
    int64_t n = tensor_numel_of(t->rank, t->dims);
    if (n != 1 && (n != per || t->rank != 1))
        return k_fail(k, ONYX_E_SHAPE, "input %d (%s) has %lld elements, expected 1%s", idx, what,
                      (long long)n, per > 1 ? " or one per output channel" : "");
    for (int64_t i = 0; i < per; i++) out[i] = (float)k_get_f64(t, n == 1 ? 0 : i);
    return ONYX_OK;
}

bool ql_all_equal(const float *v, int64_t n)
{
    for (int64_t i = 1; i < n; i++)
        if (v[i] != v[0]) return false;
    return true;
}

void ql_dynamic_params(float mn, float mx, float *scale, float *zp)
{
    /* a constant-zero input would give scale 0; use 1 as ONNX Runtime does */
    float s = mx == mn ? 1.0f : (mx - mn) / 255.0f;
    float z = rintf(0.0f - mn / s);
    *scale = s;
    *zp = z >= 0 ? (z <= 255 ? z : 255) : 0;
}

/* ---- the element loops ---- */

static void quantize_generic(const float *x, int64_t n, float s, float zp, bool is_signed, bool flip,
                             uint8_t *y)
{
    float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
    uint8_t fx = flip ? 0x80 : 0;
    for (int64_t i = 0; i < n; i++) {
        float v = rintf(x[i] / s) + zp;
        v = v >= lo ? (v <= hi ? v : hi) : lo; /* NaN -> lo */
        y[i] = (uint8_t)((is_signed ? (uint8_t)(int8_t)v : (uint8_t)v) ^ fx);
    }
}

static void dequantize_generic(const uint8_t *x, int64_t n, bool is_signed, float s, float zp,
                               float *y)
{
    for (int64_t i = 0; i < n; i++) y[i] = ((float)(is_signed ? (int8_t)x[i] : x[i]) - zp) * s;
}

static void range_generic(const float *x, int64_t n, float *mn, float *mx)
{
    float a = 0, b = 0;
    for (int64_t i = 0; i < n; i++) {
        if (x[i] < a) a = x[i];
        if (x[i] > b) b = x[i];
    }
    *mn = a;
    *mx = b;
}

static void max_bytes_generic(uint8_t *restrict acc, const uint8_t *restrict x, int64_t n, bool is_signed)
{
    uint8_t fx = is_signed ? 0x80 : 0; /* int8 order is uint8 order with the top bit flipped */
    for (int64_t i = 0; i < n; i++) {
        uint8_t a = acc[i] ^ fx, v = x[i] ^ fx;
        acc[i] = (v > a ? v : a) ^ fx;
    }
}

static const ql_vec ql_vec_generic = {"generic", quantize_generic, dequantize_generic, range_generic,
                                      max_bytes_generic};

#if defined(__x86_64__)
#include <immintrin.h>
#define QL_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define QL_AVX2 __attribute__((target("avx2,fma")))

QL_AVX512 static void quantize_avx512(const float *x, int64_t n, float s, float zp, bool is_signed,
                                      bool flip, uint8_t *y)
{
    __m512 vs = _mm512_set1_ps(s), vz = _mm512_set1_ps(zp);
    __m512 lo = _mm512_set1_ps(is_signed ? -128.0f : 0.0f), hi = _mm512_set1_ps(is_signed ? 127.0f : 255.0f);
    __m128i fx = _mm_set1_epi8(flip ? (char)0x80 : 0);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
        v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi); /* max gives lo for NaN */
        __m128i b = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v));
        _mm_mask_storeu_epi8(y + i, m, _mm_xor_si128(b, fx));
    }
}

QL_AVX512 static void dequantize_avx512(const uint8_t *x, int64_t n, bool is_signed, float s,
                                        float zp, float *y)
{
    __m512 vs = _mm512_set1_ps(s), vz = _mm512_set1_ps(zp);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m128i b = _mm_maskz_loadu_epi8(m, x + i);
        __m512i q = is_signed ? _mm512_cvtepi8_epi32(b) : _mm512_cvtepu8_epi32(b);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(q), vz), vs));
    }
}

QL_AVX512 static void range_avx512(const float *x, int64_t n, float *mn, float *mx)
{
    __m512 a = _mm512_setzero_ps(), b = a;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        /* min/max return the second operand for NaN: NaN leaves the running value */
        a = _mm512_mask_min_ps(a, m, v, a);
        b = _mm512_mask_max_ps(b, m, v, b);
    }
    *mn = _mm512_reduce_min_ps(a);
    *mx = _mm512_reduce_max_ps(b);
}

QL_AVX2 static void quantize_avx2(const float *x, int64_t n, float s, float zp, bool is_signed,
                                  bool flip, uint8_t *y)
{
    __m256 vs = _mm256_set1_ps(s), vz = _mm256_set1_ps(zp);
    __m256 lo = _mm256_set1_ps(is_signed ? -128.0f : 0.0f), hi = _mm256_set1_ps(is_signed ? 127.0f : 255.0f);
    __m128i fx = _mm_set1_epi8(flip ? (char)0x80 : 0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
        v = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vz);
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        __m256i q = _mm256_cvtps_epi32(v);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        __m128i b = is_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
        _mm_storel_epi64((__m128i *)(y + i), _mm_xor_si128(b, fx));
    }
    quantize_generic(x + i, n - i, s, zp, is_signed, flip, y + i);
}

QL_AVX2 static void dequantize_avx2(const uint8_t *x, int64_t n, bool is_signed, float s, float zp,
                                    float *y)
{
    __m256 vs = _mm256_set1_ps(s), vz = _mm256_set1_ps(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(x + i));
        __m256i q = is_signed ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(q), vz), vs));
    }
    dequantize_generic(x + i, n - i, is_signed, s, zp, y + i);
}

QL_AVX2 static void range_avx2(const float *x, int64_t n, float *mn, float *mx)
{
    __m256 a = _mm256_setzero_ps(), b = a;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        a = _mm256_min_ps(v, a);
        b = _mm256_max_ps(v, b);
    }
    float va[8], vb[8], ta, tb;
    _mm256_storeu_ps(va, a);
    _mm256_storeu_ps(vb, b);
    range_generic(x + i, n - i, &ta, &tb);
    for (int k = 0; k < 8; k++) {
        if (va[k] < ta) ta = va[k];
        if (vb[k] > tb) tb = vb[k];
    }
    *mn = ta;
    *mx = tb;
}

QL_AVX512 static void max_bytes_avx512(uint8_t *acc, const uint8_t *x, int64_t n, bool is_signed)
{
    for (int64_t i = 0; i < n; i += 64) {
        __mmask64 m = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
        __m512i a = _mm512_maskz_loadu_epi8(m, acc + i), v = _mm512_maskz_loadu_epi8(m, x + i);
        _mm512_mask_storeu_epi8(acc + i, m, is_signed ? _mm512_max_epi8(a, v) : _mm512_max_epu8(a, v));
    }
}

QL_AVX2 static void max_bytes_avx2(uint8_t *acc, const uint8_t *x, int64_t n, bool is_signed)
{
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(acc + i)), v = _mm256_loadu_si256((const __m256i *)(x + i));
        _mm256_storeu_si256((__m256i *)(acc + i), is_signed ? _mm256_max_epi8(a, v) : _mm256_max_epu8(a, v));
    }
    max_bytes_generic(acc + i, x + i, n - i, is_signed);
}

static const ql_vec ql_vec_avx512 = {"avx512", quantize_avx512, dequantize_avx512, range_avx512, max_bytes_avx512};
static const ql_vec ql_vec_avx2 = {"avx2", quantize_avx2, dequantize_avx2, range_avx2, max_bytes_avx2};
#endif

#if defined(__aarch64__)
#include <arm_neon.h>

static void quantize_neon(const float *x, int64_t n, float s, float zp, bool is_signed, bool flip,
                          uint8_t *y)
{
    float32x4_t vs = vdupq_n_f32(s), vz = vdupq_n_f32(zp);
    float32x4_t lo = vdupq_n_f32(is_signed ? -128.0f : 0.0f), hi = vdupq_n_f32(is_signed ? 127.0f : 255.0f);
    uint8x8_t fx = vdup_n_u8(flip ? 0x80 : 0);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t v0 = vaddq_f32(vrndnq_f32(vdivq_f32(vld1q_f32(x + i), vs)), vz);
        float32x4_t v1 = vaddq_f32(vrndnq_f32(vdivq_f32(vld1q_f32(x + i + 4), vs)), vz);
        /* maxnm gives lo for NaN */
        v0 = vminnmq_f32(vmaxnmq_f32(v0, lo), hi);
        v1 = vminnmq_f32(vmaxnmq_f32(v1, lo), hi);
        int16x8_t w = vcombine_s16(vmovn_s32(vcvtq_s32_f32(v0)), vmovn_s32(vcvtq_s32_f32(v1)));
        vst1_u8(y + i, veor_u8(vreinterpret_u8_s8(vmovn_s16(w)), fx));
    }
    quantize_generic(x + i, n - i, s, zp, is_signed, flip, y + i);
}

static void dequantize_neon(const uint8_t *x, int64_t n, bool is_signed, float s, float zp, float *y)
{
    float32x4_t vs = vdupq_n_f32(s), vz = vdupq_n_f32(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int16x8_t w = is_signed ? vmovl_s8(vld1_s8((const int8_t *)x + i))
                                : vreinterpretq_s16_u16(vmovl_u8(vld1_u8(x + i)));
        float32x4_t a = vcvtq_f32_s32(vmovl_s16(vget_low_s16(w)));
        float32x4_t b = vcvtq_f32_s32(vmovl_high_s16(w));
        vst1q_f32(y + i, vmulq_f32(vsubq_f32(a, vz), vs));
        vst1q_f32(y + i + 4, vmulq_f32(vsubq_f32(b, vz), vs));
    }
    dequantize_generic(x + i, n - i, is_signed, s, zp, y + i);
}

static void range_neon(const float *x, int64_t n, float *mn, float *mx)
{
    float32x4_t a = vdupq_n_f32(0), b = a;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        a = vminnmq_f32(a, v); /* the number when the other is NaN */
        b = vmaxnmq_f32(b, v);
    }
    float ta, tb;
    range_generic(x + i, n - i, &ta, &tb);
    float va = vminvq_f32(a), vb = vmaxvq_f32(b);
    *mn = va < ta ? va : ta;
    *mx = vb > tb ? vb : tb;
}

static void max_bytes_neon(uint8_t *acc, const uint8_t *x, int64_t n, bool is_signed)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        if (is_signed)
            vst1q_s8((int8_t *)acc + i, vmaxq_s8(vld1q_s8((const int8_t *)acc + i), vld1q_s8((const int8_t *)x + i)));
        else
            vst1q_u8(acc + i, vmaxq_u8(vld1q_u8(acc + i), vld1q_u8(x + i)));
    }
    max_bytes_generic(acc + i, x + i, n - i, is_signed);
}

static const ql_vec ql_vec_neon = {"neon", quantize_neon, dequantize_neon, range_neon, max_bytes_neon};
#endif

const ql_vec *ql_vec_best(void)
{
    const onyx_cpu *cpu = onyx_cpu_info();
    (void)cpu;
#if defined(__x86_64__)
    if (cpu->isa >= ONYX_ISA_AVX512) return &ql_vec_avx512;
    if (cpu->isa >= ONYX_ISA_AVX2) return &ql_vec_avx2;
#endif
#if defined(__aarch64__)
    if (cpu->isa == ONYX_ISA_NEON) return &ql_vec_neon;
#endif
    return &ql_vec_generic;
}

static onyx_status q_prepare(onyx_kctx *k, void **state)
{
    (void)k;
    *state = (void *)ql_vec_best();
    return ONYX_OK;
}

/* ---- the operators ---- */

typedef struct q_layout {
    int64_t outer, D, inner;
    int64_t block; /* 0: per tensor; D == block: per axis (scale index = d); else blocked */
    int64_t sd;    /* scale extent along the axis (blocked) */
    int mode;      /* 0 per tensor, 1 per axis, 2 blocked */
} q_layout;

static int64_t q_param_index(const q_layout *l, int64_t o, int64_t d, int64_t i)
{
    switch (l->mode) {
    case 1: return d;
    case 2: return (o * l->sd + d / l->block) * l->inner + i;
    default: return 0;
    }
}

/* Works out the granularity from the scale's shape (input si) and checks the zero
 * point (input zi, may be absent) has the same shape. */
static onyx_status q_make_layout(onyx_kctx *k, const onyx_tensor *x, int si, int zi, q_layout *l)
{
    const onyx_tensor *s = k_input(k, si), *z = k_input(k, zi);
    if (z) {
        bool same = z->rank == s->rank;
        for (int d = 0; same && d < s->rank; d++) same = z->dims[d] == s->dims[d];
        /* [] and [1] are both per tensor: exporters mix them */
        if (z->rank <= 1 && s->rank <= 1)
            same = tensor_numel_of(z->rank, z->dims) == tensor_numel_of(s->rank, s->dims);
        if (!same)
            return k_fail(k, ONYX_E_SHAPE,
                          "zero point (input %d) and scale (input %d) differ in shape", zi, si);
    }
    int64_t ns = tensor_numel_of(s->rank, s->dims);
    int64_t block = k->opset >= 21 ? k_attr_int(k, "block_size", 0) : 0;
    memset(l, 0, sizeof *l);
    l->outer = 1;
    l->D = tensor_numel_of(x->rank, x->dims);
    l->inner = 1;
    if (block < 0)
        return k_fail(k, ONYX_E_INVALID, "block_size must be >= 0 (got %lld)", (long long)block);
    if (block == 0 && s->rank <= 1 && ns == 1) return ONYX_OK;
    if (block == 0 && s->rank > 1)
        return k_fail(k, ONYX_E_SHAPE,
                      "scale must be a scalar or 1-D (got rank %d) unless block_size is set",
                      s->rank);
    if (k->opset < 13)
        return k_fail(k, ONYX_E_SHAPE, "scale must be a scalar before opset 13 (got %lld elements)",
                      (long long)ns);
    int64_t axis = k_attr_int(k, "axis", 1);
    int ax;
    if (!k_axis(axis, x->rank, &ax))
        return k_fail(k, ONYX_E_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                      x->rank);
    l->outer = tensor_numel_of(ax, x->dims);
    l->D = x->dims[ax];
    l->inner = tensor_numel_of(x->rank - ax - 1, x->dims + ax + 1);
    if (block == 0) {
        if (ns != l->D)
            return k_fail(k, ONYX_E_SHAPE,
                          "per-axis scale has %lld elements but axis %d has size %lld",
                          (long long)ns, ax, (long long)l->D);
        l->mode = 1;
        return ONYX_OK;
    }
    if (s->rank != x->rank)
        return k_fail(k, ONYX_E_SHAPE, "blocked scale must have the rank of x (%d, got %d)",
                      x->rank, s->rank);
    for (int d = 0; d < x->rank; d++) {
        int64_t want = d == ax ? (x->dims[d] + block - 1) / block : x->dims[d];
        if (s->dims[d] != want)
            return k_fail(k, ONYX_E_SHAPE,
                          "blocked scale has size %lld on axis %d, expected %lld (block_size %lld)",
                          (long long)s->dims[d], d, (long long)want, (long long)block);
    }
    l->mode = 2;
    l->block = block;
    l->sd = s->dims[ax];
    return ONYX_OK;
}

/* Scale (or zero point) values as float / int32 arrays the caller frees. */
static float *q_read_f32(const onyx_tensor *t)
{
    int64_t n = tensor_numel_of(t->rank, t->dims);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (v)
        for (int64_t i = 0; i < n; i++) v[i] = (float)k_get_f64(t, i);
    return v;
}

static bool q_range(onyx_dtype t, float *lo, float *hi)
{
    switch (t) {
    case ONYX_UINT8:
        *lo = 0;
        *hi = 255;
        return true;
    case ONYX_INT8:
        *lo = -128;
        *hi = 127;
        return true;
    case ONYX_UINT16:
        *lo = 0;
        *hi = 65535;
        return true;
    case ONYX_INT16:
        *lo = -32768;
        *hi = 32767;
        return true;
    default: return false;
    }
}

/* round half to even, then clamp; NaN goes to lo */
static float q_saturate(float v, float lo, float hi)
{
    v = rintf(v);
    return v >= lo ? (v <= hi ? v : hi) : lo;
}

static void q_store(onyx_tensor *y, int64_t i, float v)
{
    switch (y->dtype) {
    case ONYX_UINT8: ((uint8_t *)y->data)[i] = (uint8_t)v; break;
    case ONYX_INT8: ((int8_t *)y->data)[i] = (int8_t)v; break;
    case ONYX_UINT16: ((uint16_t *)y->data)[i] = (uint16_t)v; break;
    case ONYX_INT16: ((int16_t *)y->data)[i] = (int16_t)v; break;
    default: break;
    }
}

static onyx_status op_quantize_linear(onyx_kctx *k)
{
    onyx_status st = k_require(k, 0, ONYX_FLOAT, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_INT32,
                               ONYX_DOUBLE, ONYX_UNDEFINED);
    if (st) return st;
    if ((st =
             k_require(k, 1, ONYX_FLOAT, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_DOUBLE, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, 0), *zp = k_input(k, 2);
    onyx_dtype yt = (onyx_dtype)k_attr_int(k, "output_dtype", 0);
    if (zp) {
        if (zp->kind != ONYX_KIND_TENSOR)
            return k_fail(k, ONYX_E_INVALID, "input 2 must be a tensor");
        if (yt != ONYX_UNDEFINED && yt != zp->dtype)
            return k_fail(k, ONYX_E_INVALID, "output_dtype %s differs from y_zero_point's type %s",
                          onyx_dtype_name(yt), onyx_dtype_name(zp->dtype));
        yt = zp->dtype;
    }
    if (yt == ONYX_UNDEFINED) yt = ONYX_UINT8;
    float lo, hi;
    if (!q_range(yt, &lo, &hi))
        return k_fail(k, ONYX_E_UNSUPPORTED,
                      "quantizing to %s is not supported (uint8, int8, "
                      "uint16, int16)",
                      onyx_dtype_name(yt));
    q_layout l;
    if ((st = q_make_layout(k, x, 1, 2, &l))) return st;
    /* every path below writes every element */
    onyx_tensor *y = k_output_uninit(k, 0, yt, x->rank, x->dims);
    if (!y) return k->err->code;
    float *sc = q_read_f32(k_input(k, 1)), *z = zp ? q_read_f32(zp) : NULL;
    if (k->state && sc && (z || !zp) && x->dtype == ONYX_FLOAT && l.mode < 2 &&
        (yt == ONYX_UINT8 || yt == ONYX_INT8) && (l.mode == 0 || l.inner > 1)) {
        const ql_vec *v = k->state;
        /* per tensor: one run over everything; per axis: one per (outer, d) */
        int64_t rows = l.mode ? l.outer * l.D : 1, len = l.mode ? l.inner : tensor_numel_of(x->rank, x->dims);
        for (int64_t r = 0; r < rows; r++) {
            int64_t p = l.mode ? r % l.D : 0, off = r * len;
            v->quantize((const float *)x->data + off, len, sc[p], z ? z[p] : 0.0f,
                        yt == ONYX_INT8, false, (uint8_t *)y->data + off);
        }
        free(sc);
        free(z);
        return ONYX_OK;
    }
    float *xf = NULL;
    int64_t n = tensor_numel_of(x->rank, x->dims);
    if (x->dtype != ONYX_FLOAT) {
        xf = malloc((size_t)(n ? n : 1) * sizeof *xf);
        if (xf)
            for (int64_t i = 0; i < n; i++) xf[i] = (float)k_get_f64(x, i);
    }
    const float *xv = x->dtype == ONYX_FLOAT ? x->data : xf;
    if (!sc || (zp && !z) || !xv) {
        free(sc);
        free(z);
        free(xf);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    int64_t e = 0;
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t d = 0; d < l.D; d++)
            for (int64_t i = 0; i < l.inner; i++, e++) {
                int64_t p = q_param_index(&l, o, d, i);
                /* the zero point is an integer, so adding it after rounding is exact */
                float v = rintf(xv[e] / sc[p]) + (z ? z[p] : 0.0f);
                q_store(y, e, q_saturate(v, lo, hi));
            }
    free(sc);
    free(z);
    free(xf);
    return ONYX_OK;
}

static onyx_status op_dequantize_linear(onyx_kctx *k)
{
    onyx_status st =
        k_require(k, 0, ONYX_UINT8, ONYX_INT8, ONYX_INT32, ONYX_UINT16, ONYX_INT16, ONYX_UNDEFINED);
    if (st) return st;
    if ((st =
             k_require(k, 1, ONYX_FLOAT, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_DOUBLE, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, 0), *zp = k_input(k, 2);
    if (zp && (st = k_require(k, 2, x->dtype, ONYX_UNDEFINED))) return st;
    onyx_dtype yt = (onyx_dtype)k_attr_int(k, "output_dtype", 0);
    if (yt == ONYX_UNDEFINED) yt = k_input(k, 1)->dtype;
    if (yt != ONYX_FLOAT && yt != ONYX_FLOAT16 && yt != ONYX_BFLOAT16 && yt != ONYX_DOUBLE)
        return k_fail(k, ONYX_E_UNSUPPORTED, "output_dtype %s is not a float type",
                      onyx_dtype_name(yt));
    q_layout l;
    if ((st = q_make_layout(k, x, 1, 2, &l))) return st;
    onyx_tensor *y = k_output_uninit(k, 0, yt, x->rank, x->dims); /* every element is written */
    if (!y) return k->err->code;
    float *sc = q_read_f32(k_input(k, 1));
    if (!sc) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    if (k->state && (x->dtype == ONYX_UINT8 || x->dtype == ONYX_INT8) && yt == ONYX_FLOAT &&
        l.mode < 2 && (l.mode == 0 || l.inner > 1)) {
        const ql_vec *v = k->state;
        int64_t rows = l.mode ? l.outer * l.D : 1, len = l.mode ? l.inner : tensor_numel_of(x->rank, x->dims);
        for (int64_t r = 0; r < rows; r++) {
            int64_t p = l.mode ? r % l.D : 0, off = r * len;
            float z = zp ? (float)k_get_f64(zp, p) : 0.0f;
            v->dequantize((const uint8_t *)x->data + off, len, x->dtype == ONYX_INT8, sc[p], z,
                          (float *)y->data + off);
        }
        free(sc);
        return ONYX_OK;
    }
    int64_t e = 0;
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t d = 0; d < l.D; d++)
            for (int64_t i = 0; i < l.inner; i++, e++) {
                int64_t p = q_param_index(&l, o, d, i);
                int64_t q = (int64_t)k_get_f64(x, e) - (zp ? (int64_t)k_get_f64(zp, p) : 0);
                float v = (float)q * sc[p];
                if (yt == ONYX_FLOAT)
                    ((float *)y->data)[e] = v;
                else
                    k_set_f64(y, e, v);
            }
    free(sc);
    return ONYX_OK;
}

static onyx_status op_dynamic_quantize_linear(onyx_kctx *k)
{
    onyx_status st = k_require(k, 0, ONYX_FLOAT, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    onyx_tensor *y = k_output_uninit(k, 0, ONYX_UINT8, x->rank, x->dims); /* every element is written */
    if (!y) return k->err->code;
    onyx_tensor *ys = k_output(k, 1, ONYX_FLOAT, 0, NULL);
    if (!ys) return k->err->code;
    onyx_tensor *yz = k_output(k, 2, ONYX_UINT8, 0, NULL);
    if (!yz) return k->err->code;
    const float *xv = x->data;
    int64_t n = tensor_numel_of(x->rank, x->dims);
    /* the range always includes 0 so that 0 is exactly representable */
    const ql_vec *v = k->state ? k->state : &ql_vec_generic;
    float mn, mx, scale, zpf;
    v->range(xv, n, &mn, &mx);
    ql_dynamic_params(mn, mx, &scale, &zpf);
    *(float *)ys->data = scale;
    *(uint8_t *)yz->data = (uint8_t)zpf;
    v->quantize(xv, n, scale, zpf, false, false, y->data);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_quantize[] = {
    {"", "QuantizeLinear", op_quantize_linear, q_prepare},
    {"", "DequantizeLinear", op_dequantize_linear, q_prepare},
    {"", "DynamicQuantizeLinear", op_dynamic_quantize_linear, q_prepare},
    {0},
};
