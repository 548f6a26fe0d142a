/* wire.c - protobuf wire-format reader. Nothing here trusts a length. */
#include "wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

onyx_status pb_fail(onyx_error *err, onyx_status code, const char *fmt, ...)
{
    if (err && err->code == ONYX_OK) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return code;
}

void pb_iter_init(pb_iter *it, pb_msg m)
{
    it->m = m;
    it->pos = 0;
}

/* Reads a varint at *pos; false if truncated or longer than 10 bytes. */
static bool read_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*pos >= len) return false;
        uint8_t b = p[(*pos)++];
        if (shift == 63 && (b & 0x7e)) return false; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static const char *wire_name(int w)
{
    static const char *names[] = {"varint", "fixed64", "length-delimited", "start-group",
                                  "end-group", "fixed32", "wire type 6", "wire type 7"};
    return names[w & 7];
}

int pb_next(pb_iter *it, pb_field *f, onyx_error *err)
{
    const uint8_t *p = it->m.p;
    size_t len = it->m.len;
    if (it->pos >= len) return 0;
    size_t start = it->pos;
    uint64_t tag;
    const char *type = it->m.type ? it->m.type : "message";
    f->offset = it->m.offset + start;
    if (!read_varint(p, len, &it->pos, &tag)) {
        pb_fail(err, ONYX_E_PARSE, "truncated or overlong field tag at byte %zu in %s", f->offset,
                type);
        return -1;
    }
    f->number = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (f->number == 0 || tag >> 3 > 0x1fffffff) {
        pb_fail(err, ONYX_E_PARSE, "invalid field number %llu at byte %zu in %s",
                (unsigned long long)(tag >> 3), f->offset, type);
        return -1;
    }
    switch (f->wire) {
    case PB_VARINT:
        if (!read_varint(p, len, &it->pos, &f->v)) {
            pb_fail(err, ONYX_E_PARSE, "truncated varint in field %u at byte %zu in %s",
                    f->number, f->offset, type);
            return -1;
        }
        return 1;
    case PB_I64:
    case PB_I32: {
        size_t n = f->wire == PB_I64 ? 8 : 4;
        if (len - it->pos < n) {
            pb_fail(err, ONYX_E_PARSE, "truncated %s field %u at byte %zu in %s",
                    wire_name(f->wire), f->number, f->offset, type);
            return -1;
        }
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) v |= (uint64_t)p[it->pos + i] << (8 * i);
        f->v = v;
        it->pos += n;
        return 1;
    }
    case PB_LEN: {
        uint64_t n;
        if (!read_varint(p, len, &it->pos, &n)) {
            pb_fail(err, ONYX_E_PARSE, "truncated length of field %u at byte %zu in %s",
                    f->number, f->offset, type);
            return -1;
        }
        if (n > len - it->pos) {
            pb_fail(err, ONYX_E_PARSE,
                    "field %u at byte %zu in %s claims %llu bytes but only %zu remain", f->number,
                    f->offset, type, (unsigned long long)n, len - it->pos);
            return -1;
        }
        f->sub.p = p + it->pos;
        f->sub.len = (size_t)n;
        f->sub.offset = it->m.offset + it->pos;
        f->sub.type = NULL;
        it->pos += (size_t)n;
        return 1;
    }
    default:
        /* groups are deprecated and never used by ONNX; skipping them would need
         * unbounded nesting, so they are rejected */
        pb_fail(err, ONYX_E_PARSE, "unsupported %s (field %u) at byte %zu in %s",
                wire_name(f->wire), f->number, f->offset, type);
        return -1;
    }
}

static bool packed_count(const pb_field *f, int kind, size_t *n, onyx_error *err)
{
    if (kind == PB_VARINT) {
        size_t c = 0;
        for (size_t i = 0; i < f->sub.len; i++) c += !(f->sub.p[i] & 0x80);
        if (f->sub.len && (f->sub.p[f->sub.len - 1] & 0x80)) {
            pb_fail(err, ONYX_E_PARSE, "truncated packed varints in field %u at byte %zu",
                    f->number, f->offset);
            return false;
        }
        *n = c;
        return true;
    }
    size_t w = kind == PB_I64 ? 8 : 4;
    if (f->sub.len % w) {
        pb_fail(err, ONYX_E_PARSE, "packed field %u at byte %zu has %zu bytes, not a multiple of %zu",
                f->number, f->offset, f->sub.len, w);
        return false;
    }
    *n = f->sub.len / w;
    return true;
}

bool pb_count_repeated(pb_msg m, uint32_t number, int kind, size_t *count, onyx_error *err)
{
    pb_iter it;
    pb_field f;
    int r;
    size_t total = 0;
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, err)) == 1) {
        if (f.number != number) continue;
        if (f.wire == PB_LEN) {
            size_t n;
            if (!packed_count(&f, kind, &n, err)) return false;
            total += n;
        } else if (f.wire == kind) {
            total++;
        } else {
            pb_fail(err, ONYX_E_PARSE, "field %u at byte %zu in %s has wire type %s, expected %s",
                    number, f.offset, m.type ? m.type : "message", wire_name(f.wire),
                    wire_name(kind));
            return false;
        }
    }
    *count = total;
    return r == 0;
}

bool pb_read_repeated(pb_msg m, uint32_t number, int kind, uint64_t *out, size_t count,
                      onyx_error *err)
{
    pb_iter it;
    pb_field f;
    int r;
    size_t k = 0;
    pb_iter_init(&it, m);
    while ((r = pb_next(&it, &f, err)) == 1) {
        if (f.number != number) continue;
        if (f.wire != PB_LEN) {
            if (k < count) out[k++] = f.v;
            continue;
        }
        size_t pos = 0;
        while (pos < f.sub.len && k < count) {
            if (kind == PB_VARINT) {
                if (!read_varint(f.sub.p, f.sub.len, &pos, &out[k++])) {
                    pb_fail(err, ONYX_E_PARSE, "bad packed varint in field %u at byte %zu", number,
                            f.offset);
                    return false;
                }
            } else {
                size_t w = kind == PB_I64 ? 8 : 4;
                uint64_t v = 0;
                for (size_t i = 0; i < w; i++) v |= (uint64_t)f.sub.p[pos + i] << (8 * i);
                pos += w;
                out[k++] = v;
            }
        }
    }
    return r == 0 && k == count;
}

size_t pb_count_field(pb_msg m, uint32_t number)
{
    pb_iter it;
    pb_field f;
    size_t n = 0;
    pb_iter_init(&it, m);
    while (pb_next(&it, &f, NULL) == 1)
        if (f.number == number && f.wire == PB_LEN) n++;
    return n;
}
