/* cmd_verify.c - onyx verify MODEL DIR [--rtol R] [--atol A] [--cosine C --abs-scaled S] [--bisect]
 *                onyx verify QMODEL DIR --parent FP32.onnx [--cosine C] [--layers N]
 *
 * Two ways to judge an output: elementwise, |onyx - ref| <= atol + rtol*|ref| (the ONNX
 * backend's rule), or whole-tensor, cosine >= C and max|onyx - ref| <= S * max|ref| (the
 * zoo's rule for deep networks, where float32 noise on near-zero elements makes an
 * elementwise relative bound meaningless). NaN and infinities must agree in both. */
#include "qeval.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct tolerance {
    double rtol, atol;
    double min_cosine, abs_scaled; /* whole-tensor rule when abs_scaled > 0 */
} tolerance;

static int verify_set(const onyx_model *m, onyx_session *s, const char *set, const tolerance *tol)
{
    inputs in = {0};
    int rc = 0, n_in = count_files(set, "input"), n_out = count_files(set, "output");
    for (int i = 0; i < n_in && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/input_%d.pb", set, i);
        rc = load_input_pb(m, path, i, &in);
    }
    if (!rc) rc = run_session(s, &in, set);
    inputs_free(&in);
    if (rc) return rc;
    if (n_out > onyx_session_num_outputs(s)) {
        fprintf(stderr, "onyx: %s has %d reference outputs, the model %d\n", set, n_out, onyx_session_num_outputs(s));
        return EXIT_ERROR;
    }
    printf("%s\n", set);
    for (int i = 0; i < n_out; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", set, i);
        size_t len;
        void *buf = read_file(path, &len);
        if (!buf) {
            fprintf(stderr, "onyx: cannot read '%s'\n", path);
            return EXIT_ERROR;
        }
        onyx_value_info v;
        onyx_model_output(m, i, &v);
        onyx_tensor *ref;
        onyx_error err = {0};
        onyx_status st = onyx_value_load_pb(buf, len, v.kind, v.optional, &ref, NULL, &err);
        free(buf);
        if (st != ONYX_OK) return report(path, &err);
        cmp c = {0};
        bool whole = tol->abs_scaled > 0;
        compare_tensor(onyx_session_output(s, i), ref, whole ? INFINITY : tol->rtol, whole ? 0 : tol->atol, &c);
        onyx_tensor_free(ref);
        double cosine = c.na > 0 && c.nb > 0 ? c.dot / sqrt(c.na * c.nb) : (c.na == c.nb ? 1.0 : 0.0);
        if (whole && !c.bad && (cosine < tol->min_cosine || c.max_abs > tol->abs_scaled * c.max_ref)) c.bad = 1;
        printf("  output %d %-24s ", i, onyx_session_output_name(s, i));
        if (c.shape_mismatch) {
            printf("MISMATCH %s\n", c.why);
            rc = EXIT_MISMATCH;
            continue;
        }
        printf("max_abs=%.3g max|ref|=%.3g max_rel=%.3g cosine=%.9f %s", c.max_abs, c.max_ref, c.max_rel, cosine,
               c.bad ? "MISMATCH" : "ok");
        if (c.bad && whole) {
            printf(" (needs cosine >= %g and max_abs <= %g x max|ref|)", tol->min_cosine, tol->abs_scaled);
            rc = EXIT_MISMATCH;
        } else if (c.bad) {
            printf(" (%lld elements out of tolerance, first at flat index %lld)", (long long)c.bad, (long long)c.first_bad);
            rc = EXIT_MISMATCH;
        }
        printf("\n");
    }
    return rc;
}


/* A quantized model against its float parent on DIR's input sets (their
 * reference outputs are not used): per output cosine, max abs error, top-1 /
 * top-5 agreement for logits and PSNR for images, over all sets; with layers
 * > 0, the per-layer SQNR of the QDQ graph (float kernels, the parent folded
 * as onyx quantize folds it so values keep their names) on the first `layers`
 * sets, worst first. Fails when a cosine is below min_cos. */
