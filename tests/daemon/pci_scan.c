/* pci_scan.c: see pci_scan.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pci_scan.h"

static const char seps[] = " -./:+_";

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_sep(int c)
{
	return c != 0 && strchr(seps, c) != NULL;
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* The length of the separator unit at d[i] (0: none): a separator, or
 * one escaped as %XX or as \/ or \u00XX. */
static size_t sep_unit(const unsigned char *d, size_t i, size_t len)
{
	if (i >= len)
		return 0;
	if (is_sep(d[i]))
		return 1;
	if (d[i] == '%' && i + 2 < len && hexval(d[i + 1]) >= 0 && hexval(d[i + 2]) >= 0 &&
	    is_sep(hexval(d[i + 1]) * 16 + hexval(d[i + 2])))
		return 3;
	if (d[i] == '\\' && i + 1 < len && d[i + 1] == '/')
		return 2;
	if (d[i] == '\\' && i + 5 < len && d[i + 1] == 'u' && d[i + 2] == '0' && d[i + 3] == '0' &&
	    hexval(d[i + 4]) >= 0 && hexval(d[i + 5]) >= 0 &&
	    is_sep(hexval(d[i + 4]) * 16 + hexval(d[i + 5])))
		return 6;
	return 0;
}

/* One run: digits separated by at most three units, starting at the
 * digit d[i]. Its digits and their offsets go to *digits / *offs (grown
 * as needed); returns how many. */
static size_t run_at(const unsigned char *d, size_t len, size_t i, char **digits, size_t **offs,
                     size_t *cap)
{
	size_t n = 0;
	for (;;) {
		if (n == *cap) {
			size_t c = *cap ? *cap * 2 : 64;
			char *nd = realloc(*digits, c);
			size_t *no = realloc(*offs, c * sizeof(**offs));
			if (nd)
				*digits = nd;
			if (no)
				*offs = no;
			if (!nd || !no)
				abort(); /* test code */
			*cap = c;
		}
		(*digits)[n] = (char)d[i];
		(*offs)[n++] = i++;
		size_t k = i, units = 0, u;
		while (units < 3 && (u = sep_unit(d, k, len)) > 0) {
			k += u;
			units++;
		}
		if (k < len && is_digit(d[k]))
			i = k;
		else
			return n;
	}
}

/* SQLite's big-endian INTEGER (in the size it would use: our numbers
 * need 6 or 8 bytes) and REAL forms of v. */
static size_t int_form(uint64_t v, unsigned char out[8])
{
	size_t n = v <= 0x7fffffffffffULL ? 6 : 8;
	for (size_t k = 0; k < n; k++)
		out[k] = (unsigned char)(v >> (8 * (n - 1 - k)));
	return n;
}

static void real_form(uint64_t v, unsigned char out[8])
{
	double x = (double)v;
	uint64_t bits;
	memcpy(&bits, &x, sizeof(bits));
	for (size_t k = 0; k < 8; k++)
		out[k] = (unsigned char)(bits >> (8 * (7 - k)));
}

size_t pci_scan(const char *const *pans, size_t npans, const void *data, size_t len, int binary,
                pci_hit_fn fn, void *arg)
{
	const unsigned char *d = data;
	char *digits = NULL;
	size_t *offs = NULL, cap = 0, hits = 0;
	int stop = 0;

	for (size_t i = 0; i < len && !stop;) {
		if (!is_digit(d[i])) {
			i++;
			continue;
		}
		size_t n = run_at(d, len, i, &digits, &offs, &cap);
		for (size_t p = 0; p < n && !stop; p++)
			for (size_t k = 0; k < npans && !stop; k++) {
				size_t pl = strlen(pans[k]);
				if (p + pl > n || memcmp(digits + p, pans[k], pl) != 0)
					continue;
				pci_hit h = { k, offs[p], offs[p + pl - 1] + 1, PCI_FORM_TEXT };
				hits++;
				stop = fn && fn(arg, d, len, &h);
			}
		i = offs[n - 1] + 1;
	}
	free(digits);
	free(offs);

	for (size_t k = 0; binary && k < npans && !stop; k++) {
		unsigned char forms[2][8];
		size_t flen[2] = { int_form(strtoull(pans[k], NULL, 10), forms[0]), 8 };
		real_form(strtoull(pans[k], NULL, 10), forms[1]);
		for (int f = 0; f < 2 && !stop; f++)
			for (const unsigned char *p = d; !stop && p < d + len &&
			     (p = memmem(p, len - (size_t)(p - d), forms[f], flen[f])); p++) {
				pci_hit h = { k, (size_t)(p - d), (size_t)(p - d) + flen[f],
				              f ? PCI_FORM_REAL : PCI_FORM_INT };
				hits++;
				stop = fn && fn(arg, d, len, &h);
			}
	}
	return hits;
}

void pci_excerpt(const void *data, size_t len, size_t off, size_t end, size_t ctx, char *out,
                 size_t outlen)
{
	const unsigned char *d = data;
	size_t from = off > ctx ? off - ctx : 0, to = end + ctx < len ? end + ctx : len;
	/* Runs are found from a little before the window, so one cut by its
	 * start is still masked. */
	size_t scan_from = from > 64 ? from - 64 : 0, o = 0;
	char *digits = NULL;
	size_t *offs = NULL, cap = 0;
	if (!outlen)
		return;
	if (to - from >= outlen)
		to = from + outlen - 1;
	for (size_t i = from; i < to; i++)
		out[o++] = d[i] >= 0x20 && d[i] < 0x7f ? (char)d[i] : '.';
	out[o] = '\0';
	for (size_t i = scan_from; i < to;) {
		if (!is_digit(d[i])) {
			i++;
			continue;
		}
		size_t n = run_at(d, len, i, &digits, &offs, &cap);
		for (size_t k = 4; n >= 9 && k + 4 < n; k++)
			if (offs[k] >= from && offs[k] < to)
				out[offs[k] - from] = '#';
		i = offs[n - 1] + 1;
	}
	free(digits);
	free(offs);
}

void pci_mask_pan(const char *pan, char *out, size_t outlen)
{
	size_t n = strlen(pan);
	if (n < 8)
		snprintf(out, outlen, "(short)");
	else
		snprintf(out, outlen, "%.4s\xe2\x80\xa6%s", pan, pan + n - 4);
}
