/* workq.h: thread pools for handlers that block (the step-up lifecycle:
 * SQLite transactions, SMS/e-mail/in-app plugin calls with deadlines of
 * seconds).
 *
 * libmicrohttpd serves every connection of a worker thread on that
 * thread, so one handler waiting 2 s for an SMS gateway would stall every
 * TSP connection behind it, decisions included. Such a handler parks its
 * request instead (http_resp.suspend, see http.h) and hands a work item
 * to a pool in after_suspend; a pool thread runs it, then wakes the
 * request (http_resume), and the handler, called again on an MHD thread,
 * answers from what the item holds.
 *
 * Lifetime of an item: the handler allocates it, workq_post() takes it,
 * the handler's second call gives it back with workq_done(). Items the
 * server never handed back (a connection closed at shutdown) are
 * destroyed by workq_free(). */
#ifndef STEPUPD_WORKQ_H
#define STEPUPD_WORKQ_H

#include <stddef.h>

typedef struct workq workq;

typedef struct work {
	/* Filled by the handler. */
	void (*run)(struct work *w);      /* on a pool thread */
	void (*refuse)(struct work *w);   /* instead of run, when the pool is stopping */
	void (*destroy)(struct work *w);  /* free the item */
	void *handle;                     /* http_req.impl, for http_resume() */

	/* The pool's. */
	workq *q;
	struct work *qnext;               /* queue */
	struct work *prev, *next;         /* every item posted and not done */
} work;

/* A pool of `threads` threads. NULL with a message on failure. */
workq *workq_new(unsigned threads, char *err, size_t errlen);
/* Queue w (from http_resp.after_suspend, once the request is parked).
 * When q is stopped, w->refuse runs at once and the request is woken. */
void workq_post(workq *q, work *w);
/* A detached item, with no parked request behind it (shadow decisions,
 * shadow.h): run on a pool thread, then destroyed by the pool, never
 * refused. -1, and w stays the caller's, when max_queued items are
 * already waiting or the pool is stopping: the caller counts it skipped
 * rather than wait. Items still queued at workq_stop() are destroyed
 * without running. */
int workq_post_detached(workq *q, work *w, unsigned max_queued);
/* Detached items only wake a sleeping thread once `batch` of them wait;
 * idle threads look for work every `ms` (> 0) anyway. For work nobody
 * waits for (shadow decisions): one wake-up per batch instead of one per
 * item. */
void workq_set_lazy(workq *q, unsigned batch, unsigned ms);
/* Wait (at most timeout_ms) until nothing is queued or running, waking
 * the threads at once: at exit, for detached work that is cheap to finish
 * (workq_stop would drop it). */
void workq_drain(workq *q, unsigned timeout_ms);
/* The handler has answered from w: forget and destroy it. */
void workq_done(work *w);
/* Stop taking work: refuse what is queued (waking each request), let the
 * running items finish, join the threads. Must run before server_stop():
 * libmicrohttpd refuses to stop with requests still parked. NULL and a
 * second call are no-ops. */
void workq_stop(workq *q);
/* After server_stop(): destroy the items no handler took back, free q. */
void workq_free(workq *q);

/* For metrics: items waiting for a thread, items running. */
unsigned workq_queued(const workq *q);
unsigned workq_running(const workq *q);

#endif
