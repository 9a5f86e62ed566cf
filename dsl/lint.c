/* lint.c: the lints of `stepup check --strict` (STEPUP_COMPILE_STRICT),
 * run on the checked AST of a ruleset that has no error. Each is a warning
 * at the declaration it is about, with a note at the other one:
 *
 *   - two rules with the same condition and the same effect (duplicates);
 *   - a rule whose condition implies another's with the same effect
 *     (subsumed: whenever it fires, the other fires too, so it never
 *     changes a decision);
 *   - a step_up whose condition implies a decline's (always masked);
 *   - a method no step_up rule allows (never offered);
 *   - a constant named like an enum value or a declared reason code (the
 *     constant wins where both could be meant).
 *
 * "Implies" is decided on the conditions in disjunctive normal form: every
 * conjunction of the first must contain, test by test, what some
 * conjunction of the second asks. A test implies another when they are the
 * same test, or when both restrict one field and the first leaves no value
 * the second would refuse (enum values, integer ranges against constants,
 * reason codes; any test on a field implies `is present`). Three-valued
 * logic keeps this sound: a conjunction is TRUE only when each of its
 * tests is TRUE, and negation is pushed down to the tests (Kleene logic
 * obeys De Morgan's laws). The analysis gives up (stays silent) on
 * conditions whose normal form would be large, and does not compare rules
 * pairwise in rulesets of more than SU_LINT_MAX_RULES rules (it says so). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lint.h"

#define SU_LINT_MAX_RULES 5000
#define MAX_CONJ 32      /* conjunctions of one normal form */
#define MAX_LITS 16      /* tests of one conjunction */

typedef enum lkind { L_ENUM, L_INT, L_ANY, L_ALL, L_PRESENT, L_ABSENT, L_BOOL, L_OTHER } lkind;

typedef struct lit {
	lkind kind;
	int slot;
	uint64_t mask;           /* ENUM: values allowed; ANY, ALL: codes */
	int64_t lo, hi;          /* INT: the range allowed */
	int val;                 /* BOOL: the value asked */
	const su_node *node;     /* OTHER: the test as written, */
	int neg;                 /* negated */
} lit;

typedef struct conj {
	lit v[MAX_LITS];
	unsigned n;
} conj;

typedef struct dnf {
	conj *v;
	unsigned n, cap;
	int big;                 /* too large: no conclusion */
} dnf;

/* ---- tests ---------------------------------------------------------------- */

static int node_eq(const su_node *a, const su_node *b)
{
	for (; a && b; a = a->next, b = b->next) {
		if (a->kind != b->kind || a->ival != b->ival || a->slot != b->slot || a->mask != b->mask ||
		    a->func != b->func || a->import != b->import || a->ekind != b->ekind)
			return 0;
		if (a->kind == SU_N_FLOAT && a->fval != b->fval)
			return 0;
		if ((a->text || b->text) && (!a->text || !b->text || strcmp(a->text, b->text) != 0))
			return 0;
		if (!node_eq(a->a, b->a) || !node_eq(a->b, b->b))
			return 0;
	}
	return !a && !b;
}

static uint64_t enum_full(const su_schema *sc, int ekind)
{
	unsigned n = ekind >= 0 ? su_schema_value_count(sc, (unsigned)ekind) : 64;
	return n >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1;
}

/* `field <op> k` as a range of integers, or 0 (not one). */
static int int_range(su_cmp op, int64_t k, int64_t *lo, int64_t *hi)
{
	*lo = INT64_MIN;
	*hi = INT64_MAX;
	switch (op) {
	case SU_CMP_EQ: *lo = *hi = k; return 1;
	case SU_CMP_LT: if (k == INT64_MIN) return 0; *hi = k - 1; return 1;
	case SU_CMP_LE: *hi = k; return 1;
	case SU_CMP_GT: if (k == INT64_MAX) return 0; *lo = k + 1; return 1;
	case SU_CMP_GE: *lo = k; return 1;
	default: return 0;
	}
}

