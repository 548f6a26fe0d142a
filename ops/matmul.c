/* matmul.c - MatMul, Gemm, Einsum, MatMulInteger, QLinearMatMul, Det.
 *
 * Float products run through one blocked loop nest (mm_f32): for a row of A and a
 * tile of B it adds a*B[k,:] into the row of C, so the inner loop walks contiguous
 * memory and the B tile stays in cache across rows. Other types convert to a wider
 * working type (float for float16/bfloat16, double, or wrapping 64-bit integers).
 * That is the reference. Float32 MatMul and Gemm with a prepared state run on
 * the blocked GEMM of gemm.c instead, a constant B packed once in prepare();
 * FusedMatMul and FusedGemm (fused_linear.c) share these entry points.
 */
#include "matmul_fast.h"
#include "qlinear.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MM_KB 128 /* rows of B per tile */
#define MM_NB 512 /* columns of B per tile */
#define MM_JB 64  /* rows of a transposed B per tile */

/* malloc(n * size) with the product checked; never returns a zero-byte block. */
static void *mm_alloc(int64_t n, size_t size)
{
    if (n < 0 || (uint64_t)n > SIZE_MAX / size) return NULL;
    return malloc(n ? (size_t)n * size : 1);
}

/* Float elements of a float/float16/bfloat16 tensor: its own data when already
 * float, else a converted copy stored in *owned for the caller to free. */
static const float *mm_as_f32(const onyx_tensor *t, float **owned)
{
    *owned = NULL;
    if (t->dtype == ONYX_FLOAT) return t->data;
    int64_t n = tensor_numel_of(t->rank, t->dims);
    float *f = mm_alloc(n, sizeof *f);
    if (!f) return NULL;
    const uint16_t *h = t->data;
    for (int64_t i = 0; i < n; i++)
        f[i] = t->dtype == ONYX_FLOAT16 ? f16_to_f32(h[i]) : bf16_to_f32(h[i]);
    *owned = f;
    return f;
}

/* Stores n floats into a float16/bfloat16 tensor's data. */
static void mm_store_half(onyx_tensor *y, const float *f, int64_t n)
{
    uint16_t *h = y->data;
    for (int64_t i = 0; i < n; i++)
        h[i] = y->dtype == ONYX_FLOAT16 ? f32_to_f16(f[i]) : f32_to_bf16(f[i]);
}

/* Integer tensor elements widened to int64 (uint64 keeps its bit pattern). */
static int64_t *mm_as_i64(const onyx_tensor *t)
{
    int64_t n = tensor_numel_of(t->rank, t->dims);
    int64_t *v = mm_alloc(n, sizeof *v);
    if (v && k_read_ints(t, v, n) != n) {
        free(v);
        return NULL;
    }
    return v;
}

/* Stores a wrapped integer: the low bits, as a C cast to the narrower type would
 * keep them (the conversion goes through unsigned types, so it is defined). */
static void mm_store_int(onyx_tensor *y, int64_t i, uint64_t v)
{
    void *p = y->data;
    switch (y->dtype) {
    case ONYX_INT8:
    case ONYX_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case ONYX_INT16:
    case ONYX_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case ONYX_INT32:
    case ONYX_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    default: ((uint64_t *)p)[i] = v; break;
    }
}

/* A double converted to an integer type's range (saturating, NaN -> 0). */
static uint64_t mm_int_from_f64(onyx_dtype t, double v)
{
    if (v != v) return 0;
    if (t == ONYX_UINT64) {
        if (v <= 0) return 0;
        return v >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)v;
    }
    if (v <= -9223372036854775808.0) return (uint64_t)INT64_MIN;
    if (v >= 9223372036854775807.0) return (uint64_t)INT64_MAX;
    return (uint64_t)(int64_t)v;
}

/* ---- dense matrix product cores: C (M x N, row stride ldc) += A * B ----
 * A is M x K with element (i,k) at a[i*lda+k], or at a[k*lda+i] when ta.
 * B is K x N with element (k,j) at b[k*ldb+j], or at b[j*ldb+k] when tb.
 * tmp holds K elements (used when tb). */
