/* test_default_rules.c: rules/default.rules against the default policy
 * table, row by row, each both firing and not firing, with the offered
 * methods and the response JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static stepup_engine *E;

static int setup(void **state)
{
	(void)state;
	E = th_default_engine();
	return E ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	stepup_engine_free(E);
	E = NULL;
	return 0;
}

/* Comma-separated list -> joined names of what we got, for messages. */
static void fired_csv(const th_result *r, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < r->nfired; i++) {
		if (i)
			strncat(buf, ",", size - strlen(buf) - 1);
		strncat(buf, r->fired[i], size - strlen(buf) - 1);
	}
}

static void methods_csv(const th_result *r, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < r->nmethods; i++) {
		if (i)
			strncat(buf, ",", size - strlen(buf) - 1);
		strncat(buf, stepup_method_name(r->methods[i]), size - strlen(buf) - 1);
	}
}

/* Decide base+patch and check the outcome, the exact fired rules in file
 * order and the exact offered methods in order (both comma-separated, ""
 * for none). Returns the result for further checks (free it). */
static th_result expect_patched(const char *patch, stepup_outcome outcome, const char *fired,
                                const char *methods)
{
	th_result r = th_decide_patched(E, patch);
	char got_f[1024], got_m[256];

	if (r.rc != STEPUP_OK)
		fail_msg("patch %s: decide_json rc=%d: %s", patch, r.rc, r.json ? r.json : "(null)");
	fired_csv(&r, got_f, sizeof(got_f));
	methods_csv(&r, got_m, sizeof(got_m));
	if (r.outcome != outcome || strcmp(got_f, fired) != 0 || strcmp(got_m, methods) != 0)
		fail_msg("patch %s:\n  got      %s fired [%s] methods [%s]\n  expected %s fired [%s] methods [%s]\n  json %s",
		         patch, stepup_outcome_name(r.outcome), got_f, got_m, stepup_outcome_name(outcome), fired,
		         methods, r.json);
	return r;
}

#define EXPECT(patch, outcome, fired, methods)                                 \
	do {                                                                       \
		th_result r_ = expect_patched((patch), (outcome), (fired), (methods)); \
		th_result_free(&r_);                                                   \
	} while (0)

static const char *const ALL4 = "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE";

/* Line of `rule NAME` in rules/default.rules. */
static unsigned rule_line(const char *name)
{
	FILE *f = fopen(SRCDIR "/rules/default.rules", "r");
	char line[512], want[128];
	unsigned n = 0, found = 0;
	assert_non_null(f);
	snprintf(want, sizeof(want), "rule %s ", name);
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strncmp(line, want, strlen(want)) == 0) {
			found = n;
			break;
		}
	}
	fclose(f);
	if (!found)
		fail_msg("rule %s not found in default.rules", name);
	return found;
}

static json_t *parse_json(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("response is not JSON (%s): %s", je.text, text);
	return j;
}

/* ---- baseline --------------------------------------------------------- */

static void base_request_is_green(void **state)
{
	(void)state;
	th_result r = expect_patched("{}", STEPUP_GREEN, "", "");
	json_t *j = parse_json(r.json);
	assert_string_equal(json_string_value(json_object_get(j, "decision")), "GREEN");
	assert_string_equal(json_string_value(json_object_get(j, "network_decision")), "APPROVED");
	assert_true(json_is_array(json_object_get(j, "idv_methods")));
	assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "reasons")), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "ruleset"), "name")),
	                    "issuer-default");
	json_decref(j);
	th_result_free(&r);
}

/* ---- RED rows --------------------------------------------------------- */

static void card_unknown_row(void **state)
{
	(void)state;
	EXPECT("{\"card\":{\"state\":null}}", STEPUP_RED, "card_unknown", "");
	EXPECT("{\"card\":null}", STEPUP_RED, "card_unknown", "");
	EXPECT("{\"card\":{\"state\":\"ACTIVE\"}}", STEPUP_GREEN, "", "");
}

