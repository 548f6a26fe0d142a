/* gather.c - indexing operators: Gather, GatherElements, GatherND, Scatter,
 * ScatterElements, ScatterND, Compress, NonZero, OneHot. */
#include "shape_common.h"

#include <stdlib.h>

/* Indices input i: an int32/int64 tensor. */
static const onyx_tensor *indices_in(onyx_kctx *k, int i)
{
    const onyx_tensor *t = shp_tensor_in(k, i);
    if (t && t->dtype != ONYX_INT32 && t->dtype != ONYX_INT64) {
        k_fail(k, ONYX_E_INVALID, "input %d (indices) must be int32 or int64, not %s", i,
               onyx_dtype_name(t->dtype));
        return NULL;
    }
    return t;
}

/* Index j of t normalized against a dim of size n (negative counts from the end). */
static bool fetch_index(onyx_kctx *k, const onyx_tensor *t, int64_t j, int64_t n, int64_t *out)
{
    int64_t v = shp_index_at(t, j);
    if (v < -n || v >= n) {
        k_fail(k, ONYX_E_INVALID, "index %lld (at position %lld) out of range [%lld, %lld]",
               (long long)v, (long long)j, (long long)-n, (long long)(n - 1));
        return false;
    }
    *out = v < 0 ? v + n : v;
    return true;
}

static bool axis_attr(onyx_kctx *k, int rank, int *axis)
{
    int64_t a = k_attr_int(k, "axis", 0);
    if (k_axis(a, rank, axis)) return true;
    k_fail(k, ONYX_E_INVALID, "attribute 'axis' = %lld out of range for rank %d", (long long)a,
           rank);
    return false;
}

static onyx_status op_gather(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0), *ind = x ? indices_in(k, 1) : NULL;
    if (!ind) return k->err->code;
    int axis;
    if (x->rank < 1) return k_fail(k, ONYX_E_SHAPE, "data must have rank >= 1");
    if (!axis_attr(k, x->rank, &axis)) return k->err->code;
    int r = x->rank - 1 + ind->rank;
    if (r > ONYX_MAX_RANK)
        return k_fail(k, ONYX_E_LIMIT, "output rank %d over the limit %d", r, ONYX_MAX_RANK);
    int64_t dims[ONYX_MAX_RANK];
    int o = 0;
    for (int d = 0; d < axis; d++) dims[o++] = x->dims[d];
    for (int d = 0; d < ind->rank; d++) dims[o++] = ind->dims[d];
    for (int d = axis + 1; d < x->rank; d++) dims[o++] = x->dims[d];
    int64_t n = x->dims[axis], ni = shp_numel(ind);
    int64_t outer = tensor_numel_of(axis, x->dims);
    int64_t inner = tensor_numel_of(x->rank - axis - 1, x->dims + axis + 1);
    int64_t *idx = malloc((size_t)(ni ? ni : 1) * sizeof *idx);
    if (!idx) return k_fail(k, ONYX_E_NOMEM, "out of memory for %lld indices", (long long)ni);
    for (int64_t j = 0; j < ni; j++) {
        if (!fetch_index(k, ind, j, n, &idx[j])) {
            free(idx);
            return k->err->code;
        }
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, r, dims);
    if (!y) {
        free(idx);
        return k->err->code;
    }
    for (int64_t b = 0, yo = 0; b < outer; b++)
        for (int64_t j = 0; j < ni; j++, yo += inner)
            if (!shp_copy(y, yo, x, (b * n + idx[j]) * inner, inner)) {
                free(idx);
                return shp_nomem(k);
            }
    free(idx);
    return ONYX_OK;
}

/* Element offset in data of element i of an index tensor shaped idims, with the
 * coordinate along axis replaced by v. */
static int64_t offset_with(int rank, const int64_t *idims, const int64_t *dstr, int axis,
                           int64_t i, int64_t v)
{
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; d--) {
        int64_t c = i % idims[d];
        i /= idims[d];
        off += (d == axis ? v : c) * dstr[d];
    }
    return off;
}

/* GatherElements/ScatterElements: indices has data's rank and fits inside data
 * on every axis but the indexed one. */
