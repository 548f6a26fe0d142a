/* qgemm.c - the integer GEMM driver: weight packing, threading, dispatch, and
 * the portable microkernel, epilogue and depthwise row (the oracle every ISA
 * path is tested against). See qgemm.h for the data layouts.
 *
 * Loop nest (per thread, over its share of the output):
 *   for each block of column panels whose packed B fits in L2
 *     for each MR-row tile of A               (its rows stay in L1)
 *       for each NR-column panel of the block
 *         microkernel over every tap and depth, then the epilogue row by row
 * There is no depth blocking: int8 panels are a quarter of their float size,
 * so even a 3x3x512 panel (147 KB) stays in L2 while the A tiles stream. Every
 * output is summed by one microkernel call, so results do not depend on the
 * thread count.
 */
#include "qgemm.h"

#include <stdlib.h>

#define QGEMM_MAX_MR 8
#define QGEMM_MAX_NR 32
#define QGEMM_BLOCK_BYTES (192 * 1024) /* packed B per block of panels */
/* A thread joins a product only for this many multiply-adds (a few
 * microseconds of VNNI work): below it, waking and waiting for a thread costs
 * more than it saves, and a busy machine may not run the thread at all. */
#define QGEMM_MACS_PER_THREAD ((int64_t)2 << 20)

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- the portable kernel: 4 x 8 ---- */

#define GMR 4
#define GNR 8

/* Products summed in uint32: the int32 accumulators of every path wrap the
 * same way, and C's signed overflow would be undefined. */
static void qgemm_u8s8_4x8_generic_tile(int64_t ks, int64_t kc, const uint8_t *const *a,
                                        int64_t a_off, const uint8_t *zero, const int8_t *b,
                                        int32_t *c)
{
    uint32_t acc[GMR][GNR];
    memset(acc, 0, sizeof acc);
    for (int64_t t = 0; t < ks; t++, a += GMR) {
        const uint8_t *ar[GMR];
        for (int i = 0; i < GMR; i++) ar[i] = a[i] == zero ? a[i] : a[i] + a_off;
        for (int64_t k0 = 0; k0 < kc; k0 += 4, b += GNR * 4) {
            int64_t kn = kc - k0 < 4 ? kc - k0 : 4;
            for (int i = 0; i < GMR; i++) {
                int32_t av[4] = {0, 0, 0, 0};
                for (int64_t r = 0; r < kn; r++) av[r] = ar[i][k0 + r];
                for (int j = 0; j < GNR; j++) {
                    const int8_t *bj = b + j * 4;
                    acc[i][j] += (uint32_t)(av[0] * bj[0] + av[1] * bj[1] + av[2] * bj[2] +
                                            av[3] * bj[3]);
                }
            }
        }
    }
    for (int i = 0; i < GMR; i++)
        for (int j = 0; j < GNR; j++) c[i * GNR + j] = (int32_t)acc[i][j];
}

void qgemm_row_out_scalar(const qgemm_out *o, const int32_t *acc, int64_t i, int64_t j0, int64_t n)
{
    uint32_t rc = o->rowc ? (uint32_t)o->rowc[i] : 0;
    for (int64_t jj = 0; jj < n; jj++) {
        int64_t j = j0 + jj;
        int32_t a = (int32_t)((uint32_t)acc[jj] + (uint32_t)o->ib[j] + rc);
        if (o->yi) {
            o->yi[i * o->yi_rs + j] = a;
            continue;
        }
        float v = (float)a * o->scale[j];
        if (o->fb) v += o->fb[j];
        if (o->z) v += o->z[i * o->z_rs + j];
        v = gemm_act_scalar(o->act, o->p0, o->p1, v);
        if (o->yf) o->yf[i * o->yf_rs + j] = v;
        if (o->yq) {
            int32_t q = qgemm_quantize_value(v, o->inv_ys, o->yzp, o->yq_signed);
            if (o->yq_signed) ((int8_t *)o->yq)[i * o->yq_rs + j] = (int8_t)q;
            else ((uint8_t *)o->yq)[i * o->yq_rs + j] = (uint8_t)q;
        }
    }
}

void qgemm_tile_out_scalar(const qgemm_out *o, const int32_t *acc, int64_t ldacc, int64_t i0,
                           int64_t mr, int64_t j0, int64_t n)
{
    for (int64_t r = 0; r < mr; r++) qgemm_row_out_scalar(o, acc + r * ldacc, i0 + r, j0, n);
}

