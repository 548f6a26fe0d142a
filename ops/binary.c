/* binary.c - elementwise operators on two or more inputs with numpy
 * broadcasting: arithmetic, Pow, Mod, bit shifts and bitwise logic, boolean
 * logic, comparisons, variadic Max/Min/Sum/Mean, and Where.
 *
 * Each (operator, dtype) pair has a row kernel generated from one expression
 * (see elementwise.h); the broadcast plan hands it long contiguous rows, and
 * the row kernel specializes the broadcast-operand cases so that same-shape,
 * scalar and per-row operands run as plain vectorizable loops.
 *
 * Integer arithmetic wraps modulo 2^bits like numpy (computed in uint64_t to
 * stay clear of signed-overflow undefined behaviour); integer division or
 * modulo by zero yields 0 instead of trapping. */
#include "elementwise.h"
#include "hot.h"

#define WRAP(op) ((uint64_t)a op (uint64_t)b)
#define EW_POW(x, y) _Generic((x), float: powf, default: pow)((x), (y))
#define EW_FMOD(x, y) _Generic((x), float: fmodf, default: fmod)((x), (y))

/* Python's modulo: the result has the sign of the divisor. */
static inline int64_t floor_mod_i64(int64_t a, int64_t b)
{
    if (b == 0 || b == -1) return 0;
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
}

/* ---- arithmetic ---- */
EW_FLOAT_TYPES(EW_ARITH, add, a + b)
EW_INT_TYPES(EW_ARITH, add, WRAP(+))
EW_FLOAT_TYPES(EW_ARITH, sub, a - b)
EW_INT_TYPES(EW_ARITH, sub, WRAP(-))
EW_FLOAT_TYPES(EW_ARITH, mul, a * b)
EW_INT_TYPES(EW_ARITH, mul, WRAP(*))
EW_FLOAT_TYPES(EW_ARITH, div, a / b)
/* INT_MIN / -1 overflows: negate in unsigned arithmetic instead */
EW_SINT_TYPES(EW_ARITH, div, b == 0 ? 0 : b == -1 ? 0 - (uint64_t)a : (uint64_t)(a / b))
EW_UINT_TYPES(EW_ARITH, div, b == 0 ? 0 : a / b)
static const ew_table add_rows = {EW_NUM_TYPES(EW_ENTRY, add)};
static const ew_table sub_rows = {EW_NUM_TYPES(EW_ENTRY, sub)};
static const ew_table mul_rows = {EW_NUM_TYPES(EW_ENTRY, mul)};
static const ew_table div_rows = {EW_NUM_TYPES(EW_ENTRY, div)};

/* Mod with fmod=1: remainder with the sign of the dividend (C's % and fmod). */
EW_FLOAT_TYPES(EW_ARITH, fmod, EW_FMOD(a, b))
EW_SINT_TYPES(EW_ARITH, fmod, b == 0 || b == -1 ? 0 : a % b)
EW_UINT_TYPES(EW_ARITH, fmod, b == 0 ? 0 : a % b)
/* Mod with fmod=0 (integers only): sign of the divisor. */
EW_SINT_TYPES(EW_ARITH, imod, floor_mod_i64(a, b))
EW_UINT_TYPES(EW_ARITH, imod, b == 0 ? 0 : a % b)
static const ew_table fmod_rows = {EW_NUM_TYPES(EW_ENTRY, fmod)};
static const ew_table imod_rows = {EW_INT_TYPES(EW_ENTRY, imod)};

/* Pow with base and exponent of the same floating type. */
EW_FLOAT_TYPES(EW_ARITH, pow, EW_POW(a, b))
static const ew_table pow_rows = {EW_FLOAT_TYPES(EW_ENTRY, pow)};

