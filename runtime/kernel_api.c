/* kernel_api.c - the helpers operator kernels use (ops/kernel.h). */
#include "../ops/kernel.h"
#include "plan.h"
#include "weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const onyx_tensor *k_input(const onyx_kctx *k, int i)
{
    if (i < 0 || i >= k->n_inputs) return NULL;
    return k->prep ? session_prepare_input(k, i, true) : k->inputs[i];
}

const onyx_tensor *k_input_unaligned(const onyx_kctx *k, int i)
{
    if (i < 0 || i >= k->n_inputs) return NULL;
    return k->prep ? session_prepare_input(k, i, false) : k->inputs[i];
}

void k_input_consumed(onyx_kctx *k, int i)
{
    if (k->prep && i >= 0 && i < k->n_inputs) session_prepare_consumed(k, i);
}

/* Every packed block starts PACKED_HEADER bytes after a header saying where it
 * came from, so k_free_packed knows what to do without being told. */
#define PACKED_HEAP 0x6f6e79787061636bull  /* big_alloc: free it */

void *k_alloc_packed(const onyx_kctx *k, size_t bytes)
{
    if (bytes > SIZE_MAX - PACKED_HEADER) return NULL;
    if (k && k->prep) return session_packed_alloc(k, bytes);
    unsigned char *p = big_alloc(bytes + PACKED_HEADER);
    if (!p) return NULL;
    uint64_t tag = PACKED_HEAP;
    memcpy(p, &tag, sizeof tag);
    return p + PACKED_HEADER;
}

void k_free_packed(void *p)
{
    if (!p) return;
    unsigned char *h = (unsigned char *)p - PACKED_HEADER;
    uint64_t tag;
    memcpy(&tag, h, sizeof tag);
    if (tag == PACKED_HEAP) free(h); /* else the session's region owns it */
}

bool k_output_wanted(const onyx_kctx *k, int i)
{
    return i >= 0 && i < k->n_outputs && k->outputs[i] != NULL;
}

static onyx_tensor *output_slot(onyx_kctx *k, int i)
{
    if (i >= 0 && i < k->n_outputs && k->outputs[i]) return k->outputs[i];
    int s = i < k->n_outputs ? i : i - k->n_outputs;
    if (s < 0 || s >= (int)(sizeof k->spare / sizeof k->spare[0])) return NULL;
    return &k->spare[s];
}

static onyx_tensor *output_alloc(onyx_kctx *k, int i, onyx_dtype dtype, int rank,
                                 const int64_t *dims, bool clear)
{
    onyx_tensor *t = output_slot(k, i);
    if (!t) {
        k_fail(k, ONYX_E_INVALID, "output %d out of range", i);
        return NULL;
    }
    if (rank < 0 || rank > ONYX_MAX_RANK) {
        k_fail(k, ONYX_E_LIMIT, "output %d has rank %d (limit %d)", i, rank, ONYX_MAX_RANK);
        return NULL;
    }
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0) {
            k_fail(k, ONYX_E_SHAPE, "output %d would have negative dimension %lld at axis %d", i,
                   (long long)dims[d], d);
            return NULL;
        }
    }
    /* the memory plan's slice when the declared shape is the planned one */
    size_t nbytes;
    bool zero;
    void *planned = k->exec ? session_planned_output(k, i, dtype, rank, dims, &nbytes, &zero) : NULL;
    if (planned) {
        tensor_release(t);
        t->kind = ONYX_KIND_TENSOR;
        t->dtype = dtype;
        t->rank = rank;
        for (int d = 0; d < rank; d++) t->dims[d] = dims[d];
        t->nbytes = nbytes;
        t->data = planned;
        t->owns_data = false;
        if (zero && clear) memset(planned, 0, nbytes ? nbytes : onyx_dtype_size(dtype));
        return t;
    }
    if (!tensor_reshape_alloc(t, dtype, rank, dims)) {
        int64_t n = tensor_numel_of(rank, dims);
        k_fail(k, n < 0 || n > ONYX_MAX_TENSOR_BYTES ? ONYX_E_LIMIT : ONYX_E_NOMEM,
               "cannot allocate output %d (%s, %lld elements)", i, onyx_dtype_name(dtype),
               (long long)n);
        return NULL;
    }
    return t;
}

onyx_tensor *k_output(onyx_kctx *k, int i, onyx_dtype dtype, int rank, const int64_t *dims)
{
    return output_alloc(k, i, dtype, rank, dims, true);
}

/* Heap outputs still come from calloc (fresh pages are zero anyway); only the
 * planned slices skip the fill. */
onyx_tensor *k_output_uninit(onyx_kctx *k, int i, onyx_dtype dtype, int rank, const int64_t *dims)
{
    return output_alloc(k, i, dtype, rank, dims, false);
}

k_scratch_buf *k_scratch(const onyx_kctx *k, int slot, k_scratch_buf *own)
{
    if (k && k->scratch && slot >= 0 && slot < K_SCRATCH_SLOTS) return &k->scratch[slot];
    return own;
}

