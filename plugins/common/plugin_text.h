/* plugin_text.h: the checks the reference plugins make of configuration
 * values and call arguments. ASCII only and locale-free on purpose
 * (ctype.h follows the host's locale, which a plugin does not control);
 * each returns 1 if s is acceptable. Needs only libc. */
#ifndef STEPUP_PLUGIN_COMMON_TEXT_H
#define STEPUP_PLUGIN_COMMON_TEXT_H

#include <stddef.h>

#include "plugin_util.h"

SPC_HIDDEN int spc_is_alpha(int c);
SPC_HIDDEN int spc_is_digit(int c);
SPC_HIDDEN int spc_lower(int c);
/* ASCII case-insensitive equality. */
SPC_HIDDEN int spc_same_ci(const char *a, const char *b);

/* A BCP 47 tag: a 2-3 letter primary subtag, then "-" subtags of 1-8
 * letters or digits ("en", "pt-BR", "zh-Hant-TW"). */
SPC_HIDDEN int spc_is_language(const char *s);
/* One non-empty line: no control characters (UTF-8 is the JSON parser's
 * job). */
SPC_HIDDEN int spc_is_line(const char *s);
/* Non-empty text that may span lines: tab, CR, LF allowed, other
 * controls not. */
SPC_HIDDEN int spc_is_text(const char *s);
/* Valid UTF-8 of at most max bytes. */
SPC_HIDDEN int spc_is_utf8(const char *s, size_t max);
/* 1 to max printable ASCII characters, no blanks. */
SPC_HIDDEN int spc_is_token(const char *s, size_t max);
/* An HTTP header name (RFC 9110 token). */
SPC_HIDDEN int spc_is_header_name(const char *s);
/* An absolute path on one line. */
SPC_HIDDEN int spc_is_path(const char *s);
/* Any non-empty string (for values whose words the caller checks). */
SPC_HIDDEN int spc_is_any(const char *s);

/* An E.164 number as written on the wire: "+", a non-zero digit, 7 to 15
 * digits in all, nothing else ("+447700900123"). */
SPC_HIDDEN int spc_is_e164(const char *s);
/* A calling-code prefix: "+" and 1 to 14 digits ("+44", "+1415"). */
SPC_HIDDEN int spc_is_e164_prefix(const char *s);
/* 1 when number starts with one of the n prefixes (n == 0: any number). */
SPC_HIDDEN int spc_has_prefix(const char *number, char *const *prefixes, size_t n);

#endif
