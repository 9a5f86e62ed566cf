/* channel.c: a fake plugin "channel" serving every method kind (OTP
 * channel, in-app, customer-service router) whose behaviour comes from its
 * configuration, for tests/unit/test_plugins: how long each call sleeps,
 * which calls fail and how, what describe() and route() answer.
 *
 *   { "sleep_ms": 0, "sleep_ops": "can_deliver,route",   (default: all)
 *     "fail": "can_deliver,deliver_otp",  "status": 3,   (STEPUP_PLUGIN_*)
 *     "describe": "{\"app_id\":\"x\"}", "number": "+1 800 555 0100",
 *     "hours": "24/7", "ignore_deadline": false, "log": true,
 *     "accounts": { "4111111111111111": {"card":{"state":"ACTIVE"}} },
 *     "facts_raw": "what lookup returns, whatever the card" }

 * As an account data source, lookup() answers the facts of a known card
 * (with "csc_result" MATCH or NO_MATCH against "csc" when one is
 * configured and the query carries one) and REJECTED for others.
 *
 * It counts its calls in the file named by "count_file" (one byte a call)
 * so a test can tell whether a call happened at all. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stepup/plugin.h>

typedef struct ch_state {
	const stepup_host_api *host;
	void *host_ctx;
	int sleep_ms;
	char sleep_ops[128];
	char fail[128];
	int status;
	char describe[256];
	char number[64];
	char hours[64];
	char count_file[256];
	int ignore_deadline;
	int log;
	json_t *accounts;
	char facts_raw[256];
} ch_state;

static char *dup_host(const stepup_host_api *host, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = host->alloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

static void copy(char *dst, size_t size, json_t *v)
{
	const char *s = json_string_value(v);
	if (s)
		snprintf(dst, size, "%s", s);
}

static int ch_init(const stepup_host_api *host, void *host_ctx, const char *config_json,
		   void **state, char *err, size_t errlen)
{
	json_t *c = json_loads(config_json, 0, NULL);
	if (!json_is_object(c)) {
		snprintf(err, errlen, "config must be an object");
		json_decref(c);
		return STEPUP_PLUGIN_EINVAL;
	}
	ch_state *st = host->alloc(sizeof(*st));
	if (!st) {
		json_decref(c);
		return STEPUP_PLUGIN_ERROR;
	}
	memset(st, 0, sizeof(*st));
	st->host = host;
	st->host_ctx = host_ctx;
	st->sleep_ms = (int)json_integer_value(json_object_get(c, "sleep_ms"));
	copy(st->sleep_ops, sizeof(st->sleep_ops), json_object_get(c, "sleep_ops"));
	copy(st->fail, sizeof(st->fail), json_object_get(c, "fail"));
	st->status = json_object_get(c, "status") ? (int)json_integer_value(json_object_get(c, "status"))
						  : STEPUP_PLUGIN_ERROR;
	snprintf(st->describe, sizeof(st->describe), "{\"app_id\":\"com.example.fake\"}");
	copy(st->describe, sizeof(st->describe), json_object_get(c, "describe"));
	snprintf(st->number, sizeof(st->number), "+1 800 555 0100");
	copy(st->number, sizeof(st->number), json_object_get(c, "number"));
	copy(st->hours, sizeof(st->hours), json_object_get(c, "hours"));
	copy(st->count_file, sizeof(st->count_file), json_object_get(c, "count_file"));
	st->ignore_deadline = json_is_true(json_object_get(c, "ignore_deadline"));
	st->log = json_is_true(json_object_get(c, "log"));
	st->accounts = json_incref(json_object_get(c, "accounts"));
	copy(st->facts_raw, sizeof(st->facts_raw), json_object_get(c, "facts_raw"));
	json_decref(c);
	*state = st;
	return STEPUP_PLUGIN_OK;
}

static void ch_fini(void *state)
{
	ch_state *st = state;
	json_decref(st->accounts);
	st->host->free(st);
}

/* Sleep, count, and fail as configured: the status to return. A polite
 * plugin gives up at its deadline; an impolite one sleeps on. */
static int behave(ch_state *st, const stepup_call_ctx *ctx, const char *op)
{
	if (st->count_file[0]) {
		FILE *f = fopen(st->count_file, "a");
		if (f) {
			fputc('.', f);
			fclose(f);
		}
	}
	if (st->log) {
		char line[96];
		snprintf(line, sizeof(line), "%s called", op);
		st->host->log(st->host_ctx, STEPUP_PLUGIN_LOG_INFO, line);
	}
	if (st->sleep_ms > 0 && (!st->sleep_ops[0] || strstr(st->sleep_ops, op))) {
		int64_t until = st->host->now_ms() + st->sleep_ms;
		if (!st->ignore_deadline && until > ctx->deadline_ms)
			until = ctx->deadline_ms;
		for (int64_t now; (now = st->host->now_ms()) < until;) {
			int64_t ms = until - now > 100 ? 100 : until - now;
			struct timespec ts = { 0, (long)ms * 1000000L };
			nanosleep(&ts, NULL);
		}
		if (!st->ignore_deadline && st->host->now_ms() >= ctx->deadline_ms) {
			snprintf(ctx->err, ctx->errlen, "gave up at the deadline");
			return STEPUP_PLUGIN_TIMEOUT;
		}
	}
	if (st->fail[0] && strstr(st->fail, op)) {
		snprintf(ctx->err, ctx->errlen, "%s refused by configuration", op);
		return st->status;
	}
	return STEPUP_PLUGIN_OK;
}