/* Blocks of 8 channels, one tap after another ([block][tap][8]). */
static void qdw_generic_pixel(int64_t channels, int64_t taps, const uint8_t *const *in, int64_t off,
                              const uint8_t *zero, const int16_t *w, int32_t *acc)
{
    for (int64_t c0 = 0; c0 < channels; c0 += 8) {
        int64_t cn = channels - c0 < 8 ? channels - c0 : 8;
        int32_t s[8] = {0};
        const int16_t *wb = w + c0 * taps;
        for (int64_t t = 0; t < taps; t++) {
            const uint8_t *p = (in[t] == zero ? in[t] : in[t] + off) + c0;
            for (int64_t c = 0; c < cn; c++) s[c] += (int32_t)p[c] * wb[t * 8 + c];
        }
        memcpy(acc + c0, s, (size_t)cn * sizeof *s);
    }
}

static void qdw_generic(int64_t channels, int64_t taps, int64_t npix, const uint8_t *const *in, int64_t off,
                        const uint8_t *zero, const int16_t *w, int32_t *acc)
{
    for (int64_t p = 0; p < npix; p++) qdw_generic_pixel(channels, taps, in + p * taps, off, zero, w, acc + p * channels);
}

const qgemm_ukernel qgemm_u8s8_4x8_generic = {
    "qgemm_u8s8_4x8_generic", GMR, GNR, false, false, qgemm_u8s8_4x8_generic_tile,
    qgemm_tile_out_scalar, qdw_generic, 8, false};

/* ---- dispatch ---- */

static bool runs_here(const qgemm_ukernel *uk)
{
    const onyx_cpu *cpu = onyx_cpu_info();
    (void)cpu;
#if defined(__x86_64__)
    if (uk == &qgemm_u8s8_8x32_avx512vnni) return cpu->isa >= ONYX_ISA_AVX512 && cpu->avx512_vnni;
    if (uk == &qgemm_u8s8_6x16_avxvnni) return cpu->isa >= ONYX_ISA_AVX2 && cpu->avx_vnni;
    if (uk == &qgemm_u8s8_8x32_avx512bw) return cpu->isa >= ONYX_ISA_AVX512;
    if (uk == &qgemm_u8s8_4x16_avx2) return cpu->isa >= ONYX_ISA_AVX2;
#endif
#if defined(__aarch64__)
    if (uk == &qgemm_s8s8_8x12_neondot) return cpu->isa == ONYX_ISA_NEON && cpu->neon_dot;
    if (uk == &qgemm_s8s8_4x8_neon) return cpu->isa == ONYX_ISA_NEON;
#endif
    return uk == &qgemm_u8s8_4x8_generic;
}

/* Best first; the dot-product paths ahead of the ones that widen. */
static const qgemm_ukernel *const all_kernels[] = {
#if defined(__x86_64__)
    &qgemm_u8s8_8x32_avx512vnni, &qgemm_u8s8_6x16_avxvnni, &qgemm_u8s8_8x32_avx512bw,
    &qgemm_u8s8_4x16_avx2,
#endif
#if defined(__aarch64__)
    &qgemm_s8s8_8x12_neondot, &qgemm_s8s8_4x8_neon,
#endif
    &qgemm_u8s8_4x8_generic,
};
#define N_KERNELS ((int)(sizeof all_kernels / sizeof all_kernels[0]))

static bool uses_dot(const qgemm_ukernel *uk)
{
#if defined(__x86_64__)
    if (uk == &qgemm_u8s8_8x32_avx512vnni || uk == &qgemm_u8s8_6x16_avxvnni) return true;
#endif
#if defined(__aarch64__)
    if (uk == &qgemm_s8s8_8x12_neondot) return true;
#endif
    (void)uk;
    return false;
}

const qgemm_ukernel *const *qgemm_ukernels_available(void)
{
    static const qgemm_ukernel *list[N_KERNELS + 1];
    int n = 0;
    for (int i = 0; i < N_KERNELS; i++)
        if (runs_here(all_kernels[i])) list[n++] = all_kernels[i];
    list[n] = NULL;
    return list;
}

const qgemm_ukernel *qgemm_ukernel_best(void)
{
    for (int i = 0; i < N_KERNELS; i++)
        if (runs_here(all_kernels[i])) return all_kernels[i];
    return &qgemm_u8s8_4x8_generic;
}

const qgemm_ukernel *qgemm_ukernel_no_dot(void)
{
    for (int i = 0; i < N_KERNELS; i++)
        if (runs_here(all_kernels[i]) && !uses_dot(all_kernels[i])) return all_kernels[i];
    return &qgemm_u8s8_4x8_generic;
}

