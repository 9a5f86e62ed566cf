/* response.c: rendering a decision as the JSON of DESIGN.md §3.
 * Only masked contact data and configured issuer data are written; the
 * request's secrets have no path to this file's output. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "decision.h"
#include "engine.h"
#include "jsonw.h"

#include <stdlib.h>
#include "request.h"

static const char *const tri_names[] = { "FALSE", "TRUE", "ABSENT" };

static void write_at(su_jw *w, const stepup_ruleset *rs, uint32_t file, uint32_t line)
{
	char num[16];
	size_t fl = SU_STRLEN(rs, rs->files[file]);
	int n = snprintf(num, sizeof(num), ":%u", line);

	su_jw_str(w, SU_STR(rs, rs->files[file]), fl);
	(*w->len)--;  /* splice ":line" inside the quotes */
	su_jw_raw(w, num, (size_t)n);
	su_jw_raw(w, "\"", 1);
}

static void write_method(su_jw *w, const stepup_engine *e, const stepup_request *r,
                         const stepup_decision *d, unsigned type)
{
	char masked[300];
	size_t n;
	su_str c;

	switch (type) {
	case STEPUP_IN_APP:
		if (d->app_json) {
			/* describe()'s object, checked and re-serialised by the
			 * plugin host, with the type first. */
			size_t len = strlen(d->app_json);
			SU_JW_LIT(w, "{\"type\":\"IN_APP\"");
			if (len > 2)
				SU_JW_LIT(w, ",");
			su_jw_raw(w, d->app_json + 1, len - 1);
			return;
		}
		su_jw_raw(w, e->frag + e->inapp_at, e->inapp_end - e->inapp_at);
		return;
	case STEPUP_OTP_SMS:  /* offered only when the contact is present */
		c = su_rstr(r, (unsigned)su_request_role_slot(r, SU_ROLE_CONTACT_SMS));
		n = stepup_mask_phone(c.s, c.len, masked, sizeof(masked));
		break;
	case STEPUP_OTP_EMAIL:
		c = su_rstr(r, (unsigned)su_request_role_slot(r, SU_ROLE_CONTACT_EMAIL));
		n = stepup_mask_email(c.s, c.len, masked, sizeof(masked));
		break;
	default:
		if (d->cs_number) {
			SU_JW_LIT(w, "{\"type\":\"CUSTOMER_SERVICE\",\"value\":");
			su_jw_cstr(w, d->cs_number);
			SU_JW_LIT(w, ",\"line\":\"");
			su_jw_lit(w, stepup_cs_line_name(d->line_served));
			SU_JW_LIT(w, "\"");
			if (d->cs_hours) {
				SU_JW_LIT(w, ",\"hours\":");
				su_jw_cstr(w, d->cs_hours);
			}
			SU_JW_LIT(w, "}");
			return;
		}
		su_jw_raw(w, e->frag + e->cs_at[d->line_served], e->cs_end[d->line_served] - e->cs_at[d->line_served]);
		return;
	}
	/* OTP methods: the contact, masked, is the only request data written. */
	SU_JW_LIT(w, "{\"type\":\"");
	su_jw_lit(w, stepup_method_name((stepup_method)type));
	SU_JW_LIT(w, "\",\"value\":");
	su_jw_str(w, masked, n < sizeof(masked) ? n : sizeof(masked) - 1);
	SU_JW_LIT(w, "}");
}

