/* pool.c - pooling: MaxPool, AveragePool, LpPool, GlobalMaxPool,
 * GlobalAveragePool, GlobalLpPool, MaxUnpool, MaxRoiPool.
 *
 * Reference kernels. Each (n, c) plane is loaded into a double buffer, so one
 * code path serves every element type exactly (int8, uint8, float16, bfloat16
 * and float all convert to double without loss) and averages are summed in
 * double. Windows are walked from per-axis valid ranges, so padding costs
 * nothing and never reads out of bounds.
 */
#include "hot.h"
#include "pool.h"

#include <float.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Kernel, stride, dilation and pad attributes above this are rejected so that
 * products of them with tensor dims cannot overflow int64. */
#define ATTR_MAX ((int64_t)1 << 24)

typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_LP } pool_kind;


static void *alloc_n(int64_t n, size_t size)
{
    return malloc(n > 0 ? (size_t)n * size : 1);
}

static onyx_status nomem(onyx_kctx *k)
{
    return k_fail(k, ONYX_E_NOMEM, "out of memory for scratch buffers");
}

/* An INTS attribute of exactly n values in [lo, ATTR_MAX]; def fills it when absent
 * or empty (def < 0: the attribute is required). */
static onyx_status ints_attr(onyx_kctx *k, const char *name, int n, int64_t def, int64_t lo,
                             int64_t *out)
{
    const int64_t *v;
    int cnt = k_attr_ints(k, name, &v);
    if (cnt <= 0) {
        if (def < 0) return k_fail(k, ONYX_E_INVALID, "attribute %s is required", name);
        for (int i = 0; i < n; i++) out[i] = def;
        return ONYX_OK;
    }
    if (cnt != n)
        return k_fail(k, ONYX_E_INVALID, "attribute %s has %d values, expected %d", name, cnt, n);
    for (int i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > ATTR_MAX)
            return k_fail(k, ONYX_E_INVALID, "attribute %s[%d] = %lld is out of range [%lld, %lld]",
                          name, i, (long long)v[i], (long long)lo, (long long)ATTR_MAX);
        out[i] = v[i];
    }
    return ONYX_OK;
}

static onyx_status check_rank(onyx_kctx *k, const onyx_tensor *x, int min_rank)
{
    if (x->rank < min_rank)
        return k_fail(k, ONYX_E_SHAPE, "input 0 (X) must have rank >= %d (N x C x D1...), got %d",
                      min_rank, x->rank);
    return ONYX_OK;
}

/* Reads kernel_shape, strides, pads, dilations, auto_pad and ceil_mode and
 * computes the output geometry for X. */
static onyx_status pool_setup(onyx_kctx *k, const onyx_tensor *x, pool_geom *g)
{
    onyx_status st = check_rank(k, x, 3);
    return st ? st : pool_window_setup(k, x->rank - 2, x->dims + 2, g);
}

