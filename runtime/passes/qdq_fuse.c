/* qdq_fuse.c - QDQ groups become integer operators (docs/quantization.md).
 *
 * A QDQ model says "this Conv computes in float on dequantized operands":
 *
 *     Xq -> DequantizeLinear --\
 *     Wq -> DequantizeLinear ---> Conv / FusedConv (+bias, +Z, +act) -> Y [-> QuantizeLinear -> Yq]
 *     Bq -> DequantizeLinear --/
 *
 * which is exactly an integer convolution of Xq and Wq with the scales applied
 * to the int32 sums: ai.onyx QConv(Xq, x_scale, x_zp, Wq, w_scale, w_zp, B, Z,
 * y_scale, y_zp) (docs/fused_ops.md), whose outputs are Y in float and, when
 * the only or an extra reader of Y is a per-tensor QuantizeLinear, Yq too (Y
 * is dropped when nothing else reads it). Gemm, FusedGemm, MatMul and
 * FusedMatMul become ai.onyx QMatMul the same way (B constant, or a second
 * quantized activation); Gemm's alpha and beta are folded into the weight
 * scale and the bias. The bias becomes float (a DequantizeLinear of an int32
 * bias is evaluated here), so the integer result differs from the float QDQ
 * graph only by float rounding; requantizing multiplies by 1 / y_scale
 * instead of dividing, which can move a value that lands within an ulp of a
 * rounding boundary by one step.
 *
 * ONNX Runtime's dynamic quantization, DynamicQuantizeLinear -> MatMulInteger
 * -> Cast -> Mul(a_scale * b_scale) [-> Add(bias)], becomes a QMatMul with a
 * float A (quantized per run the same way).
 *
 * Rewrites around it save passes over float activations:
 * QuantizeLinear(MaxPool(Y)) becomes MaxPool(QuantizeLinear(Y)) (the maximum
 * commutes with a monotone quantization, and the Q then joins the conv that
 * makes Y); QuantizeLinear(X * s) for a positive scalar s becomes
 * QuantizeLinear(X) with y_scale / s; a QMatMul followed by a per-column Mul
 * (layer scale) and a residual Add takes both into its epilogue; and a
 * DequantizeLinear of a constant that nothing fused is evaluated once (when
 * optimizing to run), so unfused ops (ConvTranspose, layers kept in float) do
 * not dequantize their weights on every run.
 *
 * Runs after the residual and activation passes, so the fused ops it
 * rewrites already carry their residual and activation; the activation pass
 * runs once more at the end for the products this pass made whose float
 * output reaches an activation (ops/qgemm.h applies it before requantizing). */
#include "passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A DequantizeLinear feeding a value. */
typedef struct dq_info {
    int node;
    const char *q, *scale, *zp;         /* zp "" when absent */
    const onyx_tensor *qc, *sc, *zc;    /* constants (qc NULL for an activation) */
    int64_t n_scale;
    int axis;
} dq_info;

static bool is_op(const onyx_node *n, const char *op) { return !n->domain[0] && !strcmp(n->op_type, op); }

static bool is_8bit(onyx_dtype t) { return t == ONYX_UINT8 || t == ONYX_INT8; }

static bool dq_of(const pass_ctx *c, const char *value, dq_info *d)
{
    const onyx_graph *g = c->g;
    memset(d, 0, sizeof *d);
    d->node = value[0] ? ge_producer(g, value) : -1;
    if (d->node < 0) return false;
    const onyx_node *n = &g->nodes[d->node];
    if (!is_op(n, "DequantizeLinear") || n->n_inputs < 2 || ge_attr_int(n, "block_size", 0)) return false;
    d->q = n->inputs[0];
    d->scale = n->inputs[1];
    d->zp = n->n_inputs > 2 ? n->inputs[2] : "";
    d->sc = ge_const(g, d->scale);
    d->zc = d->zp[0] ? ge_const(g, d->zp) : NULL;
    d->qc = ge_const(g, d->q);
    if (!d->sc || d->sc->dtype != ONYX_FLOAT || d->sc->rank > 1 || (d->zp[0] && !d->zc)) return false;
    if (ge_attr_int(n, "output_dtype", ONYX_FLOAT) != ONYX_FLOAT) return false;
    d->n_scale = tensor_numel_of(d->sc->rank, d->sc->dims);
    if (d->zc && tensor_numel_of(d->zc->rank, d->zc->dims) != d->n_scale) return false;
    d->axis = (int)ge_attr_int(n, "axis", 1);
    return true;
}

