/* spec.c: MDES requests against the spec's field table (spec.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <stepup/stepup.h>

#include "spec.h"

typedef struct chk {
	const mdes_spec_row *row;
	const char **code;
	char *field;
	size_t fieldlen;
	char *why;
	size_t whylen;
} chk;

/* Characters (code points) of UTF-8 text, as JSON Schema counts lengths. */
static size_t chars(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xc0) != 0x80;
	return c;
}

/* Values that are ciphertext or digests: never a card number by the
 * policy (long hex with a letter), and scanning them is wasted work. */
static int is_binary(const char *path)
{
	const char *last = strrchr(path, '.');
	last = last ? last + 1 : path;
	return strcmp(last, "encryptedData") == 0 || strcmp(last, "encryptedKey") == 0 ||
	       strcmp(last, "tag") == 0 || strcmp(last, "aad") == 0 || strcmp(last, "iv") == 0;
}

/* E.164-like fields: a 13 or 14 digit Luhn-valid run is what real mobile
 * numbers are; only card numbers of 15 digits or more are refused there
 * (docs/pci.md, the phone refinement). */
static int is_phone(const char *path)
{
	const char *last = strrchr(path, '.');
	last = last ? last + 1 : path;
	return strcmp(last, "msisdn") == 0 || strcmp(last, "phoneNumber") == 0 ||
	       strcmp(last, "mobileNumberSuffix") == 0;
}

static int holds_card(const char *path, const char *s, size_t n)
{
	size_t a, b;
	if (is_binary(path) || !stepup_card_number_find(s, n, &a, &b))
		return 0;
	if (!is_phone(path))
		return 1;
	size_t digits = 0;
	for (size_t i = a; i < b; i++)
		digits += s[i] >= '0' && s[i] <= '9';
	return digits >= 15;
}

static int bad(chk *c, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(chk *c, const char *code, const char *fmt, ...)
{
	va_list ap;
	char msg[192];
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*c->code = code;
	snprintf(c->why, c->whylen, "%s %s", c->field, msg);
	return -1;
}

static int check_string(chk *c, json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v), k = chars(s, n);
	if (strlen(s) != n)
		return bad(c, "INVALID_FIELD_FORMAT", "holds a NUL character");
	if ((long long)k < c->row->min || (long long)k > c->row->max) {
		if (c->row->min == c->row->max)
			return bad(c, "INVALID_FIELD_LENGTH", "must be %lld characters long", c->row->min);
		return bad(c, "INVALID_FIELD_LENGTH", "must be %lld to %lld characters long", c->row->min,
		           c->row->max);
	}
	if (holds_card(c->row->path, s, n))
		return bad(c, "INVALID_FIELD_VALUE", "holds a card number: refused, and not kept");
	return 0;
}

/* The value at the end of the row's path. */
static int check_value(chk *c, json_t *v)
{
	char num[48];
	switch (c->row->kind) {
	case MDES_STR:
		if (!json_is_string(v))
			return bad(c, "INVALID_FIELD_FORMAT", "must be a string");
		return check_string(c, v);
	case MDES_INT:
	case MDES_NUM:
		if (c->row->kind == MDES_INT ? !json_is_integer(v) : !json_is_number(v))
			return bad(c, "INVALID_FIELD_FORMAT", "must be %s",
			           c->row->kind == MDES_INT ? "an integer" : "a number");
		if (json_number_value(v) < (double)c->row->min || json_number_value(v) > (double)c->row->max)
			return bad(c, "INVALID_FIELD_VALUE", "must be from %lld to %lld", c->row->min, c->row->max);
		snprintf(num, sizeof(num), "%.17g", json_number_value(v));
		if (holds_card(c->row->path, num, strlen(num)))
			return bad(c, "INVALID_FIELD_VALUE", "holds a card number: refused, and not kept");
		return 0;
	case MDES_OBJ:
		return json_is_object(v) ? 0 : bad(c, "INVALID_FIELD_FORMAT", "must be an object");
	case MDES_ARR_OBJ:
		return json_is_array(v) ? 0 : bad(c, "INVALID_FIELD_FORMAT", "must be an array of objects");
	case MDES_OBJ_OR_ARR:
		return json_is_object(v) || json_is_array(v)
		               ? 0
		               : bad(c, "INVALID_FIELD_FORMAT", "must be an object or an array of objects");
	case MDES_ARR_STR: {
		if (!json_is_array(v))
			return bad(c, "INVALID_FIELD_FORMAT", "must be an array of strings");
		size_t i, len = strlen(c->field);
		json_t *e;
		json_array_foreach(v, i, e) {
			snprintf(c->field + len, c->fieldlen - len, "[%zu]", i);
			if (!json_is_string(e))
				return bad(c, "INVALID_FIELD_FORMAT", "must be a string");
			const char *s = json_string_value(e);
			if (json_string_length(e) == 0 || strlen(s) != json_string_length(e))
				return bad(c, "INVALID_FIELD_FORMAT", "must be a non-empty string");
			if (holds_card(c->row->path, s, json_string_length(e)))
				return bad(c, "INVALID_FIELD_VALUE", "holds a card number: refused, and not kept");
		}
		c->field[len] = '\0';
		return 0;
	}
	}
	return 0;
}

/* Walk path (the rest of the row's path) from obj; field holds the path
 * walked so far, with array indexes. */
static int walk(chk *c, json_t *obj, const char *path)
{
	char seg[96];
	size_t n = strcspn(path, ".");
	int arr = n >= 2 && path[n - 2] == '[' && path[n - 1] == ']';
	size_t name = arr ? n - 2 : n;
	if (name >= sizeof(seg))
		return 0;
	memcpy(seg, path, name);
	seg[name] = '\0';
	size_t len = strlen(c->field);
	snprintf(c->field + len, c->fieldlen - len, "%s%s", len ? "." : "", seg);
	json_t *v = json_object_get(obj, seg);
	int rc = 0;
	if (path[n] == '\0') {
		/* The row's own field. null reads as absent (MDES omits, some
		 * senders write null). */
		if (!v || json_is_null(v))
			rc = c->row->required ? bad(c, "MISSING_REQUIRED_FIELD", "is required") : 0;
		else
			rc = check_value(c, v);
	} else if (v && arr && json_is_array(v)) {
		size_t i, flen = strlen(c->field);
		json_t *e;
		json_array_foreach(v, i, e) {
			snprintf(c->field + flen, c->fieldlen - flen, "[%zu]", i);
			if (!json_is_object(e)) {
				rc = bad(c, "INVALID_FIELD_FORMAT", "must be an object");
				break;
			}
			if ((rc = walk(c, e, path + n + 1)) < 0)
				break;
			c->field[flen] = '\0';
		}
	} else if (v && !arr && json_is_object(v)) {
		rc = walk(c, v, path + n + 1);
	}
	/* An absent or mistyped parent is its own row's business. */
	if (rc == 0)
		c->field[len] = '\0';
	return rc;
}

int mdes_spec_check(mdes_op op, json_t *root, const char **code, char *field, size_t fieldlen,
                    char *why, size_t whylen)
{
	const mdes_spec_op *o = &mdes_spec_ops[op];
	chk c = { NULL, code, field, fieldlen, why, whylen };
	for (size_t i = 0; i < o->nrows; i++) {
		c.row = &o->rows[i];
		field[0] = '\0';
		if (walk(&c, root, c.row->path) < 0)
			return -1;
	}
	field[0] = '\0';
	return 0;
}
