/* mask.c: the only forms in which contact data leaves the engine.
 *   phone  +14155551234          -> +1 *** *** 1234
 *   email  jane.doe@example.com  -> ja******@example.com
 * Both keep just enough for the end user to recognise their own contact;
 * a phone of fewer than 7 digits is shown as *** only. */
#include <stdio.h>
#include <string.h>

#include <stepup/stepup.h>

/* ITU-T E.164 country codes of one and two digits; all others have three. */
static unsigned cc_len(const char *d, size_t n)
{
	static const char two[][3] = {
		"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44",
		"45", "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58",
		"60", "61", "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91",
		"92", "93", "94", "95", "98",
	};
	if (n >= 1 && (d[0] == '1' || d[0] == '7'))
		return 1;
	if (n >= 2)
		for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++)
			if (d[0] == two[i][0] && d[1] == two[i][1])
				return 2;
	return 3;
}

size_t stepup_mask_phone(const char *phone, size_t len, char *buf, size_t size)
{
	char digits[32];
	size_t n = 0;
	int plus = 0, k;

	for (size_t i = 0; i < len && n < sizeof(digits); i++) {
		if (phone[i] >= '0' && phone[i] <= '9')
			digits[n++] = phone[i];
		else if (phone[i] == '+' && n == 0)
			plus = 1;
	}
	if (n < 7) {  /* too short to show four digits without showing it all */
		k = snprintf(buf, size, "***");
	} else {
		unsigned cc = plus ? cc_len(digits, n) : 0;
		if (cc + 4 >= n)
			cc = 0;
		if (cc)
			k = snprintf(buf, size, "+%.*s *** *** %.4s", (int)cc, digits, digits + n - 4);
		else
			k = snprintf(buf, size, "*** *** %.4s", digits + n - 4);
	}
	return k < 0 ? 0 : (size_t)k;
}

/* Length in bytes of the UTF-8 sequence starting with c. */
static size_t u8len(unsigned char c)
{
	return c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
}

size_t stepup_mask_email(const char *email, size_t len, char *buf, size_t size)
{
	const char *at = memchr(email, '@', len);
	size_t local = at ? (size_t)(at - email) : len, chars = 0, keep_bytes = 0, out = 0;

	for (size_t i = 0; i < local; i += u8len((unsigned char)email[i]))
		chars++;
	size_t keep = chars >= 3 ? 2 : chars == 2 ? 1 : 0;
	for (size_t i = 0, c = 0; c < keep && i < local; c++)
		keep_bytes = i += u8len((unsigned char)email[i]);
	if (keep_bytes > local)
		keep_bytes = local;

#define PUT(ch)                      \
	do {                             \
		if (out + 1 < size)          \
			buf[out] = (ch);         \
		out++;                       \
	} while (0)
	for (size_t i = 0; i < keep_bytes; i++)
		PUT(email[i]);
	for (size_t i = keep; i < (chars ? chars : 1); i++)
		PUT('*');
	if (at)
		for (const char *p = at; p < email + len; p++)
			PUT(*p);
#undef PUT
	if (size)
		buf[out < size ? out : size - 1] = '\0';
	return out;
}