onyx_status pool_window_setup(onyx_kctx *k, int nsp, const int64_t *in_dims, pool_geom *g)
{
    onyx_status st;
    int64_t pads[2 * MAXSP];
    g->nsp = nsp;
    if ((st = ints_attr(k, "kernel_shape", nsp, -1, 1, g->k)) ||
        (st = ints_attr(k, "strides", nsp, 1, 1, g->s)) ||
        (st = ints_attr(k, "dilations", nsp, 1, 1, g->d)) ||
        (st = ints_attr(k, "pads", 2 * nsp, 0, 0, pads)))
        return st;
    const char *ap = k_attr_string(k, "auto_pad", "NOTSET");
    bool same_upper = strcmp(ap, "SAME_UPPER") == 0, same_lower = strcmp(ap, "SAME_LOWER") == 0;
    bool valid = strcmp(ap, "VALID") == 0;
    if (!same_upper && !same_lower && !valid && strcmp(ap, "NOTSET") != 0 && ap[0] != 0)
        return k_fail(k, ONYX_E_INVALID,
                      "attribute auto_pad is '%s' (expected NOTSET, SAME_UPPER, SAME_LOWER or VALID)",
                      ap);
    int64_t ceil_mode = k_attr_int(k, "ceil_mode", 0);
    if (ceil_mode != 0 && ceil_mode != 1)
        return k_fail(k, ONYX_E_INVALID, "attribute ceil_mode = %lld must be 0 or 1",
                      (long long)ceil_mode);
    g->max_window = 1;
    for (int a = 0; a < nsp; a++) {
        int64_t in = in_dims[a], s = g->s[a];
        int64_t dk = (g->k[a] - 1) * g->d[a] + 1;
        g->in[a] = in;
        if (same_upper || same_lower) {
            int64_t out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + dk - in;
            if (total < 0) total = 0;
            g->pb[a] = same_upper ? total / 2 : total - total / 2;
            g->pe[a] = total - g->pb[a];
            g->out[a] = out;
        } else {
            g->pb[a] = valid ? 0 : pads[a];
            g->pe[a] = valid ? 0 : pads[nsp + a];
            int64_t span = in + g->pb[a] + g->pe[a] - dk;
            if (span < 0)
                return k_fail(k, ONYX_E_SHAPE,
                              "axis %d: input size %lld with pads %lld+%lld is smaller than the "
                              "dilated kernel %lld",
                              2 + a, (long long)in, (long long)g->pb[a], (long long)g->pe[a],
                              (long long)dk);
            int64_t out = (ceil_mode ? span + s - 1 : span) / s + 1;
            /* with ceil_mode a last window starting in the right padding is dropped */
            if (ceil_mode && (out - 1) * s >= in + g->pb[a]) out--;
            g->out[a] = out;
        }
        /* a window covers at most min(k, in) elements per axis */
        g->max_window *= g->k[a] < in ? g->k[a] : in;
    }
    g->in_sz = tensor_numel_of(nsp, g->in);
    g->out_sz = tensor_numel_of(nsp, g->out);
    if (g->in_sz < 0 || g->out_sz < 0) return k_fail(k, ONYX_E_LIMIT, "spatial size overflows");
    if (g->max_window > g->in_sz) g->max_window = g->in_sz;
    return ONYX_OK;
}

/* ---- planes in double ---- */

static void load_plane(const onyx_tensor *t, int64_t off, int64_t n, double *dst)
{
    const void *p = t->data;
    int64_t i;
    switch (t->dtype) {
    case ONYX_FLOAT:
        for (i = 0; i < n; i++) dst[i] = ((const float *)p)[off + i];
        break;
    case ONYX_DOUBLE:
        memcpy(dst, (const double *)p + off, (size_t)n * sizeof(double));
        break;
    case ONYX_FLOAT16:
        for (i = 0; i < n; i++) dst[i] = f16_to_f32(((const uint16_t *)p)[off + i]);
        break;
    case ONYX_UINT8:
        for (i = 0; i < n; i++) dst[i] = ((const uint8_t *)p)[off + i];
        break;
    case ONYX_INT8:
        for (i = 0; i < n; i++) dst[i] = ((const int8_t *)p)[off + i];
        break;
    default:
        for (i = 0; i < n; i++) dst[i] = k_get_f64(t, off + i);
        break;
    }
}

static void store_plane(onyx_tensor *t, int64_t off, int64_t n, const double *src)
{
    void *p = t->data;
    int64_t i;
    switch (t->dtype) {
    case ONYX_FLOAT:
        for (i = 0; i < n; i++) ((float *)p)[off + i] = (float)src[i];
        break;
    case ONYX_DOUBLE:
        memcpy((double *)p + off, src, (size_t)n * sizeof(double));
        break;
    default:
        for (i = 0; i < n; i++) k_set_f64(t, off + i, src[i]);
        break;
    }
}

/* What MaxPool yields for a window with no (non-NaN) element: the dtype's
 * lowest value, as ONNX Runtime does. */
static double lowest_of(onyx_dtype dt)
{
    switch (dt) {
    case ONYX_DOUBLE: return -DBL_MAX;
    case ONYX_FLOAT16: return -65504.0;
    case ONYX_BFLOAT16: return -3.3895313892515355e38;
    case ONYX_INT8: return -128.0;
    case ONYX_UINT8: return 0.0;
    default: return -FLT_MAX;
    }
}

