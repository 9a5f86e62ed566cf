/* common.c: helpers shared by the subcommands. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

size_t cli_print_diags(const stepup_compiler *c)
{
	char buf[4096];
	for (size_t i = 0; i < stepup_compiler_diag_count(c); i++) {
		stepup_compiler_render_diag(c, i, buf, sizeof(buf));
		fputs(buf, stderr);
	}
	return stepup_compiler_error_count(c);
}

stepup_engine *cli_engine(const char *rules, const char *settings)
{
	stepup_ruleset *rs = NULL;
	stepup_engine *e = NULL;
	char err[1024];
	int rc;

	/* Sources get full diagnostics; bundles a one-line reason. */
	FILE *f = fopen(rules, "rb");
	char magic[8] = {0};
	if (f) {
		size_t n = fread(magic, 1, sizeof(magic), f);
		(void)n;
		fclose(f);
	}
	if (f && memcmp(magic, "STEPUPB", 7) != 0) {
		stepup_compiler *c = stepup_compiler_new();
		if (!c)
			return NULL;
		stepup_compiler_add_file(c, rules);
		rc = stepup_compiler_compile(c, &rs);
		cli_print_diags(c);
		stepup_compiler_free(c);
		if (rc != STEPUP_OK) {
			fprintf(stderr, "stepup: %s: %s\n", rules, stepup_strerror(rc));
			return NULL;
		}
	} else {
		rc = stepup_ruleset_load(rules, &rs, err, sizeof(err));
		if (rc != STEPUP_OK) {
			fprintf(stderr, "stepup: %s\n", err);
			return NULL;
		}
	}
	rc = stepup_engine_new_from_file(rs, settings, &e, err, sizeof(err));
	stepup_ruleset_unref(rs);
	if (rc != STEPUP_OK) {
		fprintf(stderr, "stepup: %s\n", err);
		return NULL;
	}
	return e;
}

long cli_getline(char **buf, size_t *cap, FILE *f)
{
	ssize_t n = getline(buf, cap, f);
	if (n < 0)
		return -1;
	while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
		(*buf)[--n] = '\0';
	return (long)n;
}
