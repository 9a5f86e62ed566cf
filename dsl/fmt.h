/* fmt.h: the canonical layout of a rule source (`stepup fmt`,
 * docs/language.md §12), and a location-free dump of a parsed file that
 * tells whether two sources parse to the same declarations. */
#ifndef SU_FMT_H
#define SU_FMT_H

#include <stddef.h>
#include "ast.h"
#include "diag.h"

/* Parse source `file` of d (comments kept) and lay it out canonically into
 * *out (malloc'd, *len bytes, NUL-terminated). STEPUP_ECOMPILE when the
 * source has lexical or syntax errors (queued on d): a file that does not
 * parse is never rewritten. STEPUP_ENOMEM on allocation failure. */
int su_fmt_source(su_diags *d, unsigned file, char **out, size_t *len);

/* Every declaration of f, without locations and comments, as text
 * (malloc'd; NULL on OOM): equal dumps mean equal parses. */
char *su_file_dump(const su_file *f);

#endif
