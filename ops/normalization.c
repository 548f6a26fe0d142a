/* normalization.c - BatchNormalization, InstanceNormalization, LayerNormalization,
 * GroupNormalization, LRN and MeanVarianceNormalization.
 *
 * Statistics are computed in double with two passes (mean, then squared
 * deviations), which is what numpy's var does and avoids the cancellation of
 * E[x^2] - E[x]^2. Each normalization then reduces to y = x * a + b with a and b
 * precomputed per channel (or per instance/group), applied in one pass. */
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

static onyx_status require_real(onyx_kctx *k, int i)
{
    return k_require(k, i, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                     ONYX_UNDEFINED);
}

static onyx_status nomem(onyx_kctx *k)
{
    return k_fail(k, ONYX_E_NOMEM, "out of memory");
}

/* x viewed as [N, C, S]. Fails if a partial product of dims overflows, which
 * only an empty tensor can make happen. */
static onyx_status view_ncs(onyx_kctx *k, const onyx_tensor *x, int64_t *N, int64_t *C,
                            int64_t *S)
{
    if (x->rank < 2)
        return k_fail(k, ONYX_E_SHAPE, "input 0 must be [N, C, ...], has rank %d", x->rank);
    *N = x->dims[0];
    *C = x->dims[1];
    *S = tensor_numel_of(x->rank - 2, x->dims + 2);
    if (*S < 0 || tensor_numel_of(x->rank - 1, x->dims + 1) < 0 ||
        tensor_numel_of(2, x->dims) < 0)
        return k_fail(k, ONYX_E_LIMIT, "input 0 dimensions overflow");
    return ONYX_OK;
}

/* Input i (a real tensor of exactly n elements) as a new double array in *out. */
static onyx_status read_param(onyx_kctx *k, int i, const char *name, int64_t n, double **out)
{
    *out = NULL;
    onyx_status s = require_real(k, i);
    if (s) return s;
    const onyx_tensor *t = k_input(k, i);
    int64_t have = tensor_numel_of(t->rank, t->dims);
    if (have != n)
        return k_fail(k, ONYX_E_SHAPE, "input %d (%s) has %lld elements, expected %lld", i,
                      name, (long long)have, (long long)n);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return nomem(k);
    for (int64_t j = 0; j < n; j++) v[j] = ld(t, j);
    *out = v;
    return ONYX_OK;
}

/* Mean and (biased) variance of len contiguous elements starting at start. */
static void moments(const onyx_tensor *x, int64_t start, int64_t len, double *mean, double *var)
{
    double s = 0, q = 0;
    if (len == 0) {
        *mean = *var = NAN;
        return;
    }
    if (x->dtype == ONYX_FLOAT) {
        const float *p = (const float *)x->data + start;
        for (int64_t j = 0; j < len; j++) s += p[j];
        double m = s / (double)len;
        for (int64_t j = 0; j < len; j++) {
            double d = p[j] - m;
            q += d * d;
        }
        *mean = m;
    } else {
        for (int64_t j = 0; j < len; j++) s += ld(x, start + j);
        double m = s / (double)len;
        for (int64_t j = 0; j < len; j++) {
            double d = ld(x, start + j) - m;
            q += d * d;
        }
        *mean = m;
    }
    *var = q / (double)len;
}

/* y[o, c, s] = x[o, c, s] * a[i] + b[i], i = o*so + c*sc + s*ss, x viewed as [outer, C, S]. */
static void apply_affine(const onyx_tensor *x, onyx_tensor *y, int64_t outer, int64_t C,
                         int64_t S, const double *a, const double *b, int64_t so, int64_t sc,
                         int64_t ss)
{
    bool f32 = x->dtype == ONYX_FLOAT;
    const float *xf = x->data;
    float *yf = y->data;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t c = 0; c < C; c++) {
            int64_t base = (o * C + c) * S, pi = o * so + c * sc;
            if (f32 && ss == 0) {
                double av = a[pi], bv = b[pi];
                for (int64_t s = 0; s < S; s++) yf[base + s] = (float)(xf[base + s] * av + bv);
            } else {
                for (int64_t s = 0; s < S; s++)
                    st(y, base + s, ld(x, base + s) * a[pi + s * ss] + b[pi + s * ss]);
            }
        }
    }
}

/* apply_affine for float32 with one (a, b) per [outer, C] plane, through the
 * vectorized kernel of ops/hot.h, planes spread over the threads. */
