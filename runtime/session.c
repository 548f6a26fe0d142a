/* session.c - binds a model's nodes to operator kernels and runs them.
 *
 * Session creation compiles each graph (and every subgraph) into an exec_graph:
 * value slots named once, nodes bound to kernels and put in topological order,
 * the last use of every slot known so intermediate values are freed as soon as
 * nothing needs them. A run fills a frame of slots; subgraphs (If/Loop/Scan
 * bodies) run in child frames that see their ancestors' values by reference. */
#include "graph.h"
#include "threads.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum slot_src { SLOT_NODE, SLOT_INIT, SLOT_INPUT, SLOT_OUTER };

typedef struct exec_node {
    const onyx_node *node;
    const onyx_op_def *op;
    int opset;
    int *in;        /* slot per input, -1 omitted */
    int *out;       /* slot per output, -1 omitted */
    void *state;    /* from op->prepare */
} exec_node;

typedef struct exec_graph exec_graph;
struct exec_graph {
    const onyx_graph *g;
    exec_graph *parent;
    int owner;                  /* index (file order) of the node in parent that owns g */
    int n_slots;
    const char **names;
    unsigned char *src;         /* enum slot_src */
    int *src_idx;               /* init index / input index / outer depth */
    int *outer_slot;            /* for SLOT_OUTER: slot in the ancestor frame */
    int *init_of;               /* SLOT_INPUT: default initializer index or -1 */
    int *table;                 /* name hash table: slot+1, 0 empty */
    int table_size;
    int n_nodes;
    exec_node *nodes;           /* topological order */
    int *input_slots, *output_slots;
    int *last_use;              /* position of the last node reading the slot; INT32_MAX keep */
    int n_children;
    exec_graph **children;
    /* uses of this graph's slots by subgraphs: node (file order) -> slot */
    int n_implicit, cap_implicit;
    int (*implicit)[2];
};

struct onyx_session {
    const onyx_model *model;
    onyx_threads *threads;
    onyx_node_observer observer;
    void *observer_ud;
#ifdef ONYX_TEST_HOOKS
    const char *fault_node; /* ONYX_TEST_FAULT: node (or first output) name whose output is perturbed */
#endif
    onyx_pool pool;
    exec_graph *root;
    onyx_tensor *outputs;
    int n_outputs;
};

typedef struct frame {
    exec_graph *eg;
    struct frame *parent;
    onyx_tensor *vals;
    onyx_session *s;
} frame;

