/* reload.c: rebuilding the generation on request, off the main thread
 * (reload.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "app.h"
#include "declog.h"
#include "gen.h"
#include "genjob.h"
#include "http.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "shadow.h"
#include "util.h"

/* Builds given up on and still blocked: past this many, a reload is
 * refused at once rather than leave one more thread stuck in the kernel. */
#define MAX_STUCK 4

static pthread_t main_tid;

/* Posted by request threads. */
static pthread_mutex_t qmu = PTHREAD_MUTEX_INITIALIZER;
static reload_job *queue;

/* Main thread only. */
static int sighup_pending;
static struct {
	genjob *job;          /* NULL: no reload running */
	char trigger[32];
	int force;
	char who[96];
	uint64_t t0, deadline_ns;
	unsigned timeout_ms;
	reload_job *jobs;     /* answered when it is over */
} cur;

static void wake_main(void)
{
	pthread_kill(main_tid, SIGUSR2);
}

void reload_init(pthread_t main_thread)
{
	main_tid = main_thread;
}

void reload_request(void)
{
	sighup_pending = 1;
	reload_poll();
}

void reload_job_post(reload_job *j)
{
	pthread_mutex_lock(&qmu);
	j->next = queue;
	queue = j;
	pthread_mutex_unlock(&qmu);
	wake_main();
}

static void serving(char *name, size_t namelen, char *revision, size_t revlen)
{
	gen *g = gen_acquire();
	snprintf(name, namelen, "%s", g ? g->name : "");
	snprintf(revision, revlen, "%s", g ? g->revision : "");
	gen_release(g);
}

static void answer(reload_job *list, int ok, const char *err)
{
	char name[128], rev[80];
	serving(name, sizeof(name), rev, sizeof(rev));
	while (list) {
		reload_job *j = list;
		list = j->next;
		j->ok = ok;
		snprintf(j->err, sizeof(j->err), "%s", err);
		snprintf(j->name, sizeof(j->name), "%s", name);
		snprintf(j->revision, sizeof(j->revision), "%s", rev);
		/* j belongs to its request from here on. */
		http_resume(j->handle);
	}
}

static void failed(const char *trigger, reload_job *jobs, const char *why)
{
	char name[128], rev[80];
	serving(name, sizeof(name), rev, sizeof(rev));
	met_reload(0, wall_ns());
	log_kv(LOG_ERROR, "reload failed; still serving the previous ruleset",
	       LS("trigger", trigger), LS("reason", why), LS("ruleset", name),
	       LS("revision", rev), LOG_END);
	/* Never READY=1 after STOPPING=1. */
	if (!app_draining())
		sd_notifyf(0, "READY=1\nSTATUS=serving %s %s (last reload failed: %.200s)", name, rev, why);
	answer(jobs, 0, why);
}

/* Whether `next` may replace `serving` (reload.h, docs/operations.md
 * "Reload guards"): 0, or -1 with the reason in why. */
static int guards(const gen *serving_gen, const gen *next, char *why, size_t whylen)
{
	const stepup_ruleset *o = stepup_engine_ruleset(serving_gen->engine);
	const stepup_ruleset *n = stepup_engine_ruleset(next->engine);
	size_t on = stepup_ruleset_rule_count(o), nn = stepup_ruleset_rule_count(n);
	size_t ored = stepup_ruleset_outcome_count(o, STEPUP_RED);
	size_t nred = stepup_ruleset_outcome_count(n, STEPUP_RED);
	unsigned pct = serving_gen->cfg->reload.max_rule_drop_percent;
	if (nn == 0) {
		snprintf(why, whylen, "guard: the new ruleset %s has no rules: it would approve every "
		         "request (POST /v1/admin/reload {\"force\": true} to load it anyway)", next->revision);
		return -1;
	}
	if (ored > 0 && nred == 0) {
		snprintf(why, whylen, "guard: the new ruleset has no decline (RED) rules and the serving "
		         "one has %zu: nothing would be declined (POST /v1/admin/reload {\"force\": true} "
		         "to load it anyway)", ored);
		return -1;
	}
	if (nn < on && (unsigned long long)(on - nn) * 100 > (unsigned long long)on * pct) {
		snprintf(why, whylen, "guard: the rule count drops from %zu to %zu, more than "
		         "reload.max_rule_drop_percent (%u%%) (POST /v1/admin/reload {\"force\": true} "
		         "to load it anyway)", on, nn, pct);
		return -1;
	}
	return 0;
}

