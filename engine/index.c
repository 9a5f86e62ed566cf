/* index.c: guards, buckets and the key tables of the rule index (index.h). */
#include "index.h"

#include <stdlib.h>
#include <string.h>

#include "decoder.h"  /* su_key_hash, inline */
#include "eval.h"     /* bytes_eq, inline */

/* Guard kinds, in order of preference when two pass as many requests. */
enum { G_STR, G_PREFIX, G_SUFFIX, G_VALUE, G_CODES, G_NONE };

#define MAX_KEYS 16        /* values a guard may pass and still be one */
#define MAX_AFFIX 64       /* longest prefix or suffix indexed */
#define AUTO_MAX_P 0.3     /* a guard passing more requests makes an always rule */

typedef struct guard {
	uint8_t kind;
	uint16_t slot;
	uint32_t clause;       /* in the rule's CNF */
	uint64_t bits;         /* VALUE: values passed (from the field's base); CODES: codes */
	uint32_t str;          /* STR, PREFIX, SUFFIX: one string (strs), or SU_NONE */
	uint32_t set;          /* STR: a string set, or SU_NONE */
} guard;

/* A key: a value or code (s NULL, v) or a string (s, v = its length) of a
 * field, for one guard kind. */
typedef struct key {
	const char *s;
	uint32_t v;
	uint16_t slot;
	uint8_t kind;
	uint32_t hash;
	uint32_t bucket;       /* SU_NONE until a chosen guard uses it */
} key;

typedef struct bucket {
	uint32_t head, tail, n;    /* its rules: a list in links */
	uint32_t key;
	su_irange chunks;
} bucket;

typedef struct link {
	uint32_t rule, next;
} link;

struct su_ib {
	const struct stepup_ruleset *rs;
	key *keys;  uint32_t nkeys, capkeys;
	uint32_t *khash;  uint32_t khcap;      /* keys by hash; SU_NONE empty */
	uint32_t *dkey;  uint32_t *dcount;  uint32_t dcap, ndist;  /* distinct keys per
	                                                               (slot, kind, length) */
	uint32_t *gclause;                     /* per rule: guard clause or SU_NONE */
	bucket *buckets;  uint32_t nbuckets, capbuckets;
	link *links;  uint32_t nlinks, caplinks;
	uint32_t *always;  uint32_t nalways;
	uint32_t *flat;                        /* every bucket's rules, bucket by bucket */
	uint32_t *flat_at;                     /* per bucket: start in flat */
	int oom;
};

static void *grow(su_ib *ib, void *p, uint32_t *cap, uint32_t need, size_t size)
{
	if (need <= *cap)
		return p;
	uint64_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = c > UINT32_MAX / 2 ? NULL : realloc(p, (size_t)c * size);
	if (!q) {
		ib->oom = 1;
		return p;
	}
	*cap = (uint32_t)c;
	return q;
}

/* The hash of a string key (kind 0 in the lookup table, whose entries
 * hold every kind of key of their string). */
static inline uint32_t skey_hash(unsigned slot, unsigned kind, const char *s, uint32_t len)
{
	return su_key_hash(s, len) ^ ((uint32_t)slot << 3 | kind) * 0x85ebca77u;
}

static uint32_t vkey_hash(unsigned slot, unsigned kind, uint32_t v)
{
	uint64_t x = ((uint64_t)slot << 40 | (uint64_t)kind << 32 | v) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(x >> 32);
}

static int key_eq(const key *a, const key *b)
{
	return a->slot == b->slot && a->kind == b->kind && a->v == b->v && (!a->s) == (!b->s) &&
	       (!a->s || memcmp(a->s, b->s, a->v) == 0);
}

