/* plan.c - which nodes the quantizer touches and how.
 *
 *   Conv           X activation, W [Cout, Cin/g, k...] per channel on axis 0, B int32
 *   ConvTranspose  X activation, W [Cin, Cout/g, k...] per channel on axis 1 when
 *                  group == 1 (else per tensor), B int32
 *   Gemm           A activation, B weight (axis 0 with transB, else 1), C int32 when
 *                  it is a 1-D [N] constant and alpha == beta == 1
 *   MatMul         A activation; B a 2-D constant weight (per channel on axis 1), a
 *                  constant of higher rank (per tensor) or a second activation
 *
 * Per-axis DequantizeLinear needs opset 13; older models get per-tensor weights. */
#include "quant.h"

#include <string.h>

bool q_list_has(const char *list, const char *name)
{
    if (!list || !name || !name[0]) return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

static const onyx_tensor *const_float(const onyx_graph *g, const onyx_node *n, int i)
{
    if (i >= n->n_inputs || !n->inputs[i][0]) return NULL;
    const onyx_tensor *t = ge_const(g, n->inputs[i]);
    return t && t->kind == ONYX_KIND_TENSOR && t->dtype == ONYX_FLOAT ? t : NULL;
}

static bool present(const onyx_node *n, int i) { return i < n->n_inputs && n->inputs[i][0]; }

bool q_plan_node(const onyx_model *m, const onyx_graph *g, const onyx_node *n,
                 const onyx_quant_options *o, q_node_plan *p)
{
    memset(p, 0, sizeof *p);
    p->act[0] = p->act[1] = p->weight = p->bias = p->axis = -1;
    if (n->domain[0] && strcmp(n->domain, "ai.onnx")) return false;
    const char *ops = o->op_types ? o->op_types : "Conv,ConvTranspose,Gemm,MatMul";
    if (!q_list_has(ops, n->op_type)) return false;
    bool per_axis = !o->per_tensor_weights && model_opset(m, "") >= 13;
    const char *op = n->op_type;
    if (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose")) {
        const onyx_tensor *w = const_float(g, n, 1);
        if (!present(n, 0) || !w || w->rank < 3 || const_float(g, n, 0)) return false;
        bool tr = !strcmp(op, "ConvTranspose");
        int64_t group = ge_attr_int(n, "group", 1);
        int64_t cout = tr ? w->dims[1] * group : w->dims[0];
        p->act[p->n_act++] = 0;
        p->weight = 1;
        p->axis = !per_axis ? -1 : !tr ? 0 : group == 1 ? 1 : -1;
        const onyx_tensor *b = const_float(g, n, 2);
        if (b && b->rank == 1 && b->dims[0] == cout) p->bias = 2;
        if (!tr) p->mean_axis = 1; /* ConvTranspose: a stride spreads taps unevenly */
    } else if (!strcmp(op, "Gemm")) {
        if (!present(n, 0) || !present(n, 1) || const_float(g, n, 0)) return false;
        p->act[p->n_act++] = 0;
        const onyx_tensor *w = const_float(g, n, 1);
        if (w && w->rank == 2) {
            bool tb = ge_attr_int(n, "transB", 0) != 0;
            int64_t nout = tb ? w->dims[0] : w->dims[1];
            p->weight = 1;
            p->axis = per_axis ? (tb ? 0 : 1) : -1;
            const onyx_tensor *b = const_float(g, n, 2);
            bool unit = ge_attr_float(n, "alpha", 1.0f) == 1.0f && ge_attr_float(n, "beta", 1.0f) == 1.0f;
            if (b && b->rank == 1 && b->dims[0] == nout && unit) p->bias = 2;
            if (unit && !ge_attr_int(n, "transA", 0) && (p->bias >= 0 || !present(n, 2))) p->mean_axis = 1;
        } else if (!ge_const(g, n->inputs[1])) {
            p->act[p->n_act++] = 1;
        } else {
            return false;
        }
    } else if (!strcmp(op, "MatMul")) {
        if (!present(n, 0) || !present(n, 1) || const_float(g, n, 0)) return false;
        p->act[p->n_act++] = 0;
        const onyx_tensor *w = const_float(g, n, 1);
        if (w && w->rank >= 2) {
            p->weight = 1;
            p->axis = per_axis && w->rank == 2 ? 1 : -1;
        } else if (!ge_const(g, n->inputs[1])) {
            p->act[p->n_act++] = 1;
        } else {
            return false;
        }
    } else {
        return false; /* an op type in the list the quantizer does not know */
    }
    p->excluded = q_list_has(o->exclude, n->name) ||
                  (n->n_outputs > 0 && q_list_has(o->exclude, n->outputs[0]));
    return true;
}
