/* util.h: growable text buffers, JSON string escaping and clocks shared by
 * the daemon's modules. Nothing here logs or exits. */
#ifndef STEPUPD_UTIL_H
#define STEPUPD_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer, always NUL-terminated once it has grown. On
 * allocation failure it sets `failed` and drops further writes, so callers
 * check once at the end instead of after every append. */
typedef struct dbuf {
	char *s;
	size_t len, cap;
	int failed;
} dbuf;

void dbuf_free(dbuf *b);
void dbuf_reset(dbuf *b);
int dbuf_reserve(dbuf *b, size_t extra);
void dbuf_put(dbuf *b, const char *s, size_t n);
void dbuf_puts(dbuf *b, const char *s);
void dbuf_putc(dbuf *b, char c);
void dbuf_printf(dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* v in decimal (no printf: the decision log writes one per decision). */
void dbuf_u64(dbuf *b, uint64_t v);
void dbuf_vprintf(dbuf *b, const char *fmt, va_list ap);
/* s as a JSON string literal, quotes included. Control bytes are escaped;
 * invalid UTF-8 passes through (our inputs are validated ASCII or our own). */
void dbuf_json_str(dbuf *b, const char *s, size_t n);
static inline void dbuf_json(dbuf *b, const char *s)
{
	dbuf_json_str(b, s, s ? __builtin_strlen(s) : 0);
}

/* Nanoseconds on CLOCK_MONOTONIC (durations, deadlines). */
uint64_t mono_ns(void);
/* Nanoseconds since the Unix epoch (timestamps). */
uint64_t wall_ns(void);
/* *ts = CLOCK_REALTIME now + ms: a pthread_cond_timedwait deadline. */
struct timespec;
void realtime_after_ms(struct timespec *ts, unsigned ms);
/* "2024-11-22T07:04:05.123Z" for a wall_ns() value; buf needs 25 bytes. */
void rfc3339_ms(uint64_t wall, char buf[32]);

/* Constant-time comparison of two byte strings: the time depends on the
 * lengths only, so a token cannot be guessed byte by byte. 1 when equal. */
int ct_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
