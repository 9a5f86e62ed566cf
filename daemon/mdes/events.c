/* events.c: what MDES tells the issuer after the decision (docs/mdes.md):
 *
 *   POST <base>/deliverActivationCode   the code goes to the case's contact
 *        through the OTP channel of the chosen activationMethod, with the
 *        case's send limit (the lifecycle's Deliver OTP: the same rules);
 *        without activationCode the issuer makes the code (the lifecycle's
 *        cases.activation_codes);
 *   POST <base>/validateActivationCode  a code the issuer made, checked with
 *        the case's attempt limit and expiry; idempotent by requestId;
 *   POST <base>/notifyServiceActivated  the case closes ACTIVATED, and the
 *        issuer webhook and end-user message go out, exactly once;
 *   POST <base>/notifyTokenUpdated      acknowledged and recorded (log,
 *        metrics, the decision log);
 *   POST <base>/notifySuspiciousEvents  acknowledged and recorded (log,
 *        metrics, the decision log, the token's case) and told to the
 *        issuer backend by webhook when one is configured.
 *
 * Each may block on SQLite or a channel, so the request is parked on the
 * lifecycle pool (workq.h) as the lifecycle's own endpoints are. The
 * activation code is wiped from every buffer once handed on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stepup/lifecycle.h>

#include "../app.h"
#include "../declog.h"
#include "../gen.h"
#include "../handlers/handlers.h"
#include "../log.h"
#include "../metrics.h"
#include "../workq.h"
#include "../../engine/util.h"
#include "answer.h"
#include "facts.h"
#include "mdes.h"
#include "replay.h"
#include "spec.h"
#include "stats.h"

typedef struct ev_job {
	work w;
	mdes_op op;
	char *body;       /* the connection's body buffer, wiped after use */
	size_t len;
	gen *g;
	int refused;
	http_resp r;      /* the answer, made on the pool thread */
	const char *code; /* errorCode sent, for the metrics */
	uint64_t deadline_ns;
} ev_job;

static void err(ev_job *j, unsigned status, int cause, const char *code, const char *desc)
{
	mdes_error(&j->r, status, cause, code, desc);
	j->code = code;
}

static void ok(ev_job *j)
{
	char id[32];
	mdes_response_id(id);
	if (mdes_plain_answer(&j->r.body, id, NULL) < 0)
		err(j, 500, RJ_INTERNAL, "SYSTEM_ERROR", "out of memory");
}

static const char *str_at(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	return json_string_value(b ? json_object_get(v, b) : v);
}

/* ---- deliverActivationCode --------------------------------------------------------- */

/* The lifecycle's Deliver OTP reason for MDES's first reason code. */
static const char *otp_reason(json_t *root)
{
	const char *r = json_string_value(json_array_get(json_object_get(root, "reasonCodes"), 0));
	if (r && strcmp(r, "VERIFY_ACCOUNT") == 0)
		return "CARDHOLDER-VERIFICATION";
	if (r && (strcmp(r, "TOKEN_BINDING") == 0 || strcmp(r, "ACCOUNT_BINDING") == 0))
		return "DEVICE-BINDING";
	return "CARD-DIGITIZATION";
}

/* The lifecycle's answer in MDES's words. */
static void deliver_answer(ev_job *j, int http, const char *body, size_t len)
{
	json_t *b = json_loadb(body, len, 0, NULL);
	const char *code = str_at(b, "error", "code"), *field = str_at(b, "error", "field");
	if (http == 200) {
		ok(j);
	} else if (http == 400 && field && strcmp(field, "otp") == 0) {
		err(j, 400, RJ_BAD_REQUEST, "INVALID_FIELD_VALUE",
		    "activationCode must be 4 to 16 letters or digits for this issuer's channels");
	} else if (http == 400 && field && strcmp(field, "expires_at") == 0) {
		err(j, 400, RJ_BAD_REQUEST, "INVALID_FIELD_VALUE", "expirationDateTime has already passed");
	} else if (http == 404) {
		err(j, 404, RJ_BAD_REQUEST, "CASE_NOT_FOUND", "no provisioning is pending under this correlationId");
	} else if (code && strcmp(code, "method_not_offered") == 0) {
		err(j, 409, RJ_BAD_REQUEST, "INVALID_FIELD_VALUE",
		    "activationMethod.type was not offered for this provisioning");
	} else if (http == 409 || http == 410) {
		err(j, http, RJ_BAD_REQUEST, "INVALID_STATE",
		    http == 410 ? "the provisioning's step-up has expired" : "the provisioning's step-up is closed");
	} else if (http == 429) {
		err(j, 429, RJ_BAD_REQUEST, "LIMIT_EXCEEDED",
		    "the activation code was sent as many times as this issuer allows (cases.max_otp_sends)");
	} else if (http == 502) {
		err(j, 502, -1, "DELIVERY_FAILED", "the channel could not deliver the activation code; offer another method");
	} else if (http == 503) {
		err(j, 503, RJ_CASE_STORE, "SERVICE_UNAVAILABLE", "the case store is unavailable; retry later");
	} else {
		err(j, 500, RJ_INTERNAL, "SYSTEM_ERROR", "the activation code could not be delivered");
	}
	json_decref(b);
}

