/* test_otp_sms_http.c: plugins/otp_sms_http loaded from the build tree,
 * real round trips against tests/servers/http_sink on 127.0.0.1: what the
 * gateway receives (path, auth header, JSON / form fields, the text in
 * the chosen language), gateway errors and deadlines mapped to statuses
 * within deadline + slack, can_deliver without network, the circuit
 * breaker on a test clock, PII never in an error or a log line, every
 * configuration refusal, the standalone sinkd, and the public plugin-set
 * API (stepup_plugins_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <stepup/error.h>
#include <stepup/stepup.h>

#include "http_sink.h"
#include "plugin_fixture.h"

#ifndef PLUGIN_SO_DIR
#error "PLUGIN_SO_DIR must name the built plugins/.libs"
#endif
#define SO PLUGIN_SO_DIR "/otp_sms_http.so"

/* PII of the tests: none may appear in an error or a log line. */
#define PHONE "+14155551234"
#define PHONE_DIGITS "14155551234"
#define OTP "428913"
static const char *const secrets[] = { PHONE, PHONE_DIGITS, OTP, "5551234", NULL };

static http_sink *sink;
static su_plugin *plugin; /* loaded once through the real loader */
static const stepup_plugin_desc *desc;

/* ---- helpers ---------------------------------------------------------------- */

static char *url(const char *path)
{
	char *u = NULL;
	if (asprintf(&u, "http://127.0.0.1:%u%s", (unsigned)http_sink_port(sink), path) < 0)
		abort();
	return u;
}

/* A config: `fmt` with every %s replaced by the sink's URL + "/v1/sms". */
static char *config_for(const char *fmt)
{
	char *u = url("/v1/sms?account=42");
	char *c = NULL;
	if (asprintf(&c, fmt, u) < 0)
		abort();
	free(u);
	return c;
}

#define BASE_CONFIG                                                                         \
	"{\"url\": \"%s\", \"allow_http\": true,"                                           \
	" \"auth\": {\"type\": \"bearer\", \"token\": \"tok-123\"},"                        \
	" \"sender\": \"ExampleBank\", \"extra_fields\": {\"channel\": \"otp\"},"           \
	" \"issuer_name\": \"Example Bank\","                                               \
	" \"templates\": {"                                                                 \
	"   \"en\": \"{otp} is your {issuer} code for the card ending {pan_suffix}. "       \
	"It expires in {expiry_minutes} min.\","                                            \
	"   \"fr\": \"Code {otp} pour la carte {pan_suffix}, valable {expiry_minutes} min. " \
	"{{{issuer}}}\","                                                                   \
	"   \"pt-BR\": \"Seu c\\u00f3digo: {otp}\"}}"

static stepup_otp_message message(const char *to, const char *language)
{
	stepup_otp_message m = { sizeof(m), to, OTP, (int64_t)time(NULL) + 300, "CARD_DIGITIZATION",
				 "1234", language };
	return m;
}

static const http_sink_request *last_request(void)
{
	size_t n = http_sink_count(sink);
	assert_true(n > 0);
	return http_sink_get(sink, n - 1);
}

/* The "text" of the last JSON request (malloc'd). */
static char *last_text(const char *field)
{
	const http_sink_request *r = last_request();
	json_t *o = json_loads(r->body, 0, NULL);
	assert_non_null(o);
	const char *t = json_string_value(json_object_get(o, field));
	assert_non_null(t);
	char *s = strdup(t);
	json_decref(o);
	return s;
}

static void reply(int status, int delay_ms, int close_conn, const char *header)
{
	http_sink_reply r = { .status = status, .delay_ms = delay_ms, .close = close_conn,
			      .header = header, .body = "{\"id\":\"msg-1\",\"to\":\"" PHONE "\"}" };
	http_sink_set_reply(sink, &r);
}

static int group_setup(void **state)
{
	(void)state;
	char err[256];
	if (http_sink_start(NULL, 0, &sink, err, sizeof(err)) != 0) {
		fprintf(stderr, "http_sink: %s\n", err);
		return -1;
	}
	return pf_group_load(SO, config_for(BASE_CONFIG), secrets, &plugin, &desc);
}

static int group_teardown(void **state)
{
	(void)state;
	su_plugin_unload(plugin);
	http_sink_stop(sink);
	return 0;
}

static int test_setup(void **state)
{
	(void)state;
	reply(200, 0, 0, NULL);
	http_sink_clear(sink);
	return 0;
}

/* ---- round trips --------------------------------------------------------------- */

static void test_descriptor(void **unused)
{
	(void)unused;
	assert_string_equal(su_plugin_name(plugin), "otp_sms_http");
	assert_string_equal(su_plugin_version(plugin), "1.0.0");
	assert_int_equal(su_plugin_nfunctions(plugin), 0);
	assert_non_null(desc->otp);
	assert_null(desc->inapp);
	assert_null(desc->cs);
}

