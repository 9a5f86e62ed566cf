/* diag.c: diagnostics queue and the compiler-style renderer. */
#include "diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/cardnum.h"

void su_diags_init(su_diags *d)
{
	memset(d, 0, sizeof(*d));
}

void su_diags_fini(su_diags *d)
{
	for (size_t i = 0; i < d->nsrc; i++) {
		free(d->src[i].name);
		free(d->src[i].text);
		free(d->src[i].line_at);
	}
	free(d->src);
	for (size_t i = 0; i < d->n; i++)
		free((char *)d->items[i].message);
	free(d->items);
	memset(d, 0, sizeof(*d));
}

int su_diags_add_source(su_diags *d, const char *name, const char *text, size_t len)
{
	if (d->nsrc == d->capsrc) {
		size_t cap = d->capsrc ? d->capsrc * 2 : 4;
		su_source *s = realloc(d->src, cap * sizeof(*s));
		if (!s)
			return -1;
		d->src = s;
		d->capsrc = cap;
	}
	su_source *s = &d->src[d->nsrc];
	s->name = strdup(name);
	s->text = malloc(len + 1);
	if (!s->name || !s->text) {
		free(s->name);
		free(s->text);
		return -1;
	}
	memcpy(s->text, text, len);
	s->text[len] = '\0';
	s->len = len;
	s->line_at = NULL;
	s->nlines = 0;
	s->builtin = 0;
	const char *slash = strrchr(s->name, '/');
	s->base = slash ? (char *)slash + 1 : s->name;
	return (int)d->nsrc++;
}

void su_vdiag(su_diags *d, stepup_severity sev, su_loc loc, const char *fmt, va_list ap)
{
	char raw[512], msg[512];

	/* A message may quote source text (a name, a bad number): it must not
	 * carry a card number out (docs/pci.md). */
	vsnprintf(raw, sizeof(raw), fmt, ap);
	stepup_scrub(raw, strlen(raw), STEPUP_SCRUB_CARD, msg, sizeof(msg));
	if (sev == STEPUP_DIAG_ERROR)
		d->nerrors++;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		stepup_diag *it = realloc(d->items, cap * sizeof(*it));
		if (!it) {
			d->oom = 1;
			return;
		}
		d->items = it;
		d->cap = cap;
	}
	char *m = strdup(msg);
	if (!m) {
		d->oom = 1;
		return;
	}
	d->items[d->n++] = (stepup_diag){
		.severity = sev,
		.file = loc.file < d->nsrc ? d->src[loc.file].name : "<input>",
		.line = loc.first_line, .col = loc.first_col,
		.end_line = loc.last_line, .end_col = loc.last_col,
		.message = m,
	};
}

void su_diag(su_diags *d, stepup_severity sev, su_loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	su_vdiag(d, sev, loc, fmt, ap);
	va_end(ap);
}

static const char *sev_name(stepup_severity s)
{
	switch (s) {
	case STEPUP_DIAG_ERROR: return "error";
	case STEPUP_DIAG_WARNING: return "warning";
	default: return "note";
	}
}

/* Index the line starts once: explain texts are cut for every test of
 * every rule, and scanning from the top each time is quadratic. */
static void index_lines(const su_source *cs)
{
	su_source *s = (su_source *)cs;
	size_t n = 1;

	if (s->line_at)
		return;
	for (size_t i = 0; i < s->len; i++)
		n += s->text[i] == '\n';
	s->line_at = malloc(n * sizeof(size_t));
	if (!s->line_at)
		return;
	s->line_at[0] = 0;
	s->nlines = 1;
	for (size_t i = 0; i < s->len; i++)
		if (s->text[i] == '\n')
			s->line_at[s->nlines++] = i + 1;
}

/* Start of 1-based line `line` in src, and its length without newline. */
static const char *find_line(const su_source *s, unsigned line, size_t *len)
{
	index_lines(s);
	if (!s->line_at || line == 0 || line > s->nlines)
		return NULL;
	const char *p = s->text + s->line_at[line - 1], *end = s->text + s->len;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	*len = nl ? (size_t)(nl - p) : (size_t)(end - p);
	return p;
}