/* The key's index, added when new; SU_NONE on OOM. `*fresh` says it was. */
static uint32_t key_find(su_ib *ib, const key *k, int *fresh)
{
	*fresh = 0;
	if ((ib->nkeys + 1) * 2 > ib->khcap) {
		uint32_t cap = ib->khcap ? ib->khcap * 2 : 256;
		uint32_t *h = malloc(cap * sizeof(*h));
		if (!h) {
			ib->oom = 1;
			return SU_NONE;
		}
		memset(h, 0xff, cap * sizeof(*h));
		for (uint32_t i = 0; i < ib->nkeys; i++) {
			uint32_t j = ib->keys[i].hash & (cap - 1);
			while (h[j] != SU_NONE)
				j = (j + 1) & (cap - 1);
			h[j] = i;
		}
		free(ib->khash);
		ib->khash = h;
		ib->khcap = cap;
	}
	uint32_t j = k->hash & (ib->khcap - 1);
	for (; ib->khash[j] != SU_NONE; j = (j + 1) & (ib->khcap - 1))
		if (key_eq(&ib->keys[ib->khash[j]], k))
			return ib->khash[j];
	ib->keys = grow(ib, ib->keys, &ib->capkeys, ib->nkeys + 1, sizeof(*ib->keys));
	if (ib->oom)
		return SU_NONE;
	ib->keys[ib->nkeys] = *k;
	ib->keys[ib->nkeys].bucket = SU_NONE;
	ib->khash[j] = ib->nkeys;
	*fresh = 1;
	return ib->nkeys++;
}

/* Distinct keys per (slot, kind, length): what the estimates divide by. */
static uint32_t *dist_slot(su_ib *ib, uint32_t id, int add)
{
	if (add && (ib->ndist + 1) * 2 > ib->dcap) {
		uint32_t cap = ib->dcap ? ib->dcap * 2 : 64;
		uint32_t *k = malloc(cap * sizeof(*k)), *c = calloc(cap, sizeof(*c));
		if (!k || !c) {
			free(k);
			free(c);
			ib->oom = 1;
			return NULL;
		}
		memset(k, 0xff, cap * sizeof(*k));
		for (uint32_t i = 0; i < ib->dcap; i++)
			if (ib->dkey[i] != SU_NONE) {
				uint32_t j = vkey_hash(0, 0, ib->dkey[i]) & (cap - 1);
				while (k[j] != SU_NONE)
					j = (j + 1) & (cap - 1);
				k[j] = ib->dkey[i];
				c[j] = ib->dcount[i];
			}
		free(ib->dkey);
		free(ib->dcount);
		ib->dkey = k;
		ib->dcount = c;
		ib->dcap = cap;
	}
	if (!ib->dcap)
		return NULL;
	uint32_t j = vkey_hash(0, 0, id) & (ib->dcap - 1);
	for (; ib->dkey[j] != SU_NONE; j = (j + 1) & (ib->dcap - 1))
		if (ib->dkey[j] == id)
			return &ib->dcount[j];
	if (!add)
		return NULL;
	ib->dkey[j] = id;
	ib->ndist++;
	return &ib->dcount[j];
}

static uint32_t dist_id(unsigned slot, unsigned kind, uint32_t len)
{
	return (uint32_t)slot << 12 | kind << 8 | (len & 0xff);
}

/* Values a field has, for a VALUE guard: its value codes (request.h), 0
 * when it has none. */
static uint32_t field_values(const su_field *f)
{
	return su_field_codes(f);
}

static int cmp_i64(int64_t a, int64_t b, unsigned op)
{
	switch (op) {
	case 0: return a == b;
	case 1: return a != b;
	case 2: return a < b;
	case 3: return a <= b;
	case 4: return a > b;
	default: return a >= b;
	}
}

/* The guard literal l of a one-literal clause can be, or kind G_NONE.
 * The literal is TRUE exactly when the field is present and passes. */
