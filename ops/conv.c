/* conv.c - convolutions: Conv, ConvTranspose, ConvInteger, QLinearConv.
 *
 * Reference kernels. Conv lowers to im2col + GEMM over tiles of output positions,
 * so the scratch buffer stays a few MB whatever the image size; 1x1 stride-1
 * unpadded convs hand the input to the GEMM directly, and convs with one input
 * channel per group (depthwise) run a direct loop. ConvTranspose is GEMM +
 * col2im over tiles of input positions. The integer ops share the structure in
 * int32 with the zero points subtracted up front. Float16, bfloat16 and double
 * are converted to float and back.
 * Those are the reference kernels (and the oracle of tests/unit/test_conv_fast.c).
 * Float32 Conv with constant weights takes the fast path further down: weights
 * packed once in prepare(), the product on the blocked GEMM of gemm.c, bias,
 * residual and activation in the GEMM epilogue (shared with FusedConv).
 */
#include "conv_fast.h"
#include "qlinear.h"

#include <stdlib.h>

/* Kernel, stride, dilation and pad attributes above this are rejected so that
 * products of them with tensor dims cannot overflow int64. */
#define ATTR_MAX ((int64_t)1 << 24)
#define COL_BUDGET ((int64_t)1 << 20) /* elements of one im2col / col2im tile */
#define COL_MIN_N 64                  /* narrowest tile, in positions */
/* GEMM blocking: a GEMM_KB x GEMM_NB block of B (128 KB) stays in L2 while
 * every 4-row strip of A passes over it. */
#define GEMM_NB 256
#define GEMM_KB 128

typedef enum pad_mode { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID } pad_mode;

static void *alloc_n(int64_t n, size_t size)
{
    return malloc(n > 0 ? (size_t)n * size : 1);
}

/* ---- attributes ---- */

/* An INTS attribute of exactly n values in [lo, ATTR_MAX]; def fills it when absent
 * or empty. */
static onyx_status ints_attr(onyx_kctx *k, const char *name, int n, int64_t def, int64_t lo,
                             int64_t *out)
{
    const int64_t *v;
    int cnt = k_attr_ints(k, name, &v);
    if (cnt <= 0) {
        for (int i = 0; i < n; i++) out[i] = def;
        return ONYX_OK;
    }
    if (cnt != n)
        return k_fail(k, ONYX_E_INVALID, "attribute %s has %d values, expected %d", name, cnt, n);
    for (int i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > ATTR_MAX)
            return k_fail(k, ONYX_E_INVALID, "attribute %s[%d] = %lld is out of range [%lld, %lld]",
                          name, i, (long long)v[i], (long long)lo, (long long)ATTR_MAX);
        out[i] = v[i];
    }
    return ONYX_OK;
}

static onyx_status auto_pad_attr(onyx_kctx *k, pad_mode *mode)
{
    const char *s = k_attr_string(k, "auto_pad", "NOTSET");
    if (strcmp(s, "NOTSET") == 0 || s[0] == 0) *mode = PAD_NOTSET;
    else if (strcmp(s, "SAME_UPPER") == 0) *mode = PAD_SAME_UPPER;
    else if (strcmp(s, "SAME_LOWER") == 0) *mode = PAD_SAME_LOWER;
    else if (strcmp(s, "VALID") == 0) *mode = PAD_VALID;
    else
        return k_fail(k, ONYX_E_INVALID,
                      "attribute auto_pad is '%s' (expected NOTSET, SAME_UPPER, SAME_LOWER or VALID)",
                      s);
    return ONYX_OK;
}

/* kernel_shape is optional; when given it must agree with W. */
static onyx_status check_kernel_shape(onyx_kctx *k, const int64_t *kdims, int nsp)
{
    const int64_t *v;
    int cnt = k_attr_ints(k, "kernel_shape", &v);
    if (cnt <= 0) return ONYX_OK;
    if (cnt != nsp)
        return k_fail(k, ONYX_E_INVALID, "attribute kernel_shape has %d values, expected %d", cnt,
                      nsp);
    for (int a = 0; a < nsp; a++)
        if (v[a] != kdims[a])
            return k_fail(k, ONYX_E_SHAPE, "kernel_shape[%d] = %lld but W has %lld at axis %d", a,
                          (long long)v[a], (long long)kdims[a], 2 + a);
    return ONYX_OK;
}

static onyx_status geom_sizes(onyx_kctx *k, conv_geom *g)
{
    g->in_sz = tensor_numel_of(g->nsp, g->in);
    g->out_sz = tensor_numel_of(g->nsp, g->out);
    g->k_sz = tensor_numel_of(g->nsp, g->k);
    if (g->in_sz < 0 || g->out_sz < 0 || g->k_sz < 0)
        return k_fail(k, ONYX_E_LIMIT, "spatial size overflows");
    return ONYX_OK;
}

/* Reads the attributes Conv, ConvInteger and QLinearConv share, checks X
 * (N x C x D1..Dn) against W (M x C/group x k1..kn) and fills g. */
static onyx_status conv_setup(onyx_kctx *k, int xi, int wi, conv_geom *g, int64_t *group)
{
    const onyx_tensor *x = k_input(k, xi), *w = k_input(k, wi);
    if (x->rank < 3)
        return k_fail(k, ONYX_E_SHAPE, "input %d (X) must have rank >= 3 (N x C x D1...), got %d",
                      xi, x->rank);
    if (w->rank != x->rank)
        return k_fail(k, ONYX_E_SHAPE, "input %d (W) has rank %d but X has rank %d", wi, w->rank,
                      x->rank);
    int nsp = x->rank - 2;
    int64_t grp = k_attr_int(k, "group", 1);
    int64_t c = x->dims[1], m = w->dims[0];
    if (grp < 1) return k_fail(k, ONYX_E_INVALID, "attribute group = %lld must be >= 1", (long long)grp);
    if (c % grp || m % grp)
        return k_fail(k, ONYX_E_SHAPE,
                      "X channels (%lld) and W output channels (%lld) must be divisible by group %lld",
                      (long long)c, (long long)m, (long long)grp);
    if (w->dims[1] != c / grp)
        return k_fail(k, ONYX_E_SHAPE,
                      "W has %lld input channels per group but X has %lld channels in %lld groups",
                      (long long)w->dims[1], (long long)c, (long long)grp);
    *group = grp;
    return conv_window_setup(k, nsp, x->dims + 2, w->dims + 2, g);
}

onyx_status conv_window_setup(onyx_kctx *k, int nsp, const int64_t *in_dims, const int64_t *kdims, conv_geom *g)
{
    onyx_status st = check_kernel_shape(k, kdims, nsp);
    int64_t pads[2 * MAXSP];
    pad_mode mode;
    g->nsp = nsp;
    if (st || (st = ints_attr(k, "strides", nsp, 1, 1, g->s)) ||
        (st = ints_attr(k, "dilations", nsp, 1, 1, g->d)) ||
        (st = ints_attr(k, "pads", 2 * nsp, 0, 0, pads)) || (st = auto_pad_attr(k, &mode)))
        return st;
    for (int a = 0; a < nsp; a++) {
        int64_t in = in_dims[a], kk = kdims[a];
        if (kk < 1) return k_fail(k, ONYX_E_SHAPE, "W has kernel size %lld at axis %d", (long long)kk, 2 + a);
        int64_t dk = (kk - 1) * g->d[a] + 1, pb = 0, pe = 0;
        g->in[a] = in;
        g->k[a] = kk;
        if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            int64_t out = (in + g->s[a] - 1) / g->s[a];
            int64_t total = (out - 1) * g->s[a] + dk - in;
            if (total < 0) total = 0;
            g->pb[a] = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            g->out[a] = out;
            continue;
        }
        if (mode == PAD_NOTSET) {
            pb = pads[a];
            pe = pads[nsp + a];
        }
        int64_t span = in + pb + pe - dk;
        if (span < 0)
            return k_fail(k, ONYX_E_SHAPE,
                          "axis %d: input size %lld with pads %lld+%lld is smaller than the "
                          "dilated kernel %lld",
                          2 + a, (long long)in, (long long)pb, (long long)pe, (long long)dk);
        g->pb[a] = pb;
        g->out[a] = span / g->s[a] + 1;
    }
    return geom_sizes(k, g);
}

