/* schema.c: the schema object (schema.h): building, checking what a
 * bundle brought, lookups, the decoder's key tables and the canonical
 * serialization that the fingerprint and the bundle share. */
#include "schema.h"

#include <stepup/stepup.h>

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decoder.h"
#include "util.h"

static const char *const format_names[SU_FMT_COUNT] = {
#define X(K, NAME) NAME,
	SU_FORMATS(X)
#undef X
};

static const char *const role_names[SU_ROLE_COUNT] = {
#define X(K, NAME) NAME,
	SU_ROLES(X)
#undef X
};

const char *su_format_name(unsigned f)
{
	return f < SU_FMT_COUNT ? format_names[f] : "?";
}

const char *su_role_name(unsigned r)
{
	return r < SU_ROLE_COUNT ? role_names[r] : "?";
}

const char *su_type_name(unsigned t)
{
	static const char *const names[] = { "none", "bool", "int", "float", "string", "enum", "code",
	                                     "list", "set" };
	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

uint32_t su_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t size, int *oom)
{
	if (need <= *cap)
		return p;
	uint64_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	if (c > UINT32_MAX / 2) {
		*oom = 1;
		return p;
	}
	void *q = realloc(p, (size_t)c * size);
	if (!q) {
		*oom = 1;
		return p;
	}
	*cap = (uint32_t)c;
	return q;
}

su_schema *su_schema_new(void)
{
	su_schema *sc = calloc(1, sizeof(*sc));
	if (sc)
		for (int r = 0; r < SU_ROLE_COUNT; r++)
			sc->role_slot[r] = -1;
	return sc;
}

void su_schema_free(su_schema *sc)
{
	if (!sc)
		return;
	free(sc->strtab);
	free(sc->strs);
	free(sc->fields);
	free(sc->items);
	free(sc->phash);
	su_decoder_free(sc->dec);
	free(sc);
}

uint32_t su_schema_str(su_schema *sc, const char *s, size_t n)
{
	/* No interning: the strings are few, and a builder adds them in a
	 * deterministic order, which is all the fingerprint needs. */
	sc->strtab = grow(sc->strtab, &sc->strtab_cap, sc->strtab_len + (uint32_t)n + 1, 1, &sc->oom);
	sc->strs = grow(sc->strs, &sc->capstrs, sc->nstrs + 1, sizeof(*sc->strs), &sc->oom);
	if (sc->oom || n > UINT32_MAX / 4)
		return 0;
	memcpy(sc->strtab + sc->strtab_len, s, n);
	sc->strtab[sc->strtab_len + n] = '\0';
	sc->strs[sc->nstrs] = (su_sspan){ sc->strtab_len, (uint32_t)n };
	sc->strtab_len += (uint32_t)n + 1;
	return sc->nstrs++;
}

uint32_t su_schema_add(su_schema *sc, const su_field *f)
{
	sc->fields = grow(sc->fields, &sc->capfields, sc->nfields + 1, sizeof(*sc->fields), &sc->oom);
	if (sc->oom)
		return 0;
	sc->fields[sc->nfields] = *f;
	return sc->nfields++;
}

su_srange su_schema_items(su_schema *sc, const uint32_t *strs, uint32_t count)
{
	su_srange r = { sc->nitems, count };
	sc->items = grow(sc->items, &sc->capitems, sc->nitems + count, sizeof(*sc->items), &sc->oom);
	if (sc->oom)
		return (su_srange){ 0, 0 };
	if (count)
		memcpy(sc->items + sc->nitems, strs, count * sizeof(*strs));
	sc->nitems += count;
	return r;
}

