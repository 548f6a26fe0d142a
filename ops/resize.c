/* resize.c - Resize, Upsample, GridSample, RoiAlign.
 *
 * Resize is separable: for every resized axis the source taps (clamped
 * indices and weights) of each output coordinate are computed once, then the
 * tensor is filtered one axis at a time (the reference path). Float linear
 * resizes of two neighbouring axes (bilinear on NCHW or NHWC) take a fast
 * path instead: each output row in one pass from two input rows, vectorized
 * over the channels (ops/hot.h resize_row) and split over the threads.
 * Nearest mode is a pure gather, threaded, and works for every fixed-size
 * element type. Coordinate and weight formulas follow the ONNX reference
 * implementation (onnx/reference/ops/op_resize.py), which is what the backend
 * test data was generated with.
 */
#include "hot.h"

#include <stdlib.h>

/* ------------------------------------------------------------------------ */
/* element access for the non-hot paths                                     */

static inline double rs_load(const void *p, onyx_dtype t, int64_t i)
{
    switch (t) {
    case ONYX_FLOAT: return ((const float *)p)[i];
    case ONYX_DOUBLE: return ((const double *)p)[i];
    case ONYX_FLOAT16: return f16_to_f32(((const uint16_t *)p)[i]);
    case ONYX_BFLOAT16: return bf16_to_f32(((const uint16_t *)p)[i]);
    default: break;
    }
    onyx_tensor tmp = {0};
    tmp.dtype = t;
    tmp.data = (void *)p;
    return k_get_f64(&tmp, i);
}

/* Stores v into element i. Integer types truncate toward zero like the ONNX
 * reference and onnxruntime, and saturate (cubic overshoot can leave the
 * type's range, where a plain conversion is undefined). */
static void rs_store(onyx_tensor *y, int64_t i, double v)
{
    double lo, hi;
    switch (y->dtype) {
    case ONYX_FLOAT: ((float *)y->data)[i] = (float)v; return;
    case ONYX_DOUBLE: ((double *)y->data)[i] = v; return;
    case ONYX_FLOAT16: ((uint16_t *)y->data)[i] = f32_to_f16((float)v); return;
    case ONYX_BFLOAT16: ((uint16_t *)y->data)[i] = f32_to_bf16((float)v); return;
    case ONYX_BOOL: ((uint8_t *)y->data)[i] = v != 0; return;
    case ONYX_INT8: lo = -128.0; hi = 127.0; break;
    case ONYX_UINT8: lo = 0.0; hi = 255.0; break;
    case ONYX_INT16: lo = -32768.0; hi = 32767.0; break;
    case ONYX_UINT16: lo = 0.0; hi = 65535.0; break;
    case ONYX_INT32: lo = -2147483648.0; hi = 2147483647.0; break;
    case ONYX_UINT32: lo = 0.0; hi = 4294967295.0; break;
    /* largest doubles that still convert without overflow */
    case ONYX_INT64: lo = -9223372036854775808.0; hi = 9223372036854774784.0; break;
    case ONYX_UINT64: lo = 0.0; hi = 18446744073709549568.0; break;
    default: return;
    }
    if (isnan(v)) v = 0;
    v = trunc(v);
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    k_set_f64(y, i, v);
}

static bool rs_is_numeric(onyx_dtype t)
{
    return dtype_is_float(t) || dtype_is_int(t);
}

/* Clamps a finite-or-not coordinate into a range where converting to int64 is
 * defined; anything that far out is outside every tensor anyway. */
static inline double rs_sane(double v)
{
    if (isnan(v)) return 0;
    if (v > 1e15) return 1e15;
    if (v < -1e15) return -1e15;
    return v;
}

/* ------------------------------------------------------------------------ */
/* Resize / Upsample                                                         */

typedef enum { RS_NEAREST, RS_LINEAR, RS_CUBIC } rs_mode;
typedef enum {
    CT_HALF_PIXEL,
    CT_HALF_PIXEL_SYMMETRIC,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE
} rs_coord_mode;
/* NM_SIMPLE is the pre-opset-11 rule (what onnxruntime does for Resize-10 and
 * Upsample): floor when upsampling, ceil when downsampling. */
typedef enum { NM_ROUND_PREFER_FLOOR, NM_ROUND_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE } rs_nearest_mode;

typedef struct rs_params {
    rs_mode mode;
    rs_coord_mode coord;
    rs_nearest_mode nearest;
    double cubic_a;
    bool exclude_outside;
    bool antialias;
    double extrapolation;
} rs_params;

typedef struct rs_axis {
    int64_t in, out;
    int64_t ntap;
    int64_t *idx;     /* out * ntap source indices, already clamped to [0, in) */
    double *w;        /* out * ntap weights */
    float *wf;        /* same weights for the float path */
    uint8_t *outside; /* tf_crop_and_resize: 1 where the output extrapolates */
    bool identity;    /* output j is exactly input j: the axis needs no pass */
} rs_axis;

static void rs_axis_free(rs_axis *a)
{
    free(a->idx);
    free(a->w);
    free(a->wf);
    free(a->outside);
    memset(a, 0, sizeof *a);
}

/* Maps output coordinate x to the input coordinate. length_resized is the
 * fractional output length in*scale, as the reference uses it. */
static double rs_coord(const rs_params *p, double x, double scale, int64_t in, int64_t out,
                       double roi0, double roi1)
{
    double len = scale * (double)in;
    switch (p->coord) {
    case CT_HALF_PIXEL:
        return (x + 0.5) / scale - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: {
        double adjustment = (double)out / len;
        double center = (double)in / 2.0;
        double offset = center * (1.0 - adjustment);
        return offset + (x + 0.5) / scale - 0.5;
    }
    case CT_PYTORCH_HALF_PIXEL:
        return len > 1.0 ? (x + 0.5) / scale - 0.5 : 0.0;
    case CT_ALIGN_CORNERS:
        return len == 1.0 ? 0.0 : x * (double)(in - 1) / (len - 1.0);
    case CT_ASYMMETRIC:
        return x / scale;
    case CT_TF_HALF_PIXEL_FOR_NN:
        return (x + 0.5) / scale;
    case CT_TF_CROP_AND_RESIZE:
        if (len > 1.0)
            return roi0 * (double)(in - 1) + x * (roi1 - roi0) * (double)(in - 1) / (len - 1.0);
        return 0.5 * (roi0 + roi1) * (double)(in - 1);
    }
    return 0;
}

static int64_t rs_nearest_index(rs_nearest_mode m, double xo, bool downsampling)
{
    double fl = floor(xo);
    if (m == NM_SIMPLE) return downsampling ? (int64_t)ceil(xo) : (int64_t)xo;
    if (xo == fl) return (int64_t)fl;
    double ratio = xo - fl;
    switch (m) {
    case NM_ROUND_PREFER_FLOOR: return (int64_t)fl + (ratio > 0.5);
    case NM_ROUND_PREFER_CEIL: return (int64_t)fl + (ratio >= 0.5);
    case NM_FLOOR: return (int64_t)fl;
    default: return (int64_t)fl + 1;
    }
}

