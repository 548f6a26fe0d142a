/* test_matmul.c - unit tests for the matmul family (ops/matmul.c, ops/quantize.c,
 * ops/rnn.c): MatMul and Gemm against naive loops on randomized shapes (1-D
 * operands, broadcast batches, sizes that straddle the tile sizes, empty dims,
 * every dtype path), Einsum against hand-written loops, Det against matrices of
 * known determinant, the integer and quantized products, the quantize ops
 * (rounding, saturation, per-axis, blocked), identities that tie the RNN
 * directions, layouts and sequence lengths together plus hand-computed steps,
 * and error paths that must fail cleanly.
 * Prints one line per failed check and a final "N passed, N failed" line;
 * exits non-zero when any check failed. */
#include "../../ops/kernel.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static unsigned seed = 4242;

static int rnd(int n)
{
    seed = seed * 1103515245u + 12345u;
    return (int)((seed >> 8) % (unsigned)n);
}

static double frand(void)
{
    return rnd(20001) / 10000.0 - 1.0;
}

/* ---- tensors, attributes, calls ---- */

static onyx_tensor *mk(onyx_dtype dt, int rank, const int64_t *dims)
{
    onyx_tensor *t = onyx_tensor_create(dt, rank, dims);
    if (!t) {
        printf("cannot allocate a test tensor\n");
        exit(2);
    }
    return t;
}

/* Fills t with random values (integers in [lo, hi] for integer dtypes) and
 * returns them as stored (rounded to t's precision) in a malloc'd array. */
static double *fill(onyx_tensor *t, int lo, int hi)
{
    int64_t n = tensor_numel_of(t->rank, t->dims);
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        k_set_f64(t, i, dtype_is_int(t->dtype) ? lo + rnd(hi - lo + 1) : frand());
        v[i] = k_get_f64(t, i);
    }
    return v;
}

static onyx_tensor *mk_vals(onyx_dtype dt, int rank, const int64_t *dims, const double *v)
{
    onyx_tensor *t = mk(dt, rank, dims);
    int64_t n = tensor_numel_of(rank, dims);
    for (int64_t i = 0; i < n; i++) k_set_f64(t, i, v[i]);
    return t;
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

static onyx_attr a_str(const char *name, const char *s)
{
    onyx_attr a = a_int(name, 0);
    a.type = ATTR_STRING;
    a.s = s;
    a.s_len = strlen(s);
    return a;
}

static onyx_attr a_strs(const char *name, int n, char **s)
{
    onyx_attr a = a_int(name, 0);
    a.type = ATTR_STRINGS;
    a.n = n;
    a.strings = s;
    return a;
}

static onyx_attr a_floats(const char *name, int n, float *v)
{
    onyx_attr a = a_int(name, 0);
    a.type = ATTR_FLOATS;
    a.n = n;
    a.floats = v;
    return a;
}

typedef struct call {
    const char *op;
    int opset;
    int n_in;
    const onyx_tensor *in[9];
    int n_attr;
    onyx_attr attr[12];
    int n_out;
    onyx_tensor out[3];
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
    onyx_tensor *outs[3] = {&c->out[0], &c->out[1], &c->out[2]};
    k.op_type = c->op;
    k.domain = "";
    k.opset = c->opset ? c->opset : 21;
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
    for (int i = 0; i < 3; i++) tensor_release(&c->out[i]);
}

/* Index of the first element of t differing from want (tolerance tol relative
 * to 1 + |want|), -1 when all match, -2 when the element counts differ. */
static int64_t mismatch(const onyx_tensor *t, const double *want, int64_t n, double tol)
{
    if (tensor_numel_of(t->rank, t->dims) != n) return -2;
    for (int64_t i = 0; i < n; i++) {
        double g = k_get_f64(t, i), w = want[i];
        if (isnan(w) ? !isnan(g) : fabs(g - w) > tol * (1 + fabs(w))) return i;
    }
    return -1;
}

static bool same_shape(const onyx_tensor *t, int rank, const int64_t *dims)
{
    if (t->rank != rank) return false;
    for (int i = 0; i < rank; i++)
        if (t->dims[i] != dims[i]) return false;
    return true;
}

static int64_t prod(int n, const int64_t *d)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= d[i];
    return p;
}

static double tol_of(onyx_dtype dt)
{
    switch (dt) {
    case ONYX_FLOAT: return 1e-4;
    case ONYX_DOUBLE: return 1e-10;
    case ONYX_FLOAT16: return 4e-3;
    case ONYX_BFLOAT16: return 3e-2;
    default: return 0;
    }
}

/* ---- MatMul ---- */

/* numpy.matmul on doubles; returns the output shape in yr/yd */
static double *ref_matmul(int ra, const int64_t *ad, const double *a, int rb, const int64_t *bd,
                          const double *b, int *yr, int64_t *yd)
{
    int64_t M = ra == 1 ? 1 : ad[ra - 2], K = ad[ra - 1], N = rb == 1 ? 1 : bd[rb - 1];
    int abr = ra > 2 ? ra - 2 : 0, bbr = rb > 2 ? rb - 2 : 0, br = abr > bbr ? abr : bbr;
    int64_t bdims[ONYX_MAX_RANK];
    for (int d = 0; d < br; d++) {
        int ia = d - (br - abr), ib = d - (br - bbr);
        int64_t x = ia >= 0 ? ad[ia] : 1, y = ib >= 0 ? bd[ib] : 1;
        bdims[d] = x == 1 ? y : x;
    }
    *yr = 0;
    for (int d = 0; d < br; d++) yd[(*yr)++] = bdims[d];
    if (ra > 1) yd[(*yr)++] = M;
    if (rb > 1) yd[(*yr)++] = N;
    int64_t nb = prod(br, bdims);
    double *y = calloc((size_t)(nb * M * N + 1), sizeof *y);
    for (int64_t bt = 0; bt < nb; bt++) {
        int64_t rem = bt, ao = 0, bo = 0, as = 1, bs = 1;
        for (int d = br - 1; d >= 0; d--) {
            int64_t c = rem % bdims[d];
            rem /= bdims[d];
            int ia = d - (br - abr), ib = d - (br - bbr);
            if (ia >= 0) {
                ao += (ad[ia] == 1 ? 0 : c) * as;
                as *= ad[ia];
            }
            if (ib >= 0) {
                bo += (bd[ib] == 1 ? 0 : c) * bs;
                bs *= bd[ib];
            }
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += a[ao * M * K + i * K + k] * b[bo * K * N + k * N + j];
                y[bt * M * N + i * N + j] = s;
            }
    }
    return y;
}

static int64_t pick_size(void)
{
    static const int64_t sizes[] = {1, 1, 2, 3, 4, 5, 7, 17, 33, 130, 0};
    int i = rnd(100) < 3 ? 10 : rnd(10);
    return sizes[i];
}

static void matmul_case(onyx_dtype dt)
{
    int ra = 1 + rnd(4), rb = 1 + rnd(4);
    int64_t ad[4], bd[4], M = pick_size(), K = pick_size(), N = pick_size();
    if (rnd(20) == 0) K = 129 + rnd(200); /* more than one tile of B rows */
    if (rnd(20) == 0) N = 513 + rnd(50);  /* more than one tile of B columns */
    int br = (ra > rb ? ra : rb) - 2;
    int64_t batch[2] = {1 + rnd(3), 1 + rnd(2)};
    for (int d = 0; d < ra - 2; d++) ad[d] = rnd(3) == 0 ? 1 : batch[d + (br - (ra - 2))];
    for (int d = 0; d < rb - 2; d++) bd[d] = rnd(3) == 0 ? 1 : batch[d + (br - (rb - 2))];
    if (ra == 1)
        ad[0] = K;
    else
        ad[ra - 2] = M, ad[ra - 1] = K;
    if (rb == 1)
        bd[0] = K;
    else
        bd[rb - 2] = K, bd[rb - 1] = N;
    onyx_tensor *a = mk(dt, ra, ad), *b = mk(dt, rb, bd);
    int lo = dtype_is_signed(dt) ? -4 : 0;
    double *av = fill(a, lo, 4), *bv = fill(b, lo, 4);
    int yr;
    int64_t yd[ONYX_MAX_RANK];
    double *want = ref_matmul(ra, ad, av, rb, bd, bv, &yr, yd);
    call c = {.op = "MatMul", .n_in = 2, .in = {a, b}};
    onyx_status s = run(&c);
    CHECK(s == ONYX_OK, "MatMul %s ranks %d,%d: %s", onyx_dtype_name(dt), ra, rb, c.err.message);
    if (s == ONYX_OK) {
        CHECK(same_shape(&c.out[0], yr, yd) && c.out[0].dtype == dt, "MatMul output shape/type");
        int64_t bad = mismatch(&c.out[0], want, prod(yr, yd), tol_of(dt));
        CHECK(bad == -1, "MatMul %s ranks %d,%d M=%lld K=%lld N=%lld: element %lld",
              onyx_dtype_name(dt), ra, rb, (long long)M, (long long)K, (long long)N,
              (long long)bad);
    }
    done(&c);
    free(av);
    free(bv);
    free(want);
    onyx_tensor_free(a);
    onyx_tensor_free(b);
}