/* ---- window runs ---- */

/* Positions j .. j+n-1 of the window (n <= max_n, within one row of the last
 * axis) for kernel offset kc: positions t in [lo, hi) of the run touch image
 * element base + t*s (s the last-axis stride); the others fall in the padding. */
typedef struct col_run {
    int64_t n, lo, hi, base;
} col_run;

static void col_run_at(const conv_geom *g, const int64_t *kc, int64_t j, int64_t max_n, col_run *r)
{
    int last = g->nsp - 1;
    int64_t ow = j % g->out[last], rest = j / g->out[last];
    r->n = g->out[last] - ow < max_n ? g->out[last] - ow : max_n;
    r->lo = r->hi = r->base = 0;
    int64_t base = 0, stride = g->in[last];
    for (int a = last - 1; a >= 0; a--) {
        int64_t o = rest % g->out[a];
        rest /= g->out[a];
        int64_t i = o * g->s[a] + kc[a] * g->d[a] - g->pb[a];
        if (i < 0 || i >= g->in[a]) return;
        base += i * stride;
        stride *= g->in[a];
    }
    /* position t reads (ow + t)*s + off along the last axis */
    int64_t s = g->s[last], w = g->in[last];
    int64_t off = kc[last] * g->d[last] - g->pb[last];
    int64_t lo = off < 0 ? (-off + s - 1) / s - ow : 0;
    int64_t hi = w - 1 - off < 0 ? 0 : (w - 1 - off) / s - ow + 1;
    if (lo < 0) lo = 0;
    if (lo > r->n) lo = r->n;
    if (hi > r->n) hi = r->n;
    if (hi < lo) hi = lo;
    r->lo = lo;
    r->hi = hi;
    r->base = base + ow * s + off;
}

static void kernel_coords(const conv_geom *g, int64_t q, int64_t *kc)
{
    for (int a = g->nsp - 1; a >= 0; a--) {
        kc[a] = q % g->k[a];
        q /= g->k[a];
    }
}

/* Column tile width for `rows` rows: whole positions range when it fits the budget. */
static int64_t tile_width(int64_t rows, int64_t positions)
{
    int64_t nt = positions;
    if (rows > 0 && nt > COL_BUDGET / rows) {
        nt = COL_BUDGET / rows;
        if (nt < COL_MIN_N) nt = COL_MIN_N;
        if (nt > positions) nt = positions;
    }
    return nt;
}

/* col[(c*K + q) * nt + t] = image c at window position j0 + t, kernel offset q. */
static void im2col_f32(const float *x, const conv_geom *g, int64_t chans, int64_t j0, int64_t nt,
                       float *col)
{
    int64_t kc[MAXSP], s = g->s[g->nsp - 1];
    for (int64_t c = 0; c < chans; c++) {
        const float *xc = x + c * g->in_sz;
        for (int64_t q = 0; q < g->k_sz; q++) {
            float *row = col + (c * g->k_sz + q) * nt;
            kernel_coords(g, q, kc);
            for (int64_t t0 = 0; t0 < nt;) {
                col_run r;
                col_run_at(g, kc, j0 + t0, nt - t0, &r);
                float *dst = row + t0;
                int64_t t = 0;
                for (; t < r.lo; t++) dst[t] = 0;
                if (s == 1) {
                    memcpy(dst + r.lo, xc + (r.base + r.lo), (size_t)(r.hi - r.lo) * sizeof(float));
                    t = r.hi;
                } else {
                    for (; t < r.hi; t++) dst[t] = xc[r.base + t * s];
                }
                for (; t < r.n; t++) dst[t] = 0;
                t0 += r.n;
            }
        }
    }
}

static void im2col_i32(const int32_t *x, const conv_geom *g, int64_t chans, int64_t j0, int64_t nt,
                       int32_t *col)
{
    int64_t kc[MAXSP], s = g->s[g->nsp - 1];
    for (int64_t c = 0; c < chans; c++) {
        const int32_t *xc = x + c * g->in_sz;
        for (int64_t q = 0; q < g->k_sz; q++) {
            int32_t *row = col + (c * g->k_sz + q) * nt;
            kernel_coords(g, q, kc);
            for (int64_t t0 = 0; t0 < nt;) {
                col_run r;
                col_run_at(g, kc, j0 + t0, nt - t0, &r);
                int32_t *dst = row + t0;
                int64_t t = 0;
                for (; t < r.lo; t++) dst[t] = 0;
                for (; t < r.hi; t++) dst[t] = xc[r.base + t * s];
                for (; t < r.n; t++) dst[t] = 0;
                t0 += r.n;
            }
        }
    }
}

/* ---- GEMM: C[m x n] += A[m x kd] * B[kd x n], row-major with leading dims ---- */

/* A 4 x 8 tile of C over kb steps of the depth. Named scalar accumulators (not
 * an array) so that compilers keep them in registers and, at -O2, pack them into
 * SIMD lanes; this is the one loop that decides how long a CNN takes. */
static void tile_4x8(int64_t kb, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc)
{
    float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
    float c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
    float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
    float c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
    const float *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda;
    for (int64_t p = 0; p < kb; p++) {
        const float *bp = b + p * ldb;
        float b0 = bp[0], b1 = bp[1], b2 = bp[2], b3 = bp[3];
        float b4 = bp[4], b5 = bp[5], b6 = bp[6], b7 = bp[7];
        float w = a[p];
        c00 += w * b0; c01 += w * b1; c02 += w * b2; c03 += w * b3;
        c04 += w * b4; c05 += w * b5; c06 += w * b6; c07 += w * b7;
        w = a1[p];
        c10 += w * b0; c11 += w * b1; c12 += w * b2; c13 += w * b3;
        c14 += w * b4; c15 += w * b5; c16 += w * b6; c17 += w * b7;
        w = a2[p];
        c20 += w * b0; c21 += w * b1; c22 += w * b2; c23 += w * b3;
        c24 += w * b4; c25 += w * b5; c26 += w * b6; c27 += w * b7;
        w = a3[p];
        c30 += w * b0; c31 += w * b1; c32 += w * b2; c33 += w * b3;
        c34 += w * b4; c35 += w * b5; c36 += w * b6; c37 += w * b7;
    }
    float *r = c;
    r[0] += c00; r[1] += c01; r[2] += c02; r[3] += c03;
    r[4] += c04; r[5] += c05; r[6] += c06; r[7] += c07;
    r += ldc;
    r[0] += c10; r[1] += c11; r[2] += c12; r[3] += c13;
    r[4] += c14; r[5] += c15; r[6] += c16; r[7] += c17;
    r += ldc;
    r[0] += c20; r[1] += c21; r[2] += c22; r[3] += c23;
    r[4] += c24; r[5] += c25; r[6] += c26; r[7] += c27;
    r += ldc;
    r[0] += c30; r[1] += c31; r[2] += c32; r[3] += c33;
    r[4] += c34; r[5] += c35; r[6] += c36; r[7] += c37;
}

/* Any tile: one row of C at a time, the depth loop outside the contiguous one. */
static void tile_any(int64_t mb, int64_t nb, int64_t kb, const float *a, int64_t lda,
                     const float *b, int64_t ldb, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < mb; i++) {
        float *cr = c + i * ldc;
        for (int64_t p = 0; p < kb; p++) {
            float w = a[i * lda + p];
            const float *bp = b + p * ldb;
            for (int64_t j = 0; j < nb; j++) cr[j] += w * bp[j];
        }
    }
}

