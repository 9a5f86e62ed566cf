/* bundle.h: reading and writing bundles (bundle.c). The public load call
 * (dsl/compiler.c) parses, gives a bundle of formats 1 and 2 the default
 * schema of its day (it carries none), then finishes. */
#ifndef SU_BUNDLE_H
#define SU_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "program.h"

/* What a bundle of format 1 or 2 says that later formats keep in the
 * schema: the codes it added to the reason list, after the known ones. */
typedef struct su_legacy {
	uint32_t version;      /* 0 for format 3 on */
	uint32_t *reasons;     /* strs indices of the ruleset */
	uint32_t nreasons;
} su_legacy;

/* Header, digest and body, bounds-checked; for format 3 on, the schema
 * prepared and its fingerprint checked. *out is not verified yet. */
int su_bundle_parse(const void *data, size_t len, struct stepup_ruleset **out, su_legacy *legacy,
                    char *err, size_t errlen);
/* Verify, refuse an empty ruleset (unless flags allow it), prepare. On
 * failure rs is freed. */
int su_bundle_finish(struct stepup_ruleset *rs, unsigned flags, char *err, size_t errlen);

/* Write data to path through a temporary file renamed over it (a reader
 * never sees half a bundle); takes data (freed). STEPUP_OK or STEPUP_EIO
 * ("cannot write <path>"). */
int su_bundle_write_file(const char *path, void *data, size_t len, char *err, size_t errlen);

#endif
