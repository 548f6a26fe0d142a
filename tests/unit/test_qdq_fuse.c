/* test_qdq_fuse.c - the qdq_fuse pass (runtime/passes/qdq_fuse.c) on models
 * quantized by onyx itself: a small CNN (conv, Relu, MaxPool, residual Add,
 * depthwise conv, Clip, global pool, Gemm) and a small transformer block
 * (MatMul + bias, Relu, layer scale, residual, an activation x activation
 * attention product). Checks that the QDQ groups become QConv/NhwcQConv and
 * QMatMul (no DequantizeLinear left, the QuantizeLinear after a conv absorbed,
 * layer scale and residual folded, ONNX Runtime's dynamic form recognised),
 * that the integer graph computes what the QDQ graph computes (to rounding),
 * that --standard-ops leaves the groups alone, and that a fused model written
 * and read back runs identically. */
#include "../../runtime/passes/passes.h"
#include "model_build.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static double urand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (double)(*s >> 8) / 16777216.0 * 2 - 1;
}

static const char *add_const(onyx_model *m, const char *name, int rank, const int64_t *dims, double amp,
                             double offset)
{
    onyx_tensor *t = ge_new_tensor(m, ONYX_FLOAT, rank, dims);
    float *p = t->data;
    uint32_t seed = 7u + (uint32_t)strlen(name) * 977u + (uint32_t)name[0] * 31u;
    for (size_t i = 0; i < t->nbytes / 4; i++) p[i] = (float)(offset + amp * urand(&seed));
    return ge_add_init(m, m->graph, name, t);
}

/* A float scalar initializer. */
static const char *add_const_values(onyx_model *m, const char *name, const float *v)
{
    onyx_tensor *t = ge_new_tensor(m, ONYX_FLOAT, 0, NULL);
    memcpy(t->data, v, sizeof *v);
    return ge_add_init(m, m->graph, name, t);
}

static onyx_node *node(onyx_model *m, const char *op, const char *a, const char *b, const char *c, const char *out)
{
    const char *in[3] = {a, b, c};
    int n = c ? 3 : b ? 2 : 1;
    const char *outs[1] = {out};
    return ge_add_node(m, m->graph, op, "", out, n, in, 1, outs);
}

/* x[1,3,12,12] -> Conv 3x3 -> Relu -> MaxPool 2x2 -> p; Conv 1x1(p) [+ p] -> Relu ->
 * depthwise 3x3 -> Clip(0, 6) -> GlobalAveragePool -> Flatten -> Gemm -> y */
static onyx_model *cnn_with(bool residual)
{
    onyx_model *m = new_model(17);
    int64_t xd[4] = {1, 3, 12, 12}, w1[4] = {8, 3, 3, 3}, w2[4] = {8, 8, 1, 1}, w3[4] = {8, 1, 3, 3};
    int64_t b8[1] = {8}, gd[2] = {8, 10}, cd[1] = {10}, pads[4] = {1, 1, 1, 1}, k2[2] = {2, 2};
    add_input(m, "x", 4, xd);
    add_const(m, "W1", 4, w1, 0.4, 0);
    add_const(m, "B1", 1, b8, 0.1, 0);
    add_const(m, "W2", 4, w2, 0.3, 0);
    add_const(m, "B2", 1, b8, 0.1, 0);
    add_const(m, "W3", 4, w3, 0.5, 0);
    add_const(m, "B3", 1, b8, 0.1, 0);
    add_const(m, "G", 2, gd, 0.3, 0);
    add_const(m, "C", 1, cd, 0.05, 0);
    ge_set_attr_ints(m, node(m, "Conv", "x", "W1", "B1", "c1"), "pads", 4, pads);
    node(m, "Relu", "c1", NULL, NULL, "r1");
    onyx_node *mp = node(m, "MaxPool", "r1", NULL, NULL, "p");
    ge_set_attr_ints(m, mp, "kernel_shape", 2, k2);
    ge_set_attr_ints(m, &m->graph->nodes[m->graph->n_nodes - 1], "strides", 2, k2);
    node(m, "Conv", "p", "W2", "B2", "c2");
    if (residual) node(m, "Add", "c2", "p", NULL, "s");
    node(m, "Relu", residual ? "s" : "c2", NULL, NULL, "r2");
    onyx_node *dw = node(m, "Conv", "r2", "W3", "B3", "c3");
    ge_set_attr_ints(m, dw, "pads", 4, pads);
    ge_set_attr_int(m, &m->graph->nodes[m->graph->n_nodes - 1], "group", 8);
    float lo = 0.0f, hi = 6.0f;
    add_const_values(m, "clip_min", &lo);
    add_const_values(m, "clip_max", &hi);
    node(m, "Clip", "c3", "clip_min", "clip_max", "r3");
    node(m, "GlobalAveragePool", "r3", NULL, NULL, "gp");
    node(m, "Flatten", "gp", NULL, NULL, "f");
    node(m, "Gemm", "f", "G", "C", "y");
    add_output(m, "y");
    return m;
}

