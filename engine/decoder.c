/* decoder.c: building the decoder's tables from a schema (decoder.h). */
#include "decoder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* While building: a node's keys in a growable list. */
typedef struct bkey {
	uint32_t off, len;      /* component in the path's string */
	const char *src;
	int32_t slot, child;
} bkey;

typedef struct bnode {
	bkey *keys;
	uint32_t n, cap;
	uint32_t path_slot;     /* a field whose path starts with this object's */
	uint32_t path_len;      /* length of the object's path in it */
	uint32_t depth;
} bnode;

typedef struct builder {
	bnode *nodes;
	uint32_t n, cap;
	int oom;
} builder;

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	su_vset_err(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int32_t new_node(builder *b, uint32_t slot, uint32_t path_len, uint32_t depth)
{
	if (b->n == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 16;
		bnode *p = realloc(b->nodes, cap * sizeof(*p));
		if (!p) {
			b->oom = 1;
			return -1;
		}
		b->nodes = p;
		b->cap = cap;
	}
	b->nodes[b->n] = (bnode){ NULL, 0, 0, slot, path_len, depth };
	return (int32_t)b->n++;
}

static bkey *find_key(bnode *nd, const char *s, uint32_t len)
{
	for (uint32_t i = 0; i < nd->n; i++)
		if (nd->keys[i].len == len && memcmp(nd->keys[i].src + nd->keys[i].off, s, len) == 0)
			return &nd->keys[i];
	return NULL;
}

static bkey *add_key(builder *b, uint32_t node, const char *src, uint32_t off, uint32_t len)
{
	bnode *nd = &b->nodes[node];
	if (nd->n == nd->cap) {
		uint32_t cap = nd->cap ? nd->cap * 2 : 8;
		bkey *p = realloc(nd->keys, cap * sizeof(*p));
		if (!p) {
			b->oom = 1;
			return NULL;
		}
		nd->keys = p;
		nd->cap = cap;
	}
	nd->keys[nd->n] = (bkey){ off, len, src, -1, -1 };
	return &nd->keys[nd->n++];
}

static uint32_t pow2_table(uint32_t n)
{
	uint32_t cap = 4;
	while (cap < n * 2)
		cap *= 2;
	return cap;
}

/* A hash table over a range of schema strings, in d->vhtab. */
static int value_table(const su_schema *sc, su_decoder *d, uint32_t *nv, uint32_t *capv, su_srange r,
                       su_vtab *t)
{
	t->r = r;
	t->hmask = 0;
	t->hoff = 0;
	if (!r.count)
		return 0;
	uint32_t cap = pow2_table(r.count);
	if (*nv + cap > *capv) {
		uint32_t c = *capv ? *capv : 256;
		while (c < *nv + cap)
			c *= 2;
		uint32_t *p = realloc(d->vhtab, c * sizeof(*p));
		if (!p)
			return -1;
		d->vhtab = p;
		*capv = c;
	}
	t->hoff = *nv;
	t->hmask = cap - 1;
	memset(d->vhtab + *nv, 0, cap * sizeof(uint32_t));
	*nv += cap;
	for (uint32_t i = 0; i < r.count; i++) {
		uint32_t s = sc->items[r.start + i];
		uint32_t h = su_key_hash(SU_SSTR(sc, s), SU_SSTRLEN(sc, s)) & t->hmask;
		while (d->vhtab[t->hoff + h])
			h = (h + 1) & t->hmask;
		d->vhtab[t->hoff + h] = i + 1;
	}
	return 0;
}

int su_decoder_value(const su_schema *sc, const su_vtab *t, const char *v, uint32_t n)
{
	if (!t->r.count)
		return -1;
	const uint32_t *h = t->hoff + (const uint32_t *)sc->dec->vhtab;
	for (uint32_t k = su_key_hash(v, n) & t->hmask; h[k]; k = (k + 1) & t->hmask) {
		uint32_t s = sc->items[t->r.start + h[k] - 1];
		if (SU_SSTRLEN(sc, s) == n && su_key_eq(SU_SSTR(sc, s), v, n))
			return (int)h[k] - 1;
	}
	return -1;
}

void su_decoder_free(su_decoder *d)
{
	if (!d)
		return;
	free(d->nodes);
	free(d->keys);
	free(d->htab);
	free(d->names);
	free(d->vhtab);
	free(d->values);
	free(d->bits);
	free(d->fill);
	free(d->required);
	free(d);
}

/* Fields filled after decoding, sources before what derives from them. */
static int fill_order(const su_schema *sc, su_decoder *d)
{
	d->fill = malloc((sc->nfields ? sc->nfields : 1) * sizeof(uint32_t));
	d->required = malloc((sc->nfields ? sc->nfields : 1) * sizeof(uint32_t));
	if (!d->fill || !d->required)
		return -1;
	/* Derivations read only plain fields (schema.c checks), so plain
	 * defaults and derivations can go in one pass in slot order. */
	for (uint32_t i = 0; i < sc->nfields; i++) {
		const su_field *f = &sc->fields[i];
		if (f->flags & (SU_FF_DEFAULT | SU_FF_DERIVED | SU_FF_DEFAULT_DERIVED))
			d->fill[d->nfill++] = i;
		if ((f->flags & SU_FF_DEFAULT) && f->type == SU_T_STRING)
			d->defaults_bytes += SU_SSTRLEN(sc, (uint32_t)f->dflt) + 1;
		if (f->flags & SU_FF_REQUIRED)
			d->required[d->nrequired++] = i;
	}
	return 0;
}

int su_decoder_build(const su_schema *sc, su_decoder **out, char *err, size_t errlen)
{
	builder b = {0};
	su_decoder *d = calloc(1, sizeof(*d));
	int rc = -1;

	*out = NULL;
	if (!d || new_node(&b, 0, 0, 0) < 0)
		goto oom;
	for (uint32_t slot = 0; slot < sc->nfields; slot++) {
		const su_field *f = &sc->fields[slot];
		if (f->flags & SU_FF_DERIVED)
			continue;  /* never read from a request */
		const char *p = SU_FPATH(sc, slot);
		uint32_t len = SU_SSTRLEN(sc, f->path), at = 0, node = 0, depth = 1;
		for (;;) {
			const char *dot = memchr(p + at, '.', len - at);
			uint32_t clen = dot ? (uint32_t)(dot - (p + at)) : len - at;
			bkey *k = find_key(&b.nodes[node], p + at, clen);
			if (!dot) {
				if (k) {
					fail(err, errlen, "schema field %s is %s", p,
					     k->slot >= 0 ? "declared twice" : "both a field and an object");
					goto out;
				}
				if (!(k = add_key(&b, node, p, at, clen)))
					goto oom;
				k->slot = (int32_t)slot;
				break;
			}
			if (k && k->slot >= 0) {
				fail(err, errlen, "schema field %.*s is both a field and an object", (int)(at + clen), p);
				goto out;
			}
			if (++depth >= 32) {
				fail(err, errlen, "schema field %s is nested deeper than 31 objects", p);
				goto out;
			}
			if (!k) {
				int32_t child = new_node(&b, slot, at + clen, depth);
				if (child < 0 || !(k = add_key(&b, node, p, at, clen)))
					goto oom;
				k->child = child;
			}
			node = (uint32_t)k->child;
			at += clen + 1;
			if (depth > d->max_depth)
				d->max_depth = depth;
		}
	}
	if (b.oom)
		goto oom;

	/* Flatten: keys of each node together, their names and the node paths
	 * in one buffer, a hash table per node. */
	uint32_t nkeys = 0, nhtab = 0;
	size_t nnames = 0;
	for (uint32_t i = 0; i < b.n; i++) {
		nkeys += b.nodes[i].n;
		nhtab += pow2_table(b.nodes[i].n);
		nnames += b.nodes[i].path_len + 1;
		for (uint32_t k = 0; k < b.nodes[i].n; k++)
			nnames += b.nodes[i].keys[k].len + 1;
	}
	d->nodes = calloc(b.n, sizeof(*d->nodes));
	d->keys = calloc(nkeys ? nkeys : 1, sizeof(*d->keys));
	d->htab = calloc(nhtab, sizeof(*d->htab));
	d->names = malloc(nnames ? nnames : 1);
	d->values = calloc(sc->nfields ? sc->nfields : 1, sizeof(*d->values));
	d->bits = calloc(sc->nfields ? sc->nfields : 1, sizeof(*d->bits));
	if (!d->nodes || !d->keys || !d->htab || !d->names || !d->values || !d->bits)
		goto oom;
	d->nnodes = b.n;
	char *nm = d->names;
	uint32_t ki = 0, ho = 0;
	for (uint32_t i = 0; i < b.n; i++) {
		bnode *bn = &b.nodes[i];
		su_dnode *dn = &d->nodes[i];
		memcpy(nm, i ? SU_FPATH(sc, bn->path_slot) : "", bn->path_len);
		nm[bn->path_len] = '\0';
		dn->path = nm;
		nm += bn->path_len + 1;
		dn->first = ki;
		dn->count = bn->n;
		dn->hoff = ho;
		dn->hmask = pow2_table(bn->n) - 1;
		ho += dn->hmask + 1;
		for (uint32_t k = 0; k < bn->n; k++, ki++) {
			bkey *bk = &bn->keys[k];
			memcpy(nm, bk->src + bk->off, bk->len);
			nm[bk->len] = '\0';
			d->keys[ki] = (su_dkey){ nm, bk->len, bk->slot, bk->child };
			nm += bk->len + 1;
			uint32_t h = su_key_hash(d->keys[ki].name, bk->len) & dn->hmask;
			while (d->htab[dn->hoff + h])
				h = (h + 1) & dn->hmask;
			d->htab[dn->hoff + h] = ki + 1;
		}
	}
	d->nkeys = nkeys;

	uint32_t nv = 0, capv = 0;
	for (uint32_t slot = 0; slot < sc->nfields; slot++) {
		const su_field *f = &sc->fields[slot];
		if ((f->type == SU_T_ENUM || f->type == SU_T_REASONS) &&
		    value_table(sc, d, &nv, &capv, f->values, &d->values[slot]) < 0)
			goto oom;
		if (f->type == SU_T_REASONS && value_table(sc, d, &nv, &capv, f->bits, &d->bits[slot]) < 0)
			goto oom;
	}
	if (fill_order(sc, d) < 0)
		goto oom;
	*out = d;
	d = NULL;
	rc = 0;
	goto out;
oom:
	fail(err, errlen, "out of memory");
out:
	for (uint32_t i = 0; i < b.n; i++)
		free(b.nodes[i].keys);
	free(b.nodes);
	su_decoder_free(d);
	return rc;
}