static void card_not_active_row(void **state)
{
	(void)state;
	EXPECT("{\"card\":{\"state\":\"INACTIVE\"}}", STEPUP_RED, "card_not_active", "");
	EXPECT("{\"card\":{\"state\":\"SUSPENDED\"}}", STEPUP_RED, "card_not_active", "");
	EXPECT("{\"card\":{\"state\":\"CLOSED\"}}", STEPUP_RED, "card_not_active", "");
	EXPECT("{\"card\":{\"state\":\"ACTIVE\"}}", STEPUP_GREEN, "", "");
	/* A missing state is card_unknown, not card_not_active. */
	EXPECT("{\"card\":{\"state\":null}}", STEPUP_RED, "card_unknown", "");
}

static void csc_invalid_row(void **state)
{
	(void)state;
	EXPECT("{\"card\":{\"csc_result\":\"INVALID\"}}", STEPUP_RED, "csc_invalid", "");
	EXPECT("{\"card\":{\"csc_result\":\"MATCH\"}}", STEPUP_GREEN, "", "");
	EXPECT("{\"card\":{\"csc_result\":\"NOT_PROCESSED\"}}", STEPUP_GREEN, "", "");
	/* BANK_APP capture: an ABSENT CSC is fine. */
	EXPECT("{\"card\":{\"csc_result\":\"ABSENT\"}}", STEPUP_GREEN, "", "");
	EXPECT("{\"card\":{\"csc_result\":null}}", STEPUP_GREEN, "", "");
}

static void csc_failures_row(void **state)
{
	(void)state;
	EXPECT("{\"card\":{\"csc_failures_24h\":2}}", STEPUP_GREEN, "", "");
	EXPECT("{\"card\":{\"csc_failures_24h\":3}}", STEPUP_RED, "csc_failures", "");
	EXPECT("{\"card\":{\"csc_failures_24h\":4}}", STEPUP_RED, "csc_failures", "");
	EXPECT("{\"card\":{\"csc_failures_24h\":1000000}}", STEPUP_RED, "csc_failures", "");
	EXPECT("{\"card\":{\"csc_failures_24h\":null}}", STEPUP_GREEN, "", "");
}

static void too_many_tokens_row(void **state)
{
	(void)state;
	EXPECT("{\"card\":{\"active_tokens\":9}}", STEPUP_GREEN, "", "");
	EXPECT("{\"card\":{\"active_tokens\":10}}", STEPUP_RED, "too_many_tokens", "");
	EXPECT("{\"card\":{\"active_tokens\":11}}", STEPUP_RED, "too_many_tokens", "");
	EXPECT("{\"card\":{\"active_tokens\":0}}", STEPUP_GREEN, "", "");
	EXPECT("{\"card\":{\"active_tokens\":null}}", STEPUP_GREEN, "", "");
}

static void wallet_declines_row(void **state)
{
	(void)state;
	EXPECT("{\"wallet\":{\"recommended_decision\":\"DECLINED\"}}", STEPUP_RED, "wallet_declines", "");
	EXPECT("{\"wallet\":{\"recommended_decision\":\"APPROVED\"}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"recommended_decision\":null}}", STEPUP_GREEN, "", "");
}

static void wallet_score_high_risk_row(void **state)
{
	(void)state;
	EXPECT("{\"wallet\":{\"device_score\":1}}", STEPUP_RED, "wallet_score_high_risk", "");
	EXPECT("{\"wallet\":{\"account_score\":1}}", STEPUP_RED, "wallet_score_high_risk", "");
	EXPECT("{\"wallet\":{\"device_score\":1,\"account_score\":1}}", STEPUP_RED, "wallet_score_high_risk", "");
	/* Score 2 is middling (YELLOW), not highest risk. */
	EXPECT("{\"wallet\":{\"device_score\":2}}", STEPUP_YELLOW, "wallet_score_risky", ALL4);
	/* phone_score 1 is not part of the RED row. */
	EXPECT("{\"wallet\":{\"phone_score\":1}}", STEPUP_YELLOW, "wallet_score_risky", ALL4);
	EXPECT("{\"wallet\":{\"device_score\":null,\"account_score\":null}}", STEPUP_GREEN, "", "");
}

