/* authorize.c: POST <base>/authorizeService,
 * <base>/requestActivationMethods and <base>/getAccountInformation
 * (docs/mdes.md).
 *
 *   the request, checked against the spec (spec.c)
 *     -> the payload decrypted with the issuer's key (crypto.c)
 *     -> the card looked up by the account data source (the only plugin
 *        that gets the card number and CVC2)
 *     -> the facts document (facts.c) decoded and decided by the ruleset
 *        the daemon serves, with the same limits and metrics as
 *        /v1/decisions
 *     -> the answer in MDES's words (answer.c); a YELLOW decision opens its
 *        case first, keyed by correlationId and tokenUniqueReference.
 *
 * getAccountInformation goes as far as the account data source, then
 * answers the account's status encrypted for Mastercard (account_info.c):
 * no decision.
 *
 * Card data: the decrypted text, its JSON, the facts document and the
 * request object's copies of it (stepup_request_wipe) are wiped once
 * decided. Nothing of it is logged: log lines name fields, never values. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stepup/lifecycle.h>
#include <stepup/stepup.h>

#include "../app.h"
#include "../declog.h"
#include "../gen.h"
#include "../handlers/handlers.h"
#include "../handlers/scratch.h"
#include "../log.h"
#include "../metrics.h"
#include "../workq.h"
#include "account_info.h"
#include "answer.h"
#include "facts.h"
#include "mdes.h"
#include "replay.h"
#include "spec.h"
#include "stats.h"

/* ---- process-wide --------------------------------------------------------- */

static pthread_once_t replay_once = PTHREAD_ONCE_INIT;
static mdes_replay *replay;

/* The idempotency store, sized by the configuration stepupd started with. */
static void replay_init(void)
{
	const struct mdes_cfg *c = APP.boot->mdes;
	if (c)
		replay = mdes_replay_new(c->replay_entries, c->replay_ttl_seconds);
}

mdes_replay *mdes_replay_process(void)
{
	pthread_once(&replay_once, replay_init);
	return replay;
}

const char *mdes_base_path(void)
{
	return APP.boot && APP.boot->mdes ? APP.boot->mdes->base_path : NULL;
}

int mdes_route_match(const char *tpl, const char *path)
{
	const struct mdes_cfg *c = APP.boot ? APP.boot->mdes : NULL;
	size_t n;
	if (!c || strncmp(tpl, "/mdes/", 6) != 0)
		return 0;
	n = strlen(c->base_path);
	return strncmp(path, c->base_path, n) == 0 && strcmp(path + n, tpl + 5) == 0;
}

/* ---- one decision ----------------------------------------------------------- */

/* What a decision needs between its steps, and for the answer. */
typedef struct dec {
	work w;                  /* parked YELLOW decisions (first member) */
	mdes_op op;
	gen *g;
	const struct mdes_cfg *cfg;
	json_t *root;            /* the request */
	const char *request_id, *correlation_id, *token_ref;
	char *account;           /* the account data source's facts, or NULL */
	int lookup;
	mdes_card card;
	struct scratch *s;       /* set once decoded */
	int parked;              /* s is detached from its thread */
	size_t facts_len;
	const char *cvc;
	dbuf out;                /* the answer */
	uint64_t start_ns, took;
	char key[80];            /* idempotency key, "" when none */
	/* parked on the decision pool */
	http_resp resp;          /* the answer made there, handed to the server on resume */
	int record;              /* a YELLOW decision whose case was to be stored */
	int log_decision;        /* answered 200 with a decision: log it once sent */
	int refused, rc;
	char err[256];
} dec;

static void dec_free(dec *x)
{
	if (x->s) {
		stepup_request_wipe(x->s->r);
		/* A parked set became the request's; the thread's own stays its. */
		if (x->parked)
			scratch_put(x->s);
	}
	mdes_payload_close(&x->card);
	if (x->account) {
		explicit_bzero(x->account, strlen(x->account));
		free(x->account);
	}
	json_decref(x->root);
	dbuf_free(&x->out);
	dbuf_free(&x->resp.body);
	gen_release(x->g);
	free(x);
}

