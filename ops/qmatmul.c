/* qmatmul.c - the quantized matrix products on the integer GEMM (qgemm.h):
 * MatMulInteger, QLinearMatMul and ai.onyx QMatMul (docs/fused_ops.md).
 *
 * A constant B is packed once in prepare(); a B computed at run time (an
 * activation x activation product, or a conformance test's input) is packed
 * per matrix into the scratch; with at least as many matrices as threads
 * (attention's heads) each thread takes whole ones, with its own scratch.
 * A is read in place when its bytes are already in the kernel's domain,
 * else flipped into the scratch (qgemm.h); QMatMul with a float A quantizes
 * it first, exactly as DynamicQuantizeLinear would.
 * The zero points become the epilogue's per-column and per-row int32 terms.
 *
 * The fast path takes per-tensor A parameters and a B zero point that is the
 * same for every column; the rest (per-row A zero points, 1-D operands) runs
 * the reference kernels: ops/matmul.c for the standard operators and
 * qmm_reference below for QMatMul, the oracles of tests/unit/test_qops.c.
 */
#include "qlinear.h"

#include <stdlib.h>

enum { QMM_INTEGER, QMM_QLINEAR, QMM_FUSED };

/* Where each operand lives in the node's inputs (-1: none). */
typedef struct qmm_io {
    int a, a_scale, a_zp, b, b_scale, b_zp, bias, z, y_scale, y_zp;
} qmm_io;

static const qmm_io io_integer = {0, -1, 2, 1, -1, 3, -1, -1, -1, -1};
static const qmm_io io_qlinear = {0, 1, 2, 3, 4, 5, -1, -1, 6, 7};
static const qmm_io io_fused = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

typedef struct qmm_state {
    const qgemm_ukernel *uk;
    const ql_vec *vec;
    int64_t K, N;        /* the packed constant B (packed == NULL: B comes at run time) */
    int8_t *packed;
    int32_t *colsum;
    bool b_unsigned;
    /* per-column epilogue arrays, rebuilt every run (grown, never shrunk) */
    int64_t cap;
    int32_t *ib;
    float *scale;
} qmm_state;

static void qmm_release(void *p)
{
    qmm_state *s = p;
    if (!s) return;
    free(s->packed);
    free(s->colsum);
    free(s->ib);
    free(s->scale);
    free(s);
}

static bool qmm_reserve(qmm_state *s, int64_t n)
{
    if (n <= s->cap) return true;
    int32_t *ib = realloc(s->ib, (size_t)n * sizeof *ib);
    if (ib) s->ib = ib;
    float *sc = realloc(s->scale, (size_t)n * sizeof *sc);
    if (sc) s->scale = sc;
    if (!ib || !sc) return false;
    s->cap = n;
    return true;
}

static const qmm_io *io_of(int kind)
{
    return kind == QMM_INTEGER ? &io_integer : kind == QMM_QLINEAR ? &io_qlinear : &io_fused;
}

static onyx_status qmm_prepare(onyx_kctx *k, void **state, int kind)
{
    const qmm_io *io = io_of(kind);
    qmm_state *s = calloc(1, sizeof *s);
    if (!s) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    s->uk = qgemm_ukernel_best();
    s->vec = ql_vec_best();
    *state = s;
    const onyx_tensor *b = k_input(k, io->b);
    bool tb = kind == QMM_FUSED && k_attr_int(k, "transB", 0) != 0;
    /* only a 2-D constant is packed here; run() reports what is wrong with the rest */
    if (!b || b->kind != ONYX_KIND_TENSOR || b->rank != 2 ||
        (b->dtype != ONYX_UINT8 && b->dtype != ONYX_INT8))
        return ONYX_OK;
    int64_t K = b->dims[tb ? 1 : 0], N = b->dims[tb ? 0 : 1];
    if (K <= 0 || N <= 0) return ONYX_OK;
    s->packed = malloc(qgemm_packed_b_bytes(s->uk, 1, K, N));
    s->colsum = malloc((size_t)N * sizeof *s->colsum);
    if (!s->packed || !s->colsum || !qmm_reserve(s, N))
        return k_fail(k, ONYX_E_NOMEM, "out of memory packing B");
    s->K = K;
    s->N = N;
    s->b_unsigned = b->dtype == ONYX_UINT8;
    qgemm_pack_b(s->uk, 1, K, N, b->data, s->b_unsigned, 0, tb ? 1 : N, tb ? K : 1, s->packed,
                 s->colsum);
    return ONYX_OK;
}

