/* test_hot.c - the vectorized kernels of ops/hot.h against double-precision
 * references, for every ISA table this machine has (hot_kernels_for), on
 * awkward lengths (1, 3, 17, non-multiples of the vector width), plus the
 * operators that use them (Softmax, LayerNormalization, Erf, Add..., ai.onyx
 * Attention and Gelu) run through their op definitions against naive
 * references, including their error paths.
 *
 * The operator-level part runs at the ISA the process was started with;
 * main() re-runs this binary with ONYX_ISA=avx2 (on AVX-512 machines) and
 * ONYX_ISA=generic so each operator's fast and reference paths are both
 * exercised: on aarch64 (under qemu-aarch64 in make cross) that is NEON, then
 * generic. Prints
 * "N passed, N failed" last; exits non-zero on any failure. */
#include "../../ops/hot.h"
#include "../../runtime/threads.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond, ...)                                \
    do {                                                \
        if (cond) {                                     \
            passed++;                                   \
        } else {                                        \
            failed++;                                   \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                        \
            printf("\n");                               \
        }                                               \
    } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(double lo, double hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

static float *randv(int64_t n, double lo, double hi)
{
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (float)uniform(lo, hi);
    return v;
}

static const int64_t lengths[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257, 1000};
#define N_LENGTHS (int)(sizeof lengths / sizeof lengths[0])

/* ---- the math functions: dense sweeps, error against libm in double ---- */
typedef double (*ref_fn)(double x, const hot_params *p);
static double r_relu(double x, const hot_params *p) { (void)p; return x < 0 ? 0 : x; }
static double r_leaky(double x, const hot_params *p) { return x < 0 ? p->alpha * x : x; }
static double r_clip(double x, const hot_params *p) { return x < p->alpha ? p->alpha : x > p->beta ? p->beta : x; }
static double r_sigmoid(double x, const hot_params *p) { (void)p; return 1 / (1 + exp(-x)); }
static double r_hsig(double x, const hot_params *p)
{
    double v = p->alpha * x + p->beta;
    return v < 0 ? 0 : v > 1 ? 1 : v;
}
static double r_hswish(double x, const hot_params *p)
{
    (void)p;
    double v = x / 6 + 0.5;
    return x * (v < 0 ? 0 : v > 1 ? 1 : v);
}
static double r_silu(double x, const hot_params *p) { (void)p; return x / (1 + exp(-x)); }
static double r_tanh(double x, const hot_params *p) { (void)p; return tanh(x); }
static double r_gelu(double x, const hot_params *p) { (void)p; return 0.5 * x * (1 + erf(x / sqrt(2.0))); }
static double r_gelu_tanh(double x, const hot_params *p)
{
    (void)p;
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double r_exp(double x, const hot_params *p) { (void)p; return exp(x); }
static double r_erf(double x, const hot_params *p) { (void)p; return erf(x); }
static double r_sqrt(double x, const hot_params *p) { (void)p; return sqrt(x); }
static double r_abs(double x, const hot_params *p) { (void)p; return fabs(x); }
static double r_neg(double x, const hot_params *p) { (void)p; return -x; }

static const struct {
    hot_map op;
    const char *name;
    ref_fn ref;
    double lo, hi;
    double abs_tol, rel_tol; /* error <= abs_tol + rel_tol * |ref| */
} maps[] = {
    {HOT_RELU, "relu", r_relu, -5, 5, 0, 0},
    {HOT_LEAKY_RELU, "leaky_relu", r_leaky, -5, 5, 0, 1e-7},
    {HOT_CLIP, "clip", r_clip, -5, 5, 0, 0},
    {HOT_SIGMOID, "sigmoid", r_sigmoid, -90, 90, 1e-30, 5e-7},
    {HOT_HARD_SIGMOID, "hard_sigmoid", r_hsig, -8, 8, 1e-7, 1e-7},
    {HOT_HARD_SWISH, "hard_swish", r_hswish, -8, 8, 1e-7, 2e-7},
    {HOT_SILU, "silu", r_silu, -30, 30, 1e-12, 5e-7},
    {HOT_TANH, "tanh", r_tanh, -12, 12, 3e-7, 0},
    {HOT_GELU, "gelu", r_gelu, -10, 10, 3e-7, 3e-7},
    {HOT_GELU_TANH, "gelu_tanh", r_gelu_tanh, -10, 10, 3e-7, 3e-7},
    {HOT_EXP, "exp", r_exp, -87.3, 88.7, 0, 3e-7},
    {HOT_ERF, "erf", r_erf, -6, 6, 3e-7, 0},
    {HOT_SQRT, "sqrt", r_sqrt, 0, 1000, 0, 1.2e-7},
    {HOT_ABS, "abs", r_abs, -5, 5, 0, 0},
    {HOT_NEG, "neg", r_neg, -5, 5, 0, 0},
};

static void test_maps(const hot_kernels *hk)
{
    const hot_params prm[] = {{0.1f, 0.6f}, {-1.5f, 2.0f}};
    for (size_t m = 0; m < sizeof maps / sizeof maps[0]; m++) {
        /* a dense sweep of the range plus random awkward lengths */
        const int64_t n = 200003;
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        for (int64_t i = 0; i < n; i++) x[i] = (float)(maps[m].lo + (maps[m].hi - maps[m].lo) * i / (n - 1));
        const hot_params *p = maps[m].op == HOT_CLIP ? &prm[1] : &prm[0];
        hk->map[maps[m].op](x, y, n, p);
        double worst = 0;
        int64_t at = 0;
        for (int64_t i = 0; i < n; i++) {
            double r = maps[m].ref(x[i], p), e = fabs(y[i] - r);
            double allowed = maps[m].abs_tol + maps[m].rel_tol * fabs(r);
            double ratio = allowed > 0 ? e / allowed : (e > 0 ? INFINITY : 0);
            if (ratio > worst) worst = ratio, at = i;
        }
        CHECK(worst <= 1, "%s %s: error %.3g x tolerance at x=%.9g (got %.9g, want %.9g)",
              onyx_isa_name(hk->isa), maps[m].name, worst, x[at], y[at], maps[m].ref(x[at], p));
        const hot_map op = maps[m].op;
        if (op == HOT_SIGMOID || op == HOT_SILU || op == HOT_TANH || op == HOT_GELU ||
            op == HOT_GELU_TANH || op == HOT_EXP || op == HOT_ERF) { /* the figures docs quote */
            double abs_err = 0, rel_err = 0;
            for (int64_t i = 0; i < n; i++) {
                double r = maps[m].ref(x[i], p), e = fabs(y[i] - r);
                if (fabs(r) <= 1) abs_err = fmax(abs_err, e);
                if (fabs(r) >= 1e-3) rel_err = fmax(rel_err, e / fabs(r));
            }
            printf("  %s %-9s on [%g, %g]: max abs err %.2e (|ref| <= 1), max rel err %.2e (|ref| >= 1e-3), "
                   "%.2f of the tolerance\n",
                   onyx_isa_name(hk->isa), maps[m].name, maps[m].lo, maps[m].hi, abs_err, rel_err, worst);
        }
        for (int l = 0; l < N_LENGTHS; l++) {
            int64_t len = lengths[l];
            float *xs = randv(len + 1, maps[m].lo, maps[m].hi), *ys = malloc((len + 1) * sizeof *ys);
            ys[len] = 12345.0f; /* the tail store must stop at n */
            hk->map[maps[m].op](xs, ys, len, p);
            int bad = 0;
            for (int64_t i = 0; i < len; i++) {
                double r = maps[m].ref(xs[i], p);
                bad += !(fabs(ys[i] - r) <= maps[m].abs_tol + maps[m].rel_tol * fabs(r));
            }
            CHECK(!bad && ys[len] == 12345.0f, "%s %s n=%lld: %d bad or overrun", onyx_isa_name(hk->isa),
                  maps[m].name, (long long)len, bad);
            free(xs);
            free(ys);
        }
        free(x);
        free(y);
    }
    /* special values */
    const float sp[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 100.0f, -100.0f, 1e-30f};
    float y[8];
    hk->map[HOT_EXP](sp, y, 8, NULL);
    CHECK(isnan(y[0]) && y[1] == INFINITY && y[2] == 0 && y[3] == 1 && y[5] == INFINITY && y[6] == 0,
          "%s exp specials: %g %g %g %g %g %g", onyx_isa_name(hk->isa), y[0], y[1], y[2], y[3], y[5], y[6]);
    hk->map[HOT_ERF](sp, y, 8, NULL);
    CHECK(isnan(y[0]) && y[1] == 1 && y[2] == -1 && y[3] == 0 && y[5] == 1 && y[6] == -1 && fabs(y[7] - 1.1283792e-30) < 1e-36,
          "%s erf specials: %g %g %g %g %g %g %g", onyx_isa_name(hk->isa), y[0], y[1], y[2], y[3], y[5], y[6], y[7]);
    hk->map[HOT_TANH](sp, y, 8, NULL);
    CHECK(isnan(y[0]) && y[1] == 1 && y[2] == -1 && y[3] == 0 && y[5] == 1 && y[6] == -1,
          "%s tanh specials", onyx_isa_name(hk->isa));
    hk->map[HOT_SIGMOID](sp, y, 8, NULL);
    CHECK(isnan(y[0]) && y[1] == 1 && y[2] == 0 && y[3] == 0.5f, "%s sigmoid specials", onyx_isa_name(hk->isa));
    hk->map[HOT_RELU](sp, y, 8, NULL);
    CHECK(isnan(y[0]) && y[2] == 0 && y[5] == 100, "%s relu keeps NaN", onyx_isa_name(hk->isa));
}

static void test_binary(const hot_kernels *hk)
{
    for (int op = 0; op < HOT_BINOP_COUNT; op++) {
        for (int l = 0; l < N_LENGTHS; l++) {
            int64_t n = lengths[l];
            for (int mode = 0; mode < 4; mode++) {
                int64_t sa = mode & 1 ? 0 : 1, sb = mode & 2 ? 0 : 1;
                float *a = randv(n, -3, 3), *b = randv(n, 0.5, 4), *y = malloc((n + 1) * sizeof *y);
                y[n] = 777.0f;
                hk->binary[op](a, sa, b, sb, y, n);
                int bad = 0;
                for (int64_t i = 0; i < n; i++) {
                    float x0 = a[i * sa], x1 = b[i * sb];
                    float r = op == HOT_ADD ? x0 + x1 : op == HOT_SUB ? x0 - x1 : op == HOT_MUL ? x0 * x1
                            : op == HOT_DIV ? x0 / x1 : fmaxf(x0, x1);
                    bad += y[i] != r;
                }
                CHECK(!bad && y[n] == 777.0f, "%s binary op %d n=%lld strides %lld,%lld: %d bad",
                      onyx_isa_name(hk->isa), op, (long long)n, (long long)sa, (long long)sb, bad);
                free(a);
                free(b);
                free(y);
            }
        }
    }
}

/* fmax ignores a NaN operand (MaxPool's rule) on every ISA, in full vectors,
 * tails and broadcasts */
static void test_fmax_nan(const hot_kernels *hk)
{
    enum { N = 37 };
    float a[N], b[N], y[N];
    for (int i = 0; i < N; i++) {
        a[i] = i % 3 == 0 ? NAN : (float)(i % 5) - 2.0f;
        b[i] = i % 4 == 1 ? NAN : (float)(i % 7) - 3.0f;
    }
    int bad = 0;
    for (int mode = 0; mode < 4; mode++) {
        const int64_t sa = mode & 1 ? 0 : 1, sb = mode & 2 ? 0 : 1;
        const int off = mode == 3 ? 1 : 0; /* both scalar: a number and a NaN */
        hk->binary[HOT_FMAX](a + off, sa, b + off, sb, y, N - 1);
        for (int i = 0; i < N - 1; i++) {
            const float r = fmaxf(a[off + i * sa], b[off + i * sb]);
            bad += !(y[i] == r || (isnan(y[i]) && isnan(r)));
        }
    }
    CHECK(!bad, "%s fmax with NaN operands: %d wrong", onyx_isa_name(hk->isa), bad);
}

static void test_softmax_norm(const hot_kernels *hk)
{
    for (int l = 0; l < N_LENGTHS; l++) {
        int64_t n = lengths[l];
        for (int lg = 0; lg < 2; lg++) {
            float *x = randv(n, -20, 20), *y = malloc((n + 1) * sizeof *y);
            y[n] = 5.0f;
            hk->softmax(x, y, n, lg);
            double mx = -INFINITY, s = 0, worst = 0;
            for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
            for (int64_t i = 0; i < n; i++) s += exp(x[i] - mx);
            for (int64_t i = 0; i < n; i++) {
                double r = lg ? x[i] - mx - log(s) : exp(x[i] - mx) / s;
                /* x - max rounds in float: relative error grows with |x - max| */
                double e = fabs(y[i] - r) / (1e-6 * (1 + fabs(x[i] - mx)) * (lg ? 1 + fabs(r) : fabs(r)) + 1e-30);
                worst = e > worst ? e : worst;
            }
            CHECK(worst <= 1 && y[n] == 5.0f, "%s %ssoftmax n=%lld: error %.3g x tol",
                  onyx_isa_name(hk->isa), lg ? "log" : "", (long long)n, worst);
            free(x);
            free(y);
        }
        /* mean and variance of data far from 0 (cancellation-prone) */
        float *x = randv(n, 1000, 1001);
        double mean, var, rm = 0, rv = 0;
        hk->mean_var(x, n, &mean, &var);
        for (int64_t i = 0; i < n; i++) rm += x[i];
        rm /= n;
        for (int64_t i = 0; i < n; i++) rv += (x[i] - rm) * (x[i] - rm);
        rv /= n;
        CHECK(fabs(mean - rm) <= 1e-4 && fabs(var - rv) <= 1e-4 * rv + 1e-6,
              "%s mean_var n=%lld: %.9g %.9g vs %.9g %.9g", onyx_isa_name(hk->isa), (long long)n,
              mean, var, rm, rv);
        float *g = randv(n, -2, 2), *b = randv(n, -1, 1), *y = malloc((n + 1) * sizeof *y);
        y[n] = 9.0f;
        hk->scale_shift_row(x, y, n, (float)rm, 3.0f, g, b);
        int bad = 0;
        for (int64_t i = 0; i < n; i++) {
            double r = (x[i] - (float)rm) * 3.0 * g[i] + b[i];
            bad += fabs(y[i] - r) > 1e-4 * (1 + fabs(r));
        }
        hk->affine(x, y, n, 0.5f, -2.0f);
        for (int64_t i = 0; i < n; i++) bad += fabs(y[i] - (x[i] * 0.5 - 2.0)) > 1e-4;
        CHECK(!bad && y[n] == 9.0f, "%s scale_shift/affine n=%lld: %d bad", onyx_isa_name(hk->isa),
              (long long)n, bad);
        free(x);
        free(g);
        free(b);
        free(y);
    }
}

/* The exp softmax takes of x - max <= 0 (vf_exp_nonpos), over its whole
 * domain: rows [0, x1 .. x5], so y_i / y_0 = e^x_i up to one more rounding;
 * -inf and anything below -87.7 give exactly 0. */
static void test_softmax_exp(const hot_kernels *hk)
{
    enum { ROW = 6, POINTS = 40000 };
    double worst = 0, at = 0;
    int zeros_bad = 0;
    for (int64_t i0 = 0; i0 < POINTS; i0 += ROW - 1) {
        float x[ROW], y[ROW];
        x[0] = 0.0f;
        for (int j = 1; j < ROW; j++) x[j] = (float)(-87.3 * (double)(i0 + j - 1) / (POINTS - 1));
        hk->softmax(x, y, ROW, false);
        for (int j = 1; j < ROW; j++) {
            const double r = exp((double)x[j]), e = fabs((double)y[j] / y[0] - r) / r;
            if (e > worst) worst = e, at = x[j];
        }
        const float tiny[ROW] = {0.0f, -INFINITY, -88.0f, -87.7f, -100.0f, -1e30f};
        hk->softmax(tiny, y, ROW, false);
        zeros_bad += y[0] != 1.0f || y[1] != 0 || y[2] != 0 || y[3] != 0 || y[4] != 0 || y[5] != 0;
    }
    CHECK(worst <= 3.6e-7 && !zeros_bad, "%s softmax exp on [-87.3, 0]: rel err %.3g at %.9g, %d rows not 0",
          onyx_isa_name(hk->isa), worst, at, zeros_bad);
    printf("  %s exp(x <= 0) in softmax on [-87.3, 0]: max rel err %.2e (with the division's rounding)\n",
           onyx_isa_name(hk->isa), worst);
}

/* naive attention in double for one (batch, head) */
static void ref_attention(const float *q, const float *k, const float *v, double *y, int64_t nq,
                          int64_t d, int64_t dv, int64_t nk, bool kt, double scale)
{
    double *s = malloc((size_t)nk * sizeof *s);
    for (int64_t i = 0; i < nq; i++) {
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < nk; j++) {
            double acc = 0;
            for (int64_t c = 0; c < d; c++) acc += (double)q[i * d + c] * (kt ? k[c * nk + j] : k[j * d + c]);
            s[j] = acc * scale;
            mx = s[j] > mx ? s[j] : mx;
        }
        for (int64_t j = 0; j < nk; j++) sum += s[j] = exp(s[j] - mx);
        for (int64_t c = 0; c < dv; c++) {
            double acc = 0;
            for (int64_t j = 0; j < nk; j++) acc += s[j] * v[j * dv + c];
            y[i * dv + c] = acc / sum;
        }
    }
    free(s);
}

/* Rows n x w of a, copied into rows ld apart; the gaps hold NaN, which
 * must never reach a result. */
static float *strided_copy(const float *a, int64_t n, int64_t w, int64_t ld)
{
    float *s = malloc((size_t)(n * ld + 1) * sizeof *s);
    for (int64_t i = 0; i < n * ld + 1; i++) s[i] = NAN;
    for (int64_t i = 0; i < n; i++) memcpy(s + i * ld, a + i * w, (size_t)w * sizeof *s);
    return s;
}

static void test_attention_kernel(const hot_kernels *hk)
{
    const int64_t shapes[][4] = {/* nq, nk, d, dv */
                                 {1, 1, 1, 1},    {3, 17, 5, 3},   {17, 33, 16, 16}, {5, 64, 64, 64},
                                 {257, 257, 64, 64}, {4, 100, 7, 19}, {9, 31, 32, 17},
                                 {13, 200, 64, 80}, {70, 129, 3, 47}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int64_t nq = shapes[t][0], nk = shapes[t][1], d = shapes[t][2], dv = shapes[t][3];
        for (int kt = 0; kt < 2; kt++)
            for (int strided = 0; strided < 2; strided++) {
                /* strided: rows further apart than their length (interleaved heads) */
                const int64_t ldq = d + 5 * strided, ldv = dv + 7 * strided, ldy = dv + 4 * strided;
                const int64_t kw = kt ? nk : d, kn = kt ? d : nk, ldk = kw + 2 * strided;
                float *q = randv(nq * d, -2, 2), *k = randv(nk * d, -2, 2), *v = randv(nk * dv, -1, 1);
                float *qs = strided_copy(q, nq, d, ldq), *ks = strided_copy(k, kn, kw, ldk);
                float *vs = strided_copy(v, nk, dv, ldv);
                float *y = malloc((size_t)(nq * ldy + 1) * sizeof *y);
                for (int64_t i = 0; i < nq * ldy + 1; i++) y[i] = 3.0f;
                double *r = malloc((size_t)(nq * dv) * sizeof *r);
                float *scratch = malloc((size_t)hot_attention_scratch(dv) * sizeof *scratch);
                float *packed = malloc((size_t)hot_attention_packed_floats(d, nk) * sizeof *packed);
                hot_attention_pack_k(ks, ldk, d, nk, kt, packed);
                float scale = 1.0f / sqrtf((float)d);
                /* two calls splitting the rows, as the threads do */
                int64_t mid = nq / 2;
                hk->attention(qs, ldq, packed, vs, ldv, y, ldy, 0, mid, d, dv, nk, scale, scratch);
                hk->attention(qs, ldq, packed, vs, ldv, y, ldy, mid, nq, d, dv, nk, scale, scratch);
                ref_attention(q, k, v, r, nq, d, dv, nk, kt, scale);
                double worst = 0;
                int64_t gaps = 0;
                for (int64_t i = 0; i < nq; i++) {
                    for (int64_t c = 0; c < dv; c++) worst = fmax(worst, fabs(y[i * ldy + c] - r[i * dv + c]));
                    for (int64_t c = dv; c < ldy; c++) gaps += y[i * ldy + c] != 3.0f;
                }
                CHECK(worst <= 2e-6 && gaps == 0 && y[nq * ldy] == 3.0f,
                      "%s attention nq=%lld nk=%lld d=%lld dv=%lld kt=%d strided=%d: max err %.3g, %lld gap values written",
                      onyx_isa_name(hk->isa), (long long)nq, (long long)nk, (long long)d, (long long)dv, kt, strided,
                      worst, (long long)gaps);
                free(q), free(k), free(v), free(qs), free(ks), free(vs);
                free(y);
                free(r);
                free(scratch);
                free(packed);
            }
    }
}

/* ---- operators through their definitions, at this process's ISA ----
 * on a pool of 3 threads, so the threaded paths split their work (unevenly:
 * 3 divides few of the sizes) */
static onyx_threads *pool;

static onyx_status run_op(const char *domain, const char *op, int opset, int n_in,
                          const onyx_tensor *const *ins, int n_attrs, const onyx_attr *attrs,
                          onyx_tensor *out, onyx_error *err)
{
    const onyx_op_def *def = onyx_find_op(domain, op);
    if (!def) {
        snprintf(err->message, sizeof err->message, "no operator %s", op);
        return err->code = ONYX_E_UNSUPPORTED;
    }
    onyx_tensor *outs[1] = {out};
    onyx_kctx k = {.node_name = "test", .op_type = op, .domain = domain, .opset = opset,
                   .n_attrs = n_attrs, .attrs = attrs, .n_inputs = n_in, .inputs = ins,
                   .n_outputs = 1, .outputs = outs, .err = err, .threads = pool};
    void *state = NULL;
    onyx_status st = ONYX_OK;
    if (def->prepare) st = def->prepare(&k, &state);
    k.state = state;
    if (!st) st = def->run(&k);
    if (def->release) def->release(state);
    return st;
}

static onyx_tensor *tensor_rand(int rank, const int64_t *dims, double lo, double hi)
{
    onyx_tensor *t = onyx_tensor_create(ONYX_FLOAT, rank, dims);
    float *p = t->data;
    for (int64_t i = 0; i < onyx_tensor_numel(t); i++) p[i] = (float)uniform(lo, hi);
    return t;
}

/* num_heads: one input X [B, N, 3 H d] (the qkv projection of a ViT), each
 * head's rows read in place; Y [B, N, H, d] against the naive reference on
 * the heads copied out */
static void test_attention_packed_op(void)
{
    const int64_t shapes[][4] = {{1, 1, 1, 1}, {2, 17, 3, 8}, {1, 257, 6, 64}, {2, 5, 2, 3}}; /* B, N, H, d */
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int64_t B = shapes[t][0], N = shapes[t][1], H = shapes[t][2], d = shapes[t][3], C = 3 * H * d;
        int64_t xd[3] = {B, N, C};
        onyx_tensor *x = tensor_rand(3, xd, -1, 1);
        const onyx_tensor *ins[1] = {x};
        onyx_attr attrs[2] = {{.name = "num_heads", .type = ATTR_INT, .i = H},
                              {.name = "scale", .type = ATTR_FLOAT, .f = 0.3f}};
        onyx_tensor out = {0};
        onyx_error err = {0};
        onyx_status st = run_op("ai.onyx", "Attention", 1, 1, ins, 2, attrs, &out, &err);
        double worst = 0;
        if (!st && out.rank == 4) {
            float *q = malloc((size_t)(3 * N * d) * sizeof *q), *k = q + N * d, *v = k + N * d;
            double *r = malloc((size_t)(N * d) * sizeof *r);
            const float *X = x->data, *Y = out.data;
            for (int64_t b = 0; b < B; b++)
                for (int64_t h = 0; h < H; h++) {
                    for (int64_t i = 0; i < N; i++)
                        for (int64_t c = 0; c < d; c++) {
                            q[i * d + c] = X[(b * N + i) * C + h * d + c];
                            k[i * d + c] = X[(b * N + i) * C + (H + h) * d + c];
                            v[i * d + c] = X[(b * N + i) * C + (2 * H + h) * d + c];
                        }
                    ref_attention(q, k, v, r, N, d, d, N, 0, 0.3);
                    for (int64_t i = 0; i < N; i++)
                        for (int64_t c = 0; c < d; c++)
                            worst = fmax(worst, fabs(Y[((b * N + i) * H + h) * d + c] - r[i * d + c]));
                }
            free(q);
            free(r);
        }
        CHECK(!st && out.rank == 4 && out.dims[0] == B && out.dims[1] == N && out.dims[2] == H && out.dims[3] == d &&
                  worst <= 2e-6,
              "packed Attention B=%lld N=%lld H=%lld d=%lld: %s err %.3g", (long long)B, (long long)N, (long long)H,
              (long long)d, err.message, worst);
        tensor_release(&out);
        onyx_tensor_free(x);
    }
    /* channels that do not split into 3 x num_heads heads */
    int64_t xd[3] = {1, 4, 10};
    onyx_tensor *x = tensor_rand(3, xd, -1, 1);
    const onyx_tensor *ins[1] = {x};
    onyx_attr heads = {.name = "num_heads", .type = ATTR_INT, .i = 2};
    onyx_tensor out = {0};
    onyx_error err = {0};
    onyx_status st = run_op("ai.onyx", "Attention", 1, 1, ins, 1, &heads, &out, &err);
    CHECK(st == ONYX_E_SHAPE && strstr(err.message, "num_heads"), "packed Attention 10 channels, 2 heads: %s",
          err.message);
    onyx_tensor_free(x);
}

