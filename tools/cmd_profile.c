/* cmd_profile.c - onyx profile: the figures people argue about, measured.
 *
 *   onyx profile MODEL [-i NAME=FILE.pb]... [--shape NAME=1x3x512x512]...
 *                [--threads N] [--runs N] [--warmup N] [--max-time SEC]
 *                [--sweep NAME=256,512,1024] [--format md|json|csv]
 *                [--trace trace.json] [--svg chart.svg] [--no-peak] [--progress|--quiet]
 *
 * File size, parameters, MACs, load time and load memory (VmRSS delta), arena
 * size (when the runtime reports one), first-run latency, min/median/p90
 * latency, throughput, peak RSS (VmHWM), a per-op-type table (time share,
 * GFLOP/s achieved next to this machine's FMA peak, GB/s touched) and the
 * slowest nodes. --trace writes a Chrome trace (chrome://tracing, Perfetto) of
 * one steady-state run. --sweep re-runs the model with each input size, each
 * in its own forked process so peak memory does not mix, and shows how latency
 * and memory grow. --svg draws the per-op and sweep charts.
 *
 * FLOPs are counted for the compute-bound operators only (Conv, ConvTranspose,
 * Gemm, MatMul, the ai.onyx fused Conv/Gemm/MatMul and Attention), from the
 * shapes the observer sees; one multiply-add is two FLOPs. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif


#define MAX_SHAPES 16
#define MAX_SWEEP 32

/* ---------------------------------------------------------------- clocks and memory */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A field of /proc/self/status in MB, or -1 where there is none. */
static double proc_status_mb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t kl = strlen(key);
    double mb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            mb = strtod(line + kl + 1, NULL) / 1024.0;
            break;
        }
    fclose(f);
    return mb;
}

/* Resets VmHWM to the current RSS (Linux 4.0+); false where it cannot. */
static bool reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    if (fclose(f) != 0) ok = false;
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* q-quantile (0..1) of n sorted values, nearest rank. */
static double quantile(const double *sorted, int n, double q)
{
    if (n <= 0) return 0;
    int i = (int)ceil(q * n) - 1;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return sorted[i];
}

static double median_of(double *v, int n)
{
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---------------------------------------------------------------- FMA peak */

static volatile float peak_seed = 1.0f;

#define FMA_CHAIN(F, a, b, c) \
    a##0 = F(a##0, b, c); a##1 = F(a##1, b, c); a##2 = F(a##2, b, c); a##3 = F(a##3, b, c); \
    a##4 = F(a##4, b, c); a##5 = F(a##5, b, c); a##6 = F(a##6, b, c); a##7 = F(a##7, b, c); \
    a##8 = F(a##8, b, c); a##9 = F(a##9, b, c); a##10 = F(a##10, b, c); a##11 = F(a##11, b, c)

#if defined(__x86_64__) || defined(__i386__)
/* 12 independent chains: enough to cover FMA latency (4) x ports (2). */
__attribute__((target("avx2,fma"), noinline)) static float fma_avx2(long iters)
{
    __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
    /* distinct starting values, or the compiler merges identical chains into one */
    float s0 = peak_seed;
#define S8(k) _mm256_set1_ps(s0 + 0.01f * (k))
    __m256 a0 = S8(0), a1 = S8(1), a2 = S8(2), a3 = S8(3), a4 = S8(4), a5 = S8(5), a6 = S8(6), a7 = S8(7),
           a8 = S8(8), a9 = S8(9), a10 = S8(10), a11 = S8(11);
#undef S8
    for (long i = 0; i < iters; i++) { FMA_CHAIN(_mm256_fmadd_ps, a, b, c); }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

__attribute__((target("avx512f"), noinline)) static float fma_avx512(long iters)
{
    __m512 b = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f);
    float s0 = peak_seed;
#define S16(k) _mm512_set1_ps(s0 + 0.01f * (k))
    __m512 a0 = S16(0), a1 = S16(1), a2 = S16(2), a3 = S16(3), a4 = S16(4), a5 = S16(5), a6 = S16(6), a7 = S16(7),
           a8 = S16(8), a9 = S16(9), a10 = S16(10), a11 = S16(11);
#undef S16
    for (long i = 0; i < iters; i++) { FMA_CHAIN(_mm512_fmadd_ps, a, b, c); }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    float out[16];
    _mm512_storeu_ps(out, s);
    return out[0] + out[15];
}
#endif

/* Portable fallback (NEON on ARM through the compiler's vector extension). */
typedef float v4f __attribute__((vector_size(16)));
static inline v4f vmac(v4f a, v4f b, v4f c) { return a * b + c; }
__attribute__((noinline)) static float fma_generic(long iters)
{
    v4f b = {0.9999999f, 0.9999999f, 0.9999999f, 0.9999999f}, c = {1e-7f, 1e-7f, 1e-7f, 1e-7f};
    float s0 = peak_seed;
#define S4(k) {s0 + 0.01f * (k), s0 + 0.01f * (k), s0 + 0.01f * (k), s0 + 0.01f * (k)}
    v4f a0 = S4(0), a1 = S4(1), a2 = S4(2), a3 = S4(3), a4 = S4(4), a5 = S4(5), a6 = S4(6), a7 = S4(7), a8 = S4(8),
        a9 = S4(9), a10 = S4(10), a11 = S4(11);
#undef S4
    for (long i = 0; i < iters; i++) { FMA_CHAIN(vmac, a, b, c); }
    v4f s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    return s[0] + s[3];
}

typedef struct peak_info {
    double gflops;      /* best single-thread GFLOP/s */
    const char *isa;    /* which loop gave it */
} peak_info;

static volatile float peak_sink;

/* The probe times this thread's CPU time, not the wall clock: on a shared,
 * oversubscribed machine the wall clock counts the time other processes ran. */
static double thread_cpu_s(void)
{
    struct timespec t;
#ifdef CLOCK_THREAD_CPUTIME_ID
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0) return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
#endif
    return now_s();
}

/* GFLOP/s of one loop: iterations grow until a run takes 20 ms of CPU time, best of 5. */
static double time_fma(float (*fn)(long), int lanes)
{
    long iters = 1 << 14;
    double best = 0;
    for (int tries = 0; tries < 40; tries++) { /* noisy shared machines: the best of several */
        double t0 = thread_cpu_s();
        peak_sink = fn(iters);
        double dt = thread_cpu_s() - t0;
        if (dt < 0.02) {
            iters *= 2;
            continue;
        }
        double g = (double)iters * 12 * lanes * 2 / dt / 1e9;
        if (g > best) best = g;
        /* four more repetitions at the final size */
        for (int r = 0; r < 4; r++) {
            t0 = thread_cpu_s();
            peak_sink = fn(iters);
            dt = thread_cpu_s() - t0;
            g = (double)iters * 12 * lanes * 2 / dt / 1e9;
            if (g > best) best = g;
        }
        break;
    }
    return best;
}

static peak_info measure_peak(void)
{
    peak_info p = {0, "generic"};
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        double g = time_fma(fma_avx512, 16);
        if (g > p.gflops) p = (peak_info){g, "avx512f"};
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        double g = time_fma(fma_avx2, 8);
        if (g > p.gflops) p = (peak_info){g, "avx2+fma"};
    }
    if (p.gflops > 0) return p;
#endif
    p.gflops = time_fma(fma_generic, 4);
    return p;
}

/* ---------------------------------------------------------------- FLOPs per node */

static int64_t numel_of(const onyx_tensor *t)
{
    return t && onyx_tensor_kind(t) == ONYX_KIND_TENSOR ? onyx_tensor_numel(t) : 0;
}

static int64_t dim_from_end(const onyx_tensor *t, int k) /* k = 1: last dim */
{
    if (!t || onyx_tensor_kind(t) != ONYX_KIND_TENSOR) return 0;
    int r = onyx_tensor_rank(t);
    return r >= k ? onyx_tensor_dims(t)[r - k] : 1;
}

