/* calib.c - activation statistics for static quantization.
 *
 * The calibrator watches the activations the QDQ rewrite will quantize (the
 * activation inputs of the planned nodes, quant/plan.c): graph inputs from the
 * tensors handed to onyx_calibrator_run, everything else from the session
 * observer as the producing node finishes, so each value counts once per run.
 *
 * Every method keeps the exact min and max. Percentile and entropy also keep a
 * histogram of HBINS bins over [-R, R]; when a value falls outside, R doubles
 * and pairs of bins merge (bin i -> HBINS/4 + i/2), so no second pass over the
 * calibration data is needed and the histogram never loses mass.
 *
 *   minmax      [min, max]
 *   percentile  drops (100 - p)% of the values from each tail
 *   entropy     TensorRT's KL-divergence threshold T on |x| (128 levels, or 256
 *               for a non-negative tensor), range [max(min, -T), min(max, T)]
 * The range always contains 0 so zero is exact (padding, ReLU). */
#include "quant.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HBINS 2048

typedef struct q_stat {
    char *name;
    bool seen;
    double min, max;
    double R;           /* histogram half-width; 0 until the first value */
    double *hist;       /* HBINS bins over [-R, R] (percentile and entropy) */
    int mean_axis;      /* 1, -1 (last) or 0: no per-channel means wanted */
    int64_t chan_n;     /* channels summed in chan_sum */
    double *chan_sum, chan_count;
    bool chan_bad;      /* the channel count changed between runs */
} q_stat;

struct onyx_calibrator {
    onyx_quant_options opt;
    int n, cap;
    q_stat *st;
    int *hash;          /* open addressing over st, hcap slots, -1 empty */
    int hcap;
    int runs;
    bool failed;        /* out of memory inside the observer */
};

static uint64_t q_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int find_stat(const onyx_calibrator *c, const char *name)
{
    if (!c->hcap) return -1;
    for (uint64_t h = q_hash(name) & (uint64_t)(c->hcap - 1);; h = (h + 1) & (uint64_t)(c->hcap - 1)) {
        int i = c->hash[h];
        if (i < 0) return -1;
        if (!strcmp(c->st[i].name, name)) return i;
    }
}

static bool add_stat(onyx_calibrator *c, const char *name)
{
    if (find_stat(c, name) >= 0) return true;
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        q_stat *st = realloc(c->st, (size_t)cap * sizeof *st);
        if (!st) return false;
        c->st = st;
        c->cap = cap;
        int hcap = 4 * cap;
        int *hash = malloc((size_t)hcap * sizeof *hash);
        if (!hash) return false;
        for (int i = 0; i < hcap; i++) hash[i] = -1;
        free(c->hash);
        c->hash = hash;
        c->hcap = hcap;
        for (int i = 0; i < c->n; i++) {
            uint64_t h = q_hash(c->st[i].name) & (uint64_t)(hcap - 1);
            while (hash[h] >= 0) h = (h + 1) & (uint64_t)(hcap - 1);
            hash[h] = i;
        }
    }
    q_stat *s = &c->st[c->n];
    memset(s, 0, sizeof *s);
    s->name = malloc(strlen(name) + 1);
    if (!s->name) return false;
    strcpy(s->name, name);
    uint64_t h = q_hash(name) & (uint64_t)(c->hcap - 1);
    while (c->hash[h] >= 0) h = (h + 1) & (uint64_t)(c->hcap - 1);
    c->hash[h] = c->n++;
    return true;
}

onyx_status onyx_calibrator_create(const onyx_model *m, const onyx_quant_options *opt,
                                   onyx_calibrator **out, onyx_error *err)
{
    *out = NULL;
    onyx_calibrator *c = calloc(1, sizeof *c);
    if (!c) goto nomem;
    if (opt) c->opt = *opt;
    c->opt.exclude = NULL;  /* the caller's strings need not outlive this call */
    c->opt.op_types = NULL;
    const onyx_graph *g = m->graph;
    for (int i = 0; g && i < g->n_nodes; i++) {
        q_node_plan p;
        if (!q_plan_node(m, g, &g->nodes[i], opt ? opt : &c->opt, &p) || p.excluded) continue;
        for (int k = 0; k < p.n_act; k++)
            if (!add_stat(c, g->nodes[i].inputs[p.act[k]])) goto nomem;
        int si = find_stat(c, g->nodes[i].inputs[p.act[0]]);
        if (p.mean_axis && si >= 0 && !c->st[si].mean_axis) c->st[si].mean_axis = p.mean_axis;
    }
    *out = c;
    return ONYX_OK;
nomem:
    onyx_calibrator_free(c);
    if (err) {
        err->code = ONYX_E_NOMEM;
        snprintf(err->message, sizeof err->message, "calibrator: out of memory");
    }
    return ONYX_E_NOMEM;
}

