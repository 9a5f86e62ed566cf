/* common.c: what the libFuzzer targets share (see common.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/stepup.h>

#include "common.h"

void fuzz_invariant_failed(const char *file, int line, const char *cond)
{
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	fprintf(stderr, "%.*s: invariant failed at %s:%d: %s\n", (int)strcspn(base, "."), base, file, line, cond);
	abort();
}

char *strip_decision_id(const char *s, size_t len)
{
	char *c = malloc(len + 1);
	CHECK(c);
	memcpy(c, s, len);
	c[len] = '\0';
	char *p = strstr(c, "\"decision_id\":\"");
	if (p) {
		p += strlen("\"decision_id\":\"");
		while (*p && *p != '"')
			*p++ = 'x';
	}
	return c;
}

/* The digits of s[0..n), in order, NUL-terminated (malloc'd). */
static char *digits_of(const char *s, size_t n, size_t *len)
{
	char *d = malloc(n + 1);
	size_t k = 0;
	CHECK(d);
	for (size_t i = 0; i < n; i++)
		if (s[i] >= '0' && s[i] <= '9')
			d[k++] = s[i];
	d[k] = '\0';
	*len = k;
	return d;
}

void check_no_card_echo(const char *what, const void *in, size_t inlen, const char *out, size_t outlen)
{
	size_t at = 0, a, b, nd = 0;
	char *input_digits = NULL;

	while (at < outlen && stepup_card_number_find(out + at, outlen - at, &a, &b)) {
		size_t n;
		char *card = digits_of(out + at + a, b - a, &n);
		if (!input_digits)
			input_digits = digits_of(in, inlen, &nd);
		if (memmem(input_digits, nd, card, n)) {
			fprintf(stderr, "card-number oracle: %s holds the card number %s (bytes %zu-%zu) that the "
			        "input holds too:\n%.*s\n", what, card, at + a, at + b, (int)outlen, out);
			abort();
		}
		free(card);
		at += b;
	}
	free(input_digits);
}
