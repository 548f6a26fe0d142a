/* qdq.c - rewrites a float model into standard QDQ ONNX.
 *
 * For every planned node (quant/plan.c) that the user did not exclude:
 *   activation X  ->  QuantizeLinear(X, s, zp) -> DequantizeLinear -> node
 *                     (one pair per tensor, shared by all its quantized consumers;
 *                      s, zp from the calibrated range, uint8 or int8 asymmetric)
 *   weight W      ->  int8 initializer W_quantized -> DequantizeLinear(axis) -> node
 *                     (symmetric: s_c = max|W_c| / 127, zp = 0)
 *   bias B        ->  int32 initializer -> DequantizeLinear(scale = s_x * s_w) -> node
 *                     (only when the activation and the weight are both quantized:
 *                      ONNX Runtime's QDQ Conv/Gemm fusion wants every input
 *                      behind a DequantizeLinear)
 * The new nodes go right before their first consumer, so file order stays
 * topological; the float weights nobody reads any more are dropped.
 *
 * With dynamic, MatMul and Gemm on 2-D constant weights become ONNX Runtime's
 * dynamic form instead (DynamicQuantizeLinear -> MatMulInteger -> scale, see
 * rewrite_dynamic); the other planned ops get weight-only DequantizeLinear. */
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- names */

typedef struct name_set {
    const char **v;
    int n, cap;
} name_set;

static uint64_t nhash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static bool ns_has(const name_set *s, const char *name)
{
    for (uint64_t h = nhash(name) & (uint64_t)(s->cap - 1);; h = (h + 1) & (uint64_t)(s->cap - 1)) {
        if (!s->v[h]) return false;
        if (!strcmp(s->v[h], name)) return true;
    }
}

static bool ns_add(name_set *s, const char *name)
{
    if (!name || !name[0]) return true;
    if (2 * (s->n + 1) > s->cap) {
        int cap = s->cap ? 2 * s->cap : 1024;
        const char **v = calloc((size_t)cap, sizeof *v);
        if (!v) return false;
        for (int i = 0; i < s->cap; i++) {
            if (!s->v[i]) continue;
            uint64_t h = nhash(s->v[i]) & (uint64_t)(cap - 1);
            while (v[h]) h = (h + 1) & (uint64_t)(cap - 1);
            v[h] = s->v[i];
        }
        free(s->v);
        s->v = v;
        s->cap = cap;
    }
    if (ns_has(s, name)) return true;
    uint64_t h = nhash(name) & (uint64_t)(s->cap - 1);
    while (s->v[h]) h = (h + 1) & (uint64_t)(s->cap - 1);
    s->v[h] = name;
    s->n++;
    return true;
}

static void ns_add_graph(name_set *s, const onyx_graph *g, bool *ok)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const onyx_node *n = &g->nodes[i];
        *ok = *ok && ns_add(s, n->name);
        for (int k = 0; k < n->n_inputs; k++) *ok = *ok && ns_add(s, n->inputs[k]);
        for (int k = 0; k < n->n_outputs; k++) *ok = *ok && ns_add(s, n->outputs[k]);
        for (int a = 0; a < n->n_attrs; a++) {
            if (n->attrs[a].g) ns_add_graph(s, n->attrs[a].g, ok);
            for (int j = 0; j < n->attrs[a].n && n->attrs[a].graphs; j++) ns_add_graph(s, n->attrs[a].graphs[j], ok);
        }
    }
    for (int i = 0; i < g->n_inits; i++) *ok = *ok && ns_add(s, g->init_names[i]);
    for (int i = 0; i < g->n_inputs; i++) *ok = *ok && ns_add(s, g->inputs[i].name);
    for (int i = 0; i < g->n_outputs; i++) *ok = *ok && ns_add(s, g->outputs[i].name);
    for (int i = 0; i < g->n_value_info; i++) *ok = *ok && ns_add(s, g->value_info[i].name);
}

/* ---------------------------------------------------------------- rewrite state */

typedef struct qdone {
    const char *src;    /* the float tensor */
    int axis;           /* weights: the axis it was quantized on */
    const char *dq;     /* what consumers read now */
    const float *scale; /* pool; one per channel (or one) */
    int n_scale;
    const int8_t *q;    /* weights: the int8 values, walked as [outer, D, inner] */
    int64_t inner;
} qdone;

