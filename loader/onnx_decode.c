/* onnx_decode.c - ONNX messages (ModelProto, GraphProto, NodeProto,
 * AttributeProto, TensorProto, TypeProto, ValueInfoProto, SequenceProto,
 * OptionalProto) decoded from the wire format into onyx's IR.
 *
 * Field numbers are onnx.proto3's. Unknown fields are skipped. Every count is
 * bounded by the bytes that carry it, so allocation never exceeds a small
 * multiple of the input size (external data is bounded by its file's size). */
#include "../runtime/graph.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 24 /* graphs in attributes, types in types */

typedef struct dec {
    onyx_pool *pool;   /* NULL: tensors are heap-owned (standalone .pb files) */
    onyx_error *err;
    const char *dir;
    int depth;
    bool borrow;       /* raw_data may point into the input buffer (it outlives the model) */
    weight_store *ws;  /* the model's, for initializers kept in the buffer */
} dec;

static bool fail(dec *d, onyx_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static bool fail(dec *d, onyx_status code, const char *fmt, ...)
{
    if (d->err && d->err->code == ONYX_OK) {
        d->err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->err->message, sizeof d->err->message, fmt, ap);
        va_end(ap);
    }
    return false;
}

static void *d_alloc(dec *d, size_t n, size_t size)
{
    void *p;
    if (d->pool) {
        p = pool_array(d->pool, n, size);
    } else {
        p = (size && n > SIZE_MAX / size) ? NULL : calloc(n ? n : 1, size ? size : 1);
    }
    if (!p) fail(d, ONYX_E_NOMEM, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

static const char *d_str(dec *d, const pb_field *f)
{
    char *s = d->pool ? pool_strndup(d->pool, f->sub.p, f->sub.len) : strndup((const char *)f->sub.p, f->sub.len);
    if (!s) fail(d, ONYX_E_NOMEM, "out of memory");
    return s;
}

static bool expect_wire(dec *d, const pb_field *f, int wire, const char *msg, const char *field)
{
    if (f->wire == wire) return true;
    return fail(d, ONYX_E_PARSE, "%s.%s (field %u) at byte %zu has the wrong wire type %d", msg,
                field, f->number, f->offset, f->wire);
}

static pb_msg sub(const pb_field *f, const char *type)
{
    pb_msg m = f->sub;
    m.type = type;
    return m;
}

/* ---------------------------------------------------------------- tensors */

static bool dtype_known(int64_t t)
{
    return t >= ONYX_FLOAT && t <= ONYX_BFLOAT16;
}

/* Reads length bytes at offset of the external file into dst. */
static bool read_external(dec *d, const char *name, const char *location, int64_t offset,
                          int64_t length, size_t want, void **dst)
{
    if (!d->dir) return fail(d, ONYX_E_INVALID, "tensor '%s' uses external data '%s' but the model was loaded from memory", name, location);
    if (location[0] == '/' || strstr(location, "..")) return fail(d, ONYX_E_INVALID, "tensor '%s': external data location '%s' must be a relative path inside the model's directory", name, location);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", d->dir, location) >= (int)sizeof path) return fail(d, ONYX_E_LIMIT, "tensor '%s': external data path too long", name);
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(d, ONYX_E_IO, "tensor '%s': cannot open external data file '%s'", name, path);
    bool ok = false;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long size = ftell(fp);
        if (length < 0) length = size - offset;
        if (offset < 0 || size < 0 || offset > size || length > size - offset) {
            fail(d, ONYX_E_PARSE, "tensor '%s': external data offset %lld + length %lld is past the end of '%s' (%ld bytes)", name, (long long)offset, (long long)length, path, size);
        } else if ((uint64_t)length != want) {
            fail(d, ONYX_E_PARSE, "tensor '%s': external data has %lld bytes, the tensor needs %zu", name, (long long)length, want);
        } else if (fseek(fp, (long)offset, SEEK_SET) == 0) {
            *dst = d_alloc(d, want ? want : 1, 1);
            if (*dst && fread(*dst, 1, want, fp) == want) ok = true;
            else if (*dst) fail(d, ONYX_E_IO, "tensor '%s': short read from '%s'", name, path);
        }
    }
    fclose(fp);
    return ok;
}

/* Which typed field carries dtype's values, and how it is encoded. */
static void typed_field(onyx_dtype t, uint32_t *field, int *kind)
{
    switch (t) {
    case ONYX_FLOAT: case ONYX_COMPLEX64: *field = 4; *kind = PB_I32; break;
    case ONYX_INT64: *field = 7; *kind = PB_VARINT; break;
    case ONYX_DOUBLE: case ONYX_COMPLEX128: *field = 10; *kind = PB_I64; break;
    case ONYX_UINT32: case ONYX_UINT64: *field = 11; *kind = PB_VARINT; break;
    case ONYX_STRING: *field = 6; *kind = PB_LEN; break;
    default: *field = 5; *kind = PB_VARINT; break; /* int32_data: small ints, bool, halves */
    }
}

static void store_typed(onyx_dtype t, void *data, size_t i, uint64_t v)
{
    switch (t) {
    case ONYX_FLOAT: case ONYX_COMPLEX64: case ONYX_INT32: case ONYX_UINT32: ((uint32_t *)data)[i] = (uint32_t)v; break;
    case ONYX_INT64: case ONYX_UINT64: case ONYX_DOUBLE: case ONYX_COMPLEX128: ((uint64_t *)data)[i] = v; break;
    case ONYX_INT16: case ONYX_UINT16: case ONYX_FLOAT16: case ONYX_BFLOAT16: ((uint16_t *)data)[i] = (uint16_t)v; break;
    case ONYX_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    default: ((uint8_t *)data)[i] = (uint8_t)v; break;
    }
}

/* init: t is an initializer (whose bytes may stay in the buffer, unaligned). */
static bool decode_tensor(dec *d, pb_msg m, onyx_tensor *t, const char **name_out, bool init)
{
    pb_iter it;
    pb_field f;
    int r;
    int64_t dtype = 0;
    const char *name = "";
    bool named = false;
    const pb_field *raw = NULL;
    pb_field raw_f;
    const char *location = NULL;
    int64_t ext_offset = 0, ext_length = -1, data_location = 0;
    m.type = "TensorProto";
    memset(t, 0, sizeof *t);
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, d->err)) == 1) {
        switch (f.number) {
        case 2: if (!expect_wire(d, &f, PB_VARINT, "TensorProto", "data_type")) return false; dtype = (int64_t)f.v; break;
        case 3: return fail(d, ONYX_E_UNSUPPORTED, "TensorProto at byte %zu uses segments, which onyx does not support", m.offset);
        case 8:
            if (!expect_wire(d, &f, PB_LEN, "TensorProto", "name")) return false;
            if (named && !d->pool) free((char *)name);
            if (!(name = d_str(d, &f))) return false;
            named = true;
            break;
        case 9: if (!expect_wire(d, &f, PB_LEN, "TensorProto", "raw_data")) return false; raw_f = f; raw = &raw_f; break;
        case 14: data_location = (int64_t)f.v; break;
        case 13: {
            if (!expect_wire(d, &f, PB_LEN, "TensorProto", "external_data")) return false;
            pb_iter e;
            pb_field ef;
            const char *key = NULL, *val = NULL;
            int er;
            pb_iter_init(&e, sub(&f, "StringStringEntryProto"));
            while ((er = pb_next(&e, &ef, d->err)) == 1) {
                if (ef.wire != PB_LEN) continue;
                if (ef.number == 1 && !(key = d_str(d, &ef))) return false;
                if (ef.number == 2 && !(val = d_str(d, &ef))) return false;
            }
            if (er < 0) return false;
            if (!key || !val) break;
            if (!strcmp(key, "location")) location = val;
            else if (!strcmp(key, "offset")) ext_offset = strtoll(val, NULL, 10);
            else if (!strcmp(key, "length")) ext_length = strtoll(val, NULL, 10);
            break;
        }
        default: break;
        }
    }
    if (r < 0) return false;
    /* only a decoded name is handed out: heap-mode callers free it */
    if (name_out && (named || d->pool)) *name_out = name;
    else if (named && !d->pool) free((char *)name);
    if (!dtype_known(dtype)) return fail(d, ONYX_E_UNSUPPORTED, "tensor '%s' at byte %zu has unsupported data_type %lld", name, m.offset, (long long)dtype);
    size_t ndims;
    if (!pb_count_repeated(m, 1, PB_VARINT, &ndims, d->err)) return false;
    if (ndims > ONYX_MAX_RANK) return fail(d, ONYX_E_LIMIT, "tensor '%s' at byte %zu has rank %zu (limit %d)", name, m.offset, ndims, ONYX_MAX_RANK);
    uint64_t dims[ONYX_MAX_RANK];
    if (!pb_read_repeated(m, 1, PB_VARINT, dims, ndims, d->err)) return false;
    t->kind = ONYX_KIND_TENSOR;
    t->dtype = (onyx_dtype)dtype;
    t->rank = (int)ndims;
    for (size_t i = 0; i < ndims; i++) {
        t->dims[i] = (int64_t)dims[i];
        if (t->dims[i] < 0) return fail(d, ONYX_E_PARSE, "tensor '%s' at byte %zu has negative dimension %lld", name, m.offset, (long long)t->dims[i]);
    }
    size_t es = onyx_dtype_size(t->dtype);
    int64_t n = tensor_numel_of(t->rank, t->dims);
    if (n < 0 || n > ONYX_MAX_TENSOR_BYTES / (int64_t)es) return fail(d, ONYX_E_LIMIT, "tensor '%s' at byte %zu is too large", name, m.offset);
    size_t bytes = (size_t)n * es;
    t->nbytes = bytes;
    t->owns_data = d->pool == NULL;
    if (t->dtype == ONYX_STRING) {
        if (raw || location) return fail(d, ONYX_E_PARSE, "string tensor '%s' must use string_data", name);
        size_t cnt = pb_count_field(m, 6);
        if (cnt != (size_t)n) return fail(d, ONYX_E_PARSE, "string tensor '%s' has %zu strings for %lld elements", name, cnt, (long long)n);
        char **s = d_alloc(d, (size_t)n, sizeof(char *));
        if (!s) return false;
        t->data = s;
        size_t k = 0;
        pb_iter_init(&it, m);
        while (pb_next(&it, &f, d->err) == 1)
            if (f.number == 6 && f.wire == PB_LEN && !(s[k++] = (char *)d_str(d, &f))) return false;
        return true;
    }
    if (data_location == 1 || location) {
        if (!location) return fail(d, ONYX_E_PARSE, "tensor '%s' is marked external but has no location", name);
        return read_external(d, name, location, ext_offset, ext_length, bytes, &t->data);
    }
    if (raw) {
        if (raw->sub.len != bytes) return fail(d, ONYX_E_PARSE, "tensor '%s': raw_data at byte %zu has %zu bytes, shape and type need %zu", name, raw->offset, raw->sub.len, bytes);
        /* zero-copy: when the caller keeps the buffer alive (an mmap'ed file),
         * an initializer's bytes stay where they lie, aligned or not (unaligned
         * ones are copied only when a reader needs an aligned array: see
         * runtime/weights.h), and so do other aligned tensors; small unaligned
         * ones are copied now */
        size_t align = es > 8 ? 8 : es;
        bool aligned = ((uintptr_t)raw->sub.p % align) == 0;
        if (d->borrow && d->pool && bytes && init && (aligned || bytes >= WEIGHTS_MIN_BYTES)) {
            if (bytes < WEIGHTS_MIN_BYTES) { /* too small to be worth releasing */
                t->data = (void *)(uintptr_t)raw->sub.p;
                return true;
            }
            if (!weights_from_file(d->ws, d->pool, t, raw->sub.p)) return fail(d, ONYX_E_NOMEM, "out of memory");
            return true;
        }
        if (d->borrow && d->pool && bytes && aligned) {
            t->data = (void *)(uintptr_t)raw->sub.p;
            return true;
        }
        if (!(t->data = d_alloc(d, bytes ? bytes : 1, 1))) return false;
        if (bytes) memcpy(t->data, raw->sub.p, bytes); /* little-endian host assumed, as ONNX's raw_data */
        return true;
    }
    uint32_t field;
    int kind;
    typed_field(t->dtype, &field, &kind);
    size_t cnt;
    if (!pb_count_repeated(m, field, kind, &cnt, d->err)) return false;
    bool complex = t->dtype == ONYX_COMPLEX64 || t->dtype == ONYX_COMPLEX128;
    size_t want = (size_t)n * (complex ? 2 : 1);
    if (cnt != want) return fail(d, ONYX_E_PARSE, "tensor '%s' at byte %zu has %zu values for %lld elements", name, m.offset, cnt, (long long)n);
    if (!(t->data = d_alloc(d, bytes ? bytes : 1, 1))) return false;
    if (!cnt) return true;
    uint64_t *vals = malloc(cnt * sizeof *vals);
    if (!vals) return fail(d, ONYX_E_NOMEM, "out of memory");
    bool ok = pb_read_repeated(m, field, kind, vals, cnt, d->err);
    if (ok) {
        onyx_dtype store = complex ? (t->dtype == ONYX_COMPLEX64 ? ONYX_FLOAT : ONYX_DOUBLE) : t->dtype;
        for (size_t i = 0; i < cnt; i++) store_typed(store, t->data, i, vals[i]);
    }
    free(vals);
    return ok;
}

