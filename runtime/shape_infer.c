/* shape_infer.c - static shape inference with constant evaluation.
 *
 * A table of per-operator shape functions (the operators of the model zoo and
 * the ai.onyx fused operators) computes each node's output dtype and dims from
 * its inputs' dims and, where an input is a shape (Reshape, Expand, Slice...),
 * from its constant value. Values are known when they are initializers, come
 * from Constant, or come from Shape of a known shape; a small node whose inputs
 * are all known values is evaluated by running its own kernel, which is what
 * makes exporter chains like Shape->Gather->Unsqueeze->Concat->Reshape resolve.
 *
 * Nothing here has to be right for the run to be right: the planner only uses
 * these shapes to reserve arena slices, and k_output takes a slice only when
 * the kernel declares exactly the planned dtype and dims (anything else goes to
 * the heap). A wrong or missing shape costs memory, never correctness. */
#include "shape_infer.h"

#include <stdlib.h>
#include <string.h>

#define CONST_MAX_ELEMS 65536 /* constant evaluation only for tensors this small */
/* Known dims never exceed SI_MAX_DIM, and strides, dilations, kernel sizes and
 * block sizes taken into products never exceed SI_MAX_FACTOR, so that no shape
 * arithmetic below can overflow int64 whatever a hostile file declares. */
#define SI_MAX_DIM ((int64_t)1 << 40)
#define SI_MAX_FACTOR ((int64_t)1 << 20)

typedef struct sctx {
    const onyx_node *n;
    int opset;
    int n_in, n_out;
    si_value **in;      /* NULL for omitted inputs */
    si_value **out;     /* NULL for omitted outputs */
    onyx_kctx kc;       /* for the k_attr helpers */
} sctx;

/* ---------------------------------------------------------------- helpers */

/* memcpy of n int64s that tolerates n == 0 with a NULL source */
static void copy_ints(int64_t *dst, const int64_t *src, int n)
{
    if (n > 0) memcpy(dst, src, (size_t)n * sizeof *src);
}

static const si_value *IN(const sctx *c, int i)
{
    return i >= 0 && i < c->n_in && c->in[i] && c->in[i]->known ? c->in[i] : NULL;
}

static bool has_input(const sctx *c, int i) { return i >= 0 && i < c->n_in && c->in[i]; }

static bool set_out(sctx *c, int o, onyx_dtype dt, int rank, const int64_t *dims)
{
    if (o >= c->n_out || !c->out[o]) return true; /* nobody reads it */
    if (rank < 0 || rank > ONYX_MAX_RANK || onyx_dtype_size(dt) == 0) return false;
    for (int d = 0; d < rank; d++)
        if (dims[d] < 0 || dims[d] > SI_MAX_DIM) return false;
    int64_t n = tensor_numel_of(rank, dims);
    if (n < 0 || n > ONYX_MAX_TENSOR_BYTES / (int64_t)onyx_dtype_size(dt)) return false;
    si_value *v = c->out[o];
    v->known = true;
    v->dtype = dt;
    v->rank = rank;
    if (rank) memcpy(v->dims, dims, (size_t)rank * sizeof *dims);
    return true;
}

static bool same_as(sctx *c, int o, int i)
{
    const si_value *x = IN(c, i);
    return x && set_out(c, o, x->dtype, x->rank, x->dims);
}

static int64_t numel(const si_value *v) { return tensor_numel_of(v->rank, v->dims); }

/* Integer values of input i (a known constant), or -1. */
static int in_ints(const sctx *c, int i, int64_t *out, int max)
{
    const si_value *v = IN(c, i);
    if (!v || !v->val || !dtype_is_int(v->val->dtype)) return -1;
    return (int)k_read_ints(v->val, out, max);
}

static int in_doubles(const sctx *c, int i, double *out, int max)
{
    const si_value *v = IN(c, i);
    if (!v || !v->val || v->val->kind != ONYX_KIND_TENSOR) return -1;
    int64_t n = numel(v);
    if (n < 0 || n > max) return -1;
    for (int64_t k = 0; k < n; k++) out[k] = k_get_f64(v->val, k);
    return (int)n;
}

/* Axes from attribute "axes" (before opset `from`) or from input `idx`; -2 when
 * they cannot be known, -1 when absent. */
static int get_axes(const sctx *c, int from, int idx, int64_t *axes)
{
    if (c->opset < from) {
        const int64_t *a;
        int na = k_attr_ints(&c->kc, "axes", &a);
        if (na > ONYX_MAX_RANK) return -2;
        if (na > 0) copy_ints(axes, a, na);
        return na;
    }
    if (!has_input(c, idx)) return -1;
    int na = in_ints(c, idx, axes, ONYX_MAX_RANK);
    return na < 0 ? -2 : na;
}

static bool broadcast(int n, const si_value *const *v, int *rank, int64_t *dims)
{
    int r = 0;
    for (int i = 0; i < n; i++) {
        if (!v[i]) return false;
        if (v[i]->rank > r) r = v[i]->rank;
    }
    for (int d = 0; d < r; d++) dims[d] = 1;
    for (int i = 0; i < n; i++) {
        int off = r - v[i]->rank;
        for (int d = 0; d < v[i]->rank; d++) {
            int64_t x = v[i]->dims[d], *y = &dims[off + d];
            if (x == *y || x == 1) continue;
            if (*y == 1) *y = x;
            else return false;
        }
    }
    *rank = r;
    return true;
}

/* ---------------------------------------------------------------- elementwise */

static bool sf_unary(sctx *c) { return same_as(c, 0, 0); }

static bool sf_unary_bool(sctx *c)
{
    const si_value *x = IN(c, 0);
    return x && set_out(c, 0, ONYX_BOOL, x->rank, x->dims);
}

static bool bcast_to(sctx *c, onyx_dtype dt, int first, int count)
{
    const si_value *v[64];
    if (count > 64 || count < 1) return false;
    for (int i = 0; i < count; i++) v[i] = IN(c, first + i);
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    return broadcast(count, v, &rank, dims) && set_out(c, 0, dt, rank, dims);
}

static bool sf_binary(sctx *c)
{
    if (c->opset < 7 && k_attr_int(&c->kc, "broadcast", 0)) return same_as(c, 0, 0);
    return IN(c, 0) && bcast_to(c, IN(c, 0)->dtype, 0, 2);
}
static bool sf_compare(sctx *c) { return bcast_to(c, ONYX_BOOL, 0, 2); }
static bool sf_variadic(sctx *c) { return IN(c, 0) && bcast_to(c, IN(c, 0)->dtype, 0, c->n_in); }
static bool sf_where(sctx *c) { return IN(c, 1) && bcast_to(c, IN(c, 1)->dtype, 0, 3); }