typedef struct qctx {
    onyx_model *m;
    onyx_graph *g;
    const onyx_calibrator *c;
    const onyx_quant_options *o;
    onyx_error *err;
    onyx_status st;
    name_set names;
    onyx_node *nodes;   /* the new node list (malloc) */
    int n_nodes, cap_nodes;
    onyx_tensor *inits; /* new initializers (malloc; data in the pool) */
    const char **init_names;
    int n_inits, cap_inits;
    qdone *done;
    int n_done, cap_done;
    onyx_quant_summary sum;
} qctx;

static bool fail(qctx *q, onyx_status st, const char *fmt, const char *a, const char *b)
{
    if (q->st == ONYX_OK) {
        q->st = st;
        if (q->err) {
            q->err->code = st;
            snprintf(q->err->message, sizeof q->err->message, fmt, a ? a : "", b ? b : "");
        }
    }
    return false;
}

static bool nomem(qctx *q) { return fail(q, ONYX_E_NOMEM, "quantize: out of memory%s%s", NULL, NULL); }

static const char *unique(qctx *q, const char *base, const char *suffix)
{
    char buf[600];
    snprintf(buf, sizeof buf, "%.500s%s", base, suffix);
    size_t len = strlen(buf);
    for (int i = 1; ns_has(&q->names, buf); i++) snprintf(buf + len, sizeof buf - len, "_%d", i);
    const char *s = pool_strndup(&q->m->pool, buf, strlen(buf));
    if (!s || !ns_add(&q->names, s)) {
        nomem(q);
        return NULL;
    }
    return s;
}

static bool push_node(qctx *q, const onyx_node *n)
{
    if (q->n_nodes == q->cap_nodes) {
        int cap = q->cap_nodes ? 2 * q->cap_nodes : 256;
        onyx_node *v = realloc(q->nodes, (size_t)cap * sizeof *v);
        if (!v) return nomem(q);
        q->nodes = v;
        q->cap_nodes = cap;
    }
    q->nodes[q->n_nodes++] = *n;
    return true;
}

static const char *push_init(qctx *q, const char *base, const char *suffix, onyx_tensor *t)
{
    const char *name = unique(q, base, suffix);
    if (!name) return NULL;
    if (q->n_inits == q->cap_inits) {
        int cap = q->cap_inits ? 2 * q->cap_inits : 256;
        onyx_tensor *v = realloc(q->inits, (size_t)cap * sizeof *v);
        const char **nv = realloc(q->init_names, (size_t)cap * sizeof *nv);
        if (v) q->inits = v;
        if (nv) q->init_names = nv;
        if (!v || !nv) {
            nomem(q);
            return NULL;
        }
        q->cap_inits = cap;
    }
    t->owns_data = false;
    q->inits[q->n_inits] = *t;
    q->init_names[q->n_inits++] = name;
    return name;
}

/* A node whose arrays and attributes live in the pool. */
static bool add_qnode(qctx *q, const char *op, const char *base, int n_in, const char *const *ins,
                      const char *out, int axis)
{
    onyx_node n = {0};
    n.name = unique(q, base, !strcmp(op, "QuantizeLinear") ? "_QuantizeLinear" : "_DequantizeLinear");
    const char **in = pool_array(&q->m->pool, (size_t)n_in, sizeof *in);
    const char **o = pool_array(&q->m->pool, 1, sizeof *o);
    if (!n.name || !in || !o) return nomem(q);
    memcpy(in, ins, (size_t)n_in * sizeof *in);
    o[0] = out;
    n.op_type = op;
    n.domain = "";
    n.n_inputs = n_in;
    n.inputs = in;
    n.n_outputs = 1;
    n.outputs = o;
    if (axis >= 0) {
        onyx_attr *a = pool_alloc(&q->m->pool, sizeof *a);
        if (!a) return nomem(q);
        a->name = "axis";
        a->type = ATTR_INT;
        a->i = axis;
        n.n_attrs = 1;
        n.attrs = a;
    }
    return push_node(q, &n);
}

static onyx_tensor *new_tensor(qctx *q, onyx_dtype dt, int rank, const int64_t *dims)
{
    onyx_tensor *t = ge_new_tensor(q->m, dt, rank, dims);
    if (!t) nomem(q);
    return t;
}