static void test_matmul_random(void)
{
    static const onyx_dtype dts[] = {ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                                     ONYX_INT32, ONYX_INT64,  ONYX_UINT64,  ONYX_INT8};
    for (int i = 0; i < 300; i++) matmul_case(ONYX_FLOAT);
    for (size_t t = 0; t < sizeof dts / sizeof dts[0]; t++)
        for (int i = 0; i < 25; i++) {
            /* int8 sums stay in range only for short rows */
            if (dts[t] == ONYX_INT8) {
                int64_t ad[2] = {3, 2}, bd[2] = {2, 4};
                onyx_tensor *a = mk(ONYX_INT8, 2, ad), *b = mk(ONYX_INT8, 2, bd);
                double *av = fill(a, -5, 5), *bv = fill(b, -5, 5);
                int yr;
                int64_t yd[ONYX_MAX_RANK];
                double *want = ref_matmul(2, ad, av, 2, bd, bv, &yr, yd);
                call c = {.op = "MatMul", .n_in = 2, .in = {a, b}};
                CHECK(run(&c) == ONYX_OK && mismatch(&c.out[0], want, 12, 0) == -1, "MatMul int8");
                done(&c);
                free(av), free(bv), free(want);
                onyx_tensor_free(a), onyx_tensor_free(b);
            } else {
                matmul_case(dts[t]);
            }
        }
}

static void test_matmul_wrap(void)
{
    /* integer products wrap like the type's own arithmetic */
    int64_t d1[1] = {2};
    double av[2] = {2147483647, 1}, bv[2] = {1, 1};
    onyx_tensor *a = mk_vals(ONYX_INT32, 1, d1, av), *b = mk_vals(ONYX_INT32, 1, d1, bv);
    call c = {.op = "MatMul", .n_in = 2, .in = {a, b}};
    CHECK(run(&c) == ONYX_OK && c.out[0].rank == 0 && ((int32_t *)c.out[0].data)[0] == INT32_MIN,
          "int32 MatMul wraps around");
    done(&c);
    onyx_tensor_free(a);
    onyx_tensor_free(b);
}

/* ---- Gemm ---- */

static void gemm_case(onyx_dtype dt)
{
    int64_t M = pick_size(), K = pick_size(), N = pick_size();
    if (rnd(10) == 0) K = 129 + rnd(100);
    if (rnd(10) == 0) N = 65 + rnd(500);
    int ta = rnd(2), tb = rnd(2), cform = rnd(8);
    bool integer = dtype_is_int(dt);
    float alpha = integer || rnd(2) ? 1.0f : (float)(0.25 * (1 + rnd(8)));
    float beta = integer || rnd(2) ? 1.0f : (float)(0.25 * rnd(8));
    int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
    /* C: absent, scalar, [1], [N], [1,N], [M,1], [M,N], [1,1] */
    int64_t cd[2];
    int cr = 0;
    switch (cform) {
    case 1: cr = 0; break;
    case 2: cr = 1, cd[0] = 1; break;
    case 3: cr = 1, cd[0] = N; break;
    case 4: cr = 2, cd[0] = 1, cd[1] = N; break;
    case 5: cr = 2, cd[0] = M, cd[1] = 1; break;
    case 6: cr = 2, cd[0] = M, cd[1] = N; break;
    case 7: cr = 2, cd[0] = 1, cd[1] = 1; break;
    default: break;
    }
    onyx_tensor *a = mk(dt, 2, ad), *b = mk(dt, 2, bd), *cc = cform ? mk(dt, cr, cd) : NULL;
    double *av = fill(a, -4, 4), *bv = fill(b, -4, 4), *cv = cc ? fill(cc, -4, 4) : NULL;
    double *want = malloc((size_t)(M * N + 1) * sizeof *want);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += av[ta ? k * M + i : i * K + k] * bv[tb ? j * K + k : k * N + j];
            double cval = 0;
            if (cc) {
                int64_t c0 = cr == 2 ? cd[0] : 1, c1 = cr >= 1 ? cd[cr - 1] : 1;
                cval = cv[(c0 == 1 ? 0 : i) * c1 + (c1 == 1 ? 0 : j)];
            }
            want[i * N + j] = alpha * s + beta * cval;
        }
    call c = {.op = "Gemm",
              .n_in = cc ? 3 : 2,
              .in = {a, b, cc},
              .n_attr = 4,
              .attr = {a_int("transA", ta), a_int("transB", tb), a_float("alpha", alpha),
                       a_float("beta", beta)}};
    onyx_status s = run(&c);
    CHECK(s == ONYX_OK, "Gemm %s: %s", onyx_dtype_name(dt), c.err.message);
    if (s == ONYX_OK) {
        int64_t yd[2] = {M, N};
        CHECK(same_shape(&c.out[0], 2, yd), "Gemm output shape");
        int64_t bad = mismatch(&c.out[0], want, M * N, tol_of(dt));
        CHECK(bad == -1,
              "Gemm %s M=%lld K=%lld N=%lld ta=%d tb=%d C form %d alpha=%g beta=%g: element %lld",
              onyx_dtype_name(dt), (long long)M, (long long)K, (long long)N, ta, tb, cform, alpha,
              beta, (long long)bad);
    }
    done(&c);
    free(av), free(bv), free(cv), free(want);
    onyx_tensor_free(a), onyx_tensor_free(b), onyx_tensor_free(cc);
}

static void test_gemm_random(void)
{
    for (int i = 0; i < 300; i++) gemm_case(ONYX_FLOAT);
    for (int i = 0; i < 40; i++) gemm_case(ONYX_DOUBLE);
    for (int i = 0; i < 40; i++) gemm_case(ONYX_FLOAT16);
    for (int i = 0; i < 40; i++) gemm_case(ONYX_INT32);
    for (int i = 0; i < 40; i++) gemm_case(ONYX_INT64);
}

/* ---- Einsum ---- */

static void einsum_check(const char *eq, int n, onyx_tensor **ops, int yr, const int64_t *yd,
                         const double *want, double tol)
{
    call c = {.op = "Einsum", .opset = 12, .n_in = n, .n_attr = 1, .attr = {a_str("equation", eq)}};
    for (int i = 0; i < n; i++) c.in[i] = ops[i];
    onyx_status s = run(&c);
    CHECK(s == ONYX_OK, "Einsum '%s': %s", eq, c.err.message);
    if (s == ONYX_OK) {
        CHECK(same_shape(&c.out[0], yr, yd), "Einsum '%s' output shape (rank %d)", eq,
              c.out[0].rank);
        int64_t bad = mismatch(&c.out[0], want, prod(yr, yd), tol);
        CHECK(bad == -1, "Einsum '%s': element %lld", eq, (long long)bad);
    }
    done(&c);
}

