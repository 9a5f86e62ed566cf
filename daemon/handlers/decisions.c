/* decisions.c: POST /v1/decisions, DESIGN.md §3 over HTTP.
 *
 * The response body is the library's output byte for byte
 * (stepup_decide_json); this file adds the HTTP status, the limits the
 * library does not know (configured depth, deadline), metrics and the
 * decision log line.
 *
 * With the lifecycle on, a YELLOW decision opens its case before it is
 * answered: a step-up the daemon could not follow through (no case for
 * the Deliver OTP and the activation to find) must not be promised. That
 * is a SQLite transaction, usually tens of microseconds but up to
 * cases.busy_timeout_ms behind another process's write lock, so the
 * request is parked on the lifecycle pool (workq.h) with its request and
 * decision objects (scratch.h) and answered once the case is stored. GREEN
 * and RED decisions never touch the case store, nor wait behind it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/stepup.h>

#include "../app.h"
#include "../declog.h"
#include "../gen.h"
#include "../log.h"
#include "../metrics.h"
#include "../shadow.h"
#include "../workq.h"
#include "handlers.h"
#include "scratch.h"

/* Nesting depth over `max`? Brackets inside strings do not count. This
 * runs on every request before the library sees it, so it skips string
 * contents with memchr (most of a request is strings) and classifies the
 * other bytes with one table lookup. */
int json_too_deep(const char *s, size_t n, unsigned max)
{
	static const unsigned char cls[256] = { ['"'] = 1, ['{'] = 2, ['['] = 2, ['}'] = 3, [']'] = 3 };
	const char *p = s, *end = s + n;
	unsigned d = 0;
	while (p < end) {
		unsigned c = cls[(unsigned char)*p++];
		if (c == 0)
			continue;
		if (c == 2) {
			if (++d > max)
				return 1;
		} else if (c == 3) {
			d -= d > 0;
		} else {
			/* A closing quote is one preceded by an even run of backslashes. */
			for (;;) {
				const char *q = memchr(p, '"', (size_t)(end - p));
				if (!q)
					return 0;
				const char *b = q;
				while (b > p && b[-1] == '\\')
					b--;
				p = q + 1;
				if (((q - b) & 1) == 0)
					break;
			}
		}
	}
	return 0;
}

/* One decision log line: facts about the decision, no request data but
 * the request id (validated by the library: printable, not a card number).
 * "delivered":false marks a decision whose answer never reached the
 * client (server.c); the key is absent otherwise. */
static void log_line(struct scratch *s, const gen *g, uint64_t latency_ns, int delivered)
{
	char ts[32];
	dbuf *b = &s->line;
	const stepup_decision *d = s->d;
	rfc3339_ms(wall_ns(), ts);
	dbuf_reset(b);
	dbuf_puts(b, "{\"time\":\"");
	dbuf_puts(b, ts);
	dbuf_puts(b, "\",\"decision_id\":");
	dbuf_json(b, stepup_decision_id(d));
	dbuf_puts(b, ",\"request_id\":");
	dbuf_json(b, stepup_request_id(s->r));
	dbuf_puts(b, ",\"ruleset\":");
	dbuf_json(b, g->name);
	dbuf_puts(b, ",\"revision\":");
	dbuf_json(b, g->revision);
	dbuf_puts(b, ",\"decision\":\"");
	dbuf_puts(b, stepup_outcome_name(stepup_decision_outcome(d)));
	dbuf_puts(b, "\",\"methods\":[");
	for (size_t i = 0, n = stepup_decision_method_count(d); i < n; i++) {
		if (i)
			dbuf_putc(b, ',');
		dbuf_putc(b, '"');
		dbuf_puts(b, stepup_method_name(stepup_decision_method(d, i)));
		dbuf_putc(b, '"');
	}
	dbuf_puts(b, "],\"rules\":[");
	for (size_t i = 0, n = stepup_decision_fired_count(d); i < n; i++) {
		if (i)
			dbuf_putc(b, ',');
		dbuf_json(b, stepup_decision_fired_rule(d, i, NULL));
	}
	dbuf_puts(b, "],\"latency_us\":");
	dbuf_u64(b, latency_ns / 1000u);
	if (!delivered)
		dbuf_puts(b, ",\"delivered\":false");
	dlog_put_replay(b, g, s->r, d);
	dbuf_puts(b, "}\n");
	if (!b->failed)
		dlog_append(b->s, b->len);
}

/* A YELLOW decision waiting for its case to be stored. */
typedef struct rec_job {
	work w;
	struct scratch *s;  /* the decision, detached from its thread */
	gen *g;             /* the generation that decided, held until answered */
	const char *out;    /* the response, in s->d */
	size_t outlen;
	uint64_t took;      /* request line to answer, case stored */
	int refused;        /* the pool was stopping */
	int rc;
	char err[256];
} rec_job;

static void rec_run(work *w)
{
	rec_job *j = (rec_job *)w;
	j->rc = stepup_cases_record(APP.cases, j->g->engine, j->s->r, j->s->d, j->err, sizeof(j->err));
}

static void rec_refuse(work *w)
{
	((rec_job *)w)->refused = 1;
}

static void rec_destroy(work *w)
{
	rec_job *j = (rec_job *)w;
	scratch_put(j->s);
	gen_release(j->g);
	free(j);
}

static void rec_post(void *arg)
{
	workq_post(APP.record_q, arg);
}

