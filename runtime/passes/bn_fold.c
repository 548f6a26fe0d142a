/* bn_fold.c - BatchNormalization folded into the linear op before it.
 *
 * At inference BN is y = s*(x - mean) + bias with s = scale/sqrt(var + eps),
 * one affine map per channel. After Conv (channel = output channel = W's
 * axis 0), ConvTranspose (W's axis 1, per group) or Gemm/MatMul with a 2-D
 * output (channel = column), it folds into new weights W*s and a new bias
 * (B - mean)*s + bias, leaving a standard op, so it is allowed with
 * --standard-ops. The new weights are a recipe (runtime/weights.h): they are
 * made when something reads them (a kernel packing them, the writer), so the
 * pass neither copies nor touches the weights. The original weights are left
 * alone (another node may share them); unused ones go when the graph is
 * compacted. */
#include "passes.h"

#include <math.h>
#include <string.h>

static const float *float_const(const pass_ctx *c, const char *name, int64_t n)
{
    const onyx_tensor *t = name[0] ? ge_const(c->g, name) : NULL;
    if (!t || t->kind != ONYX_KIND_TENSOR || t->dtype != ONYX_FLOAT || tensor_numel_of(t->rank, t->dims) != n) return NULL;
    return t->data;
}

/* Folds the BN at node b into the linear op at node p. */
static bool fold(pass_ctx *c, int p, int b)
{
    onyx_node *bn = &c->g->nodes[b];
    const onyx_node *lin = &c->g->nodes[p];
    /* the weights are not read here: the new ones are W scaled per channel,
     * made when something reads them (runtime/weights.h) */
    const onyx_tensor *w = ge_const_info(c->g, lin->inputs[1]);
    if (!w || w->dtype != ONYX_FLOAT || w->rank < 2 || bn->n_inputs != 5) return false;
    bool conv = !strcmp(lin->op_type, "Conv"), convt = !strcmp(lin->op_type, "ConvTranspose");
    bool trans_b = !strcmp(lin->op_type, "Gemm") && ge_attr_int(lin, "transB", 0);
    int64_t group = conv || convt ? ge_attr_int(lin, "group", 1) : 1;
    int64_t total = tensor_numel_of(w->rank, w->dims);
    if (group <= 0 || total <= 0) return false;
    /* channel of element i: (i / inner) % nch + nch * (i / block) */
    int64_t ch, inner, nch, block = total;
    if (conv) {
        ch = nch = w->dims[0], inner = total / ch;
    } else if (convt) {
        if (w->dims[0] % group) return false;
        ch = w->dims[1] * group, nch = w->dims[1], inner = total / (w->dims[0] * w->dims[1]);
        block = w->dims[0] / group * nch * inner;
    } else if (w->rank == 2) {
        ch = nch = trans_b ? w->dims[0] : w->dims[1], inner = trans_b ? w->dims[1] : 1;
    } else {
        return false;
    }
    if (ch <= 0) return false;
    const float *scale = float_const(c, bn->inputs[1], ch), *bias = float_const(c, bn->inputs[2], ch);
    const float *mean = float_const(c, bn->inputs[3], ch), *var = float_const(c, bn->inputs[4], ch);
    if (!scale || !bias || !mean || !var) return false;
    /* the op's own bias: Conv/ConvTranspose B [ch]; Gemm C broadcast to [ch] */
    const float *b0 = NULL;
    bool b0_scalar = false;
    float beta = 1;
    if (lin->n_inputs > 2 && lin->inputs[2][0]) {
        const onyx_tensor *bt = ge_const(c->g, lin->inputs[2]);
        if (!bt || bt->dtype != ONYX_FLOAT) return false;
        int64_t nb = tensor_numel_of(bt->rank, bt->dims);
        if (nb != ch && nb != 1) return false;
        if (!conv && !convt && bt->rank == 2 && bt->dims[0] != 1) return false;
        b0 = bt->data;
        b0_scalar = nb == 1 && ch != 1;
    }
    if (!conv && !convt) beta = ge_attr_float(lin, "beta", 1);
    float eps = ge_attr_float(bn, "epsilon", 1e-5f);
    onyx_tensor *nb = ge_new_tensor(c->m, ONYX_FLOAT, 1, &ch);
    float *s = pool_array(&c->m->pool, (size_t)ch, sizeof *s);
    if (!nb || !s) return false;
    float *bd = nb->data;
    for (int64_t oc = 0; oc < ch; oc++) {
        s[oc] = scale[oc] / sqrtf(var[oc] + eps);
        float b_in = b0 ? beta * b0[b0_scalar ? 0 : oc] : 0;
        bd[oc] = (b_in - mean[oc]) * s[oc] + bias[oc];
    }
    onyx_tensor nw;
    if (!weights_scaled(&c->m->weights, &c->m->pool, &nw, w, s, inner, nch, block)) return false;
    const char *wn = ge_add_init(c->m, c->g, lin->inputs[1], &nw);
    const char *bnm = ge_add_init(c->m, c->g, lin->n_inputs > 2 && lin->inputs[2][0] ? lin->inputs[2] : lin->outputs[0], nb);
    if (!wn || !bnm) return false;
    onyx_node *l = &c->g->nodes[p];
    if (!strcmp(l->op_type, "MatMul")) l->op_type = "Gemm"; /* 2-D MatMul is Gemm; Gemm has the bias input */
    if (!ge_set_input(c->m, l, 1, wn) || !ge_set_input(c->m, l, 2, bnm)) return false;
    if (!conv && !convt && !ge_set_attr_float(c->m, l, "beta", 1)) return false;
    /* the op now writes what BN wrote */
    const char *out = c->g->nodes[b].outputs[0];
    l->outputs[0] = out;
    ge_kill(&c->g->nodes[b]);
    return true;
}

onyx_status pass_bn_fold(pass_ctx *c, onyx_error *err)
{
    onyx_graph *g = c->g;
    onyx_status st = pass_infer_shapes(c, err);
    for (int b = 0; b < g->n_nodes && st == ONYX_OK; b++) {
        onyx_node *bn = &g->nodes[b];
        if (ge_dead(bn) || strcmp(bn->op_type, "BatchNormalization") || bn->domain[0] || bn->n_inputs != 5) continue;
        if (ge_attr_int(bn, "training_mode", 0)) continue;
        bool extra = false;
        for (int k = 1; k < bn->n_outputs; k++) extra |= ge_use_count(g, bn->outputs[k]) > 0;
        if (extra) continue;
        int p = ge_producer(g, bn->inputs[0]);
        if (p < 0 || !pass_only_feeds(c, bn->inputs[0], b)) continue;
        const onyx_node *lin = &g->nodes[p];
        if (lin->domain[0] || lin->n_outputs != 1 || lin->n_inputs < 2) continue;
        const char *label;
        if (!strcmp(lin->op_type, "Conv")) {
            label = "Conv+BatchNormalization";
        } else if (!strcmp(lin->op_type, "ConvTranspose")) {
            label = "ConvTranspose+BatchNormalization";
        } else if (!strcmp(lin->op_type, "Gemm")) {
            label = "Gemm+BatchNormalization";
        } else if (!strcmp(lin->op_type, "MatMul")) {
            const pass_shape *a = pass_shape_of(c, lin->inputs[0]);
            if (!a || a->rank != 2) continue; /* BN's channel is then the MatMul's column */
            label = "MatMul+BatchNormalization";
        } else {
            continue;
        }
        if (fold(c, p, b)) pass_note(c, label);
    }
    return st;
}
