/* shape_infer.h - static shapes (and small constant values) of a graph's
 * values, before it runs (runtime/shape_infer.c). See docs/memory.md. */
#ifndef ONYX_SHAPE_INFER_H
#define ONYX_SHAPE_INFER_H

#include "graph.h"

struct onyx_threads;

/* A node bound to its kernel, its value slots resolved (the executor's view). */
typedef struct exec_node {
    const onyx_node *node;
    const onyx_op_def *op;
    int opset;
    int *in;        /* slot per input, -1 omitted */
    int *out;       /* slot per output, -1 omitted */
    void *state;    /* from op->prepare */
} exec_node;

/* What is known about one value slot. */
typedef struct si_value {
    bool known;             /* a dense tensor with dtype, rank and dims below */
    onyx_dtype dtype;
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    const onyx_tensor *val; /* its value when known and small (constant evaluation), or NULL */
    onyx_tensor *owned;     /* val when shape inference made it (freed by si_release) */
} si_value;

/* Fills vals[] for every node output in execution order, given what the caller
 * set for inputs and initializers (known/val). Nodes whose shape cannot be
 * inferred (data-dependent ops, control flow, unknown inputs) leave their
 * outputs unknown. Small nodes whose inputs are all known values are run
 * (their kernel on the constant inputs) so Shape->Gather->Concat->Reshape
 * chains resolve. Never fails: what it cannot work out stays unknown. */
void shape_infer(int n_nodes, const exec_node *nodes, si_value *vals, struct onyx_threads *tp);
void si_release(si_value *vals, int n);

#endif
