/* graph_edit.c - IR mutation helpers for the graph passes (see graph_edit.h). */
#include "graph_edit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ge_dead(const onyx_node *n) { return !n->op_type[0]; }

void ge_kill(onyx_node *n)
{
    n->op_type = "";
    n->n_inputs = 0;
    n->n_outputs = 0;
}

int ge_producer(const onyx_graph *g, const char *name)
{
    if (!name[0]) return -1;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++)
            if (!strcmp(g->nodes[i].outputs[k], name)) return i;
    return -1;
}

/* Does any node of g (or of its subgraphs) read name? */
static bool subgraph_reads(const onyx_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const onyx_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (!strcmp(n->inputs[k], name)) return true;
        for (int a = 0; a < n->n_attrs; a++) {
            const onyx_attr *at = &n->attrs[a];
            if (at->type == ATTR_GRAPH && subgraph_reads(at->g, name)) return true;
            for (int s = 0; at->type == ATTR_GRAPHS && s < at->n; s++)
                if (subgraph_reads(at->graphs[s], name)) return true;
        }
    }
    for (int i = 0; i < g->n_outputs; i++)
        if (!strcmp(g->outputs[i].name, name)) return true;
    return false;
}

/* How many times node n reads name (subgraph reads count once). */
static int node_reads(const onyx_node *n, const char *name)
{
    int c = 0;
    for (int k = 0; k < n->n_inputs; k++) c += !strcmp(n->inputs[k], name);
    for (int a = 0; a < n->n_attrs; a++) {
        const onyx_attr *at = &n->attrs[a];
        bool sub = at->type == ATTR_GRAPH && subgraph_reads(at->g, name);
        for (int s = 0; at->type == ATTR_GRAPHS && s < at->n && !sub; s++) sub = subgraph_reads(at->graphs[s], name);
        if (sub) return c + 1;
    }
    return c;
}

bool ge_is_graph_output(const onyx_graph *g, const char *name)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (!strcmp(g->outputs[i].name, name)) return true;
    return false;
}

bool ge_is_graph_input(const onyx_graph *g, const char *name)
{
    for (int i = 0; i < g->n_inputs; i++)
        if (!strcmp(g->inputs[i].name, name)) return true;
    return false;
}

int ge_use_count(const onyx_graph *g, const char *name)
{
    if (!name[0]) return 0;
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++) c += node_reads(&g->nodes[i], name);
    for (int i = 0; i < g->n_outputs; i++) c += !strcmp(g->outputs[i].name, name);
    return c;
}

int ge_consumers(const onyx_graph *g, const char *name, int *out, int max)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (node_reads(&g->nodes[i], name)) {
            if (c < max) out[c] = i;
            c++;
        }
    return c;
}

int ge_single_consumer(const onyx_graph *g, const char *name)
{
    int who;
    if (ge_use_count(g, name) != 1 || ge_is_graph_output(g, name)) return -1;
    return ge_consumers(g, name, &who, 1) == 1 ? who : -1;
}

const onyx_tensor *ge_const(const onyx_graph *g, const char *name)
{
    const onyx_tensor *t = ge_const_info(g, name);
    return t ? weights_view(t) : NULL;
}

const onyx_tensor *ge_const_info(const onyx_graph *g, const char *name)
{
    if (!name[0]) return NULL;
    for (int i = 0; i < g->n_inits; i++)
        if (!strcmp(g->init_names[i], name)) return ge_is_graph_input(g, name) ? NULL : &g->inits[i];
    int p = ge_producer(g, name);
    if (p < 0) return NULL;
    const onyx_node *n = &g->nodes[p];
    if (strcmp(n->op_type, "Constant") || n->domain[0]) return NULL;
    const onyx_attr *v = ge_attr(n, "value");
    return v && v->type == ATTR_TENSOR && n->n_attrs == 1 ? v->t : NULL;
}

