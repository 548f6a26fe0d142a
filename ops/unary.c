/* unary.c - elementwise operators on one input: Abs, Neg, Sign, rounding,
 * Reciprocal, Sqrt, Exp, Log, the trigonometric and hyperbolic functions, Erf,
 * IsNaN, IsInf, Not and BitwiseNot.
 *
 * Float math is written once per operator and instantiated for float and
 * double (tgmath picks expf or exp from the operand type); float16 and
 * bfloat16 go through the float kernel. Integer variants wrap like numpy. */
#include "elementwise.h"
#include "hot.h"

#include <stdio.h>
#include <tgmath.h>

/* Defines name_f32 and name_f64 computing y = EXPR(x). */
#define FLOAT_FNS(name, EXPR)                                                      \
    static void name##_f32(const float *X, float *Y, int64_t n, const void *ctx)   \
    {                                                                              \
        (void)ctx;                                                                 \
        for (int64_t i = 0; i < n; i++) {                                          \
            const float x = X[i];                                                  \
            Y[i] = (float)(EXPR);                                                  \
        }                                                                          \
    }                                                                              \
    static void name##_f64(const double *X, double *Y, int64_t n, const void *ctx) \
    {                                                                              \
        (void)ctx;                                                                 \
        for (int64_t i = 0; i < n; i++) {                                          \
            const double x = X[i];                                                 \
            Y[i] = (double)(EXPR);                                                 \
        }                                                                          \
    }

typedef void (*int_fn)(const void *x, void *y, int64_t n);
typedef int_fn int_table[ONYX_BFLOAT16 + 1];

/* Defines name_<sfx> computing y = EXPR(x) in an integer (or bool) type. */
#define INT_FN(sfx, T, CT, LD, ST, name, ...)                     \
    static void name##_##sfx(const void *X_, void *Y_, int64_t n) \
    {                                                             \
        const T *X = X_;                                          \
        T *Y = Y_;                                                \
        for (int64_t i = 0; i < n; i++) {                         \
            const T x = X[i];                                     \
            Y[i] = (T)(__VA_ARGS__);                              \
        }                                                         \
    }
#define INT_ENTRY(sfx, T, CT, LD, ST, name) [EW_DT_##sfx] = name##_##sfx,

/* Runs a unary operator whose output has the input's dtype and shape: the
 * float kernels (if any) for floating types, else the integer table entry. */
static onyx_status run_unary(onyx_kctx *k, ew_f32_fn f32, ew_f64_fn f64, const int_fn *ints)
{
    onyx_status st = ew_require_tensor(k, 0);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    bool is_float = dtype_is_float(x->dtype);
    int_fn fi = !is_float && ints && (unsigned)x->dtype <= ONYX_BFLOAT16 ? ints[x->dtype] : NULL;
    if (is_float ? !f32 : !fi) {
        char list[256] = "";
        size_t used = 0;
        for (int d = 0; d <= ONYX_BFLOAT16; d++) {
            bool ok = dtype_is_float((onyx_dtype)d) ? f32 != NULL : ints && ints[d];
            if (!ok) continue;
            int w = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "",
                             onyx_dtype_name((onyx_dtype)d));
            if (w < 0 || (size_t)w >= sizeof list - used) break;
            used += (size_t)w;
        }
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 0 has type %s (supported: %s)",
                      onyx_dtype_name(x->dtype), list);
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    if (is_float) ew_map_float(x, y, f32, f64, NULL);
    else fi(x->data, y->data, tensor_numel_of(x->rank, x->dims));
    return ONYX_OK;
}

/* float32 through the vectorized kernel of ops/hot.h when this CPU has one,
 * threaded over large tensors; everything else through run_unary. */