static bool sf_cast(sctx *c)
{
    const si_value *x = IN(c, 0);
    int64_t to = k_attr_int(&c->kc, "to", 0);
    return x && to > 0 && to <= ONYX_BFLOAT16 && set_out(c, 0, (onyx_dtype)to, x->rank, x->dims);
}

static bool sf_cast_like(sctx *c)
{
    const si_value *x = IN(c, 0), *t = IN(c, 1);
    return x && t && set_out(c, 0, t->dtype, x->rank, x->dims);
}

static bool sf_dropout(sctx *c)
{
    const si_value *x = IN(c, 0);
    return x && set_out(c, 0, x->dtype, x->rank, x->dims) && set_out(c, 1, ONYX_BOOL, x->rank, x->dims);
}

static bool sf_layer_norm(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x || !set_out(c, 0, x->dtype, x->rank, x->dims)) return false;
    int axis;
    if (!k_axis(k_attr_int(&c->kc, "axis", -1), x->rank, &axis)) return false;
    int64_t d[ONYX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) d[i] = i < axis ? x->dims[i] : 1;
    int64_t st = k_attr_int(&c->kc, "stash_type", 1);
    return set_out(c, 1, (onyx_dtype)(st > 0 && st <= ONYX_BFLOAT16 ? st : 1), x->rank, d) &&
           set_out(c, 2, (onyx_dtype)(st > 0 && st <= ONYX_BFLOAT16 ? st : 1), x->rank, d);
}

static bool sf_batch_norm(sctx *c)
{
    if (k_attr_int(&c->kc, "training_mode", 0)) return false;
    return same_as(c, 0, 0);
}

/* ---------------------------------------------------------------- conv and pools */

/* Spatial output sizes for conv-like windows. kernel[] holds kernel sizes. */
static bool window_out(sctx *c, const si_value *x, const int64_t *kernel, int nsp, bool ceil_mode,
                       int64_t *out)
{
    const int64_t *a;
    int64_t strides[ONYX_MAX_RANK], dil[ONYX_MAX_RANK], pads[2 * ONYX_MAX_RANK];
    for (int i = 0; i < nsp; i++) strides[i] = dil[i] = 1, pads[i] = pads[nsp + i] = 0;
    int na;
    if ((na = k_attr_ints(&c->kc, "strides", &a)) >= 0) {
        if (na != nsp) return false;
        copy_ints(strides, a, na);
    }
    if ((na = k_attr_ints(&c->kc, "dilations", &a)) >= 0) {
        if (na != nsp) return false;
        copy_ints(dil, a, na);
    }
    if ((na = k_attr_ints(&c->kc, "pads", &a)) >= 0) {
        if (na != 2 * nsp) return false;
        copy_ints(pads, a, na);
    }
    const char *ap = k_attr_string(&c->kc, "auto_pad", "NOTSET");
    for (int i = 0; i < nsp; i++) {
        int64_t in = x->dims[2 + i], s = strides[i], dl = dil[i], k = kernel[i];
        if (s <= 0 || dl <= 0 || k <= 0 || k > SI_MAX_FACTOR || dl > SI_MAX_FACTOR || s > SI_MAX_FACTOR) return false;
        int64_t ek = (k - 1) * dl + 1;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
            out[i] = (in + s - 1) / s;
        } else if (!strcmp(ap, "VALID")) {
            out[i] = in < ek ? 0 : (in - ek) / s + 1;
        } else {
            if (pads[i] < 0 || pads[nsp + i] < 0 || pads[i] > SI_MAX_DIM || pads[nsp + i] > SI_MAX_DIM) return false;
            int64_t span = in + pads[i] + pads[nsp + i] - ek;
            if (span < 0) return false;
            if (ceil_mode) {
                out[i] = (span + s - 1) / s + 1;
                /* the last window must start inside the input or its begin padding */
                if ((out[i] - 1) * s >= in + pads[i]) out[i]--;
            } else {
                out[i] = span / s + 1;
            }
        }
    }
    return true;
}

static bool sf_conv(sctx *c)
{
    const si_value *x = IN(c, 0), *w = IN(c, 1);
    if (!x || !w || x->rank < 3 || w->rank != x->rank) return false;
    int nsp = x->rank - 2;
    int64_t kernel[ONYX_MAX_RANK], d[ONYX_MAX_RANK];
    for (int i = 0; i < nsp; i++) kernel[i] = w->dims[2 + i];
    d[0] = x->dims[0];
    d[1] = w->dims[0];
    return window_out(c, x, kernel, nsp, false, d + 2) && set_out(c, 0, x->dtype, x->rank, d);
}

static bool sf_conv_transpose(sctx *c)
{
    const si_value *x = IN(c, 0), *w = IN(c, 1);
    if (!x || !w || x->rank < 3 || w->rank != x->rank) return false;
    int nsp = x->rank - 2;
    int64_t d[ONYX_MAX_RANK];
    int64_t group = k_attr_int(&c->kc, "group", 1);
    if (group <= 0 || w->dims[1] > SI_MAX_FACTOR || group > SI_MAX_FACTOR) return false;
    d[0] = x->dims[0];
    d[1] = w->dims[1] * group;
    const int64_t *os, *a;
    int nos = k_attr_ints(&c->kc, "output_shape", &os);
    if (nos >= 0) {
        if (nos != nsp && nos != x->rank) return false;
        for (int i = 0; i < nsp; i++) d[2 + i] = os[nos - nsp + i];
        return set_out(c, 0, x->dtype, x->rank, d);
    }
    int64_t strides[ONYX_MAX_RANK], dil[ONYX_MAX_RANK], opad[ONYX_MAX_RANK], pads[2 * ONYX_MAX_RANK];
    for (int i = 0; i < nsp; i++) strides[i] = dil[i] = 1, opad[i] = pads[i] = pads[nsp + i] = 0;
    int na;
    if ((na = k_attr_ints(&c->kc, "strides", &a)) >= 0) { if (na != nsp) return false; copy_ints(strides, a, na); }
    if ((na = k_attr_ints(&c->kc, "dilations", &a)) >= 0) { if (na != nsp) return false; copy_ints(dil, a, na); }
    if ((na = k_attr_ints(&c->kc, "output_padding", &a)) >= 0) { if (na != nsp) return false; copy_ints(opad, a, na); }
    if ((na = k_attr_ints(&c->kc, "pads", &a)) >= 0) { if (na != 2 * nsp) return false; copy_ints(pads, a, na); }
    const int64_t *ks;
    int nks = k_attr_ints(&c->kc, "kernel_shape", &ks);
    if (nks >= 0 && nks != nsp) return false;
    const char *ap = k_attr_string(&c->kc, "auto_pad", "NOTSET");
    for (int i = 0; i < nsp; i++) {
        int64_t in = x->dims[2 + i], s = strides[i], k = nks >= 0 ? ks[i] : w->dims[2 + i];
        if (s <= 0 || s > SI_MAX_FACTOR || dil[i] <= 0 || dil[i] > SI_MAX_FACTOR || k <= 0 || k > SI_MAX_FACTOR ||
            opad[i] < 0 || opad[i] > SI_MAX_DIM || pads[i] < -SI_MAX_DIM || pads[i] > SI_MAX_DIM ||
            pads[nsp + i] < -SI_MAX_DIM || pads[nsp + i] > SI_MAX_DIM)
            return false;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) d[2 + i] = in * s;
        else d[2 + i] = s * (in - 1) + opad[i] + (k - 1) * dil[i] + 1 - pads[i] - pads[nsp + i];
    }
    return set_out(c, 0, x->dtype, x->rank, d);
}

