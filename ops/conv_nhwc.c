/* conv_nhwc.c - ai.onyx.NhwcConv: a 2-D float32 convolution on NHWC
 * tensors, the layout the `layout` pass gives CNNs (docs/fused_ops.md).
 *
 * Inputs X [N, H, W, C], W [M, C/group, kH, kW] (ONNX's layout), B [M]
 * (optional), Z [N, OH, OW, M] (optional residual); attributes of Conv plus
 * activation/activation_params. Y = act(conv(X, W) + B + Z) in NHWC.
 *
 * Dense and grouped convolutions run on the indirect-GEMM microkernels of
 * igemm.h: the output pixels of all images form the rows (cut into tiles of at
 * most MR rows, as even as possible), the output channels of a group the
 * columns (strips of NR, prepacked with the weights at session creation).
 * Depthwise convolutions (one input and one output channel per group) run
 * per output pixel, vectorized over channels. Work is split over threads in
 * (tile block, strip) units, each computed whole by one thread, so the result
 * does not depend on the thread count. Without prepacked weights (W not a
 * float32 initializer) the NCHW reference kernel runs through ops/nhwc.c. */
#include "conv_fast.h"
#include "igemm.h"
#include "nhwc.h"

#include <stdlib.h>

/* Row tiles per work unit: a block of ~MR*16 output pixels whose input rows
 * stay in L2 while every strip of weights passes over them. */
#define TILES_PER_BLOCK 16
/* Kernels with more taps (larger than 8x8) take the reference path: the
 * microkernels' pointer table lives on the stack. */
#define MAX_TAPS 64

typedef struct nhwc_conv {
    const igemm_ukernel *uk;
    int64_t m, cg, group, mg, kh, kw;
    bool depthwise;
    /* dense: per group, n_full strips of uk->nr columns then at most one
     * last strip of last_w columns (uk->nr_narrow when that suffices) */
    int64_t n_full, last_w, n_strips;
    size_t group_floats;
    float *wpack;       /* dense: [group][strip][tap][cg][width]; depthwise: [tap][cstride] */
    int64_t cstride;    /* depthwise: channels rounded up to a whole vector block */
    float *zero;        /* a row of zeros (cg floats, or the image's channels for depthwise) */
} nhwc_conv;

static void nhwc_conv_release(void *state)
{
    nhwc_conv *s = state;
    if (!s) return;
    free(s->wpack);
    free(s->zero);
    free(s);
}

static int64_t strip_width(const nhwc_conv *s, int64_t strip)
{
    return strip < s->n_full ? s->uk->nr : s->last_w;
}

/* Packs group g of W (OIHW) into strips: strip j holds, for each tap and input
 * channel, the weights of its columns (zero past the group's last channel). */
static void pack_dense(const nhwc_conv *s, const float *w, int64_t g, float *dst)
{
    int64_t taps = s->kh * s->kw;
    for (int64_t st = 0; st < s->n_strips; st++) {
        int64_t width = strip_width(s, st), col0 = st * s->uk->nr;
        for (int64_t t = 0; t < taps; t++)
            for (int64_t p = 0; p < s->cg; p++, dst += width)
                for (int64_t j = 0; j < width; j++) {
                    int64_t oc = col0 + j;
                    dst[j] = oc < s->mg ? w[((g * s->mg + oc) * s->cg + p) * taps + t] : 0.0f;
                }
    }
}

static onyx_status nhwc_conv_prepare(onyx_kctx *k, void **state)
{
    *state = NULL;
    const onyx_tensor *w = k_input(k, 1);
    /* anything unusual is left to run(), which reports it */
    if (!w || w->kind != ONYX_KIND_TENSOR || w->dtype != ONYX_FLOAT || w->rank != 4) return ONYX_OK;
    int64_t grp = k_attr_int(k, "group", 1), m = w->dims[0], cg = w->dims[1];
    if (grp < 1 || m <= 0 || m % grp || cg <= 0 || w->dims[2] <= 0 || w->dims[3] <= 0) return ONYX_OK;
    nhwc_conv *s = calloc(1, sizeof *s);
    if (!s) return k_fail(k, ONYX_E_NOMEM, "out of memory packing W");
    s->uk = igemm_ukernel_best();
    s->m = m;
    s->cg = cg;
    s->group = grp;
    s->mg = m / grp;
    s->kh = w->dims[2];
    s->kw = w->dims[3];
    s->depthwise = cg == 1 && s->mg == 1;
    int64_t taps = s->kh * s->kw;
    const float *wf = w->data;
    size_t total;
    if (s->depthwise) {
        s->cstride = (m + 15) / 16 * 16;
        total = (size_t)(taps * s->cstride);
    } else {
        const igemm_ukernel *uk = s->uk;
        s->n_full = s->mg / uk->nr;
        int64_t rem = s->mg % uk->nr;
        s->last_w = rem == 0 ? 0 : uk->nr_narrow && rem <= uk->nr_narrow ? uk->nr_narrow : uk->nr;
        s->n_strips = s->n_full + (rem > 0);
        s->group_floats = (size_t)((s->n_full * uk->nr + s->last_w) * taps * cg);
        total = s->group_floats * (size_t)grp;
    }
    s->wpack = aligned_alloc(64, (total * sizeof(float) + 63) / 64 * 64);
    size_t zero_floats = (size_t)(s->depthwise ? s->cstride : cg) + 16;
    s->zero = calloc(zero_floats, sizeof(float));
    if (!s->wpack || !s->zero) {
        nhwc_conv_release(s);
        return k_fail(k, ONYX_E_NOMEM, "out of memory packing W");
    }
    if (s->depthwise) {
        for (int64_t t = 0; t < taps; t++)
            for (int64_t c = 0; c < s->cstride; c++) s->wpack[t * s->cstride + c] = c < m ? wf[c * taps + t] : 0.0f;
    } else {
        for (int64_t g = 0; g < grp; g++) pack_dense(s, wf, g, s->wpack + (size_t)g * s->group_floats);
    }
    *state = s;
    return ONYX_OK;
}

