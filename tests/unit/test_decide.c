/* test_decide.c: combining semantics (DESIGN §2), the response contract
 * (DESIGN §3), decision ids, explain and thread safety, on small rulesets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decision_id.h"
#include "helpers.h"

#define S_FULL th_settings_full
static const char *const S_NO_APP =
	"{\"issuer\":{\"customer_service\":{\"standard\":\"+1-800-555-0100\",\"fraud\":\"+1-800-555-0199\"}}}";
static const char *const S_NO_CS = "{\"issuer\":{\"app_id\":\"com.examplebank.mobile\"}}";
static const char *const S_STD_ONLY =
	"{\"issuer\":{\"app_id\":\"com.examplebank.mobile\",\"customer_service\":{\"standard\":\"+1-800-555-0100\"}}}";

/* The workhorse ruleset. Triggers are values that differ from
 * th_base_request, so the base request fires nothing. */
static const char *const RULES =
	"ruleset \"combine\"\n"                                                                 /* 1 */
	"method IN_APP           when end_user.app_enrolled\n"                                    /* 2 */
	"method OTP_SMS          when end_user.phone is present and not end_user.otp_exhausted\n" /* 3 */
	"method OTP_EMAIL        when end_user.email is present and not end_user.otp_exhausted\n" /* 4 */
	"method CUSTOMER_SERVICE always\n"                                                        /* 5 */
	"\n"                                                                                      /* 6 */
	"rule red_score when wallet.device_score == 1 then decline\n"                             /* 7 */
	"rule yellow_all when wallet.account_score == 2 then step_up\n"                           /* 8 */
	"rule only_a when card.capture_method == MANUAL\n"                                        /* 9 */
	"  then step_up only OTP_EMAIL, IN_APP, CUSTOMER_SERVICE\n"                               /* 10 */
	"rule only_b when card.capture_method in {MANUAL, CAMERA}\n"                              /* 11 */
	"  then step_up only CUSTOMER_SERVICE, OTP_SMS, OTP_EMAIL\n"                              /* 12 */
	"rule only_c when card.capture_method == CAMERA then step_up only IN_APP\n"               /* 13 */
	"rule fraud when wallet.device_suspicious then step_up line FRAUD\n"                      /* 14 */
	"rule fraud_cs when wallet.reason_codes has HIGH_RISK\n"                                  /* 15 */
	"  then step_up only CUSTOMER_SERVICE line FRAUD\n"                                       /* 16 */
	"rule green_ok when token_requestor.name == \"GOOGLE_PAY\" then approve\n"               /* 17 */
	"rule only_cs when card.capture_method == UNKNOWN then step_up only CUSTOMER_SERVICE\n"   /* 18 */
	"on channel ECOM_MERCHANT step_up becomes decline\n";                                     /* 19 */

/* Per-test fixture: a fresh engine on RULES with S_FULL in *state. */
static int rules_engine(void **state)
{
	*state = th_engine(RULES, S_FULL);
	return 0;
}

static int free_engine(void **state)
{
	stepup_engine_free(*state);
	return 0;
}

#define RULES_TEST(test) cmocka_unit_test_setup_teardown(test, rules_engine, free_engine)

static unsigned src_line(const char *src, const char *rule)
{
	char want[128];
	unsigned line = 1;
	snprintf(want, sizeof(want), "rule %s ", rule);
	for (const char *p = src; *p;) {
		if (strncmp(p, want, strlen(want)) == 0)
			return line;
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
		line++;
	}
	fail_msg("rule %s not in source", rule);
	return 0;
}

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v))
		fail_msg("key %s is not a string", k);
	return json_string_value(v);
}

/* The step-up rule the method tests end with, and a patch on which it
 * fires alone. */
#define RULE_Y "rule y when wallet.account_score == 2 then step_up\n"
#define Y_PATCH "{\"wallet\":{\"account_score\":2}}"
/* Only OTP_SMS and CUSTOMER_SERVICE declared, then rule y. */
#define SMS_CS_RULES "method OTP_SMS always\nmethod CUSTOMER_SERVICE always\n" RULE_Y

/* A patch on which rule y fires alone (YELLOW), and the methods it must
 * offer. Lists end with { NULL, NULL }. */
typedef struct offer {
	const char *patch, *methods;
} offer;

/* Check every offer on an engine built from rules (ending in RULE_Y) and
 * settings. */
static void expect_offers(const char *rules, const char *settings, const offer *o)
{
	stepup_engine *e = th_engine(rules, settings);
	for (; o->patch; o++)
		TH_EXPECT(e, o->patch, STEPUP_YELLOW, "y", o->methods);
	stepup_engine_free(e);
}

/* Decide base+patch: YELLOW with `fired` and `methods` (as th_expect), and
 * method i is the customer-service number `number` on `line`, the line the
 * decision reports too. */
static void expect_cs_method(const stepup_engine *e, const char *patch, const char *fired, const char *methods,
                             size_t i, stepup_cs_line line, const char *number)
{
	th_result r = th_expect(e, patch, STEPUP_YELLOW, fired, methods);
	assert_int_equal(r.line, line);
	json_t *j = th_json(r.json), *m = json_array_get(json_object_get(j, "idv_methods"), i);
	assert_string_equal(jstr(m, "type"), "CUSTOMER_SERVICE");
	assert_string_equal(jstr(m, "value"), number);
	assert_string_equal(jstr(m, "line"), line == STEPUP_LINE_FRAUD ? "FRAUD" : "STANDARD");
	json_decref(j);
	th_result_free(&r);
}

/* ---- severity ----------------------------------------------------------- */

static void no_rule_fired_is_green(void **state)
{
	stepup_engine *e = *state;
	th_result r = th_expect(e, "{}", STEPUP_GREEN, "", "");
	json_t *j = th_json(r.json);
	assert_int_equal(json_array_size(json_object_get(j, "reasons")), 0);
	assert_true(json_is_array(json_object_get(j, "reasons")));
	assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	assert_true(json_is_array(json_object_get(j, "idv_methods")));
	json_decref(j);
	th_result_free(&r);
}