static void deliver(ev_job *j, json_t *root)
{
	const char *type = str_at(root, "activationMethod", "type");
	const char *code = str_at(root, "activationCode", NULL);
	const char *method = !type ? NULL : strcmp(type, "TEXT_TO_CARDHOLDER_NUMBER") == 0 ? "OTP_SMS"
	                     : strcmp(type, "EMAIL_TO_CARDHOLDER_ADDRESS") == 0        ? "OTP_EMAIL" : NULL;
	stepup_case_refs refs = { str_at(root, "correlationId", NULL), str_at(root, "tokenUniqueReference", NULL) };
	char id[65], why[256];

	if (!method) {
		err(j, 400, RJ_BAD_REQUEST, "INVALID_FIELD_VALUE",
		    "activationMethod.type is not one this issuer sends codes through "
		    "(TEXT_TO_CARDHOLDER_NUMBER, EMAIL_TO_CARDHOLDER_ADDRESS)");
		return;
	}
	int64_t expires;
	const char *exp = str_at(root, "expirationDateTime", NULL);
	if (!code)
		exp = NULL;  /* the issuer's code has the issuer's expiry */
	if (exp) {
		if ((expires = su_parse_time(exp)) < 0) {
			err(j, 400, RJ_BAD_REQUEST, "INVALID_FIELD_FORMAT",
			    "expirationDateTime must be YYYY-MM-DDThh:mm:ss[.sss]Z or +hh:mm");
			return;
		}
	} else {
		expires = (int64_t)time(NULL) + j->g->cfg->mdes->code_ttl_seconds;
	}
	int rc = stepup_cases_find(APP.cases, &refs, id, why, sizeof(why));
	if (rc == STEPUP_ENOTFOUND || rc == STEPUP_EINVAL) {
		err(j, 404, RJ_BAD_REQUEST, "CASE_NOT_FOUND", "no provisioning is pending under this correlationId");
		return;
	}
	if (rc != STEPUP_OK) {
		err(j, 503, RJ_CASE_STORE, "SERVICE_UNAVAILABLE", "the case store is unavailable; retry later");
		return;
	}
	if (!code) {
		/* The issuer makes the code (and sends the same one again). */
		char *out = NULL;
		size_t outlen = 0;
		int http = 500;
		rc = stepup_cases_deliver_code(APP.cases, id, strcmp(method, "OTP_SMS") == 0 ? STEPUP_OTP_SMS
		                                                                            : STEPUP_OTP_EMAIL,
		                               expires, otp_reason(root), &out, &outlen, &http);
		if (rc == STEPUP_ESTATE) {
			err(j, 400, RJ_BAD_REQUEST, "MISSING_REQUIRED_FIELD",
			    "activationCode is required: this issuer makes no codes of its own (no cases.activation_codes)");
			return;
		}
		if (http == 200)
			mdes_stat_code_sent();
		deliver_answer(j, out ? http : 500, out ? out : "", outlen);
		free(out);
		return;
	}
	/* The lifecycle's Deliver OTP: the contact of the case, never the
	 * activationMethod.value MDES echoes. */
	json_t *b = json_object();
	json_object_set_new(b, "decision_id", json_string(id));
	json_object_set_new(b, "method", json_string(method));
	json_object_set_new(b, "otp", json_string(code));
	json_object_set_new(b, "expires_at", json_integer(expires));
	json_object_set_new(b, "reason", json_string(otp_reason(root)));
	size_t need = json_dumpb(b, NULL, 0, JSON_COMPACT);
	char *text = need ? malloc(need + 1) : NULL, *out = NULL;
	size_t outlen = 0;
	int http = 500;
	if (text) {
		need = json_dumpb(b, text, need, JSON_COMPACT);
		stepup_cases_deliver_otp_json(APP.cases, text, need, &out, &outlen, &http);
		explicit_bzero(text, need);
		free(text);
	}
	json_decref(b);
	deliver_answer(j, out ? http : 500, out ? out : "", outlen);
	free(out);
}