/* ---- bits and logic ---- */
EW_UINT_TYPES(EW_ARITH, shl, (uint64_t)b >= sizeof a * 8 ? 0 : (uint64_t)a << b)
EW_UINT_TYPES(EW_ARITH, shr, (uint64_t)b >= sizeof a * 8 ? 0 : (uint64_t)a >> b)
static const ew_table shl_rows = {EW_UINT_TYPES(EW_ENTRY, shl)};
static const ew_table shr_rows = {EW_UINT_TYPES(EW_ENTRY, shr)};

EW_INT_TYPES(EW_ARITH, band, a & b)
EW_INT_TYPES(EW_ARITH, bor, a | b)
EW_INT_TYPES(EW_ARITH, bxor, a ^ b)
static const ew_table band_rows = {EW_INT_TYPES(EW_ENTRY, band)};
static const ew_table bor_rows = {EW_INT_TYPES(EW_ENTRY, bor)};
static const ew_table bxor_rows = {EW_INT_TYPES(EW_ENTRY, bxor)};

EW_BOOL_TYPE(EW_CMP, and, a && b)
EW_BOOL_TYPE(EW_CMP, or, a || b)
EW_BOOL_TYPE(EW_CMP, xor, (a != 0) != (b != 0))
static const ew_table and_rows = {EW_BOOL_TYPE(EW_ENTRY, and)};
static const ew_table or_rows = {EW_BOOL_TYPE(EW_ENTRY, or)};
static const ew_table xor_rows = {EW_BOOL_TYPE(EW_ENTRY, xor)};

/* ---- comparisons ---- */
EW_NUM_TYPES(EW_CMP, eq, a == b)
EW_BOOL_TYPE(EW_CMP, eq, (a != 0) == (b != 0))
EW_NUM_TYPES(EW_CMP, gt, a > b)
EW_BOOL_TYPE(EW_CMP, gt, a > b)
EW_NUM_TYPES(EW_CMP, lt, a < b)
EW_BOOL_TYPE(EW_CMP, lt, a < b)
EW_NUM_TYPES(EW_CMP, ge, a >= b)
EW_BOOL_TYPE(EW_CMP, ge, a >= b)
EW_NUM_TYPES(EW_CMP, le, a <= b)
EW_BOOL_TYPE(EW_CMP, le, a <= b)
static const ew_table eq_rows = {EW_NUM_TYPES(EW_ENTRY, eq) EW_BOOL_TYPE(EW_ENTRY, eq)};
static const ew_table gt_rows = {EW_NUM_TYPES(EW_ENTRY, gt) EW_BOOL_TYPE(EW_ENTRY, gt)};
static const ew_table lt_rows = {EW_NUM_TYPES(EW_ENTRY, lt) EW_BOOL_TYPE(EW_ENTRY, lt)};
static const ew_table ge_rows = {EW_NUM_TYPES(EW_ENTRY, ge) EW_BOOL_TYPE(EW_ENTRY, ge)};
static const ew_table le_rows = {EW_NUM_TYPES(EW_ENTRY, le) EW_BOOL_TYPE(EW_ENTRY, le)};

static void eq_str(void *y_, const void *const *in, const int64_t *s, int64_t n, const void *ctx)
{
    char *const *A = in[0], *const *B = in[1];
    uint8_t *Y = y_;
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        const char *a = A[i * s[0]], *b = B[i * s[1]];
        Y[i] = strcmp(a ? a : "", b ? b : "") == 0;
    }
}

/* ---- Max/Min propagate NaN from either side, like numpy.maximum ---- */
EW_FLOAT_TYPES(EW_ARITH, max, (a > b || isnan(a)) ? a : b)
EW_INT_TYPES(EW_ARITH, max, a > b ? a : b)
EW_FLOAT_TYPES(EW_ARITH, min, (a < b || isnan(a)) ? a : b)
EW_INT_TYPES(EW_ARITH, min, a < b ? a : b)
static const ew_table max_rows = {EW_NUM_TYPES(EW_ENTRY, max)};
static const ew_table min_rows = {EW_NUM_TYPES(EW_ENTRY, min)};
static const ew_table mean_rows = {EW_FLOAT_TYPES(EW_ENTRY, add)};

