/* qconv.c - quantized 1-D and 2-D convolutions on the integer GEMM (qgemm.h):
 * ConvInteger, QLinearConv and ai.onyx QConv (docs/fused_ops.md).
 *
 * The work is done in NHWC: the microkernel broadcasts 4 consecutive input
 * channels of one pixel straight from the input row, so an output tile of MR
 * pixels reads, per kernel tap, MR pointers into the image (the indirection
 * buffer: one pointer per output pixel and tap, built once per input shape
 * and kept in the node's state) and the weights packed once per group as
 * [tap][Cg/4][NR][4]. Padding taps point at a row of the input zero point in
 * the kernel's byte domain, which the column-sum correction cancels exactly
 * (padding with 0 would be wrong for uint8 activations). 1x1 stride-1
 * unpadded convolutions read the pixels as plain rows, and depthwise ones
 * (one input channel per group, one output per group) run the ISA's depthwise
 * row over all channels of a pixel, with the weight zero point folded into
 * int16 weights.
 *
 * ai.onyx.NhwcQConv (what the layout pass makes of QConv) reads and writes
 * NHWC tensors in place; the NCHW operators transpose X (and Z) into the
 * scratch and the results back into Y. X's bytes are flipped into the scratch
 * when their signedness differs from the kernel's.
 *
 * The fast path needs W constant (an initializer when the session is created)
 * and, except for depthwise, one weight zero point that is 0 for int8 or 128
 * for uint8 weights (every symmetric quantizer's choice); the rest runs the
 * reference kernels: ops/conv.c for the standard operators and
 * qconv_reference below for QConv.
 */
#include "qlinear.h"

#include <stdlib.h>

enum { QC_INTEGER, QC_QLINEAR, QC_FUSED };

typedef struct qc_io {
    int x, x_scale, x_zp, w, w_scale, w_zp, bias, z, y_scale, y_zp;
} qc_io;

static const qc_io io_integer = {0, -1, 2, 1, -1, 3, -1, -1, -1, -1};
static const qc_io io_qlinear = {0, 1, 2, 3, 4, 5, 8, -1, 6, 7};
static const qc_io io_fused = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

static const qc_io *io_of(int kind)
{
    return kind == QC_INTEGER ? &io_integer : kind == QC_QLINEAR ? &io_qlinear : &io_fused;
}

#define QC_ATTR_MAX ((int64_t)1 << 24)

/* A 1-D or 2-D convolution as 2-D (height 1 for 1-D). */
typedef struct qgeom {
    int nsp;
    int64_t n, c, h, w, m, cg, group, kh, kw, oh, ow, sh, sw, dh, dw, ph, pw;
} qgeom;

static onyx_status ints_attr(onyx_kctx *k, const char *name, int n, int64_t def, int64_t lo,
                             int64_t *out)
{
    const int64_t *v;
    int cnt = k_attr_ints(k, name, &v);
    for (int i = 0; i < n; i++) out[i] = def;
    if (cnt <= 0) return ONYX_OK;
    if (cnt != n)
        return k_fail(k, ONYX_E_INVALID, "attribute %s has %d values, expected %d", name, cnt, n);
    for (int i = 0; i < n; i++) {
        if (v[i] < lo || v[i] > QC_ATTR_MAX)
            return k_fail(k, ONYX_E_INVALID, "attribute %s[%d] = %lld is out of range", name, i,
                          (long long)v[i]);
        out[i] = v[i];
    }
    return ONYX_OK;
}

/* X [N, C, spatial...] (or [N, H, W, C] when nhwc) against W [M, C/group,
 * k...]. *ok = false (no error) when the rank is not 1-D or 2-D (2-D for
 * NHWC). */
