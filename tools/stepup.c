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
	      "  check FILE...                         check rule files; exit 1 on errors\n"
	      "  compile FILE... -o OUT [-S]           compile to a versioned bundle (-S: also print the program)\n"
	      "  eval --rules FILE|BUNDLE [--config SETTINGS] [--explain] [INPUT.jsonl]\n"
	      "                                        decide JSON requests, one per line (stdin by default)\n"
	      "  explain --rules FILE|BUNDLE [--config SETTINGS] [INPUT.json]\n"
	      "                                        show, for one request, why each rule fired or not\n"
	      "  test --rules FILE|BUNDLE [--config SETTINGS] TESTS.jsonl...\n"
	      "                                        run analyst test cases\n"
	      "  schema [--rules FILE...] [--json | --format text|json|markdown]\n"
	      "                                        the request fields rules may read (default schema\n"
	      "                                        unless rule files declare their own)\n"
	      "  mdes encrypt|fingerprint|account-key|account-file ...\n"
	      "                                        helpers for Mastercard MDES (docs/mdes.md)\n"
	      "  version                               print the version\n"
	      "\n"
	      "Every command but version also takes --plugins CONFIG.json: the plugins of that\n"
	      "file's \"plugins\" section, whose functions rules may call (plugin.function(...)).\n"
	      "eval, explain and test load the plugins of the SETTINGS file by default.\n"
	      "A ruleset with no rules would approve every request and is refused unless\n"
	      "--allow-empty is given (check, compile, eval, explain, test).\n",
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
	if (strcmp(cmd, "schema") == 0)
		return cmd_schema(argc - 1, argv + 1);
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