/* ---- shared driver ---- */
static onyx_status require_inputs(onyx_kctx *k, int n, bool same_type)
{
    for (int i = 0; i < n; i++) {
        onyx_status st = ew_require_tensor(k, i);
        if (st) return st;
        if (same_type && i > 0 && k_input(k, i)->dtype != k_input(k, 0)->dtype)
            return k_fail(k, ONYX_E_INVALID, "input %d has type %s but input 0 has type %s", i,
                          onyx_dtype_name(k_input(k, i)->dtype),
                          onyx_dtype_name(k_input(k, 0)->dtype));
    }
    return ONYX_OK;
}

/* Broadcasts inputs a and b into output 0 of type out_dt and runs fn over it.
 * bdata/bsize replace b's storage when the caller converted it. */
static onyx_status run_rows(onyx_kctx *k, const onyx_tensor *a, const onyx_tensor *b,
                            const void *bdata, size_t bsize, onyx_dtype out_dt, ew_row_fn fn)
{
    /* Before opset 7, broadcast=1 with an axis aligned B's dimensions with A's
     * starting at that axis instead of at the end: pad B with trailing 1s. */
    onyx_tensor legacy;
    const onyx_attr *axis_attr = k_attr(k, "axis");
    if (k->opset < 7 && k_attr_int(k, "broadcast", 0) && axis_attr && axis_attr->type == ATTR_INT) {
        int axis;
        if (!k_axis(axis_attr->i, a->rank, &axis) || axis + b->rank > a->rank)
            return k_fail(k, ONYX_E_INVALID,
                          "attribute axis=%lld does not place input 1 (rank %d) in input 0 "
                          "(rank %d)",
                          (long long)axis_attr->i, b->rank, a->rank);
        legacy = *b;
        legacy.rank = a->rank - axis;
        for (int d = b->rank; d < legacy.rank; d++) legacy.dims[d] = 1;
        b = &legacy;
    }
    const onyx_tensor *ts[2] = {a, b};
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    onyx_status st = ew_broadcast_or_fail(k, 2, ts, &rank, dims);
    if (st) return st;
    onyx_tensor *y = k_output(k, 0, out_dt, rank, dims);
    if (!y) return k->err->code;
    ew_plan p;
    ew_plan_init(&p, 2, ts, rank, dims);
    const void *in[2] = {a->data, bdata};
    size_t isz[2] = {onyx_dtype_size(a->dtype), bsize};
    ew_plan_run(&p, y->data, onyx_dtype_size(out_dt), in, isz, fn, NULL);
    return ONYX_OK;
}

static onyx_status run_binary(onyx_kctx *k, const ew_row_fn *rows, bool to_bool)
{
    onyx_status st = require_inputs(k, 2, true);
    if (st) return st;
    ew_row_fn fn = ew_row_for(k, rows, 0);
    if (!fn) return k->err->code;
    const onyx_tensor *a = k_input(k, 0), *b = k_input(k, 1);
    return run_rows(k, a, b, b->data, onyx_dtype_size(b->dtype), to_bool ? ONYX_BOOL : a->dtype,
                    fn);
}

/* ---- float32 arithmetic through the vectorized kernels of ops/hot.h ----
 * The broadcast plan's rows are cut into tasks of at most ARITH_CHUNK
 * elements, so one long same-shape row and many short per-channel rows
 * both spread over the threads. */
#define ARITH_CHUNK ((int64_t)1 << 14)

typedef struct arith_job {
    const ew_plan *p;
    hot_binary_fn fn;
    const float *a, *b;
    float *y;
    int64_t chunks_per_row;
} arith_job;

