/* detection.c - NonMaxSuppression.
 *
 * Per (batch, class): candidates above score_threshold are taken in order of
 * decreasing score (ties: lower box index first) and kept unless their IoU
 * with an already kept box exceeds iou_threshold. Box arithmetic is float,
 * like the reference and onnxruntime, so threshold ties resolve the same way.
 */
#include "kernel.h"

#include <stdlib.h>

typedef struct nms_box {
    float x0, y0, x1, y1, area;
} nms_box;

typedef struct nms_cand {
    float score;
    int64_t idx;
} nms_cand;

static int nms_cmp(const void *a, const void *b)
{
    const nms_cand *p = a, *q = b;
    if (p->score != q->score) return p->score > q->score ? -1 : 1;
    return p->idx < q->idx ? -1 : p->idx > q->idx;
}

static bool nms_suppress(const nms_box *a, const nms_box *b, float iou_threshold)
{
    float ix0 = a->x0 > b->x0 ? a->x0 : b->x0;
    float ix1 = a->x1 < b->x1 ? a->x1 : b->x1;
    if (ix1 <= ix0) return false;
    float iy0 = a->y0 > b->y0 ? a->y0 : b->y0;
    float iy1 = a->y1 < b->y1 ? a->y1 : b->y1;
    if (iy1 <= iy0) return false;
    float inter = (ix1 - ix0) * (iy1 - iy0);
    if (inter <= 0) return false;
    float uni = a->area + b->area - inter;
    if (a->area <= 0 || b->area <= 0 || uni <= 0) return false;
    return inter / uni > iou_threshold;
}

static float nms_load(const onyx_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ONYX_FLOAT: return ((const float *)t->data)[i];
    case ONYX_FLOAT16: return f16_to_f32(((const uint16_t *)t->data)[i]);
    default: return (float)k_get_f64(t, i);
    }
}

/* Optional scalar (or 1-element) input i, or *out unchanged when absent/empty. */
static onyx_status nms_scalar(onyx_kctx *k, int i, const char *name, bool integer, double *out,
                              bool *given)
{
    const onyx_tensor *t = k_input(k, i);
    *given = false;
    if (!t || t->kind != ONYX_KIND_TENSOR) return ONYX_OK;
    int64_t n = tensor_numel_of(t->rank, t->dims);
    if (n == 0) return ONYX_OK;
    if (n != 1)
        return k_fail(k, ONYX_E_SHAPE, "input %d (%s) must hold one value (has %lld)", i, name,
                      (long long)n);
    if (integer ? !dtype_is_int(t->dtype) : !dtype_is_float(t->dtype))
        return k_fail(k, ONYX_E_UNSUPPORTED, "input %d (%s) has type %s", i, name,
                      onyx_dtype_name(t->dtype));
    if (t->dtype == ONYX_INT64) {
        int64_t v = ((const int64_t *)t->data)[0];
        *out = v > ((int64_t)1 << 53) ? (double)((int64_t)1 << 53) : (double)v;
    } else {
        *out = k_get_f64(t, 0);
    }
    *given = true;
    return ONYX_OK;
}

