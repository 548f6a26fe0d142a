/* hot_impl.h - the kernels of ops/hot.h written once against the vector layer
 * of ops/simd_math.h; ops/hot_avx2.c, ops/hot_avx512.c and ops/hot_neon.c each
 * include it once after choosing the ISA and the table's name (HOT_TABLE). */
#ifndef HOT_TABLE
#error "define HOT_TABLE (and the ISA for simd_math.h) before including hot_impl.h"
#endif

#include "hot.h"

#include <math.h>

#define HOT_KERNEL static SIMD_TARGET

/* ---- elementwise maps: full vectors, then one masked tail ---- */
#define HOT_MAP(name, EXPR)                                                             \
    HOT_KERNEL void map_##name(const float *X, float *Y, int64_t n, const hot_params *p) \
    {                                                                                   \
        const vf alpha = vf_set1(p ? p->alpha : 0.0f), beta = vf_set1(p ? p->beta : 0.0f); \
        (void)alpha;                                                                    \
        (void)beta;                                                                     \
        int64_t i = 0;                                                                  \
        for (; i + VF_N <= n; i += VF_N) {                                              \
            vf x = vf_load(X + i);                                                      \
            vf_store(Y + i, (EXPR));                                                    \
        }                                                                               \
        if (i < n) {                                                                    \
            vf x = vf_load_n(X + i, n - i);                                             \
            vf_store_n(Y + i, (EXPR), n - i);                                           \
        }                                                                               \
    }

/* the data operand goes second in max/min so NaN passes through, as in the
 * reference kernels */
HOT_MAP(relu, vf_max(vf_zero(), x))
HOT_MAP(leaky_relu, vf_select(vf_lt(x, vf_zero()), x, vf_mul(x, alpha)))
HOT_MAP(clip, vf_min(beta, vf_max(alpha, x)))
HOT_MAP(sigmoid, vf_sigmoid(x))
HOT_MAP(hard_sigmoid, vf_min(vf_set1(1.0f), vf_max(vf_zero(), vf_fmadd(alpha, x, beta))))
HOT_MAP(hard_swish, vf_mul(x, vf_min(vf_set1(1.0f), vf_max(vf_zero(), vf_fmadd(x, vf_set1(1.0f / 6), vf_set1(0.5f))))))
HOT_MAP(silu, vf_mul(x, vf_sigmoid(x)))
HOT_MAP(tanh, vf_tanh(x))
HOT_MAP(gelu, vf_gelu(x))
HOT_MAP(gelu_tanh,
        vf_mul(vf_mul(vf_set1(0.5f), x),
               vf_add(vf_set1(1.0f),
                      vf_tanh(vf_mul(vf_set1(0.79788456080286535588f),
                                     vf_fmadd(vf_mul(vf_set1(0.044715f), x), vf_mul(x, x), x))))))
HOT_MAP(exp, vf_exp(x))
HOT_MAP(erf, vf_erf(x))
HOT_MAP(sqrt, vf_sqrt(x))
HOT_MAP(abs, vf_abs(x))
HOT_MAP(neg, vf_sub(vf_zero(), x))

/* ---- binary arithmetic: one loop per broadcast case ---- */
#define HOT_BINARY(name, OP)                                                              \
    HOT_KERNEL void binary_##name(const float *A, int64_t sa, const float *B, int64_t sb, \
                                  float *Y, int64_t n)                                    \
    {                                                                                     \
        int64_t i = 0;                                                                    \
        if (sa && sb) {                                                                   \
            for (; i + VF_N <= n; i += VF_N) vf_store(Y + i, OP(vf_load(A + i), vf_load(B + i))); \
            if (i < n) vf_store_n(Y + i, OP(vf_load_n(A + i, n - i), vf_load_n(B + i, n - i)), n - i); \
        } else if (sa) {                                                                  \
            const vf b = vf_set1(B[0]);                                                   \
            for (; i + VF_N <= n; i += VF_N) vf_store(Y + i, OP(vf_load(A + i), b));      \
            if (i < n) vf_store_n(Y + i, OP(vf_load_n(A + i, n - i), b), n - i);          \
        } else if (sb) {                                                                  \
            const vf a = vf_set1(A[0]);                                                   \
            for (; i + VF_N <= n; i += VF_N) vf_store(Y + i, OP(a, vf_load(B + i)));      \
            if (i < n) vf_store_n(Y + i, OP(a, vf_load_n(B + i, n - i)), n - i);          \
        } else {                                                                          \
            const vf v = OP(vf_set1(A[0]), vf_set1(B[0]));                                \
            for (; i + VF_N <= n; i += VF_N) vf_store(Y + i, v);                          \
            if (i < n) vf_store_n(Y + i, v, n - i);                                       \
        }                                                                                 \
    }
