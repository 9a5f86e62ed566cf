/* test_check.c: the semantic pass (dsl/check.c) and what the checked,
 * compiled conditions mean when evaluated (engine/eval.c).
 *
 *   - data-driven cases under tests/dsl/check (format: tests/dsl/README.md):
 *     every semantic error class with its exact line:col and message;
 *   - multi-file checks, warnings, limits;
 *   - evaluation semantics through th_engine + th_decide_patched: Kleene
 *     logic, absent fields, typed comparisons, sets, reason codes, calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsl_cases.h"
#include "helpers.h"

/* ---- data-driven cases (tests/dsl/check) --------------------------------- */

#define CHECK_DSL_FILES(X)                  \
	X("check/names.rules")              \
	X("check/types.rules")              \
	X("check/decls.rules")              \
	X("check/never-fire.rules")         \
	X("check/reasons.rules")            \
	X("check/three-mistakes.rules")     \
	X("check/doc-example.rules")        \
	X("check/warnings.rules")           \
	X("check/lets.rules")               \
	X("check/toplevel.rules")           \
	X("check/toplevel-errors.rules")    \
	X("lint/duplicates.rules")          \
	X("lint/subsumed.rules")            \
	X("lint/masked.rules")              \
	X("lint/methods.rules")             \
	X("lint/no-stepup.rules")           \
	X("lint/clean.rules")

static const char *const dsl_dirs[] = { "check", "lint" };
static const char *const dsl_listed[] = { CHECK_DSL_FILES(DC_LISTED) };
static DC_SUITE(dsl_suite, "test_check.c", dsl_dirs, dsl_listed);

/* ---- targeted semantic checks ------------------------------------------- */

/* Three different rules with one mistake each: exactly three errors, each
 * where the mistake is, nothing else (no cascade, no note). */
static void three_independent_semantic_errors(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src(
		"method OTP_SMS always\n"
		"rule a when card.state == ACTIV then decline\n"
		"rule b when card.active_tokens == \"3\" then decline\n"
		"rule c when card.active_tokens > 3 then step_up only OTP_EMAIL\n"
		"rule d when card.state == CLOSED then decline\n");
	dc_expect_errors(&k, 3);
	dc_expect_diag(&k, 0, STEPUP_DIAG_ERROR, "t.rules", 2, 27, "unknown card state 'ACTIV'; did you mean 'ACTIVE'?");
	dc_expect_diag(&k, 1, STEPUP_DIAG_ERROR, "t.rules", 3, 13, "cannot compare an integer with a string");
	dc_expect_diag(&k, 2, STEPUP_DIAG_ERROR, "t.rules", 4, 54, "undefined method 'OTP_EMAIL'");
	dc_free(&k);
}

/* Both sides of and/or are checked; within one comparison, the first
 * problem stops it. */
static void both_sides_of_and_or_are_checked(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src("rule a when card.stat == ACTIVE or card.capture_method == SCAN and x.y then decline\n");
	assert_int_equal(stepup_compiler_error_count(k.c), 3);
	dc_expect_diag(&k, 0, STEPUP_DIAG_ERROR, "t.rules", 1, 13, "unknown field 'card.stat'");
	dc_expect_diag(&k, 1, STEPUP_DIAG_ERROR, "t.rules", 1, 59, "unknown capture method 'SCAN'");
	dc_expect_diag(&k, 2, STEPUP_DIAG_ERROR, "t.rules", 1, 68, "unknown field 'x.y'");
	dc_free(&k);

	k = dc_compile_src("rule a when card.stat == ACTIV then decline\n");
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	dc_expect_diag(&k, 0, STEPUP_DIAG_ERROR, "t.rules", 1, 13, "unknown field 'card.stat'");
	dc_free(&k);
}

