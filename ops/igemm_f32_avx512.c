/* igemm_f32_avx512.c - the NHWC convolution microkernels for AVX-512:
 * 8 x 32 tiles, 16 zmm accumulators (ops/igemm_impl.h), and the Winograd
 * transforms on 16-float vectors (ops/winograd_impl.h). */
#if defined(__x86_64__)
#define SIMD_AVX512
#define IGEMM_MR 8
#define IGEMM_TABLE igemm_f32_avx512
#define IGEMM_NAME "igemm_f32_8x32_avx512"
#include "simd_math.h"
#include "igemm_impl.h"

#define WINO_LANES 16
#define WINO_TARGET SIMD_TARGET
#define WINO_TABLE wino_f32_avx512
#include "winograd_impl.h"
#endif
