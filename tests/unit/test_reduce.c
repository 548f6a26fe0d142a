/* test_reduce.c - unit tests for the reduce family (ops/reduce.c, ops/softmax.c,
 * ops/normalization.c): the cases the ONNX node tests do not reach, such as
 * every axes combination against a naive loop, old-opset semantics, empty
 * tensors, integer and half-precision dtypes, ties, NaN and error paths.
 * Prints one line per failed check and a final "N passed, N failed" line;
 * exits non-zero when any check failed. */
#include "../../ops/kernel.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- building inputs and attributes ---- */

#define MAX_T 64
static onyx_tensor *made[MAX_T];
static int n_made;

static onyx_tensor *mk(onyx_dtype dt, int rank, const int64_t *dims, const double *v)
{
    onyx_tensor *t = onyx_tensor_create(dt, rank, dims);
    int64_t n = tensor_numel_of(rank, dims);
    for (int64_t i = 0; v && i < n; i++) k_set_f64(t, i, v[i]);
    if (n_made < MAX_T) made[n_made++] = t;
    return t;
}

static onyx_tensor *mk_i64(int rank, const int64_t *dims, const int64_t *v)
{
    onyx_tensor *t = mk(ONYX_INT64, rank, dims, NULL);
    if (v) memcpy(t->data, v, (size_t)tensor_numel_of(rank, dims) * sizeof *v);
    return t;
}

static void free_made(void)
{
    for (int i = 0; i < n_made; i++) onyx_tensor_free(made[i]);
    n_made = 0;
}

static onyx_attr a_int(const char *name, int64_t v)
{
    onyx_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = ATTR_INT;
    a.i = v;
    return a;
}

static onyx_attr a_float(const char *name, float v)
{
    onyx_attr a = a_int(name, 0);
    a.type = ATTR_FLOAT;
    a.f = v;
    return a;
}

static onyx_attr a_ints(const char *name, int n, int64_t *v)
{
    onyx_attr a = a_int(name, 0);
    a.type = ATTR_INTS;
    a.n = n;
    a.ints = v;
    return a;
}

static onyx_attr a_str(const char *name, const char *s)
{
    onyx_attr a = a_int(name, 0);
    a.type = ATTR_STRING;
    a.s = s;
    a.s_len = strlen(s);
    return a;
}

/* ---- running one kernel ---- */

typedef struct call {
    const char *op;
    int opset;
    int n_in;
    const onyx_tensor *in[6];
    int n_attr;
    onyx_attr attr[6];
    int n_out;
    onyx_tensor out[5];
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
    onyx_tensor *outs[5];
    for (int i = 0; i < 5; i++) outs[i] = &c->out[i];
    k.op_type = c->op;
    k.domain = "";
    k.opset = c->opset;
    k.n_attrs = c->n_attr;
    k.attrs = c->attr;
    k.n_inputs = c->n_in;
    k.inputs = c->in;
    k.n_outputs = c->n_out ? c->n_out : 1;
    k.outputs = outs;
    memset(&c->err, 0, sizeof c->err);
    k.err = &c->err;
    onyx_status s = d->run(&k);
    for (int i = 0; i < 8; i++) tensor_release(&k.spare[i]);
    return s;
}

static void done(call *c)
{
    for (int i = 0; i < 5; i++) tensor_release(&c->out[i]);
}

static bool close_to(double got, double want, double tol)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= tol * (1 + fabs(want));
}

/* Compares output i against want[]; returns the first bad index or -1. */
static int64_t cmp_out(const onyx_tensor *t, const double *want, int64_t n, double tol)
{
    if (tensor_numel_of(t->rank, t->dims) != n) return -2;
    for (int64_t i = 0; i < n; i++)
        if (!close_to(k_get_f64(t, i), want[i], tol)) return i;
    return -1;
}

static double frand_at(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0 - 1.0;
}

/* ---- reductions ---- */

/* Every subset of axes of a rank-4 tensor (with a size-1 dim), keepdims on and
 * off, against a naive loop; exercises the dim-collapsing walk. */