static onyx_status check_elements_shape(onyx_kctx *k, const onyx_tensor *x,
                                        const onyx_tensor *ind, int axis)
{
    if (ind->rank != x->rank)
        return k_fail(k, ONYX_E_SHAPE, "indices rank %d differs from data rank %d", ind->rank,
                      x->rank);
    for (int d = 0; d < x->rank; d++)
        if (d != axis && ind->dims[d] > x->dims[d])
            return k_fail(k, ONYX_E_SHAPE, "indices dim %d (%lld) is larger than data's (%lld)",
                          d, (long long)ind->dims[d], (long long)x->dims[d]);
    return ONYX_OK;
}

static onyx_status op_gather_elements(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0), *ind = x ? indices_in(k, 1) : NULL;
    if (!ind) return k->err->code;
    int axis;
    if (x->rank < 1) return k_fail(k, ONYX_E_SHAPE, "data must have rank >= 1");
    if (!axis_attr(k, x->rank, &axis)) return k->err->code;
    onyx_status st = check_elements_shape(k, x, ind, axis);
    if (st) return st;
    onyx_tensor *y = k_output(k, 0, x->dtype, ind->rank, ind->dims);
    if (!y) return k->err->code;
    int64_t dstr[ONYX_MAX_RANK], ni = shp_numel(ind);
    shp_dense_strides(x->rank, x->dims, dstr);
    for (int64_t i = 0; i < ni; i++) {
        int64_t v;
        if (!fetch_index(k, ind, i, x->dims[axis], &v)) return k->err->code;
        if (!shp_copy(y, i, x, offset_with(x->rank, ind->dims, dstr, axis, i, v), 1))
            return shp_nomem(k);
    }
    return ONYX_OK;
}

/* GatherND/ScatterND: the data offset of index tuple t (last indices dim m). */
static bool tuple_offset(onyx_kctx *k, const onyx_tensor *ind, int64_t t, int m,
                         const int64_t *ddims, const int64_t *dstr, int64_t *off)
{
    int64_t o = 0;
    for (int j = 0; j < m; j++) {
        int64_t v;
        if (!fetch_index(k, ind, t * m + j, ddims[j], &v)) return false;
        o += v * dstr[j];
    }
    *off = o;
    return true;
}

static onyx_status op_gather_nd(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0), *ind = x ? indices_in(k, 1) : NULL;
    if (!ind) return k->err->code;
    int64_t bd = k_attr_int(k, "batch_dims", 0);
    if (x->rank < 1 || ind->rank < 1)
        return k_fail(k, ONYX_E_SHAPE, "data and indices must have rank >= 1");
    if (bd < 0 || bd >= x->rank || bd >= ind->rank)
        return k_fail(k, ONYX_E_INVALID, "batch_dims = %lld must be below both ranks (%d, %d)",
                      (long long)bd, x->rank, ind->rank);
    int b = (int)bd;
    for (int d = 0; d < b; d++)
        if (x->dims[d] != ind->dims[d])
            return k_fail(k, ONYX_E_SHAPE, "batch dim %d differs: data %lld, indices %lld", d,
                          (long long)x->dims[d], (long long)ind->dims[d]);
    int64_t m64 = ind->dims[ind->rank - 1];
    if (m64 < 1 || m64 > x->rank - b)
        return k_fail(k, ONYX_E_SHAPE, "indices last dim %lld must be in [1, %d]",
                      (long long)m64, x->rank - b);
    int m = (int)m64;
    int r = ind->rank - 1 + x->rank - b - m;
    if (r > ONYX_MAX_RANK)
        return k_fail(k, ONYX_E_LIMIT, "output rank %d over the limit %d", r, ONYX_MAX_RANK);
    int64_t dims[ONYX_MAX_RANK], dstr[ONYX_MAX_RANK];
    int o = 0;
    for (int d = 0; d < ind->rank - 1; d++) dims[o++] = ind->dims[d];
    for (int d = b + m; d < x->rank; d++) dims[o++] = x->dims[d];
    onyx_tensor *y = k_output(k, 0, x->dtype, r, dims);
    if (!y) return k->err->code;
    shp_dense_strides(x->rank, x->dims, dstr);
    int64_t batches = tensor_numel_of(b, x->dims);
    int64_t per = tensor_numel_of(ind->rank - 1 - b, ind->dims + b);
    int64_t slice = tensor_numel_of(x->rank - b - m, x->dims + b + m);
    int64_t bstride = b > 0 ? dstr[b - 1] : 0;
    for (int64_t bi = 0, t = 0; bi < batches; bi++)
        for (int64_t j = 0; j < per; j++, t++) {
            int64_t off;
            if (!tuple_offset(k, ind, t, m, x->dims + b, dstr + b, &off)) return k->err->code;
            if (!shp_copy(y, t * slice, x, bi * bstride + off, slice)) return shp_nomem(k);
        }
    return ONYX_OK;
}

