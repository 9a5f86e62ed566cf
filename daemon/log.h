/* log.h: structured logs, one JSON object per line on stderr.
 *
 *   {"ts":"2024-11-22T07:04:05.123Z","level":"info","msg":"listening","port":8080}
 *
 * Fields are typed triples built with the macros below and the list ends
 * with LOG_END (a NULL string value leaves its key out):
 *
 *   log_kv(LOG_INFO, "listening", LS("address", host), LU("port", port), LOG_END);
 *
 * Never pass request bodies, card data or contact data: the daemon logs
 * facts about requests (route, status, request_id, field names), not values.
 * As a last line of defence every string (message and values) goes through
 * the one card-number policy (stepup_scrub, docs/pci.md): a card number
 * becomes "[card number]".
 * Each line is written with one write(2), so lines from several threads
 * never interleave. */
#ifndef STEPUPD_LOG_H
#define STEPUPD_LOG_H

#include <stdint.h>

#include <stepup/stepup.h>

enum {
	LOG_ERROR = STEPUP_LOG_ERROR,
	LOG_WARN = STEPUP_LOG_WARNING,
	LOG_INFO = STEPUP_LOG_INFO,
	LOG_DEBUG = STEPUP_LOG_DEBUG,
};

#define LS(k, v) 's', (const char *)(k), (const char *)(v)
#define LU(k, v) 'u', (const char *)(k), (unsigned long long)(v)
#define LI(k, v) 'i', (const char *)(k), (long long)(v)
#define LB(k, v) 'b', (const char *)(k), (int)(v)
#define LOG_END 0

/* "error", "warn", "info", "debug" -> level, -1 when unknown. */
int log_level_parse(const char *name);
const char *log_level_name(int level);

void log_set_level(int level);
int log_get_level(void);
extern int log_level_; /* read through log_on() */
static inline int log_on(int level)
{
	return level <= __atomic_load_n(&log_level_, __ATOMIC_RELAXED);
}

void log_kv(int level, const char *msg, ...);

/* A message from a third party (libmicrohttpd) as msg, with "source".
 * Card numbers, phone numbers and e-mail addresses are replaced
 * (stepup_scrub, STEPUP_SCRUB_ALL), and at most one such line a second is
 * written (the others are counted in the next one's "suppressed_before"):
 * a misbehaving client must not be able to flood the log through them. */
void log_untrusted(int level, const char *source, const char *text);

/* The stepup_log_fn the library and plugins log through; ctx unused. The
 * message is scrubbed as log_untrusted's is (not rate-limited: the
 * library's and plugins' own lines). */
void log_from_library(void *ctx, int level, const char *source, const char *msg);

#endif
