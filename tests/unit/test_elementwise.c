/* test_elementwise.c - unit tests for the elementwise families (ops/unary.c,
 * ops/binary.c, ops/activation.c, ops/cast.c), calling the kernels directly.
 *
 * Broadcasting ops are checked against a naive index-by-index reference on
 * awkward shapes (1, 3, 17, empty); the rest on the edge cases the ONNX test
 * data does not reach: integer wrap-around and division by zero, NaN
 * propagation, rounding, half-precision, string formatting and parsing, and
 * the error paths. Prints one line per failed check and a final
 * "N passed, N failed" line; exits non-zero when any check failed. */
#include "../../ops/kernel.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- building and running single nodes ---- */
static onyx_tensor *make(onyx_dtype dt, int rank, const int64_t *dims, const double *vals)
{
    onyx_tensor *t = onyx_tensor_create(dt, rank, dims);
    if (!t) abort();
    int64_t n = tensor_numel_of(rank, dims);
    for (int64_t i = 0; vals && i < n; i++) k_set_f64(t, i, vals[i]);
    return t;
}

static onyx_tensor *make_strings(int n, const char *const *vals)
{
    int64_t dims[1] = {n};
    onyx_tensor *t = onyx_tensor_create(ONYX_STRING, 1, dims);
    char **s = t->data;
    for (int i = 0; i < n; i++) {
        free(s[i]);
        s[i] = strdup(vals[i]);
    }
    return t;
}

/* Runs op on the inputs; the output goes to *out (released by the caller). */
static onyx_status run(const char *op, int opset, int n_in, onyx_tensor *const *ins, int n_attrs,
                       const onyx_attr *attrs, onyx_tensor *out, onyx_error *err)
{
    const onyx_op_def *def = onyx_find_op("", op);
    if (!def) {
        snprintf(err->message, sizeof err->message, "no operator %s", op);
        return err->code = ONYX_E_UNSUPPORTED;
    }
    const onyx_tensor *inputs[8];
    for (int i = 0; i < n_in; i++) inputs[i] = ins[i];
    onyx_tensor *outs[1] = {out};
    onyx_kctx k = {.node_name = "test", .op_type = op, .domain = "", .opset = opset,
                   .n_attrs = n_attrs, .attrs = attrs, .n_inputs = n_in, .inputs = inputs,
                   .n_outputs = 1, .outputs = outs, .err = err};
    memset(err, 0, sizeof *err);
    onyx_status st = def->run(&k);
    for (size_t i = 0; i < sizeof k.spare / sizeof k.spare[0]; i++) tensor_release(&k.spare[i]);
    return st;
}

static void free_all(int n, onyx_tensor **ts)
{
    for (int i = 0; i < n; i++) onyx_tensor_free(ts[i]);
}

static bool close_to(double got, double want, double tol)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= tol * (1 + fabs(want));
}

static void check_values(const char *what, const onyx_tensor *t, int n, const double *want)
{
    int bad = -1;
    for (int i = 0; i < n && bad < 0; i++)
        if (!close_to(k_get_f64(t, i), want[i], 1e-6)) bad = i;
    CHECK(bad < 0, "%s: element %d is %.17g, expected %.17g", what, bad,
          bad >= 0 ? k_get_f64(t, bad) : 0, bad >= 0 ? want[bad] : 0);
}

/* ---- broadcasting against a naive reference ---- */
/* a value in [-2, 2) */
static double rnd_value(void) { return rnd(65536) / 65536.0 * 4 - 2; }

/* Index into t (broadcast into out_rank/out_dims) of the output element o. */
static int64_t bcast_index(const onyx_tensor *t, int out_rank, const int64_t *out_dims, int64_t o)
{
    int64_t idx = 0, stride = 1;
    for (int d = out_rank - 1; d >= 0; d--) {
        int64_t c = o % out_dims[d];
        o /= out_dims[d];
        int td = d - (out_rank - t->rank);
        if (td < 0) continue;
        if (t->dims[td] != 1) idx += c * stride;
        stride *= t->dims[td];
    }
    return idx;
}

