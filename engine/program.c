/* program.c: ruleset lifetime, the verifier and the disassembler. */
#include "program.h"
#include "util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cardnum.h"
#include "eval.h"
#include "index.h"
#include "plugin_loader.h"
#include "request.h"

const char *const su_op_names[SU_OP_COUNT] = {
#define OP(NAME, SHAPE, TRI, VAL) #NAME,
#include "opcodes.def"
#undef OP
};

const su_builtin_sig su_builtins[SU_FN_COUNT] = {
	[SU_FN_ENDS_WITH] = { "ends_with", 2, { SU_T_STRING, SU_T_STRING }, SU_T_BOOL },
	[SU_FN_STARTS_WITH] = { "starts_with", 2, { SU_T_STRING, SU_T_STRING }, SU_T_BOOL },
	[SU_FN_CONTAINS] = { "contains", 2, { SU_T_STRING, SU_T_STRING }, SU_T_BOOL },
	[SU_FN_LENGTH] = { "length", 1, { SU_T_STRING }, SU_T_INT },
};

const int8_t su_op_tri[SU_OP_COUNT] = {
#define OP(NAME, SHAPE, TRI, VAL) TRI,
#include "opcodes.def"
#undef OP
};
const int8_t su_op_val[SU_OP_COUNT] = {
#define OP(NAME, SHAPE, TRI, VAL) VAL,
#include "opcodes.def"
#undef OP
};

void su_program_free(struct stepup_ruleset *rs)
{
	if (!rs)
		return;
	free(rs->strtab);
	free(rs->strs);
	free(rs->files);
	free(rs->ints);
	free(rs->floats);
	free(rs->masks);
	free(rs->strsets);
	free(rs->setitems);
	free(rs->methods);
	free(rs->rules);
	free(rs->atoms);
	free(rs->clauses);
	free(rs->lits);
	free(rs->imports);
	free(rs->ftests);
	free(rs->frules);
	free(rs->fmethods);
	free(rs->fids);
	su_index_free(rs->index);
	free(rs->code);
	su_schema_free(rs->schema);
	free(rs);
}

void su_program_set_revision_hex(struct stepup_ruleset *rs)
{
	static const char hex[] = "0123456789abcdef";
	char *p = rs->revision_hex;

	memcpy(p, "sha256:", 7);
	p += 7;
	for (int i = 0; i < 32; i++) {
		*p++ = hex[rs->revision[i] >> 4];
		*p++ = hex[rs->revision[i] & 15];
	}
	*p = '\0';
}

su_type su_sig_type(char letter)
{
	switch (letter) {
	case 'i': return SU_T_INT;
	case 'd': return SU_T_FLOAT;
	case 'b': return SU_T_BOOL;
	case 's': return SU_T_STRING;
	default: return SU_T_NONE;
	}
}

int su_import_sig(const struct stepup_ruleset *rs, uint32_t i, char *args, char *ret)
{
	if (i >= rs->nimports || rs->imports[i].sig >= rs->nstrs)
		return -1;
	return su_plugin_parse_signature(SU_STR(rs, rs->imports[i].sig), args, ret);
}

/* ---- verifier ----------------------------------------------------------
 * A bundle can come from anywhere, so nothing in it is trusted: every
 * index is bounds-checked, every slot must have the type its opcode reads,
 * jumps only go forward inside their condition, and the stack depths are
 * proved. After this passes, the evaluator runs without checks. */

