/* util.h: small helpers shared inside libstepup. */
#ifndef SU_UTIL_H
#define SU_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Format a message into a caller's (err, errlen) buffer; NULL/0 is fine. */
void su_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void su_vset_err(char *err, size_t errlen, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* Read f to the end, at most max + 1 bytes (so the caller can tell "over
 * max" from "exactly max"). *out is malloc'd and NUL-terminated.
 * 0 on success, -1 out of memory, -2 read error. */
int su_read_stream(FILE *f, size_t max, char **out, size_t *len);

#endif
