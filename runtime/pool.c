/* pool.c - bump allocator for model-lifetime data. Large requests get their own
 * chunk so a big initializer does not waste the tail of a small one. */
#include "pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct onyx_pool_chunk {
    onyx_pool_chunk *next;
    size_t pad; /* keeps data 16-byte aligned */
    unsigned char data[];
};

#define CHUNK_SIZE (64 * 1024)

void *pool_alloc(onyx_pool *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (n > SIZE_MAX - sizeof(onyx_pool_chunk) - 16) return NULL;
    if (n > CHUNK_SIZE / 4) {
        onyx_pool_chunk *c = calloc(1, sizeof *c + n);
        if (!c) return NULL;
        if (p->head) { /* keep the current chunk at the head */
            c->next = p->head->next;
            p->head->next = c;
        } else {
            c->next = NULL;
            p->head = c;
            p->used = p->cap = 0;
        }
        p->total += n;
        return c->data;
    }
    if (!p->head || p->cap - p->used < n) {
        onyx_pool_chunk *c = calloc(1, sizeof *c + CHUNK_SIZE);
        if (!c) return NULL;
        c->next = p->head;
        p->head = c;
        p->used = 0;
        p->cap = CHUNK_SIZE;
    }
    void *r = p->head->data + p->used;
    p->used += n;
    p->total += n;
    return r;
}

void *pool_array(onyx_pool *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return NULL;
    return pool_alloc(p, n * size);
}

char *pool_strndup(onyx_pool *p, const void *s, size_t n)
{
    if (n == SIZE_MAX) return NULL;
    char *d = pool_alloc(p, n + 1);
    if (d && n) memcpy(d, s, n);
    return d;
}

void pool_free(onyx_pool *p)
{
    onyx_pool_chunk *c = p->head;
    while (c) {
        onyx_pool_chunk *n = c->next;
        free(c);
        c = n;
    }
    memset(p, 0, sizeof *p);
}
