/* fmt.c: the canonical layout of a rule source (`stepup fmt`).
 *
 * The layout is a function of the parse, the comments and a few choices
 * the writer made, so formatting twice gives what formatting once gave,
 * and the result parses to the same declarations (fuzz/fuzz_fmt.c checks
 * both):
 *
 *   - declarations in source order, one per line (rules on three: `rule`,
 *     `when`, `then`, indented by 2); at most one blank line between
 *     them, where the source had one, and always one around a rule;
 *   - consecutive `method` or `let` lines with no blank line between them
 *     (comments allowed; a set closed on a line of its own ends the run)
 *     align what follows their names;
 *   - single spaces between tokens, `, ` in lists, parentheses only where
 *     they change the meaning, around an `and` inside an `or`, and around
 *     a comparison under `not`;
 *   - the writer's line breaks are kept (as gofmt keeps them) between the
 *     operands of a chain of `and` or `or`, between set members and
 *     between the items of a `field` line, and nowhere else. A broken
 *     chain puts its operator first on the new line: right-aligned under
 *     `when` in a rule, under `when` in a method, under the first operand
 *     inside parentheses. A set whose first member is on its own line
 *     lists its members 4 columns in and closes on a line of its own;
 *     otherwise continuation lines start under the first member;
 *   - every comment is kept, on its own line where it was on its own line,
 *     else at the end of the line of the token before it (two spaces
 *     before the '#', and aligned with the comments ending the lines next
 *     to it); a comment inside a declaration ends that line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "parse_ctx.h"
#include "../engine/jsonw.h"

typedef struct fmt {
	const struct srcx *src;
	const su_file *f;
	size_t nextc;            /* next comment to print */
	char *out;
	size_t len, cap;
	su_jw w;
	size_t line_start;       /* offset of the current output line */
	unsigned col;            /* bytes on the current output line */
	int content;             /* the current line has something but spaces */
	int closed;              /* it ends with a comment: nothing may follow */
	unsigned cont;           /* where a line broken by a comment goes on */
	size_t *tc;              /* output offsets of trailing comments' '#' */
	size_t ntc, captc;
} fmt;

/* ---- source lines ---------------------------------------------------- */

/* The source with an index of its lines (the formatter asks for lines
 * all the time: scanning from the start would make it quadratic). */
typedef struct srcx {
	const char *text;
	size_t len;
	size_t *line_at;         /* offset of line k + 1 */
	size_t nlines;
} srcx;

static int srcx_init(srcx *x, const su_source *s)
{
	size_t n = 1;
	for (size_t i = 0; i < s->len; i++)
		n += s->text[i] == '\n';
	x->text = s->text;
	x->len = s->len;
	x->nlines = n;
	if (!(x->line_at = malloc(n * sizeof(*x->line_at))))
		return -1;
	x->line_at[0] = 0;
	n = 1;
	for (size_t i = 0; i < s->len; i++)
		if (s->text[i] == '\n')
			x->line_at[n++] = i + 1;
	return 0;
}

/* The text of 1-based line `line` and its length (without the newline). */
static const char *src_line(const srcx *s, unsigned line, size_t *n)
{
	if (line == 0 || line > s->nlines)
		return NULL;
	size_t from = s->line_at[line - 1], to = line < s->nlines ? s->line_at[line] - 1 : s->len;
	*n = to - from;
	return s->text + from;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Line `line` holds only white space (a blank line). */
static int blank_line(const srcx *s, unsigned line)
{
	size_t n;
	const char *p = line ? src_line(s, line, &n) : NULL;
	if (!p)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_space(p[i]))
			return 0;
	return 1;
}

static int blank_before(const srcx *s, su_loc at)
{
	return at.first_line > 1 && blank_line(s, at.first_line - 1);
}

/* Something other than white space precedes `at` on its line. */
static int trailing(const srcx *s, su_loc at)
{
	size_t n;
	const char *p = src_line(s, at.first_line, &n);
	if (!p)
		return 0;
	for (unsigned i = 0; i + 1 < at.first_col && i < n; i++)
		if (!is_space(p[i]))
			return 1;
	return 0;
}

static int before(su_loc a, su_loc key)
{
	return a.first_line < key.first_line || (a.first_line == key.first_line && a.first_col < key.first_col);
}