static void test_attention_op(void)
{
    const int64_t shapes[][5] = {{1, 1, 1, 1, 1}, {2, 3, 17, 9, 8}, {1, 6, 257, 257, 64}, {2, 2, 5, 33, 3}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        int64_t B = shapes[t][0], H = shapes[t][1], nq = shapes[t][2], nk = shapes[t][3], d = shapes[t][4];
        for (int kt = 0; kt < 2; kt++) {
            int64_t qd[4] = {B, H, nq, d}, kd[4] = {B, H, kt ? d : nk, kt ? nk : d}, vd[4] = {B, H, nk, d};
            onyx_tensor *q = tensor_rand(4, qd, -1, 1), *k = tensor_rand(4, kd, -1, 1), *v = tensor_rand(4, vd, -1, 1);
            const onyx_tensor *ins[3] = {q, k, v};
            onyx_attr attrs[2] = {{.name = "k_transposed", .type = ATTR_INT, .i = kt},
                                  {.name = "scale", .type = ATTR_FLOAT, .f = 0.3f}};
            onyx_tensor out = {0};
            onyx_error err = {0};
            onyx_status st = run_op("ai.onyx", "Attention", 1, 3, ins, 2, attrs, &out, &err);
            double worst = 0;
            if (!st) {
                double *r = malloc((size_t)(nq * d) * sizeof *r);
                for (int64_t bh = 0; bh < B * H; bh++) {
                    ref_attention((float *)q->data + bh * nq * d, (float *)k->data + bh * nk * d,
                                  (float *)v->data + bh * nk * d, r, nq, d, d, nk, kt, 0.3);
                    for (int64_t i = 0; i < nq * d; i++)
                        worst = fmax(worst, fabs(((float *)out.data)[bh * nq * d + i] - r[i]));
                }
                free(r);
            }
            CHECK(!st && out.rank == 4 && out.dims[2] == nq && out.dims[3] == d && worst <= 2e-6,
                  "Attention op %lldx%lldx%lldx%lld kt=%d: %s err %.3g", (long long)B, (long long)H,
                  (long long)nq, (long long)nk, kt, err.message, worst);
            tensor_release(&out);
            onyx_tensor_free(q);
            onyx_tensor_free(k);
            onyx_tensor_free(v);
        }
    }
    /* mismatched shapes are an error naming the problem */
    int64_t qd[4] = {1, 2, 3, 4}, kd[4] = {1, 2, 5, 6}, vd[4] = {1, 2, 5, 4}, bad3[3] = {2, 3, 4};
    onyx_tensor *q = tensor_rand(4, qd, -1, 1), *k = tensor_rand(4, kd, -1, 1), *v = tensor_rand(4, vd, -1, 1);
    onyx_tensor *r3 = tensor_rand(3, bad3, -1, 1);
    const onyx_tensor *ins[3] = {q, k, v};
    onyx_tensor out = {0};
    onyx_error err = {0};
    onyx_status st = run_op("ai.onyx", "Attention", 1, 3, ins, 0, NULL, &out, &err);
    CHECK(st == ONYX_E_SHAPE && strstr(err.message, "K"), "Attention d mismatch: %s", err.message);
    const onyx_tensor *ins3[3] = {r3, k, v};
    err = (onyx_error){0};
    st = run_op("ai.onyx", "Attention", 1, 3, ins3, 0, NULL, &out, &err);
    CHECK(st != ONYX_OK && strstr(err.message, "rank"), "Attention rank: %s", err.message);
    tensor_release(&out);
    onyx_tensor_free(q);
    onyx_tensor_free(k);
    onyx_tensor_free(v);
    onyx_tensor_free(r3);
}

