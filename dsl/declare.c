/* declare.c: `field` declarations to a schema (declare.h).
 *
 *   field PATH ["description"] TYPE OPTION...
 *
 *   TYPE    bool | int [LO..HI] | string | [open] enum {A, B, ...}
 *           | list of string | list of code {A, B, ...}
 *   OPTION  secret | required | summary | LO..HI (int) | length LO..HI
 *           | format id|card_number|csc|phone|phone_digits|email|digits
 *           | role request_id|channel|language|pan_suffix|token_requestor_id|token_requestor_name
 *           | contact OTP_SMS|OTP_EMAIL | merchant {VALUES} (with role channel)
 *           | from string (int) | default VALUE | default last4(F) | default bin(F)
 *           | derived last4(F) | derived bin(F)
 *
 * The parser keeps the items as written; everything is checked here, with
 * the item's location in every message. A path may be declared again with
 * the same type (a ruleset extending the default schema): the later
 * declaration may add a description, a default or `summary`, or narrow a
 * range or length, nothing else. */
#include "declare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_ctx.h"

typedef struct decl_info {
	su_loc loc;              /* first declaration */
	char *typesig;           /* "int", "enum {A,B}", ... */
	const su_node *deflt;    /* default value or derivation, resolved at the end */
	const su_node *derive;   /* derived FN(F) */
	const su_node *merchant;
	su_loc role_loc;
} decl_info;

typedef struct ctx {
	su_diags *d;
	su_schema *sc;
	decl_info *info;
	uint32_t ninfo, capinfo;
	int errors;
} ctx;

static const char *const types_hint =
	"bool, int, string, enum {...}, open enum {...}, list of string or list of code {...}";
static const char *const options[] = {
	"secret", "required", "summary", "length", "format", "role", "contact", "merchant",
	"from", "default", "derived",
};

static void err(ctx *c, su_loc loc, const char *fmt, ...) SU_PRINTF(3, 4);
static void err(ctx *c, su_loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	su_vdiag(c->d, STEPUP_DIAG_ERROR, loc, fmt, ap);
	va_end(ap);
	c->errors++;
}

static int is_word(const su_node *n, const char *w)
{
	return n && n->kind == SU_N_IDENT && strcmp(n->text, w) == 0;
}

static const char *closest(const char *word, const char *const *list, size_t n)
{
	const char *best = NULL;
	unsigned bd = 3;
	for (size_t i = 0; i < n; i++) {
		unsigned dd = su_edit_distance(word, list[i], 2);
		if (dd < bd) {
			bd = dd;
			best = list[i];
		}
	}
	return best;
}

/* What an item is, for messages. */
static const char *item_text(const su_node *n, char *buf, size_t size)
{
	switch (n->kind) {
	case SU_N_IDENT: snprintf(buf, size, "'%s'", n->text); break;
	case SU_N_INT: snprintf(buf, size, "'%lld'", (long long)n->ival); break;
	case SU_N_RANGE: snprintf(buf, size, "a range"); break;
	case SU_N_SET: snprintf(buf, size, "a list of values"); break;
	case SU_N_STRING: snprintf(buf, size, "a string"); break;
	case SU_N_BOOL: snprintf(buf, size, "'%s'", n->ival ? "true" : "false"); break;
	case SU_N_CALL: snprintf(buf, size, "'%s(...)'", n->text); break;
	default: snprintf(buf, size, "this"); break;
	}
	return buf;
}

/* ---- the type ---------------------------------------------------------- */

typedef struct pend {
	su_field f;
	const su_node *values;   /* SET of an enum or code list */
	const su_node *range, *length, *deflt, *derive, *merchant;
	const su_node *format, *role, *contact;
	su_loc type_loc;
	char typesig[2048];
	unsigned given;          /* options present, by bit of `options` */
} pend;