bool ge_const_scalar(const onyx_graph *g, const char *name, double *out)
{
    const onyx_tensor *t = ge_const_info(g, name);
    if (!t || t->kind != ONYX_KIND_TENSOR || tensor_numel_of(t->rank, t->dims) != 1) return false;
    if (!(t = ge_const(g, name))) return false;
    if (!dtype_is_float(t->dtype) && !dtype_is_int(t->dtype)) return false;
    *out = k_get_f64(t, 0);
    return true;
}

/* ---------------------------------------------------------------- name counts */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

int *ge_name_count(const ge_name_counts *nc, const char *name)
{
    uint32_t mask = (uint32_t)nc->size - 1;
    for (uint32_t i = hash_name(name) & mask; nc->name[i]; i = (i + 1) & mask)
        if (!strcmp(nc->name[i], name)) return &nc->count[i];
    return NULL;
}

static void add_name(ge_name_counts *nc, const char *name)
{
    if (!name[0]) return;
    uint32_t mask = (uint32_t)nc->size - 1, i = hash_name(name) & mask;
    while (nc->name[i] && strcmp(nc->name[i], name)) i = (i + 1) & mask;
    nc->name[i] = name;
    nc->count[i]++;
}

static size_t names_in(const onyx_graph *g)
{
    size_t n = (size_t)g->n_outputs;
    for (int i = 0; i < g->n_nodes; i++) {
        const onyx_node *nd = &g->nodes[i];
        n += (size_t)nd->n_inputs + (size_t)nd->n_outputs;
        for (int a = 0; a < nd->n_attrs; a++) {
            const onyx_attr *at = &nd->attrs[a];
            if (at->type == ATTR_GRAPH) n += names_in(at->g);
            for (int k = 0; at->type == ATTR_GRAPHS && k < at->n; k++) n += names_in(at->graphs[k]);
        }
    }
    return n;
}

static bool counts_init(const onyx_graph *g, ge_name_counts *nc)
{
    size_t want = names_in(g) * 2 + 16, size = 16;
    while (size < want) size *= 2;
    nc->size = (int)size;
    nc->name = calloc(size, sizeof *nc->name);
    nc->count = calloc(size, sizeof *nc->count);
    if (nc->name && nc->count) return true;
    ge_name_counts_free(nc);
    return false;
}

static void add_reads(const onyx_graph *g, ge_name_counts *nc)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const onyx_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) add_name(nc, n->inputs[k]);
        for (int a = 0; a < n->n_attrs; a++) {
            const onyx_attr *at = &n->attrs[a];
            if (at->type == ATTR_GRAPH) add_reads(at->g, nc);
            for (int k = 0; at->type == ATTR_GRAPHS && k < at->n; k++) add_reads(at->graphs[k], nc);
        }
    }
    for (int i = 0; i < g->n_outputs; i++) add_name(nc, g->outputs[i].name);
}

bool ge_count_reads(const onyx_graph *g, ge_name_counts *nc)
{
    if (!counts_init(g, nc)) return false;
    add_reads(g, nc);
    return true;
}

bool ge_count_outputs(const onyx_graph *g, ge_name_counts *nc)
{
    if (!counts_init(g, nc)) return false;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++) add_name(nc, g->nodes[i].outputs[k]);
    return true;
}

void ge_name_counts_free(ge_name_counts *nc)
{
    free(nc->name);
    free(nc->count);
    nc->name = NULL;
    nc->count = NULL;
    nc->size = 0;
}

static void replace_in_graph(onyx_graph *g, const char *old, const char *new_name)
{
    for (int i = 0; i < g->n_nodes; i++) {
        onyx_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs; k++)
            if (!strcmp(n->inputs[k], old)) n->inputs[k] = new_name;
        for (int a = 0; a < n->n_attrs; a++) {
            onyx_attr *at = &n->attrs[a];
            if (at->type == ATTR_GRAPH) replace_in_graph(at->g, old, new_name);
            for (int s = 0; at->type == ATTR_GRAPHS && s < at->n; s++) replace_in_graph(at->graphs[s], old, new_name);
        }
    }
}

