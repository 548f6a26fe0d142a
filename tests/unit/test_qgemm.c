/* test_qgemm.c - the integer GEMM (ops/qgemm.c) and every microkernel this CPU
 * runs (VNNI and non-VNNI x86 paths, NEON dot and widening under qemu) against
 * a naive int64 product: random shapes including 1, 3, 17 and non-multiples
 * of MR, NR and 4; plain and indirect A (padding rows, offsets); uint8 and
 * int8 weights and activations with zero points through the flip and column-
 * sum corrections; int32, float and requantized epilogues with every
 * activation, bias and residual; 1 and 3 threads (bit-identical); the
 * depthwise rows. `test_qgemm --bench` prints GOP/s of ResNet-50-like shapes.
 */
#include "harness.h"
#include "../../ops/qgemm.h"

#include <time.h>

static void *xmalloc(size_t n) { return malloc(n ? n : 1); }

/* A problem: C[m x n] = sum over taps and depths of (A - za)(B - zb). A's row
 * i, tap t is an image row (or the padding row), B is [ks][kc][n]. */
typedef struct prob {
    int64_t m, n, ks, kc;
    bool a_signed, b_unsigned;
    int32_t za, zb;
    uint8_t *img;     /* the rows A points into, as given (u8 or s8 bytes) */
    int64_t img_rows;
    int64_t *row_of;  /* [m * ks]: image row, or -1 for padding */
    uint8_t *b;       /* [ks][kc][n] bytes (u8 or s8) */
} prob;

static int32_t a_val(const prob *p, int64_t i, int64_t t, int64_t c)
{
    int64_t r = p->row_of[i * p->ks + t];
    if (r < 0) return p->za;
    uint8_t v = p->img[r * p->kc + c];
    return p->a_signed ? (int8_t)v : v;
}

static int32_t b_val(const prob *p, int64_t t, int64_t c, int64_t j)
{
    uint8_t v = p->b[(t * p->kc + c) * p->n + j];
    return p->b_unsigned ? v : (int8_t)v;
}

/* The exact (A - za)(B - zb), wrapped to int32 as the kernels wrap. */
static int32_t ref_dot(const prob *p, int64_t i, int64_t j)
{
    int64_t s = 0;
    for (int64_t t = 0; t < p->ks; t++)
        for (int64_t c = 0; c < p->kc; c++)
            s += (int64_t)(a_val(p, i, t, c) - p->za) * (b_val(p, t, c, j) - p->zb);
    return (int32_t)(uint32_t)(uint64_t)s;
}

static void prob_make(prob *p, int64_t m, int64_t n, int64_t ks, int64_t kc, int pad_pct)
{
    memset(p, 0, sizeof *p);
    p->m = m, p->n = n, p->ks = ks, p->kc = kc;
    p->a_signed = rnd(2), p->b_unsigned = rnd(4) == 0;
    p->za = p->a_signed ? rnd(256) - 128 : rnd(256);
    p->zb = p->b_unsigned ? 128 + (rnd(3) ? 0 : rnd(21) - 10) : (rnd(3) ? 0 : rnd(21) - 10);
    p->img_rows = m * ks + 1;
    p->img = xmalloc((size_t)(p->img_rows * kc));
    for (int64_t e = 0; e < p->img_rows * kc; e++) p->img[e] = (uint8_t)rnd(256);
    p->row_of = xmalloc((size_t)(m * ks) * sizeof *p->row_of);
    for (int64_t e = 0; e < m * ks; e++) p->row_of[e] = rnd(100) < pad_pct ? -1 : rnd((int)p->img_rows);
    p->b = xmalloc((size_t)(ks * kc * n));
    for (int64_t e = 0; e < ks * kc * n; e++) p->b[e] = (uint8_t)rnd(256);
}

static void prob_free(prob *p)
{
    free(p->img);
    free(p->row_of);
    free(p->b);
}