static onyx_status qgeom_make(onyx_kctx *k, const onyx_tensor *x, const onyx_tensor *w, bool nhwc,
                              qgeom *g, bool *ok)
{
    memset(g, 0, sizeof *g);
    *ok = x->rank == w->rank && (x->rank == 4 || (x->rank == 3 && !nhwc));
    if (!*ok) return ONYX_OK;
    int nsp = x->rank - 2;
    g->nsp = nsp;
    g->n = x->dims[0];
    g->c = x->dims[nhwc ? 3 : 1];
    g->h = nsp == 2 ? x->dims[nhwc ? 1 : 2] : 1;
    g->w = x->dims[nhwc ? 2 : x->rank - 1];
    g->m = w->dims[0];
    g->cg = w->dims[1];
    g->kh = nsp == 2 ? w->dims[2] : 1;
    g->kw = w->dims[w->rank - 1];
    g->group = k_attr_int(k, "group", 1);
    if (g->group < 1 || g->c % g->group || g->m % g->group || g->cg != g->c / g->group)
        return k_fail(k, ONYX_E_SHAPE,
                      "X has %lld channels and W %lld outputs x %lld inputs: not %lld groups",
                      (long long)g->c, (long long)g->m, (long long)g->cg, (long long)g->group);
    if (g->kh < 1 || g->kw < 1) return k_fail(k, ONYX_E_SHAPE, "W has an empty kernel");
    const int64_t *ks;
    int nks = k_attr_ints(k, "kernel_shape", &ks);
    if (nks > 0 && (nks != nsp || ks[nsp - 1] != g->kw || (nsp == 2 && ks[0] != g->kh)))
        return k_fail(k, ONYX_E_SHAPE, "kernel_shape does not match W");
    int64_t sv[2], dv[2], pv[4];
    onyx_status st;
    if ((st = ints_attr(k, "strides", nsp, 1, 1, sv)) || (st = ints_attr(k, "dilations", nsp, 1, 1, dv)) ||
        (st = ints_attr(k, "pads", 2 * nsp, 0, 0, pv)))
        return st;
    /* as 2-D: a 1-D convolution is one row, unpadded and unstrided in height */
    int64_t s[2] = {1, 1}, d[2] = {1, 1}, p[4] = {0, 0, 0, 0};
    for (int a = 0; a < nsp; a++) {
        s[2 - nsp + a] = sv[a];
        d[2 - nsp + a] = dv[a];
        p[2 - nsp + a] = pv[a];
        p[4 - nsp + a] = pv[nsp + a];
    }
    const char *ap = k_attr_string(k, "auto_pad", "NOTSET");
    int64_t in[2] = {g->h, g->w}, kk[2] = {g->kh, g->kw}, out[2], pb[2];
    for (int a = 0; a < 2; a++) {
        int64_t dk = (kk[a] - 1) * d[a] + 1;
        if (a < 2 - nsp) { /* the height of a 1-D convolution */
            out[a] = 1;
            pb[a] = 0;
            continue;
        }
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            out[a] = (in[a] + s[a] - 1) / s[a];
            int64_t total = (out[a] - 1) * s[a] + dk - in[a];
            if (total < 0) total = 0;
            pb[a] = !strcmp(ap, "SAME_UPPER") ? total / 2 : total - total / 2;
            continue;
        }
        if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && ap[0])
            return k_fail(k, ONYX_E_INVALID, "attribute auto_pad is '%s'", ap);
        bool valid = !strcmp(ap, "VALID");
        int64_t b = valid ? 0 : p[a], e = valid ? 0 : p[2 + a];
        int64_t span = in[a] + b + e - dk;
        if (span < 0)
            return k_fail(k, ONYX_E_SHAPE, "the padded input is smaller than the dilated kernel");
        pb[a] = b;
        out[a] = span / s[a] + 1;
    }
    g->oh = out[0], g->ow = out[1];
    g->sh = s[0], g->sw = s[1], g->dh = d[0], g->dw = d[1], g->ph = pb[0], g->pw = pb[1];
    return ONYX_OK;
}

/* ---- the prepared weights ---- */

typedef struct qc_state {
    const qgemm_ukernel *uk;
    int64_t m, cg, group, kh, kw; /* W's shape */
    bool depthwise;               /* one input channel and one output per group */
    int8_t *packed;               /* per group, gbytes each */
    size_t gbytes;
    int16_t *dww;                 /* depthwise weights (zero point subtracted) */
    int32_t *colsum;              /* [m] sums of the stored weights */
    float *wzp;                   /* [m] the weight zero points packing assumed */
    /* per-run epilogue arrays */
    int32_t *ib;
    float *scale;
    /* the padding row and the indirection buffer for the last input */
    uint8_t *zero;
    int64_t zero_cap;
    const uint8_t **ind;
    size_t ind_cap;
    const uint8_t *ind_base;
    int64_t ind_c, ind_h, ind_w;
} qc_state;

