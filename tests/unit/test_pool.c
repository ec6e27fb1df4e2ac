/* Unit tests for webhook/pool.c: the worker pools and the completion list,
 * on a real libevent loop in the test's main thread. Submit and completion
 * order, the queue bound, idle timeouts without work, shutdown (draining and
 * dropping pools) and many producers against several pools sharing one
 * completion list. Also built with -fsanitize=thread (scripts/tsan.sh).
 * Nothing here measures time: tests wait for states, with a generous guard
 * that fails the test instead of hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "webhook/pool.h"

#define GUARD_SECONDS 60

/* ---- the harness: a loop on this thread and its completion list -------- */

typedef struct harness {
    struct event_base *base;
    webhook_completions *c;
    pthread_t loop_thread;
    int done_n, target; /* loop thread */
    int order[8192];    /* seq of each completion, in the order they ran */
    bool timed_out;
} harness;

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    harness *h = arg;
    h->timed_out = true;
    event_base_loopbreak(h->base);
}

static void harness_init(harness *h)
{
    memset(h, 0, sizeof *h);
    h->base = event_base_new();
    assert_non_null(h->base);
    h->c = webhook_completions_new(h->base);
    assert_non_null(h->c);
    h->loop_thread = pthread_self();
}

static void harness_dispose(harness *h)
{
    webhook_completions_run(h->c);
    webhook_completions_free(h->c);
    event_base_free(h->base);
}

/* Runs the loop until target completions ran in all; fails after the guard. */
static void run_until(harness *h, int target)
{
    h->target = target;
    if (h->done_n >= target)
        return;
    struct event *guard = evtimer_new(h->base, guard_cb, h);
    struct timeval tv = {GUARD_SECONDS, 0};
    evtimer_add(guard, &tv);
    event_base_loop(h->base, EVLOOP_NO_EXIT_ON_EMPTY);
    event_free(guard);
    assert_false(h->timed_out);
    assert_int_equal(h->done_n, target);
}

