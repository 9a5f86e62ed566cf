/* eval.h: running compiled conditions.
 *
 * Single field tests (the fused instructions) are inline here, so the
 * decide loop evaluates a rule that is one test without entering the
 * general evaluator loop; most rules of a real policy are. */
#ifndef SU_EVAL_H
#define SU_EVAL_H

#include <string.h>

#include "program.h"
#include "request.h"

#define SU_CMP_EQ_CODE 0  /* su_cmp's EQ, as stored in su_insn.cmp */

/* Atom values recorded while explaining. */
typedef struct su_trace {
	uint32_t *atom;
	uint8_t *value;
	size_t n, cap;
} su_trace;

/* su_cmp order: EQ, NE, LT, LE, GT, GE. */
#define SU_CMP_BODY(a, b, op)                       \
	switch (op) {                                   \
	case 0: return (a) == (b);                      \
	case 1: return (a) != (b);                      \
	case 2: return (a) < (b);                       \
	case 3: return (a) <= (b);                      \
	case 4: return (a) > (b);                       \
	default: return (a) >= (b);                     \
	}

static inline int cmp_i(int64_t a, int64_t b, unsigned op) { SU_CMP_BODY(a, b, op) }
static inline int cmp_d(double a, double b, unsigned op) { SU_CMP_BODY(a, b, op) }

/* Byte compare for the short strings rules deal in (suffixes, names);
 * cheaper than a libc call at these lengths. */
