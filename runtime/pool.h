/* pool.h - a bump allocator: everything a model decodes is freed at once. */
#ifndef ONYX_POOL_H
#define ONYX_POOL_H

#include <stddef.h>

typedef struct onyx_pool_chunk onyx_pool_chunk;
typedef struct onyx_pool {
    onyx_pool_chunk *head;
    size_t used, cap;       /* of head */
    size_t total;           /* all bytes handed out, for load-memory figures */
} onyx_pool;

void *pool_alloc(onyx_pool *p, size_t n);                 /* zeroed, 16-byte aligned; NULL on OOM */
void *pool_array(onyx_pool *p, size_t n, size_t size);    /* NULL on overflow/OOM */
char *pool_strndup(onyx_pool *p, const void *s, size_t n);
void pool_free(onyx_pool *p);

#endif
