/* test_gemm.c - the float32 GEMM (ops/gemm.c and its per-ISA microkernels)
 * against a naive double-precision product, for every microkernel this CPU
 * runs: random shapes including 1, 3, 17 and non-multiples of MR/NR, depths
 * across the cache block, packed and strided operands, transposed B, row
 * offsets, padded C pitch, every epilogue, 1 and 3 threads (results must be
 * bit-identical).
 * `test_gemm --bench` instead prints the FMA peak of one core and the GFLOP/s
 * of ResNet-50-like products. */
#include "../../ops/gemm.h"
#include "harness.h"

#include <time.h>

static float *rand_buf(int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = frand();
    return p;
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

typedef struct shape {
    int64_t m, n, k;
} shape;

/* One product with random operand forms; compares with the naive result. */
static void check_one(const gemm_ukernel *uk, onyx_threads *tp3, shape s, int variant)
{
    int64_t m = s.m, n = s.n, kd = s.k;
    bool a_packed = variant & 1, b_packed = variant & 2, b_trans = variant & 4;
    bool b_rowoff = !b_packed && !b_trans && (variant & 8);
    int64_t pitch = n, width = n;
    if (variant & 16) { /* C columns grouped in rows of `width` out of `pitch` */
        width = 1 + rnd(7);
        pitch = width + rnd(3);
        n = ((n + pitch - 1) / pitch) * pitch;
    }
    int64_t rows_c = n / pitch * width; /* stored columns per row of C */
    if (pitch == n) rows_c = n;
    int64_t lda = kd + rnd(3), ldb = (b_trans ? kd : n) + rnd(3), ldc = rows_c + rnd(3);
    float *a = rand_buf(m * lda), *b = rand_buf((b_trans ? n : kd) * ldb);
    int64_t *row_off = malloc((size_t)(kd > 0 ? kd : 1) * sizeof *row_off);
    /* rows of B picked in a shuffled order through the offset table */
    for (int64_t p = 0; p < kd; p++) row_off[p] = (kd - 1 - p) * ldb;
    gemm_epilogue ep = {1.0f, NULL, NULL, NULL, 0, GEMM_ACT_NONE, 0, 0};
    float *rb = rand_buf(m), *cb = rand_buf(ldc), *z = rand_buf(m * ldc);
    if (variant & 32) ep.alpha = 0.5f + (float)rnd(3);
    if (variant & 64) ep.row_bias = rb;
    if (variant & 128) ep.col_bias = cb;
    if (variant & 256) ep.z = z, ep.ldz = ldc;
    ep.act = (gemm_act)rnd(10);
    if (ep.act == GEMM_ACT_CLIP) ep.p0 = -0.3f, ep.p1 = 0.6f;
    if (ep.act == GEMM_ACT_LEAKY_RELU) ep.p0 = 0.1f;
    if (ep.act == GEMM_ACT_HARD_SIGMOID) ep.p0 = 0.2f, ep.p1 = 0.5f;

    float *apk = NULL, *bpk = NULL;
    gemm_a ga = {NULL, a, lda, 1};
    gemm_b gb = {NULL, b, b_trans ? 1 : ldb, b_trans ? ldb : 1, b_rowoff ? row_off : NULL};
    if (a_packed) {
        apk = malloc(gemm_packed_a_floats(uk, m, kd) * sizeof(float) + 4);
        gemm_pack_a(uk, m, kd, a, lda, 1, apk);
        ga.packed = apk;
    }
    if (b_packed) {
        bpk = malloc(gemm_packed_b_floats(uk, kd, n) * sizeof(float) + 4);
        gemm_pack_b(uk, kd, n, b, gb.rs, gb.cs, bpk);
        gb.packed = bpk;
    }
    float *c1 = malloc((size_t)(m * ldc + 1) * sizeof(float));
    float *c3 = malloc((size_t)(m * ldc + 1) * sizeof(float));
    for (int64_t i = 0; i < m * ldc; i++) c1[i] = c3[i] = 1234.0f; /* untouched sentinel */
    gemm_c gc1 = {c1, ldc, pitch, width}, gc3 = {c3, ldc, pitch, width};
    gemm_scratch sc = {0};
    bool ok1 = gemm_f32(NULL, uk, m, n, kd, &ga, &gb, &gc1, &ep, &sc);
    onyx_kctx k;
    memset(&k, 0, sizeof k);
    k.threads = tp3;
    bool ok3 = gemm_f32(&k, uk, m, n, kd, &ga, &gb, &gc3, &ep, &sc);
    CHECK(ok1 && ok3, "gemm_f32 failed");
    double worst = 0;
    int64_t bad = -1;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            if (j % pitch >= width) continue;
            int64_t cj = (j / pitch) * width + j % pitch;
            double acc = 0, mag = 0;
            for (int64_t p = 0; p < kd; p++) {
                double av = a[i * lda + p];
                double bv = b_trans ? b[j * ldb + p] : b_rowoff ? b[row_off[p] + j] : b[p * ldb + j];
                acc += av * bv;
                mag += fabs(av * bv);
            }
            double v = ep.alpha * acc + (ep.row_bias ? rb[i] : 0) + (ep.col_bias ? cb[cj] : 0) +
                       (ep.z ? z[i * ldc + cj] : 0);
            double want = act_ref(ep.act, ep.p0, ep.p1, v);
            double err = fabs(c1[i * ldc + cj] - want) / (1 + 4 * ep.alpha * mag + fabs(v));
            if (err > worst) worst = err, bad = i * ldc + cj;
        }
    CHECK(worst < 1e-5, "%s m=%lld n=%lld k=%lld variant=%d act=%d: rel err %g at %lld", uk->name,
          (long long)m, (long long)n, (long long)kd, variant, ep.act, worst, (long long)bad);
    CHECK(memcmp(c1, c3, (size_t)(m * ldc) * sizeof(float)) == 0,
          "%s m=%lld n=%lld k=%lld variant=%d: 3 threads differ from 1", uk->name, (long long)m,
          (long long)n, (long long)kd, variant);
    /* the gaps between C rows (ldc > stored columns) stay untouched */
    bool gaps_ok = true;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = rows_c; j < ldc; j++) gaps_ok &= c1[i * ldc + j] == 1234.0f;
    CHECK(gaps_ok, "%s: wrote outside C", uk->name);
    gemm_scratch_free(&sc);
    free(a), free(b), free(apk), free(bpk), free(c1), free(c3), free(rb), free(cb), free(z);
    free(row_off);
}

