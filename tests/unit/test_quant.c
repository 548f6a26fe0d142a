/* test_quant.c - static post-training quantization (quant/): the calibrator's
 * ranges for each method, the QDQ rewrite's structure (int8 per-channel weights,
 * int32 biases, shared Q/DQ pairs, axes), that the quantized graph computes
 * nearly what the float one does, survives serialize -> load unchanged,
 * --exclude and weight-only modes, and the error paths. */
#include "../../quant/quant.h"
#include "model_build.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) passed++;                                                          \
        else {                                                                       \
            failed++;                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* ---------------------------------------------------------------- building */

/* Pseudo-random in [-amp, amp]: structured values (sines) cancel in long dot
 * products and would make any rounding look large. */
static double urand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (double)(*s >> 8) / 16777216.0 * 2 - 1;
}

static const char *add_const(onyx_model *m, const char *name, int rank, const int64_t *dims, double amp)
{
    onyx_tensor *t = ge_new_tensor(m, ONYX_FLOAT, rank, dims);
    float *p = t->data;
    uint32_t seed = 7u + (uint32_t)strlen(name) * 977u + (uint32_t)name[0];
    for (size_t i = 0; i < t->nbytes / 4; i++) p[i] = (float)(amp * urand(&seed));
    return ge_add_init(m, m->graph, name, t);
}

static onyx_node *node(onyx_model *m, const char *op, const char *name, const char *a, const char *b, const char *c,
                       const char *out)
{
    const char *in[3] = {a, b, c};
    int n = c ? 3 : b ? 2 : 1;
    const char *outs[1] = {out};
    return ge_add_node(m, m->graph, op, "", name, n, in, 1, outs);
}

/* x[1,3,8,8] -> Conv(W[4,3,3,3], B[4], pads 1) -> Relu -> Flatten -> Gemm(W[256,10], C[10]) -> y */
static onyx_model *cnn(int64_t opset)
{
    onyx_model *m = new_model(opset);
    int64_t xd[4] = {1, 3, 8, 8}, wd[4] = {4, 3, 3, 3}, bd[1] = {4}, gd[2] = {256, 10}, cd[1] = {10};
    add_input(m, "x", 4, xd);
    add_const(m, "W", 4, wd, 0.4);
    add_const(m, "B", 1, bd, 0.1);
    add_const(m, "G", 2, gd, 0.2);
    add_const(m, "C", 1, cd, 0.05);
    onyx_node *c = node(m, "Conv", "conv", "x", "W", "B", "c");
    int64_t pads[4] = {1, 1, 1, 1};
    ge_set_attr_ints(m, c, "pads", 4, pads);
    node(m, "Relu", "relu", "c", NULL, NULL, "r");
    node(m, "Flatten", "flatten", "r", NULL, NULL, "f");
    node(m, "Gemm", "gemm", "f", "G", "C", "y");
    add_output(m, "y");
    return m;
}

static onyx_tensor *input(int sample)
{
    int64_t xd[4] = {1, 3, 8, 8};
    onyx_tensor *t = onyx_tensor_create(ONYX_FLOAT, 4, xd);
    float *p = onyx_tensor_data(t);
    uint32_t seed = 1234u + (uint32_t)sample * 7919u;
    for (int64_t i = 0; i < onyx_tensor_numel(t); i++) p[i] = (float)urand(&seed);
    return t;
}

static onyx_calibrator *calibrate(const onyx_model *m, const onyx_quant_options *o, int n)
{
    onyx_calibrator *c = NULL;
    onyx_session *s = NULL;
    onyx_error err;
    if (onyx_calibrator_create(m, o, &c, &err) != ONYX_OK || onyx_session_create(m, NULL, &s, &err) != ONYX_OK) {
        fprintf(stderr, "calibrate: %s\n", err.message);
        onyx_calibrator_free(c);
        return NULL;
    }
    const char *names[1] = {"x"};
    for (int k = 0; k < n; k++) {
        onyx_tensor *x = input(k);
        if (onyx_calibrator_run(c, s, 1, names, (const onyx_tensor *const *)&x, &err) != ONYX_OK)
            fprintf(stderr, "calibrate run: %s\n", err.message);
        onyx_tensor_free(x);
    }
    onyx_session_free(s);
    return c;
}

