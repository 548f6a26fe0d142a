/* gemm.c - the float32 GEMM driver: packing, cache blocking, threading, the
 * epilogue, and the portable microkernel. See gemm.h for the packed layouts.
 *
 * Loop nest (per thread, over its share of the output):
 *   for each depth block of KC:             the product is summed in this order
 *     for each block of NC columns:         pack B (KC x NC, stays in L2)
 *       for each MR-row panel of A:         A micro-panel (KC x MR) stays in L1
 *         for each NR-column panel of B:    microkernel on one MR x NR tile
 * Each output element is always summed over the same depth blocks in the same
 * order, so the result does not depend on how the work is split.
 *
 * Threads take contiguous ranges of column panels (or of row panels when there
 * are fewer column panels than threads): one job per thread, so each thread
 * indexes its own slice of the scratch.
 */
#include "gemm.h"
#include "igemm.h"

#include <stdlib.h>

#define GEMM_KC 256     /* sets the B block width nc */
#define GEMM_KC_MAX 384 /* deepest depth block */
#define GEMM_NC_FLOATS (64 * 1024) /* KC x NC block of packed B: 256 KB */
#define ALIGN_FLOATS 16            /* 64 bytes */

/* ---- activation and the scalar epilogue ---- */

float gemm_act_scalar(gemm_act act, float p0, float p1, float v)
{
    switch (act) {
    case GEMM_ACT_RELU: return v > 0 ? v : 0.0f;
    case GEMM_ACT_CLIP: return v < p0 ? p0 : v > p1 ? p1 : v;
    case GEMM_ACT_LEAKY_RELU: return v < 0 ? v * p0 : v;
    case GEMM_ACT_HARD_SWISH: {
        float h = v / 6.0f + 0.5f;
        return v * (h < 0 ? 0.0f : h > 1 ? 1.0f : h);
    }
    case GEMM_ACT_HARD_SIGMOID: {
        float h = p0 * v + p1;
        return h < 0 ? 0.0f : h > 1 ? 1.0f : h;
    }
    case GEMM_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    case GEMM_ACT_SILU: return v / (1.0f + expf(-v));
    case GEMM_ACT_TANH: return tanhf(v);
    case GEMM_ACT_GELU: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    default: return v;
    }
}

void gemm_row_final_scalar(const gemm_epilogue *ep, float *dst, const float *src, int64_t n,
                           float rb, const float *cb, const float *z)
{
    for (int64_t j = 0; j < n; j++) {
        float v = ep->alpha * src[j] + rb;
        if (cb) v += cb[j];
        if (z) v += z[j];
        dst[j] = gemm_act_scalar(ep->act, ep->p0, ep->p1, v);
    }
}

onyx_status gemm_act_from_attrs(onyx_kctx *k, gemm_act *act, float *p0, float *p1)
{
    static const struct {
        const char *name;
        gemm_act act;
        int n_params;
        float d0, d1;
    } acts[] = {
        {"", GEMM_ACT_NONE, 0, 0, 0},
        {"Relu", GEMM_ACT_RELU, 0, 0, 0},
        {"Clip", GEMM_ACT_CLIP, 2, -INFINITY, INFINITY},
        {"LeakyRelu", GEMM_ACT_LEAKY_RELU, 1, 0.01f, 0},
        {"HardSwish", GEMM_ACT_HARD_SWISH, 0, 0, 0},
        {"HardSigmoid", GEMM_ACT_HARD_SIGMOID, 2, 0.2f, 0.5f},
        {"Sigmoid", GEMM_ACT_SIGMOID, 0, 0, 0},
        {"SiLU", GEMM_ACT_SILU, 0, 0, 0},
        {"Tanh", GEMM_ACT_TANH, 0, 0, 0},
        {"Gelu", GEMM_ACT_GELU, 0, 0, 0},
    };
    const char *name = k_attr_string(k, "activation", "");
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        if (strcmp(acts[i].name, name) != 0) continue;
        const float *v;
        int n = k_attr_floats(k, "activation_params", &v);
        if (n > 0 && n != acts[i].n_params)
            return k_fail(k, ONYX_E_INVALID, "activation %s takes %d activation_params, got %d",
                          name[0] ? name : "(none)", acts[i].n_params, n);
        *act = acts[i].act;
        *p0 = n > 0 ? v[0] : acts[i].d0;
        *p1 = n > 1 ? v[1] : acts[i].d1;
        return ONYX_OK;
    }
    return k_fail(k, ONYX_E_UNSUPPORTED,
                  "attribute activation = '%s' is not one of Relu, Clip, LeakyRelu, HardSwish, "
                  "HardSigmoid, Sigmoid, SiLU, Tanh, Gelu",
                  name);
}

