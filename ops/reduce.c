/* reduce.c - reductions along axes (ReduceSum ... ReduceLogSumExp), ArgMax/ArgMin,
 * CumSum and TopK.
 *
 * Floating-point reductions accumulate in double so results match numpy to well
 * under float precision. Integer reductions accumulate in 64-bit unsigned
 * arithmetic, which wraps exactly like the narrower ONNX types once stored back,
 * and never hits signed-overflow undefined behaviour. */
#include "kernel.h"
#include "hot.h"

#include <stdlib.h>

/* ---- element access for the integer paths ---- */

static int64_t load_int(const onyx_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case ONYX_INT8: return ((const int8_t *)p)[i];
    case ONYX_UINT8: return ((const uint8_t *)p)[i];
    case ONYX_BOOL: return ((const uint8_t *)p)[i] != 0;
    case ONYX_INT16: return ((const int16_t *)p)[i];
    case ONYX_UINT16: return ((const uint16_t *)p)[i];
    case ONYX_INT32: return ((const int32_t *)p)[i];
    case ONYX_UINT32: return ((const uint32_t *)p)[i];
    case ONYX_INT64: return ((const int64_t *)p)[i];
    case ONYX_UINT64: return (int64_t)((const uint64_t *)p)[i];
    default: return 0;
    }
}

/* Stores the low bits of v, i.e. wraps like a C conversion to the narrower type. */
static void store_int(onyx_tensor *t, int64_t i, uint64_t v)
{
    void *p = t->data;
    switch (t->dtype) {
    case ONYX_INT8: ((int8_t *)p)[i] = (int8_t)(uint8_t)v; break;
    case ONYX_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case ONYX_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case ONYX_INT16: ((int16_t *)p)[i] = (int16_t)(uint16_t)v; break;
    case ONYX_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case ONYX_INT32: ((int32_t *)p)[i] = (int32_t)(uint32_t)v; break;
    case ONYX_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case ONYX_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
    case ONYX_UINT64: ((uint64_t *)p)[i] = v; break;
    default: break;
    }
}

