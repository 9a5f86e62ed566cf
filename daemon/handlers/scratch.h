/* scratch.h: the request and decision objects a decision is made in.
 *
 * libstepup's request and decision objects are scratch space to reuse
 * from one call to the next, never shared by two threads at once. Each
 * HTTP thread has one set. A YELLOW decision waiting for its case to be
 * stored (decisions.c) takes its thread's set along while parked; the
 * thread gets a spare for its next request, and the parked set becomes a
 * spare once answered. */
#ifndef STEPUPD_SCRATCH_H
#define STEPUPD_SCRATCH_H

#include <stepup/stepup.h>

#include "../util.h"

struct scratch {
	struct scratch *next;   /* in the spares */
	stepup_request *r;
	stepup_decision *d;
	dbuf line;              /* the decision log line */
};

/* This thread's set (a spare, or a new one), NULL on allocation failure. */
struct scratch *scratch_get(void);
/* Take s, this thread's set, away from the thread. */
void scratch_detach(struct scratch *s);
/* A detached set is done with: keep it as a spare (or free it). */
void scratch_put(struct scratch *s);
/* Free the spares; at exit, once no request runs. */
void scratch_shutdown(void);

#endif
