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

/* Decide base+patch on the default engine and check it (th_expect). */
#define EXPECT(patch, outcome, fired, methods) TH_EXPECT(th_default, patch, outcome, fired, methods)
#define EXPECT_EACH(cases) th_expect_each(th_default, cases)

/* Tests that are nothing but a table of cases: registered with
 * DECISIONS_TEST, *state is the table. */
static void decisions(void **state)
{
	EXPECT_EACH(*state);
}

#define DECISIONS_TEST(cases) { #cases, decisions, NULL, NULL, (void *)(cases) }

#define ALL4 "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE"

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

/* ---- baseline --------------------------------------------------------- */

static void base_request_is_green(void **state)
{
	(void)state;
	th_result r = th_expect(th_default, "{}", STEPUP_GREEN, "", "");
	json_t *j = th_json(r.json);
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

static const th_case card_unknown_row[] = {
	{ "{\"card\":{\"state\":null}}", "RED card_unknown" },
	{ "{\"card\":null}", "RED card_unknown" },
	{ "{\"card\":{\"state\":\"ACTIVE\"}}", "GREEN" },
	{ NULL, NULL },
};

static const th_case card_not_active_row[] = {
	{ "{\"card\":{\"state\":\"INACTIVE\"}}", "RED card_not_active" },
	{ "{\"card\":{\"state\":\"SUSPENDED\"}}", "RED card_not_active" },
	{ "{\"card\":{\"state\":\"CLOSED\"}}", "RED card_not_active" },
	{ "{\"card\":{\"state\":\"ACTIVE\"}}", "GREEN" },
	/* A missing state is card_unknown, not card_not_active. */
	{ "{\"card\":{\"state\":null}}", "RED card_unknown" },
	{ NULL, NULL },
};

static const th_case csc_invalid_row[] = {
	{ "{\"card\":{\"csc_result\":\"INVALID\"}}", "RED csc_invalid" },
	{ "{\"card\":{\"csc_result\":\"MATCH\"}}", "GREEN" },
	{ "{\"card\":{\"csc_result\":\"NOT_PROCESSED\"}}", "GREEN" },
	/* BANK_APP capture: an ABSENT CSC is fine. */
	{ "{\"card\":{\"csc_result\":\"ABSENT\"}}", "GREEN" },
	{ "{\"card\":{\"csc_result\":null}}", "GREEN" },
	{ NULL, NULL },
};

static const th_case csc_failures_row[] = {
	{ "{\"card\":{\"csc_failures_24h\":2}}", "GREEN" },
	{ "{\"card\":{\"csc_failures_24h\":3}}", "RED csc_failures" },
	{ "{\"card\":{\"csc_failures_24h\":4}}", "RED csc_failures" },
	{ "{\"card\":{\"csc_failures_24h\":1000000}}", "RED csc_failures" },
	{ "{\"card\":{\"csc_failures_24h\":null}}", "GREEN" },
	{ NULL, NULL },
};

static const th_case too_many_tokens_row[] = {
	{ "{\"card\":{\"active_tokens\":9}}", "GREEN" },
	{ "{\"card\":{\"active_tokens\":10}}", "RED too_many_tokens" },
	{ "{\"card\":{\"active_tokens\":11}}", "RED too_many_tokens" },
	{ "{\"card\":{\"active_tokens\":0}}", "GREEN" },
	{ "{\"card\":{\"active_tokens\":null}}", "GREEN" },
	{ NULL, NULL },
};

static const th_case wallet_declines_row[] = {
	{ "{\"wallet\":{\"recommended_decision\":\"DECLINED\"}}", "RED wallet_declines" },
	{ "{\"wallet\":{\"recommended_decision\":\"APPROVED\"}}", "GREEN" },
	{ "{\"wallet\":{\"recommended_decision\":\"REQUIRE_ADDITIONAL_AUTHENTICATION\"}}",
	  "YELLOW wallet_requests_idv -> " ALL4 },
	{ "{\"wallet\":{\"recommended_decision\":null}}", "GREEN" },
	{ NULL, NULL },
};

static const th_case wallet_score_high_risk_row[] = {
	{ "{\"wallet\":{\"device_score\":1}}", "RED wallet_score_high_risk" },
	{ "{\"wallet\":{\"account_score\":1}}", "RED wallet_score_high_risk" },
	{ "{\"wallet\":{\"device_score\":1,\"account_score\":1}}", "RED wallet_score_high_risk" },
	/* Score 2 is middling (YELLOW), not highest risk. */
	{ "{\"wallet\":{\"device_score\":2}}", "YELLOW wallet_score_risky -> " ALL4 },
	/* phone_score 1 is not part of the RED row. */
	{ "{\"wallet\":{\"phone_score\":1}}", "YELLOW wallet_score_risky -> " ALL4 },
	{ "{\"wallet\":{\"device_score\":null,\"account_score\":null}}", "GREEN" },
	{ NULL, NULL },
};

/* ---- YELLOW rows ------------------------------------------------------ */

static void phone_mismatch_row(void **state)
{
	(void)state;
	/* Wallet sends only the last 4 digits. */
	th_result r = th_expect(th_default, "{\"wallet\":{\"phone_suffix\":\"9876\"}}", STEPUP_YELLOW,
	                        "phone_mismatch", ALL4);
	assert_int_equal(r.line, STEPUP_LINE_STANDARD);
	json_t *j = th_json(r.json);
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

	static const th_case cases[] = {
		/* Matching suffix. */
		{ "{\"wallet\":{\"phone_suffix\":\"1234\"}}", "GREEN" },
		/* Formatted issuer phone still matches the 4 digits. */
		{ "{\"end_user\":{\"phone\":\"+1 (415) 555-1234\"},\"wallet\":{\"phone_suffix\":\"1234\"}}",
		  "GREEN" },
		{ "{\"end_user\":{\"phone\":\"+1 (415) 555-9999\"},\"wallet\":{\"phone_suffix\":\"1234\"}}",
		  "YELLOW phone_mismatch -> " ALL4 },
		/* Formatted wallet suffix: only digits are compared. */
		{ "{\"wallet\":{\"phone_suffix\":\"XXX-1234\"}}", "GREEN" },
		{ "{\"wallet\":{\"phone_suffix\":\"+1 415 555 1234\"}}", "GREEN" },
		{ "{\"wallet\":{\"phone_suffix\":\"5551234\"}}", "GREEN" },
		{ "{\"wallet\":{\"phone_suffix\":\"6551234\"}}", "YELLOW phone_mismatch -> " ALL4 },
		/* Either side absent: no comparison, no fire. */
		{ "{\"wallet\":{\"phone_suffix\":null}}", "GREEN" },
		{ "{\"end_user\":{\"phone\":null},\"wallet\":{\"phone_suffix\":\"9876\"}}", "GREEN" },
		{ NULL, NULL },
	};
	EXPECT_EACH(cases);
}

static const th_case missing_csc_row[] = {
	{ "{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"ABSENT\"}}", "YELLOW missing_csc -> " ALL4 },
	{ "{\"card\":{\"capture_method\":\"CAMERA\",\"csc_result\":\"ABSENT\"}}", "YELLOW missing_csc -> " ALL4 },
	{ "{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":null}}", "YELLOW missing_csc -> " ALL4 },
	{ "{\"card\":{\"capture_method\":\"CAMERA\",\"csc_result\":null}}", "YELLOW missing_csc -> " ALL4 },
	{ "{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"MATCH\"}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":\"CAMERA\",\"csc_result\":\"MATCH\"}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"NOT_PROCESSED\"}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":\"BANK_APP\",\"csc_result\":\"ABSENT\"}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":\"ON_FILE\",\"csc_result\":\"ABSENT\"}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":\"UNKNOWN\",\"csc_result\":\"ABSENT\"}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":\"BANK_APP\",\"csc_result\":null}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":\"ON_FILE\",\"csc_result\":null}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":\"UNKNOWN\",\"csc_result\":null}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":null,\"csc_result\":\"ABSENT\"}}", "GREEN" },
	{ "{\"card\":{\"capture_method\":null,\"csc_result\":null}}", "GREEN" },
	/* MANUAL with a wrong CSC is RED, not a step-up. */
	{ "{\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"INVALID\"}}", "RED csc_invalid" },
	{ NULL, NULL },
};

