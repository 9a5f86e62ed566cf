/* test_cases.c: the step-up lifecycle through the public API
 * (include/stepup/lifecycle.h) against a real SQLite file, a loopback
 * webhook receiver and the recording fake channel: a YELLOW decision opens
 * a case; Deliver OTP goes to the case's contact; activation by customer
 * service, in-app (valid, invalid, declined proof) and after an OTP;
 * every refusal with its code and HTTP status; the send limit; expiry;
 * webhooks (signed, idempotency key, retried, given up) and end-user
 * messages; nothing secret in logs, case reads or notifications. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"
#include "cases_fixture.h"

#define PHONE "+14155551234"
#define EMAIL "jane.doe@example.com"

static int setup(void **state)
{
	tc_env *t = calloc(1, sizeof(*t));
	tc_setup(t);
	tc_open(t, NULL);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	tc_env *t = *state;
	tc_teardown(t);
	free(t);
	return 0;
}

static long long in_5min(void)
{
	return (long long)time(NULL) + 300;
}

/* Wait until the outbox is empty (fails the test after 10 s). */
static void flush(tc_env *t)
{
	assert_int_equal(stepup_cases_flush(t->c, 10000), STEPUP_OK);
}

static int hex_eq_hmac(const char *sig, const char *body, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 8] = "sha256=";
	HMAC(EVP_sha256(), TC_SECRET, (int)strlen(TC_SECRET), (const unsigned char *)body, len, md, &n);
	for (unsigned i = 0; i < n; i++)
		sprintf(hex + 7 + 2 * i, "%02x", md[i]);
	return sig && strcmp(sig, hex) == 0;
}

/* ---- opening ----------------------------------------------------------------- */

static void open_refusals(void **state)
{
	tc_env *t = *state;
	char err[512];
	stepup_cases *c = NULL;
	static const struct {
		const char *patch, *want;
		int rc;
	} cases[] = {
		{ "{\"ttl_seconds\":0}", "cases.ttl_seconds: must be an integer from 1", STEPUP_ECONFIG },
		{ "{\"max_otp_sends\":\"3\"}", "cases.max_otp_sends: must be an integer", STEPUP_ECONFIG },
		{ "{\"ttl\":5}", "cases.ttl: unknown key", STEPUP_ECONFIG },
		{ "{\"store\":\"postgres\"}", "cases.store: must be \"sqlite\"", STEPUP_ECONFIG },
		{ "{\"path\":null}", "cases.path: is required", STEPUP_ECONFIG },
		{ "{\"synchronous\":\"off\"}", "cases.synchronous: must be", STEPUP_ECONFIG },
		{ "{\"webhook\":{\"url\":\"ftp://x\"}}", "cases.webhook.url: must be an http", STEPUP_ECONFIG },
		{ "{\"webhook\":{\"retries\":3}}", "cases.webhook.retries: unknown key", STEPUP_ECONFIG },
		{ "{\"webhook\":{\"backoff_ms\":500,\"max_backoff_ms\":100}}",
		  "cases.webhook.max_backoff_ms: must be at least backoff_ms", STEPUP_ECONFIG },
		{ "{\"webhook\":{\"secret\":null,\"secret_file\":\"/nonexistent/secret\"}}", "cases.webhook.secret_file",
		  STEPUP_EIO },
		{ "{\"notify_end_user\":{\"templates\":{\"en\":\"Card {pan} added\"}}}",
		  "cases.notify_end_user.templates.en: unknown placeholder", STEPUP_ECONFIG },
		{ "{\"notify_end_user\":{\"method\":\"IN_APP\"}}",
		  "cases.notify_end_user.method: must be OTP_SMS", STEPUP_ECONFIG },
		{ "{\"notify_end_user\":{\"templates\":null}}", "cases.notify_end_user.templates: required",
		  STEPUP_ECONFIG },
		{ "{\"notify_end_user\":{\"default_language\":\"de\"}}",
		  "cases.notify_end_user.default_language: has no template", STEPUP_ECONFIG },
		{ "{\"path\":\"/nonexistent/dir/cases.db\"}", "/nonexistent/dir/cases.db", STEPUP_EIO },
	};
	for (size_t i = 0; i < TH_N(cases); i++) {
		char *cfg = tc_config(t, cases[i].patch);
		err[0] = '\0';
		int rc = stepup_cases_open(cfg, NULL, t->ps, tc_log, NULL, &c, err, sizeof(err));
		if (rc != cases[i].rc || !strstr(err, cases[i].want))
			fail_msg("%s: rc %d, err \"%s\"; want %d \"%s\"", cases[i].patch, rc, err, cases[i].rc,
			         cases[i].want);
		assert_null(c);
		free(cfg);
	}
	assert_int_equal(stepup_cases_open("{\"issuer\":{}}", NULL, NULL, NULL, NULL, &c, err, sizeof(err)),
	                 STEPUP_ENOTFOUND);
	assert_int_equal(stepup_cases_open("{not json", NULL, NULL, NULL, NULL, &c, err, sizeof(err)),
	                 STEPUP_ECONFIG);
	/* Relative paths start at base_dir. */
	assert_int_equal(stepup_cases_open("{\"cases\":{\"path\":\"rel.db\",\"background\":false}}",
	                                   t->dir, NULL, NULL, NULL, &c, err, sizeof(err)),
	                 STEPUP_OK);
	stepup_cases_close(c);
	char rel[256];
	snprintf(rel, sizeof(rel), "%s/rel.db", t->dir);
	FILE *f = fopen(rel, "r");
	assert_non_null(f);
	fclose(f);
}

/* A database written by a newer schema is refused, not misread. */
static void newer_schema_refused(void **state)
{
	tc_env *t = *state;
	char path[256], err[512] = "", cfg[512];
	sqlite3 *db;
	stepup_cases *c = NULL;
	snprintf(path, sizeof(path), "%s/newer.db", t->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	snprintf(cfg, sizeof(cfg), "{\"cases\":{\"path\":\"%s\"}}", path);
	assert_int_equal(stepup_cases_open(cfg, NULL, NULL, NULL, NULL, &c, err, sizeof(err)), STEPUP_EVERSION);
	assert_non_null(strstr(err, "schema version 99"));
	assert_null(c);
}

/* ---- recording -------------------------------------------------------------- */

static void only_yellow_opens_a_case(void **state)
{
	tc_env *t = *state;
	stepup_outcome o;
	char *green = tc_decide(t, "{}", &o);
	assert_int_equal(o, STEPUP_GREEN);
	char *red = tc_decide(t, "{\"card\":{\"state\":\"CLOSED\"}}", &o);
	assert_int_equal(o, STEPUP_RED);
	tc_reply r = tc_get(t->c, green);
	assert_int_equal(r.http, 404);
	assert_string_equal(tc_code(&r), "case_not_found");
	assert_int_equal(r.rc, STEPUP_ENOTFOUND);
	tc_reply_free(&r);
	r = tc_get(t->c, red);
	assert_int_equal(r.http, 404);
	tc_reply_free(&r);
	free(green);
	free(red);
}

static void case_holds_masked_contacts(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_reply r = tc_get(t->c, id);
	assert_int_equal(r.http, 200);
	assert_int_equal(r.rc, STEPUP_OK);
	assert_string_equal(tc_str(&r, "status"), "PENDING_IDV");
	assert_string_equal(tc_str(&r, "decision_id"), id);
	assert_string_equal(tc_str(&r, "pan_suffix"), "1234");
	assert_string_equal(tc_str(&r, "language"), "en-US");
	assert_string_equal(tc_str(&r, "token_requestor.name"), "APPLE_PAY");
	json_t *ms = json_object_get(r.body, "idv_methods");
	assert_int_equal(json_array_size(ms), 4);
	static const char *const types[] = { "IN_APP", "OTP_SMS", "OTP_EMAIL", "CUSTOMER_SERVICE" };
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(ms, i), "type")), types[i]);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 1), "value")),
	                    "+1 *** *** 1234");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 2), "value")),
	                    "ja******@example.com");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 3), "value")),
	                    "+1-800-555-0100");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 3), "line")), "STANDARD");
	/* Neither raw contact, nor the PAN, anywhere in the answer. */
	assert_null(strstr(r.text, "4155551234"));
	assert_null(strstr(r.text, "jane.doe"));
	assert_null(strstr(r.text, "5412751234561234"));
	tc_reply_free(&r);

	/* ... nor in the database file (the PAN never; contacts while pending only). */
	free(id);
}

