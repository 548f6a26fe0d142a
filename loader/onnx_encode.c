/* onnx_encode.c - onyx's IR written back as ONNX: models (ModelProto and
 * everything under it) and values (TensorProto, SequenceProto, OptionalProto,
 * as the ONNX test layout stores them). Load -> write -> load is lossless for
 * everything the loader keeps. */
#include "../runtime/graph.h"
#include "pb_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TensorProto: 1 dims, 2 data_type, 6 string_data, 8 name, 9 raw_data */
static void encode_tensor(pb_buf *b, const onyx_tensor *t, const char *name)
{
    for (int i = 0; i < t->rank; i++) pbw_varint(b, 1, (uint64_t)t->dims[i]);
    pbw_varint(b, 2, (uint64_t)t->dtype);
    if (name) pbw_string(b, 8, name);
    if (t->dtype == ONYX_STRING) {
        char *const *s = t->data;
        for (size_t i = 0; i < t->nbytes / sizeof(char *); i++) pbw_string(b, 6, s[i] ? s[i] : "");
    } else if (t->data || !t->wsrc) {
        pbw_bytes(b, 9, t->data, t->nbytes);
    } else { /* a weight not in memory as an array: its bytes, just for this */
        const void *p = weights_acquire(t->wsrc, false);
        if (p) pbw_bytes(b, 9, p, t->nbytes);
        else b->oom = true;
        if (p) weights_release(t->wsrc);
    }
}

/* SequenceProto: 1 name, 2 elem_type (1 = tensor), 3 tensor_values */
static void encode_sequence(pb_buf *b, const onyx_tensor *t, const char *name)
{
    if (name) pbw_string(b, 1, name);
    pbw_varint(b, 2, 1);
    for (int i = 0; i < t->seq_len; i++) {
        size_t m = pbw_begin(b, 3);
        encode_tensor(b, t->seq[i], NULL);
        pbw_end(b, m);
    }
}

onyx_status onyx_value_save_pb(const onyx_tensor *t, const char *name, void **buf_out,
                               size_t *len_out, onyx_error *err)
{
    pb_buf b = {0};
    if (t->kind == ONYX_KIND_SEQUENCE) {
        encode_sequence(&b, t, name);
    } else if (t->kind == ONYX_KIND_NONE) {
        if (name) pbw_string(&b, 1, name); /* OptionalProto with no value */
        pbw_varint(&b, 2, 0);
    } else {
        encode_tensor(&b, t, name);
    }
    if (b.oom) {
        pbw_free(&b);
        if (err) {
            err->code = ONYX_E_NOMEM;
            snprintf(err->message, sizeof err->message, "out of memory encoding '%s'", name ? name : "value");
        }
        return ONYX_E_NOMEM;
    }
    *buf_out = b.p ? b.p : malloc(1);
    *len_out = b.len;
    return ONYX_OK;
}

/* ---------------------------------------------------------------- models */

/* TypeProto of a declared value; rank < 0 writes no shape. */
static void encode_type(pb_buf *b, const onyx_value_decl *v)
{
    size_t opt = 0, opt_el = 0, seq;
    if (v->optional) {
        opt = pbw_begin(b, 9);        /* TypeProto.optional_type */
        opt_el = pbw_begin(b, 1);     /* Optional.elem_type: a TypeProto */
    }
    if (v->kind == ONYX_KIND_SEQUENCE) {
        seq = pbw_begin(b, 4);        /* TypeProto.sequence_type */
        size_t el = pbw_begin(b, 1);  /* Sequence.elem_type */
        size_t tt = pbw_begin(b, 1);
        pbw_varint(b, 1, (uint64_t)v->dtype);
        pbw_end(b, tt);
        pbw_end(b, el);
        pbw_end(b, seq);
    } else {
        size_t tt = pbw_begin(b, 1);  /* TypeProto.tensor_type */
        pbw_varint(b, 1, (uint64_t)v->dtype);
        if (v->rank >= 0) {
            size_t sh = pbw_begin(b, 2);
            for (int i = 0; i < v->rank; i++) {
                size_t d = pbw_begin(b, 1);
                if (v->dims[i] >= 0) pbw_varint(b, 1, (uint64_t)v->dims[i]);
                else if (v->dim_names[i]) pbw_string(b, 2, v->dim_names[i]);
                pbw_end(b, d);
            }
            pbw_end(b, sh);
        }
        pbw_end(b, tt);
    }
    if (v->optional) {
        pbw_end(b, opt_el);
        pbw_end(b, opt);
    }
}

static void encode_value_info(pb_buf *b, uint32_t field, const onyx_value_decl *v)
{
    size_t m = pbw_begin(b, field);
    pbw_string(b, 1, v->name);
    if (v->dtype != ONYX_UNDEFINED) {
        size_t t = pbw_begin(b, 2);
        encode_type(b, v);
        pbw_end(b, t);
    }
    pbw_end(b, m);
}

static void encode_graph(pb_buf *b, const onyx_graph *g);

static void encode_tensor_msg(pb_buf *b, uint32_t field, const onyx_tensor *t, const char *name)
{
    size_t m = pbw_begin(b, field);
    encode_tensor(b, t, name);
    pbw_end(b, m);
}

