/* test_shape.c - unit tests for the shape, gather and layout families
 * (ops/shape.c, ops/gather.c, ops/layout.c), calling the kernels directly.
 *
 * The element-moving ops are checked against naive index-by-index references on
 * awkward shapes (1, 3, 5, 17, empty) and on strings; the rest on what the ONNX
 * test data does not reach: Slice clamping with INT64 extremes and negative
 * steps, Pad crops and reflect/edge/wrap past the edge, opset-18 Split, scatter
 * reductions, Unique orderings, and the error paths. Prints one line per failed
 * check and a final "N passed, N failed" line; exits non-zero on any failure. */
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

/* A tensor whose element i is i (mod 251 for uint8) or the string "s<i>". */
static onyx_tensor *iota(onyx_dtype dt, int rank, const int64_t *dims)
{
    onyx_tensor *t = make(dt, rank, dims, NULL);
    int64_t n = tensor_numel_of(rank, dims);
    for (int64_t i = 0; i < n; i++) {
        if (dt == ONYX_STRING) {
            char buf[32];
            snprintf(buf, sizeof buf, "s%lld", (long long)i);
            free(((char **)t->data)[i]);
            ((char **)t->data)[i] = strdup(buf);
        } else {
            k_set_f64(t, i, (double)(dt == ONYX_UINT8 ? i % 251 : i));
        }
    }
    return t;
}

static onyx_tensor *ints1(int n, const int64_t *v)
{
    int64_t d = n;
    onyx_tensor *t = make(ONYX_INT64, 1, &d, NULL);
    memcpy(t->data, v, (size_t)n * sizeof *v);
    return t;
}

static onyx_tensor *scalar_i64(int64_t v)
{
    onyx_tensor *t = make(ONYX_INT64, 0, NULL, NULL);
    *(int64_t *)t->data = v;
    return t;
}

/* Runs op; outputs go to outs[0..n_out) (released by the caller). */
static onyx_status run_n(const char *op, int opset, int n_in, onyx_tensor *const *ins,
                         int n_attrs, const onyx_attr *attrs, int n_out, onyx_tensor *outs,
                         onyx_error *err)
{
    const onyx_op_def *def = onyx_find_op("", op);
    if (!def) {
        snprintf(err->message, sizeof err->message, "no operator %s", op);
        return err->code = ONYX_E_UNSUPPORTED;
    }
    const onyx_tensor *inputs[8];
    onyx_tensor *out_ptrs[8];
    for (int i = 0; i < n_in; i++) inputs[i] = ins[i];
    for (int i = 0; i < n_out; i++) out_ptrs[i] = &outs[i];
    onyx_kctx k = {.node_name = "test", .op_type = op, .domain = "", .opset = opset,
                   .n_attrs = n_attrs, .attrs = attrs, .n_inputs = n_in, .inputs = inputs,
                   .n_outputs = n_out, .outputs = out_ptrs, .err = err};
    memset(err, 0, sizeof *err);
    onyx_status st = def->run(&k);
    for (size_t i = 0; i < sizeof k.spare / sizeof k.spare[0]; i++) tensor_release(&k.spare[i]);
    return st;
}

static onyx_status run(const char *op, int opset, int n_in, onyx_tensor *const *ins, int n_attrs,
                       const onyx_attr *attrs, onyx_tensor *out, onyx_error *err)
{
    return run_n(op, opset, n_in, ins, n_attrs, attrs, 1, out, err);
}

static void free_all(int n, onyx_tensor **ts)
{
    for (int i = 0; i < n; i++) onyx_tensor_free(ts[i]);
}

static bool same_shape(const onyx_tensor *t, int rank, const int64_t *dims)
{
    if (t->kind != ONYX_KIND_TENSOR || t->rank != rank) return false;
    for (int d = 0; d < rank; d++)
        if (t->dims[d] != dims[d]) return false;
    return true;
}

/* Element i of a equals element j of b (strings by content). */
static bool elem_eq(const onyx_tensor *a, int64_t i, const onyx_tensor *b, int64_t j)
{
    if (a->dtype == ONYX_STRING)
        return strcmp(((char **)a->data)[i], ((char **)b->data)[j]) == 0;
    return k_get_f64(a, i) == k_get_f64(b, j);
}

static bool values_are(const onyx_tensor *t, int n, const double *want)
{
    if (tensor_numel_of(t->rank, t->dims) != n) return false;
    for (int i = 0; i < n; i++)
        if (k_get_f64(t, i) != want[i]) return false;
    return true;
}

/* Multi-index of flat index i in dims. */
static void unflatten(int64_t i, int rank, const int64_t *dims, int64_t *c)
{
    for (int d = rank - 1; d >= 0; d--) {
        c[d] = dims[d] ? i % dims[d] : 0;
        i = dims[d] ? i / dims[d] : 0;
    }
}

static int64_t flatten(int rank, const int64_t *dims, const int64_t *c)
{
    int64_t i = 0;
    for (int d = 0; d < rank; d++) i = i * dims[d] + c[d];
    return i;
}