/* The fraud line is kept with its number. */
static void case_keeps_fraud_line(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, "{\"wallet\":{\"device_suspicious\":true}}", NULL);
	tc_reply r = tc_get(t->c, id);
	json_t *ms = json_object_get(r.body, "idv_methods");
	assert_int_equal(json_array_size(ms), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 0), "line")), "FRAUD");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 0), "value")),
	                    "+1-800-555-0199");
	tc_reply_free(&r);
	free(id);
}

/* ---- the main path ------------------------------------------------------------- */

/* YELLOW -> OTP by SMS -> activation by customer service -> one webhook
 * and one end-user message. */
static void sms_then_customer_service(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	flush(t);  /* the in-app start goes out before anything closes the case */
	assert_int_equal(tc_calls(t, "start"), 1);

	tc_reply r = tc_deliver(t->c,
	                        "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"845120\","
	                        "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	                        id, in_5min());
	assert_int_equal(r.http, 200);
	assert_int_equal(r.rc, STEPUP_OK);
	assert_string_equal(tc_str(&r, "status"), "SENT");
	assert_string_equal(tc_str(&r, "destination"), "+1 *** *** 1234");
	assert_int_equal(json_integer_value(json_object_get(r.body, "sends")), 1);
	assert_int_equal(json_integer_value(json_object_get(r.body, "max_sends")), 3);
	assert_null(strstr(r.text, "845120"));
	tc_reply_free(&r);

	/* The channel got the case's phone, the OTP and the case's data. */
	assert_int_equal(tc_calls(t, "deliver_otp"), 1);
	char *f;
	assert_string_equal(f = tc_call_field(t, "deliver_otp", 0, 1), PHONE);
	free(f);
	assert_string_equal(f = tc_call_field(t, "deliver_otp", 0, 2), "845120");
	free(f);
	assert_string_equal(f = tc_call_field(t, "deliver_otp", 0, 4), "CARD-DIGITIZATION");
	free(f);
	assert_string_equal(f = tc_call_field(t, "deliver_otp", 0, 5), "1234");
	free(f);
	assert_string_equal(f = tc_call_field(t, "deliver_otp", 0, 6), "en-US");
	free(f);

	r = tc_activate(t->c,
	                "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC000000000132d72d4fcb2f4136\","
	                "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-007\"}",
	                id);
	assert_int_equal(r.http, 200);
	assert_string_equal(tc_str(&r, "status"), "ACTIVATED");
	assert_string_equal(tc_str(&r, "method"), "CUSTOMER_SERVICE");
	assert_string_equal(tc_str(&r, "agent_id"), "agent-007");
	assert_string_equal(tc_str(&r, "digital_card_id"), "DWSPMC000000000132d72d4fcb2f4136");
	char *first = strdup(r.text);
	tc_reply_free(&r);

	/* The same call again: the same answer, no second transition. */
	r = tc_activate(t->c,
	                "{\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-007\","
	                "\"digital_card_id\":\"DWSPMC000000000132d72d4fcb2f4136\",\"decision_id\":\"%s\"}",
	                id);
	assert_int_equal(r.http, 200);
	assert_string_equal(r.text, first);
	tc_reply_free(&r);
	free(first);

	flush(t);
	tc_sleep_ms(100);  /* anything doubled would have arrived by now */
	assert_int_equal(tc_webhooks(t->sink, NULL), 1);
	const http_sink_request *w = http_sink_get(t->sink, 0);
	assert_string_equal(w->method, "POST");
	assert_string_equal(w->target, "/hooks/stepup");
	char nid[128];
	snprintf(nid, sizeof(nid), "%s.activated", id);
	assert_string_equal(http_sink_header(w, "Idempotency-Key"), nid);
	assert_string_equal(http_sink_header(w, "X-Stepup-Event"), "case.activated");
	assert_true(hex_eq_hmac(http_sink_header(w, "X-Stepup-Signature"), w->body, w->body_len));
	json_t *b = th_json(w->body);
	assert_string_equal(json_string_value(json_object_get(b, "event")), "case.activated");
	assert_string_equal(json_string_value(json_object_get(b, "decision_id")), id);
	assert_string_equal(json_string_value(json_object_get(b, "notification_id")), nid);
	assert_string_equal(json_string_value(json_object_get(b, "digital_card_id")),
	                    "DWSPMC000000000132d72d4fcb2f4136");
	assert_string_equal(json_string_value(json_object_get(b, "method")), "CUSTOMER_SERVICE");
	assert_non_null(json_string_value(json_object_get(b, "at")));
	json_decref(b);
	assert_null(strstr(w->body, "4155551234"));
	assert_null(strstr(w->body, "jane"));

	/* The end user heard, in their language, on the case's phone. */
	assert_int_equal(tc_calls(t, "notify"), 1);
	assert_string_equal(f = tc_call_field(t, "notify", 0, 1), PHONE);
	free(f);
	assert_string_equal(f = tc_call_field(t, "notify", 0, 2),
	                    "Your card ending 1234 was added to Apple Pay.");
	free(f);

	r = tc_get(t->c, id);
	assert_string_equal(tc_str(&r, "status"), "ACTIVATED");
	assert_string_equal(tc_str(&r, "activation.method"), "CUSTOMER_SERVICE");
	assert_string_equal(tc_str(&r, "activation.agent_id"), "agent-007");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "otp"), "sends")), 1);
	tc_reply_free(&r);

	stepup_cases_stats st;
	stepup_cases_stats_get(t->c, &st);
	assert_int_equal(st.opened, 1);
	assert_int_equal(st.otp_sent, 1);
	assert_int_equal(st.activated, 1);
	assert_int_equal(st.notify_delivered, 3);  /* in-app start, webhook, end user */
	assert_int_equal(st.outbox_pending, 0);
	free(id);
}

