/* signal.c - DFT, STFT, window functions, MelWeightMatrix.
 *
 * Transforms run in double: a mixed-radix Cooley-Tukey FFT for lengths whose
 * prime factors are small, Bluestein's chirp-z (on a power-of-two FFT) when a
 * large prime factor would make the plain DFT quadratic.
 */
#include "kernel.h"

#include <stdlib.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

typedef struct cpx {
    double re, im;
} cpx;

/* transform lengths beyond this are refused (keeps r * k in int64) */
#define FFT_MAX_LEN ((int64_t)1 << 28)
/* largest prime factor the mixed-radix path handles directly */
#define FFT_MAX_RADIX 64

typedef struct fft_plan {
    int64_t n;       /* transform length */
    int64_t m;       /* length fft_rec runs: n, or the Bluestein power of two */
    bool bluestein;
    cpx *tw;         /* m roots exp(-2 pi i j / m) */
    cpx *scratch;    /* m */
    cpx *work;       /* Bluestein: m */
    cpx *work2;      /* Bluestein: m */
    cpx *chirp;      /* Bluestein: n values exp(-i pi k^2 / n) */
    cpx *bfft;       /* Bluestein: transform of the conjugate chirp filter */
} fft_plan;

static int64_t smallest_factor(int64_t n)
{
    if (n % 2 == 0) return 2;
    for (int64_t f = 3; f * f <= n; f += 2)
        if (n % f == 0) return f;
    return n;
}

static int64_t largest_factor(int64_t n)
{
    int64_t best = 1;
    while (n > 1) {
        int64_t f = smallest_factor(n);
        best = f;
        while (n % f == 0) n /= f;
    }
    return best;
}

/* Forward DFT of n values in[0], in[stride], ... into out[0..n). tw holds the
 * roots of the top-level length; W_n = tw[tw_step]. */
static void fft_rec(const cpx *in, int64_t stride, int64_t n, cpx *out, cpx *scratch,
                    const cpx *tw, int64_t tw_step)
{
    if (n == 1) {
        out[0] = in[0];
        return;
    }
    int64_t p = smallest_factor(n), m = n / p;
    for (int64_t r = 0; r < p; r++)
        fft_rec(in + r * stride, stride * p, m, out + r * m, scratch, tw, tw_step * p);
    if (p == 2) {
        for (int64_t k = 0; k < m; k++) {
            cpx a = out[k], b = out[m + k], w = tw[k * tw_step];
            cpx t = {b.re * w.re - b.im * w.im, b.re * w.im + b.im * w.re};
            scratch[k] = (cpx){a.re + t.re, a.im + t.im};
            scratch[k + m] = (cpx){a.re - t.re, a.im - t.im};
        }
    } else {
        for (int64_t k = 0; k < n; k++) {
            int64_t km = k % m;
            double re = 0, im = 0;
            for (int64_t r = 0; r < p; r++) {
                cpx v = out[r * m + km], w = tw[((r * k) % n) * tw_step];
                re += v.re * w.re - v.im * w.im;
                im += v.re * w.im + v.im * w.re;
            }
            scratch[k] = (cpx){re, im};
        }
    }
    memcpy(out, scratch, (size_t)n * sizeof *out);
}

static void fft_plan_free(fft_plan *p)
{
    free(p->tw);
    free(p->scratch);
    free(p->work);
    free(p->work2);
    free(p->chirp);
    free(p->bfft);
    memset(p, 0, sizeof *p);
}