static onyx_tensor *run(const onyx_model *m, int sample)
{
    onyx_session *s;
    onyx_error err;
    if (onyx_session_create(m, NULL, &s, &err) != ONYX_OK) {
        fprintf(stderr, "session: %s\n", err.message);
        return NULL;
    }
    onyx_tensor *x = input(sample), *out = NULL;
    const char *names[1] = {"x"};
    if (onyx_session_run(s, 1, names, (const onyx_tensor *const *)&x, &err) == ONYX_OK) {
        out = onyx_tensor_create(ONYX_FLOAT, 0, NULL);
        tensor_copy(out, onyx_session_output(s, 0));
    } else {
        fprintf(stderr, "run: %s\n", err.message);
    }
    onyx_tensor_free(x);
    onyx_session_free(s);
    return out;
}

static double rel_err(const onyx_tensor *a, const onyx_tensor *b)
{
    if (!a || !b || a->nbytes != b->nbytes) return INFINITY;
    const float *x = a->data, *y = b->data;
    double num = 0, den = 0;
    for (size_t i = 0; i < a->nbytes / 4; i++) num += (x[i] - y[i]) * (double)(x[i] - y[i]), den += (double)y[i] * y[i];
    return sqrt(num / (den > 0 ? den : 1));
}

static int count_op(const onyx_model *m, const char *op)
{
    int c = 0;
    for (int i = 0; i < m->graph->n_nodes; i++) c += !strcmp(m->graph->nodes[i].op_type, op);
    return c;
}

static const onyx_node *producer(const onyx_model *m, const char *name)
{
    int p = ge_producer(m->graph, name);
    return p >= 0 ? &m->graph->nodes[p] : NULL;
}

static const onyx_node *by_name(const onyx_model *m, const char *name)
{
    for (int i = 0; i < m->graph->n_nodes; i++)
        if (!strcmp(m->graph->nodes[i].name, name)) return &m->graph->nodes[i];
    return NULL;
}

/* ---------------------------------------------------------------- tests */

static void test_calibrator_ranges(void)
{
    onyx_model *m = cnn(17);
    onyx_quant_options o = {0};
    onyx_calibrator *c = calibrate(m, &o, 4);
    float lo = 0, hi = 0;
    CHECK(c && onyx_calibrator_range(c, "x", &lo, &hi));
    /* the inputs are uniform in [-1, 1] */
    CHECK(lo < -0.99f && lo >= -1.0f && hi > 0.99f && hi <= 1.0f);
    CHECK(onyx_calibrator_range(c, "f", &lo, &hi) && lo == 0 && hi > 0); /* after Relu: [0, max] */
    CHECK(!onyx_calibrator_range(c, "W", &lo, &hi));                    /* weights are not activations */
    CHECK(!onyx_calibrator_range(c, "nothing", &lo, &hi));
    onyx_calibrator_free(c);

    /* an outlier: percentile and entropy clip it, minmax keeps it */
    onyx_model *m2 = new_model(17);
    int64_t d[2] = {1, 4096}, wd[2] = {4096, 2};
    add_input(m2, "x", 2, d);
    add_const(m2, "W", 2, wd, 0.1);
    node(m2, "MatMul", "mm", "x", "W", NULL, "y");
    add_output(m2, "y");
    float his[3];
    for (int meth = 0; meth < 3; meth++) {
        onyx_quant_options om = {0};
        om.method = (onyx_calib_method)meth;
        om.percentile = 99.9;
        onyx_calibrator *cm = NULL;
        onyx_session *s = NULL;
        onyx_error err;
        CHECK(onyx_calibrator_create(m2, &om, &cm, &err) == ONYX_OK && onyx_session_create(m2, NULL, &s, &err) == ONYX_OK);
        onyx_tensor *x = onyx_tensor_create(ONYX_FLOAT, 2, d);
        float *p = onyx_tensor_data(x);
        for (int i = 0; i < 4096; i++) p[i] = (float)(0.5 * sin(0.01 * i * i));
        p[77] = 40.0f;
        const char *names[1] = {"x"};
        CHECK(onyx_calibrator_run(cm, s, 1, names, (const onyx_tensor *const *)&x, &err) == ONYX_OK);
        CHECK(onyx_calibrator_range(cm, "x", &lo, &hi));
        his[meth] = hi;
        onyx_tensor_free(x);
        onyx_session_free(s);
        onyx_calibrator_free(cm);
    }
    CHECK(his[0] == 40.0f);
    CHECK(his[1] < 1.0f && his[1] > 0.4f);
    CHECK(his[2] < 40.0f && his[2] > 0.4f);
    onyx_model_free(m2);
    onyx_model_free(m);
}