/* Everything the driver needs for one kernel: flipped image, padding row,
 * packed B, corrections. The indirection buffer points into `shift` bytes
 * before the image, and off = shift, so offsets are exercised. */
typedef struct setup {
    uint8_t *img, *zero;
    int8_t *packed;
    int32_t *colsum, *ib, *rowc;
    const uint8_t **ind;
    qgemm_a a;
} setup;

static void setup_make(const qgemm_ukernel *uk, const prob *p, bool indirect, setup *s)
{
    memset(s, 0, sizeof *s);
    bool flip;
    int32_t zak = qgemm_a_zero_point(uk, p->a_signed, p->za, &flip);
    int64_t shift = 5;
    s->img = xmalloc((size_t)(p->img_rows * p->kc + shift));
    uint8_t *img = s->img + shift;
    if (flip) qgemm_flip_bytes(img, p->img, p->img_rows * p->kc);
    else memcpy(img, p->img, (size_t)(p->img_rows * p->kc));
    s->zero = xmalloc((size_t)p->kc);
    memset(s->zero, zak & 0xff, (size_t)p->kc);
    s->packed = xmalloc(qgemm_packed_b_bytes(uk, p->ks, p->kc, p->n));
    s->colsum = xmalloc((size_t)p->n * sizeof(int32_t));
    int32_t zbk = p->b_unsigned ? p->zb - 128 : p->zb;
    qgemm_pack_b(uk, p->ks, p->kc, p->n, p->b, p->b_unsigned, p->kc * p->n, p->n, 1, s->packed,
                 s->colsum);
    s->ib = xmalloc((size_t)p->n * sizeof(int32_t));
    int64_t K = p->ks * p->kc;
    for (int64_t j = 0; j < p->n; j++)
        s->ib[j] = (int32_t)(uint32_t)((uint64_t)(-(int64_t)zak * s->colsum[j]) + (uint64_t)(K * zak * zbk));
    if (zbk) { /* -zb * rowsum(A) per row, in the kernel's byte domain */
        s->rowc = xmalloc((size_t)p->m * sizeof(int32_t));
        for (int64_t i = 0; i < p->m; i++) {
            int64_t rs = 0;
            for (int64_t t = 0; t < p->ks; t++)
                for (int64_t c = 0; c < p->kc; c++) {
                    int64_t r = p->row_of[i * p->ks + t];
                    uint8_t v = r < 0 ? (uint8_t)zak : img[r * p->kc + c];
                    rs += uk->a_signed ? (int8_t)v : v;
                }
            s->rowc[i] = (int32_t)(-zbk * rs);
        }
    }
    s->a.ks = p->ks;
    s->a.kc = p->kc;
    if (!indirect && s->rowc) { /* the library's row sums agree with the naive ones */
        int32_t *sums = xmalloc((size_t)p->m * sizeof *sums);
        qgemm_row_sums(uk, img, p->m, p->kc, p->kc, sums);
        int64_t bad = 0;
        for (int64_t i = 0; i < p->m; i++) bad += (int32_t)(-zbk * sums[i]) != s->rowc[i];
        CHECK(bad == 0, "%s qgemm_row_sums: %lld of %lld rows wrong", uk->name, (long long)bad, (long long)p->m);
        free(sums);
    }
    if (!indirect) { /* plain rows: row i of the image */
        s->a.rows = img;
        s->a.rs = p->kc;
        return;
    }
    int MR = uk->mr;
    int64_t tiles = (p->m + MR - 1) / MR;
    s->ind = xmalloc((size_t)(tiles * p->ks * MR) * sizeof *s->ind);
    for (int64_t mt = 0; mt < tiles; mt++)
        for (int64_t t = 0; t < p->ks; t++)
            for (int i = 0; i < MR; i++) {
                int64_t row = mt * MR + i < p->m ? mt * MR + i : p->m - 1;
                int64_t r = p->row_of[row * p->ks + t];
                s->ind[(mt * p->ks + t) * MR + i] = r < 0 ? s->zero : img - shift + r * p->kc;
            }
    s->a.ind = s->ind;
    s->a.off = shift;
    s->a.zero = s->zero;
}