/* Fragments that only depend on the engine, rendered once. */
int su_engine_prepare_json(stepup_engine *e)
{
	const stepup_ruleset *rs = e->rs;
	su_jw w = { &e->frag, &e->fraglen, &e->fragcap, 0 };

	e->reason_at = malloc((rs->nrules + 1) * sizeof(size_t));
	if (!e->reason_at)
		return -1;
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const su_rule *ru = &rs->rules[i];
		e->reason_at[i] = e->fraglen;
		SU_JW_LIT(&w, "{\"rule\":");
		su_jw_str(&w, SU_STR(rs, ru->name), SU_STRLEN(rs, ru->name));
		SU_JW_LIT(&w, ",\"outcome\":\"");
		su_jw_lit(&w, stepup_outcome_name((stepup_outcome)ru->outcome));
		SU_JW_LIT(&w, "\",\"at\":");
		write_at(&w, rs, ru->file, ru->line);
		SU_JW_LIT(&w, "}");
	}
	e->reason_at[rs->nrules] = e->fraglen;
	e->trailer_at = e->fraglen;
	SU_JW_LIT(&w, "],\"ruleset\":{\"name\":");
	su_jw_str(&w, SU_STR(rs, rs->name), SU_STRLEN(rs, rs->name));
	SU_JW_LIT(&w, ",\"revision\":\"");
	su_jw_lit(&w, e->revision_hex);  /* the ruleset's, with plugin data versions */
	SU_JW_LIT(&w, "\"}");
	e->trailer_end = e->fraglen;
	e->inapp_at = e->fraglen;
	SU_JW_LIT(&w, "{\"type\":\"IN_APP\",\"app_id\":");
	su_jw_cstr(&w, e->app_id ? e->app_id : "");
	SU_JW_LIT(&w, "}");
	e->inapp_end = e->fraglen;
	for (int line = 0; line < 2; line++) {
		stepup_cs_line served;
		const char *num = su_engine_cs_number(e, (stepup_cs_line)line, &served);
		e->cs_at[line] = e->fraglen;
		SU_JW_LIT(&w, "{\"type\":\"CUSTOMER_SERVICE\",\"value\":");
		su_jw_cstr(&w, num ? num : "");
		SU_JW_LIT(&w, ",\"line\":\"");
		su_jw_lit(&w, stepup_cs_line_name(served));
		SU_JW_LIT(&w, "\"}");
		e->cs_end[line] = e->fraglen;
	}
	return w.oom ? -1 : 0;
}

static const char *method_why_text(unsigned why)
{
	switch (why) {
	case SU_MW_OFFERED: return "offered";
	case SU_MW_NOT_ALLOWED: return "excluded by a fired rule's 'only'";
	case SU_MW_NO_DATA: return "no data to serve it (contact, app id or number)";
	case SU_MW_CONDITION: return "its availability condition is not true";
	case SU_MW_FALLBACK: return "offered as the fallback: nothing else was left";
	case SU_MW_PLUGIN: return "dropped: its plugin could not serve it";
	default: return "not evaluated: the decision is not a step-up";
	}
}

/* ---- explain: what settled a condition, what each test read ---------------- */

/* The test that settled a condition's Kleene result, as an index into the
 * trace (from..to is the condition's part): its code is followed again
 * with the values the trace recorded for its tests, so jumps go the same
 * way. FALSE of an `and` is its FALSE operand, TRUE of an `or` its TRUE
 * one; an ABSENT result is its (last) ABSENT operand: a TRUE or FALSE test
 * never settles ABSENT; otherwise (every operand mattered) the last one.
 * SU_NONE when the trace does not match the code. */
