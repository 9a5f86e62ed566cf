/* compile.c: lowers the checked AST to flat code (nftables' linearize).
 *
 * Field tests against constants become single fused instructions, so the
 * evaluator reads a slot and compares without touching the value stack;
 * anything else goes through the generic value instructions. `and`/`or`
 * short-circuit with forward jumps, which also makes termination obvious to
 * the verifier. */
#include "compile.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/cardnum.h"
#include "../engine/util.h"

typedef struct buf {
	void *p;
	uint32_t n, cap;
} buf;

/* A leaf test of the condition being emitted, and whether it became one
 * fused instruction (possibly followed by NOT): the material of the flat
 * CNF form. */
typedef struct leaf {
	const su_node *n;
	uint32_t insn;
	uint8_t fused, neg;
} leaf;

typedef struct cc {
	su_diags *d;
	struct stepup_ruleset *rs;
	const su_schema *sc;
	buf strtab, strs, ints, floats, masks, strsets, setitems, methods, rules, atoms, code;
	buf clauses, lits, leaves;
	buf tlits, tclauses;  /* the CNF being built (clit, su_range into tlits) */
	uint32_t *hash;     /* open addressing over strs indices, SU_NONE = empty */
	uint32_t *ihash, ihcap;  /* the same over ints, then masks (const_int...) */
	uint32_t *mhash, mhcap;
	int copy;           /* emitting a VM literal's code: no atoms, no leaves */
	uint32_t hcap;
	uint32_t tri, val;  /* current stack depths */
	int oom;
	int too_deep;       /* a condition needs more than SU_MAX_STACK values */
} cc;

static void *grow(cc *c, buf *b, size_t elem, uint32_t more)
{
	if (c->oom)
		return NULL;
	if ((uint64_t)b->n + more > b->cap) {
		uint64_t cap = b->cap ? b->cap : 16;
		while (cap < (uint64_t)b->n + more)
			cap *= 2;
		if (cap > UINT32_MAX / 2) {
			c->oom = 1;
			return NULL;
		}
		void *p = realloc(b->p, (size_t)cap * elem);
		if (!p) {
			c->oom = 1;
			return NULL;
		}
		b->p = p;
		b->cap = (uint32_t)cap;
	}
	void *at = (char *)b->p + (size_t)b->n * elem;
	b->n += more;
	return at;
}

#define PUSH(c, b, T, v)                                  \
	do {                                                  \
		T *slot_ = grow((c), &(c)->b, sizeof(T), 1);      \
		if (slot_)                                        \
			*slot_ = (v);                                 \
	} while (0)

