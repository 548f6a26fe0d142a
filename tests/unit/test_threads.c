/* test_threads.c - the session thread pool (runtime/threads.c): k_parallel_for
 * covers every index exactly once, and k_worklist hands out every unit
 * exactly once, own share first, with the share of a delayed thread taken
 * over by the others. */
#include "harness.h"

#include <stdatomic.h>
#include <time.h>

#define MAX_N 1000

typedef struct cover_job {
    _Atomic int hits[MAX_N];
} cover_job;

static void cover_range(void *arg, int64_t begin, int64_t end)
{
    cover_job *j = arg;
    for (int64_t i = begin; i < end; i++) atomic_fetch_add(&j->hits[i], 1);
}

/* a kernel context with nothing but the pool */
static onyx_kctx ctx_on(onyx_threads *tp)
{
    onyx_kctx k;
    memset(&k, 0, sizeof k);
    k.threads = tp;
    return k;
}

/* every index of [0, n) once, for thread counts 1..5 and n around them */
static void test_parallel_for_cover(void)
{
    static cover_job j;
    for (int threads = 1; threads <= 5; threads++) {
        onyx_threads *tp = threads_create(threads);
        onyx_kctx k = ctx_on(tp);
        static const int64_t ns[] = {0, 1, 2, 3, 4, 5, 7, 64, 999};
        for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
            for (int i = 0; i < MAX_N; i++) atomic_init(&j.hits[i], 0);
            k_parallel_for(&k, ns[c], cover_range, &j);
            int wrong = 0;
            for (int64_t i = 0; i < MAX_N; i++) wrong += atomic_load(&j.hits[i]) != (i < ns[c]);
            CHECK(wrong == 0, "parallel_for threads=%d n=%lld: %d indices not run exactly once", threads,
                  (long long)ns[c], wrong);
        }
        threads_free(tp);
    }
}

typedef struct work_job {
    k_worklist *work;
    int delayed;                 /* this slot sleeps before taking any unit (-1: none) */
    _Atomic int hits[MAX_N];
    int owner[MAX_N];            /* the slot that ran the unit */
} work_job;

static void work_slots(void *arg, int64_t begin, int64_t end)
{
    work_job *j = arg;
    for (int64_t t = begin; t < end; t++) {
        if (t == j->delayed) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        int64_t u;
        while (k_worklist_next(j->work, (int)t, &u)) {
            atomic_fetch_add(&j->hits[u], 1);
            j->owner[u] = (int)t;
        }
    }
}

static void test_worklist(void)
{
    static work_job j;
    for (int threads = 1; threads <= 5; threads++) {
        onyx_threads *tp = threads_create(threads);
        onyx_kctx k = ctx_on(tp);
        static const int64_t ns[] = {0, 1, 3, 8, 40, 999};
        for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++)
            for (int delayed = -1; delayed < (threads > 1 ? 1 : 0); delayed++) {
                k_worklist work;
                k_worklist_init(&work, ns[c], threads);
                j.work = &work;
                j.delayed = delayed;
                for (int i = 0; i < MAX_N; i++) atomic_init(&j.hits[i], 0), j.owner[i] = -1;
                k_parallel_for(&k, threads, work_slots, &j);
                int wrong = 0;
                for (int64_t i = 0; i < MAX_N; i++) wrong += atomic_load(&j.hits[i]) != (i < ns[c]);
                CHECK(wrong == 0, "worklist threads=%d n=%lld delayed=%d: %d units not run exactly once", threads,
                      (long long)ns[c], delayed, wrong);
                /* a slot asleep for 50 ms finds its share taken over */
                if (delayed == 0 && ns[c] >= 40) {
                    int own = 0;
                    for (int64_t i = 0; i < ns[c]; i++) own += j.owner[i] == 0;
                    CHECK(own < ns[c] / threads, "worklist threads=%d n=%lld: the delayed slot still ran %d units",
                          threads, (long long)ns[c], own);
                }
            }
        threads_free(tp);
    }
}

/* Called from one thread: slot t's own share in order, then the next
 * shares' left-overs in turn (t+1, t+2, ...). */
static void test_worklist_order(void)
{
    k_worklist work;
    k_worklist_init(&work, 10, 3); /* shares [0,4) [4,7) [7,10) */
    static const int want[] = {4, 5, 6, 7, 8, 9, 0, 1, 2, 3};
    int64_t u;
    int wrong = 0, got = 0;
    while (k_worklist_next(&work, 1, &u)) wrong += got >= 10 || u != want[got], got++;
    CHECK(wrong == 0 && got == 10, "worklist order from slot 1: %d wrong of %d", wrong, got);
    k_worklist_init(&work, 10, 3);
    CHECK(k_worklist_next(&work, 2, &u) && u == 7, "slot 2 starts at 7, got %lld", (long long)u);
    CHECK(k_worklist_next(&work, 0, &u) && u == 0, "slot 0 starts at 0, got %lld", (long long)u);
    k_worklist_init(&work, 0, 3);
    CHECK(!k_worklist_next(&work, 0, &u), "an empty worklist hands out a unit");
    /* more threads than shares: slots beyond K_WORK_SHARES share counters */
    k_worklist_init(&work, 200, 100);
    got = 0;
    while (k_worklist_next(&work, 99, &u)) got++;
    CHECK(got == 200, "100 slots, 200 units: slot 99 alone ran %d", got);
}

int main(void)
{
    test_worklist_order();
    test_parallel_for_cover();
    test_worklist();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
