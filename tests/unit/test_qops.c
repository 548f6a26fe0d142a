/* test_qops.c - the fast paths of the quantized operators (ops/qconv.c,
 * ops/qmatmul.c, ops/quantize.c: weights packed in prepare(), the integer
 * GEMM, NHWC with the indirection buffer, depthwise rows, flipped and
 * zero-point-corrected operands) against the same operators' reference
 * kernels (run without a prepared state) on random shapes: ConvInteger,
 * QLinearConv and QConv (1-D and 2-D, 1x1, 3x3, 5x5, strides, dilations,
 * pads, auto_pad, groups, depthwise, batch, uint8/int8 activations and
 * weights, per-channel scales, bias, residual, every activation),
 * MatMulInteger, QLinearMatMul and QMatMul (constant and run-time B, batch
 * broadcasting, B zero points, dynamic float A), QuantizeLinear,
 * DequantizeLinear and DynamicQuantizeLinear. Integer outputs must match
 * exactly; requantized ones may differ by 1 where float and double round a
 * tie differently, float ones by float rounding; 1 and 3 threads bit for bit.
 * The process re-runs itself on every lower ISA path (ONYX_ISA, ONYX_NO_DOT).
 */
#include "harness.h"
#include "../../ops/qgemm.h"

/* ---- tensors ---- */

#define MAXT 64
static onyx_tensor *pool[MAXT];
static int n_pool;

static onyx_tensor *mk(onyx_dtype dt, int rank, const int64_t *dims)
{
    onyx_tensor *t = onyx_tensor_create(dt, rank, dims);
    if (!t || n_pool == MAXT) {
        printf("cannot allocate a test tensor\n");
        exit(2);
    }
    pool[n_pool++] = t;
    return t;
}

static void pool_free(void)
{
    for (int i = 0; i < n_pool; i++) onyx_tensor_free(pool[i]);
    n_pool = 0;
}

/* Random bytes (uint8 or int8). */
static onyx_tensor *bytes(onyx_dtype dt, int rank, const int64_t *dims)
{
    onyx_tensor *t = mk(dt, rank, dims);
    uint8_t *p = t->data;
    for (int64_t i = 0; i < tensor_numel_of(rank, dims); i++) p[i] = (uint8_t)rnd(256);
    return t;
}

static onyx_tensor *floats(int rank, const int64_t *dims, double lo, double hi)
{
    onyx_tensor *t = mk(ONYX_FLOAT, rank, dims);
    float *p = t->data;
    for (int64_t i = 0; i < tensor_numel_of(rank, dims); i++) p[i] = (float)(lo + (hi - lo) * rnd(10001) / 10000.0);
    return t;
}

/* [N, C, H, W] -> [N, H, W, C], any element size. */
static onyx_tensor *to_nhwc(const onyx_tensor *t)
{
    int64_t d[4] = {t->dims[0], t->dims[2], t->dims[3], t->dims[1]};
    onyx_tensor *r = mk(t->dtype, 4, d);
    size_t es = onyx_dtype_size(t->dtype);
    int64_t N = t->dims[0], C = t->dims[1], HW = t->dims[2] * t->dims[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < HW; p++)
                memcpy((char *)r->data + ((n * HW + p) * C + c) * es, (const char *)t->data + ((n * C + c) * HW + p) * es, es);
    return r;
}

static onyx_tensor *scalar_f(float v)
{
    onyx_tensor *t = mk(ONYX_FLOAT, 0, NULL);
    *(float *)t->data = v;
    return t;
}

static onyx_tensor *scalar_b(onyx_dtype dt, int v)
{
    onyx_tensor *t = mk(dt, 0, NULL);
    *(uint8_t *)t->data = (uint8_t)v;
    return t;
}

