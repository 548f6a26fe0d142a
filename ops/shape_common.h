/* shape_common.h - element movement shared by the shape, gather and layout families.
 *
 * These operators move elements without looking at them, so they work on every
 * dtype: an element is onyx_dtype_size() bytes, except strings, which are
 * duplicated so that each tensor owns its own (an output's string slot starts as
 * an allocated "" that is freed when replaced).
 */
#ifndef ONYX_SHAPE_COMMON_H
#define ONYX_SHAPE_COMMON_H

#include "kernel.h"

#include <stdlib.h>

/* Views built by these ops may split every dim in two (Tile, DepthToSpace). */
#define SHP_MAX_DIMS (2 * ONYX_MAX_RANK)

static inline int64_t shp_numel(const onyx_tensor *t)
{
    return tensor_numel_of(t->rank, t->dims);
}

/* Input i, which must be present and a tensor of a dtype with a known element
 * size; NULL with the error set otherwise. */
static inline const onyx_tensor *shp_tensor_in(onyx_kctx *k, int i)
{
    const onyx_tensor *t = k_input(k, i);
    if (!t) {
        k_fail(k, ONYX_E_INVALID, "input %d is required", i);
        return NULL;
    }
    if (t->kind != ONYX_KIND_TENSOR) {
        k_fail(k, ONYX_E_INVALID, "input %d must be a tensor, not a %s", i,
               t->kind == ONYX_KIND_SEQUENCE ? "sequence" : "empty optional");
        return NULL;
    }
    if (onyx_dtype_size(t->dtype) == 0) {
        k_fail(k, ONYX_E_UNSUPPORTED, "input %d has unsupported type %s", i,
               onyx_dtype_name(t->dtype));
        return NULL;
    }
    return t;
}

static inline onyx_status shp_nomem(onyx_kctx *k)
{
    return k_fail(k, ONYX_E_NOMEM, "out of memory copying string elements");
}

/* Reads integer input i (rank 0 or 1, at most max elements) into out.
 * Returns the count, or -1 with the error set. */
static inline int shp_int_list_in(onyx_kctx *k, int i, const char *what, int64_t *out, int max)
{
    const onyx_tensor *t = k_input(k, i);
    if (!t || t->kind != ONYX_KIND_TENSOR) {
        k_fail(k, ONYX_E_INVALID, "input %d (%s) must be a tensor", i, what);
        return -1;
    }
    if (!dtype_is_int(t->dtype)) {
        k_fail(k, ONYX_E_INVALID, "input %d (%s) must be an integer tensor, not %s", i, what,
               onyx_dtype_name(t->dtype));
        return -1;
    }
    if (t->rank > 1) {
        k_fail(k, ONYX_E_SHAPE, "input %d (%s) must be 1-D, has rank %d", i, what, t->rank);
        return -1;
    }
    int64_t n = shp_numel(t);
    if (n < 0 || n > max) {
        k_fail(k, ONYX_E_LIMIT, "input %d (%s) has %lld elements (limit %d)", i, what,
               (long long)n, max);
        return -1;
    }
    return (int)k_read_ints(t, out, max);
}

/* Integer element i of an int32/int64 tensor (callers check the dtype). */
static inline int64_t shp_index_at(const onyx_tensor *t, int64_t i)
{
    return t->dtype == ONYX_INT32 ? ((const int32_t *)t->data)[i]
                                  : ((const int64_t *)t->data)[i];
}

/* Copies n consecutive elements src[si..] to dst[di..]. False when out of memory. */
static inline bool shp_copy(onyx_tensor *dst, int64_t di, const onyx_tensor *src, int64_t si,
                            int64_t n)
{
    if (n <= 0) return true;
    if (src->dtype == ONYX_STRING) {
        char **d = (char **)dst->data + di;
        char *const *s = (char *const *)src->data + si;
        for (int64_t i = 0; i < n; i++) {
            char *c = strdup(s[i] ? s[i] : "");
            if (!c) return false;
            free(d[i]);
            d[i] = c;
        }
        return true;
    }
    size_t es = onyx_dtype_size(src->dtype);
    memmove((char *)dst->data + (size_t)di * es, (const char *)src->data + (size_t)si * es,
            (size_t)n * es);
    return true;
}

/* Sets dst[0..n) to element si of src, doubling the filled prefix so that large
 * fills are a few memcpy calls. */
static inline bool shp_fill(onyx_tensor *dst, int64_t n, const onyx_tensor *src, int64_t si)
{
    if (n <= 0) return true;
    if (src->dtype == ONYX_STRING) {
        for (int64_t i = 0; i < n; i++)
            if (!shp_copy(dst, i, src, si, 1)) return false;
        return true;
    }
    size_t es = onyx_dtype_size(src->dtype);
    char *d = dst->data;
    memcpy(d, (const char *)src->data + (size_t)si * es, es);
    int64_t done = 1;
    while (done < n) {
        int64_t c = done < n - done ? done : n - done;
        memcpy(d + (size_t)done * es, d, (size_t)c * es);
        done += c;
    }
    return true;
}