/* ---- the portable microkernel: 4 x 16 ---- */

/* A small array of accumulators the compiler can keep in vector registers
 * (SSE on x86-64, NEON on aarch64) since every index is a constant after
 * unrolling. */
static void gemm_f32_4x16_generic(int64_t kc, const float *a, const float *b, float *c,
                                  int64_t ldc, bool accumulate)
{
    float acc[4][16];
    memset(acc, 0, sizeof acc);
    for (int64_t p = 0; p < kc; p++) {
        const float *bp = b + p * 16, *ap = a + p * 4;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 16; j++) acc[i][j] += ap[i] * bp[j];
    }
    for (int i = 0; i < 4; i++) {
        float *cr = c + i * ldc;
        if (accumulate)
            for (int j = 0; j < 16; j++) cr[j] += acc[i][j];
        else
            for (int j = 0; j < 16; j++) cr[j] = acc[i][j];
    }
}

void gemm_dw_row_scalar(const float *const *src, const float *w, int taps, float bias, float *dst,
                        int64_t n)
{
    for (int64_t j = 0; j < n; j++) dst[j] = bias;
    for (int t = 0; t < taps; t++) {
        const float *s = src[t];
        float wt = w[t];
        for (int64_t j = 0; j < n; j++) dst[j] += wt * s[j];
    }
}

const gemm_ukernel gemm_f32_generic = {"gemm_f32_4x16_generic", ONYX_ISA_GENERIC, 4, 16,
                                       gemm_f32_4x16_generic, gemm_row_final_scalar,
                                       gemm_dw_row_scalar};

const gemm_ukernel *gemm_ukernel_for_isa(onyx_isa isa)
{
    if (isa > onyx_cpu_info()->isa) return NULL;
    switch (isa) {
    case ONYX_ISA_GENERIC: return &gemm_f32_generic;
#if defined(__x86_64__)
    case ONYX_ISA_AVX2: return &gemm_f32_6x16_avx2;
    case ONYX_ISA_AVX512: return &gemm_f32_8x32_avx512;
#endif
#if defined(__aarch64__)
    case ONYX_ISA_NEON: return &gemm_f32_8x12_neon;
#endif
    default: return NULL;
    }
}

const gemm_ukernel *gemm_ukernel_best(void)
{
    const gemm_ukernel *uk = gemm_ukernel_for_isa(onyx_cpu_info()->isa);
    return uk ? uk : &gemm_f32_generic;
}

/* ---- packing ---- */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

size_t gemm_packed_a_floats(const gemm_ukernel *uk, int64_t m, int64_t k)
{
    return (size_t)(ceil_div(m, uk->mr) * uk->mr * k);
}

size_t gemm_packed_b_floats(const gemm_ukernel *uk, int64_t k, int64_t n)
{
    return (size_t)(ceil_div(n, uk->nr) * uk->nr * k);
}

/* Rows [i0, i0 + mr) of A (mr <= MR), depth [0, k), as one panel. A is read
 * as bytes (k_load_f32): weights are packed from wherever they lie in the
 * model file, aligned or not. */
static void pack_a_panel(int MR, int64_t i0, int64_t mr, int64_t k, const void *a, int64_t rs,
                         int64_t cs, float *dst)
{
    for (int64_t p = 0; p < k; p++) {
        float *d = dst + p * MR;
        int64_t s = i0 * rs + p * cs, i = 0;
        for (; i < mr; i++) d[i] = k_load_f32(a, s + i * rs);
        for (; i < MR; i++) d[i] = 0;
    }
}

void gemm_pack_a(const gemm_ukernel *uk, int64_t m, int64_t k, const void *a, int64_t rs,
                 int64_t cs, float *dst)
{
    for (int64_t i0 = 0; i0 < m; i0 += uk->mr)
        pack_a_panel(uk->mr, i0, m - i0 < uk->mr ? m - i0 : uk->mr, k, a, rs, cs, dst + i0 * k);
}

/* Depth rows [p0, p0 + kc) of columns [j0, j1) as panels of kc x NR floats
 * (the last one zero-padded), row by row so each row of B is read as one
 * contiguous run. */