static void test_einsum(void)
{
    int64_t d34[2] = {3, 4}, d45[2] = {4, 5}, d44[2] = {4, 4}, d35[2] = {3, 5}, d43[2] = {4, 3};
    onyx_tensor *x = mk(ONYX_FLOAT, 2, d34), *y = mk(ONYX_FLOAT, 2, d45),
                *sq = mk(ONYX_FLOAT, 2, d44);
    double *xv = fill(x, 0, 0), *yv = fill(y, 0, 0), *sv = fill(sq, 0, 0);
    double want[64];
    onyx_tensor *ops[3];

    int yr;
    int64_t yd[ONYX_MAX_RANK];
    double *mm = ref_matmul(2, d34, xv, 2, d45, yv, &yr, yd);
    ops[0] = x, ops[1] = y;
    einsum_check("ij,jk->ik", 2, ops, 2, d35, mm, 1e-5);
    einsum_check("ij,jk", 2, ops, 2, d35, mm, 1e-5);
    einsum_check(" i j , j k -> i k ", 2, ops, 2, d35, mm, 1e-5);
    free(mm);

    for (int i = 0; i < 4; i++) want[i] = sv[i * 4 + i];
    ops[0] = sq;
    einsum_check("ii->i", 1, ops, 1, d44, want, 1e-6);
    want[0] = sv[0] + sv[5] + sv[10] + sv[15];
    einsum_check("ii", 1, ops, 0, NULL, want, 1e-6);
    einsum_check("ii->", 1, ops, 0, NULL, want, 1e-6);

    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) want[j * 3 + i] = xv[i * 4 + j];
    ops[0] = x;
    einsum_check("ij->ji", 1, ops, 2, d43, want, 0);
    einsum_check("ba", 1, ops, 2, d43, want, 0); /* implicit output is alphabetical */
    einsum_check("...i->i...", 1, ops, 2, d43, want, 0);
    for (int i = 0; i < 3; i++) {
        want[i] = 0;
        for (int j = 0; j < 4; j++) want[i] += xv[i * 4 + j];
    }
    einsum_check("ij->i", 1, ops, 1, d34, want, 1e-6);
    einsum_check("i...->i", 1, ops, 1, d34, want, 1e-6);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) want[i * 4 + j] = xv[i * 4 + j];
    einsum_check("Ab", 1, ops, 2, d34, want, 0); /* uppercase sorts before lowercase */
    einsum_check("...", 1, ops, 2, d34, want, 0);

    /* outer product and a three-operand chain */
    int64_t d3[1] = {3}, d4[1] = {4};
    onyx_tensor *u = mk(ONYX_FLOAT, 1, d3), *v = mk(ONYX_FLOAT, 1, d4);
    double *uv = fill(u, 0, 0), *vv = fill(v, 0, 0);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) want[i * 4 + j] = uv[i] * vv[j];
    ops[0] = u, ops[1] = v;
    einsum_check("i,j->ij", 2, ops, 2, d34, want, 1e-6);
    einsum_check("i,j", 2, ops, 2, d34, want, 1e-6);
    for (int i = 0; i < 3; i++) {
        want[i] = 0;
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 4; k++) want[i] += xv[i * 4 + j] * sv[j * 4 + k] * vv[k];
    }
    ops[0] = x, ops[1] = sq, ops[2] = v;
    einsum_check("ij,jk,k->i", 3, ops, 1, d3, want, 1e-5);

    /* batched diagonal with a broadcast ellipsis */
    int64_t d244[3] = {2, 4, 4}, d24[2] = {2, 4};
    onyx_tensor *bsq = mk(ONYX_DOUBLE, 3, d244);
    double *bv = fill(bsq, 0, 0);
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 4; i++) want[b * 4 + i] = bv[b * 16 + i * 5];
    ops[0] = bsq;
    einsum_check("...ii->...i", 1, ops, 2, d24, want, 0);
    /* ellipses of different widths broadcast against each other */
    int64_t d2134[4] = {2, 1, 3, 4}, d545[3] = {5, 4, 5}, d2535[4] = {2, 5, 3, 5};
    onyx_tensor *p = mk(ONYX_FLOAT, 4, d2134), *q = mk(ONYX_FLOAT, 3, d545);
    double *pv = fill(p, 0, 0), *qv = fill(q, 0, 0);
    mm = ref_matmul(4, d2134, pv, 3, d545, qv, &yr, yd);
    ops[0] = p, ops[1] = q;
    einsum_check("...ij,...jk->...ik", 2, ops, 4, d2535, mm, 1e-5);
    einsum_check("...ij,...jk", 2, ops, 4, d2535, mm, 1e-5);
    free(mm);

    /* integers, and an empty summed dimension */
    int64_t d23[2] = {2, 3}, d30[2] = {3, 0}, d0[1] = {0};
    onyx_tensor *ia = mk(ONYX_INT32, 2, d23), *e = mk(ONYX_FLOAT, 2, d30);
    double *iav = fill(ia, -100, 100);
    for (int i = 0; i < 2; i++)
        want[i] = iav[i * 3] * iav[i * 3] + iav[i * 3 + 1] * iav[i * 3 + 1] +
                  iav[i * 3 + 2] * iav[i * 3 + 2];
    ops[0] = ops[1] = ia;
    einsum_check("ij,ij->i", 2, ops, 1, d23, want, 0);
    for (int i = 0; i < 3; i++) want[i] = 0;
    ops[0] = e;
    einsum_check("ij->i", 1, ops, 1, d3, want, 0);
    einsum_check("ij->j", 1, ops, 1, d0, want, 0);

    free(xv), free(yv), free(sv), free(uv), free(vv), free(bv), free(pv), free(qv), free(iav);
    onyx_tensor *all[] = {x, y, sq, u, v, bsq, p, q, ia, e};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) onyx_tensor_free(all[i]);
}

/* ---- Det ---- */

static void test_det(void)
{
    int64_t d22[2] = {2, 2};
    double m22[4] = {1, 2, 3, 4}, want[8];
    onyx_tensor *x = mk_vals(ONYX_FLOAT, 2, d22, m22);
    call c = {.op = "Det", .n_in = 1, .in = {x}};
    want[0] = -2;
    CHECK(run(&c) == ONYX_OK && c.out[0].rank == 0 && mismatch(&c.out[0], want, 1, 1e-6) == -1,
          "Det of [[1,2],[3,4]]");
    done(&c);
    onyx_tensor_free(x);

    /* P * L * U with L unit lower triangular: det = sign(P) * prod(diag U) */
    int64_t n = 5, d[4] = {2, 3, n, n};
    onyx_tensor *b = mk(ONYX_DOUBLE, 4, d);
    for (int m = 0; m < 6; m++) {
        double L[25], U[25], A[25];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                L[i * n + j] = i == j ? 1 : i > j ? frand() : 0;
                U[i * n + j] = i <= j ? frand() + (i == j ? 2 * (rnd(2) ? 1 : -1) : 0) : 0;
            }
        want[m] = 1;
        for (int i = 0; i < n; i++) want[m] *= U[i * n + i];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                A[i * n + j] = 0;
                for (int k = 0; k < n; k++) A[i * n + j] += L[i * n + k] * U[k * n + j];
            }
        int swaps = m % 3; /* swap rows (0,1) then (2,3): each flips the sign */
        for (int s = 0; s < swaps; s++)
            for (int j = 0; j < n; j++) {
                double t = A[(2 * s) * n + j];
                A[(2 * s) * n + j] = A[(2 * s + 1) * n + j];
                A[(2 * s + 1) * n + j] = t;
            }
        if (swaps % 2) want[m] = -want[m];
        for (int i = 0; i < n * n; i++) k_set_f64(b, m * n * n + i, A[i]);
    }
    call c2 = {.op = "Det", .n_in = 1, .in = {b}};
    CHECK(run(&c2) == ONYX_OK && same_shape(&c2.out[0], 2, d) &&
              mismatch(&c2.out[0], want, 6, 1e-9) == -1,
          "batched Det: %s", c2.err.message);
    done(&c2);
    onyx_tensor_free(b);

    double sing[9] = {1, 2, 3, 2, 4, 6, 7, 1, 0};
    int64_t d33[2] = {3, 3}, d00[3] = {2, 0, 0};
    onyx_tensor *s = mk_vals(ONYX_FLOAT, 2, d33, sing), *z = mk(ONYX_FLOAT, 3, d00);
    call c3 = {.op = "Det", .n_in = 1, .in = {s}};
    want[0] = 0;
    CHECK(run(&c3) == ONYX_OK && mismatch(&c3.out[0], want, 1, 0) == -1, "singular Det is 0");
    done(&c3);
    call c4 = {.op = "Det", .n_in = 1, .in = {z}};
    want[0] = want[1] = 1;
    CHECK(run(&c4) == ONYX_OK && mismatch(&c4.out[0], want, 2, 0) == -1,
          "Det of 0x0 matrices is 1");
    done(&c4);
    onyx_tensor_free(s);
    onyx_tensor_free(z);
}

/* ---- integer and quantized products ---- */

