/* cast.c - Cast and CastLike between every numeric dtype, bool and string.
 *
 * Conversions follow numpy's astype on x86-64, which produced the ONNX test
 * data: integers wrap, floating values truncate toward zero, and out-of-range
 * or NaN floating values give what the x86 conversion instructions give
 * (INT_MIN for 32/64-bit targets, narrower targets truncate from int32),
 * never undefined behaviour. Doubles go to float16/bfloat16 through float with
 * round-to-odd so they are rounded once. Strings use numpy's formatting:
 * the shortest digits that read back to the same value. */
#include "elementwise.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <strings.h>

/* ---- scalar conversions ---- */
static inline int32_t f2i32(double v)
{
    return v > -2147483649.0 && v < 2147483648.0 ? (int32_t)v : INT32_MIN;
}

static inline int64_t f2i64(double v)
{
    return v >= -9223372036854775808.0 && v < 9223372036854775808.0 ? (int64_t)v : INT64_MIN;
}

static inline uint64_t f2u64(double v)
{
    if (v >= 9223372036854775808.0 && v < 18446744073709551616.0) return (uint64_t)v;
    return (uint64_t)f2i64(v);
}

/* double -> float rounded to odd: a later rounding to a narrower format then
 * gives the correctly rounded result of the double. */
static float f64_to_f32_odd(double d)
{
    float f = (float)d;
    if (isfinite(d) && (double)f != d) {
        uint32_t bits;
        memcpy(&bits, &f, 4);
        if (fabs((double)f) > fabs(d)) bits--; /* back toward zero */
        bits |= 1;
        memcpy(&f, &bits, 4);
    }
    return f;
}

static uint16_t f64_to_f16(double d) { return f32_to_f16(f64_to_f32_odd(d)); }
static uint16_t f64_to_bf16(double d) { return f32_to_bf16(f64_to_f32_odd(d)); }

/* TO_<dst>(v) converts a loaded value (float for half types, double, or an
 * integer) to the destination's storage type. */
#define TO_f32(v) ((float)(v))
#define TO_f64(v) ((double)(v))
#define TO_f16(v) _Generic((v), float: f32_to_f16, default: f64_to_f16)(v)
#define TO_bf16(v) _Generic((v), float: f32_to_bf16, default: f64_to_bf16)(v)
#define TO_b(v) ((uint8_t)((v) != 0))
#define TO_INT(T, CONV, v) _Generic((v), float: (T)CONV(v), double: (T)CONV(v), default: (T)(v))
#define TO_i8(v) TO_INT(int8_t, f2i32, v)
#define TO_i16(v) TO_INT(int16_t, f2i32, v)
#define TO_i32(v) TO_INT(int32_t, f2i32, v)
#define TO_i64(v) TO_INT(int64_t, f2i64, v)
#define TO_u8(v) TO_INT(uint8_t, f2i32, v)
#define TO_u16(v) TO_INT(uint16_t, f2i32, v)
#define TO_u32(v) TO_INT(uint32_t, f2i64, v)
#define TO_u64(v) TO_INT(uint64_t, f2u64, v)

#define SRC_CASE(sfx, T, CT, LD, ST, dsfx)                          \
    case EW_DT_##sfx: {                                             \
        const T *X = x->data;                                       \
        for (int64_t i = 0; i < n; i++) Y[i] = TO_##dsfx(LD(X[i])); \
        break;                                                      \
    }

/* cast_to_<dst>: y[0..n) = x converted, for any numeric or bool x */
#define DST_FN(dsfx, DT)                                                 \
    static void cast_to_##dsfx(const onyx_tensor *x, void *y, int64_t n) \
    {                                                                    \
        DT *Y = y;                                                       \
        switch (x->dtype) {                                              \
            EW_NUM_TYPES(SRC_CASE, dsfx)                                 \
            EW_BOOL_TYPE(SRC_CASE, dsfx)                                 \
        default: break;                                                  \
        }                                                                \
    }
DST_FN(f32, float)
DST_FN(f64, double)
DST_FN(f16, uint16_t)
DST_FN(bf16, uint16_t)
DST_FN(i8, int8_t)
DST_FN(i16, int16_t)
DST_FN(i32, int32_t)
DST_FN(i64, int64_t)
DST_FN(u8, uint8_t)
DST_FN(u16, uint16_t)
DST_FN(u32, uint32_t)
DST_FN(u64, uint64_t)
DST_FN(b, uint8_t)

typedef void (*cast_fn)(const onyx_tensor *x, void *y, int64_t n);
#define CAST_ENTRY(sfx, T, CT, LD, ST, ...) [EW_DT_##sfx] = cast_to_##sfx,
static const cast_fn cast_fns[ONYX_BFLOAT16 + 1] = {
    EW_NUM_TYPES(CAST_ENTRY, ) EW_BOOL_TYPE(CAST_ENTRY, )};

