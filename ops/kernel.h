/* kernel.h - what an operator implementation sees.
 *
 * Kernels know nothing about graphs. An operator is a run function that reads
 * its inputs and attributes from an onyx_kctx, validates them, declares each
 * output's type and shape with k_output() (which allocates it), and fills it.
 * Errors are values: k_fail() records a message (the executor prefixes the node
 * name and op type) and returns the status for the kernel to return.
 */
#ifndef ONYX_KERNEL_H
#define ONYX_KERNEL_H

#include "../runtime/tensor.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct onyx_graph;

typedef enum onyx_attr_type {
    ATTR_UNDEFINED = 0,
    ATTR_FLOAT = 1,
    ATTR_INT = 2,
    ATTR_STRING = 3,
    ATTR_TENSOR = 4,
    ATTR_GRAPH = 5,
    ATTR_FLOATS = 6,
    ATTR_INTS = 7,
    ATTR_STRINGS = 8,
    ATTR_TENSORS = 9,
    ATTR_GRAPHS = 10,
    ATTR_SPARSE_TENSOR = 11,
    ATTR_SPARSE_TENSORS = 12,
    ATTR_TYPE_PROTO = 13,
    ATTR_TYPE_PROTOS = 14
} onyx_attr_type;

typedef struct onyx_attr {
    const char *name;
    onyx_attr_type type;
    float f;
    int64_t i;
    const char *s;          /* NUL-terminated copy; s_len bytes (may hold NULs) */
    size_t s_len;
    onyx_tensor *t;
    struct onyx_graph *g;
    int n;                  /* element count of the list forms */
    float *floats;
    int64_t *ints;
    char **strings;
    onyx_tensor **tensors;
    struct onyx_graph **graphs;
    /* sparse tensor and type attributes are not decoded: their AttributeProto
     * bytes are kept so the model writes back unchanged */
    const uint8_t *raw;
    size_t raw_len;
} onyx_attr;

typedef struct onyx_kctx onyx_kctx;

/* Runs a subgraph (If/Loop/Scan bodies). inputs bind to the subgraph's inputs in
 * order; outputs receive deep copies the caller owns (release them). */
typedef onyx_status (*onyx_subgraph_fn)(onyx_kctx *k, struct onyx_graph *g, int n_in,
                                        const onyx_tensor *const *inputs, int n_out,
                                        onyx_tensor *outputs);

struct onyx_threads;

/* A growable, 64-byte aligned float buffer (see k_scratch). */
typedef struct k_scratch_buf {
    float *data;
    size_t floats;
} k_scratch_buf;

/* The slots of the session's shared scratch. */
enum { K_SCRATCH_GEMM = 0, K_SCRATCH_IMAGE = 1, K_SCRATCH_SLOTS = 4 };

struct onyx_kctx {
    const char *node_name;
    const char *op_type;
    const char *domain;
    int opset;                        /* version of the node's domain */
    int n_attrs;
    const onyx_attr *attrs;
    int n_inputs;
    const onyx_tensor *const *inputs; /* NULL entries for omitted optional inputs */
    int n_outputs;
    onyx_tensor **outputs;            /* NULL entries for outputs nobody asked for */
    onyx_error *err;
    onyx_subgraph_fn run_subgraph;
    void *exec;                       /* executor state for run_subgraph */
    /* where k_output puts outputs beyond n_outputs; released after the node */
    onyx_tensor spare[8];
    void *state;                      /* what the op's prepare() made for this node */
    struct onyx_threads *threads;     /* the session's pool, for k_parallel_for */
    k_scratch_buf *scratch;           /* K_SCRATCH_SLOTS buffers the session owns, or NULL */
    struct session_prep *prep;        /* set while a session runs prepare() (k_input_consumed) */
};

typedef onyx_status (*onyx_kernel_fn)(onyx_kctx *k);

typedef struct onyx_op_def {
    const char *domain;    /* "" for the default ONNX domain */
    const char *name;
    onyx_kernel_fn run;
    /* Optional, called once per node when a session is created: inputs that are
     * initializers are present (the rest are NULL), outputs are not. Work that
     * depends only on weights and attributes (packing, transforms, kernel
     * choice) goes here and is kept in *state, which run() sees as k->state. */
    onyx_status (*prepare)(onyx_kctx *k, void **state);
    void (*release)(void *state);
} onyx_op_def;

