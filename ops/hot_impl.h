/* hot_impl.h - the kernels of ops/hot.h written once against the vector layer
 * of ops/simd_math.h; ops/hot_avx2.c and ops/hot_avx512.c each include it once
 * after choosing the ISA and the table's name (HOT_TABLE). */
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
SIMD_FN vf vf_fmax(vf a, vf b)
{
    const vf m = vf_max(a, b); /* b when either is NaN */
    return vf_select(vf_isnan(m), m, a);
}
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
    for (i = 0; i + VF_N <= n; i += VF_N) {
        vf e = vf_exp(vf_sub(vf_load(X + i), mv));
        s = vf_add(s, e);
        if (!logarithm) vf_store(Y + i, e);
    }
    if (i < n) {
        vf e = vf_exp(vf_sub(vf_load_n(X + i, n - i), mv));
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
 * 512x512 instance-norm plane would otherwise add 16K terms per lane). */
#define MV_BLOCK 1024

HOT_KERNEL void mean_var(const float *X, int64_t n, double *mean, double *var)
{
    double total = 0;
    for (int64_t b = 0; b < n; b += MV_BLOCK) {
        const int64_t e = n - b < MV_BLOCK ? n : b + MV_BLOCK;
        vf s = vf_zero();
        int64_t i = b;
        for (; i + VF_N <= e; i += VF_N) s = vf_add(s, vf_load(X + i));
        if (i < e) s = vf_add(s, vf_load_n(X + i, e - i));
        total += vf_hsum(s);
    }
    const double mu = total / (double)n;
    /* second pass on deviations: no cancellation between E[x^2] and E[x]^2 */
    const vf mv = vf_set1((float)mu);
    double sq = 0;
    for (int64_t b = 0; b < n; b += MV_BLOCK) {
        const int64_t e = n - b < MV_BLOCK ? n : b + MV_BLOCK;
        vf q = vf_zero();
        int64_t i = b;
        for (; i + VF_N <= e; i += VF_N) {
            vf d = vf_sub(vf_load(X + i), mv);
            q = vf_fmadd(d, d, q);
        }
        if (i < e) {
            vf d = vf_select(vf_lanes_from(e - i), vf_sub(vf_load_n(X + i, e - i), mv), vf_zero());
            q = vf_fmadd(d, d, q);
        }
        sq += vf_hsum(q);
    }
    /* the deviations were taken from mu rounded to float: remove that offset */
    const double off = (double)(float)mu - mu;
    *mean = mu;
    *var = sq / (double)n - off * off;
}

