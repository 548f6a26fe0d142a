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
#include "conv_nhwc.h"
#include "nhwc.h"
#include "shape_common.h"
#include "winograd.h"

#include <stdlib.h>

/* Row tiles per work unit: a block of output pixels whose input rows (about
 * BLOCK_BYTES of them) stay in L2 while every strip of weights passes over
 * them. Weights come from memory once per block, so the block is as large as
 * L2 allows: a 14x14x256 layer is one block. */
#define BLOCK_BYTES (256 * 1024)
#define MIN_BLOCK_TILES 4
#define MAX_BLOCK_TILES 128
/* Kernels with more taps (larger than 8x8) take the reference path: the
 * microkernels' pointer table lives on the stack. */
#define MAX_TAPS 64
#define PREFETCH_TILE_BYTES 4096
/* With few input channels per group (an RGB stem: 3), the microkernel would
 * spend more time switching taps than multiplying: such tiles gather their
 * rows (all taps) into one contiguous buffer first and run as one tap of
 * depth taps*C. PACK_MAX_K bounds that buffer (MR rows on the stack). */
#define PACK_MAX_CG 8
#define PACK_MAX_K 512

static void nhwc_conv_release(void *state)
{
    nhwc_conv *s = state;
    if (!s) return;
    k_free_packed(s->wpack);
    free(s->zero);
    k_scratch_free(&s->own_scratch);
    free(s);
}

/* Packs group g of W (OIHW, `taps` per kernel) into strips: strip j holds, at
 * each depth step, the weights of its columns (zero past the group's last
 * channel). The depth runs over (tap, input channel) for NHWC input, over
 * (input channel, tap) -- W's own order -- for NCHW input. */
static void pack_dense(const nhwc_conv *s, const void *w, int64_t g, int64_t taps, float *dst)
{
    for (int64_t st = 0; st < s->n_strips; st++) {
        int64_t width = strip_width(s, st), col0 = st * s->uk->nr;
        for (int64_t d = 0; d < taps * s->cg; d++, dst += width) {
            int64_t t = s->nchw_input ? d % taps : d / s->cg, p = s->nchw_input ? d / taps : d % s->cg;
            for (int64_t j = 0; j < width; j++) {
                int64_t oc = col0 + j;
                dst[j] = oc < s->mg ? k_load_f32(w, ((g * s->mg + oc) * s->cg + p) * taps + t) : 0.0f;
            }
        }
    }
}

/* Winograd F(4x4, 3x3) for dense stride-1 3x3 convolutions with enough
 * channels to amortize the transforms, and weights small enough that their
 * transformed copy (4x the size) is worth its memory and the bandwidth to
 * read it every run: up to 256 x 256 (9 MB transformed; ResNet-50's 14x14
 * stage runs in 0.68x the time), not the 512 x 512 of a classifier's last
 * stage (38 MB a layer for 7x7 images). */
#define WINO_MIN_CHANNELS 16
#define WINO_MAX_WEIGHTS (256 * 256)

static bool winograd_wins(onyx_kctx *k, const nhwc_conv *s)
{
    if (s->group != 1 || s->kh != 3 || s->kw != 3 || s->cg < WINO_MIN_CHANNELS || s->m < WINO_MIN_CHANNELS ||
        s->cg * s->m > WINO_MAX_WEIGHTS)
        return false;
    const int64_t *v;
    int n = k_attr_ints(k, "strides", &v);
    for (int i = 0; i < n; i++)
        if (v[i] != 1) return false;
    n = k_attr_ints(k, "dilations", &v);
    for (int i = 0; i < n; i++)
        if (v[i] != 1) return false;
    return true;
}

