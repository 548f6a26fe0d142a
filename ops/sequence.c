/* sequence.c - sequence and optional operators: SequenceEmpty/Construct/Insert/
 * At/Erase/Length, SplitToSequence, ConcatFromSequence, Optional,
 * OptionalHasElement, OptionalGetElement.
 *
 * Sequence values own their items, and a kernel's outputs never share storage
 * with its inputs, so every item that passes through is deep-copied. */
#include "kernel.h"

#include <stdlib.h>

static const char *kind_name(onyx_kind kind)
{
    switch (kind) {
    case ONYX_KIND_TENSOR: return "a tensor";
    case ONYX_KIND_SEQUENCE: return "a sequence";
    case ONYX_KIND_NONE: return "an empty optional";
    }
    return "an unknown value";
}

/* Input i as a sequence, or NULL with the error set. */
static const onyx_tensor *seq_input(onyx_kctx *k, int i)
{
    const onyx_tensor *s = k_input(k, i);
    if (!s) {
        k_fail(k, ONYX_E_INVALID, "input %d (sequence) is required", i);
        return NULL;
    }
    if (s->kind != ONYX_KIND_SEQUENCE) {
        k_fail(k, ONYX_E_INVALID, "input %d must be a sequence, got %s", i, kind_name(s->kind));
        return NULL;
    }
    return s;
}

/* Reads the scalar (or one-element) int32/int64 tensor at input i. */
static onyx_status read_position(onyx_kctx *k, int i, int64_t *pos)
{
    const onyx_tensor *t = k_input(k, i);
    if (!t || t->kind != ONYX_KIND_TENSOR || (t->dtype != ONYX_INT32 && t->dtype != ONYX_INT64))
        return k_fail(k, ONYX_E_INVALID, "input %d (position) must be an int32 or int64 tensor",
                      i);
    if (tensor_numel_of(t->rank, t->dims) != 1)
        return k_fail(k, ONYX_E_SHAPE, "input %d (position) must hold exactly one element", i);
    *pos = t->dtype == ONYX_INT64 ? *(const int64_t *)t->data : *(const int32_t *)t->data;
    return ONYX_OK;
}

/* Copies n elements of src starting at soff into dst starting at doff; both have
 * the same dtype. Strings are duplicated. False when out of memory. */
static bool copy_elems(onyx_tensor *dst, int64_t doff, const onyx_tensor *src, int64_t soff,
                       int64_t n)
{
    if (n <= 0) return true;
    if (src->dtype == ONYX_STRING) {
        char **d = (char **)dst->data + doff;
        char *const *s = (char *const *)src->data + soff;
        for (int64_t i = 0; i < n; i++) {
            char *c = strdup(s[i] ? s[i] : "");
            if (!c) return false;
            free(d[i]);
            d[i] = c;
        }
        return true;
    }
    size_t es = onyx_dtype_size(src->dtype);
    memcpy((char *)dst->data + (size_t)doff * es, (const char *)src->data + (size_t)soff * es,
           (size_t)n * es);
    return true;
}

/* Appends a deep copy of item to seq. */
static onyx_status append_copy(onyx_kctx *k, onyx_tensor *seq, const onyx_tensor *item)
{
    onyx_tensor *c = calloc(1, sizeof *c);
    if (!c || !tensor_copy(c, item)) {
        onyx_tensor_free(c);
        return k_fail(k, ONYX_E_NOMEM, "out of memory copying a sequence item");
    }
    if (onyx_sequence_append(seq, c) != ONYX_OK) {
        onyx_tensor_free(c);
        return k_fail(k, ONYX_E_NOMEM, "out of memory growing a sequence");
    }
    return ONYX_OK;
}