/* ---- notifyServiceActivated -------------------------------------------------------- */

static void activated(ev_job *j, json_t *root)
{
	const char *token = str_at(root, "fundingAccountInfo", "tokenUniqueReference");
	stepup_case_refs refs = { str_at(root, "correlationId", NULL), token };
	char id[65] = "", why[256];
	int outcome = -2, rc = STEPUP_ENOTFOUND;

	if (APP.cases && (rc = stepup_cases_find(APP.cases, &refs, id, why, sizeof(why))) == STEPUP_OK)
		rc = stepup_cases_network_activated(APP.cases, id, token, str_at(root, "consumerLanguage", NULL),
		                                    &outcome, why, sizeof(why));
	if (rc != STEPUP_OK && rc != STEPUP_ENOTFOUND && rc != STEPUP_EINVAL) {
		err(j, 503, RJ_CASE_STORE, "SERVICE_UNAVAILABLE", "the case store is unavailable; retry later");
		return;
	}
	if (rc != STEPUP_OK)
		outcome = -2;
	mdes_stat_activation(outcome);
	static const char *const said[] = { "no step-up case (approved, or the lifecycle is off)",
		"case already closed otherwise; left as it is", "case already activated", "case activated" };
	log_kv(LOG_INFO, "MDES token activated", LS("request_id", str_at(root, "requestId", NULL)),
	       LS("correlation_id", refs.correlation_id), LS("decision_id", id[0] ? id : NULL),
	       LS("case", said[outcome + 2]), LOG_END);
	ok(j);
}

/* ---- notifyTokenUpdated -------------------------------------------------------------- */

static void token_updated(ev_job *j, json_t *root)
{
	const char *reason = str_at(root, "reasonCode", NULL);
	json_t *tokens = json_object_get(root, "tokens"), *t;
	size_t i;
	dbuf line = { 0 };
	char ts[32];

	mdes_stat_token_update(reason);
	rfc3339_ms(wall_ns(), ts);
	dbuf_puts(&line, "{\"time\":\"");
	dbuf_puts(&line, ts);
	dbuf_puts(&line, "\",\"api\":\"mdes\",\"operation\":\"notifyTokenUpdated\",\"request_id\":");
	dbuf_json(&line, str_at(root, "requestId", NULL));
	dbuf_puts(&line, ",\"reason\":");
	dbuf_json(&line, reason);
	dbuf_puts(&line, ",\"tokens\":[");
	json_array_foreach(tokens, i, t) {
		const char *ref = str_at(t, "tokenUniqueReference", NULL), *status = str_at(t, "status", NULL);
		stepup_case_refs refs = { NULL, ref };
		char id[65] = "", why[256];
		/* Recorded against the case that provisioned the token, if any. */
		if (APP.cases && stepup_cases_find(APP.cases, &refs, id, why, sizeof(why)) != STEPUP_OK)
			id[0] = '\0';
		log_kv(LOG_INFO, "MDES token updated", LS("request_id", str_at(root, "requestId", NULL)),
		       LS("reason", reason), LS("token", ref), LS("status", status),
		       LS("decision_id", id[0] ? id : NULL), LOG_END);
		dbuf_puts(&line, i ? ",{\"token\":" : "{\"token\":");
		dbuf_json(&line, ref);
		if (status) {
			dbuf_puts(&line, ",\"status\":");
			dbuf_json(&line, status);
		}
		if (id[0]) {
			dbuf_puts(&line, ",\"decision_id\":");
			dbuf_json(&line, id);
		}
		dbuf_putc(&line, '}');
	}
	dbuf_puts(&line, "]}\n");
	if (dlog_enabled() && !line.failed)
		dlog_append(line.s, line.len);
	dbuf_free(&line);
	ok(j);
}

/* ---- validateActivationCode --------------------------------------------------------------- */

static const char *const code_results[] = { "SUCCESS", "INCORRECT_CODE", "INCORRECT_CODE_RETRIES_EXCEEDED",
	                                    "EXPIRED_CODE" };