static void sig_values(pend *p, const su_node *set)
{
	size_t n = strlen(p->typesig);
	n += (size_t)snprintf(p->typesig + n, sizeof(p->typesig) - n, " {");
	for (const su_node *v = set ? set->a : NULL; v && n < sizeof(p->typesig); v = v->next)
		n += (size_t)snprintf(p->typesig + n, sizeof(p->typesig) - n, "%s%s", v->text,
		                      v->next ? ", " : "");
	if (n < sizeof(p->typesig))
		snprintf(p->typesig + n, sizeof(p->typesig) - n, "}");
}

/* TYPE from the items; returns the first item after it. */
static const su_node *read_type(ctx *c, const su_field_decl *fd, const su_node *it, pend *p)
{
	char b[64];
	int open = 0;

	if (!it) {
		err(c, fd->loc, "field '%s' has no type (expected %s)", fd->path, types_hint);
		return NULL;
	}
	p->type_loc = it->loc;
	if (is_word(it, "open")) {
		open = 1;
		it = it->next;
		if (!is_word(it, "enum")) {
			err(c, it ? it->loc : p->type_loc, "'open' goes before 'enum {...}'");
			return NULL;
		}
	}
	if (it->kind != SU_N_IDENT) {
		err(c, it->loc, "expected the type of field '%s', found %s (one of %s)", fd->path,
		    item_text(it, b, sizeof(b)), types_hint);
		return NULL;
	}
	const char *t = it->text;
	if (strcmp(t, "bool") == 0) {
		p->f.type = SU_T_BOOL;
	} else if (strcmp(t, "int") == 0) {
		p->f.type = SU_T_INT;
		p->f.min = INT64_MIN;
		p->f.max = INT64_MAX;
	} else if (strcmp(t, "string") == 0) {
		p->f.type = SU_T_STRING;
		p->f.max = SU_STRING_MAX_DEFAULT;
	} else if (strcmp(t, "enum") == 0) {
		p->f.type = SU_T_ENUM;
		if (open)
			p->f.flags |= SU_FF_OPEN;
		if (!it->next || it->next->kind != SU_N_SET) {
			err(c, it->loc, "an enum lists its values: enum {A, B, ...}");
			return NULL;
		}
		it = it->next;
		p->values = it;
		if (!it->a) {
			err(c, it->loc, "an enum needs at least one value");
			return NULL;
		}
	} else if (strcmp(t, "list") == 0) {
		p->f.type = SU_T_REASONS;
		if (!is_word(it->next, "of") || !it->next->next ||
		    (!is_word(it->next->next, "string") && !is_word(it->next->next, "code"))) {
			err(c, it->loc, "write 'list of string' or 'list of code {A, B, ...}'");
			return NULL;
		}
		it = it->next->next;
		if (is_word(it, "string")) {
			p->f.flags |= SU_FF_FREE;
		} else if (it->next && it->next->kind == SU_N_SET) {
			it = it->next;
			p->values = it;
		}
	} else {
		static const char *const tn[] = { "bool", "int", "string", "enum", "list" };
		const char *s = closest(t, tn, 5);
		if (s)
			err(c, it->loc, "unknown type '%s' for field '%s'; did you mean '%s'?", t, fd->path, s);
		else
			err(c, it->loc, "unknown type '%s' for field '%s' (expected %s)", t, fd->path, types_hint);
		return NULL;
	}
	/* Whether unknown values are refused or read as "other" is how the
	 * decoder treats them, not the type: `enum {A, B}` may redeclare an
	 * `open enum {A, B}` (the first declaration decides). */
	snprintf(p->typesig, sizeof(p->typesig), "%s",
	         p->f.type == SU_T_REASONS ? (p->f.flags & SU_FF_FREE ? "list of string" : "list of code")
	                                   : t);
	if (p->values && p->f.type == SU_T_ENUM)
		sig_values(p, p->values);
	return it->next;
}

/* Values of an enum or a code list: names, each once. */
static int check_values(ctx *c, const su_node *set, int is_enum)
{
	int ok = 1;
	unsigned n = 0;
	for (const su_node *v = set->a; v; v = v->next, n++) {
		for (const su_node *w = set->a; w != v; w = w->next)
			if (strcmp(w->text, v->text) == 0) {
				err(c, v->loc, "value '%s' is listed twice", v->text);
				ok = 0;
				break;
			}
	}
	if (is_enum && n > SU_MAX_ENUM_VALUES) {
		err(c, set->loc, "an enum has at most %d values, this one has %u", SU_MAX_ENUM_VALUES, n);
		ok = 0;
	}
	return ok;
}

