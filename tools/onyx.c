/* onyx - command-line front end: the only place that prints or exits.
 *
 *   onyx info MODEL
 *   onyx run MODEL [-i NAME=FILE.pb]... [-o OUTDIR]
 *   onyx verify MODEL DIR [--rtol R] [--atol A] [--bisect]
 *   onyx profile MODEL [-i NAME=FILE.pb]... [--shape NAME=DIMS] [--threads N] [--runs N]
 *                [--sweep NAME=256,512] [--format md|json|csv] [--trace FILE] [--svg FILE]
 *
 * --bisect writes a copy of the model with every intermediate value exposed as
 * an output, runs the reference runtime on it ($ONYX_REFERENCE MODEL DIR, by
 * default `node models/ort_run.js`), runs onyx on the same file and names the
 * first node, in topological order, whose output differs beyond tolerance.
 *
 * verify exits 0 when every output is within tolerance, 1 on a mismatch and
 * 2 on an error (the message names the node, operator and reason). */
#include "cli.h"

#include <string.h>

int cmd_profile(int argc, char **argv); /* tools/cmd_profile.c */
int cmd_quantize(int argc, char **argv); /* tools/cmd_quantize.c */

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "verify")) return cmd_verify(argc - 2, argv + 2);
    if (!strcmp(argv[1], "optimize")) return cmd_optimize(argc - 2, argv + 2);
    if (!strcmp(argv[1], "profile")) return cmd_profile(argc - 2, argv + 2);
    if (!strcmp(argv[1], "quantize")) return cmd_quantize(argc - 2, argv + 2);
    return usage();
}