/* The answer of a checked code: {"responseId", "result"}, kept for a
 * repeat of the requestId (MDES retries; a used code would answer
 * EXPIRED_CODE the second time). */
static void validate(ev_job *j, json_t *root)
{
	stepup_case_refs refs = { str_at(root, "correlationId", NULL), str_at(root, "tokenUniqueReference", NULL) };
	const char *code = str_at(root, "activationCode", NULL), *rid = str_at(root, "requestId", NULL);
	mdes_replay *rp = mdes_replay_process();
	char key[96], id[65], why[256];
	unsigned st = 0, tries = 0;
	dbuf prev = { 0 };
	stepup_code_result result;

	snprintf(key, sizeof(key), "validateActivationCode:%s", rid);
	int r = rp ? mdes_replay_begin(rp, key, j->deadline_ns, &st, &prev) : MDES_REPLAY_MINE;
	if (r == MDES_REPLAY_HIT) {
		mdes_stat_replay();
		j->r.status = st;
		dbuf_put(&j->r.body, prev.s, prev.len);
		dbuf_free(&prev);
		return;
	}
	dbuf_free(&prev);
	if (r == MDES_REPLAY_BUSY) {
		err(j, 503, RJ_DEADLINE, "SERVICE_UNAVAILABLE", "a request with this requestId is still being answered; retry");
		return;
	}
	int rc = stepup_cases_find(APP.cases, &refs, id, why, sizeof(why));
	if (rc == STEPUP_OK)
		rc = stepup_cases_check_code(APP.cases, id, code, &result, &tries, why, sizeof(why));
	if (rc == STEPUP_ENOTFOUND || rc == STEPUP_EINVAL)
		err(j, 404, RJ_BAD_REQUEST, "CASE_NOT_FOUND", "no provisioning is pending under this correlationId");
	else if (rc == STEPUP_ESTATE)
		err(j, 409, RJ_BAD_REQUEST, "INVALID_STATE",
		    "this issuer makes no activation codes of its own (no cases.activation_codes): Mastercard checks them");
	else if (rc != STEPUP_OK)
		err(j, 503, RJ_CASE_STORE, "SERVICE_UNAVAILABLE", "the case store is unavailable; retry later");
	if (rc != STEPUP_OK) {
		if (rp)
			mdes_replay_end(rp, key, 0, NULL, 0);
		return;
	}
	mdes_stat_code_checked((int)result);
	log_kv(LOG_INFO, "MDES activation code checked", LS("request_id", rid),
	       LS("correlation_id", refs.correlation_id), LS("decision_id", id), LS("result", code_results[result]),
	       LU("wrong_tries", tries), LOG_END);
	char rsp[32];
	mdes_response_id(rsp);
	json_t *o = json_pack("{s:s, s:s}", "responseId", rsp, "result", code_results[result]);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text) {
		if (rp)
			mdes_replay_end(rp, key, 0, NULL, 0);
		err(j, 500, RJ_INTERNAL, "SYSTEM_ERROR", "out of memory");
		return;
	}
	j->r.status = 200;
	dbuf_puts(&j->r.body, text);
	if (rp)
		mdes_replay_end(rp, key, 200, text, strlen(text));
	free(text);
}

/* ---- notifySuspiciousEvents --------------------------------------------------------------- */

/* The members of a SuspiciousEvent the issuer backend hears of: those
 * the API documents, each checked against the field table (a card number
 * in one was refused before); anything else MDES may add is left out. */
static const char *const atc_lists[] = { "walletAtcStatus", "unusedDiscarded", "usedForContactless", "usedForDsrp",
	                                 "unusedActive", NULL, "systemAtcStatus", "atcNotFound",
	                                 "atcAlreadyProcessed", "atcReportedUsedByWallet", "unusedActive", NULL, NULL };

static json_t *known_members(json_t *ev)
{
	json_t *out = json_object();
	const char *name = str_at(ev, "eventName", NULL);
	if (name)
		json_object_set_new(out, "eventName", json_string(name));
	for (size_t i = 0; atc_lists[i]; i++) {
		json_t *from = json_object_get(ev, atc_lists[i]), *to = NULL;
		size_t k = i + 1;
		for (; atc_lists[k]; k++) {
			json_t *l = json_object_get(from, atc_lists[k]);
			if (json_is_array(l)) {
				if (!to)
					to = json_object();
				json_object_set(to, atc_lists[k], l);
			}
		}
		if (to)
			json_object_set_new(out, atc_lists[i], to);
		i = k;
	}
	return out;
}

