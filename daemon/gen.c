/* gen.c: building, publishing and retiring generations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "declog.h"
#include "gen.h"
#include "log.h"
#include "metrics.h"
#include "shadow.h"
#include "util.h"

/* `current` is read without a lock: a request thread announces itself in
 * `acquiring`, loads `current` and takes its reference. gen_collect() frees
 * a replaced generation only after seeing `acquiring` at zero, since the
 * replacement, under `mu`, so no thread can still be between loading that
 * generation and counting its reference. Publishing and collecting hold
 * `mu`; request threads never take it. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static gen *current;    /* atomic */
static unsigned acquiring;  /* atomic */
static gen *all;        /* every generation not yet freed, newest first */
static uint64_t next_seq = 1;

/* Free what a generation that never finished building holds. */
static void unbuild(gen *g)
{
	shadow_gen_free(g);
	stepup_facts_free(g->facts);
	stepup_engine_free(g->engine);
	stepup_plugins_unref(g->plugins);
	free(g);
}

/* What a generation needs once its engine is built: names, metrics,
 * the decision log's facts writer, shadow mode's part. */
static int finish(gen *g, char *err, size_t errlen)
{
	const stepup_ruleset *ers = stepup_engine_ruleset(g->engine);
	g->name = stepup_ruleset_name(ers);
	g->revision = stepup_ruleset_revision(ers);
	g->stats = met_rev_stats(g->name, g->revision, stepup_ruleset_rule_count(ers));
	if (!g->stats) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (APP.boot && APP.boot->decision_log.path && APP.boot->decision_log.replay_safe &&
	    !(g->facts = dlog_facts_plan(g->engine, APP.boot))) {
		snprintf(err, errlen, "decision_log: cannot prepare the facts of a replay-safe log");
		return -1;
	}
	if (shadow_gen_built(g, err, errlen) < 0)
		return -1;
	pthread_mutex_init(&g->ready_mu, NULL);
	g->refs = 1;
	return 0;
}

int gen_build(stepupd_config *cfg, int own, gen **out, char *err, size_t errlen)
{
	gen *g = calloc(1, sizeof(*g));
	stepup_ruleset *rs = NULL;
	char why[1024] = "";
	int rc;

	*out = NULL;
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cfg->has_plugins) {
		rc = stepup_plugins_load(cfg->text, cfg->base_dir, log_from_library, NULL,
		                         &g->plugins, why, sizeof(why));
		if (rc != STEPUP_OK) {
			snprintf(err, errlen, "plugins: %s", why[0] ? why : stepup_strerror(rc));
			goto fail;
		}
	}
	/* Fail closed: no rules would approve everything (unless opted in);
	 * a signature is checked on the bytes loaded (bundles section). */
	rc = stepup_ruleset_load_trusted(cfg->rules, g->plugins,
	                                 (cfg->allow_empty_ruleset ? STEPUP_LOAD_ALLOW_EMPTY : 0) |
	                                         (cfg->bundles.require_signature ? STEPUP_LOAD_SIGNED : 0),
	                                 cfg->bundles.trust, &rs, g->signer, why, sizeof(why));
	if (rc != STEPUP_OK) {
		snprintf(err, errlen, "rules: %s", why[0] ? why : stepup_strerror(rc));
		goto fail;
	}
	/* The engine reads the "issuer" section and ignores the daemon's own. */
	rc = stepup_engine_new_with_plugins(rs, g->plugins, cfg->text, &g->engine, why, sizeof(why));
	stepup_ruleset_unref(rs);
	if (rc != STEPUP_OK) {
		snprintf(err, errlen, "issuer: %s", why[0] ? why : stepup_strerror(rc));
		goto fail;
	}
	g->cfg = cfg;
	if (finish(g, err, errlen) < 0)
		goto fail;
	g->own_cfg = own;
	*out = g;
	return 0;
fail:
	unbuild(g);
	return -1;
}