static void sgemm_acc(int64_t m, int64_t n, int64_t kd, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float *c, int64_t ldc)
{
    for (int64_t j0 = 0; j0 < n; j0 += GEMM_NB) {
        int64_t nb = n - j0 < GEMM_NB ? n - j0 : GEMM_NB, nb8 = nb & ~(int64_t)7;
        for (int64_t p0 = 0; p0 < kd; p0 += GEMM_KB) {
            int64_t kb = kd - p0 < GEMM_KB ? kd - p0 : GEMM_KB;
            const float *bb = b + p0 * ldb + j0;
            int64_t i = 0;
            for (; i + 4 <= m; i += 4) {
                const float *ai = a + i * lda + p0;
                float *ci = c + i * ldc + j0;
                for (int64_t j = 0; j < nb8; j += 8) tile_4x8(kb, ai, lda, bb + j, ldb, ci + j, ldc);
                tile_any(4, nb - nb8, kb, ai, lda, bb + nb8, ldb, ci + nb8, ldc);
            }
            tile_any(m - i, nb, kb, a + i * lda + p0, lda, bb, ldb, c + i * ldc + j0, ldc);
        }
    }
}

/* Accumulates in uint32 so that overflow wraps (as int32 hardware does) instead of
 * being undefined; the products themselves fit easily (|x|,|w| <= 510). */
static void igemm_acc(int64_t m, int64_t n, int64_t kd, const int32_t *a, int64_t lda,
                      const int32_t *b, int64_t ldb, int32_t *c, int64_t ldc)
{
    for (int64_t j0 = 0; j0 < n; j0 += GEMM_NB) {
        int64_t nb = n - j0 < GEMM_NB ? n - j0 : GEMM_NB;
        for (int64_t i = 0; i < m; i++) {
            int32_t *cr = c + i * ldc + j0;
            for (int64_t p = 0; p < kd; p++) {
                int32_t av = a[i * lda + p];
                if (av == 0) continue;
                const int32_t *br = b + p * ldb + j0;
                for (int64_t j = 0; j < nb; j++)
                    cr[j] = (int32_t)((uint32_t)cr[j] + (uint32_t)(av * br[j]));
            }
        }
    }
}

/* ---- float conversion ---- */

/* t's elements as floats: t->data for float tensors, else a converted copy
 * returned in *owned (NULL on out of memory). */
static const float *as_f32(const onyx_tensor *t, float **owned)
{
    *owned = NULL;
    if (t->dtype == ONYX_FLOAT) return t->data;
    int64_t n = tensor_numel_of(t->rank, t->dims);
    float *p = alloc_n(n, sizeof(float));
    if (!p) return NULL;
    const uint16_t *h = t->data;
    const double *dd = t->data;
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case ONYX_FLOAT16: p[i] = f16_to_f32(h[i]); break;
        case ONYX_BFLOAT16: p[i] = bf16_to_f32(h[i]); break;
        default: p[i] = (float)dd[i]; break;
        }
    }
    *owned = p;
    return p;
}

static void store_f32(onyx_tensor *t, const float *src)
{
    int64_t n = tensor_numel_of(t->rank, t->dims);
    uint16_t *h = t->data;
    double *dd = t->data;
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case ONYX_FLOAT16: h[i] = f32_to_f16(src[i]); break;
        case ONYX_BFLOAT16: h[i] = f32_to_bf16(src[i]); break;
        default: dd[i] = src[i]; break;
        }
    }
}

/* Float buffer the kernel computes Y in: y->data itself for float outputs. */
static float *out_f32(onyx_tensor *y)
{
    if (y->dtype == ONYX_FLOAT) return y->data;
    float *p = alloc_n(tensor_numel_of(y->rank, y->dims), sizeof(float));
    if (p) memset(p, 0, (size_t)tensor_numel_of(y->rank, y->dims) * sizeof(float));
    return p;
}

static onyx_status nomem(onyx_kctx *k)
{
    return k_fail(k, ONYX_E_NOMEM, "out of memory for scratch buffers");
}

/* Optional bias (input bi): rank 1 with m elements of dtype dt. */
static onyx_status check_bias(onyx_kctx *k, int bi, onyx_dtype dt, int64_t m)
{
    const onyx_tensor *b = k_input(k, bi);
    if (!b) return ONYX_OK;
    if (b->kind != ONYX_KIND_TENSOR || b->dtype != dt)
        return k_fail(k, ONYX_E_INVALID, "input %d (B) must be a %s tensor, got %s", bi,
                      onyx_dtype_name(dt), onyx_dtype_name(b->dtype));
    if (b->rank != 1 || b->dims[0] != m)
        return k_fail(k, ONYX_E_SHAPE, "input %d (B) must have shape [%lld], got rank %d with %lld elements",
                      bi, (long long)m, b->rank, (long long)tensor_numel_of(b->rank, b->dims));
    return ONYX_OK;
}

/* ---- Conv ---- */

/* Depthwise: each output plane reads one input plane. The taps along the last
 * axis are summed together where all of them land inside the image (one load
 * and store of y per kernel row instead of per tap); near the borders each tap
 * covers its own valid range. */
#define DIRECT_MAX_KL 16

static void conv_direct_f32(const conv_geom *g, const float *x, const float *w, float *y)
{
    int last = g->nsp - 1;
    int64_t kl = g->k[last], s = g->s[last], dl = g->d[last], kc[MAXSP];
    if (kl > DIRECT_MAX_KL) {
        for (int64_t q = 0; q < g->k_sz; q++) {
            float wv = w[q];
            kernel_coords(g, q, kc);
            for (int64_t j = 0; j < g->out_sz;) {
                col_run r;
                col_run_at(g, kc, j, g->out_sz - j, &r);
                for (int64_t t = r.lo; t < r.hi; t++) y[j + t] += wv * x[r.base + t * s];
                j += r.n;
            }
        }
        return;
    }
    col_run rk[DIRECT_MAX_KL];
    for (int64_t q0 = 0; q0 < g->k_sz; q0 += kl) {
        const float *wr = w + q0;
        kernel_coords(g, q0, kc);
        for (int64_t j = 0; j < g->out_sz;) {
            int64_t n = 0, lo = 0, hi = g->out_sz;
            for (int64_t kw = 0; kw < kl; kw++) {
                kc[last] = kw;
                col_run_at(g, kc, j, g->out_sz - j, &rk[kw]);
                n = rk[kw].n;
                if (rk[kw].lo > lo) lo = rk[kw].lo;
                if (rk[kw].hi < hi) hi = rk[kw].hi;
            }
            float *yr = y + j;
            if (lo < hi) {
                int64_t b0 = rk[0].base;
                if (kl == 3) {
                    float w0 = wr[0], w1 = wr[1], w2 = wr[2];
                    for (int64_t t = lo; t < hi; t++) {
                        const float *xt = x + (b0 + t * s);
                        yr[t] += w0 * xt[0] + w1 * xt[dl] + w2 * xt[2 * dl];
                    }
                } else {
                    for (int64_t t = lo; t < hi; t++) {
                        const float *xt = x + (b0 + t * s);
                        float acc = 0;
                        for (int64_t kw = 0; kw < kl; kw++) acc += wr[kw] * xt[kw * dl];
                        yr[t] += acc;
                    }
                }
            } else {
                lo = hi = n;
            }
            for (int64_t kw = 0; kw < kl; kw++) {
                const col_run *r = &rk[kw];
                float wv = wr[kw];
                int64_t e1 = r->hi < lo ? r->hi : lo, s2 = r->lo > hi ? r->lo : hi;
                for (int64_t t = r->lo; t < e1; t++) yr[t] += wv * x[r->base + t * s];
                for (int64_t t = s2; t < r->hi; t++) yr[t] += wv * x[r->base + t * s];
            }
            j += n;
        }
    }
}

