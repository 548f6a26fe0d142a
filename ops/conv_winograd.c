/* conv_winograd.c - NhwcConv's Winograd F(4x4, 3x3) path (ops/winograd.h):
 * tiles of 4x4 outputs in blocks, each block's 36 transformed products on
 * the igemm microkernels between the input and output transforms. */
#include "conv_nhwc.h"
#include "winograd.h"

typedef struct wino_job {
    const nhwc_conv *s;
    const nhwc_geom *g;
    const wino_kernels *wk;
    const float *x, *z;
    float *y;
    conv_epi ep;
    int64_t th, tw, tiles, tb, blocks;  /* 4x4 output tiles per column/row, in all; per block */
    int64_t vstride, mstride;           /* floats from one position's rows of V (M) to the next */
    int threads;
    float *scratch;                     /* per thread: V [36][vstride], then M [36][mstride] */
    size_t per_thread;
} wino_job;

/* Tiles [t0, t0+nb): the input transform into V, the 36 products into M on
 * the igemm microkernels (B = the transformed weights of that position),
 * the output transform with the epilogue into Y. */
static void wino_block(const wino_job *j, float *v, float *mm, int64_t t0, int64_t nb)
{
    const nhwc_conv *s = j->s;
    const nhwc_geom *g = j->g;
    const igemm_ukernel *uk = s->uk;
    const int64_t C = g->c, K = g->m, per_img = j->th * j->tw;
    for (int64_t i = 0; i < nb; i++) {
        int64_t t = t0 + i, img = t / per_img, r = t % per_img;
        int64_t iy0 = (r / j->tw) * 4 - g->ph, ix0 = (r % j->tw) * 4 - g->pw;
        const float *rows[6];
        for (int q = 0; q < 6; q++)
            rows[q] = iy0 + q >= 0 && iy0 + q < g->ih ? j->x + (img * g->ih + iy0 + q) * g->iw * C : NULL;
        j->wk->input(rows, ix0, g->iw, C, v + i * C, j->vstride);
    }
    const conv_epi plain = {NULL, NULL, 0, GEMM_ACT_NONE, 0, 0};
    const float *a[IGEMM_MAX_MR];
    for (int64_t st = 0; st < s->n_strips; st++) {
        int64_t col0 = st * uk->nr, width = strip_width(s, st), nc = K - col0 < width ? K - col0 : width;
        igemm_tile_fn const *fns = width == uk->nr ? uk->tile : uk->tile_narrow;
        for (int p = 0; p < WINO_POS; p++) {
            const float *wp = s->wpack + (size_t)(col0 * WINO_POS * C + p * C * width);
            for (int64_t i0 = 0; i0 < nb; i0 += uk->mr) {
                int64_t mr = nb - i0 < uk->mr ? nb - i0 : uk->mr;
                for (int64_t i = 0; i < mr; i++) a[i] = v + p * j->vstride + (i0 + i) * C;
                fns[mr](C, 1, a, wp, mm + p * j->mstride + i0 * K + col0, K, nc, &plain);
            }
        }
    }
    for (int64_t i = 0; i < nb; i++) {
        int64_t t = t0 + i, img = t / per_img, r = t % per_img, oy = (r / j->tw) * 4, ox = (r % j->tw) * 4;
        int64_t at = ((img * g->oh + oy) * g->ow + ox) * K;
        int nrows = (int)(g->oh - oy < 4 ? g->oh - oy : 4), ncols = (int)(g->ow - ox < 4 ? g->ow - ox : 4);
        j->wk->output(mm + i * K, j->mstride, K, j->y + at, g->ow * K, nrows, ncols, j->z ? j->z + at : NULL, &j->ep);
    }
}

static void wino_thread(void *arg, int64_t begin, int64_t end)
{
    const wino_job *j = arg;
    for (int64_t t = begin; t < end; t++) {
        float *v = j->scratch + (size_t)t * j->per_thread;
        float *mm = v + (size_t)(WINO_POS * j->vstride);
        int64_t b0, b1;
        chunk_of(j->blocks, j->threads, t, &b0, &b1);
        for (int64_t b = b0; b < b1; b++) {
            int64_t t0 = b * j->tb;
            wino_block(j, v, mm, t0, j->tiles - t0 < j->tb ? j->tiles - t0 : j->tb);
        }
    }
}

onyx_status conv_winograd_run(onyx_kctx *k, nhwc_conv *s, const nhwc_geom *g, const float *x, const float *z,
                              float *y, const conv_epi *ep)
{
    wino_job j = {s, g, wino_kernels_best(), x, z, y, *ep, 0, 0, 0, 0, 0, 0, 0, 0, NULL, 0};
    j.th = (g->oh + 3) / 4;
    j.tw = (g->ow + 3) / 4;
    j.tiles = g->n * j.th * j.tw;
    /* V and M of a block: ~1-2 MB, so the 36 products stream from L2/L3;
     * smaller blocks when there would be too few to share out (a block's
     * size changes no result: every tile is computed the same way). Every
     * block reads all the transformed weights (9 MB at 256 x 256), so a
     * small image is one block per thread, not more. */
    j.threads = k_num_threads(k);
    j.tb = g->c + g->m <= 256 ? 64 : 32;
    /* a whole number of equal blocks per thread */
    j.blocks = (j.tiles + j.tb - 1) / j.tb;
    if (j.blocks < (int64_t)j.threads) j.blocks = j.threads;
    while (j.blocks % j.threads) j.blocks++;
    if (j.blocks > j.tiles) j.blocks = j.tiles;
    j.tb = (j.tiles + j.blocks - 1) / j.blocks;
    j.blocks = (j.tiles + j.tb - 1) / j.tb;
    if (j.threads > j.blocks) j.threads = (int)j.blocks;
    /* a position's rows padded by a cache line: tb x C floats are often a
     * multiple of 4 KB, and the 36 positions of one tile, written (V) and
     * read (M) together, would then fall in one L1 set of 12 ways (64x64
     * channels at 256x256, 1 thread: the two transforms' time ~12% less) */
    j.vstride = (j.tb * g->c + 15) / 16 * 16 + 16;
    j.mstride = (j.tb * g->m + 15) / 16 * 16 + 16;
    j.per_thread = (size_t)(WINO_POS * (j.vstride + j.mstride));
    k_scratch_buf *sb = k_scratch(k, K_SCRATCH_IMAGE, &s->own_scratch);
    if (!k_scratch_reserve(sb, j.per_thread * (size_t)j.threads))
        return k_fail(k, ONYX_E_NOMEM, "out of memory for the Winograd transforms");
    j.scratch = sb->data;
    if (j.threads > 1) k_parallel_for(k, j.threads, wino_thread, &j);
    else wino_thread(&j, 0, 1);
    return ONYX_OK;
}
