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

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helpers.h"

/* ---- small local fixtures ---------------------------------------------- */

typedef struct comp {
	stepup_compiler *c;
	stepup_ruleset *rs;
	int rc;
} comp;

static comp compile_named(const char *name, const char *src, size_t len)
{
	comp k = { stepup_compiler_new(), NULL, 0 };
	assert_non_null(k.c);
	k.rc = stepup_compiler_add_source(k.c, name, src, len);
	if (k.rc == STEPUP_OK)
		k.rc = stepup_compiler_compile(k.c, &k.rs);
	return k;
}

static comp compile_src(const char *src)
{
	return compile_named("t.rules", src, strlen(src));
}

static void comp_free(comp *k)
{
	stepup_ruleset_unref(k->rs);
	stepup_compiler_free(k->c);
	k->rs = NULL;
	k->c = NULL;
}

/* Rendered diagnostic i (malloc'd). */
static char *render(const stepup_compiler *c, size_t i)
{
	size_t need = stepup_compiler_render_diag(c, i, NULL, 0);
	char *buf = malloc(need + 1);
	assert_non_null(buf);
	assert_int_equal(stepup_compiler_render_diag(c, i, buf, need + 1), need);
	assert_int_equal(strlen(buf), need);
	return buf;
}

/* Every rendered diagnostic, for failure messages (malloc'd). */
static char *render_all(const stepup_compiler *c)
{
	size_t len = 0;
	char *out = calloc(1, 1);
	for (size_t i = 0; i < stepup_compiler_diag_count(c); i++) {
		char *r = render(c, i);
		out = realloc(out, len + strlen(r) + 1);
		assert_non_null(out);
		memcpy(out + len, r, strlen(r) + 1);
		len += strlen(r);
		free(r);
	}
	return out;
}

/* Assert exactly one diagnostic, an error at line:col containing msg. */
static void expect_one_error(const comp *k, unsigned line, unsigned col, const char *msg)
{
	char *all = render_all(k->c);
	const stepup_diag *d = stepup_compiler_diag(k->c, 0);
	if (k->rc != STEPUP_ECOMPILE || k->rs || stepup_compiler_diag_count(k->c) != 1 ||
	    stepup_compiler_error_count(k->c) != 1 || d->severity != STEPUP_DIAG_ERROR ||
	    d->line != line || d->col != col || !strstr(d->message, msg))
		fail_msg("expected one error at %u:%u containing \"%s\"; rc=%d, got:\n%s", line, col, msg,
		         k->rc, all);
	free(all);
}

static void expect_ok(const comp *k)
{
	if (k->rc != STEPUP_OK || !k->rs) {
		char *all = render_all(k->c);
		fail_msg("expected the source to compile; rc=%d:\n%s", k->rc, all);
	}
}

/* ---- data-driven cases (tests/dsl) ------------------------------------- */

typedef struct expectation {
	stepup_severity sev;
	unsigned line, col;
	char msg[400];
	int matched;
} expectation;

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static size_t parse_expectations(const char *text, expectation *ex, size_t max)
{
	static const struct { const char *tag; stepup_severity sev; } tags[] = {
		{ "# ERROR ", STEPUP_DIAG_ERROR },
		{ "# WARNING ", STEPUP_DIAG_WARNING },
		{ "# NOTE ", STEPUP_DIAG_NOTE },
	};
	size_t n = 0;
	for (const char *p = text; *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		for (size_t t = 0; t < 3; t++) {
			size_t tl = strlen(tags[t].tag);
			int used = 0;
			if (strncmp(q, tags[t].tag, tl) != 0)
				continue;
			assert_true(n < max);
			ex[n].sev = tags[t].sev;
			if (sscanf(q + tl, "%u:%u %n", &ex[n].line, &ex[n].col, &used) != 2 || !used)
				fail_msg("malformed expectation: %.*s", (int)len, p);
			size_t ml = len - (size_t)(q + tl + used - p);
			if (ml >= sizeof(ex[n].msg))
				ml = sizeof(ex[n].msg) - 1;
			memcpy(ex[n].msg, q + tl + used, ml);
			ex[n].msg[ml] = '\0';
			ex[n].matched = 0;
			n++;
		}
		p += len + (eol ? 1 : 0);
	}
	return n;
}

