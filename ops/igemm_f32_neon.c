/* igemm_f32_neon.c - the NHWC convolution microkernels for aarch64 Advanced
 * SIMD: 8 x 8 tiles (16 of the 32 q registers as accumulators), a narrow
 * 8 x 4 strip, depthwise rows with 3x3 and 5x5 weights in registers, pools
 * (ops/igemm_impl.h over simd_math.h's NEON layer, vectorized activations
 * included). */
#if defined(__aarch64__)
#define SIMD_NEON
#define IGEMM_MR 8
#define IGEMM_TABLE igemm_f32_neon
#define IGEMM_NAME "igemm_f32_8x8_neon"
#include "simd_math.h"
#include "igemm_impl.h"
#else
typedef int igemm_neon_unused; /* an empty translation unit is not valid C */
#endif
