/* metrics.c: sharded counters and the Prometheus text exposition. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "mdes/mdes.h"
#include "metrics.h"
#include "routes.h"
#include "shadow.h"

#define NSHARD 8
/* Per-route counters; the route table is smaller (routes.c). */
#define MAX_ROUTES 16
#define CACHELINE 64

/* Decision latency buckets (upper bounds, ns); the last bucket is +Inf. */
static const uint64_t lat_bounds_ns[] = {
	50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
	25000000, 50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000u,
};
#define NLAT (sizeof(lat_bounds_ns) / sizeof(lat_bounds_ns[0]) + 1)

/* HTTP statuses the daemon sends, each counted on its own. */
static const unsigned statuses[] = { 200, 400, 403, 404, 405, 409, 410, 413, 415, 422, 429,
	500, 502, 503 };
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))

struct shard {
	uint64_t lat[NLAT];
	uint64_t lat_sum_ns, lat_count;
	uint64_t rejects[RJ_COUNT];
	uint64_t status[NSTATUS + 1];  /* + "other" */
	uint64_t over_deadline, idle_closed, declog_errors, declog_lost;
	uint64_t undelivered[MAX_ROUTES];
} __attribute__((aligned(CACHELINE)));

static struct shard shards[NSHARD];

static const char *const reject_labels[] = {
#define X(id, label) label,
	REJECT_CAUSES(X)
#undef X
};

struct hit {
	const char *name;  /* atomic; NULL = free slot */
	int outcome;
	uint64_t n;
};

struct dec_shard {
	uint64_t n[3];
} __attribute__((aligned(CACHELINE)));

struct rev_stats {
	struct rev_stats *next;
	char *name, *revision;
	struct dec_shard dec[NSHARD];
	size_t cap;        /* power of two, at least twice the rule count */
	struct hit *hits;
	pthread_mutex_t ins_mu;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rev_stats *registry;

static uint64_t reloads[2];  /* failure, success */
static int last_reload_ok = 1;
static uint64_t last_reload_wall;
static uint64_t start_wall;

static unsigned shard_seq;
static _Thread_local int my_shard = -1;

static struct shard *sh(void)
{
	if (my_shard < 0)
		my_shard = (int)(__atomic_fetch_add(&shard_seq, 1, __ATOMIC_RELAXED) % NSHARD);
	return &shards[my_shard];
}

#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return h;
}

struct rev_stats *met_rev_stats(const char *name, const char *revision, size_t nrules)
{
	struct rev_stats *s;
	pthread_mutex_lock(&reg_mu);
	if (!start_wall)
		start_wall = wall_ns();
	for (s = registry; s; s = s->next)
		if (strcmp(s->revision, revision) == 0 && strcmp(s->name, name) == 0)
			goto out;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->cap = 16;
	while (s->cap < nrules * 2)
		s->cap *= 2;
	s->hits = calloc(s->cap, sizeof(*s->hits));
	s->name = strdup(name);
	s->revision = strdup(revision);
	if (!s->hits || !s->name || !s->revision) {
		free(s->hits);
		free(s->name);
		free(s->revision);
		free(s);
		s = NULL;
		goto out;
	}
	pthread_mutex_init(&s->ins_mu, NULL);
	s->next = registry;
	registry = s;
out:
	pthread_mutex_unlock(&reg_mu);
	return s;
}

static struct hit *probe(struct rev_stats *s, const char *name, uint64_t h)
{
	size_t mask = s->cap - 1;
	for (size_t k = 0, i = h & mask; k < s->cap; k++, i = (i + 1) & mask) {
		const char *n = __atomic_load_n(&s->hits[i].name, __ATOMIC_ACQUIRE);
		if (!n || strcmp(n, name) == 0)
			return &s->hits[i];
	}
	return NULL;
}

/* Rule names are only known when they fire (the API has no list of them),
 * so a slot is claimed on a rule's first hit; readers never lock. */
static struct hit *hit_slot(struct rev_stats *s, const char *name, int outcome)
{
	uint64_t h = hash_str(name);
	struct hit *e = probe(s, name, h);
	if (!e || __atomic_load_n(&e->name, __ATOMIC_ACQUIRE))
		return e;
	pthread_mutex_lock(&s->ins_mu);
	e = probe(s, name, h);
	if (e && !e->name) {
		char *copy = strdup(name);
		if (copy) {
			e->outcome = outcome;
			__atomic_store_n(&e->name, copy, __ATOMIC_RELEASE);
		} else {
			e = NULL;
		}
	}
	pthread_mutex_unlock(&s->ins_mu);
	return e;
}

