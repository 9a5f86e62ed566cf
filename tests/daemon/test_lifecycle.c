/* test_lifecycle.c: the step-up lifecycle end to end (issue 5, item 6).
 *
 * A real stepupd (the freshly built one) on 127.0.0.1 with a real SQLite
 * file in its scratch directory and the reference plugins built in this
 * tree (plugins/.libs: otp_sms_http, otp_email_smtp, inapp_http,
 * cs_router), pointed at loopback receivers running in this process
 * (tests/servers): an SMS gateway, a mail server, the issuer backend of
 * the in-app plugin and the issuer backend's webhook.
 *
 * Groups: the flows and every refusal; expiry and the issuer token;
 * durability (restart, kill -9 in a burst of activations, a webhook
 * receiver down then back); the canary (no card data, contact or OTP in
 * any log, output file or the database). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "http_sink.h"
#include "smtp_sink.h"

#ifndef BUILDDIR
#error "BUILDDIR must name the build tree (the reference plugins are loaded from it)"
#endif

#define JSON_CT "application/json"
#define WEBHOOK_SECRET "lifecycle-webhook-secret"
/* The in-app plugin's key (32 bytes) and its hex form for the config. */
#define INAPP_KEY "key-for-the-in-app-plugin-test!!"
#define INAPP_KEY_HEX "6b65792d666f722d7468652d696e2d6170702d706c7567696e2d746573742121"
#define ISSUER_TOKEN "issuer-token-0123456789abcdef"
#define CASE_PHONE "+14155551234"   /* tests/data/sample-request.json */
#define CASE_EMAIL "jane.doe@example.com"

static hd D;
static char *yellow_req;       /* YELLOW with IN_APP, OTP_SMS, OTP_EMAIL, CUSTOMER_SERVICE */
static http_sink *sms, *hook, *backend;
static smtp_sink *smtp;
static uint16_t hook_port;
/* Sent with every issuer-side call (NULL: rely on loopback). */
static const char *auth_header;

/* ---- configuration ------------------------------------------------------------ */

static char *plugins_section(void)
{
	char *s;
	int n = asprintf(&s,
		"\"plugins\": {\"path\": [\"" BUILDDIR "/plugins/.libs\"], \"timeout_ms\": 4000, \"load\": ["
		"{\"name\": \"sms\", \"module\": \"otp_sms_http\", \"isolation\": \"inline\", \"config\": {"
		"  \"url\": \"http://127.0.0.1:%u/sms\", \"allow_http\": true, \"issuer_name\": \"Test Bank\","
		"  \"templates\": {\"en\": \"{otp} is your {issuer} code for the card ending {pan_suffix}.\","
		"                \"fr\": \"{otp} est votre code {issuer}.\"}}},"
		"{\"name\": \"email\", \"module\": \"otp_email_smtp\", \"isolation\": \"inline\", \"config\": {"
		"  \"url\": \"smtp://127.0.0.1:%u\", \"tls\": \"none\", \"from\": \"no-reply@testbank.example\","
		"  \"templates\": {\"en\": {\"subject\": \"Your code\", \"body\": \"Your code is {otp}.\\n\"}}}},"
		"{\"name\": \"inapp\", \"module\": \"inapp_http\", \"isolation\": \"inline\", \"config\": {"
		"  \"url\": \"http://127.0.0.1:%u/inapp\", \"allow_http\": true,"
		"  \"app\": {\"app_id\": \"com.examplebank.mobile\", \"name\": \"Test Bank\"},"
		"  \"hmac_key_hex\": \"" INAPP_KEY_HEX "\"}},"
		"{\"name\": \"cs\", \"module\": \"cs_router\", \"isolation\": \"inline\", \"config\": {"
		"  \"default\": {\"standard\": \"+1-800-555-0100\", \"fraud\": \"+1-800-555-0199\"}}}],"
		" \"methods\": {\"IN_APP\": \"inapp\", \"OTP_SMS\": \"sms\", \"OTP_EMAIL\": \"email\","
		"               \"CUSTOMER_SERVICE\": \"cs\"}}",
		(unsigned)http_sink_port(sms), (unsigned)smtp_sink_port(smtp),
		(unsigned)http_sink_port(backend));
	return n < 0 ? NULL : s;
}

/* The whole configuration: the harness's, the reference plugins, a
 * "cases" section with cases of `ttl` seconds and a "lifecycle" section
 * (NULL: none). */
static int write_config(const char *level, const char *limits, unsigned ttl, const char *lifecycle)
{
	char *plugins = plugins_section(), *extra = NULL;
	if (!plugins)
		return -1;
	int n = asprintf(&extra,
		"%s,\n  \"cases\": {\"path\": \"%s/cases.db\", \"ttl_seconds\": %u, \"max_otp_sends\": 3,"
		" \"sweep_interval_ms\": 100, \"busy_timeout_ms\": 1000,"
		" \"webhook\": {\"url\": \"http://127.0.0.1:%u/hooks/stepup\", \"secret\": \"" WEBHOOK_SECRET "\","
		"   \"timeout_ms\": 2000, \"backoff_ms\": 50, \"max_backoff_ms\": 200, \"max_attempts\": 200},"
		" \"notify_end_user\": {\"enabled\": true, \"method\": \"OTP_SMS\", \"templates\": {"
		"   \"en\": \"Your card ending {pan_suffix} was added to {wallet}.\","
		"   \"fr\": \"Votre carte {pan_suffix} est dans {wallet}.\"}}}%s%s",
		plugins, D.dir, ttl, (unsigned)hook_port,
		lifecycle ? ",\n  \"lifecycle\": " : "", lifecycle ? lifecycle : "");
	int rc = n < 0 ? -1 : hd_write_default_config(&D, level, limits, extra);
	free(plugins);
	free(extra);
	return rc;
}

static int start_daemon(const char *level, const char *limits, const char *lifecycle)
{
	if (hd_init(&D) < 0 || write_config(level, limits, 900, lifecycle) < 0)
		return -1;
	return hd_start_reporting(&D, "stepupd did not start");
}