void ge_replace_uses(onyx_graph *g, const char *old, const char *new_name)
{
    replace_in_graph(g, old, new_name);
    for (int i = 0; i < g->n_outputs; i++)
        if (!strcmp(g->outputs[i].name, old)) g->outputs[i].name = new_name;
}

static bool name_taken(const onyx_graph *g, const char *name)
{
    for (int i = 0; i < g->n_inits; i++)
        if (!strcmp(g->init_names[i], name)) return true;
    for (int i = 0; i < g->n_inputs; i++)
        if (!strcmp(g->inputs[i].name, name)) return true;
    for (int i = 0; i < g->n_nodes; i++) {
        const onyx_node *n = &g->nodes[i];
        if (!strcmp(n->name, name)) return true;
        for (int k = 0; k < n->n_outputs; k++)
            if (!strcmp(n->outputs[k], name)) return true;
        for (int a = 0; a < n->n_attrs; a++) {
            const onyx_attr *at = &n->attrs[a];
            if (at->type == ATTR_GRAPH && name_taken(at->g, name)) return true;
            for (int s = 0; at->type == ATTR_GRAPHS && s < at->n; s++)
                if (name_taken(at->graphs[s], name)) return true;
        }
    }
    return false;
}

/* Every name name_taken looks at, into nc. */
static void add_names(const onyx_graph *g, ge_name_counts *nc)
{
    for (int i = 0; i < g->n_inits; i++) add_name(nc, g->init_names[i]);
    for (int i = 0; i < g->n_inputs; i++) add_name(nc, g->inputs[i].name);
    for (int i = 0; i < g->n_nodes; i++) {
        const onyx_node *n = &g->nodes[i];
        add_name(nc, n->name);
        for (int k = 0; k < n->n_outputs; k++) add_name(nc, n->outputs[k]);
        for (int a = 0; a < n->n_attrs; a++) {
            const onyx_attr *at = &n->attrs[a];
            if (at->type == ATTR_GRAPH) add_names(at->g, nc);
            for (int s = 0; at->type == ATTR_GRAPHS && s < at->n; s++) add_names(at->graphs[s], nc);
        }
    }
}

const char *ge_unique_name(onyx_model *m, const char *base)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", base);
    if (name_taken(m->graph, buf)) {
        /* base_1, base_2, ...: a pass naming many values after one base would
         * otherwise scan the graph once per number tried */
        ge_name_counts nc;
        bool indexed = counts_init(m->graph, &nc);
        if (indexed) add_names(m->graph, &nc);
        for (int i = 1;; i++) {
            snprintf(buf, sizeof buf, "%.480s_%d", base, i);
            if (indexed ? !ge_name_count(&nc, buf) : !name_taken(m->graph, buf)) break;
        }
        if (indexed) ge_name_counts_free(&nc);
    }
    return pool_strndup(&m->pool, buf, strlen(buf));
}