static double rs_kernel(const rs_params *p, double x)
{
    x = fabs(x);
    if (p->mode == RS_LINEAR) return x < 1.0 ? 1.0 - x : 0.0;
    double a = p->cubic_a;
    if (x <= 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    return 0.0;
}

static onyx_status rs_axis_build(onyx_kctx *k, rs_axis *a, const rs_params *p, int64_t in,
                                 int64_t out, double scale, double roi0, double roi1)
{
    a->in = in;
    a->out = out;
    int64_t start = 0;
    double s = 1.0;
    if (p->mode == RS_NEAREST) {
        a->ntap = 1;
    } else {
        double support = p->mode == RS_LINEAR ? 1.0 : 2.0;
        /* antialiasing stretches the filter by 1/scale when downsampling */
        if (p->antialias && scale < 1.0) s = scale;
        double st = floor(-support / s) + 1.0;
        if (st < -(double)(1 << 24))
            return k_fail(k, ONYX_E_LIMIT, "antialias filter for scale %g is too wide", scale);
        start = (int64_t)st;
        a->ntap = 2 - 2 * start;
    }
    if (out > 0 && a->ntap > (int64_t)(SIZE_MAX / sizeof(double)) / out)
        return k_fail(k, ONYX_E_LIMIT, "resize filter table too large (%lld x %lld)",
                      (long long)out, (long long)a->ntap);
    size_t n = (size_t)(out * a->ntap);
    a->idx = malloc((n ? n : 1) * sizeof *a->idx);
    a->w = malloc((n ? n : 1) * sizeof *a->w);
    a->wf = malloc((n ? n : 1) * sizeof *a->wf);
    if (p->coord == CT_TF_CROP_AND_RESIZE) a->outside = calloc(out ? (size_t)out : 1, 1);
    if (!a->idx || !a->w || !a->wf || (p->coord == CT_TF_CROP_AND_RESIZE && !a->outside))
        return k_fail(k, ONYX_E_NOMEM, "out of memory building resize filter");

    bool identity = in == out;
    for (int64_t j = 0; j < out; j++) {
        int64_t *ix = a->idx + j * a->ntap;
        double *w = a->w + j * a->ntap;
        double xo = rs_coord(p, (double)j, scale, in, out, roi0, roi1);
        if (p->coord == CT_TF_CROP_AND_RESIZE &&
            (!(xo >= 0.0) || xo > (double)(in - 1))) {
            a->outside[j] = 1;
            identity = false;
            for (int64_t t = 0; t < a->ntap; t++) {
                ix[t] = 0;
                w[t] = t == 0;
            }
            continue;
        }
        xo = rs_sane(xo);
        if (p->mode == RS_NEAREST) {
            int64_t i = rs_nearest_index(p->nearest, xo, scale < 1.0);
            ix[0] = i < 0 ? 0 : i >= in ? in - 1 : i;
            w[0] = 1.0;
        } else {
            /* the reference keeps the fraction in (0, 1]: an exact integer
             * position is the right tap of the previous interval */
            double fl = floor(xo);
            double ratio = xo - fl;
            int64_t xi = (int64_t)fl;
            if (ratio == 0.0) {
                xi -= 1;
                ratio = 1.0;
            }
            double sum = 0;
            for (int64_t t = 0; t < a->ntap; t++) {
                int64_t i = start + t;
                w[t] = rs_kernel(p, ((double)i - ratio) * s);
                ix[t] = xi + i;
                sum += w[t];
            }
            if (p->antialias && sum != 0.0)
                for (int64_t t = 0; t < a->ntap; t++) w[t] /= sum;
            if (p->exclude_outside) {
                sum = 0;
                for (int64_t t = 0; t < a->ntap; t++) {
                    if (ix[t] < 0 || ix[t] >= in) w[t] = 0;
                    sum += w[t];
                }
                if (sum != 0.0)
                    for (int64_t t = 0; t < a->ntap; t++) w[t] /= sum;
            }
            for (int64_t t = 0; t < a->ntap; t++)
                ix[t] = ix[t] < 0 ? 0 : ix[t] >= in ? in - 1 : ix[t];
        }
        for (int64_t t = 0; t < a->ntap && identity; t++)
            if (w[t] != 0.0 && (ix[t] != j || w[t] != 1.0)) identity = false;
    }
    for (size_t i = 0; i < n; i++) a->wf[i] = (float)a->w[i];
    a->identity = identity;
    return ONYX_OK;
}

/* One separable pass: [outer, in, inner] -> [outer, out, inner]. Zero weights
 * are skipped, never read (half of all taps for integer-factor asymmetric
 * upsampling, and an infinity under one does not become NaN); rows are
 * combined two taps at a time so bilinear is one sweep per row. */
static void rs_pass_f32(const float *src, float *dst, int64_t outer, int64_t inner,
                        const rs_axis *a)
{
    int64_t nt = a->ntap;
    for (int64_t o = 0; o < outer; o++) {
        const float *s = src + o * a->in * inner;
        float *d = dst + o * a->out * inner;
        if (inner == 1) {
            for (int64_t j = 0; j < a->out; j++) {
                const int64_t *ix = a->idx + j * nt;
                const float *w = a->wf + j * nt;
                float acc = 0;
                for (int64_t t = 0; t < nt; t++)
                    if (w[t] != 0.0f) acc += w[t] * s[ix[t]];
                d[j] = acc;
            }
            continue;
        }
        for (int64_t j = 0; j < a->out; j++) {
            const int64_t *ix = a->idx + j * nt;
            const float *w = a->wf + j * nt;
            float *dr = d + j * inner;
            bool first = true;
            for (int64_t t = 0; t < nt;) {
                while (t < nt && w[t] == 0.0f) t++;
                if (t == nt) break;
                const float *s0 = s + ix[t] * inner;
                float w0 = w[t++];
                while (t < nt && w[t] == 0.0f) t++;
                if (t < nt) {
                    const float *s1 = s + ix[t] * inner;
                    float w1 = w[t++];
                    if (first)
                        for (int64_t i = 0; i < inner; i++) dr[i] = w0 * s0[i] + w1 * s1[i];
                    else
                        for (int64_t i = 0; i < inner; i++) dr[i] += w0 * s0[i] + w1 * s1[i];
                } else if (first) {
                    for (int64_t i = 0; i < inner; i++) dr[i] = w0 * s0[i];
                } else {
                    for (int64_t i = 0; i < inner; i++) dr[i] += w0 * s0[i];
                }
                first = false;
            }
            if (first) memset(dr, 0, (size_t)inner * sizeof *dr);
        }
    }
}

static void rs_pass_f64(const double *src, double *dst, int64_t outer, int64_t inner,
                        const rs_axis *a)
{
    int64_t nt = a->ntap;
    for (int64_t o = 0; o < outer; o++) {
        const double *s = src + o * a->in * inner;
        double *d = dst + o * a->out * inner;
        for (int64_t j = 0; j < a->out; j++) {
            const int64_t *ix = a->idx + j * nt;
            const double *w = a->w + j * nt;
            double *dr = d + j * inner;
            for (int64_t i = 0; i < inner; i++) dr[i] = 0;
            for (int64_t t = 0; t < nt; t++) {
                if (w[t] == 0.0) continue;
                const double *sr = s + ix[t] * inner;
                double wt = w[t];
                for (int64_t i = 0; i < inner; i++) dr[i] += wt * sr[i];
            }
        }
    }
}

/* Nearest: Y[i0..ir] = X[idx0[i0]..idxr[ir]], any element size. The
 * trailing axes that are identities (NHWC's channels) are copied as one run
 * per index of the last resized axis; rows of runs are split over threads. */
typedef struct rs_gather_job {
    const unsigned char *src;
    unsigned char *dst;
    const rs_axis *ax;
    const int64_t *ydims;
    int64_t in_stride[ONYX_MAX_RANK]; /* bytes */
    int last;                         /* the last axis that is not an identity */
    size_t run;                       /* bytes per copy */
} rs_gather_job;

static void rs_gather_rows(void *arg, int64_t begin, int64_t end)
{
    const rs_gather_job *g = arg;
    const int L = g->last;
    const int64_t n = g->ydims[L];
    const int64_t *lx = g->ax[L].idx;
    const int64_t ls = g->in_stride[L];
    const size_t run = g->run;
    for (int64_t row = begin; row < end; row++) {
        /* source of this row: the gathered index of every axis before L */
        int64_t base = 0, rem = row;
        for (int d = L - 1; d >= 0; d--) {
            base += g->ax[d].idx[rem % g->ydims[d]] * g->in_stride[d];
            rem /= g->ydims[d];
        }
        const unsigned char *s = g->src + base;
        unsigned char *o = g->dst + (size_t)(row * n) * run;
        switch (run) {
        case 1:
            for (int64_t j = 0; j < n; j++) o[j] = s[lx[j]];
            break;
        case 2:
            for (int64_t j = 0; j < n; j++) memcpy(o + j * 2, s + lx[j] * 2, 2);
            break;
        case 4:
            for (int64_t j = 0; j < n; j++) memcpy(o + j * 4, s + lx[j] * 4, 4);
            break;
        case 8:
            for (int64_t j = 0; j < n; j++) memcpy(o + j * 8, s + lx[j] * 8, 8);
            break;
        default:
            for (int64_t j = 0; j < n; j++) memcpy(o + (size_t)j * run, s + lx[j] * ls, run);
            break;
        }
    }
}

static void rs_gather(onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y, const rs_axis *ax)
{
    int r = x->rank;
    size_t es = onyx_dtype_size(x->dtype);
    int last = r - 1;
    while (last >= 0 && ax[last].identity) last--;
    if (last < 0) { /* rank 0, or nothing resized */
        memcpy(y->data, x->data, y->nbytes);
        return;
    }
    rs_gather_job g = {x->data, y->data, ax, y->dims, {0}, last, es};
    for (int d = last + 1; d < r; d++) g.run *= (size_t)y->dims[d];
    int64_t stride = (int64_t)es;
    for (int d = r - 1; d >= 0; d--) {
        g.in_stride[d] = stride;
        stride *= x->dims[d];
    }
    const int64_t rows = tensor_numel_of(last, y->dims);
    if (tensor_numel_of(r, y->dims) < HOT_PARALLEL_MIN || rows < 2) rs_gather_rows(&g, 0, rows);
    else k_parallel_for(k, rows, rs_gather_rows, &g);
}

/* Linear / cubic: separable passes in float (float, float16, bfloat16) or
 * double (double, integers). The passes run block by block over the axes in
 * front of the first resized one (the N*C planes of an NCHW image), so the
 * intermediates are one block in size and stay in cache. */
static onyx_status rs_interp(onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y, rs_axis *ax)
{
    int r = x->rank;
    int order[ONYX_MAX_RANK];
    int np = 0;
    bool used[ONYX_MAX_RANK] = {false};
    /* shrink first: the later passes then run on less data */
    for (;;) {
        int best = -1;
        double best_ratio = 0;
        for (int d = r - 1; d >= 0; d--) {
            if (used[d] || ax[d].identity) continue;
            double ratio = (double)ax[d].out / (double)ax[d].in;
            if (best < 0 || ratio < best_ratio) {
                best = d;
                best_ratio = ratio;
            }
        }
        if (best < 0) break;
        used[best] = true;
        order[np++] = best;
    }
    if (np == 0) {
        memcpy(y->data, x->data, y->nbytes);
        return ONYX_OK;
    }
    int lo = r;
    for (int i = 0; i < np; i++)
        if (order[i] < lo) lo = order[i];

    bool f32 = x->dtype == ONYX_FLOAT || x->dtype == ONYX_FLOAT16 || x->dtype == ONYX_BFLOAT16;
    size_t ws = f32 ? sizeof(float) : sizeof(double);
    bool direct = x->dtype == ONYX_FLOAT || x->dtype == ONYX_DOUBLE;
    /* axes before lo are identity axes: in == out there */
    int64_t blocks = tensor_numel_of(lo, x->dims);
    int64_t blk_in = tensor_numel_of(r - lo, x->dims + lo);
    int64_t blk_out = tensor_numel_of(r - lo, y->dims + lo);
    int64_t cur[ONYX_MAX_RANK];
    memcpy(cur, x->dims, sizeof(int64_t) * (size_t)r);
    int64_t max_mid = 1;
    for (int i = 0; i < np - 1; i++) {
        cur[order[i]] = ax[order[i]].out;
        int64_t n = tensor_numel_of(r - lo, cur + lo);
        if (n > max_mid) max_mid = n;
    }
    if ((uint64_t)max_mid > SIZE_MAX / ws / 2 || (uint64_t)blk_in > SIZE_MAX / ws ||
        (uint64_t)blk_out > SIZE_MAX / ws)
        return k_fail(k, ONYX_E_LIMIT, "resize intermediate too large");

    /* The converted input block, the output block and two intermediates, in
     * the session's image scratch: freshly allocated, a large image's passes
     * fault in new pages on every run. */
    const uint64_t part[4] = {direct ? 0 : (uint64_t)blk_in * ws, direct ? 0 : (uint64_t)blk_out * ws,
                              np > 1 ? (uint64_t)max_mid * ws : 0, np > 2 ? (uint64_t)max_mid * ws : 0};
    uint64_t off[4], total = 0;
    for (int i = 0; i < 4; i++) {
        off[i] = total;
        total += (part[i] + 63) & ~(uint64_t)63;
    }
    if (total / sizeof(float) >= SIZE_MAX / sizeof(float))
        return k_fail(k, ONYX_E_LIMIT, "resize intermediates too large");
    k_scratch_buf own = {0};
    k_scratch_buf *buf = k_scratch(k, K_SCRATCH_IMAGE, &own);
    if (!k_scratch_reserve(buf, (size_t)(total / sizeof(float)) + 1)) {
        k_scratch_free(&own);
        return k_fail(k, ONYX_E_NOMEM, "out of memory in resize (%llu bytes of intermediates)",
                      (unsigned long long)total);
    }
    char *base = (char *)buf->data;
    char *in_buf = base + off[0], *out_buf = base + off[1], *mid[2] = {base + off[2], base + off[3]};

    for (int64_t b = 0; b < blocks; b++) {
        const char *src;
        if (direct) {
            src = (const char *)x->data + (size_t)(b * blk_in) * ws;
        } else if (f32) {
            const uint16_t *h = (const uint16_t *)x->data + b * blk_in;
            float *f = (float *)in_buf;
            for (int64_t i = 0; i < blk_in; i++)
                f[i] = x->dtype == ONYX_FLOAT16 ? f16_to_f32(h[i]) : bf16_to_f32(h[i]);
            src = in_buf;
        } else {
            double *dd = (double *)in_buf;
            for (int64_t i = 0; i < blk_in; i++) dd[i] = k_get_f64(x, b * blk_in + i);
            src = in_buf;
        }
        char *final = direct ? (char *)y->data + (size_t)(b * blk_out) * ws : out_buf;
        memcpy(cur, x->dims, sizeof(int64_t) * (size_t)r);
        for (int i = 0; i < np; i++) {
            int d = order[i];
            char *dst = i == np - 1 ? final : mid[i % 2];
            int64_t outer = 1, inner = 1;
            for (int e = lo; e < d; e++) outer *= cur[e];
            for (int e = d + 1; e < r; e++) inner *= cur[e];
            if (f32) rs_pass_f32((const float *)src, (float *)dst, outer, inner, &ax[d]);
            else rs_pass_f64((const double *)src, (double *)dst, outer, inner, &ax[d]);
            cur[d] = ax[d].out;
            src = dst;
        }
        if (direct) continue;
        if (f32) {
            const float *f = (const float *)out_buf;
            uint16_t *h = (uint16_t *)y->data + b * blk_out;
            for (int64_t i = 0; i < blk_out; i++)
                h[i] = y->dtype == ONYX_FLOAT16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
        } else {
            const double *dd = (const double *)out_buf;
            for (int64_t i = 0; i < blk_out; i++) rs_store(y, b * blk_out + i, dd[i]);
        }
    }
    k_scratch_free(&own);
    return ONYX_OK;
}

/* ---- the fast float path: linear on two neighbouring axes ----
 * [outer, ih, iw, inner] -> [outer, oh, ow, inner] with every other axis an
 * identity (NHWC [N, H, W, C], or NCHW [N, C, H, W] with inner 1). Output row
 * (o, j) is resize_row over input rows yoff[2j], yoff[2j+1] of block o. */
typedef struct rs_fast_job {
    const hot_kernels *hk;
    const float *x;
    float *y;
    int64_t ih, iw, oh, ow, inner;
    const int64_t *yoff, *xoff; /* 2 per output row / column, in elements */
    const float *wy, *wx;       /* 2 per output row / column, a zero weight second */
} rs_fast_job;

static void rs_fast_rows(void *arg, int64_t begin, int64_t end)
{
    const rs_fast_job *f = arg;
    for (int64_t r = begin; r < end; r++) {
        const int64_t o = r / f->oh, j = r % f->oh;
        const float *block = f->x + o * f->ih * f->iw * f->inner;
        const float wy0 = f->wy[2 * j], wy1 = f->wy[2 * j + 1];
        f->hk->resize_row(block + f->yoff[2 * j], wy1 != 0.0f ? block + f->yoff[2 * j + 1] : NULL,
                          wy0, wy1, f->xoff, f->wx, f->ow, f->inner, f->y + r * f->ow * f->inner);
    }
}

/* The two taps of each output of axis a as element offsets (index * unit)
 * and weights, a zero weight moved second. False when an output has two zero
 * weights (the reference writes 0 there without reading anything). */
static bool rs_fast_taps(const rs_axis *a, int64_t unit, int64_t *off, float *w)
{
    for (int64_t j = 0; j < a->out; j++) {
        int t = a->wf[2 * j] == 0.0f ? 1 : 0;
        if (a->wf[2 * j + t] == 0.0f) return false;
        off[2 * j] = a->idx[2 * j + t] * unit;
        w[2 * j] = a->wf[2 * j + t];
        off[2 * j + 1] = a->idx[2 * j + 1 - t] * unit;
        w[2 * j + 1] = a->wf[2 * j + 1 - t];
    }
    return true;
}

/* Runs the fast path when the resize has its form; *done says whether it did. */
static onyx_status rs_linear_fast(onyx_kctx *k, const rs_params *p, const onyx_tensor *x,
                                  onyx_tensor *y, const rs_axis *ax, bool *done)
{
    *done = false;
    const hot_kernels *hk = hot_kernels_native();
    const int r = x->rank;
    if (!hk || p->mode != RS_LINEAR || x->dtype != ONYX_FLOAT || r < 2) return ONYX_OK;
    int lo = -1, hi = -1;
    for (int d = 0; d < r; d++) {
        if (ax[d].identity) continue;
        if (lo < 0) lo = d;
        hi = d;
    }
    if (lo < 0 || hi - lo > 1) return ONYX_OK; /* nothing, or axes apart: the reference */
    if (hi == lo) { /* one axis: pair it with a neighbour, an identity */
        if (lo > 0) lo--;
        else hi++;
    }
    if (ax[lo].ntap != 2 || ax[hi].ntap != 2) return ONYX_OK;
    rs_fast_job f = {hk, x->data, y->data, x->dims[lo], x->dims[hi], y->dims[lo], y->dims[hi],
                     tensor_numel_of(r - hi - 1, x->dims + hi + 1), NULL, NULL, NULL, NULL};
    int64_t *off = malloc((size_t)(2 * (f.oh + f.ow)) * sizeof *off);
    float *w = malloc((size_t)(2 * (f.oh + f.ow)) * sizeof *w);
    if (!off || !w) {
        free(off);
        free(w);
        return k_fail(k, ONYX_E_NOMEM, "out of memory for resize tables");
    }
    f.yoff = off;
    f.xoff = off + 2 * f.oh;
    f.wy = w;
    f.wx = w + 2 * f.oh;
    if (rs_fast_taps(&ax[lo], f.iw * f.inner, off, w) &&
        rs_fast_taps(&ax[hi], f.inner, off + 2 * f.oh, w + 2 * f.oh)) {
        const int64_t rows = tensor_numel_of(lo, x->dims) * f.oh;
        if (tensor_numel_of(r, y->dims) < HOT_PARALLEL_MIN || rows < 2) rs_fast_rows(&f, 0, rows);
        else k_parallel_for(k, rows, rs_fast_rows, &f);
        *done = true;
    }
    free(off);
    free(w);
    return ONYX_OK;
}

/* tf_crop_and_resize: outputs whose source lies outside the input on any
 * axis take extrapolation_value. */
static void rs_extrapolate(onyx_tensor *y, const rs_axis *ax, double value)
{
    int r = y->rank;
    if (r == 0) return;
    int64_t last = y->dims[r - 1];
    int64_t rows = tensor_numel_of(r, y->dims) / last;
    int64_t cnt[ONYX_MAX_RANK] = {0};
    const uint8_t *lf = ax[r - 1].outside;
    for (int64_t row = 0; row < rows; row++) {
        bool row_out = false;
        for (int d = 0; d < r - 1; d++)
            if (ax[d].outside && ax[d].outside[cnt[d]]) row_out = true;
        for (int64_t j = 0; j < last; j++)
            if (row_out || (lf && lf[j])) rs_store(y, row * last + j, value);
        for (int d = r - 2; d >= 0; d--) {
            if (++cnt[d] < y->dims[d]) break;
            cnt[d] = 0;
        }
    }
}

/* Resizes x to out_dims. scales[d] is the scale the coordinate transform uses
 * on axis d; roi (2 * rank values, starts then ends) only for tf_crop_and_resize. */
static onyx_status rs_run(onyx_kctx *k, const onyx_tensor *x, const double *scales,
                          const int64_t *out_dims, const double *roi, const rs_params *p)
{
    int r = x->rank;
    if (x->dtype == ONYX_STRING || x->dtype == ONYX_UNDEFINED)
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 0 has type %s (not supported)",
                      onyx_dtype_name(x->dtype));
    if (p->mode != RS_NEAREST && !rs_is_numeric(x->dtype))
        return k_fail(k, ONYX_E_UNSUPPORTED,
                      "input 0 has type %s: linear and cubic modes need a numeric type",
                      onyx_dtype_name(x->dtype));
    for (int d = 0; d < r; d++)
        if (x->dims[d] == 0 && out_dims[d] != 0)
            return k_fail(k, ONYX_E_SHAPE,
                          "axis %d has input size 0 but output size %lld", d,
                          (long long)out_dims[d]);
    onyx_tensor *y = k_output(k, 0, x->dtype, r, out_dims);
    if (!y) return k->err->code;
    if (tensor_numel_of(r, out_dims) == 0) return ONYX_OK;

    rs_axis ax[ONYX_MAX_RANK];
    memset(ax, 0, sizeof ax);
    onyx_status st = ONYX_OK;
    bool any_outside = false;
    for (int d = 0; d < r && st == ONYX_OK; d++) {
        st = rs_axis_build(k, &ax[d], p, x->dims[d], out_dims[d], scales[d],
                           roi ? roi[d] : 0.0, roi ? roi[r + d] : 1.0);
        if (st == ONYX_OK && ax[d].outside)
            for (int64_t j = 0; j < ax[d].out; j++) any_outside |= ax[d].outside[j] != 0;
    }
    if (st == ONYX_OK) {
        bool done = false;
        if (p->mode == RS_NEAREST) rs_gather(k, x, y, ax);
        else if ((st = rs_linear_fast(k, p, x, y, ax, &done)) == ONYX_OK && !done)
            st = rs_interp(k, x, y, ax);
    }
    if (st == ONYX_OK && any_outside) rs_extrapolate(y, ax, p->extrapolation);
    for (int d = 0; d < r; d++) rs_axis_free(&ax[d]);
    return st;
}