static void finish(void)
{
	gen *g = NULL, *old;
	char why[1024] = "", name[128], rev[80];
	reload_job *jobs = cur.jobs;
	char trigger[32];
	int force = cur.force;
	snprintf(trigger, sizeof(trigger), "%s", cur.trigger);
	int rc = genjob_take(cur.job, &g, why, sizeof(why));
	cur.job = NULL;
	cur.jobs = NULL;
	if (rc < 0) {
		failed(trigger, jobs, why);
		return;
	}
	if ((old = gen_acquire()) && !force && guards(old, g, why, sizeof(why)) < 0) {
		gen_release(old);
		gen_discard(g);
		failed(trigger, jobs, why);
		return;
	}
	if (old && force) {
		char gw[512] = "";
		if (guards(old, g, gw, sizeof(gw)) < 0)
			log_kv(LOG_WARN, "reload forced past a guard", LS("who", cur.who),
			       LS("guard", gw), LS("ruleset", g->name), LS("revision", g->revision), LOG_END);
		else
			log_kv(LOG_INFO, "reload forced (no guard objected)", LS("who", cur.who), LOG_END);
	}
	gen_release(old);
	char changed[128];
	cfg_restart_only_changes(APP.boot, g->cfg, changed, sizeof(changed));
	if (changed[0])
		log_kv(LOG_WARN, "reload ignores changed settings that need a restart",
		       LS("settings", changed), LOG_END);
	log_set_level(g->cfg->log.level);
	dlog_revision_record(g, "reload", cur.who[0] ? cur.who : NULL);
	gen_publish(g);
	shadow_published(g, trigger);
	lc_set_plugins(g->plugins);
	serving(name, sizeof(name), rev, sizeof(rev));
	met_reload(1, wall_ns());
	log_kv(LOG_INFO, "reloaded", LS("trigger", trigger), LS("ruleset", name),
	       LS("revision", rev), LS("signer", g->signer), LU("generation", g->seq),
	       LU("took_ms", (mono_ns() - cur.t0) / 1000000u), LOG_END);
	sd_notifyf(0, "READY=1\nSTATUS=serving %s %s", name, rev);
	answer(jobs, 1, "");
}

static void give_up(const char *why_prefix)
{
	char stage[512], why[1024];
	genjob_stage(cur.job, stage, sizeof(stage));
	genjob_abandon(cur.job);
	cur.job = NULL;
	if (why_prefix)
		snprintf(why, sizeof(why), "%s", why_prefix);
	else
		snprintf(why, sizeof(why), "timed out after %u ms (reload.timeout_ms) %s; "
		         "a file that blocks (a FIFO, a hung network mount)?", cur.timeout_ms, stage);
	reload_job *jobs = cur.jobs;
	cur.jobs = NULL;
	failed(cur.trigger, jobs, why);
}

/* Take the next batch: SIGHUP and plain admin requests together, or else
 * the forced ones (a forced reload never carries an unforced request). */
static reload_job *next_batch(int *force)
{
	reload_job *take = NULL, *keep = NULL;
	pthread_mutex_lock(&qmu);
	int plain = sighup_pending;
	for (reload_job *j = queue; j; j = j->next)
		plain |= !j->force;
	*force = !plain;
	while (queue) {
		reload_job *j = queue;
		queue = j->next;
		if (j->force == *force) {
			j->next = take;
			take = j;
		} else {
			j->next = keep;
			keep = j;
		}
	}
	queue = keep;
	pthread_mutex_unlock(&qmu);
	return take;
}

static void start_next(void)
{
	int force;
	int hup = sighup_pending;
	reload_job *jobs = next_batch(&force);
	if (!jobs && !(hup && !force))
		return;
	if (!force)
		sighup_pending = 0;
	char trigger[32];
	snprintf(trigger, sizeof(trigger), "%s", hup && !force ? (jobs ? "SIGHUP+admin" : "SIGHUP") : "admin");
	unsigned stuck = genjob_stuck();
	if (stuck >= MAX_STUCK) {
		char why[256];
		snprintf(why, sizeof(why), "%u earlier reloads are still blocked reading their files "
		         "(reload.timeout_ms passed); not starting another", stuck);
		failed(trigger, jobs, why);
		return;
	}
	gen *g = gen_acquire();
	unsigned timeout = g ? g->cfg->reload.timeout_ms : APP.boot->reload.timeout_ms;
	gen_release(g);
	char err[256];
	uint64_t t0 = mono_ns();
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading (%s)",
	           (unsigned long long)(t0 / 1000u), trigger);
	log_kv(LOG_INFO, "reload started", LS("trigger", trigger), LU("timeout_ms", timeout), LOG_END);
	genjob *job = genjob_start(APP.boot->path, NULL, wake_main, err, sizeof(err));
	if (!job) {
		failed(trigger, jobs, err);
		return;
	}
	cur.job = job;
	snprintf(cur.trigger, sizeof(cur.trigger), "%s", trigger);
	cur.force = force;
	cur.who[0] = '\0';
	for (reload_job *j = jobs; j; j = j->next)
		if (j->who[0]) {
			snprintf(cur.who, sizeof(cur.who), "%s", j->who);
			break;
		}
	cur.t0 = t0;
	cur.timeout_ms = timeout;
	cur.deadline_ns = t0 + (uint64_t)timeout * 1000000u;
	cur.jobs = jobs;
}

void reload_poll(void)
{
	if (cur.job) {
		if (genjob_finished(cur.job))
			finish();
		else if (mono_ns() >= cur.deadline_ns)
			give_up(NULL);
	}
	if (!cur.job)
		start_next();
}

void reload_refuse(void)
{
	sighup_pending = 0;
	if (cur.job)
		give_up("shutting down");
	pthread_mutex_lock(&qmu);
	reload_job *list = queue;
	queue = NULL;
	pthread_mutex_unlock(&qmu);
	if (list)
		answer(list, 0, "shutting down");
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
