/* Worker pools: a bounded job queue served by a few threads, and the
 * completion list that hands finished jobs back to the event loop through
 * one event_active() wake-up (memcached thread.c is the model).
 *
 * A job is a webhook_pool_job embedded as the first member of the caller's
 * own struct, so the pool never allocates per job: submit puts it in the
 * queue, one thread runs work, the completion list carries it to the loop
 * thread, which runs done. A job is only ever touched by one thread at a
 * time. A pool may also have an idle function, run when a thread has waited
 * idle_ms without a job (and once when each thread starts): deliveries use
 * it to sweep the store for work that did not fit in the queue.
 *
 * Adding a pool: fill a webhook_pool_def, call webhook_pool_new with the
 * server's completion list and one context per thread, submit jobs, and
 * webhook_pool_free it at shutdown (server.c's start_pools does this). */
#ifndef IG_WEBHOOK_POOL_H
#define IG_WEBHOOK_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;

typedef struct webhook_pool webhook_pool;
typedef struct webhook_completions webhook_completions;
typedef struct webhook_pool_job webhook_pool_job;

struct webhook_pool_job {
    /* Runs on a pool thread; thread is that thread's context (see
     * webhook_pool_new). Returns 1 when the pool's idle function should run
     * at once, before the thread waits again (the job found that more work
     * may be waiting elsewhere), else 0. NULL for a job that is only posted
     * to the completion list. */
    int (*work)(webhook_pool_job *job, void *thread);
    /* Runs on the loop thread after work; the pool's last use of the job,
     * which done usually frees. NULL: the pool forgets the job once work
     * returns, and work may free it. */
    void (*done)(webhook_pool_job *job);
    webhook_pool_job *next; /* the pool's */
};

typedef struct webhook_pool_def {
    const char *name; /* "store", "scan", "delivery": in logs; borrowed */
    int threads;      /* >= 1 */
    int64_t depth;    /* jobs that may wait for a thread; submit refuses beyond */
    int nice;         /* > 0: the threads run at this lower CPU priority */
    /* Optional, on a pool thread: called once when the thread starts and
     * whenever it waited idle_ms (a monotonic interval) without a job.
     * Returns 1 to be called again at once (it found work), else 0. */
    int (*idle)(void *thread);
    int64_t idle_ms;
    /* false: closing lets the threads finish every queued job before they
     * exit. true: threads exit at once and queued jobs are never run (their
     * work is durable elsewhere); webhook_pool_free hands them to discard. */
    bool drop_on_close;
    /* Frees a job that never ran (drop_on_close, or no thread started);
     * NULL leaves such jobs to their owner. Called by webhook_pool_free. */
    void (*discard)(webhook_pool_job *job);
} webhook_pool_def;

/* ---- the completion list (one per event loop) ------------------------- */

/* A completion list whose wake-up event lives on base (evthread_use_pthreads
 * must have been called before base was made). NULL when libevent cannot
 * make the event. Loop thread. */
webhook_completions *webhook_completions_new(struct event_base *base);
/* Appends job (job->done must be set) and wakes the loop. Any thread.
 * Completions run in the order they were posted. */
void webhook_completions_post(webhook_completions *c, webhook_pool_job *job);
/* Runs every completion posted so far; the wake-up event does this on its
 * own, call it directly only once the pools are freed. Loop thread. */
void webhook_completions_run(webhook_completions *c);
/* Frees the list (after webhook_completions_run, before event_base_free);
 * NULL is ignored. Loop thread. */
void webhook_completions_free(webhook_completions *c);

/* ---- pools ------------------------------------------------------------ */

/* Starts def->threads threads; thread i passes thread_ctx[i] (borrowed for
 * the pool's life) to work and idle. def is copied. A thread that cannot be
 * started is logged and the pool runs with the others. Never NULL. Loop
 * thread (or before the loop runs). */
webhook_pool *webhook_pool_new(const webhook_pool_def *def, webhook_completions *c,
                               void *const *thread_ctx);
/* Queues job (work set). Returns 0, or -1 when depth jobs already wait or
 * the pool is closed: the caller keeps job. Any thread. */
int webhook_pool_submit(webhook_pool *p, webhook_pool_job *job);
/* Jobs waiting for a thread now (for metrics). Any thread. */
int64_t webhook_pool_waiting(webhook_pool *p);
/* Refuses new jobs and wakes every thread (see drop_on_close). Any thread;
 * repeated calls are harmless. */
void webhook_pool_close(webhook_pool *p);
/* Closes the pool, waits for its threads to exit, discards what is left in
 * the queue, frees it. Completions its jobs posted stay in the list. NULL is
 * ignored. Not on a pool thread. */
void webhook_pool_free(webhook_pool *p);

#endif