/* A zero point: 0 for int8 and 128 for uint8 when symmetric, else random. */
static onyx_tensor *zero_point(onyx_dtype dt, int64_t per, bool symmetric)
{
    onyx_tensor *t = mk(dt, per > 1 ? 1 : 0, &per);
    uint8_t *p = t->data;
    for (int64_t i = 0; i < per; i++)
        p[i] = (uint8_t)(symmetric ? (dt == ONYX_UINT8 ? 128 : 0) : (dt == ONYX_UINT8 ? 100 + rnd(56) : rnd(41) - 20));
    return t;
}

/* ---- running an operator ---- */

typedef struct call {
    const char *domain, *op;
    int n_in, n_out;
    const onyx_tensor *in[10];
    bool is_const[10];     /* initializers for prepare() */
    int n_attr;
    onyx_attr attr[12];
    int opset;
} call;

typedef struct result {
    onyx_status st;
    onyx_error err;
    onyx_tensor out[3];
} result;

static void result_free(result *r)
{
    for (int i = 0; i < 3; i++) tensor_release(&r->out[i]);
}

static void run(const call *c, bool prepared, onyx_threads *tp, result *r)
{
    memset(r, 0, sizeof *r);
    const onyx_op_def *d = onyx_find_op(c->domain, c->op);
    if (!d) {
        r->st = ONYX_E_UNSUPPORTED;
        snprintf(r->err.message, sizeof r->err.message, "no kernel for %s", c->op);
        return;
    }
    onyx_kctx k;
    memset(&k, 0, sizeof k);
    onyx_tensor *outs[3] = {&r->out[0], &r->out[1], &r->out[2]};
    k.op_type = c->op;
    k.domain = c->domain;
    k.opset = c->opset ? c->opset : 21;
    k.n_attrs = c->n_attr;
    k.attrs = c->attr;
    k.n_inputs = c->n_in;
    k.n_outputs = c->n_out;
    k.outputs = outs;
    k.err = &r->err;
    k.threads = tp;
    void *state = NULL;
    if (prepared && d->prepare) {
        const onyx_tensor *consts[10] = {0};
        for (int i = 0; i < c->n_in; i++) consts[i] = c->is_const[i] ? c->in[i] : NULL;
        k.inputs = consts;
        r->st = d->prepare(&k, &state);
        if (r->st) return;
    }
    k.inputs = c->in;
    k.state = state;
    r->st = d->run(&k);
    if (state && d->release) d->release(state);
    for (int i = 0; i < 8; i++) tensor_release(&k.spare[i]);
}

/* Compares output i of the fast and reference runs: exact for integers
 * unless q_tol (then |d| <= 1, and only where float and double may round a
 * tie apart: at most a few elements), float within tol of max|ref|. */
static void compare_out(const result *ref, const result *fast, int i, bool q_tol, double tol,
                        const char *what)
{
    const onyx_tensor *a = &ref->out[i], *b = &fast->out[i];
    int64_t n = tensor_numel_of(a->rank, a->dims);
    bool shape = a->rank == b->rank && a->dtype == b->dtype && n == tensor_numel_of(b->rank, b->dims);
    for (int d = 0; shape && d < a->rank; d++) shape = a->dims[d] == b->dims[d];
    CHECK(shape, "%s output %d: shape or type differs (%s vs %s)", what, i, onyx_dtype_name(a->dtype),
          onyx_dtype_name(b->dtype));
    if (!shape) return;
    if (a->dtype == ONYX_FLOAT) {
        const float *x = a->data, *y = b->data;
        double scale = 1e-6, worst = 0;
        for (int64_t e = 0; e < n; e++) scale = fmax(scale, fabs(x[e]));
        int64_t at = -1;
        for (int64_t e = 0; e < n; e++) {
            double d = fabs((double)x[e] - y[e]) / scale;
            if (!(d <= worst)) worst = d, at = e;
        }
        CHECK(worst <= tol, "%s output %d: max error %g of max|ref| %g at %lld (%g vs %g)", what, i,
              worst, scale, (long long)at, at >= 0 ? y[at] : 0.0, at >= 0 ? x[at] : 0.0);
        return;
    }
    int64_t off1 = 0, big = 0, first = -1;
    for (int64_t e = 0; e < n; e++) {
        double x = k_get_f64(a, e), y = k_get_f64(b, e);
        if (x == y) continue;
        if (first < 0) first = e;
        if (q_tol && fabs(x - y) <= 1) off1++;
        else big++;
    }
    CHECK(big == 0 && off1 <= 2 + n / 500, "%s output %d: %lld differ by more than %d, %lld by 1 (first at %lld: %g vs %g)",
          what, i, (long long)big, q_tol ? 1 : 0, (long long)off1, (long long)first,
          first >= 0 ? k_get_f64(b, first) : 0.0, first >= 0 ? k_get_f64(a, first) : 0.0);
}

