/* test_inapp_http.c: plugins/inapp_http loaded from the build tree:
 * describe() in each language (host-allocated JSON), start() as a real
 * round trip against tests/servers/http_sink on 127.0.0.1 (path, auth,
 * the body with the request summary passed through verbatim, the HMAC
 * signature header), backend errors and deadlines within deadline + slack,
 * verify() with valid / wrong-key / wrong-decision / DECLINED / malformed
 * proofs, hex and base64 keys, configuration refusals, no request contents
 * in errors or logs, and the public plugin-set API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stepup/error.h>
#include <stepup/stepup.h>

#include "http_sink.h"
#include "plugin_fixture.h"

#ifndef PLUGIN_SO_DIR
#error "PLUGIN_SO_DIR must name the built plugins/.libs"
#endif
#define SO PLUGIN_SO_DIR "/inapp_http.so"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define DECISION "dcs_01JD3K2Q8N5V7X9Z"
/* A request summary with a marker that must never reach a log or error,
 * and a number whose text form must survive the pass-through. */
#define SUMMARY                                                                               \
	"{\"request_id\": \"7c0b6f9e-secret-marker\", \"tsp\": \"MDES\", \"score\": 1.10,"  \
	" \"card\": {\"pan_suffix\": \"1234\"}, \"wallet\": {\"device_country\": \"US\"}}"
/* Never in an error, a refusal or a log line: request contents, the key,
 * the token. */
static const char *const secrets[] = { "secret-marker", "7c0b6f9e", KEY_HEX, "be-7", NULL };

static http_sink *sink;
static su_plugin *plugin;
static const stepup_plugin_desc *desc;

/* ---- helpers --------------------------------------------------------------------- */

static const unsigned char *key_bytes(void)
{
	static unsigned char k[32];
	for (int i = 0; i < 32; i++)
		k[i] = (unsigned char)i;
	return k;
}

/* hex HMAC-SHA256 of data under key (klen bytes) into out[65]. */
static void hmac_hex(const unsigned char *key, size_t klen, const char *data, size_t len, char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	assert_non_null(HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, len, mac, &n));
	assert_int_equal(n, 32);
	for (unsigned i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", mac[i]);
}

/* A proof for (id, result), MAC'd over mac_id "|" result with key. */
static char *proof(const char *id, const char *result, const char *mac_id, const unsigned char *key)
{
	char msg[256], mac[65], *p = NULL;
	snprintf(msg, sizeof(msg), "%s|%s", mac_id, result);
	hmac_hex(key, 32, msg, strlen(msg), mac);
	if (asprintf(&p, "{\"decision_id\": \"%s\", \"result\": \"%s\", \"hmac\": \"%s\"}", id, result, mac) < 0)
		abort();
	return p;
}

#define BASE_CONFIG                                                                            \
	"{\"url\": \"http://127.0.0.1:%u/stepup/inapp\", \"allow_http\": true,"                \
	" \"auth\": {\"type\": \"bearer\", \"token\": \"be-7\"},"                              \
	" \"app\": {\"app_id\": \"com.examplebank.mobile\", \"name\": \"Example Bank\","        \
	"          \"names\": {\"fr\": \"Banque Exemple\", \"pt-BR\": \"Banco Exemplo\"},"     \
	"          \"deep_link\": \"examplebank://wallet/activate\"},"                          \
	" \"hmac_key_hex\": \"" KEY_HEX "\"%s}"

static char *config_for(const char *extra)
{
	char *c = NULL;
	if (asprintf(&c, BASE_CONFIG, (unsigned)http_sink_port(sink), extra ? extra : "") < 0)
		abort();
	return c;
}

static int start(pf_inst *in, const char *id, const char *summary, const char *lang, uint32_t timeout_ms,
		 char *err, size_t errlen)
{
	stepup_inapp_request req = { sizeof(req), id, summary, lang, 1795332000 };
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, errlen, timeout_ms);
	int rc = desc->inapp->start(in->state, &ctx, &req);
	pf_assert_clean(&in->host, err);
	return rc;
}

static int verify(pf_inst *in, const char *id, const char *p, char *err, size_t errlen)
{
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, errlen, 200);
	int rc = desc->inapp->verify(in->state, &ctx, id, p);
	pf_assert_clean(&in->host, err);
	return rc;
}