static void test_matmul_integer(void)
{
    for (int it = 0; it < 40; it++) {
        int64_t B = 1 + rnd(3), M = 1 + rnd(6), K = 1 + rnd(40), N = 1 + rnd(6);
        onyx_dtype at = rnd(2) ? ONYX_UINT8 : ONYX_INT8, bt = rnd(2) ? ONYX_UINT8 : ONYX_INT8;
        int lo_a = at == ONYX_UINT8 ? 0 : -128, hi_a = at == ONYX_UINT8 ? 255 : 127;
        int lo_b = bt == ONYX_UINT8 ? 0 : -128, hi_b = bt == ONYX_UINT8 ? 255 : 127;
        int64_t ad[3] = {B, M, K}, bd[2] = {K, N};
        onyx_tensor *a = mk(at, 3, ad), *b = mk(bt, 2, bd);
        double *av = fill(a, lo_a, hi_a), *bv = fill(b, lo_b, hi_b);
        /* a_zero_point: scalar, per row [M], or per batch and row [B, M, 1] */
        int zf = rnd(3);
        int64_t zd[3] = {B, M, 1}, zn1[1] = {M}, bzd[1] = {N};
        onyx_tensor *az = zf == 0 ? mk(at, 0, NULL) : zf == 1 ? mk(at, 1, zn1) : mk(at, 3, zd);
        onyx_tensor *bz = rnd(2) ? mk(bt, 0, NULL) : mk(bt, 1, bzd);
        double *azv = fill(az, lo_a, hi_a), *bzv = fill(bz, lo_b, hi_b);
        double *want = malloc((size_t)(B * M * N) * sizeof *want);
        for (int64_t p = 0; p < B; p++)
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double za = zf == 0 ? azv[0] : zf == 1 ? azv[i] : azv[p * M + i];
                    double zb = bz->rank == 0 ? bzv[0] : bzv[j];
                    double s = 0;
                    for (int64_t k = 0; k < K; k++)
                        s += (av[(p * M + i) * K + k] - za) * (bv[k * N + j] - zb);
                    want[(p * M + i) * N + j] = s;
                }
        call c = {.op = "MatMulInteger", .opset = 10, .n_in = 4, .in = {a, b, az, bz}};
        onyx_status s = run(&c);
        CHECK(s == ONYX_OK && c.out[0].dtype == ONYX_INT32 &&
                  mismatch(&c.out[0], want, B * M * N, 0) == -1,
              "MatMulInteger %s x %s zp form %d: %s", onyx_dtype_name(at), onyx_dtype_name(bt), zf,
              c.err.message);
        done(&c);
        free(av), free(bv), free(azv), free(bzv), free(want);
        onyx_tensor_free(a), onyx_tensor_free(b), onyx_tensor_free(az), onyx_tensor_free(bz);
    }
}

static void test_qlinear_matmul(void)
{
    int64_t ad[2] = {3, 7}, bd[2] = {7, 4}, nd[1] = {4};
    for (int it = 0; it < 10; it++) {
        onyx_dtype t = it % 2 ? ONYX_INT8 : ONYX_UINT8;
        int lo = t == ONYX_UINT8 ? 0 : -128, hi = t == ONYX_UINT8 ? 255 : 127;
        onyx_tensor *a = mk(t, 2, ad), *b = mk(t, 2, bd);
        double *av = fill(a, lo, hi), *bv = fill(b, lo, hi);
        double asv = 0.01 + rnd(100) / 1000.0, ysv = 0.5 + rnd(100) / 100.0, bsv[4];
        for (int j = 0; j < 4; j++) bsv[j] = 0.01 + rnd(100) / 1000.0;
        onyx_tensor *as = mk_vals(ONYX_FLOAT, 0, NULL, &asv), *bs = mk_vals(ONYX_FLOAT, 1, nd, bsv);
        onyx_tensor *ys = mk_vals(ONYX_FLOAT, 0, NULL, &ysv);
        onyx_tensor *az = mk(t, 0, NULL), *bz = mk(t, 1, nd), *yz = mk(t, 0, NULL);
        double *azv = fill(az, lo, hi), *bzv = fill(bz, lo, hi), *yzv = fill(yz, lo / 2, hi / 2);
        double want[12];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++) {
                double s = 0;
                for (int k = 0; k < 7; k++)
                    s += (av[i * 7 + k] - azv[0]) * (bv[k * 4 + j] - bzv[j]);
                float m = (float)asv * (float)bsv[j] / (float)ysv;
                double v = rint(s * m + yzv[0]);
                want[i * 4 + j] = v < lo ? lo : v > hi ? hi : v;
            }
        call c = {
            .op = "QLinearMatMul", .opset = 10, .n_in = 8, .in = {a, as, az, b, bs, bz, ys, yz}};
        CHECK(run(&c) == ONYX_OK && c.out[0].dtype == t && mismatch(&c.out[0], want, 12, 0) == -1,
              "QLinearMatMul %s: %s", onyx_dtype_name(t), c.err.message);
        done(&c);
        free(av), free(bv), free(azv), free(bzv), free(yzv);
        onyx_tensor *all[] = {a, b, as, bs, ys, az, bz, yz};
        for (int i = 0; i < 8; i++) onyx_tensor_free(all[i]);
    }
}

/* ---- quantization ---- */

static void test_quantize_rounding(void)
{
    double x[] = {0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49, 1000, -1000, 127.5, -128.5, NAN};
    int64_t n[1] = {13};
    onyx_tensor *xt = mk_vals(ONYX_FLOAT, 1, n, x);
    double one = 1, zero = 0;
    onyx_tensor *sc = mk_vals(ONYX_FLOAT, 0, NULL, &one), *z8 = mk_vals(ONYX_INT8, 0, NULL, &zero);
    double want8[] = {0, 0, 2, 2, 0, -2, -2, 3, 127, -128, 127, -128, -128};
    call c = {.op = "QuantizeLinear", .opset = 13, .n_in = 3, .in = {xt, sc, z8}};
    CHECK(run(&c) == ONYX_OK && c.out[0].dtype == ONYX_INT8 &&
              mismatch(&c.out[0], want8, 13, 0) == -1,
          "QuantizeLinear int8 rounds half to even and saturates");
    done(&c);
    double wantu[] = {0, 0, 2, 2, 0, 0, 0, 3, 255, 0, 128, 0, 0};
    call c2 = {.op = "QuantizeLinear", .opset = 13, .n_in = 2, .in = {xt, sc}};
    CHECK(run(&c2) == ONYX_OK && c2.out[0].dtype == ONYX_UINT8 &&
              mismatch(&c2.out[0], wantu, 13, 0) == -1,
          "QuantizeLinear defaults to uint8");
    done(&c2);
    double w16[] = {0, 0, 2, 2, 0, -2, -2, 3, 1000, -1000, 128, -128, -32768};
    call c3 = {.op = "QuantizeLinear",
               .opset = 21,
               .n_in = 2,
               .in = {xt, sc},
               .n_attr = 1,
               .attr = {a_int("output_dtype", ONYX_INT16)}};
    CHECK(run(&c3) == ONYX_OK && c3.out[0].dtype == ONYX_INT16 &&
              mismatch(&c3.out[0], w16, 13, 0) == -1,
          "QuantizeLinear output_dtype int16");
    done(&c3);
    onyx_tensor_free(xt), onyx_tensor_free(sc), onyx_tensor_free(z8);

    /* float16 input and scale */
    int64_t d3[1] = {3};
    double xh[3] = {1.0, -2.0, 3.0}, sh = 0.5, zh = 10, wh[3] = {12, 6, 16};
    onyx_tensor *x16 = mk_vals(ONYX_FLOAT16, 1, d3, xh), *s16 = mk_vals(ONYX_FLOAT16, 0, NULL, &sh);
    onyx_tensor *zu = mk_vals(ONYX_UINT8, 0, NULL, &zh);
    call c4 = {.op = "QuantizeLinear", .opset = 19, .n_in = 3, .in = {x16, s16, zu}};
    CHECK(run(&c4) == ONYX_OK && mismatch(&c4.out[0], wh, 3, 0) == -1, "QuantizeLinear float16");
    done(&c4);
    onyx_tensor_free(x16), onyx_tensor_free(s16), onyx_tensor_free(zu);
}

