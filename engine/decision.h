/* decision.h: the outcome of one stepup_decide() call, reusable scratch. */
#ifndef SU_DECISION_H
#define SU_DECISION_H

#include <stdint.h>
#include <stepup/stepup.h>
#include "eval.h"

/* Why a method was or was not offered (explain). */
enum su_method_why {
	SU_MW_OFFERED = 0,
	SU_MW_NOT_ALLOWED,      /* excluded by a fired rule's `only` */
	SU_MW_NO_DATA,          /* no phone / email / app id / number */
	SU_MW_CONDITION,        /* the method's `when` was not TRUE */
	SU_MW_FALLBACK,         /* customer service offered as the fallback */
	SU_MW_NOT_EVALUATED,    /* decision was not YELLOW */
	SU_MW_PLUGIN,           /* its plugin could not serve it (plugin_why) */
};

struct stepup_decision {
	const stepup_ruleset *rs;      /* borrowed from the engine of the last decide */
	uint64_t engine;               /* serial of that engine (0: never decided) */
	stepup_outcome outcome;
	stepup_outcome combined;       /* before the merchant policy / fallback */
	uint8_t methods[STEPUP_METHOD_COUNT];
	unsigned nmethods;
	stepup_cs_line line;           /* line asked for by the rules */
	stepup_cs_line line_served;    /* line whose number is offered */
	uint8_t merchant_policy_applied;
	uint8_t no_method_left;        /* YELLOW turned RED: nothing to offer */
	char id[24];

	uint32_t *fired;
	uint32_t nfired, firedcap;
	struct su_irange *ranges;      /* the index's look-ups (decide.c) */
	uint32_t rangecap;

	/* Explain data, filled only with STEPUP_DECIDE_EXPLAIN. */
	unsigned explain;
	uint8_t *rule_result;          /* per rule tri */
	uint32_t *rule_trace;          /* per rule: start in trace (n+1 entries) */
	uint32_t rcap;
	su_trace trace;
	uint8_t method_why[STEPUP_METHOD_COUNT];  /* read with explain only */

	/* Served by plugins (methods.c): malloc'd, replaced at each decide. */
	char *app_json;                /* IN_APP: describe()'s object */
	char *cs_number, *cs_hours;    /* CUSTOMER_SERVICE: route()'s answer */
	unsigned plugin_failed;        /* methods whose plugin failed */
	char plugin_why[STEPUP_METHOD_COUNT][192];  /* with explain only */

	char *out;                     /* rendered JSON */
	size_t outlen, outcap;
};

/* The decision id, generated on first use. */
const char *su_decision_id(stepup_decision *d);

/* Render {"request_id": ..., "error": {"code", "field", "message"}} into d's
 * buffer (response.c). Only a validated request_id is echoed. */
const char *su_error_json(stepup_decision *d, const stepup_request *r, const char *code,
                          const char *msg, size_t *len);

/* methods.c: methods served by plugins. The mask of methods e's plugins
 * serve (computed once, at engine build). */
unsigned su_methods_plugin_mask(const stepup_engine *e);
/* Drop the previous decision's plugin answers. */
void su_methods_reset(stepup_decision *d);
/* Ask each plugin-served method of `offered` whether it can be served now;
 * returns `offered` without the ones that cannot. */
unsigned su_methods_serve(const stepup_engine *e, const stepup_request *r, stepup_decision *d,
                          unsigned offered);
/* The secret-free request summary handed to plugins (malloc'd JSON). */
char *su_methods_summary(const stepup_engine *e, const stepup_request *r, stepup_cs_line line);

#endif
