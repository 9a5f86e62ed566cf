/* dsl_cases.c: compile fixtures and the tests/dsl runner shared by
 * test_parser and test_check (see dsl_cases.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsl_cases.h"
#include "helpers.h"

/* ---- compile fixtures ---------------------------------------------------- */

const stepup_plugins *dc_plugins;

dc_comp dc_compile_files(const char *const *pairs)
{
	dc_comp k = { stepup_compiler_new(), NULL, STEPUP_OK };
	assert_non_null(k.c);
	stepup_compiler_set_plugins(k.c, dc_plugins);
	for (size_t i = 0; pairs[i]; i += 2) {
		int rc = stepup_compiler_add_source(k.c, pairs[i], pairs[i + 1], strlen(pairs[i + 1]));
		assert_int_equal(rc, STEPUP_OK);
	}
	k.rc = stepup_compiler_compile(k.c, &k.rs);
	return k;
}

dc_comp dc_compile_src(const char *src)
{
	const char *pairs[] = { "t.rules", src, NULL };
	return dc_compile_files(pairs);
}

/* One source; when must_add, adding it has to succeed. */
static dc_comp compile_one(const char *name, const char *src, size_t len, int must_add)
{
	dc_comp k = { stepup_compiler_new(), NULL, STEPUP_OK };
	assert_non_null(k.c);
	stepup_compiler_set_plugins(k.c, dc_plugins);
	/* tests/dsl/lint: the lints of --strict. */
	if (strncmp(name, "lint/", 5) == 0)
		stepup_compiler_set_flags(k.c, STEPUP_COMPILE_STRICT);
	k.rc = stepup_compiler_add_source(k.c, name, src, len);
	if (must_add)
		assert_int_equal(k.rc, STEPUP_OK);
	if (k.rc == STEPUP_OK)
		k.rc = stepup_compiler_compile(k.c, &k.rs);
	return k;
}

dc_comp dc_compile_named(const char *name, const char *src, size_t len)
{
	return compile_one(name, src, len, 0);
}

void dc_free(dc_comp *k)
{
	stepup_ruleset_unref(k->rs);
	stepup_compiler_free(k->c);
	k->rs = NULL;
	k->c = NULL;
}

char *dc_compile_diags(const char *src, size_t *nerr)
{
	dc_comp k = dc_compile_src(src);
	char *all = dc_render_all(k.c);
	*nerr = stepup_compiler_error_count(k.c);
	dc_free(&k);
	return all;
}

char *dc_render(const stepup_compiler *c, size_t i)
{
	size_t need = stepup_compiler_render_diag(c, i, NULL, 0);
	char *buf = malloc(need + 1);
	assert_non_null(buf);
	assert_int_equal(stepup_compiler_render_diag(c, i, buf, need + 1), need);
	assert_int_equal(strlen(buf), need);
	return buf;
}

char *dc_render_all(const stepup_compiler *c)
{
	size_t len = 0;
	char *out = calloc(1, 1);
	for (size_t i = 0; i < stepup_compiler_diag_count(c); i++) {
		char *r = dc_render(c, i);
		out = realloc(out, len + strlen(r) + 1);
		assert_non_null(out);
		memcpy(out + len, r, strlen(r) + 1);
		len += strlen(r);
		free(r);
	}
	return out;
}

void dc_expect_diag(const dc_comp *k, size_t i, stepup_severity sev, const char *file, unsigned line,
                    unsigned col, const char *msg)
{
	const stepup_diag *d = stepup_compiler_diag(k->c, i);
	if (!d || d->severity != sev || strcmp(d->file, file) != 0 || d->line != line || d->col != col ||
	    !strstr(d->message, msg)) {
		char *all = dc_render_all(k->c);
		fail_msg("diagnostic %zu: expected %s:%u:%u \"%s\" (severity %d); got:\n%s", i, file, line, col, msg,
		         (int)sev, all);
	}
}

/* With src (a table case), failure messages name it. */
static void one_error(const dc_comp *k, unsigned line, unsigned col, const char *msg, const char *src)
{
	char *all = dc_render_all(k->c);
	const stepup_diag *d = stepup_compiler_diag(k->c, 0);
	if (k->rc != STEPUP_ECOMPILE || k->rs || stepup_compiler_diag_count(k->c) != 1 ||
	    stepup_compiler_error_count(k->c) != 1 || d->severity != STEPUP_DIAG_ERROR ||
	    d->line != line || d->col != col || !strstr(d->message, msg))
		fail_msg("%s%.*s%sexpected one error at %u:%u containing \"%s\"; rc=%d, got:\n%s",
		         src ? "source \"" : "", src ? (int)strcspn(src, "\n") : 0, src ? src : "", src ? "\": " : "",
		         line, col, msg, k->rc, all);
	free(all);
}

void dc_expect_one_error(const dc_comp *k, unsigned line, unsigned col, const char *msg)
{
	one_error(k, line, col, msg, NULL);
}

void dc_expect_ok(const dc_comp *k)
{
	if (k->rc != STEPUP_OK || !k->rs) {
		char *all = dc_render_all(k->c);
		fail_msg("expected the source to compile; rc=%d:\n%s", k->rc, all);
	}
}