#define MM_DEFINE_CORE(NAME, T)                                                                    \
    static T NAME##_dot(const T *x, const T *y, int64_t n)                                         \
    {                                                                                              \
        /* four partial sums break the add dependency chain */                                     \
        T s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                                          \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= n; i += 4) {                                                               \
            s0 += x[i] * y[i];                                                                     \
            s1 += x[i + 1] * y[i + 1];                                                             \
            s2 += x[i + 2] * y[i + 2];                                                             \
            s3 += x[i + 3] * y[i + 3];                                                             \
        }                                                                                          \
        for (; i < n; i++) s0 += x[i] * y[i];                                                      \
        return (s0 + s1) + (s2 + s3);                                                              \
    }                                                                                              \
    /* c += a0*b[0,:] + ... + a3*b[3,:]: four rows of B per pass over the row of C                 \
     * halve the loads and stores of C per multiply-add */                                         \
    static void NAME##_axpy4(T *restrict c, const T *restrict b, int64_t ldb, const T *av,         \
                             int64_t n)                                                            \
    {                                                                                              \
        const T *restrict b1 = b + ldb, *restrict b2 = b + 2 * ldb, *restrict b3 = b + 3 * ldb;    \
        T a0 = av[0], a1 = av[1], a2 = av[2], a3 = av[3];                                          \
        for (int64_t j = 0; j < n; j++) c[j] += a0 * b[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];  \
    }                                                                                              \
    static void NAME(int64_t M, int64_t N, int64_t K, const T *a, int64_t lda, bool ta,            \
                     const T *b, int64_t ldb, bool tb, T *c, int64_t ldc, T *tmp)                  \
    {                                                                                              \
        if (tb) {                                                                                  \
            for (int64_t j0 = 0; j0 < N; j0 += MM_JB) {                                            \
                int64_t j1 = j0 + MM_JB < N ? j0 + MM_JB : N;                                      \
                for (int64_t i = 0; i < M; i++) {                                                  \
                    const T *ar = a + i * lda;                                                     \
                    if (ta) {                                                                      \
                        for (int64_t kk = 0; kk < K; kk++) tmp[kk] = a[kk * lda + i];              \
                        ar = tmp;                                                                  \
                    }                                                                              \
                    T *cr = c + i * ldc;                                                           \
                    for (int64_t j = j0; j < j1; j++) cr[j] += NAME##_dot(ar, b + j * ldb, K);     \
                }                                                                                  \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t k0 = 0; k0 < K; k0 += MM_KB) {                                                \
            int64_t k1 = k0 + MM_KB < K ? k0 + MM_KB : K;                                          \
            for (int64_t j0 = 0; j0 < N; j0 += MM_NB) {                                            \
                int64_t jn = j0 + MM_NB < N ? MM_NB : N - j0;                                      \
                for (int64_t i = 0; i < M; i++) {                                                  \
                    T *cr = c + i * ldc + j0;                                                      \
                    int64_t kk = k0;                                                               \
                    for (; kk + 4 <= k1; kk += 4) {                                                \
                        T av[4];                                                                   \
                        for (int q = 0; q < 4; q++)                                                \
                            av[q] = ta ? a[(kk + q) * lda + i] : a[i * lda + kk + q];              \
                        NAME##_axpy4(cr, b + kk * ldb + j0, ldb, av, jn);                          \
                    }                                                                              \
                    for (; kk < k1; kk++) {                                                        \
                        T av = ta ? a[kk * lda + i] : a[i * lda + kk];                             \
                        const T *br = b + kk * ldb + j0;                                           \
                        for (int64_t j = 0; j < jn; j++) cr[j] += av * br[j];                      \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

MM_DEFINE_CORE(mm_f32, float)
MM_DEFINE_CORE(mm_f64, double)

/* Integer product with wrap-around (the arithmetic is done modulo 2^64, so the
 * low bits match the result type's own modular arithmetic). */
static void mm_int(int64_t M, int64_t N, int64_t K, const int64_t *a, int64_t lda, bool ta,
                   const int64_t *b, int64_t ldb, bool tb, uint64_t *c, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t kk = 0; kk < K; kk++) {
            uint64_t av = (uint64_t)(ta ? a[kk * lda + i] : a[i * lda + kk]);
            for (int64_t j = 0; j < N; j++)
                c[i * ldc + j] += av * (uint64_t)(tb ? b[j * ldb + kk] : b[kk * ldb + j]);
        }
}

/* ---- numpy.matmul shapes ---- */
typedef struct mm_plan {
    int64_t M, K, N;
    int brank; /* rank of the broadcast batch shape */
    int64_t bdims[ONYX_MAX_RANK];
    int64_t astr[ONYX_MAX_RANK]; /* batch strides, in matrices */
    int64_t bstr[ONYX_MAX_RANK];
    int64_t nbatch;
    int out_rank;
    int64_t out_dims[ONYX_MAX_RANK];
} mm_plan;

/* Batch dims of a matmul operand as a tensor header (for the broadcast helpers). */
static void mm_batch_view(const onyx_tensor *x, onyx_tensor *v)
{
    memset(v, 0, sizeof *v);
    v->rank = x->rank > 2 ? x->rank - 2 : 0;
    for (int d = 0; d < v->rank; d++) v->dims[d] = x->dims[d];
}

/* numpy.matmul shape rules: a 1-D A gains a leading 1, a 1-D B a trailing 1, both
 * removed from the result; leading (batch) dims broadcast. */
static onyx_status mm_make_plan(onyx_kctx *k, const onyx_tensor *A, const onyx_tensor *B,
                                mm_plan *p)
{
    if (A->rank < 1 || B->rank < 1)
        return k_fail(k, ONYX_E_SHAPE, "inputs must have rank >= 1 (got ranks %d and %d)", A->rank,
                      B->rank);
    p->M = A->rank == 1 ? 1 : A->dims[A->rank - 2];
    p->K = A->dims[A->rank - 1];
    int64_t kb = B->rank == 1 ? B->dims[0] : B->dims[B->rank - 2];
    p->N = B->rank == 1 ? 1 : B->dims[B->rank - 1];
    if (p->K != kb)
        return k_fail(k, ONYX_E_SHAPE,
                      "inner dimensions differ: A has %lld columns, B has %lld rows",
                      (long long)p->K, (long long)kb);
    onyx_tensor va, vb;
    mm_batch_view(A, &va);
    mm_batch_view(B, &vb);
    const onyx_tensor *vs[2] = {&va, &vb};
    if (!k_broadcast_shapes(2, vs, &p->brank, p->bdims))
        return k_fail(k, ONYX_E_SHAPE, "batch dimensions of A and B do not broadcast");
    k_broadcast_strides(&va, p->brank, p->bdims, p->astr);
    k_broadcast_strides(&vb, p->brank, p->bdims, p->bstr);
    p->nbatch = tensor_numel_of(p->brank, p->bdims);
    if (p->nbatch < 0) return k_fail(k, ONYX_E_LIMIT, "batch size overflows");
    p->out_rank = 0;
    for (int d = 0; d < p->brank; d++) p->out_dims[p->out_rank++] = p->bdims[d];
    if (A->rank > 1) p->out_dims[p->out_rank++] = p->M;
    if (B->rank > 1) p->out_dims[p->out_rank++] = p->N;
    return ONYX_OK;
}

/* Matrix indices in A and B of output batch number idx. */
static void mm_batch_index(const mm_plan *p, int64_t idx, int64_t *ai, int64_t *bi)
{
    *ai = *bi = 0;
    for (int d = p->brank - 1; d >= 0; d--) {
        int64_t c = idx % p->bdims[d];
        idx /= p->bdims[d];
        *ai += c * p->astr[d];
        *bi += c * p->bstr[d];
    }
}

/* ---- fast float32 path: the packed GEMM ---- */

typedef struct mm_state {
    const gemm_ukernel *uk;
    float *bpack;          /* constant op(B), packed; NULL when B is computed */
    int64_t bk, bn;        /* its K and N */
    gemm_scratch own_scratch; /* GEMM packing outside a session (else k_scratch) */
} mm_state;

void matmul_release(void *state)
{
    mm_state *s = state;
    if (!s) return;
    k_free_packed(s->bpack);
    gemm_scratch_free(&s->own_scratch);
    free(s);
}

/* A state with op(B) packed when B is a 2-D float32 initializer; transposed
 * when tb (Gemm's transB). */
static onyx_status mm_prepare_b(onyx_kctx *k, void **state, bool tb)
{
    mm_state *s = calloc(1, sizeof *s);
    if (!s) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    s->uk = gemm_ukernel_best();
    /* B is packed from where it lies (any alignment) */
    const onyx_tensor *B = k_input_unaligned(k, 1);
    if (B && B->kind == ONYX_KIND_TENSOR && B->dtype == ONYX_FLOAT && B->rank == 2 &&
        B->dims[0] > 0 && B->dims[1] > 0) {
        int64_t kd = tb ? B->dims[1] : B->dims[0], n = tb ? B->dims[0] : B->dims[1];
        s->bpack = k_alloc_packed(k, gemm_packed_b_floats(s->uk, kd, n) * sizeof(float));
        if (!s->bpack) {
            matmul_release(s);
            return k_fail(k, ONYX_E_NOMEM, "out of memory packing B");
        }
        gemm_pack_b(s->uk, kd, n, B->data, tb ? 1 : B->dims[1], tb ? B->dims[1] : 1, s->bpack);
        s->bk = kd;
        s->bn = n;
    }
    *state = s;
    return ONYX_OK;
}

/* MatMul with a packed 2-D B takes the packed path for every A. */
onyx_status matmul_prepare(onyx_kctx *k, void **state)
{
    onyx_status st = mm_prepare_b(k, state, false);
    if (st == ONYX_OK && ((mm_state *)*state)->bpack) k_input_consumed(k, 1);
    return st;
}

/* Gemm takes the packed path when C is absent, or a constant row or column
 * bias added with beta 1 (gemm_op_run's c_fits). */
onyx_status gemm_op_prepare(onyx_kctx *k, void **state)
{
    onyx_status st = mm_prepare_b(k, state, k_attr_int(k, "transB", 0) != 0);
    /* (a C that is not an initializer is not seen here: it may be a scalar) */
    const onyx_tensor *C = k->n_inputs > 2 ? k_input_unaligned(k, 2) : NULL;
    bool c_fits = k->n_inputs < 3 || k_attr_float(k, "beta", 1.0f) == 0.0f ||
                  (k_attr_float(k, "beta", 1.0f) == 1.0f && C && tensor_numel_of(C->rank, C->dims) > 1);
    if (st == ONYX_OK && ((mm_state *)*state)->bpack && c_fits) k_input_consumed(k, 1);
    return st;
}

/* y = act(y + z) with z broadcast (numpy rules) to y's shape. */
static void mm_add_broadcast_act(float *y, int rank, const int64_t *dims, const onyx_tensor *z,
                                 gemm_act act, float p0, float p1)
{
    int64_t zs[ONYX_MAX_RANK], idx[ONYX_MAX_RANK] = {0}, zo = 0;
    int64_t n = tensor_numel_of(rank, dims);
    const float *zf = z ? z->data : NULL;
    if (z) k_broadcast_strides(z, rank, dims, zs);
    for (int64_t i = 0; i < n; i++) {
        y[i] = gemm_act_scalar(act, p0, p1, y[i] + (zf ? zf[zo] : 0.0f));
        for (int d = rank - 1; d >= 0 && z; d--) {
            zo += zs[d];
            if (++idx[d] < dims[d]) break;
            zo -= zs[d] * dims[d];
            idx[d] = 0;
        }
    }
}

onyx_status matmul_run(onyx_kctx *k, int bias_input, int z_input, gemm_act act, float p0, float p1)
{
    bool fused = bias_input >= 0 || z_input >= 0 || act != GEMM_ACT_NONE;
    onyx_status st = fused ? k_require(k, 0, ONYX_FLOAT, ONYX_UNDEFINED) : k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                               ONYX_INT32, ONYX_INT64, ONYX_UINT32, ONYX_UINT64, ONYX_INT8,
                               ONYX_UINT8, ONYX_INT16, ONYX_UINT16, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *A = k_input(k, 0);
    if ((st = k_require(k, 1, A->dtype, ONYX_UNDEFINED))) return st;
    const onyx_tensor *B = k_input(k, 1);
    mm_plan p;
    if ((st = mm_make_plan(k, A, B, &p))) return st;
    /* the packed path below (float32 with a state) writes every element */
    onyx_tensor *Y = A->dtype == ONYX_FLOAT && k->state
                         ? k_output_uninit(k, 0, A->dtype, p.out_rank, p.out_dims)
                         : k_output(k, 0, A->dtype, p.out_rank, p.out_dims);
    if (!Y) return k->err->code;
    int64_t ny = tensor_numel_of(p.out_rank, p.out_dims);
    int64_t msz = p.M * p.K, nsz = p.K * p.N, ysz = p.M * p.N;
    const onyx_tensor *bias = fused && bias_input >= 0 ? k_input(k, bias_input) : NULL;
    const onyx_tensor *Z = fused && z_input >= 0 ? k_input(k, z_input) : NULL;
    if (bias && ((st = k_require(k, bias_input, ONYX_FLOAT, ONYX_UNDEFINED)) ||
                 tensor_numel_of(bias->rank, bias->dims) != p.N || bias->rank != 1))
        return st ? st : k_fail(k, ONYX_E_SHAPE, "input %d (bias) must have shape [%lld]",
                                bias_input, (long long)p.N);
    if (Z) {
        const onyx_tensor *pair[2] = {Y, Z};
        int r;
        int64_t d[ONYX_MAX_RANK];
        if ((st = k_require(k, z_input, ONYX_FLOAT, ONYX_UNDEFINED))) return st;
        bool ok = k_broadcast_shapes(2, pair, &r, d) && r == Y->rank;
        for (int i = 0; ok && i < r; i++) ok = d[i] == Y->dims[i];
        if (!ok)
            return k_fail(k, ONYX_E_SHAPE, "input %d (Z) does not broadcast to the output shape",
                          z_input);
    }
    if (ny == 0) return ONYX_OK;

    mm_state *s = k->state;
    if (A->dtype == ONYX_FLOAT && s) {
        /* Z goes into the epilogue when it has Y's own shape */
        bool z_full = Z && tensor_numel_of(Z->rank, Z->dims) == ny;
        gemm_epilogue ep = {1.0f, NULL, bias ? bias->data : NULL, z_full ? Z->data : NULL, p.N,
                            (Z && !z_full) ? GEMM_ACT_NONE : act, p0, p1};
        const float *a = A->data, *b = B->data;
        float *y = Y->data;
        bool ok = true;
        if (s->bpack && B->rank == 2 && s->bk == p.K && s->bn == p.N) {
            /* B shared by every batch: the batches of A are rows of one product */
            gemm_a ga = {NULL, a, p.K, 1};
            gemm_b gb = {s->bpack, NULL, 0, 0, NULL};
            gemm_c gc = {y, p.N, p.N, p.N};
            ok = gemm_f32(k, s->uk, p.nbatch * p.M, p.N, p.K, &ga, &gb, &gc, &ep, k_scratch(k, K_SCRATCH_GEMM, &s->own_scratch));
        } else {
            for (int64_t bt = 0; bt < p.nbatch && ok; bt++) {
                int64_t ai, bi;
                mm_batch_index(&p, bt, &ai, &bi);
                gemm_a ga = {NULL, a + ai * msz, p.K, 1};
                gemm_b gb = {NULL, b + bi * nsz, p.N, 1, NULL};
                gemm_c gc = {y + bt * ysz, p.N, p.N, p.N};
                gemm_epilogue eb = ep;
                if (eb.z) eb.z += bt * ysz;
                ok = gemm_f32(k, s->uk, p.M, p.N, p.K, &ga, &gb, &gc, &eb, k_scratch(k, K_SCRATCH_GEMM, &s->own_scratch));
            }
        }
        if (!ok) return k_fail(k, ONYX_E_NOMEM, "out of memory for the GEMM scratch");
        if (Z && !z_full) mm_add_broadcast_act(y, Y->rank, Y->dims, Z, act, p0, p1);
        return ONYX_OK;
    }
    if (fused) {
        /* the reference: the plain product, then bias, Z and the activation */
        const float *a = A->data, *b = B->data, *bv = bias ? bias->data : NULL;
        float *y = Y->data;
        for (int64_t bt = 0; bt < p.nbatch; bt++) {
            int64_t ai, bi;
            mm_batch_index(&p, bt, &ai, &bi);
            mm_f32(p.M, p.N, p.K, a + ai * msz, p.K, false, b + bi * nsz, p.N, false, y + bt * ysz,
                   p.N, NULL);
        }
        if (bv)
            for (int64_t i = 0; i < ny; i++) y[i] += bv[i % p.N];
        mm_add_broadcast_act(y, Y->rank, Y->dims, Z, act, p0, p1);
        return ONYX_OK;
    }

    if (A->dtype == ONYX_DOUBLE) {
        const double *a = A->data, *b = B->data;
        double *y = Y->data;
        for (int64_t bt = 0; bt < p.nbatch; bt++) {
            int64_t ai, bi;
            mm_batch_index(&p, bt, &ai, &bi);
            mm_f64(p.M, p.N, p.K, a + ai * msz, p.K, false, b + bi * nsz, p.N, false, y + bt * ysz,
                   p.N, NULL);
        }
        return ONYX_OK;
    }
    if (dtype_is_float(A->dtype)) {
        float *oa, *ob, *oy = NULL;
        const float *a = mm_as_f32(A, &oa), *b = mm_as_f32(B, &ob);
        float *y = Y->data;
        if (A->dtype != ONYX_FLOAT) y = oy = mm_alloc(ny, sizeof *y);
        if (!a || !b || !y) {
            free(oa);
            free(ob);
            free(oy);
            return k_fail(k, ONYX_E_NOMEM, "out of memory converting MatMul operands");
        }
        if (oy) memset(oy, 0, (size_t)ny * sizeof *oy);
        for (int64_t bt = 0; bt < p.nbatch; bt++) {
            int64_t ai, bi;
            mm_batch_index(&p, bt, &ai, &bi);
            mm_f32(p.M, p.N, p.K, a + ai * msz, p.K, false, b + bi * nsz, p.N, false, y + bt * ysz,
                   p.N, NULL);
        }
        if (oy) mm_store_half(Y, oy, ny);
        free(oa);
        free(ob);
        free(oy);
        return ONYX_OK;
    }
    int64_t *a = mm_as_i64(A), *b = mm_as_i64(B);
    uint64_t *acc = calloc((size_t)ysz, sizeof *acc);
    if (!a || !b || !acc) {
        free(a);
        free(b);
        free(acc);
        return k_fail(k, ONYX_E_NOMEM, "out of memory converting MatMul operands");
    }
    for (int64_t bt = 0; bt < p.nbatch; bt++) {
        int64_t ai, bi;
        mm_batch_index(&p, bt, &ai, &bi);
        memset(acc, 0, (size_t)ysz * sizeof *acc);
        mm_int(p.M, p.N, p.K, a + ai * msz, p.K, false, b + bi * nsz, p.N, false, acc, p.N);
        for (int64_t i = 0; i < ysz; i++) mm_store_int(Y, bt * ysz + i, acc[i]);
    }
    free(a);
    free(b);
    free(acc);
    return ONYX_OK;
}

static onyx_status op_matmul(onyx_kctx *k) { return matmul_run(k, -1, -1, GEMM_ACT_NONE, 0, 0); }

/* ---- Gemm: Y = alpha * op(A) * op(B) + beta * C ---- */
onyx_status gemm_op_run(onyx_kctx *k, gemm_act act, float p0, float p1)
{
    bool fused = act != GEMM_ACT_NONE;
    onyx_status st = fused ? k_require(k, 0, ONYX_FLOAT, ONYX_UNDEFINED) : k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                               ONYX_INT32, ONYX_INT64, ONYX_UINT32, ONYX_UINT64, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *A = k_input(k, 0);
    if ((st = k_require(k, 1, A->dtype, ONYX_UNDEFINED))) return st;
    const onyx_tensor *B = k_input(k, 1), *C = k_input(k, 2);
    if (C && (st = k_require(k, 2, A->dtype, ONYX_UNDEFINED))) return st;
    bool ta = k_attr_int(k, "transA", 0) != 0, tb = k_attr_int(k, "transB", 0) != 0;
    float alpha = k_attr_float(k, "alpha", 1.0f), beta = k_attr_float(k, "beta", 1.0f);
    if (A->rank != 2 || B->rank != 2)
        return k_fail(k, ONYX_E_SHAPE, "A and B must be 2-D (got ranks %d and %d)", A->rank,
                      B->rank);
    int64_t M = ta ? A->dims[1] : A->dims[0], K = ta ? A->dims[0] : A->dims[1];
    int64_t KB = tb ? B->dims[1] : B->dims[0], N = tb ? B->dims[0] : B->dims[1];
    if (K != KB)
        return k_fail(k, ONYX_E_SHAPE,
                      "inner dimensions differ: op(A) is %lldx%lld, op(B) is %lldx%lld "
                      "(transA=%d, transB=%d)",
                      (long long)M, (long long)K, (long long)KB, (long long)N, ta, tb);
    /* C broadcasts one way into M x N; (ci, cj) are its row and column strides */
    int64_t ci = 0, cj = 0;
    if (C) {
        if (C->rank > 2) return k_fail(k, ONYX_E_SHAPE, "C must have rank <= 2 (got %d)", C->rank);
        int64_t c0 = C->rank == 2 ? C->dims[0] : 1, c1 = C->rank >= 1 ? C->dims[C->rank - 1] : 1;
        if ((c0 != 1 && c0 != M) || (c1 != 1 && c1 != N))
            return k_fail(k, ONYX_E_SHAPE,
                          "C of shape [%lld, %lld] does not broadcast to [%lld, %lld]",
                          (long long)c0, (long long)c1, (long long)M, (long long)N);
        if (k->opset < 7 && k_attr_int(k, "broadcast", 0) == 0 && (c0 != M || c1 != N))
            return k_fail(k, ONYX_E_SHAPE,
                          "C has shape [%lld, %lld] but must be [%lld, %lld] when attribute "
                          "broadcast is 0",
                          (long long)c0, (long long)c1, (long long)M, (long long)N);
        ci = c0 == 1 ? 0 : c1;
        cj = c1 == 1 ? 0 : 1;
    }
    int64_t dims[2] = {M, N};
    bool use_c = C && beta != 0;
    mm_state *s = k->state;
    /* C as a bias row, a bias column or a full residual (beta 1), or absent */
    bool c_fits = !use_c || (beta == 1.0f && (ci != 0 || cj != 0));
    bool fast = A->dtype == ONYX_FLOAT && s && c_fits;
    /* the packed path writes every element of Y */
    onyx_tensor *Y = fast ? k_output_uninit(k, 0, A->dtype, 2, dims) : k_output(k, 0, A->dtype, 2, dims);
    if (!Y) return k->err->code;
    int64_t ny = M * N;
    if (ny == 0) return ONYX_OK;
    if (fast) {
        gemm_epilogue ep = {alpha, NULL, NULL, NULL, N, act, p0, p1};
        if (use_c && ci == 0) ep.col_bias = C->data;
        else if (use_c && cj == 0) ep.row_bias = C->data;
        else if (use_c) ep.z = C->data;
        int64_t lda = A->dims[1], ldb = B->dims[1];
        gemm_a ga = {NULL, A->data, ta ? 1 : lda, ta ? lda : 1};
        gemm_b gb = {NULL, B->data, tb ? 1 : ldb, tb ? ldb : 1, NULL};
        if (s->bpack && s->bk == K && s->bn == N) gb.packed = s->bpack;
        gemm_c gc = {Y->data, N, N, N};
        if (!gemm_f32(k, s->uk, M, N, K, &ga, &gb, &gc, &ep, k_scratch(k, K_SCRATCH_GEMM, &s->own_scratch)))
            return k_fail(k, ONYX_E_NOMEM, "out of memory for the GEMM scratch");
        return ONYX_OK;
    }

    if (A->dtype == ONYX_DOUBLE) {
        double *y = Y->data, *tmp = mm_alloc(K, sizeof *tmp);
        if (!tmp) return k_fail(k, ONYX_E_NOMEM, "out of memory");
        mm_f64(M, N, K, A->data, A->dims[1], ta, B->data, B->dims[1], tb, y, N, tmp);
        free(tmp);
        const double *c = use_c ? C->data : NULL;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                y[i * N + j] = alpha * y[i * N + j] + (c ? beta * c[i * ci + j * cj] : 0);
        return ONYX_OK;
    }
    if (dtype_is_float(A->dtype)) {
        float *oa, *ob, *oc = NULL, *oy = NULL;
        const float *a = mm_as_f32(A, &oa), *b = mm_as_f32(B, &ob);
        const float *c = use_c ? mm_as_f32(C, &oc) : NULL;
        float *y = Y->data, *tmp = mm_alloc(K, sizeof *tmp);
        if (A->dtype != ONYX_FLOAT) y = oy = calloc((size_t)ny, sizeof *y);
        if (!a || !b || (use_c && !c) || !y || !tmp) {
            free(oa);
            free(ob);
            free(oc);
            free(oy);
            free(tmp);
            return k_fail(k, ONYX_E_NOMEM, "out of memory converting Gemm operands");
        }
        mm_f32(M, N, K, a, A->dims[1], ta, b, B->dims[1], tb, y, N, tmp);
        if (alpha != 1.0f || c || fused) {
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    y[i * N + j] = gemm_act_scalar(
                        act, p0, p1, alpha * y[i * N + j] + (c ? beta * c[i * ci + j * cj] : 0.0f));
        }
        if (oy) mm_store_half(Y, oy, ny);
        free(oa);
        free(ob);
        free(oc);
        free(oy);
        free(tmp);
        return ONYX_OK;
    }
    int64_t *a = mm_as_i64(A), *b = mm_as_i64(B), *c = use_c ? mm_as_i64(C) : NULL;
    uint64_t *acc = calloc((size_t)ny, sizeof *acc);
    if (!a || !b || (use_c && !c) || !acc) {
        free(a);
        free(b);
        free(c);
        free(acc);
        return k_fail(k, ONYX_E_NOMEM, "out of memory converting Gemm operands");
    }
    mm_int(M, N, K, a, A->dims[1], ta, b, B->dims[1], tb, acc, N);
    bool exact = alpha == 1.0f && (beta == 1.0f || !c);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            uint64_t v = acc[i * N + j];
            int64_t cv = c ? c[i * ci + j * cj] : 0;
            if (exact) {
                v += (uint64_t)cv;
            } else {
                double ab = Y->dtype == ONYX_UINT64 ? (double)v : (double)(int64_t)v;
                v = mm_int_from_f64(Y->dtype, alpha * ab + (double)beta * (double)cv);
            }
            mm_store_int(Y, i * N + j, v);
        }
    free(a);
    free(b);
    free(c);
    free(acc);
    return ONYX_OK;
}

static onyx_status op_gemm(onyx_kctx *k) { return gemm_op_run(k, GEMM_ACT_NONE, 0, 0); }

/* ---- quantized matrix products: the references (the operators are in qmatmul.c) ---- */

/* A scale or zero point of a matmul operand: a scalar, one value per row of A
 * (per column of B), either shared by every batch (1-D) or given per batch
 * (shape [batch..., M, 1] / [batch..., 1, N]). Element (matrix m, line l) is
 * v[m * mstride + l * lstride]; m indexes the operand's own matrices. */
typedef struct mm_qparam {
    double *v;
    int64_t mstride, lstride;
} mm_qparam;

static onyx_status mm_read_qparam(onyx_kctx *k, int idx, const char *what, const onyx_tensor *x,
                                  bool per_col, const mm_plan *p, mm_qparam *q)
{
    const onyx_tensor *t = k_input(k, idx);
    q->v = NULL;
    q->mstride = q->lstride = 0;
    if (!t) return ONYX_OK;
    if (t->kind != ONYX_KIND_TENSOR)
        return k_fail(k, ONYX_E_INVALID, "input %d (%s) must be a tensor", idx, what);
    int64_t n = tensor_numel_of(t->rank, t->dims);
    int64_t lines = per_col ? p->N : p->M;
    bool ok = n == 1;
    if (!ok && t->rank == 1 && t->dims[0] == lines) {
        ok = true;
        q->lstride = 1;
    }
    if (!ok && t->rank == x->rank && x->rank >= 2) {
        ok = true;
        for (int d = 0; d < x->rank - 2; d++) ok = ok && t->dims[d] == x->dims[d];
        int64_t r0 = t->dims[x->rank - 2], r1 = t->dims[x->rank - 1];
        ok = ok && (per_col ? r0 == 1 && r1 == p->N : r0 == p->M && r1 == 1);
        q->lstride = 1;
        q->mstride = lines;
    }
    if (!ok) {
        q->lstride = q->mstride = 0;
        return k_fail(k, ONYX_E_SHAPE,
                      "input %d (%s) must be a scalar or hold one value per %s (%lld), got %lld "
                      "elements with rank %d",
                      idx, what, per_col ? "column of B" : "row of A", (long long)lines,
                      (long long)n, t->rank);
    }
    q->v = mm_alloc(n, sizeof *q->v);
    if (!q->v) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) q->v[i] = k_get_f64(t, i);
    return ONYX_OK;
}

static double mm_q(const mm_qparam *q, int64_t m, int64_t l, double def)
{
    return q->v ? q->v[m * q->mstride + l * q->lstride] : def;
}

/* acc (M x N) = (A - a_zp) * (B - b_zp) in int32 arithmetic that wraps, for the
 * batch pair (ai, bi). bz is scratch for K*N int32. */
static void mm_qgemm(const mm_plan *p, const onyx_tensor *A, int64_t ai, const mm_qparam *azp,
                     const onyx_tensor *B, int64_t bi, const mm_qparam *bzp, int32_t *bz,
                     uint32_t *acc)
{
    int64_t M = p->M, K = p->K, N = p->N;
    bool as = A->dtype == ONYX_INT8, bs = B->dtype == ONYX_INT8;
    const uint8_t *a = (const uint8_t *)A->data + ai * M * K;
    const uint8_t *b = (const uint8_t *)B->data + bi * K * N;
    for (int64_t kk = 0; kk < K; kk++)
        for (int64_t j = 0; j < N; j++) {
            int32_t bv = bs ? (int8_t)b[kk * N + j] : b[kk * N + j];
            bz[kk * N + j] = bv - (int32_t)mm_q(bzp, bi, j, 0);
        }
    memset(acc, 0, (size_t)(M * N) * sizeof *acc);
    for (int64_t i = 0; i < M; i++) {
        int32_t z = (int32_t)mm_q(azp, ai, i, 0);
        uint32_t *cr = acc + i * N;
        for (int64_t kk = 0; kk < K; kk++) {
            int32_t av = (as ? (int8_t)a[i * K + kk] : a[i * K + kk]) - z;
            const int32_t *br = bz + kk * N;
            for (int64_t j = 0; j < N; j++) cr[j] += (uint32_t)(av * br[j]);
        }
    }
}

static onyx_status mm_check_zp(onyx_kctx *k, int idx, onyx_dtype want)
{
    const onyx_tensor *z = k_input(k, idx);
    if (!z) return ONYX_OK;
    return k_require(k, idx, want, ONYX_UNDEFINED);
}

onyx_status matmul_integer_reference(onyx_kctx *k)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED))) return st;
    if ((st = k_require(k, 1, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED))) return st;
    const onyx_tensor *A = k_input(k, 0), *B = k_input(k, 1);
    if ((st = mm_check_zp(k, 2, A->dtype)) || (st = mm_check_zp(k, 3, B->dtype))) return st;
    mm_plan p;
    if ((st = mm_make_plan(k, A, B, &p))) return st;
    onyx_tensor *Y = k_output(k, 0, ONYX_INT32, p.out_rank, p.out_dims);
    if (!Y) return k->err->code;
    mm_qparam azp, bzp = {0};
    if ((st = mm_read_qparam(k, 2, "a_zero_point", A, false, &p, &azp))) return st;
    if ((st = mm_read_qparam(k, 3, "b_zero_point", B, true, &p, &bzp))) {
        free(azp.v);
        return st;
    }
    int32_t *bz = mm_alloc(p.K * p.N, sizeof *bz);
    if (!bz) {
        free(azp.v);
        free(bzp.v);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    for (int64_t bt = 0; bt < p.nbatch; bt++) {
        int64_t ai, bi;
        mm_batch_index(&p, bt, &ai, &bi);
        mm_qgemm(&p, A, ai, &azp, B, bi, &bzp, bz, (uint32_t *)Y->data + bt * p.M * p.N);
    }
    free(bz);
    free(azp.v);
    free(bzp.v);
    return ONYX_OK;
}

