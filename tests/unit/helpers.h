/* helpers.h: shared fixtures for the cmocka unit tests.
 * Include after <setjmp.h>, <stdarg.h>, <stddef.h> and <cmocka.h>. */
#ifndef STEPUP_TEST_HELPERS_H
#define STEPUP_TEST_HELPERS_H

#include <stddef.h>
#include <stepup/stepup.h>

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* Settings with every method servable (app id, both lines). */
extern const char *const th_settings_full;

/* Compile `src` (named `name`) and return the ruleset, or NULL; when not
 * NULL, *diags receives all rendered diagnostics (malloc'd, free it). */
stepup_ruleset *th_compile(const char *name, const char *src, char **diags);

/* Compile src and build an engine with `settings` (may be NULL); fails the
 * test on any error. */
stepup_engine *th_engine(const char *src, const char *settings);
/* Engine on rules/default.rules with th_settings_full. */
stepup_engine *th_default_engine(void);

/* A decided request. Free with th_result_free. */
typedef struct th_result {
	int rc;                  /* stepup_decide_json status */
	char *json;              /* response (or error object) */
	stepup_outcome outcome;
	size_t nfired;
	char fired[64][64];      /* fired rule names in order */
	size_t nmethods;
	stepup_method methods[STEPUP_METHOD_COUNT];
	stepup_cs_line line;
} th_result;

/* Decide a JSON request text. */
th_result th_decide(const stepup_engine *e, const char *json);
/* Decide a request built from the canonical GREEN request of the default
 * policy with `patch` (a JSON object) merged in key by key, recursively;
 * a null value in the patch removes the key. */
th_result th_decide_patched(const stepup_engine *e, const char *patch);
void th_result_free(th_result *r);
int th_fired(const th_result *r, const char *rule);
/* Base request (valid, GREEN under the default rules and full settings). */
extern const char *const th_base_request;

#endif
