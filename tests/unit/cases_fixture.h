/* cases_fixture.h: what the lifecycle tests share: a scratch
 * directory with a real SQLite file, a loopback webhook receiver
 * (tests/servers/http_sink), the recording fake channel
 * (test_cases_plugin.c), the default rules, and small helpers to call the
 * JSON API and read what the channel and the receiver got.
 * Include after <setjmp.h>, <stdarg.h>, <stddef.h> and <cmocka.h>. */
#ifndef STEPUP_CASES_FIXTURE_H
#define STEPUP_CASES_FIXTURE_H

#include <jansson.h>
#include <stepup/lifecycle.h>
#include <stepup/stepup.h>

#include "http_sink.h"

/* The request patch giving YELLOW with all four methods under the
 * default rules (tests/unit/test_plugins.c uses it too). */
#define TC_YELLOW_ALL "{\"wallet\":{\"device_score\":2}}"
#define TC_SECRET "webhook-secret"

typedef struct tc_env {
	char dir[128];
	char db[192], record[192], control[192];
	http_sink *sink;
	uint16_t port;
	stepup_plugins *ps;
	stepup_engine *e;
	stepup_cases *c;   /* opened by tc_open */
} tc_env;

/* A fresh environment: directory, receiver, plugins, engine. No cases
 * handle yet (tc_open). Fails the test on any error. */
void tc_setup(tc_env *t);
/* Close everything and remove the directory. */
void tc_teardown(tc_env *t);

/* The whole configuration document with the "cases" section patched by
 * `cases_patch` (a JSON object merged key by key, recursively; a null
 * value removes the key; NULL for none). malloc'd. */
char *tc_config(const tc_env *t, const char *cases_patch);
/* Open t->c (closing any previous one) with that configuration. */
void tc_open(tc_env *t, const char *cases_patch);
void tc_close(tc_env *t);

/* Decide the canonical request with `patch` on t->e, record it on t->c,
 * and return the decision id (malloc'd); *outcome (may be NULL) gets the
 * outcome. */
char *tc_decide(tc_env *t, const char *patch, stepup_outcome *outcome);

/* One call of the JSON API: status, HTTP status and the parsed body. */
typedef struct tc_reply {
	int rc;
	int http;
	char *text;
	json_t *body;
} tc_reply;

tc_reply tc_deliver(stepup_cases *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
tc_reply tc_activate(stepup_cases *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
tc_reply tc_get(stepup_cases *c, const char *decision_id);
void tc_reply_free(tc_reply *r);
/* body.error.code, or "" for a success. */
const char *tc_code(const tc_reply *r);
/* body[key] as a string, or "" (dotted paths: "activation.method"). */
const char *tc_str(const tc_reply *r, const char *path);

/* Deliver an OTP by SMS / activate by customer service, expecting 200. */
void tc_send_sms(stepup_cases *c, const char *id, const char *otp);
void tc_activate_cs(stepup_cases *c, const char *id, const char *card, const char *agent);

/* Lines the fake channel recorded for `op` ("deliver_otp", "notify",
 * "start", "verify"), and line i's tab-separated field k (malloc'd, NULL
 * when missing; field 0 is the op). */
size_t tc_calls(const tc_env *t, const char *op);
char *tc_call_field(const tc_env *t, const char *op, size_t i, unsigned k);
/* Make the fake channel fail: the text of its control file. */
void tc_control(const tc_env *t, const char *text);

/* Webhooks the receiver got whose Idempotency-Key starts with prefix
 * (NULL: all). */
size_t tc_webhooks(http_sink *s, const char *prefix);
/* Stop the receiver / start it again on the same port. */
void tc_sink_down(tc_env *t);
void tc_sink_up(tc_env *t);

/* Everything the library logged so far (one line per message). */
const char *tc_log_text(void);
void tc_log_clear(void);
void tc_log(void *ctx, int level, const char *source, const char *msg);

/* Whether data[0..len) holds `digits` in order with nothing but
 * card-number separators (space - . / : + _) between them: a card number
 * in any spelling (docs/pci.md). Bytes, not text: for database files. */
int tc_holds_digits(const void *data, size_t len, const char *digits);
/* The same over a whole file (0 when there is no such file). */
int tc_file_holds_digits(const char *path, const char *digits);

int64_t tc_now_ms(void);
void tc_sleep_ms(int ms);

#endif
