/* engine.h: an engine is a ruleset plus the issuer's operational settings;
 * immutable once built, shared by every deciding thread. */
#ifndef SU_ENGINE_H
#define SU_ENGINE_H

#include <stepup/stepup.h>
#include "program.h"

/* The request summary handed to plugins (plugin.h): the fields with
 * `summary` nested by path, as a list of steps the writer follows. */
typedef struct su_sumstep {
	uint8_t kind;           /* SU_SUM_LEAF, SU_SUM_OPEN, SU_SUM_CLOSE, SU_SUM_LINE */
	uint16_t slot;          /* LEAF */
	const char *key;        /* LEAF, OPEN: borrowed from the schema */
	uint32_t keylen;
} su_sumstep;
enum { SU_SUM_LEAF, SU_SUM_OPEN, SU_SUM_CLOSE, SU_SUM_LINE };

struct stepup_engine {
	uint64_t serial;             /* what requests and decisions remember */
	stepup_ruleset *rs;
	su_sumstep *summary;         /* the summary plan */
	uint32_t nsummary;
	stepup_plugins *plugins;     /* one reference, or NULL */
	unsigned plugin_methods;     /* methods a plugin serves (1 << stepup_method) */
	struct su_bound *imports;    /* the ruleset's imports bound to functions of
	                                `plugins` (eval.h), by import index; NULL
	                                when it imports nothing */
	char revision_hex[8 + 64 + 1]; /* what decisions carry: the ruleset's revision,
	                                or mixed with plugin data versions
	                                (stepup_engine_revision) */
	char *issuer_name;
	char *app_id;                /* IN_APP is offered only with one */
	char *cs[2];                 /* customer-service numbers by line */

	/* Response fragments that depend only on the engine, rendered once
	 * (response.c): every fired rule's reason object, the ruleset trailer,
	 * and the method objects that carry issuer settings. */
	char *frag;                  /* all fragments, back to back */
	size_t fraglen, fragcap;
	size_t *reason_at;           /* nrules + 1 offsets into frag */
	size_t trailer_at, trailer_end;
	size_t inapp_at, inapp_end;
	size_t cs_at[2], cs_end[2];  /* by served line */
};

/* Render the fragments above; 0 or -1 (OOM). */
int su_engine_prepare_json(stepup_engine *e);

/* Customer-service number to offer on `line`: the fraud line falls back to
 * the standard one when no fraud number is configured. NULL if none. The
 * engine's own data, read by the decider and the response writer alike:
 * inline, so neither depends on the file that builds engines. */
static inline const char *su_engine_cs_number(const stepup_engine *e, stepup_cs_line line,
                                              stepup_cs_line *served)
{
	if (e->cs[line]) {
		*served = line;
		return e->cs[line];
	}
	*served = STEPUP_LINE_STANDARD;
	return e->cs[STEPUP_LINE_STANDARD];
}

#endif
