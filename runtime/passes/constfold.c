/* constfold.c - constant folding.
 *
 * A node whose inputs are all constant is evaluated once, now, by its own
 * kernel, and its outputs become initializers (Constant nodes included, so
 * later passes see weights in one place). Shape is folded when the dims it
 * reports are known from shape inference, and so are Gather/Slice that pick
 * only known dims out of a Shape whose other dims are symbolic (a batch dim):
 * that is what collapses the Shape->Gather->Unsqueeze->Concat->Reshape chains
 * exporters emit, the rest of the chain then being plain constant folding. */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

/* Folding must not turn a few bytes into many (Expand, ConstantOfShape, Tile
 * of a big shape): a folded output may be this much larger than its inputs. */
#define FOLD_SLACK_BYTES ((size_t)1 << 16)

/* DequantizeLinear of a constant is the int8 weight of a QDQ group: it stays
 * for qdq_fuse (which evaluates the ones it cannot fuse) and for writers, so
 * other runtimes still see the group. */
static bool foldable_op(const onyx_node *n)
{
    static const char *const never[] = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                                        "Multinomial", "Bernoulli", "DequantizeLinear", NULL};
    if (n->domain[0] || n->n_outputs < 1) return false;
    for (int i = 0; never[i]; i++)
        if (!strcmp(n->op_type, never[i])) return false;
    for (int a = 0; a < n->n_attrs; a++)
        if (n->attrs[a].type == ATTR_GRAPH || n->attrs[a].type == ATTR_GRAPHS) return false;
    return true;
}

onyx_status pass_eval_node(pass_ctx *c, int node, onyx_tensor *outs, int max_out, onyx_error *err)
{
    const onyx_node *n = &c->g->nodes[node];
    const onyx_op_def *op = onyx_find_op(n->domain, n->op_type);
    if (!op || n->n_outputs > max_out) return ONYX_E_UNSUPPORTED;
    const onyx_tensor **ins = calloc((size_t)n->n_inputs + 1, sizeof *ins);
    onyx_tensor **outp = calloc((size_t)n->n_outputs + 1, sizeof *outp);
    if (!ins || !outp) {
        free(ins), free(outp);
        return pass_fail(err, ONYX_E_NOMEM, "out of memory folding constants");
    }
    for (int k = 0; k < n->n_inputs; k++) ins[k] = n->inputs[k][0] ? ge_const(c->g, n->inputs[k]) : NULL;
    for (int k = 0; k < n->n_outputs; k++) {
        memset(&outs[k], 0, sizeof outs[k]);
        outp[k] = n->outputs[k][0] ? &outs[k] : NULL;
    }
    onyx_error kerr = {0};
    onyx_kctx k = {0};
    k.node_name = n->name;
    k.op_type = n->op_type;
    k.domain = n->domain;
    k.opset = (int)model_opset(c->m, n->domain);
    k.n_attrs = n->n_attrs;
    k.attrs = n->attrs;
    k.err = &kerr;
    k.n_inputs = n->n_inputs;
    k.inputs = ins;
    k.n_outputs = n->n_outputs;
    k.outputs = outp;
    onyx_status st = ONYX_OK;
    if (op->prepare) st = op->prepare(&k, &k.state);
    if (st == ONYX_OK) st = op->run(&k);
    if (k.state && op->release) op->release(k.state);
    for (size_t sp = 0; sp < sizeof k.spare / sizeof k.spare[0]; sp++) tensor_release(&k.spare[sp]);
    free(ins);
    free(outp);
    if (st != ONYX_OK)
        for (int i = 0; i < n->n_outputs; i++) tensor_release(&outs[i]);
    /* a kernel refusing its constant inputs is the model's problem at run time, not ours */
    return st == ONYX_OK ? ONYX_OK : ONYX_E_UNSUPPORTED;
}

/* Replaces node i by initializers holding vals (one per output). */
static bool become_constants(pass_ctx *c, int i, const onyx_tensor *vals)
{
    onyx_node *n = &c->g->nodes[i];
    int n_out = n->n_outputs;
    const char **names = n->outputs;
    ge_kill(n);
    for (int k = 0; k < n_out; k++) {
        if (!names[k][0]) continue;
        onyx_tensor *t = ge_new_tensor(c->m, vals[k].dtype, vals[k].rank, vals[k].dims);
        if (!t) return false;
        if (t->nbytes) memcpy(t->data, vals[k].data, t->nbytes);
        const char *nm = ge_add_init(c->m, c->g, names[k], t);
        if (!nm) return false;
        if (strcmp(nm, names[k])) ge_replace_uses(c->g, names[k], nm);
    }
    return true;
}

/* Folds a node whose output is a small integer vector shape inference knows
 * exactly (a Shape of known dims, a Gather of the known dims of a Shape whose
 * batch is symbolic, arithmetic and Concat on those). */
static onyx_status fold_value(pass_ctx *c, int i, bool *done)
{
    onyx_node *n = &c->g->nodes[i];
    *done = false;
    const pass_shape *s = n->n_outputs == 1 ? pass_shape_of(c, n->outputs[0]) : NULL;
    if (!s || s->n_val < 0 || s->rank > 1 || ge_is_graph_output(c->g, n->outputs[0])) return ONYX_OK;
    for (int k = 0; k < s->n_val; k++)
        if (s->val[k] < -1) return ONYX_OK; /* unknown or a symbol */
    int64_t dim = s->n_val;
    onyx_tensor *t = ge_new_tensor(c->m, s->dtype, s->rank, &dim);
    if (!t) return pass_fail(NULL, ONYX_E_NOMEM, "out of memory");
    for (int k = 0; k < s->n_val; k++) k_set_f64(t, k, (double)s->val[k]);
    if (!become_constants(c, i, t)) return ONYX_E_NOMEM;
    *done = true;
    return ONYX_OK;
}

