/* passes.h - the graph optimizer: small passes over a model's main graph.
 *
 * Each pass lives in its own file, takes a pass_ctx, rewrites the graph with
 * the helpers of runtime/graph_edit.h and notes what it did (pass_note). The
 * driver (passes.c) runs them in order, compacts and re-sorts the graph after
 * each, and reports node counts and notes per pass. Passes know nothing about
 * kernels, except constant folding, which evaluates nodes by calling them. */
#ifndef ONYX_PASSES_H
#define ONYX_PASSES_H

#include "../graph_edit.h"

#define PASS_MAX_NOTES 32

/* Static shapes: dims >= 0 are known, -1 unknown, <= -2 a symbolic dim (the same
 * number is the same size wherever it appears). */
typedef struct pass_shape {
    const char *name;
    onyx_dtype dtype;
    int rank;               /* -1: unknown */
    int64_t dims[ONYX_MAX_RANK];
    /* for small integer vectors computed from shapes (Shape -> Gather -> Concat):
     * the value, element by element, as dims are (PASS_UNKNOWN_VALUE where not
     * known; -1 is a literal -1); n_val = -1 when not tracked */
    int n_val;
    int64_t val[ONYX_MAX_RANK];
} pass_shape;
#define PASS_UNKNOWN_VALUE INT64_MIN

typedef struct pass_ctx {
    onyx_model *m;
    onyx_graph *g;
    bool standard_ops;
    bool runnable_only;
    /* what the pass did: label -> count */
    int n_notes;
    const char *note_label[PASS_MAX_NOTES];
    int note_count[PASS_MAX_NOTES];
    /* filled by pass_infer_shapes */
    int n_shapes, cap_shapes;
    pass_shape *shapes;
    int *shape_table;       /* hash: index+1, 0 empty */
    int shape_table_size;
} pass_ctx;

typedef onyx_status (*pass_fn)(pass_ctx *c, onyx_error *err);

/* Records one application of a rewrite called label (a string literal). */
void pass_note(pass_ctx *c, const char *label);
onyx_status pass_fail(onyx_error *err, onyx_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* May the pass emit ai.onyx op? (not with standard_ops; with runnable_only only
 * when a kernel is registered). Imports the domain when it answers yes. */
bool pass_may_emit(pass_ctx *c, const char *op);
/* Is consumer the only reader of value (and value no graph output)? A fused
 * chain's inner values must have no other reader. */
bool pass_only_feeds(const pass_ctx *c, const char *value, int consumer);

/* Removes nodes none of whose outputs is read (eliminate.c); folding and
 * fusions call it for the producers they leave without readers. */
void pass_remove_unused(pass_ctx *c);
/* Bypasses Identity, inference Dropout and Pad by zero (eliminate.c); constant
 * folding calls it for the pads it has just made known to be zero. */
void pass_remove_noops(pass_ctx *c);

/* Shape inference over the graph as it is now (shapes.c). Never fails on
 * unknown ops: their outputs are just unknown. */
onyx_status pass_infer_shapes(pass_ctx *c, onyx_error *err);
const pass_shape *pass_shape_of(const pass_ctx *c, const char *name);
/* Both fully known (or the same symbols) and equal. */
bool pass_same_shape(const pass_ctx *c, const char *a, const char *b);
void pass_shapes_free(pass_ctx *c);

/* Evaluates node n with its kernel: inputs are constants (ge_const), outputs
 * become initializers (constfold.c). */
onyx_status pass_eval_node(pass_ctx *c, int node, onyx_tensor *outs, int max_out, onyx_error *err);

/* The passes, in default order. */
onyx_status pass_eliminate(pass_ctx *c, onyx_error *err);
onyx_status pass_constfold(pass_ctx *c, onyx_error *err);
onyx_status pass_bn_fold(pass_ctx *c, onyx_error *err);
onyx_status pass_matmul_add(pass_ctx *c, onyx_error *err);
onyx_status pass_layernorm(pass_ctx *c, onyx_error *err);
onyx_status pass_gelu(pass_ctx *c, onyx_error *err);
onyx_status pass_attention(pass_ctx *c, onyx_error *err);
onyx_status pass_residual(pass_ctx *c, onyx_error *err);
onyx_status pass_activation(pass_ctx *c, onyx_error *err);
onyx_status pass_qdq_fuse(pass_ctx *c, onyx_error *err);
onyx_status pass_layout(pass_ctx *c, onyx_error *err);

#endif