static void test_qdq_structure_and_numerics(void)
{
    onyx_model *f = cnn(17), *m = cnn(17);
    onyx_quant_options o = {0};
    onyx_calibrator *c = calibrate(m, &o, 4);
    onyx_quant_summary sum;
    onyx_error err;
    CHECK(onyx_model_quantize(m, c, &o, &sum, &err) == ONYX_OK);
    CHECK(sum.nodes_quantized == 2 && sum.activations == 2 && sum.weights == 2 && sum.biases == 2);
    CHECK(count_op(m, "QuantizeLinear") == 2);
    CHECK(count_op(m, "DequantizeLinear") == 6);
    CHECK(sum.init_bytes_after < sum.init_bytes_before / 2);
    /* Conv reads x, W and B through DequantizeLinear */
    const onyx_node *conv = by_name(m, "conv");
    CHECK(conv && conv->n_inputs == 3);
    const onyx_node *dx = conv ? producer(m, conv->inputs[0]) : NULL, *dw = conv ? producer(m, conv->inputs[1]) : NULL,
                    *db = conv ? producer(m, conv->inputs[2]) : NULL;
    CHECK(dx && !strcmp(dx->op_type, "DequantizeLinear"));
    CHECK(dx && producer(m, dx->inputs[0]) && !strcmp(producer(m, dx->inputs[0])->op_type, "QuantizeLinear"));
    CHECK(dw && !strcmp(dw->op_type, "DequantizeLinear") && ge_attr_int(dw, "axis", -1) == 0);
    const onyx_tensor *wq = dw ? ge_const(m->graph, dw->inputs[0]) : NULL, *ws = dw ? ge_const(m->graph, dw->inputs[1]) : NULL;
    CHECK(wq && wq->dtype == ONYX_INT8 && wq->rank == 4 && wq->dims[0] == 4);
    CHECK(ws && ws->dtype == ONYX_FLOAT && ws->rank == 1 && ws->dims[0] == 4);
    /* symmetric: every channel uses +-127 at its largest weight */
    if (wq) {
        const int8_t *q = wq->data;
        for (int ch = 0; ch < 4; ch++) {
            int mx = 0;
            for (int i = 0; i < 27; i++) mx = abs(q[ch * 27 + i]) > mx ? abs(q[ch * 27 + i]) : mx;
            CHECK(mx == 127);
        }
    }
    const onyx_tensor *bq = db ? ge_const(m->graph, db->inputs[0]) : NULL;
    CHECK(db && !strcmp(db->op_type, "DequantizeLinear") && bq && bq->dtype == ONYX_INT32);
    /* the activation scale is uint8 over the calibrated range */
    const onyx_tensor *xz = dx ? ge_const(m->graph, dx->inputs[2]) : NULL;
    CHECK(xz && xz->dtype == ONYX_UINT8 && xz->rank == 0);
    /* Gemm's B [K, N] is per channel on axis 1 */
    const onyx_node *gemm = by_name(m, "gemm");
    const onyx_node *dg = gemm ? producer(m, gemm->inputs[1]) : NULL;
    CHECK(dg && ge_attr_int(dg, "axis", -1) == 1);
    /* the float weights are gone */
    CHECK(!ge_const(m->graph, "W") && !ge_const(m->graph, "G"));
    /* numerics: close to the float model on inputs it was not calibrated on */
    for (int s = 10; s < 13; s++) {
        onyx_tensor *a = run(f, s), *b = run(m, s);
        double e = rel_err(b, a);
        if (!(e < 0.05)) fprintf(stderr, "rel err %g\n", e);
        CHECK(e < 0.05); /* 8-bit activations and weights: a few percent */
        onyx_tensor_free(a);
        onyx_tensor_free(b);
    }
    /* serialize -> load -> same numbers */
    void *buf;
    size_t len;
    onyx_model *back = NULL;
    CHECK(onyx_model_serialize(m, &buf, &len, &err) == ONYX_OK);
    CHECK(onyx_model_load_buffer(buf, len, &back, &err) == ONYX_OK);
    if (back) {
        onyx_tensor *a = run(m, 11), *b = run(back, 11);
        CHECK(rel_err(a, b) == 0);
        onyx_tensor_free(a);
        onyx_tensor_free(b);
        onyx_model_free(back);
    }
    free(buf);
    onyx_calibrator_free(c);
    onyx_model_free(m);
    onyx_model_free(f);
}

