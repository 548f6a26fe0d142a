/* convt_nhwc.c - ai.onyx.NhwcConvTranspose: a 2-D float32 ConvTranspose on
 * NHWC tensors, X [N, H, W, C], W [C, M/group, kH, kW] (ONNX's layout), B [M],
 * ConvTranspose's attributes plus activation/activation_params; Y in NHWC.
 *
 * Written as a gather, output pixel (oy, ox) receives x[iy, ix] * w[ky, kx]
 * for the taps with oy + pad = iy*s + ky*d. Which taps can reach an output
 * depends only on its phase (oy + pad) mod s: the s_h x s_w phases are s*s
 * ordinary convolutions, each with its own subset of the taps. Each phase's
 * weights are packed at session creation into igemm strips, and the output
 * pixels of one phase along an output row (s_w apart: row stride s_w * M)
 * are the rows of the indirect GEMM, their tap pointers built per tile. Output
 * rows are shared out to the threads; every element is computed by one call. */
#include "conv_fast.h"
#include "igemm.h"
#include "nhwc.h"

#include <stdlib.h>

#define MAX_PHASES 64  /* s_h * s_w; larger strides take the reference path */
#define MAX_TAPS 64

typedef struct nhwc_convt {
    const igemm_ukernel *uk;
    int64_t c, mg, group, cg, kh, kw, sh, sw, dh, dw;
    int64_t n_full, last_w, n_strips;
    /* per phase ry * sw + rx: its taps (ky * kw + kx) and packed weights */
    int n_taps[MAX_PHASES];
    int16_t taps[MAX_PHASES][MAX_TAPS];
    size_t phase_off[MAX_PHASES + 1];   /* per group: floats before each phase */
    float *wpack;                       /* [group][phase][strip][tap][cg][width] */
    float *zero;
} nhwc_convt;

static void convt_release(void *state)
{
    nhwc_convt *s = state;
    if (!s) return;
    k_free_packed(s->wpack);
    free(s->zero);
    free(s);
}

static int64_t strip_width(const nhwc_convt *s, int64_t strip) { return strip < s->n_full ? s->uk->nr : s->last_w; }

