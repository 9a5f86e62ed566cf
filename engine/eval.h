/* eval.h: running compiled conditions.
 *
 * The fused single-field tests of the general loop, and the decide loop's
 * evaluation of the prepared form (program.h): a chunk of conditions at a
 * time, inline, without the general loop. */
#ifndef SU_EVAL_H
#define SU_EVAL_H

#include <string.h>

#include "plugin_loader.h"
#include "program.h"
#include "request.h"

#define SU_CMP_EQ_CODE 0  /* su_cmp's EQ, as stored in su_insn.cmp */

/* A ruleset's import bound to a loaded plugin function by the engine
 * (engine.c): what V_PCALL c calls, as imp[c]. Its letters equal the
 * import's signature (checked when binding), so the verifier's typing of
 * the value stack holds for the call. */
typedef struct su_bound {
	const su_plugin *p;
	unsigned fn;
	unsigned nargs;
	char args[STEPUP_PLUGIN_MAX_ARGS + 1];
	char ret;
} su_bound;

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

/* A prepared test's negation bit, the mark of a clause's last costly
 * test, and its aux operand (program.h); SU_F_LEN's aux. */
#define SU_FT_INV(t) ((t)->aux >> 31)
#define SU_FT_LAST 0x40000000u
#define SU_FT_AUX(t) ((t)->aux & 0x3fffffffu)
#define SU_FT_LEN(cmp, idx) ((uint32_t)(cmp) << 27 | (idx))
#define SU_FT_LEN_MAX_IDX ((1u << 27) - 1)
static inline int cmp_d(double a, double b, unsigned op) { SU_CMP_BODY(a, b, op) }

/* Byte compare for the short strings rules deal in (suffixes, names);
 * cheaper than a libc call at these lengths: up to 16 bytes as two
 * overlapping words. */
static inline int bytes_eq(const char *a, const char *b, uint32_t n)
{
	if (n >= 8) {
		uint64_t x, y, u, v;
		if (n > 16)
			return memcmp(a, b, n) == 0;
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		memcpy(&u, a + n - 8, 8);
		memcpy(&v, b + n - 8, 8);
		return ((x ^ y) | (u ^ v)) == 0;
	}
	if (n >= 4) {
		uint32_t x, y, u, v;
		memcpy(&x, a, 4);
		memcpy(&y, b, 4);
		memcpy(&u, a + n - 4, 4);
		memcpy(&v, b + n - 4, 4);
		return ((x ^ y) | (u ^ v)) == 0;
	}
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

static inline int starts_with(su_str a, const char *b, uint32_t n)
{
	return n <= a.len && bytes_eq(a.s, b, n);
}

static inline int ends_with_k(su_str a, const char *b, uint32_t n)
{
	return n <= a.len && bytes_eq(a.s + a.len - n, b, n);
}

/* A string of at most SU_KEY_MAX bytes as two words, the same for the
 * same bytes of the same length (lengths are compared apart): how the
 * prepared form keeps short constants (program.h SU_F_KEQ...). */
#define SU_KEY_MAX 16
static inline void su_key_words(const char *s, uint32_t n, uint64_t w[2])
{
	if (n >= 8) {
		memcpy(&w[0], s, 8);
		memcpy(&w[1], s + n - 8, 8);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		w[0] = a | (uint64_t)b << 32;
		w[1] = 0;
	} else {
		w[0] = n ? (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n >> 1] << 8 |
		           (uint64_t)(unsigned char)s[n - 1] << 16
		         : 0;
		w[1] = 0;
	}
}

/* s[0..n) is the constant k = [len, w0, w1]. */
static inline int su_key_is(const char *s, uint32_t n, const uint64_t *k)
{
	uint64_t w[2];
	if (n != k[0])
		return 0;
	su_key_words(s, n, w);
	return ((w[0] ^ k[1]) | (w[1] ^ k[2])) == 0;
}

/* contains(a, b): b (n bytes) occurs in a; an empty b always does. */
int su_contains(su_str a, const char *b, uint32_t n);

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
	case SU_OP_STR_PREFIX:
		return SU_P(in->a) ? SU_TRI(starts_with(su_rstr(r, in->a), SU_STR(rs, in->c), SU_STRLEN(rs, in->c)))
		                   : SU_ABSENT;
	case SU_OP_STR_ENDS:
		return SU_P(in->a) ? SU_TRI(ends_with_k(su_rstr(r, in->a), SU_STR(rs, in->c), SU_STRLEN(rs, in->c)))
		                   : SU_ABSENT;
	case SU_OP_STR_CONTAINS:
		return SU_P(in->a) ? SU_TRI(su_contains(su_rstr(r, in->a), SU_STR(rs, in->c), SU_STRLEN(rs, in->c)))
		                   : SU_ABSENT;
	case SU_OP_STR_LEN:
		return SU_P(in->a) ? SU_TRI(cmp_i((int64_t)r->f[in->a].str.len, rs->ints[in->c], in->cmp)) : SU_ABSENT;
	default:
		return SU_ABSENT;
	}
}

