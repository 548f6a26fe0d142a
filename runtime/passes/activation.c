/* activation.c - an activation applied to the output of a Conv, Gemm or
 * MatMul becomes the fused op's epilogue (ai.onyx FusedConv/FusedGemm/
 * FusedMatMul, docs/fused_ops.md), applied while the tile is in registers.
 * Recognises Relu, Clip (Relu6), LeakyRelu, HardSwish, HardSigmoid, Sigmoid,
 * Tanh, Gelu, and SiLU written as x * Sigmoid(x) in either operand order. */
#include "passes.h"

#include <float.h>
#include <string.h>

/* The fused op a producer becomes, or NULL. A fused op that already has an
 * activation takes no second one. */
static const char *fused_name(const onyx_node *p)
{
    if (!p->domain[0]) {
        if (!strcmp(p->op_type, "Conv")) return "FusedConv";
        if (!strcmp(p->op_type, "Gemm")) return "FusedGemm";
        if (!strcmp(p->op_type, "MatMul")) return "FusedMatMul";
        return NULL;
    }
    if (strcmp(p->domain, "ai.onyx") || ge_attr_string(p, "activation", "")[0]) return NULL;
    if (!strcmp(p->op_type, "FusedConv") || !strcmp(p->op_type, "FusedGemm") || !strcmp(p->op_type, "FusedMatMul"))
        return p->op_type;
    /* the integer ops of qdq_fuse.c, before they requantize (one output) */
    if ((!strcmp(p->op_type, "QConv") || !strcmp(p->op_type, "QMatMul")) && p->n_outputs == 1) return p->op_type;
    return NULL;
}

/* Recognises the activation reading y (node a is y's consumer). Fills the
 * activation name, params, the value it produces and the nodes it spans. */
static bool match_activation(pass_ctx *c, const char *y, const char **act, float *params, int *n_params,
                             const char **out, int *kill, int *n_kill)
{
    onyx_graph *g = c->g;
    int cons[3];
    int nc = ge_consumers(g, y, cons, 3);
    if (ge_is_graph_output(g, y) || nc < 1 || nc > 2) return false;
    *n_params = 0;
    *n_kill = 0;
    if (nc == 2) { /* SiLU: Mul(y, Sigmoid(y)) */
        int s = -1, m = -1;
        for (int k = 0; k < 2; k++) {
            const onyx_node *n = &g->nodes[cons[k]];
            if (n->domain[0]) return false;
            if (!strcmp(n->op_type, "Sigmoid")) s = cons[k];
            else if (!strcmp(n->op_type, "Mul")) m = cons[k];
        }
        if (s < 0 || m < 0 || ge_use_count(g, y) != 2) return false;
        const onyx_node *mul = &g->nodes[m], *sig = &g->nodes[s];
        if (mul->n_inputs != 2 || !pass_only_feeds(c, sig->outputs[0], m)) return false;
        bool ok = (!strcmp(mul->inputs[0], y) && !strcmp(mul->inputs[1], sig->outputs[0])) ||
                  (!strcmp(mul->inputs[1], y) && !strcmp(mul->inputs[0], sig->outputs[0]));
        if (!ok) return false;
        *act = "SiLU";
        *out = mul->outputs[0];
        kill[(*n_kill)++] = s;
        kill[(*n_kill)++] = m;
        return true;
    }
    if (ge_use_count(g, y) != 1) return false;
    const onyx_node *a = &g->nodes[cons[0]];
    if (a->n_outputs < 1) return false;
    const char *op = a->op_type;
    bool std = !a->domain[0];
    if (std && (!strcmp(op, "Relu") || !strcmp(op, "Sigmoid") || !strcmp(op, "Tanh") || !strcmp(op, "HardSwish"))) {
        *act = op;
    } else if (std && !strcmp(op, "LeakyRelu")) {
        *act = "LeakyRelu";
        params[(*n_params)++] = ge_attr_float(a, "alpha", 0.01f);
    } else if (std && !strcmp(op, "HardSigmoid")) {
        *act = "HardSigmoid";
        params[(*n_params)++] = ge_attr_float(a, "alpha", 0.2f);
        params[(*n_params)++] = ge_attr_float(a, "beta", 0.5f);
    } else if (std && !strcmp(op, "Clip")) {
        double lo = -FLT_MAX, hi = FLT_MAX;
        if (ge_attr(a, "min") || ge_attr(a, "max")) {
            lo = ge_attr_float(a, "min", -FLT_MAX);
            hi = ge_attr_float(a, "max", FLT_MAX);
        }
        if (a->n_inputs > 1 && a->inputs[1][0] && !ge_const_scalar(g, a->inputs[1], &lo)) return false;
        if (a->n_inputs > 2 && a->inputs[2][0] && !ge_const_scalar(g, a->inputs[2], &hi)) return false;
        *act = "Clip";
        params[(*n_params)++] = (float)lo;
        params[(*n_params)++] = (float)hi;
    } else if ((std && !strcmp(op, "Gelu") && !strcmp(ge_attr_string(a, "approximate", "none"), "none")) ||
               (!strcmp(a->domain, "ai.onyx") && !strcmp(op, "Gelu") &&
                !strcmp(ge_attr_string(a, "approximate", "none"), "none"))) {
        *act = "Gelu";
    } else {
        return false;
    }
    *out = a->outputs[0];
    kill[(*n_kill)++] = cons[0];
    return true;
}