/* Compile SRCDIR/tests/dsl/<rel> and compare every diagnostic with the
 * file's expectations. */
static void dsl_file(void **state)
{
	const char *rel = *state;
	char path[1024], report[16384] = "";
	size_t len, nex, nerr_ex = 0, problems = 0;
	expectation ex[128];

	snprintf(path, sizeof(path), "%s/tests/dsl/%s", SRCDIR, rel);
	char *text = read_file(path, &len);
	if (!text)
		fail_msg("cannot read %s", path);
	nex = parse_expectations(text, ex, 128);
	for (size_t i = 0; i < nex; i++)
		nerr_ex += ex[i].sev == STEPUP_DIAG_ERROR;

	comp k = compile_named(rel, text, len);
	size_t nd = stepup_compiler_diag_count(k.c);
	for (size_t i = 0; i < nd; i++) {
		const stepup_diag *d = stepup_compiler_diag(k.c, i);
		size_t j;
		if (strcmp(d->file, rel) != 0) {
			problems++;
			snprintf(report + strlen(report), sizeof(report) - strlen(report),
			         "diagnostic names file '%s', expected '%s'\n", d->file, rel);
		}
		for (j = 0; j < nex; j++)
			if (!ex[j].matched && ex[j].sev == d->severity && ex[j].line == d->line &&
			    ex[j].col == d->col && strstr(d->message, ex[j].msg))
				break;
		if (j < nex) {
			ex[j].matched = 1;
			continue;
		}
		problems++;
		char *r = render(k.c, i);
		snprintf(report + strlen(report), sizeof(report) - strlen(report),
		         "unexpected diagnostic:\n%s", r);
		free(r);
	}
	for (size_t j = 0; j < nex; j++)
		if (!ex[j].matched) {
			problems++;
			snprintf(report + strlen(report), sizeof(report) - strlen(report),
			         "missing %s at %u:%u containing \"%s\"\n",
			         ex[j].sev == STEPUP_DIAG_ERROR ? "error"
			         : ex[j].sev == STEPUP_DIAG_WARNING ? "warning" : "note",
			         ex[j].line, ex[j].col, ex[j].msg);
		}
	if (nerr_ex == 0 && (k.rc != STEPUP_OK || !k.rs)) {
		problems++;
		snprintf(report + strlen(report), sizeof(report) - strlen(report),
		         "expected the file to compile, rc=%d\n", k.rc);
	}
	if (nerr_ex > 0 && (k.rc != STEPUP_ECOMPILE || k.rs)) {
		problems++;
		snprintf(report + strlen(report), sizeof(report) - strlen(report),
		         "expected STEPUP_ECOMPILE, rc=%d\n", k.rc);
	}
	size_t nerr_diags = 0;
	for (size_t i = 0; i < nd; i++)
		nerr_diags += stepup_compiler_diag(k.c, i)->severity == STEPUP_DIAG_ERROR;
	if (stepup_compiler_error_count(k.c) != nerr_diags) {
		problems++;
		snprintf(report + strlen(report), sizeof(report) - strlen(report),
		         "error_count %zu but %zu error diagnostics\n", stepup_compiler_error_count(k.c), nerr_diags);
	}
	comp_free(&k);
	free(text);
	if (problems)
		fail_msg("%s: %zu problem(s)\n%s", rel, problems, report);
}

#define DSL_CASE(rel) { "dsl " rel, dsl_file, NULL, NULL, (void *)(rel) }

static const char *const dsl_listed[] = {
	"ok/all-constructs.rules",
	"syntax/three-errors.rules",
	"syntax/lexical.rules",
	"syntax/grammar.rules",
};

