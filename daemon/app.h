/* app.h: process-wide state shared by main.c, the server and handlers. */
#ifndef STEPUPD_APP_H
#define STEPUPD_APP_H

#include <stddef.h>

#include "config.h"

typedef struct app {
	/* The configuration read at start: listen address, threads, limits and
	 * the decision log come from it for the whole run (a reload re-reads
	 * the file for everything else; see gen.h). */
	const stepupd_config *boot;
	int draining;  /* atomic: shutdown has begun */
} app;

extern app APP;

static inline int app_draining(void)
{
	return __atomic_load_n(&APP.draining, __ATOMIC_RELAXED);
}

#endif
