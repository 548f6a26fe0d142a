/*
 * onyx.h - the whole public API of onyx, an ONNX inference runtime in C.
 *
 * Handles are opaque. Every call that can fail returns an onyx_status and, when
 * given an onyx_error, fills it with a message naming what is wrong and where
 * (byte offset, node, operator, attribute). The library never prints, aborts
 * or exits.
 */
#ifndef ONYX_H
#define ONYX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum onyx_status {
    ONYX_OK = 0,
    ONYX_E_IO,          /* file could not be opened or read */
    ONYX_E_PARSE,       /* malformed protobuf / ONNX message */
    ONYX_E_INVALID,     /* well-formed but inconsistent model or arguments */
    ONYX_E_UNSUPPORTED, /* valid ONNX that onyx does not implement */
    ONYX_E_SHAPE,       /* input shapes or types do not fit the model */
    ONYX_E_LIMIT,       /* a size, count or depth is over onyx's limits */
    ONYX_E_NOMEM        /* allocation failed */
} onyx_status;

typedef struct onyx_error {
    onyx_status code;
    char message[1024];
} onyx_error;

/* Element types; the numbers are ONNX's TensorProto.DataType values. */
typedef enum onyx_dtype {
    ONYX_UNDEFINED = 0,
    ONYX_FLOAT = 1,
    ONYX_UINT8 = 2,
    ONYX_INT8 = 3,
    ONYX_UINT16 = 4,
    ONYX_INT16 = 5,
    ONYX_INT32 = 6,
    ONYX_INT64 = 7,
    ONYX_STRING = 8,
    ONYX_BOOL = 9,
    ONYX_FLOAT16 = 10,
    ONYX_DOUBLE = 11,
    ONYX_UINT32 = 12,
    ONYX_UINT64 = 13,
    ONYX_COMPLEX64 = 14,
    ONYX_COMPLEX128 = 15,
    ONYX_BFLOAT16 = 16
} onyx_dtype;

/* What a value is: a tensor, a sequence of tensors, or an empty optional. */
typedef enum onyx_kind {
    ONYX_KIND_TENSOR = 0,
    ONYX_KIND_SEQUENCE = 1,
    ONYX_KIND_NONE = 2
} onyx_kind;

#define ONYX_MAX_RANK 12

typedef struct onyx_model onyx_model;
typedef struct onyx_session onyx_session;
typedef struct onyx_tensor onyx_tensor;

const char *onyx_status_name(onyx_status s);
const char *onyx_dtype_name(onyx_dtype t);
size_t onyx_dtype_size(onyx_dtype t); /* 0 for UNDEFINED/unknown */

/* ---- tensors (also used for sequences and empty optionals) ---- */
onyx_tensor *onyx_tensor_create(onyx_dtype dtype, int rank, const int64_t *dims);
onyx_tensor *onyx_sequence_create(onyx_dtype elem_dtype);
onyx_status onyx_sequence_append(onyx_tensor *seq, onyx_tensor *item); /* takes item */
void onyx_tensor_free(onyx_tensor *t);
onyx_kind onyx_tensor_kind(const onyx_tensor *t);
onyx_dtype onyx_tensor_dtype(const onyx_tensor *t);
int onyx_tensor_rank(const onyx_tensor *t);
const int64_t *onyx_tensor_dims(const onyx_tensor *t);
int64_t onyx_tensor_numel(const onyx_tensor *t);
void *onyx_tensor_data(onyx_tensor *t); /* char ** for ONYX_STRING */
int onyx_sequence_length(const onyx_tensor *t);
onyx_tensor *onyx_sequence_at(const onyx_tensor *t, int i);
/* TensorProto / SequenceProto / OptionalProto (.pb files of the ONNX test layout):
 * kind and optional say which message the bytes hold. *name_out (may be NULL)
 * receives the stored name, to free(). */
onyx_status onyx_value_load_pb(const void *buf, size_t len, onyx_kind kind, int optional,
                               onyx_tensor **out, char **name_out, onyx_error *err);
onyx_status onyx_value_save_pb(const onyx_tensor *t, const char *name, void **buf_out,
                               size_t *len_out, onyx_error *err);

/* ---- models ---- */
onyx_status onyx_model_load_file(const char *path, onyx_model **out, onyx_error *err);
onyx_status onyx_model_load_buffer(const void *buf, size_t len, onyx_model **out,
                                   onyx_error *err);
/* As onyx_model_load_buffer; external data paths are resolved against dir. */
onyx_status onyx_model_load_buffer_dir(const void *buf, size_t len, const char *dir,
                                       onyx_model **out, onyx_error *err);
void onyx_model_free(onyx_model *m);

/* A graph input or output as declared in the file. dims[i] < 0 means unknown;
 * dim_names[i] is the symbolic name (or NULL). */
typedef struct onyx_value_info {
    const char *name;
    onyx_kind kind;   /* ONYX_KIND_TENSOR or ONYX_KIND_SEQUENCE */
    int optional;     /* declared as optional(kind) */
    onyx_dtype dtype; /* element type (of the sequence's tensors for sequences) */
    int rank;         /* -1 when the rank is unknown */
    const int64_t *dims;
    const char *const *dim_names;
} onyx_value_info;