/* An error answer; ends the idempotency entry without keeping it. */
static void fail(dec *x, http_resp *rs, unsigned status, int cause, const char *code, const char *desc)
{
	mdes_error(rs, status, cause, code, desc);
	mdes_stat_answer(x->op, code);
	if (x->key[0])
		mdes_replay_end(replay, x->key, 0, NULL, 0);
	x->key[0] = '\0';
}

/* The decision log line of an MDES decision: as /v1/decisions' (no
 * request data but the ids MDES gave), with the API and operation. */
static void log_line(dec *x, uint64_t latency_ns, int delivered)
{
	char ts[32];
	dbuf b = { 0 };
	const stepup_decision *d = x->s->d;
	rfc3339_ms(wall_ns(), ts);
	dbuf_puts(&b, "{\"time\":\"");
	dbuf_puts(&b, ts);
	dbuf_puts(&b, "\",\"decision_id\":");
	dbuf_json(&b, stepup_decision_id(d));
	dbuf_puts(&b, ",\"request_id\":");
	dbuf_json(&b, stepup_request_id(x->s->r));
	dbuf_puts(&b, ",\"api\":\"mdes\",\"operation\":");
	dbuf_json(&b, mdes_spec_ops[x->op].name);
	dbuf_puts(&b, ",\"correlation_id\":");
	dbuf_json(&b, x->correlation_id);
	dbuf_puts(&b, ",\"ruleset\":");
	dbuf_json(&b, x->g->name);
	dbuf_puts(&b, ",\"revision\":");
	dbuf_json(&b, x->g->revision);
	dbuf_puts(&b, ",\"decision\":\"");
	dbuf_puts(&b, stepup_outcome_name(stepup_decision_outcome(d)));
	dbuf_puts(&b, "\",\"account\":\"");
	dbuf_puts(&b, x->lookup == MDES_ACCOUNT_FOUND ? "FOUND" : x->lookup == MDES_ACCOUNT_NOT_FOUND ? "NOT_FOUND" : "FAILED");
	dbuf_puts(&b, "\",\"methods\":[");
	for (size_t i = 0, n = stepup_decision_method_count(d); i < n; i++) {
		if (i)
			dbuf_putc(&b, ',');
		dbuf_json(&b, stepup_method_name(stepup_decision_method(d, i)));
	}
	dbuf_puts(&b, "],\"rules\":[");
	for (size_t i = 0, n = stepup_decision_fired_count(d); i < n; i++) {
		if (i)
			dbuf_putc(&b, ',');
		dbuf_json(&b, stepup_decision_fired_rule(d, i, NULL));
	}
	dbuf_puts(&b, "],\"latency_us\":");
	dbuf_u64(&b, latency_ns / 1000u);
	if (!delivered)
		dbuf_puts(&b, ",\"delivered\":false");
	dbuf_puts(&b, "}\n");
	if (!b.failed)
		dlog_append(b.s, b.len);
	dbuf_free(&b);
}

/* Decided and answered 200: the metrics of /v1/decisions, the log. */
static void decided(dec *x, uint64_t took, int delivered)
{
	const struct cfg_limits *l = &APP.boot->limits;
	met_decision(x->g->stats, x->s->d, took);
	if (took > (uint64_t)l->decision_deadline_ms * 1000000u) {
		met_over_deadline();
		log_kv(LOG_WARN, "decision took longer than the deadline",
		       LS("decision_id", stepup_decision_id(x->s->d)), LU("latency_us", took / 1000u),
		       LU("deadline_ms", l->decision_deadline_ms), LOG_END);
	}
	if (dlog_enabled())
		log_line(x, took, delivered);
}

/* The answer goes out: keep it for repeats of the requestId. */
static void answer(dec *x, http_resp *rs)
{
	mdes_stat_answer(x->op, NULL);
	if (x->key[0])
		mdes_replay_end(replay, x->key, 200, x->out.s, x->out.len);
	x->key[0] = '\0';
	dbuf_put(&rs->body, x->out.s, x->out.len);
}

