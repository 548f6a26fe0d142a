/* cpu.c - which SIMD the CPU has, detected once. ONYX_ISA in the environment
 * caps the choice (generic, neon, avx2, avx512) and ONYX_NO_DOT=1 turns off the
 * dot-product extensions (VNNI, sdot) so tests can cover every path on one
 * machine. Kernels pick their implementation from this when a session
 * is created, never in a hot loop. */
#include "../ops/kernel.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static onyx_cpu cpu;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect_x86(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
    if (!osxsave || !avx) return;
    uint64_t xcr0 = xgetbv0();
    bool ymm = (xcr0 & 6) == 6, zmm = (xcr0 & 0xe6) == 0xe6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    bool avx2 = b & (1u << 5);
    bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
    cpu.avx512_vnni = zmm && (c & (1u << 11));
    unsigned a1, b1, c1, d1;
    if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) cpu.avx_vnni = ymm && (a1 & (1u << 4));
    if (ymm && avx2 && fma) cpu.isa = ONYX_ISA_AVX2;
    if (zmm && f && dq && bw && vl && cpu.isa == ONYX_ISA_AVX2) cpu.isa = ONYX_ISA_AVX512;
}
#endif

static void detect(void)
{
    cpu.isa = ONYX_ISA_GENERIC;
#if defined(__x86_64__) || defined(__i386__)
    detect_x86();
#elif defined(__aarch64__)
    cpu.isa = ONYX_ISA_NEON; /* Advanced SIMD is mandatory on aarch64 */
#if defined(__linux__) && defined(HWCAP_ASIMDDP)
    cpu.neon_dot = getauxval(AT_HWCAP) & HWCAP_ASIMDDP;
#endif
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu.cores = n > 0 ? (int)n : 1;
    const char *cap = getenv("ONYX_ISA");
    if (cap) {
        onyx_isa want = !strcmp(cap, "avx512") ? ONYX_ISA_AVX512 : !strcmp(cap, "avx2") ? ONYX_ISA_AVX2
                      : !strcmp(cap, "neon") ? ONYX_ISA_NEON : ONYX_ISA_GENERIC;
        if (want < cpu.isa) cpu.isa = want;
        if (cpu.isa < ONYX_ISA_AVX512) cpu.avx512_vnni = false;
        if (cpu.isa < ONYX_ISA_AVX2) cpu.avx_vnni = false;
        if (cpu.isa != ONYX_ISA_NEON) cpu.neon_dot = false;
    }
    /* the integer kernels without dot-product instructions (VNNI, sdot) */
    const char *nodot = getenv("ONYX_NO_DOT");
    if (nodot && nodot[0] && strcmp(nodot, "0")) cpu.avx512_vnni = cpu.avx_vnni = cpu.neon_dot = false;
}

const onyx_cpu *onyx_cpu_info(void)
{
    pthread_once(&cpu_once, detect);
    return &cpu;
}

const char *onyx_isa_name(onyx_isa isa)
{
    switch (isa) {
    case ONYX_ISA_NEON: return "neon";
    case ONYX_ISA_AVX2: return "avx2";
    case ONYX_ISA_AVX512: return "avx512";
    default: return "generic";
    }
}
