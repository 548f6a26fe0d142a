/* layout.c - moves the convolutional part of a graph to NHWC (channels
 * innermost), where onyx's convolution kernels are fastest (ops/conv_nhwc.c):
 * a dense conv becomes an indirect GEMM over pixels x output channels, a
 * depthwise conv a loop over pixels vectorized over channels.
 *
 * 1. Every 2-D float Conv/FusedConv with constant weights becomes an
 *    ai.onyx.NhwcConv between two Transposes: X -> NHWC before it, the
 *    result -> NCHW after it (the residual Z of a FusedConv gets its own
 *    Transpose to NHWC). A 2-D integer ai.onyx.QConv (qdq_fuse.c) becomes
 *    ai.onyx.NhwcQConv the same way, both its outputs rerouted. MaxPool/AveragePool whose input is already available
 *    in NHWC become NhwcMaxPool/NhwcAveragePool the same way.
 * 2. Transposes to NCHW are pushed down through the ops that do not care
 *    about the layout, which then run on the NHWC data directly: elementwise
 *    ops (constant operands are permuted once: a [C,1,1] bias becomes
 *    [1,1,1,C]), Concat (axis 1 -> 3), Pad (pads permuted), Resize/Upsample
 *    (scales and sizes permuted, with a Gather when they are computed at run
 *    time), reductions (axes remapped), GlobalAveragePool/GlobalMaxPool
 *    (-> ReduceMean/ReduceMax over axes 1, 2).
 * 3. A Transpose to NHWC of a Transpose to NCHW cancels: its readers take the
 *    NHWC value directly.
 * Steps 1 (pools) to 3 repeat until nothing changes.
 * 4. An NhwcConv whose input is still a Transpose to NHWC of an image with at
 *    most 8 channels (the RGB stem) reads that image in NCHW itself
 *    (nchw_input=1): its kernel pads the image into a scratch copy anyway,
 *    so the Transpose would only cost a pass over the input.
 * Then the Transposes nobody reads are dropped. What is left are Transposes at the edges of the
 * region (the graph input, Flatten before the classifier, ops without an
 * NHWC form) -- a transpose of an [N, C, 1, 1] tensor after a global pool
 * moves no data that matters.
 *
 * Only with fused ops allowed (never with --standard-ops). */
#include "passes.h"

#include <stdio.h>
#include <string.h>

static const int64_t to_nhwc[4] = {0, 2, 3, 1};
static const int64_t to_nchw[4] = {0, 3, 1, 2};
/* NCHW axis a sits at NHWC axis nhwc_axis[a] */
static const int64_t nhwc_axis[4] = {0, 3, 1, 2};

#define MAX_CONSUMERS 64
#define MAX_NODE_INPUTS 16
/* NHWC convs with more taps run the reference bridge: not worth moving */
#define MAX_TAPS 64
/* Step 4: images of at most this many channels, kernels of at most
 * NCHW_MAX_DEPTH channels x taps (the NCHW kernel's offset table) */
#define NCHW_MAX_CHANNELS 8
#define NCHW_MAX_DEPTH 512

typedef struct layout_ctx {
    pass_ctx *c;
    onyx_error *err;
    bool oom;
} layout_ctx;

static bool is_perm(const onyx_node *n, const int64_t *perm)
{
    if (n->domain[0] || strcmp(n->op_type, "Transpose")) return false;
    const onyx_attr *a = ge_attr(n, "perm");
    if (!a || a->type != ATTR_INTS || a->n != 4) return false;
    for (int i = 0; i < 4; i++)
        if (a->ints[i] != perm[i]) return false;
    return true;
}

/* The NHWC value a Transpose-to-NCHW produced `name` from, or NULL. */
static const char *nhwc_source(const onyx_graph *g, const char *name)
{
    int p = ge_producer(g, name);
    return p >= 0 && is_perm(&g->nodes[p], to_nchw) ? g->nodes[p].inputs[0] : NULL;
}

/* Appends Transpose(in, perm) -> out; false when out of memory. */
static bool add_transpose(layout_ctx *lc, const char *in, const char *out, const int64_t *perm)
{
    pass_ctx *c = lc->c;
    const char *ins[1] = {in}, *outs[1] = {out};
    onyx_node *t = ge_add_node(c->m, c->g, "Transpose", "", ge_unique_name(c->m, "layout_transpose"), 1, ins, 1, outs);
    if (!t || !ge_set_attr_ints(c->m, t, "perm", 4, perm)) return !(lc->oom = true);
    return true;
}