int gen_adopt(gen *base, stepup_ruleset *rs, const char *signer, gen **out, char *err, size_t errlen)
{
	char why[1024] = "";
	gen *g = calloc(1, sizeof(*g));

	*out = NULL;
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->plugins = base->plugins ? stepup_plugins_ref(base->plugins) : NULL;
	int rc = stepup_engine_new_with_plugins(rs, g->plugins, base->cfg->text, &g->engine, why, sizeof(why));
	if (rc != STEPUP_OK)
		snprintf(err, errlen, "issuer: %s", why[0] ? why : stepup_strerror(rc));
	snprintf(g->signer, sizeof(g->signer), "%s", signer ? signer : "");
	g->cfg = base->cfg;
	if (rc != STEPUP_OK || finish(g, err, errlen) < 0) {
		unbuild(g);
		return -1;
	}
	__atomic_fetch_add(&base->refs, 1, __ATOMIC_SEQ_CST);
	g->cfg_owner = base;
	*out = g;
	return 0;
}

static void gen_free(gen *g)
{
	gen_release(g->cfg_owner);  /* gen_collect frees it at its next pass */
	pthread_mutex_destroy(&g->ready_mu);
	if (g->own_cfg)
		cfg_free(g->cfg);
	unbuild(g);
}

void gen_discard(gen *g)
{
	if (g)
		gen_free(g);
}

void gen_publish(gen *g)
{
	gen *old;
	pthread_mutex_lock(&mu);
	g->seq = next_seq++;
	g->next = all;
	all = g;
	old = current;
	__atomic_store_n(&current, g, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&mu);
	if (old)
		gen_release(old);
}

gen *gen_acquire(void)
{
	__atomic_fetch_add(&acquiring, 1, __ATOMIC_SEQ_CST);
	gen *g = __atomic_load_n(&current, __ATOMIC_SEQ_CST);
	if (g)
		__atomic_fetch_add(&g->refs, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_sub(&acquiring, 1, __ATOMIC_SEQ_CST);
	return g;
}

void gen_release(gen *g)
{
	/* The last reference only marks it; gen_collect() frees it. */
	if (g)
		__atomic_fetch_sub(&g->refs, 1, __ATOMIC_SEQ_CST);
}

void gen_collect(void)
{
	gen *dead = NULL;
	pthread_mutex_lock(&mu);
	/* Someone is taking a reference right now: try again next tick. */
	if (__atomic_load_n(&acquiring, __ATOMIC_SEQ_CST)) {
		pthread_mutex_unlock(&mu);
		return;
	}
	for (gen **pp = &all; *pp;) {
		gen *g = *pp;
		if (g != current && __atomic_load_n(&g->refs, __ATOMIC_SEQ_CST) == 0) {
			*pp = g->next;
			g->next = dead;
			dead = g;
		} else {
			pp = &g->next;
		}
	}
	pthread_mutex_unlock(&mu);
	int again = 0;
	while (dead) {
		gen *g = dead;
		dead = g->next;
		log_kv(LOG_INFO, "generation retired", LU("generation", g->seq),
		       LS("ruleset", g->name), LS("revision", g->revision), LOG_END);
		/* A promoted generation held the one whose configuration it
		 * borrowed: that one may be free to go now. */
		again |= g->cfg_owner != NULL;
		gen_free(g);
	}
	if (again)
		gen_collect();
}

void gen_shutdown(void)
{
	gen *old;
	pthread_mutex_lock(&mu);
	old = current;
	__atomic_store_n(&current, NULL, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&mu);
	gen_release(old);
	/* At exit the workers are gone: nothing is acquiring. */
	gen_collect();
}

void gen_foreach(void (*fn)(gen *g, int is_current, void *ctx), void *ctx)
{
	pthread_mutex_lock(&mu);
	if (current)
		fn(current, 1, ctx);
	for (gen *g = all; g; g = g->next)
		if (g != current)
			fn(g, 0, ctx);
	pthread_mutex_unlock(&mu);
}

int gen_ready(gen *g, char *err, size_t errlen)
{
	int ok;
	uint64_t now = mono_ns();
	pthread_mutex_lock(&g->ready_mu);
	if (!g->ready_at_ns || now - g->ready_at_ns > 1000000000u) {
		g->ready_err[0] = '\0';
		g->ready_ok = g->plugins
			? stepup_plugins_ready(g->plugins, g->ready_err, sizeof(g->ready_err))
			: 1;
		g->ready_at_ns = now;
	}
	ok = g->ready_ok;
	snprintf(err, errlen, "%s", g->ready_err);
	pthread_mutex_unlock(&g->ready_mu);
	return ok;
}
