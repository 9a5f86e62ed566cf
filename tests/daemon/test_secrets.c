/* test_secrets.c: issue 10: a field the default schema marks `secret` is
 * read by rules and never comes out: not in a response or an error, the
 * stderr log at debug level, the decision log, a webhook, an SMS, an
 * e-mail, a request to the in-app backend, nor the case store's file and
 * its WAL.
 *
 * The secret fields come from the schema itself, through the public
 * description of the default ruleset (stepup_ruleset_field): a secret
 * field added to rules/schema/tokenization.rules is covered without an
 * edit here. Each gets a canary of its format; every flow of stepupd that
 * can carry it runs (decisions GREEN, YELLOW and RED, refusals of the
 * request, Deliver OTP by SMS and e-mail, a customer-service activation
 * with its webhook and end-user message, a case read, the in-app start),
 * then every sink is searched: card numbers in any separator form
 * (pci_scan, not the policy under test), other canaries as a word (not
 * next to a letter or digit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <stepup/stepup.h>

#include "harness.h"
#include "http_sink.h"
#include "pci_scan.h"
#include "smtp_sink.h"
#include "stack.h"

#ifndef BUILDDIR
#error "BUILDDIR must name the build tree (the reference plugins are loaded from it)"
#endif

#define JSON_CT "application/json"
#define MAX_SECRETS 16

typedef struct secret {
	char path[128];
	char canary[64];
	int is_card;      /* scanned in any separator form */
	size_t found;     /* hits in every sink */
} secret;

static secret S[MAX_SECRETS];
static size_t NS;
static hd D;
static http_sink *sms, *hook, *backend;
static smtp_sink *smtp;
static json_t *base;     /* tests/data/sample-request.json (YELLOW) with every canary */
static char **bodies;    /* every response body */
static size_t nbodies, capbodies;

/* Canaries by format: valid for the field, unlikely anywhere else. A
 * short number starts with a 0, which no JSON number, latency, port,
 * count or length has, and no time zone (+0000) or configured phone
 * number (-0100, -0199) is. */
static const char *const card_canaries[] = { "6011000990139424", "3530111333300000", "5105105105105100" };

static void make_canary(secret *s, const stepup_field_info *f, size_t nth)
{
	snprintf(s->path, sizeof(s->path), "%s", f->path);
	if (strcmp(f->format, "card_number") == 0) {
		snprintf(s->canary, sizeof(s->canary), "%s", card_canaries[nth % 3]);
		s->is_card = 1;
	} else if (strcmp(f->format, "csc") == 0) {
		snprintf(s->canary, sizeof(s->canary), "0417");
	} else if (strcmp(f->format, "digits") == 0) {
		snprintf(s->canary, sizeof(s->canary), "%.*s", (int)(f->min > 8 ? f->min : 8), "0417041704170417");
	} else if (strcmp(f->format, "email") == 0) {
		snprintf(s->canary, sizeof(s->canary), "secret.canary%zu@example.invalid", nth);
	} else if (strcmp(f->type, "int") == 0) {
		snprintf(s->canary, sizeof(s->canary), "%lld", (long long)(f->max > 777777 ? 777777 : f->max));
	} else {
		snprintf(s->canary, sizeof(s->canary), "SECRETCANARY%zuZQ", nth);
	}
}

/* Set the dotted path of o to v, creating the objects on the way. */
static void set_path(json_t *o, const char *path, json_t *v)
{
	char key[128];
	const char *dot = strchr(path, '.');
	if (!dot) {
		json_object_set_new(o, path, v);
		return;
	}
	snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
	json_t *child = json_object_get(o, key);
	if (!json_is_object(child)) {
		child = json_object();
		json_object_set_new(o, key, child);
	}
	set_path(child, dot + 1, v);
}