static bool rs_parse_mode(const char *s, rs_mode *m)
{
    if (strcmp(s, "nearest") == 0) *m = RS_NEAREST;
    else if (strcmp(s, "linear") == 0 || strcmp(s, "bilinear") == 0) *m = RS_LINEAR;
    else if (strcmp(s, "cubic") == 0) *m = RS_CUBIC;
    else return false;
    return true;
}

static bool tensor_present(const onyx_tensor *t)
{
    return t && t->kind == ONYX_KIND_TENSOR && tensor_numel_of(t->rank, t->dims) > 0;
}

/* Output size floor(in * scale), with the product checked before converting. */
static onyx_status rs_scaled_dim(onyx_kctx *k, int d, int64_t in, double scale, int64_t *out)
{
    double v = floor((double)in * scale);
    if (!(v < 4.0e18))
        return k_fail(k, ONYX_E_LIMIT, "axis %d: size %lld * scale %g is too large", d,
                      (long long)in, scale);
    *out = (int64_t)v;
    return ONYX_OK;
}

/* Reads a float tensor of scales into out[0..n). */
static onyx_status rs_read_scales(onyx_kctx *k, int input, const onyx_tensor *t, int64_t n,
                                  double *out)
{
    if (!dtype_is_float(t->dtype))
        return k_fail(k, ONYX_E_UNSUPPORTED, "input %d (scales) has type %s (expected float)",
                      input, onyx_dtype_name(t->dtype));
    int64_t cnt = tensor_numel_of(t->rank, t->dims);
    if (cnt != n)
        return k_fail(k, ONYX_E_SHAPE, "input %d (scales) has %lld values, expected %lld",
                      input, (long long)cnt, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        out[i] = k_get_f64(t, i);
        if (!(out[i] > 0) || !isfinite(out[i]))
            return k_fail(k, ONYX_E_INVALID, "input %d (scales): value %g at %lld must be > 0",
                          input, out[i], (long long)i);
    }
    return ONYX_OK;
}