/* ---- packing ---- */

static int64_t panel_bytes(const qgemm_ukernel *uk, int64_t ks, int64_t kc)
{
    return ks * ceil_div(kc, 4) * uk->nr * 4 * (uk->b_split ? 2 : 1);
}

size_t qgemm_packed_b_bytes(const qgemm_ukernel *uk, int64_t ks, int64_t kc, int64_t n)
{
    return (size_t)(ceil_div(n, uk->nr) * panel_bytes(uk, ks, kc));
}

/* The common case of a run-time B (an activation x activation product): one
 * tap, rows of n contiguous bytes, no split planes. Four rows at a time, each
 * a plain loop over the columns (the compiler vectorizes the interleave and
 * the column sums), packed a panel of at most QGEMM_MAX_NR columns at a time. */
#define QGEMM_MAX_NR 32
static void pack_rows(int NR, int64_t kc, int64_t n, const uint8_t *src, int64_t cs,
                      bool src_unsigned, int8_t *dst, int32_t *colsum)
{
    /* uint8 b is stored as b - 128, which is b ^ 0x80 read as int8 */
    const uint8_t fx = src_unsigned ? 0x80 : 0;
    int8_t *d = dst;
    for (int64_t j0 = 0; j0 < n; j0 += NR) {
        const int64_t nr = n - j0 < NR ? n - j0 : NR;
        int32_t sum[QGEMM_MAX_NR] = {0};
        for (int64_t k0 = 0; k0 < kc; k0 += 4, d += NR * 4) {
            if (nr < NR || k0 + 4 > kc) memset(d, 0, (size_t)NR * 4);
            if (k0 + 4 <= kc) {
                const uint8_t *r0 = src + k0 * cs + j0, *r1 = r0 + cs, *r2 = r1 + cs, *r3 = r2 + cs;
                for (int64_t jj = 0; jj < nr; jj++) {
                    int8_t v0 = (int8_t)(r0[jj] ^ fx), v1 = (int8_t)(r1[jj] ^ fx), v2 = (int8_t)(r2[jj] ^ fx),
                           v3 = (int8_t)(r3[jj] ^ fx);
                    d[jj * 4] = v0, d[jj * 4 + 1] = v1, d[jj * 4 + 2] = v2, d[jj * 4 + 3] = v3;
                    sum[jj] += v0 + v1 + v2 + v3;
                }
                continue;
            }
            for (int64_t r = 0; k0 + r < kc; r++) /* the last 1-3 rows */
                for (int64_t jj = 0; jj < nr; jj++) {
                    int8_t v = (int8_t)(src[(k0 + r) * cs + j0 + jj] ^ fx);
                    d[jj * 4 + r] = v;
                    sum[jj] += v;
                }
        }
        if (colsum)
            for (int64_t jj = 0; jj < nr; jj++) colsum[j0 + jj] = sum[jj];
    }
}

void qgemm_pack_b(const qgemm_ukernel *uk, int64_t ks, int64_t kc, int64_t n, const void *src,
                  bool src_unsigned, int64_t ts, int64_t cs, int64_t js, int8_t *dst,
                  int32_t *colsum)
{
    int NR = uk->nr, planes = uk->b_split ? 2 : 1;
    if (ks == 1 && js == 1 && planes == 1 && NR <= QGEMM_MAX_NR) {
        pack_rows(NR, kc, n, src, cs, src_unsigned, dst, colsum);
        return;
    }
    const uint8_t *su = src;
    const int8_t *ss = src;
    if (colsum)
        for (int64_t j = 0; j < n; j++) colsum[j] = 0;
    int8_t *d = dst;
    for (int64_t j0 = 0; j0 < n; j0 += NR)
        for (int64_t t = 0; t < ks; t++)
            for (int64_t k0 = 0; k0 < kc; k0 += 4)
                for (int pl = 0; pl < planes; pl++)
                    for (int jj = 0; jj < NR; jj++)
                        for (int r = 0; r < 4; r++, d++) {
                            int64_t j = j0 + jj, c = k0 + r;
                            int v = 0;
                            if (j < n && c < kc) {
                                int64_t e = t * ts + c * cs + j * js;
                                v = src_unsigned ? (int)su[e] - 128 : ss[e];
                                if (colsum && pl == 0) colsum[j] += v;
                            }
                            if (planes == 2) { /* v = 64 * hi + lo, lo in [0, 63] */
                                int lo = ((v % 64) + 64) % 64;
                                v = pl == 0 ? lo : (v - lo) / 64;
                            }
                            *d = (int8_t)v;
                        }
}

