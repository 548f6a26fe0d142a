/* rnn.c - RNN, GRU and LSTM.
 *
 * One driver validates the common inputs (X, W, R, B, sequence_lens, initial_h,
 * layout, direction, activations) and runs each direction and batch entry through
 * the time steps; a per-operator step function updates the hidden (and cell)
 * state. Arithmetic is done in double on converted copies of the inputs, which
 * keeps one code path for float, float16, bfloat16 and double.
 */
#include "kernel.h"

#include <stdio.h>
#include <stdlib.h>

enum { RNN_PLAIN, RNN_GRU, RNN_LSTM };

typedef enum rnn_act_kind {
    RA_SIGMOID,
    RA_TANH,
    RA_RELU,
    RA_AFFINE,
    RA_LEAKYRELU,
    RA_THRESHOLDEDRELU,
    RA_SCALEDTANH,
    RA_HARDSIGMOID,
    RA_ELU,
    RA_SOFTSIGN,
    RA_SOFTPLUS
} rnn_act_kind;

typedef struct rnn_act {
    rnn_act_kind kind;
    double alpha, beta;
} rnn_act;

/* uses: bit 0 = takes alpha, bit 1 = takes beta; defaults are those of the ONNX
 * operators of the same name */
static const struct {
    const char *name;
    rnn_act_kind kind;
    int uses;
    double alpha, beta;
} rnn_act_table[] = {
    {"Sigmoid", RA_SIGMOID, 0, 0, 0},
    {"Tanh", RA_TANH, 0, 0, 0},
    {"Relu", RA_RELU, 0, 0, 0},
    {"Affine", RA_AFFINE, 3, 1.0, 0.0},
    {"LeakyRelu", RA_LEAKYRELU, 1, 0.01, 0},
    {"ThresholdedRelu", RA_THRESHOLDEDRELU, 1, 1.0, 0},
    {"ScaledTanh", RA_SCALEDTANH, 3, 1.0, 1.0},
    {"HardSigmoid", RA_HARDSIGMOID, 3, 0.2, 0.5},
    {"Elu", RA_ELU, 1, 1.0, 0},
    {"Softsign", RA_SOFTSIGN, 0, 0, 0},
    {"Softplus", RA_SOFTPLUS, 0, 0, 0},
};

static double rnn_apply(const rnn_act *a, double x)
{
    switch (a->kind) {
    case RA_SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
    case RA_TANH: return tanh(x);
    case RA_RELU: return x > 0 ? x : 0;
    case RA_AFFINE: return a->alpha * x + a->beta;
    case RA_LEAKYRELU: return x >= 0 ? x : a->alpha * x;
    case RA_THRESHOLDEDRELU: return x > a->alpha ? x : 0;
    case RA_SCALEDTANH: return a->alpha * tanh(a->beta * x);
    case RA_HARDSIGMOID: {
        double v = a->alpha * x + a->beta;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case RA_ELU: return x >= 0 ? x : a->alpha * (exp(x) - 1);
    case RA_SOFTSIGN: return x / (1 + fabs(x));
    case RA_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    }
    return x;
}

static bool rnn_name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char ca = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char cb = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (ca != cb) return false;
    }
    return *a == *b;
}

typedef struct rnn_cfg {
    int kind;
    int gates; /* rows of W per hidden unit: 1, 3 or 4 */
    int nacts; /* activations per direction */
    int64_t seq, batch, in, hid;
    int dirs;
    bool reverse;             /* direction == "reverse" */
    bool layout1;             /* batch-major X, Y, Y_h, Y_c, initial_h/c */
    double clip;              /* <= 0: no clipping */
    bool linear_before_reset; /* GRU */
    bool input_forget;        /* LSTM */
    rnn_act act[2][3];
    /* converted inputs (NULL when absent) */
    double *X, *W, *R, *B, *H0, *C0, *P;
    int64_t *lens;
    /* per-step state and scratch, one slice per batch entry */
    double *h, *cst;         /* [batch, hid] */
    double *g1, *g2;         /* [batch, gates * hid] */
    double *tmp;             /* [batch, 3 * hid] */
    const double **xp, **vp; /* [batch] operand vectors of the products */
    int64_t *act_b;          /* [batch] entries still inside their sequence */
} rnn_cfg;