/* A new value name derived from base. */
static const char *fresh(layout_ctx *lc, const char *base, const char *suffix)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%.200s%s", base, suffix);
    const char *r = ge_unique_name(lc->c->m, buf);
    if (!r) lc->oom = true;
    return r;
}

/* Node i's output k is produced in NHWC under a new name, and a Transpose
 * gives the old name its NCHW value back. */
static bool reroute_output_at(layout_ctx *lc, int i, int k)
{
    onyx_graph *g = lc->c->g;
    const char *old = g->nodes[i].outputs[k];
    const char *nhwc = fresh(lc, old, "_nhwc");
    if (!nhwc) return false;
    g->nodes[i].outputs[k] = nhwc;
    return add_transpose(lc, nhwc, old, to_nchw);
}

static bool reroute_output(layout_ctx *lc, int i) { return reroute_output_at(lc, i, 0); }

/* Input slot k of node i reads the NHWC form of its value: the source of a
 * Transpose to NCHW, or a new Transpose to NHWC. */
static bool nhwc_input(layout_ctx *lc, int i, int k)
{
    onyx_graph *g = lc->c->g;
    const char *v = g->nodes[i].inputs[k];
    const char *src = nhwc_source(g, v);
    if (src) {
        g->nodes[i].inputs[k] = src;
        return true;
    }
    const char *t = fresh(lc, v, "_nhwc");
    if (!t || !add_transpose(lc, v, t, to_nhwc)) return false;
    g->nodes[i].inputs[k] = t;
    return true;
}

static bool float_image(const pass_ctx *c, const char *name)
{
    const pass_shape *s = pass_shape_of(c, name);
    return s && s->rank == 4 && s->dtype == ONYX_FLOAT;
}

/* ---- step 1: convolutions and pools ---- */

static bool convertible_conv(pass_ctx *c, const onyx_node *n)
{
    bool conv = !n->domain[0] && !strcmp(n->op_type, "Conv");
    bool fused = !strcmp(n->domain, "ai.onyx") && !strcmp(n->op_type, "FusedConv");
    if ((!conv && !fused) || n->n_inputs < 2 || n->n_outputs != 1) return false;
    const onyx_tensor *w = ge_const_info(c->g, n->inputs[1]); /* the shape only: no copy of the weights */
    if (!w || w->dtype != ONYX_FLOAT || w->rank != 4 || w->dims[2] * w->dims[3] > MAX_TAPS) return false;
    if (!float_image(c, n->inputs[0])) return false;
    if (n->n_inputs > 3 && n->inputs[3][0] && !float_image(c, n->inputs[3])) return false;
    return pass_may_emit(c, "NhwcConv");
}

/* A 2-D float ConvTranspose with constant weights (at most 64 taps and 64
 * stride phases: what the NHWC kernel packs). */
static bool convertible_conv_transpose(pass_ctx *c, const onyx_node *n)
{
    if (n->domain[0] || strcmp(n->op_type, "ConvTranspose") || n->n_inputs < 2 || n->n_outputs != 1) return false;
    const onyx_tensor *w = ge_const_info(c->g, n->inputs[1]); /* the shape only: no copy of the weights */
    if (!w || w->dtype != ONYX_FLOAT || w->rank != 4 || w->dims[2] * w->dims[3] > MAX_TAPS) return false;
    const onyx_attr *st = ge_attr(n, "strides");
    if (st && (st->type != ATTR_INTS || st->n != 2 || st->ints[0] * st->ints[1] > 64)) return false;
    return float_image(c, n->inputs[0]) && pass_may_emit(c, "NhwcConvTranspose");
}

static bool convert_conv(layout_ctx *lc, int i)
{
    onyx_graph *g = lc->c->g;
    if (!strcmp(g->nodes[i].op_type, "ConvTranspose")) {
        g->nodes[i].op_type = "NhwcConvTranspose";
        g->nodes[i].domain = "ai.onyx";
        if (!nhwc_input(lc, i, 0) || !reroute_output(lc, i)) return false;
        pass_note(lc->c, "ConvTranspose->NhwcConvTranspose");
        return true;
    }
    g->nodes[i].op_type = "NhwcConv";
    g->nodes[i].domain = "ai.onyx";
    if (!nhwc_input(lc, i, 0)) return false;
    if (g->nodes[i].n_inputs > 3 && g->nodes[i].inputs[3][0] && !nhwc_input(lc, i, 3)) return false;
    if (!reroute_output(lc, i)) return false;
    pass_note(lc->c, "Conv->NhwcConv");
    return true;
}