int32_t qgemm_a_zero_point(const qgemm_ukernel *uk, bool a_is_signed, int32_t za, bool *flip)
{
    *flip = a_is_signed != uk->a_signed;
    if (!*flip) return za;
    return a_is_signed ? za + 128 : za - 128;
}

void qgemm_flip_bytes(uint8_t *dst, const uint8_t *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) dst[i] = src[i] ^ 0x80;
}

/* Sum of n bytes read as uint8 (xor'd with fx first), eight at a time in
 * 16-bit lanes of a 64-bit word, flushed before the lanes can overflow. */
static uint64_t byte_sum(const uint8_t *p, int64_t n, uint8_t fx)
{
    const uint64_t lo = 0x00FF00FF00FF00FFull, fxw = 0x0101010101010101ull * fx;
    uint64_t total = 0;
    int64_t i = 0;
    while (n - i >= 8) {
        uint64_t acc = 0;
        for (int64_t blk = 0; blk < 128 && n - i >= 8; blk++, i += 8) { /* 2 * 128 * 255 < 65536 */
            uint64_t w;
            memcpy(&w, p + i, 8);
            w ^= fxw;
            acc += (w & lo) + ((w >> 8) & lo);
        }
        for (int s = 0; s < 64; s += 16) total += (acc >> s) & 0xFFFF;
    }
    for (; i < n; i++) total += (uint8_t)(p[i] ^ fx);
    return total;
}

void qgemm_row_sums(const qgemm_ukernel *uk, const uint8_t *a, int64_t rows, int64_t k, int64_t lda,
                    int32_t *out)
{
    /* an int8 byte b is (b ^ 0x80) - 128 read as uint8 */
    for (int64_t r = 0; r < rows; r++)
        out[r] = uk->a_signed ? (int32_t)((int64_t)byte_sum(a + r * lda, k, 0x80) - 128 * k)
                              : (int32_t)byte_sum(a + r * lda, k, 0);
}

size_t qdw_packed_w_count(const qgemm_ukernel *uk, int64_t taps, int64_t channels)
{
    int64_t tp = uk->dw_pairs ? taps + (taps & 1) : taps;
    return (size_t)(ceil_div(channels, uk->dw_cb) * uk->dw_cb * tp);
}

/* Channel of position r (< cb) in a block when taps go in pairs: vpunpck{l,h}wd
 * interleave two taps within each 128-bit lane, so the low half of the pairs
 * covers channels 0-3 of every 8 and the high half channels 4-7. */
static int64_t pair_channel(int cb, int64_t r)
{
    int half = cb / 2;
    int64_t rr = r % half;
    return (rr / 4) * 8 + (r >= half ? 4 : 0) + rr % 4;
}

void qdw_pack_w(const qgemm_ukernel *uk, int64_t taps, int64_t channels, const void *src,
                bool src_unsigned, int64_t ts, int64_t cs, const int32_t *zp, int16_t *dst,
                int32_t *wsum)
{
    int cb = uk->dw_cb;
    int64_t tp = uk->dw_pairs ? taps + (taps & 1) : taps;
    const uint8_t *su = src;
    const int8_t *ss = src;
    for (int64_t c = 0; c < channels; c++) wsum[c] = 0;
    int16_t *d = dst;
    for (int64_t c0 = 0; c0 < channels; c0 += cb) {
        for (int64_t t = 0; t < tp; t += uk->dw_pairs ? 2 : 1) {
            for (int64_t q = 0; q < (uk->dw_pairs ? 2 * cb : cb); q++, d++) {
                int64_t tt = uk->dw_pairs ? t + q % 2 : t;
                int64_t c = c0 + (uk->dw_pairs ? pair_channel(cb, q / 2) : q);
                int v = 0;
                if (c < channels && tt < taps) {
                    int64_t e = tt * ts + c * cs;
                    v = (src_unsigned ? (int)su[e] : ss[e]) - (zp ? zp[c] : 0);
                    wsum[c] += v;
                }
                *d = (int16_t)v;
            }
        }
    }
}

/* ---- the driver ---- */

typedef struct qjob {
    const qgemm_ukernel *uk;
    int64_t m, n, j_base;
    const qgemm_a *a;
    const int8_t *b;
    int64_t panel;          /* bytes per packed panel */
    int64_t per_block;      /* panels per block */
    const qgemm_out *o;
    int threads;
    bool split_m;
} qjob;

/* Asks for the epilogue's residual and float output lines of rows i0..i0+mr,
 * columns j0..j0+nr, so their cache misses overlap the multiply-adds (a
 * ResNet block streams a float residual in and out of every conv). Done for
 * a whole row tile before its panels run: one panel's product is too short
 * to hide a miss. */
