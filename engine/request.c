/* request.c: one-pass decoding of a request into schema slots.
 *
 * jsmn tokenizes the text into a flat token array without allocating; one
 * walk over the tokens then checks the JSON grammar jsmn leaves loose
 * (separators, literals, nesting depth), ignores unknown fields and decodes
 * known ones straight into their slots: no tree, no per-field allocation.
 * Secrets are validated without ever being quoted in an error, and a card
 * number in any string field but card.pan is refused (docs/pci.md). */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS  /* closing brackets find their parent in O(1) */
#include <jsmn.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cardnum.h"
#include "engine.h"
#include "request.h"
#include "util.h"

/* JSON values a request may hold (docs/contract.md); every jsmn token
 * counts, object keys included. */
#define TOKS_MIN 256u
#define TOKS_MAX SU_REQUEST_MAX_VALUES

enum { G_TOP, G_TR, G_CARD, G_EU, G_WALLET, G_COUNT };
static const char *const group_names[G_COUNT] = { "", "token_requestor", "card", "end_user", "wallet" };

typedef struct keyent {
	const char *key;
	uint32_t len;
	int group;
} keyent;

static keyent keys[SU_SLOT_COUNT];
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void keys_init(void)
{
	for (int s = 0; s < SU_SLOT_COUNT; s++) {
		const char *path = su_fields[s].path, *dot = strchr(path, '.');
		keys[s].group = G_TOP;
		if (dot)
			for (int g = 1; g < G_COUNT; g++)
				if (strlen(group_names[g]) == (size_t)(dot - path) &&
				    memcmp(group_names[g], path, (size_t)(dot - path)) == 0)
					keys[s].group = g;
		keys[s].key = dot ? dot + 1 : path;
		keys[s].len = (uint32_t)strlen(keys[s].key);
	}
}

typedef struct P {
	stepup_request *r;
	const stepup_engine *e;
	char *js;
	size_t len;
	jsmntok_t *t;
	int n;
	uint64_t seen;
	char *err;
	size_t errlen;
} P;

static int bad(P *p, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(P *p, const char *field, const char *fmt, ...)
{
	va_list ap;
	snprintf(p->r->err_field, sizeof(p->r->err_field), "%s", field);
	if (p->err && p->errlen) {
		size_t k = 0;
		if (field[0])
			k = (size_t)snprintf(p->err, p->errlen, "%s: ", field);
		if (k < p->errlen) {
			va_start(ap, fmt);
			vsnprintf(p->err + k, p->errlen - k, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

static int outer_start(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->start - 1 : t->start;
}

static int outer_end(const jsmntok_t *t)
{
	return t->type == JSMN_STRING ? t->end + 1 : t->end;
}

/* Bytes [from, to) must be whitespace around exactly one `sep` (or only
 * whitespace when sep is 0): what jsmn does not check. */
static int gap_ok(const P *p, int from, int to, char sep)
{
	int seen = 0;
	if (from < 0 || to > (int)p->len || from > to)
		return 0;
	for (int i = from; i < to; i++) {
		char c = p->js[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == sep && !seen) {
			seen = 1;
			continue;
		}
		return 0;
	}
	return sep ? seen : 1;
}

static int literal_ok(const char *s, int n)
{
	if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0) ||
	    (n == 4 && memcmp(s, "null", 4) == 0))
		return 1;
	/* JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	int i = 0;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return 0;
	if (s[i] == '0')
		i++;
	else if (s[i] >= '1' && s[i] <= '9')
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (i < n && s[i] == '.') {
		int d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		int d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return i == n;
}

/* True when s[0..n) is printable ASCII without a backslash: the bytes need
 * no decoding or validation. Eight bytes at a time (SWAR). */
static int plain_ascii(const char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w, bs;
		memcpy(&w, s + i, 8);
		bs = w ^ (ones * '\\');
		/* high bit set, byte < 0x20, or byte == '\\' */
		if ((w | ((w - ones * 0x20) & ~w) | ((bs - ones) & ~bs)) & highs)
			return 0;
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x80 || c == '\\')
			return 0;
	}
	return 1;
}

static void put_utf8(char **o, uint32_t cp)
{
	unsigned char *u = (unsigned char *)*o;
	if (cp < 0x80) {
		*u++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*u++ = (unsigned char)(0xc0 | cp >> 6);
		*u++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*u++ = (unsigned char)(0xe0 | cp >> 12);
		*u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*u++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		*u++ = (unsigned char)(0xf0 | cp >> 18);
		*u++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		*u++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*u++ = (unsigned char)(0x80 | (cp & 0x3f));
	}
	*o = (char *)u;
}

static int hex4(const char *s, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		*v <<= 4;
		if (c >= '0' && c <= '9') *v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f') *v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') *v |= (uint32_t)(c - 'A' + 10);
		else return -1;
	}
	return 0;
}