static uint32_t decider(const stepup_ruleset *rs, uint32_t pc, const su_trace *t, uint32_t from, uint32_t to)
{
	uint8_t tri[SU_MAX_STACK];
	uint32_t dec[SU_MAX_STACK], k = from;
	int top = -1;

	for (const su_insn *in = rs->code + pc; in < rs->code + rs->ncode; in++) {
		switch ((enum su_op)in->op) {
		case SU_OP_END:
			return top >= 0 && k == to ? dec[top] : SU_NONE;
		case SU_OP_NOT:
			if (top < 0)
				return SU_NONE;
			if (tri[top] != SU_ABSENT)
				tri[top] ^= 1;
			break;
		case SU_OP_AND:
		case SU_OP_OR: {
			if (top < 1)
				return SU_NONE;
			uint8_t b = tri[top], a = tri[top - 1];
			uint32_t db = dec[top], da = dec[top - 1];
			uint8_t stop = in->op == SU_OP_AND ? SU_FALSE : SU_TRUE;  /* the value that settles it */
			top--;
			if (a == stop || b == stop) {
				tri[top] = stop;
				dec[top] = a == stop ? da : db;
			} else if (a == SU_ABSENT || b == SU_ABSENT) {
				tri[top] = SU_ABSENT;
				dec[top] = b == SU_ABSENT ? db : da;
			} else {
				tri[top] = b;
				dec[top] = db;
			}
			break;
		}
		case SU_OP_JF:
			if (top >= 0 && tri[top] == SU_FALSE)
				in = rs->code + in->c - 1;
			break;
		case SU_OP_JT:
			if (top >= 0 && tri[top] == SU_TRUE)
				in = rs->code + in->c - 1;
			break;
		default:
			/* A test (any opcode opcodes.def says pushes a three-valued
			 * result) or a value for one: the trace has the result. */
			if (in->op < SU_OP_COUNT && su_op_tri[in->op] > 0) {
				if (top + 1 >= SU_MAX_STACK)
					return SU_NONE;
				tri[++top] = SU_ABSENT;
				dec[top] = SU_NONE;
			}
			break;
		}
		if (in->atom != SU_NONE && in->op != SU_OP_JF && in->op != SU_OP_JT) {
			if (top < 0 || k >= to || t->atom[k] != in->atom)
				return SU_NONE;
			tri[top] = t->value[k];
			dec[top] = k++;
		}
	}
	return SU_NONE;
}

#define ATOM_SLOTS 8
#define ATOM_CONSTS 4

/* What one test of a condition reads: fields (slots) and constants (the
 * instructions holding them), found by walking its code. */
typedef struct atom_reads {
	uint32_t atom;
	uint16_t slot[ATOM_SLOTS];
	const su_insn *konst[ATOM_CONSTS];
	uint8_t nslots, nconsts;
} atom_reads;

static void add_slot(atom_reads *a, unsigned slot)
{
	for (unsigned i = 0; i < a->nslots; i++)
		if (a->slot[i] == slot)
			return;
	if (a->nslots < ATOM_SLOTS)
		a->slot[a->nslots++] = (uint16_t)slot;
}

/* The tests of the condition at pc, in code order; returns how many. */
static size_t atom_reads_of(const stepup_ruleset *rs, uint32_t pc, atom_reads *out, size_t max)
{
	atom_reads cur = { 0 };
	size_t n = 0;
	for (const su_insn *in = rs->code + pc; in < rs->code + rs->ncode && in->op != SU_OP_END; in++) {
		switch ((enum su_op)in->op) {
		case SU_OP_PRESENT: case SU_OP_BOOL:
			add_slot(&cur, in->a);
			break;
		case SU_OP_ENUM_IN: case SU_OP_INT_CMP: case SU_OP_STR_CMP: case SU_OP_STR_IN: case SU_OP_REASONS_ANY:
		case SU_OP_REASONS_ALL: case SU_OP_STR_PREFIX: case SU_OP_STR_ENDS: case SU_OP_STR_CONTAINS:
		case SU_OP_STR_LEN:
			add_slot(&cur, in->a);
			if (cur.nconsts < ATOM_CONSTS)
				cur.konst[cur.nconsts++] = in;
			break;
		case SU_OP_STR_SUFFIX:
			add_slot(&cur, in->a);
			add_slot(&cur, in->c);
			break;
		case SU_OP_V_FIELD:
			add_slot(&cur, in->a);
			break;
		case SU_OP_V_INT: case SU_OP_V_FLOAT: case SU_OP_V_STR: case SU_OP_V_ENUM: case SU_OP_V_BOOL:
		case SU_OP_V_IN: case SU_OP_V_HAS:
			if (cur.nconsts < ATOM_CONSTS)
				cur.konst[cur.nconsts++] = in;
			break;
		default:
			break;
		}
		if (in->atom != SU_NONE) {
			cur.atom = in->atom;
			if (n < max)
				out[n++] = cur;
			memset(&cur, 0, sizeof(cur));
		}
	}
	return n;
}