/* Reference (no state) against the fast path with 1 and 3 threads. */
static void compare(const call *c, onyx_threads *tp1, onyx_threads *tp3, bool q_tol, double tol,
                    const char *what)
{
    result r0, r1, r3;
    run(c, false, tp1, &r0);
    run(c, true, tp1, &r1);
    run(c, true, tp3, &r3);
    CHECK(r0.st == ONYX_OK && r1.st == ONYX_OK && r3.st == ONYX_OK, "%s: status %d %d %d (%s / %s)",
          what, r0.st, r1.st, r3.st, r0.err.message, r1.err.message);
    if (!r0.st && !r1.st && !r3.st)
        for (int i = 0; i < c->n_out; i++) {
            if (!r0.out[i].data && !r1.out[i].data) continue;
            compare_out(&r0, &r1, i, q_tol, tol, what);
            const onyx_tensor *a = &r1.out[i], *b = &r3.out[i];
            CHECK(a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes),
                  "%s output %d: 3 threads differ from 1", what, i);
        }
    result_free(&r0);
    result_free(&r1);
    result_free(&r3);
}

static const char *act_names[] = {"", "Relu", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "SiLU", "Tanh", "Gelu"};

static int add_act(onyx_attr *at, float *params)
{
    int a = rnd(3) == 0 ? rnd(10) : rnd(3);
    at[0] = attr_str("activation", act_names[a]);
    if (a == 2) {
        params[0] = -0.5f, params[1] = 3.0f;
        at[1] = attr_floats("activation_params", 2, params);
        return 2;
    }
    if (a == 3) {
        params[0] = 0.2f;
        at[1] = attr_floats("activation_params", 1, params);
        return 2;
    }
    return 1;
}

/* ---- convolutions ---- */

static int64_t pads_v[4], strides_v[2], dil_v[2];

