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

typedef struct su_codes {
	char **v;
	unsigned n, cap;
} su_codes;

typedef struct su_checked {
	const char *name;                 /* ruleset name (borrowed from a file) */
	su_method_decl *methods[STEPUP_METHOD_COUNT]; /* by type, NULL if undeclared */
	unsigned method_order[STEPUP_METHOD_COUNT];   /* types in declaration order */
	unsigned nmethods;
	int merchant_policy;              /* stepup_outcome, -1 if not declared */
	/* Per field: the values of a list field the rules name, by bit. */
	struct su_codes *codes;
	uint32_t ncodes;
	/* Plugin functions called, each once, in order of first use; a CALL
	 * node's `import` indexes them. */
	su_import_decl *imports;
	size_t nimports, capimports;
} su_checked;

/* Check all files as one ruleset, with the rule functions of `plugins`
 * (may be NULL) callable. Errors go to d; returns the number of errors
 * found by this pass. `out` is filled even when errors were found. */
size_t su_check(su_diags *d, su_file **files, size_t nfiles, su_schema *sc, const stepup_plugins *plugins,
                su_checked *out);
void su_checked_fini(su_checked *c);

/* Give each list field of sc the values the rules name, by bit (the
 * schema must then be prepared again). 0, or -1 on OOM. */
int su_checked_apply(su_checked *c, su_schema *sc);

#endif
