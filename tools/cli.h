/* cli.h: pieces shared by the stepup subcommands. */
#ifndef STEPUP_CLI_H
#define STEPUP_CLI_H

#include <jansson.h>
#include <stdio.h>
#include <stepup/stepup.h>

int cmd_check(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_fmt(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_mdes(int argc, char **argv);
/* Change control (docs/change-control.md): cmd_diff.c, cmd_replay.c, cmd_keygen.c. */
int cmd_diff(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
/* `stepup compile --sign KEY`: save rs to out signed with KEY; 0, or -1
 * after printing why. */
int cli_save_signed(const stepup_ruleset *rs, const char *out, const char *key);
/* Whether the JSON array a holds the string s. */
int cli_json_has(json_t *a, const char *s);
/* {"name":..,"revision":..} of an engine's ruleset into buf (snprintf). */
int cli_ruleset_json(const stepup_engine *e, char *buf, size_t size);

/* Print every diagnostic of c to stderr; returns the error count. */
size_t cli_print_diags(const stepup_compiler *c);
/* Load the plugins of the "plugins" section of a configuration file
 * (relative paths from the file's folder). 0 with *out NULL when path is
 * NULL or the file has no such section; -1 after printing the problem. */
int cli_plugins(const char *path, stepup_plugins **out);
/* The rule files of a command: every FILE operand (check, compile) or every
 * --rules FILE (repeatable); a directory stands for the *.rules files
 * directly in it, in name order. All of them are one ruleset. Paths are
 * borrowed from argv. */
typedef struct cli_rules {
	const char **v;
	size_t n, cap;
} cli_rules;
int cli_rules_add(cli_rules *r, const char *path);  /* -1 on OOM (printed) */
void cli_rules_free(cli_rules *r);
/* argv[*i] is --rules (or -r): add its value and step over it (1); 0 when
 * it is another argument; -1 when the value is missing (usage error). */
int cli_rules_option(cli_rules *r, int argc, char **argv, int *i);

/* The options `stepup diff` and `stepup replay` share (cmd_diff.c). */
typedef struct change_opts {
	cli_rules rules, candidate;  /* each: files, directories or one bundle */
	const char *config, *plugins;
	unsigned flags, examples;   /* STEPUP_LOAD_*; examples per transition */
	int json;
	int nfiles;
	char **files;               /* the other arguments, in order (into argv) */
} change_opts;
/* Parse argv into o (o->files is malloc'd: free it, and cli_rules_free
 * o->rules and o->candidate); -1 after printing
 * `usage` (prefixed by "stepup CMD: " and the option) on a bad option. */
int cli_change_opts(int argc, char **argv, const char *cmd, const char *usage, change_opts *o);
void change_opts_free(change_opts *o);

typedef struct cli_loaded {
	size_t errors, warnings;  /* diagnostics printed (a failure to read counts as an error) */
	int bundle;               /* the ruleset came from a bundle */
} cli_loaded;
/* Compile every file of r as one ruleset with the rule functions of pl
 * (may be NULL) and STEPUP_LOAD_* / STEPUP_COMPILE_* flags, printing the
 * diagnostics; one bundle given alone is loaded instead (a bundle with
 * other files is refused). NULL after printing why. */
stepup_ruleset *cli_ruleset(const cli_rules *r, const stepup_plugins *pl, unsigned flags, cli_loaded *info);
/* Read a settings file (JSON syntax checked, errors with the file's
 * position) into *text and load the plugins of `plugins` (a configuration
 * file) or else of the settings' own "plugins" section into *pl (NULL
 * when none). 0, or -1 after printing the problem. */
int cli_settings(const char *settings, const char *plugins, char **text, stepup_plugins **pl);
/* The plugins of settings given as JSON text, relative paths resolved
 * from `dir`: 0, or -1 after printing the problem. */
int cli_settings_text(const char *dir, const char *text, stepup_plugins **pl);
/* An engine on rs with settings (JSON text, may be NULL) and plugins (may
 * be NULL; the engine takes its own references); NULL after printing why. */
stepup_engine *cli_engine_on(stepup_ruleset *rs, const char *settings_text, stepup_plugins *pl);
/* cli_settings + cli_ruleset + cli_engine_on. */
stepup_engine *cli_engine(const cli_rules *rules, const char *settings, const char *plugins, unsigned flags);
/* A whole file, read without blocking on a FIFO or a device (refused:
 * not a regular file); NULL after printing why. malloc'd, NUL-terminated. */
char *cli_read_file(const char *path, size_t *len);
/* A whole stream (standard input, a file opened by the caller), up to
 * about max bytes; NULL on a read error, OOM or when it is larger.
 * malloc'd, NUL-terminated. */
char *cli_read_stream(FILE *f, size_t max, size_t *len);
/* Read one line of any length; returns its length or -1 at EOF. */
long cli_getline(char **buf, size_t *cap, FILE *f);

#endif
