/* jsonw.h: a small append-only JSON text writer over a growable buffer,
 * used on the hot path where building a jansson tree would cost more than
 * the decision itself. */
#ifndef SU_JSONW_H
#define SU_JSONW_H

#include <stddef.h>

typedef struct su_jw {
	char **buf;
	size_t *len, *cap;
	int oom;
} su_jw;

void su_jw_raw(su_jw *w, const char *s, size_t n);
void su_jw_lit(su_jw *w, const char *s);              /* raw C string */
/* A raw string literal, without strlen. */
#define SU_JW_LIT(w, lit) su_jw_raw((w), "" lit, sizeof(lit) - 1)
void su_jw_str(su_jw *w, const char *s, size_t n);    /* quoted, escaped */
/* The escaping behind su_jw_str, for writers of their own: s quoted and
 * escaped, handed to emit in pieces. */
void su_json_escape(const char *s, size_t n, void (*emit)(void *ctx, const char *p, size_t n), void *ctx);
void su_jw_cstr(su_jw *w, const char *s);
void su_jw_uint(su_jw *w, unsigned long long v);
/* "key": — the key is a trusted literal. */
void su_jw_key(su_jw *w, const char *key);

#endif