/* Overwrite the digits of every card number in s[0..n) with '*': the
 * rendering quotes source lines and file names, and the carets under them
 * must keep their columns, so the text keeps its length. */
static void mask_cards(char *s, size_t n)
{
	size_t at = 0, a, b;
	while (at < n && su_card_find(s + at, n - at, &a, &b)) {
		for (size_t k = at + a; k < at + b; k++)
			if (s[k] >= '0' && s[k] <= '9')
				s[k] = '*';
		at += b;
	}
}

static size_t render(const su_diags *d, size_t i, char *buf, size_t size);

size_t su_diag_render(const su_diags *d, size_t i, char *buf, size_t size)
{
	size_t need = render(d, i, NULL, 0);
	char *tmp = malloc(need + 1);

	if (!tmp) {  /* mask what fits: the length is the same either way */
		render(d, i, buf, size);
		if (size)
			mask_cards(buf, strlen(buf));
		return need;
	}
	render(d, i, tmp, need + 1);
	mask_cards(tmp, need);
	if (size) {
		size_t k = need < size ? need : size - 1;
		memcpy(buf, tmp, k);
		buf[k] = '\0';
	}
	free(tmp);
	return need;
}

static size_t render(const su_diags *d, size_t i, char *buf, size_t size)
{
	const stepup_diag *g;
	size_t out = 0;
	int n;

#define EMIT(...)                                                     \
	do {                                                              \
		n = snprintf(buf ? buf + (out < size ? out : size) : NULL,    \
		             out < size ? size - out : 0, __VA_ARGS__);       \
		if (n > 0)                                                    \
			out += (size_t)n;                                         \
	} while (0)

	if (i >= d->n) {
		if (size)
			buf[0] = '\0';
		return 0;
	}
	g = &d->items[i];
	if (g->line == 0)  /* about the whole file: no position to give */
		EMIT("%s: %s: %s\n", g->file, sev_name(g->severity), g->message);
	else
		EMIT("%s:%u:%u: %s: %s\n", g->file, g->line, g->col, sev_name(g->severity), g->message);

	const su_source *s = NULL;
	for (size_t k = 0; k < d->nsrc; k++)
		if (d->src[k].name == g->file)
			s = &d->src[k];
	size_t llen;
	const char *line = s && g->line ? find_line(s, g->line, &llen) : NULL;
	if (line) {
		if (llen > 200)
			llen = 200;
		EMIT("  %.*s\n  ", (int)llen, line);
		for (unsigned c = 1; c < g->col && c <= llen; c++)
			EMIT("%c", line[c - 1] == '\t' ? '\t' : ' ');
		unsigned last = g->end_line == g->line && g->end_col >= g->col ? g->end_col : g->col;
		if (last > llen)
			last = (unsigned)llen > g->col ? (unsigned)llen : g->col;
		EMIT("^");
		for (unsigned c = g->col + 1; c <= last; c++)
			EMIT("~");
		EMIT("\n");
	}
#undef EMIT
	return out;
}

char *su_loc_text(const su_diags *d, su_loc loc)
{
	if (loc.file >= d->nsrc)
		return strdup("");
	const su_source *s = &d->src[loc.file];
	size_t l1, l2;
	const char *a = find_line(s, loc.first_line, &l1);
	const char *b = find_line(s, loc.last_line, &l2);
	if (!a || !b)
		return strdup("");
	const char *from = a + (loc.first_col ? loc.first_col - 1 : 0);
	const char *to = b + loc.last_col;  /* exclusive */
	if (to > s->text + s->len)
		to = s->text + s->len;
	if (to < from)
		to = from;
	char *out = malloc((size_t)(to - from) + 1), *o = out;
	if (!out)
		return NULL;
	int space = 0;
	for (const char *p = from; p < to; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			space = 1;
			continue;
		}
		if (*p == '#') {  /* comment inside a multi-line span */
			while (p < to && *p != '\n')
				p++;
			space = 1;
			continue;
		}
		if (space && o != out)
			*o++ = ' ';
		space = 0;
		*o++ = *p;
	}
	*o = '\0';
	return out;
}