static const char *str_at(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);
	return json_string_value(b ? json_object_get(v, b) : v);
}

/* Decrypt the payload into x->card: 0, or -1 answered. */
static int open_payload(dec *x, http_resp *rs)
{
	json_t *p = json_object_get(json_object_get(x->root, "fundingAccountInfo"), "encryptedPayload");
	mdes_payload pl = {
		str_at(p, "encryptedData", NULL), str_at(p, "encryptedKey", NULL),
		str_at(p, "publicKeyFingerprint", NULL), str_at(p, "oaepHashingAlgorithm", NULL),
		str_at(p, "iv", NULL), str_at(p, "algorithmCipherMode", NULL), str_at(p, "tag", NULL),
		str_at(p, "aad", NULL),
	};
	char why[256], desc[320], field[160];
	const char *f, *code;
	char *plain = NULL;
	size_t plen = 0;
	int st = mdes_decrypt(x->cfg->keys, &pl, &plain, &plen, &f, why, sizeof(why));
	if (st != MDES_C_OK) {
		static const char *const codes[] = { NULL, "INVALID_FIELD_VALUE", "INVALID_FIELD_FORMAT",
			"INVALID_FIELD_VALUE", "CRYPTOGRAPHY_ERROR", "CRYPTOGRAPHY_ERROR", "SYSTEM_ERROR" };
		mdes_stat_decrypt(st);
		snprintf(desc, sizeof(desc), "fundingAccountInfo.encryptedPayload.%s %s", f, why);
		log_kv(LOG_INFO, "MDES payload refused", LS("operation", mdes_spec_ops[x->op].name),
		       LS("request_id", x->request_id), LS("field", f), LS("reason", why), LOG_END);
		fail(x, rs, st == MDES_C_NOMEM ? 500 : 400, st == MDES_C_NOMEM ? RJ_INTERNAL : RJ_BAD_REQUEST,
		     codes[st], desc);
		return -1;
	}
	int rc = mdes_payload_open(plain, plen, x->request_id, (int64_t)time(NULL), &x->card, &code, field,
	                           sizeof(field), why, sizeof(why));
	mdes_plain_free(plain, plen);
	if (rc < 0) {
		snprintf(desc, sizeof(desc), "fundingAccountInfo.%s", why);
		fail(x, rs, 400, RJ_BAD_REQUEST, code, desc);
		return -1;
	}
	return 0;
}

/* Ask the account data source. 0, or -1 answered (the configured outcome
 * of a failure). */
static int look_up(dec *x, http_resp *rs)
{
	char why[256] = "";
	int rc = x->g->plugins ? stepup_plugins_account_lookup(x->g->plugins, &x->card.card, &x->account, why,
	                                                       sizeof(why))
	                       : STEPUP_ENOTFOUND;
	x->lookup = rc != STEPUP_OK ? MDES_ACCOUNT_FAILED : x->account ? MDES_ACCOUNT_FOUND : MDES_ACCOUNT_NOT_FOUND;
	mdes_stat_account(x->lookup);
	if (x->lookup != MDES_ACCOUNT_FAILED)
		return 0;
	/* The reason is the host's and the plugin's, who promise no card data. */
	log_kv(LOG_WARN, "account data source failed", LS("request_id", x->request_id),
	       LS("status", stepup_strerror(rc)),
	       LS("error", rc == STEPUP_ENOTFOUND && !why[0] ? "no account_source configured" : why),
	       LS("outcome", x->cfg->on_account_failure == MDES_FAIL_DECLINE ? "DECLINED"
	                     : x->cfg->on_account_failure == MDES_FAIL_ERROR ? "ERROR" : "DECIDE"), LOG_END);
	if (x->op == MDES_OP_ACCOUNT_INFO) {
		/* No decision to fall back on: the network asks again. */
		fail(x, rs, 503, RJ_NOT_READY, "SERVICE_UNAVAILABLE", "the issuer's account data could not be read");
		return -1;
	}
	if (x->cfg->on_account_failure == MDES_FAIL_DECIDE)
		return 0;
	if (x->cfg->on_account_failure == MDES_FAIL_ERROR) {
		fail(x, rs, 503, RJ_NOT_READY, "SERVICE_UNAVAILABLE",
		     "the issuer's account data could not be read; not decided");
		return -1;
	}
	/* Fail closed. */
	char id[32];
	mdes_response_id(id);
	const char *cvc = mdes_cvc_response(&x->card, NULL, MDES_ACCOUNT_FAILED);
	if (x->op == MDES_OP_AUTHORIZE ? mdes_declined_answer(&x->out, id, cvc) < 0
	                               : mdes_plain_answer(&x->out, id, json_array()) < 0) {
		fail(x, rs, 500, RJ_INTERNAL, "SYSTEM_ERROR", "out of memory");
		return -1;
	}
	answer(x, rs);
	return -1;
}

