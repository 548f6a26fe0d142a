/* cmd_optimize.c - onyx optimize MODEL -o OUT.onnx [--passes a,b,...]
 *                  [--standard-ops] [--dump DIR]
 *
 * Runs the graph passes, prints one line per pass (nodes before -> after and
 * what it fused) and writes the result as ONNX. --standard-ops keeps to
 * standard ONNX operators so any runtime can run the output. --dump writes the
 * graph before the first pass and after every pass as text (NN_pass.txt) and
 * Graphviz (NN_pass.dot). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct dump_state {
    const char *dir;
    int step;
    int failed;
} dump_state;

static void dot_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
}

static void write_dump(dump_state *d, const char *label, const onyx_model *m)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%02d_%s.txt", d->dir, d->step, label);
    FILE *t = fopen(path, "w");
    snprintf(path, sizeof path, "%s/%02d_%s.dot", d->dir, d->step, label);
    FILE *g = fopen(path, "w");
    d->step++;
    if (!t || !g) {
        if (t) fclose(t);
        if (g) fclose(g);
        d->failed = 1;
        return;
    }
    fprintf(g, "digraph \"%s\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n", label);
    int n = onyx_model_num_nodes(m);
    for (int i = 0; i < onyx_model_num_inputs(m); i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        fprintf(t, "input %s: ", v.name);
        print_dims(t, &v);
        fprintf(t, "\n");
        fprintf(g, "  \"v:");
        dot_escape(g, v.name);
        fprintf(g, "\" [shape=ellipse, label=\"");
        dot_escape(g, v.name);
        fprintf(g, "\"];\n");
    }
    for (int i = 0; i < n; i++) {
        onyx_node_info ni;
        onyx_model_node(m, i, &ni);
        fprintf(t, "%4d %s%s%s(", i, ni.domain, ni.domain[0] ? "." : "", ni.op_type);
        for (int k = 0; k < ni.n_inputs; k++) fprintf(t, "%s%s", k ? ", " : "", ni.inputs[k]);
        fprintf(t, ") -> ");
        for (int k = 0; k < ni.n_outputs; k++) fprintf(t, "%s%s", k ? ", " : "", ni.outputs[k]);
        fprintf(t, "\n");
        /* a node is drawn once; an edge goes from a value's producer, or from
         * the graph input, to every reader; constants are left out */
        fprintf(g, "  n%d [label=\"", i);
        dot_escape(g, ni.op_type);
        fprintf(g, "\"%s];\n", ni.domain[0] ? ", style=filled, fillcolor=\"#ffe6b3\"" : "");
        for (int k = 0; k < ni.n_inputs; k++) {
            if (!ni.inputs[k][0] || onyx_model_initializer(m, ni.inputs[k])) continue;
            int from = -1;
            for (int j = 0; j < i && from < 0; j++) {
                onyx_node_info pj;
                onyx_model_node(m, j, &pj);
                for (int o = 0; o < pj.n_outputs; o++)
                    if (!strcmp(pj.outputs[o], ni.inputs[k])) from = j;
            }
            if (from >= 0) fprintf(g, "  n%d -> n%d;\n", from, i);
            else {
                fprintf(g, "  \"v:");
                dot_escape(g, ni.inputs[k]);
                fprintf(g, "\" -> n%d;\n", i);
            }
        }
    }
    fprintf(t, "%d nodes\n", n);
    fprintf(g, "}\n");
    if (fclose(t) != 0) d->failed = 1;
    if (fclose(g) != 0) d->failed = 1;
}

static void on_pass(void *ud, const onyx_pass_report *r, const onyx_model *m)
{
    dump_state *d = ud;
    printf("  %-11s %5d -> %5d nodes  %s\n", r->pass, r->nodes_before, r->nodes_after, r->fused[0] ? r->fused : "-");
    if (d->dir) write_dump(d, r->pass, m);
}

int cmd_optimize(int argc, char **argv)
{
    if (argc < 1) return usage();
    const char *model_path = argv[0], *out = NULL;
    dump_state d = {0};
    onyx_optimize_options opt = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--passes") && i + 1 < argc) opt.passes = argv[++i];
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc) d.dir = argv[++i];
        else if (!strcmp(argv[i], "--standard-ops")) opt.standard_ops = 1;
        else return usage();
    }
    if (!out) return usage();
    if (d.dir && mkdir(d.dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "onyx: cannot create '%s': %s\n", d.dir, strerror(errno));
        return EXIT_ERROR;
    }
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_file(model_path, &m, &err) != ONYX_OK) return report(model_path, &err);
    printf("%s: %d nodes\n", model_path, onyx_model_num_nodes(m));
    if (d.dir) write_dump(&d, "input", m);
    opt.on_pass = on_pass;
    opt.ud = &d;
    int rc = 0;
    if (onyx_model_optimize(m, &opt, &err) != ONYX_OK) rc = report(model_path, &err);
    else if (onyx_model_save(m, out, &err) != ONYX_OK) rc = report(out, &err);
    else printf("wrote %s: %d nodes\n", out, onyx_model_num_nodes(m));
    if (!rc && d.failed) {
        fprintf(stderr, "onyx: could not write every dump file in '%s'\n", d.dir);
        rc = EXIT_ERROR;
    }
    onyx_model_free(m);
    return rc;
}

int optimize_for_run(onyx_model *m, const char *passes, const char *what)
{
    onyx_optimize_options opt = {.passes = passes, .runnable_only = 1};
    onyx_error err;
    if (onyx_model_optimize(m, &opt, &err) != ONYX_OK) return report(what, &err);
    return 0;
}