static void unknown_field_suggestions(void **state)
{
	(void)state;
	static const struct { const char *typo, *want; } cases[] = {
		{ "card.stat", "card.state" },
		{ "wallet.device_scor", "wallet.device_score" },
		{ "end_user.phon", "end_user.phone" },
		{ "wallet.reasoncodes", "wallet.reason_codes" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char src[256], want[200];
		snprintf(src, sizeof(src), "rule a when %s is present then decline\n", cases[i].typo);
		snprintf(want, sizeof(want), "unknown field '%s'; did you mean '%s'?", cases[i].typo, cases[i].want);
		dc_comp k = dc_compile_src(src);
		assert_int_equal(stepup_compiler_error_count(k.c), 1);
		dc_expect_diag(&k, 0, STEPUP_DIAG_ERROR, "t.rules", 1, 13, want);
		assert_int_equal(stepup_compiler_diag(k.c, 0)->end_col, 12 + strlen(cases[i].typo));
		dc_free(&k);
	}
}

static void duplicate_rule_across_files(void **state)
{
	(void)state;
	const char *pairs[] = {
		"rules/a.rules", "rule shared when card.state == CLOSED then decline\n",
		"rules/b.rules", "\nrule other when card.state == INACTIVE then decline\nrule shared when card.state == SUSPENDED then decline\n",
		NULL,
	};
	dc_comp k = dc_compile_files(pairs);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	assert_int_equal(stepup_compiler_diag_count(k.c), 2);
	dc_expect_diag(&k, 0, STEPUP_DIAG_ERROR, "rules/b.rules", 3, 6, "duplicate rule 'shared'");
	dc_expect_diag(&k, 1, STEPUP_DIAG_NOTE, "rules/a.rules", 1, 6, "first defined here");
	char *r = dc_render(k.c, 1);
	assert_string_equal(r, "rules/a.rules:1:6: note: first defined here\n"
	                       "  rule shared when card.state == CLOSED then decline\n"
	                       "       ^~~~~~\n");
	free(r);
	dc_free(&k);
}

static void ruleset_name_and_constants_across_files(void **state)
{
	(void)state;
	const char *pairs[] = {
		"a.rules", "ruleset \"issuer-default\"\nlet MAX = 3\nrule r when card.active_tokens > LIMIT then decline\n",
		"b.rules", "ruleset \"other\"\nlet LIMIT = 5\nlet MAX = 4\n",
		NULL,
	};
	dc_comp k = dc_compile_files(pairs);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	/* Constants are global: LIMIT from b.rules is found from a.rules. */
	assert_int_equal(stepup_compiler_error_count(k.c), 2);
	dc_expect_diag(&k, 0, STEPUP_DIAG_ERROR, "b.rules", 1, 9, "ruleset is named 'other' here but 'issuer-default' elsewhere");
	dc_expect_diag(&k, 1, STEPUP_DIAG_NOTE, "a.rules", 1, 9, "first named here");
	dc_expect_diag(&k, 2, STEPUP_DIAG_ERROR, "b.rules", 3, 5, "constant 'MAX' is defined twice");
	dc_expect_diag(&k, 3, STEPUP_DIAG_NOTE, "a.rules", 2, 5, "first defined here");
	dc_free(&k);

	/* The same name in every file is fine; methods keep file order. */
	const char *ok[] = {
		"a.rules", "ruleset \"same\"\nmethod OTP_EMAIL always\nrule r when card.active_tokens > LIMIT then step_up\n",
		"b.rules", "ruleset \"same\"\nmethod OTP_SMS always\nlet LIMIT = 5\n",
		NULL,
	};
	k = dc_compile_files(ok);
	assert_int_equal(k.rc, STEPUP_OK);
	assert_string_equal(stepup_ruleset_name(k.rs), "same");
	stepup_engine *e = NULL;
	char err[256];
	assert_int_equal(stepup_engine_new(k.rs, th_settings_full, &e, err, sizeof(err)), STEPUP_OK);
	th_result r = th_decide_patched(e, "{\"card\":{\"active_tokens\":6}}");
	assert_int_equal(r.outcome, STEPUP_YELLOW);
	assert_int_equal(r.nmethods, 2);
	assert_int_equal(r.methods[0], STEPUP_OTP_EMAIL);
	assert_int_equal(r.methods[1], STEPUP_OTP_SMS);
	th_result_free(&r);
	stepup_engine_free(e);
	dc_free(&k);
}

static void undefined_method_declared_vs_unknown(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src(
		"method OTP_SMS always\n"
		"rule a when card.state == CLOSED then step_up only OTP_SMS, OTP_EMAIL, SMOKE_SIGNAL\n");
	assert_int_equal(stepup_compiler_error_count(k.c), 2);
	dc_expect_diag(&k, 0, STEPUP_DIAG_ERROR, "t.rules", 2, 61,
	               "undefined method 'OTP_EMAIL': declare it with 'method OTP_EMAIL ...'");
	dc_expect_diag(&k, 1, STEPUP_DIAG_ERROR, "t.rules", 2, 72,
	               "unknown ID&V method 'SMOKE_SIGNAL' (expected IN_APP, OTP_SMS, OTP_EMAIL or CUSTOMER_SERVICE)");
	dc_free(&k);

	/* A method declared in another file counts. */
	const char *pairs[] = {
		"a.rules", "rule a when card.state == CLOSED then step_up only OTP_EMAIL\n",
		"b.rules", "method OTP_EMAIL always\n",
		NULL,
	};
	k = dc_compile_files(pairs);
	assert_int_equal(k.rc, STEPUP_OK);
	dc_free(&k);
}

static void warnings_do_not_fail(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src("let UNUSED = 3\nlet USED = {MANUAL}\n"
	                           "rule a when card.capture_method in USED then decline\n");
	assert_int_equal(k.rc, STEPUP_OK);
	assert_non_null(k.rs);
	assert_int_equal(stepup_compiler_error_count(k.c), 0);
	assert_int_equal(stepup_compiler_diag_count(k.c), 1);
	dc_expect_diag(&k, 0, STEPUP_DIAG_WARNING, "t.rules", 1, 5, "constant 'UNUSED' is never used");
	char *r = dc_render(k.c, 0);
	assert_non_null(strstr(r, "t.rules:1:5: warning: constant 'UNUSED' is never used\n"));
	free(r);
	dc_free(&k);

	/* stepup_ruleset_load of a file with only warnings succeeds. */
	stepup_ruleset *rs = NULL;
	char err[512] = "";
	int rc = stepup_ruleset_load(SRCDIR "/tests/dsl/check/warnings.rules", &rs, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("%s", err);
	assert_string_equal(stepup_ruleset_name(rs), "warnings-only");
	stepup_ruleset_unref(rs);

	/* And a file with errors gives the first one, located, in err. */
	rc = stepup_ruleset_load(SRCDIR "/tests/dsl/check/three-mistakes.rules", &rs, err, sizeof(err));
	assert_int_equal(rc, STEPUP_ECOMPILE);
	assert_null(rs);
	assert_non_null(strstr(err, "three-mistakes.rules:8:8: error: unknown field 'card.stat'"));
	assert_non_null(strstr(err, "3 errors"));
}

static void reason_code_limit(void **state)
{
	(void)state;
	/* A list field's mask has a bit for each value the rules name (known
	 * or quoted, not the ones they do not name): 64 fit, 65 do not. */
	for (int extra = 64; extra <= 65; extra++) {
		char src[8192];
		size_t len = (size_t)snprintf(src, sizeof(src), "rule a when wallet.reason_codes has any of {");
		for (int i = 0; i < extra; i++)
			len += (size_t)snprintf(src + len, sizeof(src) - len, "%s\"NEW_%02d\"", i ? ", " : "", i);
		snprintf(src + len, sizeof(src) - len, "} then decline\n");
		dc_comp k = dc_compile_src(src);
		if (extra == 64) {
			assert_int_equal(k.rc, STEPUP_OK);
		} else {
			assert_int_equal(k.rc, STEPUP_ECOMPILE);
			assert_int_equal(stepup_compiler_error_count(k.c), 1);
			assert_non_null(strstr(stepup_compiler_diag(k.c, 0)->message,
			                       "too many distinct reason codes in wallet.reason_codes (the rules may name at most 64)"));
			assert_int_equal(stepup_compiler_diag(k.c, 0)->col, 45 + 10 * 64);
		}
		dc_free(&k);
	}
}

/* ---- evaluation semantics ------------------------------------------------ */

/* The decision of base+patch (r) succeeded, fired every rule in yes and
 * none in no. */
static void expect_fired(const th_result *r, const char *patch, const char *const *yes, size_t ny,
                         const char *const *no, size_t nn)
{
	if (r->rc != STEPUP_OK)
		fail_msg("patch %s: decide failed: %s", patch, r->json);
	for (size_t i = 0; i < ny; i++)
		if (!th_fired(r, yes[i]))
			fail_msg("patch %s: rule '%s' should fire: %s", patch, yes[i], r->json);
	for (size_t i = 0; i < nn; i++)
		if (th_fired(r, no[i]))
			fail_msg("patch %s: rule '%s' should not fire: %s", patch, no[i], r->json);
}

/* Decide base+patch on e and expect_fired on it. */
static void expect_fired_on(const stepup_engine *e, const char *patch, const char *const *yes, size_t ny,
                            const char *const *no, size_t nn)
{
	th_result r = th_decide_patched(e, patch);
	expect_fired(&r, patch, yes, ny, no, nn);
	th_result_free(&r);
}


/* Kleene logic: absent is neither true nor false. `not X` fires exactly
 * when X is FALSE, which makes FALSE and ABSENT distinguishable. The base
 * request has card.state ACTIVE; the patch removes wallet.device_score. */
static void kleene_logic(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		"rule absent_and_false when not (wallet.device_score == 3 and card.state == CLOSED) then approve\n"
		"rule false_and_absent when not (card.state == CLOSED and wallet.device_score == 3) then approve\n"
		"rule absent_and_true when not (wallet.device_score == 3 and card.state == ACTIVE) then approve\n"
		"rule absent_and_true2 when wallet.device_score == 3 and card.state == ACTIVE then approve\n"
		"rule absent_or_true when wallet.device_score == 3 or card.state == ACTIVE then approve\n"
		"rule true_or_absent when card.state == ACTIVE or wallet.device_score == 3 then approve\n"
		"rule absent_or_false when not (wallet.device_score == 3 or card.state == CLOSED) then approve\n"
		"rule absent_or_false2 when wallet.device_score == 3 or card.state == CLOSED then approve\n"
		"rule not_absent when not (wallet.device_score == 3) then approve\n"
		"rule not_not_absent when not not (wallet.device_score == 3) then approve\n"
		"rule is_absent when wallet.device_score is absent then approve\n"
		"rule is_present when wallet.device_score is present then approve\n"
		"rule not_is_present when not (wallet.device_score is present) then approve\n"
		"rule ne_absent when wallet.device_score != 3 then approve\n"
		"rule eq_absent when wallet.device_score == 3 then approve\n"
		"rule bool_absent when not end_user.app_enrolled then approve\n"
		"rule bool_absent2 when end_user.app_enrolled then approve\n"
		"rule enum_ne_absent when card.capture_method != MANUAL then approve\n"
		"rule enum_not_in_absent when card.capture_method not in {MANUAL} then approve\n"
		"rule str_ne_absent when end_user.language != \"fr\" then approve\n"
		"rule str_not_in_absent when end_user.language not in {\"fr\"} then approve\n"
		"rule has_absent when not (wallet.reason_codes has HIGH_RISK) then approve\n"
		"rule has_all_absent when wallet.reason_codes has all of {} then approve\n"
		"rule call_absent when not ends_with(end_user.email, \"x\") then approve\n"
		"rule call_absent_is when length(end_user.email) is absent then approve\n"
		"rule fields_ne_absent when card.pan_suffix != wallet.phone_suffix then approve\n",
		th_settings_full);
	static const char *const absent = "{\"wallet\":{\"device_score\":null,\"reason_codes\":null},"
	                                  "\"end_user\":{\"app_enrolled\":null,\"language\":null,\"email\":null},"
	                                  "\"card\":{\"capture_method\":null}}";
	th_result r = th_decide_patched(e, absent);
	static const char *const yes[] = {
		"absent_and_false", "false_and_absent", "absent_or_true", "true_or_absent",
		"is_absent", "not_is_present", "call_absent_is",
	};
	static const char *const no[] = {
		"absent_and_true", "absent_and_true2", "absent_or_false", "absent_or_false2",
		"not_absent", "not_not_absent", "is_present", "ne_absent", "eq_absent",
		"bool_absent", "bool_absent2", "enum_ne_absent", "enum_not_in_absent",
		"str_ne_absent", "str_not_in_absent", "has_absent", "has_all_absent",
		"call_absent", "fields_ne_absent",
	};
	expect_fired(&r, absent, yes, TH_N(yes), no, TH_N(no));
	assert_int_equal(r.nfired, TH_N(yes));
	assert_int_equal(r.outcome, STEPUP_GREEN);
	th_result_free(&r);

	/* With every field present the same rules give two-valued answers. */
	static const char *const yes2[] = {
		"absent_and_false", "false_and_absent", "absent_and_true", "absent_or_true", "true_or_absent",
		"absent_or_false", "not_absent", "is_present", "ne_absent", "enum_ne_absent",
		"enum_not_in_absent", "str_ne_absent", "str_not_in_absent", "has_absent", "has_all_absent",
		"call_absent", "fields_ne_absent", "bool_absent2",
	};
	static const char *const no2[] = {
		"absent_and_true2", "absent_or_false2", "not_not_absent", "is_absent", "not_is_present",
		"eq_absent", "bool_absent", "call_absent_is",
	};
	expect_fired_on(e, "{\"card\":{\"pan_suffix\":\"9999\"}}", yes2, TH_N(yes2), no2, TH_N(no2));
	stepup_engine_free(e);
}

/* A whole missing object: every field under it is absent. */
static void absent_object(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		"rule unknown when card.state is absent then decline\n"
		"rule not_active when card.state != ACTIVE then decline\n"
		"rule tokens when card.active_tokens >= 0 then decline\n",
		th_settings_full);
	TH_EXPECT(e, "{\"card\":null}", STEPUP_RED, "unknown", "");
	stepup_engine_free(e);
}