static guard guard_of(const su_ib *ib, su_lit l)
{
	static const uint8_t int_not[6] = { 1, 0, 5, 4, 3, 2 };
	const struct stepup_ruleset *rs = ib->rs;
	guard g = { .kind = G_NONE, .str = SU_NONE, .set = SU_NONE };
	if (l.neg & SU_LIT_VM)
		return g;
	const su_insn *in = &rs->code[l.insn];
	int neg = (l.neg & SU_LIT_NEG) != 0;
	const su_field *f = in->op == SU_OP_TRI ? NULL : &rs->schema->fields[in->a];
	uint32_t nv;

	g.slot = in->a;
	switch (in->op) {
	case SU_OP_ENUM_IN:
		nv = field_values(f);
		g.bits = neg ? ~rs->masks[in->c] : rs->masks[in->c];
		g.bits &= nv >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << nv) - 1;
		g.kind = G_VALUE;
		break;
	case SU_OP_BOOL:
		g.bits = neg ? 1 : 2;
		g.kind = G_VALUE;
		break;
	case SU_OP_INT_CMP: {
		nv = field_values(f);
		if (!nv)
			break;
		unsigned cmp = neg ? int_not[in->cmp] : in->cmp;
		for (uint32_t v = 0; v < nv; v++)
			if (cmp_i64(f->min + (int64_t)v, rs->ints[in->c], cmp))
				g.bits |= UINT64_C(1) << v;
		g.kind = G_VALUE;
		break;
	}
	case SU_OP_REASONS_ANY:
	case SU_OP_REASONS_ALL: {
		uint64_t m = rs->masks[in->c];
		/* `has all of` one code is having it */
		if (neg || (in->op == SU_OP_REASONS_ALL && (m & (m - 1))))
			break;
		g.bits = m;
		g.kind = G_CODES;
		break;
	}
	case SU_OP_STR_CMP:
		if ((in->cmp == 0) == neg)  /* != "x", or not == "x" */
			break;
		g.str = in->c;
		g.kind = G_STR;
		break;
	case SU_OP_STR_IN:
		if (neg)
			break;
		g.set = in->c;
		g.kind = G_STR;
		break;
	case SU_OP_STR_PREFIX:
	case SU_OP_STR_ENDS:
		if (neg || SU_STRLEN(rs, in->c) == 0 || SU_STRLEN(rs, in->c) > MAX_AFFIX)
			break;
		g.str = in->c;
		g.kind = in->op == SU_OP_STR_PREFIX ? G_PREFIX : G_SUFFIX;
		break;
	default:
		break;
	}
	if (g.kind == G_VALUE || g.kind == G_CODES) {
		unsigned n = (unsigned)__builtin_popcountll(g.bits);
		if (n == 0 || n > MAX_KEYS)
			g.kind = G_NONE;
	} else if (g.set != SU_NONE && (rs->strsets[g.set].count == 0 || rs->strsets[g.set].count > MAX_KEYS)) {
		g.kind = G_NONE;
	}
	return g;
}

/* Key number i of guard g (i < guard_nkeys). */
static uint32_t guard_nkeys(const su_ib *ib, const guard *g)
{
	if (g->kind == G_VALUE || g->kind == G_CODES)
		return (uint32_t)__builtin_popcountll(g->bits);
	return g->set != SU_NONE ? ib->rs->strsets[g->set].count : 1;
}

static key guard_key(const su_ib *ib, const guard *g, uint32_t i)
{
	const struct stepup_ruleset *rs = ib->rs;
	key k = { .slot = g->slot, .kind = g->kind };
	if (g->kind == G_VALUE || g->kind == G_CODES) {
		uint64_t b = g->bits;
		while (i--)
			b &= b - 1;
		k.v = (uint32_t)__builtin_ctzll(b);
		k.hash = vkey_hash(k.slot, k.kind, k.v);
	} else {
		uint32_t s = g->set != SU_NONE ? rs->setitems[rs->strsets[g->set].start + i] : g->str;
		k.s = SU_STR(rs, s);
		k.v = SU_STRLEN(rs, s);
		k.hash = skey_hash(k.slot, k.kind, k.s, k.v);
	}
	return k;
}

