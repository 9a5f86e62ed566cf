/* check.c: the semantic pass (nftables' evaluate.c for our language).
 *
 * Resolves names (fields, constants, enum values, reason codes, methods,
 * functions), types every expression against the request schema, replaces
 * constant references by copies of their values, and spots rules that can
 * never fire. Every problem is queued with the location of the offending
 * node; checking goes on so independent mistakes are all reported. */
#include "check.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include "../engine/plugins.h"
#include "../engine/program.h"

#define SU_E_NONE (-1)   /* no enum kind / list field expected */

typedef struct ctx {
	su_diags *d;
	su_checked *out;
	su_schema *sc;
	const stepup_plugins *plugins;
	su_let_decl **lets;
	size_t nlets;
	unsigned let_depth;   /* constants being substituted, one inside the other */
	size_t let_nodes;     /* nodes substituted into the current condition */
	unsigned let_height;  /* levels the constants being substituted add */
	int let_over;         /* a limit below was hit in this condition: said once */
	int let_cut;          /* ...in any condition: constants past it went unread */
	su_loc let_use;       /* the outermost constant being substituted: limits */
	const char *let_name; /* are reported where the rule uses it */
} ctx;

/* A chain of constants (`let A = B`, `let B = C`...) may be this long: far
 * more than any ruleset needs, well within the C stack. Cycles are found
 * by marking, not by this limit. */
#define SU_LET_MAX_DEPTH 256
/* Substituting constants made of calls of constants can double the tree
 * at each step; one condition may grow to this many nodes (sets count as
 * one: their members are literals). */
#define SU_LET_MAX_NODES 65536u

static int check_value(ctx *c, su_node **np, su_type want, int want_ekind);
static int check_set(ctx *c, su_node **np, su_type elem, int ekind);
static int check_cond(ctx *c, su_node **np);

static const char *method_names[STEPUP_METHOD_COUNT] = {
	"IN_APP", "OTP_SMS", "OTP_EMAIL", "CUSTOMER_SERVICE",
};

static int method_lookup(const char *name)
{
	for (int i = 0; i < STEPUP_METHOD_COUNT; i++)
		if (strcmp(method_names[i], name) == 0)
			return i;
	return -1;
}

static const char *type_name(su_type t)
{
	switch (t) {
	case SU_T_BOOL: return "a boolean";
	case SU_T_INT: return "an integer";
	case SU_T_FLOAT: return "a number";
	case SU_T_STRING: return "a string";
	case SU_T_ENUM: return "an enum value";
	case SU_T_REASON: return "a reason code";
	case SU_T_REASONS: return "a list of reason codes";
	case SU_T_SET: return "a set";
	default: return "nothing";
	}
}

/* "a card state" reads better than "card state" in messages. */
static const char *a_type(const ctx *c, su_type t, int ekind, char *buf, size_t n)
{
	if (t == SU_T_ENUM && ekind >= 0 && n > 2) {
		buf[0] = 'a';
		buf[1] = ' ';
		su_schema_what(c->sc, (unsigned)ekind, buf + 2, n - 2);
	} else {
		snprintf(buf, n, "%s", type_name(t));
	}
	return buf;
}

static int field_slot(const ctx *c, const char *name)
{
	return su_schema_lookup(c->sc, name, strlen(name));
}

static su_let_decl *find_let(ctx *c, const char *name)
{
	for (size_t i = 0; i < c->nlets; i++)
		if (strcmp(c->lets[i]->name, name) == 0)
			return c->lets[i];
	return NULL;
}

/* Put `repl` where *np was, keeping its place in a sibling list. */
static void replace(su_node **np, su_node *repl)
{
	su_node *old = *np;
	repl->next = old->next;
	old->next = NULL;
	su_node_free(old);
	*np = repl;
}

/* A bare name that is a top-level request field (tsp, channel...) and not
 * a constant becomes a field reference. */
static void promote_field(ctx *c, su_node *n)
{
	if (n->kind == SU_N_IDENT && !find_let(c, n->text) && field_slot(c, n->text) >= 0)
		n->kind = SU_N_FIELD;
}

static int is_literal(const su_node *n)
{
	return n->kind == SU_N_INT || n->kind == SU_N_FLOAT || n->kind == SU_N_STRING ||
	       n->kind == SU_N_BOOL || n->kind == SU_N_IDENT;
}

static size_t count_nodes(const su_node *n)
{
	size_t k = 0;
	for (; n; n = n->next)
		k += 1 + count_nodes(n->a) + count_nodes(n->b);
	return k;
}

/* Height of n's subtree (call arguments included), n itself counting 1. */
static unsigned height(const su_node *n)
{
	unsigned h = 0;
	for (const su_node *k = n->a; k; k = k->next) {
		unsigned x = height(k);
		if (x > h)
			h = x;
	}
	if (n->b) {
		unsigned x = height(n->b);
		if (x > h)
			h = x;
	}
	return h + 1;
}

/* Replace a constant reference by a copy of its value. 1 = substituted
 * (*lp is the constant: the caller marks it `expanding` while it checks
 * the copy), 0 = not a constant, -1 = error. */
