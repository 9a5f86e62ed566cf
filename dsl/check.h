/* check.h: semantic checking of parsed rule files against the request
 * schema. Annotates (and may rewrite) the AST for the compiler. */
#ifndef SU_CHECK_H
#define SU_CHECK_H

#include "ast.h"
#include "diag.h"

typedef struct su_checked {
	const char *name;                 /* ruleset name (borrowed from a file) */
	su_method_decl *methods[STEPUP_METHOD_COUNT]; /* by type, NULL if undeclared */
	unsigned method_order[STEPUP_METHOD_COUNT];   /* types in declaration order */
	unsigned nmethods;
	int merchant_policy;              /* stepup_outcome, -1 if not declared */
	/* Reason codes named in quotes that the schema does not know. */
	char *extra_reasons[SU_REASON_MAX];
	unsigned nextra;
} su_checked;

/* Check all files as one ruleset. Errors go to d; returns the number of
 * errors found by this pass. `out` is filled even when errors were found. */
size_t su_check(su_diags *d, su_file **files, size_t nfiles, su_checked *out);
void su_checked_fini(su_checked *c);

/* Bit of a reason code (known or extra), -1 if unknown. */
int su_checked_reason_bit(const su_checked *c, const char *name);

#endif