enum reduction { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

static bool reduction_attr(onyx_kctx *k, const onyx_tensor *x, enum reduction *out)
{
    const char *s = k_attr_string(k, "reduction", "none");
    static const char *const names[] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) != 0) continue;
        *out = (enum reduction)i;
        if (*out != RED_NONE && x->dtype == ONYX_STRING) {
            k_fail(k, ONYX_E_INVALID, "reduction '%s' on a string tensor", s);
            return false;
        }
        if (*out != RED_NONE && (x->dtype == ONYX_COMPLEX64 || x->dtype == ONYX_COMPLEX128)) {
            k_fail(k, ONYX_E_UNSUPPORTED, "reduction '%s' on %s", s, onyx_dtype_name(x->dtype));
            return false;
        }
        return true;
    }
    k_fail(k, ONYX_E_INVALID, "attribute 'reduction' = '%s' (expected none/add/mul/max/min)", s);
    return false;
}

/* Integer reductions wrap (unsigned arithmetic) instead of overflowing. */
#define RED_INT(T, UT)                                                                        \
    do {                                                                                      \
        T *d = (T *)y->data + yi, s = ((const T *)u->data)[ui];                               \
        switch (red) {                                                                        \
        case RED_ADD: *d = (T)((UT)*d + (UT)s); break;                                        \
        case RED_MUL: *d = (T)((UT)*d * (UT)s); break;                                        \
        case RED_MAX: if (s > *d) *d = s; break;                                              \
        default: if (s < *d) *d = s; break;                                                   \
        }                                                                                     \
    } while (0)

static double red_float(enum reduction red, double d, double s)
{
    switch (red) {
    case RED_ADD: return d + s;
    case RED_MUL: return d * s;
    /* NaN propagates, as numpy's maximum/minimum do */
    case RED_MAX: return s != s || s > d ? s : d;
    default: return s != s || s < d ? s : d;
    }
}

/* y[yi] = reduce(y[yi], u[ui]). False when out of memory. */
static bool scatter_one(onyx_tensor *y, int64_t yi, const onyx_tensor *u, int64_t ui,
                        enum reduction red)
{
    if (red == RED_NONE) return shp_copy(y, yi, u, ui, 1);
    switch (y->dtype) {
    case ONYX_FLOAT: {
        float *d = (float *)y->data + yi;
        *d = (float)red_float(red, *d, ((const float *)u->data)[ui]);
        break;
    }
    case ONYX_DOUBLE: {
        double *d = (double *)y->data + yi;
        *d = red_float(red, *d, ((const double *)u->data)[ui]);
        break;
    }
    case ONYX_FLOAT16: case ONYX_BFLOAT16:
        k_set_f64(y, yi, red_float(red, k_get_f64(y, yi), k_get_f64(u, ui)));
        break;
    case ONYX_BOOL: {
        uint8_t *d = (uint8_t *)y->data + yi, s = ((const uint8_t *)u->data)[ui];
        /* numpy on bool: add and max are "or", mul and min are "and" */
        *d = red == RED_ADD || red == RED_MAX ? (*d | s) : (*d & s);
        break;
    }
    case ONYX_INT8: RED_INT(int8_t, uint8_t); break;
    case ONYX_UINT8: RED_INT(uint8_t, uint8_t); break;
    case ONYX_INT16: RED_INT(int16_t, uint16_t); break;
    case ONYX_UINT16: RED_INT(uint16_t, uint16_t); break;
    case ONYX_INT32: RED_INT(int32_t, uint32_t); break;
    case ONYX_UINT32: RED_INT(uint32_t, uint32_t); break;
    case ONYX_INT64: RED_INT(int64_t, uint64_t); break;
    case ONYX_UINT64: RED_INT(uint64_t, uint64_t); break;
    default: break;
    }
    return true;
}