/* A destination in the body is refused, and nothing is sent anywhere. */
static void destination_refused(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	static const char *const keys[] = { "destination", "phone", "email", "msisdn", "to" };
	for (size_t i = 0; i < TH_N(keys); i++) {
		tc_reply r = tc_deliver(t->c,
		                        "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
		                        "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\",\"%s\":\"+19995550000\"}",
		                        id, in_5min(), keys[i]);
		assert_int_equal(r.http, 400);
		assert_int_equal(r.rc, STEPUP_EBADREQ);
		assert_string_equal(tc_code(&r), "bad_request");
		assert_string_equal(tc_str(&r, "error.field"), keys[i]);
		assert_non_null(strstr(tc_str(&r, "error.message"), "destination is not accepted"));
		assert_null(strstr(r.text, "9995550000"));
		tc_reply_free(&r);
	}
	assert_int_equal(tc_calls(t, "deliver_otp"), 0);
	/* By e-mail it goes to the case's e-mail. */
	tc_reply r = tc_deliver(t->c,
	                        "{\"decision_id\":\"%s\",\"method\":\"OTP_EMAIL\",\"otp\":\"A1B2C3\","
	                        "\"expires_at\":\"2099-01-01T00:00:00Z\",\"reason\":\"DEVICE-BINDING\"}",
	                        id);
	assert_int_equal(r.http, 200);
	assert_string_equal(tc_str(&r, "destination"), "ja******@example.com");
	tc_reply_free(&r);
	char *f = tc_call_field(t, "deliver_otp", 0, 1);
	assert_string_equal(f, EMAIL);
	free(f);
	assert_string_equal(f = tc_call_field(t, "deliver_otp", 0, 3), "4070908800");
	free(f);
	free(id);
}

/* ---- refusals ------------------------------------------------------------------- */

static void deliver_bad_fields(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	long long exp = in_5min();
	struct {
		char body[512];
		const char *field;
	} cases[16];
	size_t n = 0;
#define C(f, ...) (snprintf(cases[n].body, sizeof(cases[n].body), __VA_ARGS__), cases[n++].field = (f))
	C("decision_id", "{\"method\":\"OTP_SMS\",\"otp\":\"123456\",\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", exp);
	C("decision_id", "{\"decision_id\":\"dcs x\",\"method\":\"OTP_SMS\",\"otp\":\"123456\",\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", exp);
	C("decision_id", "{\"decision_id\":\"dcs/../x\",\"method\":\"OTP_SMS\",\"otp\":\"123456\",\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", exp);
	C("method", "{\"decision_id\":\"%s\",\"method\":\"IN_APP\",\"otp\":\"123456\",\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", id, exp);
	C("method", "{\"decision_id\":\"%s\",\"otp\":\"123456\",\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", id, exp);
	C("otp", "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"12\",\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", id, exp);
	C("otp", "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"12 34 56\",\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", id, exp);
	C("otp", "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":123456,\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", id, exp);
	C("expires_at", "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\",\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", id, exp - 600);
	C("expires_at", "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\",\"expires_at\":%lld000,\"reason\":\"CARD-DIGITIZATION\"}", id, exp);
	C("expires_at", "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\",\"expires_at\":\"tomorrow\",\"reason\":\"CARD-DIGITIZATION\"}", id);
	C("expires_at", "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\",\"reason\":\"CARD-DIGITIZATION\"}", id);
	C("reason", "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\",\"expires_at\":%lld,\"reason\":\"FUN\"}", id, exp);
	C("reason", "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\",\"expires_at\":%lld}", id, exp);
	C("", "{\"decision_id\":\"%s\",", id);
	C("", "[1,2]");
#undef C
	for (size_t i = 0; i < n; i++) {
		tc_reply r = tc_deliver(t->c, "%s", cases[i].body);
		if (r.http != 400 || strcmp(tc_code(&r), "bad_request") != 0 ||
		    strcmp(tc_str(&r, "error.field"), cases[i].field) != 0)
			fail_msg("%s: %d %s (want field %s)", cases[i].body, r.http, r.text, cases[i].field);
		/* The OTP value is never quoted back. */
		assert_null(strstr(r.text, "123456"));
		tc_reply_free(&r);
	}
	assert_int_equal(tc_calls(t, "deliver_otp"), 0);
	free(id);
}

static void deliver_refusals(void **state)
{
	tc_env *t = *state;
	long long exp = in_5min();

	/* Unknown case. */
	tc_reply r = tc_deliver(t->c,
	                        "{\"decision_id\":\"dcs_NOPE\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
	                        "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	                        exp);
	assert_int_equal(r.http, 404);
	assert_int_equal(r.rc, STEPUP_ENOTFOUND);
	assert_string_equal(tc_code(&r), "case_not_found");
	tc_reply_free(&r);

	/* Not offered: no phone, no e-mail, no app: customer service only. */
	char *cs_only = tc_decide(t, "{\"wallet\":{\"device_score\":2},\"end_user\":{\"phone\":null,"
	                             "\"email\":null,\"app_enrolled\":false}}", NULL);
	r = tc_deliver(t->c,
	               "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
	               "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	               cs_only, exp);
	assert_int_equal(r.http, 409);
	assert_int_equal(r.rc, STEPUP_ECONFLICT);
	assert_string_equal(tc_code(&r), "method_not_offered");
	tc_reply_free(&r);
	r = tc_get(t->c, cs_only);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "otp"), "sends")), 0);
	tc_reply_free(&r);

	/* Activated: no more OTPs. */
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_activate_cs(t->c, id, "DCARD-1", "agent-1");
	r = tc_deliver(t->c,
	               "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
	               "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	               id, exp);
	assert_int_equal(r.http, 409);
	assert_string_equal(tc_code(&r), "case_activated");
	tc_reply_free(&r);

	/* Declined (in-app proof saying so): no more OTPs either. */
	char *dec = tc_decide(t, TC_YELLOW_ALL, NULL);
	r = tc_activate(t->c,
	                "{\"decision_id\":\"%s\",\"digital_card_id\":\"DCARD-2\",\"method\":\"IN_APP\","
	                "\"proof\":{\"signature\":\"good\",\"result\":\"DECLINED\"}}",
	                dec);
	assert_int_equal(r.http, 200);
	tc_reply_free(&r);
	r = tc_deliver(t->c,
	               "{\"decision_id\":\"%s\",\"method\":\"OTP_EMAIL\",\"otp\":\"123456\","
	               "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	               dec, exp);
	assert_int_equal(r.http, 409);
	assert_string_equal(tc_code(&r), "case_declined");
	tc_reply_free(&r);

	assert_int_equal(tc_calls(t, "deliver_otp"), 0);
	stepup_cases_stats st;
	stepup_cases_stats_get(t->c, &st);
	assert_int_equal(st.otp_refused, 4);
	free(cs_only);
	free(id);
	free(dec);
}

/* Three sends per case by default; the fourth is 429 and says what is left. */
static void send_limit(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	for (int i = 0; i < 3; i++)
		tc_send_sms(t->c, id, "111111");
	tc_reply r = tc_deliver(t->c,
	                        "{\"decision_id\":\"%s\",\"method\":\"OTP_EMAIL\",\"otp\":\"222222\","
	                        "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	                        id, in_5min());
	assert_int_equal(r.http, 429);
	assert_int_equal(r.rc, STEPUP_ETOOBIG);
	assert_string_equal(tc_code(&r), "otp_send_limit");
	json_t *other = json_object_get(json_object_get(r.body, "error"), "other_methods");
	assert_int_equal(json_array_size(other), 2);
	assert_string_equal(json_string_value(json_array_get(other, 0)), "IN_APP");
	assert_string_equal(json_string_value(json_array_get(other, 1)), "CUSTOMER_SERVICE");
	tc_reply_free(&r);
	assert_int_equal(tc_calls(t, "deliver_otp"), 3);

	/* Configurable. */
	tc_open(t, "{\"max_otp_sends\":1}");
	char *id2 = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_send_sms(t->c, id2, "333333");
	r = tc_deliver(t->c,
	               "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"444444\","
	               "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	               id2, in_5min());
	assert_int_equal(r.http, 429);
	tc_reply_free(&r);
	free(id);
	free(id2);
}

/* A channel failure is a 502 naming the methods left; it does not use up
 * a send. */
static void channel_failure(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_control(t, "deliver_otp 3\n");  /* STEPUP_PLUGIN_UNAVAILABLE */
	for (int i = 0; i < 4; i++) {
		tc_reply r = tc_deliver(t->c,
		                        "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"555555\","
		                        "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
		                        id, in_5min());
		assert_int_equal(r.http, 502);
		assert_int_equal(r.rc, STEPUP_EPLUGIN);
		assert_string_equal(tc_code(&r), "channel_failed");
		assert_non_null(strstr(tc_str(&r, "error.message"), "offer another method"));
		json_t *other = json_object_get(json_object_get(r.body, "error"), "other_methods");
		assert_int_equal(json_array_size(other), 3);
		assert_string_equal(json_string_value(json_array_get(other, 1)), "OTP_EMAIL");
		tc_reply_free(&r);
	}
	tc_reply g = tc_get(t->c, id);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(g.body, "otp"), "sends")), 0);
	tc_reply_free(&g);
	/* Mended: sends work again, all three of them. */
	tc_control(t, "");
	for (int i = 0; i < 3; i++)
		tc_send_sms(t->c, id, "666666");
	free(id);
}