static onyx_status fail(onyx_error *err, onyx_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static onyx_status fail(onyx_error *err, onyx_status code, const char *fmt, ...)
{
    if (err && err->code == ONYX_OK) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---------------------------------------------------------------- names */

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

static int lookup(const exec_graph *eg, const char *name)
{
    uint32_t mask = (uint32_t)eg->table_size - 1;
    for (uint32_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        int v = eg->table[i];
        if (!v) return -1;
        if (!strcmp(eg->names[v - 1], name)) return v - 1;
    }
}

/* Adds name as a new slot (or returns the existing one). */
static int add_slot(exec_graph *eg, const char *name, enum slot_src src, int idx, bool *existed)
{
    int s = lookup(eg, name);
    if (existed) *existed = s >= 0;
    if (s >= 0) return s;
    s = eg->n_slots++;
    eg->names[s] = name;
    eg->src[s] = (unsigned char)src;
    eg->src_idx[s] = idx;
    eg->init_of[s] = -1;
    uint32_t mask = (uint32_t)eg->table_size - 1;
    uint32_t i = hash_name(name) & mask;
    while (eg->table[i]) i = (i + 1) & mask;
    eg->table[i] = s + 1;
    return s;
}

static const char *node_label(const onyx_node *n, char *buf, size_t len)
{
    if (n->name[0]) snprintf(buf, len, "node '%s' (%s)", n->name, n->op_type);
    else snprintf(buf, len, "node producing '%s' (%s)", n->n_outputs ? n->outputs[0] : "?", n->op_type);
    return buf;
}

/* ---------------------------------------------------------------- compile */

static onyx_status compile_graph(onyx_session *s, const onyx_graph *g, exec_graph *parent, int owner,
                                 exec_graph **out, onyx_error *err);

static bool add_implicit(onyx_pool *p, exec_graph *eg, int node, int slot)
{
    if (eg->n_implicit == eg->cap_implicit) {
        int nc = eg->cap_implicit ? eg->cap_implicit * 2 : 16;
        int (*n)[2] = pool_array(p, (size_t)nc, sizeof *n);
        if (!n) return false;
        if (eg->n_implicit) memcpy(n, eg->implicit, (size_t)eg->n_implicit * sizeof *n);
        eg->implicit = n;
        eg->cap_implicit = nc;
    }
    eg->implicit[eg->n_implicit][0] = node;
    eg->implicit[eg->n_implicit][1] = slot;
    eg->n_implicit++;
    return true;
}

/* Resolves name in the ancestors of eg; records the use in the ancestor so it
 * keeps the value alive and orders the owning node after its producer. */
static int resolve_outer(onyx_pool *p, exec_graph *eg, const char *name, int *depth)
{
    exec_graph *child = eg;
    int d = 1;
    for (exec_graph *a = eg->parent; a; a = a->parent, d++) {
        int s = lookup(a, name);
        if (s >= 0) {
            if (!add_implicit(p, a, child->owner, s)) return -2;
            *depth = d;
            return s;
        }
        child = a;
    }
    return -1;
}

static onyx_status compile_graph(onyx_session *s, const onyx_graph *g, exec_graph *parent, int owner,
                                 exec_graph **out, onyx_error *err)
{
    onyx_pool *p = &s->pool;
    const onyx_model *m = s->model;
    char label[300];
    exec_graph *eg = pool_alloc(p, sizeof *eg);
    if (!eg) return fail(err, ONYX_E_NOMEM, "out of memory");
    eg->g = g;
    eg->parent = parent;
    eg->owner = owner;
    size_t max_slots = (size_t)g->n_inits + (size_t)g->n_inputs;
    for (int i = 0; i < g->n_nodes; i++) max_slots += (size_t)g->nodes[i].n_inputs + (size_t)g->nodes[i].n_outputs;
    for (int i = 0; i < g->n_outputs; i++) max_slots++;
    size_t ts = 16;
    while (ts < max_slots * 2) ts *= 2;
    eg->table_size = (int)ts;
    if (!(eg->names = pool_array(p, max_slots, sizeof(char *))) || !(eg->src = pool_alloc(p, max_slots)) ||
        !(eg->src_idx = pool_array(p, max_slots, sizeof(int))) || !(eg->init_of = pool_array(p, max_slots, sizeof(int))) ||
        !(eg->outer_slot = pool_array(p, max_slots, sizeof(int))) || !(eg->table = pool_array(p, ts, sizeof(int))) ||
        !(eg->input_slots = pool_array(p, (size_t)g->n_inputs, sizeof(int))) ||
        !(eg->output_slots = pool_array(p, (size_t)g->n_outputs, sizeof(int))) ||
        !(eg->nodes = pool_array(p, (size_t)g->n_nodes, sizeof(exec_node))))
        return fail(err, ONYX_E_NOMEM, "out of memory");

    for (int i = 0; i < g->n_inits; i++) {
        bool existed;
        add_slot(eg, g->init_names[i], SLOT_INIT, i, &existed);
        if (existed) return fail(err, ONYX_E_INVALID, "initializer '%s' is defined twice", g->init_names[i]);
    }
    for (int i = 0; i < g->n_inputs; i++) {
        int sl = lookup(eg, g->inputs[i].name);
        if (sl >= 0) { /* an input with a default value */
            eg->init_of[sl] = eg->src_idx[sl];
            eg->src[sl] = SLOT_INPUT;
            eg->src_idx[sl] = i;
        } else {
            sl = add_slot(eg, g->inputs[i].name, SLOT_INPUT, i, NULL);
        }
        eg->input_slots[i] = sl;
    }
    /* node outputs: each name produced once */
    int *producer = calloc(max_slots ? max_slots : 1, sizeof *producer);
    if (!producer) return fail(err, ONYX_E_NOMEM, "out of memory");
    for (size_t i = 0; i < max_slots; i++) producer[i] = -1;
    onyx_status st = ONYX_OK;
    for (int i = 0; i < g->n_nodes && st == ONYX_OK; i++) {
        const onyx_node *n = &g->nodes[i];
        exec_node *en = &eg->nodes[i];
        en->node = n;
        if (!(en->out = pool_array(p, (size_t)n->n_outputs, sizeof(int))) ||
            !(en->in = pool_array(p, (size_t)n->n_inputs, sizeof(int)))) {
            st = fail(err, ONYX_E_NOMEM, "out of memory");
            break;
        }
        for (int o = 0; o < n->n_outputs; o++) {
            if (!n->outputs[o][0]) {
                en->out[o] = -1;
                continue;
            }
            bool existed;
            int sl = add_slot(eg, n->outputs[o], SLOT_NODE, i, &existed);
            if (existed) {
                st = fail(err, ONYX_E_INVALID, "%s: output '%s' is already produced elsewhere in the graph",
                          node_label(n, label, sizeof label), n->outputs[o]);
                break;
            }
            producer[sl] = i;
            en->out[o] = sl;
        }
    }
    /* node inputs: local, or from an enclosing graph */
    for (int i = 0; i < g->n_nodes && st == ONYX_OK; i++) {
        const onyx_node *n = &g->nodes[i];
        exec_node *en = &eg->nodes[i];
        for (int k = 0; k < n->n_inputs; k++) {
            if (!n->inputs[k][0]) {
                en->in[k] = -1;
                continue;
            }
            int sl = lookup(eg, n->inputs[k]);
            if (sl < 0) {
                int depth, os = resolve_outer(p, eg, n->inputs[k], &depth);
                if (os == -2) { st = fail(err, ONYX_E_NOMEM, "out of memory"); break; }
                if (os < 0) {
                    st = fail(err, ONYX_E_INVALID, "%s: input '%s' is not produced by any node, initializer or graph input",
                              node_label(n, label, sizeof label), n->inputs[k]);
                    break;
                }
                sl = add_slot(eg, n->inputs[k], SLOT_OUTER, depth, NULL);
                eg->outer_slot[sl] = os;
            }
            en->in[k] = sl;
        }
        if (st != ONYX_OK) break;
        int64_t opset = model_opset(m, n->domain);
        en->opset = (int)opset;
        en->op = onyx_find_op(n->domain, n->op_type);
        if (!en->op)
            st = fail(err, ONYX_E_UNSUPPORTED, "%s: operator '%s%s%s' is not supported by onyx",
                      node_label(n, label, sizeof label), n->domain, n->domain[0] ? "." : "", n->op_type);
        else if (opset == 0 && n->domain[0])
            st = fail(err, ONYX_E_INVALID, "%s: domain '%s' is not imported by the model",
                      node_label(n, label, sizeof label), n->domain);
    }
    for (int i = 0; i < g->n_outputs && st == ONYX_OK; i++) {
        int sl = lookup(eg, g->outputs[i].name);
        if (sl < 0) {
            int depth, os = resolve_outer(p, eg, g->outputs[i].name, &depth);
            if (os < 0) {
                st = fail(err, ONYX_E_INVALID, "graph output '%s' is not produced by any node, initializer or input", g->outputs[i].name);
                break;
            }
            sl = add_slot(eg, g->outputs[i].name, SLOT_OUTER, depth, NULL);
            eg->outer_slot[sl] = os;
        }
        eg->output_slots[i] = sl;
    }
    /* subgraphs, after this graph's names are known */
    int n_sub = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++) {
            const onyx_attr *at = &g->nodes[i].attrs[a];
            n_sub += at->type == ATTR_GRAPH ? 1 : at->type == ATTR_GRAPHS ? at->n : 0;
        }
    if (st == ONYX_OK && !(eg->children = pool_array(p, (size_t)n_sub, sizeof(exec_graph *))))
        st = fail(err, ONYX_E_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes && st == ONYX_OK; i++)
        for (int a = 0; a < g->nodes[i].n_attrs && st == ONYX_OK; a++) {
            const onyx_attr *at = &g->nodes[i].attrs[a];
            if (at->type == ATTR_GRAPH)
                st = compile_graph(s, at->g, eg, i, &eg->children[eg->n_children++], err);
            for (int k = 0; at->type == ATTR_GRAPHS && k < at->n && st == ONYX_OK; k++)
                st = compile_graph(s, at->graphs[k], eg, i, &eg->children[eg->n_children++], err);
        }
    if (st != ONYX_OK) {
        free(producer);
        return st;
    }

    /* Kahn's algorithm, taking ready nodes in file order so a sorted file keeps its order */
    int nn = g->n_nodes;
    int *indeg = calloc((size_t)nn + 1, sizeof *indeg), *order = malloc(((size_t)nn + 1) * sizeof *order);
    int *pos = malloc(((size_t)nn + 1) * sizeof *pos);
    bool *done = calloc((size_t)nn + 1, 1);
    if (!indeg || !order || !pos || !done) {
        free(indeg), free(order), free(pos), free(done), free(producer);
        return fail(err, ONYX_E_NOMEM, "out of memory");
    }
    for (int i = 0; i < nn; i++) {
        for (int k = 0; k < g->nodes[i].n_inputs; k++) {
            int sl = eg->nodes[i].in[k];
            if (sl >= 0 && producer[sl] >= 0) indeg[i]++;
        }
    }
    for (int k = 0; k < eg->n_implicit; k++)
        if (producer[eg->implicit[k][1]] >= 0) indeg[eg->implicit[k][0]]++;
    int n_order = 0, scan = 0;
    while (n_order < nn) {
        int pick = -1;
        for (int i = scan; i < nn; i++)
            if (!done[i] && indeg[i] == 0) { pick = i; break; }
        if (pick < 0) {
            for (int i = 0; i < scan && pick < 0; i++)
                if (!done[i] && indeg[i] == 0) pick = i;
        }
        if (pick < 0) {
            for (int i = 0; i < nn; i++)
                if (!done[i]) {
                    st = fail(err, ONYX_E_INVALID, "the graph has a cycle (or an input used before it is produced) at %s",
                              node_label(&g->nodes[i], label, sizeof label));
                    break;
                }
            break;
        }
        done[pick] = true;
        scan = pick;
        pos[pick] = n_order;
        order[n_order++] = pick;
        /* release consumers of pick's outputs */
        for (int o = 0; o < g->nodes[pick].n_outputs; o++) {
            int sl = eg->nodes[pick].out[o];
            if (sl < 0) continue;
            for (int i = 0; i < nn; i++)
                for (int k = 0; k < g->nodes[i].n_inputs; k++)
                    if (eg->nodes[i].in[k] == sl) indeg[i]--;
            for (int k = 0; k < eg->n_implicit; k++)
                if (eg->implicit[k][1] == sl) indeg[eg->implicit[k][0]]--;
        }
    }
    if (st == ONYX_OK) {
        exec_node *sorted = pool_array(p, (size_t)nn, sizeof *sorted);
        if (!(eg->last_use = pool_array(p, (size_t)eg->n_slots, sizeof(int))) || !sorted) {
            st = fail(err, ONYX_E_NOMEM, "out of memory");
        } else {
            for (int i = 0; i < nn; i++) sorted[i] = eg->nodes[order[i]];
            for (int sl = 0; sl < eg->n_slots; sl++) eg->last_use[sl] = -1;
            for (int i = 0; i < nn; i++)
                for (int k = 0; k < sorted[i].node->n_inputs; k++)
                    if (sorted[i].in[k] >= 0 && eg->last_use[sorted[i].in[k]] < i) eg->last_use[sorted[i].in[k]] = i;
            for (int k = 0; k < eg->n_implicit; k++) {
                int at = pos[eg->implicit[k][0]], sl = eg->implicit[k][1];
                if (eg->last_use[sl] < at) eg->last_use[sl] = at;
            }
            for (int i = 0; i < g->n_outputs; i++) eg->last_use[eg->output_slots[i]] = INT32_MAX;
            eg->nodes = sorted;
            eg->n_nodes = nn;
        }
    }
    free(indeg), free(order), free(pos), free(done), free(producer);
    if (st == ONYX_OK) *out = eg;
    return st;
}

static void fill_kctx(onyx_kctx *k, const exec_node *en, onyx_error *kerr, onyx_threads *tp)
{
    const onyx_node *n = en->node;
    k->node_name = n->name;
    k->op_type = n->op_type;
    k->domain = n->domain;
    k->opset = en->opset;
    k->n_attrs = n->n_attrs;
    k->attrs = n->attrs;
    k->err = kerr;
    k->state = en->state;
    k->threads = tp;
}

/* Lets each kernel do its once-per-session work (weight packing and the like),
 * seeing only the inputs that are initializers. */
static onyx_status prepare_graph(onyx_session *s, exec_graph *eg, onyx_error *err)
{
    char label[300];
    for (int i = 0; i < eg->n_nodes; i++) {
        exec_node *en = &eg->nodes[i];
        if (!en->op->prepare) continue;
        const onyx_node *n = en->node;
        const onyx_tensor **ins = calloc((size_t)n->n_inputs + 1, sizeof *ins);
        if (!ins) return fail(err, ONYX_E_NOMEM, "out of memory");
        for (int k = 0; k < n->n_inputs; k++) {
            int sl = en->in[k];
            if (sl >= 0 && eg->src[sl] == SLOT_INIT) ins[k] = &eg->g->inits[eg->src_idx[sl]];
        }
        onyx_error kerr = {0};
        onyx_kctx k = {0};
        fill_kctx(&k, en, &kerr, s->threads);
        k.n_inputs = n->n_inputs;
        k.inputs = ins;
        onyx_status ks = en->op->prepare(&k, &en->state);
        free(ins);
        if (ks != ONYX_OK)
            return fail(err, ks, "%s, opset %d: %s", node_label(n, label, sizeof label), en->opset,
                        kerr.message[0] ? kerr.message : onyx_status_name(ks));
    }
    for (int c = 0; c < eg->n_children; c++) {
        onyx_status st = prepare_graph(s, eg->children[c], err);
        if (st != ONYX_OK) return st;
    }
    return ONYX_OK;
}

static void release_graph(exec_graph *eg)
{
    for (int i = 0; i < eg->n_nodes; i++)
        if (eg->nodes[i].state && eg->nodes[i].op->release) eg->nodes[i].op->release(eg->nodes[i].state);
    for (int c = 0; c < eg->n_children; c++) release_graph(eg->children[c]);
}

onyx_status onyx_session_create(const onyx_model *m, const onyx_session_options *opt,
                                onyx_session **out, onyx_error *err)
{
    if (err) err->code = ONYX_OK, err->message[0] = 0;
    *out = NULL;
    onyx_session *s = calloc(1, sizeof *s);
    if (!s) return fail(err, ONYX_E_NOMEM, "out of memory");
    s->model = m;
    s->n_outputs = m->graph->n_outputs;
#ifdef ONYX_TEST_HOOKS
    s->fault_node = getenv("ONYX_TEST_FAULT");
#endif
    int threads = opt && opt->threads > 0 ? opt->threads : onyx_cpu_info()->cores;
    onyx_status st = compile_graph(s, m->graph, NULL, -1, &s->root, err);
    if (st == ONYX_OK && !(s->outputs = calloc((size_t)s->n_outputs + 1, sizeof *s->outputs)))
        st = fail(err, ONYX_E_NOMEM, "out of memory");
    if (st == ONYX_OK && !(s->threads = threads_create(threads)))
        st = fail(err, ONYX_E_NOMEM, "cannot start %d threads", threads);
    if (st == ONYX_OK) st = prepare_graph(s, s->root, err);
    if (st != ONYX_OK) {
        onyx_session_free(s);
        return st;
    }
    *out = s;
    return ONYX_OK;
}

void onyx_session_free(onyx_session *s)
{
    if (!s) return;
    for (int i = 0; s->outputs && i < s->n_outputs; i++) tensor_release(&s->outputs[i]);
    free(s->outputs);
    if (s->root) release_graph(s->root);
    threads_free(s->threads);
    pool_free(&s->pool);
    free(s);
}

/* ---------------------------------------------------------------- run */

static onyx_status run_graph(onyx_session *s, exec_graph *eg, frame *parent,
                             const onyx_tensor *const *inputs, onyx_tensor *outputs, onyx_error *err);

static onyx_status run_subgraph(onyx_kctx *k, onyx_graph *g, int n_in, const onyx_tensor *const *inputs,
                                int n_out, onyx_tensor *outputs)
{
    frame *f = k->exec;
    exec_graph *child = NULL;
    for (int i = 0; i < f->eg->n_children && !child; i++)
        if (f->eg->children[i]->g == g) child = f->eg->children[i];
    if (!child) return k_fail(k, ONYX_E_INVALID, "subgraph not found");
    if (n_in != g->n_inputs)
        return k_fail(k, ONYX_E_INVALID, "subgraph '%s' takes %d inputs, %d given", g->name, g->n_inputs, n_in);
    if (n_out != g->n_outputs)
        return k_fail(k, ONYX_E_INVALID, "subgraph '%s' has %d outputs, %d expected", g->name, g->n_outputs, n_out);
    onyx_error sub_err = {0};
    onyx_status st = run_graph(f->s, child, f, inputs, outputs, &sub_err);
    if (st != ONYX_OK) return k_fail(k, st, "in subgraph '%s': %s", g->name, sub_err.message);
    return ONYX_OK;
}

static const onyx_tensor *outer_value(frame *f, int depth, int slot)
{
    for (int d = 0; d < depth && f; d++) f = f->parent;
    return f ? &f->vals[slot] : NULL;
}

static onyx_status run_graph(onyx_session *s, exec_graph *eg, frame *parent,
                             const onyx_tensor *const *inputs, onyx_tensor *outputs, onyx_error *err)
{
    const onyx_graph *g = eg->g;
    char label[300];
    frame f = {eg, parent, calloc((size_t)eg->n_slots + 1, sizeof(onyx_tensor)), s};
    if (!f.vals) return fail(err, ONYX_E_NOMEM, "out of memory");
    onyx_status st = ONYX_OK;
    for (int sl = 0; sl < eg->n_slots && st == ONYX_OK; sl++) {
        switch (eg->src[sl]) {
        case SLOT_INIT: tensor_view(&f.vals[sl], &g->inits[eg->src_idx[sl]]); break;
        case SLOT_INPUT: {
            const onyx_tensor *in = inputs ? inputs[eg->src_idx[sl]] : NULL;
            if (in) tensor_view(&f.vals[sl], in);
            else if (eg->init_of[sl] >= 0) tensor_view(&f.vals[sl], &g->inits[eg->init_of[sl]]);
            else st = fail(err, ONYX_E_INVALID, "input '%s' was not given", eg->names[sl]);
            break;
        }
        case SLOT_OUTER: {
            const onyx_tensor *o = outer_value(parent, eg->src_idx[sl] - 1, eg->outer_slot[sl]);
            if (o) tensor_view(&f.vals[sl], o);
            break;
        }
        default: break;
        }
    }
    const onyx_tensor **ins = NULL;
    onyx_tensor **outs = NULL;
    int max_io = 1;
    for (int i = 0; i < eg->n_nodes; i++) {
        if (eg->nodes[i].node->n_inputs > max_io) max_io = eg->nodes[i].node->n_inputs;
        if (eg->nodes[i].node->n_outputs > max_io) max_io = eg->nodes[i].node->n_outputs;
    }
    if (st == ONYX_OK && (!(ins = malloc((size_t)max_io * sizeof *ins)) || !(outs = malloc((size_t)max_io * sizeof *outs))))
        st = fail(err, ONYX_E_NOMEM, "out of memory");
    for (int i = 0; i < eg->n_nodes && st == ONYX_OK; i++) {
        exec_node *en = &eg->nodes[i];
        const onyx_node *n = en->node;
        for (int k = 0; k < n->n_inputs; k++) {
            ins[k] = en->in[k] >= 0 ? &f.vals[en->in[k]] : NULL;
            if (ins[k] && ins[k]->kind == ONYX_KIND_TENSOR && ins[k]->dtype == ONYX_UNDEFINED) {
                st = fail(err, ONYX_E_INVALID, "%s: input '%s' has no value (the graph is not topologically sortable)",
                          node_label(n, label, sizeof label), n->inputs[k]);
                break;
            }
        }
        if (st != ONYX_OK) break;
        for (int k = 0; k < n->n_outputs; k++) outs[k] = en->out[k] >= 0 ? &f.vals[en->out[k]] : NULL;
        onyx_error kerr = {0};
        onyx_kctx k = {0};
        fill_kctx(&k, en, &kerr, s->threads);
        k.n_inputs = n->n_inputs;
        k.inputs = ins;
        k.n_outputs = n->n_outputs;
        k.outputs = outs;
        k.run_subgraph = run_subgraph;
        k.exec = &f;
        struct timespec t0, t1;
        bool observe = s->observer && !parent;
        if (observe) clock_gettime(CLOCK_MONOTONIC, &t0);
        onyx_status ks = en->op->run(&k);
        if (observe && ks == ONYX_OK) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            onyx_node_info info = {n->name, n->op_type, n->domain, n->n_inputs, n->inputs, n->n_outputs, n->outputs};
            s->observer(s->observer_ud, &info, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec),
                        n->n_inputs, ins, n->n_outputs, (const onyx_tensor *const *)outs);
        }
        for (size_t sp = 0; sp < sizeof k.spare / sizeof k.spare[0]; sp++) tensor_release(&k.spare[sp]);
        if (ks != ONYX_OK) {
            st = fail(err, ks, "%s, opset %d: %s", node_label(n, label, sizeof label), en->opset,
                      kerr.message[0] ? kerr.message : onyx_status_name(ks));
            break;
        }
#ifdef ONYX_TEST_HOOKS
        /* test builds only: a deliberately wrong kernel, for testing the bisect */
        if (s->fault_node && (!strcmp(s->fault_node, n->name) || (n->n_outputs && !strcmp(s->fault_node, n->outputs[0]))) &&
            en->out[0] >= 0 &&
            f.vals[en->out[0]].dtype == ONYX_FLOAT && f.vals[en->out[0]].nbytes)
            ((float *)f.vals[en->out[0]].data)[0] += 1.0f;
#endif
        for (int k2 = 0; k2 < n->n_outputs; k2++) {
            int sl = en->out[k2];
            if (sl >= 0 && f.vals[sl].kind == ONYX_KIND_TENSOR && f.vals[sl].dtype == ONYX_UNDEFINED) {
                st = fail(err, ONYX_E_UNSUPPORTED, "%s, opset %d: output %d ('%s') was not produced",
                          node_label(n, label, sizeof label), en->opset, k2, n->outputs[k2]);
                break;
            }
        }
        /* free what no later node needs */
        for (int k2 = 0; k2 < n->n_inputs; k2++) {
            int sl = en->in[k2];
            if (sl >= 0 && eg->last_use[sl] == i) tensor_release(&f.vals[sl]);
        }
        for (int k2 = 0; k2 < n->n_outputs; k2++) {
            int sl = en->out[k2];
            if (sl >= 0 && eg->last_use[sl] < i) tensor_release(&f.vals[sl]);
        }
    }
    for (int i = 0; i < g->n_outputs && st == ONYX_OK; i++) {
        onyx_tensor *v = &f.vals[eg->output_slots[i]];
        bool dup = false;
        for (int j = i + 1; j < g->n_outputs; j++) dup |= eg->output_slots[j] == eg->output_slots[i];
        tensor_release(&outputs[i]);
        if (v->owns_data && !dup) {
            outputs[i] = *v; /* move */
            memset(v, 0, sizeof *v);
        } else if (!tensor_copy(&outputs[i], v)) {
            st = fail(err, ONYX_E_NOMEM, "out of memory copying output '%s'", g->outputs[i].name);
        }
    }
    for (int sl = 0; sl < eg->n_slots; sl++) tensor_release(&f.vals[sl]);
    free(f.vals);
    free(ins);
    free(outs);
    return st;
}