/* double -> int64 without the undefined behaviour of converting NaN/inf/huge. */
static int64_t sat_i64(double v)
{
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

/* Smallest and largest value of an integer dtype, as the bits of a uint64. */
static void int_limits(onyx_dtype t, uint64_t *lo, uint64_t *hi)
{
    switch (t) {
    case ONYX_INT8: *lo = (uint64_t)(int64_t)INT8_MIN; *hi = INT8_MAX; break;
    case ONYX_UINT8: *lo = 0; *hi = UINT8_MAX; break;
    case ONYX_BOOL: *lo = 0; *hi = 1; break;
    case ONYX_INT16: *lo = (uint64_t)(int64_t)INT16_MIN; *hi = INT16_MAX; break;
    case ONYX_UINT16: *lo = 0; *hi = UINT16_MAX; break;
    case ONYX_INT32: *lo = (uint64_t)(int64_t)INT32_MIN; *hi = INT32_MAX; break;
    case ONYX_UINT32: *lo = 0; *hi = UINT32_MAX; break;
    case ONYX_UINT64: *lo = 0; *hi = UINT64_MAX; break;
    default: *lo = (uint64_t)INT64_MIN; *hi = INT64_MAX; break;
    }
}

static bool is_numeric(onyx_dtype t)
{
    return dtype_is_float(t) || dtype_is_int(t);
}

/* Products of the dims before and after axis. Fails when one overflows, which
 * only an empty tensor can make happen. */
static onyx_status split_at(onyx_kctx *k, const onyx_tensor *x, int axis, int64_t *outer,
                            int64_t *inner)
{
    *outer = tensor_numel_of(axis, x->dims);
    *inner = tensor_numel_of(x->rank - axis - 1, x->dims + axis + 1);
    if (*outer < 0 || *inner < 0) return k_fail(k, ONYX_E_LIMIT, "input 0 dimensions overflow");
    return ONYX_OK;
}

/* ---- the reduction walk ----
 * The input shape is collapsed: size-1 dims dropped, neighbouring dims that are
 * both reduced or both kept merged. The input is then read once in memory order
 * in runs of the innermost collapsed dim; a reduced innermost run folds into one
 * accumulator, a kept one combines element-wise with a row of accumulators. */

typedef struct reduce_plan {
    int nd;
    int64_t dims[ONYX_MAX_RANK];
    bool red[ONYX_MAX_RANK];
    int64_t ostride[ONYX_MAX_RANK]; /* accumulator stride; 0 on reduced dims */
    int64_t numel;
} reduce_plan;

static void plan_reduce(reduce_plan *p, int rank, const int64_t *dims, const bool *mask)
{
    memset(p, 0, sizeof *p);
    p->numel = tensor_numel_of(rank, dims);
    if (p->numel == 0) { /* nothing to walk; merged dims could even overflow */
        p->nd = 1;
        return;
    }
    for (int d = 0; d < rank; d++) {
        if (dims[d] == 1) continue;
        if (p->nd > 0 && p->red[p->nd - 1] == mask[d]) {
            p->dims[p->nd - 1] *= dims[d];
        } else {
            p->dims[p->nd] = dims[d];
            p->red[p->nd] = mask[d];
            p->nd++;
        }
    }
    if (p->nd == 0) {
        p->nd = 1;
        p->dims[0] = 1;
    }
    int64_t s = 1;
    for (int d = p->nd - 1; d >= 0; d--) {
        p->ostride[d] = p->red[d] ? 0 : s;
        if (!p->red[d]) s *= p->dims[d];
    }
}

/* Advances the odometer over all collapsed dims but the innermost. */
static void walk_next(const reduce_plan *p, int64_t *idx, int64_t *o)
{
    for (int d = p->nd - 2; d >= 0; d--) {
        *o += p->ostride[d];
        if (++idx[d] < p->dims[d]) return;
        *o -= p->ostride[d] * p->dims[d];
        idx[d] = 0;
    }
}

typedef enum prim_kind { P_SUM, P_SUMSQ, P_ABS, P_PROD, P_MAX, P_MIN, P_SUMEXP } prim_kind;

/* NaN propagates through max/min as in numpy: once the accumulator is NaN no
 * comparison is true any more. */
#define DEFINE_FP_REDUCE(T)                                                                \
    static double fold_##T(const T *x, int64_t n, prim_kind prim, double s, double sh)     \
    {                                                                                      \
        switch (prim) {                                                                    \
        case P_SUM: for (int64_t j = 0; j < n; j++) s += x[j]; break;                      \
        case P_SUMSQ: for (int64_t j = 0; j < n; j++) s += (double)x[j] * x[j]; break;     \
        case P_ABS: for (int64_t j = 0; j < n; j++) s += fabs((double)x[j]); break;        \
        case P_PROD: for (int64_t j = 0; j < n; j++) s *= x[j]; break;                     \
        case P_MAX:                                                                        \
            for (int64_t j = 0; j < n; j++) {                                              \
                double v = x[j];                                                           \
                if (v > s || isnan(v)) s = v;                                              \
            }                                                                              \
            break;                                                                         \
        case P_MIN:                                                                        \
            for (int64_t j = 0; j < n; j++) {                                              \
                double v = x[j];                                                           \
                if (v < s || isnan(v)) s = v;                                              \
            }                                                                              \
            break;                                                                         \
        case P_SUMEXP: for (int64_t j = 0; j < n; j++) s += exp(x[j] - sh); break;         \
        }                                                                                  \
        return s;                                                                          \
    }                                                                                      \
    static void zip_##T(const T *x, int64_t n, prim_kind prim, double *a, const double *sh) \
    {                                                                                      \
        switch (prim) {                                                                    \
        case P_SUM: for (int64_t j = 0; j < n; j++) a[j] += x[j]; break;                   \
        case P_SUMSQ: for (int64_t j = 0; j < n; j++) a[j] += (double)x[j] * x[j]; break;  \
        case P_ABS: for (int64_t j = 0; j < n; j++) a[j] += fabs((double)x[j]); break;     \
        case P_PROD: for (int64_t j = 0; j < n; j++) a[j] *= x[j]; break;                  \
        case P_MAX:                                                                        \
            for (int64_t j = 0; j < n; j++) {                                              \
                double v = x[j];                                                           \
                if (v > a[j] || isnan(v)) a[j] = v;                                        \
            }                                                                              \
            break;                                                                         \
        case P_MIN:                                                                        \
            for (int64_t j = 0; j < n; j++) {                                              \
                double v = x[j];                                                           \
                if (v < a[j] || isnan(v)) a[j] = v;                                        \
            }                                                                              \
            break;                                                                         \
        case P_SUMEXP: for (int64_t j = 0; j < n; j++) a[j] += exp(x[j] - sh[j]); break;   \
        }                                                                                  \
    }                                                                                      \
    static void runs_##T(const reduce_plan *p, const T *x, prim_kind prim, const double *sh, \
                         double *acc)                                                      \
    {                                                                                      \
        int64_t inner = p->dims[p->nd - 1], idx[ONYX_MAX_RANK] = {0}, o = 0;               \
        bool fold = p->red[p->nd - 1];                                                     \
        for (int64_t base = 0; base < p->numel; base += inner, walk_next(p, idx, &o)) {    \
            if (fold)                                                                      \
                acc[o] = fold_##T(x + base, inner, prim, acc[o], sh ? sh[o] : 0);          \
            else                                                                           \
                zip_##T(x + base, inner, prim, acc + o, sh ? sh + o : NULL);               \
        }                                                                                  \
    }