/* y = op(x) through the definition vs the double reference, on sizes that do
 * and do not reach the threaded path */
static void test_unary_ops(void)
{
    static const struct {
        const char *domain, *op;
        int opset;
        ref_fn ref;
        double lo, hi, abs_tol, rel_tol;
    } ops[] = {
        {"", "Erf", 13, r_erf, -5, 5, 3e-7, 0},
        {"", "Exp", 13, r_exp, -50, 50, 0, 3e-7},
        {"", "Sqrt", 13, r_sqrt, 0, 50, 0, 1.2e-7},
        {"", "Relu", 14, r_relu, -5, 5, 0, 0},
        {"", "Sigmoid", 13, r_sigmoid, -20, 20, 1e-30, 5e-7},
        {"", "Tanh", 13, r_tanh, -10, 10, 3e-7, 0},
        {"", "HardSwish", 14, r_hswish, -8, 8, 1e-7, 2e-7},
        {"ai.onyx", "Gelu", 1, r_gelu, -8, 8, 3e-7, 3e-7},
        {"", "Gelu", 20, r_gelu, -8, 8, 3e-7, 3e-7},
    };
    const int64_t sizes[] = {1, 17, 1000, 300001};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            onyx_tensor *x = tensor_rand(1, &sizes[s], ops[o].lo, ops[o].hi);
            const onyx_tensor *ins[1] = {x};
            onyx_tensor out = {0};
            onyx_error err = {0};
            onyx_status st = run_op(ops[o].domain, ops[o].op, ops[o].opset, 1, ins, 0, NULL, &out, &err);
            int bad = 0;
            for (int64_t i = 0; !st && i < sizes[s]; i++) {
                double r = ops[o].ref(((float *)x->data)[i], NULL);
                bad += !(fabs(((float *)out.data)[i] - r) <= ops[o].abs_tol + ops[o].rel_tol * fabs(r) + 1e-7 * fabs(r));
            }
            CHECK(!st && !bad, "%s n=%lld: %s %d bad", ops[o].op, (long long)sizes[s], err.message, bad);
            tensor_release(&out);
            onyx_tensor_free(x);
        }
    }
}

