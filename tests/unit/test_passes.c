/* test_passes.c - every graph pass on a small hand-built graph: the rewrite
 * happens (node counts, op types, attributes) and, where onyx has kernels for
 * the result, the optimized graph computes what the original did. */
#include "../../runtime/passes/passes.h"
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

/* A float initializer with deterministic values (or the given ones). */
static const char *add_const(onyx_model *m, const char *name, int rank, const int64_t *dims, const float *vals)
{
    onyx_tensor *t = ge_new_tensor(m, ONYX_FLOAT, rank, dims);
    float *p = t->data;
    for (size_t i = 0; i < t->nbytes / 4; i++) p[i] = vals ? vals[i] : (float)(0.37 * sin(1.7 * (double)i + (double)strlen(name)));
    return ge_add_init(m, m->graph, name, t);
}

static const char *add_iconst(onyx_model *m, const char *name, int rank, const int64_t *dims, const int64_t *vals)
{
    onyx_tensor *t = ge_new_tensor(m, ONYX_INT64, rank, dims);
    memcpy(t->data, vals, t->nbytes);
    return ge_add_init(m, m->graph, name, t);
}

static onyx_node *node(onyx_model *m, const char *op, const char *a, const char *b, const char *c, const char *out)
{
    const char *in[3] = {a, b, c};
    int n = c ? 3 : b ? 2 : a ? 1 : 0;
    const char *outs[1] = {out};
    return ge_add_node(m, m->graph, op, "", "", n, in, 1, outs);
}

static int count_op(const onyx_model *m, const char *op)
{
    int c = 0;
    for (int i = 0; i < m->graph->n_nodes; i++) c += !strcmp(m->graph->nodes[i].op_type, op);
    return c;
}

static const onyx_node *find_op(const onyx_model *m, const char *op)
{
    for (int i = 0; i < m->graph->n_nodes; i++)
        if (!strcmp(m->graph->nodes[i].op_type, op)) return &m->graph->nodes[i];
    return NULL;
}

/* Runs m on deterministic inputs of the given shape; returns output 0 (caller frees). */
static onyx_tensor *run(const onyx_model *m, int rank, const int64_t *dims)
{
    onyx_session *s;
    onyx_error err;
    if (onyx_session_create(m, NULL, &s, &err) != ONYX_OK) {
        fprintf(stderr, "session: %s\n", err.message);
        return NULL;
    }
    int n_in = m->graph->n_inputs;
    onyx_tensor *in[4];
    const char *names[4];
    for (int k = 0; k < n_in; k++) {
        in[k] = onyx_tensor_create(ONYX_FLOAT, rank, dims);
        float *p = onyx_tensor_data(in[k]);
        for (int64_t i = 0; i < onyx_tensor_numel(in[k]); i++) p[i] = (float)cos(0.9 * (double)i + k);
        names[k] = m->graph->inputs[k].name;
    }
    onyx_tensor *out = NULL;
    if (onyx_session_run(s, n_in, names, (const onyx_tensor *const *)in, &err) == ONYX_OK) {
        out = onyx_tensor_create(ONYX_FLOAT, 0, NULL);
        tensor_copy(out, onyx_session_output(s, 0));
    } else {
        fprintf(stderr, "run: %s\n", err.message);
    }
    for (int k = 0; k < n_in; k++) onyx_tensor_free(in[k]);
    onyx_session_free(s);
    return out;
}

static double max_diff(const onyx_tensor *a, const onyx_tensor *b)
{
    if (!a || !b || a->rank != b->rank || a->nbytes != b->nbytes) return INFINITY;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return INFINITY;
    double d = 0;
    const float *x = a->data, *y = b->data;
    for (size_t i = 0; i < a->nbytes / 4; i++) d = fmax(d, fabs((double)x[i] - y[i]));
    return d;
}

typedef struct last_report {
    int calls;
    char fused[512];
} last_report;

static void record(void *ud, const onyx_pass_report *r, const onyx_model *m)
{
    (void)m;
    last_report *l = ud;
    l->calls++;
    if (r->fused[0]) snprintf(l->fused, sizeof l->fused, "%s", r->fused);
}

static onyx_status optimize(onyx_model *m, const char *passes, int standard, last_report *rep)
{
    onyx_optimize_options o = {passes, standard, 0, record, rep};
    onyx_error err;
    onyx_status st = onyx_model_optimize(m, &o, &err);
    if (st != ONYX_OK) fprintf(stderr, "optimize: %s\n", err.message);
    return st;
}

