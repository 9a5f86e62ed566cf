/* lint.h: the lints of `stepup check --strict` (dsl/lint.c). */
#ifndef SU_LINT_H
#define SU_LINT_H

#include "ast.h"
#include "check.h"
#include "diag.h"

/* Queue a warning (and a note at the other declaration, where there is
 * one) for each finding in the checked files of a ruleset without errors. */
void su_lint(su_diags *d, su_file **files, size_t nfiles, const su_checked *chk, const su_schema *sc);

#endif
