/* shapes.c - static shape inference for the passes.
 *
 * Walks the graph in topological order from the declared inputs, initializers
 * and constants, for the operators the zoo's graphs are made of. A dim is a
 * known size (>= 0), a symbol (<= -2: a named or unnamed input dim, carried
 * through unchanged so "batch" here equals "batch" there) or unknown (-1).
 * Anything not understood is unknown, so passes that need a shape just don't
 * fire; inference never fails a model. */
#include "passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

void pass_shapes_free(pass_ctx *c)
{
    free(c->shapes);
    free(c->shape_table);
    c->shapes = NULL;
    c->shape_table = NULL;
    c->n_shapes = c->cap_shapes = c->shape_table_size = 0;
}

const pass_shape *pass_shape_of(const pass_ctx *c, const char *name)
{
    if (!c->shape_table || !name[0]) return NULL;
    uint32_t mask = (uint32_t)c->shape_table_size - 1;
    for (uint32_t i = hash_str(name) & mask;; i = (i + 1) & mask) {
        int v = c->shape_table[i];
        if (!v) return NULL;
        if (!strcmp(c->shapes[v - 1].name, name)) return &c->shapes[v - 1];
    }
}

static pass_shape *put(pass_ctx *c, const char *name, onyx_dtype dt, int rank, const int64_t *dims)
{
    if (!name[0] || pass_shape_of(c, name) || c->n_shapes >= c->cap_shapes) return NULL;
    pass_shape *s = &c->shapes[c->n_shapes++];
    s->name = name;
    s->n_val = -1;
    s->dtype = dt;
    s->rank = rank;
    for (int i = 0; i < rank && i < ONYX_MAX_RANK; i++) s->dims[i] = dims[i];
    uint32_t mask = (uint32_t)c->shape_table_size - 1;
    uint32_t i = hash_str(name) & mask;
    while (c->shape_table[i]) i = (i + 1) & mask;
    c->shape_table[i] = c->n_shapes;
    return s;
}

bool pass_same_shape(const pass_ctx *c, const char *a, const char *b)
{
    const pass_shape *x = pass_shape_of(c, a), *y = pass_shape_of(c, b);
    if (!x || !y || x->rank < 0 || x->rank != y->rank) return false;
    for (int i = 0; i < x->rank; i++)
        if (x->dims[i] == -1 || x->dims[i] != y->dims[i]) return false;
    return true;
}

/* Integer values of a constant input (at most max), or -1. */
static int const_ints(const pass_ctx *c, const char *name, int64_t *out, int max)
{
    const onyx_tensor *t = ge_const(c->g, name);
    if (!t || t->kind != ONYX_KIND_TENSOR) return -1;
    return (int)k_read_ints(t, out, max);
}

static int64_t bcast_dim(int64_t a, int64_t b)
{
    if (a == 1) return b;
    if (b == 1) return a;
    if (a == b) return a;
    if (a >= 0 && b < 0) return a;   /* a valid model must then have b == a */
    if (b >= 0 && a < 0) return b;
    return -1;
}

/* The dim a Reshape infers (-1 in its shape): what is left of the input's
 * size once the other output dims are divided out. Symbols cancel against
 * the same symbol, so [batch, 256, 384] -> [batch, -1] gives 98304. */
static int64_t infer_dim(const int64_t *in, int in_rank, const int64_t *out, int out_rank, int skip)
{
    int64_t in_known = 1, out_known = 1, syms[ONYX_MAX_RANK];
    int n_syms = 0;
    for (int i = 0; i < in_rank; i++) {
        if (in[i] >= 0) in_known *= in[i];
        else if (in[i] <= -2) syms[n_syms++] = in[i];
        else return -1;
    }
    for (int i = 0; i < out_rank; i++) {
        if (i == skip) continue;
        if (out[i] >= 0) {
            out_known *= out[i];
            continue;
        }
        int j = 0;
        while (j < n_syms && syms[j] != out[i]) j++;
        if (out[i] == -1 || j == n_syms) return -1;
        syms[j] = syms[--n_syms];
    }
    if (out_known <= 0 || in_known % out_known) return -1;
    if (n_syms == 0) return in_known / out_known;
    return n_syms == 1 && in_known == out_known ? syms[0] : -1;
}

static bool is_one_of(const char *op, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(op, *list)) return true;
    return false;
}

static const char *const same_shape_ops[] = {
    "Relu", "Sigmoid", "Tanh", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "Elu", "Selu", "Erf", "Sqrt",
    "Exp", "Log", "Abs", "Neg", "Reciprocal", "Identity", "Dropout", "BatchNormalization", "InstanceNormalization",
    "LayerNormalization", "Softmax", "LogSoftmax", "Gelu", "Softplus", "Floor", "Ceil", "Round", "Not", "Sign",
    "Cos", "Sin", "Mish", "Celu", "ThresholdedRelu", "LRN", "Cast", "CastLike", "Shrink", NULL};
