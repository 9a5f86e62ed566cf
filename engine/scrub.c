/* scrub.c: free text made safe to log. Card numbers (the one policy of
 * cardnum.c), e-mail addresses and phone numbers written in international
 * form are replaced by a marker naming what was there. Used on text whose
 * origin the host does not control: plugin log lines and error strings,
 * messages of third-party libraries, anything a log sink writes that did
 * not come from the host's own format strings. */
#include <string.h>

#include <stepup/stepup.h>

#include "cardnum.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int email_local(char c)
{
	return is_alnum(c) || (c && strchr("._%+-'!#$&*/=?^`{|}~", c));
}

static int email_domain(char c)
{
	return is_alnum(c) || c == '.' || c == '-';
}

/* First e-mail address at or after s: local@domain, both non-empty. */
static int email_find(const char *s, size_t n, size_t *start, size_t *end)
{
	for (size_t a = 0; a < n; a++) {
		if (s[a] != '@')
			continue;
		size_t l = a, r = a + 1;
		while (l > 0 && email_local(s[l - 1]))
			l--;
		while (r < n && email_domain(s[r]))
			r++;
		if (l < a && r > a + 1) {
			*start = l;
			*end = r;
			return 1;
		}
	}
	return 0;
}

/* First phone number in international form: '+', then 7 to 15 digits with
 * spaces, dashes, dots or parentheses between them. */
static int phone_find(const char *s, size_t n, size_t *start, size_t *end)
{
	for (size_t p = 0; p < n; p++) {
		if (s[p] != '+')
			continue;
		size_t q = p + 1, digits = 0, last = p;
		while (q < n && (is_digit(s[q]) || strchr(" -.()", s[q]))) {
			if (is_digit(s[q])) {
				digits++;
				last = q;
			}
			q++;
		}
		if (digits >= 7 && digits <= 15 && p + 1 < n && (is_digit(s[p + 1]) || s[p + 1] == '(')) {
			*start = p;
			*end = last + 1;
			return 1;
		}
	}
	return 0;
}

static void put(char *out, size_t size, size_t *o, const char *s, size_t len)
{
	if (*o < size) {
		size_t k = size - 1 - *o < len ? size - 1 - *o : len;
		memcpy(out + *o, s, k);
	}
	*o += len;
}

size_t stepup_scrub(const char *text, size_t len, unsigned what, char *out, size_t size)
{
	static const struct {
		unsigned flag;
		const char *marker;
	} kinds[] = {
		{ STEPUP_SCRUB_CARD, "[card number]" },
		{ STEPUP_SCRUB_PHONE, "[phone]" },
		{ STEPUP_SCRUB_EMAIL, "[e-mail]" },
	};
	size_t o = 0, p = 0;

	if (!text)
		len = 0;
	while (p < len) {
		size_t best_s = len, best_e = len, s, e;
		int best = -1;
		for (int k = 0; k < 3; k++) {
			int hit = 0;
			if (!(what & kinds[k].flag))
				continue;
			if (kinds[k].flag == STEPUP_SCRUB_CARD)
				hit = su_card_find(text + p, len - p, &s, &e);
			else if (kinds[k].flag == STEPUP_SCRUB_PHONE)
				hit = phone_find(text + p, len - p, &s, &e);
			else
				hit = email_find(text + p, len - p, &s, &e);
			if (hit && p + s < best_s) {
				best = k;
				best_s = p + s;
				best_e = p + e;
			}
		}
		if (best < 0)
			break;
		put(out, size, &o, text + p, best_s - p);
		put(out, size, &o, kinds[best].marker, strlen(kinds[best].marker));
		p = best_e;
	}
	put(out, size, &o, text + p, len - p);
	if (size)
		out[o < size ? o : size - 1] = '\0';
	return o;
}
