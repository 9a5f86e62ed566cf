/* cmd_check.c: `stepup check` and `stepup compile`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CHECK_USAGE "usage: stepup check [--plugins CONFIG.json] [--allow-empty] FILE...\n"

int cmd_check(int argc, char **argv)
{
	const char *plugins = NULL;
	stepup_plugins *pl = NULL;
	int status = 0, nfiles = 0;
	unsigned flags = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--plugins") == 0 && i + 1 < argc)
			plugins = argv[++i];
		else if (strcmp(argv[i], "--allow-empty") == 0)
			flags |= STEPUP_LOAD_ALLOW_EMPTY;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "stepup check: unknown option %s\n" CHECK_USAGE, argv[i]);
			return 2;
		} else
			nfiles++;
	}
	if (!nfiles) {
		fprintf(stderr, CHECK_USAGE);
		return 2;
	}
	if (cli_plugins(plugins, &pl) < 0)
		return 2;
	/* Each file is a complete ruleset and is checked on its own. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--plugins") == 0) {
			i++;
			continue;
		}
		if (strcmp(argv[i], "--allow-empty") == 0)
			continue;
		stepup_compiler *c = stepup_compiler_new();
		stepup_ruleset *rs = NULL;
		if (!c) {
			status = 2;
			break;
		}
		stepup_compiler_set_plugins(c, pl);
		stepup_compiler_set_flags(c, flags);
		stepup_compiler_add_file(c, argv[i]);
		int rc = stepup_compiler_compile(c, &rs);
		size_t errors = cli_print_diags(c);
		if (rc != STEPUP_OK) {
			fprintf(stderr, "%s: %zu error%s\n", argv[i], errors, errors == 1 ? "" : "s");
			status = 1;
		} else {
			printf("%s: ok: ruleset \"%s\", %zu rules, %s\n", argv[i], stepup_ruleset_name(rs),
			       stepup_ruleset_rule_count(rs), stepup_ruleset_revision(rs));
		}
		stepup_ruleset_unref(rs);
		stepup_compiler_free(c);
	}
	stepup_plugins_unref(pl);
	return status;
}

int cmd_compile(int argc, char **argv)
{
	const char *out = NULL, *plugins = NULL, *sign = NULL;
	int dump = 0, nsrc = 0, rc;
	stepup_compiler *c = stepup_compiler_new();
	stepup_ruleset *rs = NULL;
	stepup_plugins *pl = NULL;
	char err[512];

	if (!c)
		return 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--plugins") == 0 && i + 1 < argc)
			plugins = argv[++i];
		else if (strcmp(argv[i], "--sign") == 0 && i + 1 < argc)
			sign = argv[++i];
		else if (strcmp(argv[i], "-S") == 0)
			dump = 1;
		else if (strcmp(argv[i], "--allow-empty") == 0)
			stepup_compiler_set_flags(c, STEPUP_LOAD_ALLOW_EMPTY);
		else if (argv[i][0] == '-') {
			fprintf(stderr, "stepup compile: unknown option %s\n", argv[i]);
			stepup_compiler_free(c);
			return 2;
		} else {
			stepup_compiler_add_file(c, argv[i]);
			nsrc++;
		}
	}
	if (!nsrc || (!out && !dump) || (sign && !out)) {
		fprintf(stderr, "usage: stepup compile [--plugins CONFIG.json] [--allow-empty] FILE... -o OUT.bundle [-S] [--sign KEY]\n");
		stepup_compiler_free(c);
		return 2;
	}
	if (cli_plugins(plugins, &pl) < 0) {
		stepup_compiler_free(c);
		return 2;
	}
	stepup_compiler_set_plugins(c, pl);
	rc = stepup_compiler_compile(c, &rs);
	cli_print_diags(c);
	stepup_compiler_free(c);
	/* The bundle records what it imports; the plugins are needed again
	 * only when an engine is built on it. */
	stepup_plugins_unref(pl);
	if (rc != STEPUP_OK) {
		fprintf(stderr, "stepup compile: %s\n", stepup_strerror(rc));
		return 1;
	}
	if (dump) {
		char *text = stepup_ruleset_disassemble(rs);
		if (text)
			fputs(text, stdout);
		free(text);
	}
	if (out) {
		rc = sign ? (cli_save_signed(rs, out, sign) < 0 ? STEPUP_EIO : STEPUP_OK)
		          : stepup_ruleset_save(rs, out, err, sizeof(err));
		if (rc != STEPUP_OK) {
			if (!sign)
				fprintf(stderr, "stepup compile: %s\n", err);
			stepup_ruleset_unref(rs);
			return 1;
		}
		fprintf(stderr, "wrote %s: ruleset \"%s\" %s\n", out, stepup_ruleset_name(rs),
		        stepup_ruleset_revision(rs));
	}
	stepup_ruleset_unref(rs);
	return 0;
}