DEFINE_FP_REDUCE(float)
DEFINE_FP_REDUCE(double)

/* Integer walk: values as int64 (uint64 bit patterns when is_unsigned). */
static void runs_int(const reduce_plan *p, const int64_t *x, prim_kind prim, bool is_unsigned,
                     uint64_t *acc)
{
    int64_t inner = p->dims[p->nd - 1], idx[ONYX_MAX_RANK] = {0}, o = 0;
    int64_t step = p->red[p->nd - 1] ? 0 : 1; /* accumulator advance per element */
    for (int64_t base = 0; base < p->numel; base += inner, walk_next(p, idx, &o)) {
        const int64_t *xs = x + base;
        uint64_t *a = acc + o;
        for (int64_t j = 0; j < inner; j++, a += step) {
            uint64_t u = (uint64_t)xs[j];
            switch (prim) {
            case P_SUM: *a += u; break;
            case P_SUMSQ: *a += u * u; break;
            case P_ABS: *a += xs[j] < 0 && !is_unsigned ? 0 - u : u; break;
            case P_PROD: *a *= u; break;
            case P_MAX:
                if (is_unsigned ? u > *a : xs[j] > (int64_t)*a) *a = u;
                break;
            case P_MIN:
                if (is_unsigned ? u < *a : xs[j] < (int64_t)*a) *a = u;
                break;
            case P_SUMEXP: break;
            }
        }
    }
}

typedef enum reduce_kind {
    R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ
} reduce_kind;

static prim_kind prim_of(reduce_kind kind)
{
    switch (kind) {
    case R_SUMSQ: case R_L2: return P_SUMSQ;
    case R_L1: return P_ABS;
    case R_PROD: return P_PROD;
    case R_MAX: case R_LOGSUMEXP: return P_MAX;
    case R_MIN: return P_MIN;
    default: return P_SUM;
    }
}

static double fp_identity(prim_kind prim)
{
    switch (prim) {
    case P_PROD: return 1;
    case P_MAX: return -INFINITY;
    case P_MIN: return INFINITY;
    default: return 0;
    }
}

/* Float dtypes, plus integer ReduceLogSumExp (which is inherently real-valued). */
static onyx_status reduce_fp(onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y,
                             const reduce_plan *p, reduce_kind kind, int64_t count)
{
    onyx_status st = ONYX_OK;
    const float *xf = NULL;
    const double *xd = NULL;
    void *tmp = NULL;
    double *acc = NULL, *shift = NULL;
    int64_t n = p->numel, on = tensor_numel_of(y->rank, y->dims);

    if (x->dtype == ONYX_FLOAT) {
        xf = x->data;
    } else if (x->dtype == ONYX_DOUBLE) {
        xd = x->data;
    } else if (x->dtype == ONYX_FLOAT16 || x->dtype == ONYX_BFLOAT16) {
        float *t = malloc((size_t)(n ? n : 1) * sizeof *t);
        if (!t) goto nomem;
        const uint16_t *h = x->data;
        for (int64_t i = 0; i < n; i++)
            t[i] = x->dtype == ONYX_FLOAT16 ? f16_to_f32(h[i]) : bf16_to_f32(h[i]);
        xf = tmp = t;
    } else {
        double *t = malloc((size_t)(n ? n : 1) * sizeof *t);
        if (!t) goto nomem;
        for (int64_t i = 0; i < n; i++) t[i] = (double)load_int(x, i);
        xd = tmp = t;
    }

    acc = malloc((size_t)(on ? on : 1) * sizeof *acc);
    if (!acc) goto nomem;
    prim_kind prim = prim_of(kind);
    for (int64_t o = 0; o < on; o++) acc[o] = fp_identity(prim);
    if (xf) runs_float(p, xf, prim, NULL, acc);
    else runs_double(p, xd, prim, NULL, acc);

    if (kind == R_LOGSUMEXP) {
        /* shift by the max for stability; an infinite or NaN max is the answer */
        double *mx = acc;
        shift = malloc((size_t)(on ? on : 1) * sizeof *shift);
        acc = calloc((size_t)(on ? on : 1), sizeof *acc);
        if (!shift || !acc) {
            free(mx);
            goto nomem;
        }
        for (int64_t o = 0; o < on; o++) shift[o] = isfinite(mx[o]) ? mx[o] : 0;
        if (xf) runs_float(p, xf, P_SUMEXP, shift, acc);
        else runs_double(p, xd, P_SUMEXP, shift, acc);
        for (int64_t o = 0; o < on; o++)
            acc[o] = isfinite(mx[o]) ? log(acc[o]) + mx[o] : mx[o];
        free(mx);
    }

    for (int64_t o = 0; o < on; o++) {
        double v = acc[o];
        switch (kind) {
        case R_MEAN: v = count ? v / (double)count : NAN; break;
        case R_L2: v = sqrt(v); break;
        case R_LOGSUM: v = log(v); break;
        default: break;
        }
        if (y->dtype == ONYX_FLOAT) ((float *)y->data)[o] = (float)v;
        else if (dtype_is_float(y->dtype)) k_set_f64(y, o, v);
        else store_int(y, o, (uint64_t)sat_i64(v));
    }
    goto done;
nomem:
    st = k_fail(k, ONYX_E_NOMEM, "out of memory reducing %lld elements", (long long)n);
done:
    free(tmp);
    free(acc);
    free(shift);
    return st;
}