static double rnn_clip(const rnn_cfg *c, double v)
{
    if (c->clip > 0) v = v < -c->clip ? -c->clip : v > c->clip ? c->clip : v;
    return v;
}

static double rnn_dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* out[b * G + r] = M[r0 + r, :] . v[b] + bias[r0 + r] for rows r < nr and the
 * active batch entries b; each row of M is read once for the whole batch. */
static void rnn_matvec(const rnn_cfg *c, int64_t na, const double *m, int64_t r0, int64_t nr,
                       int64_t n, const double *const *v, const double *bias, double *out)
{
    int64_t G = c->gates * c->hid;
    for (int64_t r = 0; r < nr; r++) {
        const double *row = m + (r0 + r) * n;
        double bv = bias ? bias[r0 + r] : 0;
        for (int64_t a = 0; a < na; a++) {
            int64_t b = c->act_b[a];
            out[b * G + r] = rnn_dot(row, v[b], n) + bv;
        }
    }
}

/* One time step of direction d for the na active batch entries, whose inputs
 * are c->xp[b]; updates c->h (and c->cst). */
static void rnn_step(rnn_cfg *c, int d, int64_t na)
{
    int64_t H = c->hid, G = c->gates * H;
    const double *W = c->W + d * G * c->in, *R = c->R + d * G * H;
    const double *wb = c->B ? c->B + d * 2 * G : NULL, *rb = c->B ? wb + G : NULL;
    const rnn_act *f = c->act[d];
    double *xw = c->g1, *hr = c->g2;
    for (int64_t a = 0; a < na; a++) c->vp[c->act_b[a]] = c->h + c->act_b[a] * H;
    rnn_matvec(c, na, W, 0, G, c->in, c->xp, wb, xw);
    if (c->kind == RNN_GRU) {
        /* gate rows: z, r, h */
        rnn_matvec(c, na, R, 0, c->linear_before_reset ? G : 2 * H, H, c->vp, rb, hr);
        for (int64_t a = 0; a < na; a++) {
            int64_t b = c->act_b[a];
            const double *x = xw + b * G, *y = hr + b * G, *h = c->h + b * H;
            double *z = c->tmp + b * 3 * H, *r = z + H, *rh = z + 2 * H;
            for (int64_t j = 0; j < H; j++) {
                z[j] = rnn_apply(&f[0], rnn_clip(c, x[j] + y[j]));
                r[j] = rnn_apply(&f[0], rnn_clip(c, x[H + j] + y[H + j]));
                rh[j] = r[j] * h[j];
            }
            c->vp[b] = rh;
        }
        if (!c->linear_before_reset) {
            /* (r . h) R_h^T: the reset gate is applied before the recurrence */
            rnn_matvec(c, na, R, 2 * H, H, H, c->vp, rb, hr + 2 * H);
        }
        for (int64_t a = 0; a < na; a++) {
            int64_t b = c->act_b[a];
            const double *x = xw + b * G, *y = hr + b * G;
            const double *z = c->tmp + b * 3 * H, *r = z + H;
            double *h = c->h + b * H;
            for (int64_t j = 0; j < H; j++) {
                double rg = c->linear_before_reset ? r[j] : 1;
                double n = rnn_apply(&f[1], rnn_clip(c, x[2 * H + j] + rg * y[2 * H + j]));
                h[j] = (1 - z[j]) * n + z[j] * h[j];
            }
        }
        return;
    }
    rnn_matvec(c, na, R, 0, G, H, c->vp, rb, hr);
    const double *P = c->P ? c->P + d * 3 * H : NULL;
    for (int64_t a = 0; a < na; a++) {
        int64_t b = c->act_b[a];
        const double *x = xw + b * G, *y = hr + b * G;
        double *h = c->h + b * H, *cs = c->cst + b * H;
        if (c->kind == RNN_PLAIN) {
            for (int64_t j = 0; j < H; j++) h[j] = rnn_apply(&f[0], rnn_clip(c, x[j] + y[j]));
            continue;
        }
        /* LSTM gate rows: i, o, f, c; peepholes P: i, o, f */
        for (int64_t j = 0; j < H; j++) {
            double cp = cs[j];
            double gi = x[j] + y[j] + (P ? P[j] * cp : 0);
            double gf = x[2 * H + j] + y[2 * H + j] + (P ? P[2 * H + j] * cp : 0);
            double gc = x[3 * H + j] + y[3 * H + j];
            double it = rnn_apply(&f[0], rnn_clip(c, gi));
            double ft = c->input_forget ? 1 - it : rnn_apply(&f[0], rnn_clip(c, gf));
            double ct = rnn_apply(&f[1], rnn_clip(c, gc));
            double cn = ft * cp + it * ct;
            double go = x[H + j] + y[H + j] + (P ? P[H + j] * cn : 0);
            double ot = rnn_apply(&f[0], rnn_clip(c, go));
            cs[j] = cn;
            h[j] = ot * rnn_apply(&f[2], cn);
        }
    }
}