/* Builds the same graph twice, optimizes one, compares their outputs. */
typedef void (*build_fn)(onyx_model *m);
static void check_same(build_fn build, int64_t opset, const char *passes, int standard, int rank, const int64_t *dims,
                       double tol, onyx_model **opt_out)
{
    onyx_model *a = new_model(opset), *b = new_model(opset);
    build(a);
    build(b);
    last_report rep = {0};
    CHECK(optimize(b, passes, standard, &rep) == ONYX_OK);
    onyx_tensor *ya = run(a, rank, dims), *yb = run(b, rank, dims);
    double d = max_diff(ya, yb);
    if (!(d <= tol)) fprintf(stderr, "  %s: max diff %g\n", passes, d);
    CHECK(d <= tol);
    onyx_tensor_free(ya);
    onyx_tensor_free(yb);
    onyx_model_free(a);
    *opt_out = b;
}

/* ---------------------------------------------------------------- graphs */

static void g_eliminate(onyx_model *m)
{
    int64_t d[2] = {2, 3};
    add_input(m, "x", 2, d);
    node(m, "Identity", "x", NULL, NULL, "a");
    node(m, "Relu", "a", NULL, NULL, "b");
    node(m, "Dropout", "b", NULL, NULL, "y");
    node(m, "Sigmoid", "a", NULL, NULL, "unused");
    add_output(m, "y");
}

static void g_shape_chain(onyx_model *m)
{
    int64_t d[3] = {-1, 4, 3}, one = 1, zero = 0, minus1 = -1;
    add_input(m, "x", 3, d);
    node(m, "Shape", "x", NULL, NULL, "s");
    node(m, "Gather", "s", add_iconst(m, "i1", 0, NULL, &one), NULL, "d1");
    node(m, "Unsqueeze", "d1", add_iconst(m, "ax0", 1, &one, &zero), NULL, "d1u");
    onyx_node *cat = node(m, "Concat", add_iconst(m, "m1", 1, &one, &minus1), "d1u", NULL, "shape");
    ge_set_attr_int(m, cat, "axis", 0);
    node(m, "Reshape", "x", "shape", NULL, "r");
    /* a constant subexpression */
    float two = 2, three = 3;
    node(m, "Add", add_const(m, "two", 0, NULL, &two), add_const(m, "three", 0, NULL, &three), NULL, "five");
    node(m, "Mul", "r", "five", NULL, "y");
    add_output(m, "y");
}

/* DINOv2's head split: the Reshape's shape is computed from the symbolic batch */
static void g_reshape_batch(onyx_model *m)
{
    int64_t d[2] = {-1, 12}, one = 1, zero = 0, two = 2, rest[2] = {4, 3};
    add_input(m, "x", 2, d);
    node(m, "Shape", "x", NULL, NULL, "s");
    node(m, "Gather", "s", add_iconst(m, "i0", 0, NULL, &zero), NULL, "b");
    node(m, "Unsqueeze", "b", add_iconst(m, "ax0", 1, &one, &zero), NULL, "bu");
    onyx_node *cat = node(m, "Concat", "bu", add_iconst(m, "rest", 1, &two, rest), NULL, "shape");
    ge_set_attr_int(m, cat, "axis", 0);
    node(m, "Reshape", "x", "shape", NULL, "y");
    add_output(m, "y");
}

static void g_gemm_bn(onyx_model *m)
{
    int64_t d[2] = {3, 5}, wd[2] = {4, 5}, c4 = 4;
    add_input(m, "x", 2, d);
    float var[4] = {0.5f, 1.5f, 2, 0.25f};
    onyx_node *g = node(m, "Gemm", "x", add_const(m, "w", 2, wd, NULL), add_const(m, "cb", 1, &c4, NULL), "c");
    ge_set_attr_int(m, g, "transB", 1);
    ge_set_attr_float(m, g, "beta", 0.5f);
    const char *in[5] = {"c", add_const(m, "gamma", 1, &c4, NULL), add_const(m, "beta", 1, &c4, NULL),
                         add_const(m, "mean", 1, &c4, NULL), add_const(m, "var", 1, &c4, var)};
    const char *out[1] = {"y"};
    ge_add_node(m, m->graph, "BatchNormalization", "", "bn", 5, in, 1, out);
    add_output(m, "y");
}

