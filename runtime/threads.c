/* threads.c - a small pthread pool. A job is a range [0, n) cut into one
 * contiguous chunk per thread; the caller runs chunk 0 itself and waits for the
 * rest.
 *
 * A model runs hundreds of parallel regions per inference, many of them only
 * tens of microseconds long, so waking sleeping workers through a condition
 * variable for each one (a futex round trip of several microseconds, more in
 * a VM) costs as much as the work. Workers and the waiting caller therefore
 * spin on an atomic generation/pending counter for a short, bounded time
 * (SPIN_NS) before they block on the condition variable: back-to-back regions
 * find the workers awake, and an idle pool still sleeps (no busy-waiting
 * beyond SPIN_NS after the last job). Spinning is off when the pool has more
 * threads than the machine has cores, where a spinner would steal the core a
 * worker needs. The counters are 32-bit atomics: lock-free on every target
 * (64-bit ones need libatomic on 32-bit ARM). */
#include "threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* 1 ms: a serial node between two parallel ones (a Transpose, a LayerNorm)
 * takes up to a few hundred microseconds, and a worker that went to sleep
 * meanwhile costs ~100 us to wake on a virtual machine (MobileNetV4's stem
 * at 2 threads: 323 us after a sleeping worker, 229 us after a spinning one) */
#define SPIN_NS 1000000

struct onyx_threads {
    int n;
    bool spin;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_uint generation;          /* bumped per job (wraps; only compared for change) */
    atomic_int pending;              /* workers still running the current job */
    int sleepers;                    /* workers blocked on wake (under mu) */
    bool waiter_asleep;              /* the caller blocked on done (under mu) */
    atomic_bool quit;
    /* the current job: written before generation is bumped */
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

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spins until done(tp, ctx) or SPIN_NS pass; true when done. */
static bool spin_until(const onyx_threads *tp, bool (*done)(const onyx_threads *, unsigned), unsigned ctx)
{
    if (!tp->spin) return done(tp, ctx);
    int64_t deadline = 0;
    for (unsigned i = 0;; i++) {
        if (done(tp, ctx)) return true;
        cpu_relax();
        if ((i & 63) == 63) {
            int64_t t = now_ns();
            if (!deadline) deadline = t + SPIN_NS;
            else if (t > deadline) return done(tp, ctx);
        }
    }
}

static bool new_job(const onyx_threads *tp, unsigned seen)
{
    return atomic_load_explicit(&tp->generation, memory_order_acquire) != seen ||
           atomic_load_explicit(&tp->quit, memory_order_acquire);
}

static bool all_done(const onyx_threads *tp, unsigned unused)
{
    (void)unused;
    return atomic_load_explicit(&tp->pending, memory_order_acquire) == 0;
}

static void *worker_main(void *p)
{
    worker *w = p;
    onyx_threads *tp = w->tp;
    unsigned seen = 0;
    for (;;) {
        if (!spin_until(tp, new_job, seen)) {
            pthread_mutex_lock(&tp->mu);
            tp->sleepers++;
            while (!new_job(tp, seen)) pthread_cond_wait(&tp->wake, &tp->mu);
            tp->sleepers--;
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load_explicit(&tp->quit, memory_order_acquire)) break;
        seen = atomic_load_explicit(&tp->generation, memory_order_acquire);
        int64_t b, e;
        chunk(tp->total, tp->n, w->index, &b, &e);
        if (b < e) tp->fn(tp->arg, b, e);
        if (atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&tp->mu);
            if (tp->waiter_asleep) pthread_cond_signal(&tp->done);
            pthread_mutex_unlock(&tp->mu);
        }
    }
    free(w);
    return NULL;
}

static int online_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    return 1;
}

onyx_threads *threads_create(int n)
{
    if (n < 1) n = 1;
    onyx_threads *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n = n;
    tp->spin = n <= online_cores();
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->pending, 0);
    atomic_init(&tp->quit, false);
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
    atomic_store_explicit(&tp->quit, true, memory_order_release);
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
    /* the previous job is complete (pending reached 0), so no worker reads these now */
    tp->fn = fn;
    tp->arg = arg;
    tp->total = n;
    atomic_store_explicit(&tp->pending, tp->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&tp->generation, 1, memory_order_acq_rel);
    pthread_mutex_lock(&tp->mu);
    if (tp->sleepers) pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    int64_t b, e;
    chunk(n, tp->n, 0, &b, &e);
    if (b < e) fn(arg, b, e);
    if (!spin_until(tp, all_done, 0)) {
        pthread_mutex_lock(&tp->mu);
        tp->waiter_asleep = true;
        while (!all_done(tp, 0)) pthread_cond_wait(&tp->done, &tp->mu);
        tp->waiter_asleep = false;
        pthread_mutex_unlock(&tp->mu);
    }
}

void k_parallel_for(const onyx_kctx *k, int64_t n, onyx_range_fn fn, void *arg)
{
    threads_run(k->threads, n, fn, arg);
}

int k_num_threads(const onyx_kctx *k) { return threads_count(k->threads); }

void k_worklist_init(k_worklist *w, int64_t n, int threads)
{
    w->shares = threads < 1 ? 1 : threads > K_WORK_SHARES ? K_WORK_SHARES : threads;
    for (int t = 0; t < w->shares; t++) {
        int64_t b, e;
        chunk(n, w->shares, t, &b, &e);
        atomic_init(&w->share[t].next, (int)b);
        w->share[t].end = (int)e;
    }
}

bool k_worklist_next(k_worklist *w, int t, int64_t *unit)
{
    /* own share first, then the others' in turn; each share's units are
     * claimed through its one counter, so each is taken exactly once */
    for (int i = 0; i < w->shares; i++) {
        k_work_share *s = &w->share[(t + i) % w->shares];
        if (atomic_load_explicit(&s->next, memory_order_relaxed) >= s->end) continue;
        int u = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
        if (u < s->end) {
            *unit = u;
            return true;
        }
    }
    return false;
}