static void setup_free(setup *s)
{
    free(s->img);
    free(s->zero);
    free(s->packed);
    free(s->colsum);
    free(s->ib);
    free(s->rowc);
    free(s->ind);
}

/* int32 output: exact. */
static void check_int(const qgemm_ukernel *uk, onyx_threads *tp3, int64_t m, int64_t n, int64_t ks,
                      int64_t kc, bool indirect)
{
    prob p;
    prob_make(&p, m, n, indirect ? ks : 1, kc, indirect ? 20 : 0);
    if (!indirect) /* plain rows: row i is image row i */
        for (int64_t i = 0; i < m; i++) p.row_of[i] = i;
    setup s;
    setup_make(uk, &p, indirect, &s);
    int32_t *y1 = xmalloc((size_t)(m * n) * sizeof *y1), *y3 = xmalloc((size_t)(m * n) * sizeof *y3);
    qgemm_out o = {0};
    o.ib = s.ib;
    o.rowc = s.rowc;
    o.yi = y1;
    o.yi_rs = n;
    qgemm_run(NULL, uk, m, n, &s.a, s.packed, 0, &o);
    onyx_kctx k;
    memset(&k, 0, sizeof k);
    k.threads = tp3;
    o.yi = y3;
    qgemm_run(&k, uk, m, n, &s.a, s.packed, 0, &o);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            if (y1[i * n + j] != ref_dot(&p, i, j) && bad++ == 0) first = i * n + j;
    CHECK(bad == 0,
          "%s int32 m=%lld n=%lld ks=%lld kc=%lld %s a_signed=%d b_unsigned=%d za=%d zb=%d: %lld "
          "wrong, first at %lld: %d vs %d",
          uk->name, (long long)m, (long long)n, (long long)p.ks, (long long)kc,
          indirect ? "indirect" : "plain", p.a_signed, p.b_unsigned, p.za, p.zb, (long long)bad,
          (long long)first, first >= 0 ? y1[first] : 0, first >= 0 ? ref_dot(&p, first / n, first % n) : 0);
    CHECK(!memcmp(y1, y3, (size_t)(m * n) * sizeof *y1), "%s m=%lld n=%lld: 3 threads differ from 1",
          uk->name, (long long)m, (long long)n);
    free(y1);
    free(y3);
    setup_free(&s);
    prob_free(&p);
}

static double act_ref(gemm_act act, double p0, double p1, double v)
{
    switch (act) {
    case GEMM_ACT_RELU: return v > 0 ? v : 0;
    case GEMM_ACT_CLIP: return v < p0 ? p0 : v > p1 ? p1 : v;
    case GEMM_ACT_LEAKY_RELU: return v < 0 ? v * p0 : v;
    case GEMM_ACT_HARD_SWISH: return v * fmin(1, fmax(0, v / 6 + 0.5));
    case GEMM_ACT_HARD_SIGMOID: return fmin(1, fmax(0, p0 * v + p1));
    case GEMM_ACT_SIGMOID: return 1 / (1 + exp(-v));
    case GEMM_ACT_SILU: return v / (1 + exp(-v));
    case GEMM_ACT_TANH: return tanh(v);
    case GEMM_ACT_GELU: return 0.5 * v * (1 + erf(v / sqrt(2.0)));
    default: return v;
    }
}

/* Float and requantized outputs, with bias, residual and activation, against
 * the same formula in double: float within 1e-5 of the output range, and the
 * quantized value the double rounds to, or a neighbour when the double lies
 * within 1e-3 of a rounding boundary (float vs double arithmetic). */
