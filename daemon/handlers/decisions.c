/* decisions.c: POST /v1/decisions, DESIGN.md §3 over HTTP.
 *
 * The response body is the library's output byte for byte
 * (stepup_decide_json); this file adds the HTTP status, the limits the
 * library does not know (configured depth, deadline), metrics and the
 * decision log line. */
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
#include "handlers.h"

/* Per-thread scratch: request and decision objects are reused from one
 * request to the next (the library's threading rule), freed at thread exit. */
struct scratch {
	stepup_request *r;
	stepup_decision *d;
	dbuf line;
};

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Thread_local struct scratch *mine;

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

static void make_key(void)
{
	pthread_key_create(&key, scratch_free);
}

static struct scratch *scratch(void)
{
	if (mine)
		return mine;
	pthread_once(&once, make_key);
	struct scratch *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->r = stepup_request_new();
	s->d = stepup_decision_new();
	if (!s->r || !s->d) {
		scratch_free(s);
		return NULL;
	}
	pthread_setspecific(key, s);
	mine = s;
	return s;
}

void decisions_thread_cleanup(void)
{
	if (!mine)
		return;
	pthread_setspecific(key, NULL);
	scratch_free(mine);
	mine = NULL;
}

/* Nesting depth over `max`? Brackets inside strings do not count. This
 * runs on every request before the library sees it, so it skips string
 * contents with memchr (most of a request is strings) and classifies the
 * other bytes with one table lookup. */
static int too_deep(const char *s, size_t n, unsigned max)
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
 * the request id (validated by the library: printable, not a card number). */
static void log_line(struct scratch *s, const gen *g, uint64_t latency_ns)
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
	dbuf_puts(b, "}\n");
	if (!b->failed)
		dlog_append(b->s, b->len);
}

void h_decisions(const http_req *rq, http_resp *rs)
{
	const struct cfg_limits *l = &APP.boot->limits;
	const char *out;
	size_t outlen;

	/* The library stops at 32 levels; a smaller configured limit is ours. */
	if (l->max_json_depth < 32 && too_deep(rq->body, rq->body_len, l->max_json_depth)) {
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
	struct scratch *s = scratch();
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
		rs->borrowed = out;
		rs->borrowed_len = outlen;
		met_decision(g->stats, s->d, took);
		if (took > deadline) {
			/* Decided, so answered: the TSP may still use it, and the log
			 * must match what was sent. Said loudly so it gets looked at. */
			met_over_deadline();
			log_kv(LOG_WARN, "decision took longer than the deadline",
			       LS("decision_id", stepup_decision_id(s->d)), LU("latency_us", took / 1000u),
			       LU("deadline_ms", l->decision_deadline_ms), LOG_END);
		}
		if (dlog_enabled())
			log_line(s, g, took);
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
