/* test_parser.c: lexing and parsing of the rule language (dsl/lexer.l,
 * dsl/parser.y), the diagnostics they produce and how they are rendered.
 *
 * Two kinds of tests:
 *   - data-driven cases under tests/dsl/ok and tests/dsl/syntax (see
 *     tests/dsl/README.md): each file states its expected diagnostics;
 *   - targeted tests below for what a file cannot express (rendering,
 *     limits, timing, decisions that prove how something was parsed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsl_cases.h"
#include "helpers.h"

/* ---- data-driven cases (tests/dsl/ok, tests/dsl/syntax) ------------------ */

#define PARSER_DSL_FILES(X)                 \
	X("ok/all-constructs.rules")        \
	X("syntax/three-errors.rules")      \
	X("syntax/lexical.rules")           \
	X("syntax/grammar.rules")           \
	X("syntax/card-numbers.rules")

static const char *const dsl_dirs[] = { "ok", "syntax" };
static const char *const dsl_listed[] = { PARSER_DSL_FILES(DC_LISTED) };
static DC_SUITE(dsl_suite, "test_parser.c", dsl_dirs, dsl_listed);

/* ---- header, declarations, outcomes ------------------------------------ */

static void header_names_the_ruleset(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src("ruleset \"issuer-x\"\nrule a when card.state == CLOSED then decline\n");
	dc_expect_ok(&k);
	assert_string_equal(stepup_ruleset_name(k.rs), "issuer-x");
	assert_int_equal(stepup_ruleset_rule_count(k.rs), 1);
	dc_free(&k);

	k = dc_compile_src("rule a when card.state == CLOSED then decline\n");
	dc_expect_ok(&k);
	assert_string_equal(stepup_ruleset_name(k.rs), "unnamed");
	dc_free(&k);

	/* A name with escapes. */
	k = dc_compile_src("ruleset \"a\\\"b\\\\c\"\nrule a when card.state == CLOSED then decline\n");
	dc_expect_ok(&k);
	assert_string_equal(stepup_ruleset_name(k.rs), "a\"b\\c");
	assert_int_equal(stepup_ruleset_rule_count(k.rs), 1);
	dc_free(&k);
}

static void header_must_come_first(void **state)
{
	(void)state;
	static const dc_one_error cases[] = {
		{ "rule a when card.state == CLOSED then decline\nruleset \"late\"\n", 2, 1,
		  "syntax error: unexpected 'ruleset'", 0 },
		{ "ruleset issuer\n", 1, 9, "syntax error: unexpected name, expecting string", 0 },
	};
	dc_expect_one_error_each(cases, TH_N(cases));
}

static void empty_and_comment_only_sources(void **state)
{
	(void)state;
	/* Fail closed: a source with no rules (empty, blank, comments, a
	 * header and methods only) would approve everything: an error naming
	 * the file, unless explicitly allowed. */
	static const char *const empties[] = {
		"", "  \n\t\n", "# nothing but a comment, and no final newline",
		"ruleset \"x\"\nmethod OTP_SMS when end_user.phone is present\n",
	};
	for (size_t i = 0; i < TH_N(empties); i++) {
		dc_comp k = dc_compile_named("empty.rules", empties[i], strlen(empties[i]));
		dc_expect_errors(&k, 1);
		char buf[256];
		stepup_compiler_render_diag(k.c, 0, buf, sizeof(buf));
		assert_non_null(strstr(buf, "empty.rules: error: the ruleset has no rules: it would approve every request"));
		dc_free(&k);

		stepup_compiler *c = stepup_compiler_new();
		stepup_ruleset *rs = NULL;
		assert_int_equal(stepup_compiler_set_flags(c, STEPUP_LOAD_ALLOW_EMPTY), STEPUP_OK);
		assert_int_equal(stepup_compiler_add_source(c, "empty.rules", empties[i], strlen(empties[i])), STEPUP_OK);
		assert_int_equal(stepup_compiler_compile(c, &rs), STEPUP_OK);
		assert_int_equal(stepup_ruleset_rule_count(rs), 0);
		assert_int_equal(stepup_compiler_diag_count(c), 0);
		stepup_ruleset_unref(rs);
		stepup_compiler_free(c);
	}
	assert_int_equal(stepup_compiler_set_flags(NULL, 0), STEPUP_EINVAL);

	dc_comp k;

	/* Comments between every token, including inside a condition. */
	k = dc_compile_src("rule # name next\n a # desc next\n \"d\" # when next\n when # cond\n"
	                   " card.state # op\n == # value\n CLOSED # then\n then # outcome\n decline # end");
	dc_expect_ok(&k);
	assert_int_equal(stepup_ruleset_rule_count(k.rs), 1);
	assert_int_equal(stepup_compiler_diag_count(k.c), 0);
	dc_free(&k);
}