static onyx_status nhwc_conv_prepare(onyx_kctx *k, void **state)
{
    *state = NULL;
    /* W's bytes where they lie (maybe unaligned: read with k_load_f32) */
    const onyx_tensor *w = k_input_unaligned(k, 1);
    /* anything unusual is left to run(), which reports it */
    if (!w || w->kind != ONYX_KIND_TENSOR || w->dtype != ONYX_FLOAT || w->rank != 4) return ONYX_OK;
    int64_t grp = k_attr_int(k, "group", 1), m = w->dims[0], cg = w->dims[1];
    bool nchw_input = k_attr_int(k, "nchw_input", 0) != 0;
    if (grp < 1 || m <= 0 || m % grp || cg <= 0 || w->dims[2] <= 0 || w->dims[3] <= 0) return ONYX_OK;
    /* NCHW input: dense only, its depth within one offset table */
    if (nchw_input && (grp != 1 || cg * w->dims[2] * w->dims[3] > PACK_MAX_K)) return ONYX_OK;
    nhwc_conv *s = calloc(1, sizeof *s);
    if (!s) return k_fail(k, ONYX_E_NOMEM, "out of memory packing W");
    s->uk = igemm_ukernel_best();
    s->m = m;
    s->cg = cg;
    s->group = grp;
    s->mg = m / grp;
    s->kh = w->dims[2];
    s->kw = w->dims[3];
    s->nchw_input = nchw_input;
    s->depthwise = !nchw_input && cg == 1 && s->mg == 1;
    s->winograd = !nchw_input && winograd_wins(k, s);
    /* the Winograd form packs 36 transformed taps per kernel */
    int64_t taps = s->winograd ? WINO_POS : s->kh * s->kw;
    const void *wf = w->data;
    float *wt = NULL;
    if (s->winograd) {
        wt = malloc((size_t)(m * cg * WINO_POS) * sizeof(float));
        if (!wt) {
            free(s);
            return k_fail(k, ONYX_E_NOMEM, "out of memory packing W");
        }
        for (int64_t i = 0; i < m * cg; i++) {
            float g9[9];
            memcpy(g9, (const unsigned char *)wf + (size_t)i * sizeof g9, sizeof g9);
            wino_weight_transform(g9, wt + i * WINO_POS);
        }
        wf = wt;
    }
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
    s->wpack = k_alloc_packed(k, total * sizeof(float));
    size_t zero_floats = (size_t)(s->depthwise ? s->cstride : cg) + 16;
    s->zero = calloc(zero_floats, sizeof(float));
    if (!s->wpack || !s->zero) {
        free(wt);
        nhwc_conv_release(s);
        return k_fail(k, ONYX_E_NOMEM, "out of memory packing W");
    }
    if (s->depthwise) {
        for (int64_t t = 0; t < taps; t++)
            for (int64_t c = 0; c < s->cstride; c++)
                s->wpack[t * s->cstride + c] = c < m ? k_load_f32(wf, c * taps + t) : 0.0f;
    } else {
        for (int64_t g = 0; g < grp; g++) pack_dense(s, wf, g, taps, s->wpack + (size_t)g * s->group_floats);
    }
    free(wt);
    /* run() reads only the packed weights (kernels of more than MAX_TAPS taps,
     * or a bias that is not a float vector, take the reference path), so the
     * session may give W's bytes back */
    const onyx_tensor *b = k->n_inputs > 2 ? k_input_unaligned(k, 2) : NULL;
    if (s->kh * s->kw <= MAX_TAPS && (k->n_inputs < 3 || (b && b->dtype == ONYX_FLOAT && b->rank == 1)))
        k_input_consumed(k, 1);
    *state = s;
    return ONYX_OK;
}

/* ---- geometry of the run paths ---- */

/* Where the window of an output pixel lies: its image and the input
 * coordinates of its top-left tap (possibly in the padding). */
typedef struct window {
    const float *img;
    int64_t iy, ix;
} window;

/* The input pixel tap (ky, kx) of the window reads, or NULL in the padding. */
static inline const float *window_tap(const nhwc_geom *g, const window *w, int64_t ky, int64_t kx)
{
    int64_t iy = w->iy + ky * g->dh, ix = w->ix + kx * g->dw;
    if ((uint64_t)iy >= (uint64_t)g->ih || (uint64_t)ix >= (uint64_t)g->iw) return NULL;
    return w->img + (iy * g->iw + ix) * g->c;
}

/* ---- dense and grouped: the igemm ---- */

