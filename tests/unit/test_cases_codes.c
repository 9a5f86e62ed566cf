/* test_cases_codes.c: codes the issuer makes and token events
 * (include/stepup/lifecycle.h; lifecycle/codes.c, token_events.c) against
 * a real SQLite file, the recording fake channel and a loopback webhook
 * receiver:
 *   - a code is `length` digits, reaches the case's contact, and asking
 *     again sends the same code with the same expiry;
 *   - the database holds neither the code nor anything that tells it
 *     without the key;
 *   - tries: wrong ones counted up to max_attempts (the last answers
 *     RETRIES_EXCEEDED, later ones EXPIRED even with the right code); a
 *     new code after that; a right one is used up; an expired one and one
 *     of a closed case are EXPIRED;
 *   - the configuration: a key file others can read, no key, bad length;
 *   - token events: counted on the case once per key, the webhook once,
 *     none for a card number; a token without a case;
 *   - a version 2 database is migrated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "helpers.h"
#include "cases_fixture.h"

#define KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static char codes_patch[512];

static void write_key(const tc_env *t, const char *name, const char *text, unsigned mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	th_write_file(path, text, mode);
}

static int setup(void **state)
{
	tc_env *t = calloc(1, sizeof(*t));
	tc_setup(t);
	write_key(t, "code-key", KEY "\n", 0600);
	snprintf(codes_patch, sizeof(codes_patch),
	         "{\"activation_codes\":{\"key_file\":\"%s/code-key\",\"length\":10,\"max_attempts\":3}}", t->dir);
	tc_open(t, codes_patch);
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

/* Deliver the case's code by SMS; the code the channel got (malloc'd)
 * and the expiry it was told. */
static char *deliver(tc_env *t, const char *id, int64_t expires, long long *told, int want_http)
{
	char *out = NULL;
	size_t len = 0;
	int http = 0;
	size_t before = tc_calls(t, "deliver_otp");
	stepup_cases_deliver_code(t->c, id, STEPUP_OTP_SMS, expires, "CARD-DIGITIZATION", &out, &len, &http);
	if (http != want_http)
		fail_msg("deliver_code: HTTP %d, wanted %d: %s", http, want_http, out ? out : "");
	free(out);
	if (want_http != 200) {
		assert_int_equal(tc_calls(t, "deliver_otp"), before);
		return NULL;
	}
	assert_int_equal(tc_calls(t, "deliver_otp"), before + 1);
	char *dest = tc_call_field(t, "deliver_otp", before, 1), *exp = tc_call_field(t, "deliver_otp", before, 3);
	assert_string_equal(dest, "+14155551234");
	if (told)
		*told = atoll(exp);
	free(dest);
	free(exp);
	return tc_call_field(t, "deliver_otp", before, 2);
}

static stepup_code_result check(tc_env *t, const char *id, const char *code, unsigned *attempts)
{
	stepup_code_result r;
	char err[256] = "";
	assert_int_equal(stepup_cases_check_code(t->c, id, code, &r, attempts, err, sizeof(err)), STEPUP_OK);
	return r;
}

static void code_made_and_sent_again(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	int64_t exp = (int64_t)time(NULL) + 300;
	long long told = 0, told2 = 0;
	char *code = deliver(t, id, exp, &told, 200);
	assert_int_equal(strlen(code), 10);
	assert_int_equal(strspn(code, "0123456789"), 10);
	assert_int_equal(told, exp);
	/* Again, later and with a later expiry asked: the same code, the
	 * first expiry (MDES: a repeat neither remakes nor extends it). */
	char *again = deliver(t, id, exp + 600, &told2, 200);
	assert_string_equal(again, code);
	assert_int_equal(told2, exp);
	/* Another case gets another code. */
	char *id2 = tc_decide(t, TC_YELLOW_ALL, NULL);
	char *other = deliver(t, id2, exp, NULL, 200);
	assert_string_not_equal(other, code);

	/* What the case read and the database say: its state, never the code. */
	tc_reply r = tc_get(t->c, id);
	assert_int_equal(r.http, 200);
	assert_null(strstr(r.text, code));
	assert_string_equal(tc_str(&r, "otp.issuer_code.wrong_tries"), "");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(r.body, "otp"),
	                                                                     "issuer_code"), "max_tries")), 3);
	tc_reply_free(&r);
	assert_int_equal(stepup_cases_flush(t->c, 10000), STEPUP_OK);
	tc_close(t);
	assert_false(tc_file_holds_digits(t->db, code));
	assert_null(strstr(tc_log_text(), code));
	free(code);
	free(again);
	free(other);
	free(id);
	free(id2);
}

