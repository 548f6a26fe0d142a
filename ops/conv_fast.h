/* conv_fast.h - the float convolution entry points that Conv (ops/conv.c) and
 * the fused ai.onyx FusedConv (ops/fused_linear.c) share. */
#ifndef ONYX_CONV_FAST_H
#define ONYX_CONV_FAST_H

#include "gemm.h"

/* Packs a constant float32 W for the GEMM (state stays NULL when W is not a
 * float32 initializer: run() then takes the reference path). */
onyx_status conv_prepare(onyx_kctx *k, void **state);
void conv_release(void *state);
/* Y = act(Conv(X, W) + B + Z): z_input is the index of Z (or -1 for none);
 * act/p0/p1 as in gemm_epilogue. With k->state NULL, the reference kernel. */
onyx_status conv_run(onyx_kctx *k, int z_input, gemm_act act, float p0, float p1);

#endif