static bool fft_plan_init(fft_plan *p, int64_t n)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->m = n;
    if (n > 2 && largest_factor(n) > FFT_MAX_RADIX) {
        p->bluestein = true;
        p->m = 1;
        while (p->m < 2 * n - 1) p->m *= 2;
    }
    int64_t m = p->m;
    p->tw = malloc((size_t)m * sizeof *p->tw);
    p->scratch = malloc((size_t)m * sizeof *p->scratch);
    if (!p->tw || !p->scratch) return false;
    for (int64_t j = 0; j < m; j++) {
        double a = 2.0 * M_PI * (double)j / (double)m;
        p->tw[j] = (cpx){cos(a), -sin(a)};
    }
    if (!p->bluestein) return true;
    p->work = calloc((size_t)m, sizeof *p->work);
    p->work2 = malloc((size_t)m * sizeof *p->work2);
    p->chirp = malloc((size_t)n * sizeof *p->chirp);
    p->bfft = malloc((size_t)m * sizeof *p->bfft);
    if (!p->work || !p->work2 || !p->chirp || !p->bfft) return false;
    /* k^2 mod 2n, updated incrementally, keeps the angle small and exact */
    int64_t e = 0;
    for (int64_t k = 0; k < n; k++) {
        double a = M_PI * (double)e / (double)n;
        p->chirp[k] = (cpx){cos(a), -sin(a)};
        e += 2 * k + 1;
        if (e >= 2 * n) e %= 2 * n;
    }
    for (int64_t j = 0; j < n; j++) {
        cpx c = {p->chirp[j].re, -p->chirp[j].im};
        p->work[j] = c;
        if (j) p->work[m - j] = c;
    }
    fft_rec(p->work, 1, m, p->bfft, p->scratch, p->tw, 1);
    return true;
}

/* Unnormalized DFT of in[0..n) into out[0..n) (distinct buffers). The
 * inverse uses idft(x) = conj(dft(conj(x))). */
static void fft_exec(fft_plan *p, cpx *in, cpx *out, bool inverse)
{
    int64_t n = p->n;
    if (inverse)
        for (int64_t j = 0; j < n; j++) in[j].im = -in[j].im;
    if (!p->bluestein) {
        fft_rec(in, 1, n, out, p->scratch, p->tw, 1);
    } else {
        int64_t m = p->m;
        cpx *a = p->work, *fa = p->work2;
        for (int64_t j = 0; j < m; j++) a[j] = (cpx){0, 0};
        for (int64_t j = 0; j < n; j++) {
            cpx x = in[j], c = p->chirp[j];
            a[j] = (cpx){x.re * c.re - x.im * c.im, x.re * c.im + x.im * c.re};
        }
        fft_rec(a, 1, m, fa, p->scratch, p->tw, 1);
        /* pointwise product, then the inverse transform by conjugation */
        for (int64_t j = 0; j < m; j++) {
            cpx u = fa[j], v = p->bfft[j];
            fa[j] = (cpx){u.re * v.re - u.im * v.im, -(u.re * v.im + u.im * v.re)};
        }
        fft_rec(fa, 1, m, a, p->scratch, p->tw, 1);
        for (int64_t k = 0; k < n; k++) {
            cpx v = {a[k].re / (double)m, -a[k].im / (double)m}, c = p->chirp[k];
            out[k] = (cpx){v.re * c.re - v.im * c.im, v.re * c.im + v.im * c.re};
        }
    }
    if (inverse)
        for (int64_t j = 0; j < n; j++) out[j].im = -out[j].im;
}

static inline double sg_load(const onyx_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ONYX_FLOAT: return ((const float *)t->data)[i];
    case ONYX_DOUBLE: return ((const double *)t->data)[i];
    case ONYX_FLOAT16: return f16_to_f32(((const uint16_t *)t->data)[i]);
    case ONYX_BFLOAT16: return bf16_to_f32(((const uint16_t *)t->data)[i]);
    default: return k_get_f64(t, i);
    }
}

static inline void sg_store(onyx_tensor *t, int64_t i, double v)
{
    if (t->dtype == ONYX_FLOAT) ((float *)t->data)[i] = (float)v;
    else if (t->dtype == ONYX_DOUBLE) ((double *)t->data)[i] = v;
    else k_set_f64(t, i, v);
}