/* ---------------------------------------------------------------- types */

static bool decode_type(dec *d, pb_msg m, onyx_value_decl *v, bool inner);

static bool decode_shape(dec *d, pb_msg m, onyx_value_decl *v)
{
    pb_iter it;
    pb_field f;
    int r, rank = 0;
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, d->err)) == 1) {
        if (f.number != 1 || f.wire != PB_LEN) continue;
        if (rank >= ONYX_MAX_RANK) return fail(d, ONYX_E_LIMIT, "value '%s' has more than %d dimensions", v->name, ONYX_MAX_RANK);
        pb_iter di;
        pb_field df;
        int dr;
        v->dims[rank] = -1;
        v->dim_names[rank] = NULL;
        pb_iter_init(&di, sub(&f, "TensorShapeProto.Dimension"));
        while ((dr = pb_next(&di, &df, d->err)) == 1) {
            if (df.number == 1 && df.wire == PB_VARINT) v->dims[rank] = (int64_t)df.v;
            if (df.number == 2 && df.wire == PB_LEN && !(v->dim_names[rank] = d_str(d, &df))) return false;
        }
        if (dr < 0) return false;
        rank++;
    }
    if (r < 0) return false;
    v->rank = rank;
    return true;
}

static bool decode_tensor_type(dec *d, pb_msg m, onyx_value_decl *v)
{
    pb_iter it;
    pb_field f;
    int r;
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, d->err)) == 1) {
        if (f.number == 1 && f.wire == PB_VARINT) v->dtype = (onyx_dtype)f.v;
        if (f.number == 2 && f.wire == PB_LEN && !decode_shape(d, sub(&f, "TensorShapeProto"), v)) return false;
    }
    return r == 0;
}