static const char *const bcast_ops[] = {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "LessOrEqual",
                                        "GreaterOrEqual", "And", "Or", "Xor", "Where", "Max", "Min", "Mod",
                                        "PRelu", "Sum", "Mean", NULL};

static void infer_node(pass_ctx *c, const onyx_node *n);

/* Output `out` of n shaped like the standard op `base` on inputs a and b
 * (with n's attributes), of type dt. */
static void infer_as(pass_ctx *c, const onyx_node *n, const char *base, const char *a, const char *b,
                     const char *out, onyx_dtype dt)
{
    if (!out[0]) return;
    const char *ins[2] = {a, b}, *outs[1] = {out};
    onyx_node t = *n;
    t.op_type = base;
    t.domain = "";
    t.n_inputs = b[0] ? 2 : 1;
    t.inputs = ins;
    t.n_outputs = 1;
    t.outputs = outs;
    infer_node(c, &t);
    pass_shape *s = (pass_shape *)pass_shape_of(c, out);
    if (s) s->dtype = dt;
}

static const char *in_at(const onyx_node *n, int i) { return i < n->n_inputs ? n->inputs[i] : ""; }

/* The 8-bit type of a zero point input (uint8 when absent or unknown). */
static onyx_dtype zp_type(const pass_ctx *c, const onyx_node *n, int i)
{
    const pass_shape *z = pass_shape_of(c, in_at(n, i));
    const onyx_tensor *t = in_at(n, i)[0] ? ge_const(c->g, in_at(n, i)) : NULL;
    onyx_dtype dt = t ? t->dtype : z ? z->dtype : ONYX_UINT8;
    return dt == ONYX_INT8 ? ONYX_INT8 : ONYX_UINT8;
}

/* The quantization operators, standard and fused; false for other ops. */
static bool infer_quant(pass_ctx *c, const onyx_node *n)
{
    const char *op = n->op_type;
    const char *x = in_at(n, 0);
    bool onyx = !strcmp(n->domain, "ai.onyx");
    if (n->domain[0] && !onyx) return false;
    if (!onyx && !strcmp(op, "QuantizeLinear")) {
        onyx_dtype dt = in_at(n, 2)[0] ? zp_type(c, n, 2) : (onyx_dtype)ge_attr_int(n, "output_dtype", ONYX_UINT8);
        infer_as(c, n, "Identity", x, "", n->outputs[0], dt);
    } else if (!onyx && !strcmp(op, "DequantizeLinear")) {
        infer_as(c, n, "Identity", x, "", n->outputs[0], ONYX_FLOAT);
    } else if (!onyx && !strcmp(op, "DynamicQuantizeLinear")) {
        infer_as(c, n, "Identity", x, "", n->outputs[0], ONYX_UINT8);
        if (n->n_outputs > 1 && n->outputs[1][0]) put(c, n->outputs[1], ONYX_FLOAT, 0, NULL);
        if (n->n_outputs > 2 && n->outputs[2][0]) put(c, n->outputs[2], ONYX_UINT8, 0, NULL);
    } else if (!onyx && (!strcmp(op, "ConvInteger") || !strcmp(op, "MatMulInteger"))) {
        infer_as(c, n, op[0] == 'C' ? "Conv" : "MatMul", x, in_at(n, 1), n->outputs[0], ONYX_INT32);
    } else if (!onyx && (!strcmp(op, "QLinearConv") || !strcmp(op, "QLinearMatMul"))) {
        onyx_dtype dt = zp_type(c, n, 7);
        infer_as(c, n, op[7] == 'C' ? "Conv" : "MatMul", x, in_at(n, 3), n->outputs[0], dt);
    } else if (onyx && (!strcmp(op, "QConv") || !strcmp(op, "QMatMul"))) {
        bool conv = !strcmp(op, "QConv"), tb = !conv && ge_attr_int(n, "transB", 0);
        const char *base = conv ? "Conv" : tb ? "Gemm" : "MatMul";
        for (int o = 0; o < n->n_outputs && o < 2; o++)
            infer_as(c, n, base, x, in_at(n, 3), n->outputs[o], o ? zp_type(c, n, 9) : ONYX_FLOAT);
    } else {
        return false;
    }
    return true;
}

