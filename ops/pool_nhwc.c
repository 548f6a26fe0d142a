/* pool_nhwc.c - ai.onyx.NhwcMaxPool and ai.onyx.NhwcAveragePool: MaxPool and
 * AveragePool (2-D, float32, one output) on NHWC tensors, with the standard
 * operators' attributes. Each output pixel reduces the input pixels its
 * window covers, vectorized over the channels (the microkernels of igemm.h);
 * taps in the padding are left out, and AveragePool divides by the count the
 * reference uses (count_include_pad counts the padded extent). Other shapes
 * or types go to the NCHW reference through ops/nhwc.c. */
#include "igemm.h"
#include "nhwc.h"
#include "pool.h"

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
    for (int64_t q = begin; q < end; q++) {
        int64_t img = q / (oh * ow), r = q % (oh * ow), y0 = (r / ow) * g->s[0] - g->pb[0],
                x0 = (r % ow) * g->s[1] - g->pb[1];
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
        float *out = j->y + q * j->c;
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

static onyx_status pool_nhwc(onyx_kctx *k, bool is_max)
{
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