onyx_status pass_activation(pass_ctx *c, onyx_error *err)
{
    onyx_graph *g = c->g;
    for (int i = 0; i < g->n_nodes; i++) {
        onyx_node *p = &g->nodes[i];
        if (ge_dead(p) || p->n_outputs != 1) continue;
        const char *fused = fused_name(p);
        if (!fused) continue;
        const char *act, *out;
        float params[2];
        int n_params, kill[2], n_kill;
        if (!match_activation(c, p->outputs[0], &act, params, &n_params, &out, kill, &n_kill)) continue;
        if (!pass_may_emit(c, fused)) continue;
        p->op_type = fused;
        p->domain = "ai.onyx";
        if (!ge_set_attr_string(c->m, p, "activation", act) ||
            (n_params && !ge_set_attr_floats(c->m, p, "activation_params", n_params, params)))
            return pass_fail(err, ONYX_E_NOMEM, "out of memory fusing activations");
        for (int k = 0; k < n_kill; k++) ge_kill(&g->nodes[kill[k]]);
        p->outputs[0] = out;
        /* report labels must outlive the pass: one literal per (op, activation) */
        static const char *const acts[9] = {"Relu", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "SiLU", "Tanh", "Gelu"};
        static const char *const full[3][9] = {
            {"Conv+Relu", "Conv+Clip", "Conv+LeakyRelu", "Conv+HardSwish", "Conv+HardSigmoid", "Conv+Sigmoid", "Conv+SiLU", "Conv+Tanh", "Conv+Gelu"},
            {"Gemm+Relu", "Gemm+Clip", "Gemm+LeakyRelu", "Gemm+HardSwish", "Gemm+HardSigmoid", "Gemm+Sigmoid", "Gemm+SiLU", "Gemm+Tanh", "Gemm+Gelu"},
            {"MatMul+Relu", "MatMul+Clip", "MatMul+LeakyRelu", "MatMul+HardSwish", "MatMul+HardSigmoid", "MatMul+Sigmoid", "MatMul+SiLU", "MatMul+Tanh", "MatMul+Gelu"}};
        int row = strstr(fused, "Conv") ? 0 : strstr(fused, "Gemm") ? 1 : 2, col = 0;
        for (int k = 0; k < 9; k++)
            if (!strcmp(acts[k], act)) col = k;
        pass_note(c, full[row][col]);
    }
    return ONYX_OK;
}