/* Optional scalar integer input i; false in *given when absent or empty. */
static onyx_status sg_int_input(onyx_kctx *k, int i, const char *name, int64_t *out, bool *given)
{
    const onyx_tensor *t = k_input(k, i);
    *given = false;
    if (!t || t->kind != ONYX_KIND_TENSOR) return ONYX_OK;
    int64_t n = tensor_numel_of(t->rank, t->dims);
    if (n == 0) return ONYX_OK;
    if (n != 1 || !dtype_is_int(t->dtype))
        return k_fail(k, ONYX_E_INVALID, "input %d (%s) must be an integer scalar", i, name);
    k_read_ints(t, out, 1);
    *given = true;
    return ONYX_OK;
}

static onyx_status sg_float_scalar(onyx_kctx *k, int i, const char *name, double *out)
{
    const onyx_tensor *t = k_input(k, i);
    if (!t || t->kind != ONYX_KIND_TENSOR || tensor_numel_of(t->rank, t->dims) != 1 ||
        !(dtype_is_float(t->dtype) || dtype_is_int(t->dtype)))
        return k_fail(k, ONYX_E_INVALID, "input %d (%s) must be a numeric scalar", i, name);
    *out = k_get_f64(t, 0);
    return ONYX_OK;
}

static onyx_status sg_check_length(onyx_kctx *k, const char *what, int64_t n)
{
    if (n < 1) return k_fail(k, ONYX_E_INVALID, "%s %lld must be >= 1", what, (long long)n);
    if (n > FFT_MAX_LEN)
        return k_fail(k, ONYX_E_LIMIT, "%s %lld is over the limit %lld", what, (long long)n,
                      (long long)FFT_MAX_LEN);
    return ONYX_OK;
}

/* ------------------------------------------------------------------------ */

static onyx_status op_dft(onyx_kctx *k)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, 0);
    int r = x->rank;
    if (r < 2 || (x->dims[r - 1] != 1 && x->dims[r - 1] != 2))
        return k_fail(k, ONYX_E_SHAPE,
                      "input 0 must have rank >= 2 and a last dimension of 1 (real) or 2 (complex)");
    int64_t axis = k->opset >= 20 ? -2 : k_attr_int(k, "axis", 1);
    if (k->opset >= 20) {
        bool given;
        int64_t a;
        if ((st = sg_int_input(k, 2, "axis", &a, &given))) return st;
        if (given) axis = a;
    }
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r - 2)
        return k_fail(k, ONYX_E_INVALID, "axis %lld is out of range for rank %d (the last axis holds the complex parts)",
                      (long long)(axis < 0 ? axis - r : axis), r);
    int ax = (int)axis;
    int64_t nin = x->dims[ax], len;
    bool inverse = k_attr_int(k, "inverse", 0) != 0;
    bool onesided = k_attr_int(k, "onesided", 0) != 0;
    /* onesided inverse is the IRFFT: a one-sided complex spectrum in, the
     * full real signal out */
    bool irfft = inverse && onesided;
    if (irfft && x->dims[r - 1] != 2)
        return k_fail(k, ONYX_E_SHAPE, "onesided inverse DFT needs a complex input (last dimension 2)");
    bool given;
    if ((st = sg_int_input(k, 1, "dft_length", &len, &given))) return st;
    if (!given) len = irfft ? 2 * (nin - 1) : nin;
    if ((st = sg_check_length(k, "dft_length", len))) return st;
    int64_t nout = irfft ? len : onesided ? len / 2 + 1 : len;
    int64_t cout = irfft ? 1 : 2;

    int64_t od[ONYX_MAX_RANK];
    memcpy(od, x->dims, sizeof(int64_t) * (size_t)r);
    od[ax] = nout;
    od[r - 1] = cout;
    onyx_tensor *y = k_output(k, 0, x->dtype, r, od);
    if (!y) return k->err->code;
    int64_t outer = 1, inner = 1, cin = x->dims[r - 1];
    for (int d = 0; d < ax; d++) outer *= x->dims[d];
    for (int d = ax + 1; d < r - 1; d++) inner *= x->dims[d];
    if (outer == 0 || inner == 0) return ONYX_OK;

    fft_plan plan = {0};
    cpx *a = malloc((size_t)len * sizeof *a), *b = malloc((size_t)len * sizeof *b);
    if (!a || !b || !fft_plan_init(&plan, len)) {
        free(a);
        free(b);
        fft_plan_free(&plan);
        return k_fail(k, ONYX_E_NOMEM, "out of memory in DFT");
    }
    /* the IRFFT reads bins 0..len/2 and mirrors the rest as conjugates */
    int64_t nread = irfft ? len / 2 + 1 : len;
    int64_t ncopy = nin < nread ? nin : nread;
    double norm = inverse ? 1.0 / (double)len : 1.0;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            for (int64_t j = 0; j < nread; j++) {
                if (j >= ncopy) {
                    a[j] = (cpx){0, 0};
                    continue;
                }
                int64_t e = ((o * nin + j) * inner + i) * cin;
                a[j] = (cpx){sg_load(x, e), cin == 2 ? sg_load(x, e + 1) : 0.0};
            }
            for (int64_t j = nread; j < len; j++) a[j] = (cpx){a[len - j].re, -a[len - j].im};
            fft_exec(&plan, a, b, inverse);
            for (int64_t j = 0; j < nout; j++) {
                int64_t e = ((o * nout + j) * inner + i) * cout;
                sg_store(y, e, b[j].re * norm);
                if (!irfft) sg_store(y, e + 1, b[j].im * norm);
            }
        }
    }
    free(a);
    free(b);
    fft_plan_free(&plan);
    return ONYX_OK;
}

