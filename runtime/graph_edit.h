/* graph_edit.h - helpers that change a model's IR in place, for the graph passes.
 *
 * Everything new (nodes, names, attributes, initializer data) is allocated in
 * the model's pool, so it lives and dies with the model. Removing a node only
 * marks it (ge_kill); ge_compact drops the marked nodes and unused
 * initializers. Queries scan the graph: graphs are at most a few thousand
 * nodes and a pass asks a few questions per node. A use of a value inside a
 * subgraph (If/Loop/Scan body) counts as a use by the node that owns it. */
#ifndef ONYX_GRAPH_EDIT_H
#define ONYX_GRAPH_EDIT_H

#include "graph.h"

/* A removed node: no inputs, no outputs, empty op_type. */
bool ge_dead(const onyx_node *n);
void ge_kill(onyx_node *n);

/* Index of the node producing name, or -1 (graph input, initializer, unknown). */
int ge_producer(const onyx_graph *g, const char *name);
/* Number of node input slots (subgraph uses count once per owning node) plus
 * graph outputs that read name. */
int ge_use_count(const onyx_graph *g, const char *name);
/* The only consumer node of name, or -1 when it has zero or several uses or
 * is a graph output. */
int ge_single_consumer(const onyx_graph *g, const char *name);
/* Up to max consumer node indices (a node reading name twice is listed once);
 * returns how many there are in all. */
int ge_consumers(const onyx_graph *g, const char *name, int *out, int max);
bool ge_is_graph_output(const onyx_graph *g, const char *name);
bool ge_is_graph_input(const onyx_graph *g, const char *name);

/* The constant value of name: an initializer that is not also a graph input
 * (which a user could override) or the output of a Constant node holding a
 * plain tensor. NULL otherwise (or when out of memory). Its data is an aligned
 * array, which for a weight kept in the file means a copy (runtime/weights.h):
 * to ask only whether a value is constant, or for its shape, use
 * ge_const_info. */
const onyx_tensor *ge_const(const onyx_graph *g, const char *name);
/* As ge_const without making the data: dtype and dims are right, data may be
 * NULL (read it with ge_const, or weights_acquire). */
const onyx_tensor *ge_const_info(const onyx_graph *g, const char *name);
/* Scalar value of a one-element float/int constant. */
bool ge_const_scalar(const onyx_graph *g, const char *name, double *out);

/* Counts of names, for passes that ask about every value at once (the
 * queries above scan the graph per call). */
typedef struct ge_name_counts {
    int size;               /* power of two */
    const char **name;
    int *count;
} ge_name_counts;
/* How often each name is read: node inputs, reads inside a node's subgraphs
 * and graph outputs (each counts; a value nobody reads is absent). */
bool ge_count_reads(const onyx_graph *g, ge_name_counts *nc);
/* Each name a node of g produces (count 1). */
bool ge_count_outputs(const onyx_graph *g, ge_name_counts *nc);
/* The count of name, or NULL when it is absent. */
int *ge_name_count(const ge_name_counts *nc, const char *name);
void ge_name_counts_free(ge_name_counts *nc);

/* Every use of old (node inputs, subgraph uses, graph outputs) now reads new_name. */
void ge_replace_uses(onyx_graph *g, const char *old, const char *new_name);

/* A name no value, node or initializer of the model uses yet: base, base_1, ... */
const char *ge_unique_name(onyx_model *m, const char *base);

/* Appends a node (pointers to other nodes are invalidated). Input/output name
 * arrays are copied; attributes start empty. NULL when out of memory. */
onyx_node *ge_add_node(onyx_model *m, onyx_graph *g, const char *op_type, const char *domain,
                       const char *name, int n_in, const char *const *ins, int n_out,
                       const char *const *outs);
/* Sets an input slot (growing the input list with "" as needed). */
bool ge_set_input(onyx_model *m, onyx_node *n, int i, const char *name);

/* Attributes. The setters replace an attribute of that name or append one. */
const onyx_attr *ge_attr(const onyx_node *n, const char *name);
int64_t ge_attr_int(const onyx_node *n, const char *name, int64_t def);
float ge_attr_float(const onyx_node *n, const char *name, float def);
const char *ge_attr_string(const onyx_node *n, const char *name, const char *def);
bool ge_set_attr_int(onyx_model *m, onyx_node *n, const char *name, int64_t v);
bool ge_set_attr_float(onyx_model *m, onyx_node *n, const char *name, float v);
bool ge_set_attr_string(onyx_model *m, onyx_node *n, const char *name, const char *v);
bool ge_set_attr_floats(onyx_model *m, onyx_node *n, const char *name, int count, const float *v);
bool ge_set_attr_ints(onyx_model *m, onyx_node *n, const char *name, int count, const int64_t *v);
/* Copies another node's attribute (any type) onto n. */
bool ge_copy_attr(onyx_model *m, onyx_node *n, const onyx_attr *a);
void ge_remove_attr(onyx_node *n, const char *name);

/* A new float tensor in the pool (zero-filled), or NULL. */
onyx_tensor *ge_new_tensor(onyx_model *m, onyx_dtype dtype, int rank, const int64_t *dims);
/* Adds an initializer named like base (made unique) holding t (which must
 * live in the pool or stay alive as long as the model); returns its name. */
const char *ge_add_init(onyx_model *m, onyx_graph *g, const char *base, const onyx_tensor *t);

/* Drops killed nodes, initializers nothing reads and value_info of values that
 * no longer exist. */
bool ge_compact(onyx_model *m, onyx_graph *g);
/* Puts nodes in topological order (stable: a sorted graph keeps its order).
 * False if the graph has a cycle. */
bool ge_toposort(onyx_graph *g);
/* Nodes still alive. */
int ge_live_nodes(const onyx_graph *g);

/* Imports domain at version (or raises nothing if already imported). */
bool ge_import_domain(onyx_model *m, const char *domain, int64_t version);

#endif