onyx_status qlinear_matmul_reference(onyx_kctx *k)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED))) return st;
    if ((st = k_require(k, 3, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED))) return st;
    const onyx_tensor *A = k_input(k, 0), *B = k_input(k, 3), *yzp = k_input(k, 7);
    static const int scale_inputs[3] = {1, 4, 6};
    for (int i = 0; i < 3; i++)
        if ((st = k_require(k, scale_inputs[i], ONYX_FLOAT, ONYX_FLOAT16, ONYX_BFLOAT16,
                            ONYX_UNDEFINED)))
            return st;
    if ((st = mm_check_zp(k, 2, A->dtype)) || (st = mm_check_zp(k, 5, B->dtype))) return st;
    if (yzp && (st = k_require(k, 7, ONYX_UINT8, ONYX_INT8, ONYX_UNDEFINED))) return st;
    onyx_dtype yt = yzp ? yzp->dtype : ONYX_UINT8;
    const onyx_tensor *ys = k_input(k, 6);
    if (tensor_numel_of(ys->rank, ys->dims) != 1 ||
        (yzp && tensor_numel_of(yzp->rank, yzp->dims) != 1))
        return k_fail(k, ONYX_E_UNSUPPORTED,
                      "y_scale and y_zero_point must be scalars (per-tensor quantization)");
    mm_plan p;
    if ((st = mm_make_plan(k, A, B, &p))) return st;
    onyx_tensor *Y = k_output(k, 0, yt, p.out_rank, p.out_dims);
    if (!Y) return k->err->code;
    mm_qparam q[4] = {{0}};
    const char *names[4] = {"a_scale", "a_zero_point", "b_scale", "b_zero_point"};
    for (int i = 0; i < 4 && !st; i++)
        st = mm_read_qparam(k, i < 2 ? 1 + i : 2 + i, names[i], i < 2 ? A : B, i >= 2, &p, &q[i]);
    int32_t *bz = mm_alloc(p.K * p.N, sizeof *bz);
    uint32_t *acc = mm_alloc(p.M * p.N, sizeof *acc);
    if (!st && (!bz || !acc)) st = k_fail(k, ONYX_E_NOMEM, "out of memory");
    if (!st) {
        if (!q[0].v || !q[2].v) st = k_fail(k, ONYX_E_INVALID, "a_scale and b_scale are required");
    }
    if (!st) {
        float ysc = (float)k_get_f64(ys, 0);
        double yz = yzp ? k_get_f64(yzp, 0) : 0;
        double lo = yt == ONYX_UINT8 ? 0 : -128, hi = yt == ONYX_UINT8 ? 255 : 127;
        for (int64_t bt = 0; bt < p.nbatch; bt++) {
            int64_t ai, bi;
            mm_batch_index(&p, bt, &ai, &bi);
            mm_qgemm(&p, A, ai, &q[1], B, bi, &q[3], bz, acc);
            for (int64_t i = 0; i < p.M; i++)
                for (int64_t j = 0; j < p.N; j++) {
                    /* the multiplier is formed in float, as the reference does */
                    float m = (float)mm_q(&q[0], ai, i, 1) * (float)mm_q(&q[2], bi, j, 1) / ysc;
                    double v = rint((double)(int32_t)acc[i * p.N + j] * m + yz);
                    v = v < lo ? lo : v > hi ? hi : v;
                    k_set_f64(Y, bt * p.M * p.N + i * p.N + j, v != v ? lo : v);
                }
        }
    }
    for (int i = 0; i < 4; i++) free(q[i].v);
    free(bz);
    free(acc);
    return st;
}