static void write_i64(su_jw *w, int64_t v)
{
	char num[32];
	su_jw_raw(w, num, (size_t)snprintf(num, sizeof(num), "%" PRId64, v));
}

/* The names of the bits of mask, as a JSON array: enum values of field
 * `slot` (`values`), or its codes (`bits`). */
static void write_names(su_jw *w, const su_schema *sc, unsigned slot, uint64_t mask, int codes)
{
	const su_field *f = &sc->fields[slot];
	unsigned n = codes ? f->bits.count : su_schema_value_count(sc, slot);
	int first = 1;
	SU_JW_LIT(w, "[");
	for (unsigned b = 0; b < n && b < 64; b++) {
		if (!(mask >> b & 1))
			continue;
		if (!first)
			SU_JW_LIT(w, ",");
		first = 0;
		if (codes)
			su_jw_str(w, SU_SSTR(sc, sc->items[f->bits.start + b]), SU_SSTRLEN(sc, sc->items[f->bits.start + b]));
		else
			su_jw_cstr(w, su_schema_value_name(sc, slot, b));
	}
	SU_JW_LIT(w, "]");
}

/* A field's value as a test read it: masked when it is a contact or a
 * phone, never when it is a secret (only that it is one). */
static void write_field(su_jw *w, const stepup_ruleset *rs, const stepup_request *r, unsigned slot)
{
	const su_schema *sc = rs->schema;
	const su_field *f = &sc->fields[slot];
	char masked[300];

	SU_JW_LIT(w, "{\"field\":");
	su_jw_str(w, SU_FPATH(sc, slot), SU_SSTRLEN(sc, f->path));
	if ((f->flags & SU_FF_SECRET) || f->format == SU_FMT_CARD_NUMBER || f->format == SU_FMT_CSC) {
		SU_JW_LIT(w, ",\"secret\":true}");
		return;
	}
	SU_JW_LIT(w, ",\"value\":");
	if (!SU_PRESENT(r, slot)) {
		SU_JW_LIT(w, "null}");
		return;
	}
	const su_value *v = &r->f[slot];
	switch ((su_type)f->type) {
	case SU_T_BOOL:
		su_jw_lit(w, v->b ? "true" : "false");
		break;
	case SU_T_INT:
		write_i64(w, v->i);
		break;
	case SU_T_FLOAT: {
		char num[40];
		su_jw_raw(w, num, (size_t)snprintf(num, sizeof(num), "%.17g", v->d));
		break;
	}
	case SU_T_ENUM:
		su_jw_cstr(w, su_schema_value_name(sc, slot, v->e));
		break;
	case SU_T_REASONS:
		write_names(w, sc, slot, v->mask, 1);
		break;
	case SU_T_STRING: {
		su_str s = su_rstr(r, slot);
		/* Phone digits (a wallet's phone suffix) may be the whole
		 * number: up to 4 digits are what a masked phone shows anyway. */
		if (f->role == SU_ROLE_CONTACT_SMS || f->format == SU_FMT_PHONE ||
		    (f->format == SU_FMT_PHONE_DIGITS && s.len > 4)) {
			size_t n = stepup_mask_phone(s.s, s.len, masked, sizeof(masked));
			su_jw_str(w, masked, n < sizeof(masked) ? n : sizeof(masked) - 1);
		} else if (f->role == SU_ROLE_CONTACT_EMAIL || f->format == SU_FMT_EMAIL) {
			size_t n = stepup_mask_email(s.s, s.len, masked, sizeof(masked));
			su_jw_str(w, masked, n < sizeof(masked) ? n : sizeof(masked) - 1);
		} else {
			su_jw_str(w, s.s, s.len);
		}
		break;
	}
	default:
		SU_JW_LIT(w, "null");
	}
	SU_JW_LIT(w, "}");
}