/* ---- a gate that holds workers until the test opens it ----------------- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int entered;
} gate;

static void gate_init(gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    g->open = false;
    g->entered = 0;
}

static void gate_dispose(gate *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

static void gate_pass(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->entered++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Waits until *counter (guarded by g->mu) reaches n; false after the guard. */
static bool wait_count(gate *g, const int *counter, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += GUARD_SECONDS;
    bool ok = true;
    pthread_mutex_lock(&g->mu);
    while (*counter < n && ok)
        ok = pthread_cond_timedwait(&g->cv, &g->mu, &until) != ETIMEDOUT;
    ok = *counter >= n;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

/* ---- test jobs -------------------------------------------------------- */

typedef struct tjob {
    webhook_pool_job pj;
    harness *h;
    gate *hold; /* work waits here when set */
    int seq;
    int again;         /* work's return value */
    atomic_int *ran;   /* counts works */
    atomic_int *order; /* next work position */
    int position;      /* where work ran, from *order */
    int works;         /* times work ran on this job */
    bool on_pool_thread;
    struct tjob *extra; /* posted to the completion list from work */
} tjob;

static int tjob_work(webhook_pool_job *pj, void *thread)
{
    tjob *j = (tjob *)pj;
    j->works++;
    j->on_pool_thread = thread != NULL && !pthread_equal(pthread_self(), j->h->loop_thread);
    if (j->order)
        j->position = atomic_fetch_add(j->order, 1);
    if (j->extra)
        webhook_completions_post(j->h->c, &j->extra->pj);
    if (j->hold)
        gate_pass(j->hold);
    if (j->ran)
        atomic_fetch_add(j->ran, 1);
    return j->again;
}

static void tjob_done(webhook_pool_job *pj)
{
    tjob *j = (tjob *)pj;
    harness *h = j->h;
    assert_true(pthread_equal(pthread_self(), h->loop_thread));
    assert_true(j->pj.work == NULL || j->works == 1);
    assert_true(j->pj.work == NULL || j->on_pool_thread);
    if (h->done_n < (int)(sizeof h->order / sizeof h->order[0]))
        h->order[h->done_n] = j->seq;
    h->done_n++;
    if (h->done_n >= h->target)
        event_base_loopbreak(h->base);
    free(j);
}

static tjob *tjob_new(harness *h, int seq)
{
    tjob *j = calloc(1, sizeof *j);
    assert_non_null(j);
    j->pj.work = tjob_work;
    j->pj.done = tjob_done;
    j->h = h;
    j->seq = seq;
    return j;
}

/* Submits a job that holds its thread at g, and waits until entered jobs
 * are held there: that many threads are busy and the queue is empty. */
static void submit_held(harness *h, webhook_pool *p, gate *g, int seq, atomic_int *ran, int entered)
{
    tjob *j = tjob_new(h, seq);
    j->hold = g;
    j->ran = ran;
    assert_int_equal(webhook_pool_submit(p, &j->pj), 0);
    assert_true(wait_count(g, &g->entered, entered));
}

/* Submits jobs from..to-1, all accepted; out (when set) receives them. */
static void submit_range(harness *h, webhook_pool *p, int from, int to, atomic_int *ran,
                         atomic_int *order, tjob **out)
{
    for (int i = from; i < to; i++) {
        tjob *j = tjob_new(h, i);
        j->ran = ran;
        j->order = order;
        if (out)
            out[i - from] = j;
        assert_int_equal(webhook_pool_submit(p, &j->pj), 0);
    }
}

/* Thread contexts: the pool only passes them through. */
static int thread_ids[16];
static void *const thread_ctx[16] = {
    &thread_ids[0],  &thread_ids[1],  &thread_ids[2],  &thread_ids[3],
    &thread_ids[4],  &thread_ids[5],  &thread_ids[6],  &thread_ids[7],
    &thread_ids[8],  &thread_ids[9],  &thread_ids[10], &thread_ids[11],
    &thread_ids[12], &thread_ids[13], &thread_ids[14], &thread_ids[15],
};

/* ---- submit and completion order -------------------------------------- */

static void test_order(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    webhook_pool_def def = {.name = "t", .threads = 1, .depth = 100};
    webhook_pool *p = webhook_pool_new(&def, h.c, thread_ctx);
    atomic_int order = 0;
    tjob *jobs[50];
    for (int i = 0; i < 50; i++) {
        jobs[i] = tjob_new(&h, i);
        jobs[i]->order = &order;
        if (i == 10) {
            /* posted from work: runs before the job's own done */
            jobs[i]->extra = tjob_new(&h, 1000);
            jobs[i]->extra->pj.work = NULL;
        }
    }
    for (int i = 0; i < 50; i++)
        assert_int_equal(webhook_pool_submit(p, &jobs[i]->pj), 0);
    run_until(&h, 51);
    int k = 0;
    for (int i = 0; i < 50; i++) {
        if (i == 10)
            assert_int_equal(h.order[k++], 1000);
        assert_int_equal(h.order[k++], i);
    }
    assert_int_equal(atomic_load(&order), 50);
    webhook_pool_free(p);
    harness_dispose(&h);
}

/* Work order itself: each work records its position, read once the pool is
 * joined and before the completions free the jobs. */
static void test_work_order(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    webhook_pool_def def = {.name = "t", .threads = 1, .depth = 100};
    webhook_pool *p = webhook_pool_new(&def, h.c, thread_ctx);
    atomic_int order = 0;
    gate g;
    gate_init(&g);
    submit_held(&h, p, &g, -1, NULL, 1); /* every job is queued before any runs */
    tjob *jobs[20];
    submit_range(&h, p, 0, 20, NULL, &order, jobs);
    assert_int_equal(webhook_pool_waiting(p), 20);
    webhook_pool_close(p); /* a draining pool: the queued jobs still run */
    gate_open(&g);
    webhook_pool_free(p); /* joined: every work has run, no done yet */
    for (int i = 0; i < 20; i++)
        assert_int_equal(jobs[i]->position, i);
    assert_int_equal(h.done_n, 0);
    harness_dispose(&h); /* runs the completions */
    assert_int_equal(h.done_n, 21);
    gate_dispose(&g);
}

/* ---- the bound --------------------------------------------------------- */

static void test_bound(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    webhook_pool_def def = {.name = "t", .threads = 1, .depth = 2};
    webhook_pool *p = webhook_pool_new(&def, h.c, thread_ctx);
    gate g;
    gate_init(&g);
    submit_held(&h, p, &g, 0, NULL, 1);
    tjob *b = tjob_new(&h, 1), *c = tjob_new(&h, 2), *d = tjob_new(&h, 3);
    assert_int_equal(webhook_pool_submit(p, &b->pj), 0);
    assert_int_equal(webhook_pool_submit(p, &c->pj), 0);
    assert_int_equal(webhook_pool_waiting(p), 2);
    assert_int_equal(webhook_pool_submit(p, &d->pj), -1); /* full: caller keeps d */
    assert_int_equal(webhook_pool_waiting(p), 2);
    gate_open(&g);
    run_until(&h, 3);
    assert_int_equal(webhook_pool_waiting(p), 0);
    assert_int_equal(webhook_pool_submit(p, &d->pj), 0); /* room again */
    run_until(&h, 4);
    webhook_pool_close(p);
    tjob *e = tjob_new(&h, 4);
    assert_int_equal(webhook_pool_submit(p, &e->pj), -1); /* closed */
    free(e);
    webhook_pool_free(p);
    gate_dispose(&g);
    harness_dispose(&h);
}

/* ---- idle: timed waits without work ------------------------------------ */

typedef struct idle_state {
    gate g; /* mu/cv guard calls */
    int calls;
    int again_first; /* the first again_first calls return 1 */
} idle_state;

static idle_state *idle_st;

static int idle_fn(void *thread)
{
    (void)thread;
    idle_state *s = idle_st;
    pthread_mutex_lock(&s->g.mu);
    int n = ++s->calls;
    pthread_cond_broadcast(&s->g.cv);
    pthread_mutex_unlock(&s->g.mu);
    return n <= s->again_first ? 1 : 0;
}

static void test_idle_wakes_on_time(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    idle_state s = {.again_first = 0};
    gate_init(&s.g);
    idle_st = &s;
    webhook_pool_def def = {.name = "t", .threads = 1, .depth = 4, .idle = idle_fn, .idle_ms = 20};
    webhook_pool *p = webhook_pool_new(&def, h.c, thread_ctx);
    /* once at start, then once per idle_ms with nothing queued */
    assert_true(wait_count(&s.g, &s.calls, 4));
    webhook_pool_free(p);
    gate_dispose(&s.g);
    harness_dispose(&h);
}

static void test_idle_again_and_after_work(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    idle_state s = {.again_first = 5};
    gate_init(&s.g);
    idle_st = &s;
    /* an hour: any call beyond the first can only come from "again" */
    webhook_pool_def def = {
        .name = "t", .threads = 1, .depth = 4, .idle = idle_fn, .idle_ms = 3600 * 1000};
    webhook_pool *p = webhook_pool_new(&def, h.c, thread_ctx);
    assert_true(wait_count(&s.g, &s.calls, 6)); /* 1..5 said again, 6 did not */
    tjob *j = tjob_new(&h, 0);
    j->again = 1; /* "more may be waiting": the idle function runs at once */
    assert_int_equal(webhook_pool_submit(p, &j->pj), 0);
    run_until(&h, 1);
    assert_true(wait_count(&s.g, &s.calls, 7));
    webhook_pool_free(p); /* wakes a thread in an hour-long timed wait */
    /* and nothing else called it: a timed wait that returned early (a
     * deadline on the wrong clock) would have called it again and again */
    assert_int_equal(s.calls, 7);
    gate_dispose(&s.g);
    harness_dispose(&h);
}

/* ---- shutdown ---------------------------------------------------------- */

static atomic_int discarded;

static void discard_fn(webhook_pool_job *pj)
{
    atomic_fetch_add(&discarded, 1);
    free(pj);
}

static void test_shutdown_drains(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    webhook_pool_def def = {.name = "t", .threads = 2, .depth = 100};
    webhook_pool *p = webhook_pool_new(&def, h.c, thread_ctx);
    gate g;
    gate_init(&g);
    atomic_int ran = 0;
    submit_held(&h, p, &g, 0, &ran, 1);
    submit_held(&h, p, &g, 1, &ran, 2); /* both threads busy */
    submit_range(&h, p, 2, 22, &ran, NULL, NULL);
    webhook_pool_close(p);
    tjob *late = tjob_new(&h, 99);
    assert_int_equal(webhook_pool_submit(p, &late->pj), -1);
    free(late);
    gate_open(&g);
    webhook_pool_free(p);
    assert_int_equal(atomic_load(&ran), 22);
    webhook_completions_run(h.c); /* what the server does after the joins */
    assert_int_equal(h.done_n, 22);
    gate_dispose(&g);
    harness_dispose(&h);
}

static void test_shutdown_drops(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    atomic_store(&discarded, 0);
    webhook_pool_def def = {
        .name = "t", .threads = 1, .depth = 10, .drop_on_close = true, .discard = discard_fn};
    webhook_pool *p = webhook_pool_new(&def, h.c, thread_ctx);
    gate g;
    gate_init(&g);
    atomic_int ran = 0;
    submit_held(&h, p, &g, 0, &ran, 1);
    submit_range(&h, p, 1, 4, &ran, NULL, NULL);
    webhook_pool_close(p);
    gate_open(&g); /* the running job finishes; the queued three never run */
    webhook_pool_free(p);
    assert_int_equal(atomic_load(&ran), 1);
    assert_int_equal(atomic_load(&discarded), 3);
    webhook_completions_run(h.c);
    assert_int_equal(h.done_n, 1);
    gate_dispose(&g);
    harness_dispose(&h);
}

/* ---- many producers, several pools, one completion list ----------------- */

#define PRODUCERS 6
#define PER_PRODUCER 400

typedef struct producer {
    pthread_t tid;
    harness *h;
    webhook_pool *pools[3];
    int index;
    atomic_int *ran;
    atomic_int *refused;
} producer;

static void *producer_main(void *arg)
{
    producer *pr = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        tjob *j = tjob_new(pr->h, pr->index * PER_PRODUCER + i);
        j->ran = pr->ran;
        if (i % 10 == 0) {
            j->extra = tjob_new(pr->h, -1);
            j->extra->pj.work = NULL;
        }
        webhook_pool *p = pr->pools[i % 3];
        while (webhook_pool_submit(p, &j->pj) < 0) { /* full: the caller retries */
            atomic_fetch_add(pr->refused, 1);
            sched_yield();
        }
    }
    return NULL;
}