static int substitute_let(ctx *c, su_node **np, int want_set, su_let_decl **lp)
{
	su_let_decl *l = find_let(c, (*np)->text);
	su_node *copy;

	*lp = l;
	if (!l)
		return 0;
	l->used = 1;
	if (!l->value)
		return -1;  /* its own definition failed; already reported */
	if (want_set && l->value->kind != SU_N_SET) {
		su_error(c->d, (*np)->loc, "'%s' is not a set", l->name);
		su_note(c->d, l->loc, "'%s' is defined here", l->name);
		return -1;
	}
	if (!want_set && l->value->kind == SU_N_SET) {
		su_error(c->d, (*np)->loc, "'%s' is a set; use it after 'in' or 'has any of'", l->name);
		return -1;
	}
	/* Reached again while its own value is being checked: a cycle. */
	if (l->expanding) {
		su_error(c->d, (*np)->loc, "constant '%s' is defined in terms of itself", l->name);
		return -1;
	}
	if (c->let_over)
		return -1;
	if (c->let_depth == 0) {
		c->let_use = (*np)->loc;
		c->let_name = l->name;
	}
	if (c->let_depth >= SU_LET_MAX_DEPTH) {
		su_error(c->d, c->let_use, "constants nested more than %d deep (through '%s')",
		         SU_LET_MAX_DEPTH, c->let_name);
		c->let_over = c->let_cut = 1;
		return -1;
	}
	/* A set holds literals only, so sets cannot multiply; a large one
	 * (100,000 members) counts as one node. */
	c->let_nodes += want_set ? 1 : count_nodes(l->value->a) + count_nodes(l->value->b) + 1;
	if (c->let_nodes > SU_LET_MAX_NODES) {
		su_error(c->d, c->let_use, "constants expand this condition to more than %u nodes (through '%s')",
		         SU_LET_MAX_NODES, c->let_name);
		c->let_over = c->let_cut = 1;
		return -1;
	}
	copy = su_node_clone(l->value);
	if (!copy) {
		c->d->oom = 1;
		return -1;
	}
	/* Diagnostics inside the copy should point at the use, not the let. */
	copy->loc = (*np)->loc;
	replace(np, copy);
	return 1;
}

static int add_code(ctx *c, int slot, su_node *n);

/* An unknown field: the closest declared one, else what lies under the
 * longest prefix that is an object of the schema. */
static void unknown_field(ctx *c, const su_node *n)
{
	const su_schema *sc = c->sc;
	const char *s = su_schema_suggest(sc, n->text);
	if (s) {
		su_error(c->d, n->loc, "unknown field '%s'; did you mean '%s'?", n->text, s);
		return;
	}
	for (const char *dot = strrchr(n->text, '.'); dot; ) {
		size_t plen = (size_t)(dot - n->text);
		char list[400] = "";
		unsigned found = 0;
		for (uint32_t i = 0; i < sc->nfields; i++) {
			const char *p = SU_FPATH(sc, i);
			if (strncmp(p, n->text, plen) != 0 || p[plen] != '.')
				continue;
			if (found < 12) {
				strncat(list, found ? ", " : "", sizeof(list) - strlen(list) - 1);
				strncat(list, p, sizeof(list) - strlen(list) - 1);
			}
			found++;
		}
		if (found) {
			su_error(c->d, n->loc, "unknown field '%s' (fields under '%.*s': %s%s)", n->text, (int)plen,
			         n->text, list, found > 12 ? ", ..." : "");
			return;
		}
		/* The next shorter prefix. */
		const char *q = dot;
		dot = NULL;
		for (const char *x = n->text; x < q; x++)
			if (*x == '.')
				dot = x;
	}
	su_error(c->d, n->loc, "unknown field '%s' (declare it: field %s TYPE)", n->text, n->text);
}

static int resolve_ident(ctx *c, su_node *n, su_type want, int want_ekind)
{
	if (want == SU_T_ENUM && want_ekind >= 0) {
		int id = su_schema_value(c->sc, (unsigned)want_ekind, n->text, strlen(n->text));
		char what[128];
		su_schema_what(c->sc, (unsigned)want_ekind, what, sizeof(what));
		if (id < 0) {
			const char *s = su_schema_suggest_value(c->sc, (unsigned)want_ekind, n->text);
			if (s)
				su_error(c->d, n->loc, "unknown %s '%s'; did you mean '%s'?", what, n->text, s);
			else {
				char list[256] = "";
				const su_field *f = &c->sc->fields[want_ekind];
				for (unsigned i = 0; i < f->values.count; i++) {
					strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
					strncat(list, su_schema_value_name(c->sc, (unsigned)want_ekind, i),
					        sizeof(list) - strlen(list) - 1);
				}
				su_error(c->d, n->loc, "unknown %s '%s' (expected one of %s)", what, n->text, list);
			}
			return -1;
		}
		n->ty = SU_T_ENUM;
		n->ekind = want_ekind;
		n->ival = id;
		return 0;
	}
	if (want == SU_T_REASON && want_ekind >= 0) {
		const su_field *f = &c->sc->fields[want_ekind];
		if (!(f->flags & SU_FF_FREE) &&
		    su_schema_declared_code(c->sc, (unsigned)want_ekind, n->text, strlen(n->text)) >= 0) {
			int bit = add_code(c, want_ekind, n);
			if (bit < 0)
				return -1;
			n->ty = SU_T_REASON;
			n->ival = bit;
			return 0;
		}
		if (f->flags & SU_FF_FREE)
			su_error(c->d, n->loc, "undefined constant '%s' (write \"%s\" for a string)", n->text, n->text);
		else
			su_error(c->d, n->loc, "unknown reason code '%s' (quote it, \"%s\", to match a code the network added)",
			         n->text, n->text);
		return -1;
	}
	if (method_lookup(n->text) >= 0)
		su_error(c->d, n->loc, "'%s' is an ID&V method, not a value", n->text);
	else if (want == SU_T_STRING)
		su_error(c->d, n->loc, "undefined constant '%s' (write \"%s\" for a string)",
		         n->text, n->text);
	else
		su_error(c->d, n->loc, "undefined constant '%s'", n->text);
	return -1;
}

/* The bit of code n->text in list field `slot`'s mask, given on first
 * use: only the values a ruleset names need a bit. */
static int add_code(ctx *c, int slot, su_node *n)
{
	su_codes *k = &c->out->codes[slot];

	for (unsigned i = 0; i < k->n; i++)
		if (strcmp(k->v[i], n->text) == 0)
			return (int)i;
	if (k->n >= SU_MAX_CODE_BITS) {
		su_error(c->d, n->loc, "too many distinct reason codes in %s (the rules may name at most %d)",
		         SU_FPATH(c->sc, (unsigned)slot), SU_MAX_CODE_BITS);
		return -1;
	}
	if (!n->text[0]) {
		su_error(c->d, n->loc, "empty reason code");
		return -1;
	}
	if (k->n == k->cap) {
		unsigned cap = k->cap ? k->cap * 2 : 8;
		char **v = realloc(k->v, cap * sizeof(*v));
		if (!v) {
			c->d->oom = 1;
			return -1;
		}
		k->v = v;
		k->cap = cap;
	}
	if (!(k->v[k->n] = strdup(n->text))) {
		c->d->oom = 1;
		return -1;
	}
	return (int)k->n++;
}

