/* test_conv_nhwc.c - ai.onyx.NhwcConv (direct and Winograd), NhwcMaxPool,
 * NhwcAveragePool, NhwcInstanceNormalization and NhwcConvTranspose against
 * the NCHW reference kernels of FusedConv, MaxPool, AveragePool,
 * InstanceNormalization and ConvTranspose (strides, dilations, pads,
 * output_padding, auto_pad, groups for the last),
 * on random shapes: 1x1, 2x2, 3x3, 5x5, 7x7 and rectangular kernels, strides,
 * dilations, asymmetric pads, auto_pad, ceil_mode, groups, depthwise,
 * channel counts around the vector widths (1, 3, 17, 24, 40, 65...), few
 * pixels and many channels (the threads split the strips), batch,
 * residual Z, every activation; dense convs also reading X in NCHW
 * (nchw_input). The fast paths must stay within float
 * rounding of the reference, give the same bits on 1 and 3 threads, and the
 * NHWC operators without prepared weights (the NCHW bridge) must reproduce
 * the reference exactly. The binary re-runs itself under each lower ISA. */
#include "../../ops/igemm.h"
#include "harness.h"

#include <time.h>

static const char *act_names[] = {"",           "Relu",    "Clip", "LeakyRelu", "HardSwish",
                                  "HardSigmoid", "Sigmoid", "SiLU", "Tanh",      "Gelu"};

static onyx_tensor *to_nhwc(const onyx_tensor *t)
{
    const int64_t *d = t->dims;
    int64_t nd[4] = {d[0], d[2], d[3], d[1]};
    onyx_tensor *r = onyx_tensor_create(ONYX_FLOAT, 4, nd);
    const float *s = t->data;
    float *o = r->data;
    for (int64_t n = 0; n < d[0]; n++)
        for (int64_t c = 0; c < d[1]; c++)
            for (int64_t p = 0; p < d[2] * d[3]; p++) o[(n * d[2] * d[3] + p) * d[1] + c] = s[(n * d[1] + c) * d[2] * d[3] + p];
    return r;
}

/* y (NHWC) against ref (NCHW): the largest error relative to max|ref|, or -1
 * when the shapes disagree. */
static double nhwc_error(const onyx_tensor *y, const onyx_tensor *ref)
{
    if (y->rank != 4 || ref->rank != 4 || y->dims[0] != ref->dims[0] || y->dims[3] != ref->dims[1] ||
        y->dims[1] != ref->dims[2] || y->dims[2] != ref->dims[3])
        return -1;
    onyx_tensor *r = to_nhwc(ref);
    int64_t at;
    double e = max_rel_error(y->data, r->data, tensor_numel_of(4, y->dims), &at);
    onyx_tensor_free(r);
    return e;
}

static int64_t channel_count(void)
{
    static const int64_t pick[] = {1, 3, 8, 16, 17, 24, 32, 40, 48, 65};
    return pick[rnd(10)];
}

/* NhwcConv call nc against the NCHW reference yref: prepared on 1 and 3
 * threads (within tol, the same bits on both), and unprepared (the NCHW
 * bridge: the reference's own bits). */
static void check_nhwc_conv(const op_call *nc, onyx_threads *tp1, onyx_threads *tp3, const onyx_tensor *yref,
                            double tol, const char *what)
{
    onyx_tensor y1, y3, yb;
    onyx_error e1, e3, eb;
    onyx_status s1 = op_run(nc, true, tp1, &y1, &e1), s3 = op_run(nc, true, tp3, &y3, &e3);
    onyx_status sb = op_run(nc, false, tp3, &yb, &eb);
    CHECK(s1 == ONYX_OK && s3 == ONYX_OK && sb == ONYX_OK, "%s: status %d %d %d (%s %s)", what, s1, s3, sb,
          e1.message, eb.message);
    if (s1 == ONYX_OK && s3 == ONYX_OK && sb == ONYX_OK) {
        double err = nhwc_error(&y1, yref);
        CHECK(err >= 0 && err < tol, "%s: error %g (tolerance %g)", what, err, tol);
        int64_t cnt = tensor_numel_of(4, y1.dims);
        CHECK(tensor_numel_of(4, y3.dims) == cnt && memcmp(y1.data, y3.data, (size_t)cnt * sizeof(float)) == 0,
              "%s: 3 threads differ from 1", what);
        CHECK(nhwc_error(&yb, yref) == 0, "%s: the NCHW bridge differs from the reference (%g)", what,
              nhwc_error(&yb, yref));
    }
    tensor_release(&y1);
    tensor_release(&y3);
    tensor_release(&yb);
}

