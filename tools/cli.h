/* cli.h - what the onyx command-line tool's commands share. Each command
 * lives in its own file (tools/cmd_*.c); tools/onyx.c dispatches. */
#ifndef ONYX_CLI_H
#define ONYX_CLI_H

#include "onyx.h"

#include <stdbool.h>
#include <stdio.h>

#define EXIT_MISMATCH 1
#define EXIT_ERROR 2

int usage(void);
int report(const char *what, const onyx_error *e);          /* prints, returns EXIT_ERROR */
void *read_file(const char *path, size_t *len);             /* malloc'ed, NULL on failure */
void print_dims(FILE *out, const onyx_value_info *v);

/* Inputs bound by name, owned. */
typedef struct inputs {
    int n;
    const char **names;
    onyx_tensor **vals;
} inputs;
void inputs_free(inputs *in);
int find_input(const onyx_model *m, const char *name);
/* Loads a .pb into in: input index (positional) unless its stored name says otherwise. */
int load_input_pb(const onyx_model *m, const char *path, int index, inputs *in);
/* Deterministic pseudo-random data for an input the user did not give. */
onyx_tensor *random_input(const onyx_value_info *v, int index);
int run_session(onyx_session *s, inputs *in, const char *what);
int count_files(const char *dir, const char *prefix);     /* DIR/PREFIX_0.pb, _1.pb, ... */

/* Comparing a result with a reference. */
typedef struct cmp {
    double max_abs, max_rel, max_ref, dot, na, nb;
    int64_t bad;        /* elements outside tolerance */
    int64_t first_bad;
    bool shape_mismatch;
    char why[256];
} cmp;
bool is_floaty(onyx_dtype t);
double elem(const onyx_tensor *t, int64_t i);
void compare_tensor(const onyx_tensor *got, const onyx_tensor *ref, double rtol, double atol, cmp *c);

int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_optimize(int argc, char **argv);
/* Optimizes m in place for running it here (fused ops only where onyx has
 * kernels); passes NULL = the default set. Prints and returns EXIT_ERROR on error. */
int optimize_for_run(onyx_model *m, const char *passes, const char *what);
int bisect(const char *model_path, const char *set, double rtol, double atol);

#endif