/* Every file under tests/dsl/{ok,syntax} is listed above (so it runs). */
static void dsl_cases_all_listed(void **state)
{
	static const char *const dirs[] = { "ok", "syntax" };
	(void)state;
	for (size_t d = 0; d < 2; d++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/tests/dsl/%s", SRCDIR, dirs[d]);
		DIR *dir = opendir(path);
		struct dirent *e;
		size_t seen = 0;
		assert_non_null(dir);
		while ((e = readdir(dir))) {
			char rel[600];
			size_t n = strlen(e->d_name), i;
			if (n < 6 || strcmp(e->d_name + n - 6, ".rules") != 0)
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", dirs[d], e->d_name);
			for (i = 0; i < sizeof(dsl_listed) / sizeof(dsl_listed[0]); i++)
				if (strcmp(dsl_listed[i], rel) == 0)
					break;
			if (i == sizeof(dsl_listed) / sizeof(dsl_listed[0]))
				fail_msg("tests/dsl/%s is not listed in test_parser.c", rel);
			seen++;
		}
		closedir(dir);
		assert_true(seen > 0);
	}
}

/* ---- header, declarations, outcomes ------------------------------------ */

static void header_names_the_ruleset(void **state)
{
	(void)state;
	comp k = compile_src("ruleset \"issuer-x\"\nrule a when card.state == CLOSED then decline\n");
	expect_ok(&k);
	assert_string_equal(stepup_ruleset_name(k.rs), "issuer-x");
	assert_int_equal(stepup_ruleset_rule_count(k.rs), 1);
	comp_free(&k);

	k = compile_src("rule a when card.state == CLOSED then decline\n");
	expect_ok(&k);
	assert_string_equal(stepup_ruleset_name(k.rs), "unnamed");
	comp_free(&k);

	/* A name with escapes. */
	k = compile_src("ruleset \"a\\\"b\\\\c\"\n");
	expect_ok(&k);
	assert_string_equal(stepup_ruleset_name(k.rs), "a\"b\\c");
	assert_int_equal(stepup_ruleset_rule_count(k.rs), 0);
	comp_free(&k);
}

static void header_must_come_first(void **state)
{
	(void)state;
	comp k = compile_src("rule a when card.state == CLOSED then decline\nruleset \"late\"\n");
	expect_one_error(&k, 2, 1, "syntax error: unexpected 'ruleset'");
	comp_free(&k);

	k = compile_src("ruleset issuer\n");
	expect_one_error(&k, 1, 9, "syntax error: unexpected name, expecting string");
	comp_free(&k);
}

static void empty_and_comment_only_sources(void **state)
{
	(void)state;
	comp k = compile_named("empty.rules", "", 0);
	expect_ok(&k);
	assert_int_equal(stepup_ruleset_rule_count(k.rs), 0);
	assert_int_equal(stepup_compiler_diag_count(k.c), 0);
	comp_free(&k);

	k = compile_src("# nothing but a comment, and no final newline");
	expect_ok(&k);
	assert_int_equal(stepup_ruleset_rule_count(k.rs), 0);
	comp_free(&k);

	/* Comments between every token, including inside a condition. */
	k = compile_src("rule # name next\n a # desc next\n \"d\" # when next\n when # cond\n"
	                " card.state # op\n == # value\n CLOSED # then\n then # outcome\n decline # end");
	expect_ok(&k);
	assert_int_equal(stepup_ruleset_rule_count(k.rs), 1);
	assert_int_equal(stepup_compiler_diag_count(k.c), 0);
	comp_free(&k);
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
	r = th_decide_patched(e, "{\"wallet\":{\"device_country\":\"\"}}");
	assert_true(th_fired(&r, "empty"));
	th_result_free(&r);
	stepup_engine_free(e);
}

/* ---- rendering ---------------------------------------------------------- */