/* ai.onyx.QConv (ops/qconv.c): 8-bit X, constant W, float Z; both outputs
 * (float Y and the requantized Yq) move. */
static bool convertible_qconv(pass_ctx *c, const onyx_node *n)
{
    if (strcmp(n->domain, "ai.onyx") || strcmp(n->op_type, "QConv") || n->n_inputs < 4) return false;
    const onyx_tensor *w = ge_const(c->g, n->inputs[3]);
    const pass_shape *x = pass_shape_of(c, n->inputs[0]);
    if (!w || w->rank != 4 || w->dims[2] * w->dims[3] > MAX_TAPS) return false;
    if (!x || x->rank != 4 || (x->dtype != ONYX_UINT8 && x->dtype != ONYX_INT8)) return false;
    if (n->n_inputs > 7 && n->inputs[7][0] && !float_image(c, n->inputs[7])) return false;
    return pass_may_emit(c, "NhwcQConv");
}

static bool convert_qconv(layout_ctx *lc, int i)
{
    onyx_graph *g = lc->c->g;
    g->nodes[i].op_type = "NhwcQConv";
    if (!nhwc_input(lc, i, 0)) return false;
    if (g->nodes[i].n_inputs > 7 && g->nodes[i].inputs[7][0] && !nhwc_input(lc, i, 7)) return false;
    for (int k = 0; k < g->nodes[i].n_outputs; k++)
        if (g->nodes[i].outputs[k][0] && !reroute_output_at(lc, i, k)) return false;
    pass_note(lc->c, "QConv->NhwcQConv");
    return true;
}

/* A 2-D MaxPool/AveragePool (one output; float, or 8-bit for MaxPool) or an
 * InstanceNormalization whose input is already NHWC: the name of its NHWC
 * form, or NULL. */
static const char *convertible_pool(pass_ctx *c, const onyx_node *n)
{
    if (!n->domain[0] && !strcmp(n->op_type, "InstanceNormalization") && n->n_inputs == 3 && n->n_outputs == 1 &&
        nhwc_source(c->g, n->inputs[0]) && pass_may_emit(c, "NhwcInstanceNormalization"))
        return "NhwcInstanceNormalization";
    if (n->domain[0] || n->n_inputs != 1 || n->n_outputs != 1) return NULL;
    bool mx = !strcmp(n->op_type, "MaxPool"), avg = !strcmp(n->op_type, "AveragePool");
    if (!mx && !avg) return NULL;
    const onyx_attr *ks = ge_attr(n, "kernel_shape");
    if (!ks || ks->n != 2 || (mx && ge_attr_int(n, "storage_order", 0) != 0)) return NULL;
    const char *src = nhwc_source(c->g, n->inputs[0]);
    if (!src) return NULL;
    /* NhwcMaxPool also pools 8-bit images (a quantized model's) */
    const pass_shape *xs = pass_shape_of(c, n->inputs[0]);
    onyx_dtype dt = xs ? xs->dtype : ONYX_UNDEFINED;
    if (dt != ONYX_FLOAT && !(mx && (dt == ONYX_UINT8 || dt == ONYX_INT8))) return NULL;
    const char *op = mx ? "NhwcMaxPool" : "NhwcAveragePool";
    return pass_may_emit(c, op) ? op : NULL;
}

/* ---- step 2: ops that do not care about the layout ---- */

static const char *const unary_ops[] = {
    "Relu", "Sigmoid", "Tanh", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "Elu", "Selu", "Erf", "Sqrt",
    "Exp", "Log", "Abs", "Neg", "Reciprocal", "Softplus", "Softsign", "Floor", "Ceil", "Round", "Sign", "Mish",
    "Celu", "ThresholdedRelu", "Identity", "Cast",
    /* per tensor (their scale and zero point are one element) */
    "QuantizeLinear", "DequantizeLinear", NULL};
static const char *const binary_ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean",
                                         "PRelu", NULL};

static bool one_of(const char *op, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(op, *list)) return true;
    return false;
}

/* The value of a constant broadcast operand in NHWC: its shape padded to
 * rank 4 (numpy rules) and permuted; NULL when that is not possible. */