static void test_binary_ops(void)
{
    static const char *const names[] = {"Add", "Sub", "Mul", "Div"};
    /* same shape, scalar either side, per-channel, last axis, both broadcast */
    static const int64_t shapes[][2][4] = {
        {{2, 3, 5, 7}, {2, 3, 5, 7}}, {{2, 3, 5, 7}, {1, 1, 1, 1}}, {{1, 1, 1, 1}, {2, 3, 5, 7}},
        {{1, 16, 33, 33}, {1, 16, 1, 1}}, {{2, 17, 9, 1}, {1, 1, 1, 9}}, {{1, 64, 128, 128}, {1, 64, 1, 1}},
        {{1, 1, 257, 384}, {1, 1, 1, 384}}, {{3, 1, 5, 1}, {1, 4, 1, 6}}};
    for (int op = 0; op < 4; op++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            onyx_tensor *a = tensor_rand(4, shapes[s][0], -3, 3), *b = tensor_rand(4, shapes[s][1], 0.5, 3);
            const onyx_tensor *ins[2] = {a, b};
            onyx_tensor out = {0};
            onyx_error err = {0};
            onyx_status st = run_op("", names[op], 14, 2, ins, 0, NULL, &out, &err);
            int bad = 0;
            int64_t n = st ? 0 : onyx_tensor_numel(&out);
            for (int64_t i = 0; i < n; i++) {
                int64_t idx[4], rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
                for (int d = 3; d >= 0; d--) {
                    idx[d] = rem % out.dims[d];
                    rem /= out.dims[d];
                    ia += (shapes[s][0][d] == 1 ? 0 : idx[d]) * sa;
                    ib += (shapes[s][1][d] == 1 ? 0 : idx[d]) * sb;
                    sa *= shapes[s][0][d];
                    sb *= shapes[s][1][d];
                }
                float x0 = ((float *)a->data)[ia], x1 = ((float *)b->data)[ib];
                float r = op == 0 ? x0 + x1 : op == 1 ? x0 - x1 : op == 2 ? x0 * x1 : x0 / x1;
                bad += ((float *)out.data)[i] != r;
            }
            CHECK(!st && !bad, "%s shape case %zu: %s %d bad", names[op], s, err.message, bad);
            tensor_release(&out);
            onyx_tensor_free(a);
            onyx_tensor_free(b);
        }
    }
}