void onyx_calibrator_free(onyx_calibrator *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->st[i].name);
        free(c->st[i].hist);
        free(c->st[i].chan_sum);
    }
    free(c->st);
    free(c->hash);
    free(c);
}

/* Grows the histogram to cover [-a, a]. */
static void hist_cover(q_stat *s, double a)
{
    if (s->R == 0) {
        s->R = a > 0 ? exp2(ceil(log2(a))) : 1e-6;
        if (s->R < 1e-6) s->R = 1e-6;
        return;
    }
    while (a > s->R) {
        double merged[HBINS] = {0};
        for (int i = 0; i < HBINS; i++) merged[HBINS / 4 + i / 2] += s->hist[i];
        memcpy(s->hist, merged, sizeof merged);
        s->R *= 2;
    }
}

static void observe(onyx_calibrator *c, q_stat *s, const onyx_tensor *t)
{
    if (!t || t->kind != ONYX_KIND_TENSOR || t->dtype != ONYX_FLOAT) return;
    int64_t n = tensor_numel_of(t->rank, t->dims);
    if (n <= 0) return;
    const float *x = t->data;
    double lo = DBL_MAX, hi = -DBL_MAX;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        if (!isfinite(v)) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    if (lo > hi) return; /* nothing finite */
    if (!s->seen || lo < s->min) s->min = lo;
    if (!s->seen || hi > s->max) s->max = hi;
    s->seen = true;
    if (s->mean_axis && t->rank >= 2 && !s->chan_bad) {
        int ax = s->mean_axis > 0 ? s->mean_axis : t->rank - 1;
        int64_t C = t->dims[ax], inner = tensor_numel_of(t->rank - ax - 1, t->dims + ax + 1);
        int64_t outer = C > 0 && inner > 0 ? n / (C * inner) : 0;
        if (!s->chan_sum && C > 0 && C <= (1 << 24)) {
            if (!(s->chan_sum = calloc((size_t)C, sizeof *s->chan_sum))) c->failed = true;
            s->chan_n = C;
        }
        if (!s->chan_sum || C != s->chan_n) {
            s->chan_bad = true;
        } else {
            for (int64_t o = 0; o < outer; o++)
                for (int64_t ch = 0; ch < C; ch++) {
                    const float *p = x + (o * C + ch) * inner;
                    double acc = 0;
                    for (int64_t i = 0; i < inner; i++) acc += isfinite(p[i]) ? p[i] : 0;
                    s->chan_sum[ch] += acc;
                }
            s->chan_count += (double)(outer * inner);
        }
    }
    if (c->opt.method == ONYX_CALIB_MINMAX) return;
    if (!s->hist && !(s->hist = calloc(HBINS, sizeof *s->hist))) {
        c->failed = true;
        return;
    }
    hist_cover(s, fmax(fabs(lo), fabs(hi)));
    double scale = HBINS / (2 * s->R);
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        if (!isfinite(v)) continue;
        int b = (int)((v + s->R) * scale);
        if (b < 0) b = 0;
        if (b >= HBINS) b = HBINS - 1;
        s->hist[b] += 1;
    }
}

typedef struct obs_ctx {
    onyx_calibrator *c;
} obs_ctx;

static void on_node(void *ud, const onyx_node_info *node, double seconds, int n_inputs,
                    const onyx_tensor *const *inputs, int n_outputs, const onyx_tensor *const *outputs)
{
    (void)seconds, (void)n_inputs, (void)inputs;
    onyx_calibrator *c = ((obs_ctx *)ud)->c;
    for (int i = 0; i < n_outputs && i < node->n_outputs; i++) {
        if (!outputs[i] || !node->outputs[i][0]) continue;
        int k = find_stat(c, node->outputs[i]);
        if (k >= 0) observe(c, &c->st[k], outputs[i]);
    }
}

onyx_status onyx_calibrator_run(onyx_calibrator *c, onyx_session *s, int n_inputs,
                                const char *const *names, const onyx_tensor *const *inputs,
                                onyx_error *err)
{
    for (int i = 0; i < n_inputs; i++) {
        int k = find_stat(c, names[i]);
        if (k >= 0) observe(c, &c->st[k], inputs[i]);
    }
    obs_ctx ctx = {c};
    onyx_session_set_observer(s, on_node, &ctx);
    onyx_status st = onyx_session_run(s, n_inputs, names, inputs, err);
    onyx_session_set_observer(s, NULL, NULL);
    if (st == ONYX_OK && c->failed) {
        st = ONYX_E_NOMEM;
        if (err) {
            err->code = st;
            snprintf(err->message, sizeof err->message, "calibrator: out of memory for histograms");
        }
    }
    if (st == ONYX_OK) c->runs++;
    return st;
}