typedef struct pool_op {
    pool_kind kind;
    bool include_pad; /* AveragePool count_include_pad */
    double p;         /* LpPool */
    double empty;     /* MaxPool result of an empty window */
} pool_op;

/* Where the window at one output coordinate falls along one axis: kernel taps
 * [lo, hi) land inside the input, starting at input coordinate st; the first
 * `padded` taps lie before the end of the right padding. */
typedef struct axis_win {
    int64_t st, lo, hi, padded;
} axis_win;

/* win[a] gets g->out[a] entries for axis a. */
static void axis_windows(const pool_geom *g, axis_win **win)
{
    for (int a = 0; a < g->nsp; a++) {
        int64_t d = g->d[a], in = g->in[a], end = g->in[a] + g->pe[a];
        for (int64_t o = 0; o < g->out[a]; o++) {
            axis_win *w = &win[a][o];
            w->st = o * g->s[a] - g->pb[a];
            w->lo = w->st < 0 ? (-w->st + d - 1) / d : 0;
            w->hi = in - w->st <= 0 ? 0 : (in - w->st + d - 1) / d;
            w->padded = end - w->st <= 0 ? 0 : (end - w->st + d - 1) / d;
            if (w->hi > g->k[a]) w->hi = g->k[a];
            if (w->padded > g->k[a]) w->padded = g->k[a];
            if (w->lo > w->hi) w->lo = w->hi;
        }
    }
}

/* Pools one plane x (g->in) into y (g->out). offs has room for g->max_window
 * offsets; arg (MaxPool, optional) receives each maximum's offset in the plane. */
static void pool_plane(const pool_geom *g, axis_win *const *win, const pool_op *op,
                       const double *x, double *y, int64_t *arg, int64_t *offs)
{
    int nsp = g->nsp;
    int64_t oc[MAXSP] = {0}, ic[MAXSP], stride[MAXSP];
    stride[nsp - 1] = 1;
    for (int a = nsp - 2; a >= 0; a--) stride[a] = stride[a + 1] * g->in[a + 1];
    for (int64_t j = 0; j < g->out_sz; j++) {
        const axis_win *w[MAXSP];
        double with_pad = 1;
        bool any = true;
        for (int a = 0; a < nsp; a++) {
            w[a] = &win[a][oc[a]];
            if (w[a]->hi == w[a]->lo) any = false;
            with_pad *= (double)w[a]->padded;
        }
        int64_t n = 0;
        if (any) {
            for (int a = 0; a < nsp; a++) ic[a] = w[a]->lo;
            int last = nsp - 1;
            int64_t dl = g->d[last];
            for (;;) {
                int64_t off = 0;
                for (int a = 0; a < last; a++) off += (w[a]->st + ic[a] * g->d[a]) * stride[a];
                off += w[last]->st;
                for (int64_t i = w[last]->lo; i < w[last]->hi; i++) offs[n++] = off + i * dl;
                int a = last - 1;
                while (a >= 0 && ++ic[a] == w[a]->hi) {
                    ic[a] = w[a]->lo;
                    a--;
                }
                if (a < 0) break;
            }
        }
        if (op->kind == POOL_MAX) {
            double best = op->empty;
            int64_t best_at = -1;
            for (int64_t i = 0; i < n; i++) {
                double v = x[offs[i]];
                if (best_at < 0 ? !isnan(v) : v > best) {
                    best = v;
                    best_at = offs[i];
                }
            }
            y[j] = best;
            if (arg) arg[j] = best_at;
        } else if (op->kind == POOL_AVG) {
            double sum = 0;
            for (int64_t i = 0; i < n; i++) sum += x[offs[i]];
            double count = op->include_pad ? with_pad : (double)n;
            y[j] = count > 0 ? sum / count : NAN;
        } else {
            double sum = 0;
            for (int64_t i = 0; i < n; i++) {
                double v = fabs(x[offs[i]]);
                sum += op->p == 2 ? v * v : op->p == 1 ? v : pow(v, op->p);
            }
            y[j] = op->p == 2 ? sqrt(sum) : op->p == 1 ? sum : pow(sum, 1.0 / op->p);
        }
        for (int a = nsp - 1; a >= 0; a--) {
            if (++oc[a] < g->out[a]) break;
            oc[a] = 0;
        }
    }
}

