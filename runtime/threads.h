/* threads.h - the thread pool a session owns. Workers sleep between jobs. */
#ifndef ONYX_THREADS_H
#define ONYX_THREADS_H

#include "../ops/kernel.h"

typedef struct onyx_threads onyx_threads;

onyx_threads *threads_create(int n); /* n >= 1; NULL on failure */
void threads_free(onyx_threads *tp);
int threads_count(const onyx_threads *tp);
void threads_run(onyx_threads *tp, int64_t n, onyx_range_fn fn, void *arg);

#endif
