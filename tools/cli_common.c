/* cli_common.c - helpers the commands share: errors, files, inputs, comparison. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int usage(void)
{
    fprintf(stderr,
            "usage:\n"
            "  onyx info MODEL\n"
            "  onyx run MODEL [-i NAME=FILE.pb]... [-o OUTDIR] [--no-optimize] [--passes a,b,...]\n"
            "  onyx verify MODEL DIR [--rtol R] [--atol A] [--cosine C --abs-scaled S] [--bisect]\n"
            "              [--no-optimize] [--passes a,b,...]\n"
            "  onyx verify QMODEL DIR --parent FP32.onnx [--cosine C] [--layers N]   # INT8 vs its float parent\n"
            "  onyx optimize MODEL -o OUT.onnx [--passes a,b,...] [--standard-ops] [--dump DIR]\n"
            "  onyx profile MODEL [-i NAME=FILE.pb]... [--shape NAME=1x3x512x512]... [--threads N]\n"
            "               [--runs N] [--warmup N] [--max-time SEC] [--sweep NAME=256,512,1024]\n"
            "               [--format md|json|csv] [--trace trace.json] [--svg chart.svg] [--no-peak]\n"
            "               [--no-optimize] [--passes a,b,...]\n"
            "  onyx quantize MODEL -o OUT.onnx [--calib DIR | --calib-random N] [--method minmax|percentile|entropy]\n"
            "               [--per-tensor] [--int8-activations] [--dynamic | --weight-only] [--exclude NODE,...] [--ops Conv,...]\n"
            "               [--shape NAME=DIMS] [--dist normal|uniform|uniform01] [--no-fold]\n"
            "               [--no-bias-correction]\n"
            "               [--report FILE.md|FILE.json] [--eval-random N] [--layer-inputs N] [--save-eval DIR]\n"
            "               [--sensitivity K [--target-cosine C]]\n");
    return EXIT_ERROR;
}

int report(const char *what, const onyx_error *e)
{
    fprintf(stderr, "onyx: %s: %s: %s\n", what, onyx_status_name(e->code), e->message);
    return EXIT_ERROR;
}

void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(n ? (size_t)n : 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

void print_dims(FILE *out, const onyx_value_info *v)
{
    if (v->kind == ONYX_KIND_SEQUENCE) fprintf(out, "sequence<");
    fprintf(out, "%s", onyx_dtype_name(v->dtype));
    if (v->rank < 0) {
        fprintf(out, "[?]");
    } else {
        fprintf(out, "[");
        for (int i = 0; i < v->rank; i++) {
            if (i) fprintf(out, "x");
            if (v->dims[i] >= 0) fprintf(out, "%lld", (long long)v->dims[i]);
            else fprintf(out, "%s", v->dim_names[i] && v->dim_names[i][0] ? v->dim_names[i] : "?");
        }
        fprintf(out, "]");
    }
    if (v->kind == ONYX_KIND_SEQUENCE) fprintf(out, ">");
    if (v->optional) fprintf(out, " (optional)");
}

/* ---------------------------------------------------------------- inputs */

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Deterministic pseudo-random data for an input the user did not give. */
onyx_tensor *random_input(const onyx_value_info *v, int index)
{
    int64_t dims[ONYX_MAX_RANK];
    int rank = v->rank < 0 ? 0 : v->rank;
    for (int i = 0; i < rank; i++) dims[i] = v->dims[i] >= 0 ? v->dims[i] : 1;
    onyx_dtype dt = v->dtype == ONYX_UNDEFINED ? ONYX_FLOAT : v->dtype;
    onyx_tensor *t = onyx_tensor_create(dt, rank, dims);
    if (!t) return NULL;
    uint64_t seed = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(index + 1);
    int64_t n = onyx_tensor_numel(t);
    void *p = onyx_tensor_data(t);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = rng_next(&seed);
        double u = (double)(r & 0xffffff) / (double)0xffffff; /* [0,1] */
        switch (dt) {
        case ONYX_FLOAT: ((float *)p)[i] = (float)(2 * u - 1); break;
        case ONYX_DOUBLE: ((double *)p)[i] = 2 * u - 1; break;
        case ONYX_INT64: ((int64_t *)p)[i] = (int64_t)(r % 10); break;
        case ONYX_INT32: ((int32_t *)p)[i] = (int32_t)(r % 10); break;
        case ONYX_INT8: ((int8_t *)p)[i] = (int8_t)(r % 10); break;
        case ONYX_UINT8: ((uint8_t *)p)[i] = (uint8_t)(r % 256); break;
        case ONYX_BOOL: ((uint8_t *)p)[i] = (uint8_t)(r & 1); break;
        default: break; /* other types stay zero */
        }
    }
    return t;
}