static int group_setup(void **state)
{
	(void)state;
	char err[256], *extra;
	stepup_ruleset *rs = NULL;
	if (stepup_ruleset_load(SRCDIR "/rules/default.rules", &rs, err, sizeof(err)) != STEPUP_OK) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	for (size_t i = 0; i < stepup_ruleset_field_count(rs) && NS < MAX_SECRETS; i++) {
		stepup_field_info f;
		if (stepup_ruleset_field(rs, i, &f) == STEPUP_OK && (f.flags & STEPUP_FIELD_SECRET))
			make_canary(&S[NS], &f, NS), NS++;
	}
	stepup_ruleset_unref(rs);

	size_t len;
	char *text = hd_slurp(SRCDIR "/tests/data/sample-request.json", &len);
	if (!text || !(base = json_loads(text, 0, NULL)))
		return -1;
	free(text);
	for (size_t i = 0; i < NS; i++)
		set_path(base, S[i].path, json_string(S[i].canary));

	if (http_sink_start("127.0.0.1", 0, &sms, err, sizeof(err)) < 0 ||
	    http_sink_start("127.0.0.1", 0, &hook, err, sizeof(err)) < 0 ||
	    http_sink_start("127.0.0.1", 0, &backend, err, sizeof(err)) < 0 ||
	    smtp_sink_start("127.0.0.1", 0, &smtp, err, sizeof(err)) < 0) {
		fprintf(stderr, "receivers: %s\n", err);
		return -1;
	}
	if (hd_init(&D) < 0 ||
	    !(extra = stack_config(BUILDDIR "/plugins/.libs", D.dir, http_sink_port(sms), smtp_sink_port(smtp),
	                           http_sink_port(backend), http_sink_port(hook))))
		return -1;
	int rc = hd_write_default_config(&D, "debug", NULL, extra);
	free(extra);
	/* The replay-safe decision log and the shadow log are outputs too. */
	if (rc < 0 || stack_change_control(D.config, D.dir, D.rules) < 0)
		return -1;
	return hd_start_reporting(&D, "stepupd did not start");
}

static int group_teardown(void **state)
{
	(void)state;
	if (D.pid > 0)
		hd_finish(&D);
	else
		hd_rmdir(&D);
	http_sink_stop(sms);
	http_sink_stop(hook);
	http_sink_stop(backend);
	smtp_sink_stop(smtp);
	json_decref(base);
	for (size_t i = 0; i < nbodies; i++)
		free(bodies[i]);
	free(bodies);
	return 0;
}

/* One exchange; the body is kept for the scan. Returns the status. */
static long post(const char *path, const char *body, hresp *out)
{
	hresp r;
	hd_http(&D, NULL, body ? "POST" : "GET", path, body ? JSON_CT : NULL, body, body ? strlen(body) : 0, NULL, &r);
	if (nbodies == capbodies) {
		capbodies = capbodies ? capbodies * 2 : 64;
		bodies = realloc(bodies, capbodies * sizeof(*bodies));
		assert_non_null(bodies);
	}
	size_t n = strlen(r.headers ? r.headers : "") + r.len + 2;
	bodies[nbodies] = malloc(n);
	assert_non_null(bodies[nbodies]);
	snprintf(bodies[nbodies++], n, "%s\n%s", r.headers ? r.headers : "", r.body ? r.body : "");
	long st = r.status;
	if (out)
		*out = r;
	else
		hresp_free(&r);
	return st;
}

/* The base request with request_id `id` and `patch` (JSON members of the
 * top level, replacing), as text (malloc'd). */
