/* facts.c: what a ruleset reads, and the facts of a request a host keeps
 * so that past traffic can be decided again by another ruleset
 * (stepup.h, "Change control"; docs/change-control.md).
 *
 * What a ruleset reads comes from its code, the reference form every
 * condition has (the prepared CNF only names instructions of it): fused
 * tests name their field; the general loop's values are followed on an
 * abstract stack from the field that pushed them to the instruction that
 * consumes them, which says how the field is used (ends_with() of a field
 * by another field or a constant is a suffix; == between two fields is an
 * equality; anything else needs the value). The combining reads the
 * channel's value and whether the contacts are present. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stepup/stepup.h>

#include "jsonw.h"
#include "program.h"
#include "request.h"
#include "util.h"

typedef void (*use_fn)(void *ctx, uint32_t slot, unsigned how, long other, size_t length);

typedef struct aval {
	int32_t slot;   /* the field whose value this is, or -1 */
	int32_t slen;   /* a constant string's length, or -1 */
} aval;

static void pop_uses(aval *v, unsigned n, unsigned how, use_fn fn, void *ctx)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i].slot >= 0)
			fn(ctx, (uint32_t)v[i].slot, how, -1, 0);
}

/* Every read of every field by rs, once per instruction (duplicates are
 * the caller's to fold). */
static void scan(const stepup_ruleset *rs, use_fn fn, void *ctx)
{
	const su_schema *sc = rs->schema;
	aval st[SU_MAX_STACK];
	unsigned sp = 0;

	if (sc->role_slot[SU_ROLE_CHANNEL] >= 0)
		fn(ctx, (uint32_t)sc->role_slot[SU_ROLE_CHANNEL], STEPUP_READS_VALUE, -1, 0);
	if (sc->role_slot[SU_ROLE_CONTACT_SMS] >= 0)
		fn(ctx, (uint32_t)sc->role_slot[SU_ROLE_CONTACT_SMS], STEPUP_READS_PRESENCE, -1, 0);
	if (sc->role_slot[SU_ROLE_CONTACT_EMAIL] >= 0)
		fn(ctx, (uint32_t)sc->role_slot[SU_ROLE_CONTACT_EMAIL], STEPUP_READS_PRESENCE, -1, 0);
	for (uint32_t pc = 0; pc < rs->ncode; pc++) {
		const su_insn *in = &rs->code[pc];
		unsigned n;
		switch ((enum su_op)in->op) {
		case SU_OP_END:
			sp = 0;
			break;
		case SU_OP_PRESENT:
			fn(ctx, in->a, STEPUP_READS_PRESENCE, -1, 0);
			break;
		case SU_OP_BOOL:
		case SU_OP_ENUM_IN:
		case SU_OP_INT_CMP:
		case SU_OP_STR_CMP:
		case SU_OP_STR_IN:
		case SU_OP_REASONS_ANY:
		case SU_OP_REASONS_ALL:
			fn(ctx, in->a, STEPUP_READS_VALUE, -1, 0);
			break;
		case SU_OP_STR_SUFFIX:
			fn(ctx, in->a, STEPUP_READS_SUFFIX, (long)in->c, 0);
			fn(ctx, in->c, STEPUP_READS_VALUE, -1, 0);
			break;
		case SU_OP_STR_ENDS:  /* ends_with(field, "constant"), fused */
			fn(ctx, in->a, STEPUP_READS_SUFFIX, -1, (size_t)SU_STRLEN(rs, in->c));
			break;
		case SU_OP_STR_PREFIX:
		case SU_OP_STR_CONTAINS:
		case SU_OP_STR_LEN:
			fn(ctx, in->a, STEPUP_READS_VALUE, -1, 0);
			break;
		case SU_OP_V_FIELD:
		case SU_OP_V_STR:
		case SU_OP_V_INT:
		case SU_OP_V_FLOAT:
		case SU_OP_V_ENUM:
		case SU_OP_V_BOOL:
			if (sp < SU_MAX_STACK) {
				st[sp].slot = in->op == SU_OP_V_FIELD ? (int32_t)in->a : -1;
				st[sp].slen = in->op == SU_OP_V_STR ? (int32_t)SU_STRLEN(rs, in->c) : -1;
				sp++;
			}
			break;
		case SU_OP_V_CALL:
		case SU_OP_V_PCALL:
			n = in->a <= sp ? in->a : sp;
			sp -= n;
			if (in->op == SU_OP_V_CALL && in->c == SU_FN_ENDS_WITH && n == 2 && st[sp].slot >= 0 &&
			    (st[sp + 1].slot >= 0 || st[sp + 1].slen >= 0)) {
				fn(ctx, (uint32_t)st[sp].slot, STEPUP_READS_SUFFIX, st[sp + 1].slot,
				   st[sp + 1].slot >= 0 ? 0 : (size_t)st[sp + 1].slen);
				pop_uses(st + sp + 1, 1, STEPUP_READS_VALUE, fn, ctx);
			} else {
				pop_uses(st + sp, n, STEPUP_READS_VALUE, fn, ctx);
			}
			if (sp < SU_MAX_STACK)
				st[sp++] = (aval){ -1, -1 };
			break;
		case SU_OP_V_CMP:
			n = sp >= 2 ? 2 : sp;
			sp -= n;
			if (n == 2 && st[sp].slot >= 0 && st[sp + 1].slot >= 0 && in->a == SU_T_STRING &&
			    in->cmp <= 1 /* EQ, NE */) {
				fn(ctx, (uint32_t)st[sp].slot, STEPUP_READS_EQUALITY, st[sp + 1].slot, 0);
				fn(ctx, (uint32_t)st[sp + 1].slot, STEPUP_READS_EQUALITY, st[sp].slot, 0);
			} else {
				pop_uses(st + sp, n, STEPUP_READS_VALUE, fn, ctx);
			}
			break;
		case SU_OP_V_IN:
		case SU_OP_V_HAS:
		case SU_OP_V_TRUTH:
		case SU_OP_V_PRESENT:
			if (sp) {
				sp--;
				pop_uses(st + sp, 1, in->op == SU_OP_V_PRESENT ? STEPUP_READS_PRESENCE : STEPUP_READS_VALUE,
				         fn, ctx);
			}
			break;
		default:
			break;
		}
	}
}