su_schema *su_schema_clone(const su_schema *sc)
{
	su_schema *c = su_schema_new();
	if (!c)
		return NULL;
	c->strtab = malloc(sc->strtab_len ? sc->strtab_len : 1);
	c->strs = malloc((sc->nstrs ? sc->nstrs : 1) * sizeof(*c->strs));
	c->fields = malloc((sc->nfields ? sc->nfields : 1) * sizeof(*c->fields));
	c->items = malloc((sc->nitems ? sc->nitems : 1) * sizeof(*c->items));
	if (!c->strtab || !c->strs || !c->fields || !c->items) {
		su_schema_free(c);
		return NULL;
	}
	memcpy(c->strtab, sc->strtab, sc->strtab_len);
	memcpy(c->strs, sc->strs, sc->nstrs * sizeof(*c->strs));
	memcpy(c->fields, sc->fields, sc->nfields * sizeof(*c->fields));
	memcpy(c->items, sc->items, sc->nitems * sizeof(*c->items));
	c->strtab_len = c->strtab_cap = sc->strtab_len;
	c->nstrs = c->capstrs = sc->nstrs;
	c->nfields = c->capfields = sc->nfields;
	c->nitems = c->capitems = sc->nitems;
	return c;
}

/* ---- canonical form ------------------------------------------------------ */

void su_schema_write(su_wbuf *w, const su_schema *sc)
{
	su_w32(w, sc->strtab_len);
	su_wbytes(w, sc->strtab, sc->strtab_len);
	su_w32(w, sc->nstrs);
	for (uint32_t i = 0; i < sc->nstrs; i++) {
		su_w32(w, sc->strs[i].off);
		su_w32(w, sc->strs[i].len);
	}
	su_w32(w, sc->nitems);
	for (uint32_t i = 0; i < sc->nitems; i++)
		su_w32(w, sc->items[i]);
	su_w32(w, sc->nfields);
	for (uint32_t i = 0; i < sc->nfields; i++) {
		const su_field *f = &sc->fields[i];
		su_w32(w, f->path);
		su_w32(w, f->desc);
		su_w8(w, f->type);
		su_w8(w, f->format);
		su_w8(w, f->role);
		su_w8(w, f->derive);
		su_w32(w, f->flags);
		su_w32(w, f->source);
		su_w32(w, f->ekind);
		su_w64(w, (uint64_t)f->min);
		su_w64(w, (uint64_t)f->max);
		su_w64(w, (uint64_t)f->dflt);
		su_w32(w, f->values.start);
		su_w32(w, f->values.count);
		su_w32(w, f->bits.start);
		su_w32(w, f->bits.count);
		su_w64(w, f->merchant);
	}
}

/* ---- checking and preparing ------------------------------------------------ */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	su_vset_err(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int range_ok(const su_schema *sc, su_srange r)
{
	if ((uint64_t)r.start + r.count > sc->nitems)
		return 0;
	for (uint32_t i = 0; i < r.count; i++)
		if (sc->items[r.start + i] >= sc->nstrs)
			return 0;
	return 1;
}

static int same_values(const su_schema *sc, const su_field *a, const su_field *b)
{
	if (a->values.count != b->values.count || ((a->flags ^ b->flags) & SU_FF_OPEN))
		return 0;
	for (uint32_t i = 0; i < a->values.count; i++) {
		uint32_t x = sc->items[a->values.start + i], y = sc->items[b->values.start + i];
		if (SU_SSTRLEN(sc, x) != SU_SSTRLEN(sc, y) || memcmp(SU_SSTR(sc, x), SU_SSTR(sc, y), SU_SSTRLEN(sc, x)))
			return 0;
	}
	return 1;
}

static int is_ident_char(char c, int first)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9');
}

/* A dotted path of identifiers. */
static int path_ok(const char *p, size_t n)
{
	int first = 1;
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.') {
			if (first)
				return 0;
			first = 1;
			continue;
		}
		if (!is_ident_char(p[i], first))
			return 0;
		first = 0;
	}
	return !first;
}

/* What each role needs of its field. */
static int role_type_ok(unsigned role, unsigned type)
{
	switch (role) {
	case SU_ROLE_NONE: return 1;
	case SU_ROLE_CHANNEL: return type == SU_T_ENUM;
	default: return type == SU_T_STRING;
	}
}