static const char *permuted_const(layout_ctx *lc, const onyx_tensor *t, const char *name)
{
    if (t->rank > 4 || t->kind != ONYX_KIND_TENSOR) return NULL;
    size_t es = onyx_dtype_size(t->dtype);
    if (!es || t->dtype == ONYX_STRING) return NULL;
    int64_t d[4];
    for (int a = 0; a < 4; a++) d[a] = a < 4 - t->rank ? 1 : t->dims[a - (4 - t->rank)];
    int64_t nd[4] = {d[0], d[2], d[3], d[1]};
    onyx_tensor *r = ge_new_tensor(lc->c->m, t->dtype, 4, nd);
    if (!r) return !(lc->oom = true) ? NULL : NULL;
    const char *src = t->data;
    char *dst = r->data;
    for (int64_t n = 0; n < d[0]; n++)
        for (int64_t ch = 0; ch < d[1]; ch++)
            for (int64_t y = 0; y < d[2]; y++)
                for (int64_t x = 0; x < d[3]; x++)
                    memcpy(dst + (size_t)(((n * d[2] + y) * d[3] + x) * d[1] + ch) * es,
                           src + (size_t)(((n * d[1] + ch) * d[2] + y) * d[3] + x) * es, es);
    const char *init = ge_add_init(lc->c->m, lc->c->g, name, r);
    if (!init) lc->oom = true;
    return init;
}

/* One element, so it broadcasts the same way in any layout. */
static bool single_element(const pass_ctx *c, const char *name)
{
    const pass_shape *s = pass_shape_of(c, name);
    if (!s || s->rank < 0) return false;
    for (int a = 0; a < s->rank; a++)
        if (s->dims[a] != 1) return false;
    return true;
}

/* Can every input of node i be had in NHWC (k >= first)? Fills src[k] with
 * the NHWC name (NULL: keep as it is, a one-element operand; "" marks a
 * constant to permute). */
static bool inputs_available(const pass_ctx *c, const onyx_node *n, int first, const char **src)
{
    bool any = false;
    for (int k = first; k < n->n_inputs; k++) {
        src[k] = NULL;
        if (!n->inputs[k][0]) continue;
        const char *s = nhwc_source(c->g, n->inputs[k]);
        if (s) {
            src[k] = s;
            any = true;
        } else if (single_element(c, n->inputs[k])) {
            continue;
        } else if (ge_const(c->g, n->inputs[k]) && ge_const(c->g, n->inputs[k])->rank <= 4) {
            src[k] = "";
        } else {
            return false;
        }
    }
    return any;
}

static bool apply_inputs(layout_ctx *lc, int i, int first, const char **src)
{
    onyx_graph *g = lc->c->g;
    for (int k = first; k < g->nodes[i].n_inputs; k++) {
        if (!src[k]) continue;
        if (src[k][0]) {
            g->nodes[i].inputs[k] = src[k];
            continue;
        }
        const char *name = g->nodes[i].inputs[k];
        const char *p = permuted_const(lc, ge_const(g, name), name);
        if (!p) return false;
        g->nodes[i].inputs[k] = p;
    }
    return true;
}

/* Elementwise ops, Concat along channels: every input available in NHWC. */
static bool push_elementwise(layout_ctx *lc, int i)
{
    pass_ctx *c = lc->c;
    onyx_node *n = &c->g->nodes[i];
    if (n->domain[0] || n->n_outputs != 1 || n->n_inputs > MAX_NODE_INPUTS) return false;
    bool unary = one_of(n->op_type, unary_ops), binary = one_of(n->op_type, binary_ops);
    bool concat = !strcmp(n->op_type, "Concat");
    if (!unary && !binary && !concat) return false;
    if (concat) {
        int64_t axis = ge_attr_int(n, "axis", 0);
        if (axis != 1 && axis != -3) return false;
    }
    const char *src[MAX_NODE_INPUTS];
    /* unary ops: only input 0 is data (Clip's min/max are scalars) */
    if (unary) {
        const char *s = nhwc_source(c->g, n->inputs[0]);
        if (!s) return false;
        for (int k = 1; k < n->n_inputs; k++)
            if (n->inputs[k][0] && !single_element(c, n->inputs[k])) return false;
        n->inputs[0] = s;
    } else {
        if (!inputs_available(c, n, 0, src)) return false;
        if (concat)
            for (int k = 0; k < n->n_inputs; k++)
                if (!src[k]) return false; /* a one-element input cannot be concatenated to images */
        if (!apply_inputs(lc, i, 0, src)) return false;
        if (concat && !ge_set_attr_int(c->m, &c->g->nodes[i], "axis", 3)) return !(lc->oom = true);
    }
    pass_note(c, "pushed through elementwise/Concat");
    return reroute_output(lc, i);
}