static void stop_clean(void)
{
	char why[3300];
	if (hd_stop_checked(&D, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static void restart(void)
{
	if (hd_start_reporting(&D, "stepupd did not start again") < 0)
		fail_msg("stepupd did not start again (its stderr is above)");
}

/* ---- small helpers ------------------------------------------------------------- */

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);
	if (!j)
		fail_msg("not JSON (%s): %s", e.text, s);
	return j;
}

static const char *jstr(json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	json_t *cur = o;
	char *save;
	for (char *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
		cur = json_object_get(cur, tok);
	return json_string_value(cur);
}

/* body[path] of a response, or "" (a static copy: one at a time). */
static const char *field(const hresp *r, const char *path)
{
	static char out[256];
	json_t *j = parse(r->body);
	const char *v = jstr(j, path);
	snprintf(out, sizeof(out), "%s", v ? v : "");
	json_decref(j);
	return out;
}

static void expect_error(const hresp *r, long status, const char *code)
{
	if (r->status != status)
		fail_msg("status %ld, wanted %ld (%s): %s", r->status, status, code, r->body);
	json_t *j = parse(r->body);
	const char *got = jstr(j, "error.code");
	if (!got || strcmp(got, code) != 0)
		fail_msg("error code %s, wanted %s: %s", got ? got : "(none)", code, r->body);
	assert_non_null(jstr(j, "error.message"));
	json_decref(j);
	assert_non_null(strcasestr(r->headers, "Content-Type: application/json"));
	assert_non_null(strcasestr(r->headers, "Cache-Control: no-store"));
}

static void expect_ok(const hresp *r)
{
	if (r->status != 200)
		fail_msg("status %ld, wanted 200: %s", r->status, r->body);
}

static long long metric(const char *series)
{
	hresp r;
	char needle[512];
	snprintf(needle, sizeof(needle), "\n%s ", series);
	hd_http(&D, NULL, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	const char *p = strstr(r.body, needle);
	long long v = p ? atoll(p + strlen(needle)) : -1;
	hresp_free(&r);
	return v;
}

/* yellow_req with one piece of text replaced (malloc'd). */
static char *patched(const char *base, const char *from, const char *to)
{
	const char *p = strstr(base, from);
	if (!p)
		fail_msg("patch: %s not in the request", from);
	char *s = malloc(strlen(base) + strlen(to) + 1);
	size_t pre = (size_t)(p - base);
	memcpy(s, base, pre);
	strcpy(s + pre, to);
	strcat(s, p + strlen(from));
	return s;
}

/* Decide req (expected YELLOW); its decision id into id. */
static void decide(const char *req, char id[72])
{
	hresp r;
	hd_http(&D, NULL, "POST", "/v1/decisions", JSON_CT, req, strlen(req), NULL, &r);
	expect_ok(&r);
	json_t *j = parse(r.body);
	if (strcmp(jstr(j, "decision"), "YELLOW") != 0)
		fail_msg("not YELLOW: %s", r.body);
	snprintf(id, 72, "%s", jstr(j, "decision_id"));
	json_decref(j);
	hresp_free(&r);
}

static void post(const char *path, const char *body, const char *hdr, hresp *r)
{
	hd_http(&D, NULL, "POST", path, JSON_CT, body, strlen(body), hdr, r);
}

/* Deliver OTP; `extra` adds members to the body (",\"phone\":...") */
static void deliver(const char *id, const char *method, const char *otp, const char *extra, hresp *r)
{
	char body[1024];
	snprintf(body, sizeof(body),
	         "{\"decision_id\":\"%s\",\"method\":\"%s\",\"otp\":\"%s\",\"expires_at\":%lld,"
	         "\"reason\":\"CARD-DIGITIZATION\"%s}",
	         id, method, otp, (long long)time(NULL) + 300, extra ? extra : "");
	post("/v1/otp-deliveries", body, NULL, r);
}

static void activate_cs(const char *id, const char *card, const char *agent, hresp *r)
{
	char body[512];
	snprintf(body, sizeof(body),
	         "{\"decision_id\":\"%s\",\"digital_card_id\":\"%s\",\"method\":\"CUSTOMER_SERVICE\","
	         "\"agent_id\":\"%s\"}", id, card, agent);
	post("/v1/activations", body, auth_header, r);
}

static void hmac_hex(const char *key, const void *msg, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, md, &n);
	for (unsigned i = 0; i < n && i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
}

/* An IN_APP activation whose proof says `result`, signed over
 * "signed_id|signed_result" with key. */
static void activate_inapp(const char *id, const char *result, const char *key,
                           const char *signed_result, hresp *r)
{
	char msg[128], mac[65], body[768];
	snprintf(msg, sizeof(msg), "%s|%s", id, signed_result);
	hmac_hex(key, msg, strlen(msg), mac);
	snprintf(body, sizeof(body),
	         "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC-INAPP-%s\",\"method\":\"IN_APP\","
	         "\"proof\":{\"decision_id\":\"%s\",\"result\":\"%s\",\"hmac\":\"%s\"}}",
	         id, id, id, result, mac);
	post("/v1/activations", body, auth_header, r);
}

static void get_case(const char *id, hresp *r)
{
	char path[512];
	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	hd_http(&D, NULL, "GET", path, NULL, NULL, 0, auth_header, r);
}

/* Requests s recorded whose body contains needle (header name: NULL), or
 * whose header `hdr` equals needle. */
static size_t sink_matches(http_sink *s, const char *hdr, const char *needle)
{
	size_t n = 0;
	for (size_t i = 0, k = http_sink_count(s); i < k; i++) {
		const http_sink_request *q = http_sink_get(s, i);
		const char *v = hdr ? http_sink_header(q, hdr) : q->body;
		n += v && (hdr ? strcmp(v, needle) == 0 : strstr(v, needle) != NULL);
	}
	return n;
}

static const http_sink_request *sink_find(http_sink *s, const char *hdr, const char *needle)
{
	for (size_t i = 0, k = http_sink_count(s); i < k; i++) {
		const http_sink_request *q = http_sink_get(s, i);
		const char *v = hdr ? http_sink_header(q, hdr) : q->body;
		if (v && (hdr ? strcmp(v, needle) == 0 : strstr(v, needle) != NULL))
			return q;
	}
	return NULL;
}

static int wait_matches(http_sink *s, const char *hdr, const char *needle, size_t n, int timeout_ms)
{
	long long end = hd_now_ms() + timeout_ms;
	do {
		if (sink_matches(s, hdr, needle) >= n)
			return 1;
		hd_sleep_ms(10);
	} while (hd_now_ms() < end);
	return 0;
}

/* The webhooks received for notification id `decision_id.suffix`. */
static size_t webhooks(const char *id, const char *suffix)
{
	char key[128];
	snprintf(key, sizeof(key), "%s.%s", id, suffix);
	return sink_matches(hook, "Idempotency-Key", key);
}

/* Wait for the webhook of id.suffix, check it and that it came once
 * (after `settle_ms` more, no second delivery). */
static void expect_webhook_once(const char *id, const char *suffix, const char *event,
                                const char *status, int settle_ms)
{
	char key[128], sig[80], mac[65];
	snprintf(key, sizeof(key), "%s.%s", id, suffix);
	if (!wait_matches(hook, "Idempotency-Key", key, 1, 10000))
		fail_msg("no webhook %s", key);
	hd_sleep_ms(settle_ms);
	assert_int_equal(webhooks(id, suffix), 1);
	const http_sink_request *w = sink_find(hook, "Idempotency-Key", key);
	assert_string_equal(w->method, "POST");
	assert_string_equal(w->target, "/hooks/stepup");
	assert_string_equal(http_sink_header(w, "X-Stepup-Event"), event);
	hmac_hex(WEBHOOK_SECRET, w->body, w->body_len, mac);
	snprintf(sig, sizeof(sig), "sha256=%s", mac);
	assert_string_equal(http_sink_header(w, "X-Stepup-Signature"), sig);
	json_t *j = parse(w->body);
	assert_string_equal(jstr(j, "event"), event);
	assert_string_equal(jstr(j, "notification_id"), key);
	assert_string_equal(jstr(j, "decision_id"), id);
	assert_string_equal(jstr(j, "status"), status);
	json_decref(j);
	/* No contact data in a notification, ever. */
	assert_null(strstr(w->body, CASE_PHONE));
	assert_null(strstr(w->body, CASE_EMAIL));
}

/* Wait until the daemon's outbox is empty (its gauge is refreshed by
 * each delivery pass). */
static void wait_outbox_empty(void)
{
	long long end = hd_now_ms() + 10000;
	while (metric("stepupd_notifications_pending") != 0 && hd_now_ms() < end)
		hd_sleep_ms(20);
	assert_int_equal(metric("stepupd_notifications_pending"), 0);
}

/* ---- group: flows and refusals --------------------------------------------------- */

static int flows_setup(void **state)
{
	(void)state;
	auth_header = NULL;
	return start_daemon("info", NULL, NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	stop_clean();
	hd_rmdir(&D);
	return 0;
}

/* YELLOW -> Deliver OTP by SMS -> activation by customer service ->
 * the webhook once, and the end user told in the case's language. */
static void test_sms_then_customer_service(void **state)
{
	(void)state;
	char id[72];
	hresp r;
	decide(yellow_req, id);

	deliver(id, "OTP_SMS", "482913", NULL, &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "status"), "SENT");
	assert_string_equal(field(&r, "destination"), "+1 *** *** 1234");
	assert_non_null(strstr(r.body, "\"sends\":1"));
	assert_null(strstr(r.body, "482913"));  /* never echoed */
	hresp_free(&r);
	/* The gateway got the OTP, for the phone held in the case. */
	assert_true(wait_matches(sms, NULL, "482913", 1, 5000));
	const http_sink_request *m = sink_find(sms, NULL, "482913");
	json_t *j = parse(m->body);
	assert_string_equal(jstr(j, "to"), CASE_PHONE);
	assert_non_null(strstr(jstr(j, "text"), "482913 is your Test Bank code for the card ending 1234"));
	json_decref(j);

	activate_cs(id, "DWSPMC000000000132d72d4fcb2f4136", "agent-007", &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "status"), "ACTIVATED");
	assert_string_equal(field(&r, "agent_id"), "agent-007");
	char *first = strdup(r.body);
	hresp_free(&r);
	/* The same call again: the same answer, byte for byte. */
	activate_cs(id, "DWSPMC000000000132d72d4fcb2f4136", "agent-007", &r);
	expect_ok(&r);
	assert_string_equal(r.body, first);
	hresp_free(&r);
	free(first);
	/* Another activation of the closed case: refused. */
	activate_cs(id, "DWSPMC000000000132d72d4fcb2f4136", "agent-008", &r);
	expect_error(&r, 409, "activation_conflict");
	hresp_free(&r);
	deliver(id, "OTP_SMS", "555111", NULL, &r);
	expect_error(&r, 409, "case_activated");
	hresp_free(&r);

	get_case(id, &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "status"), "ACTIVATED");
	assert_string_equal(field(&r, "activation.agent_id"), "agent-007");
	assert_string_equal(field(&r, "activation.method"), "CUSTOMER_SERVICE");
	assert_non_null(strstr(r.body, "\"+1 *** *** 1234\""));
	assert_non_null(strstr(r.body, "\"ja******@example.com\""));
	assert_null(strstr(r.body, CASE_PHONE));
	assert_null(strstr(r.body, CASE_EMAIL));
	hresp_free(&r);

	expect_webhook_once(id, "activated", "case.activated", "ACTIVATED", 400);
	char key[128];
	snprintf(key, sizeof(key), "%s.activated", id);
	j = parse(sink_find(hook, "Idempotency-Key", key)->body);
	assert_string_equal(jstr(j, "method"), "CUSTOMER_SERVICE");
	assert_string_equal(jstr(j, "agent_id"), "agent-007");
	assert_string_equal(jstr(j, "digital_card_id"), "DWSPMC000000000132d72d4fcb2f4136");
	assert_string_equal(jstr(j, "pan_suffix"), "1234");
	json_decref(j);
	/* "Card added", in English (the case's en-US), to the case's phone. */
	assert_true(wait_matches(sms, NULL, "was added to Apple Pay", 1, 5000));
	j = parse(sink_find(sms, NULL, "was added to Apple Pay")->body);
	assert_string_equal(jstr(j, "to"), CASE_PHONE);
	assert_string_equal(jstr(j, "text"), "Your card ending 1234 was added to Apple Pay.");
	json_decref(j);
}

static void test_inapp_valid_proof(void **state)
{
	(void)state;
	char id[72];
	hresp r;
	char *fr = patched(yellow_req, "\"en-US\"", "\"fr-FR\"");
	decide(fr, id);
	free(fr);
	/* The in-app plugin told the issuer backend, off the decision's path. */
	assert_true(wait_matches(backend, NULL, id, 1, 5000));
	const http_sink_request *s = sink_find(backend, NULL, id);
	assert_string_equal(s->target, "/inapp");
	assert_null(strstr(s->body, "5412751234561234"));

	activate_inapp(id, "APPROVED", INAPP_KEY, "APPROVED", &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "status"), "ACTIVATED");
	assert_string_equal(field(&r, "method"), "IN_APP");
	hresp_free(&r);
	expect_webhook_once(id, "activated", "case.activated", "ACTIVATED", 200);
	/* The end user is told in French, the case's language. */
	assert_true(wait_matches(sms, NULL, "Votre carte 1234 est dans Apple Pay.", 1, 5000));
}

