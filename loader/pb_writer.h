/* pb_writer.h - protobuf wire-format writing into a growable buffer. */
#ifndef ONYX_PB_WRITER_H
#define ONYX_PB_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pb_buf {
    uint8_t *p;
    size_t len, cap;
    bool oom;       /* sticky: set once an allocation failed */
} pb_buf;

void pbw_varint(pb_buf *b, uint32_t field, uint64_t v);
void pbw_fixed32(pb_buf *b, uint32_t field, uint32_t v);
void pbw_bytes(pb_buf *b, uint32_t field, const void *data, size_t len);
void pbw_string(pb_buf *b, uint32_t field, const char *s);
/* Nested messages: begin returns a mark; end patches the length in. */
size_t pbw_begin(pb_buf *b, uint32_t field);
void pbw_end(pb_buf *b, size_t mark);
void pbw_free(pb_buf *b);
/* Allocates room for about n bytes up front, for a buffer known to grow big
 * (a model's weights): big_alloc's huge pages, no copies while it fills. */
void pbw_presize(pb_buf *b, size_t n);

#endif
