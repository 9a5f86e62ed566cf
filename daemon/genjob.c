/* genjob.c: generations built off the main thread (genjob.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "genjob.h"
#include "lifecycle.h"
#include "log.h"

struct genjob {
	pthread_t thread;      /* joined by genjob_take, detached when abandoned */
	char *path;            /* a reload's configuration file, or NULL */
	stepupd_config *cfg;   /* a start's configuration (borrowed) */
	void (*wake)(void);
	/* Under mu. */
	int finished, abandoned;
	char stage[512];
	int rc;
	gen *g;
	char err[1024];
};

/* One lock for every job: jobs are rare (one per reload). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned stuck;

static void set_stage(genjob *j, const char *what, const char *path)
{
	pthread_mutex_lock(&mu);
	snprintf(j->stage, sizeof(j->stage), "%s %s", what, path);
	pthread_mutex_unlock(&mu);
}

static int str_changed(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

static void free_job(genjob *j)
{
	free(j->path);
	free(j);
}

static void *run(void *arg)
{
	genjob *j = arg;
	stepupd_config *c = j->cfg;
	gen *g = NULL;
	char why[1024] = "";
	int rc = 0;

	if (j->path) {
		set_stage(j, "reading the configuration", j->path);
		rc = cfg_load(j->path, &c, why, sizeof(why));
		/* A changed "cases" section waits for a restart, but a broken one
		 * is refused now rather than found at that restart. */
		if (rc == 0 && str_changed(APP.boot->cases_canon, c->cases_canon)) {
			set_stage(j, "checking the case store of", j->path);
			rc = lc_check(c, why, sizeof(why));
		}
	}
	if (rc == 0) {
		set_stage(j, c->has_plugins ? "loading the plugins and the rules" : "loading the rules",
		          c->rules);
		rc = gen_build(c, j->path != NULL, &g, why, sizeof(why));
	}
	if (rc < 0 && j->path)
		cfg_free(c);

	pthread_mutex_lock(&mu);
	if (j->abandoned) {
		stuck--;
		pthread_mutex_unlock(&mu);
		if (g) {
			log_kv(LOG_WARN, "a build given up at its deadline finished late; its ruleset is "
			       "discarded, never served", LS("ruleset", g->name), LS("revision", g->revision),
			       LOG_END);
			gen_discard(g);
		}
		free_job(j);
		return NULL;
	}
	j->finished = 1;
	j->rc = rc;
	j->g = g;
	snprintf(j->err, sizeof(j->err), "%s", why);
	void (*wake)(void) = j->wake;
	pthread_mutex_unlock(&mu);
	/* j may be taken and freed from here on. */
	if (wake)
		wake();
	return NULL;
}

genjob *genjob_start(const char *path, stepupd_config *cfg, void (*wake)(void),
                     char *err, size_t errlen)
{
	/* The thread is created joinable: genjob_take joins it. */
	genjob *j = calloc(1, sizeof(*j));
	if (!j || (path && !(j->path = strdup(path)))) {
		free(j);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->cfg = cfg;
	j->wake = wake;
	snprintf(j->stage, sizeof(j->stage), "starting");
	int rc = pthread_create(&j->thread, NULL, run, j);
	if (rc != 0) {
		free_job(j);
		snprintf(err, errlen, "cannot start a thread: %s", strerror(rc));
		return NULL;
	}
	return j;
}

int genjob_finished(genjob *j)
{
	pthread_mutex_lock(&mu);
	int done = j->finished;
	pthread_mutex_unlock(&mu);
	return done;
}

void genjob_stage(genjob *j, char *buf, size_t size)
{
	pthread_mutex_lock(&mu);
	snprintf(buf, size, "%s", j->stage);
	pthread_mutex_unlock(&mu);
}

int genjob_take(genjob *j, gen **out, char *err, size_t errlen)
{
	/* Finished: the thread is returning. Joined, so that its thread-local
	 * state (the libraries') is gone before the caller goes on, an exit
	 * included. */
	pthread_join(j->thread, NULL);
	int rc = j->rc;
	*out = j->g;
	if (rc < 0)
		snprintf(err, errlen, "%s", j->err);
	free_job(j);
	return rc;
}

void genjob_abandon(genjob *j)
{
	pthread_mutex_lock(&mu);
	if (j->finished) {
		/* Finished meanwhile: nobody else will free it. */
		pthread_mutex_unlock(&mu);
		pthread_join(j->thread, NULL);
		gen_discard(j->g);
		free_job(j);
		return;
	}
	j->abandoned = 1;
	stuck++;
	/* Still running: it frees itself; nobody will join it. */
	pthread_detach(j->thread);
	pthread_mutex_unlock(&mu);
}

unsigned genjob_stuck(void)
{
	pthread_mutex_lock(&mu);
	unsigned n = stuck;
	pthread_mutex_unlock(&mu);
	return n;
}