static void g_conv_bn(onyx_model *m)
{
    int64_t d[4] = {1, 3, 6, 5}, wd[4] = {4, 3, 3, 3}, c4 = 4;
    add_input(m, "x", 4, d);
    float var[4] = {0.5f, 1.5f, 2, 0.25f};
    onyx_node *c = node(m, "Conv", "x", add_const(m, "w", 4, wd, NULL), add_const(m, "b", 1, &c4, NULL), "c");
    int64_t pads[4] = {1, 1, 1, 1};
    ge_set_attr_ints(m, c, "pads", 4, pads);
    const char *in[5] = {"c", add_const(m, "gamma", 1, &c4, NULL), add_const(m, "beta", 1, &c4, NULL),
                         add_const(m, "mean", 1, &c4, NULL), add_const(m, "var", 1, &c4, var)};
    const char *out[1] = {"y"};
    ge_add_node(m, m->graph, "BatchNormalization", "", "bn", 5, in, 1, out);
    add_output(m, "y");
}

static void g_convt_bn(onyx_model *m)
{
    int64_t d[4] = {1, 4, 3, 3}, wd[4] = {4, 3, 2, 2}, c6 = 6;
    add_input(m, "x", 4, d);
    float var[6] = {0.5f, 1.5f, 2, 0.25f, 1, 3};
    onyx_node *c = node(m, "ConvTranspose", "x", add_const(m, "w", 4, wd, NULL), NULL, "c");
    ge_set_attr_int(m, c, "group", 2);
    const char *in[5] = {"c", add_const(m, "gamma", 1, &c6, NULL), add_const(m, "beta", 1, &c6, NULL),
                         add_const(m, "mean", 1, &c6, NULL), add_const(m, "var", 1, &c6, var)};
    const char *out[1] = {"y"};
    ge_add_node(m, m->graph, "BatchNormalization", "", "bn", 5, in, 1, out);
    add_output(m, "y");
}

static void g_matmul_add(onyx_model *m)
{
    int64_t d[2] = {2, 3}, wd[2] = {3, 4}, bd[2] = {1, 4};
    add_input(m, "x", 2, d);
    node(m, "MatMul", "x", add_const(m, "w", 2, wd, NULL), NULL, "mm");
    node(m, "Add", add_const(m, "bias", 2, bd, NULL), "mm", NULL, "y");
    add_output(m, "y");
}

static void g_matmul_add_3d(onyx_model *m)
{
    int64_t d[3] = {-1, 5, 3}, wd[2] = {3, 4}, bd[1] = {4};
    add_input(m, "x", 3, d);
    node(m, "MatMul", "x", add_const(m, "w", 2, wd, NULL), NULL, "mm");
    node(m, "Add", "mm", add_const(m, "bias", 1, bd, NULL), NULL, "y");
    add_output(m, "y");
}

static void g_layernorm(onyx_model *m)
{
    int64_t d[3] = {2, 3, 8}, c8 = 8, ax = -1;
    float two = 2, eps = 1e-5f;
    add_input(m, "x", 3, d);
    onyx_node *r1 = node(m, "ReduceMean", "x", NULL, NULL, "mean");
    ge_set_attr_ints(m, r1, "axes", 1, &ax);
    node(m, "Sub", "x", "mean", NULL, "d");
    node(m, "Pow", "d", add_const(m, "two", 0, NULL, &two), NULL, "d2");
    onyx_node *r2 = node(m, "ReduceMean", "d2", NULL, NULL, "var");
    ge_set_attr_ints(m, r2, "axes", 1, &ax);
    node(m, "Add", "var", add_const(m, "eps", 0, NULL, &eps), NULL, "ve");
    node(m, "Sqrt", "ve", NULL, NULL, "sd");
    node(m, "Div", "d", "sd", NULL, "n");
    node(m, "Mul", "n", add_const(m, "gamma", 1, &c8, NULL), NULL, "s");
    node(m, "Add", "s", add_const(m, "beta", 1, &c8, NULL), NULL, "y");
    add_output(m, "y");
}

static void g_gelu(onyx_model *m)
{
    int64_t d[2] = {3, 5};
    float r2 = 1.4142135f, one = 1, half = 0.5f;
    add_input(m, "x", 2, d);
    /* the 0.5 on x, the product last: one of the three groupings exporters use */
    node(m, "Div", "x", add_const(m, "sqrt2", 0, NULL, &r2), NULL, "xd");
    node(m, "Erf", "xd", NULL, NULL, "e");
    node(m, "Add", add_const(m, "one", 0, NULL, &one), "e", NULL, "t");
    node(m, "Mul", add_const(m, "half", 0, NULL, &half), "x", NULL, "h");
    node(m, "Mul", "t", "h", NULL, "y");
    add_output(m, "y");
}