static void test_json_round_trip(void **unused)
{
	(void)unused;
	/* Through the loader's own instance first. */
	char err[160] = "";
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 2000);
	stepup_otp_message m = message(PHONE, "en-US");
	assert_int_equal(desc->otp->deliver_otp(su_plugin_state(plugin), &ctx, &m), STEPUP_PLUGIN_OK);

	const http_sink_request *r = last_request();
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->target, "/v1/sms?account=42");
	assert_string_equal(http_sink_header(r, "Authorization"), "Bearer tok-123");
	assert_string_equal(http_sink_header(r, "Content-Type"), "application/json");
	assert_non_null(strstr(http_sink_header(r, "User-Agent"), "otp_sms_http/1.0.0"));
	assert_null(http_sink_header(r, "Expect"));
	json_t *o = json_loads(r->body, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 4);
	assert_string_equal(json_string_value(json_object_get(o, "to")), PHONE);
	assert_string_equal(json_string_value(json_object_get(o, "from")), "ExampleBank");
	assert_string_equal(json_string_value(json_object_get(o, "channel")), "otp");
	/* 300 s from now: 5 minutes, rounded up */
	assert_string_equal(json_string_value(json_object_get(o, "text")),
			    OTP " is your Example Bank code for the card ending 1234. It expires in 5 min.");
	json_decref(o);
}