static void red_wins_over_yellow(void **state)
{
	stepup_engine *e = *state;
	static const th_case cases[] = {
		{ "{\"wallet\":{\"device_score\":1,\"account_score\":2}}", "RED red_score,yellow_all" },
		{ "{\"wallet\":{\"device_score\":1,\"device_suspicious\":true},\"card\":{\"capture_method\":\"MANUAL\"}}",
		  "RED red_score,only_a,only_b,fraud" },
		{ "{\"wallet\":{\"device_score\":1}}", "RED red_score" },
		{ NULL, NULL },
	};
	th_expect_each(e, cases);
}

static void approve_is_green_and_reported(void **state)
{
	stepup_engine *e = *state;
	th_result r = th_expect(e, "{\"token_requestor\":{\"name\":\"GOOGLE_PAY\"}}", STEPUP_GREEN, "green_ok", "");
	json_t *j = th_json(r.json);
	json_t *x = json_array_get(json_object_get(j, "reasons"), 0);
	assert_string_equal(jstr(x, "rule"), "green_ok");
	assert_string_equal(jstr(x, "outcome"), "GREEN");
	assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	json_decref(j);
	th_result_free(&r);
	/* approve never overrides YELLOW or RED, and does not restrict methods. */
	TH_EXPECT(e, "{\"token_requestor\":{\"name\":\"GOOGLE_PAY\"},\"wallet\":{\"account_score\":2}}", STEPUP_YELLOW,
	          "yellow_all,green_ok", "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE");
	TH_EXPECT(e, "{\"token_requestor\":{\"name\":\"GOOGLE_PAY\"},\"wallet\":{\"device_score\":1}}", STEPUP_RED,
	          "red_score,green_ok", "");
}

/* ---- methods ------------------------------------------------------------ */

static void step_up_without_only_offers_all_declared(void **state)
{
	stepup_engine *e = *state;
	th_result r = th_expect(e, "{\"wallet\":{\"account_score\":2}}", STEPUP_YELLOW, "yellow_all",
	                        "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE");
	assert_int_equal(r.line, STEPUP_LINE_STANDARD);
	th_result_free(&r);
}

static void only_sets_intersect_in_declaration_order(void **state)
{
	stepup_engine *e = *state;
	static const th_case cases[] = {
		/* only_a {OTP_EMAIL, IN_APP, CS} and only_b {CS, OTP_SMS, OTP_EMAIL}. */
		{ "{\"card\":{\"capture_method\":\"MANUAL\"}}",
		  "YELLOW only_a,only_b -> OTP_EMAIL,CUSTOMER_SERVICE" },
		/* And with a step_up that allows all: unchanged. */
		{ "{\"card\":{\"capture_method\":\"MANUAL\"},\"wallet\":{\"account_score\":2}}",
		  "YELLOW yellow_all,only_a,only_b -> OTP_EMAIL,CUSTOMER_SERVICE" },
		/* Single `only` rule: its set, in declaration order. */
		{ "{\"card\":{\"capture_method\":\"UNKNOWN\"}}", "YELLOW only_cs -> CUSTOMER_SERVICE" },
		{ NULL, NULL },
	};
	th_expect_each(e, cases);

	/* Declaration order differing from the `only` order. */
	static const char *const src =
		"ruleset \"order\"\n"
		"method OTP_EMAIL always\n"
		"method CUSTOMER_SERVICE always\n"
		"method OTP_SMS always\n"
		"method IN_APP always\n"
		"rule r1 when wallet.account_score == 2 then step_up only IN_APP, OTP_SMS, CUSTOMER_SERVICE, OTP_EMAIL\n"
		"rule r2 when wallet.device_score == 2 then step_up only IN_APP, OTP_SMS, OTP_EMAIL\n";
	stepup_engine *order = th_engine(src, S_FULL);
	TH_EXPECT(order, "{\"wallet\":{\"account_score\":2}}", STEPUP_YELLOW, "r1",
	          "OTP_EMAIL,CUSTOMER_SERVICE,OTP_SMS,IN_APP");
	TH_EXPECT(order, "{\"wallet\":{\"account_score\":2,\"device_score\":2}}", STEPUP_YELLOW, "r1,r2",
	          "OTP_EMAIL,OTP_SMS,IN_APP");
	/* The JSON lists them in the same order. */
	th_result r = th_expect(order, "{\"wallet\":{\"account_score\":2}}", STEPUP_YELLOW, "r1",
	                        "OTP_EMAIL,CUSTOMER_SERVICE,OTP_SMS,IN_APP");
	json_t *j = th_json(r.json), *m = json_object_get(j, "idv_methods");
	assert_int_equal(json_array_size(m), 4);
	assert_string_equal(jstr(json_array_get(m, 0), "type"), "OTP_EMAIL");
	assert_string_equal(jstr(json_array_get(m, 1), "type"), "CUSTOMER_SERVICE");
	assert_string_equal(jstr(json_array_get(m, 2), "type"), "OTP_SMS");
	assert_string_equal(jstr(json_array_get(m, 3), "type"), "IN_APP");
	json_decref(j);
	th_result_free(&r);
	stepup_engine_free(order);
}

static void undeclared_methods_never_offered(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(SMS_CS_RULES, S_FULL);
	th_result r = th_expect(e, Y_PATCH, STEPUP_YELLOW, "y", "OTP_SMS,CUSTOMER_SERVICE");
	json_t *j = th_json(r.json);
	/* A ruleset without a name is "unnamed". */
	assert_string_equal(jstr(json_object_get(j, "ruleset"), "name"), "unnamed");
	json_decref(j);
	th_result_free(&r);
	stepup_engine_free(e);
}

