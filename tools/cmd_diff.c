/* cmd_diff.c: `stepup diff`: what a candidate ruleset would change on a
 * file of requests, against the ruleset in force (report.h says how
 * decisions are compared and counted; docs/change-control.md). Request
 * data never reaches the output: examples are named by request id. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "report.h"

#define DIFF_USAGE                                                                                     \
	"usage: stepup diff --rules OLD --candidate NEW [--config SETTINGS] [--plugins CONFIG]\n"      \
	"                   [--allow-empty] [--json] [--examples N] [REQUESTS.jsonl]\n"

/* A decision, or a refusal, as a report side; the names and effects
 * arrays are the caller's (room for every rule of the ruleset). */
static void side(rep_side *s, int rc, const stepup_decision *d, const rep_rules *t, const char **names,
                 int *effects)
{
	if (rc == STEPUP_OK)
		rep_side_of(s, d, t, names, effects);
	else
		rep_side_refused(s);
}

int cli_ruleset_json(const stepup_engine *e, char *buf, size_t size)
{
	const stepup_ruleset *rs = stepup_engine_ruleset(e);
	json_t *o = json_pack("{s:s,s:s}", "name", stepup_ruleset_name(rs), "revision", stepup_ruleset_revision(rs));
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int n = snprintf(buf, size, "%s", s ? s : "{}");
	free(s);
	json_decref(o);
	return n;
}

void change_opts_free(change_opts *o)
{
	cli_rules_free(&o->rules);
	cli_rules_free(&o->candidate);
	free(o->files);
	o->files = NULL;
}

int cli_change_opts(int argc, char **argv, const char *cmd, const char *usage, change_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->examples = 3;
	if (!(o->files = calloc((size_t)argc + 1, sizeof(char *))))
		return -1;
	for (int i = 1; i < argc; i++) {
		/* --rules and --candidate may repeat: their files make one ruleset. */
		int taken = cli_rules_option(&o->rules, argc, argv, &i), bad = taken < 0;
		if (taken)
			;
		else if (strcmp(argv[i], "--candidate") == 0 && i + 1 < argc)
			bad = cli_rules_add(&o->candidate, argv[++i]) < 0;
		else if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc)
			o->config = argv[++i];
		else if (strcmp(argv[i], "--plugins") == 0 && i + 1 < argc)
			o->plugins = argv[++i];
		else if (strcmp(argv[i], "--examples") == 0 && i + 1 < argc)
			o->examples = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--json") == 0)
			o->json = 1;
		else if (strcmp(argv[i], "--allow-empty") == 0)
			o->flags |= STEPUP_LOAD_ALLOW_EMPTY;
		else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "stepup %s: unknown option %s\n", cmd, argv[i]);
			bad = 1;
		} else
			o->files[o->nfiles++] = argv[i];
		if (bad) {
			fprintf(stderr, "%s", usage);
			change_opts_free(o);
			return -1;
		}
	}
	return 0;
}

