/* attention.c - the ai.onyx Attention and Gelu operators (docs/fused_ops.md).
 *
 * Attention: Y = softmax(scale Q K^T over keys) V for Q [B, H, Nq, d],
 * K [B, H, Nk, d] (or [B, H, d, Nk] with k_transposed), V [B, H, Nk, dv];
 * or, with num_heads = H, for one packed input X [B, N, 3 H d] (a ViT's qkv
 * projection as it comes out of the Linear), Y [B, N, H, d]: the kernels read
 * each head's rows in place, with strides, so no Transpose splits the heads
 * and none merges them back.
 * The reference kernel computes one query row at a time in double. The fast
 * kernel (ops/hot_impl.h) is flash-style: a running max and sum per query row
 * over tiles of keys, so no more than a tile of the score matrix ever exists;
 * work is split over (batch x head x block of query rows).
 *
 * Gelu: 0.5 x (1 + erf(x / sqrt 2)), or the tanh approximation; for models
 * older than opset 20, where ONNX has no Gelu. */
#include "hot.h"

#include <stdlib.h>

/* Where the rows of one (batch, head) lie: Q, K, V and Y each start at
 * base + b bs + h hs and have rows ld floats apart. */
typedef struct attn_layout {
    int64_t bs, hs, ld;
} attn_layout;

typedef struct attn_shape {
    int64_t b, h, bh, nq, nk, d, dv;
    bool k_transposed;
    bool packed;                     /* num_heads: one input [B, N, 3 H d], Y [B, N, H, d] */
    float scale;
    int64_t q_off, k_off, v_off;     /* packed: offsets of the K and V columns */
    attn_layout q, k, v, y;
} attn_shape;

static const float *attn_rows(const float *base, const attn_layout *l, const attn_shape *s, int64_t bh)
{
    return base + bh / s->h * l->bs + bh % s->h * l->hs;
}

/* Q [B, H, Nq, d], K [B, H, Nk, d] (or [B, H, d, Nk]), V [B, H, Nk, dv] */
static onyx_status attn_check_heads(onyx_kctx *k, attn_shape *s)
{
    static const char *const names[3] = {"Q", "K", "V"};
    for (int i = 0; i < 3; i++) {
        onyx_status st = k_require(k, i, ONYX_FLOAT, ONYX_UNDEFINED);
        if (st) return st;
        const onyx_tensor *t = k_input(k, i);
        if (t->rank != 4)
            return k_fail(k, ONYX_E_SHAPE, "%s (input %d) must have rank 4 [B, H, N, d], has rank %d",
                          names[i], i, t->rank);
    }
    const onyx_tensor *q = k_input(k, 0), *kk = k_input(k, 1), *v = k_input(k, 2);
    s->k_transposed = k_attr_int(k, "k_transposed", 0) != 0;
    s->nq = q->dims[2];
    s->d = q->dims[3];
    s->nk = s->k_transposed ? kk->dims[3] : kk->dims[2];
    s->dv = v->dims[3];
    const int64_t kd = s->k_transposed ? kk->dims[2] : kk->dims[3];
    for (int i = 1; i < 3; i++) {
        const onyx_tensor *t = k_input(k, i);
        if (t->dims[0] != q->dims[0] || t->dims[1] != q->dims[1])
            return k_fail(k, ONYX_E_SHAPE,
                          "%s has batch x heads %lld x %lld but Q has %lld x %lld", names[i],
                          (long long)t->dims[0], (long long)t->dims[1], (long long)q->dims[0],
                          (long long)q->dims[1]);
    }
    if (kd != s->d)
        return k_fail(k, ONYX_E_SHAPE, "K has head size %lld but Q has %lld%s", (long long)kd,
                      (long long)s->d, s->k_transposed ? " (K is [B, H, d, Nk])" : "");
    if (v->dims[2] != s->nk)
        return k_fail(k, ONYX_E_SHAPE, "V has %lld keys but K has %lld", (long long)v->dims[2],
                      (long long)s->nk);
    s->b = q->dims[0];
    s->h = q->dims[1];
    s->q = (attn_layout){s->h * s->nq * s->d, s->nq * s->d, s->d};
    s->k = (attn_layout){s->h * s->nk * s->d, s->nk * s->d, s->k_transposed ? s->nk : s->d};
    s->v = (attn_layout){s->h * s->nk * s->dv, s->nk * s->dv, s->dv};
    s->y = (attn_layout){s->h * s->nq * s->dv, s->nq * s->dv, s->dv};
    s->q_off = s->k_off = s->v_off = 0;
    s->packed = false;
    return ONYX_OK;
}