/* ---- YELLOW rows ------------------------------------------------------ */

static void phone_mismatch_row(void **state)
{
	(void)state;
	/* Wallet sends only the last 4 digits. */
	th_result r = expect_patched("{\"wallet\":{\"phone_suffix\":\"9876\"}}", STEPUP_YELLOW, "phone_mismatch", ALL4);
	assert_int_equal(r.line, STEPUP_LINE_STANDARD);
	json_t *j = parse_json(r.json);
	json_t *m = json_object_get(j, "idv_methods");
	assert_int_equal(json_array_size(m), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "type")), "IN_APP");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "app_id")),
	                    "com.examplebank.mobile");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "type")), "OTP_SMS");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "value")), "+1 *** *** 1234");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2), "type")), "OTP_EMAIL");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2), "value")),
	                    "ja******@example.com");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 3), "type")), "CUSTOMER_SERVICE");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 3), "value")), "+1-800-555-0100");
	assert_string_equal(json_string_value(json_object_get(json_array_get(m, 3), "line")), "STANDARD");
	assert_string_equal(json_string_value(json_object_get(j, "network_decision")),
	                    "REQUIRE_ADDITIONAL_AUTHENTICATION");
	json_t *reasons = json_object_get(j, "reasons");
	assert_int_equal(json_array_size(reasons), 1);
	json_t *r0 = json_array_get(reasons, 0);
	assert_string_equal(json_string_value(json_object_get(r0, "rule")), "phone_mismatch");
	assert_string_equal(json_string_value(json_object_get(r0, "outcome")), "YELLOW");
	char at[64];
	snprintf(at, sizeof(at), "default.rules:%u", rule_line("phone_mismatch"));
	assert_string_equal(json_string_value(json_object_get(r0, "at")), at);
	json_decref(j);
	th_result_free(&r);

	/* Matching suffix. */
	EXPECT("{\"wallet\":{\"phone_suffix\":\"1234\"}}", STEPUP_GREEN, "", "");
	/* Formatted issuer phone still matches the 4 digits. */
	EXPECT("{\"end_user\":{\"phone\":\"+1 (415) 555-1234\"},\"wallet\":{\"phone_suffix\":\"1234\"}}", STEPUP_GREEN,
	       "", "");
	EXPECT("{\"end_user\":{\"phone\":\"+1 (415) 555-9999\"},\"wallet\":{\"phone_suffix\":\"1234\"}}", STEPUP_YELLOW,
	       "phone_mismatch", ALL4);
	/* Formatted wallet suffix: only digits are compared. */
	EXPECT("{\"wallet\":{\"phone_suffix\":\"XXX-1234\"}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"phone_suffix\":\"+1 415 555 1234\"}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"phone_suffix\":\"5551234\"}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"phone_suffix\":\"6551234\"}}", STEPUP_YELLOW, "phone_mismatch", ALL4);
	/* Either side absent: no comparison, no fire. */
	EXPECT("{\"wallet\":{\"phone_suffix\":null}}", STEPUP_GREEN, "", "");
	EXPECT("{\"end_user\":{\"phone\":null},\"wallet\":{\"phone_suffix\":\"9876\"}}", STEPUP_GREEN, "", "");
}