/* Runs op over every plane of x into y (and MaxPool's indices into idx, if
 * wanted, flattened over N x C x D1.. in row-major or, with storage_order 1,
 * column-major spatial order). */
static onyx_status pool_run(onyx_kctx *k, const pool_geom *g, const pool_op *op,
                            const onyx_tensor *x, onyx_tensor *y, onyx_tensor *idx,
                            bool col_major)
{
    int64_t planes = x->dims[0] * x->dims[1], n_win = 0, at = 0;
    for (int a = 0; a < g->nsp; a++) n_win += g->out[a];
    double *xin = alloc_n(g->in_sz, sizeof(double));
    double *yout = alloc_n(g->out_sz, sizeof(double));
    int64_t *offs = alloc_n(g->max_window, sizeof(int64_t));
    int64_t *arg = idx ? alloc_n(g->out_sz, sizeof(int64_t)) : NULL;
    axis_win *wins = alloc_n(n_win, sizeof(axis_win)), *win[MAXSP];
    onyx_status st = ONYX_OK;
    if (!xin || !yout || !offs || (idx && !arg) || !wins) {
        st = nomem(k);
        goto done;
    }
    for (int a = 0; a < g->nsp; a++) {
        win[a] = wins + at;
        at += g->out[a];
    }
    axis_windows(g, win);
    for (int64_t pl = 0; pl < planes; pl++) {
        load_plane(x, pl * g->in_sz, g->in_sz, xin);
        pool_plane(g, win, op, xin, yout, arg, offs);
        store_plane(y, pl * g->out_sz, g->out_sz, yout);
        if (!idx) continue;
        int64_t *ix = (int64_t *)idx->data + pl * g->out_sz;
        for (int64_t j = 0; j < g->out_sz; j++) {
            int64_t p = arg[j];
            if (p < 0) {
                ix[j] = -1;
                continue;
            }
            if (col_major) {
                /* row-major plane offset -> coordinates -> column-major offset */
                int64_t q = 0, mul = 1, rest = p, coord[MAXSP];
                for (int a = g->nsp - 1; a >= 0; a--) {
                    coord[a] = rest % g->in[a];
                    rest /= g->in[a];
                }
                for (int a = 0; a < g->nsp; a++) {
                    q += coord[a] * mul;
                    mul *= g->in[a];
                }
                p = q;
            }
            ix[j] = pl * g->in_sz + p;
        }
    }
done:
    free(xin);
    free(yout);
    free(offs);
    free(arg);
    free(wins);
    return st;
}

/* ---- float32 2-D MaxPool / AveragePool (dilation 1) ----
 * Per output row, the window's input rows are combined into one row with the
 * vectorized fmax/add kernels of ops/hot.h (fmax skips NaN like the
 * reference), then each output takes its columns from that row. Planes are
 * spread over the threads. */
typedef struct pool2d_job {
    const hot_kernels *hk;
    const pool_geom *g;
    axis_win *const *win;
    const pool_op *op;
    const float *x;
    float *y;
    atomic_bool out_of_memory;
} pool2d_job;