static onyx_status run_unary_hot(onyx_kctx *k, hot_map op, ew_f32_fn f32, ew_f64_fn f64,
                                 const int_fn *ints)
{
    const onyx_tensor *x = k_input(k, 0);
    const hot_kernels *hk = hot_kernels_native();
    if (!hk || !x || x->kind != ONYX_KIND_TENSOR || x->dtype != ONYX_FLOAT)
        return run_unary(k, f32, f64, ints);
    /* the map writes every element */
    onyx_tensor *y = k_output_uninit(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    hot_map_run(k, hk->map[op], x->data, y->data, tensor_numel_of(x->rank, x->dims), NULL);
    return ONYX_OK;
}

#define FLOAT_OP(name, EXPR)                               \
    FLOAT_FNS(name, EXPR)                                  \
    static onyx_status op_##name(onyx_kctx *k)             \
    {                                                      \
        return run_unary(k, name##_f32, name##_f64, NULL); \
    }

FLOAT_OP(ceil, ceil(x))
FLOAT_OP(floor, floor(x))
/* ONNX rounds halves to even: the default rounding mode */
FLOAT_OP(round, nearbyint(x))
FLOAT_OP(reciprocal, 1 / x)
FLOAT_FNS(sqrt, sqrt(x))
static onyx_status op_sqrt(onyx_kctx *k) { return run_unary_hot(k, HOT_SQRT, sqrt_f32, sqrt_f64, NULL); }
FLOAT_FNS(exp, exp(x))
static onyx_status op_exp(onyx_kctx *k) { return run_unary_hot(k, HOT_EXP, exp_f32, exp_f64, NULL); }
FLOAT_OP(log, log(x))
FLOAT_OP(sin, sin(x))
FLOAT_OP(cos, cos(x))
FLOAT_OP(tan, tan(x))
FLOAT_OP(asin, asin(x))
FLOAT_OP(acos, acos(x))
FLOAT_OP(atan, atan(x))
FLOAT_OP(sinh, sinh(x))
FLOAT_OP(cosh, cosh(x))
FLOAT_OP(asinh, asinh(x))
FLOAT_OP(acosh, acosh(x))
FLOAT_OP(atanh, atanh(x))

/* Operators that also take integers; negation goes through uint64_t so that
 * the most negative value wraps to itself instead of overflowing. */
FLOAT_FNS(abs, fabs(x))
EW_SINT_TYPES(INT_FN, abs, x < 0 ? 0 - (uint64_t)x : (uint64_t)x)
EW_UINT_TYPES(INT_FN, abs, x)
static const int_table abs_ints = {EW_INT_TYPES(INT_ENTRY, abs)};
static onyx_status op_abs(onyx_kctx *k)
{
    return run_unary_hot(k, HOT_ABS, abs_f32, abs_f64, abs_ints);
}

FLOAT_FNS(neg, -x)
EW_SINT_TYPES(INT_FN, neg, 0 - (uint64_t)x)
static const int_table neg_ints = {EW_SINT_TYPES(INT_ENTRY, neg)};
static onyx_status op_neg(onyx_kctx *k)
{
    return run_unary_hot(k, HOT_NEG, neg_f32, neg_f64, neg_ints);
}

/* zero and NaN map to themselves */
FLOAT_FNS(sign, x > 0 ? 1 : x < 0 ? -1 : x)
EW_SINT_TYPES(INT_FN, sign, (x > 0) - (x < 0))
EW_UINT_TYPES(INT_FN, sign, x > 0)
static const int_table sign_ints = {EW_INT_TYPES(INT_ENTRY, sign)};
static onyx_status op_sign(onyx_kctx *k) { return run_unary(k, sign_f32, sign_f64, sign_ints); }

FLOAT_FNS(erf, erf(x))
EW_INT_TYPES(INT_FN, erf, erf((double)x))
static const int_table erf_ints = {EW_INT_TYPES(INT_ENTRY, erf)};
static onyx_status op_erf(onyx_kctx *k)
{
    return run_unary_hot(k, HOT_ERF, erf_f32, erf_f64, erf_ints);
}

EW_INT_TYPES(INT_FN, bitnot, ~x)
static const int_table bitnot_ints = {EW_INT_TYPES(INT_ENTRY, bitnot)};
static onyx_status op_bitwise_not(onyx_kctx *k) { return run_unary(k, NULL, NULL, bitnot_ints); }

EW_BOOL_TYPE(INT_FN, not, !x)
static const int_table not_ints = {EW_BOOL_TYPE(INT_ENTRY, not)};
static onyx_status op_not(onyx_kctx *k) { return run_unary(k, NULL, NULL, not_ints); }

/* ---- IsNaN / IsInf: floating input, bool output ---- */
static onyx_status run_classify(onyx_kctx *k, bool nan, bool neg_inf, bool pos_inf)
{
    onyx_status st =
        k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    onyx_tensor *y = k_output(k, 0, ONYX_BOOL, x->rank, x->dims);
    if (!y) return k->err->code;
    int64_t n = tensor_numel_of(x->rank, x->dims);
    uint8_t *Y = y->data;
#define CLASSIFY(v) (nan ? isnan(v) : isinf(v) && ((v) < 0 ? neg_inf : pos_inf))
    if (x->dtype == ONYX_FLOAT) {
        const float *X = x->data;
        for (int64_t i = 0; i < n; i++) Y[i] = CLASSIFY(X[i]);
    } else if (x->dtype == ONYX_DOUBLE) {
        const double *X = x->data;
        for (int64_t i = 0; i < n; i++) Y[i] = CLASSIFY(X[i]);
    } else {
        for (int64_t i = 0; i < n; i++) {
            double v = k_get_f64(x, i);
            Y[i] = CLASSIFY(v);
        }
    }
#undef CLASSIFY
    return ONYX_OK;
}

static onyx_status op_isnan(onyx_kctx *k) { return run_classify(k, true, false, false); }

static onyx_status op_isinf(onyx_kctx *k)
{
    return run_classify(k, false, k_attr_int(k, "detect_negative", 1) != 0,
                        k_attr_int(k, "detect_positive", 1) != 0);
}

const onyx_op_def onyx_ops_unary[] = {
    {"", "Abs", op_abs},
    {"", "Neg", op_neg},
    {"", "Ceil", op_ceil},
    {"", "Floor", op_floor},
    {"", "Round", op_round},
    {"", "Sign", op_sign},
    {"", "Reciprocal", op_reciprocal},
    {"", "Sqrt", op_sqrt},
    {"", "Exp", op_exp},
    {"", "Log", op_log},
    {"", "Sin", op_sin},
    {"", "Cos", op_cos},
    {"", "Tan", op_tan},
    {"", "Asin", op_asin},
    {"", "Acos", op_acos},
    {"", "Atan", op_atan},
    {"", "Sinh", op_sinh},
    {"", "Cosh", op_cosh},
    {"", "Asinh", op_asinh},
    {"", "Acosh", op_acosh},
    {"", "Atanh", op_atanh},
    {"", "Erf", op_erf},
    {"", "IsNaN", op_isnan},
    {"", "IsInf", op_isinf},
    {"", "Not", op_not},
    {"", "BitwiseNot", op_bitwise_not},
    {0},
};
