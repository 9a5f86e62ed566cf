/* replay.c: the requestId store (replay.h): a hash table of entries on a
 * list in arrival order, so the oldest is the first to go. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay.h"

typedef struct entry {
	struct entry *hnext;          /* hash chain */
	struct entry *older, *newer;  /* arrival order */
	char *key;
	uint64_t at_ns;
	int done;                     /* answered (else in flight) */
	unsigned status;
	char *body;
	size_t len;
} entry;

struct mdes_replay {
	pthread_mutex_t mu;
	pthread_cond_t answered;
	entry **tab;
	size_t nbuckets, n, max;
	uint64_t ttl_ns;
	entry *oldest, *newest;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return (size_t)h;
}

mdes_replay *mdes_replay_new(unsigned entries, unsigned ttl_seconds)
{
	mdes_replay *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return NULL;
	rp->max = entries;
	rp->ttl_ns = (uint64_t)ttl_seconds * 1000000000u;
	for (rp->nbuckets = 64; rp->nbuckets < entries; rp->nbuckets *= 2)
		;
	if (!(rp->tab = calloc(rp->nbuckets, sizeof(*rp->tab)))) {
		free(rp);
		return NULL;
	}
	pthread_mutex_init(&rp->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&rp->answered, &ca);
	pthread_condattr_destroy(&ca);
	return rp;
}

static void unlink_entry(mdes_replay *rp, entry *e)
{
	entry **pp = &rp->tab[hash(e->key) & (rp->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		rp->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		rp->newest = e->older;
	rp->n--;
	free(e->key);
	free(e->body);
	free(e);
}

static entry *find(mdes_replay *rp, const char *key)
{
	for (entry *e = rp->tab[hash(key) & (rp->nbuckets - 1)]; e; e = e->hnext)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Drop answered entries past their time, then the oldest answered ones
 * over the limit (in-flight entries stay: their deciders end them). */
static void trim(mdes_replay *rp, uint64_t now)
{
	entry *e = rp->oldest;
	while (e) {
		entry *next = e->newer;
		if (e->done && (now - e->at_ns > rp->ttl_ns || rp->n >= rp->max))
			unlink_entry(rp, e);
		else if (rp->n < rp->max && now - e->at_ns <= rp->ttl_ns)
			break;
		e = next;
	}
}

void mdes_replay_free(mdes_replay *rp)
{
	if (!rp)
		return;
	while (rp->oldest)
		unlink_entry(rp, rp->oldest);
	free(rp->tab);
	pthread_mutex_destroy(&rp->mu);
	pthread_cond_destroy(&rp->answered);
	free(rp);
}

int mdes_replay_begin(mdes_replay *rp, const char *key, uint64_t deadline_ns, unsigned *status, dbuf *out)
{
	pthread_mutex_lock(&rp->mu);
	uint64_t now = now_ns();
	trim(rp, now);
	entry *e;
	while ((e = find(rp, key)) && !e->done) {
		struct timespec ts = { (time_t)(deadline_ns / 1000000000u), (long)(deadline_ns % 1000000000u) };
		if (now_ns() >= deadline_ns ||
		    (pthread_cond_timedwait(&rp->answered, &rp->mu, &ts) != 0 && now_ns() >= deadline_ns)) {
			pthread_mutex_unlock(&rp->mu);
			return MDES_REPLAY_BUSY;
		}
	}
	if (e) {
		*status = e->status;
		dbuf_put(out, e->body, e->len);
		pthread_mutex_unlock(&rp->mu);
		return MDES_REPLAY_HIT;
	}
	e = calloc(1, sizeof(*e));
	if (e && !(e->key = strdup(key))) {
		free(e);
		e = NULL;
	}
	if (e) {
		size_t b = hash(key) & (rp->nbuckets - 1);
		e->hnext = rp->tab[b];
		rp->tab[b] = e;
		e->at_ns = now;
		e->older = rp->newest;
		if (rp->newest)
			rp->newest->newer = e;
		else
			rp->oldest = e;
		rp->newest = e;
		rp->n++;
	}
	pthread_mutex_unlock(&rp->mu);
	/* Out of memory: decide without keeping the answer. */
	return MDES_REPLAY_MINE;
}

void mdes_replay_end(mdes_replay *rp, const char *key, unsigned status, const char *body, size_t len)
{
	pthread_mutex_lock(&rp->mu);
	entry *e = find(rp, key);
	if (e && !e->done) {
		if (body && (e->body = malloc(len + 1))) {
			memcpy(e->body, body, len);
			e->body[len] = '\0';
			e->len = len;
			e->status = status;
			e->done = 1;
		} else {
			unlink_entry(rp, e);
		}
	}
	pthread_cond_broadcast(&rp->answered);
	pthread_mutex_unlock(&rp->mu);
}

size_t mdes_replay_size(mdes_replay *rp)
{
	pthread_mutex_lock(&rp->mu);
	size_t n = rp->n;
	pthread_mutex_unlock(&rp->mu);
	return n;
}