static void all_constructs_file_loads(void **state)
{
	stepup_ruleset *rs = NULL;
	char err[512] = "";
	(void)state;
	int rc = stepup_ruleset_load(SRCDIR "/tests/dsl/ok/all-constructs.rules", &rs, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("%s", err);
	assert_string_equal(stepup_ruleset_name(rs), "all-constructs");
	assert_int_equal(stepup_ruleset_rule_count(rs), 24);
	stepup_ruleset_unref(rs);
}

static const char *const outcome_rules =
	"method IN_APP           when end_user.app_enrolled\n"
	"method OTP_SMS          always\n"
	"method OTP_EMAIL        always\n"
	"method CUSTOMER_SERVICE always\n"
	"rule red when card.state == SUSPENDED then decline\n"
	"rule green \"approve is reported\" when card.active_tokens == 7 then approve\n"
	"rule yellow_all when card.capture_method == MANUAL then step_up\n"
	"rule yellow_two when card.capture_method == CAMERA then step_up only OTP_EMAIL, IN_APP\n"
	"rule yellow_fraud when wallet.device_suspicious then step_up only CUSTOMER_SERVICE line FRAUD\n"
	"rule yellow_std when card.csc_result == NOT_PROCESSED then step_up line STANDARD\n";

static void expect_methods(const th_result *r, size_t n, const stepup_method *m)
{
	if (r->nmethods != n)
		fail_msg("expected %zu methods, got %zu: %s", n, r->nmethods, r->json);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(r->methods[i], m[i]);
}

static void outcomes(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(outcome_rules, th_settings_full);
	th_result r;

	r = th_decide_patched(e, "{}");
	assert_int_equal(r.rc, STEPUP_OK);
	assert_int_equal(r.outcome, STEPUP_GREEN);
	assert_int_equal(r.nfired, 0);
	th_result_free(&r);

	r = th_decide_patched(e, "{\"card\":{\"state\":\"SUSPENDED\"}}");
	assert_int_equal(r.outcome, STEPUP_RED);
	assert_int_equal(r.nfired, 1);
	assert_string_equal(r.fired[0], "red");
	assert_int_equal(r.nmethods, 0);
	th_result_free(&r);

	r = th_decide_patched(e, "{\"card\":{\"active_tokens\":7}}");
	assert_int_equal(r.outcome, STEPUP_GREEN);
	assert_int_equal(r.nfired, 1);
	assert_string_equal(r.fired[0], "green");
	th_result_free(&r);

	{
		static const stepup_method all[] = { STEPUP_IN_APP, STEPUP_OTP_SMS, STEPUP_OTP_EMAIL,
		                                     STEPUP_CUSTOMER_SERVICE };
		r = th_decide_patched(e, "{\"card\":{\"capture_method\":\"MANUAL\"}}");
		assert_int_equal(r.outcome, STEPUP_YELLOW);
		expect_methods(&r, 4, all);
		assert_int_equal(r.line, STEPUP_LINE_STANDARD);
		th_result_free(&r);

		r = th_decide_patched(e, "{\"card\":{\"csc_result\":\"NOT_PROCESSED\"}}");
		assert_int_equal(r.outcome, STEPUP_YELLOW);
		expect_methods(&r, 4, all);
		assert_int_equal(r.line, STEPUP_LINE_STANDARD);
		th_result_free(&r);
	}
	{
		/* `only OTP_EMAIL, IN_APP`: offered in declaration order. */
		static const stepup_method two[] = { STEPUP_IN_APP, STEPUP_OTP_EMAIL };
		r = th_decide_patched(e, "{\"card\":{\"capture_method\":\"CAMERA\"}}");
		assert_int_equal(r.outcome, STEPUP_YELLOW);
		expect_methods(&r, 2, two);
		th_result_free(&r);
	}
	{
		static const stepup_method cs[] = { STEPUP_CUSTOMER_SERVICE };
		r = th_decide_patched(e, "{\"wallet\":{\"device_suspicious\":true}}");
		assert_int_equal(r.outcome, STEPUP_YELLOW);
		expect_methods(&r, 1, cs);
		assert_int_equal(r.line, STEPUP_LINE_FRAUD);
		th_result_free(&r);
	}

	/* RED still lists the YELLOW rule that fired beside it. */
	r = th_decide_patched(e, "{\"card\":{\"state\":\"SUSPENDED\",\"capture_method\":\"MANUAL\"}}");
	assert_int_equal(r.outcome, STEPUP_RED);
	assert_int_equal(r.nfired, 2);
	assert_true(th_fired(&r, "red"));
	assert_true(th_fired(&r, "yellow_all"));
	th_result_free(&r);
	stepup_engine_free(e);
}

static void channel_policy(void **state)
{
	(void)state;
	static const char *const rule = "rule y when card.capture_method == MANUAL then step_up\n";
	static const char *const policies[] = {
		"on channel ECOM_MERCHANT step_up becomes approve\n",
		"on channel ECOM_MERCHANT step_up becomes decline\n",
		"",
	};
	static const stepup_outcome want[] = { STEPUP_GREEN, STEPUP_RED, STEPUP_RED };

	for (int i = 0; i < 3; i++) {
		char src[512];
		snprintf(src, sizeof(src), "method OTP_SMS always\n%s%s", rule, policies[i]);
		stepup_engine *e = th_engine(src, th_settings_full);
		th_result r = th_decide_patched(
			e, "{\"channel\":\"ECOM_MERCHANT\",\"card\":{\"capture_method\":\"MANUAL\"}}");
		assert_int_equal(r.rc, STEPUP_OK);
		if (r.outcome != want[i])
			fail_msg("policy \"%s\": got %s", policies[i], r.json);
		assert_int_equal(r.nfired, 1);
		assert_string_equal(r.fired[0], "y");
		th_result_free(&r);
		/* The wallet channel is not affected. */
		r = th_decide_patched(e, "{\"card\":{\"capture_method\":\"MANUAL\"}}");
		assert_int_equal(r.outcome, STEPUP_YELLOW);
		th_result_free(&r);
		stepup_engine_free(e);
	}
}

/* ---- precedence --------------------------------------------------------- */

/* With the base request: T = end_user.app_enrolled (true),
 * F = end_user.otp_exhausted (false), G = wallet.device_suspicious (false). */
static void precedence(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		/* a or (b and c): fires; (a or b) and c would not. */
		"rule or_and when end_user.app_enrolled or end_user.otp_exhausted and wallet.device_suspicious then approve\n"
		/* (not a) and b: F; not (a and b) would be T. */
		"rule not_and when not end_user.app_enrolled and end_user.otp_exhausted then approve\n"
		/* explicit grouping overrides. */
		"rule grouped when (end_user.app_enrolled or end_user.otp_exhausted) and wallet.device_suspicious then approve\n"
		/* not binds looser than a predicate: not (card.state == ACTIVE). */
		"rule not_pred when not card.state == ACTIVE then approve\n"
		"rule not_pred2 when not card.state == CLOSED then approve\n"
		/* and/or are left-associative; and binds tighter on both sides. */
		"rule chain when end_user.otp_exhausted and wallet.device_suspicious or end_user.app_enrolled then approve\n"
		"rule double_not when not not end_user.app_enrolled then approve\n"
		"rule nested when not (end_user.otp_exhausted or (wallet.device_suspicious and end_user.app_enrolled)) then approve\n",
		th_settings_full);
	th_result r = th_decide_patched(e, "{}");
	assert_int_equal(r.rc, STEPUP_OK);
	assert_true(th_fired(&r, "or_and"));
	assert_false(th_fired(&r, "not_and"));
	assert_false(th_fired(&r, "grouped"));
	assert_false(th_fired(&r, "not_pred"));
	assert_true(th_fired(&r, "not_pred2"));
	assert_true(th_fired(&r, "chain"));
	assert_true(th_fired(&r, "double_not"));
	assert_true(th_fired(&r, "nested"));
	assert_int_equal(r.nfired, 5);
	th_result_free(&r);
	stepup_engine_free(e);
}

