/* qeval.h - judging a quantized model against its float parent, shared by
 * onyx quantize --report and onyx verify --parent: per-output agreement
 * (cosine, max abs error, top-1/top-5 for logits, PSNR for images) and
 * per-layer SQNR of a QDQ model (the error each quantized activation adds,
 * and the error accumulated at each quantized layer's output). */
#ifndef ONYX_QEVAL_H
#define ONYX_QEVAL_H

#include "cli.h"

#include <math.h>
#include <stdint.h>

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


/* One output of the quantized model against the float model's, over many inputs. */
typedef struct outmetric {
    const char *name;
    double dot, na, nb, sumsq_err, max_abs, max_ref, min_cos, cos_sum;
    int64_t n, samples;
    bool classifier, image;
    int64_t rows, top1, top5;
} outmetric;

typedef struct rowsort {
    int idx;
    double key;
} rowsort;

/* Reads the QDQ model: which activations are quantized (and how) and which
 * nodes read a DequantizeLinear output. False when out of memory. */
bool qe_scan(const onyx_model *q, evalstate *e);
void qe_free(evalstate *e);
/* Observers: on the float model (fake-quantizes the quantized activations,
 * keeps the quantized layers' float outputs) and on the QDQ model (compares
 * its layers' outputs with them); ud is the evalstate. */
void qe_on_float(void *ud, const onyx_node_info *node, double seconds, int n_inputs,
                 const onyx_tensor *const *ins, int n_outputs, const onyx_tensor *const *outs);
void qe_on_qdq(void *ud, const onyx_node_info *node, double seconds, int n_inputs,
               const onyx_tensor *const *ins, int n_outputs, const onyx_tensor *const *outs);
/* Accumulates one input's output q (quantized model) against f (float). */
void qe_out_acc(outmetric *o, const onyx_tensor *q, const onyx_tensor *f);
onyx_tensor *qe_clone(const onyx_tensor *t);
int qe_cmp_row(const void *x, const void *y);
double qe_db(double sig, double noise);
/* Whole-run figures of an output. */
double qe_cosine(const outmetric *o);
double qe_psnr(const outmetric *o);
/* The layers sorted by input SQNR, worst first (rows: e->n_layers entries);
 * returns how many. */
int qe_layer_rows(const evalstate *e, rowsort *rows);
/* The per-output table (markdown) and the per-layer table, worst first (at
 * most max_rows rows, 0 = all). */
void qe_print_outputs_md(FILE *f, const outmetric *om, int n_out);
void qe_print_layers_md(FILE *f, const evalstate *e, const rowsort *rows, int nr, int max_rows);

#endif