/* Type names as plugin signatures spell them (integer, float, bool,
 * string), for plugin call messages. */
static const char *sig_type_name(const ctx *c, su_type t, int ekind, char *buf, size_t n)
{
	switch (t) {
	case SU_T_BOOL: return "bool";
	case SU_T_INT: return "integer";
	case SU_T_FLOAT: return "float";
	case SU_T_STRING: return "string";
	case SU_T_ENUM:
		if (ekind >= 0) {
			su_schema_what(c->sc, (unsigned)ekind, buf, n);
			return buf;
		}
		return "enum value";
	case SU_T_REASON: return "reason code";
	case SU_T_REASONS: return "list of reason codes";
	default: return "nothing";
	}
}

static void append(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);
	if (n + 1 < size)
		snprintf(buf + n, size - n, "%s", s);
}

/* The import index of plugin.fn with signature sig, added on first use. */
static int add_import(ctx *c, const char *plugin, const char *fn, const char *sig)
{
	su_checked *o = c->out;

	for (size_t i = 0; i < o->nimports; i++)
		if (strcmp(o->imports[i].plugin, plugin) == 0 && strcmp(o->imports[i].fn, fn) == 0)
			return (int)i;
	if (o->nimports == o->capimports) {
		size_t cap = o->capimports ? o->capimports * 2 : 8;
		su_import_decl *p = realloc(o->imports, cap * sizeof(*p));
		if (!p) {
			c->d->oom = 1;
			return -1;
		}
		o->imports = p;
		o->capimports = cap;
	}
	su_import_decl *im = &o->imports[o->nimports];
	im->plugin = strdup(plugin);
	im->fn = strdup(fn);
	snprintf(im->sig, sizeof(im->sig), "%s", sig);
	if (!im->plugin || !im->fn) {
		free(im->plugin);
		free(im->fn);
		c->d->oom = 1;
		return -1;
	}
	return (int)o->nimports++;
}

/* Which loaded plugin `name` was meant to be, for the message. */
static void no_such_plugin(ctx *c, const su_node *n, const char *name)
{
	const char *best = NULL;
	unsigned bestd = 3;
	char list[256] = "";
	stepup_plugin_info info;

	for (size_t i = 0; i < stepup_plugins_count(c->plugins); i++) {
		if (stepup_plugins_info(c->plugins, i, &info) != STEPUP_OK)
			continue;
		unsigned dist = su_edit_distance(name, info.name, 2);
		if (dist < bestd && 2 * dist <= strlen(name)) {
			bestd = dist;
			best = info.name;
		}
		append(list, sizeof(list), i ? ", " : "");
		append(list, sizeof(list), info.name);
	}
	if (best)
		su_error(c->d, n->loc, "unknown plugin '%s' in '%s'; did you mean '%s'?", name, n->text, best);
	else
		su_error(c->d, n->loc, "unknown plugin '%s' in '%s' (loaded plugins: %s)", name, n->text, list);
}

static void no_such_function(ctx *c, const su_node *n, const su_plugin *p, const char *pname,
                             const char *fname)
{
	const char *best = NULL;
	unsigned bestd = 3, nfn = su_plugin_nfunctions(p);
	char list[256] = "";

	for (unsigned k = 0; k < nfn; k++) {
		const char *f = su_plugin_fn_name(p, k);
		unsigned dist = su_edit_distance(fname, f, 2);
		if (dist < bestd && 2 * dist <= strlen(fname)) {
			bestd = dist;
			best = f;
		}
		append(list, sizeof(list), k ? ", " : "");
		append(list, sizeof(list), f);
	}
	if (best)
		su_error(c->d, n->loc, "plugin '%s' has no function '%s'; did you mean '%s'?", pname, fname, best);
	else if (nfn)
		su_error(c->d, n->loc, "plugin '%s' has no function '%s' (it has %s)", pname, fname, list);
	else
		su_error(c->d, n->loc, "plugin '%s' has no function '%s' (it provides no rule functions)", pname,
		         fname);
}

/* plugin.function(args): resolved against the compiler's plugins by the
 * plugin's configured name, and typed by the function's signature. An
 * integer is accepted where a float is expected, as in comparisons. */