HOT_BINARY(add, vf_add)
HOT_BINARY(sub, vf_sub)
HOT_BINARY(mul, vf_mul)
HOT_BINARY(div, vf_div)
HOT_BINARY(fmax, vf_fmax)

/* ---- softmax of one row: max, exp and sum, scale ---- */
HOT_KERNEL void softmax_row(const float *X, float *Y, int64_t n, bool logarithm)
{
    const vf ninf = vf_set1(-INFINITY);
    vf m = ninf;
    int64_t i = 0;
    for (; i + VF_N <= n; i += VF_N) m = vf_max(m, vf_load(X + i));
    if (i < n) m = vf_max(m, vf_select(vf_lanes_from(n - i), vf_load_n(X + i, n - i), ninf));
    /* a NaN lost by max() still reaches the sum through exp(NaN - max) */
    const float mx = vf_hmax(m);
    const vf mv = vf_set1(mx);
    vf s = vf_zero();
    /* x - max <= 0: the exp without overflow handling */
    for (i = 0; i + VF_N <= n; i += VF_N) {
        vf e = vf_exp_nonpos(vf_sub(vf_load(X + i), mv));
        s = vf_add(s, e);
        if (!logarithm) vf_store(Y + i, e);
    }
    if (i < n) {
        vf e = vf_exp_nonpos(vf_sub(vf_load_n(X + i, n - i), mv));
        s = vf_add(s, vf_select(vf_lanes_from(n - i), e, vf_zero()));
        if (!logarithm) vf_store_n(Y + i, e, n - i);
    }
    const float sum = vf_hsum(s);
    if (logarithm) {
        const vf shift = vf_set1(mx + logf(sum));
        for (i = 0; i + VF_N <= n; i += VF_N) vf_store(Y + i, vf_sub(vf_load(X + i), shift));
        if (i < n) vf_store_n(Y + i, vf_sub(vf_load_n(X + i, n - i), shift), n - i);
    } else {
        const vf inv = vf_set1(1.0f / sum);
        for (i = 0; i + VF_N <= n; i += VF_N) vf_store(Y + i, vf_mul(vf_load(Y + i), inv));
        if (i < n) vf_store_n(Y + i, vf_mul(vf_load_n(Y + i, n - i), inv), n - i);
    }
}

/* ---- normalization ----
 * Float lanes accumulate at most MV_BLOCK elements before the block's sum
 * moves to a double, so rounding does not grow with the row length (a
 * 512x512 instance-norm plane would otherwise add 16K terms per lane). Four
 * accumulators: the adds are not one latency-bound chain, and each lane adds
 * at most MV_BLOCK / (4 VF_N) terms (64 with NEON's 4 lanes). */
#define MV_BLOCK 1024

/* sum of X[b..e), e - b <= MV_BLOCK */
SIMD_FN float block_sum(const float *X, int64_t i, int64_t e)
{
    vf s0 = vf_zero(), s1 = vf_zero(), s2 = vf_zero(), s3 = vf_zero();
    for (; i + 4 * VF_N <= e; i += 4 * VF_N) {
        s0 = vf_add(s0, vf_load(X + i));
        s1 = vf_add(s1, vf_load(X + i + VF_N));
        s2 = vf_add(s2, vf_load(X + i + 2 * VF_N));
        s3 = vf_add(s3, vf_load(X + i + 3 * VF_N));
    }
    for (; i + VF_N <= e; i += VF_N) s0 = vf_add(s0, vf_load(X + i));
    if (i < e) s1 = vf_add(s1, vf_load_n(X + i, e - i));
    return vf_hsum(vf_add(vf_add(s0, s1), vf_add(s2, s3)));
}

