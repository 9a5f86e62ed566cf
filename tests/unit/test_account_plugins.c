/* test_account_plugins.c: the two account data sources (issue 12), each
 * .so loaded as built, on a test_host with the host's card-number policy:
 *
 *   account_file: a known card with its facts and the CVC2 and expiry
 *   checks (MATCH, INVALID, ABSENT), an unknown card (REJECTED), a key
 *   file others can read and an accounts file holding a card number in
 *   clear refused at load (a phone number is not one);
 *   account_http: the signed lookup (timestamp and HMAC-SHA-256 of the
 *   body, checked here as a backend would), 200 facts, 404 REJECTED, 503
 *   UNAVAILABLE, no answer by the deadline TIMEOUT; no card data in any
 *   error or log line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stepup/plugin.h>
#include <stepup/stepup.h>

#include "helpers.h"
#include "http_sink.h"
#include "test_host.h"

#define DATA SRCDIR "/tests/data/mdes/"
#define HTTP_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char dir[64];

typedef struct inst {
	void *so;
	const stepup_plugin_desc *desc;
	test_host h;
	void *state;
} inst;

/* init the plugin `name` with config: its status, the reason in err. */
static int open_inst(inst *in, const char *name, const char *config, char *err, size_t errlen)
{
	char path[512];
	snprintf(path, sizeof(path), PLUGIN_SO_DIR "/%s.so", name);
	memset(in, 0, sizeof(*in));
	in->so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(in->so);
	in->desc = dlsym(in->so, "stepup_plugin");
	assert_non_null(in->desc);
	assert_true(in->desc->account || in->desc->otp);
	test_host_init(&in->h);
	in->h.api.card_number_find = stepup_card_number_find;
	return in->desc->init(&in->h.api, &in->h, config, &in->state, err, errlen);
}

static void close_inst(inst *in)
{
	if (in->state)
		in->desc->fini(in->state);
	test_host_fini(&in->h);
	dlclose(in->so);
}

/* No log line and no error names the card data. */
static void clean(inst *in, const char *err)
{
	static const char *const secret[] = { "5555555555554444", "4111111111111111", "\"123\"", NULL };
	for (size_t k = 0; secret[k]; k++) {
		assert_null(strstr(err, secret[k]));
		for (size_t i = 0; i < test_host_log_count(&in->h); i++)
			assert_null(strstr(test_host_log_line(&in->h, i), secret[k]));
	}
}

static int lookup(inst *in, const char *pan, const char *csc, const char *m, const char *y, uint32_t timeout,
                  json_t **facts, char *err, size_t errlen)
{
	stepup_call_ctx ctx;
	char *out = NULL;
	test_host_ctx(&ctx, err, errlen, timeout);
	err[0] = '\0';
	stepup_account_query q = { sizeof(q), pan, m, y, csc, "req-1" };
	int rc = in->desc->account->lookup(in->state, &ctx, &q, &out);
	*facts = out ? json_loads(out, 0, NULL) : NULL;
	in->h.api.free(out);
	clean(in, err);
	return rc;
}

static const char *fact(json_t *f, const char *k)
{
	return json_string_value(json_object_get(json_object_get(f, "account"), k));
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_account_plugins.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}


static char *file_config(const char *accounts, mode_t key_mode)
{
	char key[160], *cfg;
	FILE *f = fopen(DATA "account-key", "r");
	char hex[200] = "";
	assert_non_null(f);
	assert_non_null(fgets(hex, sizeof(hex), f));
	fclose(f);
	snprintf(key, sizeof(key), "%s/account-key", dir);
	unlink(key);
	th_write_file(key, hex, key_mode);
	assert_true(asprintf(&cfg, "{\"file\": \"%s\", \"key_file\": \"%s\"}", accounts, key) > 0);
	return cfg;
}

static void test_file_lookup(void **state)
{
	(void)state;
	inst in;
	char err[256];
	json_t *f;
	char *cfg = file_config(DATA "accounts.json", 0600);
	assert_int_equal(open_inst(&in, "account_file", cfg, err, sizeof(err)), STEPUP_PLUGIN_OK);
	free(cfg);
	assert_int_equal(lookup(&in, "5555555555554444", "123", "12", "30", 500, &f, err, sizeof(err)), STEPUP_PLUGIN_OK);
	assert_string_equal(fact(f, "state"), "ACTIVE");
	assert_string_equal(fact(f, "phone"), "+14155551234");
	assert_string_equal(fact(f, "csc_result"), "MATCH");
	assert_string_equal(fact(f, "expiry_result"), "MATCH");
	json_decref(f);
	assert_int_equal(lookup(&in, "5555555555554444", "124", "11", "2030", 500, &f, err, sizeof(err)), STEPUP_PLUGIN_OK);
	assert_string_equal(fact(f, "csc_result"), "INVALID");
	assert_string_equal(fact(f, "expiry_result"), "INVALID");
	json_decref(f);
	assert_int_equal(lookup(&in, "5555555555554444", NULL, "", "", 500, &f, err, sizeof(err)), STEPUP_PLUGIN_OK);
	assert_string_equal(fact(f, "csc_result"), "ABSENT");
	assert_string_equal(fact(f, "expiry_result"), "ABSENT");
	json_decref(f);
	assert_int_equal(lookup(&in, "2223000048400011", "123", "12", "30", 500, &f, err, sizeof(err)),
	                 STEPUP_PLUGIN_REJECTED);
	assert_null(f);
	close_inst(&in);
}