static void prefetch_out(const qgemm_out *o, int64_t i0, int64_t mr, int64_t j0, int64_t nr)
{
    for (int64_t i = i0; i < i0 + mr; i++)
        for (int64_t j = j0; j < j0 + nr; j += 16) {
            if (o->z) __builtin_prefetch(o->z + i * o->z_rs + j, 0, 3);
            if (o->yf) __builtin_prefetch(o->yf + i * o->yf_rs + j, 1, 3);
        }
}

static void q_block(const qjob *jb, int64_t mt0, int64_t mt1, int64_t p0, int64_t p1)
{
    const qgemm_ukernel *uk = jb->uk;
    const qgemm_a *a = jb->a;
    int MR = uk->mr, NR = uk->nr;
    int32_t acc[QGEMM_MAX_MR * QGEMM_MAX_NR] __attribute__((aligned(64)));
    const uint8_t *rowp[QGEMM_MAX_MR];
    for (int64_t pb = p0; pb < p1; pb += jb->per_block) {
        int64_t pe = pb + jb->per_block < p1 ? pb + jb->per_block : p1;
        for (int64_t mt = mt0; mt < mt1; mt++) {
            int64_t i0 = mt * MR, mr = jb->m - i0 < MR ? jb->m - i0 : MR;
            if (jb->o->z || jb->o->yf) {
                int64_t j1 = pe * NR < jb->n ? pe * NR : jb->n;
                prefetch_out(jb->o, i0, mr, jb->j_base + pb * NR, j1 - pb * NR);
            }
            const uint8_t *const *ap;
            if (a->ind) {
                ap = a->ind + mt * a->ks * MR;
            } else {
                for (int i = 0; i < MR; i++) rowp[i] = a->rows + (i0 + (i < mr ? i : mr - 1)) * a->rs;
                ap = rowp;
            }
            for (int64_t p = pb; p < pe; p++) {
                int64_t j0 = p * NR, nr = jb->n - j0 < NR ? jb->n - j0 : NR;
                uk->tile(a->ks, a->kc, ap, a->ind ? a->off : 0, a->zero, jb->b + p * jb->panel, acc);
                uk->tile_out(jb->o, acc, NR, i0, mr, jb->j_base + j0, nr);
            }
        }
    }
}

static void q_thread(void *arg, int64_t begin, int64_t end)
{
    const qjob *jb = arg;
    int64_t mt = ceil_div(jb->m, jb->uk->mr), np = ceil_div(jb->n, jb->uk->nr);
    for (int64_t t = begin; t < end; t++) {
        int64_t total = jb->split_m ? mt : np;
        int64_t base = total / jb->threads, rem = total % jb->threads;
        int64_t b0 = t * base + (t < rem ? t : rem), b1 = b0 + base + (t < rem ? 1 : 0);
        if (b0 >= b1) continue;
        if (jb->split_m) q_block(jb, b0, b1, 0, np);
        else q_block(jb, 0, mt, b0, b1);
    }
}

void qgemm_run(const onyx_kctx *k, const qgemm_ukernel *uk, int64_t m, int64_t n, const qgemm_a *a,
               const int8_t *packed_b, int64_t j_base, const qgemm_out *o)
{
    if (m <= 0 || n <= 0) return;
    qjob jb = {0};
    jb.uk = uk;
    jb.m = m;
    jb.n = n;
    jb.j_base = j_base;
    jb.a = a;
    jb.b = packed_b;
    jb.o = o;
    jb.panel = panel_bytes(uk, a->ks, a->kc);
    jb.per_block = jb.panel > 0 && QGEMM_BLOCK_BYTES / jb.panel > 1 ? QGEMM_BLOCK_BYTES / jb.panel : 1;
    int threads = k ? k_num_threads(k) : 1;
    int64_t macs = m * n * a->ks * a->kc, useful = macs / QGEMM_MACS_PER_THREAD + 1;
    if (useful < threads) threads = (int)useful;
    int64_t mt = ceil_div(m, uk->mr), np = ceil_div(n, uk->nr);
    jb.split_m = mt >= np || mt >= 4 * (int64_t)threads;
    int64_t units = jb.split_m ? mt : np;
    jb.threads = units < threads ? (int)units : threads;
    if (k && jb.threads > 1) k_parallel_for(k, jb.threads, q_thread, &jb);
    else {
        jb.threads = 1;
        q_thread(&jb, 0, 1);
    }
}