static void pool2d_range(void *arg, int64_t begin, int64_t end)
{
    pool2d_job *j = arg;
    const pool_geom *g = j->g;
    const int64_t H = g->in[0], W = g->in[1], OH = g->out[0], OW = g->out[1];
    const bool is_max = j->op->kind == POOL_MAX;
    const hot_binary_fn combine = j->hk->binary[is_max ? HOT_FMAX : HOT_ADD];
    float *row = malloc((size_t)W * sizeof *row);
    if (!row) {
        atomic_store(&j->out_of_memory, true);
        return;
    }
    for (int64_t pl = begin; pl < end; pl++) {
        const float *xp = j->x + pl * H * W;
        float *yp = j->y + pl * OH * OW;
        for (int64_t oy = 0; oy < OH; oy++) {
            const axis_win *wy = &j->win[0][oy];
            const int64_t ny = wy->hi - wy->lo;
            if (ny > 0) {
                memcpy(row, xp + (wy->st + wy->lo) * W, (size_t)W * sizeof *row);
                for (int64_t r = wy->lo + 1; r < wy->hi; r++)
                    combine(xp + (wy->st + r) * W, 1, row, 1, row, W);
            }
            for (int64_t ox = 0; ox < OW; ox++) {
                const axis_win *wx = &j->win[1][ox];
                const float *a = row + wx->st;
                const int64_t lo = ny > 0 ? wx->lo : 0, hi = ny > 0 ? wx->hi : 0;
                if (is_max) {
                    float best = (float)j->op->empty;
                    bool seen = false;
                    for (int64_t i = lo; i < hi; i++) {
                        if (seen ? a[i] > best : !isnan(a[i])) best = a[i];
                        if (!isnan(a[i])) seen = true;
                    }
                    yp[oy * OW + ox] = best;
                } else {
                    float s = 0;
                    for (int64_t i = lo; i < hi; i++) s += a[i];
                    double count = j->op->include_pad ? (double)(wy->padded * wx->padded)
                                                      : (double)(ny * (hi - lo));
                    yp[oy * OW + ox] = count > 0 ? (float)(s / count) : NAN;
                }
            }
        }
    }
    free(row);
}

/* true when the fast path ran (or failed with the error set in *st) */
static bool pool2d_fast(onyx_kctx *k, const pool_geom *g, const pool_op *op,
                        const onyx_tensor *x, onyx_tensor *y, onyx_status *st)
{
    const hot_kernels *hk = hot_kernels_native();
    if (!hk || x->dtype != ONYX_FLOAT || g->nsp != 2 || g->d[0] != 1 || g->d[1] != 1 ||
        op->kind == POOL_LP)
        return false;
    axis_win *wins = alloc_n(g->out[0] + g->out[1], sizeof(axis_win));
    if (!wins) {
        *st = nomem(k);
        return true;
    }
    axis_win *win[MAXSP] = {wins, wins + g->out[0]};
    axis_windows(g, win);
    pool2d_job j = {hk, g, win, op, x->data, y->data, false};
    const int64_t planes = x->dims[0] * x->dims[1];
    if (planes * g->in_sz < HOT_PARALLEL_MIN) pool2d_range(&j, 0, planes);
    else k_parallel_for(k, planes, pool2d_range, &j);
    free(wins);
    *st = atomic_load(&j.out_of_memory) ? nomem(k) : ONYX_OK;
    return true;
}

static onyx_status pool_common(onyx_kctx *k, pool_op *op)
{
    onyx_status st;
    if (op->kind == POOL_MAX)
        st = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_INT8,
                       ONYX_UINT8, ONYX_UNDEFINED);
    else
        st = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    pool_geom g;
    if ((st = pool_setup(k, x, &g))) return st;
    bool col_major = false;
    if (op->kind == POOL_MAX) {
        int64_t so = k_attr_int(k, "storage_order", 0);
        if (so != 0 && so != 1)
            return k_fail(k, ONYX_E_INVALID, "attribute storage_order = %lld must be 0 or 1",
                          (long long)so);
        col_major = so == 1;
        op->empty = lowest_of(x->dtype);
    }
    int64_t dims[ONYX_MAX_RANK];
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    for (int a = 0; a < g.nsp; a++) dims[2 + a] = g.out[a];
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, dims);
    if (!y) return k->err->code;
    onyx_tensor *idx = NULL;
    if (op->kind == POOL_MAX && k_output_wanted(k, 1)) {
        idx = k_output(k, 1, ONYX_INT64, x->rank, dims);
        if (!idx) return k->err->code;
    }
    if (tensor_numel_of(y->rank, y->dims) == 0) return ONYX_OK;
    if (!idx && pool2d_fast(k, &g, op, x, y, &st)) return st;
    return pool_run(k, &g, op, x, y, idx, col_major);
}

