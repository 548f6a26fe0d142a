/* shape.c - operators that change a tensor's shape or make a tensor from
 * attributes: Reshape, Flatten, Squeeze, Unsqueeze, Shape, Size, Expand,
 * Identity, Dropout (inference), Constant, ConstantOfShape, EyeLike, Range. */
#include "shape_common.h"

#include <stdlib.h>

/* Output 0 as a copy of x's elements with a new shape; nothing to copy when the
 * memory plan gave the output x's own bytes (runtime/session.c, view ops). */
static onyx_status emit_reshaped(onyx_kctx *k, const onyx_tensor *x, int rank,
                                 const int64_t *dims)
{
    onyx_tensor *y = x->dtype == ONYX_STRING ? k_output(k, 0, x->dtype, rank, dims)
                                             : k_output_uninit(k, 0, x->dtype, rank, dims);
    if (!y) return k->err->code;
    if (y->data == x->data) return ONYX_OK;
    if (!shp_copy(y, 0, x, 0, shp_numel(x))) return shp_nomem(k);
    return ONYX_OK;
}

static onyx_status op_reshape(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int64_t shape[ONYX_MAX_RANK];
    int n;
    if (k->opset < 5) {
        const int64_t *a;
        n = k_attr_ints(k, "shape", &a);
        if (n < 0) return k_fail(k, ONYX_E_INVALID, "attribute 'shape' is required");
        if (n > ONYX_MAX_RANK)
            return k_fail(k, ONYX_E_LIMIT, "attribute 'shape' has %d dims (limit %d)", n,
                          ONYX_MAX_RANK);
        memcpy(shape, a, (size_t)n * sizeof *a);
    } else {
        n = shp_int_list_in(k, 1, "shape", shape, ONYX_MAX_RANK);
        if (n < 0) return k->err->code;
    }
    bool allowzero = k_attr_int(k, "allowzero", 0) != 0;
    int infer = -1;
    bool has_zero = false;
    int64_t known = 1;
    for (int d = 0; d < n; d++) {
        if (shape[d] == -1) {
            if (infer >= 0)
                return k_fail(k, ONYX_E_INVALID, "shape has more than one -1 (dims %d and %d)",
                              infer, d);
            infer = d;
            continue;
        }
        if (shape[d] < -1)
            return k_fail(k, ONYX_E_INVALID, "shape[%d] = %lld is negative", d,
                          (long long)shape[d]);
        if (shape[d] == 0) {
            has_zero = true;
            if (!allowzero) {
                if (d >= x->rank)
                    return k_fail(k, ONYX_E_SHAPE,
                                  "shape[%d] = 0 copies input dim %d but the input has rank %d",
                                  d, d, x->rank);
                shape[d] = x->dims[d];
            }
        }
        if (shape[d] != 0 && known > INT64_MAX / shape[d])
            return k_fail(k, ONYX_E_LIMIT, "shape has too many elements");
        known *= shape[d];
    }
    int64_t total = shp_numel(x);
    if (infer >= 0) {
        if (allowzero && has_zero)
            return k_fail(k, ONYX_E_INVALID, "shape has both 0 and -1 with allowzero=1");
        if (known == 0 || total % known != 0)
            return k_fail(k, ONYX_E_SHAPE,
                          "cannot infer the -1 dim: %lld input elements, %lld in the other dims",
                          (long long)total, (long long)known);
        shape[infer] = total / known;
    } else if (known != total) {
        return k_fail(k, ONYX_E_SHAPE, "shape has %lld elements but the input has %lld",
                      (long long)known, (long long)total);
    }
    return emit_reshaped(k, x, n, shape);
}

static onyx_status op_flatten(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int64_t axis = k_attr_int(k, "axis", 1);
    if (axis < -(int64_t)x->rank || axis > x->rank)
        return k_fail(k, ONYX_E_INVALID, "attribute 'axis' = %lld out of range [%d, %d]",
                      (long long)axis, -x->rank, x->rank);
    if (axis < 0) axis += x->rank;
    int64_t dims[2];
    dims[0] = tensor_numel_of((int)axis, x->dims);
    dims[1] = tensor_numel_of(x->rank - (int)axis, x->dims + axis);
    return emit_reshaped(k, x, 2, dims);
}