static bool conv_f32(const conv_geom *g, int64_t n_batch, int64_t c, int64_t m, int64_t grp,
                     const float *x, const float *w, const float *b, float *y)
{
    int64_t cg = c / grp, mg = m / grp, ck = cg * g->k_sz;
    bool pointwise = true;
    for (int a = 0; a < g->nsp; a++)
        if (g->k[a] != 1 || g->s[a] != 1 || g->pb[a] != 0 || g->out[a] != g->in[a]) pointwise = false;
    bool direct = cg == 1;
    int64_t nt = tile_width(ck, g->out_sz);
    float *col = NULL;
    if (!pointwise && !direct && g->out_sz > 0 && mg > 0) {
        col = alloc_n(ck * nt, sizeof(float));
        if (!col) return false;
    }
    for (int64_t n = 0; n < n_batch; n++) {
        for (int64_t gi = 0; gi < grp; gi++) {
            const float *xg = x + (n * c + gi * cg) * g->in_sz;
            const float *wg = w + gi * mg * ck;
            float *yg = y + (n * m + gi * mg) * g->out_sz;
            for (int64_t o = 0; o < mg; o++) {
                float bv = b ? b[gi * mg + o] : 0.0f;
                float *yo = yg + o * g->out_sz;
                for (int64_t j = 0; j < g->out_sz; j++) yo[j] = bv;
            }
            if (direct) {
                for (int64_t o = 0; o < mg; o++)
                    conv_direct_f32(g, xg, wg + o * g->k_sz, yg + o * g->out_sz);
            } else if (pointwise) {
                sgemm_acc(mg, g->out_sz, cg, wg, cg, xg, g->in_sz, yg, g->out_sz);
            } else if (col) {
                for (int64_t j0 = 0; j0 < g->out_sz; j0 += nt) {
                    int64_t cur = g->out_sz - j0 < nt ? g->out_sz - j0 : nt;
                    im2col_f32(xg, g, cg, j0, cur, col);
                    sgemm_acc(mg, cur, ck, wg, ck, col, cur, yg + j0, g->out_sz);
                }
            }
        }
    }
    free(col);
    return true;
}

/* ---- Conv fast path: weights packed once, the product on the GEMM ----
 *
 * A convolution is W[M x C/g*K] times the im2col matrix of X. The im2col
 * matrix is never built: X is copied once into a zero-padded "phase" image
 * (for stride s, s x s sub-images of every s-th pixel, so that every tap of
 * the kernel reads a contiguous shifted window of one sub-image), and row
 * (c, tap) of the im2col matrix is then that image at a fixed offset. The GEMM
 * computes the output over the padded row pitch of the phase image and drops
 * the extra columns when it stores. A 1x1 stride-1 unpadded conv reads X as
 * it is. Depthwise convs (one channel per group) run the direct loop. */

typedef struct conv_state {
    const gemm_ukernel *uk;
    int64_t m, cg, group, ksz;
    size_t wpack_floats;   /* per group */
    float *wpack;
    /* the phase image and the GEMM's packing live in the session's shared
     * scratch (k_scratch); these are used only outside a session */
    gemm_scratch own_gemm, own_image;
    int64_t *row_off;      /* im2col row -> offset in the phase image */
    int64_t row_off_n;
} conv_state;

void conv_release(void *state)
{
    conv_state *s = state;
    if (!s) return;
    k_free_packed(s->wpack);
    gemm_scratch_free(&s->own_gemm);
    gemm_scratch_free(&s->own_image);
    free(s->row_off);
    free(s);
}

/* Strides up to 64 take the packed path (phase_plan_make); with bigger ones
 * run() needs the weights as they are. */
static bool conv_strides_packable(const onyx_kctx *k)
{
    const int64_t *st;
    int n = k_attr_ints(k, "strides", &st);
    for (int i = 0; i < n; i++)
        if (st[i] > 64) return false;
    return true;
}

onyx_status conv_prepare(onyx_kctx *k, void **state)
{
    *state = NULL;
    /* the weights are packed from where they lie (any alignment) */
    const onyx_tensor *w = k_input_unaligned(k, 1);
    /* anything unusual is left to run(), which reports it */
    if (!w || w->kind != ONYX_KIND_TENSOR || w->dtype != ONYX_FLOAT || w->rank < 3 || w->rank > 4)
        return ONYX_OK;
    int64_t grp = k_attr_int(k, "group", 1), m = w->dims[0], cg = w->dims[1];
    int64_t ksz = tensor_numel_of(w->rank - 2, w->dims + 2);
    if (grp < 1 || m <= 0 || m % grp || cg <= 0 || ksz <= 0) return ONYX_OK;
    conv_state *s = calloc(1, sizeof *s);
    if (!s) return nomem(k);
    s->uk = gemm_ukernel_best();
    s->m = m;
    s->cg = cg;
    s->group = grp;
    s->ksz = ksz;
    int64_t mg = m / grp, ck = cg * ksz;
    if (!(cg == 1 && mg == 1)) {
        s->wpack_floats = gemm_packed_a_floats(s->uk, mg, ck);
        s->wpack = k_alloc_packed(k, s->wpack_floats * (size_t)grp * sizeof(float));
        if (!s->wpack) {
            conv_release(s);
            return nomem(k);
        }
        const unsigned char *wb = w->data;
        for (int64_t gi = 0; gi < grp; gi++)
            gemm_pack_a(s->uk, mg, ck, wb + (size_t)(gi * mg * ck) * sizeof(float), ck, 1,
                        s->wpack + gi * s->wpack_floats);
        /* run() reads only the packed copy, unless the geometry is one for the
         * reference (strides above 64: see phase_plan_make) */
        if (conv_strides_packable(k)) k_input_consumed(k, 1);
    }
    *state = s;
    return ONYX_OK;
}

/* The 2-D view of a 1-D or 2-D geometry: axis 0 of size 1 for 1-D. */
typedef struct geom2 {
    int64_t ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw;
} geom2;

static geom2 geom_2d(const conv_geom *g)
{
    geom2 v = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    int a = g->nsp == 2 ? 1 : 0;
    v.iw = g->in[a], v.ow = g->out[a], v.kw = g->k[a], v.sw = g->s[a], v.dw = g->d[a], v.pw = g->pb[a];
    if (g->nsp == 2)
        v.ih = g->in[0], v.oh = g->out[0], v.kh = g->k[0], v.sh = g->s[0], v.dh = g->d[0],
        v.ph = g->pb[0];
    return v;
}

/* Phase image layout: for each channel, the used (row phase, column phase)
 * sub-images, each hp x wp. */
typedef struct phase_plan {
    geom2 v;
    int64_t hp, wp, plane, chan;
    int slot_y[64], slot_x[64]; /* compact index of a used phase, -1 unused */
    int ny, nx;
} phase_plan;

static bool phase_plan_make(const conv_geom *g, phase_plan *pp)
{
    geom2 v = geom_2d(g);
    if (v.sh > 64 || v.sw > 64) return false;
    pp->v = v;
    pp->hp = v.oh + (v.kh - 1) * v.dh / v.sh;
    pp->wp = v.ow + (v.kw - 1) * v.dw / v.sw;
    for (int i = 0; i < 64; i++) pp->slot_y[i] = pp->slot_x[i] = -1;
    pp->ny = pp->nx = 0;
    for (int64_t q = 0; q < v.kh; q++)
        if (pp->slot_y[q * v.dh % v.sh] < 0) pp->slot_y[q * v.dh % v.sh] = pp->ny++;
    for (int64_t q = 0; q < v.kw; q++)
        if (pp->slot_x[q * v.dw % v.sw] < 0) pp->slot_x[q * v.dw % v.sw] = pp->nx++;
    pp->plane = pp->hp * pp->wp;
    pp->chan = pp->plane * pp->ny * pp->nx;
    /* keep every size far from overflow; bigger images take the reference path */
    return pp->hp < ((int64_t)1 << 24) && pp->wp < ((int64_t)1 << 24) &&
           (double)pp->chan < (double)((int64_t)1 << 36);
}

typedef struct phase_job {
    const phase_plan *pp;
    const float *x;   /* one image: C planes of ih x iw */
    float *img;
} phase_job;

