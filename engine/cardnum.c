/* cardnum.c: the one card-number policy of stepup (docs/pci.md).
 *
 * A card number is a run of 13 to 19 digits, unbroken or split into
 * groups by one to three separator characters (space - . / : + _), with
 * anything but a digit or a separator before and after it (letters too:
 * "DWSPMC4111111111111111" holds one), whose digits pass the Luhn check
 * and begin with the prefix a card network issues at that length.
 *
 * Within a run of groups every window of whole groups is a candidate, so
 * "4111 1111 1111 1111 0" or a card number followed by a date still holds
 * one, as long as a window of several groups is grouped the way cards
 * are printed: a first group of 4 digits, middle groups of 4 to 6, a last
 * group of 1 to 6 (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3). Without that, the
 * digits ending one UUID group and its 12-digit last group
 * ("...-88f4-861460384002"), or its first groups when they happen to be
 * all digits ("25575316-0573-1444-..."), made ids "card numbers".
 * A UUID (8-4-4-4-12 hexadecimal digits, the most common request id)
 * is not one either: its groups are not printed as cards are, yet about
 * one random UUID in ten thousand has all-digit middle groups that a
 * window would read as a Luhn-valid 4-4-4-5.
 * Nor is a run of 32 or more hexadecimal characters with a letter among
 * them: a digest (a ruleset revision, a schema fingerprint) holds a
 * Luhn-valid 13-19 digit run about once in 700.
 * A single unbroken run of more than 19 digits (a nanosecond
 * timestamp with a suffix, a 20+ digit reference) is not a card number,
 * nor is a run that fails Luhn or starts with a prefix no network issues
 * at its length (nanosecond timestamps start with 1, which only UATP
 * issues, at 15 digits).
 *
 * Every boundary asks this file: the request decoder, the lifecycle, the
 * daemon's handlers and logs, the plugin host. Nothing else in the tree
 * decides what a card number is. */
#include <stdint.h>
#include <string.h>

#include <stepup/stepup.h>

#include "cardnum.h"

#define SEP_RUN_MAX 3   /* separator characters allowed between two groups */
#define WINDOW_MAX 19   /* digits */

/* The group sizes of a card number printed in groups. */
static int printed(size_t len, int first, int last)
{
	if (first)
		return len == 4;
	return last ? len >= 1 && len <= 6 : len >= 4 && len <= 6;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A run of hexadecimal characters starting at i, standing alone (no
 * letter or digit around it): its length when it is a digest (32 or more,
 * a letter among them), else 0. */
static size_t digest_at(const char *s, size_t n, size_t i)
{
	size_t j = i;
	int letter = 0;
	if (i > 0 && is_alnum(s[i - 1]))
		return 0;
	while (j < n && is_hex(s[j])) {
		letter |= !is_digit(s[j]);
		j++;
	}
	if (j - i < 32 || !letter || (j < n && is_alnum(s[j])))
		return 0;
	return j - i;
}

/* A UUID at s[i..i+36), standing alone (no letter or digit around it). */
static int uuid_at(const char *s, size_t n, size_t i)
{
	if (n - i < 36 || (i > 0 && is_alnum(s[i - 1])) || (n - i > 36 && is_alnum(s[i + 36])))
		return 0;
	for (size_t k = 0; k < 36; k++) {
		int dash = k == 8 || k == 13 || k == 18 || k == 23;
		if (dash ? s[i + k] != '-' : !is_hex(s[i + k]))
			return 0;
	}
	return 1;
}

static int is_sep(char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '/' || c == ':' || c == '+' || c == '_';
}

/* Issuer identification number prefixes and the lengths issued under
 * them (ISO/IEC 7812 major industry identifiers 1-6, 8, 9 as the
 * networks use them; broad ranges where networks share a prefix). */
static const struct iin {
	uint32_t lo, hi;      /* prefix range, inclusive */
	uint8_t digits;       /* prefix length */
	uint8_t minlen, maxlen;
} iins[] = {
	{ 1, 1, 1, 15, 15 },          /* UATP */
	{ 2200, 2204, 4, 16, 19 },    /* Mir */
	{ 2205, 2205, 4, 16, 16 },    /* BORICA */
	{ 2221, 2720, 4, 16, 16 },    /* Mastercard 2-series */
	{ 300, 305, 3, 14, 19 },      /* Diners Club */
	{ 3095, 3095, 4, 14, 19 },    /* Diners Club */
	{ 34, 34, 2, 15, 15 },        /* American Express */
	{ 36, 36, 2, 14, 19 },        /* Diners Club */
	{ 37, 37, 2, 15, 15 },        /* American Express */
	{ 3528, 3589, 4, 16, 19 },    /* JCB, RuPay 353/356 */
	{ 38, 39, 2, 14, 19 },        /* Diners Club */
	{ 4, 4, 1, 13, 19 },          /* Visa, Visa Electron, Dankort */
	{ 50, 59, 2, 12, 19 },        /* Mastercard 51-55, Maestro, Verve, UzCard 5614 */
	{ 60, 69, 2, 12, 19 },        /* Discover, UnionPay, RuPay, Maestro, Troy, Verve */
	{ 81, 82, 2, 16, 19 },        /* UnionPay, RuPay */
	{ 8600, 8600, 4, 16, 16 },    /* UzCard */
	{ 9792, 9792, 4, 16, 16 },    /* Troy */
	{ 9860, 9860, 4, 16, 16 },    /* Humo */
};

static int iin_ok(const char *d, size_t n)
{
	for (size_t i = 0; i < sizeof(iins) / sizeof(iins[0]); i++) {
		const struct iin *e = &iins[i];
		uint32_t p = 0;
		if (n < e->minlen || n > e->maxlen)
			continue;
		for (unsigned k = 0; k < e->digits; k++)
			p = p * 10 + (uint32_t)(d[k] - '0');
		if (p >= e->lo && p <= e->hi)
			return 1;
	}
	return 0;
}

static int luhn_ok(const char *d, size_t n)
{
	unsigned sum = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned x = (unsigned)(d[n - 1 - k] - '0');
		if (k & 1) {
			x *= 2;
			if (x > 9)
				x -= 9;
		}
		sum += x;
	}
	return sum % 10 == 0;
}