static void g_attention(onyx_model *m)
{
    int64_t d[4] = {1, 2, 5, 4};
    float scale = 0.5f;
    add_input(m, "q", 4, d);
    add_input(m, "k", 4, d);
    add_input(m, "v", 4, d);
    onyx_node *t = node(m, "Transpose", "k", NULL, NULL, "kt");
    int64_t perm[4] = {0, 1, 3, 2};
    ge_set_attr_ints(m, t, "perm", 4, perm);
    node(m, "Mul", "q", add_const(m, "scale", 0, NULL, &scale), NULL, "qs");
    node(m, "MatMul", "qs", "kt", NULL, "s");
    node(m, "Softmax", "s", NULL, NULL, "p");
    node(m, "MatMul", "p", "v", NULL, "y");
    add_output(m, "y");
}

/* a ViT's attention as exported: one qkv projection x [1, 5, 3*2*4] split
 * into heads (Reshape, Transpose, Gather) and merged back (Transpose,
 * Reshape); merge_back = false leaves the output heads-first */
static void g_attention_qkv(onyx_model *m, bool merge_back)
{
    int64_t d[3] = {1, 5, 24}, five = 5, three = 3, rshape[5] = {1, 5, 3, 2, 4}, oshape[3] = {1, 5, 8};
    int64_t idx[3] = {0, 1, 2}, split[5] = {2, 0, 3, 1, 4}, kperm[4] = {0, 1, 3, 2}, merge[4] = {0, 2, 1, 3};
    float scale = 0.5f;
    add_input(m, "x", 3, d);
    node(m, "Reshape", "x", add_iconst(m, "rshape", 1, &five, rshape), NULL, "r");
    ge_set_attr_ints(m, node(m, "Transpose", "r", NULL, NULL, "t"), "perm", 5, split);
    node(m, "Gather", "t", add_iconst(m, "i0", 0, NULL, &idx[0]), NULL, "q");
    node(m, "Gather", "t", add_iconst(m, "i1", 0, NULL, &idx[1]), NULL, "k");
    node(m, "Gather", "t", add_iconst(m, "i2", 0, NULL, &idx[2]), NULL, "v");
    ge_set_attr_ints(m, node(m, "Transpose", "k", NULL, NULL, "kt"), "perm", 4, kperm);
    node(m, "Mul", "q", add_const(m, "scale", 0, NULL, &scale), NULL, "qs");
    node(m, "MatMul", "qs", "kt", NULL, "s");
    node(m, "Softmax", "s", NULL, NULL, "p");
    node(m, "MatMul", "p", "v", NULL, merge_back ? "o" : "y");
    if (merge_back) {
        ge_set_attr_ints(m, node(m, "Transpose", "o", NULL, NULL, "ot"), "perm", 4, merge);
        node(m, "Reshape", "ot", add_iconst(m, "oshape", 1, &three, oshape), NULL, "y");
    }
    add_output(m, "y");
}
static void g_attention_packed(onyx_model *m) { g_attention_qkv(m, true); }
static void g_attention_heads_out(onyx_model *m) { g_attention_qkv(m, false); }

static void g_conv_add_relu(onyx_model *m)
{
    int64_t d[4] = {1, 2, 4, 4}, wd[4] = {2, 2, 1, 1};
    add_input(m, "x", 4, d);
    node(m, "Conv", "x", add_const(m, "w", 4, wd, NULL), NULL, "c");
    node(m, "Add", "x", "c", NULL, "a");
    node(m, "Relu", "a", NULL, NULL, "y");
    add_output(m, "y");
}

/* a transformer block's tail: x + gamma * (x W + b) (LayerScale) */
static void g_layerscale(onyx_model *m)
{
    int64_t d[3] = {2, 5, 3}, wd[2] = {3, 3}, c3 = 3, g3[3] = {1, 1, 3};
    add_input(m, "x", 3, d);
    node(m, "MatMul", "x", add_const(m, "w", 2, wd, NULL), NULL, "mm");
    node(m, "Add", "mm", add_const(m, "bias", 1, &c3, NULL), NULL, "lin");
    node(m, "Mul", add_const(m, "gamma", 3, g3, NULL), "lin", NULL, "ls");
    node(m, "Add", "x", "ls", NULL, "y");
    add_output(m, "y");
}