/* Checks a user input against the declared type; binds symbolic dims. */
static onyx_status check_input(const onyx_value_decl *d, const onyx_tensor *t, const char **sym_names,
                               int64_t *sym_vals, int *n_sym, onyx_error *err)
{
    if (d->kind == ONYX_KIND_SEQUENCE && t->kind != ONYX_KIND_SEQUENCE && !(d->optional && t->kind == ONYX_KIND_NONE))
        return fail(err, ONYX_E_SHAPE, "input '%s' must be a sequence", d->name);
    if (d->kind == ONYX_KIND_TENSOR && t->kind != ONYX_KIND_TENSOR && !(d->optional && t->kind == ONYX_KIND_NONE))
        return fail(err, ONYX_E_SHAPE, "input '%s' must be a tensor", d->name);
    if (t->kind != ONYX_KIND_TENSOR) return ONYX_OK;
    if (d->dtype != ONYX_UNDEFINED && t->dtype != d->dtype)
        return fail(err, ONYX_E_SHAPE, "input '%s' has type %s, the model expects %s", d->name,
                    onyx_dtype_name(t->dtype), onyx_dtype_name(d->dtype));
    if (d->rank < 0) return ONYX_OK;
    if (t->rank != d->rank)
        return fail(err, ONYX_E_SHAPE, "input '%s' has rank %d, the model expects %d", d->name, t->rank, d->rank);
    for (int i = 0; i < d->rank; i++) {
        if (d->dims[i] >= 0 && t->dims[i] != d->dims[i])
            return fail(err, ONYX_E_SHAPE, "input '%s' has dimension %d = %lld, the model expects %lld", d->name, i,
                        (long long)t->dims[i], (long long)d->dims[i]);
        if (d->dims[i] < 0 && d->dim_names[i] && d->dim_names[i][0]) {
            int j;
            for (j = 0; j < *n_sym; j++)
                if (!strcmp(sym_names[j], d->dim_names[i])) break;
            if (j == *n_sym) {
                if (*n_sym < 64) {
                    sym_names[*n_sym] = d->dim_names[i];
                    sym_vals[(*n_sym)++] = t->dims[i];
                }
            } else if (sym_vals[j] != t->dims[i]) {
                return fail(err, ONYX_E_SHAPE, "input '%s' dimension %d ('%s') = %lld, but '%s' is %lld in another input",
                            d->name, i, d->dim_names[i], (long long)t->dims[i], d->dim_names[i], (long long)sym_vals[j]);
            }
        }
    }
    return ONYX_OK;
}

