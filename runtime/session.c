/* session.c - binds a model's nodes to operator kernels and runs them.
 *
 * Session creation compiles each graph (and every subgraph) into an exec_graph:
 * value slots named once, nodes bound to kernels and put in topological order,
 * the last use of every slot known so intermediate values are freed as soon as
 * nothing needs them. A run fills a frame of slots; subgraphs (If/Loop/Scan
 * bodies) run in child frames that see their ancestors' values by reference. */
#include "graph.h"
#include "plan.h"
#include "shape_infer.h"
#include "threads.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum slot_src { SLOT_NODE, SLOT_INIT, SLOT_INPUT, SLOT_OUTER };

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
    /* per slot, for initializers (and inputs' defaults): the model's tensor as
     * this session reads it, data = what the session holds (NULL for a weight
     * every reader packed); held: the session acquired it (weights_acquire) */
    onyx_tensor *init_val;
    bool *held;
};

/* The memory plan of the main graph (subgraphs and values whose shape is not
 * known before the run use the heap). See docs/memory.md. */
typedef struct mem_plan {
    bool made;              /* a plan exists for the input shapes in `inputs` */
    si_value *inputs;       /* per graph input: the shape planned for (known=false: unknown) */
    si_value *vals;         /* per slot: the planned dtype and dims (values not kept) */
    size_t *off;            /* per slot: arena offset, or SIZE_MAX (heap) */
    bool *inplace;          /* per slot: reuses an input's bytes (not zero-filled) */
    void *arena;
    size_t arena_size, arena_cap;
    size_t planned_bytes;   /* sum of the planned tensors' sizes */
    int n_planned, n_heap, n_inplace;
    int n_mismatch;         /* planned outputs whose kernel declared another shape */
} mem_plan;

struct onyx_session {
    const onyx_model *model;
    mem_plan plan;
    bool no_plan;           /* options: every activation on the heap */
    onyx_threads *threads;
    onyx_node_observer observer;
    void *observer_ud;
    bool observer_shapes_only; /* the observer reads no values: in-place stays */
#ifdef ONYX_TEST_HOOKS
    const char *fault_node; /* ONYX_TEST_FAULT: node (or first output) name whose output is perturbed */
#endif
    onyx_pool pool;
    /* the kernels' shared run-time scratch (k_scratch): kernels run one at a
     * time, so every node borrows the same few buffers */
    k_scratch_buf scratch[K_SCRATCH_SLOTS];
    /* the packed weights (k_alloc_packed): chunks in huge pages, filled in turn */
    struct packed_chunk *packed;
    exec_graph *root;
    onyx_tensor *outputs;
    int n_outputs;
};