static void g_conv_silu(onyx_model *m)
{
    int64_t d[4] = {1, 2, 4, 4}, wd[4] = {3, 2, 1, 1};
    add_input(m, "x", 4, d);
    node(m, "Conv", "x", add_const(m, "w", 4, wd, NULL), NULL, "c");
    node(m, "Sigmoid", "c", NULL, NULL, "s");
    node(m, "Mul", "s", "c", NULL, "y");
    add_output(m, "y");
}

/* A small CNN: conv -> relu -> max pool -> pad -> instance norm -> conv + per-channel bias ->
 * SE-style gate (global pool -> sigmoid -> mul) -> concat with itself ->
 * resize x2 -> global average pool. */
static void g_cnn(onyx_model *m)
{
    int64_t d[4] = {1, 3, 8, 8}, w1[4] = {5, 3, 3, 3}, w2[4] = {6, 5, 3, 3}, cb[3] = {6, 1, 1}, pd[1] = {8},
            sd[1] = {4};
    add_input(m, "x", 4, d);
    onyx_node *c1 = node(m, "Conv", "x", add_const(m, "w1", 4, w1, NULL), NULL, "c1");
    ge_set_attr_ints(m, c1, "pads", 4, (int64_t[]){1, 1, 1, 1});
    node(m, "Relu", "c1", NULL, NULL, "r1");
    onyx_node *mp = node(m, "MaxPool", "r1", NULL, NULL, "p1");
    ge_set_attr_ints(m, mp, "kernel_shape", 2, (int64_t[]){2, 2});
    ge_set_attr_ints(m, mp, "strides", 2, (int64_t[]){2, 2});
    onyx_node *pad = node(m, "Pad", "p1", add_iconst(m, "pads", 1, pd, (int64_t[]){0, 0, 1, 1, 0, 0, 1, 1}), NULL, "q1");
    ge_set_attr_string(m, pad, "mode", "reflect");
    int64_t nd[1] = {5};
    node(m, "InstanceNormalization", "q1", add_const(m, "ns", 1, nd, NULL), add_const(m, "nb", 1, nd, NULL), "n1");
    node(m, "Conv", "n1", add_const(m, "w2", 4, w2, NULL), NULL, "c2");
    node(m, "Add", "c2", add_const(m, "cb", 3, cb, NULL), NULL, "a2");
    node(m, "GlobalAveragePool", "a2", NULL, NULL, "g2");
    node(m, "Sigmoid", "g2", NULL, NULL, "s2");
    node(m, "Mul", "a2", "s2", NULL, "m2");
    onyx_node *cat = node(m, "Concat", "m2", "m2", NULL, "k2");
    ge_set_attr_int(m, cat, "axis", 1);
    const char *rs[4] = {"k2", "", add_const(m, "scales", 1, sd, (float[]){1, 1, 2, 2}), NULL};
    const char *ro[1] = {"u2"};
    ge_add_node(m, m->graph, "Resize", "", "", 3, rs, 1, ro);
    node(m, "GlobalAveragePool", "u2", NULL, NULL, "y");
    add_output(m, "y");
    add_output(m, "m2");
}

/* An upsampling decoder step: ConvTranspose (stride 2) -> Relu. */
static void g_upsample(onyx_model *m)
{
    int64_t d[4] = {1, 4, 5, 5}, wd[4] = {4, 3, 4, 4};
    add_input(m, "x", 4, d);
    onyx_node *ct = node(m, "ConvTranspose", "x", add_const(m, "wt", 4, wd, NULL), NULL, "u");
    ge_set_attr_ints(m, ct, "strides", 2, (int64_t[]){2, 2});
    ge_set_attr_ints(m, ct, "pads", 4, (int64_t[]){1, 1, 1, 1});
    node(m, "Relu", "u", NULL, NULL, "y");
    add_output(m, "y");
}

/* ---------------------------------------------------------------- tests */

/* Optimizes a fresh copy of the graph; when onyx has a kernel for the fused
 * op, also checks the result computes what the original did. */
static onyx_model *fused(build_fn build, const char *passes, const char *op, int rank, const int64_t *dims, double tol,
                         last_report *rep)
{
    onyx_model *b;
    if (onyx_find_op("ai.onyx", op)) {
        check_same(build, 17, passes, 0, rank, dims, tol, &b);
    } else {
        b = new_model(17);
        build(b);
    }
    /* again on a copy, for the report */
    onyx_model *r = new_model(17);
    build(r);
    CHECK(optimize(r, passes, 0, rep) == ONYX_OK);
    onyx_model_free(r);
    if (!onyx_find_op("ai.onyx", op)) CHECK(optimize(b, passes, 0, rep) == ONYX_OK);
    return b;
}