static onyx_status prepare_integer(onyx_kctx *k, void **st) { return qmm_prepare(k, st, QMM_INTEGER); }
static onyx_status prepare_qlinear(onyx_kctx *k, void **st) { return qmm_prepare(k, st, QMM_QLINEAR); }
static onyx_status prepare_fused(onyx_kctx *k, void **st) { return qmm_prepare(k, st, QMM_FUSED); }

/* ---- shapes ---- */

typedef struct qmm_shape {
    int64_t M, K, N;
    int64_t batches;                 /* of the output */
    int out_rank;
    int64_t out_dims[ONYX_MAX_RANK];
    /* batch broadcasting (runtime B): strides in matrices, per output batch dim */
    int nb;
    int64_t bdims[ONYX_MAX_RANK], astr[ONYX_MAX_RANK], bstr[ONYX_MAX_RANK];
} qmm_shape;

/* A [..., M, K] x B: a packed constant [K, N] (every row of A one row of the
 * product) or a runtime [..., K, N] with batch broadcasting. False when the
 * fast path does not take these ranks (1-D operands). */
static onyx_status qmm_shapes(onyx_kctx *k, const onyx_tensor *A, const onyx_tensor *B,
                              const qmm_state *s, bool trans_b, qmm_shape *sh, bool *fast)
{
    memset(sh, 0, sizeof *sh);
    *fast = A->rank >= 2 && (s->packed || (B->rank >= 2 && !trans_b));
    if (!*fast) return ONYX_OK;
    sh->M = A->dims[A->rank - 2];
    sh->K = A->dims[A->rank - 1];
    if (s->packed) {
        if (sh->K != s->K)
            return k_fail(k, ONYX_E_SHAPE, "A has %lld columns but B has %lld rows", (long long)sh->K,
                          (long long)s->K);
        sh->N = s->N;
        sh->M = tensor_numel_of(A->rank - 1, A->dims);
        sh->batches = 1;
        sh->out_rank = A->rank;
        memcpy(sh->out_dims, A->dims, (size_t)A->rank * sizeof *A->dims);
        sh->out_dims[A->rank - 1] = sh->N;
        return ONYX_OK;
    }
    if (B->dims[B->rank - 2] != sh->K)
        return k_fail(k, ONYX_E_SHAPE, "A has %lld columns but B has %lld rows", (long long)sh->K,
                      (long long)B->dims[B->rank - 2]);
    sh->N = B->dims[B->rank - 1];
    int na = A->rank - 2, nbr = B->rank - 2;
    sh->nb = na > nbr ? na : nbr;
    int64_t as = 1, bs = 1;
    for (int d = sh->nb - 1; d >= 0; d--) {
        int ia = d - (sh->nb - na), ib = d - (sh->nb - nbr);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return k_fail(k, ONYX_E_SHAPE, "batch dims %lld and %lld do not broadcast", (long long)da,
                          (long long)db);
        sh->bdims[d] = da > db ? da : db;
        sh->astr[d] = da == 1 ? 0 : as;
        sh->bstr[d] = db == 1 ? 0 : bs;
        as *= da;
        bs *= db;
    }
    sh->batches = 1;
    for (int d = 0; d < sh->nb; d++) {
        sh->out_dims[d] = sh->bdims[d];
        sh->batches *= sh->bdims[d];
    }
    sh->out_dims[sh->nb] = sh->M;
    sh->out_dims[sh->nb + 1] = sh->N;
    sh->out_rank = sh->nb + 2;
    return ONYX_OK;
}

/* The A and B matrix indices of output batch bt. */
static void qmm_batch(const qmm_shape *sh, int64_t bt, int64_t *ai, int64_t *bi)
{
    *ai = *bi = 0;
    for (int d = sh->nb - 1; d >= 0; d--) {
        int64_t i = bt % sh->bdims[d];
        bt /= sh->bdims[d];
        *ai += i * sh->astr[d];
        *bi += i * sh->bstr[d];
    }
}

/* ---- the fast path ---- */

typedef struct qmm_params {
    float sa, za;        /* A per tensor */
    float *sb, *zb;      /* B per column (N values) */
    float sy, zy;
    bool dynamic;        /* A is float: quantized here */
} qmm_params;

/* Reads the quantization parameters. *fast = false for what only the
 * reference covers (per-row A zero points, per-column B zero points that
 * differ). */