/* ---- the options ---------------------------------------------------------- */

static int option_index(const char *w)
{
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (strcmp(w, options[i]) == 0)
			return (int)i;
	return -1;
}

static int want_kind(ctx *c, const su_node *opt, const su_node *arg, su_node_kind k, const char *what)
{
	if (arg && arg->kind == k)
		return 1;
	err(c, arg ? arg->loc : opt->loc, "'%s' needs %s", opt->text, what);
	return 0;
}

static int keyword_of(const char *const *names, unsigned count, const su_node *arg)
{
	for (unsigned i = 1; i < count; i++)
		if (arg->kind == SU_N_IDENT && strcmp(arg->text, names[i]) == 0)
			return (int)i;
	return -1;
}

static const char *const fmt_words[SU_FMT_COUNT] = {
#define X(K, NAME) NAME,
	SU_FORMATS(X)
#undef X
};
static const char *const role_words[] = {
	"", "request_id", "channel", "language", "pan_suffix", "token_requestor_id", "token_requestor_name",
};

static void list_words(char *buf, size_t size, const char *const *w, unsigned n)
{
	size_t k = 0;
	buf[0] = '\0';
	for (unsigned i = 1; i < n && k < size; i++)
		k += (size_t)snprintf(buf + k, size - k, "%s%s", w[i], i + 1 < n ? ", " : "");
}

