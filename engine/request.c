/* request.c: one-pass decoding of a request into schema slots.
 *
 * jsontok.c (jsmn's algorithm, faster over strings) tokenizes the text into
 * a flat token array without allocating; one walk over the tokens then
 * checks the JSON grammar the tokenizer leaves loose
 * (separators, literals, nesting depth), ignores unknown fields and decodes
 * known ones straight into their slots: no tree, no per-field allocation.
 * Secrets are validated without ever being quoted in an error, and a card
 * number in any string field but card.pan is refused (docs/pci.md). */

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cardnum.h"
#include "decoder.h"
#include "engine.h"
#include "jsontok.h"
#include "request.h"
#include "util.h"

/* JSON values a request may hold (docs/contract.md); every token
 * counts, object keys included. */
#define TOKS_MIN 256u
#define TOKS_MAX SU_REQUEST_MAX_VALUES

typedef struct P {
	stepup_request *r;
	const su_schema *sc;
	char *js;
	size_t len;
	su_jtok *t;
	int n;
	char *err;
	size_t errlen;
	uint64_t *given;               /* a bit per slot the text gave (maybe as
	                                  null): each at most once */
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

static int outer_start(const su_jtok *t)
{
	return t->type == SU_JSON_STRING ? t->start - 1 : t->start;
}

static int outer_end(const su_jtok *t)
{
	return t->type == SU_JSON_STRING ? t->end + 1 : t->end;
}

/* Bytes [from, to) must be whitespace around exactly one `sep` (or only
 * whitespace when sep is 0): what the tokenizer does not check. */
static int gap_ok(const P *p, int from, int to, char sep)
{
	int seen = 0;
	if (from < 0 || to > (int)p->len || from > to)
		return 0;
	/* the usual gaps: the separator alone or followed by one space */
	if (sep && to - from <= 2 && to > from && p->js[from] == sep && (to - from == 1 || p->js[from + 1] == ' '))
		return 1;
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
static int unescape(P *p, const su_jtok *t, su_str *out)
{
	char *s = p->js + t->start, *end = p->js + t->end, *o = s;
	int escaped = 0;

	if (t->plain) {  /* the common case: printable ASCII, no backslash */
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

static int only_digits(const su_str *s, int64_t min, int64_t max)
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
 * field but a card number's own: every string, list value and open enum
 * value, of every field the schema declares. It runs first, on the value
 * as sent (unescaped, before keep_digits() could hide separators). The
 * value is never quoted back: the message names the field only. Phone
 * fields refuse only card numbers no phone number can be (docs/pci.md). */
static int card_number_refused(P *p, unsigned slot, const su_str *v)
{
	const su_field *fd = &p->sc->fields[slot];
	unsigned min = fd->format == SU_FMT_PHONE || fd->format == SU_FMT_PHONE_DIGITS ? 15 : 13;
	if (fd->format == SU_FMT_CARD_NUMBER || !su_card_find_min(v->s, v->len, min, NULL, NULL))
		return 0;
	return bad(p, SU_FPATH(p->sc, slot), "holds a card number; refused without echoing it");
}

/* A string field's format (schema.h), after the card-number policy. */
static int check_string(P *p, unsigned slot, su_str *v)
{
	const su_field *fd = &p->sc->fields[slot];
	const char *f = SU_FPATH(p->sc, slot);

	if (card_number_refused(p, slot, v) < 0)
		return -1;
	switch (fd->format) {
	case SU_FMT_ID:
		if (v->len < fd->min || v->len > fd->max)
			return bad(p, f, "must be %lld to %lld characters", (long long)fd->min, (long long)fd->max);
		for (uint32_t i = 0; i < v->len; i++)
			if (v->s[i] < 0x21 || v->s[i] > 0x7e)
				return bad(p, f, "must be printable ASCII without spaces");
		return 0;
	case SU_FMT_CARD_NUMBER:
		if (!only_digits(v, 12, 19))
			return bad(p, f, "not a card number (12 to 19 digits expected)");
		return 0;
	case SU_FMT_DIGITS:
		if (!only_digits(v, fd->min ? fd->min : 1, fd->max))
			return bad(p, f, "must be %lld to %lld digits", (long long)(fd->min ? fd->min : 1),
			           (long long)fd->max);
		return 0;
	case SU_FMT_CSC:
		if (!only_digits(v, 3, 4))
			return bad(p, f, "not a CSC (3 or 4 digits expected)");
		return 0;
	case SU_FMT_PHONE: {
		for (uint32_t i = 0; i < v->len; i++)
			if (!strchr("0123456789+ -.()", v->s[i]) || (v->s[i] == '+' && i != 0))
				return bad(p, f, "not a phone number (digits, with an optional leading '+')");
		keep_digits(v, 1);
		uint32_t digits = v->len - (v->len && v->s[0] == '+');
		if (digits < 4 || digits > 15)
			return bad(p, f, "not a phone number (4 to 15 digits expected)");
		return 0;
	}
	case SU_FMT_PHONE_DIGITS:
		keep_digits(v, 0);
		if (v->len < 1 || v->len > 15)
			return bad(p, f, "must hold 1 to 15 digits");
		return 0;
	case SU_FMT_EMAIL: {
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
		if (v->len > fd->max)
			return bad(p, f, "longer than %lld bytes", (long long)fd->max);
		if (v->len < fd->min)
			return bad(p, f, "shorter than %lld bytes", (long long)fd->min);
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

/* An integer sent as a string ("4", "04"): networks send scores so. */
static int parse_int_text(const su_str *v, int64_t *out)
{
	uint32_t i = 0;
	int neg = 0;
	int64_t x = 0;

	if (v->len && v->s[0] == '-')
		neg = i = 1;
	if (i >= v->len || v->len - i > 18)
		return -1;
	for (; i < v->len; i++) {
		if (v->s[i] < '0' || v->s[i] > '9')
			return -1;
		x = x * 10 + (v->s[i] - '0');
	}
	*out = neg ? -x : x;
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

/* Present (request.h): a field without value codes. */
static void set_present(stepup_request *r, unsigned slot)
{
	r->has[slot] = 1u | 1u << 1;
}

/* Present, with the value's code for a field of a small domain
 * (su_field_codes): the value is in the slot already. */
static void set_value(stepup_request *r, const su_field *fd, unsigned slot)
{
	unsigned code = 0;
	if (su_field_codes(fd))
		code = fd->type == SU_T_ENUM ? r->f[slot].e
		     : fd->type == SU_T_BOOL ? (r->f[slot].b != 0) : (unsigned)(r->f[slot].i - fd->min);
	r->has[slot] = (uint8_t)(1u | (code + 1) << 1);
}

/* The values of a list field: the bits of the ones the ruleset names. */
static int decode_list(P *p, unsigned slot, int i, int depth)
{
	const su_field *fd = &p->sc->fields[slot];
	const su_decoder *dec = p->sc->dec;
	const char *f = SU_FPATH(p->sc, slot);
	stepup_request *r = p->r;

	if (p->t[i].type != SU_JSON_ARRAY)
		return bad(p, f, "expected an array of strings");
	int j = walk_any(p, i, depth);  /* validates the array's syntax */
	if (j < 0)
		return -1;
	uint64_t mask = 0;
	for (int k = i + 1; k < j; k++) {
		su_str v;
		if (p->t[k].type != SU_JSON_STRING)
			return bad(p, f, "expected an array of strings");
		if (unescape(p, &p->t[k], &v) < 0)
			return bad(p, f, "invalid string");
		if (card_number_refused(p, slot, &v) < 0)
			return -1;
		int b = su_decoder_value(p->sc, &dec->bits[slot], v.s, v.len);
		if (b >= 0)
			mask |= UINT64_C(1) << b;
		else if (!(fd->flags & SU_FF_FREE) && su_decoder_value(p->sc, &dec->values[slot], v.s, v.len) < 0)
			r->unknown_reasons++;
	}
	r->f[slot].mask = mask;
	set_present(r, slot);
	return j;
}

/* Decode the value token i into slot; returns the next token index. */
static int decode_field(P *p, unsigned slot, int i, int depth)
{
	const su_field *fd = &p->sc->fields[slot];
	const char *path = SU_FPATH(p->sc, slot);
	su_jtok *t = &p->t[i];
	stepup_request *r = p->r;
	const char *s = p->js + t->start;
	int n = t->end - t->start;

	if (p->given[slot / 64] >> (slot % 64) & 1)
		return bad(p, path, "given twice");
	p->given[slot / 64] |= UINT64_C(1) << (slot % 64);
	if (t->type == SU_JSON_PRIMITIVE && n == 4 && memcmp(s, "null", 4) == 0)
		return i + 1;  /* null reads as absent */

	switch (fd->type) {
	case SU_T_STRING: {
		su_str v;
		if (t->type != SU_JSON_STRING)
			return bad(p, path, "expected a string");
		if (unescape(p, t, &v) < 0)
			return bad(p, path, "invalid string (bad escape, control character or UTF-8)");
		if (check_string(p, slot, &v) < 0)
			return -1;
		if (fd->format == SU_FMT_PHONE || fd->format == SU_FMT_PHONE_DIGITS || fd->format == SU_FMT_DIGITS)
			v = stash(r, v);
		r->f[slot].str = su_sref_of(r, v);
		break;
	}
	case SU_T_ENUM: {
		su_str v;
		if (t->type != SU_JSON_STRING)
			return bad(p, path, "expected a string");
		if (unescape(p, t, &v) < 0)
			return bad(p, path, "invalid string");
		int id = su_decoder_value(p->sc, &p->sc->dec->values[slot], v.s, v.len);
		if (id < 0) {
			if (!(fd->flags & SU_FF_OPEN)) {
				char list[200] = "";
				for (unsigned k = 0; k < fd->values.count; k++) {
					strncat(list, k == 0 ? "" : k + 1 == fd->values.count ? " or " : ", ",
					        sizeof(list) - strlen(list) - 1);
					strncat(list, su_schema_value_name(p->sc, slot, k), sizeof(list) - strlen(list) - 1);
				}
				return bad(p, path, "unknown value (expected %s)", list);
			}
			if (card_number_refused(p, slot, &v) < 0)
				return -1;
			id = (int)fd->values.count;  /* an open list's "other" */
		}
		r->f[slot].e = (uint32_t)id;
		break;
	}
	case SU_T_INT: {
		int64_t v;
		if (t->type == SU_JSON_STRING && (fd->flags & SU_FF_FROM_STRING)) {
			su_str txt;
			if (unescape(p, t, &txt) < 0 || parse_int_text(&txt, &v) < 0)
				return bad(p, path, "expected an integer");
		} else {
			if (t->type != SU_JSON_PRIMITIVE || !literal_ok(s, n) || s[0] == 't' || s[0] == 'f' ||
			    parse_int(s, n, &v) < 0)
				return bad(p, path, "expected an integer");
		}
		if (v < fd->min || v > fd->max)
			return bad(p, path, "out of range (%lld to %lld)", (long long)fd->min, (long long)fd->max);
		r->f[slot].i = v;
		break;
	}
	case SU_T_BOOL:
		if (t->type == SU_JSON_PRIMITIVE && n == 4 && memcmp(s, "true", 4) == 0)
			r->f[slot].b = 1;
		else if (t->type == SU_JSON_PRIMITIVE && n == 5 && memcmp(s, "false", 5) == 0)
			r->f[slot].b = 0;
		else
			return bad(p, path, "expected true or false");
		break;
	case SU_T_REASONS:
		return decode_list(p, slot, i, depth);
	default:
		return bad(p, path, "unsupported type");
	}
	set_value(r, fd, slot);
	return i + 1;
}

/* Walk an object; node >= 0 is its place in the schema (its known keys
 * are decoded), -1 an object the schema does not know. */
static int walk_object(P *p, int i, int depth, int node)
{
	const su_jtok *o = &p->t[i];
	const su_decoder *dec = p->sc->dec;
	int j = i + 1, prev_end = o->start + 1;

	if (depth > SU_REQUEST_MAX_DEPTH)
		return bad(p, "", "JSON nested deeper than %d levels", SU_REQUEST_MAX_DEPTH);
	for (int m = 0; m < o->size; m++) {
		if (j >= p->n)
			return bad(p, "", "malformed JSON");
		su_jtok *k = &p->t[j];
		if (k->type != SU_JSON_STRING || k->size != 1 || j + 1 >= p->n)
			return bad(p, "", "malformed JSON: object keys must be strings followed by a value");
		if (!gap_ok(p, prev_end, outer_start(k), m ? ',' : 0) ||
		    !gap_ok(p, outer_end(k), outer_start(&p->t[j + 1]), ':'))
			return bad(p, "", "malformed JSON near byte %d", outer_start(k));
		/* Keys are unescaped too: "recommended_decis\u0069on" must not
		 * slip past as an unknown field. */
		su_str key;
		if (unescape(p, k, &key) < 0)
			return bad(p, "", "invalid object key near byte %d", k->start);
		const su_dkey *dk = node >= 0 ? su_decoder_key(dec, (uint32_t)node, key.s, key.len) : NULL;
		int next;
		if (dk && dk->slot >= 0) {
			next = decode_field(p, (unsigned)dk->slot, j + 1, depth + 1);
		} else if (dk) {
			su_jtok *v = &p->t[j + 1];
			if (v->type == SU_JSON_PRIMITIVE && v->end - v->start == 4 && memcmp(p->js + v->start, "null", 4) == 0)
				next = j + 2;
			else if (v->type != SU_JSON_OBJECT)
				return bad(p, dec->nodes[dk->child].path, "expected an object");
			else
				next = walk_object(p, j + 1, depth + 1, dk->child);
		} else {
			next = walk_any(p, j + 1, depth + 1);  /* unknown: checked, ignored */
		}
		if (next < 0)
			return -1;
		prev_end = outer_end(&p->t[j + 1]);
		if (p->t[j + 1].type == SU_JSON_OBJECT || p->t[j + 1].type == SU_JSON_ARRAY)
			prev_end = p->t[j + 1].end;
		j = next;
	}
	if (!gap_ok(p, prev_end, o->end - 1, 0))
		return bad(p, "", "malformed JSON near byte %d", prev_end);
	return j;
}

static int walk_any(P *p, int i, int depth)
{
	const su_jtok *t = &p->t[i];

	if (depth > SU_REQUEST_MAX_DEPTH)
		return bad(p, "", "JSON nested deeper than %d levels", SU_REQUEST_MAX_DEPTH);
	switch (t->type) {
	case SU_JSON_PRIMITIVE:
		if (!literal_ok(p->js + t->start, t->end - t->start))
			return bad(p, "", "malformed JSON value near byte %d", t->start);
		return i + 1;
	case SU_JSON_STRING:
		if (t->plain)
			return i + 1;
		for (int k = t->start; k < t->end; k++)
			if ((unsigned char)p->js[k] < 0x20)
				return bad(p, "", "control character in a JSON string");
		if (!su_utf8_valid(p->js + t->start, (size_t)(t->end - t->start)))
			return bad(p, "", "invalid UTF-8 in a JSON string");
		return i + 1;
	case SU_JSON_OBJECT:
		return walk_object(p, i, depth, -1);
	case SU_JSON_ARRAY: {
		int j = i + 1, prev_end = t->start + 1;
		for (int m = 0; m < t->size; m++) {
			if (j >= p->n)
				return bad(p, "", "malformed JSON");
			const su_jtok *v = &p->t[j];
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

/* After a failed walk, find a valid request id among the top-level keys so
 * the error answer can still be matched to its request. */
static void salvage_request_id(P *p)
{
	stepup_request *r = p->r;
	const su_jtok *o = &p->t[0];
	int slot = p->sc->role_slot[SU_ROLE_REQUEST_ID], j = 1;
	char field[sizeof(r->err_field)];

	if (slot < 0 || SU_PRESENT(r, slot) || o->type != SU_JSON_OBJECT)
		return;
	const char *name = SU_FPATH(p->sc, slot);
	size_t nlen = strlen(name);
	if (memchr(name, '.', nlen))
		return;  /* a nested id is not worth a second walk */
	memcpy(field, r->err_field, sizeof(field));
	for (int m = 0; m < o->size && j + 1 < p->n; m++) {
		const su_jtok *k = &p->t[j], *v = &p->t[j + 1];
		if (k->type == SU_JSON_STRING && (size_t)(k->end - k->start) == nlen &&
		    memcmp(p->js + k->start, name, nlen) == 0 && v->type == SU_JSON_STRING &&
		    p->js[v->end] == '"') {  /* not yet unescaped in place */
			su_str id;
			P q = *p;
			q.err = NULL;
			q.errlen = 0;
			if (unescape(&q, v, &id) == 0 && check_string(&q, (unsigned)slot, &id) == 0) {
				r->f[slot].str = su_sref_of(r, id);
				set_present(r, (unsigned)slot);
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

/* Defaults and derivations, after the walk: sources come first (schema.c
 * checks that a derivation reads a plain field). */
static void fill(P *p)
{
	const su_decoder *dec = p->sc->dec;
	stepup_request *r = p->r;

	for (uint32_t k = 0; k < dec->nfill; k++) {
		unsigned slot = dec->fill[k];
		const su_field *fd = &p->sc->fields[slot];
		if ((fd->flags & SU_FF_DERIVED) || ((fd->flags & SU_FF_DEFAULT_DERIVED) && !SU_PRESENT(r, slot))) {
			if (!SU_PRESENT(r, fd->source))
				continue;
			su_str src = su_rstr(r, fd->source), v = src;
			if (fd->derive == SU_DERIVE_LAST4) {
				if (src.len > 4)
					v = (su_str){ src.s + src.len - 4, 4 };
			} else {  /* BIN */
				uint32_t bin = src.len >= 16 ? 8 : 6;
				if (src.len > bin)
					v.len = bin;
			}
			/* A derived value is a substring of its source: no copy is
			 * needed, one near the other compared strings is nicer. */
			r->f[slot].str = su_sref_of(r, stash(r, v));
			set_present(r, slot);
		} else if ((fd->flags & SU_FF_DEFAULT) && !SU_PRESENT(r, slot)) {
			if (fd->type == SU_T_STRING) {
				uint32_t len = SU_SSTRLEN(p->sc, (uint32_t)fd->dflt);
				char *dst = r->buf + r->defaults_at;
				memcpy(dst, SU_SSTR(p->sc, (uint32_t)fd->dflt), len + 1);
				r->defaults_at += len + 1;
				r->f[slot].str = su_sref_of(r, (su_str){ dst, len });
			} else if (fd->type == SU_T_ENUM) {
				r->f[slot].e = (uint32_t)fd->dflt;
			} else if (fd->type == SU_T_BOOL) {
				r->f[slot].b = (int)fd->dflt;
			} else {
				r->f[slot].i = fd->dflt;
			}
			set_value(r, fd, slot);
		}
	}
}

stepup_request *stepup_request_new(void)
{
	stepup_request *r = calloc(1, sizeof(stepup_request));
	if (r) {
		r->f = r->f_inline;
		r->has = r->has_inline;
	}
	return r;
}

void stepup_request_free(stepup_request *r)
{
	if (!r)
		return;
	free(r->heap);
	free(r->toks);
	free(r->fheap);
	free(r->hasheap);
	free(r);
}

const char *stepup_request_error_field(const stepup_request *r)
{
	return r ? r->err_field : "";
}

const char *stepup_request_id(const stepup_request *r)
{
	int slot = r && r->ok ? r->rs->schema->role_slot[SU_ROLE_REQUEST_ID] : -1;
	return slot >= 0 && SU_PRESENT(r, slot) ? su_rstr(r, (unsigned)slot).s : "";
}

int su_request_role_slot(const stepup_request *r, su_role role)
{
	int slot = r->rs ? r->rs->schema->role_slot[role] : -1;
	return slot >= 0 && SU_PRESENT(r, slot) ? slot : -1;
}

const char *su_request_role_str(const stepup_request *r, su_role role, char *buf, size_t size)
{
	int slot = su_request_role_slot(r, role);
	if (slot < 0 || r->rs->schema->fields[slot].type != SU_T_STRING)
		return NULL;
	su_str s = su_rstr(r, (unsigned)slot);
	if (s.len >= size)
		return NULL;
	memcpy(buf, s.s, s.len);
	buf[s.len] = '\0';
	return buf;
}

_Static_assert((int)STEPUP_ROLE_REQUEST_ID == SU_ROLE_REQUEST_ID && (int)STEPUP_ROLE_CHANNEL == SU_ROLE_CHANNEL &&
                       (int)STEPUP_ROLE_LANGUAGE == SU_ROLE_LANGUAGE &&
                       (int)STEPUP_ROLE_PAN_SUFFIX == SU_ROLE_PAN_SUFFIX &&
                       (int)STEPUP_ROLE_TOKEN_REQUESTOR_ID == SU_ROLE_TOKEN_REQUESTOR_ID &&
                       (int)STEPUP_ROLE_TOKEN_REQUESTOR_NAME == SU_ROLE_TOKEN_REQUESTOR_NAME &&
                       (int)STEPUP_ROLE_CONTACT_SMS == SU_ROLE_CONTACT_SMS &&
                       (int)STEPUP_ROLE_CONTACT_EMAIL == SU_ROLE_CONTACT_EMAIL &&
                       SU_ROLE_COUNT == 9,
               "stepup_role numbers the schema's roles");

const char *stepup_request_role(const stepup_request *r, stepup_role role, size_t *len)
{
	if (!r || !r->ok || (unsigned)role >= SU_ROLE_COUNT || role <= 0)
		return NULL;
	/* The public numbers are the schema's roles, in the same order. */
	int slot = su_request_role_slot(r, (su_role)role);
	if (slot < 0)
		return NULL;
	const su_field *f = &r->rs->schema->fields[slot];
	if (f->type == SU_T_ENUM) {
		const char *v = su_schema_value_name(r->rs->schema, (unsigned)slot, r->f[slot].e);
		if (len)
			*len = strlen(v);
		return v;
	}
	su_str s = su_rstr(r, (unsigned)slot);
	if (len)
		*len = s.len;
	return s.s;
}

/* Slots for the engine's schema: inline up to SU_INLINE_SLOTS. */
static int slots_for(stepup_request *r, uint32_t n)
{
	if (n <= SU_INLINE_SLOTS) {
		r->f = r->f_inline;
		r->has = r->has_inline;
	} else {
		if (r->slotcap < n) {
			su_value *f = realloc(r->fheap, n * sizeof(*f));
			if (!f)
				return -1;
			r->fheap = f;
			uint8_t *h = realloc(r->hasheap, n);
			if (!h)
				return -1;
			r->hasheap = h;
			r->slotcap = n;
		}
		r->f = r->fheap;
		r->has = r->hasheap;
	}
	r->nslots = n;
	memset(r->has, 0, n);
	return 0;
}

int stepup_request_parse(stepup_request *r, const stepup_engine *e, const char *json,
                         size_t len, char *err, size_t errlen)
{
	uint64_t given[SU_MAX_FIELDS / 64];
	P p = { .r = r, .len = len, .err = err, .errlen = errlen, .given = given };
	su_jparser jp;
	int n;

	if (!r || !e || (!json && len))
		return STEPUP_EINVAL;
	p.sc = e->rs->schema;
	memset(given, 0, ((p.sc->nfields + 63) / 64) * sizeof(uint64_t));
	r->ok = 0;
	r->unknown_reasons = 0;
	r->err_field[0] = '\0';
	r->engine = e->serial;
	r->rs = e->rs;
	if (err && errlen)
		err[0] = '\0';
	if (slots_for(r, p.sc->nfields) < 0)
		return STEPUP_ENOMEM;
	if (len > SU_REQUEST_MAX_BYTES) {
		bad(&p, "", "request larger than %u bytes", SU_REQUEST_MAX_BYTES);
		return STEPUP_ETOOBIG;
	}
	/* Normalised strings, the text, then room for the string defaults. */
	size_t need = SU_NORM_BYTES + len + 1 + p.sc->dec->defaults_bytes;
	if (need <= SU_INLINE_BYTES) {
		r->buf = r->inline_buf;
	} else {
		if (r->heapcap < need) {
			char *b = realloc(r->heap, need);
			if (!b)
				return STEPUP_ENOMEM;
			/* Zeroed once when it grows: the normalised-string area is
			 * written only as far as a request needs, and a wipe or a
			 * scan of the whole buffer must not read indeterminate bytes. */
			memset(b + r->heapcap, 0, need - r->heapcap);
			r->heap = b;
			r->heapcap = need;
		}
		r->buf = r->heap;
	}
	r->norm_used = 0;
	r->defaults_at = (uint32_t)(SU_NORM_BYTES + len + 1);
	p.js = r->buf + SU_NORM_BYTES;
	if (len)
		memcpy(p.js, json, len);
	p.js[len] = '\0';

	/* Tokens are needed only while parsing: a typical request fits the
	 * stack array; larger ones use (and keep) a heap array. */
	su_jtok stack_toks[TOKS_MIN];
	su_jtok *toks = stack_toks;
	unsigned ntoks = TOKS_MIN;
	for (;;) {
		su_json_init(&jp);
		n = su_json_parse(&jp, p.js, len, toks, ntoks);
		if (n != SU_JSON_ERROR_NOMEM)
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
			void *t = realloc(r->toks, ntoks * sizeof(su_jtok));
			if (!t)
				return STEPUP_ENOMEM;
			r->toks = t;
			r->ntoks = ntoks;
		}
		toks = r->toks;
	}
	p.t = toks;
	p.n = n;
	if (n == SU_JSON_ERROR_PART || n == 0) {
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
	if (p.t[0].type != SU_JSON_OBJECT) {
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
	int end = walk_object(&p, 0, 1, 0);
	if (end < 0) {
		salvage_request_id(&p);
		return STEPUP_EBADREQ;
	}
	if (end != n || !gap_ok(&p, p.t[0].end, (int)len, 0)) {
		bad(&p, "", "trailing data after the JSON object");
		return STEPUP_EBADREQ;
	}
	const su_decoder *dec = p.sc->dec;
	for (uint32_t k = 0; k < dec->nrequired; k++)
		if (!SU_PRESENT(r, dec->required[k])) {
			bad(&p, SU_FPATH(p.sc, dec->required[k]), "required");
			return STEPUP_EBADREQ;
		}
	fill(&p);
	r->ok = 1;
	return STEPUP_OK;
}

/* A decoded request is its slots and its buffer (normalised strings, the
 * text the slots point into, string defaults): the same bytes under an
 * engine whose ruleset has the same schema (fingerprint: fields, slots,
 * code bits) decode to the same slots, so they are copied, not decoded
 * again (shadow mode decides every request twice). */
int stepup_request_copy(stepup_request *dst, const stepup_request *src, const stepup_engine *e)
{
	if (!dst || !src || !e || dst == src || !src->ok || !src->rs ||
	    memcmp(src->rs->schema->fingerprint, e->rs->schema->fingerprint, 32) != 0)
		return STEPUP_EINVAL;
	size_t used = src->defaults_at;
	if (slots_for(dst, src->nslots) < 0)
		return STEPUP_ENOMEM;
	if (used <= SU_INLINE_BYTES) {
		dst->buf = dst->inline_buf;
	} else {
		if (dst->heapcap < used) {
			char *b = realloc(dst->heap, used);
			if (!b)
				return STEPUP_ENOMEM;
			dst->heap = b;
			dst->heapcap = used;
		}
		dst->buf = dst->heap;
	}
	memcpy(dst->buf, src->buf, used);
	memcpy(dst->f, src->f, src->nslots * sizeof(*dst->f));
	memcpy(dst->has, src->has, src->nslots);
	dst->norm_used = src->norm_used;
	dst->defaults_at = src->defaults_at;
	dst->unknown_reasons = src->unknown_reasons;
	dst->err_field[0] = '\0';
	dst->engine = e->serial;
	dst->rs = e->rs;
	dst->ok = 1;
	return STEPUP_OK;
}

/* ---- wiping ---------------------------------------------------------------- */

/* Every copy of request text and every decoded value the object holds:
 * the inline and heap buffers (the normalised strings, the text, the
 * string defaults), the slots and their presence bits, the token scratch
 * and the error field. explicit_bzero: the compiler may not drop it as a
 * dead store. The object stays usable; it holds no request until the next
 * parse. */
void stepup_request_wipe(stepup_request *r)
{
	if (!r)
		return;
	explicit_bzero(r->inline_buf, sizeof(r->inline_buf));
	if (r->heap)
		explicit_bzero(r->heap, r->heapcap);
	explicit_bzero(r->f_inline, sizeof(r->f_inline));
	explicit_bzero(r->has_inline, sizeof(r->has_inline));
	if (r->fheap)
		explicit_bzero(r->fheap, (size_t)r->slotcap * sizeof(*r->fheap));
	if (r->hasheap)
		explicit_bzero(r->hasheap, r->slotcap);
	if (r->toks)
		explicit_bzero(r->toks, (size_t)r->ntoks * sizeof(su_jtok));
	explicit_bzero(r->err_field, sizeof(r->err_field));
	r->ok = 0;
	r->unknown_reasons = 0;
	r->buf = r->inline_buf;
	r->norm_used = 0;
	r->defaults_at = 0;
}