/* ---- output ---------------------------------------------------------- */

static void put(fmt *p, const char *s, size_t n)
{
	su_jw_raw(&p->w, s, n);
	p->col += (unsigned)n;
	for (size_t i = 0; i < n && !p->content; i++)
		p->content = s[i] != ' ';
}

static void puts_(fmt *p, const char *s)
{
	put(p, s, strlen(s));
}

static void pad(fmt *p, unsigned n)
{
	static const char sp[] = "                                ";
	while (n) {
		unsigned k = n < sizeof(sp) - 1 ? n : (unsigned)sizeof(sp) - 1;
		put(p, sp, k);
		n -= k;
	}
}

/* Drop the spaces at the end of the current line. */
static void trim(fmt *p)
{
	while (p->len > p->line_start && p->out[p->len - 1] == ' ') {
		p->len--;
		p->col--;
	}
}

/* End the line; the next one starts `indent` columns in. */
static void nl(fmt *p, unsigned indent)
{
	trim(p);
	su_jw_raw(&p->w, "\n", 1);
	p->line_start = p->len;
	p->col = 0;
	p->content = 0;
	p->closed = 0;
	pad(p, indent);
}

/* The indentation of the current line. */
static unsigned line_indent(const fmt *p)
{
	unsigned n = 0;
	while (p->line_start + n < p->len && p->out[p->line_start + n] == ' ')
		n++;
	return n;
}

/* On a line with nothing on it yet, move to column `col`. */
static void at_col(fmt *p, unsigned col)
{
	trim(p);
	pad(p, col - p->col);
}

/* ---- comments -------------------------------------------------------- */

static void put_comment(fmt *p, const su_comment *c, unsigned indent)
{
	size_t n;
	const char *line = src_line(p->src, c->loc.first_line, &n);
	if (!line || c->loc.first_col == 0 || c->loc.first_col > n)
		return;
	const char *text = line + c->loc.first_col - 1;
	size_t len = n - (c->loc.first_col - 1);
	while (len && is_space(text[len - 1]))
		len--;
	if (trailing(p->src, c->loc) && p->content && !p->closed) {
		trim(p);
		put(p, "  ", 2);
		if (p->ntc == p->captc) {
			size_t cap = p->captc ? p->captc * 2 : 16;
			size_t *v = realloc(p->tc, cap * sizeof(*v));
			if (!v) {
				p->w.oom = 1;
				return;
			}
			p->tc = v;
			p->captc = cap;
		}
		p->tc[p->ntc++] = p->len;
	} else {
		if (p->content || p->closed)
			nl(p, indent);
		else
			at_col(p, indent);
	}
	put(p, text, len);
	p->closed = 1;
}

/* Print the comments before `key`, standalone ones `indent` columns in.
 * Returns how many. */
static int flush(fmt *p, su_loc key, unsigned indent)
{
	int k = 0;
	while (p->nextc < p->f->ncomments && before(p->f->comments[p->nextc].loc, key)) {
		put_comment(p, &p->f->comments[p->nextc++], indent);
		k++;
	}
	return k;
}

/* Comments before `key`, then, when there were any, a new line at the
 * continuation column: 1 when the line was broken. */
static int gap(fmt *p, su_loc key)
{
	if (!flush(p, key, p->cont))
		return 0;
	nl(p, p->cont);
	return 1;
}

/* ---- values and expressions --------------------------------------------- */

static void put_string(fmt *p, const char *s)
{
	put(p, "\"", 1);
	for (; *s; s++) {
		const char *esc = *s == '"' ? "\\\"" : *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : *s == '\t' ? "\\t" : NULL;
		if (esc)
			puts_(p, esc);
		else
			put(p, s, 1);
	}
	put(p, "\"", 1);
}

/* A decimal as written: printing the double back could change its text. */
static void put_float(fmt *p, const su_node *n)
{
	size_t len;
	const char *line = src_line(p->src, n->loc.first_line, &len);
	if (line && n->loc.first_line == n->loc.last_line && n->loc.first_col >= 1 &&
	    n->loc.last_col <= len && n->loc.last_col >= n->loc.first_col) {
		put(p, line + n->loc.first_col - 1, n->loc.last_col - n->loc.first_col + 1);
		return;
	}
	char buf[64];
	snprintf(buf, sizeof(buf), "%.17g", n->fval);
	puts_(p, buf);
}