static void qc_release(void *p)
{
    qc_state *s = p;
    if (!s) return;
    free(s->packed);
    free(s->dww);
    free(s->colsum);
    free(s->wzp);
    free(s->ib);
    free(s->scale);
    free(s->zero);
    free(s->ind);
    free(s);
}

static onyx_status qc_prepare(onyx_kctx *k, void **state, int kind)
{
    const qc_io *io = io_of(kind);
    *state = NULL;
    const onyx_tensor *w = k_input(k, io->w);
    /* only a constant W of a 1-D or 2-D convolution; run() reports what is wrong */
    if (!w || w->kind != ONYX_KIND_TENSOR || (w->dtype != ONYX_UINT8 && w->dtype != ONYX_INT8) ||
        (w->rank != 3 && w->rank != 4))
        return ONYX_OK;
    int64_t grp = k_attr_int(k, "group", 1), m = w->dims[0], cg = w->dims[1];
    int64_t kh = w->rank == 4 ? w->dims[2] : 1, kw = w->dims[w->rank - 1], T = kh * kw;
    if (grp < 1 || m <= 0 || m % grp || cg <= 0 || T <= 0) return ONYX_OK;
    /* the weight zero points (absent, or a constant here; run() checks they did not change) */
    float *wzp = malloc((size_t)m * sizeof *wzp);
    if (!wzp) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    const onyx_tensor *zt = k_input(k, io->w_zp);
    if (zt && ql_param(k, io->w_zp, m, "w_zero_point", w->dtype, 0, wzp) != ONYX_OK) {
        free(wzp);
        return ONYX_OK; /* run() reports it */
    }
    if (!zt)
        for (int64_t j = 0; j < m; j++) wzp[j] = 0;
    bool w_unsigned = w->dtype == ONYX_UINT8;
    bool depthwise = cg == 1 && m == grp;
    if (!depthwise)
        for (int64_t j = 0; j < m; j++)
            if (wzp[j] != (w_unsigned ? 128.0f : 0.0f)) { /* needs per-pixel row sums: reference */
                free(wzp);
                return ONYX_OK;
            }
    qc_state *s = calloc(1, sizeof *s);
    if (!s) {
        free(wzp);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    s->uk = qgemm_ukernel_best();
    s->m = m, s->cg = cg, s->group = grp, s->kh = kh, s->kw = kw;
    s->depthwise = depthwise;
    s->wzp = wzp;
    s->colsum = malloc((size_t)m * sizeof *s->colsum);
    s->ib = malloc((size_t)m * sizeof *s->ib);
    s->scale = malloc((size_t)m * sizeof *s->scale);
    bool ok = s->colsum && s->ib && s->scale;
    if (ok && depthwise) {
        int32_t *zpi = malloc((size_t)m * sizeof *zpi);
        s->dww = malloc(qdw_packed_w_count(s->uk, T, m) * sizeof *s->dww);
        ok = zpi && s->dww;
        if (ok) {
            for (int64_t j = 0; j < m; j++) zpi[j] = (int32_t)wzp[j];
            /* W [m][1][kh][kw]: tap t of channel c at c*T + t */
            qdw_pack_w(s->uk, T, m, w->data, w_unsigned, 1, T, zpi, s->dww, s->colsum);
        }
        free(zpi);
    } else if (ok) {
        int64_t mg = m / grp;
        s->gbytes = qgemm_packed_b_bytes(s->uk, T, cg, mg);
        s->packed = malloc(s->gbytes * (size_t)grp);
        ok = s->packed != NULL;
        /* W [m][cg][kh][kw]: (tap t, channel c, output j) of group g */
        for (int64_t g = 0; ok && g < grp; g++)
            qgemm_pack_b(s->uk, T, cg, mg, (const uint8_t *)w->data + g * mg * cg * T, w_unsigned, 1,
                         T, cg * T, s->packed + g * s->gbytes, s->colsum + g * mg);
    }
    if (!ok) {
        qc_release(s);
        return k_fail(k, ONYX_E_NOMEM, "out of memory packing W");
    }
    *state = s;
    return ONYX_OK;
}

static onyx_status prepare_integer(onyx_kctx *k, void **st) { return qc_prepare(k, st, QC_INTEGER); }
static onyx_status prepare_qlinear(onyx_kctx *k, void **st) { return qc_prepare(k, st, QC_QLINEAR); }
static onyx_status prepare_fused(onyx_kctx *k, void **st) { return qc_prepare(k, st, QC_FUSED); }

/* ---- layout ---- */

/* dst[c * rows + r] = src[r * cols + c] ^ fx, one byte per element. */
static void transpose_u8(const uint8_t *src, uint8_t *dst, int64_t rows, int64_t cols, uint8_t fx)
{
    for (int64_t r0 = 0; r0 < rows; r0 += 16)
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            int64_t r1 = r0 + 16 < rows ? r0 + 16 : rows, c1 = c0 + 16 < cols ? c0 + 16 : cols;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c] ^ fx;
        }
}