static uint32_t hash_str(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

static int rehash(cc *c)
{
	uint32_t cap = c->hcap ? c->hcap * 2 : 256;
	uint32_t *h = malloc(cap * sizeof(*h));
	if (!h)
		return -1;
	memset(h, 0xff, cap * sizeof(*h));
	su_span *spans = c->strs.p;
	for (uint32_t i = 0; i < c->strs.n; i++) {
		uint32_t k = hash_str((char *)c->strtab.p + spans[i].off, spans[i].len) & (cap - 1);
		while (h[k] != SU_NONE)
			k = (k + 1) & (cap - 1);
		h[k] = i;
	}
	free(c->hash);
	c->hash = h;
	c->hcap = cap;
	return 0;
}

/* Intern a string; returns its strs index. */
static uint32_t str(cc *c, const char *s, size_t n)
{
	if (c->oom)
		return 0;
	if ((c->strs.n + 1) * 2 > c->hcap && rehash(c) < 0) {
		c->oom = 1;
		return 0;
	}
	uint32_t k = hash_str(s, n) & (c->hcap - 1);
	su_span *spans = c->strs.p;
	for (; c->hash[k] != SU_NONE; k = (k + 1) & (c->hcap - 1)) {
		su_span sp = spans[c->hash[k]];
		if (sp.len == n && memcmp((char *)c->strtab.p + sp.off, s, n) == 0)
			return c->hash[k];
	}
	char *at = grow(c, &c->strtab, 1, (uint32_t)n + 1);
	if (!at)
		return 0;
	memcpy(at, s, n);
	at[n] = '\0';
	su_span sp = { (uint32_t)(at - (char *)c->strtab.p), (uint32_t)n };
	PUSH(c, strs, su_span, sp);
	c->hash[k] = c->strs.n - 1;
	return c->strs.n - 1;
}

static uint32_t cstr(cc *c, const char *s)
{
	return str(c, s, strlen(s));
}

/* Find or add a 64-bit constant of `b` through the open-addressing table
 * *h (indices, SU_NONE = empty): a ruleset of 100,000 rules names many. */
static uint32_t const_u64(cc *c, buf *b, uint32_t **h, uint32_t *hcap, uint64_t v)
{
	uint64_t *a = b->p;
	if (c->oom)
		return 0;
	if ((b->n + 1) * 2 > *hcap) {
		uint32_t cap = *hcap ? *hcap * 2 : 64;
		uint32_t *t = malloc(cap * sizeof(*t));
		if (!t) {
			c->oom = 1;
			return 0;
		}
		memset(t, 0xff, cap * sizeof(*t));
		for (uint32_t i = 0; i < b->n; i++) {
			uint32_t k = (uint32_t)((a[i] * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
			while (t[k] != SU_NONE)
				k = (k + 1) & (cap - 1);
			t[k] = i;
		}
		free(*h);
		*h = t;
		*hcap = cap;
	}
	uint32_t k = (uint32_t)((v * 0x9e3779b97f4a7c15ull) >> 32) & (*hcap - 1);
	for (; (*h)[k] != SU_NONE; k = (k + 1) & (*hcap - 1))
		if (a[(*h)[k]] == v)
			return (*h)[k];
	uint64_t *at = grow(c, b, sizeof(uint64_t), 1);
	if (!at)
		return 0;
	*at = v;
	(*h)[k] = b->n - 1;
	return b->n - 1;
}

static uint32_t const_int(cc *c, int64_t v)
{
	return const_u64(c, &c->ints, &c->ihash, &c->ihcap, (uint64_t)v);
}

static uint32_t const_mask(cc *c, uint64_t v)
{
	return const_u64(c, &c->masks, &c->mhash, &c->mhcap, v);
}

static uint32_t const_float(cc *c, double v)
{
	PUSH(c, floats, double, v);
	return c->floats.n - 1;
}

static void track(cc *c, int dtri, int dval)
{
	c->tri = (uint32_t)((int)c->tri + dtri);
	c->val = (uint32_t)((int)c->val + dval);
	if (c->tri > c->rs->max_tri)
		c->rs->max_tri = c->tri;
	if (c->val > c->rs->max_val)
		c->rs->max_val = c->val;
}

static uint32_t emit(cc *c, uint8_t op, unsigned a, unsigned cmp, uint32_t k, uint32_t atom)
{
	su_insn in = { .op = op, .a = (uint16_t)a, .cmp = (uint8_t)cmp, .c = k, .atom = atom };
	PUSH(c, code, su_insn, in);
	int dval = su_op_val[op];
	if (op == SU_OP_V_CALL || op == SU_OP_V_PCALL)
		dval = 1 - (int)a;
	track(c, su_op_tri[op], dval);
	return c->code.n - 1;
}

static uint32_t atom(cc *c, const su_node *n)
{
	if (c->copy)  /* a VM literal's copy: explain runs the original */
		return SU_NONE;
	char *text = su_loc_text(c->d, n->loc);
	if (!text) {
		c->oom = 1;
		return SU_NONE;
	}
	/* Explain output quotes this text. Every token was screened by the
	 * lexer; this catches a card number the tokens only make together. */
	if (su_card_find(text, strlen(text), NULL, NULL))
		su_error(c->d, n->loc, "this test's text holds a card number: explain output would quote it");
	su_atom a = { cstr(c, text), n->loc.file, n->loc.first_line, n->loc.first_col };
	free(text);
	PUSH(c, atoms, su_atom, a);
	return c->atoms.n - 1;
}

static uint64_t enum_full(const cc *c, int ekind)
{
	unsigned n = su_schema_value_count(c->sc, (unsigned)ekind);
	return n >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1;
}

static int is_const(const su_node *n)
{
	return n->kind == SU_N_INT || n->kind == SU_N_FLOAT || n->kind == SU_N_STRING ||
	       n->kind == SU_N_BOOL || n->kind == SU_N_IDENT;
}

static void emit_value(cc *c, const su_node *n)
{
	switch (n->kind) {
	case SU_N_FIELD:
		emit(c, SU_OP_V_FIELD, (unsigned)n->slot, 0, 0, SU_NONE);
		break;
	case SU_N_INT:
		emit(c, SU_OP_V_INT, 0, 0, const_int(c, n->ival), SU_NONE);
		break;
	case SU_N_FLOAT:
		emit(c, SU_OP_V_FLOAT, 0, 0, const_float(c, n->fval), SU_NONE);
		break;
	case SU_N_STRING:
		emit(c, SU_OP_V_STR, 0, 0, cstr(c, n->text), SU_NONE);
		break;
	case SU_N_BOOL:
		emit(c, SU_OP_V_BOOL, 0, 0, (uint32_t)n->ival, SU_NONE);
		break;
	case SU_N_IDENT:  /* resolved enum value */
		emit(c, SU_OP_V_ENUM, (unsigned)n->ekind, 0, (uint32_t)n->ival, SU_NONE);
		break;
	case SU_N_CALL: {
		unsigned nargs = 0;
		for (const su_node *a = n->a; a; a = a->next, nargs++)
			emit_value(c, a);
		if (n->import >= 0)
			emit(c, SU_OP_V_PCALL, nargs, 0, (uint32_t)n->import, SU_NONE);
		else
			emit(c, SU_OP_V_CALL, nargs, 0, (uint32_t)n->func, SU_NONE);
		break;
	}
	default:
		c->oom = 1;  /* unreachable after a clean check */
	}
}

static uint32_t strset(cc *c, const su_node *set)
{
	su_range r = { c->setitems.n, 0 };
	for (const su_node *it = set->a; it; it = it->next, r.count++)
		PUSH(c, setitems, uint32_t, cstr(c, it->text));
	PUSH(c, strsets, su_range, r);
	return c->strsets.n - 1;
}

static void emit_cmp(cc *c, const su_node *n)
{
	const su_node *f = n->a, *k = n->b;
	su_cmp op = (su_cmp)n->ival;

	if (f->kind != SU_N_FIELD || !is_const(k)) {
		f = n->b;
		k = n->a;
		op = su_cmp_flip(op);
	}
	if (f->kind == SU_N_FIELD && is_const(k)) {
		unsigned s = (unsigned)f->slot;
		if (f->ty == SU_T_ENUM) {
			uint64_t bit = UINT64_C(1) << k->ival;
			uint64_t m = op == SU_CMP_EQ ? bit : (enum_full(c, f->ekind) & ~bit);
			emit(c, SU_OP_ENUM_IN, s, 0, const_mask(c, m), SU_NONE);
			return;
		}
		if (f->ty == SU_T_INT && k->kind == SU_N_INT) {
			emit(c, SU_OP_INT_CMP, s, op, const_int(c, k->ival), SU_NONE);
			return;
		}
		if (f->ty == SU_T_STRING && k->kind == SU_N_STRING) {
			emit(c, SU_OP_STR_CMP, s, op, cstr(c, k->text), SU_NONE);
			return;
		}
		if (f->ty == SU_T_BOOL && k->kind == SU_N_BOOL) {
			emit(c, SU_OP_BOOL, s, 0, 0, SU_NONE);
			if ((op == SU_CMP_EQ) != (k->ival != 0))
				emit(c, SU_OP_NOT, 0, 0, 0, SU_NONE);
			return;
		}
	}
	/* length(field) <op> integer */
	f = n->a;
	k = n->b;
	op = (su_cmp)n->ival;
	if (!(f->kind == SU_N_CALL && k->kind == SU_N_INT)) {
		f = n->b;
		k = n->a;
		op = su_cmp_flip(op);
	}
	if (f->kind == SU_N_CALL && f->import < 0 && f->func == SU_FN_LENGTH && f->a->kind == SU_N_FIELD &&
	    k->kind == SU_N_INT) {
		emit(c, SU_OP_STR_LEN, (unsigned)f->a->slot, op, const_int(c, k->ival), SU_NONE);
		return;
	}
	emit_value(c, n->a);
	emit_value(c, n->b);
	su_type t = n->a->ty == SU_T_FLOAT || n->b->ty == SU_T_FLOAT ? SU_T_FLOAT : n->a->ty;
	emit(c, SU_OP_V_CMP, t, (unsigned)n->ival, 0, SU_NONE);
}

static void emit_leaf(cc *c, const su_node *n);
static void emit_test(cc *c, const su_node *n, uint32_t at);

static void emit_cond(cc *c, const su_node *n)
{
	uint32_t j, at;


	switch (n->kind) {
	case SU_N_AND:
	case SU_N_OR:
		emit_cond(c, n->a);
		j = emit(c, n->kind == SU_N_AND ? SU_OP_JF : SU_OP_JT, 0, 0, 0, SU_NONE);
		emit_cond(c, n->b);
		emit(c, n->kind == SU_N_AND ? SU_OP_AND : SU_OP_OR, 0, 0, 0, SU_NONE);
		if (!c->oom)
			((su_insn *)c->code.p)[j].c = c->code.n;
		return;
	case SU_N_NOT:
		if (n->a->kind == SU_N_AND || n->a->kind == SU_N_OR || n->a->kind == SU_N_NOT) {
			emit_cond(c, n->a);
			emit(c, SU_OP_NOT, 0, 0, 0, SU_NONE);
			return;
		}
		/* `not <test>` reads as one test in explain output: its text and
		 * value are the negated ones. */
		at = atom(c, n);
		emit_test(c, n->a, SU_NONE);
		emit(c, SU_OP_NOT, 0, 0, 0, at);
		return;
	default:
		emit_test(c, n, atom(c, n));
	}
}

/* Emit one test; `at` (the explain atom) marks the instruction whose result
 * is the test's value. Records the test for the flat CNF form. */
static void emit_test(cc *c, const su_node *n, uint32_t at)
{
	uint32_t start = c->code.n;
	emit_leaf(c, n);
	if (c->oom)
		return;
	su_insn *code = c->code.p;
	code[c->code.n - 1].atom = at;
	if (c->copy)
		return;
	uint32_t len = c->code.n - start;
	leaf lf = { n, start, (uint8_t)su_op_test(code[start].op), 0 };
	if (len == 2 && code[start + 1].op == SU_OP_NOT)
		lf.neg = 1;
	else if (len != 1)
		lf.fused = 0;
	PUSH(c, leaves, leaf, lf);
}

static void emit_leaf(cc *c, const su_node *n)
{
	switch (n->kind) {
	case SU_N_CMP:
		emit_cmp(c, n);
		return;
	case SU_N_IN:
		if (n->a->kind == SU_N_FIELD && n->a->ty == SU_T_ENUM) {
			uint64_t m = n->ival ? enum_full(c, n->a->ekind) & ~n->b->mask : n->b->mask;
			emit(c, SU_OP_ENUM_IN, (unsigned)n->a->slot, 0, const_mask(c, m), SU_NONE);
			return;
		}
		if (n->a->kind == SU_N_FIELD && n->a->ty == SU_T_STRING) {
			emit(c, SU_OP_STR_IN, (unsigned)n->a->slot, 0, strset(c, n->b), SU_NONE);
		} else {
			emit_value(c, n->a);
			uint32_t k;
			if (n->a->ty == SU_T_ENUM)
				k = const_mask(c, n->b->mask);
			else if (n->a->ty == SU_T_STRING)
				k = strset(c, n->b);
			else if (n->a->ty == SU_T_INT) {  /* a range of ints */
				su_range r = { c->ints.n, 0 };
				for (const su_node *it = n->b->a; it; it = it->next, r.count++)
					PUSH(c, ints, int64_t, it->ival);
				PUSH(c, strsets, su_range, r);
				k = c->strsets.n - 1;
			} else {  /* decimals: a range of doubles */
				su_range r = { c->floats.n, 0 };
				for (const su_node *it = n->b->a; it; it = it->next, r.count++)
					PUSH(c, floats, double, it->kind == SU_N_FLOAT ? it->fval : (double)it->ival);
				PUSH(c, strsets, su_range, r);
				k = c->strsets.n - 1;
			}
			emit(c, SU_OP_V_IN, n->a->ty, 0, k, SU_NONE);
		}
		if (n->ival)
			emit(c, SU_OP_NOT, 0, 0, 0, SU_NONE);
		return;
	case SU_N_HAS: {
		uint64_t m = n->ival == SU_HAS_ONE ? UINT64_C(1) << n->b->ival : n->b->mask;
		if (n->a->kind == SU_N_FIELD)
			emit(c, n->ival == SU_HAS_ALL ? SU_OP_REASONS_ALL : SU_OP_REASONS_ANY,
			     (unsigned)n->a->slot, 0, const_mask(c, m), SU_NONE);
		else {
			emit_value(c, n->a);
			emit(c, SU_OP_V_HAS, 0, (unsigned)n->ival, const_mask(c, m), SU_NONE);
		}
		return;
	}
	case SU_N_PRESENT:
		if (n->a->kind == SU_N_FIELD)
			emit(c, SU_OP_PRESENT, (unsigned)n->a->slot, 0, (uint32_t)n->ival, SU_NONE);
		else {
			emit_value(c, n->a);
			emit(c, SU_OP_V_PRESENT, 0, 0, (uint32_t)n->ival, SU_NONE);
		}
		return;
	case SU_N_BOOL:
		emit(c, SU_OP_TRI, 0, 0, n->ival ? SU_TRUE : SU_FALSE, SU_NONE);
		return;
	case SU_N_FIELD:
		emit(c, SU_OP_BOOL, (unsigned)n->slot, 0, 0, SU_NONE);
		return;
	case SU_N_CALL:
		if (n->import < 0 && n->func == SU_FN_ENDS_WITH && n->a->kind == SU_N_FIELD &&
		    n->a->next->kind == SU_N_FIELD) {
			emit(c, SU_OP_STR_SUFFIX, (unsigned)n->a->slot, 0, (uint32_t)n->a->next->slot, SU_NONE);
			return;
		}
		if (n->import < 0 && n->a && n->a->kind == SU_N_FIELD && n->a->next &&
		    n->a->next->kind == SU_N_STRING &&
		    (n->func == SU_FN_STARTS_WITH || n->func == SU_FN_ENDS_WITH || n->func == SU_FN_CONTAINS)) {
			uint8_t op = n->func == SU_FN_STARTS_WITH ? SU_OP_STR_PREFIX
			           : n->func == SU_FN_ENDS_WITH  ? SU_OP_STR_ENDS : SU_OP_STR_CONTAINS;
			emit(c, op, (unsigned)n->a->slot, 0, cstr(c, n->a->next->text), SU_NONE);
			return;
		}
		emit_value(c, n);
		emit(c, SU_OP_V_TRUTH, 0, 0, 0, SU_NONE);
		return;
	default:
		c->oom = 1;
	}
}

static const leaf *find_leaf(cc *c, const su_node *n)
{
	leaf *l = c->leaves.p;
	for (uint32_t i = 0; i < c->leaves.n; i++)
		if (l[i].n == n)
			return l[i].fused ? &l[i] : NULL;
	return NULL;
}

/* ---- the flat CNF form ---------------------------------------------------
 * Built over the AST after the condition's code: NOT goes down to the
 * tests by De Morgan, AND concatenates clauses, and OR distributes over
 * AND while the clauses it makes stay few (all of which holds in Kleene
 * logic, a distributive lattice, so the CNF has the condition's value).
 * A literal is a fused test of the code, or anything else ("opaque": a
 * test that is not fused, or an OR too big to distribute); each clause's
 * opaque literals become one VM literal, a small condition of their OR
 * emitted after the condition's END. */
typedef struct clit {
	const su_node *n;
	uint32_t insn;     /* a fused test: its instruction; opaque: SU_NONE */
	uint32_t neg;
} clit;

#define CNF_MAX_CLAUSES 64   /* a chunk's width: more runs as one VM test */
#define CNF_MAX_PRODUCT 16   /* clauses one distribution may make */
#define CNF_MAX_LITS 32      /* literals a distributed clause may have */

/* Does n call a plugin function? Distributing copies a literal into
 * several clauses, and a plugin call must run at most once a decision
 * (its calls are counted and memoised): an `or` holding one is not
 * distributed. */
static int calls_plugin(const su_node *n)
{
	if (!n)
		return 0;
	if (n->kind == SU_N_CALL && n->import >= 0)
		return 1;
	if (calls_plugin(n->a) || calls_plugin(n->b))
		return 1;
	if (n->kind == SU_N_CALL)
		for (const su_node *a = n->a ? n->a->next : NULL; a; a = a->next)
			if (calls_plugin(a))
				return 1;
	return 0;
}

/* Append clause `lits` (n literals) to the form being built. */
static void cnf_clause(cc *c, const clit *lits, uint32_t n)
{
	su_range cl = { c->tlits.n, n };
	clit *at = grow(c, &c->tlits, sizeof(clit), n);
	if (!at)
		return;
	/* `lits` may point into tlits, which grow() may just have moved */
	memmove(at, lits, n * sizeof(clit));
	PUSH(c, tclauses, su_range, cl);
}

/* The clauses of `n` (negated with `neg`), appended to tclauses; their
 * range there. Garbage from inner steps stays behind (the buffers are
 * reset per condition). */
static su_range cnf_of(cc *c, const su_node *n, uint32_t neg)
{
	su_range out = { 0, 0 };
	if (c->oom)
		return out;
	if (n->kind == SU_N_NOT)
		return cnf_of(c, n->a, neg ^ 1);
	if (n->kind == SU_N_AND || n->kind == SU_N_OR) {
		su_range A = cnf_of(c, n->a, neg), B = cnf_of(c, n->b, neg);
		if (c->oom)
			return out;
		out.start = c->tclauses.n;
		if ((n->kind == SU_N_AND) != (neg != 0)) {  /* a conjunction: both lists */
			for (uint32_t i = 0; i < A.count + B.count; i++) {
				su_range cl = ((su_range *)c->tclauses.p)[i < A.count ? A.start + i : B.start + i - A.count];
				PUSH(c, tclauses, su_range, cl);
			}
			out.count = A.count + B.count;
			return out;
		}
		/* A disjunction: every clause of A with every clause of B. Two
		 * clauses side by side (a chain of `or`s) join without a copy. */
		if (A.count == 1 && B.count == 1) {
			su_range ca = ((su_range *)c->tclauses.p)[A.start];
			su_range cb = ((su_range *)c->tclauses.p)[B.start];
			if (ca.start + ca.count == cb.start) {
				su_range cl = { ca.start, ca.count + cb.count };
				PUSH(c, tclauses, su_range, cl);
				out.count = 1;
				return out;
			}
		}
		int small = (uint64_t)A.count * B.count <= CNF_MAX_PRODUCT &&
		            (A.count * B.count == 1 || !(calls_plugin(n->a) || calls_plugin(n->b)));
		for (uint32_t i = 0; small && i < A.count; i++)
			for (uint32_t j = 0; small && j < B.count; j++) {
				su_range *cls = c->tclauses.p;
				small = A.count * B.count == 1 ||
				        cls[A.start + i].count + cls[B.start + j].count <= CNF_MAX_LITS;
			}
		if (small) {
			for (uint32_t i = 0; i < A.count && !c->oom; i++)
				for (uint32_t j = 0; j < B.count && !c->oom; j++) {
					su_range ca = ((su_range *)c->tclauses.p)[A.start + i];
					su_range cb = ((su_range *)c->tclauses.p)[B.start + j];
					su_range cl = { c->tlits.n, ca.count + cb.count };
					clit *at = grow(c, &c->tlits, sizeof(clit), cl.count);
					if (!at)
						break;
					clit *l = c->tlits.p;
					memcpy(at, l + ca.start, ca.count * sizeof(clit));
					memcpy(at + ca.count, l + cb.start, cb.count * sizeof(clit));
					PUSH(c, tclauses, su_range, cl);
				}
			out.count = A.count * B.count;
			return out;
		}
		/* Too big: the whole disjunction is one opaque literal. */
	}
	const leaf *lf = n->kind == SU_N_AND || n->kind == SU_N_OR ? NULL : find_leaf(c, n);
	clit l = { n, lf ? lf->insn : SU_NONE, lf ? (lf->neg ^ neg) : neg };
	out.start = c->tclauses.n;
	out.count = 1;
	cnf_clause(c, &l, 1);
	return out;
}

/* The code of a VM literal: the OR of `n` opaque literals, then END. */
static uint32_t emit_vm_literal(cc *c, const clit *l, uint32_t n)
{
	uint32_t start = c->code.n;
	c->tri = c->val = 0;
	c->copy = 1;
	for (uint32_t i = 0; i < n && !c->oom; i++) {
		uint32_t j = 0;
		if (i)
			j = emit(c, SU_OP_JT, 0, 0, 0, SU_NONE);
		emit_cond(c, l[i].n);
		if (l[i].neg)
			emit(c, SU_OP_NOT, 0, 0, 0, SU_NONE);
		if (i) {
			emit(c, SU_OP_OR, 0, 0, 0, SU_NONE);
			if (!c->oom)
				((su_insn *)c->code.p)[j].c = c->code.n;
		}
	}
	emit(c, SU_OP_END, 0, 0, 0, SU_NONE);
	c->copy = 0;
	return start;
}

/* The flat form of cond (whose code starts at `entry`), or an empty range
 * when it has more clauses than a chunk holds, or is one opaque whole
 * (then the general loop runs the code). */
static su_range cnf(cc *c, const su_node *cond, uint32_t entry)
{
	su_range out = { c->clauses.n, 0 };
	c->tlits.n = c->tclauses.n = 0;
	if (!cond)
		return (su_range){ 0, 0 };
	su_range f = cnf_of(c, cond, 0);
	if (c->oom || f.count > CNF_MAX_CLAUSES)
		return (su_range){ 0, 0 };
	if (f.count == 1) {
		su_range cl = ((su_range *)c->tclauses.p)[f.start];
		const clit *l = (const clit *)c->tlits.p + cl.start;
		if (cl.count == 1 && l->insn == SU_NONE && l->n == cond && !l->neg)
			return (su_range){ 0, 0 };
	}
	for (uint32_t i = 0; i < f.count && !c->oom; i++) {
		su_range cl = ((su_range *)c->tclauses.p)[f.start + i];
		su_range lits = { c->lits.n, 0 };
		uint32_t nopaque = 0;
		for (uint32_t k = 0; k < cl.count; k++) {
			const clit *l = (const clit *)c->tlits.p + cl.start + k;
			if (l->insn == SU_NONE) {
				nopaque++;
				continue;
			}
			int dup = 0;  /* `a or a` after distribution */
			for (uint32_t m = lits.start; m < c->lits.n; m++)
				dup |= ((su_lit *)c->lits.p)[m].insn == l->insn && ((su_lit *)c->lits.p)[m].neg == l->neg;
			if (!dup)
				PUSH(c, lits, su_lit, ((su_lit){ l->insn, l->neg }));
		}
		if (nopaque) {
			/* Gather the clause's opaque literals (after its fused ones,
			 * which the decide loop tries first). */
			clit *tmp = malloc(nopaque * sizeof(*tmp));
			if (!tmp) {
				c->oom = 1;
				break;
			}
			uint32_t m = 0;
			for (uint32_t k = 0; k < cl.count; k++) {
				const clit *l = (const clit *)c->tlits.p + cl.start + k;
				if (l->insn == SU_NONE)
					tmp[m++] = *l;
			}
			uint32_t at = nopaque == 1 && tmp[0].n == cond && !tmp[0].neg ? entry
			            : emit_vm_literal(c, tmp, nopaque);
			free(tmp);
			PUSH(c, lits, su_lit, ((su_lit){ at, SU_LIT_VM }));
		}
		lits.count = c->lits.n - lits.start;
		PUSH(c, clauses, su_range, lits);
	}
	if (c->oom)
		return (su_range){ 0, 0 };
	out.count = c->clauses.n - out.start;
	return out;
}

static uint32_t emit_entry(cc *c, const su_node *cond, su_range *flat)
{
	uint32_t start = c->code.n;
	c->tri = c->val = 0;
	c->leaves.n = 0;
	if (cond)
		emit_cond(c, cond);
	else
		emit(c, SU_OP_TRI, 0, 0, SU_TRUE, SU_NONE);
	emit(c, SU_OP_END, 0, 0, 0, SU_NONE);
	/* Nesting is bounded, but calls with many arguments nested in their
	 * last one keep each level's arguments waiting on the value stack. */
	if (c->rs->max_val > SU_MAX_STACK && !c->too_deep) {
		c->too_deep = 1;
		if (cond)
			su_error(c->d, cond->loc, "condition too complex: its calls need more than %d values at once",
			         SU_MAX_STACK);
	}
	*flat = cnf(c, cond, start);
	return start;
}

static void revision(su_diags *d, struct stepup_ruleset *rs)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned len = 0;

	memset(rs->revision, 0, sizeof(rs->revision));
	if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
		for (size_t i = 0; i < d->nsrc; i++) {
			uint64_t n = d->src[i].len;
			if (d->src[i].builtin)
				continue;
			EVP_DigestUpdate(md, &n, sizeof(n));
			EVP_DigestUpdate(md, d->src[i].text, d->src[i].len);
		}
		EVP_DigestFinal_ex(md, rs->revision, &len);
	}
	EVP_MD_CTX_free(md);
	su_program_set_revision_hex(rs);
}

struct stepup_ruleset *su_compile(su_diags *d, su_file **files, size_t nfiles,
                                  const su_checked *chk, su_schema *sc)
{
	cc c = { .d = d, .sc = sc };
	struct stepup_ruleset *rs = calloc(1, sizeof(*rs));
	size_t errors = d->nerrors;

	if (!rs) {
		su_schema_free(sc);
		d->oom = 1;
		return NULL;
	}
	c.rs = rs;
	rs->refs = 1;
	rs->name = cstr(&c, chk->name ? chk->name : "unnamed");
	rs->merchant_policy = chk->merchant_policy >= 0 ? (uint8_t)chk->merchant_policy : STEPUP_RED;
	rs->merchant_policy_set = chk->merchant_policy >= 0;

	uint32_t *fidx = calloc(d->nsrc ? d->nsrc : 1, sizeof(*fidx));
	if (!fidx)
		c.oom = 1;
	for (size_t i = 0; fidx && i < d->nsrc; i++) {
		const char *base = d->src[i].base;
		su_loc whole = { .file = (unsigned)i };
		/* File names go into explain output and logs too. */
		if (!su_utf8_valid(base, strlen(base)))
			su_error(d, whole, "the file name is not valid UTF-8: rename the file");
		else if (su_card_find(base, strlen(base), NULL, NULL))
			su_error(d, whole, "the file name holds a card number: rename the file");
		fidx[i] = cstr(&c, base);
	}

	for (unsigned i = 0; i < chk->nmethods; i++) {
		const su_method_decl *m = chk->methods[chk->method_order[i]];
		su_mdecl md = { .type = (uint8_t)m->type, .line = m->loc.first_line };
		md.code = emit_entry(&c, m->when, &md.cnf);
		PUSH(&c, methods, su_mdecl, md);
	}
	for (size_t i = 0; i < nfiles; i++)
		for (const su_rule_decl *r = files[i]->rules; r; r = r->next) {
			su_rule ru = {
				.name = cstr(&c, r->name),
				.desc = r->desc ? cstr(&c, r->desc) : SU_NONE,
				.file = r->loc.file,
				.line = r->loc.first_line,
				.col = r->loc.first_col,
				.outcome = r->outcome == SU_O_DECLINE ? STEPUP_RED
				         : r->outcome == SU_O_STEP_UP ? STEPUP_YELLOW : STEPUP_GREEN,
				.fraud = r->line == STEPUP_LINE_FRAUD,
				.allowed = (uint8_t)r->allowed,
			};
			ru.code = emit_entry(&c, r->when, &ru.cnf);
			PUSH(&c, rules, su_rule, ru);
		}
	if (chk->nimports) {
		rs->imports = calloc(chk->nimports, sizeof(*rs->imports));
		if (!rs->imports)
			c.oom = 1;
		for (size_t i = 0; rs->imports && i < chk->nimports; i++) {
			rs->imports[i].plugin = cstr(&c, chk->imports[i].plugin);
			rs->imports[i].fn = cstr(&c, chk->imports[i].fn);
			rs->imports[i].sig = cstr(&c, chk->imports[i].sig);
		}
		rs->nimports = (uint32_t)chk->nimports;
	}
	/* Files are referenced by source index; map them to interned names. */
	rs->files = fidx;
	rs->nfiles = (uint32_t)d->nsrc;

	rs->strtab = c.strtab.p;  rs->strtab_len = c.strtab.n;
	rs->strs = c.strs.p;      rs->nstrs = c.strs.n;
	rs->ints = c.ints.p;      rs->nints = c.ints.n;
	rs->floats = c.floats.p;  rs->nfloats = c.floats.n;
	rs->masks = c.masks.p;    rs->nmasks = c.masks.n;
	rs->strsets = c.strsets.p; rs->nstrsets = c.strsets.n;
	rs->setitems = c.setitems.p; rs->nsetitems = c.setitems.n;
	rs->methods = c.methods.p; rs->nmethods = c.methods.n;
	rs->rules = c.rules.p;    rs->nrules = c.rules.n;
	rs->atoms = c.atoms.p;    rs->natoms = c.atoms.n;
	rs->clauses = c.clauses.p; rs->nclauses = c.clauses.n;
	rs->lits = c.lits.p;      rs->nlits = c.lits.n;
	rs->code = c.code.p;      rs->ncode = c.code.n;
	free(c.hash);
	free(c.ihash);
	free(c.mhash);
	free(c.leaves.p);
	free(c.tlits.p);
	free(c.tclauses.p);
	revision(d, rs);
	rs->schema = sc;  /* the ruleset owns it from here, failure or not */
	if (c.oom || c.too_deep || d->nerrors > errors) {
		d->oom |= c.oom;
		su_program_free(rs);
		return NULL;
	}
	return rs;
}