/* num_heads = H: one input X [B, N, 3 H d], each row the Q, K and V of
 * every head ([3][H][d], the order of a ViT's qkv Linear reshaped to
 * [B, N, 3, H, d]); Y [B, N, H, d]. */
static onyx_status attn_check_packed(onyx_kctx *k, attn_shape *s, int64_t heads)
{
    onyx_status st = k_require(k, 0, ONYX_FLOAT, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *x = k_input(k, 0);
    if (x->rank != 3)
        return k_fail(k, ONYX_E_SHAPE, "X (packed Q, K, V) must have rank 3 [B, N, 3 H d], has rank %d", x->rank);
    if (x->dims[2] % (3 * heads))
        return k_fail(k, ONYX_E_SHAPE, "X has %lld channels, not a multiple of 3 x num_heads (%lld)",
                      (long long)x->dims[2], (long long)(3 * heads));
    const int64_t c = x->dims[2];
    s->b = x->dims[0];
    s->h = heads;
    s->nq = s->nk = x->dims[1];
    s->d = s->dv = c / (3 * heads);
    s->k_transposed = false;
    s->q = s->k = s->v = (attn_layout){s->nq * c, s->d, c};
    s->y = (attn_layout){s->nq * heads * s->d, s->d, heads * s->d};
    s->q_off = 0;
    s->k_off = heads * s->d;
    s->v_off = 2 * heads * s->d;
    s->packed = true;
    return ONYX_OK;
}

static onyx_status attn_check(onyx_kctx *k, attn_shape *s)
{
    const int64_t heads = k_attr_int(k, "num_heads", 0);
    if (heads < 0) return k_fail(k, ONYX_E_INVALID, "attribute num_heads must be positive, got %lld", (long long)heads);
    if (heads > 0 && k->n_inputs != 1)
        return k_fail(k, ONYX_E_INVALID, "with num_heads, Attention takes one input (packed Q, K, V), got %d",
                      k->n_inputs);
    if (heads == 0 && k->n_inputs != 3)
        return k_fail(k, ONYX_E_INVALID, "Attention takes Q, K and V (3 inputs), got %d", k->n_inputs);
    onyx_status st = heads > 0 ? attn_check_packed(k, s, heads) : attn_check_heads(k, s);
    if (st) return st;
    s->bh = s->b * s->h;
    const onyx_attr *sc = k_attr(k, "scale");
    s->scale = sc ? sc->f : (s->d > 0 ? 1.0f / sqrtf((float)s->d) : 1.0f);
    return ONYX_OK;
}

/* one query row at a time, scores and sums in double */
static onyx_status attn_reference(onyx_kctx *k, const attn_shape *s, const float *Q,
                                  const float *K, const float *V, float *Y)
{
    double *p = malloc((size_t)(s->nk > 0 ? s->nk : 1) * sizeof *p);
    if (!p) return k_fail(k, ONYX_E_NOMEM, "out of memory for %lld scores", (long long)s->nk);
    for (int64_t h = 0; h < s->bh; h++) {
        const float *q = attn_rows(Q, &s->q, s, h), *kh = attn_rows(K, &s->k, s, h), *v = attn_rows(V, &s->v, s, h);
        float *y = (float *)attn_rows(Y, &s->y, s, h);
        for (int64_t i = 0; i < s->nq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < s->nk; j++) {
                double acc = 0;
                for (int64_t c = 0; c < s->d; c++)
                    acc += (double)q[i * s->q.ld + c] *
                           (s->k_transposed ? kh[c * s->k.ld + j] : kh[j * s->k.ld + c]);
                p[j] = acc * s->scale;
                if (p[j] > mx || isnan(p[j])) mx = p[j];
            }
            for (int64_t j = 0; j < s->nk; j++) sum += p[j] = exp(p[j] - mx);
            for (int64_t c = 0; c < s->dv; c++) {
                double acc = 0;
                for (int64_t j = 0; j < s->nk; j++) acc += p[j] * v[j * s->v.ld + c];
                y[i * s->y.ld + c] = (float)(acc / sum);
            }
        }
    }
    free(p);
    return ONYX_OK;
}

