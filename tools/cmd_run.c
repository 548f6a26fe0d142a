/* cmd_run.c - onyx run MODEL [-i NAME=FILE.pb]... [-o OUTDIR] */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- run */

static int write_outputs(const onyx_session *s, const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "onyx: cannot create '%s': %s\n", dir, strerror(errno));
        return EXIT_ERROR;
    }
    for (int i = 0; i < onyx_session_num_outputs(s); i++) {
        void *buf;
        size_t len;
        onyx_error err;
        if (onyx_value_save_pb(onyx_session_output(s, i), onyx_session_output_name(s, i), &buf, &len, &err) != ONYX_OK)
            return report("write", &err);
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", dir, i);
        FILE *f = fopen(path, "wb");
        bool ok = f && fwrite(buf, 1, len, f) == len;
        if (f && fclose(f) != 0) ok = false;
        free(buf);
        if (!ok) {
            fprintf(stderr, "onyx: cannot write '%s'\n", path);
            return EXIT_ERROR;
        }
    }
    return 0;
}

static void describe(const char *name, const onyx_tensor *t)
{
    printf("%s: ", name);
    if (onyx_tensor_kind(t) == ONYX_KIND_SEQUENCE) {
        printf("sequence of %d\n", onyx_sequence_length(t));
        return;
    }
    if (onyx_tensor_kind(t) == ONYX_KIND_NONE) {
        printf("none\n");
        return;
    }
    printf("%s[", onyx_dtype_name(onyx_tensor_dtype(t)));
    for (int i = 0; i < onyx_tensor_rank(t); i++) printf("%s%lld", i ? "x" : "", (long long)onyx_tensor_dims(t)[i]);
    printf("]");
    if (onyx_tensor_dtype(t) == ONYX_FLOAT) {
        const float *p = onyx_tensor_data((onyx_tensor *)t);
        int64_t n = onyx_tensor_numel(t);
        printf(" ");
        for (int64_t i = 0; i < n && i < 6; i++) printf(" %g", p[i]);
        if (n > 6) printf(" ...");
    }
    printf("\n");
}

int cmd_run(int argc, char **argv)
{
    if (argc < 1) return usage();
    const char *model_path = argv[0], *outdir = NULL, *passes = NULL;
    bool optimize = true;
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_file(model_path, &m, &err) != ONYX_OK) return report(model_path, &err);
    inputs in = {0};
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            outdir = argv[++i];
        } else if (!strcmp(argv[i], "--no-optimize")) {
            optimize = false;
        } else if (!strcmp(argv[i], "--passes") && i + 1 < argc) {
            passes = argv[++i];
        } else if (!strcmp(argv[i], "-i") && i + 1 < argc) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            if (!eq) {
                rc = usage();
                break;
            }
            *eq = 0;
            int idx = find_input(m, spec);
            if (idx < 0) {
                fprintf(stderr, "onyx: the model has no input named '%s'\n", spec);
                rc = EXIT_ERROR;
                break;
            }
            rc = load_input_pb(m, eq + 1, idx, &in);
        } else {
            rc = usage();
        }
    }
    for (int i = 0; i < onyx_model_num_inputs(m) && !rc; i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        bool given = false;
        for (int j = 0; j < in.n; j++) given |= !strcmp(in.names[j], v.name);
        if (given) continue;
        if (v.kind != ONYX_KIND_TENSOR) {
            fprintf(stderr, "onyx: input '%s' is not a tensor; give it with -i\n", v.name);
            rc = EXIT_ERROR;
            break;
        }
        onyx_tensor *t = random_input(&v, i);
        in.names = realloc(in.names, (size_t)(in.n + 1) * sizeof *in.names);
        in.vals = realloc(in.vals, (size_t)(in.n + 1) * sizeof *in.vals);
        if (!t || !in.names || !in.vals) {
            onyx_tensor_free(t);
            fprintf(stderr, "onyx: out of memory\n");
            rc = EXIT_ERROR;
            break;
        }
        in.names[in.n] = v.name;
        in.vals[in.n++] = t;
    }
    onyx_session *s = NULL;
    if (!rc && optimize) rc = optimize_for_run(m, passes, model_path);
    if (!rc && onyx_session_create(m, NULL, &s, &err) != ONYX_OK) rc = report(model_path, &err);
    if (!rc) rc = run_session(s, &in, model_path);
    if (!rc) {
        for (int i = 0; i < onyx_session_num_outputs(s); i++) describe(onyx_session_output_name(s, i), onyx_session_output(s, i));
        if (outdir) rc = write_outputs(s, outdir);
    }
    onyx_session_free(s);
    inputs_free(&in);
    onyx_model_free(m);
    return rc;
}