static void syntax_error_rendering_exact(void **state)
{
	(void)state;
	const char *src = "ruleset \"x\"\n\nrule a when card.state = ACTIVE then decline\n";
	comp k = compile_named("rules/issuer.rules", src, strlen(src));
	expect_one_error(&k, 3, 24, "syntax error: unexpected '='");
	const stepup_diag *d = stepup_compiler_diag(k.c, 0);
	assert_string_equal(d->file, "rules/issuer.rules");
	assert_int_equal(d->end_line, 3);
	assert_int_equal(d->end_col, 24);
	char *r = render(k.c, 0);
	assert_string_equal(r,
		"rules/issuer.rules:3:24: error: syntax error: unexpected '='\n"
		"  rule a when card.state = ACTIVE then decline\n"
		"                         ^\n");
	free(r);
	comp_free(&k);
}

static void rendering_caret_span_and_tabs(void **state)
{
	(void)state;
	/* A multi-byte token: ^ then ~ to its last byte. */
	comp k = compile_src("rule a when card.state == ACTIVE then\nrule b when x then decline\n");
	expect_one_error(&k, 2, 1, "syntax error: unexpected 'rule', expecting 'decline', 'approve' or 'step_up'");
	char *r = render(k.c, 0);
	assert_string_equal(r,
		"t.rules:2:1: error: syntax error: unexpected 'rule', expecting 'decline', 'approve' or 'step_up'\n"
		"  rule b when x then decline\n"
		"  ^~~~\n");
	free(r);
	comp_free(&k);

	/* Columns count bytes; a tab in the source stays a tab in the caret
	 * line so the caret lines up. */
	k = compile_src("\trule a when card.state = ACTIVE then decline\n");
	expect_one_error(&k, 1, 25, "unexpected '='");
	r = render(k.c, 0);
	assert_string_equal(r,
		"t.rules:1:25: error: syntax error: unexpected '='\n"
		"  \trule a when card.state = ACTIVE then decline\n"
		"  \t                       ^\n");
	free(r);
	comp_free(&k);

	/* Render into a short buffer: snprintf semantics. */
	k = compile_src("rule a when card.state = ACTIVE then decline\n");
	char small[16];
	size_t need = stepup_compiler_render_diag(k.c, 0, NULL, 0);
	memset(small, 'X', sizeof(small));
	assert_int_equal(stepup_compiler_render_diag(k.c, 0, small, sizeof(small)), need);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, "t.rules:1:24: e", 15);
	/* Out of range index renders nothing. */
	assert_int_equal(stepup_compiler_render_diag(k.c, 5, small, sizeof(small)), 0);
	assert_string_equal(small, "");
	comp_free(&k);
}

/* ---- error recovery ----------------------------------------------------- */

static void three_syntax_errors_three_rules(void **state)
{
	(void)state;
	comp k = compile_src(
		"rule a when card.state = ACTIVE then decline\n"
		"rule ok1 when card.state == CLOSED then decline\n"
		"rule b when card.active_tokens > then decline\n"
		"rule ok2 when card.state == CLOSED then decline\n"
		"rule c when card.active_tokens > 3 then reject\n"
		"rule ok3 when card.state == CLOSED then decline\n");
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_null(k.rs);
	if (stepup_compiler_error_count(k.c) != 3 || stepup_compiler_diag_count(k.c) != 3) {
		char *all = render_all(k.c);
		fail_msg("expected exactly 3 errors:\n%s", all);
	}
	static const unsigned lines[] = { 1, 3, 5 }, cols[] = { 24, 34, 41 };
	for (size_t i = 0; i < 3; i++) {
		const stepup_diag *d = stepup_compiler_diag(k.c, i);
		assert_int_equal(d->line, lines[i]);
		assert_int_equal(d->col, cols[i]);
		assert_non_null(strstr(d->message, "syntax error: unexpected"));
	}
	comp_free(&k);
}

/* After a syntax error the parser resynchronises on the next declaration;
 * a mistake early in that declaration is just as independent and must be
 * reported ("All independent errors are reported, not only the first"). */