static onyx_status op_resize(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0);
    if (!x || x->kind != ONYX_KIND_TENSOR) return k_fail(k, ONYX_E_INVALID, "input 0 is required");
    int r = x->rank;

    rs_params p = {RS_NEAREST, CT_HALF_PIXEL, NM_ROUND_PREFER_FLOOR, -0.75, false, false, 0.0};
    const char *mode = k_attr_string(k, "mode", "nearest");
    if (!rs_parse_mode(mode, &p.mode) || strcmp(mode, "bilinear") == 0)
        return k_fail(k, ONYX_E_INVALID, "attribute mode '%s' (expected nearest, linear or cubic)",
                      mode);

    const onyx_tensor *roi_t = NULL, *scales_t, *sizes_t = NULL;
    int scales_idx;
    if (k->opset < 11) {
        scales_idx = 1;
        scales_t = k_input(k, 1);
        if (!scales_t) return k_fail(k, ONYX_E_INVALID, "input 1 (scales) is required");
        p.coord = CT_ASYMMETRIC;
        p.nearest = NM_SIMPLE;
    } else {
        scales_idx = 2;
        roi_t = k_input(k, 1);
        scales_t = k_input(k, 2);
        sizes_t = k_input(k, 3);
        const char *ct = k_attr_string(k, "coordinate_transformation_mode", "half_pixel");
        if (strcmp(ct, "half_pixel") == 0) p.coord = CT_HALF_PIXEL;
        else if (strcmp(ct, "half_pixel_symmetric") == 0) p.coord = CT_HALF_PIXEL_SYMMETRIC;
        else if (strcmp(ct, "pytorch_half_pixel") == 0) p.coord = CT_PYTORCH_HALF_PIXEL;
        else if (strcmp(ct, "align_corners") == 0) p.coord = CT_ALIGN_CORNERS;
        else if (strcmp(ct, "asymmetric") == 0) p.coord = CT_ASYMMETRIC;
        else if (strcmp(ct, "tf_half_pixel_for_nn") == 0) p.coord = CT_TF_HALF_PIXEL_FOR_NN;
        else if (strcmp(ct, "tf_crop_and_resize") == 0) p.coord = CT_TF_CROP_AND_RESIZE;
        else
            return k_fail(k, ONYX_E_INVALID, "attribute coordinate_transformation_mode '%s' is unknown",
                          ct);
        const char *nm = k_attr_string(k, "nearest_mode", "round_prefer_floor");
        if (strcmp(nm, "round_prefer_floor") == 0) p.nearest = NM_ROUND_PREFER_FLOOR;
        else if (strcmp(nm, "round_prefer_ceil") == 0) p.nearest = NM_ROUND_PREFER_CEIL;
        else if (strcmp(nm, "floor") == 0) p.nearest = NM_FLOOR;
        else if (strcmp(nm, "ceil") == 0) p.nearest = NM_CEIL;
        else return k_fail(k, ONYX_E_INVALID, "attribute nearest_mode '%s' is unknown", nm);
        p.cubic_a = k_attr_float(k, "cubic_coeff_a", -0.75f);
        p.exclude_outside = k_attr_int(k, "exclude_outside", 0) != 0;
        p.extrapolation = k_attr_float(k, "extrapolation_value", 0.0f);
        p.antialias = k_attr_int(k, "antialias", 0) != 0;
    }
    if (!tensor_present(scales_t)) scales_t = NULL;
    if (!tensor_present(sizes_t)) sizes_t = NULL;
    if (!tensor_present(roi_t)) roi_t = NULL;
    if (scales_t && sizes_t)
        return k_fail(k, ONYX_E_INVALID, "only one of scales (input 2) and sizes (input 3) may be given");
    if (!scales_t && !sizes_t)
        return k_fail(k, ONYX_E_INVALID, k->opset < 11 ? "input 1 (scales) must not be empty"
                                                       : "one of scales (input 2) and sizes (input 3) is required");

    /* axes (opset 18) */
    int axes[ONYX_MAX_RANK];
    int naxes = r;
    for (int d = 0; d < r; d++) axes[d] = d;
    const int64_t *axes_attr = NULL;
    int na = k_attr_ints(k, "axes", &axes_attr);
    if (na >= 0) {
        if (na > r)
            return k_fail(k, ONYX_E_INVALID, "attribute axes has %d entries for rank %d", na, r);
        bool seen[ONYX_MAX_RANK] = {false};
        for (int i = 0; i < na; i++) {
            if (!k_axis(axes_attr[i], r, &axes[i]))
                return k_fail(k, ONYX_E_INVALID, "attribute axes: %lld is out of range for rank %d",
                              (long long)axes_attr[i], r);
            if (seen[axes[i]])
                return k_fail(k, ONYX_E_INVALID, "attribute axes repeats axis %d", axes[i]);
            seen[axes[i]] = true;
        }
        naxes = na;
    }

    double scale[ONYX_MAX_RANK];
    int64_t od[ONYX_MAX_RANK];
    for (int d = 0; d < r; d++) {
        scale[d] = 1.0;
        od[d] = x->dims[d];
    }
    onyx_status st;
    if (scales_t) {
        double v[ONYX_MAX_RANK];
        st = rs_read_scales(k, scales_idx, scales_t, naxes, v);
        if (st) return st;
        for (int i = 0; i < naxes; i++) scale[axes[i]] = v[i];
        for (int d = 0; d < r; d++)
            if ((st = rs_scaled_dim(k, d, x->dims[d], scale[d], &od[d]))) return st;
    } else {
        int64_t v[ONYX_MAX_RANK];
        int64_t cnt = tensor_numel_of(sizes_t->rank, sizes_t->dims);
        if (cnt != naxes)
            return k_fail(k, ONYX_E_SHAPE, "input 3 (sizes) has %lld values, expected %d",
                          (long long)cnt, naxes);
        if (k_read_ints(sizes_t, v, ONYX_MAX_RANK) != cnt)
            return k_fail(k, ONYX_E_UNSUPPORTED, "input 3 (sizes) has type %s (expected int64)",
                          onyx_dtype_name(sizes_t->dtype));
        for (int i = 0; i < naxes; i++) {
            if (v[i] < 0)
                return k_fail(k, ONYX_E_INVALID, "input 3 (sizes): value %lld at %d is negative",
                              (long long)v[i], i);
            int d = axes[i];
            od[d] = v[i];
            scale[d] = x->dims[d] ? (double)v[i] / (double)x->dims[d] : 1.0;
        }
        const char *policy = k_attr_string(k, "keep_aspect_ratio_policy", "stretch");
        bool larger = strcmp(policy, "not_larger") == 0;
        bool smaller = strcmp(policy, "not_smaller") == 0;
        if (!larger && !smaller && strcmp(policy, "stretch") != 0)
            return k_fail(k, ONYX_E_INVALID, "attribute keep_aspect_ratio_policy '%s' is unknown",
                          policy);
        if (larger || smaller) {
            double s = 0;
            bool have = false;
            for (int i = 0; i < naxes; i++) {
                int d = axes[i];
                if (!x->dims[d]) continue;
                if (!have || (larger ? scale[d] < s : scale[d] > s)) s = scale[d];
                have = true;
            }
            if (!have) s = 1.0;
            for (int i = 0; i < naxes; i++) {
                int d = axes[i];
                scale[d] = s;
                double o = floor(s * (double)x->dims[d] + 0.5);
                if (!(o < 4.0e18))
                    return k_fail(k, ONYX_E_LIMIT, "axis %d: output size too large", d);
                od[d] = (int64_t)o;
            }
        }
        for (int d = 0; d < r; d++)
            if (x->dims[d] && !(scale[d] > 0))
                return k_fail(k, ONYX_E_INVALID, "axis %d: output size 0 from sizes is not resizable",
                              d);
    }
    /* a zero size from sizes gives an empty output; the scale then is unused */
    for (int d = 0; d < r; d++)
        if (!(scale[d] > 0)) scale[d] = 1.0;

    double roi[2 * ONYX_MAX_RANK];
    if (p.coord == CT_TF_CROP_AND_RESIZE) {
        if (!roi_t)
            return k_fail(k, ONYX_E_INVALID,
                          "input 1 (roi) is required for coordinate_transformation_mode tf_crop_and_resize");
        if (!dtype_is_float(roi_t->dtype))
            return k_fail(k, ONYX_E_UNSUPPORTED, "input 1 (roi) has type %s (expected float)",
                          onyx_dtype_name(roi_t->dtype));
        int64_t cnt = tensor_numel_of(roi_t->rank, roi_t->dims);
        if (cnt != 2 * naxes)
            return k_fail(k, ONYX_E_SHAPE, "input 1 (roi) has %lld values, expected %d",
                          (long long)cnt, 2 * naxes);
        for (int d = 0; d < r; d++) {
            roi[d] = 0.0;
            roi[r + d] = 1.0;
        }
        for (int i = 0; i < naxes; i++) {
            roi[axes[i]] = k_get_f64(roi_t, i);
            roi[r + axes[i]] = k_get_f64(roi_t, naxes + i);
        }
        for (int i = 0; i < 2 * r; i++)
            if (!isfinite(roi[i]))
                return k_fail(k, ONYX_E_INVALID, "input 1 (roi) holds a non-finite value");
    }
    return rs_run(k, x, scale, od, p.coord == CT_TF_CROP_AND_RESIZE ? roi : NULL, &p);
}