/* Reads Squeeze/Unsqueeze axes (attribute before opset 13, input from 13).
 * Returns the count, 0 when absent, -1 on error. */
static int read_axes(onyx_kctx *k, int64_t *axes)
{
    if (k->opset < 13) {
        const int64_t *a;
        int n = k_attr_ints(k, "axes", &a);
        if (n < 0) return 0;
        if (n > ONYX_MAX_RANK) {
            k_fail(k, ONYX_E_LIMIT, "attribute 'axes' has %d entries (limit %d)", n,
                   ONYX_MAX_RANK);
            return -1;
        }
        memcpy(axes, a, (size_t)n * sizeof *a);
        return n;
    }
    if (!k_input(k, 1)) return 0;
    return shp_int_list_in(k, 1, "axes", axes, ONYX_MAX_RANK);
}

static onyx_status op_squeeze(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int64_t axes[ONYX_MAX_RANK];
    int n = read_axes(k, axes);
    if (n < 0) return k->err->code;
    bool drop[ONYX_MAX_RANK] = {false};
    /* no axes (or an empty list, as ONNX Runtime reads it): drop every 1 */
    if (n == 0)
        for (int d = 0; d < x->rank; d++) drop[d] = x->dims[d] == 1;
    for (int i = 0; i < n; i++) {
        int a;
        if (!k_axis(axes[i], x->rank, &a))
            return k_fail(k, ONYX_E_INVALID, "axes[%d] = %lld out of range for rank %d", i,
                          (long long)axes[i], x->rank);
        if (drop[a])
            return k_fail(k, ONYX_E_INVALID, "axes has axis %d twice", a);
        if (x->dims[a] != 1)
            return k_fail(k, ONYX_E_SHAPE, "cannot squeeze axis %d of size %lld", a,
                          (long long)x->dims[a]);
        drop[a] = true;
    }
    int64_t dims[ONYX_MAX_RANK];
    int r = 0;
    for (int d = 0; d < x->rank; d++)
        if (!drop[d]) dims[r++] = x->dims[d];
    return emit_reshaped(k, x, r, dims);
}

static onyx_status op_unsqueeze(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int64_t axes[ONYX_MAX_RANK];
    int n = read_axes(k, axes);
    if (n < 0) return k->err->code;
    if (n == 0) return k_fail(k, ONYX_E_INVALID, "axes are required");
    int r = x->rank + n;
    if (r > ONYX_MAX_RANK)
        return k_fail(k, ONYX_E_LIMIT, "output rank %d is over the limit %d", r, ONYX_MAX_RANK);
    bool ins[ONYX_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int a;
        if (!k_axis(axes[i], r, &a))
            return k_fail(k, ONYX_E_INVALID, "axes[%d] = %lld out of range for output rank %d",
                          i, (long long)axes[i], r);
        if (ins[a]) return k_fail(k, ONYX_E_INVALID, "axes has axis %d twice", a);
        ins[a] = true;
    }
    int64_t dims[ONYX_MAX_RANK];
    for (int d = 0, j = 0; d < r; d++) dims[d] = ins[d] ? 1 : x->dims[j++];
    return emit_reshaped(k, x, r, dims);
}

static onyx_status op_shape(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int64_t r = x->rank;
    int64_t start = k_attr_int(k, "start", 0), end = k_attr_int(k, "end", r);
    if (start < 0) start += r;
    if (end < 0) end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t n = end > start ? end - start : 0;
    onyx_tensor *y = k_output(k, 0, ONYX_INT64, 1, &n);
    if (!y) return k->err->code;
    memcpy(y->data, x->dims + start, (size_t)n * sizeof(int64_t));
    return ONYX_OK;
}