/* An int64 vector constant of n values, permuted: out[j] = v[idx[j]]. */
static const char *permuted_ints(layout_ctx *lc, const char *name, int n, const int64_t *idx)
{
    const onyx_tensor *t = ge_const(lc->c->g, name);
    if (!t || t->dtype != ONYX_INT64 || t->rank != 1 || t->dims[0] != n) return NULL;
    int64_t dims[1] = {n};
    onyx_tensor *r = ge_new_tensor(lc->c->m, ONYX_INT64, 1, dims);
    if (!r) return (lc->oom = true) ? NULL : NULL;
    const int64_t *v = t->data;
    int64_t *o = r->data;
    for (int j = 0; j < n; j++) o[j] = v[idx[j]];
    const char *init = ge_add_init(lc->c->m, lc->c->g, name, r);
    if (!init) lc->oom = true;
    return init;
}

/* Pad: the pads [b0..b3, e0..e3] in NHWC order. */
static bool push_pad(layout_ctx *lc, int i)
{
    pass_ctx *c = lc->c;
    onyx_node *n = &c->g->nodes[i];
    if (n->domain[0] || strcmp(n->op_type, "Pad") || n->n_outputs != 1) return false;
    const char *s = nhwc_source(c->g, n->inputs[0]);
    if (!s) return false;
    if (n->n_inputs > 3 && n->inputs[3][0]) return false; /* explicit axes: left alone */
    if (n->n_inputs > 2 && n->inputs[2][0] && !single_element(c, n->inputs[2])) return false;
    static const int64_t idx[8] = {0, 2, 3, 1, 4, 6, 7, 5};
    if (n->n_inputs >= 2) {
        const char *p = permuted_ints(lc, n->inputs[1], 8, idx);
        if (!p) return false;
        c->g->nodes[i].inputs[1] = p;
    } else {
        const onyx_attr *a = ge_attr(n, "pads");
        if (!a || a->type != ATTR_INTS || a->n != 8) return false;
        int64_t v[8];
        for (int j = 0; j < 8; j++) v[j] = a->ints[idx[j]];
        if (!ge_set_attr_ints(c->m, n, "pads", 8, v)) return !(lc->oom = true);
    }
    c->g->nodes[i].inputs[0] = s;
    pass_note(c, "pushed through Pad");
    return reroute_output(lc, i);
}

/* A Gather of a 4-element runtime vector into NHWC order. */
static const char *gathered(layout_ctx *lc, const char *name)
{
    pass_ctx *c = lc->c;
    int64_t dims[1] = {4};
    onyx_tensor *t = ge_new_tensor(c->m, ONYX_INT64, 1, dims);
    if (!t) return (lc->oom = true) ? NULL : NULL;
    memcpy(t->data, to_nhwc, sizeof to_nhwc);
    const char *idx = ge_add_init(c->m, c->g, "layout_nhwc_order", t);
    const char *out = fresh(lc, name, "_nhwc");
    if (!idx || !out) return (lc->oom = true) ? NULL : NULL;
    const char *ins[2] = {name, idx}, *outs[1] = {out};
    onyx_node *gn = ge_add_node(c->m, c->g, "Gather", "", ge_unique_name(c->m, "layout_gather"), 2, ins, 1, outs);
    if (!gn || !ge_set_attr_int(c->m, gn, "axis", 0)) return (lc->oom = true) ? NULL : NULL;
    return out;
}

/* A 4-element float vector constant permuted to NHWC. */
static const char *permuted_floats(layout_ctx *lc, const char *name)
{
    const onyx_tensor *t = ge_const(lc->c->g, name);
    if (!t || t->dtype != ONYX_FLOAT || t->rank != 1 || t->dims[0] != 4) return NULL;
    int64_t dims[1] = {4};
    onyx_tensor *r = ge_new_tensor(lc->c->m, ONYX_FLOAT, 1, dims);
    if (!r) return (lc->oom = true) ? NULL : NULL;
    const float *v = t->data;
    float *o = r->data;
    for (int j = 0; j < 4; j++) o[j] = v[to_nhwc[j]];
    const char *init = ge_add_init(lc->c->m, lc->c->g, name, r);
    if (!init) lc->oom = true;
    return init;
}