static void missing_csc_row(void **state)
{
	(void)state;
	static const char *const fire[] = {
		"{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"ABSENT\"}}",
		"{\"card\":{\"capture_method\":\"CAMERA\",\"csc_result\":\"ABSENT\"}}",
		"{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":null}}",
		"{\"card\":{\"capture_method\":\"CAMERA\",\"csc_result\":null}}",
	};
	static const char *const quiet[] = {
		"{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"MATCH\"}}",
		"{\"card\":{\"capture_method\":\"CAMERA\",\"csc_result\":\"MATCH\"}}",
		"{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"NOT_PROCESSED\"}}",
		"{\"card\":{\"capture_method\":\"BANK_APP\",\"csc_result\":\"ABSENT\"}}",
		"{\"card\":{\"capture_method\":\"ON_FILE\",\"csc_result\":\"ABSENT\"}}",
		"{\"card\":{\"capture_method\":\"UNKNOWN\",\"csc_result\":\"ABSENT\"}}",
		"{\"card\":{\"capture_method\":\"BANK_APP\",\"csc_result\":null}}",
		"{\"card\":{\"capture_method\":\"ON_FILE\",\"csc_result\":null}}",
		"{\"card\":{\"capture_method\":\"UNKNOWN\",\"csc_result\":null}}",
		"{\"card\":{\"capture_method\":null,\"csc_result\":\"ABSENT\"}}",
		"{\"card\":{\"capture_method\":null,\"csc_result\":null}}",
	};
	for (size_t i = 0; i < sizeof(fire) / sizeof(fire[0]); i++)
		EXPECT(fire[i], STEPUP_YELLOW, "missing_csc", ALL4);
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		EXPECT(quiet[i], STEPUP_GREEN, "", "");
	/* MANUAL with a wrong CSC is RED, not a step-up. */
	EXPECT("{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"INVALID\"}}", STEPUP_RED, "csc_invalid", "");
}

static void wallet_requests_idv_row(void **state)
{
	(void)state;
	EXPECT("{\"wallet\":{\"recommended_decision\":\"REQUIRE_ADDITIONAL_AUTHENTICATION\"}}", STEPUP_YELLOW,
	       "wallet_requests_idv", ALL4);
	EXPECT("{\"wallet\":{\"recommended_decision\":\"APPROVED\"}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"recommended_decision\":\"DECLINED\"}}", STEPUP_RED, "wallet_declines", "");
}

static void wallet_score_risky_row(void **state)
{
	(void)state;
	EXPECT("{\"wallet\":{\"device_score\":2}}", STEPUP_YELLOW, "wallet_score_risky", ALL4);
	EXPECT("{\"wallet\":{\"account_score\":2}}", STEPUP_YELLOW, "wallet_score_risky", ALL4);
	EXPECT("{\"wallet\":{\"phone_score\":2}}", STEPUP_YELLOW, "wallet_score_risky", ALL4);
	EXPECT("{\"wallet\":{\"phone_score\":1}}", STEPUP_YELLOW, "wallet_score_risky", ALL4);
	EXPECT("{\"wallet\":{\"phone_score\":3}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"device_score\":3}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"account_score\":3}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"device_score\":4,\"account_score\":4,\"phone_score\":4}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"device_score\":null,\"account_score\":null,\"phone_score\":null}}", STEPUP_GREEN, "",
	       "");
	/* Device 1 is RED; the YELLOW rule fires beside it when phone is 2. */
	EXPECT("{\"wallet\":{\"device_score\":1,\"phone_score\":2}}", STEPUP_RED,
	       "wallet_score_high_risk,wallet_score_risky", "");
}

static const char *const risky_codes[] = {
	"ACCOUNT_TOO_NEW", "ACCOUNT_TOO_NEW_SINCE_LAUNCH", "ACCOUNT_CARD_TOO_NEW",
	"ACCOUNT_RECENTLY_CHANGED", "SUSPICIOUS_ACTIVITY", "INACTIVE_ACCOUNT",
	"HAS_SUSPENDED_TOKENS", "DEVICE_RECENTLY_LOST", "TOO_MANY_RECENT_ATTEMPTS",
	"TOO_MANY_RECENT_TOKENS", "TOO_MANY_DIFFERENT_CARDHOLDERS", "LOW_DEVICE_SCORE",
	"LOW_ACCOUNT_SCORE", "LOW_PHONE_NUMBER_SCORE", "OUTSIDE_HOME_TERRITORY",
	"UNABLE_TO_ASSESS",
};