static void reply(int status, int delay_ms, int close_conn)
{
	http_sink_reply r = { .status = status, .delay_ms = delay_ms, .close = close_conn, .body = "{}" };
	http_sink_set_reply(sink, &r);
}

static const http_sink_request *last_request(void)
{
	size_t n = http_sink_count(sink);
	assert_true(n > 0);
	return http_sink_get(sink, n - 1);
}

static int group_setup(void **state)
{
	(void)state;
	char err[256];
	if (http_sink_start(NULL, 0, &sink, err, sizeof(err)) != 0) {
		fprintf(stderr, "http_sink: %s\n", err);
		return -1;
	}
	return pf_group_load(SO, config_for(NULL), secrets, &plugin, &desc);
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
	reply(202, 0, 0);
	http_sink_clear(sink);
	return 0;
}

/* ---- describe ------------------------------------------------------------------------ */

static void test_descriptor(void **unused)
{
	(void)unused;
	assert_string_equal(su_plugin_name(plugin), "inapp_http");
	assert_string_equal(su_plugin_version(plugin), "1.0.0");
	assert_non_null(desc->inapp);
	assert_null(desc->otp);
	assert_null(desc->cs);
}

static void test_describe(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	static const struct {
		const char *lang, *name;
	} cases[] = {
		{ "fr", "Banque Exemple" },	{ "fr-CA", "Banque Exemple" }, { "FR", "Banque Exemple" },
		{ "pt-BR", "Banco Exemplo" }, { "pt-PT", "Example Bank" },   { "de", "Example Bank" },
		{ "", "Example Bank" },	{ NULL, "Example Bank" },
	};
	long before = test_host_outstanding();
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		char err[160], want[256], *out = NULL;
		stepup_call_ctx ctx;
		test_host_ctx(&ctx, err, sizeof(err), 200);
		assert_int_equal(desc->inapp->describe(in.state, &ctx, cases[k].lang, &out), STEPUP_PLUGIN_OK);
		/* allocated with host->alloc: the host frees it with host->free */
		assert_int_equal(test_host_outstanding(), before + 1);
		snprintf(want, sizeof(want),
			 "{\"app_id\":\"com.examplebank.mobile\",\"app_name\":\"%s\","
			 "\"deep_link\":\"examplebank://wallet/activate\"}",
			 cases[k].name);
		assert_string_equal(out, want);
		in.host.api.free(out);
		assert_int_equal(test_host_outstanding(), before);
	}
	pf_close(&in);

	/* no deep link, no localised names; the loader's instance (malloc) */
	char err[512];
	su_plugin *p = NULL;
	int rc = su_plugin_load(SO, NULL,
				"{\"url\": \"https://backend.example/inapp\","
				" \"app\": {\"app_id\": \"com.bank.app\", \"name\": \"Bank \\\"Q\\\"\"},"
				" \"hmac_key_base64\": \"" KEY_B64 "\"}",
				&p, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("%s", err);
	char *out = NULL;
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(su_plugin_desc(p)->inapp->describe(su_plugin_state(p), &ctx, "fr", &out), STEPUP_PLUGIN_OK);
	assert_string_equal(out, "{\"app_id\":\"com.bank.app\",\"app_name\":\"Bank \\\"Q\\\"\"}");
	free(out);
	assert_int_equal(su_plugin_desc(p)->inapp->describe(su_plugin_state(p), &ctx, "fr", NULL),
			 STEPUP_PLUGIN_EINVAL);
	su_plugin_unload(p);
}

/* ---- start ---------------------------------------------------------------------------- */