/* The test n (negated when neg) as a literal. */
static lit make_lit(const su_schema *sc, const su_node *n, int neg)
{
	lit l = { .kind = L_OTHER, .slot = -1, .node = n, .neg = neg };
	const su_node *f = NULL, *k = NULL;
	su_cmp op = SU_CMP_EQ;

	switch (n->kind) {
	case SU_N_PRESENT:
		if (n->a->kind == SU_N_FIELD) {
			l.kind = (n->ival != 0) != (neg != 0) ? L_ABSENT : L_PRESENT;
			l.slot = n->a->slot;
		}
		return l;
	case SU_N_FIELD:
		if (n->ty == SU_T_BOOL) {
			l.kind = L_BOOL;
			l.slot = n->slot;
			l.val = !neg;
		}
		return l;
	case SU_N_CMP:
		f = n->a;
		k = n->b;
		op = (su_cmp)n->ival;
		if (f->kind != SU_N_FIELD) {
			f = n->b;
			k = n->a;
			op = su_cmp_flip(op);
		}
		if (f->kind != SU_N_FIELD)
			return l;
		if (f->ty == SU_T_ENUM && k->kind == SU_N_IDENT && k->ty == SU_T_ENUM && (op == SU_CMP_EQ || op == SU_CMP_NE)) {
			uint64_t bit = UINT64_C(1) << k->ival, full = enum_full(sc, f->ekind);
			l.kind = L_ENUM;
			l.slot = f->slot;
			l.mask = ((op == SU_CMP_EQ) != (neg != 0)) ? bit : full & ~bit;
			return l;
		}
		if (f->ty == SU_T_INT && k->kind == SU_N_INT) {
			if (neg) {
				static const su_cmp inv[] = { SU_CMP_NE, SU_CMP_EQ, SU_CMP_GE, SU_CMP_GT, SU_CMP_LE, SU_CMP_LT };
				op = inv[op];
			}
			if (int_range(op, k->ival, &l.lo, &l.hi)) {
				l.kind = L_INT;
				l.slot = f->slot;
			}
			return l;
		}
		if (f->ty == SU_T_BOOL && k->kind == SU_N_BOOL && (op == SU_CMP_EQ || op == SU_CMP_NE)) {
			l.kind = L_BOOL;
			l.slot = f->slot;
			l.val = ((op == SU_CMP_EQ) == (k->ival != 0)) != (neg != 0);
		}
		return l;
	case SU_N_IN:
		if (n->a->kind == SU_N_FIELD && n->a->ty == SU_T_ENUM && n->b->kind == SU_N_SET) {
			uint64_t full = enum_full(sc, n->a->ekind);
			l.kind = L_ENUM;
			l.slot = n->a->slot;
			l.mask = ((n->ival != 0) != (neg != 0)) ? full & ~n->b->mask : n->b->mask & full;
		}
		return l;
	case SU_N_HAS:
		if (n->a->kind != SU_N_FIELD || neg)
			return l;
		l.slot = n->a->slot;
		if (n->ival == SU_HAS_ONE) {
			l.kind = L_ANY;
			l.mask = UINT64_C(1) << n->b->ival;
		} else {
			l.kind = n->ival == SU_HAS_ALL ? L_ALL : L_ANY;
			l.mask = n->b->mask;
		}
		return l;
	default:
		return l;
	}
}

/* p TRUE makes q TRUE. */
static int lit_implies(const lit *p, const lit *q)
{
	if (q->kind == L_PRESENT)
		return p->slot == q->slot && p->kind != L_ABSENT && p->kind != L_OTHER;
	if (p->kind == L_OTHER || q->kind == L_OTHER)
		return p->kind == q->kind && p->neg == q->neg && node_eq(p->node, q->node);
	if (p->slot != q->slot)
		return 0;
	switch (q->kind) {
	case L_ENUM:
		return p->kind == L_ENUM && (p->mask & ~q->mask) == 0;
	case L_INT:
		return p->kind == L_INT && p->lo >= q->lo && p->hi <= q->hi;
	case L_ANY:
		return (p->kind == L_ANY && p->mask && (p->mask & ~q->mask) == 0) ||
		       (p->kind == L_ALL && (p->mask & q->mask) != 0);
	case L_ALL:
		return p->kind == L_ALL && (q->mask & ~p->mask) == 0;
	case L_ABSENT:
		return p->kind == L_ABSENT;
	case L_BOOL:
		return p->kind == L_BOOL && p->val == q->val;
	default:
		return 0;
	}
}

/* ---- normal forms --------------------------------------------------------- */

