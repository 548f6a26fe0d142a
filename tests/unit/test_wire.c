/* test_wire.c - the protobuf reader and ONNX decoding on hand-built messages:
 * packed and unpacked repeated fields, unknown fields, every truncation of a
 * valid model, hostile lengths and nesting. */
#include "../../loader/pb_writer.h"
#include "../../loader/wire.h"
#include "../../runtime/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
#define CHECK(c)                                                        \
    do {                                                                \
        if (c) passed++;                                                \
        else {                                                          \
            failed++;                                                   \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #c);         \
        }                                                               \
    } while (0)

/* A TensorProto float[2x3] named W; packed selects packed or repeated dims. */
static void put_tensor(pb_buf *b, uint32_t field, bool packed, bool raw)
{
    size_t t = pbw_begin(b, field);
    if (packed) {
        uint8_t dims[] = {2, 3};
        pbw_bytes(b, 1, dims, 2);
    } else {
        pbw_varint(b, 1, 2);
        pbw_varint(b, 1, 3);
    }
    pbw_varint(b, 2, ONYX_FLOAT);
    pbw_string(b, 8, "W");
    pbw_varint(b, 99, 12345); /* unknown field: skipped */
    float v[6] = {1, -2, 3, -4, 5, -6};
    if (raw) {
        pbw_bytes(b, 9, v, sizeof v);
    } else {
        for (int i = 0; i < 6; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            pbw_fixed32(b, 4, u);
        }
    }
    pbw_end(b, t);
}

/* ModelProto: opset 13, graph with input X float[2x3], initializer W, Add. */
static pb_buf build_model(bool packed, bool raw)
{
    pb_buf b = {0};
    pbw_varint(&b, 1, 8);
    pbw_string(&b, 2, "unit");
    size_t op = pbw_begin(&b, 8);
    pbw_string(&b, 1, "");
    pbw_varint(&b, 2, 13);
    pbw_end(&b, op);
    size_t g = pbw_begin(&b, 7);
    size_t n = pbw_begin(&b, 1);
    pbw_string(&b, 1, "X");
    pbw_string(&b, 1, "W");
    pbw_string(&b, 2, "Y");
    pbw_string(&b, 3, "add0");
    pbw_string(&b, 4, "Add");
    pbw_end(&b, n);
    pbw_string(&b, 2, "g");
    put_tensor(&b, 5, packed, raw);
    for (int io = 0; io < 2; io++) {
        size_t vi = pbw_begin(&b, io ? 12 : 11);
        pbw_string(&b, 1, io ? "Y" : "X");
        size_t tp = pbw_begin(&b, 2);
        size_t tt = pbw_begin(&b, 1);
        pbw_varint(&b, 1, ONYX_FLOAT);
        size_t sh = pbw_begin(&b, 2);
        size_t d0 = pbw_begin(&b, 1);
        pbw_string(&b, 2, "batch");
        pbw_end(&b, d0);
        size_t d1 = pbw_begin(&b, 1);
        pbw_varint(&b, 1, 3);
        pbw_end(&b, d1);
        pbw_end(&b, sh);
        pbw_end(&b, tt);
        pbw_end(&b, tp);
        pbw_end(&b, vi);
    }
    pbw_end(&b, g);
    return b;
}