static bool sf_pool(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x || x->rank < 3) return false;
    int nsp = x->rank - 2;
    const int64_t *ks;
    if (k_attr_ints(&c->kc, "kernel_shape", &ks) != nsp) return false;
    int64_t d[ONYX_MAX_RANK];
    d[0] = x->dims[0];
    d[1] = x->dims[1];
    if (!window_out(c, x, ks, nsp, k_attr_int(&c->kc, "ceil_mode", 0) != 0, d + 2)) return false;
    return set_out(c, 0, x->dtype, x->rank, d) && set_out(c, 1, ONYX_INT64, x->rank, d);
}

/* The NHWC forms (ai.onyx.NhwcConv, NhwcMaxPool, NhwcAveragePool): the NCHW
 * window rule on a view of X with the channels moved to axis 1. */
static bool nhwc_window(sctx *c, const si_value *x, const int64_t *kernel, bool ceil_mode, int64_t *d)
{
    if (x->rank != 4) return false;
    si_value v = *x;
    v.dims[1] = x->dims[3], v.dims[2] = x->dims[1], v.dims[3] = x->dims[2];
    d[0] = x->dims[0];
    return window_out(c, &v, kernel, 2, ceil_mode, d + 1);
}

static bool sf_nhwc_conv(sctx *c)
{
    const si_value *x = IN(c, 0), *w = IN(c, 1);
    int64_t d[4];
    if (!x || !w || w->rank != 4) return false;
    if (k_attr_int(&c->kc, "nchw_input", 0)) {
        /* X is N x C x H x W: the NCHW window, Y still NHWC */
        if (x->rank != 4 || !window_out(c, x, w->dims + 2, 2, false, d + 1)) return false;
        d[0] = x->dims[0];
    } else if (!nhwc_window(c, x, w->dims + 2, false, d)) {
        return false;
    }
    d[3] = w->dims[0];
    return set_out(c, 0, x->dtype, 4, d);
}

static bool sf_nhwc_conv_transpose(sctx *c)
{
    si_value *x = c->n_in > 0 ? c->in[0] : NULL;
    if (!x || !x->known || x->rank != 4) return false;
    /* the NCHW rule on a view of X with the channels at axis 1, then Y's
     * channels moved back to the end */
    si_value v = *x;
    v.dims[1] = x->dims[3], v.dims[2] = x->dims[1], v.dims[3] = x->dims[2];
    c->in[0] = &v;
    bool ok = sf_conv_transpose(c);
    c->in[0] = x;
    si_value *y = c->n_out > 0 ? c->out[0] : NULL;
    if (ok && y && y->known && y->rank == 4) {
        int64_t ch = y->dims[1];
        y->dims[1] = y->dims[2], y->dims[2] = y->dims[3], y->dims[3] = ch;
    }
    return ok;
}

static bool sf_nhwc_pool(sctx *c)
{
    const si_value *x = IN(c, 0);
    const int64_t *ks;
    int64_t d[4];
    if (!x || k_attr_ints(&c->kc, "kernel_shape", &ks) != 2 ||
        !nhwc_window(c, x, ks, k_attr_int(&c->kc, "ceil_mode", 0) != 0, d))
        return false;
    d[3] = x->dims[3];
    return set_out(c, 0, x->dtype, 4, d);
}

static bool sf_global_pool(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x || x->rank < 2) return false;
    int64_t d[ONYX_MAX_RANK];
    for (int i = 0; i < x->rank; i++) d[i] = i < 2 ? x->dims[i] : 1;
    return set_out(c, 0, x->dtype, x->rank, d);
}

/* ---------------------------------------------------------------- matmul */

static bool sf_gemm(sctx *c)
{
    const si_value *a = IN(c, 0), *b = IN(c, 1);
    if (!a || !b || a->rank != 2 || b->rank != 2) return false;
    int64_t d[2];
    d[0] = k_attr_int(&c->kc, "transA", 0) ? a->dims[1] : a->dims[0];
    d[1] = k_attr_int(&c->kc, "transB", 0) ? b->dims[0] : b->dims[1];
    return set_out(c, 0, a->dtype, 2, d);
}

static bool sf_matmul(sctx *c)
{
    const si_value *a = IN(c, 0), *b = IN(c, 1);
    if (!a || !b || a->rank < 1 || b->rank < 1) return false;
    si_value ba = *a, bb = *b;
    /* batch dims broadcast; rank-1 operands gain and then lose a unit dim */
    ba.rank = a->rank > 2 ? a->rank - 2 : 0;
    bb.rank = b->rank > 2 ? b->rank - 2 : 0;
    const si_value *v[2] = {&ba, &bb};
    int rank;
    int64_t d[ONYX_MAX_RANK];
    if (!broadcast(2, v, &rank, d) || rank + 2 > ONYX_MAX_RANK) return false;
    if (a->rank >= 2) d[rank++] = a->dims[a->rank - 2];
    if (b->rank >= 2) d[rank++] = b->dims[b->rank - 1];
    return set_out(c, 0, a->dtype, rank, d);
}

static bool sf_attention(sctx *c)
{
    const int64_t heads = k_attr_int(&c->kc, "num_heads", 0);
    if (heads > 0) { /* packed Q, K, V [B, N, 3 H d] -> [B, N, H, d] */
        const si_value *x = IN(c, 0);
        if (!x || x->rank != 3 || x->dims[2] < 0 || x->dims[2] % (3 * heads)) return false;
        int64_t d[4] = {x->dims[0], x->dims[1], heads, x->dims[2] / (3 * heads)};
        return set_out(c, 0, x->dtype, 4, d);
    }
    const si_value *q = IN(c, 0), *v = IN(c, 2);
    if (!q || !v || q->rank != 4 || v->rank != 4) return false;
    int64_t d[4] = {q->dims[0], q->dims[1], q->dims[2], v->dims[3]};
    return set_out(c, 0, q->dtype, 4, d);
}