/* sum of (X[i] - mu)^2 over [b, e) */
SIMD_FN float block_sq_dev(const float *X, int64_t i, int64_t e, vf mu)
{
    vf q0 = vf_zero(), q1 = vf_zero(), q2 = vf_zero(), q3 = vf_zero();
    for (; i + 4 * VF_N <= e; i += 4 * VF_N) {
        const vf d0 = vf_sub(vf_load(X + i), mu), d1 = vf_sub(vf_load(X + i + VF_N), mu);
        const vf d2 = vf_sub(vf_load(X + i + 2 * VF_N), mu), d3 = vf_sub(vf_load(X + i + 3 * VF_N), mu);
        q0 = vf_fmadd(d0, d0, q0);
        q1 = vf_fmadd(d1, d1, q1);
        q2 = vf_fmadd(d2, d2, q2);
        q3 = vf_fmadd(d3, d3, q3);
    }
    for (; i + VF_N <= e; i += VF_N) {
        const vf d = vf_sub(vf_load(X + i), mu);
        q0 = vf_fmadd(d, d, q0);
    }
    if (i < e) {
        const vf d = vf_select(vf_lanes_from(e - i), vf_sub(vf_load_n(X + i, e - i), mu), vf_zero());
        q1 = vf_fmadd(d, d, q1);
    }
    return vf_hsum(vf_add(vf_add(q0, q1), vf_add(q2, q3)));
}

HOT_KERNEL void mean_var(const float *X, int64_t n, double *mean, double *var)
{
    double total = 0;
    for (int64_t b = 0; b < n; b += MV_BLOCK) total += block_sum(X, b, n - b < MV_BLOCK ? n : b + MV_BLOCK);
    const double mu = total / (double)n;
    /* second pass on deviations: no cancellation between E[x^2] and E[x]^2 */
    const vf mv = vf_set1((float)mu);
    double sq = 0;
    for (int64_t b = 0; b < n; b += MV_BLOCK) sq += block_sq_dev(X, b, n - b < MV_BLOCK ? n : b + MV_BLOCK, mv);
    /* the deviations were taken from mu rounded to float: remove that offset */
    const double off = (double)(float)mu - mu;
    *mean = mu;
    *var = sq / (double)n - off * off;
}

HOT_KERNEL double sum(const float *X, int64_t n)
{
    double total = 0;
    for (int64_t b = 0; b < n; b += MV_BLOCK) total += block_sum(X, b, n - b < MV_BLOCK ? n : b + MV_BLOCK);
    return total;
}

/* Rows per float partial of sum_rows: the same bound on float rounding as
 * MV_BLOCK, spent along the rows. */
#define SR_BLOCK 256

HOT_KERNEL void sum_rows(const float *X, int64_t rows, int64_t n, int64_t ld, double *acc)
{
    float part[4 * VF_N];
    for (int64_t j = 0; j < n; j += 4 * VF_N) {
        const int64_t w = n - j < 4 * VF_N ? n - j : 4 * VF_N;
        for (int64_t r0 = 0; r0 < rows; r0 += SR_BLOCK) {
            const int64_t r1 = rows - r0 < SR_BLOCK ? rows : r0 + SR_BLOCK;
            const float *x = X + r0 * ld + j;
            if (w == 4 * VF_N) {
                vf a0 = vf_zero(), a1 = vf_zero(), a2 = vf_zero(), a3 = vf_zero();
                for (int64_t r = r0; r < r1; r++, x += ld) {
                    a0 = vf_add(a0, vf_load(x));
                    a1 = vf_add(a1, vf_load(x + VF_N));
                    a2 = vf_add(a2, vf_load(x + 2 * VF_N));
                    a3 = vf_add(a3, vf_load(x + 3 * VF_N));
                }
                vf_store(part, a0);
                vf_store(part + VF_N, a1);
                vf_store(part + 2 * VF_N, a2);
                vf_store(part + 3 * VF_N, a3);
            } else {
                for (int64_t c = 0; c < w; c += VF_N) {
                    const int64_t m = w - c < VF_N ? w - c : VF_N;
                    vf a = vf_zero();
                    const float *xc = x + c;
                    for (int64_t r = r0; r < r1; r++, xc += ld) a = vf_add(a, vf_load_n(xc, m));
                    vf_store(part + c, a);
                }
            }
            for (int64_t c = 0; c < w; c++) acc[j + c] += part[c];
        }
    }
}

