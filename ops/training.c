/* training.c - the optimizers of the ai.onnx.preview.training domain: Adagrad,
 * Adam and Momentum. Deterministic elementwise updates; the random and
 * autodiff parts of training (Gradient) are not implemented. */
#include "kernel.h"

/* Checks inputs R, T and groups of n equally shaped float tensors that follow. */
static onyx_status training_inputs(onyx_kctx *k, int groups, int *n, double *r, int64_t *t)
{
    if (k->n_inputs < 2 || (k->n_inputs - 2) % groups)
        return k_fail(k, ONYX_E_INVALID, "expected R, T and %d groups of tensors, got %d inputs", groups, k->n_inputs);
    *n = (k->n_inputs - 2) / groups;
    if (k->n_outputs > *n * (groups - 1))
        return k_fail(k, ONYX_E_INVALID, "%d outputs for %d tensors", k->n_outputs, *n);
    const onyx_tensor *R = k_input(k, 0), *T = k_input(k, 1);
    if (!R || !T || R->kind != ONYX_KIND_TENSOR || !dtype_is_float(R->dtype) || tensor_numel_of(R->rank, R->dims) != 1)
        return k_fail(k, ONYX_E_SHAPE, "R must be a float scalar");
    if (k_read_ints(T, t, 1) != 1) return k_fail(k, ONYX_E_SHAPE, "T must be an integer scalar");
    *r = k_get_f64(R, 0);
    for (int i = 2; i < k->n_inputs; i++) {
        const onyx_tensor *a = k_input(k, i), *x = k_input(k, 2 + (i - 2) % *n);
        if (!a || a->kind != ONYX_KIND_TENSOR || !dtype_is_float(a->dtype))
            return k_fail(k, ONYX_E_SHAPE, "input %d must be a float tensor", i);
        bool same = a->rank == x->rank && a->dtype == x->dtype;
        for (int d = 0; same && d < a->rank; d++) same = a->dims[d] == x->dims[d];
        if (!same) return k_fail(k, ONYX_E_SHAPE, "input %d does not match the shape and type of the tensor it updates", i);
    }
    return ONYX_OK;
}

static onyx_tensor *out_like(onyx_kctx *k, int i, const onyx_tensor *x)
{
    return k_output(k, i, x->dtype, x->rank, x->dims);
}

static onyx_status op_adagrad(onyx_kctx *k)
{
    int n;
    double r;
    int64_t t;
    onyx_status st = training_inputs(k, 3, &n, &r, &t);
    if (st != ONYX_OK) return st;
    double decay = k_attr_float(k, "decay_factor", 0), eps = k_attr_float(k, "epsilon", 1e-6f);
    double norm = k_attr_float(k, "norm_coefficient", 0);
    double rate = r / (1 + (double)t * decay);
    for (int i = 0; i < n; i++) {
        const onyx_tensor *x = k_input(k, 2 + i), *g = k_input(k, 2 + n + i), *h = k_input(k, 2 + 2 * n + i);
        onyx_tensor *xo = out_like(k, i, x), *ho = out_like(k, n + i, x);
        if (!xo || !ho) return k->err->code;
        for (int64_t e = 0; e < tensor_numel_of(x->rank, x->dims); e++) {
            double xv = k_get_f64(x, e), gr = norm * xv + k_get_f64(g, e);
            double hn = k_get_f64(h, e) + gr * gr;
            k_set_f64(ho, e, hn);
            k_set_f64(xo, e, xv - rate * gr / (sqrt(hn) + eps));
        }
    }
    return ONYX_OK;
}

static onyx_status op_adam(onyx_kctx *k)
{
    int n;
    double r;
    int64_t t;
    onyx_status st = training_inputs(k, 4, &n, &r, &t);
    if (st != ONYX_OK) return st;
    double alpha = k_attr_float(k, "alpha", 0.9f), beta = k_attr_float(k, "beta", 0.999f);
    double eps = k_attr_float(k, "epsilon", 1e-6f), norm = k_attr_float(k, "norm_coefficient", 0);
    double post = k_attr_float(k, "norm_coefficient_post", 0);
    double rate = t > 0 ? r * sqrt(1 - pow(beta, (double)t)) / (1 - pow(alpha, (double)t)) : r;
    for (int i = 0; i < n; i++) {
        const onyx_tensor *x = k_input(k, 2 + i), *g = k_input(k, 2 + n + i);
        const onyx_tensor *v = k_input(k, 2 + 2 * n + i), *h = k_input(k, 2 + 3 * n + i);
        onyx_tensor *xo = out_like(k, i, x), *vo = out_like(k, n + i, x), *ho = out_like(k, 2 * n + i, x);
        if (!xo || !vo || !ho) return k->err->code;
        for (int64_t e = 0; e < tensor_numel_of(x->rank, x->dims); e++) {
            double xv = k_get_f64(x, e), gr = norm * xv + k_get_f64(g, e);
            double vn = alpha * k_get_f64(v, e) + (1 - alpha) * gr;
            double hn = beta * k_get_f64(h, e) + (1 - beta) * gr * gr;
            k_set_f64(vo, e, vn);
            k_set_f64(ho, e, hn);
            k_set_f64(xo, e, (1 - post) * (xv - rate * vn / (sqrt(hn) + eps)));
        }
    }
    return ONYX_OK;
}

static onyx_status op_momentum(onyx_kctx *k)
{
    int n;
    double r;
    int64_t t;
    onyx_status st = training_inputs(k, 3, &n, &r, &t);
    if (st != ONYX_OK) return st;
    const onyx_attr *a_alpha = k_attr(k, "alpha"), *a_beta = k_attr(k, "beta");
    const char *mode = k_attr_string(k, "mode", NULL);
    if (!a_alpha || !a_beta || !mode) return k_fail(k, ONYX_E_INVALID, "alpha, beta and mode are required");
    bool nesterov = !strcmp(mode, "nesterov");
    if (!nesterov && strcmp(mode, "standard")) return k_fail(k, ONYX_E_INVALID, "mode '%s' is not standard or nesterov", mode);
    double alpha = a_alpha->f, beta = t > 0 ? a_beta->f : 1, norm = k_attr_float(k, "norm_coefficient", 0);
    for (int i = 0; i < n; i++) {
        const onyx_tensor *x = k_input(k, 2 + i), *g = k_input(k, 2 + n + i), *v = k_input(k, 2 + 2 * n + i);
        onyx_tensor *xo = out_like(k, i, x), *vo = out_like(k, n + i, x);
        if (!xo || !vo) return k->err->code;
        for (int64_t e = 0; e < tensor_numel_of(x->rank, x->dims); e++) {
            double xv = k_get_f64(x, e), gr = norm * xv + k_get_f64(g, e);
            double vn = alpha * k_get_f64(v, e) + beta * gr;
            k_set_f64(vo, e, vn);
            k_set_f64(xo, e, nesterov ? xv - r * (gr + alpha * vn) : xv - r * vn);
        }
    }
    return ONYX_OK;
}

const onyx_op_def onyx_ops_training[] = {
    {"ai.onnx.preview.training", "Adagrad", op_adagrad},
    {"ai.onnx.preview.training", "Adam", op_adam},
    {"ai.onnx.preview.training", "Momentum", op_momentum},
    {0},
};
