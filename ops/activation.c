/* activation.c - activation functions: Relu and its variants, sigmoids,
 * Tanh, Elu/Selu/Celu, Softplus/Softsign, Shrink, Gelu, Mish and Clip.
 *
 * As in unary.c, each function is one expression instantiated for float and
 * double through tgmath (the constants are cast to the compute type `ct` so
 * the float kernel stays in float); half types go through float. */
#include "elementwise.h"
#include "hot.h"

#include <stdio.h>
#include <tgmath.h>

/* The operator's attributes, for the kernels. */
typedef struct act_params {
    float alpha, beta, gamma;
} act_params;

/* Defines name_f32 and name_f64 computing y = EXPR(x, p). */
#define ACT_FNS(name, EXPR)                                                        \
    static void name##_f32(const float *X, float *Y, int64_t n, const void *ctx)   \
    {                                                                              \
        typedef float ct;                                                          \
        const act_params *p = ctx;                                                 \
        (void)p;                                                                   \
        for (int64_t i = 0; i < n; i++) {                                          \
            const ct x = X[i];                                                     \
            Y[i] = (ct)(EXPR);                                                     \
        }                                                                          \
    }                                                                              \
    static void name##_f64(const double *X, double *Y, int64_t n, const void *ctx) \
    {                                                                              \
        typedef double ct;                                                         \
        const act_params *p = ctx;                                                 \
        (void)p;                                                                   \
        for (int64_t i = 0; i < n; i++) {                                          \
            const ct x = X[i];                                                     \
            Y[i] = (ct)(EXPR);                                                     \
        }                                                                          \
    }

static onyx_status require_float(onyx_kctx *k, int i)
{
    return k_require(k, i, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED);
}

/* Output 0 = f(input 0) for a floating-point input. */
static onyx_status run_float(onyx_kctx *k, ew_f32_fn f32, ew_f64_fn f64, const act_params *p)
{
    onyx_status st = require_float(k, 0);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    ew_map_float(x, y, f32, f64, p);
    return ONYX_OK;
}

/* run_float with float32 through the vectorized kernel of ops/hot.h when
 * this CPU has one, threaded over large tensors. */
static onyx_status run_float_hot(onyx_kctx *k, hot_map op, ew_f32_fn f32, ew_f64_fn f64,
                                 const act_params *p)
{
    const onyx_tensor *x = k_input(k, 0);
    const hot_kernels *hk = hot_kernels_native();
    if (!hk || !x || x->kind != ONYX_KIND_TENSOR || x->dtype != ONYX_FLOAT)
        return run_float(k, f32, f64, p);
    /* the map writes every element */
    onyx_tensor *y = k_output_uninit(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    const hot_params hp = {p ? p->alpha : 0, p ? p->beta : 0};
    hot_map_run(k, hk->map[op], x->data, y->data, tensor_numel_of(x->rank, x->dims), &hp);
    return ONYX_OK;
}

/* Clamps to [0, 1] letting NaN through (fmin/fmax would drop it). */
#define CLAMP01(v) ((v) < 0 ? 0 : (v) > 1 ? 1 : (v))
/* Numerically stable log(1 + exp(x)). */
#define SOFTPLUS(x) ((x) > 0 ? (x) + log1p(exp(-(x))) : log1p(exp(x)))

/* NaN passes through, as with numpy.maximum(x, 0) */
ACT_FNS(relu, x < 0 ? 0 : x)
ACT_FNS(leaky_relu, x < 0 ? (ct)p->alpha * x : x)
ACT_FNS(thresholded_relu, x > (ct)p->alpha ? x : 0)
/* split at 0 so that exp never overflows */
ACT_FNS(sigmoid, x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)))
ACT_FNS(hard_sigmoid, CLAMP01((ct)p->alpha * x + (ct)p->beta))
ACT_FNS(hard_swish, x * CLAMP01(x / 6 + (ct)0.5))
ACT_FNS(tanh, tanh(x))
ACT_FNS(elu, x < 0 ? (ct)p->alpha * expm1(x) : x)
ACT_FNS(selu, x <= 0 ? (ct)p->gamma * (ct)p->alpha * expm1(x) : (ct)p->gamma * x)
/* max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), which is one branch or the
 * other for either sign of alpha */
