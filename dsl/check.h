/* check.h: semantic checking of parsed rule files against the request
 * schema. Annotates (and may rewrite) the AST for the compiler. */
#ifndef SU_CHECK_H
#define SU_CHECK_H

#include <stepup/plugin.h>
#include <stepup/stepup.h>

#include "ast.h"
#include "diag.h"

/* A plugin function the rules call, resolved against the compiler's
 * plugins: configured plugin name, function name and signature. */
typedef struct su_import_decl {
	char *plugin, *fn;
	char sig[STEPUP_PLUGIN_MAX_ARGS + 4];  /* "ARGS->RET" */
} su_import_decl;

typedef struct su_checked {
	const char *name;                 /* ruleset name (borrowed from a file) */
	su_method_decl *methods[STEPUP_METHOD_COUNT]; /* by type, NULL if undeclared */
	unsigned method_order[STEPUP_METHOD_COUNT];   /* types in declaration order */
	unsigned nmethods;
	int merchant_policy;              /* stepup_outcome, -1 if not declared */
	/* Reason codes named in quotes that the schema does not know. */
	char *extra_reasons[SU_REASON_MAX];
	unsigned nextra;
	/* Plugin functions called, each once, in order of first use; a CALL
	 * node's `import` indexes them. */
	su_import_decl *imports;
	size_t nimports, capimports;
} su_checked;

/* Check all files as one ruleset, with the rule functions of `plugins`
 * (may be NULL) callable. Errors go to d; returns the number of errors
 * found by this pass. `out` is filled even when errors were found. */
size_t su_check(su_diags *d, su_file **files, size_t nfiles, const stepup_plugins *plugins,
                su_checked *out);
void su_checked_fini(su_checked *c);

/* Bit of a reason code (known or extra), -1 if unknown. */
int su_checked_reason_bit(const su_checked *c, const char *name);

#endif
