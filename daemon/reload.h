/* reload.h: hot reload (SIGHUP and POST /v1/admin/reload).
 *
 * A reload reads the configuration file again and builds a new generation
 * (plugins, ruleset, engine) beside the running one, on a thread of its own
 * (genjob.h): the main thread, which takes the signals, only starts it and
 * polls it, so SIGTERM is always served. One reload runs at a time;
 * requests arriving meanwhile share the next one (they all asked for "the
 * file as it is now").
 *
 * A reload fails, and the running generation stays, when:
 *   - anything in the files is wrong (log, metrics, the admin response say
 *     what, naming the file);
 *   - it takes longer than reload.timeout_ms (of the serving
 *     configuration): a file that blocks (a FIFO, a hung network mount).
 *     The error says "timed out" and what was being read; the build runs on
 *     and is discarded when it finishes, never published;
 *   - a guard refuses the new ruleset because it decides less than the
 *     serving one (docs/operations.md, "Reload guards"): it has no rules;
 *     the serving one has decline (RED) rules and it has none; its rule
 *     count drops by more than reload.max_rule_drop_percent. An admin
 *     reload with {"force": true} skips the guards (logged with who asked);
 *     SIGHUP never does.
 * Success publishes the new generation atomically (gen.h). */
#ifndef STEPUPD_RELOAD_H
#define STEPUPD_RELOAD_H

#include <pthread.h>
#include <stddef.h>

/* A reload asked over HTTP, answered when its reload is over. */
typedef struct reload_job {
	struct reload_job *next;
	void *handle;        /* the parked request, for http_resume() */
	int force;           /* {"force": true}: skip the guards */
	char who[96];        /* for the log of a forced reload */
	/* Filled in before the request is woken. */
	int ok;
	char err[1024];
	char name[128];
	char revision[80];
} reload_job;

/* The main thread, woken with SIGUSR2 when there is something to do. */
void reload_init(pthread_t main_thread);
/* Main thread: SIGHUP arrived. */
void reload_request(void);
/* Any thread: queue j (from the admin handler) and wake the main thread. */
void reload_job_post(reload_job *j);
/* Main thread, on SIGUSR2 and every tick: finish a reload that is done,
 * fail one past its deadline, start the next one asked for. */
void reload_poll(void);
/* Main thread, shutting down: refuse queued requests, give up a running
 * reload, wake every waiting request. */
void reload_refuse(void);
/* After the server stopped (it closed the parked requests): free the
 * jobs still queued without touching their requests. */
void reload_jobs_drop(void);

#endif
