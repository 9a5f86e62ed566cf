/* test_fmt.c: the formatter (dsl/fmt.c, stepup_compiler_format).
 *
 *   - every rules file of the source tree that parses formats to text
 *     that parses to the same declarations, keeps every comment, and
 *     formats to itself (idempotence); every file that does not parse is
 *     refused with its diagnostics and no text;
 *   - the shipped rules are formatted already (the CLI test runs
 *     `stepup fmt --check` on them too);
 *   - the layout choices of docs/language.md §12, one input each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dsl_cases.h"
#include "helpers.h"
#include "diag.h"
#include "fmt.h"
#include "parse_ctx.h"

/* fmt through the public API: the text, or NULL with *rc set. */
static char *fmt_src(const char *name, const char *src, size_t len, int *rc)
{
	stepup_compiler *c = stepup_compiler_new();
	char *out = NULL;
	size_t outlen = 0;
	assert_non_null(c);
	*rc = stepup_compiler_format(c, name, src, len, &out, &outlen);
	if (*rc == STEPUP_OK) {
		assert_non_null(out);
		assert_int_equal(strlen(out), outlen);
	} else {
		assert_null(out);
		assert_true(stepup_compiler_error_count(c) > 0);
	}
	stepup_compiler_free(c);
	return out;
}

/* The declarations of src without locations, NULL when it does not parse;
 * *ncomments gets its comments. */
static char *dump_of(const char *src, size_t len, size_t *ncomments)
{
	su_diags d;
	char *dump = NULL;
	su_diags_init(&d);
	assert_int_equal(su_diags_add_source(&d, "t.rules", src, len), 0);
	su_file *f = su_parse_keep_comments(&d, 0);
	assert_non_null(f);
	if (d.nerrors == 0)
		dump = su_file_dump(f);
	*ncomments = f->ncomments;
	su_file_free(f);
	su_diags_fini(&d);
	return dump;
}

static char *read_all(const char *path, size_t *len)
{
	char *buf = dc_read_file(path, len);
	if (!buf)
		fail_msg("cannot read %s", path);
	return buf;
}

static size_t nformatted, nrefused;

static void check_file(const char *path)
{
	size_t len, n1, n2, c0, c1;
	int rc;
	char *src = read_all(path, &len);
	char *d0 = dump_of(src, len, &c0);
	char *f1 = fmt_src(path, src, len, &rc);

	if (!d0) {
		/* Broken files are refused, never rewritten. */
		assert_int_equal(rc, STEPUP_ECOMPILE);
		nrefused++;
		free(src);
		return;
	}
	if (rc != STEPUP_OK)
		fail_msg("%s: parses but fmt refuses it (%d)", path, rc);
	n1 = strlen(f1);
	char *d1 = dump_of(f1, n1, &c1);
	if (!d1 || strcmp(d0, d1) != 0)
		fail_msg("%s: formatted text parses differently:\n%s\n---\n%s", path, d0, d1 ? d1 : "(errors)");
	if (c0 != c1)
		fail_msg("%s: %zu comments, %zu after fmt", path, c0, c1);
	char *f2 = fmt_src(path, f1, n1, &rc);
	assert_int_equal(rc, STEPUP_OK);
	n2 = strlen(f2);
	if (n1 != n2 || memcmp(f1, f2, n1) != 0)
		fail_msg("%s: fmt is not idempotent:\n%s\n---\n%s", path, f1, f2);
	nformatted++;
	free(d0);
	free(d1);
	free(f1);
	free(f2);
	free(src);
}

static void walk(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[4096];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			walk(path);
		else if (strlen(e->d_name) > 6 && strcmp(e->d_name + strlen(e->d_name) - 6, ".rules") == 0)
			check_file(path);
	}
	closedir(d);
}

static void every_rules_file_of_the_tree(void **state)
{
	(void)state;
	static const char *const dirs[] = { "rules", "tests", "fuzz/corpus", "docs" };
	for (size_t i = 0; i < TH_N(dirs); i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", SRCDIR, dirs[i]);
		walk(path);
	}
	/* The tree has both kinds; a walk that found nothing proves nothing. */
	assert_true(nformatted >= 30);
	assert_true(nrefused >= 5);
}

static void shipped_rules_are_formatted(void **state)
{
	(void)state;
	static const char *const files[] = { "rules/default.rules", "rules/schema/tokenization.rules" };
	for (size_t i = 0; i < TH_N(files); i++) {
		char path[4096];
		size_t len;
		int rc;
		snprintf(path, sizeof(path), "%s/%s", SRCDIR, files[i]);
		char *src = read_all(path, &len);
		char *out = fmt_src(path, src, len, &rc);
		assert_int_equal(rc, STEPUP_OK);
		assert_string_equal(out, src);
		free(out);
		free(src);
	}
}