typedef struct affine_job {
    const hot_kernels *hk;
    const float *x;
    float *y;
    int64_t C, S, so, sc;
    const double *a, *b;
} affine_job;

static void affine_range(void *arg, int64_t begin, int64_t end)
{
    const affine_job *j = arg;
    for (int64_t t = begin; t < end; t++) {
        const int64_t o = t / j->C, c = t % j->C, pi = o * j->so + c * j->sc;
        j->hk->affine(j->x + t * j->S, j->y + t * j->S, j->S, (float)j->a[pi], (float)j->b[pi]);
    }
}

/* Picks the fast or the reference apply_affine. */
static void apply_affine_any(const onyx_kctx *k, const onyx_tensor *x, onyx_tensor *y,
                             int64_t outer, int64_t C, int64_t S, const double *a, const double *b,
                             int64_t so, int64_t sc, int64_t ss)
{
    const hot_kernels *hk = hot_kernels_native();
    if (!hk || x->dtype != ONYX_FLOAT || ss != 0) {
        apply_affine(x, y, outer, C, S, a, b, so, sc, ss);
        return;
    }
    affine_job j = {hk, x->data, y->data, C, S, so, sc, a, b};
    if (outer * C * S < HOT_PARALLEL_MIN) affine_range(&j, 0, outer * C);
    else k_parallel_for(k, outer * C, affine_range, &j);
}

/* ---- BatchNormalization ----
 * Inference uses the given mean/var. Training (training_mode=1 from opset 14;
 * before that, asking for more than Y) normalizes with the batch statistics
 * and reports running = input * momentum + batch * (1 - momentum). Before opset
 * 9, spatial=0 keeps statistics per activation ([C, D1, ...]) instead of per
 * channel. */
static onyx_status op_batch_norm(onyx_kctx *k)
{
    onyx_status s = require_real(k, 0);
    if (s) return s;
    const onyx_tensor *x = k_input(k, 0);
    int64_t N, C, S;
    if ((s = view_ncs(k, x, &N, &C, &S))) return s;
    bool spatial = k->opset >= 9 || k_attr_int(k, "spatial", 1) != 0;
    int64_t P = spatial ? C : C * S;
    double eps = k_attr_float(k, "epsilon", 1e-5f);
    double momentum = k_attr_float(k, "momentum", 0.9f);
    bool training;
    if (k->opset >= 14) {
        training = k_attr_int(k, "training_mode", 0) != 0;
    } else {
        training = false;
        for (int i = 1; i < 5; i++) training = training || k_output_wanted(k, i);
    }

    double *scale = NULL, *bias = NULL, *mean = NULL, *var = NULL, *a = NULL, *b = NULL;
    double *bm = NULL, *bv = NULL;
    if ((s = read_param(k, 1, "scale", P, &scale)) || (s = read_param(k, 2, "B", P, &bias)) ||
        (s = read_param(k, 3, "input_mean", P, &mean)) ||
        (s = read_param(k, 4, "input_var", P, &var)))
        goto done;
    a = malloc((size_t)(P ? P : 1) * sizeof *a);
    b = malloc((size_t)(P ? P : 1) * sizeof *b);
    if (!a || !b) {
        s = nomem(k);
        goto done;
    }
    const double *um = mean, *uv = var; /* the statistics Y is normalized with */
    if (training) {
        bm = calloc((size_t)(P ? P : 1), sizeof *bm);
        bv = calloc((size_t)(P ? P : 1), sizeof *bv);
        if (!bm || !bv) {
            s = nomem(k);
            goto done;
        }
        int64_t count = spatial ? N * S : N;
        for (int pass = 0; pass < 2; pass++) {
            double *acc = pass == 0 ? bm : bv;
            for (int64_t n = 0; n < N; n++)
                for (int64_t c = 0; c < C; c++)
                    for (int64_t j = 0; j < S; j++) {
                        int64_t p = spatial ? c : c * S + j;
                        double v = ld(x, (n * C + c) * S + j);
                        if (pass == 0) {
                            acc[p] += v;
                        } else {
                            v -= bm[p];
                            acc[p] += v * v;
                        }
                    }
            for (int64_t p = 0; p < P; p++) acc[p] = count ? acc[p] / (double)count : NAN;
        }
        um = bm;
        uv = bv;
    }
    for (int64_t p = 0; p < P; p++) {
        a[p] = scale[p] / sqrt(uv[p] + eps);
        b[p] = bias[p] - um[p] * a[p];
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) {
        s = k->err->code;
        goto done;
    }
    if (spatial) apply_affine_any(k, x, y, N, C, S, a, b, 0, 1, 0);
    else apply_affine(x, y, N, C, S, a, b, 0, S, 1);

    if (training) {
        const onyx_tensor *mt = k_input(k, 3);
        int n_stats = k->opset >= 14 ? 2 : 4;
        for (int i = 1; i <= n_stats && i < k->n_outputs; i++) {
            if (!k_output_wanted(k, i)) continue;
            onyx_tensor *o = k_output(k, i, mt->dtype, mt->rank, mt->dims);
            if (!o) {
                s = k->err->code;
                goto done;
            }
            for (int64_t p = 0; p < P; p++) {
                double v;
                if (i == 1) v = mean[p] * momentum + bm[p] * (1 - momentum);
                else if (i == 2) v = var[p] * momentum + bv[p] * (1 - momentum);
                else v = i == 3 ? bm[p] : bv[p];
                st(o, p, v);
            }
        }
    }
done:
    free(scale);
    free(bias);
    free(mean);
    free(var);
    free(a);
    free(b);
    free(bm);
    free(bv);
    return s;
}

