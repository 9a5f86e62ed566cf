/* shadow.c: shadow mode and promotion (shadow.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/report.h"
#include "app.h"
#include "declog.h"
#include "gen.h"
#include "log.h"
#include "metrics.h"
#include "shadow.h"
#include "util.h"
#include "workq.h"

/* A loaded candidate, shared by the shadow's current pointer, the
 * generation that loaded it and the decisions running on it. */
typedef struct cand {
	unsigned refs;             /* atomic */
	stepup_ruleset *rs;        /* a reference, for promote */
	stepup_engine *engine;
	const char *name, *revision;
	char signer[STEPUP_FINGERPRINT_SIZE];
	stepup_facts *facts;       /* the shadow log's (NULL without one) */
	rep_rules *rules;
} cand;

struct shadow_gen {
	rep_rules *live;           /* the serving ruleset's rules by name */
	cand *cand;                /* the candidate loaded with g, or NULL */
	char err[1024];            /* why it did not load, "" when it did */
};

/* A decision handed to the candidate: the serving side, then the body. */
typedef struct item {
	work w;
	gen *g;                    /* the generation that decided (a reference) */
	uint8_t outcome, nmethods, line, pad;
	uint8_t methods[STEPUP_METHOD_COUNT];
	char decision_id[24];
	char request_id[132];
	uint32_t nfired;
	size_t len;
	const char **fired;        /* into g's ruleset */
	stepup_request *r;         /* the request as decoded, when it could be
	                              kept (NULL: decode body) */
	char *body;
} item;

/* The pools' threads each decide in their own scratch objects. */
typedef struct scratch {
	struct scratch *next;
	stepup_request *r;
	stepup_decision *d;
	dbuf line;
	const char **names;
	int *effects;
	size_t cap;
} scratch;

/* The pool is woken once this many decisions wait, and looks every few
 * milliseconds anyway: a shadow decision is made within that of its
 * request. */
#define SHADOW_BATCH 64
#define SHADOW_LOOK_MS 5

#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

static struct {
	int on;                    /* the pool runs (set at start) */
	workq *q, *admin;
	unsigned max_queued;
	dlog *log;
	pthread_mutex_t mu;        /* cur, the scratch list, promotions */
	cand *cur;                 /* written under mu; read bare as a hint */
	scratch *scratches;
	uint64_t same, diverged, refused, skip_full, skip_none;
	uint64_t trans[REP_NTRANS];
	uint64_t reloads[2], promotions, promoted_at;
	char promoted_by[96];
} S = { .mu = PTHREAD_MUTEX_INITIALIZER };

static _Thread_local scratch *my_scratch;

/* ---- candidates ------------------------------------------------------------ */

static void cand_unref(cand *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	stepup_facts_free(c->facts);
	rep_rules_free(c->rules);
	stepup_engine_free(c->engine);
	stepup_ruleset_unref(c->rs);
	free(c);
}

static cand *cand_ref(cand *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
	return c;
}

static cand *cand_acquire(void)
{
	pthread_mutex_lock(&S.mu);
	cand *c = cand_ref(S.cur);
	pthread_mutex_unlock(&S.mu);
	return c;
}

/* Make c (a reference, may be NULL) the current candidate. */
static void cand_set(cand *c)
{
	pthread_mutex_lock(&S.mu);
	cand *old = S.cur;
	__atomic_store_n(&S.cur, c, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&S.mu);
	cand_unref(old);
}

/* The candidate g's configuration names, on g's plugins and settings, under
 * its signing policy. NULL and err. */