static void test_softmax_layernorm_ops(void)
{
    const int64_t shapes[][3] = {{1, 1, 1}, {2, 3, 17}, {6, 257, 257}, {1, 5, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t n = shapes[s][2], rows = shapes[s][0] * shapes[s][1];
        onyx_tensor *x = tensor_rand(3, shapes[s], -10, 10);
        const float *xd = x->data;
        for (int lg = 0; lg < 2; lg++) {
            const onyx_tensor *ins[1] = {x};
            onyx_tensor out = {0};
            onyx_error err = {0};
            onyx_status st = run_op("", lg ? "LogSoftmax" : "Softmax", 13, 1, ins, 0, NULL, &out, &err);
            double worst = 0;
            for (int64_t r = 0; !st && r < rows; r++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t i = 0; i < n; i++) mx = fmax(mx, xd[r * n + i]);
                for (int64_t i = 0; i < n; i++) sum += exp(xd[r * n + i] - mx);
                for (int64_t i = 0; i < n; i++) {
                    double ref = lg ? xd[r * n + i] - mx - log(sum) : exp(xd[r * n + i] - mx) / sum;
                    double e = fabs(((float *)out.data)[r * n + i] - ref) /
                               (1e-6 * (1 + fabs(xd[r * n + i] - mx)) * (lg ? 1 + fabs(ref) : fabs(ref)) + 1e-30);
                    worst = fmax(worst, e);
                }
            }
            CHECK(!st && worst <= 1, "%s %lldx%lld: %s err %.3g x tol", lg ? "LogSoftmax" : "Softmax",
                  (long long)rows, (long long)n, err.message, worst);
            tensor_release(&out);
        }
        /* LayerNormalization over the last axis with scale and bias */
        onyx_tensor *g = tensor_rand(1, &n, 0.5, 2), *b = tensor_rand(1, &n, -1, 1);
        const onyx_tensor *ins[3] = {x, g, b};
        onyx_attr eps = {.name = "epsilon", .type = ATTR_FLOAT, .f = 1e-5f};
        onyx_tensor out = {0};
        onyx_error err = {0};
        onyx_status st = run_op("", "LayerNormalization", 17, 3, ins, 1, &eps, &out, &err);
        double worst = 0;
        for (int64_t r = 0; !st && r < rows; r++) {
            double mu = 0, var = 0;
            for (int64_t i = 0; i < n; i++) mu += xd[r * n + i];
            mu /= n;
            for (int64_t i = 0; i < n; i++) var += (xd[r * n + i] - mu) * (xd[r * n + i] - mu);
            var /= n;
            for (int64_t i = 0; i < n; i++) {
                double ref = (xd[r * n + i] - mu) / sqrt(var + 1e-5) * ((float *)g->data)[i] + ((float *)b->data)[i];
                worst = fmax(worst, fabs(((float *)out.data)[r * n + i] - ref));
            }
        }
        CHECK(!st && worst <= 2e-5, "LayerNormalization %lldx%lld: %s err %.3g", (long long)rows,
              (long long)n, err.message, worst);
        tensor_release(&out);
        onyx_tensor_free(g);
        onyx_tensor_free(b);
        onyx_tensor_free(x);
    }
}