/* Multiply-adds count two FLOPs; other operators count none. */
static double node_flops(const onyx_node_info *n, int ni, const onyx_tensor *const *in, int no,
                         const onyx_tensor *const *out)
{
    const char *op = n->op_type;
    const onyx_tensor *y = no > 0 ? out[0] : NULL;
    const onyx_tensor *a = ni > 0 ? in[0] : NULL, *b = ni > 1 ? in[1] : NULL;
    /* the quantized forms: B (W) at input 3; QConv/QMatMul may leave out the float output */
    if (!strcmp(op, "QLinearConv") || !strcmp(op, "QConv") || !strcmp(op, "NhwcQConv") ||
        !strcmp(op, "QLinearMatMul") || !strcmp(op, "QMatMul")) {
        b = ni > 3 ? in[3] : NULL;
        if (!y && no > 1) y = out[1];
        op = strstr(op, "Conv") ? "Conv" : "MatMul";
    }
    if (!strcmp(op, "Attention") && !strcmp(n->domain, "ai.onyx") && ni == 1 && y && onyx_tensor_rank(y) == 4)
        /* packed Q, K, V [B, N, 3 H d] -> Y [B, N, H, d]: Nq = Nk = N and
         * numel(Q) = numel(Y) */
        return 4.0 * (double)dim_from_end(y, 3) * (double)numel_of(y);
    if (!y || !a || !b) return 0;
    bool onyx_dom = !strcmp(n->domain, "ai.onyx");
    bool std_dom = !n->domain[0] || !strcmp(n->domain, "ai.onnx");
    bool ms_dom = !strcmp(n->domain, "com.microsoft");
    if (!std_dom && !onyx_dom && !ms_dom) return 0;
    if (!strcmp(op, "Conv") || !strcmp(op, "FusedConv") || !strcmp(op, "NhwcConv") || !strcmp(op, "ConvInteger")) {
        /* 2 * N*Cout*prod(out) * Cin/g*prod(k) = 2 * numel(Y) * numel(W)/Cout */
        int64_t cout = onyx_tensor_rank(b) > 0 ? onyx_tensor_dims(b)[0] : 0;
        return cout > 0 ? 2.0 * (double)numel_of(y) * (double)numel_of(b) / (double)cout : 0;
    }
    if (!strcmp(op, "ConvTranspose") || !strcmp(op, "NhwcConvTranspose")) {
        /* every input element meets Cout/g*prod(k) weights: W is [Cin, Cout/g, k...] */
        int64_t cin = onyx_tensor_rank(b) > 0 ? onyx_tensor_dims(b)[0] : 0;
        return cin > 0 ? 2.0 * (double)numel_of(a) * (double)numel_of(b) / (double)cin : 0;
    }
    if (!strcmp(op, "Gemm") || !strcmp(op, "FusedGemm") || !strcmp(op, "MatMul") || !strcmp(op, "FusedMatMul") ||
        !strcmp(op, "MatMulInteger")) {
        int64_t k;
        if (onyx_tensor_rank(a) < 2) {
            k = dim_from_end(a, 1);
        } else {
            /* A's last two dims are [M, K], or [K, M] when transposed */
            int64_t m = onyx_tensor_rank(y) >= 2 ? dim_from_end(y, 2) : 1;
            int64_t a0 = dim_from_end(a, 2), a1 = dim_from_end(a, 1);
            k = a0 == m ? a1 : a0;
        }
        return 2.0 * (double)numel_of(y) * (double)k;
    }
    if (!strcmp(op, "Attention") && ni > 2 && in[2]) {
        /* Q.K^T and P.V: 2*Nk*numel(Q) + 2*Nk*numel(Y) = 4*B*H*Nq*Nk*d when dv = d */
        int64_t nk = dim_from_end(in[2], 2);
        return 2.0 * (double)nk * ((double)numel_of(a) + (double)numel_of(y));
    }
    return 0;
}

static double tensor_bytes(const onyx_tensor *t)
{
    if (!t || onyx_tensor_kind(t) != ONYX_KIND_TENSOR) return 0;
    return (double)onyx_tensor_numel(t) * (double)onyx_dtype_size(onyx_tensor_dtype(t));
}

static void shape_str(char *buf, size_t cap, int ni, const onyx_tensor *const *in, int no,
                      const onyx_tensor *const *out)
{
    size_t w = 0;
    buf[0] = 0;
    for (int side = 0; side < 2; side++) {
        int n = side ? no : ni;
        const onyx_tensor *const *v = side ? out : in;
        if (side && w + 5 < cap) w += (size_t)snprintf(buf + w, cap - w, " -> ");
        for (int i = 0; i < n && w + 16 < cap; i++) {
            if (i) w += (size_t)snprintf(buf + w, cap - w, ", ");
            const onyx_tensor *t = v[i];
            if (!t) w += (size_t)snprintf(buf + w, cap - w, "-");
            else if (onyx_tensor_kind(t) != ONYX_KIND_TENSOR) w += (size_t)snprintf(buf + w, cap - w, "seq");
            else if (onyx_tensor_rank(t) == 0) w += (size_t)snprintf(buf + w, cap - w, "scalar");
            else
                for (int d = 0; d < onyx_tensor_rank(t) && w + 16 < cap; d++)
                    w += (size_t)snprintf(buf + w, cap - w, "%s%lld", d ? "x" : "", (long long)onyx_tensor_dims(t)[d]);
        }
    }
}

/* ---------------------------------------------------------------- the observer */

typedef struct opstat {
    char op[80];
    int nodes;          /* per run */
    double seconds, flops, bytes; /* summed over recorded runs */
} opstat;

typedef struct nodestat {
    char name[96], op[80], shapes[160];
    double seconds, flops; /* summed over recorded runs */
} nodestat;

typedef struct trace_ev {
    char name[96], op[80], shapes[160];
    double ts, dur, flops; /* microseconds from the run's start */
} trace_ev;

typedef struct prof {
    bool record, tracing;
    int recorded_runs;
    opstat *ops;
    int n_ops, cap_ops;
    nodestat *nodes;
    int n_nodes, cap_nodes;
    int node_i;             /* position in the current run */
    int nodes_last_run;     /* how many the previous run had */
    double run_flops;       /* of the current run */
    trace_ev *trace;
    int n_trace, cap_trace;
    double run_t0;
    /* progress */
    bool progress;
    double last_progress;
    int run_no, run_total;
    const char *phase;
    bool progress_shown;
    bool oom;
} prof;

static bool grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return true;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return false;
    memset((char *)q + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *p = q;
    *cap = nc;
    return true;
}

static void op_label(char *buf, size_t cap, const onyx_node_info *n)
{
    if (n->domain[0] && strcmp(n->domain, "ai.onnx")) snprintf(buf, cap, "%s.%s", n->domain, n->op_type);
    else snprintf(buf, cap, "%s", n->op_type);
}

static void progress_line(prof *p, bool force)
{
    if (!p->progress) return;
    double t = now_s();
    if (!force && t - p->last_progress < 0.25) return;
    p->last_progress = t;
    char nodes[64] = "";
    if (p->node_i > 0) {
        if (p->nodes_last_run > 0) snprintf(nodes, sizeof nodes, ", node %d/%d", p->node_i, p->nodes_last_run);
        else snprintf(nodes, sizeof nodes, ", node %d", p->node_i);
    }
    fprintf(stderr, "\r\033[Konyx profile: %s %d/%d%s ", p->phase, p->run_no, p->run_total, nodes);
    p->progress_shown = true;
}

static void progress_clear(prof *p)
{
    if (p->progress_shown) fprintf(stderr, "\r\033[K");
    p->progress_shown = false;
}