/* Channels [begin, end) of the image into their phase sub-images. */
static void phase_fill(void *arg, int64_t begin, int64_t end)
{
    const phase_job *pj = arg;
    const phase_plan *pp = pj->pp;
    const geom2 *v = &pp->v;
    for (int64_t c = begin; c < end; c++) {
        const float *xc = pj->x + c * v->ih * v->iw;
        for (int64_t py = 0; py < v->sh; py++) {
            if (pp->slot_y[py] < 0) continue;
            for (int64_t px = 0; px < v->sw; px++) {
                if (pp->slot_x[px] < 0) continue;
                float *dst = pj->img + c * pp->chan +
                             (pp->slot_y[py] * pp->nx + pp->slot_x[px]) * pp->plane;
                /* columns xx whose source ix = xx*sw + px - pw lies in [0, iw) */
                int64_t off = px - v->pw;
                int64_t lo = off >= 0 ? 0 : (-off + v->sw - 1) / v->sw;
                int64_t hi = v->iw - 1 - off < 0 ? 0 : (v->iw - 1 - off) / v->sw + 1;
                if (lo > pp->wp) lo = pp->wp;
                if (hi > pp->wp) hi = pp->wp;
                if (hi < lo) hi = lo;
                for (int64_t yy = 0; yy < pp->hp; yy++, dst += pp->wp) {
                    int64_t iy = yy * v->sh + py - v->ph;
                    if (iy < 0 || iy >= v->ih) {
                        memset(dst, 0, (size_t)pp->wp * sizeof(float));
                        continue;
                    }
                    const float *src = xc + iy * v->iw + off;
                    memset(dst, 0, (size_t)lo * sizeof(float));
                    if (v->sw == 1) {
                        memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
                    } else {
                        for (int64_t xx = lo; xx < hi; xx++) dst[xx] = src[xx * v->sw];
                    }
                    memset(dst + hi, 0, (size_t)(pp->wp - hi) * sizeof(float));
                }
            }
        }
    }
}

#define DW_MAX_TAPS 64

typedef struct dw_job {
    const phase_plan *pp;
    const float *img, *w, *b, *z; /* z and y: this batch item's */
    float *y;
    const int64_t *tap_off;       /* tap -> offset in a channel's phase image */
    int taps;
    const gemm_ukernel *uk;
    const gemm_epilogue *ep;      /* NULL when only the bias applies */
} dw_job;

/* Depthwise channels [begin, end): each output row is a weighted sum of
 * shifted rows of the channel's phase image. */
static void dw_channels(void *arg, int64_t begin, int64_t end)
{
    const dw_job *dj = arg;
    const phase_plan *pp = dj->pp;
    int64_t oh = pp->v.oh, ow = pp->v.ow;
    const float *src[DW_MAX_TAPS];
    for (int64_t ch = begin; ch < end; ch++) {
        const float *base = dj->img + ch * pp->chan;
        float *yc = dj->y + ch * oh * ow;
        for (int64_t r = 0; r < oh; r++) {
            for (int t = 0; t < dj->taps; t++) src[t] = base + dj->tap_off[t] + r * pp->wp;
            float *row = yc + r * ow;
            dj->uk->dw_row(src, dj->w + ch * dj->taps, dj->taps, dj->b ? dj->b[ch] : 0.0f, row, ow);
            if (dj->ep)
                dj->uk->row_final(dj->ep, row, row, ow, 0.0f, NULL,
                                  dj->z ? dj->z + ch * oh * ow + r * ow : NULL);
        }
    }
}

/* Stride-1 depthwise straight from X (no padded copy): per output row, the
 * taps whose input row exists; the columns where every tap lands inside the
 * row go to the vector kernel, the few border columns are summed here. The
 * image is dj->img (N*C planes of ih x iw). */
static void dw_channels_direct(void *arg, int64_t begin, int64_t end)
{
    const dw_job *dj = arg;
    const geom2 *v = &dj->pp->v;
    int64_t oh = v->oh, ow = v->ow;
    /* columns [lo, hi) have every tap inside the row */
    int64_t lo = v->pw, hi = v->iw + v->pw - (v->kw - 1) * v->dw;
    if (lo > ow) lo = ow;
    if (hi > ow) hi = ow;
    if (hi < lo) hi = lo;
    const float *src[DW_MAX_TAPS];
    float wt[DW_MAX_TAPS];
    int64_t xoff[DW_MAX_TAPS]; /* column offset of each gathered tap */
    for (int64_t ch = begin; ch < end; ch++) {
        const float *xc = dj->img + ch * v->ih * v->iw, *wc = dj->w + ch * dj->taps;
        float *yc = dj->y + ch * oh * ow, bias = dj->b ? dj->b[ch] : 0.0f;
        for (int64_t r = 0; r < oh; r++) {
            int n = 0;
            for (int64_t ky = 0; ky < v->kh; ky++) {
                int64_t iy = r + ky * v->dh - v->ph;
                if (iy < 0 || iy >= v->ih) continue;
                for (int64_t kx = 0; kx < v->kw; kx++) {
                    xoff[n] = kx * v->dw - v->pw;
                    src[n] = xc + iy * v->iw + xoff[n];
                    wt[n++] = wc[ky * v->kw + kx];
                }
            }
            float *row = yc + r * ow;
            /* border columns, summed in tap order as the vector kernel does */
            for (int part = 0; part < 2; part++) {
                int64_t j0 = part == 0 ? 0 : hi, j1 = part == 0 ? (hi > lo ? lo : ow) : ow;
                if (part == 1 && hi <= lo) break;
                for (int64_t j = j0; j < j1; j++) {
                    float acc = bias;
                    for (int t = 0; t < n; t++) {
                        int64_t ix = j + xoff[t];
                        if (ix >= 0 && ix < v->iw) acc += wt[t] * src[t][j];
                    }
                    row[j] = acc;
                }
            }
            if (hi > lo) {
                const float *shifted[DW_MAX_TAPS];
                for (int t = 0; t < n; t++) shifted[t] = src[t] + lo;
                dj->uk->dw_row(shifted, wt, n, bias, row + lo, hi - lo);
            }
            if (dj->ep)
                dj->uk->row_final(dj->ep, row, row, ow, 0.0f, NULL,
                                  dj->z ? dj->z + ch * oh * ow + r * ow : NULL);
        }
    }
}

/* Y = act(conv + B + Z) for float32 X with packed weights. Returns 1 when
 * done, 0 when out of memory, -1 when the geometry is one for the reference. */
