/* helpers.h: shared fixtures for the cmocka unit tests.
 * Include after <setjmp.h>, <stdarg.h>, <stddef.h> and <cmocka.h>. */
#ifndef STEPUP_TEST_HELPERS_H
#define STEPUP_TEST_HELPERS_H

#include <jansson.h>
#include <stddef.h>
#include <stepup/stepup.h>

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* Number of elements of an array. */
#define TH_N(a) (sizeof(a) / sizeof((a)[0]))

/* Settings with every method servable (app id, both lines). */
extern const char *const th_settings_full;
/* Base request (valid, GREEN under the default rules and full settings). */
extern const char *const th_base_request;

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

/* The default engine for a whole binary: a cmocka group setup that builds
 * th_default_engine() into th_default, and the teardown that frees it. */
extern stepup_engine *th_default;
int th_default_setup(void **state);
int th_default_teardown(void **state);

/* Decide a JSON request text. */
th_result th_decide(const stepup_engine *e, const char *json);
/* Decide a request built from the canonical GREEN request of the default
 * policy with `patch` (a JSON object) merged in key by key, recursively;
 * a null value in the patch removes the key. */
th_result th_decide_patched(const stepup_engine *e, const char *patch);
/* The canonical request with `patch` merged in (as th_decide_patched
 * does), as JSON text (malloc'd). */
char *th_patched(const char *patch);
void th_result_free(th_result *r);
int th_fired(const th_result *r, const char *rule);
/* Whether `rule` fires on base+patch; the decision itself must succeed. */
int th_fires(const stepup_engine *e, const char *patch, const char *rule);

/* A decision in one line: the outcome, then the rules that fired (in rule
 * order, comma-separated) and, after "->", the methods offered (in order),
 * each part left out when empty. For example "GREEN", "RED card_unknown",
 * "YELLOW phone_mismatch -> OTP_SMS,CUSTOMER_SERVICE". */
void th_summary(const th_result *r, char *buf, size_t size);

/* Decide base+patch on e and check the outcome, the exact fired rules in
 * rule order and the exact offered methods in order (both comma-separated,
 * "" for none); a failure names the patch. Returns the result for further
 * checks (free it). */
th_result th_expect(const stepup_engine *e, const char *patch, stepup_outcome outcome, const char *fired,
                    const char *methods);
#define TH_EXPECT(e, patch, outcome, fired, methods)                                 \
	do {                                                                         \
		th_result r_ = th_expect((e), (patch), (outcome), (fired), (methods)); \
		th_result_free(&r_);                                                 \
	} while (0)

/* A patch and the th_summary of the decision it must get. Tables of them
 * end with { NULL, NULL }. */
typedef struct th_case {
	const char *patch, *want;
} th_case;
/* Decide every case on e and compare its summary; a failure names the
 * patch. */
void th_expect_each(const stepup_engine *e, const th_case *cases);

/* Parse JSON text; fails the test (quoting the text) when it is not JSON.
 * json_decref the result. */
json_t *th_json(const char *text);

/* Write text to path (created or truncated) and set its mode; fails the
 * test on any error. For key files whose mode is checked. */
void th_write_file(const char *path, const char *text, unsigned mode);

/* Running under valgrind (everything ~50x slower): scale loops and time
 * limits to that. */
int th_under_valgrind(void);

#endif