static const su_node *read_option(ctx *c, const su_field_decl *fd, const su_node *it, pend *p)
{
	char b[300];

	if (it->kind == SU_N_RANGE) {
		if (p->f.type != SU_T_INT) {
			err(c, it->loc, "a range applies to an int field; for a string write 'length %lld..%lld'",
			    (long long)it->a->ival, (long long)it->b->ival);
			return it->next;
		}
		p->range = it;
		return it->next;
	}
	if (it->kind == SU_N_STRING) {
		err(c, it->loc, "the description of field '%s' goes right after its path", fd->path);
		return it->next;
	}
	if (it->kind != SU_N_IDENT) {
		err(c, it->loc, "unexpected %s in the declaration of field '%s'", item_text(it, b, sizeof(b)), fd->path);
		return it->next;
	}
	int o = option_index(it->text);
	if (o < 0) {
		const char *s = closest(it->text, options, sizeof(options) / sizeof(options[0]));
		if (s)
			err(c, it->loc, "unknown option '%s' for field '%s'; did you mean '%s'?", it->text, fd->path, s);
		else
			err(c, it->loc, "unknown option '%s' for field '%s'", it->text, fd->path);
		return it->next;
	}
	if (p->given & (1u << o)) {
		err(c, it->loc, "option '%s' is given twice", it->text);
		return it->next;
	}
	p->given |= 1u << o;
	const su_node *arg = it->next;
	const char *w = it->text;
	if (strcmp(w, "secret") == 0) {
		p->f.flags |= SU_FF_SECRET;
		return arg;
	}
	if (strcmp(w, "required") == 0) {
		p->f.flags |= SU_FF_REQUIRED;
		return arg;
	}
	if (strcmp(w, "summary") == 0) {
		p->f.flags |= SU_FF_SUMMARY;
		return arg;
	}
	if (strcmp(w, "from") == 0) {
		if (!is_word(arg, "string")) {
			err(c, arg ? arg->loc : it->loc, "write 'from string' (an int that may arrive as \"4\")");
			return arg;
		}
		if (p->f.type != SU_T_INT)
			err(c, it->loc, "'from string' applies to an int field");
		p->f.flags |= SU_FF_FROM_STRING;
		return arg->next;
	}
	if (strcmp(w, "length") == 0) {
		if (!want_kind(c, it, arg, SU_N_RANGE, "a range of lengths, e.g. length 1..128"))
			return arg;
		if (p->f.type != SU_T_STRING)
			err(c, it->loc, "'length' applies to a string field");
		else if (arg->a->ival < 0 || arg->b->ival > 1 << 20)
			err(c, arg->loc, "a length must lie in 0..%d", 1 << 20);
		p->length = arg;
		return arg->next;
	}
	if (strcmp(w, "format") == 0) {
		if (!want_kind(c, it, arg, SU_N_IDENT, "a format name"))
			return arg;
		int f = keyword_of(fmt_words, SU_FMT_COUNT, arg);
		if (f < 0) {
			list_words(b, sizeof(b), fmt_words, SU_FMT_COUNT);
			err(c, arg->loc, "unknown format '%s' (expected one of %s)", arg->text, b);
		} else if (p->f.type != SU_T_STRING) {
			err(c, it->loc, "a format applies to a string field");
		} else {
			p->f.format = (uint8_t)f;
			p->format = arg;
		}
		return arg->next;
	}
	if (strcmp(w, "role") == 0) {
		if (!want_kind(c, it, arg, SU_N_IDENT, "a role name"))
			return arg;
		int r = keyword_of(role_words, sizeof(role_words) / sizeof(role_words[0]), arg);
		if (p->contact) {
			err(c, it->loc, "a field has one role (it is already a contact)");
		} else if (r < 0) {
			list_words(b, sizeof(b), role_words, sizeof(role_words) / sizeof(role_words[0]));
			err(c, arg->loc, "unknown role '%s' (expected one of %s, or 'contact OTP_SMS|OTP_EMAIL')",
			    arg->text, b);
		} else {
			p->f.role = (uint8_t)r;
			p->role = arg;
		}
		return arg->next;
	}
	if (strcmp(w, "contact") == 0) {
		if (!want_kind(c, it, arg, SU_N_IDENT, "a method: contact OTP_SMS or contact OTP_EMAIL"))
			return arg;
		if (p->role)
			err(c, it->loc, "a field has one role (it already has role %s)", p->role->text);
		else if (strcmp(arg->text, "OTP_SMS") == 0)
			p->f.role = SU_ROLE_CONTACT_SMS;
		else if (strcmp(arg->text, "OTP_EMAIL") == 0)
			p->f.role = SU_ROLE_CONTACT_EMAIL;
		else
			err(c, arg->loc, "'%s' has no contact (expected OTP_SMS or OTP_EMAIL)", arg->text);
		p->contact = arg;
		return arg->next;
	}
	if (strcmp(w, "merchant") == 0) {
		if (!want_kind(c, it, arg, SU_N_SET, "the channel values without step-up: merchant {A, ...}"))
			return arg;
		p->merchant = arg;
		return arg->next;
	}
	if (strcmp(w, "default") == 0) {
		if (!arg) {
			err(c, it->loc, "'default' needs a value");
			return arg;
		}
		p->deflt = arg;
		return arg->next;
	}
	/* derived */
	if (!want_kind(c, it, arg, SU_N_CALL, "last4(FIELD) or bin(FIELD)"))
		return arg;
	p->derive = arg;
	return arg->next;
}

/* ---- one declaration ---------------------------------------------------- */

static int derive_kind(const char *fn)
{
	return strcmp(fn, "last4") == 0 ? SU_DERIVE_LAST4 : strcmp(fn, "bin") == 0 ? SU_DERIVE_BIN : -1;
}