/* The 8-bit type of a DequantizeLinear's input (from its zero point, the
 * constant, or shape inference); ONYX_UNDEFINED when it is not 8-bit. */
static onyx_dtype dq_type(const pass_ctx *c, const dq_info *d)
{
    onyx_dtype t = ONYX_UNDEFINED;
    if (d->zc) t = d->zc->dtype;
    else if (d->qc) t = d->qc->dtype;
    else {
        const pass_shape *s = pass_shape_of(c, d->q);
        if (s) t = s->dtype;
    }
    return is_8bit(t) ? t : ONYX_UNDEFINED;
}

/* A per-tensor quantized activation: non-constant, 8-bit, one scale. */
static bool activation_dq(const pass_ctx *c, const char *value, dq_info *d)
{
    return dq_of(c, value, d) && !d->qc && d->n_scale == 1 && dq_type(c, d) != ONYX_UNDEFINED;
}

/* A constant 8-bit weight of rank `rank` quantized per tensor or along
 * `axis` (with `per` channels). */
static bool weight_dq(const pass_ctx *c, const char *value, int rank, int axis, int64_t per, dq_info *d)
{
    if (!dq_of(c, value, d) || !d->qc || d->qc->rank != rank || !is_8bit(d->qc->dtype)) return false;
    if (d->zc && d->zc->dtype != d->qc->dtype) return false;
    if (d->n_scale == 1) return true;
    int ax = d->axis < 0 ? d->axis + rank : d->axis;
    return ax == axis && d->n_scale == per && d->sc->rank == 1;
}

/* A float bias of n values as a new initializer: a float constant ([n], or
 * broadcast from one value / [1, n]), or a DequantizeLinear of a constant;
 * times mul. Returns its name, "" for none, NULL when it cannot be used. */
static const char *float_bias(pass_ctx *c, const char *name, int64_t n, float mul, bool *oom)
{
    if (!name[0]) return "";
    const onyx_graph *g = c->g;
    const onyx_tensor *t = ge_const(g, name);
    dq_info d;
    bool deq = !t && dq_of(c, name, &d) && d.qc;
    const onyx_tensor *v = deq ? d.qc : t;
    if (!v || v->kind != ONYX_KIND_TENSOR) return NULL;
    int64_t nv = tensor_numel_of(v->rank, v->dims);
    if (nv != n && nv != 1) return NULL;
    if (!deq && (v->dtype != ONYX_FLOAT || (v->rank == 2 && v->dims[0] != 1) || v->rank > 2)) return NULL;
    if (deq && (v->rank > 1 || (d.n_scale != 1 && d.n_scale != nv))) return NULL;
    if (!deq && mul == 1.0f && v->rank == 1 && nv == n) return name;
    onyx_tensor *b = ge_new_tensor(c->m, ONYX_FLOAT, 1, &n);
    if (!b) {
        *oom = true;
        return NULL;
    }
    float *o = b->data;
    for (int64_t j = 0; j < n; j++) {
        int64_t e = nv == 1 ? 0 : j;
        double x = k_get_f64(v, e);
        if (deq) {
            int64_t p = d.n_scale == 1 ? 0 : e;
            x = (x - (d.zc ? k_get_f64(d.zc, p) : 0)) * ((const float *)d.sc->data)[p];
        }
        o[j] = (float)(x * mul);
    }
    const char *nm = ge_add_init(c->m, c->g, name, b);
    if (!nm) *oom = true;
    return nm;
}

/* A scale times mul as a new initializer (Gemm's alpha). */
static const char *scaled(pass_ctx *c, const dq_info *d, float mul, bool *oom)
{
    if (mul == 1.0f) return d->scale;
    onyx_tensor *t = ge_new_tensor(c->m, ONYX_FLOAT, d->sc->rank, d->sc->dims);
    if (!t) {
        *oom = true;
        return NULL;
    }
    for (int64_t j = 0; j < d->n_scale; j++) ((float *)t->data)[j] = ((const float *)d->sc->data)[j] * mul;
    const char *nm = ge_add_init(c->m, c->g, d->scale, t);
    if (!nm) *oom = true;
    return nm;
}