static int verify_parent(onyx_model *qm, const char *qpath, const char *parent, char **sets, int n_sets,
                         double min_cos, int layers)
{
    onyx_error err;
    onyx_model *fm = NULL, *fl = NULL, *ql = NULL;
    onyx_session *qs = NULL, *fs = NULL, *fls = NULL, *qls = NULL;
    evalstate e = {0};
    int rc = 0, n_out = onyx_model_num_outputs(qm);
    outmetric *om = calloc((size_t)n_out + 1, sizeof *om);
    onyx_optimize_options fold = {0};
    fold.passes = "eliminate,constfold,bn_fold";
    fold.standard_ops = 1;
    if (!om) rc = EXIT_ERROR;
    if (!rc && (onyx_session_create(qm, NULL, &qs, &err) != ONYX_OK)) rc = report(qpath, &err);
    if (!rc && (onyx_model_load_file(parent, &fm, &err) != ONYX_OK)) rc = report(parent, &err);
    if (!rc && optimize_for_run(fm, NULL, parent)) rc = EXIT_ERROR;
    if (!rc && (onyx_session_create(fm, NULL, &fs, &err) != ONYX_OK)) rc = report(parent, &err);
    if (!rc && layers > 0) {
        if (onyx_model_load_file(parent, &fl, &err) != ONYX_OK || onyx_model_optimize(fl, &fold, &err) != ONYX_OK ||
            onyx_session_create(fl, NULL, &fls, &err) != ONYX_OK)
            rc = report(parent, &err);
        else if (onyx_model_load_file(qpath, &ql, &err) != ONYX_OK || onyx_session_create(ql, NULL, &qls, &err) != ONYX_OK)
            rc = report(qpath, &err);
        else if (!qe_scan(ql, &e))
            rc = EXIT_ERROR;
    }
    if (!rc && onyx_session_num_outputs(fs) != n_out) {
        fprintf(stderr, "onyx: %s has %d outputs, %s %d\n", qpath, n_out, parent, onyx_session_num_outputs(fs));
        rc = EXIT_ERROR;
    }
    for (int k = 0; k < n_sets && !rc; k++) {
        inputs in = {0};
        int n_in = count_files(sets[k], "input");
        for (int i = 0; i < n_in && !rc; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/input_%d.pb", sets[k], i);
            rc = load_input_pb(qm, path, i, &in);
        }
        if (!rc) rc = run_session(qs, &in, qpath);
        if (!rc) rc = run_session(fs, &in, parent);
        for (int i = 0; !rc && i < n_out; i++) {
            om[i].name = onyx_session_output_name(qs, i);
            qe_out_acc(&om[i], onyx_session_output(qs, i), onyx_session_output(fs, i));
        }
        if (!rc && k < layers) {
            onyx_session_set_observer(fls, qe_on_float, &e);
            rc = run_session(fls, &in, parent);
            onyx_session_set_observer(fls, NULL, NULL);
            onyx_session_set_observer(qls, qe_on_qdq, &e);
            if (!rc) rc = run_session(qls, &in, qpath);
            onyx_session_set_observer(qls, NULL, NULL);
            if (!rc && e.oom) rc = EXIT_ERROR;
        }
        inputs_free(&in);
    }
    if (!rc) {
        printf("%s against its float parent %s, %d input sets\n", qpath, parent, n_sets);
        for (int i = 0; i < n_out; i++) {
            const outmetric *o = &om[i];
            double c = qe_cosine(o);
            printf("  output %d %-24s cosine=%.6f (mean %.6f, min %.6f) max_abs=%.4g max|ref|=%.4g", i, o->name, c,
                   o->samples ? o->cos_sum / (double)o->samples : 0, o->min_cos, o->max_abs, o->max_ref);
            if (o->classifier)
                printf(" top-1=%.1f%% top-5=%.1f%%", 100.0 * (double)o->top1 / (double)o->rows,
                       100.0 * (double)o->top5 / (double)o->rows);
            if (o->image && o->n) printf(" PSNR=%.2f dB", qe_psnr(o));
            bool bad = min_cos > 0 && !(c >= min_cos);
            printf(" %s\n", bad ? "MISMATCH" : "ok");
            if (bad) rc = EXIT_MISMATCH;
        }
        if (layers > 0) {
            rowsort *rows = calloc((size_t)e.n_layers + 1, sizeof *rows);
            int nr = rows ? qe_layer_rows(&e, rows) : 0;
            printf("\nLayers of the QDQ graph, worst first (first %d sets):\n\n", layers < n_sets ? layers : n_sets);
            qe_print_layers_md(stdout, &e, rows, nr, 10);
            free(rows);
        }
        if (min_cos > 0) printf(rc ? "FAIL: cosine below %g\n" : "PASS (cosine >= %g)\n", min_cos);
    } else if (rc != EXIT_MISMATCH && !om) {
        fprintf(stderr, "onyx: out of memory\n");
    }
    qe_free(&e);
    free(om);
    onyx_session_free(qs);
    onyx_session_free(fs);
    onyx_session_free(fls);
    onyx_session_free(qls);
    onyx_model_free(fm);
    onyx_model_free(fl);
    onyx_model_free(ql);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *model_path = argv[0], *dir = argv[1];
    double rtol = 1e-3, atol = 1e-7, min_cos = 0, abs_scaled = 0;
    bool do_bisect = false, optimize = true;
    const char *passes = NULL, *parent = NULL;
    int layers = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--rtol") && i + 1 < argc) rtol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--atol") && i + 1 < argc) atol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--cosine") && i + 1 < argc) min_cos = atof(argv[++i]);
        else if (!strcmp(argv[i], "--abs-scaled") && i + 1 < argc) abs_scaled = atof(argv[++i]);
        else if (!strcmp(argv[i], "--bisect")) do_bisect = true;
        else if (!strcmp(argv[i], "--no-optimize")) optimize = false;
        else if (!strcmp(argv[i], "--passes") && i + 1 < argc) passes = argv[++i];
        else if (!strcmp(argv[i], "--parent") && i + 1 < argc) parent = argv[++i];
        else if (!strcmp(argv[i], "--layers") && i + 1 < argc) layers = atoi(argv[++i]);
        else return usage();
    }
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_file(model_path, &m, &err) != ONYX_OK) return report(model_path, &err);
    if (optimize && optimize_for_run(m, passes, model_path)) {
        onyx_model_free(m);
        return EXIT_ERROR;
    }
    onyx_session *s;
    if (onyx_session_create(m, NULL, &s, &err) != ONYX_OK) {
        onyx_model_free(m);
        return report(model_path, &err);
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "onyx: cannot open '%s': %s\n", dir, strerror(errno));
        onyx_session_free(s);
        onyx_model_free(m);
        return EXIT_ERROR;
    }
    char **sets = NULL;
    int n_sets = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_data_set_", 14)) continue;
        char **ns = realloc(sets, (size_t)(n_sets + 1) * sizeof *sets);
        if (!ns) break;
        sets = ns;
        size_t need = strlen(dir) + strlen(e->d_name) + 2;
        sets[n_sets] = malloc(need);
        if (sets[n_sets]) snprintf(sets[n_sets++], need, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    int rc = 0;
    if (!n_sets) {
        fprintf(stderr, "onyx: no test_data_set_* in '%s' (give the directory that holds them)\n", dir);
        rc = EXIT_ERROR;
    }
    if (n_sets) qsort(sets, (size_t)n_sets, sizeof *sets, cmp_str); /* sets is NULL when there are none */
    if (parent && n_sets) {
        onyx_session_free(s);
        rc = verify_parent(m, model_path, parent, sets, n_sets, min_cos, layers);
        for (int i = 0; i < n_sets; i++) free(sets[i]);
        free(sets);
        onyx_model_free(m);
        return rc;
    }
    if (do_bisect && n_sets) {
        onyx_session_free(s);
        onyx_model_free(m);
        rc = bisect(model_path, sets[0], rtol, atol);
        for (int i = 0; i < n_sets; i++) free(sets[i]);
        free(sets);
        return rc;
    }
    for (int i = 0; i < n_sets; i++) {
        tolerance tol = {rtol, atol, min_cos, abs_scaled};
        int r = rc == EXIT_ERROR ? EXIT_ERROR : verify_set(m, s, sets[i], &tol);
        if (r > rc) rc = r;
        free(sets[i]);
    }
    free(sets);
    if (abs_scaled > 0) {
        if (rc == 0) printf("PASS (cosine >= %g, max_abs <= %g x max|ref|)\n", min_cos, abs_scaled);
        else if (rc == EXIT_MISMATCH) printf("FAIL: outputs differ beyond cosine %g / %g x max|ref|\n", min_cos, abs_scaled);
    } else if (rc == 0) {
        printf("PASS (rtol %g, atol %g)\n", rtol, atol);
    } else if (rc == EXIT_MISMATCH) {
        printf("FAIL: outputs differ beyond rtol %g, atol %g\n", rtol, atol);
    }
    onyx_session_free(s);
    onyx_model_free(m);
    return rc;
}