/* Decided 200: metrics, the over-deadline warning, the decision log. */
static void decided(struct scratch *s, gen *g, uint64_t took, int delivered)
{
	const struct cfg_limits *l = &APP.boot->limits;
	met_decision(g->stats, s->d, took);
	if (took > (uint64_t)l->decision_deadline_ms * 1000000u) {
		/* Decided, so answered: the TSP may still use it, and the log
		 * must match what was sent. Said loudly so it gets looked at. */
		met_over_deadline();
		log_kv(LOG_WARN, "decision took longer than the deadline",
		       LS("decision_id", stepup_decision_id(s->d)), LU("latency_us", took / 1000u),
		       LU("deadline_ms", l->decision_deadline_ms), LOG_END);
	}
	if (dlog_enabled())
		log_line(s, g, took, delivered);
}

/* Park the request; takes s (from the thread) and the reference on g.
 * 0, or -1 when it could not (out of memory: answered 500). */
static int park_record(const http_req *rq, http_resp *rs, struct scratch *s, gen *g,
                       const char *out, size_t outlen)
{
	rec_job *j = calloc(1, sizeof(*j));
	if (!j) {
		http_error(rs, 500, RJ_INTERNAL, "internal", "out of memory");
		return -1;
	}
	j->w.run = rec_run;
	j->w.refuse = rec_refuse;
	j->w.destroy = rec_destroy;
	j->w.handle = rq->impl;
	scratch_detach(s);
	j->s = s;
	j->g = g;
	j->out = out;
	j->outlen = outlen;
	*rq->job = j;
	rs->suspend = 1;
	rs->after_suspend = rec_post;
	rs->after_arg = j;
	return 0;
}

/* The answer of a recorded YELLOW decision went out, or could not. */
static void recorded(void *arg, int delivered)
{
	rec_job *j = arg;
	decided(j->s, j->g, j->took, delivered);
	workq_done(&j->w);
}

static void answer_recorded(const http_req *rq, http_resp *rs)
{
	rec_job *j = *rq->job;
	*rq->job = NULL;
	if (j->refused) {
		http_error(rs, 503, RJ_NOT_READY, "not_ready", "shutting down; not decided");
	} else if (j->rc != STEPUP_OK) {
		log_kv(LOG_ERROR, "step-up case not recorded; decision answered 503",
		       LS("decision_id", stepup_decision_id(j->s->d)), LS("status", stepup_strerror(j->rc)),
		       LS("error", j->err), LOG_END);
		http_error(rs, 503, RJ_CASE_STORE, "store_unavailable",
		           "the step-up case could not be stored, so no step-up is promised; retry");
	} else {
		/* Copied: the objects become a spare, for any thread, once
		 * recorded. The latency includes storing the case: the TSP
		 * waited for it. Its case is stored whatever happens to the
		 * answer, so the decision log gets its line either way, saying
		 * whether the answer reached the client (recorded()). */
		dbuf_put(&rs->body, j->out, j->outlen);
		j->took = mono_ns() - rq->start_ns;
		rs->sent = recorded;
		rs->sent_arg = j;
		return;
	}
	workq_done(&j->w);
}

void h_decisions(const http_req *rq, http_resp *rs)
{
	const struct cfg_limits *l = &APP.boot->limits;
	const char *out;
	size_t outlen;

	if (rq->resumed) {
		answer_recorded(rq, rs);
		return;
	}
	/* The library stops at 32 levels; a smaller configured limit is ours. */
	if (l->max_json_depth < 32 && json_too_deep(rq->body, rq->body_len, l->max_json_depth)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "JSON nested deeper than %u levels (limits.max_json_depth)",
		         l->max_json_depth);
		http_error(rs, 400, RJ_TOO_DEEP, "bad_request", msg);
		return;
	}
	uint64_t deadline = (uint64_t)l->decision_deadline_ms * 1000000u;
	if (mono_ns() - rq->start_ns > deadline) {
		http_error(rs, 503, RJ_DEADLINE, "deadline_exceeded",
		           "the request took longer than limits.decision_deadline_ms to arrive; not decided");
		return;
	}
	struct scratch *s = scratch_get();
	gen *g = gen_acquire();
	if (!s || !g) {
		gen_release(g);
		http_error(rs, s ? 503 : 500, s ? RJ_NOT_READY : RJ_INTERNAL, s ? "not_ready" : "internal",
		           s ? "no ruleset loaded" : "out of memory");
		return;
	}
	int rc = stepup_decide_json(g->engine, s->r, s->d, rq->body, rq->body_len, 0, &out, &outlen);
	uint64_t took = mono_ns() - rq->start_ns;
	switch (rc) {
	case STEPUP_OK:
		shadow_post(g, s->r, s->d, rq->body, rq->body_len);
		if (APP.cases && stepup_decision_outcome(s->d) == STEPUP_YELLOW) {
			if (park_record(rq, rs, s, g, out, outlen) == 0)
				return;  /* g goes with the parked request */
			break;
		}
		rs->borrowed = out;
		rs->borrowed_len = outlen;
		decided(s, g, took, 1);
		break;
	case STEPUP_EBADREQ:
		rs->status = 400;
		rs->cause = RJ_BAD_REQUEST;
		rs->borrowed = out;
		rs->borrowed_len = outlen;
		rs->log_field = stepup_request_error_field(s->r);
		break;
	case STEPUP_ETOOBIG:
		rs->status = 413;
		rs->cause = RJ_TOO_LARGE;
		rs->borrowed = out;
		rs->borrowed_len = outlen;
		break;
	default:
		log_kv(LOG_ERROR, "decision failed", LS("error", stepup_strerror(rc)), LOG_END);
		http_error(rs, 500, RJ_INTERNAL, "internal", stepup_strerror(rc));
		break;
	}
	gen_release(g);
}