#undef RED_INT

static onyx_status scatter_elements(onyx_kctx *k, bool has_reduction)
{
    const onyx_tensor *x = shp_tensor_in(k, 0), *ind = x ? indices_in(k, 1) : NULL;
    const onyx_tensor *u = ind ? shp_tensor_in(k, 2) : NULL;
    if (!u) return k->err->code;
    int axis;
    enum reduction red = RED_NONE;
    if (x->rank < 1) return k_fail(k, ONYX_E_SHAPE, "data must have rank >= 1");
    if (!axis_attr(k, x->rank, &axis)) return k->err->code;
    if (has_reduction && !reduction_attr(k, x, &red)) return k->err->code;
    onyx_status st = check_elements_shape(k, x, ind, axis);
    if (st) return st;
    if (u->dtype != x->dtype)
        return k_fail(k, ONYX_E_INVALID, "updates are %s but data is %s",
                      onyx_dtype_name(u->dtype), onyx_dtype_name(x->dtype));
    if (u->rank != ind->rank || memcmp(u->dims, ind->dims, (size_t)u->rank * sizeof u->dims[0]))
        return k_fail(k, ONYX_E_SHAPE, "updates shape differs from indices shape");
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    if (!shp_copy(y, 0, x, 0, shp_numel(x))) return shp_nomem(k);
    int64_t dstr[ONYX_MAX_RANK], ni = shp_numel(ind);
    shp_dense_strides(x->rank, x->dims, dstr);
    for (int64_t i = 0; i < ni; i++) {
        int64_t v;
        if (!fetch_index(k, ind, i, x->dims[axis], &v)) return k->err->code;
        if (!scatter_one(y, offset_with(x->rank, ind->dims, dstr, axis, i, v), u, i, red))
            return shp_nomem(k);
    }
    return ONYX_OK;
}

/* Scatter (opsets 9-10) is ScatterElements without the reduction attribute. */
static onyx_status op_scatter(onyx_kctx *k)
{
    return scatter_elements(k, false);
}

static onyx_status op_scatter_elements(onyx_kctx *k)
{
    return scatter_elements(k, true);
}

static onyx_status op_scatter_nd(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0), *ind = x ? indices_in(k, 1) : NULL;
    const onyx_tensor *u = ind ? shp_tensor_in(k, 2) : NULL;
    if (!u) return k->err->code;
    enum reduction red;
    if (!reduction_attr(k, x, &red)) return k->err->code;
    if (x->rank < 1 || ind->rank < 1)
        return k_fail(k, ONYX_E_SHAPE, "data and indices must have rank >= 1");
    if (u->dtype != x->dtype)
        return k_fail(k, ONYX_E_INVALID, "updates are %s but data is %s",
                      onyx_dtype_name(u->dtype), onyx_dtype_name(x->dtype));
    int64_t m64 = ind->dims[ind->rank - 1];
    if (m64 < 1 || m64 > x->rank)
        return k_fail(k, ONYX_E_SHAPE, "indices last dim %lld must be in [1, %d]",
                      (long long)m64, x->rank);
    int m = (int)m64;
    /* updates shape = indices.shape[:-1] + data.shape[m:] */
    int ur = ind->rank - 1 + x->rank - m;
    bool ok = u->rank == ur;
    for (int d = 0; ok && d < ur; d++)
        ok = u->dims[d] == (d < ind->rank - 1 ? ind->dims[d] : x->dims[m + d - (ind->rank - 1)]);
    if (!ok)
        return k_fail(k, ONYX_E_SHAPE,
                      "updates shape must be indices.shape[:-1] + data.shape[%d:]", m);
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    if (!shp_copy(y, 0, x, 0, shp_numel(x))) return shp_nomem(k);
    int64_t dstr[ONYX_MAX_RANK];
    shp_dense_strides(x->rank, x->dims, dstr);
    int64_t nt = tensor_numel_of(ind->rank - 1, ind->dims);
    int64_t slice = tensor_numel_of(x->rank - m, x->dims + m);
    for (int64_t t = 0; t < nt; t++) {
        int64_t off;
        if (!tuple_offset(k, ind, t, m, x->dims, dstr, &off)) return k->err->code;
        if (red == RED_NONE) {
            if (!shp_copy(y, off, u, t * slice, slice)) return shp_nomem(k);
            continue;
        }
        for (int64_t e = 0; e < slice; e++) scatter_one(y, off + e, u, t * slice + e, red);
    }
    return ONYX_OK;
}