static void test_inapp_invalid_proof(void **state)
{
	(void)state;
	char id[72];
	hresp r;
	decide(yellow_req, id);
	activate_inapp(id, "APPROVED", "a-key-that-is-not-the-plugins-key!!", "APPROVED", &r);
	expect_error(&r, 422, "invalid_proof");
	hresp_free(&r);
	/* Signed for DECLINED, presented as APPROVED. */
	activate_inapp(id, "APPROVED", INAPP_KEY, "DECLINED", &r);
	expect_error(&r, 422, "invalid_proof");
	hresp_free(&r);
	get_case(id, &r);
	assert_string_equal(field(&r, "status"), "PENDING_IDV");
	hresp_free(&r);
	/* The case is unchanged: the backend can still send a good proof. */
	activate_inapp(id, "APPROVED", INAPP_KEY, "APPROVED", &r);
	expect_ok(&r);
	hresp_free(&r);
	expect_webhook_once(id, "activated", "case.activated", "ACTIVATED", 0);
}

static void test_inapp_declined(void **state)
{
	(void)state;
	char id[72];
	hresp r;
	decide(yellow_req, id);
	activate_inapp(id, "DECLINED", INAPP_KEY, "DECLINED", &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "status"), "DECLINED");
	hresp_free(&r);
	get_case(id, &r);
	assert_string_equal(field(&r, "status"), "DECLINED");
	hresp_free(&r);
	deliver(id, "OTP_SMS", "777888", NULL, &r);
	expect_error(&r, 409, "case_declined");
	hresp_free(&r);
	expect_webhook_once(id, "declined", "case.declined", "DECLINED", 200);
	assert_int_equal(webhooks(id, "activated"), 0);
}

static void test_refusals(void **state)
{
	(void)state;
	char id[72], cs_only[72], body[512];
	hresp r;

	/* Unknown case. */
	deliver("dcs_NOSUCHCASE00000", "OTP_SMS", "123456", NULL, &r);
	expect_error(&r, 404, "case_not_found");
	hresp_free(&r);
	activate_cs("dcs_NOSUCHCASE00000", "DWSPMC1", "agent-1", &r);
	expect_error(&r, 404, "case_not_found");
	hresp_free(&r);
	get_case("dcs_NOSUCHCASE00000", &r);
	expect_error(&r, 404, "case_not_found");
	hresp_free(&r);
	/* A card number where a decision id goes: 400 naming the field, never
	 * echoed (the card_numbers group tries every spelling in every field). */
	get_case("4111-1111-1111-1111", &r);
	expect_error(&r, 400, "bad_request");
	assert_string_equal(field(&r, "error.field"), "decision_id");
	assert_null(strstr(r.body, "4111"));
	hresp_free(&r);

	/* A destination in the request: refused, naming the field; the OTP
	 * goes nowhere. */
	decide(yellow_req, id);
	deliver(id, "OTP_SMS", "246810", ",\"destination\":\"+15550000001\"", &r);
	expect_error(&r, 400, "bad_request");
	assert_string_equal(field(&r, "error.field"), "destination");
	hresp_free(&r);
	deliver(id, "OTP_SMS", "246811", ",\"phone\":\"+15550000001\"", &r);
	expect_error(&r, 400, "bad_request");
	assert_string_equal(field(&r, "error.field"), "phone");
	hresp_free(&r);
	deliver(id, "OTP_EMAIL", "246812", ",\"email\":\"evil@example.net\"", &r);
	expect_error(&r, 400, "bad_request");
	hresp_free(&r);
	assert_int_equal(sink_matches(sms, NULL, "+15550000001"), 0);
	assert_int_equal(sink_matches(sms, NULL, "24681"), 0);

	/* The send limit: three, then 429 with the methods left. */
	deliver(id, "OTP_SMS", "100001", NULL, &r);
	expect_ok(&r);
	hresp_free(&r);
	deliver(id, "OTP_EMAIL", "100002", NULL, &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "destination"), "ja******@example.com");
	hresp_free(&r);
	deliver(id, "OTP_SMS", "100003", NULL, &r);
	expect_ok(&r);
	assert_non_null(strstr(r.body, "\"sends\":3"));
	hresp_free(&r);
	deliver(id, "OTP_SMS", "100004", NULL, &r);
	expect_error(&r, 429, "otp_send_limit");
	assert_non_null(strstr(r.body, "\"other_methods\":[\"IN_APP\",\"CUSTOMER_SERVICE\"]"));
	hresp_free(&r);
	assert_true(smtp_sink_wait(smtp, 1, 5000));
	const smtp_sink_message *mail = smtp_sink_get(smtp, smtp_sink_count(smtp) - 1);
	assert_string_equal(mail->rcpt[0], CASE_EMAIL);
	assert_non_null(strstr(smtp_sink_body(mail), "100002"));
	assert_int_equal(sink_matches(sms, NULL, "100004"), 0);
	/* An OTP activation by the method an OTP went through. */
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC2\","
	         "\"method\":\"OTP_EMAIL\"}", id);
	post("/v1/activations", body, auth_header, &r);
	expect_ok(&r);  /* one did, by e-mail */
	hresp_free(&r);

	/* A method the case was not offered. */
	char *susp = patched(yellow_req, "\"device_suspicious\":false", "\"device_suspicious\":true");
	decide(susp, cs_only);
	free(susp);
	deliver(cs_only, "OTP_SMS", "135790", NULL, &r);
	expect_error(&r, 409, "method_not_offered");
	assert_string_equal(field(&r, "error.field"), "method");
	hresp_free(&r);
	activate_inapp(cs_only, "APPROVED", INAPP_KEY, "APPROVED", &r);
	expect_error(&r, 409, "method_not_offered");
	hresp_free(&r);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC3\","
	         "\"method\":\"OTP_SMS\"}", cs_only);
	post("/v1/activations", body, auth_header, &r);
	expect_error(&r, 409, "method_not_offered");
	hresp_free(&r);

	/* OTP activation without an OTP sent by that method. */
	decide(yellow_req, id);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC4\","
	         "\"method\":\"OTP_SMS\"}", id);
	post("/v1/activations", body, auth_header, &r);
	expect_error(&r, 409, "otp_not_sent");
	hresp_free(&r);

	/* The channel fails: 502 and the methods the TSP can offer instead;
	 * the failed send is not counted. */
	http_sink_reply bad = { .status = 500 }, good = { .status = 200 };
	http_sink_set_reply(sms, &bad);
	deliver(id, "OTP_SMS", "864200", NULL, &r);
	http_sink_set_reply(sms, &good);
	expect_error(&r, 502, "channel_failed");
	assert_non_null(strstr(r.body, "\"other_methods\":[\"IN_APP\",\"OTP_EMAIL\",\"CUSTOMER_SERVICE\"]"));
	hresp_free(&r);
	deliver(id, "OTP_SMS", "864201", NULL, &r);
	expect_ok(&r);
	assert_non_null(strstr(r.body, "\"sends\":1"));
	hresp_free(&r);

	/* Malformed requests. */
	post("/v1/otp-deliveries", "{\"decision_id\":", NULL, &r);
	expect_error(&r, 400, "bad_request");
	hresp_free(&r);
	post("/v1/activations", "[1]", auth_header, &r);
	expect_error(&r, 400, "bad_request");
	hresp_free(&r);
	deliver(id, "OTP_FAX", "123456", NULL, &r);
	expect_error(&r, 400, "bad_request");
	assert_string_equal(field(&r, "error.field"), "method");
	hresp_free(&r);
	hd_http(&D, NULL, "POST", "/v1/otp-deliveries", "text/plain", "{}", 2, NULL, &r);
	expect_error(&r, 415, "unsupported_media_type");
	hresp_free(&r);
	post("/v1/activations", "{\"x\":[[[[[[[[[1]]]]]]]]]}", auth_header, &r);
	expect_error(&r, 400, "bad_request");
	assert_non_null(strstr(r.body, "deeper than 8"));
	hresp_free(&r);
	hd_http(&D, NULL, "GET", "/v1/otp-deliveries", NULL, NULL, 0, NULL, &r);
	expect_error(&r, 405, "method_not_allowed");
	hresp_free(&r);
}

static void test_metrics(void **state)
{
	(void)state;
	assert_int_equal(metric("stepupd_cases_enabled"), 1);
	assert_true(metric("stepupd_cases_opened_total") >= 7);
	assert_true(metric("stepupd_cases_closed_total{status=\"ACTIVATED\"}") >= 3);
	assert_true(metric("stepupd_cases_closed_total{status=\"DECLINED\"}") >= 1);
	assert_true(metric("stepupd_otp_deliveries_total{result=\"sent\"}") >= 5);
	assert_true(metric("stepupd_otp_deliveries_total{result=\"refused\"}") >= 4);
	assert_true(metric("stepupd_otp_deliveries_total{result=\"failed\"}") >= 1);
	assert_true(metric("stepupd_notifications_total{result=\"delivered\"}") >= 5);
	assert_int_equal(metric("stepupd_case_store_errors_total"), 0);
	assert_int_equal(metric("stepupd_lifecycle_requests_running{pool=\"lifecycle\"}"), 0);
	assert_true(metric("stepupd_http_responses_total{code=\"409\"}") >= 4);
	assert_true(metric("stepupd_http_responses_total{code=\"429\"}") >= 1);
	assert_true(metric("stepupd_http_responses_total{code=\"502\"}") >= 1);
	assert_true(metric("stepupd_http_responses_total{code=\"422\"}") >= 2);
}