static void activation_refusals(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	char *cs_only = tc_decide(t, "{\"wallet\":{\"device_score\":2},\"end_user\":{\"phone\":null,"
	                             "\"email\":null,\"app_enrolled\":false}}", NULL);
	static const struct {
		const char *body, *code, *field;
		int http;
	} cases[] = {
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"CUSTOMER_SERVICE\"}",
		  "bad_request", "agent_id", 400 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"IN_APP\"}",
		  "bad_request", "proof", 400 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"IN_APP\",\"proof\":\"x\"}",
		  "bad_request", "proof", 400 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"IN_APP\","
		  "\"proof\":{\"signature\":\"good\",\"result\":\"MAYBE\"}}",
		  "bad_request", "proof.result", 400 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"IN_APP\","
		  "\"agent_id\":\"a\",\"proof\":{}}",
		  "bad_request", "agent_id", 400 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"CUSTOMER_SERVICE\","
		  "\"agent_id\":\"a\",\"proof\":{}}",
		  "bad_request", "proof", 400 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"PIGEON\"}",
		  "bad_request", "method", 400 },
		{ "{\"decision_id\":\"%s\",\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"a\"}",
		  "bad_request", "digital_card_id", 400 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"4111111111111111\","
		  "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"a\"}",
		  "bad_request", "digital_card_id", 400 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"OTP_SMS\"}",
		  "otp_not_sent", "method", 409 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"IN_APP\","
		  "\"proof\":{\"signature\":\"bad\"}}",
		  "invalid_proof", "proof", 422 },
		/* Malformed for the plugin: still the proof's fault, not the channel's. */
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"IN_APP\","
		  "\"proof\":{\"signature\":\"garbled\"}}",
		  "invalid_proof", "proof", 422 },
		{ "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"IN_APP\","
		  "\"proof\":{\"signature\":\"good\",\"decision_id\":\"dcs_OTHER\"}}",
		  "invalid_proof", "proof.decision_id", 422 },
	};
	for (size_t i = 0; i < TH_N(cases); i++) {
		tc_reply r = tc_activate(t->c, cases[i].body, id);
		if (r.http != cases[i].http || strcmp(tc_code(&r), cases[i].code) != 0 ||
		    strcmp(tc_str(&r, "error.field"), cases[i].field) != 0)
			fail_msg("%s: %d %s", cases[i].body, r.http, r.text);
		assert_null(strstr(r.text, "4111111111111111"));
		tc_reply_free(&r);
	}
	tc_reply r = tc_activate(t->c,
	                         "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"IN_APP\","
	                         "\"proof\":{\"signature\":\"good\"}}",
	                         cs_only);
	assert_int_equal(r.http, 409);
	assert_string_equal(tc_code(&r), "method_not_offered");
	tc_reply_free(&r);
	r = tc_activate(t->c,
	                "{\"decision_id\":\"dcs_UNKNOWN\",\"digital_card_id\":\"D1\","
	                "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"a\"}");
	assert_int_equal(r.http, 404);
	assert_string_equal(tc_code(&r), "case_not_found");
	tc_reply_free(&r);
	/* A card number in place of a decision id is refused unquoted. */
	r = tc_activate(t->c,
	                "{\"decision_id\":\"4111111111111111\",\"digital_card_id\":\"D1\","
	                "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"a\"}");
	assert_int_equal(r.http, 400);
	assert_string_equal(tc_code(&r), "bad_request");
	assert_null(strstr(r.text, "4111111111111111"));
	tc_reply_free(&r);
	r = tc_get(t->c, "dcs_4111111111111111");
	assert_int_equal(r.http, 400);
	assert_null(strstr(r.text, "4111111111111111"));
	tc_reply_free(&r);

	/* After all that the case is untouched. */
	r = tc_get(t->c, id);
	assert_string_equal(tc_str(&r, "status"), "PENDING_IDV");
	tc_reply_free(&r);

	/* Closed once; anything else is a conflict, the same call is not. */
	tc_activate_cs(t->c, id, "D1", "agent-1");
	static const char *const conflicting[] = {
		"{\"decision_id\":\"%s\",\"digital_card_id\":\"D2\",\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-1\"}",
		"{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-2\"}",
		"{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\",\"method\":\"IN_APP\",\"proof\":{\"signature\":\"good\"}}",
	};
	for (size_t i = 0; i < TH_N(conflicting); i++) {
		r = tc_activate(t->c, conflicting[i], id);
		assert_int_equal(r.http, 409);
		assert_int_equal(r.rc, STEPUP_ECONFLICT);
		assert_string_equal(tc_code(&r), "activation_conflict");
		tc_reply_free(&r);
	}
	tc_activate_cs(t->c, id, "D1", "agent-1");
	/* Proofs are only verified for a pending case: the bad and the
	 * garbled one above. */
	assert_int_equal(tc_calls(t, "verify"), 2);
	free(id);
	free(cs_only);
}