/* big: a depthwise conv with enough work for the threads to split it */
static void test_conv(onyx_threads *tp1, onyx_threads *tp3, int iter, int kind, bool big)
{
    int nsp = big ? 2 : 1 + (rnd(5) != 0);
    bool depthwise = big || rnd(4) == 0;
    int64_t grp = depthwise ? 0 : rnd(4) == 0 ? 1 + rnd(3) : 1;
    int64_t n = 1 + rnd(2), cg = depthwise ? 1 : 1 + rnd(iter % 3 == 0 ? 40 : 9);
    int64_t c = depthwise ? 1 + rnd(40) : cg * grp;
    if (depthwise) grp = c;
    int64_t m = depthwise ? c : grp * (1 + rnd(iter % 3 == 1 ? 40 : 12));
    int64_t k0 = 1 + rnd(3) * 2 - (rnd(5) == 0 ? 1 : 0);
    if (k0 < 1) k0 = 1;
    int64_t k1 = rnd(4) == 0 ? 1 + rnd(3) * 2 : k0;
    if (big) c = m = grp = 64, k0 = k1 = 3;
    int64_t xd[4] = {n, c, big ? 64 : 2 + rnd(12), big ? 64 : 2 + rnd(14)}, wd[4] = {m, cg, k0, k1};
    if (nsp == 1) xd[2] = xd[3], wd[2] = wd[3];
    call cl;
    memset(&cl, 0, sizeof cl);
    int na = 0;
    cl.attr[na++] = attr_int("group", grp);
    for (int a = 0; a < nsp; a++) {
        strides_v[a] = 1 + (rnd(3) == 0);
        dil_v[a] = 1 + (rnd(5) == 0);
        pads_v[a] = rnd(3);
        pads_v[nsp + a] = rnd(3);
    }
    /* keep the padded input at least as large as the dilated kernel */
    for (int a = 0; a < nsp; a++) {
        int64_t dk = (wd[2 + a] - 1) * dil_v[a] + 1;
        if (xd[2 + a] + pads_v[a] + pads_v[nsp + a] < dk) xd[2 + a] = dk;
    }
    cl.attr[na++] = attr_ints("strides", nsp, strides_v);
    cl.attr[na++] = attr_ints("dilations", nsp, dil_v);
    if (rnd(6) == 0) cl.attr[na++] = attr_str("auto_pad", rnd(2) ? "SAME_UPPER" : "SAME_LOWER");
    else cl.attr[na++] = attr_ints("pads", 2 * nsp, pads_v);
    onyx_dtype xt = rnd(3) ? ONYX_UINT8 : ONYX_INT8, wt = rnd(4) ? ONYX_INT8 : ONYX_UINT8;
    bool w_sym = !depthwise || rnd(2);
    onyx_tensor *x = bytes(xt, nsp + 2, xd), *w = bytes(wt, nsp + 2, wd);
    if (wt == ONYX_INT8 && w_sym) /* symmetric int8 weights never use -128 */
        for (int64_t i = 0; i < tensor_numel_of(nsp + 2, wd); i++)
            if (((int8_t *)w->data)[i] == -128) ((int8_t *)w->data)[i] = -127;
    int64_t per = rnd(3) ? m : 1;
    onyx_tensor *xs = scalar_f(0.01f + 0.02f * rnd(10)), *xz = rnd(5) ? scalar_b(xt, rnd(256)) : NULL;
    onyx_tensor *ws = floats(per > 1 ? 1 : 0, &per, 0.001, 0.02), *wz = zero_point(wt, rnd(2) ? m : 1, w_sym);
    char what[200];
    cl.opset = 21;
    if (kind == 0) { /* ConvInteger */
        cl.domain = "", cl.op = "ConvInteger";
        cl.n_in = 4, cl.n_out = 1;
        cl.in[0] = x, cl.in[1] = w, cl.in[2] = xz, cl.in[3] = wz;
        cl.is_const[1] = cl.is_const[3] = true;
        cl.n_attr = na;
        snprintf(what, sizeof what, "ConvInteger #%d n=%lld c=%lld m=%lld g=%lld k=%lldx%lld nsp=%d", iter,
                 (long long)n, (long long)c, (long long)m, (long long)grp, (long long)k0, (long long)k1, nsp);
        compare(&cl, tp1, tp3, false, 0, what);
        return;
    }
    onyx_dtype yt = rnd(2) ? ONYX_UINT8 : ONYX_INT8;
    onyx_tensor *ys = scalar_f(0.05f + 0.05f * rnd(8)), *yz = scalar_b(yt, yt == ONYX_UINT8 ? rnd(256) : rnd(200) - 100);
    if (kind == 1) { /* QLinearConv: int32 bias */
        onyx_tensor *b = rnd(3) ? mk(ONYX_INT32, 1, &m) : NULL;
        if (b)
            for (int64_t j = 0; j < m; j++) ((int32_t *)b->data)[j] = rnd(20001) - 10000;
        cl.domain = "", cl.op = "QLinearConv";
        cl.n_in = 9, cl.n_out = 1;
        const onyx_tensor *ins[9] = {x, xs, xz ? xz : scalar_b(xt, 0), w, ws, wz, ys, yz, b};
        memcpy(cl.in, ins, sizeof ins);
        cl.is_const[3] = cl.is_const[4] = cl.is_const[5] = cl.is_const[8] = true;
        cl.n_attr = na;
        snprintf(what, sizeof what, "QLinearConv #%d n=%lld c=%lld m=%lld g=%lld k=%lldx%lld nsp=%d", iter,
                 (long long)n, (long long)c, (long long)m, (long long)grp, (long long)k0, (long long)k1, nsp);
        compare(&cl, tp1, tp3, false, 0, what);
        return;
    }
    /* QConv: float bias, residual, activation, float and quantized outputs */
    int64_t yd[4];
    {
        result probe; /* Y's shape from the reference */
        cl.domain = "ai.onyx", cl.op = "QConv";
        cl.n_in = 6, cl.n_out = 1;
        const onyx_tensor *ins[6] = {x, xs, xz, w, ws, wz};
        memcpy(cl.in, ins, sizeof ins);
        cl.n_attr = na;
        run(&cl, false, tp1, &probe);
        if (probe.st) {
            CHECK(false, "QConv #%d probe: %s", iter, probe.err.message);
            result_free(&probe);
            return;
        }
        memcpy(yd, probe.out[0].dims, sizeof yd);
        result_free(&probe);
    }
    float params[2];
    na += add_act(cl.attr + na, params);
    cl.n_attr = na;
    onyx_tensor *b = rnd(3) ? floats(1, &m, -2, 2) : NULL, *z = rnd(3) ? floats(nsp + 2, yd, -1, 1) : NULL;
    cl.n_in = 10;
    cl.n_out = 2;
    /* without y_zero_point, Y_q is uint8 */
    const onyx_tensor *ins[10] = {x, xs, xz, w, ws, wz, b, z, ys, rnd(5) ? yz : NULL};
    memcpy(cl.in, ins, sizeof ins);
    cl.is_const[3] = cl.is_const[4] = cl.is_const[5] = cl.is_const[6] = true;
    snprintf(what, sizeof what, "QConv #%d n=%lld c=%lld m=%lld g=%lld k=%lldx%lld nsp=%d act=%s", iter,
             (long long)n, (long long)c, (long long)m, (long long)grp, (long long)k0, (long long)k1, nsp,
             cl.attr[na - (cl.attr[na - 1].type == ATTR_FLOATS ? 2 : 1)].s);
    compare(&cl, tp1, tp3, true, 2e-5, what);
    if (nsp != 2) return;
    /* NhwcQConv: the same with X, Z and Y in NHWC; its reference must give
     * QConv's reference transposed, and its fast path must match it */
    result r_nchw, r_nhwc;
    run(&cl, false, tp1, &r_nchw);
    call ch = cl;
    ch.op = "NhwcQConv";
    ch.in[0] = to_nhwc(x);
    if (z) ch.in[7] = to_nhwc(z);
    run(&ch, false, tp1, &r_nhwc);
    CHECK(r_nchw.st == ONYX_OK && r_nhwc.st == ONYX_OK, "%s NHWC reference: %s", what, r_nhwc.err.message);
    for (int o = 0; o < 2 && !r_nchw.st && !r_nhwc.st; o++) {
        if (!r_nchw.out[o].data) continue;
        onyx_tensor *t = to_nhwc(&r_nchw.out[o]);
        CHECK(t->nbytes == r_nhwc.out[o].nbytes && !memcmp(t->data, r_nhwc.out[o].data, t->nbytes),
              "%s output %d: the NHWC reference differs from the NCHW one", what, o);
    }
    result_free(&r_nchw);
    result_free(&r_nhwc);
    strncat(what, " (NHWC)", sizeof what - strlen(what) - 1);
    compare(&ch, tp1, tp3, true, 2e-5, what);
}