/* A reload hands the case store the new plugins; cases live on. */
static void test_reload_keeps_cases(void **state)
{
	(void)state;
	char id[72];
	hresp r;
	decide(yellow_req, id);
	kill(D.pid, SIGHUP);
	assert_true(hd_wait_for(D.stderr_log, "\"generation\":2,", 5000));
	deliver(id, "OTP_SMS", "909090", NULL, &r);
	expect_ok(&r);
	hresp_free(&r);
	assert_true(wait_matches(sms, NULL, "909090", 1, 5000));
	/* A changed "cases" section waits for a restart, and says so. */
	char *cfg = hd_slurp(D.config, NULL);
	char *changed = patched(cfg, "\"ttl_seconds\": 900", "\"ttl_seconds\": 901");
	hd_write(D.config, changed);
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	expect_ok(&r);
	hresp_free(&r);
	assert_true(hd_wait_for(D.stderr_log, "\"settings\":\"cases\"", 2000));
	/* A broken one is refused now, not at the next start. */
	free(changed);
	changed = patched(cfg, "\"ttl_seconds\": 900", "\"ttl_seconds\": 0");
	hd_write(D.config, changed);
	hd_http(&D, NULL, "POST", "/v1/admin/reload", NULL, NULL, 0, NULL, &r);
	expect_error(&r, 422, "reload_failed");
	assert_non_null(strstr(r.body, "cases.ttl_seconds"));
	hresp_free(&r);
	hd_write(D.config, cfg);
	free(changed);
	free(cfg);
	get_case(id, &r);
	assert_string_equal(field(&r, "status"), "PENDING_IDV");
	hresp_free(&r);
}

/* Restart between decision and activation: nothing is lost. */
static void test_restart_between_decision_and_activation(void **state)
{
	(void)state;
	char id[72];
	hresp r;
	decide(yellow_req, id);
	deliver(id, "OTP_SMS", "313131", NULL, &r);
	expect_ok(&r);
	hresp_free(&r);
	stop_clean();
	restart();
	get_case(id, &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "status"), "PENDING_IDV");
	assert_non_null(strstr(r.body, "\"sends\":1"));
	assert_non_null(strstr(r.body, "\"delivered_by\":[\"OTP_SMS\"]"));
	hresp_free(&r);
	/* The TSP verified the OTP it had us deliver before the restart. */
	char body[256];
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC5\","
	         "\"method\":\"OTP_SMS\"}", id);
	post("/v1/activations", body, auth_header, &r);
	expect_ok(&r);
	hresp_free(&r);
	expect_webhook_once(id, "activated", "case.activated", "ACTIVATED", 200);
}

static void *post_yellow_main(void *arg)
{
	post("/v1/decisions", yellow_req, NULL, arg);
	return NULL;
}

/* A database write lock held past busy_timeout_ms (another process):
 * YELLOW is not promised (503); GREEN is decided meanwhile, while the
 * YELLOW waits on the lifecycle pool rather than on an HTTP thread. */
static void test_store_unavailable(void **state)
{
	(void)state;
	char db[256], id[72];
	sqlite3 *h;
	hresp r, yr;
	pthread_t t;
	wait_outbox_empty();
	snprintf(db, sizeof(db), "%s/cases.db", D.dir);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	pthread_create(&t, NULL, post_yellow_main, &yr);
	long long end = hd_now_ms() + 800;
	while (metric("stepupd_lifecycle_requests_running{pool=\"decisions\"}") < 1 && hd_now_ms() < end)
		hd_sleep_ms(5);
	assert_int_equal(metric("stepupd_lifecycle_requests_running{pool=\"decisions\"}"), 1);
	char *green = patched(yellow_req, "\"phone_suffix\":\"9876\"", "\"phone_suffix\":\"1234\"");
	char *g2 = patched(green, "\"csc_result\":\"ABSENT\"", "\"csc_result\":\"MATCH\"");
	char *g3 = patched(g2, "[\"ACCOUNT_TOO_NEW\"]", "[]");
	post("/v1/decisions", g3, NULL, &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "decision"), "GREEN");
	hresp_free(&r);
	free(green);
	free(g2);
	free(g3);
	pthread_join(t, NULL);
	expect_error(&yr, 503, "store_unavailable");
	hresp_free(&yr);
	assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_true(metric("stepupd_rejected_total{cause=\"case_store\"}") >= 1);
	assert_true(hd_wait_for(D.stderr_log, "step-up case not recorded; decision answered 503", 1000));
	decide(yellow_req, id);
}

/* ---- group: expiry, and the issuer token ------------------------------------------ */

static char token_file[256];

static int expiry_setup(void **state)
{
	(void)state;
	char life[512];
	if (hd_init(&D) < 0)
		return -1;
	snprintf(token_file, sizeof(token_file), "%s/issuer.token", D.dir);
	hd_write(token_file, ISSUER_TOKEN "\n");
	chmod(token_file, 0600);
	snprintf(life, sizeof(life), "{\"workers\": 2, \"allow_loopback\": false, \"token_file\": \"%s\"}",
	         token_file);
	if (write_config("info", NULL, 1, life) < 0 || hd_start(&D) < 0)
		return -1;
	auth_header = "Authorization: Bearer " ISSUER_TOKEN;
	return 0;
}

static int expiry_teardown(void **state)
{
	auth_header = NULL;
	return group_teardown(state);
}

static void test_expired(void **state)
{
	(void)state;
	char touched[72], untouched[72];
	hresp r;
	decide(yellow_req, touched);
	decide(yellow_req, untouched);
	hd_sleep_ms(1200);
	/* A call on a case past its time: 410, whatever the sweep did yet. */
	deliver(touched, "OTP_SMS", "424242", NULL, &r);
	expect_error(&r, 410, "case_expired");
	hresp_free(&r);
	activate_cs(touched, "DWSPMC6", "agent-9", &r);
	expect_error(&r, 410, "case_expired");
	hresp_free(&r);
	get_case(touched, &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "status"), "EXPIRED");
	assert_true(field(&r, "closed_at")[0] != '\0');
	hresp_free(&r);
	assert_int_equal(sink_matches(sms, NULL, "424242"), 0);
	/* Both expire once, each with its webhook (the untouched one by the
	 * sweep alone). */
	expect_webhook_once(touched, "expired", "case.expired", "EXPIRED", 0);
	expect_webhook_once(untouched, "expired", "case.expired", "EXPIRED", 300);
	const http_sink_request *w = sink_find(hook, NULL, untouched);
	assert_non_null(strstr(w->body, "\"digital_card_id\":null"));
	assert_true(metric("stepupd_cases_closed_total{status=\"EXPIRED\"}") >= 2);
}

static void test_issuer_token(void **state)
{
	(void)state;
	char id[72];
	hresp r;
	decide(yellow_req, id);
	/* Loopback is not enough here: the token is. */
	get_case(id, &r);
	expect_ok(&r);
	hresp_free(&r);
	hd_http(&D, NULL, "GET", "/v1/cases/dcs_X", NULL, NULL, 0, NULL, &r);
	expect_error(&r, 403, "forbidden");
	hresp_free(&r);
	hd_http(&D, NULL, "GET", "/v1/cases/dcs_X", NULL, NULL, 0,
	        "Authorization: Bearer issuer-token-0123456789abcdeX", &r);
	expect_error(&r, 403, "forbidden");
	hresp_free(&r);
	post("/v1/activations", "{}", NULL, &r);
	expect_error(&r, 403, "forbidden");
	hresp_free(&r);
	post("/v1/activations", "{}", "Authorization: Bearer " ISSUER_TOKEN, &r);
	expect_error(&r, 400, "bad_request");
	hresp_free(&r);
	/* Deliver OTP is the TSP's: no token. */
	deliver(id, "OTP_SMS", "575757", NULL, &r);
	expect_ok(&r);
	hresp_free(&r);
	assert_true(metric("stepupd_rejected_total{cause=\"forbidden\"}") >= 3);
	char *log = hd_slurp(D.stderr_log, NULL);
	assert_null(strstr(log, ISSUER_TOKEN));
	assert_null(strstr(log, "issuer-token-"));
	free(log);
}

/* ---- group: durability ------------------------------------------------------------- */

/* Short grace: a stop with the webhook receiver down waits this long. */
static const char durable_limits[] =
	"{\"max_body_bytes\": 65536, \"max_json_depth\": 8, \"connection_timeout_ms\": 5000,"
	" \"max_connections\": 64, \"max_connections_per_ip\": 32,"
	" \"decision_deadline_ms\": 5000, \"shutdown_grace_ms\": 2000}";

static int durable_setup(void **state)
{
	(void)state;
	auth_header = NULL;
	return start_daemon("info", durable_limits, "{\"workers\": 2}");
}

enum { BURST_CASES = 120, BURST_THREADS = 4 };

struct burster {
	pthread_t t;
	char (*ids)[72];
	size_t from, to;
	size_t acked;                /* atomic: activations answered 200 */
	size_t ack_idx[BURST_CASES]; /* which */
	int unexpected;
	char why[300];
};

static void *burst_main(void *arg)
{
	struct burster *b = arg;
	hclient *c = hc_new();
	for (size_t i = b->from; i < b->to; i++) {
		char body[256];
		hresp r;
		snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC-%s\","
		         "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-burst\"}",
		         b->ids[i], b->ids[i]);
		hd_http(&D, c, "POST", "/v1/activations", JSON_CT, body, strlen(body), NULL, &r);
		if (r.curl_rc != 0) {  /* the daemon is gone */
			hresp_free(&r);
			break;
		}
		if (r.status == 200) {
			b->ack_idx[__atomic_load_n(&b->acked, __ATOMIC_RELAXED)] = i;
			__atomic_fetch_add(&b->acked, 1, __ATOMIC_RELEASE);
		} else if (!b->unexpected++) {
			snprintf(b->why, sizeof(b->why), "%ld %.200s", r.status, r.body);
		}
		hresp_free(&r);
	}
	hc_free(c);
	return NULL;
}

