/* gemm_f32_neon.c - the 8 x 12 NEON microkernel and its epilogue (aarch64 only).
 *
 * 24 q-register accumulators (8 rows x 3 vectors of 4). Each depth step loads
 * three vectors of B and two of A, and multiplies by A's lanes directly
 * (fmla by element), so no broadcasts are needed: 24 FMAs for 5 loads, with
 * 29 of the 32 vector registers in use.
 */
#include "gemm.h"

#if defined(__aarch64__)
#define SIMD_NEON
#include "simd_math.h"

static void gemm_f32_8x12_neon_tile(int64_t kc, const float *a, const float *b, float *c,
                                    int64_t ldc, bool accumulate)
{
    float32x4_t c00 = vdupq_n_f32(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    float32x4_t c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    float32x4_t c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    float32x4_t c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    for (int64_t p = 0; p < kc; p++) {
        float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        c00 = vfmaq_laneq_f32(c00, b0, a0, 0);
        c01 = vfmaq_laneq_f32(c01, b1, a0, 0);
        c02 = vfmaq_laneq_f32(c02, b2, a0, 0);
        c10 = vfmaq_laneq_f32(c10, b0, a0, 1);
        c11 = vfmaq_laneq_f32(c11, b1, a0, 1);
        c12 = vfmaq_laneq_f32(c12, b2, a0, 1);
        c20 = vfmaq_laneq_f32(c20, b0, a0, 2);
        c21 = vfmaq_laneq_f32(c21, b1, a0, 2);
        c22 = vfmaq_laneq_f32(c22, b2, a0, 2);
        c30 = vfmaq_laneq_f32(c30, b0, a0, 3);
        c31 = vfmaq_laneq_f32(c31, b1, a0, 3);
        c32 = vfmaq_laneq_f32(c32, b2, a0, 3);
        c40 = vfmaq_laneq_f32(c40, b0, a1, 0);
        c41 = vfmaq_laneq_f32(c41, b1, a1, 0);
        c42 = vfmaq_laneq_f32(c42, b2, a1, 0);
        c50 = vfmaq_laneq_f32(c50, b0, a1, 1);
        c51 = vfmaq_laneq_f32(c51, b1, a1, 1);
        c52 = vfmaq_laneq_f32(c52, b2, a1, 1);
        c60 = vfmaq_laneq_f32(c60, b0, a1, 2);
        c61 = vfmaq_laneq_f32(c61, b1, a1, 2);
        c62 = vfmaq_laneq_f32(c62, b2, a1, 2);
        c70 = vfmaq_laneq_f32(c70, b0, a1, 3);
        c71 = vfmaq_laneq_f32(c71, b1, a1, 3);
        c72 = vfmaq_laneq_f32(c72, b2, a1, 3);
        a += 8;
        b += 12;
    }
#define STORE_ROW(i, r0, r1, r2)                                                  \
    do {                                                                          \
        float *cr = c + (i) * ldc;                                                \
        if (accumulate) {                                                         \
            r0 = vaddq_f32(r0, vld1q_f32(cr));                                    \
            r1 = vaddq_f32(r1, vld1q_f32(cr + 4));                                \
            r2 = vaddq_f32(r2, vld1q_f32(cr + 8));                                \
        }                                                                         \
        vst1q_f32(cr, r0);                                                        \
        vst1q_f32(cr + 4, r1);                                                    \
        vst1q_f32(cr + 8, r2);                                                    \
    } while (0)
    STORE_ROW(0, c00, c01, c02);
    STORE_ROW(1, c10, c11, c12);
    STORE_ROW(2, c20, c21, c22);
    STORE_ROW(3, c30, c31, c32);
    STORE_ROW(4, c40, c41, c42);
    STORE_ROW(5, c50, c51, c52);
    STORE_ROW(6, c60, c61, c62);
    STORE_ROW(7, c70, c71, c72);
#undef STORE_ROW
}

#define GEMM_ROW_FINAL gemm_f32_neon_row_final
#include "gemm_epilogue_impl.h"

/* Two vectors of outputs per pass over the taps, the sums kept in registers. */
static void conv_dw_row_neon(const float *const *src, const float *w, int taps, float bias,
                             float *dst, int64_t n)
{
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        float32x4_t a0 = vdupq_n_f32(bias), a1 = a0;
        for (int t = 0; t < taps; t++) {
            a0 = vfmaq_n_f32(a0, vld1q_f32(src[t] + j), w[t]);
            a1 = vfmaq_n_f32(a1, vld1q_f32(src[t] + j + 4), w[t]);
        }
        vst1q_f32(dst + j, a0);
        vst1q_f32(dst + j + 4, a1);
    }
    for (; j < n; j++) {
        float a = bias;
        for (int t = 0; t < taps; t++) a += w[t] * src[t][j];
        dst[j] = a;
    }
}

const gemm_ukernel gemm_f32_8x12_neon = {"gemm_f32_8x12_neon", ONYX_ISA_NEON, 8, 12,
                                         gemm_f32_8x12_neon_tile, gemm_f32_neon_row_final,
                                         conv_dw_row_neon};
#endif