/* Converted copy of an optional float input of the operator's type. */
static onyx_status rnn_load(onyx_kctx *k, int i, onyx_dtype dt, double **out)
{
    const onyx_tensor *t = k_input(k, i);
    *out = NULL;
    if (!t) return ONYX_OK;
    onyx_status st = k_require(k, i, dt, ONYX_UNDEFINED);
    if (st) return st;
    int64_t n = tensor_numel_of(t->rank, t->dims);
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(double))
        return k_fail(k, ONYX_E_LIMIT, "input %d is too large", i);
    double *v = malloc(n ? (size_t)n * sizeof *v : 1);
    if (!v) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    if (t->dtype == ONYX_FLOAT)
        for (int64_t e = 0; e < n; e++) v[e] = ((const float *)t->data)[e];
    else
        for (int64_t e = 0; e < n; e++) v[e] = k_get_f64(t, e);
    *out = v;
    return ONYX_OK;
}

static onyx_status rnn_check_shape(onyx_kctx *k, int i, const char *name, int rank,
                                   const int64_t *want)
{
    const onyx_tensor *t = k_input(k, i);
    bool ok = t->rank == rank;
    for (int d = 0; ok && d < rank; d++) ok = t->dims[d] == want[d];
    if (ok) return ONYX_OK;
    char got[160] = "", exp[160] = "";
    size_t ug = 0, ue = 0;
    for (int d = 0; d < t->rank && ug < sizeof got - 24; d++)
        ug += (size_t)snprintf(got + ug, sizeof got - ug, "%s%lld", d ? ", " : "",
                               (long long)t->dims[d]);
    for (int d = 0; d < rank && ue < sizeof exp - 24; d++)
        ue += (size_t)snprintf(exp + ue, sizeof exp - ue, "%s%lld", d ? ", " : "",
                               (long long)want[d]);
    return k_fail(k, ONYX_E_SHAPE, "input %d (%s) has shape [%s], expected [%s]", i, name, got,
                  exp);
}

