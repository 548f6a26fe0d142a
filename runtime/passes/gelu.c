/* gelu.c - GELU recognised from its erf form, 0.5 * x * (1 + erf(x / sqrt 2)).
 *
 * Found from the Erf outward, so operand order and the grouping of the two
 * multiplies do not matter: x/sqrt2 may be Div(x, 1.414..) or Mul(x, 0.707..),
 * and the 0.5 may multiply x, (1 + erf) or their product. Emits the standard
 * Gelu from opset 20, else ai.onyx Gelu (not with --standard-ops). */
#include "passes.h"

#include <math.h>
#include <string.h>

static bool near(double a, double b) { return fabs(a - b) <= 1e-4 * fabs(b); }

static bool is_op(const onyx_node *n, const char *op) { return !n->domain[0] && !strcmp(n->op_type, op) && n->n_outputs >= 1; }

/* If node n is a binary op with a constant scalar operand near v, the other operand. */
static const char *other_than_const(const onyx_graph *g, const onyx_node *n, double v)
{
    if (n->n_inputs != 2) return NULL;
    double s;
    for (int k = 0; k < 2; k++)
        if (ge_const_scalar(g, n->inputs[k], &s) && near(s, v)) return n->inputs[1 - k];
    return NULL;
}

static const char *mul_other(const onyx_node *n, const char *v)
{
    if (n->n_inputs != 2) return NULL;
    if (!strcmp(n->inputs[0], v)) return n->inputs[1];
    if (!strcmp(n->inputs[1], v)) return n->inputs[0];
    return NULL;
}

onyx_status pass_gelu(pass_ctx *c, onyx_error *err)
{
    onyx_graph *g = c->g;
    bool std_gelu = model_opset(c->m, "") >= 20;
    for (int e = 0; e < g->n_nodes; e++) {
        if (ge_dead(&g->nodes[e]) || !is_op(&g->nodes[e], "Erf")) continue;
        int kill[6], nk = 0;
        /* x / sqrt(2) */
        int d = ge_producer(g, g->nodes[e].inputs[0]);
        if (d < 0 || !pass_only_feeds(c, g->nodes[e].inputs[0], e)) continue;
        const onyx_node *dn = &g->nodes[d];
        const char *x = NULL;
        if (is_op(dn, "Div")) x = dn->n_inputs == 2 && other_than_const(g, dn, M_SQRT2) == dn->inputs[0] ? dn->inputs[0] : NULL;
        else if (is_op(dn, "Mul")) x = other_than_const(g, dn, M_SQRT1_2);
        if (!x) continue;
        kill[nk++] = d;
        kill[nk++] = e;
        /* 1 + erf */
        int a = ge_single_consumer(g, g->nodes[e].outputs[0]);
        if (a < 0 || !is_op(&g->nodes[a], "Add") || !other_than_const(g, &g->nodes[a], 1.0)) continue;
        kill[nk++] = a;
        const char *t = g->nodes[a].outputs[0];
        int m1 = ge_single_consumer(g, t);
        if (m1 < 0 || !is_op(&g->nodes[m1], "Mul")) continue;
        const char *u = mul_other(&g->nodes[m1], t), *out = NULL;
        kill[nk++] = m1;
        if (u && !strcmp(u, x)) { /* (x * t) * 0.5 */
            int m2 = ge_single_consumer(g, g->nodes[m1].outputs[0]);
            if (m2 >= 0 && is_op(&g->nodes[m2], "Mul") && other_than_const(g, &g->nodes[m2], 0.5)) {
                kill[nk++] = m2;
                out = g->nodes[m2].outputs[0];
            }
        } else if (u && other_than_const(g, &g->nodes[m1], 0.5)) { /* x * (t * 0.5) */
            int m2 = ge_single_consumer(g, g->nodes[m1].outputs[0]);
            if (m2 >= 0 && is_op(&g->nodes[m2], "Mul") && mul_other(&g->nodes[m2], g->nodes[m1].outputs[0]) &&
                !strcmp(mul_other(&g->nodes[m2], g->nodes[m1].outputs[0]), x)) {
                kill[nk++] = m2;
                out = g->nodes[m2].outputs[0];
            }
        } else if (u) { /* (x * 0.5) * t */
            int h = ge_producer(g, u);
            if (h >= 0 && is_op(&g->nodes[h], "Mul") && pass_only_feeds(c, u, m1)) {
                const char *hx = other_than_const(g, &g->nodes[h], 0.5);
                if (hx && !strcmp(hx, x)) {
                    kill[nk++] = h;
                    out = g->nodes[m1].outputs[0];
                }
            }
        }
        if (!out) continue;
        /* every inner value must feed only the next step */
        bool inner_ok = true;
        for (int k = 0; k < nk; k++)
            if (strcmp(g->nodes[kill[k]].outputs[0], out) && ge_use_count(g, g->nodes[kill[k]].outputs[0]) != 1) inner_ok = false;
        if (!inner_ok) continue;
        if (!std_gelu && !pass_may_emit(c, "Gelu")) continue;
        const char *in[1] = {x}, *outs[1] = {out};
        for (int k = 0; k < nk; k++) ge_kill(&g->nodes[kill[k]]);
        onyx_node *n = ge_add_node(c->m, g, "Gelu", std_gelu ? "" : "ai.onyx", ge_unique_name(c->m, "Gelu"), 1, in, 1, outs);
        if (!n) return pass_fail(err, ONYX_E_NOMEM, "out of memory");
        pass_note(c, "Gelu(erf)");
    }
    return ONYX_OK;
}
