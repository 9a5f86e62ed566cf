/* engine.h: an engine is a ruleset plus the issuer's operational settings;
 * immutable once built, shared by every deciding thread. */
#ifndef SU_ENGINE_H
#define SU_ENGINE_H

#include <stepup/stepup.h>
#include "program.h"

struct stepup_engine {
	stepup_ruleset *rs;
	char *issuer_name;
	char *app_id;                /* IN_APP is offered only with one */
	char *cs[2];                 /* customer-service numbers by line */
};

/* Customer-service number to offer on `line`: the fraud line falls back to
 * the standard one when no fraud number is configured. NULL if none. */
const char *su_engine_cs_number(const stepup_engine *e, stepup_cs_line line,
                                stepup_cs_line *served);

#endif