/* The per-tensor QuantizeLinear reading y, or -1. */
static int quantize_reader(const pass_ctx *c, const char *y)
{
    int cons[8];
    int nc = ge_consumers(c->g, y, cons, 8);
    for (int k = 0; k < nc && k < 8; k++) {
        const onyx_node *q = &c->g->nodes[cons[k]];
        if (!is_op(q, "QuantizeLinear") || q->n_inputs < 2 || strcmp(q->inputs[0], y)) continue;
        if (ge_attr_int(q, "block_size", 0) || ge_attr(q, "output_dtype")) continue;
        const onyx_tensor *s = ge_const(c->g, q->inputs[1]);
        const onyx_tensor *z = q->n_inputs > 2 && q->inputs[2][0] ? ge_const(c->g, q->inputs[2]) : NULL;
        if (!s || s->dtype != ONYX_FLOAT || tensor_numel_of(s->rank, s->dims) != 1) continue;
        if (q->n_inputs > 2 && q->inputs[2][0] && (!z || !is_8bit(z->dtype) || tensor_numel_of(z->rank, z->dims) != 1))
            continue;
        return cons[k];
    }
    return -1;
}

/* Rewrites node i into op with the given 10 inputs, its activation
 * attributes (and those in keep), the float output unless nothing else
 * reads it, and the quantized output of a QuantizeLinear reading it. */
static bool rewrite(pass_ctx *c, int i, const char *op, const char *const *ins, const char *const *keep)
{
    onyx_graph *g = c->g;
    onyx_node *n = &g->nodes[i];
    const char *y = n->outputs[0];
    int qi = quantize_reader(c, y);
    const char *yq = "", *ys = "", *yz = "";
    if (qi >= 0) {
        const onyx_node *q = &g->nodes[qi];
        yq = q->outputs[0];
        ys = q->inputs[1];
        yz = q->n_inputs > 2 ? q->inputs[2] : "";
    }
    bool keep_y = qi < 0 || ge_use_count(g, y) > 1 || ge_is_graph_output(g, y);
    const char **in = pool_array(&c->m->pool, 10, sizeof *in);
    const char **out = pool_array(&c->m->pool, 2, sizeof *out);
    onyx_attr *attrs = pool_array(&c->m->pool, (size_t)(n->n_attrs ? n->n_attrs : 1), sizeof *attrs);
    if (!in || !out || !attrs) return false;
    memcpy(in, ins, 8 * sizeof *in);
    in[8] = ys;
    in[9] = yz;
    out[0] = keep_y ? y : "";
    out[1] = yq;
    int na = 0;
    for (int a = 0; a < n->n_attrs; a++) {
        const char *an = n->attrs[a].name;
        bool take = !strcmp(an, "activation") || !strcmp(an, "activation_params");
        for (int k = 0; keep && keep[k] && !take; k++) take = !strcmp(an, keep[k]);
        if (take) attrs[na++] = n->attrs[a];
    }
    if (qi >= 0) ge_kill(&g->nodes[qi]);
    n = &g->nodes[i];
    n->op_type = op;
    n->domain = "ai.onyx";
    n->n_inputs = 10;
    n->inputs = in;
    n->n_outputs = qi >= 0 ? 2 : 1;
    n->outputs = out;
    n->n_attrs = na;
    n->attrs = attrs;
    return true;
}

static const char *const conv_attrs[] = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides", NULL};
static const char *const transb_attr[] = {"transB", NULL};