/* ---- requestActivationMethods: the methods of the pending case ------------------ */

/* Bits of the methods the pending case of x's correlationId can still
 * serve (an OTP method at its send limit cannot), ~0u when there is no
 * such case (*pending 0). */
static unsigned case_methods(dec *x, int *pending)
{
	stepup_case_refs refs = { x->correlation_id, x->token_ref };
	char id[65], err[256];
	char *body = NULL;
	size_t len = 0;
	int http = 0;
	unsigned bits = ~0u;
	*pending = 0;
	if (!APP.cases || stepup_cases_find(APP.cases, &refs, id, err, sizeof(err)) != STEPUP_OK ||
	    stepup_cases_get_json(APP.cases, id, &body, &len, &http) != STEPUP_OK)
		goto out;
	json_t *c = json_loadb(body, len, 0, NULL), *m;
	const char *status = json_string_value(json_object_get(c, "status"));
	if (status && strcmp(status, "PENDING_IDV") == 0) {
		json_t *otp = json_object_get(c, "otp");
		int spent = json_integer_value(json_object_get(otp, "sends")) >=
		            json_integer_value(json_object_get(otp, "max_sends"));
		size_t i;
		*pending = 1;
		bits = 0;
		json_array_foreach(json_object_get(c, "idv_methods"), i, m) {
			const char *t = json_string_value(json_object_get(m, "type"));
			for (int k = 0; t && k < STEPUP_METHOD_COUNT; k++)
				if (strcmp(t, stepup_method_name((stepup_method)k)) == 0 &&
				    !(spent && (k == STEPUP_OTP_SMS || k == STEPUP_OTP_EMAIL)))
					bits |= 1u << k;
		}
	}
	json_decref(c);
out:
	free(body);
	return bits;
}

/* ---- getAccountInformation ---------------------------------------------------------- */

/* The account's status for Mastercard: the answer, its decision log line
 * (no card data: the status and whether the card was found). */
static void account_info(dec *x, http_resp *rs)
{
	char id[32], err[256];
	mdes_response_id(id);
	if (mdes_account_info_answer(&x->out, x->cfg, id, x->account, x->lookup, err, sizeof(err)) < 0) {
		log_kv(LOG_ERROR, "MDES account information not encrypted", LS("request_id", x->request_id),
		       LS("error", err), LOG_END);
		fail(x, rs, 500, RJ_INTERNAL, "SYSTEM_ERROR", "the answer could not be encrypted");
		return;
	}
	answer(x, rs);
	if (!dlog_enabled())
		return;
	char ts[32];
	dbuf b = { 0 };
	rfc3339_ms(wall_ns(), ts);
	dbuf_puts(&b, "{\"time\":\"");
	dbuf_puts(&b, ts);
	dbuf_puts(&b, "\",\"api\":\"mdes\",\"operation\":\"getAccountInformation\",\"response_id\":");
	dbuf_json(&b, id);
	dbuf_puts(&b, ",\"request_id\":");
	dbuf_json(&b, x->request_id);
	dbuf_puts(&b, ",\"account\":");
	dbuf_json(&b, x->lookup == MDES_ACCOUNT_FOUND ? "FOUND" : "NOT_FOUND");
	dbuf_puts(&b, ",\"account_status\":");
	dbuf_json(&b, mdes_account_status(x->account, x->lookup));
	dbuf_puts(&b, "}\n");
	if (!b.failed)
		dlog_append(b.s, b.len);
	dbuf_free(&b);
}