static int option_conflicts(ctx *c, const su_field_decl *fd, pend *p)
{
	su_field *f = &p->f;
	int n = c->errors;
	if (p->range) {
		if (p->range->a->ival > p->range->b->ival)
			err(c, p->range->loc, "empty range %lld..%lld", (long long)p->range->a->ival,
			    (long long)p->range->b->ival);
		f->min = p->range->a->ival;
		f->max = p->range->b->ival;
	}
	if (p->length) {
		if (p->length->a->ival > p->length->b->ival)
			err(c, p->length->loc, "empty length range");
		f->min = p->length->a->ival;
		f->max = p->length->b->ival;
	}
	if (f->role && f->role != SU_ROLE_CHANNEL && f->type != SU_T_STRING)
		err(c, (p->role ? p->role : p->contact)->loc, "role %s needs a string field", su_role_name(f->role));
	if (f->role == SU_ROLE_CHANNEL && f->type != SU_T_ENUM)
		err(c, p->role->loc, "role channel needs an enum field");
	if (p->merchant && f->role != SU_ROLE_CHANNEL)
		err(c, p->merchant->loc, "'merchant' goes with 'role channel'");
	if (f->role == SU_ROLE_CONTACT_SMS && f->format != SU_FMT_PHONE)
		err(c, p->contact->loc, "a contact for OTP_SMS needs 'format phone' (it is masked as a phone)");
	if (f->role == SU_ROLE_CONTACT_EMAIL && f->format != SU_FMT_EMAIL)
		err(c, p->contact->loc, "a contact for OTP_EMAIL needs 'format email' (it is masked as an e-mail)");
	if (f->flags & SU_FF_SECRET) {
		const char *why = (f->flags & SU_FF_SUMMARY) ? "in the summary handed to plugins"
		                : f->role == SU_ROLE_CONTACT_SMS || f->role == SU_ROLE_CONTACT_EMAIL
		                        ? "a contact, shown masked in responses"
		                : f->role ? "given a role, which outputs or stores it" : NULL;
		if (why)
			err(c, fd->loc, "secret field '%s' cannot be %s: a secret is never output", fd->path, why);
	}
	if ((f->flags & SU_FF_REQUIRED) && (p->deflt || p->derive))
		err(c, (p->deflt ? p->deflt : p->derive)->loc, "a required field has no default");
	if (p->deflt && p->derive)
		err(c, p->derive->loc, "a derived field has no default");
	if (f->format == SU_FMT_CARD_NUMBER && !(f->flags & SU_FF_SECRET))
		err(c, p->format->loc, "a card number field must be 'secret'");
	return c->errors == n;
}

/* The default's value, once the fields are all known. */
static void resolve_default(ctx *c, uint32_t slot, const su_node *v)
{
	su_field *f = &c->sc->fields[slot];
	const char *path = SU_FPATH(c->sc, slot);
	char b[64];

	if (v->kind == SU_N_CALL) {
		int k = derive_kind(v->text);
		if (k < 0 || f->type != SU_T_STRING) {
			err(c, v->loc, "a default of field '%s' is a %s value%s", path, su_type_name(f->type),
			    f->type == SU_T_STRING ? ", \"text\", last4(FIELD) or bin(FIELD)" : "");
			return;
		}
		f->flags |= SU_FF_DEFAULT_DERIVED;
		f->derive = (uint8_t)k;
		return;
	}
	switch (f->type) {
	case SU_T_BOOL:
		if (v->kind != SU_N_BOOL)
			break;
		f->dflt = v->ival;
		f->flags |= SU_FF_DEFAULT;
		return;
	case SU_T_INT:
		if (v->kind != SU_N_INT)
			break;
		if (v->ival < f->min || v->ival > f->max)
			err(c, v->loc, "default %lld is outside the range %lld..%lld", (long long)v->ival,
			    (long long)f->min, (long long)f->max);
		f->dflt = v->ival;
		f->flags |= SU_FF_DEFAULT;
		return;
	case SU_T_STRING:
		if (v->kind != SU_N_STRING)
			break;
		f->dflt = su_schema_str(c->sc, v->text, strlen(v->text));
		f->flags |= SU_FF_DEFAULT;
		return;
	case SU_T_ENUM:
		if (v->kind != SU_N_IDENT)
			break;
		int id = su_schema_value(c->sc, slot, v->text, strlen(v->text));
		if (id < 0) {
			err(c, v->loc, "default '%s' is not a value of field '%s'", v->text, path);
			return;
		}
		f->dflt = id;
		f->flags |= SU_FF_DEFAULT;
		return;
	default:
		err(c, v->loc, "a list has no default");
		return;
	}
	err(c, v->loc, "this default (%s) does not fit field '%s', a %s", item_text(v, b, sizeof(b)), path,
	    su_type_name(f->type));
}