/* The share of requests guard g passes, estimated. */
static double guard_p(su_ib *ib, const guard *g)
{
	const su_field *f = &ib->rs->schema->fields[g->slot];
	double n = guard_nkeys(ib, g);
	uint32_t *d;

	switch (g->kind) {
	case G_VALUE:
		return n / field_values(f);
	case G_CODES:
		return n / 8 < 1 ? n / 8 : 1;
	case G_STR:
		d = dist_slot(ib, dist_id(g->slot, G_STR, 0), 0);
		return n / (d && *d > 2 ? *d : 2);
	default: /* PREFIX, SUFFIX */
		d = dist_slot(ib, dist_id(g->slot, g->kind, SU_STRLEN(ib->rs, g->str)), 0);
		return 1.0 / (d && *d > 2 ? *d : 2);
	}
}

su_ib *su_ib_new(const struct stepup_ruleset *rs)
{
	su_ib *ib = calloc(1, sizeof(*ib));
	if (!ib)
		return NULL;
	ib->rs = rs;
	ib->gclause = malloc((rs->nrules ? rs->nrules : 1) * sizeof(uint32_t));
	ib->always = malloc((rs->nrules ? rs->nrules : 1) * sizeof(uint32_t));
	if (!ib->gclause || !ib->always) {
		su_ib_free(ib);
		return NULL;
	}
	for (uint32_t i = 0; i < rs->nrules; i++)
		ib->gclause[i] = SU_NONE;
	return ib;
}

void su_ib_free(su_ib *ib)
{
	if (!ib)
		return;
	free(ib->keys);
	free(ib->khash);
	free(ib->dkey);
	free(ib->dcount);
	free(ib->gclause);
	free(ib->buckets);
	free(ib->links);
	free(ib->always);
	free(ib->flat);
	free(ib->flat_at);
	free(ib);
}

/* A guard clause: a clause of the rule's CNF whose every literal is a
 * guard test (on one field or several). Entering the rule's chunks through
 * the key of any of them makes the clause TRUE. */
typedef struct gclause {
	uint32_t clause, n;
	guard lit[MAX_KEYS];
} gclause;

/* Clause c of rule i as a guard clause: 0 when it cannot be one. */
static int gclause_of(const su_ib *ib, uint32_t i, uint32_t c, gclause *gc)
{
	const struct stepup_ruleset *rs = ib->rs;
	su_range cl = rs->clauses[rs->rules[i].cnf.start + c];
	uint32_t keys = 0;
	if (cl.count > MAX_KEYS)
		return 0;
	gc->clause = c;
	gc->n = cl.count;
	for (uint32_t k = 0; k < cl.count; k++) {
		gc->lit[k] = guard_of(ib, rs->lits[cl.start + k]);
		if (gc->lit[k].kind == G_NONE || (keys += guard_nkeys(ib, &gc->lit[k])) > MAX_KEYS)
			return 0;
	}
	return 1;
}

/* For each guard clause gc of rule i: BODY. */
#define FOR_GUARDS(ib, i, gc, BODY)                                                   \
	do {                                                                              \
		su_range cnf_ = (ib)->rs->rules[(i)].cnf;                                     \
		if (cnf_.count > 64)                                                          \
			break;                                                                    \
		for (uint32_t c_ = 0; c_ < cnf_.count; c_++) {                                \
			gclause gc;                                                               \
			if (gclause_of((ib), (i), c_, &gc))                                       \
				BODY                                                                  \
		}                                                                             \
	} while (0)

/* A guard clause passes what any of its tests passes; kind for ties: the
 * least preferred of its tests'. */
static double gclause_p(su_ib *ib, const gclause *gc, unsigned *kind)
{
	double p = 0;
	*kind = G_STR;
	for (uint32_t k = 0; k < gc->n; k++) {
		p += guard_p(ib, &gc->lit[k]);
		if (gc->lit[k].kind > *kind)
			*kind = gc->lit[k].kind;
	}
	return p < 1 ? p : 1;
}