static onyx_status op_size(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    onyx_tensor *y = k_output(k, 0, ONYX_INT64, 0, NULL);
    if (!y) return k->err->code;
    *(int64_t *)y->data = shp_numel(x);
    return ONYX_OK;
}

static onyx_status op_expand(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    int64_t shape[ONYX_MAX_RANK];
    int n = shp_int_list_in(k, 1, "shape", shape, ONYX_MAX_RANK);
    if (n < 0) return k->err->code;
    int r = n > x->rank ? n : x->rank;
    int64_t dims[ONYX_MAX_RANK], sstr[ONYX_MAX_RANK], xstr[ONYX_MAX_RANK];
    shp_dense_strides(x->rank, x->dims, xstr);
    for (int d = 0; d < r; d++) {
        int xd = d - (r - x->rank), sd = d - (r - n);
        int64_t a = xd >= 0 ? x->dims[xd] : 1, b = sd >= 0 ? shape[sd] : 1;
        if (b < 0)
            return k_fail(k, ONYX_E_INVALID, "shape[%d] = %lld is negative", sd, (long long)b);
        if (a != b && a != 1 && b != 1)
            return k_fail(k, ONYX_E_SHAPE,
                          "input dim %d (%lld) cannot be broadcast to shape[%d] = %lld", xd,
                          (long long)a, sd, (long long)b);
        dims[d] = a == 1 ? b : a;
        sstr[d] = a == 1 ? 0 : xstr[xd];
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, r, dims);
    if (!y) return k->err->code;
    if (!shp_gather_view(y, x, 0, sstr, r, dims)) return shp_nomem(k);
    return ONYX_OK;
}

/* Identity passes through any kind of value: tensor, sequence or optional. */
static onyx_status op_identity(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0);
    if (!x) return k_fail(k, ONYX_E_INVALID, "input 0 is required");
    if (x->kind == ONYX_KIND_NONE) return k_output_none(k, 0);
    if (x->kind == ONYX_KIND_SEQUENCE) {
        onyx_tensor *y = k_output_sequence(k, 0, x->dtype);
        if (!y) return k->err->code;
        if (!tensor_copy(y, x)) return k_fail(k, ONYX_E_NOMEM, "out of memory copying sequence");
        return ONYX_OK;
    }
    const onyx_tensor *t = shp_tensor_in(k, 0);
    if (!t) return k->err->code;
    return emit_reshaped(k, t, t->rank, t->dims);
}

/* Scalar (one-element) input i as a double; absent -> def. */
static onyx_status scalar_in(onyx_kctx *k, int i, const char *what, bool want_bool, double def,
                             double *out)
{
    const onyx_tensor *t = k_input(k, i);
    *out = def;
    if (!t) return ONYX_OK;
    if (t->kind != ONYX_KIND_TENSOR || shp_numel(t) != 1)
        return k_fail(k, ONYX_E_INVALID, "input %d (%s) must be a one-element tensor", i, what);
    if (want_bool ? t->dtype != ONYX_BOOL : !dtype_is_float(t->dtype))
        return k_fail(k, ONYX_E_INVALID, "input %d (%s) must be %s, not %s", i, what,
                      want_bool ? "bool" : "floating point", onyx_dtype_name(t->dtype));
    *out = k_get_f64(t, 0);
    return ONYX_OK;
}

/* Inference-only Dropout: the output is the input and the mask all true. Before
 * opset 7 the op had is_test; like other inference runtimes onyx treats it as set. */