static void pack_b_panels(int NR, const gemm_b *b, int64_t p0, int64_t kc, int64_t j0, int64_t j1,
                          float *dst)
{
    for (int64_t p = 0; p < kc; p++) {
        const float *row = b->data + (b->row_off ? b->row_off[p0 + p] : (p0 + p) * b->rs);
        float *d = dst + p * NR;
        for (int64_t jq = j0; jq < j1; jq += NR, d += kc * NR) {
            int64_t nr = j1 - jq < NR ? j1 - jq : NR, j = 0;
            const float *s = row + jq * b->cs;
            if (b->cs == 1) {
                memcpy(d, s, (size_t)nr * sizeof(float));
                j = nr;
            } else {
                for (; j < nr; j++) d[j] = s[j * b->cs];
            }
            for (; j < NR; j++) d[j] = 0;
        }
    }
}

/* As pack_b_panels for the whole of B, read as bytes at any alignment (weights
 * packed from where they lie in the model file). */
void gemm_pack_b(const gemm_ukernel *uk, int64_t k, int64_t n, const void *b, int64_t rs,
                 int64_t cs, float *dst)
{
    const unsigned char *bb = b;
    int NR = uk->nr;
    for (int64_t p = 0; p < k; p++) {
        float *d = dst + p * NR;
        for (int64_t jq = 0; jq < n; jq += NR, d += k * NR) {
            int64_t nr = n - jq < NR ? n - jq : NR, j = 0;
            int64_t s = p * rs + jq * cs;
            if (cs == 1) {
                memcpy(d, bb + (size_t)s * sizeof(float), (size_t)nr * sizeof(float));
                j = nr;
            } else {
                for (; j < nr; j++) d[j] = k_load_f32(bb, s + j * cs);
            }
            for (; j < NR; j++) d[j] = 0;
        }
    }
}

/* ---- scratch ---- */

void gemm_scratch_free(gemm_scratch *s) { k_scratch_free(s); }

bool gemm_scratch_reserve(gemm_scratch *s, size_t n) { return k_scratch_reserve(s, n); }

/* ---- the driver ---- */

typedef struct gemm_job {
    const gemm_ukernel *uk;
    int64_t m, n, kd;
    const float *apack;      /* packed A, full depth */
    const gemm_b *b;
    const gemm_c *c;
    const gemm_epilogue *ep;
    bool plain_ep;           /* the epilogue is the identity */
    bool split_rows;         /* threads share out row panels instead of column panels */
    int threads;
    float *scratch;          /* per thread: B block, then one tile */
    size_t per_thread;
    int64_t nc;              /* columns per B block (multiple of NR) */
    int64_t kc;              /* depth per block */
    /* packing A before the product */
    const gemm_a *a;
} gemm_job;

static size_t round_up(size_t n) { return (n + ALIGN_FLOATS - 1) & ~(size_t)(ALIGN_FLOATS - 1); }

static void chunk_of(int64_t total, int parts, int i, int64_t *b, int64_t *e)
{
    int64_t base = total / parts, rem = total % parts;
    *b = i * base + (i < rem ? i : rem);
    *e = *b + base + (i < rem ? 1 : 0);
}

static int64_t c_col(const gemm_c *c, int64_t j) { return (j / c->pitch) * c->width + j % c->pitch; }

/* Writes rows of a tile computed into tmp (row stride NR) to C: columns
 * [j0, j0 + nr), split where the column map jumps. */
static void store_tile(const gemm_job *jb, const float *tmp, int64_t i0, int64_t mr, int64_t j0,
                       int64_t nr, bool accumulate, bool final)
{
    const gemm_c *c = jb->c;
    const gemm_epilogue *ep = jb->ep;
    int NR = jb->uk->nr;
    for (int64_t ja = j0; ja < j0 + nr;) {
        int64_t in_row = ja % c->pitch;
        int64_t jb_end = ja - in_row + c->pitch;
        if (jb_end > j0 + nr) jb_end = j0 + nr;
        int64_t run = (in_row < c->width ? (c->width - in_row < jb_end - ja ? c->width - in_row
                                                                             : jb_end - ja)
                                         : 0);
        int64_t cj = c_col(c, ja);
        for (int64_t i = 0; i < mr && run > 0; i++) {
            float *dst = c->data + (i0 + i) * c->ldc + cj;
            const float *src = tmp + i * NR + (ja - j0);
            if (accumulate) {
                for (int64_t j = 0; j < run; j++) dst[j] += src[j];
                src = dst;
            }
            if (final && !jb->plain_ep)
                jb->uk->row_final(ep, dst, src, run, ep->row_bias ? ep->row_bias[i0 + i] : 0.0f,
                                  ep->col_bias ? ep->col_bias + cj : NULL,
                                  ep->z ? ep->z + (i0 + i) * ep->ldz + cj : NULL);
            else if (!accumulate)
                memcpy(dst, src, (size_t)run * sizeof(float));
        }
        ja = jb_end;
    }
}