/* ---- Einsum ----
 * Every label (letter, or one per broadcast dim of '...') gets a size; each
 * operand gets a stride per label (strides of repeated labels add up, which walks
 * the diagonal). The output labels are iterated outside, the summed labels inside. */
#define ES_LETTERS 52
#define ES_LABELS (ES_LETTERS + ONYX_MAX_RANK)
#define ES_MAX_OPS 64

static int es_letter(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
    return -1;
}

typedef struct es_term {
    int n; /* labels in the term, ellipsis expanded */
    int lab[ONYX_MAX_RANK];
} es_term;

/* Parses one comma-separated term of rank `rank` (-1 for the output). Ellipsis
 * dims are labels ES_LETTERS + i, right-aligned to the ell_rank broadcast dims. */
static onyx_status es_parse_term(onyx_kctx *k, const char *s, size_t len, int rank, int ell_rank,
                                 es_term *t, int *ell_here, const char *which)
{
    int letters = 0, ell = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.' || ell)
                return k_fail(k, ONYX_E_INVALID, "equation: malformed '...' in %s", which);
            ell = 1;
            i += 2;
        } else if (es_letter(s[i]) >= 0) {
            letters++;
        } else {
            return k_fail(k, ONYX_E_INVALID, "equation: unexpected character '%c' in %s", s[i],
                          which);
        }
    }
    *ell_here = ell;
    int n_ell;
    if (rank >= 0) {
        if (letters > rank || (!ell && letters != rank))
            return k_fail(k, ONYX_E_SHAPE, "equation: %s has %d labels but the input has rank %d",
                          which, letters, rank);
        n_ell = rank - letters;
    } else {
        n_ell = ell ? ell_rank : 0;
        if (letters + n_ell > ONYX_MAX_RANK)
            return k_fail(k, ONYX_E_LIMIT, "equation: output rank exceeds %d", ONYX_MAX_RANK);
    }
    t->n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            for (int e = 0; e < n_ell; e++) t->lab[t->n++] = ES_LETTERS + (ell_rank - n_ell) + e;
            i += 2;
        } else {
            t->lab[t->n++] = es_letter(s[i]);
        }
    }
    return ONYX_OK;
}

