/* softmax.c - Softmax, LogSoftmax, Hardmax and the two losses built on them,
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
 *
 * All of them work on a tensor viewed as [outer, n, inner] with the softmax
 * axis in the middle. Sums of exponentials accumulate in double. */
#include "hot.h"

#include <stdlib.h>

/* Element access with the float case inline: the hot path never leaves the loop. */
static inline double ld(const onyx_tensor *t, int64_t i)
{
    return t->dtype == ONYX_FLOAT ? ((const float *)t->data)[i] : k_get_f64(t, i);
}

static inline void st(onyx_tensor *t, int64_t i, double v)
{
    if (t->dtype == ONYX_FLOAT) ((float *)t->data)[i] = (float)v;
    else k_set_f64(t, i, v);
}

typedef enum smax_kind { S_SOFTMAX, S_LOGSOFTMAX, S_HARDMAX } smax_kind;

/* Softmax / LogSoftmax of x viewed as [outer, n, inner] along the middle axis,
 * written to y (a tensor) or, when y is NULL, to the double array yd. The
 * exponentials of one [n, inner] slice are kept so each is computed once. */
static onyx_status softmax_rows(onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y, double *yd,
                                int64_t outer, int64_t n, int64_t inner, bool logarithm)
{
    if (outer == 0 || n == 0 || inner == 0) return ONYX_OK;
    double *mx = malloc((size_t)inner * sizeof *mx);
    double *sum = malloc((size_t)inner * sizeof *sum);
    double *ex = malloc((size_t)n * (size_t)inner * sizeof *ex);
    if (!mx || !sum || !ex) {
        free(mx);
        free(sum);
        free(ex);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    for (int64_t o = 0; o < outer; o++) {
        int64_t base = o * n * inner;
        for (int64_t i = 0; i < inner; i++) {
            mx[i] = -INFINITY;
            sum[i] = 0;
        }
        for (int64_t j = 0; j < n; j++) {
            int64_t row = base + j * inner;
            for (int64_t i = 0; i < inner; i++) {
                double v = ld(x, row + i);
                if (v > mx[i] || isnan(v)) mx[i] = v;
            }
        }
        for (int64_t j = 0; j < n; j++) {
            int64_t row = base + j * inner;
            double *e = ex + j * inner;
            for (int64_t i = 0; i < inner; i++) {
                double d = ld(x, row + i) - mx[i], ed = exp(d);
                sum[i] += ed;
                e[i] = logarithm ? d : ed;
            }
        }
        if (logarithm)
            for (int64_t i = 0; i < inner; i++) sum[i] = log(sum[i]);
        for (int64_t j = 0; j < n; j++) {
            int64_t row = base + j * inner;
            const double *e = ex + j * inner;
            for (int64_t i = 0; i < inner; i++) {
                double v = logarithm ? e[i] - sum[i] : e[i] / sum[i];
                if (y) st(y, row + i, v);
                else yd[row + i] = v;
            }
        }
    }
    free(mx);
    free(sum);
    free(ex);
    return ONYX_OK;
}

/* 1 at the first maximum along the axis (the first NaN, if any, like argmax). */
static onyx_status hardmax_rows(onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y,
                                int64_t outer, int64_t n, int64_t inner)
{
    if (outer == 0 || n == 0 || inner == 0) return ONYX_OK;
    int64_t *best = malloc((size_t)inner * sizeof *best);
    if (!best) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    for (int64_t o = 0; o < outer; o++) {
        int64_t base = o * n * inner;
        for (int64_t i = 0; i < inner; i++) best[i] = 0;
        for (int64_t j = 1; j < n; j++) {
            for (int64_t i = 0; i < inner; i++) {
                double b = ld(x, base + best[i] * inner + i), v = ld(x, base + j * inner + i);
                if (!isnan(b) && (v > b || isnan(v))) best[i] = j;
            }
        }
        for (int64_t i = 0; i < inner; i++) st(y, base + best[i] * inner + i, 1.0);
    }
    free(best);
    return ONYX_OK;
}

/* Softmax over the last axis in float32: one vectorized row kernel
 * (ops/hot.h) per row, rows spread over the threads. */
typedef struct softmax_job {
    void (*row)(const float *x, float *y, int64_t n, bool logarithm);
    const float *x;
    float *y;
    int64_t n;
    bool logarithm;
} softmax_job;

static void softmax_range(void *arg, int64_t begin, int64_t end)
{
    const softmax_job *j = arg;
    for (int64_t r = begin; r < end; r++) j->row(j->x + r * j->n, j->y + r * j->n, j->n, j->logarithm);
}

static onyx_status run_softmax(onyx_kctx *k, smax_kind kind)
{
    onyx_status s = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                              ONYX_UNDEFINED);
    if (s) return s;
    const onyx_tensor *x = k_input(k, 0);
    /* before opset 13 the input is coerced to 2-D [prod(dims[:axis]), prod(dims[axis:])] */
    bool coerce = k->opset < 13;
    int64_t axis_attr = k_attr_int(k, "axis", coerce ? 1 : -1);
    int axis;
    if (coerce && axis_attr == x->rank) {
        axis = x->rank;
    } else if (!k_axis(axis_attr, x->rank, &axis)) {
        return k_fail(k, ONYX_E_INVALID, "attribute axis = %lld is out of range for rank %d",
                      (long long)axis_attr, x->rank);
    }
    int64_t outer = tensor_numel_of(axis, x->dims), n, inner;
    if (coerce) {
        n = tensor_numel_of(x->rank - axis, x->dims + axis);
        inner = 1;
    } else {
        n = x->dims[axis];
        inner = tensor_numel_of(x->rank - axis - 1, x->dims + axis + 1);
    }
    if (outer < 0 || n < 0 || inner < 0)
        return k_fail(k, ONYX_E_LIMIT, "input 0 dimensions overflow");
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    if (kind == S_HARDMAX) return hardmax_rows(k, x, y, outer, n, inner);
    const hot_kernels *hk = hot_kernels_native();
    if (hk && x->dtype == ONYX_FLOAT && inner == 1 && n > 0) {
        softmax_job j = {hk->softmax, x->data, y->data, n, kind == S_LOGSOFTMAX};
        if (outer * n < HOT_PARALLEL_MIN) softmax_range(&j, 0, outer);
        else k_parallel_for(k, outer, softmax_range, &j);
        return ONYX_OK;
    }
    return softmax_rows(k, x, y, NULL, outer, n, inner, kind == S_LOGSOFTMAX);
}

