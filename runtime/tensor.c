/* tensor.c - allocation, copying and element-type facts for onyx_tensor. */
#include "tensor.h"
#include "weights.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} dtype_facts[] = {
    [ONYX_UNDEFINED] = {"undefined", 0}, [ONYX_FLOAT] = {"float32", 4},
    [ONYX_UINT8] = {"uint8", 1},         [ONYX_INT8] = {"int8", 1},
    [ONYX_UINT16] = {"uint16", 2},       [ONYX_INT16] = {"int16", 2},
    [ONYX_INT32] = {"int32", 4},         [ONYX_INT64] = {"int64", 8},
    [ONYX_STRING] = {"string", sizeof(char *)}, [ONYX_BOOL] = {"bool", 1},
    [ONYX_FLOAT16] = {"float16", 2},     [ONYX_DOUBLE] = {"float64", 8},
    [ONYX_UINT32] = {"uint32", 4},       [ONYX_UINT64] = {"uint64", 8},
    [ONYX_COMPLEX64] = {"complex64", 8}, [ONYX_COMPLEX128] = {"complex128", 16},
    [ONYX_BFLOAT16] = {"bfloat16", 2},
};

const char *onyx_dtype_name(onyx_dtype t)
{
    if ((unsigned)t >= sizeof dtype_facts / sizeof dtype_facts[0]) return "unknown";
    return dtype_facts[t].name;
}

size_t onyx_dtype_size(onyx_dtype t)
{
    if ((unsigned)t >= sizeof dtype_facts / sizeof dtype_facts[0]) return 0;
    return dtype_facts[t].size;
}

int64_t tensor_numel_of(int rank, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return -1;
        if (dims[i] != 0 && n > INT64_MAX / dims[i]) return -1;
        n *= dims[i];
    }
    return n;
}

static void free_strings(onyx_tensor *t)
{
    if (t->dtype != ONYX_STRING || !t->data || !t->owns_data) return;
    char **s = t->data;
    int64_t n = t->nbytes / sizeof(char *);
    for (int64_t i = 0; i < n; i++) free(s[i]);
}

void tensor_release(onyx_tensor *t)
{
    if (!t) return;
    if (t->owns_data) { /* views share data and sequence items with their source */
        free_strings(t);
        free(t->data);
        for (int i = 0; i < t->seq_len; i++) onyx_tensor_free(t->seq[i]);
        free(t->seq);
    }
    memset(t, 0, sizeof *t);
}

bool tensor_reshape_alloc(onyx_tensor *t, onyx_dtype dtype, int rank, const int64_t *dims)
{
    size_t es = onyx_dtype_size(dtype);
    if (rank < 0 || rank > ONYX_MAX_RANK || es == 0) return false;
    int64_t n = tensor_numel_of(rank, dims);
    if (n < 0 || n > ONYX_MAX_TENSOR_BYTES / (int64_t)es) return false;
    tensor_release(t);
    t->kind = ONYX_KIND_TENSOR;
    t->dtype = dtype;
    t->rank = rank;
    for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
    t->nbytes = (size_t)n * es;
    /* always allocate at least one element so data is never NULL */
    t->data = calloc(n ? (size_t)n : 1, es);
    if (!t->data) return false;
    t->owns_data = true;
    if (dtype == ONYX_STRING) {
        char **s = t->data;
        for (int64_t i = 0; i < n; i++) {
            s[i] = calloc(1, 1);
            if (!s[i]) return false;
        }
    }
    return true;
}

