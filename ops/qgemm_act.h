/* qgemm_act.h - the quantized epilogues' activations in vector form, for the
 * ISA that simd_math.h was included for (ops/qgemm_avx512.c, qgemm_avx2.c).
 * The same formulas as gemm_act_scalar; exp-based ones from simd_math.h. */
#ifndef ONYX_QGEMM_ACT_H
#define ONYX_QGEMM_ACT_H

SIMD_FN vf qgemm_act_vec(const qgemm_out *o, vf v)
{
    switch (o->act) {
    case GEMM_ACT_RELU: return vf_max(v, vf_zero());
    case GEMM_ACT_CLIP: return vf_min(vf_max(v, vf_set1(o->p0)), vf_set1(o->p1));
    case GEMM_ACT_LEAKY_RELU: return vf_select(vf_lt(v, vf_zero()), v, vf_mul(v, vf_set1(o->p0)));
    case GEMM_ACT_HARD_SWISH: {
        vf h = vf_fmadd(v, vf_set1(1.0f / 6.0f), vf_set1(0.5f));
        return vf_mul(v, vf_min(vf_max(h, vf_zero()), vf_set1(1.0f)));
    }
    case GEMM_ACT_HARD_SIGMOID: {
        vf h = vf_fmadd(v, vf_set1(o->p0), vf_set1(o->p1));
        return vf_min(vf_max(h, vf_zero()), vf_set1(1.0f));
    }
    case GEMM_ACT_SIGMOID: return vf_sigmoid(v);
    case GEMM_ACT_SILU: return vf_mul(v, vf_sigmoid(v));
    case GEMM_ACT_TANH: return vf_tanh(v);
    case GEMM_ACT_GELU: return vf_gelu(v);
    default: return v;
    }
}

#endif