/* Reads the queue lengths while they change, as GET /metrics does. */
typedef struct monitor {
    webhook_pool **pools;
    atomic_bool stop;
    int64_t max_waiting[3];
} monitor;

static void *monitor_main(void *arg)
{
    monitor *m = arg;
    while (!atomic_load(&m->stop)) {
        for (int i = 0; i < 3; i++) {
            int64_t n = webhook_pool_waiting(m->pools[i]);
            if (n > m->max_waiting[i])
                m->max_waiting[i] = n;
        }
        sched_yield();
    }
    return NULL;
}

static void test_many_producers(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    webhook_pool_def a = {.name = "a", .threads = 4, .depth = 8};
    webhook_pool_def b = {.name = "b", .threads = 2, .depth = 4, .nice = 5};
    webhook_pool_def c = {.name = "c", .threads = 3, .depth = 1000};
    webhook_pool *pools[3] = {webhook_pool_new(&a, h.c, thread_ctx),
                              webhook_pool_new(&b, h.c, thread_ctx + 4),
                              webhook_pool_new(&c, h.c, thread_ctx + 6)};
    atomic_int ran = 0, refused = 0;
    monitor mon = {.pools = pools};
    pthread_t mon_tid;
    assert_int_equal(pthread_create(&mon_tid, NULL, monitor_main, &mon), 0);
    producer prs[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        prs[i] = (producer){.h = &h, .index = i, .ran = &ran, .refused = &refused};
        memcpy(prs[i].pools, pools, sizeof pools);
        assert_int_equal(pthread_create(&prs[i].tid, NULL, producer_main, &prs[i]), 0);
    }
    int jobs = PRODUCERS * PER_PRODUCER, extras = PRODUCERS * (PER_PRODUCER / 10);
    run_until(&h, jobs + extras);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(prs[i].tid, NULL);
    atomic_store(&mon.stop, true);
    pthread_join(mon_tid, NULL);
    assert_int_equal(atomic_load(&ran), jobs);
    /* never more waiting than the depth */
    assert_in_range(mon.max_waiting[0], 0, a.depth);
    assert_in_range(mon.max_waiting[1], 0, b.depth);
    assert_in_range(mon.max_waiting[2], 0, c.depth);
    /* every job completed exactly once (tjob_done checks works == 1) */
    static bool seen[PRODUCERS * PER_PRODUCER];
    memset(seen, 0, sizeof seen);
    int n_extra = 0;
    for (int i = 0; i < jobs + extras; i++) {
        int seq = h.order[i];
        if (seq < 0) {
            n_extra++;
            continue;
        }
        assert_false(seen[seq]);
        seen[seq] = true;
    }
    assert_int_equal(n_extra, extras);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(webhook_pool_waiting(pools[i]), 0);
        webhook_pool_free(pools[i]);
    }
    harness_dispose(&h);
}

int main(void)
{
    evthread_use_pthreads(); /* before any event base, as the server does */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_work_order),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_idle_wakes_on_time),
        cmocka_unit_test(test_idle_again_and_after_work),
        cmocka_unit_test(test_shutdown_drains),
        cmocka_unit_test(test_shutdown_drops),
        cmocka_unit_test(test_many_producers),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    libevent_global_shutdown();
    return rc;
}