typedef struct onyx_model_summary {
    int64_t ir_version;
    int64_t opset;          /* default domain */
    const char *producer;
    int n_nodes;
    int n_initializers;
    int64_t n_params;       /* elements in initializers */
    int64_t weight_bytes;   /* bytes of initializer data */
} onyx_model_summary;

void onyx_model_get_summary(const onyx_model *m, onyx_model_summary *s);
int onyx_model_num_inputs(const onyx_model *m);  /* graph inputs that are not initializers */
int onyx_model_num_outputs(const onyx_model *m);
void onyx_model_input(const onyx_model *m, int i, onyx_value_info *info);
void onyx_model_output(const onyx_model *m, int i, onyx_value_info *info);
int onyx_model_num_opsets(const onyx_model *m);
void onyx_model_opset(const onyx_model *m, int i, const char **domain, int64_t *version);
/* Nodes of the main graph, in file order. */
typedef struct onyx_node_info {
    const char *name;
    const char *op_type;
    const char *domain;
    int n_inputs;
    const char *const *inputs;   /* "" for an omitted optional input */
    int n_outputs;
    const char *const *outputs;
} onyx_node_info;
int onyx_model_num_nodes(const onyx_model *m);
void onyx_model_node(const onyx_model *m, int i, onyx_node_info *info);
/* The initializer called name, or NULL. */
const onyx_tensor *onyx_model_initializer(const onyx_model *m, const char *name);

/* Calls fn once per distinct op type with the number of nodes (subgraphs included). */
void onyx_model_op_histogram(const onyx_model *m,
                             void (*fn)(const char *domain, const char *op, int count, void *ud),
                             void *ud);

/* Serializes the model as ONNX (*buf is malloc'ed) or writes it to a file. */
onyx_status onyx_model_serialize(const onyx_model *m, void **buf, size_t *len, onyx_error *err);
onyx_status onyx_model_save(const onyx_model *m, const char *path, onyx_error *err);
/* Makes every value a node of the main graph produces a graph output too,
 * appended after the existing outputs in node order (for bisecting numeric
 * drift against another runtime). Returns how many outputs were added. */
int onyx_model_expose_intermediates(onyx_model *m);

/* ---- graph optimization (runtime/passes/) ---- */
/* What one pass did: node counts and what it fused, e.g. "Conv+BatchNormalization x53". */
typedef struct onyx_pass_report {
    const char *pass;
    int nodes_before, nodes_after;
    const char *fused;      /* "" when nothing matched */
} onyx_pass_report;
/* Called after every pass with the model as that pass left it. */
typedef void (*onyx_pass_callback)(void *ud, const onyx_pass_report *r, const onyx_model *m);
typedef struct onyx_optimize_options {
    const char *passes;     /* comma-separated pass names; NULL = the default set */
    int standard_ops;       /* emit only standard ONNX ops (no ai.onyx fused nodes) */
    int runnable_only;      /* emit a fused op only when onyx has a kernel for it */
    onyx_pass_callback on_pass;
    void *ud;
} onyx_optimize_options;
/* Rewrites the model's main graph in place. Outputs keep their names and values
 * (within float rounding). opt may be NULL (default passes, fused ops allowed). */
onyx_status onyx_model_optimize(onyx_model *m, const onyx_optimize_options *opt, onyx_error *err);
/* The passes in the order they run: name and a one-line description; NULL past the end. */
const char *onyx_pass_name(int i, const char **description);

/* ---- post-training quantization (quant/, docs/quantization.md) ---- */
typedef enum onyx_calib_method {
    ONYX_CALIB_MINMAX = 0,      /* observed min and max */
    ONYX_CALIB_PERCENTILE = 1,  /* clip each tail at (100 - percentile)% of the values */
    ONYX_CALIB_ENTROPY = 2      /* threshold minimizing the KL divergence (TensorRT's method) */
} onyx_calib_method;
typedef struct onyx_quant_options {
    onyx_calib_method method;
    double percentile;          /* for ONYX_CALIB_PERCENTILE; 0 = 99.999 */
    int per_tensor_weights;     /* 0: one weight scale per output channel */
    int signed_activations;     /* activations int8 instead of uint8 (both asymmetric) */
    int weight_only;            /* int8 weights only, activations stay float (no calibration) */
    int dynamic;                /* with weight_only: MatMul/Gemm on 2-D constant weights quantize
                                   their activation at run time (DynamicQuantizeLinear ->
                                   MatMulInteger), the other ops weight-only */
    const char *exclude;        /* comma-separated node or output names kept in float */
    const char *op_types;       /* comma-separated; NULL = Conv,ConvTranspose,Gemm,MatMul */
    int no_bias_correction;     /* 0: fold the mean output shift the int8 weights cause into
                                   the bias of Conv/Gemm (needs calibration statistics) */
} onyx_quant_options;
/* Collects activation statistics for onyx_model_quantize by running a session of
 * the very model that will be quantized (same IR, same value names). */
