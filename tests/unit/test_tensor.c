/* test_tensor.c - unit tests for runtime/tensor.c: half-precision conversions,
 * element-count overflow detection, allocation limits and deep copies.
 * Prints one line per failed check and a final "N passed, N failed" line;
 * exits non-zero when any check failed. */
#include "../../runtime/tensor.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static bool f16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }
static bool bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0; }

/* Exhaustive checks pass or fail as one check, reporting the first mismatch. */
static void test_f16_round_trip(void)
{
    int bad = -1;
    for (uint32_t h = 0; h <= 0xffff && bad < 0; h++) {
        float f = f16_to_f32((uint16_t)h);
        if (f16_is_nan((uint16_t)h)) {
            uint16_t back = f32_to_f16(f);
            if (!isnan(f) || !f16_is_nan(back) || (back & 0x8000) != (h & 0x8000)) bad = (int)h;
        } else if (f32_to_f16(f) != h) {
            bad = (int)h;
        }
    }
    CHECK(bad < 0, "f16 0x%04x does not survive f16 -> f32 -> f16", bad);
}

/* Between two adjacent finite halves a < b the midpoint is exact in float: it
 * must round to the even one, and one float ulp either side to the nearer. */
static void test_f16_rounding_exhaustive(void)
{
    int bad = -1;
    const char *what = "";
    for (uint32_t h = 0; h < 0x7bff && bad < 0; h++) {
        for (uint32_t sign = 0; sign <= 0x8000 && bad < 0; sign += 0x8000) {
            uint16_t lo = (uint16_t)(h | sign), hi = (uint16_t)((h + 1) | sign);
            float a = f16_to_f32(lo), b = f16_to_f32(hi);
            float mid = (float)(((double)a + (double)b) / 2);
            uint16_t even = (h & 1) ? hi : lo;
            float toward_a = nextafterf(mid, a), toward_b = nextafterf(mid, b);
            if (f32_to_f16(mid) != even) bad = (int)lo, what = "midpoint not to even";
            else if (f32_to_f16(toward_a) != lo) bad = (int)lo, what = "below midpoint";
            else if (f32_to_f16(toward_b) != hi) bad = (int)lo, what = "above midpoint";
        }
    }
    CHECK(bad < 0, "f32_to_f16 rounding after 0x%04x: %s", bad, what);
}