static void test_languages(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(BASE_CONFIG));
	static const struct {
		const char *lang, *want;
	} cases[] = {
		{ "fr", "Code " OTP " pour la carte 1234, valable 5 min. {Example Bank}" },
		{ "fr-CA", "Code " OTP " pour la carte 1234, valable 5 min. {Example Bank}" },
		{ "FR_be", "Code " OTP " pour la carte 1234, valable 5 min. {Example Bank}" },
		{ "pt-BR", "Seu c\xc3\xb3" "digo: " OTP },
		{ "pt-br", "Seu c\xc3\xb3" "digo: " OTP },
		/* pt-PT: neither the tag nor "pt" is configured: the default */
		{ "pt-PT", OTP " is your Example Bank code for the card ending 1234. It expires in 5 min." },
		{ "de", OTP " is your Example Bank code for the card ending 1234. It expires in 5 min." },
		{ "", OTP " is your Example Bank code for the card ending 1234. It expires in 5 min." },
		{ NULL, OTP " is your Example Bank code for the card ending 1234. It expires in 5 min." },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		char err[160] = "";
		stepup_otp_message m = message(PHONE, cases[k].lang);
		assert_int_equal(pf_deliver(&in, &m, 2000, err, sizeof(err)), STEPUP_PLUGIN_OK);
		char *t = last_text("text");
		if (strcmp(t, cases[k].want) != 0)
			fail_msg("language %s:\n  got  '%s'\n  want '%s'", cases[k].lang ? cases[k].lang : "NULL",
				 t, cases[k].want);
		free(t);
	}
	/* expiry rounding and an empty PAN suffix */
	char err[160] = "";
	stepup_otp_message m = message(PHONE, "en");
	m.expires_at = (int64_t)time(NULL) + 61;
	m.pan_suffix = "";
	assert_int_equal(pf_deliver(&in, &m, 2000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	char *t = last_text("text");
	assert_string_equal(t, OTP " is your Example Bank code for the card ending . It expires in 2 min.");
	free(t);
	/* the debug line names the template chosen, not the message */
	assert_non_null(test_host_log_find(&in.host, "DEBUG otp_sms_http: OTP message in 'en'"));
	assert_non_null(test_host_log_find(&in.host, "DEBUG otp_sms_http: sent (HTTP 200"));
	pf_assert_clean(&in.host, NULL);
	pf_close(&in);
}

static void test_form_round_trip(void **unused)
{
	(void)unused;
	pf_inst in;
	char *c = config_for("{\"url\": \"%s\", \"allow_http\": true, \"format\": \"form\","
			     " \"auth\": {\"type\": \"basic\", \"user\": \"stepup\", \"password\": \"s3cr:t\"},"
			     " \"fields\": {\"to\": \"msisdn\", \"text\": \"message\", \"from\": \"sender\"},"
			     " \"sender\": \"Example Bank\", \"extra_fields\": {\"route\": \"premium\"},"
			     " \"templates\": {\"en\": \"Your code: {otp} & more\"}}");
	pf_open_and_free(&in, desc, c);
	char err[160] = "";
	stepup_otp_message m = message(PHONE, "en");
	assert_int_equal(pf_deliver(&in, &m, 2000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	const http_sink_request *r = last_request();
	assert_string_equal(r->target, "/v1/sms?account=42");
	/* base64("stepup:s3cr:t") */
	assert_string_equal(http_sink_header(r, "Authorization"), "Basic c3RlcHVwOnMzY3I6dA==");
	assert_string_equal(http_sink_header(r, "Content-Type"), "application/x-www-form-urlencoded");
	assert_string_equal(r->body, "msisdn=%2B14155551234&message=Your%20code%3A%20" OTP
				     "%20%26%20more&sender=Example%20Bank&route=premium");
	pf_close(&in);
}

static void test_header_auth_and_notify(void **unused)
{
	(void)unused;
	pf_inst in;
	char *c = config_for("{\"url\": \"%s\", \"allow_http\": true,"
			     " \"auth\": {\"type\": \"header\", \"name\": \"X-Api-Key\", \"value\": \"k-9\"},"
			     " \"templates\": {\"en\": \"{otp}\"}}");
	pf_open_and_free(&in, desc, c);
	char err[160] = "";
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 2000);
	const char *text = "Your card ending 1234 was added to Apple Pay. Pas vous ? Appelez-nous \xe2\x98\x8e";
	assert_int_equal(desc->otp->notify(in.state, &ctx, PHONE, text, "fr"), STEPUP_PLUGIN_OK);
	const http_sink_request *r = last_request();
	assert_string_equal(http_sink_header(r, "X-Api-Key"), "k-9");
	assert_null(http_sink_header(r, "Authorization"));
	char *t = last_text("text");
	assert_string_equal(t, text);
	free(t);
	/* no "from" field without a sender */
	json_t *o = json_loads(r->body, 0, NULL);
	assert_int_equal(json_object_size(o), 2);
	json_decref(o);

	/* notify refuses what it cannot send, without sending */
	size_t before = http_sink_count(sink);
	assert_int_equal(desc->otp->notify(in.state, &ctx, PHONE, "", NULL), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "otp_sms_http: text must be 1 to 1600 bytes of UTF-8");
	assert_int_equal(desc->otp->notify(in.state, &ctx, PHONE, "bad \xff utf-8", NULL),
			 STEPUP_PLUGIN_EINVAL);
	assert_int_equal(desc->otp->notify(in.state, &ctx, "4155551234", "hello", NULL), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "otp_sms_http: destination is not an E.164 number");
	assert_int_equal(desc->otp->notify(in.state, &ctx, NULL, "hello", NULL), STEPUP_PLUGIN_EINVAL);
	assert_int_equal(http_sink_count(sink), before);
	pf_assert_clean(&in.host, err);
	pf_close(&in);
}

/* ---- no network: can_deliver and refused messages ---------------------------------- */

static void test_can_deliver(void **unused)
{
	(void)unused;
	pf_inst in;
	char *c = config_for("{\"url\": \"%s\", \"allow_http\": true, \"templates\": {\"en\": \"{otp}\"},"
			     " \"allowed_prefixes\": [\"+44\", \"+1415\"]}");
	pf_open_and_free(&in, desc, c);
	char err[160];
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 200);
	const stepup_otp_channel *otp = desc->otp;
	assert_int_equal(otp->can_deliver(in.state, &ctx, NULL), STEPUP_PLUGIN_OK);
	assert_int_equal(otp->can_deliver(in.state, &ctx, PHONE), STEPUP_PLUGIN_OK);
	assert_int_equal(otp->can_deliver(in.state, &ctx, "+447700900123"), STEPUP_PLUGIN_OK);
	static const char *const bad[] = { "14155551234", "+0155551234", "+1 415 555 1234", "+141555",
					   "+1415555123456789", "+1415555123a", "", "+" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
		assert_int_equal(otp->can_deliver(in.state, &ctx, bad[k]), STEPUP_PLUGIN_UNAVAILABLE);
		assert_string_equal(err, "otp_sms_http: destination is not an E.164 number");
	}
	/* E.164 but outside the allow-list (+1 212, +33) */
	assert_int_equal(otp->can_deliver(in.state, &ctx, "+12125551234"), STEPUP_PLUGIN_UNAVAILABLE);
	assert_string_equal(err, "otp_sms_http: destination country is not in allowed_prefixes");
	assert_int_equal(otp->can_deliver(in.state, &ctx, "+33612345678"), STEPUP_PLUGIN_UNAVAILABLE);
	stepup_otp_message m = message("+33612345678", "en");
	assert_int_equal(pf_deliver(&in, &m, 2000, err, sizeof(err)), STEPUP_PLUGIN_UNAVAILABLE);
	/* can_deliver never touches the network */
	assert_int_equal(http_sink_count(sink), 0);
	pf_assert_clean(&in.host, err);
	pf_close(&in);
}

static void test_refused_messages(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(BASE_CONFIG));
	char err[160];
	stepup_otp_message m;
	static const struct {
		const char *dest, *otp, *suffix;
		int64_t expires_in;
		const char *want;
	} cases[] = {
		{ "4155551234", OTP, "1234", 300, "otp_sms_http: destination is not an E.164 number" },
		{ PHONE, "", "1234", 300, "otp_sms_http: the OTP must be 1 to 32 printable ASCII characters" },
		{ PHONE, "42 89", "1234", 300, "otp_sms_http: the OTP must be 1 to 32 printable ASCII characters" },
		{ PHONE, OTP, "12a4", 300, "otp_sms_http: pan_suffix must be at most 8 digits" },
		{ PHONE, OTP, "1234", 0, "otp_sms_http: the OTP has already expired" },
		{ PHONE, OTP, "1234", -60, "otp_sms_http: the OTP has already expired" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		m = message(cases[k].dest, "en");
		m.otp = cases[k].otp;
		m.pan_suffix = cases[k].suffix;
		m.expires_at = (int64_t)time(NULL) + cases[k].expires_in;
		assert_int_equal(pf_deliver(&in, &m, 2000, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
		assert_string_equal(err, cases[k].want);
	}
	/* a message struct from a host that predates a field */
	m = message(PHONE, "en");
	m.size = offsetof(stepup_otp_message, pan_suffix);
	assert_int_equal(pf_deliver(&in, &m, 2000, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "otp_sms_http: incomplete OTP message");
	assert_int_equal(desc->otp->deliver_otp(in.state, NULL, &m), STEPUP_PLUGIN_EINVAL);
	/* a context without an error buffer */
	stepup_call_ctx quiet = { sizeof(quiet), 200, test_host_now_ms() + 200, NULL, 0 };
	m.size = sizeof(m);
	m.destination = "bad";
	assert_int_equal(desc->otp->deliver_otp(in.state, &quiet, &m), STEPUP_PLUGIN_EINVAL);
	assert_int_equal(http_sink_count(sink), 0);
	pf_close(&in);
}

/* ---- gateway failures and deadlines -------------------------------------------------- */

static pf_outcome run(pf_inst *in, uint32_t timeout_ms)
{
	stepup_otp_message m = message(PHONE, "en");
	return pf_run(in, &m, timeout_ms);
}

static void test_gateway_errors(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(BASE_CONFIG));
	static const struct {
		int status;
		int rc;
		const char *want;
	} cases[] = {
		{ 500, STEPUP_PLUGIN_UNAVAILABLE, "otp_sms_http: gateway answered HTTP 500" },
		{ 503, STEPUP_PLUGIN_UNAVAILABLE, "otp_sms_http: gateway answered HTTP 503" },
		{ 429, STEPUP_PLUGIN_UNAVAILABLE, "otp_sms_http: gateway answered HTTP 429" },
		{ 401, STEPUP_PLUGIN_ERROR, "otp_sms_http: gateway refused the credentials (HTTP 401)" },
		{ 403, STEPUP_PLUGIN_ERROR, "otp_sms_http: gateway refused the credentials (HTTP 403)" },
		{ 400, STEPUP_PLUGIN_ERROR, "otp_sms_http: gateway answered HTTP 400" },
		{ 404, STEPUP_PLUGIN_ERROR, "otp_sms_http: gateway answered HTTP 404" },
		{ 202, STEPUP_PLUGIN_OK, "" },
		{ 204, STEPUP_PLUGIN_OK, "" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		reply(cases[k].status, 0, 0, NULL);
		pf_outcome o = run(&in, 2000);
		if (o.rc != cases[k].rc || (cases[k].rc && strcmp(o.err, cases[k].want) != 0))
			fail_msg("HTTP %d: status %d '%s', want %d '%s'", cases[k].status, o.rc, o.err,
				 cases[k].rc, cases[k].want);
	}
	assert_int_equal(http_sink_count(sink), sizeof(cases) / sizeof(*cases));
	assert_non_null(test_host_log_find(&in.host, "WARNING otp_sms_http: send failed after "));
	assert_non_null(test_host_log_find(&in.host, "ms: gateway answered HTTP 500"));

	/* a redirect, even to the same host, is not followed */
	http_sink *other;
	char err[160];
	assert_int_equal(http_sink_start(NULL, 0, &other, err, sizeof(err)), 0);
	char loc[96];
	snprintf(loc, sizeof(loc), "Location: http://127.0.0.1:%u/steal", (unsigned)http_sink_port(other));
	reply(302, 0, 0, loc);
	pf_outcome o = run(&in, 2000);
	assert_int_equal(o.rc, STEPUP_PLUGIN_ERROR);
	assert_string_equal(o.err, "otp_sms_http: gateway answered HTTP 302 (redirects are not followed)");
	assert_int_equal(http_sink_count(other), 0);
	http_sink_stop(other);

	/* the gateway closes without answering */
	reply(200, 0, 1, NULL);
	o = run(&in, 2000);
	assert_int_equal(o.rc, STEPUP_PLUGIN_UNAVAILABLE);
	assert_string_equal(o.err, "otp_sms_http: gateway unreachable: Server returned nothing (no headers, no data)");
	pf_close(&in);

	/* nothing listens */
	char *cfg = NULL;
	assert_true(asprintf(&cfg, "{\"url\": \"http://127.0.0.1:%u/v1/sms\", \"allow_http\": true,"
				   " \"templates\": {\"en\": \"{otp}\"}}",
			     (unsigned)test_host_closed_port()) > 0);
	pf_open_and_free(&in, desc, cfg);
	o = run(&in, 2000);
	assert_int_equal(o.rc, STEPUP_PLUGIN_UNAVAILABLE);
	assert_string_equal(o.err, "otp_sms_http: gateway unreachable: Couldn't connect to server");
	assert_true(o.elapsed_ms < 2000);
	pf_close(&in);
}

static void test_deadline(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(BASE_CONFIG));
	/* The gateway answers after 10 s; the call must give up at 300 ms. */
	reply(200, 10000, 0, NULL);
	int64_t t0 = test_host_real_ms();
	pf_outcome o = run(&in, 300);
	assert_int_equal(o.rc, STEPUP_PLUGIN_TIMEOUT);
	assert_true(pf_starts_with(o.err, "otp_sms_http: no answer from the gateway within the deadline ("));
	pf_expect_elapsed(t0, 250, 300);
	/* the request did reach the gateway before the deadline */
	assert_int_equal(http_sink_count(sink), 1);

	/* A deadline already passed: nothing is sent. */
	reply(200, 0, 0, NULL);
	char err[160];
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 0);
	ctx.deadline_ms = test_host_now_ms() - 1;
	stepup_otp_message m = message(PHONE, "en");
	assert_int_equal(desc->otp->deliver_otp(in.state, &ctx, &m), STEPUP_PLUGIN_TIMEOUT);
	assert_string_equal(err, "otp_sms_http: deadline passed before sending");
	assert_int_equal(desc->otp->notify(in.state, &ctx, PHONE, "hello", "en"), STEPUP_PLUGIN_TIMEOUT);
	assert_int_equal(http_sink_count(sink), 1);
	pf_assert_clean(&in.host, err);
	pf_close(&in);
}

static void test_circuit_breaker(void **unused)
{
	(void)unused;
	pf_inst in;
	char *c = config_for("{\"url\": \"%s\", \"allow_http\": true, \"templates\": {\"en\": \"{otp}\"},"
			     " \"circuit_breaker\": {\"failures\": 2, \"open_seconds\": 30}}");
	pf_open_and_free(&in, desc, c);
	char err[160];
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 200);

	/* request-specific failures (400) do not count */
	reply(400, 0, 0, NULL);
	assert_int_equal(run(&in, 2000).rc, STEPUP_PLUGIN_ERROR);
	assert_int_equal(run(&in, 2000).rc, STEPUP_PLUGIN_ERROR);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, PHONE), STEPUP_PLUGIN_OK);

	/* two gateway failures in a row open it */
	reply(503, 0, 0, NULL);
	assert_int_equal(run(&in, 2000).rc, STEPUP_PLUGIN_UNAVAILABLE);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, PHONE), STEPUP_PLUGIN_OK);
	assert_int_equal(run(&in, 2000).rc, STEPUP_PLUGIN_UNAVAILABLE);
	assert_non_null(test_host_log_find(&in.host,
					   "WARNING otp_sms_http: circuit open for 30 s after 2 consecutive failures"));
	size_t sent = http_sink_count(sink);
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, PHONE), STEPUP_PLUGIN_UNAVAILABLE);
	assert_string_equal(err, "otp_sms_http: circuit open after 2 consecutive gateway failures");
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, NULL), STEPUP_PLUGIN_UNAVAILABLE);
	/* open: calls fail fast, without sending */
	reply(200, 0, 0, NULL);
	pf_outcome o = run(&in, 2000);
	assert_int_equal(o.rc, STEPUP_PLUGIN_UNAVAILABLE);
	assert_string_equal(o.err, "otp_sms_http: circuit open after 2 consecutive gateway failures");
	assert_int_equal(http_sink_count(sink), sent);

	/* 29 s later still open; after 30 s one call goes through ... */
	test_host_advance_ms(29000);
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, NULL), STEPUP_PLUGIN_UNAVAILABLE);
	test_host_advance_ms(1001);
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, NULL), STEPUP_PLUGIN_OK);
	/* ... and its failure opens the circuit again at once */
	reply(500, 0, 0, NULL);
	assert_int_equal(run(&in, 2000).rc, STEPUP_PLUGIN_UNAVAILABLE);
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, NULL), STEPUP_PLUGIN_UNAVAILABLE);
	test_host_advance_ms(30001);
	/* a success closes it: the next single failure does not open it */
	reply(200, 0, 0, NULL);
	assert_int_equal(run(&in, 2000).rc, STEPUP_PLUGIN_OK);
	reply(500, 0, 0, NULL);
	assert_int_equal(run(&in, 2000).rc, STEPUP_PLUGIN_UNAVAILABLE);
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, NULL), STEPUP_PLUGIN_OK);
	/* timeouts and refused connections count too (covered as
	 * "systemic" in the plugin); a 401 does */
	reply(401, 0, 0, NULL);
	assert_int_equal(run(&in, 2000).rc, STEPUP_PLUGIN_ERROR);
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, NULL), STEPUP_PLUGIN_UNAVAILABLE);
	pf_assert_clean(&in.host, err);
	pf_close(&in);
}