static uint32_t add_values(ctx *c, const su_node *set, su_srange *out)
{
	uint32_t tmp[SU_MAX_ENUM_VALUES + 1], n = 0;
	su_srange r = { c->sc->nitems, 0 };
	/* Code lists may be long: add in batches. */
	for (const su_node *v = set ? set->a : NULL; v; v = v->next) {
		tmp[n++] = su_schema_str(c->sc, v->text, strlen(v->text));
		if (n == sizeof(tmp) / sizeof(tmp[0]) || !v->next) {
			su_srange part = su_schema_items(c->sc, tmp, n);
			if (!r.count)
				r.start = part.start;
			r.count += n;
			n = 0;
		}
	}
	*out = r;
	return r.count;
}

static decl_info *info_of(ctx *c, uint32_t slot)
{
	if (slot >= c->capinfo) {
		uint32_t cap = c->capinfo ? c->capinfo * 2 : 64;
		while (cap <= slot)
			cap *= 2;
		decl_info *p = realloc(c->info, cap * sizeof(*p));
		if (!p) {
			c->d->oom = 1;
			return NULL;
		}
		memset(p + c->capinfo, 0, (cap - c->capinfo) * sizeof(*p));
		c->info = p;
		c->capinfo = cap;
	}
	if (slot >= c->ninfo)
		c->ninfo = slot + 1;
	return &c->info[slot];
}

/* A later declaration of a declared path: same type, and only additions. */
static void redeclare(ctx *c, const su_field_decl *fd, uint32_t slot, pend *p, const su_node *desc)
{
	decl_info *in = &c->info[slot];
	su_field *f = &c->sc->fields[slot];
	const su_source *src = &c->d->src[in->loc.file];

	if (strcmp(in->typesig, p->typesig) != 0) {
		err(c, p->type_loc, "field '%s' is declared as %s here but as %s in %s:%u", fd->path,
		    p->typesig, in->typesig, src->name, in->loc.first_line);
		su_note(c->d, in->loc, "first declared here");
		return;
	}
	unsigned allowed = 1u << option_index("summary") | 1u << option_index("default") |
	                   1u << option_index("length");
	if (p->given & ~allowed) {
		err(c, fd->loc,
		    "field '%s' is already declared (%s:%u): a later declaration may add a description, "
		    "a default or 'summary', or narrow its range or length, nothing else",
		    fd->path, src->name, in->loc.first_line);
		return;
	}
	const su_node *narrow = p->range ? p->range : p->length;
	if (narrow) {
		if (narrow->a->ival < f->min || narrow->b->ival > f->max)
			err(c, narrow->loc, "field '%s' is declared with %lld..%lld; a later declaration may only narrow it",
			    fd->path, (long long)f->min, (long long)f->max);
		else {
			f->min = narrow->a->ival;
			f->max = narrow->b->ival;
		}
	}
	if (desc && f->desc == SU_SNONE)
		f->desc = su_schema_str(c->sc, desc->text, strlen(desc->text));
	if (p->f.flags & SU_FF_SUMMARY)
		f->flags |= SU_FF_SUMMARY;
	if (p->deflt) {
		if (in->deflt || (f->flags & (SU_FF_DEFAULT | SU_FF_DERIVED | SU_FF_DEFAULT_DERIVED)))
			err(c, p->deflt->loc, "field '%s' already has a default", fd->path);
		else
			in->deflt = p->deflt;
	}
}

