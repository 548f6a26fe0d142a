/* conv_nhwc.h - what ai.onyx.NhwcConv's paths share (ops/conv_nhwc.c: packing,
 * the direct igemm and depthwise paths, the operator; ops/conv_winograd.c:
 * Winograd F(4x4, 3x3)). Private to those files. */
#ifndef ONYX_CONV_NHWC_H
#define ONYX_CONV_NHWC_H

#include "conv_fast.h"
#include "igemm.h"

typedef struct nhwc_conv {
    const igemm_ukernel *uk;
    int64_t m, cg, group, mg, kh, kw;
    bool depthwise;
    bool winograd;      /* 3x3, stride 1: wpack holds the 36 transformed kernels (winograd.h) */
    bool nchw_input;    /* X is N x C x H x W (an RGB stem): depth runs (channel, ky, kx) */
    /* dense: per group, n_full strips of uk->nr columns then at most one
     * last strip of last_w columns (uk->nr_narrow when that suffices) */
    int64_t n_full, last_w, n_strips;
    size_t group_floats;
    float *wpack;       /* dense: [group][strip][tap][cg][width]; depthwise: [tap][cstride] */
    int64_t cstride;    /* depthwise: channels rounded up to a whole vector block */
    float *zero;        /* a row of zeros (cg floats, or the image's channels for depthwise) */
    k_scratch_buf own_scratch; /* used only outside a session (k_scratch) */
} nhwc_conv;

/* Columns of strip `strip`: uk->nr, or last_w for the last one. */
static inline int64_t strip_width(const nhwc_conv *s, int64_t strip)
{
    return strip < s->n_full ? s->uk->nr : s->last_w;
}

/* The geometry of one run: input, output and window. */
typedef struct nhwc_geom {
    int64_t n, ih, iw, c, oh, ow, m;
    int64_t kh, kw, sh, sw, dh, dw, ph, pw;
} nhwc_geom;

/* Part i of `parts` of [0, total): contiguous, as even as possible. */
static inline void chunk_of(int64_t total, int64_t parts, int64_t i, int64_t *b, int64_t *e)
{
    int64_t base = total / parts, rem = total % parts;
    *b = i * base + (i < rem ? i : rem);
    *e = *b + base + (i < rem ? 1 : 0);
}

/* Winograd F(4x4, 3x3) over all output tiles (ops/conv_winograd.c). */
onyx_status conv_winograd_run(onyx_kctx *k, nhwc_conv *s, const nhwc_geom *g, const float *x, const float *z,
                              float *y, const conv_epi *ep);

#endif