/* MaxPool / AveragePool 2-D against a naive window loop, and Pad on H, W */
static void test_pool_pad_ops(void)
{
    static const struct {
        int64_t c, h, w, kh, kw, sh, sw, pt, pl, pb, pr, ceil, cip;
    } cases[] = {
        {3, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0},   {2, 17, 19, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0},
        {2, 17, 19, 3, 3, 2, 2, 1, 1, 1, 1, 0, 1}, {1, 9, 31, 3, 2, 2, 3, 0, 1, 2, 0, 1, 0},
        {64, 64, 64, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1},
        {2, 5, 7, 5, 5, 1, 1, 2, 2, 2, 2, 0, 1},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int64_t C = cases[t].c, H = cases[t].h, W = cases[t].w;
        int64_t xd[4] = {2, C, H, W};
        onyx_tensor *x = tensor_rand(4, xd, -5, 5);
        const float *xf = x->data;
        if (H * W > 4) ((float *)x->data)[3] = NAN; /* MaxPool skips NaN */
        for (int avg = 0; avg < 2; avg++) {
            const int64_t ks[2] = {cases[t].kh, cases[t].kw}, st[2] = {cases[t].sh, cases[t].sw};
            const int64_t pads[4] = {cases[t].pt, cases[t].pl, cases[t].pb, cases[t].pr};
            onyx_attr attrs[5] = {{.name = "kernel_shape", .type = ATTR_INTS, .n = 2, .ints = (int64_t *)ks},
                                  {.name = "strides", .type = ATTR_INTS, .n = 2, .ints = (int64_t *)st},
                                  {.name = "pads", .type = ATTR_INTS, .n = 4, .ints = (int64_t *)pads},
                                  {.name = "ceil_mode", .type = ATTR_INT, .i = cases[t].ceil},
                                  {.name = "count_include_pad", .type = ATTR_INT, .i = cases[t].cip}};
            const onyx_tensor *ins[1] = {x};
            onyx_tensor out = {0};
            onyx_error err = {0};
            onyx_status s = run_op("", avg ? "AveragePool" : "MaxPool", 19, 1, ins, avg ? 5 : 4, attrs, &out, &err);
            int bad = 0;
            if (!s) {
                const int64_t OH = out.dims[2], OW = out.dims[3];
                for (int64_t pl = 0; pl < 2 * C; pl++)
                    for (int64_t oy = 0; oy < OH; oy++)
                        for (int64_t ox = 0; ox < OW; ox++) {
                            double best = -FLT_MAX, sum = 0;
                            int64_t n = 0, padded = 0;
                            bool seen = false;
                            for (int64_t ky = 0; ky < ks[0]; ky++)
                                for (int64_t kx = 0; kx < ks[1]; kx++) {
                                    int64_t iy = oy * st[0] - pads[0] + ky, ix = ox * st[1] - pads[1] + kx;
                                    if (iy < H + pads[2] && ix < W + pads[3]) padded++;
                                    if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
                                    double v = xf[pl * H * W + iy * W + ix];
                                    n++;
                                    sum += v;
                                    if (!isnan(v) && (!seen || v > best)) best = v, seen = true;
                                }
                            double ref = avg ? sum / (cases[t].cip ? padded : n) : best;
                            double got = ((float *)out.data)[(pl * OH + oy) * OW + ox];
                            bad += !(fabs(got - ref) <= 1e-5 * (1 + fabs(ref)) || (isnan(ref) && isnan(got)));
                        }
            }
            CHECK(!s && !bad, "%s case %zu: %s %d bad", avg ? "AveragePool" : "MaxPool", t, err.message, bad);
            tensor_release(&out);
        }
        /* Pad on H and W: constant, reflect, edge */
        static const char *const modes[3] = {"constant", "reflect", "edge"};
        for (int m = 0; m < 3; m++) {
            const int64_t pads[8] = {0, 0, 1, H > 2 ? 2 : 0, 0, 0, H > 1 ? 1 : 0, 1};
            const int64_t pd[1] = {8};
            onyx_tensor *pt = onyx_tensor_create(ONYX_INT64, 1, pd);
            memcpy(pt->data, pads, sizeof pads);
            int64_t one = 1;
            onyx_tensor *cv = onyx_tensor_create(ONYX_FLOAT, 0, &one);
            *(float *)cv->data = 2.5f;
            const onyx_tensor *ins[3] = {x, pt, cv};
            onyx_attr mode = {.name = "mode", .type = ATTR_STRING, .s = modes[m], .s_len = strlen(modes[m])};
            onyx_tensor out = {0};
            onyx_error err = {0};
            onyx_status s = run_op("", "Pad", 18, 3, ins, 1, &mode, &out, &err);
            int bad = 0;
            if (!s) {
                const int64_t OH = out.dims[2], OW = out.dims[3];
                for (int64_t pl = 0; pl < 2 * C; pl++)
                    for (int64_t oy = 0; oy < OH; oy++)
                        for (int64_t ox = 0; ox < OW; ox++) {
                            int64_t iy = oy - pads[2], ix = ox - pads[3];
                            float ref;
                            if (m == 0) {
                                ref = iy < 0 || ix < 0 || iy >= H || ix >= W ? 2.5f : xf[pl * H * W + iy * W + ix];
                            } else {
                                if (m == 1) {
                                    iy = iy < 0 ? -iy : iy >= H ? 2 * (H - 1) - iy : iy;
                                    ix = ix < 0 ? -ix : ix >= W ? 2 * (W - 1) - ix : ix;
                                    if (H == 1) iy = 0;
                                    if (W == 1) ix = 0;
                                } else {
                                    iy = iy < 0 ? 0 : iy >= H ? H - 1 : iy;
                                    ix = ix < 0 ? 0 : ix >= W ? W - 1 : ix;
                                }
                                ref = xf[pl * H * W + iy * W + ix];
                            }
                            float got = ((float *)out.data)[(pl * OH + oy) * OW + ox];
                            bad += !(got == ref || (isnan(got) && isnan(ref)));
                        }
            }
            CHECK(!s && !bad, "Pad %s case %zu: %s %d bad", modes[m], t, err.message, bad);
            tensor_release(&out);
            onyx_tensor_free(pt);
            onyx_tensor_free(cv);
        }
        onyx_tensor_free(x);
    }
}

/* Re-runs this binary under a lower ISA cap; adds its counts to ours. */
static void run_child(const char *self, const char *isa)
{
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        setenv("ONYX_ISA", isa, 1);
        /* ONYX_TEST_WRAPPER (e.g. qemu-aarch64) runs a cross-compiled child under an emulator */
        const char *wrap = getenv("ONYX_TEST_WRAPPER");
        if (wrap && *wrap) execlp(wrap, wrap, self, "--child", (char *)NULL);
        else execl(self, self, "--child", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[1024];
    int p = -1, fl = -1;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%d passed, %d failed", &p, &fl) == 2) continue;
        printf("[ONYX_ISA=%s] %s", isa, line);
    }
    if (f) fclose(f);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(p >= 0 && WIFEXITED(status), "child run with ONYX_ISA=%s did not finish", isa);
    if (p >= 0) {
        passed += p;
        failed += fl;
    }
}

/* Pad of float32 on every set of axes the fast path takes (two neighbouring
 * axes: NCHW H, W; NHWC H, W with C unpadded; the last axis alone) and some
 * it leaves to the general path, against a naive index map */
static int64_t pad_src_ref(int mode, int64_t i, int64_t n)
{
    if (i >= 0 && i < n) return i;
    if (mode == 0 || n == 1) return 0; /* constant: not read */
    if (mode == 2) return i < 0 ? 0 : n - 1; /* edge */
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i; /* reflect */
    return i;
}

