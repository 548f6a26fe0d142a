/* nhwc.c - layout moves and the NCHW reference bridge of the NHWC operators. */
#include "nhwc.h"

#include <stdlib.h>

typedef struct move_job {
    const float *src;
    float *dst;
    int64_t c, hw;
    bool to_nhwc;
} move_job;

/* Planes [begin, end) of N*C (to NHWC) or pixel rows of N*HW (to NCHW),
 * in blocks so that both sides are read and written in cache-line runs. */
static void move_range(void *arg, int64_t begin, int64_t end)
{
    const move_job *j = arg;
    enum { B = 32 };
    for (int64_t img = begin; img < end; img++) {
        const float *s = j->src + img * j->c * j->hw;
        float *d = j->dst + img * j->c * j->hw;
        for (int64_t p0 = 0; p0 < j->hw; p0 += B)
            for (int64_t c0 = 0; c0 < j->c; c0 += B) {
                int64_t p1 = p0 + B < j->hw ? p0 + B : j->hw, c1 = c0 + B < j->c ? c0 + B : j->c;
                if (j->to_nhwc) {
                    for (int64_t p = p0; p < p1; p++)
                        for (int64_t c = c0; c < c1; c++) d[p * j->c + c] = s[c * j->hw + p];
                } else {
                    for (int64_t c = c0; c < c1; c++)
                        for (int64_t p = p0; p < p1; p++) d[c * j->hw + p] = s[p * j->c + c];
                }
            }
    }
}

static void move(const onyx_kctx *k, const float *src, float *dst, int64_t n, int64_t c, int64_t hw, bool to_nhwc)
{
    move_job j = {src, dst, c, hw, to_nhwc};
    if (k && n > 1) k_parallel_for(k, n, move_range, &j);
    else move_range(&j, 0, n);
}

void nhwc_from_nchw(const onyx_kctx *k, const float *src, float *dst, int64_t n, int64_t c, int64_t h, int64_t w)
{
    move(k, src, dst, n, c, h * w, true);
}

void nhwc_to_nchw(const onyx_kctx *k, const float *src, float *dst, int64_t n, int64_t c, int64_t h, int64_t w)
{
    move(k, src, dst, n, c, h * w, false);
}

onyx_status nhwc_require_image(onyx_kctx *k, int i)
{
    const onyx_tensor *t = k_input(k, i);
    if (!t || t->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input %d must be a tensor", i);
    if (t->dtype != ONYX_FLOAT)
        return k_fail(k, ONYX_E_UNSUPPORTED, "input %d is %s; NHWC operators take float32 only", i,
                      onyx_dtype_name(t->dtype));
    if (t->rank != 4)
        return k_fail(k, ONYX_E_SHAPE, "input %d must have rank 4 (N x H x W x C), got %d", i, t->rank);
    return ONYX_OK;
}

#define BRIDGE_MAX_INPUTS 8

onyx_status nhwc_run_reference(onyx_kctx *k, unsigned nhwc_inputs, onyx_kernel_fn run)
{
    if (k->n_inputs > BRIDGE_MAX_INPUTS)
        return k_fail(k, ONYX_E_INVALID, "%d inputs (at most %d)", k->n_inputs, BRIDGE_MAX_INPUTS);
    onyx_tensor moved[BRIDGE_MAX_INPUTS];
    const onyx_tensor *ins[BRIDGE_MAX_INPUTS];
    memset(moved, 0, sizeof moved);
    onyx_status st = ONYX_OK;
    for (int i = 0; i < k->n_inputs && st == ONYX_OK; i++) {
        ins[i] = k->inputs[i];
        if (!(nhwc_inputs >> i & 1) || !ins[i]) continue;
        if ((st = nhwc_require_image(k, i))) break;
        const int64_t *d = ins[i]->dims; /* N H W C */
        int64_t nchw[4] = {d[0], d[3], d[1], d[2]};
        if (!tensor_reshape_alloc(&moved[i], ONYX_FLOAT, 4, nchw)) {
            st = k_fail(k, ONYX_E_NOMEM, "out of memory moving input %d to NCHW", i);
            break;
        }
        nhwc_to_nchw(k, ins[i]->data, moved[i].data, d[0], d[3], d[1], d[2]);
        ins[i] = &moved[i];
    }
    onyx_tensor out;
    memset(&out, 0, sizeof out);
    if (st == ONYX_OK) {
        onyx_tensor *outs[1] = {&out};
        onyx_kctx k2 = *k;
        memset(k2.spare, 0, sizeof k2.spare);
        k2.inputs = ins;
        k2.outputs = outs;
        k2.n_outputs = 1;
        k2.exec = NULL;  /* outputs on the heap, not in the session's plan */
        k2.state = NULL; /* the reference path */
        st = run(&k2);
        for (size_t s = 0; s < sizeof k2.spare / sizeof k2.spare[0]; s++) tensor_release(&k2.spare[s]);
    }
    if (st == ONYX_OK) {
        if (out.kind != ONYX_KIND_TENSOR || out.dtype != ONYX_FLOAT || out.rank != 4) {
            st = k_fail(k, ONYX_E_INVALID, "the reference kernel did not produce a rank-4 float32 output");
        } else {
            const int64_t *d = out.dims; /* N C H W */
            int64_t nhwc[4] = {d[0], d[2], d[3], d[1]};
            onyx_tensor *y = k_output_uninit(k, 0, ONYX_FLOAT, 4, nhwc);
            if (!y) st = k->err->code;
            else nhwc_from_nchw(k, out.data, y->data, d[0], d[1], d[2], d[3]);
        }
    }
    tensor_release(&out);
    for (int i = 0; i < BRIDGE_MAX_INPUTS; i++) tensor_release(&moved[i]);
    return st;
}