HOT_KERNEL void scale_shift_row(const float *X, float *Y, int64_t n, float mean, float inv_std,
                                const float *scale, const float *bias)
{
    const vf mv = vf_set1(mean), iv = vf_set1(inv_std), one = vf_set1(1.0f);
    int64_t i = 0;
    for (; i < n; i += VF_N) {
        int64_t m = n - i < VF_N ? n - i : VF_N;
        vf x = m == VF_N ? vf_load(X + i) : vf_load_n(X + i, m);
        vf g = scale ? (m == VF_N ? vf_load(scale + i) : vf_load_n(scale + i, m)) : one;
        vf b = bias ? (m == VF_N ? vf_load(bias + i) : vf_load_n(bias + i, m)) : vf_zero();
        vf y = vf_fmadd(vf_mul(vf_sub(x, mv), iv), g, b);
        if (m == VF_N) vf_store(Y + i, y);
        else vf_store_n(Y + i, y, m);
    }
}

HOT_KERNEL void affine(const float *X, float *Y, int64_t n, float a, float b)
{
    const vf av = vf_set1(a), bv = vf_set1(b);
    int64_t i = 0;
    for (; i + VF_N <= n; i += VF_N) vf_store(Y + i, vf_fmadd(vf_load(X + i), av, bv));
    if (i < n) vf_store_n(Y + i, vf_fmadd(vf_load_n(X + i, n - i), av, bv), n - i);
}

/* ---- 2-D linear resize: one output row ---- */
/* w0 p0[i..] + w1 p1[i..] (w0 p0 alone when !two), m = VF_N or a tail */
SIMD_FN vf resize_taps(const bool two, const float *p0, const float *p1, vf w0, vf w1, int64_t m)
{
    vf v = vf_mul(m == VF_N ? vf_load(p0) : vf_load_n(p0, m), w0);
    if (two) v = vf_fmadd(m == VF_N ? vf_load(p1) : vf_load_n(p1, m), w1, v);
    return v;
}

/* one output pixel of c values; two_x / two_y are constants after inlining */
SIMD_FN void resize_pixel(const bool two_x, const bool two_y, const float *r0, const float *r1,
                          int64_t o0, int64_t o1, vf wx0, vf wx1, vf wy0, vf wy1, float *y, int64_t c)
{
    int64_t i = 0;
    for (; i + VF_N <= c; i += VF_N) {
        vf v = vf_mul(resize_taps(two_x, r0 + o0 + i, r0 + o1 + i, wx0, wx1, VF_N), wy0);
        if (two_y) v = vf_fmadd(resize_taps(two_x, r1 + o0 + i, r1 + o1 + i, wx0, wx1, VF_N), wy1, v);
        vf_store(y + i, v);
    }
    if (i < c) {
        const int64_t m = c - i;
        vf v = vf_mul(resize_taps(two_x, r0 + o0 + i, r0 + o1 + i, wx0, wx1, m), wy0);
        if (two_y) v = vf_fmadd(resize_taps(two_x, r1 + o0 + i, r1 + o1 + i, wx0, wx1, m), wy1, v);
        vf_store_n(y + i, v, m);
    }
}

