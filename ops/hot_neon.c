/* hot_neon.c - the ops/hot.h kernels for aarch64 Advanced SIMD (4 lanes). */
#if defined(__aarch64__)
#define SIMD_NEON
#include "simd_math.h"
#define HOT_TABLE hot_kernels_neon
#define HOT_ISA ONYX_ISA_NEON
#include "hot_impl.h"
#else
typedef int hot_neon_unused; /* an empty translation unit is not valid C */
#endif
