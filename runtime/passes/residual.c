/* residual.c - a residual Add folded into the conv (or matmul) producing one
 * of its operands: Y = Conv(X) + Z becomes FusedConv(X, W, B, Z), so the
 * shortcut is added while the output tile is still in registers (ResNet's
 * relu(bn(conv(x)) + x), MobileNetV2's x + bn(conv(x))). Runs before the
 * activation pass, which then takes the Relu after the Add: FusedConv applies
 * act(conv + B + Z). Z must have exactly the Add's output shape (no
 * broadcasting), which static shape inference must prove.
 *
 * A per-column scale between the matmul and the Add (a transformer's
 * LayerScale: x + gamma * (A W + b)) is first folded into the weights, W' = W
 * diag(gamma), b' = gamma b, so the Add then meets the matmul directly. */
#include "passes.h"

#include <string.h>

/* The constant float [K, N] weights of a (Fused)MatMul without activation or
 * residual, or NULL. */
static const onyx_tensor *plain_matmul_weights(const pass_ctx *c, const onyx_node *mm)
{
    bool std_mm = !mm->domain[0] && !strcmp(mm->op_type, "MatMul");
    bool fused = !strcmp(mm->domain, "ai.onyx") && !strcmp(mm->op_type, "FusedMatMul") &&
                 !ge_attr_string(mm, "activation", "")[0] && (mm->n_inputs < 4 || !mm->inputs[3][0]);
    if (!std_mm && !fused) return NULL;
    const onyx_tensor *w = ge_const_info(c->g, mm->inputs[1]); /* the shape only: no copy of the weights */
    if (!w || w->kind != ONYX_KIND_TENSOR || w->dtype != ONYX_FLOAT || w->rank != 2) return NULL;
    return w;
}

/* Mul(y, gamma) with y = (Fused)MatMul(A, W[, b]) read only here and gamma a
 * constant of N floats along the last axis: scale W's columns and b instead.
 * 1 when folded, 0 when the pattern does not apply, -1 out of memory. */
static int fold_column_scale(pass_ctx *c, int i)
{
    onyx_graph *g = c->g;
    onyx_node *mul = &g->nodes[i];
    for (int side = 0; side < 2; side++) {
        const char *y = mul->inputs[side], *gname = mul->inputs[1 - side];
        int p = ge_producer(g, y);
        const onyx_tensor *gm = ge_const(g, gname);
        if (p < 0 || !gm || gm->dtype != ONYX_FLOAT || !pass_only_feeds(c, y, i)) continue;
        const onyx_node *mm = &g->nodes[p];
        const onyx_tensor *w = plain_matmul_weights(c, mm);
        if (!w || !pass_same_shape(c, y, mul->outputs[0])) continue;
        const int64_t K = w->dims[0], N = w->dims[1];
        bool column = gm->rank >= 1 && gm->dims[gm->rank - 1] == N;
        for (int d = 0; column && d < gm->rank - 1; d++) column = gm->dims[d] == 1;
        if (!column) continue;
        const onyx_tensor *bt = mm->n_inputs > 2 && mm->inputs[2][0] ? ge_const(g, mm->inputs[2]) : NULL;
        if (mm->n_inputs > 2 && mm->inputs[2][0] &&
            (!bt || bt->dtype != ONYX_FLOAT || bt->rank != 1 || bt->dims[0] != N))
            continue;
        /* W' is a recipe made when read (runtime/weights.h): scale per column */
        float *gv = pool_array(&c->m->pool, (size_t)N, sizeof *gv);
        onyx_tensor *nb = bt ? ge_new_tensor(c->m, ONYX_FLOAT, 1, bt->dims) : NULL;
        onyx_tensor nw;
        if (!gv || (bt && !nb)) return -1;
        memcpy(gv, gm->data, (size_t)N * sizeof *gv);
        if (!weights_scaled(&c->m->weights, &c->m->pool, &nw, w, gv, 1, N, K * N)) return -1;
        if (bt)
            for (int64_t n = 0; n < N; n++) ((float *)nb->data)[n] = ((const float *)bt->data)[n] * gv[n];
        const char *wn = ge_add_init(c->m, g, mm->inputs[1], &nw);
        const char *bn = bt ? ge_add_init(c->m, g, mm->inputs[2], nb) : NULL;
        if (!wn || (bt && !bn)) return -1;
        onyx_node *l = &g->nodes[p];
        if (!ge_set_input(c->m, l, 1, wn) || (bn && !ge_set_input(c->m, l, 2, bn))) return -1;
        l->outputs[0] = mul->outputs[0];
        ge_kill(mul);
        pass_note(c, "MatMul*scale (weights scaled)");
        return 1;
    }
    return 0;
}

onyx_status pass_residual(pass_ctx *c, onyx_error *err)
{
    onyx_graph *g = c->g;
    onyx_status st = pass_infer_shapes(c, err);
    for (int i = 0; i < g->n_nodes && st == ONYX_OK; i++) {
        onyx_node *mul = &g->nodes[i];
        if (ge_dead(mul) || mul->domain[0] || strcmp(mul->op_type, "Mul") || mul->n_inputs != 2) continue;
        if (fold_column_scale(c, i) < 0) return pass_fail(err, ONYX_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_nodes && st == ONYX_OK; i++) {
        onyx_node *add = &g->nodes[i];
        if (ge_dead(add) || add->domain[0] || strcmp(add->op_type, "Add") || add->n_inputs != 2) continue;
        if (!strcmp(add->inputs[0], add->inputs[1])) continue;
        for (int side = 0; side < 2; side++) {
            const char *y = add->inputs[side], *z = add->inputs[1 - side];
            int p = ge_producer(g, y);
            if (p < 0 || !pass_only_feeds(c, y, i) || ge_const_info(g, z)) continue;
            onyx_node *conv = &g->nodes[p];
            bool std_conv = !conv->domain[0] && !strcmp(conv->op_type, "Conv");
            bool std_mm = !conv->domain[0] && !strcmp(conv->op_type, "MatMul");
            bool fused = !strcmp(conv->domain, "ai.onyx") &&
                         (!strcmp(conv->op_type, "FusedConv") || !strcmp(conv->op_type, "FusedMatMul")) &&
                         !ge_attr_string(conv, "activation", "")[0] && (conv->n_inputs < 4 || !conv->inputs[3][0]);
            if (!std_conv && !std_mm && !fused) continue;
            if (!pass_same_shape(c, y, add->outputs[0]) || !pass_same_shape(c, z, add->outputs[0])) continue;
            bool is_conv = std_conv || !strcmp(conv->op_type, "FusedConv");
            const char *op = is_conv ? "FusedConv" : "FusedMatMul";
            if (!pass_may_emit(c, op)) continue;
            conv->op_type = op;
            conv->domain = "ai.onyx";
            if (!ge_set_input(c->m, conv, 3, z)) return pass_fail(err, ONYX_E_NOMEM, "out of memory");
            conv->outputs[0] = add->outputs[0];
            ge_kill(add);
            pass_note(c, is_conv ? "Conv+Add" : "MatMul+Add(residual)");
            break;
        }
    }
    return st;
}