static void comparisons_all_operators(void **state)
{
	(void)state;
	/* card.active_tokens is 1 in the base request. */
	stepup_engine *e = th_engine(
		"rule eq when card.active_tokens == 1 then approve\n"
		"rule ne when card.active_tokens != 1 then approve\n"
		"rule lt when card.active_tokens < 1 then approve\n"
		"rule le when card.active_tokens <= 1 then approve\n"
		"rule gt when card.active_tokens > 1 then approve\n"
		"rule ge when card.active_tokens >= 1 then approve\n"
		"rule lt_flip when 2 > card.active_tokens then approve\n"
		"rule ge_flip when 1 <= card.active_tokens then approve\n"
		"rule gt_flip when 1 < card.active_tokens then approve\n"
		"rule neg when card.active_tokens > -5 then approve\n"
		"rule dec when card.active_tokens < 1.5 then approve\n"
		"rule dec2 when card.active_tokens > 0.99 then approve\n"
		"rule dec3 when card.active_tokens >= 1.01 then approve\n",
		th_settings_full);
	th_result r = th_decide_patched(e, "{}");
	static const char *const yes[] = { "eq", "le", "ge", "lt_flip", "ge_flip", "neg", "dec", "dec2" };
	static const char *const no[] = { "ne", "lt", "gt", "gt_flip", "dec3" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!th_fired(&r, yes[i]))
			fail_msg("%s should fire: %s", yes[i], r.json);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (th_fired(&r, no[i]))
			fail_msg("%s should not fire: %s", no[i], r.json);
	th_result_free(&r);

	r = th_decide_patched(e, "{\"card\":{\"active_tokens\":2}}");
	assert_true(th_fired(&r, "ne"));
	assert_true(th_fired(&r, "gt"));
	assert_true(th_fired(&r, "gt_flip"));
	assert_false(th_fired(&r, "lt_flip"));
	assert_true(th_fired(&r, "dec3"));
	assert_false(th_fired(&r, "dec"));
	th_result_free(&r);
	stepup_engine_free(e);
}

/* ---- strings and escapes ------------------------------------------------ */

static void string_escapes(void **state)
{
	(void)state;
	stepup_engine *e = th_engine(
		"rule esc when end_user.language == \"a\\\"b\\\\c\\td\\ne\" then approve\n"
		"rule hash when wallet.device_country == \"U#S\" then approve   # a comment\n"
		"rule empty when wallet.device_country == \"\" then approve\n",
		th_settings_full);
	th_result r = th_decide_patched(e, "{\"end_user\":{\"language\":\"a\\\"b\\\\c\\td\\ne\"}}");
	assert_int_equal(r.rc, STEPUP_OK);
	if (!th_fired(&r, "esc"))
		fail_msg("escapes not decoded: %s", r.json);
	th_result_free(&r);

	/* The raw characters of the escape are not what the string holds. */
	r = th_decide_patched(e, "{\"end_user\":{\"language\":\"a\\\\\\\"b\\\\\\\\c\\\\td\\\\ne\"}}");
	assert_int_equal(r.rc, STEPUP_OK);
	assert_false(th_fired(&r, "esc"));
	th_result_free(&r);

	r = th_decide_patched(e, "{\"wallet\":{\"device_country\":\"U#S\"}}");
	assert_true(th_fired(&r, "hash"));
	assert_false(th_fired(&r, "empty"));
	th_result_free(&r);
	assert_true(th_fires(e, "{\"wallet\":{\"device_country\":\"\"}}", "empty"));
	stepup_engine_free(e);
}

