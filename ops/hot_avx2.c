/* hot_avx2.c - the ops/hot.h kernels for AVX2 + FMA. */
#if defined(__x86_64__) || defined(__i386__)
#define SIMD_AVX2
#include "simd_math.h"
#define HOT_TABLE hot_kernels_avx2
#define HOT_ISA ONYX_ISA_AVX2
#include "hot_impl.h"
#else
typedef int hot_avx2_unused; /* an empty translation unit is not valid C */
#endif