static inline int bytes_eq(const char *a, const char *b, uint32_t n)
{
	if (n > 16)
		return memcmp(a, b, n) == 0;
	for (uint32_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

static inline int str_eq(su_str a, const char *b, uint32_t blen)
{
	return a.len == blen && bytes_eq(a.s, b, blen);
}

static inline int ends_with(su_str a, su_str b)
{
	return b.len <= a.len && bytes_eq(a.s + a.len - b.len, b.s, b.len);
}

static inline int str_in(const stepup_ruleset *rs, uint32_t set, su_str s)
{
	su_range r = rs->strsets[set];
	for (uint32_t i = 0; i < r.count; i++) {
		uint32_t k = rs->setitems[r.start + i];
		if (str_eq(s, SU_STR(rs, k), SU_STRLEN(rs, k)))
			return 1;
	}
	return 0;
}

#define SU_TRI(x) ((x) ? SU_TRUE : SU_FALSE)
#define SU_P(slot) SU_PRESENT(r, (slot))

/* One fused test (opcodes TRI .. REASONS_ALL). */
static inline __attribute__((always_inline)) uint8_t su_eval_test(const stepup_ruleset *rs, const stepup_request *r,
                                   const su_insn *in)
{
	switch ((enum su_op)in->op) {
	case SU_OP_TRI:
		return (uint8_t)in->c;
	case SU_OP_PRESENT:
		return SU_TRI(SU_P(in->a) != in->c);
	case SU_OP_BOOL:
		return SU_P(in->a) ? SU_TRI(r->f[in->a].b) : SU_ABSENT;
	case SU_OP_ENUM_IN:
		return SU_P(in->a) ? (uint8_t)((rs->masks[in->c] >> r->f[in->a].e) & 1) : SU_ABSENT;
	case SU_OP_INT_CMP:
		return SU_P(in->a) ? SU_TRI(cmp_i(r->f[in->a].i, rs->ints[in->c], in->cmp)) : SU_ABSENT;
	case SU_OP_STR_CMP:
		return SU_P(in->a) ? SU_TRI(str_eq(su_rstr(r, in->a), SU_STR(rs, in->c), SU_STRLEN(rs, in->c)) ==
		                            (in->cmp == SU_CMP_EQ_CODE))
		                   : SU_ABSENT;
	case SU_OP_STR_IN:
		return SU_P(in->a) ? SU_TRI(str_in(rs, in->c, su_rstr(r, in->a))) : SU_ABSENT;
	case SU_OP_STR_SUFFIX:
		return SU_P(in->a) && SU_P(in->c) ? SU_TRI(ends_with(su_rstr(r, in->a), su_rstr(r, in->c)))
		                                  : SU_ABSENT;
	case SU_OP_REASONS_ANY:
		return SU_P(in->a) ? SU_TRI(r->f[in->a].mask & rs->masks[in->c]) : SU_ABSENT;
	case SU_OP_REASONS_ALL:
		return SU_P(in->a) ? SU_TRI((r->f[in->a].mask & rs->masks[in->c]) == rs->masks[in->c])
		                   : SU_ABSENT;
	default:
		return SU_ABSENT;
	}
}

/* The general loop, for conditions of more than one test. */
int su_eval_vm(const stepup_ruleset *rs, const stepup_request *r, uint32_t pc);
int su_eval_traced(const stepup_ruleset *rs, const stepup_request *r, uint32_t pc,
                   su_trace *trace);

/* One prepared test: as su_eval_test, with the constant at hand and any
 * negation folded in. */
static inline __attribute__((always_inline)) uint8_t su_ftest_eval(const stepup_ruleset *rs,
                                                                   const stepup_request *r,
                                                                   const su_ftest *t)
{
	unsigned s = t->slot;
	const su_value *f = &r->f[s];

#define NEED(cond) (SU_P(s) ? SU_TRI(cond) : SU_ABSENT)
	switch ((enum su_fop)t->op) {
	case SU_F_CONST: return (uint8_t)t->k.idx;
	case SU_F_PRESENT: return SU_TRI(SU_P(s));
	case SU_F_ABSENT: return SU_TRI(!SU_P(s));
	case SU_F_BOOL: return NEED(f->b);
	case SU_F_NOT_BOOL: return NEED(!f->b);
	case SU_F_ENUM: return NEED((t->k.mask >> f->e) & 1);
	case SU_F_INT_EQ: return NEED(f->i == t->k.i);
	case SU_F_INT_NE: return NEED(f->i != t->k.i);
	case SU_F_INT_LT: return NEED(f->i < t->k.i);
	case SU_F_INT_LE: return NEED(f->i <= t->k.i);
	case SU_F_INT_GT: return NEED(f->i > t->k.i);
	case SU_F_INT_GE: return NEED(f->i >= t->k.i);
	case SU_F_STR_EQ: return NEED(str_eq(su_rstr(r, s), SU_STR(rs, t->k.idx), SU_STRLEN(rs, t->k.idx)));
	case SU_F_STR_NE: return NEED(!str_eq(su_rstr(r, s), SU_STR(rs, t->k.idx), SU_STRLEN(rs, t->k.idx)));
	case SU_F_STR_IN: return NEED(str_in(rs, t->k.idx, su_rstr(r, s)));
	case SU_F_STR_NOT_IN: return NEED(!str_in(rs, t->k.idx, su_rstr(r, s)));
	case SU_F_SUFFIX:
		return SU_P(t->k.idx) ? NEED(ends_with(su_rstr(r, s), su_rstr(r, t->k.idx))) : SU_ABSENT;
	case SU_F_NOT_SUFFIX:
		return SU_P(t->k.idx) ? NEED(!ends_with(su_rstr(r, s), su_rstr(r, t->k.idx))) : SU_ABSENT;
	case SU_F_ANY: return NEED(f->mask & t->k.mask);
	case SU_F_NONE: return NEED(!(f->mask & t->k.mask));
	case SU_F_ALL: return NEED((f->mask & t->k.mask) == t->k.mask);
	case SU_F_NOT_ALL: return NEED((f->mask & t->k.mask) != t->k.mask);
	}
#undef NEED
	return SU_ABSENT;
}

/* Is the prepared test TRUE? (FALSE and ABSENT alike are "no", which is
 * all a one-test rule needs to know.) */
static inline __attribute__((always_inline)) int su_ftest_true(const stepup_ruleset *rs,
                                                               const stepup_request *r,
                                                               const su_ftest *t)
{
	unsigned s = t->slot;
	const su_value *f = &r->f[s];
	int p = (int)SU_P(s);

	switch ((enum su_fop)t->op) {
	case SU_F_CONST: return t->k.idx == SU_TRUE;
	case SU_F_PRESENT: return p;
	case SU_F_ABSENT: return !p;
	case SU_F_BOOL: return p && f->b;
	case SU_F_NOT_BOOL: return p && !f->b;
	case SU_F_ENUM: return p && ((t->k.mask >> f->e) & 1);
	case SU_F_INT_EQ: return p && f->i == t->k.i;
	case SU_F_INT_NE: return p && f->i != t->k.i;
	case SU_F_INT_LT: return p && f->i < t->k.i;
	case SU_F_INT_LE: return p && f->i <= t->k.i;
	case SU_F_INT_GT: return p && f->i > t->k.i;
	case SU_F_INT_GE: return p && f->i >= t->k.i;
	case SU_F_ANY: return p && (f->mask & t->k.mask) != 0;
	case SU_F_NONE: return p && !(f->mask & t->k.mask);
	default: return su_ftest_eval(rs, r, t) == SU_TRUE;
	}
}

/* Kleene AND of clauses, each a Kleene OR of tests: a TRUE literal
 * settles its clause, a FALSE clause settles the whole. */
static inline __attribute__((always_inline)) int su_eval_flat(const stepup_ruleset *rs,
                                                              const stepup_request *r,
                                                              uint32_t first, uint32_t end)
{
	const su_ftest *ft = rs->ftests;
	int res = SU_TRUE, absent = 0;

	for (uint32_t k = first; k < end; k++) {
		const su_ftest *t = &ft[k];
		int v = su_ftest_eval(rs, r, t);
		if (v == SU_TRUE) {
			k = t->clause_last;  /* clause settled TRUE */
			absent = 0;
			continue;
		}
		absent |= v == SU_ABSENT;
		if (k == t->clause_last) {
			if (!absent)
				return SU_FALSE;
			res = SU_ABSENT;
			absent = 0;
		}
	}
	return res;
}

/* Evaluate a condition: SU_TRUE, SU_FALSE or SU_ABSENT. */
static inline __attribute__((always_inline)) int su_eval(const stepup_ruleset *rs,
                                                         const stepup_request *r, const su_fcond *fc)
{
	uint32_t first = fc->first, end = fc->end;
	if (end - first == 1)
		return su_ftest_eval(rs, r, &rs->ftests[first]);
	return first != end ? su_eval_flat(rs, r, first, end) : su_eval_vm(rs, r, fc->code);
}

/* Is the condition TRUE? The decide loop's question. */
static inline __attribute__((always_inline)) int su_eval_true(const stepup_ruleset *rs,
                                                              const stepup_request *r,
                                                              const su_fcond *fc)
{
	uint32_t first = fc->first, end = fc->end;
	if (end - first == 1)  /* one test: most rules */
		return su_ftest_true(rs, r, &rs->ftests[first]);
	return (first != end ? su_eval_flat(rs, r, first, end) : su_eval_vm(rs, r, fc->code)) == SU_TRUE;
}

#endif
