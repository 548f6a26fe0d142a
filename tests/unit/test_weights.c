/* test_weights.c - weights kept where they lie in the mapped file, made on
 * demand and given back after packing (runtime/weights.h): a model whose big
 * initializers sit at every alignment in the file, with a BatchNormalization
 * folded into a Conv (a derived weight), a depthwise Conv whose weights run()
 * reads, a MatMul and a Gemm whose weights are packed, and a Gemm whose scalar
 * C keeps its weights readable. Every way of getting at the weights must give
 * the bytes of the file: sessions (one after another, side by side, from
 * threads), the writer and onyx_model_initializer. */
#include "../../runtime/passes/passes.h"
#include "model_build.h"

#include <math.h>
#include <pthread.h>
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

/* ---------------------------------------------------------------- the model */

/* An empty opset-17 model whose weights may stay in the file (model_build.h). */
static onyx_model *weights_model(void)
{
    onyx_model *m = new_model(17);
    weights_store_init(&m->weights);
    return m;
}

static const char *add_const(onyx_model *m, const char *name, int rank, const int64_t *dims, double seed)
{
    onyx_tensor *t = ge_new_tensor(m, ONYX_FLOAT, rank, dims);
    float *p = t->data;
    for (size_t i = 0; i < t->nbytes / 4; i++) p[i] = (float)(0.2 * sin(0.37 * (double)i + seed));
    return ge_add_init(m, m->graph, name, t);
}

static onyx_node *node(onyx_model *m, const char *op, int n, const char *a, const char *b, const char *c,
                       const char *out)
{
    const char *in[3] = {a, b, c};
    const char *outs[1] = {out};
    return ge_add_node(m, m->graph, op, "", "", n, in, 1, outs);
}

/* pad lengthens one name in front of each weight, which moves its raw_data in
 * the file by as many bytes: four pads put the weights at every alignment */
static void build(onyx_model *m, int pad)
{
    char nm[4][32];
    for (int i = 0; i < 4; i++) snprintf(nm[i], sizeof nm[i], "w%d%.*s", i, pad + i, "abcdefgh");
    onyx_graph *g = m->graph;
    int64_t xd[4] = {1, 16, 12, 12};
    add_input(m, "x", 4, xd);
    /* 64x16x3x3 (36 KB): folded with the BN, then packed */
    int64_t w1[4] = {64, 16, 3, 3}, c64 = 64, pads1[4] = {1, 1, 1, 1};
    onyx_node *c1 = node(m, "Conv", 3, "x", add_const(m, nm[0], 4, w1, 1), add_const(m, "b1", 1, &c64, 2), "c1");
    ge_set_attr_ints(m, c1, "pads", 4, pads1);
    onyx_tensor *var = ge_new_tensor(m, ONYX_FLOAT, 1, &c64);
    for (int i = 0; i < 64; i++) ((float *)var->data)[i] = 0.5f + 0.03f * (float)i;
    const char *bn_in[5] = {"c1", add_const(m, "gamma", 1, &c64, 3), add_const(m, "beta", 1, &c64, 4),
                            add_const(m, "mean", 1, &c64, 5), ge_add_init(m, g, "var", var)};
    const char *bn_out[1] = {"bn"};
    ge_add_node(m, g, "BatchNormalization", "", "bn", 5, bn_in, 1, bn_out);
    node(m, "Relu", 1, "bn", NULL, NULL, "r");
    /* depthwise 64x1x9x9 (20 KB): run() reads these weights */
    int64_t w2[4] = {64, 1, 9, 9}, pads2[4] = {4, 4, 4, 4};
    onyx_node *c2 = node(m, "Conv", 2, "r", add_const(m, nm[1], 4, w2, 6), NULL, "c2");
    ge_set_attr_ints(m, c2, "pads", 4, pads2);
    ge_set_attr_int(m, c2, "group", 64);
    node(m, "GlobalAveragePool", 1, "c2", NULL, NULL, "p");
    node(m, "Flatten", 1, "p", NULL, NULL, "f");
    /* 64x160 (40 KB) and 160x100 (64 KB): packed; a Gemm with a scalar C reads 100x40 (16 KB) */
    int64_t w3[2] = {64, 160}, c160 = 160, w4[2] = {160, 100}, w5[2] = {100, 40}, one = 1;
    node(m, "MatMul", 2, "f", add_const(m, nm[2], 2, w3, 7), NULL, "mm");
    node(m, "Add", 2, "mm", add_const(m, "b3", 1, &c160, 8), NULL, "a3");
    node(m, "Gemm", 2, "a3", add_const(m, nm[3], 2, w4, 9), NULL, "g4");
    node(m, "Gemm", 3, "g4", add_const(m, "w5", 2, w5, 10), add_const(m, "c5", 1, &one, 11), "y");
    add_output(m, "y");
}