static void test_varints(void)
{
    pb_buf b = {0};
    pbw_varint(&b, 1, 0);
    pbw_varint(&b, 2, 300);
    pbw_varint(&b, 3, UINT64_MAX);
    pb_iter it;
    pb_field f;
    onyx_error err = {0};
    pb_iter_init(&it, (pb_msg){b.p, b.len, 0, "test"});
    CHECK(pb_next(&it, &f, &err) == 1 && f.number == 1 && f.v == 0);
    CHECK(pb_next(&it, &f, &err) == 1 && f.number == 2 && f.v == 300);
    CHECK(pb_next(&it, &f, &err) == 1 && f.number == 3 && f.v == UINT64_MAX);
    CHECK(pb_next(&it, &f, &err) == 0);
    /* an 11-byte varint is malformed */
    uint8_t bad[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    pb_iter_init(&it, (pb_msg){bad, sizeof bad, 0, "test"});
    CHECK(pb_next(&it, &f, &err) == -1 && err.code == ONYX_E_PARSE && strstr(err.message, "byte 0"));
    /* a length past the end names the field and what remains */
    uint8_t longlen[] = {0x0a, 0x10, 'a', 'b'};
    err = (onyx_error){0};
    pb_iter_init(&it, (pb_msg){longlen, sizeof longlen, 100, "NodeProto"});
    CHECK(pb_next(&it, &f, &err) == -1 && strstr(err.message, "field 1 at byte 100 in NodeProto claims 16 bytes"));
    /* groups are rejected, not skipped */
    uint8_t group[] = {0x0b, 0x0c};
    err = (onyx_error){0};
    pb_iter_init(&it, (pb_msg){group, sizeof group, 0, "test"});
    CHECK(pb_next(&it, &f, &err) == -1 && strstr(err.message, "start-group"));
    pbw_free(&b);
}

static void test_model(bool packed, bool raw)
{
    pb_buf b = build_model(packed, raw);
    onyx_error err = {0};
    onyx_model *m = NULL;
    CHECK(onyx_model_load_buffer(b.p, b.len, &m, &err) == ONYX_OK);
    if (!m) {
        printf("  load failed: %s\n", err.message);
        pbw_free(&b);
        return;
    }
    const onyx_graph *g = m->graph;
    CHECK(model_opset(m, "") == 13 && model_opset(m, "ai.onnx") == 13);
    CHECK(g->n_nodes == 1 && !strcmp(g->nodes[0].op_type, "Add") && g->nodes[0].n_inputs == 2);
    CHECK(g->n_inits == 1 && g->inits[0].rank == 2 && g->inits[0].dims[1] == 3);
    CHECK(((float *)g->inits[0].data)[3] == -4.0f);
    CHECK(onyx_model_num_inputs(m) == 1);
    onyx_value_info v;
    onyx_model_input(m, 0, &v);
    CHECK(v.rank == 2 && v.dims[0] == -1 && !strcmp(v.dim_names[0], "batch") && v.dims[1] == 3);

    /* a session runs many times */
    onyx_session *s;
    CHECK(onyx_session_create(m, NULL, &s, &err) == ONYX_OK);
    for (int run = 0, batch = 2; run < 2; run++) {
        int64_t dims[2] = {batch, 3};
        onyx_tensor *x = onyx_tensor_create(ONYX_FLOAT, 2, dims);
        float *xp = onyx_tensor_data(x);
        for (int i = 0; i < 6; i++) xp[i] = (float)i;
        const char *name = "X";
        const onyx_tensor *in[] = {x};
        if (onyx_session_run(s, 1, &name, in, &err) == ONYX_OK) {
            const onyx_tensor *y = onyx_session_output(s, 0);
            const float *yp = onyx_tensor_data((onyx_tensor *)y);
            CHECK(onyx_tensor_dims(y)[0] == batch && yp[0] == 1.0f && yp[5] == -1.0f);
        } else {
            /* Add may not be compiled into a minimal build: the error must say so */
            CHECK(strstr(err.message, "Add") != NULL);
        }
        onyx_tensor_free(x);
    }
    /* a wrong inner dimension is a clear shape error */
    int64_t bad[2] = {2, 4};
    onyx_tensor *x = onyx_tensor_create(ONYX_FLOAT, 2, bad);
    const char *name = "X";
    const onyx_tensor *in[] = {x};
    CHECK(onyx_session_run(s, 1, &name, in, &err) == ONYX_E_SHAPE && strstr(err.message, "dimension 1 = 4"));
    onyx_tensor_free(x);
    onyx_session_free(s);
    onyx_model_free(m);

    /* every truncation is an error with a message, never a crash */
    int truncation_errors = 0;
    for (size_t len = 0; len < b.len; len++) {
        onyx_model *t = NULL;
        err = (onyx_error){0};
        onyx_status st = onyx_model_load_buffer(b.p, len, &t, &err);
        if (st != ONYX_OK) truncation_errors += err.message[0] != 0;
        else onyx_model_free(t);
    }
    CHECK(truncation_errors == (int)b.len);
    pbw_free(&b);
}

/* A ModelProto holding one graph tensor initializer with the given dims and raw bytes. */
static pb_buf model_with_tensor(uint64_t d0, uint64_t d1, size_t raw_len)
{
    pb_buf b = {0};
    size_t g = pbw_begin(&b, 7);
    size_t t = pbw_begin(&b, 5);
    pbw_varint(&b, 1, d0);
    pbw_varint(&b, 1, d1);
    pbw_varint(&b, 2, ONYX_FLOAT);
    char raw[64] = {0};
    pbw_bytes(&b, 9, raw, raw_len);
    pbw_end(&b, t);
    pbw_end(&b, g);
    return b;
}

/* GraphProto bytes: depth levels of If nodes, each holding the next graph. */
static pb_buf nested_graph(int depth)
{
    pb_buf b = {0};
    if (depth == 0) return b;
    pb_buf inner = nested_graph(depth - 1);
    size_t n = pbw_begin(&b, 1);
    pbw_string(&b, 4, "If");
    size_t a = pbw_begin(&b, 5);
    pbw_string(&b, 1, "then_branch");
    pbw_varint(&b, 20, ATTR_GRAPH);
    pbw_bytes(&b, 6, inner.p, inner.len);
    pbw_end(&b, a);
    pbw_end(&b, n);
    pbw_free(&inner);
    return b;
}

static void test_hostile(void)
{
    onyx_error err = {0};
    onyx_model *m = NULL;
    /* a shape whose byte size overflows is refused before any allocation */
    pb_buf b = model_with_tensor(1000000000, 1000000000, 4);
    CHECK(onyx_model_load_buffer(b.p, b.len, &m, &err) == ONYX_E_LIMIT && strstr(err.message, "too large"));
    pbw_free(&b);
    /* raw_data that disagrees with the shape */
    err = (onyx_error){0};
    b = model_with_tensor(2, 3, 20);
    CHECK(onyx_model_load_buffer(b.p, b.len, &m, &err) == ONYX_E_PARSE &&
          strstr(err.message, "raw_data") && strstr(err.message, "20 bytes"));
    pbw_free(&b);
    /* graphs nested through attributes beyond the limit */
    pb_buf g = nested_graph(40);
    b = (pb_buf){0};
    pbw_bytes(&b, 7, g.p, g.len);
    err = (onyx_error){0};
    CHECK(onyx_model_load_buffer(b.p, b.len, &m, &err) == ONYX_E_LIMIT && strstr(err.message, "nested deeper"));
    pbw_free(&b);
    pbw_free(&g);
    /* a shallow nesting loads */
    g = nested_graph(3);
    b = (pb_buf){0};
    pbw_bytes(&b, 7, g.p, g.len);
    err = (onyx_error){0};
    CHECK(onyx_model_load_buffer(b.p, b.len, &m, &err) == ONYX_OK);
    onyx_model_free(m);
    pbw_free(&b);
    pbw_free(&g);
    /* a message field number reused with a scalar wire type is skipped, not
     * counted as a node (found by the fuzzer) */
    b = (pb_buf){0};
    size_t gm = pbw_begin(&b, 7);
    pbw_varint(&b, 1, 42);
    size_t nm = pbw_begin(&b, 1);
    pbw_string(&b, 4, "Relu");
    pbw_end(&b, nm);
    pbw_end(&b, gm);
    err = (onyx_error){0};
    CHECK(onyx_model_load_buffer(b.p, b.len, &m, &err) == ONYX_OK && m->graph->n_nodes == 1 &&
          !strcmp(m->graph->nodes[0].op_type, "Relu"));
    onyx_model_free(m);
    pbw_free(&b);
    /* a STRING attribute whose string field is missing (here a tensor field
     * stands in its place) reads as the empty string, not NULL (found by the
     * fuzzer: MaxPool's auto_pad crashed shape inference) */
    b = (pb_buf){0};
    gm = pbw_begin(&b, 7);
    nm = pbw_begin(&b, 1);
    pbw_string(&b, 4, "MaxPool");
    size_t am = pbw_begin(&b, 5);
    pbw_string(&b, 1, "auto_pad");
    pbw_string(&b, 5, "SAME_UPPER");
    pbw_varint(&b, 20, ATTR_STRING);
    pbw_end(&b, am);
    pbw_end(&b, nm);
    pbw_end(&b, gm);
    err = (onyx_error){0};
    CHECK(onyx_model_load_buffer(b.p, b.len, &m, &err) == ONYX_OK && m->graph->nodes[0].n_attrs == 1 &&
          m->graph->nodes[0].attrs[0].type == ATTR_STRING && m->graph->nodes[0].attrs[0].s &&
          !m->graph->nodes[0].attrs[0].s[0]);
    onyx_model_free(m);
    pbw_free(&b);
    /* no graph at all */
    err = (onyx_error){0};
    CHECK(onyx_model_load_buffer("", 0, &m, &err) == ONYX_E_PARSE && strstr(err.message, "no graph"));
}

int main(void)
{
    test_varints();
    test_model(true, true);
    test_model(false, false);
    test_model(true, false);
    test_hostile();
    printf("test_wire: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