static void print_value(fmt *p, const su_node *n);

static void print_set(fmt *p, const su_node *set)
{
	gap(p, set->loc);
	put(p, "{", 1);
	if (!set->a) {
		put(p, "}", 1);
		return;
	}
	unsigned save = p->cont;
	int open = set->a->loc.first_line > set->loc.first_line;
	unsigned base = line_indent(p), icol = open ? base + 4 : p->col;
	const su_node *prev = NULL;

	p->cont = icol;
	for (const su_node *it = set->a; it; prev = it, it = it->next) {
		if (prev)
			put(p, ",", 1);
		int brk = prev ? it->loc.first_line > prev->loc.last_line : open;
		if (flush(p, it->loc, icol) || brk)
			nl(p, icol);
		else if (prev)
			put(p, " ", 1);
		print_value(p, it);
	}
	if (open) {
		su_loc end = set->loc;
		end.first_line = end.last_line;
		end.first_col = end.last_col;
		flush(p, end, icol);
		nl(p, base);
	}
	put(p, "}", 1);
	p->cont = save;
}

static void print_value(fmt *p, const su_node *n)
{
	char buf[32];

	gap(p, n->loc);
	switch (n->kind) {
	case SU_N_FIELD:
	case SU_N_IDENT:
		puts_(p, n->text);
		return;
	case SU_N_INT:
		snprintf(buf, sizeof(buf), "%" PRId64, n->ival);
		puts_(p, buf);
		return;
	case SU_N_FLOAT:
		put_float(p, n);
		return;
	case SU_N_STRING:
		put_string(p, n->text);
		return;
	case SU_N_BOOL:
		puts_(p, n->ival ? "true" : "false");
		return;
	case SU_N_RANGE:
		print_value(p, n->a);
		put(p, "..", 2);
		print_value(p, n->b);
		return;
	case SU_N_SET:
		print_set(p, n);
		return;
	case SU_N_CALL:
		puts_(p, n->text);
		put(p, "(", 1);
		for (const su_node *a = n->a; a; a = a->next) {
			print_value(p, a);
			if (a->next)
				put(p, ", ", 2);
		}
		put(p, ")", 1);
		return;
	default:
		return;  /* conditions are not values */
	}
}

/* Where the operator of a broken chain goes: right-aligned so it ends at
 * `col` (a rule's `when`), or starting at `col`. */
typedef struct chain_style {
	unsigned col;
	int right;
} chain_style;

static void print_cond(fmt *p, const su_node *n, chain_style st);

static int is_chain(const su_node *n)
{
	return n->kind == SU_N_AND || n->kind == SU_N_OR;
}

/* A chain inside another expression, in parentheses; its own broken lines
 * start under its first operand. */
static void print_paren(fmt *p, const su_node *n)
{
	unsigned save = p->cont;
	put(p, "(", 1);
	p->cont = p->col;
	print_cond(p, n, (chain_style){ p->col, 0 });
	put(p, ")", 1);
	p->cont = save;
}

static void print_operand(fmt *p, const su_node *op, chain_style st)
{
	if (is_chain(op))
		print_paren(p, op);
	else
		print_cond(p, op, st);
}

/* (a and b) and c is one chain a, b, c: the parser nests to the left. */
static void print_chain(fmt *p, const su_node *x, su_node_kind kind, chain_style st)
{
	if (x->kind != kind) {
		print_operand(p, x, st);
		return;
	}
	print_chain(p, x->a, kind, st);

	const char *kw = kind == SU_N_AND ? "and" : "or";
	const su_node *prev = x->a->kind == kind ? x->a->b : x->a, *op = x->b;
	unsigned ocol = st.right ? st.col - (unsigned)strlen(kw) : st.col;
	/* Standalone comments between operands: under `when`, or under the
	 * operators. */
	unsigned ccol = st.right ? st.col - 4 : st.col;
	int brk = op->loc.first_line > prev->loc.last_line;

	if (flush(p, op->loc, ccol) || brk)
		nl(p, ocol);
	else
		put(p, " ", 1);
	puts_(p, kw);
	put(p, " ", 1);
	print_operand(p, op, st);
}