static void method_availability_conditions(void **state)
{
	(void)state;
	static const offer offers[] = {
		{ Y_PATCH, "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE" },
		{ "{\"wallet\":{\"account_score\":2},\"end_user\":{\"language\":\"fr-FR\"}}",
		  "IN_APP,OTP_EMAIL,CUSTOMER_SERVICE" },
		/* An absent field makes the condition ABSENT: not available. */
		{ "{\"wallet\":{\"account_score\":2},\"end_user\":{\"language\":null}}",
		  "IN_APP,OTP_EMAIL,CUSTOMER_SERVICE" },
		{ "{\"wallet\":{\"account_score\":2,\"phone_score\":3}}", "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE" },
		{ "{\"wallet\":{\"account_score\":2,\"phone_score\":2}}", "IN_APP,OTP_SMS,CUSTOMER_SERVICE" },
		{ "{\"wallet\":{\"account_score\":2,\"phone_score\":null}}", "IN_APP,OTP_SMS,CUSTOMER_SERVICE" },
		{ "{\"wallet\":{\"account_score\":2},\"end_user\":{\"app_enrolled\":false}}",
		  "OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE" },
		{ "{\"wallet\":{\"account_score\":2},\"end_user\":{\"app_enrolled\":null}}",
		  "OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE" },
		{ NULL, NULL },
	};
	expect_offers("method IN_APP when end_user.app_enrolled\n"
	              "method OTP_SMS when end_user.language == \"en-US\"\n"
	              "method OTP_EMAIL when wallet.phone_score >= 3\n"
	              "method CUSTOMER_SERVICE always\n" RULE_Y,
	              S_FULL, offers);
}

static void methods_need_data(void **state)
{
	(void)state;
	/* Every method declared `always`: only the data decides. */
	static const char *const src =
		"method IN_APP always\n"
		"method OTP_SMS always\n"
		"method OTP_EMAIL always\n"
		"method CUSTOMER_SERVICE always\n" RULE_Y;
	static const offer full[] = {
		{ Y_PATCH, "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE" },
		{ "{\"wallet\":{\"account_score\":2},\"end_user\":{\"email\":null}}",
		  "IN_APP,OTP_SMS,CUSTOMER_SERVICE" },
		{ "{\"wallet\":{\"account_score\":2},\"end_user\":{\"phone\":null}}",
		  "IN_APP,OTP_EMAIL,CUSTOMER_SERVICE" },
		{ "{\"wallet\":{\"account_score\":2},\"end_user\":null}", "IN_APP,CUSTOMER_SERVICE" },
		{ NULL, NULL },
	};
	expect_offers(src, S_FULL, full);

	/* No app_id in the settings: no IN_APP even for an enrolled user. */
	static const offer no_app[] = { { Y_PATCH, "OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE" }, { NULL, NULL } };
	expect_offers(src, S_NO_APP, no_app);
	/* No customer-service number: no CUSTOMER_SERVICE. */
	static const offer no_cs[] = { { Y_PATCH, "IN_APP,OTP_SMS,OTP_EMAIL" }, { NULL, NULL } };
	expect_offers(src, S_NO_CS, no_cs);
	/* No settings at all: phone and email still serve OTPs. */
	static const offer none[] = { { Y_PATCH, "OTP_SMS,OTP_EMAIL" }, { NULL, NULL } };
	expect_offers(src, NULL, none);
}

static void otp_exhausted_drops_otps(void **state)
{
	stepup_engine *e = *state;
	static const th_case cases[] = {
		{ "{\"wallet\":{\"account_score\":2},\"end_user\":{\"otp_exhausted\":true}}",
		  "YELLOW yellow_all -> IN_APP,CUSTOMER_SERVICE" },
		/* Exhausted OTPs with an OTP-only intersection: fallback. */
		{ "{\"card\":{\"capture_method\":\"MANUAL\"},\"end_user\":{\"otp_exhausted\":true}}",
		  "YELLOW only_a,only_b -> CUSTOMER_SERVICE" },
		{ NULL, NULL },
	};
	th_expect_each(e, cases);
}

static void empty_intersection_falls_back_to_customer_service(void **state)
{
	stepup_engine *e = *state;
	/* only_b {CS, SMS, EMAIL} and only_c {IN_APP}: nothing in common. */
	expect_cs_method(e, "{\"card\":{\"capture_method\":\"CAMERA\"}}", "only_b,only_c", "CUSTOMER_SERVICE", 0,
	                 STEPUP_LINE_STANDARD, "+1-800-555-0100");
	/* Intersection {IN_APP} with no app: the same fallback. */
	TH_EXPECT(e, "{\"card\":{\"capture_method\":\"CAMERA\"},\"end_user\":{\"app_enrolled\":false}}", STEPUP_YELLOW,
	          "only_b,only_c", "CUSTOMER_SERVICE");

	/* A ruleset that declares no method at all: fallback too. */
	static const offer cs[] = { { Y_PATCH, "CUSTOMER_SERVICE" }, { NULL, NULL } };
	expect_offers(RULE_Y, S_FULL, cs);
	/* ... and with no number for it: RED. */
	stepup_engine *no_cs = th_engine(RULE_Y, S_NO_CS);
	TH_EXPECT(no_cs, Y_PATCH, STEPUP_RED, "y", "");
	stepup_engine_free(no_cs);
}

