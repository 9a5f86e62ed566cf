/* jsonw.c: JSON text writer. */
#include "jsonw.h"

#include <stdlib.h>
#include <string.h>

void su_jw_raw(su_jw *w, const char *s, size_t n)
{
	if (w->oom)
		return;
	if (*w->len + n + 1 > *w->cap) {
		size_t cap = *w->cap ? *w->cap * 2 : 1024;
		while (cap < *w->len + n + 1)
			cap *= 2;
		char *b = realloc(*w->buf, cap);
		if (!b) {
			w->oom = 1;
			return;
		}
		*w->buf = b;
		*w->cap = cap;
	}
	memcpy(*w->buf + *w->len, s, n);
	*w->len += n;
	(*w->buf)[*w->len] = '\0';
}

void su_jw_lit(su_jw *w, const char *s)
{
	su_jw_raw(w, s, strlen(s));
}

void su_json_escape(const char *s, size_t n, void (*emit)(void *ctx, const char *p, size_t n), void *ctx)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	emit(ctx, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		emit(ctx, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': emit(ctx, "\\\"", 2); break;
		case '\\': emit(ctx, "\\\\", 2); break;
		case '\n': emit(ctx, "\\n", 2); break;
		case '\t': emit(ctx, "\\t", 2); break;
		case '\r': emit(ctx, "\\r", 2); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			emit(ctx, u, 6);
		}
		}
	}
	emit(ctx, s + run, n - run);
	emit(ctx, "\"", 1);
}

static void emit_jw(void *w, const char *p, size_t n)
{
	su_jw_raw(w, p, n);
}

void su_jw_str(su_jw *w, const char *s, size_t n)
{
	su_json_escape(s, n, emit_jw, w);
}

void su_jw_cstr(su_jw *w, const char *s)
{
	su_jw_str(w, s, strlen(s));
}

void su_jw_uint(su_jw *w, unsigned long long v)
{
	char b[24], *p = b + sizeof(b);
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	su_jw_raw(w, p, (size_t)(b + sizeof(b) - p));
}

void su_jw_key(su_jw *w, const char *key)
{
	su_jw_raw(w, "\"", 1);
	su_jw_lit(w, key);
	su_jw_raw(w, "\":", 2);
}