static onyx_status op_softmax(onyx_kctx *k) { return run_softmax(k, S_SOFTMAX); }
static onyx_status op_log_softmax(onyx_kctx *k) { return run_softmax(k, S_LOGSOFTMAX); }
static onyx_status op_hardmax(onyx_kctx *k) { return run_softmax(k, S_HARDMAX); }

/* ---- losses ----
 * loss[n, d] = -logp[n, t, d] * w[t] with t = target[n, d] (w = 1 without weights);
 * targets equal to ignore_index contribute neither loss nor weight. "mean"
 * divides the summed loss by the summed weights. */

typedef struct loss_args {
    const onyx_tensor *x, *target, *weight;
    int64_t N, C, D;
    int reduction; /* 0 none, 1 sum, 2 mean */
    bool has_ii;
    int64_t ii;
} loss_args;

static onyx_status loss_setup(onyx_kctx *k, loss_args *a, const char *xname)
{
    onyx_status s = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                              ONYX_UNDEFINED);
    if (s) return s;
    if ((s = k_require(k, 1, ONYX_INT32, ONYX_INT64, ONYX_UNDEFINED))) return s;
    a->x = k_input(k, 0);
    a->target = k_input(k, 1);
    a->weight = k_input(k, 2);
    const onyx_tensor *x = a->x, *t = a->target;
    if (x->rank < 2)
        return k_fail(k, ONYX_E_SHAPE, "input 0 (%s) must be [N, C, d1, ...], has rank %d",
                      xname, x->rank);
    if (t->rank != x->rank - 1)
        return k_fail(k, ONYX_E_SHAPE, "input 1 has rank %d, expected %d (rank of input 0 - 1)",
                      t->rank, x->rank - 1);
    for (int d = 0; d < t->rank; d++) {
        int64_t want = x->dims[d == 0 ? 0 : d + 1];
        if (t->dims[d] != want)
            return k_fail(k, ONYX_E_SHAPE, "input 1 dim %d is %lld, expected %lld", d,
                          (long long)t->dims[d], (long long)want);
    }
    a->N = x->dims[0];
    a->C = x->dims[1];
    a->D = tensor_numel_of(x->rank - 2, x->dims + 2);
    if (a->D < 0 || tensor_numel_of(x->rank, x->dims) < 0)
        return k_fail(k, ONYX_E_LIMIT, "input 0 dimensions overflow");
    if (a->weight) {
        if (a->weight->kind != ONYX_KIND_TENSOR || a->weight->dtype != x->dtype)
            return k_fail(k, ONYX_E_INVALID, "input 2 (weight) must be a %s tensor",
                          onyx_dtype_name(x->dtype));
        if (a->weight->rank != 1 || a->weight->dims[0] != a->C)
            return k_fail(k, ONYX_E_SHAPE, "input 2 (weight) must have shape [%lld]",
                          (long long)a->C);
    }
    const char *red = k_attr_string(k, "reduction", "mean");
    if (strcmp(red, "none") == 0) a->reduction = 0;
    else if (strcmp(red, "sum") == 0) a->reduction = 1;
    else if (strcmp(red, "mean") == 0) a->reduction = 2;
    else
        return k_fail(k, ONYX_E_INVALID,
                      "attribute reduction = \"%s\" (expected none, sum or mean)", red);
    const onyx_attr *ia = k_attr(k, "ignore_index");
    a->has_ii = ia && ia->type == ATTR_INT;
    a->ii = a->has_ii ? ia->i : 0;
    return ONYX_OK;
}