/* ---- rendering ---------------------------------------------------------- */

static void syntax_error_rendering_exact(void **state)
{
	(void)state;
	const char *src = "ruleset \"x\"\n\nrule a when card.state = ACTIVE then decline\n";
	dc_comp k = dc_compile_named("rules/issuer.rules", src, strlen(src));
	dc_expect_one_error(&k, 3, 24, "syntax error: unexpected '='");
	const stepup_diag *d = stepup_compiler_diag(k.c, 0);
	assert_string_equal(d->file, "rules/issuer.rules");
	assert_int_equal(d->end_line, 3);
	assert_int_equal(d->end_col, 24);
	char *r = dc_render(k.c, 0);
	assert_string_equal(r,
		"rules/issuer.rules:3:24: error: syntax error: unexpected '='\n"
		"  rule a when card.state = ACTIVE then decline\n"
		"                         ^\n");
	free(r);
	dc_free(&k);
}

static void rendering_caret_span_and_tabs(void **state)
{
	(void)state;
	/* A multi-byte token: ^ then ~ to its last byte. */
	dc_comp k = dc_compile_src("rule a when card.state == ACTIVE then\nrule b when x then decline\n");
	dc_expect_one_error(&k, 2, 1, "syntax error: unexpected 'rule', expecting 'decline', 'approve' or 'step_up'");
	char *r = dc_render(k.c, 0);
	assert_string_equal(r,
		"t.rules:2:1: error: syntax error: unexpected 'rule', expecting 'decline', 'approve' or 'step_up'\n"
		"  rule b when x then decline\n"
		"  ^~~~\n");
	free(r);
	dc_free(&k);

	/* Columns count bytes; a tab in the source stays a tab in the caret
	 * line so the caret lines up. */
	k = dc_compile_src("\trule a when card.state = ACTIVE then decline\n");
	dc_expect_one_error(&k, 1, 25, "unexpected '='");
	r = dc_render(k.c, 0);
	assert_string_equal(r,
		"t.rules:1:25: error: syntax error: unexpected '='\n"
		"  \trule a when card.state = ACTIVE then decline\n"
		"  \t                       ^\n");
	free(r);
	dc_free(&k);

	/* Render into a short buffer: snprintf semantics. */
	k = dc_compile_src("rule a when card.state = ACTIVE then decline\n");
	char small[16];
	size_t need = stepup_compiler_render_diag(k.c, 0, NULL, 0);
	memset(small, 'X', sizeof(small));
	assert_int_equal(stepup_compiler_render_diag(k.c, 0, small, sizeof(small)), need);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, "t.rules:1:24: e", 15);
	/* Out of range index renders nothing. */
	assert_int_equal(stepup_compiler_render_diag(k.c, 5, small, sizeof(small)), 0);
	assert_string_equal(small, "");
	dc_free(&k);
}

/* ---- error recovery ----------------------------------------------------- */

static void three_syntax_errors_three_rules(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src(
		"rule a when card.state = ACTIVE then decline\n"
		"rule ok1 when card.state == CLOSED then decline\n"
		"rule b when card.active_tokens > then decline\n"
		"rule ok2 when card.state == CLOSED then decline\n"
		"rule c when card.active_tokens > 3 then reject\n"
		"rule ok3 when card.state == CLOSED then decline\n");
	dc_expect_errors(&k, 3);
	static const unsigned lines[] = { 1, 3, 5 }, cols[] = { 24, 34, 41 };
	for (size_t i = 0; i < 3; i++) {
		const stepup_diag *d = stepup_compiler_diag(k.c, i);
		assert_int_equal(d->line, lines[i]);
		assert_int_equal(d->col, cols[i]);
		assert_non_null(strstr(d->message, "syntax error: unexpected"));
	}
	dc_free(&k);
}

/* After a syntax error the parser resynchronises on the next declaration;
 * a mistake early in that declaration is just as independent and must be
 * reported ("All independent errors are reported, not only the first"). */
static void recovery_reports_error_early_in_next_declaration(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src(
		"rule a card.state == ACTIVE then decline\n"
		"rule b card.state == CLOSED then decline\n"
		"rule c card.state == INACTIVE then decline\n");
	size_t n = stepup_compiler_error_count(k.c);
	int bad = n != 3;
	for (size_t i = 0; !bad && i < 3; i++) {
		const stepup_diag *d = stepup_compiler_diag(k.c, i);
		bad = d->line != i + 1 || d->col != 8;
	}
	char *all = dc_render_all(k.c);
	dc_free(&k);

	size_t n2;
	char *all2 = dc_compile_diags("rule a when card.state = ACTIVE then decline\n"
	                              "method OTP_SMS sometimes\n",
	                              &n2);
	if (bad || n2 != 2) {
		char msg[4096];
		snprintf(msg, sizeof(msg),
		         "three rules each missing 'when': %zu error(s), expected 3 at 1:8, 2:8, 3:8:\n%s"
		         "broken rule then 'method OTP_SMS sometimes': %zu error(s), expected 2:\n%s",
		         n, all, n2, all2);
		free(all);
		free(all2);
		fail_msg("%s", msg);
	}
	free(all);
	free(all2);
}

