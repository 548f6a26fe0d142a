/* qgemm.h - the 8-bit integer matrix product the quantized operators run on.
 *
 * acc[i][j] = sum_k A[i][k] * B[k][j] in int32, A bytes (activations), B int8
 * (weights), then an epilogue that turns the row of accumulators into the
 * operator's output while it is in L1: int32 (MatMulInteger, ConvInteger),
 * float (a dequantized output), or uint8/int8 requantized with a fused
 * activation (QLinearConv, the ai.onyx quantized ops of docs/fused_ops.md).
 *
 * Zero points. Each microkernel reads A bytes either as uint8 (x86: the u8 x s8
 * dot products) or as int8 (NEON sdot). When the activation's type differs,
 * the caller flips the top bit of every byte (a ^ 0x80: u8 <-> s8 shifted by
 * 128) and shifts the zero point by 128 (qgemm_a_zero_point). Then
 *   sum_k (a - za)(b - zb) = acc - za * colsum_b[j] - zb * rowsum_a[i] + K za zb
 * colsum_b comes with the packed weights; the caller folds -za * colsum_b (and
 * the int32 bias) into the epilogue's per-column `ib`, and passes -zb * rowsum_a
 * per row (`rowc`) only when zb != 0 (weights from other tools; onyx's own are
 * symmetric). Padding of a convolution reads a row filled with za, which the
 * same correction cancels.
 *
 * Operand A is read in place, row by row: an MR-row tile of output takes MR
 * row pointers per "tap" (ks taps of kc bytes: a convolution's indirection
 * buffer, one pointer per output pixel and kernel tap, or ks = 1 and plain
 * rows for a matrix). B is packed once (weights at session creation) into
 * panels of NR columns: for each tap, ceil(kc/4) groups of [NR][4] bytes (4
 * consecutive depths of one column together: one 32-bit lane of a dot-product
 * instruction), zero-filled past kc and past n, so a tile reads A's last
 * partial group with a partial load and never reads past a row.
 *
 * Kernels (one struct per ISA path; every path is tested against the portable
 * one, tests/unit/test_qgemm.c):
 *   qgemm_u8s8_8x32_avx512vnni   vpdpbusd zmm (AVX-512 VNNI)
 *   qgemm_u8s8_6x16_avxvnni      vpdpbusd ymm (AVX-VNNI, the VEX form)
 *   qgemm_u8s8_8x32_avx512bw     vpmaddubsw + vpmaddwd zmm (no VNNI)
 *   qgemm_u8s8_4x16_avx2         vpmaddubsw + vpmaddwd ymm
 *   qgemm_s8s8_8x12_neondot      sdot (ARMv8.2 dot product)
 *   qgemm_s8s8_4x8_neon          smull + sadalp (any aarch64)
 *   qgemm_u8s8_4x8_generic       plain C
 * vpmaddubsw adds two u8 x s8 products into a saturating int16, which
 * overflows for large weights (2 * 255 * 128 > 32767). The non-VNNI x86
 * kernels therefore split every weight exactly as b = 64 * hi + lo with lo in
 * [0, 63] and hi in [-2, 1] (two planes in the packed panel): 2 * 255 * 63 and
 * 2 * 255 * 2 both fit, so the result is exact for any int8 weight, at twice
 * the multiplies; weights are not restricted to 7 bits.
 */
#ifndef ONYX_QGEMM_H
#define ONYX_QGEMM_H