/* ---- what a field is read for ------------------------------------------- */

typedef struct uses {
	uint32_t slot;
	stepup_field_use *v;
	size_t n, cap;
	int oom;
} uses;

static void collect(void *vctx, uint32_t slot, unsigned how, long other, size_t length)
{
	uses *u = vctx;
	if (slot != u->slot || u->oom)
		return;
	for (size_t i = 0; i < u->n; i++)
		if (u->v[i].how == how && u->v[i].other == other && u->v[i].length == length)
			return;
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 8;
		stepup_field_use *v = realloc(u->v, cap * sizeof(*v));
		if (!v) {
			u->oom = 1;
			return;
		}
		u->v = v;
		u->cap = cap;
	}
	u->v[u->n++] = (stepup_field_use){ how, other, length };
}

size_t stepup_ruleset_field_uses(const stepup_ruleset *rs, size_t i, stepup_field_use *out, size_t max)
{
	if (!rs || i >= rs->schema->nfields)
		return 0;
	uses u = { .slot = (uint32_t)i };
	scan(rs, collect, &u);
	for (size_t k = 0; k < u.n && k < max && out; k++)
		out[k] = u.v[k];
	free(u.v);
	return u.n;
}

unsigned stepup_ruleset_field_reads(const stepup_ruleset *rs, size_t i)
{
	stepup_field_use v[16];
	size_t n = stepup_ruleset_field_uses(rs, i, v, 16);
	unsigned how = 0;
	for (size_t k = 0; k < n && k < 16; k++)
		how |= v[k].how;
	if (n > 16) {  /* rare: ask again with room for all */
		stepup_field_use *all = malloc(n * sizeof(*all));
		if (!all)
			return how | STEPUP_READS_VALUE;  /* when unsure, say "the value" */
		n = stepup_ruleset_field_uses(rs, i, all, n);
		for (size_t k = 0; k < n; k++)
			how |= all[k].how;
		free(all);
	}
	return how;
}

const char *stepup_ruleset_field_code(const stepup_ruleset *rs, size_t i, size_t k)
{
	if (!rs || i >= rs->schema->nfields)
		return NULL;
	const su_schema *sc = rs->schema;
	const su_field *f = &sc->fields[i];
	if (f->type != SU_T_REASONS || k >= f->bits.count)
		return NULL;
	return SU_SSTR(sc, sc->items[f->bits.start + k]);
}

