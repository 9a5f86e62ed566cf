/* cmd_eval.c: `stepup eval` (JSON lines in, JSON lines out) and
 * `stepup explain` (why one request got its decision). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct opts {
	cli_rules rules;  /* every --rules: one ruleset */
	const char *config, *plugins, *input;
	int explain, json;
	unsigned flags;  /* STEPUP_LOAD_* */
};

static int parse_opts(int argc, char **argv, struct opts *o, const char *usage)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		int k = cli_rules_option(&o->rules, argc, argv, &i);
		if (k < 0) {
			fprintf(stderr, "%s", usage);
			cli_rules_free(&o->rules);
			return -1;
		} else if (k > 0)
			continue;
		else if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc)
			o->config = argv[++i];
		else if (strcmp(argv[i], "--plugins") == 0 && i + 1 < argc)
			o->plugins = argv[++i];
		else if (strcmp(argv[i], "--explain") == 0)
			o->explain = 1;
		else if (strcmp(argv[i], "--json") == 0)
			o->json = 1;
		else if (strcmp(argv[i], "--allow-empty") == 0)
			o->flags |= STEPUP_LOAD_ALLOW_EMPTY;
		else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "%s", usage);
			cli_rules_free(&o->rules);
			return -1;
		} else if (!o->input)
			o->input = argv[i];
		else {
			fprintf(stderr, "%s", usage);
			cli_rules_free(&o->rules);
			return -1;
		}
	}
	if (!o->rules.n) {
		fprintf(stderr, "%s", usage);
		return -1;
	}
	return 0;
}

int cmd_eval(int argc, char **argv)
{
	struct opts o;
	FILE *in = stdin;
	char *line = NULL;
	size_t cap = 0;
	long n, lineno = 0;
	int failed = 0;

	if (parse_opts(argc, argv, &o,
	               "usage: stepup eval --rules FILE|DIR|BUNDLE... [--config SETTINGS] [--plugins CONFIG] [--allow-empty] [--explain] [INPUT.jsonl]\n") < 0)
		return 2;
	stepup_engine *e = cli_engine(&o.rules, o.config, o.plugins, o.flags);
	cli_rules_free(&o.rules);
	if (!e)
		return 2;
	if (o.input && strcmp(o.input, "-") != 0 && !(in = fopen(o.input, "r"))) {
		fprintf(stderr, "stepup eval: cannot open %s\n", o.input);
		stepup_engine_free(e);
		return 2;
	}
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	if (!r || !d) {
		fprintf(stderr, "stepup eval: out of memory\n");
		failed = 1;
		goto out;
	}
	while ((n = cli_getline(&line, &cap, in)) >= 0) {
		const char *res;
		size_t len;
		lineno++;
		if (n == 0 || strspn(line, " \t") == (size_t)n)
			continue;
		int rc = stepup_decide_json(e, r, d, line, (size_t)n,
		                            o.explain ? STEPUP_DECIDE_EXPLAIN : 0, &res, &len);
		if (rc == STEPUP_ENOMEM || rc == STEPUP_EINVAL) {
			printf("{\"error\":{\"code\":\"internal\",\"message\":\"%s\"}}\n", stepup_strerror(rc));
			failed = 1;
			continue;
		}
		if (rc != STEPUP_OK) {
			fprintf(stderr, "stepup eval: line %ld: %s\n", lineno, stepup_strerror(rc));
			failed = 1;
		}
		fwrite(res, 1, len, stdout);
		fputc('\n', stdout);
	}
	if (ferror(in)) {
		fprintf(stderr, "stepup eval: read error\n");
		failed = 1;
	}
out:
	if (in != stdin)
		fclose(in);
	free(line);
	stepup_request_free(r);
	stepup_decision_free(d);
	stepup_engine_free(e);
	if (fflush(stdout) != 0)
		failed = 1;
	return failed ? 1 : 0;
}

/* Under a test: each field it read with its value (masked contacts; a
 * secret only named), then the constants it names with theirs. */
static void print_reads(json_t *test)
{
	json_t *f, *v;
	size_t i;
	json_array_foreach(json_object_get(test, "fields"), i, f) {
		const char *name = json_string_value(json_object_get(f, "field"));
		v = json_object_get(f, "value");
		if (json_is_true(json_object_get(f, "secret"))) {
			printf("                    %s: secret, not shown\n", name);
		} else if (!v || json_is_null(v)) {
			printf("                    %s: absent\n", name);
		} else {
			char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			printf("                    %s = %s\n", name, text ? text : "?");
			free(text);
		}
	}
	json_array_foreach(json_object_get(test, "constants"), i, f) {
		char *text = json_dumps(json_object_get(f, "value"), JSON_ENCODE_ANY | JSON_COMPACT);
		printf("                    %s = %s (constant)\n", json_string_value(json_object_get(f, "name")),
		       text ? text : "?");
		free(text);
	}
}