void dc_expect_errors(const dc_comp *k, size_t n)
{
	assert_int_equal(k->rc, STEPUP_ECOMPILE);
	assert_null(k->rs);
	if (stepup_compiler_diag_count(k->c) != n || stepup_compiler_error_count(k->c) != n) {
		char *all = dc_render_all(k->c);
		fail_msg("expected exactly %zu errors:\n%s", n, all);
	}
}

void dc_expect_one_error_each(const dc_one_error *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		dc_comp k = dc_compile_src(cases[i].src);
		one_error(&k, cases[i].line, cases[i].col, cases[i].msg, cases[i].src);
		if (cases[i].end_col && stepup_compiler_diag(k.c, 0)->end_col != cases[i].end_col)
			fail_msg("source \"%.*s\": error ends at column %u, expected %u", (int)strcspn(cases[i].src, "\n"),
			         cases[i].src, stepup_compiler_diag(k.c, 0)->end_col, cases[i].end_col);
		dc_free(&k);
	}
}

/* ---- data-driven cases (tests/dsl) --------------------------------------- */

typedef struct expectation {
	stepup_severity sev;
	unsigned line, col;
	char msg[400];
	int matched;
} expectation;

char *dc_read_file(const char *path, size_t *len)
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

#define APPEND(...) snprintf(report + strlen(report), sizeof(report) - strlen(report), __VA_ARGS__)

void dc_file(void **state)
{
	const char *rel = *state;
	char path[1024], report[16384] = "";
	size_t len, nex, nerr_ex = 0, problems = 0, nerr = 0;
	expectation ex[128];

	snprintf(path, sizeof(path), "%s/tests/dsl/%s", SRCDIR, rel);
	char *text = dc_read_file(path, &len);
	if (!text)
		fail_msg("cannot read %s", path);
	nex = parse_expectations(text, ex, 128);
	for (size_t i = 0; i < nex; i++)
		nerr_ex += ex[i].sev == STEPUP_DIAG_ERROR;

	dc_comp k = compile_one(rel, text, len, 1);
	for (size_t i = 0; i < stepup_compiler_diag_count(k.c); i++) {
		const stepup_diag *d = stepup_compiler_diag(k.c, i);
		size_t j;
		nerr += d->severity == STEPUP_DIAG_ERROR;
		if (strcmp(d->file, rel) != 0) {
			problems++;
			APPEND("diagnostic names file '%s', expected '%s'\n", d->file, rel);
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
		char *r = dc_render(k.c, i);
		APPEND("unexpected diagnostic:\n%s", r);
		free(r);
	}
	for (size_t j = 0; j < nex; j++)
		if (!ex[j].matched) {
			problems++;
			APPEND("missing %s at %u:%u containing \"%s\"\n",
			       ex[j].sev == STEPUP_DIAG_ERROR ? "error"
			       : ex[j].sev == STEPUP_DIAG_WARNING ? "warning" : "note",
			       ex[j].line, ex[j].col, ex[j].msg);
		}
	if (nerr_ex == 0 && (k.rc != STEPUP_OK || !k.rs)) {
		problems++;
		APPEND("expected the file to compile, rc=%d\n", k.rc);
	}
	if (nerr_ex > 0 && (k.rc != STEPUP_ECOMPILE || k.rs)) {
		problems++;
		APPEND("expected STEPUP_ECOMPILE, rc=%d\n", k.rc);
	}
	if (stepup_compiler_error_count(k.c) != nerr) {
		problems++;
		APPEND("error_count() is %zu but %zu diagnostics are errors\n", stepup_compiler_error_count(k.c),
		       nerr);
	}
	dc_free(&k);
	free(text);
	if (problems)
		fail_msg("%s: %zu problem(s)\n%s", rel, problems, report);
}

static int listed(const dc_suite *s, const char *rel)
{
	for (size_t i = 0; i < s->nfiles; i++)
		if (strcmp(s->files[i], rel) == 0)
			return 1;
	return 0;
}

void dc_all_listed(void **state)
{
	const dc_suite *s = *state;
	size_t total = 0;
	for (size_t d = 0; d < s->ndirs; d++) {
		char path[1024];
		size_t seen = 0;
		snprintf(path, sizeof(path), "%s/tests/dsl/%s", SRCDIR, s->dirs[d]);
		DIR *dir = opendir(path);
		struct dirent *e;
		if (!dir)
			fail_msg("cannot open %s", path);
		while ((e = readdir(dir))) {
			char rel[600];
			size_t n = strlen(e->d_name);
			if (n < 6 || strcmp(e->d_name + n - 6, ".rules") != 0)
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", s->dirs[d], e->d_name);
			if (!listed(s, rel)) {
				closedir(dir);
				fail_msg("tests/dsl/%s is not listed in %s", rel, s->binary);
			}
			seen++;
		}
		closedir(dir);
		if (seen == 0)
			fail_msg("no .rules file in tests/dsl/%s", s->dirs[d]);
		total += seen;
	}
	/* Every listed file exists. */
	for (size_t i = 0; i < s->nfiles; i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/tests/dsl/%s", SRCDIR, s->files[i]);
		if (access(path, R_OK) != 0)
			fail_msg("tests/dsl/%s is listed in %s but cannot be read", s->files[i], s->binary);
	}
	if (total != s->nfiles)
		fail_msg("%zu .rules file(s) under the folders of %s, but %zu listed", total, s->binary, s->nfiles);
}