static void test_kernel(const gemm_ukernel *uk, onyx_threads *tp3)
{
    static const shape fixed[] = {{1, 1, 1},    {1, 17, 3},   {3, 1, 17},   {17, 17, 17},
                                  {64, 49, 576}, {6, 16, 256}, {8, 32, 257}, {13, 33, 513},
                                  {5, 100, 0},  {2, 300, 40},  {100, 2, 40}, {24, 96, 300}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        for (int v = 0; v < 512; v += 37) check_one(uk, tp3, fixed[i], v);
    for (int r = 0; r < 150; r++) {
        shape s = {1 + rnd(40), 1 + rnd(90), rnd(4) ? 1 + rnd(70) : 200 + rnd(400)};
        check_one(uk, tp3, s, rnd(512));
    }
}

/* ---- bench ---- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The FMA peak of one core: independent accumulator chains, nothing else. */
#if defined(__x86_64__)
#include <immintrin.h>
/* acc += m * k, the accumulator in the addend as in the GEMM microkernels */
#define FMA16(T, FMA)                                                              \
    a0 = FMA(m, k, a0), a1 = FMA(m, k, a1), a2 = FMA(m, k, a2), a3 = FMA(m, k, a3),      \
    a4 = FMA(m, k, a4), a5 = FMA(m, k, a5), a6 = FMA(m, k, a6), a7 = FMA(m, k, a7),      \
    a8 = FMA(m, k, a8), a9 = FMA(m, k, a9), a10 = FMA(m, k, a10), a11 = FMA(m, k, a11),  \
    a12 = FMA(m, k, a12), a13 = FMA(m, k, a13), a14 = FMA(m, k, a14), a15 = FMA(m, k, a15)
__attribute__((target("avx512f"))) static double peak_avx512(int64_t iters)
{
    __m512 m = _mm512_set1_ps(0.999f), k = _mm512_set1_ps(1e-4f);
    /* distinct starting values, or the compiler merges the identical chains */
    __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3);
    __m512 a4 = _mm512_set1_ps(4), a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7);
    __m512 a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9), a10 = _mm512_set1_ps(10), a11 = _mm512_set1_ps(11);
    __m512 a12 = _mm512_set1_ps(12), a13 = _mm512_set1_ps(13), a14 = _mm512_set1_ps(14), a15 = _mm512_set1_ps(15);
    for (int64_t i = 0; i < iters; i++) FMA16(__m512, _mm512_fmadd_ps);
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a12, a13), _mm512_add_ps(a14, a15)));
    return _mm512_reduce_add_ps(s);
}
/* 12 chains: 16 ymm registers hold them with the two operands */
__attribute__((target("avx2,fma"))) static double peak_avx2(int64_t iters)
{
    __m256 m = _mm256_set1_ps(0.999f), k = _mm256_set1_ps(1e-4f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2);
    __m256 a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5);
    __m256 a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8);
    __m256 a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    for (int64_t i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(m, k, a0), a1 = _mm256_fmadd_ps(m, k, a1);
        a2 = _mm256_fmadd_ps(m, k, a2), a3 = _mm256_fmadd_ps(m, k, a3);
        a4 = _mm256_fmadd_ps(m, k, a4), a5 = _mm256_fmadd_ps(m, k, a5);
        a6 = _mm256_fmadd_ps(m, k, a6), a7 = _mm256_fmadd_ps(m, k, a7);
        a8 = _mm256_fmadd_ps(m, k, a8), a9 = _mm256_fmadd_ps(m, k, a9);
        a10 = _mm256_fmadd_ps(m, k, a10), a11 = _mm256_fmadd_ps(m, k, a11);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float o[8];
    _mm256_storeu_ps(o, s);
    return o[0];
}
#endif