/* The value a constant operand holds, as JSON; `negated`: the test folded
 * a `!=` or `not in` into an enum mask, which is undone. Returns 0 when
 * it cannot be shown. */
static int write_const(su_jw *w, const stepup_ruleset *rs, const su_insn *in, int negated)
{
	const su_schema *sc = rs->schema;
	switch ((enum su_op)in->op) {
	case SU_OP_ENUM_IN: {
		unsigned n = su_schema_value_count(sc, in->a);
		uint64_t full = n >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1, m = rs->masks[in->c];
		if (negated)
			m = full & ~m;
		if (__builtin_popcountll(m) == 1)
			su_jw_cstr(w, su_schema_value_name(sc, in->a, (unsigned)__builtin_ctzll(m)));
		else
			write_names(w, sc, in->a, m, 0);
		return 1;
	}
	case SU_OP_REASONS_ANY:
	case SU_OP_REASONS_ALL:
		write_names(w, sc, in->a, rs->masks[in->c], 1);
		return 1;
	case SU_OP_INT_CMP:
	case SU_OP_STR_LEN:
		write_i64(w, rs->ints[in->c]);
		return 1;
	case SU_OP_V_INT:
		write_i64(w, rs->ints[in->c]);
		return 1;
	case SU_OP_STR_CMP:
	case SU_OP_STR_PREFIX:
	case SU_OP_STR_ENDS:
	case SU_OP_STR_CONTAINS:
	case SU_OP_V_STR:
		su_jw_str(w, SU_STR(rs, in->c), SU_STRLEN(rs, in->c));
		return 1;
	case SU_OP_STR_IN: {
		su_range rg = rs->strsets[in->c];
		SU_JW_LIT(w, "[");
		for (uint32_t i = 0; i < rg.count; i++) {
			uint32_t k = rs->setitems[rg.start + i];
			if (i)
				SU_JW_LIT(w, ",");
			su_jw_str(w, SU_STR(rs, k), SU_STRLEN(rs, k));
		}
		SU_JW_LIT(w, "]");
		return 1;
	}
	case SU_OP_V_ENUM:
		su_jw_cstr(w, su_schema_value_name(sc, in->a, in->c));
		return 1;
	case SU_OP_V_BOOL:
		su_jw_lit(w, in->c ? "true" : "false");
		return 1;
	case SU_OP_V_FLOAT: {
		char num[40];
		su_jw_raw(w, num, (size_t)snprintf(num, sizeof(num), "%.17g", rs->floats[in->c]));
		return 1;
	}
	default:
		return 0;  /* sets of numbers and reason sets of general tests: their text says enough */
	}
}

static int is_ident_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* The bare names of a test's text that may be constants, in order: not
 * keywords, not dotted (fields, plugin calls), not function names, not in
 * a set literal or a string, not a field of the schema (tsp, channel). */
static size_t bare_names(const su_schema *sc, const char *s, size_t len, su_str *out, size_t max)
{
	static const char *const keywords[] = { "and", "or", "not", "in", "has", "any", "all", "of", "is",
	                                        "present", "absent", "true", "false" };
	size_t n = 0;
	int braces = 0;
	for (size_t i = 0; i < len;) {
		char c = s[i];
		if (c == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
			continue;
		}
		braces += c == '{';
		braces -= c == '}' && braces > 0;
		if (!is_ident_char(c) || (c >= '0' && c <= '9') || (i && (is_ident_char(s[i - 1]) || s[i - 1] == '.'))) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < len && is_ident_char(s[j]))
			j++;
		int skip = braces || (j < len && (s[j] == '.' || s[j] == '(')) || (i && s[i - 1] == '-');
		for (size_t k = 0; !skip && k < sizeof(keywords) / sizeof(keywords[0]); k++)
			skip = strlen(keywords[k]) == j - i && memcmp(keywords[k], s + i, j - i) == 0;
		if (!skip && su_schema_lookup(sc, s + i, j - i) >= 0)
			skip = 1;
		if (!skip && n < max)
			out[n++] = (su_str){ s + i, (uint32_t)(j - i) };
		i = j;
	}
	return n;
}