/* The definition for (domain, name), or NULL (ops/registry.c). */
const onyx_op_def *onyx_find_op(const char *domain, const char *name);

/* ---- inputs, outputs, errors ---- */
const onyx_tensor *k_input(const onyx_kctx *k, int i);   /* NULL if absent */
/* Declares output i and allocates it (zero-filled). Returns NULL (with the error
 * set) on bad shape/out of memory; returns a scratch tensor that is discarded
 * when the output is not requested, so kernels can always write to it. */
onyx_tensor *k_output(onyx_kctx *k, int i, onyx_dtype dtype, int rank, const int64_t *dims);
/* k_output without the zero fill: the contents are undefined, so the kernel must
 * write every element of the output (use it only where that is certain). */
onyx_tensor *k_output_uninit(onyx_kctx *k, int i, onyx_dtype dtype, int rank, const int64_t *dims);
/* Output i as a sequence (items appended with onyx_sequence_append). */
onyx_tensor *k_output_sequence(onyx_kctx *k, int i, onyx_dtype elem_dtype);
/* Output i as an empty optional. */
onyx_status k_output_none(onyx_kctx *k, int i);
bool k_output_wanted(const onyx_kctx *k, int i);
onyx_status k_fail(onyx_kctx *k, onyx_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fails with a message naming the input unless input i is a tensor of one of the
 * listed dtypes (list ends with ONYX_UNDEFINED). */
onyx_status k_require(onyx_kctx *k, int i, ...);

/* ---- weights in prepare() ----
 * A weight (initializer input) may have no aligned array in memory: its bytes
 * lie unaligned in the mapped model file, or a graph pass derived it and it is
 * made when read. k_input() makes that array (a copy, shared, kept while the
 * session may read it). A prepare() that packs a weight reads it with
 * k_input_unaligned() instead and then calls k_input_consumed(), so the weight
 * costs memory once, packed: after every reader of it has said so, the session
 * frees its copy and gives its file pages back (docs/memory.md). */

/* Input i as k_input() gives it, but with data where the bytes lie, which may
 * not be aligned for the element type: read them only with memcpy,
 * k_load_f32() or gemm_pack_a/gemm_pack_b (ops/gemm.h). A weight in the file
 * is not copied (a derived one is made, into a buffer the next one reuses). */
const onyx_tensor *k_input_unaligned(const onyx_kctx *k, int i);
/* prepare() only: input i is packed into the state and run() never reads its
 * data (run() sees its dtype and dims, with data NULL). Say it only when the
 * packed path is the one run() takes for every input it can be given. Outside
 * a session (unit tests, constant folding) it does nothing. */
void k_input_consumed(onyx_kctx *k, int i);
/* Memory for packed weights, 64-byte aligned, released with k_free_packed
 * (never free()). In a session's prepare() it comes from one region per
 * session in transparent huge pages where the OS has them (a page fault per
 * 4 KB is otherwise most of what creating a session costs) and is freed with
 * the session, so k_free_packed does nothing to it; elsewhere it is the heap. */
void *k_alloc_packed(const onyx_kctx *k, size_t bytes);
void k_free_packed(void *p);
/* Element i of float32 bytes at any alignment. */
static inline float k_load_f32(const void *p, int64_t i)
{
    float v;
    memcpy(&v, (const unsigned char *)p + i * (int64_t)sizeof v, sizeof v);
    return v;
}

/* ---- attributes ---- */
const onyx_attr *k_attr(const onyx_kctx *k, const char *name);
int64_t k_attr_int(const onyx_kctx *k, const char *name, int64_t def);
float k_attr_float(const onyx_kctx *k, const char *name, float def);
const char *k_attr_string(const onyx_kctx *k, const char *name, const char *def);
/* Number of ints (and *out) or -1 when the attribute is missing. */
int k_attr_ints(const onyx_kctx *k, const char *name, const int64_t **out);
int k_attr_floats(const onyx_kctx *k, const char *name, const float **out);

/* ---- scratch ---- */
/* Run-time scratch shared by every node of a session: slot `slot` of the
 * session's buffers (kept for the session's life, grown to the largest request,
 * freed with the session), or `own` when the kernel runs outside a session
 * (tests, constant folding), which the caller then frees. Kernels of a session
 * run one at a time, so a buffer is the running kernel's until it returns; the
 * threads inside a kernel must use disjoint parts. Nothing in it survives from
 * one node to the next. A kernel that runs a subgraph must not hold a slot
 * across that call. */
k_scratch_buf *k_scratch(const onyx_kctx *k, int slot, k_scratch_buf *own);
/* Makes b hold at least n floats (64-byte aligned, contents not kept); false on
 * out of memory. */
bool k_scratch_reserve(k_scratch_buf *b, size_t n);
void k_scratch_free(k_scratch_buf *b);

/* ---- threads ---- */
/* Runs fn over [0, n) split into contiguous chunks, one per thread of the
 * session (static partitioning: the split depends only on n and the thread
 * count, so results never depend on timing). Runs inline with one thread. */
typedef void (*onyx_range_fn)(void *arg, int64_t begin, int64_t end);
void k_parallel_for(const onyx_kctx *k, int64_t n, onyx_range_fn fn, void *arg);
int k_num_threads(const onyx_kctx *k);

/* Work units [0, n) for the thread slots of one k_parallel_for(k, threads,
 * ...): slot t runs its own contiguous share in order (the static split,
 * which keeps neighbouring units on one core), then takes what is left of
 * the other shares, so a thread the machine delays (another process, an
 * interrupt) does not hold up the whole region: the others finish its
 * share. Only for units whose results do not depend on which thread runs
 * them (each output computed by one unit, per-thread scratch indexed by the
 * slot), so results stay identical for any thread count and any timing.
 * n must fit in an int. */
#define K_WORK_SHARES 64
typedef struct k_work_share {
    _Atomic int next;
    int end;
    char pad[56];        /* one cache line per share: no false sharing */
} k_work_share;
typedef struct k_worklist {
    int shares;
    k_work_share share[K_WORK_SHARES];
} k_worklist;
void k_worklist_init(k_worklist *w, int64_t n, int threads);
/* The next unit for slot t in *unit; false when every unit is taken. */
bool k_worklist_next(k_worklist *w, int t, int64_t *unit);

/* ---- CPU features (detected once; ONYX_ISA=generic|avx2|avx512 caps them) ---- */
typedef enum onyx_isa {
    ONYX_ISA_GENERIC = 0,
    ONYX_ISA_NEON = 1,      /* aarch64 Advanced SIMD */
    ONYX_ISA_AVX2 = 2,      /* AVX2 + FMA */
    ONYX_ISA_AVX512 = 3     /* AVX-512 F/BW/VL/DQ */
} onyx_isa;
typedef struct onyx_cpu {
    onyx_isa isa;           /* the best ISA allowed */
    bool avx512_vnni, avx_vnni, neon_dot;
    int cores;
} onyx_cpu;
const onyx_cpu *onyx_cpu_info(void);
const char *onyx_isa_name(onyx_isa isa);

/* ---- helpers shared by kernels ---- */
/* Reads an integer tensor (int8..uint64) into out[0..n); returns count or -1 if
 * the tensor is not integer or has more than max elements. */
int64_t k_read_ints(const onyx_tensor *t, int64_t *out, int64_t max);
/* Element i of any numeric tensor as double / stored from double. */
double k_get_f64(const onyx_tensor *t, int64_t i);
void k_set_f64(onyx_tensor *t, int64_t i, double v);
/* Normalizes a possibly negative axis against rank; false if out of range. */
bool k_axis(int64_t axis, int rank, int *out);
/* Multidirectional (numpy) broadcast of n shapes; false if incompatible. */
bool k_broadcast_shapes(int n, const onyx_tensor *const *ts, int *rank, int64_t *dims);
/* Strides (in elements) of t broadcast into out_rank/out_dims: 0 on broadcast dims. */
void k_broadcast_strides(const onyx_tensor *t, int out_rank, const int64_t *out_dims,
                         int64_t *strides);
bool dtype_is_float(onyx_dtype t);   /* float, double, float16, bfloat16 */
bool dtype_is_int(onyx_dtype t);     /* signed or unsigned integer (not bool) */
bool dtype_is_signed(onyx_dtype t);

#endif
