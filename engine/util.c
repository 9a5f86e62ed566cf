/* util.c: small helpers shared inside libstepup. */
#include "util.h"

#include <stdlib.h>

void su_vset_err(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

void su_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	su_vset_err(err, errlen, fmt, ap);
	va_end(ap);
}

int su_read_stream(FILE *f, size_t max, char **out, size_t *len)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;

	*out = NULL;
	*len = 0;
	for (;;) {
		if (n + 1 >= cap) {
			size_t want = cap ? cap * 2 : 65536;
			if (want > max + 2)
				want = max + 2;
			if (want <= n + 1)
				break;  /* read max + 1 bytes: enough to say "too large" */
			char *b = realloc(buf, want);
			if (!b) {
				free(buf);
				return -1;
			}
			buf = b;
			cap = want;
		}
		size_t k = fread(buf + n, 1, cap - n - 1, f);
		n += k;
		if (k == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return -2;
	}
	if (!buf && !(buf = malloc(1)))
		return -1;
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
