/* attention.c - the ai.onyx Attention and Gelu operators (docs/fused_ops.md).
 *
 * Attention: Y = softmax(scale Q K^T over keys) V for Q [B, H, Nq, d],
 * K [B, H, Nk, d] (or [B, H, d, Nk] with k_transposed), V [B, H, Nk, dv].
 * The reference kernel computes one query row at a time in double. The fast
 * kernel (ops/hot_impl.h) is flash-style: a running max and sum per query row
 * over tiles of keys, so no more than a tile of the score matrix ever exists;
 * work is split over (batch x head x block of query rows).
 *
 * Gelu: 0.5 x (1 + erf(x / sqrt 2)), or the tanh approximation; for models
 * older than opset 20, where ONNX has no Gelu. */
#include "hot.h"

#include <stdlib.h>

typedef struct attn_shape {
    int64_t bh, nq, nk, d, dv;
    bool k_transposed;
    float scale;
} attn_shape;

static onyx_status attn_check(onyx_kctx *k, attn_shape *s)
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
    s->bh = q->dims[0] * q->dims[1];
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
        const float *q = Q + h * s->nq * s->d, *kh = K + h * s->nk * s->d, *v = V + h * s->nk * s->dv;
        float *y = Y + h * s->nq * s->dv;
        for (int64_t i = 0; i < s->nq; i++) {
            double mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < s->nk; j++) {
                double acc = 0;
                for (int64_t c = 0; c < s->d; c++)
                    acc += (double)q[i * s->d + c] *
                           (s->k_transposed ? kh[c * s->nk + j] : kh[j * s->d + c]);
                p[j] = acc * s->scale;
                if (p[j] > mx || isnan(p[j])) mx = p[j];
            }
            for (int64_t j = 0; j < s->nk; j++) sum += p[j] = exp(p[j] - mx);
            for (int64_t c = 0; c < s->dv; c++) {
                double acc = 0;
                for (int64_t j = 0; j < s->nk; j++) acc += p[j] * v[j * s->dv + c];
                y[i * s->dv + c] = (float)(acc / sum);
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
    float *scratch;     /* per thread */
    int64_t kfloats, sfloats, qblocks, tasks;
    int threads;
    k_worklist *work;   /* the tasks, shared out with stealing */
} attn_job;

static void attn_pack_range(void *arg, int64_t begin, int64_t end)
{
    const attn_job *j = arg;
    const attn_shape *s = j->s;
    for (int64_t h = begin; h < end; h++)
        hot_attention_pack_k(j->K + h * s->nk * s->d, s->d, s->nk, s->k_transposed,
                             j->kpack + h * j->kfloats);
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
            j->hk->attention(j->Q + h * s->nq * s->d, j->kpack + h * j->kfloats,
                             j->V + h * s->nk * s->dv, j->Y + h * s->nq * s->dv, q0, q1, s->d,
                             s->dv, s->nk, s->scale, scratch);
        }
    }
}

static onyx_status op_attention(onyx_kctx *k)
{
    attn_shape s;
    onyx_status st = attn_check(k, &s);
    if (st) return st;
    const onyx_tensor *q = k_input(k, 0);
    int64_t dims[4] = {q->dims[0], q->dims[1], s.nq, s.dv};
    /* both kernels write every element; no keys is an empty weighted sum (zeros,
     * like the reference) */
    onyx_tensor *y = s.nk == 0 ? k_output(k, 0, ONYX_FLOAT, 4, dims)
                               : k_output_uninit(k, 0, ONYX_FLOAT, 4, dims);
    if (!y) return k->err->code;
    if (s.bh == 0 || s.nq == 0 || s.dv == 0 || s.nk == 0) return ONYX_OK;
    const float *Q = q->data, *K = k_input(k, 1)->data, *V = k_input(k, 2)->data;
    const hot_kernels *hk = hot_kernels_native();
    if (!hk) return attn_reference(k, &s, Q, K, V, y->data);
    const int threads = k_num_threads(k);
    attn_job j = {.hk = hk, .s = &s, .Q = Q, .K = K, .V = V, .Y = y->data,
                  .kfloats = hot_attention_packed_floats(s.d, s.nk),
                  .sfloats = (hot_attention_scratch(s.d, s.dv) + 15) / 16 * 16,
                  .qblocks = (s.nq + ATTN_QBLOCK - 1) / ATTN_QBLOCK,
                  .threads = threads};
    j.tasks = s.bh * j.qblocks;
    k_scratch_buf own = {0};
    k_scratch_buf *buf = k_scratch(k, K_SCRATCH_GEMM, &own);
    const size_t need = (size_t)(s.bh * j.kfloats) + (size_t)(threads * j.sfloats);
    if (!k_scratch_reserve(buf, need)) {
        k_scratch_free(&own);
        return k_fail(k, ONYX_E_NOMEM, "out of memory for attention scratch (%zu floats)", need);
    }
    j.kpack = buf->data;
    j.scratch = buf->data + s.bh * j.kfloats;
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
