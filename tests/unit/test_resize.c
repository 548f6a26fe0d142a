/* test_resize.c - unit tests for the resize family (ops/resize.c,
 * ops/detection.c, ops/signal.c) on what the ONNX node tests of the installed
 * test data do not reach: Resize antialias, axes, keep_aspect_ratio_policy,
 * half_pixel_symmetric, extrapolation, integer saturation, the blocked 2-D
 * path against a naive loop, GridSample in 3-D, DFT lengths with large prime
 * factors (Bluestein) against a naive DFT, the IRFFT, and error paths that
 * must fail cleanly. Expected values come from the ONNX reference
 * implementation. The fast float paths (bilinear on NHWC and NCHW, threaded
 * nearest gathers) against per-element evaluations in double, on a pool of 3
 * threads, at every ISA the machine has (the binary re-runs itself with lower
 * ONYX_ISA caps).
 * Prints one line per failed check and a final "N passed, N failed" line;
 * exits non-zero when any check failed. */
#include "harness.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* the operators run on this pool (3 threads: uneven splits), NULL for one */
static onyx_threads *pool;

/* ---- tensors, attributes, calls ---- */

static onyx_tensor *mk(onyx_dtype dt, int rank, const int64_t *dims, const double *v)
{
    onyx_tensor *t = onyx_tensor_create(dt, rank, dims);
    if (!t) {
        printf("cannot allocate a test tensor\n");
        exit(2);
    }
    if (v)
        for (int64_t i = 0; i < tensor_numel_of(rank, dims); i++) k_set_f64(t, i, v[i]);
    return t;
}

static onyx_tensor *vec_f(int n, const double *v)
{
    int64_t d = n;
    return mk(ONYX_FLOAT, 1, &d, v);
}

static onyx_tensor *vec_i(int n, const double *v)
{
    int64_t d = n;
    return mk(ONYX_INT64, 1, &d, v);
}

typedef struct call {
    const char *op;
    int opset;
    int n_in;
    const onyx_tensor *in[6];
    int n_attr;
    onyx_attr attr[10];
    onyx_tensor out;
    onyx_error err;
} call;

static onyx_status run(call *c)
{
    const onyx_op_def *d = onyx_find_op("", c->op);
    if (!d) {
        printf("FAIL: no kernel for %s\n", c->op);
        failed++;
        return ONYX_E_UNSUPPORTED;
    }
    onyx_kctx k;
    memset(&k, 0, sizeof k);
    onyx_tensor *outs[1] = {&c->out};
    k.op_type = c->op;
    k.domain = "";
    k.opset = c->opset ? c->opset : 19;
    k.n_attrs = c->n_attr;
    k.attrs = c->attr;
    k.n_inputs = c->n_in;
    k.inputs = c->in;
    k.n_outputs = 1;
    k.outputs = outs;
    k.threads = pool;
    memset(&c->err, 0, sizeof c->err);
    k.err = &c->err;
    onyx_status s = d->run(&k);
    for (int i = 0; i < 8; i++) tensor_release(&k.spare[i]);
    return s;
}

static void finish(call *c)
{
    tensor_release(&c->out);
    for (int i = 0; i < c->n_in; i++)
        if (c->in[i]) onyx_tensor_free((onyx_tensor *)c->in[i]);
}

static bool shape_is(const onyx_tensor *t, int rank, const int64_t *dims)
{
    if (t->rank != rank) return false;
    for (int i = 0; i < rank; i++)
        if (t->dims[i] != dims[i]) return false;
    return true;
}

/* First element differing from want beyond tol (absolute + relative), -1 if none. */
static int64_t mismatch(const onyx_tensor *t, const double *want, int64_t n, double tol)
{
    if (tensor_numel_of(t->rank, t->dims) != n) return -2;
    for (int64_t i = 0; i < n; i++) {
        double g = k_get_f64(t, i);
        if (fabs(g - want[i]) > tol * (1 + fabs(want[i]))) return i;
    }
    return -1;
}

/* Runs c and checks status OK, the output shape and values. */
static void expect(call *c, const char *what, int rank, const int64_t *dims, const double *want,
                   double tol)
{
    onyx_status s = run(c);
    CHECK(s == ONYX_OK, "%s: status %d (%s)", what, s, c->err.message);
    if (s == ONYX_OK) {
        CHECK(shape_is(&c->out, rank, dims), "%s: wrong output shape", what);
        int64_t bad = mismatch(&c->out, want, tensor_numel_of(rank, dims), tol);
        CHECK(bad == -1, "%s: mismatch at %lld (got %g, want %g)", what, (long long)bad,
              bad >= 0 ? k_get_f64(&c->out, bad) : 0.0, bad >= 0 ? want[bad] : 0.0);
    }
    finish(c);
}