HOT_KERNEL double sum(const float *X, int64_t n)
{
    double total = 0;
    for (int64_t b = 0; b < n; b += MV_BLOCK) {
        const int64_t e = n - b < MV_BLOCK ? n : b + MV_BLOCK;
        vf s = vf_zero();
        int64_t i = b;
        for (; i + VF_N <= e; i += VF_N) s = vf_add(s, vf_load(X + i));
        if (i < e) s = vf_add(s, vf_load_n(X + i, e - i));
        total += vf_hsum(s);
    }
    return total;
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

/* ---- flash attention ----
 * Keys are packed transposed, one [d, ATT_KT] panel per tile of ATT_KT keys
 * (panels back to back, nk rounded up to HOT_KEY_PAD), so that the scores of
 * ATT_QB query rows against a tile are ATT_QB x ATT_KT/VF_N vector
 * accumulators fed by broadcasts of q, reading the panel sequentially (a
 * plain [d, nk] transpose would read d rows nk floats apart: d streams the
 * prefetchers cannot follow once nk is large). Each tile updates a
 * running max m and sum l per row; the output accumulator is rescaled by
 * exp(m_old - m_new) before the tile's p . V is added. */
#define ATT_QB 4 /* the unrolled code below assumes 4 rows and 2 key vectors */
#define ATT_KV 2
#define ATT_KT (ATT_KV * VF_N)

HOT_KERNEL void attention(const float *Q, const float *K, const float *V, float *Y, int64_t q0,
                          int64_t q1, int64_t d, int64_t dv, int64_t nk, bool k_transposed,
                          float scale, float *scratch)
{
    const int64_t nkp = (nk + HOT_KEY_PAD - 1) / HOT_KEY_PAD * HOT_KEY_PAD;
    float *kt = scratch;                 /* [nkp / ATT_KT][d][ATT_KT] */
    float *qs = kt + d * nkp;            /* [ATT_QB, d], scaled */
    float *acc = qs + ATT_QB * d;        /* [ATT_QB, dv] */
    float *pt = acc + ATT_QB * dv;       /* [ATT_QB, ATT_KT] */
    for (int64_t j0 = 0; j0 < nk; j0 += ATT_KT) {
        float *panel = kt + j0 * d;
        const int64_t valid = nk - j0 < ATT_KT ? nk - j0 : ATT_KT;
        if (valid < ATT_KT) memset(panel, 0, (size_t)(d * ATT_KT) * sizeof *panel);
        if (k_transposed) {
            for (int64_t c = 0; c < d; c++)
                memcpy(panel + c * ATT_KT, K + c * nk + j0, (size_t)valid * sizeof *panel);
        } else {
            for (int64_t j = 0; j < valid; j++)
                for (int64_t c = 0; c < d; c++) panel[c * ATT_KT + j] = K[(j0 + j) * d + c];
        }
    }
    for (int64_t r0 = q0; r0 < q1; r0 += ATT_QB) {
        const int64_t rows = q1 - r0 < ATT_QB ? q1 - r0 : ATT_QB;
        /* missing rows of the last block repeat row r0 and are not stored */
        for (int r = 0; r < ATT_QB; r++)
            for (int64_t c = 0; c < d; c++) qs[r * d + c] = Q[(r0 + (r < rows ? r : 0)) * d + c] * scale;
        float m[ATT_QB], l[ATT_QB];
        for (int r = 0; r < ATT_QB; r++) {
            m[r] = -INFINITY;
            l[r] = 0;
        }
        memset(acc, 0, (size_t)(ATT_QB * dv) * sizeof *acc);
        for (int64_t j0 = 0; j0 < nk; j0 += ATT_KT) {
            const int64_t valid = nk - j0 < ATT_KT ? nk - j0 : ATT_KT;
            /* the 4 x 2 score accumulators are spelled out so they stay in
             * registers (an array indexed in loops may live on the stack) */
            vf s00 = vf_zero(), s01 = vf_zero(), s10 = vf_zero(), s11 = vf_zero();
            vf s20 = vf_zero(), s21 = vf_zero(), s30 = vf_zero(), s31 = vf_zero();
            const float *panel = kt + j0 * d;
            for (int64_t c = 0; c < d; c++) {
                const float *krow = panel + c * ATT_KT;
                const vf k0 = vf_load(krow), k1 = vf_load(krow + VF_N);
                vf b = vf_set1(qs[c]);
                s00 = vf_fmadd(b, k0, s00);
                s01 = vf_fmadd(b, k1, s01);
                b = vf_set1(qs[d + c]);
                s10 = vf_fmadd(b, k0, s10);
                s11 = vf_fmadd(b, k1, s11);
                b = vf_set1(qs[2 * d + c]);
                s20 = vf_fmadd(b, k0, s20);
                s21 = vf_fmadd(b, k1, s21);
                b = vf_set1(qs[3 * d + c]);
                s30 = vf_fmadd(b, k0, s30);
                s31 = vf_fmadd(b, k1, s31);
            }
            vf s[ATT_QB][ATT_KV] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31}};
            float alpha[ATT_QB];
            for (int r = 0; r < ATT_QB; r++) {
                vf tmax = vf_set1(-INFINITY);
                for (int t = 0; t < ATT_KV; t++) {
                    int64_t from = valid - t * VF_N;
                    from = from < 0 ? 0 : from > VF_N ? VF_N : from;
                    s[r][t] = vf_select(vf_lanes_from(from), s[r][t], vf_set1(-INFINITY));
                    tmax = vf_max(tmax, s[r][t]);
                }
                const float mt = vf_hmax(tmax), mn = mt > m[r] ? mt : m[r];
                alpha[r] = expf(m[r] - mn);
                m[r] = mn;
                vf sum = vf_zero();
                for (int t = 0; t < ATT_KV; t++) {
                    const vf e = vf_exp(vf_sub(s[r][t], vf_set1(mn)));
                    sum = vf_add(sum, e);
                    vf_store(pt + r * ATT_KT + t * VF_N, e);
                }
                l[r] = l[r] * alpha[r] + vf_hsum(sum);
            }
            const float *vt = V + j0 * dv;
            for (int64_t c = 0; c < dv; c += VF_N) {
                const int64_t w = dv - c < VF_N ? dv - c : VF_N;
                vf a0 = vf_mul(vf_load_n(acc + c, w), vf_set1(alpha[0]));
                vf a1 = vf_mul(vf_load_n(acc + dv + c, w), vf_set1(alpha[1]));
                vf a2 = vf_mul(vf_load_n(acc + 2 * dv + c, w), vf_set1(alpha[2]));
                vf a3 = vf_mul(vf_load_n(acc + 3 * dv + c, w), vf_set1(alpha[3]));
                for (int64_t j = 0; j < valid; j++) {
                    const vf vv = w == VF_N ? vf_load(vt + j * dv + c) : vf_load_n(vt + j * dv + c, w);
                    a0 = vf_fmadd(vf_set1(pt[j]), vv, a0);
                    a1 = vf_fmadd(vf_set1(pt[ATT_KT + j]), vv, a1);
                    a2 = vf_fmadd(vf_set1(pt[2 * ATT_KT + j]), vv, a2);
                    a3 = vf_fmadd(vf_set1(pt[3 * ATT_KT + j]), vv, a3);
                }
                vf_store_n(acc + c, a0, w);
                vf_store_n(acc + dv + c, a1, w);
                vf_store_n(acc + 2 * dv + c, a2, w);
                vf_store_n(acc + 3 * dv + c, a3, w);
            }
        }
        for (int64_t r = 0; r < rows; r++) {
            const float inv = 1.0f / l[r];
            for (int64_t c = 0; c < dv; c++) Y[(r0 + r) * dv + c] = acc[r * dv + c] * inv;
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
    .softmax = softmax_row,
    .mean_var = mean_var,
    .scale_shift_row = scale_shift_row,
    .affine = affine,
    .attention = attention,
};
