/* stepup/error.h: status codes shared by every libstepup call.
 *
 * Values are stable: never renumber or reuse one; add new codes at the end.
 * A status tells *what kind* of failure happened; the human-readable detail
 * travels separately (a caller-supplied message buffer, or the compiler's
 * diagnostics list).
 */
#ifndef STEPUP_ERROR_H
#define STEPUP_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum stepup_status {
	STEPUP_OK = 0,
	STEPUP_ENOMEM = 1,      /* allocation failed */
	STEPUP_EINVAL = 2,      /* bad argument from the caller (NULL handle...) */
	STEPUP_EIO = 3,         /* a file could not be read or written */
	STEPUP_ECOMPILE = 4,    /* rule sources have errors; see diagnostics */
	STEPUP_EBUNDLE = 5,     /* bundle truncated, corrupted or not a bundle */
	STEPUP_EVERSION = 6,    /* bundle written by another format version */
	STEPUP_EBADREQ = 7,     /* request JSON malformed or against the contract */
	STEPUP_ECONFIG = 8,     /* issuer settings / configuration invalid */
	STEPUP_EPLUGIN = 9,     /* a plugin could not be loaded or failed */
	STEPUP_ETOOBIG = 10,    /* input over a configured limit */
	STEPUP_ESTATE = 11,     /* operation not valid in the object's state */
	STEPUP_ENOTFOUND = 12,  /* named object (case, plugin, ...) does not exist */
	STEPUP_ECONFLICT = 13,  /* operation conflicts with stored state */
	STEPUP_ETIMEOUT = 14,   /* a deadline passed */
} stepup_status;

/* Short, static, English description of a status ("bad request"). */
const char *stepup_strerror(int status);

#ifdef __cplusplus
}
#endif
#endif