static onyx_status op_stft(onyx_kctx *k)
{
    onyx_status st;
    if ((st = k_require(k, 0, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16, ONYX_UNDEFINED)))
        return st;
    const onyx_tensor *x = k_input(k, 0);
    if (x->rank != 3 || (x->dims[2] != 1 && x->dims[2] != 2))
        return k_fail(k, ONYX_E_SHAPE,
                      "input 0 (signal) must have shape [batch, length, 1] or [batch, length, 2]");
    int64_t B = x->dims[0], L = x->dims[1], cin = x->dims[2];
    int64_t step;
    bool given;
    if ((st = sg_int_input(k, 1, "frame_step", &step, &given))) return st;
    if (!given) return k_fail(k, ONYX_E_INVALID, "input 1 (frame_step) is required");
    if (step < 1) return k_fail(k, ONYX_E_INVALID, "frame_step %lld must be >= 1", (long long)step);
    const onyx_tensor *win = k_input(k, 2);
    if (win && (win->kind != ONYX_KIND_TENSOR || tensor_numel_of(win->rank, win->dims) == 0))
        win = NULL;
    if (win) {
        if ((st = k_require(k, 2, ONYX_FLOAT, ONYX_DOUBLE, ONYX_FLOAT16, ONYX_BFLOAT16,
                            ONYX_UNDEFINED)))
            return st;
        if (win->rank != 1) return k_fail(k, ONYX_E_SHAPE, "input 2 (window) must be 1-D");
    }
    int64_t fl;
    if ((st = sg_int_input(k, 3, "frame_length", &fl, &given))) return st;
    if (!given) fl = win ? win->dims[0] : L;
    if (win && win->dims[0] != fl)
        return k_fail(k, ONYX_E_SHAPE, "window length %lld does not match frame_length %lld",
                      (long long)win->dims[0], (long long)fl);
    if ((st = sg_check_length(k, "frame_length", fl))) return st;
    if (fl > L)
        return k_fail(k, ONYX_E_SHAPE, "frame_length %lld is longer than the signal (%lld)",
                      (long long)fl, (long long)L);
    bool onesided = k_attr_int(k, "onesided", 1) != 0;
    int64_t frames = 1 + (L - fl) / step;
    int64_t bins = onesided ? fl / 2 + 1 : fl;
    int64_t od[4] = {B, frames, bins, 2};
    onyx_tensor *y = k_output(k, 0, x->dtype, 4, od);
    if (!y) return k->err->code;
    if (B == 0) return ONYX_OK;

    fft_plan plan = {0};
    cpx *a = malloc((size_t)fl * sizeof *a), *b = malloc((size_t)fl * sizeof *b);
    double *w = malloc((size_t)fl * sizeof *w);
    if (!a || !b || !w || !fft_plan_init(&plan, fl)) {
        free(a);
        free(b);
        free(w);
        fft_plan_free(&plan);
        return k_fail(k, ONYX_E_NOMEM, "out of memory in STFT");
    }
    for (int64_t j = 0; j < fl; j++) w[j] = win ? sg_load(win, j) : 1.0;
    for (int64_t bt = 0; bt < B; bt++) {
        for (int64_t f = 0; f < frames; f++) {
            for (int64_t j = 0; j < fl; j++) {
                int64_t e = (bt * L + f * step + j) * cin;
                a[j] = (cpx){sg_load(x, e) * w[j], cin == 2 ? sg_load(x, e + 1) * w[j] : 0.0};
            }
            fft_exec(&plan, a, b, false);
            for (int64_t j = 0; j < bins; j++) {
                int64_t e = ((bt * frames + f) * bins + j) * 2;
                sg_store(y, e, b[j].re);
                sg_store(y, e + 1, b[j].im);
            }
        }
    }
    free(a);
    free(b);
    free(w);
    fft_plan_free(&plan);
    return ONYX_OK;
}