static void expect_fmt(const char *in, const char *want)
{
	int rc;
	char *out = fmt_src("t.rules", in, strlen(in), &rc);
	if (rc != STEPUP_OK)
		fail_msg("fmt refused:\n%s", in);
	if (strcmp(out, want) != 0)
		fail_msg("fmt of\n%s\ngave\n%s\nwanted\n%s", in, out, want);
	free(out);
}

static void layout_choices(void **state)
{
	(void)state;
	/* A rule on three lines, single spaces, one blank line around it. */
	expect_fmt("rule a when   x.y==1 then decline rule b \"B\" when x.z then step_up only OTP_SMS,IN_APP line FRAUD",
	           "rule a\n  when x.y == 1\n  then decline\n\nrule b \"B\"\n  when x.z\n  then step_up only OTP_SMS, IN_APP line FRAUD\n");
	/* Method and let names aligned in a run; a blank line ends the run. */
	expect_fmt("method IN_APP when a.b\nmethod CUSTOMER_SERVICE always\n\nmethod OTP_SMS always\nlet A=1\nlet LONGER = {X,Y}\n",
	           "method IN_APP           when a.b\nmethod CUSTOMER_SERVICE always\n\n"
	           "method OTP_SMS always\nlet A      = 1\nlet LONGER = {X, Y}\n");
	/* Line breaks between and/or operands are kept, operators first,
	 * right-aligned under `when`; parentheses only where they matter, and
	 * around an `and` inside an `or` and a comparison under `not`. */
	expect_fmt("rule a when ((x.a == 1)) and x.b\nand (x.c or x.d) or x.e and not x.f == 2 or not x.g then approve",
	           "rule a\n  when (x.a == 1 and x.b\n        and (x.c or x.d)) or (x.e and not (x.f == 2)) or not x.g\n  then approve\n");
	expect_fmt("rule a when x.a\n or x.b and x.c\n or x.d then approve",
	           "rule a\n  when x.a\n    or (x.b and x.c)\n    or x.d\n  then approve\n");
	expect_fmt("rule a when x.a or (x.b or x.c) then approve",
	           "rule a\n  when x.a or (x.b or x.c)\n  then approve\n");
	/* In a method, a broken chain goes on under `when`. */
	expect_fmt("method OTP_SMS when end_user.phone is present\n and not end_user.otp_exhausted\n",
	           "method OTP_SMS when end_user.phone is present\n               and not end_user.otp_exhausted\n");
	/* Sets: a member per line, 4 in, when the first member is on its
	 * own line; otherwise under the first member. */
	expect_fmt("let S = {\n A, B,\n C}\nlet T = {X,\n Y}\n",
	           "let S = {\n    A, B,\n    C\n}\nlet T = {X,\n         Y}\n");
	/* Comments: kept where they were, trailing ones aligned. */
	expect_fmt("# head\n\n\n\nrule a # name\n  when x.a # first\n   or x.b\n  # before then\n  then decline # end\n# tail\n",
	           "# head\n\nrule a      # name\n  when x.a  # first\n    or x.b\n  # before then\n  then decline  # end\n# tail\n");
	/* Strings keep their escapes; decimals their digits; CRLF becomes LF. */
	expect_fmt("rule a when x.s == \"q\\\"b\\\\n\\t\" or x.n < 2.50 then approve\r\n",
	           "rule a\n  when x.s == \"q\\\"b\\\\n\\t\" or x.n < 2.50\n  then approve\n");
	/* Field lines keep their breaks, continuation 2 in; sets under `{`. */
	expect_fmt("field a.b \"d\"\n enum {A,\n B} summary\nfield c int 0..5 default 3\nschema none\n",
	           "field a.b \"d\"\n  enum {A,\n        B} summary\nfield c int 0..5 default 3\nschema none\n");
	/* Empty and comment-only sources. */
	expect_fmt("", "");
	expect_fmt("  \n\n", "");
	expect_fmt("# only\n\n# comments  \n", "# only\n\n# comments\n");
}

static void broken_sources_are_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"rule a when x then",            /* syntax */
		"rule a when x.y == \"unterminated then decline",
		"rule a when x.y == 3x then decline",
		"rule a when x then step_up line URGENT",
		"ruleset \"4111111111111111\"",  /* a card number in rule text */
	};
	for (size_t i = 0; i < TH_N(bad); i++) {
		int rc;
		char *out = fmt_src("t.rules", bad[i], strlen(bad[i]), &rc);
		assert_null(out);
		assert_int_equal(rc, STEPUP_ECOMPILE);
	}
	/* A NUL byte is refused before parsing. */
	int rc;
	assert_null(fmt_src("t.rules", "rule a\0", 7, &rc));
	assert_int_not_equal(rc, STEPUP_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout_choices),
		cmocka_unit_test(broken_sources_are_refused),
		cmocka_unit_test(shipped_rules_are_formatted),
		cmocka_unit_test(every_rules_file_of_the_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
