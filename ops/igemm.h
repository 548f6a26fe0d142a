/* igemm.h - the microkernels of the NHWC convolutions (ops/conv_nhwc.c).
 *
 * In NHWC the channels of one pixel are contiguous, so a convolution is a
 * GEMM whose rows are output pixels, whose columns are output channels and
 * whose depth runs over (tap, input channel): row i of the im2col matrix, for
 * tap t, is the C channels of the input pixel that tap t of output pixel i
 * reads. The microkernels never see an im2col matrix: they take, per tap, one
 * pointer per row to those C channels (or to a row of zeros where the tap
 * falls into the padding) -- an "indirect GEMM" (igemm), as in XNNPACK. The
 * driver builds the MR x taps pointers of a tile on the stack right before the
 * call, so no buffer depends on where the input lives.
 *
 * The weights are packed once, at session creation, into strips of NR output
 * channels: strip s holds, for each tap t and input channel p, the NR weights
 * w[s*NR + j][p][t] (zero past the last channel), so the microkernel reads
 * one contiguous stream. Each tile applies the epilogue (bias, residual,
 * activation) while the accumulators are still in registers.
 */
#ifndef ONYX_IGEMM_H
#define ONYX_IGEMM_H

#include "gemm.h"

/* What a tile adds before storing: bias[j] (per output channel), z[i*ldz + j]
 * (a residual laid out like the output) and the activation. */
typedef struct conv_epi {
    const float *bias;      /* at the strip's first channel; NULL: none */
    const float *z;         /* at the tile's first element; NULL: none */
    int64_t ldz;
    gemm_act act;
    float p0, p1;
} conv_epi;

/* The largest tile height of any ISA. */
#define IGEMM_MAX_MR 8

/* c[i*ldc + j] = act(sum over t < ks, p < kc of a[t*IGEMM_MAX_MR + i][p] *
 *                    w[(t*kc + p)*NR + j] + bias[j] + z[i*ldz + j])
 * for i < the function's row count and j < nc (1 <= nc <= NR). */
typedef void (*igemm_tile_fn)(int64_t kc, int64_t ks, const float *const *a, const float *w,
                              float *c, int64_t ldc, int64_t nc, const conv_epi *ep);

/* The same tile with its A operand at the same offsets from one pointer per
 * row (the corner of the row's window):
 * c[i*ldc + j] = act(sum over t < ks, p < kc of a[i][off[t] + p] * w[(t*kc + p)*NR + j]
 *                    + bias[j] + z[i*ldz + j]).
 * A tile whose windows lie inside the image needs no per-tap pointer table:
 * off[t] is where tap t lies from the corner (NHWC: kc = C; a zero-padded
 * NCHW image: one offset per channel and kernel row, kc = kW). */
typedef void (*igemm_offs_fn)(int64_t kc, int64_t ks, const int64_t *off, const float *const *a, const float *w,
                              float *c, int64_t ldc, int64_t nc, const conv_epi *ep);

/* Depthwise conv, one output pixel, every channel:
 * out[c] = act(bias[c] + sum over t < taps of in[t][c] * w[t*cstride + c] + z[c]). */
typedef void (*dwconv_fn)(int64_t channels, int taps, const float *const *in, const float *w,
                          int64_t cstride, float *out, const float *z, const conv_epi *ep);

/* Depthwise conv, one output row: out[ox*c + ch] = act(bias[ch] + z[ox*c + ch] +
 * sum over taps (ky, kx) of rows[ky][(ox*sw - pw + kx*dw)*c + ch] * w[(ky*kw + kx)*cstride + ch])
 * for ox < ow and ch < c, taps outside [0, iw) or on a NULL row (padding) left out. */
typedef struct dw_row_args {
    const float *const *rows;   /* kh input rows, NULL in the padding */
    int64_t iw, c, ow, sw, dw, pw, kh, kw;
    const float *w;
    int64_t cstride;
    float *out;
    const float *z;             /* residual row, or NULL */
    const conv_epi *ep;         /* bias at channel 0 */
} dw_row_args;
typedef void (*dwconv_row_fn)(const dw_row_args *a);

/* Pooling, one output pixel, every channel (padding taps are left out by the
 * caller). Max: the largest non-NaN value of the taps, or param when there is
 * none. Sum: the sum of the taps times param (AveragePool passes 1/count). */
typedef void (*pool_fn)(int64_t channels, int taps, const float *const *in, float *out, float param);

typedef struct igemm_ukernel {
    const char *name;
    onyx_isa isa;
    int mr;                                   /* rows of a full tile */
    int nr;                                   /* columns of a full strip */
    igemm_tile_fn tile[IGEMM_MAX_MR + 1];     /* tile[r] computes r rows (1 <= r <= mr) */
    int nr_narrow;                            /* a narrower strip for the last channels, 0: none */
    igemm_tile_fn tile_narrow[IGEMM_MAX_MR + 1];
    dwconv_fn dwconv;
    dwconv_row_fn dw_row, dw_row_3x3, dw_row_5x5; /* any kernel, and the weights-in-registers forms */
    dwconv_row_fn dw_row_by_pixel;                /* narrow rows: channels inner, weights from L1 */
    pool_fn max_pool, sum_pool;
    igemm_offs_fn offs[IGEMM_MAX_MR + 1];     /* offs[r]: r rows, a full strip */
    igemm_offs_fn offs_narrow[IGEMM_MAX_MR + 1];
} igemm_ukernel;

/* The microkernels for exactly this ISA, or NULL when not compiled in or not
 * allowed by onyx_cpu_info(); igemm_ukernel_best() never returns NULL. */
const igemm_ukernel *igemm_ukernel_for_isa(onyx_isa isa);
const igemm_ukernel *igemm_ukernel_best(void);

extern const igemm_ukernel igemm_f32_generic;
#if defined(__x86_64__)
extern const igemm_ukernel igemm_f32_avx2;
extern const igemm_ukernel igemm_f32_avx512;
#endif
#if defined(__aarch64__)
extern const igemm_ukernel igemm_f32_neon;
#endif

#endif