static void decide_parked(dec *x, http_resp *rs);

static void pool_run(work *w)
{
	dec *x = (dec *)w;
	/* The decoded request becomes x's: this thread's own set stays free
	 * for the next item. */
	decide_parked(x, &x->resp);
	if (x->s && !x->parked) {
		scratch_detach(x->s);
		x->parked = 1;
	}
}

static void pool_refuse(work *w)
{
	((dec *)w)->refused = 1;
}

static void pool_destroy(work *w)
{
	dec_free((dec *)w);
}

static void pool_post(void *arg)
{
	workq_post(APP.decide_q, arg);
}

/* A recorded YELLOW decision's answer went out, or could not. */
static void recorded(void *arg, int delivered)
{
	dec *x = arg;
	decided(x, x->took, delivered);
	workq_done(&x->w);
}

/* Park x on the decision pool; 0, or -1 (answered 500). */
static int park(const http_req *rq, http_resp *rs, dec *x)
{
	(void)rs;
	x->w.run = pool_run;
	x->w.refuse = pool_refuse;
	x->w.destroy = pool_destroy;
	x->w.handle = rq->impl;
	x->resp.cause = -1;
	*rq->job = x;
	rs->suspend = 1;
	rs->after_suspend = pool_post;
	rs->after_arg = x;
	return 0;
}

/* Called again once the pool is done: the answer it made. */
static void answer_parked(const http_req *rq, http_resp *rs)
{
	dec *x = *rq->job;
	*rq->job = NULL;
	x->took = mono_ns() - rq->start_ns;
	if (x->refused) {
		fail(x, rs, 503, RJ_NOT_READY, "SERVICE_UNAVAILABLE", "shutting down; not decided");
	} else if (x->record && x->rc != STEPUP_OK) {
		log_kv(LOG_ERROR, "step-up case not recorded; MDES request answered with an error",
		       LS("decision_id", stepup_decision_id(x->s->d)), LS("status", stepup_strerror(x->rc)),
		       LS("error", x->err), LOG_END);
		fail(x, rs, 503, RJ_CASE_STORE, "SERVICE_UNAVAILABLE",
		     "the step-up case could not be stored, so no step-up is promised; retry");
	} else if (x->record) {
		/* Its case is stored whatever happens to the answer: the log
		 * line says whether the answer reached the client. */
		answer(x, rs);
		rs->sent = recorded;
		rs->sent_arg = x;
		return;
	} else {
		rs->status = x->resp.status;
		rs->cause = x->resp.cause;
		rs->body = x->resp.body;  /* moved */
		memset(&x->resp.body, 0, sizeof(x->resp.body));
		if (x->log_decision)
			decided(x, x->took, 1);
	}
	workq_done(&x->w);
}

/* ---- on the decision pool ------------------------------------------------------------
 *
 * Decrypting, asking the account data source (a plugin call with a
 * deadline of its own), deciding (rule functions may call plugins) and
 * storing a YELLOW decision's case may all block: they run on the
 * decision pool, never on an HTTP thread, so a slow issuer backend cannot
 * delay requests that do not wait for it (issue 11's head-of-line rule,
 * as /v1/decisions). The answer is made into x->resp. */
