/* stepup: the rule analyst's and operator's command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
	fputs("usage: stepup <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  check [--strict] FILE|DIR...          check a ruleset; exit 1 on errors (--strict: lints,\n"
	      "                                        and any warning fails)\n"
	      "  compile FILE|DIR... -o OUT [-S] [--sign KEY]\n"
	      "                                        compile to a versioned bundle (-S: also print the program;\n"
	      "                                        --sign: with an Ed25519 signature by the PEM key KEY)\n"
	      "  fmt [-w | --check] [FILE...]          canonical layout, comments kept (-w: rewrite the\n"
	      "                                        files; --check: exit 1 with a diff if not formatted)\n"
	      "  eval --rules RULES [--config SETTINGS] [--explain] [INPUT.jsonl]\n"
	      "                                        decide JSON requests, one per line (stdin by default)\n"
	      "  explain --rules RULES [--config SETTINGS] [INPUT.json]\n"
	      "                                        show, for one request, why each rule fired or not\n"
	      "  test --rules RULES [--config SETTINGS] [--coverage] [--coverage-min PCT]\n"
	      "       [--format text|junit] TESTS.jsonl...\n"
	      "                                        run analyst test cases\n"
	      "  schema [--rules FILE...] [--json | --format text|json|markdown]\n"
	      "                                        the request fields rules may read (default schema\n"
	      "                                        unless rule files declare their own)\n"
	      "  diff --rules OLD --candidate NEW [--json] [REQUESTS.jsonl]\n"
	      "                                        which decisions a new ruleset changes, by transition and rule\n"
	      "  replay --candidate NEW [--json] DECISION_LOG...\n"
	      "                                        the same on the traffic of a replay-safe decision log\n"
	      "  keygen KEY [--pub PUBLIC_KEY]         make an Ed25519 key pair for signing bundles\n"
	      "  mdes encrypt|fingerprint|account-key|account-file ...\n"
	      "                                        helpers for Mastercard MDES (docs/mdes.md)\n"
	      "  version                               print the version\n"
	      "\n"
	      "Several rule files, or a directory (its *.rules files), are one ruleset;\n"
	      "--rules RULES takes a file, a directory or a bundle and may be repeated.\n"
	      "Every command but fmt and version also takes --plugins CONFIG.json: the plugins\n"
	      "of that file's \"plugins\" section, whose functions rules may call\n"
	      "(plugin.function(...)). eval, explain and test load the plugins of the\n"
	      "SETTINGS file by default. A ruleset with no rules would approve every request\n"
	      "and is refused unless --allow-empty is given (check, compile, eval, explain, test).\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "compile") == 0)
		return cmd_compile(argc - 1, argv + 1);
	if (strcmp(cmd, "eval") == 0)
		return cmd_eval(argc - 1, argv + 1);
	if (strcmp(cmd, "explain") == 0)
		return cmd_explain(argc - 1, argv + 1);
	if (strcmp(cmd, "test") == 0)
		return cmd_test(argc - 1, argv + 1);
	if (strcmp(cmd, "fmt") == 0)
		return cmd_fmt(argc - 1, argv + 1);
	if (strcmp(cmd, "schema") == 0)
		return cmd_schema(argc - 1, argv + 1);
	if (strcmp(cmd, "diff") == 0)
		return cmd_diff(argc - 1, argv + 1);
	if (strcmp(cmd, "replay") == 0)
		return cmd_replay(argc - 1, argv + 1);
	if (strcmp(cmd, "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(cmd, "mdes") == 0)
		return cmd_mdes(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("stepup %s\n", STEPUP_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "stepup: unknown command '%s'\n", cmd);
	usage(stderr);
	return 2;
}
