/* conv_fast.h - the float convolution entry points that Conv (ops/conv.c), the
 * fused ai.onyx FusedConv (ops/fused_linear.c) and the NHWC convolutions
 * (ops/conv_nhwc.c) share. */
#ifndef ONYX_CONV_FAST_H
#define ONYX_CONV_FAST_H

#include "gemm.h"

#define MAXSP (ONYX_MAX_RANK - 2)

/* A sliding window over an image. For Conv the window samples `in` (the input)
 * at `out` (the output) positions; for ConvTranspose it scatters into `in` (the
 * output) from `out` (the input) positions. Position o, kernel offset q along an
 * axis touch image coordinate o*s + q*d - pb. */
typedef struct conv_geom {
    int nsp;
    int64_t in[MAXSP], out[MAXSP], k[MAXSP], s[MAXSP], d[MAXSP], pb[MAXSP];
    int64_t in_sz, out_sz, k_sz;
} conv_geom;

/* Conv's window attributes (strides, dilations, pads, auto_pad; kernel_shape
 * checked against kdims) for an image of in_dims[nsp] under a kernel of
 * kdims[nsp]: fills g, or fails naming the attribute or axis. */
onyx_status conv_window_setup(onyx_kctx *k, int nsp, const int64_t *in_dims, const int64_t *kdims,
                              conv_geom *g);
/* ConvTranspose's window (strides, dilations, pads, output_padding,
 * output_shape, auto_pad) for an input image of in_dims[nsp]: g->out is the
 * input size, g->in the output size, g->pb the output's begin padding. */
onyx_status convt_window_setup(onyx_kctx *k, int nsp, const int64_t *in_dims, const int64_t *kdims,
                               conv_geom *g);

/* Packs a constant float32 W for the GEMM (state stays NULL when W is not a
 * float32 initializer: run() then takes the reference path). */
onyx_status conv_prepare(onyx_kctx *k, void **state);
void conv_release(void *state);
/* Y = act(Conv(X, W) + B + Z): z_input is the index of Z (or -1 for none);
 * act/p0/p1 as in gemm_epilogue. With k->state NULL, the reference kernel. */
onyx_status conv_run(onyx_kctx *k, int z_input, gemm_act act, float p0, float p1);

#endif
