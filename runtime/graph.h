/* graph.h - the IR a model decodes into: graphs of nodes that name their values.
 * Everything a model owns lives in its pool and is freed with it. */
#ifndef ONYX_GRAPH_H
#define ONYX_GRAPH_H

#include "../ops/kernel.h"
#include "pool.h"
#include "weights.h"

/* A declared value (graph input/output or value_info). */
typedef struct onyx_value_decl {
    const char *name;
    onyx_kind kind;         /* ONYX_KIND_TENSOR or ONYX_KIND_SEQUENCE */
    bool optional;          /* optional(kind) */
    onyx_dtype dtype;       /* element type (of a sequence's or optional's tensor) */
    int rank;               /* -1: unknown */
    int64_t dims[ONYX_MAX_RANK];        /* -1: unknown */
    const char *dim_names[ONYX_MAX_RANK];
} onyx_value_decl;

typedef struct onyx_node {
    const char *name;
    const char *op_type;
    const char *domain;
    int n_inputs;
    const char **inputs;    /* "" marks an omitted optional input */
    int n_outputs;
    const char **outputs;
    int n_attrs;
    onyx_attr *attrs;
} onyx_node;

typedef struct onyx_graph {
    const char *name;
    int n_nodes;
    onyx_node *nodes;
    onyx_node *nodes_grown; /* ge_add_node's array, grown by doubling while nodes is still it */
    int nodes_cap;
    int n_inits;
    onyx_tensor *inits;     /* data in the model's pool or the file buffer, or a
                               weight_src (runtime/weights.h) */
    const char **init_names;
    /* ge_add_init's arrays, grown by doubling while inits/init_names are still
     * them (runtime/graph_edit.c) */
    onyx_tensor *inits_grown;
    const char **names_grown;
    int inits_cap;
    int n_inputs;
    onyx_value_decl *inputs;
    int n_outputs;
    onyx_value_decl *outputs;
    int n_value_info;
    onyx_value_decl *value_info;
} onyx_graph;

struct onyx_model {
    onyx_pool pool;
    int64_t ir_version;
    int64_t model_version;
    const char *producer_name;
    const char *producer_version;
    const char *domain;
    int n_opsets;
    const char **opset_domains;
    int64_t *opset_versions;
    int n_meta;
    const char **meta_keys;
    const char **meta_values;
    onyx_graph *graph;
    const char *dir;        /* directory of the model file, for external data */
    /* graph inputs that are not initializers (what a user feeds) */
    int n_user_inputs;
    const onyx_value_decl **user_inputs;
    /* the mmap'ed model file initializers may point into (runtime/model.c) */
    void *map;
    size_t map_len;
    weight_store weights;   /* the initializers that have a weight_src */
};

/* Opset version of a domain ("" and "ai.onnx" are the default); 0 if not imported. */
int64_t model_opset(const struct onyx_model *m, const char *domain);

/* The loader's entry (loader/onnx_decode.c). dir may be NULL (no external data). */
onyx_status onnx_decode_model(const uint8_t *buf, size_t len, const char *dir,
                              struct onyx_model **out, onyx_error *err);
/* As onnx_decode_model; with borrow, initializers keep their raw_data where it
 * lies in buf (runtime/weights.h), so buf must outlive the model and stay
 * unmodified. */
onyx_status onnx_decode_model_borrow(const uint8_t *buf, size_t len, const char *dir, bool borrow,
                                     struct onyx_model **out, onyx_error *err);

/* The writer's entry (loader/onnx_encode.c): *buf_out is malloc'ed. */
onyx_status onnx_encode_model(const struct onyx_model *m, void **buf_out, size_t *len_out,
                              onyx_error *err);

#endif
