/* layernorm.c - LayerNormalization recognised from its decomposed form:
 *
 *   mean = ReduceMean(x, axes)        d = x - mean
 *   var  = ReduceMean(d^2, axes)      (d^2 as Pow(d, 2) or Mul(d, d))
 *   y    = d / Sqrt(var + eps)        [* gamma] [+ beta]
 *
 * Found from the first ReduceMean by following uses, so the order nodes are
 * listed in does not matter. The axes must be the trailing ones (that is what
 * LayerNormalization normalizes over); a ReduceMean over channels of an NCHW
 * tensor is some other normalization and is left alone. Emits the standard
 * op, which exists from opset 17; older models are not rewritten. */
#include "passes.h"

#include <string.h>

static bool is_op(const onyx_node *n, const char *op) { return !n->domain[0] && !strcmp(n->op_type, op) && n->n_outputs >= 1; }

/* The normalized axes of a ReduceMean as the first axis of a trailing run, or -1. */
static int reduce_axis(const pass_ctx *c, const onyx_node *r, int rank)
{
    int64_t ax[ONYX_MAX_RANK];
    int na;
    const onyx_attr *aa = ge_attr(r, "axes");
    if (aa) {
        na = aa->n <= ONYX_MAX_RANK ? aa->n : -1;
        for (int i = 0; i < na; i++) ax[i] = aa->ints[i];
    } else if (r->n_inputs > 1) {
        const onyx_tensor *t = ge_const(c->g, r->inputs[1]);
        na = t ? (int)k_read_ints(t, ax, ONYX_MAX_RANK) : -1;
    } else {
        return -1;
    }
    if (na <= 0 || !ge_attr_int(r, "keepdims", 1)) return -1;
    bool mark[ONYX_MAX_RANK] = {0};
    int first = rank;
    for (int i = 0; i < na; i++) {
        int a;
        if (!k_axis(ax[i], rank, &a) || mark[a]) return -1;
        mark[a] = true;
        if (a < first) first = a;
    }
    return first + na == rank ? first : -1;
}

/* The one node reading v, if it is op. */
static int next_op(const pass_ctx *c, const char *v, const char *op)
{
    int n = ge_single_consumer(c->g, v);
    return n >= 0 && is_op(&c->g->nodes[n], op) ? n : -1;
}

static const char *other_input(const onyx_node *n, const char *v)
{
    if (n->n_inputs != 2) return NULL;
    return !strcmp(n->inputs[0], v) ? n->inputs[1] : !strcmp(n->inputs[1], v) ? n->inputs[0] : NULL;
}

/* A per-element affine parameter as a tensor of the normalized shape, or NULL. */
static const char *affine_param(pass_ctx *c, const char *name, const pass_shape *xs, int axis)
{
    const onyx_tensor *t = ge_const(c->g, name);
    if (!t || t->dtype != ONYX_FLOAT) return NULL;
    int nr = xs->rank - axis;
    if (t->rank > nr) {
        for (int i = 0; i < t->rank - nr; i++)
            if (t->dims[i] != 1) return NULL;
    }
    for (int i = 0; i < nr && i < t->rank; i++)
        if (t->dims[t->rank - 1 - i] != xs->dims[xs->rank - 1 - i]) return NULL;
    if (t->rank < nr) return NULL;
    if (t->rank == nr) return name;
    onyx_tensor *r = ge_new_tensor(c->m, ONYX_FLOAT, nr, xs->dims + axis);
    if (!r) return NULL;
    memcpy(r->data, t->data, r->nbytes);
    return ge_add_init(c->m, c->g, name, r);
}