/* ---- numbers to strings ---- */
/* Whether the decimal text reads back as v in dtype dt. */
static bool round_trips(const char *text, double v, onyx_dtype dt)
{
    switch (dt) {
    case ONYX_FLOAT: return strtof(text, NULL) == (float)v;
    case ONYX_FLOAT16: return f64_to_f16(strtod(text, NULL)) == f64_to_f16(v);
    case ONYX_BFLOAT16: return f64_to_bf16(strtod(text, NULL)) == f64_to_bf16(v);
    default: return strtod(text, NULL) == v;
    }
}

/* numpy's str() of a floating scalar: the shortest round-tripping digits,
 * positional for 1e-4 <= |v| < 1e16 (with ".0" when integral), else
 * scientific with a two-digit exponent at least. */
static void format_float(double v, onyx_dtype dt, char *out, size_t cap)
{
    if (isnan(v)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v < 0 ? "-inf" : "inf");
        return;
    }
    const char *sign = signbit(v) ? "-" : "";
    double a = fabs(v);
    if (a == 0) {
        snprintf(out, cap, "%s0.0", sign);
        return;
    }
    char sci[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(sci, sizeof sci, "%.*e", p - 1, a);
        if (round_trips(sci, a, dt)) break;
    }
    /* sci is "d.ddde[+-]xx": collect the digits and the exponent */
    char digits[24];
    int nd = 0;
    const char *c = sci;
    for (; *c && *c != 'e'; c++)
        if (isdigit((unsigned char)*c) && nd < (int)sizeof digits - 1) digits[nd++] = *c;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int exp10 = *c == 'e' ? atoi(c + 1) : 0;
    if (a < 1e-4 || a >= 1e16) {
        snprintf(out, cap, "%s%c%s%se%c%02d", sign, digits[0], nd > 1 ? "." : "", digits + 1,
                 exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        return;
    }
    /* at most 17 digits, a point and 16 zeros or "0.000" */
    char body[48];
    int len = snprintf(body, sizeof body, "%s", sign);
    if (exp10 < 0) {
        len += snprintf(body + len, sizeof body - (size_t)len, "0.");
        for (int i = 0; i < -exp10 - 1; i++) body[len++] = '0';
        snprintf(body + len, sizeof body - (size_t)len, "%s", digits);
    } else {
        for (int i = 0; i <= exp10; i++) body[len++] = i < nd ? digits[i] : '0';
        const char *frac = nd > exp10 + 1 ? digits + exp10 + 1 : "0";
        snprintf(body + len, sizeof body - (size_t)len, ".%s", frac);
    }
    snprintf(out, cap, "%s", body);
}

static void format_element(const onyx_tensor *x, int64_t i, char *out, size_t cap)
{
    switch (x->dtype) {
    case ONYX_FLOAT: case ONYX_DOUBLE: case ONYX_FLOAT16: case ONYX_BFLOAT16:
        format_float(k_get_f64(x, i), x->dtype, out, cap);
        break;
    case ONYX_BOOL:
        snprintf(out, cap, "%s", ((const uint8_t *)x->data)[i] ? "True" : "False");
        break;
    case ONYX_UINT64:
        snprintf(out, cap, "%llu", (unsigned long long)((const uint64_t *)x->data)[i]);
        break;
    case ONYX_INT64:
        snprintf(out, cap, "%lld", (long long)((const int64_t *)x->data)[i]);
        break;
    default: /* narrower integers are exact in double */
        snprintf(out, cap, "%lld", (long long)k_get_f64(x, i));
        break;
    }
}

/* ---- strings to numbers ---- */
/* Whether the text from end on is only whitespace (and something was read). */
static bool parsed_all(const char *s, const char *end)
{
    if (end == s) return false;
    while (isspace((unsigned char)*end)) end++;
    return *end == 0;
}

/* Parses s into a one-element tensor tmp (storage in *val) of the type that
 * keeps the most precision for target dtype `to`. */
static bool parse_number(const char *s, onyx_dtype to, onyx_tensor *tmp, void *val)
{
    char *end;
    tmp->kind = ONYX_KIND_TENSOR;
    tmp->rank = 0;
    tmp->data = val;
    while (isspace((unsigned char)*s)) s++;
    if (to == ONYX_BOOL && (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0)) {
        tmp->dtype = ONYX_BOOL;
        *(uint8_t *)val = (s[0] == 't' || s[0] == 'T');
        return true;
    }
    if (to == ONYX_FLOAT) {
        tmp->dtype = ONYX_FLOAT;
        *(float *)val = strtof(s, &end);
        return parsed_all(s, end);
    }
    errno = 0;
    long long ll = strtoll(s, &end, 10);
    if (parsed_all(s, end) && errno == 0) {
        tmp->dtype = ONYX_INT64;
        *(int64_t *)val = ll;
        return true;
    }
    errno = 0;
    unsigned long long ull = strtoull(s, &end, 10);
    if (s[0] != '-' && parsed_all(s, end) && errno == 0) {
        tmp->dtype = ONYX_UINT64;
        *(uint64_t *)val = ull;
        return true;
    }
    tmp->dtype = ONYX_DOUBLE;
    *(double *)val = strtod(s, &end);
    return parsed_all(s, end);
}

