/* string.c - text operators: StringNormalizer and TfIdfVectorizer. */
#include "kernel.h"

#include <stdlib.h>

/* ---- UTF-8 case mapping ----
 * Locale-independent simple case mapping for the scripts text models meet most
 * (Latin, Greek, Cyrillic, Armenian, fullwidth Latin). The library must not
 * call setlocale (process-global state), so towupper/towlower are not usable.
 * Mappings that change length (German sharp s to "SS") are left alone. */

typedef struct case_range {
    uint32_t lo, hi; /* upper-case code points */
    int32_t delta;   /* lower = upper + delta */
    uint8_t step;    /* 1: whole range; 2: every other code point (alternating pairs) */
} case_range;

static const case_range case_ranges[] = {
    {0x0041, 0x005A, 32, 1},    {0x00C0, 0x00D6, 32, 1},   {0x00D8, 0x00DE, 32, 1},
    {0x0100, 0x012E, 1, 2},     {0x0132, 0x0136, 1, 2},    {0x0139, 0x0147, 1, 2},
    {0x014A, 0x0176, 1, 2},     {0x0179, 0x017D, 1, 2},    {0x0178, 0x0178, -121, 1},
    {0x0386, 0x0386, 38, 1},    {0x0388, 0x038A, 37, 1},   {0x038C, 0x038C, 64, 1},
    {0x038E, 0x038F, 63, 1},    {0x0391, 0x03A1, 32, 1},   {0x03A3, 0x03AB, 32, 1},
    {0x0400, 0x040F, 80, 1},    {0x0410, 0x042F, 32, 1},   {0x0460, 0x0480, 1, 2},
    {0x048A, 0x04BE, 1, 2},     {0x04C1, 0x04CD, 1, 2},    {0x04D0, 0x04FE, 1, 2},
    {0x0531, 0x0556, 48, 1},    {0x1E00, 0x1E94, 1, 2},    {0x1EA0, 0x1EFE, 1, 2},
    {0xFF21, 0xFF3A, 32, 1},
};

static uint32_t to_lower_cp(uint32_t c)
{
    for (size_t i = 0; i < sizeof case_ranges / sizeof case_ranges[0]; i++) {
        const case_range *r = &case_ranges[i];
        if (c >= r->lo && c <= r->hi && (c - r->lo) % r->step == 0)
            return (uint32_t)((int32_t)c + r->delta);
    }
    return c;
}

static uint32_t to_upper_cp(uint32_t c)
{
    if (c == 0x03C2) return 0x03A3; /* final sigma */
    for (size_t i = 0; i < sizeof case_ranges / sizeof case_ranges[0]; i++) {
        const case_range *r = &case_ranges[i];
        int64_t lo = (int64_t)r->lo + r->delta, hi = (int64_t)r->hi + r->delta;
        if ((int64_t)c >= lo && (int64_t)c <= hi && ((int64_t)c - lo) % r->step == 0)
            return (uint32_t)((int32_t)c - r->delta);
    }
    return c;
}

/* Decodes one UTF-8 sequence at s; returns its length, or 0 if it is not valid
 * (the caller then passes the byte through unchanged). */