/* Conv / FusedConv with quantized X and W. */
static bool fuse_conv(pass_ctx *c, int i, bool *oom)
{
    const onyx_node *n = &c->g->nodes[i];
    bool fused = !strcmp(n->domain, "ai.onyx") && !strcmp(n->op_type, "FusedConv");
    if (!(is_op(n, "Conv") || fused) || n->n_inputs < 2 || n->n_outputs != 1) return false;
    dq_info x, w;
    if (!activation_dq(c, n->inputs[0], &x)) return false;
    const onyx_tensor *wq = NULL;
    {
        dq_info t;
        if (dq_of(c, n->inputs[1], &t) && t.qc) wq = t.qc;
    }
    if (!wq || (wq->rank != 3 && wq->rank != 4) || !weight_dq(c, n->inputs[1], wq->rank, 0, wq->dims[0], &w))
        return false;
    int64_t m = wq->dims[0];
    const char *b = float_bias(c, n->n_inputs > 2 ? n->inputs[2] : "", m, 1.0f, oom);
    if (!b || !pass_may_emit(c, "QConv")) return false;
    const char *z = fused && n->n_inputs > 3 ? n->inputs[3] : "";
    const char *ins[8] = {x.q, x.scale, x.zp, w.q, w.scale, w.zp, b, z};
    if (!rewrite(c, i, "QConv", ins, conv_attrs)) return !(*oom = true);
    pass_note(c, "QDQ Conv->QConv");
    return true;
}

/* MatMul / FusedMatMul / Gemm / FusedGemm with quantized A and B. */
static bool fuse_matmul(pass_ctx *c, int i, bool *oom)
{
    const onyx_node *n = &c->g->nodes[i];
    bool onyx = !strcmp(n->domain, "ai.onyx");
    bool mm = is_op(n, "MatMul") || (onyx && !strcmp(n->op_type, "FusedMatMul"));
    bool gemm = is_op(n, "Gemm") || (onyx && !strcmp(n->op_type, "FusedGemm"));
    if ((!mm && !gemm) || n->n_inputs < 2 || n->n_outputs != 1) return false;
    if (gemm && ge_attr_int(n, "transA", 0)) return false;
    bool tb = gemm && ge_attr_int(n, "transB", 0);
    float alpha = gemm ? ge_attr_float(n, "alpha", 1.0f) : 1.0f, beta = gemm ? ge_attr_float(n, "beta", 1.0f) : 1.0f;
    dq_info a, b;
    if (!activation_dq(c, n->inputs[0], &a)) return false;
    dq_info t;
    bool const_b = dq_of(c, n->inputs[1], &t) && t.qc;
    int64_t nout;
    if (const_b) {
        if (t.qc->rank != 2) return false;
        nout = t.qc->dims[tb ? 0 : 1];
        if (!weight_dq(c, n->inputs[1], 2, tb ? 0 : 1, nout, &b)) return false;
    } else { /* a second activation: N from shape inference, needed for a bias only */
        if (gemm || !activation_dq(c, n->inputs[1], &b)) return false;
        const pass_shape *s = pass_shape_of(c, n->inputs[1]);
        nout = s && s->rank >= 2 ? s->dims[s->rank - 1] : -1;
    }
    const char *bias = n->n_inputs > 2 ? n->inputs[2] : "";
    if (gemm && bias[0] && beta == 0.0f) bias = "";
    if (bias[0] && nout < 0) return false;
    bias = float_bias(c, bias, nout, gemm ? beta : 1.0f, oom);
    if (!bias || !pass_may_emit(c, "QMatMul")) return false;
    const char *bscale = const_b ? scaled(c, &b, alpha, oom) : b.scale;
    if (!bscale) return false;
    const char *z = onyx && !gemm && n->n_inputs > 3 ? n->inputs[3] : "";
    const char *ins[8] = {a.q, a.scale, a.zp, b.q, bscale, b.zp, bias, z};
    if (!rewrite(c, i, "QMatMul", ins, tb ? transb_attr : NULL)) return !(*oom = true);
    pass_note(c, gemm ? "QDQ Gemm->QMatMul" : "QDQ MatMul->QMatMul");
    return true;
}

/* DynamicQuantizeLinear -> MatMulInteger -> Cast(float) -> Mul(a_scale * b_scale)
 * [-> Add(bias)], with B, b_scale (and the bias) constant. */