static onyx_status qmm_read_params(onyx_kctx *k, const qmm_io *io, const onyx_tensor *A,
                                   const onyx_tensor *B, int64_t N, qmm_params *p, bool *fast)
{
    onyx_status st;
    onyx_dtype adt = p->dynamic ? ONYX_UINT8 : A->dtype;
    const onyx_tensor *az = io->a_zp >= 0 ? k_input(k, io->a_zp) : NULL;
    if (az && tensor_numel_of(az->rank, az->dims) != 1) *fast = false;
    if (io->b_zp >= 0) {
        const onyx_tensor *bz = k_input(k, io->b_zp);
        if (bz && bz->rank > 1) *fast = false; /* per-batch zero points */
    }
    if (io->b_scale >= 0) {
        const onyx_tensor *bs = k_input(k, io->b_scale);
        if (bs && bs->rank > 1) *fast = false;
    }
    if (!*fast) return ONYX_OK;
    p->sa = 1;
    p->za = 0;
    if (!p->dynamic) {
        if ((io->a_scale >= 0 && (st = ql_param(k, io->a_scale, 1, "a_scale", ONYX_FLOAT, 1, &p->sa))) ||
            (io->a_zp >= 0 && (st = ql_param(k, io->a_zp, 1, "a_zero_point", adt, 0, &p->za))))
            return st;
    }
    if ((io->b_scale >= 0 && (st = ql_param(k, io->b_scale, N, "b_scale", ONYX_FLOAT, 1, p->sb))) ||
        (st = ql_param(k, io->b_zp, N, "b_zero_point", B->dtype, 0, p->zb)))
        return st;
    if (!ql_all_equal(p->zb, N)) *fast = false;
    p->sy = 1;
    p->zy = 0;
    if (io->y_scale >= 0 && k_input(k, io->y_scale)) {
        const onyx_tensor *yz = io->y_zp >= 0 ? k_input(k, io->y_zp) : NULL;
        onyx_dtype ydt = yz ? yz->dtype : ONYX_UINT8;
        if ((st = ql_param(k, io->y_scale, 1, "y_scale", ONYX_FLOAT, 1, &p->sy)) ||
            (yz && (st = ql_param(k, io->y_zp, 1, "y_zero_point", ydt, 0, &p->zy))))
            return st;
    }
    return ONYX_OK;
}

/* The epilogue's per-column int32 term of B's column sums (zero points in
 * the kernel's domain; wrapping arithmetic, as the accumulators wrap). */
static void column_terms(int64_t n, int64_t K, int32_t zak, int32_t zbk, const int32_t *colsum, int32_t *ib)
{
    for (int64_t c = 0; c < n; c++)
        ib[c] = (int32_t)((uint32_t)(-(int64_t)zak * colsum[c]) + (uint32_t)(K * zak * zbk));
}

/* One run's matrices: the shared operands, the epilogue (ib set per slot)
 * and the per-slot scratch for a runtime B (packed panels, then the column
 * sums and terms). */
typedef struct qmm_batch_job {
    const qmm_state *s;
    const qmm_shape *sh;
    const onyx_tensor *B;
    bool b_unsigned;
    int32_t zak, zbk;
    const uint8_t *abase;
    const int32_t *rowc;
    onyx_tensor *yi, *yf, *yq;
    const onyx_tensor *Z;
    qgemm_out o;
    uint8_t *slots;
    size_t per_slot, pack_bytes;
    int n_slots;
} qmm_batch_job;