static cand *cand_load(const gen *g, char *err, size_t errlen)
{
	const stepupd_config *cfg = g->cfg;
	char why[1024] = "";
	cand *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->refs = 1;
	unsigned flags = (cfg->allow_empty_ruleset ? STEPUP_LOAD_ALLOW_EMPTY : 0) |
	                 (cfg->bundles.require_signature ? STEPUP_LOAD_SIGNED : 0);
	int rc = stepup_ruleset_load_trusted(cfg->shadow.rules, g->plugins, flags, cfg->bundles.trust, &c->rs,
	                                     c->signer, why, sizeof(why));
	if (rc != STEPUP_OK) {
		snprintf(err, errlen, "shadow.rules: %s", why[0] ? why : stepup_strerror(rc));
		goto fail;
	}
	rc = stepup_engine_new_with_plugins(c->rs, g->plugins, cfg->text, &c->engine, why, sizeof(why));
	if (rc != STEPUP_OK) {
		snprintf(err, errlen, "shadow.rules: issuer: %s", why[0] ? why : stepup_strerror(rc));
		goto fail;
	}
	c->name = stepup_ruleset_name(c->rs);
	c->revision = stepup_ruleset_revision(c->rs);
	c->rules = rep_rules_new(c->rs);
	if (!c->rules || (APP.boot && APP.boot->shadow.log && !(c->facts = dlog_facts_plan(c->engine, APP.boot)))) {
		snprintf(err, errlen, "shadow.rules: out of memory");
		goto fail;
	}
	return c;
fail:
	cand_unref(c);
	return NULL;
}