static void test_conv(onyx_threads *tp1, onyx_threads *tp3, int iter)
{
    int kind = rnd(6); /* 0: depthwise, 1: grouped, 2: dense, few pixels and 3 or 6 strips, else dense */
    int64_t grp = 1, c, m;
    if (kind == 0) {
        c = m = grp = channel_count();
    } else if (kind == 1) {
        grp = 2 + rnd(3);
        c = grp * (1 + rnd(5));
        m = grp * (1 + rnd(20));
    } else if (kind == 2) {
        /* fewer output pixels than channels: the threads split the strips */
        c = channel_count();
        m = 96 * (1 + rnd(2)) - rnd(8);
    } else {
        c = channel_count();
        m = channel_count() + rnd(3) * 32;
    }
    static const int64_t ks[] = {1, 1, 3, 3, 5, 7, 2};
    int64_t kh = ks[rnd(7)], kw = rnd(4) ? kh : ks[rnd(7)];
    int64_t s[2] = {1 + (rnd(3) == 0), 1 + (rnd(3) == 0)}, d[2] = {1 + (rnd(6) == 0), 1 + (rnd(6) == 0)};
    int64_t pads[4] = {rnd((int)kh), rnd((int)kw), rnd((int)kh), rnd((int)kw)};
    int64_t more = kind == 2 ? 4 : 14;
    int64_t h = (kh - 1) * d[0] + 1 + rnd((int)more), w = (kw - 1) * d[1] + 1 + rnd((int)more);
    int64_t n = 1 + (rnd(4) == 0);
    int64_t xd[4] = {n, c, h, w}, wd[4] = {m, c / grp, kh, kw}, bd[1] = {m};
    onyx_tensor *x = rand_tensor(4, xd), *wt = rand_tensor(4, wd), *b = rand_tensor(1, bd);
    op_call ref = {"ai.onyx", "FusedConv", 3, {x, wt, rnd(3) ? b : NULL}, 2, 0, {{0}}};
    ref.attr[ref.n_attr++] = attr_int("group", grp);
    ref.attr[ref.n_attr++] = attr_ints("strides", 2, s);
    ref.attr[ref.n_attr++] = attr_ints("dilations", 2, d);
    bool same = rnd(6) == 0;
    ref.attr[ref.n_attr++] = same ? attr_str("auto_pad", "SAME_UPPER") : attr_ints("pads", 4, pads);
    int a = rnd(10);
    float params[2] = {-0.5f, 0.7f};
    ref.attr[ref.n_attr++] = attr_str("activation", act_names[a]);
    if (a == 2) ref.attr[ref.n_attr++] = attr_floats("activation_params", 2, params);
    if (a == 3) params[0] = 0.2f, ref.attr[ref.n_attr++] = attr_floats("activation_params", 1, params);
    char what[200];
    snprintf(what, sizeof what, "conv %d: n%lld c%lld m%lld g%lld k%lldx%lld s%lldx%lld d%lldx%lld %s act %s", iter,
             (long long)n, (long long)c, (long long)m, (long long)grp, (long long)kh, (long long)kw, (long long)s[0],
             (long long)s[1], (long long)d[0], (long long)d[1], same ? "same" : "pads", act_names[a]);
    onyx_tensor yref, *z = NULL;
    onyx_error e;
    onyx_status st = op_run(&ref, false, tp1, &yref, &e);
    if (st == ONYX_OK && rnd(3) == 0) { /* a residual of Y's shape */
        z = rand_tensor(4, yref.dims);
        ref.in[3] = z;
        ref.n_in = 4;
        tensor_release(&yref);
        st = op_run(&ref, false, tp1, &yref, &e);
    }
    CHECK(st == ONYX_OK, "%s: reference failed: %s", what, e.message);
    if (st != ONYX_OK) goto out;

    op_call nc = ref;
    nc.op = "NhwcConv";
    onyx_tensor *xn = to_nhwc(x), *zn = z ? to_nhwc(z) : NULL;
    nc.in[0] = xn;
    if (z) nc.in[3] = zn;
    /* float sums of K = C/group * kH * kW terms in another order */
    double tol = 2e-5 + 3e-6 * sqrt((double)(c / grp * kh * kw));
    check_nhwc_conv(&nc, tp1, tp3, &yref, tol, what);
    if (grp == 1) {
        /* the same conv reading X in NCHW (the layout pass's RGB stem) */
        nc.in[0] = x;
        nc.attr[nc.n_attr++] = attr_int("nchw_input", 1);
        strncat(what, " nchw_input", sizeof what - strlen(what) - 1);
        check_nhwc_conv(&nc, tp1, tp3, &yref, tol, what);
    }
    onyx_tensor_free(xn);
    onyx_tensor_free(zn);
out:
    tensor_release(&yref);
    onyx_tensor_free(x);
    onyx_tensor_free(wt);
    onyx_tensor_free(b);
    onyx_tensor_free(z);
}

