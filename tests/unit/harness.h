/* harness.h - what the operator unit tests share: pass/fail counting, a
 * seeded random source, random tensors, attribute builders, calling an
 * operator (with or without its prepare() step) outside a session, and
 * re-running the test binary under every lower ISA this CPU allows.
 * Header-only: each test is one translation unit. */
#ifndef ONYX_TEST_HARNESS_H
#define ONYX_TEST_HARNESS_H

#include "../../ops/kernel.h"
#include "../../runtime/threads.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...)                                \
    do {                                                \
        if (cond) {                                     \
            passed++;                                   \
        } else {                                        \
            failed++;                                   \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                        \
            printf("\n");                               \
        }                                               \
    } while (0)

static unsigned harness_seed = 4242;
static inline int rnd(int n)
{
    harness_seed = harness_seed * 1103515245u + 12345u;
    return (int)((harness_seed >> 8) % (unsigned)n);
}
static inline float frand(void) { return (float)(rnd(20001) / 10000.0 - 1.0); }

/* A float32 tensor of uniform values in [-1, 1]. */
static inline onyx_tensor *rand_tensor(int rank, const int64_t *dims)
{
    onyx_tensor *t = onyx_tensor_create(ONYX_FLOAT, rank, dims);
    if (!t) {
        printf("cannot allocate a test tensor\n");
        exit(2);
    }
    float *f = t->data;
    int64_t n = tensor_numel_of(rank, dims);
    for (int64_t i = 0; i < n; i++) f[i] = frand();
    return t;
}

static inline onyx_attr attr_int(const char *name, int64_t v)
{
    onyx_attr a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.type = ATTR_INT;
    a.i = v;
    return a;
}
static inline onyx_attr attr_float(const char *name, float v)
{
    onyx_attr a = attr_int(name, 0);
    a.type = ATTR_FLOAT;
    a.f = v;
    return a;
}
static inline onyx_attr attr_ints(const char *name, int n, int64_t *v)
{
    onyx_attr a = attr_int(name, 0);
    a.type = ATTR_INTS;
    a.n = n;
    a.ints = v;
    return a;
}
static inline onyx_attr attr_floats(const char *name, int n, float *v)
{
    onyx_attr a = attr_int(name, 0);
    a.type = ATTR_FLOATS;
    a.n = n;
    a.floats = v;
    return a;
}
static inline onyx_attr attr_str(const char *name, const char *s)
{
    onyx_attr a = attr_int(name, 0);
    a.type = ATTR_STRING;
    a.s = s;
    a.s_len = strlen(s);
    return a;
}

#define CALL_MAX_INPUTS 6
#define CALL_MAX_ATTRS 14

/* One operator invocation: inputs (NULL for omitted ones); inputs 1..n_const
 * are initializers, which prepare() sees. */
typedef struct op_call {
    const char *domain, *op;
    int n_in;
    const onyx_tensor *in[CALL_MAX_INPUTS];
    int n_const;
    int n_attr;
    onyx_attr attr[CALL_MAX_ATTRS];
} op_call;

/* The context an operator runs in outside a session. */
static inline void call_kctx(const op_call *c, onyx_kctx *k, onyx_tensor **outs, onyx_threads *tp, onyx_error *err)
{
    memset(k, 0, sizeof *k);
    memset(err, 0, sizeof *err);
    k->op_type = c->op;
    k->domain = c->domain;
    k->opset = 19;
    k->n_attrs = c->n_attr;
    k->attrs = c->attr;
    k->n_inputs = c->n_in;
    k->n_outputs = 1;
    k->outputs = outs;
    k->err = err;
    k->threads = tp;
}

static inline const onyx_op_def *call_def(const op_call *c)
{
    const onyx_op_def *d = onyx_find_op(c->domain, c->op);
    if (!d) {
        printf("FAIL: no kernel for %s.%s\n", c->domain, c->op);
        failed++;
    }
    return d;
}

