/* qeval.c - judging a quantized model against its float parent (qeval.h). */
#include "qeval.h"

#include <stdlib.h>
#include <string.h>

static int find_act(const evalstate *e, const char *name)
{
    for (int i = 0; i < e->n_acts; i++)
        if (!strcmp(e->acts[i].name, name)) return i;
    return -1;
}

static double scalar_of(const onyx_tensor *t)
{
    return t && onyx_tensor_numel(t) == 1 ? elem(t, 0) : NAN;
}

/* Reads the QDQ model: which activations are quantized (and how) and which nodes
 * read a DequantizeLinear output. */
bool qe_scan(const onyx_model *q, evalstate *e)
{
    int n = onyx_model_num_nodes(q);
    e->acts = calloc((size_t)n + 1, sizeof *e->acts);
    e->layers = calloc((size_t)n + 1, sizeof *e->layers);
    e->hold = calloc((size_t)n + 1, sizeof *e->hold);
    if (!e->acts || !e->layers || !e->hold) return false;
    for (int i = 0; i < n; i++) {
        onyx_node_info ni;
        onyx_model_node(q, i, &ni);
        if (strcmp(ni.op_type, "QuantizeLinear") || ni.n_inputs < 2) continue;
        const onyx_tensor *s = onyx_model_initializer(q, ni.inputs[1]);
        const onyx_tensor *z = ni.n_inputs > 2 ? onyx_model_initializer(q, ni.inputs[2]) : NULL;
        double sc = scalar_of(s);
        if (!(sc > 0)) continue; /* per-axis activations are not written by onyx */
        qact *a = &e->acts[e->n_acts++];
        a->name = ni.inputs[0];
        a->scale = (float)sc;
        bool sg = z && onyx_tensor_dtype(z) == ONYX_INT8;
        a->zp = z ? (int)scalar_of(z) : 0;
        a->qmin = sg ? -128 : 0;
        a->qmax = sg ? 127 : 255;
    }
    /* DQ output -> the float activation it stands for (through its Q) */
    for (int i = 0; i < n; i++) {
        onyx_node_info ni;
        onyx_model_node(q, i, &ni);
        if (!strcmp(ni.op_type, "QuantizeLinear") || !strcmp(ni.op_type, "DequantizeLinear") || ni.n_outputs < 1)
            continue;
        qlayer L = {ni.name, ni.op_type, ni.outputs[0], {-1, -1}, 0, 0, false};
        bool quantized = false;
        int na = 0;
        for (int k = 0; k < ni.n_inputs; k++) {
            if (!ni.inputs[k][0]) continue;
            for (int j = 0; j < n; j++) {
                onyx_node_info p;
                onyx_model_node(q, j, &p);
                if (strcmp(p.op_type, "DequantizeLinear") || p.n_outputs < 1 || strcmp(p.outputs[0], ni.inputs[k]))
                    continue;
                quantized = true;
                /* find the Q feeding this DQ */
                for (int r = 0; r < n && na < 2; r++) {
                    onyx_node_info qq;
                    onyx_model_node(q, r, &qq);
                    if (!strcmp(qq.op_type, "QuantizeLinear") && qq.n_outputs > 0 && !strcmp(qq.outputs[0], p.inputs[0])) {
                        int ai = find_act(e, qq.inputs[0]);
                        if (ai >= 0) L.act[na++] = ai;
                    }
                }
                break;
            }
        }
        if (quantized) e->layers[e->n_layers++] = L;
    }
    return true;
}

void qe_free(evalstate *e)
{
    for (int i = 0; i < e->n_layers; i++) onyx_tensor_free(e->hold[i].t);
    free(e->acts);
    free(e->layers);
    free(e->hold);
}

static void sqnr_acc(const onyx_tensor *a, const onyx_tensor *ref, double *sig, double *noise)
{
    if (onyx_tensor_kind(a) != ONYX_KIND_TENSOR || onyx_tensor_dtype(a) != ONYX_FLOAT ||
        onyx_tensor_dtype(ref) != ONYX_FLOAT || onyx_tensor_numel(a) != onyx_tensor_numel(ref))
        return;
    const float *x = onyx_tensor_data((onyx_tensor *)a), *r = onyx_tensor_data((onyx_tensor *)ref);
    int64_t n = onyx_tensor_numel(a);
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - r[i];
        *sig += (double)r[i] * r[i];
        *noise += d * d;
    }
}