static onyx_status op_max_pool(onyx_kctx *k)
{
    pool_op op = {POOL_MAX, false, 0, 0};
    return pool_common(k, &op);
}

static onyx_status op_average_pool(onyx_kctx *k)
{
    int64_t cip = k_attr_int(k, "count_include_pad", 0);
    if (cip != 0 && cip != 1)
        return k_fail(k, ONYX_E_INVALID, "attribute count_include_pad = %lld must be 0 or 1",
                      (long long)cip);
    pool_op op = {POOL_AVG, cip == 1, 0, 0};
    return pool_common(k, &op);
}

/* p is a float attribute in LpPool-1 and an int from opset 2; k_attr_float reads both. */
static onyx_status lp_attr(onyx_kctx *k, double *p)
{
    *p = k_attr_float(k, "p", 2.0f);
    if (!(*p > 0) || isinf(*p))
        return k_fail(k, ONYX_E_INVALID, "attribute p = %g must be a positive number", *p);
    return ONYX_OK;
}

static onyx_status op_lp_pool(onyx_kctx *k)
{
    pool_op op = {POOL_LP, false, 2, 0};
    onyx_status st = lp_attr(k, &op.p);
    return st ? st : pool_common(k, &op);
}

/* ---- global pooling ---- */

static onyx_status global_pool(onyx_kctx *k, pool_kind kind)
{
    onyx_status st = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                               ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    double p = 2;
    if ((st = check_rank(k, x, 2)) || (kind == POOL_LP && (st = lp_attr(k, &p)))) return st;
    int64_t dims[ONYX_MAX_RANK];
    for (int a = 0; a < x->rank; a++) dims[a] = a < 2 ? x->dims[a] : 1;
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, dims);
    if (!y) return k->err->code;
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t sz = tensor_numel_of(x->rank - 2, x->dims + 2);
    const hot_kernels *hk = hot_kernels_native();
    if (hk && kind == POOL_AVG && x->dtype == ONYX_FLOAT && sz > 0) {
        const float *xf = x->data;
        float *yf = y->data;
        for (int64_t pl = 0; pl < planes; pl++) yf[pl] = (float)(hk->sum(xf + pl * sz, sz) / (double)sz);
        return ONYX_OK;
    }
    double *buf = alloc_n(sz, sizeof(double));
    if (!buf) return nomem(k);
    double lowest = lowest_of(x->dtype);
    for (int64_t pl = 0; pl < planes; pl++) {
        load_plane(x, pl * sz, sz, buf);
        double r;
        if (kind == POOL_MAX) {
            r = lowest;
            bool seen = false;
            for (int64_t i = 0; i < sz; i++) {
                if (seen ? buf[i] > r : !isnan(buf[i])) r = buf[i];
                if (!isnan(buf[i])) seen = true;
            }
        } else if (kind == POOL_AVG) {
            double sum = 0;
            for (int64_t i = 0; i < sz; i++) sum += buf[i];
            r = sz > 0 ? sum / (double)sz : NAN;
        } else {
            double sum = 0;
            for (int64_t i = 0; i < sz; i++) {
                double v = fabs(buf[i]);
                sum += p == 2 ? v * v : p == 1 ? v : pow(v, p);
            }
            r = p == 2 ? sqrt(sum) : p == 1 ? sum : pow(sum, 1.0 / p);
        }
        store_plane(y, pl, 1, &r);
    }
    free(buf);
    return ONYX_OK;
}

static onyx_status op_global_max_pool(onyx_kctx *k) { return global_pool(k, POOL_MAX); }
static onyx_status op_global_average_pool(onyx_kctx *k) { return global_pool(k, POOL_AVG); }
static onyx_status op_global_lp_pool(onyx_kctx *k) { return global_pool(k, POOL_LP); }

/* ---- MaxUnpool ---- */

