/* matmul_fast.h - the float MatMul and Gemm entry points that the standard
 * operators (ops/matmul.c) and the fused ai.onyx FusedMatMul / FusedGemm
 * (ops/fused_linear.c) share. */
#ifndef ONYX_MATMUL_FAST_H
#define ONYX_MATMUL_FAST_H

#include "gemm.h"

/* Pack a constant float32 B (input 1) once; the state also keeps the GEMM
 * scratch. prepare never fails on odd inputs: run() reports them. */
onyx_status matmul_prepare(onyx_kctx *k, void **state);
onyx_status gemm_op_prepare(onyx_kctx *k, void **state);
void matmul_release(void *state);
/* Y = act(A x B + bias + Z): bias_input / z_input are input indices or -1. */
onyx_status matmul_run(onyx_kctx *k, int bias_input, int z_input, gemm_act act, float p0, float p1);
/* Y = act(alpha * op(A) op(B) + beta * C). */
onyx_status gemm_op_run(onyx_kctx *k, gemm_act act, float p0, float p1);

#endif