/* events: one SuspiciousEvent (2.0.21) or an array of them (2.0.33), as
 * an array of their known members. */
static json_t *event_list(json_t *root)
{
	json_t *ev = json_object_get(root, "events"), *a = json_array(), *e;
	size_t i;
	if (json_is_object(ev))
		json_array_append_new(a, known_members(ev));
	else
		json_array_foreach(ev, i, e) json_array_append_new(a, known_members(e));
	return a;
}

static void suspicious(ev_job *j, json_t *root)
{
	const char *token = str_at(root, "tokenUniqueReference", NULL), *rid = str_at(root, "requestId", NULL);
	const char *status = str_at(root, "status", NULL);
	stepup_case_refs refs = { NULL, token };
	json_t *events = event_list(root), *e;
	char id[65] = "", why[256];
	int queued = 0;
	size_t i;
	dbuf line = { 0 };

	if (APP.cases && stepup_cases_find(APP.cases, &refs, id, why, sizeof(why)) != STEPUP_OK)
		id[0] = '\0';
	/* What the issuer backend hears: the token, its status and the events
	 * (their documented members: names, ATC values), never the device's
	 * identifiers. */
	json_t *details = json_pack("{s:s, s:s, s:O}", "tokenUniqueReference", token, "status", status, "events", events);
	char *text = details ? json_dumps(details, JSON_COMPACT) : NULL;
	json_decref(details);
	if (APP.cases) {
		int rc = text ? stepup_cases_token_event(APP.cases, id[0] ? id : NULL, "token.suspicious_event", rid, text,
		                                         &queued, why, sizeof(why))
		              : STEPUP_ENOMEM;
		free(text);
		text = NULL;
		if (rc == STEPUP_EINVAL) {
			/* The lifecycle's own check (a card number): refused, not kept. */
			json_decref(events);
			err(j, 400, RJ_BAD_REQUEST, "INVALID_FIELD_VALUE", "events holds a card number: refused, and not kept");
			return;
		}
		if (rc != STEPUP_OK) {
			json_decref(events);
			err(j, rc == STEPUP_EIO ? 503 : 500, rc == STEPUP_EIO ? RJ_CASE_STORE : RJ_INTERNAL,
			    rc == STEPUP_EIO ? "SERVICE_UNAVAILABLE" : "SYSTEM_ERROR",
			    "the event could not be recorded; retry later");
			return;
		}
	}
	free(text);
	char ts[32];
	rfc3339_ms(wall_ns(), ts);
	dbuf_puts(&line, "{\"time\":\"");
	dbuf_puts(&line, ts);
	dbuf_puts(&line, "\",\"api\":\"mdes\",\"operation\":\"notifySuspiciousEvents\",\"request_id\":");
	dbuf_json(&line, rid);
	dbuf_puts(&line, ",\"token\":");
	dbuf_json(&line, token);
	dbuf_puts(&line, ",\"status\":");
	dbuf_json(&line, status);
	if (id[0]) {
		dbuf_puts(&line, ",\"decision_id\":");
		dbuf_json(&line, id);
	}
	dbuf_puts(&line, ",\"events\":[");
	json_array_foreach(events, i, e) {
		const char *name = str_at(e, "eventName", NULL);
		mdes_stat_suspicious(name);
		if (i)
			dbuf_putc(&line, ',');
		dbuf_json(&line, name);
		log_kv(LOG_WARN, "MDES suspicious event", LS("request_id", rid), LS("token", token), LS("status", status),
		       LS("event", name), LS("decision_id", id[0] ? id : NULL),
		       LS("webhook", queued ? "queued" : "none"), LOG_END);
	}
	dbuf_puts(&line, "]}\n");
	if (dlog_enabled() && !line.failed)
		dlog_append(line.s, line.len);
	dbuf_free(&line);
	json_decref(events);
	ok(j);
}

/* ---- the plumbing --------------------------------------------------------------------- */

