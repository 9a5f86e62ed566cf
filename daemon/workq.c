/* workq.c: the pools behind parked requests (workq.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "util.h"
#include "workq.h"

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	work *qhead, *qtail;
	work *live;             /* posted, not yet done */
	pthread_t *threads;
	unsigned nthreads;
	int stopping;
	unsigned queued, running;  /* read without the lock by metrics */
	unsigned lazy_batch, lazy_ms;  /* workq_set_lazy */
};

static void link_live(workq *q, work *w)
{
	w->prev = NULL;
	w->next = q->live;
	if (q->live)
		q->live->prev = w;
	q->live = w;
}

static void unlink_live(workq *q, work *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else if (q->live == w)
		q->live = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

static void *worker(void *arg)
{
	workq *q = arg;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->qhead && !q->stopping) {
			if (!q->lazy_ms) {
				pthread_cond_wait(&q->cv, &q->mu);
				continue;
			}
			struct timespec ts;
			realtime_after_ms(&ts, q->lazy_ms);
			pthread_cond_timedwait(&q->cv, &q->mu, &ts);
		}
		if (!q->qhead)
			break;
		work *w = q->qhead;
		q->qhead = w->qnext;
		if (!q->qhead)
			q->qtail = NULL;
		__atomic_store_n(&q->queued, q->queued - 1, __ATOMIC_RELAXED);
		__atomic_store_n(&q->running, q->running + 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&q->mu);
		void *handle = w->handle;
		w->run(w);
		/* The handler may free w as soon as the request wakes: read
		 * nothing from it after this. A detached item is the pool's. */
		if (handle)
			http_resume(handle);
		else
			w->destroy(w);
		pthread_mutex_lock(&q->mu);
		__atomic_store_n(&q->running, q->running - 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

workq *workq_new(unsigned n, char *err, size_t errlen)
{
	workq *q = calloc(1, sizeof(*q));
	if (!q || !(q->threads = calloc(n, sizeof(*q->threads)))) {
		free(q);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	for (; q->nthreads < n; q->nthreads++) {
		int rc = pthread_create(&q->threads[q->nthreads], NULL, worker, q);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
			workq_stop(q);
			workq_free(q);
			return NULL;
		}
	}
	return q;
}

/* Append w to the queue; holds mu. */
static void enqueue_locked(workq *q, work *w)
{
	w->qnext = NULL;
	if (q->qtail)
		q->qtail->qnext = w;
	else
		q->qhead = w;
	q->qtail = w;
	__atomic_store_n(&q->queued, q->queued + 1, __ATOMIC_RELAXED);
}

void workq_post(workq *q, work *w)
{
	w->q = q;
	pthread_mutex_lock(&q->mu);
	link_live(q, w);
	if (q->stopping) {
		pthread_mutex_unlock(&q->mu);
		w->refuse(w);
		http_resume(w->handle);
		return;
	}
	enqueue_locked(q, w);
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

int workq_post_detached(workq *q, work *w, unsigned max_queued)
{
	w->q = q;
	w->handle = NULL;
	pthread_mutex_lock(&q->mu);
	if (q->stopping || q->queued >= max_queued) {
		pthread_mutex_unlock(&q->mu);
		return -1;
	}
	enqueue_locked(q, w);
	/* Lazy: a sleeping thread looks every lazy_ms anyway; waking it for
	 * each item would cost a system call and a context switch each. */
	if (q->queued >= q->lazy_batch)
		pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

void workq_drain(workq *q, unsigned timeout_ms)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->lazy_batch = 0;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000u;
	while ((workq_queued(q) || workq_running(q)) && mono_ns() < end) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

void workq_set_lazy(workq *q, unsigned batch, unsigned ms)
{
	pthread_mutex_lock(&q->mu);
	q->lazy_batch = batch;
	q->lazy_ms = ms;
	pthread_mutex_unlock(&q->mu);
}

void workq_done(work *w)
{
	workq *q = w->q;
	pthread_mutex_lock(&q->mu);
	unlink_live(q, w);
	pthread_mutex_unlock(&q->mu);
	w->destroy(w);
}

void workq_stop(workq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = 1;
	work *list = q->qhead;
	q->qhead = q->qtail = NULL;
	__atomic_store_n(&q->queued, 0, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	/* Refused outside the lock: waking a request may run its handler at
	 * once on an MHD thread, which calls workq_done(). */
	while (list) {
		work *w = list;
		list = w->qnext;
		if (!w->handle) {  /* detached: nobody waits for it */
			w->destroy(w);
			continue;
		}
		w->refuse(w);
		http_resume(w->handle);
	}
	for (unsigned i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	q->nthreads = 0;
}

void workq_free(workq *q)
{
	if (!q)
		return;
	work *list = q->live;
	q->live = NULL;
	while (list) {
		work *w = list;
		list = w->next;
		w->destroy(w);
	}
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q->threads);
	free(q);
}

unsigned workq_queued(const workq *q)
{
	return q ? __atomic_load_n(&q->queued, __ATOMIC_RELAXED) : 0;
}

unsigned workq_running(const workq *q)
{
	return q ? __atomic_load_n(&q->running, __ATOMIC_RELAXED) : 0;
}