static void expect_fail(call *c, const char *what)
{
    onyx_status s = run(c);
    CHECK(s != ONYX_OK && c->err.message[0], "%s: expected an error, got status %d", what, s);
    finish(c);
}

static const double ramp16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const int64_t d1144[4] = {1, 1, 4, 4};

/* Resize(X, '', scales) with mode/ctm attributes. */
static void resize_scales(call *c, onyx_tensor *x, int ns, const double *sc, const char *mode)
{
    memset(c, 0, sizeof *c);
    c->op = "Resize";
    c->n_in = 3;
    c->in[0] = x;
    c->in[2] = vec_f(ns, sc);
    c->attr[c->n_attr++] = attr_str("mode", mode);
}

static void resize_sizes(call *c, onyx_tensor *x, int ns, const double *sz, const char *mode)
{
    memset(c, 0, sizeof *c);
    c->op = "Resize";
    c->n_in = 4;
    c->in[0] = x;
    c->in[3] = vec_i(ns, sz);
    c->attr[c->n_attr++] = attr_str("mode", mode);
}

static void test_resize_antialias(void)
{
    call c;
    static const double sc[4] = {1, 1, 0.6, 0.6};
    static const int64_t od[4] = {1, 1, 2, 2};
    static const double lin[4] = {2.875, 4.5, 9.375, 11};
    resize_scales(&c, mk(ONYX_FLOAT, 4, d1144, ramp16), 4, sc, "linear");
    c.attr[c.n_attr++] = attr_int("antialias", 1);
    expect(&c, "linear antialias", 4, od, lin, 1e-5);

    static const double cub[4] = {2.666667, 4.380726, 9.522906, 11.23697};
    resize_scales(&c, mk(ONYX_FLOAT, 4, d1144, ramp16), 4, sc, "cubic");
    c.attr[c.n_attr++] = attr_int("antialias", 1);
    c.attr[c.n_attr++] = attr_float("cubic_coeff_a", -0.5f);
    expect(&c, "cubic antialias", 4, od, cub, 1e-5);
}

static void test_resize_axes_and_policy(void)
{
    static const double d2[4] = {1, 2, 3, 4};
    static const int64_t d1122[4] = {1, 1, 2, 2};
    call c;
    int64_t axes32[2] = {3, 2};
    static const double sc32[2] = {3, 2};
    static const int64_t od46[4] = {1, 1, 4, 6};
    static const double w46[24] = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                   3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
    resize_scales(&c, mk(ONYX_FLOAT, 4, d1122, d2), 2, sc32, "nearest");
    c.attr[c.n_attr++] = attr_ints("axes", 2, axes32);
    expect(&c, "axes [3, 2]", 4, od46, w46, 0);

    int64_t axes23[2] = {-2, -1};
    static const double sz78[2] = {7, 8};
    static const int64_t od77[4] = {1, 1, 7, 7}, od88[4] = {1, 1, 8, 8};
    double w77[49], w88[64];
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < 7; j++) w77[i * 7 + j] = 1 + (j >= 4) + 2 * (i >= 4);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) w88[i * 8 + j] = 1 + (j >= 4) + 2 * (i >= 4);
    resize_sizes(&c, mk(ONYX_FLOAT, 4, d1122, d2), 2, sz78, "nearest");
    c.attr[c.n_attr++] = attr_ints("axes", 2, axes23);
    c.attr[c.n_attr++] = attr_str("keep_aspect_ratio_policy", "not_larger");
    expect(&c, "not_larger", 4, od77, w77, 0);
    resize_sizes(&c, mk(ONYX_FLOAT, 4, d1122, d2), 2, sz78, "nearest");
    c.attr[c.n_attr++] = attr_ints("axes", 2, axes23);
    c.attr[c.n_attr++] = attr_str("keep_aspect_ratio_policy", "not_smaller");
    expect(&c, "not_smaller", 4, od88, w88, 0);

    /* fractional scales: the symmetric mapping centers the smaller canvas */
    static const double sch[4] = {1, 1, 2.3, 2.94};
    static const int64_t od45[4] = {1, 1, 4, 5};
    static const double hps[20] = {1, 1.159864, 1.5, 1.840136, 2,
                                   1.565217, 1.725081, 2.065217, 2.405354, 2.565217,
                                   2.434783, 2.594646, 2.934783, 3.274919, 3.434783,
                                   3, 3.159864, 3.5, 3.840136, 4};
    resize_scales(&c, mk(ONYX_FLOAT, 4, d1122, d2), 4, sch, "linear");
    c.attr[c.n_attr++] = attr_str("coordinate_transformation_mode", "half_pixel_symmetric");
    expect(&c, "half_pixel_symmetric", 4, od45, hps, 1e-5);
}

