/* norm_nhwc.c - ai.onyx.NhwcInstanceNormalization: InstanceNormalization on
 * NHWC tensors (any rank >= 3, channels last), so a normalization inside a
 * CNN does not force the image back to NCHW and forward again.
 *
 * Per image and channel, the mean and variance over the pixels: pixels are
 * cut into fixed blocks of 256 whose per-channel sums (float) are added in
 * block order in double, so the result does not depend on the thread count. Then y = x * a[c] + b[c] with
 * a = scale / sqrt(var + epsilon), b = bias - mean * a. */
#include "nhwc.h"

#include <stdlib.h>

#define NORM_BLOCK 256 /* pixels per partial sum */

/* 4 floats: an SSE or NEON register, scalar code elsewhere (GCC/clang
 * vector extension; plain loops over a run-time channel count are not
 * vectorized at -O2 by GCC) */
typedef float v4f __attribute__((vector_size(16)));

static v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

typedef struct norm_job {
    const float *x;
    float *y;
    int64_t pixels, c, blocks;  /* per image */
    float *part;                /* [blocks][c] partial sums */
    const float *mean;          /* [c], for the second pass */
    const float *a, *b;         /* [c], for the last pass */
} norm_job;

/* Partial sums of blocks [begin, end) in float (256 terms each): of x, or of
 * (x - mean)^2. Channels 4 at a time, the rest one by one. */
static void partial_sums(void *arg, int64_t begin, int64_t end)
{
    const norm_job *j = arg;
    const int64_t c4 = j->c / 4 * 4;
    for (int64_t blk = begin; blk < end; blk++) {
        float *s = j->part + blk * j->c;
        memset(s, 0, (size_t)j->c * sizeof(float));
        int64_t p1 = (blk + 1) * NORM_BLOCK < j->pixels ? (blk + 1) * NORM_BLOCK : j->pixels;
        for (int64_t p = blk * NORM_BLOCK; p < p1; p++) {
            const float *px = j->x + p * j->c;
            for (int64_t ch = 0; ch < c4; ch += 4) {
                v4f v = load4(px + ch), acc = load4(s + ch);
                if (j->mean) v -= load4(j->mean + ch), v *= v;
                acc += v;
                memcpy(s + ch, &acc, sizeof acc);
            }
            for (int64_t ch = c4; ch < j->c; ch++) {
                float v = j->mean ? (px[ch] - j->mean[ch]) * (px[ch] - j->mean[ch]) : px[ch];
                s[ch] += v;
            }
        }
    }
}

static void apply_affine(void *arg, int64_t begin, int64_t end)
{
    const norm_job *j = arg;
    const int64_t c4 = j->c / 4 * 4;
    for (int64_t blk = begin; blk < end; blk++) {
        int64_t p1 = (blk + 1) * NORM_BLOCK < j->pixels ? (blk + 1) * NORM_BLOCK : j->pixels;
        for (int64_t p = blk * NORM_BLOCK; p < p1; p++) {
            const float *px = j->x + p * j->c;
            float *py = j->y + p * j->c;
            for (int64_t ch = 0; ch < c4; ch += 4) {
                v4f v = load4(px + ch) * load4(j->a + ch) + load4(j->b + ch);
                memcpy(py + ch, &v, sizeof v);
            }
            for (int64_t ch = c4; ch < j->c; ch++) py[ch] = px[ch] * j->a[ch] + j->b[ch];
        }
    }
}

/* Adds the blocks' partial sums in order, in double, over the pixel count. */
static void reduce_blocks(const norm_job *j, double *out)
{
    for (int64_t ch = 0; ch < j->c; ch++) out[ch] = 0;
    for (int64_t blk = 0; blk < j->blocks; blk++)
        for (int64_t ch = 0; ch < j->c; ch++) out[ch] += j->part[blk * j->c + ch];
    for (int64_t ch = 0; ch < j->c; ch++) out[ch] /= (double)j->pixels;
}

static onyx_status reference_nchw(onyx_kctx *k) { return onyx_find_op("", "InstanceNormalization")->run(k); }

static onyx_status op_nhwc_instance_norm(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0), *scale = k_input(k, 1), *bias = k_input(k, 2);
    if (!x || x->kind != ONYX_KIND_TENSOR || x->rank < 3)
        return k_fail(k, ONYX_E_SHAPE, "input 0 must be a tensor of rank >= 3 (N x spatial... x C)");
    int64_t n = x->dims[0], c = x->dims[x->rank - 1], pixels = 1;
    for (int a = 1; a < x->rank - 1; a++) pixels *= x->dims[a];
    if (!scale || !bias || scale->rank != 1 || bias->rank != 1 || scale->dims[0] != c || bias->dims[0] != c)
        return k_fail(k, ONYX_E_SHAPE, "scale and B must have one value per channel (%lld)", (long long)c);
    if (x->dtype != ONYX_FLOAT || scale->dtype != ONYX_FLOAT || bias->dtype != ONYX_FLOAT) {
        if (x->rank == 4) return nhwc_run_reference(k, 1u, reference_nchw);
        return k_fail(k, ONYX_E_UNSUPPORTED, "NhwcInstanceNormalization of rank %d takes float32 only", x->rank);
    }
    float eps = k_attr_float(k, "epsilon", 1e-5f);
    onyx_tensor *y = k_output_uninit(k, 0, ONYX_FLOAT, x->rank, x->dims);
    if (!y) return k->err->code;
    if (n * pixels * c == 0) return ONYX_OK;
    int64_t blocks = (pixels + NORM_BLOCK - 1) / NORM_BLOCK;
    double *mean = malloc((size_t)c * sizeof(double)), *var = malloc((size_t)c * sizeof(double));
    float *part = malloc((size_t)(blocks * c) * sizeof(float)), *meanf = malloc((size_t)c * sizeof(float));
    float *a = malloc((size_t)c * sizeof(float)), *b = malloc((size_t)c * sizeof(float));
    onyx_status st = ONYX_OK;
    if (!part || !mean || !var || !meanf || !a || !b) {
        st = k_fail(k, ONYX_E_NOMEM, "out of memory for the channel statistics");
    } else {
        const float *sc = scale->data, *bi = bias->data;
        for (int64_t img = 0; img < n; img++) {
            norm_job j = {(const float *)x->data + img * pixels * c, (float *)y->data + img * pixels * c,
                          pixels, c, blocks, part, NULL, a, b};
            k_parallel_for(k, blocks, partial_sums, &j);
            reduce_blocks(&j, mean);
            for (int64_t ch = 0; ch < c; ch++) meanf[ch] = (float)mean[ch];
            j.mean = meanf;
            k_parallel_for(k, blocks, partial_sums, &j);
            reduce_blocks(&j, var);
            for (int64_t ch = 0; ch < c; ch++) {
                double inv = 1 / sqrt(var[ch] + eps);
                a[ch] = (float)(sc[ch] * inv);
                b[ch] = (float)(bi[ch] - mean[ch] * (sc[ch] * inv));
            }
            k_parallel_for(k, blocks, apply_affine, &j);
        }
    }
    free(part);
    free(meanf);
    free(mean);
    free(var);
    free(a);
    free(b);
    return st;
}

const onyx_op_def onyx_ops_norm_nhwc[] = {
    {"ai.onyx", "NhwcInstanceNormalization", op_nhwc_instance_norm, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