static void no_customer_service_number_makes_red(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(RULES, S_NO_CS);
	th_result r = th_expect(e, "{\"card\":{\"capture_method\":\"CAMERA\"},\"end_user\":{\"app_enrolled\":false}}",
	                        STEPUP_RED, "only_b,only_c", "");
	json_t *j = th_json(r.json);
	assert_string_equal(jstr(j, "decision"), "RED");
	assert_string_equal(jstr(j, "network_decision"), "DECLINED");
	assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	/* The YELLOW rules that led there are still reported. */
	assert_int_equal(json_array_size(json_object_get(j, "reasons")), 2);
	json_decref(j);
	th_result_free(&r);
	/* only CUSTOMER_SERVICE with no number: RED. */
	TH_EXPECT(e, "{\"card\":{\"capture_method\":\"UNKNOWN\"}}", STEPUP_RED, "only_cs", "");
	/* When other methods remain, the missing number does not matter. */
	TH_EXPECT(e, "{\"wallet\":{\"account_score\":2}}", STEPUP_YELLOW, "yellow_all", "IN_APP,OTP_SMS,OTP_EMAIL");
	stepup_engine_free(e);
}

static void fraud_line_when_any_rule_asks(void **state)
{
	stepup_engine *e = *state;
	expect_cs_method(e, "{\"wallet\":{\"device_suspicious\":true}}", "fraud",
	                 "IN_APP,OTP_SMS,OTP_EMAIL,CUSTOMER_SERVICE", 3, STEPUP_LINE_FRAUD, "+1-800-555-0199");
	/* One FRAUD rule among STANDARD ones is enough. */
	th_result r = th_expect(e, "{\"wallet\":{\"device_suspicious\":true,\"account_score\":2},\"card\":{\"capture_method\":\"MANUAL\"}}",
	                        STEPUP_YELLOW, "yellow_all,only_a,only_b,fraud", "OTP_EMAIL,CUSTOMER_SERVICE");
	assert_int_equal(r.line, STEPUP_LINE_FRAUD);
	assert_non_null(strstr(r.json, "\"+1-800-555-0199\""));
	assert_null(strstr(r.json, "+1-800-555-0100"));
	th_result_free(&r);
	/* FRAUD also reaches the fallback. */
	r = th_expect(e, "{\"wallet\":{\"reason_codes\":[\"HIGH_RISK\"]},\"card\":{\"capture_method\":\"CAMERA\"}}",
	              STEPUP_YELLOW, "only_b,only_c,fraud_cs", "CUSTOMER_SERVICE");
	assert_int_equal(r.line, STEPUP_LINE_FRAUD);
	assert_non_null(strstr(r.json, "\"line\":\"FRAUD\""));
	th_result_free(&r);
	/* No FRAUD rule fired: STANDARD. */
	r = th_expect(e, "{\"card\":{\"capture_method\":\"UNKNOWN\"}}", STEPUP_YELLOW, "only_cs", "CUSTOMER_SERVICE");
	assert_int_equal(r.line, STEPUP_LINE_STANDARD);
	assert_non_null(strstr(r.json, "\"line\":\"STANDARD\""));
	th_result_free(&r);
}

static void fraud_line_falls_back_to_standard(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(RULES, S_STD_ONLY);
	expect_cs_method(e, "{\"wallet\":{\"reason_codes\":[\"HIGH_RISK\"]}}", "fraud_cs", "CUSTOMER_SERVICE", 0,
	                 STEPUP_LINE_STANDARD, "+1-800-555-0100");
	stepup_engine_free(e);
}

/* ---- merchant channel ---------------------------------------------------- */

static void merchant_becomes_decline(void **state)
{
	stepup_engine *e = *state;
	th_result r = th_expect(e, "{\"channel\":\"ECOM_MERCHANT\",\"wallet\":{\"account_score\":2}}", STEPUP_RED,
	                        "yellow_all", "");
	json_t *j = th_json(r.json);
	assert_string_equal(jstr(j, "decision"), "RED");
	assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	assert_string_equal(jstr(json_array_get(json_object_get(j, "reasons"), 0), "outcome"), "YELLOW");
	json_decref(j);
	th_result_free(&r);
	/* GREEN stays GREEN on the merchant channel. */
	TH_EXPECT(e, "{\"channel\":\"ECOM_MERCHANT\"}", STEPUP_GREEN, "", "");
	TH_EXPECT(e, "{\"channel\":\"ECOM_MERCHANT\",\"token_requestor\":{\"name\":\"GOOGLE_PAY\"}}", STEPUP_GREEN,
	          "green_ok", "");
}

static void merchant_without_policy_fails_closed(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(SMS_CS_RULES, S_FULL);
	static const th_case cases[] = {
		{ "{\"channel\":\"ECOM_MERCHANT\",\"wallet\":{\"account_score\":2}}", "RED y" },
		{ "{\"channel\":\"XPAY_WALLET\",\"wallet\":{\"account_score\":2}}",
		  "YELLOW y -> OTP_SMS,CUSTOMER_SERVICE" },
		{ "{\"channel\":\"ECOM_MERCHANT\"}", "GREEN" },
		{ NULL, NULL },
	};
	th_expect_each(e, cases);
	stepup_engine_free(e);

	e = th_engine("method OTP_SMS always\n" RULE_Y "on channel ECOM_MERCHANT step_up becomes approve\n", S_FULL);
	TH_EXPECT(e, "{\"channel\":\"ECOM_MERCHANT\",\"wallet\":{\"account_score\":2}}", STEPUP_GREEN, "y", "");
	stepup_engine_free(e);
}

/* ---- response contract --------------------------------------------------- */