onyx_tensor *qe_clone(const onyx_tensor *t)
{
    onyx_tensor *c = onyx_tensor_create(onyx_tensor_dtype(t), onyx_tensor_rank(t), onyx_tensor_dims(t));
    if (c) memcpy(onyx_tensor_data(c), onyx_tensor_data((onyx_tensor *)t),
                  (size_t)onyx_tensor_numel(t) * onyx_dtype_size(onyx_tensor_dtype(t)));
    return c;
}

/* Float run: fake-quantize every quantized activation, keep the quantized nodes' outputs. */
void qe_on_float(void *ud, const onyx_node_info *node, double seconds, int n_inputs,
                     const onyx_tensor *const *ins, int n_outputs, const onyx_tensor *const *outs)
{
    (void)seconds;
    evalstate *e = ud;
    for (int k = 0; k < n_inputs; k++) {
        if (!ins[k] || onyx_tensor_kind(ins[k]) != ONYX_KIND_TENSOR || onyx_tensor_dtype(ins[k]) != ONYX_FLOAT) continue;
        int ai = find_act(e, node->inputs[k]);
        if (ai < 0) continue;
        qact *a = &e->acts[ai];
        const float *x = onyx_tensor_data((onyx_tensor *)ins[k]);
        int64_t n = onyx_tensor_numel(ins[k]);
        for (int64_t i = 0; i < n; i++) {
            double qv = nearbyint(x[i] / a->scale) + a->zp;
            if (qv < a->qmin || qv > a->qmax) a->clipped++;
            qv = qv < a->qmin ? a->qmin : qv > a->qmax ? a->qmax : qv;
            double d = (qv - a->zp) * a->scale - x[i];
            a->sig += (double)x[i] * x[i];
            a->noise += d * d;
        }
        a->total += (double)n;
    }
    for (int k = 0; k < n_outputs; k++) {
        if (!outs[k]) continue;
        for (int l = 0; l < e->n_layers; l++) {
            if (strcmp(e->layers[l].out, node->outputs[k])) continue;
            onyx_tensor_free(e->hold[l].t);
            e->hold[l].t = onyx_tensor_kind(outs[k]) == ONYX_KIND_TENSOR ? qe_clone(outs[k]) : NULL;
            if (!e->hold[l].t) e->oom = true;
        }
    }
}

void qe_on_qdq(void *ud, const onyx_node_info *node, double seconds, int n_inputs,
                   const onyx_tensor *const *ins, int n_outputs, const onyx_tensor *const *outs)
{
    (void)seconds, (void)n_inputs, (void)ins;
    evalstate *e = ud;
    for (int k = 0; k < n_outputs; k++) {
        if (!outs[k]) continue;
        for (int l = 0; l < e->n_layers; l++) {
            if (strcmp(e->layers[l].out, node->outputs[k]) || !e->hold[l].t) continue;
            sqnr_acc(outs[k], e->hold[l].t, &e->layers[l].sig, &e->layers[l].noise);
            e->layers[l].matched = true;
        }
    }
}



static void topk(const float *x, int64_t n, int k, int64_t *idx)
{
    for (int j = 0; j < k; j++) idx[j] = -1;
    for (int64_t i = 0; i < n; i++) {
        for (int j = 0; j < k; j++) {
            if (idx[j] < 0 || x[i] > x[idx[j]]) {
                for (int r = k - 1; r > j; r--) idx[r] = idx[r - 1];
                idx[j] = i;
                break;
            }
        }
    }
}

void qe_out_acc(outmetric *o, const onyx_tensor *q, const onyx_tensor *f)
{
    if (onyx_tensor_kind(f) != ONYX_KIND_TENSOR || onyx_tensor_dtype(f) != ONYX_FLOAT ||
        onyx_tensor_dtype(q) != ONYX_FLOAT || onyx_tensor_numel(q) != onyx_tensor_numel(f))
        return;
    const float *a = onyx_tensor_data((onyx_tensor *)q), *b = onyx_tensor_data((onyx_tensor *)f);
    int64_t n = onyx_tensor_numel(f);
    double dot = 0, na = 0, nb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > o->max_abs) o->max_abs = d;
        if (fabs(b[i]) > o->max_ref) o->max_ref = fabs(b[i]);
        o->sumsq_err += d * d;
        dot += (double)a[i] * b[i], na += (double)a[i] * a[i], nb += (double)b[i] * b[i];
    }
    double cs = na > 0 && nb > 0 ? dot / sqrt(na * nb) : (na == nb ? 1 : 0);
    if (o->samples == 0 || cs < o->min_cos) o->min_cos = cs;
    o->cos_sum += cs;
    o->dot += dot, o->na += na, o->nb += nb;
    o->n += n;
    o->samples++;
    int rank = onyx_tensor_rank(f);
    const int64_t *dims = onyx_tensor_dims(f);
    /* logits: [N, classes]; feature vectors (DINOv2's cls) are not classes */
    if (rank == 2 && dims[1] >= 10 && (strstr(o->name, "logit") || strstr(o->name, "prob") || dims[1] == 1000 || dims[1] == 1001)) {
        o->classifier = true;
        for (int64_t r = 0; r < dims[0]; r++) {
            int64_t ia[5], ib[5];
            topk(a + r * dims[1], dims[1], 5, ia);
            topk(b + r * dims[1], dims[1], 5, ib);
            o->rows++;
            o->top1 += ia[0] == ib[0];
            for (int j = 0; j < 5; j++) o->top5 += ia[0] == ib[j];
        }
    }
    if (rank == 4 && (dims[1] == 1 || dims[1] == 3)) o->image = true;
}