static void test_eliminate(void)
{
    int64_t d[2] = {2, 3};
    onyx_model *b;
    check_same(g_eliminate, 17, "eliminate", 0, 2, d, 0, &b);
    CHECK(b->graph->n_nodes == 1 && count_op(b, "Relu") == 1);
    CHECK(!strcmp(b->graph->nodes[0].outputs[0], "y")); /* the graph output keeps its name */
    onyx_model_free(b);
}

static void test_constfold(void)
{
    int64_t d[3] = {2, 4, 3};
    onyx_model *b;
    check_same(g_shape_chain, 17, "constfold,eliminate", 0, 3, d, 0, &b);
    /* the batch dim is symbolic, dim 1 is known: the whole shape chain folds */
    CHECK(b->graph->n_nodes == 2 && count_op(b, "Reshape") == 1 && count_op(b, "Mul") == 1);
    const onyx_tensor *shape = ge_const(b->graph, find_op(b, "Reshape")->inputs[1]);
    CHECK(shape && shape->dims[0] == 2 && ((int64_t *)shape->data)[0] == -1 && ((int64_t *)shape->data)[1] == 4);
    onyx_model_free(b);
}

static void test_reshape_batch(void)
{
    int64_t d[2] = {3, 12};
    onyx_model *b;
    check_same(g_reshape_batch, 17, "constfold", 1, 2, d, 0, &b);
    const onyx_node *r = find_op(b, "Reshape");
    const onyx_tensor *shape = r ? ge_const(b->graph, r->inputs[1]) : NULL;
    CHECK(b->graph->n_nodes == 1 && shape && shape->dims[0] == 3);
    CHECK(shape && ((int64_t *)shape->data)[0] == 0 && ((int64_t *)shape->data)[1] == 4 && ((int64_t *)shape->data)[2] == 3);
    onyx_model_free(b);
}

static void test_bn_fold(void)
{
    int64_t d[4] = {1, 3, 6, 5}, dt[4] = {1, 4, 3, 3};
    onyx_model *b;
    check_same(g_conv_bn, 17, "bn_fold", 1, 4, d, 1e-5, &b);
    CHECK(b->graph->n_nodes == 1 && count_op(b, "Conv") == 1);
    onyx_model_free(b);
    check_same(g_convt_bn, 17, "bn_fold", 1, 4, dt, 1e-5, &b);
    CHECK(b->graph->n_nodes == 1 && count_op(b, "ConvTranspose") == 1);
    onyx_model_free(b);
    int64_t dg[2] = {3, 5};
    check_same(g_gemm_bn, 17, "bn_fold", 1, 2, dg, 1e-5, &b);
    CHECK(b->graph->n_nodes == 1 && count_op(b, "Gemm") == 1);
    onyx_model_free(b);
}

static void test_matmul_add(void)
{
    int64_t d[2] = {2, 3};
    onyx_model *b;
    check_same(g_matmul_add, 17, "matmul_add", 1, 2, d, 1e-6, &b);
    CHECK(b->graph->n_nodes == 1 && count_op(b, "Gemm") == 1);
    onyx_model_free(b);
    /* batched: FusedMatMul (numerics checked when onyx has the kernel) */
    int64_t d3[3] = {2, 5, 3};
    if (onyx_find_op("ai.onyx", "FusedMatMul")) {
        check_same(g_matmul_add_3d, 17, "matmul_add", 0, 3, d3, 1e-5, &b);
    } else {
        b = new_model(17);
        g_matmul_add_3d(b);
        last_report rep = {0};
        CHECK(optimize(b, "matmul_add", 0, &rep) == ONYX_OK);
    }
    const onyx_node *f = find_op(b, "FusedMatMul");
    CHECK(b->graph->n_nodes == 1 && f && f->n_inputs == 3);
    onyx_model_free(b);
    b = new_model(17);
    g_matmul_add_3d(b);
    last_report rep = {0};
    CHECK(optimize(b, "matmul_add", 1, &rep) == ONYX_OK && b->graph->n_nodes == 2); /* standard ops: nothing */
    onyx_model_free(b);
}

static void test_layernorm(void)
{
    int64_t d[3] = {2, 3, 8};
    onyx_model *b;
    check_same(g_layernorm, 17, "layernorm", 1, 3, d, 1e-5, &b);
    const onyx_node *ln = find_op(b, "LayerNormalization");
    CHECK(b->graph->n_nodes == 1 && ln && ge_attr_int(ln, "axis", 0) == 2 && ln->n_inputs == 3);
    onyx_model_free(b);
    /* before opset 17 there is no LayerNormalization to emit */
    onyx_model *old = new_model(13);
    g_layernorm(old);
    last_report rep = {0};
    CHECK(optimize(old, "layernorm", 0, &rep) == ONYX_OK && old->graph->n_nodes == 9);
    onyx_model_free(old);
}

