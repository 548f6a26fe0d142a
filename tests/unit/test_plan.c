/* test_plan.c - the memory planner (runtime/plan.c), its use by sessions
 * (runtime/session.c: shape inference, arena, in-place reuse, re-planning) and
 * zero-copy weights (runtime/model.c).
 *
 * plan_assign is checked on random lifetimes: offsets aligned, no two buffers
 * that are alive together share a byte, in-place pairs share their offset. The
 * session tests build small graphs by hand and check both the plan (arena size,
 * what is planned, what is in place) and the numbers the graph computes. */
#include "../../runtime/graph_edit.h"
#include "model_build.h"
#include "../../runtime/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;
#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (cond) {                                                       \
            passed++;                                                     \
        } else {                                                          \
            failed++;                                                     \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            printf(__VA_ARGS__);                                          \
            printf("\n");                                                 \
        }                                                                 \
    } while (0)

/* ---------------------------------------------------------------- plan_assign */

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static void test_assign_chain(void)
{
    /* a -> b -> c: a dies when c is made, so a and c can share */
    plan_buf b[3] = {{1000, 0, 1, -1, 0}, {1000, 1, 2, -1, 0}, {1000, 2, 3, -1, 0}};
    size_t total = plan_assign(b, 3);
    CHECK(total == 2048, "arena %zu", total);
    CHECK(b[0].offset == b[2].offset, "a at %zu, c at %zu", b[0].offset, b[2].offset);
    CHECK(b[0].offset != b[1].offset, "a and b overlap");
    /* in place: b overwrites a (a's last reader is b) */
    plan_buf p[2] = {{512, 0, 1, -1, 0}, {512, 1, 2, 0, 0}};
    total = plan_assign(p, 2);
    CHECK(total == 512 && p[0].offset == p[1].offset, "in-place arena %zu", total);
    /* empty and unplanned buffers */
    plan_buf z[2] = {{0, 0, 5, -1, 0}, {1, 0, 0, -1, 0}};
    total = plan_assign(z, 2);
    CHECK(total == PLAN_ALIGN, "arena %zu", total);
    CHECK(plan_assign(z, 0) == 0, "no buffers");
}

static void test_assign_random(void)
{
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + (int)(rnd() % 300);
        plan_buf *b = calloc((size_t)n, sizeof *b);
        size_t sum = 0;
        for (int i = 0; i < n; i++) {
            b[i].size = rnd() % 4 == 0 ? 0 : 1 + rnd() % 100000;
            b[i].start = (int)(rnd() % 200);
            b[i].end = b[i].start + (int)(rnd() % 30);
            b[i].alias = -1;
        }
        /* some in-place pairs: j starts where i ends */
        for (int i = 0; i < n; i++) {
            int j = (int)(rnd() % (unsigned)n);
            if (j == i || !b[i].size || !b[j].size || b[j].alias >= 0 || rnd() % 3) continue;
            bool used = false;
            for (int k = 0; k < n; k++) used |= b[k].alias == i;
            if (used || b[i].alias == j) continue;
            b[j].start = b[i].end;
            b[j].size = b[i].size;
            if (b[j].end < b[j].start) b[j].end = b[j].start;
            b[j].alias = i;
        }
        for (int i = 0; i < n; i++) sum += (b[i].size + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
        size_t total = plan_assign(b, n);
        bool ok = total != (size_t)-1 && total <= sum;
        for (int i = 0; i < n && ok; i++) {
            if (!b[i].size) continue;
            ok &= b[i].offset % PLAN_ALIGN == 0 && b[i].offset + b[i].size <= total;
            if (b[i].alias >= 0) ok &= b[i].offset == b[b[i].alias].offset;
        }
        int bad_i = -1, bad_j = -1;
        for (int i = 0; i < n && ok; i++)
            for (int j = i + 1; j < n && ok; j++) {
                if (!b[i].size || !b[j].size) continue;
                /* same in-place group: allowed to share */
                int ri = i, rj = j;
                while (b[ri].alias >= 0) ri = b[ri].alias;
                while (b[rj].alias >= 0) rj = b[rj].alias;
                if (ri == rj) continue;
                /* group lifetimes */
                int si = INT32_MAX, ei = -1, sj = INT32_MAX, ej = -1;
                for (int k = 0; k < n; k++) {
                    int rk = k;
                    if (!b[k].size) continue;
                    while (b[rk].alias >= 0) rk = b[rk].alias;
                    if (rk == ri) si = b[k].start < si ? b[k].start : si, ei = b[k].end > ei ? b[k].end : ei;
                    if (rk == rj) sj = b[k].start < sj ? b[k].start : sj, ej = b[k].end > ej ? b[k].end : ej;
                }
                bool live = si <= ej && sj <= ei;
                bool overlap = b[i].offset < b[j].offset + b[j].size && b[j].offset < b[i].offset + b[i].size;
                if (live && overlap) ok = false, bad_i = i, bad_j = j;
            }
        CHECK(ok, "trial %d: %d buffers, arena %zu of %zu (bad pair %d %d)", trial, n, total, sum, bad_i, bad_j);
        free(b);
    }
}