/* ---- matrix products ---- */

static void test_matmul(onyx_threads *tp1, onyx_threads *tp3, int iter, int kind)
{
    bool const_b = rnd(3) != 0;
    int64_t M = 1 + rnd(iter % 4 == 0 ? 70 : 20), K = 1 + rnd(iter % 3 == 0 ? 300 : 40), N = 1 + rnd(iter % 4 == 1 ? 90 : 30);
    int ra = 2 + (rnd(3) == 0) + (rnd(4) == 0), rb = const_b ? 2 : 2 + rnd(3);
    int64_t ad[5], bd[5];
    int nbt = (ra > rb ? ra : rb) - 2;
    int64_t batch[3] = {1 + rnd(3), 1 + rnd(2), 2};
    for (int d = 0; d < ra - 2; d++) ad[d] = rnd(4) == 0 ? 1 : batch[nbt - (ra - 2) + d];
    for (int d = 0; d < rb - 2; d++) bd[d] = rnd(4) == 0 ? 1 : batch[nbt - (rb - 2) + d];
    ad[ra - 2] = M, ad[ra - 1] = K, bd[rb - 2] = K, bd[rb - 1] = N;
    onyx_dtype at = rnd(3) ? ONYX_UINT8 : ONYX_INT8, bt = rnd(3) ? ONYX_INT8 : ONYX_UINT8;
    bool b_sym = rnd(2);
    onyx_tensor *A = bytes(at, ra, ad), *B = bytes(bt, rb, bd);
    onyx_tensor *az = scalar_b(at, rnd(256)), *bz = zero_point(bt, 1, b_sym);
    call cl;
    memset(&cl, 0, sizeof cl);
    char what[200];
    if (kind == 0) {
        cl.domain = "", cl.op = "MatMulInteger";
        cl.n_in = 4, cl.n_out = 1;
        cl.in[0] = A, cl.in[1] = B, cl.in[2] = az, cl.in[3] = bz;
        cl.is_const[1] = cl.is_const[3] = const_b;
        snprintf(what, sizeof what, "MatMulInteger #%d A rank %d B rank %d M=%lld K=%lld N=%lld const_b=%d", iter, ra,
                 rb, (long long)M, (long long)K, (long long)N, const_b);
        compare(&cl, tp1, tp3, false, 0, what);
        return;
    }
    int64_t per = rnd(2) ? N : 1;
    onyx_tensor *as = scalar_f(0.01f + 0.01f * rnd(5)), *bs = floats(per > 1 ? 1 : 0, &per, 0.002, 0.02);
    onyx_dtype yt = rnd(2) ? ONYX_UINT8 : ONYX_INT8;
    onyx_tensor *ys = scalar_f(0.2f + 0.1f * rnd(8)), *yz = scalar_b(yt, yt == ONYX_UINT8 ? rnd(256) : rnd(200) - 100);
    if (kind == 1) {
        cl.domain = "", cl.op = "QLinearMatMul";
        cl.n_in = 8, cl.n_out = 1;
        const onyx_tensor *ins[8] = {A, as, az, B, bs, bz, ys, yz};
        memcpy(cl.in, ins, sizeof ins);
        cl.is_const[3] = cl.is_const[4] = cl.is_const[5] = const_b;
        snprintf(what, sizeof what, "QLinearMatMul #%d A rank %d B rank %d M=%lld K=%lld N=%lld const_b=%d", iter, ra,
                 rb, (long long)M, (long long)K, (long long)N, const_b);
        compare(&cl, tp1, tp3, true, 0, what);
        return;
    }
    /* QMatMul: float or quantized A, bias, residual, activation, transB */
    bool dynamic = rnd(3) == 0, tb = const_b && rnd(3) == 0;
    if (tb) {
        int64_t td[2] = {N, K};
        B = bytes(bt, 2, td);
    }
    if (dynamic) A = floats(ra, ad, -3, 2);
    int64_t yd[5];
    for (int d = 0; d < nbt; d++) {
        int ia = d - (nbt - (ra - 2)), ib = d - (nbt - (rb - 2));
        int64_t da = ia >= 0 ? ad[ia] : 1, db = ib >= 0 ? bd[ib] : 1;
        yd[d] = da > db ? da : db;
    }
    yd[nbt] = M, yd[nbt + 1] = N;
    onyx_tensor *bias = rnd(2) ? floats(1, &N, -1, 1) : NULL, *z = rnd(3) == 0 ? floats(nbt + 2, yd, -1, 1) : NULL;
    float params[2];
    int na = add_act(cl.attr, params);
    if (tb) cl.attr[na++] = attr_int("transB", 1);
    cl.n_attr = na;
    cl.domain = "ai.onyx", cl.op = "QMatMul";
    cl.n_in = 10, cl.n_out = 2;
    const onyx_tensor *ins[10] = {A, dynamic ? NULL : as, dynamic ? NULL : az, B, bs, bz, bias, z, ys, yz};
    memcpy(cl.in, ins, sizeof ins);
    cl.is_const[3] = cl.is_const[4] = cl.is_const[5] = const_b;
    cl.is_const[6] = true;
    snprintf(what, sizeof what, "QMatMul #%d A rank %d B rank %d M=%lld K=%lld N=%lld const_b=%d dynamic=%d tb=%d act=%s",
             iter, ra, rb, (long long)M, (long long)K, (long long)N, const_b, dynamic, tb, cl.attr[0].s);
    compare(&cl, tp1, tp3, true, 2e-5, what);
}

