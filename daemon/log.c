/* log.c: JSON lines on stderr, every string through the one card-number
 * policy (stepup_scrub, docs/pci.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define UNTRUSTED_MAX 512
/* Library and plugin messages may be longer (a diagnostic with context). */
#define LIBRARY_MAX 4096

int log_level_ = LOG_INFO;

static const char *const names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *log_level_name(int level)
{
	return level >= 0 && level < 4 ? names[level] : "info";
}

void log_set_level(int level)
{
	__atomic_store_n(&log_level_, level, __ATOMIC_RELAXED);
}

int log_get_level(void)
{
	return __atomic_load_n(&log_level_, __ATOMIC_RELAXED);
}

static void emit(dbuf *b)
{
	/* A stack-sized line would truncate plugin messages; allocation failure
	 * is the one case where a line is lost, and then nothing better exists. */
	if (b->failed)
		return;
	dbuf_puts(b, "}\n");
	const char *p = b->s;
	size_t n = b->len;
	while (n) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* s as a JSON string with what `what` names (STEPUP_SCRUB_*) replaced. */
static void put_scrubbed(dbuf *b, const char *s, unsigned what)
{
	char stack[512];
	size_t n = strlen(s);
	size_t need = stepup_scrub(s, n, what, stack, sizeof(stack));
	if (need < sizeof(stack)) {
		dbuf_json_str(b, stack, need);
		return;
	}
	char *h = malloc(need + 1);
	if (!h) {
		b->failed = 1;
		return;
	}
	stepup_scrub(s, n, what, h, need + 1);
	dbuf_json_str(b, h, need);
	free(h);
}

static void head(dbuf *b, int level, const char *msg)
{
	char ts[32];
	rfc3339_ms(wall_ns(), ts);
	dbuf_puts(b, "{\"ts\":\"");
	dbuf_puts(b, ts);
	dbuf_puts(b, "\",\"level\":\"");
	dbuf_puts(b, log_level_name(level));
	dbuf_puts(b, "\",\"msg\":");
	put_scrubbed(b, msg, STEPUP_SCRUB_CARD);
}

void log_kv(int level, const char *msg, ...)
{
	if (!log_on(level))
		return;
	dbuf b = {0};
	va_list ap;
	head(&b, level, msg);
	va_start(ap, msg);
	for (;;) {
		int t = va_arg(ap, int);
		if (!t)
			break;
		const char *k = va_arg(ap, const char *);
		const char *s = NULL;
		unsigned long long u = 0;
		long long i = 0;
		int bv = 0;
		switch (t) {
		case 's': s = va_arg(ap, const char *); break;
		case 'u': u = va_arg(ap, unsigned long long); break;
		case 'i': i = va_arg(ap, long long); break;
		case 'b': bv = va_arg(ap, int); break;
		default: t = 0; break;  /* a caller bug: stop reading arguments */
		}
		if (!t)
			break;
		if (t == 's' && !s)  /* absent: no key at all */
			continue;
		dbuf_putc(&b, ',');
		dbuf_json(&b, k);
		dbuf_putc(&b, ':');
		if (t == 's')
			put_scrubbed(&b, s, STEPUP_SCRUB_CARD);
		else if (t == 'u')
			dbuf_printf(&b, "%llu", u);
		else if (t == 'i')
			dbuf_printf(&b, "%lld", i);
		else
			dbuf_puts(&b, bv ? "true" : "false");
	}
	va_end(ap);
	emit(&b);
	dbuf_free(&b);
}

/* Text of foreign origin (the library, plugins, libmicrohttpd) may quote
 * what it was given: card numbers, phone numbers and e-mail addresses are
 * replaced before it becomes a message. At most size - 1 bytes, on one
 * line. Returns msg. */
static char *foreign(const char *text, char *msg, size_t size)
{
	size_t n = stepup_scrub(text, strlen(text), STEPUP_SCRUB_ALL, msg, size);
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		if (msg[i] == '\n' || msg[i] == '\r')
			msg[i] = ' ';
	while (n && msg[n - 1] == ' ')
		n--;
	msg[n] = '\0';
	return msg;
}

void log_from_library(void *ctx, int level, const char *source, const char *msg)
{
	char buf[LIBRARY_MAX];
	(void)ctx;
	if (level < LOG_ERROR)
		level = LOG_ERROR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	if (!log_on(level))
		return;
	log_kv(level, foreign(msg ? msg : "", buf, sizeof(buf)), LS("source", source ? source : "plugin"), LOG_END);
}

void log_untrusted(int level, const char *source, const char *text)
{
	static uint64_t last_ns;
	static unsigned suppressed;
	char msg[UNTRUSTED_MAX];
	if (!log_on(level))
		return;
	uint64_t now = mono_ns(), prev = __atomic_load_n(&last_ns, __ATOMIC_RELAXED);
	if (prev && (now < prev || now - prev < 1000000000u)) {
		__atomic_fetch_add(&suppressed, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_store_n(&last_ns, now, __ATOMIC_RELAXED);
	foreign(text, msg, sizeof(msg));
	unsigned skipped = __atomic_exchange_n(&suppressed, 0, __ATOMIC_RELAXED);
	if (skipped)
		log_kv(level, msg, LS("source", source), LU("suppressed_before", skipped), LOG_END);
	else
		log_kv(level, msg, LS("source", source), LOG_END);
}