ACT_FNS(celu, x > 0 ? x : (ct)p->alpha * expm1(x / (ct)p->alpha))
ACT_FNS(softplus, SOFTPLUS(x))
ACT_FNS(softsign, x / (1 + fabs(x)))
ACT_FNS(mish, x * tanh(SOFTPLUS(x)))
ACT_FNS(gelu, (ct)0.5 * x * (1 + erf(x * (ct)0.70710678118654752440)))
ACT_FNS(gelu_tanh,
        (ct)0.5 * x * (1 + tanh((ct)0.79788456080286535588 * (x + (ct)0.044715 * x * x * x))))

static onyx_status op_leaky_relu(onyx_kctx *k)
{
    act_params p = {.alpha = k_attr_float(k, "alpha", 0.01f)};
    return run_float_hot(k, HOT_LEAKY_RELU, leaky_relu_f32, leaky_relu_f64, &p);
}

static onyx_status op_thresholded_relu(onyx_kctx *k)
{
    act_params p = {.alpha = k_attr_float(k, "alpha", 1.0f)};
    return run_float(k, thresholded_relu_f32, thresholded_relu_f64, &p);
}

static onyx_status op_sigmoid(onyx_kctx *k)
{
    return run_float_hot(k, HOT_SIGMOID, sigmoid_f32, sigmoid_f64, NULL);
}

static onyx_status op_hard_sigmoid(onyx_kctx *k)
{
    act_params p = {.alpha = k_attr_float(k, "alpha", 0.2f), .beta = k_attr_float(k, "beta", 0.5f)};
    return run_float_hot(k, HOT_HARD_SIGMOID, hard_sigmoid_f32, hard_sigmoid_f64, &p);
}

static onyx_status op_hard_swish(onyx_kctx *k)
{
    return run_float_hot(k, HOT_HARD_SWISH, hard_swish_f32, hard_swish_f64, NULL);
}

static onyx_status op_tanh(onyx_kctx *k)
{
    return run_float_hot(k, HOT_TANH, tanh_f32, tanh_f64, NULL);
}

static onyx_status op_elu(onyx_kctx *k)
{
    act_params p = {.alpha = k_attr_float(k, "alpha", 1.0f)};
    return run_float(k, elu_f32, elu_f64, &p);
}

static onyx_status op_selu(onyx_kctx *k)
{
    act_params p = {.alpha = k_attr_float(k, "alpha", 1.67326319217681884765625f),
                    .gamma = k_attr_float(k, "gamma", 1.05070102214813232421875f)};
    return run_float(k, selu_f32, selu_f64, &p);
}

static onyx_status op_celu(onyx_kctx *k)
{
    act_params p = {.alpha = k_attr_float(k, "alpha", 1.0f)};
    if (p.alpha == 0) return k_fail(k, ONYX_E_INVALID, "attribute alpha must not be 0");
    return run_float(k, celu_f32, celu_f64, &p);
}

static onyx_status op_softplus(onyx_kctx *k)
{
    return run_float(k, softplus_f32, softplus_f64, NULL);
}

static onyx_status op_softsign(onyx_kctx *k)
{
    return run_float(k, softsign_f32, softsign_f64, NULL);
}

static onyx_status op_mish(onyx_kctx *k) { return run_float(k, mish_f32, mish_f64, NULL); }

static onyx_status op_gelu(onyx_kctx *k)
{
    const char *approx = k_attr_string(k, "approximate", "none");
    if (strcmp(approx, "none") == 0) return run_float_hot(k, HOT_GELU, gelu_f32, gelu_f64, NULL);
    if (strcmp(approx, "tanh") == 0)
        return run_float_hot(k, HOT_GELU_TANH, gelu_tanh_f32, gelu_tanh_f64, NULL);
    return k_fail(k, ONYX_E_INVALID, "attribute approximate must be 'none' or 'tanh', got '%s'",
                  approx);
}

