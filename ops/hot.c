/* hot.c - picking the ops/hot.h table for an ISA, and the threaded helpers
 * the operators share. */
#include "hot.h"

#include <string.h>

const hot_kernels *hot_kernels_for(onyx_isa isa)
{
    if (isa > onyx_cpu_info()->isa) return NULL;
#if defined(__x86_64__) || defined(__i386__)
    if (isa == ONYX_ISA_AVX512) return &hot_kernels_avx512;
    if (isa == ONYX_ISA_AVX2) return &hot_kernels_avx2;
#elif defined(__aarch64__)
    if (isa == ONYX_ISA_NEON) return &hot_kernels_neon;
#endif
    return NULL;
}

const hot_kernels *hot_kernels_native(void) { return hot_kernels_for(onyx_cpu_info()->isa); }

int64_t hot_attention_packed_floats(int64_t d, int64_t nk)
{
    return d * ((nk + HOT_KEY_TILE - 1) / HOT_KEY_TILE * HOT_KEY_TILE);
}

void hot_attention_pack_k(const float *k, int64_t ldk, int64_t d, int64_t nk, bool k_transposed, float *kt)
{
    enum { T = HOT_KEY_TILE };
    for (int64_t j0 = 0; j0 < nk; j0 += T) {
        float *panel = kt + j0 * d;
        const int64_t valid = nk - j0 < T ? nk - j0 : T;
        if (k_transposed) {
            for (int64_t c = 0; c < d; c++) {
                memcpy(panel + c * T, k + c * ldk + j0, (size_t)valid * sizeof *panel);
                memset(panel + c * T + valid, 0, (size_t)(T - valid) * sizeof *panel);
            }
            continue;
        }
        if (valid < T) memset(panel, 0, (size_t)(d * T) * sizeof *panel);
        /* 8 keys at a time: 8 rows read in step, each panel row written 8 wide */
        int64_t j = 0;
        for (; j + 8 <= valid; j += 8) {
            const float *kr = k + (j0 + j) * ldk;
            for (int64_t c = 0; c < d; c++)
                for (int64_t u = 0; u < 8; u++) panel[c * T + j + u] = kr[u * ldk + c];
        }
        for (; j < valid; j++)
            for (int64_t c = 0; c < d; c++) panel[c * T + j] = k[(j0 + j) * ldk + c];
    }
}

/* scores [8][HOT_KEY_TILE], per-lane sums [8][16], outputs [8][dv]
 * (ATT_QB = 8 in ops/hot_impl.h) */
int64_t hot_attention_scratch(int64_t dv) { return 8 * (HOT_KEY_TILE + 16 + dv); }

typedef struct map_job {
    hot_map_fn fn;
    const float *x;
    float *y;
    const hot_params *p;
} map_job;

static void map_range(void *arg, int64_t begin, int64_t end)
{
    const map_job *j = arg;
    j->fn(j->x + begin, j->y + begin, end - begin, j->p);
}

void hot_map_run(const onyx_kctx *k, hot_map_fn fn, const float *x, float *y, int64_t n,
                 const hot_params *p)
{
    if (n < HOT_PARALLEL_MIN || k_num_threads(k) < 2) {
        fn(x, y, n, p);
        return;
    }
    map_job j = {fn, x, y, p};
    k_parallel_for(k, n, map_range, &j);
}