static onyx_status rnn_parse_acts(onyx_kctx *k, rnn_cfg *c)
{
    static const char *const defaults[3][3] = {
        {"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
    const onyx_attr *a = k_attr(k, "activations");
    int n = a && a->type == ATTR_STRINGS ? a->n : 0;
    int need = c->nacts * c->dirs;
    if (a && !(n == need || (c->dirs == 2 && n == c->nacts)))
        return k_fail(k, ONYX_E_INVALID, "attribute 'activations' has %d entries, expected %d", n,
                      need);
    const float *alphas = NULL, *betas = NULL;
    int na = k_attr_floats(k, "activation_alpha", &alphas);
    int nb = k_attr_floats(k, "activation_beta", &betas);
    int ia = 0, ib = 0;
    for (int i = 0; i < need; i++) {
        const char *name = n ? a->strings[i % n] : defaults[c->kind][i % c->nacts];
        size_t e = 0, ne = sizeof rnn_act_table / sizeof rnn_act_table[0];
        while (e < ne && !rnn_name_eq(name, rnn_act_table[e].name)) e++;
        if (e == ne) return k_fail(k, ONYX_E_UNSUPPORTED, "activation '%s' is not supported", name);
        rnn_act *ra = &c->act[i / c->nacts][i % c->nacts];
        ra->kind = rnn_act_table[e].kind;
        ra->alpha = rnn_act_table[e].alpha;
        ra->beta = rnn_act_table[e].beta;
        /* alphas and betas are consumed in order by the functions that take them */
        if ((rnn_act_table[e].uses & 1) && ia < na) ra->alpha = alphas[ia++];
        if ((rnn_act_table[e].uses & 2) && ib < nb) ra->beta = betas[ib++];
    }
    return ONYX_OK;
}

static void rnn_store(onyx_tensor *t, int64_t at, const double *v, int64_t n)
{
    if (t->dtype == ONYX_FLOAT)
        for (int64_t i = 0; i < n; i++) ((float *)t->data)[at + i] = (float)v[i];
    else
        for (int64_t i = 0; i < n; i++) k_set_f64(t, at + i, v[i]);
}

static void rnn_free(rnn_cfg *c)
{
    free(c->X);
    free(c->W);
    free(c->R);
    free(c->B);
    free(c->H0);
    free(c->C0);
    free(c->P);
    free(c->lens);
    free(c->h);
    free(c->cst);
    free(c->g1);
    free(c->g2);
    free(c->tmp);
    free(c->xp);
    free(c->vp);
    free(c->act_b);
}

static onyx_status rnn_setup(onyx_kctx *k, rnn_cfg *c)
{
    onyx_status st =
        k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *X = k_input(k, 0);
    onyx_dtype dt = X->dtype;
    if ((st = k_require(k, 1, dt, ONYX_UNDEFINED)) || (st = k_require(k, 2, dt, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *W = k_input(k, 1), *R = k_input(k, 2);
    int64_t layout = k_attr_int(k, "layout", 0);
    if (layout != 0 && layout != 1)
        return k_fail(k, ONYX_E_INVALID, "attribute 'layout' must be 0 or 1 (got %lld)",
                      (long long)layout);
    c->layout1 = layout == 1;
    const char *dir = k_attr_string(k, "direction", "forward");
    if (strcmp(dir, "forward") == 0)
        c->dirs = 1;
    else if (strcmp(dir, "reverse") == 0)
        c->dirs = 1, c->reverse = true;
    else if (strcmp(dir, "bidirectional") == 0)
        c->dirs = 2;
    else
        return k_fail(k, ONYX_E_INVALID,
                      "attribute 'direction' is '%s' (forward, reverse or bidirectional)", dir);
    if (X->rank != 3 || W->rank != 3 || R->rank != 3)
        return k_fail(k, ONYX_E_SHAPE, "X, W and R must be 3-D (got ranks %d, %d, %d)", X->rank,
                      W->rank, R->rank);
    c->seq = X->dims[c->layout1 ? 1 : 0];
    c->batch = X->dims[c->layout1 ? 0 : 1];
    c->in = X->dims[2];
    c->hid = k_attr_int(k, "hidden_size", R->dims[2]);
    if (c->hid != R->dims[2] || c->hid < 0)
        return k_fail(k, ONYX_E_SHAPE, "hidden_size %lld does not match R's last dimension %lld",
                      (long long)c->hid, (long long)R->dims[2]);
    int64_t G = c->gates * c->hid;
    int64_t wd[3] = {c->dirs, G, c->in}, rd[3] = {c->dirs, G, c->hid};
    if ((st = rnn_check_shape(k, 1, "W", 3, wd)) || (st = rnn_check_shape(k, 2, "R", 3, rd)))
        return st;
    int64_t bd[2] = {c->dirs, 2 * G}, pd[2] = {c->dirs, 3 * c->hid};
    int64_t hd[3] = {c->dirs, c->batch, c->hid};
    if (c->layout1) hd[0] = c->batch, hd[1] = c->dirs;
    if (k_input(k, 3) && (st = rnn_check_shape(k, 3, "B", 2, bd))) return st;
    if (k_input(k, 5) && (st = rnn_check_shape(k, 5, "initial_h", 3, hd))) return st;
    if (c->kind == RNN_LSTM) {
        if (k_input(k, 6) && (st = rnn_check_shape(k, 6, "initial_c", 3, hd))) return st;
        if (k_input(k, 7) && (st = rnn_check_shape(k, 7, "P", 2, pd))) return st;
    }
    c->clip = k_attr_float(k, "clip", 0.0f);
    if (k_attr(k, "clip") && c->clip <= 0)
        return k_fail(k, ONYX_E_INVALID, "attribute 'clip' must be positive (got %g)", c->clip);
    if ((st = rnn_parse_acts(k, c))) return st;

    const onyx_tensor *sl = k_input(k, 4);
    if (sl) {
        if (!dtype_is_int(sl->dtype) || sl->rank != 1 || sl->dims[0] != c->batch)
            return k_fail(k, ONYX_E_SHAPE,
                          "sequence_lens must be an integer tensor of shape [%lld]",
                          (long long)c->batch);
        c->lens = malloc((size_t)(c->batch ? c->batch : 1) * sizeof *c->lens);
        if (!c->lens) return k_fail(k, ONYX_E_NOMEM, "out of memory");
        k_read_ints(sl, c->lens, c->batch);
        for (int64_t b = 0; b < c->batch; b++)
            if (c->lens[b] < 0 || c->lens[b] > c->seq)
                return k_fail(k, ONYX_E_INVALID, "sequence_lens[%lld] = %lld is outside [0, %lld]",
                              (long long)b, (long long)c->lens[b], (long long)c->seq);
    }
    if ((st = rnn_load(k, 0, dt, &c->X)) || (st = rnn_load(k, 1, dt, &c->W)) ||
        (st = rnn_load(k, 2, dt, &c->R)) || (st = rnn_load(k, 3, dt, &c->B)) ||
        (st = rnn_load(k, 5, dt, &c->H0)))
        return st;
    if (c->kind == RNN_LSTM &&
        ((st = rnn_load(k, 6, dt, &c->C0)) || (st = rnn_load(k, 7, dt, &c->P))))
        return st;
    /* an empty X can claim any batch size: bound the state buffers */
    if (c->batch > 0 && 4 * c->hid > (int64_t)(SIZE_MAX / 2 / sizeof(double)) / c->batch)
        return k_fail(k, ONYX_E_LIMIT, "batch %lld x hidden_size %lld is too large",
                      (long long)c->batch, (long long)c->hid);
    size_t nb = (size_t)(c->batch ? c->batch : 1), nh = (size_t)(c->hid ? c->hid : 1);
    c->h = malloc(nb * nh * sizeof(double));
    c->cst = malloc(nb * nh * sizeof(double));
    c->g1 = malloc(nb * (size_t)c->gates * nh * sizeof(double));
    c->g2 = malloc(nb * (size_t)c->gates * nh * sizeof(double));
    c->tmp = malloc(nb * 3 * nh * sizeof(double));
    c->xp = malloc(nb * sizeof *c->xp);
    c->vp = malloc(nb * sizeof *c->vp);
    c->act_b = malloc(nb * sizeof *c->act_b);
    if (!c->h || !c->cst || !c->g1 || !c->g2 || !c->tmp || !c->xp || !c->vp || !c->act_b)
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    return ONYX_OK;
}

static onyx_status rnn_run(onyx_kctx *k, int kind)
{
    rnn_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.gates = kind == RNN_PLAIN ? 1 : kind == RNN_GRU ? 3 : 4;
    c.nacts = kind + 1;
    c.linear_before_reset = k_attr_int(k, "linear_before_reset", 0) != 0;
    c.input_forget = k_attr_int(k, "input_forget", 0) != 0;
    onyx_status st = rnn_setup(k, &c);
    if (st) {
        rnn_free(&c);
        return st;
    }
    int64_t H = c.hid, yd[4], hd[3];
    if (c.layout1) {
        yd[0] = c.batch, yd[1] = c.seq, yd[2] = c.dirs, yd[3] = H;
        hd[0] = c.batch, hd[1] = c.dirs, hd[2] = H;
    } else {
        yd[0] = c.seq, yd[1] = c.dirs, yd[2] = c.batch, yd[3] = H;
        hd[0] = c.dirs, hd[1] = c.batch, hd[2] = H;
    }
    onyx_dtype dt = k_input(k, 0)->dtype;
    onyx_tensor *Y = k_output(k, 0, dt, 4, yd);
    onyx_tensor *Yh = Y ? k_output(k, 1, dt, 3, hd) : NULL;
    onyx_tensor *Yc = Yh && kind == RNN_LSTM ? k_output(k, 2, dt, 3, hd) : NULL;
    if (!Y || !Yh || (kind == RNN_LSTM && !Yc)) {
        rnn_free(&c);
        return k->err->code;
    }
    for (int d = 0; d < c.dirs; d++) {
        bool rev = c.reverse || d == 1;
        for (int64_t b = 0; b < c.batch; b++) {
            int64_t hoff = (c.layout1 ? b * c.dirs + d : d * c.batch + b) * H;
            for (int64_t j = 0; j < H; j++) {
                c.h[b * H + j] = c.H0 ? c.H0[hoff + j] : 0;
                c.cst[b * H + j] = c.C0 ? c.C0[hoff + j] : 0;
            }
        }
        for (int64_t s = 0; s < c.seq; s++) {
            /* batch entries whose sequence is over keep their state; their Y
             * stays zero */
            int64_t na = 0;
            for (int64_t b = 0; b < c.batch; b++) {
                int64_t len = c.lens ? c.lens[b] : c.seq;
                if (s >= len) continue;
                int64_t t = rev ? len - 1 - s : s;
                c.xp[b] = c.X + (c.layout1 ? b * c.seq + t : t * c.batch + b) * c.in;
                c.act_b[na++] = b;
            }
            if (na == 0) break;
            rnn_step(&c, d, na);
            for (int64_t a = 0; a < na; a++) {
                int64_t b = c.act_b[a], len = c.lens ? c.lens[b] : c.seq;
                int64_t t = rev ? len - 1 - s : s;
                int64_t yoff = c.layout1 ? ((b * c.seq + t) * c.dirs + d) * H
                                         : ((t * c.dirs + d) * c.batch + b) * H;
                rnn_store(Y, yoff, c.h + b * H, H);
            }
        }
        for (int64_t b = 0; b < c.batch; b++) {
            int64_t hoff = (c.layout1 ? b * c.dirs + d : d * c.batch + b) * H;
            rnn_store(Yh, hoff, c.h + b * H, H);
            if (Yc) rnn_store(Yc, hoff, c.cst + b * H, H);
        }
    }
    rnn_free(&c);
    return st;
}

static onyx_status op_rnn(onyx_kctx *k)
{
    return rnn_run(k, RNN_PLAIN);
}
static onyx_status op_gru(onyx_kctx *k)
{
    return rnn_run(k, RNN_GRU);
}
static onyx_status op_lstm(onyx_kctx *k)
{
    return rnn_run(k, RNN_LSTM);
}

const onyx_op_def onyx_ops_rnn[] = {
    {"", "RNN", op_rnn},
    {"", "GRU", op_gru},
    {"", "LSTM", op_lstm},
    {0},
};