static void test_f16_values(void)
{
    static const struct {
        float f;
        uint16_t h;
    } cases[] = {
        {0.0f, 0x0000},           {1.0f, 0x3c00},          {-2.0f, 0xc000},
        {65504.0f, 0x7bff},       {65519.0f, 0x7bff},      {65520.0f, 0x7c00},
        {1e10f, 0x7c00},          {-1e10f, 0xfc00},        {0x1p-14f, 0x0400},
        {0x1p-24f, 0x0001},       {-0x1p-24f, 0x8001},     {0x1p-25f, 0x0000},
        {0x1.000002p-25f, 0x0001}, {0x3p-25f, 0x0002},     {0x5p-25f, 0x0002},
        {0x1p-26f, 0x0000},       {0x3ffp-24f, 0x03ff},    {0x7ffp-25f, 0x0400},
        {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 0x3p-11f, 0x3c02}, {1.0f + 0x1.002p-11f, 0x3c01},
        {0x1p-149f, 0x0000},      {-0x1p-149f, 0x8000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = f32_to_f16(cases[i].f);
        CHECK(h == cases[i].h, "f32_to_f16(%a) = 0x%04x, want 0x%04x", (double)cases[i].f, h,
              cases[i].h);
    }
    CHECK(f32_to_f16(-0.0f) == 0x8000, "f32_to_f16(-0) = 0x%04x", f32_to_f16(-0.0f));
    CHECK(f32_to_f16(INFINITY) == 0x7c00, "f32_to_f16(inf) = 0x%04x", f32_to_f16(INFINITY));
    CHECK(f32_to_f16(-INFINITY) == 0xfc00, "f32_to_f16(-inf) = 0x%04x", f32_to_f16(-INFINITY));
    CHECK(f16_is_nan(f32_to_f16(NAN)), "f32_to_f16(NaN) = 0x%04x", f32_to_f16(NAN));
    /* a NaN whose payload lives only in bits a half drops must stay NaN */
    CHECK(f16_is_nan(f32_to_f16(bits_f32(0x7f800001))), "f32_to_f16(sNaN 0x7f800001) = 0x%04x",
          f32_to_f16(bits_f32(0x7f800001)));
    CHECK(f16_to_f32(0x0001) == 0x1p-24f, "f16_to_f32(0x0001) = %a", (double)f16_to_f32(1));
    CHECK(f16_to_f32(0x03ff) == 0x3ffp-24f, "f16_to_f32(0x03ff) = %a",
          (double)f16_to_f32(0x03ff));
    CHECK(f16_to_f32(0x8200) == -0x1p-15f, "f16_to_f32(0x8200) = %a",
          (double)f16_to_f32(0x8200));
    CHECK(f32_bits(f16_to_f32(0x8000)) == 0x80000000u, "f16_to_f32(0x8000) is not -0");
    CHECK(isinf(f16_to_f32(0x7c00)) && f16_to_f32(0x7c00) > 0, "f16_to_f32(0x7c00) is not +inf");
    CHECK(isinf(f16_to_f32(0xfc00)) && f16_to_f32(0xfc00) < 0, "f16_to_f32(0xfc00) is not -inf");
    CHECK(isnan(f16_to_f32(0x7e00)), "f16_to_f32(0x7e00) is not NaN");
    CHECK(isnan(f16_to_f32(0x7c01)), "f16_to_f32(0x7c01) is not NaN");
    CHECK(f16_to_f32(0x7bff) == 65504.0f, "f16_to_f32(0x7bff) = %a", (double)f16_to_f32(0x7bff));
}

static void test_bf16(void)
{
    int bad = -1;
    for (uint32_t h = 0; h <= 0xffff && bad < 0; h++) {
        float f = bf16_to_f32((uint16_t)h);
        if (f32_bits(f) != h << 16) bad = (int)h;
        else if (bf16_is_nan((uint16_t)h) ? !bf16_is_nan(f32_to_bf16(f))
                                          : f32_to_bf16(f) != h)
            bad = (int)h;
    }
    CHECK(bad < 0, "bf16 0x%04x does not survive bf16 -> f32 -> bf16", bad);

    static const struct {
        uint32_t f;
        uint16_t h;
    } cases[] = {
        {0x3f800000, 0x3f80}, /* 1.0 */
        {0x3f808000, 0x3f80}, /* tie, even stays */
        {0x3f818000, 0x3f82}, /* tie, odd rounds up */
        {0x3f808001, 0x3f81}, /* just above the tie */
        {0x3f807fff, 0x3f80}, /* just below the tie */
        {0x7f7fffff, 0x7f80}, /* FLT_MAX rounds to inf */
        {0x7f800000, 0x7f80}, /* inf */
        {0xff800000, 0xff80}, /* -inf */
        {0x80000000, 0x8000}, /* -0 */
        {0x00000001, 0x0000}, /* smallest subnormal rounds to 0 */
        {0x00018000, 0x0002}, /* subnormal tie, odd rounds up */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t h = f32_to_bf16(bits_f32(cases[i].f));
        CHECK(h == cases[i].h, "f32_to_bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].f, h,
              cases[i].h);
    }
    /* NaNs must not turn into infinities by truncation or rounding */
    static const uint32_t nans[] = {0x7f800001, 0x7fffffff, 0xff800001, 0x7fc00000};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t h = f32_to_bf16(bits_f32(nans[i]));
        CHECK(bf16_is_nan(h) && (h & 0x8000) == (nans[i] >> 16 & 0x8000),
              "f32_to_bf16(0x%08x) = 0x%04x, want a NaN of the same sign", nans[i], h);
    }
}

