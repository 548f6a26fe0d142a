/* cmd_bisect.c - onyx verify --bisect: the first node that drifts from a reference runtime. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- bisect */

static bool copy_file(const char *from, const char *to)
{
    size_t len;
    void *buf = read_file(from, &len);
    if (!buf) return false;
    FILE *f = fopen(to, "wb");
    bool ok = f && fwrite(buf, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    free(buf);
    return ok;
}

typedef struct drift {
    double max_abs, max_ref;
    bool bad, missing;
} drift;

static void shape_str(const onyx_tensor *t, char *buf, size_t len)
{
    if (!t || onyx_tensor_kind(t) != ONYX_KIND_TENSOR) {
        snprintf(buf, len, "?");
        return;
    }
    int w = snprintf(buf, len, "%s[", onyx_dtype_name(onyx_tensor_dtype(t)));
    for (int i = 0; i < onyx_tensor_rank(t) && w < (int)len; i++)
        w += snprintf(buf + w, len - (size_t)w, "%s%lld", i ? "x" : "", (long long)onyx_tensor_dims(t)[i]);
    if (w < (int)len) snprintf(buf + w, len - (size_t)w, "]");
}

int bisect(const char *model_path, const char *set, double rtol, double atol)
{
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_file(model_path, &m, &err) != ONYX_OK) return report(model_path, &err);
    int n_orig = onyx_model_num_outputs(m);
    onyx_model_expose_intermediates(m);
    int n_out = onyx_model_num_outputs(m);
    char tmp[] = "/tmp/onyx-bisect-XXXXXX", path[4096], path2[4096];
    if (!mkdtemp(tmp)) {
        onyx_model_free(m);
        fprintf(stderr, "onyx: cannot create a temporary directory\n");
        return EXIT_ERROR;
    }
    int rc = 0;
    snprintf(path, sizeof path, "%s/model.onnx", tmp);
    if (onyx_model_save(m, path, &err) != ONYX_OK) rc = report(path, &err);
    snprintf(path, sizeof path, "%s/test_data_set_0", tmp);
    if (!rc && mkdir(path, 0777) != 0) rc = EXIT_ERROR;
    int n_in = count_files(set, "input");
    for (int i = 0; i < n_in && !rc; i++) {
        snprintf(path, sizeof path, "%s/input_%d.pb", set, i);
        snprintf(path2, sizeof path2, "%s/test_data_set_0/input_%d.pb", tmp, i);
        if (!copy_file(path, path2)) {
            fprintf(stderr, "onyx: cannot copy '%s'\n", path);
            rc = EXIT_ERROR;
        }
    }
    if (!rc) {
        const char *ref = getenv("ONYX_REFERENCE");
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "%s %s/model.onnx %s 1>&2", ref && ref[0] ? ref : "node models/ort_run.js", tmp, tmp);
        fprintf(stderr, "onyx: bisect: running the reference: %s\n", cmd);
        int r = system(cmd);
        if (r != 0) {
            fprintf(stderr, "onyx: the reference command failed (status %d); set ONYX_REFERENCE to a command that takes MODEL DIR and writes DIR/test_data_set_0/output_K.pb\n", r);
            rc = EXIT_ERROR;
        }
    }
    onyx_session *s = NULL;
    inputs in = {0};
    if (!rc && onyx_session_create(m, NULL, &s, &err) != ONYX_OK) rc = report(model_path, &err);
    for (int i = 0; i < n_in && !rc; i++) {
        snprintf(path2, sizeof path2, "%s/test_data_set_0/input_%d.pb", tmp, i);
        rc = load_input_pb(m, path2, i, &in);
    }
    if (!rc) rc = run_session(s, &in, model_path);
    drift *dr = calloc((size_t)n_out + 1, sizeof *dr);
    if (!dr) rc = EXIT_ERROR;
    for (int k = 0; k < n_out && !rc; k++) {
        snprintf(path2, sizeof path2, "%s/test_data_set_0/output_%d.pb", tmp, k);
        size_t len;
        void *buf = read_file(path2, &len);
        onyx_tensor *ref = NULL;
        onyx_value_info v;
        onyx_model_output(m, k, &v);
        if (buf && onyx_value_load_pb(buf, len, v.kind, v.optional, &ref, NULL, &err) == ONYX_OK) {
            cmp c = {0};
            compare_tensor(onyx_session_output(s, k), ref, 0, INFINITY, &c);
            dr[k].max_abs = c.max_abs;
            double mr = 0;
            if (onyx_tensor_kind(ref) == ONYX_KIND_TENSOR && is_floaty(onyx_tensor_dtype(ref)))
                for (int64_t i = 0; i < onyx_tensor_numel(ref); i++) mr = fmax(mr, fabs(elem(ref, i)));
            dr[k].max_ref = mr;
            dr[k].bad = c.shape_mismatch || c.max_abs > atol + rtol * mr;
            if (c.shape_mismatch) dr[k].max_abs = INFINITY;
            onyx_tensor_free(ref);
        } else {
            dr[k].missing = true;
        }
        free(buf);
    }
    if (!rc) {
        /* map each exposed output to its node, in node (topological) order */
        int n_nodes = onyx_model_num_nodes(m), first = -1;
        int *node_of = malloc(((size_t)n_out + 1) * sizeof *node_of);
        int *best = malloc(((size_t)n_nodes + 1) * sizeof *best); /* worst output per node */
        for (int k = 0; k < n_out; k++) node_of[k] = -1;
        for (int i = 0; i < n_nodes; i++) {
            onyx_node_info nd;
            onyx_model_node(m, i, &nd);
            best[i] = -1;
            for (int o = 0; o < nd.n_outputs; o++)
                for (int k = 0; k < n_out; k++) {
                    onyx_value_info v;
                    onyx_model_output(m, k, &v);
                    if (!strcmp(v.name, nd.outputs[o])) {
                        node_of[k] = i;
                        if (best[i] < 0 || dr[k].max_abs > dr[best[i]].max_abs) best[i] = k;
                        if (dr[k].bad && first < 0) first = i;
                    }
                }
        }
        int missing = 0;
        for (int k = n_orig; k < n_out; k++) missing += dr[k].missing;
        printf("bisect: %d intermediate values compared in node order (rtol %g, atol %g against max|ref|)%s\n",
               n_out - n_orig, rtol, atol, missing ? "" : "");
        if (missing) printf("  (%d values the reference did not produce were skipped)\n", missing);
        if (first < 0) {
            printf("no node differs from the reference beyond tolerance\n");
        } else {
            rc = EXIT_MISMATCH;
            onyx_node_info nd;
            onyx_model_node(m, first, &nd);
            if (nd.name[0]) printf("first offending node: '%s' (%s)\n  inputs:", nd.name, nd.op_type);
            else printf("first offending node: the %s producing '%s'\n  inputs:", nd.op_type, nd.outputs[0]);
            for (int i = 0; i < nd.n_inputs; i++) {
                char sh[128] = "";
                const onyx_tensor *t = NULL;
                const char *kind = "";
                for (int k = 0; k < n_out && !t; k++) {
                    onyx_value_info v;
                    onyx_model_output(m, k, &v);
                    if (!strcmp(v.name, nd.inputs[i])) t = onyx_session_output(s, k);
                }
                for (int j = 0; j < in.n && !t; j++)
                    if (!strcmp(in.names[j], nd.inputs[i])) t = in.vals[j], kind = " (graph input)";
                if (!t && (t = onyx_model_initializer(m, nd.inputs[i]))) kind = " (initializer)";
                shape_str(t, sh, sizeof sh);
                printf("%s '%s' %s%s", i ? "," : "", nd.inputs[i], sh, kind);
            }
            int k = best[first];
            printf("\n  max_abs=%.3g max|ref|=%.3g relative=%.3g\n", dr[k].max_abs, dr[k].max_ref,
                   dr[k].max_abs / (dr[k].max_ref > 0 ? dr[k].max_ref : 1));
            /* the path: from the offender back through the input with the largest error */
            int path_nodes[4096], np = 0;
            for (int cur = first; cur >= 0 && np < 4096;) {
                path_nodes[np++] = cur;
                onyx_model_node(m, cur, &nd);
                int next = -1;
                double worst = -1;
                for (int i = 0; i < nd.n_inputs; i++)
                    for (int kk = 0; kk < n_out; kk++) {
                        onyx_value_info v;
                        onyx_model_output(m, kk, &v);
                        if (node_of[kk] >= 0 && node_of[kk] < cur && !strcmp(v.name, nd.inputs[i]) &&
                            dr[kk].max_abs / (dr[kk].max_ref > 0 ? dr[kk].max_ref : 1) > worst) {
                            worst = dr[kk].max_abs / (dr[kk].max_ref > 0 ? dr[kk].max_ref : 1);
                            next = node_of[kk];
                        }
                    }
                cur = next;
            }
            printf("error growth along the path to it (relative = max_abs / max|ref|):\n");
            printf("  %-40s %-18s %12s %12s\n", "node", "op", "max_abs", "relative");
            for (int i = np - 1; i >= 0; i--) {
                onyx_model_node(m, path_nodes[i], &nd);
                int kk = best[path_nodes[i]];
                if (kk < 0) continue;
                printf("  %-40s %-18s %12.3g %12.3g%s\n", nd.name[0] ? nd.name : nd.outputs[0], nd.op_type,
                       dr[kk].max_abs, dr[kk].max_abs / (dr[kk].max_ref > 0 ? dr[kk].max_ref : 1),
                       dr[kk].bad ? "  <- beyond tolerance" : "");
            }
        }
        free(node_of);
        free(best);
    }
    free(dr);
    inputs_free(&in);
    onyx_session_free(s);
    onyx_model_free(m);
    snprintf(path, sizeof path, "rm -rf %s", tmp);
    if (system(path) != 0) fprintf(stderr, "onyx: could not remove %s\n", tmp);
    return rc;
}