static int field_ok(const su_schema *sc, uint32_t slot, char *err, size_t errlen)
{
	const su_field *f = &sc->fields[slot];
	if (f->path >= sc->nstrs || !path_ok(SU_SSTR(sc, f->path), SU_SSTRLEN(sc, f->path)))
		return fail(err, errlen, "schema field %u: bad path", slot);
	const char *p = SU_SSTR(sc, f->path);
	if (f->desc != SU_SNONE && f->desc >= sc->nstrs)
		return fail(err, errlen, "schema field %s: bad description", p);
	if (f->type != SU_T_BOOL && f->type != SU_T_INT && f->type != SU_T_STRING && f->type != SU_T_ENUM &&
	    f->type != SU_T_REASONS)
		return fail(err, errlen, "schema field %s: bad type", p);
	if (f->format >= SU_FMT_COUNT || (f->format && f->type != SU_T_STRING))
		return fail(err, errlen, "schema field %s: bad format", p);
	if (f->role >= SU_ROLE_COUNT || !role_type_ok(f->role, f->type))
		return fail(err, errlen, "schema field %s: bad role", p);
	if (f->derive > SU_DERIVE_BIN || (f->flags & ~0x1ffu))
		return fail(err, errlen, "schema field %s: bad flags", p);
	if (!range_ok(sc, f->values) || !range_ok(sc, f->bits))
		return fail(err, errlen, "schema field %s: bad value list", p);
	if (f->min > f->max)
		return fail(err, errlen, "schema field %s: empty range", p);
	if (f->flags & (SU_FF_DERIVED | SU_FF_DEFAULT_DERIVED)) {
		if (!f->derive || f->source >= sc->nfields || f->source == slot || f->type != SU_T_STRING ||
		    sc->fields[f->source].type != SU_T_STRING ||
		    (sc->fields[f->source].flags & (SU_FF_DERIVED | SU_FF_DEFAULT_DERIVED)))
			return fail(err, errlen, "schema field %s: bad derivation", p);
	} else if (f->derive) {
		return fail(err, errlen, "schema field %s: bad derivation", p);
	}
	switch (f->type) {
	case SU_T_ENUM:
		if (f->values.count == 0 || f->values.count > SU_MAX_ENUM_VALUES || f->ekind > slot ||
		    sc->fields[f->ekind].type != SU_T_ENUM || !same_values(sc, f, &sc->fields[f->ekind]))
			return fail(err, errlen, "schema field %s: bad enum", p);
		if (f->merchant >> su_schema_value_count(sc, slot))
			return fail(err, errlen, "schema field %s: bad merchant values", p);
		if ((f->flags & SU_FF_DEFAULT) && (f->dflt < 0 || (uint64_t)f->dflt >= f->values.count))
			return fail(err, errlen, "schema field %s: bad default", p);
		break;
	case SU_T_REASONS:
		if (f->bits.count > SU_MAX_CODE_BITS)
			return fail(err, errlen, "schema field %s: too many codes", p);
		break;
	case SU_T_INT:
		if ((f->flags & SU_FF_DEFAULT) && (f->dflt < f->min || f->dflt > f->max))
			return fail(err, errlen, "schema field %s: bad default", p);
		break;
	case SU_T_BOOL:
		if ((f->flags & SU_FF_DEFAULT) && (f->dflt < 0 || f->dflt > 1))
			return fail(err, errlen, "schema field %s: bad default", p);
		break;
	case SU_T_STRING:
		if ((f->flags & SU_FF_DEFAULT) && (f->dflt < 0 || (uint64_t)f->dflt >= sc->nstrs))
			return fail(err, errlen, "schema field %s: bad default", p);
		if (f->min < 0 || f->max > (1 << 20))
			return fail(err, errlen, "schema field %s: bad length", p);
		break;
	default:
		break;
	}
	if (f->type != SU_T_ENUM && (f->merchant || (f->flags & SU_FF_OPEN)))
		return fail(err, errlen, "schema field %s: bad flags", p);
	return 0;
}

int su_schema_index(su_schema *sc, uint32_t slot)
{
	if ((slot + 1) * 2 > sc->phcap) {
		uint32_t cap = sc->phcap ? sc->phcap * 2 : 64;
		uint32_t *h = malloc(cap * sizeof(uint32_t));
		if (!h)
			return -1;
		memset(h, 0xff, cap * sizeof(uint32_t));
		free(sc->phash);
		sc->phash = h;
		sc->phcap = cap;
		for (uint32_t i = 0; i < slot; i++)
			if (su_schema_index(sc, i) < 0)
				return -1;
	}
	const char *p = SU_FPATH(sc, slot);
	uint32_t n = SU_SSTRLEN(sc, sc->fields[slot].path);
	uint32_t h = su_hash(p, n) & (sc->phcap - 1);
	while (sc->phash[h] != UINT32_MAX)
		h = (h + 1) & (sc->phcap - 1);
	sc->phash[h] = slot;
	return 0;
}

