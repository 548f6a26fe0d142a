/* attention.c - scaled dot-product attention into one ai.onyx Attention node.
 *
 *   scores = (Q [*|/ s1]) @ (Kt [*|/ s2])  [*|/ s3]     Kt = Transpose(K, ..swap last two) or K^T itself
 *   Y      = Softmax(scores, last axis) @ V
 *
 * Found from each Softmax outward: the scale may sit on Q, on K or on the
 * scores, as a Mul or a Div by a scalar constant, and the scales multiply.
 * A Transpose swapping the last two axes of K is absorbed; otherwise K is
 * passed already transposed (k_transposed = 1). Q, K and V must be rank 4
 * ([B, H, N, d]); the Reshape/Transpose that split heads stay as they are.
 * Masked attention (an Add before the Softmax) is not fused. */
#include "passes.h"

#include <string.h>

static bool is_op(const onyx_node *n, const char *op) { return !n->domain[0] && !strcmp(n->op_type, op) && n->n_outputs >= 1; }

/* Strips scalar Mul/Div steps off value v (each read only once), multiplying
 * *scale; records the nodes. Returns the value underneath. */
static const char *strip_scale(const pass_ctx *c, const char *v, double *scale, int *kill, int *nk)
{
    for (;;) {
        int p = ge_producer(c->g, v);
        if (p < 0 || ge_use_count(c->g, v) != 1 || *nk >= 6) return v;
        const onyx_node *n = &c->g->nodes[p];
        double s;
        if (is_op(n, "Mul") && n->n_inputs == 2 && ge_const_scalar(c->g, n->inputs[1], &s)) v = n->inputs[0];
        else if (is_op(n, "Mul") && n->n_inputs == 2 && ge_const_scalar(c->g, n->inputs[0], &s)) v = n->inputs[1];
        else if (is_op(n, "Div") && n->n_inputs == 2 && ge_const_scalar(c->g, n->inputs[1], &s) && s != 0) v = n->inputs[0], s = 1 / s;
        else return v;
        *scale *= s;
        kill[(*nk)++] = p;
    }
}

static bool rank4(const pass_ctx *c, const char *v)
{
    const pass_shape *s = pass_shape_of(c, v);
    return s && s->rank == 4;
}

onyx_status pass_attention(pass_ctx *c, onyx_error *err)
{
    onyx_graph *g = c->g;
    onyx_status st = pass_infer_shapes(c, err);
    for (int sm = 0; sm < g->n_nodes && st == ONYX_OK; sm++) {
        onyx_node *smn = &g->nodes[sm];
        if (ge_dead(smn) || !is_op(smn, "Softmax")) continue;
        const pass_shape *ss = pass_shape_of(c, smn->inputs[0]);
        int ax;
        int64_t def_axis = model_opset(c->m, "") >= 13 ? -1 : 1;
        if (!ss || ss->rank != 4 || !k_axis(ge_attr_int(smn, "axis", def_axis), 4, &ax) || ax != 3) continue;
        int kill[16], nk = 0;
        double scale = 1;
        const char *scores = strip_scale(c, smn->inputs[0], &scale, kill, &nk);
        int mm1 = ge_producer(g, scores);
        if (mm1 < 0 || !is_op(&g->nodes[mm1], "MatMul") || ge_use_count(g, scores) != 1) continue;
        kill[nk++] = mm1;
        int mm2 = ge_single_consumer(g, smn->outputs[0]);
        if (mm2 < 0 || !is_op(&g->nodes[mm2], "MatMul") || strcmp(g->nodes[mm2].inputs[0], smn->outputs[0])) continue;
        const char *q = strip_scale(c, g->nodes[mm1].inputs[0], &scale, kill, &nk);
        const char *kt = strip_scale(c, g->nodes[mm1].inputs[1], &scale, kill, &nk);
        const char *k = kt, *v = g->nodes[mm2].inputs[1];
        int k_transposed = 1;
        int tp = ge_producer(g, kt);
        if (tp >= 0 && is_op(&g->nodes[tp], "Transpose") && ge_use_count(g, kt) == 1) {
            const onyx_attr *perm = ge_attr(&g->nodes[tp], "perm");
            if (perm && perm->n == 4 && perm->ints[0] == 0 && perm->ints[1] == 1 && perm->ints[2] == 3 && perm->ints[3] == 2) {
                k = g->nodes[tp].inputs[0];
                k_transposed = 0;
                kill[nk++] = tp;
            }
        }
        if (!rank4(c, q) || !rank4(c, k) || !rank4(c, v)) continue;
        if (!pass_may_emit(c, "Attention")) continue;
        kill[nk++] = sm;
        const char *out = g->nodes[mm2].outputs[0];
        kill[nk++] = mm2;
        for (int i = 0; i < nk; i++) ge_kill(&g->nodes[kill[i]]);
        const char *in[3] = {q, k, v}, *outs[1] = {out};
        onyx_node *a = ge_add_node(c->m, g, "Attention", "ai.onyx", ge_unique_name(c->m, "Attention"), 3, in, 1, outs);
        if (!a || !ge_set_attr_float(c->m, a, "scale", (float)scale) || !ge_set_attr_int(c->m, a, "k_transposed", k_transposed))
            return pass_fail(err, ONYX_E_NOMEM, "out of memory");
        pass_note(c, k_transposed ? "Attention (K pre-transposed)" : "Attention");
    }
    return st;
}
