/* eliminate.c - removes nodes that compute nothing: Identity, Dropout at
 * inference (its mask unread), Pad by zero, and any node none of whose
 * outputs is read. */
#include "passes.h"

#include <string.h>

/* Is n a pass-through of its first input? */
static bool is_passthrough(const pass_ctx *c, const onyx_node *n)
{
    if (n->domain[0] || n->n_inputs < 1 || n->n_outputs < 1 || !n->inputs[0][0]) return false;
    if (!strcmp(n->op_type, "Identity")) return n->n_outputs == 1;
    if (!strcmp(n->op_type, "Pad")) { /* pads all zero (what a U-Net's size fix-up folds to) */
        const onyx_attr *pa = ge_attr(n, "pads");
        int64_t pads[2 * ONYX_MAX_RANK];
        int np = pa && pa->type == ATTR_INTS ? pa->n : -1;
        for (int k = 0; pa && k < np && k < 2 * ONYX_MAX_RANK; k++) pads[k] = pa->ints[k];
        if (!pa) {
            const onyx_tensor *t = n->n_inputs > 1 ? ge_const(c->g, n->inputs[1]) : NULL;
            np = t ? (int)k_read_ints(t, pads, 2 * ONYX_MAX_RANK) : -1;
        }
        if (np < 0 || np > 2 * ONYX_MAX_RANK) return false;
        for (int k = 0; k < np; k++)
            if (pads[k]) return false;
        return true;
    }
    if (strcmp(n->op_type, "Dropout")) return false;
    if (n->n_outputs > 1 && ge_use_count(c->g, n->outputs[1])) return false; /* the mask is read */
    if (n->n_inputs > 2 && n->inputs[2][0]) {                                  /* training_mode */
        double t;
        if (!ge_const_scalar(c->g, n->inputs[2], &t) || t != 0) return false;
    }
    return true;
}

/* Makes the value in read its name out: every reader of out reads in instead,
 * or, when out is a graph output, in's producer writes out directly. */
static bool bypass(pass_ctx *c, onyx_node *n)
{
    onyx_graph *g = c->g;
    const char *in = n->inputs[0], *out = n->outputs[0];
    if (!ge_is_graph_output(g, out)) {
        ge_replace_uses(g, out, in);
        return true;
    }
    int p = ge_producer(g, in);
    if (p < 0 || ge_is_graph_output(g, in)) return false; /* a graph input or constant: keep the copy */
    onyx_node *prod = &g->nodes[p];
    for (int k = 0; k < prod->n_outputs; k++)
        if (!strcmp(prod->outputs[k], in)) prod->outputs[k] = out;
    ge_replace_uses(g, in, out);
    return true;
}

void pass_remove_noops(pass_ctx *c)
{
    onyx_graph *g = c->g;
    for (int i = 0; i < g->n_nodes; i++) {
        onyx_node *n = &g->nodes[i];
        if (ge_dead(n) || !is_passthrough(c, n)) continue;
        const char *label = !strcmp(n->op_type, "Identity") ? "Identity" : !strcmp(n->op_type, "Pad") ? "Pad(0)" : "Dropout";
        if (!bypass(c, n)) continue;
        ge_kill(n);
        pass_note(c, label);
    }
}

onyx_status pass_eliminate(pass_ctx *c, onyx_error *err)
{
    pass_remove_noops(c);
    pass_remove_unused(c);
    (void)err;
    return ONYX_OK;
}

void pass_remove_unused(pass_ctx *c)
{
    onyx_graph *g = c->g;
    /* last first, taking a removed node's reads off the counts, so a chain
     * goes in one sweep (reads inside its subgraphs stay counted until the
     * next sweep recounts) */
    for (bool again = true; again;) {
        again = false;
        ge_name_counts reads;
        bool counted = ge_count_reads(g, &reads);
        for (int i = g->n_nodes - 1; i >= 0; i--) {
            onyx_node *n = &g->nodes[i];
            if (ge_dead(n)) continue;
            bool used = false;
            for (int k = 0; k < n->n_outputs && !used; k++) {
                const int *cnt = counted ? ge_name_count(&reads, n->outputs[k]) : NULL;
                used = counted ? cnt && *cnt > 0 : ge_use_count(g, n->outputs[k]) > 0;
            }
            if (used) continue;
            for (int k = 0; counted && k < n->n_inputs; k++) {
                int *cnt = n->inputs[k][0] ? ge_name_count(&reads, n->inputs[k]) : NULL;
                if (cnt) (*cnt)--;
            }
            ge_kill(n);
            pass_note(c, "unused node");
            again = true;
        }
        if (counted) ge_name_counts_free(&reads);
    }
}