/* ---- card numbers: the one policy (docs/pci.md) --------------------------------- */

/* Issue 9 item 1's spellings, and the digits each holds. */
static const struct {
	const char *text, *digits;
} spellings[] = {
	{ "4111111111111111", "4111111111111111" },
	{ "DWSPMC4111111111111111", "4111111111111111" },
	{ "4111-1111-1111-1111", "4111111111111111" },
	{ "req4111111111111111", "4111111111111111" },
	{ "4111111111111111x", "4111111111111111" },
	{ "4111/1111/1111/1111", "4111111111111111" },
	{ "4111:1111:1111:1111", "4111111111111111" },
	{ "4111+1111+1111+1111", "4111111111111111" },
	{ "4111 1111 1111 1111", "4111111111111111" },
	{ "4111.1111.1111.1111", "4111111111111111" },
	{ "4111_1111_1111_1111", "4111111111111111" },
	{ "card5555555555554444", "5555555555554444" },
	{ "3782-822463-10005", "378282246310005" },
	{ "6011 1111 1111 1117 exp 12/29", "6011111111111117" },
};

/* A copy of base (a JSON object) with the value at `path` ("a.b",
 * "items[1]") set to v (stolen); "{key}" makes v's text a key instead. */
static char *with_value(json_t *base, const char *path, json_t *v)
{
	json_t *doc = json_deep_copy(base), *o = doc;
	char buf[64], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", path);
	if (strcmp(path, "{key}") == 0) {
		json_object_set_new(doc, json_string_value(v), json_string("x"));
		json_decref(v);
	} else if (strcmp(path, "items[1]") == 0) {
		json_t *a = json_array();
		json_array_append_new(a, json_string("fine"));
		json_array_append_new(a, v);
		json_object_set_new(doc, "items", a);
	} else {
		char *k = strtok_r(buf, ".", &save), *next;
		while ((next = strtok_r(NULL, ".", &save))) {
			json_t *c = json_object_get(o, k);
			if (!json_is_object(c)) {
				c = json_object();
				json_object_set_new(o, k, c);
			}
			o = c;
			k = next;
		}
		json_object_set_new(o, k, v);
	}
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	assert_non_null(text);
	return text;
}

typedef int (*lc_call)(stepup_cases *, const char *, size_t, char **, size_t *, int *);

/* Refused with 400 naming `field`, and nothing of the number in the answer. */
static void expect_card_refused(stepup_cases *c, lc_call fn, const char *body, size_t i,
                                const char *field, char **seen)
{
	char *out = NULL;
	size_t len = 0;
	int http = 0;
	int rc = fn ? fn(c, body, strlen(body), &out, &len, &http)
	            : stepup_cases_get_json(c, body, &out, &len, &http);
	assert_non_null(out);
	json_t *j = th_json(out);
	const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
	const char *f = json_string_value(json_object_get(json_object_get(j, "error"), "field"));
	if (rc != STEPUP_EBADREQ || http != 400 || !code || strcmp(code, "bad_request") != 0 || !f ||
	    strcmp(f, field) != 0)
		fail_msg("%s (spelling %zu): %d %d %s, wanted 400 naming \"%s\"", body, i, rc, http, out, field);
	if (tc_holds_digits(out, len, spellings[i].digits))
		fail_msg("%s: the answer quotes the card number: %s", body, out);
	json_decref(j);
	size_t n = *seen ? strlen(*seen) : 0;
	*seen = realloc(*seen, n + len + 2);
	memcpy(*seen + n, out, len);
	strcpy(*seen + n + len, "\n");
	free(out);
}

/* A card number in any spelling, in any field of Deliver OTP, activation
 * and case reads (known fields, unknown ones, nested, a key, a number):
 * 400 naming the field, never quoted back; it reaches no channel, no
 * database file, no webhook and no log line. Harmless long numbers pass. */