/* Winograd F(4x4, 3x3) (dense 3x3 stride 1, 16..128 channels): images that
 * are and are not multiples of 4, many tile blocks, padding, batch,
 * residual, activations. Its error is reported, and bounded as the direct
 * path's is. */
static double wino_worst;

static void test_winograd(onyx_threads *tp1, onyx_threads *tp3, int iter)
{
    static const int64_t chans[] = {16, 24, 32, 48, 64, 128};
    int64_t c = chans[rnd(6)], m = chans[rnd(6)], n = 1 + (rnd(3) == 0);
    int64_t h = 1 + rnd(40), w = 1 + rnd(40), pads[4] = {rnd(3), rnd(3), rnd(3), rnd(3)};
    if (h + pads[0] + pads[2] < 3) h = 3;
    if (w + pads[1] + pads[3] < 3) w = 3;
    int64_t xd[4] = {n, c, h, w}, wd[4] = {m, c, 3, 3}, bd[1] = {m};
    onyx_tensor *x = rand_tensor(4, xd), *wt = rand_tensor(4, wd), *b = rand_tensor(1, bd);
    op_call ref = {"ai.onyx", "FusedConv", 3, {x, wt, b}, 2, 0, {{0}}};
    ref.attr[ref.n_attr++] = attr_ints("pads", 4, pads);
    /* activations that keep the sums' magnitude, so the error is measured
     * against the size of what the transforms computed */
    int a = rnd(2) ? 1 : 3;
    float params[1] = {0.2f};
    ref.attr[ref.n_attr++] = attr_str("activation", act_names[a]);
    if (a == 3) ref.attr[ref.n_attr++] = attr_floats("activation_params", 1, params);
    onyx_tensor yref, *z = NULL;
    onyx_error e;
    onyx_status st = op_run(&ref, false, tp1, &yref, &e);
    if (st == ONYX_OK && rnd(2)) {
        z = rand_tensor(4, yref.dims);
        ref.in[3] = z;
        ref.n_in = 4;
        tensor_release(&yref);
        st = op_run(&ref, false, tp1, &yref, &e);
    }
    char what[120];
    snprintf(what, sizeof what, "winograd %d: n%lld c%lld m%lld %lldx%lld act %s", iter, (long long)n, (long long)c,
             (long long)m, (long long)h, (long long)w, act_names[a]);
    CHECK(st == ONYX_OK, "%s: reference failed: %s", what, e.message);
    op_call nc = ref;
    nc.op = "NhwcConv";
    onyx_tensor *xn = to_nhwc(x), *zn = z ? to_nhwc(z) : NULL;
    nc.in[0] = xn;
    if (z) nc.in[3] = zn;
    onyx_tensor y1, y3;
    onyx_error e1, e3;
    onyx_status s1 = op_run(&nc, true, tp1, &y1, &e1), s3 = op_run(&nc, true, tp3, &y3, &e3);
    CHECK(st == ONYX_OK && s1 == ONYX_OK && s3 == ONYX_OK, "%s: status %d %d (%s)", what, s1, s3, e1.message);
    if (st == ONYX_OK && s1 == ONYX_OK && s3 == ONYX_OK) {
        double err = nhwc_error(&y1, &yref), tol = 2e-5 + 3e-6 * sqrt((double)(c * 9));
        if (err > wino_worst) wino_worst = err;
        CHECK(err >= 0 && err < tol, "%s: error %g (tolerance %g)", what, err, tol);
        int64_t cnt = tensor_numel_of(4, y1.dims);
        CHECK(memcmp(y1.data, y3.data, (size_t)cnt * sizeof(float)) == 0, "%s: 3 threads differ from 1", what);
    }
    tensor_release(&y1);
    tensor_release(&y3);
    tensor_release(&yref);
    onyx_tensor_free(xn);
    onyx_tensor_free(zn);
    onyx_tensor_free(x);
    onyx_tensor_free(wt);
    onyx_tensor_free(b);
    onyx_tensor_free(z);
}

