/* pci_spell.c: see pci_spell.h. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pci_spell.h"

/* The separator of each grouped spelling ('\0': not grouped). */
static const char group_sep[PCI_NSPELLINGS] = {
	[PCI_SP_DASH] = '-', [PCI_SP_SPACE] = ' ', [PCI_SP_SLASH] = '/', [PCI_SP_COLON] = ':',
	[PCI_SP_PLUS] = '+', [PCI_SP_DOT] = '.', [PCI_SP_UNDERSCORE] = '_',
};

const char *pci_spelling_name(int sp)
{
	static const char *const names[PCI_NSPELLINGS] = {
		[PCI_SP_PLAIN] = "plain", [PCI_SP_DWSPMC] = "DWSPMC<pan>",
		[PCI_SP_DASH] = "grouped '-'", [PCI_SP_SPACE] = "grouped ' '",
		[PCI_SP_SLASH] = "grouped '/'", [PCI_SP_COLON] = "grouped ':'",
		[PCI_SP_PLUS] = "grouped '+'", [PCI_SP_DOT] = "grouped '.'",
		[PCI_SP_UNDERSCORE] = "grouped '_'", [PCI_SP_REQ] = "req<pan>",
		[PCI_SP_X] = "<pan>x", [PCI_SP_EMAIL] = "jane<pan>@example.com",
	};
	return sp >= 0 && sp < PCI_NSPELLINGS ? names[sp] : "(unknown spelling)";
}

/* Printed groups: 4-6-5 for 15 digits (American Express), else fours. */
static void grouped(const char *pan, char sep, char *out, size_t outlen)
{
	size_t n = strlen(pan), o = 0;
	for (size_t i = 0; i < n && o + 2 < outlen; i++) {
		int cut = n == 15 ? (i == 4 || i == 10) : (i > 0 && i % 4 == 0);
		if (cut)
			out[o++] = sep;
		out[o++] = pan[i];
	}
	out[o] = '\0';
}

void pci_spell(const char *pan, int sp, char *out, size_t outlen)
{
	switch (sp) {
	case PCI_SP_DWSPMC:
		snprintf(out, outlen, "DWSPMC%s", pan);
		break;
	case PCI_SP_REQ:
		snprintf(out, outlen, "req%s", pan);
		break;
	case PCI_SP_X:
		snprintf(out, outlen, "%sx", pan);
		break;
	case PCI_SP_EMAIL:
		snprintf(out, outlen, "jane%s@example.com", pan);
		break;
	default:
		if (sp > 0 && sp < PCI_NSPELLINGS && group_sep[sp])
			grouped(pan, group_sep[sp], out, outlen);
		else
			snprintf(out, outlen, "%s", pan);
		break;
	}
}

static int hexval(unsigned char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The separator at d[i], unescaped: the byte, %XX, \/ or \u00XX. */
static int sep_at(const unsigned char *d, size_t len, size_t i)
{
	if (d[i] == '%' && i + 2 < len && hexval(d[i + 1]) >= 0 && hexval(d[i + 2]) >= 0)
		return hexval(d[i + 1]) * 16 + hexval(d[i + 2]);
	if (d[i] == '\\' && i + 1 < len && d[i + 1] == '/')
		return '/';
	if (d[i] == '\\' && i + 5 < len && d[i + 1] == 'u' && hexval(d[i + 4]) >= 0 &&
	    hexval(d[i + 5]) >= 0)
		return hexval(d[i + 4]) * 16 + hexval(d[i + 5]);
	return d[i];
}

static int ends_with(const unsigned char *d, size_t off, const char *w)
{
	size_t n = strlen(w);
	return off >= n && strncasecmp((const char *)d + off - n, w, n) == 0;
}

int pci_spelling_guess(const unsigned char *d, size_t len, size_t off, size_t end)
{
	for (size_t i = off; i < end; i++)
		if (!isdigit(d[i])) {
			int c = sep_at(d, len, i);
			for (int sp = 0; sp < PCI_NSPELLINGS; sp++)
				if (group_sep[sp] && group_sep[sp] == c)
					return sp;
			return -1;
		}
	if (ends_with(d, off, "DWSPMC"))
		return PCI_SP_DWSPMC;
	if (ends_with(d, off, "req"))
		return PCI_SP_REQ;
	if (ends_with(d, off, "jane"))
		return PCI_SP_EMAIL;
	if (end < len && d[end] == 'x')
		return PCI_SP_X;
	return PCI_SP_PLAIN;
}

void pci_url_encode(const char *s, int all, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < outlen; p++) {
		if (!all && (isalnum(*p) || strchr("-._~", *p))) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}
