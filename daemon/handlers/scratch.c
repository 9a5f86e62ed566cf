/* scratch.c: per-thread decision objects and the spares (scratch.h). */
#include <pthread.h>
#include <stdlib.h>

#include "scratch.h"

/* Enough for a burst of parked YELLOW decisions; beyond, sets are freed. */
#define MAX_SPARES 64

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Thread_local struct scratch *mine;

static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static struct scratch *spares;
static unsigned nspares;

static void scratch_free(void *p)
{
	struct scratch *s = p;
	if (!s)
		return;
	stepup_request_free(s->r);
	stepup_decision_free(s->d);
	dbuf_free(&s->line);
	free(s);
}

/* Freed with its thread. */
static void make_key(void)
{
	pthread_key_create(&key, scratch_free);
}

static struct scratch *spare(void)
{
	pthread_mutex_lock(&spare_mu);
	struct scratch *s = spares;
	if (s) {
		spares = s->next;
		nspares--;
	}
	pthread_mutex_unlock(&spare_mu);
	return s;
}

struct scratch *scratch_get(void)
{
	if (mine)
		return mine;
	pthread_once(&once, make_key);
	struct scratch *s = spare();
	if (!s) {
		if (!(s = calloc(1, sizeof(*s))))
			return NULL;
		s->r = stepup_request_new();
		s->d = stepup_decision_new();
		if (!s->r || !s->d) {
			scratch_free(s);
			return NULL;
		}
	}
	s->next = NULL;
	pthread_setspecific(key, s);
	mine = s;
	return s;
}

void scratch_detach(struct scratch *s)
{
	if (mine == s) {
		pthread_setspecific(key, NULL);
		mine = NULL;
	}
}

void scratch_put(struct scratch *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&spare_mu);
	if (nspares < MAX_SPARES) {
		s->next = spares;
		spares = s;
		nspares++;
		s = NULL;
	}
	pthread_mutex_unlock(&spare_mu);
	scratch_free(s);
}

void scratch_shutdown(void)
{
	pthread_mutex_lock(&spare_mu);
	struct scratch *list = spares;
	spares = NULL;
	nspares = 0;
	pthread_mutex_unlock(&spare_mu);
	while (list) {
		struct scratch *s = list;
		list = s->next;
		scratch_free(s);
	}
}