static void print_explain(json_t *resp)
{
	json_t *ex = json_object_get(resp, "explain"), *it;
	size_t i;

	printf("request %s: %s (%s)\n", json_string_value(json_object_get(resp, "request_id")),
	       json_string_value(json_object_get(resp, "decision")),
	       json_string_value(json_object_get(resp, "network_decision")));
	json_t *rsj = json_object_get(resp, "ruleset");
	printf("ruleset %s %s\n\n", json_string_value(json_object_get(rsj, "name")),
	       json_string_value(json_object_get(rsj, "revision")));
	printf("rules:\n");
	json_array_foreach(json_object_get(ex, "rules"), i, it) {
		int fired = json_is_true(json_object_get(it, "fired"));
		printf("  %-6s %-24s %-7s %s\n", fired ? "FIRED" : "-",
		       json_string_value(json_object_get(it, "rule")),
		       json_string_value(json_object_get(it, "outcome")),
		       json_string_value(json_object_get(it, "at")));
		const char *cond = json_string_value(json_object_get(it, "condition"));
		const char *by = json_string_value(json_object_get(it, "decided_by"));
		if (by)
			printf("         condition %s, decided by: %s\n", cond, by);
		json_t *t;
		size_t k;
		json_array_foreach(json_object_get(it, "tests"), k, t) {
			printf("           %-6s %s\n", json_string_value(json_object_get(t, "value")),
			       json_string_value(json_object_get(t, "test")));
			print_reads(t);
		}
	}
	printf("\nmethods:\n");
	json_array_foreach(json_object_get(ex, "methods"), i, it) {
		printf("  %-17s %s", json_string_value(json_object_get(it, "method")),
		       json_string_value(json_object_get(it, "status")));
		json_t *by = json_object_get(it, "excluded_by"), *r;
		size_t k;
		json_array_foreach(by, k, r)
			printf("%s%s", k ? ", " : " (", json_string_value(r));
		printf("%s\n", json_array_size(by) ? ")" : "");
	}
	printf("\noffered:");
	json_array_foreach(json_object_get(resp, "idv_methods"), i, it) {
		json_t *v = json_object_get(it, "value");
		printf(" %s%s%s%s", json_string_value(json_object_get(it, "type")), v ? " (" : "",
		       v ? json_string_value(v) : "", v ? ")" : "");
	}
	printf("%s\n", json_array_size(json_object_get(resp, "idv_methods")) ? "" : " none");
	json_array_foreach(json_object_get(ex, "notes"), i, it)
		printf("note: %s\n", json_string_value(it));
}

int cmd_explain(int argc, char **argv)
{
	struct opts o;
	FILE *in = stdin;
	size_t len = 0, outlen = 0;
	const char *res = NULL;
	int status = 0;

	if (parse_opts(argc, argv, &o,
	               "usage: stepup explain --rules FILE|DIR|BUNDLE... [--config SETTINGS] [--plugins CONFIG] [--allow-empty] [--json] [INPUT.json]\n") < 0)
		return 2;
	stepup_engine *e = cli_engine(&o.rules, o.config, o.plugins, o.flags);
	cli_rules_free(&o.rules);
	if (!e)
		return 2;
	if (o.input && strcmp(o.input, "-") != 0 && !(in = fopen(o.input, "r"))) {
		fprintf(stderr, "stepup explain: cannot open %s\n", o.input);
		stepup_engine_free(e);
		return 2;
	}
	char *text = cli_read_stream(in, 8u << 20, &len);
	if (in != stdin)
		fclose(in);
	stepup_request *r = stepup_request_new();
	stepup_decision *d = stepup_decision_new();
	if (!text || !r || !d) {
		status = 2;
		goto out;
	}
	int rc = stepup_decide_json(e, r, d, text, len, STEPUP_DECIDE_EXPLAIN, &res, &outlen);
	if (rc != STEPUP_OK) {
		fprintf(stderr, "stepup explain: %s\n", rc == STEPUP_EBADREQ || rc == STEPUP_ETOOBIG ? res : stepup_strerror(rc));
		status = 1;
		goto out;
	}
	if (o.json) {
		fwrite(res, 1, outlen, stdout);
		fputc('\n', stdout);
	} else {
		json_t *resp = json_loadb(res, outlen, 0, NULL);
		if (!resp) {
			status = 2;
			goto out;
		}
		print_explain(resp);
		json_decref(resp);
	}
out:
	free(text);
	stepup_request_free(r);
	stepup_decision_free(d);
	stepup_engine_free(e);
	return status;
}
