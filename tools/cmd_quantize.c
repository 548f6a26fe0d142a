/* cmd_quantize.c - onyx quantize MODEL -o OUT.onnx [options]: static post-training
 * quantization to standard QDQ ONNX (quant/, docs/quantization.md).
 *
 *   --calib DIR            calibration inputs: DIR/test_data_set_N/input_K.pb (or
 *                          DIR/input_K.pb)
 *   --calib-random N       N seeded random inputs instead (default 16)
 *   --method M             minmax | percentile | entropy (default minmax)
 *   --percentile P         for percentile (default 99.999)
 *   --per-tensor           one weight scale per tensor (default: per output channel)
 *   --per-channel          the default, accepted for clarity
 *   --int8-activations     activations int8 instead of uint8 (both asymmetric)
 *   --dynamic              MatMul/Gemm activations quantized at run time (ONNX Runtime's
 *                          DynamicQuantizeLinear -> MatMulInteger form), int8 weights;
 *                          the other ops weight-only; no activation calibration
 *   --weight-only          int8 weights behind DequantizeLinear, activations float
 *   --exclude A,B          node (or output) names kept in float
 *   --ops Conv,MatMul      op types to quantize (default Conv,ConvTranspose,Gemm,MatMul)
 *   --no-fold              skip folding BatchNormalization into Conv/Gemm first
 *   --no-bias-correction   keep the biases as they are (default: subtract the mean
 *                          output shift the int8 weights cause, from calibration)
 *   --shape NAME=1x3x224x224   shape of random inputs whose dims are not fixed
 *   --dist normal|uniform|uniform01   random input values (default normal)
 *   --seed S               seed of the random inputs
 *   --report FILE          accuracy report, markdown (or JSON for *.json): the float
 *                          parent (MODEL as given) and the written file, run side by
 *                          side on --eval-random N seeded inputs (default 100)
 *   --sensitivity K        per-layer sensitivity in the report: each layer quantized
 *                          alone, output SQNR over the first K evaluation inputs
 *   --target-cosine C      with --sensitivity: the fewest most-sensitive layers to
 *                          keep in float so every output reaches cosine C
 *   --save-eval DIR        writes the evaluation inputs and the float outputs in the
 *                          ONNX test layout (for onyx verify / ONNX Runtime)
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------- inputs */

typedef struct qshape {
    const char *name;
    int rank;
    int64_t dims[ONYX_MAX_RANK];
} qshape;

typedef struct qargs {
    const char *model, *out, *calib, *report, *save_eval, *dist;
    int calib_random, eval_random, sensitivity;
    double target_cosine;
    uint64_t seed;
    bool no_fold;
    onyx_quant_options opt;
    int n_shapes;
    qshape shapes[16];
} qargs;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static double urand(uint64_t *s) { return ((double)(rng(s) >> 11) + 0.5) / 9007199254740992.0; }

/* One random value set for every model input, seeded by (seed, sample). */
static int random_inputs(const onyx_model *m, const qargs *a, int sample, inputs *in)
{
    for (int i = 0; i < onyx_model_num_inputs(m); i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        int64_t dims[ONYX_MAX_RANK];
        int rank = v.rank < 0 ? 0 : v.rank;
        const qshape *given = NULL;
        for (int k = 0; k < a->n_shapes; k++)
            if (!strcmp(a->shapes[k].name, v.name)) given = &a->shapes[k];
        if (given) {
            rank = given->rank;
            memcpy(dims, given->dims, sizeof dims);
        } else {
            if (v.rank < 0) {
                fprintf(stderr, "onyx: input '%s' has unknown rank: give --shape %s=DIMS\n", v.name, v.name);
                return EXIT_ERROR;
            }
            for (int d = 0; d < rank; d++) {
                if (v.dims[d] >= 0) dims[d] = v.dims[d];
                else if (d == 0) dims[d] = 1;
                else {
                    fprintf(stderr, "onyx: input '%s' has a free dim %d (%s): give --shape %s=DIMS\n", v.name, d,
                            v.dim_names[d] ? v.dim_names[d] : "?", v.name);
                    return EXIT_ERROR;
                }
            }
        }
        onyx_dtype dt = v.dtype == ONYX_UNDEFINED ? ONYX_FLOAT : v.dtype;
        onyx_tensor *t = onyx_tensor_create(dt, rank, dims);
        if (!t) {
            fprintf(stderr, "onyx: cannot make a %s input '%s'\n", onyx_dtype_name(dt), v.name);
            return EXIT_ERROR;
        }
        uint64_t s = a->seed * 0x9E3779B97F4A7C15ULL + (uint64_t)sample * 0xBF58476D1CE4E5B9ULL + (uint64_t)i + 1;
        for (int k = 0; k < 4; k++) rng(&s);
        int64_t n = onyx_tensor_numel(t);
        void *p = onyx_tensor_data(t);
        for (int64_t k = 0; k < n; k++) {
            double u = urand(&s), x;
            if (!strcmp(a->dist, "uniform01")) x = u;
            else if (!strcmp(a->dist, "uniform")) x = 2 * u - 1;
            else x = sqrt(-2 * log(u)) * cos(6.283185307179586 * urand(&s));
            switch (dt) {
            case ONYX_FLOAT: ((float *)p)[k] = (float)x; break;
            case ONYX_DOUBLE: ((double *)p)[k] = x; break;
            case ONYX_INT64: ((int64_t *)p)[k] = (int64_t)(rng(&s) % 10); break;
            case ONYX_INT32: ((int32_t *)p)[k] = (int32_t)(rng(&s) % 10); break;
            case ONYX_BOOL: ((uint8_t *)p)[k] = (uint8_t)(rng(&s) & 1); break;
            default: break;
            }
        }
        in->names = realloc(in->names, (size_t)(in->n + 1) * sizeof *in->names);
        in->vals = realloc(in->vals, (size_t)(in->n + 1) * sizeof *in->vals);
        if (!in->names || !in->vals) {
            onyx_tensor_free(t);
            fprintf(stderr, "onyx: out of memory\n");
            return EXIT_ERROR;
        }
        in->names[in->n] = v.name;
        in->vals[in->n++] = t;
    }
    return 0;
}