static int check_plugin_call(ctx *c, su_node *n)
{
	const char *dot = strchr(n->text, '.'), *fname = dot + 1;
	char pname[128], sig[STEPUP_PLUGIN_MAX_ARGS + 4];
	const su_plugin *p;
	unsigned nargs = 0, i = 0;
	int rc = 0, k;

	if (field_slot(c, n->text) >= 0) {
		su_error(c->d, n->loc, "'%s' is a field, not a function", n->text);
		return -1;
	}
	if (!c->plugins || stepup_plugins_count(c->plugins) == 0) {
		su_error(c->d, n->loc, "unknown function '%s' (no loaded plugin provides it)", n->text);
		return -1;
	}
	if (strchr(fname, '.')) {
		su_error(c->d, n->loc, "'%s' is not a function name: call a plugin function as plugin.function(...)",
		         n->text);
		return -1;
	}
	if ((size_t)(dot - n->text) >= sizeof(pname)) {
		su_error(c->d, n->loc, "unknown plugin in '%s'", n->text);
		return -1;
	}
	memcpy(pname, n->text, (size_t)(dot - n->text));
	pname[dot - n->text] = '\0';
	if (!(p = su_plugins_find(c->plugins, pname))) {
		no_such_plugin(c, n, pname);
		return -1;
	}
	if ((k = su_plugin_find(p, fname)) < 0) {
		no_such_function(c, n, p, pname, fname);
		return -1;
	}
	const char *args = su_plugin_fn_args(p, (unsigned)k);
	char ret = su_plugin_fn_ret(p, (unsigned)k);
	unsigned want_n = (unsigned)strlen(args);
	for (su_node *a = n->a; a; a = a->next)
		nargs++;
	if (nargs != want_n) {
		su_error(c->d, n->loc, "%s expects %u argument%s, got %u", n->text, want_n, want_n == 1 ? "" : "s",
		         nargs);
		return -1;
	}
	for (su_node **ap = &n->a; *ap; ap = &(*ap)->next, i++) {
		su_type want = su_sig_type(args[i]);
		if (check_value(c, ap, want, SU_E_NONE) < 0) {
			rc = -1;
			continue;
		}
		su_type got = (*ap)->ty;
		char b1[128], b2[128];
		if (got != want && !(want == SU_T_FLOAT && got == SU_T_INT)) {
			su_error(c->d, (*ap)->loc, "argument %u of %s: expected %s, got %s", i + 1, n->text,
			         sig_type_name(c, want, SU_E_NONE, b1, sizeof(b1)),
			         sig_type_name(c, got, (*ap)->ekind, b2, sizeof(b2)));
			rc = -1;
		} else if ((*ap)->kind == SU_N_FIELD && (c->sc->fields[(*ap)->slot].flags & SU_FF_SECRET)) {
			/* A plugin keeps what it is given: secrets never cross. */
			su_error(c->d, (*ap)->loc, "%s is secret: it is never handed to a plugin%s", (*ap)->text,
			         c->sc->fields[(*ap)->slot].format == SU_FMT_CARD_NUMBER
			                 ? " (pass card.bin or card.pan_suffix: the facts a plugin needs)" : "");
			rc = -1;
		}
	}
	n->ty = su_sig_type(ret);
	if (rc < 0)
		return -1;
	snprintf(sig, sizeof(sig), "%s->%c", args, ret);
	n->func = -1;
	n->import = add_import(c, pname, fname, sig);
	return n->import < 0 ? -1 : 0;
}

static int check_call(ctx *c, su_node *n)
{
	const su_builtin_sig *sig = NULL;
	unsigned nargs = 0, i = 0;
	int rc = 0;

	if (strchr(n->text, '.'))
		return check_plugin_call(c, n);
	for (int k = 0; k < SU_FN_COUNT; k++)
		if (strcmp(su_builtins[k].name, n->text) == 0) {
			sig = &su_builtins[k];
			n->func = k;
		}
	if (!sig) {
		su_error(c->d, n->loc, "unknown function '%s'", n->text);
		return -1;
	}
	for (su_node *a = n->a; a; a = a->next)
		nargs++;
	if (nargs != sig->nargs) {
		su_error(c->d, n->loc, "%s() takes %u argument%s, not %u", sig->name,
		         sig->nargs, sig->nargs == 1 ? "" : "s", nargs);
		return -1;
	}
	for (su_node **ap = &n->a; *ap; ap = &(*ap)->next, i++) {
		char b1[64], b2[64];
		if (check_value(c, ap, sig->args[i], SU_E_NONE) < 0) {
			rc = -1;
			continue;
		}
		if ((*ap)->ty != sig->args[i]) {
			su_error(c->d, (*ap)->loc, "argument %u of %s() must be %s, not %s", i + 1,
			         sig->name, a_type(c, sig->args[i], SU_E_NONE, b1, sizeof(b1)),
			         a_type(c, (*ap)->ty, (*ap)->ekind, b2, sizeof(b2)));
			rc = -1;
		}
	}
	n->ty = sig->ret;
	return rc;
}

static int check_value(ctx *c, su_node **np, su_type want, int want_ekind)
{
	su_node *n = *np;
	int r;

	switch (n->kind) {
	case SU_N_FIELD:
		n->slot = field_slot(c, n->text);
		if (n->slot < 0) {
			unknown_field(c, n);
			return -1;
		}
		n->ty = (su_type)c->sc->fields[n->slot].type;
		n->ekind = n->ty == SU_T_ENUM ? (int)c->sc->fields[n->slot].ekind
		         : n->ty == SU_T_REASONS ? n->slot : SU_E_NONE;
		return 0;
	case SU_N_IDENT: {
		su_let_decl *l;
		r = substitute_let(c, np, 0, &l);
		if (r < 0)
			return -1;
		if (r > 0) {
			/* A constant whose value is a call deepens the tree where
			 * it is used; every later pass recurses that deep. */
			unsigned extra = height(*np) - 1;
			if (c->let_height + extra > SU_MAX_EXPR_DEPTH) {
				su_error(c->d, c->let_use, "constants nest this expression deeper than %d levels "
				         "(through '%s')", SU_MAX_EXPR_DEPTH, c->let_name);
				c->let_over = c->let_cut = 1;
				return -1;
			}
			l->expanding = 1;
			c->let_depth++;
			c->let_height += extra;
			r = check_value(c, np, want, want_ekind);
			c->let_height -= extra;
			c->let_depth--;
			l->expanding = 0;
			return r;
		}
		/* Top-level request fields (tsp, request_id) have no dot. */
		if (field_slot(c, n->text) >= 0) {
			n->kind = SU_N_FIELD;
			return check_value(c, np, want, want_ekind);
		}
		return resolve_ident(c, n, want, want_ekind);
	}
	case SU_N_STRING:
		if (want == SU_T_REASON && want_ekind >= 0) {
			int bit = add_code(c, want_ekind, n);
			if (bit < 0)
				return -1;
			n->ty = SU_T_REASON;
			n->ival = bit;
			return 0;
		}
		if (want == SU_T_ENUM && want_ekind >= 0 &&
		    su_schema_value(c->sc, (unsigned)want_ekind, n->text, strlen(n->text)) >= 0) {
			char what[128];
			su_schema_what(c->sc, (unsigned)want_ekind, what, sizeof(what));
			su_error(c->d, n->loc, "%s values are names, not strings: write %s without quotes", what, n->text);
			return -1;
		}
		n->ty = SU_T_STRING;
		return 0;
	case SU_N_INT:
		n->ty = SU_T_INT;
		return 0;
	case SU_N_FLOAT:
		n->ty = SU_T_FLOAT;
		return 0;
	case SU_N_BOOL:
		n->ty = SU_T_BOOL;
		return 0;
	case SU_N_CALL:
		return check_call(c, n);
	case SU_N_SET:
		su_error(c->d, n->loc, "a set can only follow 'in' or 'has any of'");
		return -1;
	default:
		su_error(c->d, n->loc, "expected a value, found %s", su_node_kind_name(n->kind));
		return -1;
	}
}