static void test_file_refusals(void **state)
{
	(void)state;
	inst in;
	char err[256], accounts[160];
	/* A key others can read. */
	char *cfg = file_config(DATA "accounts.json", 0644);
	assert_int_not_equal(open_inst(&in, "account_file", cfg, err, sizeof(err)), STEPUP_PLUGIN_OK);
	assert_non_null(strstr(err, "chmod 600"));
	close_inst(&in);
	free(cfg);
	/* A card number in clear, anywhere in the file. */
	snprintf(accounts, sizeof(accounts), "%s/clear.json", dir);
	th_write_file(accounts, "{\"format\": \"stepup-accounts/1\", \"accounts\": {\"0000000000000000000000000000000000"
	                     "000000000000000000000000000000\": {\"facts\": {\"note\": \"4111 1111 1111 1111\"}}}}", 0644);
	cfg = file_config(accounts, 0600);
	assert_int_not_equal(open_inst(&in, "account_file", cfg, err, sizeof(err)), STEPUP_PLUGIN_OK);
	assert_non_null(strstr(err, "holds a card number in clear"));
	assert_null(strstr(err, "4111"));
	close_inst(&in);
	free(cfg);
	/* A phone number is no card number (13 digits after '+'). */
	th_write_file(accounts, "{\"format\": \"stepup-accounts/1\", \"accounts\": {\"0000000000000000000000000000000000"
	                     "000000000000000000000000000000\": {\"facts\": {\"account\": {\"phone\": \"+4915112345674\"}}}}}",
	           0644);
	cfg = file_config(accounts, 0600);
	assert_int_equal(open_inst(&in, "account_file", cfg, err, sizeof(err)), STEPUP_PLUGIN_OK);
	close_inst(&in);
	free(cfg);
}

/* ---- account_http -------------------------------------------------------------- */

static int verify_signature(const http_sink_request *r)
{
	const char *ts = http_sink_header(r, "X-Stepup-Timestamp"), *sig = http_sink_header(r, "X-Stepup-Signature");
	unsigned char key[32], md[32];
	unsigned n = 0;
	char hex[65], *msg;
	if (!ts || !sig || strncmp(sig, "sha256=", 7) != 0)
		return 0;
	for (int i = 0; i < 32; i++)
		sscanf(HTTP_KEY + 2 * i, "%2hhx", &key[i]);
	assert_true(asprintf(&msg, "%s.%s", ts, r->body) > 0);
	HMAC(EVP_sha256(), key, 32, (unsigned char *)msg, strlen(msg), md, &n);
	free(msg);
	for (unsigned i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return strcmp(hex, sig + 7) == 0;
}

static void test_http_lookup(void **state)
{
	(void)state;
	http_sink *s;
	inst in;
	char err[256], *cfg;
	json_t *f;
	assert_int_equal(http_sink_start(NULL, 0, &s, err, sizeof(err)), 0);
	assert_true(asprintf(&cfg, "{\"url\": \"http://127.0.0.1:%u/accounts\", \"allow_http\": true,"
	                           " \"hmac_key_hex\": \"" HTTP_KEY "\", \"auth\": {\"type\": \"bearer\", \"token\": \"t0k\"}}",
	                     (unsigned)http_sink_port(s)) > 0);
	assert_int_equal(open_inst(&in, "account_http", cfg, err, sizeof(err)), STEPUP_PLUGIN_OK);
	free(cfg);

	http_sink_reply ok = { .status = 200, .body = "{\"account\": {\"state\": \"ACTIVE\", \"csc_result\": \"MATCH\"}}" };
	http_sink_set_reply(s, &ok);
	assert_int_equal(lookup(&in, "5555555555554444", "123", "12", "30", 2000, &f, err, sizeof(err)), STEPUP_PLUGIN_OK);
	assert_string_equal(fact(f, "csc_result"), "MATCH");
	json_decref(f);
	const http_sink_request *r = http_sink_get(s, 0);
	assert_string_equal(r->method, "POST");
	assert_string_equal(http_sink_header(r, "Authorization"), "Bearer t0k");
	assert_true(verify_signature(r));
	json_t *body = json_loads(r->body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(body, "pan")), "5555555555554444");
	assert_string_equal(json_string_value(json_object_get(body, "csc")), "123");
	json_decref(body);

	http_sink_reply unknown = { .status = 404 };
	http_sink_set_reply(s, &unknown);
	assert_int_equal(lookup(&in, "4111111111111111", NULL, "", "", 2000, &f, err, sizeof(err)),
	                 STEPUP_PLUGIN_REJECTED);
	http_sink_reply down = { .status = 503, .body = "{\"echo\": \"5555555555554444\"}" };
	http_sink_set_reply(s, &down);
	assert_int_equal(lookup(&in, "5555555555554444", "123", "12", "30", 2000, &f, err, sizeof(err)),
	                 STEPUP_PLUGIN_UNAVAILABLE);
	assert_non_null(strstr(err, "HTTP 503"));
	http_sink_reply slow = { .status = 200, .body = "{}", .delay_ms = 3000 };
	http_sink_set_reply(s, &slow);
	int64_t t0 = test_host_real_ms();
	assert_int_equal(lookup(&in, "5555555555554444", "123", "12", "30", 200, &f, err, sizeof(err)),
	                 STEPUP_PLUGIN_TIMEOUT);
	assert_true(test_host_real_ms() - t0 < 2900);  /* hang guard: gave up at the deadline */
	http_sink_reply bad = { .status = 200, .body = "[1]" };
	http_sink_set_reply(s, &bad);
	assert_int_equal(lookup(&in, "5555555555554444", "123", "12", "30", 2000, &f, err, sizeof(err)),
	                 STEPUP_PLUGIN_ERROR);
	close_inst(&in);
	http_sink_stop(s);
}