static size_t acked_total(struct burster *bs)
{
	size_t n = 0;
	for (int i = 0; i < BURST_THREADS; i++)
		n += __atomic_load_n(&bs[i].acked, __ATOMIC_ACQUIRE);
	return n;
}

/* kill -9 while several clients activate: every activation answered 200
 * is there after the restart, and its webhook goes out. */
static void test_kill9_during_activations(void **state)
{
	(void)state;
	static char ids[BURST_CASES][72];
	struct burster bs[BURST_THREADS];
	for (int i = 0; i < BURST_CASES; i++)
		decide(yellow_req, ids[i]);
	memset(bs, 0, sizeof(bs));
	for (int i = 0; i < BURST_THREADS; i++) {
		bs[i].ids = ids;
		bs[i].from = (size_t)i * BURST_CASES / BURST_THREADS;
		bs[i].to = (size_t)(i + 1) * BURST_CASES / BURST_THREADS;
		pthread_create(&bs[i].t, NULL, burst_main, &bs[i]);
	}
	long long end = hd_now_ms() + 20000;
	while (acked_total(bs) < BURST_CASES / 3 && hd_now_ms() < end)
		hd_sleep_ms(1);
	int st;
	hd_signal_wait(&D, SIGKILL, 5000, &st);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	for (int i = 0; i < BURST_THREADS; i++) {
		pthread_join(bs[i].t, NULL);
		if (bs[i].unexpected)
			fail_msg("client %d: %d unexpected answers, first: %s", i, bs[i].unexpected, bs[i].why);
	}
	size_t acked = acked_total(bs);
	fprintf(stderr, "# kill -9 after %zu of %d activations were acknowledged\n", acked, BURST_CASES);
	assert_true(acked >= BURST_CASES / 3);

	restart();
	for (int i = 0; i < BURST_THREADS; i++)
		for (size_t k = 0; k < bs[i].acked; k++) {
			const char *id = ids[bs[i].ack_idx[k]];
			char card[96];
			hresp r;
			get_case(id, &r);
			expect_ok(&r);
			if (strcmp(field(&r, "status"), "ACTIVATED") != 0)
				fail_msg("acknowledged activation of %s lost: %s", id, r.body);
			snprintf(card, sizeof(card), "DWSPMC-%s", id);
			assert_string_equal(field(&r, "activation.digital_card_id"), card);
			hresp_free(&r);
		}
	/* Each with its webhook in the database, and the file sound. */
	char db[256];
	sqlite3 *h;
	sqlite3_stmt *q;
	snprintf(db, sizeof(db), "%s/cases.db", D.dir);
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(h, 2000);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM outbox WHERE kind = 'webhook'"
	                                       " AND notification_id = ?1", -1, &q, NULL), SQLITE_OK);
	for (int i = 0; i < BURST_THREADS; i++)
		for (size_t k = 0; k < bs[i].acked; k++) {
			char key[128];
			snprintf(key, sizeof(key), "%s.activated", ids[bs[i].ack_idx[k]]);
			sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
			assert_int_equal(sqlite3_step(q), SQLITE_ROW);
			if (sqlite3_column_int(q, 0) != 1)
				fail_msg("no webhook row for acknowledged activation %s", key);
			sqlite3_reset(q);
		}
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
	sqlite3_finalize(q);
	sqlite3_close(h);
	/* And they go out. Rows that were in flight at the kill are leased
	 * (webhook timeout + 90 s) against a second deliverer; the flush of
	 * a graceful stop takes every pending row, leased or not. */
	stop_clean();
	restart();
	for (int i = 0; i < BURST_THREADS; i++)
		for (size_t k = 0; k < bs[i].acked; k++) {
			char key[128];
			snprintf(key, sizeof(key), "%s.activated", ids[bs[i].ack_idx[k]]);
			if (!wait_matches(hook, "Idempotency-Key", key, 1, 10000))
				fail_msg("no webhook for acknowledged activation %s", key);
		}
}

/* The webhook receiver answers 503, then is down (connection refused)
 * across a restart, then comes back: the notification arrives, once. */
static void test_webhook_down_then_back(void **state)
{
	(void)state;
	char id[72], err[256], key[128];
	hresp r;
	wait_outbox_empty();
	long long retried0 = metric("stepupd_notifications_total{result=\"retried\"}");
	http_sink_reply unavailable = { .status = 503 };
	http_sink_set_reply(hook, &unavailable);

	decide(yellow_req, id);
	activate_cs(id, "DWSPMC-DOWN", "agent-down", &r);
	expect_ok(&r);
	hresp_free(&r);
	snprintf(key, sizeof(key), "%s.activated", id);
	if (!wait_matches(hook, "Idempotency-Key", key, 2, 5000))
		fail_msg("the failing receiver did not see the retries");
	char *attempted = strdup(sink_find(hook, "Idempotency-Key", key)->body);
	http_sink_stop(hook);
	hook = NULL;
	assert_true(metric("stepupd_notifications_total{result=\"retried\"}") >= retried0 + 2);
	/* Stopped with the notification pending; it waits in the database. */
	stop_clean();
	assert_true(hd_wait_for(D.stderr_log, "notifications still pending at shutdown", 100));
	restart();
	hd_sleep_ms(300);

	/* Back: a new receiver, so it records only what it answered 200. */
	if (http_sink_start(NULL, hook_port, &hook, err, sizeof(err)) != 0)
		fail_msg("webhook receiver: %s", err);
	expect_webhook_once(id, "activated", "case.activated", "ACTIVATED", 800);
	/* Rendered once, at the transition: every attempt is the same bytes. */
	assert_string_equal(sink_find(hook, "Idempotency-Key", key)->body, attempted);
	free(attempted);
	wait_outbox_empty();
}

struct slow_send {
	pthread_t t;
	char id[72];
	hresp r;
	int done;
};