/* Threshold on |x| minimizing KL(P || Q) where Q is P squeezed into `levels` bins. */
static double entropy_threshold(const double *abs_hist, int nb, double width, int levels)
{
    int last = nb - 1;
    while (last > 0 && abs_hist[last] == 0) last--;
    if (last + 1 <= levels) return (last + 1) * width;
    double best_kl = DBL_MAX;
    int best = last + 1;
    double *p = malloc((size_t)nb * sizeof *p), *q = malloc((size_t)nb * sizeof *q);
    if (!p || !q) {
        free(p), free(q);
        return (last + 1) * width;
    }
    int step = (last + 1 - levels) > 512 ? 2 : 1;
    for (int i = levels; i <= last + 1; i += step) {
        double outliers = 0;
        for (int j = i; j <= last; j++) outliers += abs_hist[j];
        memcpy(p, abs_hist, (size_t)i * sizeof *p);
        p[i - 1] += outliers;
        /* Q: the i bins *without* the clipped outliers squeezed into `levels`
         * bins, spread back over the non-empty bins of each group. P carries the
         * outliers in its last bin, so clipping costs KL (TensorRT's method). */
        for (int l = 0; l < levels; l++) {
            int a = (int)((int64_t)l * i / levels), b = (int)((int64_t)(l + 1) * i / levels);
            double sum = 0;
            int nz = 0;
            for (int j = a; j < b; j++) {
                sum += abs_hist[j];
                nz += abs_hist[j] != 0;
            }
            for (int j = a; j < b; j++) q[j] = abs_hist[j] != 0 && nz ? sum / nz : 0;
        }
        double ps = 0, qs = 0;
        for (int j = 0; j < i; j++) ps += p[j], qs += q[j];
        if (ps <= 0 || qs <= 0) continue;
        double kl = 0;
        for (int j = 0; j < i; j++) {
            if (p[j] == 0) continue;
            double pj = p[j] / ps, qj = q[j] / qs;
            kl += qj > 0 ? pj * log(pj / qj) : pj * 30; /* a value Q cannot represent */
        }
        if (kl < best_kl) {
            best_kl = kl;
            best = i;
        }
    }
    free(p), free(q);
    return best * width;
}

bool q_calib_range(const onyx_calibrator *c, const char *name, float *lo_out, float *hi_out)
{
    int k = c ? find_stat(c, name) : -1;
    if (k < 0 || !c->st[k].seen) return false;
    const q_stat *s = &c->st[k];
    double lo = s->min, hi = s->max;
    if (c->opt.method == ONYX_CALIB_PERCENTILE && s->hist) {
        double pct = c->opt.percentile > 0 && c->opt.percentile <= 100 ? c->opt.percentile : 99.999;
        double total = 0;
        for (int i = 0; i < HBINS; i++) total += s->hist[i];
        double tail = total * (100 - pct) / 100, w = 2 * s->R / HBINS, acc = 0;
        int a = 0, b = HBINS - 1;
        for (; a < HBINS - 1 && acc + s->hist[a] <= tail; a++) acc += s->hist[a];
        acc = 0;
        for (; b > 0 && acc + s->hist[b] <= tail; b--) acc += s->hist[b];
        double plo = -s->R + a * w, phi = -s->R + (b + 1) * w;
        if (plo > lo) lo = plo;
        if (phi < hi) hi = phi;
    } else if (c->opt.method == ONYX_CALIB_ENTROPY && s->hist) {
        double ah[HBINS / 2];
        for (int i = 0; i < HBINS / 2; i++) ah[i] = s->hist[HBINS / 2 + i] + s->hist[HBINS / 2 - 1 - i];
        double T = entropy_threshold(ah, HBINS / 2, 2 * s->R / HBINS, s->min >= 0 ? 256 : 128);
        if (-T > lo) lo = -T;
        if (T < hi) hi = T;
    }
    if (lo > 0) lo = 0;
    if (hi < 0) hi = 0;
    *lo_out = (float)lo;
    *hi_out = (float)hi;
    return true;
}

bool q_calib_mean(const onyx_calibrator *c, const char *name, bool last_axis, int64_t n, double *out)
{
    int k = c ? find_stat(c, name) : -1;
    if (k < 0) return false;
    const q_stat *s = &c->st[k];
    if (!s->chan_sum || s->chan_bad || s->chan_n != n || !(s->chan_count > 0) || (s->mean_axis < 0) != last_axis)
        return false;
    for (int64_t i = 0; i < n; i++) out[i] = s->chan_sum[i] / s->chan_count;
    return true;
}

int onyx_calibrator_range(const onyx_calibrator *c, const char *name, float *lo, float *hi)
{
    return q_calib_range(c, name, lo, hi) ? 1 : 0;
}