/* ---- float32 ReduceSum / ReduceMean on the vector kernels ----
 * For collapsed plans [kept] reduced [kept]: reducing the innermost run
 * (NCHW over H, W) sums contiguous rows; keeping it (NHWC over H, W, or a
 * middle axis) adds rows of the kept run column-wise. Each output element is
 * summed by one task in a fixed order, so the split over threads does not
 * change the result. */
typedef struct fast_sum_job {
    const hot_kernels *hk;
    const float *x;
    float *y;
    int64_t outer, rows, inner; /* kept x reduced x kept */
    int64_t col_blocks;
    double scale;
} fast_sum_job;

#define FAST_SUM_COLS 256

static void fast_sum_range(void *arg, int64_t begin, int64_t end)
{
    const fast_sum_job *j = arg;
    if (j->inner == 1) {
        for (int64_t o = begin; o < end; o++)
            j->y[o] = (float)(j->hk->sum(j->x + o * j->rows, j->rows) * j->scale);
        return;
    }
    double acc[FAST_SUM_COLS];
    for (int64_t t = begin; t < end; t++) {
        const int64_t o = t / j->col_blocks, c0 = t % j->col_blocks * FAST_SUM_COLS;
        const int64_t w = j->inner - c0 < FAST_SUM_COLS ? j->inner - c0 : FAST_SUM_COLS;
        for (int64_t c = 0; c < w; c++) acc[c] = 0;
        j->hk->sum_rows(j->x + o * j->rows * j->inner + c0, j->rows, w, j->inner, acc);
        for (int64_t c = 0; c < w; c++) j->y[o * j->inner + c0 + c] = (float)(acc[c] * j->scale);
    }
}

/* True when it handled the node (float32 sum or mean of a supported plan). */
static bool reduce_sum_fast(onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y,
                            const reduce_plan *p, reduce_kind kind, int64_t count)
{
    const hot_kernels *hk = hot_kernels_native();
    if (!hk || x->dtype != ONYX_FLOAT || (kind != R_SUM && kind != R_MEAN) || p->numel <= 0) return false;
    int d = 0;
    fast_sum_job j = {.hk = hk, .x = x->data, .y = y->data, .outer = 1, .rows = 1, .inner = 1};
    if (d < p->nd && !p->red[d]) j.outer = p->dims[d++];
    if (d < p->nd && p->red[d]) j.rows = p->dims[d++];
    if (d < p->nd && !p->red[d]) j.inner = p->dims[d++];
    if (d != p->nd) return false;
    j.scale = kind == R_MEAN ? 1.0 / (double)count : 1.0;
    j.col_blocks = (j.inner + FAST_SUM_COLS - 1) / FAST_SUM_COLS;
    const int64_t tasks = j.inner == 1 ? j.outer : j.outer * j.col_blocks;
    if (p->numel < HOT_PARALLEL_MIN) fast_sum_range(&j, 0, tasks);
    else k_parallel_for(k, tasks, fast_sum_range, &j);
    return true;
}

static onyx_status reduce_int(onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y,
                              const reduce_plan *p, reduce_kind kind, int64_t count)
{
    int64_t n = p->numel, on = tensor_numel_of(y->rank, y->dims);
    const int64_t *xv = x->data;
    int64_t *tmp = NULL;
    if (x->dtype != ONYX_INT64 && x->dtype != ONYX_UINT64) {
        tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
        if (!tmp) return k_fail(k, ONYX_E_NOMEM, "out of memory reducing %lld elements",
                                (long long)n);
        for (int64_t i = 0; i < n; i++) tmp[i] = load_int(x, i);
        xv = tmp;
    }
    uint64_t *acc = malloc((size_t)(on ? on : 1) * sizeof *acc);
    if (!acc) {
        free(tmp);
        return k_fail(k, ONYX_E_NOMEM, "out of memory for %lld accumulators", (long long)on);
    }
    prim_kind prim = prim_of(kind);
    uint64_t lo, hi, init = 0;
    int_limits(x->dtype, &lo, &hi);
    if (prim == P_PROD) init = 1;
    else if (prim == P_MAX) init = lo;
    else if (prim == P_MIN) init = hi;
    for (int64_t o = 0; o < on; o++) acc[o] = init;
    bool is_unsigned = x->dtype == ONYX_UINT64;
    runs_int(p, xv, prim, is_unsigned, acc);

    for (int64_t o = 0; o < on; o++) {
        uint64_t v = acc[o];
        switch (kind) {
        case R_MEAN:
            /* numpy's mean with an integer dtype truncates the quotient */
            if (count == 0) v = 0;
            else if (is_unsigned) v /= (uint64_t)count;
            else v = (uint64_t)((int64_t)v / count);
            break;
        case R_L2:
            v = (uint64_t)sat_i64(sqrt(is_unsigned ? (double)v : (double)(int64_t)v));
            break;
        case R_LOGSUM:
            v = (uint64_t)sat_i64(log(is_unsigned ? (double)v : (double)(int64_t)v));
            break;
        default: break;
        }
        store_int(y, o, v);
    }
    free(tmp);
    free(acc);
    return ONYX_OK;
}