/* logp: the [N, C, D] log-probabilities, from a tensor (lt) or a double array (lp). */
static onyx_status loss_compute(onyx_kctx *k, const loss_args *a, const onyx_tensor *lt,
                                const double *lp)
{
    const onyx_tensor *t = a->target;
    int64_t nt = a->N * a->D;
    int64_t *tv = malloc((size_t)(nt ? nt : 1) * sizeof *tv);
    if (!tv) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    k_read_ints(t, tv, nt);
    for (int64_t i = 0; i < nt; i++) {
        if (a->has_ii && tv[i] == a->ii) continue;
        if (tv[i] < 0 || tv[i] >= a->C) {
            long long bad = (long long)tv[i];
            free(tv);
            return k_fail(k, ONYX_E_INVALID,
                          "target value %lld at flat index %lld is outside [0, %lld)", bad,
                          (long long)i, (long long)a->C);
        }
    }
    onyx_tensor *y = a->reduction == 0 ? k_output(k, 0, a->x->dtype, t->rank, t->dims)
                                       : k_output(k, 0, a->x->dtype, 0, NULL);
    if (!y) {
        free(tv);
        return k->err->code;
    }
    double total = 0, wsum = 0;
    for (int64_t nn = 0; nn < a->N; nn++) {
        for (int64_t d = 0; d < a->D; d++) {
            int64_t i = nn * a->D + d;
            double loss = 0, w = 0;
            if (!(a->has_ii && tv[i] == a->ii)) {
                int64_t e = (nn * a->C + tv[i]) * a->D + d;
                w = a->weight ? ld(a->weight, tv[i]) : 1.0;
                loss = -(lt ? ld(lt, e) : lp[e]) * w;
            }
            if (a->reduction == 0) st(y, i, loss);
            total += loss;
            wsum += w;
        }
    }
    if (a->reduction == 1) st(y, 0, total);
    else if (a->reduction == 2) st(y, 0, wsum != 0 ? total / wsum : NAN);
    free(tv);
    return ONYX_OK;
}

static onyx_status op_nll_loss(onyx_kctx *k)
{
    loss_args a;
    onyx_status s = loss_setup(k, &a, "input");
    if (s) return s;
    return loss_compute(k, &a, a.x, NULL);
}

static onyx_status op_softmax_cross_entropy(onyx_kctx *k)
{
    loss_args a;
    onyx_status s = loss_setup(k, &a, "scores");
    if (s) return s;
    int64_t numel = tensor_numel_of(a.x->rank, a.x->dims);
    double *lp = malloc((size_t)(numel ? numel : 1) * sizeof *lp);
    if (!lp) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    s = softmax_rows(k, a.x, NULL, lp, a.N, a.C, a.D, true);
    if (!s) s = loss_compute(k, &a, NULL, lp);
    if (!s && k_output_wanted(k, 1)) {
        onyx_tensor *y = k_output(k, 1, a.x->dtype, a.x->rank, a.x->dims);
        if (!y) s = k->err->code;
        for (int64_t i = 0; !s && i < numel; i++) st(y, i, lp[i]);
    }
    free(lp);
    return s;
}

const onyx_op_def onyx_ops_softmax[] = {
    {"", "Softmax", op_softmax},
    {"", "LogSoftmax", op_log_softmax},
    {"", "Hardmax", op_hardmax},
    {"", "NegativeLogLikelihoodLoss", op_nll_loss},
    {"", "SoftmaxCrossEntropyLoss", op_softmax_cross_entropy},
    {0},
};