/* ---------------------------------------------------------------- running */

static onyx_tensor *input(void)
{
    int64_t d[4] = {1, 16, 12, 12};
    onyx_tensor *x = onyx_tensor_create(ONYX_FLOAT, 4, d);
    float *p = onyx_tensor_data(x);
    for (int64_t i = 0; i < onyx_tensor_numel(x); i++) p[i] = (float)cos(0.11 * (double)i);
    return x;
}

/* Output 0 of a run of s (a copy), or NULL. */
static onyx_tensor *run(onyx_session *s)
{
    onyx_tensor *x = input(), *y = NULL;
    const char *names[1] = {"x"};
    onyx_error err;
    if (onyx_session_run(s, 1, names, (const onyx_tensor *const *)&x, &err) == ONYX_OK) {
        y = onyx_tensor_create(ONYX_FLOAT, 0, NULL);
        tensor_copy(y, onyx_session_output(s, 0));
    } else {
        fprintf(stderr, "run: %s\n", err.message);
    }
    onyx_tensor_free(x);
    return y;
}

static onyx_tensor *run_model(const onyx_model *m)
{
    onyx_session *s;
    onyx_error err;
    if (onyx_session_create(m, NULL, &s, &err) != ONYX_OK) {
        fprintf(stderr, "session: %s\n", err.message);
        return NULL;
    }
    onyx_tensor *y = run(s);
    onyx_session_free(s);
    return y;
}

static bool same(const onyx_tensor *a, const onyx_tensor *b)
{
    return a && b && a->nbytes == b->nbytes && a->rank == b->rank && !memcmp(a->data, b->data, a->nbytes);
}

static double max_diff(const onyx_tensor *a, const onyx_tensor *b)
{
    if (!a || !b || a->nbytes != b->nbytes) return INFINITY;
    double d = 0;
    for (size_t i = 0; i < a->nbytes / 4; i++) d = fmax(d, fabs((double)((float *)a->data)[i] - ((float *)b->data)[i]));
    return d;
}

typedef struct thread_job {
    const onyx_model *m;
    onyx_tensor *y;
} thread_job;

static void *thread_run(void *arg)
{
    thread_job *j = arg;
    j->y = run_model(j->m);
    return NULL;
}

static const onyx_tensor *init_of(const onyx_model *m, const char *prefix)
{
    for (int i = 0; i < m->graph->n_inits; i++)
        if (!strncmp(m->graph->init_names[i], prefix, strlen(prefix))) return &m->graph->inits[i];
    return NULL;
}

/* ---------------------------------------------------------------- the test */

static int lazy_seen; /* weights left unaligned in the file, over every pad */