/* ---- InstanceNormalization and GroupNormalization ----
 * Both normalize each sample over contiguous blocks of channels (one channel
 * each for InstanceNormalization, C/num_groups for GroupNormalization), then
 * apply a per-channel (or, for GroupNormalization before opset 21, per-group)
 * scale and bias. */
/* float32 on the vector kernels: one task per (sample, group) takes the
 * moments and then normalizes the group's planes while they are still in cache
 * (one read from memory instead of three); tasks spread over the threads. */
typedef struct group_norm_job {
    const hot_kernels *hk;
    const float *x;
    float *y;
    int64_t C, S, cpg, groups;
    double eps;
    const double *scale, *bias;
    bool params_per_group;
} group_norm_job;

static void group_norm_range(void *arg, int64_t begin, int64_t end)
{
    const group_norm_job *j = arg;
    for (int64_t t = begin; t < end; t++) {
        const int64_t n = t / j->groups, g = t % j->groups, base = (n * j->C + g * j->cpg) * j->S;
        double m, v;
        j->hk->mean_var(j->x + base, j->cpg * j->S, &m, &v);
        const double inv = 1 / sqrt(v + j->eps);
        for (int64_t c = 0; c < j->cpg; c++) {
            const int64_t p = j->params_per_group ? g : g * j->cpg + c;
            const double a = j->scale[p] * inv, b = j->bias[p] - m * a;
            j->hk->affine(j->x + base + c * j->S, j->y + base + c * j->S, j->S, (float)a, (float)b);
        }
    }
}

static onyx_status group_norm(onyx_kctx *k, int64_t groups, bool params_per_group)
{
    onyx_status s = require_real(k, 0);
    if (s) return s;
    const onyx_tensor *x = k_input(k, 0);
    int64_t N, C, S;
    if ((s = view_ncs(k, x, &N, &C, &S))) return s;
    if (groups <= 0 || C % groups != 0)
        return k_fail(k, ONYX_E_INVALID, "num_groups = %lld does not divide %lld channels",
                      (long long)groups, (long long)C);
    int64_t cpg = C / groups, P = params_per_group ? groups : C;
    double eps = k_attr_float(k, "epsilon", 1e-5f);

    double *scale = NULL, *bias = NULL, *a = NULL, *b = NULL;
    if ((s = read_param(k, 1, "scale", P, &scale)) || (s = read_param(k, 2, "B", P, &bias)))
        goto done;
    const hot_kernels *hk = hot_kernels_native();
    if (hk && x->dtype == ONYX_FLOAT && cpg * S > 0) {
        onyx_tensor *y = k_output_uninit(k, 0, x->dtype, x->rank, x->dims);
        if (!y) {
            s = k->err->code;
            goto done;
        }
        group_norm_job j = {hk, x->data, y->data, C, S, cpg, groups, eps, scale, bias, params_per_group};
        if (N * C * S < HOT_PARALLEL_MIN) group_norm_range(&j, 0, N * groups);
        else k_parallel_for(k, N * groups, group_norm_range, &j);
        goto done;
    }
    int64_t nc = N * C;
    a = malloc((size_t)(nc ? nc : 1) * sizeof *a);
    b = malloc((size_t)(nc ? nc : 1) * sizeof *b);
    if (!a || !b) {
        s = nomem(k);
        goto done;
    }
    for (int64_t n = 0; n < N; n++) {
        for (int64_t g = 0; g < groups; g++) {
            double m, v;
            moments(x, (n * C + g * cpg) * S, cpg * S, &m, &v);
            double inv = 1 / sqrt(v + eps);
            for (int64_t c = g * cpg; c < (g + 1) * cpg; c++) {
                int64_t p = params_per_group ? g : c;
                a[n * C + c] = scale[p] * inv;
                b[n * C + c] = bias[p] - m * a[n * C + c];
            }
        }
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) {
        s = k->err->code;
        goto done;
    }
    apply_affine_any(k, x, y, N, C, S, a, b, C, 1, 0);
done:
    free(scale);
    free(bias);
    free(a);
    free(b);
    return s;
}