static double ref_binary(const char *op, double a, double b)
{
    if (!strcmp(op, "Add")) return a + b;
    if (!strcmp(op, "Sub")) return a - b;
    if (!strcmp(op, "Mul")) return a * b;
    if (!strcmp(op, "Div")) return a / b;
    if (!strcmp(op, "Pow")) return pow(fabs(a), b);
    if (!strcmp(op, "Max")) return a > b ? a : b;
    if (!strcmp(op, "Min")) return a < b ? a : b;
    if (!strcmp(op, "PRelu")) return a < 0 ? a * b : a;
    return NAN;
}

/* shapes a and b, both given with rank 4 and then trimmed by ra/rb */
static void check_broadcast(const char *op, onyx_dtype dt, int ra, const int64_t *da, int rb,
                            const int64_t *db)
{
    onyx_tensor *in[2] = {make(dt, ra, da, NULL), make(dt, rb, db, NULL)};
    int64_t na = tensor_numel_of(ra, da), nb = tensor_numel_of(rb, db);
    for (int64_t i = 0; i < na; i++) k_set_f64(in[0], i, strcmp(op, "Pow") ? rnd_value() : fabs(rnd_value()));
    for (int64_t i = 0; i < nb; i++) k_set_f64(in[1], i, rnd_value() + (strcmp(op, "Div") ? 0 : 5));
    onyx_tensor out = {0};
    onyx_error err;
    onyx_status st = run(op, 17, 2, in, 0, NULL, &out, &err);
    int r;
    int64_t dims[ONYX_MAX_RANK];
    const onyx_tensor *cin[2] = {in[0], in[1]};
    bool ok = k_broadcast_shapes(2, cin, &r, dims);
    CHECK(st == ONYX_OK && ok, "%s: %s", op, err.message);
    if (st == ONYX_OK && ok) {
        bool shape_ok = out.rank == r && out.dtype == dt;
        for (int d = 0; shape_ok && d < r; d++) shape_ok = out.dims[d] == dims[d];
        CHECK(shape_ok, "%s: output shape", op);
        int64_t n = tensor_numel_of(r, dims), bad = -1;
        double tol = dt == ONYX_FLOAT16 ? 2e-3 : 1e-6;
        for (int64_t o = 0; o < n && bad < 0 && shape_ok; o++) {
            double a = k_get_f64(in[0], bcast_index(in[0], r, dims, o));
            double b = k_get_f64(in[1], bcast_index(in[1], r, dims, o));
            if (!close_to(k_get_f64(&out, o), ref_binary(op, a, b), tol)) bad = o;
        }
        CHECK(bad < 0, "%s %s [%lld,%lld,%lld,%lld]/%d vs [%lld,%lld,%lld,%lld]/%d: element %lld",
              op, onyx_dtype_name(dt), (long long)da[0], (long long)da[1], (long long)da[2],
              (long long)da[3], ra, (long long)db[0], (long long)db[1], (long long)db[2],
              (long long)db[3], rb, (long long)bad);
    }
    tensor_release(&out);
    free_all(2, in);
}

static void test_broadcasting(void)
{
    static const int64_t sizes[] = {1, 3, 17};
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"};
    for (int trial = 0; trial < 300; trial++) {
        int64_t da[4], db[4];
        int ra = 1 + rnd(4), rb = 1 + rnd(4);
        for (int d = 0; d < 4; d++) {
            da[d] = sizes[rnd(3)];
            db[d] = rnd(2) ? da[d] : 1;
        }
        /* align b to the right of a where both have the dimension */
        int64_t db2[4] = {1, 1, 1, 1};
        for (int d = 0; d < rb; d++) {
            int ad = ra - rb + d;
            db2[d] = ad >= 0 ? db[ad] : sizes[(trial + d) % 3];
        }
        const char *op = ops[trial % 7];
        check_broadcast(op, trial % 5 == 4 ? ONYX_FLOAT16 : trial % 3 == 2 ? ONYX_DOUBLE : ONYX_FLOAT,
                        ra, da, rb, db2);
        check_broadcast(op, ONYX_FLOAT, rb, db2, ra, da);
    }
    /* PRelu: slope broadcast to X only */
    int64_t x4[4] = {2, 3, 4, 5}, s1[4] = {3, 1, 1, 0}, s2[4] = {5, 0, 0, 0};
    check_broadcast("PRelu", ONYX_FLOAT, 4, x4, 3, s1);
    check_broadcast("PRelu", ONYX_DOUBLE, 4, x4, 1, s2);
}