/* Append rule to the bucket of key k (made when new). */
static void bucket_add(su_ib *ib, uint32_t k, uint32_t rule)
{
	key *kk = &ib->keys[k];
	if (kk->bucket == SU_NONE) {
		ib->buckets = grow(ib, ib->buckets, &ib->capbuckets, ib->nbuckets + 1, sizeof(*ib->buckets));
		if (ib->oom)
			return;
		kk->bucket = ib->nbuckets++;
		ib->buckets[kk->bucket] = (bucket){ SU_NONE, SU_NONE, 0, k, { 0, 0 } };
	}
	bucket *b = &ib->buckets[kk->bucket];
	if (b->tail != SU_NONE && ib->links[b->tail].rule == rule)
		return;  /* a set naming one string twice */
	ib->links = grow(ib, ib->links, &ib->caplinks, ib->nlinks + 1, sizeof(*ib->links));
	if (ib->oom)
		return;
	ib->links[ib->nlinks] = (link){ rule, SU_NONE };
	if (b->tail == SU_NONE)
		b->head = ib->nlinks;
	else
		ib->links[b->tail].next = ib->nlinks;
	b->tail = ib->nlinks++;
	b->n++;
}

int su_ib_plan(su_ib *ib, int mode)
{
	const struct stepup_ruleset *rs = ib->rs;
	double expect = 0;

	/* Every key every guard could use, and how many distinct ones each
	 * field has per kind and length. */
	for (uint32_t i = 0; i < rs->nrules && !ib->oom; i++)
		FOR_GUARDS(ib, i, gc, {
			for (uint32_t l = 0; l < gc.n; l++) {
				const guard *g = &gc.lit[l];
				for (uint32_t k = 0, n = guard_nkeys(ib, g); k < n && !ib->oom; k++) {
					key ky = guard_key(ib, g, k);
					int fresh;
					key_find(ib, &ky, &fresh);
					if (fresh && g->kind <= G_SUFFIX) {
						uint32_t *d = dist_slot(ib, dist_id(g->slot, g->kind, g->kind == G_STR ? 0 : ky.v), 1);
						if (d)
							++*d;
					}
				}
			}
		});
	/* Each rule's best guard clause. */
	for (uint32_t i = 0; i < rs->nrules && !ib->oom; i++) {
		gclause best;
		double bp = 2;
		unsigned bkind = G_NONE;
		FOR_GUARDS(ib, i, gc, {
			unsigned kind;
			double p = gclause_p(ib, &gc, &kind);
			if (p < bp || (p == bp && kind < bkind)) {
				bp = p;
				bkind = kind;
				best = gc;
			}
		});
		if (bkind == G_NONE || (mode != SU_INDEX_FORCE && bp > AUTO_MAX_P)) {
			ib->always[ib->nalways++] = i;
			expect += 1;
			continue;
		}
		expect += bp;
		ib->gclause[i] = best.clause;
		for (uint32_t l = 0; l < best.n; l++)
			for (uint32_t k = 0, n = guard_nkeys(ib, &best.lit[l]); k < n && !ib->oom; k++) {
				key ky = guard_key(ib, &best.lit[l], k);
				int fresh;
				uint32_t at = key_find(ib, &ky, &fresh);
				if (at != SU_NONE)
					bucket_add(ib, at, i);
			}
	}
	if (ib->oom)
		return -1;
	/* Worth it? The look-ups and the smaller chunks cost something: the
	 * rules expected to run must be at most half of all. */
	if (mode != SU_INDEX_FORCE && (rs->nrules < SU_INDEX_MIN_RULES || expect > rs->nrules / 2.0))
		return 0;
	/* Flatten the buckets' lists. */
	ib->flat = malloc((ib->nlinks ? ib->nlinks : 1) * sizeof(uint32_t));
	ib->flat_at = malloc((ib->nbuckets + 1) * sizeof(uint32_t));
	if (!ib->flat || !ib->flat_at)
		return -1;
	uint32_t n = 0;
	for (uint32_t b = 0; b < ib->nbuckets; b++) {
		ib->flat_at[b] = n;
		for (uint32_t l = ib->buckets[b].head; l != SU_NONE; l = ib->links[l].next)
			ib->flat[n++] = ib->links[l].rule;
	}
	ib->flat_at[ib->nbuckets] = n;
	return (int)ib->nbuckets;
}