onyx_node *ge_add_node(onyx_model *m, onyx_graph *g, const char *op_type, const char *domain,
                       const char *name, int n_in, const char *const *ins, int n_out,
                       const char *const *outs)
{
    /* grown by doubling (a pass adding hundreds of nodes must not copy the
     * list each time), unless another editor replaced the array */
    onyx_node *nodes = g->nodes;
    if (g->nodes != g->nodes_grown || g->n_nodes >= g->nodes_cap) {
        int cap = g->n_nodes < 8 ? 16 : 2 * g->n_nodes;
        if (!(nodes = pool_array(&m->pool, (size_t)cap, sizeof *nodes))) return NULL;
        if (g->n_nodes) memcpy(nodes, g->nodes, (size_t)g->n_nodes * sizeof *nodes);
        g->nodes = g->nodes_grown = nodes;
        g->nodes_cap = cap;
    }
    const char **in = pool_array(&m->pool, (size_t)n_in + 1, sizeof *in);
    const char **out = pool_array(&m->pool, (size_t)n_out + 1, sizeof *out);
    if (!in || !out) return NULL;
    for (int i = 0; i < n_in; i++) in[i] = ins[i];
    for (int i = 0; i < n_out; i++) out[i] = outs[i];
    onyx_node *n = &nodes[g->n_nodes];
    memset(n, 0, sizeof *n); /* the slot may hold a node compacted away */
    n->name = name ? name : "";
    n->op_type = op_type;
    n->domain = domain ? domain : "";
    n->n_inputs = n_in;
    n->inputs = in;
    n->n_outputs = n_out;
    n->outputs = out;
    g->n_nodes++;
    return n;
}

bool ge_set_input(onyx_model *m, onyx_node *n, int i, const char *name)
{
    if (i >= n->n_inputs) {
        const char **in = pool_array(&m->pool, (size_t)i + 1, sizeof *in);
        if (!in) return false;
        for (int k = 0; k <= i; k++) in[k] = k < n->n_inputs ? n->inputs[k] : "";
        n->inputs = in;
        n->n_inputs = i + 1;
    }
    n->inputs[i] = name;
    return true;
}

/* ---------------------------------------------------------------- attributes */

const onyx_attr *ge_attr(const onyx_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

int64_t ge_attr_int(const onyx_node *n, const char *name, int64_t def)
{
    const onyx_attr *a = ge_attr(n, name);
    return a && a->type == ATTR_INT ? a->i : def;
}

float ge_attr_float(const onyx_node *n, const char *name, float def)
{
    const onyx_attr *a = ge_attr(n, name);
    return a && a->type == ATTR_FLOAT ? a->f : def;
}

const char *ge_attr_string(const onyx_node *n, const char *name, const char *def)
{
    const onyx_attr *a = ge_attr(n, name);
    return a && a->type == ATTR_STRING ? a->s : def;
}

/* The attribute slot called name on n (appended, zeroed, when missing). */
static onyx_attr *attr_slot(onyx_model *m, onyx_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) {
            memset(&n->attrs[i], 0, sizeof n->attrs[i]);
            n->attrs[i].name = name;
            return &n->attrs[i];
        }
    onyx_attr *attrs = pool_array(&m->pool, (size_t)n->n_attrs + 1, sizeof *attrs);
    if (!attrs) return NULL;
    if (n->n_attrs) memcpy(attrs, n->attrs, (size_t)n->n_attrs * sizeof *attrs);
    n->attrs = attrs;
    onyx_attr *a = &attrs[n->n_attrs++];
    a->name = pool_strndup(&m->pool, name, strlen(name));
    return a->name ? a : NULL;
}

bool ge_set_attr_int(onyx_model *m, onyx_node *n, const char *name, int64_t v)
{
    onyx_attr *a = attr_slot(m, n, name);
    if (!a) return false;
    a->type = ATTR_INT;
    a->i = v;
    return true;
}

bool ge_set_attr_float(onyx_model *m, onyx_node *n, const char *name, float v)
{
    onyx_attr *a = attr_slot(m, n, name);
    if (!a) return false;
    a->type = ATTR_FLOAT;
    a->f = v;
    return true;
}

bool ge_set_attr_string(onyx_model *m, onyx_node *n, const char *name, const char *v)
{
    onyx_attr *a = attr_slot(m, n, name);
    if (!a) return false;
    a->type = ATTR_STRING;
    a->s_len = strlen(v);
    a->s = pool_strndup(&m->pool, v, a->s_len);
    return a->s != NULL;
}