static void test_pad_layouts(void)
{
    static const int64_t shapes[][4] = {{1, 7, 9, 16}, {2, 3, 5, 17}, {1, 4, 4, 1}};
    static const int64_t padsets[][8] = {
        {0, 1, 2, 0, 0, 2, 1, 0}, {0, 0, 1, 2, 0, 0, 2, 1}, {0, 0, 0, 3, 0, 0, 0, 2},
        {1, 0, 0, 0, 2, 0, 0, 0}, {0, 1, 1, 1, 0, 1, 0, 1}, {0, 0, 2, 0, 0, 0, 0, 0}};
    static const char *const modes[3] = {"constant", "reflect", "edge"};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int64_t *xd = shapes[t];
        onyx_tensor *x = tensor_rand(4, xd, -5, 5);
        const float *xf = x->data;
        for (size_t ps = 0; ps < sizeof padsets / sizeof padsets[0]; ps++) {
            const int64_t *pads = padsets[ps];
            for (int m = 0; m < 3; m++) {
                bool fits = true; /* reflect needs pads smaller than the dim */
                for (int d = 0; d < 4; d++) fits &= m != 1 || (pads[d] < xd[d] && pads[d + 4] < xd[d]);
                if (!fits) continue;
                const int64_t pd[1] = {8};
                onyx_tensor *pt = onyx_tensor_create(ONYX_INT64, 1, pd);
                memcpy(pt->data, pads, 8 * sizeof *pads);
                int64_t one = 1;
                onyx_tensor *cv = onyx_tensor_create(ONYX_FLOAT, 0, &one);
                *(float *)cv->data = -1.5f;
                const onyx_tensor *ins[3] = {x, pt, cv};
                onyx_attr mode = {.name = "mode", .type = ATTR_STRING, .s = modes[m], .s_len = strlen(modes[m])};
                onyx_tensor out = {0};
                onyx_error err = {0};
                onyx_status st = run_op("", "Pad", 18, 3, ins, 1, &mode, &out, &err);
                int bad = 0;
                if (!st) {
                    int64_t od[4], n = 1;
                    for (int d = 0; d < 4; d++) n *= od[d] = xd[d] + pads[d] + pads[d + 4];
                    for (int d = 0; d < 4; d++) bad += out.dims[d] != od[d];
                    for (int64_t i = 0; i < n && !bad; i++) {
                        int64_t rem = i, src = 0;
                        bool outside = false;
                        int64_t idx[4];
                        for (int d = 3; d >= 0; d--) idx[d] = rem % od[d], rem /= od[d];
                        for (int d = 0; d < 4; d++) {
                            const int64_t p = idx[d] - pads[d];
                            outside |= p < 0 || p >= xd[d];
                            src = src * xd[d] + pad_src_ref(m, p, xd[d]);
                        }
                        const float ref = m == 0 && outside ? -1.5f : xf[src];
                        bad += ((float *)out.data)[i] != ref;
                    }
                }
                CHECK(!st && !bad, "Pad %s %lldx%lldx%lldx%lld pad set %zu: %s %d bad", modes[m], (long long)xd[0],
                      (long long)xd[1], (long long)xd[2], (long long)xd[3], ps, err.message, bad);
                tensor_release(&out);
                onyx_tensor_free(pt);
                onyx_tensor_free(cv);
            }
        }
        onyx_tensor_free(x);
    }
}

/* Transpose with every permutation of rank-4 shapes with and without size-1
 * axes (the batched 2-D tiles take NCHW <-> NHWC and more), exact; the
 * large ones run threaded: RGB images to NHWC in row runs, the others in
 * slabs */
static void test_transpose_perms(void)
{
    static const int64_t shapes[][4] = {{2, 3, 17, 19}, {1, 33, 5, 18}, {3, 1, 20, 1}, {2, 3, 101, 123},
                                        {3, 5, 130, 150}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const int64_t *xd = shapes[t];
        onyx_tensor *x = tensor_rand(4, xd, -5, 5);
        const float *xf = x->data;
        int bad_total = 0, failed_runs = 0;
        for (int p = 0; p < 256; p++) {
            int64_t perm[4] = {p & 3, (p >> 2) & 3, (p >> 4) & 3, (p >> 6) & 3};
            if (perm[0] == perm[1] || perm[0] == perm[2] || perm[0] == perm[3] || perm[1] == perm[2] ||
                perm[1] == perm[3] || perm[2] == perm[3])
                continue;
            const onyx_tensor *ins[1] = {x};
            onyx_attr pa = {.name = "perm", .type = ATTR_INTS, .n = 4, .ints = perm};
            onyx_tensor out = {0};
            onyx_error err = {0};
            if (run_op("", "Transpose", 13, 1, ins, 1, &pa, &out, &err)) {
                failed_runs++;
                continue;
            }
            int64_t xs[4] = {xd[1] * xd[2] * xd[3], xd[2] * xd[3], xd[3], 1}, i = 0;
            for (int64_t a = 0; a < xd[perm[0]]; a++)
                for (int64_t b = 0; b < xd[perm[1]]; b++)
                    for (int64_t c = 0; c < xd[perm[2]]; c++)
                        for (int64_t d = 0; d < xd[perm[3]]; d++, i++)
                            bad_total += ((float *)out.data)[i] !=
                                         xf[a * xs[perm[0]] + b * xs[perm[1]] + c * xs[perm[2]] + d * xs[perm[3]]];
            tensor_release(&out);
        }
        CHECK(!bad_total && !failed_runs, "Transpose %lldx%lldx%lldx%lld: %d wrong, %d failed", (long long)xd[0],
              (long long)xd[1], (long long)xd[2], (long long)xd[3], bad_total, failed_runs);
        onyx_tensor_free(x);
    }
}

/* Concat of three float inputs on every axis, large enough to be threaded */
static void test_concat_axes(void)
{
    for (int axis = 0; axis < 4; axis++) {
        int64_t base[4] = {2, 24, 40, 40};
        onyx_tensor *xs[3];
        int64_t extent[3] = {3, 1, 5};
        for (int i = 0; i < 3; i++) {
            int64_t d[4] = {base[0], base[1], base[2], base[3]};
            d[axis] = extent[i];
            xs[i] = tensor_rand(4, d, -1, 1);
        }
        onyx_attr ax = {.name = "axis", .type = ATTR_INT, .i = axis - 4 * (axis % 2)};
        onyx_tensor out = {0};
        onyx_error err = {0};
        onyx_status st = run_op("", "Concat", 13, 3, (const onyx_tensor *const *)xs, 1, &ax, &out, &err);
        int64_t bad = 0;
        if (!st) {
            int64_t od[4] = {base[0], base[1], base[2], base[3]};
            od[axis] = 9;
            bad = out.dims[axis] != 9;
            int64_t i = 0, idx[4];
            for (idx[0] = 0; idx[0] < od[0]; idx[0]++)
                for (idx[1] = 0; idx[1] < od[1]; idx[1]++)
                    for (idx[2] = 0; idx[2] < od[2]; idx[2]++)
                        for (idx[3] = 0; idx[3] < od[3]; idx[3]++, i++) {
                            int64_t a = idx[axis], which = a < 3 ? 0 : a < 4 ? 1 : 2;
                            int64_t sd[4] = {od[0], od[1], od[2], od[3]}, off = 0;
                            sd[axis] = extent[which];
                            for (int d = 0; d < 4; d++)
                                off = off * sd[d] + (d == axis ? a - (which == 0 ? 0 : which == 1 ? 3 : 4) : idx[d]);
                            bad += ((float *)out.data)[i] != ((float *)xs[which]->data)[off];
                        }
        }
        CHECK(!st && !bad, "Concat axis %d: %s %lld bad", axis, err.message, (long long)bad);
        tensor_release(&out);
        for (int i = 0; i < 3; i++) onyx_tensor_free(xs[i]);
    }
}