static void test_gelu(void)
{
    int64_t d[2] = {3, 5};
    onyx_model *b;
    check_same(g_gelu, 20, "gelu", 1, 2, d, 1e-6, &b); /* standard Gelu from opset 20 */
    CHECK(b->graph->n_nodes == 1 && count_op(b, "Gelu") == 1 && !b->graph->nodes[0].domain[0]);
    onyx_model_free(b);
    last_report rep = {0};
    onyx_model *m = fused(g_gelu, "gelu", "Gelu", 2, d, 1e-5, &rep);
    CHECK(m->graph->n_nodes == 1);
    CHECK(!strcmp(m->graph->nodes[0].domain, "ai.onyx") && model_opset(m, "ai.onyx") == 1);
    CHECK(strstr(rep.fused, "Gelu") != NULL);
    onyx_model_free(m);
    m = new_model(17);
    g_gelu(m);
    CHECK(optimize(m, "gelu", 1, &rep) == ONYX_OK && m->graph->n_nodes == 5); /* standard ops only */
    onyx_model_free(m);
}

static void test_attention(void)
{
    int64_t d[4] = {1, 2, 5, 4};
    last_report rep = {0};
    onyx_model *m = fused(g_attention, "attention", "Attention", 4, d, 1e-5, &rep);
    const onyx_node *a = find_op(m, "Attention");
    CHECK(m->graph->n_nodes == 1 && a && !strcmp(a->domain, "ai.onyx"));
    CHECK(a && !strcmp(a->inputs[0], "q") && !strcmp(a->inputs[1], "k") && !strcmp(a->inputs[2], "v"));
    CHECK(a && fabsf(ge_attr_float(a, "scale", 0) - 0.5f) < 1e-7f && ge_attr_int(a, "k_transposed", 9) == 0);
    CHECK(!strcmp(rep.fused, "Attention x1"));
    onyx_model_free(m);
}

/* the heads split off one projection and merged back: the node takes the
 * projection itself (num_heads) and only the final Reshape stays; with the
 * output left heads-first, the split stays and Q, K, V are its Gathers */
static void test_attention_packed(void)
{
    int64_t d[3] = {1, 5, 24};
    last_report rep = {0};
    onyx_model *m = fused(g_attention_packed, "attention", "Attention", 3, d, 1e-5, &rep);
    const onyx_node *a = find_op(m, "Attention");
    CHECK(m->graph->n_nodes == 2 && a && a->n_inputs == 1 && !strcmp(a->inputs[0], "x") &&
          !strcmp(a->outputs[0], "ot") && count_op(m, "Reshape") == 1);
    CHECK(a && ge_attr_int(a, "num_heads", 0) == 2 && fabsf(ge_attr_float(a, "scale", 0) - 0.5f) < 1e-7f);
    CHECK(!strcmp(rep.fused, "Attention (packed Q, K, V) x1"));
    onyx_model_free(m);
    m = fused(g_attention_heads_out, "attention", "Attention", 3, d, 1e-5, &rep);
    a = find_op(m, "Attention");
    CHECK(a && a->n_inputs == 3 && !strcmp(a->inputs[0], "q") && count_op(m, "Gather") == 3 &&
          ge_attr_int(a, "num_heads", 0) == 0);
    onyx_model_free(m);
}