static void arith_range(void *arg, int64_t begin, int64_t end)
{
    const arith_job *j = arg;
    const ew_plan *p = j->p;
    const int r = p->rank;
    const int64_t inner = p->dims[r - 1];
    for (int64_t t = begin; t < end; t++) {
        const int64_t row = t / j->chunks_per_row, c = t % j->chunks_per_row;
        int64_t o = row, offa = 0, offb = 0;
        for (int d = r - 2; d >= 0; d--) {
            const int64_t idx = o % p->dims[d];
            o /= p->dims[d];
            offa += idx * p->strides[0][d];
            offb += idx * p->strides[1][d];
        }
        const int64_t lo = c * inner / j->chunks_per_row, hi = (c + 1) * inner / j->chunks_per_row;
        const int64_t sa = p->strides[0][r - 1], sb = p->strides[1][r - 1];
        j->fn(j->a + offa + lo * sa, sa, j->b + offb + lo * sb, sb, j->y + row * inner + lo, hi - lo);
    }
}

/* Add/Sub/Mul/Div: float32 (opset 7+ broadcasting) on the fast path when this
 * CPU has one, everything else through the row tables. */
static onyx_status run_arith(onyx_kctx *k, const ew_row_fn *rows, hot_binop op)
{
    const hot_kernels *hk = hot_kernels_native();
    const onyx_tensor *a = k_input(k, 0), *b = k_input(k, 1);
    if (!hk || k->opset < 7 || !a || !b || a->kind != ONYX_KIND_TENSOR ||
        b->kind != ONYX_KIND_TENSOR || a->dtype != ONYX_FLOAT || b->dtype != ONYX_FLOAT)
        return run_binary(k, rows, false);
    const onyx_tensor *ts[2] = {a, b};
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    onyx_status st = ew_broadcast_or_fail(k, 2, ts, &rank, dims);
    if (st) return st;
    /* arith_range covers every element */
    onyx_tensor *y = k_output_uninit(k, 0, ONYX_FLOAT, rank, dims);
    if (!y) return k->err->code;
    ew_plan p;
    ew_plan_init(&p, 2, ts, rank, dims);
    if (p.total <= 0) return ONYX_OK;
    const int64_t inner = p.dims[p.rank - 1];
    arith_job j = {&p, hk->binary[op], a->data, b->data, y->data, (inner + ARITH_CHUNK - 1) / ARITH_CHUNK};
    const int64_t tasks = p.total / inner * j.chunks_per_row;
    if (p.total < HOT_PARALLEL_MIN) arith_range(&j, 0, tasks);
    else k_parallel_for(k, tasks, arith_range, &j);
    return ONYX_OK;
}

static onyx_status op_add(onyx_kctx *k) { return run_arith(k, add_rows, HOT_ADD); }
static onyx_status op_sub(onyx_kctx *k) { return run_arith(k, sub_rows, HOT_SUB); }
static onyx_status op_mul(onyx_kctx *k) { return run_arith(k, mul_rows, HOT_MUL); }
static onyx_status op_div(onyx_kctx *k) { return run_arith(k, div_rows, HOT_DIV); }
static onyx_status op_and(onyx_kctx *k) { return run_binary(k, and_rows, true); }
static onyx_status op_or(onyx_kctx *k) { return run_binary(k, or_rows, true); }
static onyx_status op_xor(onyx_kctx *k) { return run_binary(k, xor_rows, true); }
static onyx_status op_bitwise_and(onyx_kctx *k) { return run_binary(k, band_rows, false); }
static onyx_status op_bitwise_or(onyx_kctx *k) { return run_binary(k, bor_rows, false); }
static onyx_status op_bitwise_xor(onyx_kctx *k) { return run_binary(k, bxor_rows, false); }
static onyx_status op_greater(onyx_kctx *k) { return run_binary(k, gt_rows, true); }
static onyx_status op_less(onyx_kctx *k) { return run_binary(k, lt_rows, true); }
static onyx_status op_greater_or_equal(onyx_kctx *k) { return run_binary(k, ge_rows, true); }
static onyx_status op_less_or_equal(onyx_kctx *k) { return run_binary(k, le_rows, true); }