static onyx_status op_einsum(onyx_kctx *k)
{
    const char *eq_raw = k_attr_string(k, "equation", NULL);
    if (!eq_raw) return k_fail(k, ONYX_E_INVALID, "attribute 'equation' is required");
    int nops = k->n_inputs;
    if (nops < 1 || nops > ES_MAX_OPS)
        return k_fail(k, ONYX_E_INVALID, "Einsum needs 1..%d inputs (got %d)", ES_MAX_OPS, nops);
    onyx_status st = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                               ONYX_INT8, ONYX_UINT8, ONYX_INT16, ONYX_UINT16, ONYX_INT32,
                               ONYX_UINT32, ONYX_INT64, ONYX_UINT64, ONYX_UNDEFINED);
    if (st) return st;
    onyx_dtype dt = k_input(k, 0)->dtype;
    for (int o = 1; o < nops; o++)
        if ((st = k_require(k, o, dt, ONYX_UNDEFINED))) return st;

    /* the equation without blanks */
    size_t eqlen = strlen(eq_raw);
    char *eq = malloc(eqlen + 1);
    if (!eq) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < eqlen; i++)
        if (eq_raw[i] != ' ' && eq_raw[i] != '\t' && eq_raw[i] != '\n') eq[m++] = eq_raw[i];
    eq[m] = 0;
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : m;

    es_term *terms = calloc((size_t)nops + 1, sizeof *terms);
    double *fbuf[ES_MAX_OPS] = {0};
    int64_t *ibuf[ES_MAX_OPS] = {0};
    if (!terms) {
        free(eq);
        return k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    int ell_rank = 0, any_ell = 0;
    /* split the left side into terms and parse each against its input's rank */
    size_t pos = 0;
    for (int o = 0; o < nops && !st; o++) {
        size_t end = pos;
        while (end < lhs_len && eq[end] != ',') end++;
        if (o < nops - 1 && end >= lhs_len)
            st = k_fail(k, ONYX_E_INVALID, "equation has fewer terms than the %d inputs", nops);
        else if (o == nops - 1 && end != lhs_len)
            st = k_fail(k, ONYX_E_INVALID, "equation has more terms than the %d inputs", nops);
        if (st) break;
        int ell_here;
        char which[32];
        snprintf(which, sizeof which, "term %d", o);
        const onyx_tensor *x = k_input(k, o);
        /* ell_rank is not known yet: parse with the term's own ellipsis width,
         * then shift the ellipsis labels once the widest is known */
        st = es_parse_term(k, eq + pos, end - pos, x->rank, x->rank, &terms[o], &ell_here, which);
        if (!st && ell_here) {
            any_ell = 1;
            int letters = 0;
            for (size_t i = pos; i < end; i++) letters += es_letter(eq[i]) >= 0;
            if (x->rank - letters > ell_rank) ell_rank = x->rank - letters;
        }
        pos = end + 1;
    }
    int64_t size[ES_LABELS];
    int used[ES_LABELS] = {0}, count[ES_LABELS] = {0};
    for (int l = 0; l < ES_LABELS; l++) size[l] = -1;
    if (!st) {
        /* re-align ellipsis labels to the widest ellipsis, then size every label */
        for (int o = 0; o < nops && !st; o++) {
            const onyx_tensor *x = k_input(k, o);
            es_term *t = &terms[o];
            for (int i = 0; i < t->n; i++) {
                if (t->lab[i] >= ES_LETTERS) t->lab[i] += ell_rank - x->rank;
                int l = t->lab[i];
                int64_t d = x->dims[i];
                used[l] = 1;
                count[l]++;
                if (l >= ES_LETTERS) {
                    /* ellipsis dims broadcast */
                    if (size[l] < 0 || size[l] == 1)
                        size[l] = d;
                    else if (d != 1 && d != size[l])
                        st = k_fail(
                            k, ONYX_E_SHAPE,
                            "equation: '...' dims of input %d do not broadcast (%lld vs %lld)", o,
                            (long long)d, (long long)size[l]);
                } else if (size[l] < 0) {
                    size[l] = d;
                } else if (size[l] != d) {
                    st = k_fail(k, ONYX_E_SHAPE,
                                "equation: label '%c' has size %lld in input %d but %lld elsewhere",
                                l < 26 ? 'A' + l : 'a' + (l - 26), (long long)d, o,
                                (long long)size[l]);
                }
            }
        }
    }
    es_term *out = &terms[nops];
    if (!st) {
        if (arrow) {
            int ell_here;
            st = es_parse_term(k, arrow + 2, strlen(arrow + 2), -1, ell_rank, out, &ell_here,
                               "the output");
            int seen[ES_LABELS] = {0};
            for (int i = 0; i < out->n && !st; i++) {
                int l = out->lab[i];
                if (l < ES_LETTERS && !used[l])
                    st =
                        k_fail(k, ONYX_E_INVALID, "equation: output label '%c' is not in any input",
                               l < 26 ? 'A' + l : 'a' + (l - 26));
                else if (seen[l]++)
                    st = k_fail(k, ONYX_E_INVALID, "equation: output repeats a label");
            }
        } else {
            /* implicit output: broadcast dims, then labels seen once, alphabetically */
            out->n = 0;
            if (any_ell)
                for (int e = 0; e < ell_rank; e++) out->lab[out->n++] = ES_LETTERS + e;
            for (int l = 0; l < ES_LETTERS && !st; l++) {
                if (count[l] != 1) continue;
                if (out->n >= ONYX_MAX_RANK)
                    st = k_fail(k, ONYX_E_LIMIT, "equation: output rank exceeds %d", ONYX_MAX_RANK);
                else
                    out->lab[out->n++] = l;
            }
        }
    }
    onyx_tensor *Y = NULL;
    int64_t odims[ONYX_MAX_RANK];
    if (!st) {
        for (int i = 0; i < out->n; i++) odims[i] = size[out->lab[i]] < 0 ? 1 : size[out->lab[i]];
        Y = k_output(k, 0, dt, out->n, odims);
        if (!Y) st = k->err->code;
    }
    /* loop order: output labels, then the summed ones */
    int loop_lab[ES_LABELS], nloop = 0, nout = out->n;
    int64_t str[ES_MAX_OPS][ES_LABELS];
    int64_t total = 1;
    if (!st) {
        int in_out[ES_LABELS] = {0};
        for (int i = 0; i < out->n; i++) {
            loop_lab[nloop++] = out->lab[i];
            in_out[out->lab[i]] = 1;
        }
        for (int l = 0; l < ES_LABELS; l++)
            if (used[l] && !in_out[l]) loop_lab[nloop++] = l;
        for (int i = 0; i < nloop; i++) {
            int64_t s = size[loop_lab[i]] < 0 ? 1 : size[loop_lab[i]];
            if (s == 0)
                total = 0;
            else if (total > INT64_MAX / s)
                st = k_fail(k, ONYX_E_LIMIT, "Einsum iteration space overflows");
            else
                total *= s;
        }
        for (int o = 0; o < nops && !st; o++) {
            const onyx_tensor *x = k_input(k, o);
            int64_t xs[ONYX_MAX_RANK], s = 1;
            for (int d = x->rank - 1; d >= 0; d--) {
                xs[d] = s;
                s *= x->dims[d];
            }
            int64_t per_label[ES_LABELS] = {0};
            for (int i = 0; i < terms[o].n; i++)
                if (x->dims[i] != 1 || size[terms[o].lab[i]] == 1)
                    per_label[terms[o].lab[i]] += xs[i];
            for (int i = 0; i < nloop; i++) str[o][i] = per_label[loop_lab[i]];
        }
    }
    bool is_float = dtype_is_float(dt);
    for (int o = 0; o < nops && !st && total > 0; o++) {
        const onyx_tensor *x = k_input(k, o);
        int64_t n = tensor_numel_of(x->rank, x->dims);
        if (is_float) {
            fbuf[o] = mm_alloc(n, sizeof(double));
            if (fbuf[o])
                for (int64_t i = 0; i < n; i++) fbuf[o][i] = k_get_f64(x, i);
        } else {
            ibuf[o] = mm_as_i64(x);
        }
        if (!fbuf[o] && !ibuf[o]) st = k_fail(k, ONYX_E_NOMEM, "out of memory");
    }
    if (!st && total > 0) {
        int64_t ny = tensor_numel_of(nout, odims);
        int64_t inner = ny ? total / ny : 0; /* summed combinations per output element */
        int64_t idx[ES_LABELS] = {0}, off[ES_MAX_OPS] = {0};
        for (int64_t e = 0; e < ny; e++) {
            double fs = 0;
            uint64_t is = 0;
            for (int64_t r = 0; r < inner; r++) {
                if (is_float) {
                    double pr = fbuf[0][off[0]];
                    for (int o = 1; o < nops; o++) pr *= fbuf[o][off[o]];
                    fs += pr;
                } else {
                    uint64_t pr = (uint64_t)ibuf[0][off[0]];
                    for (int o = 1; o < nops; o++) pr *= (uint64_t)ibuf[o][off[o]];
                    is += pr;
                }
                /* advance the odometer (summed labels are innermost, so after
                 * `inner` steps it has moved to the next output element) */
                for (int i = nloop - 1; i >= 0; i--) {
                    int64_t s = size[loop_lab[i]] < 0 ? 1 : size[loop_lab[i]];
                    for (int o = 0; o < nops; o++) off[o] += str[o][i];
                    if (++idx[i] < s) break;
                    for (int o = 0; o < nops; o++) off[o] -= str[o][i] * s;
                    idx[i] = 0;
                }
            }
            if (is_float)
                k_set_f64(Y, e, fs);
            else
                mm_store_int(Y, e, is);
        }
    }
    for (int o = 0; o < nops; o++) {
        free(fbuf[o]);
        free(ibuf[o]);
    }
    free(terms);
    free(eq);
    return st;
}