static void print_cond(fmt *p, const su_node *n, chain_style st)
{
	gap(p, n->loc);
	switch (n->kind) {
	case SU_N_AND:
	case SU_N_OR:
		print_chain(p, n, n->kind, st);
		return;
	case SU_N_NOT:
		puts_(p, "not ");
		if (is_chain(n->a) || n->a->kind == SU_N_CMP || n->a->kind == SU_N_IN || n->a->kind == SU_N_HAS ||
		    n->a->kind == SU_N_PRESENT)
			print_paren(p, n->a);
		else
			print_cond(p, n->a, st);
		return;
	case SU_N_CMP:
		print_value(p, n->a);
		put(p, " ", 1);
		puts_(p, su_cmp_text((su_cmp)n->ival));
		put(p, " ", 1);
		print_value(p, n->b);
		return;
	case SU_N_IN:
		print_value(p, n->a);
		puts_(p, n->ival ? " not in " : " in ");
		print_value(p, n->b);
		return;
	case SU_N_HAS:
		print_value(p, n->a);
		puts_(p, n->ival == SU_HAS_ANY ? " has any of " : n->ival == SU_HAS_ALL ? " has all of " : " has ");
		print_value(p, n->b);
		return;
	case SU_N_PRESENT:
		print_value(p, n->a);
		puts_(p, n->ival ? " is absent" : " is present");
		return;
	default:
		print_value(p, n);
	}
}

/* Align the trailing comments of consecutive lines, two spaces after the
 * longest line's code (gofmt does the same). Returns the new text or NULL
 * on OOM; frees the old one. */
static char *align_comments(const fmt *p, size_t *len)
{
	size_t extra = 0;
	size_t *want = calloc(p->ntc ? p->ntc : 1, sizeof(*want));
	if (!want)
		return NULL;
	for (size_t i = 0; i < p->ntc;) {
		/* A run: each comment on the line right after the previous one's. */
		size_t j = i + 1, width = 0;
		for (; j < p->ntc; j++) {
			const char *nl1 = memchr(p->out + p->tc[j - 1], '\n', p->tc[j] - p->tc[j - 1]);
			if (!nl1 || memchr(nl1 + 1, '\n', (size_t)(p->out + p->tc[j] - nl1 - 1)))
				break;
		}
		for (size_t k = i; k < j; k++) {
			size_t at = p->tc[k] - 2, start = at;
			while (start > 0 && p->out[start - 1] != '\n')
				start--;
			want[k] = at - start;
			if (want[k] > width)
				width = want[k];
		}
		for (size_t k = i; k < j; k++) {
			want[k] = width - want[k];
			extra += want[k];
		}
		i = j;
	}
	char *out = malloc(p->len + extra + 1), *o = out;
	if (out) {
		size_t from = 0;
		for (size_t k = 0; k < p->ntc; k++) {
			memcpy(o, p->out + from, p->tc[k] - from);
			o += p->tc[k] - from;
			memset(o, ' ', want[k]);
			o += want[k];
			from = p->tc[k];
		}
		memcpy(o, p->out + from, p->len - from);
		o += p->len - from;
		*o = '\0';
		*len = (size_t)(o - out);
	}
	free(want);
	return out;
}

/* ---- declarations ------------------------------------------------------- */

enum dkind { D_HEADER, D_SCHEMA, D_FIELD, D_METHOD, D_LET, D_RULE, D_POLICY };

typedef struct decl {
	enum dkind kind;
	su_loc start;
	const void *d;
	unsigned pad;            /* alignment of method and let names */
} decl;

static int decl_cmp(const void *a, const void *b)
{
	const decl *x = a, *y = b;
	if (before(x->start, y->start))
		return -1;
	return before(y->start, x->start) ? 1 : 0;
}

static const char *decl_name(const decl *d)
{
	return d->kind == D_METHOD ? ((const su_method_decl *)d->d)->name
	     : d->kind == D_LET ? ((const su_let_decl *)d->d)->name : NULL;
}