static void test_quantize_axis_block(void)
{
    /* x [2, 6, 2]; per-axis on axis 1, and blocks of 4 along axis 1 */
    int64_t xd[3] = {2, 6, 2}, sd[1] = {6}, bd[3] = {2, 2, 2};
    onyx_tensor *x = mk(ONYX_FLOAT, 3, xd);
    double *xv = fill(x, 0, 0);
    for (int i = 0; i < 24; i++) k_set_f64(x, i, xv[i] * 100), xv[i] = k_get_f64(x, i);
    onyx_tensor *s = mk(ONYX_FLOAT, 1, sd), *z = mk(ONYX_INT8, 1, sd);
    double sv[6], *zv = fill(z, -20, 20);
    for (int i = 0; i < 6; i++) sv[i] = 0.5 + rnd(10) * 0.25, k_set_f64(s, i, sv[i]);
    double want[24], deq[24];
    for (int o = 0; o < 2; o++)
        for (int d = 0; d < 6; d++)
            for (int i = 0; i < 2; i++) {
                int e = (o * 6 + d) * 2 + i;
                double q = rintf((float)xv[e] / (float)sv[d]) + zv[d];
                want[e] = q < -128 ? -128 : q > 127 ? 127 : q;
                deq[e] = (want[e] - zv[d]) * sv[d];
            }
    call c = {.op = "QuantizeLinear",
              .opset = 13,
              .n_in = 3,
              .in = {x, s, z},
              .n_attr = 1,
              .attr = {a_int("axis", -2)}};
    onyx_status st = run(&c);
    CHECK(st == ONYX_OK && mismatch(&c.out[0], want, 24, 0) == -1, "QuantizeLinear per axis: %s",
          c.err.message);
    if (st == ONYX_OK) {
        call d = {.op = "DequantizeLinear", .opset = 13, .n_in = 3, .in = {&c.out[0], s, z}};
        CHECK(run(&d) == ONYX_OK && d.out[0].dtype == ONYX_FLOAT &&
                  mismatch(&d.out[0], deq, 24, 1e-6) == -1,
              "DequantizeLinear per axis: %s", d.err.message);
        done(&d);
    }
    done(&c);

    onyx_tensor *bs = mk(ONYX_FLOAT, 3, bd), *bz = mk(ONYX_UINT8, 3, bd);
    double bsv[8], *bzv = fill(bz, 100, 150);
    for (int i = 0; i < 8; i++) bsv[i] = 0.5 + rnd(10) * 0.25, k_set_f64(bs, i, bsv[i]);
    for (int o = 0; o < 2; o++)
        for (int d = 0; d < 6; d++)
            for (int i = 0; i < 2; i++) {
                int e = (o * 6 + d) * 2 + i, p = (o * 2 + d / 4) * 2 + i;
                double q = rintf((float)xv[e] / (float)bsv[p]) + bzv[p];
                want[e] = q < 0 ? 0 : q > 255 ? 255 : q;
                deq[e] = (want[e] - bzv[p]) * bsv[p];
            }
    call cb = {.op = "QuantizeLinear",
               .opset = 21,
               .n_in = 3,
               .in = {x, bs, bz},
               .n_attr = 2,
               .attr = {a_int("axis", 1), a_int("block_size", 4)}};
    st = run(&cb);
    CHECK(st == ONYX_OK && mismatch(&cb.out[0], want, 24, 0) == -1, "QuantizeLinear blocked: %s",
          cb.err.message);
    if (st == ONYX_OK) {
        call d = {.op = "DequantizeLinear",
                  .opset = 21,
                  .n_in = 3,
                  .in = {&cb.out[0], bs, bz},
                  .n_attr = 2,
                  .attr = {a_int("axis", 1), a_int("block_size", 4)}};
        CHECK(run(&d) == ONYX_OK && mismatch(&d.out[0], deq, 24, 1e-6) == -1,
              "DequantizeLinear blocked: %s", d.err.message);
        done(&d);
    }
    done(&cb);
    free(xv), free(zv), free(bzv);
    onyx_tensor_free(x), onyx_tensor_free(s), onyx_tensor_free(z);
    onyx_tensor_free(bs), onyx_tensor_free(bz);

    /* int32 dequantization has no zero point; float16 scales give float16 */
    int64_t d2[1] = {2};
    double iv[2] = {-100000, 7}, h = 0.5, w[2] = {-50000, 3.5};
    onyx_tensor *xi = mk_vals(ONYX_INT32, 1, d2, iv), *sh = mk_vals(ONYX_FLOAT16, 0, NULL, &h);
    call di = {.op = "DequantizeLinear", .opset = 19, .n_in = 2, .in = {xi, sh}};
    CHECK(run(&di) == ONYX_OK && di.out[0].dtype == ONYX_FLOAT16 &&
              mismatch(&di.out[0], w, 2, 1e-3) == -1,
          "DequantizeLinear int32 with a float16 scale");
    done(&di);
    onyx_tensor_free(xi), onyx_tensor_free(sh);
}

static void test_dynamic_quantize(void)
{
    int64_t d[1] = {6};
    double x[6] = {0, 2, -3, -2.5, 1.34, 0.5};
    onyx_tensor *xt = mk_vals(ONYX_FLOAT, 1, d, x);
    call c = {.op = "DynamicQuantizeLinear", .opset = 11, .n_in = 1, .in = {xt}, .n_out = 3};
    onyx_status st = run(&c);
    float scale = (2.0f - -3.0f) / 255.0f;
    double zp = rintf(3.0f / scale), want[6];
    for (int i = 0; i < 6; i++) {
        double q = rintf((float)x[i] / scale) + zp;
        want[i] = q < 0 ? 0 : q > 255 ? 255 : q;
    }
    CHECK(st == ONYX_OK && c.out[1].rank == 0 && c.out[2].rank == 0 &&
              ((float *)c.out[1].data)[0] == scale && ((uint8_t *)c.out[2].data)[0] == zp &&
              mismatch(&c.out[0], want, 6, 0) == -1,
          "DynamicQuantizeLinear: %s", c.err.message);
    done(&c);
    /* an all-positive input still has 0 in range: zero point 0 */
    double xp[6] = {1, 2, 3, 4, 5, 6};
    onyx_tensor *pt = mk_vals(ONYX_FLOAT, 1, d, xp);
    call c2 = {.op = "DynamicQuantizeLinear", .opset = 11, .n_in = 1, .in = {pt}, .n_out = 3};
    CHECK(run(&c2) == ONYX_OK && ((uint8_t *)c2.out[2].data)[0] == 0 &&
              ((uint8_t *)c2.out[0].data)[5] == 255,
          "DynamicQuantizeLinear positive input");
    done(&c2);
    onyx_tensor_free(xt), onyx_tensor_free(pt);
}

/* ---- RNN, GRU, LSTM ---- */

typedef struct rnn_in {
    const char *op;
    int gates;
    int64_t seq, batch, in, hid;
    onyx_tensor *X, *W, *R, *B, *H0, *C0, *P, *L;
} rnn_in;

static void rnn_make(rnn_in *r, const char *op, int dirs)
{
    memset(r, 0, sizeof *r);
    r->op = op;
    r->gates = !strcmp(op, "RNN") ? 1 : !strcmp(op, "GRU") ? 3 : 4;
    r->seq = 2 + rnd(4), r->batch = 1 + rnd(3), r->in = 1 + rnd(4), r->hid = 1 + rnd(5);
    int64_t G = r->gates * r->hid;
    int64_t xd[3] = {r->seq, r->batch, r->in}, wd[3] = {dirs, G, r->in}, rd[3] = {dirs, G, r->hid};
    int64_t bd[2] = {dirs, 2 * G}, hd[3] = {dirs, r->batch, r->hid}, pd[2] = {dirs, 3 * r->hid};
    r->X = mk(ONYX_FLOAT, 3, xd), r->W = mk(ONYX_FLOAT, 3, wd), r->R = mk(ONYX_FLOAT, 3, rd);
    r->B = mk(ONYX_FLOAT, 2, bd), r->H0 = mk(ONYX_FLOAT, 3, hd), r->C0 = mk(ONYX_FLOAT, 3, hd);
    r->P = mk(ONYX_FLOAT, 2, pd);
    onyx_tensor *all[] = {r->X, r->W, r->R, r->B, r->H0, r->C0, r->P};
    for (int i = 0; i < 7; i++) free(fill(all[i], 0, 0));
}

static void rnn_free_in(rnn_in *r)
{
    onyx_tensor *all[] = {r->X, r->W, r->R, r->B, r->H0, r->C0, r->P, r->L};
    for (int i = 0; i < 8; i++) onyx_tensor_free(all[i]);
}