/* Query rows per task: a multiple of the kernel's 8-row block, small enough
 * that B x H x blocks spreads evenly over the threads, large enough that a
 * task reads the head's packed keys and values (L2-resident) many times. */
#define ATTN_QBLOCK 64

typedef struct attn_job {
    const hot_kernels *hk;
    const attn_shape *s;
    const float *Q, *K, *V;
    float *Y;
    float *kpack;       /* every head's packed keys */
    float *vpack;       /* every head's values, dense [nk, dv], when V's rows are interleaved; else NULL */
    float *scratch;     /* per thread */
    int64_t kfloats, sfloats, qblocks, tasks;
    k_worklist *work;   /* the tasks, shared out with stealing */
} attn_job;

static void attn_pack_range(void *arg, int64_t begin, int64_t end)
{
    const attn_job *j = arg;
    const attn_shape *s = j->s;
    for (int64_t h = begin; h < end; h++) {
        hot_attention_pack_k(attn_rows(j->K, &s->k, s, h), s->k.ld, s->d, s->nk, s->k_transposed,
                             j->kpack + h * j->kfloats);
        /* interleaved heads put each value row on its own page (a row of
         * 3 H d floats apart), where the prefetchers stop: a dense copy */
        if (j->vpack) {
            const float *v = attn_rows(j->V, &s->v, s, h);
            float *dst = j->vpack + h * s->nk * s->dv;
            for (int64_t r = 0; r < s->nk; r++) memcpy(dst + r * s->dv, v + r * s->v.ld, (size_t)s->dv * sizeof *dst);
        }
    }
}

/* Thread t takes a contiguous share of the (head, block of rows) tasks, so
 * consecutive blocks of one head reuse its keys in cache, then helps with
 * the others' left-over tasks (k_worklist). */
static void attn_thread(void *arg, int64_t begin, int64_t end)
{
    const attn_job *j = arg;
    const attn_shape *s = j->s;
    for (int64_t t = begin; t < end; t++) {
        float *scratch = j->scratch + t * j->sfloats;
        int64_t task;
        while (k_worklist_next(j->work, (int)t, &task)) {
            const int64_t h = task / j->qblocks, b = task % j->qblocks;
            const int64_t q0 = b * ATTN_QBLOCK;
            const int64_t q1 = q0 + ATTN_QBLOCK < s->nq ? q0 + ATTN_QBLOCK : s->nq;
            const float *v = j->vpack ? j->vpack + h * s->nk * s->dv : attn_rows(j->V, &s->v, s, h);
            j->hk->attention(attn_rows(j->Q, &s->q, s, h), s->q.ld, j->kpack + h * j->kfloats, v,
                             j->vpack ? s->dv : s->v.ld, (float *)attn_rows(j->Y, &s->y, s, h), s->y.ld, q0, q1,
                             s->d, s->dv, s->nk, s->scale, scratch);
        }
    }
}