static void syntax_error_cap(void **state)
{
	(void)state;
	size_t cap = 80 * 64, len = 0;
	char *src = malloc(cap);
	assert_non_null(src);
	for (int i = 0; i < 80; i++)
		len += (size_t)snprintf(src + len, cap - len, "rule r%d when card.state = ACTIVE then decline\n", i);
	dc_comp k = dc_compile_named("t.rules", src, len);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_int_equal(stepup_compiler_error_count(k.c), 50);
	assert_int_equal(stepup_compiler_diag(k.c, 49)->line, 50);
	dc_free(&k);
	free(src);
}

static void syntax_error_at_end_of_file(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src("rule a when");
	dc_expect_one_error(&k, 1, 8, "syntax error: unexpected end of file");
	dc_free(&k);
	k = dc_compile_src("rule a when card.state == ACTIVE then step_up only");
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	assert_non_null(strstr(stepup_compiler_diag(k.c, 0)->message, "unexpected end of file, expecting name"));
	dc_free(&k);
}

/* ---- lexical errors ----------------------------------------------------- */

static void lexical_errors_exact(void **state)
{
	(void)state;
	static const dc_one_error cases[] = {
		{ "rule a when end_user.language == \"abc then decline", 1, 34, "unterminated string", 0 },
		{ "rule a when end_user.language == \"a\\qb\" then decline\n", 1, 36, "unknown escape '\\q' in string",
		  37 },
		{ "rule a when end_user.language == \"ok\\\\\" and card.active_tokens > 99999999999999999999 then decline\n",
		  1, 66, "integer '99999999999999999999' is out of range", 85 },
		{ "rule a when card.active_tokens > 12ab then decline\n", 1, 34, "invalid number '12ab'", 0 },
		{ "rule a when card.active_tokens > 3 & card.active_tokens < 9 then decline\n", 1, 36,
		  "unexpected character '&'", 0 },
		{ "rule a when card.active_tokens > 3 \x7f then decline\n", 1, 36, "unexpected byte 0x7f", 0 },
	};
	dc_expect_one_error_each(cases, TH_N(cases));

	/* The extremes of int64 are in range. */
	dc_comp k = dc_compile_src("rule a when card.active_tokens < 9223372036854775807"
	                           " and card.active_tokens > -9223372036854775808 then decline\n");
	dc_expect_ok(&k);
	dc_free(&k);
}

/* A character outside ASCII is one mistake, whatever its UTF-8 length:
 * analysts paste typographic quotes from word processors. */
static void non_ascii_character_is_one_error(void **state)
{
	(void)state;
	dc_comp k = dc_compile_src("rule a when card.state == ACTIVE \xc3\xa9 then decline\n");
	size_t n1 = stepup_compiler_error_count(k.c);
	unsigned col1 = n1 ? stepup_compiler_diag(k.c, 0)->col : 0;
	char *all1 = dc_render_all(k.c);
	dc_free(&k);

	/* \u201cUS\u201d: two characters, three bytes each. */
	size_t n2;
	char *all2 = dc_compile_diags("rule a when wallet.device_country == \xe2\x80\x9cUS\xe2\x80\x9d then decline\n", &n2);
	if (n1 != 1 || col1 != 34 || n2 < 1 || n2 > 2) {
		char msg[8192];
		snprintf(msg, sizeof(msg), "'\xc3\xa9' gave %zu error(s) (want 1 at col 34):\n%s"
		         "typographic quotes gave %zu error(s) (want at most one per character):\n%s",
		         n1, all1, n2, all2);
		free(all1);
		free(all2);
		fail_msg("%s", msg);
	}
	free(all1);
	free(all2);
}

/* Issue 9: invalid UTF-8 in a ruleset name or description made every
 * response, log line and metric invalid UTF-8. Every string literal must
 * be UTF-8, refused at its location otherwise. */
static void invalid_utf8_strings_refused(void **state)
{
	(void)state;
	static const dc_one_error cases[] = {
		{ "ruleset \"bank \xff\"\nrule a when card.state == CLOSED then decline\n", 1, 9,
		  "string is not valid UTF-8", 16 },
		{ "rule a \"d\xc3\" when card.state == CLOSED then decline\n", 1, 8, "string is not valid UTF-8", 0 },
		{ "rule a when token_requestor.id == \"\xed\xa0\x80\" then decline\n", 1, 35,
		  "string is not valid UTF-8", 0 },  /* a surrogate */
		{ "rule a when token_requestor.id == \"\xc0\xaf\" then decline\n", 1, 35,
		  "string is not valid UTF-8", 0 },  /* overlong '/' */
		{ "let C = \"\xf4\x90\x80\x80\"\nrule a when token_requestor.id == C then decline\n", 1, 9,
		  "string is not valid UTF-8", 0 },  /* above U+10FFFF */
	};
	dc_expect_one_error_each(cases, TH_N(cases));
	/* Valid UTF-8 is fine, in the name and in descriptions. */
	dc_comp k = dc_compile_src("ruleset \"Banque \xc3\xa9t\xc3\xa9 \xe2\x82\xac\"\n"
	                           "rule a \"caf\xc3\xa9 \xf0\x9f\x92\xb3\" when card.state == CLOSED then decline\n");
	dc_expect_ok(&k);
	assert_string_equal(stepup_ruleset_name(k.rs), "Banque \xc3\xa9t\xc3\xa9 \xe2\x82\xac");
	dc_free(&k);
}