/* ---------------------------------------------------------------- quantization */

/* The type of an 8-bit zero point input (uint8 when absent). */
static onyx_dtype zp_type(const sctx *c, int i)
{
    const si_value *z = IN(c, i);
    return z && z->dtype == ONYX_INT8 ? ONYX_INT8 : ONYX_UINT8;
}

static bool sf_quantize(sctx *c)
{
    const si_value *x = IN(c, 0);
    onyx_dtype dt = has_input(c, 2) ? zp_type(c, 2) : (onyx_dtype)k_attr_int(&c->kc, "output_dtype", ONYX_UINT8);
    return x && set_out(c, 0, dt, x->rank, x->dims);
}

static bool sf_dequantize(sctx *c)
{
    const si_value *x = IN(c, 0);
    return x && set_out(c, 0, ONYX_FLOAT, x->rank, x->dims);
}

static bool sf_dynamic_quantize(sctx *c)
{
    const si_value *x = IN(c, 0);
    return x && set_out(c, 0, ONYX_UINT8, x->rank, x->dims) && set_out(c, 1, ONYX_FLOAT, 0, NULL) &&
           set_out(c, 2, ONYX_UINT8, 0, NULL);
}

/* An integer operator shaped like `base` on inputs xi and wi, its outputs of
 * types t0 and t1 (ONYX_UNDEFINED: none). */
static bool q_like(sctx *c, bool (*base)(sctx *), int xi, int wi, onyx_dtype t0, onyx_dtype t1)
{
    if (!has_input(c, xi) || !has_input(c, wi)) return false;
    si_value tmp = {0}, *outs[1] = {&tmp}, *ins[2] = {c->in[xi], c->in[wi]};
    sctx b = *c;
    b.n_in = 2, b.in = ins, b.n_out = 1, b.out = outs;
    if (!base(&b) || !tmp.known) return false;
    return set_out(c, 0, t0, tmp.rank, tmp.dims) && (t1 == ONYX_UNDEFINED || set_out(c, 1, t1, tmp.rank, tmp.dims));
}

static bool sf_conv_integer(sctx *c) { return q_like(c, sf_conv, 0, 1, ONYX_INT32, ONYX_UNDEFINED); }
static bool sf_matmul_integer(sctx *c) { return q_like(c, sf_matmul, 0, 1, ONYX_INT32, ONYX_UNDEFINED); }
static bool sf_qlinear_conv(sctx *c) { return q_like(c, sf_conv, 0, 3, zp_type(c, 7), ONYX_UNDEFINED); }
static bool sf_qlinear_matmul(sctx *c) { return q_like(c, sf_matmul, 0, 3, zp_type(c, 7), ONYX_UNDEFINED); }
static bool sf_qconv(sctx *c) { return q_like(c, sf_conv, 0, 3, ONYX_FLOAT, zp_type(c, 9)); }
static bool sf_nhwc_qconv(sctx *c) { return q_like(c, sf_nhwc_conv, 0, 3, ONYX_FLOAT, zp_type(c, 9)); }
static bool sf_qmatmul(sctx *c)
{
    return q_like(c, k_attr_int(&c->kc, "transB", 0) ? sf_gemm : sf_matmul, 0, 3, ONYX_FLOAT, zp_type(c, 9));
}

/* ---------------------------------------------------------------- layout */

static bool sf_reshape(sctx *c)
{
    const si_value *x = IN(c, 0);
    int64_t s[ONYX_MAX_RANK];
    int n;
    if (c->opset < 5) {
        const int64_t *a;
        n = k_attr_ints(&c->kc, "shape", &a);
        if (n < 0 || n > ONYX_MAX_RANK) return false;
        copy_ints(s, a, n);
    } else {
        n = in_ints(c, 1, s, ONYX_MAX_RANK);
    }
    if (!x || n < 0) return false;
    bool allowzero = k_attr_int(&c->kc, "allowzero", 0) != 0;
    int64_t total = numel(x), prod = 1;
    int infer = -1;
    for (int i = 0; i < n; i++) {
        if (s[i] == 0 && !allowzero) {
            if (i >= x->rank) return false;
            s[i] = x->dims[i];
        }
        if (s[i] == -1) {
            if (infer >= 0) return false;
            infer = i;
            continue;
        }
        if (s[i] < 0) return false;
        if (s[i] && prod > INT64_MAX / s[i]) return false;
        prod *= s[i];
    }
    if (infer >= 0) {
        if (prod == 0 || total % prod) return false;
        s[infer] = total / prod;
    } else if (prod != total) {
        return false;
    }
    return set_out(c, 0, x->dtype, n, s);
}

static bool sf_flatten(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x) return false;
    int64_t axis = k_attr_int(&c->kc, "axis", 1);
    if (axis < 0) axis += x->rank;
    if (axis < 0 || axis > x->rank) return false;
    int64_t d[2] = {tensor_numel_of((int)axis, x->dims), tensor_numel_of(x->rank - (int)axis, x->dims + axis)};
    return d[0] >= 0 && d[1] >= 0 && set_out(c, 0, x->dtype, 2, d);
}

static bool sf_transpose(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x) return false;
    const int64_t *p;
    int np = k_attr_ints(&c->kc, "perm", &p);
    int64_t d[ONYX_MAX_RANK];
    bool seen[ONYX_MAX_RANK] = {false};
    if (np >= 0 && np != x->rank) return false;
    for (int i = 0; i < x->rank; i++) {
        int64_t j = np >= 0 ? p[i] : x->rank - 1 - i;
        if (j < 0) j += x->rank;
        if (j < 0 || j >= x->rank || seen[j]) return false;
        seen[j] = true;
        d[i] = x->dims[j];
    }
    return set_out(c, 0, x->dtype, x->rank, d);
}

static bool sf_concat(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x) return false;
    int axis;
    if (!k_axis(k_attr_int(&c->kc, "axis", 0), x->rank, &axis)) return false;
    int64_t d[ONYX_MAX_RANK];
    memcpy(d, x->dims, sizeof d);
    d[axis] = 0;
    for (int i = 0; i < c->n_in; i++) {
        const si_value *v = IN(c, i);
        if (!v || v->rank != x->rank || v->dtype != x->dtype) return false;
        for (int k = 0; k < x->rank; k++)
            if (k != axis && v->dims[k] != x->dims[k]) return false;
        if (d[axis] > INT64_MAX - v->dims[axis]) return false;
        d[axis] += v->dims[axis];
    }
    return set_out(c, 0, x->dtype, x->rank, d);
}

