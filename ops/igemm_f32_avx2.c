/* igemm_f32_avx2.c - the NHWC convolution microkernels for AVX2+FMA:
 * 6 x 16 tiles, 12 ymm accumulators (ops/igemm_impl.h), and the Winograd
 * transforms on 8-float vectors (ops/winograd_impl.h). */
#if defined(__x86_64__)
#define SIMD_AVX2
#define IGEMM_MR 6
#define IGEMM_TABLE igemm_f32_avx2
#define IGEMM_NAME "igemm_f32_6x16_avx2"
#include "simd_math.h"
#include "igemm_impl.h"

#define WINO_LANES 8
#define WINO_TARGET SIMD_TARGET
#define WINO_TABLE wino_f32_avx2
#include "winograd_impl.h"
#endif
