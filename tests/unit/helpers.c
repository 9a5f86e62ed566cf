/* helpers.c: shared fixtures for the cmocka unit tests. */
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

#include "helpers.h"

const char *const th_settings_full =
	"{\"issuer\":{\"app_id\":\"com.examplebank.mobile\",\"customer_service\":"
	"{\"standard\":\"+1-800-555-0100\",\"fraud\":\"+1-800-555-0199\"}}}";

const char *const th_base_request =
	"{\"request_id\":\"req-1\",\"tsp\":\"MDES\",\"channel\":\"XPAY_WALLET\","
	"\"token_requestor\":{\"id\":\"50110030273\",\"name\":\"APPLE_PAY\"},"
	"\"card\":{\"pan\":\"5412751234561234\",\"state\":\"ACTIVE\",\"capture_method\":\"BANK_APP\","
	"\"csc_result\":\"MATCH\",\"active_tokens\":1,\"csc_failures_24h\":0},"
	"\"end_user\":{\"phone\":\"+14155551234\",\"email\":\"jane.doe@example.com\","
	"\"app_enrolled\":true,\"language\":\"en-US\",\"otp_exhausted\":false},"
	"\"wallet\":{\"phone_suffix\":\"1234\",\"device_score\":5,\"account_score\":5,\"phone_score\":5,"
	"\"recommended_decision\":\"APPROVED\",\"reason_codes\":[],\"device_suspicious\":false,"
	"\"device_country\":\"US\"}}";

stepup_ruleset *th_compile(const char *name, const char *src, char **diags)
{
	stepup_compiler *c = stepup_compiler_new();
	stepup_ruleset *rs = NULL;
	assert_non_null(c);
	assert_int_equal(stepup_compiler_add_source(c, name, src, strlen(src)), STEPUP_OK);
	stepup_compiler_compile(c, &rs);
	if (diags) {
		size_t cap = 1, len = 0;
		char *out = calloc(1, 1);
		for (size_t i = 0; i < stepup_compiler_diag_count(c); i++) {
			size_t need = stepup_compiler_render_diag(c, i, NULL, 0);
			out = realloc(out, cap + need + 1);
			assert_non_null(out);
			cap += need + 1;
			stepup_compiler_render_diag(c, i, out + len, need + 1);
			len += need;
		}
		*diags = out;
	}
	stepup_compiler_free(c);
	return rs;
}

