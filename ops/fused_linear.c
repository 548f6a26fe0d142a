/* fused_linear.c - the ai.onyx fused linear operators (docs/fused_ops.md):
 * FusedConv, FusedGemm and FusedMatMul. Each is its standard operator with the
 * bias, residual and activation applied by the GEMM epilogue while the output
 * tile is still in cache; without a prepared state (or for shapes the fast
 * path does not take) they run the reference kernel followed by a scalar pass,
 * which is the oracle the fast path is tested against. */
#include "conv_fast.h"
#include "matmul_fast.h"

static onyx_status op_fused_conv(onyx_kctx *k)
{
    gemm_act act;
    float p0, p1;
    onyx_status st = gemm_act_from_attrs(k, &act, &p0, &p1);
    return st ? st : conv_run(k, 3, act, p0, p1);
}

static onyx_status op_fused_gemm(onyx_kctx *k)
{
    gemm_act act;
    float p0, p1;
    onyx_status st = gemm_act_from_attrs(k, &act, &p0, &p1);
    return st ? st : gemm_op_run(k, act, p0, p1);
}

static onyx_status op_fused_matmul(onyx_kctx *k)
{
    gemm_act act;
    float p0, p1;
    onyx_status st = gemm_act_from_attrs(k, &act, &p0, &p1);
    return st ? st : matmul_run(k, 2, 3, act, p0, p1);
}

const onyx_op_def onyx_ops_fused_linear[] = {
    {"ai.onyx", "FusedConv", op_fused_conv, conv_prepare, conv_release},
    {"ai.onyx", "FusedGemm", op_fused_gemm, gemm_op_prepare, matmul_release},
    {"ai.onyx", "FusedMatMul", op_fused_matmul, matmul_prepare, matmul_release},
    {0},
};