/* inner: decoding the element type of a sequence/optional (kinds nest once). */
static bool decode_type(dec *d, pb_msg m, onyx_value_decl *v, bool inner)
{
    if (++d->depth > MAX_DEPTH) return fail(d, ONYX_E_LIMIT, "TypeProto at byte %zu nested deeper than %d", m.offset, MAX_DEPTH);
    pb_iter it;
    pb_field f;
    int r;
    bool ok = true;
    pb_iter_init(&it, m);
    while (ok && (r = pb_next(&it, &f, d->err)) == 1) {
        if (f.wire != PB_LEN) continue;
        switch (f.number) {
        case 1: ok = decode_tensor_type(d, sub(&f, "TypeProto.Tensor"), v); break;
        case 4: /* sequence */
            if (inner && v->kind == ONYX_KIND_SEQUENCE) { ok = fail(d, ONYX_E_UNSUPPORTED, "value '%s': nested sequences are not supported", v->name); break; }
            v->kind = ONYX_KIND_SEQUENCE;
            v->rank = -1;
            {
                pb_iter e;
                pb_field ef;
                pb_iter_init(&e, sub(&f, "TypeProto.Sequence"));
                while (ok && (r = pb_next(&e, &ef, d->err)) == 1)
                    if (ef.number == 1 && ef.wire == PB_LEN) ok = decode_type(d, sub(&ef, "TypeProto"), v, true);
                if (r < 0) ok = false;
            }
            break;
        case 9: /* optional */
            v->optional = true;
            {
                pb_iter e;
                pb_field ef;
                pb_iter_init(&e, sub(&f, "TypeProto.Optional"));
                while (ok && (r = pb_next(&e, &ef, d->err)) == 1)
                    if (ef.number == 1 && ef.wire == PB_LEN) ok = decode_type(d, sub(&ef, "TypeProto"), v, true);
                if (r < 0) ok = false;
            }
            break;
        case 5: ok = fail(d, ONYX_E_UNSUPPORTED, "value '%s' has a map type, which onyx does not support", v->name); break;
        case 8: ok = fail(d, ONYX_E_UNSUPPORTED, "value '%s' has a sparse tensor type, which onyx does not support", v->name); break;
        default: break;
        }
    }
    d->depth--;
    return ok && r == 0;
}