static void typed_comparisons(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		/* strings: exact, case-sensitive */
		"rule s_eq when end_user.language == \"en-US\" then approve\n"
		"rule s_case when end_user.language == \"en-us\" then approve\n"
		"rule s_ne when wallet.device_country != \"FR\" then approve\n"
		"rule s_ne_same when wallet.device_country != \"US\" then approve\n"
		"rule s_prefix when end_user.language == \"en\" then approve\n"
		"rule s_flip when \"APPLE_PAY\" == token_requestor.name then approve\n"
		"rule s_in when wallet.device_country in {\"CA\", \"US\"} then approve\n"
		"rule s_not_in when wallet.device_country not in {\"CA\", \"US\"} then approve\n"
		/* ints */
		"rule i_eq when card.csc_failures_24h == 0 then approve\n"
		"rule i_range when wallet.device_score >= 5 and wallet.device_score <= 5 then approve\n"
		"rule i_in when card.active_tokens in {0, 1, 2} then approve\n"
		"rule i_not_in when card.active_tokens not in {0, 2} then approve\n"
		"rule i_in_miss when card.active_tokens in {5, 6} then approve\n"
		/* enums */
		"rule e_eq when card.state == ACTIVE then approve\n"
		"rule e_flip when BANK_APP == card.capture_method then approve\n"
		"rule e_ne when card.csc_result != MATCH then approve\n"
		"rule e_in when card.capture_method in {BANK_APP, ON_FILE} then approve\n"
		"rule e_not_in when wallet.recommended_decision not in {DECLINED} then approve\n"
		/* bools */
		"rule b_plain when end_user.app_enrolled then approve\n"
		"rule b_eq_true when end_user.app_enrolled == true then approve\n"
		"rule b_eq_false when end_user.otp_exhausted == false then approve\n"
		"rule b_ne_true when end_user.otp_exhausted != true then approve\n"
		"rule b_ne_false when end_user.app_enrolled != false then approve\n"
		"rule b_wrong when end_user.otp_exhausted == true then approve\n"
		"rule b_flip when false == end_user.app_enrolled then approve\n",
		th_settings_full);
	th_result r = th_decide_patched(e, "{}");
	static const char *const yes[] = {
		"s_eq", "s_ne", "s_flip", "s_in", "i_eq", "i_range", "i_in", "i_not_in", "e_eq", "e_flip",
		"e_in", "e_not_in", "b_plain", "b_eq_true", "b_eq_false", "b_ne_true", "b_ne_false",
	};
	static const char *const no[] = {
		"s_case", "s_ne_same", "s_prefix", "s_not_in", "i_in_miss", "e_ne", "b_wrong", "b_flip",
	};
	expect_fired(&r, "{}", yes, TH_N(yes), no, TH_N(no));
	assert_int_equal(r.nfired, TH_N(yes));
	th_result_free(&r);

	static const char *const yes2[] = { "e_ne", "b_wrong", "b_flip", "i_in", "s_not_in" };
	static const char *const no2[] = {
		"e_flip", "e_in", "e_not_in", "b_plain", "b_eq_true", "b_eq_false", "b_ne_true", "b_ne_false",
		"i_not_in", "s_ne", "s_in",
	};
	expect_fired_on(e, "{\"card\":{\"csc_result\":\"INVALID\",\"active_tokens\":2,\"capture_method\":\"CAMERA\"},"
	                "\"end_user\":{\"app_enrolled\":false,\"otp_exhausted\":true},"
	                "\"wallet\":{\"recommended_decision\":\"DECLINED\",\"device_country\":\"FR\"}}",
	                yes2, TH_N(yes2), no2, TH_N(no2));
	stepup_engine_free(e);
}