/* Output i becomes a deep copy of v (tensor or sequence). */
static onyx_status output_copy(onyx_kctx *k, int i, const onyx_tensor *v)
{
    if (v->kind == ONYX_KIND_SEQUENCE) {
        onyx_tensor *s = k_output_sequence(k, i, v->dtype);
        if (!s) return k->err->code;
        for (int j = 0; j < v->seq_len; j++) {
            onyx_status st = append_copy(k, s, v->seq[j]);
            if (st != ONYX_OK) return st;
        }
        return ONYX_OK;
    }
    if (v->kind == ONYX_KIND_NONE) return k_output_none(k, i);
    onyx_tensor *y = k_output(k, i, v->dtype, v->rank, v->dims);
    if (!y) return k->err->code;
    if (!copy_elems(y, 0, v, 0, tensor_numel_of(v->rank, v->dims)))
        return k_fail(k, ONYX_E_NOMEM, "out of memory copying a string tensor");
    return ONYX_OK;
}

static onyx_status op_sequence_empty(onyx_kctx *k)
{
    int64_t dt = k_attr_int(k, "dtype", ONYX_FLOAT);
    if (dt <= ONYX_UNDEFINED || dt > ONYX_BFLOAT16 || onyx_dtype_size((onyx_dtype)dt) == 0)
        return k_fail(k, ONYX_E_UNSUPPORTED, "attribute dtype=%lld is not a supported type",
                      (long long)dt);
    return k_output_sequence(k, 0, (onyx_dtype)dt) ? ONYX_OK : k->err->code;
}

static onyx_status op_sequence_construct(onyx_kctx *k)
{
    if (k->n_inputs < 1) return k_fail(k, ONYX_E_INVALID, "needs at least one input");
    const onyx_tensor *first = k_input(k, 0);
    for (int i = 0; i < k->n_inputs; i++) {
        const onyx_tensor *t = k_input(k, i);
        if (!t || t->kind != ONYX_KIND_TENSOR)
            return k_fail(k, ONYX_E_INVALID, "input %d must be a tensor, got %s", i,
                          t ? kind_name(t->kind) : "nothing");
        if (t->dtype != first->dtype)
            return k_fail(k, ONYX_E_INVALID, "input %d has type %s but input 0 has type %s", i,
                          onyx_dtype_name(t->dtype), onyx_dtype_name(first->dtype));
    }
    onyx_tensor *s = k_output_sequence(k, 0, first->dtype);
    if (!s) return k->err->code;
    for (int i = 0; i < k->n_inputs; i++) {
        onyx_status st = append_copy(k, s, k_input(k, i));
        if (st != ONYX_OK) return st;
    }
    return ONYX_OK;
}

static onyx_status op_sequence_insert(onyx_kctx *k)
{
    const onyx_tensor *s = seq_input(k, 0);
    if (!s) return k->err->code;
    const onyx_tensor *t = k_input(k, 1);
    if (!t || t->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input 1 (tensor) must be a tensor, got %s",
                      t ? kind_name(t->kind) : "nothing");
    /* An empty sequence built without a dtype takes the first item's type. */
    if (s->seq_len > 0 && t->dtype != s->dtype)
        return k_fail(k, ONYX_E_INVALID, "cannot insert a %s tensor into a sequence of %s",
                      onyx_dtype_name(t->dtype), onyx_dtype_name(s->dtype));
    int64_t n = s->seq_len, pos = n;
    if (k_input(k, 2)) {
        if (read_position(k, 2, &pos) != ONYX_OK) return k->err->code;
        if (pos < -n || pos > n)
            return k_fail(k, ONYX_E_INVALID,
                          "position %lld is out of range [%lld, %lld] for a sequence of %lld",
                          (long long)pos, (long long)-n, (long long)n, (long long)n);
        if (pos < 0) pos += n;
    }
    onyx_tensor *y = k_output_sequence(k, 0, s->seq_len > 0 ? s->dtype : t->dtype);
    if (!y) return k->err->code;
    for (int64_t i = 0; i <= n; i++) {
        onyx_status st = ONYX_OK;
        if (i == pos) st = append_copy(k, y, t);
        if (st == ONYX_OK && i < n) st = append_copy(k, y, s->seq[i]);
        if (st != ONYX_OK) return st;
    }
    return ONYX_OK;
}

