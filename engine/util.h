/* util.h: small helpers shared inside libstepup. */
#ifndef SU_UTIL_H
#define SU_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Format a message into a caller's (err, errlen) buffer; NULL/0 is fine. */
void su_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void su_vset_err(char *err, size_t errlen, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));


/* Open a file the library is asked to read (rules, bundles, settings)
 * without ever blocking on it: O_NONBLOCK so a FIFO or a device returns at
 * once, then anything but a regular file is refused ("<path>: not a
 * regular file"), then O_NONBLOCK is cleared for the reads. *fd is the
 * open descriptor (O_CLOEXEC) on STEPUP_OK; otherwise STEPUP_EIO with
 * "<path>: <why>" in err. */
int su_open_file(const char *path, int *fd, char *err, size_t errlen);

/* Read fd from its current offset to the end, at most max + 1 bytes (so
 * the caller can tell "over max" from "exactly max"). *out is malloc'd and
 * NUL-terminated. 0 on success, -1 out of memory, -2 read error. */
int su_read_fd(int fd, size_t max, char **out, size_t *len);

/* su_open_file + su_read_fd + close: the whole file, read once.
 * STEPUP_OK, STEPUP_EIO or STEPUP_ENOMEM, with "<path>: <why>" in err.
 * A file over max bytes is STEPUP_ETOOBIG ("<path>: larger than N bytes"). */
int su_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

/* A file holding a secret (a private key, an HMAC key): su_read_file's
 * checks (never blocks, a regular file, at most max bytes: STEPUP_ETOOBIG)
 * and, with owner_only, refused (STEPUP_EIO) when its group or others
 * have any access to it: "<path>: readable by group or others (mode 0644):
 * a file holding a secret must be mode 0600 (chmod 600)". Read into one
 * allocation of the file's size, so no copy is left behind in freed
 * memory; the caller wipes *out (len bytes) before freeing it. */
int su_read_secret_file(const char *path, size_t max, int owner_only, char **out, size_t *len, char *err,
                        size_t errlen);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void su_hex(const unsigned char *in, size_t n, char *out);
/* The value of a hex digit (either case), or -1. */
int su_hexval(int c);

/* A key file of hex text (whitespace around it ignored; either case):
 * su_read_secret_file with owner_only, decoded into key (at least max
 * bytes), min to max bytes. STEPUP_OK with *len; otherwise as
 * su_read_secret_file, or STEPUP_ECONFIG "<path>: the key must be MIN to
 * MAX bytes as hex". Every copy of the text is wiped. */
int su_read_hex_key(const char *path, unsigned char *key, size_t min, size_t max, size_t *len, char *err,
                    size_t errlen);

/* An ISO 8601 / RFC 3339 time, "2026-07-04T12:09:56Z" or
 * "2026-07-04T12:09:56.123-07:00" (T, t or a space between date and time;
 * any number of fraction digits; Z, z or an offset), to Unix seconds. -1
 * when malformed (or before 1970). The one time parser of the library,
 * the lifecycle and stepupd (MDES's dates). */
int64_t su_parse_time(const char *s);

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else 0. */
int su_utf8_valid(const char *s, size_t n);


/* One growable byte buffer, written little-endian: a bundle, the schema's
 * canonical form, a plugin frame. Start with su_wbuf w = {0}; oom stays
 * set after a failed allocation (later writes do nothing). With `wipe`
 * set, growing copies to a new block and wipes the old one instead of
 * realloc (the buffer may hold card data or an OTP). */
typedef struct su_wbuf {
	unsigned char *p;
	size_t len, cap;
	int oom;
	int wipe;
} su_wbuf;
void su_wbytes(su_wbuf *w, const void *d, size_t n);
void su_w8(su_wbuf *w, uint8_t v);
void su_w16(su_wbuf *w, uint16_t v);
void su_w32(su_wbuf *w, uint32_t v);
void su_w64(su_wbuf *w, uint64_t v);

#endif