HOT_KERNEL void resize_row(const float *r0, const float *r1, float wy0, float wy1, const int64_t *ix,
                           const float *wx, int64_t ow, int64_t c, float *y)
{
    const bool two_y = wy1 != 0.0f;
    if (c == 1) { /* NCHW: one value per pixel, nothing to vectorize over */
        for (int64_t x = 0; x < ow; x++) {
            const float w0 = wx[2 * x], w1 = wx[2 * x + 1];
            const int64_t o0 = ix[2 * x], o1 = ix[2 * x + 1];
            float t = w0 * r0[o0], b = 0.0f;
            if (w1 != 0.0f) t = fmaf(w1, r0[o1], t);
            if (two_y) b = w1 != 0.0f ? fmaf(w1, r1[o1], w0 * r1[o0]) : w0 * r1[o0];
            y[x] = two_y ? fmaf(wy1, b, wy0 * t) : wy0 * t;
        }
        return;
    }
    const vf vy0 = vf_set1(wy0), vy1 = vf_set1(wy1);
    for (int64_t x = 0; x < ow; x++, y += c) {
        const int64_t o0 = ix[2 * x], o1 = ix[2 * x + 1];
        const vf w0 = vf_set1(wx[2 * x]), w1 = vf_set1(wx[2 * x + 1]);
        const bool two_x = wx[2 * x + 1] != 0.0f;
        if (two_y) {
            if (two_x) resize_pixel(true, true, r0, r1, o0, o1, w0, w1, vy0, vy1, y, c);
            else resize_pixel(false, true, r0, r1, o0, o1, w0, w1, vy0, vy1, y, c);
        } else {
            if (two_x) resize_pixel(true, false, r0, r1, o0, o1, w0, w1, vy0, vy1, y, c);
            else resize_pixel(false, false, r0, r1, o0, o1, w0, w1, vy0, vy1, y, c);
        }
    }
}

/* ---- flash attention ----
 * Per block of ATT_QB query rows and tile of HOT_KEY_TILE keys (keys packed by
 * hot_attention_pack_k as [d][HOT_KEY_TILE] panels):
 *   scores  S = (scale q) K^T, ATT_SR rows x 2 vectors at a time in registers
 *           (the register-blocked GEMM tile: one panel row of keys, one
 *           broadcast per query row);
 *   softmax the running max m grows to the tile's max, the output rows and
 *           the per-lane sums l are rescaled by exp(m_old - m_new) (one vector
 *           exp for all rows), P = exp(S - m) overwrites S;
 *   P V     acc += P V, 4 rows x ATT_PC vectors of acc in registers, one row
 *           of V per key.
 * Only the ATT_QB x HOT_KEY_TILE tile of scores ever exists. Every row's
 * result depends only on its own q row, so any split of the rows over tasks
 * gives the same numbers. */
#define ATT_QB 8
#if VF_N == 8
#define ATT_SR 4 /* 8 score accumulators of 16 ymm */
#define ATT_PC 2
#else            /* AVX-512 and NEON: 32 registers */
#define ATT_SR 8 /* 16 score accumulators */
#define ATT_PC 4 /* 16 output accumulators */
#endif

/* scale (q K^T) for keys [0, cols) of the panel (cols a multiple of 2 VF_N),
 * q[r] the query rows, read in place (one broadcast per row and depth, like
 * a GEMM tile's A); the scale goes on the sums (packing scaled queries per
 * block was a fifth of the softmax side's time) */
HOT_KERNEL void att_scores(const float *const *q, int64_t d, const float *panel, float *st, int64_t cols,
                           float scale)
{
    const vf sc = vf_set1(scale);
    for (int r0 = 0; r0 < ATT_QB; r0 += ATT_SR)
        for (int64_t c0 = 0; c0 < cols; c0 += 2 * VF_N) {
            vf s0[ATT_SR], s1[ATT_SR];
            const float *qr[ATT_SR];
#pragma GCC unroll 8
            for (int r = 0; r < ATT_SR; r++) s0[r] = s1[r] = vf_zero(), qr[r] = q[r0 + r];
            const float *kr = panel + c0;
            for (int64_t c = 0; c < d; c++, kr += HOT_KEY_TILE) {
                const vf k0 = vf_load(kr), k1 = vf_load(kr + VF_N);
#pragma GCC unroll 8
                for (int r = 0; r < ATT_SR; r++) {
                    const vf b = vf_set1(qr[r][c]);
                    s0[r] = vf_fmadd(b, k0, s0[r]);
                    s1[r] = vf_fmadd(b, k1, s1[r]);
                }
            }
#pragma GCC unroll 8
            for (int r = 0; r < ATT_SR; r++) {
                vf_store(st + (r0 + r) * HOT_KEY_TILE + c0, vf_mul(s0[r], sc));
                vf_store(st + (r0 + r) * HOT_KEY_TILE + c0 + VF_N, vf_mul(s1[r], sc));
            }
        }
}