static int ch_can_deliver(void *state, const stepup_call_ctx *ctx, const char *destination)
{
	(void)destination;
	return behave(state, ctx, "can_deliver");
}

static int ch_deliver(void *state, const stepup_call_ctx *ctx, const stepup_otp_message *msg)
{
	(void)msg;
	return behave(state, ctx, "deliver_otp");
}

static int ch_notify(void *state, const stepup_call_ctx *ctx, const char *destination,
		     const char *text, const char *language)
{
	(void)destination;
	(void)text;
	(void)language;
	return behave(state, ctx, "notify");
}

static int ch_describe(void *state, const stepup_call_ctx *ctx, const char *language,
		       char **app_json)
{
	ch_state *st = state;
	int rc = behave(st, ctx, "describe");
	(void)language;
	if (rc == STEPUP_PLUGIN_OK && !(*app_json = dup_host(st->host, st->describe)))
		rc = STEPUP_PLUGIN_ERROR;
	return rc;
}

static int ch_start(void *state, const stepup_call_ctx *ctx, const stepup_inapp_request *req)
{
	(void)req;
	return behave(state, ctx, "start");
}

static int ch_verify(void *state, const stepup_call_ctx *ctx, const char *decision_id,
		     const char *proof_json)
{
	int rc = behave(state, ctx, "verify");
	(void)decision_id;
	if (rc == STEPUP_PLUGIN_OK && !strstr(proof_json, "\"ok\""))
		rc = STEPUP_PLUGIN_REJECTED;
	return rc;
}

static int ch_route(void *state, const stepup_call_ctx *ctx, const char *request_json, int line,
		    stepup_cs_route *out)
{
	ch_state *st = state;
	int rc = behave(st, ctx, "route");
	if (rc != STEPUP_PLUGIN_OK)
		return rc;
	/* A fraud line of its own, and proof of what the host sent. */
	char num[96];
	snprintf(num, sizeof(num), "%s%s", st->number, line == STEPUP_CS_LINE_FRAUD ? " 9" : "");
	if (strstr(request_json, "\"pan\"") || strstr(request_json, "\"csc\"") ||
	    strstr(request_json, "\"phone\"") || strstr(request_json, "\"email\""))
		snprintf(num, sizeof(num), "LEAKED");
	out->number = dup_host(st->host, num);
	out->hours = st->hours[0] ? dup_host(st->host, st->hours) : NULL;
	return out->number ? STEPUP_PLUGIN_OK : STEPUP_PLUGIN_ERROR;
}

static int ch_lookup(void *state, const stepup_call_ctx *ctx, const stepup_account_query *q,
		     char **facts_json)
{
	ch_state *st = state;
	int rc = behave(st, ctx, "lookup");
	if (rc != STEPUP_PLUGIN_OK)
		return rc;
	if (st->facts_raw[0])
		return (*facts_json = dup_host(st->host, st->facts_raw)) ? STEPUP_PLUGIN_OK
									 : STEPUP_PLUGIN_ERROR;
	json_t *acct = json_object_get(st->accounts, q->pan);
	if (!json_is_object(acct))
		return STEPUP_PLUGIN_REJECTED;
	json_t *facts = json_deep_copy(acct), *card = json_object_get(facts, "card");
	const char *want = json_string_value(json_object_get(card, "csc"));
	if (want) {
		json_object_set_new(card, "csc_result",
				    json_string(!q->csc ? "NOT_CHECKED" : strcmp(q->csc, want) == 0 ? "MATCH"
												: "NO_MATCH"));
		json_object_del(card, "csc");
	}
	char *text = json_dumps(facts, JSON_COMPACT);
	json_decref(facts);
	*facts_json = text ? dup_host(st->host, text) : NULL;
	free(text);
	return *facts_json ? STEPUP_PLUGIN_OK : STEPUP_PLUGIN_ERROR;
}

static const stepup_account_source ch_account = {
	sizeof(stepup_account_source), ch_lookup,
};

static const stepup_otp_channel ch_otp = {
	sizeof(stepup_otp_channel), ch_can_deliver, ch_deliver, ch_notify,
};
static const stepup_inapp ch_inapp = {
	sizeof(stepup_inapp), ch_describe, ch_start, ch_verify,
};
static const stepup_cs_router ch_cs = {
	sizeof(stepup_cs_router), ch_route,
};

STEPUP_PLUGIN_EXPORT const stepup_plugin_desc stepup_plugin = {
	.abi_major = STEPUP_PLUGIN_ABI_MAJOR,
	.abi_minor = STEPUP_PLUGIN_ABI_MINOR,
	.name = "channel",
	.version = "0.0.1",
	.init = ch_init,
	.fini = ch_fini,
	.otp = &ch_otp,
	.inapp = &ch_inapp,
	.cs = &ch_cs,
	.account = &ch_account,
};
