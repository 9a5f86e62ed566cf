/* cli.h: pieces shared by the stepup subcommands. */
#ifndef STEPUP_CLI_H
#define STEPUP_CLI_H

#include <stdio.h>
#include <stepup/stepup.h>

int cmd_check(int argc, char **argv);
int cmd_compile(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_mdes(int argc, char **argv);

/* Print every diagnostic of c to stderr; returns the error count. */
size_t cli_print_diags(const stepup_compiler *c);
/* Load the plugins of the "plugins" section of a configuration file
 * (relative paths from the file's folder). 0 with *out NULL when path is
 * NULL or the file has no such section; -1 after printing the problem. */
int cli_plugins(const char *path, stepup_plugins **out);
/* Load rules (source or bundle) and settings into an engine; prints the
 * problem and returns NULL on failure. Plugins come from `plugins` (a
 * configuration file) when given, else from the settings file's
 * "plugins" section: the rules may call their functions. `flags` are
 * STEPUP_LOAD_* (--allow-empty). */
stepup_engine *cli_engine(const char *rules, const char *settings, const char *plugins, unsigned flags);
/* A whole file, read without blocking on a FIFO or a device (refused:
 * not a regular file); NULL after printing why. malloc'd, NUL-terminated. */
char *cli_read_file(const char *path, size_t *len);
/* Read one line of any length; returns its length or -1 at EOF. */
long cli_getline(char **buf, size_t *cap, FILE *f);

#endif