static void test_reduce_all_axes(void)
{
    static const char *ops[] = {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean",
                                "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSumExp",
                                "ReduceSumSquare"};
    int64_t dims[4] = {2, 3, 1, 5};
    double x[30];
    unsigned seed = 7;
    for (int i = 0; i < 30; i++) x[i] = frand_at(&seed) * 2;
    for (size_t oi = 0; oi < sizeof ops / sizeof ops[0]; oi++) {
        for (int m = 1; m < 16; m++) {
            for (int keep = 0; keep < 2; keep++) {
                onyx_tensor *xt = mk(ONYX_FLOAT, 4, dims, x);
                int64_t axes[4], na = 0;
                for (int d = 0; d < 4; d++)
                    if (m >> d & 1) axes[na++] = d - (d & 1 ? 4 : 0); /* some negative */
                int64_t adims[1] = {na};
                call c = {.op = ops[oi], .opset = 18, .n_in = 2,
                          .in = {xt, mk_i64(1, adims, axes)}, .n_attr = 1,
                          .attr = {a_int("keepdims", keep)}};
                onyx_status s = run(&c);
                double want[30], acc[30];
                int64_t cnt[30] = {0};
                int64_t ostr[4], on = 1;
                for (int d = 3; d >= 0; d--) {
                    ostr[d] = m >> d & 1 ? 0 : on;
                    if (!(m >> d & 1)) on *= dims[d];
                }
                double init = oi == 1 ? -INFINITY : oi == 2 ? INFINITY : oi == 4 ? 1 : 0;
                for (int i = 0; i < on; i++) acc[i] = oi == 7 ? 0 : init;
                for (int i = 0; i < 30; i++) {
                    int idx[4] = {i / 15, i / 5 % 3, 0, i % 5};
                    int64_t o = 0;
                    for (int d = 0; d < 4; d++) o += idx[d] * ostr[d];
                    double v = x[i];
                    switch (oi) {
                    case 1: acc[o] = fmax(acc[o], v); break;
                    case 2: acc[o] = fmin(acc[o], v); break;
                    case 4: acc[o] *= v; break;
                    case 5: acc[o] += fabs(v); break;
                    case 6: case 8: acc[o] += v * v; break;
                    case 7: acc[o] += exp(v); break;
                    default: acc[o] += v; break;
                    }
                    cnt[o]++;
                }
                for (int i = 0; i < on; i++) {
                    want[i] = acc[i];
                    if (oi == 3) want[i] = acc[i] / (double)cnt[i];
                    if (oi == 6) want[i] = sqrt(acc[i]);
                    if (oi == 7) want[i] = log(acc[i]);
                }
                int64_t bad = s ? -3 : cmp_out(&c.out[0], want, on, 1e-6);
                CHECK(bad == -1, "%s mask %d keepdims %d: status %d, bad index %lld", ops[oi], m,
                      keep, s, (long long)bad);
                if (!s) {
                    int want_rank = keep ? 4 : 4 - (int)na;
                    CHECK(c.out[0].rank == want_rank, "%s mask %d: rank %d", ops[oi], m,
                          c.out[0].rank);
                }
                done(&c);
                free_made();
            }
        }
    }
}

static void test_reduce_axes_forms(void)
{
    int64_t dims[2] = {2, 3};
    double x[6] = {1, 2, 3, 4, 5, 6};
    /* opset 13 ReduceMean: axes attribute */
    int64_t ax1[1] = {1};
    call c = {.op = "ReduceMean", .opset = 13, .n_in = 1, .in = {mk(ONYX_FLOAT, 2, dims, x)},
              .n_attr = 2, .attr = {a_ints("axes", 1, ax1), a_int("keepdims", 0)}};
    double w1[2] = {2, 5};
    CHECK(run(&c) == ONYX_OK && c.out[0].rank == 1 && cmp_out(&c.out[0], w1, 2, 1e-7) == -1,
          "ReduceMean opset 13 axes attribute");
    done(&c);

    /* ReduceSum opset 13: axes input; absent -> all */
    call c2 = {.op = "ReduceSum", .opset = 13, .n_in = 1, .in = {mk(ONYX_FLOAT, 2, dims, x)}};
    double w2[1] = {21};
    CHECK(run(&c2) == ONYX_OK && c2.out[0].rank == 2 && cmp_out(&c2.out[0], w2, 1, 1e-7) == -1,
          "ReduceSum without axes reduces everything, keeping dims");
    done(&c2);

    /* noop_with_empty_axes with an empty axes tensor is the identity */
    int64_t zero[1] = {0};
    call c3 = {.op = "ReduceSum", .opset = 13, .n_in = 2,
               .in = {mk(ONYX_FLOAT, 2, dims, x), mk_i64(1, zero, NULL)}, .n_attr = 1,
               .attr = {a_int("noop_with_empty_axes", 1)}};
    CHECK(run(&c3) == ONYX_OK && c3.out[0].rank == 2 && cmp_out(&c3.out[0], x, 6, 0) == -1,
          "noop_with_empty_axes");
    done(&c3);

    /* ReduceSum opset 11 takes the attribute form */
    call c4 = {.op = "ReduceSum", .opset = 11, .n_in = 1, .in = {mk(ONYX_FLOAT, 2, dims, x)},
               .n_attr = 1, .attr = {a_ints("axes", 1, ax1)}};
    double w4[2] = {6, 15};
    CHECK(run(&c4) == ONYX_OK && cmp_out(&c4.out[0], w4, 2, 1e-7) == -1, "ReduceSum-11 axes");
    done(&c4);

    /* errors: out of range, repeated */
    int64_t bad[2] = {2, 0}, rep[2] = {1, -1}, two[1] = {2};
    call e1 = {.op = "ReduceMax", .opset = 18, .n_in = 2,
               .in = {mk(ONYX_FLOAT, 2, dims, x), mk_i64(1, two, bad)}};
    CHECK(run(&e1) == ONYX_E_INVALID && strstr(e1.err.message, "out of range"),
          "axis out of range: %s", e1.err.message);
    done(&e1);
    call e2 = {.op = "ReduceMax", .opset = 18, .n_in = 2,
               .in = {mk(ONYX_FLOAT, 2, dims, x), mk_i64(1, two, rep)}};
    CHECK(run(&e2) == ONYX_E_INVALID && strstr(e2.err.message, "repeats"),
          "repeated axis: %s", e2.err.message);
    done(&e2);
    free_made();
}