/* Unescape string token t in place; returns the string or NULL (bad escape,
 * control character, invalid UTF-8). */
static int unescape(P *p, const jsmntok_t *t, su_str *out)
{
	char *s = p->js + t->start, *end = p->js + t->end, *o = s;
	int escaped = 0;

	if (plain_ascii(s, (size_t)(end - s))) {  /* the common case */
		*end = '\0';
		out->s = s;
		out->len = (uint32_t)(end - s);
		return 0;
	}
	for (char *q = s; q < end; q++) {
		unsigned char c = (unsigned char)*q;
		if (c < 0x20)
			return -1;
		escaped |= c == '\\';
	}
	if (!escaped) {
		o = end;
	} else {
		for (char *q = s; q < end; q++) {
			if (*q != '\\') {
				*o++ = *q;
				continue;
			}
			if (++q >= end)
				return -1;
			switch (*q) {
			case '"': *o++ = '"'; break;
			case '\\': *o++ = '\\'; break;
			case '/': *o++ = '/'; break;
			case 'b': *o++ = '\b'; break;
			case 'f': *o++ = '\f'; break;
			case 'n': *o++ = '\n'; break;
			case 'r': *o++ = '\r'; break;
			case 't': *o++ = '\t'; break;
			case 'u': {
				uint32_t cp, lo;
				if (end - q < 5 || hex4(q + 1, &cp) < 0)
					return -1;
				q += 4;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (end - q < 7 || q[1] != '\\' || q[2] != 'u' || hex4(q + 3, &lo) < 0 ||
					    lo < 0xdc00 || lo > 0xdfff)
						return -1;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					q += 6;
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					return -1;
				}
				if (cp == 0)
					return -1;  /* NUL would truncate C strings downstream */
				put_utf8(&o, cp);
				break;
			}
			default:
				return -1;
			}
		}
	}
	*o = '\0';  /* the closing quote (or escape slack) is ours to overwrite */
	out->s = s;
	out->len = (uint32_t)(o - s);
	return su_utf8_valid(s, out->len) ? 0 : -1;
}

static int only_digits(const su_str *s, unsigned min, unsigned max)
{
	if (s->len < min || s->len > max)
		return 0;
	for (uint32_t i = 0; i < s->len; i++)
		if (s->s[i] < '0' || s->s[i] > '9')
			return 0;
	return 1;
}

/* Keep the digits (and a leading '+' when allowed) of s, in place. */
static void keep_digits(su_str *s, int plus)
{
	char *w = (char *)s->s;
	for (uint32_t i = 0; i < s->len; i++) {
		char c = s->s[i];
		if ((c >= '0' && c <= '9') || (plus && c == '+' && w == s->s))
			*w++ = c;
	}
	*w = '\0';
	s->len = (uint32_t)(w - s->s);
}

/* The one card-number policy (cardnum.c, docs/pci.md), on every string
 * field but card.pan, where a card number belongs. It runs first, on the
 * value as sent (unescaped, before keep_digits() could hide separators),
 * and for every field the schema gains later without a line of code here.
 * The value is never quoted back: the message names the field only. */
static int card_number_refused(P *p, int slot, const su_str *v)
{
	/* Phone fields: only card numbers no phone number can be (docs/pci.md). */
	unsigned min = su_fields[slot].flags & SU_F_PHONE ? 15 : 13;
	if (slot == SU_SLOT_CARD_PAN || !su_card_find_min(v->s, v->len, min, NULL, NULL))
		return 0;
	return bad(p, su_fields[slot].path, "holds a card number; refused without echoing it");
}