static const th_case wallet_requests_idv_row[] = {
	{ "{\"wallet\":{\"recommended_decision\":\"REQUIRE_ADDITIONAL_AUTHENTICATION\"}}",
	  "YELLOW wallet_requests_idv -> " ALL4 },
	{ "{\"wallet\":{\"recommended_decision\":\"APPROVED\"}}", "GREEN" },
	{ "{\"wallet\":{\"recommended_decision\":\"DECLINED\"}}", "RED wallet_declines" },
	{ NULL, NULL },
};

static const th_case wallet_score_risky_row[] = {
	{ "{\"wallet\":{\"device_score\":2}}", "YELLOW wallet_score_risky -> " ALL4 },
	{ "{\"wallet\":{\"account_score\":2}}", "YELLOW wallet_score_risky -> " ALL4 },
	{ "{\"wallet\":{\"phone_score\":2}}", "YELLOW wallet_score_risky -> " ALL4 },
	{ "{\"wallet\":{\"phone_score\":1}}", "YELLOW wallet_score_risky -> " ALL4 },
	{ "{\"wallet\":{\"phone_score\":3}}", "GREEN" },
	{ "{\"wallet\":{\"device_score\":3}}", "GREEN" },
	{ "{\"wallet\":{\"account_score\":3}}", "GREEN" },
	{ "{\"wallet\":{\"device_score\":4,\"account_score\":4,\"phone_score\":4}}", "GREEN" },
	{ "{\"wallet\":{\"device_score\":null,\"account_score\":null,\"phone_score\":null}}", "GREEN" },
	/* Device 1 is RED; the YELLOW rule fires beside it when phone is 2. */
	{ "{\"wallet\":{\"device_score\":1,\"phone_score\":2}}",
	  "RED wallet_score_high_risk,wallet_score_risky" },
	{ NULL, NULL },
};

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