static qdone *find_done(qctx *q, const char *src, int axis)
{
    for (int i = 0; i < q->n_done; i++)
        if (q->done[i].axis == axis && !strcmp(q->done[i].src, src)) return &q->done[i];
    return NULL;
}

static qdone *add_done(qctx *q, const char *src, int axis, const char *dq, const float *scale, int n_scale)
{
    if (q->n_done == q->cap_done) {
        int cap = q->cap_done ? 2 * q->cap_done : 64;
        qdone *v = realloc(q->done, (size_t)cap * sizeof *v);
        if (!v) {
            nomem(q);
            return NULL;
        }
        q->done = v;
        q->cap_done = cap;
    }
    qdone *d = &q->done[q->n_done++];
    d->src = src;
    d->axis = axis;
    d->dq = dq;
    d->scale = scale;
    d->n_scale = n_scale;
    d->q = NULL;
    d->inner = 1;
    return d;
}

/* Activation: Q -> DQ once per tensor (axis -2 marks activations in `done`). */
static const qdone *quant_activation(qctx *q, const char *x)
{
    qdone *d = find_done(q, x, -2);
    if (d) return d;
    float lo, hi;
    if (!q_calib_range(q->c, x, &lo, &hi)) return NULL; /* never observed as float: stays float */
    bool sg = q->o->signed_activations != 0;
    double qmin = sg ? -128 : 0, qmax = sg ? 127 : 255;
    double scale = ((double)hi - lo) / (qmax - qmin);
    double zp = qmin;
    if (!(scale > 0) || !isfinite(scale) || (float)scale == 0) {
        scale = 1;
    } else {
        zp = nearbyint(qmin - lo / scale);
        if (zp < qmin) zp = qmin;
        if (zp > qmax) zp = qmax;
    }
    onyx_tensor *ts = new_tensor(q, ONYX_FLOAT, 0, NULL);
    onyx_tensor *tz = new_tensor(q, sg ? ONYX_INT8 : ONYX_UINT8, 0, NULL);
    if (!ts || !tz) return NULL;
    ((float *)ts->data)[0] = (float)scale;
    if (sg) ((int8_t *)tz->data)[0] = (int8_t)zp;
    else ((uint8_t *)tz->data)[0] = (uint8_t)zp;
    const char *sn = push_init(q, x, "_scale", ts);
    const char *zn = sn ? push_init(q, x, "_zero_point", tz) : NULL;
    const char *qn = zn ? unique(q, x, "_quantized") : NULL;
    const char *dn = qn ? unique(q, x, "_dequantized") : NULL;
    if (!dn) return NULL;
    const char *qin[3] = {x, sn, zn}, *din[3] = {qn, sn, zn};
    if (!add_qnode(q, "QuantizeLinear", x, 3, qin, qn, -1) || !add_qnode(q, "DequantizeLinear", x, 3, din, dn, -1))
        return NULL;
    q->sum.activations++;
    return add_done(q, x, -2, dn, (const float *)ts->data, 1);
}

/* x walked as [outer, D, inner] -> o int8, symmetric per index of D:
 * s[c] = max|x_c| / 127 (so -128 is never used), o = round(x / s). */
static void symmetric_int8(const float *x, int64_t outer, int64_t D, int64_t inner, int8_t *o, float *s)
{
    for (int64_t c = 0; c < D; c++) s[c] = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t c = 0; c < D; c++)
            for (int64_t i = 0; i < inner; i++) {
                float v = fabsf(x[(a * D + c) * inner + i]);
                if (isfinite(v) && v > s[c]) s[c] = v;
            }
    for (int64_t c = 0; c < D; c++) {
        s[c] /= 127.0f;
        if (!(s[c] > 0) || !isfinite(s[c])) s[c] = 1.0f; /* all-zero channel */
    }
    for (int64_t a = 0; a < outer; a++)
        for (int64_t c = 0; c < D; c++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t k = (a * D + c) * inner + i;
                float v = x[k] / s[c];
                v = isfinite(v) ? nearbyintf(v) : 0;
                o[k] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
            }
}