static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	su_vset_err(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

static int slot_is(const struct stepup_ruleset *rs, unsigned slot, su_type t)
{
	return slot < rs->schema->nfields && rs->schema->fields[slot].type == t;
}

#define STR_OK(rs, i) ((i) < (rs)->nstrs)

/* Set c's range lies inside the table it will index. */
static int set_in(const struct stepup_ruleset *rs, uint32_t c, uint32_t table_len)
{
	return c < rs->nstrsets && (uint64_t)rs->strsets[c].start + rs->strsets[c].count <= table_len;
}

/* A name the rules can spell: [A-Za-z_][A-Za-z0-9_]* (lexer.l). */
static int rule_name(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_'))
			return 0;
	return 1;
}

static int numeric(uint8_t t)
{
	return t == SU_T_INT || t == SU_T_FLOAT;
}

/* Verify one condition. Besides bounds, it tracks the type of every value
 * on the value stack, so a bundle cannot make the evaluator read an integer
 * as a string; `and`/`or` jumps only happen with an empty value stack. */
static int verify_entry(const struct stepup_ruleset *rs, uint32_t start, uint32_t *endpc,
                        char *err, size_t n)
{
	int32_t depth_at[256];
	uint32_t target_at[256];
	unsigned ntargets = 0;
	int32_t tri = 0, val = 0;
	uint8_t vt[SU_MAX_STACK + 1];  /* su_type of each value on the stack */

	for (uint32_t pc = start;; pc++) {
		if (pc >= rs->ncode)
			return fail(err, n, "condition at %u runs past the code", start);
		const su_insn *in = &rs->code[pc];
		if (in->op >= SU_OP_COUNT)
			return fail(err, n, "bad opcode %u at %u", in->op, pc);
		for (unsigned t = 0; t < ntargets; t++)
			if (target_at[t] == pc && (depth_at[t] != tri || val != 0))
				return fail(err, n, "inconsistent stack at %u", pc);
		if (in->atom != SU_NONE && in->atom >= rs->natoms)
			return fail(err, n, "bad atom at %u", pc);
		uint8_t push = SU_T_NONE;  /* type pushed on the value stack */
		switch (in->op) {
		case SU_OP_END:
			if (tri != 1 || val != 0)
				return fail(err, n, "condition at %u leaves %d results", start, tri);
			for (unsigned t = 0; t < ntargets; t++)
				if (target_at[t] > pc)
					return fail(err, n, "jump past the end at %u", start);
			*endpc = pc;
			return 0;
		case SU_OP_TRI:
			if (in->c > SU_ABSENT || in->a != 0)
				return fail(err, n, "bad constant at %u", pc);
			break;
		case SU_OP_PRESENT:
			if (in->a >= rs->schema->nfields || in->c > 1)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_V_FIELD:
			if (in->a >= rs->schema->nfields)
				return fail(err, n, "bad slot at %u", pc);
			push = (uint8_t)rs->schema->fields[in->a].type;
			break;
		case SU_OP_BOOL:
			if (!slot_is(rs, in->a, SU_T_BOOL))
				return fail(err, n, "bad slot at %u", pc);
			break;
		case SU_OP_ENUM_IN:
			if (!slot_is(rs, in->a, SU_T_ENUM) || in->c >= rs->nmasks)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_INT_CMP:
			if (!slot_is(rs, in->a, SU_T_INT) || in->c >= rs->nints || in->cmp > 5)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_STR_CMP:
			if (!slot_is(rs, in->a, SU_T_STRING) || !STR_OK(rs, in->c) || in->cmp > 1)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_STR_IN:
			if (!slot_is(rs, in->a, SU_T_STRING) || !set_in(rs, in->c, rs->nsetitems))
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_STR_SUFFIX:
			if (!slot_is(rs, in->a, SU_T_STRING) || !slot_is(rs, in->c, SU_T_STRING))
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_REASONS_ANY:
		case SU_OP_REASONS_ALL:
			if (!slot_is(rs, in->a, SU_T_REASONS) || in->c >= rs->nmasks)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_STR_PREFIX:
		case SU_OP_STR_ENDS:
		case SU_OP_STR_CONTAINS:
			if (!slot_is(rs, in->a, SU_T_STRING) || !STR_OK(rs, in->c))
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_STR_LEN:
			if (!slot_is(rs, in->a, SU_T_STRING) || in->c >= rs->nints || in->cmp > 5)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_V_INT:
			if (in->c >= rs->nints)
				return fail(err, n, "bad constant at %u", pc);
			push = SU_T_INT;
			break;
		case SU_OP_V_FLOAT:
			if (in->c >= rs->nfloats)
				return fail(err, n, "bad constant at %u", pc);
			push = SU_T_FLOAT;
			break;
		case SU_OP_V_STR:
			if (!STR_OK(rs, in->c))
				return fail(err, n, "bad constant at %u", pc);
			push = SU_T_STRING;
			break;
		case SU_OP_V_ENUM:
			if (!slot_is(rs, in->a, SU_T_ENUM) || rs->schema->fields[in->a].ekind != in->a ||
			    in->c >= su_schema_value_count(rs->schema, in->a))
				return fail(err, n, "bad enum at %u", pc);
			push = SU_T_ENUM;
			break;
		case SU_OP_V_BOOL:
			if (in->c > 1)
				return fail(err, n, "bad constant at %u", pc);
			push = SU_T_BOOL;
			break;
		case SU_OP_V_CALL:
			if (in->c >= SU_FN_COUNT || in->a != su_builtins[in->c].nargs || val < (int32_t)in->a)
				return fail(err, n, "bad call at %u", pc);
			for (unsigned i = 0; i < in->a; i++)
				if (vt[val - (int32_t)in->a + (int32_t)i] != su_builtins[in->c].args[i])
					return fail(err, n, "bad argument type at %u", pc);
			push = (uint8_t)su_builtins[in->c].ret;
			break;
		case SU_OP_V_PCALL: {
			char args[STEPUP_PLUGIN_MAX_ARGS + 1], ret;
			if (su_import_sig(rs, in->c, args, &ret) < 0 || (size_t)in->a != strlen(args) ||
			    val < (int32_t)in->a)
				return fail(err, n, "bad plugin call at %u", pc);
			/* An integer may stand for a float (the evaluator converts). */
			for (unsigned i = 0; i < in->a; i++) {
				uint8_t have = vt[val - (int32_t)in->a + (int32_t)i];
				su_type want = su_sig_type(args[i]);
				if (have != want && !(want == SU_T_FLOAT && have == SU_T_INT))
					return fail(err, n, "bad argument type at %u", pc);
			}
			push = (uint8_t)su_sig_type(ret);
			break;
		}
		case SU_OP_V_CMP:
			if (in->cmp > 5 || val < 2)
				return fail(err, n, "bad operand at %u", pc);
			if (in->a == SU_T_FLOAT ? !(numeric(vt[val - 1]) && numeric(vt[val - 2]))
			                        : (vt[val - 1] != in->a || vt[val - 2] != in->a ||
			                           !(in->a == SU_T_INT || in->a == SU_T_STRING ||
			                             in->a == SU_T_ENUM || in->a == SU_T_BOOL)))
				return fail(err, n, "bad comparison types at %u", pc);
			if (in->a != SU_T_FLOAT && in->a != SU_T_INT && in->cmp > 1)
				return fail(err, n, "bad comparison at %u", pc);
			break;
		case SU_OP_V_IN:
			if (val < 1)
				return fail(err, n, "stack underflow at %u", pc);
			if (in->a == SU_T_ENUM ? vt[val - 1] != SU_T_ENUM || in->c >= rs->nmasks
			    : in->a == SU_T_STRING ? vt[val - 1] != SU_T_STRING || !set_in(rs, in->c, rs->nsetitems)
			    : in->a == SU_T_INT ? vt[val - 1] != SU_T_INT || !set_in(rs, in->c, rs->nints)
			    : in->a == SU_T_FLOAT ? !numeric(vt[val - 1]) || !set_in(rs, in->c, rs->nfloats)
			    : 1)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_V_HAS:
			if (val < 1 || vt[val - 1] != SU_T_REASONS || in->c >= rs->nmasks || in->cmp > 2)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_V_TRUTH:
			if (val < 1 || vt[val - 1] != SU_T_BOOL)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_V_PRESENT:
			if (in->c > 1)
				return fail(err, n, "bad constant at %u", pc);
			break;
		case SU_OP_JF:
		case SU_OP_JT:
			if (in->c <= pc || in->c >= rs->ncode || ntargets == 256 || val != 0)
				return fail(err, n, "bad jump at %u", pc);
			target_at[ntargets] = in->c;
			depth_at[ntargets++] = tri;
			break;
		default:
			break;
		}
		int dval = in->op == SU_OP_V_CALL || in->op == SU_OP_V_PCALL ? 1 - (int)in->a
		                                                              : su_op_val[in->op];
		tri += su_op_tri[in->op];
		val += dval;
		if ((in->op == SU_OP_NOT || in->op == SU_OP_JF || in->op == SU_OP_JT ||
		     in->op == SU_OP_AND || in->op == SU_OP_OR) && tri < 1)
			return fail(err, n, "stack underflow at %u", pc);
		if (tri < 0 || val < 0)
			return fail(err, n, "stack underflow at %u", pc);
		/* Explain records the result an atom's instruction leaves: it must
		 * leave one. */
		if (in->atom != SU_NONE && tri < 1)
			return fail(err, n, "atom without a result at %u", pc);
		if ((uint32_t)tri > rs->max_tri || (uint32_t)val > rs->max_val)
			return fail(err, n, "stack overflow at %u", pc);
		if (push != SU_T_NONE)
			vt[val - 1] = push;
		/* Finished jumps no longer constrain anything. */
		for (unsigned t = 0; t < ntargets;)
			if (target_at[t] <= pc)
				target_at[t] = target_at[--ntargets], depth_at[t] = depth_at[ntargets];
			else
				t++;
	}
}

/* The flat form of a condition may only name fused tests of its own code,
 * or entries of conditions of their own (VM literals), each verified once
 * (`seen`: a bit per instruction). */
static int verify_cnf(const struct stepup_ruleset *rs, su_range cnf, uint32_t start, uint32_t end,
                      uint64_t *seen, char *err, size_t n)
{
	if ((uint64_t)cnf.start + cnf.count > rs->nclauses)
		return fail(err, n, "bad clause range");
	for (uint32_t i = 0; i < cnf.count; i++) {
		su_range cl = rs->clauses[cnf.start + i];
		if (cl.count == 0 || (uint64_t)cl.start + cl.count > rs->nlits)
			return fail(err, n, "bad literal range");
		for (uint32_t k = 0; k < cl.count; k++) {
			su_lit l = rs->lits[cl.start + k];
			uint32_t vend;
			if (l.neg > (SU_LIT_NEG | SU_LIT_VM))
				return fail(err, n, "bad literal");
			if (l.neg & SU_LIT_VM) {
				if (l.insn >= rs->ncode)
					return fail(err, n, "bad literal");
				if (!(seen[l.insn / 64] >> (l.insn % 64) & 1)) {
					if (verify_entry(rs, l.insn, &vend, err, n) < 0)
						return -1;
					seen[l.insn / 64] |= UINT64_C(1) << (l.insn % 64);
				}
			} else if (l.insn < start || l.insn >= end || !su_op_test(rs->code[l.insn].op)) {
				return fail(err, n, "bad literal");
			}
		}
	}
	return 0;
}

/* Every method's and rule's condition and flat form. */
static int verify_conds(const struct stepup_ruleset *rs, uint64_t *seen, char *err, size_t n)
{
	uint32_t end;

	for (uint32_t i = 0; i < rs->nmethods; i++) {
		if (rs->methods[i].type >= STEPUP_METHOD_COUNT)
			return fail(err, n, "bad method %u", i);
		for (uint32_t j = 0; j < i; j++)
			if (rs->methods[j].type == rs->methods[i].type)
				return fail(err, n, "method declared twice");
		if (verify_entry(rs, rs->methods[i].code, &end, err, n) < 0 ||
		    verify_cnf(rs, rs->methods[i].cnf, rs->methods[i].code, end, seen, err, n) < 0)
			return -1;
	}
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const su_rule *r = &rs->rules[i];
		if (!STR_OK(rs, r->name) || (r->desc != SU_NONE && !STR_OK(rs, r->desc)) ||
		    r->file >= rs->nfiles || r->outcome > STEPUP_RED || r->fraud > 1 ||
		    r->allowed > 0xf)
			return fail(err, n, "bad rule %u", i);
		if (verify_entry(rs, r->code, &end, err, n) < 0 ||
		    verify_cnf(rs, r->cnf, r->code, end, seen, err, n) < 0)
			return -1;
	}
	return 0;
}