static void decide_parked(dec *x, http_resp *rs)
{
	const mdes_op op = x->op;
	char why[320];
	if (open_payload(x, rs) < 0 || look_up(x, rs) < 0)
		return;
	if (op == MDES_OP_ACCOUNT_INFO) {
		account_info(x, rs);
		return;
	}

	char *facts = NULL;
	if (mdes_facts_build(x->cfg, x->root, &x->card, x->account, x->lookup, &facts, &x->facts_len) < 0) {
		fail(x, rs, 500, RJ_INTERNAL, "SYSTEM_ERROR", "out of memory");
		return;
	}
	x->cvc = mdes_cvc_response(&x->card, x->account, x->lookup);
	mdes_payload_close(&x->card);
	if (!(x->s = scratch_get())) {
		mdes_facts_free(facts, x->facts_len);
		fail(x, rs, 500, RJ_INTERNAL, "SYSTEM_ERROR", "out of memory");
		return;
	}
	char err[256];
	int rc = stepup_request_parse(x->s->r, x->g->engine, facts, x->facts_len, err, sizeof(err));
	mdes_facts_free(facts, x->facts_len);
	if (rc != STEPUP_OK) {
		/* The library names the field and never quotes a value. */
		const char *f = stepup_request_error_field(x->s->r);
		snprintf(why, sizeof(why), "%s%s%s", err, f && f[0] ? " (field " : "", f && f[0] ? f : "");
		if (f && f[0])
			strncat(why, ")", sizeof(why) - strlen(why) - 1);
		rs->log_field = NULL;
		fail(x, rs, rc == STEPUP_ETOOBIG ? 413 : 400, rc == STEPUP_ETOOBIG ? RJ_TOO_LARGE : RJ_BAD_REQUEST,
		     rc == STEPUP_ETOOBIG ? "INVALID_FIELD_LENGTH" : "INVALID_FIELD_VALUE", why);
		return;
	}
	if ((rc = stepup_decide(x->g->engine, x->s->r, x->s->d, 0)) != STEPUP_OK) {
		log_kv(LOG_ERROR, "decision failed", LS("error", stepup_strerror(rc)), LOG_END);
		fail(x, rs, 500, RJ_INTERNAL, "SYSTEM_ERROR", stepup_strerror(rc));
		return;
	}
	stepup_outcome outcome = stepup_decision_outcome(x->s->d);
	int record = APP.cases && outcome == STEPUP_YELLOW;
	if (op == MDES_OP_AUTHORIZE) {
		mdes_as_answer a = { stepup_decision_id(x->s->d), json_object_get(x->root, "services"), x->cvc };
		rc = mdes_authorize_answer(&x->out, x->cfg, x->g->engine, x->s->r, x->s->d, &a);
	} else {
		int pending = 0;
		unsigned allowed = outcome == STEPUP_YELLOW ? case_methods(x, &pending) : 0;
		/* A pending case serves the methods: it is not opened again. */
		record = record && !pending;
		json_t *ms = outcome == STEPUP_YELLOW
		                     ? mdes_activation_methods(x->g->engine, x->s->r, x->s->d, allowed)
		                     : json_array();
		rc = ms ? mdes_plain_answer(&x->out, stepup_decision_id(x->s->d), ms) : -1;
	}
	if (rc < 0) {
		fail(x, rs, 500, RJ_INTERNAL, "SYSTEM_ERROR", "out of memory");
		return;
	}
	if (record) {
		/* Stored here, off the HTTP threads like the rest. */
		stepup_case_refs refs = { x->correlation_id, x->token_ref };
		x->record = 1;
		x->rc = stepup_cases_record_refs(APP.cases, x->g->engine, x->s->r, x->s->d, &refs, x->err,
		                                 sizeof(x->err));
		return;
	}
	answer(x, rs);
	x->log_decision = 1;
}

/* ---- the handler ---------------------------------------------------------------- */