static void observe(void *ud, const onyx_node_info *node, double seconds, int ni, const onyx_tensor *const *in,
                    int no, const onyx_tensor *const *out)
{
    prof *p = ud;
    double flops = node_flops(node, ni, in, no, out);
    p->run_flops += flops;
    int idx = p->node_i++;
    if (p->progress && now_s() - p->run_t0 > 1.0) progress_line(p, false);
    if (p->tracing && grow((void **)&p->trace, &p->cap_trace, p->n_trace + 1, sizeof *p->trace)) {
        trace_ev *e = &p->trace[p->n_trace++];
        double end = now_s();
        e->dur = seconds * 1e6;
        e->ts = (end - p->run_t0) * 1e6 - e->dur;
        if (e->ts < 0) e->ts = 0;
        e->flops = flops;
        snprintf(e->name, sizeof e->name, "%s", node->name && node->name[0] ? node->name
                                                 : node->n_outputs ? node->outputs[0] : "?");
        op_label(e->op, sizeof e->op, node);
        shape_str(e->shapes, sizeof e->shapes, ni, in, no, out);
    }
    if (!p->record) return;
    char label[80];
    op_label(label, sizeof label, node);
    double bytes = 0;
    /* Shape and Size read only the header of their input */
    bool header_only = !strcmp(node->op_type, "Shape") || !strcmp(node->op_type, "Size");
    for (int i = 0; i < ni && !header_only; i++) bytes += tensor_bytes(in[i]);
    for (int i = 0; i < no; i++) bytes += tensor_bytes(out[i]);
    int k = 0;
    while (k < p->n_ops && strcmp(p->ops[k].op, label)) k++;
    if (k == p->n_ops) {
        if (!grow((void **)&p->ops, &p->cap_ops, k + 1, sizeof *p->ops)) {
            p->oom = true;
            return;
        }
        snprintf(p->ops[k].op, sizeof p->ops[k].op, "%s", label);
        p->n_ops++;
    }
    opstat *o = &p->ops[k];
    if (p->recorded_runs == 0) o->nodes++;
    o->seconds += seconds;
    o->flops += flops;
    o->bytes += bytes;
    if (idx >= p->n_nodes) {
        if (!grow((void **)&p->nodes, &p->cap_nodes, idx + 1, sizeof *p->nodes)) {
            p->oom = true;
            return;
        }
        nodestat *s = &p->nodes[idx];
        snprintf(s->name, sizeof s->name, "%s", node->name && node->name[0] ? node->name
                                                 : node->n_outputs ? node->outputs[0] : "?");
        snprintf(s->op, sizeof s->op, "%s", label);
        shape_str(s->shapes, sizeof s->shapes, ni, in, no, out);
        p->n_nodes = idx + 1;
    }
    p->nodes[idx].seconds += seconds;
    p->nodes[idx].flops += flops;
}

static void prof_free(prof *p)
{
    free(p->ops);
    free(p->nodes);
    free(p->trace);
}

/* One run, timed from outside; the observer sees every node. */
static int timed_run(onyx_session *s, prof *p, inputs *in, const char *what, double *ms)
{
    p->node_i = 0;
    p->run_flops = 0;
    p->run_t0 = now_s();
    int rc = run_session(s, in, what);
    *ms = (now_s() - p->run_t0) * 1e3;
    if (p->node_i) p->nodes_last_run = p->node_i;
    p->node_i = 0;
    return rc;
}

/* ---------------------------------------------------------------- inputs */

typedef struct shape_spec {
    const char *name;
    int rank;
    int64_t dims[ONYX_MAX_RANK];
} shape_spec;

static bool parse_dims(const char *s, int64_t *dims, int *rank)
{
    int r = 0;
    while (*s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v < 0 || r >= ONYX_MAX_RANK) return false;
        dims[r++] = v;
        s = end;
        if (*s == 'x' || *s == 'X' || *s == '*') s++;
        else if (*s) return false;
    }
    *rank = r;
    return r > 0;
}

/* Generated inputs for everything not given with -i, with --shape overrides and
 * (for a sweep point) the trailing dims of one input replaced. */
static int build_inputs(const onyx_model *m, char **files, int n_files, const shape_spec *shapes, int n_shapes,
                        const char *sweep_name, const int64_t *sweep_dims, int sweep_k, const char *data_dir,
                        inputs *in)
{
    int rc = 0;
    for (int f = 0; f < n_files && !rc; f++) {
        char *spec = files[f], *eq = strchr(spec, '=');
        int idx;
        const char *file;
        if (eq) {
            char name[512];
            snprintf(name, sizeof name, "%.*s", (int)(eq - spec), spec);
            idx = find_input(m, name);
            if (idx < 0) {
                fprintf(stderr, "onyx: the model has no input named '%s'\n", name);
                return EXIT_ERROR;
            }
            file = eq + 1;
        } else {
            idx = f;
            file = spec;
        }
        rc = load_input_pb(m, file, idx, in);
    }
    for (int i = 0; i < onyx_model_num_inputs(m) && !rc; i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        bool given = false;
        for (int j = 0; j < in->n; j++) given |= !strcmp(in->names[j], v.name);
        if (given) {
            if (sweep_name && !strcmp(sweep_name, v.name)) {
                fprintf(stderr, "onyx: --sweep input '%s' is also given with -i\n", v.name);
                return EXIT_ERROR;
            }
            continue;
        }
        bool shaped = sweep_name && !strcmp(sweep_name, v.name);
        for (int s = 0; s < n_shapes; s++) shaped |= !strcmp(shapes[s].name, v.name);
        if (data_dir && !shaped) {
            /* the test data next to the model (zoo layout) */
            char path[4096];
            struct stat sb;
            snprintf(path, sizeof path, "%s/input_%d.pb", data_dir, i);
            if (stat(path, &sb) == 0) {
                int n0 = in->n;
                if ((rc = load_input_pb(m, path, i, in))) return rc;
                if (in->n > n0 && !strcmp(in->names[in->n - 1], v.name)) continue;
            }
        }
        if (v.kind != ONYX_KIND_TENSOR) {
            fprintf(stderr, "onyx: input '%s' is not a tensor; give it with -i\n", v.name);
            return EXIT_ERROR;
        }
        int64_t dims[ONYX_MAX_RANK];
        int rank = v.rank < 0 ? 0 : v.rank;
        bool symbolic = false;
        for (int d = 0; d < rank; d++) {
            dims[d] = v.dims[d] >= 0 ? v.dims[d] : 1;
            symbolic |= v.dims[d] < 0;
        }
        if (symbolic && !shaped)
            fprintf(stderr, "onyx profile: input '%s' has symbolic dims, taken as 1; set them with --shape %s=...\n",
                    v.name, v.name);
        for (int s = 0; s < n_shapes; s++)
            if (!strcmp(shapes[s].name, v.name)) {
                rank = shapes[s].rank;
                memcpy(dims, shapes[s].dims, sizeof dims);
            }
        if (sweep_name && !strcmp(sweep_name, v.name)) {
            int k = sweep_k;
            if (k == 1 && rank >= 3) { /* one number: a square image, the last two dims */
                dims[rank - 2] = sweep_dims[0];
                dims[rank - 1] = sweep_dims[0];
            } else if (k <= rank) {
                for (int d = 0; d < k; d++) dims[rank - k + d] = sweep_dims[d];
            } else {
                fprintf(stderr, "onyx: --sweep size has %d dims, input '%s' has rank %d\n", k, v.name, rank);
                return EXIT_ERROR;
            }
        }
        onyx_value_info v2 = v;
        v2.rank = rank;
        v2.dims = dims;
        onyx_tensor *t = random_input(&v2, i);
        const char **nn = realloc(in->names, (size_t)(in->n + 1) * sizeof *in->names);
        if (nn) in->names = nn;
        onyx_tensor **nv = nn ? realloc(in->vals, (size_t)(in->n + 1) * sizeof *in->vals) : NULL;
        if (nv) in->vals = nv;
        if (!t || !nn || !nv) {
            onyx_tensor_free(t);
            fprintf(stderr, "onyx: out of memory\n");
            return EXIT_ERROR;
        }
        in->names[in->n] = v.name;
        in->vals[in->n++] = t;
    }
    return rc;
}

static void input_desc(char *buf, size_t cap, const inputs *in)
{
    size_t w = 0;
    buf[0] = 0;
    for (int i = 0; i < in->n && w + 32 < cap; i++) {
        const onyx_tensor *t = in->vals[i];
        w += (size_t)snprintf(buf + w, cap - w, "%s%s ", i ? ", " : "", in->names[i]);
        if (onyx_tensor_kind(t) != ONYX_KIND_TENSOR) {
            w += (size_t)snprintf(buf + w, cap - w, "seq");
            continue;
        }
        w += (size_t)snprintf(buf + w, cap - w, "%s[", onyx_dtype_name(onyx_tensor_dtype(t)));
        for (int d = 0; d < onyx_tensor_rank(t) && w + 16 < cap; d++)
            w += (size_t)snprintf(buf + w, cap - w, "%s%lld", d ? "x" : "", (long long)onyx_tensor_dims(t)[d]);
        if (w + 2 < cap) w += (size_t)snprintf(buf + w, cap - w, "]");
    }
}