int su_program_verify(const struct stepup_ruleset *rs, char *err, size_t n)
{
	if (rs->max_tri > SU_MAX_STACK || rs->max_val > SU_MAX_STACK)
		return fail(err, n, "stack depth too large");
	if (rs->strtab_len == 0 || rs->strtab[rs->strtab_len - 1] != '\0')
		return fail(err, n, "string table not terminated");
	for (uint32_t i = 0; i < rs->nstrs; i++)
		if ((uint64_t)rs->strs[i].off + rs->strs[i].len >= rs->strtab_len ||
		    rs->strtab[rs->strs[i].off + rs->strs[i].len] != '\0')
			return fail(err, n, "string %u out of bounds", i);
	/* Every string and integer of a program can reach a response, a log
	 * line or a disassembly: none may hold a card number (docs/pci.md),
	 * and strings must be UTF-8 (a response is JSON). The compiler refuses
	 * both with a location; this catches a crafted bundle. */
	for (uint32_t i = 0; i < rs->nstrs; i++) {
		const char *t = rs->strtab + rs->strs[i].off;
		if (!su_utf8_valid(t, rs->strs[i].len))
			return fail(err, n, "string %u is not valid UTF-8", i);
		if (su_card_find(t, rs->strs[i].len, NULL, NULL))
			return fail(err, n, "string %u holds a card number", i);
	}
	for (uint32_t i = 0; i < rs->nints; i++) {
		char num[24];
		int k = snprintf(num, sizeof(num), "%" PRId64, rs->ints[i]);
		if (su_card_find(num, (size_t)k, NULL, NULL))
			return fail(err, n, "integer constant %u is a card number", i);
	}
	if (!STR_OK(rs, rs->name))
		return fail(err, n, "bad ruleset name");
	for (uint32_t i = 0; i < rs->nfiles; i++)
		if (!STR_OK(rs, rs->files[i]))
			return fail(err, n, "bad file name");
	for (uint32_t i = 0; i < rs->nsetitems; i++)
		if (!STR_OK(rs, rs->setitems[i]))
			return fail(err, n, "bad set item");
	if (!rs->schema)
		return fail(err, n, "no schema");
	for (uint32_t i = 0; i < rs->natoms; i++)
		if (!STR_OK(rs, rs->atoms[i].text) || rs->atoms[i].file >= rs->nfiles)
			return fail(err, n, "bad atom %u", i);
	for (uint32_t i = 0; i < rs->nimports; i++) {
		const su_import *im = &rs->imports[i];
		char args[STEPUP_PLUGIN_MAX_ARGS + 1], ret;
		if (!STR_OK(rs, im->plugin) || !STR_OK(rs, im->fn) || !rule_name(SU_STR(rs, im->plugin)) ||
		    !rule_name(SU_STR(rs, im->fn)))
			return fail(err, n, "bad import %u", i);
		if (su_import_sig(rs, i, args, &ret) < 0)
			return fail(err, n, "import %u has a bad signature", i);
	}
	if (rs->nmethods > STEPUP_METHOD_COUNT)
		return fail(err, n, "too many methods");
	uint64_t *seen = calloc(rs->ncode / 64 + 1, sizeof(uint64_t));
	if (!seen)
		return fail(err, n, "out of memory");
	int rc = verify_conds(rs, seen, err, n);
	free(seen);
	if (rc < 0)
		return -1;
	if (rs->merchant_policy != STEPUP_GREEN && rs->merchant_policy != STEPUP_RED)
		return fail(err, n, "bad merchant policy");
	return 0;
}

/* ---- prepared form ------------------------------------------------------ */

#define MAX_TABLE_VALUES 64

typedef struct slot_tab {
	uint32_t nval;         /* value codes told apart; 1: presence only */
	uint32_t ntests;       /* tests folded in */
	uint64_t e[MAX_TABLE_VALUES + 1];  /* clause bits per entry: e[0] absent,
	                                      e[c + 1] value code c */
} slot_tab;

