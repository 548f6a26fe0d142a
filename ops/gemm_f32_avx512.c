/* gemm_f32_avx512.c - the 8 x 32 AVX-512 microkernel and its epilogue.
 *
 * 16 zmm accumulators (8 rows x 2 vectors of 16). Eight rows divide the
 * channel counts of common CNNs (16, 24, 32, 64, 96, 144, ...) so the edge
 * tiles waste little; 16 independent FMA chains cover the latency on cores
 * that issue one or two 512-bit FMAs per cycle.
 */
#include "gemm.h"

#if defined(__x86_64__)
#define SIMD_AVX512
#include "simd_math.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))

AVX512 static void gemm_f32_8x32_avx512_tile(int64_t kc, const float *a, const float *b, float *c,
                                             int64_t ldc, bool accumulate)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        __m512 av = _mm512_set1_ps(a[0]);
        c00 = _mm512_fmadd_ps(av, b0, c00);
        c01 = _mm512_fmadd_ps(av, b1, c01);
        av = _mm512_set1_ps(a[1]);
        c10 = _mm512_fmadd_ps(av, b0, c10);
        c11 = _mm512_fmadd_ps(av, b1, c11);
        av = _mm512_set1_ps(a[2]);
        c20 = _mm512_fmadd_ps(av, b0, c20);
        c21 = _mm512_fmadd_ps(av, b1, c21);
        av = _mm512_set1_ps(a[3]);
        c30 = _mm512_fmadd_ps(av, b0, c30);
        c31 = _mm512_fmadd_ps(av, b1, c31);
        av = _mm512_set1_ps(a[4]);
        c40 = _mm512_fmadd_ps(av, b0, c40);
        c41 = _mm512_fmadd_ps(av, b1, c41);
        av = _mm512_set1_ps(a[5]);
        c50 = _mm512_fmadd_ps(av, b0, c50);
        c51 = _mm512_fmadd_ps(av, b1, c51);
        av = _mm512_set1_ps(a[6]);
        c60 = _mm512_fmadd_ps(av, b0, c60);
        c61 = _mm512_fmadd_ps(av, b1, c61);
        av = _mm512_set1_ps(a[7]);
        c70 = _mm512_fmadd_ps(av, b0, c70);
        c71 = _mm512_fmadd_ps(av, b1, c71);
        a += 8;
        b += 32;
    }
#define STORE_ROW(i, r0, r1)                                                    \
    do {                                                                        \
        float *cr = c + (i) * ldc;                                              \
        if (accumulate) {                                                       \
            r0 = _mm512_add_ps(r0, _mm512_loadu_ps(cr));                        \
            r1 = _mm512_add_ps(r1, _mm512_loadu_ps(cr + 16));                   \
        }                                                                       \
        _mm512_storeu_ps(cr, r0);                                               \
        _mm512_storeu_ps(cr + 16, r1);                                          \
    } while (0)
    STORE_ROW(0, c00, c01);
    STORE_ROW(1, c10, c11);
    STORE_ROW(2, c20, c21);
    STORE_ROW(3, c30, c31);
    STORE_ROW(4, c40, c41);
    STORE_ROW(5, c50, c51);
    STORE_ROW(6, c60, c61);
    STORE_ROW(7, c70, c71);
#undef STORE_ROW
}

#define GEMM_ROW_FINAL gemm_f32_avx512_row_final
#include "gemm_epilogue_impl.h"

/* Two vectors of outputs per pass over the taps, the sums kept in registers;
 * the row's tail is masked. */
AVX512 static void conv_dw_row_avx512(const float *const *src, const float *w, int taps, float bias,
                                      float *dst, int64_t n)
{
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
        __m512 a0 = _mm512_set1_ps(bias), a1 = a0;
        for (int t = 0; t < taps; t++) {
            __m512 wt = _mm512_set1_ps(w[t]);
            a0 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(src[t] + j), a0);
            a1 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(src[t] + j + 16), a1);
        }
        _mm512_storeu_ps(dst + j, a0);
        _mm512_storeu_ps(dst + j + 16, a1);
    }
    for (; j < n; j += 16) {
        __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1);
        __m512 a0 = _mm512_set1_ps(bias);
        for (int t = 0; t < taps; t++)
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_maskz_loadu_ps(m, src[t] + j), a0);
        _mm512_mask_storeu_ps(dst + j, m, a0);
    }
}

const gemm_ukernel gemm_f32_8x32_avx512 = {"gemm_f32_8x32_avx512", ONYX_ISA_AVX512, 8, 32,
                                           gemm_f32_8x32_avx512_tile, gemm_f32_avx512_row_final,
                                           conv_dw_row_avx512};
#endif
