/* plugin_breaker.h: a circuit breaker for a plugin's remote peer (an SMS
 * gateway, a mail server). After `failures` consecutive failures that say
 * the peer is in trouble it opens for `open_seconds`: can_deliver answers
 * UNAVAILABLE, so the engine stops offering a method that would fail, and
 * sends fail fast. After that time calls go through again ("half-open"):
 * the count is still at the limit, so the next failure opens it again at
 * once, and a success closes it. Time is the host's clock (host->now_ms),
 * which tests move forward.
 *
 * The only mutable state a plugin shares between calls, hence the mutex.
 * Configured by the optional "circuit_breaker" object
 * {"failures": 1..1000, "open_seconds": 1..86400}; absent, it never
 * opens. */
#ifndef STEPUP_PLUGIN_COMMON_BREAKER_H
#define STEPUP_PLUGIN_COMMON_BREAKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "plugin_util.h"

typedef struct spc_breaker {
	unsigned failures;     /* configured limit; 0: no breaker */
	unsigned open_seconds; /* configured */
	pthread_mutex_t mu;    /* guards the two fields below */
	unsigned count;        /* consecutive failures */
	int64_t open_until_ms; /* host clock; 0 when closed */
} spc_breaker;

/* Before any other use, right after the state is allocated, so that
 * spc_breaker_destroy is always safe. */
SPC_HIDDEN void spc_breaker_init(spc_breaker *b);
SPC_HIDDEN void spc_breaker_destroy(spc_breaker *b);

/* Read root's "circuit_breaker", if any. */
SPC_HIDDEN int spc_breaker_configure(json_t *root, spc_breaker *b, char *err, size_t errlen);

/* 1 if open at `now`, with "circuit open after N consecutive <peer>
 * failures" in ctx->err ("gateway", "server"). */
SPC_HIDDEN int spc_breaker_refuses(spc_breaker *b, const spc_plugin *p, const stepup_call_ctx *ctx,
				   int64_t now, const char *peer);

/* Count a call that reached the peer: failed or not. Failures tied to one
 * request (an odd number, one bad recipient) say nothing about the peer
 * and must not be recorded. Logs a warning when the circuit opens. */
SPC_HIDDEN void spc_breaker_record(spc_breaker *b, const spc_plugin *p, int failed);

#endif
