/* model.c - loading a model (file or buffer) and describing it. */
#include "graph.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *onyx_status_name(onyx_status s)
{
    switch (s) {
    case ONYX_OK: return "ok";
    case ONYX_E_IO: return "i/o error";
    case ONYX_E_PARSE: return "parse error";
    case ONYX_E_INVALID: return "invalid model";
    case ONYX_E_UNSUPPORTED: return "unsupported";
    case ONYX_E_SHAPE: return "shape or type error";
    case ONYX_E_LIMIT: return "limit exceeded";
    case ONYX_E_NOMEM: return "out of memory";
    }
    return "unknown status";
}

static onyx_status set_err(onyx_error *err, onyx_status code, const char *fmt, const char *a)
{
    if (err) {
        err->code = code;
        snprintf(err->message, sizeof err->message, fmt, a);
    }
    return code;
}

int64_t model_opset(const onyx_model *m, const char *domain)
{
    if (!domain || !strcmp(domain, "ai.onnx")) domain = "";
    for (int i = 0; i < m->n_opsets; i++) {
        const char *d = m->opset_domains[i];
        if (!strcmp(d, "ai.onnx")) d = "";
        if (!strcmp(d, domain)) return m->opset_versions[i];
    }
    return 0;
}

/* Graph inputs that initializers do not also provide are what a user feeds. */
static onyx_status find_user_inputs(onyx_model *m, onyx_error *err)
{
    const onyx_graph *g = m->graph;
    m->user_inputs = pool_array(&m->pool, (size_t)g->n_inputs, sizeof *m->user_inputs);
    if (!m->user_inputs) return set_err(err, ONYX_E_NOMEM, "%sout of memory", "");
    for (int i = 0; i < g->n_inputs; i++) {
        bool init = false;
        for (int j = 0; j < g->n_inits && !init; j++) init = !strcmp(g->init_names[j], g->inputs[i].name);
        if (!init) m->user_inputs[m->n_user_inputs++] = &g->inputs[i];
    }
    return ONYX_OK;
}

onyx_status onyx_model_load_buffer(const void *buf, size_t len, onyx_model **out, onyx_error *err)
{
    return onyx_model_load_buffer_dir(buf, len, NULL, out, err);
}

onyx_status onyx_model_load_buffer_dir(const void *buf, size_t len, const char *dir,
                                       onyx_model **out, onyx_error *err)
{
    if (err) err->code = ONYX_OK, err->message[0] = 0;
    *out = NULL;
    onyx_model *m;
    onyx_status s = onnx_decode_model(buf, len, dir, &m, err);
    if (s != ONYX_OK) return s;
    if ((s = find_user_inputs(m, err)) != ONYX_OK) {
        onyx_model_free(m);
        return s;
    }
    *out = m;
    return ONYX_OK;
}

/* The file is mapped, not read: initializers stay where they lie in it
 * (runtime/weights.h: aligned ones are used in place, unaligned ones are
 * copied when a reader needs an aligned array, and the pages of weights that
 * kernels packed are given back). The mapping is private and read-only, so
 * giving pages back never loses a byte: the kernel reloads them from the file.
 * It lives as long as the model. Files that cannot be mapped (pipes, empty
 * files) are read. */
onyx_status onyx_model_load_file(const char *path, onyx_model **out, onyx_error *err)
{
    if (err) err->code = ONYX_OK, err->message[0] = 0;
    *out = NULL;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else snprintf(dir, sizeof dir, ".");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "cannot open '%.500s': %s", path, strerror(errno));
        return set_err(err, ONYX_E_IO, "%s", msg);
    }
    struct stat stbuf;
    if (fstat(fd, &stbuf) == 0 && S_ISREG(stbuf.st_mode) && stbuf.st_size > 0 &&
        (uint64_t)stbuf.st_size <= (uint64_t)SIZE_MAX) {
        size_t len = (size_t)stbuf.st_size;
        void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map != MAP_FAILED) {
            close(fd);
            onyx_model *m;
            onyx_status s = onnx_decode_model_borrow(map, len, dir, true, &m, err);
            if (s == ONYX_OK && (s = find_user_inputs(m, err)) != ONYX_OK) onyx_model_free(m), m = NULL;
            if (s != ONYX_OK) {
                munmap(map, len);
                return s;
            }
            m->map = map;
            m->map_len = len;
            *out = m;
            return ONYX_OK;
        }
    }
    /* not mappable: read it */
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return set_err(err, ONYX_E_IO, "cannot read '%.900s'", path);
    }
    size_t cap = 1 << 16, size = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        size += fread(buf + size, 1, cap - size, f);
        if (size < cap) break;
        if (cap > SIZE_MAX / 2) { free(buf); buf = NULL; break; }
        uint8_t *nb = realloc(buf, cap *= 2);
        if (!nb) free(buf);
        buf = nb;
    }
    bool bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return set_err(err, buf ? ONYX_E_IO : ONYX_E_NOMEM, "cannot read '%.900s'", path);
    }
    onyx_status s = onyx_model_load_buffer_dir(buf, size, dir, out, err);
    free(buf);
    return s;
}

void onyx_model_free(onyx_model *m)
{
    if (!m) return;
    weights_store_free(&m->weights);
    pool_free(&m->pool);
    if (m->map) munmap(m->map, m->map_len);
    free(m);
}

void onyx_model_get_summary(const onyx_model *m, onyx_model_summary *s)
{
    memset(s, 0, sizeof *s);
    s->ir_version = m->ir_version;
    s->opset = model_opset(m, "");
    s->producer = m->producer_name;
    s->n_nodes = m->graph->n_nodes;
    s->n_initializers = m->graph->n_inits;
    for (int i = 0; i < m->graph->n_inits; i++) {
        const onyx_tensor *t = &m->graph->inits[i];
        s->n_params += tensor_numel_of(t->rank, t->dims);
        s->weight_bytes += (int64_t)t->nbytes;
    }
}