/* Weight: int8 symmetric, per channel on axis (or per tensor when axis < 0). */
static const qdone *quant_weight(qctx *q, const char *wname, const onyx_tensor *w, int axis)
{
    qdone *d = find_done(q, wname, axis);
    if (d) return d;
    int64_t n = tensor_numel_of(w->rank, w->dims);
    if (n < 0 || (axis >= 0 && axis >= w->rank)) {
        fail(q, ONYX_E_INVALID, "quantize: weight '%s' has a bad shape%s", wname, NULL);
        return NULL;
    }
    int64_t outer = 1, D = 1, inner = n;
    if (axis >= 0) {
        outer = tensor_numel_of(axis, w->dims);
        D = w->dims[axis];
        inner = tensor_numel_of(w->rank - axis - 1, w->dims + axis + 1);
    }
    if (D <= 0 || D > (1 << 24)) {
        fail(q, ONYX_E_INVALID, "quantize: weight '%s' has an empty or huge axis%s", wname, NULL);
        return NULL;
    }
    int64_t sdim = D;
    onyx_tensor *tq = new_tensor(q, ONYX_INT8, w->rank, w->dims);
    onyx_tensor *ts = new_tensor(q, ONYX_FLOAT, axis >= 0 ? 1 : 0, &sdim);
    onyx_tensor *tz = new_tensor(q, ONYX_INT8, axis >= 0 ? 1 : 0, &sdim);
    if (!tq || !ts || !tz) return NULL;
    symmetric_int8(w->data, outer, D, inner, tq->data, ts->data);
    const float *s = ts->data;
    int8_t *o = tq->data;
    const char *qn = push_init(q, wname, "_quantized", tq);
    const char *sn = qn ? push_init(q, wname, "_scale", ts) : NULL;
    const char *zn = sn ? push_init(q, wname, "_zero_point", tz) : NULL;
    const char *dn = zn ? unique(q, wname, "_dequantized") : NULL;
    if (!dn) return NULL;
    const char *din[3] = {qn, sn, zn};
    if (!add_qnode(q, "DequantizeLinear", wname, 3, din, dn, axis)) return NULL;
    q->sum.weights++;
    qdone *r = add_done(q, wname, axis, dn, s, (int)D);
    if (r) {
        r->q = o;
        r->inner = inner;
    }
    return r;
}

/* Bias: int32 with scale s_x * s_w[c], zero point 0, per channel on axis 0. */
static const char *quant_bias(qctx *q, const char *bname, const onyx_tensor *b, float sx, const qdone *w)
{
    int64_t n = b->dims[0];
    if (w->n_scale != 1 && w->n_scale != n) return NULL;
    int64_t sdim = w->n_scale;
    onyx_tensor *tq = new_tensor(q, ONYX_INT32, 1, &n);
    onyx_tensor *ts = new_tensor(q, ONYX_FLOAT, w->n_scale > 1 ? 1 : 0, &sdim);
    if (!tq || !ts) return NULL;
    float *s = ts->data;
    for (int64_t c = 0; c < sdim; c++) {
        s[c] = sx * w->scale[c];
        if (!(s[c] > 0) || !isfinite(s[c])) return NULL; /* keep the float bias */
    }
    int32_t *o = tq->data;
    const float *x = b->data;
    for (int64_t c = 0; c < n; c++) {
        double v = (double)x[c] / s[w->n_scale > 1 ? c : 0];
        v = isfinite(v) ? nearbyint(v) : 0;
        o[c] = (int32_t)(v > 2147483647.0 ? 2147483647.0 : v < -2147483647.0 ? -2147483647.0 : v);
    }
    const char *qn = push_init(q, bname, "_quantized", tq);
    const char *sn = qn ? push_init(q, bname, "_scale", ts) : NULL;
    const char *dn = sn ? unique(q, bname, "_dequantized") : NULL;
    if (!dn) return NULL;
    const char *din[2] = {qn, sn};
    if (!add_qnode(q, "DequantizeLinear", bname, 2, din, dn, w->n_scale > 1 ? 0 : -1)) return NULL;
    q->sum.biases++;
    return dn;
}

