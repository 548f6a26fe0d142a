/* quantize.c - QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.
 *
 * Scales and zero points are per tensor (one value), per axis (1-D, one value per
 * index of `axis`) or blocked (same rank as x, `block_size` consecutive indices of
 * `axis` sharing a value). x is walked as [outer, D, inner] around the axis.
 */
#include "kernel.h"

#include <stdlib.h>

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
    onyx_tensor *y = k_output(k, 0, yt, x->rank, x->dims);
    if (!y) return k->err->code;
    float *sc = q_read_f32(k_input(k, 1)), *z = zp ? q_read_f32(zp) : NULL;
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
    onyx_tensor *y = k_output(k, 0, yt, x->rank, x->dims);
    if (!y) return k->err->code;
    float *sc = q_read_f32(k_input(k, 1));
    if (!sc) return k_fail(k, ONYX_E_NOMEM, "out of memory");
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
    onyx_tensor *y = k_output(k, 0, ONYX_UINT8, x->rank, x->dims);
    if (!y) return k->err->code;
    onyx_tensor *ys = k_output(k, 1, ONYX_FLOAT, 0, NULL);
    if (!ys) return k->err->code;
    onyx_tensor *yz = k_output(k, 2, ONYX_UINT8, 0, NULL);
    if (!yz) return k->err->code;
    const float *xv = x->data;
    int64_t n = tensor_numel_of(x->rank, x->dims);
    /* the range always includes 0 so that 0 is exactly representable */
    float mn = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        if (xv[i] < mn) mn = xv[i];
        if (xv[i] > mx) mx = xv[i];
    }
    /* a constant-zero input would give scale 0; use 1 as ONNX Runtime does */
    float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
    float zpf = q_saturate(0.0f - mn / scale, 0, 255);
    *(float *)ys->data = scale;
    *(uint8_t *)yz->data = (uint8_t)zpf;
    uint8_t *yv = y->data;
    for (int64_t i = 0; i < n; i++) yv[i] = (uint8_t)q_saturate(rintf(xv[i] / scale) + zpf, 0, 255);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_quantize[] = {
    {"", "QuantizeLinear", op_quantize_linear},
    {"", "DequantizeLinear", op_dequantize_linear},
    {"", "DynamicQuantizeLinear", op_dynamic_quantize_linear},
    {0},
};
