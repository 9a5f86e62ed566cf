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

/* Print every diagnostic of c to stderr; returns the error count. */
size_t cli_print_diags(const stepup_compiler *c);
/* Load rules (source or bundle) and settings into an engine; prints the
 * problem and returns NULL on failure. */
stepup_engine *cli_engine(const char *rules, const char *settings);
/* Read one line of any length; returns its length or -1 at EOF. */
long cli_getline(char **buf, size_t *cap, FILE *f);

#endif