/* Diagnostics are an output too: a card number is never in a message nor
 * in a rendered diagnostic, though the renderer quotes the source line
 * (its digits are masked, the carets keep their columns). */
static void diagnostics_never_carry_card_numbers(void **state)
{
	(void)state;
	static const char *const srcs[] = {
		"ruleset \"4111 1111 1111 1111\"\nrule a when card.state == CLOSED then decline\n",
		"rule a when card.active_tokens > 4111111111111111x then decline\n",  /* invalid number '...' */
		"rule a when card.active_tokens > 3 then declin # 5555555555554444\n",
		"rule a when unknown_5555_5555_5555_4444 == 3 then decline\n",
		"rule a when card.active_tokens == 4111111111111111 then decline\n",
	};
	for (size_t i = 0; i < TH_N(srcs); i++) {
		dc_comp k = dc_compile_src(srcs[i]);
		assert_int_equal(k.rc, STEPUP_ECOMPILE);
		assert_true(stepup_compiler_diag_count(k.c) >= 1);
		for (size_t d = 0; d < stepup_compiler_diag_count(k.c); d++) {
			const char *m = stepup_compiler_diag(k.c, d)->message;
			char *r = dc_render(k.c, d);
			if (stepup_card_number_find(m, strlen(m), NULL, NULL) ||
			    stepup_card_number_find(r, strlen(r), NULL, NULL))
				fail_msg("a card number in diagnostic %zu of %s:\n%s", d, srcs[i], r);
			free(r);
		}
		dc_free(&k);
	}
	/* The carets still point at the token. */
	dc_comp k = dc_compile_src("rule a when card.active_tokens == 4111111111111111 then decline\n");
	char *r = dc_render(k.c, 0);
	assert_string_equal(r, "t.rules:1:35: error: an integer holding a card number is refused: rule text "
	                       "reaches responses and logs\n"
	                       "  rule a when card.active_tokens == **************** then decline\n"
	                       "                                    ^~~~~~~~~~~~~~~~\n");
	free(r);
	dc_free(&k);
	/* A message that quotes a token gets the scrubber's marker. */
	k = dc_compile_src("rule a when card.active_tokens > 4111111111111111x then decline\n");
	assert_string_equal(stepup_compiler_diag(k.c, 0)->message, "invalid number '[card number]x'");
	dc_free(&k);
}

/* File names reach explain output ("at") too. */
static void file_names_checked(void **state)
{
	(void)state;
	const char *src = "rule a when card.state == CLOSED then decline\n";
	static const struct {
		const char *name, *msg;
	} cases[] = {
		{ "dir/4111111111111111.rules", "the file name holds a card number: rename the file" },
		{ "dir/r\xff.rules", "the file name is not valid UTF-8: rename the file" },
	};
	for (size_t i = 0; i < TH_N(cases); i++) {
		dc_comp k = dc_compile_named(cases[i].name, src, strlen(src));
		assert_int_equal(k.rc, STEPUP_ECOMPILE);
		assert_int_equal(stepup_compiler_error_count(k.c), 1);
		assert_string_equal(stepup_compiler_diag(k.c, 0)->message, cases[i].msg);
		char *r = dc_render(k.c, 0);
		assert_false(stepup_card_number_find(r, strlen(r), NULL, NULL));
		free(r);
		dc_free(&k);
	}
}

static void nul_byte_and_missing_file(void **state)
{
	(void)state;
	stepup_compiler *c = stepup_compiler_new();
	stepup_ruleset *rs = NULL;
	assert_int_equal(stepup_compiler_add_source(c, "nul.rules", "rule a\0 when", 12), STEPUP_ECOMPILE);
	assert_int_equal(stepup_compiler_compile(c, &rs), STEPUP_ECOMPILE);
	assert_null(rs);
	assert_non_null(strstr(stepup_compiler_diag(c, 0)->message, "NUL byte"));
	stepup_compiler_free(c);

	c = stepup_compiler_new();
	assert_int_equal(stepup_compiler_add_file(c, "/nonexistent/dir/x.rules"), STEPUP_EIO);
	assert_true(stepup_compiler_error_count(c) >= 1);
	assert_string_equal(stepup_compiler_diag(c, 0)->file, "/nonexistent/dir/x.rules");
	assert_non_null(strstr(stepup_compiler_diag(c, 0)->message, "cannot open"));
	assert_int_equal(stepup_compiler_compile(c, &rs), STEPUP_ECOMPILE);
	assert_null(rs);
	stepup_compiler_free(c);

	c = stepup_compiler_new();
	assert_int_equal(stepup_compiler_compile(c, &rs), STEPUP_ECOMPILE);
	assert_non_null(strstr(stepup_compiler_diag(c, 0)->message, "no rule sources"));
	stepup_compiler_free(c);

	assert_int_equal(stepup_compiler_add_source(NULL, "x", "", 0), STEPUP_EINVAL);
	assert_int_equal(stepup_compiler_compile(NULL, &rs), STEPUP_EINVAL);
}