/* "constants": the constants a test names with their values, paired in
 * order with its constant operands; a name that is the operand itself
 * (an enum value, a reason code) is no constant. */
static void write_constants(su_jw *w, const stepup_ruleset *rs, const su_atom *a, const atom_reads *ar)
{
	su_str names[ATOM_CONSTS + 1];
	const char *text = SU_STR(rs, a->text);
	size_t len = SU_STRLEN(rs, a->text);
	size_t n = bare_names(rs->schema, text, len, names, ATOM_CONSTS + 1);
	int negated = memmem(text, len, "!=", 2) || memmem(text, len, " not in ", 8);
	int first = 1;

	if (n == 0 || n != ar->nconsts)
		return;
	for (size_t i = 0; i < n; i++) {
		char *vbuf = NULL;
		size_t vlen = 0, vcap = 0;
		su_jw vw = { &vbuf, &vlen, &vcap, 0 };
		if (!write_const(&vw, rs, ar->konst[i], negated) || vw.oom) {
			free(vbuf);
			continue;
		}
		/* "ACTIVE" for the name ACTIVE: an enum value, not a constant. */
		if (vlen == names[i].len + 2 && memcmp(vbuf + 1, names[i].s, names[i].len) == 0) {
			free(vbuf);
			continue;
		}
		if (first)
			SU_JW_LIT(w, ",\"constants\":[");
		else
			SU_JW_LIT(w, ",");
		first = 0;
		SU_JW_LIT(w, "{\"name\":");
		su_jw_str(w, names[i].s, names[i].len);
		SU_JW_LIT(w, ",\"value\":");
		su_jw_raw(w, vbuf, vlen);
		SU_JW_LIT(w, "}");
		free(vbuf);
	}
	if (!first)
		SU_JW_LIT(w, "]");
}