/* Field against field goes through the generic value instructions. */
static void field_vs_field(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		"rule str_eq when card.pan_suffix == wallet.phone_suffix then approve\n"
		"rule str_ne when card.pan_suffix != wallet.phone_suffix then approve\n"
		"rule int_lt when card.active_tokens < wallet.device_score then approve\n"
		"rule int_eq when wallet.device_score == wallet.account_score then approve\n"
		"rule int_ge when wallet.phone_score >= wallet.account_score then approve\n"
		"rule bool_eq when end_user.app_enrolled == end_user.otp_exhausted then approve\n"
		"rule bool_ne when end_user.app_enrolled != end_user.otp_exhausted then approve\n"
		"rule enum_eq when card.state == card.state then approve\n"
		"rule len_cmp when length(card.pan_suffix) == length(wallet.phone_suffix) then approve\n"
		"rule dec_cmp when 2.5 < wallet.device_score then approve\n",
		th_settings_full);
	static const char *const yes[] = { "str_eq", "int_lt", "int_eq", "bool_ne", "enum_eq", "len_cmp", "dec_cmp" };
	static const char *const no[] = { "str_ne", "int_ge", "bool_eq" };
	expect_fired_on(e, "{\"card\":{\"pan_suffix\":\"1234\"},\"wallet\":{\"phone_score\":4}}",
	                yes, TH_N(yes), no, TH_N(no));

	static const char *const yes2[] = { "str_ne", "int_eq", "int_ge" };
	static const char *const no2[] = { "str_eq", "int_lt", "len_cmp", "dec_cmp" };
	expect_fired_on(e, "{\"card\":{\"pan_suffix\":\"12345\",\"active_tokens\":9},"
	                "\"wallet\":{\"account_score\":2,\"device_score\":2}}",
	                yes2, TH_N(yes2), no2, TH_N(no2));

	/* One side absent: neither == nor != fires. */
	static const char *const no3[] = { "str_eq", "str_ne", "int_eq", "int_ge", "len_cmp" };
	expect_fired_on(e, "{\"wallet\":{\"phone_suffix\":null,\"account_score\":null}}", NULL, 0, no3, TH_N(no3));
	stepup_engine_free(e);
}