/* ---------------------------------------------------------------- sessions */

static onyx_node *node(onyx_model *m, const char *op, const char *a, const char *b, const char *out)
{
    const char *in[2] = {a, b};
    const char *outs[1] = {out};
    return ge_add_node(m, m->graph, op, "", "", b ? 2 : 1, in, 1, outs);
}

static float sigm(float v) { return v >= 0 ? 1 / (1 + expf(-v)) : expf(v) / (1 + expf(v)); }

/* x[N,3,4,5] -> a = x*w -> b = Relu(a) -> c = Sigmoid(b) -> d = c + x ->
 * e = Transpose(d) -> y = Relu(e): a..d share one buffer in place, e needs
 * another, y is a graph output (heap). */
static onyx_model *chain_model(int64_t batch)
{
    onyx_model *m = new_model(17);
    int64_t dims[4] = {batch, 3, 4, 5}, wd[1] = {5};
    add_input(m, "x", 4, dims);
    onyx_tensor *w = ge_new_tensor(m, ONYX_FLOAT, 1, wd);
    for (int i = 0; i < 5; i++) ((float *)w->data)[i] = (float)i - 2.0f;
    const char *wn = ge_add_init(m, m->graph, "w", w);
    node(m, "Mul", "x", wn, "a");
    node(m, "Relu", "a", NULL, "b");
    node(m, "Sigmoid", "b", NULL, "c");
    node(m, "Add", "c", "x", "d");
    onyx_node *t = node(m, "Transpose", "d", NULL, "e");
    int64_t perm[4] = {0, 2, 3, 1};
    ge_set_attr_ints(m, t, "perm", 4, perm);
    node(m, "Relu", "e", NULL, "y");
    add_output(m, "y");
    return m;
}

static onyx_tensor *input_of(int64_t batch)
{
    int64_t dims[4] = {batch, 3, 4, 5};
    onyx_tensor *x = onyx_tensor_create(ONYX_FLOAT, 4, dims);
    float *p = onyx_tensor_data(x);
    for (int64_t i = 0; i < onyx_tensor_numel(x); i++) p[i] = (float)sin(0.37 * (double)i);
    return x;
}

static double chain_error(const onyx_tensor *x, const onyx_tensor *y)
{
    const int64_t *d = onyx_tensor_dims(x);
    if (onyx_tensor_rank(y) != 4) return INFINITY;
    const int64_t *yd = onyx_tensor_dims(y);
    if (yd[0] != d[0] || yd[1] != 4 || yd[2] != 5 || yd[3] != 3) return INFINITY;
    const float *xp = onyx_tensor_data((onyx_tensor *)x), *yp = onyx_tensor_data((onyx_tensor *)y);
    double err = 0;
    for (int64_t n = 0; n < d[0]; n++)
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < 4; h++)
                for (int w = 0; w < 5; w++) {
                    float v = xp[((n * 3 + c) * 4 + h) * 5 + w];
                    float a = v * ((float)w - 2.0f), b = a < 0 ? 0 : a, dd = sigm(b) + v;
                    float ref = dd < 0 ? 0 : dd;
                    err = fmax(err, fabs((double)ref - yp[((n * 4 + h) * 5 + w) * 3 + c]));
                }
    return err;
}

