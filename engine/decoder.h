/* decoder.h: the request decoder's tables, prepared once per schema
 * (schema.c calls su_decoder_build): a tree of JSON objects whose keys are
 * found by hash, and per-field hash tables of enum values and codes. The
 * decoder (request.c) walks the JSON with them: no path is compared as a
 * string and no key is looked for by a linear scan. */
#ifndef SU_DECODER_H
#define SU_DECODER_H

#include <stdint.h>

#include "schema.h"

typedef struct su_dkey {
	const char *name;
	uint32_t len;
	int32_t slot;    /* a field: its slot; else -1 */
	int32_t child;   /* an object: its node; else -1 */
} su_dkey;

typedef struct su_dnode {
	uint32_t first, count;  /* its keys */
	uint32_t hoff, hmask;   /* htab[hoff .. hoff + hmask]: key index + 1, 0 = empty */
	const char *path;       /* dotted path of the object ("" for the top) */
} su_dnode;

typedef struct su_vtab {
	uint32_t hoff, hmask;   /* vhtab[...]: value index + 1, 0 = empty; hmask 0: none */
	su_srange r;            /* the values (schema items) */
} su_vtab;

struct su_decoder {
	su_dnode *nodes;  uint32_t nnodes;
	su_dkey *keys;  uint32_t nkeys;
	uint32_t *htab;
	char *names;                /* key names and node paths */
	uint32_t *vhtab;
	su_vtab *values;            /* per slot: enum values / declared codes */
	su_vtab *bits;              /* per slot: the codes of a list's mask bits */
	uint32_t *fill;  uint32_t nfill;      /* slots with a default or a derivation, in order */
	uint32_t *required;  uint32_t nrequired;
	uint32_t defaults_bytes;    /* string defaults, each with its NUL */
	uint32_t max_depth;         /* deepest object */
};

int su_decoder_build(const su_schema *sc, su_decoder **out, char *err, size_t errlen);
void su_decoder_free(su_decoder *d);

/* Key `k` (len n) of node `node`: its su_dkey or NULL. */
const su_dkey *su_decoder_key(const su_decoder *d, uint32_t node, const char *k, uint32_t n);
/* Index of value `v` in a value table, or -1. */
int su_decoder_value(const su_schema *sc, const su_vtab *t, const char *v, uint32_t n);

uint32_t su_hash(const char *s, size_t n);

#endif
