/* reload.c: rebuilding the generation on request. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "app.h"
#include "gen.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "util.h"

static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER;
static reload_job *queue;
static pthread_t main_tid;

static void serving(char *name, size_t namelen, char *revision, size_t revlen)
{
	gen *g = gen_acquire();
	snprintf(name, namelen, "%s", g ? g->name : "");
	snprintf(revision, revlen, "%s", g ? g->revision : "");
	gen_release(g);
}

static int str_changed(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

int reload_now(const char *trigger, char *err, size_t errlen,
               char *name, size_t namelen, char *revision, size_t revlen)
{
	char why[1024];
	stepupd_config *c = NULL;
	gen *g = NULL;
	uint64_t t0 = mono_ns();

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading (%s)",
	           (unsigned long long)(t0 / 1000u), trigger);
	log_kv(LOG_INFO, "reload started", LS("trigger", trigger), LOG_END);
	/* A changed "cases" section waits for a restart, but a broken one is
	 * refused now rather than found at that restart. */
	if (cfg_load(APP.boot->path, &c, why, sizeof(why)) < 0 ||
	    (str_changed(APP.boot->cases_canon, c->cases_canon) &&
	     lc_check(c, why, sizeof(why)) < 0) ||
	    gen_build(c, 1, &g, why, sizeof(why)) < 0) {
		cfg_free(c);
		snprintf(err, errlen, "%s", why);
		serving(name, namelen, revision, revlen);
		met_reload(0, wall_ns());
		log_kv(LOG_ERROR, "reload failed; still serving the previous ruleset",
		       LS("trigger", trigger), LS("reason", why), LS("ruleset", name),
		       LS("revision", revision), LOG_END);
		sd_notifyf(0, "READY=1\nSTATUS=serving %s %s (last reload failed: %.200s)",
		           name, revision, why);
		return -1;
	}
	char changed[128];
	cfg_restart_only_changes(APP.boot, c, changed, sizeof(changed));
	if (changed[0])
		log_kv(LOG_WARN, "reload ignores changed settings that need a restart",
		       LS("settings", changed), LOG_END);
	log_set_level(c->log.level);
	gen_publish(g);
	lc_set_plugins(g->plugins);
	serving(name, namelen, revision, revlen);
	met_reload(1, wall_ns());
	log_kv(LOG_INFO, "reloaded", LS("trigger", trigger), LS("ruleset", name),
	       LS("revision", revision), LU("generation", g->seq),
	       LU("took_ms", (mono_ns() - t0) / 1000000u), LOG_END);
	sd_notifyf(0, "READY=1\nSTATUS=serving %s %s", name, revision);
	return 0;
}

void reload_jobs_init(pthread_t main_thread)
{
	main_tid = main_thread;
}

void reload_job_post(reload_job *j)
{
	pthread_mutex_lock(&qmu);
	j->next = queue;
	queue = j;
	pthread_mutex_unlock(&qmu);
	pthread_kill(main_tid, SIGUSR2);
}

void reload_jobs_run(int refuse)
{
	pthread_mutex_lock(&qmu);
	reload_job *list = queue;
	queue = NULL;
	pthread_mutex_unlock(&qmu);
	/* Several requests queued together share one reload: they all asked
	 * for "the file as it is now". */
	int done = 0, ok = 0;
	char err[1024] = "", name[128] = "", rev[80] = "";
	while (list) {
		reload_job *j = list;
		list = j->next;
		if (refuse) {
			snprintf(j->err, sizeof(j->err), "shutting down");
		} else {
			if (!done) {
				ok = reload_now("admin", err, sizeof(err), name, sizeof(name), rev, sizeof(rev)) == 0;
				done = 1;
			}
			j->ok = ok;
			snprintf(j->err, sizeof(j->err), "%s", err);
			snprintf(j->name, sizeof(j->name), "%s", name);
			snprintf(j->revision, sizeof(j->revision), "%s", rev);
		}
		http_resume(j->handle);
	}
}

void reload_jobs_drop(void)
{
	pthread_mutex_lock(&qmu);
	reload_job *list = queue;
	queue = NULL;
	pthread_mutex_unlock(&qmu);
	while (list) {
		reload_job *j = list;
		list = j->next;
		free(j);
	}
}