static const th_case risky_reason_not_firing[] = {
	{ "{\"wallet\":{\"reason_codes\":[]}}", "GREEN" },
	{ "{\"wallet\":{\"reason_codes\":null}}", "GREEN" },
	/* Unknown codes are allowed and change nothing. */
	{ "{\"wallet\":{\"reason_codes\":[\"DEVICE_BOUND_ELSEWHERE\"]}}", "GREEN" },
	{ "{\"wallet\":{\"reason_codes\":[\"account_too_new\"]}}", "GREEN" },
	{ "{\"wallet\":{\"reason_codes\":[\"ACCOUNT_TOO_NEW_\"]}}", "GREEN" },
	/* An unknown code beside a risky one does not hide it. */
	{ "{\"wallet\":{\"reason_codes\":[\"SOMETHING_NEW\",\"LOW_DEVICE_SCORE\",\"OTHER\"]}}",
	  "YELLOW risky_reason -> " ALL4 },
	/* HIGH_RISK is suspicious_device, not a risky reason. */
	{ "{\"wallet\":{\"reason_codes\":[\"HIGH_RISK\"]}}", "YELLOW suspicious_device -> CUSTOMER_SERVICE" },
	{ NULL, NULL },
};

static void suspicious_device_row(void **state)
{
	(void)state;
	const char *const patches[] = {
		"{\"wallet\":{\"device_suspicious\":true}}",
		"{\"wallet\":{\"reason_codes\":[\"HIGH_RISK\"]}}",
		"{\"wallet\":{\"device_suspicious\":false,\"reason_codes\":[\"X\",\"HIGH_RISK\"]}}",
	};
	for (size_t i = 0; i < 3; i++) {
		th_result r =
			th_expect(th_default, patches[i], STEPUP_YELLOW, "suspicious_device", "CUSTOMER_SERVICE");
		assert_int_equal(r.line, STEPUP_LINE_FRAUD);
		json_t *j = th_json(r.json);
		json_t *m = json_array_get(json_object_get(j, "idv_methods"), 0);
		assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 1);
		assert_string_equal(json_string_value(json_object_get(m, "type")), "CUSTOMER_SERVICE");
		assert_string_equal(json_string_value(json_object_get(m, "value")), "+1-800-555-0199");
		assert_string_equal(json_string_value(json_object_get(m, "line")), "FRAUD");
		json_decref(j);
		th_result_free(&r);
	}
	static const th_case cases[] = {
		{ "{\"wallet\":{\"device_suspicious\":false}}", "GREEN" },
		{ "{\"wallet\":{\"device_suspicious\":null}}", "GREEN" },
		/* Absent flag but HIGH_RISK: still fires (Kleene or). */
		{ "{\"wallet\":{\"device_suspicious\":null,\"reason_codes\":[\"HIGH_RISK\"]}}",
		  "YELLOW suspicious_device -> CUSTOMER_SERVICE" },
		/* Absent codes but flagged: still fires. */
		{ "{\"wallet\":{\"device_suspicious\":true,\"reason_codes\":null}}",
		  "YELLOW suspicious_device -> CUSTOMER_SERVICE" },
		{ NULL, NULL },
	};
	EXPECT_EACH(cases);
}