static int check_string(P *p, int slot, su_str *v)
{
	const char *f = su_fields[slot].path;

	if (card_number_refused(p, slot, v) < 0)
		return -1;
	switch (slot) {
	case SU_SLOT_REQUEST_ID:
		if (v->len == 0 || v->len > 128)
			return bad(p, f, "must be 1 to 128 characters");
		for (uint32_t i = 0; i < v->len; i++)
			if (v->s[i] < 0x21 || v->s[i] > 0x7e)
				return bad(p, f, "must be printable ASCII without spaces");
		return 0;
	case SU_SLOT_CARD_PAN:
		if (!only_digits(v, 12, 19))
			return bad(p, f, "not a card number (12 to 19 digits expected)");
		return 0;
	case SU_SLOT_CARD_PAN_SUFFIX:
		if (!only_digits(v, 1, 8))
			return bad(p, f, "must be 1 to 8 digits");
		return 0;
	case SU_SLOT_CARD_CSC:
		if (!only_digits(v, 3, 4))
			return bad(p, f, "not a CSC (3 or 4 digits expected)");
		return 0;
	case SU_SLOT_EU_PHONE: {
		for (uint32_t i = 0; i < v->len; i++)
			if (!strchr("0123456789+ -.()", v->s[i]) || (v->s[i] == '+' && i != 0))
				return bad(p, f, "not a phone number (digits, with an optional leading '+')");
		keep_digits(v, 1);
		uint32_t digits = v->len - (v->len && v->s[0] == '+');
		if (digits < 4 || digits > 15)
			return bad(p, f, "not a phone number (4 to 15 digits expected)");
		return 0;
	}
	case SU_SLOT_W_PHONE_SUFFIX:
		keep_digits(v, 0);
		if (v->len < 1 || v->len > 15)
			return bad(p, f, "must hold 1 to 15 digits");
		return 0;
	case SU_SLOT_EU_EMAIL: {
		const char *at = memchr(v->s, '@', v->len);
		if (v->len > 254 || !at || at == v->s || at == v->s + v->len - 1 ||
		    memchr(at + 1, '@', (size_t)(v->s + v->len - at - 1)))
			return bad(p, f, "not an email address");
		for (uint32_t i = 0; i < v->len; i++)
			if ((unsigned char)v->s[i] <= 0x20 || v->s[i] == 0x7f)
				return bad(p, f, "not an email address");
		return 0;
	}
	default:
		if (v->len > 256)
			return bad(p, f, "longer than 256 bytes");
		return 0;
	}
}