/* Bias correction (Nagel et al., "Data-Free Quantization", section 4.2, with the
 * input means measured during calibration): the int8 weights W' shift the
 * output by (W' - W) E[x] per output channel; that shift is subtracted from the
 * bias. Conv (any group; border pixels see fewer taps, which is ignored) and
 * Gemm. Returns the corrected float bias in the pool, or NULL to leave it. */
static onyx_tensor *corrected_bias(qctx *q, const onyx_node *n, const q_node_plan *p, const qdone *wd,
                                   const onyx_tensor *w, const onyx_tensor *b)
{
    if (q->o->no_bias_correction || !q->c || !p->mean_axis || !wd->q) return NULL;
    int64_t total = tensor_numel_of(w->rank, w->dims);
    bool conv = !strcmp(n->op_type, "Conv");
    int64_t cout, cin, group = 1, per = 1; /* per: taps per (out, in) channel pair */
    bool tb = false;
    if (conv) {
        group = ge_attr_int(n, "group", 1);
        cout = w->dims[0];
        per = tensor_numel_of(w->rank - 2, w->dims + 2);
        if (group <= 0 || cout % group) return NULL;
        cin = w->dims[1] * group;
    } else {
        tb = ge_attr_int(n, "transB", 0) != 0;
        cout = tb ? w->dims[0] : w->dims[1];
        cin = tb ? w->dims[1] : w->dims[0];
    }
    if (b && (b->rank != 1 || b->dims[0] != cout)) return NULL;
    double *mean = malloc((size_t)cin * sizeof *mean), *delta = calloc((size_t)cout, sizeof *delta);
    bool have = mean && delta && q_calib_mean(q->c, n->inputs[p->act[0]], p->mean_axis < 0, cin, mean);
    onyx_tensor *nb = NULL;
    if (have && (nb = new_tensor(q, ONYX_FLOAT, 1, &cout))) {
        const float *wf = w->data;
        int64_t D = wd->n_scale;
        for (int64_t i = 0; i < total; i++) {
            double sc = D > 1 ? wd->scale[(i / wd->inner) % D] : wd->scale[0];
            double e = sc * wd->q[i] - wf[i];
            int64_t oc, ic;
            if (conv) {
                oc = i / (w->dims[1] * per);
                ic = (oc / (cout / group)) * w->dims[1] + (i / per) % w->dims[1];
            } else if (tb) {
                oc = i / cin, ic = i % cin;
            } else {
                ic = i / cout, oc = i % cout;
            }
            delta[oc] += e * mean[ic];
        }
        float *o = nb->data;
        const float *bf = b ? b->data : NULL;
        for (int64_t c = 0; c < cout; c++) o[c] = (float)((bf ? bf[c] : 0) - delta[c]);
    }
    free(mean), free(delta);
    return nb;
}

static int64_t init_bytes(const onyx_graph *g)
{
    int64_t b = 0;
    for (int i = 0; i < g->n_inits; i++) b += (int64_t)g->inits[i].nbytes;
    return b;
}

/* A node named after base with one optional int attribute (attr NULL: none). */
static bool add_node(qctx *q, const char *op, const char *base, int n_in, const char *const *ins, int n_out,
                     const char *const *outs, const char *attr, int64_t value)
{
    onyx_node n = {0};
    char suffix[64];
    snprintf(suffix, sizeof suffix, "_%s", op);
    n.name = unique(q, base, suffix);
    const char **in = pool_array(&q->m->pool, (size_t)n_in, sizeof *in);
    const char **o = pool_array(&q->m->pool, (size_t)n_out, sizeof *o);
    if (!n.name || !in || !o) return nomem(q);
    memcpy(in, ins, (size_t)n_in * sizeof *in);
    memcpy(o, outs, (size_t)n_out * sizeof *o);
    n.op_type = op;
    n.domain = "";
    n.n_inputs = n_in;
    n.inputs = in;
    n.n_outputs = n_out;
    n.outputs = o;
    if (attr) {
        onyx_attr *a = pool_alloc(&q->m->pool, sizeof *a);
        if (!a) return nomem(q);
        memset(a, 0, sizeof *a);
        a->name = attr;
        a->type = ATTR_INT;
        a->i = value;
        n.n_attrs = 1;
        n.attrs = a;
    }
    return push_node(q, &n);
}

