/* onyx - command-line front end: the only place that prints or exits.
 *
 *   onyx info MODEL
 *   onyx run MODEL [-i NAME=FILE.pb]... [-o OUTDIR]
 *   onyx verify MODEL DIR [--rtol R] [--atol A] [--bisect]
 *
 * --bisect writes a copy of the model with every intermediate value exposed as
 * an output, runs the reference runtime on it ($ONYX_REFERENCE MODEL DIR, by
 * default `node models/ort_run.js`), runs onyx on the same file and names the
 * first node, in topological order, whose output differs beyond tolerance.
 *
 * verify exits 0 when every output is within tolerance, 1 on a mismatch and
 * 2 on an error (the message names the node, operator and reason). */
#include "onyx.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define EXIT_MISMATCH 1
#define EXIT_ERROR 2

static int usage(void)
{
    fprintf(stderr,
            "usage:\n"
            "  onyx info MODEL\n"
            "  onyx run MODEL [-i NAME=FILE.pb]... [-o OUTDIR]\n"
            "  onyx verify MODEL DIR [--rtol R] [--atol A] [--bisect]\n");
    return EXIT_ERROR;
}

static int report(const char *what, const onyx_error *e)
{
    fprintf(stderr, "onyx: %s: %s: %s\n", what, onyx_status_name(e->code), e->message);
    return EXIT_ERROR;
}

static void *read_file(const char *path, size_t *len)
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

static void print_dims(FILE *out, const onyx_value_info *v)
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

/* ---------------------------------------------------------------- info */

static void print_op(const char *domain, const char *op, int count, void *ud)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", domain, domain[0] ? "." : "", op);
    printf("  %-28s %d\n", full, count);
}

static int cmd_info(int argc, char **argv)
{
    if (argc != 1) return usage();
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_file(argv[0], &m, &err) != ONYX_OK) return report(argv[0], &err);
    onyx_model_summary s;
    onyx_model_get_summary(m, &s);
    struct stat st;
    printf("model:       %s (%lld bytes)\n", argv[0], stat(argv[0], &st) == 0 ? (long long)st.st_size : -1LL);
    printf("ir_version:  %lld\nproducer:    %s\n", (long long)s.ir_version, s.producer);
    printf("opsets:     ");
    for (int i = 0; i < onyx_model_num_opsets(m); i++) {
        const char *d;
        int64_t v;
        onyx_model_opset(m, i, &d, &v);
        printf(" %s=%lld", d[0] ? d : "ai.onnx", (long long)v);
    }
    printf("\ninputs:\n");
    for (int i = 0; i < onyx_model_num_inputs(m); i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        printf("  %-28s ", v.name);
        print_dims(stdout, &v);
        printf("\n");
    }
    printf("outputs:\n");
    for (int i = 0; i < onyx_model_num_outputs(m); i++) {
        onyx_value_info v;
        onyx_model_output(m, i, &v);
        printf("  %-28s ", v.name);
        print_dims(stdout, &v);
        printf("\n");
    }
    printf("nodes:       %d\ninitializers: %d\nparameters:  %lld\nweight bytes: %lld\nops:\n", s.n_nodes,
           s.n_initializers, (long long)s.n_params, (long long)s.weight_bytes);
    onyx_model_op_histogram(m, print_op, NULL);
    onyx_model_free(m);
    return 0;
}

/* ---------------------------------------------------------------- inputs */

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* Deterministic pseudo-random data for an input the user did not give. */
static onyx_tensor *random_input(const onyx_value_info *v, int index)
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

typedef struct inputs {
    int n;
    const char **names;
    onyx_tensor **vals;
} inputs;

static void inputs_free(inputs *in)
{
    for (int i = 0; i < in->n; i++) onyx_tensor_free(in->vals[i]);
    free(in->names);
    free(in->vals);
    memset(in, 0, sizeof *in);
}

static int find_input(const onyx_model *m, const char *name)
{
    for (int i = 0; i < onyx_model_num_inputs(m); i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        if (!strcmp(v.name, name)) return i;
    }
    return -1;
}

