/* pb_writer.c - protobuf wire-format writer. Nested message lengths are written
 * as fixed 5-byte varints so a message can be emitted before its size is known
 * (protobuf readers accept non-minimal varints). */
#include "pb_writer.h"
#include "../runtime/weights.h"

#include <stdlib.h>
#include <string.h>

static bool reserve(pb_buf *b, size_t n)
{
    if (b->oom) return false;
    if (b->cap - b->len >= n) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void raw_varint(pb_buf *b, uint64_t v)
{
    if (!reserve(b, 10)) return;
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        b->p[b->len++] = c | (v ? 0x80 : 0);
    } while (v);
}

static void tag(pb_buf *b, uint32_t field, int wire) { raw_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }

void pbw_varint(pb_buf *b, uint32_t field, uint64_t v)
{
    tag(b, field, 0);
    raw_varint(b, v);
}

void pbw_fixed32(pb_buf *b, uint32_t field, uint32_t v)
{
    tag(b, field, 5);
    if (!reserve(b, 4)) return;
    for (int i = 0; i < 4; i++) b->p[b->len++] = (uint8_t)(v >> (8 * i));
}

void pbw_bytes(pb_buf *b, uint32_t field, const void *data, size_t len)
{
    tag(b, field, 2);
    raw_varint(b, len);
    if (!reserve(b, len)) return;
    if (len) memcpy(b->p + b->len, data, len);
    b->len += len;
}

void pbw_string(pb_buf *b, uint32_t field, const char *s) { pbw_bytes(b, field, s, strlen(s)); }

size_t pbw_begin(pb_buf *b, uint32_t field)
{
    tag(b, field, 2);
    if (!reserve(b, 5)) return 0;
    size_t mark = b->len;
    b->len += 5;
    return mark;
}

void pbw_end(pb_buf *b, size_t mark)
{
    if (b->oom) return;
    size_t n = b->len - mark - 5;
    for (int i = 0; i < 5; i++) {
        b->p[mark + i] = (uint8_t)((n & 0x7f) | (i < 4 ? 0x80 : 0));
        n >>= 7;
    }
}

void pbw_presize(pb_buf *b, size_t n)
{
    if (b->p || b->oom || !n) return;
    if ((b->p = big_alloc(n))) b->cap = n;
}

void pbw_free(pb_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}