bool ge_set_attr_floats(onyx_model *m, onyx_node *n, const char *name, int count, const float *v)
{
    onyx_attr *a = attr_slot(m, n, name);
    if (!a) return false;
    a->type = ATTR_FLOATS;
    a->n = count;
    if (!(a->floats = pool_array(&m->pool, (size_t)count + 1, sizeof(float)))) return false;
    if (count) memcpy(a->floats, v, (size_t)count * sizeof(float));
    return true;
}

bool ge_set_attr_ints(onyx_model *m, onyx_node *n, const char *name, int count, const int64_t *v)
{
    onyx_attr *a = attr_slot(m, n, name);
    if (!a) return false;
    a->type = ATTR_INTS;
    a->n = count;
    if (!(a->ints = pool_array(&m->pool, (size_t)count + 1, sizeof(int64_t)))) return false;
    if (count) memcpy(a->ints, v, (size_t)count * sizeof(int64_t));
    return true;
}

bool ge_copy_attr(onyx_model *m, onyx_node *n, const onyx_attr *src)
{
    onyx_attr copy = *src; /* src may live in n->attrs, which attr_slot may move */
    onyx_attr *a = attr_slot(m, n, copy.name);
    if (!a) return false;
    *a = copy; /* the data it points to is in the pool and never freed alone */
    return true;
}

void ge_remove_attr(onyx_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) {
            memmove(&n->attrs[i], &n->attrs[i + 1], (size_t)(n->n_attrs - i - 1) * sizeof *n->attrs);
            n->n_attrs--;
            return;
        }
}

/* ---------------------------------------------------------------- initializers */

onyx_tensor *ge_new_tensor(onyx_model *m, onyx_dtype dtype, int rank, const int64_t *dims)
{
    int64_t n = tensor_numel_of(rank, dims);
    size_t es = onyx_dtype_size(dtype);
    if (n < 0 || !es || dtype == ONYX_STRING || n > ONYX_MAX_TENSOR_BYTES / (int64_t)es) return NULL;
    onyx_tensor *t = pool_alloc(&m->pool, sizeof *t);
    if (!t) return NULL;
    t->kind = ONYX_KIND_TENSOR;
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->nbytes = (size_t)n * es;
    t->data = pool_alloc(&m->pool, t->nbytes ? t->nbytes : 1);
    return t->data ? t : NULL;
}

const char *ge_add_init(onyx_model *m, onyx_graph *g, const char *base, const onyx_tensor *t)
{
    const char *name = ge_unique_name(m, base);
    if (!name) return NULL;
    /* grown by doubling (a pass adding hundreds of constants must not copy the
     * list each time), unless another editor replaced the arrays */
    bool ours = g->inits == g->inits_grown && g->init_names == g->names_grown && g->n_inits < g->inits_cap;
    if (!ours) {
        int cap = g->n_inits < 8 ? 16 : 2 * g->n_inits;
        onyx_tensor *inits = pool_array(&m->pool, (size_t)cap, sizeof *inits);
        const char **names = pool_array(&m->pool, (size_t)cap, sizeof *names);
        if (!inits || !names) return NULL;
        if (g->n_inits) {
            memcpy(inits, g->inits, (size_t)g->n_inits * sizeof *inits);
            memcpy(names, g->init_names, (size_t)g->n_inits * sizeof *names);
        }
        g->inits = g->inits_grown = inits;
        g->init_names = g->names_grown = names;
        g->inits_cap = cap;
    }
    g->inits[g->n_inits] = *t;
    g->inits[g->n_inits].owns_data = false;
    g->init_names[g->n_inits] = name;
    g->n_inits++;
    return name;
}

/* ---------------------------------------------------------------- structure */

int ge_live_nodes(const onyx_graph *g)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++) c += !ge_dead(&g->nodes[i]);
    return c;
}