/* A Reshape whose shape is computed from the input's own symbolic dims
 * (Concat(Gather(Shape(x), 0), [257, 3, 6, 64])) gets a constant shape: a
 * symbol in place i equal to x's dim i is "copy" (0), one other symbol is
 * "infer" (-1). The shape subgraph then has no reader left. */
static onyx_status fold_reshape_shape(pass_ctx *c, int i, bool *done)
{
    onyx_node *n = &c->g->nodes[i];
    *done = false;
    if (strcmp(n->op_type, "Reshape") || n->domain[0] || n->n_inputs != 2 || ge_const_info(c->g, n->inputs[1]) ||
        ge_attr_int(n, "allowzero", 0))
        return ONYX_OK;
    const pass_shape *x = pass_shape_of(c, n->inputs[0]), *s = pass_shape_of(c, n->inputs[1]);
    if (!x || !s || s->n_val < 0 || s->rank != 1) return ONYX_OK;
    int64_t v[ONYX_MAX_RANK];
    int infer = 0;
    for (int k = 0; k < s->n_val; k++) {
        int64_t e = s->val[k];
        if (e == PASS_UNKNOWN_VALUE) return ONYX_OK;
        if (e >= 0) {
            if (e == 0) return ONYX_OK; /* a literal 0 means "copy"; a computed 0 means zero: don't mix them */
            v[k] = e;
        } else if (e == -1) {
            v[k] = -1, infer++;
        } else if (k < x->rank && x->dims[k] == e) {
            v[k] = 0;
        } else {
            v[k] = -1, infer++;
        }
    }
    if (infer > 1) return ONYX_OK;
    int64_t len = s->n_val;
    onyx_tensor *t = ge_new_tensor(c->m, ONYX_INT64, 1, &len);
    if (!t) return ONYX_E_NOMEM;
    memcpy(t->data, v, t->nbytes);
    const char *name = ge_add_init(c->m, c->g, n->inputs[1], t);
    if (!name) return ONYX_E_NOMEM;
    c->g->nodes[i].inputs[1] = name;
    *done = true;
    return ONYX_OK;
}

/* One sweep in graph order; *changed says whether anything folded. */
static onyx_status fold_sweep(pass_ctx *c, bool *changed, onyx_error *err)
{
    onyx_graph *g = c->g;
    int before = ge_live_nodes(g);
    onyx_status st = pass_infer_shapes(c, err);
    for (int i = 0; i < g->n_nodes && st == ONYX_OK; i++) {
        onyx_node *n = &g->nodes[i];
        if (ge_dead(n) || !foldable_op(n)) continue;
        bool all_const = true, any_output = false;
        size_t in_bytes = 0;
        for (int k = 0; k < n->n_inputs && all_const; k++) {
            if (!n->inputs[k][0]) continue;
            const onyx_tensor *t = ge_const_info(g, n->inputs[k]);
            all_const = t != NULL;
            if (t) in_bytes += t->nbytes;
        }
        for (int k = 0; k < n->n_outputs; k++) {
            if (ge_is_graph_output(g, n->outputs[k])) all_const = false;
            any_output |= n->outputs[k][0] != 0;
        }
        if (!any_output) continue;
        if (!all_const) {
            bool done;
            const char *label = n->op_type;
            if ((st = fold_value(c, i, &done)) != ONYX_OK) {
                pass_fail(err, st, "out of memory folding constants");
                break;
            }
            if (done) {
                pass_note(c, label);
                continue;
            }
            if ((st = fold_reshape_shape(c, i, &done)) != ONYX_OK) {
                pass_fail(err, st, "out of memory folding constants");
                break;
            }
            if (done) {
                pass_note(c, "Reshape shape");
                before++; /* a change that removes no node */
            }
            continue;
        }
        onyx_tensor vals[8];
        onyx_status es = pass_eval_node(c, i, vals, 8, err);
        if (es == ONYX_E_NOMEM) {
            st = es;
            break;
        }
        if (es != ONYX_OK) continue;
        int n_out = n->n_outputs; /* folding kills the node, which clears it */
        bool ok = true;
        size_t out_bytes = 0;
        for (int k = 0; k < n_out; k++) {
            ok &= !n->outputs[k][0] || (vals[k].kind == ONYX_KIND_TENSOR && vals[k].dtype != ONYX_STRING);
            out_bytes += vals[k].nbytes;
        }
        bool is_constant = !strcmp(n->op_type, "Constant");
        if (ok && (is_constant || out_bytes <= 2 * in_bytes + FOLD_SLACK_BYTES)) {
            const char *label = is_constant ? "Constant" : n->op_type;
            if (!become_constants(c, i, vals)) st = pass_fail(err, ONYX_E_NOMEM, "out of memory folding constants");
            else pass_note(c, label);
        }
        for (int k = 0; k < n_out; k++) tensor_release(&vals[k]);
    }
    if (st == ONYX_OK) pass_remove_unused(c); /* the Shape nodes whose readers folded */
    *changed = ge_live_nodes(g) != before;
    return st;
}

onyx_status pass_constfold(pass_ctx *c, onyx_error *err)
{
    /* a fold can make shapes known that were not (a constant position
     * embedding fixes the token count), so sweep until nothing changes */
    bool changed = true;
    onyx_status st = ONYX_OK;
    for (int round = 0; round < 8 && changed && st == ONYX_OK; round++) st = fold_sweep(c, &changed, err);
    if (st == ONYX_OK) pass_remove_noops(c);
    return st;
}