typedef struct prep {
	const struct stepup_ruleset *rs;
	su_ftest *rec;  size_t nrec, caprec;    /* every chunk's records */
	uint64_t *tab;  size_t ntab, captab;    /* every chunk's tables */
	su_fcond *ch;  size_t nch, capch;
	su_ftest *lit;  size_t nlit, caplit;    /* tests of the chunk being built */
	uint32_t *fids;  size_t nfids, capfids; /* rule chunks' rules */
	su_fcond cur;
	uint32_t ncond;                         /* conditions in cur */
	int cold;                               /* chunks of index buckets */
	slot_tab *st;                           /* per slot */
	uint32_t *tslots;  uint32_t ntslots;    /* slots with a table in cur */
	uint32_t *tgen;                         /* per slot: chunk + 1 when in tslots */
	uint32_t chunk;
	int oom;
} prep;

static void *grow(void *p, size_t *cap, size_t need, size_t size, int *oom)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(p, c * size);
	if (!q) {
		*oom = 1;
		return p;
	}
	*cap = c;
	return q;
}

/* The values a table on `slot` tells apart: the codes of a small-domain
 * field (request.h: enums, booleans, integers of a small declared range
 * such as scores 1..5, which the decoder keeps within it); anything else
 * by presence only. */
static uint32_t slot_values(const su_schema *sc, unsigned slot)
{
	unsigned n = su_field_codes(&sc->fields[slot]);
	return n ? n : 1;
}

static slot_tab *table_of(prep *P, unsigned slot)
{
	slot_tab *t = &P->st[slot];
	if (P->tgen[slot] != P->chunk + 1) {
		P->tgen[slot] = P->chunk + 1;
		P->tslots[P->ntslots++] = slot;
		t->nval = slot_values(P->rs->schema, slot);
		t->ntests = 0;
		memset(t->e, 0, sizeof(t->e));
	}
	t->ntests++;
	return t;
}

static void add_lit(prep *P, uint8_t op, unsigned slot, unsigned pos, unsigned inv, uint32_t aux, uint64_t k)
{
	P->lit = grow(P->lit, &P->caplit, P->nlit + 1, sizeof(*P->lit), &P->oom);
	if (P->oom)
		return;
	su_ftest *t = &P->lit[P->nlit++];
	memset(t, 0, sizeof(*t));
	t->op = op;
	t->slot = (uint16_t)slot;
	t->pos = (uint8_t)pos;
	t->aux = aux | (uint32_t)inv << 31;
	t->k.mask = k;
}

/* Keep the constants strs[ids[0..n)] as words among the tables (program.h
 * SU_F_KEQ...), with their number first when `set`: their place, or
 * SU_NONE when one is longer than SU_KEY_MAX bytes (or there are too
 * many). */
static uint32_t keep_keys(prep *P, const uint32_t *ids, uint32_t n, int set)
{
	const struct stepup_ruleset *rs = P->rs;
	size_t need = (size_t)set + 3 * (size_t)n;
	if (n > 64 || P->ntab + need >= (1u << 30))
		return SU_NONE;
	for (uint32_t i = 0; i < n; i++)
		if (SU_STRLEN(rs, ids[i]) > SU_KEY_MAX)
			return SU_NONE;
	P->tab = grow(P->tab, &P->captab, P->ntab + need, sizeof(*P->tab), &P->oom);
	if (P->oom)
		return SU_NONE;
	uint32_t at = (uint32_t)P->ntab;
	uint64_t *w = P->tab + at;
	if (set)
		*w++ = n;
	for (uint32_t i = 0; i < n; i++, w += 3) {
		w[0] = SU_STRLEN(rs, ids[i]);
		su_key_words(SU_STR(rs, ids[i]), (uint32_t)w[0], w + 1);
	}
	P->ntab += need;
	return at;
}

/* One literal of clause `bit`: its test with the negation folded in. Kleene
 * NOT maps TRUE and FALSE and keeps ABSENT, and every fused test is ABSENT
 * exactly when its field (both fields, for ends_with) is, so the negated
 * literal is TRUE exactly when the fields are present and the predicate is
 * false. `lane` is the condition's clause bits. */
static void prepare_test(prep *P, const su_insn *in, uint32_t neg, unsigned bit, uint64_t lane)
{
	static const uint8_t int_ops[6] = { SU_F_INT_EQ, SU_F_INT_EQ, SU_F_INT_GE,
	                                    SU_F_INT_LE, SU_F_INT_LE, SU_F_INT_GE };
	static const uint8_t int_inv[6] = { 0, 1, 1, 0, 1, 0 };  /* NE, LT, GT: negated */
	static const uint8_t int_not[6] = { 1, 0, 5, 4, 3, 2 };  /* su_cmp of the negation */
	const struct stepup_ruleset *rs = P->rs;
	const uint64_t b = UINT64_C(1) << bit;
	unsigned slot = in->a;
	slot_tab *t;

	switch (in->op) {
	case SU_OP_TRI: {
		uint32_t v = neg && in->c != SU_ABSENT ? in->c ^ 1 : in->c;
		if (v == SU_TRUE)
			P->cur.init |= b;
		break;
	}
	case SU_OP_PRESENT:
		t = table_of(P, slot);
		if ((in->c != 0) != (neg != 0))  /* is absent */
			t->e[0] |= b;
		else
			for (uint32_t v = 1; v <= t->nval; v++)
				t->e[v] |= b;
		break;
	case SU_OP_BOOL:
		t = table_of(P, slot);
		t->e[neg ? 1 : 2] |= b;
		break;
	case SU_OP_ENUM_IN: {
		uint64_t m = rs->masks[in->c];
		t = table_of(P, slot);
		for (uint32_t v = 0; v < su_schema_value_count(rs->schema, slot) && v < t->nval; v++)
			if (((m >> v) & 1) != (neg != 0))
				t->e[v + 1] |= b;
		break;
	}
	case SU_OP_INT_CMP: {
		unsigned cmp = neg ? int_not[in->cmp] : in->cmp;
		int64_t k = rs->ints[in->c];
		t = table_of(P, slot);
		if (t->nval > 1) {
			const su_field *f = &rs->schema->fields[slot];
			for (int64_t v = f->min; v <= f->max; v++)
				if (cmp_i(v, k, cmp))
					t->e[v - f->min + 1] |= b;
		} else {
			add_lit(P, int_ops[cmp], slot, bit, int_inv[cmp], 0, (uint64_t)k);
		}
		break;
	}
	case SU_OP_STR_CMP: {
		uint32_t at = keep_keys(P, &in->c, 1, 0);
		add_lit(P, at != SU_NONE ? SU_F_KEQ : SU_F_STR_EQ, slot, bit, (in->cmp == 0) == (neg != 0),
		        at != SU_NONE ? at : in->c, lane);
		break;
	}
	case SU_OP_STR_IN: {
		su_range set = rs->strsets[in->c];
		uint32_t at = keep_keys(P, rs->setitems + set.start, set.count, 1);
		add_lit(P, at != SU_NONE ? SU_F_KIN : SU_F_STR_IN, slot, bit, neg, at != SU_NONE ? at : in->c, lane);
		break;
	}
	case SU_OP_STR_SUFFIX:
		add_lit(P, SU_F_SUFFIX, slot, bit, neg, in->c, lane);
		break;
	case SU_OP_STR_PREFIX:
	case SU_OP_STR_ENDS: {
		uint32_t at = keep_keys(P, &in->c, 1, 0);
		int pre = in->op == SU_OP_STR_PREFIX;
		if (at != SU_NONE)
			add_lit(P, pre ? SU_F_KPRE : SU_F_KSUF, slot, bit, neg, at, lane);
		else
			add_lit(P, pre ? SU_F_PREFIX : SU_F_ENDS, slot, bit, neg, in->c, lane);
		break;
	}
	case SU_OP_STR_CONTAINS:
		add_lit(P, SU_F_CONTAINS, slot, bit, neg, in->c, lane);
		break;
	case SU_OP_STR_LEN:
		if (in->c > SU_FT_LEN_MAX_IDX)  /* more constants than a bundle can hold */
			P->oom = 1;
		else
			add_lit(P, SU_F_LEN, slot, bit, 0, SU_FT_LEN(neg ? int_not[in->cmp] : in->cmp, in->c), lane);
		break;
	case SU_OP_REASONS_ANY:
		add_lit(P, SU_F_ANY, slot, bit, neg, 0, rs->masks[in->c]);
		break;
	case SU_OP_REASONS_ALL: {
		uint64_t m = rs->masks[in->c];
		/* Covering a single code is having it. */
		add_lit(P, m && !(m & (m - 1)) ? SU_F_ANY : SU_F_ALL, slot, bit, neg, 0, m);
		break;
	}
	default:  /* unreachable: the verifier admits fused opcodes only */
		break;
	}
}