static int conv_fast_f32(onyx_kctx *k, conv_state *s, const conv_geom *g, int64_t nb, int64_t c,
                         const float *x, const float *w, const float *b, const float *z, float *y,
                         gemm_act act, float p0, float p1)
{
    int64_t grp = s->group, cg = s->cg, mg = s->m / grp, ck = cg * g->k_sz;
    gemm_epilogue ep = {1.0f, NULL, NULL, NULL, g->out_sz, act, p0, p1};
    bool depthwise = cg == 1 && mg == 1;
    bool pointwise = !depthwise;
    for (int a = 0; a < g->nsp; a++)
        if (g->k[a] != 1 || g->s[a] != 1 || g->pb[a] != 0 || g->out[a] != g->in[a]) pointwise = false;
    if (g->nsp > 2 || (depthwise && g->k_sz > DW_MAX_TAPS)) return -1;
    phase_plan pp;
    gemm_scratch *gs = k_scratch(k, K_SCRATCH_GEMM, &s->own_gemm);
    gemm_scratch *im = k_scratch(k, K_SCRATCH_IMAGE, &s->own_image);
    bool x_image = false;
    bool dw_direct = depthwise && g->s[0] == 1 && g->s[g->nsp - 1] == 1;
    if (!pointwise) {
        if (!phase_plan_make(g, &pp)) return -1;
        if (s->row_off_n < ck) {
            int64_t *ro = realloc(s->row_off, (size_t)ck * sizeof *ro);
            if (!ro) return 0;
            s->row_off = ro;
            s->row_off_n = ck;
        }
        /* row (ci, ky, kx) reads the sub-image of its phase, shifted by the tap */
        const geom2 *v = &pp.v;
        for (int64_t ci = 0, r = 0; ci < cg; ci++)
            for (int64_t ky = 0; ky < v->kh; ky++)
                for (int64_t kx = 0; kx < v->kw; kx++, r++) {
                    int64_t ty = ky * v->dh, tx = kx * v->dw;
                    s->row_off[r] = ci * pp.chan +
                                    (pp.slot_y[ty % v->sh] * pp.nx + pp.slot_x[tx % v->sw]) * pp.plane +
                                    ty / v->sh * pp.wp + tx / v->sw;
                }
        /* stride 1 without padding: the phase image is X itself */
        x_image = !depthwise && pp.ny == 1 && pp.nx == 1 && pp.hp == pp.v.ih &&
                  pp.wp == pp.v.iw && pp.v.ph == 0 && pp.v.pw == 0;
        /* (the GEMM stops at the last output column, so it never reads past
         * the image) */
        if (!dw_direct && !x_image && !gemm_scratch_reserve(im, (size_t)(c * pp.chan))) return 0;
    }
    for (int64_t n = 0; n < nb; n++) {
        const float *xn = x + n * c * g->in_sz;
        if (dw_direct) {
            int64_t ybase = n * s->m * g->out_sz;
            dw_job dj = {&pp,          xn,           w, b, z ? z + ybase : NULL, y + ybase,
                         s->row_off,   (int)g->k_sz, s->uk,
                         (z || act != GEMM_ACT_NONE) ? &ep : NULL};
            k_parallel_for(k, c, dw_channels_direct, &dj);
            continue;
        }
        const float *image = x_image ? xn : im->data;
        if (!pointwise && !x_image) {
            phase_job pj = {&pp, xn, im->data};
            k_parallel_for(k, c, phase_fill, &pj);
        }
        if (depthwise) {
            int64_t ybase = n * s->m * g->out_sz;
            dw_job dj = {&pp,          image,         w, b, z ? z + ybase : NULL, y + ybase,
                         s->row_off,   (int)g->k_sz,  s->uk,
                         (z || act != GEMM_ACT_NONE) ? &ep : NULL};
            k_parallel_for(k, c, dw_channels, &dj);
            continue;
        }
        for (int64_t gi = 0; gi < grp; gi++) {
            int64_t ybase = (n * s->m + gi * mg) * g->out_sz;
            gemm_a ga = {s->wpack + gi * s->wpack_floats, NULL, 0, 0};
            ep.row_bias = b ? b + gi * mg : NULL;
            ep.z = z ? z + ybase : NULL;
            bool ok;
            if (pointwise) {
                gemm_b gb = {NULL, xn + gi * cg * g->in_sz, g->in_sz, 1, NULL};
                gemm_c gc = {y + ybase, g->out_sz, g->out_sz, g->out_sz};
                ok = gemm_f32(k, s->uk, mg, g->out_sz, ck, &ga, &gb, &gc, &ep, gs);
            } else {
                gemm_b gb = {NULL, image + gi * cg * pp.chan, 0, 1, s->row_off};
                gemm_c gc = {y + ybase, g->out_sz, pp.wp, pp.v.ow};
                /* columns past the last output of the last row are not needed */
                int64_t ncols = (pp.v.oh - 1) * pp.wp + pp.v.ow;
                ok = gemm_f32(k, s->uk, mg, ncols, ck, &ga, &gb, &gc, &ep, gs);
            }
            if (!ok) return 0;
        }
    }
    return 1;
}

onyx_status conv_run(onyx_kctx *k, int z_input, gemm_act act, float p0, float p1)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_FLOAT, ONYX_FLOAT16, ONYX_DOUBLE, ONYX_BFLOAT16, ONYX_UNDEFINED)) ||
        (st = k_require(k, 1, ONYX_FLOAT, ONYX_FLOAT16, ONYX_DOUBLE, ONYX_BFLOAT16, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, 0), *w = k_input(k, 1), *b = k_input(k, 2);
    const onyx_tensor *zt = z_input >= 0 ? k_input(k, z_input) : NULL;
    if (w->dtype != x->dtype)
        return k_fail(k, ONYX_E_INVALID, "input 1 (W) is %s but X is %s", onyx_dtype_name(w->dtype),
                      onyx_dtype_name(x->dtype));
    conv_geom g;
    int64_t grp;
    if ((st = conv_setup(k, 0, 1, &g, &grp)) || (st = check_bias(k, 2, x->dtype, w->dims[0])))
        return st;
    int64_t dims[ONYX_MAX_RANK];
    dims[0] = x->dims[0];
    dims[1] = w->dims[0];
    for (int a = 0; a < g.nsp; a++) dims[2 + a] = g.out[a];
    if (zt) {
        if (zt->kind != ONYX_KIND_TENSOR || zt->dtype != x->dtype)
            return k_fail(k, ONYX_E_INVALID, "input %d (Z) must be a %s tensor like X", z_input,
                          onyx_dtype_name(x->dtype));
        bool same = zt->rank == x->rank;
        for (int a = 0; same && a < x->rank; a++) same = zt->dims[a] == dims[a];
        if (!same)
            return k_fail(k, ONYX_E_SHAPE, "input %d (Z) must have the shape of Y (rank %d)",
                          z_input, x->rank);
    }
    conv_state *s = k->state;
    bool fast = s && x->dtype == ONYX_FLOAT && s->m == w->dims[0] && s->cg == w->dims[1] &&
                s->group == grp && s->ksz == g.k_sz;
    /* the fast path writes every element of Y */
    onyx_tensor *y = fast ? k_output_uninit(k, 0, x->dtype, x->rank, dims)
                          : k_output(k, 0, x->dtype, x->rank, dims);
    if (!y) return k->err->code;
    int64_t ny = tensor_numel_of(y->rank, y->dims);
    if (ny == 0) return ONYX_OK;

    if (fast) {
        int done = conv_fast_f32(k, s, &g, x->dims[0], x->dims[1], x->data, w->data,
                                 b ? b->data : NULL, zt ? zt->data : NULL, y->data, act, p0, p1);
        if (done == 0) return nomem(k);
        if (done == 1) return ONYX_OK;
        /* a geometry for the reference (nothing written yet): it expects zeros */
        memset(y->data, 0, y->nbytes);
    }
    if (!w->data) /* packed, and given back after packing (k_input_consumed) */
        return k_fail(k, ONYX_E_LIMIT, "this input needs the convolution's reference path, and the weights "
                                       "were released after packing (an image beyond the packed path's limits)");
    float *xo, *wo, *bo = NULL, *zo = NULL;
    const float *xf = as_f32(x, &xo), *wf = as_f32(w, &wo), *bf = b ? as_f32(b, &bo) : NULL;
    const float *zf = zt ? as_f32(zt, &zo) : NULL;
    float *yf = out_f32(y);
    bool ok = xf && wf && (!b || bf) && (!zt || zf) && yf &&
              conv_f32(&g, x->dims[0], x->dims[1], w->dims[0], grp, xf, wf, bf, yf);
    if (ok && (zf || act != GEMM_ACT_NONE))
        for (int64_t i = 0; i < ny; i++) yf[i] = gemm_act_scalar(act, p0, p1, yf[i] + (zf ? zf[i] : 0.0f));
    if (ok && yf != y->data) store_f32(y, yf);
    if (yf != y->data) free(yf);
    free(xo);
    free(wo);
    free(bo);
    free(zo);
    return ok ? ONYX_OK : nomem(k);
}

static onyx_status op_conv(onyx_kctx *k) { return conv_run(k, -1, GEMM_ACT_NONE, 0, 0); }

/* ---- ConvTranspose ---- */

/* Y[gi*mg + o] += sum_c W[gi*cg + c][o] (x) X[gi*cg + c], the window scattering
 * every input position into the output. */
