/* quant.h - what the calibrator (quant/calib.c) and the QDQ rewrite (quant/qdq.c)
 * share: which nodes get quantized and which of their inputs are activations,
 * weights and biases. Both sides ask the same question of the same IR, so the
 * calibrator observes exactly the tensors the rewrite will quantize. */
#ifndef ONYX_QUANT_H
#define ONYX_QUANT_H

#include "../runtime/graph.h"
#include "../runtime/graph_edit.h"

#include <stdbool.h>

/* The plan for one node. Input slots are -1 when absent. */
typedef struct q_node_plan {
    int n_act;
    int act[2];         /* activation input slots to put behind Q -> DQ */
    int weight;         /* constant float weight slot (int8 behind DQ) */
    int axis;           /* per-channel axis of the weight, -1 for per tensor */
    int bias;           /* constant float bias slot (int32 behind DQ) */
    bool excluded;      /* a candidate the user keeps in float */
    int mean_axis;      /* for bias correction: channel axis of act[0] (1, or -1 = last); 0 = none */
} q_node_plan;

/* True when node i of g is a candidate for quantization; fills p. */
bool q_plan_node(const onyx_model *m, const onyx_graph *g, const onyx_node *n,
                 const onyx_quant_options *o, q_node_plan *p);

/* Calibrated range of an activation; false when it was never observed. */
bool q_calib_range(const onyx_calibrator *c, const char *name, float *lo, float *hi);

/* Per-channel mean of an activation over calibration (channel axis 1, or the
 * last axis when last_axis): copies n means into out; false when not collected. */
bool q_calib_mean(const onyx_calibrator *c, const char *name, bool last_axis, int64_t n, double *out);

/* Name lists ("a,b,c") */
bool q_list_has(const char *list, const char *name);

#endif