static uint64_t cond_lits(const struct stepup_ruleset *rs, su_range cnf)
{
	uint64_t k = 0;
	for (uint32_t i = 0; i < cnf.count; i++)
		k += rs->clauses[cnf.start + i].count;
	return k;
}

/* A condition's flat form, when the decide loop runs it (else it is one
 * SU_F_VM test): at most 64 clauses, and tests a chunk can count. */
static int flat_ok(const struct stepup_ruleset *rs, su_range cnf)
{
	return cnf.count && cnf.count <= 64 && cond_lits(rs, cnf) <= SU_CHUNK_MAX_TESTS;
}

/* Clause bits a condition takes: one per CNF clause, or one for the code. */
static uint32_t cond_clauses(const struct stepup_ruleset *rs, su_range cnf)
{
	return flat_ok(rs, cnf) ? cnf.count : 1;
}

/* The tests of one condition from clause bit `bit` up; clause `known` (the
 * guard the index looked up) is TRUE without a test. */
static void add_cond(prep *P, uint32_t code, su_range cnf, unsigned bit, uint32_t known)
{
	const struct stepup_ruleset *rs = P->rs;
	uint32_t n = cond_clauses(rs, cnf);
	uint64_t lane = (n == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << n) - 1)) << bit;

	if (flat_ok(rs, cnf)) {
		for (uint32_t i = 0; i < cnf.count; i++) {
			su_range cl = rs->clauses[cnf.start + i];
			if (i == known) {
				P->cur.init |= UINT64_C(1) << (bit + i);
				continue;
			}
			for (uint32_t k = 0; k < cl.count; k++) {
				su_lit l = rs->lits[cl.start + k];
				if (l.neg & SU_LIT_VM)
					add_lit(P, SU_F_VM, 0, bit + i, l.neg & SU_LIT_NEG, l.insn, lane);
				else
					prepare_test(P, &rs->code[l.insn], l.neg & SU_LIT_NEG, bit + i, lane);
			}
		}
	} else if (rs->code[code].op == SU_OP_TRI && rs->code[code + 1].op == SU_OP_END) {
		if (rs->code[code].c == SU_TRUE)  /* `always` */
			P->cur.init |= UINT64_C(1) << bit;
	} else {
		add_lit(P, SU_F_VM, 0, bit, 0, code, lane);
	}
}

/* Turn the chunk being built into records: its tables become tests, then
 * the tests go in order of their loops, the costly ones cheapest first. */
static void end_chunk(prep *P)
{
	su_fcond *c = &P->cur;

	/* In slot order, so tables of the hot fields come first. */
	for (uint32_t i = 1; i < P->ntslots; i++)
		for (uint32_t j = i; j > 0 && P->tslots[j - 1] > P->tslots[j]; j--) {
			uint32_t x = P->tslots[j];
			P->tslots[j] = P->tslots[j - 1];
			P->tslots[j - 1] = x;
		}
	for (uint32_t i = 0; i < P->ntslots; i++) {
		unsigned slot = P->tslots[i];
		slot_tab *t = &P->st[slot];
		uint64_t any = 0;
		for (uint32_t v = 0; v <= t->nval; v++)
			any |= t->e[v];
		if (!any)
			continue;  /* no value makes a test TRUE */
		if (P->cold && t->ntests == 1 && t->nval < 64) {
			/* One test in a chunk of a bucket, which is likely not in
			 * cache: the entries it is TRUE for as a mask, and no table (a
			 * cache line of its own) to read. */
			uint64_t m = 0;
			for (uint32_t v = 0; v <= t->nval; v++)
				m |= (uint64_t)(t->e[v] != 0) << v;
			add_lit(P, SU_F_CODES, slot, (unsigned)__builtin_ctzll(any), 0, 0, m);
			if (P->oom)
				return;
			continue;
		}
		P->tab = grow(P->tab, &P->captab, P->ntab + t->nval + 1, sizeof(*P->tab), &P->oom);
		if (P->oom)
			return;
		/* k: the table's word in P->tab until su_program_prepare places it */
		add_lit(P, SU_F_TABLE, slot, 0, 0, 0, P->ntab);
		if (P->oom)
			return;
		memcpy(P->tab + P->ntab, t->e, (t->nval + 1) * sizeof(uint64_t));
		P->ntab += t->nval + 1;
	}
	P->ntslots = 0;
	P->chunk++;

	P->rec = grow(P->rec, &P->caprec, P->nrec + P->nlit, sizeof(*P->rec), &P->oom);
	P->ch = grow(P->ch, &P->capch, P->nch + 1, sizeof(*P->ch), &P->oom);
	if (P->oom)
		return;
	c->first = (uint32_t)P->nrec;
	for (unsigned k = 0; k < SU_F_LOOPS; k++) {
		size_t from = P->nrec;
		for (size_t i = 0; i < P->nlit; i++) {
			const su_ftest *t = &P->lit[i];
			if ((t->op < SU_F_COSTLY ? t->op : SU_F_COSTLY) != k)
				continue;
			P->rec[P->nrec++] = *t;
			c->count[k]++;
			c->kinds |= (uint8_t)(1u << k);
			if (k == SU_F_COSTLY)
				c->costly |= UINT64_C(1) << t->pos;
		}
		size_t n = P->nrec - from;
		if (k != SU_F_COSTLY || n == 0)
			continue;
		/* Costly tests by kind, cheapest first (stable, so a clause's
		 * tests keep their order); then mark each clause's last one. */
		su_ftest *r = P->rec + from;
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && r[j - 1].op > r[j].op; j--) {
				su_ftest x = r[j];
				r[j] = r[j - 1];
				r[j - 1] = x;
			}
		uint64_t seen = 0;
		for (size_t i = n; i-- > 0;)
			if (!(seen >> r[i].pos & 1)) {
				seen |= UINT64_C(1) << r[i].pos;
				r[i].aux |= SU_FT_LAST;
			}
	}
	c->low = c->used & ~c->last;
	P->ch[P->nch++] = *c;
	P->nlit = 0;
}