static onyx_model *cnn(void) { return cnn_with(true); }
static onyx_model *cnn_plain(void) { return cnn_with(false); }

/* x[1,6,16]: h = Relu(x W1 + b1); y1 = x + gamma * (h W2 + b2);
 * q = x Wq, k = x Wk; y2 = Softmax(q k^T) x */
static onyx_model *block(void)
{
    onyx_model *m = new_model(17);
    int64_t xd[3] = {1, 6, 16}, w1[2] = {16, 24}, b1[1] = {24}, w2[2] = {24, 16}, b16[1] = {16}, wq[2] = {16, 16};
    int64_t perm[3] = {0, 2, 1};
    add_input(m, "x", 3, xd);
    add_const(m, "W1", 2, w1, 0.4, 0);
    add_const(m, "b1", 1, b1, 0.1, 0);
    add_const(m, "W2", 2, w2, 0.3, 0);
    add_const(m, "b2", 1, b16, 0.1, 0);
    add_const(m, "gamma", 1, b16, 0.2, 0.5);
    add_const(m, "Wq", 2, wq, 0.4, 0);
    add_const(m, "Wk", 2, wq, 0.4, 0);
    node(m, "MatMul", "x", "W1", NULL, "m1");
    node(m, "Add", "m1", "b1", NULL, "a1");
    node(m, "Relu", "a1", NULL, NULL, "h");
    node(m, "MatMul", "h", "W2", NULL, "m2");
    node(m, "Add", "m2", "b2", NULL, "a2");
    node(m, "Mul", "a2", "gamma", NULL, "ls");
    node(m, "Add", "x", "ls", NULL, "y1");
    node(m, "MatMul", "x", "Wq", NULL, "q");
    node(m, "MatMul", "x", "Wk", NULL, "k");
    ge_set_attr_ints(m, node(m, "Transpose", "k", NULL, NULL, "kt"), "perm", 3, perm);
    node(m, "MatMul", "q", "kt", NULL, "sc");
    onyx_node *sm = node(m, "Softmax", "sc", NULL, NULL, "p");
    ge_set_attr_int(m, sm, "axis", -1);
    node(m, "MatMul", "p", "x", NULL, "y2");
    add_output(m, "y1");
    add_output(m, "y2");
    return m;
}

static onyx_tensor *input(const onyx_model *m, int sample)
{
    const onyx_value_decl *d = &m->graph->inputs[0];
    onyx_tensor *t = onyx_tensor_create(ONYX_FLOAT, d->rank, d->dims);
    float *p = onyx_tensor_data(t);
    uint32_t seed = 1234u + (uint32_t)sample * 7919u;
    for (int64_t i = 0; i < onyx_tensor_numel(t); i++) p[i] = (float)urand(&seed);
    return t;
}

static onyx_calibrator *calibrate(const onyx_model *m, const onyx_quant_options *o)
{
    onyx_calibrator *c = NULL;
    onyx_session *s = NULL;
    onyx_error err;
    if (onyx_calibrator_create(m, o, &c, &err) != ONYX_OK || onyx_session_create(m, NULL, &s, &err) != ONYX_OK) {
        fprintf(stderr, "calibrate: %s\n", err.message);
        return c;
    }
    const char *names[1] = {"x"};
    for (int k = 0; k < 8; k++) {
        onyx_tensor *x = input(m, k);
        if (onyx_calibrator_run(c, s, 1, names, (const onyx_tensor *const *)&x, &err) != ONYX_OK)
            fprintf(stderr, "calibrate run: %s\n", err.message);
        onyx_tensor_free(x);
    }
    onyx_session_free(s);
    return c;
}