/* Reads the position at input i and checks it against [-n, n-1]. */
static onyx_status item_position(onyx_kctx *k, int i, int64_t n, int64_t *pos)
{
    if (read_position(k, i, pos) != ONYX_OK) return k->err->code;
    if (*pos < -n || *pos >= n) {
        if (n == 0)
            return k_fail(k, ONYX_E_INVALID, "position %lld: the sequence is empty",
                          (long long)*pos);
        return k_fail(k, ONYX_E_INVALID,
                      "position %lld is out of range [%lld, %lld] for a sequence of %lld",
                      (long long)*pos, (long long)-n, (long long)(n - 1), (long long)n);
    }
    if (*pos < 0) *pos += n;
    return ONYX_OK;
}

static onyx_status op_sequence_at(onyx_kctx *k)
{
    const onyx_tensor *s = seq_input(k, 0);
    if (!s) return k->err->code;
    int64_t pos;
    if (item_position(k, 1, s->seq_len, &pos) != ONYX_OK) return k->err->code;
    return output_copy(k, 0, s->seq[pos]);
}

static onyx_status op_sequence_erase(onyx_kctx *k)
{
    const onyx_tensor *s = seq_input(k, 0);
    if (!s) return k->err->code;
    int64_t n = s->seq_len, pos = n - 1;
    if (k_input(k, 1)) {
        if (item_position(k, 1, n, &pos) != ONYX_OK) return k->err->code;
    } else if (n == 0) {
        return k_fail(k, ONYX_E_INVALID, "cannot erase from an empty sequence");
    }
    onyx_tensor *y = k_output_sequence(k, 0, s->dtype);
    if (!y) return k->err->code;
    for (int64_t i = 0; i < n; i++) {
        if (i == pos) continue;
        onyx_status st = append_copy(k, y, s->seq[i]);
        if (st != ONYX_OK) return st;
    }
    return ONYX_OK;
}

static onyx_status op_sequence_length(onyx_kctx *k)
{
    const onyx_tensor *s = seq_input(k, 0);
    if (!s) return k->err->code;
    onyx_tensor *y = k_output(k, 0, ONYX_INT64, 0, NULL);
    if (!y) return k->err->code;
    *(int64_t *)y->data = s->seq_len;
    return ONYX_OK;
}