static onyx_status op_compress(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0), *c = x ? shp_tensor_in(k, 1) : NULL;
    if (!c) return k->err->code;
    if (c->rank != 1)
        return k_fail(k, ONYX_E_SHAPE, "condition must be 1-D, has rank %d", c->rank);
    if (c->dtype != ONYX_BOOL && !dtype_is_int(c->dtype) && !dtype_is_float(c->dtype))
        return k_fail(k, ONYX_E_INVALID, "condition must be bool, not %s",
                      onyx_dtype_name(c->dtype));
    const onyx_attr *aa = k_attr(k, "axis");
    int axis = 0;
    int64_t n, outer, inner;
    if (aa) {
        if (x->rank < 1) return k_fail(k, ONYX_E_SHAPE, "axis given for a scalar input");
        if (!axis_attr(k, x->rank, &axis)) return k->err->code;
        n = x->dims[axis];
        outer = tensor_numel_of(axis, x->dims);
        inner = tensor_numel_of(x->rank - axis - 1, x->dims + axis + 1);
    } else {
        n = shp_numel(x);
        outer = inner = 1;
    }
    /* numpy.compress semantics: a short condition selects from its prefix */
    int64_t nc = c->dims[0], kept = 0;
    for (int64_t i = 0; i < nc; i++) {
        if (k_get_f64(c, i) == 0) continue;
        if (i >= n)
            return k_fail(k, ONYX_E_SHAPE, "condition[%lld] is true but the axis has %lld",
                          (long long)i, (long long)n);
        kept++;
    }
    int64_t dims[ONYX_MAX_RANK];
    int r = aa ? x->rank : 1;
    if (aa) memcpy(dims, x->dims, (size_t)r * sizeof dims[0]);
    dims[aa ? axis : 0] = kept;
    onyx_tensor *y = k_output(k, 0, x->dtype, r, dims);
    if (!y) return k->err->code;
    int64_t yo = 0;
    for (int64_t b = 0; b < outer; b++)
        for (int64_t i = 0; i < nc && i < n; i++) {
            if (k_get_f64(c, i) == 0) continue;
            if (!shp_copy(y, yo, x, (b * n + i) * inner, inner)) return shp_nomem(k);
            yo += inner;
        }
    return ONYX_OK;
}

static bool elem_nonzero(const onyx_tensor *t, int64_t i)
{
    if (t->dtype == ONYX_STRING) {
        const char *s = ((char *const *)t->data)[i];
        return s && s[0];
    }
    if (t->dtype == ONYX_INT64 || t->dtype == ONYX_UINT64) return ((const int64_t *)t->data)[i];
    if (t->dtype == ONYX_COMPLEX64 || t->dtype == ONYX_COMPLEX128) {
        if (t->dtype == ONYX_COMPLEX64)
            return ((const float *)t->data)[2 * i] != 0 || ((const float *)t->data)[2 * i + 1];
        return ((const double *)t->data)[2 * i] != 0 || ((const double *)t->data)[2 * i + 1];
    }
    return k_get_f64(t, i) != 0; /* NaN counts as nonzero, -0.0 does not */
}