/* ------------------------------------------------------------------------ */
/* windows: y[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N) */

static onyx_status sg_output_dtype(onyx_kctx *k, onyx_dtype *dt)
{
    int64_t v = k_attr_int(k, "output_datatype", ONYX_FLOAT);
    onyx_dtype t = (onyx_dtype)v;
    if (v < 0 || v > 1000 || !(dtype_is_float(t) || dtype_is_int(t)))
        return k_fail(k, ONYX_E_UNSUPPORTED, "attribute output_datatype %lld is not a numeric type",
                      (long long)v);
    *dt = t;
    return ONYX_OK;
}

static onyx_status sg_window(onyx_kctx *k, double a0, double a1, double a2)
{
    onyx_status st;
    int64_t size;
    bool given;
    if ((st = sg_int_input(k, 0, "size", &size, &given))) return st;
    if (!given) return k_fail(k, ONYX_E_INVALID, "input 0 (size) is required");
    if (size < 0) return k_fail(k, ONYX_E_INVALID, "size %lld must be >= 0", (long long)size);
    onyx_dtype dt;
    if ((st = sg_output_dtype(k, &dt))) return st;
    bool periodic = k_attr_int(k, "periodic", 1) != 0;
    onyx_tensor *y = k_output(k, 0, dt, 1, &size);
    if (!y) return k->err->code;
    int64_t N = periodic ? size : size - 1;
    for (int64_t n = 0; n < size; n++) {
        /* a one-point symmetric window has no period; its value is 1 */
        double v = 1.0;
        if (N > 0) {
            double t = 2.0 * M_PI * (double)n / (double)N;
            v = a0 - a1 * cos(t) + a2 * cos(2.0 * t);
        }
        sg_store(y, n, v);
    }
    return ONYX_OK;
}

static onyx_status op_hann(onyx_kctx *k) { return sg_window(k, 0.5, 0.5, 0.0); }
static onyx_status op_hamming(onyx_kctx *k) { return sg_window(k, 25.0 / 46.0, 21.0 / 46.0, 0.0); }
static onyx_status op_blackman(onyx_kctx *k) { return sg_window(k, 0.42, 0.5, 0.08); }

/* ------------------------------------------------------------------------ */