static onyx_status op_equal(onyx_kctx *k)
{
    onyx_status st = require_inputs(k, 2, true);
    if (st) return st;
    const onyx_tensor *a = k_input(k, 0), *b = k_input(k, 1);
    if (a->dtype == ONYX_STRING)
        return run_rows(k, a, b, b->data, sizeof(char *), ONYX_BOOL, eq_str);
    return run_binary(k, eq_rows, true);
}

static onyx_status op_mod(onyx_kctx *k)
{
    int64_t fmod_attr = k_attr_int(k, "fmod", 0);
    if (fmod_attr != 0 && fmod_attr != 1)
        return k_fail(k, ONYX_E_INVALID, "attribute fmod must be 0 or 1, got %lld",
                      (long long)fmod_attr);
    onyx_status st = require_inputs(k, 2, true);
    if (st) return st;
    if (!fmod_attr && dtype_is_float(k_input(k, 0)->dtype))
        return k_fail(k, ONYX_E_INVALID, "attribute fmod must be 1 for %s inputs",
                      onyx_dtype_name(k_input(k, 0)->dtype));
    return run_binary(k, fmod_attr ? fmod_rows : imod_rows, false);
}

static onyx_status op_bitshift(onyx_kctx *k)
{
    const char *dir = k_attr_string(k, "direction", NULL);
    if (!dir) return k_fail(k, ONYX_E_INVALID, "attribute direction is required");
    bool left = strcmp(dir, "LEFT") == 0;
    if (!left && strcmp(dir, "RIGHT") != 0)
        return k_fail(k, ONYX_E_INVALID, "attribute direction must be LEFT or RIGHT, got '%s'",
                      dir);
    return run_binary(k, left ? shl_rows : shr_rows, false);
}

/* ---- Pow with mixed types: the exponent is converted to double first ---- */
/* Integer base to an integral power wraps like numpy; a fractional power goes
 * through double and truncates. */
static inline int64_t int_pow(int64_t base, double e)
{
    if (e != floor(e)) {
        double r = pow((double)base, e);
        return r > -9.2233720368547758e18 && r < 9.2233720368547758e18 ? (int64_t)r : 0;
    }
    if (e < 0) {
        if (base == 1) return 1;
        if (base == -1) return fmod(e, 2) != 0 ? -1 : 1;
        return 0;
    }
    uint64_t u = e >= 1.8446744073709552e19 ? UINT64_MAX : (uint64_t)e;
    uint64_t r = 1, b = (uint64_t)base;
    while (u) {
        if (u & 1) r *= b;
        b *= b;
        u >>= 1;
    }
    return (int64_t)r;
}

#define POW_MIXED(name, TA, CT, LD, ST, EXPR)                                      \
    static void name(void *y_, const void *const *in, const int64_t *s, int64_t n, \
                     const void *ctx)                                              \
    {                                                                              \
        const TA *A = in[0];                                                       \
        const double *E = in[1];                                                   \
        TA *Y = y_;                                                                \
        (void)ctx;                                                                 \
        for (int64_t i = 0; i < n; i++) {                                          \
            CT a = LD(A[i * s[0]]);                                                \
            double e = E[i * s[1]];                                                \
            Y[i] = (TA)ST((CT)(EXPR));                                             \
        }                                                                          \
    }