/* ---- Det: LU decomposition with partial pivoting, per matrix ---- */
static onyx_status op_det(onyx_kctx *k)
{
    onyx_status st =
        k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED);
    if (st) return st;
    const onyx_tensor *X = k_input(k, 0);
    if (X->rank < 2 || X->dims[X->rank - 1] != X->dims[X->rank - 2])
        return k_fail(k, ONYX_E_SHAPE, "input must be [..., M, M] (rank %d, last dims %lld x %lld)",
                      X->rank, X->rank >= 2 ? (long long)X->dims[X->rank - 2] : 0LL,
                      X->rank >= 1 ? (long long)X->dims[X->rank - 1] : 0LL);
    int64_t n = X->dims[X->rank - 1];
    onyx_tensor *Y = k_output(k, 0, X->dtype, X->rank - 2, X->dims);
    if (!Y) return k->err->code;
    int64_t nb = tensor_numel_of(X->rank - 2, X->dims);
    if (nb == 0) return ONYX_OK;
    double *a = mm_alloc(n * n, sizeof *a);
    if (!a) return k_fail(k, ONYX_E_NOMEM, "out of memory");
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t i = 0; i < n * n; i++) a[i] = k_get_f64(X, b * n * n + i);
        double det = 1;
        for (int64_t c = 0; c < n; c++) {
            int64_t piv = c;
            for (int64_t r = c + 1; r < n; r++)
                if (fabs(a[r * n + c]) > fabs(a[piv * n + c])) piv = r;
            if (a[piv * n + c] == 0) {
                det = 0;
                break;
            }
            if (piv != c) {
                for (int64_t j = 0; j < n; j++) {
                    double t = a[c * n + j];
                    a[c * n + j] = a[piv * n + j];
                    a[piv * n + j] = t;
                }
                det = -det;
            }
            double p = a[c * n + c];
            det *= p;
            for (int64_t r = c + 1; r < n; r++) {
                double f = a[r * n + c] / p;
                for (int64_t j = c + 1; j < n; j++) a[r * n + j] -= f * a[c * n + j];
            }
        }
        k_set_f64(Y, b, det);
    }
    free(a);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_matmul[] = {
    {"", "MatMul", op_matmul, matmul_prepare, matmul_release},
    {"", "Gemm", op_gemm, gemm_op_prepare, matmul_release},
    {"", "Einsum", op_einsum},
    {"", "Det", op_det},
    {0},
};