static onyx_status op_instance_norm(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0);
    /* one group per channel; a zero-channel input still needs a valid group count */
    return group_norm(k, x && x->rank >= 2 && x->dims[1] > 0 ? x->dims[1] : 1, false);
}

static onyx_status op_group_norm(onyx_kctx *k)
{
    const onyx_attr *g = k_attr(k, "num_groups");
    if (!g || g->type != ATTR_INT)
        return k_fail(k, ONYX_E_INVALID, "attribute num_groups is required");
    /* opset 21 changed scale and bias from one per group to one per channel */
    return group_norm(k, g->i, k->opset < 21);
}

/* ---- LayerNormalization ---- */

/* Input i broadcast over the normalized shape x->dims[axis:], flattened into cols values. */
static onyx_status expand_over_cols(onyx_kctx *k, int i, const char *name, const onyx_tensor *x,
                                    int axis, int64_t cols, double *out)
{
    onyx_status s = require_real(k, i);
    if (s) return s;
    const onyx_tensor *t = k_input(k, i);
    int nr = x->rank - axis;
    int64_t strides[ONYX_MAX_RANK], stride = 1;
    for (int d = 0; d < t->rank - nr; d++)
        if (t->dims[d] != 1) goto bad;
    for (int d = nr - 1; d >= 0; d--) {
        int td = d - (nr - t->rank);
        if (td < 0) {
            strides[d] = 0;
            continue;
        }
        int64_t want = x->dims[axis + d], have = t->dims[td];
        if (have != want && have != 1) goto bad;
        strides[d] = have == 1 ? 0 : stride;
        stride *= have;
    }
    int64_t idx[ONYX_MAX_RANK] = {0}, off = 0;
    for (int64_t c = 0; c < cols; c++) {
        out[c] = ld(t, off);
        for (int d = nr - 1; d >= 0; d--) {
            off += strides[d];
            if (++idx[d] < x->dims[axis + d]) break;
            off -= strides[d] * x->dims[axis + d];
            idx[d] = 0;
        }
    }
    return ONYX_OK;
bad:
    return k_fail(k, ONYX_E_SHAPE,
                  "input %d (%s) of rank %d does not broadcast to the normalized shape "
                  "(dims %d.. of input 0)", i, name, t->rank, axis);
}

/* float32 rows through the vectorized kernels of ops/hot.h: two-pass mean
 * and variance per row, then one fused (x - mean) * inv_std * scale + bias. */
typedef struct layer_norm_job {
    const hot_kernels *hk;
    const float *x, *scale, *bias;
    float *y;
    int64_t cols;
    double eps;
} layer_norm_job;

static void layer_norm_range(void *arg, int64_t begin, int64_t end)
{
    const layer_norm_job *j = arg;
    for (int64_t r = begin; r < end; r++) {
        double m, v;
        j->hk->mean_var(j->x + r * j->cols, j->cols, &m, &v);
        j->hk->scale_shift_row(j->x + r * j->cols, j->y + r * j->cols, j->cols, (float)m,
                               (float)(1 / sqrt(v + j->eps)), j->scale, j->bias);
    }
}