static void reasons_carry_file_and_line(void **state)
{
	stepup_engine *e = *state;
	th_result r = th_decide_patched(e, "{\"wallet\":{\"device_score\":1,\"account_score\":2,\"device_suspicious\":true},"
	                                   "\"card\":{\"capture_method\":\"MANUAL\"},"
	                                   "\"token_requestor\":{\"name\":\"GOOGLE_PAY\"}}");
	assert_int_equal(r.rc, STEPUP_OK);
	json_t *j = th_json(r.json), *reasons = json_object_get(j, "reasons");
	static const char *const names[] = { "red_score", "yellow_all", "only_a", "only_b", "fraud", "green_ok" };
	static const char *const outs[] = { "RED", "YELLOW", "YELLOW", "YELLOW", "YELLOW", "GREEN" };
	assert_int_equal(json_array_size(reasons), 6);
	for (size_t i = 0; i < 6; i++) {
		json_t *x = json_array_get(reasons, i);
		char at[64];
		snprintf(at, sizeof(at), "test.rules:%u", src_line(RULES, names[i]));
		assert_string_equal(jstr(x, "rule"), names[i]);
		assert_string_equal(jstr(x, "outcome"), outs[i]);
		assert_string_equal(jstr(x, "at"), at);
	}
	/* Hard-coded too, in case src_line were wrong. */
	assert_string_equal(jstr(json_array_get(reasons, 0), "at"), "test.rules:7");
	assert_string_equal(jstr(json_array_get(reasons, 2), "at"), "test.rules:9");
	assert_string_equal(jstr(json_array_get(reasons, 5), "at"), "test.rules:17");
	json_decref(j);
	th_result_free(&r);
}

static int matches(const char *re, const char *s)
{
	regex_t rx;
	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
	int ok = regexec(&rx, s, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok;
}

static void check_shape(const char *json, const char *decision, const char *network, int want_methods)
{
	json_t *j = th_json(json);
	static const char *const keys[] = { "request_id", "decision_id", "decision", "network_decision",
		                            "idv_methods", "reasons", "ruleset" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!json_object_get(j, keys[i]))
			fail_msg("response lacks %s: %s", keys[i], json);
	assert_string_equal(jstr(j, "request_id"), "req-1");
	if (!matches("^dcs_[0-9A-Z]{16}$", jstr(j, "decision_id")))
		fail_msg("bad decision_id %s", jstr(j, "decision_id"));
	assert_string_equal(jstr(j, "decision"), decision);
	assert_string_equal(jstr(j, "network_decision"), network);
	assert_true(json_is_array(json_object_get(j, "idv_methods")));
	assert_true(json_is_array(json_object_get(j, "reasons")));
	if (want_methods)
		assert_true(json_array_size(json_object_get(j, "idv_methods")) > 0);
	else
		assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	json_t *rs = json_object_get(j, "ruleset");
	assert_string_equal(jstr(rs, "name"), "combine");
	if (!matches("^sha256:[0-9a-f]{64}$", jstr(rs, "revision")))
		fail_msg("bad revision %s", jstr(rs, "revision"));
	/* No explain unless asked for. */
	assert_null(json_object_get(j, "explain"));
	json_decref(j);
}

static void response_shape(void **state)
{
	stepup_engine *e = *state;
	th_result g = th_decide_patched(e, "{}");
	th_result y = th_decide_patched(e, "{\"wallet\":{\"account_score\":2}}");
	th_result r = th_decide_patched(e, "{\"wallet\":{\"device_score\":1}}");
	check_shape(g.json, "GREEN", "APPROVED", 0);
	check_shape(y.json, "YELLOW", "REQUIRE_ADDITIONAL_AUTHENTICATION", 1);
	check_shape(r.json, "RED", "DECLINED", 0);
	/* Revision matches the library's own. */
	json_t *j = th_json(g.json);
	assert_string_equal(jstr(json_object_get(j, "ruleset"), "revision"),
	                    stepup_ruleset_revision(stepup_engine_ruleset(e)));
	json_decref(j);
	th_result_free(&g);
	th_result_free(&y);
	th_result_free(&r);

	assert_string_equal(stepup_outcome_name(STEPUP_GREEN), "GREEN");
	assert_string_equal(stepup_outcome_name(STEPUP_YELLOW), "YELLOW");
	assert_string_equal(stepup_outcome_name(STEPUP_RED), "RED");
	assert_string_equal(stepup_outcome_network_name(STEPUP_GREEN), "APPROVED");
	assert_string_equal(stepup_outcome_network_name(STEPUP_YELLOW), "REQUIRE_ADDITIONAL_AUTHENTICATION");
	assert_string_equal(stepup_outcome_network_name(STEPUP_RED), "DECLINED");
	assert_string_equal(stepup_cs_line_name(STEPUP_LINE_FRAUD), "FRAUD");
	assert_string_equal(stepup_cs_line_name(STEPUP_LINE_STANDARD), "STANDARD");
}

static void request_id_echoed_escaped(void **state)
{
	stepup_engine *e = *state;
	th_result r = th_decide_patched(e, "{\"request_id\":\"a\\\"b\\\\c/<x>\"}");
	assert_int_equal(r.rc, STEPUP_OK);
	json_t *j = th_json(r.json);
	assert_string_equal(jstr(j, "request_id"), "a\"b\\c/<x>");
	json_decref(j);
	th_result_free(&r);
}

static void decision_json_matches_accessors(void **state)
{
	stepup_engine *e = *state;
	stepup_request *rq = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	char err[256];
	const char *json = "{\"request_id\":\"acc-1\",\"card\":{\"state\":\"ACTIVE\",\"capture_method\":\"MANUAL\"},"
	                   "\"end_user\":{\"phone\":\"+14155551234\",\"email\":\"jane.doe@example.com\","
	                   "\"otp_exhausted\":false}}";
	assert_int_equal(stepup_request_parse(rq, e, json, strlen(json), err, sizeof(err)), STEPUP_OK);
	assert_string_equal(stepup_request_id(rq), "acc-1");
	assert_int_equal(stepup_decide(e, rq, d, 0), STEPUP_OK);
	assert_int_equal(stepup_decision_outcome(d), STEPUP_YELLOW);
	assert_int_equal(stepup_decision_method_count(d), 2);
	assert_int_equal(stepup_decision_method(d, 0), STEPUP_OTP_EMAIL);
	assert_int_equal(stepup_decision_method(d, 1), STEPUP_CUSTOMER_SERVICE);
	assert_int_equal(stepup_decision_fired_count(d), 2);
	stepup_outcome o = STEPUP_GREEN;
	assert_string_equal(stepup_decision_fired_rule(d, 0, &o), "only_a");
	assert_int_equal(o, STEPUP_YELLOW);
	assert_string_equal(stepup_decision_fired_rule(d, 1, NULL), "only_b");
	assert_null(stepup_decision_fired_rule(d, 2, NULL));
	size_t len = 0;
	const char *out = stepup_decision_json(e, rq, d, &len);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	json_t *j = th_json(out);
	assert_string_equal(jstr(j, "decision_id"), stepup_decision_id(d));
	assert_string_equal(jstr(j, "request_id"), "acc-1");
	json_t *m = json_object_get(j, "idv_methods");
	assert_string_equal(jstr(json_array_get(m, 0), "value"), "ja******@example.com");
	json_decref(j);

	/* Reusing the decision for a GREEN request resets everything. */
	const char *g = "{\"request_id\":\"acc-2\",\"card\":{\"state\":\"ACTIVE\"}}";
	assert_int_equal(stepup_request_parse(rq, e, g, strlen(g), err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_decide(e, rq, d, 0), STEPUP_OK);
	assert_int_equal(stepup_decision_outcome(d), STEPUP_GREEN);
	assert_int_equal(stepup_decision_method_count(d), 0);
	assert_int_equal(stepup_decision_fired_count(d), 0);
	out = stepup_decision_json(e, rq, d, &len);
	j = th_json(out);
	assert_string_equal(jstr(j, "request_id"), "acc-2");
	assert_int_equal(json_array_size(json_object_get(j, "idv_methods")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "reasons")), 0);
	json_decref(j);

	/* A request whose last parse failed cannot be decided on stale data. */
	const char *bad = "{\"request_id\":\"acc-3\",\"card\":{\"state\":\"NOPE\"}}";
	assert_int_equal(stepup_request_parse(rq, e, bad, strlen(bad), err, sizeof(err)), STEPUP_EBADREQ);
	assert_int_not_equal(stepup_decide(e, rq, d, 0), STEPUP_OK);
	assert_string_equal(stepup_request_id(rq), "");
	/* A fresh, never-parsed request neither. */
	stepup_request *fresh = stepup_request_new();
	assert_int_equal(stepup_decide(e, fresh, d, 0), STEPUP_EINVAL);
	stepup_request_free(fresh);

	stepup_request_free(rq);
	stepup_decision_free(d);
}

/* ---- decision ids ------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void decision_ids_unique(void **state)
{
	enum { N = 10000 };
	stepup_engine *e = *state;
	stepup_request *rq = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	char (*ids)[24] = calloc(N, sizeof(*ids));
	char err[128];
	regex_t rx;
	assert_non_null(ids);
	assert_int_equal(regcomp(&rx, "^dcs_[0-9A-Z]{16}$", REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(stepup_request_parse(rq, e, th_base_request, strlen(th_base_request), err, sizeof(err)),
	                 STEPUP_OK);
	for (int i = 0; i < N; i++) {
		assert_int_equal(stepup_decide(e, rq, d, 0), STEPUP_OK);
		const char *id = stepup_decision_id(d);
		if (regexec(&rx, id, 0, NULL, 0) != 0)
			fail_msg("bad decision id %s", id);
		if (stepup_card_number_find(id, strlen(id), NULL, NULL))
			fail_msg("decision id %s holds a card number", id);
		snprintf(ids[i], sizeof(ids[i]), "%s", id);
	}
	qsort(ids, N, sizeof(ids[0]), cmp_id);
	for (int i = 1; i < N; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			fail_msg("duplicate decision id %s", ids[i]);
	regfree(&rx);
	free(ids);
	stepup_request_free(rq);
	stepup_decision_free(d);
}

/* The 80-bit number whose 16 Crockford base32 characters are `chars`:
 * its top 48 bits as milliseconds, its low 32 as the random part. */
static void id_bits(const char *chars, uint64_t *ms, uint32_t *rnd)
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint64_t hi = 0, lo = 0;  /* 48 + 32 bits */
	for (int i = 0; i < 16; i++) {
		uint64_t v = (uint64_t)(strchr(b32, chars[i]) - b32);
		/* shift the 80-bit (hi:lo) left by 5, add v */
		hi = (hi << 5 | lo >> 27) & 0xffffffffffffULL;
		lo = (lo << 5 | v) & 0xffffffffULL;
	}
	*ms = hi;
	*rnd = (uint32_t)lo;
}