static char *request(const char *id, const char *patch)
{
	json_t *o = json_deep_copy(base);
	json_object_set_new(o, "request_id", json_string(id));
	if (patch) {
		json_t *p = json_loads(patch, 0, NULL);
		assert_non_null(p);
		json_object_update_recursive(o, p);
		json_decref(p);
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void decide(const char *id, const char *patch, long want, const char *decision, char case_id[32])
{
	hresp r;
	char *body = request(id, patch);
	long st = post("/v1/decisions", body, &r);
	free(body);
	if (st != want || (decision && !strstr(r.body, decision)))
		fail_msg("%s: %ld %s", id, st, r.body);
	if (case_id) {
		const char *p = strstr(r.body, "\"decision_id\":\"");
		assert_non_null(p);
		snprintf(case_id, 32, "%.20s", p + 15);
	}
	hresp_free(&r);
}

/* An exchange that must get `want`; the body says why when it does not. */
static void expect_status(const char *path, const char *body, long want)
{
	hresp r;
	long st = post(path, body, &r);
	if (st != want)
		fail_msg("%s %s: %ld %s", path, body ? body : "", st, r.body);
	hresp_free(&r);
}

static void flows(void)
{
	char id1[32], id2[32], id3[32], body[512], when[32];
	time_t t = time(NULL) + 600;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));

	decide("secret-yellow-1", NULL, 200, "\"decision\":\"YELLOW\"", id1);
	decide("secret-yellow-2", NULL, 200, "\"decision\":\"YELLOW\"", id2);
	decide("secret-yellow-3", NULL, 200, "\"decision\":\"YELLOW\"", id3);
	decide("secret-green", "{\"card\":{\"capture_method\":\"BANK_APP\",\"csc_result\":\"MATCH\"},"
	       "\"wallet\":{\"phone_suffix\":\"1234\",\"reason_codes\":[]}}", 200, "\"decision\":\"GREEN\"", NULL);
	decide("secret-red", "{\"card\":{\"state\":\"CLOSED\"}}", 200, "\"decision\":\"RED\"", NULL);
	/* Refused requests that carry every secret beside the mistake. */
	decide("secret-bad-enum", "{\"card\":{\"state\":\"OPEN\"}}", 400, "card.state", NULL);
	decide("secret-bad-score", "{\"wallet\":{\"device_score\":9}}", 400, "wallet.device_score", NULL);

	/* Deliver OTP by SMS and by e-mail, a case read, a customer-service
	 * activation (its webhook and the end user's "card added" SMS). */
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_SMS\",\"otp\":\"482913\","
	         "\"expires_at\":\"%s\",\"reason\":\"CARD-DIGITIZATION\"}", id1, when);
	expect_status("/v1/otp-deliveries", body, 200);
	snprintf(body, sizeof(body), "{\"decision_id\":\"%s\",\"method\":\"OTP_EMAIL\",\"otp\":\"482914\","
	         "\"expires_at\":\"%s\",\"reason\":\"CARD-DIGITIZATION\"}", id2, when);
	expect_status("/v1/otp-deliveries", body, 200);
	char path[96];
	snprintf(path, sizeof(path), "/v1/cases/%s", id3);
	expect_status(path, NULL, 200);
	snprintf(body, sizeof(body),
	         "{\"decision_id\":\"%s\",\"digital_card_id\":\"DC-SECRET-1\",\"method\":\"CUSTOMER_SERVICE\","
	         "\"agent_id\":\"agent-7\"}", id3);
	expect_status("/v1/activations", body, 200);
	/* Everything reached its receiver: the positive control. */
	assert_true(smtp_sink_wait(smtp, 1, 10000));
	assert_true(http_sink_wait(sms, 2, 10000));   /* the OTP, then the end user's message */
	assert_true(http_sink_wait(hook, 1, 10000));
	assert_true(http_sink_wait(backend, 1, 10000));  /* the in-app start of each YELLOW */
}

/* ---- the search ----------------------------------------------------------------- */

static int alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Occurrences of word in data that stand alone (no letter or digit on
 * either side). */
static size_t words(const unsigned char *data, size_t len, const char *word)
{
	size_t n = 0, w = strlen(word);
	for (size_t i = 0; i + w <= len; i++)
		if (memcmp(data + i, word, w) == 0 && (i == 0 || !alnum(data[i - 1])) &&
		    (i + w == len || !alnum(data[i + w])))
			n++;
	return n;
}

static int count_pan(void *arg, const unsigned char *d, size_t len, const pci_hit *h)
{
	(void)d;
	(void)len;
	(void)h;
	(*(size_t *)arg)++;
	return 0;
}

static char report[8192];