static void test_numel(void)
{
    static const struct {
        int rank;
        int64_t dims[4];
        int64_t want;
    } cases[] = {
        {0, {0}, 1},
        {1, {0}, 0},
        {3, {2, 3, 4}, 24},
        {2, {0, INT64_MAX}, 0},
        {2, {INT64_MAX, 0}, 0},
        {2, {INT64_MAX, 1}, INT64_MAX},
        {2, {INT64_MAX, 2}, -1},
        {2, {(int64_t)1 << 31, (int64_t)1 << 31}, (int64_t)1 << 62},
        {2, {(int64_t)1 << 32, (int64_t)1 << 31}, -1},
        {3, {(int64_t)1 << 21, (int64_t)1 << 21, (int64_t)1 << 21}, -1},
        {4, {3037000500, 3037000500, 1, 1}, -1},
        {1, {-1}, -1},
        {2, {3, -2}, -1},
        {2, {0, -1}, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t n = tensor_numel_of(cases[i].rank, cases[i].dims);
        CHECK(n == cases[i].want, "tensor_numel_of case %zu = %lld, want %lld", i, (long long)n,
              (long long)cases[i].want);
    }
}

static void test_alloc_limits(void)
{
    onyx_tensor t;
    memset(&t, 0, sizeof t);
    int64_t dims[ONYX_MAX_RANK + 1];
    for (int i = 0; i <= ONYX_MAX_RANK; i++) dims[i] = 1;
    CHECK(!tensor_reshape_alloc(&t, ONYX_FLOAT, ONYX_MAX_RANK + 1, dims), "rank over limit accepted");
    CHECK(!tensor_reshape_alloc(&t, ONYX_FLOAT, -1, dims), "negative rank accepted");
    CHECK(!tensor_reshape_alloc(&t, ONYX_UNDEFINED, 1, dims), "undefined dtype accepted");
    int64_t huge[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
    CHECK(!tensor_reshape_alloc(&t, ONYX_FLOAT, 2, huge), "2^62 floats accepted");
    int64_t over[1] = {ONYX_MAX_TENSOR_BYTES / 4 + 1};
    CHECK(!tensor_reshape_alloc(&t, ONYX_FLOAT, 1, over), "tensor over the byte limit accepted");
    tensor_release(&t);

    int64_t zero[2] = {3, 0};
    onyx_tensor *e = onyx_tensor_create(ONYX_STRING, 2, zero);
    CHECK(e && e->data && e->nbytes == 0 && onyx_tensor_numel(e) == 0,
          "empty string tensor not created with non-NULL data");
    onyx_tensor_free(e);

    onyx_tensor *s = onyx_tensor_create(ONYX_STRING, 1, dims);
    CHECK(s && ((char **)s->data)[0] && ((char **)s->data)[0][0] == 0,
          "new string tensor does not start with empty strings");
    onyx_tensor_free(s);
}

static onyx_tensor *make_strings(int n, const char *const *v)
{
    int64_t d = n;
    onyx_tensor *t = onyx_tensor_create(ONYX_STRING, 1, &d);
    if (!t) return NULL;
    char **s = t->data;
    for (int i = 0; i < n; i++) {
        free(s[i]);
        s[i] = v[i] ? strdup(v[i]) : NULL;
    }
    return t;
}

static void test_copy_strings(void)
{
    static const char *const v[] = {"alpha", "", "\xc3\xa9t\xc3\xa9", NULL};
    onyx_tensor *src = make_strings(4, v);
    onyx_tensor dst;
    memset(&dst, 0, sizeof dst);
    CHECK(src && tensor_copy(&dst, src), "tensor_copy of strings failed");
    if (!src) return;
    char **d = dst.data, **s = src->data;
    CHECK(dst.kind == ONYX_KIND_TENSOR && dst.dtype == ONYX_STRING && dst.rank == 1 &&
              dst.dims[0] == 4 && dst.owns_data,
          "copied string tensor has the wrong header");
    for (int i = 0; i < 4 && d; i++) {
        CHECK(d[i] && strcmp(d[i], v[i] ? v[i] : "") == 0, "string %d copied as \"%s\"", i,
              d[i] ? d[i] : "(null)");
        CHECK(!s[i] || d[i] != s[i], "string %d shares storage with the source", i);
    }
    if (s[0]) s[0][0] = 'X';
    CHECK(d && strcmp(d[0], "alpha") == 0, "changing the source changed the copy");
    /* copying over an existing value releases it first (leaks show under ASan) */
    CHECK(tensor_copy(&dst, src) && strcmp(((char **)dst.data)[0], "Xlpha") == 0,
          "second tensor_copy into the same tensor failed");
    CHECK(tensor_copy(&dst, &dst), "tensor_copy onto itself failed");
    tensor_release(&dst);
    onyx_tensor_free(src);
}

static void test_copy_sequences(void)
{
    onyx_tensor *seq = onyx_sequence_create(ONYX_FLOAT);
    int64_t d2[2] = {2, 3};
    onyx_tensor *a = onyx_tensor_create(ONYX_FLOAT, 2, d2);
    onyx_tensor *b = onyx_tensor_create(ONYX_FLOAT, 0, NULL);
    CHECK(seq && a && b, "could not build the test sequence");
    if (!seq || !a || !b) {
        onyx_tensor_free(seq);
        onyx_tensor_free(a);
        onyx_tensor_free(b);
        return;
    }
    for (int i = 0; i < 6; i++) ((float *)a->data)[i] = (float)i + 0.5f;
    *(float *)b->data = -7.0f;
    CHECK(onyx_sequence_append(seq, a) == ONYX_OK && onyx_sequence_append(seq, b) == ONYX_OK,
          "onyx_sequence_append failed");
    /* enough items to make the sequence grow past its first capacity */
    for (int i = 0; i < 7; i++) {
        onyx_tensor *c = onyx_tensor_create(ONYX_FLOAT, 1, d2);
        if (c) ((float *)c->data)[0] = (float)i;
        CHECK(c && onyx_sequence_append(seq, c) == ONYX_OK, "append of item %d failed", i + 2);
    }

    onyx_tensor dst;
    memset(&dst, 0, sizeof dst);
    CHECK(tensor_copy(&dst, seq), "tensor_copy of a sequence failed");
    CHECK(dst.kind == ONYX_KIND_SEQUENCE && dst.dtype == ONYX_FLOAT &&
              onyx_sequence_length(&dst) == 9,
          "copied sequence: kind %d, dtype %d, length %d", dst.kind, dst.dtype, dst.seq_len);
    if (dst.seq_len == 9) {
        onyx_tensor *ca = onyx_sequence_at(&dst, 0), *cb = onyx_sequence_at(&dst, 1);
        CHECK(ca != a && ca->data != a->data, "sequence item 0 is not a deep copy");
        CHECK(ca->rank == 2 && ca->dims[0] == 2 && ca->dims[1] == 3 &&
                  memcmp(ca->data, a->data, 6 * sizeof(float)) == 0,
              "sequence item 0 copied wrongly");
        CHECK(cb->rank == 0 && *(float *)cb->data == -7.0f, "sequence item 1 copied wrongly");
        CHECK(((float *)onyx_sequence_at(&dst, 8)->data)[0] == 6.0f,
              "sequence item 8 copied wrongly");
        ((float *)a->data)[0] = 100.0f;
        CHECK(((float *)ca->data)[0] == 0.5f, "changing the source item changed the copy");
        CHECK(onyx_sequence_at(&dst, 9) == NULL && onyx_sequence_at(&dst, -1) == NULL,
              "onyx_sequence_at out of range did not return NULL");
    }

    /* a sequence of strings, copied over a value that already holds a tensor */
    static const char *const v[] = {"x", "yz"};
    onyx_tensor *sseq = onyx_sequence_create(ONYX_STRING);
    onyx_tensor *st = make_strings(2, v);
    CHECK(sseq && st && onyx_sequence_append(sseq, st) == ONYX_OK, "string sequence build failed");
    onyx_tensor sdst;
    memset(&sdst, 0, sizeof sdst);
    CHECK(tensor_copy(&sdst, a), "tensor_copy of a float tensor failed");
    CHECK(tensor_copy(&sdst, sseq) && sdst.kind == ONYX_KIND_SEQUENCE && sdst.seq_len == 1 &&
              sdst.data == NULL,
          "string sequence copied over a tensor is wrong");
    if (sdst.seq_len == 1) {
        char **cs = sdst.seq[0]->data;
        CHECK(strcmp(cs[0], "x") == 0 && strcmp(cs[1], "yz") == 0 &&
                  cs[0] != ((char **)st->data)[0],
              "strings in a copied sequence are wrong or shared");
    }

    /* an empty sequence and an empty optional keep their element type */
    onyx_tensor *empty = onyx_sequence_create(ONYX_INT64);
    onyx_tensor none;
    memset(&none, 0, sizeof none);
    none.kind = ONYX_KIND_NONE;
    none.dtype = ONYX_DOUBLE;
    CHECK(empty && tensor_copy(&sdst, empty) && sdst.kind == ONYX_KIND_SEQUENCE &&
              sdst.seq_len == 0 && sdst.dtype == ONYX_INT64,
          "empty sequence copied wrongly");
    CHECK(tensor_copy(&sdst, &none) && sdst.kind == ONYX_KIND_NONE && sdst.dtype == ONYX_DOUBLE,
          "empty optional copied wrongly");

    tensor_release(&sdst);
    tensor_release(&dst);
    onyx_tensor_free(empty);
    onyx_tensor_free(sseq);
    onyx_tensor_free(seq);
}

static void test_view(void)
{
    int64_t d = 4;
    onyx_tensor *src = onyx_tensor_create(ONYX_INT32, 1, &d);
    onyx_tensor v;
    memset(&v, 0, sizeof v);
    CHECK(src != NULL, "onyx_tensor_create failed");
    if (!src) return;
    tensor_view(&v, src);
    CHECK(v.data == src->data && !v.owns_data && v.dims[0] == 4, "tensor_view is wrong");
    tensor_release(&v); /* must not free src's data (double free under ASan) */
    ((int32_t *)src->data)[3] = 9;
    CHECK(((int32_t *)src->data)[3] == 9, "source unusable after releasing a view");

    /* a view of a sequence sees the items and does not free them */
    onyx_tensor *seq = onyx_sequence_create(ONYX_INT32);
    CHECK(seq && onyx_sequence_append(seq, src) == ONYX_OK, "sequence build failed");
    if (!seq || seq->seq_len != 1) {
        onyx_tensor_free(seq);
        onyx_tensor_free(src);
        return;
    }
    tensor_view(&v, seq);
    CHECK(v.kind == ONYX_KIND_SEQUENCE && onyx_sequence_length(&v) == 1 &&
              onyx_sequence_at(&v, 0) == src,
          "view of a sequence does not see its items");
    tensor_release(&v);
    CHECK(onyx_sequence_length(seq) == 1 && ((int32_t *)src->data)[3] == 9,
          "releasing a sequence view damaged the sequence");
    onyx_tensor_free(seq);
}

int main(void)
{
    test_f16_round_trip();
    test_f16_rounding_exhaustive();
    test_f16_values();
    test_bf16();
    test_numel();
    test_alloc_limits();
    test_copy_strings();
    test_copy_sequences();
    test_view();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