static bool decode_value_info(dec *d, pb_msg m, onyx_value_decl *v)
{
    pb_iter it;
    pb_field f;
    int r;
    memset(v, 0, sizeof *v);
    v->name = "";
    v->rank = -1;
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, d->err)) == 1) {
        if (f.number == 1 && f.wire == PB_LEN && !(v->name = d_str(d, &f))) return false;
    }
    if (r < 0) return false;
    pb_iter_init(&it, m);
    while (pb_next(&it, &f, d->err) == 1)
        if (f.number == 2 && f.wire == PB_LEN && !decode_type(d, sub(&f, "TypeProto"), v, false)) return false;
    return true;
}

/* ---------------------------------------------------------------- graphs */

static bool decode_graph(dec *d, pb_msg m, onyx_graph *g);

static bool alloc_list(dec *d, pb_msg m, uint32_t field, size_t elem, void **out, int *n)
{
    size_t c = pb_count_field(m, field);
    *n = (int)c;
    *out = d_alloc(d, c, elem);
    return *out != NULL;
}

static bool decode_attr(dec *d, pb_msg m, onyx_attr *a)
{
    pb_iter it;
    pb_field f;
    int r;
    int64_t type = 0;
    memset(a, 0, sizeof *a);
    a->name = "";
    /* first pass: scalars and the list counts */
    size_t cnt_f = 0, cnt_i = 0;
    if (!pb_count_repeated(m, 7, PB_I32, &cnt_f, d->err) || !pb_count_repeated(m, 8, PB_VARINT, &cnt_i, d->err))
        return false;
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, d->err)) == 1) {
        switch (f.number) {
        case 1: if (f.wire != PB_LEN || !(a->name = d_str(d, &f))) return fail(d, ONYX_E_PARSE, "bad attribute name at byte %zu", f.offset); break;
        case 20: type = (int64_t)f.v; break;
        case 2: if (f.wire == PB_I32) { uint32_t b = (uint32_t)f.v; memcpy(&a->f, &b, 4); if (!type) type = ATTR_FLOAT; } break;
        case 3: if (f.wire == PB_VARINT) { a->i = (int64_t)f.v; if (!type) type = ATTR_INT; } break;
        case 4: if (f.wire == PB_LEN) { if (!(a->s = d_str(d, &f))) return false; a->s_len = f.sub.len; if (!type) type = ATTR_STRING; } break;
        case 21: return fail(d, ONYX_E_UNSUPPORTED, "attribute at byte %zu refers to a function attribute (ref_attr_name), which onyx does not support", f.offset);
        default: break;
        }
    }
    if (r < 0) return false;
    a->type = (onyx_attr_type)type;
    switch (a->type) {
    case ATTR_STRING:
        /* a STRING attribute without its field holds the empty string (proto3
         * default): readers may count on a->s (fuzzer find) */
        if (!a->s) a->s = "";
        return true;
    case ATTR_FLOAT: case ATTR_INT: case ATTR_UNDEFINED:
        return true;
    case ATTR_FLOATS: {
        a->n = (int)cnt_f;
        uint64_t *v = malloc((cnt_f ? cnt_f : 1) * sizeof *v);
        if (!v || !(a->floats = d_alloc(d, cnt_f, sizeof(float)))) { free(v); return fail(d, ONYX_E_NOMEM, "out of memory"); }
        bool ok = pb_read_repeated(m, 7, PB_I32, v, cnt_f, d->err);
        for (size_t i = 0; ok && i < cnt_f; i++) { uint32_t b = (uint32_t)v[i]; memcpy(&a->floats[i], &b, 4); }
        free(v);
        return ok;
    }
    case ATTR_INTS:
        a->n = (int)cnt_i;
        if (!(a->ints = d_alloc(d, cnt_i, sizeof(int64_t)))) return false;
        return pb_read_repeated(m, 8, PB_VARINT, (uint64_t *)a->ints, cnt_i, d->err);
    case ATTR_STRINGS: {
        if (!alloc_list(d, m, 9, sizeof(char *), (void **)&a->strings, &a->n)) return false;
        int k = 0;
        pb_iter_init(&it, m);
        while (pb_next(&it, &f, d->err) == 1)
            if (f.number == 9 && f.wire == PB_LEN && !(a->strings[k++] = (char *)d_str(d, &f))) return false;
        return true;
    }
    case ATTR_TENSOR:
        pb_iter_init(&it, m);
        while (pb_next(&it, &f, d->err) == 1) {
            if (f.number == 5 && f.wire == PB_LEN) {
                if (!(a->t = d_alloc(d, 1, sizeof(onyx_tensor)))) return false;
                if (!decode_tensor(d, sub(&f, "TensorProto"), a->t, NULL, false)) return false;
            }
        }
        if (!a->t) return fail(d, ONYX_E_PARSE, "tensor attribute '%s' has no tensor", a->name);
        return true;
    case ATTR_TENSORS: {
        if (!alloc_list(d, m, 10, sizeof(onyx_tensor *), (void **)&a->tensors, &a->n)) return false;
        int k = 0;
        pb_iter_init(&it, m);
        while (pb_next(&it, &f, d->err) == 1) {
            if (f.number != 10 || f.wire != PB_LEN) continue;
            if (!(a->tensors[k] = d_alloc(d, 1, sizeof(onyx_tensor)))) return false;
            if (!decode_tensor(d, sub(&f, "TensorProto"), a->tensors[k++], NULL, false)) return false;
        }
        return true;
    }
    case ATTR_GRAPH:
        pb_iter_init(&it, m);
        while (pb_next(&it, &f, d->err) == 1) {
            if (f.number == 6 && f.wire == PB_LEN) {
                if (!(a->g = d_alloc(d, 1, sizeof(onyx_graph)))) return false;
                if (!decode_graph(d, sub(&f, "GraphProto"), a->g)) return false;
            }
        }
        if (!a->g) return fail(d, ONYX_E_PARSE, "graph attribute '%s' has no graph", a->name);
        return true;
    case ATTR_GRAPHS: {
        if (!alloc_list(d, m, 11, sizeof(onyx_graph *), (void **)&a->graphs, &a->n)) return false;
        int k = 0;
        pb_iter_init(&it, m);
        while (pb_next(&it, &f, d->err) == 1) {
            if (f.number != 11 || f.wire != PB_LEN) continue;
            if (!(a->graphs[k] = d_alloc(d, 1, sizeof(onyx_graph)))) return false;
            if (!decode_graph(d, sub(&f, "GraphProto"), a->graphs[k++])) return false;
        }
        return true;
    }
    case ATTR_SPARSE_TENSOR: case ATTR_SPARSE_TENSORS: case ATTR_TYPE_PROTO: case ATTR_TYPE_PROTOS:
        /* kept as bytes; the ops that take them say what they support */
        if (!(a->raw = d_alloc(d, m.len ? m.len : 1, 1))) return false;
        memcpy((uint8_t *)a->raw, m.p, m.len);
        a->raw_len = m.len;
        return true;
    default:
        return fail(d, ONYX_E_PARSE, "attribute '%s' at byte %zu has unknown type %lld", a->name, m.offset, (long long)type);
    }
}

