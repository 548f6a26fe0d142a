/* igemm_f32_avx512.c - the NHWC convolution microkernels for AVX-512:
 * 8 x 32 tiles, 16 zmm accumulators (ops/igemm_impl.h). */
#if defined(__x86_64__)
#define SIMD_AVX512
#define IGEMM_MR 8
#define IGEMM_TABLE igemm_f32_avx512
#define IGEMM_NAME "igemm_f32_8x32_avx512"
#include "simd_math.h"
#include "igemm_impl.h"
#endif
