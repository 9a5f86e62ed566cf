/* dsl_cases.h: compile fixtures shared by test_parser and test_check, and
 * the runner for the data-driven cases under tests/dsl (format:
 * tests/dsl/README.md).
 * Include after <setjmp.h>, <stdarg.h>, <stddef.h> and <cmocka.h>. */
#ifndef STEPUP_TEST_DSL_CASES_H
#define STEPUP_TEST_DSL_CASES_H

#include <stddef.h>
#include <stepup/stepup.h>

/* ---- compile fixtures ---------------------------------------------------- */

/* Plugins whose rule functions every compile below may call (NULL: none);
 * set by a test binary that needs them (test_rulefn). */
extern const stepup_plugins *dc_plugins;

/* A compiler with its sources compiled: rc is the status of the compile
 * (or of adding the source, for dc_compile_named). */
typedef struct dc_comp {
	stepup_compiler *c;
	stepup_ruleset *rs;
	int rc;
} dc_comp;

/* Compile one or more (name, source) pairs, NULL-terminated; every source
 * must be accepted by stepup_compiler_add_source. */
dc_comp dc_compile_files(const char *const *pairs);
/* Compile `src` as "t.rules". */
dc_comp dc_compile_src(const char *src);
/* Compile `len` bytes named `name`; compiles only if adding the source
 * succeeded, else rc is what stepup_compiler_add_source returned. */
dc_comp dc_compile_named(const char *name, const char *src, size_t len);
void dc_free(dc_comp *k);

/* Compile `src` as "t.rules" and return every rendered diagnostic
 * (malloc'd), with the number of errors in *nerr. */
char *dc_compile_diags(const char *src, size_t *nerr);

/* Rendered diagnostic i (malloc'd); checks the length the renderer reports. */
char *dc_render(const stepup_compiler *c, size_t i);
/* Every rendered diagnostic, for failure messages (malloc'd). */
char *dc_render_all(const stepup_compiler *c);

/* Diagnostic i is `sev` in `file` at line:col and contains msg. */
void dc_expect_diag(const dc_comp *k, size_t i, stepup_severity sev, const char *file, unsigned line,
                    unsigned col, const char *msg);
/* Exactly one diagnostic, an error at line:col containing msg, and no
 * ruleset. */
void dc_expect_one_error(const dc_comp *k, unsigned line, unsigned col, const char *msg);
/* The source compiled to a ruleset. */
void dc_expect_ok(const dc_comp *k);
/* The compile failed with exactly n diagnostics, all errors. */
void dc_expect_errors(const dc_comp *k, size_t n);

/* A source that must fail with exactly one error at line:col containing
 * msg; when end_col is not 0, the error's span ends there. */
typedef struct dc_one_error {
	const char *src;
	unsigned line, col;
	const char *msg;
	unsigned end_col;
} dc_one_error;
/* Compile each case with dc_compile_src and check it as
 * dc_expect_one_error does; a failure names the case's source. */
void dc_expect_one_error_each(const dc_one_error *cases, size_t n);

/* A whole file (malloc'd, NUL-terminated), NULL when it cannot be read. */
char *dc_read_file(const char *path, size_t *len);

/* ---- data-driven cases (tests/dsl) --------------------------------------- */

/* Test: compile SRCDIR/tests/dsl/<rel> (rel is *state) and compare every
 * diagnostic with the file's "# ERROR/WARNING/NOTE line:col message"
 * expectations. */
void dc_file(void **state);

/* The cases one test binary runs: every .rules file in `dirs` (folders
 * under tests/dsl) must be in `files` ("dir/name.rules"). */
typedef struct dc_suite {
	const char *binary; /* the test source, for messages */
	const char *const *dirs;
	size_t ndirs;
	const char *const *files;
	size_t nfiles;
} dc_suite;

/* Define the suite `name` of test source `binary` from two arrays. */
#define DC_SUITE(name, binary, dirs, files)                                            \
	const dc_suite name = { binary, dirs, sizeof(dirs) / sizeof((dirs)[0]), files, \
		                sizeof(files) / sizeof((files)[0]) }

/* Test: every .rules file in the suite's folders is listed (so it runs),
 * and every listed file exists. *state is a const dc_suite *. */
void dc_all_listed(void **state);

/* With a list macro LIST(X) that applies X to each "dir/name.rules":
 *   static const char *const files[] = { LIST(DC_LISTED) };
 *   tests[] = { LIST(DC_CASE) DC_ALL_LISTED(suite), ... } */
#define DC_LISTED(rel) rel,
#define DC_CASE(rel) { "dsl " rel, dc_file, NULL, NULL, (void *)(rel) },
#define DC_ALL_LISTED(suite) { "dsl_cases_all_listed", dc_all_listed, NULL, NULL, (void *)&(suite) }

#endif
