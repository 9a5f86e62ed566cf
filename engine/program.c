/* program.c: ruleset lifetime, the verifier and the disassembler. */
#include "program.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	free(rs->reasons);
	free(rs->methods);
	free(rs->rules);
	free(rs->atoms);
	free(rs->clauses);
	free(rs->lits);
	free(rs->ftests);
	free(rs->frules);
	free(rs->fmethods);
	free(rs->code);
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

/* ---- verifier ----------------------------------------------------------
 * A bundle can come from anywhere, so nothing in it is trusted: every
 * index is bounds-checked, every slot must have the type its opcode reads,
 * jumps only go forward inside their condition, and the stack depths are
 * proved. After this passes, the evaluator runs without checks. */

static int fail(char *err, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && n)
		vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -1;
}

static int slot_is(unsigned slot, su_type t)
{
	return slot < SU_SLOT_COUNT && su_fields[slot].type == t;
}

#define STR_OK(rs, i) ((i) < (rs)->nstrs)

/* Set c's range lies inside the table it will index. */
static int set_in(const struct stepup_ruleset *rs, uint32_t c, uint32_t table_len)
{
	return c < rs->nstrsets && (uint64_t)rs->strsets[c].start + rs->strsets[c].count <= table_len;
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
			if (in->a >= SU_SLOT_COUNT || in->c > 1)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_V_FIELD:
			if (in->a >= SU_SLOT_COUNT)
				return fail(err, n, "bad slot at %u", pc);
			push = (uint8_t)su_fields[in->a].type;
			break;
		case SU_OP_BOOL:
			if (!slot_is(in->a, SU_T_BOOL))
				return fail(err, n, "bad slot at %u", pc);
			break;
		case SU_OP_ENUM_IN:
			if (!slot_is(in->a, SU_T_ENUM) || in->c >= rs->nmasks)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_INT_CMP:
			if (!slot_is(in->a, SU_T_INT) || in->c >= rs->nints || in->cmp > 5)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_STR_CMP:
			if (!slot_is(in->a, SU_T_STRING) || !STR_OK(rs, in->c) || in->cmp > 1)
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_STR_IN:
			if (!slot_is(in->a, SU_T_STRING) || !set_in(rs, in->c, rs->nsetitems))
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_STR_SUFFIX:
			if (!slot_is(in->a, SU_T_STRING) || !slot_is(in->c, SU_T_STRING))
				return fail(err, n, "bad operand at %u", pc);
			break;
		case SU_OP_REASONS_ANY:
		case SU_OP_REASONS_ALL:
			if (!slot_is(in->a, SU_T_REASONS) || in->c >= rs->nmasks)
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
			if (in->a >= SU_E_COUNT || in->c >= su_enums[in->a].count)
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
		int dval = in->op == SU_OP_V_CALL ? 1 - (int)in->a : su_op_val[in->op];
		tri += su_op_tri[in->op];
		val += dval;
		if ((in->op == SU_OP_NOT || in->op == SU_OP_JF || in->op == SU_OP_JT ||
		     in->op == SU_OP_AND || in->op == SU_OP_OR) && tri < 1)
			return fail(err, n, "stack underflow at %u", pc);
		if (tri < 0 || val < 0)
			return fail(err, n, "stack underflow at %u", pc);
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

/* The flat form of a condition may only name fused tests of its own code. */
static int verify_cnf(const struct stepup_ruleset *rs, su_range cnf, uint32_t start, uint32_t end,
                      char *err, size_t n)
{
	if ((uint64_t)cnf.start + cnf.count > rs->nclauses)
		return fail(err, n, "bad clause range");
	for (uint32_t i = 0; i < cnf.count; i++) {
		su_range cl = rs->clauses[cnf.start + i];
		if (cl.count == 0 || (uint64_t)cl.start + cl.count > rs->nlits)
			return fail(err, n, "bad literal range");
		for (uint32_t k = 0; k < cl.count; k++) {
			su_lit l = rs->lits[cl.start + k];
			if (l.insn < start || l.insn >= end || l.neg > 1 ||
			    rs->code[l.insn].op < SU_OP_TRI || rs->code[l.insn].op > SU_OP_REASONS_ALL)
				return fail(err, n, "bad literal");
		}
	}
	return 0;
}

int su_program_verify(const struct stepup_ruleset *rs, char *err, size_t n)
{
	uint32_t end;

	if (rs->max_tri > SU_MAX_STACK || rs->max_val > SU_MAX_STACK)
		return fail(err, n, "stack depth too large");
	if (rs->strtab_len == 0 || rs->strtab[rs->strtab_len - 1] != '\0')
		return fail(err, n, "string table not terminated");
	for (uint32_t i = 0; i < rs->nstrs; i++)
		if ((uint64_t)rs->strs[i].off + rs->strs[i].len >= rs->strtab_len ||
		    rs->strtab[rs->strs[i].off + rs->strs[i].len] != '\0')
			return fail(err, n, "string %u out of bounds", i);
	if (!STR_OK(rs, rs->name))
		return fail(err, n, "bad ruleset name");
	for (uint32_t i = 0; i < rs->nfiles; i++)
		if (!STR_OK(rs, rs->files[i]))
			return fail(err, n, "bad file name");
	for (uint32_t i = 0; i < rs->nsetitems; i++)
		if (!STR_OK(rs, rs->setitems[i]))
			return fail(err, n, "bad set item");
	if (rs->nreasons > SU_REASON_MAX - SU_R_KNOWN_COUNT)
		return fail(err, n, "too many reason codes");
	for (uint32_t i = 0; i < rs->nreasons; i++)
		if (!STR_OK(rs, rs->reasons[i]))
			return fail(err, n, "bad reason code");
	for (uint32_t i = 0; i < rs->natoms; i++)
		if (!STR_OK(rs, rs->atoms[i].text) || rs->atoms[i].file >= rs->nfiles)
			return fail(err, n, "bad atom %u", i);
	if (rs->nmethods > STEPUP_METHOD_COUNT)
		return fail(err, n, "too many methods");
	for (uint32_t i = 0; i < rs->nmethods; i++) {
		if (rs->methods[i].type >= STEPUP_METHOD_COUNT)
			return fail(err, n, "bad method %u", i);
		for (uint32_t j = 0; j < i; j++)
			if (rs->methods[j].type == rs->methods[i].type)
				return fail(err, n, "method declared twice");
		if (verify_entry(rs, rs->methods[i].code, &end, err, n) < 0 ||
		    verify_cnf(rs, rs->methods[i].cnf, rs->methods[i].code, end, err, n) < 0)
			return -1;
	}
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const su_rule *r = &rs->rules[i];
		if (!STR_OK(rs, r->name) || (r->desc != SU_NONE && !STR_OK(rs, r->desc)) ||
		    r->file >= rs->nfiles || r->outcome > STEPUP_RED || r->fraud > 1 ||
		    r->allowed > 0xf)
			return fail(err, n, "bad rule %u", i);
		if (verify_entry(rs, r->code, &end, err, n) < 0 ||
		    verify_cnf(rs, r->cnf, r->code, end, err, n) < 0)
			return -1;
	}
	if (rs->merchant_policy != STEPUP_GREEN && rs->merchant_policy != STEPUP_RED)
		return fail(err, n, "bad merchant policy");
	return 0;
}

