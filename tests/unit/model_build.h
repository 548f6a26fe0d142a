/* model_build.h - building small models by hand for the graph-level tests
 * (passes, planner, QDQ fusion, quantizer, weights): an empty model of one opset,
 * float inputs and outputs. Header-only, like harness.h. */
#ifndef ONYX_TEST_MODEL_BUILD_H
#define ONYX_TEST_MODEL_BUILD_H

#include "../../runtime/graph_edit.h"

#include <stdlib.h>
#include <string.h>

static inline onyx_model *new_model(int64_t opset)
{
    onyx_model *m = calloc(1, sizeof *m);
    m->graph = pool_alloc(&m->pool, sizeof *m->graph);
    m->graph->name = "test";
    m->ir_version = 8;
    m->producer_name = m->producer_version = m->domain = "";
    m->n_opsets = 1;
    m->opset_domains = pool_alloc(&m->pool, sizeof(char *));
    m->opset_versions = pool_alloc(&m->pool, sizeof(int64_t));
    m->opset_domains[0] = "";
    m->opset_versions[0] = opset;
    return m;
}

/* A float input; a dim of -1 is symbolic ("batch"). */
static inline void add_input(onyx_model *m, const char *name, int rank, const int64_t *dims)
{
    onyx_graph *g = m->graph;
    onyx_value_decl *in = pool_array(&m->pool, (size_t)g->n_inputs + 1, sizeof *in);
    if (g->n_inputs) memcpy(in, g->inputs, (size_t)g->n_inputs * sizeof *in);
    onyx_value_decl *d = &in[g->n_inputs];
    d->name = name;
    d->dtype = ONYX_FLOAT;
    d->rank = rank;
    for (int i = 0; i < rank; i++) {
        d->dims[i] = dims[i];
        if (dims[i] < 0) d->dim_names[i] = "batch";
    }
    g->inputs = in;
    g->n_inputs++;
    m->user_inputs = pool_array(&m->pool, (size_t)g->n_inputs, sizeof *m->user_inputs);
    m->n_user_inputs = g->n_inputs;
    for (int i = 0; i < g->n_inputs; i++) m->user_inputs[i] = &g->inputs[i];
}

/* A float output of any shape. */
static inline void add_output(onyx_model *m, const char *name)
{
    onyx_graph *g = m->graph;
    onyx_value_decl *o = pool_array(&m->pool, (size_t)g->n_outputs + 1, sizeof *o);
    if (g->n_outputs) memcpy(o, g->outputs, (size_t)g->n_outputs * sizeof *o);
    o[g->n_outputs].name = name;
    o[g->n_outputs].rank = -1;
    o[g->n_outputs].dtype = ONYX_FLOAT;
    g->outputs = o;
    g->n_outputs++;
}

#endif
