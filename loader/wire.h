/* wire.h - protobuf wire-format reading, bounds-checked.
 * A pb_msg is a byte range of one message; pb_next walks its fields. Every
 * length is checked against what remains before it is used. */
#ifndef ONYX_WIRE_H
#define ONYX_WIRE_H

#include "onyx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_SGROUP = 3, PB_EGROUP = 4, PB_I32 = 5 };

typedef struct pb_msg {
    const uint8_t *p;   /* first byte of the message */
    size_t len;
    size_t offset;      /* absolute offset of p in the file, for messages */
    const char *type;   /* message type name, for messages */
} pb_msg;

typedef struct pb_field {
    uint32_t number;
    int wire;
    uint64_t v;         /* VARINT, I32, I64 */
    pb_msg sub;         /* LEN: payload (type unset) */
    size_t offset;      /* absolute offset of the tag */
} pb_field;

typedef struct pb_iter {
    pb_msg m;
    size_t pos;
} pb_iter;

void pb_iter_init(pb_iter *it, pb_msg m);
/* 1: a field was read; 0: end of message; -1: malformed (err filled). */
int pb_next(pb_iter *it, pb_field *f, onyx_error *err);

/* Repeated scalar fields, packed or not. Counts first so callers allocate once.
 * kind: PB_VARINT (int64/int32/bool), PB_I32 (float/fixed32), PB_I64 (double/fixed64). */
bool pb_count_repeated(pb_msg m, uint32_t number, int kind, size_t *count, onyx_error *err);
bool pb_read_repeated(pb_msg m, uint32_t number, int kind, uint64_t *out, size_t count,
                      onyx_error *err);
/* Occurrences of a length-delimited field (strings, messages): callers size
 * arrays with it and fill them from the PB_LEN occurrences only. */
size_t pb_count_field(pb_msg m, uint32_t number);

onyx_status pb_fail(onyx_error *err, onyx_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
