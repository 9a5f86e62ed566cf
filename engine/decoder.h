/* decoder.h: the request decoder's tables, prepared once per schema
 * (schema.c calls su_decoder_build): a tree of JSON objects whose keys are
 * found by hash, and per-field hash tables of enum values and codes. The
 * decoder (request.c) walks the JSON with them: no path is compared as a
 * string and no key is looked for by a linear scan. */
#ifndef SU_DECODER_H
#define SU_DECODER_H

#include <stdint.h>
#include <string.h>

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

/* A quick hash of a short key: its length and its first and last 8 bytes
 * (keys and values of a request are short; the tables compare the whole
 * key after). */
static inline uint32_t su_key_hash(const char *s, uint32_t n)
{
	uint64_t a = 0, b = 0;
	if (n >= 8) {
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
	} else if (n >= 4) {
		uint32_t x, y;
		memcpy(&x, s, 4);
		memcpy(&y, s + n - 4, 4);
		a = x;
		b = y;
	} else {
		for (uint32_t i = 0; i < n; i++)
			a = a << 8 | (unsigned char)s[i];
	}
	uint64_t h = (a ^ (uint64_t)n << 56) * 0x9e3779b97f4a7c15ull ^ (b + n) * 0xc2b2ae3d27d4eb4full;
	return (uint32_t)(h >> 29) ^ (uint32_t)h;
}

static inline int su_key_eq(const char *a, const char *b, uint32_t n)
{
	if (n >= 8 && n <= 16) {
		uint64_t x, y, u, v;
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		memcpy(&u, a + n - 8, 8);
		memcpy(&v, b + n - 8, 8);
		return ((x ^ y) | (u ^ v)) == 0;
	}
	return memcmp(a, b, n) == 0;
}

/* Key `k` (len n) of node `node`: its su_dkey or NULL. */
static inline const su_dkey *su_decoder_key(const su_decoder *d, uint32_t node, const char *k, uint32_t n)
{
	const su_dnode *nd = &d->nodes[node];
	const uint32_t *h = d->htab + nd->hoff;
	for (uint32_t i = su_key_hash(k, n) & nd->hmask; h[i]; i = (i + 1) & nd->hmask) {
		const su_dkey *key = &d->keys[h[i] - 1];
		if (key->len == n && su_key_eq(key->name, k, n))
			return key;
	}
	return NULL;
}
/* Index of value `v` in a value table, or -1. */
int su_decoder_value(const su_schema *sc, const su_vtab *t, const char *v, uint32_t n);

uint32_t su_hash(const char *s, size_t n);

#endif