static void builtins(void **state)
{
	(void)state;
	/* end_user.phone "+14155551234", wallet.phone_suffix "1234",
	 * end_user.email "jane.doe@example.com". */
	stepup_engine *e = th_engine(
		"rule ew_fields when ends_with(end_user.phone, wallet.phone_suffix) then approve\n"
		"rule ew_lit when ends_with(end_user.phone, \"1234\") then approve\n"
		"rule ew_miss when ends_with(end_user.phone, \"1235\") then approve\n"
		"rule ew_long when ends_with(\"34\", end_user.phone) then approve\n"
		"rule sw when starts_with(end_user.phone, \"+1415\") then approve\n"
		"rule sw_miss when starts_with(end_user.phone, \"1415\") then approve\n"
		"rule sw_longer when starts_with(end_user.phone, \"+141555512345\") then approve\n"
		"rule ct when contains(end_user.email, \"@example.\") then approve\n"
		"rule ct_empty when contains(end_user.email, \"\") then approve\n"
		"rule ct_miss when contains(end_user.email, \"Example\") then approve\n"
		"rule len_eq when length(end_user.phone) == 12 then approve\n"
		"rule len_lt when length(wallet.phone_suffix) < 4 then approve\n"
		"rule len_in when length(end_user.email) in {19, 20, 21} then approve\n"
		"rule len_empty when length(\"\") == 0 then approve\n"
		"rule not_ew when not ends_with(end_user.phone, wallet.phone_suffix) then approve\n"
		"rule call_present when length(end_user.phone) is present then approve\n",
		th_settings_full);
	static const char *const yes[] = {
		"ew_fields", "ew_lit", "sw", "ct", "ct_empty", "len_eq", "len_in", "len_empty", "call_present",
	};
	static const char *const no[] = { "ew_miss", "ew_long", "sw_miss", "sw_longer", "ct_miss", "len_lt", "not_ew" };
	expect_fired_on(e, "{}", yes, TH_N(yes), no, TH_N(no));

	/* Normalised phone, and a mismatching suffix. */
	static const char *const yes2[] = { "ew_lit", "len_eq", "not_ew" };
	static const char *const no2[] = { "ew_fields" };
	expect_fired_on(e, "{\"end_user\":{\"phone\":\"+1 (415) 555-1234\"},\"wallet\":{\"phone_suffix\":\"9876\"}}",
	                yes2, TH_N(yes2), no2, TH_N(no2));

	/* Absent argument: absent result. */
	static const char *const no3[] = { "ew_fields", "ew_lit", "sw", "len_eq", "not_ew", "call_present", "ew_long" };
	expect_fired_on(e, "{\"end_user\":{\"phone\":null}}", NULL, 0, no3, TH_N(no3));
	stepup_engine_free(e);
}