static onyx_status op_melweight(onyx_kctx *k)
{
    onyx_status st;
    int64_t nmel, dftlen, rate;
    bool g1, g2, g3;
    if ((st = sg_int_input(k, 0, "num_mel_bins", &nmel, &g1))) return st;
    if ((st = sg_int_input(k, 1, "dft_length", &dftlen, &g2))) return st;
    if ((st = sg_int_input(k, 2, "sample_rate", &rate, &g3))) return st;
    if (!g1 || !g2 || !g3)
        return k_fail(k, ONYX_E_INVALID, "inputs 0-2 (num_mel_bins, dft_length, sample_rate) are required");
    double lo, hi;
    if ((st = sg_float_scalar(k, 3, "lower_edge_hertz", &lo))) return st;
    if ((st = sg_float_scalar(k, 4, "upper_edge_hertz", &hi))) return st;
    if (nmel < 1 || nmel > (1 << 20))
        return k_fail(k, ONYX_E_INVALID, "num_mel_bins %lld must be in [1, 2^20]", (long long)nmel);
    if ((st = sg_check_length(k, "dft_length", dftlen))) return st;
    if (rate < 1) return k_fail(k, ONYX_E_INVALID, "sample_rate %lld must be >= 1", (long long)rate);
    if (!isfinite(lo) || !isfinite(hi) || lo < 0 || hi < lo)
        return k_fail(k, ONYX_E_INVALID, "need 0 <= lower_edge_hertz (%g) <= upper_edge_hertz (%g)",
                      lo, hi);
    onyx_dtype dt;
    if ((st = sg_output_dtype(k, &dt))) return st;
    int64_t nsb = dftlen / 2 + 1;

    /* mel edges in float, the bin positions in double, as the reference does */
    float lo_mel = 2595.0f * log10f(1.0f + (float)lo / 700.0f);
    float hi_mel = 2595.0f * log10f(1.0f + (float)hi / 700.0f);
    float step = (hi_mel - lo_mel) / (float)(nmel + 2);
    int64_t *bins = malloc((size_t)(nmel + 2) * sizeof *bins);
    if (!bins) return k_fail(k, ONYX_E_NOMEM, "out of memory in MelWeightMatrix");
    for (int64_t i = 0; i < nmel + 2; i++) {
        double m = (double)i * (double)step + (double)lo_mel;
        double f = 700.0 * (pow(10.0, m / 2595.0) - 1.0);
        double b = floor((double)(dftlen + 1) * f / (double)rate);
        if (!(b >= 0 && b < (double)nsb)) {
            free(bins);
            return k_fail(k, ONYX_E_INVALID,
                          "upper_edge_hertz %g maps past the %lld spectrogram bins (sample_rate %lld)",
                          hi, (long long)nsb, (long long)rate);
        }
        bins[i] = (int64_t)b;
    }
    int64_t od[2] = {nsb, nmel};
    onyx_tensor *y = k_output(k, 0, dt, 2, od);
    if (!y) {
        free(bins);
        return k->err->code;
    }
    for (int64_t i = 0; i < nmel; i++) {
        int64_t left = bins[i], center = bins[i + 1], right = bins[i + 2];
        int64_t up = center - left;
        if (up == 0) sg_store(y, center * nmel + i, 1.0);
        else
            for (int64_t j = left; j <= center; j++)
                sg_store(y, j * nmel + i, (double)(j - left) / (double)up);
        int64_t down = right - center;
        if (down > 0)
            for (int64_t j = center; j < right; j++)
                sg_store(y, j * nmel + i, (double)(right - j) / (double)down);
    }
    free(bins);
    return ONYX_OK;
}

const onyx_op_def onyx_ops_signal[] = {
    {"", "DFT", op_dft},
    {"", "STFT", op_stft},
    {"", "HannWindow", op_hann},
    {"", "HammingWindow", op_hamming},
    {"", "BlackmanWindow", op_blackman},
    {"", "MelWeightMatrix", op_melweight},
    {0},
};