typedef struct dense_job {
    const nhwc_conv *s;
    const nhwc_geom *g;
    const float *x, *b, *z;
    float *y;
    conv_epi ep;
    int64_t rows, tiles, blocks, block_tiles;
    int64_t chunks;             /* the strips of a group cut into this many runs */
    int64_t units;              /* group x block x chunk */
    int threads;
    k_worklist *work;           /* the units, shared out with stealing */
    char *scratch;              /* per thread: the A operands of one block's tiles */
    size_t per_thread;
    bool pointwise;             /* 1x1, stride 1, no padding: row q reads pixel q */
    bool gather_rows;           /* small cg: rows packed taps*cg deep (PACK_MAX_CG) */
    /* tiles on igemm_offs_fn: a row's pointer is its window's corner, tap t
     * lies offs[t] from it, okc values deep (oks taps). With nchw, every
     * tile: x is the zero-padded copy (images of c x hp x wp); else the
     * tiles whose windows lie inside the image. */
    const int64_t *offs;
    int64_t okc, oks;
    bool nchw;
    int64_t hp, wp;
    /* windows: NHWC, in X (top-left pads ph, pw); NCHW, in the padded copy */
    int64_t win_top, win_left, img_floats;
    int64_t tile_base, tile_rem; /* rows / tiles, rows % tiles */
} dense_job;

/* The first row of tile t: the rows are dealt out as evenly as the tile
 * count allows (the first tile_rem tiles get one more). */
static int64_t tile_first_row(const dense_job *j, int64_t t)
{
    return t * j->tile_base + (t < j->tile_rem ? t : j->tile_rem);
}

static window window_of(const dense_job *j, int64_t q)
{
    const nhwc_geom *g = j->g;
    int64_t per_img = g->oh * g->ow, img = q / per_img, r = q - img * per_img, oy = r / g->ow;
    window w = {j->x + img * j->img_floats, oy * g->sh - j->win_top, (r - oy * g->ow) * g->sw - j->win_left};
    return w;
}

/* The window of the next output pixel after w's: one step right, or the
 * first of the next row or image. A unit's rows are consecutive pixels, so
 * its windows step from the first one (two 64-bit divisions a row cost a
 * 3x3 layer with 32 input channels 3% of its time). */
static inline window window_next(const dense_job *j, window w)
{
    const nhwc_geom *g = j->g;
    w.ix += g->sw;
    if (w.ix == g->ow * g->sw - j->win_left) {
        w.ix = -j->win_left;
        w.iy += g->sh;
        if (w.iy == g->oh * g->sh - j->win_top) {
            w.iy = -j->win_top;
            w.img += j->img_floats;
        }
    }
    return w;
}

/* The A operand of tile rows [r0, r0+mr) of group grp, whose first window
 * is *cur (left at the window after the last row): per tap, one pointer per
 * row (a[t*IGEMM_MAX_MR + i]), or with gather_rows one pointer per row to
 * the row's taps*cg values copied into `rows`, or -- returning true, for
 * igemm_offs_fn -- one pointer per row to its window's corner. */
