/* cmd_test.c: `stepup test`, the analysts' rule tests.
 *
 * A test file holds one case per line (blank lines and lines starting with
 * '#' are skipped):
 *   {"name": "...", "request": {...},
 *    "expect": {"decision": "YELLOW",
 *               "fired": ["phone_mismatch"],        exact set of fired rules
 *               "not_fired": ["missing_csc"],        rules that must not fire
 *               "methods": ["OTP_SMS", "OTP_EMAIL"], exact offer, in order
 *               "line": "FRAUD"}}                    customer-service line
 * Every key of "expect" is optional. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int contains(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* Compare as sets of strings. */
static int same_set(json_t *a, json_t *b)
{
	size_t i;
	json_t *v;
	if (json_array_size(a) != json_array_size(b))
		return 0;
	json_array_foreach(a, i, v)
		if (!json_is_string(v) || !contains(b, json_string_value(v)))
			return 0;
	return 1;
}

static json_t *fired_names(json_t *resp)
{
	json_t *out = json_array(), *v;
	size_t i;
	json_array_foreach(json_object_get(resp, "reasons"), i, v)
		json_array_append(out, json_object_get(v, "rule"));
	return out;
}

static json_t *method_types(json_t *resp)
{
	json_t *out = json_array(), *v;
	size_t i;
	json_array_foreach(json_object_get(resp, "idv_methods"), i, v)
		json_array_append(out, json_object_get(v, "type"));
	return out;
}

static const char *line_of(json_t *resp)
{
	json_t *v;
	size_t i;
	json_array_foreach(json_object_get(resp, "idv_methods"), i, v)
		if (json_object_get(v, "line"))
			return json_string_value(json_object_get(v, "line"));
	return NULL;
}

/* Returns NULL when the case passes, else a malloc'd explanation. */
static char *run_case(const stepup_engine *e, stepup_request *r, stepup_decision *d, json_t *tc)
{
	json_t *req = json_object_get(tc, "request"), *exp = json_object_get(tc, "expect");
	char *text, *why = NULL;
	const char *res;
	size_t len;

	if (!json_is_object(exp))
		return strdup("case has no \"expect\" object");
	text = req ? json_dumps(req, JSON_COMPACT) : strdup("");
	if (!text)
		return strdup("out of memory");
	int rc = stepup_decide_json(e, r, d, text, strlen(text), 0, &res, &len);
	free(text);
	json_t *resp = res ? json_loadb(res, len, 0, NULL) : NULL;
	if (!resp)
		return strdup("no response");

	json_t *want = json_object_get(exp, "error_field");
	if (want) {
		const char *got = json_string_value(json_object_get(json_object_get(resp, "error"), "field"));
		if (rc != STEPUP_EBADREQ || !got || strcmp(got, json_string_value(want)) != 0) {
			if (asprintf(&why, "expected a bad-request error on %s, got %s", json_string_value(want),
			             rc == STEPUP_OK ? "a decision" : got ? got : "an error without field") < 0)
				why = NULL;
		}
		json_decref(resp);
		return why;
	}
	if (rc != STEPUP_OK) {
		char *msg = json_dumps(json_object_get(resp, "error"), JSON_COMPACT);
		if (asprintf(&why, "request refused: %s", msg ? msg : "?") < 0)
			why = NULL;
		free(msg);
		json_decref(resp);
		return why;
	}
	json_t *fired = fired_names(resp), *methods = method_types(resp);
	char *got_f = json_dumps(fired, JSON_COMPACT), *got_m = json_dumps(methods, JSON_COMPACT);
	const char *dec = json_string_value(json_object_get(resp, "decision"));
	int bad = 0;

	if ((want = json_object_get(exp, "decision")) && strcmp(json_string_value(want) ? json_string_value(want) : "", dec) != 0)
		bad = asprintf(&why, "decision %s, expected %s (fired %s)", dec, json_string_value(want), got_f);
	else if ((want = json_object_get(exp, "fired")) && !same_set(want, fired)) {
		char *w = json_dumps(want, JSON_COMPACT);
		bad = asprintf(&why, "fired %s, expected %s", got_f, w);
		free(w);
	} else if ((want = json_object_get(exp, "methods")) && !json_equal(want, methods)) {
		char *w = json_dumps(want, JSON_COMPACT);
		bad = asprintf(&why, "methods %s, expected %s", got_m, w);
		free(w);
	} else if ((want = json_object_get(exp, "line")) &&
	           (!line_of(resp) || strcmp(line_of(resp), json_string_value(want)) != 0)) {
		bad = asprintf(&why, "line %s, expected %s", line_of(resp) ? line_of(resp) : "none",
		               json_string_value(want));
	} else if ((want = json_object_get(exp, "not_fired"))) {
		size_t i;
		json_t *v;
		json_array_foreach(want, i, v)
			if (!why && contains(fired, json_string_value(v)))
				bad = asprintf(&why, "rule %s fired but should not (fired %s)", json_string_value(v), got_f);
	}
	if (bad < 0)
		why = strdup("out of memory");
	free(got_f);
	free(got_m);
	json_decref(fired);
	json_decref(methods);
	json_decref(resp);
	return why;
}