static void test_resize_crop_extrapolate(void)
{
    static const double roi[8] = {0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7};
    static const double sz[4] = {1, 1, 3, 3};
    static const int64_t od[4] = {1, 1, 3, 3};
    static const double want[9] = {7.6, 10, 10, 12.4, 10, 10, 10, 10, 10};
    call c;
    resize_sizes(&c, mk(ONYX_FLOAT, 4, d1144, ramp16), 4, sz, "linear");
    c.in[1] = vec_f(8, roi);
    c.attr[c.n_attr++] = attr_str("coordinate_transformation_mode", "tf_crop_and_resize");
    c.attr[c.n_attr++] = attr_float("extrapolation_value", 10.0f);
    expect(&c, "tf_crop_and_resize extrapolation", 4, od, want, 1e-5);

    resize_sizes(&c, mk(ONYX_FLOAT, 4, d1144, ramp16), 4, sz, "linear");
    c.attr[c.n_attr++] = attr_str("coordinate_transformation_mode", "tf_crop_and_resize");
    expect_fail(&c, "tf_crop_and_resize without roi");
}

static void test_resize_integers(void)
{
    /* cubic overshoots [-26.9, 281.9]: uint8 saturates, fractions truncate */
    static const double u[4] = {0, 255, 0, 255};
    static const int64_t d14[2] = {1, 4}, od[2] = {1, 8};
    static const double sc[2] = {1, 2};
    static const double want[8] = {0, 66, 224, 215, 39, 30, 188, 255};
    call c;
    resize_scales(&c, mk(ONYX_UINT8, 2, d14, u), 2, sc, "cubic");
    expect(&c, "uint8 cubic saturation", 2, od, want, 0);
}

/* The blocked float path against a direct per-element evaluation of the
 * separable bilinear formula (half_pixel, edge clamping). */
static void test_resize_bilinear_naive(void)
{
    const int64_t N = 2, C = 3, H = 7, W = 5;
    const double sh = 2.5, sw = 0.75;
    int64_t xd[4] = {N, C, H, W};
    double *xv = malloc((size_t)(N * C * H * W) * sizeof *xv);
    for (int64_t i = 0; i < N * C * H * W; i++) xv[i] = frand();
    double sc[4] = {1, 1, sh, sw};
    int64_t OH = (int64_t)floor((double)H * (float)sh), OW = (int64_t)floor((double)W * (float)sw);
    int64_t od[4] = {N, C, OH, OW};
    double *want = malloc((size_t)(N * C * OH * OW) * sizeof *want);
    for (int64_t p = 0; p < N * C; p++)
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                double y = (i + 0.5) / (double)(float)sh - 0.5, x = (j + 0.5) / (double)(float)sw - 0.5;
                int64_t y0 = (int64_t)floor(y), x0 = (int64_t)floor(x);
                double fy = y - (double)y0, fx = x - (double)x0, acc = 0;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        int64_t yy = y0 + a, xx = x0 + b;
                        yy = yy < 0 ? 0 : yy >= H ? H - 1 : yy;
                        xx = xx < 0 ? 0 : xx >= W ? W - 1 : xx;
                        acc += (a ? fy : 1 - fy) * (b ? fx : 1 - fx) * xv[(p * H + yy) * W + xx];
                    }
                want[(p * OH + i) * OW + j] = acc;
            }
    call c;
    resize_scales(&c, mk(ONYX_FLOAT, 4, xd, xv), 4, sc, "linear");
    expect(&c, "bilinear vs naive (float)", 4, od, want, 1e-5);
    resize_scales(&c, mk(ONYX_DOUBLE, 4, xd, xv), 4, sc, "linear");
    expect(&c, "bilinear vs naive (double)", 4, od, want, 1e-12);
    free(xv);
    free(want);
}