static int cmp_str(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* The calibration sets: DIR/test_data_set_*, or DIR itself when it holds input_0.pb. */
static char **list_sets(const char *dir, int *n)
{
    *n = 0;
    char **sets = NULL;
    if (count_files(dir, "input") > 0) {
        sets = malloc(sizeof *sets);
        if (sets && (sets[0] = strdup(dir))) *n = 1;
        return sets;
    }
    DIR *d = opendir(dir);
    if (!d) return NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_data_set_", 14)) continue;
        char **ns = realloc(sets, (size_t)(*n + 1) * sizeof *sets);
        if (!ns) break;
        sets = ns;
        size_t need = strlen(dir) + strlen(e->d_name) + 2;
        if ((sets[*n] = malloc(need))) snprintf(sets[(*n)++], need, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (sets) qsort(sets, (size_t)*n, sizeof *sets, cmp_str);
    return sets;
}

static int load_set(const onyx_model *m, const char *set, inputs *in)
{
    int n = count_files(set, "input"), rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/input_%d.pb", set, i);
        rc = load_input_pb(m, path, i, in);
    }
    return rc;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---------------------------------------------------------------- evaluation */

typedef struct qact {       /* a quantized activation: X -> Q(scale, zp) -> DQ */
    const char *name;
    float scale;
    int zp, qmin, qmax;
    double sig, noise;      /* fake-quantizing the float X with these parameters */
    double clipped, total;
} qact;

typedef struct qlayer {     /* a quantized node of the QDQ model */
    const char *node, *op, *out;
    int act[2];             /* qact indices of its activation inputs, -1 */
    double sig, noise;      /* its output in the QDQ model vs the float model */
    bool matched;
} qlayer;

typedef struct held {       /* a float value kept for the QDQ run */
    const char *name;
    onyx_tensor *t;
} held;

typedef struct evalstate {
    int n_acts, n_layers;
    qact *acts;
    qlayer *layers;
    held *hold;             /* one per layer */
    bool oom;
} evalstate;

static int find_act(const evalstate *e, const char *name)
{
    for (int i = 0; i < e->n_acts; i++)
        if (!strcmp(e->acts[i].name, name)) return i;
    return -1;
}

static double scalar_of(const onyx_tensor *t)
{
    return t && onyx_tensor_numel(t) == 1 ? elem(t, 0) : NAN;
}

/* Reads the QDQ model: which activations are quantized (and how) and which nodes
 * read a DequantizeLinear output. */
static bool scan_qdq(const onyx_model *q, evalstate *e)
{
    int n = onyx_model_num_nodes(q);
    e->acts = calloc((size_t)n + 1, sizeof *e->acts);
    e->layers = calloc((size_t)n + 1, sizeof *e->layers);
    e->hold = calloc((size_t)n + 1, sizeof *e->hold);
    if (!e->acts || !e->layers || !e->hold) return false;
    for (int i = 0; i < n; i++) {
        onyx_node_info ni;
        onyx_model_node(q, i, &ni);
        if (strcmp(ni.op_type, "QuantizeLinear") || ni.n_inputs < 2) continue;
        const onyx_tensor *s = onyx_model_initializer(q, ni.inputs[1]);
        const onyx_tensor *z = ni.n_inputs > 2 ? onyx_model_initializer(q, ni.inputs[2]) : NULL;
        double sc = scalar_of(s);
        if (!(sc > 0)) continue; /* per-axis activations are not written by onyx */
        qact *a = &e->acts[e->n_acts++];
        a->name = ni.inputs[0];
        a->scale = (float)sc;
        bool sg = z && onyx_tensor_dtype(z) == ONYX_INT8;
        a->zp = z ? (int)scalar_of(z) : 0;
        a->qmin = sg ? -128 : 0;
        a->qmax = sg ? 127 : 255;
    }
    /* DQ output -> the float activation it stands for (through its Q) */
    for (int i = 0; i < n; i++) {
        onyx_node_info ni;
        onyx_model_node(q, i, &ni);
        if (!strcmp(ni.op_type, "QuantizeLinear") || !strcmp(ni.op_type, "DequantizeLinear") || ni.n_outputs < 1)
            continue;
        qlayer L = {ni.name, ni.op_type, ni.outputs[0], {-1, -1}, 0, 0, false};
        bool quantized = false;
        int na = 0;
        for (int k = 0; k < ni.n_inputs; k++) {
            if (!ni.inputs[k][0]) continue;
            for (int j = 0; j < n; j++) {
                onyx_node_info p;
                onyx_model_node(q, j, &p);
                if (strcmp(p.op_type, "DequantizeLinear") || p.n_outputs < 1 || strcmp(p.outputs[0], ni.inputs[k]))
                    continue;
                quantized = true;
                /* find the Q feeding this DQ */
                for (int r = 0; r < n && na < 2; r++) {
                    onyx_node_info qq;
                    onyx_model_node(q, r, &qq);
                    if (!strcmp(qq.op_type, "QuantizeLinear") && qq.n_outputs > 0 && !strcmp(qq.outputs[0], p.inputs[0])) {
                        int ai = find_act(e, qq.inputs[0]);
                        if (ai >= 0) L.act[na++] = ai;
                    }
                }
                break;
            }
        }
        if (quantized) e->layers[e->n_layers++] = L;
    }
    return true;
}

static void eval_free(evalstate *e)
{
    for (int i = 0; i < e->n_layers; i++) onyx_tensor_free(e->hold[i].t);
    free(e->acts);
    free(e->layers);
    free(e->hold);
}

static void sqnr_acc(const onyx_tensor *a, const onyx_tensor *ref, double *sig, double *noise)
{
    if (onyx_tensor_kind(a) != ONYX_KIND_TENSOR || onyx_tensor_dtype(a) != ONYX_FLOAT ||
        onyx_tensor_dtype(ref) != ONYX_FLOAT || onyx_tensor_numel(a) != onyx_tensor_numel(ref))
        return;
    const float *x = onyx_tensor_data((onyx_tensor *)a), *r = onyx_tensor_data((onyx_tensor *)ref);
    int64_t n = onyx_tensor_numel(a);
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - r[i];
        *sig += (double)r[i] * r[i];
        *noise += d * d;
    }
}

static onyx_tensor *clone(const onyx_tensor *t)
{
    onyx_tensor *c = onyx_tensor_create(onyx_tensor_dtype(t), onyx_tensor_rank(t), onyx_tensor_dims(t));
    if (c) memcpy(onyx_tensor_data(c), onyx_tensor_data((onyx_tensor *)t),
                  (size_t)onyx_tensor_numel(t) * onyx_dtype_size(onyx_tensor_dtype(t)));
    return c;
}

/* Float run: fake-quantize every quantized activation, keep the quantized nodes' outputs. */
static void on_float(void *ud, const onyx_node_info *node, double seconds, int n_inputs,
                     const onyx_tensor *const *ins, int n_outputs, const onyx_tensor *const *outs)
{
    (void)seconds;
    evalstate *e = ud;
    for (int k = 0; k < n_inputs; k++) {
        if (!ins[k] || onyx_tensor_kind(ins[k]) != ONYX_KIND_TENSOR || onyx_tensor_dtype(ins[k]) != ONYX_FLOAT) continue;
        int ai = find_act(e, node->inputs[k]);
        if (ai < 0) continue;
        qact *a = &e->acts[ai];
        const float *x = onyx_tensor_data((onyx_tensor *)ins[k]);
        int64_t n = onyx_tensor_numel(ins[k]);
        for (int64_t i = 0; i < n; i++) {
            double qv = nearbyint(x[i] / a->scale) + a->zp;
            if (qv < a->qmin || qv > a->qmax) a->clipped++;
            qv = qv < a->qmin ? a->qmin : qv > a->qmax ? a->qmax : qv;
            double d = (qv - a->zp) * a->scale - x[i];
            a->sig += (double)x[i] * x[i];
            a->noise += d * d;
        }
        a->total += (double)n;
    }
    for (int k = 0; k < n_outputs; k++) {
        if (!outs[k]) continue;
        for (int l = 0; l < e->n_layers; l++) {
            if (strcmp(e->layers[l].out, node->outputs[k])) continue;
            onyx_tensor_free(e->hold[l].t);
            e->hold[l].t = onyx_tensor_kind(outs[k]) == ONYX_KIND_TENSOR ? clone(outs[k]) : NULL;
            if (!e->hold[l].t) e->oom = true;
        }
    }
}

static void on_qdq(void *ud, const onyx_node_info *node, double seconds, int n_inputs,
                   const onyx_tensor *const *ins, int n_outputs, const onyx_tensor *const *outs)
{
    (void)seconds, (void)n_inputs, (void)ins;
    evalstate *e = ud;
    for (int k = 0; k < n_outputs; k++) {
        if (!outs[k]) continue;
        for (int l = 0; l < e->n_layers; l++) {
            if (strcmp(e->layers[l].out, node->outputs[k]) || !e->hold[l].t) continue;
            sqnr_acc(outs[k], e->hold[l].t, &e->layers[l].sig, &e->layers[l].noise);
            e->layers[l].matched = true;
        }
    }
}

typedef struct outmetric {
    const char *name;
    double dot, na, nb, sumsq_err, max_abs, max_ref, min_cos, cos_sum;
    int64_t n, samples;
    bool classifier, image;
    int64_t rows, top1, top5;
} outmetric;

static void topk(const float *x, int64_t n, int k, int64_t *idx)
{
    for (int j = 0; j < k; j++) idx[j] = -1;
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < k; j++) {
            if (idx[j] < 0 || x[i] > x[idx[j]]) {
                for (int r = k - 1; r > j; r--) idx[r] = idx[r - 1];
                idx[j] = i;
                break;
            }
        }
    }
}