static void tries_counted(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	unsigned n = 99;
	char *code = deliver(t, id, (int64_t)time(NULL) + 300, NULL, 200);
	assert_int_equal(check(t, id, "0000000000", &n), STEPUP_CODE_INCORRECT);
	assert_int_equal(n, 1);
	assert_int_equal(check(t, id, "1111111111", &n), STEPUP_CODE_INCORRECT);
	assert_int_equal(n, 2);
	tc_reply r = tc_get(t->c, id);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(r.body, "otp"),
	                                                                     "issuer_code"), "wrong_tries")), 2);
	tc_reply_free(&r);
	assert_int_equal(check(t, id, "2222222222", &n), STEPUP_CODE_RETRIES_EXCEEDED);
	assert_int_equal(n, 3);
	/* Void now: even the right code. */
	assert_int_equal(check(t, id, code, &n), STEPUP_CODE_EXPIRED);
	/* A new delivery makes a new code, with its tries. */
	char *code2 = deliver(t, id, (int64_t)time(NULL) + 300, NULL, 200);
	assert_string_not_equal(code2, code);
	assert_int_equal(check(t, id, code, &n), STEPUP_CODE_INCORRECT);
	assert_int_equal(n, 1);
	assert_int_equal(check(t, id, code2, &n), STEPUP_CODE_SUCCESS);
	/* Used up; the case waits for the network's activation. */
	assert_int_equal(check(t, id, code2, &n), STEPUP_CODE_EXPIRED);
	r = tc_get(t->c, id);
	assert_string_equal(tc_str(&r, "status"), "PENDING_IDV");
	tc_reply_free(&r);
	free(code);
	free(code2);
	free(id);
}

static void expired_and_closed(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	char *code = deliver(t, id, (int64_t)time(NULL) + 1, NULL, 200);
	tc_sleep_ms(2100);
	assert_int_equal(check(t, id, code, NULL), STEPUP_CODE_EXPIRED);
	free(code);
	/* A closed case: nothing sent, no code tried. */
	char *id2 = tc_decide(t, TC_YELLOW_ALL, NULL);
	code = deliver(t, id2, (int64_t)time(NULL) + 300, NULL, 200);
	tc_activate_cs(t->c, id2, "DCARD-9", "agent-7");
	assert_int_equal(check(t, id2, code, NULL), STEPUP_CODE_EXPIRED);
	assert_null(deliver(t, id2, (int64_t)time(NULL) + 300, NULL, 409));
	assert_null(deliver(t, "dcs_NO_SUCH_CASE", (int64_t)time(NULL) + 300, NULL, 404));
	stepup_code_result r;
	char err[256];
	assert_int_equal(stepup_cases_check_code(t->c, "dcs_NO_SUCH_CASE", "1234", &r, NULL, err, sizeof(err)),
	                 STEPUP_ENOTFOUND);
	assert_int_equal(stepup_cases_check_code(t->c, "4111111111111111", "1234", &r, NULL, err, sizeof(err)),
	                 STEPUP_EINVAL);
	free(code);
	free(id);
	free(id2);
}

static void not_configured(void **state)
{
	tc_env *t = *state;
	tc_open(t, NULL);
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL), *out = NULL, err[256];
	size_t len = 0;
	int http = 0;
	stepup_code_result r;
	assert_int_equal(stepup_cases_deliver_code(t->c, id, STEPUP_OTP_SMS, (int64_t)time(NULL) + 300,
	                                           "CARD-DIGITIZATION", &out, &len, &http),
	                 STEPUP_ESTATE);
	assert_null(out);
	assert_int_equal(stepup_cases_check_code(t->c, id, "123456", &r, NULL, err, sizeof(err)), STEPUP_ESTATE);
	assert_non_null(strstr(err, "activation_codes"));
	free(id);
}