/* Input coordinate of output x for the coordinate modes the fast paths meet
 * (onnx/reference/ops/op_resize.py), with the scale as the float it was. */
static double coord_of(const char *mode, double x, double scale, int64_t in)
{
    const double len = scale * (double)in;
    if (!strcmp(mode, "align_corners")) return len == 1 ? 0 : x * (double)(in - 1) / (len - 1);
    if (!strcmp(mode, "asymmetric")) return x / scale;
    if (!strcmp(mode, "pytorch_half_pixel")) return len > 1 ? (x + 0.5) / scale - 0.5 : 0;
    return (x + 0.5) / scale - 0.5; /* half_pixel */
}

/* Linear taps of output x: clamped indices and weights, a zero weight left
 * out as the reference skips it (so an infinity there stays out). */
static int lin_taps(double c, int64_t in, int64_t *ix, double *w)
{
    const double f = floor(c), t = c - f;
    int n = 0;
    for (int k = 0; k < 2; k++) {
        const double wk = k ? t : 1 - t;
        if (wk == 0) continue;
        const int64_t i = (int64_t)f + k;
        ix[n] = i < 0 ? 0 : i >= in ? in - 1 : i;
        w[n++] = wk;
    }
    return n;
}

/* Resize of a rank-4 float tensor on axes h = a, w = a + 1 (1, 2 for NHWC;
 * 2, 3 for NCHW), scales sh, sw, against the per-element formula in double;
 * nearest rounds half down (round_prefer_floor). */
static void check_resize_2d(const int64_t *xd, int a, double sh, double sw, const char *mode,
                            const char *ctm, const float *special)
{
    const float fsh = (float)sh, fsw = (float)sw;
    const int64_t n = xd[0] * xd[1] * xd[2] * xd[3];
    double *xv = malloc((size_t)n * sizeof *xv);
    for (int64_t i = 0; i < n; i++) xv[i] = special && i == 0 ? special[0] : frand();
    int64_t od[4] = {xd[0], xd[1], xd[2], xd[3]};
    od[a] = (int64_t)floor((double)xd[a] * (double)fsh);
    od[a + 1] = (int64_t)floor((double)xd[a + 1] * (double)fsw);
    double sc[4] = {1, 1, 1, 1};
    sc[a] = sh;
    sc[a + 1] = sw;
    const int64_t on = od[0] * od[1] * od[2] * od[3];
    double *want = malloc((size_t)on * sizeof *want);
    const bool nearest = !strcmp(mode, "nearest");
    int64_t idx[4];
    for (int64_t o = 0; o < on; o++) {
        int64_t rem = o;
        for (int d = 3; d >= 0; d--) idx[d] = rem % od[d], rem /= od[d];
        int64_t hi[2], wi[2];
        double hw[2], ww[2];
        const double ch = coord_of(ctm, (double)idx[a], fsh, xd[a]);
        const double cw = coord_of(ctm, (double)idx[a + 1], fsw, xd[a + 1]);
        int nh, nw;
        if (nearest) {
            const double rh = ch - floor(ch) > 0.5 ? ceil(ch) : floor(ch), rw = cw - floor(cw) > 0.5 ? ceil(cw) : floor(cw);
            hi[0] = rh < 0 ? 0 : rh >= xd[a] ? xd[a] - 1 : (int64_t)rh;
            wi[0] = rw < 0 ? 0 : rw >= xd[a + 1] ? xd[a + 1] - 1 : (int64_t)rw;
            hw[0] = ww[0] = 1;
            nh = nw = 1;
        } else {
            nh = lin_taps(ch, xd[a], hi, hw);
            nw = lin_taps(cw, xd[a + 1], wi, ww);
        }
        double acc = 0;
        for (int p = 0; p < nh; p++)
            for (int q = 0; q < nw; q++) {
                int64_t src[4] = {idx[0], idx[1], idx[2], idx[3]};
                src[a] = hi[p];
                src[a + 1] = wi[q];
                acc += hw[p] * ww[q] * xv[((src[0] * xd[1] + src[1]) * xd[2] + src[2]) * xd[3] + src[3]];
            }
        want[o] = acc;
    }
    call c;
    resize_scales(&c, mk(ONYX_FLOAT, 4, xd, xv), 4, sc, mode);
    c.attr[c.n_attr++] = attr_str("coordinate_transformation_mode", ctm);
    onyx_status st = run(&c);
    int64_t bad = 0, at = -1;
    if (st == ONYX_OK && shape_is(&c.out, 4, od)) {
        const float *got = c.out.data;
        for (int64_t o = 0; o < on; o++) {
            const bool ok = isinf(want[o]) ? got[o] == want[o] : fabs(got[o] - want[o]) <= 1e-6 * (1 + fabs(want[o]));
            if (!ok && bad++ == 0) at = o;
        }
    }
    CHECK(st == ONYX_OK && shape_is(&c.out, 4, od) && !bad,
          "%s %s %s %lldx%lldx%lldx%lld scales %g, %g (%s): status %d, %lld wrong, first at %lld (got %g, want %g)",
          onyx_isa_name(onyx_cpu_info()->isa), mode, ctm, (long long)xd[0], (long long)xd[1], (long long)xd[2],
          (long long)xd[3], sh, sw, a == 1 ? "NHWC" : "NCHW", st, (long long)bad, (long long)at,
          at >= 0 ? ((float *)c.out.data)[at] : 0.0, at >= 0 ? want[at] : 0.0);
    finish(&c);
    free(xv);
    free(want);
}

