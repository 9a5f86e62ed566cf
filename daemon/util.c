/* util.c: buffers, JSON escaping, clocks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

void dbuf_free(dbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

void dbuf_reset(dbuf *b)
{
	b->len = 0;
	b->failed = 0;
	if (b->s)
		b->s[0] = '\0';
}

int dbuf_reserve(dbuf *b, size_t extra)
{
	if (b->failed)
		return -1;
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->failed = 1;
		return -1;
	}
	b->s = s;
	b->cap = cap;
	return 0;
}

void dbuf_put(dbuf *b, const char *s, size_t n)
{
	if (dbuf_reserve(b, n) < 0)
		return;
	if (n)
		memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void dbuf_puts(dbuf *b, const char *s)
{
	dbuf_put(b, s, strlen(s));
}

void dbuf_putc(dbuf *b, char c)
{
	dbuf_put(b, &c, 1);
}

void dbuf_vprintf(dbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || dbuf_reserve(b, (size_t)n) < 0)
		return;
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void dbuf_printf(dbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dbuf_vprintf(b, fmt, ap);
	va_end(ap);
}

void dbuf_json_str(dbuf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t clean = 0;
	/* Ids, names and revisions need no escaping: copy them whole. */
	while (clean < n && (unsigned char)s[clean] >= 0x20 && s[clean] != '"' &&
	       s[clean] != '\\' && s[clean] != 0x7f)
		clean++;
	/* Worst case every byte becomes \u00XX. */
	if (dbuf_reserve(b, clean + (n - clean) * 6 + 2) < 0)
		return;
	char *o = b->s + b->len;
	*o++ = '"';
	memcpy(o, s, clean);
	o += clean;
	for (size_t i = clean; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c == '\n') {
			*o++ = '\\';
			*o++ = 'n';
		} else if (c == '\t') {
			*o++ = '\\';
			*o++ = 't';
		} else if (c == '\r') {
			*o++ = '\\';
			*o++ = 'r';
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
		} else {
			*o++ = (char)c;
		}
	}
	*o++ = '"';
	*o = '\0';
	b->len = (size_t)(o - b->s);
}

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void realtime_after_ms(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	uint64_t ns = (uint64_t)ts->tv_nsec + (uint64_t)ms * 1000000u;
	ts->tv_sec += (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

uint64_t wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rfc3339_ms(uint64_t wall, char buf[32])
{
	/* gmtime_r costs more than the rest of a log line; the date part only
	 * changes once a second, so each thread keeps the last one. */
	static _Thread_local time_t last_sec = -1;
	static _Thread_local char last[20];  /* "2024-11-22T07:04:05" */
	time_t sec = (time_t)(wall / 1000000000u);
	unsigned ms = (unsigned)(wall / 1000000u % 1000u);
	if (sec != last_sec) {
		struct tm tm;
		gmtime_r(&sec, &tm);
		if (strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm) != 19)
			memcpy(last, "0000-00-00T00:00:00", 20);
		last_sec = sec;
	}
	memcpy(buf, last, 19);
	buf[19] = '.';
	buf[20] = (char)('0' + ms / 100);
	buf[21] = (char)('0' + ms / 10 % 10);
	buf[22] = (char)('0' + ms % 10);
	buf[23] = 'Z';
	buf[24] = '\0';
}

void dbuf_u64(dbuf *b, uint64_t v)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	dbuf_put(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	/* Compare over the expected length whatever was given, so a short guess
	 * costs as long as a full one. */
	unsigned diff = alen != blen;
	for (size_t i = 0; i < blen; i++) {
		unsigned char x = i < alen ? (unsigned char)a[i] : 0;
		diff |= (unsigned)(x ^ (unsigned char)b[i]);
	}
	return diff == 0;
}