/* Runs the op; extra attributes appended after hidden_size/direction. */
static onyx_status rnn_call(call *c, const rnn_in *r, const char *dir, const onyx_tensor *X,
                            const onyx_tensor *H0, const onyx_tensor *C0, int n_extra,
                            const onyx_attr *extra)
{
    memset(c, 0, sizeof *c);
    c->op = r->op;
    c->opset = 14;
    c->n_in = r->gates == 4 ? 8 : 6;
    const onyx_tensor *in[8] = {X, r->W, r->R, r->B, r->L, H0, C0, r->gates == 4 ? r->P : NULL};
    for (int i = 0; i < c->n_in; i++) c->in[i] = in[i];
    c->attr[c->n_attr++] = a_int("hidden_size", r->hid);
    c->attr[c->n_attr++] = a_str("direction", dir);
    for (int i = 0; i < n_extra; i++) c->attr[c->n_attr++] = extra[i];
    c->n_out = r->gates == 4 ? 3 : 2;
    return run(c);
}

/* One direction's slice [dirs, ...] -> [1, ...] of a 2-D or 3-D weight tensor. */
static onyx_tensor *dir_slice(const onyx_tensor *t, int d)
{
    int64_t dims[3];
    for (int i = 0; i < t->rank; i++) dims[i] = t->dims[i];
    dims[0] = 1;
    onyx_tensor *s = mk(t->dtype, t->rank, dims);
    int64_t n = prod(t->rank, dims);
    memcpy(s->data, (const float *)t->data + d * n, (size_t)n * sizeof(float));
    return s;
}

static bool close_f(const float *a, const float *b, int64_t n, double tol)
{
    for (int64_t i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > tol) return false;
    return true;
}

/* bidirectional == forward with direction 0's weights + reverse with direction
 * 1's; reverse == forward on the time-reversed sequence */
static void rnn_directions(const char *op)
{
    rnn_in r;
    rnn_make(&r, op, 2);
    call bi, fw, rv;
    onyx_status s = rnn_call(&bi, &r, "bidirectional", r.X, r.H0, r.C0, 0, NULL);
    CHECK(s == ONYX_OK, "%s bidirectional: %s", op, bi.err.message);
    rnn_in one[2];
    for (int d = 0; d < 2; d++) {
        one[d] = r;
        one[d].W = dir_slice(r.W, d), one[d].R = dir_slice(r.R, d), one[d].B = dir_slice(r.B, d);
        one[d].P = dir_slice(r.P, d), one[d].H0 = dir_slice(r.H0, d),
        one[d].C0 = dir_slice(r.C0, d);
    }
    rnn_call(&fw, &one[0], "forward", r.X, one[0].H0, one[0].C0, 0, NULL);
    rnn_call(&rv, &one[1], "reverse", r.X, one[1].H0, one[1].C0, 0, NULL);
    int64_t H = r.hid, BH = r.batch * H;
    bool ok = s == ONYX_OK;
    for (int64_t t = 0; ok && t < r.seq; t++) {
        const float *yb = (const float *)bi.out[0].data + t * 2 * BH;
        ok = close_f(yb, (const float *)fw.out[0].data + t * BH, BH, 1e-6) &&
             close_f(yb + BH, (const float *)rv.out[0].data + t * BH, BH, 1e-6);
    }
    ok = ok && close_f(bi.out[1].data, fw.out[1].data, BH, 1e-6) &&
         close_f((const float *)bi.out[1].data + BH, rv.out[1].data, BH, 1e-6);
    if (r.gates == 4)
        ok = ok && close_f(bi.out[2].data, fw.out[2].data, BH, 1e-6) &&
             close_f((const float *)bi.out[2].data + BH, rv.out[2].data, BH, 1e-6);
    CHECK(ok, "%s bidirectional equals forward + reverse", op);

    /* reverse on X == forward on X reversed in time, with Y reversed */
    onyx_tensor *Xr = mk(ONYX_FLOAT, 3, r.X->dims);
    int64_t step = r.batch * r.in;
    for (int64_t t = 0; t < r.seq; t++)
        memcpy((float *)Xr->data + t * step, (const float *)r.X->data + (r.seq - 1 - t) * step,
               (size_t)step * sizeof(float));
    call fr;
    rnn_call(&fr, &one[1], "forward", Xr, one[1].H0, one[1].C0, 0, NULL);
    ok = close_f(fr.out[1].data, rv.out[1].data, BH, 1e-6);
    for (int64_t t = 0; ok && t < r.seq; t++)
        ok = close_f((const float *)fr.out[0].data + t * BH,
                     (const float *)rv.out[0].data + (r.seq - 1 - t) * BH, BH, 1e-6);
    CHECK(ok, "%s reverse equals forward on the reversed sequence", op);

    /* layout 1 is the batch-major transpose of layout 0 */
    int64_t xd1[3] = {r.batch, r.seq, r.in}, hd1[3] = {r.batch, 2, H};
    onyx_tensor *X1 = mk(ONYX_FLOAT, 3, xd1), *H1 = mk(ONYX_FLOAT, 3, hd1),
                *C1 = mk(ONYX_FLOAT, 3, hd1);
    for (int64_t t = 0; t < r.seq; t++)
        for (int64_t b = 0; b < r.batch; b++)
            memcpy((float *)X1->data + (b * r.seq + t) * r.in,
                   (const float *)r.X->data + (t * r.batch + b) * r.in,
                   (size_t)r.in * sizeof(float));
    for (int d = 0; d < 2; d++)
        for (int64_t b = 0; b < r.batch; b++) {
            memcpy((float *)H1->data + (b * 2 + d) * H,
                   (const float *)r.H0->data + (d * r.batch + b) * H, (size_t)H * sizeof(float));
            memcpy((float *)C1->data + (b * 2 + d) * H,
                   (const float *)r.C0->data + (d * r.batch + b) * H, (size_t)H * sizeof(float));
        }
    onyx_attr lay = a_int("layout", 1);
    call l1;
    s = rnn_call(&l1, &r, "bidirectional", X1, H1, C1, 1, &lay);
    ok = s == ONYX_OK && l1.out[0].dims[0] == r.batch && l1.out[0].dims[1] == r.seq;
    for (int64_t t = 0; ok && t < r.seq; t++)
        for (int d = 0; ok && d < 2; d++)
            for (int64_t b = 0; ok && b < r.batch; b++)
                ok = close_f((const float *)l1.out[0].data + ((b * r.seq + t) * 2 + d) * H,
                             (const float *)bi.out[0].data + ((t * 2 + d) * r.batch + b) * H, H,
                             1e-6);
    for (int d = 0; ok && d < 2; d++)
        for (int64_t b = 0; ok && b < r.batch; b++)
            ok = close_f((const float *)l1.out[1].data + (b * 2 + d) * H,
                         (const float *)bi.out[1].data + (d * r.batch + b) * H, H, 1e-6);
    CHECK(ok, "%s layout 1 is the transpose of layout 0: %s", op, l1.err.message);

    /* sequence_lens: steps past the length are zero, Y_h is the state at the
     * last valid step (for the reverse direction: after step 0) */
    int64_t bdim[1] = {r.batch};
    r.L = mk(ONYX_INT32, 1, bdim);
    for (int64_t b = 0; b < r.batch; b++)
        ((int32_t *)r.L->data)[b] = (int32_t)(b == 0 ? r.seq : rnd((int)r.seq + 1));
    call sl;
    s = rnn_call(&sl, &r, "bidirectional", r.X, r.H0, r.C0, 0, NULL);
    ok = s == ONYX_OK;
    for (int64_t b = 0; ok && b < r.batch; b++) {
        int64_t len = ((int32_t *)r.L->data)[b];
        for (int64_t t = len; ok && t < r.seq; t++)
            for (int d = 0; d < 2; d++)
                for (int64_t j = 0; j < H; j++)
                    ok = ok &&
                         ((const float *)sl.out[0].data)[((t * 2 + d) * r.batch + b) * H + j] == 0;
        if (len == r.seq)
            ok = ok && close_f((const float *)sl.out[1].data + b * H,
                               (const float *)bi.out[1].data + b * H, H, 1e-6);
        if (len == 0)
            ok = ok && close_f((const float *)sl.out[1].data + b * H,
                               (const float *)r.H0->data + b * H, H, 0);
        if (len > 0)
            ok = ok &&
                 close_f((const float *)sl.out[1].data + (r.batch + b) * H,
                         (const float *)sl.out[0].data + ((0 * 2 + 1) * r.batch + b) * H, H, 0) &&
                 close_f((const float *)sl.out[1].data + b * H,
                         (const float *)sl.out[0].data + (((len - 1) * 2 + 0) * r.batch + b) * H, H,
                         0);
    }
    CHECK(ok, "%s sequence_lens: %s", op, sl.err.message);

    done(&bi), done(&fw), done(&rv), done(&fr), done(&l1), done(&sl);
    for (int d = 0; d < 2; d++) {
        onyx_tensor *all[] = {one[d].W, one[d].R, one[d].B, one[d].P, one[d].H0, one[d].C0};
        for (int i = 0; i < 6; i++) onyx_tensor_free(all[i]);
    }
    onyx_tensor_free(Xr), onyx_tensor_free(X1), onyx_tensor_free(H1), onyx_tensor_free(C1);
    rnn_free_in(&r);
}