static onyx_status op_layer_norm(onyx_kctx *k)
{
    onyx_status s = require_real(k, 0);
    if (s) return s;
    const onyx_tensor *x = k_input(k, 0);
    int64_t axis_attr = k_attr_int(k, "axis", -1);
    int axis;
    if (!k_axis(axis_attr, x->rank, &axis))
        return k_fail(k, ONYX_E_INVALID, "attribute axis = %lld is out of range for rank %d",
                      (long long)axis_attr, x->rank);
    int64_t stash = k_attr_int(k, "stash_type", ONYX_FLOAT);
    onyx_dtype udt = (onyx_dtype)stash;
    if (stash != ONYX_FLOAT && stash != ONYX_DOUBLE && stash != ONYX_FLOAT16 &&
        stash != ONYX_BFLOAT16)
        return k_fail(k, ONYX_E_UNSUPPORTED, "attribute stash_type = %lld is not a float type",
                      (long long)stash);
    double eps = k_attr_float(k, "epsilon", 1e-5f);
    int64_t rows = tensor_numel_of(axis, x->dims);
    int64_t cols = tensor_numel_of(x->rank - axis, x->dims + axis);
    if (rows < 0 || cols < 0) return k_fail(k, ONYX_E_LIMIT, "input 0 dimensions overflow");
    int64_t sdims[ONYX_MAX_RANK];
    for (int d = 0; d < x->rank; d++) sdims[d] = d < axis ? x->dims[d] : 1;
    double *sc = malloc((size_t)(cols ? cols : 1) * sizeof *sc);
    double *bc = malloc((size_t)(cols ? cols : 1) * sizeof *bc);
    if (!sc || !bc) {
        s = nomem(k);
        goto done;
    }
    if ((s = expand_over_cols(k, 1, "Scale", x, axis, cols, sc))) goto done;
    if (k_input(k, 2)) {
        if ((s = expand_over_cols(k, 2, "B", x, axis, cols, bc))) goto done;
    } else {
        for (int64_t c = 0; c < cols; c++) bc[c] = 0;
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    onyx_tensor *mo = NULL, *io = NULL;
    if (y && k_output_wanted(k, 1)) mo = k_output(k, 1, udt, x->rank, sdims);
    if (y && k_output_wanted(k, 2)) io = k_output(k, 2, udt, x->rank, sdims);
    if (!y || (k_output_wanted(k, 1) && !mo) || (k_output_wanted(k, 2) && !io)) {
        s = k->err->code;
        goto done;
    }
    bool f32 = x->dtype == ONYX_FLOAT;
    const hot_kernels *hk = hot_kernels_native();
    if (f32 && hk && !mo && !io && cols > 0) {
        float *sf = malloc((size_t)cols * 2 * sizeof *sf);
        if (!sf) {
            s = nomem(k);
            goto done;
        }
        for (int64_t c = 0; c < cols; c++) {
            sf[c] = (float)sc[c];
            sf[cols + c] = (float)bc[c];
        }
        layer_norm_job j = {hk, x->data, sf, sf + cols, y->data, cols, eps};
        if (rows * cols < HOT_PARALLEL_MIN) layer_norm_range(&j, 0, rows);
        else k_parallel_for(k, rows, layer_norm_range, &j);
        free(sf);
        goto done;
    }
    for (int64_t r = 0; r < rows; r++) {
        double m, v;
        int64_t base = r * cols;
        moments(x, base, cols, &m, &v);
        double inv = 1 / sqrt(v + eps);
        if (mo) st(mo, r, m);
        if (io) st(io, r, inv);
        if (f32) {
            const float *xf = (const float *)x->data + base;
            float *yf = (float *)y->data + base;
            for (int64_t c = 0; c < cols; c++)
                yf[c] = (float)((xf[c] - m) * inv * sc[c] + bc[c]);
        } else {
            for (int64_t c = 0; c < cols; c++)
                st(y, base + c, (ld(x, base + c) - m) * inv * sc[c] + bc[c]);
        }
    }
done:
    free(sc);
    free(bc);
    return s;
}

/* ---- LRN ----
 * y = x / (bias + alpha/size * sum of x^2 over channels
 *          [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta */
static onyx_status op_lrn(onyx_kctx *k)
{
    onyx_status s = require_real(k, 0);
    if (s) return s;
    const onyx_tensor *x = k_input(k, 0);
    int64_t N, C, S;
    if ((s = view_ncs(k, x, &N, &C, &S))) return s;
    const onyx_attr *sa = k_attr(k, "size");
    if (!sa || sa->type != ATTR_INT || sa->i < 1)
        return k_fail(k, ONYX_E_INVALID, "attribute size is required and must be >= 1");
    int64_t size = sa->i;
    double alpha = k_attr_float(k, "alpha", 1e-4f), beta = k_attr_float(k, "beta", 0.75f);
    double bias = k_attr_float(k, "bias", 1.0f);
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    if (N * C * S == 0) return ONYX_OK;
    double *sq = malloc((size_t)S * sizeof *sq);
    if (!sq) return nomem(k);
    int64_t before = (size - 1) / 2, after = size / 2;
    for (int64_t n = 0; n < N; n++) {
        for (int64_t c = 0; c < C; c++) {
            for (int64_t j = 0; j < S; j++) sq[j] = 0;
            int64_t lo = c - before < 0 ? 0 : c - before;
            int64_t hi = c + after > C - 1 ? C - 1 : c + after;
            for (int64_t i = lo; i <= hi; i++) {
                int64_t base = (n * C + i) * S;
                for (int64_t j = 0; j < S; j++) {
                    double v = ld(x, base + j);
                    sq[j] += v * v;
                }
            }
            int64_t base = (n * C + c) * S;
            for (int64_t j = 0; j < S; j++)
                st(y, base + j, ld(x, base + j) / pow(bias + alpha / (double)size * sq[j], beta));
        }
    }
    free(sq);
    return ONYX_OK;
}

/* ---- MeanVarianceNormalization ----
 * y = (x - mean) / (sqrt(var) + 1e-9) with statistics over the given axes,
 * matching the function body in the ONNX spec. */
static onyx_status op_mvn(onyx_kctx *k)
{
    onyx_status s = require_real(k, 0);
    if (s) return s;
    const onyx_tensor *x = k_input(k, 0);
    static const int64_t def_axes[] = {0, 2, 3};
    const int64_t *axes = def_axes;
    int na = k_attr_ints(k, "axes", &axes);
    if (na < 0) {
        axes = def_axes;
        na = 3;
    }
    bool mask[ONYX_MAX_RANK] = {false};
    for (int i = 0; i < na; i++) {
        int ax;
        if (!k_axis(axes[i], x->rank, &ax))
            return k_fail(k, ONYX_E_INVALID, "axes[%d] = %lld is out of range for rank %d", i,
                          (long long)axes[i], x->rank);
        if (mask[ax])
            return k_fail(k, ONYX_E_INVALID, "axes[%d] = %lld repeats axis %d", i,
                          (long long)axes[i], ax);
        mask[ax] = true;
    }
    /* group index of an element: its coordinates on the kept axes */
    int64_t gstride[ONYX_MAX_RANK], groups = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        gstride[d] = mask[d] ? 0 : groups;
        if (!mask[d]) groups *= x->dims[d];
    }
    int64_t numel = tensor_numel_of(x->rank, x->dims);
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    if (numel == 0) return ONYX_OK;
    int64_t count = numel / groups;
    double *mean = calloc((size_t)groups, sizeof *mean);
    double *var = calloc((size_t)groups, sizeof *var);
    if (!mean || !var) {
        free(mean);
        free(var);
        return nomem(k);
    }
    for (int pass = 0; pass < 3; pass++) {
        int64_t idx[ONYX_MAX_RANK] = {0}, g = 0;
        for (int64_t i = 0; i < numel; i++) {
            double v = ld(x, i);
            if (pass == 0) {
                mean[g] += v;
            } else if (pass == 1) {
                double dv = v - mean[g];
                var[g] += dv * dv;
            } else {
                st(y, i, (v - mean[g]) / (sqrt(var[g]) + 1e-9));
            }
            for (int d = x->rank - 1; d >= 0; d--) {
                g += gstride[d];
                if (++idx[d] < x->dims[d]) break;
                g -= gstride[d] * x->dims[d];
                idx[d] = 0;
            }
        }
        for (int64_t j = 0; pass < 2 && j < groups; j++) {
            if (pass == 0) mean[j] /= (double)count;
            else var[j] /= (double)count;
        }
    }
    free(mean);
    free(var);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_normalization[] = {
    {"", "BatchNormalization", op_batch_norm},
    {"", "InstanceNormalization", op_instance_norm},
    {"", "LayerNormalization", op_layer_norm},
    {"", "GroupNormalization", op_group_norm},
    {"", "LRN", op_lrn},
    {"", "MeanVarianceNormalization", op_mvn},
    {0},
};