/* The product over row panels [ip0, ip1) and column panels [jp0, jp1). */
static void gemm_block(const gemm_job *jb, int t, int64_t ip0, int64_t ip1, int64_t jp0, int64_t jp1)
{
    const gemm_ukernel *uk = jb->uk;
    int MR = uk->mr, NR = uk->nr;
    const gemm_c *c = jb->c;
    const gemm_epilogue *ep = jb->ep;
    float *bblock = jb->scratch + (size_t)t * jb->per_thread;
    float *tmp = bblock + round_up((size_t)GEMM_KC_MAX * (size_t)jb->nc);
    int64_t panels_per_block = jb->nc / NR;
    bool contiguous_c = c->pitch == c->width;
    for (int64_t jq0 = jp0; jq0 < jp1; jq0 += panels_per_block) {
        int64_t jq1 = jq0 + panels_per_block < jp1 ? jq0 + panels_per_block : jp1;
        for (int64_t p0 = 0; p0 < jb->kd; p0 += jb->kc) {
            int64_t kc = jb->kd - p0 < jb->kc ? jb->kd - p0 : jb->kc;
            bool accumulate = p0 > 0, final = p0 + kc >= jb->kd;
            /* B panels for this block: packed already, or packed here */
            const float *bp;
            int64_t bstride;
            if (jb->b->packed) {
                bp = jb->b->packed + jq0 * NR * jb->kd + p0 * NR;
                bstride = NR * jb->kd;
            } else {
                int64_t j1 = jq1 * NR < jb->n ? jq1 * NR : jb->n;
                pack_b_panels(NR, jb->b, p0, kc, jq0 * NR, j1, bblock);
                bp = bblock;
                bstride = NR * kc;
            }
            for (int64_t ip = ip0; ip < ip1; ip++) {
                int64_t i0 = ip * MR, mr = jb->m - i0 < MR ? jb->m - i0 : MR;
                const float *ap = jb->apack + i0 * jb->kd + p0 * MR;
                for (int64_t jq = jq0; jq < jq1; jq++) {
                    int64_t j0 = jq * NR, nr = jb->n - j0 < NR ? jb->n - j0 : NR;
                    const float *bq = bp + (jq - jq0) * bstride;
                    bool direct = mr == MR && nr == NR &&
                                  (contiguous_c || j0 % c->pitch + NR <= c->width);
                    if (!direct) {
                        uk->tile(kc, ap, bq, tmp, NR, false);
                        store_tile(jb, tmp, i0, mr, j0, nr, accumulate, final);
                        continue;
                    }
                    int64_t cj = c_col(c, j0);
                    float *ct = c->data + i0 * c->ldc + cj;
                    uk->tile(kc, ap, bq, ct, c->ldc, accumulate);
                    if (final && !jb->plain_ep)
                        for (int64_t i = 0; i < MR; i++)
                            uk->row_final(ep, ct + i * c->ldc, ct + i * c->ldc, NR,
                                          ep->row_bias ? ep->row_bias[i0 + i] : 0.0f,
                                          ep->col_bias ? ep->col_bias + cj : NULL,
                                          ep->z ? ep->z + (i0 + i) * ep->ldz + cj : NULL);
                }
            }
        }
    }
}

static void gemm_thread(void *arg, int64_t begin, int64_t end)
{
    const gemm_job *jb = arg;
    int64_t mp = ceil_div(jb->m, jb->uk->mr), np = ceil_div(jb->n, jb->uk->nr);
    for (int64_t t = begin; t < end; t++) {
        int64_t b0, b1;
        if (jb->split_rows) {
            chunk_of(mp, jb->threads, (int)t, &b0, &b1);
            if (b0 < b1) gemm_block(jb, (int)t, b0, b1, 0, np);
        } else {
            chunk_of(np, jb->threads, (int)t, &b0, &b1);
            if (b0 < b1) gemm_block(jb, (int)t, 0, mp, b0, b1);
        }
    }
}

