/* pool_nhwc.c - ai.onyx.NhwcMaxPool and ai.onyx.NhwcAveragePool: MaxPool and
 * AveragePool (2-D, float32, one output) on NHWC tensors, with the standard
 * operators' attributes. Each output pixel reduces the input pixels its
 * window covers, vectorized over the channels (the microkernels of igemm.h);
 * taps in the padding are left out, and AveragePool divides by the count the
 * reference uses (count_include_pad counts the padded extent). MaxPool also
 * takes uint8/int8 images. Other shapes or types go to the NCHW reference
 * through ops/nhwc.c. */
#include "igemm.h"
#include "nhwc.h"
#include "pool.h"
#include "qlinear.h"

#include <float.h>

/* 2-D windows of at most this many taps take the fast path. */
#define POOL_MAX_TAPS 256

typedef struct pool_job {
    const igemm_ukernel *uk;
    const pool_geom *g;
    int64_t c;
    const float *x;
    float *y;
    bool is_max, include_pad;
} pool_job;

static void pool_pixels(void *arg, int64_t begin, int64_t end)
{
    const pool_job *j = arg;
    const pool_geom *g = j->g;
    const int64_t ih = g->in[0], iw = g->in[1], oh = g->out[0], ow = g->out[1];
    const float *in[POOL_MAX_TAPS];
    /* a window inside the image: tap t at off[t] floats from its corner */
    int64_t off[POOL_MAX_TAPS];
    const int taps = (int)(g->k[0] * g->k[1]);
    for (int64_t ky = 0, t = 0; ky < g->k[0]; ky++)
        for (int64_t kx = 0; kx < g->k[1]; kx++) off[t++] = (ky * g->d[0] * iw + kx * g->d[1]) * j->c;
    const int64_t ey = (g->k[0] - 1) * g->d[0], ex = (g->k[1] - 1) * g->d[1];
    /* the window of pixel `begin`, then one step along per pixel */
    int64_t img = begin / (oh * ow), r = begin % (oh * ow), oy = r / ow, ox = r % ow;
    for (int64_t q = begin; q < end; q++) {
        if (ox == ow) {
            ox = 0;
            if (++oy == oh) oy = 0, img++;
        }
        const int64_t y0 = oy * g->s[0] - g->pb[0], x0 = ox++ * g->s[1] - g->pb[1];
        float *out = j->y + q * j->c;
        if (y0 >= 0 && y0 + ey < ih && x0 >= 0 && x0 + ex < iw) {
            const float *corner = j->x + ((img * ih + y0) * iw + x0) * j->c;
            for (int t = 0; t < taps; t++) in[t] = corner + off[t];
            if (j->is_max) j->uk->max_pool(j->c, taps, in, out, -FLT_MAX);
            else j->uk->sum_pool(j->c, taps, in, out, (float)(1.0 / taps)); /* every tap counts */
            continue;
        }
        int n = 0;
        int64_t padded_y = 0, padded_x = 0;
        for (int64_t ky = 0; ky < g->k[0]; ky++) {
            int64_t iy = y0 + ky * g->d[0];
            padded_y += iy < ih + g->pe[0];
            if (iy < 0 || iy >= ih) continue;
            for (int64_t kx = 0; kx < g->k[1]; kx++) {
                int64_t ix = x0 + kx * g->d[1];
                if (ix >= 0 && ix < iw) in[n++] = j->x + ((img * ih + iy) * iw + ix) * j->c;
            }
        }
        for (int64_t kx = 0; kx < g->k[1]; kx++) padded_x += x0 + kx * g->d[1] < iw + g->pe[1];
        if (j->is_max) {
            j->uk->max_pool(j->c, n, in, out, -FLT_MAX);
        } else {
            double count = j->include_pad ? (double)(padded_y * padded_x) : (double)n;
            if (count > 0) {
                j->uk->sum_pool(j->c, n, in, out, (float)(1.0 / count));
            } else {
                for (int64_t c = 0; c < j->c; c++) out[c] = NAN;
            }
        }
    }
}

/* MaxPool of uint8/int8 images: a QuantizeLinear the qdq_fuse pass moved
 * before the pool (the maximum commutes with the monotone quantization), so
 * the pool reads the 8-bit output of the integer convolution before it. */
typedef struct pool8_job {
    const ql_vec *vec;
    const pool_geom *g;
    int64_t c;
    const uint8_t *x;
    uint8_t *y;
    bool is_signed;
} pool8_job;