static void test_threads(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(BASE_CONFIG));
	enum { N = 8 };
	stepup_otp_message m = message(PHONE, "fr");
	pf_deliver_threads(&in, &m, N, 5000);
	assert_int_equal(http_sink_count(sink), N);
	for (size_t k = 0; k < N; k++)
		assert_non_null(strstr(http_sink_get(sink, k)->body, "Code " OTP " pour la carte 1234"));
	pf_close(&in);
}

/* ---- configuration ------------------------------------------------------------------- */

#define U "\"url\": \"http://127.0.0.1:1/sms\", \"allow_http\": true"
#define T "\"templates\": {\"en\": \"{otp}\"}"

static void test_refusals(void **unused)
{
	(void)unused;
	static const struct {
		const char *config, *want;
	} cases[] = {
		{ "[]", "configuration must be a JSON object" },
		{ "{}", "url: missing" },
		{ "{" T "}", "url: missing" },
		{ "{" U ", " T ", \"timeout\": 5}", "unknown key 'timeout'" },
		{ "{\"url\": \"http://127.0.0.1:1/sms\", " T "}",
		  "url: http:// needs \"allow_http\": true (https:// is expected)" },
		{ "{\"url\": \"ftp://gw.example/sms\", " T "}", "url: must be an https:// URL" },
		{ "{\"url\": \"sms gateway\", " T "}", "url: must be an absolute http(s) URL" },
		{ "{\"url\": \"https://user:pw@gw.example/sms\", " T "}",
		  "url: must not carry credentials (use \"auth\")" },
		{ "{\"url\": 42, " T "}", "url: must be a string" },
		{ "{\"url\": \"https://gw.example\", \"allow_http\": \"yes\", " T "}",
		  "allow_http: must be true or false" },
		{ "{" U "}", "templates: missing" },
		{ "{" U ", \"templates\": {}}", "templates: must be an object of language -> template" },
		{ "{" U ", \"templates\": [\"{otp}\"]}", "templates: must be an object of language -> template" },
		{ "{" U ", \"templates\": {\"english\": \"{otp}\"}}",
		  "templates: 'english' is not a language tag like \"en\" or \"pt-BR\"" },
		{ "{" U ", \"templates\": {\"en\": \"{otp}\", \"EN\": \"{otp}\"}}", "templates: 'EN' given twice" },
		{ "{" U ", \"templates\": {\"en\": \"no code here\"}}", "templates.en: must contain {otp}" },
		{ "{" U ", \"templates\": {\"en\": \"{otp} {code}\"}}",
		  "templates.en: unknown placeholder '{code}' (expected {otp}, {pan_suffix}, "
		  "{expiry_minutes}, {issuer})" },
		{ "{" U ", \"templates\": {\"en\": \"{otp} {pan_suffix\"}}",
		  "templates.en: unclosed '{' (write '{{' for a literal brace)" },
		{ "{" U ", \"templates\": {\"en\": \"{otp} }\"}}",
		  "templates.en: stray '}' (write '}}' for a literal brace)" },
		{ "{" U ", \"templates\": {\"en\": \"{otp} from {issuer}\"}}",
		  "templates.en: uses {issuer} but issuer_name is not set" },
		{ "{" U ", \"templates\": {\"en\": 7}}", "templates.en: must be a string" },
		{ "{" U ", \"templates\": {\"en\": \"\"}}", "templates.en: must be non-empty text" },
		{ "{" U ", \"templates\": {\"en\": \"{otp}\\u0007\"}}", "templates.en: must be non-empty text" },
		{ "{" U ", \"templates\": {\"fr\": \"{otp}\"}}",
		  "templates: no template for the default language 'en' (add one or set default_language)" },
		{ "{" U ", " T ", \"default_language\": \"de\"}", "default_language: no template for 'de'" },
		{ "{" U ", " T ", \"default_language\": \"d\"}",
		  "default_language: must be a language tag like \"en\" or \"pt-BR\"" },
		{ "{" U ", " T ", \"auth\": \"bearer\"}", "auth: must be an object" },
		{ "{" U ", " T ", \"auth\": {}}", "auth.type: missing" },
		{ "{" U ", " T ", \"auth\": {\"type\": \"digest\"}}",
		  "auth.type: must be \"basic\", \"bearer\" or \"header\"" },
		{ "{" U ", " T ", \"auth\": {\"type\": \"basic\", \"user\": \"u\"}}", "auth.password: missing" },
		{ "{" U ", " T ", \"auth\": {\"type\": \"basic\", \"user\": \"u:x\", \"password\": \"p\"}}",
		  "auth.user: must be non-empty text without ':' or controls" },
		{ "{" U ", " T ", \"auth\": {\"type\": \"basic\", \"user\": \"u\", \"password\": \"p\", \"token\": \"t\"}}",
		  "auth: unknown key 'token'" },
		{ "{" U ", " T ", \"auth\": {\"type\": \"bearer\", \"token\": \"a\\nb\"}}",
		  "auth.token: must be non-empty text without controls" },
		{ "{" U ", " T ", \"auth\": {\"type\": \"header\", \"name\": \"X Key\", \"value\": \"v\"}}",
		  "auth.name: must be an HTTP header name like \"X-Api-Key\"" },
		{ "{" U ", " T ", \"format\": \"xml\"}", "format: must be \"json\" or \"form\"" },
		{ "{" U ", " T ", \"fields\": {\"phone\": \"to\"}}", "fields: unknown key 'phone'" },
		{ "{" U ", " T ", \"fields\": {\"to\": \"a b\"}}",
		  "fields.to: must be a field name of 1 to 64 letters, digits, '_', '.', '-'" },
		{ "{" U ", " T ", \"fields\": {\"to\": \"text\"}}",
		  "fields: 'to', 'text' and 'from' must be three different names" },
		{ "{" U ", " T ", \"extra_fields\": {\"to\": \"x\"}}", "extra_fields.to: collides with a message field" },
		{ "{" U ", " T ", \"extra_fields\": {\"k\": 1}}", "extra_fields.k: must be a string" },
		{ "{" U ", " T ", \"extra_fields\": {\"a b\": \"x\"}}",
		  "extra_fields: 'a b' is not a field name of 1 to 64 letters, digits, '_', '.', '-'" },
		{ "{" U ", " T ", \"allowed_prefixes\": []}",
		  "allowed_prefixes: must be a non-empty array of prefixes like \"+44\"" },
		{ "{" U ", " T ", \"allowed_prefixes\": [\"+44\", \"33\"]}",
		  "allowed_prefixes[1]: must be a prefix like \"+44\"" },
		{ "{" U ", " T ", \"circuit_breaker\": {\"failures\": 3}}", "circuit_breaker.open_seconds: missing" },
		{ "{" U ", " T ", \"circuit_breaker\": {\"failures\": 0, \"open_seconds\": 5}}",
		  "circuit_breaker.failures: must be an integer from 1 to 1000" },
		{ "{" U ", " T ", \"circuit_breaker\": {\"failures\": 2, \"open_seconds\": 5, \"x\": 1}}",
		  "circuit_breaker: unknown key 'x'" },
		{ "{" U ", " T ", \"ca_file\": \"ca.pem\"}", "ca_file: must be an absolute path" },
		{ "{" U ", " T ", \"ca_file\": \"/nonexistent/ca.pem\"}", "ca_file: cannot read '/nonexistent/ca.pem'" },
		{ "{" U ", " T ", \"sender\": \"\"}", "sender: must be non-empty text without controls" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++)
		if (cases[k].want)
			pf_expect_refused(SO, cases[k].config, cases[k].want);

	/* not JSON, duplicate keys, no configuration at all */
	static const char *const bad_json[] = { "{", "{" U ", " U "}", "", "nonsense" };
	for (size_t k = 0; k < sizeof(bad_json) / sizeof(*bad_json); k++) {
		char err[512];
		su_plugin *p = NULL;
		assert_int_equal(su_plugin_load(SO, NULL, bad_json[k], &p, err, sizeof(err)), STEPUP_EPLUGIN);
		assert_null(p);
		assert_non_null(strstr(err, ": init failed: configuration is not valid JSON (line "));
	}
	pf_expect_refused(SO, NULL, "url: missing");
}

static void test_example_config(void **unused)
{
	(void)unused;
	char *text = pf_read_file(SRCDIR "/plugins/otp_sms_http/otp_sms_http.example.json");
	pf_inst in;
	pf_open_and_free(&in, desc, text);
	char err[160];
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->otp->can_deliver(in.state, &ctx, "+447700900123"), STEPUP_PLUGIN_OK);
	assert_non_null(test_host_log_find(&in.host, "INFO otp_sms_http: ready: json to host "));
	pf_close(&in);
}