onyx_status pass_layernorm(pass_ctx *c, onyx_error *err)
{
    onyx_graph *g = c->g;
    if (model_opset(c->m, "") < 17) return ONYX_OK;
    onyx_status st = pass_infer_shapes(c, err);
    for (int r1 = 0; r1 < g->n_nodes && st == ONYX_OK; r1++) {
        if (ge_dead(&g->nodes[r1]) || !is_op(&g->nodes[r1], "ReduceMean")) continue;
        const char *x = g->nodes[r1].inputs[0], *mean = g->nodes[r1].outputs[0];
        const pass_shape *xs = pass_shape_of(c, x);
        if (!xs || xs->rank < 1) continue;
        int axis = reduce_axis(c, &g->nodes[r1], xs->rank);
        if (axis < 0) continue;
        bool dims_known = true;
        for (int i = axis; i < xs->rank; i++) dims_known &= xs->dims[i] > 0;
        int sub = next_op(c, mean, "Sub");
        if (sub < 0 || strcmp(g->nodes[sub].inputs[0], x) || strcmp(g->nodes[sub].inputs[1], mean)) continue;
        const char *d = g->nodes[sub].outputs[0];
        /* d feeds the square and the division */
        int cons[3], nc = ge_consumers(g, d, cons, 3), sq = -1, div = -1;
        if (nc != 2 || ge_is_graph_output(g, d)) continue;
        for (int k = 0; k < 2; k++) {
            const onyx_node *n = &g->nodes[cons[k]];
            double e;
            if (is_op(n, "Pow") && n->n_inputs == 2 && !strcmp(n->inputs[0], d) && ge_const_scalar(g, n->inputs[1], &e) && e == 2)
                sq = cons[k];
            else if (is_op(n, "Mul") && n->n_inputs == 2 && !strcmp(n->inputs[0], d) && !strcmp(n->inputs[1], d))
                sq = cons[k];
            else if (is_op(n, "Div") && n->n_inputs == 2 && !strcmp(n->inputs[0], d))
                div = cons[k];
        }
        if (sq < 0 || div < 0) continue;
        int r2 = next_op(c, g->nodes[sq].outputs[0], "ReduceMean");
        if (r2 < 0 || reduce_axis(c, &g->nodes[r2], xs->rank) != axis) continue;
        int add = next_op(c, g->nodes[r2].outputs[0], "Add");
        double eps;
        const char *eps_name = add >= 0 ? other_input(&g->nodes[add], g->nodes[r2].outputs[0]) : NULL;
        if (!eps_name || !ge_const_scalar(g, eps_name, &eps)) continue;
        int sqrt_n = next_op(c, g->nodes[add].outputs[0], "Sqrt");
        if (sqrt_n < 0 || strcmp(g->nodes[div].inputs[1], g->nodes[sqrt_n].outputs[0]) ||
            !pass_only_feeds(c, g->nodes[sqrt_n].outputs[0], div))
            continue;
        int kill[9] = {r1, sub, sq, r2, add, sqrt_n, div}, nk = 7;
        const char *out = g->nodes[div].outputs[0], *gamma = NULL, *beta = NULL;
        int mul = next_op(c, out, "Mul");
        if (mul >= 0 && dims_known && (gamma = affine_param(c, other_input(&g->nodes[mul], out), xs, axis))) {
            kill[nk++] = mul;
            out = g->nodes[mul].outputs[0];
            int badd = next_op(c, out, "Add");
            if (badd >= 0 && (beta = affine_param(c, other_input(&g->nodes[badd], out), xs, axis))) {
                kill[nk++] = badd;
                out = g->nodes[badd].outputs[0];
            }
        }
        if (!gamma) {
            if (!dims_known) continue;
            onyx_tensor *ones = ge_new_tensor(c->m, ONYX_FLOAT, xs->rank - axis, xs->dims + axis);
            if (!ones) return pass_fail(err, ONYX_E_NOMEM, "out of memory");
            for (size_t i = 0; i < ones->nbytes / sizeof(float); i++) ((float *)ones->data)[i] = 1;
            if (!(gamma = ge_add_init(c->m, g, "LayerNorm_scale", ones))) return pass_fail(err, ONYX_E_NOMEM, "out of memory");
        }
        for (int k = 0; k < nk; k++) ge_kill(&g->nodes[kill[k]]);
        const char *in[3] = {x, gamma, beta ? beta : ""}, *outs[1] = {out};
        onyx_node *ln = ge_add_node(c->m, g, "LayerNormalization", "", ge_unique_name(c->m, "LayerNorm"), beta ? 3 : 2, in, 1, outs);
        if (!ln || !ge_set_attr_int(c->m, ln, "axis", axis) || !ge_set_attr_float(c->m, ln, "epsilon", (float)eps))
            return pass_fail(err, ONYX_E_NOMEM, "out of memory");
        pass_note(c, "LayerNormalization");
    }
    return st;
}