static bool sf_split(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x) return false;
    int axis;
    if (!k_axis(k_attr_int(&c->kc, "axis", 0), x->rank, &axis)) return false;
    int64_t sizes[256];
    int n = c->n_out;
    if (n > 256 || n < 1) return false;
    int ns = -1;
    if (c->opset < 13) {
        const int64_t *a;
        ns = k_attr_ints(&c->kc, "split", &a);
        if (ns > 256) return false;
        if (ns > 0) copy_ints(sizes, a, ns);
    } else if (has_input(c, 1)) {
        ns = in_ints(c, 1, sizes, 256);
        if (ns < 0) return false;
    }
    int64_t dim = x->dims[axis];
    if (ns >= 0) {
        if (ns != n) return false;
    } else {
        int64_t chunk = (dim + n - 1) / n;
        if (c->opset < 18 && dim % n) return false;
        for (int i = 0; i < n; i++) {
            int64_t start = (int64_t)i * chunk;
            sizes[i] = start >= dim ? 0 : (dim - start < chunk ? dim - start : chunk);
        }
    }
    int64_t d[ONYX_MAX_RANK];
    memcpy(d, x->dims, sizeof d);
    for (int i = 0; i < n; i++) {
        d[axis] = sizes[i];
        if (!set_out(c, i, x->dtype, x->rank, d)) return false;
    }
    return true;
}

static bool sf_slice(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x) return false;
    int64_t st[ONYX_MAX_RANK], en[ONYX_MAX_RANK], ax[ONYX_MAX_RANK], sp[ONYX_MAX_RANK];
    int n, ne, na = -1, ns = -1;
    if (c->opset < 10) {
        const int64_t *a;
        n = k_attr_ints(&c->kc, "starts", &a);
        if (n < 0 || n > ONYX_MAX_RANK) return false;
        copy_ints(st, a, n);
        ne = k_attr_ints(&c->kc, "ends", &a);
        if (ne != n) return false;
        copy_ints(en, a, n);
        na = k_attr_ints(&c->kc, "axes", &a);
        if (na > ONYX_MAX_RANK) return false;
        if (na > 0) copy_ints(ax, a, na);
    } else {
        n = in_ints(c, 1, st, ONYX_MAX_RANK);
        ne = in_ints(c, 2, en, ONYX_MAX_RANK);
        if (n < 0 || ne != n) return false;
        if (has_input(c, 3) && (na = in_ints(c, 3, ax, ONYX_MAX_RANK)) < 0) return false;
        if (has_input(c, 4) && (ns = in_ints(c, 4, sp, ONYX_MAX_RANK)) < 0) return false;
    }
    if ((na >= 0 && na != n) || (ns >= 0 && ns != n)) return false;
    int64_t d[ONYX_MAX_RANK];
    memcpy(d, x->dims, sizeof d);
    bool seen[ONYX_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        int axis;
        if (!k_axis(na >= 0 ? ax[i] : i, x->rank, &axis) || seen[axis]) return false;
        seen[axis] = true;
        int64_t dim = x->dims[axis], step = ns >= 0 ? sp[i] : 1, s = st[i], e = en[i];
        if (step == 0) return false;
        /* |e - s| <= dim + 1 after clamping: a larger step counts the same */
        if (step > SI_MAX_DIM) step = SI_MAX_DIM + 2;
        if (step < -SI_MAX_DIM) step = -SI_MAX_DIM - 2;
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        int64_t cnt;
        if (step > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            cnt = e > s ? (e - s + step - 1) / step : 0;
        } else {
            s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            cnt = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        }
        d[axis] = cnt;
    }
    return set_out(c, 0, x->dtype, x->rank, d);
}

static bool sf_gather(sctx *c)
{
    const si_value *x = IN(c, 0), *idx = IN(c, 1);
    if (!x || !idx) return false;
    int axis;
    if (!k_axis(k_attr_int(&c->kc, "axis", 0), x->rank, &axis)) return false;
    int r = x->rank - 1 + idx->rank;
    if (r > ONYX_MAX_RANK) return false;
    int64_t d[ONYX_MAX_RANK];
    int k = 0;
    for (int i = 0; i < axis; i++) d[k++] = x->dims[i];
    for (int i = 0; i < idx->rank; i++) d[k++] = idx->dims[i];
    for (int i = axis + 1; i < x->rank; i++) d[k++] = x->dims[i];
    return set_out(c, 0, x->dtype, r, d);
}

static bool sf_squeeze(sctx *c)
{
    const si_value *x = IN(c, 0);
    int64_t axes[ONYX_MAX_RANK];
    int na = get_axes(c, 13, 1, axes);
    if (!x || na == -2) return false;
    bool drop[ONYX_MAX_RANK] = {false};
    for (int i = 0; i < na; i++) {
        int a;
        if (!k_axis(axes[i], x->rank, &a) || x->dims[a] != 1) return false;
        drop[a] = true;
    }
    int64_t d[ONYX_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (na > 0 ? !drop[i] : x->dims[i] != 1) d[r++] = x->dims[i];
    return set_out(c, 0, x->dtype, r, d);
}

static bool sf_unsqueeze(sctx *c)
{
    const si_value *x = IN(c, 0);
    int64_t axes[ONYX_MAX_RANK];
    int na = get_axes(c, 13, 1, axes);
    if (!x || na < 0) return false;
    int r = x->rank + na;
    if (r > ONYX_MAX_RANK) return false;
    bool ins[ONYX_MAX_RANK] = {false};
    for (int i = 0; i < na; i++) {
        int a;
        if (!k_axis(axes[i], r, &a) || ins[a]) return false;
        ins[a] = true;
    }
    int64_t d[ONYX_MAX_RANK];
    for (int i = 0, k = 0; i < r; i++) d[i] = ins[i] ? 1 : x->dims[k++];
    return set_out(c, 0, x->dtype, r, d);
}

static bool sf_expand(sctx *c)
{
    const si_value *x = IN(c, 0);
    si_value shp = {0};
    int n = in_ints(c, 1, shp.dims, ONYX_MAX_RANK);
    if (!x || n < 0) return false;
    shp.rank = n;
    const si_value *v[2] = {x, &shp};
    int rank;
    int64_t d[ONYX_MAX_RANK];
    return broadcast(2, v, &rank, d) && set_out(c, 0, x->dtype, rank, d);
}

static bool sf_tile(sctx *c)
{
    const si_value *x = IN(c, 0);
    int64_t rep[ONYX_MAX_RANK], d[ONYX_MAX_RANK];
    if (!x || in_ints(c, 1, rep, ONYX_MAX_RANK) != x->rank) return false;
    for (int i = 0; i < x->rank; i++) {
        if (rep[i] < 0 || (rep[i] && x->dims[i] > INT64_MAX / rep[i])) return false;
        d[i] = x->dims[i] * rep[i];
    }
    return set_out(c, 0, x->dtype, x->rank, d);
}

static bool sf_pad(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x) return false;
    int64_t pads[2 * ONYX_MAX_RANK], axes[ONYX_MAX_RANK];
    int np;
    if (c->opset < 11) {
        const int64_t *a;
        np = k_attr_ints(&c->kc, "pads", &a);
        if (np < 0 || np > 2 * ONYX_MAX_RANK) return false;
        copy_ints(pads, a, np);
    } else {
        np = in_ints(c, 1, pads, 2 * ONYX_MAX_RANK);
    }
    int na = x->rank;
    if (has_input(c, 3)) {
        na = in_ints(c, 3, axes, ONYX_MAX_RANK);
        if (na < 0) return false;
    } else {
        for (int i = 0; i < na; i++) axes[i] = i;
    }
    if (np != 2 * na) return false;
    int64_t d[ONYX_MAX_RANK];
    memcpy(d, x->dims, sizeof d);
    for (int i = 0; i < na; i++) {
        int a;
        if (!k_axis(axes[i], x->rank, &a)) return false;
        if (pads[i] < -INT32_MAX || pads[i] > INT32_MAX || pads[na + i] < -INT32_MAX || pads[na + i] > INT32_MAX) return false;
        d[a] += pads[i] + pads[na + i];
    }
    return set_out(c, 0, x->dtype, x->rank, d);
}