static bool decode_node(dec *d, pb_msg m, onyx_node *n)
{
    pb_iter it;
    pb_field f;
    int r, ki = 0, ko = 0, ka = 0;
    memset(n, 0, sizeof *n);
    n->name = n->op_type = n->domain = "";
    if (!alloc_list(d, m, 1, sizeof(char *), (void **)&n->inputs, &n->n_inputs) ||
        !alloc_list(d, m, 2, sizeof(char *), (void **)&n->outputs, &n->n_outputs) ||
        !alloc_list(d, m, 5, sizeof(onyx_attr), (void **)&n->attrs, &n->n_attrs))
        return false;
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, d->err)) == 1) {
        if (f.wire != PB_LEN) continue;
        switch (f.number) {
        case 1: if (!(n->inputs[ki++] = d_str(d, &f))) return false; break;
        case 2: if (!(n->outputs[ko++] = d_str(d, &f))) return false; break;
        case 3: if (!(n->name = d_str(d, &f))) return false; break;
        case 4: if (!(n->op_type = d_str(d, &f))) return false; break;
        case 7: if (!(n->domain = d_str(d, &f))) return false; break;
        case 5: if (!decode_attr(d, sub(&f, "AttributeProto"), &n->attrs[ka++])) return false; break;
        default: break;
        }
    }
    if (r < 0) return false;
    if (!n->op_type[0]) return fail(d, ONYX_E_PARSE, "node '%s' at byte %zu has no op_type", n->name, m.offset);
    return true;
}