static void recovery_reports_error_early_in_next_declaration(void **state)
{
	(void)state;
	comp k = compile_src(
		"rule a card.state == ACTIVE then decline\n"
		"rule b card.state == CLOSED then decline\n"
		"rule c card.state == INACTIVE then decline\n");
	size_t n = stepup_compiler_error_count(k.c);
	int bad = n != 3;
	for (size_t i = 0; !bad && i < 3; i++) {
		const stepup_diag *d = stepup_compiler_diag(k.c, i);
		bad = d->line != i + 1 || d->col != 8;
	}
	char *all = render_all(k.c);
	comp_free(&k);

	comp k2 = compile_src("rule a when card.state = ACTIVE then decline\n"
	                      "method OTP_SMS sometimes\n");
	size_t n2 = stepup_compiler_error_count(k2.c);
	char *all2 = render_all(k2.c);
	comp_free(&k2);
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
	comp k = compile_named("t.rules", src, len);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_int_equal(stepup_compiler_error_count(k.c), 50);
	assert_int_equal(stepup_compiler_diag(k.c, 49)->line, 50);
	comp_free(&k);
	free(src);
}

static void syntax_error_at_end_of_file(void **state)
{
	(void)state;
	comp k = compile_src("rule a when");
	expect_one_error(&k, 1, 8, "syntax error: unexpected end of file");
	comp_free(&k);
	k = compile_src("rule a when card.state == ACTIVE then step_up only");
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	assert_non_null(strstr(stepup_compiler_diag(k.c, 0)->message, "unexpected end of file, expecting name"));
	comp_free(&k);
}

/* ---- lexical errors ----------------------------------------------------- */

static void lexical_errors_exact(void **state)
{
	(void)state;
	comp k = compile_src("rule a when end_user.language == \"abc then decline");
	expect_one_error(&k, 1, 34, "unterminated string");
	comp_free(&k);

	k = compile_src("rule a when end_user.language == \"a\\qb\" then decline\n");
	expect_one_error(&k, 1, 36, "unknown escape '\\q' in string");
	assert_int_equal(stepup_compiler_diag(k.c, 0)->end_col, 37);
	comp_free(&k);

	k = compile_src("rule a when end_user.language == \"ok\\\\\" and card.active_tokens > 99999999999999999999 then decline\n");
	expect_one_error(&k, 1, 66, "integer '99999999999999999999' is out of range");
	assert_int_equal(stepup_compiler_diag(k.c, 0)->end_col, 85);
	comp_free(&k);

	k = compile_src("rule a when card.active_tokens > 12ab then decline\n");
	expect_one_error(&k, 1, 34, "invalid number '12ab'");
	comp_free(&k);

	k = compile_src("rule a when card.active_tokens > 3 & card.active_tokens < 9 then decline\n");
	expect_one_error(&k, 1, 36, "unexpected character '&'");
	comp_free(&k);

	k = compile_src("rule a when card.active_tokens > 3 \x7f then decline\n");
	expect_one_error(&k, 1, 36, "unexpected byte 0x7f");
	comp_free(&k);

	/* The extremes of int64 are in range. */
	k = compile_src("rule a when card.active_tokens < 9223372036854775807"
	                " and card.active_tokens > -9223372036854775808 then decline\n");
	expect_ok(&k);
	comp_free(&k);
}

/* A character outside ASCII is one mistake, whatever its UTF-8 length:
 * analysts paste typographic quotes from word processors. */