bool k_scratch_reserve(k_scratch_buf *b, size_t n)
{
    if (n <= b->floats) return true;
    /* the byte count must fit size_t (32-bit targets) and onyx's tensor limit */
    const uint64_t max_floats = (uint64_t)ONYX_MAX_TENSOR_BYTES / sizeof(float);
    if (n > (SIZE_MAX - 64) / sizeof(float) || (uint64_t)n > max_floats) return false;
    /* the old contents are not kept: free first, so old and new never coexist */
    k_scratch_free(b);
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) return false;
    b->data = p;
    b->floats = n;
    return true;
}

void k_scratch_free(k_scratch_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->floats = 0;
}

onyx_tensor *k_output_sequence(onyx_kctx *k, int i, onyx_dtype elem_dtype)
{
    onyx_tensor *t = output_slot(k, i);
    if (!t) {
        k_fail(k, ONYX_E_INVALID, "output %d out of range", i);
        return NULL;
    }
    tensor_release(t);
    t->kind = ONYX_KIND_SEQUENCE;
    t->dtype = elem_dtype;
    t->owns_data = true;
    return t;
}

onyx_status k_output_none(onyx_kctx *k, int i)
{
    onyx_tensor *t = output_slot(k, i);
    if (!t) return k_fail(k, ONYX_E_INVALID, "output %d out of range", i);
    onyx_dtype dt = t->dtype;
    tensor_release(t);
    t->kind = ONYX_KIND_NONE;
    t->dtype = dt;
    return ONYX_OK;
}

