/* residual.c - a residual Add folded into the conv (or matmul) producing one
 * of its operands: Y = Conv(X) + Z becomes FusedConv(X, W, B, Z), so the
 * shortcut is added while the output tile is still in registers (ResNet's
 * relu(bn(conv(x)) + x), MobileNetV2's x + bn(conv(x))). Runs before the
 * activation pass, which then takes the Relu after the Add: FusedConv applies
 * act(conv + B + Z). Z must have exactly the Add's output shape (no
 * broadcasting), which static shape inference must prove. */
#include "passes.h"

#include <string.h>

onyx_status pass_residual(pass_ctx *c, onyx_error *err)
{
    onyx_graph *g = c->g;
    onyx_status st = pass_infer_shapes(c, err);
    for (int i = 0; i < g->n_nodes && st == ONYX_OK; i++) {
        onyx_node *add = &g->nodes[i];
        if (ge_dead(add) || add->domain[0] || strcmp(add->op_type, "Add") || add->n_inputs != 2) continue;
        if (!strcmp(add->inputs[0], add->inputs[1])) continue;
        for (int side = 0; side < 2; side++) {
            const char *y = add->inputs[side], *z = add->inputs[1 - side];
            int p = ge_producer(g, y);
            if (p < 0 || !pass_only_feeds(c, y, i) || ge_const(g, z)) continue;
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