#include "gemm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What happens to a row of accumulators. Per-column arrays are indexed by the
 * absolute output column (the operator's channel), per-row ones by the row.
 * Outputs are row-major with unit column stride: element (i, j) of yf/yq/yi/z
 * at [i * rs + j]. Any of yi, yf, yq may be NULL; yi excludes the others.
 *   a = acc + ib[j] + rowc[i]                     (int32, wrapping)
 *   yi = a
 *   v  = act(float(a) * scale[j] + fb[j] + z)
 *   yf = v;  yq = saturate(round_half_even(v * inv_ys) + yzp) */
typedef struct qgemm_out {
    const int32_t *ib;      /* per column, required */
    const int32_t *rowc;    /* per row, or NULL */
    const float *scale;     /* per column (unless yi) */
    const float *fb;        /* per column float bias, or NULL */
    const float *z;         /* residual added before the activation, or NULL */
    int64_t z_rs;
    gemm_act act;
    float p0, p1;
    int32_t *yi;
    int64_t yi_rs;
    float *yf;
    int64_t yf_rs;
    void *yq;
    int64_t yq_rs;
    bool yq_signed;         /* int8, else uint8 */
    float inv_ys, yzp;      /* 1 / y_scale and the output zero point */
} qgemm_out;

/* One microkernel and its helpers for one ISA path. */
typedef struct qgemm_ukernel {
    const char *name;
    int mr, nr;
    bool a_signed;          /* reads A as int8 (else uint8) */
    bool b_split;           /* panels hold the lo and hi planes (see above) */
    /* c[MR][NR] (contiguous) = sum over taps t < ks of rows a[t*MR + i] (kc
     * bytes each, plus a_off unless the pointer is zero) times the panel b */
    void (*tile)(int64_t ks, int64_t kc, const uint8_t *const *a, int64_t a_off,
                 const uint8_t *zero, const int8_t *b, int32_t *c);
    /* the epilogue of rows i0 .. i0 + mr, columns j0 .. j0 + n: row r's
     * accumulators at acc + r * ldacc */
    void (*tile_out)(const qgemm_out *o, const int32_t *acc, int64_t ldacc, int64_t i0, int64_t mr,
                     int64_t j0, int64_t n);
    /* depthwise, npix output pixels: acc[p][c] = sum_t in[p][t][c] * w[t][c]
     * for c < channels, in[p][t] = ptrs[p * taps + t] (+ off unless zero);
     * w packed by qdw_pack_w for this kernel */
    void (*dw)(int64_t channels, int64_t taps, int64_t npix, const uint8_t *const *in, int64_t off,
               const uint8_t *zero, const int16_t *w, int32_t *acc);
    /* depthwise weight layout: blocks of dw_cb channels, taps in pairs
     * interleaved for vpmaddwd (dw_pairs) or one by one (qdw_pack_w) */
    int dw_cb;
    bool dw_pairs;
} qgemm_ukernel;

/* The best kernel for this CPU (onyx_cpu_info(): ONYX_ISA caps the ISA and
 * ONYX_NO_DOT=1 keeps to the paths without dot-product instructions). */
const qgemm_ukernel *qgemm_ukernel_best(void);
/* Every kernel this CPU can run, best first, NULL-terminated (tests). */
const qgemm_ukernel *const *qgemm_ukernels_available(void);
/* The best kernel without the dot-product instructions (tests, benches). */
const qgemm_ukernel *qgemm_ukernel_no_dot(void);

extern const qgemm_ukernel qgemm_u8s8_4x8_generic;
#if defined(__x86_64__)
extern const qgemm_ukernel qgemm_u8s8_8x32_avx512vnni;
extern const qgemm_ukernel qgemm_u8s8_8x32_avx512bw;
extern const qgemm_ukernel qgemm_u8s8_6x16_avxvnni;
extern const qgemm_ukernel qgemm_u8s8_4x16_avx2;
#endif
#if defined(__aarch64__)
extern const qgemm_ukernel qgemm_s8s8_8x12_neondot;
extern const qgemm_ukernel qgemm_s8s8_4x8_neon;
#endif

/* The scalar epilogue of one row (every path uses it for what its vector one
 * skips), and of a tile. */
void qgemm_row_out_scalar(const qgemm_out *o, const int32_t *acc, int64_t i, int64_t j0, int64_t n);
void qgemm_tile_out_scalar(const qgemm_out *o, const int32_t *acc, int64_t ldacc, int64_t i0,
                           int64_t mr, int64_t j0, int64_t n);
/* Rounds and saturates one value like QuantizeLinear (half to even). */
static inline int32_t qgemm_quantize_value(float v, float inv_ys, float yzp, bool is_signed)
{
    float q = rintf(v * inv_ys) + yzp;
    float lo = is_signed ? -128.0f : 0.0f, hi = is_signed ? 127.0f : 255.0f;
    q = q >= lo ? (q <= hi ? q : hi) : lo; /* NaN -> lo */
    return (int32_t)q;
}

/* ---- packing ---- */

/* Bytes of the packed B for n columns, ks taps of kc depths. */
size_t qgemm_packed_b_bytes(const qgemm_ukernel *uk, int64_t ks, int64_t kc, int64_t n);
/* Packs B: element (tap t, depth c, column j) is src[t*ts + c*cs + j*js],
 * int8, or uint8 stored as b - 128 when src_unsigned (the caller shifts the
 * zero point). colsum[j] (n values, may be NULL) receives the sum over taps
 * and depths of the stored values. */
void qgemm_pack_b(const qgemm_ukernel *uk, int64_t ks, int64_t kc, int64_t n, const void *src,
                  bool src_unsigned, int64_t ts, int64_t cs, int64_t js, int8_t *dst,
                  int32_t *colsum);

/* The A zero point as the kernel sees it, and whether A's bytes must be
 * flipped (^ 0x80) first. */
int32_t qgemm_a_zero_point(const qgemm_ukernel *uk, bool a_is_signed, int32_t za, bool *flip);
/* dst[i] = src[i] ^ 0x80. */
void qgemm_flip_bytes(uint8_t *dst, const uint8_t *src, int64_t n);
/* out[r] = sum of row r of A (k bytes, row stride lda) as this kernel reads
 * them (uint8, or int8 for a_signed kernels). */
void qgemm_row_sums(const qgemm_ukernel *uk, const uint8_t *a, int64_t rows, int64_t k, int64_t lda,
                    int32_t *out);

/* ---- the product ---- */

/* Operand A: plain rows (row i at rows + i*rs, ks = 1) when ind is NULL;
 * otherwise an indirection buffer: M-tile t's pointers at ind + t*ks*MR,
 * [tap][row], rows past m repeating a valid row. */
typedef struct qgemm_a {
    const uint8_t *rows;
    int64_t rs;
    const uint8_t *const *ind;
    int64_t off;            /* added to every indirect pointer except zero */
    const uint8_t *zero;    /* the padding row (kc bytes of za), or NULL */
    int64_t ks, kc;
} qgemm_a;

/* The out-of-tile work of one product: columns [j_base, j_base + n) of the
 * epilogue's outputs, rows [0, m). k may be NULL (one thread). */
void qgemm_run(const onyx_kctx *k, const qgemm_ukernel *uk, int64_t m, int64_t n, const qgemm_a *a,
               const int8_t *packed_b, int64_t j_base, const qgemm_out *o);

/* ---- depthwise ---- */

size_t qdw_packed_w_count(const qgemm_ukernel *uk, int64_t taps, int64_t channels);
/* w(t, c) = src[t*ts + c*cs] (int8, or uint8 minus zp); zp[c] (or NULL)
 * is subtracted in int16, so any weight zero point is exact. wsum[c]
 * receives sum_t (w - zp). */
void qdw_pack_w(const qgemm_ukernel *uk, int64_t taps, int64_t channels, const void *src,
                bool src_unsigned, int64_t ts, int64_t cs, const int32_t *zp, int16_t *dst,
                int32_t *wsum);

#endif