static void write_explain(su_jw *w, const stepup_engine *e, const stepup_request *r,
                          const stepup_decision *d)
{
	const stepup_ruleset *rs = e->rs;
	size_t nreads_max = rs->natoms ? rs->natoms : 1;
	atom_reads *reads = malloc(nreads_max * sizeof(*reads));

	if (!reads) {
		w->oom = 1;
		return;
	}
	SU_JW_LIT(w, ",\"explain\":{\"rules\":[");
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const su_rule *ru = &rs->rules[i];
		uint32_t from = d->rule_trace[i], to = d->rule_trace[i + 1];
		if (i)
			SU_JW_LIT(w, ",");
		SU_JW_LIT(w, "{\"rule\":");
		su_jw_str(w, SU_STR(rs, ru->name), SU_STRLEN(rs, ru->name));
		if (ru->desc != SU_NONE) {
			SU_JW_LIT(w, ",\"description\":");
			su_jw_str(w, SU_STR(rs, ru->desc), SU_STRLEN(rs, ru->desc));
		}
		SU_JW_LIT(w, ",\"at\":");
		write_at(w, rs, ru->file, ru->line);
		SU_JW_LIT(w, ",\"outcome\":\"");
		su_jw_lit(w, stepup_outcome_name((stepup_outcome)ru->outcome));
		SU_JW_LIT(w, "\",\"fired\":");
		su_jw_lit(w, d->rule_result[i] == SU_TRUE ? "true" : "false");
		SU_JW_LIT(w, ",\"condition\":\"");
		su_jw_lit(w, tri_names[d->rule_result[i]]);
		SU_JW_LIT(w, "\"");
		uint32_t k0 = to > from ? decider(rs, ru->code, &d->trace, from, to) : SU_NONE;
		if (k0 != SU_NONE) {
			const su_atom *a = &rs->atoms[d->trace.atom[k0]];
			SU_JW_LIT(w, ",\"decided_by\":");
			su_jw_str(w, SU_STR(rs, a->text), SU_STRLEN(rs, a->text));
		}
		size_t nreads = atom_reads_of(rs, ru->code, reads, nreads_max);
		SU_JW_LIT(w, ",\"tests\":[");
		for (uint32_t k = from; k < to; k++) {
			const su_atom *a = &rs->atoms[d->trace.atom[k]];
			const atom_reads *ar = NULL;
			for (size_t x = 0; x < nreads && !ar; x++)
				if (reads[x].atom == d->trace.atom[k])
					ar = &reads[x];
			if (k > from)
				SU_JW_LIT(w, ",");
			SU_JW_LIT(w, "{\"test\":");
			su_jw_str(w, SU_STR(rs, a->text), SU_STRLEN(rs, a->text));
			SU_JW_LIT(w, ",\"at\":");
			write_at(w, rs, a->file, a->line);
			SU_JW_LIT(w, ",\"value\":\"");
			su_jw_lit(w, tri_names[d->trace.value[k]]);
			SU_JW_LIT(w, "\"");
			if (ar && ar->nslots) {
				SU_JW_LIT(w, ",\"fields\":[");
				for (unsigned f = 0; f < ar->nslots; f++) {
					if (f)
						SU_JW_LIT(w, ",");
					write_field(w, rs, r, ar->slot[f]);
				}
				SU_JW_LIT(w, "]");
			}
			if (ar)
				write_constants(w, rs, a, ar);
			SU_JW_LIT(w, "}");
		}
		SU_JW_LIT(w, "]}");
	}
	SU_JW_LIT(w, "],\"methods\":[");
	for (uint32_t i = 0; i < rs->nmethods; i++) {
		unsigned t = rs->methods[i].type;
		if (i)
			SU_JW_LIT(w, ",");
		SU_JW_LIT(w, "{\"method\":\"");
		su_jw_lit(w, stepup_method_name((stepup_method)t));
		SU_JW_LIT(w, "\",\"status\":");
		su_jw_cstr(w, method_why_text(d->method_why[t]));
		if (d->plugin_failed >> t & 1) {
			SU_JW_LIT(w, ",\"plugin\":");
			su_jw_cstr(w, d->plugin_why[t]);
		}
		/* Which fired rules' `only` left it out. */
		if (d->method_why[t] == SU_MW_NOT_ALLOWED || d->method_why[t] == SU_MW_FALLBACK) {
			int first = 1;
			for (uint32_t f = 0; f < d->nfired; f++) {
				const su_rule *fr = &rs->rules[d->fired[f]];
				if (fr->outcome != STEPUP_YELLOW || (fr->allowed >> t & 1))
					continue;
				if (first)
					SU_JW_LIT(w, ",\"excluded_by\":[");
				else
					SU_JW_LIT(w, ",");
				first = 0;
				su_jw_str(w, SU_STR(rs, fr->name), SU_STRLEN(rs, fr->name));
			}
			if (!first)
				SU_JW_LIT(w, "]");
		}
		SU_JW_LIT(w, "}");
	}
	SU_JW_LIT(w, "],\"notes\":[");
	int first = 1;
#define NOTE(text) do { if (!first) SU_JW_LIT(w, ","); first = 0; su_jw_cstr(w, (text)); } while (0)
	if (d->merchant_policy_applied)
		NOTE(rs->merchant_policy == STEPUP_GREEN
		         ? "channel ECOM_MERCHANT: step_up becomes approve"
		         : "channel ECOM_MERCHANT: step_up becomes decline");
	if (d->no_method_left)
		NOTE(d->plugin_failed
		         ? "step-up turned into decline: no ID&V method could be served (plugin failures above)"
		         : "step-up turned into decline: no ID&V method available and no customer-service number configured");
	if (d->line == STEPUP_LINE_FRAUD && d->line_served != STEPUP_LINE_FRAUD && d->nmethods)
		NOTE("fraud line asked for but not configured: the standard number is offered");
	if (r->unknown_reasons)
		NOTE("the request carries reason codes this ruleset does not know; they were ignored");
	if (d->nfired == 0)
		NOTE("no rule fired: approve");