/* ---- QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear ---- */

static void test_qdq(onyx_threads *tp1, int iter)
{
    int rank = 1 + rnd(4);
    int64_t dims[4];
    for (int d = 0; d < rank; d++) dims[d] = 1 + rnd(d == rank - 1 ? 70 : 6);
    int axis = rnd(rank);
    bool per_axis = rnd(2);
    int64_t per = per_axis ? dims[axis] : 1;
    onyx_dtype qt = rnd(2) ? ONYX_UINT8 : ONYX_INT8;
    onyx_tensor *s = floats(per_axis ? 1 : 0, &per, 0.005, 0.1), *z = zero_point(qt, per, false);
    onyx_tensor *xf = floats(rank, dims, -8, 8), *xq = bytes(qt, rank, dims);
    ((float *)xf->data)[0] = NAN; /* saturates to the low end */
    call cl;
    memset(&cl, 0, sizeof cl);
    cl.domain = "";
    cl.attr[0] = attr_int("axis", axis);
    cl.n_attr = 1;
    char what[160];
    cl.op = "QuantizeLinear";
    cl.n_in = 3, cl.n_out = 1;
    cl.in[0] = xf, cl.in[1] = s, cl.in[2] = z;
    snprintf(what, sizeof what, "QuantizeLinear #%d rank %d axis %d per_axis %d", iter, rank, axis, per_axis);
    compare(&cl, tp1, tp1, false, 0, what);
    cl.op = "DequantizeLinear";
    cl.in[0] = xq;
    snprintf(what, sizeof what, "DequantizeLinear #%d rank %d axis %d per_axis %d", iter, rank, axis, per_axis);
    compare(&cl, tp1, tp1, false, 0, what);
    cl.op = "DynamicQuantizeLinear";
    cl.n_in = 1, cl.n_out = 3, cl.n_attr = 0;
    cl.in[0] = floats(rank, dims, -1 - rnd(5), rnd(7));
    snprintf(what, sizeof what, "DynamicQuantizeLinear #%d", iter);
    compare(&cl, tp1, tp1, false, 0, what);
}

