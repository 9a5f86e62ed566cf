/* lifecycle.h: the step-up lifecycle in the daemon: the process-wide case
 * store (libstepup's stepup_cases, docs/lifecycle.md), opened once at
 * start from the "cases" section, and the pool its endpoints park on.
 *
 * The handle lives for the whole process, across reloads: cases, their
 * outbox and its delivery thread must not restart with the rules. A
 * reload only hands it the new generation's plugins. Without a "cases"
 * section the lifecycle is off (APP.cases is NULL) and its endpoints
 * answer 404 lifecycle_disabled. */
#ifndef STEPUPD_LIFECYCLE_H
#define STEPUPD_LIFECYCLE_H

#include <stddef.h>

#include <stepup/lifecycle.h>

#include "config.h"

/* Open APP.cases (serving channels with `plugins`) and start the pool of
 * lifecycle.workers threads. Nothing to do without a "cases" section.
 * -1 with the reason in err and the exit status to use in *exit_status
 * (78 for a configuration or a database schema that cannot work as is,
 * 1 otherwise). */
int lc_start(const stepupd_config *cfg, stepup_plugins *plugins, int *exit_status,
             char *err, size_t errlen);

/* Check cfg's "cases" section as a start would, without changing its
 * database: open the library on a scratch file created (then removed)
 * in the database's directory, which also proves that directory
 * writable; and when the database file exists, check it is ours to write
 * and open it read-only for PRAGMA quick_check and its schema version
 * (stepup_cases_check_store). For --check-config and for a reload that
 * changes the section. 0, or -1 and err. */
int lc_check(const stepupd_config *cfg, char *err, size_t errlen);

/* Whether the case store can acknowledge writes (stepup_cases_health):
 * 0, also when the lifecycle is off; -1 with the reason in err. For
 * GET /health/ready. */
int lc_health(char *err, size_t errlen);

/* A reload swapped in a new generation: serve channels with its plugins. */
void lc_set_plugins(stepup_plugins *plugins);

/* Stop the lifecycle pools, waking every parked request (before the HTTP
 * server stops). Idempotent. */
void lc_stop_workers(void);
/* After the HTTP server stopped: free the pools and the items of
 * requests the server closed without handing them back. */
void lc_free_pools(void);
/* After the HTTP server stopped: deliver pending notifications for up to
 * timeout_ms (0: do not wait; what is left is sent at the next start, it
 * is in the database), then close the store. */
void lc_close(unsigned timeout_ms);

#endif
