/* gemm_f32_avx2.c - the 6 x 16 AVX2+FMA microkernel and its epilogue.
 *
 * 12 ymm accumulators (6 rows x 2 vectors of 8): each depth step loads two
 * vectors of B and broadcasts six values of A for 12 FMAs, enough independent
 * chains to cover the FMA latency on two pipes while leaving registers for
 * the operands.
 */
#include "gemm.h"

#if defined(__x86_64__)
#define SIMD_AVX2
#include "simd_math.h"

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static void gemm_f32_6x16_avx2_tile(int64_t kc, const float *a, const float *b, float *c,
                                         int64_t ldc, bool accumulate)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 av = _mm256_broadcast_ss(a);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(av, b0, c10);
        c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(av, b0, c20);
        c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(av, b0, c30);
        c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(av, b0, c40);
        c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(av, b0, c50);
        c51 = _mm256_fmadd_ps(av, b1, c51);
        a += 6;
        b += 16;
    }
#define STORE_ROW(i, r0, r1)                                                    \
    do {                                                                        \
        float *cr = c + (i) * ldc;                                              \
        if (accumulate) {                                                       \
            r0 = _mm256_add_ps(r0, _mm256_loadu_ps(cr));                        \
            r1 = _mm256_add_ps(r1, _mm256_loadu_ps(cr + 8));                    \
        }                                                                       \
        _mm256_storeu_ps(cr, r0);                                               \
        _mm256_storeu_ps(cr + 8, r1);                                           \
    } while (0)
    STORE_ROW(0, c00, c01);
    STORE_ROW(1, c10, c11);
    STORE_ROW(2, c20, c21);
    STORE_ROW(3, c30, c31);
    STORE_ROW(4, c40, c41);
    STORE_ROW(5, c50, c51);
#undef STORE_ROW
}

#define GEMM_ROW_FINAL gemm_f32_avx2_row_final
#include "gemm_epilogue_impl.h"

/* Two vectors of outputs per pass over the taps, the sums kept in registers. */
AVX2 static void conv_dw_row_avx2(const float *const *src, const float *w, int taps, float bias,
                                  float *dst, int64_t n)
{
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m256 a0 = _mm256_set1_ps(bias), a1 = a0;
        for (int t = 0; t < taps; t++) {
            __m256 wt = _mm256_broadcast_ss(w + t);
            a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(src[t] + j), a0);
            a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(src[t] + j + 8), a1);
        }
        _mm256_storeu_ps(dst + j, a0);
        _mm256_storeu_ps(dst + j + 8, a1);
    }
    for (; j + 8 <= n; j += 8) {
        __m256 a0 = _mm256_set1_ps(bias);
        for (int t = 0; t < taps; t++)
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(w + t), _mm256_loadu_ps(src[t] + j), a0);
        _mm256_storeu_ps(dst + j, a0);
    }
    for (; j < n; j++) {
        float a = bias;
        for (int t = 0; t < taps; t++) a += w[t] * src[t][j];
        dst[j] = a;
    }
}

const gemm_ukernel gemm_f32_6x16_avx2 = {"gemm_f32_6x16_avx2", ONYX_ISA_AVX2, 6, 16,
                                         gemm_f32_6x16_avx2_tile, gemm_f32_avx2_row_final,
                                         conv_dw_row_avx2};
#endif