/* The same for 4-byte elements (float, int32). */
static void transpose_32(const void *src, void *dst, int64_t rows, int64_t cols)
{
    const uint32_t *s = src;
    uint32_t *d = dst;
    for (int64_t r0 = 0; r0 < rows; r0 += 16)
        for (int64_t c0 = 0; c0 < cols; c0 += 16) {
            int64_t r1 = r0 + 16 < rows ? r0 + 16 : rows, c1 = c0 + 16 < cols ? c0 + 16 : cols;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) d[c * rows + r] = s[r * cols + c];
        }
}

/* Is this convolution's A a plain matrix of pixels (1x1, stride 1, no padding)? */
static bool plain_rows(const qgeom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
           g->oh == g->h && g->ow == g->w;
}

/* Builds the indirection buffer for image 0 at base (NHWC, C channels):
 * tile-major [tile][tap][MR] for the GEMM, [pixel][tap] for depthwise. */
static bool qc_indirection(qc_state *s, const qgeom *g, const uint8_t *base)
{
    if (s->ind && s->ind_base == base && s->ind_c == g->c && s->ind_h == g->h && s->ind_w == g->w)
        return true;
    int64_t P = g->oh * g->ow, T = g->kh * g->kw, MR = s->depthwise ? 1 : s->uk->mr;
    int64_t tiles = (P + MR - 1) / MR;
    size_t need = (size_t)(tiles * T * MR);
    if (need > s->ind_cap) {
        free(s->ind);
        s->ind = malloc(need * sizeof *s->ind);
        s->ind_cap = s->ind ? need : 0;
        if (!s->ind) return false;
    }
    for (int64_t mt = 0; mt < tiles; mt++)
        for (int64_t i = 0; i < MR; i++) {
            int64_t p = mt * MR + i < P ? mt * MR + i : P - 1;
            int64_t oh = p / g->ow, ow = p % g->ow;
            for (int64_t t = 0; t < T; t++) {
                int64_t ih = oh * g->sh + (t / g->kw) * g->dh - g->ph;
                int64_t iw = ow * g->sw + (t % g->kw) * g->dw - g->pw;
                bool in = ih >= 0 && ih < g->h && iw >= 0 && iw < g->w;
                s->ind[(mt * T + t) * MR + i] = in ? base + (ih * g->w + iw) * g->c : s->zero;
            }
        }
    s->ind_base = base;
    s->ind_c = g->c, s->ind_h = g->h, s->ind_w = g->w;
    return true;
}

/* ---- the fast path ---- */

typedef struct dw_job {
    const qc_state *s;
    const qgeom *g;
    const qgemm_out *o;
    int64_t off;        /* image offset in the NHWC input */
    int32_t *acc;       /* per thread: C int32 */
    int threads;
} dw_job;

/* Output pixels per depthwise call: enough to keep the weights in registers
 * over a run of pixels, few enough that the run's int32 sums stay in L1. */
static int64_t dw_pixels(int64_t channels)
{
    int64_t n = 8192 / (channels ? channels : 1);
    return n < 1 ? 1 : n > 32 ? 32 : n;
}