static void configuration_refused(void **state)
{
	tc_env *t = *state;
	char patch[512], err[512];
	stepup_cases *c = NULL;
	write_key(t, "open-key", KEY, 0644);
	write_key(t, "short-key", "0011", 0600);
	const struct {
		const char *file, *extra, *want;
	} cases[] = {
		{ "open-key", "", "chmod 600" },
		{ "short-key", "", "the key must be 16 to 64 bytes as hex" },
		{ "absent-key", "", "cannot open" },
		{ "code-key", ",\"length\":3", "activation_codes.length: must be an integer from 4 to 16" },
		{ "code-key", ",\"max_attempts\":0", "activation_codes.max_attempts" },
		{ "code-key", ",\"size\":6", "activation_codes.size: unknown key" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(patch, sizeof(patch), "{\"activation_codes\":{\"key_file\":\"%s/%s\"%s}}", t->dir, cases[i].file,
		         cases[i].extra);
		char *cfg = tc_config(t, patch);
		err[0] = '\0';
		assert_int_not_equal(stepup_cases_open(cfg, NULL, t->ps, NULL, NULL, &c, err, sizeof(err)), STEPUP_OK);
		assert_null(c);
		if (!strstr(err, cases[i].want))
			fail_msg("%s: \"%s\" does not say \"%s\"", patch, err, cases[i].want);
		assert_non_null(strstr(err, "cases.activation_codes"));
		free(cfg);
	}
	char *cfg = tc_config(t, "{\"activation_codes\":{}}");
	assert_int_equal(stepup_cases_open(cfg, NULL, t->ps, NULL, NULL, &c, err, sizeof(err)), STEPUP_ECONFIG);
	assert_non_null(strstr(err, "key_file: is required"));
	free(cfg);
}

static void token_events(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL), err[256] = "";
	int queued = -1;
	const char *details = "{\"token_ref\":\"DWSPMC0000000000000000000000000000000000000000a001\","
	                      "\"status\":\"ACTIVE\",\"events\":[{\"name\":\"REPLENISH\",\"atc_not_found\":2}]}";
	size_t before = tc_webhooks(t->sink, "token.suspicious_event.");
	assert_int_equal(stepup_cases_token_event(t->c, id, "token.suspicious_event", "rq-se-1", details, &queued, err,
	                                          sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(queued, 1);
	/* The same report again (a retry): nothing queued, nothing counted. */
	assert_int_equal(stepup_cases_token_event(t->c, id, "token.suspicious_event", "rq-se-1", details, &queued, err,
	                                          sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(queued, 0);
	/* A token without a case. */
	assert_int_equal(stepup_cases_token_event(t->c, NULL, "token.suspicious_event", "rq-se-2", NULL, &queued, err,
	                                          sizeof(err)),
	                 STEPUP_OK);
	assert_int_equal(queued, 1);
	assert_int_equal(stepup_cases_flush(t->c, 10000), STEPUP_OK);
	assert_int_equal(tc_webhooks(t->sink, "token.suspicious_event."), before + 2);
	const http_sink_request *w = NULL;
	for (size_t i = 0; i < http_sink_count(t->sink); i++) {
		const char *k = http_sink_header(http_sink_get(t->sink, i), "Idempotency-Key");
		if (k && strcmp(k, "token.suspicious_event.rq-se-1") == 0)
			w = http_sink_get(t->sink, i);
	}
	assert_non_null(w);
	assert_string_equal(http_sink_header(w, "X-Stepup-Event"), "token.suspicious_event");
	assert_non_null(http_sink_header(w, "X-Stepup-Signature"));
	json_t *b = json_loads(w->body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(b, "decision_id")), id);
	assert_string_equal(json_string_value(json_object_get(json_object_get(b, "details"), "status")), "ACTIVE");
	json_decref(b);
	tc_reply r = tc_get(t->c, id);
	assert_int_equal(json_integer_value(json_object_get(r.body, "token_events")), 1);
	tc_reply_free(&r);
	/* Refused: a card number in the details, a bad key. */
	assert_int_equal(stepup_cases_token_event(t->c, id, "token.suspicious_event", "rq-se-3",
	                                          "{\"note\":\"5555 5555 5555 4444\"}", &queued, err, sizeof(err)),
	                 STEPUP_EINVAL);
	assert_int_equal(stepup_cases_token_event(t->c, id, "token.suspicious_event", "4111111111111111", NULL,
	                                          &queued, err, sizeof(err)),
	                 STEPUP_EINVAL);
	assert_int_equal(stepup_cases_token_event(t->c, id, "token.suspicious_event", "rq-se-4", "[1]", &queued, err,
	                                          sizeof(err)),
	                 STEPUP_EINVAL);
	free(id);
}

/* A database of schema version 2 (before codes and token events) is
 * migrated in place when opened. */
static void migrated_from_version_2(void **state)
{
	tc_env *t = *state;
	char *id = tc_decide(t, TC_YELLOW_ALL, NULL);
	tc_close(t);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	static const char *const sql[] = {
		"ALTER TABLE cases DROP COLUMN code_nonce", "ALTER TABLE cases DROP COLUMN code_hash",
		"ALTER TABLE cases DROP COLUMN code_expires_ms", "ALTER TABLE cases DROP COLUMN code_attempts",
		"ALTER TABLE cases DROP COLUMN token_events", "PRAGMA user_version = 2",
	};
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		if (sqlite3_exec(db, sql[i], NULL, NULL, NULL) != SQLITE_OK)
			fail_msg("%s: %s", sql[i], sqlite3_errmsg(db));
	sqlite3_close(db);
	tc_open(t, codes_patch);
	char *code = deliver(t, id, (int64_t)time(NULL) + 300, NULL, 200);
	assert_int_equal(check(t, id, code, NULL), STEPUP_CODE_SUCCESS);
	tc_close(t);
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 3);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(code);
	free(id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(code_made_and_sent_again, setup, teardown),
		cmocka_unit_test_setup_teardown(tries_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(expired_and_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(not_configured, setup, teardown),
		cmocka_unit_test_setup_teardown(configuration_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(token_events, setup, teardown),
		cmocka_unit_test_setup_teardown(migrated_from_version_2, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