static void out_acc(outmetric *o, const onyx_tensor *q, const onyx_tensor *f)
{
    if (onyx_tensor_kind(f) != ONYX_KIND_TENSOR || onyx_tensor_dtype(f) != ONYX_FLOAT ||
        onyx_tensor_dtype(q) != ONYX_FLOAT || onyx_tensor_numel(q) != onyx_tensor_numel(f))
        return;
    const float *a = onyx_tensor_data((onyx_tensor *)q), *b = onyx_tensor_data((onyx_tensor *)f);
    int64_t n = onyx_tensor_numel(f);
    double dot = 0, na = 0, nb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > o->max_abs) o->max_abs = d;
        if (fabs(b[i]) > o->max_ref) o->max_ref = fabs(b[i]);
        o->sumsq_err += d * d;
        dot += (double)a[i] * b[i], na += (double)a[i] * a[i], nb += (double)b[i] * b[i];
    }
    double cs = na > 0 && nb > 0 ? dot / sqrt(na * nb) : (na == nb ? 1 : 0);
    if (o->samples == 0 || cs < o->min_cos) o->min_cos = cs;
    o->cos_sum += cs;
    o->dot += dot, o->na += na, o->nb += nb;
    o->n += n;
    o->samples++;
    int rank = onyx_tensor_rank(f);
    const int64_t *dims = onyx_tensor_dims(f);
    /* logits: [N, classes]; feature vectors (DINOv2's cls) are not classes */
    if (rank == 2 && dims[1] >= 10 && (strstr(o->name, "logit") || strstr(o->name, "prob") || dims[1] == 1000 || dims[1] == 1001)) {
        o->classifier = true;
        for (int64_t r = 0; r < dims[0]; r++) {
            int64_t ia[5], ib[5];
            topk(a + r * dims[1], dims[1], 5, ia);
            topk(b + r * dims[1], dims[1], 5, ib);
            o->rows++;
            o->top1 += ia[0] == ib[0];
            for (int j = 0; j < 5; j++) o->top5 += ia[0] == ib[j];
        }
    }
    if (rank == 4 && (dims[1] == 1 || dims[1] == 3)) o->image = true;
}


typedef struct rowsort {
    int idx;
    double key;
} rowsort;
static int cmp_row(const void *x, const void *y)
{
    double a = ((const rowsort *)x)->key, b = ((const rowsort *)y)->key;
    return a < b ? -1 : a > b;
}

static double db(double sig, double noise) { return noise > 0 ? 10 * log10(sig / noise) : INFINITY; }

/* ---------------------------------------------------------------- sensitivity */