static void serve(const http_req *rq, http_resp *rs, mdes_op op)
{
	const struct cfg_limits *l = &APP.boot->limits;
	char field[160], why[320];
	const char *code;
	dec *x;

	if (rq->resumed) {
		answer_parked(rq, rs);
		return;
	}
	if (!(x = calloc(1, sizeof(*x)))) {
		mdes_error(rs, 500, RJ_INTERNAL, "SYSTEM_ERROR", "out of memory");
		return;
	}
	x->op = op;
	x->start_ns = rq->start_ns;
	if (l->max_json_depth < 32 && json_too_deep(rq->body, rq->body_len, l->max_json_depth)) {
		snprintf(why, sizeof(why), "JSON nested deeper than %u levels (limits.max_json_depth)",
		         l->max_json_depth);
		fail(x, rs, 400, RJ_TOO_DEEP, "INVALID_JSON", why);
		goto out;
	}
	uint64_t deadline = rq->start_ns + (uint64_t)l->decision_deadline_ms * 1000000u;
	if (mono_ns() > deadline) {
		fail(x, rs, 503, RJ_DEADLINE, "SERVICE_UNAVAILABLE",
		     "the request took longer than limits.decision_deadline_ms to arrive; not decided");
		goto out;
	}
	if (!(x->g = gen_acquire())) {
		fail(x, rs, 503, RJ_NOT_READY, "SERVICE_UNAVAILABLE", "no ruleset loaded");
		goto out;
	}
	if (!(x->cfg = x->g->cfg->mdes)) {
		/* A reload removed the section: the endpoints stay until a restart. */
		fail(x, rs, 503, RJ_NOT_READY, "SERVICE_UNAVAILABLE",
		     "the configuration has no \"mdes\" section any more; not decided");
		goto out;
	}
	/* No position, no text: jansson's message may quote the input. */
	x->root = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(x->root)) {
		fail(x, rs, 400, RJ_BAD_REQUEST, "INVALID_JSON", "the body is not a JSON object");
		goto out;
	}
	if (mdes_spec_check(op, x->root, &code, field, sizeof(field), why, sizeof(why)) < 0) {
		rs->log_field = NULL;
		fail(x, rs, 400, RJ_BAD_REQUEST, code, why);
		goto out;
	}
	x->request_id = str_at(x->root, "requestId", NULL);
	x->correlation_id = str_at(x->root, "correlationId", NULL);
	x->token_ref = str_at(x->root, "fundingAccountInfo", "tokenUniqueReference");
	if (op == MDES_OP_AUTHORIZE) {
		mdes_replay_process();
		snprintf(x->key, sizeof(x->key), "%s", x->request_id);
		unsigned st = 0;
		int r = replay ? mdes_replay_begin(replay, x->key, deadline, &st, &x->out) : MDES_REPLAY_MINE;
		if (!replay)
			x->key[0] = '\0';
		if (r == MDES_REPLAY_HIT) {
			x->key[0] = '\0';
			mdes_stat_replay();
			mdes_stat_answer(op, NULL);
			rs->status = st;
			dbuf_put(&rs->body, x->out.s, x->out.len);
			goto out;
		}
		if (r == MDES_REPLAY_BUSY) {
			x->key[0] = '\0';
			fail(x, rs, 503, RJ_DEADLINE, "SERVICE_UNAVAILABLE",
			     "a request with this requestId is still being decided; retry");
			goto out;
		}
	}
	if (op == MDES_OP_ACCOUNT_INFO && !x->cfg->mastercard) {
		fail(x, rs, 503, RJ_NOT_READY, "SERVICE_UNAVAILABLE",
		     "getAccountInformation is not served: no mdes.mastercard_key to encrypt its answer for");
		goto out;
	}
	/* The rest may block: on the decision pool (decide_parked). */
	if (park(rq, rs, x) == 0)
		return;  /* x goes with the parked request */
out:
	dec_free(x);
}

void h_mdes_authorize(const http_req *rq, http_resp *rs)
{
	serve(rq, rs, MDES_OP_AUTHORIZE);
}

void h_mdes_methods(const http_req *rq, http_resp *rs)
{
	serve(rq, rs, MDES_OP_METHODS);
}

void h_mdes_account_info(const http_req *rq, http_resp *rs)
{
	serve(rq, rs, MDES_OP_ACCOUNT_INFO);
}