static int parse_int(const char *s, int n, int64_t *out)
{
	int64_t v = 0;
	int i = 0, neg = 0;

	if (n > 0 && s[0] == '-')
		neg = i = 1;
	if (i >= n || n - i > 18)
		return -1;
	if (s[i] == '0' && n - i > 1)
		return -1;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

static uint64_t reason_bit(const P *p, const su_str *s)
{
	int k = su_reason_lookup(s->s, s->len);
	if (k >= 0)
		return UINT64_C(1) << k;
	const stepup_ruleset *rs = p->e ? p->e->rs : NULL;
	for (uint32_t i = 0; rs && i < rs->nreasons; i++)
		if (SU_STRLEN(rs, rs->reasons[i]) == s->len &&
		    memcmp(SU_STR(rs, rs->reasons[i]), s->s, s->len) == 0)
			return UINT64_C(1) << (SU_R_KNOWN_COUNT + i);
	return 0;
}

static int walk_any(P *p, int i, int depth);

/* Copy a short normalised string to the front of the buffer, beside the
 * other strings rules compare; left where it is if the area is full. */
static su_str stash(stepup_request *r, su_str v)
{
	if (v.len + 1 > SU_NORM_BYTES - r->norm_used)
		return v;
	char *dst = r->buf + r->norm_used;
	memcpy(dst, v.s, v.len);
	dst[v.len] = '\0';
	r->norm_used += v.len + 1;
	return (su_str){ dst, v.len };
}

/* Decode the value token i into slot; returns the next token index. */
static int decode_field(P *p, int slot, int i, int depth)
{
	const su_field *f = &su_fields[slot];
	jsmntok_t *t = &p->t[i];
	stepup_request *r = p->r;
	const char *s = p->js + t->start;
	int n = t->end - t->start;

	if (p->seen >> slot & 1)
		return bad(p, f->path, "given twice");
	p->seen |= UINT64_C(1) << slot;
	if (t->type == JSMN_PRIMITIVE && n == 4 && memcmp(s, "null", 4) == 0)
		return i + 1;  /* null reads as absent */

	switch (f->type) {
	case SU_T_STRING: {
		su_str v;
		if (t->type != JSMN_STRING)
			return bad(p, f->path, "expected a string");
		if (unescape(p, t, &v) < 0)
			return bad(p, f->path, "invalid string (bad escape, control character or UTF-8)");
		if (check_string(p, slot, &v) < 0)
			return -1;
		if ((f->flags & (SU_F_PHONE | SU_F_DIGITS)) && !(f->flags & SU_F_SECRET))
			v = stash(r, v);
		r->f[slot].str = su_sref_of(r, v);
		break;
	}
	case SU_T_ENUM: {
		su_str v;
		if (t->type != JSMN_STRING)
			return bad(p, f->path, "expected a string");
		if (unescape(p, t, &v) < 0)
			return bad(p, f->path, "invalid string");
		int id = su_enum_lookup(f->enum_kind, v.s, v.len);
		if (id < 0) {
			const su_enum *en = &su_enums[f->enum_kind];
			char list[200] = "";
			for (unsigned k = 0; k < en->count; k++) {
				strncat(list, k == 0 ? "" : k + 1 == en->count ? " or " : ", ", sizeof(list) - strlen(list) - 1);
				strncat(list, en->values[k], sizeof(list) - strlen(list) - 1);
			}
			return bad(p, f->path, "unknown value (expected %s)", list);
		}
		r->f[slot].e = (uint32_t)id;
		break;
	}
	case SU_T_INT: {
		int64_t v;
		if (t->type != JSMN_PRIMITIVE || !literal_ok(s, n) || s[0] == 't' || s[0] == 'f')
			return bad(p, f->path, "expected an integer");
		if (parse_int(s, n, &v) < 0)
			return bad(p, f->path, "expected an integer");
		if (v < f->min || v > f->max)
			return bad(p, f->path, "out of range (%lld to %lld)", (long long)f->min, (long long)f->max);
		r->f[slot].i = v;
		break;
	}
	case SU_T_BOOL:
		if (t->type == JSMN_PRIMITIVE && n == 4 && memcmp(s, "true", 4) == 0)
			r->f[slot].b = 1;
		else if (t->type == JSMN_PRIMITIVE && n == 5 && memcmp(s, "false", 5) == 0)
			r->f[slot].b = 0;
		else
			return bad(p, f->path, "expected true or false");
		break;
	case SU_T_REASONS: {
		if (t->type != JSMN_ARRAY)
			return bad(p, f->path, "expected an array of strings");
		int j = walk_any(p, i, depth);  /* validates the array's syntax */
		if (j < 0)
			return -1;
		uint64_t mask = 0;
		for (int k = i + 1; k < j; k++) {
			su_str v;
			if (p->t[k].type != JSMN_STRING)
				return bad(p, f->path, "expected an array of strings");
			if (unescape(p, &p->t[k], &v) < 0)
				return bad(p, f->path, "invalid string");
			if (card_number_refused(p, slot, &v) < 0)
				return -1;
			uint64_t b = reason_bit(p, &v);
			if (!b)
				r->unknown_reasons++;
			mask |= b;
		}
		r->f[slot].mask = mask;
		r->present |= UINT64_C(1) << slot;
		return j;
	}
	default:
		return bad(p, f->path, "unsupported type");
	}
	r->present |= UINT64_C(1) << slot;
	return i + 1;
}

static int lookup_key(int group, const char *k, int n)
{
	for (int s = 0; s < SU_SLOT_COUNT; s++)
		if (keys[s].group == group && keys[s].len == (uint32_t)n && memcmp(keys[s].key, k, (size_t)n) == 0)
			return s;
	return -1;
}

static int group_of(const char *k, int n)
{
	for (int g = 1; g < G_COUNT; g++)
		if (strlen(group_names[g]) == (size_t)n && memcmp(group_names[g], k, (size_t)n) == 0)
			return g;
	return -1;
}

/* Walk an object; when `group` >= 0 its known keys are decoded. */
static int walk_object(P *p, int i, int depth, int group)
{
	const jsmntok_t *o = &p->t[i];
	int j = i + 1, prev_end = o->start + 1;

	if (depth > SU_REQUEST_MAX_DEPTH)
		return bad(p, "", "JSON nested deeper than %d levels", SU_REQUEST_MAX_DEPTH);
	for (int m = 0; m < o->size; m++) {
		if (j >= p->n)
			return bad(p, "", "malformed JSON");
		jsmntok_t *k = &p->t[j];
		if (k->type != JSMN_STRING || k->size != 1 || j + 1 >= p->n)
			return bad(p, "", "malformed JSON: object keys must be strings followed by a value");
		if (!gap_ok(p, prev_end, outer_start(k), m ? ',' : 0) ||
		    !gap_ok(p, outer_end(k), outer_start(&p->t[j + 1]), ':'))
			return bad(p, "", "malformed JSON near byte %d", outer_start(k));
		/* Keys are unescaped too: "recommended_decis\u0069on" must not
		 * slip past as an unknown field. */
		su_str key;
		if (unescape(p, k, &key) < 0)
			return bad(p, "", "invalid object key near byte %d", k->start);
		const char *kn = key.s;
		int kl = (int)key.len, next;
		int slot = group >= 0 ? lookup_key(group, kn, kl) : -1;
		int sub = group == G_TOP && slot < 0 ? group_of(kn, kl) : -1;
		if (slot >= 0) {
			next = decode_field(p, slot, j + 1, depth + 1);
		} else if (sub > 0) {
			jsmntok_t *v = &p->t[j + 1];
			if (v->type == JSMN_PRIMITIVE && v->end - v->start == 4 && memcmp(p->js + v->start, "null", 4) == 0)
				next = j + 2;
			else if (v->type != JSMN_OBJECT)
				return bad(p, group_names[sub], "expected an object");
			else
				next = walk_object(p, j + 1, depth + 1, sub);
		} else {
			next = walk_any(p, j + 1, depth + 1);  /* unknown: checked, ignored */
		}
		if (next < 0)
			return -1;
		prev_end = outer_end(&p->t[j + 1]);
		if (p->t[j + 1].type == JSMN_OBJECT || p->t[j + 1].type == JSMN_ARRAY)
			prev_end = p->t[j + 1].end;
		j = next;
	}
	if (!gap_ok(p, prev_end, o->end - 1, 0))
		return bad(p, "", "malformed JSON near byte %d", prev_end);
	return j;
}

static int walk_any(P *p, int i, int depth)
{
	const jsmntok_t *t = &p->t[i];

	if (depth > SU_REQUEST_MAX_DEPTH)
		return bad(p, "", "JSON nested deeper than %d levels", SU_REQUEST_MAX_DEPTH);
	switch (t->type) {
	case JSMN_PRIMITIVE:
		if (!literal_ok(p->js + t->start, t->end - t->start))
			return bad(p, "", "malformed JSON value near byte %d", t->start);
		return i + 1;
	case JSMN_STRING:
		if (plain_ascii(p->js + t->start, (size_t)(t->end - t->start)))
			return i + 1;
		for (int k = t->start; k < t->end; k++)
			if ((unsigned char)p->js[k] < 0x20)
				return bad(p, "", "control character in a JSON string");
		if (!su_utf8_valid(p->js + t->start, (size_t)(t->end - t->start)))
			return bad(p, "", "invalid UTF-8 in a JSON string");
		return i + 1;
	case JSMN_OBJECT:
		return walk_object(p, i, depth, -1);
	case JSMN_ARRAY: {
		int j = i + 1, prev_end = t->start + 1;
		for (int m = 0; m < t->size; m++) {
			if (j >= p->n)
				return bad(p, "", "malformed JSON");
			const jsmntok_t *v = &p->t[j];
			if (!gap_ok(p, prev_end, outer_start(v), m ? ',' : 0))
				return bad(p, "", "malformed JSON near byte %d", outer_start(v));
			int next = walk_any(p, j, depth + 1);
			if (next < 0)
				return -1;
			prev_end = outer_end(v);
			j = next;
		}
		if (!gap_ok(p, prev_end, t->end - 1, 0))
			return bad(p, "", "malformed JSON near byte %d", prev_end);
		return j;
	}
	default:
		return bad(p, "", "malformed JSON");
	}
}

/* How deep does the text nest? Used only to explain a token overflow. */
static int text_depth(const char *s, size_t n)
{
	int d = 0, max = 0, str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				str = 0;
		} else if (c == '"') {
			str = 1;
		} else if (c == '{' || c == '[') {
			if (++d > max)
				max = d;
		} else if (c == '}' || c == ']') {
			d--;
		}
	}
	return max;
}