onyx_status onyx_session_run(onyx_session *s, int n_inputs, const char *const *names,
                             const onyx_tensor *const *inputs, onyx_error *err)
{
    if (err) err->code = ONYX_OK, err->message[0] = 0;
    const onyx_graph *g = s->model->graph;
    const onyx_tensor **bound = calloc((size_t)g->n_inputs + 1, sizeof *bound);
    if (!bound) return fail(err, ONYX_E_NOMEM, "out of memory");
    const char *sym_names[64];
    int64_t sym_vals[64];
    int n_sym = 0;
    onyx_status st = ONYX_OK;
    for (int i = 0; i < n_inputs && st == ONYX_OK; i++) {
        int j;
        for (j = 0; j < g->n_inputs; j++)
            if (!strcmp(g->inputs[j].name, names[i])) break;
        if (j == g->n_inputs) st = fail(err, ONYX_E_INVALID, "the model has no input named '%s'", names[i]);
        else if (!inputs[i]) st = fail(err, ONYX_E_INVALID, "input '%s' is NULL", names[i]);
        else st = check_input(&g->inputs[j], inputs[i], sym_names, sym_vals, &n_sym, err);
        if (st == ONYX_OK) bound[j] = inputs[i];
    }
    if (st == ONYX_OK) st = run_graph(s, s->root, NULL, bound, s->outputs, err);
    free(bound);
    return st;
}

void onyx_session_set_observer(onyx_session *s, onyx_node_observer fn, void *ud)
{
    s->observer = fn;
    s->observer_ud = ud;
}

int onyx_session_threads(const onyx_session *s) { return threads_count(s->threads); }

int onyx_session_num_outputs(const onyx_session *s) { return s->n_outputs; }
const char *onyx_session_output_name(const onyx_session *s, int i) { return s->model->graph->outputs[i].name; }
const onyx_tensor *onyx_session_output(const onyx_session *s, int i) { return &s->outputs[i]; }