/* --dynamic on a MatMul or Gemm with a 2-D constant weight: ONNX Runtime's
 * dynamic quantization, activations quantized per run:
 *   A -> DynamicQuantizeLinear -> (Aq, a_scale, a_zp)
 *   MatMulInteger(Aq, Wq [K, N] int8, a_zp) -> Cast(float) -> Mul(., Mul(a_scale, w_scale)) [-> Add(bias)]
 * which ORT fuses into DynamicQuantizeMatMul and onyx into a QMatMul with a
 * float A (runtime/passes/qdq_fuse.c). Gemm's transB is applied to the stored
 * weight, alpha to its scale and beta to the bias. One DynamicQuantizeLinear
 * per product, as ORT's fusion wants. *done = false leaves the node to the
 * weight-only rewrite (a Gemm with transA or a non-constant C). */
static bool rewrite_dynamic(qctx *q, const onyx_node *n, const q_node_plan *p, bool *done)
{
    *done = false;
    bool gemm = !strcmp(n->op_type, "Gemm");
    const onyx_tensor *w = p->weight == 1 ? ge_const(q->g, n->inputs[1]) : NULL;
    if (!w || w->rank != 2 || (strcmp(n->op_type, "MatMul") && !gemm)) return true;
    bool tb = gemm && ge_attr_int(n, "transB", 0);
    float alpha = gemm ? ge_attr_float(n, "alpha", 1.0f) : 1.0f, beta = gemm ? ge_attr_float(n, "beta", 1.0f) : 1.0f;
    int64_t K = w->dims[tb ? 1 : 0], N = w->dims[tb ? 0 : 1];
    const onyx_tensor *cb = gemm && n->n_inputs > 2 && n->inputs[2][0] ? ge_const(q->g, n->inputs[2]) : NULL;
    if (gemm && (ge_attr_int(n, "transA", 0) || (n->n_inputs > 2 && n->inputs[2][0] && beta != 0.0f &&
                 (!cb || cb->dtype != ONYX_FLOAT || tensor_numel_of(cb->rank, cb->dims) != N || cb->dims[cb->rank - 1] != N))))
        return true;
    if (K <= 0 || N <= 0) return true;
    bool per_col = p->axis >= 0;
    int64_t kn[2] = {K, N}, ns = per_col ? N : 1;
    onyx_tensor *tq = new_tensor(q, ONYX_INT8, 2, kn);
    onyx_tensor *ts = new_tensor(q, ONYX_FLOAT, per_col ? 1 : 0, &ns);
    int8_t *tmp = malloc((size_t)(K * N));
    if (!tq || !ts || !tmp) {
        free(tmp);
        return tq && ts ? nomem(q) : false;
    }
    /* per output column: axis 1 of [K, N], axis 0 of a transposed [N, K] */
    if (!per_col) symmetric_int8(w->data, 1, 1, K * N, tmp, ts->data);
    else if (tb) symmetric_int8(w->data, 1, N, K, tmp, ts->data);
    else symmetric_int8(w->data, K, N, 1, tmp, ts->data);
    int8_t *o = tq->data;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++) o[k * N + j] = tb ? tmp[j * K + k] : tmp[k * N + j];
    free(tmp);
    float *ws = ts->data;
    for (int64_t j = 0; j < ns; j++) ws[j] *= alpha;
    const char *base = n->outputs[0], *wname = n->inputs[1];
    const char *aq = unique(q, n->inputs[0], "_quantized"), *as = aq ? unique(q, n->inputs[0], "_scale") : NULL;
    const char *az = as ? unique(q, n->inputs[0], "_zero_point") : NULL;
    const char *wq = az ? push_init(q, wname, "_quantized", tq) : NULL;
    const char *wsn = wq ? push_init(q, wname, "_scale", ts) : NULL;
    const char *y32 = wsn ? unique(q, base, "_int32") : NULL, *sc = y32 ? unique(q, base, "_scale") : NULL;
    const char *yf = sc ? unique(q, base, "_float") : NULL;
    bool has_bias = cb && beta != 0.0f;
    const char *ym = yf ? (has_bias ? unique(q, base, "_scaled") : base) : NULL;
    if (!ym) return false;
    const char *i_dq[1] = {n->inputs[0]}, *o_dq[3] = {aq, as, az};
    const char *i_mm[3] = {aq, wq, az}, *o_mm[1] = {y32};
    const char *i_sc[2] = {as, wsn}, *o_sc[1] = {sc};
    const char *i_cast[1] = {y32}, *o_cast[1] = {yf};
    const char *i_mul[2] = {yf, sc}, *o_mul[1] = {ym};
    if (!add_node(q, "DynamicQuantizeLinear", base, 1, i_dq, 3, o_dq, NULL, 0) ||
        !add_node(q, "MatMulInteger", base, 3, i_mm, 1, o_mm, NULL, 0) ||
        !add_node(q, "Mul", base, 2, i_sc, 1, o_sc, NULL, 0) ||
        !add_node(q, "Cast", base, 1, i_cast, 1, o_cast, "to", ONYX_FLOAT) ||
        !add_node(q, "Mul", base, 2, i_mul, 1, o_mul, NULL, 0))
        return false;
    if (has_bias) {
        onyx_tensor *tb_ = new_tensor(q, ONYX_FLOAT, 1, &N);
        if (!tb_) return false;
        for (int64_t j = 0; j < N; j++) ((float *)tb_->data)[j] = beta * ((const float *)cb->data)[j];
        const char *bn = push_init(q, n->inputs[2], "_bias", tb_);
        const char *i_add[2] = {ym, bn}, *o_add[1] = {base};
        if (!bn || !add_node(q, "Add", base, 2, i_add, 1, o_add, NULL, 0)) return false;
    }
    q->sum.weights++;
    q->sum.activations++;
    q->sum.nodes_quantized++;
    *done = true;
    return true;
}