int shadow_gen_built(gen *g, char *err, size_t errlen)
{
	struct shadow_gen *sg = calloc(1, sizeof(*sg));
	if (!sg || !(sg->live = rep_rules_new(stepup_engine_ruleset(g->engine)))) {
		free(sg);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	g->shadow = sg;
	/* A promoted generation's candidate is itself. */
	if (g->cfg->shadow.rules && !g->cfg_owner)
		sg->cand = cand_load(g, sg->err, sizeof(sg->err));
	return 0;
}

void shadow_gen_free(gen *g)
{
	struct shadow_gen *sg = g->shadow;
	if (!sg)
		return;
	rep_rules_free(sg->live);
	cand_unref(sg->cand);
	free(sg);
	g->shadow = NULL;
}

const char *shadow_gen_error(const gen *g)
{
	return g->shadow && g->shadow->err[0] ? g->shadow->err : NULL;
}

const char *shadow_gen_candidate(const gen *g, char *buf, size_t size)
{
	const cand *c = g->shadow ? g->shadow->cand : NULL;
	if (!c)
		return NULL;
	snprintf(buf, size, "%s %s%s%s", c->name, c->revision, c->signer[0] ? " signed by " : "", c->signer);
	return buf;
}

static void adopt(gen *g, const char *trigger)
{
	struct shadow_gen *sg = g->shadow;
	if (!S.on || !sg)
		return;
	if (sg->cand) {
		cand_set(cand_ref(sg->cand));
		ADD(&S.reloads[1], 1);
		log_kv(LOG_INFO, "shadow candidate loaded", LS("trigger", trigger), LS("ruleset", sg->cand->name),
		       LS("revision", sg->cand->revision), LS("signer", sg->cand->signer), LOG_END);
	} else if (sg->err[0]) {
		ADD(&S.reloads[0], 1);
		log_kv(LOG_ERROR, "shadow candidate not loaded; the previous candidate stays",
		       LS("trigger", trigger), LS("reason", sg->err), LOG_END);
	}
}

void shadow_published(gen *g, const char *trigger)
{
	adopt(g, trigger);
}

/* ---- the pool ------------------------------------------------------------- */

static scratch *scratch_of_thread(void)
{
	if (my_scratch)
		return my_scratch;
	scratch *s = calloc(1, sizeof(*s));
	if (!s || !(s->r = stepup_request_new()) || !(s->d = stepup_decision_new())) {
		if (s) {
			stepup_request_free(s->r);
			free(s);
		}
		return NULL;
	}
	pthread_mutex_lock(&S.mu);
	s->next = S.scratches;
	S.scratches = s;
	pthread_mutex_unlock(&S.mu);
	return my_scratch = s;
}

static int room(scratch *s, size_t n)
{
	if (n <= s->cap)
		return 0;
	const char **names = realloc(s->names, n * sizeof(*names));
	if (names)
		s->names = names;
	int *effects = realloc(s->effects, n * sizeof(*effects));
	if (effects)
		s->effects = effects;
	if (!names || !effects)
		return -1;
	s->cap = n;
	return 0;
}

static void side_json(dbuf *b, const char *revision, const rep_side *s)
{
	dbuf_puts(b, "{\"revision\":");
	dbuf_json(b, revision);
	dbuf_puts(b, ",\"decision\":\"");
	dbuf_puts(b, rep_outcome_name(s->outcome));
	dbuf_puts(b, "\",\"methods\":[");
	for (unsigned i = 0; i < s->nmethods; i++) {
		if (i)
			dbuf_putc(b, ',');
		dbuf_json(b, stepup_method_name((stepup_method)s->methods[i]));
	}
	dbuf_puts(b, "],\"line\":\"");
	dbuf_puts(b, stepup_cs_line_name((stepup_cs_line)s->line));
	dbuf_puts(b, "\",\"rules\":[");
	for (size_t i = 0; i < s->nrules; i++) {
		if (i)
			dbuf_putc(b, ',');
		dbuf_json(b, s->rules[i]);
	}
	dbuf_puts(b, "]}");
}

static void cause_json(void *ctx, const char *rule, int cause)
{
	dbuf *b = ctx;
	if (b->s[b->len - 1] != '[')
		dbuf_putc(b, ',');
	dbuf_putc(b, '"');
	dbuf_putc(b, "+-~"[cause]);
	dbuf_put(b, rule, strlen(rule));
	dbuf_putc(b, '"');
}

/* One divergence in the shadow log: both decisions and the facts (the
 * candidate's facts writer: the decision log's masking). */
static void log_divergence(scratch *s, const item *it, const cand *c, int t, const rep_side *a,
                           const rep_side *b, int decoded)
{
	char ts[32], label[64];
	dbuf *l = &s->line;
	dbuf_reset(l);
	rfc3339_ms(wall_ns(), ts);
	rep_trans_label(t, label, sizeof(label));
	dbuf_puts(l, "{\"time\":\"");
	dbuf_puts(l, ts);
	dbuf_puts(l, "\",\"decision_id\":");
	dbuf_json(l, it->decision_id);
	dbuf_puts(l, ",\"request_id\":");
	dbuf_json(l, it->request_id);
	dbuf_puts(l, ",\"transition\":");
	dbuf_json(l, label);
	dbuf_puts(l, ",\"kind\":\"");
	dbuf_puts(l, rep_kind_name(rep_trans_kind(t)));
	dbuf_puts(l, "\",\"live\":");
	side_json(l, it->g->revision, a);
	dbuf_puts(l, ",\"candidate\":");
	side_json(l, c->revision, b);
	dbuf_puts(l, ",\"causes\":[");
	rep_causes(a, b, cause_json, l);
	dbuf_putc(l, ']');
	if (decoded)
		dlog_put_facts(l, c->facts, s->r);
	dbuf_puts(l, "}\n");
	if (!l->failed)
		dlog_write(S.log, l->s, l->len);
}

static void run(work *w)
{
	item *it = (item *)w;
	scratch *s = scratch_of_thread();
	cand *c = cand_acquire();
	char err[256];
	if (!c || !s) {
		ADD(&S.skip_none, 1);
		cand_unref(c);
		return;
	}
	size_t nrules = stepup_ruleset_rule_count(c->rs);
	if (room(s, it->nfired + nrules + 1) < 0) {
		ADD(&S.skip_none, 1);
		cand_unref(c);
		return;
	}
	rep_side a, b;
	memset(&a, 0, sizeof(a));
	a.outcome = it->outcome;
	a.nmethods = it->nmethods;
	memcpy(a.methods, it->methods, sizeof(a.methods));
	a.line = it->line;
	a.nrules = it->nfired;
	a.rules = it->fired;
	a.rule_effects = s->effects;
	for (uint32_t i = 0; i < it->nfired; i++)
		s->effects[i] = rep_rules_effect(it->g->shadow->live, it->fired[i]);
	/* The request as the serving engine decoded it, when the candidate
	 * has the same schema (the usual case: a copy, no second decode). */
	int rc = it->r ? stepup_request_copy(s->r, it->r, c->engine) : STEPUP_EINVAL;
	if (rc == STEPUP_EINVAL)
		rc = stepup_request_parse(s->r, c->engine, it->body, it->len, err, sizeof(err));
	if (rc == STEPUP_OK)
		rc = stepup_decide(c->engine, s->r, s->d, 0);
	if (rc == STEPUP_OK) {
		rep_side_of(&b, s->d, c->rules, s->names, s->effects + it->nfired);
	} else {
		rep_side_refused(&b);
		ADD(&S.refused, 1);
	}
	int t = rep_transition(&a, &b);
	if (t < 0) {
		ADD(&S.same, 1);
	} else {
		ADD(&S.trans[t], 1);
		ADD(&S.diverged, 1);
		if (S.log)
			log_divergence(s, it, c, t, &a, &b, rc == STEPUP_OK);
	}
	cand_unref(c);
}

static void refuse(work *w)
{
	(void)w;  /* detached items are never refused (workq.h) */
}

static void destroy(work *w)
{
	item *it = (item *)w;
	gen_release(it->g);
	stepup_request_free(it->r);
	free(it);
}

void shadow_post(gen *g, const stepup_request *r, const stepup_decision *d, const char *body, size_t len)
{
	if (!S.on)
		return;
	if (!__atomic_load_n(&S.cur, __ATOMIC_ACQUIRE)) {
		ADD(&S.skip_none, 1);
		return;
	}
	/* One allocation: the item, the fired rules' names, the body. */
	size_t nfired = stepup_decision_fired_count(d);
	item *it = malloc(sizeof(*it) + nfired * sizeof(char *) + len + 1);
	if (!it) {
		ADD(&S.skip_full, 1);
		return;
	}
	memset(it, 0, sizeof(*it));
	it->w.run = run;
	it->w.refuse = refuse;
	it->w.destroy = destroy;
	it->fired = (const char **)(it + 1);
	it->body = (char *)(it->fired + nfired);
	it->nfired = (uint32_t)nfired;
	for (size_t i = 0; i < nfired; i++)
		it->fired[i] = stepup_decision_fired_rule(d, i, NULL);
	it->outcome = (uint8_t)stepup_decision_outcome(d);
	it->nmethods = (uint8_t)stepup_decision_method_count(d);
	for (unsigned i = 0; i < it->nmethods && i < STEPUP_METHOD_COUNT; i++)
		it->methods[i] = (uint8_t)stepup_decision_method(d, i);
	it->line = (uint8_t)stepup_decision_cs_line(d);
	snprintf(it->decision_id, sizeof(it->decision_id), "%s", stepup_decision_id(d));
	snprintf(it->request_id, sizeof(it->request_id), "%s", stepup_request_id(r));
	memcpy(it->body, body, len);
	it->body[len] = '\0';
	it->len = len;
	if ((it->r = stepup_request_new()) && stepup_request_copy(it->r, r, g->engine) != STEPUP_OK) {
		stepup_request_free(it->r);
		it->r = NULL;
	}
	__atomic_fetch_add(&g->refs, 1, __ATOMIC_SEQ_CST);  /* the fired names live in g */
	it->g = g;
	if (workq_post_detached(S.q, &it->w, S.max_queued) < 0) {
		ADD(&S.skip_full, 1);
		destroy(&it->w);
	}
}

int shadow_start(const stepupd_config *boot, gen *g, char *err, size_t errlen)
{
	if (!boot->shadow.rules)
		return 0;
	S.max_queued = boot->shadow.queue;
	if (boot->shadow.log &&
	    !(S.log = dlog_new(boot->shadow.log, boot->decision_log.flush_interval_ms, "shadow.log", 0, err, errlen)))
		return -1;
	if (!(S.q = workq_new(boot->shadow.threads, err, errlen)) || !(S.admin = workq_new(1, err, errlen)))
		return -1;
	/* Nobody waits for a shadow decision: wake the pool per batch. */
	workq_set_lazy(S.q, S.max_queued < SHADOW_BATCH ? S.max_queued : SHADOW_BATCH, SHADOW_LOOK_MS);
	S.on = 1;
	adopt(g, "start");
	return 0;
}

struct workq *shadow_admin_pool(void)
{
	return S.on ? S.admin : NULL;
}

int shadow_reload(char *name, size_t namelen, char *rev, size_t revlen, char *err, size_t errlen)
{
	gen *g = gen_acquire();
	int rc = -1;
	if (!g || !g->cfg->shadow.rules) {
		snprintf(err, errlen, "the serving configuration has no \"shadow\" section");
	} else {
		cand *c = cand_load(g, err, errlen);
		if (c) {
			snprintf(name, namelen, "%s", c->name);
			snprintf(rev, revlen, "%s", c->revision);
			log_kv(LOG_INFO, "shadow candidate loaded", LS("trigger", "admin"), LS("ruleset", c->name),
			       LS("revision", c->revision), LS("signer", c->signer), LOG_END);
			cand_set(c);
			rc = 0;
		}
	}
	ADD(&S.reloads[rc == 0], 1);
	if (rc < 0)
		log_kv(LOG_ERROR, "shadow candidate not loaded; the previous candidate stays",
		       LS("trigger", "admin"), LS("reason", err), LOG_END);
	gen_release(g);
	return rc;
}

int shadow_promote(const char *who, const char *revision, dbuf *out)
{
	static pthread_mutex_t promote_mu = PTHREAD_MUTEX_INITIALIZER;
	char err[1024], ts[32];
	int status = 200;
	gen *base = NULL, *ng = NULL;

	/* One promotion at a time: each swaps exactly the generation it saw. */
	pthread_mutex_lock(&promote_mu);
	cand *c = S.on ? cand_acquire() : NULL;
	if (!c) {
		status = 409;
		snprintf(err, sizeof(err), S.on ? "no candidate is loaded" : "shadow mode is off (no \"shadow\" section)");
		goto out;
	}
	if (revision && strcmp(revision, c->revision) != 0) {
		status = 409;
		snprintf(err, sizeof(err), "the candidate is %s, not %s", c->revision, revision);
		goto out;
	}
	base = gen_acquire();
	if (!base || gen_adopt(base, c->rs, c->signer, &ng, err, sizeof(err)) < 0) {
		status = 500;
		if (!base)
			snprintf(err, sizeof(err), "no ruleset is serving");
		goto out;
	}
	uint64_t now = wall_ns();
	rfc3339_ms(now, ts);
	dlog_revision_record(ng, "promote", who);
	gen_publish(ng);
	/* The candidate is serving now: nothing is left to compare it with
	 * until the next one is loaded. */
	cand_set(NULL);
	pthread_mutex_lock(&S.mu);
	S.promotions++;
	S.promoted_at = now;
	snprintf(S.promoted_by, sizeof(S.promoted_by), "%s", who);
	pthread_mutex_unlock(&S.mu);
	log_kv(LOG_WARN, "promoted the shadow candidate: it serves now; the configuration's rules still name "
	       "the previous ruleset until they are changed (a reload loads those)",
	       LS("who", who), LS("at", ts), LS("from_revision", base->revision), LS("ruleset", ng->name),
	       LS("revision", ng->revision), LS("signer", ng->signer), LU("generation", ng->seq), LOG_END);
	dbuf_puts(out, "{\"status\":\"promoted\",\"ruleset\":{\"name\":");
	dbuf_json(out, ng->name);
	dbuf_puts(out, ",\"revision\":");
	dbuf_json(out, ng->revision);
	dbuf_puts(out, ",\"signer\":");
	dbuf_json(out, ng->signer);
	dbuf_puts(out, "},\"previous\":{\"name\":");
	dbuf_json(out, base->name);
	dbuf_puts(out, ",\"revision\":");
	dbuf_json(out, base->revision);
	dbuf_printf(out, "},\"generation\":%llu,\"by\":", (unsigned long long)ng->seq);
	dbuf_json(out, who);
	dbuf_puts(out, ",\"at\":");
	dbuf_json(out, ts);
	dbuf_putc(out, '}');
out:
	if (status != 200) {
		dbuf_puts(out, "{\"error\":{\"code\":\"");
		dbuf_puts(out, status == 409 ? "conflict" : "promote_failed");
		dbuf_puts(out, "\",\"message\":");
		dbuf_json(out, err);
		dbuf_puts(out, "}}");
		log_kv(LOG_WARN, "promote refused", LS("who", who), LS("reason", err), LOG_END);
	}
	gen_release(base);
	cand_unref(c);
	pthread_mutex_unlock(&promote_mu);
	return status;
}

/* ---- metrics, rotation, stop -------------------------------------------- */

static void family(dbuf *b, const char *name, const char *type, const char *help)
{
	dbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void shadow_render_metrics(dbuf *b)
{
	family(b, "stepupd_shadow_enabled", "gauge", "1 when shadow mode runs (a \"shadow\" section).");
	dbuf_printf(b, "stepupd_shadow_enabled %d\n", S.on);
	if (S.on) {
		cand *c = cand_acquire();
		family(b, "stepupd_shadow_candidate_info", "gauge", "The candidate ruleset deciding in shadow.");
		if (c) {
			dbuf_puts(b, "stepupd_shadow_candidate_info{ruleset=");
			dbuf_json(b, c->name);
			dbuf_puts(b, ",revision=");
			dbuf_json(b, c->revision);
			dbuf_puts(b, ",signer=");
			dbuf_json(b, c->signer);
			dbuf_puts(b, "} 1\n");
		}
		cand_unref(c);
		family(b, "stepupd_shadow_decisions_total", "counter",
		       "Decisions the candidate made beside the serving ruleset, by result.");
		dbuf_printf(b, "stepupd_shadow_decisions_total{result=\"same\"} %llu\n",
		            (unsigned long long)LOAD(&S.same));
		dbuf_printf(b, "stepupd_shadow_decisions_total{result=\"diverged\"} %llu\n",
		            (unsigned long long)LOAD(&S.diverged));
		family(b, "stepupd_shadow_divergences_total", "counter",
		       "Candidate decisions that differ from the serving one, by transition (stepup diff's).");
		for (int t = 0; t < REP_NTRANS; t++) {
			uint64_t n = LOAD(&S.trans[t]);
			if (n)
				dbuf_printf(b, "stepupd_shadow_divergences_total{from=\"%s\",to=\"%s\",kind=\"%s\"} %llu\n",
				            rep_outcome_name(rep_trans_from(t)), rep_outcome_name(rep_trans_to(t)),
				            rep_kind_name(rep_trans_kind(t)), (unsigned long long)n);
		}
		family(b, "stepupd_shadow_skipped_total", "counter",
		       "Decisions not handed to the candidate: its queue was full, or none was loaded.");
		dbuf_printf(b, "stepupd_shadow_skipped_total{reason=\"queue_full\"} %llu\n",
		            (unsigned long long)LOAD(&S.skip_full));
		dbuf_printf(b, "stepupd_shadow_skipped_total{reason=\"no_candidate\"} %llu\n",
		            (unsigned long long)LOAD(&S.skip_none));
		family(b, "stepupd_shadow_queue_depth", "gauge", "Decisions waiting for the candidate.");
		dbuf_printf(b, "stepupd_shadow_queue_depth %u\n", workq_queued(S.q));
		family(b, "stepupd_shadow_candidate_reloads_total", "counter", "Candidate loads by result.");
		dbuf_printf(b, "stepupd_shadow_candidate_reloads_total{result=\"success\"} %llu\n",
		            (unsigned long long)LOAD(&S.reloads[1]));
		dbuf_printf(b, "stepupd_shadow_candidate_reloads_total{result=\"failure\"} %llu\n",
		            (unsigned long long)LOAD(&S.reloads[0]));
	}
	pthread_mutex_lock(&S.mu);
	family(b, "stepupd_promotions_total", "counter", "Candidates promoted (POST /v1/admin/promote).");
	dbuf_printf(b, "stepupd_promotions_total %llu\n", (unsigned long long)S.promotions);
	family(b, "stepupd_promotion_last_time_seconds", "gauge", "Time of the last promotion, Unix seconds (0: none).");
	dbuf_printf(b, "stepupd_promotion_last_time_seconds %llu\n", (unsigned long long)(S.promoted_at / 1000000000u));
	pthread_mutex_unlock(&S.mu);
}

int shadow_reopen_log(char *err, size_t errlen)
{
	return S.log ? dlog_reopen_file(S.log, NULL, 0, err, errlen) : 0;
}

void shadow_stop(void)
{
	if (!S.on)
		return;
	/* No request is posting any more: decide what waits (microseconds
	 * each), then stop. */
	workq_drain(S.q, 2000);
	workq_stop(S.q);
	workq_stop(S.admin);
	workq_free(S.q);
	workq_free(S.admin);
	S.q = S.admin = NULL;
	S.on = 0;
	cand_set(NULL);
	dlog_free(S.log);
	S.log = NULL;
	while (S.scratches) {
		scratch *s = S.scratches;
		S.scratches = s->next;
		stepup_request_free(s->r);
		stepup_decision_free(s->d);
		dbuf_free(&s->line);
		free(s->names);
		free(s->effects);
		free(s);
	}
}