/* ---- otp_sms_http: the gateway's limit in SMS parts ---------------------------------- */

static int sms(inst *in, const char *lang, char *err, size_t errlen)
{
	stepup_call_ctx ctx;
	test_host_ctx(&ctx, err, errlen, 2000);
	err[0] = '\0';
	stepup_otp_message m = { sizeof(m), "+819012345678", "428913", test_host_now_ms() / 1000 + 3600,
		                 "CARD-DIGITIZATION", "1117", lang };
	m.expires_at = (int64_t)time(NULL) + 600;
	return in->desc->otp->deliver_otp(in->state, &ctx, &m);
}

/* Japanese takes UCS-2: 70 characters a part (67 once split). A message
 * of 71 to 134 characters is two parts: over a limit of one, within two;
 * the same length in GSM 7-bit is one part. */
static void test_sms_parts(void **state)
{
	(void)state;
	http_sink *s;
	inst in;
	char err[256], *cfg;
	assert_int_equal(http_sink_start(NULL, 0, &s, err, sizeof(err)), 0);
	for (int limit = 1; limit <= 2; limit++) {
		/* 80 characters with the code: 74 of template, 6 of code. */
		assert_true(asprintf(&cfg, "{\"url\": \"http://127.0.0.1:%u/sms\", \"allow_http\": true,"
		                           " \"max_segments\": %d, \"templates\": {"
		                           "\"en\": \"{otp} is your code. 123456789 123456789 123456789 123456789 123456789 123456789 12\","
		                           "\"ja\": \"認証コードは{otp}です。あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをんアイウエオカキクケコサシスセソタチツテト\"}}",
		                     (unsigned)http_sink_port(s), limit) > 0);
		assert_int_equal(open_inst(&in, "otp_sms_http", cfg, err, sizeof(err)), STEPUP_PLUGIN_OK);
		free(cfg);
		size_t before = http_sink_count(s);
		int rc = sms(&in, "ja", err, sizeof(err));
		if (limit == 1) {
			assert_int_equal(rc, STEPUP_PLUGIN_EINVAL);
			assert_non_null(strstr(err, "needs 2 SMS parts (UCS-2"));
			assert_null(strstr(err, "428913"));
			assert_int_equal(http_sink_count(s), before);
		} else {
			assert_int_equal(rc, STEPUP_PLUGIN_OK);
			assert_int_equal(http_sink_count(s), before + 1);
		}
		/* 80 GSM characters are one part whatever the limit. */
		assert_int_equal(sms(&in, "en", err, sizeof(err)), STEPUP_PLUGIN_OK);
		close_inst(&in);
	}
	http_sink_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_lookup),
		cmocka_unit_test(test_file_refusals),
		cmocka_unit_test(test_http_lookup),
		cmocka_unit_test(test_sms_parts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