static void check_epilogue(const qgemm_ukernel *uk, onyx_threads *tp3, int64_t m, int64_t n,
                           int64_t kc, gemm_act act, bool with_z, bool with_fb, bool q_signed)
{
    prob p;
    prob_make(&p, m, n, 1, kc, 0);
    for (int64_t i = 0; i < m; i++) p.row_of[i] = i;
    setup s;
    setup_make(uk, &p, false, &s);
    float *scale = xmalloc((size_t)n * sizeof(float)), *fb = xmalloc((size_t)n * sizeof(float));
    float *z = xmalloc((size_t)(m * n) * sizeof(float));
    for (int64_t j = 0; j < n; j++) {
        scale[j] = (float)(1e-4 * (1 + rnd(1000)));
        fb[j] = (float)((rnd(2001) - 1000) / 200.0);
    }
    for (int64_t e = 0; e < m * n; e++) z[e] = (float)((rnd(2001) - 1000) / 300.0);
    float *yf = xmalloc((size_t)(m * n) * sizeof(float)), *yf3 = xmalloc((size_t)(m * n) * sizeof(float));
    uint8_t *yq = xmalloc((size_t)(m * n)), *yq3 = xmalloc((size_t)(m * n));
    qgemm_out o = {0};
    o.ib = s.ib;
    o.rowc = s.rowc;
    o.scale = scale;
    o.fb = with_fb ? fb : NULL;
    o.z = with_z ? z : NULL;
    o.z_rs = n;
    o.act = act;
    o.p0 = act == GEMM_ACT_CLIP ? -1.5f : act == GEMM_ACT_LEAKY_RELU ? 0.1f : 0.2f;
    o.p1 = act == GEMM_ACT_CLIP ? 2.5f : 0.5f;
    o.yf = yf;
    o.yf_rs = n;
    o.yq = yq;
    o.yq_rs = n;
    o.yq_signed = q_signed;
    float ys = 0.02f;
    o.inv_ys = 1.0f / ys;
    o.yzp = q_signed ? (float)(rnd(41) - 20) : (float)(100 + rnd(56));
    qgemm_run(NULL, uk, m, n, &s.a, s.packed, 0, &o);
    onyx_kctx k;
    memset(&k, 0, sizeof k);
    k.threads = tp3;
    o.yf = yf3;
    o.yq = yq3;
    qgemm_run(&k, uk, m, n, &s.a, s.packed, 0, &o);
    int64_t badf = 0, badq = 0;
    double lo = q_signed ? -128 : 0, hi = q_signed ? 127 : 255;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double v = (double)ref_dot(&p, i, j) * scale[j] + (with_fb ? fb[j] : 0) +
                       (with_z ? z[i * n + j] : 0);
            v = act_ref(act, o.p0, o.p1, v);
            double got = yf[i * n + j];
            if (fabs(got - v) > 1e-5 * (1 + fabs(v))) badf++;
            double qv = v / ys;
            double want = fmin(hi, fmax(lo, nearbyint(qv) + o.yzp));
            double gq = q_signed ? (int8_t)yq[i * n + j] : yq[i * n + j];
            bool near_tie = fabs(qv - floor(qv) - 0.5) < 1e-3;
            if (gq != want && !(near_tie && fabs(gq - want) <= 1)) badq++;
        }
    CHECK(badf == 0 && badq == 0, "%s epilogue m=%lld n=%lld kc=%lld act=%d z=%d fb=%d signed=%d: %lld float, %lld quantized wrong",
          uk->name, (long long)m, (long long)n, (long long)kc, (int)act, with_z, with_fb, q_signed,
          (long long)badf, (long long)badq);
    CHECK(!memcmp(yf, yf3, (size_t)(m * n) * sizeof *yf) && !memcmp(yq, yq3, (size_t)(m * n)),
          "%s epilogue: 3 threads differ from 1", uk->name);
    free(scale), free(fb), free(z), free(yf), free(yf3), free(yq), free(yq3);
    setup_free(&s);
    prob_free(&p);
}