static bool tile_operand(const dense_job *j, int64_t grp, window *cur, int64_t r0, int64_t mr, const float **a,
                         float *rows)
{
    const nhwc_conv *s = j->s;
    const nhwc_geom *g = j->g;
    const int64_t coff = grp * s->cg;
    if (j->pointwise) {
        for (int64_t i = 0; i < mr; i++) a[i] = j->x + coff + (r0 + i) * g->c;
        return false;
    }
    if (j->nchw) {
        for (int64_t i = 0; i < mr; i++, *cur = window_next(j, *cur)) a[i] = cur->img + cur->iy * j->wp + cur->ix;
        return true;
    }
    if (!j->gather_rows) {
        window w[IGEMM_MAX_MR];
        bool inside = j->offs != NULL;
        const int64_t ey = (s->kh - 1) * g->dh, ex = (s->kw - 1) * g->dw;
        for (int64_t i = 0; i < mr; i++) {
            w[i] = *cur;
            *cur = window_next(j, *cur);
            inside = inside && (uint64_t)w[i].iy < (uint64_t)g->ih && w[i].iy + ey < g->ih &&
                     (uint64_t)w[i].ix < (uint64_t)g->iw && w[i].ix + ex < g->iw;
        }
        if (inside) {
            for (int64_t i = 0; i < mr; i++) a[i] = w[i].img + (w[i].iy * g->iw + w[i].ix) * g->c + coff;
            return true;
        }
        for (int64_t ky = 0, tp = 0; ky < s->kh; ky++)
            for (int64_t kx = 0; kx < s->kw; kx++, tp++)
                for (int64_t i = 0; i < mr; i++) {
                    const float *px = window_tap(g, &w[i], ky, kx);
                    a[tp * IGEMM_MAX_MR + i] = px ? px + coff : s->zero;
                }
        return false;
    }
    /* gather_rows: a kernel row inside the image is one copy */
    const int64_t depth = s->kh * s->kw * s->cg, span = s->kw * s->cg;
    const bool dense_row = g->dw == 1 && s->group == 1;
    for (int64_t i = 0; i < mr; i++, *cur = window_next(j, *cur)) {
        const float *img = cur->img;
        const int64_t iy = cur->iy, ix = cur->ix;
        float *row = rows + i * depth;
        a[i] = row;
        const bool inside = dense_row && ix >= 0 && ix + s->kw <= g->iw;
        for (int64_t ky = 0; ky < s->kh; ky++, row += span) {
            const int64_t y = iy + ky * g->dh;
            if ((uint64_t)y >= (uint64_t)g->ih) {
                memset(row, 0, (size_t)span * sizeof(float));
                continue;
            }
            const float *line = img + y * g->iw * g->c;
            if (inside) {
                memcpy(row, line + ix * g->c, (size_t)span * sizeof(float));
                continue;
            }
            for (int64_t kx = 0; kx < s->kw; kx++) {
                const int64_t x = ix + kx * g->dw;
                const float *px = (uint64_t)x < (uint64_t)g->iw ? line + x * g->c + coff : NULL;
                for (int64_t p = 0; p < s->cg; p++) row[kx * s->cg + p] = px ? px[p] : 0.0f;
            }
        }
    }
    return false;
}

/* Thread slot t: its share of the units. A unit builds the A operands of its
 * block's tiles once, then runs each of its strips over them, so a strip of
 * weights is read once per block while it stays in cache. */
