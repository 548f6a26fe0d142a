/* elementwise.h - helpers shared by the elementwise families (unary.c, binary.c,
 * activation.c, cast.c): dtype lists for X-macros, a numpy-broadcast iterator
 * that hands contiguous rows to a row kernel, and half-precision chunking.
 *
 * Kernels are generated per dtype from one expression so that each inner loop
 * is a plain typed loop the compiler can vectorize; there is no per-element
 * dispatch. */
#ifndef ONYX_ELEMENTWISE_H
#define ONYX_ELEMENTWISE_H

#include "kernel.h"

#include <stdio.h>
#include <stdlib.h>

#define EW_ID(x) (x)

/* dtype facts per suffix, for the X-macro lists below */
#define EW_DT_f32 ONYX_FLOAT
#define EW_DT_f64 ONYX_DOUBLE
#define EW_DT_f16 ONYX_FLOAT16
#define EW_DT_bf16 ONYX_BFLOAT16
#define EW_DT_i8 ONYX_INT8
#define EW_DT_i16 ONYX_INT16
#define EW_DT_i32 ONYX_INT32
#define EW_DT_i64 ONYX_INT64
#define EW_DT_u8 ONYX_UINT8
#define EW_DT_u16 ONYX_UINT16
#define EW_DT_u32 ONYX_UINT32
#define EW_DT_u64 ONYX_UINT64
#define EW_DT_b ONYX_BOOL

/* X(suffix, storage type, compute type, load, store, ...): half types are
 * stored as bits and computed in float. */
#define EW_FLOAT_TYPES(X, ...)                                   \
    X(f32, float, float, EW_ID, EW_ID, __VA_ARGS__)              \
    X(f64, double, double, EW_ID, EW_ID, __VA_ARGS__)            \
    X(f16, uint16_t, float, f16_to_f32, f32_to_f16, __VA_ARGS__) \
    X(bf16, uint16_t, float, bf16_to_f32, f32_to_bf16, __VA_ARGS__)
#define EW_SINT_TYPES(X, ...)                           \
    X(i8, int8_t, int8_t, EW_ID, EW_ID, __VA_ARGS__)    \
    X(i16, int16_t, int16_t, EW_ID, EW_ID, __VA_ARGS__) \
    X(i32, int32_t, int32_t, EW_ID, EW_ID, __VA_ARGS__) \
    X(i64, int64_t, int64_t, EW_ID, EW_ID, __VA_ARGS__)
#define EW_UINT_TYPES(X, ...)                             \
    X(u8, uint8_t, uint8_t, EW_ID, EW_ID, __VA_ARGS__)    \
    X(u16, uint16_t, uint16_t, EW_ID, EW_ID, __VA_ARGS__) \
    X(u32, uint32_t, uint32_t, EW_ID, EW_ID, __VA_ARGS__) \
    X(u64, uint64_t, uint64_t, EW_ID, EW_ID, __VA_ARGS__)
#define EW_INT_TYPES(X, ...) EW_SINT_TYPES(X, __VA_ARGS__) EW_UINT_TYPES(X, __VA_ARGS__)
#define EW_NUM_TYPES(X, ...) EW_FLOAT_TYPES(X, __VA_ARGS__) EW_INT_TYPES(X, __VA_ARGS__)
#define EW_BOOL_TYPE(X, ...) X(b, uint8_t, uint8_t, EW_ID, EW_ID, __VA_ARGS__)

/* A row kernel computes n output elements y[0..n) from up to three operands;
 * operand j advances by s[j] elements per output element (0 = broadcast). */
#define EW_MAX_IN 3
typedef void (*ew_row_fn)(void *y, const void *const *in, const int64_t *s, int64_t n,
                          const void *ctx);

/* The broadcast of n operands into an output shape, with dimensions of size 1
 * dropped and neighbouring dimensions merged wherever every operand walks them
 * as one, so that same-shape, scalar and per-row/per-channel operands become a
 * few long rows. */
typedef struct ew_plan {
    int n;
    int rank; /* >= 1 */
    int64_t total;
    int64_t dims[ONYX_MAX_RANK];
    int64_t strides[EW_MAX_IN][ONYX_MAX_RANK];
} ew_plan;