static bool decode_graph(dec *d, pb_msg m, onyx_graph *g)
{
    if (++d->depth > MAX_DEPTH) return fail(d, ONYX_E_LIMIT, "graphs nested deeper than %d (byte %zu)", MAX_DEPTH, m.offset);
    pb_iter it;
    pb_field f;
    int r, kn = 0, kt = 0, ki = 0, ko = 0, kv = 0;
    memset(g, 0, sizeof *g);
    g->name = "";
    if (pb_count_field(m, 15)) return fail(d, ONYX_E_UNSUPPORTED, "graph at byte %zu has sparse initializers, which onyx does not support", m.offset);
    if (!alloc_list(d, m, 1, sizeof(onyx_node), (void **)&g->nodes, &g->n_nodes) ||
        !alloc_list(d, m, 5, sizeof(onyx_tensor), (void **)&g->inits, &g->n_inits) ||
        !(g->init_names = d_alloc(d, (size_t)g->n_inits, sizeof(char *))) ||
        !alloc_list(d, m, 11, sizeof(onyx_value_decl), (void **)&g->inputs, &g->n_inputs) ||
        !alloc_list(d, m, 12, sizeof(onyx_value_decl), (void **)&g->outputs, &g->n_outputs) ||
        !alloc_list(d, m, 13, sizeof(onyx_value_decl), (void **)&g->value_info, &g->n_value_info))
        return false;
    pb_iter_init(&it, m);
    bool ok = true;
    while (ok && (r = pb_next(&it, &f, d->err)) == 1) {
        if (f.wire != PB_LEN) continue;
        switch (f.number) {
        case 1: ok = decode_node(d, sub(&f, "NodeProto"), &g->nodes[kn++]); break;
        case 2: ok = (g->name = d_str(d, &f)) != NULL; break;
        case 5: ok = decode_tensor(d, sub(&f, "TensorProto"), &g->inits[kt], &g->init_names[kt], true); kt++; break;
        case 11: ok = decode_value_info(d, sub(&f, "ValueInfoProto"), &g->inputs[ki++]); break;
        case 12: ok = decode_value_info(d, sub(&f, "ValueInfoProto"), &g->outputs[ko++]); break;
        case 13: ok = decode_value_info(d, sub(&f, "ValueInfoProto"), &g->value_info[kv++]); break;
        default: break;
        }
    }
    d->depth--;
    return ok && r == 0;
}