static void infer_node(pass_ctx *c, const onyx_node *n)
{
    const char *op = n->op_type;
    const pass_shape *x = n->n_inputs ? pass_shape_of(c, n->inputs[0]) : NULL;
    int64_t d[ONYX_MAX_RANK];
    int r = -1;
    onyx_dtype dt = x ? x->dtype : ONYX_UNDEFINED;
    if (!n->n_outputs || infer_quant(c, n)) return;
    if (!strcmp(n->domain, "ai.onyx")) {
        /* the fused ops have their base op's output shape */
        if (!strcmp(op, "FusedConv")) op = "Conv";
        else if (!strcmp(op, "FusedGemm")) op = "Gemm";
        else if (!strcmp(op, "FusedMatMul")) op = "MatMul";
        else if (!strcmp(op, "Gelu")) op = "Relu";
        else if (!strcmp(op, "Attention")) {
            const int64_t heads = ge_attr_int(n, "num_heads", 0);
            if (heads > 0) { /* packed [B, N, 3 H d] -> [B, N, H, d] */
                if (!x || x->rank != 3 || x->dims[2] < 0 || x->dims[2] % (3 * heads)) return;
                int64_t pd[4] = {x->dims[0], x->dims[1], heads, x->dims[2] / (3 * heads)};
                put(c, n->outputs[0], dt, 4, pd);
                return;
            }
            const pass_shape *v = n->n_inputs > 2 ? pass_shape_of(c, n->inputs[2]) : NULL;
            if (!x || !v || x->rank != 4 || v->rank != 4) return;
            memcpy(d, x->dims, sizeof d);
            d[3] = v->dims[3];
            put(c, n->outputs[0], dt, 4, d);
            return;
        } else return;
    } else if (n->domain[0]) {
        return;
    }
    if (is_one_of(op, same_shape_ops)) {
        if (!x) return;
        r = x->rank;
        memcpy(d, x->dims, sizeof d);
        if (!strcmp(op, "Cast")) dt = (onyx_dtype)ge_attr_int(n, "to", 0);
    } else if (is_one_of(op, bcast_ops)) {
        r = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            const pass_shape *s = pass_shape_of(c, n->inputs[k]);
            if (!s || s->rank < 0) return;
            if (!strcmp(op, "Where") && k == 1) dt = s->dtype;
            int nr = s->rank > r ? s->rank : r;
            int64_t nd[ONYX_MAX_RANK];
            for (int i = 0; i < nr; i++) {
                int ia = i - (nr - r), ib = i - (nr - s->rank);
                nd[i] = bcast_dim(ia >= 0 ? d[ia] : 1, ib >= 0 ? s->dims[ib] : 1);
            }
            r = nr;
            memcpy(d, nd, sizeof d);
        }
        if (is_one_of(op, (const char *const[]){"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", NULL}))
            dt = ONYX_BOOL;
    } else if (!strcmp(op, "Shape")) {
        if (!x || x->rank < 0) return;
        int64_t st = ge_attr_int(n, "start", 0), en = ge_attr_int(n, "end", x->rank);
        if (st < 0) st += x->rank;
        if (en < 0) en += x->rank;
        st = st < 0 ? 0 : st > x->rank ? x->rank : st;
        en = en < 0 ? 0 : en > x->rank ? x->rank : en;
        r = 1;
        d[0] = en > st ? en - st : 0;
        dt = ONYX_INT64;
    } else if (!strcmp(op, "Conv") || !strcmp(op, "MaxPool") || !strcmp(op, "AveragePool")) {
        if (!x || x->rank < 3) return;
        r = x->rank;
        int sp = r - 2;
        const onyx_attr *ks = ge_attr(n, "kernel_shape"), *pads = ge_attr(n, "pads"), *str = ge_attr(n, "strides"),
                        *dil = ge_attr(n, "dilations");
        const char *autopad = ge_attr_string(n, "auto_pad", "NOTSET");
        int64_t kern[ONYX_MAX_RANK];
        d[0] = x->dims[0];
        if (!strcmp(op, "Conv")) {
            const pass_shape *w = n->n_inputs > 1 ? pass_shape_of(c, n->inputs[1]) : NULL;
            if (!w || w->rank != r) return;
            d[1] = w->dims[0];
            for (int i = 0; i < sp; i++) kern[i] = w->dims[2 + i];
        } else {
            if (!ks || ks->n != sp) return;
            d[1] = x->dims[1];
            for (int i = 0; i < sp; i++) kern[i] = ks->ints[i];
        }
        bool ceil_mode = ge_attr_int(n, "ceil_mode", 0) != 0;
        for (int i = 0; i < sp; i++) {
            int64_t in = x->dims[2 + i], s = str && str->n == sp ? str->ints[i] : 1;
            int64_t dl = dil && dil->n == sp ? dil->ints[i] : 1;
            int64_t p = pads && pads->n == 2 * sp ? pads->ints[i] + pads->ints[i + sp] : 0;
            if (in < 0 || s <= 0 || kern[i] < 0) {
                d[2 + i] = -1;
            } else if (!strcmp(autopad, "SAME_UPPER") || !strcmp(autopad, "SAME_LOWER")) {
                d[2 + i] = (in + s - 1) / s;
            } else {
                if (!strcmp(autopad, "VALID")) p = 0;
                int64_t span = in + p - ((kern[i] - 1) * dl + 1);
                d[2 + i] = span < 0 ? -1 : (ceil_mode ? (span + s - 1) / s : span / s) + 1;
            }
        }
    } else if (!strcmp(op, "GlobalAveragePool") || !strcmp(op, "GlobalMaxPool")) {
        if (!x || x->rank < 3) return;
        r = x->rank;
        memcpy(d, x->dims, sizeof d);
        for (int i = 2; i < r; i++) d[i] = 1;
    } else if (!strcmp(op, "MatMul")) {
        const pass_shape *y = n->n_inputs > 1 ? pass_shape_of(c, n->inputs[1]) : NULL;
        if (!x || !y || x->rank < 2 || y->rank < 2) return;
        r = x->rank > y->rank ? x->rank : y->rank;
        for (int i = 0; i < r - 2; i++) {
            int ia = i - (r - x->rank), ib = i - (r - y->rank);
            d[i] = bcast_dim(ia >= 0 ? x->dims[ia] : 1, ib >= 0 ? y->dims[ib] : 1);
        }
        d[r - 2] = x->dims[x->rank - 2];
        d[r - 1] = y->dims[y->rank - 1];
    } else if (!strcmp(op, "Gemm")) {
        const pass_shape *y = n->n_inputs > 1 ? pass_shape_of(c, n->inputs[1]) : NULL;
        if (!x || !y || x->rank != 2 || y->rank != 2) return;
        r = 2;
        d[0] = x->dims[ge_attr_int(n, "transA", 0) ? 1 : 0];
        d[1] = y->dims[ge_attr_int(n, "transB", 0) ? 0 : 1];
    } else if (!strcmp(op, "Transpose")) {
        if (!x || x->rank < 0) return;
        const onyx_attr *perm = ge_attr(n, "perm");
        r = x->rank;
        for (int i = 0; i < r; i++) {
            int64_t p = perm && perm->n == r ? perm->ints[i] : r - 1 - i;
            if (p < 0 || p >= r) return;
            d[i] = x->dims[p];
        }
    } else if (!strcmp(op, "Reshape")) {
        /* the shape's value, as far as known (a computed one carries symbols) */
        const pass_shape *s = n->n_inputs > 1 ? pass_shape_of(c, n->inputs[1]) : NULL;
        if (!s || s->rank != 1 || s->dims[0] < 0 || s->dims[0] > ONYX_MAX_RANK) return;
        r = (int)s->dims[0];
        bool allowzero = ge_attr_int(n, "allowzero", 0) != 0;
        int infer = -1;
        for (int i = 0; i < r; i++) {
            int64_t v = s->n_val == r ? s->val[i] : PASS_UNKNOWN_VALUE;
            if (v == 0 && !allowzero) d[i] = x && i < x->rank ? x->dims[i] : -1;
            else if (v == -1) infer = i, d[i] = -1;
            else d[i] = v == PASS_UNKNOWN_VALUE ? -1 : v;
        }
        if (infer >= 0 && x && x->rank >= 0) d[infer] = infer_dim(x->dims, x->rank, d, r, infer);
    } else if (!strcmp(op, "Flatten")) {
        if (!x || x->rank < 0) return;
        int64_t ax = ge_attr_int(n, "axis", 1);
        if (ax < 0) ax += x->rank;
        int64_t a = 1, b = 1;
        for (int i = 0; i < x->rank; i++) {
            int64_t *p = i < ax ? &a : &b;
            *p = *p < 0 || x->dims[i] < 0 ? -1 : *p * x->dims[i];
        }
        r = 2;
        d[0] = a;
        d[1] = b;
    } else if (!strcmp(op, "Concat")) {
        if (!x || x->rank < 0) return;
        r = x->rank;
        int ax;
        if (!k_axis(ge_attr_int(n, "axis", 0), r, &ax)) return;
        memcpy(d, x->dims, sizeof d);
        for (int k = 1; k < n->n_inputs; k++) {
            const pass_shape *s = pass_shape_of(c, n->inputs[k]);
            if (!s || s->rank != r) return;
            d[ax] = d[ax] >= 0 && s->dims[ax] >= 0 ? d[ax] + s->dims[ax] : -1;
            /* the other dims agree in a valid model: take whichever input knows them */
            for (int i = 0; i < r; i++)
                if (i != ax && d[i] == -1) d[i] = s->dims[i];
        }
    } else if (!strcmp(op, "Slice")) {
        if (!x || x->rank < 0 || n->n_inputs < 3) return;
        int64_t st[ONYX_MAX_RANK], en[ONYX_MAX_RANK], ax[ONYX_MAX_RANK], sp[ONYX_MAX_RANK];
        int ns = const_ints(c, n->inputs[1], st, ONYX_MAX_RANK);
        if (ns < 0 || const_ints(c, n->inputs[2], en, ONYX_MAX_RANK) != ns) return;
        for (int i = 0; i < ns; i++) ax[i] = i, sp[i] = 1;
        if (n->n_inputs > 3 && n->inputs[3][0] && const_ints(c, n->inputs[3], ax, ONYX_MAX_RANK) != ns) return;
        if (n->n_inputs > 4 && n->inputs[4][0] && const_ints(c, n->inputs[4], sp, ONYX_MAX_RANK) != ns) return;
        r = x->rank;
        memcpy(d, x->dims, sizeof d);
        for (int i = 0; i < ns; i++) {
            int a;
            if (!k_axis(ax[i], r, &a) || sp[i] == 0) return;
            int64_t len = x->dims[a];
            if (st[i] == 0 && sp[i] == 1 && en[i] >= INT32_MAX) continue; /* [0:] keeps even a symbol */
            if (len < 0) {
                d[a] = -1;
                continue;
            }
            int64_t s = st[i] < 0 ? st[i] + len : st[i], e = en[i] < 0 ? en[i] + len : en[i];
            if (sp[i] > 0) {
                s = s < 0 ? 0 : s > len ? len : s;
                e = e < 0 ? 0 : e > len ? len : e;
                d[a] = e > s ? (e - s + sp[i] - 1) / sp[i] : 0;
            } else {
                s = s < 0 ? -1 : s > len - 1 ? len - 1 : s;
                e = e < -1 ? -1 : e > len - 1 ? len - 1 : e;
                d[a] = s > e ? (s - e - sp[i] - 1) / -sp[i] : 0;
            }
        }
    } else if (!strcmp(op, "Pad")) {
        if (!x || x->rank < 0 || (n->n_inputs > 3 && n->inputs[3][0])) return;
        int64_t pads[2 * ONYX_MAX_RANK];
        int np = -1;
        const onyx_attr *pa = ge_attr(n, "pads");
        if (pa && pa->n <= 2 * ONYX_MAX_RANK) {
            np = pa->n;
            for (int i = 0; i < np; i++) pads[i] = pa->ints[i];
        } else if (n->n_inputs > 1) {
            const pass_shape *ps = pass_shape_of(c, n->inputs[1]);
            if (ps && ps->n_val == 2 * x->rank) {
                np = ps->n_val;
                for (int i = 0; i < np; i++) pads[i] = ps->val[i];
            }
        }
        if (np != 2 * x->rank) return;
        r = x->rank;
        for (int i = 0; i < r; i++) {
            bool known = pads[i] != PASS_UNKNOWN_VALUE && pads[i + r] != PASS_UNKNOWN_VALUE && pads[i] >= -1 && pads[i + r] >= -1;
            if (known && pads[i] == 0 && pads[i + r] == 0) d[i] = x->dims[i];
            else d[i] = known && x->dims[i] >= 0 ? x->dims[i] + pads[i] + pads[i + r] : -1;
        }
    } else if (!strcmp(op, "Resize") || !strcmp(op, "Upsample")) {
        if (!x || x->rank < 0 || ge_attr(n, "axes")) return;
        r = x->rank;
        int64_t sz[ONYX_MAX_RANK];
        const onyx_tensor *sc = NULL;
        if (!strcmp(op, "Resize") && n->n_inputs > 3 && n->inputs[3][0]) {
            if (const_ints(c, n->inputs[3], sz, ONYX_MAX_RANK) != r) return;
            memcpy(d, sz, sizeof d);
        } else {
            const char *scales = !strcmp(op, "Upsample") ? (n->n_inputs > 1 ? n->inputs[1] : "")
                                 : n->n_inputs > 2 ? n->inputs[2] : "";
            sc = scales[0] ? ge_const(c->g, scales) : NULL;
            if (!sc || !dtype_is_float(sc->dtype) || tensor_numel_of(sc->rank, sc->dims) != r) return;
            for (int i = 0; i < r; i++) {
                double f = k_get_f64(sc, i);
                d[i] = f == 1 ? x->dims[i] : x->dims[i] >= 0 ? (int64_t)floor((double)x->dims[i] * f) : -1;
            }
        }
    } else if (!strcmp(op, "ConstantOfShape")) {
        if (!x || x->n_val < 0) return;
        r = x->n_val;
        for (int i = 0; i < r; i++) d[i] = x->val[i] == PASS_UNKNOWN_VALUE ? -1 : x->val[i];
        const onyx_attr *va = ge_attr(n, "value");
        dt = va && va->type == ATTR_TENSOR ? va->t->dtype : ONYX_FLOAT;
    } else if (!strcmp(op, "Expand")) {
        const pass_shape *s = n->n_inputs > 1 ? pass_shape_of(c, n->inputs[1]) : NULL;
        if (!x || x->rank < 0 || !s || s->rank != 1 || s->dims[0] < 0 || s->dims[0] > ONYX_MAX_RANK) return;
        r = x->rank > s->dims[0] ? x->rank : (int)s->dims[0];
        for (int i = 0; i < r; i++) {
            int ix = i - (r - x->rank), is = i - (r - (int)s->dims[0]);
            int64_t a = ix >= 0 ? x->dims[ix] : 1;
            int64_t b = is < 0 ? 1 : s->n_val == s->dims[0] && s->val[is] != PASS_UNKNOWN_VALUE ? s->val[is] : -1;
            d[i] = b == -1 ? (a > 1 ? a : -1) : bcast_dim(a, b);
        }
    } else if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze")) {
        if (!x || x->rank < 0) return;
        int64_t axes[ONYX_MAX_RANK];
        int na;
        const onyx_attr *aa = ge_attr(n, "axes");
        if (aa) {
            na = aa->n > ONYX_MAX_RANK ? -1 : aa->n;
            for (int i = 0; i < na; i++) axes[i] = aa->ints[i];
        } else {
            na = n->n_inputs > 1 ? const_ints(c, n->inputs[1], axes, ONYX_MAX_RANK) : (op[0] == 'S' ? 0 : -1);
        }
        if (na < 0) return;
        bool sq = op[0] == 'S';
        int out_rank = sq ? (na ? x->rank - na : 0) : x->rank + na;
        if (sq && !na) {
            for (int i = 0; i < x->rank; i++) {
                if (x->dims[i] < 0) return;
                if (x->dims[i] != 1) d[out_rank++] = x->dims[i];
            }
            r = out_rank;
        } else {
            if (out_rank < 0 || out_rank > ONYX_MAX_RANK) return;
            bool mark[ONYX_MAX_RANK] = {0};
            for (int i = 0; i < na; i++) {
                int a;
                if (!k_axis(axes[i], sq ? x->rank : out_rank, &a)) return;
                mark[a] = true;
            }
            r = 0;
            if (sq) {
                for (int i = 0; i < x->rank; i++)
                    if (!mark[i]) d[r++] = x->dims[i];
            } else {
                for (int i = 0, j = 0; i < out_rank; i++) d[r++] = mark[i] ? 1 : x->dims[j++];
            }
        }
    } else if (!strcmp(op, "Gather")) {
        const pass_shape *idx = n->n_inputs > 1 ? pass_shape_of(c, n->inputs[1]) : NULL;
        if (!x || !idx || x->rank < 1 || idx->rank < 0) return;
        int ax;
        if (!k_axis(ge_attr_int(n, "axis", 0), x->rank, &ax)) return;
        r = x->rank - 1 + idx->rank;
        if (r > ONYX_MAX_RANK) return;
        int j = 0;
        for (int i = 0; i < ax; i++) d[j++] = x->dims[i];
        for (int i = 0; i < idx->rank; i++) d[j++] = idx->dims[i];
        for (int i = ax + 1; i < x->rank; i++) d[j++] = x->dims[i];
    } else if (!strncmp(op, "Reduce", 6)) {
        if (!x || x->rank < 0) return;
        int64_t axes[ONYX_MAX_RANK];
        int na = -1;
        const onyx_attr *aa = ge_attr(n, "axes");
        if (aa) {
            na = aa->n > ONYX_MAX_RANK ? -1 : aa->n;
            for (int i = 0; i < na; i++) axes[i] = aa->ints[i];
        } else if (n->n_inputs > 1 && n->inputs[1][0]) {
            na = const_ints(c, n->inputs[1], axes, ONYX_MAX_RANK);
        } else {
            na = 0;
        }
        if (na < 0) return;
        bool keep = ge_attr_int(n, "keepdims", 1) != 0, mark[ONYX_MAX_RANK] = {0};
        bool all = na == 0 && !ge_attr_int(n, "noop_with_empty_axes", 0);
        for (int i = 0; i < na; i++) {
            int a;
            if (!k_axis(axes[i], x->rank, &a)) return;
            mark[a] = true;
        }
        r = 0;
        for (int i = 0; i < x->rank; i++) {
            if (all || mark[i]) {
                if (keep) d[r++] = 1;
            } else {
                d[r++] = x->dims[i];
            }
        }
    } else {
        return;
    }
    if (r < 0 || r > ONYX_MAX_RANK) return;
    put(c, n->outputs[0], dt, r, d);
}