static bool fuse_dynamic(pass_ctx *c, int i, bool *oom)
{
    onyx_graph *g = c->g;
    const onyx_node *mi = &g->nodes[i];
    if (!is_op(mi, "MatMulInteger") || mi->n_inputs < 2 || mi->n_outputs != 1) return false;
    int dq = ge_producer(g, mi->inputs[0]);
    if (dq < 0 || !is_op(&g->nodes[dq], "DynamicQuantizeLinear")) return false;
    const onyx_node *dql = &g->nodes[dq];
    if (dql->n_outputs != 3 || mi->n_inputs < 3 || strcmp(mi->inputs[2], dql->outputs[2])) return false;
    const onyx_tensor *bq = ge_const(g, mi->inputs[1]);
    if (!bq || bq->rank != 2 || !is_8bit(bq->dtype)) return false;
    int64_t nout = bq->dims[1];
    int ci = ge_single_consumer(g, mi->outputs[0]);
    if (ci < 0 || !is_op(&g->nodes[ci], "Cast") || ge_attr_int(&g->nodes[ci], "to", 0) != ONYX_FLOAT) return false;
    int mu = ge_single_consumer(g, g->nodes[ci].outputs[0]);
    if (mu < 0 || !is_op(&g->nodes[mu], "Mul") || g->nodes[mu].n_inputs != 2) return false;
    const onyx_node *mul = &g->nodes[mu];
    const char *sprod = !strcmp(mul->inputs[0], g->nodes[ci].outputs[0]) ? mul->inputs[1] : mul->inputs[0];
    int sp = ge_producer(g, sprod);
    if (sp < 0 || !is_op(&g->nodes[sp], "Mul") || g->nodes[sp].n_inputs != 2 || ge_use_count(g, sprod) != 1) return false;
    const onyx_node *smul = &g->nodes[sp];
    int side = !strcmp(smul->inputs[0], dql->outputs[1]) ? 1 : !strcmp(smul->inputs[1], dql->outputs[1]) ? 0 : -1;
    if (side < 0) return false;
    const char *bscale = smul->inputs[side];
    const onyx_tensor *bs = ge_const(g, bscale);
    if (!bs || bs->dtype != ONYX_FLOAT || bs->rank > 1) return false;
    int64_t ns = tensor_numel_of(bs->rank, bs->dims);
    if (ns != 1 && ns != nout) return false;
    const char *bzp = mi->n_inputs > 3 ? mi->inputs[3] : "";
    if (bzp[0]) {
        const onyx_tensor *bz = ge_const(g, bzp);
        if (!bz || bz->dtype != bq->dtype || bz->rank > 1) return false;
        int64_t nz = tensor_numel_of(bz->rank, bz->dims);
        if (nz != 1 && nz != nout) return false;
    }
    /* the DynamicQuantizeLinear must feed this product only */
    for (int k = 0; k < 3; k++)
        if (ge_use_count(g, dql->outputs[k]) != 1 || ge_is_graph_output(g, dql->outputs[k])) return false;
    /* an Add of a constant [N] bias after the Mul */
    const char *out = mul->outputs[0], *bias = "";
    int ad = ge_single_consumer(g, out);
    int kill_add = -1;
    if (ad >= 0 && is_op(&g->nodes[ad], "Add") && g->nodes[ad].n_inputs == 2) {
        const onyx_node *add = &g->nodes[ad];
        const char *bn = !strcmp(add->inputs[0], out) ? add->inputs[1] : add->inputs[0];
        const onyx_tensor *bt = ge_const(g, bn);
        if (bt && bt->dtype == ONYX_FLOAT && tensor_numel_of(bt->rank, bt->dims) == nout && bt->dims[bt->rank - 1] == nout) {
            bias = float_bias(c, bn, nout, 1.0f, oom);
            if (!bias) return false;
            out = add->outputs[0];
            kill_add = ad;
        }
    }
    if (!pass_may_emit(c, "QMatMul")) return false;
    const char *x = dql->inputs[0];
    int kill[4] = {dq, ci, mu, sp};
    const char **in = pool_array(&c->m->pool, 8, sizeof *in);
    const char **outs = pool_array(&c->m->pool, 1, sizeof *outs);
    if (!in || !outs) return !(*oom = true);
    const char *ins[8] = {x, "", "", mi->inputs[1], bscale, bzp, bias, ""};
    memcpy(in, ins, sizeof ins);
    outs[0] = out;
    for (int k = 0; k < 4; k++) ge_kill(&g->nodes[kill[k]]);
    if (kill_add >= 0) ge_kill(&g->nodes[kill_add]);
    onyx_node *n = &g->nodes[i];
    n->op_type = "QMatMul";
    n->domain = "ai.onyx";
    n->n_inputs = 8;
    n->inputs = in;
    n->n_outputs = 1;
    n->outputs = outs;
    n->n_attrs = 0;
    pass_note(c, "DynamicQuantizeLinear+MatMulInteger->QMatMul");
    return true;
}

