/* hot.c - picking the ops/hot.h table for an ISA, and the threaded helpers
 * the operators share. */
#include "hot.h"

const hot_kernels *hot_kernels_for(onyx_isa isa)
{
#if defined(__x86_64__) || defined(__i386__)
    if (isa > onyx_cpu_info()->isa) return NULL;
    if (isa == ONYX_ISA_AVX512) return &hot_kernels_avx512;
    if (isa == ONYX_ISA_AVX2) return &hot_kernels_avx2;
#endif
    (void)isa;
    return NULL;
}

const hot_kernels *hot_kernels_native(void) { return hot_kernels_for(onyx_cpu_info()->isa); }

int64_t hot_attention_scratch(int64_t d, int64_t dv, int64_t nk)
{
    const int64_t nkp = (nk + HOT_KEY_PAD - 1) / HOT_KEY_PAD * HOT_KEY_PAD;
    /* packed keys, then per query block of (at most) 4 rows: scaled queries,
     * output accumulators and one key tile (at most 64) of probabilities */
    return d * nkp + 4 * d + 4 * dv + 4 * 64;
}

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