/* Resize/Upsample: scales or sizes (4 values) in NHWC order. */
static bool push_resize(layout_ctx *lc, int i)
{
    pass_ctx *c = lc->c;
    onyx_node *n = &c->g->nodes[i];
    bool resize = !strcmp(n->op_type, "Resize"), upsample = !strcmp(n->op_type, "Upsample");
    if (n->domain[0] || (!resize && !upsample) || n->n_outputs != 1) return false;
    const char *s = nhwc_source(c->g, n->inputs[0]);
    if (!s) return false;
    if (resize && ge_attr(n, "axes")) return false;
    if (resize && !strcmp(ge_attr_string(n, "coordinate_transformation_mode", ""), "tf_crop_and_resize")) return false;
    /* the scale-carrying inputs: Upsample's 1, Resize's 2 (scales) and 3 (sizes); Resize-10 has scales at 1 */
    int first = (resize && n->n_inputs == 2) || upsample ? 1 : 2;
    const char *repl[4] = {NULL, NULL, NULL, NULL};
    bool any = false;
    for (int k = first; k < n->n_inputs && k < 4; k++) {
        const char *v = n->inputs[k];
        if (!v[0]) continue;
        const pass_shape *sh = pass_shape_of(c, v);
        const onyx_tensor *cv = ge_const(c->g, v);
        if ((sh && sh->rank == 1 && sh->dims[0] == 0) || (cv && cv->rank == 1 && cv->dims[0] == 0))
            continue; /* an empty scales or sizes input */
        const char *p = ge_const(c->g, v) ? (ge_const(c->g, v)->dtype == ONYX_FLOAT ? permuted_floats(lc, v)
                                                                                      : permuted_ints(lc, v, 4, to_nhwc))
                                          : gathered(lc, v);
        if (!p) return false;
        repl[k] = p;
        any = true;
    }
    if (upsample && !any) { /* Upsample-7: scales as an attribute */
        const onyx_attr *a = ge_attr(n, "scales");
        if (!a || a->type != ATTR_FLOATS || a->n != 4) return false;
        float v[4];
        for (int j = 0; j < 4; j++) v[j] = a->floats[to_nhwc[j]];
        if (!ge_set_attr_floats(c->m, n, "scales", 4, v)) return !(lc->oom = true);
        any = true;
    }
    if (!any) return false;
    n = &c->g->nodes[i]; /* gathered() may have moved the node array */
    for (int k = 1; k < 4; k++)
        if (repl[k]) n->inputs[k] = repl[k];
    n->inputs[0] = s;
    pass_note(c, "pushed through Resize");
    return reroute_output(lc, i);
}

static bool reduce_op(const char *op)
{
    return !strncmp(op, "Reduce", 6);
}

/* Reductions over an axes list: remapped axes; with keepdims=0 only when the
 * kept axes stay in the same order (the result is then the same tensor). */