typedef struct draws {
	const uint32_t *v;
	unsigned n, at;
} draws;

static uint32_t next_draw(void *ctx)
{
	draws *d = ctx;
	uint32_t v = d->v[d->at < d->n ? d->at : d->n - 1];
	d->at++;
	return v;
}

static uint32_t xorshift32(void *ctx)
{
	uint64_t *s = ctx;
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)*s;
}

/* Issue 9: a decision id never holds a card number (docs/pci.md). An id
 * whose bits spell one is drawn again; a generator stuck on such bits
 * still gets a clean id; and a million ids over a year of milliseconds
 * are all clean. */
static void decision_ids_never_hold_card_numbers(void **state)
{
	(void)state;
	char id[24];
	uint64_t ms;
	uint32_t bad, good;

	id_bits("4111111111111111", &ms, &bad);
	assert_int_equal(su_decision_id_encode(ms, bad, id), -1);
	assert_string_equal(id, "dcs_4111111111111111");
	/* Same milliseconds, other random bits: the first clean draw wins. */
	uint64_t ms2;
	id_bits("4111111111100000", &ms2, &good);
	assert_true(ms2 == ms);
	assert_int_equal(su_decision_id_encode(ms, good, id), 0);
	uint32_t seq[] = { bad, bad, good };
	draws d = { seq, 3, 0 };
	su_decision_id_make(ms, next_draw, &d, id);
	assert_string_equal(id, "dcs_4111111111100000");
	assert_int_equal(d.at, 3);
	/* A generator that only ever gives the bad bits. */
	draws stuck = { &bad, 1, 0 };
	su_decision_id_make(ms, next_draw, &stuck, id);
	assert_false(stepup_card_number_find(id, strlen(id), NULL, NULL));
	assert_int_equal(strncmp(id, "dcs_41111111111", 15), 0);
	assert_string_equal(id + 15, "AAAAA");
	/* Other networks' numbers too (Mastercard, Discover, Amex after a
	 * letter). */
	static const char *const numbers[] = { "5555555555554444", "6011111111111117", "Z378282246310005" };
	for (size_t i = 0; i < TH_N(numbers); i++) {
		id_bits(numbers[i], &ms, &bad);
		assert_int_equal(su_decision_id_encode(ms, bad, id), -1);
		stuck = (draws){ &bad, 1, 0 };
		su_decision_id_make(ms, next_draw, &stuck, id);
		assert_false(stepup_card_number_find(id, strlen(id), NULL, NULL));
	}
	/* Many ids: a year of milliseconds in steps, random bits from a
	 * seeded generator. */
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	unsigned n = th_under_valgrind() ? 20000 : 1000000;
	for (unsigned i = 0; i < n; i++) {
		uint64_t t = 1733529600000ULL + (uint64_t)i * 31536000000ULL / n;
		su_decision_id_make(t, xorshift32, &seed, id);
		if (stepup_card_number_find(id, strlen(id), NULL, NULL))
			fail_msg("decision id %s holds a card number", id);
	}
}