static int is_number(su_type t)
{
	return t == SU_T_INT || t == SU_T_FLOAT;
}

static int check_cmp(ctx *c, su_node *n)
{
	/* Type the side that knows its type first (a field), so a bare name on
	 * the other side can be read as a value of that field's enum. */
	promote_field(c, n->a);
	promote_field(c, n->b);
	int swap = n->a->kind == SU_N_IDENT || n->a->kind == SU_N_STRING;
	su_node **first = swap ? &n->b : &n->a, **second = swap ? &n->a : &n->b;
	char b1[64], b2[64];

	if (check_value(c, first, SU_T_NONE, SU_E_NONE) < 0)
		return -1;
	su_type want = (*first)->ty == SU_T_REASONS ? SU_T_REASON : (*first)->ty;
	if (check_value(c, second, want, (*first)->ekind) < 0)
		return -1;

	su_node *l = n->a, *r = n->b;
	su_cmp op = (su_cmp)n->ival;
	if (l->ty == SU_T_REASONS || r->ty == SU_T_REASONS) {
		su_error(c->d, n->loc, "%s is a list of reason codes; test it with 'has' or 'has any of'",
		         l->ty == SU_T_REASONS ? l->text : r->text);
		return -1;
	}
	if (is_number(l->ty) && is_number(r->ty)) {
		n->ty = SU_T_BOOL;
		return 0;
	}
	if (l->ty != r->ty || (l->ty == SU_T_ENUM && l->ekind != r->ekind)) {
		su_error(c->d, n->loc, "cannot compare %s with %s",
		         a_type(c, l->ty, l->ekind, b1, sizeof(b1)), a_type(c, r->ty, r->ekind, b2, sizeof(b2)));
		return -1;
	}
	if (op != SU_CMP_EQ && op != SU_CMP_NE) {
		su_error(c->d, n->loc, "operator '%s' needs numbers, not %s", su_cmp_text(op),
		         a_type(c, l->ty, l->ekind, b1, sizeof(b1)));
		return -1;
	}
	n->ty = SU_T_BOOL;
	return 0;
}

static int check_set(ctx *c, su_node **np, su_type elem, int ekind)
{
	su_let_decl *l = NULL;
	int rc = 0;

	if ((*np)->kind == SU_N_IDENT) {
		int r = substitute_let(c, np, 1, &l);
		if (r < 0)
			return -1;
		if (r == 0) {
			su_error(c->d, (*np)->loc, "undefined set '%s'", (*np)->text);
			return -1;
		}
		l->expanding = 1;  /* its members may name constants too */
	}
	su_node *set = *np;
	set->ty = SU_T_SET;
	set->elem = elem;
	set->ekind = ekind;
	set->mask = 0;
	for (su_node **ip = &set->a; *ip; ip = &(*ip)->next) {
		char b1[64], b2[64];
		if (!is_literal(*ip)) {
			su_error(c->d, (*ip)->loc, "set members must be constants");
			rc = -1;
			continue;
		}
		if (check_value(c, ip, elem, ekind) < 0) {
			rc = -1;
			continue;
		}
		su_node *it = *ip;
		if (it->kind == SU_N_FIELD || it->kind == SU_N_CALL) {
			su_error(c->d, it->loc, "set members must be constants");
			rc = -1;
			continue;
		}
		if (it->ty != elem && !(elem == SU_T_FLOAT && it->ty == SU_T_INT)) {
			su_error(c->d, it->loc, "set member is %s, expected %s",
			         a_type(c, it->ty, it->ekind, b1, sizeof(b1)), a_type(c, elem, ekind, b2, sizeof(b2)));
			rc = -1;
			continue;
		}
		if (elem == SU_T_ENUM || elem == SU_T_REASON)
			set->mask |= UINT64_C(1) << it->ival;
	}
	if (l)
		l->expanding = 0;
	return rc;
}