static void print_method(fmt *p, const su_method_decl *m, unsigned padn)
{
	puts_(p, "method ");
	puts_(p, m->name);
	pad(p, padn);
	if (!m->when) {
		puts_(p, " always");
		return;
	}
	put(p, " ", 1);
	unsigned when = p->col;
	puts_(p, "when");
	p->cont = when + 5;
	if (!gap(p, m->when->loc))
		put(p, " ", 1);
	print_cond(p, m->when, (chain_style){ when, 0 });
}

static void print_rule(fmt *p, const su_rule_decl *r)
{
	static const chain_style river = { 6, 1 };  /* operators end under `when` */

	p->cont = 7;
	puts_(p, "rule ");
	puts_(p, r->name);
	if (r->desc) {
		if (!gap(p, r->desc_loc))
			put(p, " ", 1);
		put_string(p, r->desc);
	}
	flush(p, r->when->loc, 2);
	nl(p, 2);
	puts_(p, "when ");
	print_cond(p, r->when, river);
	flush(p, r->outcome_loc, 2);
	nl(p, 2);
	puts_(p, "then ");
	puts_(p, r->outcome == SU_O_DECLINE ? "decline" : r->outcome == SU_O_APPROVE ? "approve" : "step_up");
	if (r->only) {
		puts_(p, " only");
		for (const su_ident_list *it = r->only; it; it = it->next) {
			if (it != r->only)
				put(p, ",", 1);
			if (!gap(p, it->loc))
				put(p, " ", 1);
			puts_(p, it->name);
		}
	}
	if (r->line >= 0) {
		puts_(p, " line");
		if (!gap(p, r->line_loc))
			put(p, " ", 1);
		puts_(p, r->line == STEPUP_LINE_FRAUD ? "FRAUD" : "STANDARD");
	}
}

static void print_field(fmt *p, const su_field_decl *fd)
{
	unsigned line = fd->loc.last_line;

	p->cont = 2;
	puts_(p, "field ");
	puts_(p, fd->path);
	for (const su_node *it = fd->items; it; it = it->next) {
		if (flush(p, it->loc, 2) || it->loc.first_line > line)
			nl(p, 2);
		else
			put(p, " ", 1);
		print_value(p, it);
		line = it->loc.last_line;
	}
}

static void print_decl(fmt *p, const decl *d)
{
	switch (d->kind) {
	case D_HEADER:
		puts_(p, "ruleset ");
		p->cont = 8;
		gap(p, p->f->name_loc);
		put_string(p, p->f->ruleset_name);
		return;
	case D_SCHEMA:
		puts_(p, "schema ");
		p->cont = 7;
		gap(p, p->f->schema_loc);
		puts_(p, p->f->schema);
		return;
	case D_FIELD:
		print_field(p, d->d);
		return;
	case D_METHOD:
		print_method(p, d->d, d->pad);
		return;
	case D_LET: {
		const su_let_decl *l = d->d;
		puts_(p, "let ");
		puts_(p, l->name);
		pad(p, d->pad);
		puts_(p, " =");
		p->cont = p->col + 1;
		if (!gap(p, l->value->loc))
			put(p, " ", 1);
		print_value(p, l->value);
		return;
	}
	case D_RULE:
		print_rule(p, d->d);
		return;
	case D_POLICY: {
		const su_policy_decl *pol = d->d;
		puts_(p, "on channel");
		p->cont = 11;
		if (!gap(p, pol->loc))
			put(p, " ", 1);
		puts_(p, pol->channel);
		puts_(p, pol->becomes == SU_O_APPROVE ? " step_up becomes approve" : " step_up becomes decline");
		return;
	}
	}
}

/* A `let` of a set with a member per line closes it on a line of its own,
 * which ends an alignment group as a blank line does. */
static int open_set_let(const decl *d)
{
	const su_node *v = d->kind == D_LET ? ((const su_let_decl *)d->d)->value : NULL;
	return v && v->kind == SU_N_SET && v->a && v->a->loc.first_line > v->loc.first_line;
}

/* The declarations of f in source order, with the alignment of method and
 * let groups: runs of one kind with no blank line between them. */