static void test_resize_fast_paths(void)
{
    static const char *const ctms[] = {"align_corners", "half_pixel", "asymmetric", "pytorch_half_pixel"};
    static const int64_t channels[] = {1, 3, 4, 5, 8, 16, 17, 64};
    static const double scales[][2] = {{2, 2}, {1.5, 2.7}, {0.5, 0.75}, {1, 3}, {2, 1}, {3.1, 0.6}};
    for (size_t m = 0; m < 2; m++)
        for (size_t t = 0; t < sizeof ctms / sizeof ctms[0]; t++)
            for (size_t cc = 0; cc < sizeof channels / sizeof channels[0]; cc++)
                for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
                    const char *mode = m ? "nearest" : "linear";
                    const int64_t C = channels[cc];
                    const int64_t nhwc[4] = {2, 7, 9, C}, nchw[4] = {2, C, 7, 9};
                    check_resize_2d(nhwc, 1, scales[s][0], scales[s][1], mode, ctms[t], NULL);
                    check_resize_2d(nchw, 2, scales[s][0], scales[s][1], mode, ctms[t], NULL);
                }
    /* large enough for the threads: UDnet's NHWC align_corners upsampling,
     * the NCHW form, and an odd channel count */
    static const int64_t big[][4] = {{1, 40, 48, 64}, {1, 64, 70, 33}, {2, 3, 150, 170}};
    for (int b = 0; b < 3; b++)
        for (size_t m = 0; m < 2; m++)
            check_resize_2d(big[b], b == 2 ? 2 : 1, 2, 2, m ? "nearest" : "linear", "align_corners", NULL);
    /* an infinity under a zero-weight tap stays out: asymmetric 2x reads
     * x[0] only with weight 0 at output 2 */
    const float inf = INFINITY;
    static const int64_t tiny[2][4] = {{1, 1, 4, 4}, {1, 4, 4, 3}};
    check_resize_2d(tiny[0], 2, 2, 2, "linear", "asymmetric", &inf);
    check_resize_2d(tiny[1], 1, 2, 2, "linear", "asymmetric", &inf);
}

static void test_resize_errors(void)
{
    static const double sc[4] = {1, 1, 2, 2}, sz[4] = {1, 1, 8, 8}, bad[4] = {1, 1, 0, 2};
    call c;
    resize_scales(&c, mk(ONYX_FLOAT, 4, d1144, ramp16), 4, sc, "linear");
    c.n_in = 4;
    c.in[3] = vec_i(4, sz);
    expect_fail(&c, "scales and sizes together");
    resize_scales(&c, mk(ONYX_FLOAT, 4, d1144, ramp16), 4, sc, "bicubic");
    expect_fail(&c, "unknown mode");
    resize_scales(&c, mk(ONYX_FLOAT, 4, d1144, ramp16), 3, sc, "nearest");
    expect_fail(&c, "scales of the wrong length");
    resize_scales(&c, mk(ONYX_FLOAT, 4, d1144, ramp16), 4, bad, "nearest");
    expect_fail(&c, "zero scale");
    int64_t axes[2] = {2, 2};
    resize_scales(&c, mk(ONYX_FLOAT, 4, d1144, ramp16), 2, sc, "nearest");
    c.attr[c.n_attr++] = attr_ints("axes", 2, axes);
    expect_fail(&c, "repeated axis");

    /* empty input: empty output, no error */
    static const int64_t d0[3] = {0, 2, 3}, od0[3] = {0, 4, 6};
    static const double sc3[3] = {1, 2, 2};
    resize_scales(&c, mk(ONYX_FLOAT, 3, d0, NULL), 3, sc3, "cubic");
    expect(&c, "empty input", 3, od0, NULL, 0);
}