/* Indices address the tensor MaxPool's input would have had (the shape inferred
 * from kernel, strides and pads); a given output_shape places that tensor at the
 * origin of a bigger (or cropped) output, as the ONNX reference does. */
static onyx_status op_max_unpool(onyx_kctx *k)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED)) ||
        (st = k_require(k, 1, ONYX_INT64, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, 0), *ind = k_input(k, 1), *os = k_input(k, 2);
    if ((st = check_rank(k, x, 3))) return st;
    if (ind->rank != x->rank || memcmp(ind->dims, x->dims, (size_t)x->rank * sizeof(int64_t)) != 0)
        return k_fail(k, ONYX_E_SHAPE, "input 1 (I) must have the shape of input 0 (X)");
    int nsp = x->rank - 2;
    int64_t kern[MAXSP], strides[MAXSP], pads[2 * MAXSP];
    if ((st = ints_attr(k, "kernel_shape", nsp, -1, 1, kern)) ||
        (st = ints_attr(k, "strides", nsp, 1, 1, strides)) ||
        (st = ints_attr(k, "pads", 2 * nsp, 0, 0, pads)))
        return st;
    int64_t inferred[ONYX_MAX_RANK], dims[ONYX_MAX_RANK];
    inferred[0] = x->dims[0];
    inferred[1] = x->dims[1];
    for (int a = 0; a < nsp; a++) {
        int64_t in = x->dims[2 + a];
        inferred[2 + a] = (in > 0 ? (in - 1) * strides[a] : 0) + kern[a] - pads[a] - pads[nsp + a];
        if (inferred[2 + a] < 0)
            return k_fail(k, ONYX_E_SHAPE, "axis %d: pads %lld+%lld exceed the unpooled size", 2 + a,
                          (long long)pads[a], (long long)pads[nsp + a]);
    }
    memcpy(dims, inferred, sizeof dims);
    if (os) {
        int64_t n = k_read_ints(os, dims, x->rank);
        if (n != x->rank || os->rank != 1)
            return k_fail(k, ONYX_E_SHAPE, "input 2 (output_shape) must be a 1-D integer tensor of %d values",
                          x->rank);
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, dims);
    if (!y) return k->err->code;
    int64_t total = tensor_numel_of(x->rank, inferred), nx = tensor_numel_of(x->rank, x->dims);
    if (total < 0) return k_fail(k, ONYX_E_LIMIT, "unpooled size overflows");
    bool same = memcmp(dims, inferred, (size_t)x->rank * sizeof(int64_t)) == 0;
    size_t es = onyx_dtype_size(x->dtype);
    const int64_t *iv = ind->data;
    for (int64_t i = 0; i < nx; i++) {
        int64_t at = iv[i];
        if (at < 0 || at >= total)
            return k_fail(k, ONYX_E_INVALID, "index %lld at I[%lld] is outside [0, %lld)", (long long)at,
                          (long long)i, (long long)total);
        if (!same) {
            int64_t rest = at, off = 0, mul = 1;
            bool inside = true;
            for (int a = x->rank - 1; a >= 0; a--) {
                int64_t c = rest % inferred[a];
                rest /= inferred[a];
                if (c >= dims[a]) inside = false;
                off += c * mul;
                mul *= dims[a];
            }
            if (!inside) continue;
            at = off;
        }
        memcpy((char *)y->data + (size_t)at * es, (const char *)x->data + (size_t)i * es, es);
    }
    return ONYX_OK;
}

/* ---- MaxRoiPool ---- */