const uint32_t *su_ib_always(const su_ib *ib, uint32_t *n)
{
	*n = ib->nalways;
	return ib->always;
}

const uint32_t *su_ib_bucket(const su_ib *ib, uint32_t b, uint32_t *n)
{
	*n = ib->flat_at[b + 1] - ib->flat_at[b];
	return ib->flat + ib->flat_at[b];
}

uint32_t su_ib_guard_clause(const su_ib *ib, uint32_t rule)
{
	return ib->gclause[rule];
}

void su_ib_set_chunks(su_ib *ib, uint32_t b, uint32_t first, uint32_t count)
{
	ib->buckets[b].chunks = (su_irange){ first, count };
}

/* ---- the lookup tables ---------------------------------------------------- */

typedef struct ifield {
	uint16_t slot;
	uint8_t kind;          /* G_VALUE, G_CODES, or G_STR for every string key */
	uint8_t has_eq;        /* STR: full values */
	uint32_t tab;          /* VALUE, CODES: first entry in vtab */
	uint32_t nvals;        /* VALUE: entries, one per value code */
	uint64_t codes;        /* CODES: codes with a bucket */
	uint64_t plens, slens; /* STR: prefix and suffix lengths, bit L - 1 */
} ifield;

/* An entry of the string table: the string of a field and the chunks of
 * the buckets of each kind of key it is (equal, prefix, suffix: one probe
 * for a value of 8 characters finds the BIN's `==` rules and those of its
 * 8-character prefix), with the key inside when it is short (BINs, country
 * codes, most ids), so a probe costs one miss. */
#define INLINE_KEY 16
typedef struct ientry {
	uint32_t hash;
	uint16_t slot;
	uint16_t used;         /* 0: an empty entry */
	uint32_t klen;
	su_irange r[3];        /* by kind: G_STR, G_PREFIX, G_SUFFIX */
	union {
		char s[INLINE_KEY];  /* klen <= INLINE_KEY */
		uint32_t off;        /* in keys, longer */
	} key;
} ientry;

struct su_index {
	ifield *fields;  uint32_t nfields;
	su_irange *vtab;
	ientry *htab;  uint32_t hmask;
	char *keys;
	uint32_t nbuckets, nstrkeys, max_ranges;
};

void su_index_free(su_index *ix)
{
	if (!ix)
		return;
	free(ix->fields);
	free(ix->vtab);
	free(ix->htab);
	free(ix->keys);
	free(ix);
}

static const char *entry_key(const su_index *ix, const ientry *e)
{
	return e->klen <= INLINE_KEY ? e->key.s : ix->keys + e->key.off;
}

/* The entry of string s (n bytes) of `slot`: found, or the empty one where
 * it goes. */
static inline __attribute__((always_inline)) ientry *entry_of(const su_index *ix, unsigned slot, const char *s,
                                                             uint32_t n, uint32_t hash)
{
	uint32_t j = hash & ix->hmask;
	for (; ix->htab[j].used; j = (j + 1) & ix->hmask) {
		const ientry *e = &ix->htab[j];
		if (e->hash == hash && e->klen == n && e->slot == slot && bytes_eq(entry_key(ix, e), s, n))
			break;
	}
	return &ix->htab[j];
}