/* After a failed walk, find a valid request_id among the top-level keys so
 * the error answer can still be matched to its request. */
static void salvage_request_id(P *p)
{
	stepup_request *r = p->r;
	const jsmntok_t *o = &p->t[0];
	int j = 1;
	char field[sizeof(r->err_field)];

	if (SU_PRESENT(r, SU_SLOT_REQUEST_ID) || o->type != JSMN_OBJECT)
		return;
	memcpy(field, r->err_field, sizeof(field));
	for (int m = 0; m < o->size && j + 1 < p->n; m++) {
		const jsmntok_t *k = &p->t[j], *v = &p->t[j + 1];
		if (k->type == JSMN_STRING && k->end - k->start == 10 &&
		    memcmp(p->js + k->start, "request_id", 10) == 0 && v->type == JSMN_STRING &&
		    p->js[v->end] == '"') {  /* not yet unescaped in place */
			su_str id;
			P q = *p;
			q.err = NULL;
			q.errlen = 0;
			if (unescape(&q, v, &id) == 0 && check_string(&q, SU_SLOT_REQUEST_ID, &id) == 0) {
				r->f[SU_SLOT_REQUEST_ID].str = su_sref_of(r, id);
				r->present |= UINT64_C(1) << SU_SLOT_REQUEST_ID;
			}
			break;
		}
		/* Skip the value's subtree: tokens are in document order. */
		int end = v->end;
		j += 2;
		while (j < p->n && p->t[j].start < end)
			j++;
	}
	memcpy(r->err_field, field, sizeof(field));
}

