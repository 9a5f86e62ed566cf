/* compile.h: lowering of checked rule files to a stepup_ruleset program. */
#ifndef SU_COMPILE_H
#define SU_COMPILE_H

#include "ast.h"
#include "check.h"
#include "diag.h"
#include "../engine/program.h"

/* Emit the program for checked files over their prepared schema, which
 * the ruleset takes (freed on failure too). NULL on OOM (recorded in d). */
struct stepup_ruleset *su_compile(su_diags *d, su_file **files, size_t nfiles,
                                  const su_checked *chk, su_schema *sc);

#endif