stepup_engine *th_engine(const char *src, const char *settings)
{
	char *diags = NULL, err[256];
	stepup_engine *e = NULL;
	stepup_ruleset *rs = th_compile("test.rules", src, &diags);
	if (!rs)
		fail_msg("rules do not compile:\n%s", diags);
	free(diags);
	assert_int_equal(stepup_engine_new(rs, settings, &e, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset_unref(rs);
	return e;
}

stepup_engine *th_default_engine(void)
{
	stepup_ruleset *rs = NULL;
	stepup_engine *e = NULL;
	char err[512];
	int rc = stepup_ruleset_load(SRCDIR "/rules/default.rules", &rs, err, sizeof(err));
	if (rc != STEPUP_OK)
		fail_msg("default rules: %s", err);
	assert_int_equal(stepup_engine_new(rs, th_settings_full, &e, err, sizeof(err)), STEPUP_OK);
	stepup_ruleset_unref(rs);
	return e;
}

stepup_engine *th_default;

int th_default_setup(void **state)
{
	(void)state;
	th_default = th_default_engine();
	return th_default ? 0 : -1;
}

int th_default_teardown(void **state)
{
	(void)state;
	stepup_engine_free(th_default);
	th_default = NULL;
	return 0;
}

th_result th_decide(const stepup_engine *e, const char *json)
{
	th_result res;
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	const char *out = NULL;
	size_t len = 0;

	memset(&res, 0, sizeof(res));
	assert_non_null(r);
	assert_non_null(d);
	res.rc = stepup_decide_json(e, r, d, json, strlen(json), 0, &out, &len);
	res.json = out ? strndup(out, len) : NULL;
	if (res.rc == STEPUP_OK) {
		res.outcome = stepup_decision_outcome(d);
		res.nfired = stepup_decision_fired_count(d);
		for (size_t i = 0; i < res.nfired && i < 64; i++)
			snprintf(res.fired[i], sizeof(res.fired[i]), "%s", stepup_decision_fired_rule(d, i, NULL));
		res.nmethods = stepup_decision_method_count(d);
		for (size_t i = 0; i < res.nmethods; i++)
			res.methods[i] = stepup_decision_method(d, i);
		res.line = stepup_decision_cs_line(d);
	}
	stepup_request_free(r);
	stepup_decision_free(d);
	return res;
}

static void merge(json_t *base, json_t *patch)
{
	const char *k;
	json_t *v;
	json_object_foreach(patch, k, v) {
		json_t *cur = json_object_get(base, k);
		if (json_is_null(v))
			json_object_del(base, k);
		else if (json_is_object(v) && json_is_object(cur))
			merge(cur, v);
		else
			json_object_set(base, k, v);
	}
}

char *th_patched(const char *patch)
{
	json_error_t je;
	json_t *base = json_loads(th_base_request, 0, &je), *p = json_loads(patch, 0, &je);
	if (!p)
		fail_msg("bad patch %s: %s", patch, je.text);
	assert_non_null(base);
	merge(base, p);
	char *text = json_dumps(base, JSON_COMPACT);
	assert_non_null(text);
	json_decref(base);
	json_decref(p);
	return text;
}

th_result th_decide_patched(const stepup_engine *e, const char *patch)
{
	char *text = th_patched(patch);
	th_result r = th_decide(e, text);
	free(text);
	return r;
}

void th_result_free(th_result *r)
{
	free(r->json);
	r->json = NULL;
}

int th_fired(const th_result *r, const char *rule)
{
	for (size_t i = 0; i < r->nfired; i++)
		if (strcmp(r->fired[i], rule) == 0)
			return 1;
	return 0;
}

int th_fires(const stepup_engine *e, const char *patch, const char *rule)
{
	th_result r = th_decide_patched(e, patch);
	if (r.rc != STEPUP_OK)
		fail_msg("patch %s: decide_json rc=%d: %s", patch, r.rc, r.json ? r.json : "(null)");
	int fired = th_fired(&r, rule);
	th_result_free(&r);
	return fired;
}

/* Comma-separated names, for comparing and for messages. */
static void fired_csv(const th_result *r, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < r->nfired; i++) {
		if (i)
			strncat(buf, ",", size - strlen(buf) - 1);
		strncat(buf, r->fired[i], size - strlen(buf) - 1);
	}
}

static void methods_csv(const th_result *r, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < r->nmethods; i++) {
		if (i)
			strncat(buf, ",", size - strlen(buf) - 1);
		strncat(buf, stepup_method_name(r->methods[i]), size - strlen(buf) - 1);
	}
}

/* The th_summary of outcome, fired and methods. */
static void summarize(char *buf, size_t size, const char *outcome, const char *fired, const char *methods)
{
	snprintf(buf, size, "%s%s%s%s%s", outcome, fired[0] ? " " : "", fired, methods[0] ? " -> " : "", methods);
}

void th_summary(const th_result *r, char *buf, size_t size)
{
	char fired[1024], methods[256];
	fired_csv(r, fired, sizeof(fired));
	methods_csv(r, methods, sizeof(methods));
	summarize(buf, size, stepup_outcome_name(r->outcome), fired, methods);
}

/* Decide base+patch and compare the decision's summary with want. */
static th_result expect_summary(const stepup_engine *e, const char *patch, const char *want)
{
	th_result r = th_decide_patched(e, patch);
	char got[1400];

	if (r.rc != STEPUP_OK)
		fail_msg("patch %s: decide_json rc=%d: %s", patch, r.rc, r.json ? r.json : "(null)");
	th_summary(&r, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("patch %s:\n  got      %s\n  expected %s\n  json %s", patch, got, want, r.json);
	return r;
}

th_result th_expect(const stepup_engine *e, const char *patch, stepup_outcome outcome, const char *fired,
                    const char *methods)
{
	char want[1400];
	summarize(want, sizeof(want), stepup_outcome_name(outcome), fired, methods);
	return expect_summary(e, patch, want);
}

void th_expect_each(const stepup_engine *e, const th_case *cases)
{
	for (; cases->patch; cases++) {
		th_result r = expect_summary(e, cases->patch, cases->want);
		th_result_free(&r);
	}
}

json_t *th_json(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("not JSON (%s): %s", je.text, text);
	return j;
}

int th_under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");
	return p && strstr(p, "vgpreload") != NULL;
}

void th_write_file(const char *path, const char *text, unsigned mode)
{
	FILE *f = fopen(path, "w");
	if (!f)
		fail_msg("%s: cannot write", path);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, (mode_t)mode), 0);
}