void inputs_free(inputs *in)
{
    for (int i = 0; i < in->n; i++) onyx_tensor_free(in->vals[i]);
    free(in->names);
    free(in->vals);
    memset(in, 0, sizeof *in);
}

int find_input(const onyx_model *m, const char *name)
{
    for (int i = 0; i < onyx_model_num_inputs(m); i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        if (!strcmp(v.name, name)) return i;
    }
    return -1;
}

/* Loads a .pb holding input index (positional) unless its stored name says otherwise. */
int load_input_pb(const onyx_model *m, const char *path, int index, inputs *in)
{
    size_t len;
    void *buf = read_file(path, &len);
    if (!buf) {
        fprintf(stderr, "onyx: cannot read '%s': %s\n", path, strerror(errno));
        return EXIT_ERROR;
    }
    onyx_value_info v = {0};
    if (index >= 0 && index < onyx_model_num_inputs(m)) onyx_model_input(m, index, &v);
    onyx_error err = {0};
    onyx_tensor *t;
    char *name = NULL;
    if (onyx_value_load_pb(buf, len, v.kind, v.optional, &t, &name, &err) != ONYX_OK) {
        free(buf);
        return report(path, &err);
    }
    free(buf);
    const char *use = NULL;
    if (name && name[0] && find_input(m, name) >= 0) {
        onyx_model_input(m, find_input(m, name), &v);
        use = v.name;
    } else if (index >= 0 && index < onyx_model_num_inputs(m)) {
        use = v.name;
    }
    free(name);
    if (!use) {
        fprintf(stderr, "onyx: '%s' does not match any model input\n", path);
        onyx_tensor_free(t);
        return EXIT_ERROR;
    }
    in->names = realloc(in->names, (size_t)(in->n + 1) * sizeof *in->names);
    in->vals = realloc(in->vals, (size_t)(in->n + 1) * sizeof *in->vals);
    if (!in->names || !in->vals) {
        onyx_tensor_free(t);
        fprintf(stderr, "onyx: out of memory\n");
        return EXIT_ERROR;
    }
    in->names[in->n] = use;
    in->vals[in->n++] = t;
    return 0;
}

int run_session(onyx_session *s, inputs *in, const char *what)
{
    onyx_error err;
    if (onyx_session_run(s, in->n, in->names, (const onyx_tensor *const *)in->vals, &err) != ONYX_OK)
        return report(what, &err);
    return 0;
}

/* ---------------------------------------------------------------- verify */


bool is_floaty(onyx_dtype t)
{
    return t == ONYX_FLOAT || t == ONYX_DOUBLE || t == ONYX_FLOAT16 || t == ONYX_BFLOAT16 ||
           t == ONYX_COMPLEX64 || t == ONYX_COMPLEX128;
}