/* ---- threads ------------------------------------------------------------ */

static const char *const mt_patches[] = {
	"{}",
	"{\"wallet\":{\"device_score\":1,\"account_score\":2}}",
	"{\"wallet\":{\"account_score\":2}}",
	"{\"card\":{\"capture_method\":\"MANUAL\"}}",
	"{\"card\":{\"capture_method\":\"CAMERA\"}}",
	"{\"card\":{\"capture_method\":\"CAMERA\"},\"end_user\":{\"app_enrolled\":false}}",
	"{\"wallet\":{\"device_suspicious\":true}}",
	"{\"wallet\":{\"reason_codes\":[\"HIGH_RISK\",\"NEW_CODE\"]}}",
	"{\"token_requestor\":{\"name\":\"GOOGLE_PAY\"}}",
	"{\"channel\":\"ECOM_MERCHANT\",\"wallet\":{\"account_score\":2}}",
	"{\"end_user\":{\"otp_exhausted\":true},\"card\":{\"capture_method\":\"MANUAL\"}}",
	"{\"end_user\":{\"email\":null},\"wallet\":{\"account_score\":2}}",
	"{\"card\":{\"capture_method\":\"UNKNOWN\"},\"wallet\":{\"device_suspicious\":true}}",
	"{\"card\":{\"state\":\"BOGUS\"}}", /* a bad request, also in the mix */
};
#define MT_N (sizeof(mt_patches) / sizeof(mt_patches[0]))
#define MT_THREADS 4

typedef struct mt_case {
	char *req;
	int rc;
	char *body; /* response without decision_id */
} mt_case;

static mt_case mt_cases[MT_N];
static const stepup_engine *mt_engine;

/* Remove the "decision_id":"..." member so responses compare. */
static char *strip_id(const char *json, size_t len)
{
	char *s = strndup(json, len);
	char *p = strstr(s, "\"decision_id\":\"");
	if (p) {
		char *q = strchr(p + 15, '"');
		if (q)
			memmove(p, q + 1, strlen(q + 1) + 1);
	}
	return s;
}

typedef struct mt_arg {
	int iters;
	int mismatches;
	int first_bad;
	char (*ids)[24];
} mt_arg;

static void *mt_worker(void *p)
{
	mt_arg *a = p;
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	for (int i = 0; i < a->iters; i++) {
		const mt_case *c = &mt_cases[i % MT_N];
		const char *out = NULL;
		size_t len = 0;
		int rc = stepup_decide_json(mt_engine, r, d, c->req, strlen(c->req), 0, &out, &len);
		char *body = out ? strip_id(out, len) : NULL;
		if (rc != c->rc || !body || strcmp(body, c->body) != 0) {
			if (!a->mismatches)
				a->first_bad = i;
			a->mismatches++;
		}
		if (a->ids) {
			if (rc == STEPUP_OK)
				snprintf(a->ids[i], sizeof(a->ids[i]), "%s", stepup_decision_id(d));
			else
				snprintf(a->ids[i], sizeof(a->ids[i]), "err-%d-%p", i, (void *)a);
		}
		free(body);
	}
	stepup_request_free(r);
	stepup_decision_free(d);
	return NULL;
}