static bool sf_resize(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x) return false;
    if (k_attr(&c->kc, "axes") || k_attr(&c->kc, "keep_aspect_ratio_policy")) return false;
    int64_t d[ONYX_MAX_RANK], sizes[ONYX_MAX_RANK];
    double scales[ONYX_MAX_RANK];
    int si = c->opset >= 11 ? 3 : -1, ci = c->opset >= 11 ? 2 : 1;
    if (!strcmp(c->n->op_type, "Upsample") && c->opset < 9) {
        const float *f;
        int nf = k_attr_floats(&c->kc, "scales", &f);
        if (nf != x->rank) return false;
        for (int i = 0; i < nf; i++) scales[i] = f[i];
        ci = -1;
    }
    const si_value *sv = IN(c, si);
    if (si >= 0 && sv && numel(sv) > 0) {
        if (in_ints(c, si, sizes, ONYX_MAX_RANK) != x->rank) return false;
        return set_out(c, 0, x->dtype, x->rank, sizes);
    }
    if (ci >= 0 && in_doubles(c, ci, scales, ONYX_MAX_RANK) != x->rank) return false;
    for (int i = 0; i < x->rank; i++) {
        double v = (double)x->dims[i] * scales[i];
        if (!(v >= 0 && v < 9e15)) return false;
        d[i] = (int64_t)v; /* floor */
    }
    return set_out(c, 0, x->dtype, x->rank, d);
}

static bool sf_depth_to_space(sctx *c)
{
    const si_value *x = IN(c, 0);
    int64_t b = k_attr_int(&c->kc, "blocksize", 0);
    if (!x || x->rank != 4 || b <= 0 || b > 1024) return false;
    int64_t d[4] = {x->dims[0], x->dims[1], x->dims[2], x->dims[3]};
    if (!strcmp(c->n->op_type, "DepthToSpace")) {
        if (d[1] % (b * b)) return false;
        d[1] /= b * b, d[2] *= b, d[3] *= b;
    } else {
        if (d[2] % b || d[3] % b) return false;
        d[1] *= b * b, d[2] /= b, d[3] /= b;
    }
    return set_out(c, 0, x->dtype, 4, d);
}

/* ---------------------------------------------------------------- reductions */

static bool reduce_to(sctx *c, onyx_dtype dt, int na, const int64_t *axes)
{
    const si_value *x = IN(c, 0);
    if (!x || na == -2) return false;
    bool keep = k_attr_int(&c->kc, "keepdims", 1) != 0;
    bool noop = k_attr_int(&c->kc, "noop_with_empty_axes", 0) != 0;
    if (na <= 0 && noop) return set_out(c, 0, dt, x->rank, x->dims);
    bool red[ONYX_MAX_RANK] = {false};
    for (int i = 0; i < x->rank; i++) red[i] = na <= 0;
    for (int i = 0; i < na; i++) {
        int a;
        if (!k_axis(axes[i], x->rank, &a)) return false;
        red[a] = true;
    }
    int64_t d[ONYX_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!red[i]) d[r++] = x->dims[i];
        else if (keep) d[r++] = 1;
    }
    return set_out(c, 0, dt, r, d);
}

static bool sf_reduce(sctx *c)
{
    int64_t axes[ONYX_MAX_RANK];
    int from = !strcmp(c->n->op_type, "ReduceSum") ? 13 : 18;
    int na = get_axes(c, from, 1, axes);
    return IN(c, 0) && reduce_to(c, IN(c, 0)->dtype, na, axes);
}

static bool sf_argmax(sctx *c)
{
    int64_t axis = k_attr_int(&c->kc, "axis", 0);
    return reduce_to(c, ONYX_INT64, 1, &axis);
}

/* ---------------------------------------------------------------- shapes and constants */

static bool sf_shape(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x) return false;
    int64_t start = k_attr_int(&c->kc, "start", 0), end = k_attr_int(&c->kc, "end", x->rank);
    if (start < 0) start += x->rank;
    if (end < 0) end += x->rank;
    start = start < 0 ? 0 : start > x->rank ? x->rank : start;
    end = end < 0 ? 0 : end > x->rank ? x->rank : end;
    int64_t n = end > start ? end - start : 0;
    if (!c->out[0]) return true;
    if (!set_out(c, 0, ONYX_INT64, 1, &n)) return false;
    onyx_tensor *t = onyx_tensor_create(ONYX_INT64, 1, &n);
    if (!t) return true;
    for (int64_t i = 0; i < n; i++) ((int64_t *)t->data)[i] = x->dims[start + i];
    c->out[0]->owned = t;
    c->out[0]->val = t;
    return true;
}

static bool sf_size(sctx *c)
{
    const si_value *x = IN(c, 0);
    if (!x || !set_out(c, 0, ONYX_INT64, 0, NULL) || !c->out[0]) return false;
    onyx_tensor *t = onyx_tensor_create(ONYX_INT64, 0, NULL);
    if (!t) return true;
    *(int64_t *)t->data = numel(x);
    c->out[0]->owned = t;
    c->out[0]->val = t;
    return true;
}