static int check_cond(ctx *c, su_node **np)
{
	su_node *n = *np;
	char b1[64];
	int r1, r2;

	switch (n->kind) {
	case SU_N_AND:
	case SU_N_OR:
		r1 = check_cond(c, &n->a);
		r2 = check_cond(c, &n->b);
		n->ty = SU_T_BOOL;
		return r1 < 0 || r2 < 0 ? -1 : 0;
	case SU_N_NOT:
		n->ty = SU_T_BOOL;
		return check_cond(c, &n->a);
	case SU_N_CMP:
		return check_cmp(c, n);
	case SU_N_IN:
		promote_field(c, n->a);
		if (check_value(c, &n->a, SU_T_NONE, SU_E_NONE) < 0)
			return -1;
		if (n->a->ty == SU_T_REASONS) {
			su_error(c->d, n->loc, "%s is a list; test it with 'has any of'", n->a->text);
			return -1;
		}
		if (n->a->ty == SU_T_BOOL) {
			su_error(c->d, n->a->loc, "'in' needs a string, number or enum value, not a boolean");
			return -1;
		}
		n->ty = SU_T_BOOL;
		if (check_set(c, &n->b, n->a->ty, n->a->ekind) < 0)
			return -1;
		if (!n->b->a)
			su_warning(c->d, n->b->loc, "empty set: this test is always %s",
			           n->ival ? "true when the value is present" : "false");
		return 0;
	case SU_N_HAS:
		if (check_value(c, &n->a, SU_T_NONE, SU_E_NONE) < 0)
			return -1;
		if (n->a->ty != SU_T_REASONS) {
			su_error(c->d, n->a->loc, "'has' needs a list (wallet.reason_codes), not %s",
			         a_type(c, n->a->ty, n->a->ekind, b1, sizeof(b1)));
			return -1;
		}
		n->ty = SU_T_BOOL;
		if (n->ival == SU_HAS_ONE) {
			if (n->b->kind == SU_N_SET || (n->b->kind == SU_N_IDENT && find_let(c, n->b->text) &&
			                               find_let(c, n->b->text)->value &&
			                               find_let(c, n->b->text)->value->kind == SU_N_SET)) {
				su_error(c->d, n->b->loc, "write 'has any of' or 'has all of' before a set");
				return -1;
			}
			if (n->b->kind != SU_N_IDENT && n->b->kind != SU_N_STRING) {
				su_error(c->d, n->b->loc, "'has' needs a reason code, like HIGH_RISK or \"NEW_CODE\"");
				return -1;
			}
			return check_value(c, &n->b, SU_T_REASON, n->a->ekind);
		}
		if (check_set(c, &n->b, SU_T_REASON, n->a->ekind) < 0)
			return -1;
		if (!n->b->a)
			su_warning(c->d, n->b->loc, "empty set: this test is always %s",
			           n->ival == SU_HAS_ALL ? "true when the list is present" : "false");
		return 0;
	case SU_N_PRESENT:
		promote_field(c, n->a);
		if (n->a->kind != SU_N_FIELD && n->a->kind != SU_N_CALL) {
			su_error(c->d, n->a->loc, "'is %s' applies to a field or a call, not a constant",
			         n->ival ? "absent" : "present");
			return -1;
		}
		n->ty = SU_T_BOOL;
		return check_value(c, &n->a, SU_T_NONE, SU_E_NONE);
	default:
		if (check_value(c, np, SU_T_BOOL, SU_E_NONE) < 0)
			return -1;
		n = *np;
		if (n->ty != SU_T_BOOL) {
			su_error(c->d, n->loc, "%s is %s, not a condition",
			         n->text ? n->text : "this", a_type(c, n->ty, n->ekind, b1, sizeof(b1)));
			return -1;
		}
		return 0;
	}
}

/* ---- "can this rule ever fire?" ---------------------------------------
 * A cheap, sound-but-incomplete look at AND chains: it only says "never"
 * when the conjuncts on one field contradict each other or the schema. */

typedef struct cons {
	uint64_t *emask;
	int64_t *lo, *hi;
	uint8_t *present, *absent;
	int8_t *boolv;    /* -1 free, 0/1 required value, 2 both */
	int is_false;
} cons;

static void need_bool(cons *k, int slot, int v)
{
	k->present[slot] = 1;
	if (k->boolv[slot] == -1)
		k->boolv[slot] = (int8_t)v;
	else if (k->boolv[slot] != v)
		k->boolv[slot] = 2;
}

static void collect(cons *k, const su_node *n, int negated)
{
	const su_node *f, *v;

	if (n->kind == SU_N_AND && !negated) {
		collect(k, n->a, 0);
		collect(k, n->b, 0);
		return;
	}
	if (n->kind == SU_N_NOT) {
		if (n->a->kind == SU_N_FIELD && n->a->ty == SU_T_BOOL && !negated)
			need_bool(k, n->a->slot, 0);
		return;
	}
	if (negated)
		return;
	switch (n->kind) {
	case SU_N_BOOL:
		if (!n->ival)
			k->is_false = 1;
		return;
	case SU_N_FIELD:
		if (n->ty == SU_T_BOOL)
			need_bool(k, n->slot, 1);
		return;
	case SU_N_PRESENT:
		if (n->a->kind == SU_N_FIELD) {
			if (n->ival)
				k->absent[n->a->slot] = 1;
			else
				k->present[n->a->slot] = 1;
		}
		return;
	case SU_N_IN:
		if (n->a->kind == SU_N_FIELD) {
			k->present[n->a->slot] = 1;
			if (n->a->ty == SU_T_ENUM)
				k->emask[n->a->slot] &= n->ival ? ~n->b->mask : n->b->mask;
		}
		return;
	case SU_N_HAS:
		if (n->a->kind == SU_N_FIELD) {
			k->present[n->a->slot] = 1;
			if (n->ival != SU_HAS_ONE && n->b->mask == 0 && n->ival == SU_HAS_ANY)
				k->is_false = 1;
		}
		return;
	case SU_N_CMP: {
		su_cmp op = (su_cmp)n->ival;
		if (n->a->kind == SU_N_FIELD && n->b->kind != SU_N_FIELD && n->b->kind != SU_N_CALL) {
			f = n->a;
			v = n->b;
		} else if (n->b->kind == SU_N_FIELD && n->a->kind != SU_N_FIELD && n->a->kind != SU_N_CALL) {
			f = n->b;
			v = n->a;
			op = su_cmp_flip(op);
		} else {
			if (n->a->kind == SU_N_FIELD)
				k->present[n->a->slot] = 1;
			if (n->b->kind == SU_N_FIELD)
				k->present[n->b->slot] = 1;
			return;
		}
		int s = f->slot;
		k->present[s] = 1;
		if (f->ty == SU_T_ENUM && v->ty == SU_T_ENUM) {
			uint64_t bit = UINT64_C(1) << v->ival;
			if (op == SU_CMP_EQ)
				k->emask[s] &= bit;
			else if (op == SU_CMP_NE)
				k->emask[s] &= ~bit;
		} else if (f->ty == SU_T_INT && v->kind == SU_N_INT) {
			int64_t x = v->ival;
			switch (op) {
			case SU_CMP_EQ:
				if (x > k->lo[s]) k->lo[s] = x;
				if (x < k->hi[s]) k->hi[s] = x;
				break;
			case SU_CMP_LT:
				if (x == INT64_MIN)
					k->lo[s] = INT64_MAX, k->hi[s] = INT64_MIN;  /* nothing is below */
				else if (x - 1 < k->hi[s])
					k->hi[s] = x - 1;
				break;
			case SU_CMP_LE: if (x < k->hi[s]) k->hi[s] = x; break;
			case SU_CMP_GT:
				if (x == INT64_MAX)
					k->lo[s] = INT64_MAX, k->hi[s] = INT64_MIN;
				else if (x + 1 > k->lo[s])
					k->lo[s] = x + 1;
				break;
			case SU_CMP_GE: if (x > k->lo[s]) k->lo[s] = x; break;
			default: break;
			}
		} else if (f->ty == SU_T_BOOL && v->kind == SU_N_BOOL) {
			if (op == SU_CMP_EQ || op == SU_CMP_NE)
				need_bool(k, s, (op == SU_CMP_EQ) == (v->ival != 0));
		}
		return;
	}
	default:
		return;
	}
}