/* ---- interactions ------------------------------------------------------ */

static void suspicious_restricts_other_step_ups(void **state)
{
	(void)state;
	th_result r = th_expect(th_default, "{\"wallet\":{\"phone_suffix\":\"9876\",\"device_suspicious\":true,"
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
	th_result r = th_expect(th_default, "{\"card\":{\"state\":\"SUSPENDED\",\"capture_method\":\"MANUAL\","
	                        "\"csc_result\":\"ABSENT\"},\"wallet\":{\"phone_suffix\":\"9876\"}}",
	                        STEPUP_RED, "card_not_active,phone_mismatch,missing_csc", "");
	json_t *j = th_json(r.json);
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

static const th_case every_yellow_row_together[] = {
	{ "{\"card\":{\"capture_method\":\"CAMERA\",\"csc_result\":\"ABSENT\"},"
	  "\"wallet\":{\"phone_suffix\":\"0000\",\"recommended_decision\":\"REQUIRE_ADDITIONAL_AUTHENTICATION\","
	  "\"account_score\":2,\"reason_codes\":[\"TOO_MANY_RECENT_ATTEMPTS\"]}}",
	  "YELLOW phone_mismatch,missing_csc,wallet_requests_idv,wallet_score_risky,risky_reason -> " ALL4 },
	{ NULL, NULL },
};

static void merchant_yellow_becomes_green(void **state)
{
	(void)state;
	th_result r = th_expect(th_default, "{\"channel\":\"ECOM_MERCHANT\",\"wallet\":{\"phone_suffix\":\"9876\"}}",
	                        STEPUP_GREEN, "phone_mismatch", "");
	json_t *j = th_json(r.json);
	assert_string_equal(json_string_value(json_object_get(j, "decision")), "GREEN");
	assert_string_equal(json_string_value(json_object_get(j, "network_decision")), "APPROVED");
	assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "reasons")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "reasons"), 0), "outcome")),
	                    "YELLOW");
	json_decref(j);
	th_result_free(&r);

	static const th_case cases[] = {
		{ "{\"channel\":\"ECOM_MERCHANT\",\"wallet\":{\"device_suspicious\":true}}",
		  "GREEN suspicious_device" },
		/* RED stays RED on the merchant channel. */
		{ "{\"channel\":\"ECOM_MERCHANT\",\"card\":{\"state\":\"CLOSED\"},\"wallet\":{\"phone_suffix\":\"9876\"}}",
		  "RED card_not_active,phone_mismatch" },
		{ "{\"channel\":\"ECOM_MERCHANT\"}", "GREEN" },
		/* Absent channel is not the merchant channel: YELLOW stays. */
		{ "{\"channel\":null,\"wallet\":{\"phone_suffix\":\"9876\"}}", "YELLOW phone_mismatch -> " ALL4 },
		{ NULL, NULL },
	};
	EXPECT_EACH(cases);
}