static onyx_status op_max_roi_pool(onyx_kctx *k)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED)) ||
        (st = k_require(k, 1, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, 0), *rois = k_input(k, 1);
    if (x->rank != 4)
        return k_fail(k, ONYX_E_SHAPE, "input 0 (X) must have rank 4 (N x C x H x W), got %d", x->rank);
    if (rois->rank != 2 || rois->dims[1] != 5)
        return k_fail(k, ONYX_E_SHAPE, "input 1 (rois) must have shape [num_rois, 5]");
    int64_t pooled[2];
    if ((st = ints_attr(k, "pooled_shape", 2, -1, 1, pooled))) return st;
    float scale = k_attr_float(k, "spatial_scale", 1.0f);
    if (!isfinite(scale))
        return k_fail(k, ONYX_E_INVALID, "attribute spatial_scale = %g is not finite", (double)scale);
    int64_t nb = x->dims[0], c = x->dims[1], h = x->dims[2], w = x->dims[3], nr = rois->dims[0];
    int64_t dims[4] = {nr, c, pooled[0], pooled[1]};
    onyx_tensor *y = k_output(k, 0, x->dtype, 4, dims);
    if (!y) return k->err->code;
    if (tensor_numel_of(4, dims) == 0) return ONYX_OK;
    int64_t nx = tensor_numel_of(4, x->dims), plane = h * w;
    double *xd = alloc_n(nx, sizeof(double)), *out = alloc_n(pooled[0] * pooled[1], sizeof(double));
    if (!xd || !out) {
        free(xd);
        free(out);
        return nomem(k);
    }
    load_plane(x, 0, nx, xd);
    for (int64_t r = 0; r < nr; r++) {
        double bd = k_get_f64(rois, r * 5);
        if (!(bd >= 0 && bd < (double)nb)) {
            free(xd);
            free(out);
            return k_fail(k, ONYX_E_INVALID, "rois[%lld] has batch index %g outside [0, %lld)",
                          (long long)r, bd, (long long)nb);
        }
        int64_t b = (int64_t)bd;
        /* float arithmetic and round-half-away like Caffe and ONNX Runtime */
        int64_t coord[4];
        for (int i = 0; i < 4; i++) {
            float v = roundf((float)k_get_f64(rois, r * 5 + 1 + i) * scale);
            coord[i] = !(fabsf(v) < 1e15f) ? 0 : (int64_t)v;
        }
        int64_t x1 = coord[0], y1 = coord[1], x2 = coord[2], y2 = coord[3];
        int64_t rh = y2 - y1 + 1 > 1 ? y2 - y1 + 1 : 1, rw = x2 - x1 + 1 > 1 ? x2 - x1 + 1 : 1;
        float bin_h = (float)rh / (float)pooled[0], bin_w = (float)rw / (float)pooled[1];
        for (int64_t ch = 0; ch < c; ch++) {
            const double *xp = xd + (b * c + ch) * plane;
            for (int64_t ph = 0; ph < pooled[0]; ph++) {
                int64_t hs = (int64_t)floorf((float)ph * bin_h) + y1;
                int64_t he = (int64_t)ceilf((float)(ph + 1) * bin_h) + y1;
                hs = hs < 0 ? 0 : hs > h ? h : hs;
                he = he < 0 ? 0 : he > h ? h : he;
                for (int64_t pw = 0; pw < pooled[1]; pw++) {
                    int64_t ws = (int64_t)floorf((float)pw * bin_w) + x1;
                    int64_t we = (int64_t)ceilf((float)(pw + 1) * bin_w) + x1;
                    ws = ws < 0 ? 0 : ws > w ? w : ws;
                    we = we < 0 ? 0 : we > w ? w : we;
                    double best = 0;
                    if (he > hs && we > ws) {
                        best = -DBL_MAX;
                        for (int64_t i = hs; i < he; i++)
                            for (int64_t j = ws; j < we; j++)
                                if (xp[i * w + j] > best) best = xp[i * w + j];
                    }
                    out[ph * pooled[1] + pw] = best;
                }
            }
            store_plane(y, (r * c + ch) * pooled[0] * pooled[1], pooled[0] * pooled[1], out);
        }
    }
    free(xd);
    free(out);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_pool[] = {
    {"", "MaxPool", op_max_pool},
    {"", "AveragePool", op_average_pool},
    {"", "LpPool", op_lp_pool},
    {"", "GlobalMaxPool", op_global_max_pool},
    {"", "GlobalAveragePool", op_global_average_pool},
    {"", "GlobalLpPool", op_global_lp_pool},
    {"", "MaxUnpool", op_max_unpool},
    {"", "MaxRoiPool", op_max_roi_pool},
    {0},
};