static void input_shape(char *buf, size_t cap, const inputs *in, const char *name)
{
    buf[0] = 0;
    for (int i = 0; i < in->n; i++) {
        if (strcmp(in->names[i], name) || onyx_tensor_kind(in->vals[i]) != ONYX_KIND_TENSOR) continue;
        size_t w = 0;
        for (int d = 0; d < onyx_tensor_rank(in->vals[i]) && w + 16 < cap; d++)
            w += (size_t)snprintf(buf + w, cap - w, "%s%lld", d ? "x" : "", (long long)onyx_tensor_dims(in->vals[i])[d]);
    }
}

/* ---------------------------------------------------------------- measurement */

typedef struct run_stats {
    int runs;
    double first_ms, min_ms, median_ms, p90_ms, mean_ms, max_ms;
} run_stats;

typedef struct settings {
    int threads, runs, warmup;
    double max_time;
    bool progress;
} settings;

/* First run, warm-up, then timed runs (stopping early after max_time once
 * three are done). */
static int measure(onyx_session *s, prof *p, inputs *in, const char *what, const settings *cfg, run_stats *st)
{
    int rc;
    double ms;
    memset(st, 0, sizeof *st);
    p->phase = "first run";
    p->run_no = 1;
    p->run_total = 1;
    p->record = false;
    if ((rc = timed_run(s, p, in, what, &ms))) return rc;
    st->first_ms = ms;
    p->phase = "warm-up";
    p->run_total = cfg->warmup;
    for (int i = 0; i < cfg->warmup; i++) {
        p->run_no = i + 1;
        if ((rc = timed_run(s, p, in, what, &ms))) return rc;
        progress_line(p, false);
    }
    double *t = malloc((size_t)(cfg->runs > 0 ? cfg->runs : 1) * sizeof *t);
    if (!t) return EXIT_ERROR;
    p->phase = "run";
    p->run_total = cfg->runs;
    double t0 = now_s();
    int n = 0;
    for (; n < cfg->runs; n++) {
        if (n >= 3 && cfg->max_time > 0 && now_s() - t0 > cfg->max_time) break;
        p->run_no = n + 1;
        p->record = true;
        p->tracing = n == 0;
        rc = timed_run(s, p, in, what, &t[n]);
        p->tracing = false;
        p->record = false;
        if (rc) {
            free(t);
            return rc;
        }
        p->recorded_runs++;
        if (now_s() - t0 > 1.0) progress_line(p, false);
    }
    progress_clear(p);
    st->runs = n;
    if (n > 0) {
        double sum = 0;
        for (int i = 0; i < n; i++) sum += t[i];
        st->mean_ms = sum / n;
        qsort(t, (size_t)n, sizeof *t, cmp_double);
        st->min_ms = t[0];
        st->max_ms = t[n - 1];
        st->p90_ms = quantile(t, n, 0.9);
        st->median_ms = median_of(t, n);
    } else {
        st->min_ms = st->median_ms = st->p90_ms = st->mean_ms = st->max_ms = st->first_ms;
    }
    free(t);
    return 0;
}

static double arena_mb(const onyx_session *s) { return (double)onyx_session_memory(s) / (1024.0 * 1024.0); }

/* ---------------------------------------------------------------- sweep (forked) */

typedef struct sweep_pt {
    char label[32], shape[96], err[512];
    int ok, runs;
    double session_ms, first_ms, min_ms, median_ms, p90_ms;
    double start_rss_mb, peak_rss_mb, arena_mb, gflop;
    bool hwm_reset;
} sweep_pt;

static void sweep_child(const onyx_model *m, char **files, int n_files, const shape_spec *shapes, int n_shapes,
                        const char *data_dir, const char *name, const int64_t *dims, int k, const settings *cfg, sweep_pt *pt)
{
    pt->hwm_reset = reset_peak_rss();
    pt->start_rss_mb = proc_status_mb("VmRSS");
    inputs in = {0};
    /* errors go to the pipe, not the terminal */
    if (build_inputs(m, files, n_files, shapes, n_shapes, name, dims, k, data_dir, &in)) {
        snprintf(pt->err, sizeof pt->err, "cannot build the inputs");
        inputs_free(&in);
        return;
    }
    input_shape(pt->shape, sizeof pt->shape, &in, name);
    onyx_session_options opt = {cfg->threads};
    onyx_session *s;
    onyx_error err;
    double t0 = now_s();
    if (onyx_session_create(m, &opt, &s, &err) != ONYX_OK) {
        snprintf(pt->err, sizeof pt->err, "%s: %.400s", onyx_status_name(err.code), err.message);
        inputs_free(&in);
        return;
    }
    pt->session_ms = (now_s() - t0) * 1e3;
    prof p = {0};
    p.progress = cfg->progress;
    onyx_session_set_shape_observer(s, observe, &p);
    run_stats st;
    settings c2 = *cfg;
    if (onyx_session_run(s, in.n, in.names, (const onyx_tensor *const *)in.vals, &err) != ONYX_OK) {
        snprintf(pt->err, sizeof pt->err, "%s: %.400s", onyx_status_name(err.code), err.message);
    } else {
        /* the check run above doubles as the warm-up */
        c2.warmup = 0;
        if (measure(s, &p, &in, "sweep", &c2, &st) == 0) {
            pt->ok = 1;
            pt->runs = st.runs;
            pt->first_ms = st.first_ms;
            pt->min_ms = st.min_ms;
            pt->median_ms = st.median_ms;
            pt->p90_ms = st.p90_ms;
            double fl = 0;
            for (int i = 0; i < p.n_ops; i++) fl += p.ops[i].flops;
            pt->gflop = p.recorded_runs ? fl / p.recorded_runs / 1e9 : 0;
            pt->arena_mb = arena_mb(s);
        } else {
            snprintf(pt->err, sizeof pt->err, "run failed");
        }
    }
    pt->peak_rss_mb = proc_status_mb("VmHWM");
    onyx_session_free(s);
    prof_free(&p);
    inputs_free(&in);
}

