/* qlinear.h - what the quantized operators share: reading scales and zero
 * points, the vectorized quantize / dequantize / range loops (ops/quantize.c),
 * and the reference kernels of the standard integer operators that the fast
 * paths fall back to (ops/conv.c, ops/matmul.c).
 *
 * Operators on the integer GEMM (ops/qgemm.h):
 *   ops/qmatmul.c  MatMulInteger, QLinearMatMul, ai.onyx QMatMul
 *   ops/qconv.c    ConvInteger, QLinearConv, ai.onyx QConv (NHWC inside)
 */
#ifndef ONYX_QLINEAR_H
#define ONYX_QLINEAR_H

#include <math.h>

#include "qgemm.h"

/* Scratch slot the quantized operators use for their operand copies (the
 * float kernels use K_SCRATCH_GEMM and K_SCRATCH_IMAGE). */
#define QL_SCRATCH_SLOT 2

/* At least `bytes` of the session's scratch slot (or of own outside a
 * session), 64-byte aligned; NULL on out of memory. */
void *ql_scratch(const onyx_kctx *k, int slot, k_scratch_buf *own, size_t bytes);

/* A scale or zero point (input idx): absent (every value def), one value, or
 * `per` values in a 1-D tensor (per channel). `what` names it in errors.
 * Scales must be float; zero points uint8/int8 like `data_type` (or int32
 * when data_type is ONYX_INT32). Fills out[0..per). */
onyx_status ql_param(onyx_kctx *k, int idx, int64_t per, const char *what, onyx_dtype data_type,
                     float def, float *out);

/* True when the per-channel values are all equal. */
bool ql_all_equal(const float *v, int64_t n);

/* The element loops of QuantizeLinear, DequantizeLinear and
 * DynamicQuantizeLinear for one ISA (ops/quantize.c), with the reference's
 * arithmetic: the same division and round-half-to-even, so results match it
 * exactly. */
typedef struct ql_vec {
    const char *name;
    /* y[i] = saturate(rint(x[i] / s) + zp) as uint8/int8, ^ 0x80 when flip
     * (to the GEMM kernel's byte domain) */
    void (*quantize)(const float *x, int64_t n, float s, float zp, bool is_signed, bool flip,
                     uint8_t *y);
    /* y[i] = (x[i] - zp) * s for uint8/int8 x */
    void (*dequantize)(const uint8_t *x, int64_t n, bool is_signed, float s, float zp, float *y);
    /* *mn = min(0, min x), *mx = max(0, max x), NaN ignored */
    void (*range)(const float *x, int64_t n, float *mn, float *mx);
    /* acc[i] = max(acc[i], x[i]) for uint8, or int8 when is_signed (MaxPool of
     * quantized images, ops/pool_nhwc.c) */
    void (*max_bytes)(uint8_t *acc, const uint8_t *x, int64_t n, bool is_signed);
} ql_vec;
const ql_vec *ql_vec_best(void);
/* DynamicQuantizeLinear's uint8 scale and zero point for the range [mn, mx]. */
void ql_dynamic_params(float mn, float mx, float *scale, float *zp);

/* Element i of the 8-bit tensor t (int8 or uint8) set to v quantized with
 * scale and zero point: rounded half to even, saturated. */
static inline void ql_store_q8(onyx_tensor *t, int64_t i, float v, float scale, float zp)
{
    float q = rintf(v / scale) + zp;
    const bool sg = t->dtype == ONYX_INT8;
    const float lo = sg ? -128.0f : 0.0f, hi = sg ? 127.0f : 255.0f;
    q = q >= lo ? (q <= hi ? q : hi) : lo;
    if (sg) ((int8_t *)t->data)[i] = (int8_t)q;
    else ((uint8_t *)t->data)[i] = (uint8_t)q;
}

/* The reference kernels (the oracles of the fast paths, which fall back to
 * them for what they do not cover). */
onyx_status conv_integer_reference(onyx_kctx *k);
onyx_status qlinear_conv_reference(onyx_kctx *k);
onyx_status matmul_integer_reference(onyx_kctx *k);
onyx_status qlinear_matmul_reference(onyx_kctx *k);

#endif
