/* weights.h - where a big initializer's bytes are, and the copies made only
 * when a reader needs them (runtime/weights.c, docs/memory.md).
 *
 * An initializer of a mapped model file keeps its bytes where they lie in the
 * file, whatever their alignment; a weight a pass derives from another (a
 * BatchNormalization folded into a Conv's weights) is a recipe until a reader
 * asks for it. Either has a weight_src (onyx_tensor.wsrc). The tensor's data is
 * then the bytes in place when they are aligned for the element type, and NULL
 * otherwise: such a tensor is read only through the functions below.
 *
 * Readers that need an aligned typed array acquire it (a copy is made once and
 * shared); readers that take any alignment (weight packing) get the bytes where
 * they lie. When the last reader has released a weight, its copy is freed and
 * its file pages are given back (madvise(MADV_DONTNEED) on the read-only
 * private mapping: the kernel reloads them from the file should anything read
 * them again), so weights that kernels packed stop costing memory twice. A
 * derived weight is made again when read again, so any number of sessions can
 * be created from one model. Every function here is thread-safe (one lock per
 * model). */
#ifndef ONYX_WEIGHTS_H
#define ONYX_WEIGHTS_H

#include "pool.h"
#include "tensor.h"

#include <pthread.h>

typedef struct weight_src weight_src;

/* A model's weights: the lock and every weight_src, for freeing copies. */
typedef struct weight_store {
    pthread_mutex_t lock;
    weight_src *head;
    void *spare;            /* a copy let go, reused by the next one */
    size_t spare_cap;
} weight_store;

/* Initializers smaller than this are copied when unaligned and never released:
 * a copy of a few KB costs less than keeping track of it. */
#define WEIGHTS_MIN_BYTES ((size_t)16 << 10)

/* Memory for a big array (packed weights, weight copies, the activation
 * arena): 64-byte aligned, and from 2 MB on advised to use transparent huge
 * pages, because a page fault per 4 KB is most of what creating a session
 * costs otherwise. Free it with free(). */
void *big_alloc(size_t bytes);

bool weights_store_init(weight_store *st);
/* Frees every copy (the weight_srcs live in the model's pool). */
void weights_store_free(weight_store *st);
/* Frees the spare copy buffer kept for reuse (after a session is created). */
void weights_trim(weight_store *st);

/* t (dtype, dims and nbytes set) takes its bytes from the mapped file at
 * bytes: t->data is set when they are aligned, else left NULL. False when out
 * of memory. */
bool weights_from_file(weight_store *st, onyx_pool *p, onyx_tensor *t, const uint8_t *bytes);

/* out (float32, base's dims) becomes base with element i multiplied by
 * scale[c], c = (i / inner) % nch + nch * (i / block): one factor per output
 * channel for the layouts of Conv (inner = elements per channel, nch =
 * channels, block = all), ConvTranspose (inner = kernel size, nch = output
 * channels per group, block = one group's input channels) and MatMul/Gemm
 * (inner 1 or K). scale must live as long as the model; base's bytes must too
 * (they are those of an initializer or constant of the model). */
bool weights_scaled(weight_store *st, onyx_pool *p, onyx_tensor *out, const onyx_tensor *base,
                    const float *scale, int64_t inner, int64_t nch, int64_t block);

/* A tensor like t whose data is an aligned array (t itself when it has one):
 * for graph passes, which read a weight now and then let it go. A copy made
 * here is freed when a session releases the weight, or with the model, so the
 * pointer is good until the next session is created. NULL when out of memory. */
const onyx_tensor *weights_view(const onyx_tensor *t);
/* As weights_view, but the copy stays until the model is freed (for callers
 * of the public API, which may keep the pointer). */
const onyx_tensor *weights_keep(const onyx_tensor *t);

/* t's bytes for a reader who holds them until weights_release: an aligned
 * array when aligned is set (copied if need be), else the bytes wherever they
 * are (any alignment; read them with memcpy). NULL when out of memory. */
const void *weights_acquire(weight_src *s, bool aligned);
/* Lets go of what weights_acquire returned; the last release frees the copy
 * and gives back the file pages. */
void weights_release(weight_src *s);
/* Nobody will read the weight for now (every reader packed it, or it left the
 * graph): as the last release, unless it is held. */
void weights_drop(weight_src *s);

#endif