/* ---- geometry shared by the run paths ---- */

typedef struct nhwc_geom {
    int64_t n, ih, iw, c, oh, ow, m;
    int64_t kh, kw, sh, sw, dh, dw, ph, pw;
} nhwc_geom;

/* The input pixel that tap (ky, kx) of output pixel q reads, or NULL in the
 * padding. */
static inline const float *tap_pixel(const nhwc_geom *g, const float *x, int64_t q, int64_t ky, int64_t kx)
{
    int64_t per_img = g->oh * g->ow, img = q / per_img, r = q % per_img;
    int64_t iy = (r / g->ow) * g->sh - g->ph + ky * g->dh, ix = (r % g->ow) * g->sw - g->pw + kx * g->dw;
    if (iy < 0 || iy >= g->ih || ix < 0 || ix >= g->iw) return NULL;
    return x + ((img * g->ih + iy) * g->iw + ix) * g->c;
}

/* ---- dense and grouped: the igemm ---- */

typedef struct dense_job {
    const nhwc_conv *s;
    const nhwc_geom *g;
    const float *x, *b, *z;
    float *y;
    conv_epi ep;
    int64_t rows, tiles, blocks, units_per_group;
    bool pointwise;             /* 1x1, stride 1, no padding: row q reads pixel q */
} dense_job;

/* Rows of tile t: the rows are dealt out as evenly as the tile count allows. */
static void tile_rows(const dense_job *j, int64_t t, int64_t *r0, int64_t *nr)
{
    int64_t base = j->rows / j->tiles, rem = j->rows % j->tiles;
    *r0 = t * base + (t < rem ? t : rem);
    *nr = base + (t < rem);
}

static void dense_units(void *arg, int64_t begin, int64_t end)
{
    const dense_job *j = arg;
    const nhwc_conv *s = j->s;
    const nhwc_geom *g = j->g;
    const igemm_ukernel *uk = s->uk;
    const int64_t taps = s->kh * s->kw;
    const float *ap[IGEMM_MAX_MR * MAX_TAPS];
    for (int64_t u = begin; u < end; u++) {
        int64_t grp = u / j->units_per_group, rest = u % j->units_per_group;
        int64_t blk = rest / s->n_strips, st = rest % s->n_strips;
        int64_t col0 = st * uk->nr, width = strip_width(s, st);
        int64_t nc = s->mg - col0 < width ? s->mg - col0 : width;
        const float *wp = s->wpack + (size_t)grp * s->group_floats + (size_t)(col0 * taps * s->cg);
        igemm_tile_fn const *fns = width == uk->nr ? uk->tile : uk->tile_narrow;
        int64_t ch0 = grp * s->mg + col0; /* first output channel of the strip */
        conv_epi ep = j->ep;
        if (j->b) ep.bias = j->b + ch0;
        int64_t t1 = (blk + 1) * TILES_PER_BLOCK < j->tiles ? (blk + 1) * TILES_PER_BLOCK : j->tiles;
        for (int64_t t = blk * TILES_PER_BLOCK; t < t1; t++) {
            int64_t r0, mr;
            tile_rows(j, t, &r0, &mr);
            const float *xg = j->x + grp * s->cg;
            if (j->pointwise) {
                for (int64_t i = 0; i < mr; i++) ap[i] = xg + (r0 + i) * g->c;
            } else {
                for (int64_t ky = 0, tp = 0; ky < s->kh; ky++)
                    for (int64_t kx = 0; kx < s->kw; kx++, tp++)
                        for (int64_t i = 0; i < mr; i++) {
                            const float *px = tap_pixel(g, j->x, r0 + i, ky, kx);
                            ap[tp * IGEMM_MAX_MR + i] = px ? px + grp * s->cg : s->zero;
                        }
            }
            ep.z = j->z ? j->z + r0 * g->m + ch0 : NULL;
            fns[mr](s->cg, taps, ap, wp, j->y + r0 * g->m + ch0, g->m, nc, &ep);
        }
    }
}

/* ---- depthwise ---- */

typedef struct dw_job {
    const nhwc_conv *s;
    const nhwc_geom *g;
    const float *x, *z;
    float *y;
    conv_epi ep;
} dw_job;