/* ---- the facts writer ------------------------------------------------------ */

enum { FK_NONE = 0, FK_VALUE, FK_CONTACT };
enum { FC_SUFFIX = 1, FC_HASH = 2, FC_EQUALITY = 4 };

typedef struct sfx {
	uint32_t slot;
	long other;      /* field tested as the suffix, or -1 */
	size_t length;   /* constant suffix's length */
} sfx;

struct stepup_facts {
	stepup_ruleset *rs;        /* a reference */
	unsigned mode;
	uint8_t *keep;             /* per slot: FK_* */
	uint8_t *contact;          /* per slot: FC_* */
	uint32_t *order;           /* kept slots (values and contacts) by path */
	uint32_t norder;
	sfx *sfx;
	size_t nsfx, capsfx;
	unsigned char key[64];
	size_t keylen;
	int oom;
	char *plan;
	size_t planlen, plancap;
};

static int is_secret(const su_field *f)
{
	/* A card number or a CSC is a secret whatever the schema says. */
	return (f->flags & SU_FF_SECRET) || f->format == SU_FMT_CARD_NUMBER || f->format == SU_FMT_CSC;
}

static int from_secret(const su_schema *sc, uint32_t s)
{
	const su_field *f = &sc->fields[s];
	return (f->flags & (SU_FF_DERIVED | SU_FF_DEFAULT_DERIVED)) && f->source < sc->nfields &&
	       is_secret(&sc->fields[f->source]);
}

static int is_contact(const su_field *f)
{
	return f->role == SU_ROLE_CONTACT_SMS || f->role == SU_ROLE_CONTACT_EMAIL ||
	       f->format == SU_FMT_PHONE || f->format == SU_FMT_EMAIL;
}

static int is_email(const su_field *f)
{
	return f->role == SU_ROLE_CONTACT_EMAIL || f->format == SU_FMT_EMAIL;
}

static void plan_use(void *vctx, uint32_t slot, unsigned how, long other, size_t length)
{
	stepup_facts *f = vctx;
	const su_field *fd = &f->rs->schema->fields[slot];
	if (is_secret(fd) || fd->role == SU_ROLE_REQUEST_ID)
		return;
	if (!is_contact(fd)) {
		f->keep[slot] = FK_VALUE;
		return;
	}
	f->keep[slot] = FK_CONTACT;
	if (how == STEPUP_READS_EQUALITY)
		f->contact[slot] |= FC_EQUALITY | (f->keylen ? FC_HASH : 0);
	if (how != STEPUP_READS_SUFFIX)
		return;
	f->contact[slot] |= FC_SUFFIX;
	for (size_t i = 0; i < f->nsfx; i++)
		if (f->sfx[i].slot == slot && f->sfx[i].other == other && f->sfx[i].length == length)
			return;
	if (f->nsfx == f->capsfx) {
		size_t cap = f->capsfx ? f->capsfx * 2 : 4;
		sfx *v = realloc(f->sfx, cap * sizeof(*v));
		if (!v) {
			f->oom = 1;
			return;
		}
		f->sfx = v;
		f->capsfx = cap;
	}
	f->sfx[f->nsfx++] = (sfx){ slot, other, length };
}

static int by_path(const void *a, const void *b, void *sc)
{
	return strcmp(SU_FPATH((const su_schema *)sc, *(const uint32_t *)a),
	              SU_FPATH((const su_schema *)sc, *(const uint32_t *)b));
}