/* Marks the reduced axes. *noop is set when the node is an identity
 * (noop_with_empty_axes with no axes). Without axes everything is reduced. */
static onyx_status reduce_axes(onyx_kctx *k, const onyx_tensor *x, bool axes_input, bool *mask,
                               bool *noop)
{
    int64_t axes[ONYX_MAX_RANK];
    int64_t n = 0;
    *noop = false;
    if (axes_input) {
        const onyx_tensor *a = k_input(k, 1);
        if (a) {
            if (a->kind != ONYX_KIND_TENSOR || (a->dtype != ONYX_INT64 && a->dtype != ONYX_INT32))
                return k_fail(k, ONYX_E_INVALID, "input 1 (axes) must be an int64 tensor");
            if (a->rank > 1)
                return k_fail(k, ONYX_E_SHAPE, "input 1 (axes) must be 1-D, has rank %d",
                              a->rank);
            n = k_read_ints(a, axes, x->rank);
            if (n < 0)
                return k_fail(k, ONYX_E_INVALID,
                              "input 1 (axes) has %lld entries for a rank-%d input",
                              (long long)tensor_numel_of(a->rank, a->dims), x->rank);
        }
    } else {
        const int64_t *av;
        int c = k_attr_ints(k, "axes", &av);
        if (c > x->rank)
            return k_fail(k, ONYX_E_INVALID, "attribute axes has %d entries for a rank-%d input",
                          c, x->rank);
        for (int i = 0; i < c; i++) axes[i] = av[i];
        n = c > 0 ? c : 0;
    }
    if (n == 0) {
        *noop = axes_input && k_attr_int(k, "noop_with_empty_axes", 0) != 0;
        for (int d = 0; d < x->rank; d++) mask[d] = true;
        return ONYX_OK;
    }
    for (int d = 0; d < x->rank; d++) mask[d] = false;
    for (int64_t i = 0; i < n; i++) {
        int ax;
        if (!k_axis(axes[i], x->rank, &ax))
            return k_fail(k, ONYX_E_INVALID, "axes[%lld] = %lld is out of range for rank %d",
                          (long long)i, (long long)axes[i], x->rank);
        if (mask[ax])
            return k_fail(k, ONYX_E_INVALID, "axes[%lld] = %lld repeats axis %d", (long long)i,
                          (long long)axes[i], ax);
        mask[ax] = true;
    }
    return ONYX_OK;
}

static onyx_status run_reduce(onyx_kctx *k, reduce_kind kind, int axes_input_since)
{
    const onyx_tensor *x = k_input(k, 0);
    if (!x || x->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input 0 (data) must be a tensor");
    bool bool_ok = kind == R_MAX || kind == R_MIN;
    if (!is_numeric(x->dtype) && !(bool_ok && x->dtype == ONYX_BOOL))
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 0 (data) has unsupported type %s",
                      onyx_dtype_name(x->dtype));

    bool mask[ONYX_MAX_RANK], noop;
    onyx_status st = reduce_axes(k, x, k->opset >= axes_input_since, mask, &noop);
    if (st) return st;
    if (noop) {
        onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
        if (!y) return k->err->code;
        if (x->nbytes) memcpy(y->data, x->data, x->nbytes);
        return ONYX_OK;
    }

    bool keepdims = k_attr_int(k, "keepdims", 1) != 0;
    int64_t odims[ONYX_MAX_RANK], rdims[ONYX_MAX_RANK];
    int orank = 0, nr = 0;
    for (int d = 0; d < x->rank; d++) {
        if (mask[d]) rdims[nr++] = x->dims[d];
        if (!mask[d]) odims[orank++] = x->dims[d];
        else if (keepdims) odims[orank++] = 1;
    }
    int64_t count = tensor_numel_of(nr, rdims);
    if (count < 0) return k_fail(k, ONYX_E_LIMIT, "reduced element count overflows");
    onyx_tensor *y = k_output(k, 0, x->dtype, orank, odims);
    if (!y) return k->err->code;

    reduce_plan p;
    plan_reduce(&p, x->rank, x->dims, mask);
    if (reduce_sum_fast(k, x, y, &p, kind, count)) return ONYX_OK;
    if (dtype_is_float(x->dtype) || kind == R_LOGSUMEXP)
        return reduce_fp(k, x, y, &p, kind, count);
    return reduce_int(k, x, y, &p, kind, count);
}