static void dnf_free(dnf *d)
{
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

static int dnf_push(dnf *d, const conj *c)
{
	if (d->n == MAX_CONJ) {
		d->big = 1;
		return -1;
	}
	if (d->n == d->cap) {
		unsigned cap = d->cap ? d->cap * 2 : 2;
		conj *v = realloc(d->v, cap * sizeof(*v));
		if (!v) {
			d->big = 1;  /* no conclusion rather than a wrong one */
			return -1;
		}
		d->v = v;
		d->cap = cap;
	}
	d->v[d->n] = *c;
	d->n++;
	return 0;
}

/* The normal form of n (of `not n` when neg). */
static dnf to_dnf(const su_schema *sc, const su_node *n, int neg)
{
	dnf out = { 0 };
	conj one;

	if (n->kind == SU_N_NOT)
		return to_dnf(sc, n->a, !neg);
	if (n->kind == SU_N_BOOL) {
		/* true: one empty conjunction; false: none. */
		one.n = 0;
		if ((n->ival != 0) != (neg != 0))
			dnf_push(&out, &one);
		return out;
	}
	if (n->kind == SU_N_AND || n->kind == SU_N_OR) {
		dnf a = to_dnf(sc, n->a, neg), b = to_dnf(sc, n->b, neg);
		if (a.big || b.big) {
			out.big = 1;
		} else if ((n->kind == SU_N_OR) != (neg != 0)) {
			/* A disjunction: the conjunctions of both. */
			for (unsigned i = 0; i < a.n && !out.big; i++)
				dnf_push(&out, &a.v[i]);
			for (unsigned i = 0; i < b.n && !out.big; i++)
				dnf_push(&out, &b.v[i]);
		} else {
			/* A conjunction: every pair joined. */
			for (unsigned i = 0; i < a.n && !out.big; i++)
				for (unsigned j = 0; j < b.n && !out.big; j++) {
					if (a.v[i].n + b.v[j].n > MAX_LITS) {
						out.big = 1;
						break;
					}
					one = a.v[i];
					memcpy(one.v + one.n, b.v[j].v, b.v[j].n * sizeof(lit));
					one.n += b.v[j].n;
					dnf_push(&out, &one);
				}
		}
		dnf_free(&a);
		dnf_free(&b);
		if (out.big)
			dnf_free(&out);
		return out;
	}
	one.n = 1;
	one.v[0] = make_lit(sc, n, neg);
	dnf_push(&out, &one);
	return out;
}

static int conj_implies(const conj *a, const conj *b)
{
	for (unsigned j = 0; j < b->n; j++) {
		unsigned i = 0;
		while (i < a->n && !lit_implies(&a->v[i], &b->v[j]))
			i++;
		if (i == a->n)
			return 0;
	}
	return 1;
}

/* Whenever a is TRUE, b is TRUE (as far as the analysis can tell). */
static int implies(const dnf *a, const dnf *b)
{
	if (a->big || b->big || a->n == 0)
		return 0;
	for (unsigned i = 0; i < a->n; i++) {
		unsigned j = 0;
		while (j < b->n && !conj_implies(&a->v[i], &b->v[j]))
			j++;
		if (j == b->n)
			return 0;
	}
	return 1;
}

/* ---- the lints -------------------------------------------------------------- */

static const char *outcome_word(su_outcome_kind o)
{
	return o == SU_O_DECLINE ? "decline" : o == SU_O_APPROVE ? "approve" : "step_up";
}

/* Whenever b fires beside a, b changes nothing a has not done: same
 * outcome and, for a step_up, no method a allows that b would remove and
 * no fraud line a does not ask for. */
static int covers(const su_rule_decl *a, const su_rule_decl *b)
{
	if (a->outcome != b->outcome)
		return 0;
	if (a->outcome != SU_O_STEP_UP)
		return 1;
	return (a->allowed & ~b->allowed) == 0 && (b->line != STEPUP_LINE_FRAUD || a->line == STEPUP_LINE_FRAUD);
}

static void lint_rules(su_diags *d, su_rule_decl **rules, size_t n, const su_schema *sc)
{
	dnf *f = calloc(n ? n : 1, sizeof(*f));
	if (!f) {
		d->oom = 1;
		return;
	}
	for (size_t i = 0; i < n; i++)
		f[i] = to_dnf(sc, rules[i]->when, 0);
	for (size_t j = 0; j < n; j++) {
		const su_rule_decl *b = rules[j];
		/* One finding a rule: the first other rule that explains it. */
		for (size_t i = 0; i < n; i++) {
			const su_rule_decl *a = rules[i];
			if (i == j || !implies(&f[j], &f[i]))
				continue;
			int same = implies(&f[i], &f[j]);
			if (same && covers(a, b) && covers(b, a)) {
				if (i > j)
					continue;  /* reported at the later one */
				su_warning(d, b->loc, "rule '%s' duplicates rule '%s': the same condition and outcome",
				           b->name, a->name);
			} else if (covers(a, b) && !(same && covers(b, a))) {
				su_warning(d, b->loc, "rule '%s' is subsumed by rule '%s': whenever it fires, '%s' "
				           "fires with the same outcome (%s), so it never changes a decision",
				           b->name, a->name, a->name, outcome_word(a->outcome));
			} else if (b->outcome == SU_O_STEP_UP && a->outcome == SU_O_DECLINE) {
				su_warning(d, b->loc, "step_up rule '%s' is always masked: whenever it fires, decline rule "
				           "'%s' fires too (its condition is the same or weaker)", b->name, a->name);
			} else {
				continue;
			}
			su_note(d, a->loc, "'%s' is here", a->name);
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		dnf_free(&f[i]);
	free(f);
}

static void lint_methods(su_diags *d, const su_checked *chk, su_rule_decl **rules, size_t n)
{
	unsigned offerable = 0, stepups = 0;
	for (size_t i = 0; i < n; i++)
		if (rules[i]->outcome == SU_O_STEP_UP) {
			offerable |= rules[i]->allowed;
			stepups++;
		}
	for (unsigned k = 0; k < chk->nmethods; k++) {
		unsigned t = chk->method_order[k];
		const su_method_decl *m = chk->methods[t];
		/* Customer service is also the fallback of every step-up. */
		if (!m || t == STEPUP_CUSTOMER_SERVICE || (offerable >> t & 1))
			continue;
		if (stepups)
			su_warning(d, m->loc, "method '%s' is never offered: every step_up rule's 'only' leaves it out",
			           m->name);
		else
			su_warning(d, m->loc, "method '%s' is never offered: no rule steps up", m->name);
	}
}

static void lint_constants(su_diags *d, su_file **files, size_t nfiles, const su_schema *sc)
{
	for (size_t i = 0; i < nfiles; i++)
		for (const su_let_decl *l = files[i]->lets; l; l = l->next)
			for (uint32_t slot = 0; slot < sc->nfields; slot++) {
				const su_field *fd = &sc->fields[slot];
				size_t len = strlen(l->name);
				if (fd->type == SU_T_ENUM && su_schema_value(sc, slot, l->name, len) >= 0) {
					su_warning(d, l->loc, "constant '%s' shadows the value %s of %s: where both could be "
					           "meant, the constant is used", l->name, l->name, SU_FPATH(sc, slot));
					break;
				}
				if (fd->type == SU_T_REASONS && su_schema_declared_code(sc, slot, l->name, len) >= 0) {
					su_warning(d, l->loc, "constant '%s' shadows the reason code %s of %s: where both could "
					           "be meant, the constant is used", l->name, l->name, SU_FPATH(sc, slot));
					break;
				}
			}
}

void su_lint(su_diags *d, su_file **files, size_t nfiles, const su_checked *chk, const su_schema *sc)
{
	size_t n = 0, k = 0;
	for (size_t i = 0; i < nfiles; i++)
		for (su_rule_decl *r = files[i]->rules; r; r = r->next)
			n++;
	su_rule_decl **rules = calloc(n ? n : 1, sizeof(*rules));
	if (!rules) {
		d->oom = 1;
		return;
	}
	for (size_t i = 0; i < nfiles; i++)
		for (su_rule_decl *r = files[i]->rules; r; r = r->next)
			rules[k++] = r;
	lint_constants(d, files, nfiles, sc);
	lint_methods(d, chk, rules, n);
	if (n > SU_LINT_MAX_RULES) {
		su_loc whole = { .file = 0 };
		su_warning(d, whole, "--strict: the rules were not compared with each other: more than %d rules",
		           SU_LINT_MAX_RULES);
	} else {
		lint_rules(d, rules, n, sc);
	}
	free(rules);
}