/* Propagates the value of a small integer vector computed from shapes: what
 * makes Reshape(x, Concat(Gather(Shape(x), 0), [-1])) a known shape with the
 * batch symbol in it. */
static void infer_value(pass_ctx *c, const onyx_node *n)
{
    pass_shape *o = n->n_outputs ? (pass_shape *)pass_shape_of(c, n->outputs[0]) : NULL;
    if (!o || n->domain[0] || o->rank > 1 || (!dtype_is_int(o->dtype) && o->dtype != ONYX_BOOL)) return;
    const char *op = n->op_type;
    const pass_shape *x = n->n_inputs ? pass_shape_of(c, n->inputs[0]) : NULL;
    int64_t v[ONYX_MAX_RANK];
    int nv = 0;
    if (!strcmp(op, "Shape")) {
        if (!x || x->rank < 0 || o->rank != 1 || o->dims[0] < 0) return;
        int64_t st = ge_attr_int(n, "start", 0);
        if (st < 0) st += x->rank;
        if (st < 0) st = 0;
        for (int64_t i = 0; i < o->dims[0] && st + i < x->rank; i++) {
            int64_t dd = x->dims[st + i];
            v[nv++] = dd == -1 ? PASS_UNKNOWN_VALUE : dd;
        }
    } else if (!strcmp(op, "ConstantOfShape")) {
        const onyx_attr *va = ge_attr(n, "value");
        int64_t fill = 0;
        if (va && va->type == ATTR_TENSOR && k_read_ints(va->t, &fill, 1) != 1) return;
        if (o->rank != 1 || o->dims[0] < 0) return;
        for (int64_t i = 0; i < o->dims[0]; i++) v[nv++] = fill;
    } else if (!x || x->n_val < 0) {
        return;
    } else if (!strcmp(op, "Equal")) {
        const pass_shape *y = n->n_inputs > 1 ? pass_shape_of(c, n->inputs[1]) : NULL;
        if (!y || y->n_val < 0 || (x->n_val != y->n_val && x->n_val != 1 && y->n_val != 1)) return;
        nv = x->n_val > y->n_val ? x->n_val : y->n_val;
        for (int i = 0; i < nv; i++) {
            int64_t a = x->val[x->n_val == 1 ? 0 : i], b = y->val[y->n_val == 1 ? 0 : i];
            if (a == PASS_UNKNOWN_VALUE || b == PASS_UNKNOWN_VALUE) v[i] = PASS_UNKNOWN_VALUE;
            else if (a == b) v[i] = 1;
            else if (a >= -1 && b >= -1) v[i] = 0;
            else if ((a <= -2 && b == -1) || (b <= -2 && a == -1)) v[i] = 0; /* a size is never -1 */
            else v[i] = PASS_UNKNOWN_VALUE;
        }
    } else if (!strcmp(op, "Where")) {
        const pass_shape *a = n->n_inputs > 2 ? pass_shape_of(c, n->inputs[1]) : NULL;
        const pass_shape *b = n->n_inputs > 2 ? pass_shape_of(c, n->inputs[2]) : NULL;
        if (!a || !b || a->n_val < 0 || b->n_val < 0) return;
        nv = x->n_val;
        if ((a->n_val != nv && a->n_val != 1) || (b->n_val != nv && b->n_val != 1)) return;
        for (int i = 0; i < nv; i++) {
            int64_t cond = x->val[i];
            v[i] = cond == PASS_UNKNOWN_VALUE ? PASS_UNKNOWN_VALUE
                   : cond ? a->val[a->n_val == 1 ? 0 : i] : b->val[b->n_val == 1 ? 0 : i];
        }
    } else if (!strcmp(op, "Gather") && ge_attr_int(n, "axis", 0) == 0) {
        int64_t ix[ONYX_MAX_RANK];
        int ni = const_ints(c, n->inputs[1], ix, ONYX_MAX_RANK);
        for (int k = 0; k < ni; k++) {
            int64_t j = ix[k] < 0 ? ix[k] + x->n_val : ix[k];
            if (j < 0 || j >= x->n_val) return;
            v[nv++] = x->val[j];
        }
        if (ni < 0) return;
    } else if (!strcmp(op, "Slice") && n->n_inputs >= 3) {
        int64_t s, e, one = 1;
        if (const_ints(c, n->inputs[1], &s, 1) != 1 || const_ints(c, n->inputs[2], &e, 1) != 1) return;
        if (n->n_inputs > 3 && n->inputs[3][0] && (const_ints(c, n->inputs[3], &one, 1) != 1 || one != 0)) return;
        if (n->n_inputs > 4 && n->inputs[4][0] && (const_ints(c, n->inputs[4], &one, 1) != 1 || one != 1)) return;
        if (s < 0) s += x->n_val;
        if (e < 0) e += x->n_val;
        s = s < 0 ? 0 : s > x->n_val ? x->n_val : s;
        e = e < 0 ? 0 : e > x->n_val ? x->n_val : e;
        for (int64_t k = s; k < e; k++) v[nv++] = x->val[k];
    } else if (!strcmp(op, "Concat")) {
        for (int k = 0; k < n->n_inputs; k++) {
            const pass_shape *s = pass_shape_of(c, n->inputs[k]);
            if (!s || s->n_val < 0 || nv + s->n_val > ONYX_MAX_RANK) return;
            for (int i = 0; i < s->n_val; i++) v[nv++] = s->val[i];
        }
    } else if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze") || !strcmp(op, "Cast") ||
               !strcmp(op, "Identity") || !strcmp(op, "Reshape")) {
        nv = x->n_val;
        memcpy(v, x->val, sizeof v);
    } else if (!strcmp(op, "Add") || !strcmp(op, "Sub") || !strcmp(op, "Mul") || !strcmp(op, "Div")) {
        const pass_shape *y = n->n_inputs > 1 ? pass_shape_of(c, n->inputs[1]) : NULL;
        if (!y || y->n_val < 0 || (x->n_val != y->n_val && x->n_val != 1 && y->n_val != 1)) return;
        nv = x->n_val > y->n_val ? x->n_val : y->n_val;
        for (int i = 0; i < nv; i++) {
            int64_t a = x->val[x->n_val == 1 ? 0 : i], b = y->val[y->n_val == 1 ? 0 : i];
            if (a < 0 || b < 0) v[i] = PASS_UNKNOWN_VALUE; /* symbols do no arithmetic */
            else if (op[0] == 'A') v[i] = a + b;
            else if (op[0] == 'S') v[i] = a - b;
            else if (op[0] == 'M') v[i] = a * b;
            else v[i] = b ? a / b : PASS_UNKNOWN_VALUE;
        }
    } else {
        return;
    }
    if ((o->rank == 0 && nv != 1) || (o->rank == 1 && o->dims[0] != nv)) return;
    o->n_val = nv;
    memcpy(o->val, v, sizeof v);
}