static void declare_one(ctx *c, const su_field_decl *fd)
{
	pend p;
	const su_node *it = fd->items, *desc = NULL;

	memset(&p, 0, sizeof(p));
	if (it && it->kind == SU_N_STRING) {
		desc = it;
		it = it->next;
	}
	it = read_type(c, fd, it, &p);
	if (!p.f.type)
		return;
	while (it)
		it = read_option(c, fd, it, &p);
	if (p.values && !check_values(c, p.values, p.f.type == SU_T_ENUM))
		return;
	if (!option_conflicts(c, fd, &p))
		return;

	int slot = su_schema_lookup(c->sc, fd->path, strlen(fd->path));
	if (slot >= 0) {
		redeclare(c, fd, (uint32_t)slot, &p, desc);
		return;
	}
	if (c->sc->nfields >= SU_MAX_FIELDS) {
		err(c, fd->loc, "too many fields (at most %d)", SU_MAX_FIELDS);
		return;
	}
	su_field *f = &p.f;
	f->path = su_schema_str(c->sc, fd->path, strlen(fd->path));
	f->desc = desc ? su_schema_str(c->sc, desc->text, strlen(desc->text)) : SU_SNONE;
	if (p.values)
		add_values(c, p.values, &f->values);
	if (p.derive) {
		int k = derive_kind(p.derive->text);
		if (k < 0 || f->type != SU_T_STRING)
			err(c, p.derive->loc, "a derived field is a string computed by last4(FIELD) or bin(FIELD)");
		f->flags |= SU_FF_DERIVED;
		f->derive = (uint8_t)(k < 0 ? 0 : k);
	}
	uint32_t s = su_schema_add(c->sc, f);
	if (c->sc->oom)
		return;
	decl_info *in = info_of(c, s);
	if (!in)
		return;
	in->loc = fd->loc;
	in->typesig = strdup(p.typesig);
	in->deflt = p.deflt;
	in->derive = p.derive;
	in->merchant = p.merchant;
	in->role_loc = p.role ? p.role->loc : p.contact ? p.contact->loc : fd->loc;
	if (!in->typesig)
		c->d->oom = 1;
	/* Later declarations find this one through the path hash. */
	if (su_schema_index(c->sc, s) < 0)
		c->d->oom = 1;
}

/* ---- after every declaration ----------------------------------------------- */

static void finish(ctx *c)
{
	su_schema *sc = c->sc;

	for (uint32_t s = 0; s < sc->nfields; s++) {
		su_field *f = &sc->fields[s];
		decl_info *in = &c->info[s];
		const char *path = SU_FPATH(sc, s);
		/* An object and a field at once: "a.b" and "a.b.c". */
		for (const char *dot = strchr(path, '.'); dot; dot = strchr(dot + 1, '.')) {
			int o = su_schema_lookup(sc, path, (size_t)(dot - path));
			if (o >= 0) {
				err(c, in->loc, "field '%s' makes '%s' an object, but '%s' is declared as a field",
				    path, SU_FPATH(sc, (uint32_t)o), SU_FPATH(sc, (uint32_t)o));
				su_note(c->d, c->info[o].loc, "'%s' is declared here", SU_FPATH(sc, (uint32_t)o));
			}
		}
		if (in->deflt)
			resolve_default(c, s, in->deflt);
		const su_node *call = in->derive ? in->derive : (f->flags & SU_FF_DEFAULT_DERIVED) ? in->deflt : NULL;
		if (call) {
			const su_node *arg = call->a;
			int src = arg && !arg->next ? su_schema_lookup(sc, arg->text, strlen(arg->text)) : -1;
			if (src < 0) {
				err(c, arg ? arg->loc : call->loc, "%s() needs one declared field%s%s%s", call->text,
				    arg ? " ('" : "", arg ? arg->text : "", arg ? "' is not one)" : "");
			} else if (sc->fields[src].type != SU_T_STRING ||
			           (sc->fields[src].flags & (SU_FF_DERIVED | SU_FF_DEFAULT_DERIVED)) ||
			           (uint32_t)src == s) {
				err(c, arg->loc, "%s() reads a plain string field, not '%s'", call->text, arg->text);
			} else {
				f->source = (uint32_t)src;
			}
		}
		if (f->type == SU_T_ENUM) {
			f->ekind = s;
			for (uint32_t o = 0; o < s; o++)
				if (sc->fields[o].type == SU_T_ENUM && sc->fields[o].values.count == f->values.count &&
				    !((sc->fields[o].flags ^ f->flags) & SU_FF_OPEN)) {
					int same = 1;
					for (uint32_t i = 0; same && i < f->values.count; i++)
						same = strcmp(SU_SSTR(sc, sc->items[sc->fields[o].values.start + i]),
						              SU_SSTR(sc, sc->items[f->values.start + i])) == 0;
					if (same) {
						f->ekind = sc->fields[o].ekind;
						break;
					}
				}
		}
		if (in->merchant)
			for (const su_node *v = in->merchant->a; v; v = v->next) {
				int id = su_schema_value(sc, s, v->text, strlen(v->text));
				if (id < 0)
					err(c, v->loc, "'%s' is not a value of field '%s'", v->text, path);
				else
					f->merchant |= UINT64_C(1) << id;
			}
		if (f->role) {
			for (uint32_t o = 0; o < s; o++)
				if (sc->fields[o].role == f->role) {
					err(c, in->role_loc, "role %s is already on field '%s'", su_role_name(f->role),
					    SU_FPATH(sc, o));
					su_note(c->d, c->info[o].role_loc, "given here");
					break;
				}
		}
	}
}