/* Loads a .pb holding input index (positional) unless its stored name says otherwise. */
static int load_input_pb(const onyx_model *m, const char *path, int index, inputs *in)
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

static int run_session(onyx_session *s, inputs *in, const char *what)
{
    onyx_error err;
    if (onyx_session_run(s, in->n, in->names, (const onyx_tensor *const *)in->vals, &err) != ONYX_OK)
        return report(what, &err);
    return 0;
}

/* ---------------------------------------------------------------- run */

static int write_outputs(const onyx_session *s, const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "onyx: cannot create '%s': %s\n", dir, strerror(errno));
        return EXIT_ERROR;
    }
    for (int i = 0; i < onyx_session_num_outputs(s); i++) {
        void *buf;
        size_t len;
        onyx_error err;
        if (onyx_value_save_pb(onyx_session_output(s, i), onyx_session_output_name(s, i), &buf, &len, &err) != ONYX_OK)
            return report("write", &err);
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", dir, i);
        FILE *f = fopen(path, "wb");
        bool ok = f && fwrite(buf, 1, len, f) == len;
        if (f && fclose(f) != 0) ok = false;
        free(buf);
        if (!ok) {
            fprintf(stderr, "onyx: cannot write '%s'\n", path);
            return EXIT_ERROR;
        }
    }
    return 0;
}

static void describe(const char *name, const onyx_tensor *t)
{
    printf("%s: ", name);
    if (onyx_tensor_kind(t) == ONYX_KIND_SEQUENCE) {
        printf("sequence of %d\n", onyx_sequence_length(t));
        return;
    }
    if (onyx_tensor_kind(t) == ONYX_KIND_NONE) {
        printf("none\n");
        return;
    }
    printf("%s[", onyx_dtype_name(onyx_tensor_dtype(t)));
    for (int i = 0; i < onyx_tensor_rank(t); i++) printf("%s%lld", i ? "x" : "", (long long)onyx_tensor_dims(t)[i]);
    printf("]");
    if (onyx_tensor_dtype(t) == ONYX_FLOAT) {
        const float *p = onyx_tensor_data((onyx_tensor *)t);
        int64_t n = onyx_tensor_numel(t);
        printf(" ");
        for (int64_t i = 0; i < n && i < 6; i++) printf(" %g", p[i]);
        if (n > 6) printf(" ...");
    }
    printf("\n");
}

static int cmd_run(int argc, char **argv)
{
    if (argc < 1) return usage();
    const char *model_path = argv[0], *outdir = NULL;
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_file(model_path, &m, &err) != ONYX_OK) return report(model_path, &err);
    inputs in = {0};
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            outdir = argv[++i];
        } else if (!strcmp(argv[i], "-i") && i + 1 < argc) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            if (!eq) {
                rc = usage();
                break;
            }
            *eq = 0;
            int idx = find_input(m, spec);
            if (idx < 0) {
                fprintf(stderr, "onyx: the model has no input named '%s'\n", spec);
                rc = EXIT_ERROR;
                break;
            }
            rc = load_input_pb(m, eq + 1, idx, &in);
        } else {
            rc = usage();
        }
    }
    for (int i = 0; i < onyx_model_num_inputs(m) && !rc; i++) {
        onyx_value_info v;
        onyx_model_input(m, i, &v);
        bool given = false;
        for (int j = 0; j < in.n; j++) given |= !strcmp(in.names[j], v.name);
        if (given) continue;
        if (v.kind != ONYX_KIND_TENSOR) {
            fprintf(stderr, "onyx: input '%s' is not a tensor; give it with -i\n", v.name);
            rc = EXIT_ERROR;
            break;
        }
        onyx_tensor *t = random_input(&v, i);
        in.names = realloc(in.names, (size_t)(in.n + 1) * sizeof *in.names);
        in.vals = realloc(in.vals, (size_t)(in.n + 1) * sizeof *in.vals);
        if (!t || !in.names || !in.vals) {
            onyx_tensor_free(t);
            fprintf(stderr, "onyx: out of memory\n");
            rc = EXIT_ERROR;
            break;
        }
        in.names[in.n] = v.name;
        in.vals[in.n++] = t;
    }
    onyx_session *s = NULL;
    if (!rc && onyx_session_create(m, NULL, &s, &err) != ONYX_OK) rc = report(model_path, &err);
    if (!rc) rc = run_session(s, &in, model_path);
    if (!rc) {
        for (int i = 0; i < onyx_session_num_outputs(s); i++) describe(onyx_session_output_name(s, i), onyx_session_output(s, i));
        if (outdir) rc = write_outputs(s, outdir);
    }
    onyx_session_free(s);
    inputs_free(&in);
    onyx_model_free(m);
    return rc;
}