static onyx_status op_nms(onyx_kctx *k)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_FLOAT, ONYX_FLOAT16, ONYX_DOUBLE, ONYX_UNDEFINED))) return st;
    if ((st = k_require(k, 1, ONYX_FLOAT, ONYX_FLOAT16, ONYX_DOUBLE, ONYX_UNDEFINED))) return st;
    const onyx_tensor *boxes = k_input(k, 0), *scores = k_input(k, 1);
    if (boxes->rank != 3 || boxes->dims[2] != 4)
        return k_fail(k, ONYX_E_SHAPE, "input 0 (boxes) must have shape [batches, boxes, 4]");
    if (scores->rank != 3)
        return k_fail(k, ONYX_E_SHAPE, "input 1 (scores) must have shape [batches, classes, boxes]");
    int64_t B = boxes->dims[0], N = boxes->dims[1], C = scores->dims[1];
    if (scores->dims[0] != B || scores->dims[2] != N)
        return k_fail(k, ONYX_E_SHAPE,
                      "scores shape [%lld, %lld, %lld] does not match boxes [%lld, %lld, 4]",
                      (long long)scores->dims[0], (long long)C, (long long)scores->dims[2],
                      (long long)B, (long long)N);
    int64_t center = k_attr_int(k, "center_point_box", 0);
    if (center != 0 && center != 1)
        return k_fail(k, ONYX_E_INVALID, "attribute center_point_box must be 0 or 1 (got %lld)",
                      (long long)center);

    double max_out = 0, iou = 0, score_thr = 0;
    bool have_max, have_iou, have_score;
    if ((st = nms_scalar(k, 2, "max_output_boxes_per_class", true, &max_out, &have_max))) return st;
    if ((st = nms_scalar(k, 3, "iou_threshold", false, &iou, &have_iou))) return st;
    if ((st = nms_scalar(k, 4, "score_threshold", false, &score_thr, &have_score))) return st;
    if (have_iou && !(iou >= 0.0 && iou <= 1.0))
        return k_fail(k, ONYX_E_INVALID, "iou_threshold %g must be in [0, 1]", iou);
    int64_t max_per_class = max_out > 0 ? (int64_t)max_out : 0;
    if (max_per_class > N) max_per_class = N;

    int64_t dims0[2] = {0, 3};
    if (max_per_class == 0 || B == 0 || C == 0 || N == 0) {
        onyx_tensor *y = k_output(k, 0, ONYX_INT64, 2, dims0);
        return y ? ONYX_OK : k->err->code;
    }

    nms_box *bx = malloc((size_t)N * sizeof *bx);
    nms_cand *cand = malloc((size_t)N * sizeof *cand);
    int64_t *kept = malloc((size_t)max_per_class * sizeof *kept);
    int64_t *sel = NULL;
    size_t nsel = 0, cap = 0;
    if (!bx || !cand || !kept) {
        st = k_fail(k, ONYX_E_NOMEM, "out of memory in NonMaxSuppression");
        goto done;
    }
    float iou_f = (float)iou, score_f = (float)score_thr;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < N; i++) {
            float v[4];
            for (int j = 0; j < 4; j++) v[j] = nms_load(boxes, (b * N + i) * 4 + j);
            nms_box *q = &bx[i];
            if (center) {
                float hw = v[2] / 2, hh = v[3] / 2;
                q->x0 = v[0] - hw;
                q->x1 = v[0] + hw;
                q->y0 = v[1] - hh;
                q->y1 = v[1] + hh;
            } else {
                /* [y1, x1, y2, x2], corners in either order */
                q->y0 = v[0] < v[2] ? v[0] : v[2];
                q->y1 = v[0] < v[2] ? v[2] : v[0];
                q->x0 = v[1] < v[3] ? v[1] : v[3];
                q->x1 = v[1] < v[3] ? v[3] : v[1];
            }
            q->area = (q->x1 - q->x0) * (q->y1 - q->y0);
        }
        for (int64_t c = 0; c < C; c++) {
            int64_t nc = 0;
            for (int64_t i = 0; i < N; i++) {
                float s = nms_load(scores, (b * C + c) * N + i);
                if (isnan(s) || (have_score && !(s > score_f))) continue;
                cand[nc].score = s;
                cand[nc].idx = i;
                nc++;
            }
            qsort(cand, (size_t)nc, sizeof *cand, nms_cmp);
            int64_t nk = 0;
            for (int64_t i = 0; i < nc && nk < max_per_class; i++) {
                const nms_box *q = &bx[cand[i].idx];
                bool keep = true;
                for (int64_t j = 0; j < nk && keep; j++)
                    if (nms_suppress(q, &bx[kept[j]], iou_f)) keep = false;
                if (!keep) continue;
                kept[nk++] = cand[i].idx;
                if (nsel == cap) {
                    size_t ncap = cap ? cap * 2 : 64;
                    int64_t *ns = realloc(sel, ncap * 3 * sizeof *ns);
                    if (!ns) {
                        st = k_fail(k, ONYX_E_NOMEM, "out of memory in NonMaxSuppression");
                        goto done;
                    }
                    sel = ns;
                    cap = ncap;
                }
                sel[nsel * 3 + 0] = b;
                sel[nsel * 3 + 1] = c;
                sel[nsel * 3 + 2] = cand[i].idx;
                nsel++;
            }
        }
    }
    {
        int64_t dims[2] = {(int64_t)nsel, 3};
        onyx_tensor *y = k_output(k, 0, ONYX_INT64, 2, dims);
        if (!y) {
            st = k->err->code;
            goto done;
        }
        if (nsel) memcpy(y->data, sel, nsel * 3 * sizeof *sel);
    }
done:
    free(bx);
    free(cand);
    free(kept);
    free(sel);
    return st;
}

const onyx_op_def onyx_ops_detection[] = {
    {"", "NonMaxSuppression", op_nms},
    {0},
};