static onyx_status op_split_to_sequence(onyx_kctx *k)
{
    if (k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_INT8,
                  ONYX_INT16, ONYX_INT32, ONYX_INT64, ONYX_UINT8, ONYX_UINT16, ONYX_UINT32,
                  ONYX_UINT64, ONYX_BOOL, ONYX_STRING, ONYX_COMPLEX64, ONYX_COMPLEX128,
                  ONYX_UNDEFINED) != ONYX_OK)
        return k->err->code;
    const onyx_tensor *x = k_input(k, 0);
    if (x->rank < 1) return k_fail(k, ONYX_E_SHAPE, "input must have rank >= 1, got a scalar");
    int axis;
    int64_t axis_attr = k_attr_int(k, "axis", 0);
    if (!k_axis(axis_attr, x->rank, &axis))
        return k_fail(k, ONYX_E_INVALID, "axis %lld is out of range for rank %d",
                      (long long)axis_attr, x->rank);
    int64_t keepdims = k_attr_int(k, "keepdims", 1);
    int64_t dim = x->dims[axis];
    const onyx_tensor *sp = k_input(k, 1);

    /* The chunk lengths: all 1 (no split), `split` each with a shorter tail
     * (scalar split) or listed (1-D split). */
    int64_t n_parts, chunk = 1, *lens = NULL;
    bool squeeze = false;
    if (!sp) {
        n_parts = dim;
        squeeze = keepdims == 0;
    } else {
        if (sp->kind != ONYX_KIND_TENSOR || (sp->dtype != ONYX_INT32 && sp->dtype != ONYX_INT64))
            return k_fail(k, ONYX_E_INVALID, "input 1 (split) must be an int32 or int64 tensor");
        if (sp->rank == 0) {
            int64_t v;
            k_read_ints(sp, &v, 1);
            if (v <= 0)
                return k_fail(k, ONYX_E_INVALID, "split must be positive, got %lld",
                              (long long)v);
            chunk = v;
            n_parts = dim / v + (dim % v != 0);
        } else if (sp->rank == 1) {
            n_parts = sp->dims[0];
            lens = malloc((size_t)(n_parts ? n_parts : 1) * sizeof *lens);
            if (!lens) return k_fail(k, ONYX_E_NOMEM, "out of memory");
            k_read_ints(sp, lens, n_parts);
            int64_t sum = 0;
            for (int64_t i = 0; i < n_parts; i++) {
                if (lens[i] < 0 || lens[i] > dim - sum) {
                    free(lens);
                    return k_fail(k, ONYX_E_INVALID,
                                  "split lengths must be non-negative and sum to %lld "
                                  "(axis %d's size)", (long long)dim, axis);
                }
                sum += lens[i];
            }
            if (sum != dim) {
                free(lens);
                return k_fail(k, ONYX_E_INVALID,
                              "split lengths sum to %lld but axis %d has size %lld",
                              (long long)sum, axis, (long long)dim);
            }
        } else {
            return k_fail(k, ONYX_E_SHAPE, "split must be a scalar or 1-D, got rank %d",
                          sp->rank);
        }
    }

    int64_t outer = tensor_numel_of(axis, x->dims);
    int64_t inner = tensor_numel_of(x->rank - axis - 1, x->dims + axis + 1);
    onyx_tensor *y = k_output_sequence(k, 0, x->dtype);
    if (!y) {
        free(lens);
        return k->err->code;
    }
    onyx_status st = ONYX_OK;
    int64_t start = 0;
    for (int64_t p = 0; p < n_parts && st == ONYX_OK; p++) {
        int64_t len = lens ? lens[p] : (chunk < dim - start ? chunk : dim - start);
        int64_t dims[ONYX_MAX_RANK];
        int rank = 0;
        for (int d = 0; d < x->rank; d++) {
            if (d != axis) dims[rank++] = x->dims[d];
            else if (!squeeze) dims[rank++] = len;
        }
        onyx_tensor *item = onyx_tensor_create(x->dtype, rank, dims);
        if (!item) {
            st = k_fail(k, ONYX_E_NOMEM, "out of memory creating split part %lld", (long long)p);
            break;
        }
        bool ok = true;
        for (int64_t o = 0; o < outer && ok; o++)
            ok = copy_elems(item, o * len * inner, x, (o * dim + start) * inner, len * inner);
        if (!ok || onyx_sequence_append(y, item) != ONYX_OK) {
            onyx_tensor_free(item);
            st = k_fail(k, ONYX_E_NOMEM, "out of memory filling split part %lld", (long long)p);
        }
        start += len;
    }
    free(lens);
    return st;
}