static void begin_chunk(prep *P)
{
	memset(&P->cur, 0, sizeof(P->cur));
	P->cur.ids = (uint32_t)P->nfids;
	P->ncond = 0;
}

/* The method chunks, from method 0 up (cond_of holds the method type). */
static void prepare_methods(prep *P)
{
	const struct stepup_ruleset *rs = P->rs;
	unsigned bit = 0;

	for (uint32_t i = 0; i < rs->nmethods && !P->oom; i++) {
		su_range cnf = rs->methods[i].cnf;
		uint32_t k = cond_clauses(rs, cnf);
		if (i == 0 || bit + k > 64) {
			if (i)
				end_chunk(P);
			begin_chunk(P);
			bit = 0;
		}
		add_cond(P, rs->methods[i].code, cnf, bit, SU_NONE);
		uint64_t lane = (k == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << k) - 1)) << bit;
		unsigned top = bit + k - 1;
		P->cur.used |= lane;
		P->cur.last |= UINT64_C(1) << top;
		P->cur.cond_of[top] = rs->methods[i].type;
		bit += k;
	}
	if (rs->nmethods && !P->oom)
		end_chunk(P);
}

/* Chunks for rules ids[0..n) in that order; with an index builder, each
 * rule's guard clause is known TRUE. Returns the number of chunks. */
static uint32_t prepare_rules(prep *P, const uint32_t *ids, uint32_t n, const su_ib *ib)
{
	const struct stepup_ruleset *rs = P->rs;
	unsigned bit = 0;
	uint32_t tests = 0;
	size_t nch = P->nch;

	for (uint32_t j = 0; j < n && !P->oom; j++) {
		uint32_t i = ids[j];
		const su_rule *ru = &rs->rules[i];
		uint32_t k = cond_clauses(rs, ru->cnf);
		uint32_t lits = flat_ok(rs, ru->cnf) ? (uint32_t)cond_lits(rs, ru->cnf) : 1;
		if (j == 0 || bit + k > 64 || tests + lits > SU_CHUNK_MAX_TESTS) {
			if (j)
				end_chunk(P);
			begin_chunk(P);
			bit = 0;
			tests = 0;
		}
		add_cond(P, ru->code, ru->cnf, bit, ib ? su_ib_guard_clause(ib, i) : SU_NONE);
		P->fids = grow(P->fids, &P->capfids, P->nfids + 1, sizeof(*P->fids), &P->oom);
		if (P->oom)
			break;
		P->fids[P->nfids++] = i;
		uint64_t lane = (k == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << k) - 1)) << bit;
		unsigned top = bit + k - 1;
		uint64_t tb = UINT64_C(1) << top;
		P->cur.used |= lane;
		P->cur.last |= tb;
		P->cur.cond_of[top] = (uint8_t)P->ncond++;
		if (ru->outcome == STEPUP_RED)
			P->cur.red |= tb;
		if (ru->outcome == STEPUP_YELLOW) {
			P->cur.yellow |= tb;
			if ((ru->allowed & 0xf) != 0xf)
				P->cur.narrow |= tb;
		}
		if (ru->fraud)
			P->cur.fraud |= tb;
		bit += k;
		tests += lits;
	}
	if (n && !P->oom)
		end_chunk(P);
	return (uint32_t)(P->nch - nch);
}

/* The rule chunks: with an index, the always rules, then each bucket's;
 * else every rule in order. */
static int prepare_all_rules(prep *P, int mode, su_index **index)
{
	const struct stepup_ruleset *rs = P->rs;
	su_ib *ib = NULL;
	int nb = 0;

	*index = NULL;
	if (mode != SU_INDEX_OFF && rs->nrules && (mode == SU_INDEX_FORCE || rs->nrules >= SU_INDEX_MIN_RULES)) {
		ib = su_ib_new(rs);
		if (!ib || (nb = su_ib_plan(ib, mode)) < 0) {
			su_ib_free(ib);
			return -1;
		}
	}
	if (nb == 0) {
		su_ib_free(ib);
		uint32_t *all = malloc((rs->nrules ? rs->nrules : 1) * sizeof(*all));
		if (!all)
			return -1;
		for (uint32_t i = 0; i < rs->nrules; i++)
			all[i] = i;
		prepare_rules(P, all, rs->nrules, NULL);
		free(all);
		return P->oom ? -1 : (int)P->nch;
	}
	uint32_t n;
	const uint32_t *ids = su_ib_always(ib, &n);
	uint32_t nalways = prepare_rules(P, ids, n, NULL);
	P->cold = 1;
	for (uint32_t b = 0; b < (uint32_t)nb && !P->oom; b++) {
		uint32_t first = (uint32_t)P->nch;
		ids = su_ib_bucket(ib, b, &n);
		su_ib_set_chunks(ib, b, first, prepare_rules(P, ids, n, ib));
	}
	P->cold = 0;
	if (!P->oom && !(*index = su_ib_finish(ib)))
		P->oom = 1;
	su_ib_free(ib);
	return P->oom ? -1 : (int)nalways;
}

int su_program_prepare(struct stepup_ruleset *rs)
{
	return su_program_prepare_mode(rs, SU_INDEX_AUTO);
}