static bool rewrite_node(qctx *q, onyx_node *n, const q_node_plan *p)
{
    /* inputs are rewritten on a copy of the array (pool) so nothing else sharing
     * it changes; one slot more for a bias that bias correction may add */
    int n_in = n->n_inputs < 3 ? 3 : n->n_inputs;
    const char **in = pool_array(&q->m->pool, (size_t)n_in, sizeof *in);
    if (!in) return nomem(q);
    for (int i = 0; i < n_in; i++) in[i] = i < n->n_inputs ? n->inputs[i] : "";
    float sx = 0;
    bool any = false;
    for (int k = 0; k < p->n_act; k++) {
        const qdone *d = q->o->weight_only ? NULL : quant_activation(q, n->inputs[p->act[k]]);
        if (q->st) return false;
        if (!d) continue;
        in[p->act[k]] = d->dq;
        if (p->act[k] == 0) sx = d->scale[0];
        any = true;
    }
    const qdone *wd = NULL;
    const onyx_tensor *w = NULL;
    if (p->weight >= 0) {
        w = ge_const(q->g, n->inputs[p->weight]);
        wd = quant_weight(q, n->inputs[p->weight], w, p->axis);
        if (!wd) return false;
        in[p->weight] = wd->dq;
        any = true;
    }
    const onyx_tensor *b = p->bias >= 0 ? ge_const(q->g, n->inputs[p->bias]) : NULL;
    const char *bname = p->bias >= 0 ? n->inputs[p->bias] : n->outputs[0];
    onyx_tensor *cb = NULL;
    if (wd && (p->bias >= 0 || n->n_inputs < 3 || !n->inputs[2][0])) cb = corrected_bias(q, n, p, wd, w, b);
    if (q->st) return false;
    if (cb) {
        b = cb;
        q->sum.biases_corrected++;
    }
    if (b && wd && sx > 0) {
        const char *bd = quant_bias(q, bname, b, sx, wd);
        if (q->st) return false;
        if (bd) in[2] = bd;
        else if (cb && !(in[2] = push_init(q, bname, "_corrected", cb))) return false;
    } else if (cb && !(in[2] = push_init(q, bname, "_corrected", cb))) {
        return false;
    }
    n->n_inputs = in[2][0] || n->n_inputs >= 3 ? n_in : n->n_inputs;
    n->inputs = in;
    q->sum.nodes_quantized += any;
    return true;
}