static bool convt_f32(const conv_geom *g, int64_t n_batch, int64_t c, int64_t m, int64_t grp,
                      const float *x, const float *w, const float *b, float *y)
{
    int64_t cg = c / grp, mg = m / grp, rows = mg * g->k_sz;
    int64_t xin = g->out_sz, yout = g->in_sz, s = g->s[g->nsp - 1];
    int64_t nt = tile_width(rows, xin);
    /* wt[gi][r][c] = W[gi*cg + c][r], so the GEMM reads rows of A contiguously */
    float *wt = alloc_n(grp * rows * cg, sizeof(float));
    float *col = alloc_n(rows * nt, sizeof(float));
    if (!wt || !col) {
        free(wt);
        free(col);
        return false;
    }
    for (int64_t gi = 0; gi < grp; gi++)
        for (int64_t ci = 0; ci < cg; ci++)
            for (int64_t r = 0; r < rows; r++)
                wt[(gi * rows + r) * cg + ci] = w[(gi * cg + ci) * rows + r];
    int64_t kc[MAXSP];
    for (int64_t n = 0; n < n_batch; n++) {
        for (int64_t o = 0; o < m; o++) {
            float bv = b ? b[o] : 0.0f;
            float *yo = y + (n * m + o) * yout;
            for (int64_t j = 0; j < yout; j++) yo[j] = bv;
        }
        for (int64_t gi = 0; gi < grp; gi++) {
            const float *xg = x + (n * c + gi * cg) * xin;
            float *yg = y + (n * m + gi * mg) * yout;
            for (int64_t j0 = 0; j0 < xin; j0 += nt) {
                int64_t cur = xin - j0 < nt ? xin - j0 : nt;
                memset(col, 0, (size_t)(rows * cur) * sizeof(float));
                sgemm_acc(rows, cur, cg, wt + gi * rows * cg, cg, xg + j0, xin, col, cur);
                for (int64_t o = 0; o < mg; o++) {
                    float *yo = yg + o * yout;
                    for (int64_t q = 0; q < g->k_sz; q++) {
                        const float *row = col + (o * g->k_sz + q) * cur;
                        kernel_coords(g, q, kc);
                        for (int64_t t0 = 0; t0 < cur;) {
                            col_run r;
                            col_run_at(g, kc, j0 + t0, cur - t0, &r);
                            for (int64_t t = r.lo; t < r.hi; t++) yo[r.base + t * s] += row[t0 + t];
                            t0 += r.n;
                        }
                    }
                }
            }
        }
    }
    free(wt);
    free(col);
    return true;
}

onyx_status convt_window_setup(onyx_kctx *k, int nsp, const int64_t *in_dims, const int64_t *kdims, conv_geom *g)
{
    onyx_status st;
    g->nsp = nsp;
    int64_t pads[2 * MAXSP], outpad[MAXSP];
    pad_mode mode;
    if ((st = check_kernel_shape(k, kdims, nsp)) || (st = ints_attr(k, "strides", nsp, 1, 1, g->s)) ||
        (st = ints_attr(k, "dilations", nsp, 1, 1, g->d)) || (st = ints_attr(k, "pads", 2 * nsp, 0, 0, pads)) ||
        (st = ints_attr(k, "output_padding", nsp, 0, 0, outpad)) || (st = auto_pad_attr(k, &mode)))
        return st;
    /* output_shape lists the spatial dims, or (as some exporters write) all of them */
    const int64_t *oshape = NULL;
    int n_os = k_attr_ints(k, "output_shape", &oshape);
    if (n_os > 0 && n_os != nsp && n_os != nsp + 2)
        return k_fail(k, ONYX_E_INVALID, "attribute output_shape has %d values, expected %d", n_os, nsp);
    if (n_os > 0) oshape += n_os - nsp;
    else oshape = NULL;
    for (int a = 0; a < nsp; a++) {
        int64_t in = in_dims[a], kk = kdims[a];
        if (kk < 1) return k_fail(k, ONYX_E_SHAPE, "W has kernel size %lld at axis %d", (long long)kk, 2 + a);
        int64_t full = g->s[a] * (in - 1) + outpad[a] + (kk - 1) * g->d[a] + 1;
        int64_t out, pb;
        if (oshape || mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            out = oshape ? oshape[a] : in * g->s[a];
            if (out < 0 || out > ((int64_t)1 << 40))
                return k_fail(k, ONYX_E_INVALID, "output_shape[%d] = %lld is out of range", a, (long long)out);
            int64_t total = full - out;
            /* a negative total means output beyond the last input's reach: it goes at
             * the end, like output_padding */
            if (total < 0) pb = 0;
            else pb = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
        } else {
            pb = mode == PAD_VALID ? 0 : pads[a];
            out = full - pb - (mode == PAD_VALID ? 0 : pads[nsp + a]);
            if (out < 0)
                return k_fail(k, ONYX_E_SHAPE, "axis %d: pads %lld+%lld exceed the output size %lld", 2 + a,
                              (long long)pads[a], (long long)pads[nsp + a], (long long)full);
        }
        g->in[a] = out;
        g->out[a] = in;
        g->k[a] = kk;
        g->pb[a] = pb;
    }
    return geom_sizes(k, g);
}

static onyx_status op_conv_transpose(onyx_kctx *k)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_FLOAT, ONYX_FLOAT16, ONYX_DOUBLE, ONYX_BFLOAT16, ONYX_UNDEFINED)) ||
        (st = k_require(k, 1, ONYX_FLOAT, ONYX_FLOAT16, ONYX_DOUBLE, ONYX_BFLOAT16, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, 0), *w = k_input(k, 1), *b = k_input(k, 2);
    if (w->dtype != x->dtype)
        return k_fail(k, ONYX_E_INVALID, "input 1 (W) is %s but X is %s", onyx_dtype_name(w->dtype),
                      onyx_dtype_name(x->dtype));
    if (x->rank < 3)
        return k_fail(k, ONYX_E_SHAPE, "input 0 (X) must have rank >= 3 (N x C x D1...), got %d",
                      x->rank);
    if (w->rank != x->rank)
        return k_fail(k, ONYX_E_SHAPE, "input 1 (W) has rank %d but X has rank %d", w->rank, x->rank);
    int nsp = x->rank - 2;
    int64_t c = x->dims[1], grp = k_attr_int(k, "group", 1);
    if (grp < 1 || grp > (c > 0 ? c : 1))
        return k_fail(k, ONYX_E_INVALID, "attribute group = %lld is out of range [1, %lld]",
                      (long long)grp, (long long)(c > 0 ? c : 1));
    if (w->dims[0] != c || c % grp)
        return k_fail(k, ONYX_E_SHAPE,
                      "W has %lld input channels, X has %lld (which must be divisible by group %lld)",
                      (long long)w->dims[0], (long long)c, (long long)grp);
    int64_t m = w->dims[1] * grp;
    conv_geom g;
    if ((st = check_bias(k, 2, x->dtype, m)) || (st = convt_window_setup(k, nsp, x->dims + 2, w->dims + 2, &g)))
        return st;
    int64_t dims[ONYX_MAX_RANK];
    dims[0] = x->dims[0];
    dims[1] = m;
    for (int a = 0; a < nsp; a++) dims[2 + a] = g.in[a];
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, dims);
    if (!y) return k->err->code;
    if (tensor_numel_of(y->rank, y->dims) == 0) return ONYX_OK;

    float *xo, *wo, *bo = NULL;
    const float *xf = as_f32(x, &xo), *wf = as_f32(w, &wo), *bf = b ? as_f32(b, &bo) : NULL;
    float *yf = out_f32(y);
    bool ok = xf && wf && (!b || bf) && yf && convt_f32(&g, x->dims[0], c, m, grp, xf, wf, bf, yf);
    if (ok && yf != y->data) store_f32(y, yf);
    if (yf != y->data) free(yf);
    free(xo);
    free(wo);
    free(bo);
    return ok ? ONYX_OK : nomem(k);
}

/* ---- ConvInteger, QLinearConv: the references (the operators are in qconv.c) ---- */

static int32_t int8_at(const onyx_tensor *t, int64_t i)
{
    return t->dtype == ONYX_UINT8 ? ((const uint8_t *)t->data)[i] : ((const int8_t *)t->data)[i];
}

/* A zero point (input zi, optional): dtype dt, 1 element or `per` elements.
 * Fills out[0..per) (all equal for a per-tensor zero point). */
static onyx_status zero_point(onyx_kctx *k, int zi, onyx_dtype dt, int64_t per, int32_t *out)
{
    const onyx_tensor *z = k_input(k, zi);
    if (!z) {
        for (int64_t i = 0; i < per; i++) out[i] = 0;
        return ONYX_OK;
    }
    if (z->kind != ONYX_KIND_TENSOR || z->dtype != dt)
        return k_fail(k, ONYX_E_INVALID, "input %d (zero point) must be %s like its data, got %s", zi,
                      onyx_dtype_name(dt), onyx_dtype_name(z->dtype));
    int64_t n = tensor_numel_of(z->rank, z->dims);
    if (n != 1 && (n != per || z->rank != 1))
        return k_fail(k, ONYX_E_SHAPE, "input %d (zero point) has %lld elements, expected 1%s", zi,
                      (long long)n, per > 1 ? " or one per output channel" : "");
    for (int64_t i = 0; i < per; i++) out[i] = int8_at(z, n == 1 ? 0 : i);
    return ONYX_OK;
}