static void test_session_static(void)
{
    onyx_model *m = chain_model(2);
    onyx_session *s;
    onyx_error err;
    CHECK(onyx_session_create(m, NULL, &s, &err) == ONYX_OK, "%s", err.message);
    size_t one = 2 * 3 * 4 * 5 * 4; /* 480 bytes, 512 aligned */
    onyx_memory_info mi;
    onyx_session_memory_info(s, &mi);
    /* known before the first run */
    CHECK(onyx_session_memory(s) == 1024, "arena %zu", onyx_session_memory(s));
    CHECK(mi.planned_values == 5 && mi.inplace_values == 3 && mi.heap_values == 1,
          "planned %d in place %d heap %d", mi.planned_values, mi.inplace_values, mi.heap_values);
    CHECK(mi.planned_bytes == 5 * one, "planned bytes %zu", mi.planned_bytes);
    onyx_tensor *x = input_of(2);
    const char *names[1] = {"x"};
    const onyx_tensor *ins[1] = {x};
    for (int rep = 0; rep < 2; rep++) {
        CHECK(onyx_session_run(s, 1, names, ins, &err) == ONYX_OK, "%s", err.message);
        double e = chain_error(x, onyx_session_output(s, 0));
        CHECK(e < 1e-6, "run %d: error %g", rep, e);
        CHECK(onyx_session_memory(s) == 1024, "arena %zu after a run", onyx_session_memory(s));
    }
    /* the input was not overwritten in place */
    onyx_tensor *x2 = input_of(2);
    CHECK(!memcmp(onyx_tensor_data(x), onyx_tensor_data(x2), 480), "input changed");
    onyx_tensor_free(x2);
    onyx_tensor_free(x);
    onyx_session_free(s);
    onyx_model_free(m);
}

static int observed;
static void observe(void *ud, const onyx_node_info *node_info, double seconds, int n_in,
                    const onyx_tensor *const *in, int n_out, const onyx_tensor *const *out)
{
    (void)ud, (void)node_info, (void)seconds, (void)n_in, (void)in, (void)n_out, (void)out;
    observed++;
}

static void test_session_replan(void)
{
    onyx_model *m = chain_model(-1);
    onyx_session *s;
    onyx_error err;
    CHECK(onyx_session_create(m, NULL, &s, &err) == ONYX_OK, "%s", err.message);
    /* a symbolic batch is planned as 1 until told otherwise */
    CHECK(onyx_session_memory(s) == 512, "arena %zu", onyx_session_memory(s));
    const char *names[1] = {"x"};
    for (int64_t batch = 1; batch <= 7; batch += 3) {
        onyx_tensor *x = input_of(batch);
        const onyx_tensor *ins[1] = {x};
        CHECK(onyx_session_run(s, 1, names, ins, &err) == ONYX_OK, "%s", err.message);
        double e = chain_error(x, onyx_session_output(s, 0));
        CHECK(e < 1e-6, "batch %lld: error %g", (long long)batch, e);
        size_t want = 2 * (((size_t)batch * 240 + 63) / 64 * 64);
        CHECK(onyx_session_memory(s) == want, "batch %lld: arena %zu, want %zu", (long long)batch,
              onyx_session_memory(s), want);
        onyx_tensor_free(x);
    }
    /* planning ahead of a run */
    int rank = 4;
    int64_t d[4] = {16, 3, 4, 5};
    const int64_t *dp = d;
    CHECK(onyx_session_plan(s, 1, names, &rank, &dp, &err) == ONYX_OK, "%s", err.message);
    CHECK(onyx_session_memory(s) == 2 * 16 * 240, "arena %zu", onyx_session_memory(s));
    d[1] = 5;
    CHECK(onyx_session_plan(s, 1, names, &rank, &dp, &err) == ONYX_E_SHAPE, "wrong dim accepted");
    CHECK(strstr(err.message, "dimension 1") != NULL, "message: %s", err.message);
    const char *bad = "nope";
    CHECK(onyx_session_plan(s, 1, &bad, &rank, &dp, &err) == ONYX_E_INVALID, "unknown input accepted");
    rank = 3;
    d[1] = 3;
    CHECK(onyx_session_plan(s, 1, names, &rank, &dp, &err) == ONYX_E_SHAPE, "wrong rank accepted");
    /* with an observer the inputs it sees are intact: in-place is off, results the same */
    onyx_session_set_observer(s, observe, NULL);
    onyx_tensor *x = input_of(3);
    const onyx_tensor *ins[1] = {x};
    observed = 0;
    CHECK(onyx_session_run(s, 1, names, ins, &err) == ONYX_OK, "%s", err.message);
    CHECK(observed == 6, "observed %d nodes", observed);
    CHECK(chain_error(x, onyx_session_output(s, 0)) < 1e-6, "observed run");
    onyx_tensor_free(x);
    onyx_session_free(s);
    onyx_model_free(m);
}