static void test_residual_activation(void)
{
    int64_t d[4] = {1, 2, 4, 4};
    last_report rep = {0};
    onyx_model *m = fused(g_conv_add_relu, "residual,activation", "FusedConv", 4, d, 1e-5, &rep);
    const onyx_node *c = find_op(m, "FusedConv");
    CHECK(m->graph->n_nodes == 1 && c && c->n_inputs == 4 && !strcmp(c->inputs[3], "x"));
    CHECK(c && !strcmp(ge_attr_string(c, "activation", ""), "Relu") && !strcmp(c->outputs[0], "y"));
    onyx_model_free(m);
    int64_t d3[3] = {2, 5, 3};
    m = fused(g_layerscale, "matmul_add,residual", "FusedMatMul", 3, d3, 1e-5, &rep);
    c = find_op(m, "FusedMatMul");
    CHECK(m->graph->n_nodes == 1 && c && c->n_inputs == 4 && !strcmp(c->inputs[3], "x") && !strcmp(c->outputs[0], "y"));
    CHECK(strstr(rep.fused, "MatMul*scale") && strstr(rep.fused, "MatMul+Add(residual)"));
    onyx_model_free(m);
    m = fused(g_conv_silu, "activation", "FusedConv", 4, d, 1e-5, &rep);
    c = find_op(m, "FusedConv");
    CHECK(m->graph->n_nodes == 1 && c && !strcmp(ge_attr_string(c, "activation", ""), "SiLU"));
    CHECK(!strcmp(rep.fused, "Conv+SiLU x1"));
    onyx_model_free(m);
    /* --standard-ops: nothing to fuse into */
    m = new_model(17);
    g_conv_silu(m);
    CHECK(optimize(m, NULL, 1, &rep) == ONYX_OK && m->graph->n_nodes == 3 && model_opset(m, "ai.onyx") == 0);
    onyx_model_free(m);
}

static void test_layout(void)
{
    int64_t d[4] = {1, 3, 8, 8};
    onyx_model *m;
    check_same(g_cnn, 17, "layout", 0, 4, d, 1e-5, &m);
    /* everything runs in NHWC: the RGB stem reads x in NCHW itself (no
     * Transpose in), one Transpose out per graph output, the constant bias
     * and the scales permuted, the pools and the gate moved */
    CHECK(count_op(m, "NhwcConv") == 2 && count_op(m, "NhwcMaxPool") == 1 && count_op(m, "NhwcInstanceNormalization") == 1);
    CHECK(count_op(m, "Conv") == 0 && count_op(m, "MaxPool") == 0 && count_op(m, "GlobalAveragePool") == 0);
    CHECK(count_op(m, "ReduceMean") == 2 && count_op(m, "Transpose") == 2);
    int stems = 0, nchw_reads = 0;
    for (int i = 0; i < m->graph->n_nodes; i++) {
        const onyx_node *n = &m->graph->nodes[i];
        if (strcmp(n->op_type, "NhwcConv")) continue;
        nchw_reads += ge_attr_int(n, "nchw_input", 0) != 0;
        stems += !strcmp(n->inputs[0], "x") && ge_attr_int(n, "nchw_input", 0) == 1;
    }
    CHECK(stems == 1 && nchw_reads == 1); /* the 5-channel conv reads NHWC */
    const onyx_node *cat = find_op(m, "Concat");
    CHECK(cat && ge_attr_int(cat, "axis", 0) == 3);
    const onyx_node *add = find_op(m, "Add");
    const onyx_tensor *bias = add ? ge_const(m->graph, add->inputs[1]) : NULL;
    CHECK(bias && bias->rank == 4 && bias->dims[3] == 6 && bias->dims[1] == 1);
    CHECK(ge_is_graph_output(m->graph, "y") && ge_is_graph_output(m->graph, "m2"));
    onyx_model_free(m);
    /* ConvTranspose too, the Relu after it in NHWC */
    int64_t du[4] = {1, 4, 5, 5};
    check_same(g_upsample, 17, "layout", 0, 4, du, 1e-5, &m);
    CHECK(count_op(m, "NhwcConvTranspose") == 1 && count_op(m, "Transpose") == 2);
    onyx_model_free(m);
    /* --standard-ops leaves the layout alone */
    m = new_model(17);
    g_cnn(m);
    int before = m->graph->n_nodes;
    last_report rep = {0};
    CHECK(optimize(m, "layout", 1, &rep) == ONYX_OK && m->graph->n_nodes == before && count_op(m, "Transpose") == 0);
    onyx_model_free(m);
}

static void test_errors(void)
{
    onyx_model *m = new_model(17);
    g_conv_silu(m);
    onyx_optimize_options o = {.passes = "activation,no_such_pass"};
    onyx_error err;
    CHECK(onyx_model_optimize(m, &o, &err) == ONYX_E_INVALID && strstr(err.message, "no_such_pass"));
    CHECK(m->graph->n_nodes == 3); /* nothing ran */
    onyx_model_free(m);
    const char *desc = NULL;
    CHECK(onyx_pass_name(0, &desc) && desc && !onyx_pass_name(1000, NULL));
}

int main(void)
{
    test_eliminate();
    test_constfold();
    test_reshape_batch();
    test_bn_fold();
    test_matmul_add();
    test_layernorm();
    test_gelu();
    test_attention();
    test_attention_packed();
    test_residual_activation();
    test_layout();
    test_errors();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