static void max_pool8_pixels(void *arg, int64_t begin, int64_t end)
{
    const pool8_job *j = arg;
    const pool_geom *g = j->g;
    const int64_t ih = g->in[0], iw = g->in[1], oh = g->out[0], ow = g->out[1], c = j->c;
    for (int64_t q = begin; q < end; q++) {
        int64_t img = q / (oh * ow), r = q % (oh * ow), y0 = (r / ow) * g->s[0] - g->pb[0],
                x0 = (r % ow) * g->s[1] - g->pb[1];
        uint8_t *out = j->y + q * c;
        memset(out, j->is_signed ? 0x80 : 0, (size_t)c); /* an empty window: the type's lowest value */
        for (int64_t ky = 0; ky < g->k[0]; ky++) {
            int64_t iy = y0 + ky * g->d[0];
            if (iy < 0 || iy >= ih) continue;
            for (int64_t kx = 0; kx < g->k[1]; kx++) {
                int64_t ix = x0 + kx * g->d[1];
                if (ix < 0 || ix >= iw) continue;
                j->vec->max_bytes(out, j->x + ((img * ih + iy) * iw + ix) * c, c, j->is_signed);
            }
        }
    }
}

static onyx_status max_pool8(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0);
    if (x->rank != 4) return k_fail(k, ONYX_E_SHAPE, "input 0 must have rank 4 (N x H x W x C), got %d", x->rank);
    if (k_attr_int(k, "storage_order", 0) != 0)
        return k_fail(k, ONYX_E_UNSUPPORTED, "storage_order is not supported on NHWC");
    pool_geom g;
    onyx_status st = pool_window_setup(k, 2, x->dims + 1, &g);
    if (st) return st;
    int64_t dims[4] = {x->dims[0], g.out[0], g.out[1], x->dims[3]};
    onyx_tensor *y = k_output_uninit(k, 0, x->dtype, 4, dims);
    if (!y) return k->err->code;
    int64_t pixels = dims[0] * dims[1] * dims[2];
    if (pixels == 0 || dims[3] == 0) return ONYX_OK;
    pool8_job j = {ql_vec_best(), &g, dims[3], x->data, y->data, x->dtype == ONYX_INT8};
    k_parallel_for(k, pixels, max_pool8_pixels, &j);
    return ONYX_OK;
}

static onyx_status pool_nhwc(onyx_kctx *k, bool is_max)
{
    const onyx_tensor *x8 = k_input(k, 0);
    if (is_max && x8 && x8->kind == ONYX_KIND_TENSOR && (x8->dtype == ONYX_UINT8 || x8->dtype == ONYX_INT8))
        return max_pool8(k);
    onyx_status st = nhwc_require_image(k, 0);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    pool_geom g;
    if ((st = pool_window_setup(k, 2, x->dims + 1, &g))) return st;
    bool include_pad = !is_max && k_attr_int(k, "count_include_pad", 0) != 0;
    if (g.k[0] * g.k[1] > POOL_MAX_TAPS || (is_max && k_attr_int(k, "storage_order", 0) != 0))
        return nhwc_run_reference(k, 1u, onyx_find_op("", is_max ? "MaxPool" : "AveragePool")->run);
    int64_t dims[4] = {x->dims[0], g.out[0], g.out[1], x->dims[3]};
    onyx_tensor *y = k_output_uninit(k, 0, ONYX_FLOAT, 4, dims);
    if (!y) return k->err->code;
    int64_t pixels = dims[0] * dims[1] * dims[2];
    if (pixels == 0 || dims[3] == 0) return ONYX_OK;
    pool_job j = {igemm_ukernel_best(), &g, dims[3], x->data, y->data, is_max, include_pad};
    k_parallel_for(k, pixels, pool_pixels, &j);
    return ONYX_OK;
}

static onyx_status op_nhwc_max_pool(onyx_kctx *k) { return pool_nhwc(k, true); }
static onyx_status op_nhwc_average_pool(onyx_kctx *k) { return pool_nhwc(k, false); }

const onyx_op_def onyx_ops_pool_nhwc[] = {
    {"ai.onyx", "NhwcMaxPool", op_nhwc_max_pool, NULL, NULL},
    {"ai.onyx", "NhwcAveragePool", op_nhwc_average_pool, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