int cli_json_has(json_t *a, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	change_opts o;
	int status = 0;

	if (cli_change_opts(argc, argv, "diff", DIFF_USAGE, &o) < 0)
		return 2;
	if (!o.rules.n || !o.candidate.n || o.nfiles > 1) {
		fprintf(stderr, DIFF_USAGE);
		change_opts_free(&o);
		return 2;
	}
	const char *input = o.nfiles ? o.files[0] : NULL;
	const char *config = o.config, *plugins = o.plugins;
	unsigned flags = o.flags, examples = o.examples;
	int json = o.json;
	stepup_engine *old = cli_engine(&o.rules, config, plugins, flags);
	stepup_engine *new = old ? cli_engine(&o.candidate, config, plugins, flags) : NULL;
	change_opts_free(&o);
	FILE *in = stdin;
	if (!old || !new) {
		stepup_engine_free(old);
		return 2;
	}
	if (input && strcmp(input, "-") != 0 && !(in = fopen(input, "r"))) {
		fprintf(stderr, "stepup diff: cannot open %s\n", input);
		stepup_engine_free(old);
		stepup_engine_free(new);
		return 2;
	}
	size_t nold = stepup_ruleset_rule_count(stepup_engine_ruleset(old));
	size_t nnew = stepup_ruleset_rule_count(stepup_engine_ruleset(new));
	const char **names = malloc((nold + nnew + 1) * sizeof(*names));
	int *outs = malloc((nold + nnew + 1) * sizeof(*outs));
	stepup_request *r1 = stepup_request_new(), *r2 = stepup_request_new();
	stepup_decision *d1 = stepup_decision_new(), *d2 = stepup_decision_new();
	report *rep = rep_new(examples);
	rep_rules *told = rep_rules_new(stepup_engine_ruleset(old)), *tnew = rep_rules_new(stepup_engine_ruleset(new));
	char *line = NULL;
	size_t cap = 0;
	long n, lineno = 0;
	uint64_t refused = 0;
	if (!names || !outs || !r1 || !r2 || !d1 || !d2 || !rep || !told || !tnew) {
		fprintf(stderr, "stepup diff: out of memory\n");
		status = 2;
		goto out;
	}
	while ((n = cli_getline(&line, &cap, in)) >= 0) {
		char err[256], idbuf[32];
		lineno++;
		if (n == 0 || strspn(line, " \t") == (size_t)n)
			continue;
		int rc1 = stepup_request_parse(r1, old, line, (size_t)n, err, sizeof(err));
		if (rc1 == STEPUP_OK)
			rc1 = stepup_decide(old, r1, d1, 0);
		int rc2 = stepup_request_parse(r2, new, line, (size_t)n, err, sizeof(err));
		if (rc2 == STEPUP_OK)
			rc2 = stepup_decide(new, r2, d2, 0);
		if (rc1 == STEPUP_ENOMEM || rc2 == STEPUP_ENOMEM) {
			fprintf(stderr, "stepup diff: out of memory\n");
			status = 2;
			goto out;
		}
		if (rc1 != STEPUP_OK && rc2 != STEPUP_OK) {
			refused++;  /* refused by both: not a change */
			continue;
		}
		rep_side a, b;
		side(&a, rc1, d1, told, names, outs);
		side(&b, rc2, d2, tnew, names + nold, outs + nold);
		const char *id = rc1 == STEPUP_OK ? stepup_request_id(r1) : stepup_request_id(r2);
		if (!id || !id[0]) {
			snprintf(idbuf, sizeof(idbuf), "line %ld", lineno);
			id = idbuf;
		}
		if (rep_add(rep, &a, &b, id) < 0) {
			fprintf(stderr, "stepup diff: out of memory\n");
			status = 2;
			goto out;
		}
	}
	if (ferror(in)) {
		fprintf(stderr, "stepup diff: read error\n");
		status = 2;
		goto out;
	}
	char o1[512], o2[512];
	cli_ruleset_json(old, o1, sizeof(o1));
	cli_ruleset_json(new, o2, sizeof(o2));
	if (json) {
		char extra[1200];
		snprintf(extra, sizeof(extra), "{\"refused_by_both\":%llu,\"old\":%s,\"candidate\":%s}",
		         (unsigned long long)refused, o1, o2);
		rep_print_json(rep, stdout, extra);
	} else {
		const stepup_ruleset *a = stepup_engine_ruleset(old), *b = stepup_engine_ruleset(new);
		char title[600];
		snprintf(title, sizeof(title), "stepup diff: %s %s -> candidate %s %s", stepup_ruleset_name(a),
		         stepup_ruleset_revision(a), stepup_ruleset_name(b), stepup_ruleset_revision(b));
		rep_print_text(rep, stdout, title);
		if (refused)
			printf("%llu requests refused by both rulesets (not counted)\n", (unsigned long long)refused);
	}
out:
	if (in != stdin)
		fclose(in);
	free(line);
	free(names);
	free(outs);
	rep_free(rep);
	rep_rules_free(told);
	rep_rules_free(tnew);
	stepup_request_free(r1);
	stepup_request_free(r2);
	stepup_decision_free(d1);
	stepup_decision_free(d2);
	stepup_engine_free(old);
	stepup_engine_free(new);
	if (fflush(stdout) != 0)
		status = 2;
	return status;
}
