/* nhwc.h - what the NHWC operators (ops/conv_nhwc.c, ops/pool_nhwc.c)
 * share: moving float32 images between NCHW and NHWC, and running a
 * standard operator's reference kernel on NHWC tensors (the oracle of every
 * NHWC fast path, and its fallback for what the fast path does not cover). */
#ifndef ONYX_NHWC_H
#define ONYX_NHWC_H

#include "kernel.h"

/* dst[N,H,W,C] = src[N,C,H,W] (float32), and back; threads when k is given. */
void nhwc_from_nchw(const onyx_kctx *k, const float *src, float *dst, int64_t n, int64_t c, int64_t h,
                    int64_t w);
void nhwc_to_nchw(const onyx_kctx *k, const float *src, float *dst, int64_t n, int64_t c, int64_t h,
                  int64_t w);

/* Runs `run` (a standard NCHW operator) with the inputs whose bit is set in
 * nhwc_inputs moved to NCHW, and writes its output 0 back to output 0 of k
 * in NHWC. Those inputs must be rank-4 float32 tensors. */
onyx_status nhwc_run_reference(onyx_kctx *k, unsigned nhwc_inputs, onyx_kernel_fn run);

/* Fails unless input i is a rank-4 float32 tensor (N, H, W, C). */
onyx_status nhwc_require_image(onyx_kctx *k, int i);

#endif