#define POWF(sfx, T, CT, LD, ST, name) POW_MIXED(name##_##sfx, T, CT, LD, ST, pow((double)a, e))
#define POWI(sfx, T, CT, LD, ST, name) \
    POW_MIXED(name##_##sfx, T, CT, LD, ST, int_pow((int64_t)a, e))
EW_FLOAT_TYPES(POWF, powx)
EW_INT_TYPES(POWI, powx)
static const ew_table powx_rows = {EW_NUM_TYPES(EW_ENTRY, powx)};

static onyx_status op_pow(onyx_kctx *k)
{
    onyx_status st = require_inputs(k, 2, false);
    if (st) return st;
    const onyx_tensor *a = k_input(k, 0), *b = k_input(k, 1);
    if (a->dtype == b->dtype && (unsigned)a->dtype <= ONYX_BFLOAT16 && pow_rows[a->dtype])
        return run_binary(k, pow_rows, false);
    ew_row_fn fn = ew_row_for(k, powx_rows, 0);
    if (!fn) return k->err->code;
    if (!dtype_is_float(b->dtype) && !dtype_is_int(b->dtype)) {
        ew_row_for(k, powx_rows, 1);
        return k->err->code;
    }
    int64_t n = tensor_numel_of(b->rank, b->dims);
    double *e = malloc((size_t)(n > 0 ? n : 1) * sizeof *e);
    if (!e) return k_fail(k, ONYX_E_NOMEM, "out of memory converting the exponent");
    for (int64_t i = 0; i < n; i++) e[i] = k_get_f64(b, i);
    st = run_rows(k, a, b, e, sizeof *e, a->dtype, fn);
    free(e);
    return st;
}

/* ---- variadic Max, Min, Sum, Mean ---- */
static onyx_status run_variadic(onyx_kctx *k, const ew_row_fn *rows, bool mean)
{
    int n = k->n_inputs;
    if (n < 1) return k_fail(k, ONYX_E_INVALID, "needs at least one input");
    if (n > 4096) return k_fail(k, ONYX_E_LIMIT, "%d inputs (limit 4096)", n);
    onyx_status st = require_inputs(k, n, true);
    if (st) return st;
    ew_row_fn fn = ew_row_for(k, rows, 0);
    if (!fn) return k->err->code;
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    st = ew_broadcast_or_fail(k, n, k->inputs, &rank, dims);
    if (st) return st;
    onyx_tensor *y = k_output(k, 0, k_input(k, 0)->dtype, rank, dims);
    if (!y) return k->err->code;
    size_t es = onyx_dtype_size(y->dtype);
    if (n == 1) {
        memcpy(y->data, k_input(k, 0)->data, y->nbytes);
        return ONYX_OK;
    }
    /* y = in0 op in1, then y = y op in_i: y has the full shape so it never broadcasts */
    for (int i = 1; i < n; i++) {
        const onyx_tensor *a = i == 1 ? k_input(k, 0) : y, *b = k_input(k, i);
        const onyx_tensor *ts[2] = {a, b};
        ew_plan p;
        ew_plan_init(&p, 2, ts, rank, dims);
        const void *in[2] = {a->data, b->data};
        size_t isz[2] = {es, es};
        ew_plan_run(&p, y->data, es, in, isz, fn, NULL);
    }
    if (mean) {
        int64_t total = tensor_numel_of(rank, dims);
        if (y->dtype == ONYX_FLOAT) {
            float *v = y->data;
            for (int64_t i = 0; i < total; i++) v[i] /= (float)n;
        } else {
            for (int64_t i = 0; i < total; i++) k_set_f64(y, i, k_get_f64(y, i) / n);
        }
    }
    return ONYX_OK;
}

static onyx_status op_max(onyx_kctx *k) { return run_variadic(k, max_rows, false); }
static onyx_status op_min(onyx_kctx *k) { return run_variadic(k, min_rows, false); }
static onyx_status op_sum(onyx_kctx *k) { return run_variadic(k, add_rows, false); }
static onyx_status op_mean(onyx_kctx *k) { return run_variadic(k, mean_rows, true); }

/* ---- Where ---- */
#define WHERE_ROW(SZ)                                                                    \
    static void where_##SZ(void *y_, const void *const *in, const int64_t *s, int64_t n, \
                           const void *ctx)                                              \
    {                                                                                    \
        const uint8_t *c = in[0];                                                        \
        const char *x = in[1], *w = in[2];                                               \
        char *y = y_;                                                                    \
        (void)ctx;                                                                       \
        for (int64_t i = 0; i < n; i++)                                                  \
            memcpy(y + i * SZ, c[i * s[0]] ? x + i * s[1] * SZ : w + i * s[2] * SZ, SZ); \
    }