static onyx_status op_upsample(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0);
    if (!x || x->kind != ONYX_KIND_TENSOR) return k_fail(k, ONYX_E_INVALID, "input 0 is required");
    int r = x->rank;
    rs_params p = {RS_NEAREST, CT_ASYMMETRIC, NM_SIMPLE, -0.75, false, false, 0.0};
    const char *mode = k_attr_string(k, "mode", "nearest");
    if (!rs_parse_mode(mode, &p.mode) || p.mode == RS_CUBIC)
        return k_fail(k, ONYX_E_INVALID, "attribute mode '%s' (expected nearest or linear)", mode);

    double scale[ONYX_MAX_RANK];
    onyx_status st;
    if (k->opset >= 9) {
        const onyx_tensor *s = k_input(k, 1);
        if (!s) return k_fail(k, ONYX_E_INVALID, "input 1 (scales) is required");
        if ((st = rs_read_scales(k, 1, s, r, scale))) return st;
    } else if (k->opset >= 7) {
        const float *f = NULL;
        int n = k_attr_floats(k, "scales", &f);
        if (n < 0) return k_fail(k, ONYX_E_INVALID, "attribute scales is required");
        if (n != r)
            return k_fail(k, ONYX_E_SHAPE, "attribute scales has %d values for rank %d", n, r);
        for (int i = 0; i < n; i++) {
            scale[i] = f[i];
            if (!(scale[i] > 0) || !isfinite(scale[i]))
                return k_fail(k, ONYX_E_INVALID, "attribute scales: value %g must be > 0", scale[i]);
        }
    } else {
        if (r != 4)
            return k_fail(k, ONYX_E_SHAPE, "Upsample-1 needs a 4-D input (got rank %d)", r);
        scale[0] = scale[1] = 1.0;
        scale[2] = k_attr_float(k, "height_scale", 0.0f);
        scale[3] = k_attr_float(k, "width_scale", 0.0f);
        if (!(scale[2] > 0) || !(scale[3] > 0) || !isfinite(scale[2]) || !isfinite(scale[3]))
            return k_fail(k, ONYX_E_INVALID, "attributes height_scale/width_scale must be > 0");
    }
    int64_t od[ONYX_MAX_RANK];
    for (int d = 0; d < r; d++)
        if ((st = rs_scaled_dim(k, d, x->dims[d], scale[d], &od[d]))) return st;
    return rs_run(k, x, scale, od, NULL, &p);
}