static void *slow_send_main(void *arg)
{
	struct slow_send *x = arg;
	char otp[16];
	snprintf(otp, sizeof(otp), "7%05u", (unsigned)(x->id[10] & 0x7f));
	deliver(x->id, "OTP_SMS", otp, NULL, &x->r);
	__atomic_store_n(&x->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Slow SMS sends are parked on the lifecycle pool and fill it (two
 * workers here); YELLOW decisions, whose cases are stored by a pool of
 * their own, keep flowing meanwhile; a SIGTERM waits for the sends and
 * answers them before the daemon exits. No clock: the SMS gateway holds
 * its answer until the test opens the gate, so "the decision did not wait
 * behind the sends" is an order of events (plugins' timeout_ms is 4 s:
 * the gate opens long before). */
static void test_slow_channel_parked_and_drained(void **state)
{
	(void)state;
	enum { NSLOW = 2 };  /* as many as lifecycle workers */
	struct slow_send ss[NSLOW];
	http_sink_reply held = { .status = 200, .hold = 1 }, quick = { .status = 200 };
	memset(ss, 0, sizeof(ss));
	for (int i = 0; i < NSLOW; i++)
		decide(yellow_req, ss[i].id);
	http_sink_set_reply(sms, &held);
	for (int i = 0; i < NSLOW; i++)
		pthread_create(&ss[i].t, NULL, slow_send_main, &ss[i]);
	long long end = hd_now_ms() + 10000;  /* hang guard */
	while (metric("stepupd_lifecycle_requests_running{pool=\"lifecycle\"}") < NSLOW &&
	       hd_now_ms() < end)
		hd_sleep_ms(5);
	assert_int_equal(metric("stepupd_lifecycle_requests_running{pool=\"lifecycle\"}"), NSLOW);
	/* The pool is full and its sends cannot finish: a YELLOW decision
	 * is answered all the same, and the sends are still running. */
	char id[72];
	decide(yellow_req, id);
	assert_int_equal(metric("stepupd_lifecycle_requests_running{pool=\"lifecycle\"}"), NSLOW);
	assert_true(http_sink_count(sms) >= 1);
	for (int i = 0; i < NSLOW; i++)
		assert_int_equal(__atomic_load_n(&ss[i].done, __ATOMIC_ACQUIRE), 0);
	/* Draining: the daemon stops accepting but waits for the held sends. */
	kill(D.pid, SIGTERM);
	assert_true(hd_wait_for(D.stderr_log, "shutting down", 10000));
	for (int i = 0; i < NSLOW; i++)
		assert_int_equal(__atomic_load_n(&ss[i].done, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(kill(D.pid, 0), 0);
	http_sink_release(sms);
	for (int i = 0; i < NSLOW; i++) {
		pthread_join(ss[i].t, NULL);
		expect_ok(&ss[i].r);
		assert_non_null(strcasestr(ss[i].r.headers, "Connection: close"));
		hresp_free(&ss[i].r);
	}
	http_sink_set_reply(sms, &quick);
	int st;
	assert_int_equal(hd_signal_wait(&D, 0, 10000, &st), 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	restart();
}

/* ---- group: canary ------------------------------------------------------------------- */

#define CANARY_PAN "4111111111111111"
#define CANARY_PHONE "+14155559876"
#define CANARY_EMAIL "canary.person@example.org"
#define CANARY_OTP1 "Q7CANARY39"
#define CANARY_OTP2 "Z8CANARY51"

static char *seen;
static size_t seen_len;

static void collect(const char *s)
{
	size_t n = strlen(s);
	seen = realloc(seen, seen_len + n + 2);
	memcpy(seen + seen_len, s, n);
	seen_len += n;
	seen[seen_len++] = '\n';
	seen[seen_len] = '\0';
}

static const char *const secrets[] = {
	CANARY_PAN, "41111111", CANARY_PHONE, "4155559876", CANARY_EMAIL, "canary.person",
	"\"123\"", "csc\":\"123", "csc=123", CANARY_OTP1, CANARY_OTP2,
};
#define NSECRETS (sizeof(secrets) / sizeof(secrets[0]))

/* Bytes, not text: the database may hold NULs. */
static void must_not_contain_bytes(const char *what, const char *data, size_t len, size_t nsecrets)
{
	for (size_t i = 0; i < nsecrets; i++)
		if (memmem(data, len, secrets[i], strlen(secrets[i])))
			fail_msg("%s contains \"%s\"", what, secrets[i]);
}

static void must_not_contain(const char *what, const char *text)
{
	assert_non_null(text);
	must_not_contain_bytes(what, text, strlen(text), NSECRETS);
}

/* The database never holds the PAN, the CSC or an OTP (the raw contacts
 * it may hold while a case needs them). */
static void check_db_files(void)
{
	static const char *const files[] = { "cases.db", "cases.db-wal" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[256];
		size_t len;
		snprintf(path, sizeof(path), "%s/%s", D.dir, files[i]);
		char *data = hd_slurp(path, &len);
		if (!data)
			continue;  /* no -wal after a clean close */
		for (size_t k = 0; k < NSECRETS; k++) {
			const char *s = secrets[k];
			if (strstr(s, "4155559876") || strstr(s, "canary.person"))
				continue;
			if (memmem(data, len, s, strlen(s)))
				fail_msg("%s contains \"%s\"", files[i], s);
		}
		free(data);
	}
}

static void canary_http(const char *method, const char *path, const char *ct, const char *body,
                        const char *hdr, long want)
{
	hresp r;
	hd_http(&D, NULL, method, path, ct, body, body ? strlen(body) : 0, hdr, &r);
	if (r.status != want)
		fail_msg("%s %s: %ld, wanted %ld: %s", method, path, r.status, want, r.body);
	collect(r.headers);
	collect(r.body);
	hresp_free(&r);
}

static void test_canary(void **state)
{
	(void)state;
	char id[72], body[2048], err[256];
	if (!hook && http_sink_start(NULL, hook_port, &hook, err, sizeof(err)) != 0)
		fail_msg("webhook receiver: %s", err);
	assert_int_equal(start_daemon("debug", NULL, NULL), 0);
	char *a = patched(yellow_req, "\"pan\":\"5412751234561234\"", "\"pan\":\"" CANARY_PAN "\",\"csc\":\"123\"");
	char *b = patched(a, "\"pan_suffix\":\"1234\",", "");
	char *c = patched(b, "\"" CASE_PHONE "\"", "\"" CANARY_PHONE "\"");
	char *req = patched(c, "\"" CASE_EMAIL "\"", "\"" CANARY_EMAIL "\"");
	free(a);
	free(b);
	free(c);
	hresp r;
	post("/v1/decisions", req, "X-Card: " CANARY_PAN, &r);
	expect_ok(&r);
	json_t *j = parse(r.body);
	snprintf(id, sizeof(id), "%s", jstr(j, "decision_id"));
	json_decref(j);
	collect(r.body);
	hresp_free(&r);

	/* Deliver OTP, good and bad, with card data and contacts about (a
	 * card number anywhere in the body refuses it). */
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"" CANARY_OTP1 "\","
	         "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\",\"card\":{\"pan\":\"" CANARY_PAN "\","
	         "\"csc\":\"123\"}}", id, (long long)time(NULL) + 300);
	canary_http("POST", "/v1/otp-deliveries", JSON_CT, body, "X-Phone: " CANARY_PHONE, 400);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"" CANARY_OTP1 "\","
	         "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\",\"card\":{\"csc\":\"123\"}}",
	         id, (long long)time(NULL) + 300);
	canary_http("POST", "/v1/otp-deliveries", JSON_CT, body, "X-Phone: " CANARY_PHONE, 200);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_EMAIL\",\"otp\":\"" CANARY_OTP2 "\","
	         "\"expires_at\":%lld,\"reason\":\"DEVICE-BINDING\"}", id, (long long)time(NULL) + 300);
	canary_http("POST", "/v1/otp-deliveries", JSON_CT, body, NULL, 200);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"" CANARY_OTP1 "\","
	         "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\",\"destination\":\"" CANARY_PHONE "\"}",
	         id, (long long)time(NULL) + 300);
	canary_http("POST", "/v1/otp-deliveries", JSON_CT, body, NULL, 400);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"" CANARY_OTP1 "-\","
	         "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\",\"email\":\"" CANARY_EMAIL "\"}",
	         id, (long long)time(NULL) + 300);
	canary_http("POST", "/v1/otp-deliveries", JSON_CT, body, NULL, 400);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"" CANARY_OTP1 "!\","
	         "\"expires_at\":%lld,\"reason\":\"CARD-DIGITIZATION\"}", id, (long long)time(NULL) + 300);
	canary_http("POST", "/v1/otp-deliveries", JSON_CT, body, NULL, 400);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"" CANARY_OTP1 "\","
	         "\"expires_at\":1,\"reason\":\"" CANARY_PAN "\"}", id);
	canary_http("POST", "/v1/otp-deliveries", JSON_CT, body, NULL, 400);
	canary_http("POST", "/v1/otp-deliveries", "text/plain", body, NULL, 415);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"otp\":\"" CANARY_OTP1 "\","
	         "\"x\":[[[[[[[[[\"" CANARY_PAN "\",\"123\"]]]]]]]]]}", id);
	canary_http("POST", "/v1/otp-deliveries", JSON_CT, body, NULL, 400);

	/* Activation and case reads. */
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"" CANARY_PAN "\","
	         "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-1\"}", id);
	canary_http("POST", "/v1/activations", JSON_CT, body, NULL, 400);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC-CANARY\","
	         "\"method\":\"IN_APP\",\"proof\":{\"decision_id\":\"%s\",\"result\":\"APPROVED\","
	         "\"pan\":\"" CANARY_PAN "\",\"hmac\":\"%064d\"}}", id, id, 0);
	canary_http("POST", "/v1/activations", JSON_CT, body, NULL, 400);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC-CANARY\","
	         "\"method\":\"IN_APP\",\"proof\":{\"decision_id\":\"%s\",\"result\":\"APPROVED\","
	         "\"hmac\":\"%064d\"}}", id, id, 0);
	canary_http("POST", "/v1/activations", JSON_CT, body, NULL, 422);
	canary_http("GET", "/v1/cases/" CANARY_PAN, NULL, NULL, NULL, 400);
	canary_http("GET", "/v1/cases/x?pan=" CANARY_PAN "&csc=123", NULL, NULL, "X-Email: " CANARY_EMAIL, 404);
	char path[128];
	snprintf(path, sizeof(path), "/v1/cases/%s", id);
	canary_http("GET", path, NULL, NULL, NULL, 200);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"digital_card_id\":\"DWSPMC-CANARY\","
	         "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-1\"}", id);
	canary_http("POST", "/v1/activations", JSON_CT, body, "Authorization: Bearer " CANARY_PAN, 200);
	canary_http("GET", path, NULL, NULL, NULL, 200);
	canary_http("GET", "/metrics", NULL, NULL, NULL, 200);

	/* The channels did get them (the test is not vacuous). */
	assert_true(wait_matches(sms, NULL, CANARY_OTP1, 1, 5000));
	assert_non_null(sink_find(sms, NULL, CANARY_PHONE));
	assert_true(smtp_sink_wait(smtp, 1, 5000));
	int mailed = 0;
	for (size_t i = 0; i < smtp_sink_count(smtp); i++) {
		const smtp_sink_message *m = smtp_sink_get(smtp, i);
		mailed |= strcmp(m->rcpt[0], CANARY_EMAIL) == 0 && strstr(m->data, CANARY_OTP2) != NULL;
	}
	assert_true(mailed);
	/* Masked forms are what responses may carry. */
	assert_non_null(strstr(seen, "+1 *** *** 9876"));
	must_not_contain("the responses", seen);
	free(seen);
	seen = NULL;
	seen_len = 0;
	/* The in-app backend and the webhook get facts, not card data. */
	must_not_contain_bytes("the in-app start", sink_find(backend, NULL, id)->body,
	                       strlen(sink_find(backend, NULL, id)->body), NSECRETS);
	expect_webhook_once(id, "activated", "case.activated", "ACTIVATED", 0);

	check_db_files();  /* while running: the WAL is there */
	stop_clean();
	check_db_files();
	static const char *const files[] = { "stderr.log", "stdout.log", "decisions.log", "port" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", D.dir, files[i]);
		char *text = hd_slurp(p, NULL);
		must_not_contain(files[i], text);
		free(text);
	}
	/* Not vacuous: the debug log recorded every request and the case. */
	char *log = hd_slurp(D.stderr_log, NULL);
	assert_true(hd_count(log, "\"msg\":\"request\"") >= 15);
	assert_non_null(strstr(log, "\"route\":\"/v1/otp-deliveries\""));
	assert_non_null(strstr(log, "\"route\":\"/v1/cases/{decision_id}\""));
	assert_non_null(strstr(log, "\"field\":\"destination\""));
	assert_non_null(strstr(log, id));
	free(log);
	free(req);
	hd_rmdir(&D);
}

/* ---- group: card numbers in every field ------------------------------------------------ */