static onyx_status convt_prepare(onyx_kctx *k, void **state)
{
    *state = NULL;
    /* W's bytes where they lie (maybe unaligned: read with k_load_f32) */
    const onyx_tensor *w = k_input_unaligned(k, 1);
    if (!w || w->kind != ONYX_KIND_TENSOR || w->dtype != ONYX_FLOAT || w->rank != 4) return ONYX_OK;
    int64_t grp = k_attr_int(k, "group", 1), st[2] = {1, 1}, dl[2] = {1, 1};
    const int64_t *v;
    if (k_attr_ints(k, "strides", &v) == 2) st[0] = v[0], st[1] = v[1];
    if (k_attr_ints(k, "dilations", &v) == 2) dl[0] = v[0], dl[1] = v[1];
    if (grp < 1 || w->dims[0] % grp || w->dims[1] <= 0 || st[0] < 1 || st[1] < 1 || dl[0] < 1 || dl[1] < 1 ||
        st[0] * st[1] > MAX_PHASES || w->dims[2] * w->dims[3] > MAX_TAPS || w->dims[2] < 1 || w->dims[3] < 1)
        return ONYX_OK; /* run() reports what is wrong, or takes the reference path */
    nhwc_convt *s = calloc(1, sizeof *s);
    if (!s) return k_fail(k, ONYX_E_NOMEM, "out of memory packing W");
    s->uk = igemm_ukernel_best();
    s->c = w->dims[0], s->group = grp, s->cg = s->c / grp, s->mg = w->dims[1];
    s->kh = w->dims[2], s->kw = w->dims[3], s->sh = st[0], s->sw = st[1], s->dh = dl[0], s->dw = dl[1];
    const igemm_ukernel *uk = s->uk;
    s->n_full = s->mg / uk->nr;
    int64_t rem = s->mg % uk->nr;
    s->last_w = rem == 0 ? 0 : uk->nr_narrow && rem <= uk->nr_narrow ? uk->nr_narrow : uk->nr;
    s->n_strips = s->n_full + (rem > 0);
    int64_t cols = s->n_full * uk->nr + s->last_w;
    for (int64_t ry = 0; ry < s->sh; ry++)
        for (int64_t rx = 0; rx < s->sw; rx++) {
            int ph = (int)(ry * s->sw + rx), n = 0;
            for (int64_t ky = 0; ky < s->kh; ky++)
                for (int64_t kx = 0; kx < s->kw; kx++)
                    if ((ky * s->dh) % s->sh == ry && (kx * s->dw) % s->sw == rx) s->taps[ph][n++] = (int16_t)(ky * s->kw + kx);
            s->n_taps[ph] = n;
            s->phase_off[ph + 1] = s->phase_off[ph] + (size_t)(n * s->cg * cols);
        }
    size_t per_group = s->phase_off[s->sh * s->sw];
    s->wpack = k_alloc_packed(k, per_group * (size_t)grp * sizeof(float) + 64);
    s->zero = calloc((size_t)s->cg + 16, sizeof(float));
    if (!s->wpack || !s->zero) {
        convt_release(s);
        return k_fail(k, ONYX_E_NOMEM, "out of memory packing W");
    }
    const void *wf = w->data; /* [C][mg][kh][kw] */
    int64_t ktaps = s->kh * s->kw;
    for (int64_t g = 0; g < grp; g++)
        for (int ph = 0; ph < s->sh * s->sw; ph++) {
            float *dst = s->wpack + (size_t)g * per_group + s->phase_off[ph];
            for (int64_t stp = 0; stp < s->n_strips; stp++) {
                int64_t width = strip_width(s, stp), col0 = stp * uk->nr;
                for (int t = 0; t < s->n_taps[ph]; t++)
                    for (int64_t p = 0; p < s->cg; p++, dst += width)
                        for (int64_t j = 0; j < width; j++)
                            dst[j] = col0 + j < s->mg
                                         ? k_load_f32(wf, ((g * s->cg + p) * s->mg + col0 + j) * ktaps + s->taps[ph][t])
                                         : 0.0f;
            }
        }
    /* run() reads only the packed weights unless B is not a float vector,
     * which only a B seen here rules out: then the session may give W back */
    const onyx_tensor *b = k->n_inputs > 2 ? k_input_unaligned(k, 2) : NULL;
    if (k->n_inputs < 3 || (b && b->dtype == ONYX_FLOAT && b->rank == 1)) k_input_consumed(k, 1);
    *state = s;
    return ONYX_OK;
}

typedef struct convt_job {
    const nhwc_convt *s;
    const float *x, *b;
    float *y;
    int64_t n, ih, iw, oh, ow, m, pbh, pbw;
    conv_epi ep;
} convt_job;

/* Output rows [begin, end) of all images. */
static void convt_rows(void *arg, int64_t begin, int64_t end)
{
    const convt_job *j = arg;
    const nhwc_convt *s = j->s;
    const igemm_ukernel *uk = s->uk;
    const float *a[IGEMM_MAX_MR * MAX_TAPS];
    size_t per_group = s->phase_off[s->sh * s->sw];
    for (int64_t r = begin; r < end; r++) {
        int64_t img = r / j->oh, oy = r % j->oh, ry = (oy + j->pbh) % s->sh;
        for (int64_t rx = 0; rx < s->sw; rx++) {
            int ph = (int)(ry * s->sw + rx), nt = s->n_taps[ph];
            /* the first output column of this phase, then every sw-th */
            int64_t ox0 = ((rx - j->pbw) % s->sw + s->sw) % s->sw;
            if (ox0 >= j->ow) continue;
            int64_t count = (j->ow - ox0 + s->sw - 1) / s->sw;
            for (int64_t i0 = 0; i0 < count; i0 += uk->mr) {
                int64_t mr = count - i0 < uk->mr ? count - i0 : uk->mr;
                for (int64_t g = 0; g < s->group; g++) {
                    for (int t = 0; t < nt; t++) {
                        int64_t ky = s->taps[ph][t] / s->kw, kx = s->taps[ph][t] % s->kw;
                        int64_t ty = oy + j->pbh - ky * s->dh, iy = ty / s->sh; /* exact: the phase */
                        bool row_in = ty >= 0 && iy < j->ih;
                        for (int64_t i = 0; i < mr; i++) {
                            int64_t ox = ox0 + (i0 + i) * s->sw, tx = ox + j->pbw - kx * s->dw, ix = tx / s->sw;
                            a[t * IGEMM_MAX_MR + i] = row_in && tx >= 0 && ix < j->iw
                                                          ? j->x + ((img * j->ih + iy) * j->iw + ix) * s->c + g * s->cg
                                                          : s->zero;
                        }
                    }
                    float *yt = j->y + ((img * j->oh + oy) * j->ow + ox0 + i0 * s->sw) * j->m + g * s->mg;
                    const float *wp = s->wpack + (size_t)g * per_group + s->phase_off[ph];
                    for (int64_t stp = 0; stp < s->n_strips; stp++) {
                        int64_t width = strip_width(s, stp), col0 = stp * uk->nr;
                        int64_t nc = s->mg - col0 < width ? s->mg - col0 : width;
                        conv_epi ep = j->ep;
                        if (j->b) ep.bias = j->b + g * s->mg + col0;
                        igemm_tile_fn const *fns = width == uk->nr ? uk->tile : uk->tile_narrow;
                        fns[mr](s->cg, nt, a, wp, yt + col0, s->sw * j->m, nc, &ep);
                        wp += (size_t)(nt * s->cg * width);
                    }
                }
            }
        }
    }
}