static void card_numbers_refused(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	char *seen = NULL;
	flush(t);
	size_t starts = tc_calls(t, "start");
	tc_log_clear();

	json_t *deliver = json_pack("{s:s, s:s, s:s, s:I, s:s}", "decision_id", id, "method", "OTP_SMS",
	                            "otp", "845120", "expires_at", (json_int_t)in_5min(), "reason",
	                            "CARD-DIGITIZATION");
	json_t *by_cs = json_pack("{s:s, s:s, s:s, s:s}", "decision_id", id, "digital_card_id",
	                          "DWSPMC-OK-1", "method", "CUSTOMER_SERVICE", "agent_id", "agent-7");
	json_t *in_app = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "decision_id", id,
	                           "digital_card_id", "DWSPMC-OK-1", "method", "IN_APP", "proof",
	                           "signature", "good", "result", "APPROVED", "decision_id", id);
	static const struct {
		int which;  /* 0 deliver, 1 customer service, 2 in-app */
		const char *path, *field;
	} places[] = {
		{ 0, "decision_id", "decision_id" }, { 0, "method", "method" }, { 0, "otp", "otp" },
		{ 0, "expires_at", "expires_at" }, { 0, "reason", "reason" }, { 0, "note", "note" },
		{ 0, "card.pan", "card.pan" }, { 0, "destination", "destination" },
		{ 0, "items[1]", "items[1]" }, { 0, "{key}", "" },
		{ 1, "decision_id", "decision_id" }, { 1, "digital_card_id", "digital_card_id" },
		{ 1, "method", "method" }, { 1, "agent_id", "agent_id" }, { 1, "comment", "comment" },
		{ 2, "proof.signature", "proof.signature" }, { 2, "proof.result", "proof.result" },
		{ 2, "proof.decision_id", "proof.decision_id" }, { 2, "proof.device.id", "proof.device.id" },
		{ 2, "{key}", "" },
	};
	json_t *bases[] = { deliver, by_cs, in_app };
	lc_call fns[] = { stepup_cases_deliver_otp_json, stepup_cases_activate_json,
		          stepup_cases_activate_json };
	size_t calls = 0;
	for (size_t i = 0; i < TH_N(spellings); i++) {
		for (size_t k = 0; k < TH_N(places); k++) {
			char *body = with_value(bases[places[k].which], places[k].path,
			                        json_string(spellings[i].text));
			expect_card_refused(t->c, fns[places[k].which], body, i, places[k].field, &seen);
			free(body);
			calls++;
		}
		/* GET /v1/cases/{decision_id} */
		expect_card_refused(t->c, NULL, spellings[i].text, i, "decision_id", &seen);
		calls++;
	}
	/* As numbers: a card number is a card number in a JSON number too. */
	static const struct {
		int which;
		const char *path, *field;
		json_int_t v;
	} numbers[] = {
		{ 0, "expires_at", "expires_at", 4111111111111111LL },
		{ 0, "otp", "otp", 5555555555554444LL },
		{ 2, "proof.n", "proof.n", 4111111111111111LL },
		{ 1, "ids[1]", "ids", 378282246310005LL },
	};
	for (size_t k = 0; k < TH_N(numbers); k++) {
		char *body;
		if (strcmp(numbers[k].path, "ids[1]") == 0) {
			json_t *a = json_pack("[s, I]", "x", numbers[k].v);
			body = with_value(bases[numbers[k].which], "ids", a);
		} else
			body = with_value(bases[numbers[k].which], numbers[k].path, json_integer(numbers[k].v));
		char *out = NULL;
		size_t len = 0;
		int http = 0;
		fns[numbers[k].which](t->c, body, strlen(body), &out, &len, &http);
		json_t *j = th_json(out);
		const char *f = json_string_value(json_object_get(json_object_get(j, "error"), "field"));
		if (http != 400 || !f || strncmp(f, numbers[k].field, strlen(numbers[k].field)) != 0)
			fail_msg("%s: %d %s", body, http, out);
		assert_false(tc_holds_digits(out, len, "4111111111111111"));
		assert_false(tc_holds_digits(out, len, "5555555555554444"));
		assert_false(tc_holds_digits(out, len, "378282246310005"));
		json_decref(j);
		free(out);
		free(body);
	}
	assert_true(calls >= 280);

	/* Nothing reached a channel; the case is as it was. */
	assert_int_equal(tc_calls(t, "deliver_otp"), 0);
	assert_int_equal(tc_calls(t, "verify"), 0);
	tc_reply r = tc_get(t->c, id);
	assert_string_equal(tc_str(&r, "status"), "PENDING_IDV");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "otp"), "sends")), 0);
	tc_reply_free(&r);

	/* Harmless long numbers are not card numbers (docs/pci.md): a
	 * nanosecond timestamp, a 20-digit reference, a run failing Luhn. */
	tc_send_sms(t->c, id, "845120");
	r = tc_activate(t->c,
	                "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC1700000000123456789\","
	                "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-5412751234561234\","
	                "\"ticket\":\"99999999999999999999\"}",
	                id);
	if (r.http != 200)
		fail_msg("harmless numbers refused: %d %s", r.http, r.text);
	tc_reply_free(&r);
	flush(t);
	assert_int_equal(tc_webhooks(t->sink, NULL), 1);
	assert_int_equal(tc_calls(t, "start"), starts);

	/* Nowhere: answers, channel, webhooks, log, database and WAL. */
	char wal[256];
	snprintf(wal, sizeof(wal), "%s-wal", t->db);
	static const char *const all_digits[] = { "4111111111111111", "5555555555554444",
		                                  "378282246310005", "6011111111111117" };
	for (size_t i = 0; i < TH_N(all_digits); i++) {
		const char *d = all_digits[i];
		assert_false(tc_holds_digits(seen, strlen(seen), d));
		assert_false(tc_file_holds_digits(t->record, d));
		assert_false(tc_holds_digits(tc_log_text(), strlen(tc_log_text()), d));
		for (size_t w = 0; w < http_sink_count(t->sink); w++) {
			const http_sink_request *q = http_sink_get(t->sink, w);
			assert_false(tc_holds_digits(q->body, q->body_len, d));
		}
		assert_false(tc_file_holds_digits(t->db, d));
		assert_false(tc_file_holds_digits(wal, d));
	}
	/* Not vacuous: the files are there and the spellings are found. */
	assert_true(tc_file_holds_digits(t->record, "845120"));
	assert_true(tc_file_holds_digits(wal, "DWSPMC1700000000123456789") ||
	            tc_file_holds_digits(t->db, "DWSPMC1700000000123456789"));
	for (size_t i = 0; i < TH_N(spellings); i++)
		assert_true(tc_holds_digits(spellings[i].text, strlen(spellings[i].text), spellings[i].digits));
	json_decref(deliver);
	json_decref(by_cs);
	json_decref(in_app);
	free(seen);
	free(id);
}

/* ---- in-app ------------------------------------------------------------------- */

static void inapp_paths(void **state)
{
	tc_env *t = *state;

	/* Recording a case with IN_APP offered queues the in-app start. */
	char *ok = tc_decide(t, TC_YELLOW_ALL, NULL);
	flush(t);
	assert_int_equal(tc_calls(t, "start"), 1);
	char *f = tc_call_field(t, "start", 0, 1);
	assert_string_equal(f, ok);
	free(f);
	f = tc_call_field(t, "start", 0, 2);  /* the request summary: no secrets, no contacts */
	assert_non_null(strstr(f, "\"pan_suffix\":\"1234\""));
	assert_null(strstr(f, "5412751234561234"));
	assert_null(strstr(f, "4155551234"));
	assert_null(strstr(f, "jane.doe"));
	free(f);

	/* Invalid proof: 422, case unchanged, then a valid one works. */
	tc_reply r = tc_activate(t->c,
	                         "{\"decision_id\":\"%s\",\"digital_card_id\":\"DAPP-1\",\"method\":\"IN_APP\","
	                         "\"proof\":{\"signature\":\"forged\",\"nonce\":\"n1\"}}",
	                         ok);
	assert_int_equal(r.http, 422);
	assert_string_equal(tc_code(&r), "invalid_proof");
	tc_reply_free(&r);
	r = tc_get(t->c, ok);
	assert_string_equal(tc_str(&r, "status"), "PENDING_IDV");
	tc_reply_free(&r);
	r = tc_activate(t->c,
	                "{\"decision_id\":\"%s\",\"digital_card_id\":\"DAPP-1\",\"method\":\"IN_APP\","
	                "\"proof\":{\"signature\":\"good\",\"nonce\":\"n2\",\"result\":\"APPROVED\"}}",
	                ok);
	assert_int_equal(r.http, 200);
	assert_string_equal(tc_str(&r, "status"), "ACTIVATED");
	assert_string_equal(tc_str(&r, "method"), "IN_APP");
	char *first = strdup(r.text);
	tc_reply_free(&r);
	/* The plugin saw the decision id and the proof. */
	f = tc_call_field(t, "verify", 1, 1);
	assert_string_equal(f, ok);
	free(f);
	/* The same proof again, keys in another order: idempotent. */
	r = tc_activate(t->c,
	                "{\"decision_id\":\"%s\",\"digital_card_id\":\"DAPP-1\",\"method\":\"IN_APP\","
	                "\"proof\":{\"result\":\"APPROVED\", \"nonce\":\"n2\",\"signature\":\"good\"}}",
	                ok);
	assert_int_equal(r.http, 200);
	assert_string_equal(r.text, first);
	tc_reply_free(&r);
	/* Another proof on the activated case: conflict. */
	r = tc_activate(t->c,
	                "{\"decision_id\":\"%s\",\"digital_card_id\":\"DAPP-1\",\"method\":\"IN_APP\","
	                "\"proof\":{\"signature\":\"good\",\"nonce\":\"n3\"}}",
	                ok);
	assert_int_equal(r.http, 409);
	assert_string_equal(tc_code(&r), "activation_conflict");
	tc_reply_free(&r);
	free(first);

	/* A valid proof saying DECLINED declines the case. */
	char *no = tc_decide(t, TC_YELLOW_ALL, NULL);
	r = tc_activate(t->c,
	                "{\"decision_id\":\"%s\",\"digital_card_id\":\"DAPP-2\",\"method\":\"IN_APP\","
	                "\"proof\":{\"signature\":\"good\",\"result\":\"DECLINED\"}}",
	                no);
	assert_int_equal(r.http, 200);
	assert_string_equal(tc_str(&r, "status"), "DECLINED");
	tc_reply_free(&r);

	/* The in-app backend being down is a 502, the case unchanged. */
	char *down = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_control(t, "verify 1\n");
	r = tc_activate(t->c,
	                "{\"decision_id\":\"%s\",\"digital_card_id\":\"DAPP-3\",\"method\":\"IN_APP\","
	                "\"proof\":{\"signature\":\"good\"}}",
	                down);
	assert_int_equal(r.http, 502);
	assert_string_equal(tc_code(&r), "channel_failed");
	tc_reply_free(&r);
	tc_control(t, "");

	flush(t);
	tc_sleep_ms(50);
	char key[128];
	snprintf(key, sizeof(key), "%s.activated", ok);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	snprintf(key, sizeof(key), "%s.declined", no);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	assert_int_equal(tc_webhooks(t->sink, NULL), 2);
	/* The end user hears about the activation only. */
	assert_int_equal(tc_calls(t, "notify"), 1);
	r = tc_get(t->c, no);
	assert_string_equal(tc_str(&r, "status"), "DECLINED");
	tc_reply_free(&r);
	r = tc_get(t->c, down);
	assert_string_equal(tc_str(&r, "status"), "PENDING_IDV");
	tc_reply_free(&r);
	free(ok);
	free(no);
	free(down);
}