static onyx_status op_reduce_sum(onyx_kctx *k) { return run_reduce(k, R_SUM, 13); }
static onyx_status op_reduce_mean(onyx_kctx *k) { return run_reduce(k, R_MEAN, 18); }
static onyx_status op_reduce_max(onyx_kctx *k) { return run_reduce(k, R_MAX, 18); }
static onyx_status op_reduce_min(onyx_kctx *k) { return run_reduce(k, R_MIN, 18); }
static onyx_status op_reduce_prod(onyx_kctx *k) { return run_reduce(k, R_PROD, 18); }
static onyx_status op_reduce_l1(onyx_kctx *k) { return run_reduce(k, R_L1, 18); }
static onyx_status op_reduce_l2(onyx_kctx *k) { return run_reduce(k, R_L2, 18); }
static onyx_status op_reduce_log_sum(onyx_kctx *k) { return run_reduce(k, R_LOGSUM, 18); }
static onyx_status op_reduce_log_sum_exp(onyx_kctx *k) { return run_reduce(k, R_LOGSUMEXP, 18); }
static onyx_status op_reduce_sum_square(onyx_kctx *k) { return run_reduce(k, R_SUMSQ, 18); }

/* ---- ArgMax / ArgMin ----
 * Scans the axis in memory order with a row of best indices, so a non-innermost
 * axis still reads contiguously. The first NaN wins, as with numpy.argmax; with
 * select_last_index the scan runs backwards, so strict comparisons keep the last
 * of equal values. */

