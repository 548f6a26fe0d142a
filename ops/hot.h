/* hot.h - the vectorized float32 kernels behind the hot operators (softmax,
 * layer/instance norm, activations, elementwise arithmetic, attention).
 *
 * One table per ISA (ops/hot_avx2.c, ops/hot_avx512.c, ops/hot_neon.c, all
 * compiled from ops/hot_impl.h); an operator takes hot_kernels_native() once
 * per run and calls through it, so CPU features are never tested in a loop.
 * A NULL table (generic ISA: ONYX_ISA=generic, an x86 CPU without AVX2, or
 * 32-bit ARM) means "use the reference kernel", which stays the oracle the
 * unit tests compare against.
 * Tests call hot_kernels_for() with every ISA the machine has. */
#ifndef ONYX_HOT_H
#define ONYX_HOT_H

#include "kernel.h"

#include <stdbool.h>
#include <stdint.h>

/* y = f(x) elementwise, for the functions below (x == y is allowed) */
typedef enum hot_map {
    HOT_RELU,
    HOT_LEAKY_RELU,   /* alpha */
    HOT_CLIP,         /* [alpha, beta] = [min, max] */
    HOT_SIGMOID,
    HOT_HARD_SIGMOID, /* clamp(alpha x + beta, 0, 1) */
    HOT_HARD_SWISH,
    HOT_SILU,
    HOT_TANH,
    HOT_GELU,         /* erf form */
    HOT_GELU_TANH,
    HOT_EXP,
    HOT_ERF,
    HOT_SQRT,
    HOT_ABS,
    HOT_NEG,
    HOT_MAP_COUNT
} hot_map;

typedef struct hot_params {
    float alpha, beta;
} hot_params;

/* HOT_FMAX is C's fmax: a NaN operand is ignored unless both are NaN (what
 * MaxPool wants; the ONNX Max operator propagates NaN instead). */
typedef enum hot_binop { HOT_ADD, HOT_SUB, HOT_MUL, HOT_DIV, HOT_FMAX, HOT_BINOP_COUNT } hot_binop;

typedef void (*hot_map_fn)(const float *x, float *y, int64_t n, const hot_params *p);
/* y[i] = a[i*sa] op b[i*sb], strides 0 (broadcast scalar) or 1 */
typedef void (*hot_binary_fn)(const float *a, int64_t sa, const float *b, int64_t sb, float *y,
                              int64_t n);

typedef struct hot_kernels {
    onyx_isa isa;
    hot_map_fn map[HOT_MAP_COUNT];
    hot_binary_fn binary[HOT_BINOP_COUNT];
    /* one row of n > 0 elements: softmax, or log-softmax when logarithm */
    void (*softmax)(const float *x, float *y, int64_t n, bool logarithm);
    /* sum and sum of squared deviations from mean of x[0..n) (two passes,
     * accumulated in float vectors of VF_N lanes then in double) */
    void (*mean_var)(const float *x, int64_t n, double *mean, double *var);
    /* y = (x - mean) * scale + bias over one row; scale/bias are per element
     * (arrays of n, either may be NULL) */
    void (*scale_shift_row)(const float *x, float *y, int64_t n, float mean, float inv_std,
                            const float *scale, const float *bias);
    /* sum of x[0..n), accumulated in blocks moved to double */
    double (*sum)(const float *x, int64_t n);
    /* acc[j] += sum over r < rows of x[r * ld + j], for j < n: column sums,
     * float over blocks of rows, then added to the double accumulators */
    void (*sum_rows)(const float *x, int64_t rows, int64_t n, int64_t ld, double *acc);
    /* y = x * a + b with scalar a, b (normalization per channel) */
    void (*affine)(const float *x, float *y, int64_t n, float a, float b);
    /* One output row of a 2-D linear resize, c values per pixel (NHWC's
     * channels; 1 for NCHW): for x < ow, i < c,
     *   y[x c + i] = wy0 (wx[2x] r0[ix[2x] + i] + wx[2x+1] r0[ix[2x+1] + i])
     *              + wy1 (the same on r1).
     * ix are element offsets into the input rows. A zero weight must come
     * second (wy1, wx[2x+1]); its tap is not read, so an infinity there does
     * not turn into NaN (r1 may be NULL when wy1 == 0). */
    void (*resize_row)(const float *r0, const float *r1, float wy0, float wy1, const int64_t *ix,
                       const float *wx, int64_t ow, int64_t c, float *y);
    /* Flash attention for rows [q0, q1) of one (batch, head): y [nq, dv] =
     * softmax(scale q k^T) v for q [nq, d], keys kt packed by
     * hot_attention_pack_k, v [nk, dv]; the rows of q, v and y are ldq, ldv
     * and ldy floats apart (d, dv, dv when dense; more when the heads are
     * interleaved, as in a packed [N, 3, H, d] projection). scratch holds
     * hot_attention_scratch(dv) floats. Never holds more than a tile of
     * 8 x HOT_KEY_TILE scores. */
    void (*attention)(const float *q, int64_t ldq, const float *kt, const float *v, int64_t ldv, float *y,
                      int64_t ldy, int64_t q0, int64_t q1, int64_t d, int64_t dv, int64_t nk, float scale,
                      float *scratch);
} hot_kernels;

/* Keys per attention tile: the kernel takes keys packed transposed in panels
 * of [d][HOT_KEY_TILE] floats, zero past nk, so that a tile's scores are
 * register-blocked like a GEMM tile and each panel is read sequentially. */
#define HOT_KEY_TILE 64
/* floats of one head's packed keys */
int64_t hot_attention_packed_floats(int64_t d, int64_t nk);
/* packs k [nk, d] (or [d, nk] when k_transposed; rows ldk floats apart)
 * for the attention kernel */
void hot_attention_pack_k(const float *k, int64_t ldk, int64_t d, int64_t nk, bool k_transposed, float *kt);
/* floats of scratch the attention kernel needs (per thread) */
int64_t hot_attention_scratch(int64_t dv);

/* The table for isa, or NULL when the reference kernels should run. Asking
 * for an ISA above what the CPU has also gives NULL. */
const hot_kernels *hot_kernels_for(onyx_isa isa);
/* The table for this CPU (after the ONYX_ISA cap), or NULL. */
const hot_kernels *hot_kernels_native(void);

extern const hot_kernels hot_kernels_avx2, hot_kernels_avx512, hot_kernels_neon;

/* Elements below which a memory-bound kernel runs on one thread: a pass
 * over 1 MiB takes ~100 us, and waking the pool (more on a loaded machine,
 * where the join waits for a descheduled worker) costs more than splitting
 * saves below that. */
#define HOT_PARALLEL_MIN ((int64_t)1 << 18)

/* y = f(x) for n floats, split over the session's threads when large. */
void hot_map_run(const onyx_kctx *k, hot_map_fn fn, const float *x, float *y, int64_t n,
                 const hot_params *p);

#endif