/* ---------------------------------------------------------------- verify */

typedef struct cmp {
    double max_abs, max_rel, dot, na, nb;
    int64_t bad;        /* elements outside tolerance */
    int64_t first_bad;
    bool shape_mismatch;
    char why[256];
} cmp;

static bool is_floaty(onyx_dtype t)
{
    return t == ONYX_FLOAT || t == ONYX_DOUBLE || t == ONYX_FLOAT16 || t == ONYX_BFLOAT16 ||
           t == ONYX_COMPLEX64 || t == ONYX_COMPLEX128;
}

static double elem(const onyx_tensor *t, int64_t i)
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

static void compare_tensor(const onyx_tensor *got, const onyx_tensor *ref, double rtol, double atol, cmp *c)
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
        if (d > 0 && rel > c->max_rel) c->max_rel = rel;
        c->dot += a * b;
        c->na += a * a;
        c->nb += b * b;
        bool ok = fl ? d <= atol + rtol * fabs(b) : d == 0;
        if (!ok && !c->bad++) c->first_bad = i;
    }
}

static int count_files(const char *dir, const char *prefix)
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

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int verify_set(const onyx_model *m, onyx_session *s, const char *set, double rtol, double atol)
{
    inputs in = {0};
    int rc = 0, n_in = count_files(set, "input"), n_out = count_files(set, "output");
    for (int i = 0; i < n_in && !rc; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/input_%d.pb", set, i);
        rc = load_input_pb(m, path, i, &in);
    }
    if (!rc) rc = run_session(s, &in, set);
    inputs_free(&in);
    if (rc) return rc;
    if (n_out > onyx_session_num_outputs(s)) {
        fprintf(stderr, "onyx: %s has %d reference outputs, the model %d\n", set, n_out, onyx_session_num_outputs(s));
        return EXIT_ERROR;
    }
    printf("%s\n", set);
    for (int i = 0; i < n_out; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/output_%d.pb", set, i);
        size_t len;
        void *buf = read_file(path, &len);
        if (!buf) {
            fprintf(stderr, "onyx: cannot read '%s'\n", path);
            return EXIT_ERROR;
        }
        onyx_value_info v;
        onyx_model_output(m, i, &v);
        onyx_tensor *ref;
        onyx_error err = {0};
        onyx_status st = onyx_value_load_pb(buf, len, v.kind, v.optional, &ref, NULL, &err);
        free(buf);
        if (st != ONYX_OK) return report(path, &err);
        cmp c = {0};
        compare_tensor(onyx_session_output(s, i), ref, rtol, atol, &c);
        onyx_tensor_free(ref);
        double cosine = c.na > 0 && c.nb > 0 ? c.dot / sqrt(c.na * c.nb) : (c.na == c.nb ? 1.0 : 0.0);
        printf("  output %d %-24s ", i, onyx_session_output_name(s, i));
        if (c.shape_mismatch) {
            printf("MISMATCH %s\n", c.why);
            rc = EXIT_MISMATCH;
            continue;
        }
        printf("max_abs=%.3g max_rel=%.3g cosine=%.9f %s", c.max_abs, c.max_rel, cosine, c.bad ? "MISMATCH" : "ok");
        if (c.bad) {
            printf(" (%lld elements out of tolerance, first at flat index %lld)", (long long)c.bad, (long long)c.first_bad);
            rc = EXIT_MISMATCH;
        }
        printf("\n");
    }
    return rc;
}


/* ---------------------------------------------------------------- bisect */

