/* threads.c - a small pthread pool. A job is a range [0, n) cut into one
 * contiguous chunk per thread; the caller runs chunk 0 itself and waits for the
 * rest. Idle workers block on a condition variable: no busy spinning. */
#include "threads.h"

#include <pthread.h>
#include <stdlib.h>

struct onyx_threads {
    int n;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;    /* bumped per job */
    int pending;            /* workers still running the current job */
    bool quit;
    onyx_range_fn fn;
    void *arg;
    int64_t total;
};

typedef struct worker {
    onyx_threads *tp;
    int index;
} worker;

static void chunk(int64_t total, int parts, int i, int64_t *b, int64_t *e)
{
    int64_t base = total / parts, rem = total % parts;
    *b = i * base + (i < rem ? i : rem);
    *e = *b + base + (i < rem ? 1 : 0);
}

static void *worker_main(void *p)
{
    worker *w = p;
    onyx_threads *tp = w->tp;
    uint64_t seen = 0;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (!tp->quit && tp->generation == seen) pthread_cond_wait(&tp->wake, &tp->mu);
        if (tp->quit) break;
        seen = tp->generation;
        onyx_range_fn fn = tp->fn;
        void *arg = tp->arg;
        int64_t b, e;
        chunk(tp->total, tp->n, w->index, &b, &e);
        pthread_mutex_unlock(&tp->mu);
        if (b < e) fn(arg, b, e);
        pthread_mutex_lock(&tp->mu);
        if (--tp->pending == 0) pthread_cond_signal(&tp->done);
    }
    pthread_mutex_unlock(&tp->mu);
    free(w);
    return NULL;
}

onyx_threads *threads_create(int n)
{
    if (n < 1) n = 1;
    onyx_threads *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n = n;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->wake, NULL);
    pthread_cond_init(&tp->done, NULL);
    if (n > 1 && !(tp->tid = calloc((size_t)n, sizeof *tp->tid))) {
        threads_free(tp);
        return NULL;
    }
    for (int i = 1; i < n; i++) {
        worker *w = malloc(sizeof *w);
        if (!w || (w->tp = tp, w->index = i, pthread_create(&tp->tid[i], NULL, worker_main, w)) != 0) {
            free(w);
            tp->n = i; /* only the threads that started */
            threads_free(tp);
            return NULL;
        }
    }
    return tp;
}

void threads_free(onyx_threads *tp)
{
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    tp->quit = true;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n && tp->tid; i++) pthread_join(tp->tid[i], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->wake);
    pthread_cond_destroy(&tp->done);
    free(tp->tid);
    free(tp);
}

int threads_count(const onyx_threads *tp) { return tp ? tp->n : 1; }

void threads_run(onyx_threads *tp, int64_t n, onyx_range_fn fn, void *arg)
{
    if (n <= 0) return;
    if (!tp || tp->n == 1 || n == 1) {
        fn(arg, 0, n);
        return;
    }
    pthread_mutex_lock(&tp->mu);
    tp->fn = fn;
    tp->arg = arg;
    tp->total = n;
    tp->pending = tp->n - 1;
    tp->generation++;
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    int64_t b, e;
    chunk(n, tp->n, 0, &b, &e);
    if (b < e) fn(arg, b, e);
    pthread_mutex_lock(&tp->mu);
    while (tp->pending > 0) pthread_cond_wait(&tp->done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}

void k_parallel_for(const onyx_kctx *k, int64_t n, onyx_range_fn fn, void *arg)
{
    threads_run(k->threads, n, fn, arg);
}

int k_num_threads(const onyx_kctx *k) { return threads_count(k->threads); }