stepup_request *stepup_request_new(void)
{
	pthread_once(&keys_once, keys_init);
	return calloc(1, sizeof(stepup_request));
}

void stepup_request_free(stepup_request *r)
{
	if (!r)
		return;
	free(r->heap);
	free(r->toks);
	free(r);
}

const char *stepup_request_error_field(const stepup_request *r)
{
	return r ? r->err_field : "";
}

const char *stepup_request_id(const stepup_request *r)
{
	return r && r->ok && SU_PRESENT(r, SU_SLOT_REQUEST_ID) ? su_rstr(r, SU_SLOT_REQUEST_ID).s : "";
}

int stepup_request_parse(stepup_request *r, const stepup_engine *e, const char *json,
                         size_t len, char *err, size_t errlen)
{
	P p = { .r = r, .e = e, .len = len, .err = err, .errlen = errlen };
	jsmn_parser jp;
	int n;

	if (!r || (!json && len))
		return STEPUP_EINVAL;
	r->present = 0;
	r->unknown_reasons = 0;
	r->err_field[0] = '\0';
	r->ok = 0;
	if (err && errlen)
		err[0] = '\0';
	if (len > SU_REQUEST_MAX_BYTES) {
		bad(&p, "", "request larger than %u bytes", SU_REQUEST_MAX_BYTES);
		return STEPUP_ETOOBIG;
	}
	if (SU_NORM_BYTES + len + 1 <= SU_INLINE_BYTES) {
		r->buf = r->inline_buf;
	} else {
		if (r->heapcap < SU_NORM_BYTES + len + 1) {
			char *b = realloc(r->heap, SU_NORM_BYTES + len + 1);
			if (!b)
				return STEPUP_ENOMEM;
			r->heap = b;
			r->heapcap = SU_NORM_BYTES + len + 1;
		}
		r->buf = r->heap;
	}
	r->norm_used = 0;
	p.js = r->buf + SU_NORM_BYTES;
	if (len)
		memcpy(p.js, json, len);
	p.js[len] = '\0';

	/* Tokens are needed only while parsing: a typical request fits the
	 * stack array; larger ones use (and keep) a heap array. */
	jsmntok_t stack_toks[TOKS_MIN];
	jsmntok_t *toks = stack_toks;
	unsigned ntoks = TOKS_MIN;
	for (;;) {
		jsmn_init(&jp);
		n = jsmn_parse(&jp, p.js, len, toks, ntoks);
		if (n != JSMN_ERROR_NOMEM)
			break;
		if (ntoks >= TOKS_MAX) {
			if (text_depth(p.js, len) > SU_REQUEST_MAX_DEPTH)
				bad(&p, "", "JSON nested deeper than %d levels", SU_REQUEST_MAX_DEPTH);
			else
				bad(&p, "", "request has more than %u JSON values", TOKS_MAX);
			return STEPUP_EBADREQ;
		}
		/* 256, 1024, 4096, then exactly TOKS_MAX: the documented limit. */
		ntoks = ntoks * 4 < TOKS_MAX ? ntoks * 4 : TOKS_MAX;
		if (r->ntoks < ntoks) {
			void *t = realloc(r->toks, ntoks * sizeof(jsmntok_t));
			if (!t)
				return STEPUP_ENOMEM;
			r->toks = t;
			r->ntoks = ntoks;
		}
		toks = r->toks;
	}
	p.t = toks;
	p.n = n;
	if (n == JSMN_ERROR_PART || n == 0) {
		size_t lead = strspn(p.js, " \t\r\n");
		bad(&p, "", n == 0 ? "empty request"
		            : lead < len && p.js[lead] != '{' ? "request must be a JSON object"
		                                                : "truncated JSON");
		return STEPUP_EBADREQ;
	}
	if (n < 0) {
		bad(&p, "", "malformed JSON");
		return STEPUP_EBADREQ;
	}
	if (p.t[0].type != JSMN_OBJECT) {
		bad(&p, "", "request must be a JSON object");
		return STEPUP_EBADREQ;
	}
	/* One walk checks the syntax and decodes known fields in document
	 * order. Strings are unescaped in place; the gaps between tokens that
	 * the walk checks never include string bytes, so that is safe. */
	if (!gap_ok(&p, 0, p.t[0].start, 0)) {
		bad(&p, "", "malformed JSON");
		return STEPUP_EBADREQ;
	}
	int end = walk_object(&p, 0, 1, G_TOP);
	if (end < 0) {
		salvage_request_id(&p);
		return STEPUP_EBADREQ;
	}
	if (end != n || !gap_ok(&p, p.t[0].end, (int)len, 0)) {
		bad(&p, "", "trailing data after the JSON object");
		return STEPUP_EBADREQ;
	}
	if (!SU_PRESENT(r, SU_SLOT_REQUEST_ID)) {
		bad(&p, "request_id", "required");
		return STEPUP_EBADREQ;
	}
	/* Derive the PAN suffix the OTP messages quote, when only the PAN came. */
	if (SU_PRESENT(r, SU_SLOT_CARD_PAN) && !SU_PRESENT(r, SU_SLOT_CARD_PAN_SUFFIX)) {
		su_str pan = su_rstr(r, SU_SLOT_CARD_PAN);
		su_str suffix = { pan.s + pan.len - 4, 4 };
		r->f[SU_SLOT_CARD_PAN_SUFFIX].str = su_sref_of(r, stash(r, suffix));
		r->present |= UINT64_C(1) << SU_SLOT_CARD_PAN_SUFFIX;
	}
	r->ok = 1;
	return STEPUP_OK;
}