static void test_conv_transpose(onyx_threads *tp1, onyx_threads *tp3, int iter)
{
    int64_t grp = rnd(4) == 0 ? 1 + rnd(3) : 1;
    int64_t c = grp * (1 + rnd(20)), mg = 1 + rnd(40);
    int64_t k[2] = {1 + rnd(5), 1 + rnd(5)}, st[2] = {1 + rnd(3), 1 + rnd(3)}, d[2] = {1 + (rnd(5) == 0), 1 + (rnd(5) == 0)};
    int64_t pads[4] = {rnd((int)k[0]), rnd((int)k[1]), rnd((int)k[0]), rnd((int)k[1])};
    int64_t opad[2] = {rnd((int)st[0]), rnd((int)st[1])};
    int64_t n = 1 + (rnd(4) == 0), xd[4] = {n, c, 1 + rnd(12), 1 + rnd(12)}, wd[4] = {c, mg, k[0], k[1]},
            bd[1] = {grp * mg};
    onyx_tensor *x = rand_tensor(4, xd), *w = rand_tensor(4, wd), *b = rand_tensor(1, bd);
    op_call ref = {"", "ConvTranspose", 3, {x, w, rnd(3) ? b : NULL}, 2, 0, {{0}}};
    ref.attr[ref.n_attr++] = attr_int("group", grp);
    ref.attr[ref.n_attr++] = attr_ints("strides", 2, st);
    ref.attr[ref.n_attr++] = attr_ints("dilations", 2, d);
    int mode = rnd(5);
    if (mode == 0) ref.attr[ref.n_attr++] = attr_str("auto_pad", "SAME_UPPER");
    else ref.attr[ref.n_attr++] = attr_ints("pads", 4, pads);
    if (mode == 1) ref.attr[ref.n_attr++] = attr_ints("output_padding", 2, opad);
    char what[200];
    snprintf(what, sizeof what, "convT %d: c%lld m%lld g%lld k%lldx%lld s%lldx%lld d%lldx%lld mode %d", iter,
             (long long)c, (long long)(grp * mg), (long long)grp, (long long)k[0], (long long)k[1], (long long)st[0],
             (long long)st[1], (long long)d[0], (long long)d[1], mode);
    onyx_tensor yref, y1, y3, yb;
    onyx_error e0, e1, e3, eb;
    onyx_status s0 = op_run(&ref, false, tp1, &yref, &e0);
    op_call nc = ref;
    nc.domain = "ai.onyx";
    nc.op = "NhwcConvTranspose";
    onyx_tensor *xn = to_nhwc(x);
    nc.in[0] = xn;
    onyx_status s1 = op_run(&nc, true, tp1, &y1, &e1), s3 = op_run(&nc, true, tp3, &y3, &e3);
    onyx_status sb = op_run(&nc, false, tp1, &yb, &eb);
    CHECK(s0 == s1 && s1 == s3 && s1 == sb, "%s: status %d %d %d %d (%s / %s)", what, s0, s1, s3, sb, e0.message,
          e1.message);
    if (s0 == ONYX_OK && s1 == ONYX_OK && s3 == ONYX_OK && sb == ONYX_OK) {
        double err = nhwc_error(&y1, &yref), tol = 2e-5 + 3e-6 * sqrt((double)(c / grp * k[0] * k[1]));
        CHECK(err >= 0 && err < tol, "%s: error %g", what, err);
        CHECK(y1.nbytes == y3.nbytes && memcmp(y1.data, y3.data, y1.nbytes) == 0, "%s: 3 threads differ", what);
        CHECK(nhwc_error(&yb, &yref) == 0, "%s: the NCHW bridge differs", what);
    }
    tensor_release(&yref);
    tensor_release(&y1);
    tensor_release(&y3);
    tensor_release(&yb);
    onyx_tensor_free(x);
    onyx_tensor_free(xn);
    onyx_tensor_free(w);
    onyx_tensor_free(b);
}