/* Issue 9 item 1's spellings, with the digits each holds. */
static const struct {
	const char *text, *url, *digits;  /* url: the text as a path segment */
} spellings[] = {
	{ "4111111111111111", NULL, "4111111111111111" },
	{ "DWSPMC4111111111111111", NULL, "4111111111111111" },
	{ "4111-1111-1111-1111", NULL, "4111111111111111" },
	{ "req4111111111111111", NULL, "4111111111111111" },
	{ "4111111111111111x", NULL, "4111111111111111" },
	{ "4111/1111/1111/1111", "4111%2F1111%2F1111%2F1111", "4111111111111111" },
	{ "4111:1111:1111:1111", NULL, "4111111111111111" },
	{ "4111+1111+1111+1111", "4111%2B1111%2B1111%2B1111", "4111111111111111" },
	{ "4111 1111 1111 1111", "4111%201111%201111%201111", "4111111111111111" },
	{ "4111.1111.1111.1111", NULL, "4111111111111111" },
	{ "4111_1111_1111_1111", NULL, "4111111111111111" },
	{ "card5555555555554444", NULL, "5555555555554444" },
	{ "3782-822463-10005", NULL, "378282246310005" },
	{ "6011 1111 1111 1117 exp 12/29", "6011%201111%201111%201117%20exp%2012-29", "6011111111111117" },
};
static const char *const pans[] = { "4111111111111111", "5555555555554444", "378282246310005",
	                            "6011111111111117" };

static int is_card_sep(char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == ':' || c == '+' || c == '_';
}

/* data holds the digits in order with only card-number separators between
 * them: the card number in any spelling. */
static int holds_digits(const char *data, size_t len, const char *digits)
{
	size_t nd = strlen(digits);
	for (size_t i = 0; i < len; i++) {
		size_t k = 0, j = i;
		while (k < nd && j < len) {
			if (data[j] == digits[k])
				k++, j++;
			else if (k > 0 && is_card_sep(data[j]))
				j++;
			else
				break;
		}
		if (k == nd)
			return 1;
	}
	return 0;
}

static void no_card_in(const char *what, const char *data, size_t len)
{
	if (!data)
		return;
	for (size_t i = 0; i < sizeof(pans) / sizeof(pans[0]); i++)
		if (holds_digits(data, len, pans[i]))
			fail_msg("%s holds the card number %s", what, pans[i]);
}

static void no_card_in_file(const char *name)
{
	char path[256];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/%s", D.dir, name);
	char *data = hd_slurp(path, &len);
	no_card_in(name, data, len);
	free(data);
}