/* Each point runs in a child process so its peak RSS is its own. */
static void sweep_point(const onyx_model *m, char **files, int n_files, const shape_spec *shapes, int n_shapes,
                        const char *data_dir, const char *name, const char *label, const settings *cfg, sweep_pt *pt)
{
    memset(pt, 0, sizeof *pt);
    snprintf(pt->label, sizeof pt->label, "%s", label);
    int64_t dims[ONYX_MAX_RANK];
    int k;
    if (!parse_dims(label, dims, &k)) {
        snprintf(pt->err, sizeof pt->err, "bad size '%s'", label);
        return;
    }
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(pt->err, sizeof pt->err, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(pt->err, sizeof pt->err, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        sweep_child(m, files, n_files, shapes, n_shapes, data_dir, name, dims, k, cfg, pt);
        const char *b = (const char *)pt;
        size_t left = sizeof *pt;
        while (left) {
            ssize_t w = write(fd[1], b, left);
            if (w <= 0) break;
            b += w;
            left -= (size_t)w;
        }
        close(fd[1]);
        _exit(0);
    }
    close(fd[1]);
    sweep_pt got;
    char *b = (char *)&got;
    size_t have = 0;
    while (have < sizeof got) {
        ssize_t r = read(fd[0], b + have, sizeof got - have);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        have += (size_t)r;
    }
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (have == sizeof got) {
        *pt = got;
    } else if (WIFSIGNALED(status)) {
        snprintf(pt->err, sizeof pt->err, "killed by signal %d", WTERMSIG(status));
    } else {
        snprintf(pt->err, sizeof pt->err, "the measuring process failed");
    }
}

/* ---------------------------------------------------------------- reports */

typedef struct result {
    const char *model;
    int64_t file_bytes, params, weight_bytes;
    int n_nodes;
    double flops;           /* per run */
    char inputs[1024];
    int threads;
    double model_ms, optimize_ms, session_ms, load_ms;
    int n_nodes_run;         /* after the graph passes */
    double rss_before_mb, load_rss_mb, arena_mb, peak_rss_mb;
    onyx_memory_info mem;
    run_stats st;
    peak_info peak;
    int64_t batch;
    prof *p;
    const char *sweep_name;
    sweep_pt *sw;
    int n_sw;
} result;

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* A number, or null where there is none (negative = unknown). */
static void json_num(FILE *f, double v)
{
    if (v < 0 || !isfinite(v)) fprintf(f, "null");
    else fprintf(f, "%.6g", v);
}

static int cmp_op_time(const void *a, const void *b)
{
    const opstat *x = a, *y = b;
    return x->seconds < y->seconds ? 1 : x->seconds > y->seconds ? -1 : strcmp(x->op, y->op);
}

static int cmp_node_time(const void *a, const void *b)
{
    const nodestat *x = a, *y = b;
    return x->seconds < y->seconds ? 1 : x->seconds > y->seconds ? -1 : 0;
}

static double total_op_seconds(const prof *p)
{
    double t = 0;
    for (int i = 0; i < p->n_ops; i++) t += p->ops[i].seconds;
    return t;
}

static double peak_all(const result *r) { return r->peak.gflops * (r->threads > 0 ? r->threads : 1); }

#define TOP_NODES 10

static void write_json(FILE *f, const result *r)
{
    const prof *p = r->p;
    int runs = p->recorded_runs > 0 ? p->recorded_runs : 1;
    fprintf(f, "{\n  \"model\": ");
    json_str(f, r->model);
    fprintf(f, ",\n  \"file_bytes\": %lld,\n  \"params\": %lld,\n  \"weight_bytes\": %lld,\n  \"nodes\": %d,\n",
            (long long)r->file_bytes, (long long)r->params, (long long)r->weight_bytes, r->n_nodes);
    fprintf(f, "  \"macs\": %.6g,\n  \"flops\": %.6g,\n  \"inputs\": ", r->flops / 2, r->flops);
    json_str(f, r->inputs);
    fprintf(f, ",\n  \"batch\": %lld,\n  \"threads\": %d,\n", (long long)r->batch, r->threads);
    fprintf(f, "  \"load_ms\": %.6g,\n  \"model_load_ms\": %.6g,\n  \"optimize_ms\": %.6g,\n"
               "  \"session_create_ms\": %.6g,\n  \"nodes_run\": %d,\n",
            r->load_ms, r->model_ms, r->optimize_ms, r->session_ms, r->n_nodes_run);
    fprintf(f, "  \"load_rss_mb\": ");
    json_num(f, r->load_rss_mb);
    fprintf(f, ",\n  \"arena_mb\": ");
    json_num(f, r->arena_mb);
    fprintf(f, ",\n  \"arena_planned_mb\": %.6g,\n  \"arena_values\": %d,\n  \"inplace_values\": %d,\n"
               "  \"heap_values\": %d",
            (double)r->mem.planned_bytes / (1024.0 * 1024.0), r->mem.planned_values, r->mem.inplace_values,
            r->mem.heap_values);
    fprintf(f, ",\n  \"first_run_ms\": %.6g,\n  \"runs\": %d,\n  \"min_ms\": %.6g,\n  \"median_ms\": %.6g,\n"
               "  \"p90_ms\": %.6g,\n  \"mean_ms\": %.6g,\n  \"max_ms\": %.6g,\n",
            r->st.first_ms, r->st.runs, r->st.min_ms, r->st.median_ms, r->st.p90_ms, r->st.mean_ms, r->st.max_ms);
    fprintf(f, "  \"throughput_per_s\": %.6g,\n  \"items_per_s\": %.6g,\n", 1e3 / r->st.median_ms,
            1e3 * (double)r->batch / r->st.median_ms);
    fprintf(f, "  \"gflops\": %.6g,\n  \"peak_rss_mb\": ", r->flops / (r->st.median_ms * 1e6));
    json_num(f, r->peak_rss_mb);
    fprintf(f, ",\n  \"peak_gflops_1thread\": ");
    json_num(f, r->peak.gflops > 0 ? r->peak.gflops : -1);
    fprintf(f, ",\n  \"peak_isa\": ");
    json_str(f, r->peak.gflops > 0 ? r->peak.isa : "");
    double tot = total_op_seconds(p);
    fprintf(f, ",\n  \"ops\": [");
    for (int i = 0; i < p->n_ops; i++) {
        const opstat *o = &p->ops[i];
        fprintf(f, "%s\n    {\"op\": ", i ? "," : "");
        json_str(f, o->op);
        double gfs = o->seconds > 0 ? o->flops / o->seconds / 1e9 : 0;
        fprintf(f, ", \"nodes\": %d, \"ms\": %.6g, \"share\": %.6g, \"gflop\": %.6g, \"gflops\": %.6g, "
                   "\"pct_peak\": ",
                o->nodes, o->seconds / runs * 1e3, tot > 0 ? o->seconds / tot : 0, o->flops / runs / 1e9, gfs);
        json_num(f, o->flops > 0 && r->peak.gflops > 0 ? 100 * gfs / peak_all(r) : -1);
        fprintf(f, ", \"gb_per_s\": %.6g}", o->seconds > 0 ? o->bytes / o->seconds / 1e9 : 0);
    }
    fprintf(f, "\n  ],\n  \"top_nodes\": [");
    for (int i = 0; i < p->n_nodes && i < TOP_NODES; i++) {
        const nodestat *n = &p->nodes[i];
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        json_str(f, n->name);
        fprintf(f, ", \"op\": ");
        json_str(f, n->op);
        fprintf(f, ", \"shapes\": ");
        json_str(f, n->shapes);
        fprintf(f, ", \"ms\": %.6g, \"gflops\": %.6g}", n->seconds / runs * 1e3,
                n->seconds > 0 ? n->flops / n->seconds / 1e9 : 0);
    }
    fprintf(f, "\n  ]");
    if (r->sweep_name) {
        fprintf(f, ",\n  \"sweep_input\": ");
        json_str(f, r->sweep_name);
        fprintf(f, ",\n  \"sweep\": [");
        for (int i = 0; i < r->n_sw; i++) {
            const sweep_pt *s = &r->sw[i];
            fprintf(f, "%s\n    {\"size\": ", i ? "," : "");
            json_str(f, s->label);
            fprintf(f, ", \"shape\": ");
            json_str(f, s->shape);
            if (!s->ok) {
                fprintf(f, ", \"error\": ");
                json_str(f, s->err);
                fprintf(f, "}");
                continue;
            }
            fprintf(f, ", \"runs\": %d, \"session_create_ms\": %.6g, \"first_run_ms\": %.6g, \"min_ms\": %.6g, "
                       "\"median_ms\": %.6g, \"p90_ms\": %.6g, \"gflop\": %.6g, \"peak_rss_mb\": %.6g, "
                       "\"run_rss_mb\": %.6g, \"arena_mb\": ",
                    s->runs, s->session_ms, s->first_ms, s->min_ms, s->median_ms, s->p90_ms, s->gflop,
                    s->peak_rss_mb, s->peak_rss_mb - s->start_rss_mb);
            json_num(f, s->arena_mb);
            fprintf(f, "}");
        }
        fprintf(f, "\n  ]");
    }
    fprintf(f, "\n}\n");
}

static void human_count(char *buf, size_t cap, double v)
{
    if (v >= 1e9) snprintf(buf, cap, "%.2f G", v / 1e9);
    else if (v >= 1e6) snprintf(buf, cap, "%.2f M", v / 1e6);
    else if (v >= 1e3) snprintf(buf, cap, "%.1f k", v / 1e3);
    else snprintf(buf, cap, "%.0f", v);
}

static void mb_or_na(char *buf, size_t cap, double mb)
{
    if (mb < 0) snprintf(buf, cap, "n/a");
    else snprintf(buf, cap, "%.1f MB", mb);
}

static void write_md(FILE *f, const result *r)
{
    const prof *p = r->p;
    int runs = p->recorded_runs > 0 ? p->recorded_runs : 1;
    char a[64], b[64];
    fprintf(f, "# onyx profile: %s\n\n| | |\n|---|---|\n", r->model);
    fprintf(f, "| file | %.2f MB |\n", (double)r->file_bytes / 1e6);
    human_count(a, sizeof a, (double)r->params);
    fprintf(f, "| parameters | %s (%lld, %.1f MB of weights) |\n", a, (long long)r->params,
            (double)r->weight_bytes / 1e6);
    human_count(a, sizeof a, r->flops / 2);
    fprintf(f, "| MACs | %s per run (%.3f GFLOP; Conv/Gemm/MatMul/Attention, float or integer) |\n", a, r->flops / 1e9);
    fprintf(f, "| inputs | %s |\n| nodes | %d in the file, %d after the graph passes |\n| threads | %d |\n", r->inputs,
            r->n_nodes, r->n_nodes_run, r->threads);
    mb_or_na(a, sizeof a, r->load_rss_mb);
    fprintf(f, "| load | %.1f ms (model %.1f + optimize %.1f + session %.1f), RSS +%s |\n", r->load_ms, r->model_ms,
            r->optimize_ms, r->session_ms, a);
    mb_or_na(a, sizeof a, r->arena_mb);
    fprintf(f, "| arena | %s (%d activations planned into it, %d in place, %.1f MB unshared; %d on the heap) |\n", a,
            r->mem.planned_values, r->mem.inplace_values, (double)r->mem.planned_bytes / (1024.0 * 1024.0),
            r->mem.heap_values);
    fprintf(f, "| first run | %.2f ms |\n", r->st.first_ms);
    fprintf(f, "| latency | min %.2f, median %.2f, p90 %.2f ms (%d runs) |\n", r->st.min_ms, r->st.median_ms,
            r->st.p90_ms, r->st.runs);
    fprintf(f, "| throughput | %.2f runs/s", 1e3 / r->st.median_ms);
    if (r->batch > 1) fprintf(f, ", %.2f items/s (batch %lld)", 1e3 * (double)r->batch / r->st.median_ms, (long long)r->batch);
    fprintf(f, " |\n| achieved | %.2f GFLOP/s overall |\n", r->flops / (r->st.median_ms * 1e6));
    mb_or_na(a, sizeof a, r->peak_rss_mb);
    fprintf(f, "| peak RSS | %s |\n", a);
    if (r->peak.gflops > 0)
        fprintf(f, "| machine peak | %.1f GFLOP/s per thread (%s FMA loop), %.1f for %d threads |\n", r->peak.gflops,
                r->peak.isa, peak_all(r), r->threads);
    double tot = total_op_seconds(p);
    fprintf(f, "\n## Time by operator type\n\nms are per run, averaged over %d runs", runs);
    if (r->peak.gflops > 0) fprintf(f, "; %% peak is against %.1f GFLOP/s (%d threads)", peak_all(r), r->threads);
    fprintf(f, ". GB/s counts the bytes of every input and output once.\n\n"
               "| op | nodes | ms | share | GFLOP | GFLOP/s | %% peak | GB/s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < p->n_ops; i++) {
        const opstat *o = &p->ops[i];
        double gfs = o->seconds > 0 ? o->flops / o->seconds / 1e9 : 0;
        if (o->flops > 0) {
            snprintf(a, sizeof a, "%.3f | %.2f", o->flops / runs / 1e9, gfs);
            if (r->peak.gflops > 0) snprintf(b, sizeof b, "%.1f", 100 * gfs / peak_all(r));
            else snprintf(b, sizeof b, "-");
        } else {
            snprintf(a, sizeof a, "- | -");
            snprintf(b, sizeof b, "-");
        }
        fprintf(f, "| %s | %d | %.3f | %.1f%% | %s | %s | %.2f |\n", o->op, o->nodes, o->seconds / runs * 1e3,
                tot > 0 ? 100 * o->seconds / tot : 0, a, b, o->seconds > 0 ? o->bytes / o->seconds / 1e9 : 0);
    }
    fprintf(f, "| **total** | | %.3f | | %.3f | %.2f | | |\n", tot / runs * 1e3, r->flops / 1e9,
            tot > 0 ? r->flops * runs / tot / 1e9 : 0);
    fprintf(f, "\nOverhead outside the kernels: %.3f ms per run (median run minus the sum of node times).\n",
            r->st.median_ms - tot / runs * 1e3);
    fprintf(f, "\n## Slowest nodes\n\n| node | op | shapes | ms | GFLOP/s |\n|---|---|---|---:|---:|\n");
    for (int i = 0; i < p->n_nodes && i < TOP_NODES; i++) {
        const nodestat *n = &p->nodes[i];
        fprintf(f, "| %s | %s | %s | %.3f | ", n->name, n->op, n->shapes, n->seconds / runs * 1e3);
        if (n->flops > 0) fprintf(f, "%.2f |\n", n->seconds > 0 ? n->flops / n->seconds / 1e9 : 0);
        else fprintf(f, "- |\n");
    }
    if (r->sweep_name) {
        fprintf(f, "\n## Sweep of input '%s'\n\nEach size runs in its own process; run memory is its peak RSS minus "
                   "its RSS before creating the session.\n\n| size | shape | first run ms | median ms | x latency | "
                   "GFLOP | GFLOP/s | peak RSS MB | run memory MB | x memory | arena |\n"
                   "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
                r->sweep_name);
        const sweep_pt *base = NULL;
        for (int i = 0; i < r->n_sw; i++) {
            const sweep_pt *s = &r->sw[i];
            if (!s->ok) {
                fprintf(f, "| %s | %s | error: %s |||||||||\n", s->label, s->shape, s->err);
                continue;
            }
            if (!base) base = s;
            double m0 = base->peak_rss_mb - base->start_rss_mb, m1 = s->peak_rss_mb - s->start_rss_mb;
            mb_or_na(a, sizeof a, s->arena_mb);
            fprintf(f, "| %s | %s | %.2f | %.2f | %.2f | %.3f | %.2f | %.1f | %.1f | %.2f | %s |\n", s->label, s->shape,
                    s->first_ms, s->median_ms, s->median_ms / base->median_ms, s->gflop,
                    s->median_ms > 0 ? s->gflop / s->median_ms * 1e3 : 0, s->peak_rss_mb, m1, m0 > 0 ? m1 / m0 : 0, a);
        }
    }
}

static void write_csv(FILE *f, const result *r)
{
    const prof *p = r->p;
    int runs = p->recorded_runs > 0 ? p->recorded_runs : 1;
    fprintf(f, "model,file_bytes,params,macs,threads,load_ms,load_rss_mb,arena_mb,first_run_ms,runs,min_ms,median_ms,"
               "p90_ms,peak_rss_mb,peak_gflops_1thread\n");
    fprintf(f, "\"%s\",%lld,%lld,%.6g,%d,%.6g,%.6g,%.6g,%.6g,%d,%.6g,%.6g,%.6g,%.6g,%.6g\n", r->model,
            (long long)r->file_bytes, (long long)r->params, r->flops / 2, r->threads, r->load_ms, r->load_rss_mb,
            r->arena_mb, r->st.first_ms, r->st.runs, r->st.min_ms, r->st.median_ms, r->st.p90_ms, r->peak_rss_mb,
            r->peak.gflops);
    double tot = total_op_seconds(p);
    fprintf(f, "\nop,nodes,ms,share,gflop,gflops,pct_peak,gb_per_s\n");
    for (int i = 0; i < p->n_ops; i++) {
        const opstat *o = &p->ops[i];
        double gfs = o->seconds > 0 ? o->flops / o->seconds / 1e9 : 0;
        fprintf(f, "%s,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", o->op, o->nodes, o->seconds / runs * 1e3,
                tot > 0 ? o->seconds / tot : 0, o->flops / runs / 1e9, gfs,
                r->peak.gflops > 0 && o->flops > 0 ? 100 * gfs / peak_all(r) : 0,
                o->seconds > 0 ? o->bytes / o->seconds / 1e9 : 0);
    }
    if (r->sweep_name) {
        fprintf(f, "\nsize,shape,first_run_ms,median_ms,p90_ms,gflop,peak_rss_mb,run_rss_mb,error\n");
        for (int i = 0; i < r->n_sw; i++) {
            const sweep_pt *s = &r->sw[i];
            fprintf(f, "%s,%s,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,\"%s\"\n", s->label, s->shape, s->first_ms, s->median_ms,
                    s->p90_ms, s->gflop, s->peak_rss_mb, s->peak_rss_mb - s->start_rss_mb, s->ok ? "" : s->err);
        }
    }
}

static int write_trace(const char *path, const result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "onyx: cannot write '%s': %s\n", path, strerror(errno));
        return EXIT_ERROR;
    }
    const prof *p = r->p;
    fprintf(f, "{\"displayTimeUnit\": \"ms\", \"otherData\": {\"model\": ");
    json_str(f, r->model);
    fprintf(f, ", \"threads\": %d}, \"traceEvents\": [\n", r->threads);
    fprintf(f, "  {\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, \"args\": {\"name\": \"onyx\"}}");
    for (int i = 0; i < p->n_trace; i++) {
        const trace_ev *e = &p->trace[i];
        fprintf(f, ",\n  {\"name\": ");
        json_str(f, e->name);
        fprintf(f, ", \"cat\": ");
        json_str(f, e->op);
        fprintf(f, ", \"ph\": \"X\", \"pid\": 1, \"tid\": 1, \"ts\": %.3f, \"dur\": %.3f, \"args\": {\"op\": ", e->ts,
                e->dur);
        json_str(f, e->op);
        fprintf(f, ", \"shapes\": ");
        json_str(f, e->shapes);
        if (e->flops > 0) fprintf(f, ", \"gflop\": %.6g, \"gflops\": %.4g", e->flops / 1e9, e->dur > 0 ? e->flops / e->dur / 1e3 : 0);
        fprintf(f, "}}");
    }
    fprintf(f, "\n]}\n");
    bool ok = !ferror(f);
    if (fclose(f) != 0) ok = false;
    if (!ok) {
        fprintf(stderr, "onyx: cannot write '%s'\n", path);
        return EXIT_ERROR;
    }
    return 0;
}

