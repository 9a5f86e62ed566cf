/* cmd_check.c: `stepup check` and `stepup compile`. Every file given (a
 * directory: its *.rules files) is part of one ruleset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CHECK_USAGE \
	"usage: stepup check [--plugins CONFIG.json] [--allow-empty] [--strict] FILE|DIR...\n"
#define COMPILE_USAGE \
	"usage: stepup compile [--plugins CONFIG.json] [--allow-empty] [--strict] FILE|DIR... -o OUT.bundle [-S]\n" \
	"                      [--sign KEY]\n"

/* What check and compile share: the options that shape the ruleset. */
typedef struct build_opts {
	cli_rules files;
	const char *plugins;
	unsigned flags;          /* STEPUP_LOAD_* | STEPUP_COMPILE_* */
} build_opts;

/* One of the shared options at argv[*i]: 1 when taken (its value too),
 * 0 when not one of them. */
static int build_option(build_opts *o, int argc, char **argv, int *i)
{
	if (strcmp(argv[*i], "--plugins") == 0 && *i + 1 < argc) {
		o->plugins = argv[++*i];
		return 1;
	}
	if (strcmp(argv[*i], "--allow-empty") == 0) {
		o->flags |= STEPUP_LOAD_ALLOW_EMPTY;
		return 1;
	}
	if (strcmp(argv[*i], "--strict") == 0) {
		o->flags |= STEPUP_COMPILE_STRICT;
		return 1;
	}
	return 0;
}

/* Compile o's files; NULL after printing why. *failed: 0, 1 when the
 * rules fail (under --strict a warning too: the ruleset is still
 * returned), 2 when the plugins do not load. */
static stepup_ruleset *build(const build_opts *o, cli_loaded *info, int *failed)
{
	stepup_plugins *pl = NULL;
	*failed = 2;
	memset(info, 0, sizeof(*info));
	if (cli_plugins(o->plugins, &pl) < 0)
		return NULL;
	stepup_ruleset *rs = cli_ruleset(&o->files, pl, o->flags, info);
	/* The ruleset records what it imports; the plugins are needed again
	 * only when an engine is built on it. */
	stepup_plugins_unref(pl);
	*failed = !rs || ((o->flags & STEPUP_COMPILE_STRICT) && info->warnings);
	return rs;
}

static const char *what(const build_opts *o)
{
	return o->files.n == 1 ? o->files.v[0] : "ruleset";
}

int cmd_check(int argc, char **argv)
{
	build_opts o = { 0 };
	cli_loaded info;
	int failed;

	for (int i = 1; i < argc; i++) {
		if (build_option(&o, argc, argv, &i))
			continue;
		if (argv[i][0] == '-') {
			fprintf(stderr, "stepup check: unknown option %s\n" CHECK_USAGE, argv[i]);
			cli_rules_free(&o.files);
			return 2;
		}
		if (cli_rules_add(&o.files, argv[i]) < 0)
			return 2;
	}
	if (!o.files.n) {
		fprintf(stderr, CHECK_USAGE);
		return 2;
	}
	stepup_ruleset *rs = build(&o, &info, &failed);
	if (failed == 2) {
		/* cli_plugins said why */
	} else if (!rs) {
		fprintf(stderr, "%s: %zu error%s\n", what(&o), info.errors, info.errors == 1 ? "" : "s");
	} else if (failed) {
		fprintf(stderr, "%s: %zu warning%s (--strict)\n", what(&o), info.warnings,
		        info.warnings == 1 ? "" : "s");
	} else {
		printf("%s: ok: ruleset \"%s\", %zu rules, %s\n", what(&o), stepup_ruleset_name(rs),
		       stepup_ruleset_rule_count(rs), stepup_ruleset_revision(rs));
	}
	stepup_ruleset_unref(rs);
	cli_rules_free(&o.files);
	return failed;
}

int cmd_compile(int argc, char **argv)
{
	build_opts o = { 0 };
	const char *out = NULL, *sign = NULL;
	int dump = 0, failed, rc;
	cli_loaded info;
	char err[512];

	for (int i = 1; i < argc; i++) {
		if (build_option(&o, argc, argv, &i))
			continue;
		if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--sign") == 0 && i + 1 < argc)
			sign = argv[++i];
		else if (strcmp(argv[i], "-S") == 0)
			dump = 1;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "stepup compile: unknown option %s\n" COMPILE_USAGE, argv[i]);
			cli_rules_free(&o.files);
			return 2;
		} else if (cli_rules_add(&o.files, argv[i]) < 0)
			return 2;
	}
	if (!o.files.n || (!out && !dump) || (sign && !out)) {
		fprintf(stderr, COMPILE_USAGE);
		cli_rules_free(&o.files);
		return 2;
	}
	stepup_ruleset *rs = build(&o, &info, &failed);
	cli_rules_free(&o.files);
	if (failed == 2)
		return 2;
	if (failed) {
		fprintf(stderr, "stepup compile: %s\n",
		        rs ? "warnings under --strict: nothing written" : stepup_strerror(STEPUP_ECOMPILE));
		stepup_ruleset_unref(rs);
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