/* ---- Transpose / Tile / Expand / DepthToSpace against naive references ---- */
static void test_transpose(void)
{
    static const int64_t shapes[][4] = {
        {1, 3, 5, 17}, {3, 1, 17, 2}, {2, 3, 4, 5}, {0, 3, 2, 1}, {2, 3, 4, 17}};
    onyx_dtype types[] = {ONYX_FLOAT, ONYX_STRING, ONYX_UINT8, ONYX_DOUBLE};
    for (int s = 0; s < 5; s++)
        for (int trial = 0; trial < 6; trial++) {
            /* first NCHW -> NHWC: a short innermost output dim */
            int64_t perm[4] = {0, 2, 3, 1};
            for (int i = 3; trial > 0 && i > 0; i--) {
                int j = (int)rnd(i + 1);
                int64_t t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            onyx_dtype dt = types[trial % 4];
            onyx_tensor *x = iota(dt, 4, shapes[s]), out = {0};
            onyx_attr a = attr_ints("perm", 4, perm);
            onyx_error err;
            onyx_status st = run("Transpose", 13, 1, &x, 1, &a, &out, &err);
            int64_t od[4], c[4], ic[4];
            for (int d = 0; d < 4; d++) od[d] = shapes[s][perm[d]];
            bool ok = st == ONYX_OK && same_shape(&out, 4, od) && out.dtype == dt;
            int64_t n = tensor_numel_of(4, od);
            for (int64_t i = 0; ok && i < n; i++) {
                unflatten(i, 4, od, c);
                for (int d = 0; d < 4; d++) ic[perm[d]] = c[d];
                ok = elem_eq(&out, i, x, flatten(4, shapes[s], ic));
            }
            CHECK(ok, "Transpose shape %d perm %lld%lld%lld%lld %s: %s", s, (long long)perm[0],
                  (long long)perm[1], (long long)perm[2], (long long)perm[3],
                  onyx_dtype_name(dt), err.message);
            tensor_release(&out);
            free_all(1, &x);
        }
}

static void test_tile_expand(void)
{
    int64_t xd[3] = {3, 1, 5}, rep[3] = {2, 4, 1};
    onyx_tensor *x = iota(ONYX_STRING, 3, xd), *r = ints1(3, rep), out = {0};
    onyx_tensor *in[2] = {x, r};
    onyx_error err;
    onyx_status st = run("Tile", 13, 2, in, 0, NULL, &out, &err);
    int64_t od[3] = {6, 4, 5}, c[3];
    bool ok = st == ONYX_OK && same_shape(&out, 3, od);
    for (int64_t i = 0; ok && i < 120; i++) {
        unflatten(i, 3, od, c);
        for (int d = 0; d < 3; d++) c[d] %= xd[d];
        ok = elem_eq(&out, i, x, flatten(3, xd, c));
    }
    CHECK(ok, "Tile strings: %s", err.message);
    tensor_release(&out);
    free_all(1, &r);

    /* bidirectional: (3,1,5) with shape (2,1,4,1) -> (2,3,4,5) */
    int64_t shp[4] = {2, 1, 4, 1};
    r = ints1(4, shp);
    in[1] = r;
    st = run("Expand", 13, 2, in, 0, NULL, &out, &err);
    int64_t ed[4] = {2, 3, 4, 5}, e[4];
    ok = st == ONYX_OK && same_shape(&out, 4, ed);
    for (int64_t i = 0; ok && i < 120; i++) {
        unflatten(i, 4, ed, e);
        int64_t src[3] = {e[1], 0, e[3]};
        ok = elem_eq(&out, i, x, flatten(3, xd, src));
    }
    CHECK(ok, "Expand bidirectional: %s", err.message);
    tensor_release(&out);
    free_all(1, &r);

    int64_t bad[2] = {2, 4};
    r = ints1(2, bad);
    in[1] = r;
    st = run("Expand", 13, 2, in, 0, NULL, &out, &err);
    CHECK(st == ONYX_E_SHAPE, "Expand (3,1,5) to (2,4) must fail, got %d", st);
    tensor_release(&out);
    free_all(2, (onyx_tensor *[]){x, r});
}

static void test_depth_space(void)
{
    int64_t xd[4] = {2, 12, 3, 5};
    onyx_tensor *x = iota(ONYX_FLOAT, 4, xd), s2d = {0}, back = {0}, crd = {0};
    onyx_error err;
    onyx_attr a[2] = {attr_int("blocksize", 2), attr_str("mode", "CRD")};
    onyx_status st = run("DepthToSpace", 13, 1, &x, 2, a, &crd, &err);
    int64_t od[4] = {2, 3, 6, 10}, c[4];
    bool ok = st == ONYX_OK && same_shape(&crd, 4, od);
    for (int64_t i = 0; ok && i < 360; i++) {
        unflatten(i, 4, od, c);
        /* CRD: input channel c*4 + (h%2)*2 + (w%2) */
        int64_t src[4] = {c[0], c[1] * 4 + (c[2] % 2) * 2 + c[3] % 2, c[2] / 2, c[3] / 2};
        ok = k_get_f64(&crd, i) == k_get_f64(x, flatten(4, xd, src));
    }
    CHECK(ok, "DepthToSpace CRD: %s", err.message);
    /* SpaceToDepth then DepthToSpace (DCR) is the identity */
    st = run("SpaceToDepth", 13, 1, (onyx_tensor *[]){&crd}, 1, a, &s2d, &err);
    CHECK(st == ONYX_OK && same_shape(&s2d, 4, xd), "SpaceToDepth: %s", err.message);
    st = run("DepthToSpace", 13, 1, (onyx_tensor *[]){&s2d}, 1, a, &back, &err);
    ok = st == ONYX_OK && same_shape(&back, 4, od);
    for (int64_t i = 0; ok && i < 360; i++) ok = k_get_f64(&back, i) == k_get_f64(&crd, i);
    CHECK(ok, "SpaceToDepth + DepthToSpace(DCR) round trip: %s", err.message);
    tensor_release(&crd);
    tensor_release(&s2d);
    tensor_release(&back);
    free_all(1, &x);
}

/* ---- Slice ---- */

/* Slice of a 1-D iota(n) with one start/end/step; want = expected values or NULL for empty. */
static void slice_case(int64_t n, int64_t start, int64_t end, int64_t step, int nw,
                       const double *want)
{
    int64_t d = n;
    onyx_tensor *x = iota(ONYX_FLOAT, 1, &d), *s = ints1(1, &start), *e = ints1(1, &end);
    int64_t ax = 0;
    onyx_tensor *a = ints1(1, &ax), *st_ = ints1(1, &step), out = {0};
    onyx_error err;
    onyx_status st = run("Slice", 13, 5, (onyx_tensor *[]){x, s, e, a, st_}, 0, NULL, &out, &err);
    int64_t wd = nw;
    CHECK(st == ONYX_OK && same_shape(&out, 1, &wd) && values_are(&out, nw, want),
          "Slice n=%lld [%lld:%lld:%lld]: %s (got %lld elements)", (long long)n,
          (long long)start, (long long)end, (long long)step, err.message,
          (long long)(out.rank ? out.dims[0] : -1));
    tensor_release(&out);
    free_all(5, (onyx_tensor *[]){x, s, e, a, st_});
}

static void test_slice(void)
{
    slice_case(5, 1, 4, 1, 3, (double[]){1, 2, 3});
    slice_case(5, 0, INT64_MAX, 2, 3, (double[]){0, 2, 4});
    slice_case(5, -1, INT64_MIN, -1, 5, (double[]){4, 3, 2, 1, 0});
    slice_case(5, INT64_MAX, INT64_MIN, -2, 3, (double[]){4, 2, 0});
    slice_case(5, 3, 0, -1, 3, (double[]){3, 2, 1});
    slice_case(5, -100, 100, 1, 5, (double[]){0, 1, 2, 3, 4});
    slice_case(5, 10, 20, 1, 0, NULL);
    slice_case(5, 2, 2, 1, 0, NULL);
    slice_case(5, 1, 3, -1, 0, NULL);
    slice_case(5, 0, 5, INT64_MAX, 1, (double[]){0});
    slice_case(5, 4, -6, INT64_MIN, 1, (double[]){4});
    slice_case(0, 0, 5, 1, 0, NULL);

    /* 3-D: negative axes, reversed inner axis, default steps; against a reference */
    int64_t xd[3] = {4, 3, 17};
    onyx_tensor *x = iota(ONYX_STRING, 3, xd);
    int64_t sv[2] = {-2, 1}, ev[2] = {INT64_MIN, 4}, av[2] = {-1, 0}, pv[2] = {-3, 2};
    onyx_tensor *s = ints1(2, sv), *e = ints1(2, ev), *a = ints1(2, av), *p = ints1(2, pv);
    onyx_tensor out = {0};
    onyx_error err;
    onyx_status st = run("Slice", 13, 5, (onyx_tensor *[]){x, s, e, a, p}, 0, NULL, &out, &err);
    /* axis 2: 15, 12, ..., 0 (6 values); axis 0: 1, 3 */
    int64_t od[3] = {2, 3, 6}, c[3];
    bool ok = st == ONYX_OK && same_shape(&out, 3, od);
    for (int64_t i = 0; ok && i < 36; i++) {
        unflatten(i, 3, od, c);
        int64_t src[3] = {1 + 2 * c[0], c[1], 15 - 3 * c[2]};
        ok = elem_eq(&out, i, x, flatten(3, xd, src));
    }
    CHECK(ok, "Slice 3-D strings with negative axes and steps: %s", err.message);
    tensor_release(&out);

    /* opset 1: attributes */
    int64_t as[1] = {1}, ae[1] = {-1}, aa[1] = {1};
    onyx_attr at[3] = {attr_ints("starts", 1, as), attr_ints("ends", 1, ae),
                       attr_ints("axes", 1, aa)};
    st = run("Slice", 1, 1, &x, 3, at, &out, &err);
    int64_t od1[3] = {4, 1, 17};
    CHECK(st == ONYX_OK && same_shape(&out, 3, od1) && elem_eq(&out, 0, x, 17),
          "Slice opset 1 attributes: %s", err.message);
    tensor_release(&out);

    /* errors: zero step, repeated axis */
    pv[0] = 0;
    onyx_tensor *p0 = ints1(2, pv);
    st = run("Slice", 13, 5, (onyx_tensor *[]){x, s, e, a, p0}, 0, NULL, &out, &err);
    CHECK(st == ONYX_E_INVALID && strstr(err.message, "steps"), "Slice step 0: %s", err.message);
    tensor_release(&out);
    av[1] = 2;
    onyx_tensor *a2 = ints1(2, av);
    st = run("Slice", 13, 4, (onyx_tensor *[]){x, s, e, a2}, 0, NULL, &out, &err);
    CHECK(st == ONYX_E_INVALID, "Slice repeated axis: %s", err.message);
    tensor_release(&out);
    free_all(7, (onyx_tensor *[]){x, s, e, a, p, p0, a2});
}

/* ---- Pad against numpy-style iterative reference ---- */

/* Source index of outside position i in an extent of n, computed the slow way. */
static int64_t naive_pad_index(const char *mode, int64_t i, int64_t n)
{
    if (!strcmp(mode, "edge")) return i < 0 ? 0 : i >= n ? n - 1 : i;
    if (!strcmp(mode, "wrap")) {
        while (i < 0) i += n;
        while (i >= n) i -= n;
        return i;
    }
    if (n == 1) return 0;
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
}

static void test_pad(void)
{
    static const char *const modes[] = {"constant", "reflect", "edge", "wrap"};
    int64_t xd[3] = {2, 3, 4};
    /* begin pads then end pads; negative ones crop */
    static const int64_t cases[][6] = {
        {0, 1, 2, 0, 2, 3}, {1, -1, 7, 0, 0, -2}, {0, 5, -1, 1, -1, 9}, {0, 0, 0, 0, 0, 0}};
    onyx_tensor *x = iota(ONYX_FLOAT, 3, xd);
    for (int m = 0; m < 4; m++)
        for (int cs = 0; cs < 4; cs++) {
            int64_t pads[6];
            memcpy(pads, cases[cs], sizeof pads);
            double cv = 9.5;
            onyx_tensor *p = ints1(6, pads), *c = make(ONYX_FLOAT, 0, NULL, &cv), out = {0};
            onyx_attr a = attr_str("mode", modes[m]);
            onyx_error err;
            onyx_status st = run("Pad", 13, 3, (onyx_tensor *[]){x, p, c}, 1, &a, &out, &err);
            int64_t od[3], keep[3], crop[3], at[3], co[3], src[3];
            for (int d = 0; d < 3; d++) {
                int64_t b = pads[d], e = pads[d + 3];
                crop[d] = b < 0 ? -b : 0;
                keep[d] = xd[d] + (b < 0 ? b : 0) + (e < 0 ? e : 0);
                at[d] = b > 0 ? b : 0;
                od[d] = keep[d] + at[d] + (e > 0 ? e : 0);
            }
            bool ok = st == ONYX_OK && same_shape(&out, 3, od);
            int64_t n = tensor_numel_of(3, od);
            for (int64_t i = 0; ok && i < n; i++) {
                unflatten(i, 3, od, co);
                bool outside = false;
                for (int d = 0; d < 3; d++) {
                    int64_t j = co[d] - at[d];
                    if (j < 0 || j >= keep[d]) {
                        outside = true;
                        j = naive_pad_index(modes[m], j, keep[d]);
                    }
                    src[d] = j + crop[d];
                }
                double want = m == 0 && outside ? cv : k_get_f64(x, flatten(3, xd, src));
                ok = k_get_f64(&out, i) == want;
            }
            CHECK(ok, "Pad %s case %d: %s", modes[m], cs, err.message);
            tensor_release(&out);
            free_all(2, (onyx_tensor *[]){p, c});
        }
    /* opset 18 axes input; opset 2 attributes */
    int64_t pads[2] = {1, 2}, axes[1] = {-1};
    onyx_tensor *p = ints1(2, pads), *ax = ints1(1, axes), out = {0};
    onyx_error err;
    onyx_status st = run("Pad", 18, 4, (onyx_tensor *[]){x, p, NULL, ax}, 0, NULL, &out, &err);
    int64_t od[3] = {2, 3, 7};
    CHECK(st == ONYX_OK && same_shape(&out, 3, od) && k_get_f64(&out, 0) == 0 &&
              k_get_f64(&out, 1) == 0 && k_get_f64(&out, 2) == 1,
          "Pad opset 18 axes: %s", err.message);
    tensor_release(&out);
    int64_t p6[6] = {0, 0, 1, 0, 0, 0};
    onyx_attr a2[2] = {attr_ints("pads", 6, p6), {.name = "value", .type = ATTR_FLOAT, .f = 2}};
    st = run("Pad", 2, 1, &x, 2, a2, &out, &err);
    int64_t od2[3] = {2, 3, 5};
    CHECK(st == ONYX_OK && same_shape(&out, 3, od2) && k_get_f64(&out, 0) == 2 &&
              k_get_f64(&out, 1) == 0,
          "Pad opset 2 attributes: %s", err.message);
    tensor_release(&out);
    int64_t big[6] = {0, 0, -3, 0, 0, -2};
    onyx_tensor *pb = ints1(6, big);
    st = run("Pad", 13, 2, (onyx_tensor *[]){x, pb}, 0, NULL, &out, &err);
    CHECK(st == ONYX_E_SHAPE, "Pad cropping more than the dim must fail: %s", err.message);
    tensor_release(&out);
    free_all(4, (onyx_tensor *[]){x, p, ax, pb});
}

/* ---- Concat / Split ---- */
static void test_concat_split(void)
{
    int64_t d0[2] = {2, 3}, d1[2] = {2, 0}, d2[2] = {2, 1};
    onyx_tensor *a = iota(ONYX_STRING, 2, d0), *b = iota(ONYX_STRING, 2, d1),
                *c = iota(ONYX_STRING, 2, d2), out = {0};
    onyx_attr ax = attr_int("axis", -1);
    onyx_error err;
    onyx_status st = run("Concat", 13, 3, (onyx_tensor *[]){a, b, c}, 1, &ax, &out, &err);
    int64_t od[2] = {2, 4};
    CHECK(st == ONYX_OK && same_shape(&out, 2, od) && elem_eq(&out, 3, c, 0) &&
              elem_eq(&out, 4, a, 3) && elem_eq(&out, 7, c, 1),
          "Concat strings with an empty input: %s", err.message);
    tensor_release(&out);
    ax = attr_int("axis", 0);
    st = run("Concat", 13, 2, (onyx_tensor *[]){a, c}, 1, &ax, &out, &err);
    CHECK(st == ONYX_E_SHAPE, "Concat mismatched dims must fail: %s", err.message);
    tensor_release(&out);
    free_all(3, (onyx_tensor *[]){a, b, c});

    int64_t xd[2] = {2, 10};
    onyx_tensor *x = iota(ONYX_FLOAT, 2, xd), outs[4];
    memset(outs, 0, sizeof outs);
    onyx_attr sa[2] = {attr_int("axis", 1), attr_int("num_outputs", 4)};
    st = run_n("Split", 18, 1, &x, 2, sa, 4, outs, &err);
    static const int64_t want[4] = {3, 3, 3, 1};
    bool ok = st == ONYX_OK;
    for (int i = 0; ok && i < 4; i++) {
        int64_t wd[2] = {2, want[i]};
        ok = same_shape(&outs[i], 2, wd) && k_get_f64(&outs[i], 0) == 3 * i &&
             k_get_f64(&outs[i], want[i]) == 10 + 3 * i;
    }
    CHECK(ok, "Split opset 18 uneven num_outputs: %s", err.message);
    for (int i = 0; i < 4; i++) tensor_release(&outs[i]);
    int64_t sp[3] = {0, 7, 3};
    onyx_tensor *s = ints1(3, sp);
    st = run_n("Split", 13, 2, (onyx_tensor *[]){x, s}, 1, sa, 3, outs, &err);
    int64_t e0[2] = {2, 0}, e1[2] = {2, 7}, e2[2] = {2, 3};
    CHECK(st == ONYX_OK && same_shape(&outs[0], 2, e0) && same_shape(&outs[1], 2, e1) &&
              same_shape(&outs[2], 2, e2) && k_get_f64(&outs[2], 3) == 17,
          "Split with a zero-sized part: %s", err.message);
    for (int i = 0; i < 3; i++) tensor_release(&outs[i]);
    st = run_n("Split", 13, 2, (onyx_tensor *[]){x, s}, 1, sa, 2, outs, &err);
    CHECK(st == ONYX_E_INVALID, "Split with 3 sizes for 2 outputs must fail: %s", err.message);
    for (int i = 0; i < 2; i++) tensor_release(&outs[i]);
    free_all(2, (onyx_tensor *[]){x, s});
}

/* ---- shape.c ---- */
static void test_reshape_family(void)
{
    int64_t xd[3] = {2, 0, 3};
    onyx_tensor *x = iota(ONYX_FLOAT, 3, xd), out = {0};
    onyx_error err;
    int64_t sv[3] = {0, 3, 0};
    onyx_tensor *s = ints1(3, sv);
    onyx_attr az = attr_int("allowzero", 1);
    onyx_status st = run("Reshape", 14, 2, (onyx_tensor *[]){x, s}, 1, &az, &out, &err);
    int64_t w1[3] = {0, 3, 0};
    CHECK(st == ONYX_OK && same_shape(&out, 3, w1), "Reshape allowzero: %s", err.message);
    tensor_release(&out);
    st = run("Reshape", 14, 2, (onyx_tensor *[]){x, s}, 0, NULL, &out, &err);
    CHECK(st == ONYX_E_SHAPE, "Reshape 0 copies the dim: (2,3,3) != 0 elements: %s",
          err.message);
    tensor_release(&out);
    free_all(2, (onyx_tensor *[]){x, s});

    int64_t yd[2] = {4, 6};
    x = iota(ONYX_INT32, 2, yd);
    int64_t s2[3] = {-1, 0, 2};
    s = ints1(3, s2);
    st = run("Reshape", 13, 2, (onyx_tensor *[]){x, s}, 0, NULL, &out, &err);
    int64_t w3[3] = {2, 6, 2};
    CHECK(st == ONYX_OK && same_shape(&out, 3, w3) && k_get_f64(&out, 23) == 23,
          "Reshape -1 with a copied dim: %s", err.message);
    tensor_release(&out);
    int64_t s3[2] = {-1, -1};
    onyx_tensor *s4 = ints1(2, s3);
    st = run("Reshape", 13, 2, (onyx_tensor *[]){x, s4}, 0, NULL, &out, &err);
    CHECK(st == ONYX_E_INVALID, "Reshape with two -1: %s", err.message);
    tensor_release(&out);

    onyx_attr fa = attr_int("axis", -2);
    st = run("Flatten", 13, 1, &x, 1, &fa, &out, &err);
    int64_t wf[2] = {1, 24};
    CHECK(st == ONYX_OK && same_shape(&out, 2, wf), "Flatten axis -2: %s", err.message);
    tensor_release(&out);

    onyx_attr sa[2] = {attr_int("start", -1), attr_int("end", 100)};
    st = run("Shape", 15, 1, &x, 2, sa, &out, &err);
    int64_t ws = 1;
    CHECK(st == ONYX_OK && same_shape(&out, 1, &ws) && k_get_f64(&out, 0) == 6,
          "Shape start=-1 end=100: %s", err.message);
    tensor_release(&out);
    sa[0] = attr_int("start", 2);
    sa[1] = attr_int("end", 1);
    st = run("Shape", 15, 1, &x, 2, sa, &out, &err);
    ws = 0;
    CHECK(st == ONYX_OK && same_shape(&out, 1, &ws), "Shape start > end is empty: %s",
          err.message);
    tensor_release(&out);
    free_all(3, (onyx_tensor *[]){x, s, s4});

    /* Squeeze without axes drops every 1; Unsqueeze with negative, unsorted axes */
    int64_t qd[4] = {1, 3, 1, 2};
    x = iota(ONYX_BOOL, 4, qd);
    st = run("Squeeze", 13, 1, &x, 0, NULL, &out, &err);
    int64_t wq[2] = {3, 2};
    CHECK(st == ONYX_OK && same_shape(&out, 2, wq), "Squeeze all ones: %s", err.message);
    tensor_release(&out);
    int64_t bad = 1;
    s = ints1(1, &bad);
    st = run("Squeeze", 13, 2, (onyx_tensor *[]){x, s}, 0, NULL, &out, &err);
    CHECK(st == ONYX_E_SHAPE, "Squeeze of a dim of 3 must fail: %s", err.message);
    tensor_release(&out);
    int64_t ua[2] = {-1, 0};
    onyx_attr uat = attr_ints("axes", 2, ua);
    st = run("Unsqueeze", 11, 1, &x, 1, &uat, &out, &err);
    int64_t wu[6] = {1, 1, 3, 1, 2, 1};
    CHECK(st == ONYX_OK && same_shape(&out, 6, wu), "Unsqueeze opset 11 axes: %s", err.message);
    tensor_release(&out);
    free_all(2, (onyx_tensor *[]){x, s});
}

static void test_constants(void)
{
    onyx_error err;
    onyx_tensor out = {0};
    char *strs[2] = {"ab", ""};
    onyx_attr a = {.name = "value_strings", .type = ATTR_STRINGS, .n = 2, .strings = strs};
    onyx_status st = run("Constant", 13, 0, NULL, 1, &a, &out, &err);
    int64_t two = 2;
    CHECK(st == ONYX_OK && same_shape(&out, 1, &two) && out.dtype == ONYX_STRING &&
              !strcmp(((char **)out.data)[0], "ab") && !strcmp(((char **)out.data)[1], ""),
          "Constant value_strings: %s", err.message);
    tensor_release(&out);
    onyx_attr sp = {.name = "sparse_value", .type = ATTR_SPARSE_TENSOR};
    st = run("Constant", 13, 0, NULL, 1, &sp, &out, &err);
    CHECK(st == ONYX_E_UNSUPPORTED && strstr(err.message, "sparse_value"),
          "Constant sparse_value: %s", err.message);
    tensor_release(&out);

    double v = 7;
    int64_t one = 1, shp[2] = {2, 3};
    onyx_tensor *val = make(ONYX_INT64, 1, &one, &v), *s = ints1(2, shp);
    onyx_attr va = {.name = "value", .type = ATTR_TENSOR, .t = val};
    st = run("ConstantOfShape", 13, 1, &s, 1, &va, &out, &err);
    CHECK(st == ONYX_OK && out.dtype == ONYX_INT64 && same_shape(&out, 2, shp) &&
              values_are(&out, 6, (double[]){7, 7, 7, 7, 7, 7}),
          "ConstantOfShape int64 7: %s", err.message);
    tensor_release(&out);
    free_all(2, (onyx_tensor *[]){val, s});

    int64_t ed[2] = {3, 4};
    onyx_tensor *x = make(ONYX_INT32, 2, ed, NULL);
    onyx_attr ea[2] = {attr_int("k", -1), attr_int("dtype", ONYX_DOUBLE)};
    st = run("EyeLike", 13, 1, &x, 2, ea, &out, &err);
    CHECK(st == ONYX_OK && out.dtype == ONYX_DOUBLE &&
              values_are(&out, 12, (double[]){0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0}),
          "EyeLike k=-1: %s", err.message);
    tensor_release(&out);
    free_all(1, &x);

    onyx_tensor *r[3] = {scalar_i64(10), scalar_i64(-3), scalar_i64(-4)};
    st = run("Range", 13, 3, r, 0, NULL, &out, &err);
    CHECK(st == ONYX_OK && values_are(&out, 4, (double[]){10, 6, 2, -2}),
          "Range int64 negative delta: %s", err.message);
    tensor_release(&out);
    *(int64_t *)r[2]->data = 0;
    st = run("Range", 13, 3, r, 0, NULL, &out, &err);
    CHECK(st == ONYX_E_INVALID, "Range delta 0: %s", err.message);
    tensor_release(&out);
    free_all(3, r);
    double fs = 0.5, fl = 2, fd = 0.5;
    onyx_tensor *f[3] = {make(ONYX_FLOAT, 0, NULL, &fs), make(ONYX_FLOAT, 0, NULL, &fl),
                         make(ONYX_FLOAT, 0, NULL, &fd)};
    st = run("Range", 13, 3, f, 0, NULL, &out, &err);
    CHECK(st == ONYX_OK && values_are(&out, 3, (double[]){0.5, 1, 1.5}), "Range float: %s",
          err.message);
    tensor_release(&out);
    free_all(3, f);
}

static void test_identity_dropout(void)
{
    onyx_error err;
    onyx_tensor *seq = onyx_sequence_create(ONYX_FLOAT), out = {0}, outs[2];
    int64_t d = 2;
    onyx_sequence_append(seq, iota(ONYX_FLOAT, 1, &d));
    onyx_status st = run("Identity", 16, 1, &seq, 0, NULL, &out, &err);
    CHECK(st == ONYX_OK && out.kind == ONYX_KIND_SEQUENCE && out.seq_len == 1 &&
              out.seq[0] != seq->seq[0] && k_get_f64(out.seq[0], 1) == 1,
          "Identity of a sequence: %s", err.message);
    tensor_release(&out);
    free_all(1, &seq);

    onyx_tensor *x = iota(ONYX_FLOAT, 1, &d);
    double r = 0.3, t = 1, z = 0;
    onyx_tensor *ratio = make(ONYX_FLOAT, 0, NULL, &r), *tm = make(ONYX_BOOL, 0, NULL, &t);
    memset(outs, 0, sizeof outs);
    st = run_n("Dropout", 13, 3, (onyx_tensor *[]){x, ratio, tm}, 0, NULL, 2, outs, &err);
    CHECK(st == ONYX_E_UNSUPPORTED && strstr(err.message, "training_mode"),
          "Dropout training: %s", err.message);
    tensor_release(&outs[0]);
    tensor_release(&outs[1]);
    k_set_f64(ratio, 0, z);
    st = run_n("Dropout", 13, 3, (onyx_tensor *[]){x, ratio, tm}, 0, NULL, 2, outs, &err);
    CHECK(st == ONYX_OK && outs[1].dtype == ONYX_BOOL && values_are(&outs[1], 2, (double[]){1, 1}) &&
              values_are(&outs[0], 2, (double[]){0, 1}),
          "Dropout training with ratio 0: %s", err.message);
    tensor_release(&outs[0]);
    tensor_release(&outs[1]);
    st = run_n("Dropout", 7, 1, &x, 0, NULL, 2, outs, &err);
    CHECK(st == ONYX_OK && outs[1].dtype == ONYX_FLOAT, "Dropout opset 7 mask type: %s",
          err.message);
    tensor_release(&outs[0]);
    tensor_release(&outs[1]);
    free_all(3, (onyx_tensor *[]){x, ratio, tm});
}

/* ---- gather.c ---- */
static void test_gather_family(void)
{
    onyx_error err;
    onyx_tensor out = {0};
    int64_t xd[2] = {3, 4};
    onyx_tensor *x = iota(ONYX_STRING, 2, xd);
    int64_t iv[2] = {-1, 0};
    onyx_tensor *ind = ints1(2, iv);
    onyx_attr ax = attr_int("axis", 1);
    onyx_status st = run("Gather", 13, 2, (onyx_tensor *[]){x, ind}, 1, &ax, &out, &err);
    int64_t w[2] = {3, 2};
    CHECK(st == ONYX_OK && same_shape(&out, 2, w) && elem_eq(&out, 0, x, 3) &&
              elem_eq(&out, 5, x, 8),
          "Gather strings axis 1 negative index: %s", err.message);
    tensor_release(&out);
    iv[0] = 4;
    onyx_tensor *bad = ints1(2, iv);
    st = run("Gather", 13, 2, (onyx_tensor *[]){x, bad}, 1, &ax, &out, &err);
    CHECK(st == ONYX_E_INVALID && strstr(err.message, "index 4") && strstr(err.message, "3]"),
          "Gather out of range names index and bound: %s", err.message);
    tensor_release(&out);
    free_all(3, (onyx_tensor *[]){x, ind, bad});

    /* GatherND batch_dims=1: data (2,3,2), indices (2,1,1) */
    int64_t dd[3] = {2, 3, 2}, id[3] = {2, 1, 1};
    x = iota(ONYX_FLOAT, 3, dd);
    ind = make(ONYX_INT64, 3, id, (double[]){2, -3});
    onyx_attr bd = attr_int("batch_dims", 1);
    st = run("GatherND", 13, 2, (onyx_tensor *[]){x, ind}, 1, &bd, &out, &err);
    int64_t wn[3] = {2, 1, 2};
    CHECK(st == ONYX_OK && same_shape(&out, 3, wn) && values_are(&out, 4, (double[]){4, 5, 6, 7}),
          "GatherND batch_dims 1: %s", err.message);
    tensor_release(&out);
    free_all(2, (onyx_tensor *[]){x, ind});

    /* ScatterElements reductions */
    int64_t one = 5, three = 3;
    x = make(ONYX_INT32, 1, &one, (double[]){1, 2, 3, 4, 5});
    ind = make(ONYX_INT64, 1, &three, (double[]){1, 1, -1});
    onyx_tensor *u = make(ONYX_INT32, 1, &three, (double[]){10, -20, 7});
    static const char *const reds[] = {"add", "mul", "max", "min"};
    static const double want[4][5] = {
        {1, -8, 3, 4, 12}, {1, -400, 3, 4, 35}, {1, 10, 3, 4, 7}, {1, -20, 3, 4, 5}};
    for (int i = 0; i < 4; i++) {
        onyx_attr ra = attr_str("reduction", reds[i]);
        st = run("ScatterElements", 18, 3, (onyx_tensor *[]){x, ind, u}, 1, &ra, &out, &err);
        CHECK(st == ONYX_OK && values_are(&out, 5, want[i]), "ScatterElements %s: %s", reds[i],
              err.message);
        tensor_release(&out);
    }
    free_all(3, (onyx_tensor *[]){x, ind, u});

    /* ScatterND mul of two rows */
    int64_t sd[2] = {3, 2}, sid[2] = {2, 1}, sud[2] = {2, 2};
    x = make(ONYX_FLOAT, 2, sd, (double[]){1, 2, 3, 4, 5, 6});
    ind = make(ONYX_INT64, 2, sid, (double[]){2, 2});
    u = make(ONYX_FLOAT, 2, sud, (double[]){2, 3, 10, 10});
    onyx_attr rm = attr_str("reduction", "mul");
    st = run("ScatterND", 16, 3, (onyx_tensor *[]){x, ind, u}, 1, &rm, &out, &err);
    CHECK(st == ONYX_OK && values_are(&out, 6, (double[]){1, 2, 3, 4, 100, 180}),
          "ScatterND mul with a repeated index: %s", err.message);
    tensor_release(&out);
    free_all(3, (onyx_tensor *[]){x, ind, u});

    /* Compress with a short condition, NonZero, OneHot */
    int64_t cd[2] = {3, 2}, two = 2;
    x = iota(ONYX_FLOAT, 2, cd);
    onyx_tensor *cond = make(ONYX_BOOL, 1, &two, (double[]){0, 1});
    onyx_attr ca = attr_int("axis", 0);
    st = run("Compress", 13, 2, (onyx_tensor *[]){x, cond}, 1, &ca, &out, &err);
    int64_t wc[2] = {1, 2};
    CHECK(st == ONYX_OK && same_shape(&out, 2, wc) && values_are(&out, 2, (double[]){2, 3}),
          "Compress short condition: %s", err.message);
    tensor_release(&out);
    st = run("Compress", 13, 2, (onyx_tensor *[]){x, cond}, 0, NULL, &out, &err);
    CHECK(st == ONYX_OK && values_are(&out, 1, (double[]){1}), "Compress flattened: %s",
          err.message);
    tensor_release(&out);
    st = run("NonZero", 13, 1, &x, 0, NULL, &out, &err);
    int64_t wz[2] = {2, 5};
    CHECK(st == ONYX_OK && same_shape(&out, 2, wz) &&
              values_are(&out, 10, (double[]){0, 1, 1, 2, 2, 1, 0, 1, 0, 1}),
          "NonZero: %s", err.message);
    tensor_release(&out);
    free_all(2, (onyx_tensor *[]){x, cond});

    int64_t four = 4;
    onyx_tensor *oi = make(ONYX_FLOAT, 1, &four, (double[]){-1, 2.7, 3, -4});
    onyx_tensor *dep = make(ONYX_FLOAT, 0, NULL, (double[]){3});
    onyx_tensor *vals = make(ONYX_INT32, 1, &two, (double[]){-1, 5});
    onyx_attr oa = attr_int("axis", 0);
    st = run("OneHot", 11, 3, (onyx_tensor *[]){oi, dep, vals}, 1, &oa, &out, &err);
    int64_t wo[2] = {3, 4};
    CHECK(st == ONYX_OK && same_shape(&out, 2, wo) &&
              values_are(&out, 12, (double[]){-1, -1, -1, -1, -1, -1, -1, -1, 5, 5, -1, -1}),
          "OneHot axis 0 with negative and out-of-range indices: %s", err.message);
    tensor_release(&out);
    free_all(3, (onyx_tensor *[]){oi, dep, vals});
}

/* ---- Trilu / ReverseSequence / Unique ---- */
static void test_misc_layout(void)
{
    onyx_error err;
    onyx_tensor out = {0};
    int64_t td[2] = {3, 4};
    onyx_tensor *x = iota(ONYX_FLOAT, 2, td), *kk = scalar_i64(INT64_MIN);
    onyx_status st = run("Trilu", 14, 2, (onyx_tensor *[]){x, kk}, 0, NULL, &out, &err);
    CHECK(st == ONYX_OK && values_are(&out, 12, (double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}),
          "Trilu upper k=INT64_MIN keeps all: %s", err.message);
    tensor_release(&out);
    *(int64_t *)kk->data = 1;
    onyx_attr lo = attr_int("upper", 0);
    st = run("Trilu", 14, 2, (onyx_tensor *[]){x, kk}, 1, &lo, &out, &err);
    CHECK(st == ONYX_OK && values_are(&out, 12, (double[]){0, 1, 0, 0, 4, 5, 6, 0, 8, 9, 10, 11}),
          "Trilu lower k=1: %s", err.message);
    tensor_release(&out);
    free_all(2, (onyx_tensor *[]){x, kk});

    int64_t rd[3] = {3, 2, 2}, two = 2;
    x = iota(ONYX_STRING, 3, rd);
    onyx_tensor *lens = make(ONYX_INT64, 1, &two, (double[]){3, 1});
    st = run("ReverseSequence", 10, 2, (onyx_tensor *[]){x, lens}, 0, NULL, &out, &err);
    /* batch 0 (time-major): times reversed; batch 1 untouched */
    CHECK(st == ONYX_OK && elem_eq(&out, 0, x, 8) && elem_eq(&out, 1, x, 9) &&
              elem_eq(&out, 2, x, 2) && elem_eq(&out, 8, x, 0) && elem_eq(&out, 10, x, 10),
          "ReverseSequence strings: %s", err.message);
    tensor_release(&out);
    free_all(2, (onyx_tensor *[]){x, lens});

    int64_t six = 6;
    x = make(ONYX_FLOAT, 1, &six, (double[]){2, 1, 1, 3, 4, 3});
    onyx_tensor outs[4];
    memset(outs, 0, sizeof outs);
    onyx_attr us = attr_int("sorted", 0);
    st = run_n("Unique", 11, 1, &x, 1, &us, 4, outs, &err);
    CHECK(st == ONYX_OK && values_are(&outs[0], 4, (double[]){2, 1, 3, 4}) &&
              values_are(&outs[1], 4, (double[]){0, 1, 3, 4}) &&
              values_are(&outs[2], 6, (double[]){0, 1, 1, 2, 3, 2}) &&
              values_are(&outs[3], 4, (double[]){1, 2, 2, 1}),
          "Unique unsorted: %s", err.message);
    for (int i = 0; i < 4; i++) tensor_release(&outs[i]);
    st = run_n("Unique", 11, 1, &x, 0, NULL, 4, outs, &err);
    CHECK(st == ONYX_OK && values_are(&outs[0], 4, (double[]){1, 2, 3, 4}) &&
              values_are(&outs[1], 4, (double[]){1, 0, 3, 4}) &&
              values_are(&outs[2], 6, (double[]){1, 0, 0, 2, 3, 2}) &&
              values_are(&outs[3], 4, (double[]){2, 1, 2, 1}),
          "Unique sorted: %s", err.message);
    for (int i = 0; i < 4; i++) tensor_release(&outs[i]);
    free_all(1, &x);

    /* rows along axis 1 of a (2, 3) string tensor: columns "b a", "a c", "b a" */
    int64_t sd[2] = {2, 3};
    x = make(ONYX_STRING, 2, sd, NULL);
    static const char *const sv[6] = {"b", "a", "b", "a", "c", "a"};
    for (int i = 0; i < 6; i++) {
        free(((char **)x->data)[i]);
        ((char **)x->data)[i] = strdup(sv[i]);
    }
    onyx_attr ua = attr_int("axis", -1);
    st = run_n("Unique", 11, 1, &x, 1, &ua, 4, outs, &err);
    int64_t wu[2] = {2, 2};
    CHECK(st == ONYX_OK && same_shape(&outs[0], 2, wu) &&
              !strcmp(((char **)outs[0].data)[0], "a") && !strcmp(((char **)outs[0].data)[2], "c") &&
              values_are(&outs[2], 3, (double[]){1, 0, 1}) &&
              values_are(&outs[3], 2, (double[]){1, 2}),
          "Unique strings along axis -1: %s", err.message);
    for (int i = 0; i < 4; i++) tensor_release(&outs[i]);
    free_all(1, &x);
}

int main(void)
{
    test_transpose();
    test_tile_expand();
    test_depth_space();
    test_slice();
    test_pad();
    test_concat_split();
    test_reshape_family();
    test_constants();
    test_identity_dropout();
    test_gather_family();
    test_misc_layout();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