static void test_gridsample_3d(void)
{
    static const double xv[18] = {0.5, 0.75, 0.625, 0.5, 0.375, 0.625, 0.5, 0.875, 1,
                                  0.375, 0.75, 0.5, 0.625, 0.875, 0.125, 0.125, 0, 0.875};
    static const double gv[12] = {0.6875, 0.875, 1.125, 0.6875, -0.0625, 0.6875,
                                  -0.9375, 0.3125, -0.875, 1.0625, 0.0625, -0.1875};
    static const int64_t xd[5] = {1, 1, 2, 3, 3}, gd[5] = {1, 2, 1, 2, 3}, od[5] = {1, 1, 2, 1, 2};
    static const double lin[4] = {0.875, 0.1601562, 0.5, 0.5148926};
    static const double near[4] = {0.875, 0.125, 0.5, 0.625};
    call c;
    memset(&c, 0, sizeof c);
    c.op = "GridSample";
    c.opset = 20;
    c.n_in = 2;
    c.in[0] = mk(ONYX_FLOAT, 5, xd, xv);
    c.in[1] = mk(ONYX_FLOAT, 5, gd, gv);
    c.attr[c.n_attr++] = attr_str("mode", "linear");
    c.attr[c.n_attr++] = attr_str("padding_mode", "border");
    expect(&c, "GridSample 3-D linear border", 5, od, lin, 1e-5);

    memset(&c, 0, sizeof c);
    c.op = "GridSample";
    c.opset = 20;
    c.n_in = 2;
    c.in[0] = mk(ONYX_FLOAT, 5, xd, xv);
    c.in[1] = mk(ONYX_FLOAT, 5, gd, gv);
    c.attr[c.n_attr++] = attr_str("mode", "nearest");
    c.attr[c.n_attr++] = attr_str("padding_mode", "reflection");
    c.attr[c.n_attr++] = attr_int("align_corners", 1);
    expect(&c, "GridSample 3-D nearest reflection", 5, od, near, 0);

    static const int64_t gbad[5] = {1, 2, 1, 2, 2};
    memset(&c, 0, sizeof c);
    c.op = "GridSample";
    c.n_in = 2;
    c.in[0] = mk(ONYX_FLOAT, 5, xd, xv);
    c.in[1] = mk(ONYX_FLOAT, 5, gbad, NULL);
    expect_fail(&c, "GridSample grid with 2 coordinates for 3 axes");
}

/* DFT of lengths with large prime factors against a naive O(n^2) DFT. */
static void test_dft_lengths(void)
{
    static const int lens[] = {1, 7, 64, 67, 131, 210, 257, 262, 289, 1009};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int n = lens[li];
        for (int inverse = 0; inverse < 2; inverse++) {
            int64_t xd[3] = {1, n, 2}, od[3] = {1, n, 2};
            double *xv = malloc((size_t)n * 2 * sizeof *xv), *want = malloc((size_t)n * 2 * sizeof *want);
            for (int i = 0; i < 2 * n; i++) xv[i] = frand();
            double sign = inverse ? 1 : -1;
            for (int k = 0; k < n; k++) {
                double re = 0, im = 0;
                for (int j = 0; j < n; j++) {
                    double a = sign * 2 * M_PI * (double)((long long)j * k % n) / n;
                    re += xv[2 * j] * cos(a) - xv[2 * j + 1] * sin(a);
                    im += xv[2 * j] * sin(a) + xv[2 * j + 1] * cos(a);
                }
                want[2 * k] = inverse ? re / n : re;
                want[2 * k + 1] = inverse ? im / n : im;
            }
            call c;
            memset(&c, 0, sizeof c);
            c.op = "DFT";
            c.opset = 17;
            c.n_in = 1;
            c.in[0] = mk(ONYX_DOUBLE, 3, xd, xv);
            c.attr[c.n_attr++] = attr_int("inverse", inverse);
            char what[64];
            snprintf(what, sizeof what, "DFT length %d%s", n, inverse ? " inverse" : "");
            expect(&c, what, 3, od, want, 1e-9);
            free(xv);
            free(want);
        }
    }
}