/* ---- prepared form ------------------------------------------------------ */

/* Fold the literal's negation into its test. Kleene NOT maps TRUE and FALSE
 * and keeps ABSENT, and every test here is ABSENT exactly when its field is,
 * so negating the predicate is the same as negating the result. */
static void prepare_test(const su_insn *in, uint32_t neg, const struct stepup_ruleset *rs, su_ftest *t)
{
	static const uint8_t int_ops[6] = { SU_F_INT_EQ, SU_F_INT_NE, SU_F_INT_LT,
	                                    SU_F_INT_LE, SU_F_INT_GT, SU_F_INT_GE };
	static const uint8_t int_not[6] = { SU_F_INT_NE, SU_F_INT_EQ, SU_F_INT_GE,
	                                    SU_F_INT_GT, SU_F_INT_LE, SU_F_INT_LT };

	memset(t, 0, sizeof(*t));
	t->slot = in->a;
	t->k.idx = in->c;
	switch (in->op) {
	case SU_OP_TRI:
		t->op = SU_F_CONST;
		t->k.idx = neg && in->c != SU_ABSENT ? in->c ^ 1 : in->c;
		break;
	case SU_OP_PRESENT:
		t->op = (in->c != 0) != (neg != 0) ? SU_F_ABSENT : SU_F_PRESENT;
		break;
	case SU_OP_BOOL:
		t->op = neg ? SU_F_NOT_BOOL : SU_F_BOOL;
		break;
	case SU_OP_ENUM_IN: {
		int kind = su_fields[in->a].enum_kind;
		uint64_t all = (UINT64_C(1) << su_enums[kind].count) - 1;
		t->op = SU_F_ENUM;
		t->k.mask = neg ? all & ~rs->masks[in->c] : rs->masks[in->c];
		break;
	}
	case SU_OP_INT_CMP:
		t->op = neg ? int_not[in->cmp] : int_ops[in->cmp];
		t->k.i = rs->ints[in->c];
		break;
	case SU_OP_STR_CMP:
		t->op = (in->cmp == 0) != (neg != 0) ? SU_F_STR_EQ : SU_F_STR_NE;
		break;
	case SU_OP_STR_IN:
		t->op = neg ? SU_F_STR_NOT_IN : SU_F_STR_IN;
		break;
	case SU_OP_STR_SUFFIX:
		t->op = neg ? SU_F_NOT_SUFFIX : SU_F_SUFFIX;
		break;
	case SU_OP_REASONS_ANY:
		t->op = neg ? SU_F_NONE : SU_F_ANY;
		t->k.mask = rs->masks[in->c];
		break;
	case SU_OP_REASONS_ALL:
		t->op = neg ? SU_F_NOT_ALL : SU_F_ALL;
		t->k.mask = rs->masks[in->c];
		break;
	default:  /* unreachable: the verifier admits fused opcodes only */
		t->op = SU_F_CONST;
		t->k.idx = SU_ABSENT;
	}
}