/* A small integer constant's value. */
static void const_value(pass_ctx *c, const char *name, const onyx_tensor *t)
{
    pass_shape *s = (pass_shape *)pass_shape_of(c, name);
    if (!s || t->rank > 1 || !dtype_is_int(t->dtype)) return;
    int64_t v[ONYX_MAX_RANK];
    int nv = (int)k_read_ints(t, v, ONYX_MAX_RANK);
    if (nv < 0) return;
    s->n_val = nv;
    memcpy(s->val, v, sizeof v);
}

onyx_status pass_infer_shapes(pass_ctx *c, onyx_error *err)
{
    pass_shapes_free(c);
    const onyx_graph *g = c->g;
    size_t cap = (size_t)g->n_inits + (size_t)g->n_inputs + 16;
    for (int i = 0; i < g->n_nodes; i++) cap += (size_t)g->nodes[i].n_outputs;
    size_t ts = 16;
    while (ts < cap * 2) ts *= 2;
    c->shapes = calloc(cap, sizeof *c->shapes);
    c->shape_table = calloc(ts, sizeof *c->shape_table);
    if (!c->shapes || !c->shape_table) {
        pass_shapes_free(c);
        return pass_fail(err, ONYX_E_NOMEM, "out of memory inferring shapes");
    }
    c->cap_shapes = (int)cap;
    c->shape_table_size = (int)ts;
    /* symbolic dims: one number per name; an unnamed unknown dim is its own symbol */
    const char *sym_names[256];
    int n_sym = 0;
    int64_t next_sym = -2;
    for (int i = 0; i < g->n_inputs; i++) {
        const onyx_value_decl *v = &g->inputs[i];
        if (ge_const_info(g, v->name) || v->kind != ONYX_KIND_TENSOR || v->rank < 0) continue;
        int64_t d[ONYX_MAX_RANK];
        for (int k = 0; k < v->rank; k++) {
            d[k] = v->dims[k];
            if (d[k] >= 0) continue;
            int j = 0;
            if (v->dim_names[k] && v->dim_names[k][0])
                for (; j < n_sym; j++)
                    if (!strcmp(sym_names[j], v->dim_names[k])) break;
            if (v->dim_names[k] && v->dim_names[k][0] && j < n_sym) {
                d[k] = -2 - j;
            } else if (v->dim_names[k] && v->dim_names[k][0] && n_sym < 256) {
                sym_names[n_sym++] = v->dim_names[k];
                d[k] = -2 - (n_sym - 1);
            } else {
                d[k] = next_sym - 256;
                next_sym--;
            }
        }
        put(c, v->name, v->dtype, v->rank, d);
    }
    for (int i = 0; i < g->n_inits; i++)
        if (!ge_is_graph_input(g, g->init_names[i])) {
            put(c, g->init_names[i], g->inits[i].dtype, g->inits[i].rank, g->inits[i].dims);
            /* (const_value reads only small vectors, which are never weights
             * without data: see runtime/weights.h) */
            const_value(c, g->init_names[i], &g->inits[i]);
        }
    for (int i = 0; i < g->n_nodes; i++) {
        const onyx_node *n = &g->nodes[i];
        if (ge_dead(n)) continue;
        const onyx_tensor *t = n->n_outputs == 1 ? ge_const(g, n->outputs[0]) : NULL;
        if (t) {
            put(c, n->outputs[0], t->dtype, t->rank, t->dims);
            const_value(c, n->outputs[0], t);
        } else {
            infer_node(c, n);
            infer_value(c, n);
        }
    }
    return ONYX_OK;
}