/* QuantizeLinear(MaxPool(Y)) -> MaxPool(QuantizeLinear(Y)), for a positive
 * scale (the quantization is then non-decreasing, so it commutes with max). */
static bool swap_maxpool(pass_ctx *c, int i, bool *oom)
{
    onyx_graph *g = c->g;
    onyx_node *q = &g->nodes[i];
    if (!is_op(q, "QuantizeLinear") || q->n_inputs < 2 || q->n_outputs != 1) return false;
    const onyx_tensor *s = ge_const(g, q->inputs[1]);
    if (!s || s->dtype != ONYX_FLOAT) return false;
    for (int64_t k = 0; k < tensor_numel_of(s->rank, s->dims); k++)
        if (!(((const float *)s->data)[k] > 0)) return false;
    int p = ge_producer(g, q->inputs[0]);
    if (p < 0) return false;
    onyx_node *mp = &g->nodes[p];
    if (!is_op(mp, "MaxPool") || mp->n_outputs != 1 || model_opset(c->m, "") < 12) return false;
    if (!pass_only_feeds(c, mp->outputs[0], i) || ge_attr_int(mp, "storage_order", 0)) return false;
    const char *mid = ge_unique_name(c->m, q->outputs[0]);
    const char **qo = pool_array(&c->m->pool, 1, sizeof *qo), **mi = pool_array(&c->m->pool, 1, sizeof *mi);
    if (!mid || !qo || !mi) return !(*oom = true);
    /* Q reads Y into a new value; MaxPool pools its bytes into Q's old output */
    const char *y = mp->inputs[0], *yq = q->outputs[0];
    qo[0] = mid;
    mi[0] = mid;
    if (!ge_set_input(c->m, q, 0, y)) return !(*oom = true);
    q->outputs = qo;
    mp = &g->nodes[p];
    if (!ge_set_input(c->m, mp, 0, mid)) return !(*oom = true);
    mp->outputs = mi;
    mi[0] = yq;
    pass_note(c, "QuantizeLinear before MaxPool");
    return true;
}

/* A constant float that scales the last axis of a value with n columns: one
 * value, or [n] / [1, .., 1, n]. Fills n factors; false otherwise. */
static bool column_factors(const pass_ctx *c, const char *name, int64_t n, float *out)
{
    const onyx_tensor *t = ge_const(c->g, name);
    if (!t || t->dtype != ONYX_FLOAT) return false;
    int64_t nt = tensor_numel_of(t->rank, t->dims);
    if (nt != 1 && (nt != n || t->dims[t->rank - 1] != n)) return false;
    for (int64_t j = 0; j < n; j++) out[j] = ((const float *)t->data)[nt == 1 ? 0 : j];
    return true;
}

/* A QMatMul whose float output only feeds Mul(Y, constant per column) --
 * a transformer's layer scale -- takes the factors into its weight scale
 * and bias; then one that only feeds an Add of a same-shaped value takes it
 * as its residual Z. The float result changes by rounding only. */