static bool sf_constant(sctx *c)
{
    const onyx_attr *a = c->n->n_attrs == 1 ? &c->n->attrs[0] : NULL;
    if (!a) return false;
    int64_t n;
    switch (a->type) {
    case ATTR_TENSOR: return a->t && a->t->kind == ONYX_KIND_TENSOR && set_out(c, 0, a->t->dtype, a->t->rank, a->t->dims);
    case ATTR_FLOAT: return set_out(c, 0, ONYX_FLOAT, 0, NULL);
    case ATTR_INT: return set_out(c, 0, ONYX_INT64, 0, NULL);
    case ATTR_FLOATS: n = a->n; return set_out(c, 0, ONYX_FLOAT, 1, &n);
    case ATTR_INTS: n = a->n; return set_out(c, 0, ONYX_INT64, 1, &n);
    default: return false;
    }
}

static bool sf_constant_of_shape(sctx *c)
{
    int64_t d[ONYX_MAX_RANK];
    int n = in_ints(c, 0, d, ONYX_MAX_RANK);
    if (n < 0) return false;
    const onyx_attr *v = k_attr(&c->kc, "value");
    onyx_dtype dt = v && v->type == ATTR_TENSOR && v->t ? v->t->dtype : ONYX_FLOAT;
    return set_out(c, 0, dt, n, d);
}

static bool sf_range(sctx *c)
{
    double v[3];
    const si_value *s = IN(c, 0);
    for (int i = 0; i < 3; i++)
        if (in_doubles(c, i, &v[i], 1) != 1) return false;
    if (v[2] == 0) return false;
    double cnt = ceil((v[1] - v[0]) / v[2]);
    if (!(cnt < 9e15)) return false;
    int64_t n = cnt > 0 ? (int64_t)cnt : 0;
    return set_out(c, 0, s->dtype, 1, &n);
}

/* ---------------------------------------------------------------- table */

typedef bool (*shape_fn)(sctx *c);
static const struct {
    const char *domain, *name;
    shape_fn fn;
} table[] = {
    /* same shape and type as input 0 */
    {"", "Relu", sf_unary}, {"", "LeakyRelu", sf_unary}, {"", "PRelu", sf_binary},
    {"", "Sigmoid", sf_unary}, {"", "HardSigmoid", sf_unary}, {"", "HardSwish", sf_unary},
    {"", "Tanh", sf_unary}, {"", "Elu", sf_unary}, {"", "Selu", sf_unary}, {"", "Celu", sf_unary},
    {"", "Softplus", sf_unary}, {"", "Softsign", sf_unary}, {"", "Mish", sf_unary},
    {"", "Gelu", sf_unary}, {"ai.onyx", "Gelu", sf_unary}, {"", "ThresholdedRelu", sf_unary},
    {"", "Shrink", sf_unary}, {"", "Clip", sf_unary}, {"", "Abs", sf_unary}, {"", "Neg", sf_unary},
    {"", "Exp", sf_unary}, {"", "Log", sf_unary}, {"", "Sqrt", sf_unary}, {"", "Reciprocal", sf_unary},
    {"", "Floor", sf_unary}, {"", "Ceil", sf_unary}, {"", "Round", sf_unary}, {"", "Erf", sf_unary},
    {"", "Sin", sf_unary}, {"", "Cos", sf_unary}, {"", "Tan", sf_unary}, {"", "Sign", sf_unary},
    {"", "Not", sf_unary}, {"", "Identity", sf_unary}, {"", "Softmax", sf_unary},
    {"", "LogSoftmax", sf_unary}, {"", "Hardmax", sf_unary}, {"", "LRN", sf_unary},
    {"", "InstanceNormalization", sf_unary}, {"", "MeanVarianceNormalization", sf_unary},
    {"", "BatchNormalization", sf_batch_norm}, {"", "LayerNormalization", sf_layer_norm},
    {"", "Dropout", sf_dropout}, {"", "IsNaN", sf_unary_bool}, {"", "IsInf", sf_unary_bool},
    {"", "Cast", sf_cast}, {"", "CastLike", sf_cast_like},
    /* broadcasting */
    {"", "Add", sf_binary}, {"", "Sub", sf_binary}, {"", "Mul", sf_binary}, {"", "Div", sf_binary},
    {"", "Pow", sf_binary}, {"", "Mod", sf_binary}, {"", "BitShift", sf_binary},
    {"", "Equal", sf_compare}, {"", "Less", sf_compare}, {"", "Greater", sf_compare},
    {"", "LessOrEqual", sf_compare}, {"", "GreaterOrEqual", sf_compare}, {"", "And", sf_compare},
    {"", "Or", sf_compare}, {"", "Xor", sf_compare}, {"", "Max", sf_variadic}, {"", "Min", sf_variadic},
    {"", "Sum", sf_variadic}, {"", "Mean", sf_variadic}, {"", "Where", sf_where},
    /* windows, products */
    {"", "Conv", sf_conv}, {"ai.onyx", "FusedConv", sf_conv}, {"", "ConvTranspose", sf_conv_transpose},
    {"", "MaxPool", sf_pool}, {"", "AveragePool", sf_pool}, {"", "LpPool", sf_pool},
    {"", "GlobalAveragePool", sf_global_pool}, {"", "GlobalMaxPool", sf_global_pool},
    {"", "GlobalLpPool", sf_global_pool}, {"", "Gemm", sf_gemm}, {"ai.onyx", "FusedGemm", sf_gemm},
    {"ai.onyx", "NhwcConv", sf_nhwc_conv}, {"ai.onyx", "NhwcMaxPool", sf_nhwc_pool},
    {"ai.onyx", "NhwcAveragePool", sf_nhwc_pool}, {"ai.onyx", "NhwcInstanceNormalization", sf_unary}, {"ai.onyx", "NhwcConvTranspose", sf_nhwc_conv_transpose},
    {"", "MatMul", sf_matmul}, {"ai.onyx", "FusedMatMul", sf_matmul}, {"ai.onyx", "Attention", sf_attention},
    /* quantization */
    {"", "QuantizeLinear", sf_quantize}, {"", "DequantizeLinear", sf_dequantize},
    {"", "DynamicQuantizeLinear", sf_dynamic_quantize}, {"", "ConvInteger", sf_conv_integer},
    {"", "MatMulInteger", sf_matmul_integer}, {"", "QLinearConv", sf_qlinear_conv},
    {"", "QLinearMatMul", sf_qlinear_matmul}, {"ai.onyx", "QConv", sf_qconv},
    {"ai.onyx", "NhwcQConv", sf_nhwc_qconv}, {"ai.onyx", "QMatMul", sf_qmatmul},
    /* layout */
    {"", "Reshape", sf_reshape}, {"", "Flatten", sf_flatten}, {"", "Transpose", sf_transpose},
    {"", "Concat", sf_concat}, {"", "Split", sf_split}, {"", "Slice", sf_slice}, {"", "Gather", sf_gather},
    {"", "Squeeze", sf_squeeze}, {"", "Unsqueeze", sf_unsqueeze}, {"", "Expand", sf_expand},
    {"", "Tile", sf_tile}, {"", "Pad", sf_pad}, {"", "Resize", sf_resize}, {"", "Upsample", sf_resize},
    {"", "DepthToSpace", sf_depth_to_space}, {"", "SpaceToDepth", sf_depth_to_space},
    /* reductions */
    {"", "ReduceSum", sf_reduce}, {"", "ReduceMean", sf_reduce}, {"", "ReduceMax", sf_reduce},
    {"", "ReduceMin", sf_reduce}, {"", "ReduceProd", sf_reduce}, {"", "ReduceL1", sf_reduce},
    {"", "ReduceL2", sf_reduce}, {"", "ReduceLogSum", sf_reduce}, {"", "ReduceLogSumExp", sf_reduce},
    {"", "ReduceSumSquare", sf_reduce}, {"", "ArgMax", sf_argmax}, {"", "ArgMin", sf_argmax},
    /* shapes and constants */
    {"", "Shape", sf_shape}, {"", "Size", sf_size}, {"", "Constant", sf_constant},
    {"", "ConstantOfShape", sf_constant_of_shape}, {"", "Range", sf_range},
};