static su_fcond prepare_cond(struct stepup_ruleset *rs, uint32_t code, su_range cnf, uint32_t *n)
{
	su_fcond fc = { .first = *n, .end = *n, .code = code };
	for (uint32_t i = 0; i < cnf.count; i++) {
		su_range cl = rs->clauses[cnf.start + i];
		uint32_t last = *n + cl.count - 1;
		for (uint32_t k = 0; k < cl.count; k++) {
			su_lit l = rs->lits[cl.start + k];
			const su_insn *in = &rs->code[l.insn];
			su_ftest *t = &rs->ftests[(*n)++];
			prepare_test(in, l.neg, rs, t);
			t->clause_last = last;
		}
	}
	fc.end = *n;
	return fc;
}

static uint64_t cond_lits(const struct stepup_ruleset *rs, su_range cnf)
{
	uint64_t k = 0;
	for (uint32_t i = 0; i < cnf.count; i++)
		k += rs->clauses[cnf.start + i].count;
	return k;
}

int su_program_prepare(struct stepup_ruleset *rs)
{
	uint64_t total = 0;
	uint32_t n = 0;

	/* Count first: a (hostile) bundle may share clauses between rules. */
	for (uint32_t i = 0; i < rs->nrules; i++)
		total += cond_lits(rs, rs->rules[i].cnf);
	for (uint32_t i = 0; i < rs->nmethods; i++)
		total += cond_lits(rs, rs->methods[i].cnf);
	if (total > (UINT64_C(1) << 24) || rs->ncode >= (1u << 24))
		return -1;  /* su_fcond keeps code offsets in 24 bits */
	rs->ftests = malloc((total ? total : 1) * sizeof(*rs->ftests));
	rs->frules = malloc((rs->nrules ? rs->nrules : 1) * sizeof(*rs->frules));
	rs->fmethods = malloc((rs->nmethods ? rs->nmethods : 1) * sizeof(*rs->fmethods));
	if (!rs->ftests || !rs->frules || !rs->fmethods)
		return -1;
	for (uint32_t i = 0; i < rs->nrules; i++) {
		rs->frules[i] = prepare_cond(rs, rs->rules[i].code, rs->rules[i].cnf, &n);
		rs->frules[i].outcome = rs->rules[i].outcome;
		rs->frules[i].allowed = rs->rules[i].allowed;
		rs->frules[i].fraud = rs->rules[i].fraud;
	}
	for (uint32_t i = 0; i < rs->nmethods; i++)
		rs->fmethods[i] = prepare_cond(rs, rs->methods[i].code, rs->methods[i].cnf, &n);
	return 0;
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
			put(o, " %s%s", su_fields[in->a].path, in->c ? " absent" : "");
			break;
		case SU_OP_BOOL:
		case SU_OP_V_FIELD:
			put(o, " %s", su_fields[in->a].path);
			break;
		case SU_OP_ENUM_IN:
		case SU_OP_REASONS_ANY:
		case SU_OP_REASONS_ALL:
			put(o, " %s 0x%" PRIx64, su_fields[in->a].path, rs->masks[in->c]);
			break;
		case SU_OP_INT_CMP:
			put(o, " %s %u %" PRId64, su_fields[in->a].path, in->cmp, rs->ints[in->c]);
			break;
		case SU_OP_STR_CMP:
			put(o, " %s %u \"%s\"", su_fields[in->a].path, in->cmp, SU_STR(rs, in->c));
			break;
		case SU_OP_STR_SUFFIX:
			put(o, " %s %s", su_fields[in->a].path, su_fields[in->c].path);
			break;
		case SU_OP_V_CALL:
			put(o, " %s/%u", su_builtins[in->c].name, in->a);
			break;
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