static inline void ew_plan_init(ew_plan *p, int n, const onyx_tensor *const *ts, int out_rank,
                                const int64_t *out_dims)
{
    int64_t full[EW_MAX_IN][ONYX_MAX_RANK];
    p->n = n;
    p->rank = 0;
    p->total = tensor_numel_of(out_rank, out_dims);
    for (int j = 0; j < n; j++) k_broadcast_strides(ts[j], out_rank, out_dims, full[j]);
    for (int d = 0; d < out_rank; d++) {
        if (out_dims[d] == 1) continue;
        int last = p->rank - 1;
        bool merge = last >= 0;
        for (int j = 0; j < n && merge; j++)
            merge = p->strides[j][last] == full[j][d] * out_dims[d];
        if (merge) {
            p->dims[last] *= out_dims[d];
            for (int j = 0; j < n; j++) p->strides[j][last] = full[j][d];
        } else {
            p->dims[p->rank] = out_dims[d];
            for (int j = 0; j < n; j++) p->strides[j][p->rank] = full[j][d];
            p->rank++;
        }
    }
    if (p->rank == 0) {
        p->rank = 1;
        p->dims[0] = 1;
        for (int j = 0; j < n; j++) p->strides[j][0] = 0;
    }
}

/* Runs fn over every row of the plan. y is the contiguous output (element size
 * ysz); in[j] the operands (element sizes isz[j]). */
static inline void ew_plan_run(const ew_plan *p, void *y, size_t ysz, const void *const *in,
                               const size_t *isz, ew_row_fn fn, const void *ctx)
{
    if (p->total <= 0) return;
    int r = p->rank;
    int64_t inner = p->dims[r - 1], outer = p->total / inner;
    int64_t idx[ONYX_MAX_RANK] = {0}, off[EW_MAX_IN] = {0}, s[EW_MAX_IN] = {0};
    const void *cur[EW_MAX_IN] = {0};
    for (int j = 0; j < p->n; j++) s[j] = p->strides[j][r - 1];
    for (int64_t o = 0; o < outer; o++) {
        for (int j = 0; j < p->n; j++) cur[j] = (const char *)in[j] + off[j] * (int64_t)isz[j];
        fn((char *)y + o * inner * (int64_t)ysz, cur, s, inner, ctx);
        for (int d = r - 2; d >= 0; d--) {
            for (int j = 0; j < p->n; j++) off[j] += p->strides[j][d];
            if (++idx[d] < p->dims[d]) break;
            for (int j = 0; j < p->n; j++) off[j] -= p->strides[j][d] * p->dims[d];
            idx[d] = 0;
        }
    }
}

/* Row kernels of one operator indexed by dtype (NULL: unsupported). */
typedef ew_row_fn ew_table[ONYX_BFLOAT16 + 1];

/* Row kernel y[i] = EXPR(a, b) over a broadcast plan's row: the inner strides
 * are 0 (broadcast) or 1, and each case is its own loop so that same-shape,
 * scalar and per-row operands vectorize. */
#define EW_ROW2(name, TA, CT, LD, TY, CTY, STORE, EXPR)                            \
    static void name(void *y_, const void *const *in, const int64_t *s, int64_t n, \
                     const void *ctx)                                              \
    {                                                                              \
        const TA *A = in[0], *B = in[1];                                           \
        TY *Y = y_;                                                                \
        (void)ctx;                                                                 \
        if (s[0] && s[1]) {                                                        \
            for (int64_t i = 0; i < n; i++) {                                      \
                CT a = LD(A[i]), b = LD(B[i]);                                     \
                Y[i] = (TY)STORE((CTY)(EXPR));                                     \
            }                                                                      \
        } else if (s[0]) {                                                         \
            const CT b = LD(B[0]);                                                 \
            for (int64_t i = 0; i < n; i++) {                                      \
                CT a = LD(A[i]);                                                   \
                Y[i] = (TY)STORE((CTY)(EXPR));                                     \
            }                                                                      \
        } else if (s[1]) {                                                         \
            const CT a = LD(A[0]);                                                 \
            for (int64_t i = 0; i < n; i++) {                                      \
                CT b = LD(B[i]);                                                   \
                Y[i] = (TY)STORE((CTY)(EXPR));                                     \
            }                                                                      \
        } else {                                                                   \
            const CT a = LD(A[0]), b = LD(B[0]);                                   \
            const TY v = (TY)STORE((CTY)(EXPR));                                   \
            for (int64_t i = 0; i < n; i++) Y[i] = v;                              \
        }                                                                          \
    }