/* acc[r] = acc[r] * alpha[r] + sum_j p[r][j] v[j] for 4 rows, columns [c, c + ATT_PC VF_N) */
HOT_KERNEL void att_pv_full(const float *pt, const float *v, int64_t ldv, int64_t dv, int64_t nv,
                                   const float *alpha, float *acc)
{
    vf a[4][ATT_PC];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        const vf al = vf_set1(alpha[r]);
#pragma GCC unroll 4
        for (int t = 0; t < ATT_PC; t++) a[r][t] = vf_mul(vf_load(acc + r * dv + t * VF_N), al);
    }
    for (int64_t j = 0; j < nv; j++, v += ldv) {
        vf vv[ATT_PC];
#pragma GCC unroll 4
        for (int t = 0; t < ATT_PC; t++) vv[t] = vf_load(v + t * VF_N);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) {
            const vf b = vf_set1(pt[r * HOT_KEY_TILE + j]);
#pragma GCC unroll 4
            for (int t = 0; t < ATT_PC; t++) a[r][t] = vf_fmadd(b, vv[t], a[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int t = 0; t < ATT_PC; t++) vf_store(acc + r * dv + t * VF_N, a[r][t]);
}

/* the same for one vector of w <= VF_N columns */
HOT_KERNEL void att_pv_tail(const float *pt, const float *v, int64_t ldv, int64_t dv, int64_t nv,
                                   const float *alpha, float *acc, int64_t w)
{
    vf a[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) a[r] = vf_mul(vf_load_n(acc + r * dv, w), vf_set1(alpha[r]));
    for (int64_t j = 0; j < nv; j++, v += ldv) {
        const vf vv = vf_load_n(v, w);
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++) a[r] = vf_fmadd(vf_set1(pt[r * HOT_KEY_TILE + j]), vv, a[r]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) vf_store_n(acc + r * dv, a[r], w);
}

HOT_KERNEL void attention(const float *Q, int64_t ldq, const float *KT, const float *V, int64_t ldv, float *Y,
                          int64_t ldy, int64_t q0, int64_t q1, int64_t d, int64_t dv, int64_t nk, float scale,
                          float *scratch)
{
    float *st = scratch;                          /* [ATT_QB][HOT_KEY_TILE] scores, then P */
    float *lv = st + ATT_QB * HOT_KEY_TILE;       /* [ATT_QB][VF_N] per-lane sums */
    float *acc = lv + ATT_QB * 16;                /* [ATT_QB][dv] */
    const vf ninf = vf_set1(-INFINITY);
    for (int64_t r0 = q0; r0 < q1; r0 += ATT_QB) {
        const int64_t rows = q1 - r0 < ATT_QB ? q1 - r0 : ATT_QB;
        /* missing rows of the last block repeat row r0 and are not stored */
        const float *qp[ATT_QB];
        for (int r = 0; r < ATT_QB; r++) qp[r] = Q + (r0 + (r < rows ? r : 0)) * ldq;
        float m[ATT_QB], alpha[ATT_QB];
        for (int r = 0; r < ATT_QB; r++) {
            m[r] = -INFINITY;
            vf_store(lv + r * 16, vf_zero());
        }
        memset(acc, 0, (size_t)(ATT_QB * dv) * sizeof *acc);
        for (int64_t j0 = 0; j0 < nk; j0 += HOT_KEY_TILE) {
            const int64_t nv = nk - j0 < HOT_KEY_TILE ? nk - j0 : HOT_KEY_TILE;
            /* a last tile of few keys (DINOv2's 257th) costs the vectors its
             * keys occupy, not a whole tile: scores per 2 vectors, softmax
             * per vector (the keys past them would only give exp(-inf) = 0) */
            const int nvec = (int)((nv + VF_N - 1) / VF_N);
            att_scores(qp, d, KT + j0 * d, st, (nv + 2 * VF_N - 1) / (2 * VF_N) * (2 * VF_N), scale);
            float mnew[ATT_QB];
            for (int r = 0; r < ATT_QB; r++) {
                float *sr = st + r * HOT_KEY_TILE;
                vf mx = ninf;
                for (int t = 0; t < nvec; t++) {
                    vf x = vf_load(sr + t * VF_N);
                    if ((t + 1) * VF_N > nv) {
                        /* keys past nk (zero-padded panels) take no part */
                        const int64_t from = nv - t * VF_N;
                        x = vf_select(vf_lanes_from(from < 0 ? 0 : from), x, ninf);
                        vf_store(sr + t * VF_N, x);
                    }
                    mx = vf_max(mx, x);
                }
                const float mt = vf_hmax(mx);
                mnew[r] = mt > m[r] ? mt : m[r];
            }
            /* alpha = exp(m_old - m_new) for all rows at once (<= 0, as are
             * the scores minus their running max below) */
            for (int r = 0; r < ATT_QB; r += VF_N < ATT_QB ? VF_N : ATT_QB) {
                const int w = ATT_QB - r < VF_N ? ATT_QB - r : VF_N;
                vf_store_n(alpha + r, vf_exp_nonpos(vf_sub(vf_load_n(m + r, w), vf_load_n(mnew + r, w))), w);
            }
            for (int r = 0; r < ATT_QB; r++) {
                float *sr = st + r * HOT_KEY_TILE;
                const vf mv = vf_set1(mnew[r]);
                vf sum = vf_zero();
                for (int t = 0; t < nvec; t++) {
                    const vf e = vf_exp_nonpos(vf_sub(vf_load(sr + t * VF_N), mv));
                    sum = vf_add(sum, e);
                    vf_store(sr + t * VF_N, e);
                }
                vf_store(lv + r * 16, vf_fmadd(vf_load(lv + r * 16), vf_set1(alpha[r]), sum));
                m[r] = mnew[r];
            }
            const float *vt = V + j0 * ldv;
            for (int rb = 0; rb < ATT_QB; rb += 4) {
                const float *pt = st + rb * HOT_KEY_TILE;
                float *ar = acc + rb * dv;
                int64_t c = 0;
                for (; c + ATT_PC * VF_N <= dv; c += ATT_PC * VF_N)
                    att_pv_full(pt, vt + c, ldv, dv, nv, alpha + rb, ar + c);
                for (; c < dv; c += VF_N)
                    att_pv_tail(pt, vt + c, ldv, dv, nv, alpha + rb, ar + c, dv - c < VF_N ? dv - c : VF_N);
            }
        }
        for (int64_t r = 0; r < rows; r++) {
            const vf inv = vf_set1(1.0f / vf_hsum(vf_load(lv + r * 16)));
            const float *ar = acc + r * dv;
            float *yr = Y + (r0 + r) * ldy;
            int64_t c = 0;
            for (; c + VF_N <= dv; c += VF_N) vf_store(yr + c, vf_mul(vf_load(ar + c), inv));
            if (c < dv) vf_store_n(yr + c, vf_mul(vf_load_n(ar + c, dv - c), inv), dv - c);
        }
    }
}

const hot_kernels HOT_TABLE = {
    .isa = HOT_ISA,
    .map = {
        [HOT_RELU] = map_relu,
        [HOT_LEAKY_RELU] = map_leaky_relu,
        [HOT_CLIP] = map_clip,
        [HOT_SIGMOID] = map_sigmoid,
        [HOT_HARD_SIGMOID] = map_hard_sigmoid,
        [HOT_HARD_SWISH] = map_hard_swish,
        [HOT_SILU] = map_silu,
        [HOT_TANH] = map_tanh,
        [HOT_GELU] = map_gelu,
        [HOT_GELU_TANH] = map_gelu_tanh,
        [HOT_EXP] = map_exp,
        [HOT_ERF] = map_erf,
        [HOT_SQRT] = map_sqrt,
        [HOT_ABS] = map_abs,
        [HOT_NEG] = map_neg,
    },
    .binary = {
        [HOT_ADD] = binary_add,
        [HOT_SUB] = binary_sub,
        [HOT_MUL] = binary_mul,
        [HOT_DIV] = binary_div,
        [HOT_FMAX] = binary_fmax,
    },
    .sum = sum,
    .sum_rows = sum_rows,
    .softmax = softmax_row,
    .mean_var = mean_var,
    .scale_shift_row = scale_shift_row,
    .affine = affine,
    .resize_row = resize_row,
    .attention = attention,
};