typedef struct frame {
    exec_graph *eg;
    struct frame *parent;
    onyx_tensor *vals;
    onyx_session *s;
    int cur;                /* the node running (position in eg->nodes) */
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

/* What prepare() of one node sees of its initializer inputs (k->prep). */
struct session_prep {
    onyx_session *s;
    const exec_graph *eg;
    const exec_node *en;
    onyx_tensor *view;      /* per input: the tensor handed out, data acquired */
    unsigned char *got;     /* per input: 0 nothing acquired, 1 the bytes in place, 2 an aligned array */
    bool *consumed;         /* per input: k_input_consumed */
    bool oom;
};

/* ---------------------------------------------------------------- packed weights */

/* A region for packed weights. Weights are packed once and live as long as
 * the session, so they are laid end to end in big chunks (freed with the
 * session) rather than allocated one by one: a 2 MB huge page then holds many
 * small weights, and packing faults once per 2 MB instead of once per 4 KB. */
typedef struct packed_chunk {
    struct packed_chunk *next;
    size_t used, cap;      /* bytes of data[] */
    unsigned char *data;
} packed_chunk;

#define PACKED_CHUNK ((size_t)32 << 20)

void *session_packed_alloc(const onyx_kctx *k, size_t bytes)
{
    onyx_session *s = k->prep->s;
    size_t need = PACKED_HEADER + (bytes + 63) / 64 * 64;
    if (need < bytes) return NULL;
    packed_chunk *c = s->packed;
    if (!c || c->cap - c->used < need) {
        size_t cap = need > PACKED_CHUNK ? need : PACKED_CHUNK;
        if (!(c = calloc(1, sizeof *c)) || !(c->data = big_alloc(cap))) {
            free(c);
            return NULL;
        }
        c->cap = cap;
        c->next = s->packed;
        s->packed = c;
    }
    unsigned char *p = c->data + c->used;
    c->used += need;
    memset(p, 0, PACKED_HEADER); /* not k_free_packed's heap tag */
    return p + PACKED_HEADER;
}

static void packed_free(onyx_session *s)
{
    while (s->packed) {
        packed_chunk *c = s->packed;
        s->packed = c->next;
        free(c->data);
        free(c);
    }
}


/* The model's tensor behind an initializer slot, or NULL. */
static const onyx_tensor *init_tensor(const exec_graph *eg, int sl)
{
    if (sl < 0) return NULL;
    if (eg->src[sl] == SLOT_INIT) return &eg->g->inits[eg->src_idx[sl]];
    if (eg->src[sl] == SLOT_INPUT && eg->init_of[sl] >= 0) return &eg->g->inits[eg->init_of[sl]];
    return NULL;
}

const onyx_tensor *session_prepare_input(const onyx_kctx *k, int i, bool aligned)
{
    struct session_prep *pc = k->prep;
    const onyx_tensor *t = k->inputs[i];
    if (!t || !t->wsrc || pc->got[i] == 2 || (pc->got[i] == 1 && !aligned)) return pc->got[i] ? &pc->view[i] : t;
    if (aligned && t->data) return t; /* in place and aligned */
    const void *p = weights_acquire(t->wsrc, aligned);
    if (!p) {
        pc->oom = true;
        return NULL;
    }
    if (pc->got[i]) weights_release(t->wsrc); /* the bytes in place, now an aligned array */
    pc->view[i] = *t;
    pc->view[i].data = (void *)(uintptr_t)p;
    pc->got[i] = aligned ? 2 : 1;
    return &pc->view[i];
}

void session_prepare_consumed(onyx_kctx *k, int i) { k->prep->consumed[i] = true; }

/* Lets each kernel do its once-per-session work (weight packing and the like),
 * seeing only the inputs that are initializers, and decides which weights the
 * session holds for run(): those some reader reads then. A weight every reader
 * packed (k_input_consumed) is let go as soon as its last reader is prepared,
 * so packing a model never holds its weights twice. */
static onyx_status prepare_graph(onyx_session *s, exec_graph *eg, onyx_error *err)
{
    char label[300];
    int ns = eg->n_slots, max_in = 1;
    for (int i = 0; i < eg->n_nodes; i++)
        if (eg->nodes[i].node->n_inputs > max_in) max_in = eg->nodes[i].node->n_inputs;
    eg->init_val = pool_array(&s->pool, (size_t)ns + 1, sizeof *eg->init_val);
    eg->held = pool_array(&s->pool, (size_t)ns + 1, sizeof *eg->held);
    int *pending = calloc((size_t)ns + 1, sizeof *pending);  /* readers not prepared yet */
    bool *run_reads = calloc((size_t)ns + 1, sizeof *run_reads);
    const onyx_tensor **ins = calloc((size_t)max_in, sizeof *ins);
    onyx_tensor *view = calloc((size_t)max_in, sizeof *view);
    unsigned char *got = calloc((size_t)max_in, 1);
    bool *consumed = calloc((size_t)max_in, sizeof *consumed);
    onyx_status st = ONYX_OK;
    if (!eg->init_val || !eg->held || !pending || !run_reads || !ins || !view || !got || !consumed)
        st = fail(err, ONYX_E_NOMEM, "out of memory");
    for (int sl = 0; sl < ns && st == ONYX_OK; sl++) {
        const onyx_tensor *t = init_tensor(eg, sl);
        if (!t) continue;
        eg->init_val[sl] = *t;
        eg->init_val[sl].owns_data = false;
        /* a default a user may replace, an output, a subgraph's use: read by run() */
        run_reads[sl] = eg->src[sl] == SLOT_INPUT || eg->last_use[sl] == INT32_MAX;
    }
    for (int k = 0; k < eg->n_implicit; k++) run_reads[eg->implicit[k][1]] = true;
    for (int i = 0; i < eg->n_nodes && st == ONYX_OK; i++)
        for (int k = 0; k < eg->nodes[i].node->n_inputs; k++) {
            int sl = eg->nodes[i].in[k];
            if (sl < 0 || !init_tensor(eg, sl)) continue;
            pending[sl]++;
            if (!eg->nodes[i].op->prepare) run_reads[sl] = true;
        }
    for (int i = 0; i < eg->n_nodes && st == ONYX_OK; i++) {
        exec_node *en = &eg->nodes[i];
        if (!en->op->prepare) continue;
        const onyx_node *n = en->node;
        for (int k = 0; k < n->n_inputs; k++) {
            int sl = en->in[k];
            ins[k] = init_tensor(eg, sl) ? &eg->init_val[sl] : NULL;
            got[k] = 0;
            consumed[k] = false;
        }
        struct session_prep pc = {s, eg, en, view, got, consumed, false};
        onyx_error kerr = {0};
        onyx_kctx k = {0};
        fill_kctx(&k, en, &kerr, s->threads);
        k.n_inputs = n->n_inputs;
        k.inputs = ins;
        k.prep = &pc;
        onyx_status ks = en->op->prepare(&k, &en->state);
        if (ks == ONYX_OK && pc.oom) ks = k_fail(&k, ONYX_E_NOMEM, "out of memory reading the weights");
        for (int j = 0; j < n->n_inputs; j++) {
            int sl = en->in[j];
            if (!ins[j]) continue;
            weight_src *w = ins[j]->wsrc;
            if (!consumed[j]) run_reads[sl] = true;
            if (got[j] == 2 && !consumed[j] && !eg->held[sl]) {
                eg->held[sl] = true; /* the aligned array made here is what run() reads */
                eg->init_val[sl].data = view[j].data;
            } else if (got[j]) {
                weights_release(w);
            }
            if (--pending[sl] == 0 && !run_reads[sl] && w) weights_drop(w);
        }
        if (ks != ONYX_OK) {
            st = fail(err, ks, "%s, opset %d: %s", node_label(n, label, sizeof label), en->opset,
                      kerr.message[0] ? kerr.message : onyx_status_name(ks));
        }
    }
    /* what run() reads, held for the session's life; what nobody reads, gone */
    for (int sl = 0; sl < ns && st == ONYX_OK; sl++) {
        onyx_tensor *t = &eg->init_val[sl];
        if (!t->wsrc || eg->held[sl]) continue;
        if (!run_reads[sl]) {
            t->data = NULL;
            continue;
        }
        const void *p = weights_acquire(t->wsrc, true);
        if (!p) {
            st = fail(err, ONYX_E_NOMEM, "out of memory for initializer '%s'", eg->names[sl]);
            break;
        }
        t->data = (void *)(uintptr_t)p;
        eg->held[sl] = true;
    }
    free(pending), free(run_reads), free(ins), free(view), free(got), free(consumed);
    for (int c = 0; c < eg->n_children && st == ONYX_OK; c++) st = prepare_graph(s, eg->children[c], err);
    return st;
}

static void release_graph(exec_graph *eg)
{
    for (int i = 0; i < eg->n_nodes; i++)
        if (eg->nodes[i].state && eg->nodes[i].op->release) eg->nodes[i].op->release(eg->nodes[i].state);
    for (int sl = 0; eg->held && sl < eg->n_slots; sl++)
        if (eg->held[sl]) weights_release(eg->init_val[sl].wsrc);
    for (int c = 0; c < eg->n_children; c++) release_graph(eg->children[c]);
}

/* ---------------------------------------------------------------- memory plan */

/* Ops whose output may overwrite an input of the same dtype and shape that dies
 * at the node: each output element depends only on the input elements at the
 * same index, read before it is written. */
static bool inplace_op(const onyx_node *n)
{
    static const char *const ops[] = {
        "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Celu",
        "Softplus", "Softsign", "Clip", "Abs", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Floor",
        "Ceil", "Erf", "Sin", "Cos", "Add", "Sub", "Mul", "Div", "ThresholdedRelu", "Shrink", NULL};
    if (n->domain[0] && strcmp(n->domain, "ai.onnx")) return false;
    for (int i = 0; ops[i]; i++)
        if (!strcmp(n->op_type, ops[i])) return true;
    return false;
}

/* The input of a fused op whose element i is read only to compute output
 * element i, before that element is written (the residual Z of an NHWC conv,
 * added in the epilogue of the tile that stores the same elements), or -1. */
static int residual_input(const onyx_node *n)
{
    if (strcmp(n->domain, "ai.onyx") || strcmp(n->op_type, "NhwcConv") || n->n_inputs < 4 || !n->inputs[3][0])
        return -1;
    return 3;
}

/* Ops whose output is input 0's elements under another shape: the output can
 * take input 0's bytes, which makes them free (the kernel skips the copy). */
static bool view_op(const onyx_node *n)
{
    static const char *const ops[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", NULL};
    if (n->domain[0] && strcmp(n->domain, "ai.onnx")) return false;
    for (int i = 0; ops[i]; i++)
        if (!strcmp(n->op_type, ops[i])) return true;
    return false;
}

static void plan_clear(mem_plan *p, int n_slots)
{
    si_release(p->vals, n_slots);
    free(p->vals), free(p->off), free(p->inplace), free(p->inputs);
    p->vals = NULL, p->off = NULL, p->inplace = NULL, p->inputs = NULL;
    p->made = false;
    p->arena_size = p->planned_bytes = 0;
    p->n_planned = p->n_heap = p->n_inplace = p->n_mismatch = 0;
}

static void plan_free(mem_plan *p, int n_slots)
{
    plan_clear(p, n_slots);
    free(p->arena);
    p->arena = NULL;
    p->arena_cap = 0;
}

/* Dims a plan accepts: each at most 2^40 and the tensor within onyx's limits
 * (shape inference relies on that bound to never overflow). */
static bool plannable(onyx_dtype dt, int rank, const int64_t *dims)
{
    size_t es = onyx_dtype_size(dt);
    if (es == 0 || rank < 0 || rank > ONYX_MAX_RANK) return false;
    for (int i = 0; i < rank; i++)
        if (dims[i] < 0 || dims[i] > ((int64_t)1 << 40)) return false;
    int64_t n = tensor_numel_of(rank, dims);
    return n >= 0 && n <= ONYX_MAX_TENSOR_BYTES / (int64_t)es;
}

static void shape_of(si_value *v, const onyx_tensor *t)
{
    memset(v, 0, sizeof *v);
    if (!t || t->kind != ONYX_KIND_TENSOR || t->dtype == ONYX_UNDEFINED) return;
    if (!plannable(t->dtype, t->rank, t->dims)) return;
    v->known = true;
    v->dtype = t->dtype;
    v->rank = t->rank;
    memcpy(v->dims, t->dims, sizeof v->dims);
}

static bool same_shape(const si_value *a, const si_value *b)
{
    if (a->known != b->known) return false;
    if (!a->known) return true;
    return a->dtype == b->dtype && a->rank == b->rank &&
           !memcmp(a->dims, b->dims, (size_t)a->rank * sizeof a->dims[0]);
}

/* The shape graph input i will have: the bound tensor, its default, or a fully
 * static declaration. */
static void input_shape(const exec_graph *eg, int i, const onyx_tensor *const *bound, si_value *v)
{
    const onyx_graph *g = eg->g;
    int sl = eg->input_slots[i];
    memset(v, 0, sizeof *v);
    if (bound && bound[i]) {
        shape_of(v, bound[i]);
    } else if (eg->init_of[sl] >= 0) {
        shape_of(v, &eg->init_val[sl]);
    } else {
        const onyx_value_decl *d = &g->inputs[i];
        if (d->kind != ONYX_KIND_TENSOR || d->optional || d->rank < 0 || onyx_dtype_size(d->dtype) == 0) return;
        /* a symbolic dim (batch, most often) is planned as 1 until a run or
         * onyx_session_plan says otherwise */
        v->dtype = d->dtype;
        v->rank = d->rank;
        for (int k = 0; k < d->rank; k++) v->dims[k] = d->dims[k] < 0 ? 1 : d->dims[k];
        v->known = plannable(v->dtype, v->rank, v->dims);
    }
}

/* True when the plan was made for these inputs. */
static bool plan_matches(const onyx_session *s, const onyx_tensor *const *bound)
{
    const exec_graph *eg = s->root;
    if (!s->plan.made) return false;
    for (int i = 0; i < eg->g->n_inputs; i++) {
        si_value v;
        input_shape(eg, i, bound, &v);
        if (!same_shape(&v, &s->plan.inputs[i])) return false;
    }
    return true;
}

/* Infers the main graph's shapes for these inputs (bound may be NULL: the
 * declared shapes) and places every activation whose size is known in one
 * arena. Graph outputs, strings and values of unknown shape stay on the heap.
 * Out of memory leaves no plan (everything on the heap), which is not an error. */
static void make_plan(onyx_session *s, const onyx_tensor *const *bound)
{
    exec_graph *eg = s->root;
    const onyx_graph *g = eg->g;
    mem_plan *p = &s->plan;
    int ns = eg->n_slots, nn = eg->n_nodes;
    plan_clear(p, ns);
    p->vals = calloc((size_t)ns + 1, sizeof *p->vals);
    p->off = malloc(((size_t)ns + 1) * sizeof *p->off);
    p->inplace = calloc((size_t)ns + 1, sizeof *p->inplace);
    p->inputs = calloc((size_t)g->n_inputs + 1, sizeof *p->inputs);
    plan_buf *bufs = calloc((size_t)ns + 1, sizeof *bufs);
    int *made_at = malloc(((size_t)ns + 1) * sizeof *made_at);
    bool *taken = calloc((size_t)ns + 1, 1);
    if (!p->vals || !p->off || !p->inplace || !p->inputs || !bufs || !made_at || !taken) goto fail;
    for (int sl = 0; sl < ns; sl++) {
        p->off[sl] = SIZE_MAX;
        made_at[sl] = -1;
        bufs[sl].alias = -1;
        if (eg->src[sl] == SLOT_INIT) {
            /* a weight nobody reads at run time has no data: its shape still counts */
            const onyx_tensor *t = &eg->init_val[sl];
            shape_of(&p->vals[sl], t);
            if (p->vals[sl].known && t->data) p->vals[sl].val = t;
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        input_shape(eg, i, bound, &p->inputs[i]);
        p->vals[eg->input_slots[i]] = p->inputs[i];
    }
    shape_infer(nn, eg->nodes, p->vals, s->threads);
    /* the values are only needed while inferring */
    for (int sl = 0; sl < ns; sl++) {
        if (p->vals[sl].owned) onyx_tensor_free(p->vals[sl].owned);
        p->vals[sl].owned = NULL;
        p->vals[sl].val = NULL;
    }
    for (int i = 0; i < nn; i++)
        for (int o = 0; o < eg->nodes[i].node->n_outputs; o++)
            if (eg->nodes[i].out[o] >= 0) made_at[eg->nodes[i].out[o]] = i;
    for (int sl = 0; sl < ns; sl++) {
        const si_value *v = &p->vals[sl];
        if (eg->src[sl] != SLOT_NODE || made_at[sl] < 0) continue;
        if (!v->known || v->dtype == ONYX_STRING || eg->last_use[sl] == INT32_MAX) {
            p->n_heap++;
            continue;
        }
        int64_t n = tensor_numel_of(v->rank, v->dims);
        size_t es = onyx_dtype_size(v->dtype);
        if (n < 0 || es == 0 || n > ONYX_MAX_TENSOR_BYTES / (int64_t)es) {
            p->n_heap++;
            continue;
        }
        bufs[sl].size = n ? (size_t)n * es : es; /* never empty: data is never NULL */
        bufs[sl].start = made_at[sl];
        bufs[sl].end = eg->last_use[sl] > made_at[sl] ? eg->last_use[sl] : made_at[sl];
        p->planned_bytes += bufs[sl].size;
        p->n_planned++;
    }
    /* in place: an elementwise node's output (or a conv's, over its
     * residual) takes the bytes of an input of the same dtype and shape that
     * is an activation dying at this node */
    for (int i = 0; i < nn; i++) {
        const exec_node *en = &eg->nodes[i];
        const bool view = view_op(en->node);
        const int res = residual_input(en->node);
        if ((!view && res < 0 && !inplace_op(en->node)) || en->node->n_outputs < 1) continue;
        int o = en->out[0];
        if (o < 0 || !bufs[o].size) continue;
        for (int k = res < 0 ? 0 : res; k < (view ? 1 : res < 0 ? en->node->n_inputs : res + 1); k++) {
            int x = en->in[k];
            if (x < 0 || !bufs[x].size || taken[x] || eg->last_use[x] != i) continue;
            /* the residual must not also be an operand the conv reads elsewhere */
            bool other_use = false;
            for (int j = 0; res >= 0 && j < en->node->n_inputs; j++) other_use |= j != k && en->in[j] == x;
            if (other_use) continue;
            if (view ? bufs[x].size != bufs[o].size || p->vals[x].dtype != p->vals[o].dtype
                     : !same_shape(&p->vals[x], &p->vals[o]))
                continue;
            bufs[o].alias = x;
            taken[x] = true;
            p->inplace[o] = true;
            p->n_inplace++;
            break;
        }
    }
    size_t size = plan_assign(bufs, ns);
    if (size == (size_t)-1) goto fail;
    size = (size + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
    /* the arena itself is allocated by the first run that needs it */
    if (size > p->arena_cap || size < p->arena_cap / 2) {
        free(p->arena);
        p->arena = NULL;
        p->arena_cap = 0;
    }
    for (int sl = 0; sl < ns; sl++)
        if (bufs[sl].size) p->off[sl] = bufs[sl].offset;
    p->arena_size = size;
    p->made = true;
    free(bufs), free(made_at), free(taken);
    return;
fail:
    free(bufs), free(made_at), free(taken);
    plan_free(p, ns);
}

/* Allocates the arena for the current plan if it is not there yet; without
 * memory for it the plan is dropped and the run uses the heap. */
static void ensure_arena(onyx_session *s)
{
    mem_plan *p = &s->plan;
    if (!p->made || p->arena || !p->arena_size) return;
    if (!(p->arena = big_alloc(p->arena_size))) {
        plan_free(p, s->root->n_slots);
        return;
    }
    p->arena_cap = p->arena_size;
}

void *session_planned_output(onyx_kctx *k, int i, onyx_dtype dtype, int rank, const int64_t *dims,
                             size_t *nbytes, bool *zero)
{
    frame *f = k->exec;
    if (!f || f->parent || !f->s || f->eg != f->s->root || f->cur < 0 || f->cur >= f->eg->n_nodes) return NULL;
    mem_plan *p = &f->s->plan;
    const exec_node *en = &f->eg->nodes[f->cur];
    if (!p->made || !p->arena || i < 0 || i >= en->node->n_outputs || i >= k->n_outputs || !k->outputs[i]) return NULL;
    int sl = en->out[i];
    if (sl < 0 || sl >= f->eg->n_slots || p->off[sl] == SIZE_MAX) return NULL;
    const si_value *v = &p->vals[sl];
    if (v->dtype != dtype || v->rank != rank || memcmp(v->dims, dims, (size_t)rank * sizeof *dims)) {
        p->n_mismatch++;
        return NULL;
    }
    /* an observer sees a node's inputs after it ran: they must be intact */
    if (p->inplace[sl] && f->s->observer && !f->s->observer_shapes_only) return NULL;
    int64_t n = tensor_numel_of(rank, dims);
    *nbytes = (size_t)n * onyx_dtype_size(dtype);
    *zero = !p->inplace[sl];
    return (char *)p->arena + p->off[sl];
}

size_t onyx_session_memory(const onyx_session *s) { return s->plan.made ? s->plan.arena_size : 0; }

void onyx_session_memory_info(const onyx_session *s, onyx_memory_info *info)
{
    memset(info, 0, sizeof *info);
    if (!s->plan.made) return;
    info->arena_bytes = s->plan.arena_size;
    info->planned_bytes = s->plan.planned_bytes;
    info->planned_values = s->plan.n_planned;
    info->heap_values = s->plan.n_heap;
    info->inplace_values = s->plan.n_inplace;
    info->mismatched_values = s->plan.n_mismatch;
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
    weights_trim((weight_store *)&m->weights); /* the copy buffer packing reused */
    s->no_plan = opt && opt->no_memory_plan;
    if (st == ONYX_OK && !s->no_plan) make_plan(s, NULL);
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
    if (s->root) plan_free(&s->plan, s->root->n_slots);
    if (s->root) release_graph(s->root);
    packed_free(s);
    threads_free(s->threads);
    for (int i = 0; i < K_SCRATCH_SLOTS; i++) k_scratch_free(&s->scratch[i]);
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
    frame f = {eg, parent, calloc((size_t)eg->n_slots + 1, sizeof(onyx_tensor)), s, -1};
    if (!f.vals) return fail(err, ONYX_E_NOMEM, "out of memory");
    onyx_status st = ONYX_OK;
    for (int sl = 0; sl < eg->n_slots && st == ONYX_OK; sl++) {
        switch (eg->src[sl]) {
        case SLOT_INIT: tensor_view(&f.vals[sl], &eg->init_val[sl]); break;
        case SLOT_INPUT: {
            const onyx_tensor *in = inputs ? inputs[eg->src_idx[sl]] : NULL;
            if (in) tensor_view(&f.vals[sl], in);
            else if (eg->init_of[sl] >= 0) tensor_view(&f.vals[sl], &eg->init_val[sl]);
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
        k.scratch = s->scratch;
        f.cur = i;
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
    if (st == ONYX_OK && !s->no_plan && !plan_matches(s, bound)) make_plan(s, bound);
    if (st == ONYX_OK) ensure_arena(s);
    if (st == ONYX_OK) st = run_graph(s, s->root, NULL, bound, s->outputs, err);
    free(bound);
    return st;
}

void onyx_session_set_observer(onyx_session *s, onyx_node_observer fn, void *ud)
{
    s->observer = fn;
    s->observer_ud = ud;
    s->observer_shapes_only = false;
}

void onyx_session_set_shape_observer(onyx_session *s, onyx_node_observer fn, void *ud)
{
    onyx_session_set_observer(s, fn, ud);
    s->observer_shapes_only = fn != NULL;
}

int onyx_session_threads(const onyx_session *s) { return threads_count(s->threads); }

int onyx_session_num_outputs(const onyx_session *s) { return s->n_outputs; }
const char *onyx_session_output_name(const onyx_session *s, int i) { return s->model->graph->outputs[i].name; }
const onyx_tensor *onyx_session_output(const onyx_session *s, int i) { return &s->outputs[i]; }

onyx_status onyx_session_plan(onyx_session *s, int n, const char *const *names, const int *ranks,
                              const int64_t *const *dims, onyx_error *err)
{
    if (err) err->code = ONYX_OK, err->message[0] = 0;
    const onyx_graph *g = s->model->graph;
    onyx_tensor *shapes = calloc((size_t)g->n_inputs + 1, sizeof *shapes);
    const onyx_tensor **bound = calloc((size_t)g->n_inputs + 1, sizeof *bound);
    const char *sym_names[64];
    int64_t sym_vals[64];
    int n_sym = 0;
    onyx_status st = ONYX_OK;
    if (!shapes || !bound) st = fail(err, ONYX_E_NOMEM, "out of memory");
    for (int i = 0; i < n && st == ONYX_OK; i++) {
        int j;
        for (j = 0; j < g->n_inputs; j++)
            if (!strcmp(g->inputs[j].name, names[i])) break;
        if (j == g->n_inputs) {
            st = fail(err, ONYX_E_INVALID, "the model has no input named '%s'", names[i]);
            break;
        }
        if (ranks[i] < 0 || ranks[i] > ONYX_MAX_RANK) {
            st = fail(err, ONYX_E_SHAPE, "input '%s': rank %d is out of range", names[i], ranks[i]);
            break;
        }
        onyx_tensor *t = &shapes[j];
        t->kind = ONYX_KIND_TENSOR;
        t->dtype = g->inputs[j].dtype != ONYX_UNDEFINED ? g->inputs[j].dtype : ONYX_FLOAT;
        t->rank = ranks[i];
        for (int d = 0; d < ranks[i]; d++) {
            if (dims[i][d] < 0) {
                st = fail(err, ONYX_E_SHAPE, "input '%s': dimension %d is negative", names[i], d);
                break;
            }
            t->dims[d] = dims[i][d];
        }
        if (st == ONYX_OK) st = check_input(&g->inputs[j], t, sym_names, sym_vals, &n_sym, err);
        bound[j] = t;
    }
    if (st == ONYX_OK && !s->no_plan) make_plan(s, bound);
    free(shapes);
    free(bound);
    return st;
}