static int path_hash_build(su_schema *sc, char *err, size_t errlen)
{
	uint32_t cap = 16;
	while (cap < sc->nfields * 2u)
		cap *= 2;
	free(sc->phash);
	sc->phash = malloc(cap * sizeof(uint32_t));
	if (!sc->phash)
		return fail(err, errlen, "out of memory");
	memset(sc->phash, 0xff, cap * sizeof(uint32_t));
	sc->phcap = cap;
	for (uint32_t i = 0; i < sc->nfields; i++) {
		const char *p = SU_FPATH(sc, i);
		uint32_t n = SU_SSTRLEN(sc, sc->fields[i].path);
		uint32_t h = su_hash(p, n) & (cap - 1);
		for (; sc->phash[h] != UINT32_MAX; h = (h + 1) & (cap - 1)) {
			uint32_t o = sc->phash[h];
			if (SU_SSTRLEN(sc, sc->fields[o].path) == n && memcmp(SU_FPATH(sc, o), p, n) == 0)
				return fail(err, errlen, "schema field %s is declared twice", p);
		}
		sc->phash[h] = i;
	}
	return 0;
}

int su_schema_prepare(su_schema *sc, char *err, size_t errlen)
{
	if (sc->oom)
		return fail(err, errlen, "out of memory");
	if (sc->nfields > SU_MAX_FIELDS)
		return fail(err, errlen, "schema has %u fields (at most %u)", sc->nfields, SU_MAX_FIELDS);
	for (uint32_t i = 0; i < sc->nstrs; i++)
		if ((uint64_t)sc->strs[i].off + sc->strs[i].len >= sc->strtab_len ||
		    sc->strtab[sc->strs[i].off + sc->strs[i].len] != '\0')
			return fail(err, errlen, "schema string %u out of bounds", i);
	for (int r = 0; r < SU_ROLE_COUNT; r++)
		sc->role_slot[r] = -1;
	for (uint32_t i = 0; i < sc->nfields; i++) {
		if (field_ok(sc, i, err, errlen) < 0)
			return -1;
		unsigned role = sc->fields[i].role;
		if (role) {
			if (sc->role_slot[role] >= 0)
				return fail(err, errlen, "schema role %s is on %s and %s", role_names[role],
				            SU_FPATH(sc, (uint32_t)sc->role_slot[role]), SU_FPATH(sc, i));
			sc->role_slot[role] = (int32_t)i;
		}
	}
	if (path_hash_build(sc, err, errlen) < 0)
		return -1;
	su_decoder_free(sc->dec);
	sc->dec = NULL;
	if (su_decoder_build(sc, &sc->dec, err, errlen) < 0)
		return -1;
	su_wbuf w = {0};
	su_schema_write(&w, sc);
	unsigned len = 0;
	int ok = !w.oom && EVP_Digest(w.p, w.len, sc->fingerprint, &len, EVP_sha256(), NULL) == 1;
	free(w.p);
	return ok ? 0 : fail(err, errlen, "out of memory");
}

/* ---- lookups ---------------------------------------------------------------- */

int su_schema_lookup(const su_schema *sc, const char *path, size_t len)
{
	if (!sc->phcap)
		return -1;
	for (uint32_t h = su_hash(path, len) & (sc->phcap - 1); sc->phash[h] != UINT32_MAX;
	     h = (h + 1) & (sc->phcap - 1)) {
		uint32_t o = sc->phash[h];
		if (SU_SSTRLEN(sc, sc->fields[o].path) == len && memcmp(SU_FPATH(sc, o), path, len) == 0)
			return (int)o;
	}
	return -1;
}

static int find_in(const su_schema *sc, su_srange r, const char *name, size_t len)
{
	for (uint32_t i = 0; i < r.count; i++) {
		uint32_t s = sc->items[r.start + i];
		if (SU_SSTRLEN(sc, s) == len && memcmp(SU_SSTR(sc, s), name, len) == 0)
			return (int)i;
	}
	return -1;
}