static void multiple_files_keep_their_names(void **state)
{
	(void)state;
	stepup_compiler *c = stepup_compiler_new();
	stepup_ruleset *rs = NULL;
	const char *a = "rule a when card.state == CLOSED then decline\n";
	const char *b = "\n\nrule b when card.state = CLOSED then decline\n";
	assert_int_equal(stepup_compiler_add_source(c, "dir/a.rules", a, strlen(a)), STEPUP_OK);
	assert_int_equal(stepup_compiler_add_source(c, "dir/b.rules", b, strlen(b)), STEPUP_OK);
	assert_int_equal(stepup_compiler_compile(c, &rs), STEPUP_ECOMPILE);
	assert_int_equal(stepup_compiler_diag_count(c), 1);
	const stepup_diag *d = stepup_compiler_diag(c, 0);
	assert_string_equal(d->file, "dir/b.rules");
	assert_int_equal(d->line, 3);
	assert_int_equal(d->col, 24);
	char *r = dc_render(c, 0);
	assert_non_null(strstr(r, "dir/b.rules:3:24: error: "));
	assert_non_null(strstr(r, "\n  rule b when card.state = CLOSED then decline\n"));
	free(r);
	stepup_compiler_free(c);
}

/* ---- nesting and size limits -------------------------------------------- */

static char *repeat3(const char *pre, const char *unit, size_t n, const char *mid, const char *unit2,
                     size_t n2, const char *post)
{
	size_t len = strlen(pre) + strlen(unit) * n + strlen(mid) + strlen(unit2) * n2 + strlen(post) + 1;
	char *s = malloc(len), *p = s;
	assert_non_null(s);
	p += sprintf(p, "%s", pre);
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s", unit);
	p += sprintf(p, "%s", mid);
	for (size_t i = 0; i < n2; i++)
		p += sprintf(p, "%s", unit2);
	sprintf(p, "%s", post);
	return s;
}