bool ge_compact(onyx_model *m, onyx_graph *g)
{
    (void)m;
    int w = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!ge_dead(&g->nodes[i])) g->nodes[w++] = g->nodes[i];
    g->n_nodes = w;
    ge_name_counts reads, outs;
    if (!ge_count_reads(g, &reads)) return false;
    if (!ge_count_outputs(g, &outs)) {
        ge_name_counts_free(&reads);
        return false;
    }
    w = 0;
    for (int i = 0; i < g->n_inits; i++) {
        /* initializers that are also graph inputs are part of the interface */
        if (!ge_name_count(&reads, g->init_names[i]) && !ge_is_graph_input(g, g->init_names[i])) {
            if (g->inits[i].wsrc) weights_drop(g->inits[i].wsrc); /* its copy and pages go now */
            continue;
        }
        g->inits[w] = g->inits[i];
        g->init_names[w++] = g->init_names[i];
    }
    g->n_inits = w;
    w = 0;
    for (int i = 0; i < g->n_value_info; i++) {
        const char *nm = g->value_info[i].name;
        if (!ge_name_count(&outs, nm) && !ge_is_graph_input(g, nm)) continue;
        g->value_info[w++] = g->value_info[i];
    }
    g->n_value_info = w;
    ge_name_counts_free(&reads);
    ge_name_counts_free(&outs);
    return true;
}

typedef struct edge_list {
    int n, cap;
    int (*e)[2]; /* producer, consumer */
} edge_list;

typedef struct name_index {
    int size;    /* power of two */
    int *slot;   /* node index + 1, 0 empty */
    const char **name;
} name_index;

static int index_find(const name_index *ix, const char *name)
{
    for (uint32_t i = hash_name(name) & (uint32_t)(ix->size - 1);; i = (i + 1) & (uint32_t)(ix->size - 1)) {
        if (!ix->slot[i]) return -1;
        if (!strcmp(ix->name[i], name)) return ix->slot[i] - 1;
    }
}

static bool add_edge(edge_list *el, int from, int to)
{
    if (from < 0 || from == to) return true;
    if (el->n == el->cap) {
        int nc = el->cap ? el->cap * 2 : 256;
        int (*ne)[2] = realloc(el->e, (size_t)nc * sizeof *ne);
        if (!ne) return false;
        el->e = ne;
        el->cap = nc;
    }
    el->e[el->n][0] = from;
    el->e[el->n][1] = to;
    el->n++;
    return true;
}

/* Edges from the producers of every name node `to` reads in subgraph g. */
static bool subgraph_edges(const onyx_graph *g, const name_index *ix, edge_list *el, int to)
{
    bool ok = true;
    for (int i = 0; i < g->n_nodes && ok; i++) {
        const onyx_node *n = &g->nodes[i];
        for (int k = 0; k < n->n_inputs && ok; k++)
            if (n->inputs[k][0]) ok = add_edge(el, index_find(ix, n->inputs[k]), to);
        for (int a = 0; a < n->n_attrs && ok; a++) {
            const onyx_attr *at = &n->attrs[a];
            if (at->type == ATTR_GRAPH) ok = subgraph_edges(at->g, ix, el, to);
            for (int sg = 0; at->type == ATTR_GRAPHS && sg < at->n && ok; sg++) ok = subgraph_edges(at->graphs[sg], ix, el, to);
        }
    }
    for (int i = 0; i < g->n_outputs && ok; i++) ok = add_edge(el, index_find(ix, g->outputs[i].name), to);
    return ok;
}

