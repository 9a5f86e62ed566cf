/* common.c: what the libFuzzer targets share (see common.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