static void encode_attr(pb_buf *b, const onyx_attr *a)
{
    if (a->raw) {
        pbw_bytes(b, 5, a->raw, a->raw_len);
        return;
    }
    size_t m = pbw_begin(b, 5); /* NodeProto.attribute */
    pbw_string(b, 1, a->name);
    pbw_varint(b, 20, (uint64_t)a->type);
    switch (a->type) {
    case ATTR_FLOAT: {
        uint32_t u;
        memcpy(&u, &a->f, 4);
        pbw_fixed32(b, 2, u);
        break;
    }
    case ATTR_INT: pbw_varint(b, 3, (uint64_t)a->i); break;
    case ATTR_STRING: pbw_bytes(b, 4, a->s, a->s_len); break;
    case ATTR_TENSOR: encode_tensor_msg(b, 5, a->t, NULL); break;
    case ATTR_GRAPH: {
        size_t g = pbw_begin(b, 6);
        encode_graph(b, a->g);
        pbw_end(b, g);
        break;
    }
    case ATTR_FLOATS:
        for (int i = 0; i < a->n; i++) {
            uint32_t u;
            memcpy(&u, &a->floats[i], 4);
            pbw_fixed32(b, 7, u);
        }
        break;
    case ATTR_INTS:
        for (int i = 0; i < a->n; i++) pbw_varint(b, 8, (uint64_t)a->ints[i]);
        break;
    case ATTR_STRINGS:
        for (int i = 0; i < a->n; i++) pbw_string(b, 9, a->strings[i]);
        break;
    case ATTR_TENSORS:
        for (int i = 0; i < a->n; i++) encode_tensor_msg(b, 10, a->tensors[i], NULL);
        break;
    case ATTR_GRAPHS:
        for (int i = 0; i < a->n; i++) {
            size_t g = pbw_begin(b, 11);
            encode_graph(b, a->graphs[i]);
            pbw_end(b, g);
        }
        break;
    default: break;
    }
    pbw_end(b, m);
}

static void encode_graph(pb_buf *b, const onyx_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const onyx_node *n = &g->nodes[i];
        size_t m = pbw_begin(b, 1);
        for (int k = 0; k < n->n_inputs; k++) pbw_string(b, 1, n->inputs[k]);
        for (int k = 0; k < n->n_outputs; k++) pbw_string(b, 2, n->outputs[k]);
        if (n->name[0]) pbw_string(b, 3, n->name);
        pbw_string(b, 4, n->op_type);
        if (n->domain[0]) pbw_string(b, 7, n->domain);
        for (int k = 0; k < n->n_attrs; k++) encode_attr(b, &n->attrs[k]);
        pbw_end(b, m);
    }
    if (g->name[0]) pbw_string(b, 2, g->name);
    for (int i = 0; i < g->n_inits; i++) encode_tensor_msg(b, 5, &g->inits[i], g->init_names[i]);
    for (int i = 0; i < g->n_inputs; i++) encode_value_info(b, 11, &g->inputs[i]);
    for (int i = 0; i < g->n_outputs; i++) encode_value_info(b, 12, &g->outputs[i]);
    for (int i = 0; i < g->n_value_info; i++) encode_value_info(b, 13, &g->value_info[i]);
}

/* Bytes of every initializer, subgraphs included: most of the written file. */
static size_t init_bytes(const onyx_graph *g)
{
    size_t n = 0;
    for (int i = 0; i < g->n_inits; i++) n += g->inits[i].nbytes;
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++) {
            const onyx_attr *at = &g->nodes[i].attrs[a];
            if (at->type == ATTR_GRAPH) n += init_bytes(at->g);
            for (int k = 0; at->type == ATTR_GRAPHS && k < at->n; k++) n += init_bytes(at->graphs[k]);
        }
    return n;
}

onyx_status onnx_encode_model(const onyx_model *m, void **buf_out, size_t *len_out, onyx_error *err)
{
    pb_buf b = {0};
    pbw_presize(&b, init_bytes(m->graph) + ((size_t)1 << 20));
    pbw_varint(&b, 1, (uint64_t)m->ir_version);
    if (m->producer_name[0]) pbw_string(&b, 2, m->producer_name);
    if (m->producer_version[0]) pbw_string(&b, 3, m->producer_version);
    if (m->domain[0]) pbw_string(&b, 4, m->domain);
    if (m->model_version) pbw_varint(&b, 5, (uint64_t)m->model_version);
    size_t g = pbw_begin(&b, 7);
    encode_graph(&b, m->graph);
    pbw_end(&b, g);
    for (int i = 0; i < m->n_opsets; i++) {
        size_t o = pbw_begin(&b, 8);
        if (m->opset_domains[i][0]) pbw_string(&b, 1, m->opset_domains[i]);
        pbw_varint(&b, 2, (uint64_t)m->opset_versions[i]);
        pbw_end(&b, o);
    }
    for (int i = 0; i < m->n_meta; i++) {
        size_t e = pbw_begin(&b, 14);
        pbw_string(&b, 1, m->meta_keys[i]);
        pbw_string(&b, 2, m->meta_values[i]);
        pbw_end(&b, e);
    }
    if (b.oom) {
        pbw_free(&b);
        if (err) {
            err->code = ONYX_E_NOMEM;
            snprintf(err->message, sizeof err->message, "out of memory writing the model");
        }
        return ONYX_E_NOMEM;
    }
    *buf_out = b.p;
    *len_out = b.len;
    return ONYX_OK;
}