/* ---------------------------------------------------------------- SVG */

static void svg_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* A line chart of v[i] against categorical x labels, in a box at (x0, y0). */
static void svg_line_chart(FILE *f, double x0, double y0, double w, double h, const char *title, const char *unit,
                           const sweep_pt *pts, int n, int which, const char *color)
{
    double vmax = 0;
    for (int i = 0; i < n; i++) {
        double v = which ? pts[i].peak_rss_mb : pts[i].median_ms;
        if (pts[i].ok && v > vmax) vmax = v;
    }
    if (vmax <= 0) vmax = 1;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">", x0, y0 - 8);
    svg_text(f, title);
    fprintf(f, "</text>\n");
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n", x0 + 60, y0,
            w - 60, h);
    for (int t = 0; t <= 4; t++) {
        double y = y0 + h - h * t / 4.0;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", x0 + 60, x0 + w, y, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\">%.4g %s</text>\n", x0 + 55, y + 4,
                vmax * t / 4.0, unit);
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
    double step = n > 1 ? (w - 100) / (n - 1) : 0;
    for (int i = 0; i < n; i++) {
        if (!pts[i].ok) continue;
        double v = which ? pts[i].peak_rss_mb : pts[i].median_ms;
        fprintf(f, "%.1f,%.1f ", x0 + 80 + step * i, y0 + h - h * v / vmax);
    }
    fprintf(f, "\"/>\n");
    for (int i = 0; i < n; i++) {
        double x = x0 + 80 + step * i;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\">", x, y0 + h + 15);
        svg_text(f, pts[i].label);
        fprintf(f, "</text>");
        if (!pts[i].ok) continue;
        double v = which ? pts[i].peak_rss_mb : pts[i].median_ms;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/><text x=\"%.1f\" y=\"%.1f\" "
                   "text-anchor=\"middle\" font-size=\"11\">%.4g</text>\n",
                x, y0 + h - h * v / vmax, color, x, y0 + h - h * v / vmax - 8, v);
    }
}