static onyx_status op_dropout(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    double ratio = k_attr_float(k, "ratio", 0.5f), training = 0;
    onyx_status st;
    if (k->opset >= 12) {
        if ((st = scalar_in(k, 1, "ratio", false, 0.5, &ratio))) return st;
        if ((st = scalar_in(k, 2, "training_mode", true, 0, &training))) return st;
    }
    if (training != 0 && !(ratio >= 0 && ratio < 1))
        return k_fail(k, ONYX_E_INVALID, "ratio %g is outside [0, 1)", ratio);
    if (training != 0 && ratio > 0)
        return k_fail(k, ONYX_E_UNSUPPORTED,
                      "Dropout with training_mode=true and ratio %g is random; "
                      "onyx implements inference only", ratio);
    if ((st = emit_reshaped(k, x, x->rank, x->dims))) return st;
    if (k->n_outputs > 1) {
        onyx_dtype mt = k->opset >= 10 ? ONYX_BOOL : x->dtype;
        if (mt == ONYX_STRING)
            return k_fail(k, ONYX_E_UNSUPPORTED, "Dropout mask of type string");
        onyx_tensor *m = k_output(k, 1, mt, x->rank, x->dims);
        if (!m) return k->err->code;
        int64_t n = shp_numel(x);
        for (int64_t i = 0; i < n; i++) k_set_f64(m, i, 1);
    }
    return ONYX_OK;
}

static const char *const constant_attrs[] = {
    "value", "value_float", "value_floats", "value_int", "value_ints",
    "value_string", "value_strings", "sparse_value",
};

static onyx_status op_constant(onyx_kctx *k)
{
    const onyx_attr *a = NULL;
    for (size_t i = 0; i < sizeof constant_attrs / sizeof constant_attrs[0]; i++) {
        const onyx_attr *c = k_attr(k, constant_attrs[i]);
        if (!c) continue;
        if (a)
            return k_fail(k, ONYX_E_INVALID, "Constant has both '%s' and '%s'", a->name,
                          c->name);
        a = c;
    }
    if (!a) return k_fail(k, ONYX_E_INVALID, "Constant has no value attribute");
    const char *nm = a->name;
    onyx_tensor *y;
    if (strcmp(nm, "sparse_value") == 0)
        return k_fail(k, ONYX_E_UNSUPPORTED, "Constant with 'sparse_value' is not supported");
    if (strcmp(nm, "value") == 0) {
        if (a->type != ATTR_TENSOR || !a->t)
            return k_fail(k, ONYX_E_INVALID, "attribute 'value' must be a tensor");
        if (onyx_dtype_size(a->t->dtype) == 0)
            return k_fail(k, ONYX_E_UNSUPPORTED, "attribute 'value' has type %s",
                          onyx_dtype_name(a->t->dtype));
        return emit_reshaped(k, a->t, a->t->rank, a->t->dims);
    }
    if (strcmp(nm, "value_float") == 0 || strcmp(nm, "value_int") == 0) {
        bool is_f = nm[6] == 'f';
        if (a->type != (is_f ? ATTR_FLOAT : ATTR_INT))
            return k_fail(k, ONYX_E_INVALID, "attribute '%s' has the wrong type", nm);
        if (!(y = k_output(k, 0, is_f ? ONYX_FLOAT : ONYX_INT64, 0, NULL))) return k->err->code;
        if (is_f) *(float *)y->data = a->f;
        else *(int64_t *)y->data = a->i;
        return ONYX_OK;
    }
    if (strcmp(nm, "value_floats") == 0 || strcmp(nm, "value_ints") == 0) {
        bool is_f = nm[6] == 'f';
        if (a->type != (is_f ? ATTR_FLOATS : ATTR_INTS))
            return k_fail(k, ONYX_E_INVALID, "attribute '%s' has the wrong type", nm);
        int64_t n = a->n;
        if (!(y = k_output(k, 0, is_f ? ONYX_FLOAT : ONYX_INT64, 1, &n))) return k->err->code;
        if (n) memcpy(y->data, is_f ? (const void *)a->floats : (const void *)a->ints,
                      (size_t)n * (is_f ? sizeof(float) : sizeof(int64_t)));
        return ONYX_OK;
    }
    if (strcmp(nm, "value_string") == 0) {
        if (a->type != ATTR_STRING)
            return k_fail(k, ONYX_E_INVALID, "attribute 'value_string' has the wrong type");
        if (!(y = k_output(k, 0, ONYX_STRING, 0, NULL))) return k->err->code;
        char **s = y->data, *c = strdup(a->s ? a->s : "");
        if (!c) return shp_nomem(k);
        free(s[0]);
        s[0] = c;
        return ONYX_OK;
    }
    /* value_strings */
    if (a->type != ATTR_STRINGS)
        return k_fail(k, ONYX_E_INVALID, "attribute 'value_strings' has the wrong type");
    int64_t n = a->n;
    if (!(y = k_output(k, 0, ONYX_STRING, 1, &n))) return k->err->code;
    char **s = y->data;
    for (int64_t i = 0; i < n; i++) {
        char *c = strdup(a->strings[i] ? a->strings[i] : "");
        if (!c) return shp_nomem(k);
        free(s[i]);
        s[i] = c;
    }
    return ONYX_OK;
}

