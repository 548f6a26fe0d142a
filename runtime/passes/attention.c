/* attention.c - scaled dot-product attention into one ai.onyx Attention node.
 *
 *   scores = (Q [*|/ s1]) @ (Kt [*|/ s2])  [*|/ s3]     Kt = Transpose(K, ..swap last two) or K^T itself
 *   Y      = Softmax(scores, last axis) @ V
 *
 * Found from each Softmax outward: the scale may sit on Q, on K or on the
 * scores, as a Mul or a Div by a scalar constant, and the scales multiply.
 * A Transpose swapping the last two axes of K is absorbed; otherwise K is
 * passed already transposed (k_transposed = 1). Q, K and V must be rank 4
 * ([B, H, N, d]). When they are the three heads-first slices of one packed
 * projection ([B, N, 3, H, d], a ViT's qkv) and the output goes straight
 * back to [B, N, H, d], the Reshape, Transpose and Gathers that split the
 * heads and the Transpose that merges them go too: the node takes the
 * projection itself (num_heads = H) and reads each head's rows in place.
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

static bool has_perm(const onyx_node *n, int len, const int *want)
{
    const onyx_attr *perm = ge_attr(n, "perm");
    if (!perm || perm->n != len) return false;
    for (int i = 0; i < len; i++)
        if (perm->ints[i] != want[i]) return false;
    return true;
}

/* Q, K and V split off one packed projection X [B, N, 3 H d] (a ViT's qkv
 * Linear): Gather(T, 0|1|2, axis 0) of T = Transpose(R, [2, 0, 3, 1, 4]),
 * R = Reshape(X, [B, N, 3, H, d]); and the output merged back by
 * Transpose(Y, [0, 2, 1, 3]). Then the Attention node reads X in place and
 * writes [B, N, H, d] (num_heads = H): those six nodes go, and with them two
 * full copies of the activations. Adds the nodes to kill. */
static bool packed_heads(const pass_ctx *c, const char *const qkv[3], const char *y, const char **x,
                         const char **out, int64_t *heads, int *kill, int *nk)
{
    static const int split[5] = {2, 0, 3, 1, 4}, merge[4] = {0, 2, 1, 3};
    const onyx_graph *g = c->g;
    const char *t = NULL;
    int found[6];
    for (int i = 0; i < 3; i++) {
        int p = ge_producer(g, qkv[i]);
        double idx;
        if (p < 0 || ge_use_count(g, qkv[i]) != 1) return false;
        const onyx_node *n = &g->nodes[p];
        if (!is_op(n, "Gather") || n->n_inputs != 2 || ge_attr_int(n, "axis", 0) != 0 ||
            !ge_const_scalar(g, n->inputs[1], &idx) || idx != i || (t && strcmp(t, n->inputs[0])))
            return false;
        t = n->inputs[0];
        found[i] = p;
    }
    int tp = ge_producer(g, t);
    if (tp < 0 || !is_op(&g->nodes[tp], "Transpose") || !has_perm(&g->nodes[tp], 5, split) || ge_use_count(g, t) != 3)
        return false;
    const char *r = g->nodes[tp].inputs[0];
    int rp = ge_producer(g, r);
    if (rp < 0 || !is_op(&g->nodes[rp], "Reshape") || ge_use_count(g, r) != 1) return false;
    const pass_shape *rs = pass_shape_of(c, r), *xs = pass_shape_of(c, g->nodes[rp].inputs[0]);
    /* the same batch and 3 H d channels: the Reshape only splits the channels */
    if (!rs || !xs || rs->rank != 5 || xs->rank != 3 || rs->dims[2] != 3 || rs->dims[3] <= 0 || rs->dims[4] <= 0 ||
        xs->dims[2] != 3 * rs->dims[3] * rs->dims[4] || rs->dims[0] == -1 || rs->dims[0] != xs->dims[0])
        return false;
    int op = ge_single_consumer(g, y);
    if (op < 0 || !is_op(&g->nodes[op], "Transpose") || !has_perm(&g->nodes[op], 4, merge)) return false;
    found[3] = tp;
    found[4] = rp;
    found[5] = op;
    for (int i = 0; i < 6; i++) kill[(*nk)++] = found[i];
    *x = g->nodes[rp].inputs[0];
    *out = g->nodes[op].outputs[0];
    *heads = rs->dims[3];
    return true;
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
        int kill[24], nk = 0;
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
        const char *qkv[3] = {q, k, v}, *x = NULL;
        int64_t heads = 0;
        const bool packed = !k_transposed && packed_heads(c, qkv, out, &x, &out, &heads, kill, &nk);
        for (int i = 0; i < nk; i++) ge_kill(&g->nodes[kill[i]]);
        const char *in[3] = {packed ? x : q, k, v}, *outs[1] = {out};
        onyx_node *a = ge_add_node(c->m, g, "Attention", "ai.onyx", ge_unique_name(c->m, "Attention"), packed ? 1 : 3,
                                   in, 1, outs);
        if (!a || !ge_set_attr_float(c->m, a, "scale", (float)scale) ||
            !(packed ? ge_set_attr_int(c->m, a, "num_heads", heads) : ge_set_attr_int(c->m, a, "k_transposed", k_transposed)))
            return pass_fail(err, ONYX_E_NOMEM, "out of memory");
        pass_note(c, packed ? "Attention (packed Q, K, V)" : k_transposed ? "Attention (K pre-transposed)" : "Attention");
    }
    return st;
}