static int utf8_decode(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    int n;
    uint32_t c;
    if ((s[0] & 0xE0) == 0xC0) n = 2, c = s[0] & 0x1F;
    else if ((s[0] & 0xF0) == 0xE0) n = 3, c = s[0] & 0x0F;
    else if ((s[0] & 0xF8) == 0xF0) n = 4, c = s[0] & 0x07;
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0; /* also stops at the terminating NUL */
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_cp[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return n;
}

static int utf8_encode(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

enum { CASE_NONE, CASE_LOWER, CASE_UPPER };

/* A new heap string: s with its case changed (or a plain copy), NULL if out of
 * memory. The mapped code points keep their UTF-8 length or shrink, except a
 * few that grow by one byte, so 2x the input is always enough. */
static char *change_case(const char *s, int action)
{
    size_t len = strlen(s);
    char *out = malloc(2 * len + 1);
    if (!out) return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    while (*p) {
        uint32_t cp;
        int n = utf8_decode(p, &cp);
        if (n == 0 || action == CASE_NONE) {
            out[o++] = (char)*p++;
            continue;
        }
        o += (size_t)utf8_encode(action == CASE_LOWER ? to_lower_cp(cp) : to_upper_cp(cp),
                                 out + o);
        p += n;
    }
    out[o] = 0;
    return out;
}

static void free_strings(char **v, int64_t n)
{
    if (!v) return;
    for (int64_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static onyx_status op_string_normalizer(onyx_kctx *k)
{
    if (k_require(k, 0, ONYX_STRING, ONYX_UNDEFINED) != ONYX_OK) return k->err->code;
    const onyx_tensor *x = k_input(k, 0);
    if (x->rank != 1 && !(x->rank == 2 && x->dims[0] == 1))
        return k_fail(k, ONYX_E_SHAPE, "input must have shape [C] or [1, C], got rank %d%s",
                      x->rank, x->rank == 2 ? " with more than one row" : "");
    const char *act = k_attr_string(k, "case_change_action", "NONE");
    int action;
    if (strcmp(act, "NONE") == 0) action = CASE_NONE;
    else if (strcmp(act, "LOWER") == 0) action = CASE_LOWER;
    else if (strcmp(act, "UPPER") == 0) action = CASE_UPPER;
    else
        return k_fail(k, ONYX_E_INVALID,
                      "case_change_action must be LOWER, UPPER or NONE, got \"%s\"", act);
    bool sensitive = k_attr_int(k, "is_case_sensitive", 0) != 0;
    const onyx_attr *sw = k_attr(k, "stopwords");
    int n_stop = sw && sw->type == ATTR_STRINGS ? sw->n : 0;

    int64_t n = x->dims[x->rank - 1];
    char *const *in = x->data;
    char **stops = NULL, **kept = NULL;
    int64_t n_kept = 0;
    onyx_status st = ONYX_OK;
    /* Case-insensitive matching compares lower-cased forms of both sides. */
    if (n_stop > 0) {
        stops = calloc((size_t)n_stop, sizeof *stops);
        if (!stops) return k_fail(k, ONYX_E_NOMEM, "out of memory");
        for (int i = 0; i < n_stop; i++) {
            stops[i] = change_case(sw->strings[i], sensitive ? CASE_NONE : CASE_LOWER);
            if (!stops[i]) {
                st = k_fail(k, ONYX_E_NOMEM, "out of memory");
                goto done;
            }
        }
    }
    kept = calloc((size_t)(n ? n : 1), sizeof *kept);
    if (!kept) {
        st = k_fail(k, ONYX_E_NOMEM, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const char *s = in[i] ? in[i] : "";
        bool drop = false;
        if (n_stop > 0) {
            char *key = sensitive ? NULL : change_case(s, CASE_LOWER);
            if (!sensitive && !key) {
                st = k_fail(k, ONYX_E_NOMEM, "out of memory");
                goto done;
            }
            for (int j = 0; j < n_stop && !drop; j++) drop = strcmp(key ? key : s, stops[j]) == 0;
            free(key);
        }
        if (drop) continue;
        kept[n_kept] = change_case(s, action);
        if (!kept[n_kept]) {
            st = k_fail(k, ONYX_E_NOMEM, "out of memory");
            goto done;
        }
        n_kept++;
    }

    /* The spec keeps the output non-empty: everything removed gives one "". */
    int64_t dims[2] = {1, n_kept ? n_kept : 1};
    onyx_tensor *y = x->rank == 1 ? k_output(k, 0, ONYX_STRING, 1, dims + 1)
                                   : k_output(k, 0, ONYX_STRING, 2, dims);
    if (!y) {
        st = k->err->code;
        goto done;
    }
    char **out = y->data;
    for (int64_t i = 0; i < n_kept; i++) {
        free(out[i]);
        out[i] = kept[i];
        kept[i] = NULL;
    }
done:
    free_strings(stops, n_stop);
    free_strings(kept, n_kept);
    return st;
}

/* ---- TfIdfVectorizer ----
 * Every token becomes an int64: the value itself for integer pools, the rank in
 * the sorted pool_strings for string pools (-1 for strings not in the pool).
 * The pool's n-grams are kept as fixed-size records {n, id, tokens...} sorted
 * by (n, tokens) and found by binary search. */

typedef struct tfidf {
    int64_t stride;   /* int64s per record: 2 + longest n-gram kept */
    int64_t n_rec;
    int64_t *rec;
} tfidf;

static int cmp_rec(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    for (int64_t i = 0; i < x[0]; i++)
        if (x[2 + i] != y[2 + i]) return x[2 + i] < y[2 + i] ? -1 : 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The id (1-based pool position) of the n-gram in key, or 0 if absent. */
static int64_t tfidf_find(const tfidf *t, const int64_t *key)
{
    int64_t lo = 0, hi = t->n_rec;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = cmp_rec(key, t->rec + mid * t->stride);
        if (c == 0) return t->rec[mid * t->stride + 1];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return 0;
}

static onyx_status op_tfidf_vectorizer(onyx_kctx *k)
{
    if (k_require(k, 0, ONYX_INT32, ONYX_INT64, ONYX_STRING, ONYX_UNDEFINED) != ONYX_OK)
        return k->err->code;
    const onyx_tensor *x = k_input(k, 0);
    if (x->rank != 1 && x->rank != 2)
        return k_fail(k, ONYX_E_SHAPE, "input must be 1-D [C] or 2-D [N, C], got rank %d",
                      x->rank);

    const char *mode_s = k_attr_string(k, "mode", NULL);
    if (!mode_s) return k_fail(k, ONYX_E_INVALID, "attribute mode is required");
    enum { TF, IDF, TFIDF } mode;
    if (strcmp(mode_s, "TF") == 0) mode = TF;
    else if (strcmp(mode_s, "IDF") == 0) mode = IDF;
    else if (strcmp(mode_s, "TFIDF") == 0) mode = TFIDF;
    else return k_fail(k, ONYX_E_INVALID, "mode must be TF, IDF or TFIDF, got \"%s\"", mode_s);

    int64_t min_n = k_attr_int(k, "min_gram_length", 0);
    int64_t max_n = k_attr_int(k, "max_gram_length", 0);
    int64_t max_skip = k_attr_int(k, "max_skip_count", 0);
    if (min_n < 1 || max_n < min_n)
        return k_fail(k, ONYX_E_INVALID,
                      "need 1 <= min_gram_length <= max_gram_length, got %lld and %lld",
                      (long long)min_n, (long long)max_n);
    if (max_skip < 0)
        return k_fail(k, ONYX_E_INVALID, "max_skip_count must be >= 0, got %lld",
                      (long long)max_skip);

    const int64_t *counts, *indexes, *pool_i = NULL;
    int n_counts = k_attr_ints(k, "ngram_counts", &counts);
    int n_indexes = k_attr_ints(k, "ngram_indexes", &indexes);
    if (n_counts < 1) return k_fail(k, ONYX_E_INVALID, "attribute ngram_counts is required");
    if (n_indexes < 1) return k_fail(k, ONYX_E_INVALID, "attribute ngram_indexes is required");
    int n_pool_i = k_attr_ints(k, "pool_int64s", &pool_i);
    const onyx_attr *ps = k_attr(k, "pool_strings");
    int n_pool_s = ps && ps->type == ATTR_STRINGS ? ps->n : -1;
    if ((n_pool_i >= 0) == (n_pool_s >= 0))
        return k_fail(k, ONYX_E_INVALID, "exactly one of pool_int64s and pool_strings is needed");
    bool strings = n_pool_s >= 0;
    if (strings != (x->dtype == ONYX_STRING))
        return k_fail(k, ONYX_E_INVALID, "a %s input needs %s", onyx_dtype_name(x->dtype),
                      strings ? "pool_int64s" : "pool_strings");
    int64_t pool_n = strings ? n_pool_s : n_pool_i;

    int64_t out_size = 0;
    for (int i = 0; i < n_indexes; i++) {
        if (indexes[i] < 0 || indexes[i] >= ONYX_MAX_TENSOR_BYTES)
            return k_fail(k, ONYX_E_INVALID, "ngram_indexes[%d] = %lld is out of range", i,
                          (long long)indexes[i]);
        if (indexes[i] + 1 > out_size) out_size = indexes[i] + 1;
    }
    const float *weights = NULL;
    int n_weights = k_attr_floats(k, "weights", &weights);
    if (n_weights > 0 && n_weights < out_size)
        return k_fail(k, ONYX_E_INVALID, "weights has %d entries but the output has %lld",
                      n_weights, (long long)out_size);
    if (n_weights <= 0) weights = NULL;

    /* Walk ngram_counts: group g holds (g+1)-grams from pool[counts[g]] on. */
    int64_t kept_n = max_n < n_counts ? max_n : n_counts, n_rec = 0, total = 0;
    for (int g = 0; g < n_counts; g++) {
        int64_t start = counts[g], end = g + 1 < n_counts ? counts[g + 1] : pool_n;
        if (start < 0 || end < start || end > pool_n)
            return k_fail(k, ONYX_E_INVALID,
                          "ngram_counts must be non-decreasing offsets into the pool (%lld)",
                          (long long)pool_n);
        if ((end - start) % (g + 1) != 0)
            return k_fail(k, ONYX_E_INVALID,
                          "pool items of %d-grams (%lld) are not a multiple of %d", g + 1,
                          (long long)(end - start), g + 1);
        total += (end - start) / (g + 1);
        if (g + 1 >= min_n && g + 1 <= kept_n) n_rec += (end - start) / (g + 1);
    }
    if (total > n_indexes)
        return k_fail(k, ONYX_E_INVALID, "the pool holds %lld n-grams but ngram_indexes has %d",
                      (long long)total, n_indexes);

    tfidf t = {kept_n + 2, 0, NULL};
    char **sorted = NULL;
    int64_t *tokens = NULL, *key = NULL, *freq = NULL;
    onyx_status st = ONYX_OK;
    int64_t rows = x->rank == 2 ? x->dims[0] : 1, cols = x->dims[x->rank - 1];

    t.rec = malloc((size_t)(n_rec ? n_rec : 1) * (size_t)t.stride * sizeof *t.rec);
    key = malloc((size_t)t.stride * sizeof *key);
    tokens = malloc((size_t)(cols ? cols : 1) * sizeof *tokens);
    if (strings) sorted = malloc((size_t)(pool_n ? pool_n : 1) * sizeof *sorted);
    if (!t.rec || !key || !tokens || (strings && !sorted)) {
        st = k_fail(k, ONYX_E_NOMEM, "out of memory");
        goto done;
    }
    int64_t n_sorted = 0;
    if (strings) {
        for (int64_t i = 0; i < pool_n; i++) sorted[i] = ps->strings[i];
        qsort(sorted, (size_t)pool_n, sizeof *sorted, cmp_str);
        for (int64_t i = 0; i < pool_n; i++)
            if (n_sorted == 0 || strcmp(sorted[n_sorted - 1], sorted[i]) != 0)
                sorted[n_sorted++] = sorted[i];
    }

    int64_t id = 1;
    for (int g = 0; g < n_counts; g++) {
        int64_t start = counts[g], end = g + 1 < n_counts ? counts[g + 1] : pool_n;
        bool keep = g + 1 >= min_n && g + 1 <= kept_n;
        for (int64_t p = start; p + g < end; p += g + 1, id++) {
            if (!keep) continue;
            int64_t *r = t.rec + t.n_rec++ * t.stride;
            memset(r, 0, (size_t)t.stride * sizeof *r);
            r[0] = g + 1;
            r[1] = id;
            for (int j = 0; j <= g; j++) {
                if (strings) {
                    char *s = ps->strings[p + j];
                    char **f = bsearch(&s, sorted, (size_t)n_sorted, sizeof *sorted, cmp_str);
                    r[2 + j] = f - sorted;
                } else {
                    r[2 + j] = pool_i[p + j];
                }
            }
        }
    }
    qsort(t.rec, (size_t)t.n_rec, (size_t)t.stride * sizeof *t.rec, cmp_rec);
    /* A repeated n-gram counts under its last position in the pool. */
    int64_t w = 0;
    for (int64_t i = 0; i < t.n_rec; i++) {
        int64_t *r = t.rec + i * t.stride;
        if (w > 0 && cmp_rec(t.rec + (w - 1) * t.stride, r) == 0) {
            int64_t *prev = t.rec + (w - 1) * t.stride;
            if (r[1] > prev[1]) prev[1] = r[1];
            continue;
        }
        if (w != i) memmove(t.rec + w * t.stride, r, (size_t)t.stride * sizeof *r);
        w++;
    }
    t.n_rec = w;

    int64_t ydims[2] = {rows, out_size};
    onyx_tensor *y = x->rank == 2 ? k_output(k, 0, ONYX_FLOAT, 2, ydims)
                                   : k_output(k, 0, ONYX_FLOAT, 1, ydims + 1);
    if (!y) {
        st = k->err->code;
        goto done;
    }
    freq = calloc((size_t)(out_size ? out_size : 1), sizeof *freq);
    if (!freq) {
        st = k_fail(k, ONYX_E_NOMEM, "out of memory");
        goto done;
    }
    /* Beyond cols-1 no n-gram of two or more tokens fits, so larger skips add nothing. */
    int64_t max_dist = cols <= 1 ? 1 : max_skip < cols - 1 ? max_skip + 1 : cols - 1;
    float *yd = y->data;
    for (int64_t row = 0; row < rows; row++) {
        for (int64_t c = 0; c < cols; c++) {
            int64_t e = row * cols + c;
            if (strings) {
                char *s = ((char **)x->data)[e];
                if (!s) s = "";
                char **f = bsearch(&s, sorted, (size_t)n_sorted, sizeof *sorted, cmp_str);
                tokens[c] = f ? f - sorted : -1;
            } else {
                tokens[c] = x->dtype == ONYX_INT64 ? ((const int64_t *)x->data)[e]
                                                   : ((const int32_t *)x->data)[e];
            }
        }
        memset(freq, 0, (size_t)(out_size ? out_size : 1) * sizeof *freq);
        /* Unigrams do not depend on the skip distance: count them on the first pass only. */
        for (int64_t d = 1; d <= max_dist; d++) {
            int64_t first_n = d == 1 ? min_n : (min_n > 2 ? min_n : 2);
            if (first_n > kept_n) break;
            for (int64_t s = 0; s + d * (first_n - 1) < cols; s++) {
                for (int64_t n = 1; n <= kept_n && s + d * (n - 1) < cols; n++) {
                    key[2 + n - 1] = tokens[s + d * (n - 1)];
                    if (n < first_n) continue;
                    key[0] = n;
                    int64_t hit = tfidf_find(&t, key);
                    if (hit) freq[indexes[hit - 1]]++;
                }
            }
        }
        for (int64_t i = 0; i < out_size; i++) {
            float v;
            if (mode == TF) v = (float)freq[i];
            else if (mode == IDF) v = freq[i] > 0 ? (weights ? weights[i] : 1.0f) : 0.0f;
            else v = (float)freq[i] * (weights ? weights[i] : 1.0f);
            yd[row * out_size + i] = v;
        }
    }
done:
    free(t.rec);
    free(key);
    free(tokens);
    free(sorted);
    free(freq);
    return st;
}

const onyx_op_def onyx_ops_string[] = {
    {"", "StringNormalizer", op_string_normalizer},
    {"", "TfIdfVectorizer", op_tfidf_vectorizer},
    {0},
};
