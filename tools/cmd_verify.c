/* cmd_verify.c - onyx verify MODEL DIR [--rtol R] [--atol A] [--cosine C --abs-scaled S] [--bisect]
 *
 * Two ways to judge an output: elementwise, |onyx - ref| <= atol + rtol*|ref| (the ONNX
 * backend's rule), or whole-tensor, cosine >= C and max|onyx - ref| <= S * max|ref| (the
 * zoo's rule for deep networks, where float32 noise on near-zero elements makes an
 * elementwise relative bound meaningless). NaN and infinities must agree in both. */
#include "cli.h"

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


int cmd_verify(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *model_path = argv[0], *dir = argv[1];
    double rtol = 1e-3, atol = 1e-7, min_cos = 0, abs_scaled = 0;
    bool do_bisect = false, optimize = true;
    const char *passes = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--rtol") && i + 1 < argc) rtol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--atol") && i + 1 < argc) atol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--cosine") && i + 1 < argc) min_cos = atof(argv[++i]);
        else if (!strcmp(argv[i], "--abs-scaled") && i + 1 < argc) abs_scaled = atof(argv[++i]);
        else if (!strcmp(argv[i], "--bisect")) do_bisect = true;
        else if (!strcmp(argv[i], "--no-optimize")) optimize = false;
        else if (!strcmp(argv[i], "--passes") && i + 1 < argc) passes = argv[++i];
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
        fprintf(stderr, "onyx: no test_data_set_* in '%s'\n", dir);
        rc = EXIT_ERROR;
    }
    qsort(sets, (size_t)n_sets, sizeof *sets, cmp_str);
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