static void process(ev_job *j)
{
	char field[160], why[320];
	const char *code;
	/* No position, no text: jansson's message may quote the input. */
	json_t *root = json_loadb(j->body, j->len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root))
		err(j, 400, RJ_BAD_REQUEST, "INVALID_JSON", "the body is not a JSON object");
	else if (mdes_spec_check(j->op, root, &code, field, sizeof(field), why, sizeof(why)) < 0)
		err(j, 400, RJ_BAD_REQUEST, code, why);
	else if (j->op == MDES_OP_DELIVER)
		deliver(j, root);
	else if (j->op == MDES_OP_VALIDATE)
		validate(j, root);
	else if (j->op == MDES_OP_ACTIVATED)
		activated(j, root);
	else if (j->op == MDES_OP_SUSPICIOUS)
		suspicious(j, root);
	else
		token_updated(j, root);
	/* The tree is freed by the wiping allocator; the text is wiped here. */
	json_decref(root);
	explicit_bzero(j->body, j->len);
}

static void run(work *w)
{
	process((ev_job *)w);
}

static void refuse(work *w)
{
	ev_job *j = (ev_job *)w;
	j->refused = 1;
	explicit_bzero(j->body, j->len);
}

static void destroy(work *w)
{
	ev_job *j = (ev_job *)w;
	dbuf_free(&j->r.body);
	gen_release(j->g);
	free(j);
}

static void post(void *arg)
{
	workq_post(APP.lifecycle_q, arg);
}

static void reply(ev_job *j, http_resp *rs)
{
	if (j->refused) {
		mdes_error(rs, 503, RJ_NOT_READY, "SERVICE_UNAVAILABLE", "shutting down; retry on another instance");
		j->code = "SERVICE_UNAVAILABLE";
	} else {
		rs->status = j->r.status;
		rs->cause = j->r.cause;
		rs->body = j->r.body;
		memset(&j->r.body, 0, sizeof(j->r.body));
	}
	mdes_stat_answer(j->op, j->code);
}

static void serve(const http_req *rq, http_resp *rs, mdes_op op)
{
	unsigned depth = APP.boot->limits.max_json_depth;
	ev_job *j;

	if (rq->resumed) {
		j = *rq->job;
		*rq->job = NULL;
		reply(j, rs);
		workq_done(&j->w);
		return;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		mdes_error(rs, 500, RJ_INTERNAL, "SYSTEM_ERROR", "out of memory");
		return;
	}
	j->op = op;
	j->body = (char *)rq->body;
	j->len = rq->body_len;
	j->r.cause = -1;
	j->deadline_ns = rq->start_ns + (uint64_t)APP.boot->limits.decision_deadline_ms * 1000000u;
	if (depth < 32 && json_too_deep(rq->body, rq->body_len, depth)) {
		char msg[96];
		snprintf(msg, sizeof(msg), "JSON nested deeper than %u levels (limits.max_json_depth)", depth);
		err(j, 400, RJ_TOO_DEEP, "INVALID_JSON", msg);
	} else if (!(j->g = gen_acquire()) || !j->g->cfg->mdes) {
		err(j, 503, RJ_NOT_READY, "SERVICE_UNAVAILABLE", "no ruleset loaded, or no \"mdes\" section any more");
	} else if ((op == MDES_OP_DELIVER || op == MDES_OP_VALIDATE) && !APP.cases) {
		err(j, 503, RJ_LIFECYCLE_OFF, "SERVICE_UNAVAILABLE",
		    "the step-up lifecycle is off (no \"cases\" section): no activation code is delivered or checked");
	} else if (APP.cases) {
		/* Parked: the work blocks on SQLite or a channel. */
		j->w.run = run;
		j->w.refuse = refuse;
		j->w.destroy = destroy;
		j->w.handle = rq->impl;
		*rq->job = j;
		rs->suspend = 1;
		rs->after_suspend = post;
		rs->after_arg = j;
		return;
	} else {
		/* Nothing to block on: answered at once. */
		process(j);
	}
	explicit_bzero((char *)rq->body, rq->body_len);
	reply(j, rs);
	destroy(&j->w);
}

void h_mdes_deliver(const http_req *rq, http_resp *rs)
{
	serve(rq, rs, MDES_OP_DELIVER);
}

void h_mdes_activated(const http_req *rq, http_resp *rs)
{
	serve(rq, rs, MDES_OP_ACTIVATED);
}

void h_mdes_token_updated(const http_req *rq, http_resp *rs)
{
	serve(rq, rs, MDES_OP_TOKEN_UPDATED);
}

void h_mdes_validate(const http_req *rq, http_resp *rs)
{
	serve(rq, rs, MDES_OP_VALIDATE);
}

void h_mdes_suspicious(const http_req *rq, http_resp *rs)
{
	serve(rq, rs, MDES_OP_SUSPICIOUS);
}