static void test_pool(onyx_threads *tp1, onyx_threads *tp3, int iter)
{
    bool is_max = rnd(2);
    int64_t c = channel_count(), n = 1 + (rnd(4) == 0);
    int64_t k[2] = {1 + rnd(4), 1 + rnd(4)}, s[2] = {1 + rnd(2), 1 + rnd(2)}, d[2] = {1, 1};
    if (is_max && rnd(4) == 0) d[0] = d[1] = 2;
    int64_t pads[4] = {rnd((int)k[0]), rnd((int)k[1]), rnd((int)k[0]), rnd((int)k[1])};
    int64_t xd[4] = {n, c, (k[0] - 1) * d[0] + 1 + rnd(12), (k[1] - 1) * d[1] + 1 + rnd(12)};
    onyx_tensor *x = rand_tensor(4, xd);
    float *xf = x->data;
    if (rnd(4) == 0) xf[rnd((int)tensor_numel_of(4, xd))] = NAN; /* NaN handling matches too */
    op_call ref = {"", is_max ? "MaxPool" : "AveragePool", 1, {x}, 0, 0, {{0}}};
    ref.attr[ref.n_attr++] = attr_ints("kernel_shape", 2, k);
    ref.attr[ref.n_attr++] = attr_ints("strides", 2, s);
    if (is_max) ref.attr[ref.n_attr++] = attr_ints("dilations", 2, d);
    ref.attr[ref.n_attr++] = attr_ints("pads", 4, pads);
    ref.attr[ref.n_attr++] = attr_int("ceil_mode", rnd(2));
    if (!is_max) ref.attr[ref.n_attr++] = attr_int("count_include_pad", rnd(2));
    char what[160];
    snprintf(what, sizeof what, "pool %d: %s c%lld k%lldx%lld s%lldx%lld d%lld", iter, ref.op, (long long)c,
             (long long)k[0], (long long)k[1], (long long)s[0], (long long)s[1], (long long)d[0]);
    onyx_tensor yref, y1, y3;
    onyx_error e0, e1, e3;
    onyx_status s0 = op_run(&ref, false, tp1, &yref, &e0);
    op_call nc = ref;
    nc.domain = "ai.onyx";
    nc.op = is_max ? "NhwcMaxPool" : "NhwcAveragePool";
    onyx_tensor *xn = to_nhwc(x);
    nc.in[0] = xn;
    onyx_status s1 = op_run(&nc, true, tp1, &y1, &e1), s3 = op_run(&nc, true, tp3, &y3, &e3);
    CHECK(s0 == ONYX_OK && s1 == ONYX_OK && s3 == ONYX_OK, "%s: status %d %d %d (%s / %s)", what, s0, s1, s3,
          e0.message, e1.message);
    if (s0 == ONYX_OK && s1 == ONYX_OK && s3 == ONYX_OK) {
        /* NaN compares as "not <= tolerance": a NaN where the reference has a
         * number (or the reverse) fails, and NaN positions must agree */
        onyx_tensor *r = to_nhwc(&yref);
        int64_t cnt = tensor_numel_of(4, r->dims);
        bool shape_ok = cnt == tensor_numel_of(4, y1.dims);
        int bad = 0;
        const float *a = y1.data, *rf = r->data;
        for (int64_t i = 0; shape_ok && i < cnt; i++)
            if (!(isnan(a[i]) && isnan(rf[i])) && !(fabs((double)a[i] - rf[i]) <= 1e-6 * (1 + fabs(rf[i])))) bad++;
        CHECK(shape_ok && bad == 0, "%s: %d values differ", what, bad);
        CHECK(shape_ok && memcmp(y1.data, y3.data, (size_t)cnt * sizeof(float)) == 0, "%s: 3 threads differ", what);
        onyx_tensor_free(r);
    }
    tensor_release(&yref);
    tensor_release(&y1);
    tensor_release(&y3);
    onyx_tensor_free(x);
    onyx_tensor_free(xn);
}

