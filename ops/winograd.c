/* winograd.c - the portable F(4x4, 3x3) transforms (4-float vectors: SSE2 on
 * x86-64, NEON on aarch64), the weight transform, and the choice per ISA. */
#define WINO_LANES 4
#define WINO_TARGET
#define WINO_TABLE wino_f32_generic
#include "winograd_impl.h"

/* G (6x3): the weight transform's matrix, U = G g G^T. */
static const double wino_g[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

void wino_weight_transform(const float *g, float *u)
{
    double t[6][3]; /* G g */
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++)
            t[i][j] = wino_g[i][0] * g[j] + wino_g[i][1] * g[3 + j] + wino_g[i][2] * g[6 + j];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            u[i * 6 + j] = (float)(t[i][0] * wino_g[j][0] + t[i][1] * wino_g[j][1] + t[i][2] * wino_g[j][2]);
}

const wino_kernels *wino_kernels_best(void)
{
#if defined(__x86_64__)
    if (onyx_cpu_info()->isa >= ONYX_ISA_AVX512) return &wino_f32_avx512;
    if (onyx_cpu_info()->isa >= ONYX_ISA_AVX2) return &wino_f32_avx2;
#endif
    return &wino_f32_generic;
}