static bool decode_model(dec *d, pb_msg m, onyx_model *md)
{
    pb_iter it;
    pb_field f;
    int r, ko = 0, km = 0;
    bool have_graph = false;
    md->producer_name = md->producer_version = md->domain = "";
    size_t nops = pb_count_field(m, 8), nmeta = pb_count_field(m, 14);
    md->n_opsets = (int)nops;
    md->n_meta = (int)nmeta;
    if (!(md->opset_domains = d_alloc(d, nops, sizeof(char *))) ||
        !(md->opset_versions = d_alloc(d, nops, sizeof(int64_t))) ||
        !(md->meta_keys = d_alloc(d, nmeta, sizeof(char *))) ||
        !(md->meta_values = d_alloc(d, nmeta, sizeof(char *))) ||
        !(md->graph = d_alloc(d, 1, sizeof(onyx_graph))))
        return false;
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, d->err)) == 1) {
        switch (f.number) {
        case 1: md->ir_version = (int64_t)f.v; break;
        case 5: md->model_version = (int64_t)f.v; break;
        case 2: if (f.wire == PB_LEN && !(md->producer_name = d_str(d, &f))) return false; break;
        case 3: if (f.wire == PB_LEN && !(md->producer_version = d_str(d, &f))) return false; break;
        case 4: if (f.wire == PB_LEN && !(md->domain = d_str(d, &f))) return false; break;
        case 7:
            if (!expect_wire(d, &f, PB_LEN, "ModelProto", "graph")) return false;
            if (!decode_graph(d, sub(&f, "GraphProto"), md->graph)) return false;
            have_graph = true;
            break;
        case 8: case 14: {
            if (!expect_wire(d, &f, PB_LEN, "ModelProto", f.number == 8 ? "opset_import" : "metadata_props")) return false;
            pb_iter e;
            pb_field ef;
            int er;
            const char *s1 = "", *s2 = "";
            int64_t ver = 0;
            pb_iter_init(&e, sub(&f, f.number == 8 ? "OperatorSetIdProto" : "StringStringEntryProto"));
            while ((er = pb_next(&e, &ef, d->err)) == 1) {
                if (ef.number == 1 && ef.wire == PB_LEN && !(s1 = d_str(d, &ef))) return false;
                if (ef.number == 2 && ef.wire == PB_LEN && !(s2 = d_str(d, &ef))) return false;
                if (ef.number == 2 && ef.wire == PB_VARINT) ver = (int64_t)ef.v;
            }
            if (er < 0) return false;
            if (f.number == 8) {
                md->opset_domains[ko] = s1;
                md->opset_versions[ko++] = ver;
            } else {
                md->meta_keys[km] = s1;
                md->meta_values[km++] = s2;
            }
            break;
        }
        default: break;
        }
    }
    if (r < 0) return false;
    if (!have_graph) return fail(d, ONYX_E_PARSE, "ModelProto has no graph (%zu bytes read)", m.len);
    return true;
}

onyx_status onnx_decode_model(const uint8_t *buf, size_t len, const char *dir, onyx_model **out,
                              onyx_error *err)
{
    return onnx_decode_model_borrow(buf, len, dir, false, out, err);
}

