/* app.h: process-wide state shared by main.c, the server and handlers. */
#ifndef STEPUPD_APP_H
#define STEPUPD_APP_H

#include <stddef.h>

#include <stepup/lifecycle.h>

#include "config.h"

typedef struct app {
	/* The configuration read at start: listen address, threads, limits and
	 * the decision log come from it for the whole run (a reload re-reads
	 * the file for everything else; see gen.h). */
	const stepupd_config *boot;
	int draining;  /* atomic: shutdown has begun */
	/* The case store (lifecycle.h), NULL when the lifecycle is off. Set
	 * before the server starts, cleared after it stopped: handlers read
	 * it without a lock. */
	stepup_cases *cases;
	/* The pools parked lifecycle requests run on (workq.h), NULL when the
	 * lifecycle is off: YELLOW decisions waiting for their case to be
	 * stored, and the lifecycle endpoints. Apart, so that slow SMS
	 * gateways never hold up a decision. */
	struct workq *record_q, *lifecycle_q;
	/* Decisions that need a plugin call that may block (decisions.c):
	 * limits.decision_workers threads, always there. */
	struct workq *decide_q;
} app;

extern app APP;

static inline int app_draining(void)
{
	return __atomic_load_n(&APP.draining, __ATOMIC_RELAXED);
}

#endif