static void test_options(void)
{
    onyx_error err;
    onyx_quant_summary sum;
    /* exclude by node name keeps the Conv float */
    onyx_model *m = cnn(17);
    onyx_quant_options o = {0};
    o.exclude = "conv";
    onyx_calibrator *c = calibrate(m, &o, 2);
    CHECK(onyx_model_quantize(m, c, &o, &sum, &err) == ONYX_OK);
    CHECK(sum.nodes_quantized == 1 && sum.nodes_excluded == 1);
    const onyx_node *conv = by_name(m, "conv");
    CHECK(conv && !strcmp(conv->inputs[1], "W"));
    onyx_calibrator_free(c);
    onyx_model_free(m);

    /* per tensor: scalar weight scales */
    m = cnn(17);
    memset(&o, 0, sizeof o);
    o.per_tensor_weights = 1;
    c = calibrate(m, &o, 2);
    CHECK(onyx_model_quantize(m, c, &o, &sum, &err) == ONYX_OK);
    conv = by_name(m, "conv");
    const onyx_node *dw = conv ? producer(m, conv->inputs[1]) : NULL;
    const onyx_tensor *ws = dw ? ge_const(m->graph, dw->inputs[1]) : NULL;
    CHECK(ws && ws->rank == 0 && !ge_attr(dw, "axis"));
    onyx_calibrator_free(c);
    onyx_model_free(m);

    /* int8 activations */
    m = cnn(17);
    memset(&o, 0, sizeof o);
    o.signed_activations = 1;
    c = calibrate(m, &o, 2);
    CHECK(onyx_model_quantize(m, c, &o, &sum, &err) == ONYX_OK);
    conv = by_name(m, "conv");
    const onyx_node *dx = conv ? producer(m, conv->inputs[0]) : NULL;
    const onyx_tensor *z = dx ? ge_const(m->graph, dx->inputs[2]) : NULL;
    CHECK(z && z->dtype == ONYX_INT8);
    onyx_calibrator_free(c);
    onyx_model_free(m);

    /* weight only: no QuantizeLinear, float biases, still close */
    onyx_model *f = cnn(17);
    m = cnn(17);
    memset(&o, 0, sizeof o);
    o.weight_only = 1;
    CHECK(onyx_model_quantize(m, NULL, &o, &sum, &err) == ONYX_OK);
    CHECK(count_op(m, "QuantizeLinear") == 0 && count_op(m, "DequantizeLinear") == 2 && sum.biases == 0);
    onyx_tensor *a = run(f, 3), *b = run(m, 3);
    if (!(rel_err(b, a) < 0.01)) fprintf(stderr, "weight-only rel err %g\n", rel_err(b, a));
    CHECK(rel_err(b, a) < 0.01);
    onyx_tensor_free(a);
    onyx_tensor_free(b);
    onyx_model_free(m);
    onyx_model_free(f);

    /* opset 12: per-axis DequantizeLinear does not exist yet, so per tensor */
    m = cnn(12);
    memset(&o, 0, sizeof o);
    c = calibrate(m, &o, 2);
    CHECK(onyx_model_quantize(m, c, &o, &sum, &err) == ONYX_OK);
    conv = by_name(m, "conv");
    dw = conv ? producer(m, conv->inputs[1]) : NULL;
    CHECK(dw && !ge_attr(dw, "axis"));
    onyx_calibrator_free(c);
    onyx_model_free(m);
}

static void test_errors(void)
{
    onyx_error err;
    onyx_quant_options o = {0};
    onyx_model *m = cnn(9);
    CHECK(onyx_model_quantize(m, NULL, &o, NULL, &err) == ONYX_E_INVALID); /* static needs calibration */
    o.weight_only = 1;
    CHECK(onyx_model_quantize(m, NULL, &o, NULL, &err) == ONYX_E_UNSUPPORTED);
    CHECK(strstr(err.message, "opset") != NULL);
    onyx_model_free(m);
    /* a QDQ model is not quantized twice */
    m = cnn(17);
    memset(&o, 0, sizeof o);
    o.weight_only = 1;
    CHECK(onyx_model_quantize(m, NULL, &o, NULL, &err) == ONYX_OK);
    CHECK(onyx_model_quantize(m, NULL, &o, NULL, &err) == ONYX_E_INVALID && strstr(err.message, "already quantized"));
    onyx_model_free(m);
    /* an activation the calibrator never saw stays float, without an error */
    m = cnn(17);
    memset(&o, 0, sizeof o);
    onyx_calibrator *c = NULL;
    CHECK(onyx_calibrator_create(m, &o, &c, &err) == ONYX_OK);
    onyx_quant_summary sum;
    CHECK(onyx_model_quantize(m, c, &o, &sum, &err) == ONYX_OK);
    CHECK(sum.activations == 0 && sum.weights == 2 && sum.biases == 0);
    onyx_calibrator_free(c);
    onyx_model_free(m);
}

int main(void)
{
    test_calibrator_ranges();
    test_qdq_structure_and_numerics();
    test_options();
    test_errors();
    printf("test_quant: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