/* Quantized copy of a model made by build(). */
static onyx_model *quantized(onyx_model *(*build)(void), bool dynamic)
{
    onyx_model *m = build();
    onyx_quant_options o = {0};
    o.weight_only = o.dynamic = dynamic;
    o.no_bias_correction = 1;
    onyx_calibrator *c = dynamic ? NULL : calibrate(m, &o);
    onyx_error err;
    if (onyx_model_quantize(m, c, &o, NULL, &err) != ONYX_OK) fprintf(stderr, "quantize: %s\n", err.message);
    onyx_calibrator_free(c);
    return m;
}

/* Output k of m on input sample (caller frees), or NULL. */
static onyx_tensor *run(const onyx_model *m, int sample, int k)
{
    onyx_session *s;
    onyx_error err;
    if (onyx_session_create(m, NULL, &s, &err) != ONYX_OK) {
        fprintf(stderr, "session: %s\n", err.message);
        return NULL;
    }
    onyx_tensor *x = input(m, sample), *out = NULL;
    const char *names[1] = {"x"};
    if (onyx_session_run(s, 1, names, (const onyx_tensor *const *)&x, &err) == ONYX_OK) {
        out = onyx_tensor_create(ONYX_FLOAT, 0, NULL);
        tensor_copy(out, onyx_session_output(s, k));
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

static int count_domain(const onyx_model *m, const char *domain)
{
    int c = 0;
    for (int i = 0; i < m->graph->n_nodes; i++) c += !strcmp(m->graph->nodes[i].domain, domain);
    return c;
}

static onyx_status optimize(onyx_model *m, bool standard)
{
    onyx_optimize_options o = {0};
    o.runnable_only = 1;
    o.standard_ops = standard;
    onyx_error err;
    onyx_status st = onyx_model_optimize(m, &o, &err);
    if (st) fprintf(stderr, "optimize: %s\n", err.message);
    return st;
}

/* The fused graph against the QDQ graph it came from, on a few inputs. */
static void same_outputs(const onyx_model *qdq, const onyx_model *fused, int n_out, double tol, const char *what)
{
    for (int s = 0; s < 4; s++)
        for (int k = 0; k < n_out; k++) {
            onyx_tensor *a = run(qdq, 100 + s, k), *b = run(fused, 100 + s, k);
            double e = rel_err(b, a);
            if (!(e <= tol)) fprintf(stderr, "%s output %d sample %d: relative error %g > %g\n", what, k, s, e, tol);
            CHECK(e <= tol);
            onyx_tensor_free(a);
            onyx_tensor_free(b);
        }
}

/* ---------------------------------------------------------------- tests */

/* Requantized values may land one step apart where the float QDQ graph and
 * the integer one round a value near a boundary differently; the tolerance
 * allows for that and a little propagation, nothing more. */
#define Q_TOL 0.03

static void test_cnn(void)
{
    onyx_model *qdq = quantized(cnn, false), *f = quantized(cnn, false);
    CHECK(count_op(qdq, "DequantizeLinear") > 0 && count_op(qdq, "Conv") == 3);
    CHECK(optimize(f, false) == ONYX_OK);
    CHECK(count_op(f, "DequantizeLinear") == 0);
    CHECK(count_op(f, "Conv") == 0 && count_op(f, "NhwcQConv") + count_op(f, "QConv") == 3);
    CHECK(count_op(f, "QMatMul") == 1);
    /* the QuantizeLinear after each conv went into it: the input's, the
     * pooled p's (p is also read in float by the residual Add, so the Q
     * cannot move before the MaxPool) and the classifier's are left */
    CHECK(count_op(f, "QuantizeLinear") == 3);
    same_outputs(qdq, f, 1, Q_TOL, "cnn");
    /* written and read back: the same graph, the same numbers */
    char path[] = "/tmp/onyx_test_qdq_fuse_XXXXXX";
    int fd = mkstemp(path);
    onyx_error err;
    onyx_model *back = NULL;
    CHECK(fd >= 0 && onyx_model_save(f, path, &err) == ONYX_OK && onyx_model_load_file(path, &back, &err) == ONYX_OK);
    if (fd >= 0) close(fd), unlink(path);
    if (back) {
        onyx_tensor *a = run(f, 7, 0), *b = run(back, 7, 0);
        CHECK(a && b && a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes));
        onyx_tensor_free(a);
        onyx_tensor_free(b);
        onyx_model_free(back);
    }
    onyx_model_free(qdq);
    onyx_model_free(f);
}

/* Without the residual, p is read by its QuantizeLinear only: the Q moves
 * before the MaxPool into the first conv, and the pool pools bytes. */
static void test_pool(void)
{
    onyx_model *qdq = quantized(cnn_plain, false), *f = quantized(cnn_plain, false);
    CHECK(optimize(f, false) == ONYX_OK);
    CHECK(count_op(f, "QuantizeLinear") == 2);
    const onyx_node *pool = NULL;
    for (int i = 0; i < f->graph->n_nodes; i++)
        if (strstr(f->graph->nodes[i].op_type, "MaxPool")) pool = &f->graph->nodes[i];
    int prod = pool ? ge_producer(f->graph, pool->inputs[0]) : -1;
    CHECK(prod >= 0 && strstr(f->graph->nodes[prod].op_type, "QConv") && f->graph->nodes[prod].n_outputs == 2 &&
          !f->graph->nodes[prod].outputs[0][0]);
    same_outputs(qdq, f, 1, Q_TOL, "cnn_plain");
    onyx_model_free(qdq);
    onyx_model_free(f);
}

static void test_standard_ops(void)
{
    onyx_model *f = quantized(cnn, false);
    int dq = count_op(f, "DequantizeLinear");
    CHECK(optimize(f, true) == ONYX_OK);
    /* nothing fused, and the QDQ groups intact for other runtimes */
    CHECK(count_domain(f, "ai.onyx") == 0 && count_op(f, "DequantizeLinear") == dq);
    onyx_model_free(f);
}

static void test_block(void)
{
    onyx_model *qdq = quantized(block, false), *f = quantized(block, false);
    CHECK(optimize(f, false) == ONYX_OK);
    CHECK(count_op(f, "DequantizeLinear") == 0 && count_op(f, "MatMul") == 0);
    CHECK(count_op(f, "QMatMul") == 6);
    /* gamma and the residual went into the second product's epilogue */
    CHECK(count_op(f, "Mul") == 0 && count_op(f, "Add") == 0);
    same_outputs(qdq, f, 2, Q_TOL, "block");
    onyx_model_free(qdq);
    onyx_model_free(f);
}

static void test_dynamic(void)
{
    onyx_model *dyn = quantized(block, true), *f = quantized(block, true);
    CHECK(count_op(dyn, "DynamicQuantizeLinear") == 4 && count_op(dyn, "MatMulInteger") == 4);
    CHECK(optimize(f, false) == ONYX_OK);
    CHECK(count_op(f, "DynamicQuantizeLinear") == 0 && count_op(f, "MatMulInteger") == 0 && count_op(f, "Cast") == 0);
    CHECK(count_op(f, "QMatMul") == 4);
    /* a float A is quantized inside, exactly as DynamicQuantizeLinear does */
    int float_a = 0;
    for (int i = 0; i < f->graph->n_nodes; i++) {
        const onyx_node *n = &f->graph->nodes[i];
        if (!strcmp(n->op_type, "QMatMul") && (n->n_inputs < 2 || !n->inputs[1][0])) float_a++;
    }
    CHECK(float_a == 4);
    /* same quantized operands, exact integer products: float rounding only */
    same_outputs(dyn, f, 2, 1e-5, "dynamic");
    onyx_model_free(dyn);
    onyx_model_free(f);
}

int main(void)
{
    test_cnn();
    test_pool();
    test_standard_ops();
    test_block();
    test_dynamic();
    printf("test_qdq_fuse: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