static double sigm(double x)
{
    return 1 / (1 + exp(-x));
}

/* Hidden size 1, input size 1: every formula written out by hand. */
static void test_rnn_scalar_steps(void)
{
    int64_t xd[3] = {2, 1, 1}, w1[3] = {1, 1, 1}, w3[3] = {1, 3, 1}, w4[3] = {1, 4, 1};
    int64_t b2[2] = {1, 2}, b6[2] = {1, 6}, b8[2] = {1, 8}, p3[2] = {1, 3}, hd[3] = {1, 1, 1};
    double xv[2] = {0.5, -1.0}, h0v = 0.25, c0v = -0.5;
    onyx_tensor *X = mk_vals(ONYX_FLOAT, 3, xd, xv), *H0 = mk_vals(ONYX_FLOAT, 3, hd, &h0v);
    onyx_tensor *C0 = mk_vals(ONYX_FLOAT, 3, hd, &c0v);

    /* RNN with Relu (w=0.8, r=-0.6, wb=0.1, rb=0.2) */
    double w = 0.8, rr = -0.6, bb[2] = {0.1, 0.2};
    onyx_tensor *W = mk_vals(ONYX_FLOAT, 3, w1, &w), *R = mk_vals(ONYX_FLOAT, 3, w1, &rr);
    onyx_tensor *B = mk_vals(ONYX_FLOAT, 2, b2, bb);
    char *relu[1] = {"Relu"};
    double h = h0v, want[2];
    for (int t = 0; t < 2; t++) {
        h = fmax(0, w * xv[t] + rr * h + 0.3);
        want[t] = h;
    }
    call c = {.op = "RNN",
              .opset = 14,
              .n_in = 6,
              .in = {X, W, R, B, NULL, H0},
              .n_out = 2,
              .n_attr = 2,
              .attr = {a_int("hidden_size", 1), a_strs("activations", 1, relu)}};
    CHECK(run(&c) == ONYX_OK && mismatch(&c.out[0], want, 2, 1e-6) == -1 &&
              mismatch(&c.out[1], want + 1, 1, 1e-6) == -1,
          "RNN Relu steps: %s", c.err.message);
    done(&c);
    onyx_tensor_free(W), onyx_tensor_free(R), onyx_tensor_free(B);

    /* GRU, both linear_before_reset settings */
    double gw[3] = {0.3, -0.4, 0.9}, gr[3] = {0.7, 0.2, -0.5},
           gb[6] = {0.1, -0.1, 0.2, 0.05, 0.3, -0.2};
    W = mk_vals(ONYX_FLOAT, 3, w3, gw), R = mk_vals(ONYX_FLOAT, 3, w3, gr),
    B = mk_vals(ONYX_FLOAT, 2, b6, gb);
    for (int lbr = 0; lbr < 2; lbr++) {
        h = h0v;
        for (int t = 0; t < 2; t++) {
            double z = sigm(gw[0] * xv[t] + gr[0] * h + gb[0] + gb[3]);
            double r = sigm(gw[1] * xv[t] + gr[1] * h + gb[1] + gb[4]);
            double n = lbr ? tanh(gw[2] * xv[t] + gb[2] + r * (gr[2] * h + gb[5]))
                           : tanh(gw[2] * xv[t] + gb[2] + gr[2] * (r * h) + gb[5]);
            h = (1 - z) * n + z * h;
            want[t] = h;
        }
        call g = {.op = "GRU",
                  .opset = 14,
                  .n_in = 6,
                  .in = {X, W, R, B, NULL, H0},
                  .n_out = 2,
                  .n_attr = 2,
                  .attr = {a_int("hidden_size", 1), a_int("linear_before_reset", lbr)}};
        CHECK(run(&g) == ONYX_OK && mismatch(&g.out[0], want, 2, 1e-6) == -1,
              "GRU steps (linear_before_reset=%d): %s", lbr, g.err.message);
        done(&g);
    }
    onyx_tensor_free(W), onyx_tensor_free(R), onyx_tensor_free(B);

    /* LSTM with peepholes, clip, input_forget and custom activations */
    double lw[4] = {0.3, -0.4, 0.9, 0.5}, lr[4] = {0.7, 0.2, -0.5, 0.1};
    double lb[8] = {0.1, -0.1, 0.2, 0.05, 0.3, -0.2, 0.0, 0.4}, lp[3] = {0.3, -0.2, 0.6};
    W = mk_vals(ONYX_FLOAT, 3, w4, lw), R = mk_vals(ONYX_FLOAT, 3, w4, lr),
    B = mk_vals(ONYX_FLOAT, 2, b8, lb);
    onyx_tensor *P = mk_vals(ONYX_FLOAT, 2, p3, lp);
    char *acts[3] = {"HardSigmoid", "ScaledTanh", "LeakyRelu"};
    float alphas[3] = {0.3f, 1.5f, 0.1f}, betas[2] = {0.4f, 0.7f};
    for (int variant = 0; variant < 2; variant++) {
        double cs = c0v, clip = 0.6;
        h = h0v;
        double hs[2], cl[2];
        for (int t = 0; t < 2; t++) {
            double g[4];
            for (int q = 0; q < 4; q++) g[q] = lw[q] * xv[t] + lr[q] * h + lb[q] + lb[4 + q];
            double it, ft, ct, ot;
            if (variant == 0) {
                it = sigm(g[0] + lp[0] * cs);
                ft = sigm(g[2] + lp[2] * cs);
                ct = tanh(g[3]);
                cs = ft * cs + it * ct;
                ot = sigm(g[1] + lp[1] * cs);
                h = ot * tanh(cs);
            } else {
#define CLIP(v) fmin(clip, fmax(-clip, (v)))
                it = fmin(1,
                          fmax(0, (double)alphas[0] * CLIP(g[0] + lp[0] * cs) + (double)betas[0]));
                ft = 1 - it;
                ct = (double)alphas[1] * tanh((double)betas[1] * CLIP(g[3]));
                cs = ft * cs + it * ct;
                ot = fmin(1,
                          fmax(0, (double)alphas[0] * CLIP(g[1] + lp[1] * cs) + (double)betas[0]));
                h = ot * (cs >= 0 ? cs : (double)alphas[2] * cs);
#undef CLIP
            }
            hs[t] = h;
            cl[t] = cs;
        }
        call l = {
            .op = "LSTM", .opset = 14, .n_in = 8, .in = {X, W, R, B, NULL, H0, C0, P}, .n_out = 3};
        l.attr[l.n_attr++] = a_int("hidden_size", 1);
        if (variant == 1) {
            l.attr[l.n_attr++] = a_float("clip", 0.6f);
            l.attr[l.n_attr++] = a_int("input_forget", 1);
            l.attr[l.n_attr++] = a_strs("activations", 3, acts);
            l.attr[l.n_attr++] = a_floats("activation_alpha", 3, alphas);
            l.attr[l.n_attr++] = a_floats("activation_beta", 2, betas);
        }
        CHECK(run(&l) == ONYX_OK && mismatch(&l.out[0], hs, 2, 1e-6) == -1 &&
                  mismatch(&l.out[1], hs + 1, 1, 1e-6) == -1 &&
                  mismatch(&l.out[2], cl + 1, 1, 1e-6) == -1,
              "LSTM steps (variant %d): %s", variant, l.err.message);
        done(&l);
    }
    onyx_tensor_free(W), onyx_tensor_free(R), onyx_tensor_free(B), onyx_tensor_free(P);
    onyx_tensor_free(X), onyx_tensor_free(H0), onyx_tensor_free(C0);
}

static void test_rnn(void)
{
    for (int i = 0; i < 10; i++) {
        rnn_directions("RNN");
        rnn_directions("GRU");
        rnn_directions("LSTM");
    }
    test_rnn_scalar_steps();
}