static void test_reduce_empty(void)
{
    int64_t dims[2] = {0, 3}, ax0[1] = {0}, one[1] = {1};
    struct {
        const char *op;
        onyx_dtype dt;
        double want;
    } cases[] = {
        {"ReduceSum", ONYX_FLOAT, 0},         {"ReduceProd", ONYX_FLOAT, 1},
        {"ReduceMax", ONYX_FLOAT, -INFINITY}, {"ReduceMin", ONYX_FLOAT, INFINITY},
        {"ReduceMean", ONYX_FLOAT, NAN},      {"ReduceLogSumExp", ONYX_FLOAT, -INFINITY},
        {"ReduceLogSum", ONYX_FLOAT, -INFINITY}, {"ReduceL2", ONYX_DOUBLE, 0},
        {"ReduceMax", ONYX_INT32, INT32_MIN}, {"ReduceMin", ONYX_UINT8, 255},
        {"ReduceMin", ONYX_INT8, 127},        {"ReduceProd", ONYX_INT64, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        call c = {.op = cases[i].op, .opset = 18, .n_in = 2,
                  .in = {mk(cases[i].dt, 2, dims, NULL), mk_i64(1, one, ax0)}};
        double want[3] = {cases[i].want, cases[i].want, cases[i].want};
        onyx_status s = run(&c);
        CHECK(s == ONYX_OK && c.out[0].rank == 2 && c.out[0].dims[0] == 1 &&
                  cmp_out(&c.out[0], want, 3, 0) == -1,
              "empty %s %s: status %d %s", cases[i].op, onyx_dtype_name(cases[i].dt), s,
              c.err.message);
        done(&c);
    }
    /* reducing the non-empty axis of an empty tensor gives an empty result */
    call c = {.op = "ReduceSum", .opset = 13, .n_in = 2,
              .in = {mk(ONYX_FLOAT, 2, dims, NULL), mk_i64(1, one, one)}};
    CHECK(run(&c) == ONYX_OK && c.out[0].dims[0] == 0 && c.out[0].dims[1] == 1,
          "empty kept axis");
    done(&c);
    free_made();
}

static void test_reduce_dtypes(void)
{
    int64_t d2[1] = {2}, d3[1] = {3};
    int64_t big[2] = {(int64_t)1 << 60, 3};
    call c = {.op = "ReduceSum", .opset = 13, .n_in = 1, .in = {mk_i64(1, d2, big)},
              .n_attr = 1, .attr = {a_int("keepdims", 0)}};
    CHECK(run(&c) == ONYX_OK && c.out[0].rank == 0 &&
              ((int64_t *)c.out[0].data)[0] == ((int64_t)1 << 60) + 3,
          "int64 sum is exact");
    done(&c);

    double xi[3] = {-3, 4, -5};
    call c2 = {.op = "ReduceL1", .opset = 13, .n_in = 1, .in = {mk(ONYX_INT32, 1, d3, xi)}};
    double w2[1] = {12};
    CHECK(run(&c2) == ONYX_OK && cmp_out(&c2.out[0], w2, 1, 0) == -1, "int32 L1");
    done(&c2);

    call c3 = {.op = "ReduceMean", .opset = 13, .n_in = 1, .in = {mk(ONYX_INT32, 1, d3, xi)}};
    double w3[1] = {-1}; /* -4/3 truncates toward zero */
    CHECK(run(&c3) == ONYX_OK && cmp_out(&c3.out[0], w3, 1, 0) == -1, "int32 mean truncates");
    done(&c3);

    double xu[3] = {200, 100, 7};
    call c4 = {.op = "ReduceSum", .opset = 13, .n_in = 1, .in = {mk(ONYX_UINT8, 1, d3, xu)}};
    double w4[1] = {51}; /* 307 wraps modulo 256 */
    CHECK(run(&c4) == ONYX_OK && cmp_out(&c4.out[0], w4, 1, 0) == -1, "uint8 sum wraps");
    done(&c4);

    double xh[3] = {0.5, 1.5, 2.25};
    call c5 = {.op = "ReduceSumSquare", .opset = 13, .n_in = 1,
               .in = {mk(ONYX_FLOAT16, 1, d3, xh)}};
    double w5[1] = {0.25 + 2.25 + 5.0625};
    CHECK(run(&c5) == ONYX_OK && c5.out[0].dtype == ONYX_FLOAT16 &&
              cmp_out(&c5.out[0], w5, 1, 1e-3) == -1,
          "float16 sum of squares");
    done(&c5);

    double xn[3] = {1, NAN, 3};
    call c6 = {.op = "ReduceMax", .opset = 13, .n_in = 1, .in = {mk(ONYX_FLOAT, 1, d3, xn)}};
    double w6[1] = {NAN};
    CHECK(run(&c6) == ONYX_OK && cmp_out(&c6.out[0], w6, 1, 0) == -1, "max propagates NaN");
    done(&c6);

    double xl[3] = {1000, 1000, -INFINITY};
    call c7 = {.op = "ReduceLogSumExp", .opset = 13, .n_in = 1,
               .in = {mk(ONYX_DOUBLE, 1, d3, xl)}};
    double w7[1] = {1000 + log(2.0)};
    CHECK(run(&c7) == ONYX_OK && cmp_out(&c7.out[0], w7, 1, 1e-12) == -1,
          "logsumexp of large values");
    done(&c7);

    call c8 = {.op = "ReduceSum", .opset = 13, .n_in = 1, .in = {mk(ONYX_STRING, 1, d3, NULL)}};
    CHECK(run(&c8) == ONYX_E_UNSUPPORTED, "string input rejected");
    done(&c8);
    free_made();
}

/* ---- ArgMax / ArgMin ---- */

static void test_arg(void)
{
    int64_t dims[2] = {2, 4};
    double x[8] = {1, 5, 5, 2, 7, NAN, 3, NAN};
    struct {
        const char *op;
        int last;
        int64_t want[2];
    } cases[] = {
        {"ArgMax", 0, {1, 1}}, {"ArgMax", 1, {2, 3}}, {"ArgMin", 0, {0, 1}}, {"ArgMin", 1, {0, 3}},
    };
    for (size_t i = 0; i < 4; i++) {
        call c = {.op = cases[i].op, .opset = 13, .n_in = 1, .in = {mk(ONYX_FLOAT, 2, dims, x)},
                  .n_attr = 3,
                  .attr = {a_int("axis", -1), a_int("keepdims", 0),
                           a_int("select_last_index", cases[i].last)}};
        bool ok = run(&c) == ONYX_OK && c.out[0].dtype == ONYX_INT64 && c.out[0].rank == 1;
        const int64_t *r = c.out[0].data;
        CHECK(ok && r[0] == cases[i].want[0] && r[1] == cases[i].want[1],
              "%s last=%d: got %lld %lld", cases[i].op, cases[i].last, ok ? (long long)r[0] : -9,
              ok ? (long long)r[1] : -9);
        done(&c);
    }
    /* axis 0, int64 values that differ only beyond double precision */
    int64_t d2[2] = {2, 1};
    int64_t v[2] = {((int64_t)1 << 60) + 1, ((int64_t)1 << 60) + 2};
    call c = {.op = "ArgMax", .opset = 13, .n_in = 1, .in = {mk_i64(2, d2, v)}};
    CHECK(run(&c) == ONYX_OK && c.out[0].dims[0] == 1 && ((int64_t *)c.out[0].data)[0] == 1,
          "int64 argmax exact");
    done(&c);
    int64_t d0[2] = {0, 2};
    call e = {.op = "ArgMax", .opset = 13, .n_in = 1, .in = {mk(ONYX_FLOAT, 2, d0, NULL)},
              .n_attr = 1, .attr = {a_int("axis", 0)}};
    CHECK(run(&e) == ONYX_E_SHAPE, "argmax over an empty axis fails");
    done(&e);
    free_made();
}

/* ---- CumSum ---- */

static void test_cumsum(void)
{
    int64_t dims[2] = {2, 3}, sc[1] = {1}, ax = 1;
    double x[6] = {1, 2, 3, 4, 5, 6};
    struct {
        int excl, rev;
        double want[6];
    } cases[] = {
        {0, 0, {1, 3, 6, 4, 9, 15}},
        {1, 0, {0, 1, 3, 0, 4, 9}},
        {0, 1, {6, 5, 3, 15, 11, 6}},
        {1, 1, {5, 3, 0, 11, 6, 0}},
    };
    for (int dt = 0; dt < 2; dt++) {
        for (size_t i = 0; i < 4; i++) {
            call c = {.op = "CumSum", .opset = 14, .n_in = 2,
                      .in = {mk(dt ? ONYX_INT32 : ONYX_FLOAT, 2, dims, x), mk_i64(1, sc, &ax)},
                      .n_attr = 2,
                      .attr = {a_int("exclusive", cases[i].excl), a_int("reverse", cases[i].rev)}};
            CHECK(run(&c) == ONYX_OK && cmp_out(&c.out[0], cases[i].want, 6, 1e-7) == -1,
                  "cumsum excl=%d rev=%d dtype %d", cases[i].excl, cases[i].rev, dt);
            done(&c);
        }
    }
    int64_t ax0 = -2;
    call c = {.op = "CumSum", .opset = 14, .n_in = 2,
              .in = {mk(ONYX_DOUBLE, 2, dims, x), mk_i64(0, NULL, &ax0)}};
    double w[6] = {1, 2, 3, 5, 7, 9};
    CHECK(run(&c) == ONYX_OK && cmp_out(&c.out[0], w, 6, 1e-12) == -1, "cumsum axis -2 scalar");
    done(&c);
    free_made();
}

/* ---- TopK ---- */

static void test_topk(void)
{
    int64_t dims[1] = {6}, one[1] = {1};
    double x[6] = {1, 3, NAN, 3, -0.0, 0.0};
    struct {
        int largest;
        int64_t k;
        double vals[3];
        int64_t idx[3];
    } cases[] = {
        {1, 3, {NAN, 3, 3}, {2, 1, 3}},
        {0, 3, {-0.0, 0.0, 1}, {4, 5, 0}},
    };
    for (size_t i = 0; i < 2; i++) {
        call c = {.op = "TopK", .opset = 11, .n_in = 2,
                  .in = {mk(ONYX_FLOAT, 1, dims, x), mk_i64(1, one, &cases[i].k)}, .n_out = 2,
                  .n_attr = 1, .attr = {a_int("largest", cases[i].largest)}};
        bool ok = run(&c) == ONYX_OK && cmp_out(&c.out[0], cases[i].vals, 3, 0) == -1;
        const int64_t *ix = c.out[1].data;
        CHECK(ok && ix[0] == cases[i].idx[0] && ix[1] == cases[i].idx[1] &&
                  ix[2] == cases[i].idx[2],
              "topk largest=%d (ties by lower index)", cases[i].largest);
        done(&c);
    }
    /* opset 1: k attribute; axis 0 of a 2-D int tensor */
    int64_t d2[2] = {3, 2};
    double xi[6] = {5, 1, 9, 1, 7, 2};
    call c = {.op = "TopK", .opset = 1, .n_in = 1, .in = {mk(ONYX_INT32, 2, d2, xi)}, .n_out = 2,
              .n_attr = 2, .attr = {a_int("k", 2), a_int("axis", 0)}};
    double wv[4] = {9, 2, 7, 1};
    bool ok = run(&c) == ONYX_OK && c.out[0].dims[0] == 2 && cmp_out(&c.out[0], wv, 4, 0) == -1;
    const int64_t *ix = c.out[1].data;
    CHECK(ok && ix[0] == 1 && ix[1] == 2 && ix[2] == 2 && ix[3] == 0, "topk opset 1 axis 0");
    done(&c);
    int64_t k7 = 7;
    call e = {.op = "TopK", .opset = 11, .n_in = 2,
              .in = {mk(ONYX_FLOAT, 1, dims, x), mk_i64(1, one, &k7)}, .n_out = 2};
    CHECK(run(&e) == ONYX_E_INVALID, "k larger than the axis fails");
    done(&e);
    int64_t k0 = 0;
    call z = {.op = "TopK", .opset = 11, .n_in = 2,
              .in = {mk(ONYX_FLOAT, 1, dims, x), mk_i64(1, one, &k0)}, .n_out = 2};
    CHECK(run(&z) == ONYX_OK && z.out[0].dims[0] == 0 && z.out[1].dims[0] == 0, "k = 0");
    done(&z);
    free_made();
}

/* ---- Softmax family ---- */

static void test_softmax(void)
{
    int64_t dims[3] = {2, 2, 2};
    double x[8] = {0, 1, 2, 3, -1, 5, 5, 0};
    /* opset 11, axis 1: each row of the coerced [2, 4] */
    call c = {.op = "Softmax", .opset = 11, .n_in = 1, .in = {mk(ONYX_FLOAT, 3, dims, x)}};
    double w[8];
    for (int r = 0; r < 2; r++) {
        double s = 0;
        for (int j = 0; j < 4; j++) s += exp(x[r * 4 + j]);
        for (int j = 0; j < 4; j++) w[r * 4 + j] = exp(x[r * 4 + j]) / s;
    }
    CHECK(run(&c) == ONYX_OK && cmp_out(&c.out[0], w, 8, 1e-6) == -1, "softmax-11 coerces");
    done(&c);
    /* opset 13, axis 1: along dim 1 only */
    call c2 = {.op = "LogSoftmax", .opset = 13, .n_in = 1, .in = {mk(ONYX_FLOAT16, 3, dims, x)},
               .n_attr = 1, .attr = {a_int("axis", 1)}};
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 2; i++) {
            double a = x[o * 4 + i], b = x[o * 4 + 2 + i], m = fmax(a, b);
            double l = m + log(exp(a - m) + exp(b - m));
            w[o * 4 + i] = a - l;
            w[o * 4 + 2 + i] = b - l;
        }
    CHECK(run(&c2) == ONYX_OK && c2.out[0].dtype == ONYX_FLOAT16 &&
              cmp_out(&c2.out[0], w, 8, 2e-3) == -1,
          "logsoftmax-13 axis 1 float16");
    done(&c2);
    /* Hardmax: first of tied maxima */
    double xh[8] = {1, 3, 3, 0, 2, 2, 2, 2};
    int64_t d2[2] = {2, 4};
    call c3 = {.op = "Hardmax", .opset = 13, .n_in = 1, .in = {mk(ONYX_FLOAT, 2, d2, xh)}};
    double wh[8] = {0, 1, 0, 0, 1, 0, 0, 0};
    CHECK(run(&c3) == ONYX_OK && cmp_out(&c3.out[0], wh, 8, 0) == -1, "hardmax ties");
    done(&c3);
    call e = {.op = "Softmax", .opset = 13, .n_in = 1, .in = {mk(ONYX_FLOAT, 3, dims, x)},
              .n_attr = 1, .attr = {a_int("axis", 3)}};
    CHECK(run(&e) == ONYX_E_INVALID, "softmax axis out of range");
    done(&e);
    free_made();
}