/* Best of a few timed loops, in GFLOP/s; 0 when the ISA has no peak loop here. */
static double fma_peak(onyx_isa isa)
{
    double best = 0;
#if defined(__x86_64__)
    /* short bursts, best of many: on a shared machine a long loop mostly
     * measures the other processes */
    const int64_t iters = 100000;
    for (int rep = 0; rep < 200 && isa >= ONYX_ISA_AVX2; rep++) {
        double t = now(), sink = isa == ONYX_ISA_AVX512 ? peak_avx512(iters) : peak_avx2(iters);
        t = now() - t;
        double flops = 2.0 * (isa == ONYX_ISA_AVX512 ? 16 * 16 : 12 * 8) * (double)iters;
        if (flops / t * 1e-9 > best && sink != 12345.0) best = flops / t * 1e-9;
    }
#else
    (void)isa;
#endif
    return best;
}

/* A 1x1 conv as the runtime runs it: packed weights (A) times the image (B). */
static double bench_shape(const gemm_ukernel *uk, onyx_threads *tp, int64_t m, int64_t n,
                          int64_t kd)
{
    float *a = rand_buf(m * kd), *b = rand_buf(kd * n), *c = rand_buf(m * n);
    float *apk = malloc(gemm_packed_a_floats(uk, m, kd) * sizeof(float));
    gemm_pack_a(uk, m, kd, a, kd, 1, apk);
    gemm_a ga = {apk, NULL, 0, 0};
    gemm_b gb = {NULL, b, n, 1, NULL};
    gemm_c gc = {c, n, n, n};
    gemm_scratch sc = {0};
    onyx_kctx k;
    memset(&k, 0, sizeof k);
    k.threads = tp;
    double best = 1e30;
    for (int rep = 0; rep < 15; rep++) {
        double t = now();
        gemm_f32(&k, uk, m, n, kd, &ga, &gb, &gc, NULL, &sc);
        t = now() - t;
        if (t < best) best = t;
    }
    gemm_scratch_free(&sc);
    free(a), free(b), free(c), free(apk);
    return 2.0 * (double)m * (double)n * (double)kd / best * 1e-9;
}

int main(int argc, char **argv)
{
    const onyx_isa isas[] = {ONYX_ISA_GENERIC, ONYX_ISA_NEON, ONYX_ISA_AVX2, ONYX_ISA_AVX512};
    onyx_threads *tp3 = threads_create(3);
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        onyx_threads *tp1 = threads_create(1), *tp2 = threads_create(2);
        static const shape shapes[] = {{64, 3136, 64},  {64, 3136, 576}, {64, 3136, 256},
                                       {256, 3136, 64}, {128, 784, 1152}, {512, 196, 256},
                                       {512, 49, 4608}, {2048, 49, 512}};
        for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
            const gemm_ukernel *uk = gemm_ukernel_for_isa(isas[i]);
            if (!uk) continue;
            double peak = fma_peak(isas[i]);
            if (peak > 0) printf("%-22s FMA peak of one core: %.1f GFLOP/s\n", uk->name, peak);
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                double g1 = bench_shape(uk, tp1, shapes[s].m, shapes[s].n, shapes[s].k);
                double g2 = bench_shape(uk, tp2, shapes[s].m, shapes[s].n, shapes[s].k);
                printf("%-22s M=%-5lld N=%-5lld K=%-5lld 1 thread %6.1f GFLOP/s", uk->name,
                       (long long)shapes[s].m, (long long)shapes[s].n, (long long)shapes[s].k, g1);
                if (peak > 0) printf(" (%3.0f%% of peak)", 100 * g1 / peak);
                printf(", 2 threads %6.1f\n", g2);
            }
        }
        threads_free(tp1);
        threads_free(tp2);
        threads_free(tp3);
        return 0;
    }
    for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
        const gemm_ukernel *uk = gemm_ukernel_for_isa(isas[i]);
        if (!uk) continue;
        int before = failed;
        test_kernel(uk, tp3);
        printf("%s: %s\n", uk->name, failed == before ? "ok" : "FAILED");
    }
    threads_free(tp3);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