static decl *collect(const su_file *f, const srcx *src, size_t *n)
{
	size_t k = 0, cap = 2;
	for (const su_method_decl *m = f->methods; m; m = m->next)
		cap++;
	for (const su_let_decl *l = f->lets; l; l = l->next)
		cap++;
	for (const su_rule_decl *r = f->rules; r; r = r->next)
		cap++;
	for (const su_policy_decl *x = f->policies; x; x = x->next)
		cap++;
	for (const su_field_decl *x = f->fields; x; x = x->next)
		cap++;
	decl *v = calloc(cap, sizeof(*v));
	if (!v)
		return NULL;
	if (f->ruleset_name)
		v[k++] = (decl){ D_HEADER, f->name_start, f, 0 };
	if (f->schema)
		v[k++] = (decl){ D_SCHEMA, f->schema_start, f, 0 };
	for (const su_method_decl *m = f->methods; m; m = m->next)
		v[k++] = (decl){ D_METHOD, m->start, m, 0 };
	for (const su_let_decl *l = f->lets; l; l = l->next)
		v[k++] = (decl){ D_LET, l->start, l, 0 };
	for (const su_rule_decl *r = f->rules; r; r = r->next)
		v[k++] = (decl){ D_RULE, r->start, r, 0 };
	for (const su_policy_decl *x = f->policies; x; x = x->next)
		v[k++] = (decl){ D_POLICY, x->start, x, 0 };
	for (const su_field_decl *x = f->fields; x; x = x->next)
		v[k++] = (decl){ D_FIELD, x->start, x, 0 };
	qsort(v, k, sizeof(*v), decl_cmp);

	size_t c = 0;  /* comments seen so far */
	for (size_t i = 0; i < k;) {
		size_t j = i + 1, width = decl_name(&v[i]) ? strlen(decl_name(&v[i])) : 0;
		if (v[i].kind == D_METHOD || v[i].kind == D_LET) {
			while (j < k && v[j].kind == v[i].kind && !open_set_let(&v[j - 1])) {
				int blank = blank_before(src, v[j].start);
				for (; c < f->ncomments && before(f->comments[c].loc, v[j].start); c++)
					if (before(v[j - 1].start, f->comments[c].loc) && !trailing(src, f->comments[c].loc) &&
					    blank_before(src, f->comments[c].loc))
						blank = 1;
				if (blank)
					break;
				if (strlen(decl_name(&v[j])) > width)
					width = strlen(decl_name(&v[j]));
				j++;
			}
			for (size_t x = i; x < j; x++)
				v[x].pad = (unsigned)(width - strlen(decl_name(&v[x])));
		}
		i = j;
	}
	*n = k;
	return v;
}

int su_fmt_source(su_diags *d, unsigned file, char **out, size_t *len)
{
	size_t errors = d->nerrors, n = 0;
	su_file *f = su_parse_keep_comments(d, file);
	srcx x;
	fmt p;
	decl *v;

	*out = NULL;
	*len = 0;
	if (!f || d->oom)
		goto oom;
	if (d->nerrors > errors) {
		su_file_free(f);
		return STEPUP_ECOMPILE;
	}
	if (srcx_init(&x, &d->src[file]) < 0)
		goto oom;
	if (!(v = collect(f, &x, &n))) {
		free(x.line_at);
		goto oom;
	}
	memset(&p, 0, sizeof(p));
	p.src = &x;
	p.f = f;
	p.w = (su_jw){ &p.out, &p.len, &p.cap, 0 };
	for (size_t i = 0; i < n; i++) {
		const decl *prev = i ? &v[i - 1] : NULL;
		/* A rule is a block of its own: a blank line around it, given
		 * before the comments that belong to the next declaration. */
		int forced = prev && (prev->kind == D_RULE || v[i].kind == D_RULE);
		int first = 1;
		while (p.nextc < f->ncomments && before(f->comments[p.nextc].loc, v[i].start)) {
			const su_comment *c = &f->comments[p.nextc];
			if (!(trailing(p.src, c->loc) && p.content && !p.closed) && p.len) {
				nl(&p, 0);
				if (blank_before(p.src, c->loc) || (first && forced))
					nl(&p, 0);
				first = 0;
			}
			put_comment(&p, c, 0);
			p.nextc++;
		}
		if (p.len) {
			nl(&p, 0);
			if (blank_before(p.src, v[i].start) || (first && forced))
				nl(&p, 0);
		}
		print_decl(&p, &v[i]);
	}
	/* Comments after the last declaration. */
	while (p.nextc < f->ncomments) {
		const su_comment *c = &f->comments[p.nextc++];
		if (!(trailing(p.src, c->loc) && p.content && !p.closed) && p.len) {
			nl(&p, 0);
			if (blank_before(p.src, c->loc))
				nl(&p, 0);
		}
		put_comment(&p, c, 0);
	}
	if (p.len)
		nl(&p, 0);
	free(v);
	free(x.line_at);
	su_file_free(f);
	if (!p.w.oom && p.ntc) {
		char *aligned = align_comments(&p, &p.len);
		if (!aligned)
			p.w.oom = 1;
		free(p.out);
		p.out = aligned;
	}
	free(p.tc);
	if (p.w.oom) {
		free(p.out);
		return STEPUP_ENOMEM;
	}
	if (!p.out && !(p.out = strdup("")))
		return STEPUP_ENOMEM;
	*out = p.out;
	*len = p.len;
	return STEPUP_OK;
oom:
	su_file_free(f);
	d->oom = 1;
	return STEPUP_ENOMEM;
}