/* NHWC convs with a residual: x [1,6,5,16] -> a = Relu(x) -> c1 = NhwcConv
 * 1x1 (a) -> c2 = NhwcConv 5x5 (c1, Z = c1) -> c3 = NhwcConv 3x3 (c2, Z = a)
 * -> y = Relu(c3). c3 writes over a (its last reader, read only at the
 * elements it writes); c2 must not write over c1, which its window still
 * reads after the first tiles are stored. */
static const char *conv_init(onyx_model *m, const char *name, int64_t k)
{
    int64_t d[4] = {16, 16, k, k};
    onyx_tensor *w = ge_new_tensor(m, ONYX_FLOAT, 4, d);
    for (int64_t i = 0; i < 16 * 16 * k * k; i++) ((float *)w->data)[i] = (float)sin(0.7 * (double)i) * 0.1f;
    return ge_add_init(m, m->graph, name, w);
}

static void nhwc_conv(onyx_model *m, const char *x, const char *w, const char *z, int64_t pad, const char *out)
{
    const char *in[4] = {x, w, "", z};
    const char *outs[1] = {out};
    onyx_node *n = ge_add_node(m, m->graph, "NhwcConv", "ai.onyx", out, z ? 4 : 2, in, 1, outs);
    ge_set_attr_ints(m, n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
}

static void test_residual_inplace(void)
{
    onyx_model *m = new_model(17);
    CHECK(ge_import_domain(m, "ai.onyx", 1), "import ai.onyx");
    int64_t dims[4] = {1, 6, 5, 16};
    add_input(m, "x", 4, dims);
    node(m, "Relu", "x", NULL, "a");
    nhwc_conv(m, "a", conv_init(m, "w1", 1), NULL, 0, "c1");
    nhwc_conv(m, "c1", conv_init(m, "w2", 5), "c1", 2, "c2");
    nhwc_conv(m, "c2", conv_init(m, "w3", 3), "a", 1, "c3");
    node(m, "Relu", "c3", NULL, "y");
    add_output(m, "y");
    onyx_session *s, *heap;
    onyx_error err;
    onyx_session_options planned = {.threads = 1}, unplanned = {.threads = 1, .no_memory_plan = 1};
    CHECK(onyx_session_create(m, &planned, &s, &err) == ONYX_OK, "%s", err.message);
    CHECK(onyx_session_create(m, &unplanned, &heap, &err) == ONYX_OK, "%s", err.message);
    onyx_memory_info mi;
    onyx_session_memory_info(s, &mi);
    CHECK(mi.inplace_values == 1, "in place %d (only c3 over a)", mi.inplace_values);
    onyx_tensor *x = onyx_tensor_create(ONYX_FLOAT, 4, dims);
    for (int64_t i = 0; i < 480; i++) ((float *)onyx_tensor_data(x))[i] = (float)cos(0.13 * (double)i);
    const char *names[1] = {"x"};
    const onyx_tensor *ins[1] = {x};
    CHECK(onyx_session_run(s, 1, names, ins, &err) == ONYX_OK, "%s", err.message);
    CHECK(onyx_session_run(heap, 1, names, ins, &err) == ONYX_OK, "%s", err.message);
    const onyx_tensor *y = onyx_session_output(s, 0), *yh = onyx_session_output(heap, 0);
    CHECK(onyx_tensor_numel(y) == 480 && onyx_tensor_numel(yh) == 480 &&
              !memcmp(onyx_tensor_data((onyx_tensor *)y), onyx_tensor_data((onyx_tensor *)yh), 480 * sizeof(float)),
          "planned and unplanned runs differ");
    onyx_tensor_free(x);
    onyx_session_free(s);
    onyx_session_free(heap);
    onyx_model_free(m);
}

/* Reshape to a shape computed from Shape->Gather->Unsqueeze->Concat: the plan
 * knows r's size only if constant evaluation resolves the chain. */
static void test_shape_chain(void)
{
    onyx_model *m = new_model(13);
    int64_t dims[3] = {-1, 4, 6}, one = 1;
    add_input(m, "x", 3, dims);
    onyx_tensor *idx = ge_new_tensor(m, ONYX_INT64, 0, NULL);
    const char *idxn = ge_add_init(m, m->graph, "idx", idx);
    onyx_tensor *tail = ge_new_tensor(m, ONYX_INT64, 1, &one);
    ((int64_t *)tail->data)[0] = 24;
    const char *tailn = ge_add_init(m, m->graph, "tail", tail);
    onyx_tensor *ax = ge_new_tensor(m, ONYX_INT64, 1, &one);
    const char *axn = ge_add_init(m, m->graph, "ax", ax);
    node(m, "Shape", "x", NULL, "shp");
    onyx_node *g = node(m, "Gather", "shp", idxn, "n");
    ge_set_attr_int(m, g, "axis", 0);
    node(m, "Unsqueeze", "n", axn, "n1");
    const char *cin[2] = {"n1", tailn}, *cout[1] = {"newshape"};
    onyx_node *c = ge_add_node(m, m->graph, "Concat", "", "", 2, cin, 1, cout);
    ge_set_attr_int(m, c, "axis", 0);
    node(m, "Exp", "x", NULL, "ex");
    node(m, "Reshape", "ex", "newshape", "r");
    node(m, "Neg", "r", NULL, "y");
    add_output(m, "y");
    onyx_session *s;
    onyx_error err;
    CHECK(onyx_session_create(m, NULL, &s, &err) == ONYX_OK, "%s", err.message);
    onyx_memory_info mi;
    onyx_session_memory_info(s, &mi);
    /* shp, n, n1, newshape, ex, r planned; y on the heap */
    CHECK(mi.planned_values == 6 && mi.heap_values == 1, "planned %d heap %d", mi.planned_values, mi.heap_values);
    int64_t xd[3] = {5, 4, 6};
    onyx_tensor *x = onyx_tensor_create(ONYX_FLOAT, 3, xd);
    float *xp = onyx_tensor_data(x);
    for (int i = 0; i < 120; i++) xp[i] = (float)i / 100.0f;
    const char *names[1] = {"x"};
    const onyx_tensor *ins[1] = {x};
    CHECK(onyx_session_run(s, 1, names, ins, &err) == ONYX_OK, "%s", err.message);
    onyx_session_memory_info(s, &mi);
    CHECK(mi.planned_values == 6 && mi.heap_values == 1, "after run: planned %d heap %d", mi.planned_values, mi.heap_values);
    CHECK(mi.planned_bytes >= 2 * 5 * 24 * 4, "planned bytes %zu", mi.planned_bytes);
    const onyx_tensor *y = onyx_session_output(s, 0);
    CHECK(onyx_tensor_rank(y) == 2 && onyx_tensor_dims(y)[0] == 5 && onyx_tensor_dims(y)[1] == 24, "y shape");
    double e = 0;
    const float *yp = onyx_tensor_data((onyx_tensor *)y);
    for (int i = 0; i < 120; i++) e = fmax(e, fabs(yp[i] + expf(xp[i])));
    CHECK(e < 1e-6, "error %g", e);
    onyx_tensor_free(x);
    onyx_session_free(s);
    onyx_model_free(m);
}

/* ---------------------------------------------------------------- zero-copy load */

static void test_mmap_load(void)
{
    onyx_model *m = chain_model(2);
    int64_t big[1] = {1000};
    for (int k = 0; k < 4; k++) { /* initializers at assorted offsets in the file */
        onyx_tensor *t = ge_new_tensor(m, k % 2 ? ONYX_INT64 : ONYX_FLOAT, 1, big);
        for (int i = 0; i < 1000; i++) {
            if (k % 2) ((int64_t *)t->data)[i] = i * 3 + k;
            else ((float *)t->data)[i] = (float)i * 0.5f + (float)k;
        }
        static const char *const names[4] = {"unused0", "unused1", "unused2", "unused3"};
        ge_add_init(m, m->graph, names[k], t);
    }
    char path[] = "/tmp/onyx_test_plan_XXXXXX";
    int fd = mkstemp(path);
    onyx_error err;
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) close(fd);
    CHECK(onyx_model_save(m, path, &err) == ONYX_OK, "%s", err.message);
    onyx_model *l;
    CHECK(onyx_model_load_file(path, &l, &err) == ONYX_OK, "%s", err.message);
    if (l) {
        CHECK(l->map != NULL && l->map_len > 0, "not mapped");
        int in_place = 0, copied = 0;
        for (int i = 0; i < l->graph->n_inits; i++) {
            const onyx_tensor *t = &l->graph->inits[i];
            const char *p = t->data, *b = l->map;
            size_t align = onyx_dtype_size(t->dtype);
            CHECK((uintptr_t)p % align == 0, "initializer %s misaligned", l->graph->init_names[i]);
            if (p >= b && p < b + l->map_len) in_place++;
            else copied++;
            const onyx_tensor *o = onyx_model_initializer(m, l->graph->init_names[i]);
            CHECK(o && o->nbytes == t->nbytes && !memcmp(o->data, t->data, t->nbytes), "initializer %s differs",
                  l->graph->init_names[i]);
        }
        CHECK(in_place + copied == 5, "%d initializers", in_place + copied);
        /* the loaded model runs */
        onyx_session *s;
        CHECK(onyx_session_create(l, NULL, &s, &err) == ONYX_OK, "%s", err.message);
        onyx_tensor *x = input_of(2);
        const char *names[1] = {"x"};
        const onyx_tensor *ins[1] = {x};
        CHECK(onyx_session_run(s, 1, names, ins, &err) == ONYX_OK, "%s", err.message);
        CHECK(chain_error(x, onyx_session_output(s, 0)) < 1e-6, "mapped model computes");
        onyx_tensor_free(x);
        onyx_session_free(s);
        onyx_model_free(l);
    }
    /* truncated file: an error, not a crash */
    FILE *f = fopen(path, "r+b");
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fclose(f);
        CHECK(truncate(path, size / 2) == 0, "truncate");
        l = NULL;
        CHECK(onyx_model_load_file(path, &l, &err) != ONYX_OK && l == NULL, "truncated file loaded");
    }
    unlink(path);
    CHECK(onyx_model_load_file("/nonexistent/model.onnx", &l, &err) == ONYX_E_IO, "missing file");
    onyx_model_free(m);
}

int main(void)
{
    test_assign_chain();
    test_assign_random();
    test_session_static();
    test_session_replan();
    test_residual_inplace();
    test_shape_chain();
    test_mmap_load();
    printf("test_plan: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
