/* request.h: a decoded request: one value per schema slot plus a presence
 * bit, so the evaluator reads fields by index. Strings point into the
 * request's own copy of the input text. */
#ifndef SU_REQUEST_H
#define SU_REQUEST_H

#include <stdint.h>
#include <stepup/stepup.h>
#include "schema.h"

typedef struct su_str {
	const char *s;
	uint32_t len;
} su_str;

typedef union su_value {
	int64_t i;
	double d;
	uint32_t e;     /* enum id */
	int b;
	uint64_t mask;  /* reason codes */
	su_str str;
} su_value;

#define SU_REQUEST_MAX_BYTES (1u << 20)
#define SU_REQUEST_MAX_DEPTH 32

struct stepup_request {
	uint64_t present;              /* bit per slot */
	su_value f[SU_SLOT_COUNT];
	unsigned unknown_reasons;      /* codes the ruleset does not know */
	char *buf;                     /* copy of the input; unescaped in place */
	size_t bufcap;
	void *toks;                    /* jsmntok_t scratch */
	unsigned ntoks;
	char err_field[64];
	int ok;
};

#define SU_PRESENT(r, slot) (((r)->present >> (slot)) & 1u)

#endif