/* onesided inverse DFT is the IRFFT: the rfft of [1, 2, 3, 4] comes back */
static void test_irfft(void)
{
    static const double spec[6] = {10, 0, -2, 2, -2, 0};
    static const int64_t xd[3] = {1, 3, 2}, od[3] = {1, 4, 1};
    static const double want[4] = {1, 2, 3, 4};
    call c;
    memset(&c, 0, sizeof c);
    c.op = "DFT";
    c.opset = 17;
    c.n_in = 1;
    c.in[0] = mk(ONYX_FLOAT, 3, xd, spec);
    c.attr[c.n_attr++] = attr_int("inverse", 1);
    c.attr[c.n_attr++] = attr_int("onesided", 1);
    expect(&c, "IRFFT", 3, od, want, 1e-6);
}

static void test_signal_errors(void)
{
    static const int64_t xd[3] = {1, 8, 1};
    call c;
    memset(&c, 0, sizeof c);
    c.op = "DFT";
    c.opset = 17;
    c.n_in = 1;
    c.in[0] = mk(ONYX_FLOAT, 3, xd, NULL);
    c.attr[c.n_attr++] = attr_int("axis", 2);
    expect_fail(&c, "DFT along the complex axis");

    static const double step[1] = {4}, fl[1] = {16};
    memset(&c, 0, sizeof c);
    c.op = "STFT";
    c.n_in = 4;
    c.in[0] = mk(ONYX_FLOAT, 3, xd, NULL);
    c.in[1] = mk(ONYX_INT64, 0, NULL, step);
    c.in[3] = mk(ONYX_INT64, 0, NULL, fl);
    expect_fail(&c, "STFT frame longer than the signal");

    static const double neg[1] = {-3};
    memset(&c, 0, sizeof c);
    c.op = "HannWindow";
    c.n_in = 1;
    c.in[0] = mk(ONYX_INT64, 0, NULL, neg);
    expect_fail(&c, "negative window size");
}

static void test_nms(void)
{
    /* two overlapping boxes and a distant one; the lower-scored overlap goes */
    static const double boxes[12] = {0, 0, 1, 1, 0, 0.1, 1, 1.1, 0, 10, 1, 11};
    static const double scores[3] = {0.9, 0.75, 0.6};
    static const double mx[1] = {3}, iou[1] = {0.5};
    static const int64_t bd[3] = {1, 3, 4}, sd[3] = {1, 1, 3}, od[2] = {2, 3};
    static const double want[6] = {0, 0, 0, 0, 0, 2};
    call c;
    memset(&c, 0, sizeof c);
    c.op = "NonMaxSuppression";
    c.n_in = 4;
    c.in[0] = mk(ONYX_FLOAT, 3, bd, boxes);
    c.in[1] = mk(ONYX_FLOAT, 3, sd, scores);
    c.in[2] = vec_i(1, mx);
    c.in[3] = vec_f(1, iou);
    expect(&c, "NonMaxSuppression", 2, od, want, 0);

    static const int64_t sbad[3] = {1, 1, 4};
    memset(&c, 0, sizeof c);
    c.op = "NonMaxSuppression";
    c.n_in = 2;
    c.in[0] = mk(ONYX_FLOAT, 3, bd, boxes);
    c.in[1] = mk(ONYX_FLOAT, 3, sbad, NULL);
    expect_fail(&c, "NonMaxSuppression score/box count mismatch");
}

int main(int argc, char **argv)
{
    (void)argc;
    int child_passed = 0, child_failed = 0;
    run_lower_isas(argv[0], &child_passed, &child_failed);
    pool = threads_create(3);
    test_resize_fast_paths();
    test_resize_antialias();
    test_resize_axes_and_policy();
    test_resize_crop_extrapolate();
    test_resize_integers();
    test_resize_bilinear_naive();
    test_resize_errors();
    test_gridsample_3d();
    test_dft_lengths();
    test_irfft();
    test_signal_errors();
    test_nms();
    threads_free(pool);
    printf("%d passed, %d failed\n", passed + child_passed, failed + child_failed);
    return failed + child_failed ? 1 : 0;
}
