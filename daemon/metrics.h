/* metrics.h: counters and histograms, rendered in the Prometheus text
 * format by GET /metrics (docs/operations.md lists every series).
 *
 * Hot-path updates are relaxed atomic adds on per-thread shards, so two
 * worker threads never write the same cache line; a scrape adds the shards
 * up. Counters per ruleset revision live in a registry keyed by revision
 * that outlives the generations using it, so a reload never makes a
 * counter go backwards. */
#ifndef STEPUPD_METRICS_H
#define STEPUPD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <stepup/lifecycle.h>
#include <stepup/stepup.h>

#include "util.h"

/* Why a request or a connection was refused; one label value each. */
#define REJECT_CAUSES(X) \
	X(BAD_REQUEST, "bad_request") \
	X(TOO_DEEP, "too_deep") \
	X(TOO_LARGE, "too_large") \
	X(NOT_JSON, "unsupported_media_type") \
	X(NOT_FOUND, "not_found") \
	X(METHOD, "method_not_allowed") \
	X(FORBIDDEN, "forbidden") \
	X(NOT_READY, "not_ready") \
	X(DEADLINE, "deadline_exceeded") \
	X(PER_IP, "per_ip_connection_limit") \
	X(CONN_LIMIT, "connection_limit") \
	X(FAIR_SHARE, "fair_share") \
	X(TIMEOUT, "request_timeout") \
	X(LIFECYCLE_OFF, "lifecycle_disabled") \
	X(CASE_STORE, "case_store") \
	X(INTERNAL, "internal")

enum reject_cause {
#define X(id, label) RJ_##id,
	REJECT_CAUSES(X)
#undef X
	RJ_COUNT
};

struct rev_stats;
struct gen;

/* The registry entry of a revision, created on first use (NULL on
 * allocation failure). Never freed before met_shutdown(). */
struct rev_stats *met_rev_stats(const char *name, const char *revision, size_t nrules);

void met_reject(enum reject_cause c);
void met_response(unsigned status);
/* One decision: outcome, fired rules, and its latency from the request
 * line to the decision. */
void met_decision(struct rev_stats *s, const stepup_decision *d, uint64_t latency_ns);
void met_over_deadline(void);
void met_reload(int ok, uint64_t wall);
void met_idle_closed(void);
void met_declog_error(void);
/* Decision log lines that could not be written (disk full, size limit). */
void met_declog_lost(uint64_t lines);
/* An answer that could not be handed to its client (route_index()). */
void met_undelivered(size_t route_idx);

/* Gauges sampled at scrape time. */
typedef struct met_gauges {
	unsigned connections;
	unsigned inflight;
	int ready;
	int draining;
	int store_healthy;                 /* -1: no lifecycle */
	/* The lifecycle's counters, NULL when it is off. */
	const stepup_cases_stats *cases;
	unsigned lc_queued, lc_running;    /* parked lifecycle requests */
	unsigned rec_queued, rec_running;  /* YELLOW decisions waiting for their case */
	unsigned dec_queued, dec_running;  /* requests parked on the decision pool */
} met_gauges;

/* The whole exposition. */
void met_render(dbuf *b, const met_gauges *g);
void met_shutdown(void);

#endif