static void non_ascii_character_is_one_error(void **state)
{
	(void)state;
	comp k = compile_src("rule a when card.state == ACTIVE \xc3\xa9 then decline\n");
	size_t n1 = stepup_compiler_error_count(k.c);
	unsigned col1 = n1 ? stepup_compiler_diag(k.c, 0)->col : 0;
	char *all1 = render_all(k.c);
	comp_free(&k);

	/* \u201cUS\u201d: two characters, three bytes each. */
	k = compile_src("rule a when wallet.device_country == \xe2\x80\x9cUS\xe2\x80\x9d then decline\n");
	size_t n2 = stepup_compiler_error_count(k.c);
	char *all2 = render_all(k.c);
	comp_free(&k);
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
	char *r = render(c, 0);
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
	th_result r = th_decide_patched(e, "{}");
	assert_true(th_fired(&r, "a"));
	th_result_free(&r);
	r = th_decide_patched(e, "{\"end_user\":{\"app_enrolled\":false}}");
	assert_false(th_fired(&r, "a"));
	th_result_free(&r);
	stepup_engine_free(e);
	free(src);

	src = repeat3("rule a when ", "not ", 201, "end_user.app_enrolled", "", 0, " then approve\n");
	comp k = compile_src(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	assert_non_null(strstr(stepup_compiler_diag(k.c, 0)->message, "expression nested deeper than 200 levels"));
	assert_int_equal(stepup_compiler_diag(k.c, 0)->line, 1);
	comp_free(&k);
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
	r = th_decide_patched(e, "{\"end_user\":{\"app_enrolled\":false}}");
	assert_false(th_fired(&r, "a"));
	th_result_free(&r);
	r = th_decide_patched(e, "{\"end_user\":{\"app_enrolled\":null}}");
	assert_false(th_fired(&r, "a"));
	th_result_free(&r);
	stepup_engine_free(e);
	free(src);

	src = repeat3("rule a when ", "end_user.app_enrolled or (", 201, "end_user.app_enrolled", ")", 201,
	              " then approve\n");
	comp k = compile_src(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	assert_non_null(strstr(stepup_compiler_diag(k.c, 0)->message, "expression nested deeper than 200 levels"));
	comp_free(&k);
	free(src);
}

/* Deep parentheses or calls must not crash or exhaust the C stack; the
 * language refuses conditions nested over 200 levels with one message. */
static void nesting_limit_parentheses(void **state)
{
	(void)state;
	char *src = repeat3("rule a when ", "(", 100000, "end_user.app_enrolled", ")", 100000, " then approve\n");
	comp k = compile_src(src);
	free(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_null(k.rs);
	assert_int_equal(stepup_compiler_error_count(k.c), 1);
	char msg[600];
	snprintf(msg, sizeof(msg), "%s", stepup_compiler_diag(k.c, 0)->message);
	comp_free(&k);
	if (!strstr(msg, "expression nested deeper than 200 levels"))
		fail_msg("100000 nested parentheses: expected 'expression nested deeper than 200 levels', got '%s'", msg);
}

static void nesting_deep_calls_fail_cleanly(void **state)
{
	(void)state;
	char *src = repeat3("rule a when ", "length(", 20000, "end_user.phone", ")", 20000, " > 3 then approve\n");
	comp k = compile_src(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_null(k.rs);
	assert_true(stepup_compiler_error_count(k.c) >= 1);
	comp_free(&k);
	free(src);

	/* Moderately nested calls get a type error, not a crash. */
	src = repeat3("rule a when ", "length(", 300, "end_user.phone", ")", 300, " > 3 then approve\n");
	k = compile_src(src);
	assert_int_equal(k.rc, STEPUP_ECOMPILE);
	assert_true(stepup_compiler_error_count(k.c) >= 1);
	comp_free(&k);
	free(src);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");
	return p && strstr(p, "vgpreload") != NULL;
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
	if (dt > (under_valgrind() ? 60.0 : limit)) {
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
	comp k = compile_src("let when = 3\n");
	expect_one_error(&k, 1, 5, "syntax error: unexpected 'when', expecting name");
	comp_free(&k);

	k = compile_src("RULE a when card.state == CLOSED then decline\n");
	expect_one_error(&k, 1, 1, "syntax error: unexpected name");
	comp_free(&k);

	k = compile_src("rule a when card.state == closed then decline\n");
	expect_one_error(&k, 1, 27, "unknown card state 'closed'");
	comp_free(&k);

	k = compile_src("rule a when card.state == CLOSED then Decline\n");
	expect_one_error(&k, 1, 39, "syntax error: unexpected name, expecting 'decline', 'approve' or 'step_up'");
	comp_free(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		DSL_CASE("ok/all-constructs.rules"),
		DSL_CASE("syntax/three-errors.rules"),
		DSL_CASE("syntax/lexical.rules"),
		DSL_CASE("syntax/grammar.rules"),
		cmocka_unit_test(dsl_cases_all_listed),
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