/* The plan as JSON (stepup_facts_plan). */
static int write_plan(stepup_facts *f)
{
	const su_schema *sc = f->rs->schema;
	su_jw w = { &f->plan, &f->planlen, &f->plancap, 0 };
	int first;

	SU_JW_LIT(&w, "{\"mode\":");
	su_jw_lit(&w, f->mode == STEPUP_FACTS_DECLARED ? "\"declared\"" : "\"read\"");
	SU_JW_LIT(&w, ",\"schema\":");
	su_jw_cstr(&w, stepup_ruleset_schema_fingerprint(f->rs));
	SU_JW_LIT(&w, ",\"kept\":[");
	first = 1;
	for (uint32_t k = 0; k < f->norder; k++) {
		uint32_t s = f->order[k];
		if (f->keep[s] != FK_VALUE)
			continue;
		if (!first)
			SU_JW_LIT(&w, ",");
		first = 0;
		su_jw_cstr(&w, SU_FPATH(sc, s));
	}
	SU_JW_LIT(&w, "],\"contacts\":{");
	first = 1;
	for (uint32_t k = 0; k < f->norder; k++) {
		uint32_t s = f->order[k];
		if (f->keep[s] != FK_CONTACT)
			continue;
		if (!first)
			SU_JW_LIT(&w, ",");
		first = 0;
		su_jw_cstr(&w, SU_FPATH(sc, s));
		SU_JW_LIT(&w, ":[\"presence\"");
		if (f->contact[s] & FC_SUFFIX)
			SU_JW_LIT(&w, ",\"suffix\"");
		if (f->contact[s] & FC_HASH)
			SU_JW_LIT(&w, ",\"hash\"");
		SU_JW_LIT(&w, "]");
	}
	SU_JW_LIT(&w, "},\"omitted\":[");
	first = 1;
	for (uint32_t s = 0; s < sc->nfields; s++) {
		if (!is_secret(&sc->fields[s]))
			continue;
		if (!first)
			SU_JW_LIT(&w, ",");
		first = 0;
		su_jw_cstr(&w, SU_FPATH(sc, s));
	}
	SU_JW_LIT(&w, "],\"codes\":{");
	first = 1;
	for (uint32_t k = 0; k < f->norder; k++) {
		uint32_t s = f->order[k];
		const su_field *fd = &sc->fields[s];
		if (f->keep[s] != FK_VALUE || fd->type != SU_T_REASONS)
			continue;
		if (!first)
			SU_JW_LIT(&w, ",");
		first = 0;
		su_jw_cstr(&w, SU_FPATH(sc, s));
		SU_JW_LIT(&w, ":[");
		for (uint32_t b = 0; b < fd->bits.count; b++) {
			if (b)
				SU_JW_LIT(&w, ",");
			su_jw_cstr(&w, SU_SSTR(sc, sc->items[fd->bits.start + b]));
		}
		SU_JW_LIT(&w, "]");
	}
	SU_JW_LIT(&w, "}}");
	return w.oom ? -1 : 0;
}

int stepup_facts_new(const stepup_ruleset *rs, unsigned mode, const void *key, size_t keylen,
                     stepup_facts **out, char *err, size_t errlen)
{
	if (!rs || !out || mode > STEPUP_FACTS_DECLARED || (keylen && !key)) {
		su_set_err(err, errlen, "stepup_facts_new: bad arguments");
		return STEPUP_EINVAL;
	}
	*out = NULL;
	if (keylen > sizeof(((stepup_facts *)0)->key)) {
		su_set_err(err, errlen, "the hash key is longer than 64 bytes");
		return STEPUP_EINVAL;
	}
	const su_schema *sc = rs->schema;
	stepup_facts *f = calloc(1, sizeof(*f));
	if (!f)
		return STEPUP_ENOMEM;
	f->rs = stepup_ruleset_ref((stepup_ruleset *)rs);
	f->mode = mode;
	if (keylen)
		memcpy(f->key, key, keylen);
	f->keylen = keylen;
	f->keep = calloc(sc->nfields + 1, 1);
	f->contact = calloc(sc->nfields + 1, 1);
	f->order = calloc(sc->nfields + 1, sizeof(uint32_t));
	if (!f->keep || !f->contact || !f->order)
		goto oom;
	scan(rs, plan_use, f);
	/* A field derived from a secret (card.bin, card.pan_suffix) is kept
	 * only when rs reads it: together, a BIN and the last digits are most
	 * of a card number. */
	if (mode == STEPUP_FACTS_DECLARED)
		for (uint32_t s = 0; s < sc->nfields; s++)
			if (!f->keep[s] && !is_secret(&sc->fields[s]) && sc->fields[s].role != SU_ROLE_REQUEST_ID &&
			    !from_secret(sc, s))
				f->keep[s] = is_contact(&sc->fields[s]) ? FK_CONTACT : FK_VALUE;
	for (uint32_t s = 0; s < sc->nfields; s++)
		if (f->keep[s])
			f->order[f->norder++] = s;
	/* Paths in order: the fields of one object are then together, and
	 * the writer opens and closes each object once. */
	qsort_r(f->order, f->norder, sizeof(uint32_t), by_path, (void *)sc);
	if (f->oom || write_plan(f) < 0)
		goto oom;
	*out = f;
	return STEPUP_OK;
oom:
	stepup_facts_free(f);
	su_set_err(err, errlen, "out of memory");
	return STEPUP_ENOMEM;
}