static void risky_reason_each_code(void **state)
{
	(void)state;
	char patch[256];
	for (size_t i = 0; i < sizeof(risky_codes) / sizeof(risky_codes[0]); i++) {
		snprintf(patch, sizeof(patch), "{\"wallet\":{\"reason_codes\":[\"%s\"]}}", risky_codes[i]);
		EXPECT(patch, STEPUP_YELLOW, "risky_reason", ALL4);
	}
}

static void risky_reason_not_firing(void **state)
{
	(void)state;
	EXPECT("{\"wallet\":{\"reason_codes\":[]}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"reason_codes\":null}}", STEPUP_GREEN, "", "");
	/* Unknown codes are allowed and change nothing. */
	EXPECT("{\"wallet\":{\"reason_codes\":[\"DEVICE_BOUND_ELSEWHERE\"]}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"reason_codes\":[\"account_too_new\"]}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"reason_codes\":[\"ACCOUNT_TOO_NEW_\"]}}", STEPUP_GREEN, "", "");
	/* An unknown code beside a risky one does not hide it. */
	EXPECT("{\"wallet\":{\"reason_codes\":[\"SOMETHING_NEW\",\"LOW_DEVICE_SCORE\",\"OTHER\"]}}", STEPUP_YELLOW,
	       "risky_reason", ALL4);
	/* HIGH_RISK is suspicious_device, not a risky reason. */
	EXPECT("{\"wallet\":{\"reason_codes\":[\"HIGH_RISK\"]}}", STEPUP_YELLOW, "suspicious_device",
	       "CUSTOMER_SERVICE");
}

static void suspicious_device_row(void **state)
{
	(void)state;
	const char *const patches[] = {
		"{\"wallet\":{\"device_suspicious\":true}}",
		"{\"wallet\":{\"reason_codes\":[\"HIGH_RISK\"]}}",
		"{\"wallet\":{\"device_suspicious\":false,\"reason_codes\":[\"X\",\"HIGH_RISK\"]}}",
	};
	for (size_t i = 0; i < 3; i++) {
		th_result r = expect_patched(patches[i], STEPUP_YELLOW, "suspicious_device", "CUSTOMER_SERVICE");
		assert_int_equal(r.line, STEPUP_LINE_FRAUD);
		json_t *j = parse_json(r.json);
		json_t *m = json_array_get(json_object_get(j, "idv_methods"), 0);
		assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 1);
		assert_string_equal(json_string_value(json_object_get(m, "type")), "CUSTOMER_SERVICE");
		assert_string_equal(json_string_value(json_object_get(m, "value")), "+1-800-555-0199");
		assert_string_equal(json_string_value(json_object_get(m, "line")), "FRAUD");
		json_decref(j);
		th_result_free(&r);
	}
	EXPECT("{\"wallet\":{\"device_suspicious\":false}}", STEPUP_GREEN, "", "");
	EXPECT("{\"wallet\":{\"device_suspicious\":null}}", STEPUP_GREEN, "", "");
	/* Absent flag but HIGH_RISK: still fires (Kleene or). */
	EXPECT("{\"wallet\":{\"device_suspicious\":null,\"reason_codes\":[\"HIGH_RISK\"]}}", STEPUP_YELLOW,
	       "suspicious_device", "CUSTOMER_SERVICE");
	/* Absent codes but flagged: still fires. */
	EXPECT("{\"wallet\":{\"device_suspicious\":true,\"reason_codes\":null}}", STEPUP_YELLOW, "suspicious_device",
	       "CUSTOMER_SERVICE");
}

/* ---- interactions ------------------------------------------------------ */

static void suspicious_restricts_other_step_ups(void **state)
{
	(void)state;
	th_result r = expect_patched("{\"wallet\":{\"phone_suffix\":\"9876\",\"device_suspicious\":true,"
	                             "\"reason_codes\":[\"ACCOUNT_TOO_NEW\"]}}",
	                             STEPUP_YELLOW, "phone_mismatch,risky_reason,suspicious_device", "CUSTOMER_SERVICE");
	assert_int_equal(r.line, STEPUP_LINE_FRAUD);
	assert_non_null(strstr(r.json, "+1-800-555-0199"));
	assert_null(strstr(r.json, "+1-800-555-0100"));
	th_result_free(&r);
}