/* NhwcMaxPool of uint8/int8 images against MaxPool's reference on NCHW. */
static void test_maxpool8(onyx_threads *tp1, int iter)
{
    onyx_dtype dt = rnd(2) ? ONYX_UINT8 : ONYX_INT8;
    int64_t xd[4] = {1 + rnd(2), 1 + rnd(70), 3 + rnd(12), 3 + rnd(12)};
    onyx_tensor *x = bytes(dt, 4, xd);
    static int64_t ks[2], st[2], pd[4];
    ks[0] = 2 + rnd(2), ks[1] = 2 + rnd(2), st[0] = 1 + rnd(2), st[1] = 1 + rnd(2);
    for (int i = 0; i < 4; i++) pd[i] = rnd(2);
    call cl;
    memset(&cl, 0, sizeof cl);
    cl.domain = "", cl.op = "MaxPool";
    cl.n_in = 1, cl.n_out = 1;
    cl.in[0] = x;
    cl.attr[0] = attr_ints("kernel_shape", 2, ks);
    cl.attr[1] = attr_ints("strides", 2, st);
    cl.attr[2] = attr_ints("pads", 4, pd);
    cl.n_attr = 3;
    result ref, got;
    run(&cl, false, tp1, &ref);
    call ch = cl;
    ch.domain = "ai.onyx", ch.op = "NhwcMaxPool";
    ch.in[0] = to_nhwc(x);
    run(&ch, false, tp1, &got);
    CHECK(ref.st == ONYX_OK && got.st == ONYX_OK, "MaxPool8 #%d: %s / %s", iter, ref.err.message, got.err.message);
    if (!ref.st && !got.st) {
        onyx_tensor *t = to_nhwc(&ref.out[0]);
        CHECK(t->nbytes == got.out[0].nbytes && !memcmp(t->data, got.out[0].data, t->nbytes),
              "MaxPool8 #%d %s c=%lld: NHWC pool differs from the reference", iter, onyx_dtype_name(dt), (long long)xd[1]);
    }
    result_free(&ref);
    result_free(&got);
}