su_index *su_ib_finish(su_ib *ib)
{
	const struct stepup_ruleset *rs = ib->rs;
	su_index *ix = calloc(1, sizeof(*ix));
	uint32_t *fof = malloc((rs->schema->nfields ? rs->schema->nfields : 1) * sizeof(uint32_t));
	uint32_t nv = 0, keybytes = 0, nstr = 0, cap;

	if (!ix || !fof)
		goto oom;
	for (uint32_t s = 0; s < rs->schema->nfields; s++)
		fof[s] = SU_NONE;
	ix->fields = calloc(ib->nbuckets ? ib->nbuckets : 1, sizeof(*ix->fields));
	if (!ix->fields)
		goto oom;
	/* The fields, their value tables' places and the string keys. */
	for (uint32_t b = 0; b < ib->nbuckets; b++) {
		const key *k = &ib->keys[ib->buckets[b].key];
		if (fof[k->slot] == SU_NONE) {
			const su_field *f = &rs->schema->fields[k->slot];
			ifield *fd = &ix->fields[ix->nfields];
			fof[k->slot] = ix->nfields++;
			fd->slot = k->slot;
			fd->kind = k->kind <= G_SUFFIX ? G_STR : k->kind;
			if (fd->kind == G_VALUE) {
				fd->nvals = field_values(f);
				fd->tab = nv;
				nv += fd->nvals;
			} else if (fd->kind == G_CODES) {
				fd->tab = nv;
				nv += 64;
			}
		}
		ifield *fd = &ix->fields[fof[k->slot]];
		switch (k->kind) {
		case G_CODES: fd->codes |= UINT64_C(1) << k->v; break;
		case G_STR: fd->has_eq = 1; break;
		case G_PREFIX: fd->plens |= UINT64_C(1) << (k->v - 1); break;
		case G_SUFFIX: fd->slens |= UINT64_C(1) << (k->v - 1); break;
		default: break;
		}
		if (k->kind <= G_SUFFIX) {
			nstr++;
			keybytes += k->v > INLINE_KEY ? k->v : 0;
		}
	}
	ix->vtab = calloc(nv ? nv : 1, sizeof(*ix->vtab));
	for (cap = 16; cap < nstr * 2; cap *= 2)
		;
	ix->htab = calloc(cap, sizeof(*ix->htab));
	ix->keys = malloc(keybytes ? keybytes : 1);
	if (!ix->vtab || !ix->htab || !ix->keys)
		goto oom;
	ix->hmask = cap - 1;
	keybytes = 0;
	for (uint32_t b = 0; b < ib->nbuckets; b++) {
		const key *k = &ib->keys[ib->buckets[b].key];
		const ifield *fd = &ix->fields[fof[k->slot]];
		su_irange r = ib->buckets[b].chunks;
		if (k->kind == G_VALUE || k->kind == G_CODES) {
			ix->vtab[fd->tab + k->v] = r;
			continue;
		}
		uint32_t hash = skey_hash(k->slot, 0, k->s, k->v);
		ientry *e = entry_of(ix, k->slot, k->s, k->v, hash);
		if (!e->used) {
			*e = (ientry){ .hash = hash, .slot = k->slot, .used = 1, .klen = k->v };
			if (k->v <= INLINE_KEY) {
				memcpy(e->key.s, k->s, k->v);
			} else {
				e->key.off = keybytes;
				memcpy(ix->keys + keybytes, k->s, k->v);
				keybytes += k->v;
			}
			ix->nstrkeys++;
		}
		e->r[k->kind] = r;
	}
	for (uint32_t i = 0; i < ix->nfields; i++) {
		const ifield *fd = &ix->fields[i];
		ix->max_ranges += fd->kind == G_VALUE ? 1
		                : fd->kind == G_CODES ? (uint32_t)__builtin_popcountll(fd->codes)
		                : 3 + (uint32_t)__builtin_popcountll(fd->plens) + (uint32_t)__builtin_popcountll(fd->slens);
	}
	ix->nbuckets = ib->nbuckets;
	free(fof);
	return ix;
oom:
	free(fof);
	su_index_free(ix);
	return NULL;
}