WHERE_ROW(1)
WHERE_ROW(2)
WHERE_ROW(4)
WHERE_ROW(8)

/* Strings: picks the source pointers; the caller copies the strings. */
static void where_str(void *y_, const void *const *in, const int64_t *s, int64_t n,
                      const void *ctx)
{
    const uint8_t *c = in[0];
    char *const *x = in[1], *const *w = in[2];
    const char **y = y_;
    (void)ctx;
    for (int64_t i = 0; i < n; i++) y[i] = c[i * s[0]] ? x[i * s[1]] : w[i * s[2]];
}

static onyx_status op_where(onyx_kctx *k)
{
    onyx_status st = require_inputs(k, 3, false);
    if (st) return st;
    if ((st = k_require(k, 0, ONYX_BOOL, ONYX_UNDEFINED))) return st;
    const onyx_tensor *c = k_input(k, 0), *x = k_input(k, 1), *w = k_input(k, 2);
    if (x->dtype != w->dtype)
        return k_fail(k, ONYX_E_INVALID, "input 2 has type %s but input 1 has type %s",
                      onyx_dtype_name(w->dtype), onyx_dtype_name(x->dtype));
    size_t es = onyx_dtype_size(x->dtype);
    ew_row_fn fn = x->dtype == ONYX_STRING ? where_str
                   : es == 1              ? where_1
                   : es == 2              ? where_2
                   : es == 4              ? where_4
                   : es == 8              ? where_8
                                          : NULL;
    if (!fn)
        return k_fail(k, ONYX_E_UNSUPPORTED, "input 1 has unsupported type %s",
                      onyx_dtype_name(x->dtype));
    const onyx_tensor *ts[3] = {c, x, w};
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    if ((st = ew_broadcast_or_fail(k, 3, ts, &rank, dims))) return st;
    onyx_tensor *y = k_output(k, 0, x->dtype, rank, dims);
    if (!y) return k->err->code;
    ew_plan p;
    ew_plan_init(&p, 3, ts, rank, dims);
    const void *in[3] = {c->data, x->data, w->data};
    size_t isz[3] = {1, es, es};
    if (x->dtype != ONYX_STRING) {
        ew_plan_run(&p, y->data, es, in, isz, fn, NULL);
        return ONYX_OK;
    }
    int64_t total = tensor_numel_of(rank, dims);
    const char **src = malloc((size_t)(total > 0 ? total : 1) * sizeof *src);
    if (!src) return k_fail(k, ONYX_E_NOMEM, "out of memory selecting %lld strings",
                            (long long)total);
    ew_plan_run(&p, src, sizeof *src, in, isz, fn, NULL);
    char **out = y->data;
    for (int64_t i = 0; i < total; i++) {
        char *dup = strdup(src[i] ? src[i] : "");
        if (!dup) {
            free(src);
            return k_fail(k, ONYX_E_NOMEM, "out of memory copying strings");
        }
        free(out[i]);
        out[i] = dup;
    }
    free(src);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_binary[] = {
    {"", "Add", op_add},
    {"", "Sub", op_sub},
    {"", "Mul", op_mul},
    {"", "Div", op_div},
    {"", "Pow", op_pow},
    {"", "Mod", op_mod},
    {"", "BitShift", op_bitshift},
    {"", "And", op_and},
    {"", "Or", op_or},
    {"", "Xor", op_xor},
    {"", "BitwiseAnd", op_bitwise_and},
    {"", "BitwiseOr", op_bitwise_or},
    {"", "BitwiseXor", op_bitwise_xor},
    {"", "Equal", op_equal},
    {"", "Greater", op_greater},
    {"", "Less", op_less},
    {"", "GreaterOrEqual", op_greater_or_equal},
    {"", "LessOrEqual", op_less_or_equal},
    {"", "Max", op_max},
    {"", "Min", op_min},
    {"", "Sum", op_sum},
    {"", "Mean", op_mean},
    {"", "Where", op_where},
    {0},
};
