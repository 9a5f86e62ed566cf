/* test_host.h: a stepup_host_api for tests that call a plugin's init()
 * themselves: it keeps every log line (to assert on them, e.g. that none
 * carries PII), counts host->alloc / host->free, and has a clock that a
 * test can move forward (circuit breakers, expiries) without sleeping.
 *
 *     test_host h;
 *     test_host_init(&h);
 *     desc->init(&h.api, &h, config, &state, err, sizeof err);
 *     ... calls with test_host_ctx(&h, &ctx, err, sizeof err, 300) ...
 *     desc->fini(state);
 *     test_host_fini(&h);
 *
 * The clock offset is process-wide (now_ms takes no context); the log is
 * per host. Thread-safe. */
#ifndef STEPUP_TEST_HOST_H
#define STEPUP_TEST_HOST_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <stepup/plugin.h>

typedef struct test_host {
	stepup_host_api api; /* pass &h->api as host and h as host_ctx */
	pthread_mutex_t mu;
	size_t nlines;
	char **lines;        /* "LEVEL message" */
} test_host;

void test_host_init(test_host *h);
void test_host_fini(test_host *h);

/* host->now_ms: CLOCK_MONOTONIC in ms plus the offset. */
int64_t test_host_now_ms(void);
void test_host_advance_ms(int64_t ms);

/* A call context whose deadline is timeout_ms from test_host_now_ms(). */
void test_host_ctx(stepup_call_ctx *ctx, char *err, size_t errlen, uint32_t timeout_ms);

size_t test_host_log_count(test_host *h);
/* Line i as "LEVEL message" (e.g. "WARNING otp_sms_http: ..."), or NULL;
 * valid until test_host_log_clear / test_host_fini. */
const char *test_host_log_line(test_host *h, size_t i);
/* The first line containing needle, or NULL. */
const char *test_host_log_find(test_host *h, const char *needle);
void test_host_log_clear(test_host *h);

/* Outstanding host->alloc blocks (allocated and not yet host->free'd),
 * process-wide. */
long test_host_outstanding(void);

/* A TCP port on 127.0.0.1 with nothing listening (bound, then closed). */
uint16_t test_host_closed_port(void);

/* Monotonic milliseconds, unaffected by the offset (to measure elapsed
 * time). */
int64_t test_host_real_ms(void);

#endif
