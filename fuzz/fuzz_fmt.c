/* fuzz_fmt.c: libFuzzer target for the formatter (`stepup fmt`,
 * dsl/fmt.c).
 *
 * Input = rule source text (seeded with every rules file of the tree and
 * fuzz/corpus/fmt, which puts comments in odd places).
 *
 * When the input parses (no lexical or syntax error):
 *   - fmt(x) parses with no error either, to the same declarations as x
 *     (su_file_dump, which leaves out locations and comments, is equal);
 *   - fmt(fmt(x)) == fmt(x) byte for byte (the layout is canonical);
 *   - fmt(x) keeps every comment: it has as many as x.
 * When it does not, the formatter refuses it (STEPUP_ECOMPILE) and
 * returns no text. Any invariant broken calls abort(). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/stepup.h>

#include "common.h"
#include "diag.h"
#include "fmt.h"
#include "parse_ctx.h"

/* Parse text as source 0 of fresh diagnostics: its dump (NULL when it
 * has errors) and its number of comments. */
static char *parse_dump(const char *text, size_t len, size_t *ncomments)
{
	su_diags d;
	char *dump = NULL;

	su_diags_init(&d);
	CHECK(su_diags_add_source(&d, "f.rules", text, len) == 0);
	su_file *f = su_parse_keep_comments(&d, 0);
	CHECK(f != NULL && !d.oom);
	if (d.nerrors == 0) {
		dump = su_file_dump(f);
		CHECK(dump != NULL);
	}
	*ncomments = f->ncomments;
	su_file_free(f);
	su_diags_fini(&d);
	return dump;
}

/* fmt of text: STEPUP_OK with *out, or the status. */
static int format(const char *text, size_t len, char **out, size_t *outlen)
{
	su_diags d;
	su_diags_init(&d);
	CHECK(su_diags_add_source(&d, "f.rules", text, len) == 0);
	int rc = su_fmt_source(&d, 0, out, outlen);
	CHECK(rc == STEPUP_OK || rc == STEPUP_ECOMPILE);
	CHECK((rc == STEPUP_OK) == (d.nerrors == 0));
	CHECK(rc == STEPUP_OK ? *out != NULL && strlen(*out) == *outlen : *out == NULL);
	su_diags_fini(&d);
	return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char *f1 = NULL, *f2 = NULL;
	size_t n1, n2, c0, c1;

	/* The compiler refuses a NUL byte before parsing; so does the CLI. */
	if (size > 65536 || memchr(data, '\0', size))
		return 0;
	char *d0 = parse_dump(text, size, &c0);
	int rc = format(text, size, &f1, &n1);
	CHECK((rc == STEPUP_OK) == (d0 != NULL));
	if (rc == STEPUP_OK) {
		char *d1 = parse_dump(f1, n1, &c1);
		CHECK(d1 != NULL);              /* the output parses */
		CHECK(strcmp(d0, d1) == 0);     /* to the same declarations */
		CHECK(c1 == c0);                /* with every comment */
		CHECK(format(f1, n1, &f2, &n2) == STEPUP_OK);
		CHECK(n1 == n2 && memcmp(f1, f2, n1) == 0);  /* idempotent */
		free(d1);
	}
	free(d0);
	free(f1);
	free(f2);
	return 0;
}