/* ---- the operators ---- */
static bool castable(onyx_dtype t)
{
    return t == ONYX_STRING || ((unsigned)t <= ONYX_BFLOAT16 && cast_fns[t]);
}

static onyx_status cast_to(onyx_kctx *k, onyx_dtype to, const char *to_what)
{
    onyx_status st = ew_require_tensor(k, 0);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    if (!castable(x->dtype))
        return k_fail(k, ONYX_E_UNSUPPORTED, "cannot cast from input type %s",
                      onyx_dtype_name(x->dtype));
    if (!castable(to))
        return k_fail(k, ONYX_E_UNSUPPORTED, "cannot cast to %s %s (%d)", to_what,
                      onyx_dtype_name(to), (int)to);
    onyx_tensor *y = k_output(k, 0, to, x->rank, x->dims);
    if (!y) return k->err->code;
    int64_t n = tensor_numel_of(x->rank, x->dims);
    if (to != ONYX_STRING && x->dtype != ONYX_STRING) {
        cast_fns[to](x, y->data, n);
        return ONYX_OK;
    }
    if (to == ONYX_STRING) {
        char **out = y->data, buf[64];
        for (int64_t i = 0; i < n; i++) {
            const char *src = buf;
            if (x->dtype == ONYX_STRING) {
                src = ((char *const *)x->data)[i];
                if (!src) src = "";
            } else {
                format_element(x, i, buf, sizeof buf);
            }
            char *dup = strdup(src);
            if (!dup) return k_fail(k, ONYX_E_NOMEM, "out of memory formatting strings");
            free(out[i]);
            out[i] = dup;
        }
        return ONYX_OK;
    }
    size_t es = onyx_dtype_size(to);
    char *const *in = x->data;
    for (int64_t i = 0; i < n; i++) {
        onyx_tensor tmp = {0};
        union {
            float f;
            double d;
            int64_t i;
            uint64_t u;
            uint8_t b;
        } val;
        const char *s = in[i] ? in[i] : "";
        if (!parse_number(s, to, &tmp, &val))
            return k_fail(k, ONYX_E_INVALID, "element %lld: cannot parse '%.64s' as %s",
                          (long long)i, s, onyx_dtype_name(to));
        cast_fns[to](&tmp, (char *)y->data + (size_t)i * es, 1);
    }
    return ONYX_OK;
}

static onyx_status op_cast(onyx_kctx *k)
{
    const onyx_attr *a = k_attr(k, "to");
    if (a && a->type == ATTR_STRING) {
        /* opset 1-5 named the type */
        static const char *const names[] = {
            [ONYX_FLOAT] = "FLOAT",   [ONYX_UINT8] = "UINT8",         [ONYX_INT8] = "INT8",
            [ONYX_UINT16] = "UINT16", [ONYX_INT16] = "INT16",         [ONYX_INT32] = "INT32",
            [ONYX_INT64] = "INT64",   [ONYX_STRING] = "STRING",       [ONYX_BOOL] = "BOOL",
            [ONYX_FLOAT16] = "FLOAT16", [ONYX_DOUBLE] = "DOUBLE",     [ONYX_UINT32] = "UINT32",
            [ONYX_UINT64] = "UINT64", [ONYX_BFLOAT16] = "BFLOAT16",
        };
        for (size_t t = 0; t < sizeof names / sizeof names[0]; t++)
            if (names[t] && strcasecmp(a->s, names[t]) == 0)
                return cast_to(k, (onyx_dtype)t, "attribute to =");
        return k_fail(k, ONYX_E_UNSUPPORTED, "attribute to names unknown type '%s'", a->s);
    }
    if (!a || a->type != ATTR_INT)
        return k_fail(k, ONYX_E_INVALID, "attribute to (an int) is required");
    if (a->i < 0 || a->i > 64)
        return k_fail(k, ONYX_E_INVALID, "attribute to is %lld, not a data type", (long long)a->i);
    return cast_to(k, (onyx_dtype)a->i, "attribute to =");
}

static onyx_status op_cast_like(onyx_kctx *k)
{
    onyx_status st = ew_require_tensor(k, 1);
    if (st) return st;
    return cast_to(k, k_input(k, 1)->dtype, "input 1's type");
}

const onyx_op_def onyx_ops_cast[] = {
    {"", "Cast", op_cast},
    {"", "CastLike", op_cast_like},
    {0},
};