static void test_start_round_trip(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	char err[160];
	assert_int_equal(start(&in, DECISION, SUMMARY, "fr-FR", 2000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	const http_sink_request *r = last_request();
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->target, "/stepup/inapp");
	assert_string_equal(http_sink_header(r, "Authorization"), "Bearer be-7");
	assert_string_equal(http_sink_header(r, "Content-Type"), "application/json");
	/* the summary is passed through as the JSON value it was, verbatim */
	assert_string_equal(r->body, "{\"decision_id\":\"" DECISION "\",\"language\":\"fr-FR\","
				     "\"expires_at\":1795332000,\"request\":" SUMMARY "}");
	json_t *o = json_loads(r->body, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "request"), "tsp")), "MDES");
	json_decref(o);
	/* signed with the shared key: the backend can tell it is us */
	char mac[65], want[96];
	hmac_hex(key_bytes(), 32, r->body, r->body_len, mac);
	snprintf(want, sizeof(want), "sha256=%s", mac);
	assert_string_equal(http_sink_header(r, "X-Stepup-Signature"), want);
	assert_non_null(test_host_log_find(&in.host, "DEBUG inapp_http: start sent (HTTP 202"));

	/* no summary: null; no language: "" */
	assert_int_equal(start(&in, DECISION, NULL, NULL, 2000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	assert_string_equal(last_request()->body, "{\"decision_id\":\"" DECISION "\",\"language\":\"\","
						  "\"expires_at\":1795332000,\"request\":null}");
	pf_close(&in);

	/* unsigned when asked, basic auth */
	char *c = NULL;
	assert_true(asprintf(&c, "{\"url\": \"http://127.0.0.1:%u/stepup/inapp\", \"allow_http\": true,"
				 " \"auth\": {\"type\": \"basic\", \"user\": \"u\", \"password\": \"p\"},"
				 " \"app\": {\"app_id\": \"a\", \"name\": \"A\"},"
				 " \"hmac_key_hex\": \"" KEY_HEX "\", \"sign_requests\": false}",
			     (unsigned)http_sink_port(sink)) > 0);
	pf_open_and_free(&in, desc, c);
	assert_int_equal(start(&in, DECISION, "[1,2]", "en", 2000, err, sizeof(err)), STEPUP_PLUGIN_OK);
	assert_null(http_sink_header(last_request(), "X-Stepup-Signature"));
	assert_string_equal(http_sink_header(last_request(), "Authorization"), "Basic dTpw");
	pf_close(&in);
}

static void test_start_refused(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	char err[160];
	assert_int_equal(start(&in, DECISION, "{\"request_id\": \"7c0b6f9e-secret-marker\",", "en", 2000, err,
			       sizeof(err)),
			 STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "inapp_http: the request summary is not valid JSON");
	assert_int_equal(start(&in, DECISION, "{} {}", "en", 2000, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
	assert_int_equal(start(&in, "dcs 1", SUMMARY, "en", 2000, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "inapp_http: no decision id, or not 1 to 128 printable characters");
	assert_int_equal(start(&in, "", SUMMARY, "en", 2000, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
	assert_int_equal(start(&in, NULL, SUMMARY, "en", 2000, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
	assert_int_equal(start(&in, DECISION, SUMMARY, "fr\"}", 2000, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "inapp_http: the language is not a language tag");
	stepup_inapp_request req = { 8, DECISION, SUMMARY, "en", 0 };
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->inapp->start(in.state, &ctx, &req), STEPUP_PLUGIN_EINVAL);
	assert_int_equal(http_sink_count(sink), 0);
	pf_close(&in);
}

static void test_start_failures(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	static const struct {
		int status, rc;
		const char *want;
	} cases[] = {
		{ 500, STEPUP_PLUGIN_UNAVAILABLE, "inapp_http: backend answered HTTP 500" },
		{ 503, STEPUP_PLUGIN_UNAVAILABLE, "inapp_http: backend answered HTTP 503" },
		{ 401, STEPUP_PLUGIN_ERROR, "inapp_http: backend refused the credentials (HTTP 401)" },
		{ 409, STEPUP_PLUGIN_ERROR, "inapp_http: backend answered HTTP 409" },
		{ 301, STEPUP_PLUGIN_ERROR, "inapp_http: backend answered HTTP 301 (redirects are not followed)" },
	};
	char err[160];
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
		reply(cases[k].status, 0, 0);
		int rc = start(&in, DECISION, SUMMARY, "en", 2000, err, sizeof(err));
		if (rc != cases[k].rc || strcmp(err, cases[k].want) != 0)
			fail_msg("HTTP %d: %d '%s', want %d '%s'", cases[k].status, rc, err, cases[k].rc, cases[k].want);
	}
	reply(200, 0, 1);
	assert_int_equal(start(&in, DECISION, SUMMARY, "en", 2000, err, sizeof(err)), STEPUP_PLUGIN_UNAVAILABLE);
	assert_string_equal(err, "inapp_http: backend unreachable: Server returned nothing (no headers, no data)");

	/* the backend answers after 10 s: give up at 300 ms */
	reply(200, 10000, 0);
	int64_t t0 = test_host_real_ms();
	assert_int_equal(start(&in, DECISION, SUMMARY, "en", 300, err, sizeof(err)), STEPUP_PLUGIN_TIMEOUT);
	pf_expect_elapsed(t0, 250, 300);
	assert_non_null(strstr(err, "inapp_http: no answer from the backend within the deadline ("));

	/* deadline already passed: nothing sent */
	reply(200, 0, 0);
	size_t n = http_sink_count(sink);
	stepup_inapp_request req = { sizeof(req), DECISION, SUMMARY, "en", 0 };
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 0);
	ctx.deadline_ms = test_host_now_ms() - 1;
	assert_int_equal(desc->inapp->start(in.state, &ctx, &req), STEPUP_PLUGIN_TIMEOUT);
	assert_string_equal(err, "inapp_http: deadline passed before sending");
	assert_int_equal(http_sink_count(sink), n);
	pf_assert_clean(&in.host, err);
	pf_close(&in);

	/* nothing listens */
	char *cfg = NULL;
	assert_true(asprintf(&cfg, "{\"url\": \"http://127.0.0.1:%u/x\", \"allow_http\": true,"
				   " \"app\": {\"app_id\": \"a\", \"name\": \"A\"}, \"hmac_key_hex\": \"" KEY_HEX "\"}",
			     (unsigned)test_host_closed_port()) > 0);
	pf_open_and_free(&in, desc, cfg);
	assert_int_equal(start(&in, DECISION, SUMMARY, "en", 2000, err, sizeof(err)), STEPUP_PLUGIN_UNAVAILABLE);
	assert_string_equal(err, "inapp_http: backend unreachable: Couldn't connect to server");
	pf_close(&in);
}

/* ---- verify ----------------------------------------------------------------------------- */

static void test_verify(void **unused)
{
	(void)unused;
	pf_inst in;
	pf_open_and_free(&in, desc, config_for(NULL));
	char err[160];
	unsigned char wrong[32];
	memcpy(wrong, key_bytes(), 32);
	wrong[31] ^= 1;

	char *p = proof(DECISION, "APPROVED", DECISION, key_bytes());
	assert_int_equal(verify(&in, DECISION, p, err, sizeof(err)), STEPUP_PLUGIN_OK);
	assert_non_null(test_host_log_find(&in.host, "INFO inapp_http: proof accepted"));
	/* the same proof does not approve another decision */
	assert_int_equal(verify(&in, "dcs_other", p, err, sizeof(err)), STEPUP_PLUGIN_REJECTED);
	assert_string_equal(err, "inapp_http: proof rejected: the proof is for another decision");
	free(p);

	/* upper-case hex is the same MAC */
	p = proof(DECISION, "APPROVED", DECISION, key_bytes());
	for (char *q = strstr(p, "\"hmac\": \"") + 9; *q != '"'; q++)
		if (*q >= 'a' && *q <= 'f')
			*q = (char)(*q - 'a' + 'A');
	assert_int_equal(verify(&in, DECISION, p, err, sizeof(err)), STEPUP_PLUGIN_OK);
	free(p);

	p = proof(DECISION, "APPROVED", DECISION, wrong);
	assert_int_equal(verify(&in, DECISION, p, err, sizeof(err)), STEPUP_PLUGIN_REJECTED);
	assert_string_equal(err, "inapp_http: proof rejected: hmac mismatch");
	free(p);

	/* the MAC was made for another decision id than the one it claims */
	p = proof(DECISION, "APPROVED", "dcs_other", key_bytes());
	assert_int_equal(verify(&in, DECISION, p, err, sizeof(err)), STEPUP_PLUGIN_REJECTED);
	assert_string_equal(err, "inapp_http: proof rejected: hmac mismatch");
	free(p);

	/* a MAC of DECLINED does not pass as APPROVED; an authentic DECLINED
	 * is authentic (the host reads the result) */
	char msg[128], mac[65], forged[256];
	snprintf(msg, sizeof(msg), "%s|DECLINED", DECISION);
	hmac_hex(key_bytes(), 32, msg, strlen(msg), mac);
	snprintf(forged, sizeof(forged), "{\"decision_id\":\"%s\",\"result\":\"APPROVED\",\"hmac\":\"%s\"}", DECISION,
		 mac);
	assert_int_equal(verify(&in, DECISION, forged, err, sizeof(err)), STEPUP_PLUGIN_REJECTED);
	assert_string_equal(err, "inapp_http: proof rejected: hmac mismatch");
	p = proof(DECISION, "DECLINED", DECISION, key_bytes());
	assert_int_equal(verify(&in, DECISION, p, err, sizeof(err)), STEPUP_PLUGIN_OK);
	free(p);
	assert_non_null(test_host_log_find(&in.host, "INFO inapp_http: proof rejected: hmac mismatch"));

	/* malformed proofs */
	char good_mac[65];
	snprintf(msg, sizeof(msg), "%s|APPROVED", DECISION);
	hmac_hex(key_bytes(), 32, msg, strlen(msg), good_mac);
	char buf[512];
	static const struct {
		const char *fmt, *want;
	} bad[] = {
		{ "not json", "inapp_http: the proof is not valid JSON" },
		{ "[\"%s\"]", "inapp_http: the proof is not a JSON object" },
		{ "{\"decision_id\": \"" DECISION "\", \"result\": \"APPROVED\"}%.0s",
		  "inapp_http: the proof needs string members decision_id, result and hmac" },
		{ "{\"decision_id\": 7, \"result\": \"APPROVED\", \"hmac\": \"%s\"}",
		  "inapp_http: the proof needs string members decision_id, result and hmac" },
		{ "{\"decision_id\": \"" DECISION "\\u0000\", \"result\": \"APPROVED\", \"hmac\": \"%s\"}",
		  "inapp_http: the proof is not valid JSON" },
		{ "{\"decision_id\": \"" DECISION "\", \"result\": \"MAYBE\", \"hmac\": \"%s\"}",
		  "inapp_http: the proof's result must be APPROVED or DECLINED" },
		{ "{\"decision_id\": \"" DECISION "\", \"result\": \"approved\", \"hmac\": \"%s\"}",
		  "inapp_http: the proof's result must be APPROVED or DECLINED" },
		{ "{\"decision_id\": \"" DECISION "\", \"result\": \"APPROVED\", \"hmac\": \"%.62s\"}",
		  "inapp_http: the proof's hmac must be 64 hex digits" },
		{ "{\"decision_id\": \"" DECISION "\", \"result\": \"APPROVED\", \"hmac\": \"%sff\"}",
		  "inapp_http: the proof's hmac must be 64 hex digits" },
		{ "{\"decision_id\": \"" DECISION "\", \"result\": \"APPROVED\", \"hmac\": \"zz%.62s\"}",
		  "inapp_http: the proof's hmac must be 64 hex digits" },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(*bad); k++) {
		snprintf(buf, sizeof(buf), bad[k].fmt, good_mac);
		int rc = verify(&in, DECISION, buf, err, sizeof(err));
		if (rc != STEPUP_PLUGIN_EINVAL || strcmp(err, bad[k].want) != 0)
			fail_msg("proof %s: %d '%s', want EINVAL '%s'", buf, rc, err, bad[k].want);
	}
	assert_int_equal(verify(&in, DECISION, NULL, err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
	assert_int_equal(verify(&in, NULL, "{}", err, sizeof(err)), STEPUP_PLUGIN_EINVAL);
	assert_string_equal(err, "inapp_http: no decision id");
	/* extra members are ignored */
	snprintf(buf, sizeof(buf), "{\"decision_id\": \"%s\", \"result\": \"APPROVED\", \"hmac\": \"%s\", \"at\": 1}",
		 DECISION, good_mac);
	assert_int_equal(verify(&in, DECISION, buf, err, sizeof(err)), STEPUP_PLUGIN_OK);
	pf_close(&in);

	/* the same key given in base64 (standard and URL-safe, unpadded) */
	static const char *const b64[] = { "\"hmac_key_base64\": \"" KEY_B64 "\"",
					   "\"hmac_key_base64\": \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"" };
	for (size_t k = 0; k < 2; k++) {
		char *cfg = NULL;
		assert_true(asprintf(&cfg, "{\"url\": \"https://backend.example/x\", \"app\": {\"app_id\": \"a\", "
					   "\"name\": \"A\"}, %s}", b64[k]) > 0);
		pf_open_and_free(&in, desc, cfg);
		p = proof(DECISION, "APPROVED", DECISION, key_bytes());
		assert_int_equal(verify(&in, DECISION, p, err, sizeof(err)), STEPUP_PLUGIN_OK);
		free(p);
		pf_close(&in);
	}
}

/* ---- configuration ------------------------------------------------------------------------ */

#define U "\"url\": \"https://backend.example/inapp\""
#define A "\"app\": {\"app_id\": \"com.bank.app\", \"name\": \"Bank\"}"
#define K "\"hmac_key_hex\": \"" KEY_HEX "\""

static void test_refusals(void **unused)
{
	(void)unused;
	static const struct {
		const char *config, *want;
	} cases[] = {
		{ "[]", "configuration must be a JSON object" },
		{ "{}", "url: missing" },
		{ "{" U ", " A ", " K ", \"secret\": 1}", "unknown key 'secret'" },
		{ "{\"url\": \"http://backend.example\", " A ", " K "}",
		  "url: http:// needs \"allow_http\": true (https:// is expected)" },
		{ "{" U ", " K "}", "app: missing" },
		{ "{" U ", \"app\": [], " K "}", "app: must be an object" },
		{ "{" U ", \"app\": {\"name\": \"Bank\"}, " K "}", "app.app_id: missing" },
		{ "{" U ", \"app\": {\"app_id\": \"com bank\", \"name\": \"Bank\"}, " K "}",
		  "app.app_id: must be 1 to 128 printable ASCII characters without blanks" },
		{ "{" U ", \"app\": {\"app_id\": \"a\"}, " K "}", "app.name: missing" },
		{ "{" U ", \"app\": {\"app_id\": \"a\", \"name\": \"B\", \"icon\": \"x\"}, " K "}",
		  "app: unknown key 'icon'" },
		{ "{" U ", \"app\": {\"app_id\": \"a\", \"name\": \"B\", \"deep_link\": \"no scheme\"}, " K "}",
		  "app.deep_link: must be a URI like \"bankapp://activate\" (printable ASCII, no blanks, at most 512)" },
		{ "{" U ", \"app\": {\"app_id\": \"a\", \"name\": \"B\", \"names\": {\"french\": \"C\"}}, " K "}",
		  "app.names: 'french' is not a language tag like \"fr\" or \"pt-BR\"" },
		{ "{" U ", \"app\": {\"app_id\": \"a\", \"name\": \"B\", \"names\": {\"fr\": 3}}, " K "}",
		  "app.names.fr: must be a string" },
		{ "{" U ", \"app\": {\"app_id\": \"a\", \"name\": \"B\", \"names\": [\"fr\"]}, " K "}",
		  "app.names: must be an object of language -> name" },
		{ "{" U ", " A "}", "hmac_key_hex or hmac_key_base64: missing" },
		{ "{" U ", " A ", " K ", \"hmac_key_base64\": \"" KEY_B64 "\"}",
		  "hmac_key_hex and hmac_key_base64: give only one" },
		{ "{" U ", " A ", \"hmac_key_hex\": \"0001020g\"}", "hmac_key_hex: must be hex digits of at most 256 bytes" },
		{ "{" U ", " A ", \"hmac_key_hex\": \"000102\"}", "hmac_key_hex: the key must be at least 32 bytes (it has 3)" },
		{ "{" U ", " A ", \"hmac_key_hex\": 12}", "hmac_key_hex: must be a string" },
		{ "{" U ", " A ", \"hmac_key_base64\": \"AAEC*AQF\"}",
		  "hmac_key_base64: must be base64 of at most 256 bytes" },
		{ "{" U ", " A ", \"hmac_key_base64\": \"AAECAwQF\"}",
		  "hmac_key_base64: the key must be at least 32 bytes (it has 6)" },
		{ "{" U ", " A ", " K ", \"sign_requests\": \"no\"}", "sign_requests: must be true or false" },
		{ "{" U ", " A ", " K ", \"auth\": {\"type\": \"oauth\"}}",
		  "auth.type: must be \"basic\", \"bearer\" or \"header\"" },
		{ "{" U ", " A ", " K ", \"auth\": {\"type\": \"bearer\"}}", "auth.token: missing" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++)
		pf_expect_refused(SO, cases[k].config, cases[k].want);
	pf_expect_refused(SO, NULL, "url: missing");
}

static void test_example_config(void **unused)
{
	(void)unused;
	char *text = pf_read_file(SRCDIR "/plugins/inapp_http/inapp_http.example.json");
	pf_inst in;
	pf_open_and_free(&in, desc, text);
	char err[160], *out = NULL;
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, sizeof(err), 200);
	assert_int_equal(desc->inapp->describe(in.state, &ctx, "de-CH", &out), STEPUP_PLUGIN_OK);
	assert_non_null(strstr(out, "\"app_name\":\"Beispielbank\""));
	in.host.api.free(out);
	assert_non_null(test_host_log_find(&in.host, "INFO inapp_http: ready: app com.examplebank.mobile"));
	pf_close(&in);
}

/* ---- through the public plugin-set API -------------------------------------------------------- */

static void test_plugin_set(void **unused)
{
	(void)unused;
	pf_logsink logs = PF_LOGSINK_INIT;
	char *config = NULL, err[256] = "";
	assert_true(asprintf(&config,
			     "{\"url\": \"http://127.0.0.1:%u/notify\", \"allow_http\": true,"
			     " \"app\": {\"app_id\": \"com.examplebank.mobile\", \"name\": \"Example Bank\"},"
			     " \"hmac_key_hex\": \"" KEY_HEX "\"}",
			     (unsigned)http_sink_port(sink)) > 0);
	stepup_plugins *ps = pf_plugins_load("inapp", SO, 400, "IN_APP", config, &logs);
	free(config);
	assert_int_equal(stepup_plugins_for_method(ps, STEPUP_IN_APP), 0);

	int rc = stepup_plugins_inapp_start(ps, DECISION, SUMMARY, "en-US", 1795332000, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("inapp_start: %d %s", rc, err);
	const http_sink_request *r = last_request();
	assert_string_equal(r->target, "/notify");
	assert_non_null(strstr(r->body, "\"decision_id\":\"" DECISION "\""));
	assert_non_null(strstr(r->body, "\"request\":" SUMMARY "}"));

	int valid = -1;
	char *p = proof(DECISION, "APPROVED", DECISION, key_bytes());
	assert_int_equal(stepup_plugins_inapp_verify(ps, DECISION, p, &valid, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(valid, 1);
	valid = -1;
	assert_int_equal(stepup_plugins_inapp_verify(ps, "dcs_other", p, &valid, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(valid, 0);
	free(p);
	p = proof(DECISION, "DECLINED", DECISION, key_bytes());
	valid = -1;
	assert_int_equal(stepup_plugins_inapp_verify(ps, DECISION, p, &valid, err, sizeof(err)), STEPUP_OK);
	assert_int_equal(valid, 1);  /* authentic; the lifecycle reads DECLINED */
	free(p);
	valid = -1;
	/* A malformed proof is an answer about the proof (invalid), not a
	 * failure of the plugin. */
	rc = stepup_plugins_inapp_verify(ps, DECISION, "{]", &valid, err, sizeof(err));
	assert_int_equal(rc, STEPUP_OK);
	assert_int_equal(valid, 0);

	reply(503, 0, 0);
	assert_int_equal(stepup_plugins_inapp_start(ps, DECISION, SUMMARY, "en", 1795332000, err, sizeof(err)),
			 STEPUP_EPLUGIN);
	assert_non_null(strstr(err, "backend answered HTTP 503"));
	pf_assert_clean(NULL, err);
	reply(200, 10000, 0);
	int64_t t0 = test_host_real_ms();
	assert_int_equal(stepup_plugins_inapp_start(ps, DECISION, SUMMARY, "en", 1795332000, err, sizeof(err)),
			 STEPUP_ETIMEOUT);
	pf_expect_elapsed(t0, 0, 400);
	pf_assert_clean(NULL, err);
	pf_plugins_unload(ps, &logs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_descriptor, test_setup),
		cmocka_unit_test_setup(test_describe, test_setup),
		cmocka_unit_test_setup(test_start_round_trip, test_setup),
		cmocka_unit_test_setup(test_start_refused, test_setup),
		cmocka_unit_test_setup(test_start_failures, test_setup),
		cmocka_unit_test_setup(test_verify, test_setup),
		cmocka_unit_test_setup(test_refusals, test_setup),
		cmocka_unit_test_setup(test_example_config, test_setup),
		cmocka_unit_test_setup(test_plugin_set, test_setup),
	};
	return cmocka_run_group_tests_name("inapp_http", tests, group_setup, group_teardown);
}