static void dw_thread(void *arg, int64_t begin, int64_t end)
{
    const dw_job *jb = arg;
    int64_t P = jb->g->oh * jb->g->ow, T = jb->g->kh * jb->g->kw, C = jb->g->c, run = dw_pixels(C);
    for (int64_t t = begin; t < end; t++) {
        int64_t base = P / jb->threads, rem = P % jb->threads;
        int64_t p0 = t * base + (t < rem ? t : rem), p1 = p0 + base + (t < rem ? 1 : 0);
        int32_t *acc = jb->acc + t * run * ((C + 15) & ~(int64_t)15);
        for (int64_t p = p0; p < p1; p += run) {
            int64_t np = p1 - p < run ? p1 - p : run;
            jb->s->uk->dw(C, T, np, jb->s->ind + p * T, jb->off, jb->s->zero, jb->s->dww, acc);
            jb->s->uk->tile_out(jb->o, acc, C, p, np, 0, C);
        }
    }
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

static onyx_status qc_fast(onyx_kctx *k, int kind, qc_state *s, bool nhwc, bool *done)
{
    const qc_io *io = io_of(kind);
    *done = false;
    onyx_status st;
    if ((st = k_require(k, io->x, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED)) ||
        (st = k_require(k, io->w, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, io->x), *w = k_input(k, io->w);
    qgeom g;
    bool ok;
    if ((st = qgeom_make(k, x, w, nhwc, &g, &ok)) || !ok) return st;
    if (g.m != s->m || g.cg != s->cg || g.group != s->group || g.kh != s->kh || g.kw != s->kw)
        return ONYX_OK;
    int64_t M = g.m, C = g.c, P = g.oh * g.ow, HW = g.h * g.w, T = g.kh * g.kw;
    /* parameters */
    float *pv = malloc((size_t)(2 * M + 2) * sizeof(float));
    if (!pv) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    float *sw = pv, *wz = pv + M, sx = 1, zx = 0, sy = 1, zy = 0;
    const onyx_tensor *yzt = io->y_zp >= 0 ? k_input(k, io->y_zp) : NULL;
    /* QLinearConv's y_zero_point is required; QConv's Y_q is uint8 without one,
     * as QuantizeLinear's output */
    onyx_dtype qdt = yzt ? yzt->dtype : kind == QC_FUSED ? ONYX_UINT8 : x->dtype;
    bool want_y_scale = io->y_scale >= 0 && k_input(k, io->y_scale);
    if ((io->x_scale >= 0 && (st = ql_param(k, io->x_scale, 1, "x_scale", ONYX_FLOAT, 1, &sx))) ||
        (st = ql_param(k, io->x_zp, 1, "x_zero_point", x->dtype, 0, &zx)) ||
        (io->w_scale >= 0 && (st = ql_param(k, io->w_scale, M, "w_scale", ONYX_FLOAT, 1, sw))) ||
        (st = ql_param(k, io->w_zp, M, "w_zero_point", w->dtype, 0, wz)) ||
        (want_y_scale && (st = ql_param(k, io->y_scale, 1, "y_scale", ONYX_FLOAT, 1, &sy))) ||
        (yzt && (st = ql_param(k, io->y_zp, 1, "y_zero_point", qdt, 0, &zy)))) {
        free(pv);
        return st;
    }
    if (io->w_scale < 0)
        for (int64_t j = 0; j < M; j++) sw[j] = 1;
    if (memcmp(wz, s->wzp, (size_t)M * sizeof *wz)) { /* not the zero points W was packed for */
        free(pv);
        return ONYX_OK;
    }
    const onyx_tensor *bias = io->bias >= 0 ? k_input(k, io->bias) : NULL;
    const onyx_tensor *Z = io->z >= 0 ? k_input(k, io->z) : NULL;
    if (bias) {
        onyx_dtype bdt = kind == QC_FUSED ? ONYX_FLOAT : ONYX_INT32;
        if (bias->kind != ONYX_KIND_TENSOR || bias->dtype != bdt || bias->rank != 1 || bias->dims[0] != M) {
            free(pv);
            return k_fail(k, ONYX_E_SHAPE, "input %d (B) must be 1-D %s with %lld values", io->bias,
                          onyx_dtype_name(bdt), (long long)M);
        }
    }
    gemm_act act = GEMM_ACT_NONE;
    float p0 = 0, p1 = 0;
    if (kind == QC_FUSED && (st = gemm_act_from_attrs(k, &act, &p0, &p1))) {
        free(pv);
        return st;
    }
    int64_t dims[4] = {g.n, M, g.oh, g.ow};
    if (g.nsp == 1) dims[2] = g.ow;
    if (nhwc) dims[1] = g.oh, dims[2] = g.ow, dims[3] = M;
    int rank = g.nsp + 2;
    if (Z) {
        bool same = Z->kind == ONYX_KIND_TENSOR && Z->dtype == ONYX_FLOAT && Z->rank == rank;
        for (int d = 0; same && d < rank; d++) same = Z->dims[d] == dims[d];
        if (!same) {
            free(pv);
            return k_fail(k, ONYX_E_SHAPE, "input %d (Z) must be float with Y's shape", io->z);
        }
    }
    /* outputs */
    onyx_tensor *yi = NULL, *yf = NULL, *yq = NULL;
    if (kind == QC_INTEGER) yi = k_output_uninit(k, 0, ONYX_INT32, rank, dims);
    else if (kind == QC_QLINEAR) yq = k_output_uninit(k, 0, qdt, rank, dims);
    else {
        if (k_output_wanted(k, 0)) yf = k_output_uninit(k, 0, ONYX_FLOAT, rank, dims);
        if (want_y_scale && k->n_outputs > 1 && k_output_wanted(k, 1))
            yq = k_output_uninit(k, 1, qdt, rank, dims);
    }
    if ((kind == QC_INTEGER && !yi) || (kind == QC_QLINEAR && !yq) ||
        (kind == QC_FUSED && ((k_output_wanted(k, 0) && !yf) ||
                              (want_y_scale && k->n_outputs > 1 && k_output_wanted(k, 1) && !yq)))) {
        free(pv);
        return k->err->code;
    }
    *done = true;
    if (g.n * M * P == 0) {
        free(pv);
        return ONYX_OK;
    }
    /* scratch: NHWC input (flipped), residual and outputs, depthwise
     * accumulators; an NHWC operator reads and writes its tensors in place */
    bool flip;
    int32_t zak = qgemm_a_zero_point(s->uk, x->dtype == ONYX_INT8, (int32_t)zx, &flip);
    int threads = k_num_threads(k) > 0 ? k_num_threads(k) : 1;
    if (s->depthwise) { /* as qgemm_run: a thread only for enough work */
        int64_t useful = g.n * P * C * T / ((int64_t)2 << 20) + 1;
        if (useful < threads) threads = (int)useful;
    }
    size_t nx = (size_t)(g.n * HW * C), ny = (size_t)(g.n * P * M);
    bool copy_x = !nhwc || flip, copy_out = !nhwc;
    size_t o_x = 0, o_z = align64(copy_x ? nx : 0), o_f = o_z + align64(Z && copy_out ? ny * 4 : 0);
    size_t o_q = o_f + align64((yf || yi) && copy_out ? ny * 4 : 0), o_acc = o_q + align64(yq && copy_out ? ny : 0);
    size_t total = o_acc + (s->depthwise ? (size_t)threads * (size_t)(dw_pixels(C) * ((C + 15) & ~(int64_t)15)) * 4 : 0);
    k_scratch_buf own = {0};
    uint8_t *scr = ql_scratch(k, QL_SCRATCH_SLOT, &own, total ? total : 64);
    if (!scr || (C > s->zero_cap && !(s->zero = realloc(s->zero, (size_t)C)))) {
        k_scratch_free(&own);
        free(pv);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    if (C > s->zero_cap) s->zero_cap = C;
    memset(s->zero, zak & 0xff, (size_t)C);
    const uint8_t *xn = x->data;
    const float *zn = Z ? Z->data : NULL;
    float *yfn = yf ? yf->data : yi ? (float *)yi->data : NULL;
    uint8_t *yqn = yq ? yq->data : NULL;
    if (copy_x) {
        uint8_t *xc = scr + o_x;
        if (nhwc) qgemm_flip_bytes(xc, x->data, (int64_t)nx);
        else
            for (int64_t n = 0; n < g.n; n++)
                transpose_u8((const uint8_t *)x->data + n * C * HW, xc + n * HW * C, C, HW, flip ? 0x80 : 0);
        xn = xc;
    }
    if (copy_out) {
        if (Z) {
            float *zc = (float *)(scr + o_z);
            for (int64_t n = 0; n < g.n; n++) transpose_32((const float *)Z->data + n * M * P, zc + n * P * M, M, P);
            zn = zc;
        }
        yfn = (float *)(scr + o_f);
        yqn = scr + o_q;
    }
    /* the epilogue: ib = bias - za * colsum; scale the dequantized product (or
     * the QLinear multiplier) */
    const int32_t *ibias = kind == QC_QLINEAR && bias ? bias->data : NULL;
    for (int64_t j = 0; j < M; j++) {
        s->ib[j] = (int32_t)((uint32_t)(-(int64_t)zak * s->colsum[j]) + (uint32_t)(ibias ? ibias[j] : 0));
        s->scale[j] = kind == QC_QLINEAR ? sx * sw[j] / sy : sx * sw[j];
    }
    qgemm_out o = {0};
    o.ib = s->ib;
    o.scale = s->scale;
    o.fb = kind == QC_FUSED && bias ? bias->data : NULL;
    o.act = act;
    o.p0 = p0;
    o.p1 = p1;
    o.inv_ys = kind == QC_QLINEAR ? 1.0f : 1.0f / sy;
    o.yzp = zy;
    o.yq_signed = qdt == ONYX_INT8;
    bool plain = !s->depthwise && plain_rows(&g);
    if (!plain && !qc_indirection(s, &g, xn)) {
        k_scratch_free(&own);
        free(pv);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    int64_t mg = M / g.group, cg = g.cg;
    for (int64_t n = 0; n < g.n; n++) {
        qgemm_out on = o;
        on.z = zn ? zn + n * P * M : NULL;
        on.z_rs = M;
        if (yi) on.yi = (int32_t *)yfn + n * P * M, on.yi_rs = M;
        if (yf) on.yf = yfn + n * P * M, on.yf_rs = M;
        if (yq) on.yq = yqn + n * P * M, on.yq_rs = M;
        if (s->depthwise) {
            dw_job jb = {s, &g, &on, n * HW * C, (int32_t *)(scr + o_acc), threads};
            if (threads > 1) k_parallel_for(k, threads, dw_thread, &jb);
            else dw_thread(&jb, 0, 1);
            continue;
        }
        for (int64_t gi = 0; gi < g.group; gi++) {
            qgemm_a a = {0};
            a.ks = plain ? 1 : T;
            a.kc = cg;
            if (plain) {
                a.rows = xn + n * HW * C + gi * cg;
                a.rs = C;
            } else {
                a.ind = s->ind;
                a.off = n * HW * C + gi * cg;
                a.zero = s->zero;
            }
            qgemm_run(k, s->uk, P, mg, &a, s->packed + gi * s->gbytes, gi * mg, &on);
        }
    }
    /* NHWC -> NCHW */
    for (int64_t n = 0; n < g.n && copy_out; n++) {
        if (yi) transpose_32((int32_t *)yfn + n * P * M, (int32_t *)yi->data + n * M * P, P, M);
        if (yf) transpose_32(yfn + n * P * M, (float *)yf->data + n * M * P, P, M);
        if (yq) transpose_u8(yqn + n * P * M, (uint8_t *)yq->data + n * M * P, P, M, 0);
    }
    k_scratch_free(&own);
    free(pv);
    return ONYX_OK;
}

/* ---- the QConv reference ---- */

static double qparam_at(const onyx_tensor *t, int64_t i, double def)
{
    if (!t) return def;
    return k_get_f64(t, tensor_numel_of(t->rank, t->dims) == 1 ? 0 : i);
}

/* Y = act(Conv(DQ(X), DQ(W)) + B + Z) in double, Y_q = QuantizeLinear(Y):
 * the definition, one output at a time (X, Z and Y in NCHW, or NHWC). */
static onyx_status qconv_reference(onyx_kctx *k, bool nhwc)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED)) ||
        (st = k_require(k, 3, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, 0), *w = k_input(k, 3), *xs = k_input(k, 1), *xz = k_input(k, 2);
    const onyx_tensor *ws = k_input(k, 4), *wz = k_input(k, 5), *b = k_input(k, 6), *Z = k_input(k, 7);
    const onyx_tensor *ys = k_input(k, 8), *yz = k_input(k, 9);
    if (!xs || !ws) return k_fail(k, ONYX_E_INVALID, "x_scale and w_scale are required");
    qgeom g;
    bool ok;
    if ((st = qgeom_make(k, x, w, nhwc, &g, &ok))) return st;
    if (!ok)
        return k_fail(k, ONYX_E_UNSUPPORTED, "%s is %s (X has rank %d)", k->op_type,
                      nhwc ? "2-D" : "1-D or 2-D", x->rank);
    gemm_act act;
    float p0, p1;
    if ((st = gemm_act_from_attrs(k, &act, &p0, &p1))) return st;
    int64_t dims[4] = {g.n, g.m, g.oh, g.ow};
    if (g.nsp == 1) dims[2] = g.ow;
    if (nhwc) dims[1] = g.oh, dims[2] = g.ow, dims[3] = g.m;
    int rank = g.nsp + 2;
    int64_t P = g.oh * g.ow, ny = g.n * g.m * P;
    if (b && (b->dtype != ONYX_FLOAT || tensor_numel_of(b->rank, b->dims) != g.m))
        return k_fail(k, ONYX_E_SHAPE, "B must be float with one value per output channel");
    if (Z && (Z->dtype != ONYX_FLOAT || tensor_numel_of(Z->rank, Z->dims) != ny))
        return k_fail(k, ONYX_E_SHAPE, "Z must be float with Y's shape");
    onyx_tensor *yf = k_output(k, 0, ONYX_FLOAT, rank, dims);
    if (!yf) return k->err->code;
    onyx_tensor *yq = NULL;
    if (ys && k->n_outputs > 1) {
        yq = k_output(k, 1, yz ? yz->dtype : ONYX_UINT8, rank, dims);
        if (!yq) return k->err->code;
    }
    double sx = (float)qparam_at(xs, 0, 1), zx = qparam_at(xz, 0, 0);
    int64_t mg = g.m / g.group;
    for (int64_t e = 0; e < ny; e++) {
        int64_t p = e % P, j = (e / P) % g.m, n = e / (P * g.m), oh = p / g.ow, ow = p % g.ow;
        int64_t oi = nhwc ? (n * P + p) * g.m + j : e; /* where this output lives */
        double swj = (float)qparam_at(ws, j, 1), zwj = qparam_at(wz, j, 0), acc = 0;
        int64_t g0 = (j / mg) * g.cg;
        for (int64_t c = 0; c < g.cg; c++)
            for (int64_t t = 0; t < g.kh * g.kw; t++) {
                int64_t ih = oh * g.sh + (t / g.kw) * g.dh - g.ph, iw = ow * g.sw + (t % g.kw) * g.dw - g.pw;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                int64_t xi = nhwc ? ((n * g.h + ih) * g.w + iw) * g.c + g0 + c
                                   : ((n * g.c + g0 + c) * g.h + ih) * g.w + iw;
                double xv = (k_get_f64(x, xi) - zx) * sx;
                double wv = (k_get_f64(w, (j * g.cg + c) * g.kh * g.kw + t) - zwj) * swj;
                acc += xv * wv;
            }
        if (b) acc += ((const float *)b->data)[j];
        if (Z) acc += ((const float *)Z->data)[oi];
        float v = gemm_act_scalar(act, p0, p1, (float)acc);
        ((float *)yf->data)[oi] = v;
        if (yq) ql_store_q8(yq, oi, v, (float)qparam_at(ys, 0, 1), (float)qparam_at(yz, 0, 0));
    }
    return ONYX_OK;
}

/* ---- the operators ---- */

static onyx_status op_conv_integer(onyx_kctx *k)
{
    bool done = false;
    onyx_status st = k->state ? qc_fast(k, QC_INTEGER, k->state, false, &done) : ONYX_OK;
    return st || done ? st : conv_integer_reference(k);
}

static onyx_status op_qlinear_conv(onyx_kctx *k)
{
    bool done = false;
    onyx_status st = k->state ? qc_fast(k, QC_QLINEAR, k->state, false, &done) : ONYX_OK;
    return st || done ? st : qlinear_conv_reference(k);
}

static onyx_status op_qconv(onyx_kctx *k)
{
    bool done = false;
    onyx_status st = k->state ? qc_fast(k, QC_FUSED, k->state, false, &done) : ONYX_OK;
    return st || done ? st : qconv_reference(k, false);
}

static onyx_status op_nhwc_qconv(onyx_kctx *k)
{
    bool done = false;
    onyx_status st = k->state ? qc_fast(k, QC_FUSED, k->state, true, &done) : ONYX_OK;
    return st || done ? st : qconv_reference(k, true);
}

const onyx_op_def onyx_ops_qconv[] = {
    {"", "ConvInteger", op_conv_integer, prepare_integer, qc_release},
    {"", "QLinearConv", op_qlinear_conv, prepare_qlinear, qc_release},
    {"ai.onyx", "QConv", op_qconv, prepare_fused, qc_release},
    {"ai.onyx", "NhwcQConv", op_nhwc_qconv, prepare_fused, qc_release},
    {0},
};