static void dw_pixels(void *arg, int64_t begin, int64_t end)
{
    const dw_job *j = arg;
    const nhwc_conv *s = j->s;
    const nhwc_geom *g = j->g;
    int taps = (int)(s->kh * s->kw);
    const float *ip[MAX_TAPS];
    for (int64_t q = begin; q < end; q++) {
        for (int64_t ky = 0, t = 0; ky < s->kh; ky++)
            for (int64_t kx = 0; kx < s->kw; kx++, t++) {
                const float *px = tap_pixel(g, j->x, q, ky, kx);
                ip[t] = px ? px : s->zero;
            }
        s->uk->dwconv(g->c, taps, ip, s->wpack, s->cstride, j->y + q * g->m, j->z ? j->z + q * g->m : NULL,
                      &j->ep);
    }
}

/* ---- the operator ---- */

static onyx_status nhwc_conv_reference_nchw(onyx_kctx *k)
{
    gemm_act act;
    float p0, p1;
    onyx_status st = gemm_act_from_attrs(k, &act, &p0, &p1);
    return st ? st : conv_run(k, 3, act, p0, p1);
}

static onyx_status op_nhwc_conv(onyx_kctx *k)
{
    onyx_status st;
    if ((st = nhwc_require_image(k, 0))) return st;
    const onyx_tensor *x = k_input(k, 0), *w = k_input(k, 1), *b = k_input(k, 2), *z = k_input(k, 3);
    nhwc_conv *s = k->state;
    if (!s || !w || w->kind != ONYX_KIND_TENSOR || w->dtype != ONYX_FLOAT || w->rank != 4 || w->dims[0] != s->m ||
        w->dims[1] != s->cg || w->dims[2] != s->kh || w->dims[3] != s->kw ||
        k_attr_int(k, "group", 1) != s->group || (b && (b->dtype != ONYX_FLOAT || b->rank != 1)) ||
        s->kh * s->kw > MAX_TAPS)
        return nhwc_run_reference(k, 1u | 1u << 3, nhwc_conv_reference_nchw);
    nhwc_geom g = {.n = x->dims[0], .ih = x->dims[1], .iw = x->dims[2], .c = x->dims[3], .m = s->m};
    if (g.c != s->cg * s->group)
        return k_fail(k, ONYX_E_SHAPE, "X has %lld channels but W takes %lld in %lld groups", (long long)g.c,
                      (long long)(s->cg * s->group), (long long)s->group);
    if (b && b->dims[0] != s->m)
        return k_fail(k, ONYX_E_SHAPE, "input 2 (B) has %lld values but W has %lld output channels",
                      (long long)b->dims[0], (long long)s->m);
    conv_geom cg;
    int64_t kd[2] = {s->kh, s->kw};
    if ((st = conv_window_setup(k, 2, x->dims + 1, kd, &cg))) return st;
    g.oh = cg.out[0], g.ow = cg.out[1], g.kh = s->kh, g.kw = s->kw;
    g.sh = cg.s[0], g.sw = cg.s[1], g.dh = cg.d[0], g.dw = cg.d[1], g.ph = cg.pb[0], g.pw = cg.pb[1];
    int64_t dims[4] = {g.n, g.oh, g.ow, g.m};
    if (z) {
        if ((st = nhwc_require_image(k, 3))) return st;
        for (int a = 0; a < 4; a++)
            if (z->dims[a] != dims[a])
                return k_fail(k, ONYX_E_SHAPE, "input 3 (Z) must have the shape of Y (N x OH x OW x M)");
    }
    conv_epi ep = {NULL, NULL, g.m, GEMM_ACT_NONE, 0, 0};
    if ((st = gemm_act_from_attrs(k, &ep.act, &ep.p0, &ep.p1))) return st;
    onyx_tensor *y = k_output_uninit(k, 0, ONYX_FLOAT, 4, dims);
    if (!y) return k->err->code;
    int64_t rows = g.n * g.oh * g.ow;
    if (rows == 0 || g.m == 0) return ONYX_OK;
    if (s->depthwise) {
        ep.bias = b ? b->data : NULL;
        dw_job j = {s, &g, x->data, z ? z->data : NULL, y->data, ep};
        k_parallel_for(k, rows, dw_pixels, &j);
        return ONYX_OK;
    }
    dense_job j = {s, &g, x->data, b ? b->data : NULL, z ? z->data : NULL, y->data, ep, rows, 0, 0, 0, false};
    j.tiles = (rows + s->uk->mr - 1) / s->uk->mr;
    j.blocks = (j.tiles + TILES_PER_BLOCK - 1) / TILES_PER_BLOCK;
    j.units_per_group = j.blocks * s->n_strips;
    j.pointwise = s->kh == 1 && s->kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 &&
                  g.oh == g.ih && g.ow == g.iw;
    k_parallel_for(k, j.units_per_group * s->group, dense_units, &j);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_conv_nhwc[] = {
    {"ai.onyx", "NhwcConv", op_nhwc_conv, nhwc_conv_prepare, nhwc_conv_release},
    {NULL, NULL, NULL, NULL, NULL},
};
