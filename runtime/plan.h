/* plan.h - the memory planner: arena offsets for activations from their
 * lifetimes in execution order (runtime/plan.c), and the executor hook that
 * hands kernels their planned slices (runtime/session.c). See docs/memory.md. */
#ifndef ONYX_PLAN_H
#define ONYX_PLAN_H

#include "../ops/kernel.h"

#include <stdbool.h>
#include <stddef.h>

#define PLAN_ALIGN 64

/* One activation buffer to place. Lifetimes are inclusive positions in the
 * execution order: made by the node at start, last read by the node at end.
 * Two buffers whose lifetimes intersect never share bytes, except that a
 * buffer with alias >= 0 reuses buffer alias in place (an elementwise node
 * writing over an input that dies there): both get one offset. */
typedef struct plan_buf {
    size_t size;        /* bytes; 0 = not in the arena */
    int start, end;
    int alias;          /* index of the buffer reused in place, or -1 */
    size_t offset;      /* out: byte offset in the arena (PLAN_ALIGN-aligned) */
} plan_buf;

/* Assigns offsets by greedy-by-size placement with best fit: the largest
 * buffers first, each into the smallest gap between the buffers already placed
 * that live at the same time, or above them. Returns the arena size in bytes,
 * or (size_t)-1 when out of memory or on size overflow. */
size_t plan_assign(plan_buf *bufs, int n);

/* For k_output (runtime/kernel_api.c): the planned storage of output i of the
 * node that is running, when dtype and shape match the plan; NULL otherwise
 * (the output is then heap-allocated). *zero says whether the bytes must be
 * zero-filled (false when the output reuses an input in place). */
void *session_planned_output(onyx_kctx *k, int i, onyx_dtype dtype, int rank, const int64_t *dims,
                             size_t *nbytes, bool *zero);

/* For k_input/k_input_unaligned/k_input_consumed while a session runs
 * prepare() (runtime/session.c): input i with an aligned array (made if need
 * be) or with its bytes where they lie; NULL when out of memory (the session
 * then fails). */
const onyx_tensor *session_prepare_input(const onyx_kctx *k, int i, bool aligned);
void session_prepare_consumed(onyx_kctx *k, int i);
/* For k_alloc_packed in a session's prepare(): bytes (64-byte aligned) from
 * the session's region for packed weights, after a header of PACKED_HEADER
 * bytes that is not PACKED_HEAP's tag. */
#define PACKED_HEADER 64
void *session_packed_alloc(const onyx_kctx *k, size_t bytes);

#endif