/* After an OTP the TSP activates; the issuer side may report it. */
static void otp_activation(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_send_sms(t->c, id, "777777");
	tc_reply r = tc_activate(t->c,
	                         "{\"decision_id\":\"%s\",\"digital_card_id\":\"DOTP-1\",\"method\":\"OTP_EMAIL\"}",
	                         id);
	assert_int_equal(r.http, 409);
	assert_string_equal(tc_code(&r), "otp_not_sent");
	tc_reply_free(&r);
	r = tc_activate(t->c, "{\"decision_id\":\"%s\",\"digital_card_id\":\"DOTP-1\",\"method\":\"OTP_SMS\"}",
	                id);
	assert_int_equal(r.http, 200);
	assert_string_equal(tc_str(&r, "method"), "OTP_SMS");
	tc_reply_free(&r);
	free(id);
}

/* ---- expiry -------------------------------------------------------------------- */

static void expiry(void **state)
{
	tc_env *t = *state;
	tc_open(t, "{\"ttl_seconds\":1,\"background\":false}");
	int64_t t0 = tc_now_ms();
	char *swept = tc_decide(t, TC_YELLOW_ALL, NULL);
	char *lazy = tc_decide(t, TC_YELLOW_ALL, NULL);
	unsigned n = 99;
	assert_int_equal(stepup_cases_tick(t->c, &n), STEPUP_OK);
	if (tc_now_ms() - t0 < 900)  /* not yet due, unless this machine is crawling */
		assert_int_equal(n, 0);
	tc_sleep_ms(1100);

	/* A call that finds a case due expires it on the spot. */
	tc_reply r = tc_activate(t->c,
	                         "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\","
	                         "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"a\"}",
	                         lazy);
	assert_int_equal(r.http, 410);
	assert_int_equal(r.rc, STEPUP_ESTATE);
	assert_string_equal(tc_code(&r), "case_expired");
	tc_reply_free(&r);

	assert_int_equal(stepup_cases_tick(t->c, &n), STEPUP_OK);
	assert_int_equal(n, 1);
	/* Without a background thread, tick delivers what is due. */
	char key[128];
	snprintf(key, sizeof(key), "%s.expired", swept);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	r = tc_get(t->c, swept);
	assert_string_equal(tc_str(&r, "status"), "EXPIRED");
	assert_int_equal(json_object_get(r.body, "activation"), NULL);
	tc_reply_free(&r);
	r = tc_deliver(t->c,
	               "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
	               "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	               swept, in_5min());
	assert_int_equal(r.http, 410);
	assert_string_equal(tc_code(&r), "case_expired");
	tc_reply_free(&r);
	r = tc_activate(t->c,
	                "{\"decision_id\":\"%s\",\"digital_card_id\":\"D1\","
	                "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"a\"}",
	                swept);
	assert_int_equal(r.http, 410);
	tc_reply_free(&r);

	/* ... and flush on this thread too. */
	assert_int_equal(stepup_cases_flush(t->c, 5000), STEPUP_OK);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	snprintf(key, sizeof(key), "%s.expired", lazy);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	const http_sink_request *w = http_sink_get(t->sink, http_sink_count(t->sink) - 1);
	json_t *b = th_json(w->body);
	assert_string_equal(json_string_value(json_object_get(b, "event")), "case.expired");
	assert_true(json_is_null(json_object_get(b, "method")));
	json_decref(b);
	/* No end-user message for an expiry. */
	assert_int_equal(tc_calls(t, "notify"), 0);
	stepup_cases_stats st;
	stepup_cases_stats_get(t->c, &st);
	assert_int_equal(st.expired, 2);
	free(swept);
	free(lazy);
}

/* The background thread sweeps by itself. */
static void expiry_in_background(void **state)
{
	tc_env *t = *state;
	tc_open(t, "{\"ttl_seconds\":1}");
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	char key[128];
	snprintf(key, sizeof(key), "%s.expired", id);
	int64_t until = tc_now_ms() + 10000;
	while (tc_webhooks(t->sink, key) == 0 && tc_now_ms() < until)
		tc_sleep_ms(20);
	assert_int_equal(tc_webhooks(t->sink, key), 1);
	free(id);
}

/* ---- notifications --------------------------------------------------------------- */

/* 503 twice, then 200: delivered, same id every time, accepted once. */
static void webhook_retried(void **state)
{
	tc_env *t = *state;
	http_sink_reply busy = { .status = 503 };
	http_sink_set_reply(t->sink, &busy);
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_activate_cs(t->c, id, "D1", "agent-1");
	int64_t until = tc_now_ms() + 10000;
	while (tc_webhooks(t->sink, NULL) < 2 && tc_now_ms() < until)
		tc_sleep_ms(10);
	http_sink_reply fine = { .status = 200 };
	http_sink_set_reply(t->sink, &fine);
	flush(t);
	size_t n = tc_webhooks(t->sink, NULL);
	assert_true(n >= 3);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(http_sink_header(http_sink_get(t->sink, i), "Idempotency-Key"),
		                    http_sink_header(http_sink_get(t->sink, 0), "Idempotency-Key"));
	tc_sleep_ms(300);  /* past any backoff: nothing more comes */
	assert_int_equal(tc_webhooks(t->sink, NULL), n);
	stepup_cases_stats st;
	stepup_cases_stats_get(t->c, &st);
	assert_true(st.notify_retried >= 2);
	assert_non_null(strstr(tc_log_text(), "HTTP 503"));
	free(id);
}

/* After max_attempts the notification is marked failed and logged. */
static void webhook_gives_up(void **state)
{
	tc_env *t = *state;
	tc_open(t, "{\"webhook\":{\"max_attempts\":2}}");
	http_sink_reply bad = { .status = 500 };
	http_sink_set_reply(t->sink, &bad);
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_activate_cs(t->c, id, "D1", "agent-1");
	flush(t);  /* "failed" is not pending */
	assert_int_equal(tc_webhooks(t->sink, NULL), 2);
	stepup_cases_stats st;
	stepup_cases_stats_get(t->c, &st);
	assert_int_equal(st.notify_gave_up, 1);
	assert_non_null(strstr(tc_log_text(), "failed for good after 2 attempts"));
	free(id);
}

/* Language from the case; wallet names; unknown names as they are. */
static void end_user_language(void **state)
{
	tc_env *t = *state;
	tc_open(t, "{\"notify_end_user\":{\"method\":[\"OTP_EMAIL\",\"OTP_SMS\"],"
	           "\"wallet_names\":{\"ACME_PAY\":\"Acme Pay\"}}}");
	char *fr = tc_decide(t, "{\"wallet\":{\"device_score\":2},\"end_user\":{\"language\":\"fr-CA\"},"
	                        "\"token_requestor\":{\"name\":\"GOOGLE_PAY\"}}", NULL);
	char *de = tc_decide(t, "{\"wallet\":{\"device_score\":2},\"end_user\":{\"language\":\"de-DE\","
	                        "\"email\":null},\"token_requestor\":{\"name\":\"ACME_PAY\"}}", NULL);
	tc_activate_cs(t->c, fr, "D1", "a");
	tc_activate_cs(t->c, de, "D2", "a");
	flush(t);
	assert_int_equal(tc_calls(t, "notify"), 2);
	char *f = tc_call_field(t, "notify", 0, 1);
	assert_string_equal(f, EMAIL);  /* e-mail first, as configured */
	free(f);
	f = tc_call_field(t, "notify", 0, 2);
	assert_string_equal(f, "Votre carte se terminant par 1234 a \xc3\xa9t\xc3\xa9 ajout\xc3\xa9"
	                       "e \xc3\xa0 Google Pay.");
	free(f);
	f = tc_call_field(t, "notify", 0, 3);
	assert_string_equal(f, "fr-CA");
	free(f);
	/* No e-mail held: SMS; no German template: the default language. */
	f = tc_call_field(t, "notify", 1, 1);
	assert_string_equal(f, PHONE);
	free(f);
	f = tc_call_field(t, "notify", 1, 2);
	assert_string_equal(f, "Your card ending 1234 was added to Acme Pay.");
	free(f);
	free(fr);
	free(de);
}

/* A failing end-user channel is retried like a webhook. */
static void end_user_retried(void **state)
{
	tc_env *t = *state;
	tc_control(t, "notify 3\n");
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_activate_cs(t->c, id, "D1", "a");
	tc_sleep_ms(200);
	assert_int_equal(tc_calls(t, "notify"), 0);
	tc_control(t, "");
	flush(t);
	assert_int_equal(tc_calls(t, "notify"), 1);
	free(id);
}

/* Nothing secret in the log, whatever happened. */
static void logs_carry_no_pii(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_send_sms(t->c, id, "918273");
	tc_control(t, "deliver_otp 1\n");
	tc_reply r = tc_deliver(t->c,
	                        "{\"decision_id\":\"%s\",\"method\":\"OTP_EMAIL\",\"otp\":\"564738\","
	                        "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}",
	                        id, in_5min());
	tc_reply_free(&r);
	tc_control(t, "");
	tc_activate_cs(t->c, id, "D1", "agent-1");
	flush(t);
	const char *log = tc_log_text();
	assert_non_null(strstr(log, id));
	assert_non_null(strstr(log, "ACTIVATED"));
	assert_null(strstr(log, "918273"));
	assert_null(strstr(log, "564738"));
	assert_null(strstr(log, "4155551234"));
	assert_null(strstr(log, "jane.doe"));
	assert_null(strstr(log, "5412751234561234"));
	free(id);
}

/* Once a case is closed and its message sent, its raw contacts are erased
 * from the database; the masked forms stay for display. */
static void contacts_erased_after_close(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	sqlite3 *db;
	sqlite3_stmt *st;
	const char *q = "SELECT count(*) FROM cases WHERE phone IS NOT NULL OR email IS NOT NULL";
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	sqlite3_reset(st);
	tc_activate_cs(t->c, id, "D1", "a");
	flush(t);
	assert_int_equal(stepup_cases_tick(t->c, NULL), STEPUP_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	/* No PAN, no CSC anywhere. */
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM cases", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		for (int k = 0; k < sqlite3_column_count(st); k++) {
			const char *v = (const char *)sqlite3_column_text(st, k);
			assert_true(!v || !strstr(v, "5412751234561234"));
		}
	sqlite3_finalize(st);
	sqlite3_close(db);
	tc_reply r = tc_get(t->c, id);
	json_t *ms = json_object_get(r.body, "idv_methods");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 1), "value")),
	                    "+1 *** *** 1234");
	tc_reply_free(&r);
	free(id);
}