static onyx_status op_constant_of_shape(onyx_kctx *k)
{
    int64_t dims[ONYX_MAX_RANK];
    int n = shp_int_list_in(k, 0, "shape", dims, ONYX_MAX_RANK);
    if (n < 0) return k->err->code;
    for (int d = 0; d < n; d++)
        if (dims[d] < 0)
            return k_fail(k, ONYX_E_INVALID, "shape[%d] = %lld is negative", d,
                          (long long)dims[d]);
    const onyx_attr *a = k_attr(k, "value");
    const onyx_tensor *v = NULL;
    if (a) {
        if (a->type != ATTR_TENSOR || !a->t)
            return k_fail(k, ONYX_E_INVALID, "attribute 'value' must be a tensor");
        v = a->t;
        if (shp_numel(v) != 1)
            return k_fail(k, ONYX_E_INVALID, "attribute 'value' must have one element, has %lld",
                          (long long)shp_numel(v));
        if (onyx_dtype_size(v->dtype) == 0)
            return k_fail(k, ONYX_E_UNSUPPORTED, "attribute 'value' has type %s",
                          onyx_dtype_name(v->dtype));
    }
    onyx_tensor *y = k_output(k, 0, v ? v->dtype : ONYX_FLOAT, n, dims);
    if (!y) return k->err->code;
    if (v && !shp_fill(y, shp_numel(y), v, 0)) return shp_nomem(k);
    return ONYX_OK;
}

static bool numeric_dtype(onyx_dtype t)
{
    return dtype_is_float(t) || dtype_is_int(t) || t == ONYX_BOOL;
}

static onyx_status op_eyelike(onyx_kctx *k)
{
    const onyx_tensor *x = shp_tensor_in(k, 0);
    if (!x) return k->err->code;
    if (x->rank != 2) return k_fail(k, ONYX_E_SHAPE, "input must be 2-D, has rank %d", x->rank);
    onyx_dtype dt = (onyx_dtype)k_attr_int(k, "dtype", x->dtype);
    if (!numeric_dtype(dt))
        return k_fail(k, ONYX_E_UNSUPPORTED, "attribute 'dtype' = %d (%s) is not supported",
                      (int)dt, onyx_dtype_name(dt));
    int64_t diag = k_attr_int(k, "k", 0);
    onyx_tensor *y = k_output(k, 0, dt, 2, x->dims);
    if (!y) return k->err->code;
    int64_t rows = x->dims[0], cols = x->dims[1];
    if (diag <= -rows || diag >= cols) return ONYX_OK;
    for (int64_t i = diag < 0 ? -diag : 0; i < rows && i + diag < cols; i++)
        k_set_f64(y, i * cols + i + diag, 1);
    return ONYX_OK;
}