static void test_instance_norm(onyx_threads *tp1, onyx_threads *tp3, int iter)
{
    int64_t c = channel_count(), n = 1 + rnd(2), xd[4] = {n, c, 1 + rnd(40), 1 + rnd(40)}, sd[1] = {c};
    onyx_tensor *x = rand_tensor(4, xd), *sc = rand_tensor(1, sd), *bi = rand_tensor(1, sd);
    float *xf = x->data;
    for (int64_t i = 0; i < tensor_numel_of(4, xd); i++) xf[i] = xf[i] * 3 + 5; /* a mean far from 0 */
    op_call ref = {"", "InstanceNormalization", 3, {x, sc, bi}, 2, 0, {{0}}};
    onyx_tensor yref, y1, y3;
    onyx_error e0, e1, e3;
    onyx_status s0 = op_run(&ref, false, tp1, &yref, &e0);
    op_call nc = ref;
    nc.domain = "ai.onyx";
    nc.op = "NhwcInstanceNormalization";
    onyx_tensor *xn = to_nhwc(x);
    nc.in[0] = xn;
    onyx_status s1 = op_run(&nc, true, tp1, &y1, &e1), s3 = op_run(&nc, true, tp3, &y3, &e3);
    CHECK(s0 == ONYX_OK && s1 == ONYX_OK && s3 == ONYX_OK, "instance norm %d: status %d %d %d (%s)", iter, s0, s1, s3,
          e1.message);
    if (s0 == ONYX_OK && s1 == ONYX_OK && s3 == ONYX_OK) {
        double err = nhwc_error(&y1, &yref);
        CHECK(err >= 0 && err < 1e-5, "instance norm %d: c%lld %lldx%lld error %g", iter, (long long)c,
              (long long)xd[2], (long long)xd[3], err);
        CHECK(memcmp(y1.data, y3.data, y1.nbytes) == 0, "instance norm %d: 3 threads differ from 1", iter);
    }
    tensor_release(&yref);
    tensor_release(&y1);
    tensor_release(&y3);
    onyx_tensor_free(x);
    onyx_tensor_free(xn);
    onyx_tensor_free(sc);
    onyx_tensor_free(bi);
}

