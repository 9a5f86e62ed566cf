/* cases.c: the step-up lifecycle endpoints (docs/lifecycle.md):
 *   POST /v1/otp-deliveries      Deliver OTP (the TSP's)
 *   POST /v1/activations         activation (issuer backend, agent portal)
 *   GET  /v1/cases/{decision_id} the case, contacts masked (issuer side)
 *
 * libstepup does the work and says which HTTP status and body to answer;
 * this file adds access control, the daemon's limits and the hand-off to
 * the lifecycle pool. Every call may block on SQLite (a write lock held by
 * another process, up to cases.busy_timeout_ms) or on a plugin (an SMS
 * gateway, up to its deadline), so the request is parked and served by a
 * pool thread (workq.h) while its MHD thread goes on with other
 * connections. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/lifecycle.h>

#include "../app.h"
#include "../gen.h"
#include "../metrics.h"
#include "../workq.h"
#include "handlers.h"

enum op { OP_DELIVER, OP_ACTIVATE, OP_GET };

typedef struct lc_job {
	work w;
	enum op op;
	/* The connection's body buffer (conns.c), untouched while the request
	 * is parked; writable, so the OTP in it can be wiped. */
	char *body;
	size_t len;
	/* The path's decision id, whole (malloc'd): the library checks it
	 * for a card number and its form, and quotes it only when valid. */
	char *id;
	int refused;        /* the pool was stopping: not served */
	int http;
	char *out;          /* the library's body (malloc'd) */
	size_t outlen;
} lc_job;

int issuer_check(int loopback, const char *authorization)
{
	gen *g = gen_acquire();
	int ok = 0;
	if (!g)
		return 0;
	const char *token = g->cfg->lifecycle.token;
	if (loopback && g->cfg->lifecycle.allow_loopback)
		ok = 1;
	else if (token && authorization && strncmp(authorization, "Bearer ", 7) == 0) {
		const char *t = authorization + 7;
		ok = ct_equal(t, strlen(t), token, strlen(token));
	}
	gen_release(g);
	return ok;
}

/* Deliver OTP bodies carry the OTP: gone from memory once handed on. */
static void wipe_otp(lc_job *j)
{
	if (j->op == OP_DELIVER && j->len)
		explicit_bzero(j->body, j->len);
}

static void run(work *w)
{
	lc_job *j = (lc_job *)w;
	stepup_cases *c = APP.cases;
	switch (j->op) {
	case OP_DELIVER:
		stepup_cases_deliver_otp_json(c, j->body, j->len, &j->out, &j->outlen, &j->http);
		break;
	case OP_ACTIVATE:
		stepup_cases_activate_json(c, j->body, j->len, &j->out, &j->outlen, &j->http);
		break;
	case OP_GET:
		stepup_cases_get_json(c, j->id, &j->out, &j->outlen, &j->http);
		break;
	}
	wipe_otp(j);
}

static void refuse(work *w)
{
	lc_job *j = (lc_job *)w;
	j->refused = 1;
	wipe_otp(j);
}

static void destroy(work *w)
{
	lc_job *j = (lc_job *)w;
	free(j->out);
	free(j->id);
	free(j);
}

static void post(void *arg)
{
	workq_post(APP.lifecycle_q, arg);
}

/* The name of the field a library 400 names, for the debug access log
 * (a fixed name such as "destination" or "proof.result", never a value).
 * It must outlive the handler: send_resp() logs it on this thread. */
static const char *error_field(const lc_job *j)
{
	static _Thread_local char field[64];
	json_t *root = json_loadb(j->out, j->outlen, 0, NULL);
	const char *f = json_string_value(json_object_get(json_object_get(root, "error"), "field"));
	snprintf(field, sizeof(field), "%s", f ? f : "");
	json_decref(root);
	return field[0] ? field : NULL;
}

static void answer(const http_req *rq, http_resp *rs)
{
	lc_job *j = *rq->job;
	*rq->job = NULL;
	if (j->refused) {
		http_error(rs, 503, RJ_NOT_READY, "not_ready", "shutting down; retry on another instance");
	} else if (!j->out) {
		http_error(rs, 500, RJ_INTERNAL, "internal", "out of memory");
	} else {
		/* The library's body is handed to the server as is (it is
		 * malloc'd, as a dbuf's is). */
		rs->status = (unsigned)j->http;
		rs->body.s = j->out;
		rs->body.len = j->outlen;
		rs->body.cap = j->outlen + 1;
		if (j->http == 400) {
			rs->cause = RJ_BAD_REQUEST;
			rs->log_field = error_field(j);
		} else if (j->http == 413) {
			rs->cause = RJ_TOO_LARGE;
		}
		j->out = NULL;
	}
	workq_done(&j->w);
}

static void park(const http_req *rq, http_resp *rs, enum op op)
{
	unsigned depth = APP.boot->limits.max_json_depth;
	if (!APP.cases) {
		http_error(rs, 404, RJ_LIFECYCLE_OFF, "lifecycle_disabled",
		           "the step-up lifecycle is off: the configuration has no \"cases\" section");
		return;
	}
	if (op != OP_GET && depth < 32 && json_too_deep(rq->body, rq->body_len, depth)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "JSON nested deeper than %u levels (limits.max_json_depth)", depth);
		http_error(rs, 400, RJ_TOO_DEEP, "bad_request", msg);
		return;
	}
	lc_job *j = calloc(1, sizeof(*j));
	if (!j) {
		http_error(rs, 500, RJ_INTERNAL, "internal", "out of memory");
		return;
	}
	j->w.run = run;
	j->w.refuse = refuse;
	j->w.destroy = destroy;
	j->w.handle = rq->impl;
	j->op = op;
	j->body = (char *)rq->body;
	j->len = rq->body_len;
	if (op == OP_GET && !(j->id = strndup(rq->params[0], rq->param_len[0]))) {
		free(j);
		http_error(rs, 500, RJ_INTERNAL, "internal", "out of memory");
		return;
	}
	*rq->job = j;
	rs->suspend = 1;
	rs->after_suspend = post;
	rs->after_arg = j;
}

void h_otp_deliveries(const http_req *rq, http_resp *rs)
{
	if (rq->resumed) {
		answer(rq, rs);
		return;
	}
	park(rq, rs, OP_DELIVER);
	if (!rs->suspend)  /* refused before the library saw the OTP */
		explicit_bzero((char *)rq->body, rq->body_len);
}

void h_activations(const http_req *rq, http_resp *rs)
{
	if (rq->resumed)
		answer(rq, rs);
	else
		park(rq, rs, OP_ACTIVATE);
}

void h_case(const http_req *rq, http_resp *rs)
{
	if (rq->resumed)
		answer(rq, rs);
	else
		park(rq, rs, OP_GET);
}