static shape_fn find_fn(const char *domain, const char *name)
{
    if (!strcmp(domain, "ai.onnx")) domain = "";
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].name, name) && !strcmp(table[i].domain, domain)) return table[i].fn;
    return NULL;
}

/* Runs the node's kernel on its constant inputs; outputs that come out small
 * become known values. */
static void const_eval(const exec_node *en, sctx *c, struct onyx_threads *tp)
{
    const onyx_node *n = en->node;
    const onyx_tensor **ins = calloc((size_t)n->n_inputs + 1, sizeof *ins);
    onyx_tensor *res = calloc((size_t)n->n_outputs + 1, sizeof *res);
    onyx_tensor **outs = calloc((size_t)n->n_outputs + 1, sizeof *outs);
    if (!ins || !res || !outs) goto out;
    for (int i = 0; i < n->n_inputs; i++) ins[i] = c->in[i] ? c->in[i]->val : NULL;
    for (int o = 0; o < n->n_outputs; o++) outs[o] = c->out[o] ? &res[o] : NULL;
    onyx_error kerr = {0};
    onyx_kctx k = c->kc;
    k.err = &kerr;
    k.state = en->state;
    k.threads = tp;
    k.n_inputs = n->n_inputs;
    k.inputs = ins;
    k.n_outputs = n->n_outputs;
    k.outputs = outs;
    onyx_status st = en->op->run(&k);
    for (size_t sp = 0; sp < sizeof k.spare / sizeof k.spare[0]; sp++) tensor_release(&k.spare[sp]);
    for (int o = 0; o < n->n_outputs; o++) {
        si_value *v = c->out[o];
        onyx_tensor *t = &res[o];
        if (st == ONYX_OK && v && t->kind == ONYX_KIND_TENSOR && t->dtype != ONYX_UNDEFINED &&
            t->dtype != ONYX_STRING && tensor_numel_of(t->rank, t->dims) <= CONST_MAX_ELEMS) {
            onyx_tensor *keep = malloc(sizeof *keep);
            if (keep) {
                *keep = *t;
                memset(t, 0, sizeof *t);
                if (!keep->owns_data) { /* a view: make it a copy */
                    onyx_tensor view = *keep;
                    memset(keep, 0, sizeof *keep);
                    if (!tensor_copy(keep, &view)) { free(keep); keep = NULL; }
                }
            }
            if (keep) {
                v->known = true;
                v->dtype = keep->dtype;
                v->rank = keep->rank;
                memcpy(v->dims, keep->dims, sizeof v->dims);
                v->owned = keep;
                v->val = keep;
            }
        }
        tensor_release(t);
    }
out:
    free(ins), free(res), free(outs);
}

void shape_infer(int n_nodes, const exec_node *nodes, si_value *vals, struct onyx_threads *tp)
{
    for (int i = 0; i < n_nodes; i++) {
        const exec_node *en = &nodes[i];
        const onyx_node *n = en->node;
        bool subgraph = false;
        for (int a = 0; a < n->n_attrs; a++)
            subgraph |= n->attrs[a].type == ATTR_GRAPH || n->attrs[a].type == ATTR_GRAPHS;
        if (subgraph) continue;
        shape_fn fn = find_fn(n->domain, n->op_type);
        if (!fn) continue;
        sctx c = {0};
        c.n = n;
        c.opset = en->opset;
        c.n_in = n->n_inputs;
        c.n_out = n->n_outputs;
        c.in = calloc((size_t)n->n_inputs + 1, sizeof *c.in);
        c.out = calloc((size_t)n->n_outputs + 1, sizeof *c.out);
        if (!c.in || !c.out) {
            free(c.in), free(c.out);
            continue;
        }
        for (int k = 0; k < n->n_inputs; k++) c.in[k] = en->in[k] >= 0 ? &vals[en->in[k]] : NULL;
        for (int k = 0; k < n->n_outputs; k++) c.out[k] = en->out[k] >= 0 ? &vals[en->out[k]] : NULL;
        c.kc.node_name = n->name;
        c.kc.op_type = n->op_type;
        c.kc.domain = n->domain;
        c.kc.opset = en->opset;
        c.kc.n_attrs = n->n_attrs;
        c.kc.attrs = n->attrs;
        bool ok = fn(&c);
        if (!ok) { /* all or nothing */
            for (int o = 0; o < c.n_out; o++)
                if (c.out[o]) c.out[o]->known = false;
        }
        /* constant evaluation: every input a small known value, every output small */
        bool all_const = ok;
        int64_t in_elems = 0;
        for (int k = 0; k < c.n_in && all_const; k++) {
            if (!c.in[k]) continue;
            all_const = c.in[k]->known && c.in[k]->val;
            if (all_const) in_elems += numel(c.in[k]);
        }
        for (int o = 0; o < c.n_out && all_const; o++)
            if (c.out[o]) all_const = !c.out[o]->val && numel(c.out[o]) <= CONST_MAX_ELEMS;
        if (all_const && in_elems <= CONST_MAX_ELEMS) const_eval(en, &c, tp);
        free(c.in), free(c.out);
    }
}

void si_release(si_value *vals, int n)
{
    for (int i = 0; vals && i < n; i++) {
        if (vals[i].owned) onyx_tensor_free(vals[i].owned);
        memset(&vals[i], 0, sizeof vals[i]);
    }
}