/* ---- integer variants: Relu (signed, opset 14) and Shrink ---- */
typedef void (*int_fn)(const void *x, void *y, int64_t n, const act_params *p);
typedef int_fn int_table[ONYX_BFLOAT16 + 1];
#define INT_ENTRY(sfx, T, CT, LD, ST, name) [EW_DT_##sfx] = name##_##sfx,

#define RELU_INT(sfx, T, CT, LD, ST, ...)                                            \
    static void relu_##sfx(const void *X_, void *Y_, int64_t n, const act_params *p) \
    {                                                                                \
        const T *X = X_;                                                             \
        T *Y = Y_;                                                                   \
        (void)p;                                                                     \
        for (int64_t i = 0; i < n; i++) Y[i] = X[i] < 0 ? 0 : X[i];                  \
    }
EW_SINT_TYPES(RELU_INT, )
static const int_table relu_ints = {EW_SINT_TYPES(INT_ENTRY, relu)};

/* double -> int64 without the undefined behaviour of out-of-range conversion
 * (saturates; callers then wrap into their narrower type). */
static inline int64_t to_i64(double v)
{
    if (!(v > -9.2233720368547758e18 && v < 9.2233720368547758e18))
        return v > 0 ? INT64_MAX : INT64_MIN;
    return (int64_t)v;
}

/* Shrink for integers is computed in double, like the reference. */
#define SHRINK_INT(sfx, T, CT, LD, ST, ...)                                            \
    static void shrink_##sfx(const void *X_, void *Y_, int64_t n, const act_params *p) \
    {                                                                                  \
        const T *X = X_;                                                               \
        T *Y = Y_;                                                                     \
        for (int64_t i = 0; i < n; i++) {                                              \
            double x = (double)X[i];                                                   \
            double v = x < -(double)p->alpha ? x + p->beta                             \
                       : x > (double)p->alpha ? x - p->beta                            \
                                              : 0;                                     \
            Y[i] = (T)to_i64(v);                                                       \
        }                                                                              \
    }
EW_INT_TYPES(SHRINK_INT, )
static const int_table shrink_ints = {EW_INT_TYPES(INT_ENTRY, shrink)};
ACT_FNS(shrink, x < -(ct)p->alpha ? x + (ct)p->beta : x > (ct)p->alpha ? x - (ct)p->beta : 0)

/* Floating inputs run the float kernels, integers the table entry. */
static onyx_status run_mixed(onyx_kctx *k, ew_f32_fn f32, ew_f64_fn f64, const int_fn *ints,
                             const act_params *p)
{
    onyx_status st = ew_require_tensor(k, 0);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    if (dtype_is_float(x->dtype)) return run_float(k, f32, f64, p);
    int_fn fi = (unsigned)x->dtype <= ONYX_BFLOAT16 ? ints[x->dtype] : NULL;
    if (!fi) {
        char list[256] = "float32, float64, float16, bfloat16";
        size_t used = strlen(list);
        for (int d = 0; d <= ONYX_BFLOAT16; d++) {
            if (!ints[d]) continue;
            int w = snprintf(list + used, sizeof list - used, ", %s",
                             onyx_dtype_name((onyx_dtype)d));
            if (w < 0 || (size_t)w >= sizeof list - used) break;
            used += (size_t)w;
        }
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 0 has type %s (supported: %s)",
                      onyx_dtype_name(x->dtype), list);
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    fi(x->data, y->data, tensor_numel_of(x->rank, x->dims), p);
    return ONYX_OK;
}

static onyx_status op_relu(onyx_kctx *k)
{
    const onyx_tensor *x = k_input(k, 0);
    if (x && x->kind == ONYX_KIND_TENSOR && x->dtype == ONYX_FLOAT)
        return run_float_hot(k, HOT_RELU, relu_f32, relu_f64, NULL);
    return run_mixed(k, relu_f32, relu_f64, relu_ints, NULL);
}

static onyx_status op_shrink(onyx_kctx *k)
{
    act_params p = {.alpha = k_attr_float(k, "lambd", 0.5f), .beta = k_attr_float(k, "bias", 0.0f)};
    return run_mixed(k, shrink_f32, shrink_f64, shrink_ints, &p);
}