static bool absorb_scale_and_residual(pass_ctx *c, int i, bool *oom)
{
    onyx_graph *g = c->g;
    onyx_node *n = &g->nodes[i];
    if (strcmp(n->domain, "ai.onyx") || strcmp(n->op_type, "QMatMul") || n->n_inputs < 8 || n->n_outputs != 1 ||
        ge_attr_string(n, "activation", "")[0] || ge_attr_int(n, "transB", 0))
        return false;
    const onyx_tensor *w = ge_const(g, n->inputs[3]);
    if (!w || w->rank != 2) return false;
    int64_t nout = w->dims[1];
    bool changed = false;
    int mu = ge_single_consumer(g, n->outputs[0]);
    if (mu >= 0 && is_op(&g->nodes[mu], "Mul") && g->nodes[mu].n_inputs == 2) {
        const onyx_node *mul = &g->nodes[mu];
        const char *f = !strcmp(mul->inputs[0], n->outputs[0]) ? mul->inputs[1] : mul->inputs[0];
        const onyx_tensor *bs = ge_const(g, n->inputs[4]);
        onyx_tensor *ns = ge_new_tensor(c->m, ONYX_FLOAT, 1, &nout), *nb = ge_new_tensor(c->m, ONYX_FLOAT, 1, &nout);
        if (!ns || !nb) return !(*oom = true);
        float *fac = ns->data, *bias = nb->data;
        const onyx_tensor *bt = n->inputs[6][0] ? ge_const(g, n->inputs[6]) : NULL;
        if (bs && bs->dtype == ONYX_FLOAT && column_factors(c, f, nout, fac) &&
            (tensor_numel_of(bs->rank, bs->dims) == 1 || tensor_numel_of(bs->rank, bs->dims) == nout) &&
            (!n->inputs[6][0] || (bt && bt->dtype == ONYX_FLOAT && tensor_numel_of(bt->rank, bt->dims) == nout)) &&
            pass_same_shape(c, n->outputs[0], mul->outputs[0])) {
            int64_t nbs = tensor_numel_of(bs->rank, bs->dims);
            for (int64_t j = 0; j < nout; j++) {
                bias[j] = bt ? ((const float *)bt->data)[j] * fac[j] : 0.0f;
                fac[j] *= ((const float *)bs->data)[nbs == 1 ? 0 : j];
            }
            const char *sn = ge_add_init(c->m, g, n->inputs[4], ns);
            const char *bn = bt ? ge_add_init(c->m, g, n->inputs[6], nb) : "";
            if (!sn || !bn) return !(*oom = true);
            n = &g->nodes[i];
            n->inputs[4] = sn;
            n->inputs[6] = bn;
            n->outputs[0] = g->nodes[mu].outputs[0];
            ge_kill(&g->nodes[mu]);
            pass_note(c, "QMatMul+Mul(layer scale)");
            changed = true;
        }
    }
    int ad = ge_single_consumer(g, n->outputs[0]);
    if (ad >= 0 && is_op(&g->nodes[ad], "Add") && g->nodes[ad].n_inputs == 2 && (n->n_inputs < 8 || !n->inputs[7][0])) {
        const onyx_node *add = &g->nodes[ad];
        const char *z = !strcmp(add->inputs[0], n->outputs[0]) ? add->inputs[1] : add->inputs[0];
        if (strcmp(add->inputs[0], add->inputs[1]) && !ge_const(g, z) && pass_same_shape(c, n->outputs[0], add->outputs[0]) &&
            pass_same_shape(c, z, add->outputs[0])) {
            n->inputs[7] = z;
            n->outputs[0] = add->outputs[0];
            ge_kill(&g->nodes[ad]);
            pass_note(c, "QMatMul+Add(residual)");
            changed = true;
        }
    }
    return changed;
}

/* QuantizeLinear(Mul(X, s)) for a positive scalar s that nothing else reads
 * the product of: QuantizeLinear(X) with y_scale / s (an attention's 1/sqrt(d)
 * applied to the queries right before they are quantized). */