static bool copy_file(const char *from, const char *to)
{
    size_t len;
    void *buf = read_file(from, &len);
    if (!buf) return false;
    FILE *f = fopen(to, "wb");
    bool ok = f && fwrite(buf, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    free(buf);
    return ok;
}

typedef struct drift {
    double max_abs, max_ref;
    bool bad, missing;
} drift;

static void shape_str(const onyx_tensor *t, char *buf, size_t len)
{
    if (!t || onyx_tensor_kind(t) != ONYX_KIND_TENSOR) {
        snprintf(buf, len, "?");
        return;
    }
    int w = snprintf(buf, len, "%s[", onyx_dtype_name(onyx_tensor_dtype(t)));
    for (int i = 0; i < onyx_tensor_rank(t) && w < (int)len; i++)
        w += snprintf(buf + w, len - (size_t)w, "%s%lld", i ? "x" : "", (long long)onyx_tensor_dims(t)[i]);
    if (w < (int)len) snprintf(buf + w, len - (size_t)w, "]");
}

static int bisect(const char *model_path, const char *set, double rtol, double atol)
{
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_file(model_path, &m, &err) != ONYX_OK) return report(model_path, &err);
    int n_orig = onyx_model_num_outputs(m);
    onyx_model_expose_intermediates(m);
    int n_out = onyx_model_num_outputs(m);
    char tmp[] = "/tmp/onyx-bisect-XXXXXX", path[4096], path2[4096];
    if (!mkdtemp(tmp)) {
        onyx_model_free(m);
        fprintf(stderr, "onyx: cannot create a temporary directory\n");
        return EXIT_ERROR;
    }
    int rc = 0;
    snprintf(path, sizeof path, "%s/model.onnx", tmp);
    if (onyx_model_save(m, path, &err) != ONYX_OK) rc = report(path, &err);
    snprintf(path, sizeof path, "%s/test_data_set_0", tmp);
    if (!rc && mkdir(path, 0777) != 0) rc = EXIT_ERROR;
    int n_in = count_files(set, "input");
    for (int i = 0; i < n_in && !rc; i++) {
        snprintf(path, sizeof path, "%s/input_%d.pb", set, i);
        snprintf(path2, sizeof path2, "%s/test_data_set_0/input_%d.pb", tmp, i);
        if (!copy_file(path, path2)) {
            fprintf(stderr, "onyx: cannot copy '%s'\n", path);
            rc = EXIT_ERROR;
        }
    }
    if (!rc) {
        const char *ref = getenv("ONYX_REFERENCE");
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "%s %s/model.onnx %s", ref && ref[0] ? ref : "node models/ort_run.js", tmp, tmp);
        fprintf(stderr, "onyx: bisect: running the reference: %s\n", cmd);
        int r = system(cmd);
        if (r != 0) {
            fprintf(stderr, "onyx: the reference command failed (status %d); set ONYX_REFERENCE to a command that takes MODEL DIR and writes DIR/test_data_set_0/output_K.pb\n", r);
            rc = EXIT_ERROR;
        }
    }
    onyx_session *s = NULL;
    inputs in = {0};
    if (!rc && onyx_session_create(m, NULL, &s, &err) != ONYX_OK) rc = report(model_path, &err);
    for (int i = 0; i < n_in && !rc; i++) {
        snprintf(path2, sizeof path2, "%s/test_data_set_0/input_%d.pb", tmp, i);
        rc = load_input_pb(m, path2, i, &in);
    }
    if (!rc) rc = run_session(s, &in, model_path);
    drift *dr = calloc((size_t)n_out + 1, sizeof *dr);
    if (!dr) rc = EXIT_ERROR;
    for (int k = 0; k < n_out && !rc; k++) {
        snprintf(path2, sizeof path2, "%s/test_data_set_0/output_%d.pb", tmp, k);
        size_t len;
        void *buf = read_file(path2, &len);
        onyx_tensor *ref = NULL;
        onyx_value_info v;
        onyx_model_output(m, k, &v);
        if (buf && onyx_value_load_pb(buf, len, v.kind, v.optional, &ref, NULL, &err) == ONYX_OK) {
            cmp c = {0};
            compare_tensor(onyx_session_output(s, k), ref, 0, INFINITY, &c);
            dr[k].max_abs = c.max_abs;
            double mr = 0;
            if (onyx_tensor_kind(ref) == ONYX_KIND_TENSOR && is_floaty(onyx_tensor_dtype(ref)))
                for (int64_t i = 0; i < onyx_tensor_numel(ref); i++) mr = fmax(mr, fabs(elem(ref, i)));
            dr[k].max_ref = mr;
            dr[k].bad = c.shape_mismatch || c.max_abs > atol + rtol * mr;
            if (c.shape_mismatch) dr[k].max_abs = INFINITY;
            onyx_tensor_free(ref);
        } else {
            dr[k].missing = true;
        }
        free(buf);
    }
    if (!rc) {
        /* map each exposed output to its node, in node (topological) order */
        int n_nodes = onyx_model_num_nodes(m), first = -1;
        int *node_of = malloc(((size_t)n_out + 1) * sizeof *node_of);
        int *best = malloc(((size_t)n_nodes + 1) * sizeof *best); /* worst output per node */
        for (int k = 0; k < n_out; k++) node_of[k] = -1;
        for (int i = 0; i < n_nodes; i++) {
            onyx_node_info nd;
            onyx_model_node(m, i, &nd);
            best[i] = -1;
            for (int o = 0; o < nd.n_outputs; o++)
                for (int k = 0; k < n_out; k++) {
                    onyx_value_info v;
                    onyx_model_output(m, k, &v);
                    if (!strcmp(v.name, nd.outputs[o])) {
                        node_of[k] = i;
                        if (best[i] < 0 || dr[k].max_abs > dr[best[i]].max_abs) best[i] = k;
                        if (dr[k].bad && first < 0) first = i;
                    }
                }
        }
        int missing = 0;
        for (int k = n_orig; k < n_out; k++) missing += dr[k].missing;
        printf("bisect: %d intermediate values compared in node order (rtol %g, atol %g against max|ref|)%s\n",
               n_out - n_orig, rtol, atol, missing ? "" : "");
        if (missing) printf("  (%d values the reference did not produce were skipped)\n", missing);
        if (first < 0) {
            printf("no node differs from the reference beyond tolerance\n");
        } else {
            rc = EXIT_MISMATCH;
            onyx_node_info nd;
            onyx_model_node(m, first, &nd);
            if (nd.name[0]) printf("first offending node: '%s' (%s)\n  inputs:", nd.name, nd.op_type);
            else printf("first offending node: the %s producing '%s'\n  inputs:", nd.op_type, nd.outputs[0]);
            for (int i = 0; i < nd.n_inputs; i++) {
                char sh[128] = "";
                const onyx_tensor *t = NULL;
                const char *kind = "";
                for (int k = 0; k < n_out && !t; k++) {
                    onyx_value_info v;
                    onyx_model_output(m, k, &v);
                    if (!strcmp(v.name, nd.inputs[i])) t = onyx_session_output(s, k);
                }
                for (int j = 0; j < in.n && !t; j++)
                    if (!strcmp(in.names[j], nd.inputs[i])) t = in.vals[j], kind = " (graph input)";
                if (!t && (t = onyx_model_initializer(m, nd.inputs[i]))) kind = " (initializer)";
                shape_str(t, sh, sizeof sh);
                printf("%s '%s' %s%s", i ? "," : "", nd.inputs[i], sh, kind);
            }
            int k = best[first];
            printf("\n  max_abs=%.3g max|ref|=%.3g relative=%.3g\n", dr[k].max_abs, dr[k].max_ref,
                   dr[k].max_abs / (dr[k].max_ref > 0 ? dr[k].max_ref : 1));
            /* the path: from the offender back through the input with the largest error */
            int path_nodes[4096], np = 0;
            for (int cur = first; cur >= 0 && np < 4096;) {
                path_nodes[np++] = cur;
                onyx_model_node(m, cur, &nd);
                int next = -1;
                double worst = -1;
                for (int i = 0; i < nd.n_inputs; i++)
                    for (int kk = 0; kk < n_out; kk++) {
                        onyx_value_info v;
                        onyx_model_output(m, kk, &v);
                        if (node_of[kk] >= 0 && node_of[kk] < cur && !strcmp(v.name, nd.inputs[i]) &&
                            dr[kk].max_abs / (dr[kk].max_ref > 0 ? dr[kk].max_ref : 1) > worst) {
                            worst = dr[kk].max_abs / (dr[kk].max_ref > 0 ? dr[kk].max_ref : 1);
                            next = node_of[kk];
                        }
                    }
                cur = next;
            }
            printf("error growth along the path to it (relative = max_abs / max|ref|):\n");
            printf("  %-40s %-18s %12s %12s\n", "node", "op", "max_abs", "relative");
            for (int i = np - 1; i >= 0; i--) {
                onyx_model_node(m, path_nodes[i], &nd);
                int kk = best[path_nodes[i]];
                if (kk < 0) continue;
                printf("  %-40s %-18s %12.3g %12.3g%s\n", nd.name[0] ? nd.name : nd.outputs[0], nd.op_type,
                       dr[kk].max_abs, dr[kk].max_abs / (dr[kk].max_ref > 0 ? dr[kk].max_ref : 1),
                       dr[kk].bad ? "  <- beyond tolerance" : "");
            }
        }
        free(node_of);
        free(best);
    }
    free(dr);
    inputs_free(&in);
    onyx_session_free(s);
    onyx_model_free(m);
    snprintf(path, sizeof path, "rm -rf %s", tmp);
    if (system(path) != 0) fprintf(stderr, "onyx: could not remove %s\n", tmp);
    return rc;
}