/* template with {ID} -> id, {V} -> v, {T} -> an expiry in 5 minutes. */
static char *fill(const char *tpl, const char *id, const char *v)
{
	char t[32], *out = malloc(strlen(tpl) + 256), *o = out;
	snprintf(t, sizeof(t), "%lld", (long long)time(NULL) + 300);
	for (const char *p = tpl; *p;) {
		const char *rep = strncmp(p, "{ID}", 4) == 0 ? id : strncmp(p, "{V}", 3) == 0 ? v
		                : strncmp(p, "{T}", 3) == 0 ? t : NULL;
		if (rep) {
			o += sprintf(o, "%s", rep);
			p += rep == id ? 4 : 3;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

/* Every spelling in every string field (and a key) of Deliver OTP,
 * activation and the case read, through stepupd: 400 naming the field,
 * never in a response; then nothing in the log, the decision log, the
 * webhooks, the channels, the database or its WAL. */
static void test_card_numbers_every_field(void **state)
{
	(void)state;
	static const struct {
		const char *path, *tpl, *field;
	} places[] = {
		{ "/v1/otp-deliveries", "{\"decision_id\":\"{V}\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
		  "\"expires_at\":{T},\"reason\":\"CARD-DIGITIZATION\"}", "decision_id" },
		{ "/v1/otp-deliveries", "{\"decision_id\":\"{ID}\",\"method\":\"{V}\",\"otp\":\"123456\","
		  "\"expires_at\":{T},\"reason\":\"CARD-DIGITIZATION\"}", "method" },
		{ "/v1/otp-deliveries", "{\"decision_id\":\"{ID}\",\"method\":\"OTP_SMS\",\"otp\":\"{V}\","
		  "\"expires_at\":{T},\"reason\":\"CARD-DIGITIZATION\"}", "otp" },
		{ "/v1/otp-deliveries", "{\"decision_id\":\"{ID}\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
		  "\"expires_at\":\"{V}\",\"reason\":\"CARD-DIGITIZATION\"}", "expires_at" },
		{ "/v1/otp-deliveries", "{\"decision_id\":\"{ID}\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
		  "\"expires_at\":{T},\"reason\":\"{V}\"}", "reason" },
		{ "/v1/otp-deliveries", "{\"decision_id\":\"{ID}\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
		  "\"expires_at\":{T},\"reason\":\"CARD-DIGITIZATION\",\"note\":\"{V}\"}", "note" },
		{ "/v1/otp-deliveries", "{\"decision_id\":\"{ID}\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
		  "\"expires_at\":{T},\"reason\":\"CARD-DIGITIZATION\",\"card\":{\"pan\":\"{V}\"}}", "card.pan" },
		{ "/v1/otp-deliveries", "{\"decision_id\":\"{ID}\",\"method\":\"OTP_SMS\",\"otp\":\"123456\","
		  "\"expires_at\":{T},\"reason\":\"CARD-DIGITIZATION\",\"destination\":\"{V}\"}", "destination" },
		{ "/v1/activations", "{\"decision_id\":\"{V}\",\"digital_card_id\":\"DWSPMC-1\","
		  "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-1\"}", "decision_id" },
		{ "/v1/activations", "{\"decision_id\":\"{ID}\",\"digital_card_id\":\"{V}\","
		  "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"agent-1\"}", "digital_card_id" },
		{ "/v1/activations", "{\"decision_id\":\"{ID}\",\"digital_card_id\":\"DWSPMC-1\","
		  "\"method\":\"{V}\",\"agent_id\":\"agent-1\"}", "method" },
		{ "/v1/activations", "{\"decision_id\":\"{ID}\",\"digital_card_id\":\"DWSPMC-1\","
		  "\"method\":\"CUSTOMER_SERVICE\",\"agent_id\":\"{V}\"}", "agent_id" },
		{ "/v1/activations", "{\"decision_id\":\"{ID}\",\"digital_card_id\":\"DWSPMC-1\","
		  "\"method\":\"IN_APP\",\"proof\":{\"decision_id\":\"{ID}\",\"result\":\"APPROVED\",\"hmac\":\"{V}\"}}",
		  "proof.hmac" },
		{ "/v1/activations", "{\"decision_id\":\"{ID}\",\"digital_card_id\":\"DWSPMC-1\","
		  "\"method\":\"IN_APP\",\"proof\":{\"decision_id\":\"{ID}\",\"{V}\":\"x\"}}", "proof" },
	};
	char id[72], url[160];
	hresp r;
	assert_int_equal(start_daemon("debug", NULL, NULL), 0);
	decide(yellow_req, id);
	size_t sms_before = http_sink_count(sms), hooks_before = http_sink_count(hook);
	size_t requests = 0;
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		for (size_t k = 0; k < sizeof(places) / sizeof(places[0]); k++) {
			char *body = fill(places[k].tpl, id, spellings[i].text);
			post(places[k].path, body, auth_header, &r);
			if (r.status != 400 || strcmp(field(&r, "error.code"), "bad_request") != 0 ||
			    strcmp(field(&r, "error.field"), places[k].field) != 0)
				fail_msg("%s %s: %ld %s (wanted 400 naming %s)", places[k].path, body, r.status,
				         r.body, places[k].field);
			no_card_in("a response", r.body, r.len);
			no_card_in("a response's headers", r.headers, strlen(r.headers));
			hresp_free(&r);
			free(body);
			requests++;
		}
		snprintf(url, sizeof(url), "/v1/cases/%s", spellings[i].url ? spellings[i].url : spellings[i].text);
		hd_http(&D, NULL, "GET", url, NULL, NULL, 0, auth_header, &r);
		/* A '/' splits the path: no route, 404 from the router. */
		if (strchr(spellings[i].text, '/') && !strchr(spellings[i].text, ' ')) {
			expect_error(&r, 404, "not_found");
		} else {
			expect_error(&r, 400, "bad_request");
			assert_string_equal(field(&r, "error.field"), "decision_id");
		}
		no_card_in("a case read", r.body, r.len);
		hresp_free(&r);
		requests++;
	}
	assert_true(requests >= 200);
	/* Nothing went to a channel; the case is untouched. */
	assert_int_equal(http_sink_count(sms), sms_before);
	get_case(id, &r);
	expect_ok(&r);
	assert_string_equal(field(&r, "status"), "PENDING_IDV");
	hresp_free(&r);

	/* Harmless long numbers pass; the case closes and a webhook goes. */
	deliver(id, "OTP_SMS", "135790", ",\"ref\":\"1700000000123456789\"", &r);
	expect_ok(&r);
	hresp_free(&r);
	activate_cs(id, "DWSPMC5412751234561234", "agent-99999999999999999999", &r);
	expect_ok(&r);
	hresp_free(&r);
	expect_webhook_once(id, "activated", "case.activated", "ACTIVATED", 0);
	assert_true(http_sink_count(hook) > hooks_before);

	for (size_t i = 0; i < http_sink_count(hook); i++) {
		const http_sink_request *q = http_sink_get(hook, i);
		no_card_in("a webhook", q->body, q->body_len);
	}
	for (size_t i = 0; i < http_sink_count(sms); i++) {
		const http_sink_request *q = http_sink_get(sms, i);
		no_card_in("an SMS", q->body, q->body_len);
	}
	for (size_t i = 0; i < http_sink_count(backend); i++) {
		const http_sink_request *q = http_sink_get(backend, i);
		no_card_in("a request to the in-app backend", q->body, q->body_len);
	}
	no_card_in_file("cases.db");
	no_card_in_file("cases.db-wal");
	stop_clean();
	static const char *const files[] = { "stderr.log", "stdout.log", "decisions.log", "cases.db",
		                             "cases.db-wal" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		no_card_in_file(files[i]);
	/* Not vacuous: the log has every refusal and the field it named. */
	char *log = hd_slurp(D.stderr_log, NULL);
	assert_true(hd_count(log, "\"field\":\"digital_card_id\"") >= 14);
	assert_true(hd_count(log, "\"field\":\"proof.hmac\"") >= 14);
	free(log);
	hd_rmdir(&D);
}

/* ---- group: the database going wrong under the daemon --------------------------------- */

static void db_path(char *buf, size_t size, const char *suffix)
{
	snprintf(buf, size, "%s/cases.db%s", D.dir, suffix);
}

/* A consistent copy of the live database (the backup API reads the WAL). */
static void backup_to(const char *to)
{
	char db[256];
	sqlite3 *src, *dst;
	db_path(db, sizeof(db), "");
	assert_int_equal(sqlite3_open(db, &src), SQLITE_OK);
	sqlite3_busy_timeout(src, 5000);
	assert_int_equal(sqlite3_open(to, &dst), SQLITE_OK);
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	assert_non_null(b);
	assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
	sqlite3_backup_finish(b);
	sqlite3_close(dst);
	sqlite3_close(src);
}

/* The daemon is not ready, naming the store and why; YELLOW decisions are
 * 503 and acknowledge nothing; lifecycle writes are 503. */
static void expect_store_lost(const char *why, const char *pending_id)
{
	hresp r;
	hd_http(&D, NULL, "GET", "/health/ready", NULL, NULL, 0, NULL, &r);
	expect_error(&r, 503, "not_ready");
	if (!strstr(r.body, "case store") || !strstr(r.body, why))
		fail_msg("/health/ready: %s", r.body);
	hresp_free(&r);
	for (int i = 0; i < 3; i++) {
		post("/v1/decisions", yellow_req, NULL, &r);
		expect_error(&r, 503, "store_unavailable");
		hresp_free(&r);
	}
	activate_cs(pending_id, "DWSPMC-LOST", "agent-1", &r);
	expect_error(&r, 503, "store_unavailable");
	hresp_free(&r);
	deliver(pending_id, "OTP_SMS", "975310", NULL, &r);
	expect_error(&r, 503, "store_unavailable");
	hresp_free(&r);
	assert_true(metric("stepupd_case_store_errors_total") >= 5);
	assert_true(hd_wait_for(D.stderr_log, why, 2000));
}

/* After a restart every case acknowledged before is there, still pending. */
static void expect_cases(char ids[][72], size_t n)
{
	hresp r;
	for (size_t i = 0; i < n; i++) {
		get_case(ids[i], &r);
		expect_ok(&r);
		assert_string_equal(field(&r, "status"), "PENDING_IDV");
		hresp_free(&r);
	}
}

static void expect_ready(void)
{
	hresp r;
	hd_http(&D, NULL, "GET", "/health/ready", NULL, NULL, 0, NULL, &r);
	expect_ok(&r);
	hresp_free(&r);
}

/* Replaced under the daemon by another file (here a copy of itself, as a
 * restore from backup would): not ready, nothing acknowledged; after a
 * restart on the new file every case acknowledged before is there. */
static void test_store_replaced(void **state)
{
	(void)state;
	char ids[5][72], db[256], copy[256];
	assert_int_equal(start_daemon("info", NULL, NULL), 0);
	expect_ready();
	for (size_t i = 0; i < 5; i++)
		decide(yellow_req, ids[i]);
	db_path(db, sizeof(db), "");
	db_path(copy, sizeof(copy), ".restored");
	backup_to(copy);
	assert_int_equal(rename(copy, db), 0);
	expect_store_lost("was replaced", ids[0]);
	stop_clean();
	restart();
	expect_ready();
	expect_cases(ids, 5);
	decide(yellow_req, ids[0]);
	stop_clean();
	hd_rmdir(&D);
}

/* Deleted under the daemon: not ready, nothing acknowledged into the
 * unlinked file (before this, 40 acknowledged cases were lost at the
 * restart); the restart starts a new file, and takes cases again. */
static void test_store_deleted(void **state)
{
	(void)state;
	char id[72], db[256];
	assert_int_equal(start_daemon("info", NULL, NULL), 0);
	decide(yellow_req, id);
	db_path(db, sizeof(db), "");
	assert_int_equal(metric("stepupd_case_store_healthy"), 1);
	assert_int_equal(unlink(db), 0);
	expect_store_lost("is gone", id);
	/* /metrics agrees with /health/ready. */
	assert_int_equal(metric("stepupd_case_store_healthy"), 0);
	assert_int_equal(metric("stepupd_ready"), 0);
	assert_true(hd_wait_for(D.stderr_log, "\"msg\":\"step-up case not recorded; decision answered 503\"", 1000));
	stop_clean();
	assert_true(hd_wait_for(D.stderr_log, "case store unusable at shutdown", 1000));
	restart();
	expect_ready();
	hresp r;
	decide(yellow_req, id);
	get_case(id, &r);
	expect_ok(&r);
	hresp_free(&r);
	stop_clean();
	hd_rmdir(&D);
}

/* A corrupt database fails --check-config (non-zero, saying so) and the
 * start; checking a good one changes nothing and leaves nothing beside it. */
static void test_store_corrupt(void **state)
{
	(void)state;
	char id[72], db[256], *out, *err;
	assert_int_equal(start_daemon("info", NULL, NULL), 0);
	for (int i = 0; i < 40; i++)
		decide(yellow_req, id);
	stop_clean();
	db_path(db, sizeof(db), "");
	size_t n0, n1;
	char *before = hd_slurp(db, &n0);
	int rc = hd_run(&out, &err, "--check-config", "-c", D.config, NULL);
	if (rc != 0)
		fail_msg("check-config on a good database: %d\n%s\n%s", rc, out, err);
	free(out);
	free(err);
	char *after = hd_slurp(db, &n1);
	assert_int_equal(n0, n1);
	assert_memory_equal(before, after, n0);
	free(before);
	free(after);
	char wal[256], shm[256];
	db_path(wal, sizeof(wal), "-wal");
	db_path(shm, sizeof(shm), "-shm");
	assert_int_equal(access(wal, F_OK), -1);
	assert_int_equal(access(shm, F_OK), -1);

	/* Overwrite two pages past the header page. */
	FILE *f = fopen(db, "r+b");
	assert_non_null(f);
	assert_int_equal(fseek(f, 4096, SEEK_SET), 0);
	for (int i = 0; i < 8192; i++)
		fputc((i * 37) & 0xff, f);
	fclose(f);
	rc = hd_run(&out, &err, "--check-config", "-c", D.config, NULL);
	if (rc == 0 || !strstr(err, "the database is corrupt") || !strstr(err, db))
		fail_msg("check-config on a corrupt database: %d\n%s\n%s", rc, out, err);
	free(out);
	free(err);
	assert_int_equal(hd_start(&D), -1);
	assert_true(hd_wait_for(D.stderr_log, "the database is corrupt", 1000));
	hd_rmdir(&D);
}

/* ---- main ---------------------------------------------------------------------------- */

static int no_setup(void **state)
{
	(void)state;
	return 0;
}

/* A test that failed half-way leaves its daemon running: stop it. */
static int stop_leftover(void **state)
{
	(void)state;
	if (D.pid > 0)
		hd_finish(&D);
	return 0;
}

int main(void)
{
	char err[256];
	yellow_req = hd_slurp(SRCDIR "/tests/data/sample-request.json", NULL);
	if (!yellow_req)
		return 1;
	yellow_req[strcspn(yellow_req, "\n")] = '\0';
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);
	if (http_sink_start(NULL, 0, &sms, err, sizeof(err)) != 0 ||
	    http_sink_start(NULL, 0, &hook, err, sizeof(err)) != 0 ||
	    http_sink_start(NULL, 0, &backend, err, sizeof(err)) != 0 ||
	    smtp_sink_start(NULL, 0, &smtp, err, sizeof(err)) != 0) {
		fprintf(stderr, "loopback receivers: %s\n", err);
		return 1;
	}
	hook_port = http_sink_port(hook);

	const struct CMUnitTest flows[] = {
		cmocka_unit_test(test_sms_then_customer_service),
		cmocka_unit_test(test_inapp_valid_proof),
		cmocka_unit_test(test_inapp_invalid_proof),
		cmocka_unit_test(test_inapp_declined),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_reload_keeps_cases),
		cmocka_unit_test(test_restart_between_decision_and_activation),
		cmocka_unit_test(test_store_unavailable),
	};
	const struct CMUnitTest expiry[] = {
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_issuer_token),
	};
	const struct CMUnitTest durability[] = {
		cmocka_unit_test(test_kill9_during_activations),
		cmocka_unit_test(test_webhook_down_then_back),
		cmocka_unit_test(test_slow_channel_parked_and_drained),
	};
	const struct CMUnitTest canary[] = {
		cmocka_unit_test(test_canary),
		cmocka_unit_test(test_card_numbers_every_field),
	};
	const struct CMUnitTest store_faults[] = {
		cmocka_unit_test(test_store_replaced),
		cmocka_unit_test(test_store_deleted),
		cmocka_unit_test(test_store_corrupt),
	};
	int failed = cmocka_run_group_tests_name("lifecycle flows and refusals", flows, flows_setup,
	                                         group_teardown);
	failed += cmocka_run_group_tests_name("expiry and the issuer token", expiry, expiry_setup,
	                                      expiry_teardown);
	failed += cmocka_run_group_tests_name("durability", durability, durable_setup, group_teardown);
	failed += cmocka_run_group_tests_name("canary", canary, no_setup, stop_leftover);
	failed += cmocka_run_group_tests_name("the database going wrong", store_faults, no_setup,
	                                      stop_leftover);

	http_sink_stop(sms);
	http_sink_stop(hook);
	http_sink_stop(backend);
	smtp_sink_stop(smtp);
	curl_global_cleanup();
	free(yellow_req);
	return failed;
}
