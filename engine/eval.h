/* eval.h: running compiled conditions. */
#ifndef SU_EVAL_H
#define SU_EVAL_H

#include "program.h"
#include "request.h"

#define SU_CMP_EQ_CODE 0  /* su_cmp's EQ, as stored in su_insn.cmp */

/* Atom values recorded while explaining. */
typedef struct su_trace {
	uint32_t *atom;
	uint8_t *value;
	size_t n, cap;
} su_trace;

/* Evaluate the condition at pc: SU_TRUE, SU_FALSE or SU_ABSENT. */
int su_eval(const stepup_ruleset *rs, const stepup_request *r, uint32_t pc);
int su_eval_traced(const stepup_ruleset *rs, const stepup_request *r, uint32_t pc,
                   su_trace *trace);

#endif