/* ---- PRelu: slope broadcast to the shape of X ---- */
EW_FLOAT_TYPES(EW_ARITH, prelu, a < 0 ? a * b : a)
EW_SINT_TYPES(EW_ARITH, prelu, a < 0 ? (uint64_t)a * (uint64_t)b : (uint64_t)a)
EW_UINT_TYPES(EW_ARITH, prelu, ((void)b, a)) /* never negative */
static const ew_table prelu_rows = {EW_NUM_TYPES(EW_ENTRY, prelu)};

static onyx_status op_prelu(onyx_kctx *k)
{
    onyx_status st;
    if ((st = ew_require_tensor(k, 0)) || (st = ew_require_tensor(k, 1))) return st;
    const onyx_tensor *x = k_input(k, 0), *slope = k_input(k, 1);
    if (slope->dtype != x->dtype)
        return k_fail(k, ONYX_E_INVALID, "slope (input 1) has type %s but X has type %s",
                      onyx_dtype_name(slope->dtype), onyx_dtype_name(x->dtype));
    ew_row_fn fn = ew_row_for(k, prelu_rows, 0);
    if (!fn) return k->err->code;
    /* before opset 7 a 1-D slope of length C was per channel (axis 1) */
    onyx_tensor channel;
    if (k->opset < 7 && slope->rank == 1 && x->rank >= 2 && slope->dims[0] == x->dims[1] &&
        slope->dims[0] != 1) {
        channel = *slope;
        channel.rank = x->rank - 1;
        for (int d = 1; d < channel.rank; d++) channel.dims[d] = 1;
        slope = &channel;
    }
    const onyx_tensor *ts[2] = {x, slope};
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    bool fits = k_broadcast_shapes(2, ts, &rank, dims) && rank == x->rank;
    for (int d = 0; fits && d < rank; d++) fits = dims[d] == x->dims[d];
    if (!fits) {
        char xs[128], ss[128];
        ew_shape_str(x, xs, sizeof xs);
        ew_shape_str(slope, ss, sizeof ss);
        return k_fail(k, ONYX_E_SHAPE, "slope shape %s does not broadcast to X shape %s", ss, xs);
    }
    onyx_tensor *y = k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    ew_plan plan;
    ew_plan_init(&plan, 2, ts, rank, dims);
    const void *in[2] = {x->data, slope->data};
    size_t es = onyx_dtype_size(x->dtype), isz[2] = {es, es};
    ew_plan_run(&plan, y->data, es, in, isz, fn, NULL);
    return ONYX_OK;
}

/* ---- Clip ---- */
/* lo/hi point at one element of X's dtype, or are NULL for no bound. A lower
 * bound above the upper one yields the upper bound everywhere, like numpy. */
#define CLIP_FN(sfx, T, CT, LD, ST, ...)                                                 \
    static void clip_##sfx(const void *X_, void *Y_, int64_t n, const void *lo_,         \
                           const void *hi_)                                              \
    {                                                                                    \
        const T *X = X_;                                                                 \
        T *Y = Y_;                                                                       \
        const CT lo = lo_ ? LD(*(const T *)lo_) : 0, hi = hi_ ? LD(*(const T *)hi_) : 0; \
        for (int64_t i = 0; i < n; i++) {                                                \
            CT v = LD(X[i]);                                                             \
            if (lo_ && v < lo) v = lo;                                                   \
            if (hi_ && v > hi) v = hi;                                                   \
            Y[i] = (T)ST(v);                                                             \
        }                                                                                \
    }
EW_NUM_TYPES(CLIP_FN, )
typedef void (*clip_fn)(const void *x, void *y, int64_t n, const void *lo, const void *hi);
#define CLIP_ENTRY(sfx, T, CT, LD, ST, ...) [EW_DT_##sfx] = clip_##sfx,
static const clip_fn clip_fns[ONYX_BFLOAT16 + 1] = {EW_NUM_TYPES(CLIP_ENTRY, )};