/* The operator's prepare() step (what a session does once): *state may stay NULL. */
static inline onyx_status op_prepare(const op_call *c, void **state, onyx_error *err)
{
    *state = NULL;
    const onyx_op_def *d = call_def(c);
    if (!d) return ONYX_E_UNSUPPORTED;
    if (!d->prepare) return ONYX_OK;
    onyx_kctx k;
    onyx_tensor *outs[1] = {NULL};
    call_kctx(c, &k, outs, NULL, err);
    const onyx_tensor *consts[CALL_MAX_INPUTS] = {0};
    for (int i = 1; i <= c->n_const && i < c->n_in; i++) consts[i] = c->in[i];
    k.inputs = consts;
    return d->prepare(&k, state);
}

static inline void op_release(const op_call *c, void *state)
{
    const onyx_op_def *d = onyx_find_op(c->domain, c->op);
    if (state && d && d->release) d->release(state);
}

/* Runs the operator with a prepared state (its fast path; NULL: the
 * reference kernel); *out receives output 0 (the caller releases it). */
static inline onyx_status op_run_state(const op_call *c, void *state, onyx_threads *tp, onyx_tensor *out, onyx_error *err)
{
    const onyx_op_def *d = call_def(c);
    memset(out, 0, sizeof *out);
    if (!d) return ONYX_E_UNSUPPORTED;
    onyx_kctx k;
    onyx_tensor *outs[1] = {out};
    call_kctx(c, &k, outs, tp, err);
    k.inputs = c->in;
    k.state = state;
    onyx_status st = d->run(&k);
    for (int i = 0; i < 8; i++) tensor_release(&k.spare[i]);
    return st;
}

/* op_prepare (when prepared), op_run_state and op_release in one call. */
static inline onyx_status op_run(const op_call *c, bool prepared, onyx_threads *tp, onyx_tensor *out, onyx_error *err)
{
    void *state = NULL;
    memset(out, 0, sizeof *out);
    onyx_status st = prepared ? op_prepare(c, &state, err) : ONYX_OK;
    if (st == ONYX_OK) st = op_run_state(c, state, tp, out, err);
    op_release(c, state);
    return st;
}

/* Largest |a - r| over max|r| (at least 1e-6) for n floats; *at gets its index. */
static inline double max_rel_error(const float *a, const float *r, int64_t n, int64_t *at)
{
    double worst = 0, scale = 1e-6;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(r[i]));
    *at = -1;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - r[i]) / scale;
        if (!(e <= worst)) worst = e, *at = i;
    }
    return worst;
}

/* When ONYX_ISA is not set, re-runs this binary with each lower x86 ISA
 * (generic, avx2) the CPU allows and adds their counts to *p and *f.
 * ONYX_TEST_WRAPPER (e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu") prefixes
 * the child's command line when the test itself runs under an emulator. */
static inline void run_lower_isas(const char *argv0, int *p_total, int *f_total)
{
    if (getenv("ONYX_ISA") || onyx_cpu_info()->isa == ONYX_ISA_GENERIC) return;
    static const char *lower[] = {"generic", "avx2"};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && onyx_cpu_info()->isa <= ONYX_ISA_AVX2) break;
        char cmd[4200];
        const char *wrap = getenv("ONYX_TEST_WRAPPER");
        snprintf(cmd, sizeof cmd, "ONYX_ISA=%s %s '%s'", lower[i], wrap ? wrap : "", argv0);
        FILE *f = popen(cmd, "r");
        char line[512];
        int p = 0, q = 1;
        while (f && fgets(line, sizeof line, f)) {
            if (sscanf(line, "%d passed, %d failed", &p, &q) == 2) continue;
            fputs(line, stdout);
        }
        if (!f || pclose(f) != 0 || q != 0) q = q ? q : 1;
        printf("ONYX_ISA=%s: %d passed, %d failed\n", lower[i], p, q);
        *p_total += p;
        *f_total += q;
    }
}

#endif