/* Bad inputs get an error that says what is wrong. */
static void test_errors(onyx_threads *tp)
{
    int64_t xd[4] = {1, 5, 5, 3}, wd[4] = {4, 2, 3, 3}, x3d[3] = {1, 5, 5};
    onyx_tensor *x = rand_tensor(4, xd), *w = rand_tensor(4, wd), *x3 = rand_tensor(3, x3d);
    op_call c = {"ai.onyx", "NhwcConv", 2, {x, w}, 1, 0, {{0}}};
    onyx_tensor y;
    onyx_error e;
    onyx_status st = op_run(&c, true, tp, &y, &e);
    CHECK(st == ONYX_E_SHAPE && strstr(e.message, "channels"), "channel mismatch: %d %s", st, e.message);
    tensor_release(&y);
    c.in[0] = x3;
    st = op_run(&c, true, tp, &y, &e);
    CHECK(st == ONYX_E_SHAPE && strstr(e.message, "rank 4"), "rank 3: %d %s", st, e.message);
    tensor_release(&y);
    op_call p = {"ai.onyx", "NhwcMaxPool", 1, {x}, 0, 0, {{0}}};
    st = op_run(&p, true, tp, &y, &e);
    CHECK(st == ONYX_E_INVALID && strstr(e.message, "kernel_shape"), "pool without kernel_shape: %d %s", st,
          e.message);
    tensor_release(&y);
    onyx_tensor_free(x);
    onyx_tensor_free(w);
    onyx_tensor_free(x3);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* `test_conv_nhwc --bench [threads]`: GFLOP/s of NhwcConv (best of 20 runs)
 * on the layer shapes of ResNet-50 and MobileNetV2. */
static void bench(int threads)
{
    static const struct { int64_t c, m, hw, k, s, g; } layers[] = {
        {64, 64, 56, 3, 1, 1},    {64, 256, 56, 1, 1, 1},  {256, 64, 56, 1, 1, 1},  {128, 128, 28, 3, 1, 1},
        {512, 128, 28, 1, 1, 1},  {256, 256, 14, 3, 1, 1}, {1024, 256, 14, 1, 1, 1}, {256, 1024, 14, 1, 1, 1},
        {512, 512, 7, 3, 1, 1},   {2048, 512, 7, 1, 1, 1}, {512, 2048, 7, 1, 1, 1},  {3, 64, 224, 7, 2, 1},
        {144, 144, 56, 3, 1, 144}, {96, 96, 112, 3, 2, 96}, {32, 16, 112, 1, 1, 1},  {144, 24, 56, 1, 1, 1},
        {3, 32, 224, 3, 2, 1},    {32, 32, 112, 3, 2, 1},  {192, 192, 14, 3, 1, 192},
    };
    onyx_threads *tp = threads_create(threads);
    printf("NhwcConv, %s, %d thread(s)\n", igemm_ukernel_best()->name, threads);
    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        int64_t c = layers[i].c, m = layers[i].m, hw = layers[i].hw, kk = layers[i].k, g = layers[i].g;
        int64_t xd[4] = {1, hw, hw, c}, wd[4] = {m, c / g, kk, kk}, bd[1] = {m};
        int64_t st[2] = {layers[i].s, layers[i].s}, pads[4] = {kk / 2, kk / 2, kk / 2, kk / 2};
        onyx_tensor *x = rand_tensor(4, xd), *w = rand_tensor(4, wd), *b = rand_tensor(1, bd);
        op_call call = {"ai.onyx", "NhwcConv", 3, {x, w, b}, 2, 0, {{0}}};
        call.attr[call.n_attr++] = attr_int("group", g);
        call.attr[call.n_attr++] = attr_ints("strides", 2, st);
        call.attr[call.n_attr++] = attr_ints("pads", 4, pads);
        call.attr[call.n_attr++] = attr_str("activation", "Relu");
        double best = 1e9;
        onyx_tensor y;
        onyx_error e;
        int64_t oh = (hw + 2 * (kk / 2) - kk) / layers[i].s + 1;
        void *state;
        op_prepare(&call, &state, &e);
        for (int r = 0; r < 20; r++) {
            double t0 = now_s();
            op_run_state(&call, state, tp, &y, &e);
            double t = now_s() - t0;
            best = t < best ? t : best;
            tensor_release(&y);
        }
        op_release(&call, state);
        double flop = 2.0 * oh * oh * m * (c / g) * kk * kk;
        printf("  c%-5lld m%-5lld %3lldx%-3lld k%lld s%lld g%-4lld %8.3f ms %7.1f GFLOP/s\n", (long long)c, (long long)m,
               (long long)hw, (long long)hw, (long long)kk, (long long)layers[i].s, (long long)g, best * 1e3,
               flop / best / 1e9);
        onyx_tensor_free(x);
        onyx_tensor_free(w);
        onyx_tensor_free(b);
    }
    threads_free(tp);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench(argc > 2 ? atoi(argv[2]) : 1);
        return 0;
    }
    int child_passed = 0, child_failed = 0;
    run_lower_isas(argv[0], &child_passed, &child_failed);
    onyx_threads *tp1 = threads_create(1), *tp3 = threads_create(3);
    for (int i = 0; i < 400; i++) test_conv(tp1, tp3, i);
    for (int i = 0; i < 120; i++) test_winograd(tp1, tp3, i);
    printf("winograd F(4x4,3x3): worst error %.3g of max|ref| over 120 layers\n", wino_worst);
    for (int i = 0; i < 300; i++) test_pool(tp1, tp3, i);
    for (int i = 0; i < 60; i++) test_instance_norm(tp1, tp3, i);
    for (int i = 0; i < 200; i++) test_conv_transpose(tp1, tp3, i);
    test_errors(tp1);
    threads_free(tp1);
    threads_free(tp3);
    printf("isa %s (%s): %s\n", onyx_isa_name(onyx_cpu_info()->isa), igemm_ukernel_best()->name,
           failed ? "FAILED" : "ok");
    printf("%d passed, %d failed\n", passed + child_passed, failed + child_failed);
    return failed + child_failed ? 1 : 0;
}