/* result in the operands' dtype */
#define EW_ARITH(sfx, T, CT, LD, ST, name, ...) \
    EW_ROW2(name##_##sfx, T, CT, LD, T, CT, ST, __VA_ARGS__)
/* bool result */
#define EW_CMP(sfx, T, CT, LD, ST, name, ...) \
    EW_ROW2(name##_##sfx, T, CT, LD, uint8_t, bool, EW_ID, __VA_ARGS__)
#define EW_ENTRY(sfx, T, CT, LD, ST, name) [EW_DT_##sfx] = name##_##sfx,

static inline void ew_shape_str(const onyx_tensor *t, char *buf, size_t cap)
{
    size_t used = 0;
    int w = snprintf(buf, cap, "[");
    if (w > 0) used = (size_t)w;
    for (int d = 0; d < t->rank && used < cap; d++) {
        w = snprintf(buf + used, cap - used, "%s%lld", d ? "," : "", (long long)t->dims[d]);
        if (w > 0) used += (size_t)w;
    }
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

static inline onyx_status ew_broadcast_or_fail(onyx_kctx *k, int n, const onyx_tensor *const *ts,
                                               int *rank, int64_t *dims)
{
    if (k_broadcast_shapes(n, ts, rank, dims)) return ONYX_OK;
    char msg[600] = "", one[128];
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        ew_shape_str(ts[i], one, sizeof one);
        int w = snprintf(msg + used, sizeof msg - used, "%s%s", i ? " and " : "", one);
        if (w < 0 || (size_t)w >= sizeof msg - used) break;
        used += (size_t)w;
    }
    return k_fail(k, ONYX_E_SHAPE, "input shapes %s cannot be broadcast together", msg);
}

/* The row kernel for input i's dtype, or a failure listing what is supported. */
static inline ew_row_fn ew_row_for(onyx_kctx *k, const ew_row_fn *rows, int i)
{
    onyx_dtype dt = k_input(k, i)->dtype;
    if ((unsigned)dt <= ONYX_BFLOAT16 && rows[dt]) return rows[dt];
    char list[256] = "";
    size_t used = 0;
    for (int d = 0; d <= ONYX_BFLOAT16; d++) {
        if (!rows[d]) continue;
        int w = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                         onyx_dtype_name((onyx_dtype)d));
        if (w < 0 || (size_t)w >= sizeof list - used) break;
        used += (size_t)w;
    }
    k_fail(k, ONYX_E_UNSUPPORTED, "input %d has type %s (supported: %s)", i,
           onyx_dtype_name(dt), list);
    return NULL;
}

/* Half-precision tensors go through float in chunks of this many elements. */
#define EW_CHUNK 256

static inline void ew_load_half(onyx_dtype dt, const uint16_t *src, float *dst, int64_t n)
{
    if (dt == ONYX_FLOAT16)
        for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(src[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}

static inline void ew_store_half(onyx_dtype dt, const float *src, uint16_t *dst, int64_t n)
{
    if (dt == ONYX_FLOAT16)
        for (int64_t i = 0; i < n; i++) dst[i] = f32_to_f16(src[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}

/* Float kernels: y[0..n) = f(x[0..n)); ctx carries the operator's parameters. */
typedef void (*ew_f32_fn)(const float *x, float *y, int64_t n, const void *ctx);
typedef void (*ew_f64_fn)(const double *x, double *y, int64_t n, const void *ctx);

/* Applies a float kernel to x (float, double, float16 or bfloat16) into y of
 * the same dtype and element count; half types go through float in chunks. */
static inline void ew_map_float(const onyx_tensor *x, onyx_tensor *y, ew_f32_fn f32,
                                ew_f64_fn f64, const void *ctx)
{
    int64_t n = tensor_numel_of(x->rank, x->dims);
    if (x->dtype == ONYX_FLOAT) {
        f32(x->data, y->data, n, ctx);
    } else if (x->dtype == ONYX_DOUBLE) {
        f64(x->data, y->data, n, ctx);
    } else {
        float buf[EW_CHUNK];
        const uint16_t *src = x->data;
        uint16_t *dst = y->data;
        for (int64_t i = 0; i < n; i += EW_CHUNK) {
            int64_t m = n - i < EW_CHUNK ? n - i : EW_CHUNK;
            ew_load_half(x->dtype, src + i, buf, m);
            f32(buf, buf, m, ctx);
            ew_store_half(x->dtype, buf, dst + i, m);
        }
    }
}

/* Requires input i to be a dense tensor (any dtype). */
static inline onyx_status ew_require_tensor(onyx_kctx *k, int i)
{
    const onyx_tensor *t = k_input(k, i);
    if (!t) return k_fail(k, ONYX_E_INVALID, "input %d is required", i);
    if (t->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input %d must be a tensor", i);
    return ONYX_OK;
}

#endif