int su_program_prepare_mode(struct stepup_ruleset *rs, int mode)
{
	uint64_t total = 0;
	prep *P;
	su_index *index = NULL;
	int ret = -1;

	/* A (hostile) bundle may share clauses between conditions: bound the
	 * work before doing it. */
	for (uint32_t i = 0; i < rs->nrules; i++)
		total += cond_lits(rs, rs->rules[i].cnf);
	for (uint32_t i = 0; i < rs->nmethods; i++)
		total += cond_lits(rs, rs->methods[i].cnf);
	if (total > (UINT64_C(1) << 24))
		return -1;
	P = calloc(1, sizeof(*P));
	if (!P)
		return -1;
	P->rs = rs;
	uint32_t nf = rs->schema->nfields ? rs->schema->nfields : 1;
	P->st = malloc(nf * sizeof(*P->st));
	P->tslots = malloc(nf * sizeof(*P->tslots));
	P->tgen = calloc(nf, sizeof(*P->tgen));
	if (!P->st || !P->tslots || !P->tgen)
		goto out;
	int nalways = prepare_all_rules(P, mode, &index);
	if (nalways < 0)
		goto out;
	size_t nrules = P->nch;
	prepare_methods(P);
	/* The tables go after the tests, in the same block. */
	size_t base = P->nrec * (sizeof(su_ftest) / sizeof(uint64_t));
	if (P->oom || P->nrec >= UINT32_MAX || P->nch >= UINT32_MAX || P->nfids >= UINT32_MAX)
		goto out;
	su_ftest *ftests = malloc((P->nrec ? P->nrec : 1) * sizeof(su_ftest) + P->ntab * sizeof(uint64_t));
	su_fcond *frules = aligned_alloc(64, (nrules ? nrules : 1) * sizeof(su_fcond));
	su_fcond *fmethods = aligned_alloc(64, (P->nch - nrules ? P->nch - nrules : 1) * sizeof(su_fcond));
	uint32_t *fids = malloc((P->nfids ? P->nfids : 1) * sizeof(uint32_t));
	if (!ftests || !frules || !fmethods || !fids) {
		free(ftests);
		free(frules);
		free(fmethods);
		free(fids);
		goto out;
	}
	uint64_t *tab = (uint64_t *)(void *)ftests + base;
	for (size_t i = 0; i < P->nrec; i++)
		if (P->rec[i].op == SU_F_TABLE)
			P->rec[i].k.tab = tab + P->rec[i].k.mask;
	if (P->nrec)
		memcpy(ftests, P->rec, P->nrec * sizeof(su_ftest));
	if (P->ntab)
		memcpy(tab, P->tab, P->ntab * sizeof(uint64_t));
	if (nrules)
		memcpy(frules, P->ch, nrules * sizeof(su_fcond));
	if (P->nch > nrules)
		memcpy(fmethods, P->ch + nrules, (P->nch - nrules) * sizeof(su_fcond));
	if (P->nfids)
		memcpy(fids, P->fids, P->nfids * sizeof(uint32_t));
	free(rs->ftests);
	free(rs->frules);
	free(rs->fmethods);
	free(rs->fids);
	su_index_free(rs->index);
	rs->ftests = ftests;
	rs->ftab = tab;
	rs->frules = frules;
	rs->fmethods = fmethods;
	rs->fids = fids;
	rs->index = index;
	index = NULL;
	rs->nfrules = (uint32_t)nrules;
	rs->nfmethods = (uint32_t)(P->nch - nrules);
	rs->nalways = (uint32_t)nalways;
	rs->max_fired = (uint32_t)P->nfids;
	/* The request bytes deciding reads: the slots of the tests, and those
	 * of the roles the method phase asks for. */
	uint32_t top = 0;
	for (size_t i = 0; i < P->nrec; i++) {  /* tables read only the presence bytes */
		const su_ftest *t = &P->rec[i];
		uint32_t s2 = t->op == SU_F_SUFFIX ? SU_FT_AUX(t) : 0;
		if (t->op != SU_F_VM && t->op != SU_F_TABLE && t->slot > top)
			top = t->slot;
		top = s2 > top ? s2 : top;
	}
	if (rs->schema->role_slot[SU_ROLE_CHANNEL] > (int32_t)top)  /* the merchant policy */
		top = (uint32_t)rs->schema->role_slot[SU_ROLE_CHANNEL];
	rs->hot_bytes = (uint32_t)SU_REQUEST_HOT_BYTES(top < SU_INLINE_SLOTS ? top + 1 : SU_INLINE_SLOTS);
	ret = 0;
out:
	su_index_free(index);
	free(P->rec);
	free(P->tab);
	free(P->ch);
	free(P->lit);
	free(P->fids);
	free(P->st);
	free(P->tslots);
	free(P->tgen);
	free(P);
	return ret;
}

/* ---- public ruleset API ------------------------------------------------ */

const char *stepup_ruleset_name(const stepup_ruleset *rs)
{
	return rs ? SU_STR(rs, rs->name) : NULL;
}

const char *stepup_ruleset_revision(const stepup_ruleset *rs)
{
	return rs ? rs->revision_hex : NULL;
}

size_t stepup_ruleset_rule_count(const stepup_ruleset *rs)
{
	return rs ? rs->nrules : 0;
}

size_t stepup_ruleset_field_count(const stepup_ruleset *rs)
{
	return rs && rs->schema ? rs->schema->nfields : 0;
}

int stepup_ruleset_field(const stepup_ruleset *rs, size_t i, stepup_field_info *out)
{
	static const char *const derivations[] = { "", "last4", "bin" };
	if (!rs || !out || i >= stepup_ruleset_field_count(rs))
		return STEPUP_EINVAL;
	const su_schema *sc = rs->schema;
	const su_field *f = &sc->fields[i];
	/* The mutable scratch of an immutable ruleset: a description call is
	 * for tools, not for deciding threads. */
	char *text = (char *)rs->field_text;
	size_t tsize = sizeof(rs->field_text);

	memset(out, 0, sizeof(*out));
	out->path = SU_FPATH(sc, i);
	out->description = f->desc != SU_SNONE ? SU_SSTR(sc, f->desc) : "";
	out->type = f->type == SU_T_REASONS ? (f->flags & SU_FF_FREE ? "list of string" : "list of code")
	                                    : su_type_name(f->type);
	out->format = su_format_name(f->format);
	out->role = su_role_name(f->role);
	out->derived = "";
	text[0] = '\0';
	out->default_text = text;
	if (f->flags & (SU_FF_DERIVED | SU_FF_DEFAULT_DERIVED)) {
		snprintf(text, tsize, "%s(%s)", derivations[f->derive], SU_FPATH(sc, f->source));
		if (f->flags & SU_FF_DERIVED) {
			out->derived = text;
			out->default_text = "";
		}
	} else if (f->flags & SU_FF_DEFAULT) {
		if (f->type == SU_T_STRING)
			snprintf(text, tsize, "\"%s\"", SU_SSTR(sc, (uint32_t)f->dflt));
		else if (f->type == SU_T_ENUM)
			snprintf(text, tsize, "%s", su_schema_value_name(sc, (unsigned)i, (unsigned)f->dflt));
		else if (f->type == SU_T_BOOL)
			snprintf(text, tsize, "%s", f->dflt ? "true" : "false");
		else
			snprintf(text, tsize, "%" PRId64, f->dflt);
	}
	out->flags = (f->flags & SU_FF_SECRET ? STEPUP_FIELD_SECRET : 0) |
	             (f->flags & SU_FF_REQUIRED ? STEPUP_FIELD_REQUIRED : 0) |
	             (f->flags & SU_FF_SUMMARY ? STEPUP_FIELD_SUMMARY : 0) |
	             (f->flags & SU_FF_OPEN ? STEPUP_FIELD_OPEN : 0) |
	             (f->flags & SU_FF_FROM_STRING ? STEPUP_FIELD_FROM_STRING : 0) |
	             (f->flags & (SU_FF_DEFAULT | SU_FF_DEFAULT_DERIVED) ? STEPUP_FIELD_DEFAULT : 0);
	out->min = f->min;
	out->max = f->max;
	out->nvalues = f->values.count;
	return STEPUP_OK;
}