int su_card_digits_ok(const char *digits, size_t n)
{
	return n >= 13 && n <= WINDOW_MAX && iin_ok(digits, n) && luhn_ok(digits, n);
}

/* One group of digits in the current run. */
typedef struct group {
	size_t start, end;
} group;

/* The windows of whole groups that end at group `last` (ring index) and
 * hold 13 to 19 digits. */
static int window_hit(const char *s, const group *ring, unsigned count, unsigned last, unsigned min,
                      size_t *start, size_t *end)
{
	char digits[WINDOW_MAX];
	size_t total = 0;
	int grouped = 1;  /* the window's groups after its first one are printed-like */

	/* Walk back from the newest group, prepending its digits. */
	for (unsigned k = 0; k < count; k++) {
		const group *g = &ring[(last + WINDOW_MAX + 1 - k) % (WINDOW_MAX + 1)];
		size_t len = g->end - g->start;
		if (total + len > WINDOW_MAX)
			return 0;
		memmove(digits + len, digits, total);
		memcpy(digits, s + g->start, len);
		total += len;
		if (total >= min && (k == 0 || (grouped && printed(len, 1, 0))) && su_card_digits_ok(digits, total)) {
			if (start)
				*start = g->start;
			if (end)
				*end = ring[last].end;
			return 1;
		}
		grouped = grouped && printed(len, 0, k == 0);
	}
	return 0;
}

int su_card_find(const char *s, size_t n, size_t *start, size_t *end)
{
	return su_card_find_min(s, n, 13, start, end);
}

int su_card_find_min(const char *s, size_t n, unsigned min_digits, size_t *start, size_t *end)
{
	size_t digits = 0;

	if (!s || n < min_digits)
		return 0;
	/* Most text holds fewer than 13 digits in all: one cheap pass, eight
	 * bytes at a time (a byte is a digit when it is 0x30..0x39). */
	size_t i0 = 0;
	for (; i0 + 8 <= n && digits < min_digits; i0 += 8) {
		uint64_t w, lo, hi;
		memcpy(&w, s + i0, 8);
		/* high bit of each byte: >= '0' and <= '9' (bytes < 0x80 only) */
		lo = (w | 0x8080808080808080ull) - 0x3030303030303030ull;
		hi = (0xb9b9b9b9b9b9b9b9ull - (w & 0x7f7f7f7f7f7f7f7full)) & ~w;
		digits += (size_t)__builtin_popcountll(lo & hi & 0x8080808080808080ull);
	}
	for (; i0 < n && digits < min_digits; i0++)
		digits += is_digit(s[i0]);
	if (digits < min_digits)
		return 0;

	group ring[WINDOW_MAX + 1];
	unsigned count = 0, last = 0;
	size_t i = 0;
	while (i < n) {
		if (is_hex(s[i]) && n - i >= 32 && (i == 0 || !is_alnum(s[i - 1]))) {
			size_t skip = uuid_at(s, n, i) ? 36 : digest_at(s, n, i);
			if (skip) {
				i += skip;
				count = 0;
				continue;
			}
		}
		if (!is_digit(s[i])) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < n && is_digit(s[j]))
			j++;
		/* A group longer than a card number ends every window through it. */
		if (j - i > WINDOW_MAX) {
			count = 0;
		} else {
			last = (last + 1) % (WINDOW_MAX + 1);
			ring[last] = (group){ i, j };
			if (count < WINDOW_MAX + 1)
				count++;
			if (window_hit(s, ring, count, last, min_digits < 13 ? 13 : min_digits, start, end))
				return 1;
		}
		/* Does the run go on: 1 to SEP_RUN_MAX separators, then a digit? */
		size_t k = j;
		while (k < n && k - j <= SEP_RUN_MAX && is_sep(s[k]))
			k++;
		if (!(k > j && k - j <= SEP_RUN_MAX && k < n && is_digit(s[k])))
			count = 0;
		i = k > j ? k : j;
	}
	return 0;
}

int stepup_card_number_find(const char *text, size_t len, size_t *start, size_t *end)
{
	return su_card_find(text, len, start, end);
}