void met_reject(enum reject_cause c)
{
	ADD(&sh()->rejects[c], 1);
}

void met_response(unsigned status)
{
	size_t i;
	for (i = 0; i < NSTATUS && statuses[i] != status; i++)
		;
	ADD(&sh()->status[i], 1);
}

void met_decision(struct rev_stats *s, const stepup_decision *d, uint64_t latency_ns)
{
	struct shard *x = sh();
	size_t b;
	for (b = 0; b + 1 < NLAT && latency_ns > lat_bounds_ns[b]; b++)
		;
	ADD(&x->lat[b], 1);
	ADD(&x->lat_sum_ns, latency_ns);
	ADD(&x->lat_count, 1);
	stepup_outcome o = stepup_decision_outcome(d);
	if ((unsigned)o <= STEPUP_RED)
		ADD(&s->dec[my_shard].n[o], 1);
	for (size_t i = 0, n = stepup_decision_fired_count(d); i < n; i++) {
		stepup_outcome ro;
		const char *name = stepup_decision_fired_rule(d, i, &ro);
		struct hit *e = name ? hit_slot(s, name, (int)ro) : NULL;
		if (e)
			ADD(&e->n, 1);
	}
}

void met_over_deadline(void)
{
	ADD(&sh()->over_deadline, 1);
}

void met_idle_closed(void)
{
	ADD(&sh()->idle_closed, 1);
}

void met_declog_error(void)
{
	ADD(&sh()->declog_errors, 1);
}

void met_declog_lost(uint64_t lines)
{
	ADD(&sh()->declog_lost, lines);
}

void met_undelivered(size_t route_idx)
{
	if (route_idx < MAX_ROUTES)
		ADD(&sh()->undelivered[route_idx], 1);
}

void met_reload(int ok, uint64_t wall)
{
	pthread_mutex_lock(&reg_mu);
	reloads[ok ? 1 : 0]++;
	last_reload_ok = ok;
	last_reload_wall = wall;
	pthread_mutex_unlock(&reg_mu);
}

/* ---- exposition ----------------------------------------------------------- */

static void label(dbuf *b, const char *s)
{
	dbuf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			dbuf_putc(b, '\\');
		if (*s == '\n')
			dbuf_puts(b, "\\n");
		else
			dbuf_putc(b, *s);
	}
	dbuf_putc(b, '"');
}

