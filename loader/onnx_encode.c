/* onnx_encode.c - values written back as ONNX messages: TensorProto,
 * SequenceProto and OptionalProto, as the ONNX test layout stores them. */
#include "../runtime/tensor.h"
#include "pb_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* TensorProto: 1 dims, 2 data_type, 6 string_data, 8 name, 9 raw_data */
static void encode_tensor(pb_buf *b, const onyx_tensor *t, const char *name)
{
    for (int i = 0; i < t->rank; i++) pbw_varint(b, 1, (uint64_t)t->dims[i]);
    pbw_varint(b, 2, (uint64_t)t->dtype);
    if (name) pbw_string(b, 8, name);
    if (t->dtype == ONYX_STRING) {
        char *const *s = t->data;
        for (size_t i = 0; i < t->nbytes / sizeof(char *); i++) pbw_string(b, 6, s[i] ? s[i] : "");
    } else {
        pbw_bytes(b, 9, t->data, t->nbytes);
    }
}

/* SequenceProto: 1 name, 2 elem_type (1 = tensor), 3 tensor_values */
static void encode_sequence(pb_buf *b, const onyx_tensor *t, const char *name)
{
    if (name) pbw_string(b, 1, name);
    pbw_varint(b, 2, 1);
    for (int i = 0; i < t->seq_len; i++) {
        size_t m = pbw_begin(b, 3);
        encode_tensor(b, t->seq[i], NULL);
        pbw_end(b, m);
    }
}

onyx_status onyx_value_save_pb(const onyx_tensor *t, const char *name, void **buf_out,
                               size_t *len_out, onyx_error *err)
{
    pb_buf b = {0};
    if (t->kind == ONYX_KIND_SEQUENCE) {
        encode_sequence(&b, t, name);
    } else if (t->kind == ONYX_KIND_NONE) {
        if (name) pbw_string(&b, 1, name); /* OptionalProto with no value */
        pbw_varint(&b, 2, 0);
    } else {
        encode_tensor(&b, t, name);
    }
    if (b.oom) {
        pbw_free(&b);
        if (err) {
            err->code = ONYX_E_NOMEM;
            snprintf(err->message, sizeof err->message, "out of memory encoding '%s'", name ? name : "value");
        }
        return ONYX_E_NOMEM;
    }
    *buf_out = b.p ? b.p : malloc(1);
    *len_out = b.len;
    return ONYX_OK;
}