/* Output matrix bt with slot `slot`'s scratch; k NULL: on this thread only. */
static void qmm_run_batch(const qmm_batch_job *j, const onyx_kctx *k, int64_t bt, int slot)
{
    const qmm_state *s = j->s;
    const qmm_shape *sh = j->sh;
    const int64_t M = sh->M, K = sh->K, N = sh->N;
    qgemm_out o = j->o;
    const int8_t *bpack = s->packed;
    int64_t ai = 0, bi = 0;
    if (!s->packed) {
        uint8_t *mine = j->slots + (size_t)slot * j->per_slot;
        int8_t *pack = (int8_t *)mine;
        int32_t *colsum = (int32_t *)(void *)(mine + ((j->pack_bytes + 63) & ~(size_t)63)), *ib = colsum + N;
        qmm_batch(sh, bt, &ai, &bi);
        qgemm_pack_b(s->uk, 1, K, N, (const uint8_t *)j->B->data + bi * K * N, j->b_unsigned, 0, N, 1, pack, colsum);
        column_terms(N, K, j->zak, j->zbk, colsum, ib);
        bpack = pack;
        o.ib = ib;
    } else {
        o.ib = s->ib;
    }
    const int64_t mat_y = M * N;
    qgemm_a a = {0};
    a.rows = j->abase + ai * M * K;
    a.rs = K;
    a.ks = 1;
    a.kc = K;
    o.rowc = j->rowc ? j->rowc + ai * M : NULL;
    o.yi = j->yi ? (int32_t *)j->yi->data + bt * mat_y : NULL;
    o.yi_rs = N;
    o.yf = j->yf ? (float *)j->yf->data + bt * mat_y : NULL;
    o.yf_rs = N;
    o.yq = j->yq ? (uint8_t *)j->yq->data + bt * mat_y : NULL;
    o.yq_rs = N;
    o.z = j->Z ? (const float *)j->Z->data + bt * mat_y : NULL;
    o.z_rs = N;
    qgemm_run(k, s->uk, M, N, &a, bpack, 0, &o);
}

/* Slot t of a run over whole matrices: its contiguous share of them (each
 * matrix computed by one thread, so the bits do not depend on the count). */
static void qmm_batches(void *arg, int64_t begin, int64_t end)
{
    const qmm_batch_job *j = arg;
    for (int64_t t = begin; t < end; t++) {
        int64_t b0, b1;
        b0 = t * j->sh->batches / j->n_slots;
        b1 = (t + 1) * j->sh->batches / j->n_slots;
        for (int64_t bt = b0; bt < b1; bt++) qmm_run_batch(j, NULL, bt, (int)t);
    }
}