static void bad_arguments(void **state)
{
	tc_env *t = *state;
	char *out = NULL;
	size_t len = 0;
	int http = 0;
	assert_int_equal(stepup_cases_deliver_otp_json(NULL, "{}", 2, &out, &len, &http), STEPUP_EINVAL);
	assert_int_equal(stepup_cases_activate_json(t->c, "{}", 2, NULL, &len, &http), STEPUP_EINVAL);
	assert_int_equal(stepup_cases_record(t->c, NULL, NULL, NULL, NULL, 0), STEPUP_EINVAL);
	assert_int_equal(stepup_cases_get_json(t->c, "../../etc", &out, &len, &http), STEPUP_EBADREQ);
	assert_int_equal(http, 400);
	free(out);
	assert_int_equal(stepup_cases_tick(NULL, NULL), STEPUP_EINVAL);
	assert_int_equal(stepup_cases_flush(NULL, 0), STEPUP_EINVAL);
	stepup_cases_close(NULL);
	/* A body over the limit. */
	size_t big = 70000;
	char *body = malloc(big);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	assert_int_equal(stepup_cases_deliver_otp_json(t->c, body, big, &out, &len, &http), STEPUP_ETOOBIG);
	assert_int_equal(http, 413);
	free(out);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(only_yellow_opens_a_case, setup, teardown),
		cmocka_unit_test_setup_teardown(case_holds_masked_contacts, setup, teardown),
		cmocka_unit_test_setup_teardown(case_keeps_fraud_line, setup, teardown),
		cmocka_unit_test_setup_teardown(sms_then_customer_service, setup, teardown),
		cmocka_unit_test_setup_teardown(destination_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(deliver_bad_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(deliver_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(send_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(channel_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(activation_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(card_numbers_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(inapp_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(otp_activation, setup, teardown),
		cmocka_unit_test_setup_teardown(expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(expiry_in_background, setup, teardown),
		cmocka_unit_test_setup_teardown(webhook_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(webhook_gives_up, setup, teardown),
		cmocka_unit_test_setup_teardown(end_user_language, setup, teardown),
		cmocka_unit_test_setup_teardown(end_user_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(logs_carry_no_pii, setup, teardown),
		cmocka_unit_test_setup_teardown(contacts_erased_after_close, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