onyx_status k_fail(onyx_kctx *k, onyx_status code, const char *fmt, ...)
{
    if (k->err && k->err->code == ONYX_OK) {
        k->err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(k->err->message, sizeof k->err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

onyx_status k_require(onyx_kctx *k, int i, ...)
{
    const onyx_tensor *t = k_input(k, i);
    if (!t) return k_fail(k, ONYX_E_INVALID, "input %d is required", i);
    if (t->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input %d must be a tensor", i);
    va_list ap;
    va_start(ap, i);
    char allowed[256] = "";
    size_t used = 0;
    for (;;) {
        onyx_dtype d = va_arg(ap, onyx_dtype);
        if (d == ONYX_UNDEFINED) break;
        if (d == t->dtype) {
            va_end(ap);
            return ONYX_OK;
        }
        int w = snprintf(allowed + used, sizeof allowed - used, "%s%s", used ? ", " : "",
                         onyx_dtype_name(d));
        if (w > 0 && (size_t)w < sizeof allowed - used) used += (size_t)w;
    }
    va_end(ap);
    return k_fail(k, ONYX_E_UNSUPPORTED, "input %d has type %s (supported: %s)", i,
                  onyx_dtype_name(t->dtype), allowed);
}

const onyx_attr *k_attr(const onyx_kctx *k, const char *name)
{
    for (int i = 0; i < k->n_attrs; i++)
        if (strcmp(k->attrs[i].name, name) == 0) return &k->attrs[i];
    return NULL;
}

int64_t k_attr_int(const onyx_kctx *k, const char *name, int64_t def)
{
    const onyx_attr *a = k_attr(k, name);
    return a && a->type == ATTR_INT ? a->i : def;
}

float k_attr_float(const onyx_kctx *k, const char *name, float def)
{
    const onyx_attr *a = k_attr(k, name);
    if (a && a->type == ATTR_FLOAT) return a->f;
    if (a && a->type == ATTR_INT) return (float)a->i;
    return def;
}

const char *k_attr_string(const onyx_kctx *k, const char *name, const char *def)
{
    const onyx_attr *a = k_attr(k, name);
    return a && a->type == ATTR_STRING ? a->s : def;
}

int k_attr_ints(const onyx_kctx *k, const char *name, const int64_t **out)
{
    const onyx_attr *a = k_attr(k, name);
    if (!a || a->type != ATTR_INTS) return -1;
    *out = a->ints;
    return a->n;
}

int k_attr_floats(const onyx_kctx *k, const char *name, const float **out)
{
    const onyx_attr *a = k_attr(k, name);
    if (!a || a->type != ATTR_FLOATS) return -1;
    *out = a->floats;
    return a->n;
}

bool dtype_is_float(onyx_dtype t)
{
    return t == ONYX_FLOAT || t == ONYX_DOUBLE || t == ONYX_FLOAT16 || t == ONYX_BFLOAT16;
}

bool dtype_is_int(onyx_dtype t)
{
    switch (t) {
    case ONYX_INT8: case ONYX_UINT8: case ONYX_INT16: case ONYX_UINT16:
    case ONYX_INT32: case ONYX_UINT32: case ONYX_INT64: case ONYX_UINT64:
        return true;
    default:
        return false;
    }
}

bool dtype_is_signed(onyx_dtype t)
{
    return t == ONYX_INT8 || t == ONYX_INT16 || t == ONYX_INT32 || t == ONYX_INT64 ||
           dtype_is_float(t);
}

double k_get_f64(const onyx_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case ONYX_FLOAT: return ((const float *)p)[i];
    case ONYX_DOUBLE: return ((const double *)p)[i];
    case ONYX_FLOAT16: return f16_to_f32(((const uint16_t *)p)[i]);
    case ONYX_BFLOAT16: return bf16_to_f32(((const uint16_t *)p)[i]);
    case ONYX_INT8: return ((const int8_t *)p)[i];
    case ONYX_UINT8: return ((const uint8_t *)p)[i];
    case ONYX_BOOL: return ((const uint8_t *)p)[i] != 0;
    case ONYX_INT16: return ((const int16_t *)p)[i];
    case ONYX_UINT16: return ((const uint16_t *)p)[i];
    case ONYX_INT32: return ((const int32_t *)p)[i];
    case ONYX_UINT32: return ((const uint32_t *)p)[i];
    case ONYX_INT64: return (double)((const int64_t *)p)[i];
    case ONYX_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0;
    }
}

/* Converting an out-of-range double to an integer type is undefined in C, so
 * integer stores saturate (NaN stores 0). */
static double clamp_to(double v, double lo, double hi)
{
    return v != v ? 0 : v < lo ? lo : v > hi ? hi : v;
}

void k_set_f64(onyx_tensor *t, int64_t i, double v)
{
    void *p = t->data;
    switch (t->dtype) {
    case ONYX_FLOAT: ((float *)p)[i] = (float)v; break;
    case ONYX_DOUBLE: ((double *)p)[i] = v; break;
    case ONYX_FLOAT16: ((uint16_t *)p)[i] = f32_to_f16((float)v); break;
    case ONYX_BFLOAT16: ((uint16_t *)p)[i] = f32_to_bf16((float)v); break;
    case ONYX_INT8: ((int8_t *)p)[i] = (int8_t)clamp_to(v, INT8_MIN, INT8_MAX); break;
    case ONYX_UINT8: ((uint8_t *)p)[i] = (uint8_t)clamp_to(v, 0, UINT8_MAX); break;
    case ONYX_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case ONYX_INT16: ((int16_t *)p)[i] = (int16_t)clamp_to(v, INT16_MIN, INT16_MAX); break;
    case ONYX_UINT16: ((uint16_t *)p)[i] = (uint16_t)clamp_to(v, 0, UINT16_MAX); break;
    case ONYX_INT32: ((int32_t *)p)[i] = (int32_t)clamp_to(v, INT32_MIN, INT32_MAX); break;
    case ONYX_UINT32: ((uint32_t *)p)[i] = (uint32_t)clamp_to(v, 0, UINT32_MAX); break;
    /* 2^63 and 2^64 are exact doubles; the largest doubles below them fit */
    case ONYX_INT64: ((int64_t *)p)[i] = (int64_t)clamp_to(v, -9223372036854775808.0, 9223372036854774784.0); break;
    case ONYX_UINT64: ((uint64_t *)p)[i] = (uint64_t)clamp_to(v, 0, 18446744073709549568.0); break;
    default: break;
    }
}

int64_t k_read_ints(const onyx_tensor *t, int64_t *out, int64_t max)
{
    if (!t || t->kind != ONYX_KIND_TENSOR || !dtype_is_int(t->dtype)) return -1;
    int64_t n = tensor_numel_of(t->rank, t->dims);
    if (n < 0 || n > max) return -1;
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == ONYX_INT64) out[i] = ((const int64_t *)t->data)[i];
        else if (t->dtype == ONYX_UINT64) out[i] = (int64_t)((const uint64_t *)t->data)[i];
        else out[i] = (int64_t)k_get_f64(t, i);
    }
    return n;
}

bool k_axis(int64_t axis, int rank, int *out)
{
    if (axis < -(int64_t)rank || axis >= rank) return false;
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

bool k_broadcast_shapes(int n, const onyx_tensor *const *ts, int *rank, int64_t *dims)
{
    int r = 0;
    for (int i = 0; i < n; i++)
        if (ts[i]->rank > r) r = ts[i]->rank;
    for (int d = 0; d < r; d++) {
        int64_t v = 1;
        for (int i = 0; i < n; i++) {
            int off = d - (r - ts[i]->rank);
            if (off < 0) continue;
            int64_t e = ts[i]->dims[off];
            if (e == 1) continue;
            if (v != 1 && v != e) return false;
            v = e;
        }
        /* a zero-sized dim broadcasts only against 1 or 0 */
        dims[d] = v;
    }
    *rank = r;
    return true;
}

void k_broadcast_strides(const onyx_tensor *t, int out_rank, const int64_t *out_dims,
                         int64_t *strides)
{
    int64_t s = 1;
    for (int d = out_rank - 1; d >= 0; d--) {
        int off = d - (out_rank - t->rank);
        if (off < 0 || t->dims[off] == 1 || out_dims[d] == 1) {
            strides[d] = 0; /* broadcast (or size-1) dimension: never advances */
            if (off >= 0) s *= t->dims[off];
            continue;
        }
        strides[d] = s;
        s *= t->dims[off];
    }
}