/* The model quantized like OUT but with extra names kept in float too. */
static onyx_model *variant(const qargs *a, const onyx_calibrator *cal, const char *extra)
{
    onyx_error err;
    onyx_model *m = NULL;
    if (onyx_model_load_file(a->model, &m, &err) != ONYX_OK) {
        report(a->model, &err);
        return NULL;
    }
    onyx_optimize_options oo = {0};
    oo.passes = "eliminate,constfold,bn_fold";
    oo.standard_ops = 1;
    onyx_quant_options o = a->opt;
    size_t len = (a->opt.exclude ? strlen(a->opt.exclude) : 0) + strlen(extra) + 2;
    char *ex = malloc(len);
    if (ex) snprintf(ex, len, "%s%s%s", a->opt.exclude ? a->opt.exclude : "", a->opt.exclude && extra[0] ? "," : "", extra);
    o.exclude = ex;
    if (!ex || (!a->no_fold && onyx_model_optimize(m, &oo, &err) != ONYX_OK) ||
        onyx_model_quantize(m, cal, &o, NULL, &err) != ONYX_OK) {
        if (ex) report("quantize", &err);
        else fprintf(stderr, "onyx: out of memory\n");
        onyx_model_free(m);
        m = NULL;
    }
    free(ex);
    return m;
}

/* Output agreement of m with the float outputs ref[s * n_out + i] over k inputs:
 * the smallest cosine over the outputs; *sqnr the smallest output SQNR in dB. */
static int agreement(const qargs *a, const onyx_model *fm, const onyx_model *m, int k, int n_out,
                     onyx_tensor **ref, double *cosine, double *sqnr)
{
    onyx_error err;
    onyx_session *s;
    if (onyx_session_create(m, NULL, &s, &err) != ONYX_OK) return report("variant", &err);
    double *acc = calloc((size_t)n_out * 4, sizeof *acc);
    int rc = acc ? 0 : EXIT_ERROR;
    for (int j = 0; j < k && !rc; j++) {
        inputs in = {0};
        rc = random_inputs(fm, a, 1000000 + j, &in);
        if (!rc) rc = run_session(s, &in, "variant");
        inputs_free(&in);
        for (int i = 0; !rc && i < n_out; i++) {
            const onyx_tensor *x = onyx_session_output(s, i);
            onyx_tensor *r = ref[j * n_out + i];
            if (!r || onyx_tensor_dtype(x) != ONYX_FLOAT || onyx_tensor_numel(x) != onyx_tensor_numel(r)) continue;
            const float *xv = onyx_tensor_data((onyx_tensor *)x), *rv = onyx_tensor_data(r);
            for (int64_t e = 0; e < onyx_tensor_numel(r); e++) {
                acc[4 * i] += (double)xv[e] * rv[e];
                acc[4 * i + 1] += (double)xv[e] * xv[e];
                acc[4 * i + 2] += (double)rv[e] * rv[e];
                acc[4 * i + 3] += ((double)xv[e] - rv[e]) * ((double)xv[e] - rv[e]);
            }
        }
    }
    *cosine = 1, *sqnr = INFINITY;
    for (int i = 0; !rc && i < n_out; i++) {
        double c = acc[4 * i + 1] > 0 && acc[4 * i + 2] > 0 ? acc[4 * i] / sqrt(acc[4 * i + 1] * acc[4 * i + 2]) : 1;
        double d = acc[4 * i + 3] > 0 ? 10 * log10(acc[4 * i + 2] / acc[4 * i + 3]) : INFINITY;
        if (c < *cosine) *cosine = c;
        if (d < *sqnr) *sqnr = d;
    }
    free(acc);
    onyx_session_free(s);
    return rc;
}

typedef struct sens {
    int n;              /* layers measured */
    int *order;         /* layer indices, most sensitive first */
    double *cos, *sqnr; /* per layer: outputs with only that layer quantized */
    int fix_k;          /* excluding order[0..fix_k) reaches the target (-1: not found) */
    double fix_cos;
    int tried;
} sens;

static const onyx_calibrator *g_cal; /* the calibrator of this command, for the variants */

static int sensitivity(const qargs *a, const onyx_model *fm, onyx_session *fs, const evalstate *e, int n_out,
                       double cos_now, sens *out)
{
    int k = a->sensitivity, L = e->n_layers, rc = 0;
    onyx_tensor **ref = calloc((size_t)k * (size_t)n_out + 1, sizeof *ref);
    out->order = calloc((size_t)L + 1, sizeof *out->order);
    out->cos = calloc((size_t)L + 1, sizeof *out->cos);
    out->sqnr = calloc((size_t)L + 1, sizeof *out->sqnr);
    out->fix_k = -1;
    if (!ref || !out->order || !out->cos || !out->sqnr) rc = EXIT_ERROR;
    for (int j = 0; j < k && !rc; j++) {
        inputs in = {0};
        rc = random_inputs(fm, a, 1000000 + j, &in);
        if (!rc) rc = run_session(fs, &in, a->model);
        inputs_free(&in);
        for (int i = 0; !rc && i < n_out; i++) ref[j * n_out + i] = clone(onyx_session_output(fs, i));
    }
    /* all quantized layers' names, to exclude all but one */
    size_t len = 1;
    for (int l = 0; l < L; l++) len += strlen(e->layers[l].node) + 1;
    char *all = malloc(len), *others = malloc(len);
    if (!all || !others) rc = EXIT_ERROR;
    double t0 = now_s();
    for (int l = 0; l < L && !rc; l++) {
        others[0] = 0;
        for (int r = 0; r < L; r++)
            if (r != l && e->layers[r].node[0]) {
                if (others[0]) strcat(others, ",");
                strcat(others, e->layers[r].node);
            }
        onyx_model *m = variant(a, g_cal, others);
        if (!m) rc = EXIT_ERROR;
        else rc = agreement(a, fm, m, k, n_out, ref, &out->cos[l], &out->sqnr[l]);
        onyx_model_free(m);
        out->order[l] = l;
        out->n = l + 1;
        if ((l + 1) % 10 == 0) fprintf(stderr, "  sensitivity %d/%d layers (%.0f s)\n", l + 1, L, now_s() - t0);
    }
    /* most sensitive first (lowest output SQNR) */
    for (int i = 1; i < out->n; i++)
        for (int j = i; j > 0 && out->sqnr[out->order[j]] < out->sqnr[out->order[j - 1]]; j--) {
            int t = out->order[j];
            out->order[j] = out->order[j - 1];
            out->order[j - 1] = t;
        }
    /* the fewest of the most sensitive layers to keep in float for the target */
    if (!rc && a->target_cosine > 0 && cos_now < a->target_cosine) {
        for (int kk = 1; kk <= out->n && !rc; kk = kk < 4 ? kk + 1 : kk * 2) {
            all[0] = 0;
            for (int r = 0; r < kk; r++) {
                if (all[0]) strcat(all, ",");
                strcat(all, e->layers[out->order[r]].node);
            }
            onyx_model *m = variant(a, g_cal, all);
            double c = 0, d = 0;
            if (!m) rc = EXIT_ERROR;
            else rc = agreement(a, fm, m, k, n_out, ref, &c, &d);
            onyx_model_free(m);
            out->tried = kk;
            fprintf(stderr, "  excluding the %d most sensitive: cosine %.6f\n", kk, c);
            if (!rc && c >= a->target_cosine) {
                out->fix_k = kk;
                out->fix_cos = c;
                break;
            }
        }
    }
    for (int j = 0; j < k * n_out; j++) onyx_tensor_free(ref[j]);
    free(ref), free(all), free(others);
    return rc;
}