static void test_losses(void)
{
    int64_t xd[2] = {3, 2}, td[1] = {3}, wd[1] = {2};
    double x[6] = {-1, -2, -3, -4, -5, -6};
    int64_t t[3] = {1, 0, 0};
    double wt[2] = {0.5, 2};
    /* targets 1 (ignored), 0, 0: losses 0, 3*0.5, 5*0.5 over weights 0 + 0.5 + 0.5 */
    call c = {.op = "NegativeLogLikelihoodLoss", .opset = 13, .n_in = 3,
              .in = {mk(ONYX_FLOAT, 2, xd, x), mk_i64(1, td, t), mk(ONYX_FLOAT, 1, wd, wt)},
              .n_attr = 1, .attr = {a_int("ignore_index", 1)}};
    double w1[1] = {4.0};
    CHECK(run(&c) == ONYX_OK && c.out[0].rank == 0 && cmp_out(&c.out[0], w1, 1, 1e-6) == -1,
          "nll mean weighted with ignore_index");
    done(&c);
    /* everything ignored: mean is NaN */
    int64_t all[3] = {1, 1, 1};
    call c2 = {.op = "NegativeLogLikelihoodLoss", .opset = 13, .n_in = 2,
               .in = {mk(ONYX_FLOAT, 2, xd, x), mk_i64(1, td, all)}, .n_attr = 1,
               .attr = {a_int("ignore_index", 1)}};
    double w2[1] = {NAN};
    CHECK(run(&c2) == ONYX_OK && cmp_out(&c2.out[0], w2, 1, 0) == -1, "nll all ignored");
    done(&c2);
    int64_t oob[3] = {0, 2, 0};
    call e = {.op = "NegativeLogLikelihoodLoss", .opset = 13, .n_in = 2,
              .in = {mk(ONYX_FLOAT, 2, xd, x), mk_i64(1, td, oob)}};
    CHECK(run(&e) == ONYX_E_INVALID && strstr(e.err.message, "outside"),
          "nll target out of range: %s", e.err.message);
    done(&e);
    call e2 = {.op = "NegativeLogLikelihoodLoss", .opset = 13, .n_in = 2,
               .in = {mk(ONYX_FLOAT, 2, xd, x), mk_i64(1, td, t)}, .n_attr = 1,
               .attr = {a_str("reduction", "avg")}};
    CHECK(run(&e2) == ONYX_E_INVALID, "bad reduction");
    done(&e2);
    /* SCE: reduction none, log_prob output */
    int64_t t2[3] = {0, 1, 0};
    call c3 = {.op = "SoftmaxCrossEntropyLoss", .opset = 13, .n_in = 2, .n_out = 2,
               .in = {mk(ONYX_DOUBLE, 2, xd, x), mk_i64(1, td, t2)}, .n_attr = 1,
               .attr = {a_str("reduction", "none")}};
    double lp[6], w3[3];
    for (int r = 0; r < 3; r++) {
        double l = log(exp(x[2 * r]) + exp(x[2 * r + 1]));
        lp[2 * r] = x[2 * r] - l;
        lp[2 * r + 1] = x[2 * r + 1] - l;
        w3[r] = -lp[2 * r + t2[r]];
    }
    CHECK(run(&c3) == ONYX_OK && cmp_out(&c3.out[0], w3, 3, 1e-12) == -1 &&
              cmp_out(&c3.out[1], lp, 6, 1e-12) == -1,
          "sce none with log_prob");
    done(&c3);
    free_made();
}