static void dense_thread(void *arg, int64_t begin, int64_t end)
{
    const dense_job *j = arg;
    const nhwc_conv *s = j->s;
    const nhwc_geom *g = j->g;
    const igemm_ukernel *uk = s->uk;
    const int64_t taps = s->kh * s->kw, depth = taps * s->cg;
    const int64_t ks = j->gather_rows ? 1 : taps, kc = j->gather_rows ? depth : s->cg;
    const int64_t per_tile = j->gather_rows || j->pointwise || j->nchw ? IGEMM_MAX_MR : taps * IGEMM_MAX_MR;
    bool by_offs[MAX_BLOCK_TILES];
    int64_t tile_r0[MAX_BLOCK_TILES], tile_mr[MAX_BLOCK_TILES];
    for (int64_t t = begin; t < end; t++) {
        const float **a = (const float **)(void *)(j->scratch + (size_t)t * j->per_thread);
        float *rows = (float *)(void *)(a + j->block_tiles * per_tile);
        int64_t u;
        while (k_worklist_next(j->work, (int)t, &u)) {
            int64_t grp = u / (j->blocks * j->chunks), rest = u % (j->blocks * j->chunks);
            int64_t blk = rest / j->chunks, st0, st1;
            chunk_of(s->n_strips, j->chunks, rest % j->chunks, &st0, &st1);
            int64_t tile0, tile1;
            chunk_of(j->tiles, j->blocks, blk, &tile0, &tile1);
            /* the block's tiles are consecutive rows: the first one's row
             * and window, then steps */
            int64_t row = tile_first_row(j, tile0);
            window cur = j->pointwise ? (window){NULL, 0, 0} : window_of(j, row);
            for (int64_t tl = tile0; tl < tile1; row += tile_mr[tl - tile0], tl++) {
                const int64_t mr = j->tile_base + (tl < j->tile_rem);
                tile_r0[tl - tile0] = row, tile_mr[tl - tile0] = mr;
                by_offs[tl - tile0] = tile_operand(j, grp, &cur, row, mr, a + (tl - tile0) * per_tile,
                                                   rows + (tl - tile0) * IGEMM_MAX_MR * (j->gather_rows ? depth : 0));
            }
            for (int64_t st = st0; st < st1; st++) {
                int64_t col0 = st * uk->nr, width = strip_width(s, st);
                int64_t nc = s->mg - col0 < width ? s->mg - col0 : width;
                const float *wp = s->wpack + (size_t)grp * s->group_floats + (size_t)(col0 * depth);
                igemm_tile_fn const *fns = width == uk->nr ? uk->tile : uk->tile_narrow;
                igemm_offs_fn const *offs_fns = width == uk->nr ? uk->offs : uk->offs_narrow;
                int64_t ch0 = grp * s->mg + col0; /* first output channel of the strip */
                conv_epi ep = j->ep;
                if (j->b) ep.bias = j->b + ch0;
                /* the next strip's weights (the next unit's first, after the
                 * last: a thread's units of a block are consecutive), a share
                 * of at most PREFETCH_TILE_BYTES per tile */
                const char *pf = (const char *)(wp + width * depth);
                int64_t pf_bytes = st + 1 < s->n_strips ? (int64_t)(strip_width(s, st + 1) * depth * sizeof(float)) : 0;
                const int64_t pf_step = (pf_bytes / (tile1 - tile0) + 63) / 64 * 64;
                if (pf_step > PREFETCH_TILE_BYTES) pf_bytes = 0;
                for (int64_t tl = tile0; tl < tile1; tl++) {
                    const int64_t r0 = tile_r0[tl - tile0], mr = tile_mr[tl - tile0];
                    for (int64_t o = (tl - tile0) * pf_step; o < (tl - tile0 + 1) * pf_step && o < pf_bytes; o += 64)
                        __builtin_prefetch(pf + o);
                    ep.z = j->z ? j->z + r0 * g->m + ch0 : NULL;
                    float *c = j->y + r0 * g->m + ch0;
                    const float **at = a + (tl - tile0) * per_tile;
                    if (by_offs[tl - tile0]) offs_fns[mr](j->okc, j->oks, j->offs, at, wp, c, g->m, nc, &ep);
                    else fns[mr](kc, ks, at, wp, c, g->m, nc, &ep);
                }
            }
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
    int64_t units;      /* runs of output rows */
    k_worklist *work;
} dw_job;

/* Output row r of all images: its kh input rows (NULL in the padding) go
 * to the row microkernel fn. */
static void dw_row(const dw_job *j, dwconv_row_fn fn, dw_row_args *a, const float **rows, int64_t r)
{
    const nhwc_conv *s = j->s;
    const nhwc_geom *g = j->g;
    int64_t img = r / g->oh, oy = r % g->oh;
    for (int64_t ky = 0; ky < s->kh; ky++) {
        int64_t iy = oy * g->sh - g->ph + ky * g->dh;
        rows[ky] = iy >= 0 && iy < g->ih ? j->x + (img * g->ih + iy) * g->iw * g->c : NULL;
    }
    a->out = j->y + r * g->ow * g->m;
    a->z = j->z ? j->z + r * g->ow * g->m : NULL;
    fn(a);
}

/* Thread slots [begin, end): runs of rows from the worklist (own run first,
 * then the others' left-overs: a delayed thread does not hold up the layer). */
static void dw_thread(void *arg, int64_t begin, int64_t end)
{
    const dw_job *j = arg;
    const nhwc_geom *g = j->g;
    const nhwc_conv *s = j->s;
    const float *rows[MAX_TAPS];
    /* output pixels whose taps all lie inside the row: fewer than 4 (5x5
     * taps on 7 pixels), and the weights-in-registers forms have no
     * multi-pixel pass to run */
    int64_t lo = (g->pw + g->sw - 1) / g->sw, hi = g->iw - 1 + g->pw - (s->kw - 1) * g->dw;
    hi = hi < 0 ? 0 : hi / g->sw + 1;
    if (hi > g->ow) hi = g->ow;
    const dwconv_row_fn fn = hi - lo < 4                 ? s->uk->dw_row_by_pixel
                             : s->kh == 3 && s->kw == 3 ? s->uk->dw_row_3x3
                             : s->kh == 5 && s->kw == 5 ? s->uk->dw_row_5x5
                                                        : s->uk->dw_row;
    dw_row_args a = {rows, g->iw, g->c, g->ow, g->sw, g->dw, g->pw, s->kh, s->kw, s->wpack, s->cstride, NULL, NULL,
                     &j->ep};
    for (int64_t t = begin; t < end; t++) {
        int64_t u;
        while (k_worklist_next(j->work, (int)t, &u)) {
            int64_t r0, r1;
            chunk_of(g->n * g->oh, j->units, u, &r0, &r1);
            for (int64_t r = r0; r < r1; r++) dw_row(j, fn, &a, rows, r);
        }
    }
}

/* ---- the operator ---- */

/* The zero-padded images of an NCHW input: rows for every window's taps,
 * columns for them and for the whole input row (the copy keeps rows whole). */
static void nchw_padded_dims(const nhwc_geom *g, int64_t *hp, int64_t *wp)
{
    *hp = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    *wp = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    if (*wp < g->pw + g->iw) *wp = g->pw + g->iw;
}

/* Floats in those images (INT64_MAX when that overflows). */
static int64_t nchw_padded_floats(const nhwc_geom *g)
{
    int64_t hp, wp, n;
    nchw_padded_dims(g, &hp, &wp);
    if (__builtin_mul_overflow(g->n * g->c, hp, &n) || __builtin_mul_overflow(n, wp, &n)) return INT64_MAX;
    return n;
}

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
    const bool nchw = k_attr_int(k, "nchw_input", 0) != 0;
    if ((st = nhwc_require_image(k, 0))) return st;
    const onyx_tensor *x = k_input(k, 0), *w = k_input(k, 1), *b = k_input(k, 2), *z = k_input(k, 3);
    nhwc_conv *s = k->state;
    if (!s || !w || w->kind != ONYX_KIND_TENSOR || w->dtype != ONYX_FLOAT || w->rank != 4 || w->dims[0] != s->m ||
        w->dims[1] != s->cg || w->dims[2] != s->kh || w->dims[3] != s->kw ||
        k_attr_int(k, "group", 1) != s->group || (b && (b->dtype != ONYX_FLOAT || b->rank != 1)) ||
        s->kh * s->kw > MAX_TAPS)
        return nhwc_run_reference(k, (nchw ? 0u : 1u) | 1u << 3, nhwc_conv_reference_nchw);
    /* X is N x C x H x W with nchw_input, else N x H x W x C */
    const int64_t *xd = x->dims, *xhw = nchw ? xd + 2 : xd + 1;
    nhwc_geom g = {.n = xd[0], .ih = xhw[0], .iw = xhw[1], .c = nchw ? xd[1] : xd[3], .m = s->m};
    if (g.c != s->cg * s->group)
        return k_fail(k, ONYX_E_SHAPE, "X has %lld channels but W takes %lld in %lld groups", (long long)g.c,
                      (long long)(s->cg * s->group), (long long)s->group);
    if (b && b->dims[0] != s->m)
        return k_fail(k, ONYX_E_SHAPE, "input 2 (B) has %lld values but W has %lld output channels",
                      (long long)b->dims[0], (long long)s->m);
    conv_geom cg;
    int64_t kd[2] = {s->kh, s->kw};
    if ((st = conv_window_setup(k, 2, xhw, kd, &cg))) return st;
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
    /* pads and dilations far larger than the image (legal, if odd) would
     * make the zero-padded copy huge: the reference skips the padding */
    if (nchw && nchw_padded_floats(&g) > 4 * g.n * g.c * g.ih * g.iw + (1 << 20))
        return nhwc_run_reference(k, 1u << 3, nhwc_conv_reference_nchw);
    onyx_tensor *y = k_output_uninit(k, 0, ONYX_FLOAT, 4, dims);
    if (!y) return k->err->code;
    int64_t rows = g.n * g.oh * g.ow;
    if (rows == 0 || g.m == 0) return ONYX_OK;
    if (s->winograd) {
        ep.bias = b ? b->data : NULL;
        return conv_winograd_run(k, s, &g, x->data, z ? z->data : NULL, y->data, &ep);
    }
    if (s->depthwise) {
        ep.bias = b ? b->data : NULL;
        /* about 4 runs of rows a thread, in a multiple of the thread count */
        const int threads = k_num_threads(k);
        int64_t units = g.n * g.oh < 4 * threads ? g.n * g.oh : 4 * threads;
        k_worklist work;
        k_worklist_init(&work, units, threads);
        dw_job j = {s, &g, x->data, z ? z->data : NULL, y->data, ep, units, &work};
        if (threads > 1) k_parallel_for(k, threads, dw_thread, &j);
        else dw_thread(&j, 0, 1);
        return ONYX_OK;
    }
    dense_job j = {s, &g, x->data, b ? b->data : NULL, z ? z->data : NULL, y->data, ep, rows, 0, 0, 0, 1, 0, 0, NULL,
                   NULL, 0, false, false, NULL, 0, 0, nchw, 0, 0};
    /* a block's input rows, about BLOCK_BYTES, stay in L2 while each strip of
     * weights (read from memory once per block) passes over all of them */
    const int64_t min_tiles = (rows + s->uk->mr - 1) / s->uk->mr;
    int64_t target = BLOCK_BYTES / (g.c * (int64_t)sizeof(float) * s->uk->mr);
    if (target < MIN_BLOCK_TILES) target = MIN_BLOCK_TILES;
    if (target > MAX_BLOCK_TILES) target = MAX_BLOCK_TILES;
    j.blocks = (min_tiles + target - 1) / target;
    /* every thread gets the same amount of work. Rows for no more blocks
     * than threads, fewer than the output channels (7x7 pixels, 512
     * channels), and strips that split evenly: one block, whose rows stay in
     * L2, and the threads split the strips, so each reads its share of the
     * weights, not all of them, and the tiles keep their full height
     * (splitting ResNet-50's 49 rows made 6-row tiles and ran its layer4 at
     * 1.5x its 1-thread speed on 2 threads). Otherwise a whole number of
     * blocks each, every block the same number of tiles; only rows too few
     * for a block a thread leave the strips to be split into a multiple of
     * the thread count (splitting 3 strips 2:1 over 2 threads rather than
     * the rows left one thread idle a third of MobileNetV4's 96-channel
     * layers) */
    j.threads = k_num_threads(k);
    if (j.threads > 1 && s->group == 1 && j.blocks <= j.threads && rows <= s->mg && s->n_strips % j.threads == 0)
        j.blocks = 1;
    else {
        if (s->group * j.blocks < j.threads) j.blocks = (j.threads + s->group - 1) / s->group;
        while ((s->group * j.blocks) % j.threads) j.blocks++;
        if (j.blocks > min_tiles) j.blocks = min_tiles;
    }
    /* tiles of at most MR rows, as many in every block (a tile's height
     * changes no result) */
    j.tiles = (min_tiles + j.blocks - 1) / j.blocks * j.blocks;
    if (j.tiles > rows) j.tiles = rows;
    j.tile_base = rows / j.tiles, j.tile_rem = rows % j.tiles;
    j.block_tiles = (j.tiles + j.blocks - 1) / j.blocks;
    /* at least 4 units a thread when the strips allow, so that a delayed
     * thread's last units can be taken over, in a multiple of the thread
     * count (a unit's size changes no result) */
    const int64_t gb = s->group * j.blocks, step = gb % j.threads ? j.threads : 1;
    j.chunks = step;
    while (gb * j.chunks < 4 * j.threads && j.chunks + step <= s->n_strips) j.chunks += step;
    if (j.chunks > s->n_strips) j.chunks = s->n_strips;
    j.units = gb * j.chunks;
    const int64_t taps = s->kh * s->kw;
    j.pointwise = !nchw && s->kh == 1 && s->kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 &&
                  g.oh == g.ih && g.ow == g.iw;
    j.gather_rows = !nchw && !j.pointwise && s->cg <= PACK_MAX_CG && s->cg * taps <= PACK_MAX_K;
    size_t ptrs = (size_t)j.block_tiles * IGEMM_MAX_MR * (size_t)(j.gather_rows || j.pointwise || nchw ? 1 : taps);
    size_t floats = j.gather_rows ? (size_t)(j.block_tiles * IGEMM_MAX_MR * taps * s->cg) : 0;
    j.per_thread = (ptrs * sizeof(float *) + floats * sizeof(float) + 63) / 64 * 64;
    /* the offsets of igemm_offs_fn: NCHW input, from the corner of a window
     * in the padded copy, per (channel, kernel row) with kW contiguous
     * values (per tap when dilated); NHWC, from a window inside the image,
     * per tap with the group's channels contiguous */
    int64_t offs[PACK_MAX_K];
    size_t padded = 0;
    bool copy_padded = false;
    if (nchw) {
        nchw_padded_dims(&g, &j.hp, &j.wp);
        /* without padding (a 1x1 conv) the windows read X where it lies */
        copy_padded = g.ph > 0 || g.pw > 0 || j.hp > g.ih || j.wp > g.iw;
        if (copy_padded) padded = (size_t)(nchw_padded_floats(&g) + 15) / 16 * 16 * sizeof(float);
        else j.hp = g.ih, j.wp = g.iw;
        j.okc = g.dw == 1 ? s->kw : 1;
        j.oks = g.c * s->kh * s->kw / j.okc;
        for (int64_t c = 0, t = 0; c < g.c; c++)
            for (int64_t ky = 0; ky < s->kh; ky++)
                for (int64_t kx = 0; kx < s->kw; kx += j.okc) offs[t++] = (c * j.hp + ky * g.dh) * j.wp + kx * g.dw;
        j.offs = offs;
    } else if (!j.pointwise && !j.gather_rows) {
        j.okc = s->cg;
        j.oks = taps;
        for (int64_t ky = 0, t = 0; ky < s->kh; ky++)
            for (int64_t kx = 0; kx < s->kw; kx++) offs[t++] = (ky * g.dh * g.iw + kx * g.dw) * g.c;
        j.offs = offs;
    }
    k_scratch_buf *sb = k_scratch(k, K_SCRATCH_IMAGE, &s->own_scratch);
    if (!k_scratch_reserve(sb, (padded + j.per_thread * (size_t)j.threads) / sizeof(float)))
        return k_fail(k, ONYX_E_NOMEM, "out of memory for the convolution's scratch");
    j.scratch = (char *)sb->data + padded;
    j.win_top = nchw ? 0 : g.ph, j.win_left = nchw ? 0 : g.pw;
    j.img_floats = nchw ? g.c * j.hp * j.wp : g.ih * g.iw * g.c;
    if (copy_padded) {
        /* every tap of every window inside: the zero-padded images */
        shp_pad_planes_f32(k, x->data, sb->data, g.n * g.c, g.ih, g.iw, g.ph, g.pw, j.hp, j.wp, 0.0f);
        j.x = sb->data;
    }
    k_worklist work;
    k_worklist_init(&work, j.units, j.threads);
    j.work = &work;
    if (j.threads > 1) k_parallel_for(k, j.threads, dense_thread, &j);
    else dense_thread(&j, 0, 1);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_conv_nhwc[] = {
    {"ai.onyx", "NhwcConv", op_nhwc_conv, nhwc_conv_prepare, nhwc_conv_release},
    {NULL, NULL, NULL, NULL, NULL},
};
