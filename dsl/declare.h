/* declare.h: the `field` and `schema` declarations of a ruleset's files,
 * turned into its schema (engine/schema.h). The stage between the parser
 * and the checker: the checker types every field reference against what
 * this builds. */
#ifndef SU_DECLARE_H
#define SU_DECLARE_H

#include "ast.h"
#include "diag.h"
#include "../engine/schema.h"

/* The default schema's text (rules/schema/tokenization.rules, compiled
 * into the library by the build). */
extern const char su_schema_tokenization[];
#define SU_SCHEMA_DEFAULT_NAME "schema/tokenization.rules"
/* The MDES schema (rules/schema/mdes.rules): `schema mdes`. */
extern const char su_schema_mdes[];

/* Build the schema of files[0..nfiles): the default one first (parsed
 * from its text, added to d's sources as a builtin one) unless a file says
 * `schema none`, then each file's fields in order. Errors go to d with the
 * location of the offending item; returns the schema (NULL on OOM, or when
 * errors were found: *out is then a partial schema the checker may still
 * use to report more, freed by the caller). */
su_schema *su_declare(su_diags *d, su_file **files, size_t nfiles);

/* The default schema alone, prepared (for bundles of formats 1 and 2,
 * which carry none). NULL with a message in err. */
su_schema *su_default_schema(char *err, size_t errlen);

#endif
