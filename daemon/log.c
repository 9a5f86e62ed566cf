/* log.c: JSON lines on stderr. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define UNTRUSTED_MAX 512

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

static void head(dbuf *b, int level, const char *msg)
{
	char ts[32];
	rfc3339_ms(wall_ns(), ts);
	dbuf_puts(b, "{\"ts\":\"");
	dbuf_puts(b, ts);
	dbuf_puts(b, "\",\"level\":\"");
	dbuf_puts(b, log_level_name(level));
	dbuf_puts(b, "\",\"msg\":");
	dbuf_json(b, msg);
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
			dbuf_json(&b, s);
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

void log_from_library(void *ctx, int level, const char *source, const char *msg)
{
	(void)ctx;
	if (level < LOG_ERROR)
		level = LOG_ERROR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_kv(level, msg ? msg : "", LS("source", source ? source : "plugin"), LOG_END);
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
	size_t o = 0, run = 0;
	for (size_t i = 0; text[i] && o + 1 < sizeof(msg); i++) {
		run = (text[i] >= '0' && text[i] <= '9') ? run + 1 : 0;
		if (run >= 6) {
			if (run == 6)
				o -= 5;  /* take back the five already copied */
			continue;
		}
		msg[o++] = text[i] == '\n' ? ' ' : text[i];
	}
	while (o && msg[o - 1] == ' ')
		o--;
	msg[o] = '\0';
	unsigned skipped = __atomic_exchange_n(&suppressed, 0, __ATOMIC_RELAXED);
	if (skipped)
		log_kv(level, msg, LS("source", source), LU("suppressed_before", skipped), LOG_END);
	else
		log_kv(level, msg, LS("source", source), LOG_END);
}