/* Returns the slot that makes `n` unsatisfiable, the number of fields for
 * a plain `false`, or -1 when it may be true. */
static int never_true(const su_schema *sc, const su_node *n)
{
	cons k;
	int why = -1;
	uint32_t nf = sc->nfields;

	if (n->kind == SU_N_OR) {
		int a = never_true(sc, n->a);
		if (a < 0)
			return -1;
		return never_true(sc, n->b) < 0 ? -1 : a;
	}
	/* One block for the per-field bounds. */
	size_t per = sizeof(uint64_t) + 2 * sizeof(int64_t) + 3;
	char *mem = malloc((nf ? nf : 1) * per);
	if (!mem)
		return -1;
	k.emask = (uint64_t *)(void *)mem;
	k.lo = (int64_t *)(void *)(mem + nf * sizeof(uint64_t));
	k.hi = k.lo + nf;
	k.present = (uint8_t *)(k.hi + nf);
	k.absent = k.present + nf;
	k.boolv = (int8_t *)(k.absent + nf);
	for (uint32_t s = 0; s < nf; s++) {
		const su_field *f = &sc->fields[s];
		unsigned nv = f->type == SU_T_ENUM ? su_schema_value_count(sc, s) : 64;
		k.emask[s] = nv >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << nv) - 1;
		k.lo[s] = f->type == SU_T_INT ? f->min : INT64_MIN;
		k.hi[s] = f->type == SU_T_INT ? f->max : INT64_MAX;
		k.present[s] = k.absent[s] = 0;
		k.boolv[s] = -1;
	}
	k.is_false = 0;
	collect(&k, n, 0);
	if (k.is_false)
		why = (int)nf;
	for (uint32_t s = 0; s < nf && why < 0; s++)
		if ((k.present[s] && k.absent[s]) || k.emask[s] == 0 || k.lo[s] > k.hi[s] || k.boolv[s] == 2)
			why = (int)s;
	free(mem);
	return why;
}

/* ---- declarations ------------------------------------------------------ */

static void check_methods(ctx *c, su_file *f)
{
	su_checked *o = c->out;

	for (su_method_decl *m = f->methods; m; m = m->next) {
		int t = method_lookup(m->name);
		m->type = t;
		if (t < 0) {
			su_error(c->d, m->loc,
			         "unknown ID&V method '%s' (expected IN_APP, OTP_SMS, OTP_EMAIL or CUSTOMER_SERVICE)",
			         m->name);
			continue;
		}
		if (o->methods[t]) {
			su_error(c->d, m->loc, "method '%s' is declared twice", m->name);
			su_note(c->d, o->methods[t]->loc, "first declared here");
			continue;
		}
		o->methods[t] = m;
		o->method_order[o->nmethods++] = (unsigned)t;
		c->let_nodes = 0;
		c->let_over = 0;
		if (m->when && check_cond(c, &m->when) == 0 && never_true(c->sc, m->when) >= 0)
			su_warning(c->d, m->loc, "method '%s' can never be available", m->name);
	}
}

static void check_rule(ctx *c, su_rule_decl *r)
{
	su_checked *o = c->out;
	size_t before = c->d->nerrors;

	c->let_nodes = 0;
	c->let_over = 0;
	if (check_cond(c, &r->when) == 0) {
		int why = never_true(c->sc, r->when);
		if (why == (int)c->sc->nfields)
			su_error(c->d, r->loc, "rule '%s' can never fire: its condition is always false", r->name);
		else if (why >= 0)
			su_error(c->d, r->loc, "rule '%s' can never fire: no value of %s satisfies all its tests",
			         r->name, SU_FPATH(c->sc, (unsigned)why));
	}
	r->allowed = 0;
	if (r->outcome != SU_O_STEP_UP)
		return;
	if (!r->only) {
		r->allowed = (1u << STEPUP_METHOD_COUNT) - 1;
		return;
	}
	for (su_ident_list *id = r->only; id; id = id->next) {
		int t = method_lookup(id->name);
		if (t < 0)
			su_error(c->d, id->loc,
			         "unknown ID&V method '%s' (expected IN_APP, OTP_SMS, OTP_EMAIL or CUSTOMER_SERVICE)",
			         id->name);
		else if (!o->methods[t])
			su_error(c->d, id->loc, "undefined method '%s': declare it with 'method %s ...'",
			         id->name, id->name);
		else
			r->allowed |= 1u << t;
	}
	(void)before;
}