static onyx_status qmm_fast(onyx_kctx *k, int kind, qmm_state *s, bool *done)
{
    const qmm_io *io = io_of(kind);
    const onyx_tensor *A = k_input(k, io->a), *B = k_input(k, io->b);
    onyx_status st;
    *done = false;
    bool trans_b = kind == QMM_FUSED && k_attr_int(k, "transB", 0) != 0;
    qmm_params p = {0};
    p.dynamic = kind == QMM_FUSED && A->dtype == ONYX_FLOAT;
    if (!p.dynamic && (st = k_require(k, io->a, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED))) return st;
    if ((st = k_require(k, io->b, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED))) return st;
    if (p.dynamic && io->a_scale >= 0 && k_input(k, io->a_scale))
        return k_fail(k, ONYX_E_INVALID, "a float A is quantized at run time: a_scale must be absent");
    qmm_shape sh;
    bool fast;
    if ((st = qmm_shapes(k, A, B, s, trans_b, &sh, &fast)) || !fast) return st;
    const int64_t K = sh.K, N = sh.N;
    float *pb = malloc((size_t)(2 * N + 1) * sizeof(float));
    if (!pb || !qmm_reserve(s, N)) {
        free(pb);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    p.sb = pb;
    p.zb = pb + N;
    for (int64_t j = 0; j < N; j++) p.sb[j] = 1;
    if ((st = qmm_read_params(k, io, A, B, N, &p, &fast)) || !fast) {
        free(pb);
        return st;
    }
    const onyx_tensor *bias = io->bias >= 0 ? k_input(k, io->bias) : NULL;
    const onyx_tensor *Z = io->z >= 0 ? k_input(k, io->z) : NULL;
    if (bias && (bias->dtype != ONYX_FLOAT || tensor_numel_of(bias->rank, bias->dims) != N)) {
        free(pb);
        return k_fail(k, ONYX_E_SHAPE, "bias must be float with %lld values", (long long)N);
    }
    gemm_act act = GEMM_ACT_NONE;
    float p0 = 0, p1 = 0;
    if (kind == QMM_FUSED && (st = gemm_act_from_attrs(k, &act, &p0, &p1))) {
        free(pb);
        return st;
    }
    int64_t ny = tensor_numel_of(sh.out_rank, sh.out_dims);
    if (Z && (Z->dtype != ONYX_FLOAT || tensor_numel_of(Z->rank, Z->dims) != ny)) {
        free(pb);
        return ONYX_OK; /* a broadcast residual: the reference */
    }
    /* outputs (nothing is declared before this point, so the reference can still run) */
    onyx_tensor *yf = NULL, *yq = NULL, *yi = NULL;
    bool want_q = kind == QMM_QLINEAR || (kind == QMM_FUSED && k_input(k, io->y_scale) && k->n_outputs > 1);
    onyx_dtype qdt = ONYX_UINT8;
    if (want_q && io->y_zp >= 0 && k_input(k, io->y_zp)) qdt = k_input(k, io->y_zp)->dtype;
    if (kind == QMM_INTEGER) {
        yi = k_output_uninit(k, 0, ONYX_INT32, sh.out_rank, sh.out_dims);
    } else if (kind == QMM_QLINEAR) {
        yq = k_output_uninit(k, 0, qdt, sh.out_rank, sh.out_dims);
    } else {
        if (k_output_wanted(k, 0)) yf = k_output_uninit(k, 0, ONYX_FLOAT, sh.out_rank, sh.out_dims);
        if (want_q && k_output_wanted(k, 1)) yq = k_output_uninit(k, 1, qdt, sh.out_rank, sh.out_dims);
    }
    if ((kind == QMM_INTEGER && !yi) || (kind == QMM_QLINEAR && !yq) ||
        (kind == QMM_FUSED && k_output_wanted(k, 0) && !yf) ||
        (kind == QMM_FUSED && want_q && k_output_wanted(k, 1) && !yq)) {
        free(pb);
        return k->err->code;
    }
    *done = true;
    if (ny == 0) {
        free(pb);
        return ONYX_OK;
    }
    /* A in the kernel's byte domain (and quantized when float) */
    int64_t a_rows = tensor_numel_of(A->rank, A->dims) / (K ? K : 1);
    bool a_signed = p.dynamic ? false : A->dtype == ONYX_INT8, flip;
    int64_t na = a_rows * K;
    if (p.dynamic) {
        float mn, mx;
        s->vec->range(A->data, na, &mn, &mx);
        ql_dynamic_params(mn, mx, &p.sa, &p.za);
    }
    int32_t zak = qgemm_a_zero_point(s->uk, a_signed, (int32_t)p.za, &flip);
    bool b_unsigned = s->packed ? s->b_unsigned : B->dtype == ONYX_UINT8;
    int32_t zbk = (int32_t)p.zb[0] - (b_unsigned ? 128 : 0);
    /* a runtime B (attention's heads): whole matrices to each thread when
     * there are enough of them, each with its own packed B and column terms */
    const int threads = k_num_threads(k);
    const int slots = !s->packed && sh.batches >= threads && threads > 1 ? threads : 1;
    size_t a_bytes = (p.dynamic || flip) ? (size_t)na : 0;
    size_t pack_bytes = s->packed ? 0 : qgemm_packed_b_bytes(s->uk, 1, K, N);
    size_t off_slots = (a_bytes + 63) & ~(size_t)63;
    size_t terms = s->packed ? 0 : ((size_t)N * 2 * sizeof(int32_t) + 63) & ~(size_t)63; /* colsum, ib */
    size_t per_slot = ((pack_bytes + 63) & ~(size_t)63) + terms;
    size_t off_rc = off_slots + per_slot * (size_t)slots;
    size_t total = off_rc + (zbk ? (size_t)a_rows * sizeof(int32_t) : 0);
    k_scratch_buf own = {0};
    uint8_t *scr = ql_scratch(k, QL_SCRATCH_SLOT, &own, total ? total : 64);
    if (!scr) {
        free(pb);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    const uint8_t *abase = A->data;
    if (p.dynamic) {
        s->vec->quantize(A->data, na, p.sa, p.za, false, flip, scr);
        abase = scr;
    } else if (flip) {
        qgemm_flip_bytes(scr, A->data, na);
        abase = scr;
    }
    int32_t *rowc = zbk ? (int32_t *)(scr + off_rc) : NULL;
    if (rowc) { /* -zb * the sum of each A row, in the kernel's domain */
        qgemm_row_sums(s->uk, abase, a_rows, K, K, rowc);
        for (int64_t r = 0; r < a_rows; r++) rowc[r] = (int32_t)(-(int64_t)zbk * rowc[r]);
    }
    /* per-column scale: the dequantized product, or the QLinear multiplier */
    for (int64_t j = 0; j < N; j++)
        s->scale[j] = kind == QMM_QLINEAR ? p.sa * p.sb[j] / p.sy : p.sa * p.sb[j];
    qmm_batch_job j = {s, &sh, B, b_unsigned, zak, zbk, abase, rowc, yi, yf, yq, Z, {0}, scr + off_slots, per_slot,
                       pack_bytes, slots};
    qgemm_out *o = &j.o;
    o->scale = s->scale;
    o->fb = bias ? bias->data : NULL;
    o->act = act;
    o->p0 = p0;
    o->p1 = p1;
    o->inv_ys = kind == QMM_QLINEAR ? 1.0f : 1.0f / p.sy;
    o->yzp = p.zy;
    o->yq_signed = qdt == ONYX_INT8;
    if (s->packed) {
        /* the column terms of the constant B, once */
        column_terms(N, K, zak, zbk, s->colsum, s->ib);
        qmm_run_batch(&j, k, 0, 0);
    } else if (slots > 1) {
        k_parallel_for(k, slots, qmm_batches, &j);
    } else {
        for (int64_t bt = 0; bt < sh.batches; bt++) qmm_run_batch(&j, k, bt, 0);
    }
    k_scratch_free(&own);
    free(pb);
    return ONYX_OK;
}

/* ---- the QMatMul reference ---- */

/* Element i of a quantization parameter tensor (or def when absent), with
 * scalar broadcast. */
static double qparam_at(const onyx_tensor *t, int64_t i, double def)
{
    if (!t) return def;
    return k_get_f64(t, tensor_numel_of(t->rank, t->dims) == 1 ? 0 : i);
}

/* Y = act(DQ(A) DQ(B) + bias + Z) in double, Y_q = QuantizeLinear(Y): the
 * definition, one element at a time (numpy batch broadcasting of A and B,
 * Z broadcast to Y). */
static onyx_status qmm_reference(onyx_kctx *k)
{
    const onyx_tensor *A = k_input(k, 0), *B = k_input(k, 3);
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_UINT8, ONYX_INT8, ONYX_FLOAT, ONYX_UNDEFINED)) ||
        (st = k_require(k, 3, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED)))
        return st;
    bool tb = k_attr_int(k, "transB", 0) != 0;
    if (A->rank < 2 || B->rank < 2 || (tb && B->rank != 2))
        return k_fail(k, ONYX_E_SHAPE, "QMatMul needs A and B of rank >= 2 (B 2-D with transB)");
    int64_t M = A->dims[A->rank - 2], K = A->dims[A->rank - 1];
    int64_t N = B->dims[tb ? 0 : B->rank - 1], KB = B->dims[tb ? 1 : B->rank - 2];
    if (KB != K)
        return k_fail(k, ONYX_E_SHAPE, "A has %lld columns but B has %lld rows", (long long)K, (long long)KB);
    gemm_act act;
    float p0, p1;
    if ((st = gemm_act_from_attrs(k, &act, &p0, &p1))) return st;
    /* output shape: broadcast batch dims */
    int na = A->rank - 2, nb = B->rank - 2, nbt = na > nb ? na : nb;
    int64_t dims[ONYX_MAX_RANK];
    for (int d = 0; d < nbt; d++) {
        int ia = d - (nbt - na), ib = d - (nbt - nb);
        int64_t da = ia >= 0 ? A->dims[ia] : 1, db = ib >= 0 ? B->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return k_fail(k, ONYX_E_SHAPE, "batch dims %lld and %lld do not broadcast", (long long)da,
                          (long long)db);
        dims[d] = da > db ? da : db;
    }
    dims[nbt] = M;
    dims[nbt + 1] = N;
    int rank = nbt + 2;
    /* A's parameters: given, or DynamicQuantizeLinear's for a float A */
    const onyx_tensor *as = k_input(k, 1), *az = k_input(k, 2), *bs = k_input(k, 4), *bz = k_input(k, 5);
    const onyx_tensor *bias = k_input(k, 6), *Z = k_input(k, 7), *ys = k_input(k, 8), *yz = k_input(k, 9);
    if (!bs) return k_fail(k, ONYX_E_INVALID, "b_scale is required");
    if (A->dtype != ONYX_FLOAT && !as) return k_fail(k, ONYX_E_INVALID, "a_scale is required");
    float dsa = 1, dza = 0;
    if (A->dtype == ONYX_FLOAT) {
        float mn, mx;
        ql_vec_best()->range(A->data, tensor_numel_of(A->rank, A->dims), &mn, &mx);
        ql_dynamic_params(mn, mx, &dsa, &dza);
    }
    onyx_tensor *yf = k_output(k, 0, ONYX_FLOAT, rank, dims);
    if (!yf) return k->err->code;
    onyx_tensor *yq = NULL;
    if (ys && k->n_outputs > 1) {
        yq = k_output(k, 1, yz ? yz->dtype : ONYX_UINT8, rank, dims);
        if (!yq) return k->err->code;
    }
    int64_t ny = tensor_numel_of(rank, dims);
    int64_t zstr[ONYX_MAX_RANK];
    if (Z) {
        const onyx_tensor *pair[2] = {yf, Z};
        int zr;
        int64_t zd[ONYX_MAX_RANK];
        bool same = k_broadcast_shapes(2, pair, &zr, zd) && zr == rank && Z->dtype == ONYX_FLOAT;
        for (int d = 0; same && d < rank; d++) same = zd[d] == dims[d];
        if (!same) return k_fail(k, ONYX_E_SHAPE, "Z (input 7) must be float and broadcast to Y's shape");
        k_broadcast_strides(Z, rank, dims, zstr);
    }
    for (int64_t e = 0; e < ny; e++) {
        int64_t rem = e, idx[ONYX_MAX_RANK] = {0};
        for (int d = rank - 1; d >= 0; d--) {
            idx[d] = rem % dims[d];
            rem /= dims[d];
        }
        int64_t i = idx[nbt], j = idx[nbt + 1], ab = 0, bb = 0, sa = 1, sb = 1;
        for (int d = nbt - 1; d >= 0; d--) {
            int ia = d - (nbt - na), ib = d - (nbt - nb);
            if (ia >= 0) {
                ab += (A->dims[ia] == 1 ? 0 : idx[d]) * sa;
                sa *= A->dims[ia];
            }
            if (ib >= 0) {
                bb += (B->dims[ib] == 1 ? 0 : idx[d]) * sb;
                sb *= B->dims[ib];
            }
        }
        double acc = 0;
        for (int64_t c = 0; c < K; c++) {
            int64_t ae = (ab * M + i) * K + c;
            double a;
            if (A->dtype == ONYX_FLOAT) {
                float q = rintf(((const float *)A->data)[ae] / dsa) + dza;
                q = q >= 0 ? (q <= 255 ? q : 255) : 0;
                a = ((double)q - dza) * dsa;
            } else {
                a = (k_get_f64(A, ae) - qparam_at(az, 0, 0)) * (float)qparam_at(as, 0, 1);
            }
            int64_t be = tb ? j * K + c : (bb * K + c) * N + j;
            double b = (k_get_f64(B, be) - qparam_at(bz, j, 0)) * (float)qparam_at(bs, j, 1);
            acc += a * b;
        }
        if (bias) acc += k_get_f64(bias, j);
        if (Z) {
            int64_t ze = 0;
            for (int d = 0; d < rank; d++) ze += idx[d] * zstr[d];
            acc += ((const float *)Z->data)[ze];
        }
        float v = gemm_act_scalar(act, p0, p1, (float)acc);
        ((float *)yf->data)[e] = v;
        if (yq) ql_store_q8(yq, e, v, (float)qparam_at(ys, 0, 1), (float)qparam_at(yz, 0, 0));
    }
    return ONYX_OK;
}

/* ---- the operators ---- */

static onyx_status op_matmul_integer(onyx_kctx *k)
{
    bool done = false;
    onyx_status st = k->state ? qmm_fast(k, QMM_INTEGER, k->state, &done) : ONYX_OK;
    return st || done ? st : matmul_integer_reference(k);
}

static onyx_status op_qlinear_matmul(onyx_kctx *k)
{
    bool done = false;
    onyx_status st = k->state ? qmm_fast(k, QMM_QLINEAR, k->state, &done) : ONYX_OK;
    return st || done ? st : qlinear_matmul_reference(k);
}

static onyx_status op_qmatmul(onyx_kctx *k)
{
    bool done = false;
    onyx_status st = k->state ? qmm_fast(k, QMM_FUSED, k->state, &done) : ONYX_OK;
    return st || done ? st : qmm_reference(k);
}

const onyx_op_def onyx_ops_qmatmul[] = {
    {"", "MatMulInteger", op_matmul_integer, prepare_integer, qmm_release},
    {"", "QLinearMatMul", op_qlinear_matmul, prepare_qlinear, qmm_release},
    {"ai.onyx", "QMatMul", op_qmatmul, prepare_fused, qmm_release},
    {0},
};