bool tensor_copy(onyx_tensor *dst, const onyx_tensor *src)
{
    if (dst == src) return true;
    if (src->kind == ONYX_KIND_SEQUENCE) {
        tensor_release(dst);
        dst->kind = ONYX_KIND_SEQUENCE;
        dst->dtype = src->dtype;
        dst->owns_data = true;
        for (int i = 0; i < src->seq_len; i++) {
            onyx_tensor *it = calloc(1, sizeof *it);
            if (!it || !tensor_copy(it, src->seq[i]) || onyx_sequence_append(dst, it) != ONYX_OK) {
                onyx_tensor_free(it);
                return false;
            }
        }
        return true;
    }
    if (src->kind == ONYX_KIND_NONE) {
        tensor_release(dst);
        dst->kind = ONYX_KIND_NONE;
        dst->dtype = src->dtype;
        return true;
    }
    if (!tensor_reshape_alloc(dst, src->dtype, src->rank, src->dims)) return false;
    if (src->dtype == ONYX_STRING) {
        char **d = dst->data, *const *s = src->data;
        int64_t n = src->nbytes / sizeof(char *);
        for (int64_t i = 0; i < n; i++) {
            free(d[i]);
            d[i] = strdup(s[i] ? s[i] : "");
            if (!d[i]) return false;
        }
    } else if (src->nbytes) {
        memcpy(dst->data, src->data, src->nbytes);
    }
    return true;
}

void tensor_view(onyx_tensor *dst, const onyx_tensor *src)
{
    tensor_release(dst);
    *dst = *src;
    dst->owns_data = false;
}

/* ---- half precision: IEEE binary16 and bfloat16, round to nearest even ---- */
float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalize */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            man &= 0x3ff;
            bits = sign | (exp << 23) | (man << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    uint32_t man = x & 0x7fffff;
    if (exp == 255) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int32_t e = exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into exponent: correct */
    return (uint16_t)half;
}

float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* ---- public tensor API ---- */
onyx_tensor *onyx_tensor_create(onyx_dtype dtype, int rank, const int64_t *dims)
{
    onyx_tensor *t = calloc(1, sizeof *t);
    if (t && !tensor_reshape_alloc(t, dtype, rank, dims)) {
        onyx_tensor_free(t);
        return NULL;
    }
    return t;
}

onyx_tensor *onyx_sequence_create(onyx_dtype elem_dtype)
{
    onyx_tensor *t = calloc(1, sizeof *t);
    if (t) {
        t->kind = ONYX_KIND_SEQUENCE;
        t->dtype = elem_dtype;
        t->owns_data = true;
    }
    return t;
}

onyx_status onyx_sequence_append(onyx_tensor *seq, onyx_tensor *item)
{
    if (seq->seq_len == seq->seq_cap) {
        int cap = seq->seq_cap ? seq->seq_cap * 2 : 4;
        onyx_tensor **n = realloc(seq->seq, (size_t)cap * sizeof *n);
        if (!n) return ONYX_E_NOMEM;
        seq->seq = n;
        seq->seq_cap = cap;
    }
    seq->seq[seq->seq_len++] = item;
    return ONYX_OK;
}

void onyx_tensor_free(onyx_tensor *t)
{
    if (!t) return;
    tensor_release(t);
    free(t);
}

onyx_kind onyx_tensor_kind(const onyx_tensor *t) { return t->kind; }
onyx_dtype onyx_tensor_dtype(const onyx_tensor *t) { return t->dtype; }
int onyx_tensor_rank(const onyx_tensor *t) { return t->rank; }
const int64_t *onyx_tensor_dims(const onyx_tensor *t) { return t->dims; }
int64_t onyx_tensor_numel(const onyx_tensor *t) { return tensor_numel_of(t->rank, t->dims); }
/* An initializer without an aligned array gets one here, kept until its model
 * is freed (the caller may keep the pointer). */
void *onyx_tensor_data(onyx_tensor *t)
{
    if (t->data || !t->wsrc) return t->data;
    const onyx_tensor *v = weights_keep(t);
    return v ? v->data : NULL;
}
int onyx_sequence_length(const onyx_tensor *t) { return t->seq_len; }
onyx_tensor *onyx_sequence_at(const onyx_tensor *t, int i)
{
    return i >= 0 && i < t->seq_len ? t->seq[i] : NULL;
}