static onyx_status op_nonzero(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int64_t n = shp_numel(x), nnz = 0;
    for (int64_t i = 0; i < n; i++) nnz += elem_nonzero(x, i);
    /* a scalar is treated as a 1-element vector, as numpy does */
    int r = x->rank ? x->rank : 1;
    int64_t dims[2] = {r, nnz};
    onyx_tensor *y = k_output(k, 0, ONYX_INT64, 2, dims);
    if (!y) return k->err->code;
    int64_t *out = y->data;
    for (int64_t i = 0, j = 0; i < n; i++) {
        if (!elem_nonzero(x, i)) continue;
        int64_t rem = i;
        for (int d = x->rank - 1; d >= 0; d--) {
            out[d * nnz + j] = rem % x->dims[d];
            rem /= x->dims[d];
        }
        j++;
    }
    return ONYX_OK;
}

static onyx_status op_onehot(onyx_kctx *k)
{
    const onyx_tensor *ind = shp_tensor_in(k, 0), *dep = ind ? shp_tensor_in(k, 1) : NULL;
    const onyx_tensor *val = dep ? shp_tensor_in(k, 2) : NULL;
    if (!val) return k->err->code;
    if (!dtype_is_int(ind->dtype) && !dtype_is_float(ind->dtype))
        return k_fail(k, ONYX_E_INVALID, "indices must be numeric, not %s",
                      onyx_dtype_name(ind->dtype));
    if (shp_numel(dep) != 1 || (!dtype_is_int(dep->dtype) && !dtype_is_float(dep->dtype)))
        return k_fail(k, ONYX_E_INVALID, "depth must be a numeric scalar");
    if (shp_numel(val) != 2)
        return k_fail(k, ONYX_E_SHAPE, "values must have 2 elements (off, on), has %lld",
                      (long long)shp_numel(val));
    double dd = k_get_f64(dep, 0);
    if (!(dd >= 1) || dd > (double)ONYX_MAX_TENSOR_BYTES)
        return k_fail(k, ONYX_E_INVALID, "depth %g must be a positive count", dd);
    int64_t depth = (int64_t)dd;
    if (dep->dtype == ONYX_INT64) depth = *(const int64_t *)dep->data;
    int r = ind->rank + 1;
    if (r > ONYX_MAX_RANK)
        return k_fail(k, ONYX_E_LIMIT, "output rank %d over the limit %d", r, ONYX_MAX_RANK);
    int axis;
    int64_t a = k_attr_int(k, "axis", -1);
    if (!k_axis(a, r, &axis))
        return k_fail(k, ONYX_E_INVALID, "attribute 'axis' = %lld out of range for rank %d",
                      (long long)a, r);
    int64_t dims[ONYX_MAX_RANK];
    for (int d = 0, j = 0; d < r; d++) dims[d] = d == axis ? depth : ind->dims[j++];
    onyx_tensor *y = k_output(k, 0, val->dtype, r, dims);
    if (!y) return k->err->code;
    if (!shp_fill(y, shp_numel(y), val, 0)) return shp_nomem(k);
    int64_t outer = tensor_numel_of(axis, ind->dims);
    int64_t inner = tensor_numel_of(ind->rank - axis, ind->dims + axis);
    for (int64_t b = 0; b < outer; b++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t p = b * inner + i, v;
            if (ind->dtype == ONYX_INT64) {
                v = ((const int64_t *)ind->data)[p];
            } else {
                double f = k_get_f64(ind, p);
                /* out of range (incl. NaN) yields an all-off row, as the spec says */
                if (!(f > -(double)depth - 1 && f < (double)depth)) continue;
                v = (int64_t)f;
            }
            /* negative indices count from the end from opset 11; before, they were
             * out of range */
            if (v < 0 && k->opset >= 11) v += depth;
            if (v < 0 || v >= depth) continue;
            if (!shp_copy(y, (b * depth + v) * inner + i, val, 1, 1)) return shp_nomem(k);
        }
    return ONYX_OK;
}

const onyx_op_def onyx_ops_gather[] = {
    {"", "Gather", op_gather},
    {"", "GatherElements", op_gather_elements},
    {"", "GatherND", op_gather_nd},
    {"", "Scatter", op_scatter},
    {"", "ScatterElements", op_scatter_elements},
    {"", "ScatterND", op_scatter_nd},
    {"", "Compress", op_compress},
    {"", "NonZero", op_nonzero},
    {"", "OneHot", op_onehot},
    {0},
};