/* ---- method availability under the default policy ---------------------- */

static const th_case methods_follow_data[] = {
	/* Not enrolled in the app: no IN_APP. */
	{ "{\"end_user\":{\"app_enrolled\":false},\"wallet\":{\"phone_suffix\":\"9876\"}}",
	  "YELLOW phone_mismatch -> OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE" },
	{ "{\"end_user\":{\"app_enrolled\":null},\"wallet\":{\"phone_suffix\":\"9876\"}}",
	  "YELLOW phone_mismatch -> OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE" },
	/* OTP exhausted: no OTPs. */
	{ "{\"end_user\":{\"otp_exhausted\":true},\"wallet\":{\"phone_suffix\":\"9876\"}}",
	  "YELLOW phone_mismatch -> IN_APP,CUSTOMER_SERVICE" },
	/* No email: no OTP_EMAIL. */
	{ "{\"end_user\":{\"email\":null},\"wallet\":{\"phone_suffix\":\"9876\"}}",
	  "YELLOW phone_mismatch -> IN_APP,OTP_SMS,CUSTOMER_SERVICE" },
	/* No phone: no OTP_SMS (and no phone_mismatch). */
	{ "{\"end_user\":{\"phone\":null},\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"ABSENT\"}}",
	  "YELLOW missing_csc -> IN_APP,OTP_EMAIL,CUSTOMER_SERVICE" },
	/* No contact data at all and no app: customer service only. */
	{ "{\"end_user\":null,\"card\":{\"capture_method\":\"MANUAL\",\"csc_result\":\"ABSENT\"}}",
	  "YELLOW missing_csc -> CUSTOMER_SERVICE" },
	{ NULL, NULL },
};

/* The table says OTP is offered when the contact is present and OTP is "not
 * exhausted". A request that does not carry end_user.otp_exhausted has not
 * said OTP is exhausted (DESIGN §1: the TSP tells us with the flag or by
 * asking again), so OTPs must still be offered. */
static const th_case otp_offered_when_exhausted_flag_absent[] = {
	{ "{\"end_user\":{\"otp_exhausted\":null},\"wallet\":{\"phone_suffix\":\"9876\"}}",
	  "YELLOW phone_mismatch -> " ALL4 },
	{ NULL, NULL },
};

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base_request_is_green),
		DECISIONS_TEST(card_unknown_row),
		DECISIONS_TEST(card_not_active_row),
		DECISIONS_TEST(csc_invalid_row),
		DECISIONS_TEST(csc_failures_row),
		DECISIONS_TEST(too_many_tokens_row),
		DECISIONS_TEST(wallet_declines_row),
		DECISIONS_TEST(wallet_score_high_risk_row),
		cmocka_unit_test(phone_mismatch_row),
		DECISIONS_TEST(missing_csc_row),
		DECISIONS_TEST(wallet_requests_idv_row),
		DECISIONS_TEST(wallet_score_risky_row),
		cmocka_unit_test(risky_reason_each_code),
		DECISIONS_TEST(risky_reason_not_firing),
		cmocka_unit_test(suspicious_device_row),
		cmocka_unit_test(suspicious_restricts_other_step_ups),
		cmocka_unit_test(red_lists_yellow_rules_beside_it),
		DECISIONS_TEST(every_yellow_row_together),
		cmocka_unit_test(merchant_yellow_becomes_green),
		DECISIONS_TEST(methods_follow_data),
		DECISIONS_TEST(otp_offered_when_exhausted_flag_absent),
	};
	return cmocka_run_group_tests(tests, th_default_setup, th_default_teardown);
}
