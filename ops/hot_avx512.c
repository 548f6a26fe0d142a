/* hot_avx512.c - the ops/hot.h kernels for AVX-512 (F, BW, VL, DQ). */
#if defined(__x86_64__) || defined(__i386__)
#define SIMD_AVX512
#include "simd_math.h"
#define HOT_TABLE hot_kernels_avx512
#define HOT_ISA ONYX_ISA_AVX512
#include "hot_impl.h"
#else
typedef int hot_avx512_unused; /* an empty translation unit is not valid C */
#endif