/* Row-major strides (in elements) of dims. */
static inline void shp_dense_strides(int n, const int64_t *dims, int64_t *strides)
{
    int64_t s = 1;
    for (int d = n - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
}

#define SHP_ELEM_LOOP(T)                                                                      \
    do {                                                                                      \
        T *dp = (T *)dst->data + dpos;                                                        \
        const T *sp = (const T *)src->data + spos;                                            \
        for (int64_t i = 0; i < inner; i++) dp[i * di] = sp[i * si];                          \
    } while (0)

/* Copies the n-dim view of src (start soff, element strides sstr, which may be 0 for
 * broadcast or negative for reversal) onto the view of dst (start doff, strides dstr).
 * Dims of size 1 are dropped and dims that are contiguous in both views merged, so
 * that the innermost loop is one memcpy whenever both sides allow. */
static inline bool shp_view_copy(onyx_tensor *dst, int64_t doff, const int64_t *dstr,
                                 const onyx_tensor *src, int64_t soff, const int64_t *sstr,
                                 int n, const int64_t *dims_in)
{
    int64_t dims[SHP_MAX_DIMS], ds[SHP_MAX_DIMS], ss[SHP_MAX_DIMS], idx[SHP_MAX_DIMS];
    int m = 0;
    for (int d = 0; d < n; d++) {
        if (dims_in[d] == 0) return true;
        if (dims_in[d] == 1) continue;
        if (m > 0 && ds[m - 1] == dstr[d] * dims_in[d] && ss[m - 1] == sstr[d] * dims_in[d]) {
            dims[m - 1] *= dims_in[d];
            ds[m - 1] = dstr[d];
            ss[m - 1] = sstr[d];
            continue;
        }
        dims[m] = dims_in[d];
        ds[m] = dstr[d];
        ss[m] = sstr[d];
        idx[m] = 0;
        m++;
    }
    if (m == 0) return shp_copy(dst, doff, src, soff, 1);
    /* Visiting order does not matter (each destination element is written once),
     * so when the source is contiguous along a longer dim than the destination's
     * innermost one (a transpose with a short last dim), loop over that dim
     * innermost: fewer, longer inner loops. */
    for (int j = 0; j < m - 1; j++) {
        if (ss[j] != 1 || dims[j] <= dims[m - 1]) continue;
        int64_t t0 = dims[j], t1 = ds[j], t2 = ss[j];
        for (int q = j; q < m - 1; q++) {
            dims[q] = dims[q + 1];
            ds[q] = ds[q + 1];
            ss[q] = ss[q + 1];
        }
        dims[m - 1] = t0;
        ds[m - 1] = t1;
        ss[m - 1] = t2;
        break;
    }
    int64_t inner = dims[m - 1], di = ds[m - 1], si = ss[m - 1];
    int64_t dpos = doff, spos = soff;
    size_t es = onyx_dtype_size(src->dtype);
    for (;;) {
        if (di == 1 && si == 1) {
            if (!shp_copy(dst, dpos, src, spos, inner)) return false;
        } else if (src->dtype == ONYX_STRING) {
            for (int64_t i = 0; i < inner; i++)
                if (!shp_copy(dst, dpos + i * di, src, spos + i * si, 1)) return false;
        } else {
            switch (es) {
            case 1: SHP_ELEM_LOOP(uint8_t); break;
            case 2: SHP_ELEM_LOOP(uint16_t); break;
            case 4: SHP_ELEM_LOOP(uint32_t); break;
            case 8: SHP_ELEM_LOOP(uint64_t); break;
            default:
                for (int64_t i = 0; i < inner; i++)
                    memcpy((char *)dst->data + (size_t)(dpos + i * di) * es,
                           (const char *)src->data + (size_t)(spos + i * si) * es, es);
            }
        }
        int d = m - 2;
        for (; d >= 0; d--) {
            dpos += ds[d];
            spos += ss[d];
            if (++idx[d] < dims[d]) break;
            dpos -= ds[d] * dims[d];
            spos -= ss[d] * dims[d];
            idx[d] = 0;
        }
        if (d < 0) return true;
    }
}

#undef SHP_ELEM_LOOP

/* shp_view_copy into a dense dst starting at element 0. */
static inline bool shp_gather_view(onyx_tensor *dst, const onyx_tensor *src, int64_t soff,
                                   const int64_t *sstr, int n, const int64_t *dims)
{
    int64_t dstr[SHP_MAX_DIMS];
    shp_dense_strides(n, dims, dstr);
    return shp_view_copy(dst, 0, dstr, src, soff, sstr, n, dims);
}

/* Constant padding of `planes` images of H x W floats into OH x OW, the
 * input at (top, left): OW >= left + W (rows are copied whole); rows outside
 * the input are the value, rows past OH are left out. Threaded when large
 * (ops/layout.c: Pad's 2-D path; the NCHW-input convolution's copy). */
void shp_pad_planes_f32(const onyx_kctx *k, const float *x, float *y, int64_t planes, int64_t H, int64_t W,
                        int64_t top, int64_t left, int64_t OH, int64_t OW, float value);

#endif