/* The general loop, for conditions of more than one test. `imp` is the
 * engine's bound imports (NULL when the ruleset imports nothing). */
int su_eval_vm(const stepup_ruleset *rs, const su_bound *imp, const stepup_request *r, uint32_t pc);
int su_eval_traced(const stepup_ruleset *rs, const su_bound *imp, const stepup_request *r,
                   uint32_t pc, su_trace *trace);

/* A costlier prepared test (string tests, lengths, a condition or a VM
 * literal for the general loop): is it TRUE? */
static inline __attribute__((always_inline)) int su_ftest_costly(const stepup_ruleset *rs,
                                                                 const su_bound *imp,
                                                                 const stepup_request *r,
                                                                 const su_ftest *t)
{
	unsigned s = t->slot, aux = SU_FT_AUX(t);
	int inv = (int)SU_FT_INV(t);

	switch (t->op) {
	case SU_F_LEN:
		return SU_P(s) && cmp_i((int64_t)r->f[s].str.len, rs->ints[aux & SU_FT_LEN_MAX_IDX], aux >> 27);
	case SU_F_KEQ: {
		su_str v = su_rstr(r, s);
		return SU_P(s) && su_key_is(v.s, v.len, rs->ftab + aux) != inv;
	}
	case SU_F_KPRE: {
		su_str v = su_rstr(r, s);
		const uint64_t *k = rs->ftab + aux;
		return SU_P(s) && (v.len >= k[0] && su_key_is(v.s, (uint32_t)k[0], k)) != inv;
	}
	case SU_F_KSUF: {
		su_str v = su_rstr(r, s);
		const uint64_t *k = rs->ftab + aux;
		return SU_P(s) && (v.len >= k[0] && su_key_is(v.s + v.len - k[0], (uint32_t)k[0], k)) != inv;
	}
	case SU_F_KIN: {
		if (!SU_P(s))
			return 0;
		su_str v = su_rstr(r, s);
		const uint64_t *k = rs->ftab + aux;
		int in = 0;
		for (uint64_t i = 0; i < k[0] && !in; i++)
			in = su_key_is(v.s, v.len, k + 1 + 3 * i);
		return in != inv;
	}
	case SU_F_STR_EQ:
		return SU_P(s) && str_eq(su_rstr(r, s), SU_STR(rs, aux), SU_STRLEN(rs, aux)) != inv;
	case SU_F_PREFIX:
		return SU_P(s) && starts_with(su_rstr(r, s), SU_STR(rs, aux), SU_STRLEN(rs, aux)) != inv;
	case SU_F_ENDS:
		return SU_P(s) && ends_with_k(su_rstr(r, s), SU_STR(rs, aux), SU_STRLEN(rs, aux)) != inv;
	case SU_F_STR_IN:
		return SU_P(s) && str_in(rs, aux, su_rstr(r, s)) != inv;
	case SU_F_SUFFIX:
		return SU_P(s) && SU_P(aux) && ends_with(su_rstr(r, s), su_rstr(r, aux)) != inv;
	case SU_F_CONTAINS:
		return SU_P(s) && su_contains(su_rstr(r, s), SU_STR(rs, aux), SU_STRLEN(rs, aux)) != inv;
	default: { /* SU_F_VM */
		int v = su_eval_vm(rs, imp, r, aux);
		return v == (inv ? SU_FALSE : SU_TRUE);
	}
	}
}