double elem(const onyx_tensor *t, int64_t i)
{
    const void *p = onyx_tensor_data((onyx_tensor *)t);
    switch (onyx_tensor_dtype(t)) {
    case ONYX_FLOAT: case ONYX_COMPLEX64: return ((const float *)p)[i];
    case ONYX_DOUBLE: case ONYX_COMPLEX128: return ((const double *)p)[i];
    case ONYX_FLOAT16: {
        uint16_t h = ((const uint16_t *)p)[i];
        int e = (h >> 10) & 31, mnt = h & 1023;
        double v = e == 0 ? ldexp(mnt, -24) : e == 31 ? (mnt ? NAN : INFINITY) : ldexp(mnt + 1024, e - 25);
        return h & 0x8000 ? -v : v;
    }
    case ONYX_BFLOAT16: {
        uint32_t b = (uint32_t)((const uint16_t *)p)[i] << 16;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    case ONYX_INT8: return ((const int8_t *)p)[i];
    case ONYX_UINT8: case ONYX_BOOL: return ((const uint8_t *)p)[i];
    case ONYX_INT16: return ((const int16_t *)p)[i];
    case ONYX_UINT16: return ((const uint16_t *)p)[i];
    case ONYX_INT32: return ((const int32_t *)p)[i];
    case ONYX_UINT32: return ((const uint32_t *)p)[i];
    case ONYX_INT64: return (double)((const int64_t *)p)[i];
    case ONYX_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0;
    }
}

void compare_tensor(const onyx_tensor *got, const onyx_tensor *ref, double rtol, double atol, cmp *c)
{
    if (onyx_tensor_kind(got) != onyx_tensor_kind(ref)) {
        c->shape_mismatch = true;
        snprintf(c->why, sizeof c->why, "kind differs");
        return;
    }
    if (onyx_tensor_kind(ref) == ONYX_KIND_NONE) return;
    if (onyx_tensor_kind(ref) == ONYX_KIND_SEQUENCE) {
        if (onyx_sequence_length(got) != onyx_sequence_length(ref)) {
            c->shape_mismatch = true;
            snprintf(c->why, sizeof c->why, "sequence length %d, expected %d", onyx_sequence_length(got), onyx_sequence_length(ref));
            return;
        }
        for (int i = 0; i < onyx_sequence_length(ref) && !c->shape_mismatch; i++)
            compare_tensor(onyx_sequence_at(got, i), onyx_sequence_at(ref, i), rtol, atol, c);
        return;
    }
    onyx_dtype dt = onyx_tensor_dtype(ref);
    if (onyx_tensor_dtype(got) != dt) {
        c->shape_mismatch = true;
        snprintf(c->why, sizeof c->why, "type %s, expected %s", onyx_dtype_name(onyx_tensor_dtype(got)), onyx_dtype_name(dt));
        return;
    }
    bool same = onyx_tensor_rank(got) == onyx_tensor_rank(ref);
    for (int i = 0; same && i < onyx_tensor_rank(ref); i++) same = onyx_tensor_dims(got)[i] == onyx_tensor_dims(ref)[i];
    if (!same) {
        c->shape_mismatch = true;
        int w = snprintf(c->why, sizeof c->why, "shape [");
        for (int i = 0; i < onyx_tensor_rank(got) && w < 100; i++) w += snprintf(c->why + w, sizeof c->why - (size_t)w, "%s%lld", i ? "x" : "", (long long)onyx_tensor_dims(got)[i]);
        w += snprintf(c->why + w, sizeof c->why - (size_t)w, "], expected [");
        for (int i = 0; i < onyx_tensor_rank(ref) && w < 200; i++) w += snprintf(c->why + w, sizeof c->why - (size_t)w, "%s%lld", i ? "x" : "", (long long)onyx_tensor_dims(ref)[i]);
        snprintf(c->why + w, sizeof c->why - (size_t)w, "]");
        return;
    }
    int64_t n = onyx_tensor_numel(ref);
    if (dt == ONYX_COMPLEX64 || dt == ONYX_COMPLEX128) n *= 2;
    if (dt == ONYX_STRING) {
        char *const *a = onyx_tensor_data((onyx_tensor *)got), *const *b = onyx_tensor_data((onyx_tensor *)ref);
        for (int64_t i = 0; i < n; i++)
            if (strcmp(a[i], b[i])) {
                if (!c->bad++) c->first_bad = i;
            }
        return;
    }
    bool fl = is_floaty(dt);
    for (int64_t i = 0; i < n; i++) {
        double a = elem(got, i), b = elem(ref, i);
        if (isnan(a) || isnan(b)) {
            if (!(isnan(a) && isnan(b)) && !c->bad++) c->first_bad = i;
            continue;
        }
        if (isinf(a) || isinf(b)) {
            if (a != b && !c->bad++) c->first_bad = i;
            continue;
        }
        double d = fabs(a - b);
        double rel = d / (fabs(b) > 0 ? fabs(b) : 1e-30);
        if (d > c->max_abs) c->max_abs = d;
        if (fabs(b) > c->max_ref) c->max_ref = fabs(b);
        if (d > 0 && rel > c->max_rel) c->max_rel = rel;
        c->dot += a * b;
        c->na += a * a;
        c->nb += b * b;
        bool ok = fl ? d <= atol + rtol * fabs(b) : d == 0;
        if (!ok && !c->bad++) c->first_bad = i;
    }
}

int count_files(const char *dir, const char *prefix)
{
    int n = 0;
    char path[4096];
    for (;;) {
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, n);
        struct stat st;
        if (stat(path, &st) != 0) return n;
        n++;
    }
}