static void reason_codes_semantics(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		"let RISKY = {ACCOUNT_TOO_NEW, HIGH_RISK}\n"
		"rule has_one when wallet.reason_codes has HIGH_RISK then approve\n"
		"rule has_quoted_known when wallet.reason_codes has \"HIGH_RISK\" then approve\n"
		"rule has_new when wallet.reason_codes has \"DEVICE_BOUND_ELSEWHERE\" then approve\n"
		"rule any_of when wallet.reason_codes has any of RISKY then approve\n"
		"rule all_of when wallet.reason_codes has all of {HIGH_RISK, LOW_DEVICE_SCORE} then approve\n"
		"rule all_of_mixed when wallet.reason_codes has all of {HIGH_RISK, \"DEVICE_BOUND_ELSEWHERE\"} then approve\n"
		"rule all_of_miss when wallet.reason_codes has all of {HIGH_RISK, ACCOUNT_TOO_NEW} then approve\n"
		"rule not_has when not (wallet.reason_codes has ACCOUNT_TOO_NEW) then approve\n",
		th_settings_full);
	static const char *const yes[] = {
		"has_one", "has_quoted_known", "has_new", "any_of", "all_of", "all_of_mixed", "not_has",
	};
	static const char *const no[] = { "all_of_miss" };
	expect_fired_on(e, "{\"wallet\":{\"reason_codes\":[\"LOW_DEVICE_SCORE\",\"HIGH_RISK\","
	                "\"DEVICE_BOUND_ELSEWHERE\",\"SOMETHING_NOBODY_NAMED\"]}}",
	                yes, TH_N(yes), no, TH_N(no));

	/* An empty list is present: tests are FALSE, not absent. */
	static const char *const yes2[] = { "not_has" };
	static const char *const no2[] = { "has_one", "has_new", "any_of", "all_of", "all_of_mixed" };
	expect_fired_on(e, "{\"wallet\":{\"reason_codes\":[]}}", yes2, TH_N(yes2), no2, TH_N(no2));

	/* A code only a rule-declared quoted name matches. */
	static const char *const yes3[] = { "has_new", "any_of" };
	static const char *const no3[] = { "has_one", "all_of", "all_of_mixed", "not_has" };
	expect_fired_on(e, "{\"wallet\":{\"reason_codes\":[\"DEVICE_BOUND_ELSEWHERE\",\"ACCOUNT_TOO_NEW\"]}}",
	                yes3, TH_N(yes3), no3, TH_N(no3));
	stepup_engine_free(e);
}

/* tsp, channel and request_id are schema fields (rules/schema/tokenization.rules) and
 * read like any other, in the natural operand order. */