/* ------------------------------------------------------------------------ */
/* GridSample                                                                */

typedef enum { GS_ZEROS, GS_BORDER, GS_REFLECTION } gs_padding;

/* Reflects x into [lo, hi] as many times as needed. */
static double gs_reflect(double x, double lo, double hi)
{
    double rng = hi - lo;
    if (!(rng > 0)) return lo;
    if (x < lo) {
        double dx = lo - x;
        double n = floor(dx / rng);
        double rem = fmod(dx, rng);
        return fmod(n, 2.0) == 0.0 ? lo + rem : hi - rem;
    }
    if (x > hi) {
        double dx = x - hi;
        double n = floor(dx / rng);
        double rem = fmod(dx, rng);
        return fmod(n, 2.0) == 0.0 ? hi - rem : lo + rem;
    }
    return x;
}

/* Index of tap i on an axis of length len after padding, or -1 for zero. */
static int64_t gs_tap(int64_t i, int64_t len, gs_padding pad, double lo, double hi)
{
    if (pad == GS_ZEROS) return i >= 0 && i < len ? i : -1;
    if (pad == GS_REFLECTION) i = (int64_t)gs_reflect((double)i, lo, hi);
    return i < 0 ? 0 : i >= len ? len - 1 : i;
}

static void gs_cubic_coeffs(double t, double *c)
{
    const double a = -0.75;
    double x = t + 1.0;
    c[0] = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    c[1] = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
    x = 1.0 - t;
    c[2] = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    x = 2.0 - t;
    c[3] = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
}

#define GS_CHUNK 4096