/* ---- normalization ---- */

static void naive_group_norm(const double *x, int N, int C, int S, int G, const double *sc,
                             const double *bi, bool per_group, double eps, double *y)
{
    int cpg = C / G;
    for (int n = 0; n < N; n++)
        for (int g = 0; g < G; g++) {
            double m = 0, v = 0;
            int len = cpg * S, base = (n * C + g * cpg) * S;
            for (int j = 0; j < len; j++) m += x[base + j];
            m /= len;
            for (int j = 0; j < len; j++) v += (x[base + j] - m) * (x[base + j] - m);
            v /= len;
            for (int j = 0; j < len; j++) {
                int c = g * cpg + j / S, p = per_group ? g : c;
                y[base + j] = (x[base + j] - m) / sqrt(v + eps) * sc[p] + bi[p];
            }
        }
}

static void test_group_instance_norm(void)
{
    int64_t dims[4] = {2, 4, 3, 1};
    double x[24], y[24];
    unsigned seed = 3;
    for (int i = 0; i < 24; i++) x[i] = frand_at(&seed) * 3;
    double sc[4] = {1, -2, 0.5, 3}, bi[4] = {0.1, 0.2, -0.3, 0.4};
    int64_t d2[1] = {2}, d4[1] = {4};
    for (int opset = 18; opset <= 21; opset += 3) {
        bool pg = opset < 21;
        call c = {.op = "GroupNormalization", .opset = opset, .n_in = 3,
                  .in = {mk(ONYX_FLOAT, 4, dims, x), mk(ONYX_FLOAT, 1, pg ? d2 : d4, sc),
                         mk(ONYX_FLOAT, 1, pg ? d2 : d4, bi)},
                  .n_attr = 2, .attr = {a_int("num_groups", 2), a_float("epsilon", 1e-3f)}};
        naive_group_norm(x, 2, 4, 3, 2, sc, bi, pg, (double)1e-3f, y);
        CHECK(run(&c) == ONYX_OK && cmp_out(&c.out[0], y, 24, 1e-5) == -1,
              "GroupNormalization opset %d: %s", opset, c.err.message);
        done(&c);
    }
    call e = {.op = "GroupNormalization", .opset = 18, .n_in = 3,
              .in = {mk(ONYX_FLOAT, 4, dims, x), mk(ONYX_FLOAT, 1, d2, sc),
                     mk(ONYX_FLOAT, 1, d2, bi)},
              .n_attr = 1, .attr = {a_int("num_groups", 3)}};
    CHECK(run(&e) == ONYX_E_INVALID, "num_groups must divide C");
    done(&e);
    call c = {.op = "InstanceNormalization", .opset = 6, .n_in = 3,
              .in = {mk(ONYX_DOUBLE, 4, dims, x), mk(ONYX_DOUBLE, 1, d4, sc),
                     mk(ONYX_DOUBLE, 1, d4, bi)}};
    naive_group_norm(x, 2, 4, 3, 4, sc, bi, false, (double)1e-5f, y);
    CHECK(run(&c) == ONYX_OK && cmp_out(&c.out[0], y, 24, 1e-12) == -1, "InstanceNorm double");
    done(&c);
    free_made();
}