onyx_status onyx_model_quantize(onyx_model *m, const onyx_calibrator *c, const onyx_quant_options *opt,
                                onyx_quant_summary *sum, onyx_error *err)
{
    onyx_quant_options none = {0};
    qctx q = {0};
    q.m = m;
    q.g = m ? m->graph : NULL;
    q.c = c;
    q.o = opt ? opt : &none;
    q.err = err;
    if (sum) memset(sum, 0, sizeof *sum);
    if (!q.g) {
        fail(&q, ONYX_E_INVALID, "quantize: the model has no graph%s%s", NULL, NULL);
        return q.st;
    }
    if (!c && !q.o->weight_only) {
        fail(&q, ONYX_E_INVALID, "quantize: static quantization needs a calibrator (or weight_only)%s%s", NULL, NULL);
        return q.st;
    }
    int64_t opset = model_opset(m, "");
    if (opset < 10) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)opset);
        fail(&q, ONYX_E_UNSUPPORTED, "quantize: opset %s has no QuantizeLinear (needs opset >= 10)%s", v, NULL);
        return q.st;
    }
    onyx_graph *g = q.g;
    for (int i = 0; i < g->n_nodes; i++) {
        const char *op = g->nodes[i].op_type;
        if (!strcmp(op, "QuantizeLinear") || !strcmp(op, "DequantizeLinear") || !strcmp(op, "DynamicQuantizeLinear") ||
            !strncmp(op, "QLinear", 7) || !strcmp(op, "MatMulInteger") || !strcmp(op, "ConvInteger")) {
            fail(&q, ONYX_E_INVALID, "quantize: the model is already quantized (node '%s' is %s)", g->nodes[i].name, op);
            return q.st;
        }
    }
    bool ok = true;
    ns_add_graph(&q.names, g, &ok);
    if (!ok) {
        nomem(&q);
        goto out;
    }
    q.sum.init_bytes_before = init_bytes(g);
    for (int i = 0; i < g->n_nodes && q.st == ONYX_OK; i++) {
        onyx_node node = g->nodes[i];
        q_node_plan p;
        bool replaced = false;
        if (q_plan_node(m, g, &node, q.o, &p)) {
            if (p.excluded) q.sum.nodes_excluded++;
            else if (!q.o->dynamic || (rewrite_dynamic(&q, &node, &p, &replaced) && !replaced)) rewrite_node(&q, &node, &p);
        }
        if (q.st == ONYX_OK && !replaced) push_node(&q, &node);
    }
    if (q.st != ONYX_OK) goto out;
    {
        onyx_node *nodes = pool_array(&m->pool, (size_t)q.n_nodes, sizeof *nodes);
        onyx_tensor *inits = pool_array(&m->pool, (size_t)(g->n_inits + q.n_inits), sizeof *inits);
        const char **names = pool_array(&m->pool, (size_t)(g->n_inits + q.n_inits), sizeof *names);
        if (!nodes || !inits || !names) {
            nomem(&q);
            goto out;
        }
        memcpy(nodes, q.nodes, (size_t)q.n_nodes * sizeof *nodes);
        if (g->n_inits) {
            memcpy(inits, g->inits, (size_t)g->n_inits * sizeof *inits);
            memcpy(names, g->init_names, (size_t)g->n_inits * sizeof *names);
        }
        if (q.n_inits) {
            memcpy(inits + g->n_inits, q.inits, (size_t)q.n_inits * sizeof *inits);
            memcpy(names + g->n_inits, q.init_names, (size_t)q.n_inits * sizeof *names);
        }
        /* from here on the graph is the new one; ge_compact drops the float weights */
        g->nodes = nodes;
        g->n_nodes = q.n_nodes;
        g->inits = inits;
        g->init_names = names;
        g->n_inits += q.n_inits;
        /* Constant nodes that held a weight now feed nothing */
        for (int i = 0; i < g->n_nodes; i++) {
            onyx_node *n = &g->nodes[i];
            if (!strcmp(n->op_type, "Constant") && !n->domain[0] && n->n_outputs == 1 &&
                ge_use_count(g, n->outputs[0]) == 0 && !ge_is_graph_output(g, n->outputs[0]))
                ge_kill(n);
        }
        ge_compact(m, g);
        q.sum.init_bytes_after = init_bytes(g);
    }
out:
    free(q.names.v);
    free(q.nodes);
    free(q.inits);
    free(q.init_names);
    free(q.done);
    if (sum) *sum = q.sum;
    return q.st;
}