static onyx_status op_gridsample(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0), *grid = k_input(k, 1);
    if (!x || x->kind != ONYX_KIND_TENSOR) return k_fail(k, ONYX_E_INVALID, "input 0 is required");
    onyx_status st = k_require(k, 1, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                               ONYX_UNDEFINED);
    if (st) return st;
    if (!rs_is_numeric(x->dtype))
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 0 has type %s (expected a numeric type)",
                      onyx_dtype_name(x->dtype));
    int r = x->rank;
    if (r < 3) return k_fail(k, ONYX_E_SHAPE, "input 0 must have rank >= 3 (got %d)", r);
    int D = r - 2;
    if (grid->rank != r)
        return k_fail(k, ONYX_E_SHAPE, "input 1 (grid) has rank %d, expected %d", grid->rank, r);
    if (grid->dims[0] != x->dims[0])
        return k_fail(k, ONYX_E_SHAPE, "grid batch %lld does not match input batch %lld",
                      (long long)grid->dims[0], (long long)x->dims[0]);
    if (grid->dims[r - 1] != D)
        return k_fail(k, ONYX_E_SHAPE, "grid last dimension is %lld, expected %d",
                      (long long)grid->dims[r - 1], D);

    const char *ms = k_attr_string(k, "mode", k->opset >= 20 ? "linear" : "bilinear");
    rs_mode mode;
    if (strcmp(ms, "bilinear") == 0 || strcmp(ms, "linear") == 0) mode = RS_LINEAR;
    else if (strcmp(ms, "nearest") == 0) mode = RS_NEAREST;
    else if (strcmp(ms, "bicubic") == 0 || strcmp(ms, "cubic") == 0) mode = RS_CUBIC;
    else return k_fail(k, ONYX_E_INVALID, "attribute mode '%s' is unknown", ms);
    const char *ps = k_attr_string(k, "padding_mode", "zeros");
    gs_padding pad;
    if (strcmp(ps, "zeros") == 0) pad = GS_ZEROS;
    else if (strcmp(ps, "border") == 0) pad = GS_BORDER;
    else if (strcmp(ps, "reflection") == 0) pad = GS_REFLECTION;
    else return k_fail(k, ONYX_E_INVALID, "attribute padding_mode '%s' is unknown", ps);
    bool align = k_attr_int(k, "align_corners", 0) != 0;

    int64_t od[ONYX_MAX_RANK];
    od[0] = x->dims[0];
    od[1] = x->dims[1];
    for (int j = 0; j < D; j++) od[2 + j] = grid->dims[1 + j];
    onyx_tensor *y = k_output(k, 0, x->dtype, r, od);
    if (!y) return k->err->code;
    int64_t N = x->dims[0], C = x->dims[1];
    int64_t P = tensor_numel_of(D, od + 2);
    int64_t S = tensor_numel_of(D, x->dims + 2);
    /* an empty input has nothing to sample: the output stays zero */
    if (N == 0 || C == 0 || P == 0 || S == 0) return ONYX_OK;

    int T = mode == RS_NEAREST ? 1 : mode == RS_LINEAR ? 2 : 4;
    int64_t stride[ONYX_MAX_RANK];
    stride[D - 1] = 1;
    for (int j = D - 2; j >= 0; j--) stride[j] = stride[j + 1] * x->dims[3 + j];
    size_t per_point = (size_t)D * (size_t)T;
    int64_t *toff = malloc(GS_CHUNK * per_point * sizeof *toff);
    double *tw = malloc(GS_CHUNK * per_point * sizeof *tw);
    if (!toff || !tw) {
        free(toff);
        free(tw);
        return k_fail(k, ONYX_E_NOMEM, "out of memory in GridSample");
    }

    for (int64_t n = 0; n < N; n++) {
        for (int64_t p0 = 0; p0 < P; p0 += GS_CHUNK) {
            int64_t pc = P - p0 < GS_CHUNK ? P - p0 : GS_CHUNK;
            for (int64_t q = 0; q < pc; q++) {
                int64_t gbase = (n * P + p0 + q) * D;
                for (int j = 0; j < D; j++) {
                    int64_t *o = toff + (size_t)q * per_point + (size_t)j * T;
                    double *w = tw + (size_t)q * per_point + (size_t)j * T;
                    int64_t len = x->dims[2 + j];
                    /* grid holds (x, y, ...): innermost axis first */
                    double g = rs_load(grid->data, grid->dtype, gbase + (D - 1 - j));
                    double lo = align ? 0.0 : -0.5;
                    double hi = align ? (double)len - 1.0 : (double)len - 0.5;
                    if (!isfinite(g)) {
                        for (int t = 0; t < T; t++) {
                            o[t] = -1;
                            w[t] = 0;
                        }
                        continue;
                    }
                    double v = align ? (g + 1.0) / 2.0 * (double)(len - 1)
                                     : ((g + 1.0) * (double)len - 1.0) / 2.0;
                    /* PyTorch rounds half to even in 2-D, away from zero in 3-D */
                    if (mode == RS_NEAREST) v = D == 3 ? round(v) : nearbyint(v);
                    if (v < lo || v > hi) {
                        if (pad == GS_BORDER) v = v < 0 ? 0 : v > (double)(len - 1) ? (double)(len - 1) : v;
                        else if (pad == GS_REFLECTION) v = gs_reflect(v, lo, hi);
                    }
                    v = rs_sane(v);
                    if (mode == RS_NEAREST) {
                        int64_t i = gs_tap((int64_t)v, len, pad, lo, hi);
                        o[0] = i < 0 ? -1 : i * stride[j];
                        w[0] = 1.0;
                        continue;
                    }
                    double fl = floor(v);
                    double t = v - fl;
                    int64_t i0 = (int64_t)fl;
                    if (mode == RS_LINEAR) {
                        w[0] = 1.0 - t;
                        w[1] = t;
                    } else {
                        gs_cubic_coeffs(t, w);
                        i0 -= 1;
                    }
                    for (int tt = 0; tt < T; tt++) {
                        int64_t i = gs_tap(i0 + tt, len, pad, lo, hi);
                        o[tt] = i < 0 ? -1 : i * stride[j];
                    }
                }
            }
            for (int64_t c = 0; c < C; c++) {
                const void *plane = x->data;
                int64_t pbase = (n * C + c) * S;
                int64_t ybase = (n * C + c) * P + p0;
                for (int64_t q = 0; q < pc; q++) {
                    const int64_t *o = toff + (size_t)q * per_point;
                    const double *w = tw + (size_t)q * per_point;
                    double acc = 0;
                    int cnt[ONYX_MAX_RANK] = {0};
                    for (;;) {
                        int64_t off = 0;
                        double wt = 1.0;
                        for (int j = 0; j < D; j++) {
                            int64_t oj = o[j * T + cnt[j]];
                            if (oj < 0) {
                                wt = 0;
                                break;
                            }
                            off += oj;
                            wt *= w[j * T + cnt[j]];
                        }
                        if (wt != 0.0) acc += wt * rs_load(plane, x->dtype, pbase + off);
                        int j = D - 1;
                        for (; j >= 0; j--) {
                            if (++cnt[j] < T) break;
                            cnt[j] = 0;
                        }
                        if (j < 0) break;
                    }
                    rs_store(y, ybase + q, acc);
                }
            }
        }
    }
    free(toff);
    free(tw);
    return ONYX_OK;
}

/* ------------------------------------------------------------------------ */
/* RoiAlign                                                                  */

typedef struct ra_sample {
    int64_t pos[4];
    double w[4];
} ra_sample;