static void test_broadcast_errors(void)
{
    int64_t a[2] = {2, 3}, b[1] = {4}, e[2] = {0, 3}, one[2] = {1, 3};
    onyx_tensor *in[2] = {make(ONYX_FLOAT, 2, a, NULL), make(ONYX_FLOAT, 1, b, NULL)};
    onyx_tensor out = {0};
    onyx_error err;
    CHECK(run("Add", 14, 2, in, 0, NULL, &out, &err) == ONYX_E_SHAPE &&
              strstr(err.message, "[2,3] and [4]"),
          "broadcast error: %s", err.message);
    free_all(2, in);
    in[0] = make(ONYX_FLOAT, 2, a, NULL);
    in[1] = make(ONYX_INT32, 2, a, NULL);
    CHECK(run("Mul", 14, 2, in, 0, NULL, &out, &err) == ONYX_E_INVALID, "type mismatch: %s",
          err.message);
    free_all(2, in);
    /* empty tensors broadcast to empty outputs */
    in[0] = make(ONYX_FLOAT, 2, e, NULL);
    in[1] = make(ONYX_FLOAT, 2, one, NULL);
    CHECK(run("Add", 14, 2, in, 0, NULL, &out, &err) == ONYX_OK && out.rank == 2 &&
              out.dims[0] == 0 && out.dims[1] == 3,
          "empty add: %s", err.message);
    CHECK(run("Where", 16, 0, in, 0, NULL, &out, &err) == ONYX_E_INVALID, "Where without inputs");
    tensor_release(&out);
    free_all(2, in);
}