static void nesting_limit_not(void **state)
{
	(void)state;
	/* 200 levels are fine (an even number of nots: same as the field). */
	char *src = repeat3("rule a when ", "not ", 200, "end_user.app_enrolled", "", 0, " then approve\n");
	stepup_engine *e = th_engine(src, th_settings_full);
	assert_true(th_fires(e, "{}", "a"));
	assert_false(th_fires(e, "{\"end_user\":{\"app_enrolled\":false}}", "a"));
	stepup_engine_free(e);
	free(src);

	src = repeat3("rule a when ", "not ", 201, "end_user.app_enrolled", "", 0, " then approve\n");
	dc_comp k = dc_compile_src(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	assert_non_null(strstr(stepup_compiler_diag(k.c, 0)->message, "expression nested deeper than 200 levels"));
	assert_int_equal(stepup_compiler_diag(k.c, 0)->line, 1);
	dc_free(&k);
	free(src);
}

static void nesting_limit_and_or(void **state)
{
	(void)state;
	/* a and (a and (a and ... )): 200 levels compile and evaluate. */
	char *src = repeat3("rule a when ", "end_user.app_enrolled and (", 200, "end_user.app_enrolled", ")", 200,
	                    " then approve\n"
	                    "rule b when end_user.otp_exhausted or (end_user.otp_exhausted or (end_user.app_enrolled)) then approve\n");
	stepup_engine *e = th_engine(src, th_settings_full);
	th_result r = th_decide_patched(e, "{}");
	assert_true(th_fired(&r, "a"));
	assert_true(th_fired(&r, "b"));
	th_result_free(&r);
	assert_false(th_fires(e, "{\"end_user\":{\"app_enrolled\":false}}", "a"));
	assert_false(th_fires(e, "{\"end_user\":{\"app_enrolled\":null}}", "a"));
	stepup_engine_free(e);
	free(src);

	src = repeat3("rule a when ", "end_user.app_enrolled or (", 201, "end_user.app_enrolled", ")", 201,
	              " then approve\n");
	dc_comp k = dc_compile_src(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	assert_non_null(strstr(stepup_compiler_diag(k.c, 0)->message, "expression nested deeper than 200 levels"));
	dc_free(&k);
	free(src);
}

/* Deep parentheses or calls must not crash or exhaust the C stack; the
 * language refuses conditions nested over 200 levels with one message. */
static void nesting_limit_parentheses(void **state)
{
	(void)state;
	char *src = repeat3("rule a when ", "(", 100000, "end_user.app_enrolled", ")", 100000, " then approve\n");
	dc_comp k = dc_compile_src(src);
	free(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_null(k.rs);
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	char msg[600];
	snprintf(msg, sizeof(msg), "%s", stepup_compiler_diag(k.c, 0)->message);
	dc_free(&k);
	if (!strstr(msg, "expression nested deeper than 200 levels"))
		fail_msg("100000 nested parentheses: expected 'expression nested deeper than 200 levels', got '%s'", msg);
}

static void nesting_deep_calls_fail_cleanly(void **state)
{
	(void)state;
	char *src = repeat3("rule a when ", "length(", 20000, "end_user.phone", ")", 20000, " > 3 then approve\n");
	dc_comp k = dc_compile_src(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_null(k.rs);
	assert_true(stepup_compiler_error_count(k.c) >= 1);
	dc_free(&k);
	free(src);

	/* Moderately nested calls get a type error, not a crash. */
	src = repeat3("rule a when ", "length(", 300, "end_user.phone", ")", 300, " > 3 then approve\n");
	k = dc_compile_src(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_true(stepup_compiler_error_count(k.c) >= 1);
	dc_free(&k);
	free(src);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void large_sets_compile_fast(void **state)
{
	(void)state;
	enum { N = 100000 };
	size_t cap = (size_t)N * 16 + 1024, len = 0;
	char *src = malloc(cap);
	assert_non_null(src);
	len += (size_t)snprintf(src + len, cap - len, "let BIG_STRINGS = {");
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(src + len, cap - len, "%s\"s%d\"", i ? "," : "", i);
	len += (size_t)snprintf(src + len, cap - len,
	                        "}\nrule strings when end_user.language in BIG_STRINGS then approve\n"
	                        "rule strings2 when wallet.device_country not in BIG_STRINGS then approve\n"
	                        "rule ints when card.active_tokens in {");
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(src + len, cap - len, "%s%d", i ? "," : "", i * 3);
	len += (size_t)snprintf(src + len, cap - len, "} then approve\n");

	double t0 = now_s();
	stepup_ruleset *rs = th_compile("big.rules", src, NULL);
	double dt = now_s() - t0;
	assert_non_null(rs);
	assert_int_equal(stepup_ruleset_rule_count(rs), 3);
	stepup_ruleset_unref(rs);
	/* Linear work is a few tens of milliseconds here; a quadratic pass
	 * over 100k items takes far longer. Valgrind slows everything ~50x. */
#if defined(__SANITIZE_ADDRESS__)
	const double limit = 20.0;  /* ASan+UBSan slow this loop about tenfold */
#else
	const double limit = 2.0;
#endif
	if (dt > (th_under_valgrind() ? 60.0 : limit)) {
		free(src);
		fail_msg("two 100k-item sets took %.2f s to compile", dt);
	}

	stepup_engine *e = th_engine(src, th_settings_full);
	th_result r = th_decide_patched(
		e, "{\"end_user\":{\"language\":\"s99999\"},\"card\":{\"active_tokens\":299997}}");
	assert_true(th_fired(&r, "strings"));
	assert_true(th_fired(&r, "strings2"));
	assert_true(th_fired(&r, "ints"));
	th_result_free(&r);
	r = th_decide_patched(e, "{\"end_user\":{\"language\":\"s100000\"},\"card\":{\"active_tokens\":299998},"
	                         "\"wallet\":{\"device_country\":\"s0\"}}");
	assert_false(th_fired(&r, "strings"));
	assert_false(th_fired(&r, "strings2"));
	assert_false(th_fired(&r, "ints"));
	th_result_free(&r);
	stepup_engine_free(e);
	free(src);
}

static void oversized_source_refused(void **state)
{
	(void)state;
	size_t n = (16u << 20) + 1;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	stepup_compiler *c = stepup_compiler_new();
	assert_int_equal(stepup_compiler_add_source(c, "big.rules", big, n), STEPUP_ETOOBIG);
	assert_true(stepup_compiler_error_count(c) >= 1);
	stepup_compiler_free(c);
	free(big);
}

/* Keywords are reserved and lower-case; names are case-sensitive. */
static void keywords_reserved_and_case_sensitive(void **state)
{
	(void)state;
	static const dc_one_error cases[] = {
		{ "let when = 3\n", 1, 5, "syntax error: unexpected 'when', expecting name", 0 },
		{ "RULE a when card.state == CLOSED then decline\n", 1, 1, "syntax error: unexpected name", 0 },
		{ "rule a when card.state == closed then decline\n", 1, 27, "unknown card state 'closed'", 0 },
		{ "rule a when card.state == CLOSED then Decline\n", 1, 39,
		  "syntax error: unexpected name, expecting 'decline', 'approve' or 'step_up'", 0 },
	};
	dc_expect_one_error_each(cases, TH_N(cases));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		PARSER_DSL_FILES(DC_CASE)
		DC_ALL_LISTED(dsl_suite),
		cmocka_unit_test(header_names_the_ruleset),
		cmocka_unit_test(header_must_come_first),
		cmocka_unit_test(empty_and_comment_only_sources),
		cmocka_unit_test(all_constructs_file_loads),
		cmocka_unit_test(outcomes),
		cmocka_unit_test(channel_policy),
		cmocka_unit_test(precedence),
		cmocka_unit_test(comparisons_all_operators),
		cmocka_unit_test(string_escapes),
		cmocka_unit_test(syntax_error_rendering_exact),
		cmocka_unit_test(rendering_caret_span_and_tabs),
		cmocka_unit_test(three_syntax_errors_three_rules),
		cmocka_unit_test(recovery_reports_error_early_in_next_declaration),
		cmocka_unit_test(syntax_error_cap),
		cmocka_unit_test(syntax_error_at_end_of_file),
		cmocka_unit_test(lexical_errors_exact),
		cmocka_unit_test(non_ascii_character_is_one_error),
		cmocka_unit_test(nul_byte_and_missing_file),
		cmocka_unit_test(invalid_utf8_strings_refused),
		cmocka_unit_test(diagnostics_never_carry_card_numbers),
		cmocka_unit_test(file_names_checked),
		cmocka_unit_test(multiple_files_keep_their_names),
		cmocka_unit_test(nesting_limit_not),
		cmocka_unit_test(nesting_limit_and_or),
		cmocka_unit_test(nesting_limit_parentheses),
		cmocka_unit_test(nesting_deep_calls_fail_cleanly),
		cmocka_unit_test(large_sets_compile_fast),
		cmocka_unit_test(oversized_source_refused),
		cmocka_unit_test(keywords_reserved_and_case_sensitive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