static onyx_status op_roialign(onyx_kctx *k)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED)))
        return st;
    if ((st = k_require(k, 1, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED)))
        return st;
    if ((st = k_require(k, 2, ONYX_INT64, ONYX_INT32, ONYX_UNDEFINED))) return st;
    const onyx_tensor *x = k_input(k, 0), *rois = k_input(k, 1), *bi = k_input(k, 2);
    if (x->rank != 4) return k_fail(k, ONYX_E_SHAPE, "input 0 must be 4-D NCHW (got rank %d)", x->rank);
    if (rois->rank != 2 || rois->dims[1] != 4)
        return k_fail(k, ONYX_E_SHAPE, "input 1 (rois) must have shape [num_rois, 4]");
    if (bi->rank != 1 || bi->dims[0] != rois->dims[0])
        return k_fail(k, ONYX_E_SHAPE, "input 2 (batch_indices) must have shape [%lld]",
                      (long long)rois->dims[0]);

    const char *ms = k_attr_string(k, "mode", "avg");
    bool avg;
    if (strcmp(ms, "avg") == 0) avg = true;
    else if (strcmp(ms, "max") == 0) avg = false;
    else return k_fail(k, ONYX_E_INVALID, "attribute mode '%s' (expected avg or max)", ms);
    const char *cts = k_attr_string(k, "coordinate_transformation_mode",
                                    k->opset >= 16 ? "half_pixel" : "output_half_pixel");
    bool half_pixel;
    if (strcmp(cts, "half_pixel") == 0) half_pixel = true;
    else if (strcmp(cts, "output_half_pixel") == 0) half_pixel = false;
    else
        return k_fail(k, ONYX_E_INVALID, "attribute coordinate_transformation_mode '%s' is unknown",
                      cts);
    int64_t oh = k_attr_int(k, "output_height", 1), ow = k_attr_int(k, "output_width", 1);
    if (oh <= 0 || ow <= 0 || oh > (1 << 20) || ow > (1 << 20))
        return k_fail(k, ONYX_E_INVALID, "attributes output_height %lld / output_width %lld must be in [1, 2^20]",
                      (long long)oh, (long long)ow);
    int64_t sampling = k_attr_int(k, "sampling_ratio", 0);
    double spatial_scale = k_attr_float(k, "spatial_scale", 1.0f);

    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t R = rois->dims[0];
    int64_t od[4] = {R, C, oh, ow};
    onyx_tensor *y = k_output(k, 0, x->dtype, 4, od);
    if (!y) return k->err->code;
    /* an empty feature map has nothing to sample: the output stays zero */
    if (R == 0 || C == 0 || H == 0 || W == 0) return ONYX_OK;

    ra_sample *pre = NULL;
    size_t pre_cap = 0;
    for (int64_t n = 0; n < R; n++) {
        int64_t b = bi->dtype == ONYX_INT64 ? ((const int64_t *)bi->data)[n] : ((const int32_t *)bi->data)[n];
        if (b < 0 || b >= N) {
            free(pre);
            return k_fail(k, ONYX_E_INVALID, "batch_indices[%lld] = %lld is out of range [0, %lld)",
                          (long long)n, (long long)b, (long long)N);
        }
        double rv[4];
        for (int i = 0; i < 4; i++) {
            rv[i] = rs_load(rois->data, rois->dtype, n * 4 + i);
            if (!isfinite(rv[i])) {
                free(pre);
                return k_fail(k, ONYX_E_INVALID, "rois[%lld] holds a non-finite value", (long long)n);
            }
        }
        double off = half_pixel ? 0.5 : 0.0;
        double x0 = rv[0] * spatial_scale - off, y0 = rv[1] * spatial_scale - off;
        double x1 = rv[2] * spatial_scale - off, y1 = rv[3] * spatial_scale - off;
        double rw = x1 - x0, rh = y1 - y0;
        if (!half_pixel) {
            /* malformed ROIs become 1x1 */
            if (rw < 1.0) rw = 1.0;
            if (rh < 1.0) rh = 1.0;
        }
        double bh = rh / (double)oh, bw = rw / (double)ow;
        double gh_d = sampling > 0 ? (double)sampling : ceil(rh / (double)oh);
        double gw_d = sampling > 0 ? (double)sampling : ceil(rw / (double)ow);
        if (gh_d < 0) gh_d = 0;
        if (gw_d < 0) gw_d = 0;
        if (gh_d * gw_d * (double)oh * (double)ow > (double)(1 << 26)) {
            free(pre);
            return k_fail(k, ONYX_E_LIMIT, "roi %lld needs %g x %g samples per bin (too many)",
                          (long long)n, gh_d, gw_d);
        }
        int64_t gh = (int64_t)gh_d, gw = (int64_t)gw_d;
        double count = gh * gw > 1 ? (double)(gh * gw) : 1.0;
        /* sample positions and bilinear weights of one output row, shared by
         * all channels */
        size_t need = (size_t)(ow * gh * gw);
        if (need > ((size_t)1 << 22)) {
            free(pre);
            return k_fail(k, ONYX_E_LIMIT, "roi %lld needs %zu samples per output row (too many)",
                          (long long)n, need);
        }
        if (need > pre_cap) {
            ra_sample *np = realloc(pre, need * sizeof *np);
            if (!np) {
                free(pre);
                return k_fail(k, ONYX_E_NOMEM, "out of memory in RoiAlign");
            }
            pre = np;
            pre_cap = need;
        }
        for (int64_t ph = 0; ph < oh; ph++) {
            size_t pi = 0;
            for (int64_t pw = 0; pw < ow; pw++)
                for (int64_t iy = 0; iy < gh; iy++) {
                    double yy = y0 + (double)ph * bh + ((double)iy + 0.5) * bh / (double)gh;
                    for (int64_t ix = 0; ix < gw; ix++) {
                        double xx = x0 + (double)pw * bw + ((double)ix + 0.5) * bw / (double)gw;
                        ra_sample *s = &pre[pi++];
                        if (yy < -1.0 || yy > (double)H || xx < -1.0 || xx > (double)W) {
                            memset(s, 0, sizeof *s);
                            continue;
                        }
                        double yv = yy < 0 ? 0 : yy, xv = xx < 0 ? 0 : xx;
                        int64_t yl = (int64_t)yv, xl = (int64_t)xv, yh, xh;
                        if (yl >= H - 1) {
                            yh = yl = H - 1;
                            yv = (double)yl;
                        } else {
                            yh = yl + 1;
                        }
                        if (xl >= W - 1) {
                            xh = xl = W - 1;
                            xv = (double)xl;
                        } else {
                            xh = xl + 1;
                        }
                        double ly = yv - (double)yl, lx = xv - (double)xl;
                        double hy = 1.0 - ly, hx = 1.0 - lx;
                        s->pos[0] = yl * W + xl;
                        s->pos[1] = yl * W + xh;
                        s->pos[2] = yh * W + xl;
                        s->pos[3] = yh * W + xh;
                        s->w[0] = hy * hx;
                        s->w[1] = hy * lx;
                        s->w[2] = ly * hx;
                        s->w[3] = ly * lx;
                    }
                }
            for (int64_t c = 0; c < C; c++) {
                int64_t xb = (b * C + c) * H * W;
                int64_t yb = ((n * C + c) * oh + ph) * ow;
                const ra_sample *s = pre;
                for (int64_t pw = 0; pw < ow; pw++) {
                    double out = 0;
                    bool first = true;
                    for (int64_t g = 0; g < gh * gw; g++, s++) {
                        double v[4];
                        for (int t = 0; t < 4; t++)
                            v[t] = s->w[t] * rs_load(x->data, x->dtype, xb + s->pos[t]);
                        if (avg) {
                            out += v[0] + v[1] + v[2] + v[3];
                        } else {
                            double m = fmax(fmax(v[0], v[1]), fmax(v[2], v[3]));
                            out = first ? m : fmax(out, m);
                            first = false;
                        }
                    }
                    rs_store(y, yb + pw, avg ? out / count : out);
                }
            }
        }
    }
    free(pre);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_resize[] = {
    {"", "Resize", op_resize},
    {"", "Upsample", op_upsample},
    {"", "GridSample", op_gridsample},
    {"", "RoiAlign", op_roialign},
    {0},
};