static int evaluate(const qargs *a, const onyx_model *fm, const onyx_model *qm, const onyx_quant_summary *sum,
                    double calib_s, double quant_s)
{
    onyx_error err;
    onyx_session *fs = NULL, *qs = NULL;
    if (onyx_session_create(fm, NULL, &fs, &err) != ONYX_OK) return report(a->model, &err);
    if (onyx_session_create(qm, NULL, &qs, &err) != ONYX_OK) {
        onyx_session_free(fs);
        return report(a->out, &err);
    }
    evalstate e = {0};
    int n_out = onyx_session_num_outputs(fs);
    outmetric *om = calloc((size_t)n_out + 1, sizeof *om);
    int rc = 0;
    if (!om || !scan_qdq(qm, &e)) {
        fprintf(stderr, "onyx: out of memory\n");
        rc = EXIT_ERROR;
    }
    double t0 = now_s(), t_float = 0, t_qdq = 0;
    for (int s = 0; s < a->eval_random && !rc; s++) {
        inputs in = {0};
        rc = random_inputs(fm, a, 1000000 + s, &in);
        if (!rc) {
            double t = now_s();
            onyx_session_set_observer(fs, on_float, &e);
            rc = run_session(fs, &in, a->model);
            onyx_session_set_observer(fs, NULL, NULL);
            t_float += now_s() - t;
        }
        if (!rc) {
            double t = now_s();
            onyx_session_set_observer(qs, on_qdq, &e);
            rc = run_session(qs, &in, a->out);
            onyx_session_set_observer(qs, NULL, NULL);
            t_qdq += now_s() - t;
        }
        if (!rc && e.oom) {
            fprintf(stderr, "onyx: out of memory keeping float activations\n");
            rc = EXIT_ERROR;
        }
        for (int i = 0; !rc && i < n_out; i++) {
            om[i].name = onyx_session_output_name(fs, i);
            out_acc(&om[i], onyx_session_output(qs, i), onyx_session_output(fs, i));
        }
        if (!rc && a->save_eval) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/test_data_set_%d", a->save_eval, s);
            mkdir(a->save_eval, 0777);
            mkdir(dir, 0777);
            for (int i = 0; i < in.n + n_out && !rc; i++) {
                bool isin = i < in.n;
                const onyx_tensor *t = isin ? in.vals[i] : onyx_session_output(fs, i - in.n);
                const char *nm = isin ? in.names[i] : onyx_session_output_name(fs, i - in.n);
                void *buf;
                size_t len;
                char path[4200];
                snprintf(path, sizeof path, "%s/%s_%d.pb", dir, isin ? "input" : "output", isin ? i : i - in.n);
                if (onyx_value_save_pb(t, nm, &buf, &len, &err) != ONYX_OK) {
                    rc = report(path, &err);
                    break;
                }
                FILE *f = fopen(path, "wb");
                if (!f || fwrite(buf, 1, len, f) != len) {
                    fprintf(stderr, "onyx: cannot write '%s'\n", path);
                    rc = EXIT_ERROR;
                }
                if (f) fclose(f);
                free(buf);
            }
        }
        inputs_free(&in);
        if (!rc && (s + 1) % 10 == 0)
            fprintf(stderr, "  evaluated %d/%d inputs (%.0f s)\n", s + 1, a->eval_random, now_s() - t0);
    }
    if (rc) goto done;
    sens sv = {0};
    if (a->sensitivity > 0) {
        double worst = 1;
        for (int i = 0; i < n_out; i++) {
            double c = om[i].na > 0 && om[i].nb > 0 ? om[i].dot / sqrt(om[i].na * om[i].nb) : 1;
            if (c < worst) worst = c;
        }
        rc = sensitivity(a, fm, fs, &e, n_out, worst, &sv);
        if (rc) goto done_sens;
    }
    /* the report */
    bool json = strlen(a->report) > 5 && !strcmp(a->report + strlen(a->report) - 5, ".json");
    FILE *f = fopen(a->report, "w");
    if (!f) {
        fprintf(stderr, "onyx: cannot write '%s': %s\n", a->report, strerror(errno));
        rc = EXIT_ERROR;
        goto done;
    }
    long long fsz = file_size(a->model), qsz = file_size(a->out);
    const char *meth[] = {"minmax", "percentile", "entropy"};
    rowsort *rows = calloc((size_t)e.n_layers + 1, sizeof *rows);
    int nr = 0;
    for (int l = 0; l < e.n_layers; l++) {
        double in_db = INFINITY;
        for (int k = 0; k < 2; k++)
            if (e.layers[l].act[k] >= 0) {
                const qact *q = &e.acts[e.layers[l].act[k]];
                if (db(q->sig, q->noise) < in_db) in_db = db(q->sig, q->noise);
            }
        if (rows) rows[nr++] = (rowsort){l, in_db};
    }
    if (rows) qsort(rows, (size_t)nr, sizeof *rows, cmp_row);
    if (json) {
        fprintf(f, "{\n  \"model\": \"%s\",\n  \"quantized\": \"%s\",\n  \"fp32_bytes\": %lld,\n  \"int8_bytes\": %lld,\n"
                   "  \"size_ratio\": %.4f,\n  \"method\": \"%s\",\n  \"weights\": \"%s\",\n  \"activations\": \"%s\",\n"
                   "  \"nodes_quantized\": %d,\n  \"nodes_excluded\": %d,\n  \"eval_inputs\": %d,\n  \"dist\": \"%s\",\n"
                   "  \"seconds\": {\"calibrate\": %.2f, \"quantize\": %.2f, \"float_runs\": %.2f, \"qdq_runs\": %.2f},\n  \"outputs\": [\n",
                a->model, a->out, fsz, qsz, fsz > 0 ? (double)qsz / (double)fsz : 0, meth[a->opt.method],
                a->opt.per_tensor_weights ? "int8 per-tensor" : "int8 per-channel",
                a->opt.weight_only ? "float" : a->opt.signed_activations ? "int8" : "uint8", sum->nodes_quantized,
                sum->nodes_excluded, a->eval_random, a->dist, calib_s, quant_s, t_float, t_qdq);
        for (int i = 0; i < n_out; i++) {
            outmetric *o = &om[i];
            fprintf(f, "    {\"name\": \"%s\", \"cosine\": %.6f, \"min_cosine\": %.6f, \"mean_cosine\": %.6f, \"max_abs\": %.6g, \"max_ref\": %.6g",
                    o->name, o->na > 0 && o->nb > 0 ? o->dot / sqrt(o->na * o->nb) : 1.0, o->min_cos,
                    o->samples ? o->cos_sum / (double)o->samples : 0, o->max_abs, o->max_ref);
            if (o->classifier)
                fprintf(f, ", \"top1_agreement\": %.4f, \"top5_agreement\": %.4f", (double)o->top1 / (double)o->rows,
                        (double)o->top5 / (double)o->rows);
            if (o->image && o->n)
                fprintf(f, ", \"psnr_db\": %.2f", 10 * log10(o->max_ref * o->max_ref / (o->sumsq_err / (double)o->n)));
            fprintf(f, "}%s\n", i + 1 < n_out ? "," : "");
        }
        fprintf(f, "  ],\n  \"layers\": [\n");
        for (int r = 0; r < nr; r++) {
            const qlayer *L = &e.layers[rows[r].idx];
            fprintf(f, "    {\"node\": \"%s\", \"op\": \"%s\", \"input_sqnr_db\": %.2f, \"output_sqnr_db\": %.2f}%s\n", L->node,
                    L->op, isfinite(rows[r].key) ? rows[r].key : 999.0,
                    L->matched ? fmin(db(L->sig, L->noise), 999.0) : -1.0, r + 1 < nr ? "," : "");
        }
        fprintf(f, "  ]\n}\n");
    } else {
        fprintf(f, "# onyx quantize report\n\n");
        fprintf(f, "- float model: `%s` (%.2f MB)\n- quantized: `%s` (%.2f MB, %.3f x)\n", a->model, (double)fsz / 1e6,
                a->out, (double)qsz / 1e6, fsz > 0 ? (double)qsz / (double)fsz : 0);
        fprintf(f, "- weights %s, activations %s, calibration %s", a->opt.per_tensor_weights ? "int8 per-tensor" : "int8 per-channel",
                a->opt.dynamic ? "uint8 per run (dynamic) for MatMul/Gemm, else float"
                : a->opt.weight_only ? "float (weight-only)" : a->opt.signed_activations ? "int8 asymmetric" : "uint8 asymmetric",
                a->opt.weight_only ? "none" : meth[a->opt.method]);
        if (!a->opt.weight_only) {
            if (a->calib) fprintf(f, " over `%s`", a->calib);
            else fprintf(f, " over %d seeded random inputs (%s)", a->calib_random, a->dist);
        }
        fprintf(f, "\n- %d nodes quantized, %d excluded%s%s%s; %d activation Q/DQ pairs, %d int8 weights, %d int32 biases\n",
                sum->nodes_quantized, sum->nodes_excluded, a->opt.exclude ? " (`" : "", a->opt.exclude ? a->opt.exclude : "",
                a->opt.exclude ? "`)" : "", sum->activations, sum->weights, sum->biases);
        fprintf(f, "- evaluation: %d seeded random inputs (%s), float and QDQ run side by side in onyx; "
                   "calibrate %.1f s, quantize %.1f s, float runs %.1f s, QDQ runs %.1f s\n\n",
                a->eval_random, a->dist, calib_s, quant_s, t_float, t_qdq);
        fprintf(f, "## Outputs (QDQ vs float)\n\n| output | cosine (all) | mean cosine | min cosine | max abs err | max abs float | top-1 | top-5 | PSNR dB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (int i = 0; i < n_out; i++) {
            outmetric *o = &om[i];
            fprintf(f, "| %s | %.6f | %.6f | %.6f | %.4g | %.4g | ", o->name, o->na > 0 && o->nb > 0 ? o->dot / sqrt(o->na * o->nb) : 1.0,
                    o->samples ? o->cos_sum / (double)o->samples : 0, o->min_cos, o->max_abs, o->max_ref);
            if (o->classifier) fprintf(f, "%.1f%% | %.1f%% | ", 100.0 * (double)o->top1 / (double)o->rows, 100.0 * (double)o->top5 / (double)o->rows);
            else fprintf(f, "- | - | ");
            if (o->image && o->n) fprintf(f, "%.2f |\n", 10 * log10(o->max_ref * o->max_ref / (o->sumsq_err / (double)o->n)));
            else fprintf(f, "- |\n");
        }
        fprintf(f, "\ntop-5 counts the QDQ model's top-1 class among the float model's top 5; PSNR uses max|float| as the peak.\n");
        fprintf(f, "\n## Layers, worst first\n\n"
                   "*input SQNR*: the float activation vs itself quantized with the calibrated scale (the error this layer adds).  \n"
                   "*output SQNR*: the layer's output in the QDQ model vs the float model (error accumulated so far).\n\n"
                   "| # | node | op | input SQNR dB | clipped | output SQNR dB |\n|---:|---|---|---:|---:|---:|\n");
        for (int r = 0; r < nr; r++) {
            const qlayer *L = &e.layers[rows[r].idx];
            double clip = 0, tot = 0;
            for (int k = 0; k < 2; k++)
                if (L->act[k] >= 0) clip += e.acts[L->act[k]].clipped, tot += e.acts[L->act[k]].total;
            fprintf(f, "| %d | %s | %s | ", r + 1, L->node, L->op);
            if (isfinite(rows[r].key)) fprintf(f, "%.2f | %.4f%% | ", rows[r].key, tot > 0 ? 100 * clip / tot : 0);
            else fprintf(f, "weights only | - | ");
            if (L->matched) fprintf(f, "%.2f |\n", db(L->sig, L->noise));
            else fprintf(f, "(no float counterpart) |\n");
        }
        if (nr > 0) {
            fprintf(f, "\nTo keep the worst layers in float: `--exclude ");
            for (int r = 0; r < nr && r < 3; r++) fprintf(f, "%s%s", r ? "," : "", e.layers[rows[r].idx].node);
            fprintf(f, "`\n");
        }
    }
    if (sv.n && !json) {
        fprintf(f, "\n## Sensitivity: only this layer quantized (%d inputs), worst first\n\n"
                   "| # | node | op | output cosine | output SQNR dB |\n|---:|---|---|---:|---:|\n", a->sensitivity);
        for (int r = 0; r < sv.n; r++) {
            const qlayer *L = &e.layers[sv.order[r]];
            fprintf(f, "| %d | %s | %s | %.6f | %.2f |\n", r + 1, L->node, L->op, sv.cos[sv.order[r]], sv.sqnr[sv.order[r]]);
        }
        if (sv.fix_k > 0) {
            fprintf(f, "\nKeeping the %d most sensitive layers in float reaches cosine %.6f >= %g on these inputs:\n\n`--exclude ",
                    sv.fix_k, sv.fix_cos, a->target_cosine);
            for (int r = 0; r < sv.fix_k; r++) fprintf(f, "%s%s", r ? "," : "", e.layers[sv.order[r]].node);
            fprintf(f, "`\n");
        } else if (a->target_cosine > 0 && sv.tried) {
            fprintf(f, "\nExcluding up to the %d most sensitive layers did not reach cosine %g.\n", sv.tried, a->target_cosine);
        }
    } else if (sv.n && json) {
        /* JSON: appended as a second object would be invalid; the markdown report has the table */
    }
    free(rows);
    fclose(f);
    if (sv.fix_k > 0) {
        printf("to reach cosine %g keep %d layers in float: --exclude ", a->target_cosine, sv.fix_k);
        for (int r = 0; r < sv.fix_k; r++) printf("%s%s", r ? "," : "", e.layers[sv.order[r]].node);
        printf("\n");
    }
    /* the headline on stdout */
    for (int i = 0; i < n_out; i++) {
        outmetric *o = &om[i];
        printf("  %-20s cosine %.6f (min %.6f)  max_abs %.4g", o->name, o->na > 0 && o->nb > 0 ? o->dot / sqrt(o->na * o->nb) : 1.0,
               o->min_cos, o->max_abs);
        if (o->classifier) printf("  top-1 %.1f%%  top-5 %.1f%%", 100.0 * (double)o->top1 / (double)o->rows, 100.0 * (double)o->top5 / (double)o->rows);
        if (o->image && o->n) printf("  PSNR %.2f dB", 10 * log10(o->max_ref * o->max_ref / (o->sumsq_err / (double)o->n)));
        printf("\n");
    }
    printf("report: %s\n", a->report);