static bool push_reduce(layout_ctx *lc, int i)
{
    pass_ctx *c = lc->c;
    onyx_node *n = &c->g->nodes[i];
    bool global = !strcmp(n->op_type, "GlobalAveragePool") || !strcmp(n->op_type, "GlobalMaxPool");
    if (n->domain[0] || n->n_outputs != 1 || (!global && !reduce_op(n->op_type))) return false;
    const char *s = nhwc_source(c->g, n->inputs[0]);
    if (!s) return false;
    int64_t opset = 0;
    for (int d = 0; d < c->m->n_opsets; d++)
        if (!c->m->opset_domains[d][0] || !strcmp(c->m->opset_domains[d], "ai.onnx")) opset = c->m->opset_versions[d];
    int64_t axes[4];
    int na = 0;
    bool keep = true;
    if (global) {
        n->op_type = !strcmp(n->op_type, "GlobalAveragePool") ? "ReduceMean" : "ReduceMax";
        axes[na++] = 1, axes[na++] = 2;
    } else {
        /* axes from the attribute (ReduceSum < 13, others < 18) or input 1 */
        const onyx_attr *a = ge_attr(n, "axes");
        const onyx_tensor *t = n->n_inputs > 1 && n->inputs[1][0] ? ge_const(c->g, n->inputs[1]) : NULL;
        const int64_t *v = NULL;
        if (a && a->type == ATTR_INTS) v = a->ints, na = a->n;
        else if (t && t->dtype == ONYX_INT64 && t->rank == 1) v = t->data, na = (int)t->dims[0];
        else return false; /* all axes (or computed axes): left alone */
        if (na < 1 || na > 4 || ge_attr_int(n, "noop_with_empty_axes", 0)) return false;
        for (int j = 0; j < na; j++) {
            int64_t ax = v[j] < 0 ? v[j] + 4 : v[j];
            if (ax < 0 || ax > 3) return false;
            axes[j] = nhwc_axis[ax];
        }
        keep = ge_attr_int(n, "keepdims", 1) != 0;
        if (!keep) {
            /* the kept NCHW axes, in NHWC positions, must be increasing */
            int64_t last = -1;
            for (int ax = 0; ax < 4; ax++) {
                bool reduced = false;
                for (int j = 0; j < na; j++) reduced |= axes[j] == nhwc_axis[ax];
                if (reduced) continue;
                if (nhwc_axis[ax] < last) return false;
                last = nhwc_axis[ax];
            }
        }
    }
    /* the axes go where this opset wants them */
    bool axes_input = !strcmp(n->op_type, "ReduceSum") ? opset >= 13 : opset >= 18;
    if (axes_input) {
        int64_t dims[1] = {na};
        onyx_tensor *t = ge_new_tensor(c->m, ONYX_INT64, 1, dims);
        const char *init = t ? (memcpy(t->data, axes, (size_t)na * sizeof(int64_t)), ge_add_init(c->m, c->g, "layout_axes", t))
                             : NULL;
        if (!init || !ge_set_input(c->m, &c->g->nodes[i], 1, init)) return !(lc->oom = true);
        ge_remove_attr(&c->g->nodes[i], "axes");
    } else if (!ge_set_attr_ints(c->m, &c->g->nodes[i], "axes", na, axes)) {
        return !(lc->oom = true);
    }
    n = &c->g->nodes[i];
    n->inputs[0] = s;
    if (global && !ge_set_attr_int(c->m, n, "keepdims", 1)) return !(lc->oom = true);
    pass_note(c, global ? "GlobalPool->ReduceMean/Max (NHWC)" : "pushed through Reduce");
    return keep ? reroute_output(lc, i) : true;
}

/* Shape of an NCHW view: the NHWC value's shape, gathered into NCHW order,
 * so the Transpose is not kept alive just to be measured. */
static bool push_shape(layout_ctx *lc, int i)
{
    pass_ctx *c = lc->c;
    onyx_node *n = &c->g->nodes[i];
    if (n->domain[0] || strcmp(n->op_type, "Shape") || n->n_inputs != 1 || ge_attr(n, "start") || ge_attr(n, "end"))
        return false;
    const char *s = nhwc_source(c->g, n->inputs[0]);
    if (!s) return false;
    const char *raw = fresh(lc, n->outputs[0], "_nhwc");
    int64_t dims[1] = {4};
    onyx_tensor *t = ge_new_tensor(c->m, ONYX_INT64, 1, dims);
    if (!raw || !t) return !(lc->oom = true);
    memcpy(t->data, to_nchw, sizeof to_nchw);
    const char *idx = ge_add_init(c->m, c->g, "layout_nchw_order", t);
    if (!idx) return !(lc->oom = true);
    const char *out = n->outputs[0];
    n->inputs[0] = s;
    n->outputs[0] = raw;
    const char *ins[2] = {raw, idx}, *outs[1] = {out};
    onyx_node *gn = ge_add_node(c->m, c->g, "Gather", "", ge_unique_name(c->m, "layout_gather"), 2, ins, 1, outs);
    if (!gn || !ge_set_attr_int(c->m, gn, "axis", 0)) return !(lc->oom = true);
    pass_note(c, "Shape of NHWC");
    return true;
}

/* ---- step 3: Transpose(NHWC) of Transpose(NCHW) ---- */

static bool cancel_pair(pass_ctx *c, int i)
{
    onyx_graph *g = c->g;
    const onyx_node *t = &g->nodes[i];
    if (!is_perm(t, to_nhwc)) return false;
    const char *src = nhwc_source(g, t->inputs[0]);
    if (!src || ge_is_graph_output(g, t->outputs[0])) return false;
    ge_replace_uses(g, t->outputs[0], src);
    ge_kill(&g->nodes[i]);
    pass_note(c, "Transpose pair cancelled");
    return true;
}