static void check_policies(ctx *c, su_file *f)
{
	su_checked *o = c->out;

	int slot = c->sc->role_slot[SU_ROLE_CHANNEL];
	for (su_policy_decl *p = f->policies; p; p = p->next) {
		if (slot < 0) {
			su_error(c->d, p->loc, "no field of the schema has 'role channel'");
			continue;
		}
		const su_field *fc = &c->sc->fields[slot];
		int ch = su_schema_value(c->sc, (unsigned)slot, p->channel, strlen(p->channel));
		char merchant[200] = "";
		for (unsigned v = 0; v < fc->values.count; v++)
			if (fc->merchant >> v & 1) {
				strncat(merchant, merchant[0] ? " or " : "", sizeof(merchant) - strlen(merchant) - 1);
				strncat(merchant, su_schema_value_name(c->sc, (unsigned)slot, v),
				        sizeof(merchant) - strlen(merchant) - 1);
			}
		if (ch < 0) {
			su_error(c->d, p->loc, "unknown channel '%s' (expected %s)", p->channel, merchant);
			continue;
		}
		if (!(fc->merchant >> ch & 1)) {
			su_error(c->d, p->loc,
			         "step-up belongs to %s; a channel policy applies to %s only",
			         p->channel, merchant);
			continue;
		}
		if (o->merchant_policy >= 0) {
			su_error(c->d, p->loc, "the %s policy is declared twice", p->channel);
			continue;
		}
		o->merchant_policy = p->becomes == SU_O_APPROVE ? STEPUP_GREEN : STEPUP_RED;
	}
}

int su_checked_apply(su_checked *c, su_schema *sc)
{
	for (uint32_t s = 0; s < c->ncodes && s < sc->nfields; s++) {
		su_codes *k = &c->codes[s];
		uint32_t tmp[SU_MAX_CODE_BITS];
		for (unsigned i = 0; i < k->n; i++)
			tmp[i] = su_schema_str(sc, k->v[i], strlen(k->v[i]));
		sc->fields[s].bits = su_schema_items(sc, tmp, k->n);
	}
	return sc->oom ? -1 : 0;
}

void su_checked_fini(su_checked *c)
{
	for (uint32_t s = 0; s < c->ncodes; s++) {
		for (unsigned i = 0; i < c->codes[s].n; i++)
			free(c->codes[s].v[i]);
		free(c->codes[s].v);
	}
	free(c->codes);
	for (size_t i = 0; i < c->nimports; i++) {
		free(c->imports[i].plugin);
		free(c->imports[i].fn);
	}
	free(c->imports);
	memset(c, 0, sizeof(*c));
}

size_t su_check(su_diags *d, su_file **files, size_t nfiles, su_schema *sc, const stepup_plugins *plugins,
                su_checked *out)
{
	ctx c = { .d = d, .out = out, .sc = sc, .plugins = plugins };
	size_t before = d->nerrors, nlets = 0, k = 0;
	su_loc name_loc = {0};

	memset(out, 0, sizeof(*out));
	out->merchant_policy = -1;
	out->codes = calloc(sc->nfields ? sc->nfields : 1, sizeof(*out->codes));
	if (!out->codes) {
		d->oom = 1;
		return 1;
	}
	out->ncodes = sc->nfields;

	for (size_t i = 0; i < nfiles; i++) {
		su_file *f = files[i];
		if (f->ruleset_name) {
			if (!out->name) {
				out->name = f->ruleset_name;
				name_loc = f->name_loc;
			} else if (strcmp(out->name, f->ruleset_name) != 0) {
				su_error(d, f->name_loc, "ruleset is named '%s' here but '%s' elsewhere",
				         f->ruleset_name, out->name);
				su_note(d, name_loc, "first named here");
			}
		}
		for (su_let_decl *l = f->lets; l; l = l->next)
			nlets++;
	}

	/* Constants are global to the ruleset and may be used before their
	 * definition, so collect them all first. */
	c.lets = calloc(nlets ? nlets : 1, sizeof(*c.lets));
	if (!c.lets) {
		d->oom = 1;
		return 1;
	}
	for (size_t i = 0; i < nfiles; i++)
		for (su_let_decl *l = files[i]->lets; l; l = l->next) {
			su_let_decl *prev = NULL;
			for (size_t j = 0; j < k; j++)
				if (strcmp(c.lets[j]->name, l->name) == 0)
					prev = c.lets[j];
			if (prev) {
				su_error(d, l->loc, "constant '%s' is defined twice", l->name);
				su_note(d, prev->loc, "first defined here");
				continue;
			}
			if (field_slot(&c, l->name) >= 0 || method_lookup(l->name) >= 0) {
				su_error(d, l->loc, "'%s' is a field or method name and cannot be redefined", l->name);
				continue;
			}
			c.lets[k++] = l;
		}
	c.nlets = k;

	for (size_t i = 0; i < nfiles; i++)
		check_methods(&c, files[i]);
	for (size_t i = 0; i < nfiles; i++)
		check_policies(&c, files[i]);

	/* Rule names: an open-addressing set, as rulesets reach 10,000 rules. */
	size_t nrules = 0;
	for (size_t i = 0; i < nfiles; i++)
		for (su_rule_decl *r = files[i]->rules; r; r = r->next)
			nrules++;
	size_t cap = 16;
	while (cap < nrules * 2)
		cap *= 2;
	su_rule_decl **seen = calloc(cap, sizeof(*seen));
	if (!seen) {
		d->oom = 1;
		free(c.lets);
		return 1;
	}
	for (size_t i = 0; i < nfiles; i++)
		for (su_rule_decl *r = files[i]->rules; r; r = r->next) {
			size_t h = 5381;
			for (const char *q = r->name; *q; q++)
				h = h * 33 + (unsigned char)*q;
			for (h &= cap - 1; seen[h] && strcmp(seen[h]->name, r->name) != 0; h = (h + 1) & (cap - 1))
				;
			if (seen[h]) {
				su_error(d, r->loc, "duplicate rule '%s'", r->name);
				su_note(d, seen[h]->loc, "first defined here");
				continue;
			}
			seen[h] = r;
			check_rule(&c, r);
		}
	free(seen);

	/* After a constant limit, the constants past it were never read:
	 * calling them unused would be wrong. */
	for (size_t i = 0; i < c.nlets && !c.let_cut; i++)
		if (!c.lets[i]->used)
			su_warning(d, c.lets[i]->loc, "constant '%s' is never used", c.lets[i]->name);
	free(c.lets);
	return d->nerrors - before;
}