void stepup_facts_free(stepup_facts *f)
{
	if (!f)
		return;
	explicit_bzero(f->key, sizeof(f->key));
	stepup_ruleset_unref(f->rs);
	free(f->keep);
	free(f->contact);
	free(f->order);
	free(f->sfx);
	free(f->plan);
	free(f);
}

const char *stepup_facts_plan(const stepup_facts *f)
{
	return f ? f->plan : NULL;
}

/* snprintf-style output: writes what fits, counts everything. */
typedef struct out {
	char *buf;
	size_t size, n;
} out;

static void put(out *o, const char *s, size_t len)
{
	if (o->n < o->size) {
		size_t room = o->size - o->n;
		memcpy(o->buf + o->n, s, len < room ? len : room);
	}
	o->n += len;
}

static void emit(void *o, const char *s, size_t len)
{
	put(o, s, len);
}

#define PUT_LIT(o, lit) put((o), "" lit, sizeof(lit) - 1)

static void put_str(out *o, const char *s, size_t n)
{
	su_json_escape(s, n, emit, o);
}

static void put_num(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_num(out *o, const char *fmt, ...)
{
	char num[40];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(num, sizeof(num), fmt, ap);
	va_end(ap);
	put(o, num, n > 0 ? (size_t)n : 0);
}

static void put_value(out *o, const stepup_request *r, const su_schema *sc, uint32_t s)
{
	const su_field *fd = &sc->fields[s];
	switch (fd->type) {
	case SU_T_BOOL:
		if (r->f[s].b)
			PUT_LIT(o, "true");
		else
			PUT_LIT(o, "false");
		break;
	case SU_T_INT:
		put_num(o, "%lld", (long long)r->f[s].i);
		break;
	case SU_T_FLOAT:
		put_num(o, "%.17g", r->f[s].d);
		break;
	case SU_T_ENUM: {
		const char *v = su_schema_value_name(sc, s, r->f[s].e);
		put_str(o, v, strlen(v));
		break;
	}
	case SU_T_REASONS: {
		PUT_LIT(o, "[");
		int first = 1;
		for (uint32_t b = 0; b < fd->bits.count; b++) {
			if (!(r->f[s].mask >> b & 1))
				continue;
			if (!first)
				PUT_LIT(o, ",");
			first = 0;
			uint32_t k = sc->items[fd->bits.start + b];
			put_str(o, SU_SSTR(sc, k), SU_SSTRLEN(sc, k));
		}
		PUT_LIT(o, "]");
		break;
	}
	default: {
		su_str v = su_rstr(r, s);
		put_str(o, v.s, v.len);
	}
	}
}

/* The number of leading path components a and b have in common as
 * parents (their last component, the leaf, never counts). */
static size_t common_parents(const char *a, const char *b)
{
	size_t n = 0;
	for (;;) {
		const char *da = strchr(a, '.'), *db = strchr(b, '.');
		if (!da || !db || da - a != db - b || memcmp(a, b, (size_t)(da - a)) != 0)
			return n;
		n++;
		a = da + 1;
		b = db + 1;
	}
}

static size_t depth_of(const char *p)
{
	size_t n = 0;
	while ((p = strchr(p, '.'))) {
		n++;
		p++;
	}
	return n;
}

/* The longest suffix an ends_with() of the ruleset compares for contact
 * slot s in r: the length of the present field tested as its suffix, or
 * of a constant. */
static size_t suffix_needed(const stepup_facts *f, const stepup_request *r, uint32_t s)
{
	size_t k = 0;
	for (size_t i = 0; i < f->nsfx; i++) {
		const sfx *x = &f->sfx[i];
		size_t len = x->length;
		if (x->slot != s)
			continue;
		if (x->other >= 0) {
			uint32_t o = (uint32_t)x->other;
			if (!SU_PRESENT(r, o) || f->rs->schema->fields[o].type != SU_T_STRING)
				continue;
			len = su_rstr(r, o).len;
		}
		if (len > k)
			k = len;
	}
	return k;
}

/* What the masked form of a contact shows at most of its end: the last
 * four digits of a phone (never all of them), an e-mail's domain with its
 * '@'. */
static size_t suffix_cap(const su_field *fd, su_str v)
{
	if (!is_email(fd)) {
		size_t digits = v.len - (v.len && v.s[0] == '+');
		return digits > 4 ? 4 : digits ? digits - 1 : 0;
	}
	const char *at = memrchr(v.s, '@', v.len);
	return at ? (size_t)(v.s + v.len - at) : 0;
}

static void put_reduced(const stepup_facts *f, out *o, const stepup_request *r, uint32_t s)
{
	const su_field *fd = &f->rs->schema->fields[s];
	su_str v = su_rstr(r, s);
	int first = 1;

	put_str(o, SU_FPATH(f->rs->schema, s), strlen(SU_FPATH(f->rs->schema, s)));
	PUT_LIT(o, ":{");
	if (f->contact[s] & FC_SUFFIX) {
		size_t k = suffix_needed(f, r, s);
		if (k && k <= suffix_cap(fd, v) && k < v.len) {
			PUT_LIT(o, "\"suffix\":");
			put_str(o, v.s + v.len - k, k);
			first = 0;
		} else if (k) {
			/* More than the masked form shows, or all of it: not kept. */
			PUT_LIT(o, "\"suffix_withheld\":");
			put_num(o, "%zu", k);
			first = 0;
		}
	}
	if (f->contact[s] & FC_HASH) {
		static const char hex[] = "0123456789abcdef";
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;
		char h[33];
		if (HMAC(EVP_sha256(), f->key, (int)f->keylen, (const unsigned char *)v.s, v.len, md, &mdlen)) {
			for (int i = 0; i < 16; i++) {
				h[2 * i] = hex[md[i] >> 4];
				h[2 * i + 1] = hex[md[i] & 15];
			}
			if (!first)
				PUT_LIT(o, ",");
			PUT_LIT(o, "\"hash\":");
			put_str(o, h, 32);
		}
	}
	PUT_LIT(o, "}");
}

size_t stepup_facts_write(const stepup_facts *f, const stepup_request *r, char *buf, size_t size)
{
	out o = { buf, size, 0 };
	if (!f || !r || !r->ok || r->rs != f->rs)
		return 0;
	const su_schema *sc = f->rs->schema;
	const char *prev = NULL;
	size_t open = 0;  /* objects open inside "facts": the parents of prev */

	PUT_LIT(&o, "\"facts\":{");
	for (uint32_t k = 0; k < f->norder; k++) {
		uint32_t s = f->order[k];
		if (f->keep[s] != FK_VALUE || !SU_PRESENT(r, s))
			continue;
		const char *path = SU_FPATH(sc, s), *c = path;
		size_t keep = prev ? common_parents(prev, path) : 0, depth = depth_of(path);
		for (; open > keep; open--)
			PUT_LIT(&o, "}");
		/* Something precedes at this level unless this is the first. */
		if (prev)
			PUT_LIT(&o, ",");
		for (size_t d = 0; d < open; d++)
			c = strchr(c, '.') + 1;
		for (; open < depth; open++) {
			const char *dot = strchr(c, '.');
			put_str(&o, c, (size_t)(dot - c));
			PUT_LIT(&o, ":{");
			c = dot + 1;
		}
		put_str(&o, c, strlen(c));
		PUT_LIT(&o, ":");
		put_value(&o, r, sc, s);
		prev = path;
	}
	for (; open; open--)
		PUT_LIT(&o, "}");
	PUT_LIT(&o, "}");
	int first = 1;
	for (uint32_t k = 0; k < f->norder; k++) {
		uint32_t s = f->order[k];
		if (f->keep[s] != FK_CONTACT || !SU_PRESENT(r, s))
			continue;
		if (first)
			PUT_LIT(&o, ",\"reduced\":{");
		else
			PUT_LIT(&o, ",");
		first = 0;
		put_reduced(f, &o, r, s);
	}
	if (!first)
		PUT_LIT(&o, "}");
	if (size)
		buf[o.n < size ? o.n : size - 1] = '\0';
	return o.n;
}