static void family(dbuf *b, const char *name, const char *type, const char *help)
{
	dbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void seconds(dbuf *b, uint64_t ns)
{
	dbuf_printf(b, "%.9g", (double)ns / 1e9);
}

static uint64_t sum_shards(size_t off)
{
	uint64_t t = 0;
	for (size_t i = 0; i < NSHARD; i++)
		t += LOAD((const uint64_t *)((const char *)&shards[i] + off));
	return t;
}
#define SUM(field) sum_shards(offsetof(struct shard, field))

struct plug_ctx {
	dbuf *b;
	int pass;
};

/* One sample of a per-plugin series: series{plugin="name"[,extra]} value. */
static void plugin_sample(dbuf *b, const char *series, const char *name, const char *extra, uint64_t v)
{
	dbuf_puts(b, series);
	dbuf_puts(b, "{plugin=");
	label(b, name);
	if (extra) {
		dbuf_putc(b, ',');
		dbuf_puts(b, extra);
	}
	dbuf_printf(b, "} %llu\n", (unsigned long long)v);
}

static void render_plugins_of(gen *g, int is_current, void *vctx)
{
	struct plug_ctx *pc = vctx;
	dbuf *b = pc->b;
	if (!is_current || !g->plugins)
		return;
	for (size_t i = 0, n = stepup_plugins_count(g->plugins); i < n; i++) {
		stepup_plugin_info info;
		stepup_plugin_stats st;
		stepup_plugin_runtime rt = { .size = sizeof(rt) };
		if (stepup_plugins_info(g->plugins, i, &info) != STEPUP_OK ||
		    stepup_plugins_stats(g->plugins, i, &st) != STEPUP_OK ||
		    stepup_plugins_runtime(g->plugins, i, &rt) != STEPUP_OK)
			continue;
		switch (pc->pass) {
		case 0:
			plugin_sample(b, "stepupd_plugin_calls_total", info.name, NULL, st.calls);
			break;
		case 1:
			plugin_sample(b, "stepupd_plugin_errors_total", info.name, "kind=\"error\"", st.errors);
			plugin_sample(b, "stepupd_plugin_errors_total", info.name, "kind=\"timeout\"", st.timeouts);
			break;
		case 2: {
			uint64_t cum = 0;
			for (size_t k = 0; k < STEPUP_LATENCY_BUCKETS; k++) {
				cum += st.latency_buckets[k];
				dbuf_puts(b, "stepupd_plugin_call_duration_seconds_bucket{plugin=");
				label(b, info.name);
				if (k + 1 < STEPUP_LATENCY_BUCKETS)
					dbuf_printf(b, ",le=\"%.9g\"} %llu\n",
					            (double)stepup_latency_bounds_us[k] / 1e6,
					            (unsigned long long)cum);
				else
					dbuf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
			}
			dbuf_puts(b, "stepupd_plugin_call_duration_seconds_sum{plugin=");
			label(b, info.name);
			dbuf_puts(b, "} ");
			seconds(b, st.latency_us_sum * 1000u);
			dbuf_puts(b, "\nstepupd_plugin_call_duration_seconds_count{plugin=");
			label(b, info.name);
			dbuf_printf(b, "} %llu\n", (unsigned long long)cum);
			break;
		}
		case 3: {
			dbuf_puts(b, "stepupd_plugin_info{plugin=");
			label(b, info.name);
			dbuf_puts(b, ",module=");
			label(b, info.path ? info.path : "");
			dbuf_puts(b, ",version=");
			label(b, info.version ? info.version : "");
			/* What actually runs: the digest of the private copy loaded,
			 * and the data version the plugin reported. */
			dbuf_puts(b, ",module_sha256=");
			label(b, rt.digest && strlen(rt.digest) > 7 ? rt.digest + 7 : "");
			dbuf_puts(b, ",data_version=");
			label(b, rt.data_version ? rt.data_version : "");
			dbuf_puts(b, ",isolation=");
			label(b, rt.isolation ? rt.isolation : "");
			dbuf_printf(b, ",required=\"%s\"} 1\n", info.required ? "true" : "false");
			break;
		}
		case 4:
			plugin_sample(b, "stepupd_plugin_crashes_total", info.name, NULL, rt.crashes);
			break;
		case 5:
			plugin_sample(b, "stepupd_plugin_killed_total", info.name, NULL, rt.kills);
			break;
		case 6:
			plugin_sample(b, "stepupd_plugin_restarts_total", info.name, NULL, rt.restarts);
			break;
		case 7:
			plugin_sample(b, "stepupd_plugin_processes", info.name, "state=\"configured\"", rt.processes);
			plugin_sample(b, "stepupd_plugin_processes", info.name, "state=\"running\"", rt.processes_alive);
			break;
		case 8:
			plugin_sample(b, "stepupd_plugin_function_calls_total", info.name, "answered=\"called\"",
			              rt.fn_calls);
			plugin_sample(b, "stepupd_plugin_function_calls_total", info.name, "answered=\"memo\"",
			              rt.memo_hits);
			break;
		}
	}
}

static void render_current(gen *g, int is_current, void *vctx)
{
	dbuf *b = vctx;
	if (!is_current)
		return;
	dbuf_puts(b, "stepupd_ruleset_info{ruleset=");
	label(b, g->name);
	dbuf_puts(b, ",revision=");
	label(b, g->revision);
	dbuf_puts(b, ",signer=");
	label(b, g->signer);
	dbuf_puts(b, "} 1\n");
}

static void render_generation(gen *g, int is_current, void *vctx)
{
	if (is_current)
		dbuf_printf(vctx, "stepupd_generation %llu\n", (unsigned long long)g->seq);
}

static const char *const outcome_names[] = { "GREEN", "YELLOW", "RED" };

/* The lifecycle's counters (stepup_cases_stats_get); zeros when it is off,
 * so dashboards and alerts see the series either way. */
static void render_cases(dbuf *b, const met_gauges *gg)
{
	static const stepup_cases_stats none;
	const stepup_cases_stats *st = gg->cases ? gg->cases : &none;
	family(b, "stepupd_cases_enabled", "gauge", "1 when the step-up lifecycle (\"cases\") is on.");
	dbuf_printf(b, "stepupd_cases_enabled %d\n", gg->cases != NULL);
	family(b, "stepupd_cases_opened_total", "counter", "Cases opened (YELLOW decisions recorded).");
	dbuf_printf(b, "stepupd_cases_opened_total %llu\n", (unsigned long long)st->opened);
	family(b, "stepupd_cases_closed_total", "counter", "Cases closed, by final status.");
	dbuf_printf(b, "stepupd_cases_closed_total{status=\"ACTIVATED\"} %llu\n",
	            (unsigned long long)st->activated);
	dbuf_printf(b, "stepupd_cases_closed_total{status=\"DECLINED\"} %llu\n",
	            (unsigned long long)st->declined);
	dbuf_printf(b, "stepupd_cases_closed_total{status=\"EXPIRED\"} %llu\n",
	            (unsigned long long)st->expired);
	family(b, "stepupd_otp_deliveries_total", "counter",
	       "Deliver OTP calls by result: sent, refused (404/409/410/429), failed (channel, 502).");
	dbuf_printf(b, "stepupd_otp_deliveries_total{result=\"sent\"} %llu\n",
	            (unsigned long long)st->otp_sent);
	dbuf_printf(b, "stepupd_otp_deliveries_total{result=\"refused\"} %llu\n",
	            (unsigned long long)st->otp_refused);
	dbuf_printf(b, "stepupd_otp_deliveries_total{result=\"failed\"} %llu\n",
	            (unsigned long long)st->otp_failed);
	family(b, "stepupd_notifications_total", "counter",
	       "Outbox items (webhooks, end-user messages, in-app starts) by result.");
	dbuf_printf(b, "stepupd_notifications_total{result=\"delivered\"} %llu\n",
	            (unsigned long long)st->notify_delivered);
	dbuf_printf(b, "stepupd_notifications_total{result=\"retried\"} %llu\n",
	            (unsigned long long)st->notify_retried);
	dbuf_printf(b, "stepupd_notifications_total{result=\"gave_up\"} %llu\n",
	            (unsigned long long)st->notify_gave_up);
	family(b, "stepupd_notifications_pending", "gauge",
	       "Outbox items waiting for delivery, as of the last delivery pass.");
	dbuf_printf(b, "stepupd_notifications_pending %llu\n", (unsigned long long)st->outbox_pending);
	family(b, "stepupd_case_store_errors_total", "counter", "Failed case store operations.");
	dbuf_printf(b, "stepupd_case_store_errors_total %llu\n", (unsigned long long)st->store_errors);
	family(b, "stepupd_lifecycle_requests_queued", "gauge",
	       "Parked requests waiting for a thread: lifecycle endpoints, YELLOW decisions.");
	dbuf_printf(b, "stepupd_lifecycle_requests_queued{pool=\"lifecycle\"} %u\n", gg->lc_queued);
	dbuf_printf(b, "stepupd_lifecycle_requests_queued{pool=\"decisions\"} %u\n", gg->rec_queued);
	family(b, "stepupd_lifecycle_requests_running", "gauge",
	       "Parked requests being served by a thread: lifecycle endpoints, YELLOW decisions.");
	dbuf_printf(b, "stepupd_lifecycle_requests_running{pool=\"lifecycle\"} %u\n", gg->lc_running);
	dbuf_printf(b, "stepupd_lifecycle_requests_running{pool=\"decisions\"} %u\n", gg->rec_running);
}

void met_render(dbuf *b, const met_gauges *gg)
{
	family(b, "stepupd_build_info", "gauge", "Version of the daemon and library.");
	dbuf_printf(b, "stepupd_build_info{version=\"%s\"} 1\n", STEPUP_VERSION);
	family(b, "stepupd_start_time_seconds", "gauge", "Start time, Unix seconds.");
	dbuf_printf(b, "stepupd_start_time_seconds %llu\n",
	            (unsigned long long)(start_wall / 1000000000u));

	family(b, "stepupd_ruleset_info", "gauge", "The ruleset deciding new requests.");
	gen_foreach(render_current, b);
	family(b, "stepupd_generation", "gauge", "1 at start, +1 per successful reload.");
	gen_foreach(render_generation, b);

	family(b, "stepupd_ready", "gauge", "1 when GET /health/ready answers 200.");
	dbuf_printf(b, "stepupd_ready %d\n", gg->ready);
	if (gg->store_healthy >= 0) {
		family(b, "stepupd_case_store_healthy", "gauge",
		       "1 while the case store can acknowledge writes (its file is the one opened).");
		dbuf_printf(b, "stepupd_case_store_healthy %d\n", gg->store_healthy);
	}
	family(b, "stepupd_draining", "gauge", "1 while shutting down.");
	dbuf_printf(b, "stepupd_draining %d\n", gg->draining);
	family(b, "stepupd_connections", "gauge", "Open client connections.");
	dbuf_printf(b, "stepupd_connections %u\n", gg->connections);
	family(b, "stepupd_requests_in_flight", "gauge", "Requests received and not yet answered.");
	dbuf_printf(b, "stepupd_requests_in_flight %u\n", gg->inflight);
	family(b, "stepupd_decision_pool_requests", "gauge",
	       "Requests parked on the decision pool (waiting for a plugin call, MDES lookups), by state.");
	dbuf_printf(b, "stepupd_decision_pool_requests{state=\"queued\"} %u\n", gg->dec_queued);
	dbuf_printf(b, "stepupd_decision_pool_requests{state=\"running\"} %u\n", gg->dec_running);

	pthread_mutex_lock(&reg_mu);
	family(b, "stepupd_decisions_total", "counter", "Decisions by outcome and ruleset revision.");
	for (struct rev_stats *s = registry; s; s = s->next)
		for (int o = 0; o < 3; o++) {
			uint64_t n = 0;
			for (size_t i = 0; i < NSHARD; i++)
				n += LOAD(&s->dec[i].n[o]);
			dbuf_printf(b, "stepupd_decisions_total{outcome=\"%s\",ruleset=", outcome_names[o]);
			label(b, s->name);
			dbuf_puts(b, ",revision=");
			label(b, s->revision);
			dbuf_printf(b, "} %llu\n", (unsigned long long)n);
		}
	family(b, "stepupd_rule_hits_total", "counter", "Times each rule fired, by ruleset revision.");
	for (struct rev_stats *s = registry; s; s = s->next)
		for (size_t i = 0; i < s->cap; i++) {
			const char *n = __atomic_load_n(&s->hits[i].name, __ATOMIC_ACQUIRE);
			if (!n)
				continue;
			dbuf_puts(b, "stepupd_rule_hits_total{rule=");
			label(b, n);
			dbuf_printf(b, ",outcome=\"%s\",revision=",
			            (unsigned)s->hits[i].outcome <= 2 ? outcome_names[s->hits[i].outcome] : "?");
			label(b, s->revision);
			dbuf_printf(b, "} %llu\n", (unsigned long long)LOAD(&s->hits[i].n));
		}
	family(b, "stepupd_reloads_total", "counter", "Reloads (SIGHUP or POST /v1/admin/reload) by result.");
	dbuf_printf(b, "stepupd_reloads_total{result=\"success\"} %llu\n", (unsigned long long)reloads[1]);
	dbuf_printf(b, "stepupd_reloads_total{result=\"failure\"} %llu\n", (unsigned long long)reloads[0]);
	family(b, "stepupd_reload_last_success", "gauge", "1 when the last reload succeeded (or none happened).");
	dbuf_printf(b, "stepupd_reload_last_success %d\n", last_reload_ok);
	family(b, "stepupd_reload_last_time_seconds", "gauge", "Time of the last reload, Unix seconds (0: none).");
	dbuf_printf(b, "stepupd_reload_last_time_seconds %llu\n",
	            (unsigned long long)(last_reload_wall / 1000000000u));
	pthread_mutex_unlock(&reg_mu);

	family(b, "stepupd_decision_duration_seconds", "histogram",
	       "Time from the request line to the decision.");
	uint64_t cum = 0;
	for (size_t k = 0; k < NLAT; k++) {
		cum += SUM(lat[k]);
		if (k + 1 < NLAT) {
			dbuf_puts(b, "stepupd_decision_duration_seconds_bucket{le=\"");
			seconds(b, lat_bounds_ns[k]);
			dbuf_printf(b, "\"} %llu\n", (unsigned long long)cum);
		} else {
			dbuf_printf(b, "stepupd_decision_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			            (unsigned long long)cum);
		}
	}
	dbuf_puts(b, "stepupd_decision_duration_seconds_sum ");
	seconds(b, SUM(lat_sum_ns));
	dbuf_printf(b, "\nstepupd_decision_duration_seconds_count %llu\n", (unsigned long long)SUM(lat_count));
	family(b, "stepupd_decisions_over_deadline_total", "counter",
	       "Decisions answered although they took longer than limits.decision_deadline_ms.");
	dbuf_printf(b, "stepupd_decisions_over_deadline_total %llu\n", (unsigned long long)SUM(over_deadline));

	family(b, "stepupd_rejected_total", "counter", "Requests and connections refused, by cause.");
	for (size_t c = 0; c < RJ_COUNT; c++)
		dbuf_printf(b, "stepupd_rejected_total{cause=\"%s\"} %llu\n", reject_labels[c],
		            (unsigned long long)SUM(rejects[c]));
	family(b, "stepupd_http_responses_total", "counter", "Responses by HTTP status.");
	for (size_t i = 0; i <= NSTATUS; i++) {
		if (i < NSTATUS)
			dbuf_printf(b, "stepupd_http_responses_total{code=\"%u\"} ", statuses[i]);
		else
			dbuf_puts(b, "stepupd_http_responses_total{code=\"other\"} ");
		dbuf_printf(b, "%llu\n", (unsigned long long)SUM(status[i]));
	}
	family(b, "stepupd_connections_idle_closed_total", "counter",
	       "Connections closed for sending no request within limits.connection_timeout_ms.");
	dbuf_printf(b, "stepupd_connections_idle_closed_total %llu\n", (unsigned long long)SUM(idle_closed));
	family(b, "stepupd_decision_log_errors_total", "counter", "Failed writes to the decision log.");
	dbuf_printf(b, "stepupd_decision_log_errors_total %llu\n", (unsigned long long)SUM(declog_errors));
	family(b, "stepupd_decision_log_lines_lost_total", "counter",
	       "Decision log lines not written (disk full, file size limit); a gap line in the log counts them too.");
	dbuf_printf(b, "stepupd_decision_log_lines_lost_total %llu\n", (unsigned long long)SUM(declog_lost));

	family(b, "stepupd_responses_undelivered_total", "counter",
	       "Answers that could not be handed to the client (connection gone), by route.");
	for (size_t i = 0; i < route_count() && i < MAX_ROUTES; i++) {
		dbuf_puts(b, "stepupd_responses_undelivered_total{route=");
		label(b, route_at(i)->path);
		dbuf_printf(b, "} %llu\n", (unsigned long long)SUM(undelivered[i]));
	}

	render_cases(b, gg);

	/* The per-plugin families, each rendered by one pass of
	 * render_plugins_of over the current generation. */
	static const struct { int pass; const char *name, *type, *help; } pf[] = {
		{ 3, "stepupd_plugin_info", "gauge", "Loaded plugins." },
		{ 0, "stepupd_plugin_calls_total", "counter", "Plugin calls (since the plugin was loaded)." },
		{ 1, "stepupd_plugin_errors_total", "counter", "Plugin calls that failed, by kind." },
		{ 2, "stepupd_plugin_call_duration_seconds", "histogram", "Plugin call latency." },
		{ 4, "stepupd_plugin_crashes_total", "counter",
		  "Plugin processes that died during or between calls (\"process\" isolation)." },
		{ 5, "stepupd_plugin_killed_total", "counter",
		  "Plugin processes killed for not answering by a call's deadline." },
		{ 6, "stepupd_plugin_restarts_total", "counter", "Plugin processes started again after one ended." },
		{ 7, "stepupd_plugin_processes", "gauge", "Plugin processes configured and running." },
		{ 8, "stepupd_plugin_function_calls_total", "counter",
		  "Rule function calls, made or answered from the decision's memo (also in plugin_calls_total when made)." },
	};
	for (size_t k = 0; k < sizeof(pf) / sizeof(pf[0]); k++) {
		struct plug_ctx pc = { b, pf[k].pass };
		family(b, pf[k].name, pf[k].type, pf[k].help);
		gen_foreach(render_plugins_of, &pc);
	}
	if (mdes_base_path())
		mdes_metrics_render(b);

	shadow_render_metrics(b);
}

void met_shutdown(void)
{
	pthread_mutex_lock(&reg_mu);
	while (registry) {
		struct rev_stats *s = registry;
		registry = s->next;
		for (size_t i = 0; i < s->cap; i++)
			free((char *)s->hits[i].name);
		free(s->hits);
		free(s->name);
		free(s->revision);
		pthread_mutex_destroy(&s->ins_mu);
		free(s);
	}
	pthread_mutex_unlock(&reg_mu);
}