static onyx_status op_attention(onyx_kctx *k)
{
    attn_shape s;
    onyx_status st = attn_check(k, &s);
    if (st) return st;
    int64_t dims[4] = {s.b, s.h, s.nq, s.dv};
    if (s.packed) dims[1] = s.nq, dims[2] = s.h; /* Y [B, N, H, d] */
    /* both kernels write every element; no keys is an empty weighted sum (zeros,
     * like the reference) */
    onyx_tensor *y = s.nk == 0 ? k_output(k, 0, ONYX_FLOAT, 4, dims)
                               : k_output_uninit(k, 0, ONYX_FLOAT, 4, dims);
    if (!y) return k->err->code;
    if (s.bh == 0 || s.nq == 0 || s.dv == 0 || s.nk == 0) return ONYX_OK;
    const float *X0 = k_input(k, 0)->data;
    const float *Q = X0 + s.q_off, *K = k->n_inputs > 1 ? k_input(k, 1)->data : X0 + s.k_off,
                *V = k->n_inputs > 2 ? k_input(k, 2)->data : X0 + s.v_off;
    const hot_kernels *hk = hot_kernels_native();
    if (!hk) return attn_reference(k, &s, Q, K, V, y->data);
    const int threads = k_num_threads(k);
    attn_job j = {.hk = hk, .s = &s, .Q = Q, .K = K, .V = V, .Y = y->data,
                  .kfloats = hot_attention_packed_floats(s.d, s.nk),
                  .sfloats = (hot_attention_scratch(s.dv) + 15) / 16 * 16,
                  .qblocks = (s.nq + ATTN_QBLOCK - 1) / ATTN_QBLOCK};
    j.tasks = s.bh * j.qblocks;
    k_scratch_buf own = {0};
    k_scratch_buf *buf = k_scratch(k, K_SCRATCH_GEMM, &own);
    const size_t vfloats = s.v.ld != s.dv ? (size_t)(s.bh * s.nk * s.dv) : 0;
    const size_t need = (size_t)(s.bh * j.kfloats) + (size_t)(threads * j.sfloats) + vfloats;
    if (!k_scratch_reserve(buf, need)) {
        k_scratch_free(&own);
        return k_fail(k, ONYX_E_NOMEM, "out of memory for attention scratch (%zu floats)", need);
    }
    j.kpack = buf->data;
    j.scratch = buf->data + s.bh * j.kfloats;
    j.vpack = vfloats ? j.scratch + threads * j.sfloats : NULL;
    k_parallel_for(k, s.bh, attn_pack_range, &j);
    k_worklist work;
    k_worklist_init(&work, j.tasks, threads);
    j.work = &work;
    k_parallel_for(k, threads, attn_thread, &j);
    k_scratch_free(&own);
    return ONYX_OK;
}

/* ---- Gelu ---- */
static onyx_status op_gelu(onyx_kctx *k)
{
    onyx_status st = k_require(k, 0, ONYX_FLOAT, ONYX_UNDEFINED);
    if (st) return st;
    const char *approx = k_attr_string(k, "approximate", "none");
    bool tanh_form = strcmp(approx, "tanh") == 0;
    if (!tanh_form && strcmp(approx, "none") != 0)
        return k_fail(k, ONYX_E_INVALID, "attribute approximate must be 'none' or 'tanh', got '%s'",
                      approx);
    const onyx_tensor *x = k_input(k, 0);
    onyx_tensor *y = k_output(k, 0, ONYX_FLOAT, x->rank, x->dims);
    if (!y) return k->err->code;
    const int64_t n = tensor_numel_of(x->rank, x->dims);
    const float *X = x->data;
    float *Y = y->data;
    const hot_kernels *hk = hot_kernels_native();
    if (hk) {
        hot_map_run(k, hk->map[tanh_form ? HOT_GELU_TANH : HOT_GELU], X, Y, n, NULL);
        return ONYX_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        const float v = X[i];
        Y[i] = tanh_form ? 0.5f * v * (1 + tanhf(0.79788456080286535588f * (v + 0.044715f * v * v * v)))
                         : 0.5f * v * (1 + erff(v * 0.70710678118654752440f));
    }
    return ONYX_OK;
}

const onyx_op_def onyx_ops_attention[] = {
    {"ai.onyx", "Attention", op_attention},
    {"ai.onyx", "Gelu", op_gelu},
    {0},
};