/* InstanceNormalization and GroupNormalization (threaded: > HOT_PARALLEL_MIN
 * elements) against moments in double */
static void test_group_norm_ops(void)
{
    const int64_t N = 2, C = 8, H = 130, W = 131, S = H * W, xd[4] = {N, C, H, W};
    onyx_tensor *x = tensor_rand(4, xd, -2, 3);
    const float *xf = x->data;
    for (int variant = 0; variant < 3; variant++) { /* instance; group opset 18 (per group); group opset 21 */
        const int64_t groups = variant == 0 ? C : 4, cpg = C / groups, P = variant == 1 ? groups : C;
        onyx_tensor *sc = tensor_rand(1, &P, 0.5, 2), *bi = tensor_rand(1, &P, -1, 1);
        const onyx_tensor *ins[3] = {x, sc, bi};
        onyx_attr attrs[2] = {{.name = "epsilon", .type = ATTR_FLOAT, .f = 1e-3f},
                              {.name = "num_groups", .type = ATTR_INT, .i = groups}};
        onyx_tensor out = {0};
        onyx_error err = {0};
        onyx_status st = variant == 0 ? run_op("", "InstanceNormalization", 6, 3, ins, 1, attrs, &out, &err)
                                      : run_op("", "GroupNormalization", variant == 1 ? 18 : 21, 3, ins, 2, attrs, &out, &err);
        int64_t bad = 0;
        for (int64_t n = 0; n < N && !st; n++)
            for (int64_t g = 0; g < groups; g++) {
                const float *xg = xf + (n * C + g * cpg) * S;
                double m = 0, v = 0;
                for (int64_t i = 0; i < cpg * S; i++) m += xg[i];
                m /= (double)(cpg * S);
                for (int64_t i = 0; i < cpg * S; i++) v += (xg[i] - m) * (xg[i] - m);
                v /= (double)(cpg * S);
                for (int64_t c = 0; c < cpg; c++) {
                    const int64_t p = variant == 1 ? g : g * cpg + c;
                    const double a = ((float *)sc->data)[p] / sqrt(v + 1e-3), b = ((float *)bi->data)[p];
                    for (int64_t i = 0; i < S; i++) {
                        const double r = (xg[c * S + i] - m) * a + b;
                        bad += !(fabs(((float *)out.data)[(n * C + g * cpg + c) * S + i] - r) <= 2e-5 * (1 + fabs(r)));
                    }
                }
            }
        CHECK(!st && !bad, "%s variant %d: %s %lld bad", variant ? "GroupNormalization" : "InstanceNormalization",
              variant, err.message, (long long)bad);
        tensor_release(&out);
        onyx_tensor_free(sc);
        onyx_tensor_free(bi);
    }
    onyx_tensor_free(x);
}

/* ReduceSum / ReduceMean over the axis sets of NCHW (H, W), NHWC (H, W) and
 * others, against a double sum; awkward sizes so every tail path runs */
static void test_reduce_sum_ops(void)
{
    static const int64_t shapes[][4] = {{2, 3, 17, 19}, {1, 64, 9, 70}, {1, 5, 300, 3}, {3, 1, 1, 33}};
    static const int64_t axsets[][5] = {{2, 2, 3}, {2, 1, 2}, {1, 2}, {1, 1}, {4, 0, 1, 2, 3}, {1, 3}, {2, 0, 3}, {3, 0, 1, 2}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        onyx_tensor *x = tensor_rand(4, shapes[t], -3, 3);
        const float *xf = x->data;
        const int64_t *xd = shapes[t];
        for (size_t a = 0; a < sizeof axsets / sizeof axsets[0]; a++) {
            const int64_t na = axsets[a][0];
            bool red[4] = {false, false, false, false};
            for (int64_t i = 0; i < na; i++) red[axsets[a][1 + i]] = true;
            int64_t ad[1] = {na};
            onyx_tensor *axes = onyx_tensor_create(ONYX_INT64, 1, ad);
            memcpy(axes->data, axsets[a] + 1, (size_t)na * sizeof(int64_t));
            for (int mean = 0; mean < 2; mean++) {
                const onyx_tensor *ins[2] = {x, axes};
                onyx_attr keep = {.name = "keepdims", .type = ATTR_INT, .i = (int64_t)(a % 2)};
                onyx_tensor out = {0};
                onyx_error err = {0};
                onyx_status st = run_op("", mean ? "ReduceMean" : "ReduceSum", 18, 2, ins, 1, &keep, &out, &err);
                int bad = 0;
                int64_t count = 1, on = 1;
                for (int d = 0; d < 4; d++) red[d] ? (count *= xd[d]) : (on *= xd[d]);
                if (!st) {
                    bad = onyx_tensor_numel(&out) != on;
                    double *ref = calloc((size_t)on, sizeof *ref);
                    for (int64_t i = 0; i < xd[0] * xd[1] * xd[2] * xd[3]; i++) {
                        int64_t rem = i, idx[4], o = 0;
                        for (int d = 3; d >= 0; d--) idx[d] = rem % xd[d], rem /= xd[d];
                        for (int d = 0; d < 4; d++)
                            if (!red[d]) o = o * xd[d] + idx[d];
                        ref[o] += xf[i];
                    }
                    for (int64_t o = 0; o < on && !bad; o++) {
                        const double r = mean ? ref[o] / (double)count : ref[o];
                        bad += !(fabs(((float *)out.data)[o] - r) <= 2e-6 * (1 + fabs(r)) * (mean ? 1 : sqrt((double)count)));
                    }
                    free(ref);
                }
                CHECK(!st && !bad, "%s %lldx%lldx%lldx%lld axes set %zu: %s %d bad", mean ? "ReduceMean" : "ReduceSum",
                      (long long)xd[0], (long long)xd[1], (long long)xd[2], (long long)xd[3], a, err.message, bad);
                tensor_release(&out);
            }
            onyx_tensor_free(axes);
        }
        onyx_tensor_free(x);
    }
}

int main(int argc, char **argv)
{
    bool child = argc > 1 && strcmp(argv[1], "--child") == 0;
    if (!child) {
        for (onyx_isa isa = ONYX_ISA_NEON; isa <= ONYX_ISA_AVX512; isa++) {
            const hot_kernels *hk = hot_kernels_for(isa);
            if (!hk) continue;
            printf("kernels: %s\n", onyx_isa_name(isa));
            test_maps(hk);
            test_binary(hk);
            test_fmax_nan(hk);
            test_softmax_norm(hk);
            test_softmax_exp(hk);
            test_attention_kernel(hk);
        }
    }
    pool = threads_create(3);
    test_attention_op();
    test_attention_packed_op();
    test_unary_ops();
    test_binary_ops();
    test_softmax_layernorm_ops();
    test_pool_pad_ops();
    test_reduce_sum_ops();
    test_pad_layouts();
    test_transpose_perms();
    test_concat_axes();
    test_group_norm_ops();
    threads_free(pool);
    if (!child) {
        if (onyx_cpu_info()->isa >= ONYX_ISA_AVX512) run_child(argv[0], "avx2");
        run_child(argv[0], "generic");
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
