/* plugin_text.c: see plugin_text.h. */
#include <string.h>

#include "plugin_text.h"

int spc_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int spc_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

int spc_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

int spc_same_ci(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (spc_lower((unsigned char)*a) != spc_lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

int spc_is_language(const char *s)
{
	size_t n = 0;
	while (spc_is_alpha(s[n]))
		n++;
	if (n < 2 || n > 3)
		return 0;
	s += n;
	while (*s == '-') {
		s++;
		n = 0;
		while (spc_is_alpha(s[n]) || spc_is_digit(s[n]))
			n++;
		if (n < 1 || n > 8)
			return 0;
		s += n;
	}
	return *s == '\0';
}

int spc_is_line(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int spc_is_text(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\n' && *s != '\r' && *s != '\t') || *s == 0x7f)
			return 0;
	return 1;
}

int spc_is_utf8(const char *s, size_t max)
{
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		unsigned c = *p;
		size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 9;
		if (k == 9 || (k == 1 && c < 0xc2) || (k == 3 && c > 0xf4))
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((p[j] & 0xc0) != 0x80)
				return 0;
		p += k + 1;
		n += k + 1;
		if (n > max)
			return 0;
	}
	return 1;
}

int spc_is_token(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return 0;
	return n >= 1 && n <= max;
}

int spc_is_header_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!spc_is_alpha(*s) && !spc_is_digit(*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

int spc_is_path(const char *s)
{
	return s[0] == '/' && spc_is_line(s);
}

int spc_is_any(const char *s)
{
	return *s != '\0';
}

int spc_is_e164(const char *s)
{
	if (!s || s[0] != '+' || s[1] < '1' || s[1] > '9')
		return 0;
	size_t n = 0;
	for (s++; *s; s++, n++)
		if (!spc_is_digit(*s))
			return 0;
	return n >= 7 && n <= 15;
}

int spc_is_e164_prefix(const char *s)
{
	if (!s || s[0] != '+' || !s[1])
		return 0;
	size_t n = 0;
	for (s++; *s; s++, n++)
		if (!spc_is_digit(*s))
			return 0;
	return n <= 14;
}

int spc_has_prefix(const char *number, char *const *prefixes, size_t n)
{
	if (n == 0)
		return 1;
	for (size_t k = 0; k < n; k++)
		if (strncmp(number, prefixes[k], strlen(prefixes[k])) == 0)
			return 1;
	return 0;
}