static int write_svg(const char *path, const result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "onyx: cannot write '%s': %s\n", path, strerror(errno));
        return EXIT_ERROR;
    }
    const prof *p = r->p;
    int bars = p->n_ops < 20 ? p->n_ops : 20;
    double W = 900, bar_h = 20, top = 60;
    double H = top + bars * (bar_h + 4) + 40;
    int nsw = r->sweep_name ? r->n_sw : 0;
    double sweep_top = H + 30;
    if (nsw) H = sweep_top + 2 * 220 + 20;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    fprintf(f, "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">");
    svg_text(f, r->model);
    fprintf(f, "</text>\n<text x=\"10\" y=\"42\">median %.2f ms, %d threads, peak RSS %.1f MB; time by operator type "
               "(share of kernel time, GFLOP/s)</text>\n",
            r->st.median_ms, r->threads, r->peak_rss_mb);
    double tot = total_op_seconds(p);
    double maxs = bars ? p->ops[0].seconds : 1;
    if (maxs <= 0) maxs = 1;
    int runs = p->recorded_runs > 0 ? p->recorded_runs : 1;
    for (int i = 0; i < bars; i++) {
        const opstat *o = &p->ops[i];
        double y = top + i * (bar_h + 4), bw = (W - 420) * o->seconds / maxs;
        fprintf(f, "<text x=\"190\" y=\"%.1f\" text-anchor=\"end\">", y + 15);
        svg_text(f, o->op);
        fprintf(f, "</text><rect x=\"200\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4a7ebb\"/>", y, bw, bar_h);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%.1f%%  %.2f ms", 205 + bw, y + 15, tot > 0 ? 100 * o->seconds / tot : 0,
                o->seconds / runs * 1e3);
        if (o->flops > 0 && o->seconds > 0) fprintf(f, "  %.1f GFLOP/s", o->flops / o->seconds / 1e9);
        fprintf(f, "</text>\n");
    }
    if (nsw) {
        char title[256];
        snprintf(title, sizeof title, "median latency vs size of '%s'", r->sweep_name);
        svg_line_chart(f, 10, sweep_top + 20, W - 40, 160, title, "ms", r->sw, nsw, 0, "#c0504d");
        snprintf(title, sizeof title, "peak RSS vs size of '%s'", r->sweep_name);
        svg_line_chart(f, 10, sweep_top + 240, W - 40, 160, title, "MB", r->sw, nsw, 1, "#9bbb59");
    }
    fprintf(f, "</svg>\n");
    bool ok = !ferror(f);
    if (fclose(f) != 0) ok = false;
    if (!ok) {
        fprintf(stderr, "onyx: cannot write '%s'\n", path);
        return EXIT_ERROR;
    }
    return 0;
}

/* ---------------------------------------------------------------- the command */

static int bad_arg(const char *what, const char *val)
{
    fprintf(stderr, "onyx profile: bad %s '%s'\n", what, val);
    return EXIT_ERROR;
}