int cmd_test(int argc, char **argv)
{
	const char *rules = NULL, *config = NULL, *plugins = NULL;
	int passed = 0, failed = 0, verbose = 0, nfiles = 0;
	unsigned flags = 0;
	char **files = calloc((size_t)argc, sizeof(char *));

	if (!files)
		return 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
			rules = argv[++i];
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "--plugins") == 0 && i + 1 < argc)
			plugins = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--allow-empty") == 0)
			flags |= STEPUP_LOAD_ALLOW_EMPTY;
		else
			files[nfiles++] = argv[i];
	}
	if (!rules || !nfiles) {
		fprintf(stderr, "usage: stepup test --rules FILE|BUNDLE [--config SETTINGS] [--plugins CONFIG] [--allow-empty] [-v] TESTS.jsonl...\n");
		free(files);
		return 2;
	}
	stepup_engine *e = cli_engine(rules, config, plugins, flags);
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	if (!e || !r || !d) {
		stepup_engine_free(e);
		stepup_request_free(r);
		stepup_decision_free(d);
		free(files);
		return 2;
	}
	for (int f = 0; f < nfiles; f++) {
		FILE *in = fopen(files[f], "r");
		char *line = NULL;
		size_t cap = 0;
		long n, lineno = 0;
		if (!in) {
			fprintf(stderr, "stepup test: cannot open %s\n", files[f]);
			failed++;
			continue;
		}
		while ((n = cli_getline(&line, &cap, in)) >= 0) {
			json_error_t je;
			lineno++;
			if (n == 0 || line[strspn(line, " \t")] == '#' || line[strspn(line, " \t")] == '\0')
				continue;
			json_t *tc = json_loadb(line, (size_t)n, 0, &je);
			if (!tc || !json_is_object(tc)) {
				printf("FAIL %s:%ld: not a JSON object: %s\n", files[f], lineno, tc ? "" : je.text);
				json_decref(tc);
				failed++;
				continue;
			}
			const char *name = json_string_value(json_object_get(tc, "name"));
			char *why = run_case(e, r, d, tc);
			if (why) {
				printf("FAIL %s:%ld: %s: %s\n", files[f], lineno, name ? name : "(unnamed)", why);
				failed++;
			} else {
				if (verbose)
					printf("ok   %s:%ld: %s\n", files[f], lineno, name ? name : "(unnamed)");
				passed++;
			}
			free(why);
			json_decref(tc);
		}
		free(line);
		fclose(in);
	}
	printf("%d passed, %d failed\n", passed, failed);
	stepup_engine_free(e);
	stepup_request_free(r);
	stepup_decision_free(d);
	free(files);
	return failed ? 1 : 0;
}