static void toplevel_fields_readable(void **state)
{
	(void)state;
	stepup_ruleset *rs = th_compile("t.rules",
		"rule tsp_mdes when tsp == MDES then approve\n"
		"rule tsp_set when tsp in {VTS, AMEX} then approve\n"
		"rule tsp_present when tsp is present then approve\n"
		"rule ch when channel == XPAY_WALLET then approve\n"
		"rule rid when request_id == \"req-1\" then approve\n"
		"rule rid_prefix when starts_with(request_id, \"req-\") then approve\n", NULL);
	if (!rs) {
		char *diags = NULL;
		stepup_ruleset *again = th_compile("t.rules",
			"rule tsp_mdes when tsp == MDES then approve\n"
			"rule tsp_present when tsp is present then approve\n", &diags);
		stepup_ruleset_unref(again);
		char msg[2048];
		snprintf(msg, sizeof(msg), "top-level fields are not readable:\n%s", diags);
		free(diags);
		fail_msg("%s", msg);
	}
	stepup_engine *e = NULL;
	char err[256];
	assert_int_equal(stepup_engine_new(rs, th_settings_full, &e, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset_unref(rs);
	static const char *const yes[] = { "tsp_mdes", "tsp_present", "ch", "rid", "rid_prefix" };
	static const char *const no[] = { "tsp_set" };
	expect_fired_on(e, "{}", yes, TH_N(yes), no, TH_N(no));
	static const char *const yes2[] = { "tsp_set", "tsp_present" };
	static const char *const no2[] = { "tsp_mdes", "ch", "rid", "rid_prefix" };
	expect_fired_on(e, "{\"tsp\":\"AMEX\",\"channel\":\"ECOM_MERCHANT\",\"request_id\":\"x\"}",
	                yes2, TH_N(yes2), no2, TH_N(no2));
	stepup_engine_free(e);
}

/* The operand order the checker does handle today: value first. */
static void toplevel_fields_value_first(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		"rule tsp_vts when VTS == tsp then approve\n"
		"rule ch when ECOM_MERCHANT == channel then approve\n"
		"rule ch2 when channel != ECOM_MERCHANT then approve\n"
		"rule rid when \"req-1\" == request_id then approve\n",
		th_settings_full);
	static const char *const yes[] = { "tsp_vts", "ch2", "rid" };
	static const char *const no[] = { "ch" };
	expect_fired_on(e, "{\"tsp\":\"VTS\"}", yes, TH_N(yes), no, TH_N(no));
	static const char *const no2[] = { "tsp_vts", "ch", "ch2" };
	expect_fired_on(e, "{\"tsp\":null,\"channel\":null}", NULL, 0, no2, TH_N(no2));
	stepup_engine_free(e);
}

/* Constants are substituted and evaluated where used. */
static void constants_evaluate(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		"let MAX = LIMIT\n"
		"let LIMIT = 3\n"
		"let COUNTRY = \"US\"\n"
		"let PHONE = end_user.phone\n"
		"let CAPS = {MANUAL, CAMERA}\n"
		"let ON = true\n"
		"rule over when card.active_tokens > MAX then approve\n"
		"rule country when wallet.device_country == COUNTRY then approve\n"
		"rule phone when ends_with(PHONE, \"1234\") then approve\n"
		"rule caps when card.capture_method in CAPS then approve\n"
		"rule enrolled when end_user.app_enrolled == ON then approve\n",
		th_settings_full);
	static const char *const yes[] = { "over", "country", "phone", "caps", "enrolled" };
	expect_fired_on(e, "{\"card\":{\"active_tokens\":4,\"capture_method\":\"CAMERA\"}}", yes, TH_N(yes), NULL, 0);
	static const char *const no[] = { "over", "caps" };
	expect_fired_on(e, "{\"card\":{\"active_tokens\":3}}", NULL, 0, no, TH_N(no));
	stepup_engine_free(e);
}

/* A chain of n constants: C0 = C1, C1 = C2, ..., C(n-1) = `last`, then
 * a rule on C0. malloc'd. */
static char *let_chain(int n, const char *last, const char *rule)
{
	size_t cap = (size_t)n * 32 + strlen(last) + strlen(rule) + 16, len = 0;
	char *src = malloc(cap);
	assert_non_null(src);
	for (int i = 0; i < n; i++) {
		if (i + 1 < n)
			len += (size_t)snprintf(src + len, cap - len, "let C%d = C%d\n", i, i + 1);
		else
			len += (size_t)snprintf(src + len, cap - len, "let C%d = %s\n", i, last);
	}
	snprintf(src + len, cap - len, "%s\n", rule);
	return src;
}

/* Issue 9: 18 chained `let`s were reported as a cycle (a depth limit of
 * 16 stood in for cycle detection). Long chains work, in any order of
 * definition; real cycles, of any length, are still reported at the use. */
static void long_let_chains_and_cycles(void **state)
{
	(void)state;
	static const int lengths[] = { 17, 18, 100, 256 };
	for (size_t i = 0; i < TH_N(lengths); i++) {
		char *src = let_chain(lengths[i], "3", "rule over when card.active_tokens > C0 then approve");
		stepup_engine *e = th_engine(src, th_settings_full);
		static const char *const yes[] = { "over" };
		expect_fired_on(e, "{\"card\":{\"active_tokens\":4}}", yes, TH_N(yes), NULL, 0);
		expect_fired_on(e, "{\"card\":{\"active_tokens\":3}}", NULL, 0, yes, TH_N(yes));
		stepup_engine_free(e);
		free(src);
	}
	/* A chain of 100 that closes on itself: a cycle, reported once. */
	char *src = let_chain(100, "C0", "rule r when card.active_tokens > C0 then approve");
	size_t nerr;
	char *diags = dc_compile_diags(src, &nerr);
	if (nerr != 1 || !strstr(diags, "t.rules:101:34: error: constant 'C0' is defined in terms of itself"))
		fail_msg("cycle of 100:\n%s", diags);
	free(diags);
	free(src);
	/* Short cycles; a constant reached twice without a cycle is fine. */
	static const dc_one_error cycles[] = {
		{ "let A = A\nrule r when card.active_tokens > A then approve\n", 2, 34,
		  "constant 'A' is defined in terms of itself", 0 },
		{ "let A = B\nlet B = A\nrule r when card.active_tokens == A then approve\n", 3, 35,
		  "constant 'A' is defined in terms of itself", 0 },
		{ "let A = B\nlet B = C\nlet C = B\nrule r when card.active_tokens == A then approve\n", 4, 35,
		  "constant 'B' is defined in terms of itself", 0 },
		{ "let S = {S}\nrule r when card.state in S then approve\n", 1, 10,
		  "'S' is a set; use it after 'in' or 'has any of'", 0 },
	};
	dc_expect_one_error_each(cycles, TH_N(cycles));
	dc_comp k = dc_compile_src("let A = 1\nlet B = A\nlet C = A\nlet S = {B, C, A}\n"
	                   "rule r when card.active_tokens > B and card.active_tokens in S then approve\n");
	dc_expect_ok(&k);
	dc_free(&k);
	/* Past 256 constants deep: a located limit, not a cycle. */
	src = let_chain(300, "3", "rule r when card.active_tokens > C0 then approve");
	diags = dc_compile_diags(src, &nerr);
	if (nerr != 1 || !strstr(diags, "constants nested more than 256 deep") || strstr(diags, "itself"))
		fail_msg("chain of 300:\n%s", diags);
	free(diags);
	free(src);
}