static bool fold_mul_into_quantize(pass_ctx *c, int i, bool *oom)
{
    onyx_graph *g = c->g;
    onyx_node *q = &g->nodes[i];
    if (!is_op(q, "QuantizeLinear") || q->n_inputs < 2) return false;
    const onyx_tensor *ys = ge_const(g, q->inputs[1]);
    if (!ys || ys->dtype != ONYX_FLOAT || tensor_numel_of(ys->rank, ys->dims) != 1) return false;
    int mu = ge_producer(g, q->inputs[0]);
    if (mu < 0 || !is_op(&g->nodes[mu], "Mul") || g->nodes[mu].n_inputs != 2 || !pass_only_feeds(c, q->inputs[0], i))
        return false;
    const onyx_node *mul = &g->nodes[mu];
    double sv;
    int side = ge_const_scalar(g, mul->inputs[1], &sv) ? 1 : ge_const_scalar(g, mul->inputs[0], &sv) ? 0 : -1;
    if (side < 0 || !(sv > 0) || !isfinite(sv)) return false;
    const onyx_tensor *st = ge_const(g, mul->inputs[side]);
    if (!st || st->dtype != ONYX_FLOAT) return false;
    onyx_tensor *t = ge_new_tensor(c->m, ONYX_FLOAT, ys->rank, ys->dims);
    if (!t) return !(*oom = true);
    *(float *)t->data = (float)(*(const float *)ys->data / sv);
    const char *nm = ge_add_init(c->m, g, q->inputs[1], t);
    if (!nm) return !(*oom = true);
    q = &g->nodes[i];
    if (!ge_set_input(c->m, q, 0, g->nodes[mu].inputs[1 - side]) || !ge_set_input(c->m, q, 1, nm)) return !(*oom = true);
    ge_kill(&g->nodes[mu]);
    pass_note(c, "Mul(scalar) into QuantizeLinear");
    return true;
}

/* Evaluates a DequantizeLinear of a constant whose readers did not fuse. */
static onyx_status fold_constant_dq(pass_ctx *c, int i, onyx_error *err)
{
    onyx_graph *g = c->g;
    const onyx_node *n = &g->nodes[i];
    if (!is_op(n, "DequantizeLinear") || n->n_outputs != 1 || ge_use_count(g, n->outputs[0]) == 0) return ONYX_OK;
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k][0] && !ge_const(g, n->inputs[k])) return ONYX_OK;
    if (ge_is_graph_output(g, n->outputs[0])) return ONYX_OK;
    onyx_tensor v[1];
    onyx_status st = pass_eval_node(c, i, v, 1, err);
    if (st == ONYX_E_NOMEM) return st;
    if (st != ONYX_OK) return ONYX_OK;
    const char *name = g->nodes[i].outputs[0];
    onyx_tensor *t = ge_new_tensor(c->m, v[0].dtype, v[0].rank, v[0].dims);
    const char *nm = t ? (memcpy(t->data, v[0].data, t->nbytes), ge_add_init(c->m, g, name, t)) : NULL;
    tensor_release(&v[0]);
    if (!nm) return pass_fail(err, ONYX_E_NOMEM, "out of memory");
    ge_kill(&g->nodes[i]);
    if (strcmp(nm, name)) ge_replace_uses(g, name, nm);
    pass_note(c, "constant DequantizeLinear");
    return ONYX_OK;
}

onyx_status pass_qdq_fuse(pass_ctx *c, onyx_error *err)
{
    onyx_graph *g = c->g;
    if (c->standard_ops) return ONYX_OK;
    onyx_status st = pass_infer_shapes(c, err);
    if (st) return st;
    bool oom = false;
    for (int i = 0; i < g->n_nodes && !oom; i++)
        if (!ge_dead(&g->nodes[i]) && !swap_maxpool(c, i, &oom) && !oom) fold_mul_into_quantize(c, i, &oom);
    for (int i = 0; i < g->n_nodes && !oom; i++) {
        if (ge_dead(&g->nodes[i])) continue;
        if (!fuse_conv(c, i, &oom) && !oom && !fuse_matmul(c, i, &oom) && !oom) fuse_dynamic(c, i, &oom);
    }
    for (int i = 0; i < g->n_nodes && !oom; i++)
        if (!ge_dead(&g->nodes[i])) absorb_scale_and_residual(c, i, &oom);
    if (oom) return pass_fail(err, ONYX_E_NOMEM, "out of memory fusing QDQ groups");
    /* an activation after a QMatMul made from the dynamic form (or after a
     * layer scale) joins its epilogue too */
    if ((st = pass_activation(c, err))) return st;
    pass_remove_unused(c);
    /* only for running: a written model keeps its int8 weights */
    for (int i = 0; i < g->n_nodes && st == ONYX_OK && c->runnable_only; i++)
        if (!ge_dead(&g->nodes[i])) st = fold_constant_dq(c, i, err);
    return st;
}