uint32_t su_index_max_ranges(const su_index *ix)
{
	return ix->max_ranges;
}

void su_index_stats(const su_index *ix, uint32_t *fields, uint32_t *buckets, uint32_t *keys)
{
	*fields = ix->nfields;
	*buckets = ix->nbuckets;
	*keys = ix->nstrkeys;
}

/* String probes wait in a batch, their table entries prefetched, so the
 * misses of one request's look-ups overlap. A probe wants some of its
 * entry's ranges: bit k for kind k. */
typedef struct probe {
	const char *s;
	uint32_t len, hash;
	uint16_t slot;
	uint8_t want;
} probe;
#define BATCH 32

static uint32_t resolve(const su_index *ix, const probe *p, uint32_t n, su_irange *out)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		__builtin_prefetch(&ix->htab[p[i].hash & ix->hmask]);
	for (uint32_t i = 0; i < n; i++) {
		const ientry *e = entry_of(ix, p[i].slot, p[i].s, p[i].len, p[i].hash);
		if (!e->used)
			continue;
		for (unsigned kind = G_STR; kind <= G_SUFFIX; kind++)
			if ((p[i].want >> kind & 1) && e->r[kind].count)
				out[k++] = e->r[kind];
	}
	return k;
}

uint32_t su_index_lookup(const su_index *ix, const stepup_request *r, su_irange *out)
{
	probe pr[BATCH];
	uint32_t n = 0, np = 0;

#define PROBE(S, L, WANT)                                                             \
	do {                                                                              \
		if (np == BATCH) {                                                            \
			n += resolve(ix, pr, np, out + n);                                        \
			np = 0;                                                                   \
		}                                                                             \
		pr[np++] = (probe){ (S), (L), skey_hash(fd->slot, 0, (S), (L)), fd->slot, (WANT) }; \
	} while (0)

	for (uint32_t i = 0; i < ix->nfields; i++) {
		const ifield *fd = &ix->fields[i];
		unsigned h = r->has[fd->slot];
		if (!(h & 1))
			continue;
		const su_value *v = &r->f[fd->slot];
		if (fd->kind == G_VALUE) {
			unsigned x = SU_HAS_INDEX(h) - 1;  /* the value's code (request.h) */
			if (x < fd->nvals && ix->vtab[fd->tab + x].count)
				out[n++] = ix->vtab[fd->tab + x];
		} else if (fd->kind == G_CODES) {
			for (uint64_t m = v->mask & fd->codes; m; m &= m - 1)
				out[n++] = ix->vtab[fd->tab + (uint32_t)__builtin_ctzll(m)];
		} else {
			/* The whole value is the key of `==`, and of a prefix or a
			 * suffix of its length: one probe; shorter prefixes and
			 * suffixes, one probe each. */
			su_str s = su_rstr(r, fd->slot);
			uint64_t whole = s.len && s.len <= 64 ? UINT64_C(1) << (s.len - 1) : 0;
			uint64_t shorter = !s.len ? 0 : s.len > 64 ? ~UINT64_C(0) : whole - 1;
			if (fd->has_eq || ((fd->plens | fd->slens) & whole))
				PROBE(s.s, s.len, 1u << G_STR | 1u << G_PREFIX | 1u << G_SUFFIX);
			for (uint64_t m = fd->plens & shorter; m; m &= m - 1)
				PROBE(s.s, (uint32_t)__builtin_ctzll(m) + 1, 1u << G_PREFIX);
			for (uint64_t m = fd->slens & shorter; m; m &= m - 1) {
				uint32_t L = (uint32_t)__builtin_ctzll(m) + 1;
				PROBE(s.s + s.len - L, L, 1u << G_SUFFIX);
			}
		}
	}
#undef PROBE
	return n + resolve(ix, pr, np, out + n);
}