/* Run one chunk of prepared conditions (program.h): the `last` bits of
 * its conditions that are TRUE. Plugin calls only happen in SU_F_VM
 * tests (a condition with a call is never a CNF of fused tests), which
 * reach `imp` through su_ftest_costly. */
static inline __attribute__((always_inline)) uint64_t su_chunk_eval(const stepup_ruleset *rs,
                                                                    const su_bound *imp,
                                                                    const stepup_request *r,
                                                                    const su_fcond *ch)
{
	const su_ftest *t = rs->ftests + ch->first;
	const su_value *f = r->f;
	const uint8_t *has = r->has;
	uint64_t acc = ch->init;
	uint32_t k;

#define SU_LOOP(K) if (ch->kinds & (1u << (K))) for (k = ch->count[K]; k; k--, t++)
#define SU_PR ((uint64_t)(has[t->slot] & 1))
#define SU_INV ((uint64_t)SU_FT_INV(t))
#define SU_SET(x) (acc |= (uint64_t)(x) << t->pos)
	/* TABLE reads the field's presence byte, which holds the code of its
	 * value (request.h); an absent field reads entry 0. */
	SU_LOOP(SU_F_TABLE)
		acc |= t->k.tab[SU_HAS_INDEX(has[t->slot])];
	SU_LOOP(SU_F_CODES) SU_SET(t->k.mask >> SU_HAS_INDEX(has[t->slot]) & 1);
	SU_LOOP(SU_F_INT_EQ) SU_SET(SU_PR & ((f[t->slot].i == t->k.i) ^ SU_INV));
	SU_LOOP(SU_F_INT_LE) SU_SET(SU_PR & ((f[t->slot].i <= t->k.i) ^ SU_INV));
	SU_LOOP(SU_F_INT_GE) SU_SET(SU_PR & ((f[t->slot].i >= t->k.i) ^ SU_INV));
	SU_LOOP(SU_F_ANY) SU_SET(SU_PR & (((f[t->slot].mask & t->k.mask) != 0) ^ SU_INV));
	SU_LOOP(SU_F_ALL) SU_SET(SU_PR & (((f[t->slot].mask & t->k.mask) == t->k.mask) ^ SU_INV));
	if (ch->kinds & (1u << SU_F_COSTLY)) {
		/* Clauses FALSE for good: unset, with nothing costly left to run
		 * (the last costly test of a clause that fails adds its clause).
		 * A test is skipped when its clause is settled TRUE or its
		 * condition has such a clause. */
		uint64_t dead = ~acc & ch->used & ~ch->costly;
		SU_LOOP(SU_F_COSTLY)
			if (!((acc >> t->pos) & 1) && !(dead & t->k.mask)) {
				if (su_ftest_costly(rs, imp, r, t))
					SU_SET(1);
				else if (t->aux & SU_FT_LAST)
					dead |= UINT64_C(1) << t->pos;
			}
	}
#undef SU_LOOP
#undef SU_PR
#undef SU_INV
#undef SU_SET
	/* A condition is TRUE when every bit of its run is set. Per run, the
	 * unset bits below the top plus all-ones below the top reach the top
	 * bit exactly when one of them is unset, without carrying out of the
	 * run. */
	uint64_t n = ~acc & ch->used;
	uint64_t fail = (((n & ch->low) + ch->low) | n) & ch->last;
	return ch->last & ~fail;
}

#endif
