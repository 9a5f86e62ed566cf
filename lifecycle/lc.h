/* lc.h (internal): the stepup_cases handle shared by cases.c (the
 * lifecycle API and its state machine), record.c (opening a case from a
 * decision) and notify.c (the outbox and its delivery thread). */
#ifndef SU_LC_H
#define SU_LC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stepup/lifecycle.h>

#include "config.h"
#include "store.h"

struct stepup_cases {
	su_lc_config cfg;
	su_store *store;
	stepup_log_fn log;
	void *log_ctx;

	pthread_mutex_t mu;        /* plugins, and the notifier's state below */
	stepup_plugins *plugins;   /* one reference, may be NULL */

	/* The delivery thread. `kicked` wakes it early (something was queued,
	 * a flush was asked for); `force` makes its next pass take every
	 * pending row whatever its schedule; `passes` and `forced_done` count
	 * finished passes for flush() to wait on. */
	pthread_cond_t wake, progress;
	pthread_t thread;
	int running, kicked, force;
	int in_forced;             /* the pass under way is a forced one */
	uint64_t passes, forced_done;
	atomic_int stopping;       /* read by curl's progress callback */
	int64_t next_sweep_ms;

	/* Deliveries run on one thread at a time (the background thread, or
	 * flush()'s caller without one): it owns the HTTP handle. */
	pthread_mutex_t deliver_mu;
	void *http;                /* CURL *, made on first use */

	/* A store failure with the same reason as the last one logged, less
	 * than a minute later, is counted but not logged: a store that lost
	 * its file fails every pass of the delivery thread. */
	pthread_mutex_t log_mu;
	char last_failure[256];
	int64_t last_failure_ms;
	unsigned failures_unlogged;

	struct {
		atomic_uint_fast64_t opened, otp_sent, otp_refused, otp_failed, activated, declined,
			expired, notify_delivered, notify_retried, notify_gave_up, outbox_pending,
			store_errors;
	} st;
};

void su_lc_log(stepup_cases *c, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Wall-clock Unix milliseconds (cases outlive the process). */
int64_t su_lc_now_ms(void);
/* "2026-11-22T07:12:00.123Z" */
void su_lc_time(int64_t ms, char buf[32]);

/* The plugin set with a reference for the caller (NULL when none). */
stepup_plugins *su_lc_plugins(stepup_cases *c);

/* Log a store failure (and count it): what failed and the store's reason
 * (read on this thread, right after the failing call). The reason last
 * logged, again within a minute, is counted, not logged. Returns rc. */
int su_lc_store_failed(stepup_cases *c, int rc, const char *what);

/* record.c: whether s may be kept as a case's reference (correlation id,
 * token reference): 1 to max printable ASCII characters without spaces,
 * no card number. */
int su_lc_ref_ok(const char *s, size_t max);

/* notify.c ------------------------------------------------------------------- */

/* The outbox rows a case closing to `closed->status` produces (webhook,
 * end-user message), into rows[0..*n); payloads malloc'd (su_outbox_clear).
 * rows must hold 2. STEPUP_ENOMEM on failure (nothing left allocated). */
int su_lc_close_rows(stepup_cases *c, const su_case *closed, su_outbox *rows, size_t *n);
/* The in-app start row of a new case (summary: the plugin request JSON). */
int su_lc_inapp_row(stepup_cases *c, const su_case *cs, const char *summary, su_outbox *row);

/* Start / stop the delivery thread; wake it. */
int su_lc_notifier_start(stepup_cases *c);
void su_lc_notifier_stop(stepup_cases *c);
void su_lc_notifier_kick(stepup_cases *c);
/* One delivery pass on the caller's thread (with deliver_mu held inside):
 * the rows due now (every pending row when `all`). -1 when the store
 * failed. */
int su_lc_deliver_pass(stepup_cases *c, int all);
void su_lc_http_free(stepup_cases *c);
/* Lower-case hex SHA-256 of data: 0, or -1. */
int su_lc_sha256_hex(const void *data, size_t len, char out[65]);

/* cases.c: Deliver OTP once its body is checked: otp through m's channel
 * to the contact of case id, with the send limit; the answer (and status)
 * of stepup_cases_deliver_otp_json. For the codes the issuer makes. */
int su_lc_deliver(stepup_cases *c, const char *id, stepup_method m, const char *otp, int64_t expires,
                  const char *reason, char **out, size_t *outlen, int *http_status);

/* Expire due cases and apply retention; *expired may be NULL. */
int su_lc_sweep(stepup_cases *c, unsigned *expired);
/* Close one case as EXPIRED with its notifications (cases.c). */
int su_lc_expire(stepup_cases *c, const char *decision_id);

#endif