int su_schema_value(const su_schema *sc, unsigned slot, const char *name, size_t len)
{
	return slot < sc->nfields ? find_in(sc, sc->fields[slot].values, name, len) : -1;
}

int su_schema_code_bit(const su_schema *sc, unsigned slot, const char *name, size_t len)
{
	return slot < sc->nfields ? find_in(sc, sc->fields[slot].bits, name, len) : -1;
}

int su_schema_declared_code(const su_schema *sc, unsigned slot, const char *name, size_t len)
{
	return su_schema_value(sc, slot, name, len);
}

unsigned su_schema_value_count(const su_schema *sc, unsigned slot)
{
	const su_field *f = &sc->fields[slot];
	return f->values.count + !!(f->flags & SU_FF_OPEN);
}

const char *su_schema_value_name(const su_schema *sc, unsigned slot, unsigned id)
{
	const su_field *f = &sc->fields[slot];
	if (id < f->values.count)
		return SU_SSTR(sc, sc->items[f->values.start + id]);
	return "(other)";
}

/* The last name of the path, with the one before it when the last is a
 * single word: card.state -> "card state", card.capture_method ->
 * "capture method", device.os -> "device os"; CSC stays in capitals. */
void su_schema_what(const su_schema *sc, unsigned slot, char *buf, size_t size)
{
	const char *p = SU_FPATH(sc, slot), *last = strrchr(p, '.');
	const char *from = last ? last + 1 : p;
	if (last && !strchr(from, '_')) {
		const char *prev = last;
		while (prev > p && prev[-1] != '.')
			prev--;
		from = prev;
	}
	size_t i = 0;
	for (; from[i] && i + 1 < size; i++)
		buf[i] = from[i] == '.' || from[i] == '_' ? ' ' : from[i];
	if (size)
		buf[i < size ? i : size - 1] = '\0';
	if (strncmp(buf, "csc ", 4) == 0)
		memcpy(buf, "CSC", 3);
}

unsigned su_edit_distance(const char *a, const char *b, unsigned cap)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[64];

	if (lb >= 64 || la >= 64)
		return cap + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0], best;
		row[0] = (unsigned)i;
		best = row[0];
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned v = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			if (up + 1 < v)
				v = up + 1;
			row[j] = v;
			diag = up;
			if (v < best)
				best = v;
		}
		if (best > cap)
			return cap + 1;
	}
	return row[lb];
}

const char *su_schema_suggest(const su_schema *sc, const char *path)
{
	const char *best = NULL;
	unsigned best_d = 4;
	for (uint32_t i = 0; i < sc->nfields; i++) {
		unsigned d = su_edit_distance(path, SU_FPATH(sc, i), 3);
		if (d < best_d) {
			best_d = d;
			best = SU_FPATH(sc, i);
		}
	}
	return best;
}

const char *su_schema_suggest_value(const su_schema *sc, unsigned slot, const char *name)
{
	const su_field *f = &sc->fields[slot];
	const char *best = NULL;
	unsigned best_d = 4;
	for (uint32_t i = 0; i < f->values.count; i++) {
		const char *v = SU_SSTR(sc, sc->items[f->values.start + i]);
		unsigned d = su_edit_distance(name, v, 3);
		if (d < best_d) {
			best_d = d;
			best = v;
		}
	}
	return best;
}

/* The public "did you mean" of tools (stepup test): the same distance the
 * compiler's suggestions use. */
const char *stepup_suggest(const char *word, const char *const *names, size_t n)
{
	const char *best = NULL;
	unsigned cap, bestd;

	if (!word || !names)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (names[i] && strcasecmp(word, names[i]) == 0)
			return names[i];  /* "green" for GREEN */
	cap = strlen(word) <= 4 ? 1 : strlen(word) <= 8 ? 2 : 3;
	bestd = cap + 1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = names[i] ? su_edit_distance(word, names[i], cap) : cap + 1;
		if (d < bestd) {
			bestd = d;
			best = names[i];
		}
	}
	return best;
}