static void threads_share_one_engine(void **state)
{
	/* Under valgrind everything is ~50x slower; scale the count down there so
	 * the binary still runs in reasonable time (natively the full count runs). */
	int iters = th_under_valgrind() ? 2500 : 20000;
	stepup_engine *e = *state;
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	mt_engine = e;

	/* Single-threaded reference answers. */
	for (size_t i = 0; i < MT_N; i++) {
		const char *out = NULL;
		size_t len = 0;
		mt_cases[i].req = th_patched(mt_patches[i]);
		mt_cases[i].rc = stepup_decide_json(e, r, d, mt_cases[i].req, strlen(mt_cases[i].req), 0, &out, &len);
		assert_non_null(out);
		mt_cases[i].body = strip_id(out, len);
	}
	/* The mix really covers every outcome and the error path. */
	assert_int_equal(mt_cases[MT_N - 1].rc, STEPUP_EBADREQ);
	assert_non_null(strstr(mt_cases[0].body, "\"GREEN\""));
	assert_non_null(strstr(mt_cases[1].body, "\"RED\""));
	assert_non_null(strstr(mt_cases[2].body, "\"YELLOW\""));

	pthread_t th[MT_THREADS];
	mt_arg args[MT_THREADS];
	char (*ids)[24] = calloc((size_t)iters * MT_THREADS, 24);
	assert_non_null(ids);
	for (int t = 0; t < MT_THREADS; t++) {
		args[t] = (mt_arg){ .iters = iters, .ids = ids + (size_t)t * iters };
		assert_int_equal(pthread_create(&th[t], NULL, mt_worker, &args[t]), 0);
	}
	for (int t = 0; t < MT_THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < MT_THREADS; t++)
		if (args[t].mismatches)
			fail_msg("thread %d: %d answers differ from single-threaded (first at %d)", t, args[t].mismatches,
			         args[t].first_bad);
	/* Decision ids unique across threads too. */
	size_t total = (size_t)iters * MT_THREADS;
	qsort(ids, total, 24, cmp_id);
	for (size_t i = 1; i < total; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			fail_msg("duplicate decision id across threads: %s", ids[i]);
	free(ids);
	for (size_t i = 0; i < MT_N; i++) {
		free(mt_cases[i].req);
		free(mt_cases[i].body);
	}
	stepup_request_free(r);
	stepup_decision_free(d);
}

/* ---- explain ------------------------------------------------------------ */

static void explain_lists_every_rule(void **state)
{
	stepup_engine *e = *state;
	stepup_request *rq = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	char err[128];
	char *req = th_patched("{\"card\":{\"capture_method\":\"MANUAL\"},\"wallet\":{\"device_score\":1}}");
	assert_int_equal(stepup_request_parse(rq, e, req, strlen(req), err, sizeof(err)), STEPUP_OK);
	assert_int_equal(stepup_decide(e, rq, d, STEPUP_DECIDE_EXPLAIN), STEPUP_OK);
	const char *out = stepup_decision_json(e, rq, d, NULL);
	assert_non_null(out);
	json_t *j = th_json(out);
	json_t *ex = json_object_get(j, "explain");
	if (!json_is_object(ex))
		fail_msg("no explain object: %s", out);
	json_t *rules = json_object_get(ex, "rules");
	size_t nrules = stepup_ruleset_rule_count(stepup_engine_ruleset(e));
	assert_int_equal(nrules, 9);
	assert_int_equal(json_array_size(rules), nrules);
	static const char *const names[] = { "red_score", "yellow_all", "only_a", "only_b", "only_c",
		                             "fraud", "fraud_cs", "green_ok", "only_cs" };
	static const int fired[] = { 1, 0, 1, 1, 0, 0, 0, 0, 0 };
	for (size_t i = 0; i < 9; i++) {
		json_t *x = json_array_get(rules, i);
		assert_string_equal(jstr(x, "rule"), names[i]);
		json_t *f = json_object_get(x, "fired");
		if (!json_is_boolean(f))
			fail_msg("rule %s: fired is not a boolean", names[i]);
		if (json_is_true(f) != fired[i])
			fail_msg("rule %s: explain says fired=%d, expected %d", names[i], json_is_true(f), fired[i]);
		json_t *db = json_object_get(x, "decided_by");
		if (!json_is_string(db) || !json_string_value(db)[0])
			fail_msg("rule %s: no decided_by", names[i]);
	}
	/* decided_by quotes the rule source. */
	assert_string_equal(jstr(json_array_get(rules, 0), "decided_by"), "wallet.device_score == 1");
	assert_string_equal(jstr(json_array_get(rules, 2), "decided_by"), "card.capture_method == MANUAL");
	/* The non-explain part is unchanged. */
	assert_string_equal(jstr(j, "decision"), "RED");
	assert_int_equal(json_array_size(json_object_get(j, "reasons")), 3);
	json_decref(j);

	/* Without the flag, on the same decision object: no explain. */
	assert_int_equal(stepup_decide(e, rq, d, 0), STEPUP_OK);
	out = stepup_decision_json(e, rq, d, NULL);
	j = th_json(out);
	assert_null(json_object_get(j, "explain"));
	json_decref(j);

	/* Through stepup_decide_json as well. */
	size_t len;
	assert_int_equal(stepup_decide_json(e, rq, d, req, strlen(req), STEPUP_DECIDE_EXPLAIN, &out, &len), STEPUP_OK);
	j = th_json(out);
	assert_true(json_is_object(json_object_get(j, "explain")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(j, "explain"), "rules")), nrules);
	json_decref(j);

	free(req);
	stepup_request_free(rq);
	stepup_decision_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RULES_TEST(no_rule_fired_is_green),
		RULES_TEST(red_wins_over_yellow),
		RULES_TEST(approve_is_green_and_reported),
		RULES_TEST(step_up_without_only_offers_all_declared),
		RULES_TEST(only_sets_intersect_in_declaration_order),
		cmocka_unit_test(undeclared_methods_never_offered),
		cmocka_unit_test(method_availability_conditions),
		cmocka_unit_test(methods_need_data),
		RULES_TEST(otp_exhausted_drops_otps),
		RULES_TEST(empty_intersection_falls_back_to_customer_service),
		cmocka_unit_test(no_customer_service_number_makes_red),
		cmocka_unit_test(decision_ids_never_hold_card_numbers),
		RULES_TEST(fraud_line_when_any_rule_asks),
		cmocka_unit_test(fraud_line_falls_back_to_standard),
		RULES_TEST(merchant_becomes_decline),
		cmocka_unit_test(merchant_without_policy_fails_closed),
		RULES_TEST(reasons_carry_file_and_line),
		RULES_TEST(response_shape),
		RULES_TEST(request_id_echoed_escaped),
		RULES_TEST(decision_json_matches_accessors),
		RULES_TEST(decision_ids_unique),
		RULES_TEST(threads_share_one_engine),
		RULES_TEST(explain_lists_every_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
