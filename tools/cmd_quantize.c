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
 *                          parent (MODEL as given) and the written file as onyx runs it
 *                          (integer kernels), side by side on --eval-random N seeded
 *                          inputs (default 100)
 *   --sensitivity K        per-layer sensitivity in the report: each layer quantized
 *                          alone, output SQNR over the first K evaluation inputs
 *   --target-cosine C      with --sensitivity: the fewest most-sensitive layers to
 *                          keep in float so every output reaches cosine C
 *   --layer-inputs N       per-layer SQNR (from the QDQ graph run with float kernels)
 *                          over the first N evaluation inputs (default 10)
 *   --save-eval DIR        writes the evaluation inputs and the float outputs in the
 *                          ONNX test layout (for onyx verify / ONNX Runtime)
 */
#include "qeval.h"

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
    int calib_random, eval_random, sensitivity, layer_inputs;
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

/* ---------------------------------------------------------------- sensitivity */

/* The model quantized like OUT but with extra names kept in float too,
 * optimized to run as onyx runs OUT (integer kernels). */
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
    } else if (optimize_for_run(m, NULL, "variant")) {
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
        for (int i = 0; !rc && i < n_out; i++) ref[j * n_out + i] = qe_clone(onyx_session_output(fs, i));
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

/* The quantized model as onyx runs it (the integer kernels) against the float
 * parent on --eval-random inputs; the QDQ graph as written (float kernels, the
 * reference semantics) on the first --layer-inputs of them, for the per-layer
 * SQNR and to show the integer path computes the same. */
static int evaluate(const qargs *a, const onyx_model *fm, const onyx_model *qm, const onyx_quant_summary *sum,
                    double calib_s, double quant_s)
{
    onyx_error err;
    onyx_session *fs = NULL, *qs = NULL, *qis = NULL;
    onyx_model *qim = NULL;
    if (onyx_session_create(fm, NULL, &fs, &err) != ONYX_OK) return report(a->model, &err);
    if (onyx_session_create(qm, NULL, &qs, &err) != ONYX_OK || onyx_model_load_file(a->out, &qim, &err) != ONYX_OK ||
        optimize_for_run(qim, NULL, a->out) || onyx_session_create(qim, NULL, &qis, &err) != ONYX_OK) {
        onyx_session_free(fs);
        onyx_session_free(qs);
        onyx_model_free(qim);
        return report(a->out, &err);
    }
    evalstate e = {0};
    int n_out = onyx_session_num_outputs(fs);
    outmetric *om = calloc((size_t)n_out + 1, sizeof *om), *omr = calloc((size_t)n_out + 1, sizeof *omr);
    int rc = 0, n_layer = a->layer_inputs < a->eval_random ? a->layer_inputs : a->eval_random;
    if (!om || !omr || !qe_scan(qm, &e)) {
        fprintf(stderr, "onyx: out of memory\n");
        rc = EXIT_ERROR;
    }
    double t0 = now_s(), t_float = 0, t_qdq = 0, t_int = 0;
    for (int s = 0; s < a->eval_random && !rc; s++) {
        inputs in = {0};
        bool layers = s < n_layer;
        rc = random_inputs(fm, a, 1000000 + s, &in);
        if (!rc) {
            double t = now_s();
            if (layers) onyx_session_set_observer(fs, qe_on_float, &e);
            rc = run_session(fs, &in, a->model);
            onyx_session_set_observer(fs, NULL, NULL);
            t_float += now_s() - t;
        }
        if (!rc) {
            double t = now_s();
            rc = run_session(qis, &in, a->out);
            t_int += now_s() - t;
        }
        if (!rc && layers) {
            double t = now_s();
            onyx_session_set_observer(qs, qe_on_qdq, &e);
            rc = run_session(qs, &in, a->out);
            onyx_session_set_observer(qs, NULL, NULL);
            t_qdq += now_s() - t;
        }
        if (!rc && e.oom) {
            fprintf(stderr, "onyx: out of memory keeping float activations\n");
            rc = EXIT_ERROR;
        }
        for (int i = 0; !rc && i < n_out; i++) {
            om[i].name = omr[i].name = onyx_session_output_name(fs, i);
            qe_out_acc(&om[i], onyx_session_output(qis, i), onyx_session_output(fs, i));
            if (layers) qe_out_acc(&omr[i], onyx_session_output(qs, i), onyx_session_output(fs, i));
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
    int nr = rows ? qe_layer_rows(&e, rows) : 0;
    if (json) {
        fprintf(f, "{\n  \"model\": \"%s\",\n  \"quantized\": \"%s\",\n  \"fp32_bytes\": %lld,\n  \"int8_bytes\": %lld,\n"
                   "  \"size_ratio\": %.4f,\n  \"method\": \"%s\",\n  \"weights\": \"%s\",\n  \"activations\": \"%s\",\n"
                   "  \"nodes_quantized\": %d,\n  \"nodes_excluded\": %d,\n  \"eval_inputs\": %d,\n  \"dist\": \"%s\",\n"
                   "  \"layer_inputs\": %d,\n"
                   "  \"seconds\": {\"calibrate\": %.2f, \"quantize\": %.2f, \"float_runs\": %.2f, \"int8_runs\": %.2f, \"qdq_reference_runs\": %.2f},\n  \"outputs\": [\n",
                a->model, a->out, fsz, qsz, fsz > 0 ? (double)qsz / (double)fsz : 0, meth[a->opt.method],
                a->opt.per_tensor_weights ? "int8 per-tensor" : "int8 per-channel",
                a->opt.weight_only ? "float" : a->opt.signed_activations ? "int8" : "uint8", sum->nodes_quantized,
                sum->nodes_excluded, a->eval_random, a->dist, n_layer, calib_s, quant_s, t_float, t_int, t_qdq);
        for (int i = 0; i < n_out; i++) {
            outmetric *o = &om[i];
            fprintf(f, "    {\"name\": \"%s\", \"cosine\": %.6f, \"min_cosine\": %.6f, \"mean_cosine\": %.6f, \"max_abs\": %.6g, \"max_ref\": %.6g, \"qdq_reference_cosine\": %.6f",
                    o->name, qe_cosine(o), o->min_cos, o->samples ? o->cos_sum / (double)o->samples : 0, o->max_abs,
                    o->max_ref, qe_cosine(&omr[i]));
            if (o->classifier)
                fprintf(f, ", \"top1_agreement\": %.4f, \"top5_agreement\": %.4f", (double)o->top1 / (double)o->rows,
                        (double)o->top5 / (double)o->rows);
            if (o->image && o->n) fprintf(f, ", \"psnr_db\": %.2f", qe_psnr(o));
            fprintf(f, "}%s\n", i + 1 < n_out ? "," : "");
        }
        fprintf(f, "  ],\n  \"layers\": [\n");
        for (int r = 0; r < nr; r++) {
            const qlayer *L = &e.layers[rows[r].idx];
            fprintf(f, "    {\"node\": \"%s\", \"op\": \"%s\", \"input_sqnr_db\": %.2f, \"output_sqnr_db\": %.2f}%s\n", L->node,
                    L->op, isfinite(rows[r].key) ? rows[r].key : 999.0,
                    L->matched ? fmin(qe_db(L->sig, L->noise), 999.0) : -1.0, r + 1 < nr ? "," : "");
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
        fprintf(f, "- evaluation: %d seeded random inputs (%s), the float model and the quantized one as onyx runs it "
                   "(integer kernels) side by side; per-layer figures from the QDQ graph with float kernels on the first %d; "
                   "calibrate %.1f s, quantize %.1f s, float runs %.1f s, INT8 runs %.1f s, QDQ reference runs %.1f s\n\n",
                a->eval_random, a->dist, n_layer, calib_s, quant_s, t_float, t_int, t_qdq);
        fprintf(f, "## Outputs (onyx INT8 vs float)\n\n");
        qe_print_outputs_md(f, om, n_out);
        fprintf(f, "\ntop-5 counts the quantized model's top-1 class among the float model's top 5; PSNR uses max|float| as the peak.\n");
        fprintf(f, "\nThe QDQ graph run with float kernels (its definition) on the first %d inputs: cosine", n_layer);
        for (int i = 0; i < n_out; i++) fprintf(f, "%s %s %.6f", i ? "," : "", omr[i].name, qe_cosine(&omr[i]));
        fprintf(f, " (the integer kernels round the same values to within one quantization step).\n");
        fprintf(f, "\n## Layers, worst first (QDQ graph, first %d inputs)\n\n", n_layer);
        qe_print_layers_md(f, &e, rows, nr, 0);
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
        printf("  %-20s cosine %.6f (min %.6f)  max_abs %.4g", o->name, qe_cosine(o), o->min_cos, o->max_abs);
        if (o->classifier) printf("  top-1 %.1f%%  top-5 %.1f%%", 100.0 * (double)o->top1 / (double)o->rows, 100.0 * (double)o->top5 / (double)o->rows);
        if (o->image && o->n) printf("  PSNR %.2f dB", qe_psnr(o));
        printf("\n");
    }
    printf("report: %s\n", a->report);
done_sens:
    free(sv.order), free(sv.cos), free(sv.sqnr);
done:
    qe_free(&e);
    free(om);
    free(omr);
    onyx_session_free(fs);
    onyx_session_free(qs);
    onyx_session_free(qis);
    onyx_model_free(qim);
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
    a.layer_inputs = 10;
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
        else if (!strcmp(s, "--layer-inputs")) a.layer_inputs = atoi(v), i++;
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