static void pack_a_range(void *arg, int64_t begin, int64_t end)
{
    const gemm_job *jb = arg;
    int MR = jb->uk->mr;
    float *dst = (float *)jb->apack;
    for (int64_t ip = begin; ip < end; ip++) {
        int64_t i0 = ip * MR;
        pack_a_panel(MR, i0, jb->m - i0 < MR ? jb->m - i0 : MR, jb->kd, jb->a->data, jb->a->rs,
                     jb->a->cs, dst + i0 * jb->kd);
    }
}

/* ---- prepacked weights, A read in place ---- */

/* With B packed once (weights) and A a plain row-major matrix (activations),
 * the indirect-GEMM microkernels of igemm.h read A's rows where they lie:
 * no per-call packing of A, no depth blocking (a strip of B, K x NR, streams
 * from L2 while A's rows come from L1/L2), and tiles of exactly the rows
 * there are (a batch-1 classifier's GEMV runs 1-row tiles instead of MR-row
 * tiles of zeros). Their B strips are gemm_pack_b's panels when both
 * microkernels have the same NR. Rows are dealt into tiles as evenly as
 * possible, tiles into blocks of about 16 as evenly as possible, and units of
 * (one block) x (a run of strips) are shared out to the threads (with
 * stealing: k_worklist); the number of units is a multiple of the thread
 * count, so every thread's share is the same work (a last block of 1 tile
 * next to blocks of 16 would leave one thread idle most of the time). Each
 * output element is computed by one microkernel call. */
#define DIRECT_TILES_PER_BLOCK 16

typedef struct direct_job {
    const igemm_ukernel *iu;
    int64_t m, n, kd, tiles, blocks, chunks, strips, units;
    int threads;
    k_worklist *work;   /* the units, shared out with stealing */
    const float *a, *b;
    int64_t lda;
    const gemm_c *c;
    const gemm_epilogue *ep;
} direct_job;

static void direct_thread(void *arg, int64_t begin, int64_t end)
{
    const direct_job *j = arg;
    const int NR = j->iu->nr;
    for (int64_t t = begin; t < end; t++) {
        int64_t u;
        while (k_worklist_next(j->work, (int)t, &u)) {
            /* the block's rows (dealt evenly over the blocks), cut into
             * its tiles as evenly */
            int64_t b0, b1, s0, s1;
            chunk_of(j->m, (int)j->blocks, (int)(u / j->chunks), &b0, &b1);
            chunk_of(j->strips, (int)j->chunks, (int)(u % j->chunks), &s0, &s1);
            const int64_t tiles = j->tiles / j->blocks;
            for (int64_t st = s0; st < s1; st++) {
                int64_t col0 = st * NR, nc = j->n - col0 < NR ? j->n - col0 : NR;
                conv_epi ce = {j->ep->col_bias ? j->ep->col_bias + col0 : NULL, NULL, j->ep->ldz, j->ep->act,
                               j->ep->p0, j->ep->p1};
                const float *wp = j->b + st * NR * j->kd;
                for (int64_t tl = 0; tl < tiles; tl++) {
                    int64_t r0, mr;
                    chunk_of(b1 - b0, (int)tiles, (int)tl, &r0, &mr);
                    mr -= r0;
                    r0 += b0;
                    const float *rows[IGEMM_MAX_MR];
                    for (int64_t i = 0; i < mr; i++) rows[i] = j->a + (r0 + i) * j->lda;
                    ce.z = j->ep->z ? j->ep->z + r0 * j->ep->ldz + col0 : NULL;
                    j->iu->tile[mr](j->kd, 1, rows, wp, j->c->data + r0 * j->c->ldc + col0, j->c->ldc, nc, &ce);
                }
            }
        }
    }
}