/* A method whose condition is ABSENT is not available. */
static void method_conditions_three_valued(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		"method IN_APP when end_user.app_enrolled\n"
		"method OTP_SMS when not end_user.otp_exhausted\n"
		"method CUSTOMER_SERVICE always\n"
		"rule y when card.capture_method == MANUAL then step_up\n",
		th_settings_full);
	TH_EXPECT(e,
	          "{\"card\":{\"capture_method\":\"MANUAL\"},"
	          "\"end_user\":{\"app_enrolled\":null,\"otp_exhausted\":null}}",
	          STEPUP_YELLOW, "y", "CUSTOMER_SERVICE");
	stepup_engine_free(e);
}

/* The checker accepts a decimal on the left of `in` with integer or
 * decimal members (type rules: int and decimal compare); the test must
 * then compare numbers, not the bits of a double with truncated members. */
static void decimal_in_set(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		"let HALF = 2.5\n"
		"rule dec_dec when 2.5 in {2.5, 3} then approve\n"
		"rule dec_int when 2.0 in {1, 2} then approve\n"
		"rule const_dec when HALF in {0.5, 2.5} then approve\n"
		"rule dec_miss when 2.5 in {2, 3} then approve\n"
		"rule int_int when 3 in {1, 3} then approve\n",
		th_settings_full);
	th_result r = th_decide_patched(e, "{}");
	int ok = r.rc == STEPUP_OK && th_fired(&r, "dec_dec") && th_fired(&r, "dec_int") &&
	         th_fired(&r, "const_dec") && !th_fired(&r, "dec_miss") && th_fired(&r, "int_int");
	char json[2048];
	snprintf(json, sizeof(json), "%s", r.json ? r.json : "");
	th_result_free(&r);
	stepup_engine_free(e);
	if (!ok)
		fail_msg("expected dec_dec, dec_int, const_dec and int_int to fire (not dec_miss): %s", json);
}

/* Integer bounds at the ends of int64: `< INT64_MIN` and `> INT64_MAX`
 * leave no value, like any other empty range (docs/language.md section 11).
 * The analysis computes x - 1 / x + 1 on the literal, which overflows. Kept
 * last: a -fsanitize=undefined build aborts here. */
static void never_fire_integer_extremes(void **state)
{
	(void)state;
	size_t n;
	char *all = dc_compile_diags(
		"rule below when card.active_tokens < -9223372036854775808 then decline\n"
		"rule above when card.active_tokens > 9223372036854775807 then decline\n"
		"rule fine when card.active_tokens <= 9223372036854775807 and card.active_tokens >= -9223372036854775808 then decline\n",
		&n);
	if (n != 2 || !strstr(all, "rule 'below' can never fire") || !strstr(all, "rule 'above' can never fire")) {
		char msg[2048];
		snprintf(msg, sizeof(msg), "expected 'below' and 'above' to be reported as never firing, got %zu error(s):\n%s",
		         n, all);
		free(all);
		fail_msg("%s", msg);
	}
	free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		CHECK_DSL_FILES(DC_CASE)
		DC_ALL_LISTED(dsl_suite),
		cmocka_unit_test(three_independent_semantic_errors),
		cmocka_unit_test(both_sides_of_and_or_are_checked),
		cmocka_unit_test(unknown_field_suggestions),
		cmocka_unit_test(duplicate_rule_across_files),
		cmocka_unit_test(ruleset_name_and_constants_across_files),
		cmocka_unit_test(undefined_method_declared_vs_unknown),
		cmocka_unit_test(warnings_do_not_fail),
		cmocka_unit_test(reason_code_limit),
		cmocka_unit_test(kleene_logic),
		cmocka_unit_test(absent_object),
		cmocka_unit_test(typed_comparisons),
		cmocka_unit_test(field_vs_field),
		cmocka_unit_test(builtins),
		cmocka_unit_test(reason_codes_semantics),
		cmocka_unit_test(toplevel_fields_readable),
		cmocka_unit_test(toplevel_fields_value_first),
		cmocka_unit_test(constants_evaluate),
		cmocka_unit_test(long_let_chains_and_cycles),
		cmocka_unit_test(method_conditions_three_valued),
		cmocka_unit_test(decimal_in_set),
		cmocka_unit_test(never_fire_integer_extremes),  /* keep last (UB) */
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