static void red_lists_yellow_rules_beside_it(void **state)
{
	(void)state;
	th_result r = expect_patched("{\"card\":{\"state\":\"SUSPENDED\",\"capture_method\":\"MANUAL\","
	                             "\"csc_result\":\"ABSENT\"},\"wallet\":{\"phone_suffix\":\"9876\"}}",
	                             STEPUP_RED, "card_not_active,phone_mismatch,missing_csc", "");
	json_t *j = parse_json(r.json);
	assert_string_equal(json_string_value(json_object_get(j, "decision")), "RED");
	assert_string_equal(json_string_value(json_object_get(j, "network_decision")), "DECLINED");
	assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	json_t *reasons = json_object_get(j, "reasons");
	assert_int_equal(json_array_size(reasons), 3);
	static const char *const names[] = { "card_not_active", "phone_mismatch", "missing_csc" };
	static const char *const outs[] = { "RED", "YELLOW", "YELLOW" };
	for (size_t i = 0; i < 3; i++) {
		json_t *x = json_array_get(reasons, i);
		char at[64];
		snprintf(at, sizeof(at), "default.rules:%u", rule_line(names[i]));
		assert_string_equal(json_string_value(json_object_get(x, "rule")), names[i]);
		assert_string_equal(json_string_value(json_object_get(x, "outcome")), outs[i]);
		assert_string_equal(json_string_value(json_object_get(x, "at")), at);
	}
	json_decref(j);
	th_result_free(&r);

	/* Every RED row at once: all reported. */
	EXPECT("{\"card\":{\"state\":\"CLOSED\",\"csc_result\":\"INVALID\",\"csc_failures_24h\":3,"
	       "\"active_tokens\":10},\"wallet\":{\"recommended_decision\":\"DECLINED\",\"device_score\":1,"
	       "\"device_suspicious\":true}}",
	       STEPUP_RED,
	       "card_not_active,csc_invalid,csc_failures,too_many_tokens,wallet_declines,wallet_score_high_risk,"
	       "suspicious_device",
	       "");
}

static void every_yellow_row_together(void **state)
{
	(void)state;
	EXPECT("{\"card\":{\"capture_method\":\"CAMERA\",\"csc_result\":\"ABSENT\"},"
	       "\"wallet\":{\"phone_suffix\":\"0000\",\"recommended_decision\":\"REQUIRE_ADDITIONAL_AUTHENTICATION\","
	       "\"account_score\":2,\"reason_codes\":[\"TOO_MANY_RECENT_ATTEMPTS\"]}}",
	       STEPUP_YELLOW, "phone_mismatch,missing_csc,wallet_requests_idv,wallet_score_risky,risky_reason", ALL4);
}

static void merchant_yellow_becomes_green(void **state)
{
	(void)state;
	th_result r = expect_patched("{\"channel\":\"ECOM_MERCHANT\",\"wallet\":{\"phone_suffix\":\"9876\"}}",
	                             STEPUP_GREEN, "phone_mismatch", "");
	json_t *j = parse_json(r.json);
	assert_string_equal(json_string_value(json_object_get(j, "decision")), "GREEN");
	assert_string_equal(json_string_value(json_object_get(j, "network_decision")), "APPROVED");
	assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "reasons")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "reasons"), 0), "outcome")),
	                    "YELLOW");
	json_decref(j);
	th_result_free(&r);

	EXPECT("{\"channel\":\"ECOM_MERCHANT\",\"wallet\":{\"device_suspicious\":true}}", STEPUP_GREEN,
	       "suspicious_device", "");
	/* RED stays RED on the merchant channel. */
	EXPECT("{\"channel\":\"ECOM_MERCHANT\",\"card\":{\"state\":\"CLOSED\"},\"wallet\":{\"phone_suffix\":\"9876\"}}",
	       STEPUP_RED, "card_not_active,phone_mismatch", "");
	EXPECT("{\"channel\":\"ECOM_MERCHANT\"}", STEPUP_GREEN, "", "");
	/* Absent channel is not the merchant channel: YELLOW stays. */
	EXPECT("{\"channel\":null,\"wallet\":{\"phone_suffix\":\"9876\"}}", STEPUP_YELLOW, "phone_mismatch", ALL4);
}

