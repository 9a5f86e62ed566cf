/* answer.c: MDES answers and errors (answer.h). */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "../metrics.h"
#include "answer.h"

#define VALUE_MAX 64   /* activationMethod.value, the spec's maxLength */
#define DESC_MAX 256   /* errorDescription */

void mdes_response_id(char out[32])
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	unsigned char r[16];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r));
	memcpy(out, "rsp_", 4);
	for (int i = 0; i < 16; i++)
		out[4 + i] = b32[r[i] & 31];
	out[20] = '\0';
}

void mdes_error(http_resp *rs, unsigned status, int cause, const char *code, const char *desc)
{
	char id[32], d[DESC_MAX + 1];
	mdes_response_id(id);
	/* At most 256 characters, cut on a character boundary. */
	size_t n = strlen(desc);
	if (n > DESC_MAX) {
		n = DESC_MAX;
		while (n && ((unsigned char)desc[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(d, desc, n);
	d[n] = '\0';
	rs->status = status;
	rs->cause = cause;
	dbuf_reset(&rs->body);
	dbuf_puts(&rs->body, "{\"responseId\":");
	dbuf_json(&rs->body, id);
	dbuf_puts(&rs->body, ",\"errorCode\":");
	dbuf_json(&rs->body, code);
	dbuf_puts(&rs->body, ",\"errorDescription\":");
	dbuf_json(&rs->body, d[0] ? d : code);
	dbuf_puts(&rs->body, "}");
}

/* A masked e-mail longer than the spec's 64 characters keeps its start
 * and the end of its domain ("ja******@…xample.com"). */
static json_t *value_of(const char *v)
{
	char buf[VALUE_MAX + 1];
	size_t n = v ? strlen(v) : 0;
	if (n == 0)
		return NULL;
	if (n <= VALUE_MAX)
		return json_string(v);
	const char *at = strchr(v, '@');
	size_t head = at && (size_t)(at - v) < 12 ? (size_t)(at - v) + 1 : 0;
	if (!head)
		return NULL;
	size_t tail = VALUE_MAX - head - 3;
	memcpy(buf, v, head);
	memcpy(buf + head, "\xe2\x80\xa6", 3);  /* … */
	memcpy(buf + head + 3, v + n - tail, tail);
	buf[VALUE_MAX] = '\0';
	/* The ellipsis counts as one character of the 64. */
	return json_string(buf);
}

static const char *const mdes_types[STEPUP_METHOD_COUNT] = {
	[STEPUP_IN_APP] = "CARDHOLDER_TO_USE_MOBILE_APP",
	[STEPUP_OTP_SMS] = "TEXT_TO_CARDHOLDER_NUMBER",
	[STEPUP_OTP_EMAIL] = "EMAIL_TO_CARDHOLDER_ADDRESS",
	[STEPUP_CUSTOMER_SERVICE] = "CARDHOLDER_TO_CALL_MANNED_NUMBER",
};

json_t *mdes_activation_methods(const stepup_engine *e, const stepup_request *r, stepup_decision *d,
                                unsigned allowed)
{
	size_t len;
	/* The default contract's response holds every value as it is offered:
	 * masked contacts, the app, the number of the line served. */
	const char *txt = stepup_decision_json(e, r, d, &len);
	json_t *resp = txt ? json_loadb(txt, len, 0, NULL) : NULL, *out = json_array();
	json_t *ms = json_object_get(resp, "idv_methods"), *m;
	size_t i;
	if (!out) {
		json_decref(resp);
		return NULL;
	}
	json_array_foreach(ms, i, m) {
		const char *type = json_string_value(json_object_get(m, "type"));
		int k;
		for (k = 0; k < STEPUP_METHOD_COUNT; k++)
			if (type && strcmp(type, stepup_method_name((stepup_method)k)) == 0)
				break;
		if (k == STEPUP_METHOD_COUNT || !(allowed & (1u << k)))
			continue;
		const char *v = json_string_value(json_object_get(m, k == STEPUP_IN_APP ? "app_id" : "value"));
		if (k == STEPUP_IN_APP && !v)
			v = json_string_value(json_object_get(m, "name"));
		json_t *val = value_of(v), *o = json_object();
		if (!val || !o) {
			/* A method MDES cannot show without a value is not offered. */
			json_decref(val);
			json_decref(o);
			continue;
		}
		json_object_set_new(o, "type", json_string(mdes_types[k]));
		json_object_set_new(o, "value", val);
		json_array_append_new(out, o);
	}
	json_decref(resp);
	return out;
}

/* The declineReasonCode of the first fired RED rule that has one. */
static const char *decline_reason(const mdes_cfg *cfg, const stepup_decision *d)
{
	for (size_t i = 0, n = stepup_decision_fired_count(d); i < n; i++) {
		stepup_outcome o;
		const char *rule = stepup_decision_fired_rule(d, i, &o);
		if (o != STEPUP_RED)
			continue;
		for (size_t k = 0; k < cfg->nreasons; k++)
			if (strcmp(cfg->reasons[k].rule, rule) == 0)
				return cfg->reasons[k].code;
	}
	return NULL;
}

static int finish(dbuf *b, json_t *o)
{
	size_t need = o ? json_dumpb(o, NULL, 0, JSON_COMPACT) : 0;
	int rc = -1;
	if (need && dbuf_reserve(b, need + 1) == 0) {
		b->len += json_dumpb(o, b->s + b->len, need, JSON_COMPACT);
		b->s[b->len] = '\0';
		rc = 0;
	}
	json_decref(o);
	return rc;
}

int mdes_authorize_answer(dbuf *b, const mdes_cfg *cfg, const stepup_engine *e, const stepup_request *r,
                          stepup_decision *d, const mdes_as_answer *a)
{
	json_t *o = json_object();
	stepup_outcome out = stepup_decision_outcome(d);
	if (!o)
		return -1;
	json_object_set_new(o, "responseId", json_string(a->response_id));
	if (out != STEPUP_RED && json_is_array(a->services))
		json_object_set(o, "services", a->services);
	json_object_set_new(o, "decision", json_string(stepup_outcome_network_name(out)));
	if (out == STEPUP_YELLOW) {
		json_t *ms = mdes_activation_methods(e, r, d, ~0u);
		if (!ms) {
			json_decref(o);
			return -1;
		}
		json_object_set_new(o, "activationMethods", ms);
	}
	if (out == STEPUP_RED) {
		const char *why = decline_reason(cfg, d);
		if (why)
			json_object_set_new(o, "declineReasonCode", json_string(why));
	}
	if (a->cvc_response)
		json_object_set_new(o, "cvcResponse", json_string(a->cvc_response));
	return finish(b, o);
}

int mdes_declined_answer(dbuf *b, const char *response_id, const char *cvc_response)
{
	json_t *o = json_object();
	if (!o)
		return -1;
	json_object_set_new(o, "responseId", json_string(response_id));
	json_object_set_new(o, "decision", json_string("DECLINED"));
	if (cvc_response)
		json_object_set_new(o, "cvcResponse", json_string(cvc_response));
	return finish(b, o);
}

int mdes_plain_answer(dbuf *b, const char *response_id, json_t *methods)
{
	json_t *o = json_object();
	if (!o) {
		json_decref(methods);
		return -1;
	}
	json_object_set_new(o, "responseId", json_string(response_id));
	if (methods)
		json_object_set_new(o, "activationMethods", methods);
	return finish(b, o);
}
