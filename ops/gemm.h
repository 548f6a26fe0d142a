/* gemm.h - the float32 matrix product every dense operator runs on.
 *
 * C[m x n] = epilogue(A[m x k] * B[k x n]). The product is cut into MR x NR
 * tiles computed by a register-blocked microkernel from packed panels:
 *   packed A: ceil(m/MR) panels; panel i holds rows i*MR.. as k groups of MR
 *             floats (p-major), rows past m zero;
 *   packed B: ceil(n/NR) panels; panel j holds columns j*NR.. as k groups of NR
 *             floats, columns past n zero.
 * Constant operands (weights) are packed once, when a session is created; the
 * other operand is packed per call into a scratch the caller keeps between calls.
 * The epilogue (scale, bias, residual, activation) is applied to each tile right
 * after its last depth block, while the tile is still in L1.
 *
 * MR and NR belong to the microkernel, so a packed buffer is only valid for the
 * gemm_ukernel it was packed for.
 */
#ifndef ONYX_GEMM_H
#define ONYX_GEMM_H

#include "kernel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum gemm_act {
    GEMM_ACT_NONE = 0,
    GEMM_ACT_RELU,
    GEMM_ACT_CLIP,        /* p0 = min, p1 = max */
    GEMM_ACT_LEAKY_RELU,  /* p0 = alpha */
    GEMM_ACT_HARD_SWISH,
    GEMM_ACT_HARD_SIGMOID, /* p0 = alpha, p1 = beta */
    GEMM_ACT_SIGMOID,
    GEMM_ACT_SILU,
    GEMM_ACT_TANH,
    GEMM_ACT_GELU         /* erf form */
} gemm_act;

/* y = act(alpha * acc + row_bias[i] + col_bias[j] + z[i*ldz + zmap(j)]) */
typedef struct gemm_epilogue {
    float alpha;            /* 1 for a plain product */
    const float *row_bias;  /* NULL or m values (conv bias: one per output channel) */
    const float *col_bias;  /* NULL or n values (Gemm/MatMul bias) */
    const float *z;         /* NULL or a residual laid out like C (same column map) */
    int64_t ldz;
    gemm_act act;
    float p0, p1;
} gemm_epilogue;

/* One microkernel and its helpers for one ISA. */
typedef struct gemm_ukernel {
    const char *name;
    onyx_isa isa;
    int mr, nr;
    /* c[MR x NR] (row stride ldc) = (accumulate ? c : 0) + a-panel * b-panel over kc */
    void (*tile)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, bool accumulate);
    /* dst[j] = act(alpha*src[j] + rb + cb[j] + z[j]) for j < n (cb, z may be NULL);
     * src may equal dst */
    void (*row_final)(const gemm_epilogue *ep, float *dst, const float *src, int64_t n, float rb,
                      const float *cb, const float *z);
    /* One output row of a depthwise conv: dst[j] = bias + sum_t w[t] * src[t][j]
     * for j < n (src[t] is the input row under tap t, already shifted). */
    void (*dw_row)(const float *const *src, const float *w, int taps, float bias, float *dst,
                   int64_t n);
} gemm_ukernel;

/* The best microkernel allowed by onyx_cpu_info() (chosen once per caller). */
const gemm_ukernel *gemm_ukernel_best(void);
/* The microkernel for exactly this ISA, or NULL when not compiled in / not
 * supported by this CPU (for tests that cover every path). */
const gemm_ukernel *gemm_ukernel_for_isa(onyx_isa isa);

/* Per-ISA tables (gemm_f32_*.c); NULL-named entries where not compiled. */
extern const gemm_ukernel gemm_f32_generic;
#if defined(__x86_64__)
extern const gemm_ukernel gemm_f32_6x16_avx2;
extern const gemm_ukernel gemm_f32_8x32_avx512;
#endif
#if defined(__aarch64__)
extern const gemm_ukernel gemm_f32_8x12_neon;
#endif
/* Scalar epilogue shared by all ISAs (and the vector ones for transcendental
 * activations). */
void gemm_row_final_scalar(const gemm_epilogue *ep, float *dst, const float *src, int64_t n,
                           float rb, const float *cb, const float *z);
void gemm_dw_row_scalar(const float *const *src, const float *w, int taps, float bias, float *dst,
                        int64_t n);
/* Scalar activation, the same formula as the standalone operators. */
float gemm_act_scalar(gemm_act act, float p0, float p1, float v);

/* ---- operands ---- */

/* A: packed (from gemm_pack_a), or element (i, p) at data[i*rs + p*cs]. */
typedef struct gemm_a {
    const float *packed;
    const float *data;
    int64_t rs, cs;
} gemm_a;

/* B: packed, or row p starting at data + (row_off ? row_off[p] : p*rs) with
 * element (p, j) at that + j*cs. Row offsets let a convolution read shifted
 * windows of one padded image as the rows of its im2col matrix without
 * building it. */
typedef struct gemm_b {
    const float *packed;
    const float *data;
    int64_t rs, cs;
    const int64_t *row_off;
} gemm_b;

/* C: column j of row i lives at c + i*ldc + (j / pitch)*width + j % pitch, and
 * only columns with j % pitch < width exist (pitch = width = n for a plain
 * matrix). Convolutions computed over a padded row pitch drop the extra
 * columns this way on store. */
typedef struct gemm_c {
    float *data;
    int64_t ldc, pitch, width;
} gemm_c;

size_t gemm_packed_a_floats(const gemm_ukernel *uk, int64_t m, int64_t k);
size_t gemm_packed_b_floats(const gemm_ukernel *uk, int64_t k, int64_t n);
/* Packing a constant operand: element (i, p) of A at a[i*rs + p*cs], element
 * (p, j) of B at b[p*rs + j*cs], in floats; a and b may be unaligned (the bytes
 * of a weight where they lie in the model file, k_input_unaligned). */
void gemm_pack_a(const gemm_ukernel *uk, int64_t m, int64_t k, const void *a, int64_t rs,
                 int64_t cs, float *dst);
void gemm_pack_b(const gemm_ukernel *uk, int64_t k, int64_t n, const void *b, int64_t rs,
                 int64_t cs, float *dst);

/* A growable buffer (the session's shared scratch, ops/kernel.h k_scratch, or
 * one the caller keeps); grows, never shrinks. */
typedef k_scratch_buf gemm_scratch;
void gemm_scratch_free(gemm_scratch *s);
/* Makes s hold at least n floats (64-byte aligned); false on out of memory. */
bool gemm_scratch_reserve(gemm_scratch *s, size_t n);

/* C = epilogue(A * B). k may be NULL (one thread). Returns false only when the
 * scratch cannot grow (out of memory). The result does not depend on the
 * number of threads. */
bool gemm_f32(const onyx_kctx *k, const gemm_ukernel *uk, int64_t m, int64_t n, int64_t kd,
              const gemm_a *a, const gemm_b *b, const gemm_c *c, const gemm_epilogue *ep,
              gemm_scratch *scratch);

/* Parses the fused operators' activation / activation_params attributes. */
onyx_status gemm_act_from_attrs(onyx_kctx *k, gemm_act *act, float *p0, float *p1);

#endif