static onyx_status convt_reference_nchw(onyx_kctx *k)
{
    return onyx_find_op("", "ConvTranspose")->run(k);
}

static onyx_status op_nhwc_conv_transpose(onyx_kctx *k)
{
    onyx_status st;
    if ((st = nhwc_require_image(k, 0))) return st;
    const onyx_tensor *x = k_input(k, 0), *w = k_input(k, 1), *b = k_input(k, 2);
    nhwc_convt *s = k->state;
    conv_epi ep = {NULL, NULL, 0, GEMM_ACT_NONE, 0, 0};
    if ((st = gemm_act_from_attrs(k, &ep.act, &ep.p0, &ep.p1))) return st;
    bool fast = s && w && w->kind == ONYX_KIND_TENSOR && w->dtype == ONYX_FLOAT && w->rank == 4 &&
                w->dims[0] == s->c && w->dims[1] == s->mg && w->dims[2] == s->kh && w->dims[3] == s->kw &&
                k_attr_int(k, "group", 1) == s->group && (!b || (b->dtype == ONYX_FLOAT && b->rank == 1));
    if (!fast) {
        if (ep.act != GEMM_ACT_NONE)
            return k_fail(k, ONYX_E_UNSUPPORTED, "an activation needs float32 constant weights");
        return nhwc_run_reference(k, 1u, convt_reference_nchw);
    }
    if (x->dims[3] != s->c)
        return k_fail(k, ONYX_E_SHAPE, "X has %lld channels but W has %lld", (long long)x->dims[3], (long long)s->c);
    int64_t m = s->mg * s->group;
    if (b && b->dims[0] != m)
        return k_fail(k, ONYX_E_SHAPE, "input 2 (B) has %lld values but the output has %lld channels",
                      (long long)b->dims[0], (long long)m);
    conv_geom g;
    int64_t kd[2] = {s->kh, s->kw};
    if ((st = convt_window_setup(k, 2, x->dims + 1, kd, &g))) return st;
    if (g.s[0] != s->sh || g.s[1] != s->sw || g.d[0] != s->dh || g.d[1] != s->dw)
        return k_fail(k, ONYX_E_INVALID, "strides or dilations differ from the ones the weights were packed for");
    int64_t dims[4] = {x->dims[0], g.in[0], g.in[1], m};
    onyx_tensor *y = k_output_uninit(k, 0, ONYX_FLOAT, 4, dims);
    if (!y) return k->err->code;
    if (dims[0] * dims[1] * dims[2] * m == 0) return ONYX_OK;
    convt_job j = {s, x->data, b ? b->data : NULL, y->data, x->dims[0], x->dims[1], x->dims[2], g.in[0], g.in[1], m,
                   g.pb[0], g.pb[1], ep};
    k_parallel_for(k, dims[0] * dims[1], convt_rows, &j);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_convt_nhwc[] = {
    {"ai.onyx", "NhwcConvTranspose", op_nhwc_conv_transpose, convt_prepare, convt_release},
    {NULL, NULL, NULL, NULL, NULL},
};