/* Depthwise over npix pixels: exact int32 against the naive sum, padding
 * taps and offsets. */
static void check_dw(const qgemm_ukernel *uk, int64_t channels, int64_t taps, int64_t npix)
{
    bool w_unsigned = rnd(3) == 0;
    int64_t rows = taps + 3, shift = 7;
    uint8_t *img = xmalloc((size_t)(rows * channels + shift)), *zero = xmalloc((size_t)channels);
    uint8_t *w = xmalloc((size_t)(taps * channels));
    int32_t *zp = xmalloc((size_t)channels * sizeof(int32_t));
    for (int64_t e = 0; e < rows * channels + shift; e++) img[e] = (uint8_t)rnd(256);
    for (int64_t e = 0; e < taps * channels; e++) w[e] = (uint8_t)rnd(256);
    for (int64_t c = 0; c < channels; c++) zp[c] = w_unsigned ? rnd(256) : rnd(21) - 10;
    uint8_t zv = (uint8_t)rnd(256);
    memset(zero, zv, (size_t)channels);
    const uint8_t **in = xmalloc((size_t)(npix * taps) * sizeof *in);
    int64_t *row = xmalloc((size_t)(npix * taps) * sizeof *row);
    for (int64_t e = 0; e < npix * taps; e++) {
        row[e] = rnd(4) == 0 ? -1 : rnd((int)rows);
        in[e] = row[e] < 0 ? zero : img + row[e] * channels; /* + shift via off */
    }
    int16_t *packed = xmalloc(qdw_packed_w_count(uk, taps, channels) * sizeof(int16_t));
    int32_t *wsum = xmalloc((size_t)channels * sizeof(int32_t));
    int32_t *acc = xmalloc((size_t)(npix * channels) * sizeof(int32_t));
    /* weights [tap][channel] */
    qdw_pack_w(uk, taps, channels, w, w_unsigned, channels, 1, zp, packed, wsum);
    uk->dw(channels, taps, npix, in, shift, zero, packed, acc);
    int64_t bad = 0;
    for (int64_t p = 0; p < npix; p++)
        for (int64_t c = 0; c < channels; c++) {
            int64_t s = 0, ws = 0;
            for (int64_t t = 0; t < taps; t++) {
                int64_t r = row[p * taps + t];
                uint8_t xb = r < 0 ? zv : img[shift + r * channels + c];
                int32_t x = uk->a_signed ? (int8_t)xb : xb;
                int32_t wv = (w_unsigned ? w[t * channels + c] : (int8_t)w[t * channels + c]) - zp[c];
                s += (int64_t)x * wv;
                ws += wv;
            }
            if (acc[p * channels + c] != (int32_t)s || wsum[c] != ws) bad++;
        }
    CHECK(bad == 0, "%s dw channels=%lld taps=%lld pixels=%lld w_unsigned=%d: %lld sums wrong", uk->name,
          (long long)channels, (long long)taps, (long long)npix, w_unsigned, (long long)bad);
    free(img), free(zero), free(w), free(zp), free(in), free(row), free(packed), free(wsum), free(acc);
}

