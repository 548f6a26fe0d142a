/* tensor.h - the one tensor struct onyx uses everywhere inside the library.
 * A value is a dense tensor, a sequence of tensors, or an empty optional. */
#ifndef ONYX_TENSOR_H
#define ONYX_TENSOR_H

#include "onyx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct onyx_tensor {
    onyx_kind kind;
    onyx_dtype dtype;       /* element type; for sequences the items' type */
    int rank;
    int64_t dims[ONYX_MAX_RANK];
    void *data;             /* dense, row-major; char ** for strings */
    size_t nbytes;          /* bytes of data in use */
    bool owns_data;         /* free data, strings and sequence items with the tensor;
                               false for views of another value's storage */
    /* sequences: items owned by the sequence */
    int seq_len, seq_cap;
    struct onyx_tensor **seq;
    /* initializers only: where the bytes are when they are not (or not only)
     * an aligned array at data, which is then NULL (runtime/weights.h) */
    struct weight_src *wsrc;
};

/* Limits on what a file or an input may ask for. */
#define ONYX_MAX_TENSOR_BYTES ((int64_t)1 << 34) /* 16 GiB */

int64_t tensor_numel_of(int rank, const int64_t *dims); /* -1 on overflow/negative */
/* Sets shape and dtype, (re)allocates owned data, zero-filled. Returns false on
 * overflow or out of memory. Strings start as empty strings. */
bool tensor_reshape_alloc(onyx_tensor *t, onyx_dtype dtype, int rank, const int64_t *dims);
void tensor_release(onyx_tensor *t);       /* frees contents, keeps the struct */
/* Deep copy of src into dst (dst released first). */
bool tensor_copy(onyx_tensor *dst, const onyx_tensor *src);
/* dst becomes a non-owning view of src's data. */
void tensor_view(onyx_tensor *dst, const onyx_tensor *src);

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

#endif