bool ge_toposort(onyx_graph *g)
{
    int n = g->n_nodes;
    if (n == 0) return true;
    size_t outs = 0;
    for (int i = 0; i < n; i++) outs += (size_t)g->nodes[i].n_outputs;
    name_index ix = {16, NULL, NULL};
    while ((size_t)ix.size < outs * 2 + 16) ix.size *= 2;
    ix.slot = calloc((size_t)ix.size, sizeof *ix.slot);
    ix.name = calloc((size_t)ix.size, sizeof *ix.name);
    edge_list el = {0};
    int *indeg = calloc((size_t)n, sizeof *indeg), *order = malloc((size_t)n * sizeof *order);
    int *first = calloc((size_t)n + 1, sizeof *first), *adj = NULL;
    bool *done = calloc((size_t)n, 1);
    onyx_node *sorted = malloc((size_t)n * sizeof *sorted);
    bool ok = ix.slot && ix.name && indeg && order && first && done && sorted;
    for (int i = 0; i < n && ok; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++) {
            const char *nm = g->nodes[i].outputs[k];
            if (!nm[0]) continue;
            uint32_t h = hash_name(nm) & (uint32_t)(ix.size - 1);
            while (ix.slot[h] && strcmp(ix.name[h], nm)) h = (h + 1) & (uint32_t)(ix.size - 1);
            if (!ix.slot[h]) ix.slot[h] = i + 1, ix.name[h] = nm;
        }
    for (int i = 0; i < n && ok; i++) {
        const onyx_node *nd = &g->nodes[i];
        for (int k = 0; k < nd->n_inputs && ok; k++)
            if (nd->inputs[k][0]) ok = add_edge(&el, index_find(&ix, nd->inputs[k]), i);
        for (int a = 0; a < nd->n_attrs && ok; a++) {
            const onyx_attr *at = &nd->attrs[a];
            if (at->type == ATTR_GRAPH) ok = subgraph_edges(at->g, &ix, &el, i);
            for (int sg = 0; at->type == ATTR_GRAPHS && sg < at->n && ok; sg++) ok = subgraph_edges(at->graphs[sg], &ix, &el, i);
        }
    }
    /* consumers of each node, grouped by producer */
    if (ok && !(adj = malloc(((size_t)el.n + 1) * sizeof *adj))) ok = false;
    for (int e = 0; ok && e < el.n; e++) first[el.e[e][0] + 1]++, indeg[el.e[e][1]]++;
    for (int i = 0; ok && i < n; i++) first[i + 1] += first[i];
    int *fill = ok ? calloc((size_t)n, sizeof *fill) : NULL;
    if (ok && !fill) ok = false;
    for (int e = 0; ok && e < el.n; e++) adj[first[el.e[e][0]] + fill[el.e[e][0]]++] = el.e[e][1];
    /* Kahn's algorithm taking the lowest ready index, so a sorted graph keeps its order */
    int got = 0;
    while (ok && got < n) {
        int pick = -1;
        for (int i = 0; i < n && pick < 0; i++)
            if (!done[i] && indeg[i] == 0) pick = i;
        if (pick < 0) {
            ok = false;
            break;
        }
        done[pick] = true;
        order[got++] = pick;
        for (int e = first[pick]; e < first[pick + 1]; e++) indeg[adj[e]]--;
    }
    if (ok) {
        for (int i = 0; i < n; i++) sorted[i] = g->nodes[order[i]];
        memcpy(g->nodes, sorted, (size_t)n * sizeof *sorted);
    }
    free(ix.slot), free(ix.name), free(el.e), free(indeg), free(order), free(first), free(adj), free(fill);
    free(done), free(sorted);
    return ok;
}

bool ge_import_domain(onyx_model *m, const char *domain, int64_t version)
{
    if (model_opset(m, domain)) return true;
    const char **d = pool_array(&m->pool, (size_t)m->n_opsets + 1, sizeof *d);
    int64_t *v = pool_array(&m->pool, (size_t)m->n_opsets + 1, sizeof *v);
    if (!d || !v) return false;
    if (m->n_opsets) {
        memcpy(d, m->opset_domains, (size_t)m->n_opsets * sizeof *d);
        memcpy(v, m->opset_versions, (size_t)m->n_opsets * sizeof *v);
    }
    d[m->n_opsets] = domain;
    v[m->n_opsets] = version;
    m->opset_domains = d;
    m->opset_versions = v;
    m->n_opsets++;
    return true;
}
