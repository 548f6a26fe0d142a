/* plan.c - arena offsets for activations (see plan.h, docs/memory.md).
 *
 * Greedy by size with best fit ("Efficient Memory Management for Deep Neural
 * Net Inference", Pisarchyk & Lee, 2020, as TFLite does it): buffers taken from
 * the largest down; each goes into the tightest gap, in offset order, among the
 * buffers already placed whose lifetimes intersect its own. In-place reuse
 * merges a buffer into the one it overwrites before placement. */
#include "plan.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct group {
    size_t size;
    int start, end;
    size_t offset;
} group;

static int root_of(const plan_buf *b, int n, int i)
{
    /* alias chains point backwards in execution order; bound the walk so a bad
     * chain (a cycle) cannot loop */
    for (int steps = 0; steps <= n && b[i].alias >= 0 && b[i].alias < n && b[b[i].alias].size; steps++)
        i = b[i].alias;
    return i;
}

typedef struct sort_key {
    size_t size;
    int start, idx;
} sort_key;

static int cmp_size_desc(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->idx < y->idx ? -1 : 1;
}

size_t plan_assign(plan_buf *b, int n)
{
    if (n <= 0) return 0;
    int *root = malloc((size_t)n * sizeof *root), *order = malloc((size_t)n * sizeof *order);
    int *placed = malloc((size_t)n * sizeof *placed);
    group *g = calloc((size_t)n, sizeof *g);
    sort_key *keys = malloc((size_t)n * sizeof *keys);
    size_t total = (size_t)-1;
    if (!root || !order || !placed || !g || !keys) goto out;
    for (int i = 0; i < n; i++) {
        root[i] = b[i].size ? root_of(b, n, i) : -1;
        g[i].start = INT32_MAX;
        g[i].end = -1;
    }
    for (int i = 0; i < n; i++) {
        int r = root[i];
        if (r < 0) continue;
        if (b[i].size > SIZE_MAX - PLAN_ALIGN) goto out;
        size_t sz = (b[i].size + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
        if (sz > g[r].size) g[r].size = sz;
        if (b[i].start < g[r].start) g[r].start = b[i].start;
        int e = b[i].end > b[i].start ? b[i].end : b[i].start;
        if (e > g[r].end) g[r].end = e;
    }
    int ng = 0;
    for (int i = 0; i < n; i++)
        if (root[i] == i) keys[ng].size = g[i].size, keys[ng].start = g[i].start, keys[ng++].idx = i;
    qsort(keys, (size_t)ng, sizeof *keys, cmp_size_desc);
    for (int i = 0; i < ng; i++) order[i] = keys[i].idx;
    /* placed[0..np) holds placed groups sorted by offset */
    int np = 0;
    total = 0;
    for (int oi = 0; oi < ng; oi++) {
        group *cur = &g[order[oi]];
        size_t prev_end = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
        for (int k = 0; k < np; k++) {
            const group *o = &g[placed[k]];
            if (o->start > cur->end || cur->start > o->end) continue; /* not alive together */
            if (o->offset >= prev_end) {
                size_t gap = o->offset - prev_end;
                if (gap >= cur->size && gap < best_gap) best_gap = gap, best = prev_end;
            }
            if (o->offset + o->size > prev_end) prev_end = o->offset + o->size;
        }
        cur->offset = best != SIZE_MAX ? best : prev_end;
        if (cur->offset > SIZE_MAX - cur->size) { total = (size_t)-1; goto out; }
        if (cur->offset + cur->size > total) total = cur->offset + cur->size;
        int at = np;
        while (at > 0 && g[placed[at - 1]].offset > cur->offset) {
            placed[at] = placed[at - 1];
            at--;
        }
        placed[at] = order[oi];
        np++;
    }
    for (int i = 0; i < n; i++) b[i].offset = root[i] >= 0 ? g[root[i]].offset : 0;
out:
    free(root), free(order), free(placed), free(g), free(keys);
    return total;
}