typedef struct int_conv {
    conv_geom g;
    int64_t n, c, m, group;
    int32_t *x; /* X - x_zero_point */
    int32_t *w; /* W - w_zero_point of the output channel */
} int_conv;

static void int_conv_free(int_conv *ic)
{
    free(ic->x);
    free(ic->w);
}

/* Validates X (input xi), W (wi) and their zero points (xzi, wzi) and prepares the
 * shifted operands. */
static onyx_status int_conv_prepare(onyx_kctx *k, int xi, int wi, int xzi, int wzi, int_conv *ic)
{
    onyx_status st;
    memset(ic, 0, sizeof *ic);
    if ((st = k_require(k, xi, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED)) ||
        (st = k_require(k, wi, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED)) ||
        (st = conv_setup(k, xi, wi, &ic->g, &ic->group)))
        return st;
    const onyx_tensor *x = k_input(k, xi), *w = k_input(k, wi);
    ic->n = x->dims[0];
    ic->c = x->dims[1];
    ic->m = w->dims[0];
    int32_t xzp;
    int32_t *wzp = alloc_n(ic->m, sizeof(int32_t));
    if (!wzp) return nomem(k);
    if ((st = zero_point(k, xzi, x->dtype, 1, &xzp)) ||
        (st = zero_point(k, wzi, w->dtype, ic->m, wzp))) {
        free(wzp);
        return st;
    }
    int64_t nx = tensor_numel_of(x->rank, x->dims), nw = tensor_numel_of(w->rank, w->dims);
    ic->x = alloc_n(nx, sizeof(int32_t));
    ic->w = alloc_n(nw, sizeof(int32_t));
    if (!ic->x || !ic->w) {
        free(wzp);
        int_conv_free(ic);
        return nomem(k);
    }
    for (int64_t i = 0; i < nx; i++) ic->x[i] = int8_at(x, i) - xzp;
    int64_t per_m = ic->m > 0 ? nw / ic->m : 0;
    for (int64_t i = 0; i < nw; i++) ic->w[i] = int8_at(w, i) - wzp[i / per_m];
    free(wzp);
    return ONYX_OK;
}

/* acc (N x M x out..., zero-filled) += the convolution of the shifted operands. */
static bool int_conv_run(const int_conv *ic, int32_t *acc)
{
    const conv_geom *g = &ic->g;
    int64_t cg = ic->c / ic->group, mg = ic->m / ic->group, ck = cg * g->k_sz;
    int64_t nt = tile_width(ck, g->out_sz);
    int32_t *col = alloc_n(ck * nt, sizeof(int32_t));
    if (!col) return false;
    for (int64_t n = 0; n < ic->n; n++) {
        for (int64_t gi = 0; gi < ic->group; gi++) {
            const int32_t *xg = ic->x + (n * ic->c + gi * cg) * g->in_sz;
            int32_t *yg = acc + (n * ic->m + gi * mg) * g->out_sz;
            for (int64_t j0 = 0; j0 < g->out_sz; j0 += nt) {
                int64_t cur = g->out_sz - j0 < nt ? g->out_sz - j0 : nt;
                im2col_i32(xg, g, cg, j0, cur, col);
                igemm_acc(mg, cur, ck, ic->w + gi * mg * ck, ck, col, cur, yg + j0, g->out_sz);
            }
        }
    }
    free(col);
    return true;
}

onyx_status conv_integer_reference(onyx_kctx *k)
{
    int_conv ic;
    onyx_status st = int_conv_prepare(k, 0, 1, 2, 3, &ic);
    if (st) return st;
    int64_t dims[ONYX_MAX_RANK];
    dims[0] = ic.n;
    dims[1] = ic.m;
    for (int a = 0; a < ic.g.nsp; a++) dims[2 + a] = ic.g.out[a];
    onyx_tensor *y = k_output(k, 0, ONYX_INT32, ic.g.nsp + 2, dims);
    if (!y) {
        int_conv_free(&ic);
        return k->err->code;
    }
    bool ok = tensor_numel_of(y->rank, y->dims) == 0 || int_conv_run(&ic, y->data);
    int_conv_free(&ic);
    return ok ? ONYX_OK : nomem(k);
}

/* A float scale (input si): 1 element or `per` elements. */
static onyx_status scale_input(onyx_kctx *k, int si, int64_t per, float *out)
{
    onyx_status st = k_require(k, si, ONYX_FLOAT, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *s = k_input(k, si);
    int64_t n = tensor_numel_of(s->rank, s->dims);
    if (n != 1 && (n != per || s->rank != 1))
        return k_fail(k, ONYX_E_SHAPE, "input %d (scale) has %lld elements, expected 1%s", si,
                      (long long)n, per > 1 ? " or one per output channel" : "");
    const float *v = s->data;
    for (int64_t i = 0; i < per; i++) out[i] = v[n == 1 ? 0 : i];
    return ONYX_OK;
}

onyx_status qlinear_conv_reference(onyx_kctx *k)
{
    int_conv ic;
    onyx_status st = int_conv_prepare(k, 0, 3, 2, 5, &ic);
    if (st) return st;
    const onyx_tensor *yz = k_input(k, 7), *b = k_input(k, 8);
    onyx_dtype ydt = yz ? yz->dtype : k_input(k, 0)->dtype;
    float xs, ys;
    int32_t yzp = 0;
    float *ws = alloc_n(ic.m, sizeof(float));
    int32_t *acc = NULL;
    onyx_tensor *y = NULL;
    if (!ws) {
        st = nomem(k);
        goto done;
    }
    if (yz && (st = k_require(k, 7, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED))) goto done;
    if ((st = scale_input(k, 1, 1, &xs)) || (st = scale_input(k, 4, ic.m, ws)) ||
        (st = scale_input(k, 6, 1, &ys)) || (st = zero_point(k, 7, ydt, 1, &yzp)) ||
        (st = check_bias(k, 8, ONYX_INT32, ic.m)))
        goto done;
    int64_t dims[ONYX_MAX_RANK];
    dims[0] = ic.n;
    dims[1] = ic.m;
    for (int a = 0; a < ic.g.nsp; a++) dims[2 + a] = ic.g.out[a];
    y = k_output(k, 0, ydt, ic.g.nsp + 2, dims);
    if (!y) {
        st = k->err->code;
        goto done;
    }
    int64_t ny = tensor_numel_of(y->rank, y->dims);
    if (ny == 0) goto done;
    acc = calloc(ny > 0 ? (size_t)ny : 1, sizeof(int32_t));
    if (!acc || !int_conv_run(&ic, acc)) {
        st = nomem(k);
        goto done;
    }
    /* as ONNX Runtime: multiplier x_scale * w_scale / y_scale in float, then round
     * half to even and saturate */
    float lo = ydt == ONYX_UINT8 ? 0.0f : -128.0f, hi = ydt == ONYX_UINT8 ? 255.0f : 127.0f;
    const int32_t *bias = b ? b->data : NULL;
    for (int64_t n = 0; n < ic.n; n++) {
        for (int64_t o = 0; o < ic.m; o++) {
            float mult = xs * ws[o] / ys;
            int64_t base = (n * ic.m + o) * ic.g.out_sz;
            for (int64_t j = 0; j < ic.g.out_sz; j++) {
                int64_t a = (int64_t)acc[base + j] + (bias ? bias[o] : 0);
                float v = nearbyintf((float)a * mult) + (float)yzp;
                if (!(v >= lo)) v = lo;
                if (v > hi) v = hi;
                if (ydt == ONYX_UINT8) ((uint8_t *)y->data)[base + j] = (uint8_t)v;
                else ((int8_t *)y->data)[base + j] = (int8_t)v;
            }
        }
    }
done:
    free(ws);
    free(acc);
    int_conv_free(&ic);
    return st;
}

const onyx_op_def onyx_ops_conv[] = {
    {"", "Conv", op_conv, conv_prepare, conv_release},
    {"", "ConvTranspose", op_conv_transpose},
    {0},
};
