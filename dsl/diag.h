/* diag.h: source locations, the source table and the diagnostics queue.
 * Diagnostics are data; rendering them for a terminal is a separate step the
 * caller chooses to do (stepup_compiler_render_diag). */
#ifndef SU_DIAG_H
#define SU_DIAG_H

#include <stddef.h>
#include <stdarg.h>
#include <stepup/stepup.h>

typedef struct su_loc {
	unsigned file;                   /* index in the source table */
	unsigned first_line, first_col;  /* 1-based, bytes */
	unsigned last_line, last_col;    /* inclusive */
} su_loc;

typedef struct su_source {
	char *name;      /* as given (path) */
	char *base;      /* basename, used in "at" */
	char *text;      /* NUL-terminated copy */
	size_t len;
	size_t *line_at; /* byte offset of each line, built on first use */
	size_t nlines;
	int builtin;     /* a schema shipped in the library: not part of the
	                    ruleset's revision, which covers what the analyst wrote */
} su_source;

typedef struct su_diags {
	su_source *src;
	size_t nsrc, capsrc;
	stepup_diag *items;
	size_t n, cap;
	size_t nerrors;
	int oom;
} su_diags;

void su_diags_init(su_diags *d);
void su_diags_fini(su_diags *d);
/* Takes a copy of text. Returns the source index or -1 on OOM. */
int su_diags_add_source(su_diags *d, const char *name, const char *text, size_t len);

#if defined(__GNUC__)
#define SU_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SU_PRINTF(a, b)
#endif

void su_diag(su_diags *d, stepup_severity sev, su_loc loc, const char *fmt, ...) SU_PRINTF(4, 5);
void su_vdiag(su_diags *d, stepup_severity sev, su_loc loc, const char *fmt, va_list ap);
#define su_error(d, loc, ...) su_diag((d), STEPUP_DIAG_ERROR, (loc), __VA_ARGS__)
#define su_warning(d, loc, ...) su_diag((d), STEPUP_DIAG_WARNING, (loc), __VA_ARGS__)
#define su_note(d, loc, ...) su_diag((d), STEPUP_DIAG_NOTE, (loc), __VA_ARGS__)

size_t su_diag_render(const su_diags *d, size_t i, char *buf, size_t size);

/* The source text spanned by loc (single or multi-line), whitespace folded,
 * as a malloc'd string. Used for explain's "which part decided". */
char *su_loc_text(const su_diags *d, su_loc loc);

#endif