int qe_cmp_row(const void *x, const void *y)
{
    double a = ((const rowsort *)x)->key, b = ((const rowsort *)y)->key;
    return a < b ? -1 : a > b;
}

double qe_db(double sig, double noise) { return noise > 0 ? 10 * log10(sig / noise) : INFINITY; }


double qe_cosine(const outmetric *o)
{
    return o->na > 0 && o->nb > 0 ? o->dot / sqrt(o->na * o->nb) : 1.0;
}

double qe_psnr(const outmetric *o)
{
    return o->n ? 10 * log10(o->max_ref * o->max_ref / (o->sumsq_err / (double)o->n)) : INFINITY;
}

int qe_layer_rows(const evalstate *e, rowsort *rows)
{
    int nr = 0;
    for (int l = 0; l < e->n_layers; l++) {
        double in_db = INFINITY;
        for (int k = 0; k < 2; k++)
            if (e->layers[l].act[k] >= 0) {
                const qact *q = &e->acts[e->layers[l].act[k]];
                if (qe_db(q->sig, q->noise) < in_db) in_db = qe_db(q->sig, q->noise);
            }
        rows[nr++] = (rowsort){l, in_db};
    }
    qsort(rows, (size_t)nr, sizeof *rows, qe_cmp_row);
    return nr;
}

void qe_print_outputs_md(FILE *f, const outmetric *om, int n_out)
{
    fprintf(f, "| output | cosine (all) | mean cosine | min cosine | max abs err | max abs float | top-1 | top-5 | PSNR dB |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n_out; i++) {
        const outmetric *o = &om[i];
        fprintf(f, "| %s | %.6f | %.6f | %.6f | %.4g | %.4g | ", o->name, qe_cosine(o),
                o->samples ? o->cos_sum / (double)o->samples : 0, o->min_cos, o->max_abs, o->max_ref);
        if (o->classifier)
            fprintf(f, "%.1f%% | %.1f%% | ", 100.0 * (double)o->top1 / (double)o->rows,
                    100.0 * (double)o->top5 / (double)o->rows);
        else fprintf(f, "- | - | ");
        if (o->image && o->n) fprintf(f, "%.2f |\n", qe_psnr(o));
        else fprintf(f, "- |\n");
    }
}

void qe_print_layers_md(FILE *f, const evalstate *e, const rowsort *rows, int nr, int max_rows)
{
    fprintf(f, "*input SQNR*: the float activation vs itself quantized with the calibrated scale (the error this layer adds).  \n"
               "*output SQNR*: the layer's output in the QDQ model vs the float model (error accumulated so far).\n\n"
               "| # | node | op | input SQNR dB | clipped | output SQNR dB |\n|---:|---|---|---:|---:|---:|\n");
    for (int r = 0; r < nr && (!max_rows || r < max_rows); r++) {
        const qlayer *L = &e->layers[rows[r].idx];
        double clip = 0, tot = 0;
        for (int k = 0; k < 2; k++)
            if (L->act[k] >= 0) clip += e->acts[L->act[k]].clipped, tot += e->acts[L->act[k]].total;
        fprintf(f, "| %d | %s | %s | ", r + 1, L->node, L->op);
        if (isfinite(rows[r].key)) fprintf(f, "%.2f | %.4f%% | ", rows[r].key, tot > 0 ? 100 * clip / tot : 0);
        else fprintf(f, "weights only | - | ");
        if (L->matched) fprintf(f, "%.2f |\n", qe_db(L->sig, L->noise));
        else fprintf(f, "(no float counterpart) |\n");
    }
    if (nr > 0) {
        fprintf(f, "\nTo keep the worst layers in float: `--exclude ");
        for (int r = 0; r < nr && r < 3; r++) fprintf(f, "%s%s", r ? "," : "", e->layers[rows[r].idx].node);
        fprintf(f, "`\n");
    }
}