static onyx_status op_range(onyx_kctx *k)
{
    const onyx_tensor *in[3];
    static const char *const names[3] = {"start", "limit", "delta"};
    for (int i = 0; i < 3; i++) {
        if (!(in[i] = shp_tensor_in(k, i))) return k->err->code;
        if (shp_numel(in[i]) != 1)
            return k_fail(k, ONYX_E_SHAPE, "input %d (%s) must be a scalar, has %lld elements",
                          i, names[i], (long long)shp_numel(in[i]));
        if (in[i]->dtype != in[0]->dtype)
            return k_fail(k, ONYX_E_INVALID, "input %d (%s) is %s but start is %s", i, names[i],
                          onyx_dtype_name(in[i]->dtype), onyx_dtype_name(in[0]->dtype));
    }
    onyx_dtype dt = in[0]->dtype;
    if (dt != ONYX_FLOAT && dt != ONYX_DOUBLE && dt != ONYX_INT16 && dt != ONYX_INT32 &&
        dt != ONYX_INT64)
        return k_fail(k, ONYX_E_UNSUPPORTED, "Range of type %s", onyx_dtype_name(dt));
    int64_t n;
    onyx_tensor *y;
    if (dt != ONYX_FLOAT && dt != ONYX_DOUBLE) {
        /* exact integer arithmetic: int64 values lose precision as doubles */
        int64_t v[3];
        for (int i = 0; i < 3; i++) k_read_ints(in[i], &v[i], 1);
        if (v[2] == 0) return k_fail(k, ONYX_E_INVALID, "delta is 0");
        /* differences in unsigned arithmetic cannot overflow */
        uint64_t span, step = v[2] > 0 ? (uint64_t)v[2] : 0 - (uint64_t)v[2];
        if (v[2] > 0) span = v[1] > v[0] ? (uint64_t)v[1] - (uint64_t)v[0] : 0;
        else span = v[0] > v[1] ? (uint64_t)v[0] - (uint64_t)v[1] : 0;
        uint64_t cnt = span / step + (span % step != 0);
        if (cnt > (uint64_t)INT64_MAX)
            return k_fail(k, ONYX_E_LIMIT, "Range would have %llu elements",
                          (unsigned long long)cnt);
        n = (int64_t)cnt;
        if (!(y = k_output(k, 0, dt, 1, &n))) return k->err->code;
        uint64_t cur = (uint64_t)v[0];
        for (int64_t i = 0; i < n; i++, cur += (uint64_t)v[2]) {
            if (dt == ONYX_INT64) ((int64_t *)y->data)[i] = (int64_t)cur;
            else k_set_f64(y, i, (double)(int64_t)cur);
        }
        return ONYX_OK;
    }
    double s = k_get_f64(in[0], 0), l = k_get_f64(in[1], 0), d = k_get_f64(in[2], 0);
    if (d == 0) return k_fail(k, ONYX_E_INVALID, "delta is 0");
    /* like numpy's arange, the count is computed in the element type */
    double c = dt == ONYX_FLOAT ? ceil((double)(((float)l - (float)s) / (float)d))
                                : ceil((l - s) / d);
    if (!(c == c)) return k_fail(k, ONYX_E_INVALID, "Range with non-finite start/limit/delta");
    if (c > (double)ONYX_MAX_TENSOR_BYTES)
        return k_fail(k, ONYX_E_LIMIT, "Range would have %g elements", c);
    n = c > 0 ? (int64_t)c : 0;
    if (!(y = k_output(k, 0, dt, 1, &n))) return k->err->code;
    for (int64_t i = 0; i < n; i++) {
        if (dt == ONYX_FLOAT) ((float *)y->data)[i] = (float)s + (float)i * (float)d;
        else k_set_f64(y, i, s + (double)i * d);
    }
    return ONYX_OK;
}

const onyx_op_def onyx_ops_shape[] = {
    {"", "Reshape", op_reshape},
    {"", "Flatten", op_flatten},
    {"", "Squeeze", op_squeeze},
    {"", "Unsqueeze", op_unsqueeze},
    {"", "Shape", op_shape},
    {"", "Size", op_size},
    {"", "Expand", op_expand},
    {"", "Identity", op_identity},
    {"", "Dropout", op_dropout},
    {"", "Constant", op_constant},
    {"", "ConstantOfShape", op_constant_of_shape},
    {"", "EyeLike", op_eyelike},
    {"", "Range", op_range},
    {0},
};