const char *stepup_ruleset_field_value(const stepup_ruleset *rs, size_t i, size_t k)
{
	if (i >= stepup_ruleset_field_count(rs) || k >= rs->schema->fields[i].values.count)
		return NULL;
	return su_schema_value_name(rs->schema, (unsigned)i, (unsigned)k);
}

const char *stepup_ruleset_schema_fingerprint(const stepup_ruleset *rs)
{
	if (!rs || !rs->schema)
		return NULL;
	static const char hex[] = "0123456789abcdef";
	char *p = (char *)rs->schema_hex;
	memcpy(p, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		p[7 + 2 * i] = hex[rs->schema->fingerprint[i] >> 4];
		p[8 + 2 * i] = hex[rs->schema->fingerprint[i] & 15];
	}
	p[71] = '\0';
	return p;
}

size_t stepup_ruleset_outcome_count(const stepup_ruleset *rs, stepup_outcome o)
{
	size_t n = 0;
	for (uint32_t i = 0; rs && i < rs->nrules; i++)
		n += rs->rules[i].outcome == (uint8_t)o;
	return n;
}

stepup_ruleset *stepup_ruleset_ref(stepup_ruleset *rs)
{
	if (rs)
		__atomic_add_fetch(&rs->refs, 1, __ATOMIC_RELAXED);
	return rs;
}

void stepup_ruleset_unref(stepup_ruleset *rs)
{
	if (rs && __atomic_sub_fetch(&rs->refs, 1, __ATOMIC_ACQ_REL) == 0)
		su_program_free(rs);
}

/* ---- disassembler ------------------------------------------------------ */

typedef struct out {
	char *p;
	size_t n, cap;
	int oom;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(out *o, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(o->p ? o->p + o->n : NULL, o->p ? o->cap - o->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0) {
			o->oom = 1;
			return;
		}
		if (o->p && o->n + (size_t)k < o->cap) {
			o->n += (size_t)k;
			return;
		}
		size_t cap = o->cap ? o->cap * 2 : 4096;
		while (cap < o->n + (size_t)k + 1)
			cap *= 2;
		char *p = realloc(o->p, cap);
		if (!p) {
			o->oom = 1;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
}

static void dis_entry(out *o, const stepup_ruleset *rs, uint32_t pc)
{
	for (;; pc++) {
		const su_insn *in = &rs->code[pc];
		put(o, "  %4u  %-12s", pc, su_op_names[in->op]);
		switch (in->op) {
		case SU_OP_PRESENT:
			put(o, " %s%s", SU_FPATH(rs->schema, in->a), in->c ? " absent" : "");
			break;
		case SU_OP_BOOL:
		case SU_OP_V_FIELD:
			put(o, " %s", SU_FPATH(rs->schema, in->a));
			break;
		case SU_OP_ENUM_IN:
		case SU_OP_REASONS_ANY:
		case SU_OP_REASONS_ALL:
			put(o, " %s 0x%" PRIx64, SU_FPATH(rs->schema, in->a), rs->masks[in->c]);
			break;
		case SU_OP_INT_CMP:
			put(o, " %s %u %" PRId64, SU_FPATH(rs->schema, in->a), in->cmp, rs->ints[in->c]);
			break;
		case SU_OP_STR_CMP:
			put(o, " %s %u \"%s\"", SU_FPATH(rs->schema, in->a), in->cmp, SU_STR(rs, in->c));
			break;
		case SU_OP_STR_SUFFIX:
			put(o, " %s %s", SU_FPATH(rs->schema, in->a), SU_FPATH(rs->schema, in->c));
			break;
		case SU_OP_STR_PREFIX:
		case SU_OP_STR_ENDS:
		case SU_OP_STR_CONTAINS:
			put(o, " %s \"%s\"", SU_FPATH(rs->schema, in->a), SU_STR(rs, in->c));
			break;
		case SU_OP_STR_LEN:
			put(o, " %s %u %" PRId64, SU_FPATH(rs->schema, in->a), in->cmp, rs->ints[in->c]);
			break;
		case SU_OP_V_CALL:
			put(o, " %s/%u", su_builtins[in->c].name, in->a);
			break;
		case SU_OP_V_PCALL: {
			const su_import *im = &rs->imports[in->c];
			put(o, " %s.%s/%u (%s)", SU_STR(rs, im->plugin), SU_STR(rs, im->fn), in->a,
			    SU_STR(rs, im->sig));
			break;
		}
		case SU_OP_JF:
		case SU_OP_JT:
			put(o, " -> %u", in->c);
			break;
		case SU_OP_END:
			put(o, "\n");
			return;
		default:
			if (in->op != SU_OP_NOT && in->op != SU_OP_AND && in->op != SU_OP_OR &&
			    in->op != SU_OP_V_TRUTH)
				put(o, " a=%u c=%u", in->a, in->c);
		}
		put(o, "\n");
	}
}

char *stepup_ruleset_disassemble(const stepup_ruleset *rs)
{
	out o = {0};
	static const char *const oc[] = { "approve", "step_up", "decline" };

	if (!rs)
		return NULL;
	put(&o, "ruleset \"%s\" %s\n", SU_STR(rs, rs->name), rs->revision_hex);
	put(&o, "merchant policy: step_up becomes %s%s\n", oc[rs->merchant_policy],
	    rs->merchant_policy_set ? "" : " (default)");
	for (uint32_t i = 0; i < rs->nimports; i++)
		put(&o, "import %u: %s.%s(%s)\n", i, SU_STR(rs, rs->imports[i].plugin),
		    SU_STR(rs, rs->imports[i].fn), SU_STR(rs, rs->imports[i].sig));
	for (uint32_t i = 0; i < rs->nmethods; i++) {
		put(&o, "method %s\n", stepup_method_name((stepup_method)rs->methods[i].type));
		dis_entry(&o, rs, rs->methods[i].code);
	}
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const su_rule *r = &rs->rules[i];
		put(&o, "rule %s (%s:%u) %s", SU_STR(rs, r->name), SU_STR(rs, rs->files[r->file]),
		    r->line, oc[r->outcome]);
		if (r->outcome == STEPUP_YELLOW)
			put(&o, " allowed=0x%x%s", r->allowed, r->fraud ? " line FRAUD" : "");
		put(&o, "\n");
		dis_entry(&o, rs, r->code);
	}
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	return o.p;
}