static void test_kernel(const qgemm_ukernel *uk, onyx_threads *tp3)
{
    int before = failed;
    static const int64_t dims[] = {1, 3, 17, 4, 8, 16, 33, 64};
    for (int r = 0; r < 60; r++) {
        int64_t m = r < 8 ? dims[r] : dims[rnd(8)] + rnd(40);
        int64_t n = r < 8 ? dims[7 - r] : dims[rnd(8)] + rnd(70);
        int64_t kc = r < 8 ? dims[r] : 1 + rnd(r % 5 == 0 ? 700 : 90);
        check_int(uk, tp3, m, n, 1, kc, false);
        check_int(uk, tp3, m, n, 1 + rnd(9), kc, true);
    }
    check_int(uk, tp3, 1, 1, 1, 1, false);
    check_int(uk, tp3, 37, 70, 9, 3, true); /* a first conv: 3 channels per tap */
    check_int(uk, tp3, 200, 96, 1, 1300, false); /* deep: past one block of panels */
    for (int act = 0; act <= GEMM_ACT_GELU; act++)
        check_epilogue(uk, tp3, 1 + rnd(20), 1 + rnd(70), 1 + rnd(100), (gemm_act)act, act % 2,
                       act % 3 != 0, act % 4 == 1);
    check_epilogue(uk, tp3, 17, 3, 17, GEMM_ACT_NONE, false, false, false);
    check_epilogue(uk, tp3, 3, 33, 5, GEMM_ACT_RELU, true, true, true);
    static const int64_t chans[] = {1, 3, 8, 16, 17, 24, 32, 33, 96, 100};
    static const int64_t taps[] = {1, 2, 3, 9, 25};
    for (int c = 0; c < 10; c++)
        for (int t = 0; t < 5; t++) check_dw(uk, chans[c], taps[t], 1 + rnd(3) * rnd(20));
    printf("%-28s %s\n", uk->name, failed == before ? "ok" : "FAILED");
}

/* ---- bench ---- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double bench_shape(const qgemm_ukernel *uk, onyx_threads *tp, int64_t m, int64_t n,
                          int64_t ks, int64_t kc)
{
    prob p;
    prob_make(&p, m, n, ks, kc, 0);
    p.b_unsigned = false;
    p.a_signed = false;
    p.zb = 0;
    setup s;
    setup_make(uk, &p, ks > 1, &s);
    uint8_t *y = xmalloc((size_t)(m * n));
    float *scale = xmalloc((size_t)n * sizeof(float));
    for (int64_t j = 0; j < n; j++) scale[j] = 1e-3f;
    qgemm_out o = {0};
    o.ib = s.ib;
    o.scale = scale;
    o.act = GEMM_ACT_RELU;
    o.yq = y;
    o.yq_rs = n;
    o.inv_ys = 1;
    onyx_kctx k;
    memset(&k, 0, sizeof k);
    k.threads = tp;
    double best = 1e9;
    for (int r = 0; r < 7; r++) {
        double t0 = now();
        qgemm_run(&k, uk, m, n, &s.a, s.packed, 0, &o);
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(y), free(scale);
    setup_free(&s);
    prob_free(&p);
    return 2.0 * (double)(m * n * ks * kc) / best * 1e-9;
}

static int bench(void)
{
    onyx_threads *tp1 = threads_create(1), *tp2 = threads_create(2);
    static const int64_t shapes[][4] = {
        {3136, 64, 1, 256}, {3136, 64, 9, 64}, {784, 128, 9, 128}, {196, 256, 9, 256},
        {49, 512, 9, 512},  {49, 2048, 1, 512}, {257, 1536, 1, 384}, {257, 384, 1, 1536},
    };
    for (const qgemm_ukernel *const *u = qgemm_ukernels_available(); *u; u++) {
        printf("%s\n", (*u)->name);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const int64_t *s = shapes[i];
            printf("  m=%5lld n=%5lld taps=%lld c=%4lld: %7.1f GOP/s 1 thread, %7.1f 2 threads\n",
                   (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3],
                   bench_shape(*u, tp1, s[0], s[1], s[2], s[3]), bench_shape(*u, tp2, s[0], s[1], s[2], s[3]));
        }
    }
    threads_free(tp1);
    threads_free(tp2);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--bench")) return bench();
    onyx_threads *tp3 = threads_create(3);
    int n = 0;
    for (const qgemm_ukernel *const *u = qgemm_ukernels_available(); *u; u++, n++) test_kernel(*u, tp3);
    threads_free(tp3);
    CHECK(n >= 1, "no integer GEMM kernel available");
    printf("test_qgemm: %d kernels, %d passed, %d failed\n", n, passed, failed);
    return failed ? 1 : 0;
}