static void search(const char *sink, const void *data, size_t len, int binary)
{
	for (size_t i = 0; i < NS; i++) {
		size_t n = 0;
		if (S[i].is_card) {
			const char *pan = S[i].canary;
			pci_scan(&pan, 1, data, len, binary, count_pan, &n);
		} else {
			n = words(data, len, S[i].canary);
		}
		if (n) {
			if (getenv("SECRETS_DEBUG"))
				fprintf(stderr, "---- %s in %s:\n%.*s\n", S[i].path, sink, (int)len, (const char *)data);
			S[i].found += n;
			size_t k = strlen(report);
			snprintf(report + k, sizeof(report) - k, "  %s: %zu time(s) in %s\n", S[i].path, n, sink);
		}
	}
}

static void search_file(const char *name, int binary)
{
	char path[256];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", D.dir, name);
	char *d = hd_slurp(path, &len);
	if (d)
		search(name, d, len, binary);
	free(d);
}

static void search_sink(const char *what, http_sink *s)
{
	for (size_t i = 0, n = http_sink_count(s); i < n; i++) {
		const http_sink_request *r = http_sink_get(s, i);
		search(what, r->target, strlen(r->target), 0);
		for (size_t h = 0; h < r->nheaders; h++)
			search(what, r->headers[h].value, strlen(r->headers[h].value), 0);
		search(what, r->body, r->body_len, 0);
	}
}

static void test_schema_secrets_never_come_out(void **state)
{
	(void)state;
	/* The default schema has its two secrets; a new one is found the same
	 * way and gets a canary of its format. */
	assert_true(NS >= 2);
	int pan = 0, csc = 0;
	for (size_t i = 0; i < NS; i++) {
		pan |= strcmp(S[i].path, "card.pan") == 0;
		csc |= strcmp(S[i].path, "card.csc") == 0;
	}
	assert_true(pan && csc);

	/* The search finds what it looks for (a control per kind). */
	for (size_t i = 0; i < NS; i++) {
		char planted[160];
		snprintf(planted, sizeof(planted), "x {\"v\":\"%s\"} y", S[i].canary);
		size_t before = S[i].found;
		search("(control)", planted, strlen(planted), 0);
		assert_int_equal(S[i].found, before + 1);
		S[i].found = before;
	}
	report[0] = '\0';

	flows();
	/* Stop first: logs and the WAL are flushed, nothing is half-written. */
	char why[3300];
	if (hd_stop_checked(&D, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	for (size_t i = 0; i < nbodies; i++)
		search("responses", bodies[i], strlen(bodies[i]), 0);
	search_file("stderr.log", 0);
	search_file("decisions.log", 0);
	search_file("shadow.log", 0);
	search_file("cases.db", 1);
	search_file("cases.db-wal", 1);
	search_file("cases.db-journal", 1);
	search_sink("the SMS gateway", sms);
	search_sink("the webhook receiver", hook);
	search_sink("the in-app backend", backend);
	for (size_t i = 0, n = smtp_sink_count(smtp); i < n; i++) {
		const smtp_sink_message *m = smtp_sink_get(smtp, i);
		search("the mail server", m->data, m->data_len, 0);
		for (size_t k = 0; k < m->nrcpt; k++)
			search("the mail server", m->rcpt[k], strlen(m->rcpt[k]), 0);
	}
	size_t total = 0;
	for (size_t i = 0; i < NS; i++)
		total += S[i].found;
	if (total)
		fail_msg("secret fields came out:\n%s", report);
	/* The debug log did log the requests (nothing vacuous). */
	size_t len;
	char *log = hd_slurp(D.stderr_log, &len);
	assert_non_null(log);
	assert_true(hd_count(log, "\"route\":\"/v1/decisions\"") >= 7);
	free(log);
	/* ... and the change-control outputs have content: facts, divergences. */
	char path[256];
	snprintf(path, sizeof(path), "%s/shadow.log", D.dir);
	char *slog = hd_slurp(path, NULL), *dlog = hd_slurp(D.declog, NULL);
	assert_true(slog && hd_count(slog, "\"candidate\":{") >= 1);
	assert_true(dlog && hd_count(dlog, "\"facts\":{") >= 1);
	free(slog);
	free(dlog);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_secrets_never_come_out),
	};
	return cmocka_run_group_tests_name("secrets", tests, group_setup, group_teardown);
}
