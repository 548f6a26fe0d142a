/* pool.h - the pooling window that MaxPool/AveragePool (ops/pool.c) and their
 * NHWC forms (ops/pool_nhwc.c) share. */
#ifndef ONYX_POOL_H
#define ONYX_POOL_H

#include "kernel.h"

#define MAXSP (ONYX_MAX_RANK - 2)

/* Window position o, kernel offset q along an axis touch input coordinate
 * o*s + q*d - pb; coordinates in [-pb, in + pe) lie in the padded image. */
typedef struct pool_geom {
    int nsp;
    int64_t in[MAXSP], out[MAXSP], k[MAXSP], s[MAXSP], d[MAXSP], pb[MAXSP], pe[MAXSP];
    int64_t in_sz, out_sz;
    int64_t max_window; /* most input elements one window can cover */
} pool_geom;

/* Reads kernel_shape, strides, pads, dilations, auto_pad and ceil_mode for an
 * image of in_dims[nsp] and fills g, or fails naming the attribute or axis. */
onyx_status pool_window_setup(onyx_kctx *k, int nsp, const int64_t *in_dims, pool_geom *g);

#endif
