/* winograd.h - Winograd F(4x4, 3x3) for stride-1 3x3 NHWC convolutions
 * (ops/conv_nhwc.c chooses it per layer; docs/kernels.md).
 *
 * A 4x4 block of outputs comes from a 6x6 patch of input: the patch is
 * transformed (V = B^T d B), each of the 36 transformed positions is
 * multiplied by the transformed weights (U = G g G^T) -- 36 independent GEMMs
 * of [tiles x C] by [C x K], run on the igemm microkernels -- and the 36
 * products are transformed back (Y = A^T M A). That is 36 multiplies per
 * 4x4 outputs and input channel instead of 144. The transforms use the
 * points 0, +-1, +-2, +-1/2 (Lavin & Gray), which keeps the float error small.
 */
#ifndef ONYX_WINOGRAD_H
#define ONYX_WINOGRAD_H

#include "igemm.h"

#define WINO_POS 36   /* 6 x 6 transformed positions */

/* Transforms one 6x6 input patch for every channel: rows[r] is input row r
 * of the patch (NULL in the padding), its pixel x at rows[r] + x*c; columns
 * x0 .. x0+5, those outside [0, iw) read as zero. v[p*vstride + ch] receives
 * position p (row-major in the 6x6) of channel ch. */
typedef void (*wino_input_fn)(const float *const *rows, int64_t x0, int64_t iw, int64_t c, float *v,
                              int64_t vstride);

/* Transforms the 36 products m[p*mstride + k] (k < channels) back to a 4x4
 * block of outputs and applies the epilogue: y[r*ystride + x*channels + k]
 * for r < nrows, x < ncols (the block may hang over the image's edge);
 * z, when given, is laid out like y. */
typedef void (*wino_output_fn)(const float *m, int64_t mstride, int64_t channels, float *y, int64_t ystride,
                               int nrows, int ncols, const float *z, const conv_epi *ep);

typedef struct wino_kernels {
    wino_input_fn input;
    wino_output_fn output;
} wino_kernels;

/* The transforms for this CPU (chosen once). */
const wino_kernels *wino_kernels_best(void);

/* U = G g G^T of one 3x3 kernel g (row-major): u[p] for the 36 positions. */
void wino_weight_transform(const float *g, float *u);

#if defined(__x86_64__)
extern const wino_kernels wino_f32_avx2, wino_f32_avx512;
#endif

#endif