/* ---- step 4: the RGB stem reads NCHW ---- */

static void absorb_input_transpose(layout_ctx *lc, int i)
{
    pass_ctx *c = lc->c;
    onyx_node *n = &c->g->nodes[i];
    if (strcmp(n->domain, "ai.onyx") || strcmp(n->op_type, "NhwcConv") || ge_attr_int(n, "group", 1) != 1 ||
        ge_attr_int(n, "nchw_input", 0))
        return;
    int p = ge_producer(c->g, n->inputs[0]);
    if (p < 0 || !is_perm(&c->g->nodes[p], to_nhwc)) return;
    const char *src = c->g->nodes[p].inputs[0];
    const pass_shape *xs = pass_shape_of(c, src);
    const onyx_tensor *w = ge_const_info(c->g, n->inputs[1]);
    if (!xs || xs->rank != 4 || xs->dtype != ONYX_FLOAT || xs->dims[1] <= 0 || xs->dims[1] > NCHW_MAX_CHANNELS ||
        !w || w->rank != 4 || w->dims[1] != xs->dims[1] || w->dims[1] * w->dims[2] * w->dims[3] > NCHW_MAX_DEPTH)
        return;
    if (!ge_set_attr_int(c->m, n, "nchw_input", 1)) {
        lc->oom = true;
        return;
    }
    n->inputs[0] = src;
    pass_note(c, "Transpose absorbed (NhwcConv reads NCHW)");
}

/* One sweep over the graph; true when something changed. */
static bool sweep(layout_ctx *lc)
{
    pass_ctx *c = lc->c;
    bool changed = false;
    int n_nodes = c->g->n_nodes; /* nodes appended by this sweep wait for the next one */
    for (int i = 0; i < n_nodes && !lc->oom; i++) {
        const onyx_node *n = &c->g->nodes[i];
        if (ge_dead(n)) continue;
        if (cancel_pair(c, i)) {
            changed = true;
            continue;
        }
        const char *pool = convertible_pool(c, n);
        if (pool) {
            c->g->nodes[i].op_type = pool;
            c->g->nodes[i].domain = "ai.onyx";
            changed = nhwc_input(lc, i, 0) && reroute_output(lc, i);
            pass_note(c, strcmp(pool, "NhwcInstanceNormalization") ? "Pool->NhwcPool" : "InstanceNormalization->NHWC");
            continue;
        }
        /* only ops one of whose inputs is a Transpose to NCHW can move */
        bool fed = false;
        for (int k = 0; k < n->n_inputs && !fed; k++) fed = n->inputs[k][0] && nhwc_source(c->g, n->inputs[k]);
        if (!fed) continue;
        if (push_elementwise(lc, i) || push_pad(lc, i) || push_resize(lc, i) || push_reduce(lc, i) ||
            push_shape(lc, i))
            changed = true;
    }
    return changed;
}

onyx_status pass_layout(pass_ctx *c, onyx_error *err)
{
    if (c->standard_ops) return ONYX_OK;
    onyx_status st = pass_infer_shapes(c, err);
    if (st != ONYX_OK) return st;
    layout_ctx lc = {c, err, false};
    int n_nodes = c->g->n_nodes;
    for (int i = 0; i < n_nodes && !lc.oom; i++) {
        if (ge_dead(&c->g->nodes[i])) continue;
        if (convertible_conv(c, &c->g->nodes[i]) || convertible_conv_transpose(c, &c->g->nodes[i])) convert_conv(&lc, i);
        else if (convertible_qconv(c, &c->g->nodes[i])) convert_qconv(&lc, i);
    }
    /* each sweep moves the Transposes at least one node further; the bound
     * only guards against a rewrite that would undo another */
    for (int round = 0; round < 4 * n_nodes + 8 && !lc.oom; round++) {
        if (!sweep(&lc)) break;
        pass_remove_unused(c);
    }
    for (int i = 0; i < c->g->n_nodes && !lc.oom; i++)
        if (!ge_dead(&c->g->nodes[i])) absorb_input_transpose(&lc, i);
    if (lc.oom) return pass_fail(err, ONYX_E_NOMEM, "out of memory in the layout pass");
    pass_remove_unused(c);
    return ONYX_OK;
}