static void info_free(ctx *c)
{
	for (uint32_t i = 0; i < c->ninfo; i++)
		free(c->info[i].typesig);
	free(c->info);
}

/* Declare the fields of one parsed file. */
static void declare_file(ctx *c, const su_file *f)
{
	for (const su_field_decl *fd = f->fields; fd; fd = fd->next)
		declare_one(c, fd);
}

su_schema *su_declare(su_diags *d, su_file **files, size_t nfiles)
{
	/* The built-in schemas a file may choose with `schema NAME`. */
	static const struct {
		const char *name, *file;
		const char *text;
	} builtins[] = {
		{ "tokenization", SU_SCHEMA_DEFAULT_NAME, su_schema_tokenization },
		{ "mdes", "schema/mdes.rules", su_schema_mdes },
	};
	ctx c = { .d = d };
	int chosen = 0;  /* index in builtins, -1: none */
	const su_file *chooser = NULL;
	su_file *builtin = NULL;

	for (size_t i = 0; i < nfiles; i++) {
		const su_file *f = files[i];
		if (!f->schema)
			continue;
		int k = -2;
		if (strcmp(f->schema, "none") == 0)
			k = -1;
		for (int b = 0; b < (int)(sizeof(builtins) / sizeof(builtins[0])); b++)
			if (strcmp(f->schema, builtins[b].name) == 0)
				k = b;
		if (k == -2) {
			su_error(d, f->schema_loc, "unknown schema '%s' (expected none, tokenization or mdes)",
			         f->schema);
			continue;
		}
		if (chooser && k != chosen) {
			su_error(d, f->schema_loc, "this file chooses schema '%s', another '%s'", f->schema,
			         chooser->schema);
			su_note(d, chooser->schema_loc, "chosen here");
			continue;
		}
		chooser = f;
		chosen = k;
	}
	if (!(c.sc = su_schema_new())) {
		d->oom = 1;
		return NULL;
	}
	if (chosen >= 0) {
		const char *text = builtins[chosen].text;
		int k = su_diags_add_source(d, builtins[chosen].file, text, strlen(text));
		if (k < 0 || !(builtin = su_parse(d, (unsigned)k))) {
			d->oom = 1;
			goto out;
		}
		d->src[k].builtin = 1;
		declare_file(&c, builtin);
	}
	for (size_t i = 0; i < nfiles; i++)
		declare_file(&c, files[i]);
	finish(&c);
	if (c.sc->oom)
		d->oom = 1;
	if (!c.errors && !d->oom) {
		char why[256];
		if (su_schema_prepare(c.sc, why, sizeof(why)) < 0)
			su_error(d, (su_loc){ .file = 0 }, "schema: %s", why);
	}
out:
	su_file_free(builtin);
	info_free(&c);
	return c.sc;
}

su_schema *su_default_schema(char *e, size_t elen)
{
	su_diags d;
	su_diags_init(&d);
	su_schema *sc = su_declare(&d, NULL, 0);
	if (sc && d.nerrors == 0 && !d.oom) {
		su_diags_fini(&d);
		return sc;
	}
	snprintf(e, elen, "the default schema does not build: %s",
	         d.n ? d.items[0].message : "out of memory");
	su_schema_free(sc);
	su_diags_fini(&d);
	return NULL;
}