/* Reads the optional bound input i: a one-element tensor of X's dtype. */
static onyx_status clip_bound(onyx_kctx *k, int i, const onyx_tensor *x, const void **out)
{
    const onyx_tensor *b = k_input(k, i);
    *out = NULL;
    if (!b || b->kind == ONYX_KIND_NONE) return ONYX_OK;
    const char *what = i == 1 ? "min" : "max";
    if (b->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "%s (input %d) must be a tensor", what, i);
    if (b->dtype != x->dtype)
        return k_fail(k, ONYX_E_INVALID, "%s (input %d) has type %s but input has type %s", what,
                      i, onyx_dtype_name(b->dtype), onyx_dtype_name(x->dtype));
    int64_t n = tensor_numel_of(b->rank, b->dims);
    if (n != 1)
        return k_fail(k, ONYX_E_SHAPE, "%s (input %d) must be a scalar, has %lld elements", what,
                      i, (long long)n);
    *out = b->data;
    return ONYX_OK;
}

static onyx_status op_clip(onyx_kctx *k)
{
    onyx_status st = ew_require_tensor(k, 0);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    clip_fn fn = (unsigned)x->dtype <= ONYX_BFLOAT16 ? clip_fns[x->dtype] : NULL;
    if (!fn)
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 0 has type %s (Clip takes numeric types)",
                      onyx_dtype_name(x->dtype));
    const void *lo = NULL, *hi = NULL;
    /* before opset 11 the bounds were float attributes */
    union {
        float f;
        double d;
        uint16_t h;
    } lo_v, hi_v;
    if (k->opset < 11) {
        if ((st = require_float(k, 0))) return st;
        float lo_f = k_attr_float(k, "min", -INFINITY), hi_f = k_attr_float(k, "max", INFINITY);
        switch (x->dtype) {
        case ONYX_FLOAT: lo_v.f = lo_f; hi_v.f = hi_f; break;
        case ONYX_DOUBLE: lo_v.d = lo_f; hi_v.d = hi_f; break;
        case ONYX_FLOAT16: lo_v.h = f32_to_f16(lo_f); hi_v.h = f32_to_f16(hi_f); break;
        default: lo_v.h = f32_to_bf16(lo_f); hi_v.h = f32_to_bf16(hi_f); break;
        }
        lo = &lo_v;
        hi = &hi_v;
    } else if ((st = clip_bound(k, 1, x, &lo)) || (st = clip_bound(k, 2, x, &hi))) {
        return st;
    }
    const hot_kernels *hk = hot_kernels_native();
    /* the hot map writes every element */
    onyx_tensor *y = hk && x->dtype == ONYX_FLOAT ? k_output_uninit(k, 0, x->dtype, x->rank, x->dims)
                                                  : k_output(k, 0, x->dtype, x->rank, x->dims);
    if (!y) return k->err->code;
    if (hk && x->dtype == ONYX_FLOAT) {
        const hot_params hp = {lo ? *(const float *)lo : -INFINITY, hi ? *(const float *)hi : INFINITY};
        hot_map_run(k, hk->map[HOT_CLIP], x->data, y->data, tensor_numel_of(x->rank, x->dims), &hp);
        return ONYX_OK;
    }
    fn(x->data, y->data, tensor_numel_of(x->rank, x->dims), lo, hi);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_activation[] = {
    {"", "Relu", op_relu},
    {"", "LeakyRelu", op_leaky_relu},
    {"", "PRelu", op_prelu},
    {"", "ThresholdedRelu", op_thresholded_relu},
    {"", "Sigmoid", op_sigmoid},
    {"", "HardSigmoid", op_hard_sigmoid},
    {"", "HardSwish", op_hard_swish},
    {"", "Tanh", op_tanh},
    {"", "Elu", op_elu},
    {"", "Selu", op_selu},
    {"", "Celu", op_celu},
    {"", "Softplus", op_softplus},
    {"", "Softsign", op_softsign},
    {"", "Shrink", op_shrink},
    {"", "Gelu", op_gelu},
    {"", "Mish", op_mish},
    {"", "Clip", op_clip},
    {0},
};