#undef NOTE
	SU_JW_LIT(w, "]}");
	free(reads);
}

const char *stepup_decision_json(const stepup_engine *e, const stepup_request *r,
                                 stepup_decision *d, size_t *len)
{
	su_jw w = { &d->out, &d->outlen, &d->outcap, 0 };

	/* Handles remember their origin: slots and rule numbers mean
	 * something only to the engine that decoded and decided. */
	if (!e || !r || !d || d->engine != e->serial || r->engine != e->serial) {
		if (len)
			*len = 0;
		return NULL;
	}
	int idslot = su_request_role_slot(r, SU_ROLE_REQUEST_ID);
	su_str id = idslot >= 0 ? su_rstr(r, (unsigned)idslot) : (su_str){ "", 0 };
	d->outlen = 0;
	SU_JW_LIT(&w, "{\"request_id\":");
	su_jw_str(&w, id.s, id.len);
	SU_JW_LIT(&w, ",\"decision_id\":\"");
	su_jw_lit(&w, su_decision_id(d));
	SU_JW_LIT(&w, "\",\"decision\":\"");
	su_jw_lit(&w, stepup_outcome_name(d->outcome));
	SU_JW_LIT(&w, "\",\"network_decision\":\"");
	su_jw_lit(&w, stepup_outcome_network_name(d->outcome));
	SU_JW_LIT(&w, "\",\"idv_methods\":[");
	if (d->outcome == STEPUP_YELLOW)
		for (unsigned i = 0; i < d->nmethods; i++) {
			if (i)
				SU_JW_LIT(&w, ",");
			write_method(&w, e, r, d, d->methods[i]);
		}
	SU_JW_LIT(&w, "],\"reasons\":[");
	for (uint32_t i = 0; i < d->nfired; i++) {
		uint32_t k = d->fired[i];
		if (i)
			SU_JW_LIT(&w, ",");
		su_jw_raw(&w, e->frag + e->reason_at[k], e->reason_at[k + 1] - e->reason_at[k]);
	}
	su_jw_raw(&w, e->frag + e->trailer_at, e->trailer_end - e->trailer_at);
	if (d->explain)
		write_explain(&w, e, r, d);
	SU_JW_LIT(&w, "}");
	if (w.oom)
		return NULL;
	if (len)
		*len = d->outlen;
	return d->out;
}

/* {"request_id": ..., "error": {"code": "bad_request", "field": ..., "message": ...}} */
const char *su_error_json(stepup_decision *d, const stepup_request *r, const char *code,
                          const char *msg, size_t *len)
{
	su_jw w = { &d->out, &d->outlen, &d->outcap, 0 };

	d->outlen = 0;
	SU_JW_LIT(&w, "{");
	int idslot = r && r->rs ? su_request_role_slot(r, SU_ROLE_REQUEST_ID) : -1;
	if (idslot >= 0 && r->f[idslot].str.len <= 128) {
		/* Only a request id that passed validation is echoed. */
		SU_JW_LIT(&w, "\"request_id\":");
		su_str id = su_rstr(r, (unsigned)idslot);
		su_jw_str(&w, id.s, id.len);
		SU_JW_LIT(&w, ",");
	}
	SU_JW_LIT(&w, "\"error\":{\"code\":");
	su_jw_cstr(&w, code);
	if (r && r->err_field[0]) {
		SU_JW_LIT(&w, ",\"field\":");
		su_jw_cstr(&w, r->err_field);
	}
	SU_JW_LIT(&w, ",\"message\":");
	su_jw_cstr(&w, msg);
	SU_JW_LIT(&w, "}}");
	if (w.oom)
		return NULL;
	if (len)
		*len = d->outlen;
	return d->out;
}
