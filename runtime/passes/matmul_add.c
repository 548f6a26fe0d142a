/* matmul_add.c - MatMul followed by a bias Add.
 *
 * With a 2-D left operand this is exactly Gemm(A, B, bias), a standard op; with
 * batched operands (a transformer's [B, N, C] x [C, D] + [D]) it becomes
 * ai.onyx FusedMatMul(A, B, bias). The bias must be constant and vary only
 * along the last axis (shape [N] or [1, .., 1, N]), so adding it per column is
 * exactly the broadcast Add it replaces. */
#include "passes.h"

#include <string.h>

onyx_status pass_matmul_add(pass_ctx *c, onyx_error *err)
{
    onyx_graph *g = c->g;
    onyx_status st = pass_infer_shapes(c, err);
    for (int i = 0; i < g->n_nodes && st == ONYX_OK; i++) {
        onyx_node *mm = &g->nodes[i];
        if (ge_dead(mm) || mm->domain[0] || strcmp(mm->op_type, "MatMul") || mm->n_inputs != 2) continue;
        int a = ge_single_consumer(g, mm->outputs[0]);
        if (a < 0) continue;
        onyx_node *add = &g->nodes[a];
        if (add->domain[0] || strcmp(add->op_type, "Add") || add->n_inputs != 2) continue;
        const char *bias = !strcmp(add->inputs[0], mm->outputs[0]) ? add->inputs[1] : add->inputs[0];
        const onyx_tensor *bt = ge_const(g, bias), *w = ge_const_info(g, mm->inputs[1]);
        const pass_shape *as = pass_shape_of(c, mm->inputs[0]), *ys = pass_shape_of(c, mm->outputs[0]);
        if (!bt || bt->dtype != ONYX_FLOAT || bt->rank < 1 || !ys || ys->rank < 2) continue;
        int64_t n = ys->dims[ys->rank - 1];
        bool per_col = bt->dims[bt->rank - 1] == n && n > 0 && bt->rank <= ys->rank;
        for (int k = 0; k < bt->rank - 1; k++) per_col &= bt->dims[k] == 1;
        if (!per_col) continue;
        bool gemm = as && as->rank == 2 && w && w->rank == 2;
        if (!gemm && !pass_may_emit(c, "FusedMatMul")) continue;
        const char *b1 = bias;
        if (bt->rank != 1) { /* both take the bias as [N] */
            onyx_tensor *t = ge_new_tensor(c->m, ONYX_FLOAT, 1, &n);
            if (!t) return pass_fail(err, ONYX_E_NOMEM, "out of memory");
            memcpy(t->data, bt->data, t->nbytes);
            if (!(b1 = ge_add_init(c->m, g, bias, t))) return pass_fail(err, ONYX_E_NOMEM, "out of memory");
        }
        mm = &g->nodes[i];
        if (gemm) {
            mm->op_type = "Gemm";
        } else {
            mm->op_type = "FusedMatMul";
            mm->domain = "ai.onyx";
        }
        if (!ge_set_input(c->m, mm, 2, b1)) return pass_fail(err, ONYX_E_NOMEM, "out of memory");
        mm->outputs[0] = g->nodes[a].outputs[0];
        ge_kill(&g->nodes[a]);
        pass_note(c, gemm ? "MatMul+Add->Gemm" : "MatMul+Add->FusedMatMul");
    }
    return st;
}