/* Runs this test again in a child process with the environment `env`. */
static void child(const char *argv0, const char *env, int *p_total, int *f_total)
{
    char cmd[4200];
    const char *wrap = getenv("ONYX_TEST_WRAPPER");
    snprintf(cmd, sizeof cmd, "ONYX_TEST_CHILD=1 %s %s '%s'", env, wrap ? wrap : "", argv0);
    FILE *f = popen(cmd, "r");
    char line[1024];
    int p = 0, q = 1;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%d passed, %d failed", &p, &q) == 2) continue;
        fputs(line, stdout);
    }
    if (!f || pclose(f) != 0 || q != 0) q = q ? q : 1;
    printf("%s: %d passed, %d failed\n", env, p, q);
    *p_total += p;
    *f_total += q;
}

int main(int argc, char **argv)
{
    (void)argc;
    int cp = 0, cf = 0;
    const onyx_cpu *cpu = onyx_cpu_info();
    if (!getenv("ONYX_TEST_CHILD")) {
        /* every lower path this CPU has, each in a child process */
        bool dot = cpu->avx512_vnni || cpu->avx_vnni || cpu->neon_dot;
        if (dot) child(argv[0], "ONYX_NO_DOT=1", &cp, &cf);
        if (cpu->isa == ONYX_ISA_AVX512) child(argv[0], "ONYX_ISA=avx2", &cp, &cf);
        if (cpu->isa == ONYX_ISA_AVX512 && cpu->avx_vnni) child(argv[0], "ONYX_ISA=avx2 ONYX_NO_DOT=1", &cp, &cf);
        if (cpu->isa != ONYX_ISA_GENERIC) child(argv[0], "ONYX_ISA=generic", &cp, &cf);
    }
    onyx_threads *tp1 = threads_create(1), *tp3 = threads_create(3);
    for (int i = 0; i < 60; i++) {
        test_conv(tp1, tp3, i, i % 3, false);
        pool_free();
    }
    for (int i = 0; i < 150; i++) {
        test_conv(tp1, tp3, i, 2, i < 3);
        pool_free();
    }
    for (int i = 0; i < 240; i++) {
        test_matmul(tp1, tp3, i, i % 3);
        pool_free();
    }
    for (int i = 0; i < 60; i++) {
        test_qdq(tp1, i);
        pool_free();
    }
    for (int i = 0; i < 40; i++) {
        test_maxpool8(tp1, i);
        pool_free();
    }
    threads_free(tp1);
    threads_free(tp3);
    printf("kernel %s: %s\n", qgemm_ukernel_best()->name, failed ? "FAILED" : "ok");
    printf("%d passed, %d failed\n", passed + cp, failed + cf);
    return failed + cf ? 1 : 0;
}