#define DEFINE_ARG(NAME, T, KEY, LOAD)                                                     \
    static void NAME(const void *data, int64_t outer, int64_t n, int64_t inner, bool is_max, \
                     bool last, int64_t *out)                                              \
    {                                                                                      \
        const T *x = data;                                                                 \
        for (int64_t o = 0; o < outer; o++) {                                              \
            const T *xs = x + o * n * inner;                                               \
            int64_t *best = out + o * inner;                                               \
            for (int64_t i = 0; i < inner; i++) best[i] = last ? n - 1 : 0;               \
            for (int64_t s = 1; s < n; s++) {                                              \
                int64_t j = last ? n - 1 - s : s;                                          \
                for (int64_t i = 0; i < inner; i++) {                                      \
                    KEY v = LOAD(xs[j * inner + i]), b = LOAD(xs[best[i] * inner + i]);    \
                    if (isnan((double)b)) continue;                                        \
                    if (isnan((double)v) || (is_max ? v > b : v < b)) best[i] = j;         \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

#define LD_SAME(v) (v)
#define LD_F16(v) f16_to_f32(v)
#define LD_BF16(v) bf16_to_f32(v)
DEFINE_ARG(arg_f32, float, float, LD_SAME)
DEFINE_ARG(arg_f64, double, double, LD_SAME)
DEFINE_ARG(arg_f16, uint16_t, float, LD_F16)
DEFINE_ARG(arg_bf16, uint16_t, float, LD_BF16)
DEFINE_ARG(arg_i8, int8_t, int64_t, LD_SAME)
DEFINE_ARG(arg_u8, uint8_t, int64_t, LD_SAME)
DEFINE_ARG(arg_i16, int16_t, int64_t, LD_SAME)
DEFINE_ARG(arg_u16, uint16_t, int64_t, LD_SAME)
DEFINE_ARG(arg_i32, int32_t, int64_t, LD_SAME)
DEFINE_ARG(arg_u32, uint32_t, int64_t, LD_SAME)
DEFINE_ARG(arg_i64, int64_t, int64_t, LD_SAME)
DEFINE_ARG(arg_u64, uint64_t, uint64_t, LD_SAME)

static onyx_status run_arg(onyx_kctx *k, bool is_max)
{
    const onyx_tensor *x = k_input(k, 0);
    if (!x || x->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input 0 (data) must be a tensor");
    void (*fn)(const void *, int64_t, int64_t, int64_t, bool, bool, int64_t *);
    switch (x->dtype) {
    case ONYX_FLOAT: fn = arg_f32; break;
    case ONYX_DOUBLE: fn = arg_f64; break;
    case ONYX_FLOAT16: fn = arg_f16; break;
    case ONYX_BFLOAT16: fn = arg_bf16; break;
    case ONYX_INT8: fn = arg_i8; break;
    case ONYX_UINT8: case ONYX_BOOL: fn = arg_u8; break;
    case ONYX_INT16: fn = arg_i16; break;
    case ONYX_UINT16: fn = arg_u16; break;
    case ONYX_INT32: fn = arg_i32; break;
    case ONYX_UINT32: fn = arg_u32; break;
    case ONYX_INT64: fn = arg_i64; break;
    case ONYX_UINT64: fn = arg_u64; break;
    default:
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 0 (data) has unsupported type %s",
                      onyx_dtype_name(x->dtype));
    }
    int64_t axis_attr = k_attr_int(k, "axis", 0);
    int axis;
    if (!k_axis(axis_attr, x->rank, &axis))
        return k_fail(k, ONYX_E_INVALID, "attribute axis = %lld is out of range for rank %d",
                      (long long)axis_attr, x->rank);
    bool keepdims = k_attr_int(k, "keepdims", 1) != 0;
    bool last = k_attr_int(k, "select_last_index", 0) != 0;

    int64_t odims[ONYX_MAX_RANK], outer, inner, n = x->dims[axis];
    onyx_status st = split_at(k, x, axis, &outer, &inner);
    if (st) return st;
    int orank = 0;
    for (int d = 0; d < x->rank; d++) {
        if (d != axis) odims[orank++] = x->dims[d];
        else if (keepdims) odims[orank++] = 1;
    }
    if (n == 0 && outer != 0 && inner != 0)
        return k_fail(k, ONYX_E_SHAPE, "%s over axis %d of size 0 has no answer",
                      is_max ? "ArgMax" : "ArgMin", axis);
    onyx_tensor *y = k_output(k, 0, ONYX_INT64, orank, odims);
    if (!y) return k->err->code;
    if (tensor_numel_of(x->rank, x->dims) == 0) return ONYX_OK;
    fn(x->data, outer, n, inner, is_max, last, y->data);
    return ONYX_OK;
}

static onyx_status op_argmax(onyx_kctx *k) { return run_arg(k, true); }
static onyx_status op_argmin(onyx_kctx *k) { return run_arg(k, false); }

/* ---- CumSum ---- */

static onyx_status op_cumsum(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0);
    if (!x || x->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input 0 (x) must be a tensor");
    if (!is_numeric(x->dtype))
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 0 (x) has unsupported type %s",
                      onyx_dtype_name(x->dtype));
    onyx_status st = k_require(k, 1, ONYX_INT32, ONYX_INT64, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *at = k_input(k, 1);
    int64_t axis_v;
    if (at->rank > 1 || k_read_ints(at, &axis_v, 1) != 1)
        return k_fail(k, ONYX_E_SHAPE, "input 1 (axis) must be a scalar");
    int axis;
    if (!k_axis(axis_v, x->rank, &axis))
        return k_fail(k, ONYX_E_INVALID, "input 1 (axis) = %lld is out of range for rank %d",
                      (long long)axis_v, x->rank);
    bool exclusive = k_attr_int(k, "exclusive", 0) != 0;
    bool reverse = k_attr_int(k, "reverse", 0) != 0;

    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    int64_t outer, inner, n = x->dims[axis];
    if ((st = split_at(k, x, axis, &outer, &inner))) return st;
    if (tensor_numel_of(x->rank, x->dims) == 0) return ONYX_OK;

    bool fp = dtype_is_float(x->dtype);
    double *run = fp ? malloc((size_t)inner * sizeof *run) : NULL;
    uint64_t *irun = fp ? NULL : malloc((size_t)inner * sizeof *irun);
    if (!run && !irun) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    const float *xf = x->data;
    float *yf = y->data;
    bool f32 = x->dtype == ONYX_FLOAT;
    for (int64_t o = 0; o < outer; o++) {
        if (fp) memset(run, 0, (size_t)inner * sizeof *run);
        else memset(irun, 0, (size_t)inner * sizeof *irun);
        for (int64_t s = 0; s < n; s++) {
            int64_t j = reverse ? n - 1 - s : s;
            int64_t base = (o * n + j) * inner;
            for (int64_t i = 0; i < inner; i++) {
                int64_t e = base + i;
                if (f32) {
                    double v = xf[e];
                    if (!exclusive) run[i] += v;
                    yf[e] = (float)run[i];
                    if (exclusive) run[i] += v;
                } else if (fp) {
                    double v = k_get_f64(x, e);
                    if (!exclusive) run[i] += v;
                    k_set_f64(y, e, run[i]);
                    if (exclusive) run[i] += v;
                } else {
                    uint64_t v = (uint64_t)load_int(x, e);
                    if (!exclusive) irun[i] += v;
                    store_int(y, e, irun[i]);
                    if (exclusive) irun[i] += v;
                }
            }
        }
    }
    free(run);
    free(irun);
    return ONYX_OK;
}

/* ---- TopK ----
 * Elements are sorted by a uint64 key whose unsigned order is the numeric order:
 * NaN ranks above +inf (numpy's sort order) and -0 equals +0, so equal values
 * fall back to the index and the lower index comes first, as the spec asks. */

typedef struct topk_item {
    uint64_t key;
    int64_t idx;
} topk_item;

static uint64_t sort_key(const onyx_tensor *t, int64_t i)
{
    if (dtype_is_float(t->dtype)) {
        double d = k_get_f64(t, i);
        if (isnan(d)) return UINT64_MAX;
        if (d == 0) d = 0; /* -0 -> +0 */
        uint64_t u;
        memcpy(&u, &d, sizeof u);
        return u >> 63 ? ~u : u | (UINT64_C(1) << 63);
    }
    uint64_t u = (uint64_t)load_int(t, i);
    return t->dtype == ONYX_UINT64 ? u : u ^ (UINT64_C(1) << 63);
}

static int cmp_largest(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    if (a->key != b->key) return a->key > b->key ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static int cmp_smallest(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

static onyx_status op_topk(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0);
    if (!x || x->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input 0 (X) must be a tensor");
    if (!is_numeric(x->dtype))
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 0 (X) has unsupported type %s",
                      onyx_dtype_name(x->dtype));
    int64_t kk;
    if (k->opset < 10) {
        const onyx_attr *a = k_attr(k, "k");
        if (!a || a->type != ATTR_INT)
            return k_fail(k, ONYX_E_INVALID, "attribute k is required");
        kk = a->i;
    } else {
        onyx_status st = k_require(k, 1, ONYX_INT64, ONYX_INT32, ONYX_UNDEFINED);
        if (st) return st;
        const onyx_tensor *kt = k_input(k, 1);
        if (kt->rank > 1 || k_read_ints(kt, &kk, 1) != 1)
            return k_fail(k, ONYX_E_SHAPE, "input 1 (K) must hold exactly one value");
    }
    int64_t axis_attr = k_attr_int(k, "axis", -1);
    int axis;
    if (!k_axis(axis_attr, x->rank, &axis))
        return k_fail(k, ONYX_E_INVALID, "attribute axis = %lld is out of range for rank %d",
                      (long long)axis_attr, x->rank);
    int64_t n = x->dims[axis];
    if (kk < 0 || kk > n)
        return k_fail(k, ONYX_E_INVALID, "K = %lld is outside [0, %lld] (size of axis %d)",
                      (long long)kk, (long long)n, axis);
    bool largest = k_attr_int(k, "largest", 1) != 0;

    int64_t dims[ONYX_MAX_RANK], outer, inner;
    onyx_status st = split_at(k, x, axis, &outer, &inner);
    if (st) return st;
    for (int d = 0; d < x->rank; d++) dims[d] = d == axis ? kk : x->dims[d];
    onyx_tensor *vals = k_output(k, 0, x->dtype, x->rank, dims);
    if (!vals) return k->err->code;
    onyx_tensor *idxs = k_output(k, 1, ONYX_INT64, x->rank, dims);
    if (!idxs) return k->err->code;
    if (tensor_numel_of(x->rank, dims) == 0) return ONYX_OK;

    topk_item *items = malloc((size_t)n * sizeof *items);
    if (!items) return k_fail(k, ONYX_E_NOMEM, "out of memory sorting %lld elements",
                              (long long)n);
    size_t es = onyx_dtype_size(x->dtype);
    const char *src = x->data;
    char *dst = vals->data;
    int64_t *io = idxs->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            for (int64_t j = 0; j < n; j++) {
                items[j].key = sort_key(x, base + j * inner);
                items[j].idx = j;
            }
            qsort(items, (size_t)n, sizeof *items, largest ? cmp_largest : cmp_smallest);
            for (int64_t j = 0; j < kk; j++) {
                int64_t oe = (o * kk + j) * inner + i;
                memcpy(dst + (size_t)oe * es, src + (size_t)(base + items[j].idx * inner) * es, es);
                io[oe] = items[j].idx;
            }
        }
    }
    free(items);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_reduce[] = {
    {"", "ReduceSum", op_reduce_sum},
    {"", "ReduceMean", op_reduce_mean},
    {"", "ReduceMax", op_reduce_max},
    {"", "ReduceMin", op_reduce_min},
    {"", "ReduceProd", op_reduce_prod},
    {"", "ReduceL1", op_reduce_l1},
    {"", "ReduceL2", op_reduce_l2},
    {"", "ReduceLogSum", op_reduce_log_sum},
    {"", "ReduceLogSumExp", op_reduce_log_sum_exp},
    {"", "ReduceSumSquare", op_reduce_sum_square},
    {"", "ArgMax", op_argmax},
    {"", "ArgMin", op_argmin},
    {"", "CumSum", op_cumsum},
    {"", "TopK", op_topk},
    {0},
};