/* ---- errors ---- */

static void expect_fail(call *c, const char *what)
{
    onyx_status s = run(c);
    CHECK(s != ONYX_OK && c->err.message[0], "%s should fail with a message", what);
    done(c);
}

static void test_errors(void)
{
    int64_t d23[2] = {2, 3}, d45[2] = {4, 5}, d3[1] = {3}, d2[1] = {2}, d213[3] = {2, 1, 3};
    int64_t d143[3] = {1, 4, 3}, d144[3] = {1, 4, 4}, d142[3] = {1, 4, 2};
    onyx_tensor *a = mk(ONYX_FLOAT, 2, d23), *b = mk(ONYX_FLOAT, 2, d45),
                *v3 = mk(ONYX_FLOAT, 1, d3);
    onyx_tensor *ia = mk(ONYX_INT32, 2, d23), *s0 = mk(ONYX_FLOAT, 0, NULL),
                *v2 = mk(ONYX_FLOAT, 1, d2);
    onyx_tensor *u8 = mk(ONYX_UINT8, 2, d23), *z3 = mk(ONYX_UINT8, 1, d3),
                *i32z = mk(ONYX_INT32, 0, NULL);
    onyx_tensor *X = mk(ONYX_FLOAT, 3, d213), *W = mk(ONYX_FLOAT, 3, d143),
                *R = mk(ONYX_FLOAT, 3, d144);
    onyx_tensor *Wbad = mk(ONYX_FLOAT, 3, d142);
    char *two[2] = {"Tanh", "Relu"}, *bad[1] = {"Swish"};

    call c;
#define FAIL_CASE(what, ...)                                                                       \
    do {                                                                                           \
        c = (call){__VA_ARGS__};                                                                   \
        expect_fail(&c, what);                                                                     \
    } while (0)
    FAIL_CASE("MatMul inner mismatch", .op = "MatMul", .n_in = 2, .in = {a, b});
    FAIL_CASE("MatMul scalar", .op = "MatMul", .n_in = 2, .in = {s0, v3});
    FAIL_CASE("MatMul mixed types", .op = "MatMul", .n_in = 2, .in = {a, ia});
    FAIL_CASE("MatMul missing input", .op = "MatMul", .n_in = 1, .in = {a});
    FAIL_CASE("Gemm inner mismatch", .op = "Gemm", .n_in = 2, .in = {a, b});
    FAIL_CASE("Gemm 1-D", .op = "Gemm", .n_in = 2, .in = {v3, v3});
    FAIL_CASE("Gemm C shape", .op = "Gemm", .n_in = 3, .in = {a, a, v3}, .n_attr = 1,
              .attr = {a_int("transB", 1)});
    FAIL_CASE("Gemm opset 6 without broadcast", .op = "Gemm", .opset = 6, .n_in = 3,
              .in = {a, a, v2}, .n_attr = 1, .attr = {a_int("transB", 1)});
    FAIL_CASE("Einsum without equation", .op = "Einsum", .n_in = 1, .in = {a});
    FAIL_CASE("Einsum term count", .op = "Einsum", .n_in = 2, .in = {a, a}, .n_attr = 1,
              .attr = {a_str("equation", "ij->i")});
    FAIL_CASE("Einsum rank", .op = "Einsum", .n_in = 1, .in = {a}, .n_attr = 1,
              .attr = {a_str("equation", "ijk")});
    FAIL_CASE("Einsum label sizes", .op = "Einsum", .n_in = 1, .in = {a}, .n_attr = 1,
              .attr = {a_str("equation", "ii")});
    FAIL_CASE("Einsum bad char", .op = "Einsum", .n_in = 1, .in = {a}, .n_attr = 1,
              .attr = {a_str("equation", "i$")});
    FAIL_CASE("Einsum two ellipses", .op = "Einsum", .n_in = 1, .in = {a}, .n_attr = 1,
              .attr = {a_str("equation", "......")});
    FAIL_CASE("Einsum unknown output label", .op = "Einsum", .n_in = 1, .in = {a}, .n_attr = 1,
              .attr = {a_str("equation", "ij->k")});
    FAIL_CASE("Einsum repeated output label", .op = "Einsum", .n_in = 1, .in = {a}, .n_attr = 1,
              .attr = {a_str("equation", "ij->ii")});
    FAIL_CASE("Det non-square", .op = "Det", .n_in = 1, .in = {a});
    FAIL_CASE("Det vector", .op = "Det", .n_in = 1, .in = {v3});
    FAIL_CASE("MatMulInteger float", .op = "MatMulInteger", .n_in = 2, .in = {a, a});
    FAIL_CASE("MatMulInteger zero point size", .op = "MatMulInteger", .n_in = 3,
              .in = {u8, z3, z3});
    FAIL_CASE("QuantizeLinear axis size", .op = "QuantizeLinear", .opset = 13, .n_in = 2,
              .in = {a, v2});
    FAIL_CASE("QuantizeLinear axis range", .op = "QuantizeLinear", .opset = 13, .n_in = 2,
              .in = {a, v3}, .n_attr = 1, .attr = {a_int("axis", 2)});
    FAIL_CASE("QuantizeLinear zero point shape", .op = "QuantizeLinear", .opset = 13, .n_in = 3,
              .in = {a, v3, z3}, .n_attr = 1, .attr = {a_int("axis", 0)});
    FAIL_CASE("QuantizeLinear int32 output", .op = "QuantizeLinear", .n_in = 3,
              .in = {a, s0, i32z});
    FAIL_CASE("QuantizeLinear output_dtype mismatch", .op = "QuantizeLinear", .n_in = 3,
              .in = {a, s0, z3}, .n_attr = 1, .attr = {a_int("output_dtype", ONYX_INT8)});
    FAIL_CASE("QuantizeLinear blocked shape", .op = "QuantizeLinear", .n_in = 2, .in = {a, a},
              .n_attr = 1, .attr = {a_int("block_size", 2)});
    FAIL_CASE("DequantizeLinear float input", .op = "DequantizeLinear", .n_in = 2, .in = {a, s0});
    FAIL_CASE("DynamicQuantizeLinear int input", .op = "DynamicQuantizeLinear", .n_in = 1,
              .in = {ia});
    FAIL_CASE("RNN W shape", .op = "RNN", .n_in = 3, .in = {X, Wbad, R}, .n_attr = 1,
              .attr = {a_int("hidden_size", 4)});
    FAIL_CASE("RNN hidden_size", .op = "RNN", .n_in = 3, .in = {X, W, R}, .n_attr = 1,
              .attr = {a_int("hidden_size", 5)});
    FAIL_CASE("RNN direction", .op = "RNN", .n_in = 3, .in = {X, W, R}, .n_attr = 1,
              .attr = {a_str("direction", "sideways")});
    FAIL_CASE("RNN activation count", .op = "RNN", .n_in = 3, .in = {X, W, R}, .n_attr = 1,
              .attr = {a_strs("activations", 2, two)});
    FAIL_CASE("RNN unknown activation", .op = "RNN", .n_in = 3, .in = {X, W, R}, .n_attr = 1,
              .attr = {a_strs("activations", 1, bad)});
    FAIL_CASE("RNN layout", .op = "RNN", .n_in = 3, .in = {X, W, R}, .n_attr = 1,
              .attr = {a_int("layout", 2)});
    FAIL_CASE("GRU with RNN weights", .op = "GRU", .n_in = 3, .in = {X, W, R});
    FAIL_CASE("RNN 2-D X", .op = "RNN", .n_in = 3, .in = {a, W, R});
#undef FAIL_CASE
    int64_t ld[1] = {1};
    double three = 3;
    onyx_tensor *L = mk_vals(ONYX_INT32, 1, ld, &three);
    c = (call){.op = "RNN", .n_in = 5, .in = {X, W, R, NULL, L}};
    expect_fail(&c, "RNN sequence_lens beyond the sequence");
    onyx_tensor *all[] = {a, b, v3, ia, s0, v2, u8, z3, i32z, X, W, R, Wbad, L};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) onyx_tensor_free(all[i]);
}

int main(void)
{
    test_matmul_random();
    test_matmul_wrap();
    test_gemm_random();
    test_einsum();
    test_det();
    test_matmul_integer();
    test_qlinear_matmul();
    test_quantize_rounding();
    test_quantize_axis_block();
    test_dynamic_quantize();
    test_rnn();
    test_errors();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