static onyx_status op_concat_from_sequence(onyx_kctx *k)
{
    const onyx_tensor *s = seq_input(k, 0);
    if (!s) return k->err->code;
    if (s->seq_len == 0)
        return k_fail(k, ONYX_E_INVALID, "cannot concatenate an empty sequence");
    bool new_axis = k_attr_int(k, "new_axis", 0) != 0;
    if (!k_attr(k, "axis")) return k_fail(k, ONYX_E_INVALID, "attribute axis is required");
    int64_t axis_attr = k_attr_int(k, "axis", 0);
    const onyx_tensor *first = s->seq[0];
    int r = first->rank;
    if (!new_axis && r == 0)
        return k_fail(k, ONYX_E_SHAPE, "cannot concatenate scalars without new_axis=1");
    if (new_axis && r + 1 > ONYX_MAX_RANK)
        return k_fail(k, ONYX_E_LIMIT, "output rank %d is over the limit %d", r + 1,
                      ONYX_MAX_RANK);
    int axis;
    if (!k_axis(axis_attr, new_axis ? r + 1 : r, &axis))
        return k_fail(k, ONYX_E_INVALID, "axis %lld is out of range for rank %d%s",
                      (long long)axis_attr, r, new_axis ? " with new_axis=1" : "");

    int64_t cat = 0;
    for (int i = 0; i < s->seq_len; i++) {
        const onyx_tensor *t = s->seq[i];
        if (t->kind != ONYX_KIND_TENSOR || t->dtype != first->dtype || t->rank != r)
            return k_fail(k, ONYX_E_SHAPE,
                          "sequence item %d (%s, rank %d) does not match item 0 (%s, rank %d)",
                          i, onyx_dtype_name(t->dtype), t->rank,
                          onyx_dtype_name(first->dtype), r);
        for (int d = 0; d < r; d++) {
            if (d == axis && !new_axis) continue;
            if (t->dims[d] != first->dims[d])
                return k_fail(k, ONYX_E_SHAPE,
                              "sequence item %d has size %lld on axis %d but item 0 has %lld",
                              i, (long long)t->dims[d], d, (long long)first->dims[d]);
        }
        int64_t add = new_axis ? 1 : t->dims[axis];
        if (add > INT64_MAX - cat) return k_fail(k, ONYX_E_LIMIT, "concatenated size overflows");
        cat += add;
    }

    int64_t dims[ONYX_MAX_RANK];
    int out_rank = new_axis ? r + 1 : r;
    for (int d = 0, src = 0; d < out_rank; d++) {
        if (d == axis) {
            dims[d] = cat;
            if (!new_axis) src++;
        } else {
            dims[d] = first->dims[src++];
        }
    }
    onyx_tensor *y = k_output(k, 0, first->dtype, out_rank, dims);
    if (!y) return k->err->code;

    /* Every item is outer blocks of `chunk` elements, where chunk covers the item's
     * dims from axis on; the output interleaves them block by block. */
    int64_t outer = tensor_numel_of(axis, first->dims);
    int64_t off = 0;
    for (int64_t o = 0; o < outer; o++) {
        for (int i = 0; i < s->seq_len; i++) {
            const onyx_tensor *t = s->seq[i];
            int64_t chunk = tensor_numel_of(r - axis, t->dims + axis);
            if (!copy_elems(y, off, t, o * chunk, chunk))
                return k_fail(k, ONYX_E_NOMEM, "out of memory copying strings");
            off += chunk;
        }
    }
    return ONYX_OK;
}

static onyx_status op_optional(onyx_kctx *k)
{
    const onyx_tensor *v = k_input(k, 0);
    if (!v || v->kind == ONYX_KIND_NONE) return k_output_none(k, 0);
    return output_copy(k, 0, v);
}

static onyx_status op_optional_has_element(onyx_kctx *k)
{
    const onyx_tensor *v = k_input(k, 0);
    onyx_tensor *y = k_output(k, 0, ONYX_BOOL, 0, NULL);
    if (!y) return k->err->code;
    *(uint8_t *)y->data = v && v->kind != ONYX_KIND_NONE;
    return ONYX_OK;
}

static onyx_status op_optional_get_element(onyx_kctx *k)
{
    const onyx_tensor *v = k_input(k, 0);
    if (!v || v->kind == ONYX_KIND_NONE)
        return k_fail(k, ONYX_E_INVALID, "input 0 is an empty optional: it has no element");
    return output_copy(k, 0, v);
}

const onyx_op_def onyx_ops_sequence[] = {
    {"", "SequenceEmpty", op_sequence_empty},
    {"", "SequenceConstruct", op_sequence_construct},
    {"", "SequenceInsert", op_sequence_insert},
    {"", "SequenceAt", op_sequence_at},
    {"", "SequenceErase", op_sequence_erase},
    {"", "SequenceLength", op_sequence_length},
    {"", "SplitToSequence", op_split_to_sequence},
    {"", "ConcatFromSequence", op_concat_from_sequence},
    {"", "Optional", op_optional},
    {"", "OptionalHasElement", op_optional_has_element},
    {"", "OptionalGetElement", op_optional_get_element},
    {0},
};