/* ---- method availability under the default policy ---------------------- */

static void methods_follow_data(void **state)
{
	(void)state;
	/* Not enrolled in the app: no IN_APP. */
	EXPECT("{\"end_user\":{\"app_enrolled\":false},\"wallet\":{\"phone_suffix\":\"9876\"}}", STEPUP_YELLOW,
	       "phone_mismatch", "OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE");
	EXPECT("{\"end_user\":{\"app_enrolled\":null},\"wallet\":{\"phone_suffix\":\"9876\"}}", STEPUP_YELLOW,
	       "phone_mismatch", "OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE");
	/* OTP exhausted: no OTPs. */
	EXPECT("{\"end_user\":{\"otp_exhausted\":true},\"wallet\":{\"phone_suffix\":\"9876\"}}", STEPUP_YELLOW,
	       "phone_mismatch", "IN_APP,CUSTOMER_SERVICE");
	/* No email: no OTP_EMAIL. */
	EXPECT("{\"end_user\":{\"email\":null},\"wallet\":{\"phone_suffix\":\"9876\"}}", STEPUP_YELLOW,
	       "phone_mismatch", "IN_APP,OTP_SMS,CUSTOMER_SERVICE");
	/* No phone: no OTP_SMS (and no phone_mismatch). */
	EXPECT("{\"end_user\":{\"phone\":null},\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"ABSENT\"}}",
	       STEPUP_YELLOW, "missing_csc", "IN_APP,OTP_EMAIL,CUSTOMER_SERVICE");
	/* No contact data at all and no app: customer service only. */
	EXPECT("{\"end_user\":null,\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"ABSENT\"}}", STEPUP_YELLOW,
	       "missing_csc", "CUSTOMER_SERVICE");
}

/* The table says OTP is offered when the contact is present and OTP is "not
 * exhausted". A request that does not carry end_user.otp_exhausted has not
 * said OTP is exhausted (DESIGN §1: the TSP tells us with the flag or by
 * asking again), so OTPs must still be offered. */
static void otp_offered_when_exhausted_flag_absent(void **state)
{
	(void)state;
	EXPECT("{\"end_user\":{\"otp_exhausted\":null},\"wallet\":{\"phone_suffix\":\"9876\"}}", STEPUP_YELLOW,
	       "phone_mismatch", ALL4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base_request_is_green),
		cmocka_unit_test(card_unknown_row),
		cmocka_unit_test(card_not_active_row),
		cmocka_unit_test(csc_invalid_row),
		cmocka_unit_test(csc_failures_row),
		cmocka_unit_test(too_many_tokens_row),
		cmocka_unit_test(wallet_declines_row),
		cmocka_unit_test(wallet_score_high_risk_row),
		cmocka_unit_test(phone_mismatch_row),
		cmocka_unit_test(missing_csc_row),
		cmocka_unit_test(wallet_requests_idv_row),
		cmocka_unit_test(wallet_score_risky_row),
		cmocka_unit_test(risky_reason_each_code),
		cmocka_unit_test(risky_reason_not_firing),
		cmocka_unit_test(suspicious_device_row),
		cmocka_unit_test(suspicious_restricts_other_step_ups),
		cmocka_unit_test(red_lists_yellow_rules_beside_it),
		cmocka_unit_test(every_yellow_row_together),
		cmocka_unit_test(merchant_yellow_becomes_green),
		cmocka_unit_test(methods_follow_data),
		cmocka_unit_test(otp_offered_when_exhausted_flag_absent),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