static void test_batch_norm(void)
{
    int64_t dims[3] = {2, 2, 3}, pd[2] = {2, 3}, cd[1] = {2};
    double x[12];
    unsigned seed = 11;
    for (int i = 0; i < 12; i++) x[i] = frand_at(&seed) * 2;
    double sc[6] = {1, 2, 3, 4, 5, 6}, bi[6] = {0, 1, 0, 1, 0, 1};
    double mean[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, var[6] = {1, 2, 1, 2, 1, 2};
    /* opset 7 spatial=0: one parameter per activation */
    call c = {.op = "BatchNormalization", .opset = 7, .n_in = 5,
              .in = {mk(ONYX_FLOAT, 3, dims, x), mk(ONYX_FLOAT, 2, pd, sc),
                     mk(ONYX_FLOAT, 2, pd, bi), mk(ONYX_FLOAT, 2, pd, mean),
                     mk(ONYX_FLOAT, 2, pd, var)},
              .n_attr = 1, .attr = {a_int("spatial", 0)}};
    double y[12];
    for (int i = 0; i < 12; i++) {
        int p = i % 6;
        y[i] = (x[i] - mean[p]) / sqrt(var[p] + (double)1e-5f) * sc[p] + bi[p];
    }
    CHECK(run(&c) == ONYX_OK && cmp_out(&c.out[0], y, 12, 1e-6) == -1, "BN spatial=0: %s",
          c.err.message);
    done(&c);
    /* opset 15 training mode: batch statistics and running outputs */
    call t = {.op = "BatchNormalization", .opset = 15, .n_in = 5, .n_out = 3,
              .in = {mk(ONYX_FLOAT, 3, dims, x), mk(ONYX_FLOAT, 1, cd, sc),
                     mk(ONYX_FLOAT, 1, cd, bi), mk(ONYX_DOUBLE, 1, cd, mean),
                     mk(ONYX_DOUBLE, 1, cd, var)},
              .n_attr = 2, .attr = {a_int("training_mode", 1), a_float("momentum", 0.75f)}};
    double rm[2], rv[2];
    for (int ch = 0; ch < 2; ch++) {
        double m = 0, v = 0;
        for (int n = 0; n < 2; n++)
            for (int s = 0; s < 3; s++) m += x[(n * 2 + ch) * 3 + s];
        m /= 6;
        for (int n = 0; n < 2; n++)
            for (int s = 0; s < 3; s++) {
                double d = x[(n * 2 + ch) * 3 + s] - m;
                v += d * d;
            }
        v /= 6;
        for (int n = 0; n < 2; n++)
            for (int s = 0; s < 3; s++) {
                int i = (n * 2 + ch) * 3 + s;
                y[i] = (x[i] - m) / sqrt(v + (double)1e-5f) * sc[ch] + bi[ch];
            }
        rm[ch] = mean[ch] * 0.75 + m * 0.25;
        rv[ch] = var[ch] * 0.75 + v * 0.25;
    }
    CHECK(run(&t) == ONYX_OK && cmp_out(&t.out[0], y, 12, 1e-6) == -1 &&
              t.out[1].dtype == ONYX_DOUBLE && cmp_out(&t.out[1], rm, 2, 1e-12) == -1 &&
              cmp_out(&t.out[2], rv, 2, 1e-12) == -1,
          "BN training mode: %s", t.err.message);
    done(&t);
    call e = {.op = "BatchNormalization", .opset = 15, .n_in = 5,
              .in = {mk(ONYX_FLOAT, 3, dims, x), mk(ONYX_FLOAT, 2, pd, sc),
                     mk(ONYX_FLOAT, 1, cd, bi), mk(ONYX_FLOAT, 1, cd, mean),
                     mk(ONYX_FLOAT, 1, cd, var)}};
    CHECK(run(&e) == ONYX_E_SHAPE && strstr(e.err.message, "scale"), "BN bad scale: %s",
          e.err.message);
    done(&e);
    free_made();
}

static void test_layer_norm(void)
{
    int64_t dims[3] = {2, 2, 3}, sd[2] = {1, 3};
    double x[12];
    unsigned seed = 5;
    for (int i = 0; i < 12; i++) x[i] = frand_at(&seed);
    double sc[3] = {1, 2, -1};
    /* axis -1, Scale [1, 3] (broadcast), no B, Mean and InvStdDev requested */
    call c = {.op = "LayerNormalization", .opset = 17, .n_in = 2, .n_out = 3,
              .in = {mk(ONYX_FLOAT, 3, dims, x), mk(ONYX_FLOAT, 2, sd, sc)}};
    double y[12], m[4], inv[4];
    for (int r = 0; r < 4; r++) {
        double s = 0, v = 0;
        for (int j = 0; j < 3; j++) s += x[r * 3 + j];
        m[r] = s / 3;
        for (int j = 0; j < 3; j++) v += (x[r * 3 + j] - m[r]) * (x[r * 3 + j] - m[r]);
        inv[r] = 1 / sqrt(v / 3 + (double)1e-5f);
        for (int j = 0; j < 3; j++) y[r * 3 + j] = (x[r * 3 + j] - m[r]) * inv[r] * sc[j];
    }
    CHECK(run(&c) == ONYX_OK && cmp_out(&c.out[0], y, 12, 1e-6) == -1 &&
              c.out[1].rank == 3 && c.out[1].dims[2] == 1 && c.out[1].dtype == ONYX_FLOAT &&
              cmp_out(&c.out[1], m, 4, 1e-6) == -1 && cmp_out(&c.out[2], inv, 4, 1e-6) == -1,
          "LayerNorm with stats: %s", c.err.message);
    done(&c);
    int64_t bad[1] = {2};
    call e = {.op = "LayerNormalization", .opset = 17, .n_in = 2,
              .in = {mk(ONYX_FLOAT, 3, dims, x), mk(ONYX_FLOAT, 1, bad, sc)}};
    CHECK(run(&e) == ONYX_E_SHAPE, "LayerNorm scale shape mismatch");
    done(&e);
    free_made();
}

static void test_lrn_mvn(void)
{
    int64_t dims[3] = {1, 4, 2};
    double x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    call c = {.op = "LRN", .opset = 13, .n_in = 1, .in = {mk(ONYX_FLOAT, 3, dims, x)},
              .n_attr = 4,
              .attr = {a_int("size", 2), a_float("alpha", 0.5f), a_float("beta", 0.5f),
                       a_float("bias", 1.0f)}};
    double y[8];
    for (int ch = 0; ch < 4; ch++)
        for (int s = 0; s < 2; s++) {
            double sq = 0; /* size 2: window [c, c+1] */
            for (int i = ch; i <= ch + 1 && i < 4; i++) sq += x[i * 2 + s] * x[i * 2 + s];
            y[ch * 2 + s] = x[ch * 2 + s] / pow(1 + 0.25 * sq, 0.5);
        }
    CHECK(run(&c) == ONYX_OK && cmp_out(&c.out[0], y, 8, 1e-6) == -1, "LRN even size");
    done(&c);
    int64_t ax[1] = {1};
    call c2 = {.op = "MeanVarianceNormalization", .opset = 13, .n_in = 1,
               .in = {mk(ONYX_FLOAT, 3, dims, x)}, .n_attr = 1, .attr = {a_ints("axes", 1, ax)}};
    for (int s = 0; s < 2; s++) {
        double m = 0, v = 0;
        for (int ch = 0; ch < 4; ch++) m += x[ch * 2 + s] / 4;
        for (int ch = 0; ch < 4; ch++) v += (x[ch * 2 + s] - m) * (x[ch * 2 + s] - m) / 4;
        for (int ch = 0; ch < 4; ch++) y[ch * 2 + s] = (x[ch * 2 + s] - m) / (sqrt(v) + 1e-9);
    }
    CHECK(run(&c2) == ONYX_OK && cmp_out(&c2.out[0], y, 8, 1e-6) == -1, "MVN axes [1]");
    done(&c2);
    call e = {.op = "MeanVarianceNormalization", .opset = 13, .n_in = 1,
              .in = {mk(ONYX_FLOAT, 3, dims, x)}};
    CHECK(run(&e) == ONYX_E_INVALID, "MVN default axes need rank 4");
    done(&e);
    free_made();
}

int main(void)
{
    test_reduce_all_axes();
    test_reduce_axes_forms();
    test_reduce_empty();
    test_reduce_dtypes();
    test_arg();
    test_cumsum();
    test_topk();
    test_softmax();
    test_losses();
    test_group_instance_norm();
    test_batch_norm();
    test_layer_norm();
    test_lrn_mvn();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
