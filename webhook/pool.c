/* Worker pools and the completion list (see pool.h for the contract).
 *
 * Each pool is one FIFO of intrusive jobs under a mutex and a condition
 * variable, served by its threads (memcached thread.c); its depth bounds the
 * jobs waiting, not the ones running. Finished jobs go to the one completion
 * list of the loop, under its own mutex, and the loop is woken with
 * event_active() on a single event whose callback takes the whole list at
 * once. A pool's lock and the list's lock are never held together.
 *
 * Timed waits (a pool's idle interval) run on CLOCK_MONOTONIC: a step of the
 * wall clock neither stretches nor shortens them.
 *
 * Shutdown: webhook_pool_close marks the queue closed and wakes every
 * thread; a draining pool's threads empty the queue first, a dropping one's
 * leave at once. webhook_pool_free joins them; the completions they posted
 * meanwhile are run by the owner afterwards. */
#include "webhook/pool.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct webhook_completions {
    pthread_mutex_t mu;
    webhook_pool_job *head, *tail;
    struct event *wake;
};

typedef struct pool_thread {
    webhook_pool *pool;
    void *ctx;
    pthread_t tid;
    bool started;
} pool_thread;

struct webhook_pool {
    webhook_pool_def def;
    webhook_completions *done;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    webhook_pool_job *head, *tail;
    int64_t n;
    bool closed;
    pool_thread *threads;
};

/* ---- completions ------------------------------------------------------ */

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    webhook_completions_run(arg);
}

webhook_completions *webhook_completions_new(struct event_base *base)
{
    webhook_completions *c = xcalloc(1, sizeof *c);
    /* Never added, only made active: no fd, no timeout. */
    c->wake = event_new(base, -1, 0, wake_cb, c);
    if (!c->wake) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void webhook_completions_post(webhook_completions *c, webhook_pool_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->tail)
        c->tail->next = job;
    else
        c->head = job;
    c->tail = job;
    pthread_mutex_unlock(&c->mu);
    /* Safe from any thread because evthread_use_pthreads() gave the base a
     * lock and a notification fd (an eventfd): event_active takes the lock,
     * queues the event and, when the loop is asleep in epoll_wait, writes the
     * fd to wake it. Activating an event that is already active is a no-op,
     * so a burst of posts costs one callback, which takes the whole list. */
    event_active(c->wake, EV_READ, 0);
}

void webhook_completions_run(webhook_completions *c)
{
    pthread_mutex_lock(&c->mu);
    webhook_pool_job *j = c->head;
    c->head = c->tail = NULL;
    pthread_mutex_unlock(&c->mu);
    while (j) {
        webhook_pool_job *next = j->next; /* done may free j */
        j->done(j);
        j = next;
    }
}

void webhook_completions_free(webhook_completions *c)
{
    if (!c)
        return;
    event_free(c->wake);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- the queue -------------------------------------------------------- */

/* Takes the first job; NULL when empty. Holds p->mu. */
static webhook_pool_job *pop_locked(webhook_pool *p)
{
    webhook_pool_job *j = p->head;
    if (j) {
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->n--;
    }
    return j;
}

int webhook_pool_submit(webhook_pool *p, webhook_pool_job *job)
{
    int rc = -1;
    job->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (!p->closed && p->n < p->def.depth) {
        if (p->tail)
            p->tail->next = job;
        else
            p->head = job;
        p->tail = job;
        p->n++;
        pthread_cond_signal(&p->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int64_t webhook_pool_waiting(webhook_pool *p)
{
    pthread_mutex_lock(&p->mu);
    int64_t n = p->n;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void webhook_pool_close(webhook_pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->closed = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- threads ---------------------------------------------------------- */

/* The deadline ms from now, for pthread_cond_timedwait on a
 * CLOCK_MONOTONIC condition variable: an absolute timespec on that clock,
 * which ig_mono_seconds (a double, for durations) does not give. */
static struct timespec mono_deadline(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits until a job is queued or the pool is closed; with an idle function,
 * at most idle_ms. Holds p->mu. */
static void wait_locked(webhook_pool *p)
{
    if (!p->def.idle) {
        while (!p->head && !p->closed)
            pthread_cond_wait(&p->cv, &p->mu);
        return;
    }
    struct timespec until = mono_deadline(p->def.idle_ms);
    while (!p->head && !p->closed)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &until) == ETIMEDOUT)
            break;
}

/* Runs job; returns work's answer. done is read first: a job without one
 * may free itself in work. */
static int run_job(webhook_pool *p, webhook_pool_job *job, void *ctx)
{
    void (*done)(webhook_pool_job *) = job->done;
    int again = job->work(job, ctx);
    if (done)
        webhook_completions_post(p->done, job);
    return again;
}

static void *pool_main(void *arg)
{
    pool_thread *t = arg;
    webhook_pool *p = t->pool;
    /* On Linux nice is per thread: this lowers only this one, so the loop
     * and the other pools take the CPU first. */
    if (p->def.nice > 0 && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->def.nice) < 0)
        log_debug("event=worker_nice_failed pool=%s errno=%d", p->def.name, errno);
    bool idle_now = p->def.idle != NULL;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (!idle_now)
            wait_locked(p);
        bool stop = p->closed && (p->def.drop_on_close || !p->head);
        webhook_pool_job *job = stop ? NULL : pop_locked(p);
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        if (job)
            idle_now = run_job(p, job, t->ctx) > 0 && p->def.idle;
        else
            idle_now = p->def.idle(t->ctx) > 0; /* waited idle_ms, or asked to */
    }
    return NULL;
}

webhook_pool *webhook_pool_new(const webhook_pool_def *def, webhook_completions *c,
                               void *const *thread_ctx)
{
    webhook_pool *p = xcalloc(1, sizeof *p);
    p->def = *def;
    p->done = c;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->threads = xcalloc((size_t)def->threads, sizeof *p->threads);
    for (int i = 0; i < def->threads; i++) {
        pool_thread *t = &p->threads[i];
        t->pool = p;
        t->ctx = thread_ctx[i];
        if (pthread_create(&t->tid, NULL, pool_main, t) == 0)
            t->started = true;
        else
            log_error("event=thread_failed pool=%s index=%d", def->name, i);
    }
    return p;
}

void webhook_pool_free(webhook_pool *p)
{
    if (!p)
        return;
    webhook_pool_close(p);
    for (int i = 0; i < p->def.threads; i++)
        if (p->threads[i].started)
            pthread_join(p->threads[i].tid, NULL);
    int64_t left = 0;
    webhook_pool_job *j;
    while ((j = pop_locked(p)) != NULL) { /* the threads are gone: no lock needed */
        left++;
        if (p->def.discard)
            p->def.discard(j);
    }
    if (left && !p->def.drop_on_close)
        log_warn("event=pool_jobs_left pool=%s count=%lld", p->def.name, (long long)left);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}
