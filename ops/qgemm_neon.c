/* qgemm_neon.c - the aarch64 integer GEMM microkernels, their epilogue and the
 * depthwise row. A is read as int8 (the caller flips uint8 activations and
 * shifts their zero point by 128, qgemm.h): NEON has signed x signed dot
 * products only (the mixed usdot needs the later i8mm extension).
 *
 *   qgemm_s8s8_8x12_neondot: sdot by lane (ARMv8.2 dot product): 24
 *       accumulators (8 rows x 3 vectors of 4 columns); per 4 depths, three
 *       16-byte loads of B and the 4 bytes of each row gathered into two
 *       registers, each lane feeding three sdots.
 *   qgemm_s8s8_4x8_neon: any aarch64: each row's 4 bytes duplicated to 8,
 *       smull against two columns x 4 depths of B (int8 x int8 fits int16
 *       exactly) and sadalp into int32 pairs, added pairwise at the end.
 */
#include "qgemm.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

static inline uint32_t ld4(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint32_t ld_part(const uint8_t *p, int64_t n)
{
    uint32_t v = 0;
    memcpy(&v, p, (size_t)n);
    return v;
}

/* Group g of the 4 rows ar[0..4) as one register: lane r = row r's 4 bytes. */
static inline int8x16_t gather4(const uint8_t *const *ar, int64_t at, int64_t n)
{
    uint32x4_t v = vdupq_n_u32(0);
    if (n == 4) {
        v = vsetq_lane_u32(ld4(ar[0] + at), v, 0);
        v = vsetq_lane_u32(ld4(ar[1] + at), v, 1);
        v = vsetq_lane_u32(ld4(ar[2] + at), v, 2);
        v = vsetq_lane_u32(ld4(ar[3] + at), v, 3);
    } else {
        v = vsetq_lane_u32(ld_part(ar[0] + at, n), v, 0);
        v = vsetq_lane_u32(ld_part(ar[1] + at, n), v, 1);
        v = vsetq_lane_u32(ld_part(ar[2] + at, n), v, 2);
        v = vsetq_lane_u32(ld_part(ar[3] + at, n), v, 3);
    }
    return vreinterpretq_s8_u32(v);
}

DOTPROD static void qgemm_s8s8_8x12_neondot_tile(int64_t ks, int64_t kc, const uint8_t *const *a,
                                                 int64_t a_off, const uint8_t *zero,
                                                 const int8_t *b, int32_t *c)
{
    int32x4_t c00 = vdupq_n_s32(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    int32x4_t c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    int32x4_t c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    int32x4_t c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    for (int64_t t = 0; t < ks; t++, a += 8) {
        const uint8_t *ar[8];
        for (int i = 0; i < 8; i++) ar[i] = a[i] == zero ? a[i] : a[i] + a_off;
        for (int64_t k0 = 0; k0 < kc; k0 += 4, b += 48) {
            int64_t kn = kc - k0 < 4 ? kc - k0 : 4;
            int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16), b2 = vld1q_s8(b + 32);
            int8x16_t x0 = gather4(ar, k0, kn), x1 = gather4(ar + 4, k0, kn);
#define DOT(r, x, l)                                                                               \
    c##r##0 = vdotq_laneq_s32(c##r##0, b0, x, l);                                                  \
    c##r##1 = vdotq_laneq_s32(c##r##1, b1, x, l);                                                  \
    c##r##2 = vdotq_laneq_s32(c##r##2, b2, x, l);
            DOT(0, x0, 0) DOT(1, x0, 1) DOT(2, x0, 2) DOT(3, x0, 3)
            DOT(4, x1, 0) DOT(5, x1, 1) DOT(6, x1, 2) DOT(7, x1, 3)
#undef DOT
        }
    }
#define STORE_ROW(r)                                                                               \
    vst1q_s32(c + (r) * 12, c##r##0);                                                              \
    vst1q_s32(c + (r) * 12 + 4, c##r##1);                                                          \
    vst1q_s32(c + (r) * 12 + 8, c##r##2);
    STORE_ROW(0) STORE_ROW(1) STORE_ROW(2) STORE_ROW(3)
    STORE_ROW(4) STORE_ROW(5) STORE_ROW(6) STORE_ROW(7)
#undef STORE_ROW
}

static void qgemm_s8s8_4x8_neon_tile(int64_t ks, int64_t kc, const uint8_t *const *a,
                                     int64_t a_off, const uint8_t *zero, const int8_t *b,
                                     int32_t *c)
{
    /* acc[i][q]: row i, columns 2q and 2q+1, two partial sums each */
    int32x4_t acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int q = 0; q < 4; q++) acc[i][q] = vdupq_n_s32(0);
    for (int64_t t = 0; t < ks; t++, a += 4) {
        const uint8_t *ar[4];
        for (int i = 0; i < 4; i++) ar[i] = a[i] == zero ? a[i] : a[i] + a_off;
        for (int64_t k0 = 0; k0 < kc; k0 += 4, b += 32) {
            int64_t kn = kc - k0 < 4 ? kc - k0 : 4;
            int8x16_t b0 = vld1q_s8(b), b1 = vld1q_s8(b + 16);
            for (int i = 0; i < 4; i++) {
                uint32_t v = kn == 4 ? ld4(ar[i] + k0) : ld_part(ar[i] + k0, kn);
                int8x16_t x = vreinterpretq_s8_u32(vdupq_n_u32(v));
                acc[i][0] = vpadalq_s16(acc[i][0], vmull_s8(vget_low_s8(b0), vget_low_s8(x)));
                acc[i][1] = vpadalq_s16(acc[i][1], vmull_high_s8(b0, x));
                acc[i][2] = vpadalq_s16(acc[i][2], vmull_s8(vget_low_s8(b1), vget_low_s8(x)));
                acc[i][3] = vpadalq_s16(acc[i][3], vmull_high_s8(b1, x));
            }
        }
    }
    for (int i = 0; i < 4; i++) {
        vst1q_s32(c + i * 8, vpaddq_s32(acc[i][0], acc[i][1]));
        vst1q_s32(c + i * 8 + 4, vpaddq_s32(acc[i][2], acc[i][3]));
    }
}

static void qgemm_row_out_neon(const qgemm_out *o, const int32_t *acc, int64_t i, int64_t j0,
                               int64_t n)
{
    int64_t nv = n & ~(int64_t)3, j = 0;
    const int32_t *ib = o->ib + j0;
    int32x4_t rc = vdupq_n_s32(o->rowc ? o->rowc[i] : 0);
    bool simple = o->act == GEMM_ACT_NONE || o->act == GEMM_ACT_RELU || o->act == GEMM_ACT_CLIP;
    if (o->yi) {
        int32_t *y = o->yi + i * o->yi_rs + j0;
        for (; j < nv; j += 4)
            vst1q_s32(y + j, vaddq_s32(vaddq_s32(vld1q_s32(acc + j), vld1q_s32(ib + j)), rc));
    } else if (simple) {
        const float *sc = o->scale + j0, *fb = o->fb ? o->fb + j0 : NULL;
        const float *z = o->z ? o->z + i * o->z_rs + j0 : NULL;
        float *yf = o->yf ? o->yf + i * o->yf_rs + j0 : NULL;
        uint8_t *yq = o->yq ? (uint8_t *)o->yq + i * o->yq_rs + j0 : NULL;
        float32x4_t inv = vdupq_n_f32(o->inv_ys), zp = vdupq_n_f32(o->yzp);
        float32x4_t lo = vdupq_n_f32(o->yq_signed ? -128.0f : 0.0f);
        float32x4_t hi = vdupq_n_f32(o->yq_signed ? 127.0f : 255.0f);
        float32x4_t amin = vdupq_n_f32(o->act == GEMM_ACT_CLIP ? o->p0 : 0.0f);
        float32x4_t amax = vdupq_n_f32(o->p1);
        for (; j < nv; j += 4) {
            int32x4_t a = vaddq_s32(vaddq_s32(vld1q_s32(acc + j), vld1q_s32(ib + j)), rc);
            float32x4_t v = vmulq_f32(vcvtq_f32_s32(a), vld1q_f32(sc + j));
            if (fb) v = vaddq_f32(v, vld1q_f32(fb + j));
            if (z) v = vaddq_f32(v, vld1q_f32(z + j));
            /* as gemm_act_scalar: Relu sends NaN to 0, Clip keeps it */
            if (o->act == GEMM_ACT_RELU) v = vmaxnmq_f32(v, amin);
            if (o->act == GEMM_ACT_CLIP) v = vminq_f32(vmaxq_f32(v, amin), amax);
            if (yf) vst1q_f32(yf + j, v);
            if (yq) {
                float32x4_t q = vaddq_f32(vrndnq_f32(vmulq_f32(v, inv)), zp);
                /* maxnm/minnm return the number when the other is NaN */
                q = vminnmq_f32(vmaxnmq_f32(q, lo), hi);
                int32x4_t qi = vcvtq_s32_f32(q);
                int16x4_t h = vmovn_s32(qi);
                int8x8_t bts = vmovn_s16(vcombine_s16(h, h));
                uint32_t word = vget_lane_u32(vreinterpret_u32_s8(bts), 0);
                memcpy(yq + j, &word, 4);
            }
        }
    }
    if (j < n) qgemm_row_out_scalar(o, acc + j, i, j0 + j, n - j);
}

static void qgemm_tile_out_neon(const qgemm_out *o, const int32_t *acc, int64_t ldacc, int64_t i0,
                                int64_t mr, int64_t j0, int64_t n)
{
    for (int64_t r = 0; r < mr; r++) qgemm_row_out_neon(o, acc + r * ldacc, i0 + r, j0, n);
}

/* 8 channels per pass over the taps: widen to int16, vmlal into int32. A
 * partial block is copied first. Weights [block][tap][8]. */
static void qdw_neon_pixel(int64_t channels, int64_t taps, const uint8_t *const *in, int64_t off,
                           const uint8_t *zero, const int16_t *w, int32_t *acc)
{
    for (int64_t c0 = 0; c0 < channels; c0 += 8) {
        int64_t cn = channels - c0 < 8 ? channels - c0 : 8;
        const int16_t *wb = w + c0 * taps;
        int32x4_t s0 = vdupq_n_s32(0), s1 = s0;
        for (int64_t t = 0; t < taps; t++) {
            const uint8_t *p = (in[t] == zero ? in[t] : in[t] + off) + c0;
            int8x8_t x8;
            if (cn == 8) {
                x8 = vld1_s8((const int8_t *)p);
            } else {
                int8_t tmp[8] = {0};
                memcpy(tmp, p, (size_t)cn);
                x8 = vld1_s8(tmp);
            }
            int16x8_t x = vmovl_s8(x8), wt = vld1q_s16(wb + t * 8);
            s0 = vmlal_s16(s0, vget_low_s16(x), vget_low_s16(wt));
            s1 = vmlal_high_s16(s1, x, wt);
        }
        if (cn == 8) {
            vst1q_s32(acc + c0, s0);
            vst1q_s32(acc + c0 + 4, s1);
        } else {
            int32_t tmp[8];
            vst1q_s32(tmp, s0);
            vst1q_s32(tmp + 4, s1);
            memcpy(acc + c0, tmp, (size_t)cn * sizeof *tmp);
        }
    }
}

static void qdw_neon(int64_t channels, int64_t taps, int64_t npix, const uint8_t *const *in, int64_t off,
                     const uint8_t *zero, const int16_t *w, int32_t *acc)
{
    for (int64_t p = 0; p < npix; p++) qdw_neon_pixel(channels, taps, in + p * taps, off, zero, w, acc + p * channels);
}

const qgemm_ukernel qgemm_s8s8_8x12_neondot = {
    "qgemm_s8s8_8x12_neondot", 8, 12, true, false, qgemm_s8s8_8x12_neondot_tile,
    qgemm_tile_out_neon, qdw_neon, 8, false};
const qgemm_ukernel qgemm_s8s8_4x8_neon = {
    "qgemm_s8s8_4x8_neon", 4, 8, true, false, qgemm_s8s8_4x8_neon_tile,
    qgemm_tile_out_neon, qdw_neon, 8, false};
#endif