int cmd_profile(int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') return usage();
    const char *model_path = argv[0];
    const char *format = "md", *trace_path = NULL, *svg_path = NULL, *sweep_arg = NULL;
    char *files[64];
    int n_files = 0, n_shapes = 0;
    shape_spec shapes[MAX_SHAPES];
    const char *shape_args[MAX_SHAPES];
    settings cfg = {0, 10, 1, 10.0, isatty(2) != 0};
    bool want_peak = true, optimize = true;
    const char *passes = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (!strcmp(a, "--no-peak")) { want_peak = false; continue; }
        if (!strcmp(a, "--no-optimize")) { optimize = false; continue; }
        if (!strcmp(a, "--progress")) { cfg.progress = true; continue; }
        if (!strcmp(a, "--quiet")) { cfg.progress = false; continue; }
        if (!v) return usage();
        i++;
        if (!strcmp(a, "-i")) {
            if (n_files == (int)(sizeof files / sizeof files[0])) return bad_arg("-i (too many)", v);
            files[n_files++] = argv[i];
        } else if (!strcmp(a, "--shape")) {
            if (n_shapes == MAX_SHAPES) return bad_arg("--shape (too many)", v);
            shape_args[n_shapes++] = v;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "--runs") || !strcmp(a, "--warmup")) {
            long n = strtol(v, &end, 10);
            if (*end || n < 0 || n > 100000 || (n == 0 && strcmp(a, "--warmup") && strcmp(a, "--threads")))
                return bad_arg(a, v);
            if (!strcmp(a, "--threads")) cfg.threads = (int)n;
            else if (!strcmp(a, "--runs")) cfg.runs = (int)n;
            else cfg.warmup = (int)n;
        } else if (!strcmp(a, "--max-time")) {
            cfg.max_time = strtod(v, &end);
            if (*end || !(cfg.max_time >= 0)) return bad_arg(a, v);
        } else if (!strcmp(a, "--format")) {
            if (strcmp(v, "md") && strcmp(v, "json") && strcmp(v, "csv")) return bad_arg(a, v);
            format = v;
        } else if (!strcmp(a, "--trace")) {
            trace_path = v;
        } else if (!strcmp(a, "--svg")) {
            svg_path = v;
        } else if (!strcmp(a, "--sweep")) {
            sweep_arg = v;
        } else if (!strcmp(a, "--passes")) {
            passes = v;
        } else {
            return usage();
        }
    }

    result r = {0};
    r.model = model_path;
    r.load_rss_mb = r.arena_mb = r.peak_rss_mb = -1;
    struct stat sb;
    if (stat(model_path, &sb) != 0) {
        fprintf(stderr, "onyx: cannot read '%s': %s\n", model_path, strerror(errno));
        return EXIT_ERROR;
    }
    r.file_bytes = (int64_t)sb.st_size;
    /* without -i, inputs come from MODEL_DIR/test_data_set_0 when it exists */
    char data_buf[4096];
    const char *data_dir = NULL;
    if (n_files == 0) {
        const char *slash = strrchr(model_path, '/');
        snprintf(data_buf, sizeof data_buf, "%.*s%stest_data_set_0", slash ? (int)(slash - model_path) : 0, model_path,
                 slash ? "/" : "");
        struct stat db;
        if (stat(data_buf, &db) == 0 && S_ISDIR(db.st_mode)) data_dir = data_buf;
    }
    if (want_peak) r.peak = measure_peak();

    /* load: the model, then a session on it */
    onyx_error err;
    onyx_model *m;
    r.rss_before_mb = proc_status_mb("VmRSS");
    double t0 = now_s();
    if (onyx_model_load_file(model_path, &m, &err) != ONYX_OK) return report(model_path, &err);
    double t1 = now_s();
    /* the graph passes count as loading, as they do in ONNX Runtime's session creation */
    onyx_model_summary sum;
    onyx_model_get_summary(m, &sum);
    r.params = sum.n_params;
    r.weight_bytes = sum.weight_bytes;
    r.n_nodes = sum.n_nodes;
    if (optimize && optimize_for_run(m, passes, model_path)) {
        onyx_model_free(m);
        return EXIT_ERROR;
    }
    double t1o = now_s();
    onyx_session_options opt = {cfg.threads};
    onyx_session *s = NULL;
    if (onyx_session_create(m, &opt, &s, &err) != ONYX_OK) {
        onyx_model_free(m);
        return report(model_path, &err);
    }
    double t2 = now_s();
    double rss_after = proc_status_mb("VmRSS");
    r.model_ms = (t1 - t0) * 1e3;
    r.optimize_ms = (t1o - t1) * 1e3;
    r.session_ms = (t2 - t1o) * 1e3;
    r.n_nodes_run = onyx_model_num_nodes(m);
    r.load_ms = (t2 - t0) * 1e3;
    if (r.rss_before_mb >= 0 && rss_after >= 0) r.load_rss_mb = rss_after - r.rss_before_mb;
    r.threads = onyx_session_threads(s);

    int rc = 0;
    for (int i = 0; i < n_shapes && !rc; i++) {
        const char *eq = strchr(shape_args[i], '=');
        const char *dims = eq ? eq + 1 : shape_args[i];
        shape_spec *sp = &shapes[i];
        if (eq) {
            char name[512];
            snprintf(name, sizeof name, "%.*s", (int)(eq - shape_args[i]), shape_args[i]);
            int idx = find_input(m, name);
            if (idx < 0) {
                fprintf(stderr, "onyx: the model has no input named '%s'\n", name);
                rc = EXIT_ERROR;
                break;
            }
            onyx_value_info v;
            onyx_model_input(m, idx, &v);
            sp->name = v.name;
        } else if (onyx_model_num_inputs(m) == 1) {
            onyx_value_info v;
            onyx_model_input(m, 0, &v);
            sp->name = v.name;
        } else {
            rc = bad_arg("--shape (give NAME=DIMS: the model has several inputs)", shape_args[i]);
            break;
        }
        if (!parse_dims(dims, sp->dims, &sp->rank)) rc = bad_arg("--shape", shape_args[i]);
    }

    /* sweep points, each in its own process, before this process runs anything */
    sweep_pt sw[MAX_SWEEP];
    char sweep_name[512] = "", sweep_list[1024] = "";
    if (!rc && sweep_arg) {
        const char *eq = strchr(sweep_arg, '=');
        if (eq) {
            snprintf(sweep_name, sizeof sweep_name, "%.*s", (int)(eq - sweep_arg), sweep_arg);
            snprintf(sweep_list, sizeof sweep_list, "%s", eq + 1);
        } else {
            onyx_value_info v = {0};
            if (onyx_model_num_inputs(m) > 0) onyx_model_input(m, 0, &v);
            snprintf(sweep_name, sizeof sweep_name, "%s", v.name ? v.name : "");
            snprintf(sweep_list, sizeof sweep_list, "%s", sweep_arg);
        }
        if (find_input(m, sweep_name) < 0) {
            fprintf(stderr, "onyx: the model has no input named '%s'\n", sweep_name);
            rc = EXIT_ERROR;
        }
        char *save = NULL;
        for (char *tok = strtok_r(sweep_list, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
            if (r.n_sw == MAX_SWEEP) {
                rc = bad_arg("--sweep (too many sizes)", sweep_arg);
                break;
            }
            sweep_pt *pt = &sw[r.n_sw++];
            sweep_point(m, files, n_files, shapes, n_shapes, data_dir, sweep_name, tok, &cfg, pt);
            if (!pt->ok) fprintf(stderr, "onyx profile: sweep size %s: %s\n", tok, pt->err);
        }
        r.sweep_name = sweep_name;
        r.sw = sw;
    }

    inputs in = {0};
    prof p = {0};
    p.progress = cfg.progress;
    if (!rc) rc = build_inputs(m, files, n_files, shapes, n_shapes, NULL, NULL, 0, data_dir, &in);
    if (!rc) {
        input_desc(r.inputs, sizeof r.inputs, &in);
        if (data_dir) {
            size_t l = strlen(r.inputs);
            snprintf(r.inputs + l, sizeof r.inputs - l, " (from %s where present)", data_dir);
        }
        r.batch = 1;
        if (in.n > 0 && onyx_tensor_kind(in.vals[0]) == ONYX_KIND_TENSOR && onyx_tensor_rank(in.vals[0]) >= 2)
            r.batch = onyx_tensor_dims(in.vals[0])[0];
        onyx_session_set_shape_observer(s, observe, &p);
        rc = measure(s, &p, &in, model_path, &cfg, &r.st);
        progress_clear(&p);
    }
    if (!rc && p.oom) {
        fprintf(stderr, "onyx: out of memory\n");
        rc = EXIT_ERROR;
    }
    if (!rc) {
        r.arena_mb = arena_mb(s);
        onyx_session_memory_info(s, &r.mem);
        r.peak_rss_mb = proc_status_mb("VmHWM");
        r.p = &p;
        for (int i = 0; i < p.n_ops; i++) r.flops += p.ops[i].flops;
        if (p.recorded_runs > 0) r.flops /= p.recorded_runs;
        qsort(p.ops, (size_t)p.n_ops, sizeof *p.ops, cmp_op_time);
        qsort(p.nodes, (size_t)p.n_nodes, sizeof *p.nodes, cmp_node_time);
        if (!strcmp(format, "json")) write_json(stdout, &r);
        else if (!strcmp(format, "csv")) write_csv(stdout, &r);
        else write_md(stdout, &r);
        if (trace_path && !rc) rc = write_trace(trace_path, &r);
        if (svg_path && !rc) rc = write_svg(svg_path, &r);
        if (fflush(stdout) != 0) rc = EXIT_ERROR;
    }
    prof_free(&p);
    inputs_free(&in);
    onyx_session_free(s);
    onyx_model_free(m);
    return rc;
}