int onyx_model_num_inputs(const onyx_model *m) { return m->n_user_inputs; }
int onyx_model_num_outputs(const onyx_model *m) { return m->graph->n_outputs; }

static void fill_info(const onyx_value_decl *d, onyx_value_info *info)
{
    info->name = d->name;
    info->kind = d->kind;
    info->optional = d->optional;
    info->dtype = d->dtype;
    info->rank = d->rank;
    info->dims = d->dims;
    info->dim_names = d->dim_names;
}

void onyx_model_input(const onyx_model *m, int i, onyx_value_info *info)
{
    fill_info(m->user_inputs[i], info);
}

void onyx_model_output(const onyx_model *m, int i, onyx_value_info *info)
{
    fill_info(&m->graph->outputs[i], info);
}

int onyx_model_num_opsets(const onyx_model *m) { return m->n_opsets; }

void onyx_model_opset(const onyx_model *m, int i, const char **domain, int64_t *version)
{
    *domain = m->opset_domains[i];
    *version = m->opset_versions[i];
}

typedef struct op_count {
    const char *domain, *op;
    int count;
} op_count;

static void count_ops(const onyx_graph *g, op_count **list, int *n, int *cap)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const onyx_node *nd = &g->nodes[i];
        int j;
        for (j = 0; j < *n; j++)
            if (!strcmp((*list)[j].op, nd->op_type) && !strcmp((*list)[j].domain, nd->domain)) break;
        if (j == *n) {
            if (*n == *cap) {
                int nc = *cap ? *cap * 2 : 32;
                op_count *nl = realloc(*list, (size_t)nc * sizeof *nl);
                if (!nl) return;
                *list = nl;
                *cap = nc;
            }
            (*list)[(*n)++] = (op_count){nd->domain, nd->op_type, 0};
        }
        (*list)[j].count++;
        for (int a = 0; a < nd->n_attrs; a++) {
            const onyx_attr *at = &nd->attrs[a];
            if (at->type == ATTR_GRAPH) count_ops(at->g, list, n, cap);
            for (int k = 0; at->type == ATTR_GRAPHS && k < at->n; k++) count_ops(at->graphs[k], list, n, cap);
        }
    }
}

void onyx_model_op_histogram(const onyx_model *m,
                             void (*fn)(const char *domain, const char *op, int count, void *ud),
                             void *ud)
{
    op_count *list = NULL;
    int n = 0, cap = 0;
    count_ops(m->graph, &list, &n, &cap);
    for (int i = 0; i < n; i++) fn(list[i].domain, list[i].op, list[i].count, ud);
    free(list);
}

onyx_status onyx_model_serialize(const onyx_model *m, void **buf, size_t *len, onyx_error *err)
{
    if (err) err->code = ONYX_OK, err->message[0] = 0;
    return onnx_encode_model(m, buf, len, err);
}

onyx_status onyx_model_save(const onyx_model *m, const char *path, onyx_error *err)
{
    void *buf;
    size_t len;
    onyx_status s = onyx_model_serialize(m, &buf, &len, err);
    if (s != ONYX_OK) return s;
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(buf, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    free(buf);
    if (!ok) return set_err(err, ONYX_E_IO, "cannot write '%.900s'", path);
    return ONYX_OK;
}

int onyx_model_expose_intermediates(onyx_model *m)
{
    onyx_graph *g = m->graph;
    int extra = 0;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_outputs; k++) extra += g->nodes[i].outputs[k][0] != 0;
    onyx_value_decl *outs = pool_array(&m->pool, (size_t)(g->n_outputs + extra), sizeof *outs);
    if (!outs) return 0;
    memcpy(outs, g->outputs, (size_t)g->n_outputs * sizeof *outs);
    int n = g->n_outputs;
    for (int i = 0; i < g->n_nodes; i++) {
        for (int k = 0; k < g->nodes[i].n_outputs; k++) {
            const char *name = g->nodes[i].outputs[k];
            bool have = !name[0];
            for (int j = 0; j < n && !have; j++) have = !strcmp(outs[j].name, name);
            if (have) continue;
            /* the declared type when the file has one; otherwise left for the
             * consumer to infer (dtype undefined writes no type) */
            onyx_value_decl d = {.name = name, .rank = -1};
            for (int j = 0; j < g->n_value_info; j++)
                if (!strcmp(g->value_info[j].name, name)) d = g->value_info[j];
            outs[n++] = d;
        }
    }
    int added = n - g->n_outputs;
    g->outputs = outs;
    g->n_outputs = n;
    return added;
}

int onyx_model_num_nodes(const onyx_model *m) { return m->graph->n_nodes; }

void onyx_model_node(const onyx_model *m, int i, onyx_node_info *info)
{
    const onyx_node *n = &m->graph->nodes[i];
    info->name = n->name;
    info->op_type = n->op_type;
    info->domain = n->domain;
    info->n_inputs = n->n_inputs;
    info->inputs = n->inputs;
    info->n_outputs = n->n_outputs;
    info->outputs = n->outputs;
}

const onyx_tensor *onyx_model_initializer(const onyx_model *m, const char *name)
{
    /* (its data, when it has to be copied, is made by onyx_tensor_data) */
    for (int i = 0; i < m->graph->n_inits; i++)
        if (!strcmp(m->graph->init_names[i], name)) return &m->graph->inits[i];
    return NULL;
}