done_sens:
    free(sv.order), free(sv.cos), free(sv.sqnr);
done:
    eval_free(&e);
    free(om);
    onyx_session_free(fs);
    onyx_session_free(qs);
    return rc;
}

/* ---------------------------------------------------------------- command */

static bool parse_shape(const char *s, qshape *q)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s) return false;
    q->name = strndup(s, (size_t)(eq - s));
    q->rank = 0;
    for (const char *p = eq + 1; *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || q->rank >= ONYX_MAX_RANK) return false;
        q->dims[q->rank++] = v;
        if (*end == 'x' || *end == ',') end++;
        else if (*end) return false;
        p = end;
    }
    return q->rank > 0 && q->name;
}

int cmd_quantize(int argc, char **argv)
{
    qargs a = {0};
    a.calib_random = 16;
    a.eval_random = 100;
    a.seed = 1;
    a.dist = "normal";
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (s[0] != '-') {
            if (a.model) return usage();
            a.model = s;
            continue;
        }
        if (!strcmp(s, "--per-tensor")) a.opt.per_tensor_weights = 1;
        else if (!strcmp(s, "--per-channel")) a.opt.per_tensor_weights = 0;
        else if (!strcmp(s, "--int8-activations")) a.opt.signed_activations = 1;
        else if (!strcmp(s, "--dynamic")) a.opt.weight_only = a.opt.dynamic = 1;
        else if (!strcmp(s, "--weight-only")) a.opt.weight_only = 1, a.opt.dynamic = 0;
        else if (!strcmp(s, "--no-fold")) a.no_fold = true;
        else if (!strcmp(s, "--no-bias-correction")) a.opt.no_bias_correction = 1;
        else if (!v) return usage();
        else if (!strcmp(s, "-o")) a.out = v, i++;
        else if (!strcmp(s, "--calib")) a.calib = v, i++;
        else if (!strcmp(s, "--calib-random")) a.calib_random = atoi(v), i++;
        else if (!strcmp(s, "--eval-random")) a.eval_random = atoi(v), i++;
        else if (!strcmp(s, "--sensitivity")) a.sensitivity = atoi(v), i++;
        else if (!strcmp(s, "--target-cosine")) a.target_cosine = atof(v), i++;
        else if (!strcmp(s, "--percentile")) a.opt.percentile = atof(v), i++;
        else if (!strcmp(s, "--exclude")) a.opt.exclude = v, i++;
        else if (!strcmp(s, "--ops")) a.opt.op_types = v, i++;
        else if (!strcmp(s, "--report")) a.report = v, i++;
        else if (!strcmp(s, "--save-eval")) a.save_eval = v, i++;
        else if (!strcmp(s, "--seed")) a.seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(s, "--dist")) a.dist = v, i++;
        else if (!strcmp(s, "--method")) {
            i++;
            if (!strcmp(v, "minmax")) a.opt.method = ONYX_CALIB_MINMAX;
            else if (!strcmp(v, "percentile")) a.opt.method = ONYX_CALIB_PERCENTILE;
            else if (!strcmp(v, "entropy")) a.opt.method = ONYX_CALIB_ENTROPY;
            else {
                fprintf(stderr, "onyx: unknown --method '%s' (minmax, percentile, entropy)\n", v);
                return EXIT_ERROR;
            }
        } else if (!strcmp(s, "--shape")) {
            i++;
            if (a.n_shapes == 16 || !parse_shape(v, &a.shapes[a.n_shapes])) {
                fprintf(stderr, "onyx: bad --shape '%s' (NAME=1x3x224x224)\n", v);
                return EXIT_ERROR;
            }
            a.n_shapes++;
        } else {
            return usage();
        }
    }
    if (!a.model || !a.out) return usage();
    if (a.calib_random <= 0 || a.eval_random < 0 || (a.opt.percentile != 0 && (a.opt.percentile < 50 || a.opt.percentile > 100))) {
        fprintf(stderr, "onyx: --calib-random must be > 0, --eval-random >= 0, --percentile in [50, 100]\n");
        return EXIT_ERROR;
    }
    if (strcmp(a.dist, "normal") && strcmp(a.dist, "uniform") && strcmp(a.dist, "uniform01")) {
        fprintf(stderr, "onyx: unknown --dist '%s' (normal, uniform, uniform01)\n", a.dist);
        return EXIT_ERROR;
    }
    onyx_error err;
    onyx_model *m = NULL;
    onyx_calibrator *cal = NULL;
    onyx_session *s = NULL;
    int rc = 0;
    if (onyx_model_load_file(a.model, &m, &err) != ONYX_OK) return report(a.model, &err);
    double t0 = now_s();
    if (!a.no_fold) {
        onyx_optimize_options oo = {0};
        oo.passes = "eliminate,constfold,bn_fold";
        oo.standard_ops = 1;
        if (onyx_model_optimize(m, &oo, &err) != ONYX_OK) {
            rc = report("fold", &err);
            goto out;
        }
    }
    /* weight-only still calibrates for bias correction (input means) */
    if (!a.opt.weight_only || !a.opt.no_bias_correction) {
        if (onyx_calibrator_create(m, &a.opt, &cal, &err) != ONYX_OK ||
            onyx_session_create(m, NULL, &s, &err) != ONYX_OK) {
            rc = report(a.model, &err);
            goto out;
        }
        int n_sets = 0;
        char **sets = a.calib ? list_sets(a.calib, &n_sets) : NULL;
        if (a.calib && !n_sets) {
            fprintf(stderr, "onyx: no calibration inputs in '%s' (test_data_set_*/input_*.pb or input_*.pb)\n", a.calib);
            rc = EXIT_ERROR;
        }
        int total = a.calib ? n_sets : a.calib_random;
        for (int k = 0; k < total && !rc; k++) {
            inputs in = {0};
            rc = a.calib ? load_set(m, sets[k], &in) : random_inputs(m, &a, k, &in);
            if (!rc && onyx_calibrator_run(cal, s, in.n, in.names, (const onyx_tensor *const *)in.vals, &err) != ONYX_OK)
                rc = report(a.calib ? sets[k] : "calibration", &err);
            inputs_free(&in);
        }
        for (int k = 0; k < n_sets; k++) free(sets[k]);
        free(sets);
        if (rc) goto out;
        onyx_session_free(s);
        s = NULL;
        printf("calibrated on %d %s (%s) in %.1f s\n", total, a.calib ? "input sets" : "random inputs",
               (const char *[]){"minmax", "percentile", "entropy"}[a.opt.method], now_s() - t0);
    }
    double calib_s = now_s() - t0, t1 = now_s();
    g_cal = cal;
    onyx_quant_summary sum;
    if (onyx_model_quantize(m, cal, &a.opt, &sum, &err) != ONYX_OK) {
        rc = report(a.model, &err);
        goto out;
    }
    if (onyx_model_save(m, a.out, &err) != ONYX_OK) {
        rc = report(a.out, &err);
        goto out;
    }
    double quant_s = now_s() - t1;
    long long fsz = file_size(a.model), qsz = file_size(a.out);
    printf("quantized %d nodes (%d excluded): %d activations, %d weights, %d int32 biases, %d bias-corrected\n",
           sum.nodes_quantized, sum.nodes_excluded, sum.activations, sum.weights, sum.biases, sum.biases_corrected);
    printf("%s: %.2f MB -> %s: %.2f MB (%.3f x)\n", a.model, (double)fsz / 1e6, a.out, (double)qsz / 1e6,
           fsz > 0 ? (double)qsz / (double)fsz : 0);
    if (a.report && a.eval_random > 0) {
        onyx_model *fm = NULL, *qm = NULL;
        onyx_optimize_options oo = {0};
        oo.passes = "eliminate,constfold,bn_fold";
        oo.standard_ops = 1;
        /* the float reference gets the same folding, so per-layer values keep their names */
        if (onyx_model_load_file(a.model, &fm, &err) != ONYX_OK) rc = report(a.model, &err);
        else if (!a.no_fold && onyx_model_optimize(fm, &oo, &err) != ONYX_OK) rc = report("fold", &err);
        else if (onyx_model_load_file(a.out, &qm, &err) != ONYX_OK) rc = report(a.out, &err);
        else rc = evaluate(&a, fm, qm, &sum, calib_s, quant_s);
        onyx_model_free(fm);
        onyx_model_free(qm);
    }
out:
    onyx_session_free(s);
    onyx_calibrator_free(cal);
    onyx_model_free(m);
    for (int k = 0; k < a.n_shapes; k++) free((void *)a.shapes[k].name);
    return rc;
}
