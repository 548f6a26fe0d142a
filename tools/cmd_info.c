/* cmd_info.c - onyx info MODEL: opsets, inputs/outputs, op histogram, parameters. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- info */

static void print_op(const char *domain, const char *op, int count, void *ud)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", domain, domain[0] ? "." : "", op);
    printf("  %-28s %d\n", full, count);
}

int cmd_info(int argc, char **argv)
{
    if (argc != 1) return usage();
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_file(argv[0], &m, &err) != ONYX_OK) return report(argv[0], &err);
    onyx_model_summary s;
    onyx_model_get_summary(m, &s);
    struct stat st;
    printf("model:       %s (%lld bytes)\n", argv[0], stat(argv[0], &st) == 0 ? (long long)st.st_size : -1LL);
    printf("ir_version:  %lld\nproducer:    %s\n", (long long)s.ir_version, s.producer);
    printf("opsets:     ");
    for (int i = 0; i < onyx_model_num_opsets(m); i++) {
        const char *d;
        int64_t v;
        onyx_model_opset(m, i, &d, &v);
        printf(" %s=%lld", d[0] ? d : "ai.onnx", (long long)v);
    }
    printf("\ninputs:\n");
    for (int i = 0; i < onyx_model_num_inputs(m); i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        printf("  %-28s ", v.name);
        print_dims(stdout, &v);
        printf("\n");
    }
    printf("outputs:\n");
    for (int i = 0; i < onyx_model_num_outputs(m); i++) {
        onyx_value_info v;
        onyx_model_output(m, i, &v);
        printf("  %-28s ", v.name);
        print_dims(stdout, &v);
        printf("\n");
    }
    printf("nodes:       %d\ninitializers: %d\nparameters:  %lld\nweight bytes: %lld\nops:\n", s.n_nodes,
           s.n_initializers, (long long)s.n_params, (long long)s.weight_bytes);
    onyx_model_op_histogram(m, print_op, NULL);
    onyx_model_free(m);
    return 0;
}