/* Before opset 7, broadcast=1 with axis aligned B inside A at that axis. */
static void test_legacy_broadcast(void)
{
    int64_t a[3] = {2, 3, 2}, b[1] = {3};
    onyx_tensor *in[2] = {make(ONYX_FLOAT, 3, a, NULL), make(ONYX_FLOAT, 1, b, (double[]){1, 2, 3})};
    onyx_attr attrs[2] = {attr_int("broadcast", 1), attr_int("axis", 1)};
    onyx_tensor out = {0};
    onyx_error err;
    CHECK(run("Add", 6, 2, in, 2, attrs, &out, &err) == ONYX_OK, "legacy Add: %s", err.message);
    check_values("legacy Add axis=1", &out, 12, (double[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
    attrs[1] = attr_int("axis", 3);
    CHECK(run("Add", 6, 2, in, 2, attrs, &out, &err) == ONYX_E_INVALID, "legacy Add bad axis");
    onyx_attr to_name = attr_str("to", "INT32");
    CHECK(run("Cast", 1, 1, in + 1, 1, &to_name, &out, &err) == ONYX_OK &&
              out.dtype == ONYX_INT32,
          "Cast with a type name: %s", err.message);
    tensor_release(&out);
    free_all(2, in);
}

/* ---- integer semantics ---- */
static void binary_case(const char *op, onyx_dtype dt, int n, const double *a, const double *b,
                        int n_attrs, const onyx_attr *attrs, const double *want)
{
    int64_t dims[1] = {n};
    onyx_tensor *in[2] = {make(dt, 1, dims, a), make(dt, 1, dims, b)};
    onyx_tensor out = {0};
    onyx_error err;
    char what[64];
    snprintf(what, sizeof what, "%s %s", op, onyx_dtype_name(dt));
    CHECK(run(op, 17, 2, in, n_attrs, attrs, &out, &err) == ONYX_OK, "%s: %s", what, err.message);
    check_values(what, &out, n, want);
    tensor_release(&out);
    free_all(2, in);
}

static void test_integers(void)
{
    double a[] = {-2147483648.0, 7, -7, 7, -7, 5}, b[] = {-1, 0, 2, -2, -2, 3};
    binary_case("Div", ONYX_INT32, 6, a, b, 0, NULL,
                (double[]){-2147483648.0, 0, -3, -3, 3, 1});
    binary_case("Mod", ONYX_INT32, 6, a, b, 0, NULL, (double[]){0, 0, 1, -1, -1, 2});
    onyx_attr fm = attr_int("fmod", 1);
    binary_case("Mod", ONYX_INT32, 6, a, b, 1, &fm, (double[]){0, 0, -1, 1, -1, 2});
    binary_case("Mod", ONYX_FLOAT, 3, (double[]){-7, 7, 5.5}, (double[]){2, -2, 2}, 1, &fm,
                (double[]){-1, 1, 1.5});
    binary_case("Add", ONYX_INT8, 2, (double[]){127, -128}, (double[]){1, -1}, 0, NULL,
                (double[]){-128, 127});
    binary_case("Mul", ONYX_INT64, 1, (double[]){4611686018427387904.0}, (double[]){4}, 0, NULL,
                (double[]){0});
    binary_case("Sub", ONYX_UINT8, 1, (double[]){0}, (double[]){1}, 0, NULL, (double[]){255});
    onyx_attr left = attr_str("direction", "LEFT"), right = attr_str("direction", "RIGHT");
    binary_case("BitShift", ONYX_UINT8, 3, (double[]){255, 1, 128}, (double[]){1, 8, 7}, 1, &left,
                (double[]){254, 0, 0});
    binary_case("BitShift", ONYX_UINT64, 2, (double[]){256, 1}, (double[]){8, 64}, 1, &right,
                (double[]){1, 0});
    binary_case("BitwiseXor", ONYX_INT16, 2, (double[]){-1, 12}, (double[]){5, 10}, 0, NULL,
                (double[]){-6, 6});
    binary_case("Pow", ONYX_INT64, 4, (double[]){3, -2, 2, 1}, (double[]){40, 3, -1, -5}, 0, NULL,
                (double[]){12157665459056928801.0 - 18446744073709551616.0, -8, 0, 1});
    binary_case("Max", ONYX_UINT32, 2, (double[]){4294967295.0, 1}, (double[]){0, 2}, 0, NULL,
                (double[]){4294967295.0, 2});

    int64_t dims[1] = {3};
    onyx_tensor *in[1] = {make(ONYX_INT8, 1, dims, (double[]){-128, -5, 5})};
    onyx_tensor out = {0};
    onyx_error err;
    CHECK(run("Abs", 13, 1, in, 0, NULL, &out, &err) == ONYX_OK, "Abs: %s", err.message);
    check_values("Abs int8", &out, 3, (double[]){-128, 5, 5});
    CHECK(run("Neg", 13, 1, in, 0, NULL, &out, &err) == ONYX_OK, "Neg: %s", err.message);
    check_values("Neg int8", &out, 3, (double[]){-128, 5, -5});
    CHECK(run("Sign", 13, 1, in, 0, NULL, &out, &err) == ONYX_OK, "Sign: %s", err.message);
    check_values("Sign int8", &out, 3, (double[]){-1, -1, 1});
    CHECK(run("Relu", 14, 1, in, 0, NULL, &out, &err) == ONYX_OK, "Relu: %s", err.message);
    check_values("Relu int8", &out, 3, (double[]){0, 0, 5});
    CHECK(run("BitwiseNot", 18, 1, in, 0, NULL, &out, &err) == ONYX_OK, "BitwiseNot: %s",
          err.message);
    check_values("BitwiseNot int8", &out, 3, (double[]){127, 4, -6});
    CHECK(run("Sqrt", 13, 1, in, 0, NULL, &out, &err) == ONYX_E_UNSUPPORTED &&
              strstr(err.message, "int8"),
          "Sqrt int8 must fail: %s", err.message);
    tensor_release(&out);
    free_all(1, in);
}

/* ---- floats: rounding, NaN, activations ---- */
static void unary_case(const char *op, int opset, onyx_dtype dt, int n, const double *x,
                       int n_attrs, const onyx_attr *attrs, const double *want)
{
    int64_t dims[1] = {n};
    onyx_tensor *in[1] = {make(dt, 1, dims, x)};
    onyx_tensor out = {0};
    onyx_error err;
    char what[64];
    snprintf(what, sizeof what, "%s %s", op, onyx_dtype_name(dt));
    CHECK(run(op, opset, 1, in, n_attrs, attrs, &out, &err) == ONYX_OK, "%s: %s", what,
          err.message);
    check_values(what, &out, n, want);
    tensor_release(&out);
    free_all(1, in);
}

static void test_floats(void)
{
    double x[] = {0.5, 1.5, 2.5, -0.5, -2.5, 3.7};
    unary_case("Round", 11, ONYX_FLOAT, 6, x, 0, NULL, (double[]){0, 2, 2, -0.0, -2, 4});
    unary_case("Round", 11, ONYX_FLOAT16, 6, x, 0, NULL, (double[]){0, 2, 2, -0.0, -2, 4});
    unary_case("Round", 11, ONYX_DOUBLE, 6, x, 0, NULL, (double[]){0, 2, 2, -0.0, -2, 4});
    double inf[] = {INFINITY, -INFINITY, NAN, 1};
    onyx_attr neg0 = attr_int("detect_negative", 0);
    unary_case("IsInf", 10, ONYX_FLOAT, 4, inf, 0, NULL, (double[]){1, 1, 0, 0});
    unary_case("IsInf", 10, ONYX_DOUBLE, 4, inf, 1, &neg0, (double[]){1, 0, 0, 0});
    unary_case("IsNaN", 13, ONYX_FLOAT16, 4, inf, 0, NULL, (double[]){0, 0, 1, 0});
    binary_case("Max", ONYX_FLOAT, 3, (double[]){NAN, 1, 2}, (double[]){1, NAN, 3}, 0, NULL,
                (double[]){NAN, NAN, 3});
    binary_case("Min", ONYX_DOUBLE, 3, (double[]){NAN, 1, 2}, (double[]){1, NAN, 3}, 0, NULL,
                (double[]){NAN, NAN, 2});

    double v[] = {-3, -1, -0.25, 0, 0.25, 1, 3, 30};
    double gelu[8], gelu_t[8], mish[8], sp[8], celu[8];
    for (int i = 0; i < 8; i++) {
        double t = v[i];
        gelu[i] = 0.5 * t * (1 + erf(t / sqrt(2)));
        gelu_t[i] = 0.5 * t * (1 + tanh(sqrt(2 / M_PI) * (t + 0.044715 * t * t * t)));
        sp[i] = log(1 + exp(t));
        mish[i] = t * tanh(sp[i]);
        celu[i] = fmax(0, t) + fmin(0, 2 * (exp(t / 2) - 1));
    }
    onyx_attr tanh_a = attr_str("approximate", "tanh"), alpha2 = attr_float("alpha", 2);
    unary_case("Gelu", 20, ONYX_FLOAT, 8, v, 0, NULL, gelu);
    unary_case("Gelu", 20, ONYX_DOUBLE, 8, v, 1, &tanh_a, gelu_t);
    unary_case("Mish", 18, ONYX_FLOAT, 8, v, 0, NULL, mish);
    unary_case("Softplus", 1, ONYX_DOUBLE, 8, v, 0, NULL, sp);
    unary_case("Celu", 12, ONYX_FLOAT, 8, v, 1, &alpha2, celu);
    unary_case("HardSwish", 14, ONYX_FLOAT, 8, v, 0, NULL,
               (double[]){0, -1.0 / 3, -0.25 * 2.75 / 6, 0, 0.25 * 3.25 / 6, 4.0 / 6, 3, 30});
    onyx_attr shrink[2] = {attr_float("lambd", 1), attr_float("bias", 0.5f)};
    unary_case("Shrink", 9, ONYX_FLOAT, 8, v, 2, shrink, (double[]){-2.5, 0, 0, 0, 0, 0, 2.5, 29.5});
    unary_case("Shrink", 9, ONYX_INT32, 8, (double[]){-3, -1, 0, 0, 0, 1, 3, 30}, 2, shrink,
               (double[]){-2, 0, 0, 0, 0, 0, 2, 29});
    unary_case("Sigmoid", 13, ONYX_FLOAT, 3, (double[]){-1000, 0, 1000}, 0, NULL,
               (double[]){0, 0.5, 1});
}

/* ---- Clip in both opset forms ---- */
static void test_clip(void)
{
    double x[] = {-5, -1, 0, 1, 5, NAN};
    onyx_attr bounds[2] = {attr_float("min", -1), attr_float("max", 2)};
    unary_case("Clip", 6, ONYX_FLOAT, 6, x, 2, bounds, (double[]){-1, -1, 0, 1, 2, NAN});
    unary_case("Clip", 6, ONYX_DOUBLE, 6, x, 1, bounds + 1, (double[]){-5, -1, 0, 1, 2, NAN});

    int64_t dims[1] = {5};
    onyx_tensor *in[3] = {make(ONYX_INT64, 1, dims, x), make(ONYX_INT64, 0, NULL, (double[]){2}),
                          make(ONYX_INT64, 0, NULL, (double[]){-1})};
    onyx_tensor out = {0};
    onyx_error err;
    /* min above max: everything becomes max */
    CHECK(run("Clip", 13, 3, in, 0, NULL, &out, &err) == ONYX_OK, "Clip: %s", err.message);
    check_values("Clip int64 min>max", &out, 5, (double[]){-1, -1, -1, -1, -1});
    onyx_tensor *only_max[3] = {in[0], NULL, in[1]};
    CHECK(run("Clip", 13, 3, only_max, 0, NULL, &out, &err) == ONYX_OK, "Clip: %s", err.message);
    check_values("Clip int64 max only", &out, 5, (double[]){-5, -1, 0, 1, 2});
    onyx_tensor *wrong[2] = {in[0], make(ONYX_INT32, 0, NULL, (double[]){0})};
    CHECK(run("Clip", 13, 2, wrong, 0, NULL, &out, &err) == ONYX_E_INVALID, "Clip type mismatch");
    onyx_tensor_free(wrong[1]);
    tensor_release(&out);
    free_all(3, in);
}

/* ---- variadic and Where ---- */
static void test_variadic_where(void)
{
    int64_t d1[1] = {3}, d2[2] = {2, 1}, d0[1] = {1};
    onyx_tensor *in[3] = {make(ONYX_FLOAT, 1, d1, (double[]){1, 2, 3}),
                          make(ONYX_FLOAT, 2, d2, (double[]){10, 20}),
                          make(ONYX_FLOAT, 1, d0, (double[]){100})};
    onyx_tensor out = {0};
    onyx_error err;
    CHECK(run("Mean", 13, 3, in, 0, NULL, &out, &err) == ONYX_OK && out.rank == 2 &&
              out.dims[0] == 2 && out.dims[1] == 3,
          "Mean: %s", err.message);
    check_values("Mean", &out, 6, (double[]){37, 37.333333333, 37.666666667, 40.333333333,
                                             40.666666667, 41});
    CHECK(run("Sum", 13, 1, in, 0, NULL, &out, &err) == ONYX_OK, "Sum: %s", err.message);
    check_values("Sum of one", &out, 3, (double[]){1, 2, 3});
    CHECK(run("Max", 13, 3, in, 0, NULL, &out, &err) == ONYX_OK, "Max: %s", err.message);
    check_values("Max of three", &out, 6, (double[]){100, 100, 100, 100, 100, 100});
    free_all(3, in);

    const char *xs[] = {"a", "bb", "ccc"}, *ys[] = {"x", "bb", "z"};
    onyx_tensor *s[3] = {make(ONYX_BOOL, 1, d1, (double[]){1, 0, 1}), make_strings(3, xs),
                         make_strings(3, ys)};
    CHECK(run("Where", 16, 3, s, 0, NULL, &out, &err) == ONYX_OK && out.dtype == ONYX_STRING,
          "Where strings: %s", err.message);
    if (out.dtype == ONYX_STRING) {
        char **o = out.data;
        CHECK(!strcmp(o[0], "a") && !strcmp(o[1], "bb") && !strcmp(o[2], "ccc"),
              "Where strings: %s %s %s", o[0], o[1], o[2]);
    }
    onyx_tensor *eq[2] = {s[1], s[2]};
    CHECK(run("Equal", 19, 2, eq, 0, NULL, &out, &err) == ONYX_OK, "Equal strings: %s",
          err.message);
    check_values("Equal strings", &out, 3, (double[]){0, 1, 0});
    free_all(3, s);
    tensor_release(&out);
}

/* ---- Cast ---- */
static void cast_case(onyx_dtype from, onyx_dtype to, int n, const double *x, const double *want)
{
    int64_t dims[1] = {n};
    onyx_tensor *in[1] = {make(from, 1, dims, x)};
    onyx_attr to_attr = attr_int("to", to);
    onyx_tensor out = {0};
    onyx_error err;
    char what[64];
    snprintf(what, sizeof what, "Cast %s to %s", onyx_dtype_name(from), onyx_dtype_name(to));
    CHECK(run("Cast", 13, 1, in, 1, &to_attr, &out, &err) == ONYX_OK && out.dtype == to, "%s: %s",
          what, err.message);
    check_values(what, &out, n, want);
    tensor_release(&out);
    free_all(1, in);
}

static void cast_to_string_case(onyx_dtype from, int n, const double *x, const char *const *want)
{
    int64_t dims[1] = {n};
    onyx_tensor *in[1] = {make(from, 1, dims, x)};
    onyx_attr to_attr = attr_int("to", ONYX_STRING);
    onyx_tensor out = {0};
    onyx_error err;
    CHECK(run("Cast", 13, 1, in, 1, &to_attr, &out, &err) == ONYX_OK, "Cast to string: %s",
          err.message);
    for (int i = 0; i < n && out.dtype == ONYX_STRING; i++)
        CHECK(!strcmp(((char **)out.data)[i], want[i]), "Cast %s %.17g to string: '%s', not '%s'",
              onyx_dtype_name(from), x[i], ((char **)out.data)[i], want[i]);
    tensor_release(&out);
    free_all(1, in);
}

static void test_cast(void)
{
    /* x86 float->int results, as numpy gives them */
    cast_case(ONYX_FLOAT, ONYX_INT32, 4, (double[]){NAN, 1e10, -2.7, 2.7},
              (double[]){-2147483648.0, -2147483648.0, -2, 2});
    cast_case(ONYX_FLOAT, ONYX_UINT8, 3, (double[]){-1, 300, NAN}, (double[]){255, 44, 0});
    cast_case(ONYX_DOUBLE, ONYX_UINT64, 2, (double[]){-1, 1e19}, (double[]){18446744073709551615.0, 1e19});
    cast_case(ONYX_FLOAT, ONYX_BOOL, 3, (double[]){0, NAN, -0.5}, (double[]){0, 1, 1});
    cast_case(ONYX_INT64, ONYX_INT8, 2, (double[]){200, -129}, (double[]){-56, 127});
    /* double -> float16 rounds once: just above a tie between two halves */
    double above_tie = 1 + ldexp(1, -11) + ldexp(1, -40);
    cast_case(ONYX_DOUBLE, ONYX_FLOAT16, 2, (double[]){above_tie, 70000},
              (double[]){1 + ldexp(1, -10), INFINITY});
    cast_case(ONYX_FLOAT16, ONYX_BFLOAT16, 1, (double[]){3}, (double[]){3});

    cast_to_string_case(ONYX_FLOAT, 9, (double[]){1e-5, 1e16, 123456789.0, 1, -0.0, 0.0001, 0.1, 1e15, NAN},
                        (const char *const[]){"1e-05", "1e+16", "123456790.0", "1.0", "-0.0",
                                              "1e-04", "0.1", "1000000000000000.0", "nan"});
    cast_to_string_case(ONYX_DOUBLE, 5, (double[]){0.1, 1.0 / 3, -INFINITY, 2.5e-300, 12.5},
                        (const char *const[]){"0.1", "0.3333333333333333", "-inf", "2.5e-300",
                                              "12.5"});
    cast_to_string_case(ONYX_FLOAT16, 2, (double[]){65504, 0.1},
                        (const char *const[]){"65500.0", "0.1"});
    cast_to_string_case(ONYX_INT64, 2, (double[]){-9223372036854775808.0, 42},
                        (const char *const[]){"-9223372036854775808", "42"});
    cast_to_string_case(ONYX_BOOL, 2, (double[]){1, 0}, (const char *const[]){"True", "False"});

    const char *strs[] = {"INF", " -1.5 ", "NaN", "+INF", "18446744073709551615"};
    int64_t dims[1] = {5};
    onyx_tensor *in[1] = {make_strings(5, strs)};
    onyx_attr to_f = attr_int("to", ONYX_FLOAT), to_u64 = attr_int("to", ONYX_UINT64);
    onyx_tensor out = {0};
    onyx_error err;
    CHECK(run("Cast", 13, 1, in, 1, &to_f, &out, &err) == ONYX_OK, "string to float: %s",
          err.message);
    check_values("string to float", &out, 5,
                 (double[]){INFINITY, -1.5, NAN, INFINITY, 18446744073709551615.0});
    CHECK(run("Cast", 13, 1, in, 1, &to_u64, &out, &err) == ONYX_OK, "string to uint64: %s",
          err.message);
    CHECK(((uint64_t *)out.data)[4] == UINT64_MAX && ((uint64_t *)out.data)[1] == (uint64_t)-1,
          "string to uint64 exact");
    free_all(1, in);
    const char *bad[] = {"1.5x"};
    in[0] = make_strings(1, bad);
    CHECK(run("Cast", 13, 1, in, 1, &to_f, &out, &err) == ONYX_E_INVALID &&
              strstr(err.message, "1.5x"),
          "unparsable string: %s", err.message);
    free_all(1, in);
    in[0] = make(ONYX_FLOAT, 1, dims, NULL);
    onyx_attr to_bad = attr_int("to", 14);
    CHECK(run("Cast", 13, 1, in, 1, &to_bad, &out, &err) == ONYX_E_UNSUPPORTED, "Cast to complex");
    onyx_tensor *like[2] = {in[0], make(ONYX_INT16, 0, NULL, (double[]){0})};
    CHECK(run("CastLike", 15, 2, like, 0, NULL, &out, &err) == ONYX_OK && out.dtype == ONYX_INT16,
          "CastLike: %s", err.message);
    free_all(2, like);
    tensor_release(&out);
}

int main(void)
{
    test_broadcasting();
    test_broadcast_errors();
    test_legacy_broadcast();
    test_integers();
    test_floats();
    test_clip();
    test_variadic_where();
    test_cast();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