/* ---- sinkd, the standalone receiver ------------------------------------------------------ */

static void test_sinkd_process(void **unused)
{
	(void)unused;
	static const char *const status[] = { "--status", "202", NULL };
	pf_sinkd sd;
	pf_sinkd_start(&sd, SINKD, "http", status);
	char *cfg = NULL;
	assert_true(asprintf(&cfg, "{\"url\": \"http://127.0.0.1:%u/hook\", \"allow_http\": true,"
				   " \"templates\": {\"en\": \"code {otp}\"}}", sd.port) > 0);
	pf_inst in;
	pf_open_and_free(&in, desc, cfg);
	char err[160];
	stepup_otp_message m = message(PHONE, "en");
	assert_int_equal(pf_deliver(&in, &m, 3000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	pf_close(&in);

	char *rec = pf_sinkd_finish(&sd, "0001.http");
	assert_true(pf_starts_with(rec, "POST /hook HTTP/1.1\r\n"));
	assert_non_null(strstr(rec, "\r\n\r\n{\"to\":\"" PHONE "\",\"text\":\"code " OTP "\"}"));
	free(rec);
}

/* ---- the receiver itself, driven by hand ------------------------------------------------- */

static void raw_send(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Read until `until` has been seen (or EOF): malloc'd. */
static char *raw_read_until(int fd, const char *until)
{
	char *buf = calloc(1, 8192);
	size_t n = 0;
	while (n < 8191 && !strstr(buf, until)) {
		ssize_t k = recv(fd, buf + n, 8191 - n, 0);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	return buf;
}

static void test_http_sink_by_hand(void **unused)
{
	(void)unused;
	http_sink_reply r = { .status = 201, .body = "made", .content_type = "text/plain",
			      .header = "X-Trace: 7" };
	http_sink_set_reply(sink, &r);
	int fd = pf_raw_connect(http_sink_port(sink));
	raw_send(fd, "PUT /c?x=1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		     "Expect: 100-continue\r\nX-Dup: a\r\nx-dup:  b  \r\n\r\n");
	char *cont = raw_read_until(fd, "\r\n\r\n");
	assert_string_equal(cont, "HTTP/1.1 100 Continue\r\n\r\n");
	free(cont);
	raw_send(fd, "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n");
	char *resp = raw_read_until(fd, "made");
	close(fd);
	assert_true(pf_starts_with(resp, "HTTP/1.1 201 Created\r\n"));
	assert_non_null(strstr(resp, "\r\nContent-Type: text/plain\r\n"));
	assert_non_null(strstr(resp, "\r\nX-Trace: 7\r\n"));
	assert_non_null(strstr(resp, "\r\nContent-Length: 4\r\n"));
	assert_non_null(strstr(resp, "\r\n\r\nmade"));
	free(resp);
	assert_true(http_sink_wait(sink, 1, 1000));
	const http_sink_request *q = http_sink_get(sink, 0);
	assert_string_equal(q->method, "PUT");
	assert_string_equal(q->target, "/c?x=1");
	assert_string_equal(q->version, "HTTP/1.1");
	assert_int_equal(q->body_len, 11);
	assert_string_equal(q->body, "hello world");
	assert_int_equal(http_sink_header_count(q, "X-DUP"), 2);
	assert_string_equal(http_sink_header(q, "x-dup"), "a");
	assert_string_equal(q->headers[4].value, "b");
	assert_null(http_sink_get(sink, 1));

	/* garbage is dropped, not recorded; the server keeps serving */
	fd = pf_raw_connect(http_sink_port(sink));
	raw_send(fd, "nonsense\r\n\r\n");
	char *none = raw_read_until(fd, "\n");
	assert_string_equal(none, "");
	free(none);
	close(fd);
	assert_int_equal(http_sink_count(sink), 1);
	assert_false(http_sink_wait(sink, 2, 50));
}

/* ---- through the public plugin-set API ------------------------------------------------------ */

static void test_plugin_set(void **unused)
{
	(void)unused;
	pf_logsink logs = PF_LOGSINK_INIT;
	char *config = NULL, err[256] = "";
	assert_true(asprintf(&config,
			     "{\"url\": \"http://127.0.0.1:%u/v1/sms\", \"allow_http\": true,"
			     " \"auth\": {\"type\": \"bearer\", \"token\": \"tok-123\"},"
			     " \"templates\": {\"en\": \"{otp} for card {pan_suffix}\"}}",
			     (unsigned)http_sink_port(sink)) > 0);
	stepup_plugins *ps = pf_plugins_load("sms", SO, 400, "OTP_SMS", config, &logs);
	free(config);
	assert_int_equal(stepup_plugins_for_method(ps, STEPUP_OTP_SMS), 0);
	assert_int_equal(stepup_plugins_for_method(ps, STEPUP_OTP_EMAIL), -1);

	stepup_otp otp = { PHONE, OTP, (int64_t)time(NULL) + 300, "CARD_DIGITIZATION", "1234", "" };
	assert_int_equal(stepup_plugins_deliver_otp(ps, STEPUP_OTP_SMS, &otp, err, sizeof(err)), STEPUP_OK);
	const http_sink_request *r = last_request();
	assert_string_equal(r->target, "/v1/sms");
	assert_string_equal(http_sink_header(r, "Authorization"), "Bearer tok-123");
	char *t = last_text("text");
	assert_string_equal(t, OTP " for card 1234");
	free(t);
	assert_int_equal(stepup_plugins_notify(ps, STEPUP_OTP_SMS, PHONE, "Card added", "en", err, sizeof(err)),
			 STEPUP_OK);
	t = last_text("text");
	assert_string_equal(t, "Card added");
	free(t);
	assert_int_equal(stepup_plugins_deliver_otp(ps, STEPUP_OTP_EMAIL, &otp, err, sizeof(err)),
			 STEPUP_ENOTFOUND);
	assert_int_equal(stepup_plugins_check(ps, 0, err, sizeof(err)), STEPUP_OK);

	/* a gateway failure: EPLUGIN, the reason without PII */
	reply(500, 0, 0, NULL);
	assert_int_equal(stepup_plugins_deliver_otp(ps, STEPUP_OTP_SMS, &otp, err, sizeof(err)), STEPUP_EPLUGIN);
	assert_non_null(strstr(err, "gateway answered HTTP 500"));
	pf_assert_clean(NULL, err);
	/* a gateway slower than the plugin's 400 ms deadline */
	reply(200, 10000, 0, NULL);
	int64_t t0 = test_host_real_ms();
	assert_int_equal(stepup_plugins_deliver_otp(ps, STEPUP_OTP_SMS, &otp, err, sizeof(err)), STEPUP_ETIMEOUT);
	pf_assert_clean(NULL, err);
	pf_expect_elapsed(t0, 0, 400);
	pf_plugins_unload(ps, &logs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_descriptor, test_setup),
		cmocka_unit_test_setup(test_json_round_trip, test_setup),
		cmocka_unit_test_setup(test_languages, test_setup),
		cmocka_unit_test_setup(test_form_round_trip, test_setup),
		cmocka_unit_test_setup(test_header_auth_and_notify, test_setup),
		cmocka_unit_test_setup(test_can_deliver, test_setup),
		cmocka_unit_test_setup(test_refused_messages, test_setup),
		cmocka_unit_test_setup(test_gateway_errors, test_setup),
		cmocka_unit_test_setup(test_deadline, test_setup),
		cmocka_unit_test_setup(test_circuit_breaker, test_setup),
		cmocka_unit_test_setup(test_threads, test_setup),
		cmocka_unit_test_setup(test_refusals, test_setup),
		cmocka_unit_test_setup(test_example_config, test_setup),
		cmocka_unit_test_setup(test_sinkd_process, test_setup),
		cmocka_unit_test_setup(test_http_sink_by_hand, test_setup),
		cmocka_unit_test_setup(test_plugin_set, test_setup),
	};
	return cmocka_run_group_tests_name("otp_sms_http", tests, group_setup, group_teardown);
}