static int cmd_verify(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *model_path = argv[0], *dir = argv[1];
    double rtol = 1e-3, atol = 1e-7;
    bool do_bisect = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--rtol") && i + 1 < argc) rtol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--atol") && i + 1 < argc) atol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--bisect")) do_bisect = true;
        else return usage();
    }
    onyx_error err;
    onyx_model *m;
    if (onyx_model_load_file(model_path, &m, &err) != ONYX_OK) return report(model_path, &err);
    onyx_session *s;
    if (onyx_session_create(m, NULL, &s, &err) != ONYX_OK) {
        onyx_model_free(m);
        return report(model_path, &err);
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "onyx: cannot open '%s': %s\n", dir, strerror(errno));
        onyx_session_free(s);
        onyx_model_free(m);
        return EXIT_ERROR;
    }
    char **sets = NULL;
    int n_sets = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_data_set_", 14)) continue;
        char **ns = realloc(sets, (size_t)(n_sets + 1) * sizeof *sets);
        if (!ns) break;
        sets = ns;
        size_t need = strlen(dir) + strlen(e->d_name) + 2;
        sets[n_sets] = malloc(need);
        if (sets[n_sets]) snprintf(sets[n_sets++], need, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    int rc = 0;
    if (!n_sets) {
        fprintf(stderr, "onyx: no test_data_set_* in '%s'\n", dir);
        rc = EXIT_ERROR;
    }
    qsort(sets, (size_t)n_sets, sizeof *sets, cmp_str);
    if (do_bisect && n_sets) {
        onyx_session_free(s);
        onyx_model_free(m);
        rc = bisect(model_path, sets[0], rtol, atol);
        for (int i = 0; i < n_sets; i++) free(sets[i]);
        free(sets);
        return rc;
    }
    for (int i = 0; i < n_sets; i++) {
        int r = rc == EXIT_ERROR ? EXIT_ERROR : verify_set(m, s, sets[i], rtol, atol);
        if (r > rc) rc = r;
        free(sets[i]);
    }
    free(sets);
    if (rc == 0) printf("PASS (rtol %g, atol %g)\n", rtol, atol);
    else if (rc == EXIT_MISMATCH) printf("FAIL: outputs differ beyond rtol %g, atol %g\n", rtol, atol);
    onyx_session_free(s);
    onyx_model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "verify")) return cmd_verify(argc - 2, argv + 2);
    return usage();
}