onyx_status onnx_decode_model_borrow(const uint8_t *buf, size_t len, const char *dir, bool borrow,
                                     onyx_model **out, onyx_error *err)
{
    onyx_model *md = calloc(1, sizeof *md);
    if (!md) return pb_fail(err, ONYX_E_NOMEM, "out of memory");
    if (!weights_store_init(&md->weights)) {
        free(md);
        return pb_fail(err, ONYX_E_NOMEM, "out of memory");
    }
    dec d = {&md->pool, err, dir, 0, borrow, &md->weights};
    if (dir && !(md->dir = pool_strndup(&md->pool, dir, strlen(dir)))) {
        weights_store_free(&md->weights);
        free(md);
        return pb_fail(err, ONYX_E_NOMEM, "out of memory");
    }
    pb_msg m = {buf, len, 0, "ModelProto"};
    if (!decode_model(&d, m, md)) {
        if (err && err->code == ONYX_OK) pb_fail(err, ONYX_E_PARSE, "malformed model");
        weights_store_free(&md->weights);
        pool_free(&md->pool);
        free(md);
        return err ? err->code : ONYX_E_PARSE;
    }
    *out = md;
    return ONYX_OK;
}

/* ---------------------------------------------------------------- .pb values */

static bool decode_value(dec *d, pb_msg m, onyx_kind kind, bool optional, onyx_tensor **out,
                         const char **name);

/* SequenceProto: 1 name, 2 elem_type, 3 tensor_values, 5 sequence_values. */
static bool decode_sequence(dec *d, pb_msg m, onyx_tensor **out, const char **name)
{
    pb_iter it;
    pb_field f;
    int r;
    onyx_tensor *s = onyx_sequence_create(ONYX_UNDEFINED);
    if (!s) return fail(d, ONYX_E_NOMEM, "out of memory");
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, d->err)) == 1) {
        if (f.number == 1 && f.wire == PB_LEN && name) {
            if (!(*name = d_str(d, &f))) break;
        } else if (f.number == 3 && f.wire == PB_LEN) {
            onyx_tensor *t = calloc(1, sizeof *t);
            if (!t || !decode_tensor(d, sub(&f, "TensorProto"), t, NULL, false) || onyx_sequence_append(s, t) != ONYX_OK) {
                onyx_tensor_free(t);
                r = -1;
                break;
            }
            s->dtype = t->dtype;
        } else if (f.number == 5) {
            fail(d, ONYX_E_UNSUPPORTED, "nested sequences are not supported");
            r = -1;
            break;
        }
    }
    if (r != 0) {
        onyx_tensor_free(s);
        if (d->err && d->err->code == ONYX_OK) fail(d, ONYX_E_PARSE, "malformed SequenceProto");
        return false;
    }
    *out = s;
    return true;
}

/* OptionalProto: 1 name, 2 elem_type, 3 tensor_value, 5 sequence_value. */
static bool decode_optional(dec *d, pb_msg m, onyx_tensor **out, const char **name)
{
    pb_iter it;
    pb_field f;
    int r;
    onyx_tensor *v = NULL;
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, d->err)) == 1) {
        if (f.number == 1 && f.wire == PB_LEN && name && !(*name = d_str(d, &f))) r = -1;
        if (f.wire == PB_LEN && (f.number == 3 || f.number == 5) && !v) {
            if (!decode_value(d, sub(&f, "value"), f.number == 3 ? ONYX_KIND_TENSOR : ONYX_KIND_SEQUENCE, false, &v, NULL)) r = -1;
        }
        if (r < 0) break;
    }
    if (r != 0) {
        onyx_tensor_free(v);
        return false;
    }
    if (!v) {
        v = calloc(1, sizeof *v);
        if (!v) return fail(d, ONYX_E_NOMEM, "out of memory");
        v->kind = ONYX_KIND_NONE;
    }
    *out = v;
    return true;
}

static bool decode_value(dec *d, pb_msg m, onyx_kind kind, bool optional, onyx_tensor **out,
                         const char **name)
{
    if (optional) return decode_optional(d, m, out, name);
    if (kind == ONYX_KIND_SEQUENCE) return decode_sequence(d, m, out, name);
    onyx_tensor *t = calloc(1, sizeof *t);
    if (!t) return fail(d, ONYX_E_NOMEM, "out of memory");
    if (!decode_tensor(d, m, t, name, false)) {
        onyx_tensor_free(t);
        return false;
    }
    *out = t;
    return true;
}

onyx_status onyx_value_load_pb(const void *buf, size_t len, onyx_kind kind, int optional,
                               onyx_tensor **out, char **name_out, onyx_error *err)
{
    dec d = {NULL, err, NULL, 0, false, NULL};
    const char *name = NULL;
    pb_msg m = {buf, len, 0, "TensorProto"};
    if (!decode_value(&d, m, kind, optional != 0, out, &name)) {
        free((char *)name);
        if (err && err->code == ONYX_OK) pb_fail(err, ONYX_E_PARSE, "malformed value");
        return err ? err->code : ONYX_E_PARSE;
    }
    if (name_out) *name_out = (char *)name;
    else free((char *)name);
    return ONYX_OK;
}