typedef struct onyx_calibrator onyx_calibrator;
onyx_status onyx_calibrator_create(const onyx_model *m, const onyx_quant_options *opt,
                                   onyx_calibrator **out, onyx_error *err);
/* Runs s (a session of that model) on the inputs, adding every observed activation
 * the quantizer needs to the statistics. Replaces the session's observer while running. */
onyx_status onyx_calibrator_run(onyx_calibrator *c, onyx_session *s, int n_inputs,
                                const char *const *names, const onyx_tensor *const *inputs,
                                onyx_error *err);
/* The calibrated float range of an activation (0 when it was never observed). */
int onyx_calibrator_range(const onyx_calibrator *c, const char *name, float *lo, float *hi);
void onyx_calibrator_free(onyx_calibrator *c);
typedef struct onyx_quant_summary {
    int nodes_quantized;        /* ops whose inputs now come through DequantizeLinear */
    int nodes_excluded;         /* candidates kept in float by opt->exclude */
    int activations;            /* QuantizeLinear/DequantizeLinear pairs inserted */
    int weights;                /* int8 weight initializers */
    int biases;                 /* int32 bias initializers */
    int biases_corrected;       /* biases bias correction changed (or added) */
    int64_t init_bytes_before, init_bytes_after;
} onyx_quant_summary;
/* Rewrites m's main graph into standard QDQ ONNX: int8 symmetric weights (per
 * output channel unless per_tensor_weights) behind DequantizeLinear, int32 biases
 * (scale = x_scale * w_scale) when the activation is quantized, and a
 * QuantizeLinear -> DequantizeLinear pair on each calibrated activation input of
 * the quantized ops. c may be NULL only with weight_only (then no bias
 * correction either). sum may be NULL. */
onyx_status onyx_model_quantize(onyx_model *m, const onyx_calibrator *c,
                                const onyx_quant_options *opt, onyx_quant_summary *sum,
                                onyx_error *err);

/* ---- sessions ---- */
typedef struct onyx_session_options {
    int threads;        /* 0 = default */
    int no_memory_plan; /* 1: no arena, every activation on the heap (for comparisons) */
} onyx_session_options;

onyx_status onyx_session_create(const onyx_model *m, const onyx_session_options *opt,
                                onyx_session **out, onyx_error *err);
void onyx_session_free(onyx_session *s);
/* Runs the model. inputs[i] is bound to the graph input called names[i]. The
 * outputs stay owned by the session until the next run or free. */
onyx_status onyx_session_run(onyx_session *s, int n_inputs, const char *const *names,
                             const onyx_tensor *const *inputs, onyx_error *err);
/* Called after every node of the main graph runs, in execution order, with the
 * node, its wall time and its inputs and outputs (NULL for omitted ones). For
 * profilers and debuggers; fn must not keep the tensors. NULL turns it off. */
typedef void (*onyx_node_observer)(void *ud, const onyx_node_info *node, double seconds,
                                   int n_inputs, const onyx_tensor *const *inputs,
                                   int n_outputs, const onyx_tensor *const *outputs);
void onyx_session_set_observer(onyx_session *s, onyx_node_observer fn, void *ud);
/* The same for an observer that reads only the tensors' dtypes and shapes (a
 * profiler): elementwise nodes keep running in place, so the timings are those
 * of an unobserved run, and an in-place node's inputs may show its outputs. */
void onyx_session_set_shape_observer(onyx_session *s, onyx_node_observer fn, void *ud);
/* Threads the session runs kernels on. */
int onyx_session_threads(const onyx_session *s);

/* Memory plan. Activations of the main graph live in one arena whose offsets
 * come from their lifetimes (docs/memory.md). The plan is made when the
 * session is created (for inputs with static dims), by onyx_session_plan, and
 * again by a run whose input shapes differ from the planned ones. Values whose
 * shape is only known while running, and graph outputs, use the heap. */
size_t onyx_session_memory(const onyx_session *s); /* arena bytes of the current plan */
/* Plans for these input shapes now (inputs not named keep their declared
 * shapes), so onyx_session_memory is known before the first run. */
onyx_status onyx_session_plan(onyx_session *s, int n, const char *const *names, const int *ranks,
                              const int64_t *const *dims, onyx_error *err);
typedef struct onyx_memory_info {
    size_t arena_bytes;     /* the arena */
    size_t planned_bytes;   /* sum of the sizes of the tensors placed in it */
    int planned_values;     /* activations placed in the arena */
    int inplace_values;     /* of which reuse an input's bytes in place */
    int heap_values;        /* activations left to the heap (unknown shape, graph outputs) */
    int mismatched_values;  /* runs' outputs that were planned but came out another shape
                               (heap-allocated instead; a shape inference gap) */
} onyx_memory_info;
void onyx_session_memory_info(const onyx_session *s, onyx_memory_info *info);

int onyx_session_num_outputs(const onyx_session *s);
const char *onyx_session_output_name(const onyx_session *s, int i);
const onyx_tensor *onyx_session_output(const onyx_session *s, int i);

#ifdef __cplusplus
}
#endif
#endif