/* ---- dump ---------------------------------------------------------------- */

static void dump_node(su_jw *w, const su_node *n)
{
	char buf[64];
	for (; n; n = n->next) {
		su_jw_raw(w, "(", 1);
		su_jw_lit(w, su_node_kind_name(n->kind));
		snprintf(buf, sizeof(buf), " %" PRId64, n->ival);
		su_jw_lit(w, buf);
		if (n->kind == SU_N_FLOAT) {
			snprintf(buf, sizeof(buf), " %a", n->fval);
			su_jw_lit(w, buf);
		}
		if (n->text) {
			su_jw_raw(w, " ", 1);
			su_jw_cstr(w, n->text);
		}
		if (n->a) {
			su_jw_raw(w, " a", 2);
			dump_node(w, n->a);
		}
		if (n->b) {
			su_jw_raw(w, " b", 2);
			dump_node(w, n->b);
		}
		su_jw_raw(w, ")", 1);
	}
}

char *su_file_dump(const su_file *f)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	su_jw w = { &out, &len, &cap, 0 };
	char buf[64];

	su_jw_lit(&w, "ruleset ");
	su_jw_cstr(&w, f->ruleset_name ? f->ruleset_name : "-");
	su_jw_lit(&w, "\nschema ");
	su_jw_cstr(&w, f->schema ? f->schema : "-");
	for (const su_field_decl *x = f->fields; x; x = x->next) {
		su_jw_lit(&w, "\nfield ");
		su_jw_cstr(&w, x->path);
		dump_node(&w, x->items);
	}
	for (const su_method_decl *m = f->methods; m; m = m->next) {
		su_jw_lit(&w, "\nmethod ");
		su_jw_cstr(&w, m->name);
		dump_node(&w, m->when);
	}
	for (const su_let_decl *l = f->lets; l; l = l->next) {
		su_jw_lit(&w, "\nlet ");
		su_jw_cstr(&w, l->name);
		dump_node(&w, l->value);
	}
	for (const su_rule_decl *r = f->rules; r; r = r->next) {
		su_jw_lit(&w, "\nrule ");
		su_jw_cstr(&w, r->name);
		su_jw_cstr(&w, r->desc ? r->desc : "-");
		snprintf(buf, sizeof(buf), " outcome %d line %d", (int)r->outcome, r->line);
		su_jw_lit(&w, buf);
		for (const su_ident_list *it = r->only; it; it = it->next) {
			su_jw_lit(&w, " only ");
			su_jw_cstr(&w, it->name);
		}
		dump_node(&w, r->when);
	}
	for (const su_policy_decl *x = f->policies; x; x = x->next) {
		su_jw_lit(&w, "\npolicy ");
		su_jw_cstr(&w, x->channel);
		snprintf(buf, sizeof(buf), " %d", (int)x->becomes);
		su_jw_lit(&w, buf);
	}
	su_jw_raw(&w, "\n", 1);
	if (w.oom) {
		free(out);
		return NULL;
	}
	return out;
}