static void test_pad(int pad, const char *path)
{
    onyx_model *built = weights_model();
    build(built, pad);
    onyx_error err;
    CHECK(onyx_model_save(built, path, &err) == ONYX_OK);
    onyx_model_free(built);

    /* the reference: read into memory (every weight copied, aligned), not optimized */
    FILE *f = fopen(path, "rb");
    static unsigned char buf[1 << 20];
    size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    onyx_model *ref = NULL, *m = NULL, *m2 = NULL;
    CHECK(len > 0 && onyx_model_load_buffer(buf, len, &ref, &err) == ONYX_OK);
    CHECK(onyx_model_load_file(path, &m, &err) == ONYX_OK);
    CHECK(onyx_model_load_file(path, &m2, &err) == ONYX_OK);
    if (!ref || !m || !m2) return;

    /* mapped: unaligned weights have no data until asked, and then the file's bytes */
    for (int i = 0; i < 4; i++) {
        char pre[16];
        snprintf(pre, sizeof pre, "w%d", i);
        const onyx_tensor *a = init_of(ref, pre), *b = init_of(m, pre);
        CHECK(a && b && b->wsrc && a->nbytes == b->nbytes);
        if (!a || !b) continue;
        lazy_seen += b->data == NULL;
        const void *d = onyx_tensor_data((onyx_tensor *)onyx_model_initializer(m2, m->graph->init_names[b - m->graph->inits]));
        CHECK(d && !memcmp(d, a->data, a->nbytes));
        CHECK((uintptr_t)d % 4 == 0);
    }
    onyx_tensor *y_ref = run_model(ref);
    CHECK(y_ref != NULL);

    /* unoptimized, straight from the mapping */
    onyx_tensor *y_map = run_model(m2);
    CHECK(same(y_map, y_ref));

    /* optimized: the folded weight is made when packed and let go after */
    CHECK(onyx_model_optimize(m, NULL, &err) == ONYX_OK);
    const onyx_tensor *folded = NULL;
    for (int i = 0; i < m->graph->n_inits; i++)
        if (m->graph->inits[i].wsrc && !m->graph->inits[i].data && m->graph->inits[i].rank == 4 && m->graph->inits[i].dims[1] == 16)
            folded = &m->graph->inits[i];
    CHECK(folded != NULL);
    onyx_session *s1 = NULL, *s2 = NULL;
    CHECK(onyx_session_create(m, NULL, &s1, &err) == ONYX_OK);
    onyx_tensor *y1 = s1 ? run(s1) : NULL;
    double d = max_diff(y1, y_ref);
    if (!(d < 1e-5)) fprintf(stderr, "pad %d: optimized differs from the reference by %g\n", pad, d);
    CHECK(d < 1e-5);
    /* a second session after the first gave the packed weights back, side by side */
    CHECK(onyx_session_create(m, NULL, &s2, &err) == ONYX_OK);
    onyx_tensor *y2 = s2 ? run(s2) : NULL;
    CHECK(same(y1, y2));
    onyx_session_free(s1);
    onyx_tensor *y3 = s2 ? run(s2) : NULL;
    CHECK(same(y1, y3));
    onyx_session_free(s2);

    /* sessions created from threads at once */
    thread_job jobs[3] = {{m, NULL}, {m, NULL}, {m, NULL}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, thread_run, &jobs[i]);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK(same(y1, jobs[i].y));
        onyx_tensor_free(jobs[i].y);
    }

    /* the folded weight, read through the API: W * gamma / sqrt(var + eps) */
    const onyx_tensor *w1 = init_of(ref, "w0"), *gamma = init_of(ref, "gamma"), *var = init_of(ref, "var");
    const float *fw = folded ? onyx_tensor_data((onyx_tensor *)folded) : NULL;
    bool ok = fw && w1 && gamma && var;
    for (int64_t i = 0; ok && i < 64 * 16 * 9; i++) {
        int64_t c = i / (16 * 9);
        float want = ((float *)w1->data)[i] * (((float *)gamma->data)[c] / sqrtf(((float *)var->data)[c] + 1e-5f));
        ok = fw[i] == want;
    }
    CHECK(ok);

    /* the writer makes every weight too: the written model computes the same */
    void *wbuf;
    size_t wlen;
    onyx_model *back = NULL;
    CHECK(onyx_model_serialize(m, &wbuf, &wlen, &err) == ONYX_OK);
    CHECK(onyx_model_load_buffer(wbuf, wlen, &back, &err) == ONYX_OK);
    onyx_tensor *yb = back ? run_model(back) : NULL;
    CHECK(same(y1, yb));
    free(wbuf);

    onyx_tensor_free(y_ref), onyx_tensor_free(y_map), onyx_tensor_free(y1), onyx_tensor_free(y2);
    onyx_tensor_free(y3), onyx_tensor_free(yb);
    onyx_model_free(back);
    onyx_model_free(ref);
    onyx_model_free(m);
    onyx_model_free(m2);
}

int main(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/onyx_test_weights_%d.onnx", (int)getpid());
    for (int pad = 0; pad < 4; pad++) test_pad(pad, path);
    remove(path);
    /* the file put some weights out of alignment, or the test tested nothing */
    CHECK(lazy_seen > 0);
    printf("test_weights: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