/* Runs the product this way when it applies; false when it does not. */
static bool gemm_direct(const onyx_kctx *k, const gemm_ukernel *uk, int64_t m, int64_t n, int64_t kd,
                        const gemm_a *a, const gemm_b *b, const gemm_c *c, const gemm_epilogue *ep)
{
    const igemm_ukernel *iu = igemm_ukernel_for_isa(uk->isa);
    if (!iu || iu->nr != uk->nr || !b->packed || a->packed || a->cs != 1 || c->pitch != c->width ||
        ep->alpha != 1.0f || ep->row_bias || kd <= 0 || m > INT32_MAX)
        return false;
    direct_job j = {iu, m, n, kd, ceil_div(m, iu->mr), 0, 1, ceil_div(n, iu->nr), 0,
                    k ? k_num_threads(k) : 1, NULL, a->data, b->packed, a->rs, c, ep};
    const int64_t T = j.threads;
    j.blocks = ceil_div(j.tiles, DIRECT_TILES_PER_BLOCK);
    if (j.blocks > T) j.blocks = ceil_div(j.blocks, T) * T;
    if (j.blocks > j.tiles) j.blocks = j.tiles;
    /* the rows dealt evenly over the blocks, as many tiles in every block
     * (257 rows at 2 threads: 65 64 64 64 rows in 9 tiles each, not blocks
     * of 9 8 8 8 tiles, which left a thread idle 6% of DINOv2's products) */
    j.tiles = ceil_div(ceil_div(m, j.blocks), iu->mr) * j.blocks;
    /* enough units to keep every thread busy, a multiple of the thread count
     * when the strips allow: split the strips when blocks are few */
    while ((j.blocks * j.chunks < 4 * T || (j.blocks * j.chunks) % T) && j.chunks < j.strips) j.chunks++;
    j.units = j.blocks * j.chunks;
    k_worklist work;
    k_worklist_init(&work, j.units, j.threads);
    j.work = &work;
    if (k && j.threads > 1) k_parallel_for(k, j.threads, direct_thread, &j);
    else direct_thread(&j, 0, 1);
    return true;
}

bool gemm_f32(const onyx_kctx *k, const gemm_ukernel *uk, int64_t m, int64_t n, int64_t kd,
              const gemm_a *a, const gemm_b *b, const gemm_c *c, const gemm_epilogue *ep,
              gemm_scratch *scratch)
{
    if (m <= 0 || n <= 0) return true;
    static const gemm_epilogue identity = {1.0f, NULL, NULL, NULL, 0, GEMM_ACT_NONE, 0, 0};
    if (!ep) ep = &identity;
    if (gemm_direct(k, uk, m, n, kd, a, b, c, ep)) return true;
    int threads = k ? k_num_threads(k) : 1;
    int64_t mp = ceil_div(m, uk->mr), np = ceil_div(n, uk->nr);
    gemm_job jb = {0};
    jb.uk = uk;
    jb.m = m;
    jb.n = n;
    jb.kd = kd;
    jb.b = b;
    jb.c = c;
    jb.ep = ep;
    jb.a = a;
    jb.plain_ep = ep->alpha == 1.0f && !ep->row_bias && !ep->col_bias && !ep->z &&
                  ep->act == GEMM_ACT_NONE;
    jb.split_rows = np < threads && mp > np;
    jb.threads = threads;
    int64_t nc = (GEMM_NC_FLOATS / GEMM_KC) / uk->nr * uk->nr;
    jb.nc = nc > uk->nr ? nc : uk->nr;
    /* depth blocks of equal size, at most GEMM_KC_MAX: a depth of 384 (a
     * transformer's width) is one block instead of 256 + 128, which saves a
     * pass that reloads and adds the partial C */
    const int64_t kblocks = (kd + GEMM_KC_MAX - 1) / GEMM_KC_MAX;
    jb.kc = kblocks > 0 ? (kd + kblocks - 1) / kblocks : 1;
    jb.per_thread = round_up((size_t)GEMM_KC_MAX * (size_t)jb.nc) + round_up((size_t)(uk->mr * uk->nr));
    size_t a_floats = a->packed ? 0 : round_up(gemm_packed_a_floats(uk, m, kd));
    if (!gemm_scratch_reserve(scratch, a_floats + jb.per_thread * (size_t)threads)) return false;
    jb.scratch = scratch->data + a_floats;
    if (kd == 0) {
        /* an empty sum: the epilogue of zero */
        float *zero = jb.scratch;
        memset(zero, 0, (size_t)(uk->mr * uk->nr) * sizeof(float));
        for (int64_t i0 = 0; i0 < m; i0 += uk->mr)
            for (int64_t j0 = 0; j0 < n; j0 += uk->nr) {
                jb.plain_ep = false;
                store_tile(&jb, zero, i0, m - i0 < uk->mr ? m - i0 : uk->mr, j0,
                           n - j0 < uk->nr ? n - j0 : uk->nr, false, true);
            }
        return true;
    }
    if (a->packed) {
        jb.apack = a->packed;
    } else {
        jb.apack = scratch->data;
        if (k) k_parallel_for(k, mp, pack_a_range, &jb);
        else pack_a_range(&jb, 0, mp);
    }
    if (k && threads > 1) k_parallel_for(k, threads, gemm_thread, &jb);
    else gemm_thread(&jb, 0, 1);
    return true;
}
